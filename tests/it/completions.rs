//! Shell completions: the scripts committed in `completions/` stay
//! byte-identical to what `mex2fa completions SHELL` prints (regenerate them
//! with `scripts/gen-completions`), and they really complete in real shells:
//! each script calls back into mex2fa (the binary under test, first on the
//! shells' PATH), which answers with commands, flags, and user names read
//! from the configured database.
//!
//! bash, zsh and fish are required: a missing one fails its test and says
//! what to install (`scripts/test` installs zsh and fish when it runs as
//! root). Elvish and PowerShell are
//! not in Debian's archive, so only the byte-identity covers their files.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::util::{TestEnv, bin, require};

/// (argument of `mex2fa completions`, file under completions/).
const FILES: [(&str, &str); 5] = [
    ("bash", "mex2fa.bash"),
    ("zsh", "_mex2fa"),
    ("fish", "mex2fa.fish"),
    ("elvish", "mex2fa.elv"),
    ("powershell", "_mex2fa.ps1"),
];

/// Subcommands that must complete whatever else is added later.
const CORE: [&str; 9] = [
    "enroll",
    "confirm",
    "verify",
    "disable",
    "status",
    "keygen",
    "completions",
    "demo",
    "log",
];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("completions")
}

fn generated(env: &TestEnv, shell: &str) -> Vec<u8> {
    env.bare()
        .args(["completions", shell])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone()
}

#[test]
fn committed_files_equal_the_binary_output() {
    let env = TestEnv::new();
    let mut stale = Vec::new();
    for (shell, file) in FILES {
        let committed = std::fs::read(dir().join(file))
            .unwrap_or_else(|e| panic!("completions/{file}: {e}; run scripts/gen-completions"));
        let fresh = generated(&env, shell);
        let text = String::from_utf8_lossy(&fresh);
        assert!(
            text.contains("MEX2FA_COMPLETE") && text.contains("mex2fa"),
            "`mex2fa completions {shell}` does not call back into mex2fa:\n{text}"
        );
        if committed != fresh {
            stale.push(format!("completions/{file}"));
        }
    }
    assert!(
        stale.is_empty(),
        "out of date (not what `mex2fa completions SHELL` prints; the CLI changed): {}; run scripts/gen-completions and commit the result",
        stale.join(", ")
    );
}

#[test]
fn completions_folder_holds_exactly_the_five_scripts() {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .expect("completions/ exists")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut want: Vec<String> = FILES.iter().map(|(_, f)| f.to_string()).collect();
    want.sort();
    assert_eq!(names, want, "stray or missing files in completions/");
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let env = TestEnv::new();
    env.bare()
        .args(["completions", "tcsh"])
        .assert()
        .code(2)
        .stdout("");
}

/// The subcommands `mex2fa --help` lists (so new ones are expected too).
fn subcommands(env: &TestEnv) -> Vec<String> {
    let help = env
        .bare()
        .arg("--help")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let help = String::from_utf8(help).unwrap();
    let list: Vec<String> = help
        .split("Commands:\n")
        .nth(1)
        .expect("a Commands: section in --help")
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    for core in CORE {
        assert!(
            list.iter().any(|c| c == core),
            "--help lacks {core}: {list:?}"
        );
    }
    list
}

/// Runs a command with a deadline (an interactive shell that hangs must not
/// hang the suite); kills only that child on timeout.
fn run(mut cmd: Command, limit: Duration) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn shell");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        out.read_to_end(&mut b).map(|_| b)
    });
    let err_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        err.read_to_end(&mut b).map(|_| b)
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: reader.join().unwrap().expect("stdout"),
        stderr: err_reader.join().unwrap().expect("stderr"),
    }
}

/// A clean environment for a shell whose `mex2fa` is the binary under test.
fn shell_env(cmd: &mut Command, home: &Path) {
    let mut path = vec![bin().parent().unwrap().to_path_buf()];
    path.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    cmd.env_clear()
        .env("PATH", std::env::join_paths(path).unwrap())
        .env("HOME", home)
        .env("TERM", "dumb")
        .current_dir(home);
}

/// Sources completions/mex2fa.bash in a non-interactive bash, sets up what
/// bash's completion machinery would (COMP_WORDS, COMP_CWORD, COMP_LINE,
/// COMP_POINT), calls the function `complete -p mex2fa` names, and returns
/// COMPREPLY. The last word is the one being completed.
fn bash_complete(home: &Path, vars: &[(&str, &Path)], line: &str) -> Done {
    const DRIVER: &str = r#"
        source "$1" || exit 10
        shift
        spec=$(complete -p mex2fa) || exit 11
        fn=${spec##*-F }; fn=${fn%% *}
        COMP_WORDS=("$@")
        COMP_CWORD=$(( $# - 1 ))
        COMP_LINE="$*"
        COMP_POINT=${#COMP_LINE}
        COMPREPLY=()
        "$fn" mex2fa "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
        printf '%s\n' "${COMPREPLY[@]}"
    "#;
    let mut cmd = Command::new("bash");
    shell_env(&mut cmd, home);
    cmd.envs(vars.iter().copied())
        .args(["--norc", "--noprofile", "-c", DRIVER, "bash"])
        .arg(dir().join("mex2fa.bash"))
        .args(line.split(' '));
    finish("bash", line, run(cmd, Duration::from_secs(20)))
}

/// Types the line and a TAB in an interactive zsh (tests/shell/zsh-complete.zsh)
/// that finds completions/_mex2fa on its $fpath, as an installed file is found.
fn zsh_complete(home: &Path, vars: &[(&str, &Path)], line: &str) -> Done {
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/shell/zsh-complete.zsh");
    let mut cmd = Command::new("zsh");
    shell_env(&mut cmd, home);
    cmd.envs(vars.iter().copied())
        .arg("-f")
        .arg(&driver)
        .arg(dir())
        .arg(line);
    finish("zsh", line, run(cmd, Duration::from_secs(30)))
}

/// `complete -C LINE` in a fish that sourced completions/mex2fa.fish.
fn fish_complete(home: &Path, vars: &[(&str, &Path)], line: &str) -> Done {
    let mut cmd = Command::new("fish");
    shell_env(&mut cmd, home);
    cmd.envs(vars.iter().copied())
        .args([
            "--no-config",
            "-c",
            "source $argv[1]; and complete -C $argv[2]",
        ])
        .arg(dir().join("mex2fa.fish"))
        .arg(line);
    let mut done = finish("fish", line, run(cmd, Duration::from_secs(20)));
    // `complete -C` prints "candidate<TAB>description".
    for c in &mut done.candidates {
        *c = c.split('\t').next().unwrap_or_default().to_string();
    }
    done
}

/// What a shell offered, and what it printed on stderr meanwhile.
struct Done {
    candidates: Vec<String>,
    stderr: String,
}

fn finish(shell: &str, line: &str, out: Output) -> Done {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "{shell} completion of {line:?} failed: {stderr}"
    );
    Done {
        candidates: lines(&out.stdout),
        stderr,
    }
}

fn lines(b: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(b)
        .lines()
        .map(|l| l.trim_end().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

fn contains_all(got: &[String], want: &[String], what: &str) {
    let missing: Vec<&String> = want.iter().filter(|w| !got.contains(w)).collect();
    assert!(missing.is_empty(), "{what}: missing {missing:?} in {got:?}");
}

const SHELLS: [&str; 5] = ["bash", "elvish", "fish", "powershell", "zsh"];

type Complete = fn(&Path, &[(&str, &Path)], &str) -> Done;

/// A shell to complete in, with a home of its own.
struct Tab {
    name: &'static str,
    complete: Complete,
    env: TestEnv,
    home: PathBuf,
}

impl Tab {
    fn new(name: &'static str, complete: Complete) -> Tab {
        require(name, name);
        let env = TestEnv::new();
        let home = env.path("home");
        std::fs::create_dir(&home).unwrap();
        Tab {
            name,
            complete,
            env,
            home,
        }
    }

    /// The candidates for `line` with nothing configured.
    fn offers(&self, line: &str) -> Vec<String> {
        (self.complete)(&self.home, &[], line).candidates
    }

    /// The candidates for `line` with MEX2FA_DB set to the test database.
    fn offers_with_db(&self, line: &str) -> Vec<String> {
        (self.complete)(&self.home, &[("MEX2FA_DB", &self.env.db)], line).candidates
    }
}

/// The checks every tested shell must pass.
fn check_shell(tab: &Tab) {
    let name = tab.name;
    let subs = subcommands(&tab.env);
    contains_all(
        &tab.offers("mex2fa "),
        &subs,
        &format!("{name}: `mex2fa <TAB>`"),
    );
    assert_eq!(
        tab.offers("mex2fa en"),
        ["enroll"],
        "{name}: `mex2fa en<TAB>`"
    );
    let got = tab.offers("mex2fa enroll --s");
    let want = ["--show-secret".to_string(), "--svg".to_string()];
    contains_all(&got, &want, &format!("{name}: `mex2fa enroll --s<TAB>`"));
    assert!(
        got.iter().all(|c| c.starts_with("--s")),
        "{name}: `mex2fa enroll --s<TAB>` offered {got:?}"
    );
    // `mex2fa completions <TAB>` offers the shell names (flags may come too).
    let mut shells: Vec<String> = tab
        .offers("mex2fa completions ")
        .into_iter()
        .filter(|c| !c.starts_with('-'))
        .collect();
    shells.sort();
    assert_eq!(shells, SHELLS, "{name}: `mex2fa completions <TAB>`");
}

/// User names come from the database: each command offers those it can act on.
/// alice: 2FA enabled; bob: pending; carol and alan: neither.
fn check_user_names(tab: &Tab) {
    let name = tab.name;
    tab.env.enable_steady("alice");
    tab.env.enroll("bob");
    tab.env.add_user("alan");
    let users = |line: &str| -> Vec<String> {
        let mut got: Vec<String> = tab
            .offers_with_db(line)
            .into_iter()
            .filter(|c| !c.starts_with('-'))
            .collect();
        got.sort();
        got
    };
    assert_eq!(
        users("mex2fa disable al"),
        ["alice"],
        "{name}: disable al<TAB>"
    );
    assert_eq!(
        users("mex2fa disable "),
        ["alice", "bob"],
        "{name}: disable <TAB>"
    );
    assert_eq!(users("mex2fa verify "), ["alice"], "{name}: verify <TAB>");
    assert_eq!(users("mex2fa confirm "), ["bob"], "{name}: confirm <TAB>");
    assert_eq!(
        users("mex2fa enroll "),
        ["alan", "bob", "carol"],
        "{name}: enroll <TAB>"
    );
    assert_eq!(
        users("mex2fa enroll --force al"),
        ["alan", "alice"],
        "{name}: enroll --force al<TAB>"
    );
    assert_eq!(
        users("mex2fa status "),
        ["alan", "alice", "bob", "carol"],
        "{name}: status <TAB>"
    );
    assert_eq!(users("mex2fa log c"), ["carol"], "{name}: log c<TAB>");
}

/// The database named on the line being completed (`--db PATH`) is the one read;
/// with none configured, or a broken one, a TAB offers nothing and says nothing.
fn check_quiet_without_a_database(tab: &Tab) {
    let name = tab.name;
    tab.env.enable_steady("alice");
    let db = tab.env.db.display().to_string();
    let line = format!("mex2fa --db {db} disable al");
    assert_eq!(tab.offers(&line), ["alice"], "{name}: {line}<TAB>");
    let not_a_db = tab.env.path("notes.txt");
    std::fs::write(&not_a_db, "not a database").unwrap();
    let missing = tab.env.path("missing.db");
    for vars in [
        &[][..],
        &[("MEX2FA_DB", missing.as_path())][..],
        &[("MEX2FA_DB", not_a_db.as_path())][..],
    ] {
        let done = (tab.complete)(&tab.home, vars, "mex2fa disable al");
        assert_eq!(done.candidates, Vec::<String>::new(), "{name}: {vars:?}");
        assert_eq!(done.stderr, "", "{name}: a TAB printed an error ({vars:?})");
    }
}

#[test]
fn bash_completes_subcommands_and_flags() {
    check_shell(&Tab::new("bash", bash_complete));
}

#[test]
fn bash_completes_user_names_from_the_database() {
    check_user_names(&Tab::new("bash", bash_complete));
}

#[test]
fn bash_completes_quietly_without_a_database() {
    check_quiet_without_a_database(&Tab::new("bash", bash_complete));
}

#[test]
fn zsh_completes_subcommands_and_flags() {
    check_shell(&Tab::new("zsh", zsh_complete));
}

#[test]
fn zsh_completes_user_names_from_the_database() {
    check_user_names(&Tab::new("zsh", zsh_complete));
}

#[test]
fn zsh_completes_quietly_without_a_database() {
    check_quiet_without_a_database(&Tab::new("zsh", zsh_complete));
}

#[test]
fn fish_completes_subcommands_and_flags() {
    check_shell(&Tab::new("fish", fish_complete));
}

#[test]
fn fish_completes_user_names_from_the_database() {
    check_user_names(&Tab::new("fish", fish_complete));
}

#[test]
fn fish_completes_quietly_without_a_database() {
    check_quiet_without_a_database(&Tab::new("fish", fish_complete));
}
