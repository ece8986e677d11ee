//! The harness's own TOTP (RFC 6238, HMAC-SHA1, 6 digits, 30 seconds),
//! independent of the binary's, and codes that are sure to be wrong.

/// RFC 6238 SHA1/6/30 computed independently of the binary, with the same
/// math as the RFC's reference code (checked against its Appendix B in
/// `vectors.rs`).
pub fn totp_at(secret_b32: &str, t: u64) -> String {
    let key = base32_decode(secret_b32);
    let counter = (t / 30).to_be_bytes();
    let mac = hmac_sha1(&key, &counter);
    let off = (mac[19] & 0x0f) as usize;
    let bin = (u32::from(mac[off]) & 0x7f) << 24
        | u32::from(mac[off + 1]) << 16
        | u32::from(mac[off + 2]) << 8
        | u32::from(mac[off + 3]);
    format!("{:06}", bin % 1_000_000)
}

pub fn totp_now(secret_b32: &str) -> String {
    totp_at(secret_b32, now())
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn base32_decode(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut acc, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in s.trim_end_matches('=').bytes() {
        let v = A
            .iter()
            .position(|&a| a == c.to_ascii_uppercase())
            .expect("base32") as u32;
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    let bitlen = (data.len() as u64) * 8;
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bitlen.to_be_bytes());
    for chunk in msg.chunks(64) {
        let mut w = [0u32; 80];
        for i in 0..16 {
            w[i] = u32::from_be_bytes(chunk[i * 4..i * 4 + 4].try_into().unwrap());
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let (mut a, mut b, mut c, mut d, mut e) = (h[0], h[1], h[2], h[3], h[4]);
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, v) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&v.to_be_bytes());
    }
    out
}

fn hmac_sha1(key: &[u8], msg: &[u8]) -> [u8; 20] {
    let mut k = if key.len() > 64 {
        sha1(key).to_vec()
    } else {
        key.to_vec()
    };
    k.resize(64, 0);
    let ipad: Vec<u8> = k
        .iter()
        .map(|b| b ^ 0x36)
        .chain(msg.iter().copied())
        .collect();
    let inner = sha1(&ipad);
    let opad: Vec<u8> = k
        .iter()
        .map(|b| b ^ 0x5c)
        .chain(inner.iter().copied())
        .collect();
    sha1(&opad)
}

/// A well-formed code that `secret` gives at no step within ±3 of now, so it
/// is refused whatever step the binary sees.
pub fn wrong_code(secret: &str) -> String {
    wrong_code_for(&[secret])
}

/// A well-formed code that matches none of `secrets` within ±3 steps of now.
pub fn wrong_code_for(secrets: &[&str]) -> String {
    let t = now();
    let near: Vec<String> = secrets
        .iter()
        .flat_map(|s| (0..=6u64).map(move |i| totp_at(s, (t + i * 30).saturating_sub(90))))
        .collect();
    (0u32..)
        .map(|n| format!("{:06}", n * 7919 % 1_000_000))
        .find(|c| !near.contains(c))
        .expect("a code")
}

/// A 32-character base32 secret like `pyotp.random_base32()`, derived from `n`.
pub fn secret_for(n: u64) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut state = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    (0..32)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            A[(state >> 59) as usize] as char
        })
        .collect()
}

/// Waits out the last seconds of a TOTP step, so a code computed now is
/// still current when the command that uses it runs.
pub fn avoid_step_end() {
    let into = now() % 30;
    if into >= 27 {
        std::thread::sleep(std::time::Duration::from_secs(30 - into));
    }
}
