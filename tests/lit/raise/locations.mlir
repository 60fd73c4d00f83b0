// Loop locations from debug info (rustc -C debuginfo=1, imported with
// mlir-translate-22 --import-llvm --mlir-print-debuginfo): the line of the
// `for` in the function itself, not the inlined Range::next. The versioned
// function has no DISubprogram, so the call to the slow path verifies.
// RUN: %raise %s --entry __cargo_mlir_accel_dot --explain 2>&1 | filecheck %s --check-prefix=DOT
// RUN: %raise %s --entry __cargo_mlir_accel_gather --explain 2>&1 | filecheck %s --check-prefix=GATHER
// RUN: %raise %s --entry __cargo_mlir_accel_dot | %mlir-opt --pass-pipeline="builtin.module(strip-debuginfo,convert-scf-to-cf,expand-strided-metadata,finalize-memref-to-llvm,convert-math-to-llvm,convert-arith-to-llvm,convert-index-to-llvm,convert-ub-to-llvm,convert-cf-to-llvm,convert-func-to-llvm,reconcile-unrealized-casts)" | %mlir-translate --mlir-to-llvmir | filecheck %s --check-prefix=LLVM
// DOT: __cargo_mlir_accel_dot: raised
// DOT: loop at src/lib.rs:7: raised
// GATHER: __cargo_mlir_accel_gather: not raised
// GATHER: loop at src/lib.rs:16: not raised: index depends on loaded data
// LLVM: define {{.*}}float @__cargo_mlir_accel_dot(
//
// 1: use core::slice::{from_raw_parts, from_raw_parts_mut};
// 2: 
// 3: #[no_mangle]
// 4: pub unsafe extern "C" fn __cargo_mlir_accel_dot(x: *const f32, lx: usize, y: *const f32, ly: usize) -> f32 {
// 5:     let (x, y) = (from_raw_parts(x, lx), from_raw_parts(y, ly));
// 6:     let mut acc = 0.0f32;
// 7:     for i in 0..x.len() {
// 8:         acc += x[i] * y[i];
// 9:     }
// 10:     acc
// 11: }
// 12: 
// 13: #[no_mangle]
// 14: pub unsafe extern "C" fn __cargo_mlir_accel_gather(x: *const f32, lx: usize, idx: *const u32, li: usize, y: *mut f32, ly: usize) {
// 15:     let (x, idx, y) = (from_raw_parts(x, lx), from_raw_parts(idx, li), from_raw_parts_mut(y, ly));
// 16:     for i in 0..y.len() {
// 17:         y[i] = x[idx[i] as usize];
// 18:     }
// 19: }
#di_file = #llvm.di_file<"src/lib.rs/@/lib.c6f551dc431569fb-cgu.0" in "/tmp/r4">
#di_file1 = #llvm.di_file<"src/lib.rs" in "/tmp/r4">
#di_namespace = #llvm.di_namespace<name = "lib", exportSymbols = false>
#di_subroutine_type = #llvm.di_subroutine_type<>
#loc1 = loc(unknown)
#loc2 = loc("src/lib.rs":4:0)
#loc8 = loc("src/lib.rs":0:0)
#loc15 = loc("src/lib.rs":14:0)
#di_compile_unit = #llvm.di_compile_unit<id = distinct[0]<>, sourceLanguage = DW_LANG_Rust, file = #di_file, producer = "clang LLVM (rustc version 1.95.0 (59807616e 2026-04-14))", isOptimized = true, emissionKind = Full, nameTableKind = None>
#di_subprogram = #llvm.di_subprogram<id = distinct[1]<>, compileUnit = #di_compile_unit, scope = #di_namespace, name = "__cargo_mlir_accel_dot", file = #di_file1, line = 4, scopeLine = 4, subprogramFlags = "Definition|Optimized", type = #di_subroutine_type>
#di_subprogram1 = #llvm.di_subprogram<id = distinct[2]<>, compileUnit = #di_compile_unit, scope = #di_namespace, name = "__cargo_mlir_accel_gather", file = #di_file1, line = 14, scopeLine = 14, subprogramFlags = "Definition|Optimized", type = #di_subroutine_type>
#di_lexical_block = #llvm.di_lexical_block<scope = #di_subprogram, file = #di_file1, line = 5, column = 5>
#loc21 = loc(fused<#di_subprogram>[#loc2])
#loc23 = loc(fused<#di_subprogram1>[#loc15])
#loc25 = loc(fused<#di_lexical_block>[#loc8])
module attributes {dlti.dl_spec = #dlti.dl_spec<!llvm.ptr<270> = dense<32> : vector<4xi64>, !llvm.ptr<271> = dense<32> : vector<4xi64>, !llvm.ptr<272> = dense<64> : vector<4xi64>, i64 = dense<64> : vector<2xi64>, i128 = dense<128> : vector<2xi64>, f80 = dense<128> : vector<2xi64>, !llvm.ptr = dense<64> : vector<4xi64>, i1 = dense<8> : vector<2xi64>, i8 = dense<8> : vector<2xi64>, i16 = dense<16> : vector<2xi64>, i32 = dense<32> : vector<2xi64>, f16 = dense<16> : vector<2xi64>, f64 = dense<64> : vector<2xi64>, f128 = dense<128> : vector<2xi64>, "dlti.endianness" = "little", "dlti.mangling_mode" = "e", "dlti.legal_int_widths" = array<i32: 8, 16, 32, 64>, "dlti.stack_alignment" = 128 : i64>, llvm.ident = "rustc version 1.95.0 (59807616e 2026-04-14)", llvm.module_asm = [], llvm.target_triple = "x86_64-unknown-linux-gnu"} {
  llvm.mlir.global private unnamed_addr constant @alloc_466e6e10d4d5a95679ab35d1156aa54e("src/lib.rs\00") {addr_space = 0 : i32, alignment = 1 : i64, dso_local} loc(#loc)
  llvm.mlir.global private unnamed_addr constant @alloc_d113e0aaec600225f9ac8b1340e429ac() {addr_space = 0 : i32, alignment = 8 : i64, dso_local} : !llvm.struct<packed (ptr, array<16 x i8>)> {
    %0 = llvm.mlir.constant("\0A\00\00\00\00\00\00\00\08\00\00\00\17\00\00\00") : !llvm.array<16 x i8> loc(#loc1)
    %1 = llvm.mlir.addressof @alloc_466e6e10d4d5a95679ab35d1156aa54e : !llvm.ptr loc(#loc1)
    %2 = llvm.mlir.undef : !llvm.struct<packed (ptr, array<16 x i8>)> loc(#loc1)
    %3 = llvm.insertvalue %1, %2[0] : !llvm.struct<packed (ptr, array<16 x i8>)>  loc(#loc1)
    %4 = llvm.insertvalue %0, %3[1] : !llvm.struct<packed (ptr, array<16 x i8>)>  loc(#loc1)
    llvm.return %4 : !llvm.struct<packed (ptr, array<16 x i8>)> loc(#loc)
  } loc(#loc)
  llvm.mlir.global private unnamed_addr constant @alloc_7389c2abdb72dddba2e15809a866c9c5() {addr_space = 0 : i32, alignment = 8 : i64, dso_local} : !llvm.struct<packed (ptr, array<16 x i8>)> {
    %0 = llvm.mlir.constant("\0A\00\00\00\00\00\00\00\11\00\00\00\12\00\00\00") : !llvm.array<16 x i8> loc(#loc1)
    %1 = llvm.mlir.addressof @alloc_466e6e10d4d5a95679ab35d1156aa54e : !llvm.ptr loc(#loc1)
    %2 = llvm.mlir.undef : !llvm.struct<packed (ptr, array<16 x i8>)> loc(#loc1)
    %3 = llvm.insertvalue %1, %2[0] : !llvm.struct<packed (ptr, array<16 x i8>)>  loc(#loc1)
    %4 = llvm.insertvalue %0, %3[1] : !llvm.struct<packed (ptr, array<16 x i8>)>  loc(#loc1)
    llvm.return %4 : !llvm.struct<packed (ptr, array<16 x i8>)> loc(#loc)
  } loc(#loc)
  llvm.mlir.global private unnamed_addr constant @alloc_c4342c53fc84c195f5527a3df76336d4() {addr_space = 0 : i32, alignment = 8 : i64, dso_local} : !llvm.struct<packed (ptr, array<16 x i8>)> {
    %0 = llvm.mlir.constant("\0A\00\00\00\00\00\00\00\11\00\00\00\10\00\00\00") : !llvm.array<16 x i8> loc(#loc1)
    %1 = llvm.mlir.addressof @alloc_466e6e10d4d5a95679ab35d1156aa54e : !llvm.ptr loc(#loc1)
    %2 = llvm.mlir.undef : !llvm.struct<packed (ptr, array<16 x i8>)> loc(#loc1)
    %3 = llvm.insertvalue %1, %2[0] : !llvm.struct<packed (ptr, array<16 x i8>)>  loc(#loc1)
    %4 = llvm.insertvalue %0, %3[1] : !llvm.struct<packed (ptr, array<16 x i8>)>  loc(#loc1)
    llvm.return %4 : !llvm.struct<packed (ptr, array<16 x i8>)> loc(#loc)
  } loc(#loc)
  llvm.module_flags [#llvm.mlir.module_flag<min, "PIC Level", 2 : i32>, #llvm.mlir.module_flag<warning, "RtLibUseGOT", 1 : i32>, #llvm.mlir.module_flag<max, "Dwarf Version", 4 : i32>, #llvm.mlir.module_flag<warning, "Debug Info Version", 3 : i32>] loc(#loc)
  llvm.func unnamed_addr @__cargo_mlir_accel_dot(%arg0: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.readonly} loc(fused<#di_subprogram>[#loc2]), %arg1: i64 {llvm.noundef} loc(fused<#di_subprogram>[#loc2]), %arg2: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.readonly} loc(fused<#di_subprogram>[#loc2]), %arg3: i64 {llvm.noundef} loc(fused<#di_subprogram>[#loc2])) -> (f32 {llvm.noundef}) attributes {no_unwind, passthrough = ["nonlazybind", ["probe-stack", "inline-asm"], ["target-cpu", "x86-64"]], target_cpu = "x86-64", uwtable_kind = #llvm.uwtableKind<async>} {
    %0 = llvm.mlir.constant(0 : i64) : i64 loc(#loc1)
    %1 = llvm.mlir.constant(0.000000e+00 : f32) : f32 loc(#loc1)
    %2 = llvm.mlir.constant(-1 : i64) : i64 loc(#loc1)
    %3 = llvm.mlir.addressof @alloc_d113e0aaec600225f9ac8b1340e429ac : !llvm.ptr loc(#loc1)
    %4 = llvm.mlir.constant(1 : i64) : i64 loc(#loc1)
    %5 = llvm.icmp "eq" %arg1, %0 : i64 loc(#loc54)
    llvm.cond_br %5, ^bb2(%1 : f32), ^bb1 loc(#loc50)
  ^bb1:  // pred: ^bb0
    %6 = llvm.add %arg1, %2 : i64 loc(#loc43)
    %7 = llvm.icmp "ugt" %arg3, %6 : i64 loc(#loc43)
    llvm.cond_br %7, ^bb3(%1, %0 : f32, i64), ^bb4 loc(#loc43)
  ^bb2(%8: f32 loc(fused<#di_lexical_block>[#loc8])):  // 2 preds: ^bb0, ^bb3
    llvm.return %8 : f32 loc(#loc22)
  ^bb3(%9: f32 loc(unknown), %10: i64 loc(unknown)):  // 2 preds: ^bb1, ^bb3
    %11 = llvm.add %10, %4 overflow<nuw> : i64 loc(#loc57)
    %12 = llvm.getelementptr inbounds|nuw %arg0[%10] : (!llvm.ptr, i64) -> !llvm.ptr, f32 loc(#loc44)
    %13 = llvm.load %12 {alignment = 4 : i64} : !llvm.ptr -> f32 loc(#loc44)
    %14 = llvm.getelementptr inbounds|nuw %arg2[%10] : (!llvm.ptr, i64) -> !llvm.ptr, f32 loc(#loc43)
    %15 = llvm.load %14 {alignment = 4 : i64} : !llvm.ptr -> f32 loc(#loc43)
    %16 = llvm.fmul %13, %15 : f32 loc(#loc44)
    %17 = llvm.fadd %9, %16 : f32 loc(#loc45)
    %18 = llvm.icmp "eq" %11, %arg1 : i64 loc(#loc54)
    llvm.cond_br %18, ^bb2(%17 : f32), ^bb3(%17, %11 : f32, i64) loc(#loc50)
  ^bb4:  // pred: ^bb1
    llvm.call tail @_RNvNtCsgEmfK2I1SDS_4core9panicking18panic_bounds_check(%arg3, %arg3, %3) {no_inline, no_unwind} : (i64 {llvm.noundef}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) -> () loc(#loc43)
    llvm.unreachable loc(#loc43)
  } loc(#loc21)
  llvm.func unnamed_addr @__cargo_mlir_accel_gather(%arg0: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.readonly} loc(fused<#di_subprogram1>[#loc15]), %arg1: i64 {llvm.noundef} loc(fused<#di_subprogram1>[#loc15]), %arg2: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.readonly} loc(fused<#di_subprogram1>[#loc15]), %arg3: i64 {llvm.noundef} loc(fused<#di_subprogram1>[#loc15]), %arg4: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.writeonly} loc(fused<#di_subprogram1>[#loc15]), %arg5: i64 {llvm.noundef} loc(fused<#di_subprogram1>[#loc15])) attributes {no_unwind, passthrough = ["nonlazybind", ["probe-stack", "inline-asm"], ["target-cpu", "x86-64"]], target_cpu = "x86-64", uwtable_kind = #llvm.uwtableKind<async>} {
    %0 = llvm.mlir.constant(0 : i64) : i64 loc(#loc1)
    %1 = llvm.mlir.constant(1 : i64) : i64 loc(#loc1)
    %2 = llvm.mlir.addressof @alloc_c4342c53fc84c195f5527a3df76336d4 : !llvm.ptr loc(#loc1)
    %3 = llvm.mlir.addressof @alloc_7389c2abdb72dddba2e15809a866c9c5 : !llvm.ptr loc(#loc1)
    %4 = llvm.icmp "eq" %arg5, %0 : i64 loc(#loc52)
    llvm.cond_br %4, ^bb1, ^bb2(%0 : i64) loc(#loc48)
  ^bb1:  // 2 preds: ^bb0, ^bb6
    llvm.return loc(#loc24)
  ^bb2(%5: i64 loc(unknown)):  // 2 preds: ^bb0, ^bb6
    %6 = llvm.add %5, %1 overflow<nuw> : i64 loc(#loc56)
    %7 = llvm.icmp "eq" %5, %arg3 : i64 loc(#loc39)
    llvm.cond_br %7, ^bb4, ^bb3 loc(#loc39)
  ^bb3:  // pred: ^bb2
    %8 = llvm.getelementptr inbounds|nuw %arg2[%5] : (!llvm.ptr, i64) -> !llvm.ptr, i32 loc(#loc39)
    %9 = llvm.load %8 {alignment = 4 : i64} : !llvm.ptr -> i32 loc(#loc39)
    %10 = llvm.zext %9 : i32 to i64 loc(#loc39)
    %11 = llvm.icmp "ugt" %arg1, %10 : i64 loc(#loc40)
    llvm.cond_br %11, ^bb6, ^bb5 loc(#loc40)
  ^bb4:  // pred: ^bb2
    llvm.call tail @_RNvNtCsgEmfK2I1SDS_4core9panicking18panic_bounds_check(%arg3, %arg3, %3) {no_inline, no_unwind} : (i64 {llvm.noundef}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) -> () loc(#loc39)
    llvm.unreachable loc(#loc39)
  ^bb5:  // pred: ^bb3
    llvm.call tail @_RNvNtCsgEmfK2I1SDS_4core9panicking18panic_bounds_check(%10, %arg1, %2) {no_inline, no_unwind} : (i64 {llvm.noundef}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) -> () loc(#loc40)
    llvm.unreachable loc(#loc40)
  ^bb6:  // pred: ^bb3
    %12 = llvm.getelementptr inbounds|nuw %arg0[%10] : (!llvm.ptr, i64) -> !llvm.ptr, f32 loc(#loc40)
    %13 = llvm.load %12 {alignment = 4 : i64} : !llvm.ptr -> f32 loc(#loc40)
    %14 = llvm.getelementptr inbounds|nuw %arg4[%5] : (!llvm.ptr, i64) -> !llvm.ptr, f32 loc(#loc41)
    llvm.store %13, %14 {alignment = 4 : i64} : f32, !llvm.ptr loc(#loc41)
    %15 = llvm.icmp "eq" %6, %arg5 : i64 loc(#loc52)
    llvm.cond_br %15, ^bb1, ^bb2(%6 : i64) loc(#loc48)
  } loc(#loc23)
  llvm.func unnamed_addr @_RNvNtCsgEmfK2I1SDS_4core9panicking18panic_bounds_check(i64 {llvm.noundef}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) attributes {no_inline, no_unwind, passthrough = ["cold", "minsize", "noreturn", "nonlazybind", "optsize", ["probe-stack", "inline-asm"], ["target-cpu", "x86-64"]], target_cpu = "x86-64", uwtable_kind = #llvm.uwtableKind<async>} loc(#loc1)
} loc(#loc)
#di_file2 = #llvm.di_file<"library/core/src/cmp.rs" in "/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860">
#di_file3 = #llvm.di_file<"library/core/src/iter/range.rs" in "/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860">
#di_file4 = #llvm.di_file<"library/core/src/num/uint_macros.rs" in "/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860">
#di_namespace1 = #llvm.di_namespace<name = "core", exportSymbols = false>
#loc = loc("lib.c6f551dc431569fb-cgu.0":0:0)
#loc3 = loc("library/core/src/cmp.rs":1916:50)
#loc4 = loc("library/core/src/iter/range.rs":772:12)
#loc5 = loc("library/core/src/iter/range.rs":857:14)
#loc6 = loc("src/lib.rs":7:14)
#loc7 = loc("src/lib.rs":8:23)
#loc9 = loc("src/lib.rs":11:2)
#loc10 = loc("library/core/src/num/uint_macros.rs":844:17)
#loc11 = loc("library/core/src/iter/range.rs":213:28)
#loc12 = loc("library/core/src/iter/range.rs":775:35)
#loc13 = loc("src/lib.rs":8:16)
#loc14 = loc("src/lib.rs":8:9)
#loc16 = loc("src/lib.rs":16:14)
#loc17 = loc("src/lib.rs":19:2)
#loc18 = loc("src/lib.rs":17:18)
#loc19 = loc("src/lib.rs":17:16)
#loc20 = loc("src/lib.rs":17:9)
#di_namespace2 = #llvm.di_namespace<name = "cmp", scope = #di_namespace1, exportSymbols = false>
#di_namespace3 = #llvm.di_namespace<name = "iter", scope = #di_namespace1, exportSymbols = false>
#di_namespace4 = #llvm.di_namespace<name = "num", scope = #di_namespace1, exportSymbols = false>
#di_namespace5 = #llvm.di_namespace<name = "impls", scope = #di_namespace2, exportSymbols = false>
#di_namespace6 = #llvm.di_namespace<name = "range", scope = #di_namespace3, exportSymbols = false>
#di_namespace7 = #llvm.di_namespace<name = "{impl#11}", scope = #di_namespace4, exportSymbols = false>
#di_lexical_block1 = #llvm.di_lexical_block<scope = #di_subprogram1, file = #di_file1, line = 15, column = 5>
#di_namespace8 = #llvm.di_namespace<name = "{impl#58}", scope = #di_namespace5, exportSymbols = false>
#di_namespace9 = #llvm.di_namespace<name = "{impl#5}", scope = #di_namespace6, exportSymbols = false>
#di_namespace10 = #llvm.di_namespace<name = "{impl#6}", scope = #di_namespace6, exportSymbols = false>
#di_namespace11 = #llvm.di_namespace<name = "{impl#43}", scope = #di_namespace6, exportSymbols = false>
#di_subprogram2 = #llvm.di_subprogram<id = distinct[3]<>, compileUnit = #di_compile_unit, scope = #di_namespace7, name = "unchecked_add", linkageName = "_RNvMs9_NtCsgEmfK2I1SDS_4core3numj13unchecked_add", file = #di_file4, line = 832, scopeLine = 832, subprogramFlags = "LocalToUnit|Definition|Optimized", type = #di_subroutine_type>
#di_subprogram3 = #llvm.di_subprogram<id = distinct[4]<>, compileUnit = #di_compile_unit, scope = #di_namespace7, name = "unchecked_add", linkageName = "_RNvMs9_NtCsgEmfK2I1SDS_4core3numj13unchecked_add", file = #di_file4, line = 832, scopeLine = 832, subprogramFlags = "LocalToUnit|Definition|Optimized", type = #di_subroutine_type>
#loc22 = loc(fused<#di_subprogram>[#loc9])
#loc24 = loc(fused<#di_subprogram1>[#loc17])
#di_lexical_block2 = #llvm.di_lexical_block<scope = #di_lexical_block, file = #di_file1, line = 6, column = 5>
#di_lexical_block3 = #llvm.di_lexical_block<scope = #di_lexical_block1, file = #di_file1, line = 16, column = 5>
#di_subprogram4 = #llvm.di_subprogram<id = distinct[5]<>, compileUnit = #di_compile_unit, scope = #di_namespace8, name = "lt", linkageName = "_RNvXsU_NtNtCsgEmfK2I1SDS_4core3cmp5implsjNtB7_10PartialOrd2lt", file = #di_file2, line = 1916, scopeLine = 1916, subprogramFlags = "LocalToUnit|Definition|Optimized", type = #di_subroutine_type>
#di_subprogram5 = #llvm.di_subprogram<id = distinct[6]<>, compileUnit = #di_compile_unit, scope = #di_namespace9, name = "spec_next<usize>", linkageName = "_ZN89_$LT$core..ops..range..Range$LT$T$GT$$u20$as$u20$core..iter..range..RangeIteratorImpl$GT$9spec_next17hc44c08f0460a048dE", file = #di_file3, line = 771, scopeLine = 771, subprogramFlags = "LocalToUnit|Definition|Optimized", type = #di_subroutine_type>
#di_subprogram6 = #llvm.di_subprogram<id = distinct[7]<>, compileUnit = #di_compile_unit, scope = #di_namespace10, name = "next<usize>", linkageName = "_ZN4core4iter5range101_$LT$impl$u20$core..iter..traits..iterator..Iterator$u20$for$u20$core..ops..range..Range$LT$A$GT$$GT$4next17hc93158e53df4c1ceE", file = #di_file3, line = 856, scopeLine = 856, subprogramFlags = "LocalToUnit|Definition|Optimized", type = #di_subroutine_type>
#di_subprogram7 = #llvm.di_subprogram<id = distinct[8]<>, compileUnit = #di_compile_unit, scope = #di_namespace11, name = "forward_unchecked", linkageName = "_RNvXsF_NtNtCsgEmfK2I1SDS_4core4iter5rangejNtB5_4Step17forward_unchecked", file = #di_file3, line = 211, scopeLine = 211, subprogramFlags = "LocalToUnit|Definition|Optimized", type = #di_subroutine_type>
#di_subprogram8 = #llvm.di_subprogram<id = distinct[9]<>, compileUnit = #di_compile_unit, scope = #di_namespace8, name = "lt", linkageName = "_RNvXsU_NtNtCsgEmfK2I1SDS_4core3cmp5implsjNtB7_10PartialOrd2lt", file = #di_file2, line = 1916, scopeLine = 1916, subprogramFlags = "LocalToUnit|Definition|Optimized", type = #di_subroutine_type>
#di_subprogram9 = #llvm.di_subprogram<id = distinct[10]<>, compileUnit = #di_compile_unit, scope = #di_namespace9, name = "spec_next<usize>", linkageName = "_ZN89_$LT$core..ops..range..Range$LT$T$GT$$u20$as$u20$core..iter..range..RangeIteratorImpl$GT$9spec_next17hc44c08f0460a048dE", file = #di_file3, line = 771, scopeLine = 771, subprogramFlags = "LocalToUnit|Definition|Optimized", type = #di_subroutine_type>
#di_subprogram10 = #llvm.di_subprogram<id = distinct[11]<>, compileUnit = #di_compile_unit, scope = #di_namespace10, name = "next<usize>", linkageName = "_ZN4core4iter5range101_$LT$impl$u20$core..iter..traits..iterator..Iterator$u20$for$u20$core..ops..range..Range$LT$A$GT$$GT$4next17hc93158e53df4c1ceE", file = #di_file3, line = 856, scopeLine = 856, subprogramFlags = "LocalToUnit|Definition|Optimized", type = #di_subroutine_type>
#di_subprogram11 = #llvm.di_subprogram<id = distinct[12]<>, compileUnit = #di_compile_unit, scope = #di_namespace11, name = "forward_unchecked", linkageName = "_RNvXsF_NtNtCsgEmfK2I1SDS_4core4iter5rangejNtB5_4Step17forward_unchecked", file = #di_file3, line = 211, scopeLine = 211, subprogramFlags = "LocalToUnit|Definition|Optimized", type = #di_subroutine_type>
#loc26 = loc(fused<#di_subprogram2>[#loc10])
#loc27 = loc(fused<#di_subprogram3>[#loc10])
#di_lexical_block4 = #llvm.di_lexical_block<scope = #di_lexical_block2, file = #di_file1, line = 7, column = 5>
#di_lexical_block5 = #llvm.di_lexical_block<scope = #di_subprogram5, file = #di_file3, line = 773, column = 13>
#di_lexical_block6 = #llvm.di_lexical_block<scope = #di_subprogram9, file = #di_file3, line = 773, column = 13>
#di_lexical_block7 = #llvm.di_lexical_block<scope = #di_lexical_block3, file = #di_file1, line = 16, column = 5>
#di_lexical_block_file = #llvm.di_lexical_block_file<scope = #di_lexical_block3, file = #di_file1, discriminator = 2>
#loc28 = loc(fused<#di_subprogram4>[#loc3])
#loc29 = loc(fused<#di_subprogram5>[#loc4])
#loc30 = loc(fused<#di_subprogram6>[#loc5])
#loc31 = loc(fused<#di_subprogram7>[#loc11])
#loc32 = loc(fused<#di_subprogram8>[#loc3])
#loc33 = loc(fused<#di_subprogram9>[#loc4])
#loc34 = loc(fused<#di_subprogram10>[#loc5])
#loc35 = loc(fused<#di_subprogram11>[#loc11])
#di_lexical_block8 = #llvm.di_lexical_block<scope = #di_lexical_block4, file = #di_file1, line = 7, column = 5>
#di_lexical_block_file1 = #llvm.di_lexical_block_file<scope = #di_lexical_block4, file = #di_file1, discriminator = 2>
#loc36 = loc(fused<#di_lexical_block5>[#loc12])
#loc37 = loc(fused<#di_lexical_block_file>[#loc16])
#loc38 = loc(fused<#di_lexical_block6>[#loc12])
#loc39 = loc(fused<#di_lexical_block7>[#loc18])
#loc40 = loc(fused<#di_lexical_block7>[#loc19])
#loc41 = loc(fused<#di_lexical_block7>[#loc20])
#loc42 = loc(fused<#di_lexical_block_file1>[#loc6])
#loc43 = loc(fused<#di_lexical_block8>[#loc7])
#loc44 = loc(fused<#di_lexical_block8>[#loc13])
#loc45 = loc(fused<#di_lexical_block8>[#loc14])
#loc46 = loc(callsite(#loc34 at #loc37))
#loc47 = loc(callsite(#loc30 at #loc42))
#loc48 = loc(callsite(#loc33 at #loc46))
#loc49 = loc(callsite(#loc38 at #loc46))
#loc50 = loc(callsite(#loc29 at #loc47))
#loc51 = loc(callsite(#loc36 at #loc47))
#loc52 = loc(callsite(#loc32 at #loc48))
#loc53 = loc(callsite(#loc35 at #loc49))
#loc54 = loc(callsite(#loc28 at #loc50))
#loc55 = loc(callsite(#loc31 at #loc51))
#loc56 = loc(callsite(#loc27 at #loc53))
#loc57 = loc(callsite(#loc26 at #loc55))
