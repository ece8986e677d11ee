//! The rules mex2fa's parsers must follow, written out independently of
//! `src/`. Shared by tests/it/properties.rs and the cargo-fuzz targets (which
//! include this file by path).

#![allow(dead_code)]

use base64::Engine;

/// Codes: line endings around and spaces inside dropped, then exactly six
/// ASCII digits.
pub fn code_model(input: &str) -> Option<String> {
    let trimmed = input.trim_matches(|c| c == '\n' || c == '\r');
    let digits: String = trimmed.chars().filter(|&c| c != ' ').collect();
    (digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// Keys: trimmed, either alphabet, 44 padded characters, 32 bytes; the unused
/// low bits of the last character ignored, as Python's Fernet ignores them.
pub fn key_model(input: &str) -> Option<[u8; 32]> {
    let t: String = input
        .trim()
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    if t.len() != 44 {
        return None;
    }
    const LENIENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    LENIENT.decode(t.as_bytes()).ok()?.try_into().ok()
}

/// Base32 (RFC 4648, no padding) of `bytes`, for secrets made from raw bytes.
pub fn base32(bytes: &[u8]) -> String {
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
