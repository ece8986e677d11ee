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
    crate::config::KEY_VAR,
];

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
            db: dir.join("mexanimator.db"),
            key: dir.join("master.key"),
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
                "\nthe demo's files are in {} (database mexanimator.db, keys master.key and new-master.key); remove them with: rm -r {}\n",
                ui::path(&dir),
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
    let key = s.key.display().to_string();
    // The key file does not exist yet: keygen never reads the master key.
    s.run(&["keygen", "--out", &key], 0)?;
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
    let doc = s.run(&["enroll", "bob", "--no-qr", "--show-secret", "--json"], 0)?;
    let bob = serde_json::from_str::<serde_json::Value>(&doc)
        .ok()
        .and_then(|v| v["secret"].as_str().and_then(|x| Secret::parse(x).ok()))
        .ok_or_else(|| Error::usage("the demo's JSON enroll step printed no secret"))?;
    s.run(
        &["confirm", "bob", "--code", &s.code_for(&bob), "--json"],
        0,
    )?;
    s.run(&["status"], 0)?;

    s.say(
        "
# bob lost his phone: reset him\n",
    );
    s.run(&["disable", "bob", "--yes"], 0)?;
    s.run(&["status", "--json"], 0)?;

    s.say(
        "
# maintenance window: rotate the master key (the app is stopped meanwhile)\n",
    );
    let new_key = s.dir.join("new-master.key").display().to_string();
    let backup = s.dir.join("rotation-backup.jsonl").display().to_string();
    s.run(&["keygen", "--out", &new_key], 0)?;
    s.run(
        &[
            "rotate-key",
            "--new-key-file",
            &new_key,
            "--backup",
            &backup,
            "--yes",
        ],
        0,
    )?;
    s.say(
        "
# from now on the app (and mex2fa) use the new key\n",
    );
    s.key = PathBuf::from(&new_key);
    s.run(&["doctor"], 0)?;
    s.run(&["verify", "alice", "--code", &s.code_for(&alice)], 0)?;
    s.run(&["log"], 0)?;
    Ok(())
}
