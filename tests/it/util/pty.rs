//! mex2fa on a pseudo-terminal, driven by Python's `pty`: the drivers
//! `tests/py/pty_drive.py` (answer prompts in turn) and `pty_signal.py`
//! (interrupt at a prompt) read a JSON spec on stdin and answer with a JSON
//! report, which includes every byte the terminal showed.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// The whole environment of a run on the terminal: PATH, USER=tester,
/// TERM=xterm, and `vars`.
pub fn pty_env(vars: &[(&str, &str)]) -> serde_json::Map<String, serde_json::Value> {
    let mut env = serde_json::Map::new();
    env.insert(
        "PATH".into(),
        std::env::var("PATH").unwrap_or_default().into(),
    );
    env.insert("USER".into(), "tester".into());
    env.insert("TERM".into(), "xterm".into());
    for (k, v) in vars {
        env.insert((*k).into(), (*v).into());
    }
    env
}

/// Runs the driver `tests/py/SCRIPT` with `spec`; its report, once it is
/// known that every prompt awaited was seen.
pub fn pty_drive(python: &Path, script: &str, spec: &serde_json::Value) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/py")
        .join(script);
    let mut child = Command::new(python)
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(spec.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{script} failed");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        doc["missed"].is_null(),
        "never saw {} in:\n{}",
        doc["missed"],
        doc["output"].as_str().unwrap_or_default()
    );
    doc
}
