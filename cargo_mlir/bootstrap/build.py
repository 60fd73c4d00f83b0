"""`cargo mlir bootstrap build`: build MLIR from an llvm-project tree with CMake +
Ninja, following the recipe in bootstrap/mlir.cmake, install it into a prefix and
record the toolchain. Every requirement is checked (and where possible
installed) before configuring. A rerun resumes: configure is skipped while the
build directory's stamp matches the source, recipe and options; Ninja redoes
only what is missing. Ctrl-C or SIGTERM stops Ninja and all its jobs and
prints the command that resumes."""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import tomlkit

from cargo_mlir import resources
from cargo_mlir.bootstrap import requirements
from cargo_mlir.bootstrap.progress import NINJA_STATUS, Progress
from cargo_mlir.toolchain import record as toolchain_record
from cargo_mlir.toolchain import tools
from cargo_mlir.errors import CargoMlirError, ToolError
from cargo_mlir.fsutil import data_home, sha256_text, write_atomic
from cargo_mlir.process import Command, Interrupted, cmd, interruptible
from cargo_mlir.term import YELLOW, Shell

RECIPE = "mlir.cmake"
STAMP = "cargo-mlir-build.toml"
LOG = "cargo-mlir-build.log"


# ---------------------------------------------------------------- pure parsers

_MAJOR = re.compile(r"set\(\s*LLVM_VERSION_MAJOR\s+\"?(\d+)\"?\s*\)")
_CACHE_SET = re.compile(r"^\s*set\(\s*(\w+)\s+\"([^\"]*)\"\s+CACHE\b", re.MULTILINE)


def parse_llvm_major(text: str) -> int | None:
    """LLVM_VERSION_MAJOR from cmake/Modules/LLVMVersion.cmake (LLVM 18+) or
    llvm/CMakeLists.txt (older trees)."""
    m = _MAJOR.search(text)
    return int(m.group(1)) if m else None


def recipe_values(text: str) -> dict[str, str]:
    """The `set(NAME "value" CACHE ...)` entries of a recipe."""
    return dict(_CACHE_SET.findall(text))


def cache_source_dir(text: str) -> str | None:
    """The source directory a CMakeCache.txt was configured from."""
    m = re.search(r"^CMAKE_HOME_DIRECTORY:INTERNAL=(.*)$", text, re.MULTILINE)
    return m.group(1).strip() if m else None


# ---------------------------------------------------------------- the tree

def recipe_path() -> Path:
    return resources.bootstrap_dir() / RECIPE


def needed_dirs(recipe_text: str) -> list[str]:
    """llvm/ and the top-level cmake/ and third-party/ it includes, the projects,
    and runtimes/ (the runtimes' own top level) with the runtimes."""
    values = recipe_values(recipe_text)
    projects = [d for d in values.get("LLVM_ENABLE_PROJECTS", "").split(";") if d]
    runtimes = [d for d in values.get("LLVM_ENABLE_RUNTIMES", "").split(";") if d]
    return ["llvm", "cmake", "third-party", *projects, *(["runtimes"] if runtimes else []), *runtimes]


def check_tree(root: Path, recipe_text: str) -> None:
    if not root.is_dir():
        raise CargoMlirError(f"--llvm-project {root}: no such directory",
                             hint="pass the root of an llvm-project checkout (e.g. a rust checkout's src/llvm-project)")
    if not (root / "llvm" / "CMakeLists.txt").is_file():
        inside = root.resolve().name == "llvm" and (root / "CMakeLists.txt").is_file()
        hint = f"pass its parent, {root.parent}" if inside else "pass the root of an llvm-project checkout"
        raise CargoMlirError(f"{root} is not an llvm-project tree: it has no llvm/CMakeLists.txt", hint=hint)
    missing = [d for d in needed_dirs(recipe_text) if not (root / d).is_dir()]
    if missing:
        raise CargoMlirError(f"the llvm-project tree at {root} lacks {', '.join(d + '/' for d in missing)}, "
                             f"which the recipe {recipe_path()} builds",
                             hint="use a full checkout (a sparse or partial clone leaves these out)")


def read_llvm_major(root: Path) -> int:
    for rel in ("cmake/Modules/LLVMVersion.cmake", "llvm/CMakeLists.txt"):
        path = root / rel
        if path.is_file() and (major := parse_llvm_major(path.read_text(errors="replace"))) is not None:
            return major
    raise CargoMlirError(f"cannot find LLVM_VERSION_MAJOR in {root}/cmake/Modules/LLVMVersion.cmake "
                         f"or {root}/llvm/CMakeLists.txt",
                         hint="pass the root of an llvm-project checkout")


def check_major(tree: int, rustc: tools.RustcInfo, *, force: bool, shell: Shell, root: Path) -> None:
    if tree == rustc.llvm_major:
        return
    message = f"the llvm-project tree at {root} is LLVM {tree}, but rustc {rustc.release} uses LLVM {rustc.llvm_major}"
    if force:
        shell.warn(f"{message}; building it anyway (--force)")
        return
    raise CargoMlirError(message, hint=f"use an llvm-project tree of LLVM {rustc.llvm_major} (a rust checkout's "
                                       "src/llvm-project matches exactly), or pass --force to build this one anyway")


# ---------------------------------------------------------------- the plan

@dataclass(frozen=True)
class Plan:
    source: Path          # the llvm-project root
    build_dir: Path
    prefix: Path
    recipe: Path
    jobs: int | None = None
    python: str = sys.executable
    bindings: bool = True       # MLIR's Python bindings

    def options(self) -> dict[str, str]:
        # Python3_EXECUTABLE: the bindings must be built for the Python that runs cargo-mlir
        opts = {"CMAKE_INSTALL_PREFIX": str(self.prefix), "Python3_EXECUTABLE": self.python}
        if not self.bindings:
            opts["MLIR_ENABLE_BINDINGS_PYTHON"] = "OFF"
        return opts

    def configure_command(self) -> Command:
        defines = [f"-D{k}={v}" for k, v in self.options().items()]
        return cmd("cmake", "-G", "Ninja", "-S", self.source / "llvm", "-B", self.build_dir,
                   "-C", self.recipe, *defines)

    def ninja_command(self, target: str | None = None) -> Command:
        jobs = ("-j", str(self.jobs)) if self.jobs else ()
        # our progress parser reads `[N/M]`, whatever the user's NINJA_STATUS
        return cmd("ninja", "-C", self.build_dir, *jobs, *([target] if target else [])) \
            .with_env(NINJA_STATUS=NINJA_STATUS)

    def count_command(self) -> Command:
        # every command the default target needs, built or not: one line each
        return cmd("ninja", "-C", self.build_dir, "-t", "commands")

    def stamp_key(self) -> str:
        opts = ";".join(f"{k}={v}" for k, v in sorted(self.options().items()))
        return sha256_text(str(self.source.resolve()), self.recipe.read_text(), opts)


def plan_from_args(args: argparse.Namespace, source: Path, major: int) -> Plan:
    build_dir = Path(args.build_dir) if args.build_dir else source / "build-cargo-mlir"
    prefix = Path(args.prefix) if args.prefix else data_home() / f"llvm-{major}"
    return Plan(source.resolve(), build_dir.resolve(), prefix.resolve(), recipe_path(), args.jobs,
                bindings=not getattr(args, "no_python_bindings", False))


def resume_command(args: argparse.Namespace, plan: Plan) -> str:
    """The command that picks up where this one stopped, runnable from anywhere."""
    argv = ["cargo", "mlir", "bootstrap", "build", "--llvm-project", str(plan.source)]
    if args.prefix:
        argv += ["--prefix", str(plan.prefix)]
    if args.build_dir:
        argv += ["--build-dir", str(plan.build_dir)]
    if args.jobs:
        argv += ["-j", str(args.jobs)]
    argv += ["--force"] * bool(args.force) + ["--no-python-bindings"] * (not plan.bindings)
    return shlex.join(argv)


# ---------------------------------------------------------------- resume

def needs_configure(plan: Plan) -> bool:
    """False when the build dir was configured from this source with this recipe
    and these options; an error when it belongs to another source tree."""
    cache = plan.build_dir / "CMakeCache.txt"
    if not cache.is_file():
        return True
    configured = cache_source_dir(cache.read_text(errors="replace"))
    if configured and Path(configured).resolve() != (plan.source / "llvm").resolve():
        raise CargoMlirError(f"the build directory {plan.build_dir} was configured from {configured}, "
                             f"not from {plan.source / 'llvm'}",
                             hint="pass another --build-dir, or delete that directory")
    try:
        return tomlkit.parse((plan.build_dir / STAMP).read_text()).get("key") != plan.stamp_key()
    except (OSError, tomlkit.exceptions.ParseError):
        return True


def write_stamp(plan: Plan) -> None:
    doc = tomlkit.document()
    doc.add(tomlkit.comment("written by cargo-mlir bootstrap build: a changed key makes it reconfigure"))
    doc["key"] = plan.stamp_key()
    doc["source"] = str(plan.source)
    doc["recipe"] = str(plan.recipe)
    doc["options"] = plan.options()
    write_atomic(plan.build_dir / STAMP, tomlkit.dumps(doc))


def count_steps(plan: Plan) -> int | None:
    """The steps of the whole build, done or not (None if Ninja cannot say).
    `ninja -t commands` reads only the manifest: on LLVM it takes about a second,
    far less than a dry run (`ninja -n`), which stats every file; the difference
    to the M of this run's `[N/M]` is what earlier runs built."""
    count = 0

    def one(_line: str) -> None:
        nonlocal count
        count += 1
    try:
        plan.count_command().stream_lines(one, keep=1, new_session=True)
    except ToolError:
        return None
    return count or None


def stream(plan: Plan, shell: Shell, command: Command, what: str, *, progress: bool = True,
           all_steps: int | None = None) -> None:
    """Run a step of the build with its output in the log (line-buffered, so that
    not even a SIGKILL loses much) and its progress on the terminal. When
    interrupted, the process tree is stopped, its last lines logged, and the
    `Interrupted` carries how far it got."""
    log_path = plan.build_dir / LOG
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a", buffering=1) as log:
        log.write(f"$ {command}\n")
        shown = Progress(shell, "Building", "MLIR", log, show=progress, all_steps=all_steps)
        try:
            command.stream_lines(shown, what=what, new_session=True,
                                 hint=f"the whole output is in {log_path}; fix the cause and rerun the same "
                                      "command: the build resumes where it stopped")
        except Interrupted as stop:
            stop.where = shown.where()
            log.write(f"cargo-mlir: stopped by {stop} while {what}"
                      f"{f' at {stop.where}' if stop.where else ''}\n")
            raise
        finally:
            shown.finish()


def configure(plan: Plan, shell: Shell) -> bool:
    """Configure unless the stamp matches; return whether it ran."""
    if not needs_configure(plan):
        shell.status("Fresh", f"configuration in {plan.build_dir}")
        return False
    # the stamp goes first, so a configure that fails halfway is never taken as done;
    # `-C` never overrides entries already in a cache, so that starts afresh too
    # (the objects stay: Ninja rebuilds only what the new options change)
    for stale in (plan.build_dir / STAMP, plan.build_dir / "CMakeCache.txt"):
        stale.unlink(missing_ok=True)
    shell.status("Configuring", f"MLIR from {plan.source} in {plan.build_dir}")
    stream(plan, shell, plan.configure_command(), "configuring MLIR", progress=False)
    write_stamp(plan)
    return True


# ---------------------------------------------------------------- record

def find_built_library(prefix: Path, soname: str) -> Path | None:
    """The offload runtime installs into lib/<triple>/ (per-target runtime dir)."""
    for d in [prefix / "lib", *sorted(p for p in (prefix / "lib").glob("*") if p.is_dir())]:
        hits = sorted(d.glob(f"{soname}*"))
        if hits:
            return max(hits, key=lambda p: len(p.name))     # the fully versioned file
    return None


def record(plan: Plan, rustc: tools.RustcInfo, major: int) -> Path:
    found: dict[str, tools.Found] = {}
    missing = []
    for spec in tools.TOOLS:
        if not spec.llvm:           # ptxas and friends come from elsewhere
            if isinstance(r := tools.find_tool(spec, rustc.llvm_major), tools.Found):
                found[spec.key] = r
            continue
        path = plan.prefix / "bin" / spec.name
        if path.is_file():
            found[spec.key] = tools.Found(spec.key, str(path), tools.probe_version(str(path)))
        elif spec.required:
            missing.append(spec.name)
    if missing:
        raise CargoMlirError(f"the build installed no {', '.join(missing)} into {plan.prefix / 'bin'}",
                             hint=f"check that the recipe {plan.recipe} enables the projects that provide them")
    libraries = {}
    for key, soname in tools.LIBRARIES:
        if lib := find_built_library(plan.prefix, soname):
            libraries[key] = tools.Found(key, str(lib), lib.name.partition(".so.")[2] or str(major))
    tc = toolchain_record.Toolchain(rustc, found, source=f"built:{plan.source}", libraries=libraries,
                                    prefix=str(plan.prefix))
    return toolchain_record.save(tc)


# ---------------------------------------------------------------- command

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--llvm-project", required=True, metavar="DIR",
                   help="root of an llvm-project checkout (a rust checkout's src/llvm-project matches rustc)")
    p.add_argument("--prefix", metavar="DIR", help="install here (default: $XDG_DATA_HOME/cargo-mlir/llvm-<major>)")
    p.add_argument("--build-dir", metavar="DIR", help="build here (default: DIR/build-cargo-mlir)")
    p.add_argument("-j", "--jobs", type=_positive, metavar="N", help="parallel jobs (default: Ninja's)")
    p.add_argument("--force", action="store_true", help="build even if the tree's LLVM major differs from rustc's")
    p.add_argument("--no-python-bindings", action="store_true",
                   help="build without MLIR's Python bindings (MLIR_ENABLE_BINDINGS_PYTHON=OFF), so without "
                        "nanobind, numpy and typing_extensions; by default they are built for the Python that "
                        "runs cargo-mlir, which gets those modules with pip if it is cargo-mlir's own venv")


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return int(text)


def run(shell: Shell, args: argparse.Namespace) -> int:
    source = Path(args.llvm_project).expanduser()
    recipe_text = recipe_path().read_text()
    check_tree(source, recipe_text)
    major = read_llvm_major(source)
    rustc = tools.rustc_info()
    check_major(major, rustc, force=args.force, shell=shell, root=source)
    plan = plan_from_args(args, source, major)
    stage = "before building"
    try:
        with interruptible():
            requirements.check(shell, plan.python, bindings=plan.bindings)
            stage = "while configuring"
            configure(plan, shell)
            stage = "while building"
            stream(plan, shell, plan.ninja_command(), "building MLIR", all_steps=count_steps(plan))
            stage = "while installing"
            shell.status("Installing", f"MLIR into {plan.prefix}")
            stream(plan, shell, plan.ninja_command("install"), "installing MLIR", progress=False)
    except Interrupted as stop:
        where = getattr(stop, "where", None)
        shell.status("Interrupted", f"{f'at {where}' if where else stage}; resume with: "
                                    f"{resume_command(args, plan)}", color=YELLOW)
        return stop.exit_code
    path = record(plan, rustc, major)
    shell.status("Finished", f"MLIR {major} in {plan.prefix}; toolchain recorded in {path}")
    bindings = plan.prefix / "python_packages" / "mlir_core"
    if bindings.is_dir():
        shell.note(f"for these MLIR Python bindings: export PYTHONPATH={bindings}", verbose=False)
    return 0
