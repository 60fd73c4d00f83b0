//! GPU index functions, as on a GPU: resolved per target by the cargo-mlir
//! pipeline (the `cargo_mlir_gpu_*` symbols are its hooks). On the host
//! fallback path they read the ids of the grid point being run.

use std::cell::Cell;

use crate::abi;

/// workitem id (3), workgroup id (3), workgroup size (3), number of workgroups (3)
#[derive(Clone, Copy, Default)]
pub(crate) struct Ids(pub [usize; 12]);

/// The id block of the grid point being run, one cell per slot (the fallback
/// loop updates only the slots that change).
pub(crate) type IdCells = [Cell<usize>; 12];

thread_local! {
    pub(crate) static IDS: IdCells = const {
        [Cell::new(0), Cell::new(0), Cell::new(0), Cell::new(0), Cell::new(0), Cell::new(0),
         Cell::new(1), Cell::new(1), Cell::new(1), Cell::new(1), Cell::new(1), Cell::new(1)]
    };
}

#[inline(always)]
fn slot(i: usize) -> usize {
    IDS.with(|c| c[i].get())
}

/// The id block's slot of `cargo_mlir_gpu_<name>`, as `abi::ID_SLOTS` says.
macro_rules! id {
    ($name:ident) => {
        slot({ const S: usize = abi::id_slot(stringify!($name)); S })
    };
}

macro_rules! hooks {
    ($($(#[$doc:meta])* $public:ident => $hook:ident = $body:expr;)*) => {$(
        // the hook's name is the ABI's: `HOOK_PREFIX` + the public name
        const _: () = assert!(abi::is_concat(stringify!($hook), abi::HOOK_PREFIX, stringify!($public)));

        #[doc(hidden)]
        #[inline(never)]
        #[unsafe(no_mangle)]
        pub extern "C" fn $hook() -> usize { $body }

        $(#[$doc])*
        #[inline(always)]
        pub fn $public() -> usize { $hook() }
    )*};
}

hooks! {
    /// Index of this thread within its workgroup (x).
    workitem_id_x => cargo_mlir_gpu_workitem_id_x = id!(workitem_id_x);
    /// Index of this thread within its workgroup (y).
    workitem_id_y => cargo_mlir_gpu_workitem_id_y = id!(workitem_id_y);
    /// Index of this thread within its workgroup (z).
    workitem_id_z => cargo_mlir_gpu_workitem_id_z = id!(workitem_id_z);
    /// Index of this workgroup in the grid (x).
    workgroup_id_x => cargo_mlir_gpu_workgroup_id_x = id!(workgroup_id_x);
    /// Index of this workgroup in the grid (y).
    workgroup_id_y => cargo_mlir_gpu_workgroup_id_y = id!(workgroup_id_y);
    /// Index of this workgroup in the grid (z).
    workgroup_id_z => cargo_mlir_gpu_workgroup_id_z = id!(workgroup_id_z);
    /// Threads per workgroup (x).
    workgroup_size_x => cargo_mlir_gpu_workgroup_size_x = id!(workgroup_size_x);
    /// Threads per workgroup (y).
    workgroup_size_y => cargo_mlir_gpu_workgroup_size_y = id!(workgroup_size_y);
    /// Threads per workgroup (z).
    workgroup_size_z => cargo_mlir_gpu_workgroup_size_z = id!(workgroup_size_z);
    /// Workgroups in the grid (x).
    num_workgroups_x => cargo_mlir_gpu_num_workgroups_x = id!(num_workgroups_x);
    /// Workgroups in the grid (y).
    num_workgroups_y => cargo_mlir_gpu_num_workgroups_y = id!(num_workgroups_y);
    /// Workgroups in the grid (z).
    num_workgroups_z => cargo_mlir_gpu_num_workgroups_z = id!(num_workgroups_z);
    /// `workgroup_id_x * workgroup_size_x + workitem_id_x`
    global_id_x => cargo_mlir_gpu_global_id_x = id!(workgroup_id_x) * id!(workgroup_size_x) + id!(workitem_id_x);
    /// `workgroup_id_y * workgroup_size_y + workitem_id_y`
    global_id_y => cargo_mlir_gpu_global_id_y = id!(workgroup_id_y) * id!(workgroup_size_y) + id!(workitem_id_y);
    /// `workgroup_id_z * workgroup_size_z + workitem_id_z`
    global_id_z => cargo_mlir_gpu_global_id_z = id!(workgroup_id_z) * id!(workgroup_size_z) + id!(workitem_id_z);
}

// the hooks below are the ABI's: `HOOK_PREFIX` + their names. `C-unwind`: on the
// host a misuse panics in them (and the fibers' end unwinds through a barrier)
const _: () = assert!(abi::str_eq(stringify!(cargo_mlir_gpu_barrier), abi::BARRIER_HOOK));
const _: () = assert!(abi::str_eq(stringify!(cargo_mlir_gpu_workgroup_mem), abi::WORKGROUP_MEM_HOOK));
const _: () = assert!(abi::str_eq(stringify!(cargo_mlir_gpu_workgroup_mem_size), abi::WORKGROUP_MEM_SIZE_HOOK));

#[doc(hidden)]
#[inline(never)]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn cargo_mlir_gpu_barrier() {
    crate::runtime::workgroup::barrier()
}

#[doc(hidden)]
#[inline(never)]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn cargo_mlir_gpu_workgroup_mem() -> *mut u8 {
    crate::runtime::workgroup::memory().0
}

#[doc(hidden)]
#[inline(never)]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn cargo_mlir_gpu_workgroup_mem_size() -> usize {
    crate::runtime::workgroup::memory().1
}

/// Wait until every thread of the workgroup has reached this barrier; writes
/// to workgroup memory (and buffers) before it are seen by every thread of the
/// workgroup after it. Nightly's counterparts: `core::arch::nvptx::_syncthreads()`
/// (`bar.sync 0`) and `core::arch::amdgpu::s_barrier()` (which, unlike this one,
/// orders no memory by itself).
///
/// Every thread of the workgroup must reach the same barriers (a barrier in a
/// branch that only some threads take hangs a GPU); a thread that has returned
/// from the kernel no longer counts. Call it in the `#[offload_kernel]`
/// function's own body: cargo-mlir looks there for it to run the kernel's
/// workgroups on the host with all their threads at once (as fibers).
#[doc(alias = "__syncthreads")]
#[inline(always)]
pub fn barrier() {
    cargo_mlir_gpu_barrier()
}

/// [`barrier`], by the name of nightly's `core::arch::nvptx::_syncthreads`.
#[inline(always)]
pub fn _syncthreads() {
    cargo_mlir_gpu_barrier()
}

/// [`barrier`], by the name of nightly's `core::arch::amdgpu::s_barrier` (this
/// one also orders workgroup memory, as HIP's `__syncthreads` does).
#[inline(always)]
pub fn s_barrier() {
    cargo_mlir_gpu_barrier()
}

/// The workgroup memory of `offload!`'s `dyn_cache` bytes, as elements of `T`
/// (`dyn_cache / size_of::<T>()` of them), shared by the threads of one
/// workgroup (CUDA's `extern __shared__`, HIP's dynamic LDS); each workgroup
/// has its own, and nothing in it is kept from one workgroup to the next.
/// Threads share it through [`Cell`]s: write with `set`, and read what other
/// threads wrote after a [`barrier`]. At most 16-byte alignment. Nightly's
/// counterpart is `core::intrinsics::gpu::gpu_launch_sized_workgroup_mem::<T>()`
/// (a raw pointer: see [`gpu_launch_sized_workgroup_mem`]).
#[inline(always)]
pub fn workgroup_mem<T: Copy>() -> &'static [Cell<T>] {
    let n = workgroup_mem_bytes() / const { elem_size::<T>() };
    // SAFETY: the launch's workgroup memory: `dyn_cache` bytes, 16-byte aligned, live while the
    // workgroup runs; `Cell` allows the writes of other threads of the workgroup
    unsafe { std::slice::from_raw_parts(gpu_launch_sized_workgroup_mem::<T>().cast::<Cell<T>>(), n) }
}

/// The start of the workgroup memory (`dyn_cache` bytes), as nightly's
/// `core::intrinsics::gpu::gpu_launch_sized_workgroup_mem::<T>()` gives it.
#[inline(always)]
pub fn gpu_launch_sized_workgroup_mem<T>() -> *mut T {
    const { assert!(align_of::<T>() <= 16, "workgroup memory is 16-byte aligned") };
    cargo_mlir_gpu_workgroup_mem().cast()
}

/// The workgroup memory's size in bytes (`offload!`'s `dyn_cache`).
#[inline(always)]
pub fn workgroup_mem_bytes() -> usize {
    cargo_mlir_gpu_workgroup_mem_size()
}

const fn elem_size<T>() -> usize {
    assert!(size_of::<T>() > 0, "workgroup memory holds no zero-sized elements");
    assert!(align_of::<T>() <= 16, "workgroup memory is 16-byte aligned");
    size_of::<T>()
}

/// An element type of [`atomic_add`], [`atomic_min`] and [`atomic_max`]:
/// `u32`, `u64`, `f32`, `f64`.
pub trait AtomicElement: Copy + sealed::Sealed {
    #[doc(hidden)]
    fn rmw(place: *mut Self, op: Rmw, v: Self) -> Self;
}

#[doc(hidden)]
#[derive(Clone, Copy)]
pub enum Rmw { Add, Min, Max }

mod sealed {
    pub trait Sealed {}
    impl Sealed for u32 {}
    impl Sealed for u64 {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

macro_rules! atomic_int {
    ($t:ty, $atomic:ty) => {
        impl AtomicElement for $t {
            #[inline(always)]
            fn rmw(place: *mut $t, op: Rmw, v: $t) -> $t {
                // SAFETY: `place` comes from a `&mut` element of a kernel buffer (aligned, live for the
                // call); other threads of the grid reach it only through atomics too
                let a = unsafe { <$atomic>::from_ptr(place) };
                match op {
                    Rmw::Add => a.fetch_add(v, Relaxed),
                    Rmw::Min => a.fetch_min(v, Relaxed),
                    Rmw::Max => a.fetch_max(v, Relaxed),
                }
            }
        }
    };
}

// floats: a compare-and-swap loop on the bits (every GPU and CPU has it);
// min and max as Rust's f32::min/f32::max (a NaN operand gives the other)
macro_rules! atomic_float {
    ($t:ty, $atomic:ty) => {
        impl AtomicElement for $t {
            #[inline(always)]
            fn rmw(place: *mut $t, op: Rmw, v: $t) -> $t {
                // SAFETY: as for the integers; the float has the size and alignment of its bits
                let a = unsafe { <$atomic>::from_ptr(place.cast()) };
                let mut old = a.load(Relaxed);
                loop {
                    let x = <$t>::from_bits(old);
                    let new = match op { Rmw::Add => x + v, Rmw::Min => x.min(v), Rmw::Max => x.max(v) };
                    match a.compare_exchange_weak(old, new.to_bits(), Relaxed, Relaxed) {
                        Ok(_) => return x,
                        Err(now) => old = now,
                    }
                }
            }
        }
    };
}

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU32, AtomicU64};
atomic_int!(u32, AtomicU32);
atomic_int!(u64, AtomicU64);
atomic_float!(f32, AtomicU32);
atomic_float!(f64, AtomicU64);

/// `*place += v` as one atomic step (CUDA's `atomicAdd`), so that threads of a
/// grid that update the same element lose no update: a histogram, a sum.
/// Returns the value before. Relaxed ordering: it orders nothing else. The
/// order of float additions across threads is not fixed, so float sums may
/// differ in rounding from run to run (integers and exactly representable
/// sums do not).
#[inline(always)]
pub fn atomic_add<T: AtomicElement>(place: &mut T, v: T) -> T {
    T::rmw(place, Rmw::Add, v)
}

/// `*place = min(*place, v)` as one atomic step; returns the value before.
#[inline(always)]
pub fn atomic_min<T: AtomicElement>(place: &mut T, v: T) -> T {
    T::rmw(place, Rmw::Min, v)
}

/// `*place = max(*place, v)` as one atomic step; returns the value before.
#[inline(always)]
pub fn atomic_max<T: AtomicElement>(place: &mut T, v: T) -> T {
    T::rmw(place, Rmw::Max, v)
}
