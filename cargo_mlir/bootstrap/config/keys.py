"""The keys of a rust checkout's `bootstrap.toml` that `cargo mlir bootstrap config`
knows: their types, the defaults `show` reports, what each feature writes, and the
lookups on that table (the type of a key, a suggestion for an unknown one, a value check).

The key names and types mirror rust's `src/bootstrap/src/core/config/toml/` (`mod.rs` for
the top level, `build.rs`, `llvm.rs`, `rust.rs`, `target.rs`, `dist.rs`, `install.rs`,
`gcc.rs`, `pgo.rs`), read at rust-lang/rust 0180169f3b4c, 011da6558b09 and 008fa22ce3f8
(2025), and the options `src/bootstrap/src/utils/change_tracker.rs` adds up to change
159455. Bootstrap parses these structs with `deny_unknown_fields`, so a misspelt key makes
`x.py` fail: we warn about keys not listed here (older or newer checkouts may know a few
more, so it is a warning), and refuse to write the keys rust has removed (REMOVED).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from tomlkit.items import Item

from cargo_mlir.bootstrap.config import toml_edit as T
from cargo_mlir.errors import CargoMlirError

BOOL, STR, INT, LIST, TABLE, STR_OR_BOOL, CHANGE_ID, ANY = (
    "bool", "string", "integer", "list", "table of strings", "string or bool", "change-id", "any")
PGO = "table of use and generate"          # `[pgo] rustc = { use = …, generate = … }`

TOP_LEVEL: dict[str, str] = {"profile": STR, "change-id": CHANGE_ID, "include": LIST}

SECTIONS: dict[str, dict[str, str]] = {
    "build": {
        "build": STR, "description": STR, "host": LIST, "target": LIST, "build-dir": STR,
        "cargo": STR, "rustc": STR, "rustdoc": STR, "rustfmt": STR, "cargo-clippy": STR,
        "docs": BOOL, "compiler-docs": BOOL, "library-docs-private-items": BOOL,
        "docs-minification": BOOL, "submodules": BOOL, "gdb": STR, "lldb": STR, "nodejs": STR,
        "npm": STR, "yarn": STR, "python": STR, "windows-rc": STR, "reuse": STR,
        "locked-deps": BOOL, "vendor": BOOL, "full-bootstrap": BOOL,
        "bootstrap-cache-path": STR, "extended": BOOL, "tools": LIST, "tool": ANY,
        "verbose": INT, "sanitizers": BOOL, "profiler": BOOL, "cargo-native-static": BOOL,
        "low-priority": BOOL, "configure-args": LIST, "local-rebuild": BOOL,
        "print-step-timings": BOOL, "print-step-rusage": BOOL, "check-stage": INT,
        "doc-stage": INT, "build-stage": INT, "test-stage": INT, "install-stage": INT,
        "dist-stage": INT, "bench-stage": INT, "patch-binaries-for-nix": BOOL, "metrics": BOOL,
        "android-ndk": STR, "optimized-compiler-builtins": ANY, "jobs": INT,
        "compiletest-diff-tool": STR, "compiletest-allow-stage0": BOOL,
        "compiletest-use-stage0-libtest": BOOL, "tidy-extra-checks": STR, "ccache": STR_OR_BOOL,
        "exclude": LIST, "record_failed_tests_path": STR, "sde": STR,
    },
    "install": {k: STR for k in ("prefix", "sysconfdir", "docdir", "bindir", "libdir",
                                 "mandir", "datadir")},
    "llvm": {
        "optimize": BOOL, "thin-lto": BOOL, "release-debuginfo": BOOL, "assertions": BOOL,
        "tests": BOOL, "enzyme": BOOL, "plugins": BOOL, "static-libstdcpp": BOOL,
        "libzstd": BOOL, "ninja": BOOL, "targets": STR, "experimental-targets": STR,
        "link-jobs": INT, "link-shared": BOOL, "version-suffix": STR, "clang-cl": STR,
        "cflags": STR, "cxxflags": STR, "ldflags": STR, "use-libcxx": BOOL, "use-linker": STR,
        "allow-old-toolchain": BOOL, "offload": BOOL, "polly": BOOL, "offload-clang-dir": STR,
        "clang": BOOL, "enable-warnings": BOOL, "download-ci-llvm": STR_OR_BOOL,
        "build-config": TABLE,
    },
    # change 149354 adds libgccjit-libs-dir (per target: a table)
    "gcc": {"download-ci-gcc": BOOL, "libgccjit-libs-dir": ANY},
    "rust": {
        "optimize": ANY, "debug": BOOL, "codegen-units": INT, "codegen-units-std": INT,
        "debug-assertions": BOOL, "randomize-layout": BOOL, "debug-assertions-std": BOOL,
        "debug-assertions-tools": BOOL, "overflow-checks": BOOL, "overflow-checks-std": BOOL,
        "debug-logging": BOOL, "debuginfo-level": ANY, "debuginfo-level-rustc": ANY,
        "debuginfo-level-std": ANY, "debuginfo-level-tools": ANY, "debuginfo-level-tests": ANY,
        "compress-debuginfo": ANY, "backtrace": BOOL, "incremental": BOOL,
        "default-linker": STR, "channel": STR, "musl-root": STR, "rpath": BOOL,
        "rustflags": LIST, "strip": BOOL, "frame-pointers": BOOL, "stack-protector": STR,
        "verbose-tests": BOOL, "optimize-tests": BOOL, "codegen-tests": BOOL,
        "omit-git-hash": BOOL, "dist-src": BOOL, "save-toolstates": STR,
        "codegen-backends": LIST, "llvm-bitcode-linker": BOOL, "lld": BOOL,
        "bootstrap-override-lld": STR_OR_BOOL, "use-lld": STR_OR_BOOL, "llvm-tools": BOOL,
        "deny-warnings": BOOL, "backtrace-on-ice": BOOL, "verify-llvm-ir": BOOL,
        "thin-lto-import-instr-limit": INT, "remap-debuginfo": BOOL, "override-allocator": ANY,
        "jemalloc": BOOL, "test-compare-mode": BOOL, "llvm-libunwind": STR,
        "control-flow-guard": BOOL, "ehcont-guard": BOOL, "new-symbol-mangling": BOOL,
        "annotate-moves-size-limit": INT, "profile-generate": STR, "profile-use": STR,
        "download-rustc": STR_OR_BOOL, "lto": STR, "validate-mir-opts": INT,
        "std-features": LIST, "break-on-ice": BOOL, "parallel-frontend-threads": INT,
    },
    # change 158912: `[pgo] rustc = { use = PATH, generate = PATH }` (toml/pgo.rs)
    "pgo": {"rustc": PGO},
    "dist": {
        "sign-folder": STR, "upload-addr": STR, "src-tarball": BOOL,
        "compression-formats": LIST, "compression-profile": STR, "include-mingw-linker": BOOL,
        "vendor": BOOL,
    },
}

# `[target.<triple>]` tables
TARGET: dict[str, str] = {
    "cc": STR, "cxx": STR, "ar": STR, "ranlib": STR, "default-linker": STR, "linker": STR,
    "split-debuginfo": STR, "llvm-config": STR, "llvm-has-rust-patches": BOOL,
    "llvm-filecheck": STR, "llvm-libunwind": STR, "sanitizers": BOOL, "profiler": STR_OR_BOOL,
    "rpath": BOOL, "crt-static": BOOL, "musl-root": STR, "musl-libdir": STR, "wasi-root": STR,
    "qemu-rootfs": STR, "no-std": BOOL, "codegen-backends": LIST, "runner": STR,
    "optimized-compiler-builtins": BOOL, "jemalloc": BOOL,
    # changes 148795 and 147157
    "rustflags": LIST, "default-linker-linux-override": STR,
}

# Keys rust has removed: bootstrap now rejects them as unknown fields. Key → (the key to use
# instead, the change that removed it). Change 143926: "Removed `rust.description` and
# `llvm.ccache` as it was deprecated in #137723 and #136941 long time ago."
REMOVED: dict[str, tuple[str, int]] = {
    "llvm.ccache": ("build.ccache", 143926),
    "rust.description": ("build.description", 143926),
}

# string values a STR_OR_BOOL / STR key accepts, where bootstrap restricts them
CHOICES: dict[str, tuple[str, ...]] = {
    "llvm.download-ci-llvm": ("if-unchanged",),
    # src/bootstrap/src/core/build_steps/setup.rs, `impl FromStr for Profile`
    "profile": ("compiler", "library", "lib", "tools", "tool", "rustdoc", "clippy", "miri",
                "rustfmt", "dist", "maintainer", "user"),
}

# a profile name → the file in src/bootstrap/defaults that `profile = "…"` includes
PROFILE_FILES: dict[str, str] = {
    "compiler": "compiler", "library": "library", "lib": "library", "tools": "tools",
    "tool": "tools", "rustdoc": "tools", "clippy": "tools", "miri": "tools",
    "rustfmt": "tools", "dist": "dist", "maintainer": "dist", "user": "dist",
}

# the profile a file we create gets (the one for rustc contributors, DESIGN.md)
NEW_FILE_PROFILE = "compiler"

# bootstrap's own value when llvm.targets is unset (build_steps/llvm.rs, `Llvm::run`)
DEFAULT_LLVM_TARGETS = ("AArch64;AMDGPU;ARM;BPF;Hexagon;LoongArch;MSP430;Mips;NVPTX;PowerPC;"
                        "RISCV;Sparc;SystemZ;WebAssembly;X86")


@dataclass(frozen=True)
class Shown:
    """A key `show` prints, with the value bootstrap uses when nothing sets it."""
    key: str
    default: object = None        # None: no fixed default (see note)
    note: str = ""


SHOWN: tuple[Shown, ...] = (
    Shown("profile", note="no profile: x.py uses the defaults in bootstrap.example.toml"),
    Shown("change-id", note="x.py warns that it is missing"),
    # change 130529: "If `llvm.download-ci-llvm` is not defined, it defaults to `true`."
    Shown("llvm.download-ci-llvm", True),
    Shown("llvm.offload", False),
    Shown("llvm.enzyme", False),
    Shown("llvm.clang", False),
    Shown("llvm.offload-clang-dir", note="unset: offload is built with llvm.clang's clang"),
    Shown("llvm.plugins", False),
    Shown("llvm.polly", False),
    Shown("llvm.link-shared", note="default: follows llvm.thin-lto (default false)"),
    Shown("llvm.assertions", False),
    Shown("llvm.targets", DEFAULT_LLVM_TARGETS),
    Shown("llvm.experimental-targets", "AVR;M68k;CSKY;Xtensa"),
    Shown("llvm.build-config", {}),
    Shown("rust.lld", note="default: true on x86_64-unknown-linux-gnu dev/nightly builds, "
                           "else false"),
)


@dataclass(frozen=True)
class Feature:
    help: str
    enable: tuple[tuple[str, object], ...]
    disable: tuple[tuple[str, object], ...]
    llvm_targets: tuple[str, ...] = ()      # must be in llvm.targets
    llvm_projects: tuple[str, ...] = ()     # added to LLVM_ENABLE_PROJECTS via build-config
    # key → a key that replaces it when the file sets it
    instead: tuple[tuple[str, str], ...] = ()


# What the rustc-dev-guide's installation pages ask `./configure` for (flags mapped to keys
# by src/bootstrap/configure.py), read in rust-lang/rust at 093dd669c587 (offload) and
# 0231fa9adfdc (autodiff), src/doc/rustc-dev-guide/src/{offload,autodiff}/installation.md:
#   offload:  --enable-llvm-link-shared --release-channel=nightly --enable-llvm-assertions
#             --enable-llvm-offload --enable-llvm-enzyme --enable-clang --enable-lld …
#             "If you would rather reuse an existing clang than build one, drop
#             `--enable-clang` and pass `--enable-llvm-offload-clang-dir=…`"
#   autodiff: --enable-llvm-link-shared --enable-llvm-plugins --enable-llvm-enzyme
#             --release-channel=nightly --enable-llvm-assertions --enable-clang --enable-lld …
# The feature keys are written; the general build choices of those lines (nightly channel,
# assertions, ninja, no docs) and offload's Enzyme (that is `enable autodiff`) are not
# (docs/bootstrap-config.md). Every one of them needs LLVM built from src/llvm-project:
# bootstrap rejects clang, offload, plugins and build-config that differ from CI's LLVM
# (config/toml/llvm.rs, `check_incompatible_options_for_ci_llvm`).
FEATURES: dict[str, Feature] = {
    "offload": Feature(
        help="LLVM's offload runtime and clang, AMDGPU and NVPTX backends (rustc -Zoffload)",
        enable=(("llvm.offload", True), ("llvm.clang", True), ("llvm.download-ci-llvm", False),
                ("llvm.link-shared", True), ("rust.lld", True)),
        disable=(("llvm.offload", False),),
        llvm_targets=("AMDGPU", "NVPTX"),
        # change 148671: "New option `llvm.offload-clang-dir` to allow building an in-tree
        # llvm offload and openmp runtime with an external clang."
        instead=(("llvm.clang", "llvm.offload-clang-dir"),)),
    "autodiff": Feature(
        help="the Enzyme autodiff plugin (rustc -Zautodiff)",
        enable=(("llvm.enzyme", True), ("llvm.download-ci-llvm", False),
                ("llvm.link-shared", True), ("llvm.plugins", True), ("llvm.clang", True),
                ("rust.lld", True)),
        disable=(("llvm.enzyme", False),)),
    "mlir": Feature(
        help="MLIR in rustc's own LLVM build, through llvm.build-config (experimental)",
        enable=(("llvm.download-ci-llvm", False),),
        disable=(),
        llvm_projects=("mlir",)),
}

# The keys bootstrap compares with the builder-config of CI's LLVM when it downloads it, in
# the order it checks them (config/toml/llvm.rs, `check_incompatible_options_for_ci_llvm`):
# one set to another value than CI's stops the build with "Setting `llvm.<key>` is
# incompatible with `llvm.download-ci-llvm`".
CI_LLVM_CHECKED: tuple[str, ...] = (
    "optimize", "thin-lto", "release-debuginfo", "libzstd", "targets", "experimental-targets",
    "clang-cl", "version-suffix", "cflags", "cxxflags", "ldflags", "use-libcxx", "use-linker",
    "allow-old-toolchain", "offload", "polly", "clang", "build-config", "plugins", "enzyme")
# Without CI's builder-config at hand: the keys that add to LLVM what CI's does not build.
CI_LLVM_LACKS: tuple[str, ...] = ("clang", "offload", "polly", "plugins", "enzyme",
                                  "build-config")

# The projects bootstrap itself puts in LLVM_ENABLE_PROJECTS, by the key that turns each on
# (build_steps/llvm.rs, `Llvm::run`; it also adds clang when the environment forces
# clang-based tests, which a config file cannot know about).
BOOTSTRAP_PROJECTS: tuple[tuple[str, str], ...] = (
    ("llvm.clang", "clang"), ("llvm.polly", "polly"), ("llvm.offload", "compiler-rt"))


# ---------------------------------------------------------------- lookups

def key_type(parts: tuple[str, ...]) -> str | None:
    """What bootstrap expects at a key: a type above, "section", or None (unknown)."""
    head, n = parts[0], len(parts)
    if n == 1:
        return "section" if head in SECTIONS or head == "target" else TOP_LEVEL.get(head)
    if head == "target":
        return "section" if n == 2 else TARGET.get(parts[2]) if n == 3 else None
    section = SECTIONS.get(head, {})
    if n == 2:
        return section.get(parts[1])
    if n == 3 and section.get(parts[1]) == TABLE:
        return STR                                   # llvm.build-config.<CMAKE_VARIABLE>
    if n == 3 and section.get(parts[1]) == PGO:
        return STR if parts[2] in ("use", "generate") else None
    return ANY if parts[:2] == ("build", "tool") else None


def removed_key_message(parts: tuple[str, ...]) -> str | None:
    """For a key rust has removed: what bootstrap does with it and what to use instead."""
    key = T.dotted(parts)
    if key not in REMOVED:
        return None
    successor, change = REMOVED[key]
    return (f"{key} is no longer a bootstrap.toml key: rust removed it in change {change} "
            f"and x.py now rejects it as an unknown field; use {successor} instead")


def unknown_key_message(parts: tuple[str, ...]) -> str | None:
    """None for a known key; else a warning: what replaced a removed key, or the nearest
    known key if there is one."""
    if key_type(parts) is not None:
        return None
    removed = removed_key_message(parts)
    if removed:
        return removed
    known = [*TOP_LEVEL, *(f"{s}.{k}" for s, keys in SECTIONS.items() for k in keys)]
    triple = T.dotted(parts[1:2]) if parts[0] == "target" and len(parts) > 1 else "<triple>"
    known += [f"target.{triple}.{k}" for k in TARGET]
    close = difflib.get_close_matches(T.dotted(parts), known, n=1, cutoff=0.8)
    if close:
        return f"{T.dotted(parts)}: did you mean {close[0]}?"
    return (f"{T.dotted(parts)} is not a bootstrap.toml key that cargo-mlir knows, and x.py "
            "rejects keys it does not know")


def check_value(parts: tuple[str, ...], value: object) -> None:
    """Raise unless value has the type bootstrap expects at parts (unknown keys pass)."""
    typ, key = key_type(parts), T.dotted(parts)
    if typ == "section":
        raise CargoMlirError(f"{key} is a table; set its keys, e.g. {key}.<name>")
    value = value.unwrap() if isinstance(value, Item) else value
    choices = CHOICES.get(key, ())
    is_int = isinstance(value, int) and not isinstance(value, bool)
    ok = {
        BOOL: isinstance(value, bool),
        STR: isinstance(value, str) and (not choices or value in choices),
        INT: is_int,
        LIST: isinstance(value, list) and all(isinstance(v, str) for v in value),
        TABLE: isinstance(value, dict) and all(isinstance(v, str) for v in value.values()),
        STR_OR_BOOL: isinstance(value, bool) or isinstance(value, str) and (
            not choices or value in choices),
        CHANGE_ID: is_int or value == "ignore",
    }.get(typ, True)
    if not ok:
        listed = (["true", "false"] if typ == STR_OR_BOOL else []) + [f'"{c}"' for c in choices]
        want = f"{typ} ({', '.join(listed)})" if choices else typ
        example = {BOOL: "true", INT: "2", CHANGE_ID: "ignore", LIST: "'[\"a\"]'",
                   TABLE: "'{ NAME = \"value\" }'"}.get(typ, choices[0] if choices else "VALUE")
        article = "an" if want[0] in "aeiou" else "a"
        raise CargoMlirError(f"{key} expects {article} {want}, not {T.render(value)}",
                             hint=f"cargo mlir bootstrap config set {key} {example}")


def value_from_cli(raw: str, typ: str | None) -> object:
    """The TOML value the text spells, else the text as a string; string keys take the
    text as it is unless it is quoted (`set llvm.targets X86;NVPTX`)."""
    item = T.value_item(raw)
    if item is T.MISSING:
        return raw
    value = item.unwrap()
    if typ == STR and not isinstance(value, str):
        return raw
    if typ in (STR_OR_BOOL, CHANGE_ID) and not isinstance(value, (bool, str, int)):
        return raw
    return item
