//! `cargo_mlir_rt_parallel_for`: generated host code (the matmul schedule's
//! row blocks) runs work items `0..total` on the host pool. Nested use runs
//! inline on the calling thread instead of waiting for the pool it is part of:
//! from inside one of our own launches (a thread-local flag set around each
//! work item), on a pool worker (named `cargo-mlir-host-*`), or while another
//! launch holds the pool (`pool::try_run`: that covers the thread that
//! launched an offload kernel and runs its first chunk itself).

use std::cell::Cell;
use std::ffi::c_void;

use super::{config, pool, HostFn};

thread_local! {
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}

/// What the pool passes to [`forward`] in place of `params`.
struct Forward {
    host: HostFn,
    params: *mut *mut c_void,
}

struct Restore(bool);

impl Drop for Restore {
    fn drop(&mut self) {
        INSIDE.with(|c| c.set(self.0));
    }
}

unsafe extern "C-unwind" fn forward(p: *mut *mut c_void, _dims: *const u64, begin: u64, end: u64) {
    // SAFETY: `p` is the `Forward` on the launcher's stack, alive for the whole launch
    let f = unsafe { &*(p as *const Forward) };
    let _restore = Restore(INSIDE.with(|c| c.replace(true)));
    // SAFETY: the caller of `cargo_mlir_rt_parallel_for` vouches for `host` and `params`
    unsafe { (f.host)(f.params, std::ptr::null(), begin, end) };
}

fn nested() -> bool {
    INSIDE.with(|c| c.get()) || std::thread::current().name().is_some_and(|n| n.starts_with("cargo-mlir-host-"))
}

/// Run `host(params, null, begin, end)` over disjoint ranges covering
/// `0..total`, on the configured number of host threads.
///
/// # Safety
/// `host` may run on several threads at once for disjoint ranges, and
/// `params` stays valid for it until this returns.
#[doc(hidden)]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn cargo_mlir_rt_parallel_for(host: HostFn, params: *mut *mut c_void, total: u64) {
    if total == 0 {
        return;
    }
    let cfg = config();
    if total > 1 && cfg.threads > 1 && !nested() {
        let f = Forward { host, params };
        // SAFETY: `f` outlives the launch; work items write disjoint parts (the caller vouches)
        let ran = unsafe {
            pool::try_run(forward, &f as *const Forward as *mut *mut c_void, [0; 6], total, cfg.threads, cfg.stack)
        };
        if ran.is_some() {
            return;
        }
    }
    // SAFETY: as the caller vouches
    unsafe { host(params, std::ptr::null(), 0, total) };
}
