"""The features of `cargo mlir bootstrap config enable|disable` (offload, autodiff, mlir)
as edits of a Config, and the LLVM_ENABLE_PROJECTS list that mlir needs kept in step.

Why mlir goes through `llvm.build-config` and why the whole project list is written: see
the module comment of command.py.
"""

from __future__ import annotations

from cargo_mlir.bootstrap.config import keys as K
from cargo_mlir.bootstrap.config import toml_edit as T
from cargo_mlir.bootstrap.config.checkout import Config
from cargo_mlir.term import Shell


PROJECTS_KEY = ("llvm", "build-config", "LLVM_ENABLE_PROJECTS")


def same(a: object, b: object) -> bool:
    return type(a) is type(b) and a == b          # True == 1 in Python, not in TOML


def _projects(cfg: Config) -> list[str]:
    raw = T.lookup(cfg.plain(), PROJECTS_KEY)
    if raw is T.MISSING:
        return []
    K.check_value(PROJECTS_KEY, raw)
    return [p for p in raw.split(";") if p]


def sync_projects(cfg: Config, add: tuple[str, ...] = (), remove: tuple[str, ...] = ()) -> None:
    """Keep a LLVM_ENABLE_PROJECTS we manage (one that lists mlir) a superset of the list
    bootstrap would pass itself, which it replaces (command.py's module comment).
    Entries are only ever added while mlir is on: a `clang` in the list may be the user's."""
    current = _projects(cfg)
    if ("mlir" not in current and not add) or (remove and not set(remove) & set(current)):
        return
    own = {proj for key, proj in K.BOOTSTRAP_PROJECTS if cfg.effective(key)[0] is True}
    want = (set(current) | own | set(add)) - set(remove)
    if remove and want <= own:                      # bootstrap's own list does it again
        T.unset_path(cfg.doc, PROJECTS_KEY)
        if T.lookup(cfg.plain(), PROJECTS_KEY[:2]) == {}:
            T.unset_path(cfg.doc, PROJECTS_KEY[:2])
    elif want != set(current):
        cfg.set(PROJECTS_KEY, ";".join(sorted(want)))


def missing(cfg: Config, name: str) -> list[str]:
    """What the configuration lacks for a feature, as `key = value` texts."""
    feature = K.FEATURES[name]
    out = [f"{k} = {T.render(v)}" for k, v in feature.enable
           if not same(cfg.effective(k)[0], v)]
    targets = cfg.effective("llvm.targets")[0]
    out += [f"{t} in llvm.targets" for t in feature.llvm_targets
            if t not in str(targets).split(";")]
    out += [f"{p} in {T.dotted(PROJECTS_KEY)}" for p in feature.llvm_projects
            if p not in _projects(cfg)]
    return out


def enable(shell: Shell, cfg: Config, name: str) -> None:
    feature = K.FEATURES[name]
    for key, value in feature.enable:
        # written even where the profile or default agrees, so it survives a profile change
        if not same(T.lookup(cfg.plain(), tuple(key.split("."))), value):
            cfg.set(key, value)
    if feature.llvm_targets:
        targets = cfg.effective("llvm.targets")[0]
        K.check_value(("llvm", "targets"), targets)
        current = [t for t in targets.split(";") if t]
        absent = [t for t in feature.llvm_targets if t not in current]
        if absent:
            cfg.set("llvm.targets", ";".join(current + absent))
    if feature.llvm_projects:
        sync_projects(cfg, add=feature.llvm_projects)
        shell.warn(
            "mlir through llvm.build-config is experimental: bootstrap passes build-config to "
            "CMake after its own LLVM_ENABLE_PROJECTS (src/bootstrap/src/core/build_steps/"
            "llvm.rs, `Llvm::run`), so this list replaces bootstrap's; cargo-mlir keeps it in "
            "step with llvm.clang/polly/offload. MLIR is built in build/<host>/llvm/build/bin; "
            "this LLVM+MLIR build is not tested by cargo-mlir")
        shell.note("for MLIR of exactly the compiler's LLVM, built beside it: "
                   + "cargo mlir bootstrap build --llvm-project "
                   + str(cfg.checkout / "src" / "llvm-project"), verbose=False)


def disable(shell: Shell, cfg: Config, name: str) -> None:
    feature = K.FEATURES[name]
    for key, value in feature.disable:
        if not same(cfg.effective(key)[0], value):
            cfg.set(key, value)
    if feature.llvm_projects:
        sync_projects(cfg, remove=feature.llvm_projects)
    kept = [k for k, _ in feature.enable if k not in dict(feature.disable)
            and T.lookup(cfg.plain(), tuple(k.split("."))) is not T.MISSING]
    if kept:
        verb = "it is" if len(kept) == 1 else "they are"
        shell.note(f"left {', '.join(kept)} as {verb} (other features may need them); "
                   "`unset` a key to return to its default", verbose=False)
