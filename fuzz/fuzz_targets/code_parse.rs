//! `totp::Code::parse` on any text: never panics, and accepts exactly six
//! ASCII digits once line endings around and spaces inside are dropped.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/it/util/models.rs"]
mod models;
use mex2fa::totp::Code;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let model = models::code_model(input);
    let got = Code::parse(input).ok().map(|c| c.as_str().to_string());
    assert_eq!(got, model, "{input:?}");
});
