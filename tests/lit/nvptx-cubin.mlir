// The NVIDIA route's last step (FINDINGS.md "MLIR GPU route"): a gpu.module
// through convert-gpu-to-nvvm and gpu-module-to-binary gives a cubin, which
// needs CUDA's ptxas but no GPU. Without ptxas this shows as UNSUPPORTED.
// REQUIRES: ptxas
// RUN: %mlir-opt %s --pass-pipeline='builtin.module(gpu.module(convert-gpu-to-nvvm),gpu-module-to-binary{format=isa})' | filecheck %s --check-prefix=PTX
// RUN: %mlir-opt %s --pass-pipeline='builtin.module(gpu.module(convert-gpu-to-nvvm),gpu-module-to-binary{format=bin toolkit=%cuda-toolkit})' | filecheck %s --check-prefix=CUBIN

// PTX-LABEL: gpu.binary @dev
// PTX-SAME:    .target sm_90
// PTX-SAME:    .visible .entry k(
// PTX-SAME:    %tid.x

// an ELF object with the kernel's own text section
// CUBIN-LABEL: gpu.binary @dev
// CUBIN-SAME:    bin = "\7FELF{{.*}}.text.k

module attributes {gpu.container_module} {
  gpu.module @dev [#nvvm.target<chip = "sm_90">] {
    gpu.func @k(%p: !llvm.ptr) kernel {
      %t = gpu.thread_id x
      %i = arith.index_cast %t : index to i64
      %f = arith.sitofp %i : i64 to f32
      %q = llvm.getelementptr %p[%i] : (!llvm.ptr, i64) -> !llvm.ptr, f32
      llvm.store %f, %q : f32, !llvm.ptr
      gpu.return
    }
  }
}
