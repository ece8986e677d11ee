//! Master keys and Fernet tokens made independently of the binary, with the
//! `fernet` crate (the format of the app's Python `cryptography`).

/// A fixed, valid Fernet key (the Fernet spec's test key).
pub const KEY: &str = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
/// A second valid key, for rotation and wrong-key tests.
pub const KEY2: &str = "V3Rz0yPq0lmU2x9ZbJ2iK1mWqKJ9b0sXj3p0Kx2qkFQ=";
/// A third valid key (the bytes 0..=31), for stragglers and wrong-key tests.
pub const KEY3: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// The first 9 bytes of a Fernet token (version and timestamp).
pub fn token_header(token: &str) -> [u8; 9] {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE
        .decode(token.trim())
        .expect("token is base64");
    bytes[..9].try_into().expect("9 bytes")
}

/// A token under `key` made by the independent `fernet` crate (the app's format).
pub fn fernet_encrypt(key: &str, plaintext: &str) -> String {
    fernet::Fernet::new(key)
        .expect("key")
        .encrypt(plaintext.as_bytes())
}

/// Whether `token` decrypts under `key` with the independent `fernet` crate.
pub fn fernet_plaintext(key: &str, token: &str) -> Option<String> {
    fernet::Fernet::new(key)
        .expect("key")
        .decrypt(token)
        .ok()
        .map(|p| String::from_utf8_lossy(&p).into_owned())
}

/// As [`fernet_encrypt`] with a given token timestamp (to tell a kept
/// timestamp from a fresh one).
pub fn fernet_encrypt_at(key: &str, plaintext: &str, timestamp: u64) -> String {
    fernet::Fernet::new(key)
        .expect("key")
        .encrypt_at_time(plaintext.as_bytes(), timestamp)
}
