"""What a stage is and what it receives.

A stage is `run(artifact, ctx) -> artifact`: an in-memory MLIR module (most
stages), or the text/bytes a tool reads or writes (extract, translate,
codegen, serialize). `ctx` carries what earlier stages found out (facts: what
was raised, its preconditions) and collects findings for `-v`/`--explain`.
Stages never print IR: the runner dumps, caches and times them.

Stages of scope "function" run once per marked function, before any target
(`extract → import → raise → autodiff`); stages of scope "target" run once
per function and target (`entry → retarget → schedule → lower → emit`).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Union

from cargo_mlir.build.markers import Marker
from cargo_mlir.config import PassSpec, Pipelines
from cargo_mlir.pipeline.targets import Target
from cargo_mlir.toolchain.record import Toolchain

FUNCTION, TARGET = "function", "target"
Artifact = Any          # mlir.ir.Module | str | bytes


@dataclass(frozen=True)
class Finding:
    """A diagnostic from a stage: errors stop the build after all are collected;
    notes are shown with -v / --explain."""
    level: str          # "error" | "warning" | "note"
    message: str


@dataclass
class LoopFact:
    location: str
    raised: bool
    reason: str = ""


@dataclass
class Facts:
    """What the function-scope stages leave for the per-target ones (picklable:
    it crosses process boundaries with the module text)."""
    raise_ran: bool = False         # the raise-to-scf pass ran (the pipeline may leave it out)
    raised: bool = False
    slow_symbol: str | None = None
    preconditions: list[str] = field(default_factory=list)
    loops: list[LoopFact] = field(default_factory=list)
    fast_path_can_panic: bool = True
    reason: str = ""                # why the function as a whole was not raised
    matmuls: list[str] = field(default_factory=list)    # what recognise-matmul replaced, described
    findings: dict[str, list[Finding]] = field(default_factory=dict)   # target name -> findings


@dataclass
class Context:
    """One function (and, for per-target stages, one target) going through the pipeline."""
    marker: Marker
    pipelines: Pipelines
    toolchain: Toolchain
    target: Target | None = None
    code_object_version: int = 5
    facts: Facts = field(default_factory=Facts)
    notes: list[Finding] = field(default_factory=list)
    scratch: Path | None = None         # a directory for tools' files
    mlir: Any = None                    # the ir.Context modules of this job live in
    # the build's GPU architectures, also for functions built for the host only
    # (an accelerate function's recognised matmul gets GPU images for them)
    gpu_arches: tuple[str, ...] = ()
    # the unit's autodiff markers: the derivatives this function's code may call
    derivatives: tuple[Marker, ...] = ()

    def spec(self, stage: str) -> PassSpec | None:
        return self.pipelines.for_stage(self.target.kind if self.target else None, stage)

    def for_target(self, target: Target) -> "Context":
        return Context(self.marker, self.pipelines, self.toolchain, target, self.code_object_version,
                       self.facts, [], self.scratch, gpu_arches=self.gpu_arches, derivatives=self.derivatives)

    def tmp(self, name: str) -> Path:
        if self.scratch is None:
            self.scratch = Path(tempfile.mkdtemp(prefix="cargo-mlir-"))
        return self.scratch / name

    @property
    def what(self) -> str:
        where = f" for {self.target.name}" if self.target else ""
        return f"{self.marker.kind} `{self.marker.name}`{where}"


class WithCompanions(bytes):
    """A stage's bytes plus files that travel with them, by extension (the
    NVIDIA image's PTX beside its cubin): the runner caches and dumps each
    as `<artifact>.<ext>`, packaging embeds them after the main image."""
    companions: dict[str, bytes]

    def __new__(cls, data: bytes, companions: dict[str, bytes]):
        obj = super().__new__(cls, data)
        obj.companions = companions
        return obj


@dataclass(frozen=True)
class Stage:
    name: str
    scope: str                               # FUNCTION | TARGET
    ext: Union[str, Callable[[Context], str]]
    run: Callable[[Artifact, Context], Artifact]
    what: str
    default: Callable[[Context], PassSpec | None] | None = None   # settable stages: the default passes

    def ext_for(self, ctx: Context) -> str:
        return self.ext(ctx) if callable(self.ext) else self.ext
