"""`cargo mlir build|run|test` arguments: ours are taken out, cargo's pass
through in order, and everything after `--` reaches the program untouched."""

from __future__ import annotations


import pytest

from cargo_mlir.cargo.args import parse_args
from cargo_mlir.errors import CargoMlirError


def test_our_flags_removed_cargo_flags_forwarded_in_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    a = parse_args("build", ["--release", "--offload-arch", "gfx90a,sm_90", "-p", "saxpy", "--emit-ir=ir",
                             "--features", "a b", "--print-pipeline", "--bin", "main"])
    assert a.command == "build"
    assert a.cargo_args == ("--release", "-p", "saxpy", "--features", "a b", "--bin", "main")
    assert a.offload_arch == ("gfx90a", "sm_90")
    assert a.emit_ir == tmp_path / "ir"                   # absolute: cargo runs us elsewhere
    assert a.print_pipeline and a.trailing == ()


def test_everything_after_double_dash_is_untouched():
    a = parse_args("run", ["--offload-arch=sm_90", "--", "--offload-arch", "x", "-vv", "--", "--emit-ir", "y"])
    assert a.offload_arch == ("sm_90",)
    assert a.trailing == ("--offload-arch", "x", "-vv", "--", "--emit-ir", "y")
    assert a.cargo_args == () and a.verbosity == 0 and a.emit_ir is None


def test_empty_offload_arch_means_host_only():
    # `--offload-arch ""` is a request for no GPU code, unlike not passing it (None: use the config)
    assert parse_args("build", ["--offload-arch", ""]).offload_arch == ()
    assert parse_args("build", []).offload_arch is None


@pytest.mark.parametrize("argv, verbosity", [
    (["-v"], 1), (["-vv"], 2), (["-v", "-v"], 2), (["-vv", "--verbose"], 3), (["-q"], -1), ([], 0),
])
def test_verbosity_counted_and_still_forwarded(argv, verbosity):
    a = parse_args("build", argv)
    assert a.verbosity == verbosity
    assert a.cargo_args == tuple(argv)          # cargo gets its own -v / -q


def test_a_flag_that_only_starts_with_v_is_not_verbosity():
    a = parse_args("build", ["-vx"])
    assert a.verbosity == 0 and a.cargo_args == ("-vx",)


@pytest.mark.parametrize("argv", [["--manifest-path", "sub/Cargo.toml"], ["--manifest-path=sub/Cargo.toml"]])
def test_manifest_path_both_forms(argv, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    a = parse_args("test", [*argv, "--lib"])
    assert a.manifest_path == tmp_path / "sub" / "Cargo.toml"
    assert a.cargo_args == (*argv, "--lib")      # cargo needs it too, spelled as given


def test_target_dir_and_color_are_read_and_forwarded_with_jobs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["--target-dir", "out", "--color=always", "-j", "4", "-j4"]
    a = parse_args("build", argv)
    assert (a.target_dir, a.color) == (tmp_path / "out", "always")
    assert a.cargo_args == tuple(argv)


def test_help_is_noticed_and_forwarded():
    a = parse_args("build", ["--help"])
    assert a.help and a.cargo_args == ("--help",)


@pytest.mark.parametrize("flag", ["--offload-arch", "--emit-ir", "--manifest-path"])
def test_missing_value_is_a_user_error(flag):
    with pytest.raises(CargoMlirError, match=f"`{flag}` needs a value"):
        parse_args("build", ["--release", flag])


def test_missing_value_before_double_dash_does_not_steal_trailing_args():
    with pytest.raises(CargoMlirError, match="`--offload-arch` needs a value"):
        parse_args("run", ["--offload-arch", "--", "gfx90a"])


def test_the_two_passes_run_these_cargo_commands(monkeypatch):
    from cargo_mlir.build.command import cargo_command
    monkeypatch.delenv("CARGO", raising=False)
    run = parse_args("run", ["--release", "-p", "app", "--emit-ir", "/tmp/x", "--", "3", "--flag"])
    assert cargo_command(run, 1) == ["cargo", "build", "--release", "-p", "app"]
    assert cargo_command(run, 2) == ["cargo", "run", "--release", "-p", "app", "--", "3", "--flag"]
    test = parse_args("test", ["--lib", "name_filter", "--", "--nocapture"])
    assert cargo_command(test, 1) == ["cargo", "test", "--no-run", "--lib", "name_filter"]
    assert cargo_command(test, 2) == ["cargo", "test", "--lib", "name_filter", "--", "--nocapture"]


def test_pass_one_of_test_accepts_the_users_no_run_and_doc(monkeypatch):
    from cargo_mlir.build.command import cargo_command
    monkeypatch.delenv("CARGO", raising=False)
    no_run = parse_args("test", ["--no-run", "--release"])
    assert cargo_command(no_run, 1) == ["cargo", "test", "--no-run", "--release"]
    doc = parse_args("test", ["--doc", "-p", "app", "--features=fast", "--release", "some_filter"])
    assert cargo_command(doc, 1) == ["cargo", "build", "--lib", "-p", "app", "--features=fast", "--release"]
    assert cargo_command(doc, 2) == ["cargo", "test", "--doc", "-p", "app", "--features=fast", "--release",
                                     "some_filter"]


def test_the_passes_run_the_cargo_that_started_us(monkeypatch):
    """cargo sets CARGO for its subcommands: the passes skip rustup's proxy."""
    from cargo_mlir.build.command import cargo_command
    monkeypatch.setenv("CARGO", "/toolchain/bin/cargo")
    build = parse_args("build", ["--release"])
    assert cargo_command(build, 1)[0] == cargo_command(build, 2)[0] == "/toolchain/bin/cargo"
