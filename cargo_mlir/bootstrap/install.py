"""`cargo mlir bootstrap install`: the distribution's LLVM/MLIR packages for
rustc's LLVM major, with apt-get as root (otherwise the exact command), then
verify and record the toolchain. Idempotent: installed packages are skipped."""

from __future__ import annotations

import os
import shutil

from cargo_mlir.toolchain import record
from cargo_mlir.toolchain import tools
from cargo_mlir.errors import CargoMlirError
from cargo_mlir.process import cmd
from cargo_mlir.term import Shell


def missing_packages(packages: list[str]) -> list[str]:
    """Packages dpkg does not report as installed."""
    if not shutil.which("dpkg-query"):
        return packages
    result = cmd("dpkg-query", "-W", "-f=${Package} ${db:Status-Abbrev}\n", *packages).run(check=False, hint=None)
    installed = {line.split()[0] for line in result.stdout.splitlines()
                 if len(line.split()) > 1 and line.split()[1].startswith("ii")}
    return [p for p in packages if p not in installed]


def apt_command(packages: list[str]) -> list[str]:
    return ["apt-get", "install", "-y", "--no-install-recommends", *packages]


def apt_install(shell: Shell, packages: list[str], *, why: str) -> None:
    """apt-get install (as root), updating the package lists only when the
    install fails (a fresh container has none)."""
    shell.status("Installing", f"{', '.join(packages)} ({why})")
    update = cmd("apt-get", "update").with_env(DEBIAN_FRONTEND="noninteractive")
    install = cmd(*apt_command(packages)).with_env(DEBIAN_FRONTEND="noninteractive")
    try:
        install.run(stream=shell.verbosity > 0, what="installing packages", hint=None)
    except CargoMlirError:
        update.run(stream=shell.verbosity > 0, what="updating package lists", hint=None)
        install.run(stream=shell.verbosity > 0, what="installing packages",
                    hint=f"check that your apt sources offer {', '.join(packages)}")


def run(shell: Shell, *, dry_run: bool = False) -> int:
    rustc = tools.rustc_info()
    major = rustc.llvm_major
    if not shutil.which("apt-get"):
        raise CargoMlirError(
            "`bootstrap install` knows Debian/Ubuntu packages (apt-get), and this machine has no apt-get",
            hint=f"install LLVM/MLIR {major} (mlir-opt, mlir-translate, llc, opt, lld, clang, liboffload) "
                 f"yourself, or build MLIR with `cargo mlir bootstrap build --llvm-project DIR`")
    wanted = tools.debian_packages(major)
    todo = missing_packages(wanted)
    # GPU math on AMD (OCML); optional: not every apt source has it
    device = missing_packages(list(tools.DEBIAN_DEVICE_PACKAGES))
    if not todo:
        shell.status("Fresh", f"LLVM/MLIR {major} packages already installed ({', '.join(wanted)})")
    if dry_run or os.geteuid() != 0:
        sudo = "sudo " if os.geteuid() != 0 else ""
        for packages in (todo, device):
            if packages:
                shell.out(sudo + " ".join(apt_command(packages)))
        if todo and not dry_run:
            shell.warn("not root: run the command above, then `cargo mlir doctor`")
            return 1
        if dry_run:
            return 0
    else:
        if todo:
            apt_install(shell, todo, why=f"LLVM {major}, matching rustc {rustc.release}")
        if device:
            try:
                apt_install(shell, device, why="math functions in AMD GPU code")
            except CargoMlirError as exc:
                shell.warn(f"{exc.message.splitlines()[0]}: AMD GPU kernels that call float functions "
                           f"(exp, sin, …) will not build until ROCm's device libraries are installed")
    p = record.probe(rustc, built=False)
    if not p.ok:
        bad = "; ".join(f"{x.key}: {x.message}" for x in p.problems if x.required)
        raise CargoMlirError(f"packages are installed but the toolchain is still incomplete: {bad}",
                             hint="run `cargo mlir doctor` for details")
    path = record.save(record.from_probe(p, source="debian"))
    shell.status("Finished", f"toolchain recorded in {path}")
    return 0
