//! The CPU level the pipeline's multi-versioned host code dispatches on
//! (`cargo_mlir_rt_cpu_level`): the matmul schedule compiles its kernels twice,
//! for x86-64-v3 (AVX2 + FMA) and for the baseline, and asks here which to run.

use std::sync::atomic::{AtomicI32, Ordering};

/// -1: not detected yet; else the level
static LEVEL: AtomicI32 = AtomicI32::new(-1);

/// 3 when the CPU (and OS) support all of x86-64-v3, else 0. Detected once.
#[doc(hidden)]
#[unsafe(no_mangle)]
pub extern "C" fn cargo_mlir_rt_cpu_level() -> i32 {
    let level = LEVEL.load(Ordering::Relaxed);
    if level >= 0 {
        return level;
    }
    let level = detect();
    LEVEL.store(level, Ordering::Relaxed);
    level
}

/// The v3 code is compiled with `target-cpu=x86-64-v3`, so LLVM may use any of
/// that level's features (BMI, LZCNT, MOVBE, F16C as well as AVX2 and FMA).
#[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
fn detect() -> i32 {
    let v3 = is_x86_feature_detected!("avx")
        && is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("bmi1")
        && is_x86_feature_detected!("bmi2")
        && is_x86_feature_detected!("f16c")
        && is_x86_feature_detected!("lzcnt")
        && is_x86_feature_detected!("movbe");
    if v3 { 3 } else { 0 }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "x86")))]
fn detect() -> i32 {
    0
}
