//! Kernels that use [`gpu::barrier`](crate::gpu::barrier) or workgroup memory,
//! on the host. A barrier only holds if every thread of the workgroup reaches it
//! before any goes on, so the threads of one workgroup cannot run one after the
//! other as the grid loop runs them. Here each thread of a workgroup is a fiber
//! (its own stack) on one CPU thread: the scheduler runs thread 0 until it
//! reaches a barrier or returns, then thread 1, …, then starts the next round;
//! a thread that returned no longer holds a barrier up (as on GPUs, where an
//! exited thread no longer counts). Switching costs tens of nanoseconds on
//! x86-64 Linux (a few instructions of assembly); elsewhere, or with
//! `CARGO_MLIR_HOST_FIBERS=threads`, each fiber is an OS thread that runs only
//! while it holds the baton (the same order, microseconds per switch).
//! Workgroups are spread over the host threads (the runtime's pool), each with
//! its own fibers (kept by the thread for its next launch) and its own
//! `dyn_cache` bytes of workgroup memory (16-byte aligned).
//!
//! A panic in a thread stops the launch: the other fibers are abandoned (their
//! stacks are freed, their locals are not dropped), and the panic continues at
//! the `offload!` call, as on the grid loop.

use std::any::Any;
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::gpu::{Ids, IDS};
use crate::offload::Launch;

/// `CARGO_MLIR_HOST_FIBERS=threads`: OS threads instead of stack switching.
pub const ENV_HOST_FIBERS: &str = "CARGO_MLIR_HOST_FIBERS";

type Payload = Box<dyn Any + Send>;

/// What a fiber did when it gave control back.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    /// waits at a barrier
    Barrier,
    /// returned from the kernel
    Done,
    /// panicked (the payload is in `Group::panic`)
    Panicked,
}

/// The workgroup a CPU thread is running, as the hooks see it.
struct Group {
    mem: *mut u8,
    mem_len: usize,
    /// threads per workgroup
    threads: usize,
    /// the fiber running now, and its ids
    current: Cell<usize>,
    ids: Cell<Ids>,
    states: Vec<Cell<State>>,
    panic: Cell<Option<Payload>>,
    body: *const (dyn Fn() + 'static),
    switch: Switch,
}

thread_local! {
    static CURRENT: Cell<*const Group> = const { Cell::new(std::ptr::null()) };
}

/// `gpu::barrier()` on the host.
pub(crate) fn barrier() {
    let g = CURRENT.with(|c| c.get());
    if g.is_null() {
        let one = IDS.with(|c| c[6].get() * c[7].get() * c[8].get() == 1);
        if !one {
            panic!("{}", outside("gpu::barrier()"));
        }
        return;
    }
    // SAFETY: `CURRENT` points at the `Group` of the launch running on this thread
    let g = unsafe { &*g };
    if g.threads == 1 {
        return;
    }
    g.states[g.current.get()].set(State::Barrier);
    g.switch.to_scheduler(g.current.get());
}

/// The workgroup memory of the running workgroup: (address, bytes).
pub(crate) fn memory() -> (*mut u8, usize) {
    let g = CURRENT.with(|c| c.get());
    if g.is_null() {
        panic!("{}", outside("gpu::workgroup_mem()"));
    }
    // SAFETY: as in `barrier`
    let g = unsafe { &*g };
    (g.mem, g.mem_len)
}

fn outside(what: &str) -> String {
    format!("cargo-mlir: {what} was called on the host by a kernel that cargo-mlir did not see use it: \
             call gpu::barrier / gpu::workgroup_mem in the #[offload_kernel] function's own body (not only in \
             a helper function), so that its workgroups run with all their threads at once")
}

/// Run the grid of a kernel that uses barriers or workgroup memory; `body`
/// runs the kernel for the grid point whose ids are set.
pub fn run(l: &Launch, body: &(dyn Fn() + '_), threads: usize, stack: usize, fibers_threads: bool) {
    let (w, t) = (l.workgroup_dim, l.thread_dim);
    if w.contains(&0) || t.contains(&0) {
        return;
    }
    let total = l.workgroups();
    // SAFETY: only the lifetime is erased; `body` outlives the launch, which every thread finishes
    let body: &'static (dyn Fn() + 'static) = unsafe { std::mem::transmute(body) };
    let job = Job { l: *l, body: Shared(body), stop: AtomicBool::new(false), panic: Mutex::new(None), stack,
                    fibers_threads };
    // the pool runs ranges of workgroups; when it is busy (a launch from inside
    // one it runs), this thread runs them all
    // SAFETY: `run_range` gets the job back, which lives until the pool returns
    let pooled = threads > 1 && total > 1 && unsafe {
        super::pool::try_run(run_range, &job as *const Job as *mut *mut c_void, super::dims_of(l), total, threads,
                             stack)
    }.is_some();
    if !pooled {
        job.work(0, total);
    }
    if let Some(p) = job.panic.into_inner().unwrap_or_else(|e| e.into_inner()) {
        super::resume_panic(p);     // says a panic a pool thread only reported
    }
}

/// `body` shared by the CPU threads of one launch: it only copies the kernel's
/// flattened arguments (pointers, lengths, scalars) into the kernel call.
struct Shared(&'static (dyn Fn() + 'static));
// SAFETY: the kernel's arguments follow GPU rules across threads (see `offload!`)
unsafe impl Sync for Shared {}

/// The pool's entry for workgroups `begin..end` (`params` is the [`Job`]).
unsafe extern "C-unwind" fn run_range(params: *mut *mut c_void, _dims: *const u64, begin: u64, end: u64) {
    // SAFETY: `run` passes its job, alive until the pool returns
    unsafe { &*(params as *const Job) }.work(begin, end);
}

struct Job {
    l: Launch,
    body: Shared,
    stop: AtomicBool,
    panic: Mutex<Option<Payload>>,
    stack: usize,
    fibers_threads: bool,
}

impl Job {
    /// Run workgroups `begin..end`, until one panics (here or on another thread).
    fn work(&self, begin: u64, end: u64) {
        let t = self.l.thread_dim.map(|d| d as usize);
        let threads = t[0] * t[1] * t[2];
        let mut mem = vec![0u128; (self.l.dyn_cache as usize).div_ceil(16)];
        let switch = if threads == 1 { Switch::None } else if self.fibers_threads || !asm::AVAILABLE {
            Switch::Threads(baton::Baton::new())
        } else {
            match asm::Fibers::kept(threads, self.stack) {
                Ok(f) => Switch::Asm(f),
                Err(e) => {
                    self.fail(Box::new(format!("cargo-mlir: cannot map {threads} fiber stacks of {} bytes: {e}",
                                               self.stack)));
                    return;
                }
            }
        };
        let group = Group {
            mem: mem.as_mut_ptr().cast(), mem_len: self.l.dyn_cache as usize, threads,
            current: Cell::new(0), ids: Cell::new(Ids::default()), states: (0..threads).map(|_| Cell::new(State::Done)).collect(),
            panic: Cell::new(None), body: self.body.0, switch,
        };
        let previous = CURRENT.with(|c| c.replace(&group));
        let saved = IDS.with(super::ids_now);
        let r = catch_unwind(AssertUnwindSafe(|| self.groups(&group, t, begin, end)));
        set_ids(saved);
        CURRENT.with(|c| c.set(previous));
        let failure = match r {
            Err(p) => Some(p),
            Ok(()) => group.panic.take(),
        };
        match group.switch {
            Switch::Asm(f) => f.keep(),
            Switch::Threads(b) => b.finish(),
            Switch::None => {}
        }
        if let Some(p) = failure {
            self.fail(p);
        }
    }

    fn fail(&self, p: Payload) {
        self.stop.store(true, Ordering::Relaxed);
        let mut slot = self.panic.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(p);
        }
    }

    fn groups(&self, g: &Group, t: [usize; 3], begin: u64, end: u64) {
        let w = self.l.workgroup_dim.map(|d| d as usize);
        for wg in begin..end {
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            let wg = wg as usize;
            let wid = [wg % w[0], (wg / w[0]) % w[1], wg / (w[0] * w[1])];
            let ids = |i: usize| Ids([i % t[0], (i / t[0]) % t[1], i / (t[0] * t[1]), wid[0], wid[1], wid[2],
                                      t[0], t[1], t[2], w[0], w[1], w[2]]);
            if g.threads == 1 {
                set_ids(ids(0));
                // SAFETY: `body` lives for the launch
                unsafe { (*g.body)() };
                continue;
            }
            for s in &g.states {
                s.set(State::Barrier);
            }
            // rounds: every thread still running goes on to its next barrier or its end
            loop {
                let mut running = false;
                for i in 0..g.threads {
                    if g.states[i].get() != State::Barrier {
                        continue;
                    }
                    g.ids.set(ids(i));
                    set_ids(ids(i));
                    g.current.set(i);
                    g.switch.resume(g, i);
                    match g.states[i].get() {
                        State::Panicked => return,
                        State::Barrier => running = true,
                        State::Done => {}
                    }
                }
                if !running {
                    break;
                }
            }
        }
    }
}

/// How control moves between the scheduler and the fibers of one CPU thread.
enum Switch {
    /// one thread per workgroup: no fibers
    None,
    Asm(asm::Fibers),
    Threads(baton::Baton),
}

impl Switch {
    fn resume(&self, g: &Group, i: usize) {
        match self {
            Switch::None => unreachable!(),
            Switch::Asm(f) => f.resume(g, i),
            Switch::Threads(b) => b.resume(g, i),
        }
    }

    fn to_scheduler(&self, i: usize) {
        match self {
            Switch::None => {}
            Switch::Asm(f) => f.to_scheduler(i),
            Switch::Threads(b) => b.to_scheduler(i),
        }
    }

}

fn set_ids(ids: Ids) {
    IDS.with(|c| super::set_ids(c, ids));
}

/// What a fiber thread unwinds with when the launch ends under it (`baton`).
struct Quit;

/// Run the kernel once for fiber `i` of `g` (for each workgroup it is resumed
/// in): the state says how it ended. False when the launch ended under it.
fn fiber_body(g: &Group, i: usize) -> bool {
    // SAFETY: `body` lives for the launch
    let r = catch_unwind(AssertUnwindSafe(|| unsafe { (*g.body)() }));
    match r {
        Ok(()) => g.states[i].set(State::Done),
        Err(p) if p.is::<Quit>() => return false,
        Err(p) => {
            g.panic.set(Some(p));
            g.states[i].set(State::Panicked);
        }
    }
    true
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod asm {
    //! Stack switching on x86-64 (System V): `switch` saves the callee-saved
    //! registers and the SSE/x87 control words on the current stack, stores
    //! the stack pointer, and loads the other one. A new fiber's stack is laid
    //! out as if it had called `switch`, returning into `start`, which calls
    //! `fiber_main(group)`; `start` ends the unwinder's walk (no return address).
    use std::cell::Cell;
    use std::ffi::c_void;

    use super::{fiber_body, Group, CURRENT};

    pub const AVAILABLE: bool = true;

    std::arch::global_asm!(
        ".text",
        ".p2align 4",
        ".globl cargo_mlir_rt_fiber_switch",
        ".hidden cargo_mlir_rt_fiber_switch",
        "cargo_mlir_rt_fiber_switch:",
        "push rbp",
        "push rbx",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "sub rsp, 8",
        "stmxcsr [rsp]",
        "fnstcw [rsp + 4]",
        "mov [rdi], rsp",
        "mov rsp, rsi",
        "ldmxcsr [rsp]",
        "fldcw [rsp + 4]",
        "add rsp, 8",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rbx",
        "pop rbp",
        "ret",
        ".p2align 4",
        ".globl cargo_mlir_rt_fiber_start",
        ".hidden cargo_mlir_rt_fiber_start",
        "cargo_mlir_rt_fiber_start:",
        ".cfi_startproc",
        ".cfi_undefined rip",
        "mov rdi, r12",
        "call r13",
        "ud2",
        ".cfi_endproc",
    );

    unsafe extern "C" {
        fn cargo_mlir_rt_fiber_switch(save: *mut *mut u8, to: *mut u8);
        fn cargo_mlir_rt_fiber_start();
        fn mmap(addr: *mut c_void, len: usize, prot: i32, flags: i32, fd: i32, off: i64) -> *mut c_void;
        fn munmap(addr: *mut c_void, len: usize) -> i32;
        fn mprotect(addr: *mut c_void, len: usize, prot: i32) -> i32;
    }

    const PROT_NONE: i32 = 0;
    const PROT_READ_WRITE: i32 = 3;
    const MAP_PRIVATE_ANONYMOUS_NORESERVE_STACK: i32 = 0x02 | 0x20 | 0x4000 | 0x20000;
    const GUARD: usize = 64 << 10;

    thread_local! {
        /// The fibers of this thread's last launch, for its next one.
        static KEPT: Cell<Option<Fibers>> = const { Cell::new(None) };
    }

    /// One mapping per fiber stack, with a guard region below it.
    pub struct Fibers {
        stacks: Vec<(*mut u8, usize)>,
        sp: Vec<Cell<*mut u8>>,
        scheduler: Cell<*mut u8>,
        started: Vec<Cell<bool>>,
    }

    fn mapping_size(stack: usize) -> usize {
        stack.max(64 << 10).next_multiple_of(4096) + GUARD
    }

    impl Fibers {
        /// `n` fibers of `stack` bytes: those this thread kept, if they fit, else new ones
        /// (mapping hundreds of stacks per launch costs more than small kernels do).
        pub fn kept(n: usize, stack: usize) -> Result<Fibers, std::io::Error> {
            match KEPT.take() {
                Some(f) if f.stacks.len() == n && f.stacks[0].1 == mapping_size(stack) => {
                    for s in &f.started {
                        s.set(false);     // each fiber's stack is laid out afresh (a panic abandoned it)
                    }
                    Ok(f)
                }
                _ => Fibers::new(n, stack),
            }
        }

        /// Keep these fibers for this thread's next launch (no fiber runs any more).
        pub fn keep(self) {
            KEPT.set(Some(self));
        }

        fn new(n: usize, stack: usize) -> Result<Fibers, std::io::Error> {
            let size = mapping_size(stack);
            let mut stacks = Vec::with_capacity(n);
            let fibers = |stacks| Fibers { stacks, sp: (0..n).map(|_| Cell::new(std::ptr::null_mut())).collect(),
                                           scheduler: Cell::new(std::ptr::null_mut()),
                                           started: (0..n).map(|_| Cell::new(false)).collect() };
            for _ in 0..n {
                // SAFETY: a fresh anonymous mapping; its lowest GUARD bytes become inaccessible
                let p = unsafe { mmap(std::ptr::null_mut(), size, PROT_READ_WRITE, MAP_PRIVATE_ANONYMOUS_NORESERVE_STACK, -1, 0) };
                if p as isize == -1 {
                    let e = std::io::Error::last_os_error();
                    drop(fibers(stacks));
                    return Err(e);
                }
                stacks.push((p.cast::<u8>(), size));
                // SAFETY: the guard lies inside the mapping just made
                if unsafe { mprotect(p, GUARD, PROT_NONE) } != 0 {
                    let e = std::io::Error::last_os_error();
                    drop(fibers(stacks));
                    return Err(e);
                }
            }
            Ok(fibers(stacks))
        }

        /// Run fiber `i` until it reaches a barrier or ends the kernel.
        pub fn resume(&self, g: &Group, i: usize) {
            if !self.started[i].get() {
                self.started[i].set(true);
                let (base, size) = self.stacks[i];
                // SAFETY: the top 64 bytes of the fresh stack: what `switch` pops, returning into `start`
                unsafe {
                    let top = base.add(size);
                    let sp = top.sub(64).cast::<u64>();
                    let regs: [u64; 8] = [
                        0x037f_0000_1f80,                      // MXCSR (low half), x87 control word
                        0, 0,                                  // r15, r14
                        fiber_main as *const () as u64,            // r13: what `start` calls
                        g as *const Group as u64,              // r12: its argument
                        0, 0,                                  // rbx, rbp
                        cargo_mlir_rt_fiber_start as *const () as u64,
                    ];
                    sp.copy_from_nonoverlapping(regs.as_ptr(), 8);
                    self.sp[i].set(sp.cast());
                }
            }
            // SAFETY: `sp[i]` is a stack saved by `switch` (or laid out above); it comes back here
            unsafe { cargo_mlir_rt_fiber_switch(self.scheduler.as_ptr(), self.sp[i].get()) };
        }

        /// From fiber `i`: back to the scheduler, until it resumes this fiber.
        pub fn to_scheduler(&self, i: usize) {
            // SAFETY: the scheduler's stack was saved by the `switch` that resumed this fiber
            unsafe { cargo_mlir_rt_fiber_switch(self.sp[i].as_ptr(), self.scheduler.get()) };
        }
    }

    impl Drop for Fibers {
        fn drop(&mut self) {
            for &(p, size) in &self.stacks {
                // SAFETY: mapped in `new`, and no fiber runs any more
                unsafe { munmap(p.cast(), size) };
            }
        }
    }

    /// Each fiber's first frame: run the kernel for each workgroup it is resumed in.
    extern "C" fn fiber_main(g: *const Group) -> ! {
        // SAFETY: the group outlives its fibers (the scheduler abandons them before it goes)
        let g = unsafe { &*g };
        debug_assert!(CURRENT.with(|c| c.get()) == g as *const Group);
        loop {
            let i = g.current.get();
            fiber_body(g, i);
            g.switch.to_scheduler(i);
        }
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
mod asm {
    use super::Group;

    pub const AVAILABLE: bool = false;

    pub enum Fibers {}

    impl Fibers {
        pub fn kept(_: usize, _: usize) -> Result<Fibers, std::io::Error> {
            unreachable!()
        }
        pub fn keep(self) {
            match self {}
        }
        pub fn resume(&self, _: &Group, _: usize) {
            match *self {}
        }
        pub fn to_scheduler(&self, _: usize) {
            match *self {}
        }
    }
}

mod baton {
    //! Fibers as OS threads that run one at a time: the scheduler hands the
    //! baton to fiber `i` (unparks its thread) and parks until it comes back.
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::thread::{JoinHandle, Thread};

    use super::{fiber_body, set_ids, Group, Quit, CURRENT};

    /// `turn`: the fiber whose turn it is, or one of these
    const SCHEDULER: usize = usize::MAX;
    const QUIT: usize = usize::MAX - 1;

    struct Shared {
        turn: AtomicUsize,
        scheduler: Thread,
    }

    pub struct Baton {
        shared: Arc<Shared>,
        threads: Mutex<Vec<Option<JoinHandle<()>>>>,
    }

    /// A `&Group` that crosses to the fiber threads, which use it only while
    /// they hold the baton (the scheduler's thread waits meanwhile).
    struct GroupPtr(*const Group);
    // SAFETY: see above: one thread at a time touches the group
    unsafe impl Send for GroupPtr {}

    impl Shared {
        /// Park until it is `me`'s turn: false when the launch ended instead.
        fn wait_for(&self, me: usize) -> bool {
            loop {
                match self.turn.load(Ordering::Acquire) {
                    t if t == me => return true,
                    QUIT => return false,
                    _ => std::thread::park(),
                }
            }
        }

        /// Give the baton to `to` (never taking it back from the end of the launch).
        fn hand(&self, to: usize, thread: &Thread) {
            let _ = self.turn.fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| (t != QUIT).then_some(to));
            thread.unpark();
        }
    }

    impl Baton {
        pub fn new() -> Baton {
            Baton { shared: Arc::new(Shared { turn: AtomicUsize::new(SCHEDULER), scheduler: std::thread::current() }),
                    threads: Mutex::new(Vec::new()) }
        }

        pub fn resume(&self, g: &Group, i: usize) {
            let mut threads = self.threads.lock().unwrap_or_else(|e| e.into_inner());
            if threads.len() <= i {
                threads.resize_with(i + 1, || None);
            }
            if threads[i].is_none() {
                let shared = Arc::clone(&self.shared);
                let group = GroupPtr(g);
                let name = std::thread::current().name().unwrap_or("cargo-mlir-host").to_string();
                let handle = std::thread::Builder::new().name(name).spawn(move || {
                    let group = group;
                    // SAFETY: the group outlives this thread (`finish` joins it)
                    let g = unsafe { &*group.0 };
                    CURRENT.with(|c| c.set(g));
                    while shared.wait_for(i) {
                        set_ids(g.ids.get());
                        if !fiber_body(g, i) {
                            break;
                        }
                        shared.hand(SCHEDULER, &shared.scheduler);
                    }
                }).expect("cargo-mlir: cannot start a host thread");
                threads[i] = Some(handle);
            }
            let fiber = threads[i].as_ref().map(|h| h.thread().clone());
            drop(threads);
            if let Some(fiber) = fiber {
                self.shared.hand(i, &fiber);
            }
            self.shared.wait_for(SCHEDULER);
        }

        /// From fiber `i` (its own thread): give the baton back and wait for it.
        pub fn to_scheduler(&self, i: usize) {
            self.shared.hand(SCHEDULER, &self.shared.scheduler);
            if !self.shared.wait_for(i) {
                std::panic::resume_unwind(Box::new(Quit));
            }
            let g = CURRENT.with(|c| c.get());
            // SAFETY: set when this thread started; the group outlives it
            set_ids(unsafe { &*g }.ids.get());
        }

        /// End the launch: every fiber thread leaves (one waiting at a barrier unwinds).
        pub fn finish(&self) {
            self.shared.turn.store(QUIT, Ordering::Release);
            let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
            for h in threads.iter().flatten() {
                h.thread().unpark();
            }
            for h in threads.into_iter().flatten() {
                let _ = h.join();
            }
        }
    }
}
