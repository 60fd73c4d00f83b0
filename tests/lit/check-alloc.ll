; Diagnostics: a kernel that allocates (`vec![0.0; n]` inlined from std into
; the user's `grow`, itself inlined into the entry the macro made) is an error
; on every target. The message names the kernel, where it is declared, and the
; user's own line the allocation comes from, not std's.
; RUN: not %stage check %s --target host --marker 'cargo-mlir-marker/2;kernel;grow;__cargo_mlir_kernel_grow;&mut [f32];;;src/lib.rs:6' | filecheck %s
; RUN: not %stage check %s --target gfx90a --marker 'cargo-mlir-marker/2;kernel;grow;__cargo_mlir_kernel_grow;&mut [f32];;;src/lib.rs:6' | filecheck %s

; CHECK: error: kernel `grow` (src/lib.rs:6) cannot run on a device: heap allocation at src/lib.rs:8:13 (calls `__rustc::__rust_alloc`)
; CHECK-NOT: warning:

target datalayout = "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-i128:128-f80:128-n8:16:32:64-S128"
target triple = "x86_64-unknown-linux-gnu"

define void @__cargo_mlir_kernel_grow(ptr noundef %p, i64 noundef %n) unnamed_addr #0 !dbg !7 {
start:
  %bytes = shl nuw i64 %n, 2
  %v = tail call noundef align 4 ptr @_RNvCsfLfy6EI15iL_7___rustc12___rust_alloc(i64 noundef %bytes, i64 noundef 4) #2, !dbg !20
  store ptr %v, ptr %p, align 8, !dbg !12
  ret void, !dbg !13
}

declare noalias noundef ptr @_RNvCsfLfy6EI15iL_7___rustc12___rust_alloc(i64 noundef, i64 allocalign noundef) unnamed_addr #1
declare noundef i32 @rust_eh_personality(i32 noundef, i32 noundef, i64 noundef, ptr noundef, ptr noundef) unnamed_addr #1

attributes #0 = { nounwind nonlazybind uwtable "target-cpu"="generic" }
attributes #1 = { nounwind nonlazybind allockind("alloc,uninitialized,aligned") allocsize(0) uwtable "alloc-family"="__rust_alloc" }
attributes #2 = { nounwind }

!llvm.module.flags = !{!0}
!llvm.dbg.cu = !{!1}

!0 = !{i32 2, !"Debug Info Version", i32 3}
!1 = distinct !DICompileUnit(language: DW_LANG_Rust, file: !2, producer: "clang LLVM (rustc version 1.95.0 (59807616e 2026-04-14))", isOptimized: true, runtimeVersion: 0, emissionKind: LineTablesOnly, splitDebugInlining: false, nameTableKind: None)
!2 = !DIFile(filename: "src/lib.rs/@/grow.4ab743df125b7154-cgu.0", directory: "/work/grow")
!3 = !DIFile(filename: "src/lib.rs", directory: "/work/grow")
!4 = !DIFile(filename: "library/alloc/src/alloc.rs", directory: "/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860")
!5 = !{}
!6 = !DISubroutineType(types: !5)
!7 = distinct !DISubprogram(name: "__cargo_mlir_kernel_grow", scope: !3, file: !3, line: 6, type: !6, scopeLine: 6, flags: DIFlagPrototyped, spFlags: DISPFlagDefinition | DISPFlagOptimized, unit: !1, templateParams: !5)
!8 = distinct !DISubprogram(name: "grow", linkageName: "_ZN4grow4grow17h3333333333333333E", scope: !3, file: !3, line: 7, type: !6, scopeLine: 7, flags: DIFlagPrototyped, spFlags: DISPFlagLocalToUnit | DISPFlagDefinition | DISPFlagOptimized, unit: !1, templateParams: !5)
!9 = distinct !DILexicalBlock(scope: !8, file: !3, line: 8, column: 5)
!10 = distinct !DISubprogram(name: "alloc", linkageName: "_RNvNtCslNYArtu3iFV_5alloc5alloc5alloc", scope: !4, file: !4, line: 89, type: !6, scopeLine: 89, flags: DIFlagPrototyped, spFlags: DISPFlagLocalToUnit | DISPFlagDefinition | DISPFlagOptimized, unit: !1, templateParams: !5)
!11 = distinct !DILexicalBlock(scope: !7, file: !3, line: 6, column: 1)
!12 = !DILocation(line: 9, column: 5, scope: !9, inlinedAt: !22)
!13 = !DILocation(line: 6, column: 18, scope: !7)
; the call's location is in std; each inlinedAt step is a distinct location
!20 = !DILocation(line: 95, column: 9, scope: !10, inlinedAt: !21)
!21 = distinct !DILocation(line: 8, column: 13, scope: !9, inlinedAt: !22)
!22 = distinct !DILocation(line: 6, column: 1, scope: !11)
