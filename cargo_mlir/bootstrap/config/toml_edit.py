"""Format-preserving edits of one TOML file, for `cargo mlir bootstrap config`.

tomlkit keeps comments, key order, blank lines and quoting. On top of it: errors with
`file:line:column`, dotted keys as tuples, a new key placed inside its table (after its last
key, or in a table that holds only comments, before the comment banner of the next one), a
first key of a section placed as a dotted key among that section's commented-out keys
(rust's current `bootstrap.example.toml` layout), inline tables re-rendered in the user's
spacing, and writes that are atomic and keep a `.bak` of the previous content.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path

import tomlkit
from tomlkit.exceptions import ParseError, TOMLKitError
from tomlkit.items import Comment, InlineTable, Item, String, StringType, Table, Whitespace

from cargo_mlir import fsutil
from cargo_mlir.errors import CargoMlirError

MISSING = object()
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
# a section banner: `# ====…` (rust's example files) or a rule of -, #, * or ~
_RULE = re.compile(r"^\s*#\s*([=#*~-])\1{9,}\s*$")
_HEADER = re.compile(r"^\s*\[")
# `#llvm.offload = false` / `llvm.offload = true`: group 1 is the comment mark, 2 the head
_DOTTED_LINE = re.compile(r"^\s*(#?)\s*([A-Za-z0-9_-]+)\.[A-Za-z0-9_.\"-]+\s*=")
_KEY_LINE = re.compile(r"^\s*#?\s*[A-Za-z0-9_\"-][A-Za-z0-9_.\"-]*\s*=")


def read(path: Path) -> tuple[str | None, tomlkit.TOMLDocument]:
    """The file's text (None when it does not exist) and its document."""
    try:
        with open(path, encoding="utf-8", newline="") as f:    # keep \r\n as it is
            text = f.read()
    except FileNotFoundError:
        return None, tomlkit.document()
    except PermissionError:
        raise CargoMlirError(f"cannot read {path}: permission denied") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CargoMlirError(f"cannot read {path}: {exc}") from None
    return text, parse(text, path)


def parse(text: str, path: Path) -> tomlkit.TOMLDocument:
    """Parse, or fail with `file:line:column` and the line. tomllib is asked first: it gives
    a position for every error (tomlkit gives none for a duplicate key)."""
    line = col = 0
    try:
        tomllib.loads(text)
        return tomlkit.parse(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\s*\(at line (\d+), column (\d+)\)", str(exc))
        message = str(exc).replace(m[0], "") if m else str(exc)
        line, col = (int(m[1]), int(m[2])) if m else (0, 0)
    except ParseError as exc:
        line, col = exc.line, exc.col + 1
        message = re.sub(r" at line \d+ col \d+$", "", str(exc))
    except TOMLKitError as exc:
        message = str(exc)
    lines = text.splitlines()
    where, excerpt = str(path), ""
    if 0 < line <= len(lines):
        where = f"{path}:{line}:{col}"
        gutter = " " * len(str(line))
        excerpt = f"\n {line} | {lines[line - 1]}\n {gutter} | {' ' * max(col - 1, 0)}^"
    raise CargoMlirError(f"{where}: invalid TOML: {message}{excerpt}",
                         hint=f"fix {path.name} by hand; it was not changed")


def parse_key(text: str) -> tuple[str, ...]:
    """A dotted key (`llvm.offload`, `target."a.b".cc`) into its parts."""
    try:
        node: object = tomllib.loads(f"{text} = 0")
    except tomllib.TOMLDecodeError:
        node = None
    parts: list[str] = []
    while isinstance(node, dict) and len(node) == 1:
        (name, node), = node.items()
        parts.append(name)
    if not parts or node != 0 or "\n" in text:
        raise CargoMlirError(f"`{text}` is not a TOML key",
                             hint='write dotted keys like llvm.offload; quote a part that '
                                  'contains dots: target."my.target".cc')
    return tuple(parts)


def dotted(parts: tuple[str, ...]) -> str:
    return ".".join(p if _BARE_KEY.match(p) else tomlkit.string(p).as_string() for p in parts)


def render(value: object) -> str:
    """A value as TOML text, tables inline (`{ A = "b" }`)."""
    if isinstance(value, Item):
        return value.as_string().strip()
    if isinstance(value, Mapping):
        body = ", ".join(f"{dotted((k,))} = {render(v)}" for k, v in value.items())
        return f"{{ {body} }}" if body else "{}"
    if isinstance(value, list):
        return "[" + ", ".join(render(v) for v in value) + "]"
    return tomlkit.item(value).as_string()


def value_item(text: str) -> object:
    """The TOML value `text` spells (an item keeping its formatting), or MISSING."""
    try:
        doc = tomlkit.parse(f"v = {text}\n")
    except TOMLKitError:
        return MISSING
    return doc.item("v") if list(doc) == ["v"] else MISSING


def dumps(doc: tomlkit.TOMLDocument, like: str | None) -> str:
    """The document as text, with the line endings of the file it came from (tomlkit
    writes the lines it adds with \n)."""
    text = tomlkit.dumps(doc)
    if like and "\r\n" in like and like.count("\r\n") == like.count("\n"):
        text = re.sub(r"(?<!\r)\n", "\r\n", text)
    return text


def lookup(node: object, parts: tuple[str, ...]) -> object:
    for part in parts:
        if not isinstance(node, Mapping) or part not in node:
            return MISSING
        node = node[part]
    return node


def type_name(value: object) -> str:
    """"missing", "empty" (an empty table) or "value": what flatten's leaves can be."""
    if value is MISSING:
        return "missing"
    return "empty" if isinstance(value, Mapping) and not value else "value"


def flatten(value: object, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], object]:
    """Leaf keys → values; an empty table is a leaf."""
    if isinstance(value, Mapping) and (value or not prefix):
        out: dict = {}
        for k, v in value.items():
            out.update(flatten(v, prefix + (k,)))
        return out
    return {prefix: value}


# ---------------------------------------------------------------- edits

def _item(value: object, old: object) -> Item:
    """value as an item, in the old string's quoting ('literal' stays literal)."""
    if isinstance(value, Item):
        item = value
    elif isinstance(value, Mapping):
        item = value_item(render(value))
    else:
        item = tomlkit.item(value)
    if (isinstance(item, String) and getattr(old, "type", None) == StringType.SLL
            and "'" not in item and "\n" not in item):
        item = tomlkit.string(str(item), literal=True)
    return item


def _nest(parts: tuple[str, ...], value: object) -> object:
    for part in reversed(parts):
        value = {part: value.unwrap() if isinstance(value, Item) else value}
    return value


def _inline_edit(table: InlineTable, parts: tuple[str, ...], value: object) -> Item:
    """The inline table with parts set (value MISSING: removed), re-rendered in its own
    spacing: tomlkit's in-place edit writes `{ A = "1", B = "2"}` (tomlkit 0.15.2)."""
    pairs = {k: render(table.value.item(k)) for k in table}
    head, rest = parts[0], parts[1:]
    child = table.value.item(head) if head in table else None
    if rest and isinstance(child, InlineTable):
        pairs[head] = render(_inline_edit(child, rest, value))
    elif value is MISSING:
        if not rest:
            pairs.pop(head, None)
    else:
        pairs[head] = render(_nest(rest, value) if rest else _item(value, child))
    old = table.as_string().strip()
    body = ", ".join(f"{dotted((k,))} = {v}" for k, v in pairs.items())
    spaced = old == "{}" or old.startswith("{ ")
    return value_item("{}" if not body else f"{{ {body} }}" if spaced else f"{{{body}}}")


def _closing_start(body: list) -> int:
    """Where the comments and blank lines that close a table without keys begin: the
    banner of the next section (a comment block with a `# ====` rule) and the blank lines
    before it, or the trailing blank lines."""
    end = len(body)
    start = end
    while start > 0 and body[start - 1][0] is None and isinstance(body[start - 1][1], Comment):
        start -= 1
    block = [v.as_string() for _, v in body[start:end]]
    if not any(_RULE.match(line) for line in block):
        start = end
    while start > 0 and body[start - 1][0] is None and isinstance(body[start - 1][1], Whitespace):
        start -= 1
    return start


def _put(container: Mapping, key: str, value: object) -> None:
    if key in container:
        get_item = getattr(container, "item", None)   # the item, not its python value
        container[key] = _item(value, get_item(key) if get_item else None)
        return
    item = _item(value, None)
    if isinstance(container, Table) and not container.is_super_table():
        # inside the table: after its last key, not after the comments and blank lines that
        # end it; in a table of comments only (rust's older example layout), before the
        # banner of the next section
        body = container.value.body
        keys = [i for i, (k, v) in enumerate(body) if k is not None and not isinstance(v, Table)]
        at = keys[-1] + 1 if keys else _closing_start(body)
        if 0 < at < len(body):
            # Container._insert_at is private: tomlkit (0.14 to 0.15.3) has no public
            # insert, and 0.15.3 dropped _insert_after. Without it the key would go
            # below the table's closing comments: the tests of this module say so.
            container.value._insert_at(at, key, item)
            return
    container[key] = item


def _section_end(lines: list[str], last: int, first_table: int, head: str) -> int:
    """The line after the last of a section's commented-out keys (`last`) and what belongs
    to it: up to the next banner, key of another section or table, less the blank lines
    and the help text of what comes next."""
    stop = last + 1
    while stop < first_table:
        m = _DOTTED_LINE.match(lines[stop])
        live_key = not lines[stop].lstrip().startswith("#") and _KEY_LINE.match(lines[stop])
        if _RULE.match(lines[stop]) or (m and m[2] != head) or (not m and live_key):
            break
        stop += 1
    while stop > last + 1 and (not lines[stop - 1].strip() or (
            lines[stop - 1].lstrip().startswith("#") and not _KEY_LINE.match(lines[stop - 1]))):
        stop -= 1
    return stop


def insert_dotted(text: str, parts: tuple[str, ...], value: object,
                  inline: Callable[[tuple[str, ...]], bool] = lambda parts: False) -> str | None:
    """The text with `section.key = value` added where the section's dotted keys are:
    after its last live one (`llvm.offload = true`), else after its commented-out ones
    (`#llvm.offload = false`, rust's current `bootstrap.example.toml`) before the next
    section's banner. None where the section is a `[table]` or the file has no such lines
    (then tomlkit places the key). tomlkit itself would put a key after the *first* of
    several dotted lines (it reads them as out-of-order tables, 0.15.2)."""
    lines = text.splitlines(keepends=True)
    head = parts[0]
    first_table = next((i for i, line in enumerate(lines) if _HEADER.match(line)), len(lines))
    if len(parts) < 2 or any(re.match(rf"^\s*\[\[?\s*{re.escape(head)}\s*[.\]]", line)
                             for line in lines):
        return None
    marks = [(i, m[1]) for i, line in enumerate(lines[:first_table])
             if (m := _DOTTED_LINE.match(line)) and m[2] == head]
    live = [i for i, mark in marks if not mark]
    if live:
        stop = live[-1] + 1
    elif marks:
        stop = _section_end(lines, marks[-1][0], first_table, head)
    else:
        return None
    key, rest = (parts[:2], parts[2:]) if len(parts) > 2 and inline(parts[:2]) else (parts, ())
    plain = value.unwrap() if isinstance(value, Item) else value
    rendered = render(_nest(rest, value) if rest else _item(value, None))
    if not lines[stop - 1].endswith("\n"):
        lines[stop - 1] += "\n"
    lines.insert(stop, f"{dotted(key)} = {rendered}\n")
    new = "".join(lines)
    try:   # proven, not assumed: the one key added, everything else as it was
        before, after = flatten(tomllib.loads(text)), flatten(tomllib.loads(new))
    except tomllib.TOMLDecodeError:
        return None
    if after.pop(parts, MISSING) != plain or after != before:
        return None
    return new


def set_path(doc: Mapping, parts: tuple[str, ...], value: object,
             inline: Callable[[tuple[str, ...]], bool] = lambda parts: False) -> None:
    """Set a dotted key, creating tables on the way; `inline(prefix)` says which missing
    tables to create inline (`build-config = { … }`) rather than as `[section]`s."""
    node: Mapping = doc
    for i, part in enumerate(parts[:-1]):
        here, rest = parts[: i + 1], parts[i + 1:]
        child = node[part] if part in node else MISSING
        if child is not MISSING and not isinstance(child, Mapping):
            raise CargoMlirError(f"{dotted(here)} is {render(child)}, not a table, so "
                                 f"{dotted(parts)} cannot be set",
                                 hint=f"unset {dotted(here)} first")
        if isinstance(child, InlineTable):
            node[part] = _inline_edit(child, rest, value)
            return
        if child is MISSING:
            if inline(here):
                _put(node, part, _nest(rest, value))
                return
            _put(node, part, tomlkit.table(is_super_table=len(rest) > 1 and not inline(
                here + rest[:1])))
            child = node[part]
        node = child
    _put(node, parts[-1], value)


def unset_path(doc: Mapping, parts: tuple[str, ...]) -> None:
    node: Mapping = doc
    for i, part in enumerate(parts[:-1]):
        child = node[part] if part in node else None
        if isinstance(child, InlineTable):
            node[part] = _inline_edit(child, parts[i + 1:], MISSING)
            return
        if not isinstance(child, Mapping):
            return
        node = child
    if parts[-1] in node:
        del node[parts[-1]]


# ---------------------------------------------------------------- output

def unified_diff(path: Path, old: str | None, new: str) -> str:
    a = (old or "").splitlines(keepends=True)
    b = new.splitlines(keepends=True)
    before = f"a/{path.name}" if old is not None else "/dev/null"
    lines = difflib.unified_diff(a, b, fromfile=before, tofile=f"b/{path.name}")
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                   for line in lines)


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + ".bak")


def write(path: Path, old: str | None, new: str) -> Path | None:
    """Keep the old content in `<file>.bak`, then replace the file; both atomically, so a
    failure at any point leaves the file as it was. Returns the backup's path."""
    try:
        tomllib.loads(new)
    except tomllib.TOMLDecodeError as exc:   # a bug in the edit: never write it
        raise CargoMlirError(f"internal error: the edited {path.name} would not parse ({exc}); "
                             "nothing was written") from None
    target = path.resolve() if path.is_symlink() else path     # replace the file, not the link
    try:
        if old is not None:
            fsutil.write_atomic(backup_path(target), old)
        fsutil.write_atomic(target, new)
        return backup_path(target) if old is not None else None
    except PermissionError as exc:
        raise CargoMlirError(
            f"cannot write {exc.filename or target}: permission denied",
            hint=f"{path.name} was not changed; make {target.parent} writable for you") from None
    except OSError as exc:
        raise CargoMlirError(f"cannot write {target}: {exc.strerror or exc}",
                             hint=f"{path.name} was not changed") from None
