#!/usr/bin/env bash
# Set-up shared by the README's two commands: a venv with cargo-mlir and its
# test tools, then LLVM/MLIR packages matching rustc's LLVM (as root: apt-get;
# otherwise the exact command is printed). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "error: cargo not found: install Rust with rustup (https://rustup.rs)" >&2; exit 1; }
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
.venv/bin/cargo-mlir bootstrap install
# the tests of `bootstrap build` run real cmake and ninja (on tiny trees)
if ! command -v ninja >/dev/null || ! command -v cmake >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ninja-build cmake >/dev/null \
      || { apt-get update -q >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ninja-build cmake >/dev/null; }
  else
    echo "note: install ninja-build and cmake for the bootstrap-build tests: sudo apt-get install ninja-build cmake" >&2
  fi
fi
.venv/bin/cargo-mlir doctor
