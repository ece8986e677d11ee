//! The records a rotation keeps between its passes: for each token to
//! change, where it lives (and the backend's slot for where its old token
//! lay) and the new token with the timestamp it kept, spooled (see
//! [`crate::spool`]) in a compact binary form and read back in order.

use super::SPOOL_MEMORY;
use crate::crypto::Rotated;
use crate::db::{AccountId, Place, Slot, TokenRow};
use crate::error::{Error, Result};
use crate::spool::{Spool, SpoolReader};

/// One token to change: where it lives (and where its old token lay) and
/// the new token, with the timestamp it kept.
pub struct Record {
    pub place: Place,
    pub id: AccountId,
    pub slot: Option<Slot>,
    pub timestamp: u64,
    pub token: String,
}

/// Tokens between the two passes, as records.
pub struct Records {
    spool: Spool,
    /// Reused for each record.
    record: Vec<u8>,
}

impl Records {
    pub fn new() -> Records {
        Records {
            spool: Spool::new(SPOOL_MEMORY),
            record: Vec::with_capacity(256),
        }
    }

    /// One record: place, id (integer or text), slot (if any), timestamp, token.
    pub fn push(&mut self, row: &TokenRow, new: &Rotated) -> Result<()> {
        let rec = &mut self.record;
        rec.clear();
        rec.push(u8::from(row.place == Place::Pending));
        match &row.id {
            AccountId::Int(n) => {
                rec.push(0);
                rec.extend_from_slice(&n.to_le_bytes());
            }
            AccountId::Text(t) => {
                rec.push(1);
                rec.extend_from_slice(&(t.len() as u64).to_le_bytes());
                rec.extend_from_slice(t.as_bytes());
            }
        }
        match row.slot {
            Some(slot) => {
                rec.push(1);
                rec.extend_from_slice(&slot.to_bytes());
            }
            None => rec.push(0),
        }
        rec.extend_from_slice(&new.timestamp.to_le_bytes());
        rec.extend_from_slice(&(new.token.len() as u64).to_le_bytes());
        rec.extend_from_slice(new.token.as_bytes());
        self.spool.write(rec)
    }

    pub fn replay(self) -> Result<Replay> {
        Ok(Replay {
            input: self.spool.into_reader()?,
        })
    }
}

pub struct Replay {
    input: SpoolReader,
}

impl Replay {
    fn bytes<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut b = [0u8; N];
        self.input.read_all(&mut b)?;
        Ok(b)
    }

    fn u64(&mut self) -> Result<u64> {
        self.bytes().map(u64::from_le_bytes)
    }

    fn text(&mut self) -> Result<String> {
        let n = self.u64()? as usize;
        let mut v = vec![0u8; n];
        self.input.read_all(&mut v)?;
        String::from_utf8(v).map_err(|_| {
            Error::usage("the rotation's scratch data is damaged; nothing was changed")
        })
    }

    /// The next record, or `None` at the end.
    fn next(&mut self) -> Result<Option<Record>> {
        let mut place = [0u8; 1];
        if !self.input.read_exact_or_end(&mut place)? {
            return Ok(None);
        }
        let place = if place[0] == 1 {
            Place::Pending
        } else {
            Place::Account
        };
        let id = match self.bytes::<1>()? {
            [0] => AccountId::Int(self.u64()? as i64),
            _ => AccountId::Text(self.text()?),
        };
        let slot = match self.bytes::<1>()? {
            [0] => None,
            _ => Some(Slot::from_bytes(self.bytes()?)),
        };
        Ok(Some(Record {
            place,
            id,
            slot,
            timestamp: self.u64()?,
            token: self.text()?,
        }))
    }

    /// Up to `n` records; empty at the end.
    pub fn page(&mut self, n: usize) -> Result<Vec<Record>> {
        let mut page = Vec::with_capacity(n);
        while page.len() < n {
            match self.next()? {
                Some(r) => page.push(r),
                None => break,
            }
        }
        Ok(page)
    }
}
