// cargo-mlir's native launcher: a no-op `cargo mlir build` without Python.
//
// Generated from templates/launcher/fast.rs by cargo_mlir/build/noop.py (the
// @NAMES@ come from there) and compiled once per installation. The `cargo-mlir`
// script runs it when it exists. It reads the record the last Python build
// left for this directory and these arguments (noop.py says what is in it),
// checks that nothing the record depends on changed (the environment that
// decides the build, and the status of every file the project facts and the
// build state were read from). If a no-op after that build recorded what
// cargo watches and all of it is as it was, it prints what cargo and Python
// print and runs nothing ("without cargo", below). Otherwise it runs cargo's
// pass 1 as that build did.
// When pass 1 leaves nothing for Python (no message to show, no unit with
// device work), it prints the line Python prints and exits. Anything else goes to Python, which continues
// what was started: the running cargo (its pid and stdout pipe) and what was
// read so far (a file in the state directory) go with it. Any doubt goes to
// Python too: this program never decides more than "nothing to do".

use std::collections::BTreeSet;
use std::env;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{IsTerminal, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

const MAGIC: &str = "@MAGIC@";
const ENV_EXACT: &[&str] = &[@ENV_EXACT@];
const ENV_PREFIXES: &[&str] = &[@ENV_PREFIXES@];
const ENV_IGNORED: &[&str] = &[@ENV_IGNORED@];
const STATE_ENV: &str = "@STATE_ENV@";
const BUILD_ENV: &str = "@BUILD_ENV@";
const HANDOVER_ENV: &str = "@HANDOVER_ENV@";
const BIN_ENV: &str = "@BIN_ENV@";
const PYTHON: &str = "@PYTHON@";

extern "C" {
    fn fcntl(fd: i32, cmd: i32, ...) -> i32;
    fn kill(pid: i32, sig: i32) -> i32;
}
const F_SETFD: i32 = 2;
const SIGCONT: i32 = 18;
const SIGSTOP: i32 = 19;

/// Python does what this program does not: exec'd with the same arguments.
fn python(handover: Option<String>) -> ! {
    python_after(handover, 0)
}

/// `stopped`: cargo's pid, stopped for Python to continue (or 0).
fn python_after(handover: Option<String>, stopped: u32) -> ! {
    let me = PathBuf::from(env::args_os().next().unwrap_or_default());
    let dir = me.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut cmd = Command::new(dir.join(PYTHON));
    cmd.args(env::args_os().skip(1)).env(BIN_ENV, &dir);
    if let Some(h) = handover {
        cmd.env(HANDOVER_ENV, h);
    }
    let err = cmd.exec();
    if stopped != 0 {
        unsafe { kill(stopped as i32, SIGCONT) };
    }
    eprintln!("error: cargo-mlir: cannot start {}: {}", dir.join(PYTHON).display(), err);
    std::process::exit(101)
}

/// FNV-1a, 64 bits (noop.py has the same): names the record file.
fn fnv(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in data {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// The variables that decide what Python computed, sorted `NAME=VALUE`.
fn env_key() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = env::vars_os()
        .filter(|(k, _)| {
            let k = k.to_string_lossy();
            (ENV_EXACT.contains(&k.as_ref()) || ENV_PREFIXES.iter().any(|p| k.starts_with(p)))
                && !ENV_IGNORED.contains(&k.as_ref())
        })
        .map(|(k, v)| [k.as_bytes(), b"=", v.as_bytes()].concat())
        .collect();
    out.sort();
    out
}

/// A file's status as noop.py writes it: "mtime_ns ctime_ns size inode", or "-".
fn status(path: &[u8]) -> Vec<u8> {
    match fs::metadata(OsStr::from_bytes(path)) {
        Ok(m) => stat_text(&m),
        Err(_) => b"-".to_vec(),
    }
}

struct Fields<'a> {
    parts: std::slice::Split<'a, u8, fn(&u8) -> bool>,
}

impl<'a> Fields<'a> {
    fn next(&mut self) -> Option<&'a [u8]> {
        self.parts.next()
    }
    fn count(&mut self) -> Option<usize> {
        std::str::from_utf8(self.next()?).ok()?.parse().ok()
    }
    fn list(&mut self) -> Option<Vec<&'a [u8]>> {
        let n = self.count()?;
        (0..n).map(|_| self.next()).collect()
    }
    /// A count, then as many `path, status` pairs: Some while every file's status is the same.
    fn same_files(&mut self) -> Option<()> {
        for _ in 0..self.count()? {
            let (path, stat) = (self.next()?, self.next()?);
            if status(path) != stat {
                return None;
            }
        }
        Some(())
    }
}

struct Record<'a> {
    argv: Vec<&'a [u8]>,
    env: Vec<&'a [u8]>,
    state: &'a [u8],
    finished: &'a [u8],
    root: &'a [u8],
}

/// The record, when everything it depends on is as it was; None otherwise.
fn check<'a>(data: &'a [u8], cwd: &[u8], args: &[OsString], tty: bool) -> Option<Record<'a>> {
    let mut f = Fields { parts: data.split((|b| *b == 0) as fn(&u8) -> bool) };
    if f.next()? != MAGIC.as_bytes() || f.next()? != cwd {
        return None;
    }
    let recorded = f.list()?;
    if recorded.len() != args.len() || recorded.iter().zip(args).any(|(r, a)| *r != a.as_bytes()) {
        return None;
    }
    let key = f.list()?;
    let now = env_key();
    if key.len() != now.len() || key.iter().zip(&now).any(|(k, n)| *k != n.as_slice()) {
        return None;
    }
    f.same_files()?;
    let (plain, colored) = (f.list()?, f.list()?);
    let env = f.list()?;
    let state = f.next()?;
    let (finished_plain, finished_colored) = (f.next()?, f.next()?);
    let root = f.next()?;
    if f.next()? != b"end" {
        return None;
    }
    let (argv, finished) = if tty { (colored, finished_colored) } else { (plain, finished_plain) };
    if argv.is_empty() {
        return None;
    }
    Some(Record { argv, env, state, finished, root })
}

/// A line of pass 1's JSON stream that Python would neither show nor act on:
/// a unit built or fresh, a build script's output, the end. A unit that has
/// device work is recorded by the wrapper (`unit_recorded`). Everything else
/// (a message above all: pass 2 must show it) goes to Python.
fn quiet(line: &[u8]) -> bool {
    line.starts_with(b"{\"reason\":\"compiler-artifact\"")
        || line.starts_with(b"{\"reason\":\"build-script-executed\"")
        || line.starts_with(b"{\"reason\":\"build-finished\",\"success\":true}")
}

fn build_id() -> Option<String> {
    let mut raw = [0u8; 16];
    fs::File::open("/dev/urandom").ok()?.read_exact(&mut raw).ok()?;
    Some(raw.iter().map(|b| format!("{:02x}", b)).collect())
}

/// Whether the wrapper recorded a unit during this pass 1 (work for the device step).
fn unit_recorded(state: &Path, id: &str) -> bool {
    let needle = format!("\"build_id\": \"{}\"", id);
    match fs::read_dir(state.join("units")) {
        Ok(entries) => entries.flatten().any(|e| {
            fs::read(e.path()).map(|d| d.windows(needle.len()).any(|w| w == needle.as_bytes())).unwrap_or(true)
        }),
        Err(_) => false,
    }
}

// ------------------------------------------------------------ without cargo
//
// A no-op that runs no cargo either. When pass 1 was a no-op (every unit
// fresh, nothing for Python), the launcher runs it once more with cargo's
// stderr on a pseudo-terminal of its own (what cargo prints on this no-op,
// "Finished …", as it prints it on the user's terminal) and writes, beside the
// record, what cargo's freshness depends on beyond the record's own checks:
// - every file the units' dep-info names (the outputs, the sources: also those
//   of path dependencies outside the workspace), each package's manifest and
//   the directories where cargo finds its targets (a new `src/bin/x.rs`), and the
//   build scripts' rerun-if-changed files (a directory: everything in it);
// - the variables the crates read (dep-info's env-dep), the build scripts'
//   rerun-if-env-changed, and rustc's and cargo's own (RUST*, __CARGO*).
// While every status and value is the same, cargo would do nothing: the
// launcher prints cargo's lines and Python's and starts nothing. It writes no
// such record when it cannot tell: a build script of a path package without
// rerun-if rules (cargo then watches every file of its package), a source
// changed since pass 1 started, more than WALK_LIMIT files in a watched
// directory, a line it does not know.

const FRESH_MAGIC: &str = "cargo-mlir-fresh-1";
const FRESH_SUFFIX: &str = "@FRESH_SUFFIX@";
const FRESH_ENV_PREFIXES: &[&str] = &["RUST", "__CARGO"];
// a source changed this close to (or after) pass 1's start may have changed while cargo read it
const RACY_NS: i128 = 50_000_000;
const WALK_LIMIT: usize = 10_000;

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn path_of(bytes: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(bytes))
}

/// The JSON string that starts at `line[at]` (its quote), unescaped, and where it ends.
fn json_string(line: &[u8], at: usize) -> Option<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    let mut i = at + 1;
    loop {
        match *line.get(i)? {
            b'"' => return Some((out, i + 1)),
            b'\\' => {
                let c = *line.get(i + 1)?;
                i += 2;
                match c {
                    b'"' | b'\\' | b'/' => out.push(c),
                    b'b' => out.push(8),
                    b'f' => out.push(12),
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'u' => {
                        let hex = std::str::from_utf8(line.get(i..i + 4)?).ok()?;
                        // a surrogate (never in a path cargo writes) is None: the caller gives up
                        let ch = char::from_u32(u32::from_str_radix(hex, 16).ok()?)?;
                        out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                        i += 4;
                    }
                    _ => return None,
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
}

/// The string (or array of strings, or null) of `"key":` in one of cargo's JSON messages.
fn json_strings(line: &[u8], key: &str) -> Option<Vec<Vec<u8>>> {
    let needle = format!("\"{}\":", key);
    let mut i = find(line, needle.as_bytes())? + needle.len();
    let array = line.get(i) == Some(&b'[');
    i += array as usize;
    let mut out = Vec::new();
    loop {
        match *line.get(i)? {
            b'"' => {
                let (s, end) = json_string(line, i)?;
                out.push(s);
                i = end;
                if !array {
                    return Some(out);
                }
            }
            b',' if array => i += 1,
            b']' if array => return Some(out),
            b'n' if !array && line[i..].starts_with(b"null") => return Some(out),
            _ => return None,
        }
    }
}

/// What cargo's freshness depends on (see above): files cargo wrote, files it
/// read (they must be older than pass 1), variables.
#[derive(Default)]
struct Inputs {
    outputs: BTreeSet<Vec<u8>>,
    sources: BTreeSet<Vec<u8>>,
    env: BTreeSet<Vec<u8>>,
}

/// A dep-info file: its rules' targets and inputs (relative paths are
/// `root`'s: cargo runs rustc there; `\ ` is a space), and `# env-dep:NAME=…`.
fn dep_info(data: &[u8], root: &[u8], into: &mut Inputs) {
    for line in data.split(|b| *b == b'\n') {
        if let Some(rest) = line.strip_prefix(b"# env-dep:") {
            into.env.insert(rest.split(|b| *b == b'=').next().unwrap_or(rest).to_vec());
            continue;
        }
        if line.starts_with(b"#") {
            continue;
        }
        let mut tokens: Vec<Vec<u8>> = vec![Vec::new()];
        let mut i = 0;
        while i < line.len() {
            match line[i] {
                b'\\' if line.get(i + 1) == Some(&b' ') => {
                    tokens.last_mut().unwrap().push(b' ');
                    i += 1;
                }
                b' ' => tokens.push(Vec::new()),
                b => tokens.last_mut().unwrap().push(b),
            }
            i += 1;
        }
        // `targets: inputs`; a rule without inputs names an input (rustc writes one for each)
        let tokens: Vec<Vec<u8>> = tokens.into_iter().filter(|t| !t.is_empty()).collect();
        let colon = tokens.iter().position(|t| t.last() == Some(&b':')).unwrap_or(tokens.len());
        let has_inputs = colon + 1 < tokens.len();
        for (i, mut t) in tokens.into_iter().enumerate() {
            if i == colon {
                t.pop();
            }
            if t.is_empty() {
                continue;
            }
            let path = if t.starts_with(b"/") { t } else { [root, b"/", &t].concat() };
            if i <= colon && has_inputs { into.outputs.insert(path) } else { into.sources.insert(path) };
        }
    }
}

/// `path` and, for a directory, everything in it (a build script's
/// rerun-if-changed on a directory watches all of it). None past `budget` entries.
fn walk(path: &Path, into: &mut Inputs, budget: &mut usize) -> Option<()> {
    *budget = budget.checked_sub(1)?;
    into.sources.insert(path.as_os_str().as_bytes().to_vec());
    if fs::symlink_metadata(path).map(|m| m.is_dir()).unwrap_or(false) {
        for entry in fs::read_dir(path).ok()?.flatten() {
            walk(&entry.path(), into, budget)?;
        }
    }
    Some(())
}

/// The directory of a path package, from its id (`path+file:///dir#name@1.0`).
fn package_dir(id: &[u8]) -> Option<PathBuf> {
    let url = id.strip_prefix(b"path+file://")?;
    let url = &url[..url.iter().position(|b| *b == b'#').unwrap_or(url.len())];
    let mut out = Vec::new();
    let mut i = 0;
    while i < url.len() {
        if url[i] == b'%' {
            out.push(u8::from_str_radix(std::str::from_utf8(url.get(i + 1..i + 3)?).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(url[i]);
            i += 1;
        }
    }
    Some(PathBuf::from(OsString::from_vec(out)))
}

/// A build script's rerun-if rules, from its `output` beside `out_dir`;
/// relative paths are its package's (`pkg`: None for a registry or git
/// package, whose files do not change). None for a path package's script
/// without rules: cargo runs it again when any file of the package changes.
fn build_script(out_dir: &Path, pkg: Option<&Path>, into: &mut Inputs) -> Option<()> {
    let output = out_dir.parent()?.join("output");
    let data = fs::read(&output).ok()?;
    into.sources.insert(output.as_os_str().as_bytes().to_vec());
    let mut rules = false;
    let mut budget = WALK_LIMIT;
    for line in data.split(|b| *b == b'\n') {
        let Some(rule) = line.strip_prefix(b"cargo::").or_else(|| line.strip_prefix(b"cargo:")) else { continue };
        if let Some(p) = rule.strip_prefix(b"rerun-if-changed=") {
            rules = true;
            let path = match pkg {
                _ if p.starts_with(b"/") => path_of(p).to_path_buf(),
                Some(dir) => dir.join(path_of(p)),
                None => continue,
            };
            walk(&path, into, &mut budget)?;
        } else if let Some(name) = rule.strip_prefix(b"rerun-if-env-changed=") {
            rules = true;
            into.env.insert(name.to_vec());
        }
    }
    (rules || pkg.is_none()).then_some(())
}

/// The directories in which cargo finds a path package's targets (`build.rs`,
/// `src/main.rs`, `src/bin/*.rs`, `tests/*/main.rs`, …): a file added there is
/// a new target, which no dep-info names.
fn target_dirs(manifest: &[u8], into: &mut Inputs) {
    let Some(root) = path_of(manifest).parent() else { return };
    let mut dirs = vec![root.to_path_buf(), root.join("src")];
    for sub in ["src/bin", "examples", "tests", "benches"] {
        let dir = root.join(sub);
        if let Ok(entries) = fs::read_dir(&dir) {
            dirs.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
        }
        dirs.push(dir);
    }
    into.sources.extend(dirs.into_iter().map(|d| d.into_os_string().into_vec()));
}

/// What pass 1's JSON `lines` depend on, when every unit in them was fresh;
/// the sources under `immutable` (the registry's, git's) left out.
fn inputs(lines: &[u8], root: &[u8], immutable: &[Vec<u8>]) -> Option<Inputs> {
    let mut into = Inputs::default();
    let mut dirs = BTreeSet::new();
    for line in lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        if line.starts_with(b"{\"reason\":\"compiler-artifact\"") {
            find(line, b"\"fresh\":true")?;
            for manifest in json_strings(line, "manifest_path")? {
                if !immutable.iter().any(|i| manifest.starts_with(i)) {
                    target_dirs(&manifest, &mut into);
                }
                into.sources.insert(manifest);
            }
            for file in json_strings(line, "filenames")?.into_iter().chain(json_strings(line, "executable")?) {
                // the unit's dep-info is beside its output, or in deps/ below an uplifted one
                let dir = path_of(&file).parent()?.to_path_buf();
                dirs.insert(dir.join("deps"));
                dirs.insert(dir);
                into.outputs.insert(file);
            }
        } else if line.starts_with(b"{\"reason\":\"build-script-executed\"") {
            let id = json_strings(line, "package_id")?.pop()?;
            let out_dir = json_strings(line, "out_dir")?.pop()?;
            let pkg = if id.starts_with(b"path+") { Some(package_dir(&id)?) } else { None };
            build_script(path_of(&out_dir), pkg.as_deref(), &mut into)?;
        } else if !line.starts_with(b"{\"reason\":\"build-finished\",\"success\":true}") {
            return None;
        }
    }
    for dir in dirs {
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension() == Some(OsStr::new("d")) {
                dep_info(&fs::read(&path).ok()?, root, &mut into);
            }
        }
    }
    into.sources.retain(|p| !immutable.iter().any(|i| p.starts_with(i)));
    Some(into)
}

fn stat_text(meta: &fs::Metadata) -> Vec<u8> {
    format!(
        "{} {} {} {}",
        meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
        meta.ctime() as i128 * 1_000_000_000 + meta.ctime_nsec() as i128,
        meta.size(),
        meta.ino()
    )
    .into_bytes()
}

/// Each file with its status; None when a source changed after `since_ns`
/// (less RACY_NS): it may have changed after cargo read it.
fn stamps(into: &Inputs, since_ns: i128) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut out = Vec::new();
    for p in &into.outputs {
        out.push((p.clone(), status(p)));
    }
    for p in into.sources.iter().filter(|p| !into.outputs.contains(*p)) {
        let text = match fs::metadata(path_of(p)) {
            Ok(m) => {
                let changed = (m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128)
                    .max(m.ctime() as i128 * 1_000_000_000 + m.ctime_nsec() as i128);
                if changed >= since_ns - RACY_NS {
                    return None;
                }
                stat_text(&m)
            }
            Err(_) => b"-".to_vec(),
        };
        out.push((p.clone(), text));
    }
    Some(out)
}

fn fresh_env_name(name: &[u8]) -> bool {
    let name = String::from_utf8_lossy(name);
    FRESH_ENV_PREFIXES.iter().any(|p| name.starts_with(p)) && !ENV_IGNORED.contains(&name.as_ref())
}

/// `NAME=VALUE` (or `NAME`, unset) for `names` and every variable named like rustc's and cargo's own.
fn env_entries(names: &BTreeSet<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut all = names.clone();
    all.extend(env::vars_os().map(|(k, _)| k.into_vec()).filter(|k| fresh_env_name(k)));
    all.into_iter()
        .map(|n| match env::var_os(OsStr::from_bytes(&n)) {
            Some(v) => [&n[..], b"=", v.as_bytes()].concat(),
            None => n,
        })
        .collect()
}

/// The record of a no-op without cargo: for the record whose bytes hash to
/// `record`, on a terminal or not (`tty`); cargo's `stderr` kept in two parts
/// around its seconds ("in 0.02s"), which the launcher says itself.
fn fresh_bytes(record: u64, tty: bool, stamps: &[(Vec<u8>, Vec<u8>)], env: &[Vec<u8>], stderr: &[u8]) -> Option<Vec<u8>> {
    let (before, after) = split_seconds(stderr);
    let mut fields: Vec<&[u8]> = Vec::new();
    let (hash, tty, files, vars) = (format!("{:016x}", record), if tty { "1" } else { "0" },
                                    stamps.len().to_string(), env.len().to_string());
    fields.extend([FRESH_MAGIC.as_bytes(), hash.as_bytes(), tty.as_bytes(), files.as_bytes()]);
    for (path, stat) in stamps {
        fields.extend([&path[..], &stat[..]]);
    }
    fields.push(vars.as_bytes());
    fields.extend(env.iter().map(|e| &e[..]));
    fields.extend([before, after.unwrap_or(b""), if after.is_some() { b"1" } else { b"0" }, b"end"]);
    if fields.iter().any(|f| f.contains(&0)) {
        return None;
    }
    Some(fields.join(&0u8))
}

/// `text` before and after the number of seconds in its last " in 1.23s" (None without one).
fn split_seconds(text: &[u8]) -> (&[u8], Option<&[u8]>) {
    let mut at = text.len();
    while let Some(i) = text[..at].windows(4).rposition(|w| w == b" in ") {
        let rest = &text[i + 4..];
        let int = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let frac = rest.get(int + 1..).map(|r| r.iter().take_while(|b| b.is_ascii_digit()).count()).unwrap_or(0);
        if int > 0 && rest.get(int) == Some(&b'.') && frac > 0 && rest.get(int + 1 + frac) == Some(&b's') {
            return (&text[..i + 4], Some(&rest[int + 1 + frac + 1..]));
        }
        at = i;
    }
    (text, None)
}

/// What to print for a no-op without cargo: cargo's stderr around its seconds
/// (and whether there are any), when everything the fresh record names is as it was.
fn check_fresh(data: &[u8], record: u64, tty: bool) -> Option<(&[u8], Option<&[u8]>)> {
    let mut f = Fields { parts: data.split((|b| *b == 0) as fn(&u8) -> bool) };
    if f.next()? != FRESH_MAGIC.as_bytes() || f.next()? != format!("{:016x}", record).as_bytes()
        || f.next()? != if tty { b"1" } else { b"0" }
    {
        return None;
    }
    f.same_files()?;
    let vars = f.list()?;
    let mut named = BTreeSet::new();
    for v in &vars {
        let name = &v[..v.iter().position(|b| *b == b'=').unwrap_or(v.len())];
        let now = env::var_os(OsStr::from_bytes(name));
        let same = match (now, v.len() > name.len()) {
            (Some(now), true) => now.as_bytes() == &v[name.len() + 1..],
            (None, false) => true,
            _ => false,
        };
        if !same {
            return None;
        }
        named.insert(name);
    }
    if env::vars_os().any(|(k, _)| fresh_env_name(k.as_bytes()) && !named.contains(k.as_bytes())) {
        return None;
    }
    let (before, after, timed) = (f.next()?, f.next()?, f.next()?);
    if f.next()? != b"end" {
        return None;
    }
    Some((before, if timed == b"1" { Some(after) } else { None }))
}

/// Whether every line of pass 1 is a unit that was fresh, or the end.
fn all_fresh(lines: &[u8]) -> bool {
    lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()).all(|l| {
        (l.starts_with(b"{\"reason\":\"compiler-artifact\"") && find(l, b"\"fresh\":true").is_some())
            || l.starts_with(b"{\"reason\":\"build-script-executed\"")
            || l.starts_with(b"{\"reason\":\"build-finished\",\"success\":true}")
    })
}

extern "C" {
    fn posix_openpt(flags: i32) -> i32;
    fn grantpt(fd: i32) -> i32;
    fn unlockpt(fd: i32) -> i32;
    fn ptsname_r(fd: i32, buf: *mut u8, len: usize) -> i32;
}
const O_RDWR: i32 = 2;
const O_NOCTTY: i32 = 0o400;
const O_CLOEXEC: i32 = 0o2000000;

/// A pseudo-terminal: its master, and its slave for a child's stderr.
fn pty() -> Option<(fs::File, fs::File)> {
    use std::os::unix::io::FromRawFd;
    let fd = unsafe { posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    let master = unsafe { fs::File::from_raw_fd(fd) };
    let mut name = [0u8; 128];
    if unsafe { grantpt(fd) } != 0 || unsafe { unlockpt(fd) } != 0
        || unsafe { ptsname_r(fd, name.as_mut_ptr(), name.len()) } != 0
    {
        return None;
    }
    let end = name.iter().position(|b| *b == 0)?;
    use std::os::unix::fs::OpenOptionsExt;
    let slave = fs::OpenOptions::new().read(true).write(true).custom_flags(O_NOCTTY).open(path_of(&name[..end])).ok()?;
    Some((master, slave))
}

/// Pass 1 once more, cargo's stderr captured as it prints it for the user
/// (on a pseudo-terminal when ours is one; no progress bar): its stdout and
/// stderr, when it was a no-op again.
fn no_op_again(rec: &Record, id: &str, state: &Path, tty: bool) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut cmd = pass_1(rec, id);
    let mut master = None;
    if tty {
        let (m, slave) = pty()?;
        cmd.stderr(slave);
        master = Some(m);
    } else {
        cmd.stderr(Stdio::piped());
    }
    cmd.env("CARGO_TERM_PROGRESS_WHEN", "never");
    let mut child = cmd.spawn().ok()?;
    drop(cmd); // our end of the slave: the master sees the end when cargo's is closed
    let mut err: Box<dyn Read + Send> = match master {
        Some(m) => Box::new(m),
        None => Box::new(child.stderr.take()?),
    };
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match err.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => text.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break, // a pseudo-terminal's master: EIO once the slave is closed
            }
        }
        text
    });
    let mut out = Vec::new();
    child.stdout.take()?.read_to_end(&mut out).ok()?;
    let code = child.wait().ok()?.code();
    let mut err = reader.join().ok()?;
    if tty {
        // the terminal wrote each "\n" as "\r\n"
        err = err.split(|b| *b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l)).collect::<Vec<_>>().join(&b'\n');
    }
    // waiting for another cargo (an editor's) is not what this no-op prints every time
    let waited = find(&err, b"Blocking waiting for file lock").is_some();
    (code == Some(0) && !waited && all_fresh(&out) && !unit_recorded(state, id)).then_some((out, err))
}

/// After a no-op pass 1: the record of a no-op without cargo, when the launcher can tell.
fn remember_fresh(rec: &Record, id: &str, state: &Path, tty: bool, record: u64, since_ns: i128, path: &Path) {
    let cargo_home = match env::var_os("CARGO_HOME").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => match env::var_os("HOME") {
            Some(h) => PathBuf::from(h).join(".cargo"),
            None => return,
        },
    };
    let immutable: Vec<Vec<u8>> = ["registry/", "git/"]
        .iter()
        .map(|d| [cargo_home.as_os_str().as_bytes(), b"/", d.as_bytes()].concat())
        .collect();
    let Some((out, stderr)) = no_op_again(rec, id, state, tty) else { return };
    let Some(into) = inputs(&out, rec.root, &immutable) else { return };
    let Some(stamps) = stamps(&into, since_ns) else { return };
    let Some(data) = fresh_bytes(record, tty, &stamps, &env_entries(&into.env), &stderr) else { return };
    let tmp = path.with_extension(format!("tmp-{}", id));
    if fs::write(&tmp, &data).is_err() || fs::rename(&tmp, path).is_err() {
        let _ = fs::remove_file(&tmp);
    }
}

/// The command of pass 1, as the record says.
fn pass_1(rec: &Record, id: &str) -> Command {
    let mut cmd = Command::new(OsStr::from_bytes(rec.argv[0]));
    cmd.args(rec.argv[1..].iter().map(|a| OsStr::from_bytes(a)));
    for e in &rec.env {
        match e.iter().position(|b| *b == b'=') {
            Some(i) => cmd.env(OsStr::from_bytes(&e[..i]), OsStr::from_bytes(&e[i + 1..])),
            None => cmd.env_remove(OsStr::from_bytes(e)),
        };
    }
    cmd.env(BUILD_ENV, id).stdout(Stdio::piped());
    cmd
}

/// Python takes over: what pass 1 wrote so far goes in a file, cargo (when it
/// still runs) as its pid and the read end of its stdout, kept open across exec.
/// A running cargo is stopped until Python continues it: cargo's own lines on
/// stderr ("could not compile …") then come after the messages Python shows,
/// as they do when Python runs pass 1 itself.
fn hand_over(state: &Path, id: &str, seen: &[u8], child: Option<(u32, i32)>, status: i32, env_hash: u64,
             started: f64) -> ! {
    if let Some((pid, _)) = child {
        unsafe { kill(pid as i32, SIGSTOP) };
    }
    let file = state.join(format!("pass1-{}", id));
    if fs::write(&file, seen).is_err() {
        // Python could not know what was read: cargo finishes unread, then Python builds again
        if let Some((pid, _)) = child {
            unsafe { kill(pid as i32, SIGCONT) };
        }
        eprintln!("warning: cargo-mlir: cannot write {}", file.display());
        python(None)
    }
    let (pid, fd) = child.unwrap_or((0, -1));
    if fd >= 0 {
        unsafe { fcntl(fd, F_SETFD, 0) };
    }
    python_after(Some(format!("{}\t{}\t{}\t{}\t{}\t{:016x}\t{:.6}", id, pid, fd, status, file.display(), env_hash,
                        started)), pid)
}

fn main() {
    let started = Instant::now();
    let epoch = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    let mut args: Vec<OsString> = env::args_os().skip(1).collect();
    if args.first().map(|a| a == "--cargo-mlir-launcher").unwrap_or(false) {
        println!("{}", MAGIC); // noop.py checks a new launcher with this before it installs it
        return;
    }
    if args.first().map(|a| a == "mlir").unwrap_or(false) {
        args.remove(0);
    }
    if args.first().map(|a| a != "build").unwrap_or(true) || env::var_os(STATE_ENV).is_some() {
        python(None);
    }
    let args = &args[1..];
    let cwd = match env::current_dir() {
        Ok(d) => d.into_os_string().into_vec(),
        Err(_) => python(None),
    };
    let mut key = cwd.clone();
    for a in args {
        key.push(0);
        key.extend_from_slice(a.as_bytes());
    }
    let cache = match env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => match env::var_os("HOME") {
            Some(h) => PathBuf::from(h).join(".cache"),
            None => python(None),
        },
    };
    let path = cache.join("cargo-mlir").join("noop").join(format!("{:016x}", fnv(&key)));
    let data = fs::read(&path).unwrap_or_else(|_| python(None));
    let tty = std::io::stderr().is_terminal();
    let rec = check(&data, &cwd, args, tty).unwrap_or_else(|| python(None));
    let record = fnv(&data);
    let mut fresh = path.clone().into_os_string();
    fresh.push(FRESH_SUFFIX);
    let fresh = PathBuf::from(fresh);
    if let Some((before, after)) = fs::read(&fresh).ok().as_deref().and_then(|d| check_fresh(d, record, tty)) {
        let secs = format!("{:.2}s", started.elapsed().as_secs_f64());
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(before);
        if let Some(after) = after {
            let _ = err.write_all(secs.as_bytes());
            let _ = err.write_all(after);
        }
        if !rec.finished.is_empty() {
            let _ = err.write_all(rec.finished);
            let _ = writeln!(err, "{:.2}s", started.elapsed().as_secs_f64());
        }
        return;
    }
    let id = build_id().unwrap_or_else(|| python(None));

    let mut block: Vec<u8> = Vec::new();
    for part in rec.argv.iter().chain(rec.env.iter()) {
        block.extend_from_slice(part);
        block.push(0);
    }
    let env_hash = fnv(&block);
    let mut child = pass_1(&rec, &id).spawn().unwrap_or_else(|_| python(None));
    let state = PathBuf::from(OsStr::from_bytes(rec.state));
    // where the wrappers record how cargo compiles libraries (Python makes it too)
    let _ = fs::create_dir_all(state.join("rustc"));
    let mut out = child.stdout.take().expect("piped");
    let fd = out.as_raw_fd();
    let mut seen: Vec<u8> = Vec::new();
    let mut checked = 0;
    let mut buf = [0u8; 65536];
    loop {
        let n = match out.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        seen.extend_from_slice(&buf[..n]);
        while let Some(end) = seen[checked..].iter().position(|b| *b == b'\n') {
            let line = &seen[checked..checked + end];
            if !quiet(line) {
                hand_over(&state, &id, &seen, Some((child.id(), fd)), 0, env_hash, epoch);
            }
            checked += end + 1;
        }
    }
    drop(out);
    let code = match child.wait() {
        Ok(s) => s.code().unwrap_or(1),
        Err(_) => 1,
    };
    if code != 0 || checked != seen.len() || unit_recorded(&state, &id) {
        hand_over(&state, &id, &seen, None, code, env_hash, epoch);
    }
    if all_fresh(&seen) {
        remember_fresh(&rec, &id, &state, tty, record, (epoch * 1e9) as i128, &fresh);
    }
    if !rec.finished.is_empty() {
        let secs = started.elapsed().as_secs_f64();
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(rec.finished);
        let _ = writeln!(err, "{:.2}s", secs);
    }
}

// The parts that read cargo's files (tests/unit/test_noop_record.py compiles
// and runs them with `rustc --test`).
#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: &[&str]) -> BTreeSet<Vec<u8>> {
        v.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn json_values_are_unescaped() {
        let line = br#"{"reason":"compiler-artifact","package_id":"path+file:///a%20b/c#0.1.0","filenames":["/t/a \"q\".rlib","/t/\\x\u00e9"],"executable":null,"fresh":true}"#;
        assert_eq!(json_strings(line, "package_id"), Some(vec![b"path+file:///a%20b/c#0.1.0".to_vec()]));
        assert_eq!(json_strings(line, "filenames"), Some(vec![b"/t/a \"q\".rlib".to_vec(), "/t/\\xé".as_bytes().to_vec()]));
        assert_eq!(json_strings(line, "executable"), Some(vec![]));
        assert_eq!(json_strings(line, "out_dir"), None);
        assert_eq!(json_strings(br#"{"filenames":["/t/\ud800"]}"#, "filenames"), None);
        assert_eq!(package_dir(b"path+file:///a%20b/c#name@0.1.0"), Some(PathBuf::from("/a b/c")));
        assert_eq!(package_dir(b"registry+https://x#a@1"), None);
    }

    #[test]
    fn dep_info_names_outputs_inputs_and_variables() {
        let d = b"/t/deps/app-1.d: src/main.rs /abs/with\\ space.rs /t/lib/libk.a\n\n\
                  /t/deps/app-1: src/main.rs /abs/with\\ space.rs\n\nsrc/main.rs:\n/abs/with\\ space.rs:\n\n\
                  # env-dep:APP_GREETING=hi=there\n# env-dep:UNSET\n# checksum:whatever\n";
        let mut into = Inputs::default();
        dep_info(d, b"/ws", &mut into);
        assert_eq!(into.outputs, strs(&["/t/deps/app-1.d", "/t/deps/app-1"]));
        assert_eq!(into.sources, strs(&["/ws/src/main.rs", "/abs/with space.rs", "/t/lib/libk.a"]));
        assert_eq!(into.env, strs(&["APP_GREETING", "UNSET"]));
    }

    #[test]
    fn cargos_seconds_are_found_in_its_last_line() {
        let text = b"warning: in 3.0s\n\x1b[1m    Finished\x1b[0m `dev` profile in 12.34s\n";
        assert_eq!(split_seconds(text), (&b"warning: in 3.0s\n\x1b[1m    Finished\x1b[0m `dev` profile in "[..],
                                         Some(&b"\n"[..])));
        assert_eq!(split_seconds(b"no time here in s\n"), (&b"no time here in s\n"[..], None));
        assert_eq!(split_seconds(b""), (&b""[..], None));
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = env::temp_dir().join(format!("cargo-mlir-launcher-test-{}-{}", name, std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn build_scripts_rules_are_read_and_a_path_package_without_rules_is_not_trusted() {
        let dir = scratch("script");
        let out = dir.join("build").join("out");
        fs::create_dir_all(&out).unwrap();
        fs::create_dir_all(dir.join("pkg").join("data").join("sub")).unwrap();
        fs::write(dir.join("pkg").join("data").join("sub").join("x"), "x").unwrap();
        fs::write(dir.join("build").join("output"),
                  "cargo:rerun-if-changed=data\ncargo::rerun-if-env-changed=LEVEL\ncargo:rerun-if-changed=/abs\n").unwrap();
        let mut into = Inputs::default();
        assert!(build_script(&out, Some(&dir.join("pkg")), &mut into).is_some());
        let p = |s: &str| dir.join(s).as_os_str().as_bytes().to_vec();
        let mut want: BTreeSet<Vec<u8>> = ["pkg/data", "pkg/data/sub", "pkg/data/sub/x", "build/output"].iter().map(|s| p(s)).collect();
        want.insert(b"/abs".to_vec());
        assert_eq!(into.sources, want);
        assert_eq!(into.env, strs(&["LEVEL"]));
        // a registry package's relative paths do not change; a path package's script without rules watches it all
        fs::write(dir.join("build").join("output"), "cargo:rustc-cfg=x\n").unwrap();
        assert!(build_script(&out, None, &mut Inputs::default()).is_some());
        assert!(build_script(&out, Some(&dir.join("pkg")), &mut Inputs::default()).is_none());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_unit_that_was_not_fresh_or_an_unknown_line_gives_up() {
        let fresh = b"{\"reason\":\"compiler-artifact\",\"manifest_path\":\"/m/Cargo.toml\",\"filenames\":[\"/nowhere/x\"],\"executable\":null,\"fresh\":true}\n{\"reason\":\"build-finished\",\"success\":true}\n";
        let into = inputs(fresh, b"/ws", &[]).unwrap();
        assert_eq!(into.outputs, strs(&["/nowhere/x"]));
        assert_eq!(into.sources, strs(&["/m/Cargo.toml", "/m", "/m/src", "/m/src/bin", "/m/examples", "/m/tests",
                                        "/m/benches"]));
        assert!(all_fresh(fresh));
        let built = String::from_utf8_lossy(fresh).replace("\"fresh\":true", "\"fresh\":false");
        assert!(inputs(built.as_bytes(), b"/ws", &[]).is_none() && !all_fresh(built.as_bytes()));
        assert!(inputs(b"{\"reason\":\"compiler-message\"}\n", b"/ws", &[]).is_none());
        // the registry's sources are left out
        let reg = String::from_utf8_lossy(fresh).replace("/m/Cargo.toml", "/home/.cargo/registry/x/Cargo.toml");
        assert!(inputs(reg.as_bytes(), b"/ws", &[b"/home/.cargo/registry/".to_vec()]).unwrap().sources.is_empty());
    }

    #[test]
    fn a_source_changed_since_the_start_is_not_trusted() {
        let dir = scratch("racy");
        let file = dir.join("src.rs");
        fs::write(&file, "x").unwrap();
        let mut into = Inputs::default();
        into.sources.insert(file.as_os_str().as_bytes().to_vec());
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as i128;
        assert!(stamps(&into, now).is_none());
        assert!(stamps(&into, now + RACY_NS / 2).is_none()); // within the margin
        let stamped = stamps(&into, now + 3600 * 1_000_000_000).unwrap(); // a start an hour later
        assert_eq!(stamped, vec![(file.as_os_str().as_bytes().to_vec(), status(file.as_os_str().as_bytes()))]);
        // an output may be new: cargo wrote it
        let mut outputs = Inputs::default();
        outputs.outputs.insert(file.as_os_str().as_bytes().to_vec());
        assert!(stamps(&outputs, now).is_some());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_fresh_record_holds_while_files_and_variables_are_as_they_were() {
        let dir = scratch("fresh");
        let file = dir.join("a");
        fs::write(&file, "x").unwrap();
        let path = file.as_os_str().as_bytes().to_vec();
        let stamps = vec![(path.clone(), status(&path))];
        let var = format!("CARGO_MLIR_LAUNCHER_TEST_{}", std::process::id());
        env::set_var(&var, "1");
        let mut names = BTreeSet::new();
        names.insert(var.as_bytes().to_vec());
        names.insert(b"CARGO_MLIR_LAUNCHER_TEST_UNSET".to_vec());
        let stderr = b"    Finished `dev` profile in 0.02s\n";
        let data = fresh_bytes(7, false, &stamps, &env_entries(&names), stderr).unwrap();
        assert_eq!(check_fresh(&data, 7, false), Some((&b"    Finished `dev` profile in "[..], Some(&b"\n"[..]))));
        assert_eq!(check_fresh(&data, 8, false), None); // another record
        assert_eq!(check_fresh(&data, 7, true), None); // made off a terminal
        env::set_var(&var, "2");
        assert_eq!(check_fresh(&data, 7, false), None);
        env::set_var(&var, "1");
        env::set_var("RUSTFLAGS_LAUNCHER_TEST", "x"); // a new variable named like rustc's
        assert_eq!(check_fresh(&data, 7, false), None);
        env::remove_var("RUSTFLAGS_LAUNCHER_TEST");
        assert!(check_fresh(&data, 7, false).is_some());
        fs::write(&file, "y").unwrap();
        assert_eq!(check_fresh(&data, 7, false), None);
        let _ = fs::remove_dir_all(&dir);
    }
}
