//! Files mex2fa creates (keys, QR images, backups): mode 0600, never an
//! existing file overwritten, synced to disk before we report success.
//!
//! A path that cannot be used (it exists, its folder does not, no
//! permission) is the caller's to change: exit 2. A disk that is full or
//! failing is an I/O error: exit 5.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::Path;

use crate::error::{Error, Result};

/// Creates `path` exclusively with mode 0600; fails if anything is there.
pub fn create_private(path: &Path) -> Result<File> {
    open_private(path, false)
}

/// As [`create_private`], also readable through the handle (scratch files).
pub fn create_private_rw(path: &Path) -> Result<File> {
    open_private(path, true)
}

fn open_private(path: &Path, read: bool) -> Result<File> {
    let mut opts = OpenOptions::new();
    opts.read(read).write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path).map_err(|e| {
        let shown = path.display();
        match e.kind() {
            ErrorKind::AlreadyExists => Error::usage(format!(
                "{shown} already exists; mex2fa never overwrites a file: choose another path or move it away"
            )),
            kind if is_path_problem(kind) => {
                Error::usage(format!("cannot create {shown}: {e}"))
            }
            _ => Error::io(format!("cannot create {shown}: {e}")),
        }
    })
}

/// Errors that say the path is unusable, rather than the disk.
pub fn is_path_problem(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::NotFound
            | ErrorKind::PermissionDenied
            | ErrorKind::AlreadyExists
            | ErrorKind::IsADirectory
            | ErrorKind::NotADirectory
            | ErrorKind::ReadOnlyFilesystem
            | ErrorKind::InvalidFilename
            | ErrorKind::InvalidInput
    )
}

/// Writes all of `bytes` to a file made by [`create_private`] and syncs it
/// (exit 5 when that fails: the disk is full or failing).
pub fn finish(mut file: File, path: &Path, bytes: &[u8]) -> Result<()> {
    file.write_all(bytes)
        .and_then(|_| file.sync_all())
        .map_err(|e| Error::io(format!("cannot write {}: {e}", path.display())))
}

/// Both steps at once, for files with nothing to roll back.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let file = create_private(path)?;
    finish(file, path, bytes).inspect_err(|_| {
        let _ = std::fs::remove_file(path);
    })
}
