"""The keys of a rust checkout's `bootstrap.toml` that `cargo mlir bootstrap config`
knows: their types, the defaults `show` reports, and what each feature writes.

Pure data. The key names and types mirror rust's `src/bootstrap/src/core/config/toml/`
(`mod.rs` for the top level, `build.rs`, `llvm.rs`, `rust.rs`, `target.rs`, `dist.rs`,
`install.rs`, `gcc.rs`), read from rust-lang/rust master in 2025. Bootstrap parses these
structs with `deny_unknown_fields`, so a misspelt key makes `x.py` fail: that is why we
warn about keys not listed here (older or newer checkouts may know a few more, so it is a
warning, not an error).
"""

from __future__ import annotations

from dataclasses import dataclass

BOOL, STR, INT, LIST, TABLE, STR_OR_BOOL, CHANGE_ID, ANY = (
    "bool", "string", "integer", "list", "table of strings", "string or bool", "change-id", "any")

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
        "ccache": STR_OR_BOOL,          # deprecated (moved to build.ccache), still accepted
    },
    "gcc": {"download-ci-gcc": BOOL},
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
        "description": STR,             # deprecated (moved to build.description)
    },
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
    Shown("profile", note="none: the defaults of bootstrap.example.toml"),
    Shown("change-id", note="none: x.py warns about every change since"),
    # change 130529: "If `llvm.download-ci-llvm` is not defined, it defaults to `true`."
    Shown("llvm.download-ci-llvm", True),
    Shown("llvm.offload", False),
    Shown("llvm.enzyme", False),
    Shown("llvm.clang", False),
    Shown("llvm.polly", False),
    Shown("llvm.link-shared", note="follows llvm.thin-lto (false)"),
    Shown("llvm.assertions", False),
    Shown("llvm.targets", DEFAULT_LLVM_TARGETS),
    Shown("llvm.experimental-targets", "AVR;M68k;CSKY;Xtensa"),
    Shown("llvm.build-config", {}),
    Shown("rust.lld", note="true on x86_64-unknown-linux-gnu dev/nightly builds, else false"),
)


@dataclass(frozen=True)
class Feature:
    help: str
    enable: tuple[tuple[str, object], ...]
    disable: tuple[tuple[str, object], ...]
    llvm_targets: tuple[str, ...] = ()      # must be in llvm.targets
    llvm_projects: tuple[str, ...] = ()     # added to LLVM_ENABLE_PROJECTS via build-config


FEATURES: dict[str, Feature] = {
    "offload": Feature(
        help="LLVM's offload runtime and clang, AMDGPU and NVPTX backends (rustc -Zoffload)",
        enable=(("llvm.offload", True), ("llvm.clang", True), ("llvm.download-ci-llvm", False)),
        disable=(("llvm.offload", False),),
        llvm_targets=("AMDGPU", "NVPTX")),
    "autodiff": Feature(
        help="the Enzyme autodiff plugin (rustc -Zautodiff)",
        enable=(("llvm.enzyme", True), ("llvm.download-ci-llvm", False),
                ("llvm.link-shared", True)),
        disable=(("llvm.enzyme", False),)),
    "mlir": Feature(
        help="MLIR in rustc's own LLVM build, through llvm.build-config (experimental)",
        # llvm.build-config is an error together with CI LLVM
        # (config/toml/llvm.rs, `check_incompatible_options_for_ci_llvm`)
        enable=(("llvm.download-ci-llvm", False),),
        disable=(),
        llvm_projects=("mlir",)),
}

# The projects bootstrap itself puts in LLVM_ENABLE_PROJECTS, by the key that turns each on
# (build_steps/llvm.rs, `Llvm::run`; it also adds clang when the environment forces
# clang-based tests, which a config file cannot know about).
BOOTSTRAP_PROJECTS: tuple[tuple[str, str], ...] = (
    ("llvm.clang", "clang"), ("llvm.polly", "polly"), ("llvm.offload", "compiler-rt"))
