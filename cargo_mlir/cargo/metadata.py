"""`cargo metadata`, and the environment of the two cargo passes."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from cargo_mlir.cargo import units
from cargo_mlir.fsutil import cache_home, read_json, write_atomic
from cargo_mlir.errors import CargoMlirError

@dataclass(frozen=True)
class Package:
    name: str
    manifest_path: Path
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Metadata:
    workspace_root: Path
    target_directory: Path
    packages: tuple[Package, ...]
    workspace_metadata: dict


def metadata(manifest_path: Path | None, cwd: Path | None = None) -> Metadata:
    from cargo_mlir.process import cmd
    c = cmd("cargo", "metadata", "--format-version", "1", "--no-deps")
    if manifest_path:
        c = c.arg("--manifest-path", manifest_path)
    if cwd:
        c = c.in_dir(cwd)
    result = c.run(check=False, hint=None)
    if result.returncode != 0:
        raise CargoMlirError(f"`cargo metadata` failed:\n{result.stderr.strip()}",
                             hint="run it in a crate directory, or pass --manifest-path path/to/Cargo.toml")
    data = json.loads(result.stdout)
    packages = tuple(
        Package(p["name"], Path(p["manifest_path"]), p.get("metadata") or {})
        for p in data["packages"])
    return Metadata(Path(data["workspace_root"]), Path(data["target_directory"]), packages,
                    data.get("metadata") or {})


def rustc_wrapper_env(wrapper: Path, recorder: Path, rustdoc: Path, state: Path, pass_no: int,
                      build_env: dict[str, str]) -> dict[str, str | None]:
    """`wrapper` runs for workspace members (RUSTC_WORKSPACE_WRAPPER), `recorder`
    for every crate (RUSTC_WRAPPER), `rustdoc` as rustdoc (doc tests link the
    kernel libraries too); the user's own wrappers, from the environment or
    cargo's configuration, run after them, and the user's RUSTDOC in its place."""
    env: dict[str, str | None] = {
        "RUSTC_WORKSPACE_WRAPPER": str(wrapper), "RUSTC_WRAPPER": str(recorder), "RUSTDOC": str(rustdoc),
        units.WRAPPER_ENV: "1", units.STATE_ENV: str(state), units.PASS_ENV: str(pass_no), **build_env,
    }
    user_rustdoc = os.environ.get("RUSTDOC")
    if user_rustdoc and user_rustdoc != str(rustdoc):
        env[units.CHAINED_RUSTDOC_ENV] = user_rustdoc
    for var, chain in (("RUSTC_WORKSPACE_WRAPPER", units.CHAIN_ENV), ("RUSTC_WRAPPER", units.OUTER_CHAIN_ENV)):
        existing = os.environ.get(var)
        if existing is None:
            existing = _configured_wrapper(var)
        if existing and existing not in (str(wrapper), str(recorder)):
            env[chain] = existing      # keep the user's own wrapper in the chain
    return env


def _configured_wrapper(var: str) -> str | None:
    """`build.rustc-wrapper` / `build.rustc-workspace-wrapper` of cargo's
    configuration files (the environment variable we set hides them): the
    nearest file that sets it, as cargo reads them; a relative path with a
    slash is relative to the directory that holds `.cargo/`."""
    key = "rustc-wrapper" if var == "RUSTC_WRAPPER" else "rustc-workspace-wrapper"
    cargo_home = Path(os.environ.get("CARGO_HOME") or Path.home() / ".cargo")
    for d in [*_ancestors(Path.cwd()), None]:
        names = [cargo_home / "config", cargo_home / "config.toml"] if d is None else \
            [d / ".cargo" / "config", d / ".cargo" / "config.toml"]
        for f in names:
            try:
                text = f.read_text()
                if key not in text:         # most configs: no TOML parser needed
                    continue
                import tomllib
                value = tomllib.loads(text).get("build", {}).get(key)
            except (OSError, ValueError, AttributeError):
                continue
            if isinstance(value, str) and value:
                return str(f.parent.parent / value) if "/" in value and not value.startswith("/") else value
    return None


# ---------------------------------------------------------------- cached facts
#
# What a build needs before pass 1 (`cargo metadata`, the package configs'
# hashes, rustc's and the tools' versions, cargo-mlir's source hash) costs
# subprocesses and heavy imports. It is kept per project directory, keyed by the
# environment that decides it and by the status (mtime, ctime, size, inode) of
# every file it was read from: manifests, Cargo.lock, cargo's config files,
# rustc (the binary cargo would run, and the toolchain's), rustup's settings
# and toolchain files, the toolchain record and its tools, files the configs
# name, and cargo-mlir's sources. A no-op build then stats those files and
# starts no subprocess before cargo; the record is rewritten only when it changed.

FACTS_SCHEMA = 2
_ENV_EXACT = ("PATH", "HOME", "XDG_CACHE_HOME", "RUSTC", "CARGO")
_ENV_PREFIXES = ("CARGO_", "RUSTUP_")
# read by the built program or cargo's output, not by what is cached
_ENV_IGNORED = ("CARGO_MAKEFLAGS", "CARGO_MLIR_DEVICE", "CARGO_MLIR_LOG", "CARGO_MLIR_HOST_THREADS",
                "CARGO_MLIR_JOBS", "CARGO_TERM_COLOR", "CARGO_TERM_VERBOSE", "CARGO_TERM_QUIET",
                "CARGO_TERM_PROGRESS_WHEN")
# a file changed this close to (or after) the facts were read may have changed while they were read
_RACY_NS = 50_000_000


class Facts:
    """What a build needs before pass 1; `cached`: read from the cache."""

    def __init__(self, workspace_root: Path, target_directory: Path, packages: tuple[Package, ...],
                 workspace_metadata: dict, config_hashes: dict[str, str], versions_key: str, source_hash: str,
                 *, cached: bool = False, configs: dict | None = None, toolchain=None,
                 precomputed: dict | None = None):
        self.workspace_root, self.target_directory = workspace_root, target_directory
        self.packages, self.workspace_metadata = packages, workspace_metadata
        self.config_hashes, self.versions_key, self.source_hash = config_hashes, versions_key, source_hash
        self.cached, self._configs, self._toolchain = cached, configs, toolchain
        # (path, status) of every file the facts were read from, when they are cached
        # (build/noop.py checks them again before it trusts its record)
        self.inputs: tuple[tuple[str, list[int] | None], ...] | None = None
        # hashes a build of the default arguments needs (hashlib's import alone costs ~10 ms)
        self._precomputed = precomputed if precomputed is not None else {
            "fingerprint": self._fingerprint(None, None), "made_by": self._made_by(),
            "opt": toolchain.tool("opt") if toolchain is not None and toolchain.has("opt") else ""}

    def metadata(self) -> Metadata:
        return Metadata(self.workspace_root, self.target_directory, self.packages, self.workspace_metadata)

    def configs(self) -> dict:
        """package name -> config.Config."""
        if self._configs is None:
            self._configs = _configs(self.metadata())
        return self._configs

    def toolchain(self, shell):
        """The resolved toolchain (record.Toolchain): resolved only when asked for."""
        if self._toolchain is None:
            from cargo_mlir.toolchain import record, tools
            self._toolchain = record.resolve(shell, rustc=tools.rustc_info(cwd=self.workspace_root))
        return self._toolchain

    def fingerprint(self, offload_arch: tuple[str, ...] | None, emit_ir: Path | None) -> str:
        """Everything besides the sources that decides the device code. Kernel crates
        read it through option_env!, so cargo rebuilds them when it changes and pass 1
        records their units again."""
        if offload_arch is None and emit_ir is None:
            return self._precomputed["fingerprint"]
        return self._fingerprint(offload_arch, emit_ir)

    def _fingerprint(self, offload_arch: tuple[str, ...] | None, emit_ir: Path | None) -> str:
        from cargo_mlir.fsutil import sha256_text
        parts = [f"{name}={h}" for name, h in sorted(self.config_hashes.items())]
        return sha256_text(*parts, ",".join(offload_arch or ("<config>",)), str(emit_ir or ""),
                           self.versions_key, self.source_hash)[:16]

    @property
    def opt(self) -> str:
        """The toolchain's opt, for the rustc wrapper (wrapper.optimise_marked); "" when unknown."""
        return self._precomputed.get("opt", "")

    @property
    def made_by(self) -> str:
        """Which cargo-mlir and tools make this project's kernel libraries (units.producer)."""
        return self._precomputed["made_by"]

    def _made_by(self) -> str:
        return units.producer(self.source_hash, self.versions_key)

    def to_json(self) -> dict:
        return {"workspace_root": str(self.workspace_root), "target_directory": str(self.target_directory),
                "packages": [[p.name, str(p.manifest_path), p.metadata] for p in self.packages],
                "workspace_metadata": self.workspace_metadata, "config_hashes": self.config_hashes,
                "versions_key": self.versions_key, "source_hash": self.source_hash,
                "precomputed": self._precomputed}

    @classmethod
    def from_json(cls, d: dict) -> "Facts":
        return cls(Path(d["workspace_root"]), Path(d["target_directory"]),
                   tuple(Package(n, Path(m), md) for n, m, md in d["packages"]), d["workspace_metadata"],
                   d["config_hashes"], d["versions_key"], d["source_hash"], cached=True,
                   precomputed=d["precomputed"])


def _configs(meta: Metadata) -> dict:
    from cargo_mlir import config
    return {p.name: config.from_metadata({"manifest_path": str(p.manifest_path), "metadata": p.metadata},
                                         meta.workspace_metadata, meta.workspace_root)
            for p in meta.packages}


def facts_path(cwd: Path, manifest_path: Path | None) -> Path:
    """One file per project directory and --manifest-path (both are checked
    inside: the name only spreads them)."""
    import zlib
    key = f"{cwd}\0{manifest_path or ''}".encode()
    return cache_home() / "projects" / f"{zlib.crc32(key):08x}{zlib.adler32(key):08x}.json"


def _env_key() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if (k in _ENV_EXACT or k.startswith(_ENV_PREFIXES)) and k not in _ENV_IGNORED}


def _stat(path: str) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino]


def _tool_dirs(major: int, tc) -> list[str]:
    """Where an optional tool the record lacks would be found (a newly installed
    ptxas makes the record stale, see toolchain.record._check_overrides): the
    directories tools.candidates searches, whose mtimes change when one appears."""
    from cargo_mlir.toolchain import tools
    if all(s.required or s.key in tc.tools or os.environ.get(s.env_var) for s in tools.TOOLS):
        return []
    return [d for d in os.environ.get("PATH", "").split(os.pathsep) if d] + \
        [*tools.CUDA_DIRS, *(str(Path(d).parent) for d in tools.CUDA_DIRS), f"/usr/lib/llvm-{major}/bin"]


def _fresh(cached: dict, cwd: Path, manifest_path: Path | None) -> bool:
    try:
        if (cached.get("schema") != FACTS_SCHEMA or cached.get("cwd") != str(cwd)
                or cached.get("manifest_path") != str(manifest_path or "") or cached.get("env") != _env_key()):
            return False
        return all(_stat(p) == s for p, s in zip(cached["files"], cached["stats"], strict=True))
    except (KeyError, TypeError, ValueError):
        return False


def _ancestors(d: Path) -> list[Path]:
    return [d, *d.parents]


def _input_files(meta: Metadata, cwd: Path, configs: dict, tc, sysroot: str) -> list[str]:
    import shutil
    files: list[Path | str] = [meta.workspace_root / "Cargo.toml", meta.workspace_root / "Cargo.lock",
                               meta.workspace_root]
    for p in meta.packages:
        files.append(p.manifest_path)
        if p.manifest_path.parent != meta.workspace_root:
            files.append(p.manifest_path.parent.parent)      # `members = ["crates/*"]` gains a crate
    cargo_home = Path(os.environ.get("CARGO_HOME") or Path.home() / ".cargo")
    for d in [*_ancestors(cwd), cargo_home]:
        files += [d / ".cargo" / "config", d / ".cargo" / "config.toml"] if d != cargo_home else \
                 [d / "config", d / "config.toml"]
    # the rustc cargo runs (a rustup proxy picks the toolchain from these), and the toolchain's own
    rustup_home = Path(os.environ.get("RUSTUP_HOME") or Path.home() / ".rustup")
    files += [rustup_home / "settings.toml"]
    for d in _ancestors(meta.workspace_root):
        files += [d / "rust-toolchain", d / "rust-toolchain.toml"]
    rustc = os.environ.get("RUSTC", "rustc")
    files += [shutil.which(rustc) or rustc, Path(sysroot), Path(sysroot) / "bin" / "rustc", Path(sysroot) / "lib"]
    from cargo_mlir.toolchain import record
    files.append(record.record_path())
    files += [f.path for f in (*tc.tools.values(), *tc.libraries.values())]
    files += _paths_in(configs)
    files += _tool_dirs(tc.rustc.llvm_major, tc)
    root = Path(__file__).resolve().parent.parent          # cargo-mlir's sources (source_hash)
    for d, dirs, names in os.walk(root):
        dirs[:] = sorted(x for x in dirs if x != "__pycache__")
        files.append(d)
        files += [os.path.join(d, n) for n in sorted(names) if n.endswith(".py")]
    return list(dict.fromkeys(str(f) for f in files))


def _paths_in(obj, seen: set | None = None) -> list[Path]:
    """Every Path in a config (transform scripts): their text is part of the config's hash."""
    import dataclasses
    if isinstance(obj, Path):
        return [obj]
    if isinstance(obj, dict):
        return [p for v in obj.values() for p in _paths_in(v)]
    if isinstance(obj, (list, tuple)):
        return [p for v in obj for p in _paths_in(v)]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return [p for f in dataclasses.fields(obj) for p in _paths_in(getattr(obj, f.name))]
    return []


def project_facts(manifest_path: Path | None, shell, cwd: Path | None = None) -> Facts:
    """The facts of the project at `cwd` (or `manifest_path`): cached when every
    input is unchanged, else read again (and the cache rewritten)."""
    import time

    cwd = (cwd or Path.cwd()).resolve()
    path = facts_path(cwd, manifest_path)
    cached = read_json(path)
    if _fresh(cached, cwd, manifest_path):
        facts = Facts.from_json(cached["facts"])
        facts.inputs = tuple(zip(cached["files"], cached["stats"]))
        return facts
    started = time.time_ns()
    meta = metadata(manifest_path, cwd)
    configs = _configs(meta)
    from cargo_mlir.pipeline.runner import source_hash
    from cargo_mlir.toolchain import record, tools
    rustc = tools.rustc_info(cwd=meta.workspace_root)
    tc = record.resolve(shell, rustc=rustc)
    from cargo_mlir.process import cmd
    sysroot = cmd(os.environ.get("RUSTC", "rustc"), "--print", "sysroot").in_dir(meta.workspace_root).read(
        what="reading rustc's sysroot")
    facts = Facts(meta.workspace_root, meta.target_directory, meta.packages, meta.workspace_metadata,
                  {name: cfg.hash() for name, cfg in configs.items()}, tc.versions_key(), source_hash(),
                  configs=configs, toolchain=tc)
    files = _input_files(meta, cwd, configs, tc, sysroot)
    stats = [_stat(f) for f in files]
    data = {"schema": FACTS_SCHEMA, "cwd": str(cwd), "manifest_path": str(manifest_path or ""), "env": _env_key(),
            "files": files, "stats": stats, "facts": facts.to_json()}
    racy = any(s and max(s[0], s[1]) >= started - _RACY_NS for s in stats)
    if racy:
        return facts
    if data != cached:
        try:
            write_atomic(path, json.dumps(data))
        except OSError:
            return facts    # an unwritable cache directory: every build reads the facts again
    facts.inputs = tuple(zip(files, stats))
    return facts
