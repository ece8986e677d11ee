//! The backup file of `rotate-key --backup` and `restore`: JSON lines, a
//! header naming the mapping, then one line per stored token (account id and
//! the token as it was). Created 0600, never over an existing file.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::db::{AccountId, Place, Schema, TokenRow};
use crate::error::{Error, Result};
use crate::files;

const FORMAT: &str = "mex2fa-backup";
const VERSION: u64 = 1;

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
            "table": schema.table.as_str(),
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

    /// Records one row's current token.
    pub fn add(&mut self, row: &TokenRow) -> Result<()> {
        let Some(token) = row.value.token() else {
            return Ok(());
        };
        self.count += 1;
        let v = serde_json::json!({
            "place": row.place.name(),
            "id": row.id.to_json(),
            "token": token,
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
    pub token: String,
}

/// Reads a backup file line by line (constant memory).
pub struct Reader {
    path: PathBuf,
    lines: std::io::Lines<BufReader<File>>,
    line_no: usize,
}

impl Reader {
    /// Opens the file and checks its header against the configured mapping.
    pub fn open(path: &Path, schema: &Schema) -> Result<Reader> {
        let shown = path.display();
        let file = File::open(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::usage(format!("backup file not found: {shown}; check --backup"))
            } else {
                Error::usage(format!("cannot read the backup {shown}: {e}"))
            }
        })?;
        let mut r = Reader {
            path: path.to_path_buf(),
            lines: BufReader::new(file).lines(),
            line_no: 0,
        };
        let header = r.next_value()?.ok_or_else(|| r.bad("it is empty"))?;
        if header["format"] != FORMAT || header["version"] != VERSION {
            return Err(r.bad("it is not a mex2fa backup (version 1)"));
        }
        for (key, want) in [
            ("table", schema.table.as_str()),
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

    fn next_value(&mut self) -> Result<Option<serde_json::Value>> {
        loop {
            let Some(line) = self.lines.next() else {
                return Ok(None);
            };
            self.line_no += 1;
            let line = line.map_err(|e| self.bad(&e.to_string()))?;
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
        let token = v["token"]
            .as_str()
            .ok_or_else(|| self.bad("no token"))?
            .to_string();
        Ok(Some(Entry { place, id, token }))
    }
}
