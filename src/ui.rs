//! Terminal plumbing shared by the commands: TTY checks, prompts, confirmations,
//! tables, and escaping of text that came from the database.

use std::borrow::Cow;
use std::io::{IsTerminal, Write};

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

/// Asks a yes/no question on the terminal. Without a terminal and without
/// `--yes`, refuses (exit 2) rather than guess.
pub fn confirm(question: &str, yes: bool) -> Result<()> {
    if yes {
        return Ok(());
    }
    require_confirmable(false)?;
    let answer = dialoguer::Confirm::new()
        .with_prompt(question)
        .default(false)
        .interact()
        .map_err(|e| {
            Error::usage(format!(
                "no answer to the confirmation ({e}); nothing was changed"
            ))
        })?;
    if answer {
        Ok(())
    } else {
        Err(Error::usage("cancelled; nothing was changed"))
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
    let is_raw_control = |c: char| ('\u{7f}'..='\u{9f}').contains(&c);
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
