; Float math in GPU code (pipeline/stages/gpu_math.py): an exact operation
; (fabs) stays an LLVM intrinsic, as llvm.call_intrinsic, the GPU lowerings
; leave it alone; exp (an intrinsic) and tanhf (a libm call) call the vendor's
; device library; the lowered IR keeps those calls for serialize to link.
; RUN: %stage import %s --target sm_90 --until lower --marker 'cargo-mlir-marker/2;kernel;act;__cargo_mlir_kernel_act;&mut [f32];;;src/lib.rs:2' | filecheck %s --check-prefix=NV
; RUN: %stage import %s --target gfx90a --until lower --marker 'cargo-mlir-marker/2;kernel;act;__cargo_mlir_kernel_act;&mut [f32];;;src/lib.rs:2' | filecheck %s --check-prefix=AMD

; NV-DAG: llvm.call @__nv_expf(
; NV-DAG: llvm.call @__nv_tanhf(
; NV-DAG: llvm.call_intrinsic "llvm.fabs.f32"
; NV-DAG: llvm.func @__nv_expf(f32) -> f32
; NV-NOT: @tanhf(

; AMD-DAG: llvm.call @__ocml_exp_f32(
; AMD-DAG: llvm.call @__ocml_tanh_f32(
; AMD-DAG: llvm.call_intrinsic "llvm.fabs.f32"
; AMD-NOT: @tanhf(

target datalayout = "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-i128:128-f80:128-n8:16:32:64-S128"
target triple = "x86_64-unknown-linux-gnu"

define void @__cargo_mlir_kernel_act(ptr noundef %x, i64 noundef %x_len) unnamed_addr #0 {
start:
  %ok = icmp ugt i64 %x_len, 0
  br i1 %ok, label %bb1, label %done

bb1:
  %v = load float, ptr %x, align 4
  %e = tail call float @llvm.exp.f32(float %v)
  %t = tail call float @tanhf(float %e)
  %a = tail call float @llvm.fabs.f32(float %t)
  store float %a, ptr %x, align 4
  br label %done

done:
  ret void
}

declare float @llvm.exp.f32(float)
declare float @llvm.fabs.f32(float)
declare float @tanhf(float) unnamed_addr #1

attributes #0 = { nounwind nonlazybind uwtable "target-cpu"="generic" }
attributes #1 = { nounwind }
