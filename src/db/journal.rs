//! A VFS shim that writes the rollback journal in large pieces.
//!
//! SQLite writes every page it journals with three `write` calls (the page
//! number, the page, a checksum): a rotation of 200k accounts makes ~35k of
//! them, and on a virtual machine each costs microseconds of the one thread
//! SQLite runs on. This shim wraps the default VFS under the name
//! [`NAME`] and keeps a journal's appends in a buffer until anything else
//! touches the file (a sync, a read, its size, a truncation, a file control,
//! closing it), then writes them in one call.
//!
//! SQLite's guarantees rest on the order of syncs, and that is kept: before a
//! database page is overwritten SQLite syncs the journal, and the sync writes
//! the buffer first. A crash can lose only journal records that no sync has
//! covered yet, which SQLite already treats as possibly lost (they describe
//! pages not yet overwritten in the database). Nothing but this connection
//! reads a journal while its transaction holds the write lock. Every other
//! file (the database, a WAL, statement journals) is the default VFS's own,
//! untouched.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::ffi::{c_char, c_int, c_void};
use std::ptr;
use std::sync::OnceLock;

use rusqlite::ffi;

/// The name write connections open their database with.
pub const NAME: &std::ffi::CStr = c"mex2fa-journal";

/// Appends held back per journal before they are written anyway; no more
/// than SQLite's largest page, the most the default VFS writes in one call.
const CAP: usize = 1 << 16;

/// The wrapped VFS, for forwarding.
struct Vfs(*mut ffi::sqlite3_vfs);

// SAFETY: a VFS object that lives as long as the process and that SQLite
// itself uses from any thread.
unsafe impl Send for Vfs {}
unsafe impl Sync for Vfs {}

static VFS: OnceLock<Option<Vfs>> = OnceLock::new();

/// Registers the shim (once); false if SQLite has no default VFS to wrap.
pub fn register() -> bool {
    VFS.get_or_init(|| {
        // SAFETY: plain SQLite calls; the object registered is leaked, so it
        // outlives every connection.
        unsafe {
            if ffi::sqlite3_initialize() != ffi::SQLITE_OK {
                return None;
            }
            let real = ffi::sqlite3_vfs_find(ptr::null());
            if real.is_null() {
                return None;
            }
            let size = (*real)
                .szOsFile
                .max(std::mem::size_of::<Journal>() as c_int);
            let ours = Box::into_raw(Box::new(ffi::sqlite3_vfs {
                iVersion: (*real).iVersion.min(3),
                szOsFile: size,
                mxPathname: (*real).mxPathname,
                pNext: ptr::null_mut(),
                zName: NAME.as_ptr(),
                pAppData: ptr::null_mut(),
                xOpen: Some(open),
                xDelete: Some(delete),
                xAccess: Some(access),
                xFullPathname: Some(full_pathname),
                xDlOpen: Some(dl_open),
                xDlError: Some(dl_error),
                xDlSym: Some(dl_sym),
                xDlClose: Some(dl_close),
                xRandomness: Some(randomness),
                xSleep: Some(sleep),
                xCurrentTime: Some(current_time),
                xGetLastError: Some(get_last_error),
                xCurrentTimeInt64: Some(current_time_int64),
                xSetSystemCall: Some(set_system_call),
                xGetSystemCall: Some(get_system_call),
                xNextSystemCall: Some(next_system_call),
            }));
            if ffi::sqlite3_vfs_register(ours, 0) != ffi::SQLITE_OK {
                drop(Box::from_raw(ours));
                return None;
            }
            Some(Vfs(real))
        }
    })
    .is_some()
}

fn real() -> *mut ffi::sqlite3_vfs {
    VFS.get()
        .and_then(Option::as_ref)
        .map_or(ptr::null_mut(), |v| v.0)
}

/// A journal file as SQLite sees it; the default VFS's file lives apart.
#[repr(C)]
struct Journal {
    base: ffi::sqlite3_file,
    real: *mut ffi::sqlite3_file,
    layout: Layout,
    /// Bytes waiting to be written at `at`.
    pending: *mut Vec<u8>,
    at: i64,
}

static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 1,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: None,
    xShmLock: None,
    xShmBarrier: None,
    xShmUnmap: None,
    xFetch: None,
    xUnfetch: None,
};

unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let real = real();
    // SAFETY (all of this function): `file` has room for `szOsFile` bytes,
    // the larger of the default VFS's file and a `Journal`.
    unsafe {
        if flags & ffi::SQLITE_OPEN_MAIN_JOURNAL == 0 {
            // Anything but a rollback journal is the default VFS's own file, in place.
            return ((*real).xOpen.expect("xOpen"))(real, name, file, flags, out_flags);
        }
        (*file).pMethods = ptr::null();
        let Ok(layout) = Layout::from_size_align((*real).szOsFile.max(8) as usize, 16) else {
            return ffi::SQLITE_NOMEM;
        };
        let inner = alloc_zeroed(layout).cast::<ffi::sqlite3_file>();
        if inner.is_null() {
            return ffi::SQLITE_NOMEM;
        }
        let rc = ((*real).xOpen.expect("xOpen"))(real, name, inner, flags, out_flags);
        if rc != ffi::SQLITE_OK {
            // A failed open may still have set methods that must close it.
            if !(*inner).pMethods.is_null() {
                ((*(*inner).pMethods).xClose.expect("xClose"))(inner);
            }
            dealloc(inner.cast(), layout);
            return rc;
        }
        ptr::write(
            file.cast::<Journal>(),
            Journal {
                base: ffi::sqlite3_file { pMethods: &METHODS },
                real: inner,
                layout,
                pending: Box::into_raw(Box::new(Vec::with_capacity(CAP))),
                at: 0,
            },
        );
        ffi::SQLITE_OK
    }
}

/// The journal behind `file` and the default VFS's methods for it.
///
/// # Safety
/// `file` must be a journal opened by [`open`] and not yet closed.
unsafe fn parts<'a>(
    file: *mut ffi::sqlite3_file,
) -> (
    &'a mut Journal,
    *mut ffi::sqlite3_file,
    &'a ffi::sqlite3_io_methods,
) {
    unsafe {
        let j = &mut *file.cast::<Journal>();
        let inner = j.real;
        (j, inner, &*(*inner).pMethods)
    }
}

/// Writes what is pending, in one call.
///
/// # Safety
/// As [`parts`].
unsafe fn flush(file: *mut ffi::sqlite3_file) -> c_int {
    unsafe {
        let (j, inner, m) = parts(file);
        let pending = &mut *j.pending;
        if pending.is_empty() {
            return ffi::SQLITE_OK;
        }
        let rc = (m.xWrite.expect("xWrite"))(
            inner,
            pending.as_ptr().cast(),
            pending.len() as c_int,
            j.at,
        );
        // Kept on failure: a later sync or close tries again.
        if rc == ffi::SQLITE_OK {
            pending.clear();
        }
        rc
    }
}

/// Runs `f` on the default VFS's file and methods behind `file`.
///
/// # Safety
/// As [`parts`].
unsafe fn forward<R>(
    file: *mut ffi::sqlite3_file,
    f: impl FnOnce(*mut ffi::sqlite3_file, &ffi::sqlite3_io_methods) -> R,
) -> R {
    unsafe {
        let (_, inner, m) = parts(file);
        f(inner, m)
    }
}

/// [`forward`], once what is pending is written.
///
/// # Safety
/// As [`parts`].
unsafe fn after_flush(
    file: *mut ffi::sqlite3_file,
    f: impl FnOnce(*mut ffi::sqlite3_file, &ffi::sqlite3_io_methods) -> c_int,
) -> c_int {
    unsafe {
        match flush(file) {
            ffi::SQLITE_OK => forward(file, f),
            rc => rc,
        }
    }
}

unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    unsafe {
        let flushed = flush(file);
        let (j, inner, m) = parts(file);
        let closed = (m.xClose.expect("xClose"))(inner);
        dealloc(inner.cast(), j.layout);
        drop(Box::from_raw(j.pending));
        (*file).pMethods = ptr::null();
        if flushed != ffi::SQLITE_OK {
            flushed
        } else {
            closed
        }
    }
}

unsafe extern "C" fn read(
    file: *mut ffi::sqlite3_file,
    buf: *mut c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    unsafe {
        after_flush(file, |f, m| {
            (m.xRead.expect("xRead"))(f, buf, amount, offset)
        })
    }
}

unsafe extern "C" fn write(
    file: *mut ffi::sqlite3_file,
    buf: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    unsafe {
        let n = amount.max(0) as usize;
        let joins = {
            let (j, _, _) = parts(file);
            let held = (*j.pending).len();
            held > 0 && offset == j.at + held as i64 && held + n <= CAP
        };
        if !joins {
            match flush(file) {
                ffi::SQLITE_OK => {}
                rc => return rc,
            }
        }
        let (j, inner, m) = parts(file);
        if n >= CAP {
            return (m.xWrite.expect("xWrite"))(inner, buf, amount, offset);
        }
        let pending = &mut *j.pending;
        if pending.is_empty() {
            j.at = offset;
        }
        pending.extend_from_slice(std::slice::from_raw_parts(buf.cast::<u8>(), n));
        ffi::SQLITE_OK
    }
}

unsafe extern "C" fn truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    unsafe { after_flush(file, |f, m| (m.xTruncate.expect("xTruncate"))(f, size)) }
}

unsafe extern "C" fn sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    unsafe { after_flush(file, |f, m| (m.xSync.expect("xSync"))(f, flags)) }
}

unsafe extern "C" fn file_size(file: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    unsafe { after_flush(file, |f, m| (m.xFileSize.expect("xFileSize"))(f, size)) }
}

unsafe extern "C" fn file_control(
    file: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    unsafe {
        after_flush(file, |f, m| {
            (m.xFileControl.expect("xFileControl"))(f, op, arg)
        })
    }
}

unsafe extern "C" fn lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    unsafe { forward(file, |f, m| (m.xLock.expect("xLock"))(f, level)) }
}

unsafe extern "C" fn unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    unsafe { forward(file, |f, m| (m.xUnlock.expect("xUnlock"))(f, level)) }
}

unsafe extern "C" fn check_reserved_lock(file: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    unsafe {
        forward(file, |f, m| {
            (m.xCheckReservedLock.expect("xCheckReservedLock"))(f, out)
        })
    }
}

unsafe extern "C" fn sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    unsafe { forward(file, |f, m| (m.xSectorSize.expect("xSectorSize"))(f)) }
}

unsafe extern "C" fn device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    unsafe {
        forward(file, |f, m| {
            (m.xDeviceCharacteristics.expect("xDeviceCharacteristics"))(f)
        })
    }
}

// The rest of the VFS is the default one's, called with its own pointer.

unsafe extern "C" fn delete(_: *mut ffi::sqlite3_vfs, name: *const c_char, dir: c_int) -> c_int {
    let r = real();
    unsafe { ((*r).xDelete.expect("xDelete"))(r, name, dir) }
}

unsafe extern "C" fn access(
    _: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    flags: c_int,
    out: *mut c_int,
) -> c_int {
    let r = real();
    unsafe { ((*r).xAccess.expect("xAccess"))(r, name, flags, out) }
}

unsafe extern "C" fn full_pathname(
    _: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    n: c_int,
    out: *mut c_char,
) -> c_int {
    let r = real();
    unsafe { ((*r).xFullPathname.expect("xFullPathname"))(r, name, n, out) }
}

unsafe extern "C" fn dl_open(_: *mut ffi::sqlite3_vfs, name: *const c_char) -> *mut c_void {
    let r = real();
    unsafe { (*r).xDlOpen.map_or(ptr::null_mut(), |f| f(r, name)) }
}

unsafe extern "C" fn dl_error(_: *mut ffi::sqlite3_vfs, n: c_int, out: *mut c_char) {
    let r = real();
    unsafe {
        if let Some(f) = (*r).xDlError {
            f(r, n, out);
        }
    }
}

unsafe extern "C" fn dl_sym(
    _: *mut ffi::sqlite3_vfs,
    handle: *mut c_void,
    symbol: *const c_char,
) -> Option<unsafe extern "C" fn(*mut ffi::sqlite3_vfs, *mut c_void, *const c_char)> {
    let r = real();
    unsafe { (*r).xDlSym.and_then(|f| f(r, handle, symbol)) }
}

unsafe extern "C" fn dl_close(_: *mut ffi::sqlite3_vfs, handle: *mut c_void) {
    let r = real();
    unsafe {
        if let Some(f) = (*r).xDlClose {
            f(r, handle);
        }
    }
}

unsafe extern "C" fn randomness(_: *mut ffi::sqlite3_vfs, n: c_int, out: *mut c_char) -> c_int {
    let r = real();
    unsafe { ((*r).xRandomness.expect("xRandomness"))(r, n, out) }
}

unsafe extern "C" fn sleep(_: *mut ffi::sqlite3_vfs, micros: c_int) -> c_int {
    let r = real();
    unsafe { ((*r).xSleep.expect("xSleep"))(r, micros) }
}

unsafe extern "C" fn current_time(_: *mut ffi::sqlite3_vfs, out: *mut f64) -> c_int {
    let r = real();
    unsafe { ((*r).xCurrentTime.expect("xCurrentTime"))(r, out) }
}

unsafe extern "C" fn get_last_error(_: *mut ffi::sqlite3_vfs, n: c_int, out: *mut c_char) -> c_int {
    let r = real();
    unsafe { (*r).xGetLastError.map_or(0, |f| f(r, n, out)) }
}

unsafe extern "C" fn current_time_int64(_: *mut ffi::sqlite3_vfs, out: *mut i64) -> c_int {
    let r = real();
    unsafe {
        match (*r).xCurrentTimeInt64 {
            Some(f) if (*r).iVersion >= 2 => f(r, out),
            _ => {
                // As SQLite does for a version-1 VFS: Julian days in milliseconds.
                let mut days = 0.0;
                let rc = ((*r).xCurrentTime.expect("xCurrentTime"))(r, &mut days);
                *out = (days * 86_400_000.0) as i64;
                rc
            }
        }
    }
}

unsafe extern "C" fn set_system_call(
    _: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    f: ffi::sqlite3_syscall_ptr,
) -> c_int {
    let r = real();
    unsafe {
        match (*r).xSetSystemCall {
            Some(set) if (*r).iVersion >= 3 => set(r, name, f),
            _ => ffi::SQLITE_NOTFOUND,
        }
    }
}

unsafe extern "C" fn get_system_call(
    _: *mut ffi::sqlite3_vfs,
    name: *const c_char,
) -> ffi::sqlite3_syscall_ptr {
    let r = real();
    unsafe {
        match (*r).xGetSystemCall {
            Some(get) if (*r).iVersion >= 3 => get(r, name),
            _ => None,
        }
    }
}

unsafe extern "C" fn next_system_call(
    _: *mut ffi::sqlite3_vfs,
    name: *const c_char,
) -> *const c_char {
    let r = real();
    unsafe {
        match (*r).xNextSystemCall {
            Some(next) if (*r).iVersion >= 3 => next(r, name),
            _ => ptr::null(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;

    /// A journal opened through the shim, driven as SQLite drives it.
    struct Open {
        file: *mut ffi::sqlite3_file,
        layout: Layout,
        path: std::path::PathBuf,
        _dir: tempfile::TempDir,
        _name: CString,
    }

    impl Open {
        fn new() -> Open {
            assert!(register());
            let dir = tempfile::tempdir().unwrap();
            // The default VFS gives a journal its database's permissions.
            std::fs::write(dir.path().join("t.db"), b"").unwrap();
            let path = dir.path().join("t.db-journal");
            let name = CString::new(path.to_str().unwrap()).unwrap();
            unsafe {
                let vfs = ffi::sqlite3_vfs_find(NAME.as_ptr());
                assert!(!vfs.is_null());
                let layout = Layout::from_size_align((*vfs).szOsFile as usize, 16).unwrap();
                let file = alloc_zeroed(layout).cast::<ffi::sqlite3_file>();
                let flags = ffi::SQLITE_OPEN_MAIN_JOURNAL
                    | ffi::SQLITE_OPEN_READWRITE
                    | ffi::SQLITE_OPEN_CREATE;
                let mut out = 0;
                let rc = ((*vfs).xOpen.unwrap())(vfs, name.as_ptr(), file, flags, &mut out);
                assert_eq!(rc, ffi::SQLITE_OK);
                assert!(std::ptr::eq((*file).pMethods, &METHODS));
                Open {
                    file,
                    layout,
                    path,
                    _dir: dir,
                    _name: name,
                }
            }
        }

        fn methods(&self) -> &ffi::sqlite3_io_methods {
            unsafe { &*(*self.file).pMethods }
        }

        fn write(&self, bytes: &[u8], at: i64) {
            let rc = unsafe {
                (self.methods().xWrite.unwrap())(
                    self.file,
                    bytes.as_ptr().cast(),
                    bytes.len() as c_int,
                    at,
                )
            };
            assert_eq!(rc, ffi::SQLITE_OK);
        }

        fn on_disk(&self) -> Vec<u8> {
            std::fs::read(&self.path).unwrap()
        }
    }

    impl Drop for Open {
        fn drop(&mut self) {
            unsafe {
                if !(*self.file).pMethods.is_null() {
                    (self.methods().xClose.unwrap())(self.file);
                }
                dealloc(self.file.cast(), self.layout);
            }
        }
    }

    /// What SQLite writes in three calls a page: number, page, checksum.
    fn records(n: usize) -> Vec<Vec<u8>> {
        (0..n * 3)
            .map(|i| match i % 3 {
                1 => vec![(i % 251) as u8; 4096],
                _ => (i as u32).to_be_bytes().to_vec(),
            })
            .collect()
    }

    #[test]
    fn appends_are_held_back_and_are_on_disk_after_a_sync() {
        let j = Open::new();
        let mut expected = Vec::new();
        for r in records(5) {
            j.write(&r, expected.len() as i64);
            expected.extend_from_slice(&r);
        }
        // Fewer than 64 KiB: nothing written yet.
        assert!(j.on_disk().is_empty());
        let rc = unsafe { (j.methods().xSync.unwrap())(j.file, ffi::SQLITE_SYNC_NORMAL) };
        assert_eq!(rc, ffi::SQLITE_OK);
        assert_eq!(j.on_disk(), expected);
    }

    #[test]
    fn every_other_use_of_the_file_sees_every_write() {
        // Size, read, a write elsewhere (the header), truncation, close.
        let j = Open::new();
        let mut expected = Vec::new();
        for r in records(40) {
            j.write(&r, expected.len() as i64);
            expected.extend_from_slice(&r);
        }
        let mut size = 0;
        assert_eq!(
            unsafe { (j.methods().xFileSize.unwrap())(j.file, &mut size) },
            ffi::SQLITE_OK
        );
        assert_eq!(size as usize, expected.len());
        assert_eq!(j.on_disk(), expected);

        j.write(b"tail", expected.len() as i64);
        expected.extend_from_slice(b"tail");
        let mut back = vec![0u8; 4];
        let rc = unsafe {
            (j.methods().xRead.unwrap())(
                j.file,
                back.as_mut_ptr().cast(),
                4,
                (expected.len() - 4) as i64,
            )
        };
        assert_eq!((rc, back.as_slice()), (ffi::SQLITE_OK, &b"tail"[..]));

        // The header is rewritten while appends wait: both land, in order.
        j.write(b"more", expected.len() as i64);
        expected.extend_from_slice(b"more");
        j.write(b"HEAD", 0);
        expected[..4].copy_from_slice(b"HEAD");
        let rc = unsafe { (j.methods().xTruncate.unwrap())(j.file, expected.len() as i64) };
        assert_eq!(rc, ffi::SQLITE_OK);
        assert_eq!(j.on_disk(), expected);

        j.write(b"last", expected.len() as i64);
        expected.extend_from_slice(b"last");
        let rc = unsafe { (j.methods().xClose.unwrap())(j.file) };
        assert_eq!(rc, ffi::SQLITE_OK);
        assert!(unsafe { (*j.file).pMethods.is_null() });
        assert_eq!(j.on_disk(), expected);
    }
}
