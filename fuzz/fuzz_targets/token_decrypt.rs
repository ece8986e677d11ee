//! `MasterKey::decrypt` never panics, on any string, on base64 of any bytes,
//! and on correctly signed tokens with any timestamp, IV and body (which get
//! past the HMAC to the AES and padding code). What decrypts re-encrypts and
//! decrypts to the same plaintext with the same timestamp.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use mex2fa::crypto::{MasterKey, token_timestamp};
use sha2::Sha256;

const KEY: &str = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let key = MasterKey::parse(KEY).expect("key");
    let token = match mode % 3 {
        0 => String::from_utf8_lossy(rest).into_owned(),
        1 => URL_SAFE.encode(rest),
        _ => {
            if rest.len() < 24 {
                return;
            }
            let raw = URL_SAFE.decode(KEY).expect("key bytes");
            let mut msg = vec![0x80];
            msg.extend_from_slice(rest);
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&raw[..16]).expect("hmac");
            mac.update(&msg);
            msg.extend_from_slice(&mac.finalize().into_bytes());
            URL_SAFE.encode(msg)
        }
    };
    let ts = token_timestamp(&token);
    if let Some(plain) = key.decrypt(&token) {
        let ts = ts.expect("a token that decrypts has a timestamp");
        let again = key.encrypt_at(&plain, ts);
        assert_eq!(
            key.decrypt(&again).as_deref().map(|p| p.as_slice()),
            Some(plain.as_slice())
        );
        assert_eq!(token_timestamp(&again), Some(ts));
    }
});
