//! The PostgreSQL backend.

mod location;

pub use location::Location;

use super::{Options, Schema};
use crate::error::{Error, Result};

pub fn open(
    _location: &Location,
    _schema: Schema,
    _options: Options,
) -> Result<Box<dyn super::Store>> {
    Err(Error::db("postgres: not yet"))
}
