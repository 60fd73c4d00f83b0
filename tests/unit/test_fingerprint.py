"""A function's fingerprint decides whether it is extracted, imported and
raised again: it covers exactly the code the entry reaches."""

from __future__ import annotations

from cargo_mlir.build.markers import fingerprint

MODULE = """\
@table = internal constant [2 x float] [float 1.0, float 2.0]
@other = internal constant i32 7

define void @entry(ptr %x) !dbg !10 {
start:
  %v = call float @helper(ptr %x), !dbg !11
  ret void
}

define internal float @helper(ptr %x) {
start:
  %p = getelementptr float, ptr @table, i64 1
  %v = load float, ptr %p
  ret float %v
}

define void @unrelated() !dbg !12 {
start:
  %v = load i32, ptr @other
  ret void
}

declare void @ext()

!10 = distinct !DISubprogram(name: "entry")
!11 = !DILocation(line: 5, column: 3, scope: !10)
!12 = distinct !DISubprogram(name: "unrelated")
"""


def test_unrelated_code_does_not_change_it():
    base = fingerprint(MODULE, "entry")
    assert fingerprint(MODULE.replace("load i32, ptr @other", "load i32, ptr null"), "entry") == base
    assert fingerprint(MODULE.replace("i32 7", "i32 8"), "entry") == base


def test_the_entry_its_callees_and_their_data_do():
    base = fingerprint(MODULE, "entry")
    assert fingerprint(MODULE.replace("i64 1\n", "i64 0\n"), "entry") != base                   # a callee
    assert fingerprint(MODULE.replace("float 2.0]", "float 3.0]"), "entry") != base             # its data
    assert fingerprint(MODULE.replace("ret void\n}\n\ndefine internal", "ret void\n  ; x\n}\n\ndefine internal", 1),
                       "entry") != base                                                       # the entry


def test_renumbered_metadata_does_not_but_a_moved_line_does():
    base = fingerprint(MODULE, "entry")
    renumbered = MODULE.replace("!11", "!21").replace("!10", "!20")
    assert fingerprint(renumbered, "entry") == base
    assert fingerprint(MODULE.replace("line: 5", "line: 6"), "entry") != base
