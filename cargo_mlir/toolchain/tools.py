"""The one place that knows tool names and versions.

Detection is data: `TOOLS` maps each tool to its override variable and the
names it goes by. Probes run `--version`; parsers are pure functions tested on
captured output. Every failure is collected and reported together.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from cargo_mlir.errors import CargoMlirError, ToolError
from cargo_mlir.process import cmd


@dataclass(frozen=True)
class ToolSpec:
    key: str                 # how the pipeline refers to it
    name: str                # the upstream binary name
    required: bool = True
    llvm: bool = True        # must match rustc's LLVM major
    purpose: str = ""

    @property
    def env_var(self) -> str:
        return "CARGO_MLIR_" + re.sub(r"[^A-Z0-9]", "_", self.key.upper())


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec("mlir-opt", "mlir-opt", purpose="MLIR pass pipelines"),
    ToolSpec("mlir-translate", "mlir-translate", purpose="LLVM IR <-> MLIR"),
    ToolSpec("opt", "opt", purpose="LLVM optimisation"),
    ToolSpec("llc", "llc", purpose="code generation"),
    ToolSpec("llvm-extract", "llvm-extract", purpose="kernel extraction"),
    ToolSpec("llvm-link", "llvm-link", purpose="IR linking"),
    ToolSpec("llvm-dis", "llvm-dis", purpose="bitcode to text"),
    ToolSpec("llvm-ar", "llvm-ar", purpose="kernel libraries"),
    ToolSpec("llvm-cxxfilt", "llvm-cxxfilt", purpose="symbol names in diagnostics"),
    ToolSpec("llvm-nm", "llvm-nm", purpose="functions of dependency crates that kernels call"),
    ToolSpec("llvm-objdump", "llvm-objdump", purpose="inspecting offload images"),
    ToolSpec("llvm-readelf", "llvm-readelf", purpose="inspecting device objects"),
    ToolSpec("ld.lld", "ld.lld", purpose="linking AMDGPU code objects"),
    ToolSpec("clang", "clang", purpose="C/C++ offload (std::offload workflows)"),
    ToolSpec("llvm-offload-binary", "llvm-offload-binary", purpose="packaging device images"),
    ToolSpec("llvm-offload-wrapper", "llvm-offload-wrapper", purpose="libomptarget registration"),
    ToolSpec("ptxas", "ptxas", required=False, llvm=False, purpose="NVIDIA cubin (PTX only without it)"),
)

# What `cargo mlir build` itself runs; doctor also checks the rest of the toolchain
# (inspection tools, clang, the offload runtime) that the workflows use.
PIPELINE_TOOLS = frozenset({"mlir-opt", "mlir-translate", "opt", "llc", "llvm-extract", "llvm-ar", "llvm-cxxfilt",
                            "llvm-link", "llvm-nm", "ld.lld", "llvm-offload-binary"})

LIBRARIES: tuple[tuple[str, str], ...] = (
    ("libomptarget", "libomptarget.so"),
    ("libLLVMOffload", "libLLVMOffload.so"),
)

PYTHON_MODULES: tuple[tuple[str, str, str], ...] = (
    # (display name, import name, pip requirement)
    ("MLIR Python bindings", "mlir.ir", "xtc-mlir-python-bindings==22.1.8.4"),
    ("llvmlite", "llvmlite.binding", "llvmlite==0.50.0"),
)


@dataclass(frozen=True)
class DeviceLibrarySpec:
    """A vendor's bitcode math library that GPU code links (pipeline/stages/gpu_math.py)."""
    key: str
    file: str                # the file that marks it
    env_var: str             # an override: the file's directory
    purpose: str
    fix: str


DEVICE_LIBRARIES: tuple[DeviceLibrarySpec, ...] = (
    DeviceLibrarySpec("libdevice", "libdevice.10.bc", "CARGO_MLIR_LIBDEVICE_DIR",
                      "CUDA's libdevice (float math on NVIDIA GPUs)",
                      "install the CUDA toolkit that provides ptxas (its nvvm/libdevice), or set "
                      "CARGO_MLIR_LIBDEVICE_DIR to the directory holding libdevice.10.bc"),
    DeviceLibrarySpec("rocm-device-libs", "ocml.bc", "CARGO_MLIR_ROCM_DEVICE_LIBS",
                      "ROCm's device libraries (OCML: float math on AMD GPUs)",
                      "cargo mlir bootstrap install   (Debian's rocm-device-libs), or install ROCm, or set "
                      "CARGO_MLIR_ROCM_DEVICE_LIBS to the directory holding ocml.bc"),
)

# Debian's packages for them (optional: a failed install is a warning)
DEBIAN_DEVICE_PACKAGES = ("rocm-device-libs",)

DEBIAN_PACKAGES = ("llvm-{v}", "mlir-{v}-tools", "lld-{v}", "clang-{v}", "liboffload-{v}", "libomp-{v}-dev")
CUDA_DIRS = ("/usr/local/cuda/bin",)


# ---------------------------------------------------------------- parsers

@dataclass(frozen=True)
class RustcInfo:
    release: str
    host: str
    llvm_version: str
    commit_hash: str = ""

    @property
    def llvm_major(self) -> int:
        return int(self.llvm_version.split(".")[0])


def parse_rustc_vv(text: str) -> RustcInfo:
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    try:
        return RustcInfo(release=fields["release"], host=fields["host"],
                         llvm_version=fields["LLVM version"], commit_hash=fields.get("commit-hash", ""))
    except KeyError as missing:
        raise CargoMlirError(f"could not read {missing} from `rustc -vV` output:\n{text.strip()}") from None


_VERSION_PATTERNS = (
    re.compile(r"LLVM version (\d+\.\d+(?:\.\d+)?)"),
    re.compile(r"clang version (\d+\.\d+(?:\.\d+)?)"),
    re.compile(r"LLD (\d+\.\d+(?:\.\d+)?)"),
    re.compile(r"release \d+\.\d+, V(\d+\.\d+(?:\.\d+)?)"),     # ptxas
)


def parse_tool_version(text: str) -> str | None:
    for pattern in _VERSION_PATTERNS:
        if m := pattern.search(text):
            return m.group(1)
    return None


def major_of(version: str) -> int:
    return int(version.split(".")[0])


# ---------------------------------------------------------------- probes

@dataclass(frozen=True)
class Found:
    key: str
    path: str
    version: str


@dataclass(frozen=True)
class Problem:
    key: str
    message: str
    fix: str
    required: bool = True


def rustc_info(rustc: str | None = None, cwd: Path | None = None) -> RustcInfo:
    """`rustc -vV` where cargo would run it (`cwd`: rustup honours rust-toolchain.toml there)."""
    rustc = rustc or os.environ.get("RUSTC", "rustc")
    c = cmd(rustc, "-vV")
    out = (c.in_dir(cwd) if cwd else c).read(what="reading rustc's version",
                                 hint="install Rust with rustup (https://rustup.rs) or set RUSTC")
    return parse_rustc_vv(out)


def probe_version(path: str) -> str:
    result = cmd(path, "--version").run(check=False, hint=None)
    version = parse_tool_version(result.stdout + "\n" + result.stderr)
    if version is None:
        raise ToolError(f"{path} --version", returncode=result.returncode,
                        output=result.stdout + result.stderr, what="unrecognised version output")
    return version


def candidates(spec: ToolSpec, major: int, prefix: str | None = None) -> list[str]:
    """Where to look, in order: the bin dir of a prefix `bootstrap build`
    installed (the user built it to be used); each PATH directory offers `name-N`
    before `name`, so a tool placed first on PATH wins; then LLVM's own bin dir."""
    found: list[str] = []
    dirs = [os.path.join(prefix, "bin")] if prefix and spec.llvm else []
    dirs += [d for d in os.environ.get("PATH", "").split(os.pathsep) if d]
    if not spec.llvm:
        dirs += list(CUDA_DIRS)
    else:
        dirs.append(f"/usr/lib/llvm-{major}/bin")
    for d in dirs:
        for name in (f"{spec.name}-{major}", spec.name):
            p = os.path.join(d, name)
            if os.path.isfile(p) and os.access(p, os.X_OK) and p not in found:
                found.append(p)
    return found


def find_tool(spec: ToolSpec, major: int, prefix: str | None = None) -> Found | Problem:
    override = os.environ.get(spec.env_var)
    paths = [override] if override else candidates(spec, major, prefix)
    if not paths:
        return Problem(spec.key, "not found", fix=install_hint(major, spec), required=spec.required)
    path = paths[0]
    try:
        version = probe_version(path)
    except ToolError as exc:
        return Problem(spec.key, f"{path}: {exc.message.splitlines()[0]}", fix=install_hint(major, spec),
                       required=spec.required)
    if spec.llvm and major_of(version) != major:
        better = [p for p in paths[1:] if _version_or_none(p, major)]
        where = f"; a matching one is at {better[0]}: put it first on PATH or set {spec.env_var}" if better else ""
        return Problem(spec.key, f"{path} is LLVM {version}, but rustc uses LLVM {major}{where}",
                       fix=f"set {spec.env_var}=/path/to/{spec.name} of LLVM {major}, or "
                           + install_hint(major, spec), required=spec.required)
    return Found(spec.key, path, version)


def _version_or_none(path: str, major: int) -> bool:
    try:
        return major_of(probe_version(path)) == major
    except ToolError:
        return False


def find_library(key: str, soname: str, major: int, prefix: str | None = None) -> Found | Problem:
    # a built prefix keeps the offload runtime in lib/<triple>/ (per-target runtime dir)
    built = [str(d) for d in (Path(prefix) / "lib", *sorted(Path(prefix).glob("lib/*-*-*"))) if d.is_dir()] \
        if prefix else []
    for d in (*built, f"/usr/lib/llvm-{major}/lib", "/usr/lib/x86_64-linux-gnu", "/usr/local/lib"):
        for p in sorted(Path(d).glob(f"{soname}.{major}*")) if Path(d).is_dir() else []:
            return Found(key, str(p), p.name.split(".so.", 1)[1])
    return Problem(key, "not found", fix=install_hint(major), required=True)


# The oldest Linux driver that loads a cubin from each CUDA release's ptxas
# (CUDA's release notes, "minor version compatibility"), and the one that JITs
# the PTX LLVM 22 writes (PTX ISA 7.8, CUDA 11.8).
CUDA_MIN_DRIVER = ((13, 580), (12, 525), (11, 450))
PTX_MIN_DRIVER = 520


def min_driver(ptxas_version: str) -> int | None:
    """The oldest NVIDIA driver that loads cubins made by this ptxas (None: unknown release)."""
    major = major_of(ptxas_version)
    return next((driver for release, driver in CUDA_MIN_DRIVER if release == major), None)


def device_library_spec(key: str) -> DeviceLibrarySpec:
    return next(s for s in DEVICE_LIBRARIES if s.key == key)


def device_library_dirs(spec: DeviceLibrarySpec, major: int, ptxas: str | None = None) -> list[Path]:
    """Where to look for a device library, in order: the override, the
    vendor's own install (next to the ptxas in use; $ROCM_PATH, /opt/rocm),
    then the distribution's packages."""
    env = os.environ
    if env.get(spec.env_var):
        return [Path(env[spec.env_var])]
    if spec.key == "libdevice":
        roots = [Path(ptxas).resolve().parent.parent] if ptxas else []
        roots += [Path(env[v]) for v in ("CUDA_PATH", "CUDA_HOME") if env.get(v)]
        roots += [Path(d).parent for d in CUDA_DIRS]
        return [r / "nvvm" / "libdevice" for r in roots] + [Path("/usr/lib/nvidia-cuda-toolkit/libdevice")]
    roots = [Path(env["ROCM_PATH"])] if env.get("ROCM_PATH") else []
    roots.append(Path("/opt/rocm"))
    return ([r / "amdgcn" / "bitcode" for r in roots]
            + [Path("/usr/lib/x86_64-linux-gnu/amdgcn/bitcode"),
               Path(f"/usr/lib/llvm-{major}/lib/clang/{major}/lib/amdgcn/bitcode")])


def find_device_library(spec: DeviceLibrarySpec, major: int, ptxas: str | None = None) -> Found | Problem:
    """The library's marker file; its version is a digest of it (it carries
    none of its own), so the cache keys follow a change of library."""
    import hashlib
    dirs = device_library_dirs(spec, major, ptxas)
    for d in dirs:
        f = d / spec.file
        if f.is_file():
            return Found(spec.key, str(f), hashlib.sha256(f.read_bytes()).hexdigest()[:10])
    where = f"{spec.env_var}={dirs[0]}" if os.environ.get(spec.env_var) else ", ".join(str(d) for d in dirs)
    return Problem(spec.key, f"not found (looked in {where})", fix=spec.fix, required=False)


def find_python_module(name: str, module: str, requirement: str) -> Found | Problem:
    import importlib
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        return Problem(name, f"cannot import {module} ({exc})", fix=f"pip install '{requirement}'",
                       required=False)
    top = importlib.import_module(module.split(".")[0])
    version = getattr(top, "__version__", None) or requirement.split("==")[-1]
    return Found(name, str(Path(mod.__file__).parent), version)


def install_hint(major: int, spec: ToolSpec | None = None) -> str:
    if spec is not None and not spec.llvm:
        return "install the CUDA toolkit (ptxas) to make cubins; without it NVIDIA targets get PTX"
    return f"cargo mlir bootstrap install   (or: apt-get install {' '.join(debian_packages(major))})"


def debian_packages(major: int) -> list[str]:
    return [p.format(v=major) for p in DEBIAN_PACKAGES]

