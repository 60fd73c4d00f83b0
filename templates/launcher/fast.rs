// cargo-mlir's native launcher: a no-op `cargo mlir build` without Python.
//
// Generated from templates/launcher/fast.rs by cargo_mlir/build/noop.py (the
// @NAMES@ come from there) and compiled once per installation. The `cargo-mlir`
// script runs it when it exists. It reads the record the last Python build
// left for this directory and these arguments (noop.py says what is in it),
// checks that nothing the record depends on changed (the environment that
// decides the build, and the status of every file the project facts and the
// build state were read from), then runs cargo's pass 1 as that build did.
// When pass 1 leaves nothing for Python (no message to show, no unit with
// device work), it prints the line Python prints and exits. Anything else goes to Python, which continues
// what was started: the running cargo (its pid and stdout pipe) and what was
// read so far (a file in the state directory) go with it. Any doubt goes to
// Python too: this program never decides more than "nothing to do".

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
        Ok(m) => format!(
            "{} {} {} {}",
            m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
            m.ctime() as i128 * 1_000_000_000 + m.ctime_nsec() as i128,
            m.size(),
            m.ino()
        )
        .into_bytes(),
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
}

struct Record<'a> {
    argv: Vec<&'a [u8]>,
    env: Vec<&'a [u8]>,
    state: &'a [u8],
    finished: &'a [u8],
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
    let files = f.count()?;
    for _ in 0..files {
        let (path, stat) = (f.next()?, f.next()?);
        if status(path) != stat {
            return None;
        }
    }
    let (plain, colored) = (f.list()?, f.list()?);
    let env = f.list()?;
    let state = f.next()?;
    let (finished_plain, finished_colored) = (f.next()?, f.next()?);
    if f.next()? != b"end" {
        return None;
    }
    let (argv, finished) = if tty { (colored, finished_colored) } else { (plain, finished_plain) };
    if argv.is_empty() {
        return None;
    }
    Some(Record { argv, env, state, finished })
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
    let id = build_id().unwrap_or_else(|| python(None));

    let mut block: Vec<u8> = Vec::new();
    for part in rec.argv.iter().chain(rec.env.iter()) {
        block.extend_from_slice(part);
        block.push(0);
    }
    let env_hash = fnv(&block);
    let mut cmd = Command::new(OsStr::from_bytes(rec.argv[0]));
    cmd.args(rec.argv[1..].iter().map(|a| OsStr::from_bytes(a)));
    for e in &rec.env {
        match e.iter().position(|b| *b == b'=') {
            Some(i) => cmd.env(OsStr::from_bytes(&e[..i]), OsStr::from_bytes(&e[i + 1..])),
            None => cmd.env_remove(OsStr::from_bytes(e)),
        };
    }
    cmd.env(BUILD_ENV, &id).stdout(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|_| python(None));
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
    if !rec.finished.is_empty() {
        let secs = started.elapsed().as_secs_f64();
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(rec.finished);
        let _ = writeln!(err, "{:.2}s", secs);
    }
}
