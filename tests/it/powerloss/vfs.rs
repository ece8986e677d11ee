//! A recording VFS: SQLite's default VFS in the test process, passing every
//! call to the real `unix` VFS beneath it and, for files in a watched
//! directory, recording in order each write (offset and bytes), truncation,
//! sync and delete, and each file's content when it is opened.
//!
//! Files outside every watched directory (templates, temporary files,
//! statement journals) are the `unix` VFS's own files, opened in place.
//! mex2fa opens its SQLite connections with the default VFS, so every one of
//! them, in this process, goes through this one.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::ffi::{CStr, c_char, c_int, c_void};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use rusqlite::ffi;

/// The name this VFS registers under.
pub const NAME: &CStr = c"powerloss";

/// One call on a watched file, as recorded.
#[derive(Debug)]
pub enum Event {
    /// The file was opened; what it held then (`None`: it did not exist).
    Open {
        file: usize,
        content: Option<Vec<u8>>,
    },
    Write {
        file: usize,
        at: u64,
        data: Vec<u8>,
    },
    Truncate {
        file: usize,
        size: u64,
    },
    Sync {
        file: usize,
    },
    Delete {
        file: usize,
    },
}

impl Event {
    pub fn file(&self) -> usize {
        match *self {
            Event::Open { file, .. }
            | Event::Write { file, .. }
            | Event::Truncate { file, .. }
            | Event::Sync { file }
            | Event::Delete { file } => file,
        }
    }
}

/// What happened to the files of one watched directory.
#[derive(Debug, Default)]
pub struct Log {
    /// File names within the directory; events refer to them by index.
    pub files: Vec<String>,
    pub events: Vec<Event>,
}

impl Log {
    fn file(&mut self, name: &str) -> usize {
        match self.files.iter().position(|f| f == name) {
            Some(i) => i,
            None => {
                self.files.push(name.to_string());
                self.files.len() - 1
            }
        }
    }

    /// The index of a file name, if the log has seen it.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.files.iter().position(|f| f == name)
    }
}

struct Recorder {
    dir: PathBuf,
    log: Mutex<Log>,
}

impl Recorder {
    fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, event: Event) {
        self.log().events.push(event);
    }
}

static WATCHED: Mutex<Vec<Arc<Recorder>>> = Mutex::new(Vec::new());

fn watched() -> MutexGuard<'static, Vec<Arc<Recorder>>> {
    WATCHED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Records the files of one directory until [`finish`](Watch::finish).
pub struct Watch(Arc<Recorder>);

impl Watch {
    pub fn start(dir: &Path) -> Watch {
        let dir = std::fs::canonicalize(dir).expect("canonical watched directory");
        let recorder = Arc::new(Recorder {
            dir,
            log: Mutex::new(Log::default()),
        });
        watched().push(Arc::clone(&recorder));
        Watch(recorder)
    }

    /// Stops recording and hands over what was recorded.
    pub fn finish(self) -> Log {
        std::mem::take(&mut *self.0.log())
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        watched().retain(|r| !Arc::ptr_eq(r, &self.0));
    }
}

/// The recorder watching the directory of `name`, and the file's name in it.
fn watcher(name: *const c_char) -> Option<(Arc<Recorder>, String, PathBuf)> {
    if name.is_null() {
        return None;
    }
    // SAFETY: SQLite passes a NUL-terminated file name.
    let path = Path::new(std::ffi::OsStr::from_bytes(
        unsafe { CStr::from_ptr(name) }.to_bytes(),
    ))
    .to_path_buf();
    let (dir, file) = (path.parent()?, path.file_name()?.to_str()?);
    let recorder = watched().iter().find(|r| r.dir == dir).cloned()?;
    Some((recorder, file.to_string(), path))
}

/// The `unix` VFS, once [`install`] has run.
struct Real(*mut ffi::sqlite3_vfs);

// SAFETY: a VFS object registered for the life of the process, which SQLite
// itself uses from any thread.
unsafe impl Send for Real {}
unsafe impl Sync for Real {}

static REAL: OnceLock<Result<Real, String>> = OnceLock::new();

fn real() -> *mut ffi::sqlite3_vfs {
    match REAL.get() {
        Some(Ok(r)) => r.0,
        _ => ptr::null_mut(),
    }
}

/// Registers this VFS as SQLite's default (once per process); an error says
/// why it cannot sit beneath every mex2fa connection.
pub fn install() -> Result<(), String> {
    let installed = REAL.get_or_init(|| {
        // SAFETY: plain SQLite calls; the VFS object is leaked, so it outlives
        // every connection, and the names are static C strings.
        unsafe {
            if ffi::sqlite3_initialize() != ffi::SQLITE_OK {
                return Err("sqlite3_initialize failed".into());
            }
            let unix = ffi::sqlite3_vfs_find(c"unix".as_ptr());
            if unix.is_null() {
                return Err("SQLite has no unix VFS to wrap".into());
            }
            let ours = Box::into_raw(Box::new(ffi::sqlite3_vfs {
                iVersion: (*unix).iVersion.min(3),
                szOsFile: (*unix)
                    .szOsFile
                    .max(std::mem::size_of::<Watched>() as c_int),
                mxPathname: (*unix).mxPathname,
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
            if ffi::sqlite3_vfs_register(ours, 1) != ffi::SQLITE_OK {
                drop(Box::from_raw(ours));
                return Err("sqlite3_vfs_register failed".into());
            }
            Ok(Real(unix))
        }
    });
    installed.as_ref().map(drop).map_err(Clone::clone)?;
    // SAFETY: a lookup of the default VFS, whose name is a C string.
    let default = unsafe {
        let d = ffi::sqlite3_vfs_find(ptr::null());
        (!d.is_null()).then(|| CStr::from_ptr((*d).zName))
    };
    if default != Some(NAME) {
        return Err(format!(
            "the recording VFS is no longer SQLite's default ({default:?} is)"
        ));
    }
    Ok(())
}

/// A watched file as SQLite sees it; the `unix` VFS's file lives apart.
#[repr(C)]
struct Watched {
    base: ffi::sqlite3_file,
    real: *mut ffi::sqlite3_file,
    layout: Layout,
    /// From `Arc::into_raw`, released on close.
    recorder: *const Recorder,
    file: usize,
}

static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
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
    xShmMap: Some(shm_map),
    xShmLock: Some(shm_lock),
    xShmBarrier: Some(shm_barrier),
    xShmUnmap: Some(shm_unmap),
    xFetch: Some(fetch),
    xUnfetch: Some(unfetch),
};

unsafe extern "C" fn open(
    _: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let real = real();
    let Some((recorder, short, path)) = watcher(name) else {
        // SAFETY: `file` has room for the unix VFS's file (szOsFile is at
        // least its size): opened in place, it is the unix VFS's own.
        return unsafe { ((*real).xOpen.expect("xOpen"))(real, name, file, flags, out_flags) };
    };
    // What the file holds before SQLite touches it: a crash rebuilds from here.
    let content = std::fs::read(&path).ok();
    // SAFETY: `file` has room for a `Watched`; `inner` gets the unix VFS's
    // file in an allocation of its own size, freed on failure or close.
    unsafe {
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
            if !(*inner).pMethods.is_null() {
                ((*(*inner).pMethods).xClose.expect("xClose"))(inner);
            }
            dealloc(inner.cast(), layout);
            return rc;
        }
        let index = {
            let mut log = recorder.log();
            let index = log.file(&short);
            log.events.push(Event::Open {
                file: index,
                content,
            });
            index
        };
        ptr::write(
            file.cast::<Watched>(),
            Watched {
                base: ffi::sqlite3_file { pMethods: &METHODS },
                real: inner,
                layout,
                recorder: Arc::into_raw(recorder),
                file: index,
            },
        );
        ffi::SQLITE_OK
    }
}

/// The watched file behind `file`, the unix VFS's file and its methods.
///
/// # Safety
/// `file` must have been opened by [`open`] as a watched file and not closed.
unsafe fn parts<'a>(
    file: *mut ffi::sqlite3_file,
) -> (
    &'a Watched,
    *mut ffi::sqlite3_file,
    &'a ffi::sqlite3_io_methods,
) {
    unsafe {
        let w = &*file.cast::<Watched>();
        (w, w.real, &*(*w.real).pMethods)
    }
}

/// Records `event` (made from the file's index) once `rc` says the call worked.
///
/// # Safety
/// As [`parts`].
unsafe fn record_if_ok(
    file: *mut ffi::sqlite3_file,
    rc: c_int,
    event: impl FnOnce(usize) -> Event,
) -> c_int {
    if rc == ffi::SQLITE_OK {
        unsafe {
            let (w, _, _) = parts(file);
            (*w.recorder).record(event(w.file));
        }
    }
    rc
}

unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite closes each file it opened once; the allocation and
    // the recorder's reference are released here and nowhere else.
    unsafe {
        let (w, inner, m) = parts(file);
        let rc = (m.xClose.expect("xClose"))(inner);
        dealloc(inner.cast(), w.layout);
        drop(Arc::from_raw(w.recorder));
        (*file).pMethods = ptr::null();
        rc
    }
}

unsafe extern "C" fn read(
    file: *mut ffi::sqlite3_file,
    buf: *mut c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    // SAFETY: forwarded as given to the file SQLite opened.
    unsafe {
        let (_, inner, m) = parts(file);
        (m.xRead.expect("xRead"))(inner, buf, amount, offset)
    }
}

unsafe extern "C" fn write(
    file: *mut ffi::sqlite3_file,
    buf: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    // SAFETY: forwarded as given; `buf` holds `amount` bytes.
    unsafe {
        let (_, inner, m) = parts(file);
        let rc = (m.xWrite.expect("xWrite"))(inner, buf, amount, offset);
        record_if_ok(file, rc, |f| Event::Write {
            file: f,
            at: offset as u64,
            data: std::slice::from_raw_parts(buf.cast::<u8>(), amount.max(0) as usize).to_vec(),
        })
    }
}

unsafe extern "C" fn truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    // SAFETY: forwarded as given.
    unsafe {
        let (_, inner, m) = parts(file);
        let rc = (m.xTruncate.expect("xTruncate"))(inner, size);
        record_if_ok(file, rc, |f| Event::Truncate {
            file: f,
            size: size as u64,
        })
    }
}

unsafe extern "C" fn sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    // SAFETY: forwarded as given.
    unsafe {
        let (_, inner, m) = parts(file);
        let rc = (m.xSync.expect("xSync"))(inner, flags);
        record_if_ok(file, rc, |f| Event::Sync { file: f })
    }
}

unsafe extern "C" fn file_size(file: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    // SAFETY: forwarded as given.
    unsafe {
        let (_, inner, m) = parts(file);
        (m.xFileSize.expect("xFileSize"))(inner, size)
    }
}

unsafe extern "C" fn lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    // SAFETY: forwarded as given.
    unsafe {
        let (_, inner, m) = parts(file);
        (m.xLock.expect("xLock"))(inner, level)
    }
}

unsafe extern "C" fn unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    // SAFETY: forwarded as given.
    unsafe {
        let (_, inner, m) = parts(file);
        (m.xUnlock.expect("xUnlock"))(inner, level)
    }
}

unsafe extern "C" fn check_reserved_lock(file: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    // SAFETY: forwarded as given.
    unsafe {
        let (_, inner, m) = parts(file);
        (m.xCheckReservedLock.expect("xCheckReservedLock"))(inner, out)
    }
}

unsafe extern "C" fn file_control(
    file: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    // SAFETY: forwarded as given.
    unsafe {
        let (_, inner, m) = parts(file);
        (m.xFileControl.expect("xFileControl"))(inner, op, arg)
    }
}

unsafe extern "C" fn sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: forwarded as given.
    unsafe {
        let (_, inner, m) = parts(file);
        (m.xSectorSize.expect("xSectorSize"))(inner)
    }
}

unsafe extern "C" fn device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: forwarded as given.
    unsafe {
        let (_, inner, m) = parts(file);
        (m.xDeviceCharacteristics.expect("xDeviceCharacteristics"))(inner)
    }
}

// The shared-memory and memory-map methods: the unix VFS has them (version
// 3); without them, what SQLite does when a VFS lacks them.

unsafe extern "C" fn shm_map(
    file: *mut ffi::sqlite3_file,
    page: c_int,
    size: c_int,
    extend: c_int,
    out: *mut *mut c_void,
) -> c_int {
    // SAFETY: forwarded as given.
    unsafe {
        let (_, inner, m) = parts(file);
        match m.xShmMap {
            Some(f) if m.iVersion >= 2 => f(inner, page, size, extend, out),
            _ => ffi::SQLITE_IOERR_SHMMAP,
        }
    }
}

unsafe extern "C" fn shm_lock(
    file: *mut ffi::sqlite3_file,
    offset: c_int,
    n: c_int,
    flags: c_int,
) -> c_int {
    // SAFETY: forwarded as given.
    unsafe {
        let (_, inner, m) = parts(file);
        match m.xShmLock {
            Some(f) if m.iVersion >= 2 => f(inner, offset, n, flags),
            _ => ffi::SQLITE_IOERR_SHMLOCK,
        }
    }
}

unsafe extern "C" fn shm_barrier(file: *mut ffi::sqlite3_file) {
    // SAFETY: forwarded as given.
    unsafe {
        let (_, inner, m) = parts(file);
        if let Some(f) = m.xShmBarrier.filter(|_| m.iVersion >= 2) {
            f(inner);
        }
    }
}

unsafe extern "C" fn shm_unmap(file: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
    // SAFETY: forwarded as given.
    unsafe {
        let (_, inner, m) = parts(file);
        match m.xShmUnmap {
            Some(f) if m.iVersion >= 2 => f(inner, delete),
            _ => ffi::SQLITE_OK,
        }
    }
}

unsafe extern "C" fn fetch(
    file: *mut ffi::sqlite3_file,
    offset: i64,
    amount: c_int,
    out: *mut *mut c_void,
) -> c_int {
    // SAFETY: forwarded as given; without xFetch, no mapping (`*out` NULL).
    unsafe {
        let (_, inner, m) = parts(file);
        match m.xFetch {
            Some(f) if m.iVersion >= 3 => f(inner, offset, amount, out),
            _ => {
                *out = ptr::null_mut();
                ffi::SQLITE_OK
            }
        }
    }
}

unsafe extern "C" fn unfetch(file: *mut ffi::sqlite3_file, offset: i64, p: *mut c_void) -> c_int {
    // SAFETY: forwarded as given.
    unsafe {
        let (_, inner, m) = parts(file);
        match m.xUnfetch {
            Some(f) if m.iVersion >= 3 => f(inner, offset, p),
            _ => ffi::SQLITE_OK,
        }
    }
}

// The rest of the VFS is the unix VFS's, called with its own pointer.

unsafe extern "C" fn delete(_: *mut ffi::sqlite3_vfs, name: *const c_char, dir: c_int) -> c_int {
    let r = real();
    // SAFETY: forwarded as given.
    let rc = unsafe { ((*r).xDelete.expect("xDelete"))(r, name, dir) };
    if rc == ffi::SQLITE_OK
        && let Some((recorder, short, _)) = watcher(name)
    {
        let mut log = recorder.log();
        let file = log.file(&short);
        log.events.push(Event::Delete { file });
    }
    rc
}

unsafe extern "C" fn access(
    _: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    flags: c_int,
    out: *mut c_int,
) -> c_int {
    let r = real();
    // SAFETY: forwarded as given.
    unsafe { ((*r).xAccess.expect("xAccess"))(r, name, flags, out) }
}

unsafe extern "C" fn full_pathname(
    _: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    n: c_int,
    out: *mut c_char,
) -> c_int {
    let r = real();
    // SAFETY: forwarded as given.
    unsafe { ((*r).xFullPathname.expect("xFullPathname"))(r, name, n, out) }
}

unsafe extern "C" fn dl_open(_: *mut ffi::sqlite3_vfs, name: *const c_char) -> *mut c_void {
    let r = real();
    // SAFETY: forwarded as given.
    unsafe { (*r).xDlOpen.map_or(ptr::null_mut(), |f| f(r, name)) }
}

unsafe extern "C" fn dl_error(_: *mut ffi::sqlite3_vfs, n: c_int, out: *mut c_char) {
    let r = real();
    // SAFETY: forwarded as given.
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
    // SAFETY: forwarded as given.
    unsafe { (*r).xDlSym.and_then(|f| f(r, handle, symbol)) }
}

unsafe extern "C" fn dl_close(_: *mut ffi::sqlite3_vfs, handle: *mut c_void) {
    let r = real();
    // SAFETY: forwarded as given.
    unsafe {
        if let Some(f) = (*r).xDlClose {
            f(r, handle);
        }
    }
}

unsafe extern "C" fn randomness(_: *mut ffi::sqlite3_vfs, n: c_int, out: *mut c_char) -> c_int {
    let r = real();
    // SAFETY: forwarded as given.
    unsafe { ((*r).xRandomness.expect("xRandomness"))(r, n, out) }
}

unsafe extern "C" fn sleep(_: *mut ffi::sqlite3_vfs, micros: c_int) -> c_int {
    let r = real();
    // SAFETY: forwarded as given.
    unsafe { ((*r).xSleep.expect("xSleep"))(r, micros) }
}

unsafe extern "C" fn current_time(_: *mut ffi::sqlite3_vfs, out: *mut f64) -> c_int {
    let r = real();
    // SAFETY: forwarded as given.
    unsafe { ((*r).xCurrentTime.expect("xCurrentTime"))(r, out) }
}

unsafe extern "C" fn get_last_error(_: *mut ffi::sqlite3_vfs, n: c_int, out: *mut c_char) -> c_int {
    let r = real();
    // SAFETY: forwarded as given.
    unsafe { (*r).xGetLastError.map_or(0, |f| f(r, n, out)) }
}

unsafe extern "C" fn current_time_int64(_: *mut ffi::sqlite3_vfs, out: *mut i64) -> c_int {
    let r = real();
    // SAFETY: forwarded as given; the unix VFS is version 3, so it has this.
    unsafe { ((*r).xCurrentTimeInt64.expect("xCurrentTimeInt64"))(r, out) }
}

unsafe extern "C" fn set_system_call(
    _: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    f: ffi::sqlite3_syscall_ptr,
) -> c_int {
    let r = real();
    // SAFETY: forwarded as given.
    unsafe {
        (*r).xSetSystemCall
            .map_or(ffi::SQLITE_NOTFOUND, |set| set(r, name, f))
    }
}

unsafe extern "C" fn get_system_call(
    _: *mut ffi::sqlite3_vfs,
    name: *const c_char,
) -> ffi::sqlite3_syscall_ptr {
    let r = real();
    // SAFETY: forwarded as given.
    unsafe { (*r).xGetSystemCall.and_then(|get| get(r, name)) }
}

unsafe extern "C" fn next_system_call(
    _: *mut ffi::sqlite3_vfs,
    name: *const c_char,
) -> *const c_char {
    let r = real();
    // SAFETY: forwarded as given.
    unsafe {
        (*r).xNextSystemCall
            .map_or(ptr::null(), |next| next(r, name))
    }
}
