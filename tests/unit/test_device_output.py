"""The device step's closing lines (build/device.py `_finish`): one "panics
become traps" warning per build, with how many kernels; no "Fresh" after a
failed device compile."""

from __future__ import annotations

import io

from cargo_mlir.build import device
from cargo_mlir.pipeline.diagnostics import TRAPS
from cargo_mlir.term import Shell


class _Tools:
    def has(self, name):
        return True


def finish(run, verbosity=0) -> str:
    shell = Shell(verbosity=verbosity, color="never", stream=io.StringIO())
    device._finish(shell, run, {}, _Tools())
    return shell.stream.getvalue()


def _run(tmp_path, **kw):
    return device._Run(tmp_path, {}, {}, {}, **kw)


def test_trapping_panics_are_one_warning_naming_how_many_kernels(tmp_path):
    run = _run(tmp_path, worked=2)
    for k in ("a", "b", "c"):
        run.traps[f"src/lib.rs:{k}"] = f"kernel `{k}`: panics (core::panicking::panic_bounds_check) " + TRAPS
    out = finish(run)
    assert out.count("become traps on GPUs") == 1, out
    assert "in 3 kernels" in out and "kernel `a`" not in out
    assert finish(run, verbosity=1).count("kernel `") == 3          # -v: each kernel's panics


def test_no_fresh_after_a_failed_device_compile(tmp_path):
    assert "Fresh" in finish(_run(tmp_path))
    assert "Fresh" not in finish(_run(tmp_path, failed_compiles=1))
