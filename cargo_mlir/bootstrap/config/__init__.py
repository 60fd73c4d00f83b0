"""`cargo mlir bootstrap config`: keys, features and format-preserving edits of bootstrap.toml."""
