//! Terminal plumbing shared by the commands: TTY checks, prompts, confirmations,
//! tables, escaping of text that came from outside (the database, paths,
//! `.env` values), and the two output streams.
//!
//! Nothing here panics on a failed write (`println!` and `eprintln!` do):
//! stdout's first failure is recorded and decides the exit code at the end
//! ([`stdout_lost`]); a failed write to stderr is ignored, so that a message
//! that could not be shown never changes the outcome of what was done.

use std::borrow::Cow;
use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};

pub fn stdin_is_tty() -> bool {
    std::io::stdin().is_terminal()
}

pub fn stdout_is_tty() -> bool {
    std::io::stdout().is_terminal()
}

pub fn stderr_is_tty() -> bool {
    std::io::stderr().is_terminal()
}

/// Colors are used only on a terminal and never with `NO_COLOR` set
/// (no-color.org); `CLICOLOR_FORCE=1` asks for them even when piped.
pub fn color_allowed(on_tty: bool) -> bool {
    let set = |name| std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0");
    if set("NO_COLOR") {
        return false;
    }
    on_tty || set("CLICOLOR_FORCE")
}

/// User-supplied text (usernames from the database, argv, paths) with
/// control and invisible format characters escaped (`\u{1b}`, `\u{202e}`),
/// so an ANSI sequence is shown, never interpreted, and a bidi override
/// cannot reorder what is shown.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_hidden) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_hidden(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A path as it may be shown: [`escape`]d (a file name can hold any byte but
/// `/` and NUL, an escape sequence included).
pub fn path(p: &std::path::Path) -> String {
    escape(&p.display().to_string()).into_owned()
}

/// Characters that must not reach a terminal raw: the controls (C0, DEL, C1)
/// and the characters that are invisible or change how the text around them
/// is laid out: Unicode's general categories Cf (format: bidi embeddings,
/// overrides and isolates U+202A–202E and U+2066–2069, the marks U+200E/200F
/// and U+061C, zero-width U+200B–200D, U+2060–2064, U+FEFF, U+180E, tags),
/// Zl (U+2028) and Zp (U+2029). The Cf list is Unicode 18.0's
/// (`DerivedGeneralCategory.txt`).
fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            u32::from(c),
            0xAD | 0x600..=0x605
                | 0x61C
                | 0x6DD
                | 0x70F
                | 0x890..=0x891
                | 0x8E2
                | 0x180E
                | 0x200B..=0x200F
                | 0x2028..=0x202E
                | 0x2060..=0x2064
                | 0x2066..=0x206F
                | 0xFEFF
                | 0xFFF9..=0xFFFB
                | 0x110BD
                | 0x110CD
                | 0x13430..=0x1343F
                | 0x1BCA0..=0x1BCA3
                | 0x1D173..=0x1D17A
                | 0xE0001
                | 0xE0020..=0xE007F
        )
}

/// Asks a yes/no question on the terminal (shown [`escape`]d: it names
/// users and paths) and takes a whole line as the
/// answer: `y`, `yes`, `n` or `no` in any case; anything else (an empty line
/// too) asks again. The line is read in the terminal's line mode, so what was
/// typed, Enter included, is consumed here and nothing is left for the shell
/// to run afterwards; keys typed before the question was shown are discarded
/// so that they cannot answer it. Without a terminal and without `--yes`,
/// refuses (exit 2) rather than guess.
pub fn confirm(question: &str, yes: bool) -> Result<()> {
    if yes {
        return Ok(());
    }
    require_confirmable(false)?;
    // Restores the terminal if a signal ends the process at the question.
    let _tty = TtyGuard::arm();
    let _line_mode = LineMode::on_stdin();
    discard_typeahead();
    let mut stderr = std::io::stderr();
    let mut line = String::new();
    loop {
        let _ = write!(stderr, "{} [y/n] ", escape(question));
        let _ = stderr.flush();
        line.clear();
        match std::io::stdin().read_line(&mut line) {
            Ok(0) => {
                let _ = writeln!(stderr);
                return Err(Error::usage(
                    "no answer to the question (end of input); nothing was changed",
                ));
            }
            Ok(_) => {}
            Err(e) => {
                return Err(Error::usage(format!(
                    "could not read the answer from the terminal: {e}; nothing was changed"
                )));
            }
        }
        match answer(&line) {
            Some(true) => return Ok(()),
            Some(false) => return Err(Error::usage("cancelled; nothing was changed")),
            None => {
                let _ = writeln!(stderr, "please answer yes or no");
            }
        }
    }
}

/// `Some(true)` for y/yes, `Some(false)` for n/no (any case, surrounding
/// blanks ignored), `None` for anything else.
fn answer(line: &str) -> Option<bool> {
    match line.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Some(true),
        "n" | "no" => Some(false),
        _ => None,
    }
}

/// Drops what was typed on the terminal but not yet read.
fn discard_typeahead() {
    #[cfg(unix)]
    // SAFETY: tcflush only takes the descriptor; on a descriptor that is not a
    // terminal it fails harmlessly with ENOTTY.
    unsafe {
        libc::tcflush(libc::STDIN_FILENO, libc::TCIFLUSH);
    }
}

/// The terminal in its ordinary line mode (canonical input, echo) while a
/// question waits for its answer, whatever an earlier program left it in;
/// the previous mode comes back when this is dropped.
struct LineMode {
    #[cfg(unix)]
    saved: Option<libc::termios>,
}

impl LineMode {
    fn on_stdin() -> LineMode {
        #[cfg(unix)]
        {
            let want = libc::ICANON | libc::ECHO;
            // SAFETY: termios is plain data; tcgetattr fills it or fails.
            let mut mode: libc::termios = unsafe { std::mem::zeroed() };
            if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut mode) } != 0
                || mode.c_lflag & want == want
            {
                return LineMode { saved: None };
            }
            let saved = mode;
            mode.c_lflag |= want;
            // SAFETY: a termios read from this same terminal, with two flags set.
            let set = unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &mode) } == 0;
            LineMode {
                saved: set.then_some(saved),
            }
        }
        #[cfg(not(unix))]
        LineMode {}
    }
}

impl Drop for LineMode {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(saved) = &self.saved {
            // SAFETY: restores the termios read in `on_stdin`.
            unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, saved) };
        }
    }
}

/// Refuses early (exit 2) when a confirmation will be needed and cannot be asked.
pub fn require_confirmable(yes: bool) -> Result<()> {
    if yes || (stdin_is_tty() && stderr_is_tty()) {
        return Ok(());
    }
    Err(Error::usage(
        "refusing to change anything without confirmation: no terminal to ask on; pass --yes",
    ))
}

/// Reads a secret-ish line without echo (for codes and keys) on the terminal.
pub fn prompt_hidden(prompt: &str) -> Result<zeroize::Zeroizing<String>> {
    let _tty = TtyGuard::arm();
    rpassword::prompt_password(prompt)
        .map(zeroize::Zeroizing::new)
        .map_err(|e| Error::usage(format!("could not read from the terminal: {e}")))
}

/// Puts the terminal back as it was when a signal ends the process during a
/// prompt. The prompts switch echo off (the hidden ones) or read single keys
/// (confirmations) and restore the terminal when they return; a signal does
/// not let them return. rpassword even reads Ctrl-C as a key and raises
/// SIGINT itself before its cleanup. The shell would be left with echo off:
/// bash repairs its terminal, dash and most other shells do not.
///
/// While armed, SIGINT, SIGTERM, SIGHUP and SIGQUIT restore the settings
/// saved on arming, then end the process by the same signal as before (the
/// shell sees the usual 130, 143, ...). A signal ignored when we started
/// (`nohup`) stays ignored.
#[cfg(unix)]
struct TtyGuard {
    /// Keeps the descriptor the handler writes to open.
    _tty: std::fs::File,
    previous: Vec<(libc::c_int, libc::sigaction)>,
}

#[cfg(unix)]
mod tty_state {
    use std::cell::UnsafeCell;
    use std::mem::MaybeUninit;
    use std::sync::atomic::AtomicI32;

    pub struct Saved(pub UnsafeCell<MaybeUninit<libc::termios>>);
    // SAFETY: written only while `ARMED` is -1 (no handler reads it then),
    // read only by the handler after `ARMED` published the descriptor.
    unsafe impl Sync for Saved {}
    pub static SAVED: Saved = Saved(UnsafeCell::new(MaybeUninit::uninit()));
    /// The terminal's descriptor while a guard is armed, else -1.
    pub static ARMED: AtomicI32 = AtomicI32::new(-1);
}

#[cfg(unix)]
const GUARDED: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

#[cfg(unix)]
impl TtyGuard {
    /// `None` without a controlling terminal (nothing to restore) or when a
    /// guard is armed already.
    fn arm() -> Option<TtyGuard> {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::OpenOptionsExt;
        use std::sync::atomic::Ordering;
        use tty_state::{ARMED, SAVED};

        if ARMED.load(Ordering::Acquire) >= 0 {
            return None;
        }
        let tty = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
            .open("/dev/tty")
            .ok()?;
        let fd = tty.as_raw_fd();
        // SAFETY: `fd` is open; SAVED is not read while ARMED is -1.
        if unsafe { libc::tcgetattr(fd, SAVED.0.get().cast()) } != 0 {
            return None;
        }
        ARMED.store(fd, Ordering::Release);
        let mut previous = Vec::with_capacity(GUARDED.len());
        for sig in GUARDED {
            // SAFETY: a zeroed sigaction is a valid value to fill in; the
            // handler only calls async-signal-safe functions.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
                libc::sigemptyset(&mut action.sa_mask);
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, &action, &mut old) != 0 {
                    continue;
                }
                if old.sa_sigaction == libc::SIG_IGN {
                    libc::sigaction(sig, &old, std::ptr::null_mut());
                } else {
                    previous.push((sig, old));
                }
            }
        }
        Some(TtyGuard {
            _tty: tty,
            previous,
        })
    }
}

#[cfg(unix)]
impl Drop for TtyGuard {
    fn drop(&mut self) {
        for (sig, old) in &self.previous {
            // SAFETY: `old` is the action sigaction returned for `sig`.
            unsafe { libc::sigaction(*sig, old, std::ptr::null_mut()) };
        }
        tty_state::ARMED.store(-1, std::sync::atomic::Ordering::Release);
    }
}

/// The guard's handler: tcsetattr, signal and raise are async-signal-safe
/// (POSIX). The re-raised signal is blocked until the handler returns, and
/// then ends the process with the default action.
#[cfg(unix)]
extern "C" fn on_signal(sig: libc::c_int) {
    use tty_state::{ARMED, SAVED};
    let fd = ARMED.load(std::sync::atomic::Ordering::Acquire);
    // SAFETY: SAVED was filled by tcgetattr before `fd` was published.
    unsafe {
        if fd >= 0 {
            libc::tcsetattr(fd, libc::TCSANOW, SAVED.0.get().cast());
        }
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

#[cfg(not(unix))]
struct TtyGuard;

#[cfg(not(unix))]
impl TtyGuard {
    fn arm() -> Option<TtyGuard> {
        None
    }
}

/// Reads one line from a piped stdin (for `--code` given on stdin by scripts).
pub fn read_stdin_line() -> Result<Option<zeroize::Zeroizing<String>>> {
    let mut line = zeroize::Zeroizing::new(String::new());
    match std::io::stdin().read_line(&mut line) {
        Ok(0) => Ok(None),
        Ok(_) => Ok(Some(line)),
        Err(e) => Err(Error::usage(format!(
            "could not read the code from stdin: {e}"
        ))),
    }
}

/// The first error writing stdout. Once set, nothing more is written there:
/// the rest of the command still runs (its own outcome stands), and the exit
/// code says the output was lost ([`stdout_lost`]).
static STDOUT_LOST: OnceLock<std::io::Error> = OnceLock::new();

/// Writes to stdout; a failure is recorded, never a panic.
pub fn out(text: &str) {
    if STDOUT_LOST.get().is_some() {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        lose_stdout(e);
    }
}

/// Records a failed write to stdout (the first one counts).
pub fn lose_stdout(e: std::io::Error) {
    let _ = STDOUT_LOST.set(e);
}

/// Why output could not be written to stdout, if it could not: a closed pipe
/// (`| head`) or a real failure (a full disk, an I/O error).
pub fn stdout_lost() -> Option<&'static std::io::Error> {
    STDOUT_LOST.get()
}

/// One line for the operator on stderr, escaped as a whole: errors and
/// notes embed text from outside (paths, `.env` values, usernames, database
/// errors), and every one of them is printed here. A failed write is
/// ignored: the message is lost, what was done stays done.
pub fn message(line: &str) {
    let mut text = escape(line).into_owned();
    text.push('\n');
    err_raw(&text);
}

/// Writes text to stderr as it is (output of our own that is escaped
/// already), ignoring a failure as [`message`] does.
pub fn err_raw(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Prints one JSON document on stdout, newline-terminated.
///
/// JSON escapes the C0 controls itself, but DEL, the C1 controls
/// (U+0080–U+009F, among them the 8-bit CSI U+009B) and the invisible format
/// characters (bidi overrides, zero-width characters) are legal raw inside
/// JSON strings; they are escaped here too, so that a document shown on a
/// terminal can never drive it or reorder it. Outside strings JSON text is plain ASCII, so the
/// replacement cannot change the document's meaning.
pub fn json(value: &serde_json::Value) {
    out(&format!("{}\n", json_text(value)));
}

/// [`json`] for a document that carries a secret (asked for with
/// `--show-secret`, or a generated key): rendered into buffers sized up front
/// (a growing string would leave copies behind in freed memory), printed, and
/// every string of it wiped afterwards, the document's own included.
pub fn json_secret(mut doc: serde_json::Value) {
    out(&render_secret(&doc));
    scrub(&mut doc);
}

/// JSON written into a buffer sized up front and wiped when dropped (a
/// growing buffer would leave copies of the secrets in freed memory).
pub fn secret_json_bytes(doc: &serde_json::Value) -> Zeroizing<Vec<u8>> {
    struct Count(usize);
    impl Write for Count {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut size = Count(0);
    serde_json::to_writer(&mut size, doc).expect("JSON is written to memory");
    let mut raw = Zeroizing::new(Vec::with_capacity(size.0));
    serde_json::to_writer(&mut *raw, doc).expect("JSON is written to memory");
    raw
}

/// What [`json_secret`] prints: the same text as [`json`], newline included.
fn render_secret(doc: &serde_json::Value) -> Zeroizing<String> {
    let raw = secret_json_bytes(doc);
    let text = std::str::from_utf8(&raw).expect("serde_json writes UTF-8");
    let mut shown = Zeroizing::new(String::with_capacity(text.len() * 6 + 1));
    for c in text.chars() {
        push_json_char(&mut shown, c);
    }
    shown.push('\n');
    shown
}

/// `parts` joined and newline-terminated in one exactly sized, self-wiping
/// string: a line that shows a secret.
pub fn secret_line(parts: &[&str]) -> Zeroizing<String> {
    let mut line = Zeroizing::new(String::with_capacity(
        parts.iter().map(|p| p.len()).sum::<usize>() + 1,
    ));
    parts.iter().for_each(|p| line.push_str(p));
    line.push('\n');
    line
}

/// Wipes every string of a JSON document (its secrets among them).
pub fn scrub(doc: &mut serde_json::Value) {
    match doc {
        serde_json::Value::String(s) => s.zeroize(),
        serde_json::Value::Array(items) => items.iter_mut().for_each(scrub),
        serde_json::Value::Object(fields) => fields.values_mut().for_each(scrub),
        _ => {}
    }
}

/// What JSON leaves raw but a terminal must not see raw: DEL, the C1
/// controls and the invisible format characters ([`is_hidden`] beyond C0,
/// which JSON escapes itself).
fn is_raw_control(c: char) -> bool {
    c >= '\u{7f}' && is_hidden(c)
}

/// Prints one JSON array on stdout, item by item, so a table of a million
/// accounts never exists in memory as one document. Stops at the first
/// failed write (recorded as [`out`] does).
pub fn json_array(items: impl Iterator<Item = serde_json::Value>) {
    if STDOUT_LOST.get().is_some() {
        return;
    }
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let write = || -> std::io::Result<()> {
        stdout.write_all(b"[")?;
        for (i, item) in items.enumerate() {
            if i > 0 {
                stdout.write_all(b",")?;
            }
            stdout.write_all(json_text(&item).as_bytes())?;
        }
        stdout.write_all(b"]\n")?;
        stdout.flush()
    };
    if let Err(e) = write() {
        lose_stdout(e);
    }
}

/// Compact JSON with DEL, the C1 controls and the invisible format
/// characters escaped too: serde_json leaves them raw, U+009B is an 8-bit CSI
/// to some terminals, and a bidi override reorders what follows it.
fn json_text(value: &serde_json::Value) -> String {
    let text = value.to_string();
    if !text.contains(is_raw_control) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        push_json_char(&mut out, c);
    }
    out
}

/// `c` as JSON text: raw, or as `\uXXXX` escapes (a UTF-16 surrogate pair
/// beyond the Basic Multilingual Plane, as JSON requires).
fn push_json_char(out: &mut String, c: char) {
    if !is_raw_control(c) {
        out.push(c);
        return;
    }
    for unit in c.encode_utf16(&mut [0; 2]) {
        let _ = std::fmt::Write::write_fmt(out, format_args!("\\u{unit:04x}"));
    }
}

/// A table sized to the terminal (or unconstrained when piped).
pub fn table(header: &[&str]) -> comfy_table::Table {
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_content_arrangement(comfy_table::ContentArrangement::Dynamic);
    if !stdout_is_tty() {
        t.load_style(comfy_table::presets::ASCII_MARKDOWN);
        t.set_content_arrangement(comfy_table::ContentArrangement::Disabled);
    } else if t.width().is_none_or(|w| w == 0) {
        // A terminal that reports no size (0 columns: a bare pseudo-terminal,
        // some serial consoles) would squeeze every column to one character.
        t.set_content_arrangement(comfy_table::ContentArrangement::Disabled);
    }
    t.set_header(header.iter().copied());
    t
}

/// Message for the operator on stderr (unless `--quiet`), escaped and
/// never panicking ([`message`]).
#[macro_export]
macro_rules! note {
    ($cfg:expr, $($arg:tt)*) => {
        if !$cfg.quiet {
            $crate::ui::message(&format!($($arg)*));
        }
    };
}

/// `1 secret`, `2 secrets`.
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_document_prints_as_any_other_and_is_wiped_after() {
        let mut doc = serde_json::json!({
            "user": "mal\u{9b}31mory\u{7f}",
            "secret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
            "nested": [{"uri": "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP"}],
            "n": 1,
        });
        let shown = render_secret(&doc);
        assert_eq!(shown.as_str(), format!("{}\n", json_text(&doc)));
        assert!(shown.contains("\\u009b") && shown.contains("\\u007f"));
        scrub(&mut doc);
        assert!(!doc.to_string().contains("JBSWY3DP"), "{doc}");
        assert_eq!(doc["n"], 1);
    }

    #[test]
    fn a_question_takes_y_yes_n_no_in_any_case_and_nothing_else() {
        for yes in ["y", "Y", "yes", "YES", "Yes\n", "  yes \r\n"] {
            assert_eq!(answer(yes), Some(true), "{yes:?}");
        }
        for no in ["n", "N", "no", "NO\n", " nO "] {
            assert_eq!(answer(no), Some(false), "{no:?}");
        }
        for other in [
            "",
            "\n",
            "ye",
            "yess",
            "nope",
            "y es",
            "ja",
            "1",
            "yes please",
        ] {
            assert_eq!(answer(other), None, "{other:?}");
        }
    }

    #[test]
    fn a_secret_line_is_sized_exactly() {
        let line = secret_line(&["secret: ", "JBSWY3DPEHPK3PXP"]);
        assert_eq!(line.as_str(), "secret: JBSWY3DPEHPK3PXP\n");
        assert_eq!(line.capacity(), line.len());
    }
}
