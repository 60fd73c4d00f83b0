"""`cargo mlir bootstrap config`: show and edit a rust checkout's `bootstrap.toml`
(`config.toml` in older checkouts). The command line, the checkout and the actions live
here; the checkout and its file in checkout.py, the keys in keys.py, the features in
features.py, and the format-preserving, atomic file edits in toml_edit.py.

MLIR through `llvm.build-config` — what rust's bootstrap does (read at rust-lang/rust
00b1e3fd5277 and 932140455163, 2025; cmake-rs at 00e6b220342a):
- `src/bootstrap/src/core/build_steps/llvm.rs`, `Llvm::run`: bootstrap collects
  LLVM_ENABLE_PROJECTS itself (clang for `llvm.clang`, polly for `llvm.polly`, compiler-rt for
  `llvm.offload`) and defines it on the cmake::Config; only after that, following
  `configure_cmake`/`configure_llvm`, it loops over `llvm.build-config` with
  `cfg.define(key, val)`.
- cmake-rs (`Config::define` pushes onto a Vec, `Config::build` passes every entry as
  `-DK=V` in order) keeps both definitions, and CMake lets the last `-D` of a variable win
  (checked with cmake 3.25.1: `-DLLVM_ENABLE_PROJECTS=a -DLLVM_ENABLE_PROJECTS=a;mlir`
  configures with `a;mlir`).
  So `llvm.build-config = { LLVM_ENABLE_PROJECTS = "…;mlir" }` reaches CMake, but *replaces*
  bootstrap's list: we write the whole list (bootstrap's projects plus mlir) and keep it in
  step when llvm.clang/polly/offload change.
- `src/bootstrap/src/core/config/toml/llvm.rs`, `check_incompatible_options_for_ci_llvm`: a
  build-config other than CI's is an error with `llvm.download-ci-llvm`, so mlir also writes
  `download-ci-llvm = false`.
- MLIR then lands in `build/<host>/llvm/build/bin` (cmake-rs builds in `<out>/build`).
- `prebuilt_llvm_config` skips the build when `build/<host>/llvm/.llvm-stamp` matches a hash
  of src/llvm-project's git diff and status: settings are not part of it, so an LLVM built
  before the edit may stay as it was; we warn when one exists.
We have not run that LLVM+MLIR build, so `enable mlir` says it is experimental and points to
`cargo mlir bootstrap build --llvm-project <checkout>/src/llvm-project`: MLIR of exactly the
compiler's LLVM, built beside it.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from tomlkit.items import Item

from cargo_mlir.bootstrap.config import features as F
from cargo_mlir.bootstrap.config.checkout import Config, find_checkout
from cargo_mlir.bootstrap.config import keys as K
from cargo_mlir.bootstrap.config import toml_edit as T
from cargo_mlir.errors import CargoMlirError
from cargo_mlir.term import COLOR_CHOICES, Shell

log = logging.getLogger("cargo_mlir.bootstrap.config.command")

CHANGE_TRACKER = Path("src/bootstrap/src/utils/change_tracker.rs")


def _options(p: argparse.ArgumentParser, *, sub: bool) -> None:
    """Accepted before and after the action; on an action they must not reset a value
    given before it, hence SUPPRESS."""
    d = {"default": argparse.SUPPRESS} if sub else {}
    p.add_argument("--rust-src", metavar="DIR", **(d or {"default": None}),
                   help="the rust checkout (default: the current directory or the nearest "
                        "parent with x.py or src/bootstrap)")
    p.add_argument("--dry-run", action="store_true", **d,
                   help="print the change as a unified diff, write nothing")
    p.add_argument("--profile", choices=sorted(K.PROFILE_FILES), **(d or {"default": None}),
                   help=f"profile of a file created now (default: {K.NEW_FILE_PROFILE})")
    if sub:
        p.add_argument("-v", "--verbose", action="count", **d,
                       help="more output (-vv: every command)")
        p.add_argument("-q", "--quiet", action="store_true", **d, help="no status output")
        p.add_argument("--color", choices=COLOR_CHOICES, **d)


def add_arguments(p: argparse.ArgumentParser) -> None:
    _options(p, sub=False)
    sub = p.add_subparsers(dest="config_action", metavar="ACTION")
    features = "; ".join(f"{n}: {f.help}" for n, f in K.FEATURES.items())
    for name, text in (
            ("show", "the keys that matter here, their values and where each comes from "
                     "(the default action)"),
            ("enable", f"write the keys features need ({features})"),
            ("disable", "turn features off again"),
            ("get", "print a key's value in the file (exit status 1 when it is not set)"),
            ("set", "set a dotted key, e.g. `set llvm.link-jobs 2`"),
            ("unset", "remove a key from the file")):
        s = sub.add_parser(name, help=text, description=text)
        if name in ("enable", "disable"):
            s.add_argument("features", nargs="+", choices=list(K.FEATURES), metavar="FEATURE",
                           help=" | ".join(K.FEATURES))
        if name in ("get", "set", "unset"):
            s.add_argument("key", metavar="KEY", help="dotted key, e.g. llvm.targets")
        if name == "set":
            s.add_argument("value", metavar="VALUE", help='a TOML value (true, 2, ["a"], '
                           '{ A = "b" }); for string keys the text as it is')
        _options(s, sub=True)


def run(shell: Shell, args: argparse.Namespace) -> int:
    action = getattr(args, "config_action", None) or "show"
    checkout = find_checkout(Path(args.rust_src) if args.rust_src else None)
    cfg = Config.load(checkout)
    if action == "show":
        return show(shell, cfg)
    if action == "get":
        return get(shell, cfg, T.parse_key(args.key))
    if cfg.text is None:
        cfg.create(args.profile or K.NEW_FILE_PROFILE)
    elif args.profile:
        shell.warn(f"--profile only applies to a new file; {cfg.path.name} exists")
    before = T.flatten(cfg.plain())
    if action in ("enable", "disable"):
        for name in dict.fromkeys(args.features):
            (F.enable if action == "enable" else F.disable)(shell, cfg, name)
    elif action == "set":
        set_key(shell, cfg, T.parse_key(args.key), args.value)
    else:
        parts = T.parse_key(args.key)
        warn_unknown(shell, parts)
        T.unset_path(cfg.doc, parts)
    F.sync_projects(cfg)
    rc = commit(shell, cfg, before, dry_run=args.dry_run)
    for message in F.ci_llvm_conflicts(cfg):
        shell.warn(message)
    return rc


def warn_unknown(shell: Shell, parts: tuple[str, ...]) -> None:
    message = K.unknown_key_message(parts)
    if message:
        shell.warn(message)


def set_key(shell: Shell, cfg: Config, parts: tuple[str, ...], raw: str) -> None:
    removed = K.removed_key_message(parts)
    if removed:
        successor = K.REMOVED[T.dotted(parts)][0]
        raise CargoMlirError(removed, hint=f"cargo mlir bootstrap config set {successor} {raw}")
    warn_unknown(shell, parts)
    value = K.value_from_cli(raw, K.key_type(parts))
    K.check_value(parts, value)
    current = T.lookup(cfg.plain(), parts)
    if not F.same(current, value.unwrap() if isinstance(value, Item) else value):
        cfg.set(parts, value)


# ---------------------------------------------------------------- actions

def show(shell: Shell, cfg: Config) -> int:
    name, file, _ = cfg.profile()
    shell.out(f"# {cfg.path}" + ("" if cfg.text is not None else " (missing: x.py uses defaults)"))
    if name is not None:
        shell.out(f"# profile {name}: " + (str(file) if file else "its defaults file is missing"))
    rows = []
    for shown in K.SHOWN:
        value, source = cfg.effective(shown.key)
        rows.append((shown.key, "(none)" if value is T.MISSING else T.render(value), source))
    shell.out(_table(rows))
    for name in K.FEATURES:
        missing = F.missing(cfg, name)
        shell.out(f"# {name}: " + ("enabled" if not missing else
                                   "not enabled (needs " + ", ".join(missing) + ")"))
    for parts, value in T.flatten(cfg.plain()).items():
        warn_unknown(shell, parts)
        try:
            K.check_value(parts, value)
        except CargoMlirError as exc:
            shell.warn(exc.message)
    for message in F.ci_llvm_conflicts(cfg):
        shell.warn(message)
    return 0


SHOW_VALUE_WIDTH = 34


def _table(rows: list[tuple[str, str, str]]) -> str:
    """`key = value  # source` rows with aligned `=` and `#`. A value wider than
    SHOW_VALUE_WIDTH (a long target list or build-config) does not push its source out of
    the column: the source goes on the next line, under the others."""
    wk = max(len(key) for key, _, _ in rows)
    wv = max((len(value) for _, value, _ in rows if len(value) <= SHOW_VALUE_WIDTH), default=0)
    lines = []
    for key, value, source in rows:
        if len(value) <= wv:
            lines.append(f"{key:<{wk}} = {value:<{wv}}  # {source}")
        else:
            lines += [f"{key:<{wk}} = {value}", f"{'':<{wk + 3 + wv}}  # {source}"]
    return "\n".join(lines)


def get(shell: Shell, cfg: Config, parts: tuple[str, ...]) -> int:
    warn_unknown(shell, parts)
    value = T.lookup(cfg.plain(), parts)
    if value is not T.MISSING:
        shell.out(T.render(value))
        return 0
    used, source = cfg.effective(parts)
    shell.note(f"{T.dotted(parts)} is not set in {cfg.path.name}"
               + ("" if used is T.MISSING else f"; bootstrap uses {T.render(used)} ({source})"),
               verbose=False)
    return 1


def _built_llvm(cfg: Config) -> list[Path]:
    """LLVM builds already in the checkout. The bootstraps we read stamp LLVM by its
    sources only (build_steps/llvm.rs, `prebuilt_llvm_config`: `.llvm-stamp`, formerly
    `llvm-finished-building`, holds a hash of src/llvm-project's git diff and status), so
    they may not rebuild it when llvm.* settings change."""
    build_dir = T.lookup(cfg.plain(), ("build", "build-dir"))
    base = cfg.checkout / (build_dir if isinstance(build_dir, str) else "build")
    return sorted({p.parent for stamp in (".llvm-stamp", "llvm-finished-building")
                   for p in base.glob(f"*/llvm/{stamp}")})


def _changes(before: dict, after: dict) -> list[tuple[tuple[str, ...], object, object]]:
    keys = dict.fromkeys([*before, *after])
    changes = [(k, before.get(k, T.MISSING), after.get(k, T.MISSING)) for k in keys
               if not F.same(before.get(k, T.MISSING), after.get(k, T.MISSING))]
    # an empty `[llvm]` that gets its first key, or loses its last, is no setting
    return [(k, old, new) for k, old, new in changes
            if {T.type_name(old), T.type_name(new)} != {"empty", "missing"}]


def commit(shell: Shell, cfg: Config, before: dict, *, dry_run: bool) -> int:
    """Write the edited document, print its diff (--dry-run), or say nothing changed."""
    new = T.dumps(cfg.doc, like=cfg.text)
    changes = _changes(before, T.flatten(cfg.plain()))
    # a file that does not exist is only created for a change beyond x.py setup's lines
    if new == cfg.text or cfg.text is None and not changes:
        shell.status("Unchanged", f"{cfg.path} (nothing to change)")
        return 0
    for parts, old, now in changes:
        verb = "Unset" if now is T.MISSING else "Set"
        text = T.dotted(parts) + ("" if now is T.MISSING else f" = {T.render(now)}")
        text += "" if old is T.MISSING else f" (was {T.render(old)})"
        shell.status(f"Would {verb.lower()}" if dry_run else verb, text)
    if dry_run:
        shell.out(T.unified_diff(cfg.path, cfg.text, new).rstrip("\n"))
        shell.status("Dry run", f"{cfg.path} not written")
        return 0
    backup = T.write(cfg.path, cfg.text, new)
    if backup is None:
        shell.status("Created", str(cfg.path))
    else:
        shell.status("Updated", f"{cfg.path} (previous content in {backup.name})")
    if any(parts[0] == "llvm" for parts, _, _ in changes):
        for built in _built_llvm(cfg):
            shell.warn(f"LLVM is already built in {built}; bootstrap may not rebuild it for "
                       f"changed llvm.* settings (its stamp covers the sources only): remove "
                       f"{built} to be sure they apply")
    return 0
