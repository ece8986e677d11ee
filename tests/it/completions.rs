//! Shell completions: the scripts committed in `completions/` stay
//! byte-identical to what `mex2fa completions SHELL` prints (regenerate them
//! with `scripts/gen-completions`), and they really complete in real shells.
//!
//! bash, zsh and fish are always tested: a missing shell fails its test with
//! the package to install (`scripts/test` installs zsh and fish when it runs
//! as root). Elvish and PowerShell are not in Debian's archive, so only the
//! byte-identity covers their files.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::util::{TestEnv, require};

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
        assert!(
            fresh.len() > 1000,
            "`mex2fa completions {shell}` printed almost nothing"
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

fn shell_env(cmd: &mut Command, home: &Path) {
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("TERM", "dumb")
        .current_dir(home);
}

/// Sources completions/mex2fa.bash in a non-interactive bash, sets up what
/// bash's completion machinery would (COMP_WORDS, COMP_CWORD, COMP_LINE,
/// COMP_POINT), calls the function `complete -p mex2fa` names, and returns
/// COMPREPLY. The last word is the one being completed.
fn bash_complete(home: &Path, words: &[&str]) -> Vec<String> {
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
    let mut cmd = Command::new(require("bash", "bash"));
    shell_env(&mut cmd, home);
    cmd.args(["--norc", "--noprofile", "-c", DRIVER, "bash"])
        .arg(dir().join("mex2fa.bash"))
        .args(words);
    let out = run(cmd, Duration::from_secs(20));
    assert!(
        out.status.success(),
        "bash completion of {words:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    lines(&out.stdout)
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

/// The checks every tested shell must pass, given a way to complete a line.
fn check_shell(env: &TestEnv, name: &str, complete: impl Fn(&str) -> Vec<String>) {
    let subs = subcommands(env);
    let got = complete("mex2fa ");
    contains_all(&got, &subs, &format!("{name}: `mex2fa <TAB>`"));
    assert_eq!(
        complete("mex2fa en"),
        ["enroll"],
        "{name}: `mex2fa en<TAB>`"
    );
    let got = complete("mex2fa enroll --s");
    let want = ["--show-secret".to_string(), "--svg".to_string()];
    contains_all(&got, &want, &format!("{name}: `mex2fa enroll --s<TAB>`"));
    assert!(
        got.iter().all(|c| c.starts_with("--s")),
        "{name}: `mex2fa enroll --s<TAB>` offered {got:?}"
    );
}

/// `mex2fa completions <TAB>` offers the shell names (flags may come too).
fn check_shell_names(name: &str, complete: impl Fn(&str) -> Vec<String>) {
    let mut shells: Vec<String> = complete("mex2fa completions ")
        .into_iter()
        .filter(|c| !c.starts_with('-'))
        .collect();
    shells.sort();
    assert_eq!(shells, SHELLS, "{name}: `mex2fa completions <TAB>`");
}

#[test]
fn bash_completes_subcommands_and_flags() {
    let env = TestEnv::new();
    let home = env.path("home");
    std::fs::create_dir(&home).unwrap();
    let complete = |line: &str| {
        let words: Vec<&str> = line.split(' ').collect();
        bash_complete(&home, &words)
    };
    check_shell(&env, "bash", complete);
    check_shell_names("bash", complete);
}

#[test]
fn zsh_completes_subcommands_and_flags() {
    let zsh = require("zsh", "zsh");
    let env = TestEnv::new();
    let home = env.path("home");
    std::fs::create_dir(&home).unwrap();
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/shell/zsh-complete.zsh");
    let complete = |line: &str| {
        let mut cmd = Command::new(&zsh);
        shell_env(&mut cmd, &home);
        cmd.arg("-f").arg(&driver).arg(dir()).arg(line);
        let out = run(cmd, Duration::from_secs(30));
        assert!(
            out.status.success(),
            "zsh completion of {line:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        lines(&out.stdout)
    };
    check_shell(&env, "zsh", complete);
    check_shell_names("zsh", complete);
}

#[test]
fn fish_completes_subcommands_and_flags() {
    let env = fish_env();
    check_shell(&env, "fish", |line| fish_complete(&env, line));
}

#[test]
fn fish_completes_shell_names() {
    let env = fish_env();
    check_shell_names("fish", |line| fish_complete(&env, line));
}

fn fish_env() -> TestEnv {
    require("fish", "fish");
    let env = TestEnv::new();
    std::fs::create_dir(env.path("home")).unwrap();
    env
}

/// `complete -C LINE` in a fish that sourced completions/mex2fa.fish.
fn fish_complete(env: &TestEnv, line: &str) -> Vec<String> {
    let mut cmd = Command::new(require("fish", "fish"));
    shell_env(&mut cmd, &env.path("home"));
    cmd.args([
        "--no-config",
        "-c",
        "source $argv[1]; and complete -C $argv[2]",
    ])
    .arg(dir().join("mex2fa.fish"))
    .arg(line);
    let out = run(cmd, Duration::from_secs(20));
    assert!(
        out.status.success(),
        "fish completion of {line:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `complete -C` prints "candidate<TAB>description".
    lines(&out.stdout)
        .into_iter()
        .map(|l| l.split('\t').next().unwrap_or_default().to_string())
        .collect()
}
