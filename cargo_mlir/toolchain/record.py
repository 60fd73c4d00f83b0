"""The resolved toolchain, recorded once in one TOML file so every later
command uses the same tools. A stale or corrupt record is reported and
resolved again, never trusted silently."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import tomlkit

from cargo_mlir.toolchain import tools
from cargo_mlir.errors import CargoMlirError
from cargo_mlir.fsutil import cache_home, write_atomic
from cargo_mlir.term import Shell

RECORD_SCHEMA = 1


def record_path() -> Path:
    return Path(os.environ.get("CARGO_MLIR_TOOLCHAIN_FILE") or cache_home() / "toolchain.toml")


@dataclass(frozen=True)
class Probe:
    """Everything doctor and the record know: found items and problems."""
    rustc: tools.RustcInfo
    found: dict[str, tools.Found]
    problems: tuple[tools.Problem, ...]
    prefix: str | None = None       # a prefix `bootstrap build` installed, searched first
    source: str = "system"

    @property
    def ok(self) -> bool:
        return not any(p.required for p in self.problems)


@dataclass(frozen=True)
class Toolchain:
    rustc: tools.RustcInfo
    tools: dict[str, tools.Found]
    source: str = "system"
    libraries: dict[str, tools.Found] = field(default_factory=dict)
    prefix: str | None = None       # set by `bootstrap build`: later probes look there first

    def tool(self, key: str) -> str:
        try:
            return self.tools[key].path
        except KeyError:
            raise CargoMlirError(f"the toolchain has no `{key}`",
                                 hint="run `cargo mlir doctor` to see what is missing") from None

    def has(self, key: str) -> bool:
        return key in self.tools

    def library(self, key: str) -> str | None:
        """The path of a recorded library (a device library's marker file), None when absent."""
        found = self.libraries.get(key)
        return found.path if found else None

    def versions_key(self) -> str:
        """Covers every tool and library version: part of each cache key."""
        items = sorted((k, f.version) for k, f in (*self.tools.items(), *self.libraries.items()))
        return f"rustc={self.rustc.release};llvm={self.rustc.llvm_version};" + ";".join(f"{k}={v}" for k, v in items)


def recorded_prefix(path: Path | None = None) -> tuple[str, str] | None:
    """(prefix, source) of the record, when `bootstrap build` made it and the
    prefix is still there: doctor and every re-resolution keep using that MLIR."""
    try:
        doc = tomlkit.parse((path or record_path()).read_text()).unwrap()
        prefix, source = str(doc["prefix"]), str(doc["source"])
    except Exception:   # no record, a corrupt one, or one without a prefix
        return None
    return (prefix, source) if Path(prefix, "bin").is_dir() else None


def probe(rustc: tools.RustcInfo | None = None, *, built: bool = True) -> Probe:
    """Every tool, library and module; `built=False` ignores a built prefix
    (`bootstrap install` records the distribution's packages)."""
    rustc = rustc or tools.rustc_info()
    major = rustc.llvm_major
    prefix, source = (recorded_prefix() if built else None) or (None, "system")
    found: dict[str, tools.Found] = {}
    problems: list[tools.Problem] = []
    results = [tools.find_tool(spec, major, prefix) for spec in tools.TOOLS]
    results += [tools.find_library(key, so, major, prefix) for key, so in tools.LIBRARIES]
    ptxas = next((r.path for r in results if isinstance(r, tools.Found) and r.key == "ptxas"), None)
    results += [tools.find_device_library(spec, major, ptxas) for spec in tools.DEVICE_LIBRARIES]
    results += [tools.find_python_module(*m) for m in tools.PYTHON_MODULES]
    for r in results:
        if isinstance(r, tools.Found):
            found[r.key] = r
        else:
            problems.append(r)
    return Probe(rustc, found, tuple(problems), prefix, source)


def from_probe(p: Probe, source: str | None = None) -> Toolchain:
    tool_keys = {s.key for s in tools.TOOLS}
    lib_keys = {k for k, _ in tools.LIBRARIES} | {s.key for s in tools.DEVICE_LIBRARIES}
    return Toolchain(p.rustc, {k: f for k, f in p.found.items() if k in tool_keys}, source or p.source,
                     {k: f for k, f in p.found.items() if k in lib_keys}, p.prefix)


def save(tc: Toolchain, path: Path | None = None) -> Path:
    path = path or record_path()
    doc = tomlkit.document()
    doc.add(tomlkit.comment("written by cargo-mlir: the resolved toolchain; delete to resolve again"))
    doc["schema"] = RECORD_SCHEMA
    doc["source"] = tc.source
    if tc.prefix:
        doc["prefix"] = tc.prefix
    doc["overrides"] = _overrides()
    doc["rustc"] = {"release": tc.rustc.release, "host": tc.rustc.host,
                    "llvm-version": tc.rustc.llvm_version, "commit-hash": tc.rustc.commit_hash}
    for section, items in (("tools", tc.tools), ("libraries", tc.libraries)):
        table = tomlkit.table()
        for key, f in sorted(items.items()):
            st = os.stat(f.path)
            table[key] = {"path": f.path, "version": f.version, "size": st.st_size, "mtime": int(st.st_mtime)}
        doc[section] = table
    write_atomic(path, tomlkit.dumps(doc))
    return path


class StaleRecord(Exception):
    pass


def load(path: Path, rustc: tools.RustcInfo) -> Toolchain:
    """Read and validate a record; raise StaleRecord saying why it cannot be used."""
    try:
        doc = tomlkit.parse(path.read_text()).unwrap()
    except Exception as exc:  # tomlkit raises several types; all mean "corrupt"
        raise StaleRecord(f"it is corrupt ({exc})") from None
    try:
        if doc["schema"] != RECORD_SCHEMA:
            raise StaleRecord(f"it has schema {doc['schema']}, this cargo-mlir writes {RECORD_SCHEMA}")
        r = doc["rustc"]
        if (r["release"], r["llvm-version"]) != (rustc.release, rustc.llvm_version):
            raise StaleRecord(f"it was made for rustc {r['release']} (LLVM {r['llvm-version']}), "
                              f"rustc is now {rustc.release} (LLVM {rustc.llvm_version})")
        sections = {}
        for section in ("tools", "libraries"):
            sections[section] = {}
            for key, entry in doc[section].items():
                p = Path(entry["path"])
                if not p.exists():
                    raise StaleRecord(f"{key} at {p} no longer exists")
                st = p.stat()
                if (st.st_size, int(st.st_mtime)) != (entry["size"], entry["mtime"]):
                    raise StaleRecord(f"{key} at {p} has changed since it was recorded")
                sections[section][key] = tools.Found(key, str(p), str(entry["version"]))
        missing = sorted(tools.PIPELINE_TOOLS - set(sections["tools"]))
        if missing:
            raise StaleRecord(f"it lacks {', '.join(missing)}")
        _check_overrides(doc.get("overrides", {}), sections["tools"], rustc.llvm_major, sections["libraries"])
        return Toolchain(rustc, sections["tools"], str(doc["source"]), sections["libraries"],
                         doc.get("prefix"))
    except (KeyError, TypeError, AttributeError) as exc:
        raise StaleRecord(f"it is corrupt (missing or malformed {exc})") from None


def _overrides() -> dict[str, str]:
    return {s.env_var: os.environ[s.env_var] for s in (*tools.TOOLS, *tools.DEVICE_LIBRARIES)
            if os.environ.get(s.env_var)}


def _check_overrides(recorded: dict, found: dict[str, tools.Found], major: int,
                     libraries: dict[str, tools.Found]) -> None:
    """A record made under other CARGO_MLIR_<TOOL> settings, or before an
    optional tool (ptxas) was installed, is re-resolved."""
    if dict(recorded) != _overrides():
        raise StaleRecord("the CARGO_MLIR_<TOOL> overrides differ from when it was recorded "
                          f"({dict(recorded) or 'none'} then, {_overrides() or 'none'} now)")
    for spec in tools.TOOLS:
        if spec.key not in found and not spec.required and spec.env_var not in recorded:
            if (paths := tools.candidates(spec, major)):
                raise StaleRecord(f"{spec.key} is now available ({paths[0]})")
    for lib in tools.DEVICE_LIBRARIES:
        if lib.key not in libraries:
            ptxas = found["ptxas"].path if "ptxas" in found else None
            if isinstance(got := tools.find_device_library(lib, major, ptxas), tools.Found):
                raise StaleRecord(f"{lib.key} is now available ({got.path})")


def resolve(shell: Shell, *, rustc: tools.RustcInfo | None = None) -> Toolchain:
    """The toolchain every command uses: the record if valid, else probe and record."""
    rustc = rustc or tools.rustc_info()
    path = record_path()
    if path.exists():
        try:
            return load(path, rustc)
        except StaleRecord as why:
            shell.warn(f"toolchain record {path} cannot be used: {why}; resolving the toolchain again")
    p = probe(rustc)
    needed = [x for x in p.problems if x.key in tools.PIPELINE_TOOLS]
    if needed:
        lines = "\n".join(f"  {x.key}: {x.message}\n      fix: {x.fix}" for x in needed)
        raise CargoMlirError(f"the toolchain is incomplete:\n{lines}",
                             hint="run `cargo mlir bootstrap install`, then `cargo mlir doctor`")
    tc = from_probe(p)
    save(tc, path)
    shell.status("Recorded", f"toolchain in {path}", verbose=True)
    return tc
