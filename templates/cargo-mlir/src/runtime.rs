//! The launch runtime: kernels compiled by `cargo mlir` register themselves
//! (a constructor in the generated kernel library calls `cargo_mlir_rt_register`);
//! `offload!` looks its kernel up here and runs it on the chosen device, or
//! runs the plain Rust body when nothing was registered (a plain `cargo build`).
//! An `accelerate` function asks here, once, for its direct entry.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::abi;
use crate::gpu::{IdCells, Ids, IDS};
use crate::gpu_driver::GpuError;
use crate::offload::Launch;

mod cpu;
mod gpu_matmul;
mod parallel;
mod pool;
pub(crate) mod workgroup;

/// Host code made by the pipeline: runs workgroups `begin..end` of the grid.
/// `params[i]` points at flattened kernel parameter i; `dims` is
/// `[workgroups x, y, z, threads x, y, z]`.
/// `C-unwind`: a panic in the pipeline's host code unwinds through it (see `cargo_mlir_rt_panic`).
pub type HostFn = unsafe extern "C-unwind" fn(params: *mut *mut c_void, dims: *const u64, begin: u64, end: u64);

/// An `accelerate` function's fast path made by the pipeline
/// (`__cargo_mlir_direct_<key>`): `params[i]` points at flattened parameter i,
/// `ret` at room for the return value (null when it returns `()`; a `bool` is
/// one byte, 0 or 1). Returns 1 when it ran (the value written to `*ret`), 0
/// when it declined with no side effect (the caller then runs the Rust body).
pub type DirectFn = unsafe extern "C-unwind" fn(params: *mut *mut c_void, ret: *mut c_void) -> u8;

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
const _: () = assert!(abi::str_eq(stringify!(cargo_mlir_rt_panic), abi::PANIC_FN));

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

/// A panic of core's (bounds check, overflow, unwrap, …) in host code the
/// pipeline made, with its arguments: `kind` is core's function
/// (`panicking::panic_bounds_check`), `a`/`b` its first two integers, `text` a
/// `&str` it takes, `loc` its `&Location`. Says what Rust's panic would say
/// (the message, the location, the thread), then unwinds with the message as
/// the payload: the panic reaches the `offload!` call or the derivative's
/// caller, where `catch_unwind` and `#[should_panic]` see it as usual.
///
/// # Safety
/// The pointers and lengths describe valid data; `loc`, when not null, points
/// at a `Location` made by this compiler (the kernel's own panic location).
#[doc(hidden)]
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C-unwind" fn cargo_mlir_rt_panic(kernel: *const u8, kernel_len: usize, kind: *const u8,
                                                    kind_len: usize, a: u64, b: u64, text: *const u8,
                                                    text_len: usize, loc: *const std::panic::Location<'static>) -> ! {
    let kernel = String::from_utf8_lossy(unsafe { bytes(kernel, kernel_len) });
    let kind = String::from_utf8_lossy(unsafe { bytes(kind, kind_len) });
    let text = String::from_utf8_lossy(unsafe { bytes(text, text_len) });
    let message = panic_message(&kind, a, b, &text, &kernel);
    // SAFETY: the caller vouches for `loc`
    let at = unsafe { loc.as_ref() }.map(|l| format!(" at {}:{}:{}", l.file(), l.line(), l.column()));
    let at = at.unwrap_or_default();
    if DEFER_PANIC_REPORTS.get() {
        std::panic::resume_unwind(Box::new(PanicReport { message, at }));
    }
    say_panic(&message, &at);
    std::panic::resume_unwind(Box::new(message))
}

thread_local! {
    /// Set while this thread runs chunks of a pool launch (see [`resume_panic`]).
    static DEFER_PANIC_REPORTS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A panic of the pipeline's host code in a launch that several threads run:
/// not said where it happened (on a pool thread, or by each of several threads
/// that panicked) but by the launching thread when it re-raises the one it
/// keeps, so the program says it once, as the same code run by plain Rust on
/// that thread would.
pub(crate) struct PanicReport {
    message: String,
    at: String,
}

/// Whether this thread's panics of host code are reported later (returns the
/// previous setting).
pub(crate) fn defer_panic_reports(on: bool) -> bool {
    DEFER_PANIC_REPORTS.replace(on)
}

/// Re-raise a panic of a pool launch on the launching thread, saying it first
/// if it was a deferred report; the payload is then the message, as for any
/// other panic of host code.
pub(crate) fn resume_panic(payload: Box<dyn std::any::Any + Send>) -> ! {
    match payload.downcast::<PanicReport>() {
        Ok(report) if !DEFER_PANIC_REPORTS.get() => {
            say_panic(&report.message, &report.at);
            std::panic::resume_unwind(Box::new(report.message))
        }
        Ok(report) => std::panic::resume_unwind(report),
        Err(other) => std::panic::resume_unwind(other),
    }
}

/// What std's default panic hook prints, which `resume_unwind` skips: the
/// thread, its OS id, where, the message, then a backtrace (`RUST_BACKTRACE`)
/// or, the first time, the note saying how to get one.
fn say_panic(message: &str, at: &str) {
    static NOTED: AtomicBool = AtomicBool::new(false);
    let thread = std::thread::current();
    let mut out = format!("\nthread '{}'{} panicked{at}:\n{message}\n", thread.name().unwrap_or("<unnamed>"),
                          os_thread_id().map(|id| format!(" ({id})")).unwrap_or_default());
    let trace = std::backtrace::Backtrace::capture();
    if trace.status() == std::backtrace::BacktraceStatus::Captured {
        out += &format!("stack backtrace:\n{trace}");
    } else if !NOTED.swap(true, Ordering::Relaxed) {
        out += "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
    }
    eprint!("{out}");
}

#[cfg(target_os = "linux")]
fn os_thread_id() -> Option<i64> {
    extern "C" {
        fn gettid() -> std::ffi::c_int;   // glibc 2.30, musl 1.2.2
    }
    Some(unsafe { gettid() } as i64)
}

#[cfg(not(target_os = "linux"))]
fn os_thread_id() -> Option<i64> {
    None
}

/// The message core's panic function `kind` gives for these arguments.
fn panic_message(kind: &str, a: u64, b: u64, text: &str, kernel: &str) -> String {
    if let Some(op) = kind.strip_prefix("panicking::panic_const::panic_const_") {
        return match op {
            "add_overflow" => "attempt to add with overflow",
            "sub_overflow" => "attempt to subtract with overflow",
            "mul_overflow" => "attempt to multiply with overflow",
            "div_overflow" => "attempt to divide with overflow",
            "rem_overflow" => "attempt to calculate the remainder with overflow",
            "neg_overflow" => "attempt to negate with overflow",
            "shr_overflow" => "attempt to shift right with overflow",
            "shl_overflow" => "attempt to shift left with overflow",
            "div_by_zero" => "attempt to divide by zero",
            "rem_by_zero" => "attempt to calculate the remainder with a divisor of zero",
            _ => return format!("{op} (in the host code of `{kernel}`)"),
        }
        .to_string();
    }
    match kind {
        "panicking::panic_bounds_check" => format!("index out of bounds: the len is {b} but the index is {a}"),
        "option::unwrap_failed" => "called `Option::unwrap()` on a `None` value".to_string(),
        "option::expect_failed" | "panicking::panic" | "panicking::panic_nounwind" => text.to_string(),
        "slice::index::slice_end_index_len_fail" => format!("range end index {a} out of range for slice of length {b}"),
        "slice::index::slice_start_index_len_fail" => {
            format!("range start index {a} out of range for slice of length {b}")
        }
        "slice::index::slice_index_order_fail" => format!("slice index starts at {a} but ends at {b}"),
        "panicking::panic_null_pointer_dereference" => "null pointer dereference occurred".to_string(),
        "panicking::panic_misaligned_pointer_dereference" => {
            format!("misaligned pointer dereference: address must be a multiple of {a:#x} but is {b:#x}")
        }
        _ => format!("{kind} panicked in the host code of `{kernel}` (its formatted message is not kept)"),
    }
}

/// Called by a kernel's host code for anything else it cannot do (nothing
/// reaches it after the diagnostics): the program stops, with a message.
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
    /// a derivative's entry (`#[autodiff_*]`): no Rust body to fall back on
    derivative: bool,
}

const UNKNOWN: usize = 0;
const NONE: usize = 1;

impl Accelerated {
    #[doc(hidden)]
    pub const fn new(entry: &'static str, name: &'static str) -> Self {
        Accelerated { entry, name, direct: AtomicUsize::new(UNKNOWN), logged_decline: AtomicBool::new(false),
                      derivative: false }
    }

    /// A derivative made by the pipeline (`#[autodiff_forward]`/`#[autodiff_reverse]`).
    #[doc(hidden)]
    pub const fn derivative(entry: &'static str, name: &'static str) -> Self {
        Accelerated { entry, name, direct: AtomicUsize::new(UNKNOWN), logged_decline: AtomicBool::new(false),
                      derivative: true }
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
                (_, Some(_)) if self.derivative => eprintln!("[cargo-mlir] derivative `{name}` uses MLIR code"),
                (_, None) if self.derivative => {}      // calling it panics, saying why
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

/// What the built program reads from its environment, once per process
/// (`available_parallelism` alone reads cgroup files: tens of µs per call).
struct Config {
    /// `CARGO_MLIR_DEVICE`, or the message for a value that is not a choice
    device: Result<DeviceChoice, String>,
    log: bool,
    /// `CARGO_MLIR_HOST_THREADS`, else every core
    threads: usize,
    /// stack size of the pool's threads: `CARGO_MLIR_HOST_STACK`, else the main thread's
    stack: usize,
    /// `CARGO_MLIR_HOST_FIBERS=threads`: workgroup fibers as OS threads (see workgroup.rs)
    fibers_threads: bool,
}

static CONFIG: OnceLock<Config> = OnceLock::new();

#[inline]
fn config() -> &'static Config {
    CONFIG.get_or_init(read_config)
}

#[cold]
fn read_config() -> Config {
    let device = match std::env::var(abi::ENV_DEVICE).as_deref() {
        Err(_) | Ok("") | Ok("auto") => Ok(DeviceChoice::Auto),
        Ok("host") | Ok("cpu") => Ok(DeviceChoice::Host),
        Ok("gpu") => Ok(DeviceChoice::Gpu),
        Ok(other) => Err(format!(
            "cargo-mlir: CARGO_MLIR_DEVICE={other:?} is not a device choice; use one of: host, gpu, auto"
        )),
    };
    let positive = |name: &str| std::env::var(name).ok().and_then(|v| v.trim().parse::<usize>().ok()).filter(|&n| n > 0);
    Config {
        device,
        log: matches!(std::env::var(abi::ENV_LOG).as_deref(), Ok("info") | Ok("debug")),
        threads: positive(abi::ENV_HOST_THREADS)
            .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)),
        stack: positive(ENV_HOST_STACK).unwrap_or_else(main_stack_size),
        fibers_threads: std::env::var(workgroup::ENV_HOST_FIBERS).is_ok_and(|v| v == "threads"),
    }
}

/// Stack size of the host pool's threads, in bytes (default: the main thread's).
pub const ENV_HOST_STACK: &str = "CARGO_MLIR_HOST_STACK";

/// The main thread's stack size (its `RLIMIT_STACK`), 8 MiB when unlimited or unknown.
fn main_stack_size() -> usize {
    const DEFAULT: usize = 8 << 20;
    #[cfg(target_os = "linux")]
    {
        #[repr(C)]
        struct Rlimit { cur: u64, max: u64 }
        extern "C" {
            fn getrlimit(resource: i32, rlim: *mut Rlimit) -> i32;
        }
        const RLIMIT_STACK: i32 = 3;
        let mut r = Rlimit { cur: 0, max: 0 };
        if unsafe { getrlimit(RLIMIT_STACK, &mut r) } == 0 && r.cur != u64::MAX && r.cur >= 64 << 10 {
            return usize::try_from(r.cur).unwrap_or(DEFAULT);
        }
    }
    DEFAULT
}

/// Where kernels run (`CARGO_MLIR_DEVICE`, read once); panics on a value that is not a choice.
pub fn device_choice() -> DeviceChoice {
    match &config().device {
        Ok(d) => *d,
        Err(msg) => panic!("{msg}"),
    }
}

#[inline]
fn log_enabled() -> bool {
    config().log
}

/// What the launch function of one kernel (made by `#[offload_kernel]`) keeps
/// in a `static`: the kernel's entry symbol and Rust name, its registry entry
/// once looked up, and whether a GPU was found wanting for it.
pub struct Site {
    entry: &'static str,
    name: &'static str,
    /// `UNKNOWN`, `NONE` or the `&'static KernelEntry`'s address
    found: AtomicUsize,
    /// a launch without `device` found no GPU for this kernel (no driver, no
    /// device, no matching image): later ones go straight to the host
    no_gpu: AtomicBool,
}

impl Site {
    #[doc(hidden)]
    pub const fn new(entry: &'static str, name: &'static str) -> Self {
        Site { entry, name, found: AtomicUsize::new(UNKNOWN), no_gpu: AtomicBool::new(false) }
    }

    /// The registered entry, looked up (under the registry's lock) on the first launch only.
    #[inline]
    fn entry(&self) -> Option<&'static KernelEntry> {
        let mut v = self.found.load(Ordering::Acquire);
        if v == UNKNOWN {
            v = lookup(self.entry).map_or(NONE, |e| e as *const KernelEntry as usize);
            self.found.store(v, Ordering::Release);
        }
        // SAFETY: a non-sentinel value is only ever stored from a `&'static KernelEntry`
        (v != NONE).then(|| unsafe { &*(v as *const KernelEntry) })
    }

    /// Run the kernel: on a GPU or with the pipeline's host code when this
    /// binary has them, else `body` (the plain Rust kernel call) once per grid
    /// point, on the calling thread, in order. `params` are the flattened
    /// arguments, `buffers` say which of them are copied to and from a GPU.
    #[inline]
    #[track_caller]
    pub fn launch<F: FnMut()>(&self, l: &Launch, params: &mut [*mut c_void], buffers: &[Buffer], body: F) {
        if !self.ran_elsewhere(l, params, buffers) {
            run_fallback(l, body);
            if log_enabled() {
                eprintln!("[cargo-mlir] kernel `{}` ran on host (plain Rust, not built by cargo mlir)", self.name);
            }
        }
    }

    /// As [`Site::launch`], for a kernel whose body calls `gpu::barrier` or
    /// uses workgroup memory: on the host, the threads of each workgroup run
    /// at once, as fibers (runtime/workgroup.rs); `body` runs the kernel for the
    /// grid point whose ids are set.
    #[inline]
    #[track_caller]
    pub fn launch_workgroups<F: Fn()>(&self, l: &Launch, params: &mut [*mut c_void], buffers: &[Buffer], body: F) {
        if !self.ran_elsewhere(l, params, buffers) {
            let cfg = config();
            workgroup::run(l, &body, cfg.threads, cfg.stack, cfg.fibers_threads);
            if log_enabled() {
                let how = if self.entry().is_some() { "Rust" } else { "plain Rust, not built by cargo mlir" };
                eprintln!("[cargo-mlir] kernel `{}` ran on host ({how}; each workgroup's {} threads at once, as fibers)",
                          self.name, l.threads_per_workgroup());
            }
        }
    }

    /// Whether a GPU or the pipeline's host code ran the launch; false: the
    /// caller runs the Rust body on the host (a plain build asks no driver).
    #[inline]
    #[track_caller]
    fn ran_elsewhere(&self, l: &Launch, params: &mut [*mut c_void], buffers: &[Buffer]) -> bool {
        let entry = self.entry();
        let plain_ok = matches!(config().device, Ok(DeviceChoice::Auto | DeviceChoice::Host));
        !(entry.is_none() && plain_ok) && self.launch_registered(entry, l, params, buffers)
    }

    /// A GPU or the pipeline's host code; false when neither exists for it
    /// (the caller runs the plain Rust body). With no entry, only checks that
    /// `CARGO_MLIR_DEVICE=gpu` is not asked of a plain build.
    #[inline(never)]
    #[track_caller]
    fn launch_registered(&self, entry: Option<&'static KernelEntry>, l: &Launch, params: &mut [*mut c_void],
                         buffers: &[Buffer]) -> bool {
        let kernel = self.name;
        let choice = device_choice();
        let Some(e) = entry else {
            if choice == DeviceChoice::Gpu {
                panic!("cargo-mlir: CARGO_MLIR_DEVICE=gpu, but kernel `{kernel}` has no device code: \
                        build with `cargo mlir build` (plain cargo builds run kernels as Rust on the host)");
            }
            return false;
        };
        // an empty grid (a zero dimension) never reaches a driver, which would reject it:
        // the host path does nothing for it, whatever the device choice
        let empty = l.workgroup_dim.contains(&0) || l.thread_dim.contains(&0);
        let try_gpu = !empty && (choice == DeviceChoice::Gpu
            || (choice == DeviceChoice::Auto && !(l.device.is_none() && self.no_gpu.load(Ordering::Relaxed))));
        // over a driver's grid or block limits (checked before the driver sees
        // it): CARGO_MLIR_DEVICE=gpu stops with the reason; otherwise this
        // launch runs on the host, which has no such limits (later ones may fit)
        let over = if try_gpu && e.n_images > 0 { crate::gpu_driver::over_limits(kernel, l) } else { None };
        if let Some(why) = &over {
            if choice == DeviceChoice::Gpu {
                panic!("cargo-mlir: CARGO_MLIR_DEVICE=gpu, but {why}");
            }
            if log_enabled() {
                eprintln!("[cargo-mlir] {why}; this launch runs on the host");
            }
        }
        if try_gpu && over.is_none() {
            match crate::gpu_driver::launch(e, kernel, l, params, buffers) {
                Ok(where_) => {
                    if log_enabled() {
                        eprintln!("[cargo-mlir] kernel `{kernel}` ran on {where_}");
                    }
                    return true;
                }
                Err(GpuError::Driver(why)) => panic!("cargo-mlir: {why}"),
                // an ordinary panic, at the `offload!` that launched it (track_caller)
                Err(GpuError::Panic(what)) => panic!("{what}"),
                Err(GpuError::Unavailable(why)) if choice == DeviceChoice::Gpu => panic!(
                    "cargo-mlir: CARGO_MLIR_DEVICE=gpu, but kernel `{kernel}` cannot run on a GPU: {why}"
                ),
                Err(GpuError::Unavailable(why)) => {
                    // images, drivers and devices do not change while the program
                    // runs: said once, and later launches go straight to the host
                    if l.device.is_none() {
                        self.no_gpu.store(true, Ordering::Relaxed);
                    }
                    if log_enabled() {
                        eprintln!("[cargo-mlir] kernel `{kernel}`: no GPU ({why}); using the host");
                    }
                }
            }
        }
        let Some(host) = e.host else { return false };
        let threads = run_host(host, l, params);
        if log_enabled() {
            eprintln!("[cargo-mlir] kernel `{kernel}` ran on host (MLIR code, {} workgroups x {} threads, {} CPU threads)",
                      l.workgroups(), l.threads_per_workgroup(), threads);
        }
        true
    }
}

/// Grids of fewer grid points than this run on the calling thread alone:
/// waking a worker costs more than it saves (measured by benchmarks/bench_launch.py).
const INLINE_GRID_POINTS: u64 = 1 << 14;

fn dims_of(l: &Launch) -> [u64; 6] {
    let (w, t) = (l.workgroup_dim, l.thread_dim);
    [w[0] as u64, w[1] as u64, w[2] as u64, t[0] as u64, t[1] as u64, t[2] as u64]
}

/// Run the whole grid with the pipeline's host code: tiny grids inline on the
/// calling thread, others on the worker pool. Returns the CPU threads used.
fn run_host(host: HostFn, l: &Launch, params: &mut [*mut c_void]) -> usize {
    let total = l.workgroups();
    let per_group = l.threads_per_workgroup();
    if total == 0 || per_group == 0 {
        return 0;
    }
    let dims = dims_of(l);
    let cfg = config();
    if cfg.threads == 1 || total == 1 || total.saturating_mul(per_group) < INLINE_GRID_POINTS {
        // SAFETY: `params` are the kernel's flattened arguments (made by its launch function)
        unsafe { host(params.as_mut_ptr(), dims.as_ptr(), 0, total) };
        return 1;
    }
    // SAFETY: as above; writes follow GPU semantics (each grid point owns what it writes)
    unsafe { pool::run(host, params.as_mut_ptr(), dims, total, cfg.threads, cfg.stack) }
}

/// Puts the caller's ids back when a fallback launch ends, panicking or not
/// (a launch inside a kernel body, or a caught panic, leaves them as they were).
struct RestoreIds(Ids);

impl Drop for RestoreIds {
    fn drop(&mut self) {
        IDS.with(|c| set_ids(c, self.0));
    }
}

/// The ids `cargo_mlir::gpu` answers on this thread now.
fn ids_now(c: &IdCells) -> Ids {
    Ids(std::array::from_fn(|i| c[i].get()))
}

#[inline(always)]
fn set_ids(c: &IdCells, ids: Ids) {
    for (cell, v) in c.iter().zip(ids.0) {
        cell.set(v);
    }
}

/// Plain Rust: every grid point in order on the calling thread, ids set for
/// `cargo_mlir::gpu` (generic over the body, so it and the id updates inline).
#[inline]
pub fn run_fallback<F: FnMut()>(l: &Launch, mut body: F) {
    let (w, t) = (l.workgroup_dim.map(|d| d as usize), l.thread_dim.map(|d| d as usize));
    if w.contains(&0) || t.contains(&0) {
        return;
    }
    IDS.with(|c| {
        let _restore = RestoreIds(ids_now(c));
        set_ids(c, Ids([0, 0, 0, 0, 0, 0, t[0], t[1], t[2], w[0], w[1], w[2]]));
        for wz in 0..w[2] { c[5].set(wz); for wy in 0..w[1] { c[4].set(wy); for wx in 0..w[0] { c[3].set(wx);
            for tz in 0..t[2] { c[2].set(tz); for ty in 0..t[1] { c[1].set(ty); for tx in 0..t[0] { c[0].set(tx);
                body();
            } } }
        } } }
    });
}
