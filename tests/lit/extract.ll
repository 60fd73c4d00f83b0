; Stage `extract`: the kernel entry and what it reaches, nothing else, and
; every definition but the entry internal (so the object never clashes with
; the host crate's own copies). Shapes as rustc 1.95 emits them.
; RUN: %stage extract %s --marker 'cargo-mlir-marker/2;kernel;pick;__cargo_mlir_kernel_pick;&[f32],usize;;;src/lib.rs:4' | filecheck %s
; RUN: %stage extract %s --marker 'cargo-mlir-marker/2;kernel;pick;__cargo_mlir_kernel_pick;&[f32],usize;;;src/lib.rs:4' | filecheck %s --check-prefix=DBG
; RUN: %stage extract %s --marker 'cargo-mlir-marker/2;kernel;pick;__cargo_mlir_kernel_pick;&[f32],usize;;;src/lib.rs:4' | filecheck %s --check-prefix=GONE

; The unrelated function and the data only it uses are dropped; the debug
; info goes too (a copy with it is kept beside the output for diagnostics).
; GONE-NOT: unrelated
; GONE-NOT: @COUNTER
; Every definition but the entry has local linkage (declarations cannot).
; GONE-NOT: {{^define (?!internal |void @__cargo_mlir_kernel_pick\()}}
; GONE-NOT: {{^@[^ ]+ = (?!internal )}}

; llvm-extract turns `private` into `internal`: the same for the linker.
; CHECK-DAG: @alloc_{{[0-9a-f]+}} = internal unnamed_addr constant [11 x i8] c"src/lib.rs\00"
; CHECK-DAG: @_ZN4pick5TABLE17h1111111111111111E = internal constant [4 x float]

; CHECK-LABEL: define internal float @_ZN4pick6lookup17h2222222222222222E(
; CHECK:         getelementptr inbounds nuw float, ptr @_ZN4pick5TABLE17h1111111111111111E

; CHECK-LABEL: define void @__cargo_mlir_kernel_pick(
; CHECK:         call float @_ZN4pick6lookup17h2222222222222222E(

; Calls to the panic runtime stay declarations: diagnostics decide about them.
; CHECK: declare void @_ZN4core9panicking18panic_bounds_check17h0123456789abcdefE(

target datalayout = "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-i128:128-f80:128-n8:16:32:64-S128"
target triple = "x86_64-unknown-linux-gnu"

@alloc_95f3c6766d53569cd855d1c6e6b1ee7b = private unnamed_addr constant [11 x i8] c"src/lib.rs\00", align 1
@alloc_b884506708c5fbdb6266440c59131a20 = private unnamed_addr constant <{ ptr, [16 x i8] }> <{ ptr @alloc_95f3c6766d53569cd855d1c6e6b1ee7b, [16 x i8] c"\0A\00\00\00\00\00\00\00\06\00\00\00\0D\00\00\00" }>, align 8
@_ZN4pick5TABLE17h1111111111111111E = constant [4 x float] [float 1.0, float 2.0, float 4.0, float 8.0], align 4
@COUNTER = global i64 0, align 8

; pick::lookup (public and noinline, as a `pub fn` in another module would be)
define float @_ZN4pick6lookup17h2222222222222222E(i64 noundef %i) unnamed_addr #1 {
start:
  %k = and i64 %i, 3
  %p = getelementptr inbounds nuw float, ptr @_ZN4pick5TABLE17h1111111111111111E, i64 %k
  %v = load float, ptr %p, align 4
  ret float %v
}

define void @__cargo_mlir_kernel_pick(ptr noalias noundef align 4 %x, i64 noundef %x_len, i64 noundef %i) unnamed_addr #0 !dbg !7 {
start:
  %ok = icmp ult i64 %i, %x_len, !dbg !10
  br i1 %ok, label %bb1, label %panic, !dbg !10

bb1:
  %t = tail call float @_ZN4pick6lookup17h2222222222222222E(i64 noundef %i) #2, !dbg !10
  %p = getelementptr inbounds nuw float, ptr %x, i64 %i, !dbg !10
  store float %t, ptr %p, align 4, !dbg !10
  ret void, !dbg !11

panic:
  tail call void @_ZN4core9panicking18panic_bounds_check17h0123456789abcdefE(i64 noundef %i, i64 noundef %x_len, ptr noundef @alloc_b884506708c5fbdb6266440c59131a20) #3, !dbg !10
  unreachable, !dbg !10
}

; a function of the same crate that is no kernel's callee
define void @unrelated_bump() unnamed_addr #0 {
start:
  %v = load i64, ptr @COUNTER, align 8
  %n = add i64 %v, 1
  store i64 %n, ptr @COUNTER, align 8
  ret void
}

declare void @_ZN4core9panicking18panic_bounds_check17h0123456789abcdefE(i64 noundef, i64 noundef, ptr noundef) unnamed_addr #4

attributes #0 = { nounwind nonlazybind uwtable "probe-stack"="inline-asm" "target-cpu"="generic" }
attributes #1 = { noinline nounwind nonlazybind uwtable "probe-stack"="inline-asm" "target-cpu"="generic" }
attributes #2 = { nounwind }
attributes #3 = { noinline noreturn nounwind }
attributes #4 = { cold minsize noinline noreturn nounwind nonlazybind optsize uwtable "probe-stack"="inline-asm" "target-cpu"="generic" }

!llvm.module.flags = !{!0}
!llvm.dbg.cu = !{!1}

!0 = !{i32 2, !"Debug Info Version", i32 3}
!1 = distinct !DICompileUnit(language: DW_LANG_Rust, file: !2, producer: "clang LLVM (rustc version 1.95.0 (59807616e 2026-04-14))", isOptimized: true, runtimeVersion: 0, emissionKind: LineTablesOnly, splitDebugInlining: false, nameTableKind: None)
!2 = !DIFile(filename: "src/lib.rs/@/pick.4ab743df125b7154-cgu.0", directory: "/work/pick")
!3 = !DIFile(filename: "src/lib.rs", directory: "/work/pick")
!4 = !{}
!5 = !DISubroutineType(types: !4)
!7 = distinct !DISubprogram(name: "__cargo_mlir_kernel_pick", scope: !3, file: !3, line: 4, type: !5, scopeLine: 4, flags: DIFlagPrototyped, spFlags: DISPFlagDefinition | DISPFlagOptimized, unit: !1, templateParams: !4)
!10 = !DILocation(line: 6, column: 13, scope: !7)
!11 = !DILocation(line: 7, column: 2, scope: !7)
; debug locations stay (the diagnostics and the raise notes name source lines)
; DBG: !DILocation(line:
