"""Pass 1's JSON stream (cargo/messages.py): held back while pass 1 succeeds
(pass 2 shows it), shown from the first error on; the user's --message-format
kept apart from pass 1's; the macros' launch symbols named as the kernel. And
an unwritable target/cargo-mlir is a clear error in the wrapper."""

from __future__ import annotations

import errno
import io
import json
from pathlib import Path

import pytest

from cargo_mlir.cargo import messages, units, wrapper


def line(reason="compiler-message", level="warning", rendered="warning: x\n", **extra) -> str:
    msg = {"reason": reason, **extra}
    if reason == "compiler-message":
        msg["message"] = {"level": level, "message": rendered.split("\n")[0], "rendered": rendered}
    return json.dumps(msg)


def reader(fmt=messages.Format()):
    return messages.Pass1(fmt, stdout=io.StringIO(), stderr=io.StringIO())


def test_warnings_are_held_while_pass_1_succeeds():
    r = reader()
    r.feed(line())
    r.feed(line("compiler-artifact"))
    r.feed(line("build-finished", success=True))
    assert r.stdout.getvalue() == r.stderr.getvalue() == ""
    assert r.shown_something          # pass 2 must run to show the warning


def test_artifacts_alone_need_no_pass_2_in_human_mode():
    r = reader()
    r.feed(line("compiler-artifact"))
    assert not r.shown_something


def test_from_the_first_error_on_everything_is_shown_in_order():
    r = reader()
    r.feed(line(rendered="warning: first\n"))
    r.feed(line(level="error", rendered="error: second\n"))
    r.feed(line(rendered="warning: third\n"))
    r.feed(line("build-finished", success=False))
    assert r.stderr.getvalue() == "warning: first\nerror: second\nwarning: third\n"
    assert r.stdout.getvalue() == ""


def test_json_mode_forwards_the_lines_on_failure_only_once():
    r = reader(messages.Format(json=True))
    r.feed(line("compiler-artifact"))
    r.feed(line(level="error"))
    r.feed(line("build-finished", success=False))
    r.flush()
    out = [json.loads(l)["reason"] for l in r.stdout.getvalue().splitlines()]
    assert out == ["compiler-artifact", "compiler-message", "build-finished"]


@pytest.mark.parametrize("given, fmt, flag", [
    ((), messages.Format(), "--message-format=json"),
    (("--message-format", "short"), messages.Format(short=True), "--message-format=json,json-diagnostic-short"),
    (("--message-format=json-render-diagnostics",), messages.Format(json=True, render=True),
     "--message-format=json"),
    (("--message-format=json,json-diagnostic-rendered-ansi",), messages.Format(json=True, ansi=True),
     "--message-format=json,json-diagnostic-rendered-ansi"),
])
def test_the_users_message_format_and_pass_1s(given, fmt, flag):
    got, rest = messages.split_format(("--release", *given, "-p", "app"))
    assert got == fmt and rest == ["--release", "-p", "app"]
    assert got.pass_1_flag(color=False) == flag


def test_pass_1_renders_in_colour_when_the_user_sees_colour():
    assert messages.Format().pass_1_flag(color=True) == "--message-format=json,json-diagnostic-rendered-ansi"
    assert messages.Format(json=True).pass_1_flag(color=True) == "--message-format=json"


def test_launch_symbols_are_named_as_the_kernel():
    text = "cannot find function `__cargo_mlir_launch_saxpyy` in this scope; `a::__cargo_mlir_launch_k`"
    assert messages.name_kernels(text) == "cannot find #[offload_kernel] function `saxpyy` in this scope; `a::k`"
    r = reader()
    r.feed(line(level="error", rendered="error: cannot find function `__cargo_mlir_launch_x` in this scope\n"))
    assert r.stderr.getvalue() == "error: cannot find #[offload_kernel] function `x` in this scope\n"


@pytest.mark.parametrize("code, advice", [
    (errno.ENOSPC, "free some disk space"),
    (errno.EACCES, "writable"),
    (errno.EROFS, "writable"),
    (errno.ENOTDIR, "remove"),
])
def test_the_wrapper_says_what_where_and_how_to_fix_a_broken_state_dir(tmp_path, monkeypatch, capsys, code, advice):
    state = tmp_path / "target" / "cargo-mlir"
    monkeypatch.setenv(units.STATE_ENV, str(state))

    def broken(argv):
        raise OSError(code, "simulated", str(state / "units" / "x.json"))
    monkeypatch.setattr(wrapper, "_main", broken)
    assert wrapper.main(["rustc"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "cannot write cargo-mlir's build state: simulated" in err and str(state / "units") in err
    assert advice in err


def test_the_driver_turns_a_full_state_dir_into_advice(tmp_path):
    from cargo_mlir.build.command import _state_error
    state = tmp_path / "cargo-mlir"
    err = _state_error(OSError(errno.ENOSPC, "No space left on device", str(state / "done.json")), state)
    assert err.message == f"cannot write cargo-mlir's build state: No space left on device: {state / 'done.json'}"
    assert "free some disk space" in err.hint
    assert _state_error(OSError(errno.ENOSPC, "x", str(tmp_path / "elsewhere")), state) is None


@pytest.mark.parametrize("which", [0, 1, 2])
def test_a_garbage_or_missing_wrapper_script_is_written_again(tmp_path, which):
    from cargo_mlir.build.command import wrapper_scripts
    path = wrapper_scripts(tmp_path)[which]
    good = path.read_bytes()
    for garbage in (b"\xff\xfe\x00", b""):
        path.write_bytes(garbage)
        assert wrapper_scripts(tmp_path)[which].read_bytes() == good
    path.unlink()
    path.mkdir()
    (path / "x").write_text("")
    assert wrapper_scripts(tmp_path)[which].read_bytes() == good


def test_a_tool_failure_shows_the_errors_the_tool_reported_not_the_tail_of_its_ir_dump():
    from cargo_mlir.errors import ToolError
    output = "\n".join([
        "/w/lowered.mlir:5:3: error: LibDevice path: /tk/nvvm/libdevice/libdevice.10.bc does not exist",
        "/w/lowered.mlir:5:3: note: see current operation:",
        *(f'  "llvm.op{i}"() : () -> ()' for i in range(500)),
        "/w/lowered.mlir:5:3: error: `ptxas` invocation failed. Log:",
        "ptxas fatal   : Unresolved extern function '__nv_expf'",
    ])
    err = ToolError("mlir-opt x.mlir", returncode=1, output=output, what="serialising kernel `k` for sm_90")
    assert err.message.splitlines() == [
        "serialising kernel `k` for sm_90: `mlir-opt x.mlir` exited with status 1",
        "--- errors it reported ---",
        "/w/lowered.mlir:5:3: error: LibDevice path: /tk/nvvm/libdevice/libdevice.10.bc does not exist",
        "/w/lowered.mlir:5:3: error: `ptxas` invocation failed. Log:",
        "ptxas fatal   : Unresolved extern function '__nv_expf'",
    ]
    plain = ToolError("tool", returncode=2, output="a\nb\n")          # no error lines: the tail
    assert plain.message.endswith("--- output (last 30 lines) ---\na\nb")


def test_a_wrapper_from_cargos_configuration_stays_in_the_chain(tmp_path, monkeypatch):
    from cargo_mlir.cargo import metadata
    (tmp_path / "proj" / ".cargo").mkdir(parents=True)
    (tmp_path / "proj" / ".cargo" / "config.toml").write_text('[build]\nrustc-wrapper = "tools/sccache"\n')
    monkeypatch.chdir(tmp_path / "proj")
    monkeypatch.setenv("CARGO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RUSTC_WRAPPER", raising=False)
    monkeypatch.delenv("RUSTC_WORKSPACE_WRAPPER", raising=False)
    env = metadata.rustc_wrapper_env(tmp_path / "w", tmp_path / "r", tmp_path / "d", tmp_path, 1, {})
    assert env["RUSTC_WRAPPER"] == str(tmp_path / "r") and env["RUSTC_WORKSPACE_WRAPPER"] == str(tmp_path / "w")
    assert env[units.OUTER_CHAIN_ENV] == str(tmp_path / "proj" / "tools" / "sccache")
    assert units.CHAIN_ENV not in env
    monkeypatch.setenv("RUSTC_WRAPPER", "")          # set but empty: no wrapper, as for cargo
    assert units.OUTER_CHAIN_ENV not in metadata.rustc_wrapper_env(tmp_path / "w", tmp_path / "r", tmp_path / "d", tmp_path, 1, {})
