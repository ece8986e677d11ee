//! `export` and `import` through the real binary on every backend: each
//! file form exported from one database and imported into another (SQLite
//! → PostgreSQL → MariaDB too), after which the app's own Python logs each
//! user in with a code from the original secret; the QR images decoded back
//! to the URI pyotp builds; every refusal one line with its exit code and
//! the database unchanged.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use crate::util::backend::{Backend, Db, Shape, each_backend, run};
use crate::util::*;

/// A failure: exit `code`, one line on stderr, nothing on stdout, the
/// database unchanged. The line.
fn refused(db: &Db, c: &mut assert_cmd::Command, code: i32) -> String {
    let before = db.dump();
    let line = one_line(&run(c), code);
    assert_eq!(
        db.dump(),
        before,
        "a refused command changed the database: {line}"
    );
    line
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

/// What a directory holds (temporary files would show here).
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A pending enrollment made by `enroll`: its secret.
fn enroll(db: &Db, user: &str) -> String {
    let out = run(db
        .cmd()
        .args(["--json", "enroll", user, "--show-secret", "--no-qr"]));
    assert_ok(&out);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    doc["secret"].as_str().expect("secret").to_string()
}

/// Secrets go only into the files asked for, never to stdout or stderr.
fn no_secret_shown(out: &Output, secrets: &[&str]) {
    let shown = format!("{}{}", stdout(out), stderr(out));
    for s in secrets {
        assert!(!shown.contains(s), "a secret was printed: {shown}");
    }
}

fn login(db: &Db, key: &str, user: &str, secret: &str) {
    db.app_login(key, user, secret)
        .unwrap_or_else(|e| panic!("the app does not log '{user}' in: {e}"));
}

#[test]
fn a_bundle_moves_users_from_sqlite_to_postgresql_to_mariadb() {
    let first = Db::new(Backend::Sqlite, Shape::APP);
    let (alice, bob) = (secret_for(301), secret_for(302));
    // The app enabled these two itself.
    first.app_store(KEY, "alice", &alice);
    first.app_store(KEY, "bob", &bob);
    let carol = enroll(&first, "carol");
    login(&first, KEY, "alice", &alice);

    // The bundle key travels apart from the bundle: a folder of its own.
    let keys = tempfile::tempdir().unwrap();
    let bundle_key = write_key_in(keys.path(), "bundle.key", KEY3);
    let bundle = first.path("users.bundle");
    let out = run(first
        .cmd()
        .args(["export", "--pending", "--bundle-key-file"])
        .arg(&bundle_key)
        .arg("--out")
        .arg(&bundle));
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        format!(
            "exported 3 users (2 enabled, 1 pending) to {}\n",
            bundle.display()
        )
    );
    assert_eq!(mode(&bundle), 0o600);
    let text = std::fs::read_to_string(&bundle).unwrap();
    assert!(text.starts_with("gAAAAA") && text.ends_with('\n') && text.lines().count() == 1);
    for s in [&alice, &bob, &carol] {
        assert!(
            !text.contains(s.as_str()),
            "a readable secret in the bundle"
        );
    }
    assert_eq!(entries(first.dir.path()), ["app.db", "users.bundle"]);

    // Each next database has a master key of its own.
    let mut from = (first, KEY, bundle);
    for (backend, key) in [(Backend::Postgres, KEY2), (Backend::Mariadb, KEY)] {
        let to = Db::new(backend, Shape::APP);
        let out = run(to
            .cmd()
            .env("TWOFA_MASTER_KEY", key)
            .args(["--json", "import"])
            .arg(&from.2)
            .arg("--bundle-key-file")
            .arg(&bundle_key));
        assert_ok(&out);
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["imported"], 3, "{doc}");
        assert_eq!(doc["dry_run"], false);
        assert_eq!(
            doc["users"],
            serde_json::json!([
                {"user": "alice", "state": "enabled", "action": "enable"},
                {"user": "bob", "state": "enabled", "action": "enable"},
                {"user": "carol", "state": "pending", "action": "enroll", "expires_at": doc["users"][2]["expires_at"]},
            ])
        );
        login(&to, key, "alice", &alice);
        login(&to, key, "bob", &bob);
        let log = stdout(&run(to
            .cmd()
            .env("TWOFA_MASTER_KEY", key)
            .args(["--json", "log"])));
        let log: serde_json::Value = serde_json::from_str(&log).unwrap();
        assert_eq!(log.as_array().unwrap().len(), 3, "{log}");
        assert!(
            log.as_array()
                .unwrap()
                .iter()
                .all(|r| r["action"] == "import"),
            "{log}"
        );

        let next_bundle = to.path("users.bundle");
        let out = run(to
            .cmd()
            .env("TWOFA_MASTER_KEY", key)
            .args(["export", "--pending", "--bundle-key-file"])
            .arg(&bundle_key)
            .arg("--out")
            .arg(&next_bundle));
        assert_ok(&out);
        from = (to, key, next_bundle);
    }
    // The pending enrollment arrived pending, and carol's phone confirms it.
    let (last, key, _) = from;
    let out = run_with_code(&carol, |code| {
        let mut c = last.cmd();
        c.env("TWOFA_MASTER_KEY", key)
            .args(["confirm", "carol", "--code", code]);
        c
    });
    assert_ok(&out);
    login(&last, key, "carol", &carol);
}

#[test]
fn every_readable_form_round_trips_and_the_app_logs_in() {
    let odd = "o'hara, \"jr\" ü/x";
    each_backend("", |backend| {
        let src = Db::new(backend, Shape::APP);
        src.add_user(odd);
        let (alice, other) = (secret_for(311), secret_for(312));
        src.app_store(KEY, "alice", &alice);
        src.app_store(KEY, odd, &other);
        for format in ["otpauth", "csv", "json"] {
            let file = src.path(&format!("users.{format}"));
            let out = run(src
                .cmd()
                .args(["export", "--plaintext", "--format", format])
                .arg("--out")
                .arg(&file));
            assert_ok(&out);
            no_secret_shown(&out, &[&alice, &other]);
            assert_eq!(mode(&file), 0o600);
            let text = std::fs::read_to_string(&file).unwrap();
            match format {
                "otpauth" => {
                    let want = py(&python(), &["uri", &alice, "alice", "MeXanimatoR"]);
                    let want_odd = py(&python(), &["uri", &other, odd, "MeXanimatoR"]);
                    assert_eq!(
                        text,
                        format!("{want}\n{want_odd}\n"),
                        "byte-identical to pyotp"
                    );
                }
                "csv" => assert_eq!(
                    text,
                    format!(
                        "user,state,secret\r\nalice,enabled,{alice}\r\n\"o'hara, \"\"jr\"\" ü/x\",enabled,{other}\r\n"
                    )
                ),
                _ => {
                    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
                    assert_eq!(doc[1]["user"], odd);
                    assert_eq!(doc[1]["secret"], other.as_str());
                    assert_eq!(doc[1]["state"], "enabled");
                }
            }
            // The CSV goes into a table of the other shape: text ids, a
            // boolean flag, the token as text.
            let shape = match format {
                "csv" => Shape {
                    text_secret: true,
                    bool_flag: true,
                    text_id: true,
                    schema: None,
                },
                _ => Shape::APP,
            };
            let dst = Db::new(backend, shape);
            dst.add_user(odd);
            let out = run(dst
                .cmd()
                .env("TWOFA_MASTER_KEY", KEY2)
                .arg("import")
                .arg(&file));
            assert_ok(&out);
            assert_eq!(
                stdout(&out),
                format!("2FA enabled for 'alice'\n2FA enabled for '{odd}'\n"),
                "{format}"
            );
            no_secret_shown(&out, &[&alice, &other]);
            login(&dst, KEY2, "alice", &alice);
            login(&dst, KEY2, odd, &other);
        }
    });
}

#[test]
fn qr_images_hold_the_uri_the_app_would_draw() {
    each_backend("", |backend| {
        let db = Db::new(backend, Shape::APP);
        for u in ["a/b", ".hidden"] {
            db.add_user(u);
        }
        let secrets = [
            ("alice", secret_for(321)),
            ("a/b", secret_for(322)),
            (".hidden", secret_for(323)),
        ];
        for (u, s) in &secrets {
            db.app_store(KEY, u, s);
        }
        let bob = enroll(&db, "bob");
        let dir = db.path("qr");
        let out = run(db
            .cmd()
            .args(["export", "--format", "png", "--plaintext", "--pending"])
            .arg("--out")
            .arg(&dir));
        assert_ok(&out);
        let err = stderr(&out);
        assert!(err.contains("the QR code of 'a/b' is a_b.png"), "{err}");
        assert!(
            err.contains("the QR code of '.hidden' is _hidden.png"),
            "{err}"
        );
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(
            entries(&dir),
            ["_hidden.png", "a_b.png", "alice.png", "bob.pending.png"]
        );
        let files = [
            ("alice.png", "alice", &secrets[0].1),
            ("a_b.png", "a/b", &secrets[1].1),
            ("_hidden.png", ".hidden", &secrets[2].1),
            ("bob.pending.png", "bob", &bob),
        ];
        for (file, user, secret) in files {
            assert_eq!(mode(&dir.join(file)), 0o600);
            let uri = decode_png(&dir.join(file)).unwrap();
            assert_eq!(
                uri,
                py(&python(), &["uri", secret, user, "MeXanimatoR"]),
                "{file}"
            );
        }
        // A second export to the same directory is refused.
        let line = refused(
            &db,
            db.cmd()
                .args(["export", "--format", "png", "--plaintext"])
                .arg("--out")
                .arg(&dir),
            2,
        );
        assert!(line.contains("already exists"), "{line}");
        assert_eq!(entries(&dir).len(), 4);
    });
}

#[test]
fn a_tampered_truncated_or_wrongly_keyed_bundle_writes_nothing() {
    each_backend("", |backend| {
        let src = Db::new(backend, Shape::APP);
        src.app_store(KEY, "alice", &secret_for(331));
        let dir = src.dir.path();
        let right = write_key_in(dir, "bundle.key", KEY3);
        let wrong = write_key_in(dir, "other.key", KEY2);
        let bundle = src.path("b.bundle");
        assert_ok(&run(src
            .cmd()
            .args(["export", "--bundle-key-file"])
            .arg(&right)
            .arg("--out")
            .arg(&bundle)));
        let text = std::fs::read_to_string(&bundle).unwrap();

        let dst = Db::new(backend, Shape::APP);
        let import = |file: &Path, key: &Path| {
            let mut c = dst.cmd();
            c.arg("import").arg(file).arg("--bundle-key-file").arg(key);
            c
        };
        let line = refused(&dst, &mut import(&bundle, &wrong), 4);
        assert!(line.contains("does not open with the bundle key"), "{line}");
        // One character changed in the middle: the MAC no longer matches.
        let mut bytes = text.clone().into_bytes();
        let i = bytes.len() / 2;
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let tampered = src.path("tampered.bundle");
        std::fs::write(&tampered, &bytes).unwrap();
        let line = refused(&dst, &mut import(&tampered, &right), 4);
        assert!(line.contains("changed since export"), "{line}");
        let truncated = src.path("truncated.bundle");
        // Five characters short: no longer whole base64.
        std::fs::write(&truncated, &text.trim()[..text.trim().len() - 5]).unwrap();
        let line = refused(&dst, &mut import(&truncated, &right), 2);
        assert!(line.contains("not a complete bundle"), "{line}");
        // No key, a missing key file, a malformed one.
        let line = refused(&dst, dst.cmd().arg("import").arg(&bundle), 2);
        assert!(line.contains("--bundle-key-file"), "{line}");
        let line = refused(&dst, &mut import(&bundle, &src.path("nope.key")), 4);
        assert!(line.contains("key file not found"), "{line}");
        let bad = src.path("bad.key");
        write_mode(&bad, "not a key\n", 0o600);
        let line = refused(&dst, &mut import(&bundle, &bad), 4);
        assert!(
            line.contains("the bundle key from") && line.contains("malformed"),
            "{line}"
        );
        // The right key still opens it.
        assert_ok(&run(&mut import(&bundle, &right)));
    });
}

#[test]
fn uris_that_ask_for_what_the_app_cannot_do_are_refused_by_name() {
    let s = secret_for(341);
    each_backend("", |backend| {
        let db = Db::new(backend, Shape::APP);
        let file = db.path("uris.txt");
        for (bad, says) in [
            (
                format!("otpauth://totp/X:bob?secret={s}&issuer=X&algorithm=SHA256"),
                "algorithm=SHA256",
            ),
            (
                format!("otpauth://totp/X:bob?secret={s}&issuer=X&digits=8"),
                "digits=8",
            ),
            (
                format!("otpauth://totp/X:bob?secret={s}&issuer=X&period=60"),
                "period=60",
            ),
            (
                format!("otpauth://hotp/X:bob?secret={s}&issuer=X&counter=0"),
                "HOTP",
            ),
            (
                "otpauth://totp/X:bob?secret=ABC&issuer=X".to_string(),
                "not base32",
            ),
            (
                "otpauth://totp/X:bob?secret=GEZDGNBVGY3TQOJQ&issuer=X".to_string(),
                "80 bits",
            ),
        ] {
            std::fs::write(
                &file,
                format!("otpauth://totp/X:alice?secret={s}&issuer=X\n\n{bad}\n"),
            )
            .unwrap();
            let line = refused(&db, db.cmd().arg("import").arg(&file), 2);
            assert!(line.contains("line 3") && line.contains(says), "{line}");
            assert!(!line.contains(&s), "a secret in an error: {line}");
        }
        // The defaults spelled out, and a lowercase secret, are what pyotp accepts.
        std::fs::write(
            &file,
            format!(
                "otpauth://totp/X:alice?secret={}&issuer=X&algorithm=SHA1&digits=6&period=30\n",
                s.to_lowercase()
            ),
        )
        .unwrap();
        let out = run(db.cmd().arg("import").arg(&file));
        assert_ok(&out);
        assert!(
            stderr(&out).contains("exported under the issuer 'X'"),
            "{}",
            stderr(&out)
        );
        login(&db, KEY, "alice", &s);
    });
}

#[test]
fn conflicts_under_each_policy() {
    let (old, new_bob, new_alice, carol) = (
        secret_for(351),
        secret_for(352),
        secret_for(353),
        secret_for(354),
    );
    each_backend("", |backend| {
        let file_db = Db::new(backend, Shape::APP);
        let file = file_db.path("users.csv");
        std::fs::write(&file, format!("user,state,secret\nalice,enabled,{new_alice}\nbob,enabled,{new_bob}\ncarol,enabled,{carol}\n")).unwrap();
        let setup = || {
            let db = Db::new(backend, Shape::APP);
            db.app_store(KEY, "bob", &old);
            enroll(&db, "carol");
            db
        };

        // fail (the default): nothing written, every conflict named.
        let db = setup();
        let line = refused(&db, db.cmd().arg("import").arg(&file), 3);
        assert!(
            line.contains("'bob' already has 2FA enabled; nothing was written"),
            "{line}"
        );
        assert!(line.contains("--on-conflict skip"), "{line}");
        // A dry run shows the plan, and the same verdict, and changes nothing.
        let before = db.dump();
        let out = run(db.cmd().args(["import", "--dry-run"]).arg(&file));
        assert_code(&out, 3);
        assert_eq!(
            stdout(&out),
            "would enable 2FA for 'alice'\nconflict: 'bob' already has 2FA enabled\nwould enable 2FA for 'carol'\n"
        );
        assert_eq!(db.dump(), before);

        // skip: bob keeps his secret; the others are imported; carol's
        // pending enrollment gives way to the enabled secret.
        let out = run(db
            .cmd()
            .args(["--json", "import", "--on-conflict", "skip"])
            .arg(&file));
        assert_ok(&out);
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            (doc["imported"].clone(), doc["skipped"].clone()),
            (2.into(), 1.into()),
            "{doc}"
        );
        login(&db, KEY, "bob", &old);
        login(&db, KEY, "alice", &new_alice);
        login(&db, KEY, "carol", &carol);
        let status = stdout(&run(db.cmd().args(["--json", "status", "carol"])));
        assert!(status.contains("\"pending\":false"), "{status}");

        // replace: bob gets the file's secret; his old one stops working.
        let db = setup();
        let before = db.dump();
        let out = run(db
            .cmd()
            .args(["--json", "import", "--dry-run", "--on-conflict", "replace"])
            .arg(&file));
        assert_ok(&out);
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["dry_run"], true);
        assert_eq!(doc["imported"], 3);
        let actions: Vec<&str> = doc["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, ["enable", "replace", "enable"]);
        assert_eq!(db.dump(), before, "a dry run wrote");
        let dry = run(db
            .cmd()
            .args(["import", "--dry-run", "--on-conflict", "replace"])
            .arg(&file));
        assert_ok(&dry);
        assert!(
            stdout(&dry).contains("would replace the secret of 'bob'"),
            "{}",
            stdout(&dry)
        );
        assert_ok(&run(db
            .cmd()
            .args(["import", "--on-conflict", "replace"])
            .arg(&file)));
        login(&db, KEY, "bob", &new_bob);
        assert!(
            db.app_login(KEY, "bob", &old).is_err(),
            "the old secret still works"
        );
        let log = stdout(&run(db.cmd().args(["log", "bob"])));
        assert!(
            log.contains("secret replaced (--on-conflict replace)"),
            "{log}"
        );
    });
}

#[test]
fn malformed_input_is_one_line_and_changes_nothing() {
    let s = secret_for(361);
    each_backend("", |backend| {
        let db = Db::new(backend, Shape::APP);
        let file = db.path("in.csv");
        let cases: Vec<(String, i32, &str)> = vec![
            (
                format!("user,state,secret\nalice,enabled,{s}\nzed,enabled,{s}\n"),
                3,
                "line 3: no account named 'zed'",
            ),
            (
                format!("user,state,secret\nalice,enabled,{s}\nbob,enabled\n"),
                2,
                "line 3: 2 fields",
            ),
            (
                format!("user,state,secret\nalice,enabled,{s}\n\"bob,enabled,{s}\n"),
                2,
                "line 3: a quoted field is not closed",
            ),
            (
                format!("user,state,secret\nalice,enabled,{s}1\n"),
                2,
                "line 2: the secret of 'alice' is unusable",
            ),
            (
                format!("user,state,secret\nalice,on,{s}\n"),
                2,
                "line 2: the state of 'alice' is 'on'",
            ),
            (
                format!("user,state,secret\nalice,enabled,{s}\nalice,enabled,{s}\n"),
                2,
                "line 3: 'alice' (enabled) is there twice, also at line 2",
            ),
            ("user,state,secret\n".to_string(), 2, "holds no users"),
            ("hello\n".to_string(), 2, "cannot tell what"),
            (" \n\n".to_string(), 2, "in.csv is empty"),
            (
                "[{\"user\": \"alice\", \"secret\": 5}]".to_string(),
                2,
                "entry #1: \"secret\" is missing or not a string",
            ),
            (
                "[{\"user\": \"alice\",".to_string(),
                2,
                "not valid JSON (line 1",
            ),
        ];
        for (text, code, says) in cases {
            std::fs::write(&file, &text).unwrap();
            let line = refused(&db, db.cmd().arg("import").arg(&file), code);
            assert!(line.contains(says), "{line}");
            assert!(!line.contains(&s), "a secret in an error: {line}");
        }
        let line = refused(&db, db.cmd().arg("import").arg(db.path("missing.csv")), 2);
        assert!(line.contains("not found"), "{line}");
        let line = refused(
            &db,
            db.cmd().args(["import", "--format", "xml"]).arg(&file),
            2,
        );
        assert!(line.contains("invalid value 'xml'"), "{line}");
        let line = refused(&db, db.cmd().arg("import").arg(db.dir.path()), 2);
        assert!(line.contains("not a regular file"), "{line}");
    });
}

#[test]
fn export_refuses_before_it_writes_anything() {
    each_backend("", |backend| {
        let db = Db::new(backend, Shape::APP);
        db.app_store(KEY, "alice", &secret_for(371));
        let dir = db.dir.path();
        let bundle_key = write_key_in(dir, "bundle.key", KEY3);
        let listed = entries(dir);
        let out = db.path("out");
        let cases: Vec<(Vec<&str>, i32, &str)> = vec![
            (vec!["export", "--format", "csv"], 2, "pass --plaintext"),
            (vec!["export"], 2, "pass --bundle-key-file PATH"),
            (
                vec!["export", "--format", "otpauth", "--plaintext", "--pending"],
                2,
                "carries no state",
            ),
            (
                vec!["export", "--format", "csv", "--plaintext", "zed"],
                3,
                "no account named 'zed'",
            ),
            (
                vec!["export", "--format", "csv", "--plaintext", "bob"],
                3,
                "'bob' has no 2FA enabled",
            ),
            (
                vec!["export", "--format", "yaml", "--plaintext"],
                2,
                "invalid value 'yaml'",
            ),
        ];
        for (args, code, says) in cases {
            let line = refused(&db, db.cmd().args(&args).arg("--out").arg(&out), code);
            assert!(line.contains(says), "{args:?}: {line}");
            assert_eq!(entries(dir), listed, "{args:?} left a file");
        }
        let line = refused(
            &db,
            db.cmd()
                .args(["export", "--bundle-key-file"])
                .arg(db.path("nope.key"))
                .arg("--out")
                .arg(&out),
            4,
        );
        assert!(line.contains("key file not found"), "{line}");
        // An existing file is never overwritten.
        std::fs::write(&out, "keep").unwrap();
        let line = refused(
            &db,
            db.cmd()
                .args(["export", "--bundle-key-file"])
                .arg(&bundle_key)
                .arg("--out")
                .arg(&out),
            2,
        );
        assert!(line.contains("already exists"), "{line}");
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep");
    });
}

#[test]
fn undecryptable_secrets_are_named_and_skipped() {
    let (alice, bob) = (secret_for(381), secret_for(382));
    each_backend("", |backend| {
        let db = Db::new(backend, Shape::APP);
        db.app_store(KEY, "alice", &alice);
        // Under another key: a straggler the master key cannot open.
        db.app_store(KEY2, "bob", &bob);
        let dir = db.dir.path().to_path_buf();
        let listed = entries(&dir);
        let out_file = db.path("users.csv");
        let export = |extra: &[&str]| {
            let mut c = db.cmd();
            c.args(["export", "--format", "csv", "--plaintext"])
                .args(extra)
                .arg("--out")
                .arg(&out_file);
            run(&mut c)
        };
        let out = export(&[]);
        assert_code(&out, 4);
        assert_eq!(stdout(&out), "");
        let err = stderr(&out);
        assert!(
            err.contains("the secret of 'bob' does not decrypt"),
            "{err}"
        );
        assert!(
            err.contains("1 secret did not decrypt (named above); nothing was written"),
            "{err}"
        );
        assert_eq!(entries(&dir), listed, "a file was left behind");

        let out = export(&["--skip-undecryptable"]);
        assert_code(&out, 4);
        assert!(
            stderr(&out).contains("1 secret did not decrypt (named above) and was left out of"),
            "{}",
            stderr(&out)
        );
        assert_eq!(
            std::fs::read_to_string(&out_file).unwrap(),
            format!("user,state,secret\r\nalice,enabled,{alice}\r\n")
        );
        assert_eq!(mode(&out_file), 0o600);
        let _ = std::fs::remove_file(&out_file);
        // The JSON document says so too, once.
        let out = export(&["--skip-undecryptable", "--json"]);
        assert_code(&out, 4);
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            doc["skipped"],
            serde_json::json!([{"user": "bob", "state": "enabled"}])
        );
        assert_eq!(doc["exit"], 4);
        assert_eq!(doc["count"], 1);
        let _ = std::fs::remove_file(&out_file);
        // Named users only: bob's secret is not needed, so nothing fails.
        let out = export(&["alice"]);
        assert_ok(&out);
        assert_eq!(
            stdout(&out),
            format!(
                "exported 1 user (1 enabled, 0 pending) to {}\n",
                out_file.display()
            )
        );
        let _ = std::fs::remove_file(&out_file);
        // Many: the first 20 named, then a count (a wrong key is refused
        // at once instead, by the key check value; see meta.rs).
        for i in 0..22 {
            db.sql(&format!(
                "INSERT INTO {t} (username, twofa_enabled, twofa_secret)
                 SELECT 'extra{i}', twofa_enabled, twofa_secret FROM {t} WHERE username = 'bob'",
                t = db.table()
            ));
        }
        let out = export(&[]);
        assert_code(&out, 4);
        let err = stderr(&out);
        assert_eq!(err.matches("does not decrypt").count(), 20, "{err}");
        assert!(
            err.contains("and 3 more secrets that do not decrypt"),
            "{err}"
        );
        assert!(err.contains("23 secrets did not decrypt"), "{err}");
        assert_eq!(entries(&dir), listed, "a file was left behind");
    });
}
