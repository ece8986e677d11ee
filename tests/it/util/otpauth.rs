//! A small, strict otpauth URI parser, written from the Key URI Format and
//! pyotp's `provisioning_uri` independently of `src/totp.rs`: the property tests
//! (`tests/it/properties.rs`) and the fuzz target `uri_roundtrip` parse what
//! `provisioning_uri` builds and must get back the same name, issuer and
//! secret.

#![allow(dead_code)]

/// An `otpauth://TYPE/LABEL?PARAMS` URI, percent-decoded.
#[derive(Debug, PartialEq, Eq)]
pub struct Otpauth {
    pub kind: String,
    /// The issuer prefix of the label (`Issuer:name`), if there is one.
    pub label_issuer: Option<Vec<u8>>,
    pub name: Vec<u8>,
    /// Query parameters in order, values decoded.
    pub params: Vec<(String, Vec<u8>)>,
}

impl Otpauth {
    pub fn param(&self, key: &str) -> Option<&[u8]> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }
}

/// Decodes `%XX` (upper- or lower-case hex); every other byte must be an
/// RFC 3986 unreserved character or `/`. A `+` is refused, not read as a
/// space: pyotp never writes one.
pub fn percent_decode(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("bad escape at {i} in {s:?}"))?;
                out.push(hex);
                i += 3;
            }
            c if c.is_ascii_alphanumeric() || b"-._~/".contains(&c) => {
                out.push(c);
                i += 1;
            }
            c => return Err(format!("raw byte {c:#04x} at {i} in {s:?}")),
        }
    }
    Ok(out)
}

pub fn parse(uri: &str) -> Result<Otpauth, String> {
    let rest = uri
        .strip_prefix("otpauth://")
        .ok_or("not an otpauth:// URI")?;
    let (kind, rest) = rest.split_once('/').ok_or("no type")?;
    if kind.is_empty() || !kind.bytes().all(|c| c.is_ascii_lowercase()) {
        return Err(format!("bad type {kind:?}"));
    }
    let (label, query) = rest.split_once('?').ok_or("no parameters")?;
    if label.contains('#') || query.contains('#') {
        return Err("a fragment".into());
    }
    // A literal ':' separates issuer and name; one inside either is escaped.
    let (label_issuer, name) = match label.split_once(':') {
        Some((i, n)) => (Some(percent_decode(i)?), percent_decode(n)?),
        None => (None, percent_decode(label)?),
    };
    let mut params = Vec::new();
    for pair in query.split('&') {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("parameter without '=': {pair:?}"))?;
        if k.is_empty() || !k.bytes().all(|c| c.is_ascii_lowercase()) {
            return Err(format!("bad parameter name {k:?}"));
        }
        if v.contains('/') {
            return Err(format!("an unescaped '/' in the value of {k}"));
        }
        params.push((k.to_string(), percent_decode(v)?));
    }
    Ok(Otpauth {
        kind: kind.to_string(),
        label_issuer,
        name,
        params,
    })
}

/// Checks that `uri` is what pyotp's `provisioning_uri` builds for `name`, `issuer` and
/// `secret`, by parsing it back. `Err` says what differs.
pub fn check_round_trip(uri: &str, name: &str, issuer: &str, secret: &str) -> Result<(), String> {
    if !uri.is_ascii() || uri.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(format!("not printable ASCII: {uri:?}"));
    }
    // Escapes are upper-case hex, as Python's quote writes them.
    for (i, _) in uri.match_indices('%') {
        let hex = &uri[i + 1..(i + 3).min(uri.len())];
        if hex.len() != 2
            || !hex
                .bytes()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        {
            return Err(format!("escape not in upper-case hex at {i}: {uri:?}"));
        }
    }
    let p = parse(uri)?;
    if p.kind != "totp" {
        return Err(format!("type {:?}", p.kind));
    }
    if p.name != name.as_bytes() {
        return Err(format!(
            "name {:?} came back as {:?}",
            name,
            String::from_utf8_lossy(&p.name)
        ));
    }
    let want_params: Vec<&str> = if issuer.is_empty() {
        vec!["secret"]
    } else {
        vec!["secret", "issuer"]
    };
    let got_params: Vec<&str> = p.params.iter().map(|(k, _)| k.as_str()).collect();
    if got_params != want_params {
        return Err(format!(
            "parameters {got_params:?}, expected {want_params:?}"
        ));
    }
    if p.param("secret") != Some(secret.as_bytes()) {
        return Err("the secret did not come back".into());
    }
    if issuer.is_empty() {
        if p.label_issuer.is_some() {
            return Err("an issuer prefix without an issuer".into());
        }
    } else {
        if p.label_issuer.as_deref() != Some(issuer.as_bytes()) {
            return Err(format!("label issuer {:?}", p.label_issuer));
        }
        if p.param("issuer") != Some(issuer.as_bytes()) {
            return Err("the issuer parameter did not come back".into());
        }
        // F encodes '/' too; Q (the label) keeps it.
        let raw_issuer = uri.rsplit_once("&issuer=").map(|x| x.1).unwrap_or("");
        if raw_issuer.contains('/') {
            return Err("'/' unescaped in the issuer parameter".into());
        }
    }
    Ok(())
}
