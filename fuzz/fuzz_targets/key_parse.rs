//! `crypto::MasterKey::parse` on any text: never panics, and accepts exactly
//! what `models::key_model` accepts (44 padded base64 characters, either
//! alphabet, whitespace around, 32 bytes); an accepted key is the same key as
//! its canonical spelling.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;
use libfuzzer_sys::fuzz_target;

#[path = "../../tests/it/util/models.rs"]
mod models;
use mex2fa::crypto::MasterKey;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let model = models::key_model(input);
    let parsed = MasterKey::parse(input);
    assert_eq!(parsed.is_ok(), model.is_some(), "{input:?}");
    if let (Ok(key), Some(bytes)) = (parsed, model) {
        let canonical = MasterKey::parse(&URL_SAFE.encode(bytes)).expect("canonical key");
        assert!(key.same_as(&canonical));
    }
});
