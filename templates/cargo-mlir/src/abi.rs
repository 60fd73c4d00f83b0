//! Every name, number and layout shared with cargo-mlir's Python side: the
//! Rust half of `cargo_mlir/abi.py` (`tests/unit/test_abi.py` checks that the
//! two agree; change both together).
//!
//! One source for both crates: the runtime has it as `cargo_mlir::abi`, the
//! macros crate includes this same file (`#[path = "../../src/abi.rs"]`), so
//! it must stay plain `pub const`s (and `const fn`s) with no other imports.
//!
//! Markers: a `#[used]` byte-string global `__cargo_mlir_marker_<kind>_<unique>`:
//! `cargo-mlir-marker/2;KIND;NAME;ENTRY;PARAMS;RET;FLAGS;FILE:LINE\0`
//! (KIND `kernel`, `accelerate` or `autodiff` (docs/autodiff.md); PARAMS the Rust parameter types,
//! comma-separated; RET the scalar return type or empty; FLAGS the options,
//! comma-separated, or empty).
#![allow(dead_code)]

pub const MARKER_PREFIX: &str = "__cargo_mlir_marker_";
pub const MARKER_MAGIC: &str = "cargo-mlir-marker/2";
pub const MARKER_KINDS: [&str; 3] = ["kernel", "accelerate", "autodiff"];
pub const ACCELERATE_FLAGS: [&str; 2] = ["exact", "reassociate"];

/// Entries the pipeline compiles (C ABI, flattened parameters: a slice is
/// pointer and length, an array or raw pointer one pointer, `bool` a `u8`).
pub const KERNEL_PREFIX: &str = "__cargo_mlir_kernel_";
pub const ACCEL_PREFIX: &str = "__cargo_mlir_accel_";
pub const GRAD_PREFIX: &str = "__cargo_mlir_grad_";
pub const ENTRY_PREFIXES: [(&str, &str); 3] =
    [("kernel", KERNEL_PREFIX), ("accelerate", ACCEL_PREFIX), ("autodiff", GRAD_PREFIX)];
/// An autodiff marker's primal entry: `PRIMAL_PREFIX` + key (docs/autodiff.md).
pub const PRIMAL_PREFIX: &str = "__cargo_mlir_primal_";
pub const AUTODIFF_MODES: [&str; 2] = ["forward", "reverse"];
/// Entries the pipeline makes: a kernel's CPU grid, an accelerate function's
/// fast path (`<key>`: the entry symbol without its prefix).
pub const HOST_PREFIX: &str = "__cargo_mlir_host_";
pub const DIRECT_PREFIX: &str = "__cargo_mlir_direct_";
/// What `offload!` calls (made by `#[offload_kernel]`, crate-local).
pub const LAUNCH_PREFIX: &str = "__cargo_mlir_launch_";

/// Kernel table handed to `cargo_mlir_rt_register` by each kernel library's
/// constructor (layout: `runtime::Table`).
pub const TABLE_VERSION: u32 = 2;
pub const REGISTER_FN: &str = "cargo_mlir_rt_register";
pub const PANIC_HOOK: &str = "cargo_mlir_rt_kernel_panic";
/// A panic (bounds check, overflow, unwrap, …) in host code the pipeline made
/// (`runtime::cargo_mlir_rt_panic`): unwinds like the panic it stands for.
pub const PANIC_FN: &str = "cargo_mlir_rt_panic";
/// A panic in GPU code records itself in this global of the image (32 bytes:
/// u32 kind, 1 + an index of `GPU_PANIC_KINDS`, 0 for none; u32 line; u32
/// column; u32 unused; u64 device address of the file name; u64 its length);
/// the first panicking thread writes it, every panicking thread exits, and the
/// launcher reads it after each launch (gpu_driver.rs).
pub const GPU_PANIC_RECORD: &str = "__cargo_mlir_panic_record";
pub const GPU_PANIC_KINDS: [&str; 16] = [
    "panicked",
    "index out of bounds",
    "attempt to add with overflow",
    "attempt to subtract with overflow",
    "attempt to multiply with overflow",
    "attempt to divide by zero",
    "attempt to calculate the remainder with a divisor of zero",
    "attempt to negate with overflow",
    "attempt to shift left with overflow",
    "attempt to shift right with overflow",
    "attempt to divide with overflow",
    "attempt to calculate the remainder with overflow",
    "called `Option::unwrap()` on a `None` value",
    "slice index out of range",
    "explicit panic (a GPU keeps no formatted message)",
    "aborted (a trap in the kernel, e.g. a derivative's full stack tape)",
];
/// Every C entry of the runtime that generated code calls starts so (the panic
/// hook, `cargo_mlir_rt_parallel_for`, `cargo_mlir_rt_cpu_level`,
/// `cargo_mlir_rt_gpu_matmul`): codegen leaves them external.
pub const RUNTIME_PREFIX: &str = "cargo_mlir_rt_";

/// `cargo_mlir::gpu` functions call `cargo_mlir_gpu_<what>_<axis>`, which each
/// target defines; on the host they read slots of a thread-local block.
pub const HOOK_PREFIX: &str = "cargo_mlir_gpu_";
pub const IDS_GLOBAL: &str = "__cargo_mlir_ids";
/// Hooks that are not ids: a workgroup barrier, the workgroup memory
/// (`offload!`'s `dyn_cache`) and its size. A kernel that calls them runs its
/// workgroups on the host with all their threads at once (runtime/workgroup.rs).
pub const BARRIER_HOOK: &str = "cargo_mlir_gpu_barrier";
pub const WORKGROUP_MEM_HOOK: &str = "cargo_mlir_gpu_workgroup_mem";
pub const WORKGROUP_MEM_SIZE_HOOK: &str = "cargo_mlir_gpu_workgroup_mem_size";
pub const WORKGROUP_HOOKS: [&str; 3] = [BARRIER_HOOK, WORKGROUP_MEM_HOOK, WORKGROUP_MEM_SIZE_HOOK];
/// The dynamic workgroup memory of GPU images (addrspace 3, its size set at launch).
pub const DYN_CACHE_GLOBAL: &str = "__cargo_mlir_dyn_cache";
/// The names in a kernel's body that make it such a kernel (the macros look for them).
pub const WORKGROUP_NAMES: [&str; 6] = ["barrier", "_syncthreads", "s_barrier", "workgroup_mem",
                                         "gpu_launch_sized_workgroup_mem", "workgroup_mem_bytes"];
pub const ID_SLOTS: [(&str, usize); 12] = [
    ("workitem_id_x", 0), ("workitem_id_y", 1), ("workitem_id_z", 2),
    ("workgroup_id_x", 3), ("workgroup_id_y", 4), ("workgroup_id_z", 5),
    ("workgroup_size_x", 6), ("workgroup_size_y", 7), ("workgroup_size_z", 8),
    ("num_workgroups_x", 9), ("num_workgroups_y", 10), ("num_workgroups_z", 11),
];

/// Environment read by the built program …
pub const ENV_DEVICE: &str = "CARGO_MLIR_DEVICE";
pub const ENV_LOG: &str = "CARGO_MLIR_LOG";
pub const ENV_HOST_THREADS: &str = "CARGO_MLIR_HOST_THREADS";
/// … and set by cargo-mlir for the macros (rustc records `option_env!` reads
/// in dep-info, so a changed configuration, or a unit whose device work must be
/// redone, rebuilds the crate; a changed kernel library only relinks).
pub const ENV_UNIT: &str = "__CARGO_MLIR_UNIT";
pub const ENV_RETRY_PREFIX: &str = "__CARGO_MLIR_RETRY_";
pub const ENV_CONFIG: &str = "__CARGO_MLIR_CONFIG";
/// … and where the macros record that a unit has marked functions: a file
/// named after `ENV_UNIT` in this directory (no file: no device compile).
pub const ENV_MARKED_DIR: &str = "__CARGO_MLIR_MARKED_DIR";

/// `a == b` in a const context (for compile-time checks against the names above).
pub const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// `s == a + b` in a const context.
pub const fn is_concat(s: &str, a: &str, b: &str) -> bool {
    let (s, a, b) = (s.as_bytes(), a.as_bytes(), b.as_bytes());
    if s.len() != a.len() + b.len() {
        return false;
    }
    let mut i = 0;
    while i < s.len() {
        let c = if i < a.len() { a[i] } else { b[i - a.len()] };
        if s[i] != c {
            return false;
        }
        i += 1;
    }
    true
}

/// The slot of `cargo_mlir_gpu_<name>` in the id block (panics at compile
/// time when used in a const and `name` is not a slot).
pub const fn id_slot(name: &str) -> usize {
    let mut i = 0;
    while i < ID_SLOTS.len() {
        if str_eq(ID_SLOTS[i].0, name) {
            return ID_SLOTS[i].1;
        }
        i += 1;
    }
    panic!("not a cargo_mlir::gpu id slot")
}
