"""How cargo compiled a library crate, as the wrapper scripts recorded it
(units._record_function): the device code of a kernel that calls a function
of another crate (a workspace member, a path or a registry dependency) needs
that crate's own bitcode, made by the same rustc command with the device flags."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cargo_mlir.cargo import units


@dataclass(frozen=True)
class RustcRecord:
    stem: str                          # `lib<crate><extra-filename>`: the name of its outputs
    cwd: str
    command: tuple[str, ...]           # rustc (or the program cargo named), then its arguments
    env: tuple[tuple[str, str], ...]   # units.RECORDED_ENV, as cargo set them

    @property
    def rustc(self) -> str:
        return self.command[0]

    @property
    def args(self) -> list[str]:
        return list(self.command[1:])

    @property
    def crate_name(self) -> str:
        return _value(self.args, "--crate-name") or self.stem

    def environ(self) -> dict[str, str]:
        """cargo's variables for this crate, plus its build script's `cargo:rustc-env`
        (read from the script's output next to OUT_DIR, as cargo passes them)."""
        env = dict(self.env)
        out_dir = env.get("OUT_DIR")
        if out_dir:
            try:
                lines = (Path(out_dir).parent / "output").read_text(errors="replace").splitlines()
            except OSError:
                lines = []
            for line in lines:
                for prefix in ("cargo::rustc-env=", "cargo:rustc-env="):
                    if line.startswith(prefix) and "=" in line[len(prefix):]:
                        k, v = line[len(prefix):].split("=", 1)
                        env[k] = v
        return env


def _value(args: list[str], flag: str) -> str | None:
    for i, a in enumerate(args):
        if a == flag and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(flag + "="):
            return a[len(flag) + 1:]
    return None


def record_path(state: Path, stem: str) -> Path:
    return units.rustc_records_dir(state) / stem


def parse(stem: str, data: bytes) -> RustcRecord | None:
    """None for anything the scripts did not write whole (cut short, garbage)."""
    parts = data.split(b"\0")
    try:
        text = [p.decode() for p in parts]
    except UnicodeDecodeError:
        text = [p.decode(errors="surrogateescape") for p in parts]
    if len(text) < 5 or text[0] != units.RECORD_MAGIC or text[-1] != "" or text[-2] != "end":
        return None
    try:
        n = int(text[2])
    except ValueError:
        return None
    if n < 1 or 3 + n > len(text) - 2:
        return None
    command = tuple(text[3:3 + n])
    env = []
    for item in text[3 + n:-2]:
        k, sep, v = item.partition("=")
        if not sep or k not in units.RECORDED_ENV:
            return None
        env.append((k, v))
    return RustcRecord(stem, text[1], command, tuple(env))


def read(state: Path, stem: str) -> RustcRecord | None:
    try:
        data = record_path(state, stem).read_bytes()
    except OSError:
        return None
    return parse(stem, data)


def stem_of(rlib: Path) -> str:
    """`libfoo-0123abcd` for …/libfoo-0123abcd.rlib (or .rmeta)."""
    name = os.path.basename(rlib)
    for ext in (".rlib", ".rmeta"):
        if name.endswith(ext):
            return name[:-len(ext)]
    return name
