"""`[package.metadata.cargo-mlir]`: zero configuration, errors that list the
valid keys, pass-pipeline normalisation, overrides per target and per kernel,
and a hash that covers every setting (it is part of the build cache key)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cargo_mlir import config
from cargo_mlir.config import Config, KernelConfig, PassSpec, Pipelines
from cargo_mlir.errors import CargoMlirError

WHERE = "[package.metadata.cargo-mlir] of /w/Cargo.toml"
AT = "/w/Cargo.toml: [package.metadata.cargo-mlir"          # how errors name the table (`]` or `.sub]` follows)


def parse(table, base=Path("/w")):
    return config.parse(table, WHERE, base)


def error_of(table, base=Path("/w")) -> CargoMlirError:
    with pytest.raises(CargoMlirError) as err:
        parse(table, base)
    return err.value


# ---------------------------------------------------------------- zero config

@pytest.mark.parametrize("table", [None, {}])
def test_zero_config(table):
    cfg = parse(table)
    assert cfg.offload_arch == ("gfx90a",) and cfg.kernels == {} and cfg.code_object_version == 5
    assert cfg.arches_for("anything") == ("gfx90a",)
    assert all(cfg.pipelines_for("k").for_stage(kind, stage) is None
               for kind in config.TARGET_KINDS for stage in config.STAGE_KEYS)
    assert cfg.source == WHERE          # errors later can still say where the defaults came from


def test_package_table_wins_over_workspace_table():
    pkg = {"manifest_path": "/w/a/Cargo.toml", "metadata": {"cargo-mlir": {"offload-arch": ["sm_90"]}}}
    ws = {"cargo-mlir": {"offload-arch": ["gfx90a"]}}
    assert config.from_metadata(pkg, ws, Path("/w")).offload_arch == ("sm_90",)
    inherits = config.from_metadata({"manifest_path": "/w/b/Cargo.toml"}, ws, Path("/w"))
    assert inherits.offload_arch == ("gfx90a",)
    assert inherits.source == "[workspace.metadata.cargo-mlir] of /w/Cargo.toml"


def test_offload_arch_as_comma_separated_string():
    assert parse({"offload-arch": "gfx90a,sm_90"}).offload_arch == ("gfx90a", "sm_90")


def test_an_architecture_list_given_is_told_from_the_default():
    # the default never breaks a build; a list the user wrote, even the default's, does (device.py)
    assert not parse({}).arch_given and parse({}).offload_arch == config.DEFAULT_ARCHES
    assert parse({"offload-arch": ["gfx90a"]}).arch_given and parse({"offload-arch": []}).arch_given


# ---------------------------------------------------------------- unknown keys

def test_unknown_top_level_key_lists_valid_keys_and_guesses():
    err = error_of({"offload-arhc": ["gfx90a"]})
    assert err.message == f"{AT}]: unknown key `offload-arhc` (did you mean `offload-arch`?)"
    assert err.hint == "valid keys there: offload-arch, pipeline, kernel, code-object-version"


def test_unknown_key_without_a_close_match_has_no_guess():
    err = error_of({"zzz": 1})
    assert "did you mean" not in err.message
    assert "offload-arch, pipeline, kernel" in err.hint


@pytest.mark.parametrize("table, where, guess, valid", [
    ({"pipeline": {"lowr": "cse"}}, f"{AT}.pipeline]:", "lower", "raise, autodiff, schedule, lower, host, amdgpu, nvptx"),
    ({"pipeline": {"nvptx": {"lowr": "cse"}}}, f"{AT}.pipeline.nvptx]:", "lower", "schedule, lower"),
    ({"kernel": {"saxpy": {"pipelin": {}}}}, f"{AT}.kernel.saxpy]:", "pipeline", "offload-arch, pipeline"),
    ({"pipeline": {"lower": {"transfrom": "t.mlir"}}}, f"{AT}.pipeline.lower]:", "transform", "transform"),
])
def test_unknown_nested_keys(table, where, guess, valid):
    err = error_of(table)
    assert where in err.message and f"(did you mean `{guess}`?)" in err.message
    assert err.hint == f"valid keys there: {valid}"


def test_target_kind_that_is_not_a_table():
    # `host = "cse"` is a misplaced pipeline, not an unknown key named `host`
    err = error_of({"pipeline": {"host": "cse"}})
    assert err.message.startswith(f"{AT}.pipeline] host: must be a table of stages")
    assert err.message.endswith('(found `"cse"`)')


@pytest.mark.parametrize("value", [{}, {"transform": 3}])
def test_transform_entry_needs_a_file_name(value):
    assert "needs `transform = \"file.mlir\"`" in error_of({"pipeline": {"raise": value}}).message


@pytest.mark.parametrize("cov", [3, 6, "5"])
def test_code_object_version_is_checked(cov):
    assert "code-object-version" in str(error_of({"code-object-version": cov}))


# ---------------------------------------------------------------- pass pipelines

@pytest.mark.parametrize("text, expected", [
    ("canonicalize,cse", "canonicalize,cse"),
    ("  cse  ", "cse"),
    ("builtin.module(func.func(cse))", "func.func(cse)"),       # anchored: the runner anchors it again
])
def test_pass_pipeline_strings_are_anchored_on_the_module(text, expected):
    assert parse({"pipeline": {"raise": text}}).pipelines.common["raise"] == PassSpec(pipeline=expected)


def test_transform_script_is_resolved_against_the_manifest_dir(tmp_path):
    (tmp_path / "t.mlir").write_text("module {}\n")
    spec = parse({"pipeline": {"lower": {"transform": "t.mlir"}}}, tmp_path).pipelines.common["lower"]
    assert spec.transform == tmp_path / "t.mlir" and spec.pipeline is None
    assert spec.describe() == f"transform script {tmp_path / 't.mlir'}"


def test_transform_script_must_exist(tmp_path):
    err = error_of({"pipeline": {"lower": {"transform": "missing.mlir"}}}, tmp_path)
    assert err.message == f"transform script {tmp_path / 'missing.mlir'} does not exist"
    assert "relative to the package's Cargo.toml" in err.hint


def test_transform_script_content_is_part_of_the_hash(tmp_path):
    script = tmp_path / "t.mlir"
    script.write_text("module { // v1\n}\n")
    cfg = parse({"pipeline": {"raise": {"transform": "t.mlir"}}}, tmp_path)
    before = (cfg.pipelines.common["raise"].hash(), cfg.hash())
    script.write_text("module { // v2\n}\n")      # same path, new content
    after = (cfg.pipelines.common["raise"].hash(), cfg.hash())
    assert before[0] != after[0] and before[1] != after[1]


def test_pass_spec_needs_exactly_one_form(tmp_path):
    (tmp_path / "t.mlir").write_text("")
    for bad in (PassSpec, lambda: PassSpec(pipeline="builtin.module(cse)", transform=tmp_path / "t.mlir")):
        with pytest.raises(CargoMlirError, match="either a pass pipeline string or"):
            bad()


# ---------------------------------------------------------------- overrides

def test_per_target_beats_common():
    cfg = parse({"pipeline": {"lower": "a", "nvptx": {"lower": "b"}}})
    pl = cfg.pipelines_for("any")
    assert pl.for_stage("nvptx", "lower").pipeline == "b"
    assert pl.for_stage("host", "lower").pipeline == "a"
    assert pl.for_stage("host", "raise") is None


def test_per_kernel_overrides():
    cfg = parse({
        "offload-arch": ["gfx90a"],
        "pipeline": {"raise": "pkg-raise", "amdgpu": {"lower": "pkg-amd-lower"}},
        "kernel": {
            "dot": {"offload-arch": ["sm_90"], "pipeline": {"raise": "dot-raise", "amdgpu": {"lower": "dot-amd"}}},
            "host_only": {"offload-arch": []},
        },
    })
    assert cfg.arches_for("dot") == ("sm_90",)
    assert cfg.arches_for("host_only") == ()             # an empty list means "no GPU", not "inherit"
    assert cfg.arches_for("other") == ("gfx90a",)
    dot, other = cfg.pipelines_for("dot"), cfg.pipelines_for("other")
    assert dot.for_stage("host", "raise").pipeline == "dot-raise"
    assert dot.for_stage("amdgpu", "lower").pipeline == "dot-amd"
    assert other.for_stage("host", "raise").pipeline == "pkg-raise"
    assert other.for_stage("amdgpu", "lower").pipeline == "pkg-amd-lower"
    # what the kernel leaves unset comes from the package
    assert cfg.pipelines_for("host_only").for_stage("amdgpu", "lower").pipeline == "pkg-amd-lower"


# ---------------------------------------------------------------- hash

def _variants(tmp_path: Path) -> dict[str, Config]:
    (tmp_path / "t.mlir").write_text("module {}\n")
    t = PassSpec(transform=tmp_path / "t.mlir")
    cse = PassSpec(pipeline="builtin.module(cse)")
    return {
        "defaults": Config(),
        "offload_arch": Config(offload_arch=("sm_90",)),
        "offload_arch order": Config(offload_arch=("sm_90", "gfx90a")),
        "code_object_version": Config(code_object_version=4),
        "common stage": Config(pipelines=Pipelines(common={"raise": cse})),
        "other common stage": Config(pipelines=Pipelines(common={"lower": cse})),
        "transform instead": Config(pipelines=Pipelines(common={"raise": t})),
        "per target": Config(pipelines=Pipelines(per_target={"host": {"raise": cse}})),
        "other target": Config(pipelines=Pipelines(per_target={"nvptx": {"raise": cse}})),
        "kernel arches": Config(kernels={"k": KernelConfig(offload_arch=("sm_90",))}),
        "kernel host only": Config(kernels={"k": KernelConfig(offload_arch=())}),
        "kernel inherits": Config(kernels={"k": KernelConfig(offload_arch=None)}),
        "kernel pipeline": Config(kernels={"k": KernelConfig(pipelines=Pipelines(common={"raise": cse}))}),
        "other kernel": Config(kernels={"j": KernelConfig(pipelines=Pipelines(common={"raise": cse}))}),
    }


def test_hash_is_stable():
    assert Config(offload_arch=("gfx90a",)).hash() == Config(offload_arch=("gfx90a",)).hash()


def test_hash_changes_with_every_setting(tmp_path):
    hashes = {name: cfg.hash() for name, cfg in _variants(tmp_path).items()}
    same = [(a, b) for a in hashes for b in hashes if a < b and hashes[a] == hashes[b]]
    # notably "kernel host only" vs "kernel inherits": [] and an unset list
    # build different targets, so they must not share cached kernels
    assert same == []


def test_hash_ignores_where_the_config_was_read():
    # the source only names the table in messages; moving a checkout must not rebuild
    assert Config(source="a").hash() == Config(source="b").hash()


def test_a_kernels_setting_beats_the_packages_per_target_setting(tmp_path):
    from cargo_mlir import config
    cfg = config.parse({"pipeline": {"host": {"lower": "cse"}},
                        "kernel": {"k": {"pipeline": {"lower": "canonicalize"}}}}, "t", tmp_path)
    assert cfg.pipelines_for("k").for_stage("host", "lower").pipeline == "canonicalize"
    assert cfg.pipelines_for("other").for_stage("host", "lower").pipeline == "cse"


def test_kernel_must_be_a_table(tmp_path):
    from cargo_mlir import config
    from cargo_mlir.errors import CargoMlirError
    with pytest.raises(CargoMlirError, match="must be a table of kernel names"):
        config.parse({"kernel": "saxpy"}, "t", tmp_path)


def test_gfx90a_is_the_default_target_and_an_empty_list_means_host_only(tmp_path):
    from cargo_mlir import config
    assert config.parse({"pipeline": {}}, "t", tmp_path).offload_arch == ("gfx90a",)
    assert config.parse({"offload-arch": []}, "t", tmp_path).offload_arch == ()


# ---------------------------------------------------------------- stage scopes

def test_function_stages_cannot_be_set_per_target():
    err = error_of({"pipeline": {"nvptx": {"raise": "cse"}}})
    assert "`raise` runs once per function, before any target" in err.message
    assert err.hint.endswith('[package.metadata.cargo-mlir.pipeline] raise = "…"')
    assert err.message.startswith(f"{AT}.pipeline.nvptx] raise: ")


def test_a_raise_pipeline_written_once_applies_to_every_target():
    pl = parse({"pipeline": {"raise": "raise-to-scf,cse", "host": {"lower": "x"}}}).pipelines_for("k")
    assert pl.for_stage(None, "raise").pipeline == "raise-to-scf,cse"
    assert all(pl.for_stage(kind, "raise").pipeline == "raise-to-scf,cse" for kind in config.TARGET_KINDS)


def test_an_empty_pipeline_runs_nothing():
    assert parse({"pipeline": {"raise": ""}}).pipelines_for("k").for_stage(None, "raise").pipeline == ""


# ---------------------------------------------------------------- where errors point, in TOML's words

@pytest.mark.parametrize("table, message", [
    ({"offload-arch": True}, f"{AT}] offload-arch: must be a list of architecture names, "
                             'e.g. ["gfx90a", "sm_90"] (found `true`)'),
    ({"offload-arch": [1, "gfx90a"]}, f"{AT}] offload-arch: must be a list of architecture names, "
                                      'e.g. ["gfx90a", "sm_90"] (found `[1, "gfx90a"]`)'),
    ({"kernel": {"saxpy": {"offload-arch": False}}},
     f"{AT}.kernel.saxpy] offload-arch: must be a list of architecture names, "
     'e.g. ["gfx90a", "sm_90"] (found `false`)'),
    ({"code-object-version": True}, f"{AT}] code-object-version: must be an integer (4 or 5) (found `true`)"),
    ({"code-object-version": "5"}, f'{AT}] code-object-version: must be an integer (4 or 5) (found `"5"`)'),
    ({"pipeline": {"lower": 3}}, f"{AT}.pipeline] lower: must be a pass-pipeline string or "
                                 '{ transform = "file.mlir" } (found `3`)'),
    ({"pipeline": {"raise": {"transform": 3}}}, f"{AT}.pipeline] raise: needs "
                                                '`transform = "file.mlir"` (found `{ transform = 3 }`)'),
    ({"kernel": {"saxpy": []}}, f"{AT}.kernel] saxpy: must be a table (found `[]`)"),
])
def test_errors_name_the_file_then_the_table_and_key_and_show_toml_values(table, message):
    """Not `…/Cargo.toml.offload-arch` (the key glued onto the file) and not Python's `True`."""
    err = error_of(table)
    assert err.message == message
    assert "Cargo.toml." not in err.message and "True" not in err.message and "False" not in err.message


def test_code_object_version_out_of_range_names_the_key():
    err = error_of({"code-object-version": 6})
    assert err.message.startswith(f"{AT}] code-object-version: must be 4 or 5")
    assert err.message.endswith("(found `6`)")
