"""`cargo mlir new` and `cargo mlir init` through the real CLI, then real cargo:
the starter crate must build and give the same checksum with plain cargo and
with `cargo mlir build` (whose binary says its kernel ran MLIR code), and a
fresh `cargo new` crate must build after init.

XDG_DATA_HOME points at a temporary folder so the support crate's copy is made
fresh; XDG_CACHE_HOME stays, since the recorded toolchain lives there."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomlkit

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(shutil.which("cargo") is None, reason="needs cargo")]

CLI = Path(sys.executable).parent / "cargo-mlir"
N = 1 << 20
# The starter's inputs are x[i] = i % 17, y[i] = 1 + i % 5 and a = 3: small integers, so exact.
CHECKSUM = sum(3 * (i % 17) + 1 + (i % 5) for i in range(N))
STARTER_OUTPUT = f"saxpy n={N} checksum={CHECKSUM}.0\n"


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    """The environment of a user's shell: none of the variables a surrounding
    cargo (or a cargo-mlir run) would have set."""
    clean = {k: v for k, v in os.environ.items()
             if not (k.startswith(("CARGO_", "__CARGO")) and k != "CARGO_HOME")
             and k not in ("RUSTFLAGS", "RUSTDOCFLAGS", "RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER")}
    clean["XDG_DATA_HOME"] = str(tmp_path / "xdg-data")
    return clean


def run(args: list, cwd: Path, env: dict[str, str], **extra_env: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env={**env, **extra_env},
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


def support_copy(tmp_path: Path) -> Path:
    crates = list((tmp_path / "xdg-data" / "cargo-mlir" / "crates").iterdir())
    assert len(crates) == 1 and crates[0].name.startswith("cargo-mlir-")
    return crates[0]


def test_new_then_plain_cargo_and_cargo_mlir(tmp_path, env):
    made = run([CLI, "new", "hello-gpu"], tmp_path, env)
    crate = tmp_path / "hello-gpu"
    assert "Creating binary (application) `hello-gpu` package" in made.stderr
    manifest = tomlkit.parse((crate / "Cargo.toml").read_text()).unwrap()
    assert manifest["dependencies"]["cargo-mlir"]["path"] == str(support_copy(tmp_path))
    assert (support_copy(tmp_path) / "macros" / "src" / "lib.rs").is_file()

    plain = run(["cargo", "run", "--quiet"], crate, env, CARGO_MLIR_LOG="info")
    assert plain.stdout == STARTER_OUTPUT
    assert "kernel `saxpy` ran on host (plain Rust, not built by cargo mlir)" in plain.stderr

    tests = run(["cargo", "test", "--quiet"], crate, env)
    assert "1 passed" in tests.stdout

    built = run([CLI, "build"], crate, env)
    assert "Lowering 1 kernel of hello-gpu" in built.stderr
    binary = run([crate / "target" / "debug" / "hello-gpu"], crate, env, CARGO_MLIR_LOG="info")
    assert binary.stdout == STARTER_OUTPUT
    assert "kernel `saxpy` ran on host (MLIR code" in binary.stderr


KERNEL_MAIN = """\
use cargo_mlir::offload::{offload, offload_kernel};
use cargo_mlir::gpu;

#[offload_kernel]
fn double(v: &mut [i64]) {
    let i = gpu::global_id_x();
    if i < v.len() { v[i] *= 2; }
}

fn main() {
    let mut v: Vec<i64> = (0..512).collect();
    offload! { kernel = double, workgroup_dim = [2, 1, 1], thread_dim = [256, 1, 1], args = (&mut v[..]), };
    println!("sum={}", v.iter().sum::<i64>());
}
"""


def test_init_on_a_cargo_new_crate(tmp_path, env):
    run(["cargo", "new", "--vcs", "none", "--quiet", "plain"], tmp_path, env)
    crate = tmp_path / "plain"
    original = (crate / "Cargo.toml").read_text()

    first = run([CLI, "init"], crate / "src", env)      # found by searching upward
    support = support_copy(tmp_path)
    assert f"Adding cargo-mlir support crate to {crate / 'Cargo.toml'}" in first.stderr
    assert "#[offload_kernel]" in first.stderr
    edited = (crate / "Cargo.toml").read_text()
    assert original.endswith("[dependencies]\n")       # what `cargo new` writes today
    assert edited == original + f'cargo-mlir = {{ path = "{support}" }}\n'

    again = run([CLI, "init", "--manifest-path", crate / "Cargo.toml"], tmp_path, env)
    assert "is already set up for cargo-mlir" in again.stderr
    assert (crate / "Cargo.toml").read_text() == edited

    built = run(["cargo", "build"], crate, env)
    assert "Compiling cargo-mlir v0.1.0" in built.stderr and "Compiling plain v0.1.0" in built.stderr

    # cargo new picks the newest edition; the support crate's macros must work there too.
    (crate / "src" / "main.rs").write_text(KERNEL_MAIN)
    ran = run(["cargo", "run", "--quiet"], crate, env)
    assert ran.stdout == f"sum={2 * sum(range(512))}\n"


def test_refusals_exit_1_and_change_nothing(tmp_path, env):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "Cargo.toml").write_text('[workspace]\nmembers = ["app"]\n')
    proc = subprocess.run([str(CLI), "init"], cwd=ws, env=env, capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"error: {ws / 'Cargo.toml'} is a virtual workspace manifest (members: app)")
    assert "--manifest-path MEMBER/Cargo.toml" in proc.stderr
    assert (ws / "Cargo.toml").read_text() == '[workspace]\nmembers = ["app"]\n'

    proc = subprocess.run([str(CLI), "new", "ws"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 1 and f"error: destination `{ws}` already exists" in proc.stderr
    assert sorted(p.name for p in ws.iterdir()) == ["Cargo.toml"]
