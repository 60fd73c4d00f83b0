"""`cargo mlir bootstrap build` without building LLVM: the parsers on literal
text, the commands it would run, and the whole flow (configure, resume,
reconfigure, install, record) through real CMake and Ninja on a tiny fake
llvm-project tree whose "build" installs stand-in tools."""

from __future__ import annotations

import argparse
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tomlkit

from cargo_mlir.bootstrap import build as bb
from cargo_mlir.bootstrap import progress as bp
from cargo_mlir.bootstrap import requirements as breq
from cargo_mlir.toolchain import tools
from cargo_mlir.errors import CargoMlirError, ToolError
from cargo_mlir.process import cmd
from cargo_mlir.term import Shell

CLI = Path(sys.executable).parent / "cargo-mlir"
needs_cmake = pytest.mark.skipif(not (shutil.which("cmake") and shutil.which("ninja")),
                                 reason="needs cmake and ninja (apt-get install cmake ninja-build)")

LLVM_VERSION_CMAKE = """\
# The LLVM Version number information

if(NOT DEFINED LLVM_VERSION_MAJOR)
  set(LLVM_VERSION_MAJOR 22)
endif()
if(NOT DEFINED LLVM_VERSION_MINOR)
  set(LLVM_VERSION_MINOR 1)
endif()
"""

OLD_LLVM_CMAKELISTS = """\
cmake_minimum_required(VERSION 3.13.4)
if(NOT DEFINED LLVM_VERSION_MAJOR)
  set(LLVM_VERSION_MAJOR 17)
endif()
if(NOT DEFINED LLVM_VERSION_MINOR)
  set(LLVM_VERSION_MINOR 0)
endif()
"""

# A stand-in llvm/CMakeLists.txt: it records what the recipe set, "builds" a
# dozen steps (so Ninja prints [N/M] lines) and installs a script per tool that
# answers --version like LLVM, plus the offload libraries under lib/<triple>/.
FAKE_LLVM = """\
cmake_minimum_required(VERSION 3.20)
project(FakeLLVM NONE)
if(LLVM_TARGETS_TO_BUILD STREQUAL "BROKEN")
  message(FATAL_ERROR "no such target: BROKEN")
endif()
file(WRITE ${{CMAKE_BINARY_DIR}}/seen.txt "${{LLVM_TARGETS_TO_BUILD}}|${{LLVM_ENABLE_PROJECTS}}|${{CMAKE_INSTALL_PREFIX}}")
file(WRITE ${{CMAKE_BINARY_DIR}}/fake-tool "#!/bin/sh\\necho 'LLVM version {major}.1.0'\\n")
file(WRITE ${{CMAKE_BINARY_DIR}}/fake-lib "")
foreach(i RANGE 1 12)
  add_custom_target(step${{i}} ALL COMMAND ${{CMAKE_COMMAND}} -E touch step${{i}}.done)
endforeach()
foreach(t IN ITEMS {tools})
  install(PROGRAMS ${{CMAKE_BINARY_DIR}}/fake-tool DESTINATION bin RENAME ${{t}})
endforeach()
install(FILES ${{CMAKE_BINARY_DIR}}/fake-lib DESTINATION lib/x86_64-unknown-linux-gnu RENAME libomptarget.so.{major}.1)
install(FILES ${{CMAKE_BINARY_DIR}}/fake-lib DESTINATION lib/x86_64-unknown-linux-gnu RENAME libLLVMOffload.so.{major}.1)
"""

LLVM_TOOLS = [s.name for s in tools.TOOLS if s.llvm]


def make_tree(root: Path, major: int, tool_names: list[str] = LLVM_TOOLS) -> Path:
    for d in bb.needed_dirs(bb.recipe_path().read_text()):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "cmake" / "Modules").mkdir(parents=True, exist_ok=True)
    (root / "cmake" / "Modules" / "LLVMVersion.cmake").write_text(LLVM_VERSION_CMAKE.replace("22", str(major)))
    (root / "llvm" / "CMakeLists.txt").write_text(FAKE_LLVM.format(major=major, tools=" ".join(tool_names)))
    return root


def rustc_major() -> int:
    if not shutil.which(os.environ.get("RUSTC", "rustc")):
        pytest.skip("needs rustc")
    return tools.rustc_info().llvm_major


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Keep the toolchain record and the default prefix inside tmp_path."""
    monkeypatch.setenv("CARGO_MLIR_TOOLCHAIN_FILE", str(tmp_path / "toolchain.toml"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path


def quiet_shell(verbosity: int = 0) -> Shell:
    return Shell(verbosity=verbosity, color="never", stream=io.StringIO())


def plan_for(tree: Path, tmp_path: Path, recipe: Path | None = None) -> bb.Plan:
    return bb.Plan(tree.resolve(), (tmp_path / "build").resolve(), (tmp_path / "prefix").resolve(),
                   recipe or bb.recipe_path(), jobs=2)


def args_for(tree: Path, **kw) -> argparse.Namespace:
    # the fake tree has no bindings to build: no nanobind check (and no pip install) in these tests
    base = dict(llvm_project=str(tree), prefix=None, build_dir=None, jobs=None, force=False, no_python_bindings=True)
    return argparse.Namespace(**{**base, **kw})


# ---------------------------------------------------------------- pure parsers

def test_major_from_llvm_version_cmake_and_old_cmakelists():
    assert bb.parse_llvm_major(LLVM_VERSION_CMAKE) == 22
    assert bb.parse_llvm_major(OLD_LLVM_CMAKELISTS) == 17
    assert bb.parse_llvm_major('set( LLVM_VERSION_MAJOR "19" )') == 19
    assert bb.parse_llvm_major("set(LLVM_VERSION_MINOR 1)\nproject(LLVM)") is None


def test_ninja_progress_lines():
    assert bp.ninja_progress("[1234/5678] Building CXX object lib/IR/CMakeFiles/LLVMCore.dir/Core.cpp.o") == (1234, 5678)
    assert bp.ninja_progress("[5678/5678] Linking CXX executable bin/mlir-opt") == (5678, 5678)
    assert bp.ninja_progress("ninja: no work to do.") is None
    assert bp.ninja_progress("  [1/2] indented compiler output") is None
    assert bp.ninja_progress("[0/0] nothing") is None
    assert bp.ninja_progress("FAILED: lib/Foo.o") is None


def test_cache_source_dir():
    cache = "# This is the CMakeCache file.\nCMAKE_HOME_DIRECTORY:INTERNAL=/src/llvm-project/llvm\nX:BOOL=ON\n"
    assert bb.cache_source_dir(cache) == "/src/llvm-project/llvm"
    assert bb.cache_source_dir("X:BOOL=ON\n") is None


def test_recipe_sets_what_the_issue_asks_for():
    values = bb.recipe_values(bb.recipe_path().read_text())
    assert values["LLVM_ENABLE_PROJECTS"].split(";") == ["mlir", "lld", "clang"]
    assert set(values["LLVM_ENABLE_RUNTIMES"].split(";")) == {"offload", "openmp"}
    assert values["LLVM_TARGETS_TO_BUILD"] == "X86;AMDGPU;NVPTX"
    assert values["MLIR_ENABLE_BINDINGS_PYTHON"] == "ON"
    assert values["CMAKE_BUILD_TYPE"] == "Release"
    assert values["LLVM_ENABLE_ASSERTIONS"] == "OFF"
    assert values["LLVM_INSTALL_UTILS"] == "ON"
    assert bb.needed_dirs(bb.recipe_path().read_text()) == ["llvm", "cmake", "third-party", "mlir", "lld", "clang",
                                                            "runtimes", "openmp", "offload"]


# ---------------------------------------------------------------- commands

def test_cmake_and_ninja_argv(tmp_path):
    plan = bb.Plan(Path("/src/lp"), Path("/b"), Path("/opt/llvm-22"), Path("/r/mlir.cmake"), jobs=8, python="/py")
    c = plan.configure_command()
    assert [c.program, *c.args] == ["cmake", "-G", "Ninja", "-S", "/src/lp/llvm", "-B", "/b", "-C",
                                    "/r/mlir.cmake", "-DCMAKE_INSTALL_PREFIX=/opt/llvm-22", "-DPython3_EXECUTABLE=/py"]
    n = plan.ninja_command()
    assert [n.program, *n.args] == ["ninja", "-C", "/b", "-j", "8"]
    assert n.env == {"NINJA_STATUS": "[%f/%t] "}
    i = bb.Plan(Path("/src/lp"), Path("/b"), Path("/p"), Path("/r")).ninja_command("install")
    assert [i.program, *i.args] == ["ninja", "-C", "/b", "install"]


def test_default_build_dir_and_prefix(isolated):
    plan = bb.plan_from_args(args_for(isolated / "lp"), isolated / "lp", 22)
    assert plan.build_dir == (isolated / "lp" / "build-cargo-mlir").resolve()
    assert plan.prefix == (isolated / "data" / "cargo-mlir" / "llvm-22").resolve()
    plan = bb.plan_from_args(args_for(isolated / "lp", prefix=str(isolated / "p"), build_dir=str(isolated / "b"),
                                      jobs=3), isolated / "lp", 22)
    assert (plan.build_dir, plan.prefix, plan.jobs) == ((isolated / "b").resolve(), (isolated / "p").resolve(), 3)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_durations():
    assert [bp.duration(s) for s in (0, 42, 60, 725, 3600, 11220)] == ["0s", "42s", "1m00s", "12m05s", "1h00m",
                                                                      "3h07m"]


def test_progress_without_a_terminal_shows_a_line_a_minute_with_the_estimate():
    shell, log, clock = quiet_shell(), io.StringIO(), Clock()
    progress = bb.Progress(shell, "Building", "MLIR", log, clock=clock)
    for i in range(1, 1001):
        clock.now += 0.5        # 1000 steps in 8m20s
        progress(f"[{i}/1000] Building CXX object o{i}.o")
        progress("warning: unused variable")
    lines = shell.stream.getvalue().splitlines()
    assert lines[0] == "    Building MLIR [1/1000] 0%, 0s"
    assert lines[1] == "    Building MLIR [121/1000] 12%, 1m00s, about 7m19s left"
    assert lines[-1] == "    Building MLIR [1000/1000] 100%, 8m20s"
    assert len(lines) == 10     # the first, one a minute, the last
    assert log.getvalue().count("\n") == 2000       # the log keeps everything


def test_progress_counts_the_steps_built_before_a_resume():
    shell, clock = quiet_shell(), Clock()
    progress = bb.Progress(shell, "Building", "MLIR", io.StringIO(), all_steps=7328, clock=clock)
    for i in range(1, 101):     # this run has 6000 steps left: 1328 were built before
        clock.now += 1.25
        progress(f"[{i}/6000] Building CXX object o{i}.o")
    lines = shell.stream.getvalue().splitlines()
    assert lines[0] == "    Building MLIR [1329/7328] 18%, 1s"
    # the rate is this run's (49 steps in 61.25 s), for the 5951 steps left
    assert lines[1] == "    Building MLIR [1377/7328] 18%, 1m01s, about 2h03m left"
    assert progress.where() == "[1428/7328] (19%)"


def test_progress_on_a_terminal_is_one_line_rewritten_and_cleared():
    shell, clock = quiet_shell(), Clock()
    progress = bb.Progress(shell, "Building", "MLIR", io.StringIO(), live=True, clock=clock)
    for i in range(1, 11):
        clock.now += 1
        progress(f"[{i}/10] cc o{i}.o")
    progress.finish()
    out = shell.stream.getvalue()
    assert "\n" not in out
    assert out.count("\r") == 11 and out.endswith("\r\x1b[K")
    assert "\r    Building MLIR [5/10] 50%, 5s\x1b[K" in out
    assert "\r    Building MLIR [10/10] 100%, 10s\x1b[K" in out


def test_progress_of_the_nested_runtimes_build_is_its_own():
    shell, clock = quiet_shell(), Clock()
    progress = bb.Progress(shell, "Building", "MLIR", io.StringIO(), clock=clock)
    progress("[1/3] Building CXX object a.o")
    progress("[2/3] Performing build step for 'runtimes'")
    for i in range(1, 201):
        clock.now += 1
        progress(f"[{i}/200] Building CXX object openmp/o{i}.o")
    assert progress.where() == "[2/3] (66%), runtimes [200/200] (100%)"
    progress("[3/3] Completed 'runtimes'")
    lines = shell.stream.getvalue().splitlines()
    assert lines[:3] == ["    Building MLIR [1/3] 33%, 0s", "    Building runtimes [1/200] 0%, 0s",
                         "    Building runtimes [61/200] 30%, 1m00s, about 2m16s left"]
    assert "    Building runtimes [200/200] 100%, 3m19s" in lines
    assert lines[-1] == "    Building MLIR [3/3] 100%, 3m20s"
    assert progress.where() == "[3/3] (100%)"


def test_progress_verbose_streams_every_line():
    shell = quiet_shell(verbosity=1)
    progress = bb.Progress(shell, "Building", "MLIR", io.StringIO())
    for line in ("[1/2] cc a.o", "a.c:1: warning: x", "[2/2] link"):
        progress(line)
    assert shell.stream.getvalue() == "[1/2] cc a.o\na.c:1: warning: x\n[2/2] link\n"


def test_stream_lines_keeps_order_and_raises_with_the_tail():
    seen = []
    script = "echo one; echo two >&2; echo three; exit 3"
    with pytest.raises(ToolError) as err:
        cmd("sh", "-c", script).stream_lines(seen.append, what="building MLIR", hint="see the log")
    assert seen == ["one", "two", "three"]
    assert err.value.returncode == 3
    assert "building MLIR: `sh -c" in str(err.value) and "one\ntwo\nthree" in str(err.value)
    assert str(err.value).endswith("help: see the log")
    assert cmd("sh", "-c", "echo ok").stream_lines(seen.append).stdout == "ok"


# ---------------------------------------------------------------- refusals

def test_missing_or_wrong_tree_is_a_clear_error(tmp_path):
    recipe = bb.recipe_path().read_text()
    with pytest.raises(CargoMlirError, match="no such directory"):
        bb.check_tree(tmp_path / "nope", recipe)
    tree = make_tree(tmp_path / "lp", 22)
    with pytest.raises(CargoMlirError) as err:
        bb.check_tree(tree / "llvm", recipe)
    assert "has no llvm/CMakeLists.txt" in str(err.value) and f"pass its parent, {tree}" in str(err.value)
    shutil.rmtree(tree / "mlir")
    shutil.rmtree(tree / "offload")
    with pytest.raises(CargoMlirError, match=r"lacks mlir/, offload/"):
        bb.check_tree(tree, recipe)


def test_wrong_major_is_refused_and_force_accepts_it(tmp_path):
    rustc = tools.RustcInfo("1.95.0", "x86_64-unknown-linux-gnu", "22.1.2")
    tree = make_tree(tmp_path / "lp", 21)
    assert bb.read_llvm_major(tree) == 21
    with pytest.raises(CargoMlirError) as err:
        bb.check_major(21, rustc, force=False, shell=quiet_shell(), root=tree)
    assert "is LLVM 21, but rustc 1.95.0 uses LLVM 22" in str(err.value)
    assert "--force" in str(err.value)
    shell = quiet_shell()
    bb.check_major(21, rustc, force=True, shell=shell, root=tree)
    assert "warning: " in shell.stream.getvalue() and "building it anyway (--force)" in shell.stream.getvalue()


def stub_programs(bindir: Path, names: list[str]) -> None:
    bindir.mkdir(parents=True, exist_ok=True)
    for name in names:
        (bindir / name).write_text("#!/bin/sh\nexit 0\n")
        (bindir / name).chmod(0o755)


def test_missing_programs_are_named_exactly(tmp_path, monkeypatch):
    for var in ("CC", "CXX"):
        monkeypatch.delenv(var, raising=False)
    stub_programs(tmp_path / "bin", ["cmake", "cc", "c++"])
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(CargoMlirError) as err:
        breq.check(quiet_shell(), sys.executable, bindings=False, may_install=False)
    first = str(err.value).splitlines()[0]
    assert first == "building MLIR needs ninja, which is not on PATH"
    assert "apt-get install -y --no-install-recommends ninja-build" in str(err.value)
    assert "cmake" not in str(err.value).split("help:")[1]

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(CargoMlirError) as err:
        breq.check(quiet_shell(), sys.executable, bindings=False, may_install=False)
    assert str(err.value).splitlines()[0] == ("building MLIR needs cmake, ninja, a C compiler (cc, gcc or clang) "
                                              "and a C++ compiler (c++, g++ or clang++), which are not on PATH")
    assert "apt-get install -y --no-install-recommends cmake ninja-build gcc g++" in str(err.value)
    monkeypatch.setenv("CXX", str(tmp_path / "bin" / "c++"))        # CMake takes $CXX first
    assert [p.package for p in breq.missing_programs()] == ["cmake", "ninja-build", "gcc"]


@pytest.fixture(scope="module")
def bare_venv(tmp_path_factory) -> Path:
    """A venv with nothing installed (--without-pip: a second, not five)."""
    root = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    return root / "bin" / "python"


def test_a_venv_without_nanobind_gets_the_exact_pip_command(bare_venv):
    interp = breq.probe_interpreter(str(bare_venv))
    assert interp.venv and not interp.ours      # not cargo-mlir's own: nothing is installed there
    assert [m.name for m, _ in interp.missing()] == ["nanobind", "numpy", "typing_extensions"]
    shell = quiet_shell()
    with pytest.raises(CargoMlirError) as err:
        breq.check(shell, str(bare_venv), bindings=True)
    text = str(err.value)
    assert text.splitlines()[0] == (f"building MLIR needs nanobind, numpy and typing_extensions in {bare_venv} "
                                    "(for MLIR's Python bindings)")
    assert f"run: {bare_venv} -m pip install 'nanobind>=2.9,<3' numpy 'typing_extensions>=4.12.2'" in text
    assert "or build without the Python bindings: --no-python-bindings" in text
    assert "Installing" not in shell.stream.getvalue()
    breq.check(shell, str(bare_venv), bindings=False)       # --no-python-bindings: no check at all


def test_an_old_nanobind_is_named_with_its_version(bare_venv, tmp_path):
    site = tmp_path / "site"
    (site / "nanobind").mkdir(parents=True)
    (site / "nanobind" / "__init__.py").write_text("__version__ = '2.4.0'\n")
    (site / "numpy.py").write_text("__version__ = '2.1.0'\n")
    (site / "sitecustomize.py").write_text(f"import sys; sys.path.insert(0, {str(site)!r})\n")
    python = tmp_path / "python"        # the bare venv, seeing `site` first
    python.write_text(f"#!/bin/sh\nPYTHONPATH={site} exec {bare_venv} \"$@\"\n")
    python.chmod(0o755)
    with pytest.raises(CargoMlirError) as err:
        breq.check(quiet_shell(), str(python), bindings=True, may_install=False)
    assert str(err.value).splitlines()[0] == (f"building MLIR needs nanobind>=2.9,<3 (it has nanobind 2.4.0) and "
                                              f"typing_extensions in {python} (for MLIR's Python bindings)")
    assert f"run: {python} -m pip install 'nanobind>=2.9,<3' 'typing_extensions>=4.12.2'" in str(err.value)


def test_versions_compare_as_numbers():
    assert breq.parse_version("2.9.2") == (2, 9, 2) and breq.parse_version("2.10") > (2, 9)
    assert breq.parse_version("1.26.0rc1") == (1, 26, 0) and breq.parse_version("4.12.2.dev0") == (4, 12, 2)


def test_no_python_bindings_turns_them_off_and_reconfigures(tmp_path):
    on = bb.Plan(Path("/src/lp"), Path("/b"), Path("/p"), bb.recipe_path(), python="/py")
    off = bb.Plan(Path("/src/lp"), Path("/b"), Path("/p"), bb.recipe_path(), python="/py", bindings=False)
    assert "MLIR_ENABLE_BINDINGS_PYTHON" not in on.options()        # the recipe's ON
    assert "-DMLIR_ENABLE_BINDINGS_PYTHON=OFF" in off.configure_command().args
    assert on.stamp_key() != off.stamp_key()
    help_text = subprocess.run([str(CLI), "bootstrap", "build", "--help"], capture_output=True, text=True).stdout
    assert "--no-python-bindings" in help_text and "MLIR_ENABLE_BINDINGS_PYTHON=OFF" in help_text


def test_resume_command_repeats_the_options(tmp_path):
    args = args_for(tmp_path / "lp", prefix="p", build_dir=str(tmp_path / "b d"), jobs=3, force=True)
    plan = bb.plan_from_args(args, tmp_path / "lp", 22)
    assert bb.resume_command(args, plan) == (
        f"cargo mlir bootstrap build --llvm-project {tmp_path / 'lp'} --prefix {Path('p').resolve()} "
        f"--build-dir '{tmp_path / 'b d'}' -j 3 --force --no-python-bindings")


def test_cli_refuses_a_tree_of_another_major(isolated):
    major = rustc_major()
    tree = make_tree(isolated / "lp", major - 1)
    proc = subprocess.run([str(CLI), "bootstrap", "build", "--llvm-project", str(tree)],
                          capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"})
    assert proc.returncode == 1
    assert f"error: the llvm-project tree at {tree} is LLVM {major - 1}, but rustc" in proc.stderr
    assert f"uses LLVM {major}" in proc.stderr and "pass --force" in proc.stderr
    assert not (tree / "build-cargo-mlir").exists()


# ---------------------------------------------------------------- resume, real cmake

@needs_cmake
def test_configure_is_skipped_while_the_stamp_matches(tmp_path):
    tree = make_tree(tmp_path / "lp", 22)
    recipe = tmp_path / "mlir.cmake"
    recipe.write_text(bb.recipe_path().read_text())
    plan = plan_for(tree, tmp_path, recipe)
    shell = quiet_shell()
    assert bb.configure(plan, shell) is True
    assert (plan.build_dir / "seen.txt").read_text() == f"X86;AMDGPU;NVPTX|mlir;lld;clang|{plan.prefix}"
    stamp = tomlkit.parse((plan.build_dir / bb.STAMP).read_text())
    assert stamp["key"] == plan.stamp_key() and stamp["source"] == str(tree.resolve())
    cache_mtime = (plan.build_dir / "CMakeCache.txt").stat().st_mtime_ns
    assert bb.configure(plan, shell) is False
    assert (plan.build_dir / "CMakeCache.txt").stat().st_mtime_ns == cache_mtime
    assert f"Fresh configuration in {plan.build_dir}" in shell.stream.getvalue()


@needs_cmake
def test_a_changed_recipe_or_prefix_reconfigures(tmp_path):
    tree = make_tree(tmp_path / "lp", 22)
    recipe = tmp_path / "mlir.cmake"
    recipe.write_text(bb.recipe_path().read_text())
    plan = plan_for(tree, tmp_path, recipe)
    assert bb.configure(plan, quiet_shell()) is True
    recipe.write_text(recipe.read_text().replace('"X86;AMDGPU;NVPTX"', '"X86"'))
    assert bb.configure(plan, quiet_shell()) is True
    # the cache was started afresh: `-C` alone would have kept the old value
    assert (plan.build_dir / "seen.txt").read_text().startswith("X86|")
    moved = bb.Plan(plan.source, plan.build_dir, tmp_path / "elsewhere", recipe, jobs=2)
    assert bb.configure(moved, quiet_shell()) is True
    assert (plan.build_dir / "seen.txt").read_text().endswith(f"|{tmp_path / 'elsewhere'}")


@needs_cmake
def test_a_failed_configure_is_redone_even_with_the_old_options(tmp_path):
    tree = make_tree(tmp_path / "lp", 22)
    recipe = tmp_path / "mlir.cmake"
    good = bb.recipe_path().read_text()
    recipe.write_text(good)
    plan = plan_for(tree, tmp_path, recipe)
    assert bb.configure(plan, quiet_shell()) is True
    recipe.write_text(good.replace('"X86;AMDGPU;NVPTX"', '"BROKEN"'))
    with pytest.raises(ToolError) as err:
        bb.configure(plan, quiet_shell())
    assert "configuring MLIR: `cmake -G Ninja" in str(err.value) and "no such target: BROKEN" in str(err.value)
    assert f"the whole output is in {plan.build_dir / bb.LOG}" in str(err.value)
    recipe.write_text(good)         # back to what the stamp once said: must not be taken as configured
    assert bb.configure(plan, quiet_shell()) is True
    assert (plan.build_dir / "seen.txt").read_text().startswith("X86;AMDGPU;NVPTX|")


@needs_cmake
def test_a_build_dir_of_another_source_is_refused(tmp_path):
    first = plan_for(make_tree(tmp_path / "a", 22), tmp_path)
    bb.configure(first, quiet_shell())
    other = plan_for(make_tree(tmp_path / "b", 22), tmp_path)
    with pytest.raises(CargoMlirError) as err:
        bb.configure(other, quiet_shell())
    assert f"configured from {tmp_path / 'a' / 'llvm'}, not from {tmp_path / 'b' / 'llvm'}" in str(err.value)


# ---------------------------------------------------------------- interrupted

# A stand-in Ninja: 100 steps in the whole build (`-t commands`), 80 of them left in
# this run; it starts two jobs in process groups of their own, as Ninja does, prints
# 30 `[N/M]` lines and waits. Unlike Ninja it leaves its jobs behind when stopped:
# cargo-mlir must stop them itself.
FAKE_NINJA = """\
#!{python}
import os, signal, subprocess, sys, time
args = sys.argv[1:]
if "-t" in args:
    for i in range(100):
        print(f"c++ -c o{{i}}.cpp")
    sys.exit(0)
def stopped(signum, frame):
    print("ninja: build stopped: interrupted by user.", flush=True)
    os._exit(2)
signal.signal(signal.SIGTERM, stopped)
signal.signal(signal.SIGINT, stopped)
build = args[args.index("-C") + 1]
jobs = [subprocess.Popen(["sleep", "1000"], process_group=0) for _ in range(2)]
with open(os.path.join(build, "fake-pids"), "w") as f:
    f.write(" ".join(str(p) for p in [os.getpid(), *(j.pid for j in jobs)]))
for i in range(1, 31):
    print(f"[{{i}}/80] Building CXX object o{{i}}.o", flush=True)
print("the last line before the stop", flush=True)
time.sleep(1000)
"""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"         # a zombie has stopped; only its exit status is left


@pytest.mark.skipif(sys.platform != "linux", reason="looks for left-over processes in /proc")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_build_stops_every_job_logs_all_and_says_how_to_resume(isolated, sig):
    major = rustc_major()
    tree = make_tree(isolated / "lp", major)
    fake = isolated / "fakebin"
    stub_programs(fake, ["cmake", "cc", "c++"])
    (fake / "ninja").write_text(FAKE_NINJA.format(python=sys.executable))
    (fake / "ninja").chmod(0o755)
    args = args_for(tree, build_dir=str(isolated / "b"), prefix=str(isolated / "p"))
    plan = bb.plan_from_args(args, tree, major)
    # configured already (a resume): the stamp and cache that skip CMake
    plan.build_dir.mkdir()
    (plan.build_dir / "CMakeCache.txt").write_text(f"CMAKE_HOME_DIRECTORY:INTERNAL={plan.source / 'llvm'}\n")
    bb.write_stamp(plan)
    env = {**os.environ, "PATH": f"{fake}{os.pathsep}{os.environ['PATH']}", "NO_COLOR": "1"}
    proc = subprocess.Popen([str(CLI), "bootstrap", "build", "--llvm-project", str(tree), "--build-dir",
                             str(plan.build_dir), "--prefix", str(plan.prefix), "--no-python-bindings"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    log = plan.build_dir / bb.LOG
    deadline = time.monotonic() + 8
    while not (log.is_file() and "the last line before the stop" in log.read_text()):
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    pids = [int(p) for p in (plan.build_dir / "fake-pids").read_text().split()]
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=8)
    assert proc.returncode == 128 + sig
    assert [pid for pid in pids if alive(pid)] == []
    # 20 of 100 steps were built before this run: its [30/80] is [50/100] of the whole build
    assert err.splitlines()[-1] == (
        f" Interrupted at [50/100] (50%); resume with: cargo mlir bootstrap build --llvm-project {plan.source} "
        f"--prefix {plan.prefix} --build-dir {plan.build_dir} --no-python-bindings")
    assert "Building MLIR [21/100] 21%" in err
    assert "fix the cause" not in err and "exited with" not in err
    assert log.read_text().splitlines()[-3:] == [
        "the last line before the stop", "ninja: build stopped: interrupted by user.",
        f"cargo-mlir: stopped by {sig.name} while building MLIR at [50/100] (50%)"]


# ---------------------------------------------------------------- the whole flow

@needs_cmake
def test_build_installs_and_records_the_toolchain_then_resumes(isolated):
    major = rustc_major()
    tree = make_tree(isolated / "lp", major)
    shell = quiet_shell()
    assert bb.run(shell, args_for(tree, jobs=2)) == 0
    out = shell.stream.getvalue()
    prefix = isolated / "data" / "cargo-mlir" / f"llvm-{major}"
    assert "Configuring MLIR from" in out and "Building MLIR [12/12] 100%" in out
    assert f"Finished MLIR {major} in {prefix}; toolchain recorded in {isolated / 'toolchain.toml'}" in out
    record = tomlkit.parse((isolated / "toolchain.toml").read_text()).unwrap()
    assert record["source"] == f"built:{tree}"
    assert record["tools"]["mlir-opt"]["path"] == str(prefix / "bin" / "mlir-opt")
    assert record["tools"]["ld.lld"]["version"] == f"{major}.1.0"
    assert record["libraries"]["libomptarget"]["path"] == str(
        prefix / "lib" / "x86_64-unknown-linux-gnu" / f"libomptarget.so.{major}.1")
    assert "step1.done" in (tree / "build-cargo-mlir" / bb.LOG).read_text()
    assert record["prefix"] == str(prefix)

    # doctor (and every later probe) looks in the built prefix first and keeps it recorded
    doctor = subprocess.run([str(CLI), "doctor"], capture_output=True, text=True,
                            env={**os.environ, "NO_COLOR": "1"})
    assert "ok       mlir-opt " in doctor.stdout and str(prefix / "bin" / "mlir-opt") in doctor.stdout
    after = tomlkit.parse((isolated / "toolchain.toml").read_text()).unwrap()
    assert after["prefix"] == str(prefix) and after["source"] == f"built:{tree}"
    assert after["tools"]["mlir-opt"]["path"] == str(prefix / "bin" / "mlir-opt")

    again = quiet_shell()
    assert bb.run(again, args_for(tree)) == 0
    assert "Fresh configuration" in again.stream.getvalue()
    assert "Configuring" not in again.stream.getvalue()


@needs_cmake
def test_force_builds_another_major(isolated):
    major = rustc_major()
    tree = make_tree(isolated / "lp", major + 1)
    shell = quiet_shell()
    assert bb.run(shell, args_for(tree, force=True, prefix=str(isolated / "p"))) == 0
    assert f"is LLVM {major + 1}, but rustc" in shell.stream.getvalue()
    record = tomlkit.parse((isolated / "toolchain.toml").read_text()).unwrap()
    assert record["tools"]["mlir-opt"]["version"] == f"{major + 1}.1.0"


@needs_cmake
def test_an_install_without_every_tool_is_an_error(isolated):
    major = rustc_major()
    tree = make_tree(isolated / "lp", major, tool_names=["mlir-opt", "llc"])
    with pytest.raises(CargoMlirError) as err:
        bb.run(quiet_shell(), args_for(tree, prefix=str(isolated / "p")))
    assert "the build installed no mlir-translate, opt," in str(err.value)
    assert str(isolated / "p" / "bin") in str(err.value)
    assert not (isolated / "toolchain.toml").exists()
