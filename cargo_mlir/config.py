"""`[package.metadata.cargo-mlir]` (or `[workspace.metadata.cargo-mlir]`):
frozen dataclasses validated on construction. Zero configuration works;
unknown keys are errors that list the valid ones."""

from __future__ import annotations

import difflib
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


def _unknown(key: str, valid: tuple[str, ...], where: str) -> CargoMlirError:
    close = difflib.get_close_matches(key, valid, n=1)
    guess = f" (did you mean `{close[0]}`?)" if close else ""
    return CargoMlirError(f"unknown key `{key}` in {where}{guess}",
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
    def parse(cls, value, where: str, base: Path) -> "PassSpec":
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("builtin.module(") and text.endswith(")"):
                text = text[len("builtin.module("):-1]
            return cls(pipeline=text)
        if isinstance(value, dict):
            for k in value:
                if k != "transform":
                    raise _unknown(k, ("transform",), where)
            if not isinstance(value.get("transform"), str):
                raise CargoMlirError(f"{where} needs `transform = \"file.mlir\"`")
            return cls(transform=(base / value["transform"]).resolve())
        raise CargoMlirError(f"{where} must be a pass-pipeline string or {{ transform = \"file.mlir\" }}")

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
    def parse(cls, table: dict, where: str, base: Path) -> "Pipelines":
        if not isinstance(table, dict):
            raise CargoMlirError(f"{where} must be a table of stages, e.g. {where}.lower = \"…\"",
                                 hint=f"stages: {', '.join(STAGE_KEYS)}; per target: {', '.join(TARGET_KINDS)}")
        common, per = {}, {}
        for key, value in table.items():
            if key in STAGE_KEYS:
                common[key] = PassSpec.parse(value, f"{where}.{key}", base)
            elif key in TARGET_KINDS and not isinstance(value, dict):
                raise CargoMlirError(f"{where}.{key} must be a table of stages ({', '.join(TARGET_STAGE_KEYS)})")
            elif key in TARGET_KINDS:
                per[key] = {}
                for stage, v in value.items():
                    if stage in FUNCTION_STAGE_KEYS:
                        raise CargoMlirError(
                            f"{where}.{key}.{stage}: `{stage}` runs once per function, before any target, "
                            f"so it cannot be set per target",
                            hint=f"set it for every target: {where}.{stage} = \"…\"")
                    if stage not in TARGET_STAGE_KEYS:
                        raise _unknown(stage, TARGET_STAGE_KEYS, f"{where}.{key}")
                    per[key][stage] = PassSpec.parse(v, f"{where}.{key}.{stage}", base)
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

    def __post_init__(self):
        # MLIR 22's ROCDL serialisation writes v4 or v5; `abi = "600"` still gives v5
        if self.code_object_version not in (4, 5):
            raise CargoMlirError(f"code-object-version = {self.code_object_version} in {self.source}: "
                                 "cargo-mlir (MLIR 22) makes AMD code objects of version 4 or 5")

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


def _arch_list(value, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v for v in value.split(",") if v]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CargoMlirError(f"{where} must be a list of architecture names, e.g. [\"gfx90a\", \"sm_90\"]")
    return tuple(v.strip() for v in value)


def parse(table: dict | None, where: str, base: Path) -> Config:
    """`table` is the `cargo-mlir` metadata table; `where` names it in errors."""
    if not table:
        return Config(source=where)
    if not isinstance(table, dict):
        raise CargoMlirError(f"{where} must be a table")
    for key in table:
        if key not in TOP_KEYS:
            raise _unknown(key, TOP_KEYS, where)
    kernels = {}
    kernel_tables = table.get("kernel") or {}
    if not isinstance(kernel_tables, dict):
        raise CargoMlirError(f"{where}.kernel must be a table of kernel names, e.g. [{where}.kernel.saxpy]")
    for name, kt in kernel_tables.items():
        kwhere = f"{where}.kernel.{name}"
        if not isinstance(kt, dict):
            raise CargoMlirError(f"{kwhere} must be a table")
        for key in kt:
            if key not in KERNEL_KEYS:
                raise _unknown(key, KERNEL_KEYS, kwhere)
        arch = _arch_list(kt["offload-arch"], f"{kwhere}.offload-arch") if "offload-arch" in kt else None
        kernels[name] = KernelConfig(arch, Pipelines.parse(kt.get("pipeline") or {}, f"{kwhere}.pipeline", base))
    cov = table.get("code-object-version", 5)
    if not isinstance(cov, int):
        raise CargoMlirError(f"{where}.code-object-version must be an integer (4 or 5)")
    return Config(
        offload_arch=_arch_list(table.get("offload-arch", list(DEFAULT_ARCHES)), f"{where}.offload-arch"),
        pipelines=Pipelines.parse(table.get("pipeline") or {}, f"{where}.pipeline", base),
        kernels=kernels, code_object_version=cov, source=where)


def from_metadata(package: dict, workspace_metadata: dict | None, workspace_root: Path) -> Config:
    """From one package of `cargo metadata`: the package's table wins over the workspace's."""
    manifest = Path(package["manifest_path"])
    own = (package.get("metadata") or {}).get("cargo-mlir")
    if own is not None:
        return parse(own, f"[package.metadata.cargo-mlir] of {manifest}", manifest.parent)
    ws = (workspace_metadata or {}).get("cargo-mlir")
    return parse(ws, f"[workspace.metadata.cargo-mlir] of {workspace_root / 'Cargo.toml'}", workspace_root)
