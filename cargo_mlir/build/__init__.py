"""`cargo mlir build | run | test`: the two cargo passes and the device work between them."""
