"""`[package.metadata.cargo-mlir]` (or `[workspace.metadata.cargo-mlir]`):
frozen dataclasses validated on construction. Zero configuration works;
unknown keys are errors that list the valid ones."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from cargo_mlir.errors import CargoMlirError
from cargo_mlir.fsutil import sha256_text

TOP_KEYS = ("offload-arch", "pipeline", "kernel", "code-object-version")
# Without an `offload-arch` key cargo-mlir builds for the host and gfx90a;
# `offload-arch = []` builds for the host alone.
DEFAULT_ARCHES = ("gfx90a",)
# the stages whose passes users may set: `raise` and `autodiff` run once per
# function, before any target; `schedule` and `lower` once per target
FUNCTION_STAGE_KEYS = ("raise", "autodiff")
TARGET_STAGE_KEYS = ("schedule", "lower")
STAGE_KEYS = FUNCTION_STAGE_KEYS + TARGET_STAGE_KEYS
TARGET_KINDS = ("host", "amdgpu", "nvptx")
KERNEL_KEYS = ("offload-arch", "pipeline")


@dataclass(frozen=True)
class Where:
    """A table of a manifest, as errors name it: `/w/Cargo.toml: [package.metadata.cargo-mlir]`,
    and a key in it: `/w/Cargo.toml: [package.metadata.cargo-mlir] offload-arch`."""
    file: str | None
    table: str

    @classmethod
    def of(cls, where: "str | Where") -> "Where":
        """From `[package.metadata.cargo-mlir] of /w/Cargo.toml` (a Config's `source`)."""
        if isinstance(where, Where):
            return where
        m = re.fullmatch(r"\[(.+)\] of (.+)", where)
        if m:
            return cls(m[2], m[1])
        return cls(None, where[1:-1] if where.startswith("[") and where.endswith("]") else where)

    def sub(self, name: str) -> "Where":
        return Where(self.file, f"{self.table}.{_toml_key(name)}")

    def key(self, name: str) -> str:
        return f"{self} {_toml_key(name)}"

    def __str__(self) -> str:
        return f"{self.file}: [{self.table}]" if self.file else f"[{self.table}]"


def _toml_key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else toml_value(name)


def toml_value(value) -> str:
    """A value as it looks in Cargo.toml (`true`, `"cse"`, `["gfx90a"]`), not as Python prints it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(str(k))} = {toml_value(v)}" for k, v in value.items()) + " }" \
            if value else "{}"
    return str(value)


def _found(value) -> str:
    return f" (found `{toml_value(value)}`)"


def _unknown(key: str, valid: tuple[str, ...], where: Where) -> CargoMlirError:
    close = difflib.get_close_matches(key, valid, n=1)
    guess = f" (did you mean `{close[0]}`?)" if close else ""
    return CargoMlirError(f"{where}: unknown key `{key}`{guess}",
                          hint=f"valid keys there: {', '.join(valid)}")


@dataclass(frozen=True)
class PassSpec:
    """What one stage runs: a pass pipeline (MLIR passes and cargo-mlir's own
    Python passes, by name; "" runs nothing) or a transform-dialect script."""
    pipeline: str | None = None
    transform: Path | None = None

    def __post_init__(self):
        if (self.pipeline is None) == (self.transform is None):
            raise CargoMlirError("a pipeline entry needs either a pass pipeline string or `transform = \"file\"`")
        if self.transform is not None and not self.transform.is_file():
            raise CargoMlirError(f"transform script {self.transform} does not exist",
                                 hint="paths are relative to the package's Cargo.toml")

    @classmethod
    def parse(cls, value, where: Where, stage: str, base: Path) -> "PassSpec":
        """`value` of key `stage` in table `where`."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("builtin.module(") and text.endswith(")"):
                text = text[len("builtin.module("):-1]
            return cls(pipeline=text)
        if isinstance(value, dict):
            for k in value:
                if k != "transform":
                    raise _unknown(k, ("transform",), where.sub(stage))
            if not isinstance(value.get("transform"), str):
                raise CargoMlirError(f"{where.key(stage)}: needs `transform = \"file.mlir\"`{_found(value)}")
            return cls(transform=(base / value["transform"]).resolve())
        raise CargoMlirError(f"{where.key(stage)}: must be a pass-pipeline string or "
                             f"{{ transform = \"file.mlir\" }}{_found(value)}")

    def describe(self) -> str:
        if self.transform is not None:
            return f"transform script {self.transform}"
        return self.pipeline or "(no passes)"

    def hash(self) -> str:
        body = self.transform.read_text() if self.transform else ""
        return sha256_text(self.pipeline or "", str(self.transform or ""), body)


@dataclass(frozen=True)
class Pipelines:
    """Stage overrides: `common[stage]` for every target, `per_target[kind][stage]`."""
    common: dict[str, PassSpec] = field(default_factory=dict)
    per_target: dict[str, dict[str, PassSpec]] = field(default_factory=dict)

    def for_stage(self, kind: str | None, stage: str) -> PassSpec | None:
        """`kind` None: a function-scope stage, which has no per-target settings."""
        own = self.per_target.get(kind, {}).get(stage) if kind else None
        return own if own is not None else self.common.get(stage)

    def merged(self, over: "Pipelines") -> "Pipelines":
        """`over` (a kernel's settings) wins over self (the package's), even where
        the package names a target and the kernel does not."""
        per = {k: {**self.per_target.get(k, {}), **over.common, **over.per_target.get(k, {})}
               for k in TARGET_KINDS}
        return Pipelines({**self.common, **over.common}, per)

    @classmethod
    def parse(cls, table: dict, where: Where, base: Path) -> "Pipelines":
        """`where`: the pipeline table itself."""
        if not isinstance(table, dict):
            raise CargoMlirError(f"{where}: must be a table of stages, e.g. [{where.table}] lower = \"…\""
                                 f"{_found(table)}",
                                 hint=f"stages: {', '.join(STAGE_KEYS)}; per target: {', '.join(TARGET_KINDS)}")
        common, per = {}, {}
        for key, value in table.items():
            if key in STAGE_KEYS:
                common[key] = PassSpec.parse(value, where, key, base)
            elif key in TARGET_KINDS and not isinstance(value, dict):
                raise CargoMlirError(f"{where.key(key)}: must be a table of stages "
                                     f"({', '.join(TARGET_STAGE_KEYS)}){_found(value)}")
            elif key in TARGET_KINDS:
                per[key] = {}
                for stage, v in value.items():
                    if stage in FUNCTION_STAGE_KEYS:
                        raise CargoMlirError(
                            f"{where.sub(key).key(stage)}: `{stage}` runs once per function, before any "
                            f"target, so it cannot be set per target",
                            hint=f"set it for every target: [{where.table}] {stage} = \"…\"")
                    if stage not in TARGET_STAGE_KEYS:
                        raise _unknown(stage, TARGET_STAGE_KEYS, where.sub(key))
                    per[key][stage] = PassSpec.parse(v, where.sub(key), stage, base)
            else:
                raise _unknown(key, STAGE_KEYS + TARGET_KINDS, where)
        return cls(common, per)


@dataclass(frozen=True)
class KernelConfig:
    offload_arch: tuple[str, ...] | None = None
    pipelines: Pipelines = field(default_factory=Pipelines)


@dataclass(frozen=True)
class Config:
    offload_arch: tuple[str, ...] = DEFAULT_ARCHES
    pipelines: Pipelines = field(default_factory=Pipelines)
    kernels: dict[str, KernelConfig] = field(default_factory=dict)
    code_object_version: int = 5
    source: str = "defaults"
    arch_given: bool = False        # `offload-arch` is in the table (else DEFAULT_ARCHES: see device.py)

    def __post_init__(self):
        # MLIR 22's ROCDL serialisation writes v4 or v5; `abi = "600"` still gives v5
        if isinstance(self.code_object_version, bool) or self.code_object_version not in (4, 5):
            raise CargoMlirError(f"{Where.of(self.source).key('code-object-version')}: must be 4 or 5: cargo-mlir "
                                 f"(MLIR 22) makes AMD code objects of version 4 or 5"
                                 f"{_found(self.code_object_version)}")

    def arches_for(self, kernel: str) -> tuple[str, ...]:
        k = self.kernels.get(kernel)
        return k.offload_arch if k and k.offload_arch is not None else self.offload_arch

    def pipelines_for(self, kernel: str) -> Pipelines:
        k = self.kernels.get(kernel)
        return self.pipelines.merged(k.pipelines) if k else self.pipelines

    def hash(self) -> str:
        parts = [",".join(self.offload_arch), str(self.code_object_version)]
        for name, pl in [("", self.pipelines)] + [(k, c.pipelines) for k, c in sorted(self.kernels.items())]:
            for kind in ("",) + TARGET_KINDS:
                for stage in STAGE_KEYS:
                    spec = pl.common.get(stage) if not kind else pl.per_target.get(kind, {}).get(stage)
                    parts.append(f"{name}/{kind}/{stage}={spec.hash() if spec else '-'}")
        # None (inherit the package's list) and () (host only) build different things
        parts += [f"{k}:{'<inherit>' if c.offload_arch is None else ','.join(c.offload_arch)}"
                  for k, c in sorted(self.kernels.items())]
        return sha256_text(*parts)


def _arch_list(given, where: str) -> tuple[str, ...]:
    """`where`: the key (`/w/Cargo.toml: [package.metadata.cargo-mlir] offload-arch`)."""
    value = [v for v in given.split(",") if v] if isinstance(given, str) else given
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CargoMlirError(f"{where}: must be a list of architecture names, e.g. [\"gfx90a\", \"sm_90\"]"
                             f"{_found(given)}")
    return tuple(v.strip() for v in value)


def parse(table: dict | None, source: str, base: Path) -> Config:
    """`table` is the `cargo-mlir` metadata table; `source` names it
    (`[package.metadata.cargo-mlir] of /w/Cargo.toml`), errors say `/w/Cargo.toml: [package.metadata.cargo-mlir] …`."""
    where = Where.of(source)
    if not table:
        return Config(source=source)
    if not isinstance(table, dict):
        raise CargoMlirError(f"{where}: must be a table{_found(table)}")
    for key in table:
        if key not in TOP_KEYS:
            raise _unknown(key, TOP_KEYS, where)
    kernels = {}
    kernel_tables = table.get("kernel") or {}
    if not isinstance(kernel_tables, dict):
        raise CargoMlirError(f"{where.key('kernel')}: must be a table of kernel names, e.g. "
                             f"[{where.table}.kernel.saxpy]{_found(kernel_tables)}")
    for name, kt in kernel_tables.items():
        kwhere = where.sub("kernel").sub(name)
        if not isinstance(kt, dict):
            raise CargoMlirError(f"{where.sub('kernel').key(name)}: must be a table{_found(kt)}")
        for key in kt:
            if key not in KERNEL_KEYS:
                raise _unknown(key, KERNEL_KEYS, kwhere)
        arch = _arch_list(kt["offload-arch"], kwhere.key("offload-arch")) if "offload-arch" in kt else None
        kernels[name] = KernelConfig(arch, Pipelines.parse(kt.get("pipeline") or {}, kwhere.sub("pipeline"), base))
    cov = table.get("code-object-version", 5)
    if not isinstance(cov, int) or isinstance(cov, bool):
        raise CargoMlirError(f"{where.key('code-object-version')}: must be an integer (4 or 5){_found(cov)}")
    return Config(
        offload_arch=_arch_list(table.get("offload-arch", list(DEFAULT_ARCHES)), where.key("offload-arch")),
        pipelines=Pipelines.parse(table.get("pipeline") or {}, where.sub("pipeline"), base),
        kernels=kernels, code_object_version=cov, source=source, arch_given="offload-arch" in table)


def from_metadata(package: dict, workspace_metadata: dict | None, workspace_root: Path) -> Config:
    """From one package of `cargo metadata`: the package's table wins over the workspace's."""
    manifest = Path(package["manifest_path"])
    own = (package.get("metadata") or {}).get("cargo-mlir")
    if own is not None:
        return parse(own, f"[package.metadata.cargo-mlir] of {manifest}", manifest.parent)
    ws = (workspace_metadata or {}).get("cargo-mlir")
    return parse(ws, f"[workspace.metadata.cargo-mlir] of {workspace_root / 'Cargo.toml'}", workspace_root)
