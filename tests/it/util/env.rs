//! [`TestEnv`]: a temp dir holding the database (see `db.rs`) and a key
//! file, and the real binary (`CARGO_BIN_EXE_mex2fa`) run there with a
//! cleared environment; plus the helpers that run it and judge its output.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use tempfile::TempDir;

use super::{KEY, SCHEMA_BLOB, now, totp_at, totp_now};

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

    /// `schema` with users alice, bob, carol.
    pub fn with_schema(schema: &str) -> TestEnv {
        let env = TestEnv::empty();
        env.create_db(schema);
        env
    }

    /// A copy of a database saved with [`TestEnv::snapshot`].
    pub fn from_snapshot(bytes: &[u8]) -> TestEnv {
        let env = TestEnv::empty();
        env.restore_snapshot(bytes);
        env
    }

    /// The temp dir and the key file (`KEY`, mode 0600); no database yet.
    fn empty() -> TestEnv {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("app.db");
        let key_file = dir.path().join("master.key");
        write_mode(&key_file, &format!("{KEY}\n"), 0o600);
        TestEnv { dir, db, key_file }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a key file (mode 0600, trailing newline) in the temp dir.
    pub fn write_key(&self, name: &str, key: &str) -> PathBuf {
        write_key_in(self.dir.path(), name, key)
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
        bare_in(self.dir.path())
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
}

/// The binary with a cleared environment (but `PATH` and `USER`), run in
/// `dir` with an empty stdin, nothing configured.
pub fn bare_in(dir: &Path) -> Command {
    let mut c = Command::new(bin());
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("USER", "tester")
        .current_dir(dir)
        .write_stdin("");
    c
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mex2fa"))
}

pub fn write_mode(path: &Path, text: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

// Codes at a 30-second step boundary: a code computed at the end of a step
// may reach the binary in the next one. These helpers retry with the new
// step's code when that happened, so a test never flakes on the clock.

/// Runs the command `make(code)` builds with the current code of `secret`;
/// when it exits 1 (not accepted) and the step changed meanwhile, runs it
/// again with the new code. Returns the last run's output.
pub fn run_with_code(secret: &str, make: impl Fn(&str) -> Command) -> Output {
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

/// Runs `run(t)` with the current Unix time `t` (build the code from it). If
/// the exit code is not `want` and the 30-second TOTP step changed while it
/// ran, the code may have expired on the way: run again (twice at most).
pub fn at_step(want: i32, mut run: impl FnMut(u64) -> Output) -> Output {
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

// Judging a run.

/// Output of a command, for [`at_step`] and [`one_line`].
pub fn output(c: &mut Command) -> Output {
    c.output().expect("run mex2fa")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The exit code, with both streams in the message when it differs.
pub fn assert_code(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
}

pub fn assert_ok(out: &Output) {
    assert_code(out, 0);
}

/// Asserts the shape of every failure: exit `code`, nothing on stdout and
/// exactly one line on stderr, which is returned.
pub fn one_line(out: &Output, code: i32) -> String {
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

/// Writes a key file as an operator keeps one (mode 0600, trailing newline)
/// in `dir`.
pub fn write_key_in(dir: &Path, name: &str, key: &str) -> PathBuf {
    let path = dir.join(name);
    write_mode(&path, &format!("{key}\n"), 0o600);
    path
}
