//! `cargo_mlir_rt_gpu_matmul`: a matmul that cargo mlir recognised in an
//! `accelerate` function runs on the GPU when the build has images for it and
//! a matching GPU is present; otherwise (or for `CARGO_MLIR_DEVICE=host`) the
//! caller, the function's host code, runs it on the CPU. Same binary.
//!
//! Transfers follow offload's rules: A and B are copied in, C in and back. C
//! is copied back into a temporary first and into C only once everything
//! worked, so a failure at any step leaves C as it was and the CPU path can
//! still run.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{device_choice, log_enabled, Buffer, DeviceChoice, Image, KernelEntry};
use crate::gpu_driver::{self, GpuError};
use crate::offload::Launch;

/// The kernel's name in every image, and its fixed block shape (schedule_gpu.py:
/// a BM×BN tile of C per workgroup of THREADS threads).
const KERNEL: &str = "cargo_mlir_matmul";
const BM: u64 = 64;
const BN: u64 = 64;
const THREADS: u32 = 256;

/// No GPU could take a matmul: later calls go straight to the CPU.
static NO_GPU: AtomicBool = AtomicBool::new(false);

/// Elements of a row-major `rows`×`cols` operand with leading dimension `ld`, in bytes.
fn span(rows: u64, cols: u64, ld: u64, elem: u64) -> usize {
    if rows == 0 || cols == 0 { 0 } else { (((rows - 1) * ld + cols) * elem) as usize }
}

/// An operand of the epilogue a matmul kernel applies to each C element
/// (schedule_host.py `Epilogue.gpu_args`): `kind` 1, an array read at [i], [j],
/// [i, j] or [j, i] of C — its first element, its span in bytes, its leading
/// dimension in `value` (two kernel parameters: the device copy, the leading
/// dimension); `kind` 0, a scalar — its bits in `value` (one parameter, the
/// kernel reads its width from the low bytes).
#[doc(hidden)]
#[repr(C)]
pub struct EpiArg {
    pub kind: u64,
    pub ptr: *const c_void,
    pub bytes: u64,
    pub value: u64,
}

/// C += A·B (B is n×k when `transpose_b`) on a GPU; 1 when it ran there, 0 when
/// the caller must run it on the CPU.
///
/// # Safety
/// `images` holds `n_images` valid images; `name` `name_len` bytes of UTF-8; A,
/// B and C are valid row-major matrices of the given sizes and leading
/// dimensions, C writable and not overlapping A or B.
#[doc(hidden)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cargo_mlir_rt_gpu_matmul(
    images: *const Image, n_images: usize, name: *const u8, name_len: usize,
    a: *const c_void, b: *const c_void, c: *mut c_void,
    m: u64, n: u64, k: u64, lda: u64, ldb: u64, ldc: u64, elem: u64, transpose_b: u64,
) -> i32 {
    // SAFETY: the caller's promises, and no epilogue
    unsafe { offer(images, n_images, name, name_len, a, b, c, [m, n, k, lda, ldb, ldc], elem, transpose_b, None) }
}

/// As [`cargo_mlir_rt_gpu_matmul`], for images whose kernel also applies an
/// epilogue to each C element it stores; its `n_args` operands in `args`.
///
/// # Safety
/// As [`cargo_mlir_rt_gpu_matmul`]; `args` holds `n_args` operands, each array
/// valid for its `bytes` and not overlapping C.
#[doc(hidden)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cargo_mlir_rt_gpu_matmul_epi(
    images: *const Image, n_images: usize, name: *const u8, name_len: usize,
    a: *const c_void, b: *const c_void, c: *mut c_void,
    m: u64, n: u64, k: u64, lda: u64, ldb: u64, ldc: u64, elem: u64, transpose_b: u64,
    args: *const EpiArg, n_args: usize,
) -> i32 {
    let extra = if n_args == 0 { &[][..] } else {
        // SAFETY: the caller passes n_args operands
        unsafe { std::slice::from_raw_parts(args, n_args) }
    };
    // SAFETY: the caller's promises
    unsafe {
        offer(images, n_images, name, name_len, a, b, c, [m, n, k, lda, ldb, ldc], elem, transpose_b, Some(extra))
    }
}

#[allow(clippy::too_many_arguments)]
unsafe fn offer(
    images: *const Image, n_images: usize, name: *const u8, name_len: usize,
    a: *const c_void, b: *const c_void, c: *mut c_void, sizes: [u64; 6], elem: u64, transpose_b: u64,
    epilogue: Option<&[EpiArg]>,
) -> i32 {
    let [m, n, k, lda, ldb, ldc] = sizes;
    let extra = epilogue.unwrap_or_default();
    if n_images == 0 || m == 0 || n == 0 || NO_GPU.load(Ordering::Relaxed) {
        return 0;
    }
    let choice = device_choice();
    if choice == DeviceChoice::Host {
        return 0;
    }
    // SAFETY: the caller passes its own name
    let func = std::str::from_utf8(unsafe { std::slice::from_raw_parts(name, name_len) }).unwrap_or("?");
    let entry = KernelEntry {
        name: KERNEL.as_ptr(), name_len: KERNEL.len(), host: None, images, n_images, direct: None,
    };
    let grid = [n.div_ceil(BN), m.div_ceil(BM)];
    if grid.iter().any(|&g| g > u32::MAX as u64) {
        return 0;
    }
    let launch = Launch::new([grid[0] as u32, grid[1] as u32, 1], [THREADS, 1, 1], 0, None);
    let c_bytes = span(m, n, ldc, elem);
    // C's copy-in source and copy-back target
    let mut staged = vec![0u8; c_bytes];
    // SAFETY: C is valid for c_bytes bytes (the caller vouches)
    unsafe { std::ptr::copy_nonoverlapping(c as *const u8, staged.as_mut_ptr(), c_bytes) };
    let (mut pa, mut pb, mut pc) = (a as *mut c_void, b as *mut c_void, staged.as_mut_ptr() as *mut c_void);
    let mut sizes = sizes;
    // the epilogue's operands: a pointer (an array) or a value (its leading dimension, a scalar) each
    let mut pointers: Vec<*mut c_void> = extra.iter().map(|e| e.ptr as *mut c_void).collect();
    let mut values: Vec<u64> = extra.iter().map(|e| e.value).collect();
    let mut params: Vec<*mut c_void> = vec![
        &mut pa as *mut _ as *mut c_void, &mut pb as *mut _ as *mut c_void, &mut pc as *mut _ as *mut c_void,
    ];
    params.extend(sizes.iter_mut().map(|s| s as *mut u64 as *mut c_void));
    let b_bytes = if transpose_b != 0 { span(n, k, ldb, elem) } else { span(k, n, ldb, elem) };
    let mut buffers = vec![
        Buffer { param: 0, bytes: span(m, k, lda, elem), copy_back: false },
        Buffer { param: 1, bytes: b_bytes, copy_back: false },
        Buffer { param: 2, bytes: c_bytes, copy_back: true },
    ];
    for (e, (p, v)) in extra.iter().zip(pointers.iter_mut().zip(values.iter_mut())) {
        if e.kind == 1 {
            buffers.push(Buffer { param: params.len(), bytes: e.bytes as usize, copy_back: false });
            params.push(p as *mut *mut c_void as *mut c_void);
        }
        params.push(v as *mut u64 as *mut c_void);
    }
    match gpu_driver::launch(&entry, KERNEL, &launch, &params, &buffers) {
        Ok(where_) => {
            // SAFETY: as above
            unsafe { std::ptr::copy_nonoverlapping(staged.as_ptr(), c as *mut u8, c_bytes) };
            if log_enabled() {
                let epilogue = if epilogue.is_some() { " with its epilogue" } else { "" };
                eprintln!("[cargo-mlir] accelerate `{func}`: matmul {m}x{n}x{k}{epilogue} ran on {where_}");
            }
            1
        }
        Err(GpuError::Unavailable(why)) => {
            NO_GPU.store(true, Ordering::Relaxed);
            if log_enabled() || choice == DeviceChoice::Gpu {
                eprintln!("[cargo-mlir] accelerate `{func}`: no GPU for its matmul ({why}); using the CPU");
            }
            0
        }
        // the matmul kernel has no panic paths (guarded loads and stores): treated as a failure
        Err(GpuError::Driver(why) | GpuError::Panic(why)) => {
            // C is untouched: the CPU gives the result; the GPU is not tried again
            NO_GPU.store(true, Ordering::Relaxed);
            eprintln!("cargo-mlir: accelerate `{func}`: the GPU failed on its matmul ({why}); using the CPU");
            0
        }
    }
}
