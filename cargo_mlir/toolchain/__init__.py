"""The one place that knows tool names and versions, the recorded toolchain and `doctor`."""
