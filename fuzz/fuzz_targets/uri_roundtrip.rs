//! `totp::provisioning_uri` with any name and issuer: the URI is printable
//! ASCII and parses back (with the otpauth parser of tests/support) to the
//! same name, issuer and secret.
#![no_main]

#[path = "../../tests/it/util/models.rs"]
mod models;
#[path = "../../tests/it/util/otpauth.rs"]
mod otpauth;

use models::base32;

use libfuzzer_sys::fuzz_target;
use mex2fa::totp::{Secret, provisioning_uri};

fuzz_target!(|input: (String, String, [u8; 20])| {
    let (name, issuer, raw) = input;
    let text = base32(&raw);
    let secret = Secret::parse(&text).expect("base32");
    let uri = provisioning_uri(&secret, &name, &issuer);
    // pyotp labels an account with no name "Secret" (`name or self.name`).
    let label = if name.is_empty() { "Secret" } else { name.as_str() };
    if let Err(e) = otpauth::check_round_trip(&uri, label, &issuer, &text) {
        panic!("{e}: {}", uri.as_str());
    }
});
