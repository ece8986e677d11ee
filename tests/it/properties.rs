//! Property tests (proptest) of four properties, so that CI checks them on
//! stable Rust in a few seconds (the cargo-fuzz targets in `fuzz/` explore
//! the same properties for longer, on nightly):
//!
//! 1. `totp::Code::parse` never panics and accepts exactly six ASCII digits
//!    (spaces inside, line endings around).
//! 2. `crypto::MasterKey::parse` never panics and accepts exactly a 32-byte
//!    key in 44 padded base64 characters of either alphabet, whitespace
//!    around; what it accepts interoperates with the independent `fernet` crate.
//! 3. `MasterKey::decrypt` never panics on any string — including correctly
//!    signed tokens with a hostile body — and round-trips what `encrypt` makes.
//! 4. `totp::provisioning_uri` round-trips any name and issuer through an
//!    otpauth parser of our own (`util/otpauth.rs`).

use crate::util::{models, otpauth};

use models::{base32, code_model, key_model};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use mex2fa::crypto::MasterKey;
use mex2fa::totp::{Code, Secret, provisioning_uri};
use proptest::prelude::*;
use sha2::Sha256;

const KEY: &str = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A Fernet token with a valid HMAC over any body: reaches the AES and
/// padding code that a random string never gets past the MAC to.
fn signed_token(key: &[u8; 32], ts: u64, iv: &[u8; 16], body: &[u8]) -> String {
    let mut msg = vec![0x80];
    msg.extend_from_slice(&ts.to_be_bytes());
    msg.extend_from_slice(iv);
    msg.extend_from_slice(body);
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key[..16]).expect("hmac");
    mac.update(&msg);
    msg.extend_from_slice(&mac.finalize().into_bytes());
    URL_SAFE.encode(msg)
}

/// Strings near the interesting shapes, not only uniform noise.
fn texty() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9 \r\n]{0,10}",
        "[ \t\n]{0,3}[A-Za-z0-9_+/=-]{40,46}[ \t\r\n]{0,3}",
        "[0-9\u{0660}-\u{0669}\u{ff10}-\u{ff19}]{6}",
    ]
}

proptest! {
    #![proptest_config(config(4096))]

    #[test]
    fn code_parse_matches_its_rule(input in texty()) {
        let got = Code::parse(&input).ok().map(|c| c.as_str().to_string());
        prop_assert_eq!(got, code_model(&input));
    }

    #[test]
    fn six_digits_with_spaces_and_line_endings_parse(
        digits in "[0-9]{6}",
        spaces in proptest::collection::vec(0usize..3, 7),
        ending in prop_oneof![Just(""), Just("\n"), Just("\r\n")],
    ) {
        let mut s = String::new();
        for (i, c) in digits.chars().enumerate() {
            s.push_str(&" ".repeat(spaces[i]));
            s.push(c);
        }
        s.push_str(&" ".repeat(spaces[6]));
        s.push_str(ending);
        prop_assert_eq!(Code::parse(&s).map(|c| c.as_str().to_string()), Ok(digits));
    }

    #[test]
    fn key_parse_matches_its_rule(input in texty()) {
        let parsed = MasterKey::parse(&input);
        let model = key_model(&input);
        prop_assert_eq!(parsed.is_ok(), model.is_some(), "{:?}", input);
        if let (Ok(key), Some(bytes)) = (parsed, model) {
            let canonical = MasterKey::parse(&URL_SAFE.encode(bytes)).expect("canonical");
            prop_assert!(key.same_as(&canonical));
        }
    }
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn any_key_in_either_alphabet_with_whitespace_is_accepted(
        bytes in any::<[u8; 32]>(),
        standard in any::<bool>(),
        before in "[ \t\r\n]{0,3}",
        after in "[ \t\r\n]{0,3}",
    ) {
        let text = if standard { STANDARD.encode(bytes) } else { URL_SAFE.encode(bytes) };
        let key = MasterKey::parse(&format!("{before}{text}{after}")).expect("accepted");
        // What it encrypts, the independent fernet crate decrypts with the canonical key.
        let theirs = fernet::Fernet::new(&URL_SAFE.encode(bytes)).expect("fernet key");
        let token = key.encrypt(b"JBSWY3DPEHPK3PXP");
        prop_assert_eq!(theirs.decrypt(&token).expect("fernet decrypts"), b"JBSWY3DPEHPK3PXP".to_vec());
        // Unpadded, the same key is refused (as Python refuses it).
        let unpadded = URL_SAFE_NO_PAD.encode(bytes);
        prop_assert!(MasterKey::parse(&unpadded).is_err());
    }

    #[test]
    fn decrypt_never_panics_on_any_string(input in any::<String>()) {
        let key = MasterKey::parse(KEY).expect("key");
        let _ = key.decrypt_timed(&input);
    }

    #[test]
    fn decrypt_never_panics_on_base64_of_any_bytes(
        mut bytes in proptest::collection::vec(any::<u8>(), 0..200),
        versioned in any::<bool>(),
    ) {
        if versioned && !bytes.is_empty() {
            bytes[0] = 0x80;
        }
        let key = MasterKey::parse(KEY).expect("key");
        prop_assert!(key.decrypt(&URL_SAFE.encode(&bytes)).is_none());
        prop_assert!(key.decrypt(&URL_SAFE_NO_PAD.encode(&bytes)).is_none());
    }

    #[test]
    fn decrypt_of_signed_hostile_bodies_never_panics(
        // In the past: the fernet crate, unlike Python, refuses far-future times.
        ts in 0u64..1_700_000_000,
        iv in any::<[u8; 16]>(),
        body in proptest::collection::vec(any::<u8>(), 0..100),
    ) {
        let raw: [u8; 32] = URL_SAFE.decode(KEY).expect("key").try_into().expect("32");
        let key = MasterKey::parse(KEY).expect("key");
        let token = signed_token(&raw, ts, &iv, &body);
        // A body that is not whole AES blocks, or not padded, is refused.
        let plain = key.decrypt(&token);
        if body.is_empty() || body.len() % 16 != 0 {
            prop_assert!(plain.is_none());
        }
        // Whatever decrypts agrees with the independent fernet crate.
        let theirs = fernet::Fernet::new(KEY).expect("fernet").decrypt(&token).ok();
        prop_assert_eq!(plain.map(|p| p.to_vec()), theirs);
    }

    #[test]
    fn encrypt_decrypt_round_trips_and_tampering_fails(
        plain in proptest::collection::vec(any::<u8>(), 0..64),
        ts in any::<u64>(),
        at in any::<prop::sample::Index>(),
        with in "[A-Za-z0-9_=-]",
    ) {
        let key = MasterKey::parse(KEY).expect("key");
        let token = key.encrypt_at(&plain, ts);
        prop_assert_eq!(key.decrypt_timed(&token).map(|(t, _)| t), Some(ts));
        prop_assert_eq!(key.decrypt(&token).map(|p| p.to_vec()), Some(plain.clone()));
        // One character changed: refused, or (a change only in base64's
        // unused trailing bits) the very same plaintext.
        let i = at.index(token.len());
        let mut t = token.into_bytes();
        t[i] = with.as_bytes()[0];
        let t = String::from_utf8(t).expect("ascii");
        if let Some(p) = key.decrypt(&t) {
            prop_assert_eq!(p.to_vec(), plain);
        }
        prop_assert!(key.decrypt(&t[..t.len() / 2]).is_none());
    }

    #[test]
    fn provisioning_uri_round_trips(
        name in any::<String>(),
        issuer in prop_oneof![any::<String>(), Just(String::new()), "[ -~]{0,20}"],
        raw in any::<[u8; 20]>(),
    ) {
        let secret_text = base32(&raw);
        let secret = Secret::parse(&secret_text).expect("base32");
        let uri = provisioning_uri(&secret, &name, &issuer);
        // pyotp labels an account with no name "Secret" (`name or self.name`).
        let label = if name.is_empty() { "Secret" } else { name.as_str() };
        if let Err(e) = otpauth::check_round_trip(&uri, label, &issuer, &secret_text) {
            prop_assert!(false, "{}: {}", e, uri.as_str());
        }
    }
}

/// pyotp's URIs for three names go through the same parser (a test of the
/// parser).
#[test]
fn otpauth_parser_reads_pyotps_examples_and_refuses_garbage() {
    let s = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    for (name, label) in [
        ("alice", "MeXanimatoR:alice"),
        ("alice@example.com", "MeXanimatoR:alice%40example.com"),
        ("bob smith", "MeXanimatoR:bob%20smith"),
    ] {
        let uri = format!("otpauth://totp/{label}?secret={s}&issuer=MeXanimatoR");
        otpauth::check_round_trip(&uri, name, "MeXanimatoR", s).expect("pyotp example");
    }
    for bad in [
        "otpauth://totp/MeXanimatoR:bob smith?secret=A&issuer=MeXanimatoR",
        "otpauth://totp/MeXanimatoR:bob+smith?secret=A&issuer=MeXanimatoR",
        "otpauth://totp/MeXanimatoR:bob%2?secret=A&issuer=MeXanimatoR",
        "otpauth://totp/MeXanimatoR:bob",
        "http://totp/MeXanimatoR:bob?secret=A",
    ] {
        assert!(otpauth::parse(bad).is_err(), "{bad}");
    }
    // A different name, issuer or secret is noticed.
    let uri = format!("otpauth://totp/A:b?secret={s}&issuer=A");
    assert!(otpauth::check_round_trip(&uri, "c", "A", s).is_err());
    assert!(otpauth::check_round_trip(&uri, "b", "B", s).is_err());
    assert!(otpauth::check_round_trip(&uri, "b", "A", "X").is_err());
    assert!(
        otpauth::check_round_trip("otpauth://totp/A/B:b?secret=X&issuer=A/B", "b", "A/B", "X")
            .is_err()
    );
}

/// The Fernet spec's invalid tokens: refused, except the two that are
/// invalid only under a TTL, which Python's `decrypt(token)` (no TTL, what
/// the app calls) accepts, and so does mex2fa.
#[test]
fn fernet_invalid_vectors_fail_as_in_python_without_ttl() {
    let path = crate::util::vectors_dir().join("fernet/invalid.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    let mut n = 0;
    for e in v.as_array().expect("array") {
        let desc = e["desc"].as_str().expect("desc").to_ascii_lowercase();
        let key = MasterKey::parse(e["secret"].as_str().expect("secret")).expect("key");
        let got = key.decrypt(e["token"].as_str().expect("token"));
        let ttl_only = desc.contains("ttl") || desc.contains("clock skew");
        assert_eq!(got.is_some(), ttl_only, "{desc}");
        n += 1;
    }
    assert!(n >= 8, "only {n} vectors");
}

/// Python's `Fernet(key)` decodes with `urlsafe_b64decode`, which ignores the
/// unused low bits of the last base64 character: `...e5=` is the same key as
/// `...e4=` there, and so it is here.
#[test]
fn key_with_nonzero_trailing_bits_is_the_same_key_as_in_python() {
    let odd = format!("{}5=", &KEY[..42]);
    assert_ne!(odd, KEY);
    let key = MasterKey::parse(&odd).expect("Python's Fernet accepts this key");
    assert!(key.same_as(&MasterKey::parse(KEY).expect("key")));
}
