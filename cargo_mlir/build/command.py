"""`cargo mlir build | run | test`: pass 1 (cargo with our rustc wrapper:
host artifacts + device bitcode), device work (markers → MLIR pipeline per
kernel × target → one kernel library per unit), pass 2 (cargo again: what
links a library that changed is linked again, then cargo's own build, run
or test)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from cargo_mlir.build import noop
from cargo_mlir.cargo import metadata as cargo
from cargo_mlir.cargo import messages, units
from cargo_mlir.cargo.args import Args, build_options, parse_args
from cargo_mlir.errors import CargoMlirError, fail
from cargo_mlir.fsutil import write_atomic
from cargo_mlir.term import Shell, setup_logging, want_color

HELP = """\
Usage: cargo mlir {command} [OPTIONS] [CARGO OPTIONS] [-- ARGS]

Runs `cargo {command}` with every #[offload_kernel] compiled through MLIR for
the host CPU and the configured GPU architectures, and every
#[cargo_mlir::accelerate] function through MLIR for the host.

Options of cargo-mlir (all other options go to cargo unchanged):
      --offload-arch LIST   GPU architectures, e.g. gfx90a,sm_90 (default: the
                            `offload-arch` of [package.metadata.cargo-mlir]);
                            the host is always built
      --emit-ir DIR         write the IR after every pipeline stage into DIR
      --print-pipeline      print the pipeline that runs (passes per stage) and exit
      --explain             say what was raised to scf/memref, and why not
  -j, --jobs N              cargo's jobs and the device-work processes
                            (default: every core; also CARGO_MLIR_JOBS)
  -v, --verbose             per-stage timing and raise notes (-vv: every command run)
  -q, --quiet               no status output

Environment of the built program:
  CARGO_MLIR_DEVICE=host|gpu|auto   where kernels run (default auto)
  CARGO_MLIR_LOG=info               say where each launch ran (and which
                                    accelerate functions use MLIR code)
"""


FRESH = "device code (no device work)"


def wrapper_scripts(state: Path) -> tuple[Path, Path, Path]:
    """The programs cargo runs as RUSTC_WORKSPACE_WRAPPER (this interpreter, this
    package), as RUSTC_WRAPPER (units.recorder_text) and as RUSTDOC
    (units.rustdoc_text), written when missing or changed."""
    member = state / "rustc-wrapper"
    recorder = state / "rustc-recorder"
    rustdoc = state / "rustdoc-wrapper"
    units.rustc_records_dir(state).mkdir(parents=True, exist_ok=True)
    root = str(Path(units.__file__).resolve().parents[2])
    for path, text in ((member, units.script_text(sys.executable, root)),
                       (recorder, units.recorder_text(str(member), sys.executable, root)),
                       (rustdoc, units.rustdoc_text())):
        try:
            current = path.read_bytes()
        except IsADirectoryError:       # not ours any more: written again
            import shutil
            shutil.rmtree(path)
            current = None
        except (FileNotFoundError, NotADirectoryError):
            current = None
        if current != text.encode() or not os.access(path, os.X_OK):
            write_atomic(path, text, mode=0o755)
    return member, recorder, rustdoc


def cargo_command(args: Args, pass_no: int, message_format: str | None = None) -> list[str]:
    """`message_format`: pass 1's own, in place of the user's (see cargo/messages.py).
    The cargo that started us (`CARGO`, which cargo sets for its subcommands)
    runs directly, without rustup's proxy in between."""
    cargo = os.environ.get("CARGO") or "cargo"
    if pass_no == 2:
        return [cargo, args.command, *args.cargo_args, *(["--", *args.trailing] if args.trailing else [])]
    given = args.cargo_args
    if message_format:
        given = (*messages.split_format(given)[1], message_format)
    if args.command == "test":
        if "--doc" in given:       # doc tests link the library: build that
            return [cargo, "build", "--lib", *build_options(given), *([message_format] if message_format else [])]
        return [cargo, "test", "--no-run", *(a for a in given if a != "--no-run")]
    return [cargo, "build", *given]


def pass_env(pass_no: int, state: Path, build: dict[str, str]) -> dict[str, str | None]:
    """What a cargo pass runs with besides the user's environment."""
    return cargo.rustc_wrapper_env(*wrapper_scripts(state), state, pass_no, {**units.retry_env(state), **build})


def run_cargo(args: Args, pass_no: int, state: Path, shell: Shell, build: dict[str, str],
              reader: messages.Pass1 | None = None, handover: noop.Handover | None = None) -> int:
    """Pass 2 is cargo as the user ran it; pass 1's JSON messages go to `reader`.
    `handover`: pass 1 as the launcher started it, continued when it runs with
    this command and environment."""
    env = pass_env(pass_no, state, build)
    from cargo_mlir.process import cmd      # imported here: `--help` and argument errors need none of it
    if reader is not None:
        argv = cargo_command(args, pass_no, reader.fmt.pass_1_flag(want_color(args.color, shell.stream)))
        if handover is not None:
            if handover.block == noop.block_hash(argv, {k: v for k, v in env.items() if k != units.BUILD_ENV}):
                shell.status("Running", f"pass {pass_no} (started by the launcher): {' '.join(argv)}", verbose=True)
                for line in handover.lines():
                    reader.feed(line)
                return handover.wait()
            handover.discard()
        shell.status("Running", f"pass {pass_no}: {' '.join(argv)}", verbose=True)
        return messages.run_pass_1(argv, cmd(*argv).with_env(**env).environ(), reader)
    argv = cargo_command(args, pass_no)
    shell.status("Running", f"pass {pass_no}: {' '.join(argv)}", verbose=True)
    return cmd(*argv).with_env(**env).passthrough()


def main(command: str, argv: list[str]) -> int:
    handover, bin_dir = noop.take_environ()
    try:
        args = parse_args(command, argv)
    except CargoMlirError as exc:
        return fail(Shell(), exc)
    shell = Shell(verbosity=args.verbosity, color=args.color)
    setup_logging(max(args.verbosity, 0))
    if args.help:
        shell.out(HELP.format(command=command))
        return 0
    if os.environ.get(units.STATE_ENV):
        return fail(shell, CargoMlirError(
            f"`cargo mlir {command}` was started by a program that `cargo mlir` is building or running; "
            "nested runs are not supported", hint="run it from a plain shell"))
    try:
        return _main(args, shell, handover, bin_dir)
    except CargoMlirError as exc:
        return fail(shell, exc)
    except OSError as exc:       # an unwritable target or --emit-ir directory, a full disk, …
        return fail(shell, CargoMlirError(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")))
    finally:
        if handover is not None:
            handover.discard()


def _state_error(exc: OSError, state: Path) -> CargoMlirError | None:
    """What, where and how to fix it, for an error in cargo-mlir's state directory."""
    if not exc.filename or not Path(str(exc.filename)).resolve().is_relative_to(state.resolve()):
        return None
    what, fix = units.state_problem(exc, state)
    return CargoMlirError(what, hint=fix)


def _main(args: Args, shell: Shell, handover: noop.Handover | None = None, bin_dir: Path | None = None) -> int:
    # A no-op build imports and runs only what it needs: the project's facts come
    # from their cache (cargo/metadata.py) and the device step, with its MLIR and
    # toolchain imports, runs only when pass 1 recorded work for it.
    if args.print_pipeline:
        from cargo_mlir.build import device
        meta = cargo.metadata(args.manifest_path)
        device.print_pipeline(shell, cargo._configs(meta), args.offload_arch)
        return 0
    facts = cargo.project_facts(args.manifest_path, shell)
    target_dir = args.target_dir or facts.target_directory
    state = units.state_dir(target_dir)
    try:
        status = _build(args, shell, facts, state, handover)
        if status == 0 and args.command == "build":
            _remember(args, shell, facts, state, bin_dir)
        return status
    except OSError as exc:       # a read-only or full target/cargo-mlir, something in it not ours, …
        raise _state_error(exc, state) or exc from None


def _remember(args: Args, shell: Shell, facts, state: Path, bin_dir: Path | None) -> None:
    """The record from which the launcher repeats this build while it is a no-op
    (build/noop.py), when it can; the launcher itself when it is missing."""
    # keyed by the arguments as the user gave them: the launcher sees those
    # (cargo-mlir's own options, such as --offload-arch, are not cargo's)
    cwd, given = Path.cwd().resolve(), list(args.given)
    if not noop.eligible(args):         # never recorded: nothing to forget either
        return
    if facts.inputs is None or units.failed_units(state):
        noop.forget(cwd, given)
        return
    from cargo_mlir.term import color_on
    build = build_env(facts, args, state)
    env = pass_env(1, state, build)
    fmt = messages.split_format(args.cargo_args)[0]
    argv = tuple(cargo_command(args, 1, fmt.pass_1_flag(color_on(args.color, tty))) for tty in (False, True))
    # what _build says when pass 1 left no device work; the launcher appends the seconds ("1.23s")
    finished = ("", "") if args.verbosity < 0 else tuple(
        Shell.status_line("Fresh", FRESH, colored=color_on(args.color, tty))
        + Shell.status_line("Finished", "cargo mlir build in ", colored=color_on(args.color, tty)).rstrip("\n")
        for tty in (False, True))
    noop.remember(cwd, given, facts.inputs, state, argv, env, finished, facts.workspace_root)
    if bin_dir is not None:
        noop.ensure_launcher(shell, bin_dir)


def _remove_outputs(shell: Shell, rlibs: set[Path]) -> None:
    """A crate's rlib and rmeta, so that cargo compiles it again (cargo's own
    `cargo clean -p` for one unit)."""
    from cargo_mlir.cargo.rustc_record import stem_of
    for rlib in sorted(rlibs):
        shell.status("Recompiling", f"{stem_of(rlib).removeprefix('lib')} (cargo-mlir needs how cargo compiles it, "
                                    f"for the device code of kernels that call it)")
        for ext in (".rlib", ".rmeta"):
            rlib.with_suffix(ext).unlink(missing_ok=True)


def build_env(facts, args: Args, state: Path) -> dict[str, str]:
    """What both passes of a build run with. CONFIG_ENV, which the macros read:
    the configuration, and which state directory holds the units' kernel
    libraries (a new one, after `target/cargo-mlir` was removed, has none:
    every unit is compiled again). The opt of the wrapper's device work."""
    env = {units.CONFIG_ENV: f"{facts.fingerprint(args.offload_arch, args.emit_ir)}.{units.state_id(state)}"}
    if facts.opt:
        env[units.OPT_ENV] = facts.opt
    return env


def _relink_owed(state: Path, build_id: str) -> bool:
    """Whether a link of pass 1 left the kernel libraries out (wrapper.link_artifact)."""
    try:
        return units.relink_path(state).read_text() == build_id
    except OSError:
        return False


def _build(args: Args, shell: Shell, facts, state: Path, handover: noop.Handover | None = None) -> int:
    state.mkdir(parents=True, exist_ok=True)
    if args.emit_ir:
        try:
            args.emit_ir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CargoMlirError(f"cannot create the --emit-ir directory {args.emit_ir}: {exc.strerror}") from None
    started = time.perf_counter() - (max(0.0, time.time() - handover.started) if handover else 0.0)
    build_id = handover.build_id if handover else os.urandom(16).hex()
    build = {units.BUILD_ENV: build_id, **build_env(facts, args, state)}
    linked = units.check_libraries(state, facts.made_by)
    units.schedule_retries(state, build_id)
    reader = messages.Pass1(messages.split_format(args.cargo_args)[0])
    status = run_cargo(args, 1, state, shell, build, reader, handover)
    if status != 0:
        reader.flush()          # pass 2 does not run: pass 1's messages are the user's
        return status
    rebuilt = False
    if args.emit_ir or args.explain or units.device_work_owed(state, build[units.BUILD_ENV]):
        from cargo_mlir.build import device
        unrecorded = device.build_device_code(shell, state, facts.configs(), facts.toolchain(shell), args,
                                              build[units.BUILD_ENV], may_rebuild=True)
        if unrecorded:
            # kernels call into crates that cargo compiled before cargo-mlir recorded
            # how (a plain `cargo build` into this target directory): cargo compiles them
            # again, recorded, with what depends on them, and the device work runs again
            rebuilt = True
            _remove_outputs(shell, unrecorded)
            again = messages.Pass1(reader.fmt)
            units.schedule_retries(state, build_id)
            status = run_cargo(args, 1, state, shell, build, again)
            if status != 0:
                again.flush()
                return status
            device.build_device_code(shell, state, facts.configs(), facts.toolchain(shell), args,
                                     build[units.BUILD_ENV])
    else:
        shell.status("Fresh", FRESH)
    if args.command == "build" and units.library_hashes(state) == linked and not reader.shown_something \
            and not _relink_owed(state, build_id) and not rebuilt:
        # pass 1 already linked every library as it is now: its artifacts are final
        # (and it had no message for the user, which pass 2 would show, once)
        shell.status("Finished", f"cargo mlir build in {time.perf_counter() - started:.2f}s")
        return 0
    shell.status("Linking", "device code into the final artifacts (cargo pass 2)", verbose=True)
    status = run_cargo(args, 2, state, shell, build)
    if status == 0 and args.command == "build":
        shell.status("Finished", f"cargo mlir build in {time.perf_counter() - started:.2f}s")
    return status
