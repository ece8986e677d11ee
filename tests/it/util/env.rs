//! Shared end-to-end test harness: a temp dir with a real SQLite database, a
//! cleared environment, and the real binary (`CARGO_BIN_EXE_mex2fa`).
//! Python (pyotp + cryptography) plays the MeXanimatoR app.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use assert_cmd::Command;
use rusqlite::Connection;
use tempfile::TempDir;

/// A fixed, valid Fernet key (the Fernet spec's test key).
pub const KEY: &str = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
/// A second valid key, for rotation and wrong-key tests.
pub const KEY2: &str = "V3Rz0yPq0lmU2x9ZbJ2iK1mWqKJ9b0sXj3p0Kx2qkFQ=";

/// The app's reference schema (contract §1); the secret column is a BLOB as
/// Python's sqlite3 writes `bytes`.
pub const SCHEMA_BLOB: &str = "CREATE TABLE account (
    accountid INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT UNIQUE NOT NULL,
    email TEXT,
    password TEXT,
    twofa_enabled INTEGER DEFAULT 0,
    twofa_secret BLOB
);";

/// The same with a TEXT secret column (other deployments).
pub const SCHEMA_TEXT: &str = "CREATE TABLE account (
    accountid INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT UNIQUE NOT NULL,
    email TEXT,
    password TEXT,
    twofa_enabled INTEGER DEFAULT 0,
    twofa_secret TEXT
);";

pub struct TestEnv {
    pub dir: TempDir,
    pub db: PathBuf,
    pub key_file: PathBuf,
}

impl TestEnv {
    /// Reference schema (BLOB secret) with users alice, bob, carol.
    pub fn new() -> TestEnv {
        TestEnv::with_schema(SCHEMA_BLOB)
    }

    pub fn with_schema(schema: &str) -> TestEnv {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("app.db");
        let conn = Connection::open(&db).expect("create db");
        conn.execute_batch(schema).expect("schema");
        for (u, e) in [
            ("alice", "alice@example.com"),
            ("bob", "bob@example.com"),
            ("carol", "carol@example.com"),
        ] {
            conn.execute(
                "INSERT INTO account (username, email, password) VALUES (?1, ?2, 'pw')",
                [u, e],
            )
            .expect("insert");
        }
        drop(conn);
        let key_file = dir.path().join("master.key");
        write_mode(&key_file, &format!("{KEY}\n"), 0o600);
        TestEnv { dir, db, key_file }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The binary with a cleared environment, run in the temp dir, pointed at
    /// the database, with the master key in TWOFA_MASTER_KEY.
    pub fn cmd(&self) -> Command {
        let mut c = self.bare();
        c.env("MEX2FA_DB", &self.db).env("TWOFA_MASTER_KEY", KEY);
        c
    }

    /// The binary with a cleared environment and nothing configured.
    pub fn bare(&self) -> Command {
        let mut c = Command::new(bin());
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("USER", "tester")
            .current_dir(self.dir.path())
            .write_stdin("");
        c
    }

    pub fn conn(&self) -> Connection {
        Connection::open(&self.db).expect("open db")
    }

    /// The whole database file, to prove a failed command changed nothing.
    pub fn snapshot(&self) -> Vec<u8> {
        std::fs::read(&self.db).expect("read db")
    }

    /// (enabled, secret as stored: None, Some(Blob) or Some(Text)).
    pub fn row(&self, user: &str) -> (i64, rusqlite::types::Value) {
        self.conn()
            .query_row(
                "SELECT twofa_enabled, twofa_secret FROM account WHERE username = ?1",
                [user],
                |r| Ok((r.get::<_, Option<i64>>(0)?.unwrap_or(0), r.get(1)?)),
            )
            .expect("row")
    }

    /// Enrolls `user` with --json --show-secret and returns the secret.
    pub fn enroll(&self, user: &str) -> String {
        let out = self
            .cmd()
            .args(["enroll", user, "--json", "--show-secret"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let v: serde_json::Value = serde_json::from_slice(&out).expect("enroll json");
        v["secret"].as_str().expect("secret").to_string()
    }

    /// Enrolls and confirms `user` through the binary; returns the secret.
    pub fn enable(&self, user: &str) -> String {
        let secret = self.enroll(user);
        self.cmd()
            .args(["confirm", user, "--code", &totp_now(&secret)])
            .assert()
            .success();
        secret
    }
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mex2fa"))
}

pub fn write_mode(path: &Path, text: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// RFC 6238 SHA1/6/30 computed independently of the binary (HMAC-SHA1 by hand
/// would be a second implementation; Python's pyotp is the reference when
/// present, and this fallback uses the same math as the RFC's Java code).
pub fn totp_at(secret_b32: &str, t: u64) -> String {
    let key = base32_decode(secret_b32);
    let counter = (t / 30).to_be_bytes();
    let mac = hmac_sha1(&key, &counter);
    let off = (mac[19] & 0x0f) as usize;
    let bin = (u32::from(mac[off]) & 0x7f) << 24
        | u32::from(mac[off + 1]) << 16
        | u32::from(mac[off + 2]) << 8
        | u32::from(mac[off + 3]);
    format!("{:06}", bin % 1_000_000)
}

pub fn totp_now(secret_b32: &str) -> String {
    totp_at(secret_b32, now())
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn base32_decode(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut acc, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in s.trim_end_matches('=').bytes() {
        let v = A
            .iter()
            .position(|&a| a == c.to_ascii_uppercase())
            .expect("base32") as u32;
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    let bitlen = (data.len() as u64) * 8;
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bitlen.to_be_bytes());
    for chunk in msg.chunks(64) {
        let mut w = [0u32; 80];
        for i in 0..16 {
            w[i] = u32::from_be_bytes(chunk[i * 4..i * 4 + 4].try_into().unwrap());
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let (mut a, mut b, mut c, mut d, mut e) = (h[0], h[1], h[2], h[3], h[4]);
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, v) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&v.to_be_bytes());
    }
    out
}

fn hmac_sha1(key: &[u8], msg: &[u8]) -> [u8; 20] {
    let mut k = if key.len() > 64 {
        sha1(key).to_vec()
    } else {
        key.to_vec()
    };
    k.resize(64, 0);
    let ipad: Vec<u8> = k
        .iter()
        .map(|b| b ^ 0x36)
        .chain(msg.iter().copied())
        .collect();
    let inner = sha1(&ipad);
    let opad: Vec<u8> = k
        .iter()
        .map(|b| b ^ 0x5c)
        .chain(inner.iter().copied())
        .collect();
    sha1(&opad)
}

/// The Python that plays the app: `MEX2FA_TEST_PYTHON` (set by scripts/test),
/// else `python3` if it has pyotp and cryptography. Under CI=true a missing
/// Python is a failure, not a skip.
pub fn python() -> Option<PathBuf> {
    let candidate = std::env::var_os("MEX2FA_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"));
    let ok = StdCommand::new(&candidate)
        .args(["-c", "import pyotp, cryptography"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        return Some(candidate);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "CI=true but no Python with pyotp and cryptography ({}); run scripts/test",
            candidate.display()
        );
    }
    eprintln!("skipping: no Python with pyotp and cryptography; run scripts/test");
    None
}

/// Runs `tests/py/app.py ARGS` (the app's side) and returns its stdout, trimmed.
pub fn py(python: &Path, args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/app.py");
    let out = StdCommand::new(python)
        .arg(script)
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf8")
        .trim_end_matches('\n')
        .to_string()
}

// ---------------------------------------------------------------------------
// QR codes read back from mex2fa's output (appended for tests/qr.rs and
// tests/readme.rs): the text forms are turned back into a grid of modules and
// decoded with rqrr, an implementation independent of the `qrcode` crate.

/// Detects and decodes exactly one code in an rqrr `PreparedImage` (a macro:
/// rqrr does not export the image buffer type to name in a signature).
macro_rules! decode_prepared {
    ($img:expr) => {{
        let mut img = $img;
        let grids = img.detect_grids();
        match grids.as_slice() {
            [grid] => grid
                .decode()
                .map(|(_, text)| text)
                .map_err(|e| format!("rqrr found a code but cannot decode it: {e:?}")),
            other => Err(format!("rqrr found {} QR codes, expected 1", other.len())),
        }
    }};
}

/// A grid of QR modules read back from an output (`true` = dark module).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Modules {
    pub width: usize,
    pub height: usize,
    pub dark: Vec<bool>,
}

/// Which modules the glyph ink marks in the plain half-block rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ink {
    /// The default, for dark terminals: ink (the light foreground) = light modules.
    Light,
    /// `--invert`, for light terminals: ink = dark modules.
    Dark,
}

impl Modules {
    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        self.dark[y * self.width + x]
    }

    /// The same grid with every module flipped (the wrong polarity).
    pub fn inverted(&self) -> Modules {
        Modules {
            dark: self.dark.iter().map(|d| !d).collect(),
            ..self.clone()
        }
    }

    /// The first `rows` rows (drops the half row an odd-sized code leaves).
    pub fn rows(&self, rows: usize) -> Modules {
        assert!(rows <= self.height, "only {} rows", self.height);
        Modules {
            width: self.width,
            height: rows,
            dark: self.dark[..rows * self.width].to_vec(),
        }
    }

    pub fn row_is_light(&self, y: usize) -> bool {
        (0..self.width).all(|x| !self.is_dark(x, y))
    }

    pub fn column_is_light(&self, x: usize) -> bool {
        (0..self.height).all(|y| !self.is_dark(x, y))
    }

    /// Decodes with rqrr, `scale` pixels per module; adds no margin of its
    /// own, so the quiet zone must be in the grid. Exactly one code expected.
    pub fn decode(&self, scale: usize) -> Result<String, String> {
        let img = rqrr::PreparedImage::prepare_from_bitmap(
            self.width * scale,
            self.height * scale,
            |x, y| self.is_dark(x / scale, y / scale),
        );
        decode_prepared!(img)
    }
}

/// Reads the plain rendering: every character is one module wide and two
/// tall (`█` both, `▀` upper, `▄` lower, space none). Panics on anything else
/// and on lines of different widths. The grid has 2 × lines rows.
pub fn modules_from_half_blocks(text: &str, ink: Ink) -> Modules {
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    assert!(!lines.is_empty(), "no QR lines");
    let width = lines[0].chars().count();
    let mut top_rows = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        assert_eq!(
            line.chars().count(),
            width,
            "QR line {n} is not as wide as the first: {line:?}"
        );
        let (mut top, mut bottom) = (Vec::new(), Vec::new());
        for c in line.chars() {
            let (t, b) = match c {
                '█' => (true, true),
                '▀' => (true, false),
                '▄' => (false, true),
                ' ' => (false, false),
                other => panic!("unexpected character {other:?} in QR line {n}: {line:?}"),
            };
            // Ink marks light modules by default, dark ones with --invert.
            top.push(t == (ink == Ink::Dark));
            bottom.push(b == (ink == Ink::Dark));
        }
        top_rows.push(top);
        top_rows.push(bottom);
    }
    Modules {
        width,
        height: top_rows.len(),
        dark: top_rows.concat(),
    }
}

/// Reads the ANSI rendering: every cell is exactly `ESC[FG;BGm▀` (upper half
/// in the foreground, lower half in the background; 30/40 = black = dark,
/// 97/107 = bright white = light) and every line ends with `ESC[0m`.
pub fn modules_from_ansi(text: &str) -> Modules {
    let mut rows: Vec<Vec<bool>> = Vec::new();
    let mut width = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        let body = line
            .strip_suffix("\x1b[0m")
            .unwrap_or_else(|| panic!("ANSI QR line {n} does not end with a reset: {line:?}"));
        let (mut top, mut bottom) = (Vec::new(), Vec::new());
        for cell in body.split("▀").filter(|c| !c.is_empty()) {
            let colors = cell
                .strip_prefix("\x1b[")
                .and_then(|c| c.strip_suffix('m'))
                .unwrap_or_else(|| panic!("bad ANSI cell {cell:?} in line {n}"));
            let (fg, bg) = colors
                .split_once(';')
                .unwrap_or_else(|| panic!("bad ANSI colors {colors:?} in line {n}"));
            top.push(match fg {
                "30" => true,
                "97" => false,
                other => panic!("unexpected foreground {other} in line {n}"),
            });
            bottom.push(match bg {
                "40" => true,
                "107" => false,
                other => panic!("unexpected background {other} in line {n}"),
            });
        }
        // Every cell ends with a glyph: as many glyphs as color pairs.
        assert_eq!(
            body.matches('▀').count(),
            top.len(),
            "line {n}: cells and glyphs do not pair up: {line:?}"
        );
        assert!(body.ends_with('▀'), "line {n} ends without a glyph");
        assert_eq!(*width.get_or_insert(top.len()), top.len(), "line {n} width");
        rows.push(top);
        rows.push(bottom);
    }
    let width = width.expect("no ANSI QR lines");
    Modules {
        width,
        height: rows.len(),
        dark: rows.concat(),
    }
}

/// Decodes a PNG file with the `image` crate and rqrr.
pub fn decode_png(path: &Path) -> Result<String, String> {
    let img = image::open(path)
        .map_err(|e| format!("not a readable image: {e}"))?
        .to_luma8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    decode_prepared!(rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
        img.get_pixel(x as u32, y as u32).0[0]
    }))
}

// ---------------------------------------------------------------------------
// Codes at a 30-second step boundary (appended): a code computed at the end of
// a step may reach the binary in the next one. These helpers retry once with
// the new step's code when that happened, so a test never flakes on the clock.

/// Runs the command `make(code)` builds with the current code of `secret`;
/// when it exits 1 (not accepted) and the step changed meanwhile, runs it
/// again with the new code. Returns the last run's output.
pub fn run_with_code(secret: &str, make: impl Fn(&str) -> Command) -> std::process::Output {
    let mut tries = 0;
    loop {
        tries += 1;
        let t0 = now();
        let out = make(&totp_at(secret, t0)).output().expect("run mex2fa");
        if out.status.code() == Some(1) && now() / 30 != t0 / 30 && tries < 3 {
            continue;
        }
        return out;
    }
}

impl TestEnv {
    /// `enable`, safe at a step boundary: enrolls and confirms `user`
    /// through the binary and returns the secret.
    pub fn enable_any_step(&self, user: &str) -> String {
        let secret = self.enroll(user);
        let out = run_with_code(&secret, |code| {
            let mut c = self.cmd();
            c.args(["confirm", user, "--code", code]);
            c
        });
        assert!(
            out.status.success(),
            "confirm {user:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        secret
    }
}

// ---------------------------------------------------------------------------
// Helpers for the core, config, tools, interop and vectors suites.

/// True when running under CI (`CI=true`): skips become failures.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// `../shared/vectors` beside the checkout (CI lays shared/ there). Absent:
/// a failure under CI=true, else `None` (skip).
pub fn vectors_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors");
    if dir.is_dir() {
        return Some(dir);
    }
    if ci() {
        panic!(
            "CI=true but the known answers are missing: {} (shared/ must be beside the checkout)",
            dir.display()
        );
    }
    eprintln!("skipping: no {}", dir.display());
    None
}

/// Runs `run(t)` with the current Unix time `t` (build the code from it). If
/// the exit code is not `want` and the 30-second TOTP step changed while it
/// ran, the code may have expired on the way: run again (twice at most).
pub fn at_step(
    want: i32,
    mut run: impl FnMut(u64) -> std::process::Output,
) -> std::process::Output {
    let mut tries = 0;
    loop {
        let t = now();
        let out = run(t);
        tries += 1;
        if out.status.code() == Some(want) || now() / 30 == t / 30 || tries == 3 {
            return out;
        }
    }
}

/// A well-formed code that `secret` gives at no step within ±3 of now, so it
/// is refused whatever step the binary sees.
pub fn wrong_code(secret: &str) -> String {
    wrong_code_for(&[secret])
}

/// A well-formed code that matches none of `secrets` within ±3 steps of now.
pub fn wrong_code_for(secrets: &[&str]) -> String {
    let t = now();
    let near: Vec<String> = secrets
        .iter()
        .flat_map(|s| (0..=6u64).map(move |i| totp_at(s, (t + i * 30).saturating_sub(90))))
        .collect();
    (0u32..)
        .map(|n| format!("{:06}", n * 7919 % 1_000_000))
        .find(|c| !near.contains(c))
        .expect("a code")
}

/// Asserts the shape of every failure: exit `code`, nothing on stdout and
/// exactly one line on stderr, which is returned.
pub fn one_line(out: &std::process::Output, code: i32) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(code),
        "exit code; stdout: {stdout:?}; stderr: {stderr:?}"
    );
    assert!(
        stdout.is_empty(),
        "stdout must be empty on failure: {stdout:?}"
    );
    assert!(
        stderr.ends_with('\n') && stderr.matches('\n').count() == 1,
        "exactly one line on stderr: {stderr:?}"
    );
    stderr.trim_end().to_string()
}

/// Output of a command, for [`at_step`] and [`one_line`].
pub fn output(c: &mut Command) -> std::process::Output {
    c.output().expect("run mex2fa")
}

/// Runs `tests/py/app.py ARGS` and returns its exit code and trimmed stdout.
pub fn py_status(python: &Path, args: &[&str]) -> (i32, String) {
    let (code, stdout, stderr) = py_outcome(python, args);
    let code = code.expect("python exited");
    assert!(code <= 2, "python {args:?} crashed: {stderr}");
    (code, stdout.trim_end_matches('\n').to_string())
}

impl TestEnv {
    /// Like [`TestEnv::enable`], robust to a TOTP step boundary.
    pub fn enable_steady(&self, user: &str) -> String {
        let secret = self.enroll(user);
        let out = at_step(0, |t| {
            let mut c = self.cmd();
            c.args(["confirm", user, "--code", &totp_at(&secret, t)]);
            output(&mut c)
        });
        assert_eq!(
            out.status.code(),
            Some(0),
            "confirm {user}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        secret
    }

    /// Runs `c` expecting a failure with exit `code`: one line on stderr,
    /// nothing on stdout, and the database byte-identical. Returns the line.
    pub fn fails(&self, c: &mut Command, code: i32) -> String {
        let before = self.snapshot();
        let out = output(c);
        let line = one_line(&out, code);
        assert!(
            self.snapshot() == before,
            "the database changed on a failure: {line}"
        );
        line
    }

    /// One integer from SQL (counts, flags).
    pub fn sql_i64(&self, sql: &str) -> i64 {
        self.conn()
            .query_row(sql, [], |r| r.get(0))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// One text value from SQL (`typeof(...)`, names).
    pub fn sql_text(&self, sql: &str) -> String {
        self.conn()
            .query_row(sql, [], |r| r.get(0))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Every column of the account row, to prove a command left it alone.
    pub fn full_row(&self, user: &str) -> Vec<rusqlite::types::Value> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT * FROM account WHERE username = ?1")
            .expect("prepare");
        let n = stmt.column_count();
        stmt.query_row([user], |r| (0..n).map(|i| r.get(i)).collect())
            .expect("row")
    }

    /// Writes a secret column value and enabled = 1 directly, as the app would.
    pub fn store(&self, user: &str, secret: rusqlite::types::Value) {
        let n = self
            .conn()
            .execute(
                "UPDATE account SET twofa_enabled = 1, twofa_secret = ?1 WHERE username = ?2",
                rusqlite::params![secret, user],
            )
            .expect("update");
        assert_eq!(n, 1, "no account {user}");
    }
}

// ---------------------------------------------------------------------------
// Key lifecycle helpers (tests/rotate.rs, tests/doctor.rs).

/// A third valid key (the bytes 0..=31), for stragglers and wrong-key tests.
pub const KEY3: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// mex2fa's pending table exactly as src/db.rs creates it, to seed pending
/// rows in bulk without going through `enroll`.
pub const PENDING_DDL: &str = "CREATE TABLE IF NOT EXISTS mex2fa_pending (
    account_id PRIMARY KEY,
    secret_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);";

/// One stored token as SQLite holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    /// "account" or "pending".
    pub place: &'static str,
    pub id: i64,
    /// The token's bytes as text (tokens are ASCII).
    pub token: String,
    /// `typeof()` of the stored value: "blob" or "text".
    pub sql_type: String,
}

impl TestEnv {
    /// Writes a key file (mode 0600, trailing newline) in the temp dir.
    pub fn write_key(&self, name: &str, key: &str) -> PathBuf {
        let path = self.path(name);
        write_mode(&path, &format!("{key}\n"), 0o600);
        path
    }

    /// Every stored token of `db`: account secrets that are not NULL, then
    /// pending rows (if the table exists), each in id order.
    pub fn tokens_of(db: &Path) -> Vec<StoredToken> {
        let conn = Connection::open(db).expect("open db");
        let mut out = Vec::new();
        let has_pending: bool = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'mex2fa_pending'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .expect("sqlite_master")
            > 0;
        let mut queries = vec![(
            "account",
            "SELECT accountid, twofa_secret, typeof(twofa_secret) FROM account
             WHERE twofa_secret IS NOT NULL ORDER BY accountid",
        )];
        if has_pending {
            queries.push((
                "pending",
                "SELECT account_id, secret_token, typeof(secret_token) FROM mex2fa_pending
                 ORDER BY account_id",
            ));
        }
        for (place, sql) in queries {
            let mut stmt = conn.prepare(sql).expect("prepare");
            let mut rows = stmt.query([]).expect("query");
            while let Some(r) = rows.next().expect("row") {
                let token = match r.get_ref(1).expect("value") {
                    rusqlite::types::ValueRef::Text(b) | rusqlite::types::ValueRef::Blob(b) => {
                        String::from_utf8_lossy(b).into_owned()
                    }
                    other => format!("{other:?}"),
                };
                out.push(StoredToken {
                    place,
                    id: r.get(0).expect("id"),
                    token,
                    sql_type: r.get(2).expect("typeof"),
                });
            }
        }
        out
    }

    /// [`TestEnv::tokens_of`] this environment's database.
    pub fn tokens(&self) -> Vec<StoredToken> {
        TestEnv::tokens_of(&self.db)
    }

    /// Everything but the stored tokens, rendered with `quote()` so that a
    /// change of value or of storage type shows: every account column except
    /// the secret (whose NULL-ness is kept), and the pending rows' other columns.
    pub fn other_columns(&self) -> Vec<String> {
        let conn = self.conn();
        let strings = |sql: &str| -> Vec<String> {
            conn.prepare(sql)
                .expect("prepare")
                .query_map([], |r| r.get(0))
                .expect("query")
                .collect::<rusqlite::Result<_>>()
                .expect("rows")
        };
        let mut out = strings(
            "SELECT quote(accountid) || '|' || quote(username) || '|' || quote(email) || '|'
                    || quote(password) || '|' || quote(twofa_enabled) || '|'
                    || (twofa_secret IS NULL)
             FROM account ORDER BY accountid",
        );
        let has_pending: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'mex2fa_pending'",
                [],
                |r| r.get(0),
            )
            .expect("sqlite_master");
        if has_pending > 0 {
            out.extend(strings(
                "SELECT 'pending|' || quote(account_id) || '|' || quote(created_at) || '|'
                        || quote(expires_at)
                 FROM mex2fa_pending ORDER BY account_id",
            ));
        }
        out
    }

    /// The account id of `user`.
    pub fn id_of(&self, user: &str) -> i64 {
        self.conn()
            .query_row(
                "SELECT accountid FROM account WHERE username = ?1",
                [user],
                |r| r.get(0),
            )
            .expect("account id")
    }
}

/// Runs `tests/py/app.py ARGS` and returns (exit code, stdout, stderr)
/// whatever the outcome.
pub fn py_outcome(python: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/app.py");
    let out = StdCommand::new(python)
        .arg(script)
        .args(args)
        .output()
        .expect("run python");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Python's `Fernet(key).decrypt(token)` (no TTL, token as bytes, as the app
/// reads a BLOB) for each token, in one process: the plaintext, or `None`
/// when Python raises `InvalidToken`.
pub fn py_decrypt(python: &Path, key: &str, tokens: &[&str]) -> Vec<Option<String>> {
    use std::io::Write;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/keys.py");
    let mut child = StdCommand::new(python)
        .arg(script)
        .args(["decrypt", key])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run python");
    let input = serde_json::to_vec(tokens).expect("json");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&input)
        .expect("write to python");
    let out = child.wait_with_output().expect("python output");
    assert!(
        out.status.success(),
        "keys.py decrypt failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Vec<Option<String>> = serde_json::from_slice(&out.stdout).expect("keys.py json");
    assert_eq!(v.len(), tokens.len());
    v
}

/// The app's login (`app.py login`) with the current code under `key`.
/// A rejected code is retried with a fresh one (at most three times) so that
/// a 30-second step boundary between computing and checking the code cannot
/// fail a test; a Python exception (e.g. `InvalidToken`) fails at once.
pub fn py_login(
    python: &Path,
    db: &Path,
    key: &str,
    user: &str,
    secret: &str,
) -> Result<(), String> {
    let db = db.to_str().expect("utf8 path");
    for _ in 0..3 {
        let code = totp_now(secret);
        match py_outcome(python, &["login", db, key, user, &code]) {
            (Some(0), _, _) => return Ok(()),
            (Some(1), _, err) if err.trim().is_empty() => continue,
            (status, _, err) => return Err(format!("app login exit {status:?}: {err}")),
        }
    }
    Err(format!(
        "the app rejected the current code of '{user}' three times"
    ))
}

/// The first 9 bytes of a Fernet token (version and timestamp).
pub fn token_header(token: &str) -> [u8; 9] {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE
        .decode(token.trim())
        .expect("token is base64");
    bytes[..9].try_into().expect("9 bytes")
}

/// A token under `key` made by the independent `fernet` crate (the app's format).
pub fn fernet_encrypt(key: &str, plaintext: &str) -> String {
    fernet::Fernet::new(key)
        .expect("key")
        .encrypt(plaintext.as_bytes())
}

/// Whether `token` decrypts under `key` with the independent `fernet` crate.
pub fn fernet_plaintext(key: &str, token: &str) -> Option<String> {
    fernet::Fernet::new(key)
        .expect("key")
        .decrypt(token)
        .ok()
        .map(|p| String::from_utf8_lossy(&p).into_owned())
}

/// A 32-character base32 secret like `pyotp.random_base32()`, derived from `n`.
pub fn secret_for(n: u64) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut state = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    (0..32)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            A[(state >> 59) as usize] as char
        })
        .collect()
}

/// `../shared` next to the repository (the contract and the test vectors).
/// Under CI=true its absence fails the test; otherwise the test is skipped.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    if dir.join("vectors").is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true but {} is missing", dir.display());
    }
    eprintln!("skipping: {} not found", dir.display());
    None
}

/// `confirm USER --code NOW` under `key`, retried with a fresh code when the
/// code is rejected (a 30-second step boundary between computing the code and
/// the binary checking it); any other failure panics at once.
pub fn confirm_robust(env: &TestEnv, key: &str, user: &str, secret: &str) {
    for _ in 0..3 {
        let out = env
            .cmd()
            .env("TWOFA_MASTER_KEY", key)
            .args(["confirm", user, "--code", &totp_now(secret)])
            .output()
            .expect("run confirm");
        match out.status.code() {
            Some(0) => return,
            Some(1) => continue,
            other => panic!(
                "confirm {user} exit {other:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }
    panic!("confirm {user}: the current code was rejected three times");
}

/// Enrolls and confirms `user` through the binary, robust to step boundaries.
pub fn enable_robust(env: &TestEnv, user: &str) -> String {
    let secret = env.enroll(user);
    confirm_robust(env, KEY, user, &secret);
    secret
}

/// As [`fernet_encrypt`] with a given token timestamp (to tell a kept
/// timestamp from a fresh one).
pub fn fernet_encrypt_at(key: &str, plaintext: &str, timestamp: u64) -> String {
    fernet::Fernet::new(key)
        .expect("key")
        .encrypt_at_time(plaintext.as_bytes(), timestamp)
}

// ---------------------------------------------------------------------------
// Small helpers shared by the test files.

pub fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The exit code, with both streams in the message when it differs.
pub fn assert_code(out: &std::process::Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
}

pub fn assert_ok(out: &std::process::Output) {
    assert_code(out, 0);
}

/// Waits out the last seconds of a TOTP step, so a code computed now is
/// still current when the command that uses it runs.
pub fn avoid_step_end() {
    let into = now() % 30;
    if into >= 27 {
        std::thread::sleep(std::time::Duration::from_secs(30 - into));
    }
}

impl TestEnv {
    /// Adds an account the way the app's sign-up would.
    pub fn add_user(&self, user: &str) {
        self.conn()
            .execute(
                "INSERT INTO account (username, email, password) VALUES (?1, ?1 || '@example.com', 'pw')",
                [user],
            )
            .expect("insert");
    }
}

/// Inserts accounts user0..user{n-1}, each enabled with an app-style BLOB
/// token of `secret_for(i)` under the key `key_of(i)`.
pub fn insert_enrolled(
    tx: &rusqlite::Transaction<'_>,
    n: usize,
    key_of: impl Fn(usize) -> &'static str,
) {
    for i in 0..n {
        tx.execute(
            "INSERT INTO account (username, email, password, twofa_enabled, twofa_secret)
             VALUES (?1, ?1 || '@example.com', 'pw', 1, ?2)",
            rusqlite::params![
                format!("user{i}"),
                fernet_encrypt(key_of(i), &secret_for(i as u64)).into_bytes()
            ],
        )
        .unwrap();
    }
}
