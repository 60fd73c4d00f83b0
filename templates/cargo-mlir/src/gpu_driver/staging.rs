//! Copies between the host and a GPU through pinned (page-locked) staging
//! memory. A copy from pageable memory is one blocking driver call per buffer
//! (the driver stages it itself); from pinned memory the GPU's DMA engine reads
//! and writes the host directly and the copy is queued: a launch's copies in are
//! queued ahead of the kernel with no wait, and its copies back (with the panic
//! record) are waited for once. Data larger than the staging area goes through
//! its two halves in turn, so the host fills one half while the GPU copies the
//! other.
//!
//! Everything is queued on the null stream, in order: copies in, the kernel,
//! copies back. An event marks the end of each half's copies; the host waits for
//! it before touching that half again.

use std::ffi::{c_int, c_uint, c_void};

use super::{Api, Failure, Ptr};

/// `CARGO_MLIR_GPU_STAGING`: the pinned staging area per launch in flight, in
/// MiB (default 8); `0` copies from and to the program's memory directly.
pub const ENV_GPU_STAGING: &str = "CARGO_MLIR_GPU_STAGING";
const DEFAULT_MIB: usize = 8;

/// The staging area's first bytes: the panic record (abi::GPU_PANIC_RECORD),
/// read back with the results.
pub const RECORD: usize = 64;
/// The smallest half an area is given.
pub const SMALLEST_HALF: usize = 64 << 10;
/// CU_EVENT_DISABLE_TIMING, hipEventDisableTiming
const EVENT_DISABLE_TIMING: c_uint = 2;

/// What staging needs of a driver (None when it lacks any of it: copies are then direct).
pub struct AsyncApi {
    host_alloc: unsafe extern "C" fn(*mut Ptr, usize, c_uint) -> c_int,
    host_free: unsafe extern "C" fn(Ptr) -> c_int,
    htod: unsafe extern "C" fn(u64, *const c_void, usize, Ptr) -> c_int,
    dtoh: unsafe extern "C" fn(*mut c_void, u64, usize, Ptr) -> c_int,
    event_create: unsafe extern "C" fn(*mut Ptr, c_uint) -> c_int,
    event_record: unsafe extern "C" fn(Ptr, Ptr) -> c_int,
    event_synchronize: unsafe extern "C" fn(Ptr) -> c_int,
}

impl AsyncApi {
    pub fn cuda(lib: Ptr) -> Option<AsyncApi> {
        unsafe {
            Some(AsyncApi {
                host_alloc: super::sym(lib, "cuMemHostAlloc")?, host_free: super::sym(lib, "cuMemFreeHost")?,
                htod: super::sym(lib, "cuMemcpyHtoDAsync_v2")?, dtoh: super::sym(lib, "cuMemcpyDtoHAsync_v2")?,
                event_create: super::sym(lib, "cuEventCreate")?, event_record: super::sym(lib, "cuEventRecord")?,
                event_synchronize: super::sym(lib, "cuEventSynchronize")?,
            })
        }
    }

    pub fn hip(lib: Ptr) -> Option<AsyncApi> {
        unsafe {
            Some(AsyncApi {
                host_alloc: super::sym(lib, "hipHostMalloc")?, host_free: super::sym(lib, "hipHostFree")?,
                htod: super::sym(lib, "hipMemcpyHtoDAsync")?, dtoh: super::sym(lib, "hipMemcpyDtoHAsync")?,
                event_create: super::sym(lib, "hipEventCreateWithFlags")?,
                event_record: super::sym(lib, "hipEventRecord")?,
                event_synchronize: super::sym(lib, "hipEventSynchronize")?,
            })
        }
    }
}

/// The staging area's half size in bytes from `CARGO_MLIR_GPU_STAGING` (0: no staging).
pub fn half_from_env() -> usize {
    let mib = std::env::var(ENV_GPU_STAGING).ok().and_then(|v| v.trim().parse::<usize>().ok()).unwrap_or(DEFAULT_MIB);
    mib.saturating_mul(1 << 20) / 2
}

/// One copy between a host buffer and a device buffer.
#[derive(Clone, Copy)]
pub struct Transfer {
    pub device: u64,
    pub host: *mut u8,
    pub bytes: usize,
}

/// Pinned memory of one device's context: RECORD bytes, then two halves, and
/// an event per half. Kept in the device's pool between launches.
pub struct Staging {
    host: *mut u8,
    half: usize,
    events: [Ptr; 2],
}

/// A piece of a chunk: (copy, offset in it, bytes).
type Piece = (usize, usize, usize);

/// `sizes` cut, in order, into chunks of at most `cap` bytes; at least one
/// chunk (empty when there is nothing to copy).
pub fn chunks(sizes: &[usize], cap: usize) -> Vec<Vec<Piece>> {
    let mut out = vec![Vec::new()];
    let mut room = cap;
    for (c, &size) in sizes.iter().enumerate() {
        let mut offset = 0;
        while offset < size {
            if room == 0 {
                out.push(Vec::new());
                room = cap;
            }
            let n = room.min(size - offset);
            out.last_mut().unwrap().push((c, offset, n));
            offset += n;
            room -= n;
        }
    }
    out
}

impl Staging {
    /// A staging area with halves of `half` bytes, in the current context.
    pub fn new(api: &Api, a: &AsyncApi, half: usize) -> Result<Staging, String> {
        let mut host = std::ptr::null_mut();
        api.check(unsafe { (a.host_alloc)(&mut host, RECORD + 2 * half, 0) },
                  &format!("allocating {} bytes of pinned staging memory", RECORD + 2 * half))?;
        let mut events = [std::ptr::null_mut(); 2];
        for e in &mut events {
            if let Err(why) = api.check(unsafe { (a.event_create)(e, EVENT_DISABLE_TIMING) }, "creating an event") {
                unsafe { (a.host_free)(host) };
                return Err(why);
            }
        }
        Ok(Staging { host: host as *mut u8, half, events })
    }

    pub fn half(&self) -> usize {
        self.half
    }

    pub fn free(self, a: &AsyncApi) {
        unsafe { (a.host_free)(self.host as Ptr) };
    }

    /// How `total` bytes are cut: all at once in the whole area, or by halves.
    fn cap(&self, total: usize) -> usize {
        if total <= 2 * self.half { 2 * self.half } else { self.half }
    }

    /// Where chunk `j` lives in the area.
    fn at(&self, j: usize, cap: usize) -> *mut u8 {
        unsafe { self.host.add(RECORD + (j % 2) * cap) }
    }

    /// Queue `copies` to the device. What the kernel reads is in order behind
    /// them on the stream; the area is reused only once its copies are done.
    pub fn upload(&self, api: &Api, a: &AsyncApi, copies: &[Transfer], kernel: &str) -> Result<(), String> {
        let sizes: Vec<usize> = copies.iter().map(|c| c.bytes).collect();
        let cap = self.cap(sizes.iter().sum());
        let what = format!("copying an argument of kernel `{kernel}` to the GPU");
        for (j, chunk) in chunks(&sizes, cap).iter().enumerate().filter(|(_, c)| !c.is_empty()) {
            let event = self.events[j % 2];
            if j >= 2 {
                api.check(unsafe { (a.event_synchronize)(event) }, &what)?;   // this half's last copies are done
            }
            let mut at = self.at(j, cap);
            for &(c, offset, n) in chunk {
                let copy = copies[c];
                unsafe {
                    std::ptr::copy_nonoverlapping(copy.host.add(offset), at, n);
                    api.check((a.htod)(copy.device + offset as u64, at as *const c_void, n, std::ptr::null_mut()),
                              &what)?;
                    at = at.add(n);
                }
            }
            api.check(unsafe { (a.event_record)(event, std::ptr::null_mut()) }, &what)?;
        }
        Ok(())
    }

    /// Queue the copies back behind the kernel, with its panic record (`record`)
    /// first, and write them to the host as they arrive. The first wait is for
    /// the kernel itself: `check` sees the record's bytes before anything is
    /// written to the program's memory, and may stop it (a panic).
    pub fn download(&self, api: &Api, a: &AsyncApi, record: Option<u64>, copies: &[Transfer], kernel: &str,
                    check: &mut dyn FnMut(&[u8; 32]) -> Result<(), Failure>) -> Result<(), Failure> {
        let sizes: Vec<usize> = copies.iter().map(|c| c.bytes).collect();
        let cap = self.cap(sizes.iter().sum());
        let chunks = chunks(&sizes, cap);
        let what = format!("copying a result of kernel `{kernel}` back");
        let issue = |j: usize| -> Result<(), String> {
            if j == 0 {
                if let Some(record) = record {
                    api.check(unsafe { (a.dtoh)(self.host as *mut c_void, record, 32, std::ptr::null_mut()) },
                              &format!("reading the panic record of kernel `{kernel}`"))?;
                }
            }
            let mut at = self.at(j, cap);
            for &(c, offset, n) in &chunks[j] {
                api.check(unsafe { (a.dtoh)(at as *mut c_void, copies[c].device + offset as u64, n,
                                            std::ptr::null_mut()) }, &what)?;
                at = unsafe { at.add(n) };
            }
            api.check(unsafe { (a.event_record)(self.events[j % 2], std::ptr::null_mut()) }, &what)
        };
        issue(0)?;
        if chunks.len() > 1 {
            issue(1)?;
        }
        for j in 0..chunks.len() {
            let waited = unsafe { (a.event_synchronize)(self.events[j % 2]) };
            if j == 0 {
                api.check(waited, &format!("running kernel `{kernel}`"))?;   // the kernel's own failure shows here
                let mut r = [0u8; 32];
                if record.is_some() {
                    unsafe { std::ptr::copy_nonoverlapping(self.host, r.as_mut_ptr(), 32) };
                }
                check(&r)?;
            } else {
                api.check(waited, &what)?;
            }
            let mut at = self.at(j, cap);
            for &(c, offset, n) in &chunks[j] {
                unsafe {
                    std::ptr::copy_nonoverlapping(at, copies[c].host.add(offset), n);
                    at = at.add(n);
                }
            }
            if j + 2 < chunks.len() {
                issue(j + 2)?;
            }
        }
        Ok(())
    }

    /// Wait until no copy uses the area (after a failure midway), so the next
    /// launch may fill it.
    pub fn settle(&self, a: &AsyncApi) {
        for &e in &self.events {
            unsafe { (a.event_synchronize)(e) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::chunks;

    #[test]
    fn copies_are_cut_in_order_into_chunks_of_at_most_cap_bytes() {
        assert_eq!(chunks(&[], 8), vec![vec![]]);
        assert_eq!(chunks(&[3, 4], 8), vec![vec![(0, 0, 3), (1, 0, 4)]]);
        assert_eq!(chunks(&[8], 8), vec![vec![(0, 0, 8)]]);
        assert_eq!(chunks(&[6, 5], 4), vec![vec![(0, 0, 4)], vec![(0, 4, 2), (1, 0, 2)], vec![(1, 2, 3)]]);
        let cut = chunks(&[10, 0, 7], 3);
        assert!(cut.iter().all(|c| c.iter().map(|p| p.2).sum::<usize>() <= 3));
        assert_eq!(cut.iter().flatten().map(|p| p.2).sum::<usize>(), 17);
    }
}
