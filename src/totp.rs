//! TOTP as the app computes it with pyotp: RFC 6238, HMAC-SHA1, 6 digits, 30 s,
//! T0 = 0, and the otpauth URI byte-identical to `provisioning_uri`.

use zeroize::{Zeroize, Zeroizing};

pub const DIGITS: usize = 6;
pub const PERIOD: u64 = 30;
/// How far (in steps, either way) a rejected code is searched to explain drift.
pub const DRIFT_SEARCH: i64 = 10;

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A base32 TOTP secret in canonical form (upper case, no padding). Wiped on drop.
pub struct Secret {
    text: Zeroizing<String>,
    bytes: Zeroizing<Vec<u8>>,
}

/// The shortest secret the app's pyotp accepts (2.12 refuses anything under
/// 112 bits with a ValueError, so the app's login fails for that user).
pub const APP_MIN_BITS: usize = 112;

/// Why a stored or given secret is not a usable base32 secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretProblem {
    Empty,
    NotBase32,
    TooShort { bits: usize },
}

impl std::fmt::Display for SecretProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretProblem::Empty => write!(f, "the secret is empty"),
            SecretProblem::NotBase32 => write!(f, "the secret is not base32 (A-Z, 2-7)"),
            SecretProblem::TooShort { bits } => write!(
                f,
                "the secret has {bits} bits and the app's pyotp refuses secrets under {APP_MIN_BITS}: the user cannot log in"
            ),
        }
    }
}

impl Secret {
    /// 160 random bits from the OS CSPRNG, as `pyotp.random_base32()` gives: 32 characters.
    pub fn generate() -> Secret {
        let mut raw = Zeroizing::new([0u8; 20]);
        getrandom::fill(raw.as_mut()).expect("the operating system's random source failed");
        let mut text = Zeroizing::new(String::with_capacity(32));
        // 20 bytes = 160 bits = exactly 32 base32 characters, no padding.
        for chunk in raw.chunks(5) {
            let mut acc = 0u64;
            for b in chunk {
                acc = (acc << 8) | u64::from(*b);
            }
            for i in (0..8).rev() {
                text.push(BASE32[((acc >> (i * 5)) & 31) as usize] as char);
            }
            acc.zeroize();
        }
        Secret::parse(&text).expect("generated base32 is valid")
    }

    /// Parses a secret as pyotp does: case-insensitive, optional `=` padding.
    pub fn parse(input: &str) -> Result<Secret, SecretProblem> {
        let mut text = Zeroizing::new(String::with_capacity(input.len()));
        for c in input.trim().trim_end_matches('=').chars() {
            let up = c.to_ascii_uppercase();
            if !matches!(up, 'A'..='Z' | '2'..='7') {
                return Err(SecretProblem::NotBase32);
            }
            text.push(up);
        }
        if text.is_empty() {
            return Err(SecretProblem::Empty);
        }
        // Lengths base32 can never produce (1, 3, 6 mod 8) are refused by Python too.
        if matches!(text.len() % 8, 1 | 3 | 6) {
            return Err(SecretProblem::NotBase32);
        }
        let mut bytes = Zeroizing::new(Vec::with_capacity(text.len() * 5 / 8));
        let (mut acc, mut bits) = (0u32, 0u32);
        for c in text.bytes() {
            let v = BASE32.iter().position(|&b| b == c).expect("checked above") as u32;
            acc = (acc << 5) | v;
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                bytes.push((acc >> bits) as u8);
                acc &= (1 << bits) - 1;
            }
        }
        Ok(Secret { text, bytes })
    }

    /// Parses the plaintext of a stored token (UTF-8 bytes of the base32
    /// text), refusing what the app could not use either.
    pub fn from_plaintext(plain: &[u8]) -> Result<Secret, SecretProblem> {
        let text = std::str::from_utf8(plain).map_err(|_| SecretProblem::NotBase32)?;
        let secret = Secret::parse(text)?;
        if secret.bits() < APP_MIN_BITS {
            return Err(SecretProblem::TooShort {
                bits: secret.bits(),
            });
        }
        Ok(secret)
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Strength in bits of the decoded secret.
    pub fn bits(&self) -> usize {
        self.bytes.len() * 8
    }

    fn totp(&self, skew: u16) -> totp_rs::Totp {
        // Non-compliant build: totp-rs refuses secrets under 128 bits, but the
        // app's floor is pyotp's (APP_MIN_BITS, checked when a stored secret is
        // read); `doctor` reports the ones between the two as weak.
        totp_rs::Builder::new()
            .with_algorithm(totp_rs::Algorithm::SHA1)
            .with_digits(DIGITS as u8)
            .with_step_duration(PERIOD)
            .with_skew(skew)
            .with_secret(self.bytes.to_vec())
            .build_noncompliant()
    }

    /// The code for the 30-second step containing `unix_time`.
    pub fn code_at(&self, unix_time: u64) -> String {
        self.totp(0).generate(unix_time).to_string()
    }

    /// Whether `code` is accepted at `now` with `window` steps either way (the
    /// app uses 0): the offset in steps of the step it matched.
    pub fn accepts(&self, code: &Code, now: u64, window: u16) -> Option<i64> {
        self.totp(window)
            .check(code.as_str(), now)
            .map(|step| step as i64 - (now / PERIOD) as i64)
    }

    /// If `code` matches a step outside the accepted window but within
    /// ±[`DRIFT_SEARCH`], the nearest such offset in steps (negative = in the past).
    pub fn drift(&self, code: &Code, now: u64, window: u16) -> Option<i64> {
        let totp = self.totp(0);
        let origin = (now / PERIOD) as i64;
        let window = i64::from(window);
        (window + 1..=DRIFT_SEARCH)
            .flat_map(|d| [-d, d])
            .find(|&d| {
                let step = origin + d;
                step >= 0 && totp.check(code.as_str(), step as u64 * PERIOD).is_some()
            })
    }
}

/// A well-formed one-time code: exactly six ASCII digits.
#[derive(Clone, PartialEq, Eq)]
pub struct Code(String);

impl Code {
    /// Accepts six ASCII digits; spaces inside ("123 456") are ignored.
    pub fn parse(input: &str) -> Result<Code, String> {
        let trimmed = input.trim_matches(|c| c == '\n' || c == '\r');
        let digits: String = trimmed.chars().filter(|&c| c != ' ').collect();
        if digits.is_empty() {
            return Err("the code is empty; type the 6 digits the authenticator app shows".into());
        }
        if !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(
                "the code must be 6 digits 0-9 (spaces allowed); other characters are not".into(),
            );
        }
        if digits.len() != DIGITS {
            return Err(format!(
                "the code has {} digits; it must have exactly {DIGITS}",
                digits.len()
            ));
        }
        Ok(Code(digits))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `urllib.parse.quote` with `safe` extra characters kept (pyotp uses "/" for the label).
fn quote(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'_' | b'.' | b'-' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The URI pyotp's `TOTP(secret).provisioning_uri(name=..., issuer_name=...)` builds,
/// byte for byte (the interop tests ask pyotp itself). An empty issuer is left out, as pyotp does.
pub fn provisioning_uri(secret: &Secret, name: &str, issuer: &str) -> Zeroizing<String> {
    // pyotp: `name if name else self.name`, and an unnamed TOTP is "Secret".
    let name = if name.is_empty() { "Secret" } else { name };
    let mut uri = String::from("otpauth://totp/");
    if !issuer.is_empty() {
        uri.push_str(&quote(issuer, true));
        uri.push(':');
    }
    uri.push_str(&quote(name, true));
    uri.push_str("?secret=");
    uri.push_str(secret.as_str());
    if !issuer.is_empty() {
        uri.push_str("&issuer=");
        uri.push_str(&quote(issuer, false));
    }
    Zeroizing::new(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_known_answers() {
        let s = Secret::parse("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap();
        for (t, code) in [
            (59, "287082"),
            (1111111109, "081804"),
            (1111111111, "050471"),
            (1234567890, "005924"),
            (2000000000, "279037"),
            (20000000000, "353130"),
        ] {
            assert_eq!(s.code_at(t), code, "t={t}");
        }
    }

    #[test]
    fn generated_secret_is_32_chars_160_bits() {
        let s = Secret::generate();
        assert_eq!(s.as_str().len(), 32);
        assert_eq!(s.bits(), 160);
        assert!(s.as_str().bytes().all(|b| BASE32.contains(&b)));
        assert_ne!(s.as_str(), Secret::generate().as_str());
    }

    #[test]
    fn lowercase_and_padding_accepted() {
        let a = Secret::parse("gezdgnbvgy3tqojq").unwrap();
        assert_eq!(a.as_str(), "GEZDGNBVGY3TQOJQ");
        assert!(Secret::parse("GEZDGNBVGY3TQOJ=").is_ok());
        assert_eq!(Secret::parse("GEZ1").err(), Some(SecretProblem::NotBase32));
        assert_eq!(Secret::parse("").err(), Some(SecretProblem::Empty));
    }

    #[test]
    fn codes_are_six_ascii_digits() {
        assert_eq!(Code::parse("123 456").unwrap().as_str(), "123456");
        for bad in ["", "12345", "1234567", "12345a", "١٢٣٤٥٦", "123\u{0}56"] {
            assert!(Code::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn window_and_drift() {
        let s = Secret::parse("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap();
        let now = 1_700_000_000;
        let old = Code::parse(&s.code_at(now - 90)).unwrap();
        assert_eq!(s.accepts(&old, now, 0), None);
        assert_eq!(s.accepts(&old, now, 3), Some(-3));
        assert_eq!(s.drift(&old, now, 0), Some(-3));
        let cur = Code::parse(&s.code_at(now)).unwrap();
        assert_eq!(s.accepts(&cur, now, 0), Some(0));
    }

    #[test]
    fn uri_examples_match_pyotp() {
        let s = Secret::parse("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP").unwrap();
        assert_eq!(
            provisioning_uri(&s, "alice", "MeXanimatoR").as_str(),
            "otpauth://totp/MeXanimatoR:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=MeXanimatoR"
        );
        assert!(
            provisioning_uri(&s, "alice@example.com", "MeXanimatoR")
                .contains("MeXanimatoR:alice%40example.com?")
        );
        assert!(
            provisioning_uri(&s, "bob smith", "MeXanimatoR").contains("MeXanimatoR:bob%20smith?")
        );
        assert!(provisioning_uri(&s, "a", "A/B C").ends_with("&issuer=A%2FB%20C"));
        assert!(provisioning_uri(&s, "a", "A/B C").starts_with("otpauth://totp/A/B%20C:a?"));
        assert_eq!(
            provisioning_uri(&s, "", "X").as_str(),
            "otpauth://totp/X:Secret?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=X"
        );
    }
}
