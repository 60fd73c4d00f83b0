; Diagnostics: a bounds-check panic needs no formatting. On the host it is
; just the ordinary panic; on a GPU the launcher raises it as one (the
; retarget stage makes the call record it): no finding on either.
; RUN: %stage check %s --target host --marker 'cargo-mlir-marker/2;kernel;get;__cargo_mlir_kernel_get;&mut [f32],usize;;;src/lib.rs:2' > %t.host
; RUN: echo "end of findings" >> %t.host
; RUN: filecheck %s --check-prefix=HOST --input-file %t.host
; RUN: %stage check %s --target gfx90a --marker 'cargo-mlir-marker/2;kernel;get;__cargo_mlir_kernel_get;&mut [f32],usize;;;src/lib.rs:2' > %t.gpu
; RUN: %stage check %s --target sm_90 --marker 'cargo-mlir-marker/2;kernel;get;__cargo_mlir_kernel_get;&mut [f32],usize;;;src/lib.rs:2' >> %t.gpu
; RUN: echo "end of findings" >> %t.gpu
; RUN: filecheck %s --check-prefix=GPU --input-file %t.gpu

; filecheck rejects empty input: the echo line stands for "nothing before it"
; HOST-NOT: {{error|warning}}
; HOST: end of findings

; GPU-NOT: {{error|warning}}
; GPU: end of findings

target datalayout = "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-i128:128-f80:128-n8:16:32:64-S128"
target triple = "x86_64-unknown-linux-gnu"

@alloc_95f3c6766d53569cd855d1c6e6b1ee7b = internal unnamed_addr constant [11 x i8] c"src/lib.rs\00", align 1
@alloc_b884506708c5fbdb6266440c59131a20 = internal unnamed_addr constant <{ ptr, [16 x i8] }> <{ ptr @alloc_95f3c6766d53569cd855d1c6e6b1ee7b, [16 x i8] c"\0A\00\00\00\00\00\00\00\03\00\00\00\05\00\00\00" }>, align 8

define void @__cargo_mlir_kernel_get(ptr noundef %x, i64 noundef %x_len, i64 noundef %i) unnamed_addr #0 !dbg !7 {
start:
  %ok = icmp ult i64 %i, %x_len, !dbg !10
  br i1 %ok, label %bb1, label %panic, !dbg !10

bb1:
  %p = getelementptr inbounds nuw float, ptr %x, i64 %i, !dbg !10
  store float 1.000000e+00, ptr %p, align 4, !dbg !10
  ret void, !dbg !11

panic:
  tail call void @_ZN4core9panicking18panic_bounds_check17h0123456789abcdefE(i64 noundef %i, i64 noundef %x_len, ptr noundef @alloc_b884506708c5fbdb6266440c59131a20) #2, !dbg !10
  unreachable, !dbg !10
}

declare void @_ZN4core9panicking18panic_bounds_check17h0123456789abcdefE(i64 noundef, i64 noundef, ptr noundef) unnamed_addr #1

attributes #0 = { nounwind nonlazybind uwtable "target-cpu"="generic" }
attributes #1 = { cold minsize noinline noreturn nounwind nonlazybind optsize uwtable }
attributes #2 = { noinline noreturn nounwind }

!llvm.module.flags = !{!0}
!llvm.dbg.cu = !{!1}

!0 = !{i32 2, !"Debug Info Version", i32 3}
!1 = distinct !DICompileUnit(language: DW_LANG_Rust, file: !2, producer: "clang LLVM (rustc version 1.95.0 (59807616e 2026-04-14))", isOptimized: true, runtimeVersion: 0, emissionKind: LineTablesOnly, splitDebugInlining: false, nameTableKind: None)
!2 = !DIFile(filename: "src/lib.rs/@/get.4ab743df125b7154-cgu.0", directory: "/work/get")
!3 = !DIFile(filename: "src/lib.rs", directory: "/work/get")
!4 = !{}
!5 = !DISubroutineType(types: !4)
!7 = distinct !DISubprogram(name: "__cargo_mlir_kernel_get", scope: !3, file: !3, line: 2, type: !5, scopeLine: 2, flags: DIFlagPrototyped, spFlags: DISPFlagDefinition | DISPFlagOptimized, unit: !1, templateParams: !4)
!10 = !DILocation(line: 3, column: 5, scope: !7)
!11 = !DILocation(line: 4, column: 2, scope: !7)
