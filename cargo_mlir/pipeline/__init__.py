"""The MLIR pipeline: an ordered table of stages per target; see driver.py."""
