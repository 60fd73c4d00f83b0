"""cargo-mlir: an MLIR route from Rust to accelerators, as a cargo subcommand."""

__version__ = "0.1.0"
