"""What every stage receives: one kernel for one target."""

from __future__ import annotations

from dataclasses import dataclass

from cargo_mlir.config import PassSpec, Pipelines
from cargo_mlir.build.markers import Marker
from cargo_mlir.pipeline.targets import Target
from cargo_mlir.toolchain.record import Toolchain


@dataclass(frozen=True)
class Finding:
    """A diagnostic from a stage: errors stop the build after all are collected."""
    level: str          # "error" | "warning"
    message: str


@dataclass(frozen=True)
class KernelJob:
    marker: Marker
    target: Target
    pipelines: Pipelines
    toolchain: Toolchain
    code_object_version: int = 5

    def spec(self, stage: str) -> PassSpec | None:
        return self.pipelines.for_stage(self.target.kind, stage)
