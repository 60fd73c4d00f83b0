"""Device work between the two cargo passes: for every unit pass 1 recorded,
read its markers, run every marked function of every unit through the
pipeline (in parallel, see pipeline/runner.py), and package each unit's
results. A unit whose inputs are unchanged does no work."""

from __future__ import annotations

import fcntl
import json
import re
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cargo_mlir import config
from cargo_mlir.cargo import units
from cargo_mlir.cargo.args import Args
from cargo_mlir.errors import CargoMlirError
from cargo_mlir.fsutil import read_json, sha256_file, sha256_text, write_atomic
from cargo_mlir.build import dependencies
from cargo_mlir.build.markers import Marker, read_module
from cargo_mlir.build.markers import fingerprints as markers_fingerprints
from cargo_mlir.build.package import KernelObjects, package_unit
from cargo_mlir.pipeline import runner as pipeline
from cargo_mlir.pipeline.passes import plan
from cargo_mlir.pipeline.targets import HOST, targets_for
from cargo_mlir.term import Shell
from cargo_mlir.toolchain.record import Toolchain


def report_path(state: Path) -> Path:
    """Every kernel × target built in this target directory (see `_report_entry`),
    by unit: written by `build_device_code`, read by `cargo mlir ci` and users' tools."""
    return state / "report.json"


@contextmanager
def _locked(state: Path):
    """One device step per target directory at a time: they share state files and the cache."""
    state.mkdir(parents=True, exist_ok=True)
    with open(state / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def unit_key(unit: units.Unit, cfg: config.Config, tc: Toolchain, args: Args) -> str:
    return sha256_text(sha256_file(Path(unit.bitcode)), cfg.hash(), tc.versions_key(), pipeline.source_hash(),
                       ",".join(args.offload_arch or ("<config>",)))


def _arches(cfg: config.Config, marker: Marker, args: Args) -> tuple[str, ...]:
    return tuple(args.offload_arch if args.offload_arch is not None else cfg.arches_for(marker.name))


def _default_arches(cfg: config.Config, marker: Marker, args: Args) -> bool:
    """Whether the function's GPU targets are cargo-mlir's default (config.DEFAULT_ARCHES):
    no `--offload-arch`, no `offload-arch` in the package's or the kernel's table."""
    k = cfg.kernels.get(marker.name)
    return args.offload_arch is None and not cfg.arch_given and not (k and k.offload_arch is not None)


def _without_failed_defaults(run: "_Run", marker: Marker, results: list) -> list:
    """The default never breaks a build: a GPU target nobody asked for that
    cannot compile the function is dropped with a warning (the kernel runs on
    the host on such a GPU), as long as the host build of it works."""
    if any(f.level == "error" for r in results if r.target.kind == "host" for f in r.findings):
        return results
    kept = []
    for r in results:
        errors = [f.message for f in r.findings if f.level == "error"]
        if r.target.kind == "host" or not errors:
            kept.append(r)
            continue
        reason = errors[0].splitlines()[0]
        run.warnings[f"{marker.kind} `{marker.name}` ({marker.location}) was not built for {r.target.name}, "
                     f"cargo-mlir's default GPU architecture, and runs on the host on such a GPU: {reason}\n"
                     f"help: name the architectures to build for with `offload-arch` in "
                     f"[package.metadata.cargo-mlir] (`[]`: the host alone); a failure for an architecture "
                     f"you name is an error"] = None
    return kept


def _targets(cfg: config.Config, marker: Marker, args: Args):
    if marker.kind in ("accelerate", "autodiff"):   # host functions (a recognised matmul gets GPU images in it)
        return (HOST,)
    return targets_for(_arches(cfg, marker, args))


def _timing_line(timings: dict[str, float]) -> str:
    return " · ".join(f"{k} {v:.2f}s" for k, v in timings.items())


@dataclass
class _Run:
    """What one device step reads, updates and reports."""
    state: Path
    done: dict
    hashes: dict[str, str]
    by_unit: dict[str, list]
    report: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: dict[str, None] = field(default_factory=dict)
    failed_compiles: int = 0            # units whose device compile failed (pass 1 said why)
    seen: dict[str, set[str]] = field(default_factory=dict)    # package -> kernels found
    dumps: dict[str, str] = field(default_factory=dict)        # --emit-ir name -> the kernel it shows
    worked: int = 0
    fresh_kernels: int = 0
    explain: bool = False
    build_id: str = ""
    may_rebuild: bool = False           # may ask for dependencies compiled without a record (dependencies.py)
    rebuild: set[Path] = field(default_factory=set)

    def save(self) -> None:
        # a library no longer recorded (its unit has no kernels now, or their device
        # work failed) is emptied: what links it runs those kernels as plain Rust
        for uid in units.library_hashes(self.state).keys() - self.hashes.keys():
            write_atomic(units.library_path(self.state, uid), units.PLACEHOLDER)
        units.save_library_hashes(self.state, self.hashes)
        write_atomic(units.done_path(self.state), json.dumps(self.done, indent=1, sort_keys=True))
        # what `cargo mlir ci` and users' tools read: every kernel × target built in this
        # target dir (a unit rebuilt replaces its entries)
        write_atomic(report_path(self.state), json.dumps(
            {"kernels": [e for uid in sorted(self.by_unit) for e in self.by_unit[uid]], "units": self.by_unit},
            indent=1))


def build_device_code(shell: Shell, state: Path, configs: dict[str, config.Config], tc: Toolchain,
                      args: Args, build_id: str, may_rebuild: bool = False) -> set[Path]:
    """Device work for the units pass 1 compiled in this run (a unit cargo found
    fresh has an up-to-date library; one whose device work failed or was
    interrupted before is compiled again by pass 1, see units.retry_env).
    With `may_rebuild`, a unit whose kernels call into crates compiled without a
    record of how (dependencies.py) is left owed, and their rlibs are returned:
    the caller removes them and runs pass 1 and this step again."""
    with _locked(state):
        run = _Run(state, read_json(units.done_path(state)), units.library_hashes(state),
                   read_json(report_path(state)).get("units", {}), explain=args.explain, build_id=build_id,
                   may_rebuild=may_rebuild)
        try:
            todo = []
            for unit in units.read_units(state):
                if unit.build_id == build_id:
                    work = _prepare(shell, run, unit, configs.get(unit.package, config.Config()), tc, args)
                    if work:
                        todo.append(work)
            if run.rebuild:             # every unit of this run is done again after pass 1
                return run.rebuild
            jobs = [job for w in todo for job in w.jobs]
            results = iter(pipeline.compile_functions(jobs, pipeline.workers_for(args.jobs)))
            for w in todo:
                _unit_done(shell, run, w, [next(results) for _ in w.jobs], tc)
            if args.explain:            # units with no work this time: what their report says
                _explain_reported(shell, run, {w.unit.unit_id for w in todo})
        finally:
            run.save()
    _finish(shell, run, configs, tc)
    return set()


def _explain_reported(shell: Shell, run: _Run, shown: set[str]) -> None:
    notes = dict.fromkeys(f["message"] for uid, entries in sorted(run.by_unit.items()) if uid not in shown
                          for e in entries for f in e.get("findings", []) if f.get("level") == "note")
    for message in notes:
        shell.out(message)


@dataclass
class _UnitWork:
    unit: units.Unit
    key: str
    jobs: list[pipeline.FunctionJob]
    defaulted: list[bool]       # per job: its GPU targets are the default, nobody asked for them
    linked_crates: tuple[dependencies.Dependency, ...] = ()    # crates whose device code it links


def _prepare(shell: Shell, run: _Run, unit: units.Unit, cfg: config.Config, tc: Toolchain,
             args: Args) -> _UnitWork | None:
    """The functions of a unit that needs device work (None: nothing to do)."""
    uid = unit.unit_id
    if not unit.bitcode or not Path(unit.bitcode).exists():
        # the device compile failed (the wrapper said why): no library, so plain Rust kernels
        for table in (run.hashes, run.by_unit, run.done):
            table.pop(uid, None)
        if unit.build_id == run.build_id and unit.device_failed:
            run.failed_compiles += 1
        return None
    key = unit_key(unit, cfg, tc, args)
    entry = run.done.get(uid, {})
    if entry.get("key") == key and not args.emit_ir and not args.explain \
            and dependencies.unchanged(entry.get("dependencies", [])) \
            and (not entry.get("kernels") or units.library_intact(run.state, uid, run.hashes.get(uid))):
        run.fresh_kernels += entry.get("kernels", 0)
        run.by_unit[uid] = entry.get("report", [])
        return None
    run.worked += 1
    # until it succeeds the unit counts as failed: an error or Ctrl-C means a retry next time
    run.done[uid] = {"failed": True}
    run.save()
    markers, text = read_module(Path(unit.bitcode))
    run.seen.setdefault(unit.package, set()).update(m.name for m in markers if m.kind == "kernel")
    if not markers:
        run.hashes.pop(uid, None)
        run.by_unit.pop(uid, None)
        run.done[uid] = {"key": key, "kernels": 0}
        return None
    linked = dependencies.link(shell, run.state, unit, markers, text, tc)
    if linked.unrecorded and run.may_rebuild:
        run.rebuild.update(linked.unrecorded)     # pass 1 again, then this unit (still owed work)
        return None
    fingerprints = markers_fingerprints(linked.text, markers)
    if "staticlib" in unit.crate_types:
        run.warnings[_staticlib_warning(unit, markers)] = None
    shell.status("Lowering", f"{_count(markers)} of {unit.label}")
    opts = pipeline.Options(cache_dir=run.state / "cache", work_dir=run.state / "work" / uid, emit_ir=args.emit_ir)
    derivatives = tuple(m for m in markers if m.kind == "autodiff")    # kernels may call them
    jobs = [pipeline.FunctionJob(m, linked.bitcode, fingerprints[m.entry], _targets(cfg, m, args),
                                 cfg.pipelines_for(m.name), tc, opts, cfg.code_object_version,
                                 _dump_label(run, unit, m), _arches(cfg, m, args), derivatives) for m in markers]
    return _UnitWork(unit, key, jobs, [_default_arches(cfg, m, args) for m in markers], linked.dependencies)


def _staticlib_warning(unit: units.Unit, markers: list[Marker]) -> str:
    """A static library gets no kernel library: the final link that would add it
    is the user's own (a C linker's), so its functions run as plain Rust."""
    names = ", ".join(f"`{m.name}` ({m.file}:{m.line})" for m in markers[:3]) + (", …" if len(markers) > 3 else "")
    return (f"{unit.label}: {names} run{'s' * (len(markers) == 1)} as plain Rust in its static library: "
            f"cargo-mlir adds kernel libraries at the final link of programs, tests and cdylibs, and a staticlib "
            f"has none (build a `cdylib` to call them from C with MLIR code)")


def _count(markers: list[Marker]) -> str:
    """`2 kernels`, `1 accelerate function`, `1 kernel, 2 derivatives`."""
    parts = []
    for kind, word in (("kernel", "kernel"), ("accelerate", "accelerate function"), ("autodiff", "derivative")):
        n = sum(m.kind == kind for m in markers)
        if n:
            parts.append(f"{n} {word}{'s' * (n != 1)}")
    return ", ".join(parts)


def _unit_done(shell: Shell, run: _Run, w: _UnitWork, results: list[list], tc: Toolchain) -> None:
    unit, uid = w.unit, w.unit.unit_id
    objects, unit_errors, unit_report = [], [], []
    for job, defaulted, rs in zip(w.jobs, w.defaulted, results):
        if defaulted:
            rs = _without_failed_defaults(run, job.marker, rs)
        _show(shell, job.marker, rs, run.explain)
        unit_report.extend(_report_entry(unit, r) for r in rs)
        findings = [f for r in rs for f in r.findings]
        unit_errors.extend(f.message for f in findings if f.level == "error")
        for f in findings:
            if f.level == "warning":
                run.warnings[f.message] = None
        if any(f.level == "error" for f in findings):
            continue
        host = next(r for r in rs if r.target.kind == "host")
        # each GPU image, then its companions (an NVIDIA cubin's PTX: the launcher tries them in turn)
        images = tuple((r.target, image) for r in rs if r.target.kind != "host"
                       for image in (r.artifact, *pipeline.companions_of(r.artifact)))
        # an accelerate function without a fast path is registered without code:
        # the runtime can then say why it runs as plain Rust
        objects.append(KernelObjects(job.marker, host.artifact, images))
    run.report.extend(unit_report)
    run.by_unit[uid] = unit_report
    if unit_errors:
        run.errors.extend(dict.fromkeys(unit_errors))
        run.hashes.pop(uid, None)
        return
    lib, digest = package_unit(run.state, uid, objects, tc)
    shell.status("Packaging", f"{lib.name} ({len(objects)} function{'s' * (len(objects) != 1)})", verbose=True)
    run.hashes[uid] = f"{units.producer(pipeline.source_hash(), tc.versions_key())}-{digest}"
    run.done[uid] = {"key": w.key, "kernels": len(w.jobs), "report": unit_report,
                     "dependencies": [d.to_json() for d in w.linked_crates]}


# a file in a stage's scratch directory (pipeline/stage.py's Context.tmp), gone after the build
_TEMPORARY = re.compile(re.escape(tempfile.gettempdir()) + r"/cargo-mlir-[^/\s]+/([^\s:,'\"`)]+)")


def without_temporary_paths(message: str) -> str:
    """An error for the user: a tool's temporary files are deleted after the
    build, so they are named by what they are (`-v` shows their paths)."""
    return _TEMPORARY.sub(lambda m: f"<temporary {m[1]}>", message)


def _finish(shell: Shell, run: _Run, configs: dict[str, config.Config], tc: Toolchain) -> None:
    for package, kernels in run.seen.items():
        for name in sorted(set(configs.get(package, config.Config()).kernels) - kernels):
            run.warnings[f"[package.metadata.cargo-mlir.kernel.{name}] of `{package}` names no "
                         f"#[offload_kernel] function (kernels: {', '.join(sorted(kernels)) or 'none'})"] = None
    if any(r["target"].startswith("sm_") for r in run.report if not r["cached"]) and not tc.has("ptxas"):
        run.warnings["ptxas was not found: NVIDIA images are PTX, which the driver compiles at the first "
                     "launch; install the CUDA toolkit (ptxas) for cubins"] = None
    for w in run.warnings:
        shell.warn(w)
    if run.errors:
        for e in run.errors:
            shell.error(e if shell.verbosity > 0 else without_temporary_paths(e))
        n = len(run.errors)
        on_device = any("cannot run on a device" in e for e in run.errors)
        raise CargoMlirError(f"could not compile device code ({n} error{'s' * (n != 1)})",
                             hint="kernels may use arithmetic, slices, loops and cargo_mlir::gpu; "
                                  "no allocation, I/O or formatting" if on_device else
                                  "`--emit-ir DIR` keeps the IR each stage produced")
    if run.worked == 0 and not run.failed_compiles:      # "Fresh" would hide the failed device compile
        n = run.fresh_kernels
        shell.status("Fresh", "device code (no device work)" if not n else
                     f"device code ({n} kernel{'s' * (n != 1)} up to date, no device work)")


def _report_entry(unit: units.Unit, r) -> dict:
    return {"unit": unit.unit_id, "package": unit.package, "crate": unit.crate_name, "test": unit.test,
            "kind": r.marker.kind, "kernel": r.marker.name, "location": r.marker.location, "target": r.target.name,
            "cached": r.cached, "artifact": str(r.artifact) if r.artifact else None, "timings": r.timings,
            "findings": [{"level": f.level, "message": f.message} for f in r.findings + r.notes]}


def _dump_label(run: _Run, unit: units.Unit, marker: Marker) -> str:
    """`<fn>` in --emit-ir file names; a second function of that name in the same
    build (another module or crate, or a unit-test build) gets `<fn>@<symbol>`."""
    owner = marker.key + ("@test" if unit.test else "")
    label = marker.name if run.dumps.setdefault(marker.name, owner) == owner else f"{marker.name}@{owner}"
    run.dumps[label] = owner
    return label


def _show(shell: Shell, marker: Marker, results, explain: bool) -> None:
    """-v: time per target, and what was raised; --explain: what was raised, alone."""
    for r in results:
        if any(f.level == "error" for f in r.findings):
            continue
        how = "cached" if r.cached else f"{sum(r.timings.values()):.2f}s"
        shell.status("Compiled" if not r.cached else "Fresh",
                     f"{marker.kind} `{marker.name}` for {r.target.name} ({how})", verbose=True)
        if not r.cached and shell.verbosity > 0:
            shell.status("", _timing_line(r.timings), verbose=True)
    notes = dict.fromkeys(n.message for r in results for n in r.notes)
    for message in notes:
        if explain:
            shell.out(message)
        else:
            shell.note(message, verbose=True)


def print_pipeline(shell: Shell, configs: dict[str, config.Config], cli_arches: tuple[str, ...] | None) -> None:
    """What really runs, per package: the function stages once, then each target's."""
    from cargo_mlir.pipeline.table import FUNCTION_STAGES, target_stages

    out = []
    for package, cfg in sorted(configs.items()):
        arches = cli_arches if cli_arches is not None else cfg.offload_arch
        out.append(f"package `{package}` ({cfg.source})")
        out.append("  once per function (target-independent):")
        out += _stage_lines(FUNCTION_STAGES, cfg.pipelines, None)
        for target in targets_for(arches):
            out.append(f"  per target: {target.name} ({target.triple})")
            out += _stage_lines(target_stages(target), cfg.pipelines, target)
        for name, k in sorted(cfg.kernels.items()):
            out.append(f"  function `{name}`: offload-arch {list(k.offload_arch) if k.offload_arch is not None else 'as package'}"
                       + "".join(f"; {s} = {v.describe()}" for s, v in k.pipelines.common.items()))
    shell.out("\n".join(out))


def _stage_lines(stages, pipelines: config.Pipelines, target) -> list[str]:
    out = []
    for stage in stages:
        if stage.default is None:
            out.append(f"    {stage.name:<9} {stage.what}")
            continue
        spec = pipelines.for_stage(target.kind if target else None, stage.name)
        origin = "configured" if spec else "default"
        if spec is None:
            from cargo_mlir.pipeline.stage import Context
            spec = stage.default(Context(None, pipelines, None, target))
        if spec is None or (spec.pipeline is not None and not spec.pipeline):
            out.append(f"    {stage.name:<9} (no passes)   [{origin}]")
        elif spec.transform is not None:
            out.append(f"    {stage.name:<9} transform-interpreter {spec.transform}   [{origin}]")
        else:
            runs = [f"python pass {text}" if kind == "python" else f"PassManager {text}"
                    for kind, text in plan(spec.pipeline)]
            out.append(f"    {stage.name:<9} {runs[0]}   [{origin}]")
            out += [f"    {'':<9} then {r}" for r in runs[1:]]
    return out
