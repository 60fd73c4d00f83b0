"""End to end: the native launcher (build/noop.py). A no-op `cargo mlir build`
starts no Python and prints what Python prints; whatever pass 1 leaves for
Python (device work, a warning, an error) is handed over with cargo still
running, and the user sees what a Python-only build shows; everything the
record depends on (the environment, manifests, the toolchain, the build
state, the record itself, the arguments) sends the build to Python; a launcher
compiled from other sources is compiled again."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import CLI, REPO, clean_env, copy_crate, host_only, run

pytestmark = pytest.mark.e2e

PYTHON_CLI = CLI.parent / "cargo-mlir-py"      # the console script: Python for every build
# the driver's Python imports site (the rustc wrapper's runs with -S): this
# sitecustomize tells us that it started
PROBE = "import os, sys\nlog = os.environ.get('PYPROBE_LOG')\nif log:\n    open(log, 'a').write('started\\n')\n"


@pytest.fixture
def env(tmp_path):
    """Own cache (project facts and launcher records) and toolchain record;
    `CARGO` (what cargo-mlir runs for its passes) logs each run."""
    record = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cargo-mlir" / "toolchain.toml"
    (tmp_path / "probe").mkdir()
    (tmp_path / "probe" / "sitecustomize.py").write_text(PROBE)
    cargo = tmp_path / "probe" / "cargo"
    cargo.write_text(f'#!/bin/sh\necho "$*" >> "$CARGOPROBE_LOG"\nexec {shutil.which("cargo")} "$@"\n')
    cargo.chmod(0o755)
    e = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "CARGO_MLIR_TOOLCHAIN_FILE": str(tmp_path / "toolchain.toml"),
         "PYTHONPATH": str(tmp_path / "probe"), "PYPROBE_LOG": str(tmp_path / "python.log"), "CARGO": str(cargo),
         "CARGOPROBE_LOG": str(tmp_path / "cargo.log")}
    if record.exists():
        (tmp_path / "toolchain.toml").write_text(record.read_text())
    return e


class Built(subprocess.CompletedProcess):
    python: bool        # whether the driver's Python started
    cargo: bool         # whether cargo ran


def _grew(log: Path, before: str) -> bool:
    return (log.read_text() if log.exists() else "") != before


def on_terminal(argv: list, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    """`argv` with its stderr on a pseudo-terminal (its "\\r\\n" read as "\\n")."""
    import pty
    master, slave = pty.openpty()
    proc = subprocess.Popen([str(a) for a in argv], cwd=cwd, env=clean_env(**env), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:         # EIO: every writer closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    proc.wait(timeout=600)
    return subprocess.CompletedProcess(argv, proc.returncode, "", b"".join(chunks).decode().replace("\r\n", "\n"))


def build(crate: Path, env: dict, *args: str, cli: Path = CLI, terminal: bool = False) -> Built:
    logs = [Path(env["PYPROBE_LOG"]), Path(env["CARGOPROBE_LOG"])]
    before = [log.read_text() if log.exists() else "" for log in logs]
    argv = [cli, "mlir", "build", *args]
    result = on_terminal(argv, crate, env) if terminal else run(argv, crate, **env)
    result.python, result.cargo = (_grew(log, b) for log, b in zip(logs, before))
    return result


def shown(result: subprocess.CompletedProcess, crate: Path) -> str:
    """What the user sees on stderr, without timings and the crate's directory."""
    return re.sub(r"in \d+\.\d+s", "in <t>", result.stderr.replace(str(crate.parent), "<dir>"))


def settled(crate: Path, env: dict, *args: str, terminal: bool = False) -> None:
    """Built, the project facts cached (the first build's own files are too new
    to trust), and the launcher's no-op without cargo recorded."""
    for _ in range(4):
        result = build(crate, env, *args, terminal=terminal)
        assert result.returncode == 0, result.stderr
        if not result.python and not result.cargo:
            return
    raise AssertionError(f"the launcher never took a no-op build without cargo:\n{result.stderr}")


def test_a_no_op_build_starts_no_python_and_says_what_python_says(tmp_path, env):
    crate = host_only(copy_crate(REPO / "sample_crates" / "saxpy", tmp_path / "saxpy"))
    for args in ((), ("-q",), ("--release", "--color", "always")):
        settled(crate, env, *args)
        fast = build(crate, env, *args)
        slow = build(crate, env, *args, cli=PYTHON_CLI)
        assert fast.returncode == slow.returncode == 0
        assert not fast.python and not fast.cargo and slow.python
        assert shown(fast, crate) == shown(slow, crate), (fast.stderr, slow.stderr)
        if args != ("-q",):
            assert "device code (no device work)" in fast.stderr
    # and it wrote nothing (the release build changed the build state the debug record depends on: settled again)
    settled(crate, env)
    state = crate / "target" / "cargo-mlir"
    before = {str(p): p.stat().st_mtime_ns for d in (state, tmp_path / "cache") for p in d.rglob("*")}
    result = build(crate, env)
    assert not result.python and not result.cargo
    assert {str(p): p.stat().st_mtime_ns for d in (state, tmp_path / "cache") for p in d.rglob("*")} == before


def test_on_a_terminal_a_no_op_without_cargo_shows_what_cargo_and_python_show(tmp_path, env):
    """Cargo's own line comes in colour, as cargo prints it on a terminal."""
    crate = host_only(copy_crate(REPO / "sample_crates" / "saxpy", tmp_path / "saxpy"))
    for args in ((), ("--release",)):
        settled(crate, env, *args, terminal=True)
        fast = build(crate, env, *args, terminal=True)
        slow = build(crate, env, *args, cli=PYTHON_CLI, terminal=True)
        assert fast.returncode == slow.returncode == 0
        assert not fast.python and not fast.cargo and slow.python and slow.cargo
        assert shown(fast, crate) == shown(slow, crate), (fast.stderr, slow.stderr)
        assert "\x1b[" in fast.stderr and "Finished\x1b[0m `" in fast.stderr, fast.stderr
    # a record of a build on a terminal is not one for a build without
    result = build(crate, env, "--release")
    assert result.returncode == 0 and result.cargo and "\x1b[" not in result.stderr


WORKSPACE = {
    "Cargo.toml": '[workspace]\nmembers = ["app"]\nresolver = "2"\n',
    "app/Cargo.toml": '[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n'
                      '[dependencies]\nhelper = { path = "../../helper" }\n'
                      "[lints.rust]\nunexpected_cfgs = { level = \"warn\", check-cfg = ['cfg(shout)'] }\n",
    "app/src/main.rs": 'const NOTE: &str = include_str!("note.txt");\n'
                       'fn main() {\n'
                       '    let greeting = option_env!("APP_GREETING").unwrap_or("hello");\n'
                       '    #[cfg(shout)] let greeting = greeting.to_uppercase();\n'
                       '    println!("{greeting} {} {} {}", NOTE.trim(), helper::word(), helper::BUILT);\n'
                       '}\n',
    "app/src/note.txt": "note-1\n",
    # a path dependency outside the workspace, with a build script that watches a directory and a variable
    "../helper/Cargo.toml": '[package]\nname = "helper"\nversion = "0.1.0"\nedition = "2021"\n',
    "../helper/src/lib.rs": 'pub fn word() -> &\'static str { "word-1" }\n'
                            'pub const BUILT: &str = include_str!(concat!(env!("OUT_DIR"), "/built.txt"));\n',
    "../helper/build.rs": 'fn main() {\n'
                          '    println!("cargo:rerun-if-changed=data");\n'
                          '    println!("cargo:rerun-if-changed=build.rs");\n'
                          '    println!("cargo:rerun-if-env-changed=HELPER_LEVEL");\n'
                          '    let files = std::fs::read_dir("data").map(|d| d.count()).unwrap_or(0);\n'
                          '    let level = std::env::var("HELPER_LEVEL").unwrap_or_default();\n'
                          '    let out = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("built.txt");\n'
                          '    std::fs::write(out, format!("files={files} level={level}")).unwrap();\n'
                          '}\n',
    "../helper/data/a.txt": "a\n",
}


def test_a_no_op_without_cargo_ends_when_anything_cargo_watches_changes(tmp_path, env):
    """Each change that makes cargo build something makes the launcher run
    cargo again (and the program shows it); a build script that watches its
    whole package means cargo runs every time."""
    ws = tmp_path / "ws"
    for name, text in WORKSPACE.items():
        (ws / name).parent.mkdir(parents=True, exist_ok=True)
        (ws / name).write_text(text)
    helper = tmp_path / "helper"
    e = dict(env)

    def program() -> str:
        out = run([ws / "target" / "debug" / "app"], ws)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    def edit(path: Path, old: str, new: str) -> None:
        path.write_text(path.read_text().replace(old, new))

    settled(ws, e)
    assert program() == "hello note-1 word-1 files=1 level="
    changes = [
        ("a member's source", lambda: edit(ws / "app/src/main.rs", '"hello"', '"hi"'), "hi note-1 word-1 files=1 level="),
        ("reverted", lambda: edit(ws / "app/src/main.rs", '"hi"', '"hello"'), "hello note-1 word-1 files=1 level="),
        ("edited again", lambda: edit(ws / "app/src/main.rs", '"hello"', '"hi"'), "hi note-1 word-1 files=1 level="),
        ("an included file", lambda: edit(ws / "app/src/note.txt", "note-1", "note-2"), "hi note-2 word-1 files=1 level="),
        ("a path dependency's source", lambda: edit(helper / "src/lib.rs", "word-1", "word-2"),
         "hi note-2 word-2 files=1 level="),
        ("a variable the crate reads", lambda: e.update(APP_GREETING="hey"), "hey note-2 word-2 files=1 level="),
        ("a variable the build script watches", lambda: e.update(HELPER_LEVEL="3"), "hey note-2 word-2 files=1 level=3"),
        ("a file in a directory the build script watches", lambda: (helper / "data" / "b.txt").write_text("b"),
         "hey note-2 word-2 files=2 level=3"),
        ("RUSTFLAGS", lambda: e.update(RUSTFLAGS="--cfg shout"), "HEY note-2 word-2 files=2 level=3"),
        ("the program deleted", lambda: (ws / "target" / "debug" / "app").unlink(), "HEY note-2 word-2 files=2 level=3"),
        ("a manifest of a path dependency", lambda: edit(helper / "Cargo.toml", 'edition = "2021"', 'edition = "2018"'),
         "HEY note-2 word-2 files=2 level=3"),
    ]
    for what, change, shows in changes:
        change()
        result = build(ws, e)
        assert result.returncode == 0, (what, result.stderr)
        assert result.cargo, f"{what}: the launcher did not run cargo"
        assert program() == shows, what
        settled(ws, e)
        assert program() == shows, what
    # a new target: cargo finds it by its directory, no dep-info names it
    (ws / "app" / "src" / "bin").mkdir()
    (ws / "app" / "src" / "bin" / "extra.rs").write_text('fn main() { println!("extra"); }\n')
    result = build(ws, e)
    assert result.returncode == 0 and result.cargo, result.stderr
    assert run([ws / "target" / "debug" / "extra"], ws).stdout == "extra\n"
    settled(ws, e)
    # a build script without rerun-if rules: cargo watches every file of its package, and runs every time
    edit(helper / "build.rs", '    println!("cargo:rerun-if-changed=data");\n    println!("cargo:rerun-if-changed=build.rs");\n'
         '    println!("cargo:rerun-if-env-changed=HELPER_LEVEL");\n', "")
    for _ in range(3):
        result = build(ws, e)
        assert result.returncode == 0 and result.cargo, result.stderr
    (helper / "data" / "c.txt").write_text("c")
    assert build(ws, e).cargo and program() == "HEY note-2 word-2 files=3 level=3"
    # a build script that always runs again (a rule on a file that never exists), stamping
    # what it reads into the crate: cargo every time, and the program shows the new stamp
    stamp = tmp_path / "stamp.txt"
    stamp.write_text("one")
    (helper / "build.rs").write_text(
        'fn main() {\n    println!("cargo:rerun-if-changed=never-there");\n'
        f'    let stamp = std::fs::read_to_string({json.dumps(str(stamp))}).unwrap();\n'
        '    let out = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("built.txt");\n'
        '    std::fs::write(out, format!("stamp={}", stamp.trim())).unwrap();\n}\n')
    for _ in range(3):
        result = build(ws, e)
        assert result.returncode == 0 and result.cargo, result.stderr
        assert program() == "HEY note-2 word-2 stamp=one"
    stamp.write_text("two")
    assert build(ws, e).cargo and program() == "HEY note-2 word-2 stamp=two"


KERNEL = "y[i] = a * x[i] + y[i];"


@pytest.mark.parametrize("release", [False, True], ids=["debug", "release"])
def test_what_pass_1_leaves_for_python_is_shown_as_python_shows_it(tmp_path, env, release):
    """The same edits in two copies of a crate, built through the launcher and
    by Python alone: the same output, exit code and program."""
    args = ("--release",) if release else ()
    fast_crate = host_only(copy_crate(REPO / "sample_crates" / "saxpy", tmp_path / "fast" / "saxpy"))
    slow_crate = host_only(copy_crate(REPO / "sample_crates" / "saxpy", tmp_path / "slow" / "saxpy"))
    settled(fast_crate, env, *args)
    assert build(slow_crate, env, *args, cli=PYTHON_CLI).returncode == 0
    lib = "src/lib.rs"
    original = (fast_crate / lib).read_text()
    assert KERNEL in original
    edits = [
        ("a kernel edited", original.replace(KERNEL, "y[i] = a * x[i] - y[i];")),
        ("reverted", original),
        ("edited again", original.replace(KERNEL, "y[i] = a * x[i] - y[i];")),
        ("a warning", original + "\nfn never_called() {}\n"),
        ("the warning again (cached)", None),
        ("an error", original + "\nfn broken() -> u32 { \"x\" }\n"),
        ("fixed", original),
    ]
    profile = "release" if release else "debug"
    for what, text in edits:
        for crate in (fast_crate, slow_crate):
            if text is not None:
                (crate / lib).write_text(text)
        fast = build(fast_crate, env, *args)
        slow = build(slow_crate, env, *args, cli=PYTHON_CLI)
        assert fast.returncode == slow.returncode, (what, fast.stderr, slow.stderr)
        if fast.returncode == 0:
            assert shown(fast, fast_crate) == shown(slow, slow_crate), (what, fast.stderr, slow.stderr)
        else:       # cargo's "could not compile" races rustc's last messages when Python runs pass 1
            assert sorted(shown(fast, fast_crate).splitlines()) == sorted(shown(slow, slow_crate).splitlines()), \
                (what, fast.stderr, slow.stderr)
        if what.startswith("a warning"):
            assert shown(fast, fast_crate).count("function `never_called` is never used") == 1, fast.stderr
        if fast.returncode == 0:
            outs = [run([c / "target" / profile / "saxpy"], c).stdout for c in (fast_crate, slow_crate)]
            assert outs[0] == outs[1] and "checksum=" in outs[0], (what, outs)
    assert build(fast_crate, env, *args).returncode == 0
    assert not build(fast_crate, env, *args).python


def test_what_the_record_depends_on_sends_the_build_to_python(tmp_path, env):
    crate = host_only(copy_crate(REPO / "sample_crates" / "saxpy", tmp_path / "saxpy"))
    state = crate / "target" / "cargo-mlir"
    manifest = crate / "Cargo.toml"

    def environment(e):
        return {**e, "CARGO_PROFILE_DEV_DEBUG_ASSERTIONS": "true"}

    def manifest_edited(e):
        manifest.write_text(manifest.read_text() + "\n# edited\n")
        return e

    def config_changed(e):          # and the new configuration takes effect
        manifest.write_text(manifest.read_text().replace("offload-arch = []", 'offload-arch = ["sm_90"]'))
        return e

    def toolchain_record(e):
        record = Path(e["CARGO_MLIR_TOOLCHAIN_FILE"])
        record.write_text(record.read_text() + "\n")
        return e

    def libraries(e):
        (state / "libraries.json").write_text((state / "libraries.json").read_text() + " ")
        return e

    def state_removed(e):
        shutil.rmtree(state)
        return e

    def record_damaged(e):
        for record in (tmp_path / "cache" / "cargo-mlir" / "noop").iterdir():
            data = record.read_bytes()
            record.write_bytes(data[:len(data) // 2])
        return e

    def wrapper_replaced(e):
        (state / "rustc-wrapper").write_text("#!/bin/sh\nexit 7\n")
        return e

    settled(crate, env)
    for change in (environment, manifest_edited, config_changed, toolchain_record, libraries, state_removed,
                   record_damaged, wrapper_replaced):
        e = change(dict(env))
        result = build(crate, e)
        assert result.returncode == 0, (change.__name__, result.stderr)
        assert result.python, f"{change.__name__}: the launcher did the build"
        settled(crate, e)
        out = run([crate / "target" / "debug" / "saxpy"], crate)
        assert "checksum=" in out.stdout, (change.__name__, out.stderr)
        targets = {k["target"] for k in json.loads((state / "report.json").read_text())["kernels"]}
        assert targets == ({"host"} if change in (environment, manifest_edited) else {"host", "sm_90"}), change
    # other arguments: Python, then a record of their own. Their device work changed
    # the build state the first record depends on: Python once more for that one,
    # then both stay with the launcher
    result = build(crate, env, "--release")
    assert result.returncode == 0 and result.python
    settled(crate, env, "--release")
    settled(crate, env)
    assert not build(crate, env, "--release").python and not build(crate, env).python


def test_cargo_mlirs_own_options_are_part_of_the_record(tmp_path, env):
    """`--offload-arch` is not cargo's: a build without it must not repeat one with it."""
    crate = host_only(copy_crate(REPO / "sample_crates" / "saxpy", tmp_path / "saxpy"))
    state = crate / "target" / "cargo-mlir"

    def targets():
        return {k["target"] for k in json.loads((state / "report.json").read_text())["kernels"]}
    for args, want in ((("--offload-arch", "sm_90"), {"host", "sm_90"}), ((), {"host"}),
                       (("--offload-arch", "sm_90"), {"host", "sm_90"})):
        result = build(crate, env, *args)
        assert result.returncode == 0, result.stderr
        assert targets() == want, (args, result.stderr)
        settled(crate, env, *args)
        assert targets() == want, args


@pytest.mark.parametrize("args", [("-v",), ("--message-format=json",), ("--explain",)])
def test_builds_python_must_watch_never_get_a_record(tmp_path, env, args):
    crate = host_only(copy_crate(REPO / "sample_crates" / "saxpy", tmp_path / "saxpy"))
    for _ in range(3):
        result = build(crate, env, *args)
        assert result.returncode == 0 and result.python, result.stderr


def test_a_launcher_compiled_from_other_sources_is_compiled_again(tmp_path, env):
    """`cargo-mlir` installed in another directory gets its own launcher there."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shutil.copy2(REPO / "templates" / "launcher" / "cargo-mlir", bin_dir / "cargo-mlir")
    (bin_dir / "cargo-mlir-py").symlink_to(PYTHON_CLI)
    crate = host_only(copy_crate(REPO / "sample_crates" / "saxpy", tmp_path / "saxpy"))
    launcher, stamp = bin_dir / ".cargo-mlir-fast", bin_dir / ".cargo-mlir-fast.stamp"
    assert build(crate, env, cli=bin_dir / "cargo-mlir").returncode == 0
    assert launcher.exists() and stamp.exists()
    for _ in range(3):
        if not build(crate, env, cli=bin_dir / "cargo-mlir").python:
            break
    else:
        raise AssertionError("the launcher never took a no-op build")
    first = launcher.stat().st_mtime_ns
    stamp.write_text("0000000000000000\n")                      # another version's
    (crate / "Cargo.toml").write_text((crate / "Cargo.toml").read_text() + "\n")      # Python runs
    result = build(crate, env, cli=bin_dir / "cargo-mlir")
    assert result.returncode == 0 and result.python, result.stderr
    assert launcher.stat().st_mtime_ns != first and stamp.read_text().strip() != "0000000000000000"
