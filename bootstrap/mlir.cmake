# The recipe of `cargo mlir bootstrap build`: MLIR and the pieces the cargo-mlir
# pipeline uses, loaded with `cmake -C`. cargo-mlir adds CMAKE_INSTALL_PREFIX and
# Python3_EXECUTABLE on the command line. Editing this file makes the next
# `bootstrap build` reconfigure: the build directory keeps a hash of it.
# Only `set(NAME "value" CACHE TYPE "")` lines: cargo-mlir reads the project lists
# below to check that the llvm-project tree has every directory they need.

set(CMAKE_BUILD_TYPE "Release" CACHE STRING "")
set(LLVM_ENABLE_ASSERTIONS "OFF" CACHE BOOL "")

# mlir: mlir-opt, mlir-translate and the Python bindings; lld: ld.lld links AMDGPU
# code objects; clang: device wrappers, and the runtimes below are compiled with it.
set(LLVM_ENABLE_PROJECTS "mlir;lld;clang" CACHE STRING "")

# offload: libomptarget and liboffload, host side only (the pipeline makes its own
# device code, so no LLVM_RUNTIME_TARGETS for the GPU device libraries).
# openmp: offload's build still depends on it (rust's bootstrap carries the same
# FIXME in src/bootstrap/src/core/build_steps/llvm.rs).
set(LLVM_ENABLE_RUNTIMES "openmp;offload" CACHE STRING "")

# The host and the two GPU families cargo-mlir targets (gfx90a, sm_90).
set(LLVM_TARGETS_TO_BUILD "X86;AMDGPU;NVPTX" CACHE STRING "")

# The raising, autodiff and retargeting stages are Python passes over the bindings.
set(MLIR_ENABLE_BINDINGS_PYTHON "ON" CACHE BOOL "")

# FileCheck, not and count: the lit tests of cargo-mlir run them.
set(LLVM_INSTALL_UTILS "ON" CACHE BOOL "")

# One shared libLLVM, as Debian's packages: a smaller install and faster links.
set(LLVM_BUILD_LLVM_DYLIB "ON" CACHE BOOL "")
set(LLVM_LINK_LLVM_DYLIB "ON" CACHE BOOL "")

# Nothing cargo-mlir uses, and hours of build time: LLVM's own tests, benchmarks, examples.
set(LLVM_INCLUDE_TESTS "OFF" CACHE BOOL "")
set(LLVM_INCLUDE_BENCHMARKS "OFF" CACHE BOOL "")
set(LLVM_INCLUDE_EXAMPLES "OFF" CACHE BOOL "")
