// Stage `retarget` for the host on an imported kernel (the shape
// `mlir-translate --import-llvm` gives for rustc 1.95 output) that asks for
// two cargo_mlir::gpu ids: `scale(x: &mut [f32], a: f32)`.
// RUN: %stage entry %s --until retarget --target host --marker 'cargo-mlir-marker/2;kernel;scale;__cargo_mlir_kernel_scale;&mut [f32],f32;;;src/lib.rs:3' | filecheck %s
// RUN: %stage entry %s --until retarget --target host --marker 'cargo-mlir-marker/2;kernel;scale;__cargo_mlir_kernel_scale;&mut [f32],f32;;;src/lib.rs:3' | filecheck %s --check-prefix=GONE

// The hook declarations (rustc's `noinline` externals) are gone; the
// definitions below replace them.
// GONE-NOT: llvm.func unnamed_addr @cargo_mlir_gpu_
// GONE-NOT: no_inline

// The kernel is untouched except that its hook calls may now be inlined.
// CHECK-LABEL: llvm.func unnamed_addr @__cargo_mlir_kernel_scale(
// CHECK:         llvm.call tail @cargo_mlir_gpu_global_id_x() {no_unwind} : () -> (i64 {llvm.noundef})
// CHECK-NEXT:    llvm.call tail @cargo_mlir_gpu_workitem_id_y() {no_unwind} : () -> (i64 {llvm.noundef})
// CHECK:         llvm.return

// The id block the hooks read, one per CPU thread.
// CHECK: llvm.mlir.global internal thread_local @__cargo_mlir_ids(dense<0> : tensor<12xi64>) {{.*}} : !llvm.array<12 x i64>

// The grid entry: each flattened parameter is read through its pointer in
// `params` (slice -> ptr + len, then the f32); grid and workgroup sizes go to
// slots 9-11 and 6-8; four loops (workgroups, then z, y, x threads) store the
// ids and call the kernel.
// CHECK-LABEL: func.func @__cargo_mlir_host_scale(%arg0: !llvm.ptr, %arg1: !llvm.ptr, %arg2: i64, %arg3: i64) {
// CHECK:         %[[IDS:.*]] = llvm.mlir.addressof @__cargo_mlir_ids : !llvm.ptr
// CHECK-NEXT:    %[[Q0:.*]] = llvm.getelementptr %arg0[0] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
// CHECK-NEXT:    %[[P0:.*]] = llvm.load %[[Q0]] : !llvm.ptr -> !llvm.ptr
// CHECK-NEXT:    %[[PTR:.*]] = llvm.load %[[P0]] : !llvm.ptr -> !llvm.ptr
// CHECK-NEXT:    %[[Q1:.*]] = llvm.getelementptr %arg0[1] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
// CHECK-NEXT:    %[[P1:.*]] = llvm.load %[[Q1]] : !llvm.ptr -> !llvm.ptr
// CHECK-NEXT:    %[[LEN:.*]] = llvm.load %[[P1]] : !llvm.ptr -> i64
// CHECK-NEXT:    %[[Q2:.*]] = llvm.getelementptr %arg0[2] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
// CHECK-NEXT:    %[[P2:.*]] = llvm.load %[[Q2]] : !llvm.ptr -> !llvm.ptr
// CHECK-NEXT:    %[[A:.*]] = llvm.load %[[P2]] : !llvm.ptr -> f32
// CHECK:         llvm.getelementptr %[[IDS]][0, 9]
// CHECK:         llvm.getelementptr %[[IDS]][0, 6]
// CHECK:         scf.for %[[WG:.*]] = %arg2 to %arg3 step
// CHECK:           scf.for
// CHECK:             scf.for
// CHECK:               scf.for %[[X:.*]] = %{{.*}} to %{{.*}} step
// CHECK-NEXT:            %[[SLOT:.*]] = llvm.getelementptr %[[IDS]][0, 0]
// CHECK-NEXT:            llvm.store %[[X]], %[[SLOT]] : i64, !llvm.ptr
// CHECK-NEXT:            llvm.call @__cargo_mlir_kernel_scale(%[[PTR]], %[[LEN]], %[[A]]) : (!llvm.ptr, i64, f32) -> ()
// CHECK:         return

// global_id_x = workgroup_id_x (slot 3) * workgroup_size_x (slot 6) + workitem_id_x (slot 0)
// CHECK-LABEL: llvm.func internal @cargo_mlir_gpu_global_id_x() -> i64 attributes {always_inline} {
// CHECK-NEXT:    %[[B:.*]] = llvm.mlir.addressof @__cargo_mlir_ids : !llvm.ptr
// CHECK-NEXT:    %[[P3:.*]] = llvm.getelementptr %[[B]][0, 3]
// CHECK-NEXT:    %[[WGX:.*]] = llvm.load %[[P3]] : !llvm.ptr -> i64
// CHECK-NEXT:    %[[P6:.*]] = llvm.getelementptr %[[B]][0, 6]
// CHECK-NEXT:    %[[SZX:.*]] = llvm.load %[[P6]] : !llvm.ptr -> i64
// CHECK-NEXT:    %[[P0:.*]] = llvm.getelementptr %[[B]][0, 0]
// CHECK-NEXT:    %[[TX:.*]] = llvm.load %[[P0]] : !llvm.ptr -> i64
// CHECK-NEXT:    %[[M:.*]] = llvm.mul %[[WGX]], %[[SZX]] : i64
// CHECK-NEXT:    %[[G:.*]] = llvm.add %[[M]], %[[TX]] : i64
// CHECK-NEXT:    llvm.return %[[G]] : i64

// workitem_id_y is slot 1
// CHECK-LABEL: llvm.func internal @cargo_mlir_gpu_workitem_id_y() -> i64 attributes {always_inline} {
// CHECK-NEXT:    %[[B:.*]] = llvm.mlir.addressof @__cargo_mlir_ids : !llvm.ptr
// CHECK-NEXT:    %[[P1:.*]] = llvm.getelementptr %[[B]][0, 1]
// CHECK-NEXT:    %[[T:.*]] = llvm.load %[[P1]] : !llvm.ptr -> i64
// CHECK-NEXT:    llvm.return %[[T]] : i64

module attributes {llvm.target_triple = "x86_64-unknown-linux-gnu"} {
  llvm.func unnamed_addr @__cargo_mlir_kernel_scale(%arg0: !llvm.ptr {llvm.noundef}, %arg1: i64 {llvm.noundef}, %arg2: f32 {llvm.noundef}) attributes {no_unwind} {
    %0 = llvm.call tail @cargo_mlir_gpu_global_id_x() {no_inline, no_unwind} : () -> (i64 {llvm.noundef})
    %1 = llvm.call tail @cargo_mlir_gpu_workitem_id_y() {no_inline, no_unwind} : () -> (i64 {llvm.noundef})
    %2 = llvm.add %0, %1 : i64
    %3 = llvm.icmp "ult" %2, %arg1 : i64
    llvm.cond_br %3, ^bb1, ^bb2
  ^bb1:
    %4 = llvm.getelementptr inbounds|nuw %arg0[%2] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    %5 = llvm.load %4 {alignment = 4 : i64} : !llvm.ptr -> f32
    %6 = llvm.fmul %5, %arg2 : f32
    llvm.store %6, %4 {alignment = 4 : i64} : f32, !llvm.ptr
    llvm.br ^bb2
  ^bb2:
    llvm.return
  }
  llvm.func unnamed_addr @cargo_mlir_gpu_global_id_x() -> (i64 {llvm.noundef}) attributes {no_inline, no_unwind}
  llvm.func unnamed_addr @cargo_mlir_gpu_workitem_id_y() -> (i64 {llvm.noundef}) attributes {no_inline, no_unwind}
}
