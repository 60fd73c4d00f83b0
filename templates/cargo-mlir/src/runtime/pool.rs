//! The host "device": a persistent pool of worker threads (std only) that runs
//! a kernel's workgroups. Workers start on the first launch that needs them and
//! park between launches; the calling thread takes the first chunk itself and
//! then, like every worker, claims further chunks from a shared counter until
//! none is left, so a worker that wakes late costs little. One launch uses the
//! pool at a time (launches from several threads queue, as on a GPU stream).

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::{self, Thread};

use super::HostFn;

/// Chunks per CPU thread: enough that the caller can take over the work of a
/// worker that wakes late, few enough that each chunk is a long call.
const CHUNKS_PER_THREAD: u64 = 4;

/// One launch, on the launching thread's stack while workers run it.
struct Job {
    host: HostFn,
    params: *mut *mut c_void,
    dims: [u64; 6],
    total: u64,
    chunk: u64,
    n_chunks: u64,
    next: AtomicU64,
    /// workers still inside this job
    active: AtomicUsize,
    caller: Thread,
    panic: Mutex<Option<Box<dyn std::any::Any + Send>>>,
    panicked: AtomicBool,
}

impl Job {
    /// Run chunks until none is left.
    fn work(&self) {
        loop {
            let c = self.next.fetch_add(1, Ordering::Relaxed);
            if c >= self.n_chunks {
                return;
            }
            self.run_chunk(c);
        }
    }

    fn run_chunk(&self, c: u64) {
        let (begin, end) = (c * self.chunk, ((c + 1) * self.chunk).min(self.total));
        // SAFETY: the launcher vouches for `params` and `dims` (see `run`); each
        // workgroup is run by exactly one thread, as on a device.
        let r = catch_unwind(AssertUnwindSafe(|| unsafe { (self.host)(self.params, self.dims.as_ptr(), begin, end) }));
        if let Err(payload) = r {
            // stop handing out chunks; the launcher re-raises the first panic
            self.next.store(self.n_chunks, Ordering::Relaxed);
            if !self.panicked.swap(true, Ordering::AcqRel) {
                *self.panic.lock().unwrap_or_else(|e| e.into_inner()) = Some(payload);
            }
        }
    }
}

struct Worker {
    thread: Thread,
    /// the job to join, handed over by the launcher (null: none)
    job: AtomicPtr<Job>,
}

pub(crate) struct Pool {
    workers: Vec<Worker>,
    launch: Mutex<()>,
}

static POOL: OnceLock<Pool> = OnceLock::new();

/// The pool of `threads - 1` workers (the caller is the other thread), started on first use.
fn pool(threads: usize, stack: usize) -> &'static Pool {
    POOL.get_or_init(|| {
        let mut workers = Vec::new();
        for i in 1..threads {
            let spawned = thread::Builder::new()
                .name(format!("cargo-mlir-host-{i}"))
                .stack_size(stack)
                .spawn(move || worker_main(i - 1));
            match spawned {
                Ok(h) => workers.push(Worker { thread: h.thread().clone(), job: AtomicPtr::new(std::ptr::null_mut()) }),
                Err(_) => break, // fewer threads than asked: the launches still run, on fewer workers
            }
        }
        Pool { workers, launch: Mutex::new(()) }
    })
}

fn worker_main(index: usize) {
    super::defer_panic_reports(true);
    // the pool is published before any job is handed over; wait for it
    let me = loop {
        if let Some(p) = POOL.get() {
            break &p.workers[index];
        }
        thread::park();
    };
    loop {
        let job = me.job.swap(std::ptr::null_mut(), Ordering::Acquire);
        if job.is_null() {
            thread::park();
            continue;
        }
        // SAFETY: the launcher keeps the job alive until `active` reaches 0
        let job = unsafe { &*job };
        job.work();
        let caller = job.caller.clone();
        if job.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            caller.unpark(); // the job may be gone now: only the clone is used
        }
    }
}

/// Run workgroups `0..total` of `host` on `threads` CPU threads (the caller
/// included); `stack` is the workers' stack size, used when the pool starts.
///
/// # Safety
/// `params` and `dims` are valid for `host` for the whole call, and running
/// disjoint workgroup ranges of it on several threads at once is sound (each
/// grid point owns what it writes, as on a device).
pub(crate) unsafe fn run(host: HostFn, params: *mut *mut c_void, dims: [u64; 6], total: u64, threads: usize,
                         stack: usize) -> usize {
    let pool = pool(threads, stack);
    let one_launch_at_a_time = pool.launch.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: as the caller vouches
    unsafe { run_locked(pool, one_launch_at_a_time, host, params, dims, total, threads) }
}

/// As [`run`], but `None` at once when another launch holds the pool (the
/// launching thread's own included: generated code that asks for the pool from
/// inside a kernel the pool runs must not wait for itself).
///
/// # Safety
/// As for [`run`].
pub(crate) unsafe fn try_run(host: HostFn, params: *mut *mut c_void, dims: [u64; 6], total: u64, threads: usize,
                             stack: usize) -> Option<usize> {
    let pool = pool(threads, stack);
    let guard = match pool.launch.try_lock() {
        Ok(g) => g,
        Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
        Err(std::sync::TryLockError::WouldBlock) => return None,
    };
    // SAFETY: as the caller vouches
    Some(unsafe { run_locked(pool, guard, host, params, dims, total, threads) })
}

unsafe fn run_locked(pool: &'static Pool, _one_launch_at_a_time: std::sync::MutexGuard<'_, ()>, host: HostFn,
                     params: *mut *mut c_void, dims: [u64; 6], total: u64, threads: usize) -> usize {
    let n = (pool.workers.len() + 1).min(threads).min(total as usize).max(1);
    let n_chunks = (n as u64 * CHUNKS_PER_THREAD).min(total);
    let chunk = total.div_ceil(n_chunks);
    let n_chunks = total.div_ceil(chunk);
    let helpers = (n - 1).min(n_chunks as usize - 1);
    let job = Job {
        host, params, dims, total, chunk, n_chunks,
        next: AtomicU64::new(1), // chunk 0 is the caller's
        active: AtomicUsize::new(helpers),
        caller: thread::current(),
        panic: Mutex::new(None),
        panicked: AtomicBool::new(false),
    };
    let ptr = &job as *const Job as *mut Job;
    for w in &pool.workers[..helpers] {
        w.job.store(ptr, Ordering::Release);
        w.thread.unpark();
    }
    let deferred = super::defer_panic_reports(true);
    job.run_chunk(0);
    job.work();
    super::defer_panic_reports(deferred);
    // every chunk is taken: a worker that has not woken yet is not waited for
    // (its hand-over is taken back; on a busy machine it may wake much later)
    for w in &pool.workers[..helpers] {
        if !w.job.swap(std::ptr::null_mut(), Ordering::AcqRel).is_null() {
            job.active.fetch_sub(1, Ordering::AcqRel);
        }
    }
    // the workers read `job` until they leave it: wait for them (spin briefly, then park)
    let mut spins = 0u32;
    while job.active.load(Ordering::Acquire) != 0 {
        if spins < 2000 {
            spins += 1;
            std::hint::spin_loop();
        } else {
            thread::park();
        }
    }
    if let Some(payload) = job.panic.lock().unwrap_or_else(|e| e.into_inner()).take() {
        super::resume_panic(payload);
    }
    helpers + 1
}
