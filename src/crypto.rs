//! Fernet master keys and tokens, byte-compatible with Python's `cryptography.fernet`.
//!
//! Fernet is small: `0x80 ‖ u64 BE timestamp ‖ IV ‖ AES-128-CBC(PKCS7) ‖
//! HMAC-SHA256`, URL-safe base64. It is built here on the RustCrypto crates
//! (as the `fernet` crate is, which the unit tests keep as a cross-check)
//! rather than on that crate because the app's side needs what it lacks:
//! key checks that say what is wrong, both base64 alphabets, tokens read
//! exactly as Python's `urlsafe_b64decode` reads them, decryption with no TTL
//! *and* no clock-skew check (Python's `Fernet.decrypt(token)` has neither),
//! re-encryption that keeps a token's timestamp (as
//! `MultiFernet.rotate`), and a key-rotation hot path without allocations,
//! key schedules or a syscall per token. The cryptography is RustCrypto's:
//! `hmac` over `sha2` for the MAC, `cbc` over `aes` for AES-128-CBC and
//! PKCS7. Both are keyed once per key: the AES key schedule is borrowed by
//! each token's CBC state, and the HMAC state after the key blocks is cloned
//! per token (and the clone wiped when dropped, as the key's own state is).
//! What is written here is only Fernet's framing and Python's parsing of keys
//! and tokens (the `fernet` crate and Python cross-check it in the tests).

use std::cell::RefCell;

use aes::Aes128;
use aes::cipher::block_padding::Pkcs7;
use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, InnerIvInit, KeyInit};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

/// version (1) + timestamp (8) + IV (16)
const HEADER: usize = 25;
const MAC: usize = 32;

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

/// A Fernet key. Its bytes, the AES key schedule and the keyed HMAC state
/// are wiped when dropped (the crates' `zeroize` features).
pub struct MasterKey {
    mac: Hmac<Sha256>,
    aes: Aes128,
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
        // Decoded as Python's Fernet decodes it (unused trailing bits ignored),
        // then kept in the canonical form so the same key compares equal.
        let mut bytes = Zeroizing::new([0u8; 34]);
        let n = python_b64decode(text.as_bytes(), bytes.as_mut()).unwrap_or(0);
        if n != 32 {
            return Err(KeyProblem::Bytes { bytes: n });
        }
        let bytes = &bytes[..32];
        let text = Zeroizing::new(URL_SAFE.encode(bytes));
        let mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&bytes[..16])
            .expect("HMAC takes a key of any length");
        let aes = Aes128::new_from_slice(&bytes[16..]).expect("16-byte AES key");
        Ok(MasterKey { mac, aes, text })
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
        self.encrypt_at(plaintext, crate::clock::now())
    }

    /// Encrypts with a fresh IV but a given timestamp, to keep a token's age on rotation.
    pub fn encrypt_at(&self, plaintext: &[u8], timestamp: u64) -> String {
        with_scratch(sealed_len(plaintext.len()), |msg| {
            self.seal(plaintext, timestamp, msg);
            encode(msg)
        })
    }

    /// [`encrypt_at`](Self::encrypt_at), checked: the text decodes back to
    /// the message built, and its ciphertext decrypts to `plaintext`. The MAC
    /// is not computed a second time here; [`opens_at`](Self::opens_at)
    /// checks it where the token is used. `None` if a check fails.
    fn encrypt_checked(&self, plaintext: &[u8], timestamp: u64) -> Option<String> {
        with_scratch(sealed_len(plaintext.len()), |msg| {
            self.seal(plaintext, timestamp, msg);
            let text = encode(msg);
            let same_bytes = with_decoded(&text, |back| back == &*msg) == Some(true);
            let round_trip = with_scratch(msg.len(), |copy| {
                copy.copy_from_slice(msg);
                self.open_signed(copy) == Some((timestamp, plaintext))
            });
            (same_bytes && round_trip).then_some(text)
        })
    }

    /// The message of a token for `plaintext` (see [`sealed_len`]), with a
    /// fresh IV: header, AES-CBC ciphertext, MAC.
    fn seal(&self, plaintext: &[u8], timestamp: u64, msg: &mut [u8]) {
        fill_iv(&mut msg[9..HEADER]);
        self.seal_with_iv(plaintext, timestamp, msg);
    }

    /// [`seal`](Self::seal) around the IV already in `msg[9..25]`.
    fn seal_with_iv(&self, plaintext: &[u8], timestamp: u64, msg: &mut [u8]) {
        let signed = msg.len() - MAC;
        msg[0] = 0x80;
        msg[1..9].copy_from_slice(&timestamp.to_be_bytes());
        let (head, body) = msg[..signed].split_at_mut(HEADER);
        let iv = GenericArray::from_slice(&head[9..]);
        // PKCS7 and AES-CBC from the plaintext straight into the token.
        cbc::Encryptor::<&Aes128>::inner_iv_init(&self.aes, iv)
            .encrypt_padded_b2b_mut::<Pkcs7>(plaintext, body)
            .expect("sealed_len leaves room for the padding");
        let tag = self.mac.clone().chain_update(&msg[..signed]).finalize();
        msg[signed..].copy_from_slice(&tag.into_bytes());
    }

    /// Decrypts a stored token with no TTL and no clock-skew check, like
    /// `Fernet(key).decrypt(token)` in Python. `None` for any failure.
    pub fn decrypt(&self, token: &str) -> Option<Zeroizing<Vec<u8>>> {
        self.decrypt_timed(token).map(|(_, plain)| plain)
    }

    /// [`decrypt`](Self::decrypt), also giving the token's timestamp.
    pub fn decrypt_timed(&self, token: &str) -> Option<(u64, Zeroizing<Vec<u8>>)> {
        with_decoded(token, |data| {
            self.open(data)
                .map(|(ts, plain)| (ts, Zeroizing::new(plain.to_vec())))
        })?
    }

    /// Whether `token` decrypts under this key, without keeping the plaintext.
    pub fn opens(&self, token: &str) -> bool {
        with_decoded(token, |data| self.open(data).is_some()).unwrap_or(false)
    }

    /// Whether `token` decrypts under this key and carries `timestamp`: the
    /// last check of a rotated token before it is written.
    pub fn opens_at(&self, token: &str, timestamp: u64) -> bool {
        with_decoded(token, |data| {
            self.open(data).is_some_and(|(t, _)| t == timestamp)
        })
        .unwrap_or(false)
    }

    /// Whether decoded token bytes are a Fernet token carrying this key's MAC.
    fn signed(&self, data: &[u8]) -> bool {
        if data.len() < HEADER + 16 + MAC || data[0] != 0x80 {
            return false;
        }
        let (msg, tag) = data.split_at(data.len() - MAC);
        // Compared in constant time, as Python's HMAC.verify does.
        self.mac.clone().chain_update(msg).verify_slice(tag).is_ok()
    }

    /// Decrypts decoded token bytes in place, as Python does: MAC first, then
    /// AES-CBC and the padding. The timestamp and the plaintext (inside `data`,
    /// which the caller wipes).
    fn open<'d>(&self, data: &'d mut [u8]) -> Option<(u64, &'d [u8])> {
        if !self.signed(data) {
            return None;
        }
        self.open_signed(data)
    }

    /// [`open`](Self::open) for bytes whose MAC [`signed`](Self::signed) has
    /// just accepted: trying several keys costs one MAC per key, not two.
    fn open_signed<'d>(&self, data: &'d mut [u8]) -> Option<(u64, &'d [u8])> {
        let end = data.len() - MAC;
        let timestamp = u64::from_be_bytes(data[1..9].try_into().expect("8 bytes"));
        let (head, body) = data[..end].split_at_mut(HEADER);
        let iv = GenericArray::from_slice(&head[9..]);
        // AES-CBC in place, then PKCS7 checked as the `cryptography` unpadder
        // checks it (1 to 16 bytes, all equal). A ciphertext that is empty or
        // not whole blocks is refused, as Python refuses it.
        let plain = cbc::Decryptor::<&Aes128>::inner_iv_init(&self.aes, iv)
            .decrypt_padded_mut::<Pkcs7>(body)
            .ok()?;
        Some((timestamp, plain))
    }
}

/// Decoded tokens up to this size stay on the stack (a 32-character secret
/// makes a 105-byte token); larger ones go to the heap.
const STACK: usize = 320;

/// The length of the token message for a plaintext of `len` bytes.
fn sealed_len(len: usize) -> usize {
    HEADER + (len / 16 + 1) * 16 + MAC
}

/// URL-safe base64 with padding, as Python's `Fernet.encrypt` writes it.
fn encode(msg: &[u8]) -> String {
    base64_simd::URL_SAFE.encode_to_string(msg)
}

/// Runs `f` on `len` zeroed bytes, on the stack when they fit, and wipes them afterwards.
fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
    if len <= STACK {
        let mut stack = [0u8; STACK];
        let r = f(&mut stack[..len]);
        stack[..len].zeroize();
        r
    } else {
        f(&mut Zeroizing::new(vec![0u8; len]))
    }
}

/// Runs `f` on the bytes of a token, base64-decoded as Python decodes it,
/// and wipes them afterwards. `None` if the text is not base64 Python reads.
fn with_decoded<R>(token: &str, f: impl FnOnce(&mut [u8]) -> R) -> Option<R> {
    let token = token.as_bytes();
    // Tokens as Python writes them (URL-safe, padded) take the SIMD decoder;
    // what it refuses (the other alphabet, blanks, odd padding) the exact one.
    let decode = |out: &mut [u8]| {
        base64_simd::URL_SAFE
            .decode(token, base64_simd::Out::from_slice(out))
            .map(|d| d.len())
            .ok()
            .or_else(|| python_b64decode(token, out))
    };
    with_scratch(token.len() / 4 * 3 + 3, |out| {
        let n = decode(out)?;
        Some(f(&mut out[..n]))
    })
}

/// Decodes base64 exactly as Python's `base64.urlsafe_b64decode` does (which
/// `Fernet.decrypt` uses): both alphabets, any other byte (line breaks,
/// spaces) skipped, the padding required, decoding stopped at a complete pad.
/// Returns the number of bytes written, or `None` where Python raises.
fn python_b64decode(input: &[u8], out: &mut [u8]) -> Option<usize> {
    let (mut quad, mut pads, mut left, mut n) = (0u8, 0u8, 0u8, 0usize);
    for &c in input {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => {
                if quad >= 2 {
                    pads += 1;
                    if quad + pads >= 4 {
                        return Some(n);
                    }
                }
                continue;
            }
            _ => continue,
        };
        pads = 0;
        let byte = match quad {
            0 => {
                left = v;
                quad = 1;
                continue;
            }
            1 => {
                let b = (left << 2) | (v >> 4);
                left = v & 0x0f;
                b
            }
            2 => {
                let b = (left << 4) | (v >> 2);
                left = v & 0x03;
                b
            }
            _ => (left << 6) | v,
        };
        quad = (quad + 1) % 4;
        *out.get_mut(n)? = byte;
        n += 1;
    }
    // Python: "Incorrect padding" unless the input ended on a whole quantum.
    (quad == 0).then_some(n)
}

/// Fills an IV from the OS CSPRNG, drawn 4 KiB at a time per thread so that
/// a rotation of a million tokens makes a few hundred syscalls, not a million.
fn fill_iv(iv: &mut [u8]) {
    thread_local! {
        static POOL: RefCell<(Zeroizing<[u8; 4096]>, usize)> =
            RefCell::new((Zeroizing::new([0u8; 4096]), 4096));
    }
    POOL.with(|pool| {
        let (buf, used) = &mut *pool.borrow_mut();
        if *used + iv.len() > buf.len() {
            getrandom::fill(buf.as_mut()).expect("the operating system's random source failed");
            *used = 0;
        }
        iv.copy_from_slice(&buf[*used..*used + iv.len()]);
        // Each byte is handed out once.
        buf[*used..*used + iv.len()].zeroize();
        *used += iv.len();
    });
}

/// What re-encrypting one stored token under a new key came to.
pub enum Reencrypted {
    /// It already decrypts under the new key: left alone.
    AlreadyNew,
    /// The new token: same plaintext and timestamp, fresh IV, new key.
    Rotated(Rotated),
    /// No old key (nor the new one) decrypts it.
    Undecryptable,
}

/// A token re-encrypted under the new key, and the timestamp it kept.
pub struct Rotated {
    pub token: String,
    pub timestamp: u64,
}

/// Which of `keys` decrypts `token` (index), if any.
pub fn decrypting_key(token: &str, keys: &[MasterKey]) -> Option<usize> {
    with_decoded(token, |data| {
        let i = keys.iter().position(|k| k.signed(data))?;
        keys[i].open_signed(data).map(|_| i)
    })?
}

/// Re-encrypts `token` from whichever of `old` decrypts it to `new`, keeping
/// its timestamp (as `MultiFernet.rotate`). The result is checked to decode
/// to what was built and to decrypt to the same plaintext; whoever writes it
/// checks with [`MasterKey::opens_at`] that it decrypts under `new`. The hot
/// path of a rotation: the token is decoded once and nothing is allocated
/// but the result.
pub fn reencrypt(token: &str, new: &MasterKey, old: &[MasterKey]) -> Reencrypted {
    with_decoded(token, |data| {
        let Some(key) = old.iter().find(|k| k.signed(data)) else {
            return if new.open(data).is_some() {
                Reencrypted::AlreadyNew
            } else {
                Reencrypted::Undecryptable
            };
        };
        let Some((timestamp, plain)) = key.open_signed(data) else {
            return Reencrypted::Undecryptable;
        };
        match new.encrypt_checked(plain, timestamp) {
            Some(token) => Reencrypted::Rotated(Rotated { token, timestamp }),
            // A failure here is a bug in the crypto stack; refuse to write.
            None => Reencrypted::Undecryptable,
        }
    })
    .unwrap_or(Reencrypted::Undecryptable)
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
        assert_eq!(key.decrypt_timed(SPEC_TOKEN).unwrap().0, 499162800);
    }

    #[test]
    fn standard_alphabet_and_whitespace_accepted() {
        let std_form = SPEC_KEY.replace('-', "+").replace('_', "/");
        let a = MasterKey::parse(&format!("  {std_form}\n")).unwrap();
        assert!(a.same_as(&MasterKey::parse(SPEC_KEY).unwrap()));
    }

    #[test]
    fn unused_trailing_bits_are_ignored_as_in_python() {
        let odd = format!("{}5=", &SPEC_KEY[..42]);
        assert!(
            MasterKey::parse(&odd)
                .unwrap()
                .same_as(&MasterKey::parse(SPEC_KEY).unwrap())
        );
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
    fn cross_checked_with_the_fernet_crate() {
        let ours = MasterKey::parse(SPEC_KEY).unwrap();
        let theirs = fernet::Fernet::new(SPEC_KEY).unwrap();
        for plain in [&b""[..], b"JBSWY3DPEHPK3PXP", &[7u8; 16], &[1u8; 100]] {
            let t = ours.encrypt(plain);
            assert_eq!(theirs.decrypt(&t).unwrap(), plain);
            let t = theirs.encrypt(plain);
            assert_eq!(ours.decrypt(&t).unwrap().as_slice(), plain);
        }
        assert_eq!(
            ours.decrypt(&theirs.encrypt_at_time(b"x", 1_000))
                .map(|p| p.to_vec()),
            Some(b"x".to_vec())
        );
    }

    #[test]
    fn the_spec_token_is_generated_byte_for_byte() {
        // The spec's "generate" vector: its IV is 00 01 .. 0f.
        let key = MasterKey::parse(SPEC_KEY).unwrap();
        let mut msg = [0u8; HEADER + 16 + MAC];
        msg[9..HEADER]
            .iter_mut()
            .zip(0u8..)
            .for_each(|(b, i)| *b = i);
        key.seal_with_iv(b"hello", 499162800, &mut msg);
        assert_eq!(encode(&msg), SPEC_TOKEN);
    }

    #[test]
    fn every_length_interoperates_with_the_fernet_crate() {
        // The `fernet` crate frames tokens itself, over the previous `hmac`
        // and `sha2` releases. Plaintexts of 0 to 299 bytes make 1 to 19 AES
        // blocks and MAC inputs of 1 to 6 SHA-256 blocks, with the SHA-256
        // padding in the last block and spilling into a new one.
        let ours = MasterKey::parse(SPEC_KEY).unwrap();
        let theirs = fernet::Fernet::new(SPEC_KEY).unwrap();
        let plain: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in 0..plain.len() {
            let t = ours.encrypt_at(&plain[..len], 1_000 + len as u64);
            assert_eq!(theirs.decrypt(&t).unwrap(), &plain[..len], "{len}");
            let t = theirs.encrypt_at_time(&plain[..len], 1_000 + len as u64);
            assert_eq!(
                ours.decrypt_timed(&t).unwrap(),
                (1_000 + len as u64, Zeroizing::new(plain[..len].to_vec())),
                "{len}"
            );
        }
    }

    /// A token whose MAC is right (only the key holder can make one) over a
    /// body that is not a PKCS7-padded AES-CBC ciphertext: `body` is the
    /// plaintext blocks, encrypted here with AES-ECB so that CBC decryption
    /// under a zero IV recovers them only when there is one block.
    fn signed_raw(key: &MasterKey, body: &[u8]) -> Vec<u8> {
        use aes::cipher::BlockEncrypt;
        let mut data = vec![0x80; HEADER];
        data[1..HEADER].fill(0);
        data.extend_from_slice(body);
        for block in data[HEADER..].chunks_exact_mut(16) {
            key.aes.encrypt_block(GenericArray::from_mut_slice(block));
        }
        let tag = key.mac.clone().chain_update(&data).finalize().into_bytes();
        data.extend_from_slice(&tag);
        data
    }

    #[test]
    fn bad_padding_under_a_good_mac_is_refused() {
        let key = MasterKey::parse(SPEC_KEY).unwrap();
        let theirs = fernet::Fernet::new(SPEC_KEY).unwrap();
        // Plaintexts of every length round-trip.
        for len in 0..50 {
            let plain = vec![b'A'; len];
            let t = key.encrypt_at(&plain, 7);
            assert_eq!(key.decrypt_timed(&t).unwrap(), (7, Zeroizing::new(plain)));
        }
        let mut good = [b'x'; 16];
        good[13..].fill(3);
        let data = signed_raw(&key, &good);
        assert!(key.signed(&data));
        assert_eq!(
            key.decrypt(&URL_SAFE.encode(&data)).unwrap().as_slice(),
            b"xxxxxxxxxxxxx"
        );
        // Python's unpadder refuses these, and so does the `fernet` crate:
        // pad byte 3 over a byte that is not 3; pad bytes 0 and 17; a
        // ciphertext that is not whole blocks.
        let mut not_all = good;
        not_all[14] = 9;
        let mut zero = good;
        zero[15] = 0;
        let mut too_long = [17u8; 16];
        too_long[0] = b'x';
        for body in [&not_all[..], &zero, &too_long, &[3u8; 20]] {
            let data = signed_raw(&key, body);
            assert!(key.signed(&data));
            assert!(key.open(&mut data.clone()).is_none(), "{body:?}");
            let token = URL_SAFE.encode(&data);
            assert!(key.decrypt(&token).is_none(), "{body:?}");
            assert!(theirs.decrypt(&token).is_err(), "{body:?}");
        }
    }

    #[test]
    fn ivs_are_fresh() {
        let key = MasterKey::parse(SPEC_KEY).unwrap();
        let a = key.encrypt_at(b"same", 1);
        let b = key.encrypt_at(b"same", 1);
        assert_ne!(a, b);
        assert_eq!(key.decrypt_timed(&a).unwrap().0, 1);
    }

    #[test]
    fn tampered_and_truncated_tokens_fail() {
        let key = MasterKey::parse(SPEC_KEY).unwrap();
        let mut t = key.encrypt(b"JBSWY3DPEHPK3PXP").into_bytes();
        t[30] = if t[30] == b'A' { b'B' } else { b'A' };
        assert!(key.decrypt(std::str::from_utf8(&t).unwrap()).is_none());
        let t = key.encrypt(b"JBSWY3DPEHPK3PXP");
        assert!(key.decrypt(&t[..t.len() - 8]).is_none());
        assert!(key.decrypt("").is_none());
        assert!(key.decrypt(&"A".repeat(5000)).is_none());
    }

    #[test]
    fn base64_as_python_reads_it() {
        let mut out = [0u8; 16];
        let mut dec = |s: &str| python_b64decode(s.as_bytes(), &mut out).map(|n| out[..n].to_vec());
        assert_eq!(dec("aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(dec("aGVsbG8"), None); // no padding: Python refuses
        assert_eq!(dec("aGVs\nbG8="), Some(b"hello".to_vec()));
        assert_eq!(dec("-_-_"), dec("+/+/"));
        assert_eq!(dec("aGVsbA=="), Some(b"hell".to_vec()));
        assert_eq!(dec("aGVsbA==junk"), Some(b"hell".to_vec())); // stops at the pad
        assert_eq!(dec("a"), None);
        assert_eq!(dec(""), Some(vec![]));
    }

    /// Per-token cost of what a rotation is made of. It measures, it does
    /// not judge: `scripts/bench-crypto` runs it in a release build.
    #[test]
    #[ignore = "a benchmark: scripts/bench-crypto runs it in a release build"]
    #[allow(clippy::print_stdout, reason = "a benchmark prints its figures")]
    fn bench_per_token() {
        use std::hint::black_box;
        use std::time::Instant;
        let old = MasterKey::parse(SPEC_KEY).unwrap();
        let new = MasterKey::parse(&MasterKey::generate()).unwrap();
        // A stored secret as the app writes it: pyotp's 32 base32 characters.
        let plain = b"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
        let token = old.encrypt_at(plain, 1_700_000_000);
        let olds = std::slice::from_ref(&old);
        let n = 100_000;
        let time = |name: &str, f: &mut dyn FnMut()| {
            let mut rounds: Vec<f64> = (0..7)
                .map(|_| {
                    let t = Instant::now();
                    (0..n).for_each(|_| f());
                    t.elapsed().as_nanos() as f64 / f64::from(n)
                })
                .collect();
            rounds.sort_by(f64::total_cmp);
            println!(
                "{name:<32} {:>6.0} ns/token (median of 7; best {:.0})",
                rounds[3], rounds[0]
            );
        };
        time("decrypt", &mut || {
            black_box(old.decrypt(black_box(&token)));
        });
        time("encrypt_at", &mut || {
            black_box(new.encrypt_at(black_box(plain), 1_700_000_000));
        });
        time("reencrypt + opens_at (rotation)", &mut || {
            let Reencrypted::Rotated(r) = reencrypt(black_box(&token), &new, olds) else {
                panic!("the token did not rotate");
            };
            assert!(new.opens_at(&r.token, r.timestamp));
        });
    }

    #[test]
    fn far_future_token_decrypts_like_python() {
        let key = MasterKey::parse(SPEC_KEY).unwrap();
        let t = key.encrypt_at(b"JBSWY3DPEHPK3PXP", u64::MAX);
        assert_eq!(key.decrypt(&t).unwrap().as_slice(), b"JBSWY3DPEHPK3PXP");
        assert_eq!(key.decrypt_timed(&t).unwrap().0, u64::MAX);
    }
}
