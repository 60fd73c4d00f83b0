// dot_partial from sample_crates/dot: the entry forwards to the kernel (not inlined);
// a start..end loop (`ult` exit, no guard) with an f64 accumulator becomes scf.for.
// RUN: %raise %s | filecheck %s
// RUN: %raise %s --explain 2>&1 | filecheck %s --check-prefix=NOTES
// RUN: %raise %s | %mlir-opt --pass-pipeline="builtin.module(convert-scf-to-cf,expand-strided-metadata,finalize-memref-to-llvm,convert-math-to-llvm,convert-arith-to-llvm,convert-index-to-llvm,convert-cf-to-llvm,convert-func-to-llvm,reconcile-unrealized-casts)" | %mlir-translate --mlir-to-llvmir | filecheck %s --check-prefix=LLVM
// CHECK-LABEL: func.func @__cargo_mlir_kernel_dot_dot_partial_8_4(
// CHECK: scf.for unsigned {{.*}} iter_args({{.*}}) -> (f64)
// CHECK-NOT: llvm.br
// CHECK: memref.load
// CHECK: memref.load
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK: scf.yield
// CHECK: memref.store
// NOTES: raised
// NOTES: precondition: not gpu_num_workgroups_x() == 0
// NOTES: loop at <function>: raised
// LLVM: define void @__cargo_mlir_kernel_dot_dot_partial_8_4(
module attributes {dlti.dl_spec = #dlti.dl_spec<!llvm.ptr<270> = dense<32> : vector<4xi64>, !llvm.ptr<271> = dense<32> : vector<4xi64>, !llvm.ptr<272> = dense<64> : vector<4xi64>, i64 = dense<64> : vector<2xi64>, i128 = dense<128> : vector<2xi64>, f80 = dense<128> : vector<2xi64>, !llvm.ptr = dense<64> : vector<4xi64>, i1 = dense<8> : vector<2xi64>, i8 = dense<8> : vector<2xi64>, i16 = dense<16> : vector<2xi64>, i32 = dense<32> : vector<2xi64>, f16 = dense<16> : vector<2xi64>, f64 = dense<64> : vector<2xi64>, f128 = dense<128> : vector<2xi64>, "dlti.endianness" = "little", "dlti.mangling_mode" = "e", "dlti.legal_int_widths" = array<i32: 8, 16, 32, 64>, "dlti.stack_alignment" = 128 : i64>, llvm.ident = "rustc version 1.95.0 (59807616e 2026-04-14)", llvm.module_asm = [], llvm.target_triple = "x86_64-unknown-linux-gnu"} {
  llvm.mlir.global internal unnamed_addr constant @alloc_466e6e10d4d5a95679ab35d1156aa54e("src/lib.rs\00") {addr_space = 0 : i32, alignment = 1 : i64, dso_local}
  llvm.mlir.global internal unnamed_addr constant @alloc_a99c179785808e6432a16f48155bc263() {addr_space = 0 : i32, alignment = 8 : i64, dso_local} : !llvm.struct<packed (ptr, array<16 x i8>)> {
    %0 = llvm.mlir.constant("\0A\00\00\00\00\00\00\00\0D\00\00\00\19\00\00\00") : !llvm.array<16 x i8>
    %1 = llvm.mlir.addressof @alloc_466e6e10d4d5a95679ab35d1156aa54e : !llvm.ptr
    %2 = llvm.mlir.undef : !llvm.struct<packed (ptr, array<16 x i8>)>
    %3 = llvm.insertvalue %1, %2[0] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    %4 = llvm.insertvalue %0, %3[1] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    llvm.return %4 : !llvm.struct<packed (ptr, array<16 x i8>)>
  }
  llvm.mlir.global internal unnamed_addr constant @alloc_c1512b273447b3cf938860663cb0b45e() {addr_space = 0 : i32, alignment = 8 : i64, dso_local} : !llvm.struct<packed (ptr, array<16 x i8>)> {
    %0 = llvm.mlir.constant("\0A\00\00\00\00\00\00\00\14\00\00\00\05\00\00\00") : !llvm.array<16 x i8>
    %1 = llvm.mlir.addressof @alloc_466e6e10d4d5a95679ab35d1156aa54e : !llvm.ptr
    %2 = llvm.mlir.undef : !llvm.struct<packed (ptr, array<16 x i8>)>
    %3 = llvm.insertvalue %1, %2[0] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    %4 = llvm.insertvalue %0, %3[1] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    llvm.return %4 : !llvm.struct<packed (ptr, array<16 x i8>)>
  }
  llvm.mlir.global internal unnamed_addr constant @alloc_7babaf39ee5d5450a53ffc8d47bb4ddd() {addr_space = 0 : i32, alignment = 8 : i64, dso_local} : !llvm.struct<packed (ptr, array<16 x i8>)> {
    %0 = llvm.mlir.constant("\0A\00\00\00\00\00\00\00\12\00\00\00\17\00\00\00") : !llvm.array<16 x i8>
    %1 = llvm.mlir.addressof @alloc_466e6e10d4d5a95679ab35d1156aa54e : !llvm.ptr
    %2 = llvm.mlir.undef : !llvm.struct<packed (ptr, array<16 x i8>)>
    %3 = llvm.insertvalue %1, %2[0] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    %4 = llvm.insertvalue %0, %3[1] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    llvm.return %4 : !llvm.struct<packed (ptr, array<16 x i8>)>
  }
  llvm.module_flags [#llvm.mlir.module_flag<min, "PIC Level", 2 : i32>, #llvm.mlir.module_flag<warning, "RtLibUseGOT", 1 : i32>, #llvm.mlir.module_flag<max, "Dwarf Version", 4 : i32>, #llvm.mlir.module_flag<warning, "Debug Info Version", 3 : i32>]
  llvm.func internal unnamed_addr fastcc @_ZN3dot11dot_partial17h0850a0f97c18d5d3E(%arg0: !llvm.ptr {llvm.align = 8 : i64, llvm.noalias, llvm.nocapture, llvm.nonnull, llvm.noundef, llvm.readonly}, %arg1: i64 {llvm.noundef, llvm.range = #llvm.constant_range<i64, 0, 1152921504606846976>}, %arg2: !llvm.ptr {llvm.align = 8 : i64, llvm.noalias, llvm.nocapture, llvm.nonnull, llvm.noundef, llvm.readonly}, %arg3: i64 {llvm.noundef, llvm.range = #llvm.constant_range<i64, 0, 1152921504606846976>}, %arg4: !llvm.ptr {llvm.align = 8 : i64, llvm.noalias, llvm.nocapture, llvm.nonnull, llvm.noundef, llvm.writeonly}, %arg5: i64 {llvm.noundef, llvm.range = #llvm.constant_range<i64, 0, 1152921504606846976>}) attributes {dso_local, no_unwind, passthrough = ["nonlazybind", ["probe-stack", "inline-asm"], ["target-cpu", "generic"]], personality = @rust_eh_personality, target_cpu = "generic", uwtable_kind = #llvm.uwtableKind<async>} {
    %0 = llvm.mlir.constant(0 : i64) : i64
    %1 = llvm.mlir.constant(0.000000e+00 : f64) : f64
    %2 = llvm.mlir.addressof @alloc_7babaf39ee5d5450a53ffc8d47bb4ddd : !llvm.ptr
    %3 = llvm.mlir.constant(1 : i64) : i64
    %4 = llvm.mlir.addressof @alloc_c1512b273447b3cf938860663cb0b45e : !llvm.ptr
    %5 = llvm.mlir.addressof @alloc_a99c179785808e6432a16f48155bc263 : !llvm.ptr
    %6 = llvm.call tail @cargo_mlir_gpu_workitem_id_x() {no_inline, no_unwind} : () -> (i64 {llvm.noundef})
    %7 = llvm.icmp "eq" %6, %0 : i64
    llvm.cond_br %7, ^bb1, ^bb7
  ^bb1:  // pred: ^bb0
    %8 = llvm.call tail @cargo_mlir_gpu_workgroup_id_x() {no_inline, no_unwind} : () -> (i64 {llvm.noundef})
    %9 = llvm.call tail @cargo_mlir_gpu_num_workgroups_x() {no_inline, no_unwind} : () -> (i64 {llvm.noundef})
    %10 = llvm.icmp "eq" %9, %0 : i64
    llvm.cond_br %10, ^bb3, ^bb2
  ^bb2:  // pred: ^bb1
    %11 = llvm.udiv %arg1, %9 : i64
    %12 = llvm.urem %arg1, %9 : i64
    %13 = llvm.icmp "ne" %12, %0 : i64
    %14 = llvm.zext %13 : i1 to i64
    %15 = llvm.add %11, %14 overflow<nsw, nuw> : i64
    %16 = llvm.mul %15, %8 : i64
    %17 = llvm.intr.umin(%arg1, %16) : (i64, i64) -> i64
    %18 = llvm.add %17, %15 overflow<nsw, nuw> : i64
    %19 = llvm.intr.umin(%arg1, %18) : (i64, i64) -> i64
    %20 = llvm.icmp "ult" %16, %19 : i64
    llvm.cond_br %20, ^bb8(%1, %17 : f64, i64), ^bb4(%1 : f64)
  ^bb3:  // pred: ^bb1
    llvm.call tail @_RNvNtNtCsgEmfK2I1SDS_4core9panicking11panic_const23panic_const_div_by_zero(%5) {no_inline, no_unwind} : (!llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) -> ()
    llvm.unreachable
  ^bb4(%21: f64):  // 2 preds: ^bb2, ^bb9
    %22 = llvm.icmp "ult" %8, %arg5 : i64
    llvm.cond_br %22, ^bb5, ^bb6
  ^bb5:  // pred: ^bb4
    %23 = llvm.getelementptr inbounds|nuw %arg4[%8] : (!llvm.ptr, i64) -> !llvm.ptr, f64
    llvm.store %21, %23 {alignment = 8 : i64} : f64, !llvm.ptr
    llvm.br ^bb7
  ^bb6:  // pred: ^bb4
    llvm.call tail @_RNvNtCsgEmfK2I1SDS_4core9panicking18panic_bounds_check(%8, %arg5, %4) {no_inline, no_unwind} : (i64 {llvm.noundef}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) -> ()
    llvm.unreachable
  ^bb7:  // 2 preds: ^bb0, ^bb5
    llvm.return
  ^bb8(%24: f64, %25: i64):  // 2 preds: ^bb2, ^bb9
    %26 = llvm.icmp "ult" %25, %arg3 : i64
    llvm.cond_br %26, ^bb9, ^bb10
  ^bb9:  // pred: ^bb8
    %27 = llvm.add %25, %3 overflow<nsw, nuw> : i64
    %28 = llvm.getelementptr inbounds|nuw %arg0[%25] : (!llvm.ptr, i64) -> !llvm.ptr, f64
    %29 = llvm.load %28 {alignment = 8 : i64} : !llvm.ptr -> f64
    %30 = llvm.getelementptr inbounds|nuw %arg2[%25] : (!llvm.ptr, i64) -> !llvm.ptr, f64
    %31 = llvm.load %30 {alignment = 8 : i64} : !llvm.ptr -> f64
    %32 = llvm.fmul %29, %31 : f64
    %33 = llvm.fadd %24, %32 : f64
    %34 = llvm.icmp "ult" %27, %19 : i64
    llvm.cond_br %34, ^bb8(%33, %27 : f64, i64), ^bb4(%33 : f64)
  ^bb10:  // pred: ^bb8
    llvm.call tail @_RNvNtCsgEmfK2I1SDS_4core9panicking18panic_bounds_check(%25, %arg3, %2) {no_inline, no_unwind} : (i64 {llvm.noundef}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) -> ()
    llvm.unreachable
  }
  llvm.func unnamed_addr @__cargo_mlir_kernel_dot_dot_partial_8_4(%arg0: !llvm.ptr {llvm.nocapture, llvm.nonnull, llvm.noundef, llvm.readonly}, %arg1: i64 {llvm.noundef}, %arg2: !llvm.ptr {llvm.nocapture, llvm.nonnull, llvm.noundef, llvm.readonly}, %arg3: i64 {llvm.noundef}, %arg4: !llvm.ptr {llvm.nocapture, llvm.nonnull, llvm.noundef, llvm.writeonly}, %arg5: i64 {llvm.noundef}) attributes {no_unwind, passthrough = ["nonlazybind", ["probe-stack", "inline-asm"], ["target-cpu", "generic"]], target_cpu = "generic", uwtable_kind = #llvm.uwtableKind<async>} {
    llvm.call fastcc tail @_ZN3dot11dot_partial17h0850a0f97c18d5d3E(%arg0, %arg1, %arg2, %arg3, %arg4, %arg5) {no_unwind} : (!llvm.ptr {llvm.align = 8 : i64, llvm.noalias, llvm.nonnull, llvm.noundef, llvm.readonly}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.noalias, llvm.nonnull, llvm.noundef, llvm.readonly}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.noalias, llvm.nonnull, llvm.noundef}, i64 {llvm.noundef}) -> ()
    llvm.return
  }
  llvm.func unnamed_addr @rust_eh_personality(i32 {llvm.noundef}, i32 {llvm.noundef}, i64 {llvm.noundef}, !llvm.ptr {llvm.noundef}, !llvm.ptr {llvm.noundef}) -> (i32 {llvm.noundef, llvm.range = #llvm.constant_range<i32, 0, 10>}) attributes {no_unwind, passthrough = ["nonlazybind", ["probe-stack", "inline-asm"], ["target-cpu", "generic"]], target_cpu = "generic", uwtable_kind = #llvm.uwtableKind<async>}
  llvm.func unnamed_addr @cargo_mlir_gpu_workitem_id_x() -> (i64 {llvm.noundef}) attributes {no_inline, no_unwind, passthrough = ["nonlazybind", ["probe-stack", "inline-asm"], ["target-cpu", "generic"]], target_cpu = "generic", uwtable_kind = #llvm.uwtableKind<async>}
  llvm.func unnamed_addr @cargo_mlir_gpu_workgroup_id_x() -> (i64 {llvm.noundef}) attributes {no_inline, no_unwind, passthrough = ["nonlazybind", ["probe-stack", "inline-asm"], ["target-cpu", "generic"]], target_cpu = "generic", uwtable_kind = #llvm.uwtableKind<async>}
  llvm.func unnamed_addr @cargo_mlir_gpu_num_workgroups_x() -> (i64 {llvm.noundef}) attributes {no_inline, no_unwind, passthrough = ["nonlazybind", ["probe-stack", "inline-asm"], ["target-cpu", "generic"]], target_cpu = "generic", uwtable_kind = #llvm.uwtableKind<async>}
  llvm.func unnamed_addr @_RNvNtNtCsgEmfK2I1SDS_4core9panicking11panic_const23panic_const_div_by_zero(!llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) attributes {no_inline, no_unwind, passthrough = ["cold", "noreturn", "nonlazybind", ["probe-stack", "inline-asm"], ["target-cpu", "generic"]], target_cpu = "generic", uwtable_kind = #llvm.uwtableKind<async>}
  llvm.func unnamed_addr @_RNvNtCsgEmfK2I1SDS_4core9panicking18panic_bounds_check(i64 {llvm.noundef}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) attributes {no_inline, no_unwind, passthrough = ["cold", "minsize", "noreturn", "nonlazybind", "optsize", ["probe-stack", "inline-asm"], ["target-cpu", "generic"]], target_cpu = "generic", uwtable_kind = #llvm.uwtableKind<async>}
}
