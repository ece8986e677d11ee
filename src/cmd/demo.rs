//! `demo`: every command, run for real by this same binary against a
//! throwaway database and key in a fresh temporary folder. Touches nothing else.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::Run;
use crate::cli::Demo;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::totp::Secret;
use crate::{clock, db, ui};

/// Variables that would point the child runs at real data.
const SCRUB: &[&str] = &[
    "MEX2FA_DB",
    "MEX2FA_TABLE",
    "MEX2FA_ID_COLUMN",
    "MEX2FA_USER_COLUMN",
    "MEX2FA_ENABLED_COLUMN",
    "MEX2FA_SECRET_COLUMN",
    "MEX2FA_ISSUER",
    "MEX2FA_PENDING_TTL",
    "MEX2FA_BUSY_TIMEOUT",
    crate::config::REQUIRE_REASON_VAR,
    crate::config::KEY_VAR,
];

/// The demo's files, in its folder.
const DB: &str = "mexanimator.db";
const KEY: &str = "master.key";
const NEW_KEY: &str = "new-master.key";
/// Every secret as stored before the rotation: with master.key beside it, as
/// good as the secrets themselves.
const BACKUP: &str = "rotation-backup.jsonl";

struct Stage {
    /// With --json the transcript goes to stderr and stdout gets one summary.
    json: bool,
    steps: usize,
    exe: PathBuf,
    dir: PathBuf,
    db: PathBuf,
    key: PathBuf,
}

impl Stage {
    fn say(&self, text: &str) {
        if self.json {
            ui::err_raw(text);
        } else {
            ui::out(text);
        }
    }

    /// Runs `mex2fa ARGS` in the demo folder, shows the command and its output,
    /// and returns its stdout and exit code.
    fn run(&mut self, args: &[&str], expect: i32) -> Result<String> {
        self.steps += 1;
        self.say(&format!("\n$ mex2fa {}\n", args.join(" ")));
        let mut cmd = Command::new(&self.exe);
        cmd.args(args)
            .current_dir(&self.dir)
            .env("MEX2FA_DB", &self.db)
            .arg("--master-key-file")
            .arg(&self.key)
            .stdin(Stdio::null());
        for v in SCRUB.iter().filter(|v| **v != "MEX2FA_DB") {
            cmd.env_remove(v);
        }
        let output = cmd
            .output()
            .map_err(|e| Error::usage(format!("cannot run {}: {e}", self.exe.display())))?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        self.say(&stdout);
        // Messages after results, in the order a person at a terminal would read them.
        self.say(&String::from_utf8_lossy(&output.stderr));
        let code = output.status.code().unwrap_or(-1);
        if code != expect {
            return Err(Error::usage(format!(
                "the demo step 'mex2fa {}' exited {code}, expected {expect}; the files are in {}",
                args.join(" "),
                self.dir.display()
            )));
        }
        if expect != 0 {
            self.say(&format!("(exit code {code}, as expected)\n"));
        }
        Ok(stdout)
    }

    fn code_for(&self, secret: &Secret) -> String {
        secret.code_at(clock::now())
    }

    /// Plays the app's Confirm for `user`: a new secret, encrypted under the
    /// key in `key_file` and written with enabled = 1, as the app writes it
    /// (not through mex2fa's commands, which refuse a key the database was
    /// not last used with).
    fn app_enables(&mut self, user: &str, key_file: &str) -> Result<Secret> {
        let key = crate::config::read_key_file(&self.dir.join(key_file), "the demo's key")?;
        let name = |n: &str| db::Ident::parse(n).expect("a valid identifier");
        let schema = db::Schema {
            table: db::TableName::parse("account").expect("a valid table name"),
            id: name("accountid"),
            user: name("username"),
            enabled: name("twofa_enabled"),
            secret: name("twofa_secret"),
        };
        let mut store = db::open(
            &db::Target::Sqlite(self.db.clone()),
            schema,
            db::Options {
                mode: db::Mode::ReadWrite,
                busy: std::time::Duration::from_secs(5),
            },
        )?;
        let secret = Secret::generate();
        store.write(|tx| {
            let account = tx.account(user)?;
            tx.enable(&account.id, &key.encrypt(secret.as_str().as_bytes()))
        })?;
        Ok(secret)
    }
}

/// Every file left in the demo folder, each said for what it is, the backup
/// first: it holds every secret (and the key it is under lies beside it).
fn files_left(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort_by_key(|n| (n != BACKUP, n.clone()));
    names
        .into_iter()
        .map(|n| match n.as_str() {
            BACKUP => format!("{n} (the secrets before the rotation: delete it first)"),
            DB => format!("{n} (the database)"),
            KEY => format!("{n} (the old master key)"),
            NEW_KEY => format!("{n} (the master key now)"),
            _ => n,
        })
        .collect()
}

fn make_dir() -> Result<PathBuf> {
    let base = std::env::temp_dir();
    for n in 0..100u32 {
        let dir = base.join(format!("mex2fa-demo-{}-{n}", std::process::id()));
        let mut b = std::fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        match b.create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(Error::usage(format!(
                    "cannot create a folder in {}: {e}",
                    base.display()
                )));
            }
        }
    }
    Err(Error::usage("cannot find a free folder name for the demo"))
}

/// The secret in the JSON document of `enroll --show-secret --json`.
fn json_secret(stdout: &str) -> Result<Secret> {
    serde_json::from_str::<serde_json::Value>(stdout)
        .ok()
        .and_then(|v| v["secret"].as_str().and_then(|x| Secret::parse(x).ok()))
        .ok_or_else(|| Error::usage("the demo's JSON enroll step printed no secret"))
}

fn secret_line(stdout: &str) -> Result<Secret> {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("secret: "))
        .and_then(|s| Secret::parse(s).ok())
        .ok_or_else(|| Error::usage("the demo's enroll step printed no secret"))
}

impl Run for Demo {
    fn run(&self, cfg: &Config) -> Result<()> {
        let exe = std::env::current_exe()
            .map_err(|e| Error::usage(format!("cannot find the mex2fa binary: {e}")))?;
        let dir = make_dir()?;
        let mut stage = Stage {
            json: cfg.json,
            steps: 0,
            exe,
            db: dir.join(DB),
            key: dir.join(KEY),
            dir: dir.clone(),
        };
        stage.say(&format!(
            "mex2fa demo: a throwaway copy of the app's schema and a throwaway key in {}\n",
            ui::path(&dir)
        ));
        db::sqlite::create_reference(
            &stage.db,
            &[
                ("alice", "alice@example.com"),
                ("bob", "bob@example.com"),
                ("carol", "carol@example.com"),
            ],
        )?;
        let result = tour(&mut stage);
        if self.clean {
            let _ = std::fs::remove_dir_all(&dir);
        } else {
            stage.say(&format!(
                "\nthe demo's files are in {}: {}; remove them with: rm -r {}\n",
                ui::path(&dir),
                files_left(&dir).join(", "),
                ui::path(&dir)
            ));
        }
        result?;
        if cfg.json {
            ui::json(&serde_json::json!({
                "directory": (!self.clean).then(|| dir.display().to_string()),
                "steps": stage.steps,
                "ok": true,
            }));
        }
        Ok(())
    }
}

fn tour(s: &mut Stage) -> Result<()> {
    // Files are named relative to the demo folder, the children's working
    // directory, so the transcript reads as typed.
    // The key file does not exist yet: keygen never reads the master key.
    s.run(&["keygen", "--out", KEY], 0)?;
    s.run(&["status"], 0)?;

    s.say(
        "
# alice sets up 2FA: the QR code below is what her phone scans\n",
    );
    let alice = secret_line(&s.run(&["enroll", "alice", "--show-secret"], 0)?)?;
    s.run(&["status", "alice"], 0)?;
    s.say(
        "
# her app shows a code; the demo computes the same one from the secret\n",
    );
    s.run(&["confirm", "alice", "--code", &s.code_for(&alice)], 0)?;
    s.run(&["verify", "alice", "--code", &s.code_for(&alice)], 0)?;
    s.say(
        "
# a wrong code is refused with exit code 1\n",
    );
    let wrong = if s.code_for(&alice) == "000000" {
        "111111"
    } else {
        "000000"
    };
    s.run(&["verify", "alice", "--code", wrong], 1)?;

    s.say(
        "
# bob enrolls and confirms in one call (e.g. reading the code over the phone)\n",
    );
    let bob = json_secret(&s.run(&["enroll", "bob", "--no-qr", "--show-secret", "--json"], 0)?)?;
    s.run(
        &["confirm", "bob", "--code", &s.code_for(&bob), "--json"],
        0,
    )?;
    s.run(&["status"], 0)?;

    s.say(
        "
# bob lost his phone: reset him\n",
    );
    s.run(&["disable", "bob", "--yes", "--reason", "ticket-4711"], 0)?;
    s.run(&["status", "--json"], 0)?;

    s.say(
        "
# maintenance window: a new master key; first see what a rotation would do\n",
    );
    s.run(&["keygen", "--out", NEW_KEY], 0)?;
    s.run(&["rotate-key", "--new-key-file", NEW_KEY, "--dry-run"], 0)?;
    s.run(
        &[
            "rotate-key",
            "--new-key-file",
            NEW_KEY,
            "--backup",
            BACKUP,
            "--yes",
        ],
        0,
    )?;
    s.say(
        "
# changed your mind before the app uses the new key? restore puts the saved
# tokens back (checked first against the old key, which is still the master key)\n",
    );
    s.run(&["restore", "--backup", BACKUP, "--yes"], 0)?;
    s.say(
        "
# rotate again, for real this time (the backup still holds these same tokens)\n",
    );
    s.run(&["rotate-key", "--new-key-file", NEW_KEY, "--yes"], 0)?;

    s.say(
        "
# mex2fa itself now refuses the old key: its key check value says this
# database was last used with the new one (exit code 4)\n",
    );
    s.run(&["enroll", "carol", "--no-qr"], 4)?;
    s.say(
        "
# but the app still runs on the old key for a moment, and carol turns on 2FA
# on its settings page: her secret is written under the old key (the demo
# plays the app here)\n",
    );
    let carol = s.app_enables("carol", KEY)?;

    s.say(
        "
# from now on the app (and mex2fa) use the new key; doctor checks every token
# and finds carol's, a straggler under the old key (exit code 4)\n",
    );
    s.key = s.dir.join(NEW_KEY);
    s.run(&["doctor"], 4)?;
    s.say(
        "
# a rotation that may also read the old key fixes her; doctor is clean again\n",
    );
    s.run(
        &[
            "rotate-key",
            "--new-key-file",
            NEW_KEY,
            "--old-key-file",
            KEY,
            "--yes",
        ],
        0,
    )?;
    s.run(&["doctor"], 0)?;
    s.run(&["verify", "alice", "--code", &s.code_for(&alice)], 0)?;
    s.run(&["verify", "carol", "--code", &s.code_for(&carol)], 0)?;
    s.run(&["log"], 0)?;
    Ok(())
}
