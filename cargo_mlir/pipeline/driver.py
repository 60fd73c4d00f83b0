"""The driver loop: runs the stage table for one kernel on every target.
Caching, IR dumps and timing live here and nowhere else.

Cache key per kernel × target = our own sources + tool versions + the
extracted kernel IR + the target + the stage settings. Entries are written
atomically, so an interrupted build never leaves half an object behind."""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from cargo_mlir.config import STAGE_KEYS, Pipelines
from cargo_mlir.errors import CargoMlirError
from cargo_mlir.fsutil import sha256_text
from cargo_mlir.build.markers import Marker
from cargo_mlir.pipeline import diagnostics, extract
from cargo_mlir.pipeline.job import Finding, KernelJob
from cargo_mlir.pipeline.stages import COMMON, Stage, stages_for
from cargo_mlir.pipeline.targets import Target
from cargo_mlir.toolchain.record import Toolchain


@functools.cache
def source_hash() -> str:
    """Hash of cargo-mlir's own Python sources: a new version invalidates the cache."""
    h = hashlib.sha256()
    root = Path(__file__).resolve().parent.parent
    for p in sorted(root.rglob("*.py")):
        h.update(p.relative_to(root).as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()


@dataclass(frozen=True)
class Options:
    cache_dir: Path
    work_dir: Path
    emit_ir: Path | None = None
    dump_label: str | None = None    # the kernel's name in dump file names (default: its Rust name)


@dataclass
class KernelResult:
    marker: Marker
    target: Target
    artifact: Path
    cached: bool
    timings: dict[str, float] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)


def dump_name(marker: Marker, target_name: str, stage: Stage, job: KernelJob | None = None,
              label: str | None = None) -> str:
    return f"{label or marker.name}.{target_name}.{stage.name}.{stage.ext_for(job)}"


def _run(stage: Stage, job: KernelJob, src: Path, dst: Path, opts: Options, timings: dict[str, float]) -> Path:
    start = time.perf_counter()
    stage.run(job, src, dst)
    timings[stage.name] = timings.get(stage.name, 0.0) + time.perf_counter() - start
    if opts.emit_ir:
        opts.emit_ir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(dst, opts.emit_ir / dst.name)
    return dst


def cache_key(job: KernelJob, extracted_ir: str) -> str:
    stages = [(s, job.spec(s).hash() if job.spec(s) else "-") for s in STAGE_KEYS]
    return sha256_text(source_hash(), job.toolchain.versions_key(), extracted_ir, job.target.name,
                       repr(stages), str(job.code_object_version))


def _cache_put(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def compile_kernel(marker: Marker, bitcode: Path, targets: tuple[Target, ...], pipelines: Pipelines,
                   toolchain: Toolchain, opts: Options, code_object_version: int = 5) -> list[KernelResult]:
    work = opts.work_dir / marker.key
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    timings: dict[str, float] = {}

    def job_for(t: Target) -> KernelJob:
        return KernelJob(marker, t, pipelines, toolchain, code_object_version)

    first = job_for(targets[0])
    extracted = _run(COMMON[0], first, bitcode, work / dump_name(marker, "any", COMMON[0], label=opts.dump_label), opts, timings)
    ir, debug_ir = extracted.read_text(), extract.debug_copy(extracted).read_text()
    results, todo = [], []
    for t in targets:
        job = job_for(t)
        findings = diagnostics.check(job, debug_ir)
        stages = stages_for(t)
        cached = opts.cache_dir / f"{cache_key(job, ir)}.{stages[-1].ext_for(job)}"
        # --emit-ir asks for every stage's IR: run the stages even when cached
        res = KernelResult(marker, t, cached, cached.exists() and opts.emit_ir is None, {}, findings)
        results.append(res)
        if not res.cached and not any(f.level == "error" for f in findings):
            todo.append((job, res))
    if any(f.level == "error" for r in results for f in r.findings) or not todo:
        for r in results:
            r.timings = dict(timings)
        return results
    imported = _run(COMMON[1], first, extracted, work / dump_name(marker, "any", COMMON[1], label=opts.dump_label), opts, timings)
    opts.cache_dir.mkdir(parents=True, exist_ok=True)
    for job, res in todo:
        res.timings = dict(timings)
        cur = imported
        for stage in stages_for(job.target)[len(COMMON):]:
            cur = _run(stage, job, cur, work / dump_name(marker, job.target.name, stage, job, opts.dump_label), opts, res.timings)
        _cache_put(cur, res.artifact)
    return results


def resume(job: KernelJob, src: Path, out_dir: Path, *, stop_after: str | None = None) -> Path:
    """Start at the stage after the one that wrote `src` (`x.<target>.<stage>.<ext>`,
    or a plain `.ll`/`.mlir` file, which starts after extract/import): for IR-level tests."""
    stages = stages_for(job.target)
    names = [s.name for s in stages]
    parts = src.name.split(".")
    done = parts[-2] if len(parts) >= 3 and parts[-2] in names else {"ll": "extract", "mlir": "import"}.get(parts[-1])
    if done is None:
        raise CargoMlirError(f"cannot tell which stage wrote {src}",
                             hint=f"name it <kernel>.<target>.<stage>.<ext>, stage one of {', '.join(names)}")
    cur, timings = src, {}
    opts = Options(cache_dir=out_dir, work_dir=out_dir)
    for stage in stages[names.index(done) + 1:]:
        cur = _run(stage, job, cur, out_dir / dump_name(job.marker, job.target.name, stage, job), opts, timings)
        if stage.name == stop_after:
            break
    return cur
