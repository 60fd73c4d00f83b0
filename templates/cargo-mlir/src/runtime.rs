//! The launch runtime: kernels compiled by `cargo mlir` register themselves
//! (a constructor in the generated kernel library calls `cargo_mlir_rt_register`);
//! `offload!` looks its kernel up here and runs it on the chosen device, or
//! runs the plain Rust body when nothing was registered (a plain `cargo build`).
//! An `accelerate` function asks here, once, for its direct entry.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::abi;
use crate::gpu::{Ids, IDS};
use crate::gpu_driver::GpuError;
use crate::offload::Launch;

/// Host code made by the pipeline: runs workgroups `begin..end` of the grid.
/// `params[i]` points at flattened kernel parameter i; `dims` is
/// `[workgroups x, y, z, threads x, y, z]`.
pub type HostFn = unsafe extern "C" fn(params: *mut *mut c_void, dims: *const u64, begin: u64, end: u64);

/// An `accelerate` function's fast path made by the pipeline
/// (`__cargo_mlir_direct_<key>`): `params[i]` points at flattened parameter i,
/// `ret` at room for the return value (null when it returns `()`; a `bool` is
/// one byte, 0 or 1). Returns 1 when it ran (the value written to `*ret`), 0
/// when it declined with no side effect (the caller then runs the Rust body).
pub type DirectFn = unsafe extern "C" fn(params: *mut *mut c_void, ret: *mut c_void) -> u8;

/// One device image (a HSACO or cubin) for one architecture.
#[repr(C)]
pub struct Image {
    pub arch: *const u8,
    pub arch_len: usize,
    pub data: *const u8,
    pub size: usize,
}

#[repr(C)]
pub struct KernelEntry {
    pub name: *const u8,
    pub name_len: usize,
    pub host: Option<HostFn>,
    pub images: *const Image,
    pub n_images: usize,
    /// Table version 2: an accelerate function's direct entry (null for kernels).
    pub direct: Option<DirectFn>,
}

#[repr(C)]
pub struct Table {
    pub version: u32,
    pub n_entries: u32,
    pub entries: *const KernelEntry,
}

struct Registry(Vec<&'static Table>);
// SAFETY: tables are immutable data emitted by the pipeline and live for the program.
unsafe impl Send for Registry {}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry(Vec::new()));

// the exported names are the ABI's
const _: () = assert!(abi::str_eq(stringify!(cargo_mlir_rt_register), abi::REGISTER_FN));
const _: () = assert!(abi::str_eq(stringify!(cargo_mlir_rt_kernel_panic), abi::PANIC_HOOK));

/// Called from the constructor of each kernel library.
#[doc(hidden)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cargo_mlir_rt_register(table: *const Table) {
    if table.is_null() || unsafe { (*table).version } != abi::TABLE_VERSION {
        eprintln!("cargo-mlir: ignoring a kernel table of another version; rebuild with this cargo-mlir");
        return;
    }
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner()).0.push(unsafe { &*table });
}

/// Called by a kernel's host code when it panics (bounds check, overflow, …).
/// Kernels cannot unwind: like on a GPU, the program stops, here with a message.
#[doc(hidden)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cargo_mlir_rt_kernel_panic(message: *const u8, len: usize) -> ! {
    let text = String::from_utf8_lossy(unsafe { bytes(message, len) });
    eprintln!("cargo-mlir: {text}");
    std::process::abort()
}

unsafe fn bytes<'a>(p: *const u8, n: usize) -> &'a [u8] {
    if n == 0 { &[] } else { unsafe { std::slice::from_raw_parts(p, n) } }
}

/// The registered entry of kernel `name`, if this binary was built by cargo mlir.
pub fn lookup(name: &str) -> Option<&'static KernelEntry> {
    let reg = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    for table in reg.0.iter() {
        let entries = unsafe { std::slice::from_raw_parts(table.entries, table.n_entries as usize) };
        for e in entries {
            if unsafe { bytes(e.name, e.name_len) } == name.as_bytes() {
                return Some(e);
            }
        }
    }
    None
}

/// The direct entry registered for the accelerate function whose entry symbol
/// is `name` (`__cargo_mlir_accel_<key>`), if this binary was built by cargo mlir
/// and the pipeline made one. Takes the registry lock: callers cache the
/// answer ([`Accelerated`]).
pub fn lookup_direct(name: &str) -> Option<DirectFn> {
    lookup(name).and_then(|e| e.direct)
}

/// What an `accelerate` function keeps in a `static`: its entry symbol and
/// Rust name, and the direct entry once looked up (no lock after the first call).
pub struct Accelerated {
    entry: &'static str,
    name: &'static str,
    /// 0: not looked up yet; 1: none registered; else the `DirectFn`'s address
    direct: AtomicUsize,
    logged_decline: AtomicBool,
}

const UNKNOWN: usize = 0;
const NONE: usize = 1;

impl Accelerated {
    #[doc(hidden)]
    pub const fn new(entry: &'static str, name: &'static str) -> Self {
        Accelerated { entry, name, direct: AtomicUsize::new(UNKNOWN), logged_decline: AtomicBool::new(false) }
    }

    /// The direct entry, looked up on the first call only.
    #[inline]
    pub fn direct(&self) -> Option<DirectFn> {
        let mut v = self.direct.load(Ordering::Acquire);
        if v == UNKNOWN {
            v = self.resolve();
        }
        if v == NONE {
            None
        } else {
            // SAFETY: a non-sentinel value is only ever stored from a `DirectFn`
            Some(unsafe { std::mem::transmute::<usize, DirectFn>(v) })
        }
    }

    #[cold]
    fn resolve(&self) -> usize {
        let entry = lookup(self.entry);
        let found = entry.and_then(|e| e.direct);
        let v = found.map_or(NONE, |f| f as usize);
        // racing first calls all store the same answer; only one logs it
        if self.direct.swap(v, Ordering::AcqRel) == UNKNOWN && log_enabled() {
            let name = self.name;
            match (entry, found) {
                (_, Some(_)) => eprintln!("[cargo-mlir] accelerate `{name}` uses MLIR code (direct entry)"),
                (Some(_), None) => eprintln!("[cargo-mlir] accelerate `{name}` runs as plain Rust \
                                              (cargo mlir found no fast path; `cargo mlir build --explain` says why)"),
                (None, None) => eprintln!("[cargo-mlir] accelerate `{name}` runs as plain Rust \
                                           (not built by cargo mlir)"),
            }
        }
        v
    }

    /// Runs the direct entry, if there is one: true when it ran (`*ret` holds
    /// the result), false when there is none or it declined (nothing happened:
    /// the caller runs the Rust body).
    ///
    /// # Safety
    /// `params[i]` points at flattened parameter i of this function's entry
    /// (as `#[accelerate]` makes them), and `ret` at room for its return type
    /// (null when it returns `()`).
    #[inline]
    pub unsafe fn run(&self, params: &mut [*mut c_void], ret: *mut c_void) -> bool {
        let Some(direct) = self.direct() else { return false };
        // SAFETY: the pipeline compiled `direct` from this function's signature;
        // the caller vouches for `params` and `ret`.
        if unsafe { direct(params.as_mut_ptr(), ret) } != 0 {
            return true;
        }
        if !self.logged_decline.swap(true, Ordering::Relaxed) && log_enabled() {
            eprintln!("[cargo-mlir] accelerate `{}`: the MLIR code declined a call; that call ran as plain Rust",
                      self.name);
        }
        false
    }
}

/// A buffer argument: where its pointer parameter is, how big it is, and
/// whether it is copied back (`&mut`), as std::offload's transfer rules say.
#[derive(Clone, Copy, Debug)]
pub struct Buffer {
    pub param: usize,
    pub bytes: usize,
    pub copy_back: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceChoice {
    Auto,
    Host,
    Gpu,
}

pub fn device_choice() -> DeviceChoice {
    match std::env::var(abi::ENV_DEVICE).as_deref() {
        Err(_) | Ok("") | Ok("auto") => DeviceChoice::Auto,
        Ok("host") | Ok("cpu") => DeviceChoice::Host,
        Ok("gpu") => DeviceChoice::Gpu,
        Ok(other) => panic!(
            "cargo-mlir: CARGO_MLIR_DEVICE={other:?} is not a device choice; use one of: host, gpu, auto"
        ),
    }
}

fn log_enabled() -> bool {
    matches!(std::env::var(abi::ENV_LOG).as_deref(), Ok("info") | Ok("debug"))
}

/// Run the kernel whose entry symbol is `name` (`kernel` is its Rust name, the
/// device function's name too). Returns once it has run somewhere; `fallback`
/// runs one grid point of the plain Rust body (used when no code was registered).
pub fn launch(name: &str, kernel: &str, launch: &Launch, params: &mut [*mut c_void], buffers: &[Buffer],
              fallback: &mut dyn FnMut()) {
    let choice = device_choice();
    let entry = lookup(name);
    if choice != DeviceChoice::Host {
        if let Some(e) = entry {
            match crate::gpu_driver::launch(e, kernel, launch, params, buffers) {
                Ok(where_) => {
                    if log_enabled() {
                        eprintln!("[cargo-mlir] kernel `{}` ran on {where_}", kernel);
                    }
                    return;
                }
                Err(GpuError::Driver(why)) => panic!("cargo-mlir: {why}"),
                Err(GpuError::Unavailable(why)) if choice == DeviceChoice::Gpu => panic!(
                    "cargo-mlir: CARGO_MLIR_DEVICE=gpu, but kernel `{}` cannot run on a GPU: {why}",
                    kernel
                ),
                Err(GpuError::Unavailable(why)) => {
                    if log_enabled() {
                        eprintln!("[cargo-mlir] kernel `{}`: no GPU ({why}); using the host", kernel);
                    }
                }
            }
        } else if choice == DeviceChoice::Gpu {
            panic!("cargo-mlir: CARGO_MLIR_DEVICE=gpu, but kernel `{}` has no device code: \
                    build with `cargo mlir build` (plain cargo builds run kernels as Rust on the host)",
                   kernel);
        }
    }
    match entry.and_then(|e| e.host) {
        Some(host) => {
            let threads = run_host(host, launch, params);
            if log_enabled() {
                eprintln!("[cargo-mlir] kernel `{}` ran on host (MLIR code, {} workgroups x {} threads, {} CPU threads)",
                          kernel, launch.workgroups(), launch.threads_per_workgroup(), threads);
            }
        }
        None => {
            run_fallback(launch, fallback);
            if log_enabled() {
                eprintln!("[cargo-mlir] kernel `{}` ran on host (plain Rust, not built by cargo mlir)", kernel);
            }
        }
    }
}

fn host_threads(workgroups: u64) -> usize {
    let want = std::env::var(abi::ENV_HOST_THREADS).ok().and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    want.min(workgroups.max(1) as usize)
}

struct SendPtr(*mut *mut c_void);
// SAFETY: the kernel reads its parameters; writes through them follow GPU
// semantics (each grid point owns what it writes), as on a device.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

fn dims_of(l: &Launch) -> [u64; 6] {
    let (w, t) = (l.workgroup_dim, l.thread_dim);
    [w[0] as u64, w[1] as u64, w[2] as u64, t[0] as u64, t[1] as u64, t[2] as u64]
}

/// Run the whole grid with the pipeline's host code, workgroups split over CPU threads.
fn run_host(host: HostFn, l: &Launch, params: &mut [*mut c_void]) -> usize {
    let total = l.workgroups();
    if total == 0 || l.threads_per_workgroup() == 0 {
        return 0;
    }
    let dims = dims_of(l);
    let n = host_threads(total);
    let p = SendPtr(params.as_mut_ptr());
    if n == 1 {
        unsafe { host(p.0, dims.as_ptr(), 0, total) };
        return 1;
    }
    let chunk = total.div_ceil(n as u64);
    std::thread::scope(|s| {
        for i in 0..n as u64 {
            let (begin, end) = (i * chunk, ((i + 1) * chunk).min(total));
            let (p, dims) = (&p, &dims);
            if begin < end {
                s.spawn(move || unsafe { host(p.0, dims.as_ptr(), begin, end) });
            }
        }
    });
    n
}

/// Plain Rust: every grid point in order, ids set for `cargo_mlir::gpu`.
pub fn run_fallback(l: &Launch, body: &mut dyn FnMut()) {
    let (w, t) = (l.workgroup_dim.map(|d| d as usize), l.thread_dim.map(|d| d as usize));
    let saved = IDS.with(|c| c.get());
    for wz in 0..w[2] { for wy in 0..w[1] { for wx in 0..w[0] {
        for tz in 0..t[2] { for ty in 0..t[1] { for tx in 0..t[0] {
            IDS.with(|c| c.set(Ids([tx, ty, tz, wx, wy, wz, t[0], t[1], t[2], w[0], w[1], w[2]])));
            body();
        } } }
    } } }
    IDS.with(|c| c.set(saved));
}
