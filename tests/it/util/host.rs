//! Programs the tests run besides the binary. A missing one fails the test
//! with the Debian package to install (`scripts/test` installs them when it
//! runs as root); no test passes by skipping what it cannot run.

use std::path::PathBuf;
use std::process::Command;

/// The path of `command` on PATH; panics naming `package` when it is missing.
pub fn require(command: &str, package: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(command))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "`{command}` is not installed: apt-get install {package} \
             (scripts/test installs it when run as root)"
        )
    })
}

/// util-linux's `script`, which runs a command on a pseudo-terminal.
pub fn script() -> Command {
    Command::new(require("script", "bsdutils"))
}
