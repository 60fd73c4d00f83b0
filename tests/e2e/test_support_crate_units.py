"""The support crate's own Rust unit tests (`#[cfg(test)]` in templates/cargo-mlir:
HIP's library search, how copies are cut for the GPU staging area, …), run with
the real cargo, as a user's `cargo test` of the crate would."""

from __future__ import annotations

import re
import shutil

from conftest import SUPPORT_CRATE, run


def test_the_support_crates_unit_tests_pass(tmp_path):
    # a copy: cargo would write a Cargo.lock into the checkout
    crate = shutil.copytree(SUPPORT_CRATE, tmp_path / "cargo-mlir", ignore=shutil.ignore_patterns("target", "Cargo.lock"))
    result = run(["cargo", "test", "--lib"], crate)
    assert result.returncode == 0, result.stdout + result.stderr
    passed = re.search(r"test result: ok\. (\d+) passed; 0 failed", result.stdout)
    assert passed and int(passed[1]) >= 2, result.stdout
    assert "hip_is_looked_for_by_every_soname" in result.stdout
    assert "copies_are_cut_in_order_into_chunks_of_at_most_cap_bytes" in result.stdout
