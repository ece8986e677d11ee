//! Faults and hostile conditions, through the real binary: full disks, full
//! and closed streams, files that never end, signals at a prompt, and text
//! from outside (usernames, paths, `.env` values) on its way to a terminal.
//!
//! A full disk is a small tmpfs each test mounts for itself: that needs root
//! (CAP_SYS_ADMIN), and without it those tests fail saying so. The prompt
//! tests drive a pseudo-terminal with `tests/py/pty_signal.py` (python3, its
//! standard library only).

use std::fs::File;
use std::io::{ErrorKind, Write};
use std::path::PathBuf;
use std::process::{Command as StdCommand, Output, Stdio};
use std::time::{Duration, Instant};

use crate::util::backend::{Backend, Db, Shape};
use crate::util::*;
use rusqlite::types::Value;

// ---------------------------------------------------------------------------
// Conditions.

/// A 64 KiB tmpfs mounted on a temporary folder, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount() -> Tmpfs {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = StdCommand::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Tmpfs { dir },
            Ok(o) => panic!(
                "this test needs a full disk: a 64 KiB tmpfs, which only root can mount (mount said: {}); run the tests as root, e.g. in a container",
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) => panic!(
                "this test needs a full disk: a 64 KiB tmpfs, but mount(8) did not run ({e}); install util-linux's mount and run the tests as root"
            ),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Fills the disk, then frees `leave` bytes of it again.
    fn fill(&self, leave: u64) {
        let path = self.path("filler");
        let mut f = File::create(&path).expect("filler");
        let block = [0u8; 4096];
        loop {
            match f.write(&block) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::StorageFull => break,
                Err(e) => panic!("filling the tmpfs: {e}"),
            }
        }
        let len = f.metadata().unwrap().len();
        f.set_len(len.saturating_sub(leave)).unwrap();
    }

    fn empty(&self) {
        std::fs::remove_file(self.path("filler")).expect("remove the filler");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = StdCommand::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// `/dev/full`: every write fails with "no space left on device".
fn dev_full() -> Stdio {
    File::options()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full (a Linux device) is needed by this test")
        .into()
}

/// A pipe whose reading end is already closed: every write fails with EPIPE.
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    writer.into()
}

/// The binary as `TestEnv::cmd` sets it up, as a std command (whose streams
/// can be anything).
fn std_cmd(env: &TestEnv, args: &[&str]) -> StdCommand {
    let mut c = StdCommand::new(bin());
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("USER", "tester")
        .env("MEX2FA_DB", &env.db)
        .env("TWOFA_MASTER_KEY", KEY)
        .current_dir(env.dir.path())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Runs `c`; a run that outlives `limit` is killed and fails the test.
fn within(mut c: StdCommand, limit: Duration) -> Output {
    let mut child = c.spawn().expect("run mex2fa");
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{c:?} still ran after {limit:?}: it never stopped reading");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

fn run(c: StdCommand) -> Output {
    within(c, Duration::from_secs(120))
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or_else(|| {
        panic!(
            "ended by a signal: {:?}; stderr: {}",
            out.status,
            stderr(out)
        )
    })
}

/// Rows of one of mex2fa's own tables (0 when it does not exist yet).
fn rows(env: &TestEnv, table: &str) -> i64 {
    let exists = env.sql_i64(&format!(
        "SELECT count(*) FROM sqlite_master WHERE name = '{table}'"
    ));
    if exists == 0 {
        0
    } else {
        env.sql_i64(&format!("SELECT count(*) FROM {table}"))
    }
}

// ---------------------------------------------------------------------------
// Full disks: exit 5, nothing written, nothing left behind.

#[test]
fn a_qr_image_on_a_full_disk_is_exit_5_and_leaves_no_enrollment_and_no_file() {
    let env = TestEnv::new();
    let disk = Tmpfs::mount();
    let png = disk.path("qr.png");
    let svg = disk.path("qr.svg");
    let png_arg = png.to_str().unwrap();
    let svg_arg = svg.to_str().unwrap();

    // No space at all: the image cannot even start.
    disk.fill(0);
    let out = run(std_cmd(
        &env,
        &["enroll", "alice", "--no-qr", "--png", png_arg],
    ));
    let line = one_line(&out, 5);
    assert!(
        line.contains("qr.png") && line.contains("No space left"),
        "{line}"
    );
    assert!(!png.exists(), "an empty image was left behind");

    // Room for the PNG (3 KB) but not the SVG (9 KB): the one written is
    // removed with the one cut short.
    disk.empty();
    disk.fill(8 << 10);
    let out = run(std_cmd(
        &env,
        &[
            "enroll", "alice", "--no-qr", "--png", png_arg, "--svg", svg_arg,
        ],
    ));
    let line = one_line(&out, 5);
    assert!(line.contains("qr.svg"), "{line}");
    assert!(
        !png.exists() && !svg.exists(),
        "a partial image was left behind"
    );

    // Nothing was enrolled, nothing audited: the enrollment never happened.
    assert_eq!(rows(&env, "mex2fa_pending"), 0);
    assert_eq!(rows(&env, "mex2fa_audit"), 0);
    assert_eq!(env.row("alice"), (0, Value::Null));

    // With space again the same command works: no "already exists".
    disk.empty();
    let out = run(std_cmd(
        &env,
        &[
            "enroll", "alice", "--no-qr", "--png", png_arg, "--svg", svg_arg,
        ],
    ));
    assert_ok(&out);
    let uri = decode_png(&png).expect("the PNG holds a QR code");
    assert!(uri.contains(":alice?secret="), "{uri}");
    assert!(std::fs::metadata(&svg).unwrap().len() > 0);
    assert_eq!(rows(&env, "mex2fa_pending"), 1);
}

#[test]
fn a_backup_or_key_file_on_a_full_disk_is_exit_5_and_changes_nothing() {
    let env = TestEnv::new();
    env.enable_steady("alice");
    let before = env.tokens();
    let new_key = env.write_key("new.key", KEY2);
    let disk = Tmpfs::mount();
    disk.fill(0);

    let backup = disk.path("before.jsonl");
    let out = run(std_cmd(
        &env,
        &[
            "rotate-key",
            "--new-key-file",
            new_key.to_str().unwrap(),
            "--backup",
            backup.to_str().unwrap(),
            "--yes",
        ],
    ));
    let line = one_line(&out, 5);
    assert!(line.contains("No space left"), "{line}");
    assert_eq!(env.tokens(), before, "the rotation went ahead");
    assert!(!backup.exists(), "a partial backup was left behind");

    let key = disk.path("master.key");
    let out = run(std_cmd(&env, &["keygen", "--out", key.to_str().unwrap()]));
    let line = one_line(&out, 5);
    assert!(line.contains("No space left"), "{line}");
    assert!(!key.exists(), "a partial key file was left behind");
}

#[test]
fn a_full_temporary_folder_during_a_large_rotation_is_exit_5_and_changes_nothing() {
    // On a server, past 24 MiB of new tokens (~150k accounts) a rotation
    // keeps the rest of them in a temporary file (TMPDIR) between its two
    // passes. (SQLite writes in one pass and needs no such file.)
    const ROWS: i64 = 170_000;
    let db = Db::new(Backend::Postgres, Shape::APP);
    let token = fernet_encrypt(KEY, &secret_for(1));
    db.sql(&format!(
        "INSERT INTO account (username, twofa_enabled, twofa_secret)
         SELECT 'bulk' || i, 1, convert_to('{token}', 'UTF8') FROM generate_series(1, {ROWS}) i"
    ));
    let new_key = db.path("new.key");
    std::fs::write(&new_key, format!("{KEY2}\n")).unwrap();
    std::fs::set_permissions(
        &new_key,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let disk = Tmpfs::mount();
    disk.fill(0);
    let out = db
        .cmd()
        .env("TMPDIR", disk.dir.path())
        .args([
            "rotate-key",
            "--new-key-file",
            new_key.to_str().unwrap(),
            "--yes",
        ])
        .timeout(Duration::from_secs(120))
        .output()
        .expect("run mex2fa");
    let line = one_line(&out, 5);
    assert!(
        line.contains("temporary file") && line.contains("No space left"),
        "{line}"
    );
    assert_eq!(
        db.value(&format!(
            "SELECT count(*) FROM account WHERE convert_from(twofa_secret, 'UTF8') = '{token}'"
        )),
        ROWS.to_string(),
        "tokens were rewritten"
    );
}

// ---------------------------------------------------------------------------
// Streams: stderr cannot change what happened; lost output is a failure.

#[test]
fn a_failed_stderr_write_never_changes_the_exit_code() {
    let env = TestEnv::new();
    let secret = env.enable_steady("bob");
    let with_stderr_full = |args: &[&str]| {
        let mut c = std_cmd(&env, args);
        c.stderr(dev_full());
        run(c)
    };

    // A note after the commit.
    let out = with_stderr_full(&["enroll", "alice", "--no-qr"]);
    assert_eq!(code(&out), 0);
    assert_eq!(rows(&env, "mex2fa_pending"), 1);

    // A rejected code: exit 1, the JSON document still on stdout.
    let wrong = wrong_code(&secret);
    let out = with_stderr_full(&["verify", "bob", "--json", "--code", &wrong]);
    assert_eq!(code(&out), 1);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one document");
    assert_eq!(doc["accepted"], false);

    // A rotation: committed, reported on stdout, exit 0.
    let new_key = env.write_key("new.key", KEY2);
    let out = with_stderr_full(&[
        "rotate-key",
        "--new-key-file",
        new_key.to_str().unwrap(),
        "--yes",
    ]);
    assert_eq!(code(&out), 0);
    assert!(
        stdout(&out).starts_with("rotated 2 secrets"),
        "{}",
        stdout(&out)
    );
    for t in env.tokens() {
        assert!(fernet_plaintext(KEY2, &t.token).is_some(), "{t:?}");
    }

    // Every other path through the program: the same exit code as with a
    // working stderr (errors, notes, help, warnings), never a panic (101).
    let env = TestEnv::new();
    env.enable_steady("bob");
    write_mode(&env.path("open.key"), &format!("{KEY}\n"), 0o644);
    let cases: &[&[&str]] = &[
        &["status"],
        &["status", "nobody"],
        &["--json", "status", "nobody"],
        &["verify", "alice", "--code", "123456"],
        &["verify", "bob", "--code", "12"],
        &["confirm", "carol", "--code", "123456"],
        &["enroll", "bob", "--no-qr"],
        &["enroll", "carol", "--no-qr", "--ttl", "never"],
        &[
            "--master-key-file",
            "open.key",
            "enroll",
            "carol",
            "--no-qr",
        ],
        &["log"],
        &["doctor"],
        &["keygen"],
        &["--bogus"],
        &["--help"],
        &[],
        &["disable", "bob"],
        &["disable", "--all", "--yes"],
    ];
    for args in cases {
        let normal = run(std_cmd(&env, args));
        let mut c = std_cmd(&env, args);
        c.stderr(dev_full());
        let full = run(c);
        assert_ne!(full.status.code(), Some(101), "{args:?} panicked");
        assert_eq!(
            full.status.code(),
            normal.status.code(),
            "{args:?}: exit code changed by a full stderr; normally: {}",
            stderr(&normal)
        );
    }
}

#[test]
fn output_that_cannot_be_written_is_a_failure() {
    let env = TestEnv::new();
    let secret = env.enable_steady("bob");
    let with_stdout = |args: &[&str], to: Stdio| {
        let mut c = std_cmd(&env, args);
        c.stdout(to);
        run(c)
    };

    // A full disk behind stdout: exit 5 and a line that says so.
    for args in [
        &["--json", "status"][..],
        &["status"],
        &["keygen"],
        &["keygen", "--json"],
        &["log", "--json"],
        &["completions", "bash"],
        &["--help"],
    ] {
        let out = with_stdout(args, dev_full());
        assert_eq!(code(&out), 5, "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("cannot write to stdout"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    // A command that failed keeps its own code.
    let wrong = wrong_code(&secret);
    let out = with_stdout(&["verify", "bob", "--json", "--code", &wrong], dev_full());
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let out = with_stdout(&["--json", "status", "nobody"], dev_full());
    assert_eq!(code(&out), 3, "{}", stderr(&out));

    // A closed pipe: 141 (as SIGPIPE would end a process) for a success,
    // the command's own code for a failure; never 0.
    for args in [
        &["keygen"][..],
        &["status"],
        &["--json", "status"],
        &["doctor"],
    ] {
        let out = with_stdout(args, closed_pipe());
        assert_eq!(code(&out), 141, "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).is_empty(), "{args:?}: {}", stderr(&out));
    }
    env.store(
        "carol",
        Value::Blob(fernet_encrypt(KEY3, &secret_for(3)).into_bytes()),
    );
    let out = with_stdout(&["doctor"], closed_pipe());
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let out = with_stdout(&["--json", "doctor"], closed_pipe());
    assert_eq!(code(&out), 4, "{}", stderr(&out));

    // The same through a shell pipeline, as a script would run it.
    let line = format!("set -o pipefail; '{}' doctor | head -1", bin().display());
    let out = run({
        let mut sh = StdCommand::new("bash");
        sh.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("MEX2FA_DB", &env.db)
            .env("TWOFA_MASTER_KEY", KEY)
            .current_dir(env.dir.path())
            .args(["-c", &line])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        sh
    });
    assert_eq!(code(&out), 4, "{}", stderr(&out));
}

// ---------------------------------------------------------------------------
// Files that never end.

#[test]
fn key_files_are_read_to_a_bound_and_only_from_regular_files() {
    let env = TestEnv::new();
    env.enable_steady("bob");
    let fifo = env.path("key.fifo");
    let made = StdCommand::new("mkfifo").arg(&fifo).status();
    assert!(
        made.is_ok_and(|s| s.success()),
        "this test needs mkfifo(1) (coreutils)"
    );
    let big = env.path("big.key");
    write_mode(&big, &format!("{}{KEY}\n", " ".repeat(5000)), 0o600);
    let good = env.path("good.key");
    let key = env.write_key("new.key", KEY2);
    let key = key.to_str().unwrap();
    let limit = Duration::from_secs(20);

    for (args, why) in [
        (
            vec![
                "--master-key-file",
                "/dev/zero",
                "enroll",
                "alice",
                "--no-qr",
            ],
            "not a regular file",
        ),
        (
            vec![
                "--master-key-file",
                fifo.to_str().unwrap(),
                "enroll",
                "alice",
            ],
            "not a regular file",
        ),
        (
            vec![
                "--master-key-file",
                big.to_str().unwrap(),
                "enroll",
                "alice",
            ],
            "larger than 4 KiB",
        ),
        (
            vec!["rotate-key", "--new-key-file", "/dev/zero", "--yes"],
            "not a regular file",
        ),
        (
            vec!["rotate-key", "--new-key-file", "/dev/urandom", "--dry-run"],
            "not a regular file",
        ),
        (
            vec![
                "rotate-key",
                "--new-key-file",
                key,
                "--old-key-file",
                "/dev/zero",
                "--yes",
            ],
            "not a regular file",
        ),
        (
            vec![
                "restore",
                "--backup",
                "x",
                "--old-key-file",
                "/dev/zero",
                "--yes",
            ],
            "not a regular file",
        ),
    ] {
        let before = env.snapshot();
        let out = within(std_cmd(&env, &args), limit);
        let line = one_line(&out, 4);
        assert!(line.contains(why), "{args:?}: {line}");
        assert!(env.snapshot() == before, "{args:?} changed the database");
    }

    // A key with generous whitespace around it is still the key.
    write_mode(
        &good,
        &format!("\n\n   {KEY}   \n\n{}", " ".repeat(3000)),
        0o600,
    );
    let out = within(
        std_cmd(
            &env,
            &[
                "--master-key-file",
                good.to_str().unwrap(),
                "enroll",
                "alice",
                "--no-qr",
            ],
        ),
        limit,
    );
    assert_ok(&out);
}

#[test]
fn a_backup_is_read_line_by_line_to_a_bound_and_only_from_a_regular_file() {
    let env = TestEnv::new();
    env.enable_steady("bob");
    let fifo = env.path("backup.fifo");
    let made = StdCommand::new("mkfifo").arg(&fifo).status();
    assert!(
        made.is_ok_and(|s| s.success()),
        "this test needs mkfifo(1) (coreutils)"
    );
    // One endless line, as /dev/zero is, but in a regular file.
    let long = env.path("long.jsonl");
    std::fs::write(&long, "x".repeat(1 << 20)).unwrap();
    let limit = Duration::from_secs(20);
    for (path, why) in [
        ("/dev/zero", "not a regular file"),
        (fifo.to_str().unwrap(), "not a regular file"),
        (long.to_str().unwrap(), "longer than 64 KiB"),
    ] {
        let before = env.snapshot();
        let out = within(
            std_cmd(&env, &["restore", "--backup", path, "--yes"]),
            limit,
        );
        let line = one_line(&out, 2);
        assert!(line.contains(why), "{path}: {line}");
        assert!(env.snapshot() == before, "{path} changed the database");
    }
}

// ---------------------------------------------------------------------------
// Signals at a prompt.

/// The Python that drives the pseudo-terminal: MEX2FA_TEST_PYTHON or python3.
fn pty_python() -> PathBuf {
    let python = std::env::var_os("MEX2FA_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"));
    let ok = StdCommand::new(&python)
        .args(["-c", "import pty, termios"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "the prompt tests need python3 with its pty and termios modules ({}); install python3",
        python.display()
    );
    python
}

struct Signalled {
    /// Negative: the signal that ended the process.
    exit: i64,
    output: String,
    echo: bool,
    icanon: bool,
    isig: bool,
}

/// Runs mex2fa ARGS on a pseudo-terminal, waits for `prompt` and for the
/// terminal to switch, then takes `action` (ctrl-c, TERM, HUP).
fn at_prompt(
    env: &TestEnv,
    vars: &[(&str, &str)],
    args: &[&str],
    prompt: &str,
    line: bool,
    action: &str,
) -> Signalled {
    let mut argv = vec![bin().display().to_string()];
    argv.extend(args.iter().map(|a| a.to_string()));
    let spec = serde_json::json!({
        "argv": argv,
        "env": pty_env(vars),
        "cwd": env.dir.path(),
        "timeout": 20,
        "prompt": prompt,
        "line": line,
        "action": action,
    });
    let doc = pty_drive(&pty_python(), "pty_signal.py", &spec);
    Signalled {
        exit: doc["exit"].as_i64().unwrap(),
        output: doc["output"].as_str().unwrap().to_string(),
        echo: doc["echo"].as_bool().unwrap(),
        icanon: doc["icanon"].as_bool().unwrap(),
        isig: doc["isig"].as_bool().unwrap(),
    }
}

#[test]
fn a_signal_at_a_prompt_leaves_the_terminal_as_it_was() {
    let env = TestEnv::new();
    env.enable_steady("alice");
    let db = env.db.to_str().unwrap();
    let keyed = [("MEX2FA_DB", db), ("TWOFA_MASTER_KEY", KEY)];
    let code_prompt = r"code from the authenticator app: ";
    let key_prompt = r"master key \(input hidden\): ";
    for (vars, args, prompt, line, action, signal) in [
        (
            &keyed[..],
            &["verify", "alice"][..],
            code_prompt,
            false,
            "ctrl-c",
            2,
        ),
        (
            &keyed[..],
            &["verify", "alice"],
            code_prompt,
            false,
            "TERM",
            15,
        ),
        (
            &keyed[..],
            &["verify", "alice"],
            code_prompt,
            false,
            "HUP",
            1,
        ),
        (
            &keyed[..1],
            &["enroll", "bob", "--no-qr"],
            key_prompt,
            false,
            "ctrl-c",
            2,
        ),
        (
            &keyed[..1],
            &["enroll", "bob", "--no-qr"],
            key_prompt,
            false,
            "TERM",
            15,
        ),
        (
            &keyed[..],
            &["disable", "alice"],
            r"Disable 2FA for 'alice' in [^?]*\?",
            true,
            "TERM",
            15,
        ),
    ] {
        let before = env.snapshot();
        let run = at_prompt(&env, vars, args, prompt, line, action);
        let what = format!("{args:?} at {action}");
        assert_eq!(run.exit, -signal, "{what}: ended so:\n{}", run.output);
        assert!(
            run.echo && run.icanon && run.isig,
            "{what}: the terminal was left with echo {}, line editing {}, signal keys {}",
            run.echo,
            run.icanon,
            run.isig
        );
        assert!(env.snapshot() == before, "{what} changed the database");
    }
}

// ---------------------------------------------------------------------------
// Text from outside on its way to the terminal.

/// Characters that change how text is laid out, or hide: bidi embeddings,
/// overrides, isolates and marks, zero-width characters, separators, a tag.
const INVISIBLE: [char; 20] = [
    '\u{202a}',
    '\u{202b}',
    '\u{202c}',
    '\u{202d}',
    '\u{202e}',
    '\u{2066}',
    '\u{2067}',
    '\u{2068}',
    '\u{2069}',
    '\u{200b}',
    '\u{200c}',
    '\u{200d}',
    '\u{200e}',
    '\u{200f}',
    '\u{feff}',
    '\u{2028}',
    '\u{2029}',
    '\u{061c}',
    '\u{180e}',
    '\u{e0041}',
];

fn hidden_in(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| (c.is_control() && c != '\n') || INVISIBLE.contains(&c) || c == '\u{ad}')
        .collect()
}

fn assert_shown_escaped(out: &Output, what: &str) {
    for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let text = String::from_utf8_lossy(bytes);
        let raw = hidden_in(&text);
        assert!(raw.is_empty(), "{what}: raw {raw:?} on {stream}:\n{text}");
    }
}

#[test]
fn bidi_and_invisible_characters_are_escaped_wherever_they_are_shown() {
    let env = TestEnv::new();
    // "admin" spelled backwards behind a right-to-left override shows as
    // "adminnimda"; the others hide inside an ordinary-looking name.
    let names: Vec<String> = std::iter::once("nimda\u{202e}admin".to_string())
        .chain(INVISIBLE.iter().map(|c| format!("us{c}er")))
        .collect();
    for n in &names {
        env.add_user(n);
    }
    let first = names[0].as_str();
    let out = run(std_cmd(&env, &["enroll", first, "--no-qr"]));
    assert_ok(&out);
    assert_shown_escaped(&out, "enroll");
    assert!(
        stderr(&out).contains("nimda\\u{202e}admin"),
        "{}",
        stderr(&out)
    );

    let out = run(std_cmd(&env, &["status"]));
    assert_ok(&out);
    assert_shown_escaped(&out, "status");
    for c in INVISIBLE {
        let shown = format!("us{}er", c.escape_default());
        assert!(stdout(&out).contains(&shown), "status lacks {shown}");
    }

    let out = run(std_cmd(&env, &["log"]));
    assert_shown_escaped(&out, "log");
    assert!(
        stdout(&out).contains("nimda\\u{202e}admin"),
        "{}",
        stdout(&out)
    );

    for n in &names {
        let out = run(std_cmd(&env, &["verify", n, "--code", "123456"]));
        assert_eq!(code(&out), 3);
        assert_shown_escaped(&out, "verify");
    }

    // JSON: escaped as \uXXXX (a surrogate pair beyond the BMP), the same
    // strings once parsed.
    let out = run(std_cmd(&env, &["--json", "status"]));
    assert_shown_escaped(&out, "status --json");
    assert!(stdout(&out).contains("\\u202e") && stdout(&out).contains("\\udb40\\udc41"));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let users: Vec<&str> = doc
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["user"].as_str().unwrap())
        .collect();
    for n in &names {
        assert!(users.contains(&n.as_str()), "{n:?} did not survive");
    }

    // A confirmation question at a terminal.
    let db = env.db.to_str().unwrap();
    let run = at_prompt(
        &env,
        &[("MEX2FA_DB", db), ("TWOFA_MASTER_KEY", KEY)],
        &["disable", first],
        r"Disable 2FA for 'nimda\\u\{202e\}admin' in [^?]*\?",
        true,
        "TERM",
    );
    let raw: Vec<char> = run
        .output
        .chars()
        .filter(|c| INVISIBLE.contains(c))
        .collect();
    assert!(
        raw.is_empty(),
        "raw {raw:?} in the question:\n{}",
        run.output
    );
}

#[test]
fn paths_and_env_values_are_escaped_in_errors_and_notes() {
    let env = TestEnv::new();
    // A terminal-title sequence in a path from .env: the "not found" error.
    let hostile = "/x\u{1b}]0;owned\u{7}.db";
    std::fs::write(env.path(".env"), format!("MEX2FA_DB=\"{hostile}\"\n")).unwrap();
    let mut c = std_cmd(&env, &["status"]);
    c.env_remove("MEX2FA_DB");
    let out = run(c);
    let line = one_line(&out, 5);
    assert!(line.contains("/x\\u{1b}]0;owned\\u{7}.db"), "{line}");
    assert_shown_escaped(&out, ".env path");
    std::fs::remove_file(env.path(".env")).unwrap();

    // A file name with a color sequence: the note, and the output line.
    let png = "qr\u{1b}[31m.png";
    let out = run(std_cmd(&env, &["enroll", "alice", "--no-qr", "--png", png]));
    assert_ok(&out);
    assert_shown_escaped(&out, "enroll --png");
    assert!(
        stderr(&out).contains("qr\\u{1b}[31m.png"),
        "{}",
        stderr(&out)
    );

    env.enable_steady("bob");
    let new_key = env.write_key("new.key", KEY2);
    let backup = "b\u{1b}]0;x\u{7}\u{202e}.jsonl";
    let out = run(std_cmd(
        &env,
        &[
            "rotate-key",
            "--new-key-file",
            new_key.to_str().unwrap(),
            "--backup",
            backup,
            "--yes",
        ],
    ));
    assert_ok(&out);
    assert_shown_escaped(&out, "rotate-key --backup");
    assert!(
        stdout(&out).contains("b\\u{1b}]0;x\\u{7}\\u{202e}.jsonl"),
        "{}",
        stdout(&out)
    );

    // A database that is a folder whose name is hostile: the database error.
    let dir = env.path("d\u{1b}[2J");
    std::fs::create_dir(&dir).unwrap();
    let mut c = std_cmd(&env, &["status"]);
    c.env("MEX2FA_DB", &dir);
    let out = run(c);
    one_line(&out, 5);
    assert_shown_escaped(&out, "a folder as the database");
}

// ---------------------------------------------------------------------------
// Smaller hazards.

#[test]
fn an_env_file_that_is_a_folder_or_someone_elses_is_named_as_such() {
    let env = TestEnv::new();
    std::fs::create_dir(env.path("conf")).unwrap();
    let out = run(std_cmd(&env, &["--env-file", "conf", "status"]));
    let line = one_line(&out, 2);
    assert!(line.contains("is a directory"), "{line}");

    // Honoured, but with a warning: owned by another user, or writable by
    // the group when running as root.
    assert!(
        is_root(),
        "this test needs root (to give a file to another user); run the tests as root"
    );
    let dotenv = env.path("app.env");
    let db = env.db.to_str().unwrap();
    write_mode(&dotenv, &format!("MEX2FA_DB={db}\n"), 0o644);
    let status = |expect_warning: Option<&str>| {
        let mut c = std_cmd(&env, &["--env-file", "app.env", "status"]);
        c.env_remove("MEX2FA_DB");
        let out = run(c);
        assert_ok(&out);
        match expect_warning {
            None => assert!(stderr(&out).is_empty(), "{}", stderr(&out)),
            Some(why) => {
                let err = stderr(&out);
                assert!(
                    err.starts_with("mex2fa: warning: the env file app.env") && err.contains(why),
                    "{err}"
                );
            }
        }
    };
    status(None);
    write_mode(&dotenv, &format!("MEX2FA_DB={db}\n"), 0o664);
    status(Some("writable by group or others"));
    write_mode(&dotenv, &format!("MEX2FA_DB={db}\n"), 0o644);
    let chown = StdCommand::new("chown")
        .args(["4242", dotenv.to_str().unwrap()])
        .status();
    assert!(chown.is_ok_and(|s| s.success()), "chown failed");
    status(Some("owned by another user (uid 4242)"));
}

/// Whether the tests run as root (id -u).
fn is_root() -> bool {
    StdCommand::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[test]
fn an_empty_stored_secret_is_reported_as_no_token_not_as_a_wrong_key() {
    let env = TestEnv::new();
    for stored in [
        Value::Text(String::new()),
        Value::Blob(Vec::new()),
        Value::Text("   ".into()),
    ] {
        env.store("alice", stored.clone());
        let mut c = env.cmd();
        c.args(["verify", "alice", "--code", "123456"]);
        let line = env.fails(&mut c, 4);
        assert!(
            line.contains("not a Fernet token") && line.contains("re-enroll"),
            "{stored:?}: {line}"
        );
        assert!(!line.contains("master key"), "{stored:?}: {line}");
    }
}

/// A rotation, and a restore, that run out of space on the database's own
/// disk: exit 5, nothing changed, and the disk left as it was (no journal
/// file taking space afterwards).
#[test]
fn a_full_database_disk_fails_a_rotation_or_restore_and_leaves_no_journal() {
    let disk = Tmpfs::mount();
    let env = TestEnv::new();
    let token = fernet_encrypt(KEY, &secret_for(3));
    env.conn()
        .execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 120)
             INSERT INTO account (username, twofa_enabled, twofa_secret)
             SELECT 'bulk' || i, 1, CAST(?1 AS BLOB) FROM n",
            [&token],
        )
        .unwrap();
    let new_key = env.write_key("new.key", KEY2);
    // A backup to restore, made while there is room.
    let backup = env.path("b.bak");
    let made = run(std_cmd(
        &env,
        &[
            "rotate-key",
            "--new-key-file",
            new_key.to_str().unwrap(),
            "--backup",
            backup.to_str().unwrap(),
            "--yes",
        ],
    ));
    assert_eq!(code(&made), 0, "{}", stderr(&made));
    let rotated = env.snapshot();
    let db = disk.path("app.db");
    std::fs::write(&db, &rotated).unwrap();
    disk.fill(2048);
    let listing = || {
        let mut names: Vec<String> = std::fs::read_dir(disk.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let before = listing();
    let other_key = env.write_key("other.key", KEY3);
    let old_key = env.write_key("old.key", KEY);
    for (what, args) in [
        (
            "rotate-key",
            vec![
                "rotate-key",
                "--new-key-file",
                other_key.to_str().unwrap(),
                "--yes",
            ],
        ),
        (
            "restore",
            vec![
                "restore",
                "--backup",
                backup.to_str().unwrap(),
                "--old-key-file",
                old_key.to_str().unwrap(),
                "--yes",
                "--allow-mixed",
            ],
        ),
    ] {
        let mut c = std_cmd(&env, &args);
        c.env("MEX2FA_DB", &db).env("TWOFA_MASTER_KEY", KEY2);
        let out = run(c);
        let line = one_line(&out, 5);
        assert!(line.contains("full"), "{what}: {line}");
        assert_eq!(listing(), before, "{what}: files left on the full disk");
        assert_eq!(
            std::fs::read(&db).unwrap(),
            rotated,
            "{what}: the database changed"
        );
    }
}
