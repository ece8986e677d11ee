//! `totp::Code::parse` on any text: never panics, and accepts exactly six
//! ASCII digits once line endings around and spaces inside are dropped.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mex2fa::totp::Code;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let trimmed = input.trim_matches(|c| c == '\n' || c == '\r');
    let digits: String = trimmed.chars().filter(|&c| c != ' ').collect();
    let model = (digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits);
    let got = Code::parse(input).ok().map(|c| c.as_str().to_string());
    assert_eq!(got, model, "{input:?}");
});
