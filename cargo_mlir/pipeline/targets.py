"""Targets: the host (always built) and the offload architectures."""

from __future__ import annotations

import re
from dataclasses import dataclass

from cargo_mlir.errors import CargoMlirError


@dataclass(frozen=True)
class Target:
    name: str        # "host", "gfx90a", "sm_90"
    kind: str        # "host", "amdgpu", "nvptx"

    @property
    def triple(self) -> str:
        return {"host": "x86_64-unknown-linux-gnu", "amdgpu": "amdgcn-amd-amdhsa",
                "nvptx": "nvptx64-nvidia-cuda"}[self.kind]


HOST = Target("host", "host")

# The offload architectures LLVM 22 knows (llc -mtriple=… -mcpu=help).
AMDGPU_ARCHES = (
    "gfx600 gfx601 gfx602 gfx700 gfx701 gfx702 gfx703 gfx704 gfx705 gfx801 gfx802 gfx803 gfx805 gfx810 "
    "gfx900 gfx902 gfx904 gfx906 gfx908 gfx909 gfx90a gfx90c gfx942 gfx950 gfx1010 gfx1011 gfx1012 gfx1013 "
    "gfx1030 gfx1031 gfx1032 gfx1033 gfx1034 gfx1035 gfx1036 gfx1100 gfx1101 gfx1102 gfx1103 gfx1150 "
    "gfx1151 gfx1152 gfx1153 gfx1200 gfx1201 gfx1250 gfx1251"
).split()
NVPTX_ARCHES = (
    "sm_50 sm_52 sm_53 sm_60 sm_61 sm_62 sm_70 sm_72 sm_75 sm_80 sm_86 sm_87 sm_88 sm_89 sm_90 sm_90a "
    "sm_100 sm_100a sm_101 sm_101a sm_103 sm_103a sm_110 sm_110a sm_120 sm_120a sm_121 sm_121a"
).split()


def parse_target(name: str) -> Target:
    name = name.strip()
    if name in ("host", "x86_64", "cpu"):
        return HOST
    if name in AMDGPU_ARCHES:
        return Target(name, "amdgpu")
    if name in NVPTX_ARCHES:
        return Target(name, "nvptx")
    kind = "AMD" if re.match(r"gfx", name) else "NVIDIA" if re.match(r"sm_", name) else None
    valid = NVPTX_ARCHES if kind == "NVIDIA" else AMDGPU_ARCHES if kind == "AMD" else AMDGPU_ARCHES + NVPTX_ARCHES
    raise CargoMlirError(
        f"unknown offload architecture `{name}`" + (f" (not an {kind} architecture LLVM 22 knows)" if kind else ""),
        hint=f"valid names: host, {', '.join(valid)}")


def targets_for(arches: tuple[str, ...]) -> tuple[Target, ...]:
    """The host first (always built), then each requested architecture once."""
    out = [HOST]
    for a in arches:
        t = parse_target(a)
        if t not in out:
            out.append(t)
    return tuple(out)
