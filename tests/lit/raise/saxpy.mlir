// saxpy from sample_crates/saxpy (cargo mlir build --emit-ir, *.any.import.mlir):
// no loop; the bounds check on the thread id is hoisted and the accesses become memrefs.
// RUN: %raise %s | filecheck %s
// RUN: %raise %s | filecheck %s --check-prefix=SLOW
// SLOW: llvm.func internal unnamed_addr @__cargo_mlir_kernel_saxpy_saxpy_7_4.slow(
// RUN: %raise %s | %mlir-opt --pass-pipeline="builtin.module(convert-scf-to-cf,expand-strided-metadata,finalize-memref-to-llvm,convert-math-to-llvm,convert-arith-to-llvm,convert-index-to-llvm,convert-cf-to-llvm,convert-func-to-llvm,reconcile-unrealized-casts)" | %mlir-translate --mlir-to-llvmir | filecheck %s --check-prefix=LLVM
// CHECK-LABEL: func.func @__cargo_mlir_kernel_saxpy_saxpy_7_4(
// CHECK: scf.if
// CHECK: unrealized_conversion_cast {{.*}} to memref<?xf32>
// CHECK: memref.load
// CHECK: arith.mulf
// CHECK: memref.store
// CHECK-NOT: llvm.br
// CHECK: } else {
// CHECK: llvm.call @__cargo_mlir_kernel_saxpy_saxpy_7_4.slow(
// LLVM: define void @__cargo_mlir_kernel_saxpy_saxpy_7_4(
#alias_scope_domain = #llvm.alias_scope_domain<id = distinct[0]<>, description = "_ZN5saxpy5saxpy17h7b615af57b9b7340E">
#alias_scope = #llvm.alias_scope<id = distinct[1]<>, domain = #alias_scope_domain, description = "_ZN5saxpy5saxpy17h7b615af57b9b7340E: %x.0">
#alias_scope1 = #llvm.alias_scope<id = distinct[2]<>, domain = #alias_scope_domain, description = "_ZN5saxpy5saxpy17h7b615af57b9b7340E: %y.0">
module attributes {dlti.dl_spec = #dlti.dl_spec<!llvm.ptr<270> = dense<32> : vector<4xi64>, !llvm.ptr<271> = dense<32> : vector<4xi64>, !llvm.ptr<272> = dense<64> : vector<4xi64>, i64 = dense<64> : vector<2xi64>, i128 = dense<128> : vector<2xi64>, f80 = dense<128> : vector<2xi64>, !llvm.ptr = dense<64> : vector<4xi64>, i1 = dense<8> : vector<2xi64>, i8 = dense<8> : vector<2xi64>, i16 = dense<16> : vector<2xi64>, i32 = dense<32> : vector<2xi64>, f16 = dense<16> : vector<2xi64>, f64 = dense<64> : vector<2xi64>, f128 = dense<128> : vector<2xi64>, "dlti.endianness" = "little", "dlti.mangling_mode" = "e", "dlti.legal_int_widths" = array<i32: 8, 16, 32, 64>, "dlti.stack_alignment" = 128 : i64>, llvm.ident = "rustc version 1.95.0 (59807616e 2026-04-14)", llvm.module_asm = [], llvm.target_triple = "x86_64-unknown-linux-gnu"} {
  llvm.mlir.global internal unnamed_addr constant @alloc_466e6e10d4d5a95679ab35d1156aa54e("src/lib.rs\00") {addr_space = 0 : i32, alignment = 1 : i64, dso_local}
  llvm.mlir.global internal unnamed_addr constant @alloc_e94a24fa4fa6e46f1df33d3d89ad396f() {addr_space = 0 : i32, alignment = 8 : i64, dso_local} : !llvm.struct<packed (ptr, array<16 x i8>)> {
    %0 = llvm.mlir.constant("\0A\00\00\00\00\00\00\00\0A\00\00\00\14\00\00\00") : !llvm.array<16 x i8>
    %1 = llvm.mlir.addressof @alloc_466e6e10d4d5a95679ab35d1156aa54e : !llvm.ptr
    %2 = llvm.mlir.undef : !llvm.struct<packed (ptr, array<16 x i8>)>
    %3 = llvm.insertvalue %1, %2[0] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    %4 = llvm.insertvalue %0, %3[1] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    llvm.return %4 : !llvm.struct<packed (ptr, array<16 x i8>)>
  }
  llvm.module_flags [#llvm.mlir.module_flag<min, "PIC Level", 2 : i32>, #llvm.mlir.module_flag<warning, "RtLibUseGOT", 1 : i32>, #llvm.mlir.module_flag<max, "Dwarf Version", 4 : i32>, #llvm.mlir.module_flag<warning, "Debug Info Version", 3 : i32>]
  llvm.func unnamed_addr @__cargo_mlir_kernel_saxpy_saxpy_7_4(%arg0: f32 {llvm.noundef}, %arg1: !llvm.ptr {llvm.nocapture, llvm.noundef, llvm.readonly}, %arg2: i64 {llvm.noundef}, %arg3: !llvm.ptr {llvm.nocapture, llvm.noundef}, %arg4: i64 {llvm.noundef}) attributes {no_unwind, passthrough = ["nonlazybind", ["probe-stack", "inline-asm"], ["target-cpu", "generic"]], target_cpu = "generic", uwtable_kind = #llvm.uwtableKind<async>} {
    %0 = llvm.mlir.addressof @alloc_e94a24fa4fa6e46f1df33d3d89ad396f : !llvm.ptr
    llvm.intr.experimental.noalias.scope.decl #alias_scope
    llvm.intr.experimental.noalias.scope.decl #alias_scope1
    %1 = llvm.call tail @cargo_mlir_gpu_global_id_x() {no_inline, no_unwind, noalias_scopes = [#alias_scope, #alias_scope1]} : () -> (i64 {llvm.noundef})
    %2 = llvm.icmp "ult" %1, %arg4 : i64
    llvm.cond_br %2, ^bb1, ^bb4
  ^bb1:  // pred: ^bb0
    %3 = llvm.icmp "ult" %1, %arg2 : i64
    llvm.cond_br %3, ^bb2, ^bb3
  ^bb2:  // pred: ^bb1
    %4 = llvm.getelementptr inbounds|nuw %arg1[%1] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    %5 = llvm.load %4 {alias_scopes = [#alias_scope], alignment = 4 : i64, noalias_scopes = [#alias_scope1]} : !llvm.ptr -> f32
    %6 = llvm.fmul %arg0, %5 : f32
    %7 = llvm.getelementptr inbounds|nuw %arg3[%1] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    %8 = llvm.load %7 {alias_scopes = [#alias_scope1], alignment = 4 : i64, noalias_scopes = [#alias_scope]} : !llvm.ptr -> f32
    %9 = llvm.fadd %6, %8 : f32
    llvm.store %9, %7 {alias_scopes = [#alias_scope1], alignment = 4 : i64, noalias_scopes = [#alias_scope]} : f32, !llvm.ptr
    llvm.br ^bb4
  ^bb3:  // pred: ^bb1
    llvm.call tail @_RNvNtCsgEmfK2I1SDS_4core9panicking18panic_bounds_check(%1, %arg2, %0) {no_inline, no_unwind, noalias_scopes = [#alias_scope, #alias_scope1]} : (i64 {llvm.noundef}, i64 {llvm.noundef, llvm.range = #llvm.constant_range<i64, 0, 2305843009213693952>}, !llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) -> ()
    llvm.unreachable
  ^bb4:  // 2 preds: ^bb0, ^bb2
    llvm.return
  }
  llvm.func unnamed_addr @cargo_mlir_gpu_global_id_x() -> (i64 {llvm.noundef}) attributes {no_inline, no_unwind, passthrough = ["nonlazybind", ["probe-stack", "inline-asm"], ["target-cpu", "generic"]], target_cpu = "generic", uwtable_kind = #llvm.uwtableKind<async>}
  llvm.func unnamed_addr @_RNvNtCsgEmfK2I1SDS_4core9panicking18panic_bounds_check(i64 {llvm.noundef}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) attributes {no_inline, no_unwind, passthrough = ["cold", "minsize", "noreturn", "nonlazybind", "optsize", ["probe-stack", "inline-asm"], ["target-cpu", "generic"]], target_cpu = "generic", uwtable_kind = #llvm.uwtableKind<async>}
}
