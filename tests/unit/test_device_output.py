"""The device step's closing lines (build/device.py `_finish`): no "Fresh"
after a failed device compile; a stage's bug is an error of its function."""

from __future__ import annotations

import io

from cargo_mlir.build import device
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


def test_no_fresh_after_a_failed_device_compile(tmp_path):
    assert "Fresh" in finish(_run(tmp_path))
    assert "Fresh" not in finish(_run(tmp_path, failed_compiles=1))


def test_a_stage_bug_is_an_error_of_its_function_not_a_traceback():
    from types import SimpleNamespace
    from cargo_mlir.pipeline import runner
    from cargo_mlir.pipeline.targets import HOST, parse_target
    job = SimpleNamespace(marker=SimpleNamespace(kind="kernel", name="k", location="src/lib.rs:3"))
    gfx = parse_target("gfx90a")
    out = runner._failed(job, (gfx,), AttributeError("type object 'VectorType' has no attribute 'isinstance'"))
    (finding,) = out["gfx90a"].findings
    assert finding.level == "error"
    assert finding.message.startswith("kernel `k` (src/lib.rs:3) for gfx90a: internal error in cargo-mlir: "
                                      "AttributeError: type object 'VectorType' has no attribute 'isinstance'\n"
                                      "help: this is a cargo-mlir bug")
    both = runner._failed(job, (HOST, gfx), ValueError("x"))
    assert set(both) == {"host", "gfx90a"} and "for gfx90a" not in both["host"].findings[0].message


def test_a_cache_entry_with_a_garbage_digest_file_is_made_again(tmp_path):
    """(tests/fault_matrix.py) bytes that are not text in `<entry>.sum` crashed the build."""
    from cargo_mlir.pipeline import runner
    entry = tmp_path / "k.o"
    runner._put(entry, b"object")
    assert runner._intact(entry)
    runner._sum_path(entry).write_bytes(b"\xae\xfc\x00garbage")
    assert not runner._intact(entry)
