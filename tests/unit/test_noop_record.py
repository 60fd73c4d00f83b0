"""The no-op record and the hand-over from the launcher (build/noop.py): the
parts the launcher must agree on, and the hand-over of a running cargo."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cargo_mlir.build import noop
from cargo_mlir.cargo.args import parse_args


def test_fnv_is_fnv_1a_64():
    # the published test vectors (the launcher's function is the same)
    assert noop.fnv(b"") == 0xcbf29ce484222325
    assert noop.fnv(b"a") == 0xaf63dc4c8601ec8c
    assert noop.fnv(b"foobar") == 0x85944171f73967e8


def test_the_environment_key_keeps_what_decides_the_build(monkeypatch):
    env = {"PATH": "/bin", "HOME": "/h", "CARGO_TARGET_DIR": "/t", "RUSTUP_TOOLCHAIN": "stable", "RUSTC": "rustc",
           "RUSTC_WRAPPER": "sccache", "NO_COLOR": "1", "__CARGO_MLIR_STATE_DIR": "/s", "CARGO_MLIR_DEVICE": "host",
           "TERM": "xterm", "PWD": "/x", "OLDPWD": "/y", "CARGO_MAKEFLAGS": "-j", noop.HANDOVER_ENV: "h",
           noop.BIN_ENV: "/b", "RUSTFLAGS": "-Copt-level=1"}
    key = noop.env_key(env)
    assert key == sorted(key)
    names = {k.split(b"=", 1)[0].decode() for k in key}
    assert names == {"PATH", "HOME", "CARGO_TARGET_DIR", "RUSTUP_TOOLCHAIN", "RUSTC", "RUSTC_WRAPPER", "NO_COLOR",
                     "__CARGO_MLIR_STATE_DIR", "CARGO_MLIR_DEVICE"}


@pytest.mark.parametrize("argv,ok", [
    (["--release"], True), (["-q"], True), (["-p", "app", "--features", "x"], True),
    (["-v"], False), (["--message-format=json"], False), (["--message-format", "short"], False),
    (["--emit-ir", "ir"], False), (["--explain"], False), (["--print-pipeline"], False), (["--help"], False),
])
def test_only_builds_that_python_leaves_to_pass_1_are_recorded(argv, ok):
    assert noop.eligible(parse_args("build", argv)) is ok
    assert not noop.eligible(parse_args("run", argv))
    assert not noop.eligible(parse_args("test", argv))


def test_a_record_names_its_directory_arguments_and_inputs(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "libraries.json").write_text("{}")
    data = noop.record_bytes(tmp_path, ["--release"], [("/no/such/file", None), (str(tmp_path), [1, 2, 3, 4])],
                             state, (["cargo", "build"], ["cargo", "build", "--color"]), {"A": "1", "B": None},
                             ("    Finished in ", "colored "), tmp_path / "ws")
    fields = data.split(b"\0")
    assert fields[0] == noop.MAGIC.encode() and fields[1] == os.fsencode(str(tmp_path)) and fields[-1] == b"end"
    assert fields[-2] == os.fsencode(str(tmp_path / "ws"))     # where dep-info's relative paths start
    assert fields[2:4] == [b"1", b"--release"]
    assert b"/no/such/file\0-\0" in data and f"{tmp_path}\0001 2 3 4\0".encode() in data
    assert b"2\0A=1\0B\0" in data                       # B: removed from pass 1's environment
    with pytest.raises(ValueError):
        noop.record_bytes(tmp_path, ["a\0b"], [], state, ([], []), {}, ("", ""), tmp_path)


def test_a_record_is_written_only_when_it_changed(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    args = (tmp_path, ["--release"], [], tmp_path / "state", (["cargo"], ["cargo"]), {}, ("", ""), tmp_path)
    noop.remember(*args)
    path = noop.record_path(tmp_path, ["--release"])
    first = path.stat()
    noop.remember(*args)
    assert path.stat().st_ino == first.st_ino and path.stat().st_mtime_ns == first.st_mtime_ns
    fresh = path.with_name(path.name + noop.FRESH_SUFFIX)         # the launcher's, beside it
    fresh.write_text("x")
    noop.forget(tmp_path, ["--release"])
    assert not path.exists() and not fresh.exists()


def test_python_continues_a_running_pass_1(tmp_path):
    """What the launcher read (a file, its last line cut short), then the rest
    from cargo's stdout; cargo, stopped by the launcher, is continued."""
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdout.write('ial\\nthird\\n'); sys.exit(3)"],
                            stdout=subprocess.PIPE, pass_fds=())
    os.kill(proc.pid, 19)                                   # SIGSTOP, as the launcher does
    head = tmp_path / "pass1-x"
    head.write_text("first\nsecond part")
    fd = os.dup(proc.stdout.fileno())
    proc.stdout.close()
    h = noop.Handover.parse(f"x\t{proc.pid}\t{fd}\t0\t{head}\t{'0' * 16}\t123.5")
    assert h is not None and h.started == 123.5
    assert list(h.lines()) == ["first\n", "second partial\n", "third\n"]
    assert not head.exists()
    assert h.wait() == 3
    proc.returncode = 3         # reaped by the hand-over


def test_a_finished_pass_1_is_handed_over_with_its_status(tmp_path):
    head = tmp_path / "pass1-y"
    head.write_text("a\nb\n")
    h = noop.Handover.parse(f"y\t0\t-1\t101\t{head}\t{'0' * 16}\t0")
    assert list(h.lines()) == ["a\n", "b\n"] and h.wait() == 101
    h.discard()                 # already done: nothing to wait for
    assert noop.Handover.parse("garbage") is None


def test_the_launcher_source_has_every_name_filled_in():
    import re
    text = noop.launcher_source()
    assert not re.search(r"@[A-Z_]+@", "".join(line for line in text.splitlines() if not line.lstrip().startswith("//")))
    assert f'"{noop.MAGIC}"' in text and noop.HANDOVER_ENV in text and f'"{noop.FRESH_SUFFIX}"' in text


def test_the_launchers_own_tests_pass(tmp_path):
    """How it reads cargo's JSON, dep-info and build script output, and its
    record of a no-op without cargo (the tests at the end of fast.rs)."""
    src = tmp_path / "fast.rs"
    src.write_text(noop.launcher_source())
    built = subprocess.run(["rustc", "--edition", "2021", "--test", "-o", tmp_path / "tests", src],
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    ran = subprocess.run([tmp_path / "tests"], capture_output=True, text=True, env={**os.environ, "TMPDIR": str(tmp_path)})
    assert ran.returncode == 0 and "7 passed" in ran.stdout, ran.stdout + ran.stderr


def test_a_launcher_that_does_not_compile_is_stamped_and_not_tried_again(tmp_path, monkeypatch):
    from cargo_mlir.term import Shell
    fake = tmp_path / "fakebin"
    fake.mkdir()
    (fake / "rustc").write_text("#!/bin/sh\necho 'error: no linker' >&2\nexit 1\n")
    (fake / "rustc").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    noop.ensure_launcher(Shell(verbosity=-1), bin_dir)
    stamp = bin_dir / (noop.LAUNCHER + ".stamp")
    assert stamp.read_text().startswith("failed ") and not (bin_dir / noop.LAUNCHER).exists()
    (fake / "rustc").write_text("#!/bin/sh\ntouch " + str(tmp_path / "ran") + "\nexit 1\n")
    noop.ensure_launcher(Shell(verbosity=-1), bin_dir)
    assert not (tmp_path / "ran").exists()          # the same source: not tried again
    assert sorted(p.name for p in bin_dir.iterdir()) == [noop.LAUNCHER + ".stamp"]     # no temporary left
