//! Secret hygiene.
//!
//! The whole hostile catalog (plain and `--json`) and every normal verb run
//! through the binary, and every stdout, stderr and audit row is searched for
//! the TOTP secrets and master keys in play — whole, in the other base64
//! alphabet, in lower case and as any 12-character piece. Only `enroll
//! --show-secret` and `keygen` without `--out` may print one. A key file
//! readable by group or others draws a warning. Every file mex2fa writes
//! (keygen --out, enroll --png/--svg, rotate-key --backup) is created 0600
//! even under umask 000 and never replaces anything already at its path, a
//! symlink included. `MasterKey` and `Secret` show nothing through `Debug`.

use crate::util::catalog;

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use crate::util::{KEY, KEY2, TestEnv, now, totp_at, write_mode};
use catalog::{KEY3, SECRET, std_alphabet};
use mex2fa::crypto::MasterKey;
use mex2fa::totp::Secret;

/// Everything that must never be printed, as the strings to search for.
fn needles(secrets: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for s in secrets {
        let forms = [
            s.to_string(),
            std_alphabet(s),
            s.to_ascii_lowercase(),
            s.trim_end_matches('=').to_string(),
        ];
        for f in forms {
            let chars: Vec<char> = f.chars().collect();
            for w in chars.windows(12) {
                out.push(w.iter().collect());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The first needle found in `text`, if any.
fn leak<'a>(text: &[u8], needles: &'a [String]) -> Option<&'a str> {
    let text = String::from_utf8_lossy(text);
    needles
        .iter()
        .find(|n| text.contains(n.as_str()))
        .map(String::as_str)
}

fn catalog_pass(groups: &[&str], json: bool) {
    let mut leaks = Vec::new();
    let mut runs = 0;
    for group in groups {
        for mut case in catalog::group(group) {
            if json {
                case.args.insert(0, OsString::from("--json"));
            }
            let ran = catalog::run(&case).unwrap_or_else(|reason| {
                panic!("[{}] {}: cannot run here: {reason}", case.group, case.name)
            });
            runs += 1;
            let mut secrets: Vec<&str> = ran.secrets.iter().map(String::as_str).collect();
            secrets.extend([KEY, KEY2, KEY3, SECRET]);
            let needles = needles(&secrets);
            for (what, bytes) in [("stdout", &ran.stdout), ("stderr", &ran.stderr)] {
                if let Some(n) = leak(bytes, &needles) {
                    leaks.push(format!(
                        "[{}] {}: {what} holds '{n}': {}",
                        case.group,
                        case.name,
                        String::from_utf8_lossy(bytes)
                    ));
                }
            }
            for row in &ran.audit {
                if let Some(n) = leak(row.as_bytes(), &needles) {
                    leaks.push(format!(
                        "[{}] {}: audit row holds '{n}': {row}",
                        case.group, case.name
                    ));
                }
            }
        }
    }
    eprintln!("hygiene: {runs} catalog runs (json={json}) searched");
    assert!(runs > 80, "the catalog ran only {runs} cases");
    assert!(
        leaks.is_empty(),
        "{} leaks:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
}

#[test]
fn hostile_catalog_prints_no_secret() {
    catalog_pass(&["code", "user", "key", "token"], false);
}

#[test]
fn hostile_catalog_prints_no_secret_in_json() {
    catalog_pass(&["code", "user", "key", "token"], true);
}

#[test]
fn hostile_catalog_rest_prints_no_secret() {
    catalog_pass(&["ident", "db", "option"], false);
    catalog_pass(&["ident", "db", "option"], true);
}

/// The search itself finds what it must: a test of the test.
#[test]
fn the_search_finds_a_leak() {
    let n = needles(&[KEY]);
    assert!(leak(format!("key: {KEY}\n").as_bytes(), &n).is_some());
    assert!(leak(std_alphabet(KEY).as_bytes(), &n).is_some());
    assert!(leak(&KEY.as_bytes()[10..30], &n).is_some());
    assert!(leak(b"nothing here", &n).is_none());
}

fn run(env: &TestEnv, key: &str, args: &[&str]) -> Output {
    env.bare()
        .env("MEX2FA_DB", &env.db)
        .env("TWOFA_MASTER_KEY", key)
        .env("TMPDIR", env.dir.path())
        .args(args)
        .output()
        .expect("run mex2fa")
}

/// The pending secret of `user`, read as the app would (for computing codes
/// without `--show-secret`).
fn pending_secret(env: &TestEnv, user: &str, key: &str) -> String {
    let token: String = env
        .conn()
        .query_row(
            "SELECT p.secret_token FROM mex2fa_pending p JOIN account a ON a.accountid = p.account_id
             WHERE a.username = ?1",
            [user],
            |r| r.get(0),
        )
        .expect("pending token");
    let plain = MasterKey::parse(key)
        .unwrap()
        .decrypt(&token)
        .expect("decrypts");
    String::from_utf8(plain.to_vec()).expect("utf-8")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

/// Every verb as an operator runs it, text and `--json`: nothing secret out.
#[test]
fn normal_verbs_print_no_secret() {
    let env = TestEnv::new();
    let mut outputs: Vec<(String, Output)> = Vec::new();
    let mut go = |key: &str, args: &[&str], ok: &[i32]| {
        for json in [false, true] {
            let mut a: Vec<&str> = Vec::new();
            if json {
                a.push("--json");
            }
            a.extend(args);
            // Commands that change state run once, in the form given.
            if json && !args.contains(&"--json") && is_write(args) {
                continue;
            }
            let out = run(&env, key, &a);
            assert!(
                out.status.code().is_some_and(|c| ok.contains(&c)),
                "{a:?}: {:?} {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            outputs.push((a.join(" "), out));
        }
    };
    go(KEY, &["keygen", "--out", "new.key"], &[0]);
    let new_key = std::fs::read_to_string(env.path("new.key")).expect("new key");
    let new_key = new_key.trim().to_string();
    go(
        KEY,
        &["enroll", "alice", "--png", "a.png", "--svg", "a.svg"],
        &[0],
    );
    let alice = pending_secret(&env, "alice", KEY);
    go(KEY, &["enroll", "bob", "--no-qr"], &[0]);
    let bob = pending_secret(&env, "bob", KEY);
    go(KEY, &["status"], &[0]);
    go(KEY, &["doctor"], &[0]);
    // A code can go stale at a step boundary: then 1, and once again.
    let code = totp_at(&alice, now());
    go(KEY, &["confirm", "alice", "--code", &code], &[0, 1]);
    if env.row("alice").0 == 0 {
        let code = totp_at(&alice, now());
        go(KEY, &["confirm", "alice", "--code", &code], &[0]);
    }
    let code = totp_at(&alice, now());
    go(
        KEY,
        &["verify", "alice", "--code", &code, "--window", "1"],
        &[0],
    );
    go(
        KEY,
        &["verify", "alice", "--code", "000000", "--window", "10"],
        &[0, 1],
    );
    go(KEY, &["status", "alice"], &[0]);
    go(KEY, &["doctor"], &[0]);
    go(
        KEY,
        &[
            "rotate-key",
            "--new-key-file",
            "new.key",
            "--backup",
            "b.jsonl",
            "--yes",
        ],
        &[0],
    );
    go(&new_key, &["doctor"], &[0]);
    go(
        &new_key,
        &[
            "rotate-key",
            "--new-key-file",
            "new.key",
            "--dry-run",
            "--old-key-file",
            "master.key",
        ],
        &[0],
    );
    go(KEY, &["restore", "--backup", "b.jsonl", "--yes"], &[0]);
    go(KEY, &["disable", "bob", "--yes"], &[0]);
    go(KEY, &["disable", "--all", "--yes"], &[0]);
    go(KEY, &["log"], &[0]);
    go(KEY, &["log", "alice", "--since", "2020-01-01"], &[0]);
    go(KEY, &["completions", "bash"], &[0]);

    let needles = needles(&[&alice, &bob, KEY, KEY2, &new_key]);
    let mut leaks = Vec::new();
    for (what, out) in &outputs {
        for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            if let Some(n) = leak(bytes, &needles) {
                leaks.push(format!("{what}: {stream} holds '{n}'"));
            }
        }
    }
    for row in catalog::audit_rows(&env.db) {
        if let Some(n) = leak(row.as_bytes(), &needles) {
            leaks.push(format!("audit row holds '{n}': {row}"));
        }
    }
    let backup = std::fs::read(env.path("b.jsonl")).expect("backup");
    if let Some(n) = leak(&backup, &needles) {
        leaks.push(format!("the backup holds '{n}'"));
    }
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
    assert!(outputs.len() > 25, "only {} runs", outputs.len());
    assert!(
        catalog::audit_rows(&env.db).len() >= 6,
        "the audit trail is missing entries"
    );
}

fn is_write(args: &[&str]) -> bool {
    matches!(
        args.first().copied(),
        Some("keygen" | "enroll" | "confirm" | "rotate-key" | "restore" | "disable")
    ) && !args.contains(&"--dry-run")
}

/// The two commands that exist to show a secret show that one, and only it.
#[test]
fn show_secret_and_keygen_print_only_their_own_secret() {
    let env = TestEnv::new();
    let out = run(&env, KEY, &["enroll", "alice", "--show-secret", "--no-qr"]);
    assert!(out.status.success());
    let alice = pending_secret(&env, "alice", KEY);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&alice), "--show-secret shows the secret");
    assert!(leak(&out.stdout, &needles(&[KEY])).is_none());
    assert!(
        leak(&out.stderr, &needles(&[KEY, &alice])).is_none(),
        "the secret went to stderr"
    );

    let out = run(&env, KEY, &["keygen"]);
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).expect("utf-8");
    let key = printed.trim();
    assert!(
        MasterKey::parse(key).is_ok(),
        "keygen prints a key: {printed:?}"
    );
    assert_eq!(printed, format!("{key}\n"), "keygen prints the key alone");
    assert!(leak(&out.stderr, &needles(&[key, KEY])).is_none());
}

/// A key file others can read is used, with a warning naming the fix.
#[test]
fn key_file_readable_by_others_draws_a_warning() {
    let env = TestEnv::new();
    env.enroll("alice");
    for (m, warns) in [
        (0o644, true),
        (0o640, true),
        (0o604, true),
        (0o660, true),
        (0o600, false),
        (0o400, false),
    ] {
        write_mode(&env.path("m.key"), &format!("{KEY}\n"), m);
        write_mode(&env.path("n.key"), &format!("{KEY2}\n"), m);
        write_mode(&env.path("o.key"), &format!("{KEY}\n"), m);
        for args in [
            &["status", "--master-key-file", "m.key"][..],
            &["doctor", "--master-key-file", "m.key"][..],
            &[
                "rotate-key",
                "--dry-run",
                "--new-key-file",
                "n.key",
                "--master-key-file",
                "m.key",
            ][..],
            &[
                "rotate-key",
                "--dry-run",
                "--new-key-file",
                "n.key",
                "--old-key-file",
                "o.key",
            ][..],
        ] {
            let out = env
                .bare()
                .env("MEX2FA_DB", &env.db)
                .env("TWOFA_MASTER_KEY", KEY)
                .args(args)
                .output()
                .expect("run");
            let stderr = String::from_utf8_lossy(&out.stderr);
            // status reads no key: the warning belongs to commands that do.
            let reads_key = args[0] != "status";
            let warned = stderr.contains("warning") && stderr.contains("chmod 600");
            assert_eq!(
                warned,
                warns && reads_key,
                "mode {m:o}, {args:?}: warning expected {}; stderr: {stderr}",
                warns && reads_key
            );
            assert!(out.status.success(), "mode {m:o} {args:?}: {stderr}");
            assert!(leak(&out.stderr, &needles(&[KEY, KEY2])).is_none());
        }
    }
}

/// Runs mex2fa under umask 000 (through sh), so only mex2fa's own mode counts.
fn run_umask0(env: &TestEnv, args: &[&str]) -> Output {
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg("umask 000 && exec \"$0\" \"$@\"")
        .arg(crate::util::bin())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("MEX2FA_DB", &env.db)
        .env("TWOFA_MASTER_KEY", KEY)
        .env("TMPDIR", env.dir.path())
        .current_dir(env.dir.path())
        .stdin(std::process::Stdio::null());
    cmd.output().expect("sh")
}

/// Every file mex2fa writes: 0600 under any umask, never over anything.
#[test]
fn written_files_are_private_and_never_replace_anything() {
    let env = TestEnv::new();
    write_mode(&env.path("new.key"), &format!("{KEY2}\n"), 0o600);
    env.enable("alice");
    let writers: [(&str, Vec<&str>); 4] = [
        ("k.key", vec!["keygen", "--out", "k.key"]),
        ("q.png", vec!["enroll", "bob", "--no-qr", "--png", "q.png"]),
        (
            "q.svg",
            vec!["enroll", "carol", "--no-qr", "--svg", "q.svg"],
        ),
        (
            "b.jsonl",
            vec![
                "rotate-key",
                "--new-key-file",
                "new.key",
                "--backup",
                "b.jsonl",
                "--yes",
            ],
        ),
    ];
    for (file, args) in &writers {
        let path = env.path(file);
        // Something already there: refused, untouched, nothing else changed.
        for existing in ["file", "symlink to a file", "dangling symlink"] {
            let target = env.path("target");
            let _ = std::fs::remove_file(&target);
            match existing {
                "file" => write_mode(&path, "keep me\n", 0o644),
                "symlink to a file" => {
                    write_mode(&target, "keep me\n", 0o644);
                    std::os::unix::fs::symlink(&target, &path).expect("symlink");
                }
                _ => std::os::unix::fs::symlink(&target, &path).expect("symlink"),
            }
            let db = env.snapshot();
            let out = run_umask0(&env, args);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{args:?} over a {existing}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(String::from_utf8_lossy(&out.stderr).contains("never overwrites"));
            assert_eq!(
                env.snapshot(),
                db,
                "{args:?} over a {existing} changed the database"
            );
            match existing {
                "file" => assert_eq!(std::fs::read(&path).unwrap(), b"keep me\n"),
                "symlink to a file" => assert_eq!(std::fs::read(&target).unwrap(), b"keep me\n"),
                _ => assert!(
                    !target.exists(),
                    "{args:?} wrote through a dangling symlink"
                ),
            }
            std::fs::remove_file(&path).expect("clean");
        }
        // Nothing there: created 0600 under umask 000.
        let out = run_umask0(&env, args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(mode(&path), 0o600, "{args:?} made {file} {:o}", mode(&path));
        assert!(
            std::fs::metadata(&path).unwrap().len() > 0,
            "{file} is empty"
        );
    }
}

/// `Debug` of the types that hold a key or a secret shows neither (they have
/// no `Debug` at all today; this keeps a future derive from leaking).
#[test]
fn debug_shows_no_key_or_secret() {
    use std::fmt::Debug;
    use std::marker::PhantomData;

    struct Probe<T>(PhantomData<T>);
    trait NoDebug {
        fn show(&self, _: &dyn std::any::Any) -> Option<String> {
            None
        }
    }
    impl<T> NoDebug for Probe<T> {}
    impl<T: Debug + 'static> Probe<T> {
        fn show(&self, v: &dyn std::any::Any) -> Option<String> {
            v.downcast_ref::<T>().map(|v| format!("{v:?} {v:#?}"))
        }
    }

    let key = MasterKey::parse(KEY).unwrap();
    let secret = Secret::parse(SECRET).unwrap();
    let code = mex2fa::totp::Code::parse("123456").unwrap();
    // The probe sees a Debug impl where there is one.
    assert!(Probe::<String>(PhantomData).show(&String::new()).is_some());
    let shown = [
        Probe::<MasterKey>(PhantomData).show(&key),
        Probe::<Secret>(PhantomData).show(&secret),
        Probe::<mex2fa::totp::Code>(PhantomData).show(&code),
    ];
    let n = needles(&[KEY, SECRET]);
    for s in shown.iter().flatten() {
        assert!(
            leak(s.as_bytes(), &n).is_none(),
            "Debug shows a secret: {s}"
        );
    }
    // The key problems never quote the key.
    for bad in [&KEY[..43], &KEY.replace('x', "!"), &format!("{KEY}AAAA")] {
        let p = MasterKey::parse(bad).err().expect("refused");
        let text = format!("{p} {p:?}");
        assert!(leak(text.as_bytes(), &n).is_none(), "{text}");
    }
}
