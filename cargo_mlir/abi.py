"""Every name, number and layout shared with the Rust support crate
(`templates/cargo-mlir/src/abi.rs` holds the Rust half; `tests/unit/test_abi.py`
checks that the two agree). Change both together.

Markers: a `#[used]` byte-string global `__cargo_mlir_marker_<kind>_<unique>`:

    cargo-mlir-marker/2;KIND;NAME;ENTRY;PARAMS;RET;FLAGS;FILE:LINE\\0

KIND is `kernel`, `accelerate` or `autodiff`; PARAMS the Rust parameter types,
comma-separated (`&[f32; 4]` keeps its `;`; raw pointers as `*const T`/`*mut T`);
RET the scalar return type or empty; FLAGS comma-separated options of the
marker (`exact`, `reassociate`) or empty. An autodiff marker names the
derivative and its `__cargo_mlir_grad_<key>` entry; PARAMS/RET are the primal's
and FLAGS `MODE,WIDTH,PRIMAL,ACT_1,…,ACT_n,RET_ACT` (docs/autodiff.md).

Entries the pipeline compiles (C ABI, flattened parameters: a slice is pointer
and length, an array or raw pointer one pointer, `bool` a `u8`):
- `__cargo_mlir_kernel_<unique>`: an `#[offload_kernel]` function, returns nothing;
- `__cargo_mlir_accel_<unique>`: an `accelerate` function, returns RET;
- `__cargo_mlir_primal_<unique>`: an autodiff marker's primal, returns RET; the
  pipeline defines the marker's `__cargo_mlir_grad_<unique>` from it.

Entries the pipeline makes, in each unit's kernel library:
- `__cargo_mlir_host_<key>(params, dims, begin, end)`: a kernel's CPU grid;
- `__cargo_mlir_direct_<key>(params, ret) -> u8`: an accelerate function's
  fast path; non-zero when it ran (the return value written to `*ret`; a bool
  as one byte 0 or 1, as for parameters; `ret` is null for `()`), 0 when it
  declined with no side effect (the caller then runs the Rust body).
`<key>` is the entry symbol without its prefix.
"""

from __future__ import annotations

MARKER_PREFIX = "__cargo_mlir_marker_"
MARKER_MAGIC = "cargo-mlir-marker/2"
MARKER_KINDS = ("kernel", "accelerate", "autodiff")
ACCELERATE_FLAGS = ("exact", "reassociate")

KERNEL_PREFIX = "__cargo_mlir_kernel_"
ACCEL_PREFIX = "__cargo_mlir_accel_"
GRAD_PREFIX = "__cargo_mlir_grad_"
ENTRY_PREFIXES = {"kernel": KERNEL_PREFIX, "accelerate": ACCEL_PREFIX, "autodiff": GRAD_PREFIX}
# an autodiff marker's primal entry: PRIMAL_PREFIX + key (see docs/autodiff.md)
PRIMAL_PREFIX = "__cargo_mlir_primal_"
AUTODIFF_MODES = ("forward", "reverse")
HOST_PREFIX = "__cargo_mlir_host_"
DIRECT_PREFIX = "__cargo_mlir_direct_"
LAUNCH_PREFIX = "__cargo_mlir_launch_"

# Kernel table handed to `cargo_mlir_rt_register` by each kernel library's
# constructor: { u32 version, u32 n, *const Entry };
# Entry { *const u8 name, usize name_len, host grid fn (or null),
#         *const Image images, usize n_images, direct fn (or null) };
# Image { *const u8 arch, usize arch_len, *const u8 data, usize size }.
TABLE_VERSION = 2
REGISTER_FN = "cargo_mlir_rt_register"
PANIC_HOOK = "cargo_mlir_rt_kernel_panic"
# A panic (bounds check, overflow, unwrap, …) in host code the pipeline made:
# cargo_mlir_rt_panic(kernel ptr, len, kind ptr, len, a u64, b u64, str ptr, len,
# &'static core::panic::Location) unwinds like the panic it stands for.
PANIC_FN = "cargo_mlir_rt_panic"
# A panic in GPU code (retarget_gpu.py) records itself in this global of the
# image, 32 bytes: u32 kind (1 + an index of GPU_PANIC_KINDS; 0: none), u32
# line, u32 column, u32 unused, u64 file (device address of its UTF-8 bytes,
# 0 if unknown), u64 file length; the first panicking thread writes it and
# every panicking thread exits. The launcher reads it after each launch.
GPU_PANIC_RECORD = "__cargo_mlir_panic_record"
GPU_PANIC_KINDS = (
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
)
# Every C entry of the support crate's runtime that generated code calls starts so.
RUNTIME_PREFIX = "cargo_mlir_rt_"

# `cargo_mlir::gpu` functions are calls to `cargo_mlir_gpu_<what>_<axis>` that
# each target defines; on the host they read slots of a thread-local block.
HOOK_PREFIX = "cargo_mlir_gpu_"
IDS_GLOBAL = "__cargo_mlir_ids"
# hooks that are not ids (abi.rs): a kernel that calls them has no grid loop on
# the host (its workgroups run as fibers, in the support crate)
BARRIER_HOOK = HOOK_PREFIX + "barrier"
WORKGROUP_MEM_HOOK = HOOK_PREFIX + "workgroup_mem"
WORKGROUP_MEM_SIZE_HOOK = HOOK_PREFIX + "workgroup_mem_size"
WORKGROUP_HOOKS = (BARRIER_HOOK, WORKGROUP_MEM_HOOK, WORKGROUP_MEM_SIZE_HOOK)
# the names in a kernel's body that make the macros run it so on the host
WORKGROUP_NAMES = ("barrier", "_syncthreads", "s_barrier", "workgroup_mem", "gpu_launch_sized_workgroup_mem",
                   "workgroup_mem_bytes")
# the dynamic workgroup memory of GPU images (addrspace 3, size set at launch)
DYN_CACHE_GLOBAL = "__cargo_mlir_dyn_cache"
ID_SLOTS = {f"{what}_{ax}": base + i for what, base in
            (("workitem_id", 0), ("workgroup_id", 3), ("workgroup_size", 6), ("num_workgroups", 9))
            for i, ax in enumerate("xyz")}

# Environment: read by the built program …
ENV_DEVICE = "CARGO_MLIR_DEVICE"
ENV_LOG = "CARGO_MLIR_LOG"
ENV_HOST_THREADS = "CARGO_MLIR_HOST_THREADS"
# … and set by cargo-mlir for the macros (rustc records them in dep-info, so a
# changed configuration, or a unit whose device work must be redone, rebuilds
# the crate; a changed kernel library only relinks: cargo/wrapper.py).
ENV_UNIT = "__CARGO_MLIR_UNIT"
ENV_RETRY_PREFIX = "__CARGO_MLIR_RETRY_"
ENV_CONFIG = "__CARGO_MLIR_CONFIG"
# … and for the macros' record that a unit has marked functions: a file named
# after ENV_UNIT in this directory (the wrapper skips the device compile without it)
ENV_MARKED_DIR = "__CARGO_MLIR_MARKED_DIR"
