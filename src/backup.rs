//! The backup file of `rotate-key --backup` and `restore`: JSON lines, a
//! header naming the mapping, then one line per rotated token: where it is,
//! the token as it was, and the token the rotation wrote in its place (so
//! that a restore can tell a row nobody touched since from one the app
//! changed). Created 0600, never over an existing file.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::db::{AccountId, Place, Schema, TokenRow};
use crate::error::{Error, Result};
use crate::files;

const FORMAT: &str = "mex2fa-backup";
/// Version 2 added the rotated token of each entry.
const VERSION: u64 = 2;
/// The longest line read: a header or an entry is a few hundred bytes (a
/// token of a 160-bit secret is 140 characters, a text id a username or an
/// email). A longer line is not a backup's, and reading stops there rather
/// than fill memory (`--backup /dev/zero` is one endless line).
const MAX_LINE: usize = 64 << 10;

pub struct Writer {
    path: PathBuf,
    out: BufWriter<File>,
    count: u64,
}

impl Writer {
    /// Claims the file (exit 2 if it exists) and writes the header.
    pub fn create(path: &Path, schema: &Schema) -> Result<Writer> {
        let file = files::create_private(path)?;
        let mut w = Writer {
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(1 << 16, file),
            count: 0,
        };
        let header = serde_json::json!({
            "format": FORMAT,
            "version": VERSION,
            "created_at": crate::clock::format_utc(crate::clock::now() as i64),
            "table": schema.table.to_string(),
            "id_column": schema.id.as_str(),
            "secret_column": schema.secret.as_str(),
        });
        w.line(&header)?;
        Ok(w)
    }

    fn line(&mut self, v: &serde_json::Value) -> Result<()> {
        writeln!(self.out, "{v}").map_err(|e| self.io(e))
    }

    fn io(&self, e: std::io::Error) -> Error {
        Error::io(format!(
            "cannot write the backup {}: {e}; nothing was changed",
            self.path.display()
        ))
    }

    /// Records one row's current token and the token replacing it.
    pub fn add(&mut self, row: &TokenRow, rotated: &str) -> Result<()> {
        let Some(token) = row.value.token() else {
            return Ok(());
        };
        self.count += 1;
        let v = serde_json::json!({
            "place": row.place.name(),
            "id": row.id.to_json(),
            "token": token,
            "rotated": rotated,
        });
        self.line(&v)
    }

    /// Flushes and fsyncs: the backup is on disk before the database changes.
    pub fn sync(&mut self) -> Result<()> {
        self.out.flush().map_err(|e| self.io(e))?;
        self.out.get_ref().sync_all().map_err(|e| self.io(e))
    }

    pub fn finish(mut self) -> Result<u64> {
        self.sync()?;
        Ok(self.count)
    }

    /// Removes the file: the rotation it was made for did not happen.
    pub fn discard(self) {
        let Writer { path, out, .. } = self;
        drop(out);
        let _ = std::fs::remove_file(path);
    }
}

/// One line of a backup.
pub struct Entry {
    pub place: Place,
    pub id: AccountId,
    /// The token as it was before the rotation.
    pub token: String,
    /// The token the rotation wrote in its place.
    pub rotated: String,
}

/// Reads a backup file line by line (constant memory).
pub struct Reader {
    path: PathBuf,
    input: BufReader<File>,
    line_no: usize,
}

impl Reader {
    /// Opens the file and checks its header against the configured mapping.
    pub fn open(path: &Path, schema: &Schema) -> Result<Reader> {
        let shown = path.display();
        let file = files::open_for_reading(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                Error::usage(format!("backup file not found: {shown}; check --backup"))
            }
            kind if files::is_path_problem(kind) => {
                Error::usage(format!("cannot read the backup {shown}: {e}"))
            }
            _ => Error::io(format!("cannot read the backup {shown}: {e}")),
        })?;
        // restore reads the backup twice (check, then write): a device or
        // a pipe would give something else, or nothing, the second time.
        match file.metadata() {
            Ok(meta) if meta.is_file() => {}
            Ok(_) => {
                return Err(Error::usage(format!(
                    "the backup {shown} is not a regular file (a device, a pipe or a folder); pass the file rotate-key --backup wrote"
                )));
            }
            Err(e) => return Err(Error::io(format!("cannot read the backup {shown}: {e}"))),
        }
        let mut r = Reader {
            path: path.to_path_buf(),
            input: BufReader::new(file),
            line_no: 0,
        };
        let header = r.next_value()?.ok_or_else(|| r.bad("it is empty"))?;
        if header["format"] != FORMAT {
            return Err(r.bad("it is not a mex2fa backup"));
        }
        if header["version"] != VERSION {
            return Err(Error::usage(format!(
                "the backup {shown} is of format version {}, which this mex2fa does not restore (it needs version {VERSION}, which records what the rotation wrote, so that rows changed since are left alone)",
                header["version"]
            )));
        }
        for (key, want) in [
            ("table", schema.table.to_string().as_str()),
            ("id_column", schema.id.as_str()),
            ("secret_column", schema.secret.as_str()),
        ] {
            if header[key] != want {
                return Err(Error::usage(format!(
                    "the backup {shown} was made with {key} '{}', but the mapping now says '{want}'; use the same --table/--id-column/--secret-column",
                    header[key].as_str().unwrap_or("?")
                )));
            }
        }
        Ok(r)
    }

    fn bad(&self, why: &str) -> Error {
        Error::usage(format!(
            "the backup {} is malformed at line {}: {why}",
            self.path.display(),
            self.line_no
        ))
    }

    /// The next line, at most [`MAX_LINE`] bytes long.
    fn next_line(&mut self) -> Result<Option<String>> {
        let mut line = Vec::new();
        let n = (&mut self.input)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| {
                Error::io(format!(
                    "cannot read the backup {}: {e}",
                    self.path.display()
                ))
            })?;
        if n == 0 {
            return Ok(None);
        }
        self.line_no += 1;
        if line.len() > MAX_LINE {
            return Err(self.bad("the line is longer than 64 KiB"));
        }
        String::from_utf8(line)
            .map(Some)
            .map_err(|_| self.bad("not UTF-8 text"))
    }

    fn next_value(&mut self) -> Result<Option<serde_json::Value>> {
        loop {
            let Some(line) = self.next_line()? else {
                return Ok(None);
            };
            if line.trim().is_empty() {
                continue;
            }
            return serde_json::from_str(&line)
                .map(Some)
                .map_err(|_| self.bad("not a JSON line"));
        }
    }

    /// The next entry, or `None` at the end of the file.
    pub fn next_entry(&mut self) -> Result<Option<Entry>> {
        let Some(v) = self.next_value()? else {
            return Ok(None);
        };
        let place = match v["place"].as_str() {
            Some("account") => Place::Account,
            Some("pending") => Place::Pending,
            _ => return Err(self.bad("unknown place")),
        };
        let id = match &v["id"] {
            serde_json::Value::Number(n) => {
                AccountId::Int(n.as_i64().ok_or_else(|| self.bad("bad id"))?)
            }
            serde_json::Value::String(s) => AccountId::Text(s.clone()),
            _ => return Err(self.bad("bad id")),
        };
        let text = |field: &str| {
            v[field]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| self.bad(&format!("no {field} token")))
        };
        Ok(Some(Entry {
            place,
            id,
            token: text("token")?,
            rotated: text("rotated")?,
        }))
    }
}
