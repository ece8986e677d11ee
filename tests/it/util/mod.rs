//! The harness shared by every test module, one file per concern:
//! `env` (the binary in a temp dir), `db` (the database), `app` (the app's
//! Python), `totp` and `fernet` (independent references), `qr` (decoding
//! what `enroll` draws), `host` (commands the tests need from the machine),
//! `pty` (runs on a pseudo-terminal);
//! `catalog` (the hostile-input cases), `models` and `otpauth` (reference
//! models, shared with the fuzz targets in `fuzz/`).

mod app;
pub mod backend;
pub mod catalog;
mod db;
mod env;
mod fernet;
mod host;
pub mod models;
pub mod otpauth;
mod pty;
mod qr;
mod totp;

use std::path::PathBuf;

pub use app::*;
pub use db::*;
pub use env::*;
pub use fernet::*;
pub use host::*;
pub use pty::*;
pub use qr::*;
pub use totp::*;

/// `tests/vectors`: the published known answers (see its README.md).
pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}
