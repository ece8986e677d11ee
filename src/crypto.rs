//! Fernet master keys and tokens, byte-compatible with Python's `cryptography.fernet`.
//!
//! The `fernet` crate does the AES-128-CBC + HMAC-SHA256 work; this module adds
//! what the app's side needs and the crate lacks: key checks that say what is
//! wrong, both base64 alphabets, decryption with no TTL *and* no clock-skew
//! check (Python's `Fernet.decrypt(token)` has neither), and re-encryption that
//! keeps a token's original timestamp (as `MultiFernet.rotate` does).

use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use zeroize::Zeroizing;

/// Length of a Fernet key in its base64 text form.
pub const KEY_TEXT_LEN: usize = 44;

/// Why a key was refused. Never carries the key itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyProblem {
    Empty,
    Alphabet { position: usize },
    Length { chars: usize },
    Unpadded,
    Bytes { bytes: usize },
}

impl std::fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyProblem::Empty => write!(f, "it is empty"),
            KeyProblem::Alphabet { position } => write!(
                f,
                "character {position} is not base64 (a key uses A-Z a-z 0-9 - _ or + /, and = at the end)"
            ),
            KeyProblem::Length { chars } => write!(
                f,
                "it is {chars} characters long; a Fernet key is {KEY_TEXT_LEN} (32 bytes in URL-safe base64)"
            ),
            KeyProblem::Unpadded => write!(
                f,
                "it lacks the trailing '=' padding (a Fernet key is {KEY_TEXT_LEN} characters ending in '=')"
            ),
            KeyProblem::Bytes { bytes } => {
                write!(f, "it decodes to {bytes} bytes; a Fernet key is 32")
            }
        }
    }
}

/// A Fernet key. Its bytes are wiped when it is dropped.
pub struct MasterKey {
    fernet: fernet::Fernet,
    /// Canonical text form: 44-char padded URL-safe base64.
    text: Zeroizing<String>,
}

impl MasterKey {
    /// Parses a key the way Python's `Fernet(key)` accepts it: surrounding
    /// whitespace ignored, URL-safe or standard alphabet, padding required.
    pub fn parse(input: &str) -> Result<MasterKey, KeyProblem> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(KeyProblem::Empty);
        }
        let mut text = Zeroizing::new(String::with_capacity(KEY_TEXT_LEN));
        for (i, c) in trimmed.chars().enumerate() {
            let mapped = match c {
                'A'..='Z' | 'a'..='z' | '0'..='9' | '-' | '_' | '=' => c,
                '+' => '-',
                '/' => '_',
                _ => return Err(KeyProblem::Alphabet { position: i + 1 }),
            };
            text.push(mapped);
        }
        if text.len() == KEY_TEXT_LEN - 1 && !text.ends_with('=') {
            return Err(KeyProblem::Unpadded);
        }
        if text.len() != KEY_TEXT_LEN {
            return Err(KeyProblem::Length { chars: text.len() });
        }
        let bytes = Zeroizing::new(URL_SAFE.decode(text.as_bytes()).map_err(|_| {
            // '=' in the middle, or non-canonical trailing bits.
            KeyProblem::Alphabet {
                position: text.find('=').map_or(KEY_TEXT_LEN, |p| p + 1),
            }
        })?);
        if bytes.len() != 32 {
            return Err(KeyProblem::Bytes { bytes: bytes.len() });
        }
        let fernet = fernet::Fernet::new(&text).ok_or(KeyProblem::Bytes { bytes: bytes.len() })?;
        Ok(MasterKey { fernet, text })
    }

    /// A fresh random key in the canonical text form.
    pub fn generate() -> Zeroizing<String> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut()).expect("the operating system's random source failed");
        Zeroizing::new(URL_SAFE.encode(bytes.as_ref()))
    }

    /// Whether two keys are the same key (whatever alphabet they were written in).
    pub fn same_as(&self, other: &MasterKey) -> bool {
        let (a, b) = (self.text.as_bytes(), other.text.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    /// Encrypts with the current time as the token timestamp (what the app does).
    pub fn encrypt(&self, plaintext: &[u8]) -> String {
        self.fernet.encrypt(plaintext)
    }

    /// Encrypts with a fresh IV but a given timestamp, to keep a token's age on rotation.
    pub fn encrypt_at(&self, plaintext: &[u8], timestamp: u64) -> String {
        self.fernet.encrypt_at_time(plaintext, timestamp)
    }

    /// Decrypts a stored token with no TTL, like `Fernet.decrypt(token)` in Python.
    pub fn decrypt(&self, token: &str) -> Option<Zeroizing<Vec<u8>>> {
        let token = token.trim();
        let timestamp = token_timestamp(token)?;
        // The crate rejects tokens more than 60 s in the future even without a TTL;
        // Python does not. Pretending "now" is the token's own time disables that
        // check without overflowing `now + 60`.
        let now = timestamp.min(u64::MAX - 60);
        self.fernet
            .decrypt_at_time(token, None, now)
            .ok()
            .map(Zeroizing::new)
    }
}

/// The timestamp a token carries (seconds since the epoch), if it is shaped like one.
pub fn token_timestamp(token: &str) -> Option<u64> {
    let head = token.trim().as_bytes().get(..12)?;
    let mut bytes = [0u8; 9];
    let n = URL_SAFE_NO_PAD.decode_slice(head, &mut bytes).ok()?;
    if n != 9 || bytes[0] != 0x80 {
        return None;
    }
    Some(u64::from_be_bytes(bytes[1..9].try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC_KEY: &str = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
    const SPEC_TOKEN: &str = "gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA==";

    #[test]
    fn spec_token_decrypts_without_ttl() {
        let key = MasterKey::parse(SPEC_KEY).unwrap();
        assert_eq!(key.decrypt(SPEC_TOKEN).unwrap().as_slice(), b"hello");
        assert_eq!(token_timestamp(SPEC_TOKEN), Some(499162800));
    }

    #[test]
    fn standard_alphabet_and_whitespace_accepted() {
        let std_form = SPEC_KEY.replace('-', "+").replace('_', "/");
        let a = MasterKey::parse(&format!("  {std_form}\n")).unwrap();
        assert!(a.same_as(&MasterKey::parse(SPEC_KEY).unwrap()));
    }

    #[test]
    fn key_problems_are_named() {
        assert_eq!(MasterKey::parse("").err(), Some(KeyProblem::Empty));
        assert_eq!(
            MasterKey::parse(&SPEC_KEY[..43]).err(),
            Some(KeyProblem::Unpadded)
        );
        assert_eq!(
            MasterKey::parse("abc").err(),
            Some(KeyProblem::Length { chars: 3 })
        );
        assert_eq!(
            MasterKey::parse(&SPEC_KEY.replace('x', "!")).err(),
            Some(KeyProblem::Alphabet { position: 5 })
        );
    }

    #[test]
    fn far_future_token_decrypts_like_python() {
        let key = MasterKey::parse(SPEC_KEY).unwrap();
        let t = key.encrypt_at(b"JBSWY3DPEHPK3PXP", u64::MAX);
        assert_eq!(key.decrypt(&t).unwrap().as_slice(), b"JBSWY3DPEHPK3PXP");
        assert_eq!(token_timestamp(&t), Some(u64::MAX));
    }
}
