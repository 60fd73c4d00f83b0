"""cargo's messages in pass 1. Pass 1 runs with `--message-format=json…` and
its stdout (the JSON stream) comes to us: pass 2 (cargo's own build, run or
test, whose artifacts are the final ones) prints every diagnostic again (cargo
replays the cached ones of fresh units), so pass 1's messages are shown only
when pass 1 fails, live from its first error on (the warnings before it too, in
order). Then the user sees them once, as they asked for them: rendered on
stderr, or the JSON lines on stdout. The error rustc gives for an `offload!`
naming no kernel names the kernel the user wrote, not the macros' internal
`__cargo_mlir_launch_<kernel>`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Callable, TextIO

from cargo_mlir.abi import LAUNCH_PREFIX      # the macros' wrapper symbols

_LAUNCH = re.compile(re.escape(LAUNCH_PREFIX) + r"(\w+)")
_NOT_FOUND = re.compile(r"cannot find function `(?:[\w:]*::)?" + re.escape(LAUNCH_PREFIX) + r"(\w+)`")

# the --message-format values that ask for JSON on stdout, and the modifiers
JSON_FORMATS = ("json", "json-diagnostic-short", "json-diagnostic-rendered-ansi", "json-render-diagnostics")


@dataclass(frozen=True)
class Format:
    """What the user asked cargo for: `json` (lines on stdout), `short` (short
    rendered diagnostics), `ansi` (rendered with colours), `render` (JSON, but
    diagnostics rendered on stderr: json-render-diagnostics)."""
    json: bool = False
    short: bool = False
    ansi: bool = False
    render: bool = False

    def pass_1_flag(self, color: bool) -> str:
        values = ["json"]
        if self.short:
            values.append("json-diagnostic-short")
        if self.ansi or (color and (not self.json or self.render)):
            values.append("json-diagnostic-rendered-ansi")
        return "--message-format=" + ",".join(values)


def split_format(cargo_args: tuple[str, ...]) -> tuple[Format, list[str]]:
    """The user's --message-format (any number, comma-separated values) and
    the other arguments."""
    values: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(cargo_args):
        a = cargo_args[i]
        if a == "--message-format" and i + 1 < len(cargo_args):
            values += cargo_args[i + 1].split(",")
            i += 2
            continue
        if a.startswith("--message-format="):
            values += a.split("=", 1)[1].split(",")
        else:
            rest.append(a)
        i += 1
    values = [v.strip() for v in values if v.strip()]
    return Format(json=any(v in JSON_FORMATS for v in values),
                  short=any(v in ("short", "json-diagnostic-short") for v in values),
                  ansi="json-diagnostic-rendered-ansi" in values,
                  render="json-render-diagnostics" in values), rest


def name_kernels(text: str) -> str:
    """`__cargo_mlir_launch_saxpy` → `saxpy` (and rustc's "cannot find function"
    for it says that an #[offload_kernel] function is missing)."""
    text = _NOT_FOUND.sub(lambda m: f"cannot find #[offload_kernel] function `{m[1]}`", text)
    return _LAUNCH.sub(r"\1", text)


def _rewrite(value):
    if isinstance(value, str):
        return name_kernels(value) if LAUNCH_PREFIX in value else value
    if isinstance(value, list):
        return [_rewrite(v) for v in value]
    if isinstance(value, dict):
        return {k: _rewrite(v) for k, v in value.items()}
    return value


def _is_error(msg: dict) -> bool:
    return msg.get("reason") == "compiler-message" and \
        str((msg.get("message") or {}).get("level", "")).startswith("error")


@dataclass
class Pass1:
    """Reads pass 1's JSON stream: held back until its first error, then shown."""
    fmt: Format
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    held: list[tuple[str, dict | None]] = field(default_factory=list)
    live: bool = False
    shown_something: bool = False       # messages the user would see (pass 2 shows them again)

    def feed(self, line: str) -> None:
        line = line.rstrip("\n")
        try:
            msg = json.loads(line) if line.startswith("{") else None
        except ValueError:
            msg = None
        if isinstance(msg, dict) and LAUNCH_PREFIX in line:
            msg = _rewrite(msg)
            line = json.dumps(msg, separators=(",", ":"))
        if msg is None or not isinstance(msg, dict):
            msg = None
        if self._visible(msg):
            self.shown_something = True
        if not self.live and msg is not None and _is_error(msg):
            self.live = True
            self.flush()
        if self.live:
            self._show(line, msg)
        else:
            self.held.append((line, msg))

    def _visible(self, msg: dict | None) -> bool:
        if self.fmt.json and not self.fmt.render:
            return True
        return msg is None or msg.get("reason") == "compiler-message"

    def flush(self) -> None:
        """Show what was held back (pass 1 failed: pass 2 will not show it)."""
        held, self.held = self.held, []
        for line, msg in held:
            self._show(line, msg)

    def _show(self, line: str, msg: dict | None) -> None:
        if msg is None:                 # not cargo's JSON: stdout as it came
            self.stdout.write(line + "\n")
            self.stdout.flush()
            return
        if msg.get("reason") == "compiler-message" and (not self.fmt.json or self.fmt.render):
            rendered = (msg.get("message") or {}).get("rendered")
            if rendered:
                self.stderr.write(rendered if rendered.endswith("\n") else rendered + "\n")
                self.stderr.flush()
            return
        if self.fmt.json:
            self.stdout.write(line + "\n")
            self.stdout.flush()


def run_pass_1(argv: list[str], env: dict[str, str], reader: Pass1,
               popen: Callable[..., subprocess.Popen] = subprocess.Popen) -> int:
    """cargo with its stdout read line by line (stderr, cargo's status, as it is)."""
    from cargo_mlir.errors import ToolError
    try:
        proc = popen(argv, env=env, stdout=subprocess.PIPE, close_fds=False, text=True, errors="replace",
                     bufsize=1)
    except OSError as exc:
        raise ToolError(" ".join(argv), returncode=None, output=str(exc)) from None
    with proc:
        try:
            for line in proc.stdout:
                reader.feed(line)
            return proc.wait()
        except BaseException:
            proc.kill()
            raise
