//! `totp::provisioning_uri` with any name and issuer: the URI is printable
//! ASCII and parses back (with the otpauth parser of tests/support) to the
//! same name, issuer and secret.
#![no_main]

#[path = "../../tests/support/otpauth.rs"]
mod otpauth;

use libfuzzer_sys::fuzz_target;
use mex2fa::totp::{Secret, provisioning_uri};

fn base32(bytes: &[u8]) -> String {
    const A: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut out, mut acc, mut bits) = (String::new(), 0u32, 0u32);
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(A[((acc >> bits) & 31) as usize] as char);
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(A[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

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
