"""The Rust and Python halves of the ABI agree: every `pub const` of
`templates/cargo-mlir/src/abi.rs` equals the constant of the same name in
`cargo_mlir/abi.py`, neither side has a name the other lacks, the runtime's
table structs have the layout abi.py describes, and the support crate spells
the shared names only in abi.rs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cargo_mlir import abi

REPO = Path(__file__).resolve().parents[2]
CRATE = REPO / "templates" / "cargo-mlir"
ABI_RS = CRATE / "src" / "abi.rs"

_TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<int>\d[\d_]*)(?:u32|usize|u8|u64)?|(?P<id>[A-Za-z_]\w*)'
                    r'|(?P<p>[\[\](),]))')


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text.rstrip()):
        m = _TOKEN.match(text, pos)
        assert m, f"abi.rs: cannot read `{text[pos:pos + 30]}`"
        kind = m.lastgroup
        out.append((kind, m[kind]))
        pos = m.end()
    return out


def _value(toks: list[tuple[str, str]], i: int, consts: dict) -> tuple[object, int]:
    kind, text = toks[i]
    if kind == "str":
        return text[1:-1].encode().decode("unicode_escape"), i + 1
    if kind == "int":
        return int(text.replace("_", "")), i + 1
    if kind == "id":
        assert text in consts, f"abi.rs refers to `{text}` before defining it"
        return consts[text], i + 1
    close = {"[": "]", "(": ")"}[text]
    items, i = [], i + 1
    while toks[i][1] != close:
        v, i = _value(toks, i, consts)
        items.append(v)
        if toks[i][1] == ",":
            i += 1
    return tuple(items), i + 1


def rust_consts() -> dict[str, object]:
    """`pub const NAME: TYPE = VALUE;` of abi.rs, values as Python sees them."""
    src = re.sub(r"//[^\n]*", "", ABI_RS.read_text())
    consts: dict[str, object] = {}
    for m in re.finditer(r"^pub const (?P<name>[A-Z_][A-Z0-9_]*)\s*:\s*[^=]+=\s*(?P<value>.*?);\s*$", src,
                         re.M | re.S):
        toks = _tokens(m["value"])
        value, end = _value(toks, 0, consts)
        assert end == len(toks), f"abi.rs: {m['name']} has more than one value"
        consts[m["name"]] = value
    return consts


def python_consts() -> dict[str, object]:
    return {k: v for k, v in vars(abi).items() if re.fullmatch(r"[A-Z][A-Z0-9_]*", k)}


def test_abi_rs_is_read():
    rs = rust_consts()
    # a few anchors: if the reader breaks, the comparison below means nothing
    assert rs["MARKER_MAGIC"].startswith("cargo-mlir-marker/")
    assert isinstance(rs["TABLE_VERSION"], int)
    assert len(rs["ID_SLOTS"]) == 12 and len(rs) >= 20


def test_both_sides_have_the_same_names():
    rs, py = rust_consts(), python_consts()
    assert sorted(set(py) - set(rs)) == [], "in abi.py but not in abi.rs"
    assert sorted(set(rs) - set(py)) == [], "in abi.rs but not in abi.py"


@pytest.mark.parametrize("name", sorted(python_consts()))
def test_values_agree(name):
    rs, py = rust_consts(), python_consts()[name]
    assert name in rs, f"{name} is missing from abi.rs"
    value = rs[name]
    if isinstance(py, dict):         # a Rust array of (key, value) pairs
        assert all(isinstance(p, tuple) and len(p) == 2 for p in value), value
        assert len(dict(value)) == len(value), f"{name}: a key repeats in abi.rs"
        value = dict(value)
    elif isinstance(py, (tuple, list, frozenset, set)):
        value = type(py)(value)
    assert value == py, f"{name}: abi.rs has {value!r}, abi.py has {py!r}"


def _struct_fields(src: str, name: str) -> list[tuple[str, str]]:
    m = re.search(r"#\[repr\(C\)\]\s*pub struct " + name + r"\s*\{(?P<body>.*?)\n\}", src, re.S)
    assert m, f"runtime.rs has no #[repr(C)] struct {name}"
    body = re.sub(r"//[^\n]*", "", m["body"])
    return re.findall(r"pub (\w+)\s*:\s*([^,]+),", body)


def _rust_kind(ty: str) -> str:
    ty = ty.strip()
    if ty.startswith("*const") or ty.startswith("*mut"):
        return "ptr"
    if ty.startswith("Option<"):
        return "fn"
    return ty


def _python_kinds(layout: str) -> list[str]:
    kinds = []
    for field in layout.split(","):
        field = field.strip()
        if "*const" in field or "*mut" in field:
            kinds.append("ptr")
        elif re.search(r"\bfn\b", field):
            kinds.append("fn")
        else:
            kinds.append(field.split()[0])
    return kinds


def test_table_layout_matches_the_description_in_abi_py():
    """abi.py describes Table, Entry and Image in a comment: the runtime's
    #[repr(C)] structs have those fields, in that order, of those kinds."""
    comment = "\n".join(l.lstrip("# ") for l in Path(abi.__file__).read_text().splitlines() if l.startswith("#"))
    comment = " ".join(comment.split())
    described = {
        "Table": re.search(r"register`[^{]*\{([^}]*)\}", comment)[1],
        "KernelEntry": re.search(r"Entry \{([^}]*)\}", comment)[1],
        "Image": re.search(r"Image \{([^}]*)\}", comment)[1],
    }
    src = (CRATE / "src" / "runtime.rs").read_text()
    for struct, layout in described.items():
        fields = _struct_fields(src, struct)
        assert [_rust_kind(t) for _, t in fields] == _python_kinds(layout), (struct, fields, layout)
    entry = [n for n, _ in _struct_fields(src, "KernelEntry")]
    assert entry[-1] == "direct" and entry[2] == "host", entry
    # the direct entry's signature, as abi.py's docstring gives it: (params, ret) -> u8
    assert re.search(r"pub type DirectFn = unsafe extern \"C-unwind\" fn\(params: \*mut \*mut c_void, "
                     r"ret: \*mut c_void\) -> u8;", src)
    assert "(params, ret) -> u8" in abi.__doc__


def test_shared_names_are_spelled_only_in_abi_rs():
    """The macros include abi.rs (one Rust source); nothing else in the
    support crate writes a shared prefix, magic or environment variable."""
    macros_lib = (CRATE / "macros" / "src" / "lib.rs").read_text()
    assert re.search(r'#\[path = "\.\./\.\./src/abi\.rs"\]\s*mod abi;', macros_lib)
    assert re.search(r"^pub mod abi;", (CRATE / "src" / "lib.rs").read_text(), re.M)
    py = python_consts()
    literals = [py[k] for k in ("MARKER_PREFIX", "MARKER_MAGIC", "KERNEL_PREFIX", "ACCEL_PREFIX", "HOST_PREFIX",
                                "DIRECT_PREFIX", "LAUNCH_PREFIX", "ENV_DEVICE", "ENV_LOG", "ENV_HOST_THREADS",
                                "ENV_UNIT", "ENV_RETRY_PREFIX", "ENV_CONFIG")]
    for path in sorted(CRATE.rglob("*.rs")):
        if path == ABI_RS or "target" in path.parts:
            continue
        code = re.sub(r"//[^\n]*", "", path.read_text())
        strings = re.findall(r'"((?:[^"\\]|\\.)*)"', code)
        for lit in literals:
            assert not [s for s in strings if s.startswith(lit)], f"{path.relative_to(REPO)} spells {lit!r}"
