//! Known answers from `tests/vectors` (RFC 6238, RFC 4226, the Fernet
//! spec): the harness's own TOTP is checked against the RFCs, then the binary
//! against the harness, and the spec's tokens are stored as secrets for the
//! binary to decrypt — or to refuse exactly as Python's `Fernet.decrypt`
//! (no TTL) does.

use std::path::Path;

use crate::util::*;
use rusqlite::types::Value;
use serde_json::Value as Json;

fn load(dir: &Path, name: &str) -> Json {
    let text = std::fs::read_to_string(dir.join(name))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join(name).display()));
    serde_json::from_str(&text).expect("vector JSON")
}

fn str_of<'a>(v: &'a Json, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {v}"))
}

/// `verify alice` with the current code of `secret` (as the harness computes it).
fn verify_now(env: &TestEnv, user: &str, secret: &str) -> std::process::Output {
    at_step(0, |t| {
        let mut c = env.cmd();
        c.args(["verify", user, "--code", &totp_at(secret, t)]);
        output(&mut c)
    })
}

#[test]
fn harness_totp_matches_rfc6238_sha1() {
    let dir = vectors_dir();
    let doc = load(&dir, "rfc6238.json");
    let mut checked = 0;
    for v in doc["vectors"].as_array().unwrap() {
        if v["algorithm"] != "SHA1" {
            continue; // the app uses SHA1 only
        }
        let t = v["time"].as_u64().unwrap();
        assert_eq!(v["step"], 30);
        assert_eq!(v["t0"], 0);
        assert_eq!(
            totp_at(str_of(v, "secret_base32"), t),
            str_of(v, "code_6"),
            "t={t}"
        );
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} SHA1 rows");
}

#[test]
fn harness_hotp_matches_rfc4226() {
    let dir = vectors_dir();
    let doc = load(&dir, "rfc4226.json");
    let vectors = doc["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 10);
    for v in vectors {
        let counter = v["counter"].as_u64().unwrap();
        // TOTP is HOTP at counter floor(t / 30).
        assert_eq!(
            totp_at(str_of(v, "secret_base32"), counter * 30 + 29),
            str_of(v, "code"),
            "counter {counter}"
        );
    }
}

#[test]
fn harness_totp_agrees_with_pyotp() {
    let python = python();
    let secrets = [
        py(&python, &["random"]),
        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ".to_string(),
        "jbswy3dpehpk3pxpjbswy3dpehpk3pxp".to_string(),
    ];
    for secret in &secrets {
        for t in [
            0u64,
            59,
            1_111_111_109,
            2_000_000_000,
            20_000_000_000,
            now(),
        ] {
            assert_eq!(
                totp_at(secret, t),
                py(&python, &["at", secret, &t.to_string()]),
                "{secret} at {t}"
            );
        }
    }
}

#[test]
fn the_binary_verifies_the_rfc_secret_as_the_harness_computes_it() {
    let env = TestEnv::new();
    let rfc = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    let token = fernet::Fernet::new(KEY).unwrap().encrypt(rfc.as_bytes());
    env.store("alice", Value::Blob(token.into_bytes()));
    assert_code(&verify_now(&env, "alice", rfc), 0);
    env.fails(
        env.cmd()
            .args(["verify", "alice", "--code", &wrong_code(rfc)]),
        1,
    );
}

#[test]
fn the_fernet_spec_tokens_decrypt_in_the_binary() {
    let dir = vectors_dir();
    let mut cases = load(&dir, "fernet/generate.json")
        .as_array()
        .unwrap()
        .clone();
    cases.extend(load(&dir, "fernet/verify.json").as_array().unwrap().clone());
    assert!(cases.len() >= 2);
    for case in &cases {
        assert_eq!(str_of(case, "secret"), KEY, "the spec's key is KEY");
        assert_eq!(str_of(case, "src"), "hello");
        let token = str_of(case, "token");
        // "hello" read as base32 is "HELLO": 24 bits, far under the 112 the
        // app's pyotp requires. The token decrypts (the message says so and
        // names the plaintext's length), and verify refuses the secret as the
        // app's login would fail on it.
        for schema in [SCHEMA_BLOB, SCHEMA_TEXT] {
            let env = TestEnv::with_schema(schema);
            let value = if schema == SCHEMA_BLOB {
                Value::Blob(token.as_bytes().to_vec())
            } else {
                Value::Text(token.to_string())
            };
            env.store("alice", value);
            let line = env.fails(
                env.cmd()
                    .args(["verify", "alice", "--code", &totp_now("HELLO")]),
                4,
            );
            assert!(
                line.contains("decrypts, but the secret has 24 bits"),
                "{line}"
            );
        }
    }
}

/// The invalid.json cases whose MAC is sound: only a TTL or a clock-skew
/// check refuses them, and Python's `Fernet.decrypt(token)` makes neither.
fn python_decrypts(desc: &str) -> bool {
    desc.contains("far-future") || desc.contains("expired TTL")
}

#[test]
fn the_fernet_spec_invalid_tokens_are_refused_as_python_refuses_them() {
    let dir = vectors_dir();
    let cases = load(&dir, "fernet/invalid.json");
    let cases = cases.as_array().unwrap();
    assert!(cases.len() >= 8);
    let python = python();
    let env = TestEnv::new();
    for case in cases {
        let desc = str_of(case, "desc");
        let token = str_of(case, "token");
        assert_eq!(str_of(case, "secret"), KEY);
        let (status, plain) = py_status(&python, &["try-decrypt", KEY, token]);
        assert_eq!(
            status == 0,
            python_decrypts(desc),
            "{desc}: Python's Fernet.decrypt (no TTL) disagrees with this test"
        );
        if status == 0 {
            assert_eq!(plain, "", "{desc}");
        }
        env.store("alice", Value::Blob(token.as_bytes().to_vec()));
        let line = env.fails(env.cmd().args(["verify", "alice", "--code", "123456"]), 4);
        if python_decrypts(desc) {
            // It decrypts, as in Python; the empty plaintext is no secret.
            assert!(
                line.contains("decrypts, but") && line.contains("empty"),
                "{desc}: {line}"
            );
        } else {
            assert!(line.contains("does not decrypt"), "{desc}: {line}");
        }
        assert!(!line.contains(token), "{desc}: the token was echoed");
    }
}

#[test]
fn a_far_future_timestamp_with_a_real_secret_verifies() {
    let dir = vectors_dir();
    let cases = load(&dir, "fernet/invalid.json");
    let far = cases
        .as_array()
        .unwrap()
        .iter()
        .find(|c| str_of(c, "desc").contains("far-future"))
        .expect("the far-future case");
    // Its timestamp, re-used for a token that carries a usable secret.
    use base64::Engine;
    let raw = base64::engine::general_purpose::URL_SAFE
        .decode(str_of(far, "token"))
        .unwrap();
    let ts = u64::from_be_bytes(raw[1..9].try_into().unwrap());
    let env = TestEnv::new();
    let secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    let f = fernet::Fernet::new(KEY).unwrap();
    for (user, at) in [
        ("alice", ts),
        ("bob", u64::MAX),
        ("carol", now() + 86_400 * 365),
    ] {
        let token = f.encrypt_at_time(secret.as_bytes(), at);
        env.store(user, Value::Text(token));
        assert_code(&verify_now(&env, user, secret), 0);
    }
}
