// Stage `lower` (the default host pass pipeline) on what `retarget` makes:
// only the llvm dialect may remain, the grid entry becomes an llvm.func that
// translate can take, and the kernel and hooks pass through.
// RUN: %stage entry %s --until retarget --marker 'cargo-mlir-marker/2;kernel;fill;__cargo_mlir_kernel_fill;&mut [f64; 8];;;src/lib.rs:7' \
// RUN:   | %stage lower - --marker 'cargo-mlir-marker/2;kernel;fill;__cargo_mlir_kernel_fill;&mut [f64; 8];;;src/lib.rs:7' \
// RUN:   | filecheck %s
// RUN: %stage entry %s --until lower --marker 'cargo-mlir-marker/2;kernel;fill;__cargo_mlir_kernel_fill;&mut [f64; 8];;;src/lib.rs:7' \
// RUN:   | filecheck %s --check-prefix=ONLY-LLVM

// No op of another dialect survives (func, scf, arith, cf, index, casts).
// ONLY-LLVM-NOT: {{(func|scf|arith|cf|index)\.[a-z_]+}}
// ONLY-LLVM-NOT: unrealized_conversion_cast

// CHECK-LABEL: llvm.func unnamed_addr @__cargo_mlir_kernel_fill(
// CHECK:         llvm.call tail @cargo_mlir_gpu_workitem_id_x()
// CHECK:         llvm.return

// The scf.for nest is now branches; the call passes the array's one pointer.
// CHECK-LABEL: llvm.func @__cargo_mlir_host_fill(%arg0: !llvm.ptr, %arg1: !llvm.ptr, %arg2: i64, %arg3: i64) {
// CHECK:         llvm.br ^bb1(%arg2 : i64)
// CHECK:         llvm.cond_br
// CHECK:         llvm.call @__cargo_mlir_kernel_fill(%{{[0-9]+}}) : (!llvm.ptr) -> ()
// CHECK:         llvm.return

// CHECK-LABEL: llvm.func internal @cargo_mlir_gpu_workitem_id_x() -> i64 attributes {always_inline} {
// CHECK:         llvm.getelementptr %{{[0-9]+}}[0, 0]

// `fill(out: &mut [f64; 8])`: out[workitem_id_x % 8] = 1.0
module attributes {llvm.target_triple = "x86_64-unknown-linux-gnu"} {
  llvm.func unnamed_addr @__cargo_mlir_kernel_fill(%arg0: !llvm.ptr {llvm.noundef, llvm.align = 8 : i64, llvm.dereferenceable = 64 : i64}) attributes {no_unwind} {
    %0 = llvm.mlir.constant(7 : i64) : i64
    %1 = llvm.mlir.constant(1.000000e+00 : f64) : f64
    %2 = llvm.call tail @cargo_mlir_gpu_workitem_id_x() {no_inline, no_unwind} : () -> (i64 {llvm.noundef})
    %3 = llvm.and %2, %0 : i64
    %4 = llvm.getelementptr inbounds|nuw %arg0[%3] : (!llvm.ptr, i64) -> !llvm.ptr, f64
    llvm.store %1, %4 {alignment = 8 : i64} : f64, !llvm.ptr
    llvm.return
  }
  llvm.func unnamed_addr @cargo_mlir_gpu_workitem_id_x() -> (i64 {llvm.noundef}) attributes {no_inline, no_unwind}
}
