"""The features of `cargo mlir bootstrap config enable|disable` (offload, autodiff, mlir)
as edits of a Config, the LLVM_ENABLE_PROJECTS list that mlir needs kept in step, and the
settings bootstrap refuses together with CI's LLVM.

Why mlir goes through `llvm.build-config` and why the whole project list is written: see
the module comment of command.py.
"""

from __future__ import annotations

import tomllib

from cargo_mlir.bootstrap.config import keys as K
from cargo_mlir.bootstrap.config import toml_edit as T
from cargo_mlir.bootstrap.config.checkout import CHANGE_TRACKER, Config
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


def _wanted(cfg: Config, name: str) -> list[tuple[str, object]]:
    """The feature's keys and values, less those another key the file sets replaces
    (llvm.offload-clang-dir instead of llvm.clang)."""
    feature = K.FEATURES[name]
    instead = dict(feature.instead)
    return [(k, v) for k, v in feature.enable
            if k not in instead or T.lookup(cfg.plain(), tuple(instead[k].split("."))) in
            (T.MISSING, "")]


def missing(cfg: Config, name: str) -> list[str]:
    """What the configuration lacks for a feature, as `key = value` texts."""
    feature = K.FEATURES[name]
    out = [f"{k} = {T.render(v)}" for k, v in _wanted(cfg, name)
           if not same(cfg.effective(k)[0], v)]
    targets = cfg.effective("llvm.targets")[0]
    out += [f"{t} in llvm.targets" for t in feature.llvm_targets
            if t not in str(targets).split(";")]
    out += [f"{p} in {T.dotted(PROJECTS_KEY)}" for p in feature.llvm_projects
            if p not in _projects(cfg)]
    return out


def _ci_builder_config(cfg: Config) -> dict | None:
    """The llvm table CI's downloaded LLVM was built with, which bootstrap compares the
    file against (`<build-dir>/<host>/ci-llvm/builder-config`, toml/mod.rs
    `get_builder_toml`); None when no CI LLVM has been downloaded."""
    build_dir = T.lookup(cfg.plain(), ("build", "build-dir"))
    base = cfg.checkout / (build_dir if isinstance(build_dir, str) else "build")
    for path in sorted(base.glob("*/ci-llvm/builder-config")):
        try:
            return tomllib.loads(path.read_text("utf-8")).get("llvm", {})
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
    return None


def ci_llvm_conflicts(cfg: Config) -> list[str]:
    """The llvm.* keys of the file that bootstrap refuses with CI's LLVM, as warnings. It
    reads the file alone here (not the profile), and stops at the first key that differs
    from CI's builder-config (config/toml/llvm.rs, `check_incompatible_options_for_ci_llvm`).
    Before CI's LLVM is downloaded we cannot know that config, so we report the keys that
    add what CI's LLVM does not build (clang, offload, polly, plugins, enzyme,
    build-config) when they are on."""
    download, source = cfg.effective("llvm.download-ci-llvm")
    if download is not True and download != "if-unchanged":
        return []
    llvm = cfg.plain().get("llvm")
    llvm = llvm if isinstance(llvm, dict) else {}
    ci = _ci_builder_config(cfg)
    if ci is None:
        bad = [k for k in K.CI_LLVM_LACKS if llvm.get(k) is True
               or isinstance(llvm.get(k), dict) and llvm[k]]
        reason = "CI's LLVM is built without it"
    else:
        bad = [k for k in K.CI_LLVM_CHECKED if k in llvm and llvm[k] != ci.get(k)]
        reason = "CI's LLVM (ci-llvm/builder-config) was built with another value"
    return [f"llvm.{k} = {T.render(llvm[k])} is refused with llvm.download-ci-llvm = "
            f"{T.render(download)} ({source}): bootstrap stops with \"Setting `llvm.{k}` is "
            f"incompatible with `llvm.download-ci-llvm`\" ({reason}); set "
            "llvm.download-ci-llvm = false to build LLVM from src/llvm-project, or unset "
            f"llvm.{k}" for k in bad]


def _checkout_knows(cfg: Config, key: str) -> bool | None:
    """Whether the checkout's change tracker names the key (None: no tracker to read)."""
    try:
        return f"`{key}`" in (cfg.checkout / CHANGE_TRACKER).read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def enable(shell: Shell, cfg: Config, name: str) -> None:
    feature = K.FEATURES[name]
    written = set()
    for key, value in _wanted(cfg, name):
        # written even where the profile or default agrees, so it survives a profile change
        if not same(T.lookup(cfg.plain(), tuple(key.split("."))), value):
            cfg.set(key, value)
            written.add(key)
    for key, other in feature.instead:
        knows = _checkout_knows(cfg, other)
        if key in written and knows:
            shell.note(f"to reuse a clang you have rather than build one, set {other} to the "
                       f"directory of its ClangConfig.cmake (of LLVM's major version) and "
                       f"unset {key} (rustc-dev-guide, offload/installation.md)", verbose=False)
        elif key not in dict(_wanted(cfg, name)) and knows is False:
            shell.warn(f"{other} is set, but this checkout's bootstrap does not know it (it "
                       "came with rust change 148671), so x.py will reject it; unset it and "
                       f"run `cargo mlir bootstrap config enable {name}` again")
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
    before = T.flatten(cfg.plain())
    for key, value in feature.disable:
        if not same(cfg.effective(key)[0], value):
            cfg.set(key, value)
    if feature.llvm_projects:
        sync_projects(cfg, remove=feature.llvm_projects)
    if T.flatten(cfg.plain()) == before:
        return                          # it was off: nothing to say about the other keys
    kept = [k for k, _ in feature.enable if k not in dict(feature.disable)
            and T.lookup(cfg.plain(), tuple(k.split("."))) is not T.MISSING]
    if kept:
        verb = "it is" if len(kept) == 1 else "they are"
        shell.note(f"left {', '.join(kept)} as {verb} (other features may need them); "
                   "`unset` a key to return to its default", verbose=False)
