"""End to end: no-op builds read cargo-mlir's cached project facts and write no
state; each cache is refreshed by what it depends on (a manifest's config
edited, reverted and edited again; rustc changed in place); a unit without
marked functions gets no device compile, and gets one once it gains a kernel;
the rustc wrapper works from a directory whose path has spaces."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from conftest import REPO, copy_crate, host_only, mlir, run

pytestmark = pytest.mark.e2e


@pytest.fixture
def env(tmp_path):
    """Own cache directory (project facts) and toolchain record, so tests see their own state only."""
    record = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cargo-mlir" / "toolchain.toml"
    e = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "CARGO_MLIR_TOOLCHAIN_FILE": str(tmp_path / "toolchain.toml")}
    if record.exists():        # skip resolving the toolchain again (its validity is checked on load)
        (tmp_path / "toolchain.toml").write_text(record.read_text())
    return e


def snapshot(*dirs: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for d in dirs for p in d.rglob("*")}


def report_targets(crate: Path) -> set[str]:
    report = json.loads((crate / "target" / "cargo-mlir" / "report.json").read_text())
    return {k["target"] for k in report["kernels"] if not k["test"]}


def test_a_no_op_build_writes_no_state(tmp_path, env):
    crate = host_only(copy_crate(REPO / "sample_crates" / "saxpy", tmp_path / "saxpy"))
    assert mlir("build", cwd=crate, **env).returncode == 0
    second = mlir("build", cwd=crate, **env)          # refreshes the facts (target/ and Cargo.lock are new)
    assert second.returncode == 0 and "no device work" in second.stderr, second.stderr
    state, cache = crate / "target" / "cargo-mlir", tmp_path / "cache"
    before = snapshot(state, cache)
    assert any("projects" in p for p in before), before
    third = mlir("build", "-v", cwd=crate, **env)
    assert third.returncode == 0, third.stderr
    assert "no device work" in third.stderr and "Lowering" not in third.stderr
    assert snapshot(state, cache) == before
    assert "Recorded" not in third.stderr


def test_a_config_edited_reverted_and_edited_again_rebuilds_each_time(tmp_path, env):
    crate = copy_crate(REPO / "sample_crates" / "saxpy", tmp_path / "saxpy")
    manifest = crate / "Cargo.toml"
    original = manifest.read_text()
    edited = re.sub(r"offload-arch = \[[^\]]*\]", 'offload-arch = ["sm_90"]', original)
    assert edited != original
    for text, targets in ((original, {"host", "gfx90a", "sm_90"}), (edited, {"host", "sm_90"}),
                          (original, {"host", "gfx90a", "sm_90"}), (edited, {"host", "sm_90"})):
        manifest.write_text(text)
        result = mlir("build", cwd=crate, **env)
        assert result.returncode == 0, result.stderr
        assert report_targets(crate) == targets, result.stderr
        # and a no-op build after it keeps them
        again = mlir("build", cwd=crate, **env)
        assert again.returncode == 0 and "no device work" in again.stderr, again.stderr
        assert report_targets(crate) == targets


def test_rustc_changed_in_place_is_seen(tmp_path, env):
    crate = host_only(copy_crate(REPO / "sample_crates" / "saxpy", tmp_path / "saxpy"))
    fake = tmp_path / "bin" / "rustc"
    fake.parent.mkdir()
    real = run(["rustup", "which", "rustc"], crate).stdout.strip() or "rustc"
    fake.write_text(f'#!/bin/sh\nexec "{real}" "$@"\n')
    fake.chmod(0o755)
    e = {**env, "RUSTC": str(fake)}
    assert mlir("build", cwd=crate, **e).returncode == 0
    noop = mlir("build", cwd=crate, **e)
    assert noop.returncode == 0 and "no device work" in noop.stderr, noop.stderr
    # the same path, another rustc (version): the facts must be read again
    fake.write_text(f'#!/bin/sh\nif [ "$1" = -vV ]; then "{real}" -vV | sed "s/^release: .*/&-changed/"; '
                    f'else exec "{real}" "$@"; fi\n')
    changed = mlir("build", cwd=crate, **e)
    assert changed.returncode == 0, changed.stderr
    assert "Lowering" in changed.stderr, changed.stderr       # another toolchain: the device code is made again
    assert "-changed" in (tmp_path / "toolchain.toml").read_text()


PLAIN_RUN = "    for i in 0..y.len() {\n        y[i] = a * x[i] + y[i];\n    }\n"


def test_a_crate_without_kernels_gets_no_device_compile_until_it_gains_one(tmp_path, env):
    crate = host_only(copy_crate(REPO / "sample_crates" / "saxpy", tmp_path / "dir with space" / "saxpy"))
    lib = crate / "src" / "lib.rs"
    with_kernel = lib.read_text()
    kernel = with_kernel[with_kernel.index("#[offload_kernel]"):with_kernel.index("pub const N")]
    launch = with_kernel[with_kernel.index("    offload! {"):with_kernel.index("    };\n") + len("    };\n")]
    without = with_kernel.replace(kernel, "").replace(launch, PLAIN_RUN)
    without = without.replace("use cargo_mlir::gpu;\nuse cargo_mlir::offload::{offload, offload_kernel};\n",
                              "use cargo_mlir as _;\n")
    lib.write_text(without)
    state = crate / "target" / "cargo-mlir"
    first = mlir("run", "-q", cwd=crate, **env)
    assert first.returncode == 0, first.stderr
    assert "checksum=" in first.stdout
    assert not list((state / "bitcode").glob("*.bc")) if (state / "bitcode").exists() else True
    assert not (state / "units").exists() or not list((state / "units").glob("*.json"))
    # the first kernel: device code, through the wrapper in a path with spaces
    lib.write_text(with_kernel)
    second = mlir("run", "-q", cwd=crate, CARGO_MLIR_LOG="info", **env)
    assert second.returncode == 0, second.stderr
    assert "ran on host (MLIR code" in second.stderr, second.stderr
    assert json.loads((state / "libraries.json").read_text())
    # and gone again: the library is dropped, the program runs as plain Rust
    lib.write_text(without)
    third = mlir("run", "-q", cwd=crate, CARGO_MLIR_LOG="info", **env)
    assert third.returncode == 0, third.stderr
    assert json.loads((state / "libraries.json").read_text()) == {}
    assert checksum(third.stdout) == checksum(second.stdout) == checksum(first.stdout)


def checksum(out: str) -> str:
    return re.search(r"checksum=\S+", out)[0]
