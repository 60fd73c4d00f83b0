"""The no-op path's stand-ins agree with the modules it avoids importing, and
the project-facts cache's key covers what it must."""

from __future__ import annotations

from pathlib import Path

from cargo_mlir.cargo import metadata, units


def test_state_files_read_as_empty_when_missing_or_damaged(tmp_path):
    """The no-op path reads its state through fsutil, which must stay cheap to import."""
    from cargo_mlir import fsutil
    (tmp_path / "bad.json").write_text("{")
    assert fsutil.read_json(tmp_path / "bad.json") == {}
    assert fsutil.read_json(tmp_path / "none.json") == {}
    assert units.done_path(units.state_dir(tmp_path)) == tmp_path / "cargo-mlir" / "done.json"


def test_fsutil_imports_nothing_heavy():
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", "import sys, cargo_mlir.cargo.metadata, cargo_mlir.fsutil; "
                          "print(' '.join(m for m in ('hashlib', 'tempfile') if m in sys.modules))"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_precomputed_hashes_equal_the_computed_ones():
    from cargo_mlir.fsutil import sha256_text
    f = metadata.Facts(Path("/w"), Path("/w/target"), (), {}, {"b": "2", "a": "1"}, "rustc=1", "src")
    assert f.made_by == units.producer("src", "rustc=1")
    want = sha256_text("a=1", "b=2", "<config>", "", "rustc=1", "src")[:16]
    assert f.fingerprint(None, None) == want == metadata.Facts.from_json(f.to_json()).fingerprint(None, None)
    assert f.fingerprint(("gfx90a",), None) != want and f.fingerprint(None, Path("/ir")) != want


def test_the_key_ignores_the_built_programs_settings(monkeypatch):
    monkeypatch.setenv("CARGO_MLIR_LOG", "info")
    key = metadata._env_key()
    monkeypatch.setenv("CARGO_MLIR_LOG", "")
    monkeypatch.setenv("CARGO_MLIR_DEVICE", "host")
    assert metadata._env_key() == key
    monkeypatch.setenv("CARGO_TARGET_DIR", "/elsewhere")
    assert metadata._env_key() != key
    monkeypatch.setenv("RUSTUP_TOOLCHAIN", "nightly")
    assert metadata._env_key()["RUSTUP_TOOLCHAIN"] == "nightly"


def test_paths_in_a_config_are_found(tmp_path):
    from cargo_mlir import config
    script = tmp_path / "t.mlir"
    script.write_text("")
    cfg = config.parse({"pipeline": {"host": {"lower": {"transform": "t.mlir"}}}}, "[x]", tmp_path)
    assert metadata._paths_in({"p": cfg}) == [script]


def test_a_changed_file_misses(tmp_path):
    f = tmp_path / "Cargo.toml"
    f.write_text("a")
    cached = {"schema": metadata.FACTS_SCHEMA, "cwd": str(tmp_path), "manifest_path": "", "env": metadata._env_key(),
              "files": [str(f), str(tmp_path / "absent")], "stats": [metadata._stat(str(f)), None]}
    assert metadata._fresh(cached, tmp_path, None)
    f.write_text("b")
    assert not metadata._fresh(cached, tmp_path, None)
    cached["stats"][0] = metadata._stat(str(f))
    (tmp_path / "absent").write_text("")
    assert not metadata._fresh(cached, tmp_path, None)
    assert not metadata._fresh({**cached, "cwd": "/elsewhere"}, tmp_path, None)
