// A dumped `<kernel>.<target>.<stage>.<ext>` file starts the pipeline again
// at the next stage (driver.resume): here from `retarget` through translate,
// and on to the object, whose only global symbol is the grid entry.
// RUN: rm -rf %t && mkdir -p %t
// RUN: %stage entry %s --until retarget --marker 'cargo-mlir-marker/2;kernel;inc;__cargo_mlir_kernel_inc;&mut [i32];;;src/lib.rs:2' -o %t/inc.host.retarget.mlir > %t/stdout.mlir
// RUN: %stage resume %t/inc.host.retarget.mlir --until translate --marker 'cargo-mlir-marker/2;kernel;inc;__cargo_mlir_kernel_inc;&mut [i32];;;src/lib.rs:2' | filecheck %s
// RUN: %stage resume %t/inc.host.retarget.mlir --marker 'cargo-mlir-marker/2;kernel;inc;__cargo_mlir_kernel_inc;&mut [i32];;;src/lib.rs:2' -o %t/inc.o
// RUN: echo "global symbols:" > %t/syms
// RUN: %llvm-nm --extern-only --defined-only --just-symbol-name %t/inc.o >> %t/syms
// RUN: filecheck %s --check-prefix=OBJ --input-file %t/syms
// `-o` and stdout carry the same text
// RUN: diff %t/stdout.mlir %t/inc.host.retarget.mlir

// CHECK-LABEL: define void @__cargo_mlir_kernel_inc(ptr {{.*}}, i64 {{.*}})
// CHECK-LABEL: define void @__cargo_mlir_host_inc(ptr %0, ptr %1, i64 %2, i64 %3)
// CHECK:         call void @__cargo_mlir_kernel_inc(ptr %{{[0-9]+}}, i64 %{{[0-9]+}})
// CHECK-LABEL: define internal i64 @cargo_mlir_gpu_global_id_x() #{{[0-9]+}}
// CHECK:       attributes #{{[0-9]+}} = { alwaysinline }

// the kernel and the hook are inlined into the entry or made internal
// OBJ:      global symbols:
// OBJ-NEXT: {{^}}__cargo_mlir_host_inc{{$}}
// OBJ-NOT:  {{.}}

// `inc(x: &mut [i32])`: x[global_id_x] += 1 when in bounds
module attributes {llvm.target_triple = "x86_64-unknown-linux-gnu"} {
  llvm.func unnamed_addr @__cargo_mlir_kernel_inc(%arg0: !llvm.ptr {llvm.noundef}, %arg1: i64 {llvm.noundef}) attributes {no_unwind} {
    %0 = llvm.call tail @cargo_mlir_gpu_global_id_x() {no_inline, no_unwind} : () -> (i64 {llvm.noundef})
    %1 = llvm.icmp "ult" %0, %arg1 : i64
    llvm.cond_br %1, ^bb1, ^bb2
  ^bb1:
    %2 = llvm.getelementptr inbounds|nuw %arg0[%0] : (!llvm.ptr, i64) -> !llvm.ptr, i32
    %3 = llvm.load %2 {alignment = 4 : i64} : !llvm.ptr -> i32
    %4 = llvm.mlir.constant(1 : i32) : i32
    %5 = llvm.add %3, %4 : i32
    llvm.store %5, %2 {alignment = 4 : i64} : i32, !llvm.ptr
    llvm.br ^bb2
  ^bb2:
    llvm.return
  }
  llvm.func unnamed_addr @cargo_mlir_gpu_global_id_x() -> (i64 {llvm.noundef}) attributes {no_inline, no_unwind}
}
