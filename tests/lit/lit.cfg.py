"""lit configuration for cargo-mlir's IR-level tests: each test is a small
.mlir/.ll file whose RUN lines feed one pipeline stage (`%stage`, the real
stage functions and the recorded toolchain) or an MLIR tool into filecheck."""

import os
import shutil
import sys
from pathlib import Path

import lit.formats

config.name = "cargo-mlir"
# ShTest() runs RUN lines with lit's own shell; lit 23 rejects ShTest(True)
config.test_format = lit.formats.ShTest()
config.suffixes = [".mlir", ".ll"]
config.test_source_root = os.path.dirname(__file__)

# the Python that runs lit is the one with cargo_mlir installed (the venv)
python = Path(sys.executable)
bin_dir = python.parent
LLVM_MAJOR = 22     # the LLVM rustc 1.95 uses; Debian names its tools <tool>-22


def llvm_tool(name):
    """Debian's versioned tool first, like tools.candidates() does."""
    return shutil.which(f"{name}-{LLVM_MAJOR}") or shutil.which(name) or name


# Substitutions are regular expressions. The look-arounds keep `filecheck`
# from matching inside paths (e.g. `.venv/bin/filecheck` once substituted).
config.substitutions += [
    ("%stage", f"{python} -m cargo_mlir.pipeline.tool"),
    ("%raise", f"{python} -m cargo_mlir.pipeline.stages.raise_"),
    ("%mlir-opt", llvm_tool("mlir-opt")),
    ("%mlir-translate", llvm_tool("mlir-translate")),
    ("%opt", llvm_tool("opt")),
    ("%llvm-nm", llvm_tool("llvm-nm")),
    (r"(?<![\w/.-])filecheck(?![\w.-])", str(bin_dir / "filecheck")),
]

# Tests that need real hardware or vendor tools declare it (`REQUIRES: gpu`)
# and show up as UNSUPPORTED elsewhere instead of silently passing.
if os.path.exists("/dev/nvidia0"):
    config.available_features.add("gpu")
ptxas = shutil.which("ptxas")
if ptxas:
    config.available_features.add("ptxas")
    # MLIR's NVPTX serialisation runs <toolkit>/bin/ptxas
    config.substitutions.append(("%cuda-toolkit", str(Path(ptxas).parent.parent)))

# The stages read the toolchain record; keep the user's choice of record and
# cache directory, and what the tools need to start.
for var in ("CARGO_MLIR_TOOLCHAIN_FILE", "XDG_CACHE_HOME", "HOME", "RUSTC", "CARGO_HOME", "RUSTUP_HOME"):
    if var in os.environ:
        config.environment[var] = os.environ[var]
config.environment["PATH"] = os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")])
