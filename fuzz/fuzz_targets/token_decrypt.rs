//! `MasterKey::decrypt` never panics, on any string, on base64 of any bytes,
//! and on correctly signed tokens with any timestamp, IV and body (which get
//! past the HMAC to the AES and padding code). What decrypts re-encrypts and
//! decrypts to the same plaintext with the same timestamp.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use mex2fa::crypto::MasterKey;
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
    if let Some((ts, plain)) = key.decrypt_timed(&token) {
        let again = key.encrypt_at(&plain, ts);
        let (ts2, plain2) = key.decrypt_timed(&again).expect("re-encrypted token decrypts");
        assert_eq!(plain2.as_slice(), plain.as_slice());
        assert_eq!(ts2, ts);
    }
});
