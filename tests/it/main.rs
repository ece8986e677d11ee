//! The integration tests: one binary, one module per area, all run through
//! the real `mex2fa` binary on real databases (except `properties`, which
//! tests the library's parsers directly). The shared harness is in `util/`.
//!
//! Everything a test needs is required, never optional: a missing program or
//! Python venv fails the test with what to install. `scripts/test` provides
//! all of it (see the README's "Set up").

mod util;

mod backends;
mod completions;
mod concurrency;
mod config;
mod core;
mod crash;
mod doctor;
mod faults;
mod hostile;
mod hygiene;
mod interop;
mod key_sources;
mod meta;
mod mysql;
mod output;
mod postgres;
mod powerloss;
mod properties;
mod qr;
mod readme;
mod rotate;
mod terminal;
mod tools;
mod transfer;
mod ux;
mod vectors;
