"""Reports of `cargo mlir ci`, as pure functions: libtest's text output parsed
into suites and cases, report.json's stages as cases, and both written as
JUnit XML (the Jenkins/Ant schema that GitHub, GitLab and Jenkins read).

libtest's stable output is text only (`--format json` needs nightly), so the
parser reads the default "pretty" format: `Running …`/`Doc-tests …` headers
(cargo, on stderr), `test NAME ... ok|FAILED|ignored`, `---- NAME stdout ----`
failure sections and one `test result:` line per test binary."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import PurePath

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")     # not allowed in XML 1.0
_RUNNING = re.compile(r"^\s*Running (?P<what>.+?) \((?P<exe>[^()]+)\)$")
_DOCTESTS = re.compile(r"^\s*Doc-tests (?P<crate>\S+)$")
_RUNNING_N = re.compile(r"^running \d+ tests?$")
_CASE = re.compile(r"^test (?P<name>.+?)(?: - should panic(?: with .*)?)? \.\.\. "
                   r"(?P<result>ok|FAILED|ignored|bench:)(?:, (?P<reason>.*)|\s.*)?$")
_SECTION = re.compile(r"^---- (?P<name>.+) (?:stdout|stderr) ----$")
_RESULT = re.compile(r"^test result: (?:ok|FAILED)\. (?P<passed>\d+) passed; (?P<failed>\d+) failed; "
                     r"(?P<ignored>\d+) ignored; (?P<measured>\d+) measured; (?P<filtered>\d+) filtered out"
                     r"(?:; finished in (?P<time>[\d.]+)s)?")
STATUSES = ("passed", "failed", "skipped", "error")


@dataclass
class Case:
    classname: str
    name: str
    status: str = "passed"          # one of STATUSES
    time: float = 0.0
    message: str = ""               # failure or skip message, one line
    output: str = ""                # failure text (captured output, tool output)


@dataclass
class Suite:
    name: str
    cases: list[Case] = field(default_factory=list)
    time: float = 0.0
    crate: str = ""
    reported: dict[str, int] | None = None      # counts of libtest's `test result:` line
    tail: list[str] = field(default_factory=list)  # unparsed lines: why a binary died

    def count(self, status: str) -> int:
        return sum(c.status == status for c in self.cases)


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def panic_message(output: str) -> str:
    """The first line of the panic message in a failure section (Rust ≥ 1.73
    puts it on the line after `panicked at FILE:LINE:COL:`)."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if " panicked at " in line:
            rest = line.split(" panicked at ", 1)[1]
            if rest.endswith(":") and i + 1 < len(lines) and lines[i + 1].strip():
                return lines[i + 1].strip()
            return rest.strip()
    first = next((l.strip() for l in lines if l.strip()), "")
    return first or "test failed"


def _crate_of(exe: str) -> str:
    """`target/debug/deps/saxpy-7ca6c019d741c46f` → `saxpy`."""
    stem = PurePath(exe).name
    return stem.rsplit("-", 1)[0] if re.search(r"-[0-9a-f]{16}$", stem) else stem


def _case(suite: Suite, name: str, result: str, reason: str | None) -> Case:
    # the name stays libtest's full path: what `cargo test NAME` takes to rerun it
    classname = f"{suite.crate}.doctests" if suite.name.startswith("Doc-tests") else suite.crate
    status = {"ok": "passed", "bench:": "passed", "FAILED": "failed", "ignored": "skipped"}[result]
    return Case(classname, name, status, message=(reason or "ignored") if status == "skipped" else "")


def _attach(suite: Suite | None, sections: dict[str, list[str]]) -> None:
    by_name = {c.name: c for c in suite.cases} if suite else {}
    for name, lines in sections.items():
        if name in by_name:
            body = "\n".join(lines).strip("\n")
            by_name[name].output, by_name[name].message = body, panic_message(body)
    sections.clear()


def parse_libtest(text: str) -> list[Suite]:
    """Suites (one per test binary, doc-tests included) from `cargo test` output
    with stdout and stderr merged in order. A header only counts once its
    binary says `running N tests` (cargo -v prints other `Running` lines)."""
    suites: list[Suite] = []
    suite: Suite | None = None
    section: list[str] | None = None
    sections: dict[str, list[str]] = {}
    for raw in strip_ansi(text).splitlines():
        line = raw.rstrip("\r")
        header = _RUNNING.match(line) or _DOCTESTS.match(line)
        if header:
            _attach(suite, sections)
            section = None
            if "exe" in header.groupdict():
                crate = _crate_of(header["exe"])
                suite = Suite(f"{crate}: {header['what']}", crate=crate)
            else:
                suite = Suite(f"Doc-tests {header['crate']}", crate=header["crate"].replace("-", "_"))
            continue
        if _RUNNING_N.match(line):
            suite = suite or Suite("tests", crate="tests")      # a test binary run by hand
            if not suites or suites[-1] is not suite:
                suites.append(suite)
            continue
        if suite is None or not suites or suites[-1] is not suite:
            continue
        if section is not None:
            if not (_SECTION.match(line) or line == "failures:" or _RESULT.match(line)):
                section.append(line)
                continue
            section = None
        if m := _CASE.match(line):
            suite.cases.append(_case(suite, m["name"], m["result"], m["reason"]))
        elif m := _SECTION.match(line):
            section = sections.setdefault(m["name"], [])
        elif m := _RESULT.match(line):
            suite.reported = {k: int(m[k]) for k in ("passed", "failed", "ignored", "measured", "filtered")}
            suite.time = float(m["time"] or 0.0)
        elif line.strip():
            suite.tail.append(line)
    _attach(suite, sections)
    for s in suites:
        if s.reported is None:      # the binary died (signal, abort) before its summary
            s.cases.append(Case(s.crate, "(test binary)", "error",
                                message="the test binary exited before reporting its results",
                                output="\n".join(s.tail[-40:])))
    return suites


def stage_suites(report: dict) -> list[Suite]:
    """One suite per compiled unit of report.json: a case per pipeline stage of
    each kernel × target, and a `check` case that fails on error findings."""
    suites: dict[str, Suite] = {}
    for e in report.get("kernels", []):
        kind = "test" if e.get("test") else "lib"
        label = f"cargo-mlir stages: {e.get('package')} ({kind} `{e.get('crate')}`) [{e.get('unit')}]"
        suite = suites.setdefault(label, Suite(label, crate=str(e.get("crate", ""))))
        classname = f"cargo-mlir.stages.{e['kernel']}.{e['target']}"
        for stage, seconds in e.get("timings", {}).items():
            suite.cases.append(Case(classname, stage, time=float(seconds)))
        errors = [f["message"] for f in e.get("findings", []) if f.get("level") == "error"]
        others = [f"{f.get('level')}: {f['message']}" for f in e.get("findings", []) if f.get("level") != "error"]
        check = Case(classname, "check", output="\n".join(errors + others))
        if errors:
            check.status, check.message = "failed", errors[0]
        suite.cases.append(check)
    for s in suites.values():
        s.time = sum(c.time for c in s.cases)
    return list(suites.values())


def _counts(suites: list[Suite]) -> dict[str, str]:
    cases = [c for s in suites for c in s.cases]
    return {"tests": str(len(cases)), "failures": str(sum(c.status == "failed" for c in cases)),
            "errors": str(sum(c.status == "error" for c in cases)),
            "skipped": str(sum(c.status == "skipped" for c in cases))}


def _x(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def to_junit(suites: list[Suite], *, name: str = "cargo mlir ci", timestamp: str | None = None) -> str:
    """JUnit XML: <testsuites> of <testsuite name tests failures errors skipped
    time> of <testcase classname name time> with <failure>/<error>/<skipped>."""
    root = ET.Element("testsuites", name=_x(name), **_counts(suites), time=f"{sum(s.time for s in suites):.3f}")
    for i, s in enumerate(suites):
        el = ET.SubElement(root, "testsuite", name=_x(s.name), id=str(i), **_counts([s]), time=f"{s.time:.3f}",
                           **({"timestamp": timestamp} if timestamp else {}))
        for c in s.cases:
            tc = ET.SubElement(el, "testcase", classname=_x(c.classname), name=_x(c.name), time=f"{c.time:.3f}")
            if c.status in ("failed", "error"):
                tag = "failure" if c.status == "failed" else "error"
                detail = ET.SubElement(tc, tag, message=_x(c.message or c.status), type=tag)
                detail.text = _x(c.output)
            elif c.status == "skipped":
                ET.SubElement(tc, "skipped", message=_x(c.message))
            elif c.output:
                ET.SubElement(tc, "system-out").text = _x(c.output)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def kernel_matrix(report: dict) -> tuple[list[str], dict[tuple[str, str], dict[str, dict]]]:
    """Targets (host first) and, per (package, kernel), per target: total stage
    seconds over every unit that compiled it, unit count, errors."""
    targets: list[str] = []
    rows: dict[tuple[str, str], dict[str, dict]] = {}
    for e in report.get("kernels", []):
        if e["target"] not in targets:
            targets.append(e["target"])
        cell = rows.setdefault((str(e.get("package", "")), e["kernel"]), {}).setdefault(
            e["target"], {"seconds": 0.0, "units": 0, "errors": 0, "cached": True})
        cell["seconds"] += sum(e.get("timings", {}).values())
        cell["units"] += 1
        cell["errors"] += sum(f.get("level") == "error" for f in e.get("findings", []))
        cell["cached"] = cell["cached"] and bool(e.get("cached"))
    targets.sort(key=lambda t: t != "host")
    return targets, rows


def _cell(c: dict | None) -> str:
    if c is None:
        return "–"
    text = "error" if c["errors"] else f"{c['seconds']:.2f} s" + (" (cached)" if c["cached"] else "")
    return text + (f" ×{c['units']} units" if c["units"] > 1 else "")


def summary_markdown(*, steps: list[Case], tests: list[Suite], report: dict | None,
                     versions: dict[str, str], failed: Case | None) -> str:
    """The Markdown summary: versions, steps, kernels × targets, test counts, failures."""
    out = [f"## cargo mlir ci: {'failed at step `' + failed.name + '`' if failed else 'passed'}", ""]
    if versions:
        out += [" · ".join(f"{k} {v}" for k, v in versions.items()), ""]
    out += ["| step | result | time |", "|---|---|---|"]
    out += [f"| {s.name} | {'ok' if s.status == 'passed' else s.status} | {s.time:.2f} s |" for s in steps]
    targets, rows = kernel_matrix(report or {})
    out += ["", f"### Kernels × targets ({len(rows)} kernel{'s' * (len(rows) != 1)}, "
                f"{len(targets)} target{'s' * (len(targets) != 1)}: total stage time)", ""]
    if report is None:
        out.append("No device report: the build did not reach the device step.")
    elif not rows:
        out.append("No kernels: no crate in this build marks a function for offload.")
    else:
        out += ["| kernel | package | " + " | ".join(targets) + " |", "|---|---|" + "---|" * len(targets)]
        out += [f"| `{_md(k)}` | {_md(p)} | " + " | ".join(_cell(cells.get(t)) for t in targets) + " |"
                for (p, k), cells in sorted(rows.items())]
    n = {s: sum(x.count(s) for x in tests) for s in STATUSES}
    out += ["", f"### Tests: {n['passed']} passed, {n['failed']} failed, {n['skipped']} ignored"
                + (f", {n['error']} errors" if n["error"] else ""), ""]
    if tests:
        out += ["| test binary | passed | failed | ignored | time |", "|---|---|---|---|---|"]
        out += [f"| {_md(s.name)} | {s.count('passed')} | {s.count('failed') + s.count('error')} | "
                f"{s.count('skipped')} | {s.time:.2f} s |" for s in tests]
    else:
        out.append("No test results.")
    bad = [(s, c) for s in tests for c in s.cases if c.status in ("failed", "error")]
    if bad or failed:
        out += ["", "### Failures", ""]
        out += [f"- `{_md(c.classname)}` `{_md(c.name)}`: {_md(c.message)}" for _, c in bad]
        if failed:
            out.append(f"- step `{failed.name}`: {_md(failed.message)}")
    return "\n".join(out) + "\n"
