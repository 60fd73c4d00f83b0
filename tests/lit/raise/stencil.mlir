// The Jacobi stencil from sample_crates/stencil: 2-D thread ids, `i*n+j` accesses
// become 2-D memref views under preconditions.
// RUN: %raise %s | filecheck %s
// RUN: %raise %s --explain 2>&1 | filecheck %s --check-prefix=NOTES
// RUN: %raise %s | %mlir-opt --pass-pipeline="builtin.module(convert-scf-to-cf,expand-strided-metadata,finalize-memref-to-llvm,convert-math-to-llvm,convert-arith-to-llvm,convert-index-to-llvm,convert-cf-to-llvm,convert-func-to-llvm,reconcile-unrealized-casts)" | %mlir-translate --mlir-to-llvmir | filecheck %s --check-prefix=LLVM
// CHECK-LABEL: func.func @__cargo_mlir_kernel_stencil_jacobi_8_4(
// CHECK: scf.if
// CHECK: to memref<?x?xf64>
// CHECK: memref.load {{.*}}[{{.*}}, {{.*}}] : memref<?x?xf64>
// CHECK: memref.store {{.*}}[{{.*}}, {{.*}}] : memref<?x?xf64>
// CHECK: llvm.call @__cargo_mlir_kernel_stencil_jacobi_8_4.slow(
// NOTES: __cargo_mlir_kernel_stencil_jacobi_8_4: raised
// The guards bound the ids, so each check holds over a box of ids and the
// preconditions are the same at every grid point (computed once per launch):
// NOTES-NEXT: precondition: arg0*gpu_global_id_y() + gpu_global_id_x() < arg2 for gpu_global_id_x() in [0, arg0 - 1], gpu_global_id_y() in [0, arg0 - 1]
// NOTES-NEXT: precondition: arg0*gpu_global_id_y() + gpu_global_id_x() - 1*arg0 < arg2 for gpu_global_id_x() in [1, arg0 - 2], gpu_global_id_y() in [1, arg0 - 2]
// NOTES: 0 <= gpu_global_id_x() - 1 < arg0 (2-D view) for gpu_global_id_x() in [1, arg0 - 2]
// NOTES-NOT: gpu_global_id_x() < 2^40
// NOTES: not checked (accesses keep their order): arg3 and arg1 do not overlap
// LLVM: define void @__cargo_mlir_kernel_stencil_jacobi_8_4(
module attributes {dlti.dl_spec = #dlti.dl_spec<!llvm.ptr<270> = dense<32> : vector<4xi64>, !llvm.ptr<271> = dense<32> : vector<4xi64>, !llvm.ptr<272> = dense<64> : vector<4xi64>, i64 = dense<64> : vector<2xi64>, i128 = dense<128> : vector<2xi64>, f80 = dense<128> : vector<2xi64>, !llvm.ptr = dense<64> : vector<4xi64>, i1 = dense<8> : vector<2xi64>, i8 = dense<8> : vector<2xi64>, i16 = dense<16> : vector<2xi64>, i32 = dense<32> : vector<2xi64>, f16 = dense<16> : vector<2xi64>, f64 = dense<64> : vector<2xi64>, f128 = dense<128> : vector<2xi64>, "dlti.endianness" = "little", "dlti.mangling_mode" = "e", "dlti.legal_int_widths" = array<i32: 8, 16, 32, 64>, "dlti.stack_alignment" = 128 : i64>, llvm.ident = "rustc version 1.95.0 (59807616e 2026-04-14)", llvm.module_asm = [], llvm.target_triple = "x86_64-unknown-linux-gnu"} {
  llvm.mlir.global internal unnamed_addr constant @alloc_466e6e10d4d5a95679ab35d1156aa54e("src/lib.rs\00") {addr_space = 0 : i32, alignment = 1 : i64, dso_local}
  llvm.mlir.global internal unnamed_addr constant @alloc_911edac63cca04fb3f98c10d4b667577() {addr_space = 0 : i32, alignment = 8 : i64, dso_local} : !llvm.struct<packed (ptr, array<16 x i8>)> {
    %0 = llvm.mlir.constant("\0A\00\00\00\00\00\00\00\12\00\00\00\11\00\00\00") : !llvm.array<16 x i8>
    %1 = llvm.mlir.addressof @alloc_466e6e10d4d5a95679ab35d1156aa54e : !llvm.ptr
    %2 = llvm.mlir.undef : !llvm.struct<packed (ptr, array<16 x i8>)>
    %3 = llvm.insertvalue %1, %2[0] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    %4 = llvm.insertvalue %0, %3[1] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    llvm.return %4 : !llvm.struct<packed (ptr, array<16 x i8>)>
  }
  llvm.mlir.global internal unnamed_addr constant @alloc_ae9318c16e5a3f2bc0efef7bf8ce7413() {addr_space = 0 : i32, alignment = 8 : i64, dso_local} : !llvm.struct<packed (ptr, array<16 x i8>)> {
    %0 = llvm.mlir.constant("\0A\00\00\00\00\00\00\00\12\00\00\00 \00\00\00") : !llvm.array<16 x i8>
    %1 = llvm.mlir.addressof @alloc_466e6e10d4d5a95679ab35d1156aa54e : !llvm.ptr
    %2 = llvm.mlir.undef : !llvm.struct<packed (ptr, array<16 x i8>)>
    %3 = llvm.insertvalue %1, %2[0] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    %4 = llvm.insertvalue %0, %3[1] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    llvm.return %4 : !llvm.struct<packed (ptr, array<16 x i8>)>
  }
  llvm.mlir.global internal unnamed_addr constant @alloc_626cf95495e547c353fdf55df740dbcd() {addr_space = 0 : i32, alignment = 8 : i64, dso_local} : !llvm.struct<packed (ptr, array<16 x i8>)> {
    %0 = llvm.mlir.constant("\0A\00\00\00\00\00\00\00\12\00\00\00/\00\00\00") : !llvm.array<16 x i8>
    %1 = llvm.mlir.addressof @alloc_466e6e10d4d5a95679ab35d1156aa54e : !llvm.ptr
    %2 = llvm.mlir.undef : !llvm.struct<packed (ptr, array<16 x i8>)>
    %3 = llvm.insertvalue %1, %2[0] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    %4 = llvm.insertvalue %0, %3[1] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    llvm.return %4 : !llvm.struct<packed (ptr, array<16 x i8>)>
  }
  llvm.mlir.global internal unnamed_addr constant @alloc_1a940d1fe44b7b842c2ed47611e30da3() {addr_space = 0 : i32, alignment = 8 : i64, dso_local} : !llvm.struct<packed (ptr, array<16 x i8>)> {
    %0 = llvm.mlir.constant("\0A\00\00\00\00\00\00\00\12\00\00\00>\00\00\00") : !llvm.array<16 x i8>
    %1 = llvm.mlir.addressof @alloc_466e6e10d4d5a95679ab35d1156aa54e : !llvm.ptr
    %2 = llvm.mlir.undef : !llvm.struct<packed (ptr, array<16 x i8>)>
    %3 = llvm.insertvalue %1, %2[0] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    %4 = llvm.insertvalue %0, %3[1] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    llvm.return %4 : !llvm.struct<packed (ptr, array<16 x i8>)>
  }
  llvm.mlir.global internal unnamed_addr constant @alloc_570d9bbdad3c186f90267f5b409cb82c() {addr_space = 0 : i32, alignment = 8 : i64, dso_local} : !llvm.struct<packed (ptr, array<16 x i8>)> {
    %0 = llvm.mlir.constant("\0A\00\00\00\00\00\00\00\10\00\00\00\09\00\00\00") : !llvm.array<16 x i8>
    %1 = llvm.mlir.addressof @alloc_466e6e10d4d5a95679ab35d1156aa54e : !llvm.ptr
    %2 = llvm.mlir.undef : !llvm.struct<packed (ptr, array<16 x i8>)>
    %3 = llvm.insertvalue %1, %2[0] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    %4 = llvm.insertvalue %0, %3[1] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    llvm.return %4 : !llvm.struct<packed (ptr, array<16 x i8>)>
  }
  llvm.mlir.global internal unnamed_addr constant @alloc_4419a8df261629b9f2627fc73cfaa244() {addr_space = 0 : i32, alignment = 8 : i64, dso_local} : !llvm.struct<packed (ptr, array<16 x i8>)> {
    %0 = llvm.mlir.constant("\0A\00\00\00\00\00\00\00\0F\00\00\00\05\00\00\00") : !llvm.array<16 x i8>
    %1 = llvm.mlir.addressof @alloc_466e6e10d4d5a95679ab35d1156aa54e : !llvm.ptr
    %2 = llvm.mlir.undef : !llvm.struct<packed (ptr, array<16 x i8>)>
    %3 = llvm.insertvalue %1, %2[0] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    %4 = llvm.insertvalue %0, %3[1] : !llvm.struct<packed (ptr, array<16 x i8>)> 
    llvm.return %4 : !llvm.struct<packed (ptr, array<16 x i8>)>
  }
  llvm.module_flags [#llvm.mlir.module_flag<min, "PIC Level", 2 : i32>, #llvm.mlir.module_flag<warning, "RtLibUseGOT", 1 : i32>, #llvm.mlir.module_flag<max, "Dwarf Version", 4 : i32>, #llvm.mlir.module_flag<warning, "Debug Info Version", 3 : i32>]
  llvm.func internal unnamed_addr fastcc @_ZN7stencil6jacobi17h4c475c59c0d4405aE(%arg0: i64 {llvm.noundef}, %arg1: !llvm.ptr {llvm.align = 8 : i64, llvm.noalias, llvm.nocapture, llvm.nonnull, llvm.noundef, llvm.readonly}, %arg2: i64 {llvm.noundef, llvm.range = #llvm.constant_range<i64, 0, 1152921504606846976>}, %arg3: !llvm.ptr {llvm.align = 8 : i64, llvm.noalias, llvm.nocapture, llvm.nonnull, llvm.noundef, llvm.writeonly}, %arg4: i64 {llvm.noundef, llvm.range = #llvm.constant_range<i64, 0, 1152921504606846976>}) attributes {dso_local, no_unwind, passthrough = ["nonlazybind", ["probe-stack", "inline-asm"], ["target-cpu", "generic"]], target_cpu = "generic", uwtable_kind = #llvm.uwtableKind<async>} {
    %0 = llvm.mlir.constant(0 : i64) : i64
    %1 = llvm.mlir.constant(-1 : i64) : i64
    %2 = llvm.mlir.addressof @alloc_911edac63cca04fb3f98c10d4b667577 : !llvm.ptr
    %3 = llvm.mlir.addressof @alloc_ae9318c16e5a3f2bc0efef7bf8ce7413 : !llvm.ptr
    %4 = llvm.mlir.addressof @alloc_626cf95495e547c353fdf55df740dbcd : !llvm.ptr
    %5 = llvm.mlir.constant(1 : i64) : i64
    %6 = llvm.mlir.addressof @alloc_1a940d1fe44b7b842c2ed47611e30da3 : !llvm.ptr
    %7 = llvm.mlir.constant(2.500000e-01 : f64) : f64
    %8 = llvm.mlir.addressof @alloc_570d9bbdad3c186f90267f5b409cb82c : !llvm.ptr
    %9 = llvm.mlir.addressof @alloc_4419a8df261629b9f2627fc73cfaa244 : !llvm.ptr
    %10 = llvm.call tail @cargo_mlir_gpu_global_id_x() {no_inline, no_unwind} : () -> (i64 {llvm.noundef})
    %11 = llvm.call tail @cargo_mlir_gpu_global_id_y() {no_inline, no_unwind} : () -> (i64 {llvm.noundef})
    %12 = llvm.icmp "uge" %11, %arg0 : i64
    %13 = llvm.icmp "uge" %10, %arg0 : i64
    %14 = llvm.or %13, %12 : i1
    llvm.cond_br %14, ^bb18, ^bb1
  ^bb1:  // pred: ^bb0
    %15 = llvm.mul %11, %arg0 : i64
    %16 = llvm.add %15, %10 : i64
    %17 = llvm.icmp "eq" %11, %0 : i64
    %18 = llvm.icmp "eq" %10, %0 : i64
    %19 = llvm.or %18, %17 : i1
    llvm.cond_br %19, ^bb2, ^bb3
  ^bb2:  // 2 preds: ^bb1, ^bb3
    %20 = llvm.icmp "ult" %16, %arg2 : i64
    llvm.cond_br %20, ^bb14, ^bb15
  ^bb3:  // pred: ^bb1
    %21 = llvm.add %arg0, %1 : i64
    %22 = llvm.icmp "eq" %11, %21 : i64
    %23 = llvm.icmp "eq" %10, %21 : i64
    %24 = llvm.or %23, %22 : i1
    llvm.cond_br %24, ^bb2, ^bb4
  ^bb4:  // pred: ^bb3
    %25 = llvm.sub %16, %arg0 : i64
    %26 = llvm.icmp "ult" %25, %arg2 : i64
    llvm.cond_br %26, ^bb5, ^bb6
  ^bb5:  // pred: ^bb4
    %27 = llvm.add %16, %arg0 : i64
    %28 = llvm.icmp "ult" %27, %arg2 : i64
    llvm.cond_br %28, ^bb7, ^bb8
  ^bb6:  // pred: ^bb4
    llvm.call tail @_RNvNtCsgEmfK2I1SDS_4core9panicking18panic_bounds_check(%25, %arg2, %2) {no_inline, no_unwind} : (i64 {llvm.noundef}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) -> ()
    llvm.unreachable
  ^bb7:  // pred: ^bb5
    %29 = llvm.add %16, %1 : i64
    %30 = llvm.icmp "ult" %29, %arg2 : i64
    llvm.cond_br %30, ^bb9, ^bb10
  ^bb8:  // pred: ^bb5
    llvm.call tail @_RNvNtCsgEmfK2I1SDS_4core9panicking18panic_bounds_check(%27, %arg2, %3) {no_inline, no_unwind} : (i64 {llvm.noundef}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) -> ()
    llvm.unreachable
  ^bb9:  // pred: ^bb7
    %31 = llvm.add %16, %5 overflow<nsw, nuw> : i64
    %32 = llvm.icmp "ult" %31, %arg2 : i64
    llvm.cond_br %32, ^bb11, ^bb12
  ^bb10:  // pred: ^bb7
    llvm.call tail @_RNvNtCsgEmfK2I1SDS_4core9panicking18panic_bounds_check(%29, %arg2, %4) {no_inline, no_unwind} : (i64 {llvm.noundef}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) -> ()
    llvm.unreachable
  ^bb11:  // pred: ^bb9
    %33 = llvm.getelementptr inbounds|nuw %arg1[%25] : (!llvm.ptr, i64) -> !llvm.ptr, f64
    %34 = llvm.load %33 {alignment = 8 : i64} : !llvm.ptr -> f64
    %35 = llvm.getelementptr inbounds|nuw %arg1[%27] : (!llvm.ptr, i64) -> !llvm.ptr, f64
    %36 = llvm.load %35 {alignment = 8 : i64} : !llvm.ptr -> f64
    %37 = llvm.fadd %34, %36 : f64
    %38 = llvm.getelementptr inbounds|nuw %arg1[%29] : (!llvm.ptr, i64) -> !llvm.ptr, f64
    %39 = llvm.load %38 {alignment = 8 : i64} : !llvm.ptr -> f64
    %40 = llvm.fadd %37, %39 : f64
    %41 = llvm.getelementptr inbounds|nuw %arg1[%31] : (!llvm.ptr, i64) -> !llvm.ptr, f64
    %42 = llvm.load %41 {alignment = 8 : i64} : !llvm.ptr -> f64
    %43 = llvm.fadd %40, %42 : f64
    %44 = llvm.fmul %43, %7 : f64
    llvm.br ^bb13(%44 : f64)
  ^bb12:  // pred: ^bb9
    llvm.call tail @_RNvNtCsgEmfK2I1SDS_4core9panicking18panic_bounds_check(%31, %arg2, %6) {no_inline, no_unwind} : (i64 {llvm.noundef}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) -> ()
    llvm.unreachable
  ^bb13(%45: f64):  // 2 preds: ^bb11, ^bb14
    %46 = llvm.icmp "ult" %16, %arg4 : i64
    llvm.cond_br %46, ^bb16, ^bb17
  ^bb14:  // pred: ^bb2
    %47 = llvm.getelementptr inbounds|nuw %arg1[%16] : (!llvm.ptr, i64) -> !llvm.ptr, f64
    %48 = llvm.load %47 {alignment = 8 : i64} : !llvm.ptr -> f64
    llvm.br ^bb13(%48 : f64)
  ^bb15:  // pred: ^bb2
    llvm.call tail @_RNvNtCsgEmfK2I1SDS_4core9panicking18panic_bounds_check(%16, %arg2, %8) {no_inline, no_unwind} : (i64 {llvm.noundef}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) -> ()
    llvm.unreachable
  ^bb16:  // pred: ^bb13
    %49 = llvm.getelementptr inbounds|nuw %arg3[%16] : (!llvm.ptr, i64) -> !llvm.ptr, f64
    llvm.store %45, %49 {alignment = 8 : i64} : f64, !llvm.ptr
    llvm.br ^bb18
  ^bb17:  // pred: ^bb13
    llvm.call tail @_RNvNtCsgEmfK2I1SDS_4core9panicking18panic_bounds_check(%16, %arg4, %9) {no_inline, no_unwind} : (i64 {llvm.noundef}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) -> ()
    llvm.unreachable
  ^bb18:  // 2 preds: ^bb0, ^bb16
    llvm.return
  }
  llvm.func unnamed_addr @__cargo_mlir_kernel_stencil_jacobi_8_4(%arg0: i64 {llvm.noundef}, %arg1: !llvm.ptr {llvm.nocapture, llvm.nonnull, llvm.noundef, llvm.readonly}, %arg2: i64 {llvm.noundef}, %arg3: !llvm.ptr {llvm.nocapture, llvm.nonnull, llvm.noundef, llvm.writeonly}, %arg4: i64 {llvm.noundef}) attributes {no_unwind, passthrough = ["nonlazybind", ["probe-stack", "inline-asm"], ["target-cpu", "generic"]], target_cpu = "generic", uwtable_kind = #llvm.uwtableKind<async>} {
    llvm.call fastcc tail @_ZN7stencil6jacobi17h4c475c59c0d4405aE(%arg0, %arg1, %arg2, %arg3, %arg4) {no_unwind} : (i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.noalias, llvm.nonnull, llvm.noundef, llvm.readonly}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.noalias, llvm.nonnull, llvm.noundef}, i64 {llvm.noundef}) -> ()
    llvm.return
  }
  llvm.func unnamed_addr @cargo_mlir_gpu_global_id_x() -> (i64 {llvm.noundef}) attributes {no_inline, no_unwind, passthrough = ["nonlazybind", ["probe-stack", "inline-asm"], ["target-cpu", "generic"]], target_cpu = "generic", uwtable_kind = #llvm.uwtableKind<async>}
  llvm.func unnamed_addr @cargo_mlir_gpu_global_id_y() -> (i64 {llvm.noundef}) attributes {no_inline, no_unwind, passthrough = ["nonlazybind", ["probe-stack", "inline-asm"], ["target-cpu", "generic"]], target_cpu = "generic", uwtable_kind = #llvm.uwtableKind<async>}
  llvm.func unnamed_addr @_RNvNtCsgEmfK2I1SDS_4core9panicking18panic_bounds_check(i64 {llvm.noundef}, i64 {llvm.noundef}, !llvm.ptr {llvm.align = 8 : i64, llvm.dereferenceable = 24 : i64, llvm.noalias, llvm.noundef, llvm.readonly}) attributes {no_inline, no_unwind, passthrough = ["cold", "minsize", "noreturn", "nonlazybind", "optsize", ["probe-stack", "inline-asm"], ["target-cpu", "generic"]], target_cpu = "generic", uwtable_kind = #llvm.uwtableKind<async>}
}
