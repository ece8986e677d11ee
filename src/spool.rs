//! Scratch storage for data that must wait for a later pass (the tokens of a
//! rotation): held in memory up to a fixed cap, then in an unlinked 0600
//! temporary file, so memory stays bounded however much is spooled and
//! nothing is left on disk, even after a crash. Read back once, in order;
//! memory is given back as it is read.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, Write};

use crate::error::{Error, Result};

/// Memory is taken in chunks of this size, and handed back one by one.
const CHUNK: usize = 1 << 20;

pub struct Spool {
    chunks: VecDeque<Vec<u8>>,
    held: usize,
    cap: usize,
    /// Once memory is full, everything after goes here.
    file: Option<BufWriter<File>>,
}

impl Spool {
    /// A spool holding up to `cap` bytes in memory.
    pub fn new(cap: usize) -> Spool {
        Spool {
            chunks: VecDeque::new(),
            held: 0,
            cap,
            file: None,
        }
    }

    /// Appends `bytes`.
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        if self.file.is_none() && self.held + bytes.len() <= self.cap {
            self.held += bytes.len();
            let mut rest = bytes;
            while !rest.is_empty() {
                let last = match self.chunks.back_mut() {
                    Some(c) if c.len() < CHUNK => c,
                    _ => {
                        self.chunks.push_back(Vec::with_capacity(CHUNK));
                        self.chunks.back_mut().expect("just pushed")
                    }
                };
                let n = rest.len().min(CHUNK - last.len());
                last.extend_from_slice(&rest[..n]);
                rest = &rest[n..];
            }
            return Ok(());
        }
        if self.file.is_none() {
            self.file = Some(BufWriter::with_capacity(CHUNK, scratch_file()?));
        }
        self.file
            .as_mut()
            .expect("just created")
            .write_all(bytes)
            .map_err(io)
    }

    /// Everything written, from the start.
    pub fn into_reader(self) -> Result<SpoolReader> {
        let file = match self.file {
            Some(out) => {
                let mut file = out.into_inner().map_err(|e| io(e.into_error()))?;
                file.rewind().map_err(io)?;
                Some(BufReader::with_capacity(CHUNK, file))
            }
            None => None,
        };
        Ok(SpoolReader {
            chunks: self.chunks,
            at: 0,
            file,
        })
    }
}

/// Reads a [`Spool`] back: memory first (each chunk freed once read), then the file.
pub struct SpoolReader {
    chunks: VecDeque<Vec<u8>>,
    at: usize,
    file: Option<BufReader<File>>,
}

impl SpoolReader {
    /// Fills `buf` completely; `Ok(false)` if the spool ended before a single
    /// byte, an error if it ended part way (a damaged spool).
    pub fn read_exact_or_end(&mut self, buf: &mut [u8]) -> Result<bool> {
        let mut filled = 0;
        while filled < buf.len() {
            let n = self.read(&mut buf[filled..]).map_err(io)?;
            if n == 0 {
                return if filled == 0 {
                    Ok(false)
                } else {
                    Err(io(std::io::ErrorKind::UnexpectedEof.into()))
                };
            }
            filled += n;
        }
        Ok(true)
    }

    /// Fills `buf` completely, or fails.
    pub fn read_all(&mut self, buf: &mut [u8]) -> Result<()> {
        if buf.is_empty() || self.read_exact_or_end(buf)? {
            Ok(())
        } else {
            Err(io(std::io::ErrorKind::UnexpectedEof.into()))
        }
    }
}

impl Read for SpoolReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while let Some(chunk) = self.chunks.front() {
            if self.at < chunk.len() {
                let n = buf.len().min(chunk.len() - self.at);
                buf[..n].copy_from_slice(&chunk[self.at..self.at + n]);
                self.at += n;
                return Ok(n);
            }
            self.chunks.pop_front();
            self.at = 0;
        }
        match self.file.as_mut() {
            Some(f) => f.read(buf),
            None => Ok(0),
        }
    }
}

/// A failed read or write of the scratch file: exit 5 (a full disk is not a usage error).
fn io(e: std::io::Error) -> Error {
    Error::io(format!(
        "cannot use the temporary file: {e}; nothing was changed (TMPDIR chooses its folder)"
    ))
}

/// A new 0600 file in the temporary folder, already unlinked.
fn scratch_file() -> Result<File> {
    let dir = std::env::temp_dir();
    for n in 0..100u32 {
        let path = dir.join(format!("mex2fa-{}-{n}.spool", std::process::id()));
        match crate::files::create_private_rw(&path) {
            Ok(file) => {
                let _ = std::fs::remove_file(&path);
                return Ok(file);
            }
            Err(Error::Usage(_)) if path.exists() => continue,
            Err(Error::Usage(why)) => {
                return Err(Error::usage(format!(
                    "{why}; nothing was changed: set TMPDIR to a writable folder"
                )));
            }
            Err(Error::Database(why)) => {
                return Err(Error::io(format!(
                    "{why}; nothing was changed: set TMPDIR to a folder with space"
                )));
            }
            Err(e) => return Err(e),
        }
    }
    Err(Error::usage(format!(
        "cannot create a temporary file in {} (100 names taken); nothing was changed: set TMPDIR to a writable folder",
        dir.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(cap: usize, records: &[Vec<u8>]) -> Vec<u8> {
        let mut s = Spool::new(cap);
        for r in records {
            s.write(r).unwrap();
        }
        let mut back = Vec::new();
        s.into_reader().unwrap().read_to_end(&mut back).unwrap();
        back
    }

    #[test]
    fn memory_then_file_reads_back_in_order() {
        let records: Vec<Vec<u8>> = (0..5000u32)
            .map(|i| i.to_le_bytes().repeat(1 + (i % 97) as usize))
            .collect();
        let all = records.concat();
        // All in memory, all in the file, and split between the two.
        for cap in [usize::MAX, 0, all.len() / 3, CHUNK + 7] {
            assert_eq!(round_trip(cap, &records), all, "cap {cap}");
        }
    }

    #[test]
    fn a_partial_record_is_an_error_and_the_end_is_not() {
        let mut s = Spool::new(usize::MAX);
        s.write(&[1, 2, 3]).unwrap();
        let mut r = s.into_reader().unwrap();
        let mut two = [0u8; 2];
        assert!(r.read_exact_or_end(&mut two).unwrap());
        assert!(r.read_exact_or_end(&mut two).is_err());
        assert!(!r.read_exact_or_end(&mut two).unwrap());
    }
}
