"""`cargo mlir bootstrap build` without building LLVM: the parsers on literal
text, the commands it would run, and the whole flow (configure, resume,
reconfigure, install, record) through real CMake and Ninja on a tiny fake
llvm-project tree whose "build" installs stand-in tools."""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomlkit

from cargo_mlir.bootstrap import build as bb
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
    base = dict(llvm_project=str(tree), prefix=None, build_dir=None, jobs=None, force=False)
    return argparse.Namespace(**{**base, **kw})


# ---------------------------------------------------------------- pure parsers

def test_major_from_llvm_version_cmake_and_old_cmakelists():
    assert bb.parse_llvm_major(LLVM_VERSION_CMAKE) == 22
    assert bb.parse_llvm_major(OLD_LLVM_CMAKELISTS) == 17
    assert bb.parse_llvm_major('set( LLVM_VERSION_MAJOR "19" )') == 19
    assert bb.parse_llvm_major("set(LLVM_VERSION_MINOR 1)\nproject(LLVM)") is None


def test_ninja_progress_lines():
    assert bb.ninja_progress("[1234/5678] Building CXX object lib/IR/CMakeFiles/LLVMCore.dir/Core.cpp.o") == (1234, 5678)
    assert bb.ninja_progress("[5678/5678] Linking CXX executable bin/mlir-opt") == (5678, 5678)
    assert bb.ninja_progress("ninja: no work to do.") is None
    assert bb.ninja_progress("  [1/2] indented compiler output") is None
    assert bb.ninja_progress("[0/0] nothing") is None
    assert bb.ninja_progress("FAILED: lib/Foo.o") is None


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
    assert bb.needed_dirs(bb.recipe_path().read_text()) == ["llvm", "mlir", "lld", "clang", "openmp", "offload"]


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


def test_progress_shows_a_line_every_few_percent():
    shell, log = quiet_shell(), io.StringIO()
    progress = bb.Progress(shell, "Building", "MLIR", log)
    for i in range(1, 1001):
        progress(f"[{i}/1000] Building CXX object o{i}.o")
        progress("warning: unused variable")
    lines = shell.stream.getvalue().splitlines()
    assert lines[0] == "    Building MLIR [1/1000] 0%"
    assert "    Building MLIR [50/1000] 5%" in lines
    assert lines[-1] == "    Building MLIR [1000/1000] 100%"
    assert len(lines) == 21
    assert log.getvalue().count("\n") == 2000       # the log keeps everything


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


def test_missing_cmake_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(CargoMlirError) as err:
        bb.check_build_tools()
    assert "needs cmake and ninja" in str(err.value) and "apt-get install cmake ninja-build" in str(err.value)


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
