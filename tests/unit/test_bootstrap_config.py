"""`cargo mlir bootstrap config` on files written the way `x.py setup` and `./configure`
write them: each edit is checked by re-parsing and by comparing the whole text, so every
untouched line (comments, order, blank lines, quoting) is proven unchanged."""

from __future__ import annotations

import contextlib
import io
import os
import tomllib
from pathlib import Path

import pytest

from cargo_mlir.bootstrap.config import checkout
from cargo_mlir.bootstrap.config import command as bc
from cargo_mlir.bootstrap.config import keys as K
from cargo_mlir.bootstrap.config import toml_edit as T
from cargo_mlir.cli import build_parser
from cargo_mlir.errors import CargoMlirError
from cargo_mlir.term import Shell

TRACKER = """\
pub const CONFIG_CHANGE_HISTORY: &[ChangeInfo] = &[
    ChangeInfo {
        change_id: 115898,
        severity: ChangeSeverity::Info,
        summary: "Implementation of this change-tracking system. Ignore this.",
    },
    ChangeInfo {
        change_id: 131513,
        severity: ChangeSeverity::Info,
        summary: "New option `llvm.offload` to control whether the llvm offload runtime for GPU support is built.",
    },
    ChangeInfo {
        change_id: 146435,
        severity: ChangeSeverity::Info,
        summary: "`llvm.enzyme` ... (the last entry)",
    },
];
"""

COMPILER_PROFILE = """\
# These defaults are meant for contributors to the compiler who do not modify codegen or LLVM
[build]
compiler-docs = true

[llvm]
assertions = false
# Will download LLVM from CI if available on your platform.
download-ci-llvm = true
"""

# `x.py setup compiler`, then edited by hand: comments, an [llvm] table with other keys,
# an inline table, a trailing comment, a [target.<triple>] table.
SETUP = """\
# See bootstrap.example.toml for documentation of available options
#
profile = "compiler"  # Includes one of the default files in src/bootstrap/defaults
change-id = 146435

[build]
# keep build artefacts out of the checkout
build-dir = "../rust-build"
extended = true

[llvm]
# I patch LLVM, so no CI LLVM
download-ci-llvm = false
assertions = true   # catch integration bugs early
build-config = { LLVM_PARALLEL_LINK_JOBS = "2" }

# notes about LLVM go here

[rust]
lld = true

[target.x86_64-unknown-linux-gnu]
cc = "clang"
cxx = "clang++"
"""

# `./configure --enable-llvm-assertions --llvm-targets=X86;AArch64` in an older checkout:
# blocks copied from config.example.toml, strings in single quotes.
CONFIGURE = """\
# =============================================================================
# Tweaking how LLVM is compiled
# =============================================================================
[llvm]

# Indicates whether the LLVM assertions are enabled or not
assertions = true

# LLVM targets to build support for.
# Note: this is NOT related to Rust compilation targets.
targets = 'X86;AArch64'

# =============================================================================
# General build configuration options
# =============================================================================
[build]

# Arguments passed to the `./configure` script, used during distcheck.
configure-args = ['--enable-llvm-assertions', '--llvm-targets=X86;AArch64']
"""

DOTTED = """\
profile = "compiler"
change-id = 146435
llvm.download-ci-llvm = "if-unchanged"
rust.lld = false
"""


def make_checkout(root: Path, config: str | None = None, name: str = "bootstrap.toml",
                  tracker: bool = True) -> Path:
    (root / "x.py").write_text("# x.py\n")
    (root / "src/bootstrap/src/utils").mkdir(parents=True)
    (root / "src/bootstrap/defaults").mkdir(parents=True)
    (root / "src/bootstrap/defaults/bootstrap.compiler.toml").write_text(COMPILER_PROFILE)
    if tracker:
        (root / checkout.CHANGE_TRACKER).write_text(TRACKER)
    if config is not None:
        (root / name).write_text(config)
    return root


def cli(root: Path, *argv: str) -> tuple[int, str, str, Shell]:
    """Run the command as cli.py does: (exit status, stdout, status output, shell)."""
    args = build_parser().parse_args(["bootstrap", "config", "--rust-src", str(root), *argv])
    err = io.StringIO()
    shell = Shell(stream=err, color="never")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = bc.run(shell, args)
    return rc, out.getvalue(), err.getvalue(), shell


def text(root: Path, name: str = "bootstrap.toml") -> str:
    return (root / name).read_text()


# ---------------------------------------------------------------- enable / disable

def test_enable_offload_in_a_setup_file_keeps_everything_else(tmp_path):
    root = make_checkout(tmp_path, SETUP)
    rc, _, err, _ = cli(root, "enable", "offload")
    assert rc == 0
    assert text(root) == SETUP.replace(
        'build-config = { LLVM_PARALLEL_LINK_JOBS = "2" }\n',
        'build-config = { LLVM_PARALLEL_LINK_JOBS = "2" }\noffload = true\nclang = true\n'
        'link-shared = true\n')
    llvm = tomllib.loads(text(root))["llvm"]
    assert (llvm["offload"], llvm["clang"], llvm["download-ci-llvm"]) == (True, True, False)
    assert llvm["link-shared"] is True
    assert "targets" not in llvm          # bootstrap's default list has AMDGPU and NVPTX
    assert "Set llvm.offload = true" in err and "Updated" in err
    assert (root / "bootstrap.toml.bak").read_text() == SETUP


def test_enable_offload_adds_gpu_targets_and_keeps_literal_quotes(tmp_path):
    root = make_checkout(tmp_path, CONFIGURE, name="config.toml")
    cli(root, "enable", "offload")
    assert not (root / "bootstrap.toml").exists()
    assert text(root, "config.toml") == CONFIGURE.replace(
        "targets = 'X86;AArch64'\n",
        "targets = 'X86;AArch64;AMDGPU;NVPTX'\noffload = true\nclang = true\n"
        "download-ci-llvm = false\nlink-shared = true\n") + "\n[rust]\nlld = true\n"


def test_enable_autodiff_with_dotted_keys_stays_dotted(tmp_path):
    root = make_checkout(tmp_path, DOTTED)
    cli(root, "enable", "autodiff")
    assert text(root) == (
        'profile = "compiler"\nchange-id = 146435\nllvm.download-ci-llvm = false\n'
        "llvm.enzyme = true\nllvm.link-shared = true\nllvm.plugins = true\nllvm.clang = true\n"
        "rust.lld = true\n")


def test_enable_mlir_writes_the_whole_project_list_and_follows_offload(tmp_path, capsys):
    root = make_checkout(tmp_path, SETUP)
    rc, _, err, shell = cli(root, "enable", "mlir")
    assert rc == 0
    after_mlir = SETUP.replace(
        'build-config = { LLVM_PARALLEL_LINK_JOBS = "2" }',
        'build-config = { LLVM_PARALLEL_LINK_JOBS = "2", LLVM_ENABLE_PROJECTS = "mlir" }')
    assert text(root) == after_mlir
    assert "experimental" in err and "replaces bootstrap's" in err
    assert "cargo mlir bootstrap build --llvm-project " + str(root / "src/llvm-project") in err
    # clang and compiler-rt are what bootstrap adds for offload; the list must keep them
    cli(root, "enable", "offload")
    assert tomllib.loads(text(root))["llvm"]["build-config"] == {
        "LLVM_PARALLEL_LINK_JOBS": "2", "LLVM_ENABLE_PROJECTS": "clang;compiler-rt;mlir"}
    # disabling mlir gives the list back to bootstrap, and keeps the user's own define
    cli(root, "disable", "mlir")
    assert 'build-config = { LLVM_PARALLEL_LINK_JOBS = "2" }\n' in text(root)
    assert "LLVM_ENABLE_PROJECTS" not in text(root)


def test_disable_mlir_removes_a_build_config_it_alone_used(tmp_path):
    root = make_checkout(tmp_path, DOTTED)
    cli(root, "enable", "mlir")
    assert tomllib.loads(text(root))["llvm"]["build-config"] == {"LLVM_ENABLE_PROJECTS": "mlir"}
    cli(root, "disable", "mlir")
    assert text(root) == DOTTED.replace('"if-unchanged"', "false")


def test_disable_offload_keeps_shared_keys_and_says_so(tmp_path):
    root = make_checkout(tmp_path, SETUP)
    cli(root, "enable", "offload")
    _, _, err, _ = cli(root, "disable", "offload")
    llvm = tomllib.loads(text(root))["llvm"]
    assert (llvm["offload"], llvm["clang"]) == (False, True)
    assert ("left llvm.clang, llvm.download-ci-llvm, llvm.link-shared, rust.lld as they are"
            in err)


def test_disable_of_a_feature_that_is_off_creates_no_file(tmp_path):
    root = make_checkout(tmp_path)
    rc, _, err, _ = cli(root, "disable", "offload")
    assert rc == 0 and "Unchanged" in err
    assert not (root / "bootstrap.toml").exists()


# ---------------------------------------------------------------- idempotence, dry run

@pytest.mark.parametrize("argv", [("enable", "offload", "autodiff", "mlir"),
                                  ("set", "llvm.link-jobs", "2"),
                                  ("unset", "rust.lld"),
                                  ("disable", "mlir")])
def test_the_second_run_changes_nothing(tmp_path, argv):
    root = make_checkout(tmp_path, SETUP)
    cli(root, *argv)
    first, backup = text(root), (root / "bootstrap.toml.bak").read_bytes() \
        if (root / "bootstrap.toml.bak").exists() else None
    stat = (root / "bootstrap.toml").stat()
    rc, _, err, _ = cli(root, *argv)
    assert rc == 0 and "Unchanged" in err
    assert text(root) == first
    assert (root / "bootstrap.toml").stat().st_mtime_ns == stat.st_mtime_ns
    assert ((root / "bootstrap.toml.bak").read_bytes() if backup is not None else None) == backup


def test_dry_run_prints_a_unified_diff_and_writes_nothing(tmp_path):
    root = make_checkout(tmp_path, SETUP)
    rc, out, err, _ = cli(root, "enable", "offload", "--dry-run")
    assert rc == 0
    assert text(root) == SETUP and not (root / "bootstrap.toml.bak").exists()
    assert out.splitlines()[:2] == ["--- a/bootstrap.toml", "+++ b/bootstrap.toml"]
    added = [line for line in out.splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert added == ["+offload = true", "+clang = true", "+link-shared = true"]
    assert "Would set llvm.offload = true" in err and "not written" in err


def test_dry_run_before_the_action_works_too(tmp_path):
    root = make_checkout(tmp_path)
    rc, out, _, _ = cli(root, "--dry-run", "enable", "autodiff")
    assert rc == 0 and not (root / "bootstrap.toml").exists()
    assert out.startswith("--- /dev/null\n+++ b/bootstrap.toml\n")
    assert "+enzyme = true" in out


# ---------------------------------------------------------------- a new file

def test_a_missing_file_is_created_as_x_py_setup_would(tmp_path):
    root = make_checkout(tmp_path)
    rc, _, err, _ = cli(root, "enable", "offload")
    assert rc == 0 and "Created" in err
    assert text(root) == (
        "# See bootstrap.example.toml for documentation of available options\n#\n"
        'profile = "compiler"  # Includes one of the default files in src/bootstrap/defaults\n'
        "change-id = 146435\n\n[llvm]\noffload = true\nclang = true\ndownload-ci-llvm = false\n"
        "link-shared = true\n\n[rust]\nlld = true\n")
    assert not (root / "bootstrap.toml.bak").exists()


def test_a_new_file_without_change_tracker_has_no_change_id(tmp_path):
    root = make_checkout(tmp_path, tracker=False)
    cli(root, "--profile", "dist", "set", "rust.lld", "true")
    assert tomllib.loads(text(root)) == {"profile": "dist", "rust": {"lld": True}}


def test_old_checkouts_get_config_toml(tmp_path):
    root = make_checkout(tmp_path)
    (root / "config.example.toml").write_text("# old example\n")
    cli(root, "enable", "autodiff")
    assert (root / "config.toml").exists() and not (root / "bootstrap.toml").exists()
    assert text(root, "config.toml").startswith("# See config.example.toml for documentation")


def test_latest_change_id_reads_the_last_entry(tmp_path):
    root = make_checkout(tmp_path)
    assert checkout.latest_change_id(root) == 146435
    (root / checkout.CHANGE_TRACKER).write_text(TRACKER.replace("146435", "147_001"))
    assert checkout.latest_change_id(root) == 147001


# ---------------------------------------------------------------- get / set / unset

def test_set_with_type_checks(tmp_path):
    root = make_checkout(tmp_path, SETUP)
    cli(root, "set", "llvm.link-jobs", "4")
    cli(root, "set", "llvm.download-ci-llvm", "if-unchanged")
    cli(root, "set", "change-id", "ignore")
    cli(root, "set", "llvm.build-config.LLVM_USE_SPLIT_DWARF", "ON")
    cli(root, "set", "target.x86_64-unknown-linux-gnu.llvm-config", "/usr/bin/llvm-config-22")
    data = tomllib.loads(text(root))
    assert data["llvm"]["link-jobs"] == 4
    assert data["llvm"]["download-ci-llvm"] == "if-unchanged"
    assert data["change-id"] == "ignore"
    assert data["llvm"]["build-config"] == {"LLVM_PARALLEL_LINK_JOBS": "2",
                                            "LLVM_USE_SPLIT_DWARF": "ON"}
    assert data["target"]["x86_64-unknown-linux-gnu"] == {
        "cc": "clang", "cxx": "clang++", "llvm-config": "/usr/bin/llvm-config-22"}
    assert text(root).startswith(SETUP.split("[llvm]")[0].replace("146435", '"ignore"'))


@pytest.mark.parametrize("key,value,message", [
    ("llvm.offload", "yes", 'llvm.offload expects a bool, not "yes"'),
    ("llvm.download-ci-llvm", "maybe",
     'llvm.download-ci-llvm expects a string or bool (true, false, "if-unchanged")'),
    ("llvm.targets", "[1]", None),                       # string keys take text as it is
    ("llvm.link-jobs", "two", 'llvm.link-jobs expects an integer, not "two"'),
    ("llvm.build-config", '{ A = 1 }', "llvm.build-config expects a table of strings"),
    ("profile", "llvm", 'profile expects a string (' ),
    ("llvm", "true", "llvm is a table"),
    ("llvm.assertions.x", "1", "llvm.assertions is true, not a table"),
])
def test_set_rejects_wrong_types_and_leaves_the_file(tmp_path, key, value, message):
    root = make_checkout(tmp_path, SETUP)
    if message is None:
        cli(root, "set", key, value)
        assert tomllib.loads(text(root))["llvm"]["targets"] == "[1]"
        return
    with pytest.raises(CargoMlirError) as exc:
        cli(root, "set", key, value)
    assert message in str(exc.value)
    assert text(root) == SETUP


def test_unknown_keys_warn_with_a_suggestion(tmp_path):
    root = make_checkout(tmp_path, SETUP)
    _, _, err, shell = cli(root, "set", "llvm.ofload", "true")
    assert "warning: llvm.ofload: did you mean llvm.offload?" in err
    assert shell.warnings == 1
    assert tomllib.loads(text(root))["llvm"]["ofload"] is True     # written anyway
    _, _, err, _ = cli(root, "set", "target.x86_64-unknown-linux-gnu.linkr", "clang")
    assert "did you mean target.x86_64-unknown-linux-gnu.linker?" in err
    _, _, err, _ = cli(root, "get", "zzz.qqq")
    assert "zzz.qqq is not a bootstrap.toml key that cargo-mlir knows" in err


def test_get_prints_toml_and_reports_unset_keys(tmp_path):
    root = make_checkout(tmp_path, SETUP)
    assert cli(root, "get", "llvm.assertions")[:2] == (0, "true\n")
    assert cli(root, "get", "llvm.build-config")[1] == '{ LLVM_PARALLEL_LINK_JOBS = "2" }\n'
    rc, out, err, _ = cli(root, "get", "llvm.polly")
    assert (rc, out) == (1, "")
    assert "llvm.polly is not set in bootstrap.toml; bootstrap uses false (default)" in err


def test_unset_removes_only_the_key_line(tmp_path):
    root = make_checkout(tmp_path, SETUP)
    cli(root, "unset", "llvm.assertions")
    assert text(root) == SETUP.replace("assertions = true   # catch integration bugs early\n", "")
    rc, _, err, _ = cli(root, "unset", "llvm.assertions")
    assert rc == 0 and "Unchanged" in err


def test_quoted_key_parts():
    assert T.parse_key('target."thumbv7em-none-eabihf.v2".cc') == (
        "target", "thumbv7em-none-eabihf.v2", "cc")
    assert T.dotted(("target", "a.b", "cc")) == 'target."a.b".cc'
    with pytest.raises(CargoMlirError, match="is not a TOML key"):
        T.parse_key("llvm..offload")


# ---------------------------------------------------------------- show

def test_show_names_the_source_of_each_value(tmp_path):
    root = make_checkout(tmp_path, SETUP)
    rc, out, err, _ = cli(root, "show")
    assert rc == 0
    rows = {}
    for line in out.splitlines():
        if line.startswith(" "):                    # the source of a too wide value
            rows[key] = (rows[key][0], line.split("# ", 1)[1])
        elif not line.startswith("#"):
            key, rest = (part.strip() for part in line.split(" = ", 1))
            value, _, source = rest.partition("  # ")
            rows[key] = (value.strip(), source)
    assert [k for k in rows] == [s.key for s in K.SHOWN]
    assert rows["profile"] == ('"compiler"', "bootstrap.toml")
    assert rows["change-id"] == ("146435", "bootstrap.toml")
    assert rows["llvm.download-ci-llvm"] == ("false", "bootstrap.toml")
    assert rows["llvm.assertions"] == ("true", "bootstrap.toml")
    assert rows["llvm.offload"] == ("false", "default")
    assert rows["llvm.targets"] == (f'"{K.DEFAULT_LLVM_TARGETS}"', "default")
    assert rows["llvm.build-config"] == ('{ LLVM_PARALLEL_LINK_JOBS = "2" }', "bootstrap.toml")
    assert rows["llvm.link-shared"] == ("(none)", "default: follows llvm.thin-lto (default false)")
    assert rows["rust.lld"] == ("true", "bootstrap.toml")
    assert "# profile compiler: src/bootstrap/defaults/bootstrap.compiler.toml" in out
    assert ("# offload: not enabled (needs llvm.offload = true, llvm.clang = true, "
            "llvm.link-shared = true)") in out
    assert err == ""


def test_show_reports_profile_values_and_bad_types(tmp_path):
    root = make_checkout(tmp_path, 'profile = "compiler"\n[llvm]\noffload = "yes"\n')
    _, out, err, _ = cli(root, "show")
    line = next(l for l in out.splitlines() if l.startswith("llvm.download-ci-llvm"))
    assert line.split("=", 1)[1].split("#")[0].strip() == "true"
    assert line.split("#")[1].strip() == "profile compiler"
    assert 'warning: llvm.offload expects a bool, not "yes"' in err


def test_show_without_a_file(tmp_path):
    root = make_checkout(tmp_path)
    rc, out, _, _ = cli(root, "show")
    assert rc == 0 and "(missing: x.py uses defaults)" in out
    assert not (root / "bootstrap.toml").exists()


# ---------------------------------------------------------------- errors

def test_malformed_toml_names_line_and_column_and_touches_nothing(tmp_path):
    bad = SETUP.replace("assertions = true ", "assertions = tru ")
    root = make_checkout(tmp_path, bad)
    with pytest.raises(CargoMlirError) as exc:
        cli(root, "enable", "offload")
    message = str(exc.value)
    line = bad.splitlines().index("assertions = tru   # catch integration bugs early") + 1
    assert f"bootstrap.toml:{line}:14: invalid TOML: Invalid value" in message
    assert "assertions = tru" in message and "it was not changed" in message
    assert text(root) == bad and not (root / "bootstrap.toml.bak").exists()


def test_duplicate_key_is_reported_with_its_position(tmp_path):
    root = make_checkout(tmp_path, "[llvm]\noffload = true\noffload = false\n")
    with pytest.raises(CargoMlirError, match=r"bootstrap.toml:3:\d+: invalid TOML: Cannot overwrite"):
        cli(root, "show")


def test_permission_denied_on_replace_loses_nothing(tmp_path, monkeypatch):
    """Root ignores file modes, so the failure is injected where a non-writable directory
    would stop a normal user: the rename of the temporary file onto the config."""
    root = make_checkout(tmp_path, SETUP)

    def deny(src, dst):
        raise PermissionError(13, "Permission denied", str(dst))

    monkeypatch.setattr(os, "replace", deny)
    with pytest.raises(CargoMlirError) as exc:
        cli(root, "enable", "offload")
    assert "permission denied" in str(exc.value) and "was not changed" in str(exc.value)
    assert text(root) == SETUP
    assert sorted(p.name for p in root.iterdir()) == ["bootstrap.toml", "src", "x.py"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_permission_denied_for_real(tmp_path):
    root = make_checkout(tmp_path, SETUP)
    root.chmod(0o555)
    try:
        with pytest.raises(CargoMlirError, match="permission denied"):
            cli(root, "enable", "offload")
    finally:
        root.chmod(0o755)
    assert text(root) == SETUP


def test_checkout_is_found_from_a_subdirectory(tmp_path, monkeypatch):
    (tmp_path / "rust").mkdir()
    root = make_checkout(tmp_path / "rust", SETUP)
    monkeypatch.chdir(root / "src/bootstrap")
    assert checkout.find_checkout(None) == root.resolve()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CargoMlirError, match="no rust checkout"):
        checkout.find_checkout(None)


def test_a_built_llvm_gets_a_rebuild_warning(tmp_path):
    root = make_checkout(tmp_path, DOTTED)
    stamp = root / "build/x86_64-unknown-linux-gnu/llvm/.llvm-stamp"
    stamp.parent.mkdir(parents=True)
    stamp.write_text("abc")
    _, _, err, _ = cli(root, "enable", "offload")
    assert f"LLVM is already built in {stamp.parent}" in err


def test_every_feature_key_is_a_known_key_of_the_right_type():
    for feature in K.FEATURES.values():
        for key, value in (*feature.enable, *feature.disable):
            parts = tuple(key.split("."))
            assert K.key_type(parts) == K.BOOL or key == "llvm.download-ci-llvm"
            K.check_value(parts, value)


def test_crlf_line_endings_and_split_tables_are_kept(tmp_path):
    original = ('profile = "compiler"\r\n\r\n[llvm]\r\nassertions = true\r\n\r\n'
                '[rust]\r\nlld = true\r\n\r\n[llvm.build-config]\r\nLLVM_PARALLEL_LINK_JOBS = "2"\r\n')
    root = make_checkout(tmp_path)
    (root / "bootstrap.toml").write_bytes(original.encode())
    cli(root, "enable", "offload", "mlir")
    assert (root / "bootstrap.toml").read_bytes().decode() == original.replace(
        "assertions = true\r\n",
        "assertions = true\r\noffload = true\r\nclang = true\r\ndownload-ci-llvm = false\r\n"
        "link-shared = true\r\n"
    ).replace('LLVM_PARALLEL_LINK_JOBS = "2"\r\n', 'LLVM_PARALLEL_LINK_JOBS = "2"\r\n'
              'LLVM_ENABLE_PROJECTS = "clang;compiler-rt;mlir"\r\n')


def test_a_symlinked_config_is_edited_through_the_link(tmp_path):
    root = make_checkout(tmp_path)
    (root / "configs").mkdir()
    real = root / "configs/offload.toml"
    real.write_text(DOTTED)
    (root / "bootstrap.toml").symlink_to(real)
    _, _, err, _ = cli(root, "enable", "autodiff")
    assert (root / "bootstrap.toml").is_symlink()
    assert tomllib.loads(real.read_text())["llvm"]["enzyme"] is True
    assert (root / "configs/offload.toml.bak").read_text() == DOTTED
    assert "previous content in offload.toml.bak" in err


def test_profile_option_only_applies_to_a_new_file(tmp_path):
    root = make_checkout(tmp_path, DOTTED)
    _, _, err, _ = cli(root, "enable", "autodiff", "--profile", "dist")
    assert "--profile only applies to a new file" in err
    assert tomllib.loads(text(root))["profile"] == "compiler"


# ---------------------------------------------------------------- rust's example layouts

FIXTURES = Path(__file__).parent / "fixtures"


def only_added(old: str, new: str) -> list[str]:
    """The lines new adds to old; fails unless every old line is kept, in order."""
    old_lines, new_lines, added = old.splitlines(), new.splitlines(), []
    i = 0
    for line in new_lines:
        if i < len(old_lines) and line == old_lines[i]:
            i += 1
        else:
            added.append(line)
    assert i == len(old_lines), f"line {i + 1} of the original is gone: {old_lines[i]!r}"
    return added


def lines_around(new: str, line: str) -> tuple[str, str]:
    lines = new.splitlines()
    at = lines.index(line)
    return lines[at - 1], lines[at + 1]


def test_old_layout_with_comment_only_tables(tmp_path):
    """config.example.toml copied to config.toml: `[llvm]` holds only comments and ends
    in the GCC banner; new keys go into it, before that banner."""
    original = (FIXTURES / "config.example.old.toml").read_text()
    root = make_checkout(tmp_path, original, name="config.toml")
    rc, _, err, _ = cli(root, "enable", "offload", "autodiff")
    assert rc == 0
    new = text(root, "config.toml")
    assert only_added(original, new) == [
        "offload = true", "clang = true", "download-ci-llvm = false", "link-shared = true",
        "enzyme = true", "plugins = true", "lld = true"]
    # inside [llvm], after its last commented key, the blank line and banner after them
    assert lines_around(new, "offload = true")[0] == "#build-config = {}"
    assert new.split("plugins = true\n", 1)[1].startswith(
        "\n# ======================================================================"
        "=======\n# Tweaking how GCC is compiled\n")
    assert lines_around(new, "lld = true") == ("#lld = false", "")
    data = tomllib.loads(new)
    assert data["llvm"] == {"offload": True, "clang": True, "download-ci-llvm": False,
                            "link-shared": True, "enzyme": True, "plugins": True}
    assert data["rust"] == {"lld": True} and data["gcc"] == {} and data["build"] == {}
    assert "warning" not in err
    assert cli(root, "enable", "offload", "autodiff")[2].strip().startswith("Unchanged")


def test_current_dotted_layout(tmp_path):
    """bootstrap.example.toml copied to bootstrap.toml: no `[llvm]`, keys commented out as
    `#llvm.key = value`; new keys are written the same way, in their section."""
    original = (FIXTURES / "bootstrap.example.dotted.toml").read_text()
    root = make_checkout(tmp_path, original)
    rc, _, _, _ = cli(root, "enable", "offload", "mlir")
    assert rc == 0
    new = text(root)
    assert only_added(original, new) == [
        "llvm.offload = true", "llvm.clang = true", "llvm.download-ci-llvm = false",
        "llvm.link-shared = true", 'llvm.build-config = { LLVM_ENABLE_PROJECTS = '
                                   '"clang;compiler-rt;mlir" }', "rust.lld = true"]
    assert lines_around(new, "llvm.offload = true")[0] == "#llvm.build-config = {}"
    assert new.index("llvm.build-config = {") < new.index("# Tweaking how GCC is compiled")
    assert lines_around(new, "rust.lld = true") == ("#rust.lld = false", "")
    assert new.index("rust.lld = true") < new.index("[target.x86_64-unknown-linux-gnu]")
    data = tomllib.loads(new)
    assert data["llvm"]["offload"] is True and data["rust"] == {"lld": True}
    assert data["llvm"]["build-config"] == {"LLVM_ENABLE_PROJECTS": "clang;compiler-rt;mlir"}
    assert data["target"] == {"x86_64-unknown-linux-gnu": {}}
    # a later edit of the same section stays with it
    cli(root, "set", "llvm.link-jobs", "2")
    assert lines_around(text(root), "llvm.link-jobs = 2")[0].startswith("llvm.build-config")


def test_a_key_in_a_comment_only_table_goes_before_the_next_banner(tmp_path):
    original = ("[llvm]\n\n# Whether to build the clang compiler.\n#clang = false\n\n"
                "# ====================\n# Options for compiling Rust code itself\n"
                "# ====================\n[rust]\n")
    root = make_checkout(tmp_path, original)
    cli(root, "set", "llvm.link-jobs", "2")
    assert text(root) == original.replace("#clang = false\n", "#clang = false\nlink-jobs = 2\n")


# ---------------------------------------------------------------- keys rust removed

@pytest.mark.parametrize("key,successor", [("llvm.ccache", "build.ccache"),
                                           ("rust.description", "build.description")])
def test_keys_rust_removed_are_refused_with_their_successor(tmp_path, key, successor):
    root = make_checkout(tmp_path, SETUP)
    with pytest.raises(CargoMlirError) as exc:
        cli(root, "set", key, "true")
    assert f"{key} is no longer a bootstrap.toml key" in exc.value.message
    assert "change 143926" in exc.value.message and "rejects it" in exc.value.message
    assert f"use {successor} instead" in exc.value.message
    assert exc.value.hint == f"cargo mlir bootstrap config set {successor} true"
    assert text(root) == SETUP
    assert K.key_type(tuple(successor.split("."))) is not None


def test_a_removed_key_in_the_file_is_reported_and_can_be_unset(tmp_path):
    root = make_checkout(tmp_path, SETUP.replace("[rust]\n", '[rust]\ndescription = "mine"\n'))
    _, _, err, _ = cli(root, "show")
    assert ("warning: rust.description is no longer a bootstrap.toml key: rust removed it in "
            "change 143926") in err and "use build.description instead" in err
    cli(root, "unset", "rust.description")
    assert text(root) == SETUP


# ---------------------------------------------------------------- CI LLVM conflicts

def test_download_ci_llvm_with_offload_is_reported(tmp_path):
    root = make_checkout(tmp_path, SETUP)
    _, _, err, _ = cli(root, "enable", "offload")
    assert "warning" not in err                              # it set download-ci-llvm false
    _, _, err, _ = cli(root, "set", "llvm.download-ci-llvm", "if-unchanged")
    for key in ("offload", "clang", "build-config"):
        assert (f'warning: llvm.{key} = ' in err and f'"Setting `llvm.{key}` is incompatible '
                'with `llvm.download-ci-llvm`"' in err), key
    assert "set llvm.download-ci-llvm = false" in err
    _, _, shown, _ = cli(root, "show")
    assert 'is refused with llvm.download-ci-llvm = "if-unchanged" (bootstrap.toml)' in shown
    # the profile's download-ci-llvm = true counts too
    cli(root, "unset", "llvm.download-ci-llvm")
    _, _, shown, _ = cli(root, "show")
    assert "is refused with llvm.download-ci-llvm = true (profile compiler)" in shown


def test_download_ci_llvm_conflicts_follow_ci_builder_config(tmp_path):
    """With CI's LLVM downloaded, bootstrap compares with its builder-config: a value equal
    to CI's is accepted (enzyme, change 147888), another is not."""
    root = make_checkout(tmp_path, "[llvm]\nenzyme = true\nclang = true\n")
    config = root / "build/x86_64-unknown-linux-gnu/ci-llvm/builder-config"
    config.parent.mkdir(parents=True)
    config.write_text("[llvm]\nenzyme = true\n")
    _, _, err, _ = cli(root, "show")
    assert "llvm.enzyme" not in err
    assert "llvm.clang = true is refused" in err and "builder-config" in err


# ---------------------------------------------------------------- disable, show, offload-clang-dir

def test_disable_is_silent_when_nothing_changes(tmp_path):
    root = make_checkout(tmp_path, SETUP)
    cli(root, "enable", "offload")
    _, _, first, _ = cli(root, "disable", "offload")
    assert "left llvm.clang" in first
    _, _, second, _ = cli(root, "disable", "offload")
    assert second.strip().startswith("Unchanged") and "Note" not in second


def test_show_aligns_the_source_column(tmp_path):
    root = make_checkout(tmp_path, SETUP.replace(
        '{ LLVM_PARALLEL_LINK_JOBS = "2" }',
        '{ LLVM_PARALLEL_LINK_JOBS = "2", LLVM_ENABLE_PROJECTS = "clang;compiler-rt;mlir" }'))
    _, out, _, _ = cli(root, "show")
    rows = [line for line in out.splitlines() if not line.startswith("#")]
    assert {line.index(" = ") for line in rows if " = " in line} == {len("llvm.experimental-targets")}
    columns = {line.index("  # ") for line in rows if "  # " in line}
    assert len(columns) == 1, out
    build_config = rows.index(next(r for r in rows if r.startswith("llvm.build-config ")))
    assert "#" not in rows[build_config]
    assert rows[build_config + 1].strip() == "# bootstrap.toml"


def test_offload_clang_dir_takes_the_place_of_clang(tmp_path):
    root = make_checkout(tmp_path, '[llvm]\noffload-clang-dir = "/opt/llvm/lib/cmake/clang"\n')
    (root / checkout.CHANGE_TRACKER).write_text(TRACKER.replace(
        "`llvm.enzyme` ... (the last entry)", "New option `llvm.offload-clang-dir` …"))
    _, _, err, _ = cli(root, "enable", "offload")
    llvm = tomllib.loads(text(root))["llvm"]
    assert "clang" not in llvm and llvm["offload"] is True
    assert "# offload: enabled" in cli(root, "show")[1]
    # without it, clang is written, and the checkout's bootstrap knows the alternative
    (tmp_path / "b").mkdir()
    root2 = make_checkout(tmp_path / "b", DOTTED)
    (root2 / checkout.CHANGE_TRACKER).write_text((root / checkout.CHANGE_TRACKER).read_text())
    _, _, err, _ = cli(root2, "enable", "offload")
    assert "set llvm.offload-clang-dir to the directory of its ClangConfig.cmake" in err
    # a checkout from before change 148671 rejects the key
    (tmp_path / "c").mkdir()
    root3 = make_checkout(tmp_path / "c", '[llvm]\noffload-clang-dir = "/opt/c"\n')
    _, _, err, _ = cli(root3, "enable", "offload")
    assert "this checkout's bootstrap does not know it" in err
