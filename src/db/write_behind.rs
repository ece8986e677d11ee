//! Gets a large transaction's pages onto the disk while it is still running
//! (Linux; a no-op elsewhere).
//!
//! A rotation rewrites every page of the accounts table twice: the original
//! into the rollback journal, the new one into the database. SQLite syncs the
//! journal at each cache spill and both files at the commit, and each sync
//! then waits while the kernel writes out everything handed to it since the
//! last one: on a 200k-account database, about a third of the whole run. This
//! thread asks the kernel every few milliseconds to start writing what SQLite
//! has already written (`sync_file_range` with `SYNC_FILE_RANGE_WRITE`: start
//! the writeback, wait for nothing), so the syncs find little left to do.
//!
//! It changes nothing SQLite's guarantees rest on: the kernel may write a
//! dirty page at any moment anyway, and what makes the transaction durable is
//! still SQLite's own syncs, in SQLite's order. SQLite's descriptors are found
//! in `/proc/self/fd` instead of opening the files: closing a second
//! descriptor of the database would drop the locks SQLite holds on it.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the kernel is asked.
const EVERY: Duration = Duration::from_millis(10);

/// Runs until dropped.
pub struct WriteBehind {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl WriteBehind {
    /// Starts on the database at `db` and its journal or write-ahead log.
    pub fn start(db: &Path) -> WriteBehind {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        if cfg!(not(target_os = "linux")) {
            return WriteBehind { stop, thread: None };
        }
        // SQLite keeps its journal beside the file a symbolic link points to.
        let db = std::fs::canonicalize(db).unwrap_or_else(|_| db.to_path_buf());
        let files = ["", "-journal", "-wal"].map(|suffix| {
            let mut p = db.as_os_str().to_os_string();
            p.push(suffix);
            std::path::PathBuf::from(p)
        });
        let stopped = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("write-behind".into())
            .spawn(move || {
                let (lock, wake) = &*stopped;
                let mut done = lock.lock().unwrap_or_else(|e| e.into_inner());
                while !*done {
                    done = wake
                        .wait_timeout(done, EVERY)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                    start_writeback(&files);
                }
            })
            .ok();
        WriteBehind { stop, thread }
    }
}

impl Drop for WriteBehind {
    fn drop(&mut self) {
        let (lock, wake) = &*self.stop;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts the writeback of every descriptor this process holds on `files`.
#[cfg(target_os = "linux")]
fn start_writeback(files: &[std::path::PathBuf]) {
    use std::os::unix::fs::MetadataExt;
    let inode = |m: std::fs::Metadata| (m.dev(), m.ino());
    let wanted: Vec<(u64, u64)> = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok().map(inode))
        .collect();
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    for entry in fds.flatten() {
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        // Follows the link to the open file: nothing is opened.
        if std::fs::metadata(entry.path()).is_ok_and(|m| wanted.contains(&inode(m))) {
            // SAFETY: a plain syscall on a descriptor number. Should it have
            // been closed and reused meanwhile, some other file of ours is
            // merely written out sooner.
            unsafe {
                libc::sync_file_range(fd, 0, 0, libc::SYNC_FILE_RANGE_WRITE);
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_files: &[std::path::PathBuf]) {}
