"""One module per pipeline stage: `run(module, ctx) -> module`."""
