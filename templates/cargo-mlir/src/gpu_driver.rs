//! GPU launches through the vendor driver, loaded at run time with dlopen (no
//! link-time dependency: the binary starts on any machine). The CUDA driver API
//! (`libcuda.so.1`) and HIP's module API (`libamdhip64.so`) have the same shape,
//! so one launcher serves both; a run on an NVIDIA GPU also exercises the logic
//! the AMD path shares.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::sync::{Arc, Mutex, OnceLock};

use crate::offload::Launch;
use crate::runtime::{Buffer, Image, KernelEntry};

mod staging;
use staging::{AsyncApi, Staging, Transfer};

extern "C" {
    // in glibc's libc.so.6 since 2.34; no libdl needed
    fn dlopen(filename: *const c_char, flag: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
}
const RTLD_NOW: c_int = 2;

/// Why a kernel did not run on a GPU.
pub enum GpuError {
    /// No driver, no device, or no image for the devices present: use the host.
    Unavailable(String),
    /// The driver failed while loading or running the kernel (or the launch is
    /// over its grid or block limits: see [`over_limits`]).
    Driver(String),
    /// The kernel panicked on the GPU (bounds check, overflow, …): what and where.
    Panic(String),
}

/// How `run` failed.
enum Failure {
    Driver(String),
    Panic(String),
}

impl From<String> for Failure {
    fn from(why: String) -> Self { Failure::Driver(why) }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Vendor { Cuda, Hip }

type Ptr = *mut c_void;

struct Api {
    vendor: Vendor,
    library: String,
    init: unsafe extern "C" fn(c_uint) -> c_int,
    device_count: unsafe extern "C" fn(*mut c_int) -> c_int,
    module_load_data: unsafe extern "C" fn(*mut Ptr, *const c_void) -> c_int,
    module_get_function: unsafe extern "C" fn(*mut Ptr, Ptr, *const c_char) -> c_int,
    mem_alloc: unsafe extern "C" fn(*mut u64, usize) -> c_int,
    memcpy_htod: unsafe extern "C" fn(u64, *const c_void, usize) -> c_int,
    memcpy_dtoh: unsafe extern "C" fn(*mut c_void, u64, usize) -> c_int,
    mem_free: unsafe extern "C" fn(u64) -> c_int,
    launch: unsafe extern "C" fn(Ptr, c_uint, c_uint, c_uint, c_uint, c_uint, c_uint, c_uint, Ptr,
                                 *mut Ptr, *mut Ptr) -> c_int,
    synchronize: unsafe extern "C" fn() -> c_int,
    /// cuModuleGetGlobal_v2 / hipModuleGetGlobal: a global of a loaded image (the panic record)
    module_get_global: Option<unsafe extern "C" fn(*mut u64, *mut usize, Ptr, *const c_char) -> c_int>,
    // CUDA only: devices, compute capability, primary contexts
    device_get: Option<unsafe extern "C" fn(*mut c_int, c_int) -> c_int>,
    device_attribute: Option<unsafe extern "C" fn(*mut c_int, c_int, c_int) -> c_int>,
    primary_ctx_retain: Option<unsafe extern "C" fn(*mut Ptr, c_int) -> c_int>,
    ctx_set_current: Option<unsafe extern "C" fn(Ptr) -> c_int>,
    cuda_error: Option<unsafe extern "C" fn(c_int, *mut *const c_char) -> c_int>,
    /// cuFuncSetAttribute: more than 48 KiB of dynamic shared memory is opt-in
    func_set_attribute: Option<unsafe extern "C" fn(Ptr, c_int, c_int) -> c_int>,
    // HIP only
    set_device: Option<unsafe extern "C" fn(c_int) -> c_int>,
    hip_error: Option<unsafe extern "C" fn(c_int) -> *const c_char>,
    /// pinned memory and queued copies, for staging (None: copies are direct)
    asynch: Option<AsyncApi>,
    /// CUDA: each device's primary context (retained once, kept for the
    /// process) and architecture, found at its first launch
    devices: Mutex<HashMap<c_int, (Ptr, String)>>,
}

unsafe fn sym<T: Copy>(lib: Ptr, name: &str) -> Option<T> {
    let c = CString::new(name).ok()?;
    let p = unsafe { dlsym(lib, c.as_ptr()) };
    // SAFETY: T is an `unsafe extern "C" fn` type of the symbol's C signature
    (!p.is_null()).then(|| unsafe { std::mem::transmute_copy::<Ptr, T>(&p) })
}

unsafe fn open(names: &[String]) -> Option<(Ptr, String)> {
    names.iter().find_map(|n| {
        let c = CString::new(n.as_str()).ok()?;
        let h = unsafe { dlopen(c.as_ptr(), RTLD_NOW) };
        (!h.is_null()).then(|| (h, n.clone()))
    })
}

/// HIP's runtime by every soname ROCm 5 to 7 installs, first where the
/// loader looks, then under `$ROCM_PATH/lib` and `/opt/rocm/lib` (ROCm does
/// not always register its lib directory with the loader).
fn hip_candidates(rocm_path: Option<String>) -> Vec<String> {
    const NAMES: [&str; 4] = ["libamdhip64.so", "libamdhip64.so.7", "libamdhip64.so.6", "libamdhip64.so.5"];
    let mut out: Vec<String> = NAMES.iter().map(|n| n.to_string()).collect();
    let dirs = rocm_path.into_iter().map(|p| format!("{}/lib", p.trim_end_matches('/')))
        .chain(std::iter::once("/opt/rocm/lib".to_string()));
    for dir in dirs {
        out.extend(NAMES.iter().map(|n| format!("{dir}/{n}")));
    }
    out
}

macro_rules! need {
    ($lib:expr, $name:expr) => {
        match unsafe { sym($lib, $name) } { Some(f) => f, None => return Err(format!("{} lacks {}", stringify!($lib), $name)) }
    };
}

fn load_cuda() -> Result<Api, String> {
    let (lib, library) = unsafe { open(&["libcuda.so.1".into(), "libcuda.so".into()]) }
        .ok_or("libcuda.so.1 not found")?;
    Ok(Api {
        vendor: Vendor::Cuda, library,
        init: need!(lib, "cuInit"), device_count: need!(lib, "cuDeviceGetCount"),
        module_load_data: need!(lib, "cuModuleLoadData"), module_get_function: need!(lib, "cuModuleGetFunction"),
        mem_alloc: need!(lib, "cuMemAlloc_v2"), memcpy_htod: need!(lib, "cuMemcpyHtoD_v2"),
        memcpy_dtoh: need!(lib, "cuMemcpyDtoH_v2"), mem_free: need!(lib, "cuMemFree_v2"),
        launch: need!(lib, "cuLaunchKernel"), synchronize: need!(lib, "cuCtxSynchronize"),
        module_get_global: unsafe { sym(lib, "cuModuleGetGlobal_v2") },
        device_get: Some(need!(lib, "cuDeviceGet")), device_attribute: Some(need!(lib, "cuDeviceGetAttribute")),
        primary_ctx_retain: Some(need!(lib, "cuDevicePrimaryCtxRetain")),
        ctx_set_current: Some(need!(lib, "cuCtxSetCurrent")), cuda_error: unsafe { sym(lib, "cuGetErrorString") },
        func_set_attribute: unsafe { sym(lib, "cuFuncSetAttribute") },
        set_device: None, hip_error: None, asynch: AsyncApi::cuda(lib), devices: Mutex::default(),
    })
}

fn load_hip() -> Result<Api, String> {
    let (lib, library) = unsafe { open(&hip_candidates(std::env::var("ROCM_PATH").ok())) }
        .ok_or("libamdhip64.so not found")?;
    Ok(Api {
        vendor: Vendor::Hip, library,
        init: need!(lib, "hipInit"), device_count: need!(lib, "hipGetDeviceCount"),
        module_load_data: need!(lib, "hipModuleLoadData"), module_get_function: need!(lib, "hipModuleGetFunction"),
        mem_alloc: need!(lib, "hipMalloc"), memcpy_htod: need!(lib, "hipMemcpyHtoD"),
        memcpy_dtoh: need!(lib, "hipMemcpyDtoH"), mem_free: need!(lib, "hipFree"),
        launch: need!(lib, "hipModuleLaunchKernel"), synchronize: need!(lib, "hipDeviceSynchronize"),
        module_get_global: unsafe { sym(lib, "hipModuleGetGlobal") },
        device_get: None, device_attribute: None, primary_ctx_retain: None, ctx_set_current: None, cuda_error: None,
        func_set_attribute: None, set_device: Some(need!(lib, "hipSetDevice")), hip_error: unsafe { sym(lib, "hipGetErrorString") },
        asynch: AsyncApi::hip(lib), devices: Mutex::default(),
    })
}

/// The drivers found, and what launches share. Each lock is held only for a
/// lookup (or a module load): launches from several threads copy, run and
/// wait at the same time, except launches of one image, which take turns from
/// launch to reading its panic record (so a panic is reported by the launch
/// that made it).
struct State {
    apis: Vec<Api>,
    /// (api, device, image address) -> the loaded image
    modules: Mutex<HashMap<(usize, usize, usize), Loaded>>,
    /// (api, device) -> device buffers and staging areas kept for later launches
    pools: Mutex<HashMap<(usize, c_int), Pool>>,
    /// half of a staging area, in bytes (staging::ENV_GPU_STAGING; 0: none)
    staging_half: usize,
}

/// A loaded image (the driver keeps its module for the process): its kernel,
/// the device address of its panic record (abi::GPU_PANIC_RECORD; None: the
/// image has none, it cannot panic), and the turn its launches take.
#[derive(Clone)]
struct Loaded {
    function: Ptr,
    record: Option<u64>,
    turn: Arc<Mutex<()>>,
}

/// Device buffers a launch gave back, reused by the next ones on the same
/// device (an allocation and a free per buffer and launch cost more than the
/// copy for small arguments): at most `KEEP`, the oldest freed beyond that;
/// and staging areas, one per launch in flight (at most `KEEP_STAGING` kept).
#[derive(Default)]
struct Pool {
    free: Vec<(u64, usize)>, // (address, bytes)
    staging: Vec<Staging>,
}

impl Pool {
    const KEEP: usize = 16;
    const KEEP_STAGING: usize = 4;

    /// A staging area with halves of at least `half` bytes: the smallest kept
    /// one, else a new one (pinned memory is slow to allocate).
    fn take_staging(&mut self, api: &Api, a: &AsyncApi, half: usize) -> Result<Staging, String> {
        let fit = self.staging.iter().enumerate().filter(|(_, s)| s.half() >= half)
            .min_by_key(|(_, s)| s.half()).map(|(i, _)| i);
        match fit {
            Some(i) => Ok(self.staging.remove(i)),
            None => Staging::new(api, a, half),
        }
    }

    /// `s`, no longer in use by any copy; beyond `KEEP_STAGING`, the smallest is freed.
    fn give_staging(&mut self, a: &AsyncApi, s: Staging) {
        self.staging.push(s);
        if self.staging.len() > Self::KEEP_STAGING {
            let smallest = (0..self.staging.len()).min_by_key(|&i| self.staging[i].half()).unwrap_or(0);
            self.staging.remove(smallest).free(a);
        }
    }

    /// A buffer of at least `bytes`: the smallest kept one that does not waste
    /// more than half of itself, else a new one. Returns (address, its size).
    fn take(&mut self, api: &Api, bytes: usize, kernel: &str) -> Result<(u64, usize), String> {
        let fit = self.free.iter().enumerate()
            .filter(|(_, &(_, n))| n >= bytes && n / 2 <= bytes)
            .min_by_key(|(_, &(_, n))| n).map(|(i, _)| i);
        if let Some(i) = fit {
            return Ok(self.free.remove(i));
        }
        let mut p = 0;
        api.check(unsafe { (api.mem_alloc)(&mut p, bytes) }, &format!("allocating {bytes} bytes for kernel `{kernel}`"))?;
        Ok((p, bytes))
    }

    fn give(&mut self, api: &Api, buffer: (u64, usize)) {
        self.free.push(buffer);
        while self.free.len() > Self::KEEP {
            let (p, _) = self.free.remove(0);
            unsafe { (api.mem_free)(p) };
        }
    }
}
// SAFETY: driver handles are process-wide and the driver APIs are thread-safe;
// the maps of handles are behind mutexes.
unsafe impl Send for State {}
unsafe impl Sync for State {}

static STATE: OnceLock<State> = OnceLock::new();

fn state() -> &'static State {
    STATE.get_or_init(|| {
        let mut apis = Vec::new();
        for load in [load_cuda as fn() -> Result<Api, String>, load_hip] {
            if let Ok(api) = load() {
                if unsafe { (api.init)(0) } == 0 {
                    apis.push(api);
                }
            }
        }
        State { apis, modules: Mutex::default(), pools: Mutex::default(), staging_half: staging::half_from_env() }
    })
}

impl Api {
    fn error(&self, code: c_int) -> String {
        let mut text: *const c_char = std::ptr::null();
        unsafe {
            if let Some(f) = self.cuda_error { f(code, &mut text); }
            if let Some(f) = self.hip_error { text = f(code); }
        }
        let msg = if text.is_null() { String::from("unknown error") }
                  else { unsafe { CStr::from_ptr(text) }.to_string_lossy().into_owned() };
        format!("{msg} (error {code} from {})", self.library)
    }

    fn check(&self, code: c_int, what: &str) -> Result<(), String> {
        if code == 0 { Ok(()) } else { Err(format!("{what}: {}", self.error(code))) }
    }

    /// Make `device` current; its architecture when the driver tells it (CUDA).
    fn select(&self, device: c_int) -> Result<Option<String>, String> {
        if let Some(set) = self.set_device {
            self.check(unsafe { set(device) }, "hipSetDevice")?;
            return Ok(None);
        }
        let mut devices = self.devices.lock().unwrap_or_else(|e| e.into_inner());
        let known = devices.get(&device).cloned();
        let (ctx, arch) = match known {
            Some(found) => found,
            None => {
                let (get, attr) = (self.device_get.unwrap(), self.device_attribute.unwrap());
                let (mut dev, mut major, mut minor, mut ctx) = (0, 0, 0, std::ptr::null_mut());
                unsafe {
                    self.check(get(&mut dev, device), "cuDeviceGet")?;
                    self.check(attr(&mut major, 75, dev), "cuDeviceGetAttribute")?; // COMPUTE_CAPABILITY_MAJOR
                    self.check(attr(&mut minor, 76, dev), "cuDeviceGetAttribute")?; // COMPUTE_CAPABILITY_MINOR
                    self.check(self.primary_ctx_retain.unwrap()(&mut ctx, dev), "cuDevicePrimaryCtxRetain")?;
                }
                let found = (ctx, format!("sm_{major}{minor}"));
                devices.insert(device, found.clone());
                found
            }
        };
        // current per calling thread: launches may come from any thread
        self.check(unsafe { self.ctx_set_current.unwrap()(ctx) }, "cuCtxSetCurrent")?;
        Ok(Some(arch))
    }
}

fn bytes<'a>(p: *const u8, n: usize) -> &'a [u8] {
    if n == 0 { &[] } else { unsafe { std::slice::from_raw_parts(p, n) } }
}

fn arch_of(img: &Image) -> &str {
    std::str::from_utf8(bytes(img.arch, img.arch_len)).unwrap_or("")
}

/// A cubin must match the device exactly; PTX runs on its architecture or newer.
fn fits(img: &Image, device_arch: &str) -> bool {
    let arch = arch_of(img);
    let is_ptx = !bytes(img.data, img.size).starts_with(b"\x7fELF");
    let num = |a: &str| a.trim_start_matches("sm_").trim_end_matches('a').parse::<u32>().unwrap_or(u32::MAX);
    arch == device_arch || (is_ptx && arch.starts_with("sm_") && num(arch) <= num(device_arch))
}

/// Run `entry` on the first GPU with a matching image. `Ok` names where it ran.
pub fn launch(entry: &KernelEntry, name: &str, l: &Launch, params: &[Ptr], buffers: &[Buffer])
              -> Result<String, GpuError> {
    let images = if entry.n_images == 0 { &[][..] }
                 else { unsafe { std::slice::from_raw_parts(entry.images, entry.n_images) } };
    if images.is_empty() {
        return Err(GpuError::Unavailable("it was built without GPU targets (offload-arch)".into()));
    }
    let st = state();
    if st.apis.is_empty() {
        return Err(GpuError::Unavailable("no GPU driver (libcuda.so.1 or libamdhip64.so) could be loaded".into()));
    }
    let mut archs: Vec<&str> = images.iter().map(arch_of).collect();
    archs.dedup(); // a cubin and its PTX
    let mut seen = Vec::new();
    let mut load_errors = Vec::new();
    for a in 0..st.apis.len() {
        check_limits(&st.apis[a], name, l).map_err(GpuError::Driver)?;
        let mut count = 0;
        if unsafe { (st.apis[a].device_count)(&mut count) } != 0 { continue; }
        let devices: Vec<c_int> = match l.device { Some(d) => vec![d as c_int], None => (0..count).collect() };
        for d in devices.into_iter().filter(|&d| d < count) {
            let api = &st.apis[a];
            let arch = api.select(d).map_err(GpuError::Driver)?;
            seen.push(arch.clone().unwrap_or_else(|| format!("{:?} device {d}", api.vendor)));
            let wanted = if api.vendor == Vendor::Hip { "gfx" } else { "sm_" };
            for img in images.iter().filter(|i| arch_of(i).starts_with(wanted)) {
                if arch.as_deref().is_some_and(|arch| !fits(img, arch)) { continue; }
                let key = (a, d as usize, img.data as usize);
                let mut modules = st.modules.lock().unwrap_or_else(|e| e.into_inner());
                let loaded = match modules.get(&key) {
                    Some(loaded) => loaded.clone(),
                    None => {
                        let mut m = std::ptr::null_mut();
                        let code = unsafe { (st.apis[a].module_load_data)(&mut m, img.data as *const c_void) };
                        if code != 0 {
                            // not loadable here (HIP: a gfx image for another device; CUDA: a cubin
                            // for a newer driver, PTX too new to JIT): try the next image
                            if !api_is_hip(&st.apis[a]) {
                                load_errors.push(format!("the {} {} image: {}", arch_of(img), image_kind(img),
                                                         st.apis[a].error(code)));
                            }
                            continue;
                        }
                        let cname = CString::new(name).map_err(|e| GpuError::Driver(e.to_string()))?;
                        let mut f = std::ptr::null_mut();
                        st.apis[a].check(unsafe { (st.apis[a].module_get_function)(&mut f, m, cname.as_ptr()) },
                                         &format!("kernel `{name}` not found in its image"))
                            .map_err(GpuError::Driver)?;
                        let loaded = Loaded { function: f, record: panic_record(&st.apis[a], m),
                                              turn: Arc::default() };
                        modules.insert(key, loaded.clone());
                        loaded
                    }
                };
                drop(modules);
                run(&st.apis[a], &loaded, name, d, l, params, buffers, (&st.pools, (a, d)), st.staging_half).map_err(|f| match f {
                    Failure::Driver(why) => GpuError::Driver(why),
                    Failure::Panic(what) => GpuError::Panic(what),
                })?;
                let kind = if image_kind(img) == "PTX" { " PTX" } else { "" };
                return Ok(format!("GPU {d} ({}, {}{kind} image, {})", arch.unwrap_or_default(), arch_of(img),
                                  st.apis[a].library));
            }
        }
    }
    if !load_errors.is_empty() {
        return Err(GpuError::Driver(format!("kernel `{name}`: no image of it could be loaded: {}",
                                            load_errors.join("; "))));
    }
    Err(GpuError::Unavailable(format!("no GPU matches the kernel's images ({}); GPUs found: {}",
                                      archs.join(", "), if seen.is_empty() { "none".into() } else { seen.join(", ") })))
}

fn api_is_hip(api: &Api) -> bool { api.vendor == Vendor::Hip }

/// The device address of a loaded module's panic record (None: it has none).
fn panic_record(api: &Api, module: Ptr) -> Option<u64> {
    let get = api.module_get_global?;
    let symbol = CString::new(crate::abi::GPU_PANIC_RECORD).ok()?;
    let (mut record, mut size) = (0u64, 0usize);
    let found = unsafe { get(&mut record, &mut size, module, symbol.as_ptr()) } == 0 && size >= 32;
    found.then_some(record)
}

/// The panic a launch of `kernel` recorded in its image (abi::GPU_PANIC_RECORD,
/// written by the pipeline's GPU code: retarget_gpu.py), cleared for the next
/// launch; None when nothing panicked or the image has no record (no panics).
fn take_panic(api: &Api, record: Option<u64>, kernel: &str, device: c_int) -> Result<Option<String>, String> {
    let Some(address) = record else { return Ok(None) };
    let mut r = [0u8; 32];
    api.check(unsafe { (api.memcpy_dtoh)(r.as_mut_ptr() as *mut c_void, address, 32) },
              &format!("reading the panic record of kernel `{kernel}`"))?;
    panic_in(api, record, &r, kernel, device)
}

/// The panic in the record `r` read from `record` (None: no panic), which is
/// cleared for the next launch.
fn panic_in(api: &Api, record: Option<u64>, r: &[u8; 32], kernel: &str, device: c_int) -> Result<Option<String>, String> {
    let Some(record) = record else { return Ok(None) };
    let u32_at = |o: usize| u32::from_le_bytes([r[o], r[o + 1], r[o + 2], r[o + 3]]);
    let u64_at = |o: usize| u64::from_le_bytes(r[o..o + 8].try_into().unwrap_or([0; 8]));
    let kind = u32_at(0) as usize;
    if kind == 0 {
        return Ok(None);
    }
    let zeros = [0u8; 32];
    api.check(unsafe { (api.memcpy_htod)(record, zeros.as_ptr() as *const c_void, 32) },
              &format!("clearing the panic record of kernel `{kernel}`"))?;
    let what = crate::abi::GPU_PANIC_KINDS.get(kind - 1).copied().unwrap_or(crate::abi::GPU_PANIC_KINDS[0]);
    let (line, column, file, len) = (u32_at(4), u32_at(8), u64_at(16), u64_at(24) as usize);
    let mut name = vec![0u8; len.min(4096)];
    let at = if file != 0 && !name.is_empty()
        && unsafe { (api.memcpy_dtoh)(name.as_mut_ptr() as *mut c_void, file, name.len()) } == 0 {
        format!(" at {}:{line}:{column}", String::from_utf8_lossy(&name))
    } else if line != 0 {
        format!(" at line {line}, column {column}")
    } else {
        String::new()
    };
    Ok(Some(format!("kernel `{kernel}` panicked on GPU {device}{at}: {what}")))
}

/// "PTX" for text, else the ELF code object (a cubin, or a HSACO on AMD).
fn image_kind(img: &Image) -> &'static str {
    if bytes(img.data, img.size).starts_with(b"\x7fELF") { "cubin" } else { "PTX" }
}

#[cfg(test)]
mod tests {
    use super::hip_candidates;

    #[test]
    fn hip_is_looked_for_by_every_soname_then_under_rocm_path_and_opt_rocm() {
        let c = hip_candidates(Some("/usr/local/rocm-7.0/".into()));
        assert_eq!(&c[..4], ["libamdhip64.so", "libamdhip64.so.7", "libamdhip64.so.6", "libamdhip64.so.5"]);
        assert_eq!(c[4], "/usr/local/rocm-7.0/lib/libamdhip64.so");
        assert_eq!(c[9], "/opt/rocm/lib/libamdhip64.so.7");
        assert_eq!(hip_candidates(None).len(), 8);
    }
}

/// Why launch `l` of kernel `name` is over the grid or block limits of a loaded
/// driver (the first that refuses it), before any launch-related driver call;
/// `None` when it fits them all or no driver is loaded. [`launch`] checks the
/// same and answers [`GpuError::Driver`]: callers that can run the launch
/// elsewhere ask here first.
pub fn over_limits(name: &str, l: &Launch) -> Option<String> {
    state().apis.iter().find_map(|api| check_limits(api, name, l).err())
}

/// The launch limits of the driver, checked before it sees the launch (they
/// reject a launch over them with an invalid-value/configuration error, which
/// says neither which dimension nor which limit). CUDA (every compute
/// capability since 3.0): grid x ≤ 2³¹−1, y and z ≤ 65535; block x and y ≤ 1024,
/// z ≤ 64, x·y·z ≤ 1024 threads. HIP (`hipModuleLaunchKernel`): block x, y,
/// z ≤ 1024 and x·y·z ≤ 1024 threads; grid·block ≤ 2³²−1 in each dimension.
/// An empty grid (a zero dimension) never gets here: it runs nowhere.
fn check_limits(api: &Api, name: &str, l: &Launch) -> Result<(), String> {
    let (w, t) = (l.workgroup_dim, l.thread_dim);
    let lib = &api.library;
    let over = |what: &str, i: usize, v: u64, limit: u64, rule: &str| {
        format!("kernel `{name}`: {what}[{i}] = {v} is over {lib}'s limit of {limit} ({rule})")
    };
    let threads: u64 = t.iter().map(|&d| d as u64).product();
    match api.vendor {
        Vendor::Cuda => {
            let grid = [(1u64 << 31) - 1, 65535, 65535];
            let block = [1024u64, 1024, 64];
            for i in 0..3 {
                if w[i] as u64 > grid[i] {
                    return Err(over("workgroup_dim", i, w[i] as u64, grid[i],
                                    "grid x ≤ 2147483647, y and z ≤ 65535 workgroups"));
                }
                if t[i] as u64 > block[i] {
                    return Err(over("thread_dim", i, t[i] as u64, block[i],
                                    "workgroup x and y ≤ 1024, z ≤ 64 threads"));
                }
            }
        }
        Vendor::Hip => {
            for i in 0..3 {
                if t[i] as u64 > 1024 {
                    return Err(over("thread_dim", i, t[i] as u64, 1024, "workgroup x, y and z ≤ 1024 threads"));
                }
                let global = w[i] as u64 * t[i] as u64;
                if global > u32::MAX as u64 {
                    return Err(format!("kernel `{name}`: workgroup_dim[{i}] × thread_dim[{i}] = {} × {} = {global} \
                                        is over {lib}'s limit of {} threads in one dimension",
                                       w[i], t[i], u32::MAX));
                }
            }
        }
    }
    if threads > 1024 {
        return Err(format!("kernel `{name}`: thread_dim = {t:?} is {threads} threads per workgroup, \
                            over {lib}'s limit of 1024"));
    }
    let (max_shared, gpus) = match api.vendor {
        Vendor::Cuda => (MAX_SHARED_OPTIN, "227 KiB on sm_90 and sm_100, less on older GPUs"),
        Vendor::Hip => (MAX_LDS, "64 KiB of LDS per workgroup on gfx90a and gfx942"),
    };
    if l.dyn_cache as usize > max_shared {
        return Err(format!("kernel `{name}`: dyn_cache = {} bytes of workgroup memory is over {lib}'s limit of \
                            {max_shared} ({gpus})", l.dyn_cache));
    }
    Ok(())
}

/// The device buffers of one (api, device), behind the pools' lock.
type PoolOf<'a> = (&'a Mutex<HashMap<(usize, c_int), Pool>>, (usize, c_int));

/// The most dynamic shared memory a CUDA block may opt in to (sm_90, sm_100:
/// 227 KiB); without opting in, 48 KiB.
const MAX_SHARED_OPTIN: usize = 227 << 10;
const SHARED_WITHOUT_OPTIN: usize = 48 << 10;
/// CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
const CU_FUNC_MAX_DYNAMIC_SHARED: c_int = 8;
/// LDS per workgroup on gfx90a and gfx942
const MAX_LDS: usize = 64 << 10;

/// CUDA: a launch with more than 48 KiB of dynamic shared memory opts in to
/// it first (cuFuncSetAttribute); a GPU that has less says so.
fn opt_in_shared(api: &Api, function: Ptr, name: &str, device: c_int, l: &Launch) -> Result<(), String> {
    if api.vendor != Vendor::Cuda || l.dyn_cache as usize <= SHARED_WITHOUT_OPTIN {
        return Ok(());
    }
    let set = api.func_set_attribute.ok_or_else(|| format!("{} lacks cuFuncSetAttribute", api.library))?;
    api.check(unsafe { set(function, CU_FUNC_MAX_DYNAMIC_SHARED, l.dyn_cache as c_int) },
              &format!("kernel `{name}`: dyn_cache = {} bytes of workgroup memory is more than GPU {device} \
                        allows a workgroup", l.dyn_cache))
}

/// Copy in, launch, wait, copy back (`&mut` only): std::offload's transfer rules; the
/// device buffers come from and go back to the device's pool, and so does the
/// pinned staging area the copies go through (see staging.rs; `half` = 0: none).
/// An empty grid does nothing (drivers reject a zero dimension); an empty buffer
/// is neither allocated nor copied (drivers reject a 0-byte allocation): the
/// kernel gets a null pointer with its length 0.
#[allow(clippy::too_many_arguments)]
fn run(api: &Api, loaded: &Loaded, name: &str, device: c_int, l: &Launch, params: &[Ptr],
       buffers: &[Buffer], pool: PoolOf, half: usize) -> Result<(), Failure> {
    let (pools, key) = pool;
    let pool = |f: &mut dyn FnMut(&mut Pool)| f(pools.lock().unwrap_or_else(|e| e.into_inner()).entry(key).or_default());
    let function = loaded.function;
    if l.workgroup_dim.contains(&0) || l.thread_dim.contains(&0) {
        return Ok(());
    }
    let mut taken: Vec<Option<(u64, usize)>> = vec![None; buffers.len()];
    let mut device_ptrs: Vec<u64> = vec![0; buffers.len()];
    let mut kernel_params: Vec<Ptr> = params.to_vec();
    let mut staging: Option<Staging> = None;
    let result = (|| -> Result<(), Failure> {
        for (k, b) in buffers.iter().enumerate().filter(|(_, b)| b.bytes > 0) {
            let mut took = None;
            pool(&mut |p| took = Some(p.take(api, b.bytes, name)));
            let buffer = took.unwrap_or_else(|| Err("no pool".into()))?;
            taken[k] = Some(buffer);
            device_ptrs[k] = buffer.0;
        }
        let copy = |k: usize, b: &Buffer| Transfer { device: device_ptrs[k], host: unsafe { *(params[b.param] as *const *mut u8) },
                                                 bytes: b.bytes };
        let ins: Vec<Transfer> = buffers.iter().enumerate().filter(|(_, b)| b.bytes > 0).map(|(k, b)| copy(k, b)).collect();
        let outs: Vec<Transfer> = buffers.iter().enumerate().filter(|(_, b)| b.copy_back && b.bytes > 0)
            .map(|(k, b)| copy(k, b)).collect();
        if let (Some(a), true) = (&api.asynch, half > 0) {
            // halves as large as half the copies each way (all at once), at most `half`
            let most = [&ins, &outs].map(|c| c.iter().map(|c| c.bytes).sum::<usize>()).into_iter().max().unwrap_or(0);
            let half = half.min(most.next_power_of_two().div_ceil(2).max(staging::SMALLEST_HALF));
            // no pinned memory to be had: copy directly
            pool(&mut |p| staging = p.take_staging(api, a, half).ok());
        }
        match (&api.asynch, &staging) {
            (Some(a), Some(s)) => s.upload(api, a, &ins, name)?,
            _ => for c in &ins {
                api.check(unsafe { (api.memcpy_htod)(c.device, c.host as *const c_void, c.bytes) },
                          &format!("copying an argument of kernel `{name}` to the GPU"))?;
            },
        }
        for (k, b) in buffers.iter().enumerate() {
            kernel_params[b.param] = &mut device_ptrs[k] as *mut u64 as Ptr;
        }
        let (w, t) = (l.workgroup_dim, l.thread_dim);
        opt_in_shared(api, function, name, device, l)?;
        // launches of this image take turns until its panic record is read
        let mut turn = Some(loaded.turn.lock().unwrap_or_else(|e| e.into_inner()));
        api.check(unsafe { (api.launch)(function, w[0], w[1], w[2], t[0], t[1], t[2], l.dyn_cache,
                                        std::ptr::null_mut(), kernel_params.as_mut_ptr(), std::ptr::null_mut()) },
                  &format!("launching kernel `{name}`"))?;
        // nothing is copied back from a launch that panicked, as a host panic returns nothing
        if let (Some(a), Some(s)) = (&api.asynch, &staging) {
            return s.download(api, a, loaded.record, &outs, name, &mut |r| {
                let found = panic_in(api, loaded.record, r, name, device)?;
                turn.take();
                match found {
                    Some(what) => Err(Failure::Panic(what)),
                    None => Ok(()),
                }
            });
        }
        api.check(unsafe { (api.synchronize)() }, &format!("running kernel `{name}`"))?;
        if let Some(what) = take_panic(api, loaded.record, name, device)? {
            return Err(Failure::Panic(what));
        }
        drop(turn);
        for c in &outs {
            api.check(unsafe { (api.memcpy_dtoh)(c.host as *mut c_void, c.device, c.bytes) },
                      &format!("copying a result of kernel `{name}` back"))?;
        }
        Ok(())
    })();
    if let (Some(a), Some(s)) = (&api.asynch, staging) {
        if result.is_err() {
            s.settle(a);     // copies may still be queued that read or write it
        }
        let mut s = Some(s);
        pool(&mut |p| if let Some(s) = s.take() { p.give_staging(a, s) });
    }
    pool(&mut |p| for buffer in taken.iter().flatten() { p.give(api, *buffer) });
    result
}
