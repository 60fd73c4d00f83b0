"""End to end: one failed device build never poisons later builds (a stale
library, a failed unit of another command or profile, lost or damaged state)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import CLI, REPO, copy_crate, host_only, run

pytestmark = pytest.mark.e2e
SAXPY_LINE = "y[i] = a * x[i] + y[i];"


def cargo_mlir(*args, cwd: Path, **env):
    return run([CLI, "mlir", *args], cwd, **env)


def saxpy(tmp_path: Path) -> Path:
    return copy_crate(REPO / "sample_crates" / "saxpy", tmp_path / "saxpy")


@pytest.mark.parametrize("which", ["lib", "all"])
def test_a_kernel_library_that_no_longer_links_is_rebuilt(tmp_path, which):
    # a kernel touching a static is a device-code error now (before it linked a library
    # that did not link): nothing stale is left behind for the unit tests or the binaries
    crate = saxpy(tmp_path)
    only = ("--lib",) if which == "lib" else ()
    lib = crate / "src" / "lib.rs"
    good = lib.read_text()
    # the unit-test binary internalises the static: the extracted kernel cannot reach it
    lib.write_text(good.replace(SAXPY_LINE, SAXPY_LINE + "\n        HITS.fetch_add(1, core::sync::atomic::Ordering::Relaxed);")
                   + "\npub static HITS: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);\n")
    failed = cargo_mlir("test", "--no-run", *only, cwd=crate)
    if failed.returncode == 0:
        pytest.skip("a kernel touching a static links now: nothing to poison")
    assert "HITS" in failed.stderr, failed.stderr
    lib.write_text(good)
    fixed = cargo_mlir("test", *only, "--", "--nocapture", cwd=crate, CARGO_MLIR_LOG="info")
    assert fixed.returncode == 0, fixed.stderr
    assert "ran on host (MLIR code" in fixed.stdout + fixed.stderr


def test_a_failed_test_only_kernel_blocks_no_other_command_or_profile(tmp_path):
    crate = saxpy(tmp_path)
    lib = crate / "src" / "lib.rs"
    good = lib.read_text()
    noisy = '''
#[cfg(test)]
mod noisy {
    use cargo_mlir::{gpu, offload::offload_kernel};
    #[offload_kernel]
    fn noisy(y: &mut [f32]) { let i = gpu::global_id_x(); if i < y.len() { println!("{i}"); y[i] = 1.0; } }
}
'''
    lib.write_text(good + noisy)
    failed = cargo_mlir("test", "--no-run", cwd=crate)
    assert failed.returncode != 0 and "kernel `noisy`" in failed.stderr, failed.stderr
    for profile in ((), ("--release",)):
        ran = cargo_mlir("run", "-q", *profile, cwd=crate, CARGO_MLIR_LOG="info")
        assert ran.returncode == 0, ran.stderr
        assert "noisy" not in ran.stderr and "ran on host (MLIR code" in ran.stderr, ran.stderr
    built = cargo_mlir("build", "--release", cwd=crate)
    assert built.returncode == 0, built.stderr
    # the failed unit is still owed its work: the next `test` compiles it again
    again = cargo_mlir("test", "--no-run", cwd=crate)
    assert again.returncode != 0 and "kernel `noisy`" in again.stderr, again.stderr
    lib.write_text(good + noisy.replace('println!("{i}"); ', ""))
    fixed = cargo_mlir("test", "--", "--nocapture", cwd=crate, CARGO_MLIR_LOG="info")
    assert fixed.returncode == 0, fixed.stderr
    assert "ran on host (MLIR code" in fixed.stdout + fixed.stderr


@pytest.mark.parametrize("damage", ["lost record", "damaged library", "emptied library and record", "deleted"])
def test_lost_or_damaged_kernel_state_is_rebuilt(tmp_path, damage):
    crate = saxpy(tmp_path)
    assert cargo_mlir("build", cwd=crate).returncode == 0
    state = crate / "target" / "cargo-mlir"
    libraries = list((state / "lib").glob("lib*.a"))
    assert any(a.stat().st_size > 8 for a in libraries), libraries
    if damage == "lost record":
        (state / "libraries.json").unlink()
    elif damage == "deleted":
        for a in libraries:
            a.unlink()
    else:
        for a in libraries:
            a.write_bytes(b"!<arch>\n" + (b"" if damage.startswith("emptied") else b"garbage"))
        if damage.startswith("emptied"):
            (state / "libraries.json").write_text("{}")
    ran = cargo_mlir("run", "-q", cwd=crate, CARGO_MLIR_LOG="info")
    assert ran.returncode == 0, ran.stderr
    assert "up to date" not in ran.stderr
    assert "ran on host (MLIR code" in ran.stderr, ran.stderr


@pytest.mark.parametrize("damage", ["truncated", "garbage", "digest lost"])
def test_a_damaged_cache_entry_is_made_again_not_trusted(tmp_path, damage):
    crate = host_only(saxpy(tmp_path))
    assert cargo_mlir("build", cwd=crate).returncode == 0
    cache = crate / "target" / "cargo-mlir" / "cache"
    entries = [p for p in cache.iterdir() if p.suffix in (".o", ".mlir")]
    assert any(p.suffix == ".o" for p in entries), sorted(cache.iterdir())
    for p in entries:
        if damage == "truncated":
            p.write_bytes(p.read_bytes()[:40])
        elif damage == "garbage":
            p.write_bytes(b"\x7fELF garbage")
        else:
            p.with_name(p.name + ".sum").unlink()
    # a change elsewhere in the unit: its device work runs again, the kernel's key is unchanged
    lib = crate / "src" / "lib.rs"
    lib.write_text(lib.read_text() + "\npub fn unrelated() -> u32 { 7 }\n")
    ran = cargo_mlir("run", "-q", cwd=crate, CARGO_MLIR_LOG="info")
    assert ran.returncode == 0, ran.stderr
    assert "ran on host (MLIR code" in ran.stderr, ran.stderr


def test_a_kernel_touching_a_mutable_static_or_thread_local_is_an_error_at_its_line(tmp_path):
    crate = host_only(saxpy(tmp_path))
    lib = crate / "src" / "lib.rs"
    good = lib.read_text()
    lib.write_text(good.replace(SAXPY_LINE, SAXPY_LINE + "\n        HITS.fetch_add(1, core::sync::atomic::Ordering::Relaxed);"
                                "\n        TL.with(|c| c.set(c.get() + 1));")
                   + "\npub static HITS: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);"
                   + "\nthread_local! { static TL: core::cell::Cell<u32> = const { core::cell::Cell::new(0) }; }"
                   + "\npub static SCALE: f32 = 2.0;\n")
    lines = lib.read_text().splitlines()
    hits, tl = (lines.index(f"        {s}") + 1 for s in ("HITS.fetch_add(1, core::sync::atomic::Ordering::Relaxed);",
                                                       "TL.with(|c| c.set(c.get() + 1));"))
    failed = cargo_mlir("build", cwd=crate)
    assert failed.returncode != 0
    assert re.search(rf"kernel `saxpy` \(src/lib.rs:\d+\) cannot run on a device: it uses the mutable static "
                     rf"`saxpy::HITS` at src/lib.rs:{hits}:\d+", failed.stderr), failed.stderr
    assert re.search(rf"it uses the thread_local! `saxpy::TL` at src/lib.rs:{tl}:\d+", failed.stderr), failed.stderr
    # an immutable static is fine; fixing the kernel makes the next build succeed
    lib.write_text(good.replace(SAXPY_LINE, "y[i] = a * x[i] * SCALE / 2.0 + y[i];") + "\npub static SCALE: f32 = 2.0;\n")
    fixed = cargo_mlir("run", "-q", cwd=crate, CARGO_MLIR_LOG="info")
    assert fixed.returncode == 0, fixed.stderr
    assert "ran on host (MLIR code" in fixed.stderr, fixed.stderr
