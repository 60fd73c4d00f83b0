"""`cargo mlir init` (add the support crate to an existing crate) and
`cargo mlir new PATH` (a starter crate with an offload kernel).

init edits Cargo.toml with tomlkit so comments, formatting and key order stay
as the user wrote them: the only change is the one dependency line, and a
second run changes nothing.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

import tomlkit
from tomlkit.exceptions import ParseError
from tomlkit.items import InlineTable, Table

from cargo_mlir import resources
from cargo_mlir.errors import CargoMlirError
from cargo_mlir.fsutil import write_atomic
from cargo_mlir.term import Shell

DEP = "cargo-mlir"
# Keys that name another source for a dependency; cargo rejects them beside `path`.
_OTHER_SOURCES = ("git", "branch", "tag", "rev", "registry")

# Rust keywords (all editions, reserved ones included): cargo refuses them as names.
_KEYWORDS = frozenset("""as async await break const continue crate do dyn else enum extern
false final fn for gen if impl in let loop macro match mod move mut override priv pub ref
return self Self static struct super trait true try type typeof unsafe unsized use virtual
where while yield abstract become box""".split())
# Cargo refuses these: `test` is the built-in test crate, the rest are target/ folder names.
_RESERVED = frozenset(("test", "deps", "examples", "build", "incremental"))
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def run(shell: Shell, args: argparse.Namespace) -> int:
    if args.command == "init":
        return init(shell, Path(args.manifest_path) if args.manifest_path else None)
    return new(shell, Path(args.path), args.name)


# ---------------------------------------------------------------- the manifest

def find_manifest(start: Path) -> Path:
    """The nearest Cargo.toml at or above `start`, as cargo finds it."""
    for d in (start, *start.parents):
        if (d / "Cargo.toml").is_file():
            return d / "Cargo.toml"
    raise CargoMlirError(f"could not find `Cargo.toml` in `{start}` or any parent directory",
                         hint="run it in a crate, pass --manifest-path path/to/Cargo.toml, "
                              "or create one with `cargo mlir new PATH`")


def parse_manifest(text: str, where: Path | str) -> tomlkit.TOMLDocument:
    try:
        return tomlkit.parse(text)
    except ParseError as exc:
        raise CargoMlirError(f"could not parse {where}:{exc.line}:{exc.col}: {exc}",
                             hint="fix the TOML syntax there; the file was not changed") from None


def check_package(doc: tomlkit.TOMLDocument, where: Path | str) -> None:
    if "package" in doc:
        return
    if "workspace" in doc:
        members = doc["workspace"].get("members") or []
        listed = f" (members: {', '.join(map(str, members))})" if members else ""
        raise CargoMlirError(f"{where} is a virtual workspace manifest{listed}: it has no "
                             "[package] to add a dependency to",
                             hint="pass the manifest of a member: "
                                  "`cargo mlir init --manifest-path MEMBER/Cargo.toml`")
    raise CargoMlirError(f"{where} has no [package] table", hint="is this a crate's Cargo.toml?")


@dataclass(frozen=True)
class Edit:
    text: str               # the new file contents (the old ones when nothing changed)
    action: str             # added | updated | unchanged | inherited
    old_path: str | None = None


def _dep_item(support: Path, newline: str, keep: dict | None = None):
    # Parsed from text, not built with inline_table(), to get cargo's `{ path = … }` spacing.
    fields = [f"path = {tomlkit.string(str(support)).as_string()}"]
    fields += [f"{tomlkit.key(k).as_string()} = {tomlkit.item(v).as_string()}"
               for k, v in (keep or {}).items()]
    return tomlkit.parse(f"{DEP} = {{ {', '.join(fields)} }}{newline}")[DEP]


def _append_key(deps: Table, item) -> None:
    # tomlkit appends after the table's trailing blank lines and comments, which
    # belong to whatever follows; keep them after the new line instead.
    body = deps.value.body
    trailing = []
    while body and body[-1][0] is None:
        trailing.insert(0, body.pop())
    deps.add(DEP, item)
    body.extend(trailing)


def add_support_dependency(text: str, support: Path, where: Path | str = "Cargo.toml") -> Edit:
    """`text` with `cargo-mlir = { path = "<support>" }` in [dependencies]."""
    doc = parse_manifest(text, where)
    check_package(doc, where)
    newline = "\r\n" if "\r\n" in text else "\n"
    base = Path(where).parent
    deps = doc.get("dependencies")
    if deps is not None and not isinstance(deps, dict):
        raise CargoMlirError(f"`dependencies` in {where} is not a table")
    current = deps.get(DEP) if deps is not None else None
    # Decide on plain values: tomlkit's Bool item is not `True`.
    plain = current.unwrap() if current is not None else None
    if isinstance(plain, dict) and plain.get("workspace") is True:
        return Edit(text, "inherited")
    if isinstance(plain, dict):     # keep features & co., point it at our copy
        old = plain.get("path")
        if isinstance(old, str) and (base / old).resolve() == support.resolve():
            return Edit(text, "unchanged", old)
        old = str(old or plain.get("git") or plain.get("version") or "no path")
        if isinstance(current, InlineTable) and ("path" not in plain or set(plain) & set(_OTHER_SOURCES)):
            # tomlkit's in-place pop leaves odd spacing in inline tables; rewrite the entry.
            deps[DEP] = _dep_item(support, newline, {k: v for k, v in current.items()
                                                     if k != "path" and k not in _OTHER_SOURCES})
        else:
            current["path"] = str(support)
            for key in _OTHER_SOURCES:
                current.pop(key, None)
        action = "updated"
    elif current is not None:       # a version requirement: crates.io does not have it
        old = str(plain)
        deps[DEP] = _dep_item(support, newline)
        action = "updated"
    else:
        old = None
        if deps is None:
            doc["dependencies"] = deps = tomlkit.table()
        if isinstance(deps, Table):
            _append_key(deps, _dep_item(support, newline))
        else:                       # `dependencies = { … }` written inline
            deps[DEP] = _dep_item(support, newline)
        action = "added"
    new_text = doc.as_string()
    _check_edit(text, new_text, support, where)
    return Edit(new_text, action, old)


def _split_dep(data: dict) -> tuple[dict, object]:
    """(manifest without our dependency, our dependency); an emptied
    [dependencies] goes too, so "added a new table" compares equal."""
    deps = data.get("dependencies")
    ours = deps.pop(DEP, None) if isinstance(deps, dict) else None
    if deps == {}:
        del data["dependencies"]
    return data, ours


def _check_edit(old_text: str, new_text: str, support: Path, where: Path | str) -> None:
    # tomlkit keeps formatting but its placement rules are subtle; the re-parsed
    # result must be the old manifest plus exactly our dependency.
    before, _ = _split_dep(tomlkit.parse(old_text).unwrap())
    after, ours = _split_dep(tomlkit.parse(new_text).unwrap())
    if not isinstance(ours, dict) or ours.get("path") != str(support) or before != after:
        raise CargoMlirError(f"could not add the support crate to {where} without changing "
                             "anything else; the file was not changed",
                             hint=f"add it by hand under [dependencies]: {DEP} = {{ path = \"{support}\" }}")


# ---------------------------------------------------------------- init

def init(shell: Shell, manifest_path: Path | None, cwd: Path | None = None) -> int:
    manifest = (manifest_path or find_manifest((cwd or Path.cwd()).resolve())).resolve()
    if not manifest.is_file():
        raise CargoMlirError(f"manifest path `{manifest}` is not a Cargo.toml file")
    try:
        text = manifest.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CargoMlirError(f"{manifest} is not UTF-8 (byte {exc.start}), as TOML must be") from None
    check_package(parse_manifest(text, manifest), manifest)   # refuse before copying anything
    support = resources.support_crate_path()
    edit = add_support_dependency(text, support, manifest)
    if edit.action == "inherited":
        shell.status("Unchanged", f"{manifest} takes {DEP} from [workspace.dependencies]")
        shell.note(f"the workspace root should say: {DEP} = {{ path = \"{support}\" }}", verbose=False)
        return 0
    if edit.action == "unchanged":
        shell.status("Unchanged", f"{manifest} is already set up for cargo-mlir ({support})")
        return 0
    write_atomic(manifest, edit.text.encode("utf-8"))
    if edit.action == "updated":
        shell.status("Updating", f"{DEP} support crate in {manifest}: {edit.old_path} -> {support}")
    else:
        shell.status("Adding", f"{DEP} support crate to {manifest}")
        _next_steps(shell)
    return 0


def _next_steps(shell: Shell) -> None:
    shell.note("mark a kernel with `#[offload_kernel]` (`use cargo_mlir::offload::{offload, "
               "offload_kernel};`) and launch it with `offload! { kernel = …, args = (…), … }`",
               verbose=False)
    shell.note("then `cargo mlir run --release`; plain `cargo run` still works and runs "
               "kernels as ordinary Rust on the host", verbose=False)


# ---------------------------------------------------------------- new

def validate_name(name: str, *, from_dir: bool = False) -> None:
    """Cargo's package-name rules (ASCII only), with cargo's wording."""
    why = None
    if not name:
        why = "the name cannot be empty"
    elif name[0].isdigit():
        why = "the name cannot start with a digit"
    elif not (name[0].isascii() and (name[0].isalpha() or name[0] == "_")):
        why = f"invalid character `{name[0]}`: the first character must be a letter or `_`"
    elif not _NAME.fullmatch(name):
        bad = next(c for c in name if not (c.isascii() and (c.isalnum() or c in "-_")))
        why = f"invalid character `{bad}`: only letters, digits, `-` and `_` are allowed"
    elif name in _KEYWORDS:
        why = "it is a Rust keyword"
    elif name in _RESERVED:
        why = "it conflicts with a built-in crate or cargo's target/ folder names"
    elif name.replace("-", "_") == "cargo_mlir":
        why = "it is the name of the support crate it depends on"
    if why:
        hint = ("the name comes from the directory; pass --name NAME to choose another"
                if from_dir else None)
        raise CargoMlirError(f"the name `{name}` cannot be used as a package name, {why}", hint=hint)


def render_starter(name: str, support: Path) -> dict[str, str]:
    """The starter crate's files by relative path. `*.in` files are templates
    (the suffix goes); others are copied as they are (Rust braces stay braces)."""
    root = resources.starter_dir()
    escaped = str(support).replace("\\", "\\\\").replace('"', '\\"')
    files = {}
    for src in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = src.relative_to(root).as_posix()
        text = src.read_text()
        if rel.endswith(".in"):
            rel = rel[:-3]
            text = text.replace("{name}", name).replace("{support_path}", escaped)
        files[rel] = text
    manifest = tomlkit.parse(files["Cargo.toml"]).unwrap()
    assert manifest["package"]["name"] == name and manifest["dependencies"][DEP]["path"] == str(support)
    return files


def new(shell: Shell, path: Path, name: str | None) -> int:
    path = path.resolve()
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise CargoMlirError(f"destination `{path}` already exists",
                             hint="use `cargo mlir init` in an existing crate")
    from_dir = name is None
    name = path.name if from_dir else name
    validate_name(name, from_dir=from_dir)
    files = render_starter(name, resources.support_crate_path())
    shell.status("Creating", f"binary (application) `{name}` package with an offload kernel")
    for rel, text in files.items():
        write_atomic(path / rel, text)
    shell.note(f"build and run it: `cd {path} && cargo mlir run --release`", verbose=False)
    return 0
