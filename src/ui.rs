//! Terminal plumbing shared by the commands: TTY checks, prompts, confirmations,
//! tables, and escaping of text that came from the database.

use std::borrow::Cow;
use std::io::{IsTerminal, Write};

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

/// User-supplied text (usernames from the database, argv) with control
/// characters escaped, so an ANSI sequence is shown, never interpreted.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Asks a yes/no question on the terminal and takes a whole line as the
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
    let _line_mode = LineMode::on_stdin();
    discard_typeahead();
    let mut stderr = std::io::stderr();
    let mut line = String::new();
    loop {
        let _ = write!(stderr, "{question} [y/n] ");
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
    rpassword::prompt_password(prompt)
        .map(zeroize::Zeroizing::new)
        .map_err(|e| Error::usage(format!("could not read from the terminal: {e}")))
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

/// Writes to stdout, treating a closed pipe (`| head`) as the reader's choice.
pub fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    if stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush())
        .is_err()
    {
        std::process::exit(0);
    }
}

/// Prints one JSON document on stdout, newline-terminated.
///
/// JSON escapes the C0 controls itself, but DEL and the C1 controls
/// (U+0080–U+009F, among them the 8-bit CSI U+009B) are legal raw inside JSON
/// strings; they are escaped here too, so that a document shown on a terminal
/// can never drive it. Outside strings JSON text is plain ASCII, so the
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

/// What [`json_secret`] prints: the same text as [`json`], newline included.
fn render_secret(doc: &serde_json::Value) -> Zeroizing<String> {
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
    let text = std::str::from_utf8(&raw).expect("serde_json writes UTF-8");
    let mut shown = Zeroizing::new(String::with_capacity(text.len() * 6 + 1));
    for c in text.chars() {
        if is_raw_control(c) {
            let _ =
                std::fmt::Write::write_fmt(&mut *shown, format_args!("\\u{:04x}", u32::from(c)));
        } else {
            shown.push(c);
        }
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

fn is_raw_control(c: char) -> bool {
    ('\u{7f}'..='\u{9f}').contains(&c)
}

/// Prints one JSON array on stdout, item by item, so a table of a million
/// accounts never exists in memory as one document.
pub fn json_array(items: impl Iterator<Item = serde_json::Value>) {
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let mut write = |text: &str| {
        if stdout.write_all(text.as_bytes()).is_err() {
            std::process::exit(0);
        }
    };
    write("[");
    for (i, item) in items.enumerate() {
        if i > 0 {
            write(",");
        }
        write(&json_text(&item));
    }
    write("]\n");
    if stdout.flush().is_err() {
        std::process::exit(0);
    }
}

/// Compact JSON with DEL and the C1 controls escaped too: serde_json leaves
/// them raw, and U+009B is an 8-bit CSI to some terminals.
fn json_text(value: &serde_json::Value) -> String {
    let text = value.to_string();
    if !text.contains(is_raw_control) {
        return text;
    }
    text.chars()
        .map(|c| {
            if is_raw_control(c) {
                format!("\\u{:04x}", u32::from(c))
            } else {
                c.to_string()
            }
        })
        .collect()
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

/// Message for the operator on stderr (unless `--quiet`).
#[macro_export]
macro_rules! note {
    ($cfg:expr, $($arg:tt)*) => {
        if !$cfg.quiet {
            eprintln!($($arg)*);
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
