"""`cargo mlir init` / `new` without cargo: the Cargo.toml edit on literal
manifests (compared as exact text, so any stray change fails), the manifest
search, name validation, the starter crate and the support crate's stable copy."""

from __future__ import annotations

import argparse
import io
import os
from pathlib import Path

import pytest
import tomlkit

from cargo_mlir import __version__
from cargo_mlir.cargo import project
from cargo_mlir import resources
from cargo_mlir.errors import CargoMlirError
from cargo_mlir.term import Shell

SUPPORT = Path("/data/cargo-mlir/crates/cargo-mlir-0.1.0-abc")
LINE = f'cargo-mlir = {{ path = "{SUPPORT}" }}\n'

REALISTIC = """\
# A crate somebody cares about.
[package]
name    = "nbody"          # aligned on purpose
version = "0.3.1"
edition = "2021"
authors = ["A. Person <a@example.org>"]

[features]
default = ["simd"]
simd = []

[dependencies]
serde = { version = "1.0", features = ["derive"] }   # serialization
rand  = "0.8"
rayon = { version = "1.8", optional = true }

# Test-only helpers below.
[dev-dependencies]
proptest = "1"

[profile.release]
lto = true
"""


@pytest.fixture
def data_home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    return tmp_path / "xdg-data" / "cargo-mlir"


def quiet_shell() -> Shell:
    return Shell(stream=io.StringIO(), color="never")


# ---------------------------------------------------------------- the edit itself

def test_adds_after_the_last_dependency_and_changes_nothing_else():
    edit = project.add_support_dependency(REALISTIC, SUPPORT)
    anchor = 'rayon = { version = "1.8", optional = true }\n'
    assert edit.action == "added"
    assert edit.text == REALISTIC.replace(anchor, anchor + LINE)


def test_adds_a_dependencies_table_at_the_end_when_there_is_none():
    text = '[package]\nname = "x"\nversion = "0.1.0"\n\n[package.metadata.docs]\nall = true\n'
    edit = project.add_support_dependency(text, SUPPORT)
    assert edit.text == text + "\n[dependencies]\n" + LINE


def test_file_without_final_newline_only_gains_text():
    text = '[package]\nname = "x"\n\n[dependencies]\nrand = "0.8"'
    assert project.add_support_dependency(text, SUPPORT).text == text + "\n" + LINE


def test_goes_before_dependency_subtables():
    text = ('[package]\nname = "x"\n\n[dependencies]\nrand = "0.8"\n\n'
            '[dependencies.tokio]\nversion = "1"\nfeatures = ["full"]\n')
    edit = project.add_support_dependency(text, SUPPORT)
    assert edit.text == text.replace('rand = "0.8"\n', 'rand = "0.8"\n' + LINE)


def test_keeps_crlf_line_endings():
    text = '[package]\r\nname = "x"\r\n\r\n[dependencies]\r\nrand = "0.8"\r\n'
    edit = project.add_support_dependency(text, SUPPORT)
    assert edit.text == text + LINE.replace("\n", "\r\n")


def test_second_run_is_a_no_op():
    once = project.add_support_dependency(REALISTIC, SUPPORT).text
    twice = project.add_support_dependency(once, SUPPORT)
    assert twice.action == "unchanged" and twice.text == once


def test_relative_path_to_the_same_copy_counts_as_set_up():
    text = '[package]\nname = "x"\n[dependencies]\ncargo-mlir = { path = "../../../data/cargo-mlir/crates/cargo-mlir-0.1.0-abc" }\n'
    edit = project.add_support_dependency(text, SUPPORT, "/home/me/crate/Cargo.toml")
    assert edit.action == "unchanged" and edit.text == text


@pytest.mark.parametrize("old_entry, new_entry, old", [
    ('cargo-mlir = { path = "../templates/cargo-mlir", features = ["x"] }  # ours',
     f'cargo-mlir = {{ path = "{SUPPORT}", features = ["x"] }}  # ours', "../templates/cargo-mlir"),
    ('cargo-mlir = "0.1"', f'cargo-mlir = {{ path = "{SUPPORT}" }}', "0.1"),
    ('cargo-mlir = { version = "0.1", features = ["a", "b"] }',
     f'cargo-mlir = {{ path = "{SUPPORT}", version = "0.1", features = ["a", "b"] }}', "0.1"),
    ('cargo-mlir = { git = "https://example.org/cm", branch = "main", default-features = false }',
     f'cargo-mlir = {{ path = "{SUPPORT}", default-features = false }}', "https://example.org/cm"),
])
def test_another_source_is_repointed_in_place(old_entry, new_entry, old):
    text = f'[package]\nname = "x"\n\n[dependencies]\nrand = "0.8"\n{old_entry}\nzzz = "1"\n'
    edit = project.add_support_dependency(text, SUPPORT)
    assert (edit.action, edit.old_path) == ("updated", old)
    assert edit.text == text.replace(old_entry, new_entry)


def test_super_table_form_is_repointed():
    text = '[package]\nname = "x"\n\n[dependencies.cargo-mlir]\npath = "/old"  # keep me\n'
    edit = project.add_support_dependency(text, SUPPORT)
    assert edit.text == text.replace('"/old"', f'"{SUPPORT}"')


def test_workspace_inherited_dependency_is_left_alone():
    text = '[package]\nname = "x"\n\n[dependencies]\ncargo-mlir.workspace = true\n'
    edit = project.add_support_dependency(text, SUPPORT)
    assert edit.action == "inherited" and edit.text == text


def test_root_package_of_a_workspace_is_fine():
    text = '[workspace]\nmembers = ["sub"]\n\n[package]\nname = "root"\n'
    edit = project.add_support_dependency(text, SUPPORT)
    assert edit.text == text + "\n[dependencies]\n" + LINE


def test_virtual_workspace_is_refused_with_the_members():
    text = '[workspace]\nmembers = ["kernels", "app"]\nresolver = "2"\n'
    with pytest.raises(CargoMlirError) as err:
        project.add_support_dependency(text, SUPPORT, "/ws/Cargo.toml")
    msg = str(err.value)
    assert "/ws/Cargo.toml is a virtual workspace manifest (members: kernels, app)" in msg
    assert "--manifest-path MEMBER/Cargo.toml" in msg


def test_manifest_without_package_is_refused():
    with pytest.raises(CargoMlirError, match=r"has no \[package\] table"):
        project.add_support_dependency('[dependencies]\nrand = "0.8"\n', SUPPORT)


def test_malformed_toml_reports_line_and_column():
    text = '[package]\nname = "x"\n\n[dependencies]\nrand = "0.8\n'
    with pytest.raises(CargoMlirError) as err:
        project.add_support_dependency(text, SUPPORT, "/c/Cargo.toml")
    assert str(err.value).startswith("could not parse /c/Cargo.toml:5:")
    assert "the file was not changed" in str(err.value)


def test_dependencies_that_is_not_a_table_is_refused():
    with pytest.raises(CargoMlirError, match="`dependencies` in Cargo.toml is not a table"):
        project.add_support_dependency('dependencies = 3\n[package]\nname = "x"\n', SUPPORT)


# ---------------------------------------------------------------- init on files

def test_init_from_a_subdirectory_then_again(tmp_path, data_home):
    crate = tmp_path / "crate"
    (crate / "src").mkdir(parents=True)
    (crate / "Cargo.toml").write_text(REALISTIC)
    shell = quiet_shell()
    assert project.init(shell, None, cwd=crate / "src") == 0
    support = resources.support_crate_path()
    assert support.parent == data_home / "crates"
    text = (crate / "Cargo.toml").read_text()
    anchor = 'rayon = { version = "1.8", optional = true }\n'
    assert text == REALISTIC.replace(anchor, f'{anchor}cargo-mlir = {{ path = "{support}" }}\n')
    out = shell.stream.getvalue()
    assert f"      Adding cargo-mlir support crate to {crate / 'Cargo.toml'}" in out
    assert "#[offload_kernel]" in out and "cargo mlir run" in out

    before = (crate / "Cargo.toml").stat()
    shell = quiet_shell()
    assert project.init(shell, crate / "Cargo.toml") == 0
    assert "is already set up for cargo-mlir" in shell.stream.getvalue()
    after = (crate / "Cargo.toml").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_init_leaves_a_malformed_manifest_untouched(tmp_path, data_home):
    manifest = tmp_path / "Cargo.toml"
    manifest.write_bytes(b'[package]\nname = "x\n')
    with pytest.raises(CargoMlirError, match=r"Cargo.toml:2:"):
        project.init(quiet_shell(), manifest)
    assert manifest.read_bytes() == b'[package]\nname = "x\n'
    assert [p.name for p in tmp_path.iterdir()] == ["Cargo.toml"]  # no temp file, no support copy


def test_init_in_a_virtual_workspace_root(tmp_path, data_home):
    (tmp_path / "Cargo.toml").write_text('[workspace]\nmembers = ["a"]\n')
    with pytest.raises(CargoMlirError, match="virtual workspace manifest"):
        project.init(quiet_shell(), None, cwd=tmp_path)
    assert not data_home.exists()


def test_find_manifest_without_any(tmp_path):
    with pytest.raises(CargoMlirError, match="could not find `Cargo.toml`"):
        project.find_manifest(tmp_path)


# ---------------------------------------------------------------- names

@pytest.mark.parametrize("name", ["saxpy", "my-app", "my_app", "_private", "app2", "Mixed-Case"])
def test_valid_names(name):
    project.validate_name(name)


@pytest.mark.parametrize("name, why", [
    ("", "cannot be empty"),
    ("2fast", "cannot start with a digit"),
    ("my app", "invalid character ` `"),
    ("my.app", "invalid character `.`"),
    ("héllo", "invalid character `é`"),
    ("-dash", "invalid character `-`"),
    ("fn", "Rust keyword"),
    ("test", "built-in crate"),
    ("cargo_mlir", "support crate"),
])
def test_invalid_names(name, why):
    with pytest.raises(CargoMlirError) as err:
        project.validate_name(name, from_dir=True)
    assert f"the name `{name}` cannot be used as a package name" in str(err.value)
    assert why in str(err.value) and "--name" in str(err.value)


# ---------------------------------------------------------------- new

def new_args(path: Path, name: str | None = None) -> argparse.Namespace:
    return argparse.Namespace(command="new", path=str(path), name=name)


def test_new_writes_the_starter(tmp_path, data_home):
    shell = quiet_shell()
    assert project.run(shell, new_args(tmp_path / "hello", "hello-gpu")) == 0
    crate = tmp_path / "hello"
    assert sorted(p.relative_to(crate).as_posix() for p in crate.rglob("*") if p.is_file()) == \
        ["Cargo.toml", "src/main.rs"]
    text = (crate / "Cargo.toml").read_text()
    manifest = tomlkit.parse(text).unwrap()
    assert manifest["package"]["name"] == "hello-gpu"
    assert manifest["dependencies"] == {"cargo-mlir": {"path": str(resources.support_crate_path())}}
    assert manifest["package"]["metadata"] == {"cargo-mlir": {}}
    assert '# offload-arch = ["gfx90a", "sm_90"]' in text
    main = (crate / "src/main.rs").read_text()
    for piece in ("use cargo_mlir::offload::{offload, offload_kernel};\nuse cargo_mlir::gpu;\n",
                  "#[offload_kernel]\nfn saxpy(a: f32, x: &[f32], y: &mut [f32]) {",
                  "let i = gpu::global_id_x();", "workgroup_dim = [n / 256, 1, 1],",
                  "thread_dim = [256, 1, 1],", "args = (3.0, &x[..], &mut y[..]),", "#[test]"):
        assert piece in main
    assert "Creating binary (application) `hello-gpu` package" in shell.stream.getvalue()


def test_new_into_an_empty_directory_uses_its_name(tmp_path, data_home):
    (tmp_path / "kernels").mkdir()
    project.new(quiet_shell(), tmp_path / "kernels", None)
    assert tomlkit.parse((tmp_path / "kernels/Cargo.toml").read_text())["package"]["name"] == "kernels"


def test_new_refuses_a_non_empty_directory(tmp_path, data_home):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(CargoMlirError, match="already exists") as err:
        project.new(quiet_shell(), tmp_path / "taken", None)
    assert "cargo mlir init" in str(err.value)
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["notes.txt"]


def test_new_refuses_a_bad_directory_name_before_writing(tmp_path, data_home):
    with pytest.raises(CargoMlirError, match="(?s)cannot start with a digit.*--name"):
        project.new(quiet_shell(), tmp_path / "1st", None)
    assert not (tmp_path / "1st").exists()


# ---------------------------------------------------------------- package data

def test_templates_are_found_from_the_source_tree():
    assert (resources.templates_dir() / "cargo-mlir" / "src" / "lib.rs").is_file()
    assert (resources.starter_dir() / "Cargo.toml.in").is_file()
    assert (resources.bootstrap_dir() / "mlir.cmake").is_file()


def fake_template(root: Path, lib: str = "pub fn f() {}\n") -> Path:
    crate = root / "cargo-mlir"
    for rel, text in {"Cargo.toml": "[package]\n", "src/lib.rs": lib, "macros/Cargo.toml": "[package]\n",
                      "macros/src/lib.rs": "// m\n", "Cargo.lock": "junk", "target/debug/x": "junk",
                      "macros/target/y": "junk", "README.md": "not part of the crate"}.items():
        (crate / rel).parent.mkdir(parents=True, exist_ok=True)
        (crate / rel).write_text(text)
    return root


def test_support_copy_has_only_the_crate_and_is_made_once(tmp_path, data_home, monkeypatch):
    monkeypatch.setattr(resources, "templates_dir", lambda: fake_template(tmp_path / "t"))
    copy = resources.support_crate_path()
    assert copy.parent == data_home / "crates"
    assert copy.name.startswith(f"cargo-mlir-{__version__}-") and len(copy.name.rsplit("-", 1)[1]) == 12
    assert sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*") if p.is_file()) == \
        ["Cargo.toml", "macros/Cargo.toml", "macros/src/lib.rs", "src/lib.rs"]
    stamp = (copy / "src/lib.rs").stat().st_mtime_ns
    assert resources.support_crate_path() == copy
    assert (copy / "src/lib.rs").stat().st_mtime_ns == stamp
    assert os.listdir(data_home / "crates") == [copy.name]        # no temporary folders left


def test_changed_sources_get_a_new_copy(tmp_path, data_home, monkeypatch):
    monkeypatch.setattr(resources, "templates_dir", lambda: fake_template(tmp_path / "a"))
    first = resources.support_crate_path()
    monkeypatch.setattr(resources, "templates_dir", lambda: fake_template(tmp_path / "b", "pub fn g() {}\n"))
    second = resources.support_crate_path()
    assert first != second and (second / "src/lib.rs").read_text() == "pub fn g() {}\n"
    assert (first / "src/lib.rs").read_text() == "pub fn f() {}\n"
