"""`cargo mlir bootstrap`: install or build LLVM/MLIR, edit a rust checkout's bootstrap.toml."""
