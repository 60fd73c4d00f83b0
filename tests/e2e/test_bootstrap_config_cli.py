"""The installed `cargo-mlir` binary edits a fake rust checkout's bootstrap.toml: run from a
subdirectory of the checkout, as a rustc contributor would."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

CLI = Path(sys.executable).parent / "cargo-mlir"

TRACKER = """\
pub const CONFIG_CHANGE_HISTORY: &[ChangeInfo] = &[
    ChangeInfo {
        change_id: 131513,
        severity: ChangeSeverity::Info,
        summary: "New option `llvm.offload`.",
    },
    ChangeInfo {
        change_id: 146435,
        severity: ChangeSeverity::Info,
        summary: "the newest change",
    },
];
"""

BOOTSTRAP_TOML = """\
# See bootstrap.example.toml for documentation of available options
#
profile = "compiler"  # Includes one of the default files in src/bootstrap/defaults
change-id = 146435

[llvm]
# built from source: I work on LLVM
download-ci-llvm = false
targets = "X86;AArch64"  # keep the build small

[rust]
lld = true
"""


def cargo_mlir(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CARGO_", "RUSTFLAGS", "__CARGO_MLIR"))}
    env["NO_COLOR"] = "1"
    return subprocess.run([str(CLI), "mlir", "bootstrap", "config", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def test_enable_offload_then_show_then_get(tmp_path):
    root = tmp_path / "rust"
    (root / "src/bootstrap/src/utils").mkdir(parents=True)
    (root / "src/bootstrap/src/utils/change_tracker.rs").write_text(TRACKER)
    (root / "x.py").write_text("#!/usr/bin/env python3\n")
    (root / "bootstrap.toml").write_text(BOOTSTRAP_TOML)
    cwd = root / "src/bootstrap"

    dry = cargo_mlir(cwd, "enable", "offload", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "+targets = \"X86;AArch64;AMDGPU;NVPTX\"  # keep the build small" in dry.stdout
    assert (root / "bootstrap.toml").read_text() == BOOTSTRAP_TOML

    done = cargo_mlir(cwd, "enable", "offload")
    assert done.returncode == 0, done.stderr
    assert "Set llvm.offload = true" in done.stderr
    assert f"Updated {root / 'bootstrap.toml'}" in done.stderr
    assert (root / "bootstrap.toml").read_text() == BOOTSTRAP_TOML.replace(
        'targets = "X86;AArch64"  # keep the build small\n',
        'targets = "X86;AArch64;AMDGPU;NVPTX"  # keep the build small\n'
        "offload = true\nclang = true\nlink-shared = true\n")
    assert (root / "bootstrap.toml.bak").read_text() == BOOTSTRAP_TOML
    assert tomllib.loads((root / "bootstrap.toml").read_text())["llvm"]["offload"] is True

    again = cargo_mlir(cwd, "enable", "offload")
    assert again.returncode == 0 and "Unchanged" in again.stderr

    show = cargo_mlir(cwd, "show")
    assert show.returncode == 0, show.stderr
    assert "# offload: enabled" in show.stdout
    offload = next(l for l in show.stdout.splitlines() if l.startswith("llvm.offload "))
    assert offload.split("=", 1)[1].split("#")[0].strip() == "true"
    assert offload.endswith("# bootstrap.toml")

    got = cargo_mlir(cwd, "get", "llvm.targets")
    assert (got.returncode, got.stdout) == (0, '"X86;AArch64;AMDGPU;NVPTX"\n')

    typo = cargo_mlir(cwd, "set", "llvm.ofload", "false", "--dry-run")
    assert "warning: llvm.ofload: did you mean llvm.offload?" in typo.stderr

    bad = cargo_mlir(cwd, "set", "llvm.offload", "yes")
    assert bad.returncode == 1
    assert 'error: llvm.offload expects a bool, not "yes"' in bad.stderr
