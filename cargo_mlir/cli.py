"""Entry point: `cargo mlir <command>` (cargo runs `cargo-mlir mlir <command>`).

Wrapper mode is detected before any parsing: cargo runs us as
RUSTC_WORKSPACE_WRAPPER with the rustc path as first argument.
"""

from __future__ import annotations

import argparse
import os
import sys

from cargo_mlir import __version__
from cargo_mlir.cargo.units import WRAPPER_ENV
from cargo_mlir.errors import CargoMlirError, fail
from cargo_mlir.term import COLOR_CHOICES, Shell, setup_logging


# cargo build/run/test share this front end; the rest are plain subcommands
CARGO_COMMANDS = ("build", "run", "test")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-v", "--verbose", action="count", default=0, help="more output (-vv: every command)")
    p.add_argument("-q", "--quiet", action="store_true", help="no status output")
    p.add_argument("--color", choices=COLOR_CHOICES, default="auto")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cargo mlir", description="Build Rust crates whose marked functions go through MLIR "
        "to GPUs (gfx90a, sm_90) and the host CPU.")
    parser.add_argument("--version", action="version", version=f"cargo-mlir {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("doctor", help="check rustc, LLVM/MLIR tools and runtimes")
    _common(p)
    p.add_argument("--json", action="store_true", help="machine-readable report")

    boot = sub.add_parser("bootstrap", help="provision LLVM/MLIR and configure rust checkouts")
    bsub = boot.add_subparsers(dest="bootstrap_command", metavar="ACTION", required=True)
    p = bsub.add_parser("install", help="install the distribution's LLVM/MLIR packages for rustc's LLVM")
    _common(p)
    p.add_argument("--dry-run", action="store_true", help="print the apt-get command, install nothing")
    p = bsub.add_parser("build", help="build MLIR from an llvm-project tree (CMake + Ninja)")
    _common(p)
    from cargo_mlir.bootstrap import build as bootstrap_build
    bootstrap_build.add_arguments(p)
    p = bsub.add_parser("config", help="edit a rust checkout's bootstrap.toml")
    _common(p)
    from cargo_mlir.bootstrap.config import command as bootstrap_config
    bootstrap_config.add_arguments(p)

    for name in CARGO_COMMANDS:
        p = sub.add_parser(name, help=f"cargo {name} with device code through MLIR", add_help=False,
                           prefix_chars="\0")
        p.add_argument("cargo_args", nargs=argparse.REMAINDER)

    # `ci` is dispatched before parsing (its options mix with cargo's); listed for --help
    sub.add_parser("ci", help="CI step: toolchain, build, tests, JUnit XML and a Markdown summary",
                   add_help=False, prefix_chars="\0")

    p = sub.add_parser("init", help="add the cargo-mlir support crate to an existing crate")
    _common(p)
    p.add_argument("--manifest-path", metavar="PATH")
    p = sub.add_parser("new", help="create a starter crate with an offload kernel")
    _common(p)
    p.add_argument("path", help="directory of the new crate")
    p.add_argument("--name", help="package name (default: the directory name)")
    return parser


def _shell_for(args: argparse.Namespace) -> Shell:
    verbosity = -1 if getattr(args, "quiet", False) else getattr(args, "verbose", 0)
    return Shell(verbosity=verbosity, color=getattr(args, "color", "auto"))


def dispatch(argv: list[str]) -> int:
    if argv and argv[0] == "mlir":          # invoked by cargo as `cargo-mlir mlir …`
        argv = argv[1:]
    if argv and argv[0] in CARGO_COMMANDS:
        from cargo_mlir.build import command as driver
        return driver.main(argv[0], argv[1:])
    if argv and argv[0] == "ci":
        from cargo_mlir.ci import command as ci
        return ci.main(argv[1:])
    args = build_parser().parse_args(argv)
    shell = _shell_for(args)
    setup_logging(max(args.verbose, 0))
    try:
        if args.command == "doctor":
            from cargo_mlir.toolchain import doctor
            return doctor.run(shell, as_json=args.json)
        if args.command == "bootstrap":
            if args.bootstrap_command == "install":
                from cargo_mlir.bootstrap import install as bootstrap_install
                return bootstrap_install.run(shell, dry_run=args.dry_run)
            if args.bootstrap_command == "build":
                from cargo_mlir.bootstrap import build as bootstrap_build
                return bootstrap_build.run(shell, args)
            from cargo_mlir.bootstrap.config import command as bootstrap_config
            return bootstrap_config.run(shell, args)
        if args.command in ("init", "new"):
            from cargo_mlir.cargo import project
            return project.run(shell, args)
    except CargoMlirError as exc:
        return fail(shell, exc)
    raise AssertionError(f"unhandled command {args.command}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if os.environ.get(WRAPPER_ENV) and argv and not argv[0].startswith("-") and argv[0] != "mlir":
        from cargo_mlir.cargo import wrapper
        return wrapper.main(argv)
    try:
        return dispatch(argv)
    except CargoMlirError as exc:
        return fail(Shell(), exc)
    except KeyboardInterrupt:
        return 130
