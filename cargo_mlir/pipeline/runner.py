"""The driver loop: every marked function through the stage table, once per
function up to the first per-target stage, then once per target. Caching, IR
dumps and timing live here and nowhere else; device work runs in parallel
over functions × targets (a process pool sized to the cores).

Cache keys: a function's key covers our own sources, the tool versions, the
fingerprint of the code it reaches in the crate (see markers.fingerprint),
its marker and the function-stage settings; an artifact's key adds the target
and the per-target settings. A function whose key is unchanged is not
extracted, imported or raised again. Entries are written atomically."""

from __future__ import annotations

import concurrent.futures as cf
from concurrent.futures.process import BrokenProcessPool
import functools
import hashlib
import json
import multiprocessing
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cargo_mlir.build.markers import Marker
from cargo_mlir.config import FUNCTION_STAGE_KEYS, TARGET_STAGE_KEYS, Pipelines
from cargo_mlir.errors import CargoMlirError
from cargo_mlir.fsutil import sha256_file, sha256_text
from cargo_mlir.pipeline import diagnostics
from cargo_mlir.pipeline.stage import Context, Facts, Finding, LoopFact, Stage
from cargo_mlir.pipeline.table import FUNCTION_STAGES, target_stages
from cargo_mlir.pipeline.targets import Target
from cargo_mlir.toolchain.record import Toolchain


@functools.cache
def source_hash() -> str:
    """Hash of cargo-mlir's own Python sources and shipped schedules: a new
    version invalidates the cache."""
    from cargo_mlir.resources import templates_dir

    h = hashlib.sha256()
    root = Path(__file__).resolve().parent.parent
    schedules = templates_dir() / "schedules"
    for base, p in sorted([(root, p) for p in root.rglob("*.py")] + [(schedules, p) for p in schedules.glob("*.mlir")]):
        h.update(p.relative_to(base).as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()


@dataclass(frozen=True)
class Options:
    cache_dir: Path
    work_dir: Path
    emit_ir: Path | None = None


@dataclass(frozen=True)
class FunctionJob:
    """One marked function of one unit, for its targets."""
    marker: Marker
    bitcode: Path
    fingerprint: str
    targets: tuple[Target, ...]
    pipelines: Pipelines
    toolchain: Toolchain
    opts: Options
    code_object_version: int = 5
    label: str = ""                 # its name in dump files (default: the Rust name)
    gpu_arches: tuple[str, ...] = ()    # the build's offload architectures (see Context)
    derivatives: tuple[Marker, ...] = ()  # the unit's autodiff markers (see Context)

    def context(self, target: Target | None = None) -> Context:
        return Context(self.marker, self.pipelines, self.toolchain, target, self.code_object_version,
                       gpu_arches=self.gpu_arches, derivatives=self.derivatives)

    @functools.cached_property
    def key(self) -> str:
        specs = [(s, self.pipelines.for_stage(None, s)) for s in FUNCTION_STAGE_KEYS]
        return sha256_text(source_hash(), self.toolchain.versions_key(), self.fingerprint, repr(self.marker),
                           repr(self.derivatives),
                           repr([(s, p.hash() if p else "-") for s, p in specs]))

    def target_key(self, target: Target) -> str:
        specs = [(s, self.pipelines.for_stage(target.kind, s)) for s in TARGET_STAGE_KEYS]
        return sha256_text(self.key, target.name, str(self.code_object_version), ",".join(self.gpu_arches),
                           repr([(s, p.hash() if p else "-") for s, p in specs]))


@dataclass
class KernelResult:
    """One function × target: the object or image (None: nothing to link, e.g.
    an accelerate function with no fast path), whether it came from the cache."""
    marker: Marker
    target: Target
    artifact: Path | None
    cached: bool
    timings: dict[str, float] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)


@dataclass
class _FunctionOut:
    """What the function stages leave (cached as `<key>.fn.json` + `.fn.mlir`)."""
    facts: Facts
    notes: list[Finding]
    timings: dict[str, float]
    module: str | None              # None: errors, nothing to build


def dump_name(label: str, where: str, stage: Stage, ctx: Context) -> str:
    return f"{label}.{where}.{stage.name}.{stage.ext_for(ctx)}"


def _as_bytes(artifact) -> bytes:
    if isinstance(artifact, bytes):
        return artifact
    return str(artifact).encode()


def _put(path: Path, data: bytes, digest: bool = True) -> None:
    """Write `path` atomically; a cache entry with its digest beside it
    (`<name>.sum`, see `_intact`), an IR dump alone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    files = ((_sum_path(path), hashlib.sha256(data).hexdigest().encode()),) if digest else ()
    for target, content in files + ((path, data),):
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_bytes(content)
        os.replace(tmp, target)


def _sum_path(path: Path) -> Path:
    return path.with_name(path.name + ".sum")


def _intact(path: Path) -> bool:
    """Whether a cache entry is what `_put` wrote: a truncated, damaged or
    unrecorded entry is made again, never trusted because it exists."""
    try:
        return _sum_path(path).read_bytes().strip() == sha256_file(path).encode()
    except OSError:                 # missing or unreadable; garbage in the digest file simply differs
        return False


def run_stages(stages, artifact, ctx: Context, timings: dict[str, float], dump=None):
    """Run `stages` in order; `dump(stage, artifact)` sees each stage's output."""
    for stage in stages:
        start = time.perf_counter()
        artifact = stage.run(artifact, ctx)
        timings[stage.name] = timings.get(stage.name, 0.0) + time.perf_counter() - start
        if artifact is None:            # the stage decided there is nothing to build
            break
        if dump:
            dump(stage, artifact)
    return artifact


def _mlir_context():
    from mlir import ir
    ctx = ir.Context()
    ctx.enable_multithreading(False)     # the pool is the parallelism
    return ctx


def _dumper(job: FunctionJob, where: str, ctx: Context):
    if job.opts.emit_ir is None:
        return None

    def dump(stage: Stage, artifact) -> None:
        path = job.opts.emit_ir / dump_name(job.label or job.marker.name, where, stage, ctx)
        _put(path, _as_bytes(artifact), digest=False)
        for ext, data in getattr(artifact, "companions", {}).items():
            _put(path.with_name(f"{path.name}.{ext}"), data, digest=False)
    return dump


def _scratch(job: FunctionJob, name: str) -> Path:
    job.opts.work_dir.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{job.marker.key}.{name}.", dir=job.opts.work_dir))


def function_phase(job: FunctionJob) -> _FunctionOut:
    """extract → import → raise → autodiff, once; the device diagnostics per target."""
    ctx = job.context()
    ctx.scratch = _scratch(job, "any")
    timings: dict[str, float] = {}
    try:
        with _mlir_context() as mctx:
            from mlir import ir
            with ir.Location.unknown():
                ctx.mlir = mctx
                dump = _dumper(job, "any", ctx)
                extracted = run_stages(FUNCTION_STAGES[:1], job.bitcode, ctx, timings, dump)
                if job.marker.kind == "kernel":
                    for t in job.targets:
                        ctx.facts.findings[t.name] = diagnostics.check(job.context(t), extracted)
                if any(f.level == "error" for fs in ctx.facts.findings.values() for f in fs):
                    return _FunctionOut(ctx.facts, ctx.notes, timings, None)
                module = run_stages(FUNCTION_STAGES[1:], extracted, ctx, timings, dump)
                text = module.operation.get_asm(enable_debug_info=True)
    except CargoMlirError as exc:
        if job.marker.kind == "accelerate":     # an optimisation: the Rust body still runs
            return _declined(ctx, timings, exc)
        raise CargoMlirError(_at_source(job.marker, str(exc))) from None       # picklable across the pool
    finally:
        shutil.rmtree(ctx.scratch, ignore_errors=True)
    out = _FunctionOut(ctx.facts, ctx.notes, timings, text)
    cache = job.opts.cache_dir
    _put(cache / f"{job.key}.fn.mlir", text.encode())
    _put(cache / f"{job.key}.fn.json", json.dumps({"facts": asdict(ctx.facts),
                                                    "notes": [asdict(n) for n in ctx.notes]}).encode())
    return out


def _declined(ctx: Context, timings: dict[str, float], exc: CargoMlirError) -> _FunctionOut:
    m = ctx.marker
    first = str(exc).splitlines()[0]
    note = Finding("note", f"accelerate `{m.name}` ({m.location}) runs as plain Rust: the pipeline failed: {first}")
    facts = Facts(raised=False)
    return _FunctionOut(facts, ctx.notes + [note], timings, None)


def cached_function(job: FunctionJob) -> _FunctionOut | None:
    meta, mlir = job.opts.cache_dir / f"{job.key}.fn.json", job.opts.cache_dir / f"{job.key}.fn.mlir"
    if not (_intact(meta) and _intact(mlir)):
        return None
    try:
        data = json.loads(meta.read_text())
        facts = Facts(**{**data["facts"], "loops": [LoopFact(**l) for l in data["facts"]["loops"]],
                         "findings": {t: [Finding(**f) for f in fs] for t, fs in data["facts"]["findings"].items()}})
        return _FunctionOut(facts, [Finding(**n) for n in data["notes"]], {}, mlir.read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return None


def target_phase(job: FunctionJob, target: Target, fn: _FunctionOut) -> KernelResult:
    """entry → retarget → schedule → lower → emit, for one target."""
    ctx = job.context(target)
    ctx.facts = fn.facts
    ctx.scratch = _scratch(job, target.name)
    timings = dict(fn.timings)
    stages = target_stages(target)
    try:
        with _mlir_context() as mctx:
            from mlir import ir
            with ir.Location.unknown():
                ctx.mlir = mctx
                module = ir.Module.parse(fn.module)
                out = run_stages(stages, module, ctx, timings, _dumper(job, target.name, ctx))
                artifact = job.opts.cache_dir / f"{job.target_key(target)}.{stages[-1].ext_for(ctx)}"
                if out is None:
                    # nothing to build: the file keeps the stages' notes (why not)
                    artifact = job.opts.cache_dir / f"{job.target_key(target)}.none"
                    out = json.dumps([asdict(n) for n in ctx.notes]).encode()
                _put(artifact, _as_bytes(out))
                for ext, data in getattr(out, "companions", {}).items():
                    _put(companion(artifact, ext), data)
    except CargoMlirError as exc:
        if job.marker.kind != "accelerate":
            raise CargoMlirError(_at_source(job.marker, str(exc))) from None
        declined = _declined(ctx, timings, exc)
        return KernelResult(job.marker, target, None, False, timings, [], fn.notes + declined.notes)
    finally:
        shutil.rmtree(ctx.scratch, ignore_errors=True)
    return KernelResult(job.marker, target, artifact if artifact.suffix != ".none" else None, False, timings,
                        fn.facts.findings.get(target.name, []), fn.notes + ctx.notes)


def companion(artifact: Path, ext: str) -> Path:
    """Where a cache entry's companion (stage.WithCompanions) lies: `<artifact>.<ext>`."""
    return artifact.with_name(f"{artifact.name}.{ext}")


def companions_of(artifact: Path | None) -> list[Path]:
    """The intact companions of a cache entry (the cubin's PTX), in a fixed order."""
    if artifact is None:
        return []
    return [c for c in sorted(artifact.parent.glob(f"{artifact.name}.*")) if c.suffix != ".sum" and
            c.suffix not in (".offload", ".tmp") and _intact(c)]


def _cached_artifact(job: FunctionJob, target: Target) -> Path | None:
    key = job.target_key(target)
    for p in job.opts.cache_dir.glob(f"{key}.*"):
        # `<key>.<ext>` alone: `.offload` (packaging's copy, build/package.py), `.sum` (an
        # entry's digest) and companions (`<key>.cubin.ptx`) have more after it
        if "." not in p.name[len(key) + 1:] and p.suffix != ".tmp":
            return p if _intact(p) else None
    return None


def _notes_of(none: Path) -> list[Finding]:
    """The notes a `.none` artifact keeps (see target_phase); none if unreadable."""
    try:
        return [Finding(**n) for n in json.loads(none.read_text())]
    except (OSError, ValueError, TypeError):
        return []


def compile_functions(jobs: list[FunctionJob], workers: int) -> list[list[KernelResult]]:
    """Every job on each of its targets; results in the order of `jobs`."""
    results: list[dict[str, KernelResult]] = [{} for _ in jobs]
    pending_fn: list[int] = []
    pending_t: list[tuple[int, Target, _FunctionOut]] = []
    for i, job in enumerate(jobs):
        fn = cached_function(job) if job.opts.emit_ir is None else None
        if fn is None:
            pending_fn.append(i)
            continue
        for t in job.targets:
            hit = _cached_artifact(job, t) if fn.module is not None else None
            if fn.module is None or hit is not None:
                nothing = hit is not None and hit.suffix == ".none"
                results[i][t.name] = KernelResult(job.marker, t, None if nothing else hit, True, {},
                                                  fn.facts.findings.get(t.name, []),
                                                  fn.notes + (_notes_of(hit) if nothing else []))
            else:
                pending_t.append((i, t, fn))
    _execute(jobs, pending_fn, pending_t, results, workers)
    return [[r[t.name] for t in job.targets] for job, r in zip(jobs, results)]


def _finish_function(i: int, job: FunctionJob, fn: _FunctionOut, results, submit) -> None:
    for t in job.targets:
        if fn.module is None:
            results[i][t.name] = KernelResult(job.marker, t, None, False, dict(fn.timings),
                                              fn.facts.findings.get(t.name, []), fn.notes)
        else:
            submit(i, t, fn)


def _at_source(m, message: str) -> str:
    """`message` naming the function's Rust source line (its first mention
    of the function gets it), as every error of a function does."""
    if m.location in message:
        return message
    name = f"{m.kind} `{m.name}`"
    if name in message:
        return message.replace(name, f"{name} ({m.location})", 1)
    return f"{name} ({m.location}): {message}"


def _failed(job: FunctionJob, targets, exc: Exception) -> dict[str, KernelResult]:
    """A function that could not be built, as results: the error is a finding of
    each target it failed for, so every failing function of a build is reported
    in one run (device.py collects them) rather than the first one alone. An
    exception that is not a CargoMlirError is a bug of a stage: it is reported
    the same way, as one, not as a traceback that stops the build."""
    if not isinstance(exc, CargoMlirError):
        m = job.marker
        where = f" for {targets[0].name}" if len(targets) == 1 else ""
        exc = CargoMlirError(f"{m.kind} `{m.name}` ({m.location}){where}: internal error in cargo-mlir: "
                             f"{type(exc).__name__}: {exc}\n"
                             f"help: this is a cargo-mlir bug; please report it with the IR `--emit-ir DIR` keeps")
    return {t.name: KernelResult(job.marker, t, None, False, {}, [Finding("error", str(exc))]) for t in targets}


def _execute(jobs, pending_fn, pending_t, results, workers: int) -> None:
    tasks = len(pending_fn) * 2 + len(pending_t)
    if workers <= 1 or tasks <= 2:
        todo = list(pending_t)
        for i in pending_fn:
            try:
                fn = function_phase(jobs[i])
            except Exception as exc:
                results[i].update(_failed(jobs[i], jobs[i].targets, exc))
                continue
            _finish_function(i, jobs[i], fn, results, lambda *a: todo.append(a))
        for i, t, fn in todo:
            try:
                results[i][t.name] = target_phase(jobs[i], t, fn)
            except Exception as exc:
                results[i].update(_failed(jobs[i], (t,), exc))
        return
    # forkserver: workers start from a clean process, whatever this one has loaded
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("forkserver")) as pool:
        futures: dict[cf.Future, tuple] = {}

        def submit(i: int, t: Target, fn: _FunctionOut) -> None:
            futures[pool.submit(target_phase, jobs[i], t, fn)] = ("t", i, t)

        for i in pending_fn:
            futures[pool.submit(function_phase, jobs[i])] = ("f", i, None)
        for i, t, fn in pending_t:
            submit(i, t, fn)
        try:
            while futures:
                done, _ = cf.wait(futures, return_when=cf.FIRST_COMPLETED)
                for fut in done:
                    kind, i, t = futures.pop(fut)
                    try:
                        out = fut.result()
                    except BrokenProcessPool:
                        # a worker died (a crash in MLIR's bindings or a native library): what it and
                        # the others were building is reported, not a traceback
                        for kind, i, t in [(kind, i, t), *futures.values()]:
                            results[i].update(_failed(jobs[i], jobs[i].targets if kind == "f" else (t,), CargoMlirError(
                                f"{jobs[i].marker.kind} `{jobs[i].marker.name}` ({jobs[i].marker.location}): not built: "
                                "a cargo-mlir worker process died while this build ran (a crash in MLIR or LLVM)",
                                hint="run `cargo mlir build -j1` to see which function crashes it; please report "
                                     "it with the IR `--emit-ir DIR` keeps")))
                        futures.clear()
                        break
                    except Exception as exc:
                        results[i].update(_failed(jobs[i], jobs[i].targets if kind == "f" else (t,), exc))
                        continue
                    if kind == "f":
                        _finish_function(i, jobs[i], out, results, submit)
                    else:
                        results[i][t.name] = out
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise


def workers_for(cargo_jobs: int | None) -> int:
    """cargo's `-j N`, else CARGO_MLIR_JOBS, else the cores this process may use."""
    env = os.environ.get("CARGO_MLIR_JOBS", "")
    if cargo_jobs:
        return max(cargo_jobs, 1)
    if env.isdigit() and int(env) > 0:
        return int(env)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
