"""What `bootstrap build` needs before it configures, checked all at once:
programs on PATH (installed with apt-get as root, as `bootstrap install` does,
otherwise the exact command), and for the Python bindings the modules MLIR's
CMake imports, in the interpreter that will use the bindings (pip-installed
when that is cargo-mlir's own virtual environment and we may write it,
otherwise the exact command). One error lists everything that is missing."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
from dataclasses import dataclass

from cargo_mlir.bootstrap import install
from cargo_mlir.errors import CargoMlirError
from cargo_mlir.process import cmd
from cargo_mlir.term import Shell


@dataclass(frozen=True)
class Program:
    what: str                   # how a message names it
    names: tuple[str, ...]      # any of these on PATH will do
    env: str | None             # CMake takes this variable first (CC, CXX)
    package: str                # the Debian package that provides it


PROGRAMS = (
    Program("cmake", ("cmake",), None, "cmake"),
    Program("ninja", ("ninja",), None, "ninja-build"),
    Program("a C compiler (cc, gcc or clang)", ("cc", "gcc", "clang"), "CC", "gcc"),
    Program("a C++ compiler (c++, g++ or clang++)", ("c++", "g++", "clang++"), "CXX", "g++"),
)


@dataclass(frozen=True)
class Module:
    name: str                   # the import name
    requirement: str            # what pip installs
    minimum: tuple[int, ...] = ()


# mlir/python/requirements.txt of LLVM 22 ("BUILD dependencies", and numpy, which
# MLIR's CMake looks for with find_package(Python3 ... NumPy)); 3.x is untested there
MODULES = (
    Module("nanobind", "nanobind>=2.9,<3", (2, 9)),
    Module("numpy", "numpy"),
    Module("typing_extensions", "typing_extensions>=4.12.2", (4, 12, 2)),
)

# run in the target interpreter: which modules it has (and their versions), and whether it is a venv
_PROBE = """\
import importlib, importlib.metadata, json, sys
found = {}
for name in sys.argv[1:]:
    try:
        mod = importlib.import_module(name)
    except Exception:
        found[name] = None
        continue
    try:
        found[name] = importlib.metadata.version(name)
    except Exception:
        found[name] = getattr(mod, "__version__", "0")
print(json.dumps({"prefix": sys.prefix, "venv": sys.prefix != sys.base_prefix, "found": found}))
"""


def missing_programs() -> list[Program]:
    def present(p: Program) -> bool:
        override = os.environ.get(p.env) if p.env else None
        if override:
            return shutil.which(shlex.split(override)[0]) is not None
        return any(shutil.which(n) for n in p.names)
    return [p for p in PROGRAMS if not present(p)]


def parse_version(text: str) -> tuple[int, ...]:
    """(2, 9, 2) from 2.9.2; a suffix (rc1, .dev0) ends it."""
    parts = []
    for piece in text.split("."):
        m = re.match(r"\d+", piece)
        if not m:
            break
        parts.append(int(m.group()))
        if m.end() < len(piece):
            break
    return tuple(parts)


@dataclass(frozen=True)
class Interpreter:
    python: str
    prefix: str
    venv: bool
    found: dict[str, str | None]

    def missing(self) -> list[tuple[Module, str | None]]:
        """(module, the version it has if too old)."""
        out = []
        for m in MODULES:
            version = self.found.get(m.name)
            if version is None:
                out.append((m, None))
            elif m.minimum and parse_version(version) < m.minimum:
                out.append((m, version))
        return out

    @property
    def ours(self) -> bool:
        """cargo-mlir's own environment, a venv we may write into."""
        return (self.venv and os.path.realpath(self.prefix) == os.path.realpath(sys.prefix)
                and os.access(self.prefix, os.W_OK))


def probe_interpreter(python: str) -> Interpreter:
    result = cmd(python, "-c", _PROBE, *(m.name for m in MODULES)).run(
        check=True, what="checking the Python for MLIR's bindings", hint="pass --no-python-bindings to build without them")
    data = json.loads(result.stdout.strip().splitlines()[-1])
    return Interpreter(python, data["prefix"], data["venv"], data["found"])


def pip_command(python: str, modules: list[Module]) -> list[str]:
    return [python, "-m", "pip", "install", *(m.requirement for m in modules)]


def _names(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _module_text(missing: list[tuple[Module, str | None]]) -> str:
    return _names([m.name if have is None else f"{m.requirement} (it has {m.name} {have})" for m, have in missing])


def check(shell: Shell, python: str, *, bindings: bool, may_install: bool = True) -> None:
    """Install what may be installed, then raise one error for what is still missing."""
    programs = missing_programs()
    if programs and may_install and shutil.which("apt-get") and os.geteuid() == 0:
        install.apt_install(shell, [p.package for p in programs], why="to build MLIR")
        programs = missing_programs()
    interpreter = probe_interpreter(python) if bindings else None
    modules = interpreter.missing() if interpreter else []
    if modules and may_install and interpreter.ours:
        wanted = [m for m, _ in modules]
        shell.status("Installing", f"{_names([m.requirement for m in wanted])} into {interpreter.prefix} "
                                   "(MLIR's Python bindings need them)")
        cmd(*pip_command(python, wanted)).run(stream=shell.verbosity > 0, what="installing Python modules",
                                               hint="pass --no-python-bindings to build without the Python bindings")
        modules = probe_interpreter(python).missing()
    if not programs and not modules:
        return
    problems, fixes = [], []
    if programs:
        verb = "is" if len(programs) == 1 else "are"
        problems.append(f"{_names([p.what for p in programs])}, which {verb} not on PATH")
        apt = " ".join(install.apt_command([p.package for p in programs]))
        fixes.append(apt if os.geteuid() == 0 else f"sudo {apt}")
    if modules:
        problems.append(f"{_module_text(modules)} in {python} (for MLIR's Python bindings)")
        fixes.append(shlex.join(pip_command(python, [m for m, _ in modules])))
    hint = "run: " + "\n      ".join(fixes)
    if modules:
        hint += "\nor build without the Python bindings: --no-python-bindings"
    raise CargoMlirError(f"building MLIR needs {'; and '.join(problems)}", hint=hint)
