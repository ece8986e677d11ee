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

/// Opens `path` for reading without waiting: a FIFO would block the open
/// until a writer came, so it is opened at once, for the caller to refuse
/// when it checks for a regular file.
pub fn open_for_reading(path: &Path) -> std::io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    opts.open(path)
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

/// A hidden name beside `path` for writing it before it is published with
/// [`publish`]: `.NAME.mex2fa-PID-RANDOM`.
pub fn temp_beside(path: &Path) -> std::path::PathBuf {
    let mut r = [0u8; 6];
    getrandom::fill(&mut r).expect("the operating system's random source failed");
    let tag: String = r.iter().map(|b| format!("{b:02x}")).collect();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.mex2fa-{}-{tag}", std::process::id()))
}

/// Creates the directory `path` (mode 0700); fails if anything is there.
pub fn create_private_dir(path: &Path) -> Result<()> {
    let mut b = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(path).map_err(|e| {
        let shown = path.display();
        match e.kind() {
            ErrorKind::AlreadyExists => Error::usage(format!(
                "{shown} already exists; mex2fa never overwrites: choose another path or move it away"
            )),
            kind if is_path_problem(kind) => Error::usage(format!("cannot create {shown}: {e}")),
            _ => Error::io(format!("cannot create {shown}: {e}")),
        }
    })
}

/// Fails (exit 2) when something is at `path` already, before any work is
/// done for a file that could not be published there.
pub fn ensure_absent(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => Err(Error::usage(format!(
            "{} already exists; mex2fa never overwrites: choose another path or move it away",
            path.display()
        ))),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::usage(format!("cannot use {}: {e}", path.display()))),
    }
}

/// Gives the finished file or directory `from` its final name `to`, in one
/// step and never over anything already there (`renameat2` with
/// `RENAME_NOREPLACE`; a hard link for a file where the file system cannot
/// do that). `to` exists complete or not at all.
pub fn publish(from: &Path, to: &Path) -> Result<()> {
    let taken = || {
        Error::usage(format!(
            "{} appeared while mex2fa was writing it; mex2fa never overwrites: choose another path",
            to.display()
        ))
    };
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::ffi::OsStrExt;
        let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).ok();
        if let (Some(a), Some(b)) = (c(from), c(to)) {
            // SAFETY: two NUL-terminated paths that outlive the call.
            let rc = unsafe {
                libc::renameat2(
                    libc::AT_FDCWD,
                    a.as_ptr(),
                    libc::AT_FDCWD,
                    b.as_ptr(),
                    libc::RENAME_NOREPLACE,
                )
            };
            if rc == 0 {
                return Ok(());
            }
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EEXIST) => return Err(taken()),
                Some(libc::EINVAL | libc::ENOSYS) => {}
                _ => return Err(Error::io(format!("cannot create {}: {e}", to.display()))),
            }
        }
    }
    if from.is_dir() {
        ensure_absent(to)?;
        return std::fs::rename(from, to)
            .map_err(|e| Error::io(format!("cannot create {}: {e}", to.display())));
    }
    match std::fs::hard_link(from, to) {
        Ok(()) => {
            let _ = std::fs::remove_file(from);
            Ok(())
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Err(taken()),
        Err(e) => Err(Error::io(format!("cannot create {}: {e}", to.display()))),
    }
}
