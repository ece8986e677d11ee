//! The MeXanimatoR app, played by Python with the app's own libraries (pyotp
//! and cryptography, pinned in `tests/requirements.txt`) through the drivers
//! in `tests/py/`. The Python is the venv `scripts/test` installs
//! (`MEX2FA_TEST_PYTHON`); a test that needs it fails without it, saying so.

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::sync::OnceLock;

use super::totp_now;

/// What to do when the app's Python is missing.
const INSTALL: &str = "run scripts/test (it installs the Python venv)";

/// The Python that plays the app: `MEX2FA_TEST_PYTHON`, which must import
/// pyotp and cryptography. Panics, naming the fix, when it is unset or cannot.
pub fn python() -> PathBuf {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let found = PYTHON.get_or_init(|| {
        let Some(python) = std::env::var_os("MEX2FA_TEST_PYTHON").filter(|p| !p.is_empty()) else {
            return Err(format!("MEX2FA_TEST_PYTHON is not set: {INSTALL}"));
        };
        let python = PathBuf::from(python);
        match StdCommand::new(&python)
            .args(["-c", "import pyotp, cryptography"])
            .output()
        {
            Ok(out) if out.status.success() => Ok(python),
            Ok(out) => Err(format!(
                "MEX2FA_TEST_PYTHON={} cannot import pyotp and cryptography ({}): {INSTALL}",
                python.display(),
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim()
            )),
            Err(e) => Err(format!(
                "MEX2FA_TEST_PYTHON={} does not run ({e}): {INSTALL}",
                python.display()
            )),
        }
    });
    found.clone().unwrap_or_else(|e| panic!("{e}"))
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

/// Runs `tests/py/app.py ARGS` and returns its exit code and trimmed stdout.
pub fn py_status(python: &Path, args: &[&str]) -> (i32, String) {
    let (code, stdout, stderr) = py_outcome(python, args);
    let code = code.expect("python exited");
    assert!(code <= 2, "python {args:?} crashed: {stderr}");
    (code, stdout.trim_end_matches('\n').to_string())
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
