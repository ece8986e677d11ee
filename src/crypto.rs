//! Fernet master keys and tokens, byte-compatible with Python's `cryptography.fernet`.
//!
//! Fernet is small: `0x80 ‖ u64 BE timestamp ‖ IV ‖ AES-128-CBC(PKCS7) ‖
//! HMAC-SHA256`, URL-safe base64. It is built here on the RustCrypto
//! primitives (the same ones the `fernet` crate uses, which the unit tests
//! keep as a cross-check) because the app's side needs what that crate lacks:
//! key checks that say what is wrong, both base64 alphabets, tokens read
//! exactly as Python's `urlsafe_b64decode` reads them, decryption with no TTL
//! *and* no clock-skew check (Python's `Fernet.decrypt(token)` has neither),
//! re-encryption that keeps a token's timestamp (as
//! `MultiFernet.rotate`), and a key-rotation hot path without allocations,
//! key schedules or a syscall per token. The block cipher and the SHA-256
//! compression are RustCrypto's (`aes`, `sha2`, with their CPU instructions);
//! the CBC chaining, PKCS7 and HMAC around them are the few lines below, so
//! that a token costs three SHA-256 compressions per MAC and no copies of key
//! state (the `hmac` and `fernet` crates cross-check them in the tests).

use std::cell::RefCell;

use aes::Aes128;
use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;
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

/// A Fernet key. Its bytes (and the AES key schedule) are wiped when dropped.
pub struct MasterKey {
    mac: HmacKey,
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
        let mac = HmacKey::new(&bytes[..16]);
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
        let padded = msg.len() - HEADER - MAC;
        msg[0] = 0x80;
        msg[1..9].copy_from_slice(&timestamp.to_be_bytes());
        fill_iv(&mut msg[9..HEADER]);
        let (head, body) = msg.split_at_mut(HEADER);
        body[..plaintext.len()].copy_from_slice(plaintext);
        // PKCS7, then AES-CBC in place: no copy of the plaintext is left behind.
        body[plaintext.len()..padded].fill((padded - plaintext.len()) as u8);
        let mut chain: [u8; 16] = head[9..HEADER].try_into().expect("16-byte IV");
        for block in body[..padded].chunks_exact_mut(16) {
            block.iter_mut().zip(&chain).for_each(|(b, c)| *b ^= c);
            let block = GenericArray::from_mut_slice(block);
            self.aes.encrypt_block(block);
            chain.copy_from_slice(block);
        }
        let tag = self.mac.tag(&msg[..HEADER + padded]);
        msg[HEADER + padded..].copy_from_slice(&tag);
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
        let ours = self.mac.tag(msg);
        ours.iter().zip(tag).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
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
        if body.is_empty() || body.len() % 16 != 0 {
            return None;
        }
        // AES-CBC in place, back to front: each block's chain value is the
        // ciphertext block before it, still intact.
        let blocks = body.len() / 16;
        for i in (0..blocks).rev() {
            let (before, rest) = body.split_at_mut(i * 16);
            let block = GenericArray::from_mut_slice(&mut rest[..16]);
            self.aes.decrypt_block(block);
            let chain = if i == 0 {
                &head[9..HEADER]
            } else {
                &before[(i - 1) * 16..]
            };
            block.iter_mut().zip(chain).for_each(|(b, c)| *b ^= c);
        }
        // PKCS7, checked as the `cryptography` unpadder checks it.
        let pad = usize::from(body[body.len() - 1]);
        if pad == 0
            || pad > 16
            || body[body.len() - pad..]
                .iter()
                .any(|&b| usize::from(b) != pad)
        {
            return None;
        }
        let len = body.len() - pad;
        Some((timestamp, &body[..len]))
    }
}

/// HMAC-SHA256 with a fixed key: the SHA-256 states after the inner and outer
/// key blocks are computed once, so a token's tag costs three compressions
/// and nothing else (RFC 2104; cross-checked against the `hmac` crate).
struct HmacKey {
    inner: [u32; 8],
    outer: [u32; 8],
}

/// SHA-256's initial state (FIPS 180-4, 5.3.3).
const SHA256_IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

fn compress(state: &mut [u32; 8], blocks: &[u8]) {
    for block in blocks.chunks_exact(64) {
        sha2::compress256(state, std::slice::from_ref(GenericArray::from_slice(block)));
    }
}

impl HmacKey {
    /// For keys of up to 64 bytes (Fernet's signing key is 16).
    fn new(key: &[u8]) -> HmacKey {
        let mut pad = Zeroizing::new([0u8; 64]);
        let mut state = |byte: u8| {
            pad.fill(byte);
            pad.iter_mut().zip(key).for_each(|(p, k)| *p ^= k);
            let mut st = SHA256_IV;
            compress(&mut st, pad.as_ref());
            st
        };
        HmacKey {
            inner: state(0x36),
            outer: state(0x5c),
        }
    }

    fn tag(&self, msg: &[u8]) -> [u8; 32] {
        let mut st = self.inner;
        let whole = msg.len() / 64 * 64;
        compress(&mut st, &msg[..whole]);
        // SHA-256 padding: 0x80, zeros, the bit length of key block + message.
        let tail = &msg[whole..];
        let mut last = [0u8; 128];
        last[..tail.len()].copy_from_slice(tail);
        last[tail.len()] = 0x80;
        let n = if tail.len() + 9 <= 64 { 64 } else { 128 };
        last[n - 8..n].copy_from_slice(&((64 + msg.len() as u64) * 8).to_be_bytes());
        compress(&mut st, &last[..n]);
        let mut outer = [0u8; 64];
        for (o, w) in outer.chunks_exact_mut(4).zip(st) {
            o.copy_from_slice(&w.to_be_bytes());
        }
        outer[32] = 0x80;
        outer[56..].copy_from_slice(&((64u64 + 32) * 8).to_be_bytes());
        let mut st = self.outer;
        compress(&mut st, &outer);
        let mut tag = [0u8; 32];
        for (t, w) in tag.chunks_exact_mut(4).zip(st) {
            t.copy_from_slice(&w.to_be_bytes());
        }
        tag
    }
}

impl Drop for HmacKey {
    fn drop(&mut self) {
        self.inner.zeroize();
        self.outer.zeroize();
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
    fn hmac_matches_the_hmac_crate_at_every_length() {
        use hmac::{Hmac, Mac};
        let key = b"0123456789abcdef";
        let ours = HmacKey::new(key);
        let msg: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in 0..msg.len() {
            let mut theirs = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).unwrap();
            theirs.update(&msg[..len]);
            assert_eq!(
                ours.tag(&msg[..len]),
                theirs.finalize().into_bytes().as_slice(),
                "{len}"
            );
        }
    }

    #[test]
    fn bad_padding_under_a_good_mac_is_refused() {
        let key = MasterKey::parse(SPEC_KEY).unwrap();
        // Plaintexts of every length round-trip; a token whose padding is
        // wrong but whose MAC is right (only the key holder can make one) fails.
        for len in 0..50 {
            let plain = vec![b'A'; len];
            let t = key.encrypt_at(&plain, 7);
            assert_eq!(key.decrypt_timed(&t).unwrap(), (7, Zeroizing::new(plain)));
        }
        let mut data = [0u8; HEADER + 16 + MAC];
        data[0] = 0x80;
        let mut block = [3u8; 16]; // pad byte 3 but the bytes before it are not all 3
        block[14] = 9;
        let iv = [0u8; 16];
        block.iter_mut().zip(&iv).for_each(|(b, c)| *b ^= c);
        key.aes
            .encrypt_block(GenericArray::from_mut_slice(&mut block));
        data[HEADER..HEADER + 16].copy_from_slice(&block);
        let tag = key.mac.tag(&data[..HEADER + 16]);
        data[HEADER + 16..].copy_from_slice(&tag);
        assert!(key.signed(&data));
        assert!(key.open(&mut data.clone()).is_none());
        let token = URL_SAFE.encode(data);
        assert!(key.decrypt(&token).is_none());
        assert!(
            fernet::Fernet::new(SPEC_KEY)
                .unwrap()
                .decrypt(&token)
                .is_err()
        );
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
