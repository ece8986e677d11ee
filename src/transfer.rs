//! The files of `export` and `import` (see the README's "Move 2FA to another
//! database"): the sealed bundle, otpauth URIs, CSV and JSON, and the names
//! of the QR images. Everything here is parsing and formatting; which users
//! go in, and what the database gets, is for the commands.
//!
//! Secrets are checked as the app's pyotp would use them (base32 in any case,
//! padding optional, at least [`APP_MIN_BITS`](crate::totp::APP_MIN_BITS));
//! the app knows only SHA1, 6 digits and 30 seconds, so a URI that asks for
//! anything else is refused by name. No error message carries a secret.

use std::fmt;

use base64::Engine;
use zeroize::Zeroizing;

use crate::crypto::MasterKey;
use crate::error::{Error, Result};
use crate::totp::{APP_MIN_BITS, Secret, provisioning_uri};
use crate::ui;

/// The `format` of a bundle's plaintext document.
pub const BUNDLE_FORMAT: &str = "mex2fa-export";
/// The only bundle version this build reads and writes.
pub const BUNDLE_VERSION: u64 = 1;
/// The header line of the CSV form.
pub const CSV_HEADER: &str = "user,state,secret";
/// The largest file `import` reads: a bundle of a million users is about
/// 150 MB; anything bigger is not an export (`/dev/zero` is endless).
pub const MAX_INPUT: u64 = 256 << 20;

/// Whether a record is enabled 2FA or an enrollment still pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Enabled,
    Pending,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Enabled => "enabled",
            State::Pending => "pending",
        }
    }

    fn parse(s: &str) -> Option<State> {
        match s {
            "enabled" => Some(State::Enabled),
            "pending" => Some(State::Pending),
            _ => None,
        }
    }
}

/// One user's secret in an export file.
pub struct Record {
    pub user: String,
    pub state: State,
    pub secret: Secret,
    /// Where it is in the file, for messages: "line 3", "user #2".
    pub place: String,
}

/// Shows where a record is and whose it is, never its secret.
impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("user", &self.user)
            .field("state", &self.state)
            .field("place", &self.place)
            .finish_non_exhaustive()
    }
}

/// The forms of an export file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Bundle,
    Otpauth,
    Csv,
    Json,
}

impl Form {
    pub fn name(self) -> &'static str {
        match self {
            Form::Bundle => "bundle",
            Form::Otpauth => "otpauth",
            Form::Csv => "csv",
            Form::Json => "json",
        }
    }

    /// The form of a file's text, by its first non-blank line (for `import`
    /// without `--format`).
    pub fn detect(text: &str) -> Option<Form> {
        let first = text
            .trim_start_matches('\u{feff}')
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))?;
        if first.starts_with("gAAAAA") {
            Some(Form::Bundle)
        } else if first.len() >= 10 && first[..10].eq_ignore_ascii_case("otpauth://") {
            Some(Form::Otpauth)
        } else if first.starts_with('[') {
            Some(Form::Json)
        } else if first.eq_ignore_ascii_case(CSV_HEADER) {
            Some(Form::Csv)
        } else {
            None
        }
    }
}

/// A secret read from a file, checked as the app would use it.
fn secret(text: &str, place: &str, user: &str) -> Result<Secret> {
    let s = Secret::parse(text).map_err(|p| {
        Error::usage(format!(
            "{place}: the secret of '{}' is unusable: {p}; nothing was written",
            ui::escape(user)
        ))
    })?;
    if s.bits() < APP_MIN_BITS {
        return Err(Error::usage(format!(
            "{place}: the secret of '{}' has {} bits and the app's pyotp refuses secrets under {APP_MIN_BITS}; nothing was written",
            ui::escape(user),
            s.bits()
        )));
    }
    Ok(s)
}

fn user_name(text: &str, place: &str) -> Result<String> {
    if text.is_empty() {
        return Err(Error::usage(format!(
            "{place}: the user name is empty; nothing was written"
        )));
    }
    Ok(text.to_string())
}

fn record_json(r: &Record) -> serde_json::Value {
    serde_json::json!({
        "user": r.user,
        "state": r.state.as_str(),
        "secret": r.secret.as_str(),
    })
}

// ---------------------------------------------------------------- bundle --

/// The sealed bundle: one Fernet token under the bundle key, a line of its
/// own, whose plaintext is the JSON document
/// `{"format": "mex2fa-export", "version": 1, "issuer", "exported_at",
/// "users": [{"user", "state", "secret"}]}`.
pub fn seal(
    records: &[Record],
    issuer: &str,
    exported_at: &str,
    key: &MasterKey,
) -> Zeroizing<Vec<u8>> {
    let mut doc = serde_json::json!({
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "issuer": issuer,
        "exported_at": exported_at,
        "users": records.iter().map(record_json).collect::<Vec<_>>(),
    });
    let plain = crate::ui::secret_json_bytes(&doc);
    ui::scrub(&mut doc);
    let token = key.encrypt(&plain);
    let mut out = Zeroizing::new(Vec::with_capacity(token.len() + 1));
    out.extend_from_slice(token.as_bytes());
    out.push(b'\n');
    out
}

/// What a bundle holds.
pub struct Bundle {
    pub issuer: String,
    pub exported_at: String,
    pub records: Vec<Record>,
}

/// Opens a bundle: a truncated or garbled file is malformed input (exit 2);
/// a whole token that does not decrypt is the wrong key or a changed file
/// (exit 4); a document of another format or version is refused (exit 2).
pub fn open(text: &str, key: &MasterKey, shown: &str) -> Result<Bundle> {
    let token = text.trim();
    if token.contains(char::is_whitespace) {
        return Err(Error::usage(format!(
            "{shown} is not a bundle: a bundle is one line (one Fernet token); nothing was written"
        )));
    }
    // Fernet's framing: 0x80, timestamp (8), IV (16), whole AES blocks, MAC (32).
    let framed = base64::engine::general_purpose::URL_SAFE
        .decode(token)
        .ok()
        .is_some_and(|b| b.len() >= 73 && b[0] == 0x80 && (b.len() - 57) % 16 == 0);
    if !framed {
        return Err(Error::usage(format!(
            "{shown} is not a complete bundle (truncated, or not a bundle at all); nothing was written"
        )));
    }
    let plain = key.decrypt(token).ok_or_else(|| {
        Error::key(format!(
            "{shown} does not open with the bundle key: a wrong --bundle-key-file, or the file was changed since export; nothing was written"
        ))
    })?;
    let mut doc: serde_json::Value = serde_json::from_slice(&plain).map_err(|_| {
        Error::usage(format!(
            "{shown} opens, but holds no mex2fa bundle document; nothing was written"
        ))
    })?;
    let read = read_bundle(&doc, shown);
    ui::scrub(&mut doc);
    read
}

fn read_bundle(doc: &serde_json::Value, shown: &str) -> Result<Bundle> {
    let bad = |what: &str| {
        Error::usage(format!(
            "{shown} is not a mex2fa bundle: {what}; nothing was written"
        ))
    };
    let obj = doc.as_object().ok_or_else(|| bad("not a JSON object"))?;
    if obj.get("format").and_then(|v| v.as_str()) != Some(BUNDLE_FORMAT) {
        return Err(bad(&format!("its format is not \"{BUNDLE_FORMAT}\"")));
    }
    match obj.get("version").and_then(|v| v.as_u64()) {
        Some(BUNDLE_VERSION) => {}
        Some(v) => {
            return Err(Error::usage(format!(
                "{shown} is a bundle of version {v}; this mex2fa reads version {BUNDLE_VERSION} only (use the mex2fa that wrote it, or a newer one); nothing was written"
            )));
        }
        None => return Err(bad("it has no version number")),
    }
    for k in obj.keys() {
        if !["format", "version", "issuer", "exported_at", "users"].contains(&k.as_str()) {
            return Err(bad(&format!("unknown field \"{}\"", ui::escape(k))));
        }
    }
    let text = |k: &str| {
        obj.get(k)
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .ok_or_else(|| bad(&format!("\"{k}\" is missing or not a string")))
    };
    let issuer = text("issuer")?;
    let exported_at = text("exported_at")?;
    let users = obj
        .get("users")
        .and_then(|v| v.as_array())
        .ok_or_else(|| bad("\"users\" is missing or not an array"))?;
    let records = users
        .iter()
        .enumerate()
        .map(|(i, v)| record_of(v, &format!("{shown}: user #{}", i + 1), true))
        .collect::<Result<_>>()?;
    Ok(Bundle {
        issuer,
        exported_at,
        records,
    })
}

/// One `{"user", "state", "secret"}` object (the bundle's, or the JSON
/// form's, which may also carry its `otpauth_uri` and may leave out the
/// state, meaning enabled).
fn record_of(v: &serde_json::Value, place: &str, strict: bool) -> Result<Record> {
    let bad = |what: &str| Error::usage(format!("{place}: {what}; nothing was written"));
    let obj = v.as_object().ok_or_else(|| bad("not a JSON object"))?;
    for k in obj.keys() {
        let known =
            ["user", "state", "secret"].contains(&k.as_str()) || (!strict && k == "otpauth_uri");
        if !known {
            return Err(bad(&format!("unknown field \"{}\"", ui::escape(k))));
        }
    }
    let user = obj
        .get("user")
        .and_then(|v| v.as_str())
        .ok_or_else(|| bad("\"user\" is missing or not a string"))?;
    let user = user_name(user, place)?;
    let state = match obj.get("state") {
        None if !strict => State::Enabled,
        Some(serde_json::Value::String(s)) => State::parse(s).ok_or_else(|| {
            bad(&format!(
                "the state of '{}' is \"{}\"; it is \"enabled\" or \"pending\"",
                ui::escape(&user),
                ui::escape(s)
            ))
        })?,
        _ => return Err(bad("\"state\" is missing or not a string")),
    };
    let text = obj
        .get("secret")
        .and_then(|v| v.as_str())
        .ok_or_else(|| bad("\"secret\" is missing or not a string"))?;
    let secret = secret(text, place, &user)?;
    Ok(Record {
        user,
        state,
        secret,
        place: place.to_string(),
    })
}

// ------------------------------------------------------------------ json --

/// The JSON form: an array of `{"user", "state", "secret", "otpauth_uri"}`,
/// one object a line.
pub fn to_json(records: &[Record], issuer: &str) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::new());
    let mut docs: Vec<serde_json::Value> = records
        .iter()
        .map(|r| {
            let mut v = record_json(r);
            v["otpauth_uri"] = provisioning_uri(&r.secret, &r.user, issuer).as_str().into();
            v
        })
        .collect();
    let parts: Vec<Zeroizing<Vec<u8>>> = docs.iter().map(crate::ui::secret_json_bytes).collect();
    out.reserve_exact(parts.iter().map(|p| p.len() + 2).sum::<usize>() + 4);
    out.push(b'[');
    for (i, p) in parts.iter().enumerate() {
        out.extend_from_slice(if i == 0 { b"\n" } else { b",\n" });
        out.extend_from_slice(p);
    }
    out.extend_from_slice(b"\n]\n");
    docs.iter_mut().for_each(ui::scrub);
    out
}

/// Reads the JSON form (an array of objects; see [`to_json`]).
pub fn from_json(text: &str, shown: &str) -> Result<Vec<Record>> {
    let mut doc: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        Error::usage(format!(
            "{shown} is not valid JSON (line {}, column {}); nothing was written",
            e.line(),
            e.column()
        ))
    })?;
    let read = match doc.as_array() {
        None => Err(Error::usage(format!(
            "{shown} is not a JSON array of users; nothing was written"
        ))),
        Some(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| record_of(v, &format!("{shown}: entry #{}", i + 1), false))
            .collect(),
    };
    ui::scrub(&mut doc);
    read
}

// ------------------------------------------------------------------- csv --

/// One CSV field, quoted as RFC 4180 says when it must be.
fn csv_field(out: &mut Vec<u8>, field: &str) {
    if field.contains([',', '"', '\r', '\n']) || field.trim() != field {
        out.push(b'"');
        out.extend_from_slice(field.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(field.as_bytes());
    }
}

/// The CSV form: the header `user,state,secret`, then one record a line
/// (RFC 4180: a field with a comma, a quote or a line break is quoted).
pub fn to_csv(records: &[Record]) -> Zeroizing<Vec<u8>> {
    let size = CSV_HEADER.len()
        + 2
        + records
            .iter()
            .map(|r| r.user.len() * 2 + 4 + r.secret.as_str().len() + 12)
            .sum::<usize>();
    let mut out = Zeroizing::new(Vec::with_capacity(size));
    out.extend_from_slice(CSV_HEADER.as_bytes());
    out.extend_from_slice(b"\r\n");
    for r in records {
        csv_field(&mut out, &r.user);
        out.push(b',');
        out.extend_from_slice(r.state.as_str().as_bytes());
        out.push(b',');
        out.extend_from_slice(r.secret.as_str().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Splits CSV text into records (RFC 4180; LF or CRLF line ends), each with
/// the line it starts on. Fields are wiped when dropped.
fn csv_records(text: &str, shown: &str) -> Result<Vec<(usize, Vec<Zeroizing<String>>)>> {
    let mut records = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while chars.peek().is_some() {
        let start = line;
        let mut fields = vec![Zeroizing::new(String::new())];
        loop {
            let field = fields.last_mut().expect("one field at least");
            match chars.next() {
                None => break,
                Some('\n') => {
                    line += 1;
                    break;
                }
                Some('\r') if chars.peek() == Some(&'\n') => {
                    chars.next();
                    line += 1;
                    break;
                }
                Some(',') => fields.push(Zeroizing::new(String::new())),
                Some('"') if field.is_empty() => loop {
                    match chars.next() {
                        None => {
                            return Err(Error::usage(format!(
                                "{shown}: line {start}: a quoted field is not closed; nothing was written"
                            )));
                        }
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            field.push('"');
                        }
                        Some('"') => {
                            if !matches!(chars.peek(), None | Some(',' | '\r' | '\n')) {
                                return Err(Error::usage(format!(
                                    "{shown}: line {line}: text after a closing quote (a quote inside a field is written \"\"); nothing was written"
                                )));
                            }
                            break;
                        }
                        Some(c) => {
                            if c == '\n' {
                                line += 1;
                            }
                            field.push(c);
                        }
                    }
                },
                Some('"') => {
                    return Err(Error::usage(format!(
                        "{shown}: line {line}: a quote inside an unquoted field (quote the field and write the quote as \"\"); nothing was written"
                    )));
                }
                Some(c) => field.push(c),
            }
        }
        // A blank line holds no record.
        if !(fields.len() == 1 && fields[0].is_empty()) {
            records.push((start, fields));
        }
    }
    Ok(records)
}

/// Reads the CSV form (see [`to_csv`]).
pub fn from_csv(text: &str, shown: &str) -> Result<Vec<Record>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rows = csv_records(text, shown)?.into_iter();
    match rows.next() {
        Some((_, h))
            if h.len() == 3
                && h.iter()
                    .zip(["user", "state", "secret"])
                    .all(|(a, b)| a.trim().eq_ignore_ascii_case(b)) => {}
        _ => {
            return Err(Error::usage(format!(
                "{shown}: line 1 is not the header {CSV_HEADER}; nothing was written"
            )));
        }
    }
    rows.map(|(line, fields)| {
        let place = format!("{shown}: line {line}");
        if fields.len() != 3 {
            return Err(Error::usage(format!(
                "{place}: {} fields, where {CSV_HEADER} needs 3 (quote a user name that holds a comma); nothing was written",
                fields.len()
            )));
        }
        let user = user_name(&fields[0], &place)?;
        let state = State::parse(fields[1].trim()).ok_or_else(|| {
            Error::usage(format!(
                "{place}: the state of '{}' is '{}'; it is enabled or pending; nothing was written",
                ui::escape(&user),
                ui::escape(&fields[1])
            ))
        })?;
        let secret = secret(&fields[2], &place, &user)?;
        Ok(Record {
            user,
            state,
            secret,
            place,
        })
    })
    .collect()
}

// --------------------------------------------------------------- otpauth --

/// The otpauth form: one URI a line, each byte for byte what pyotp's
/// `provisioning_uri(name=user, issuer_name=issuer)` gives. A URI carries no
/// state: every line is imported as enabled 2FA.
pub fn to_otpauth(records: &[Record], issuer: &str) -> Zeroizing<Vec<u8>> {
    let uris: Vec<Zeroizing<String>> = records
        .iter()
        .map(|r| provisioning_uri(&r.secret, &r.user, issuer))
        .collect();
    let mut out = Zeroizing::new(Vec::with_capacity(uris.iter().map(|u| u.len() + 1).sum()));
    for u in &uris {
        out.extend_from_slice(u.as_bytes());
        out.push(b'\n');
    }
    out
}

/// Why an otpauth line was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum UriProblem {
    NotOtpauth,
    Type(String),
    NoLabel,
    Encoding,
    Parameter(String),
    Unsupported { name: &'static str, value: String },
    Repeated(String),
    NoSecret,
    IssuerMismatch,
}

impl fmt::Display for UriProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UriProblem::NotOtpauth => write!(f, "not an otpauth:// URI"),
            UriProblem::Type(t) if t == "hotp" => {
                write!(f, "an HOTP (counter-based) URI; the app uses TOTP only")
            }
            UriProblem::Type(t) => write!(f, "type '{}' is neither totp nor hotp", ui::escape(t)),
            UriProblem::NoLabel => write!(f, "the URI names no account"),
            UriProblem::Encoding => write!(f, "a malformed %-escape or text that is not UTF-8"),
            UriProblem::Parameter(p) => write!(
                f,
                "unknown parameter '{}' (pyotp knows secret, issuer, algorithm, digits, period and image)",
                ui::escape(p)
            ),
            UriProblem::Unsupported { name, value } => write!(
                f,
                "{name}={} is not what the app uses (SHA1, 6 digits, 30 seconds): its codes would never match; re-enroll this user instead",
                ui::escape(value)
            ),
            UriProblem::Repeated(p) => {
                write!(f, "the parameter '{}' is given twice", ui::escape(p))
            }
            UriProblem::NoSecret => write!(f, "no secret parameter"),
            UriProblem::IssuerMismatch => write!(
                f,
                "the issuer in the label differs from the issuer parameter (pyotp refuses this too)"
            ),
        }
    }
}

/// `%XX` decoded (and `+` as a space where `plus` says, as Python's
/// `parse_qs` reads a query), as UTF-8.
fn unquote(s: &str, plus: bool) -> Option<Zeroizing<String>> {
    let mut bytes = Zeroizing::new(Vec::with_capacity(s.len()));
    let mut it = s.bytes();
    while let Some(b) = it.next() {
        match b {
            b'%' => {
                let h = [it.next()?, it.next()?];
                let h = std::str::from_utf8(&h).ok()?;
                bytes.push(u8::from_str_radix(h, 16).ok()?);
            }
            b'+' if plus => bytes.push(b' '),
            _ => bytes.push(b),
        }
    }
    let text = std::str::from_utf8(&bytes).ok()?;
    Some(Zeroizing::new(text.to_string()))
}

/// One parsed otpauth URI.
pub struct Parsed {
    pub user: String,
    pub issuer: Option<String>,
    pub secret: Zeroizing<String>,
}

/// Parses an otpauth URI as pyotp's `parse_uri` does, for TOTP with the
/// app's parameters only: `otpauth://totp/[ISSUER:]ACCOUNT?secret=…`, the
/// label percent-decoded and split at its first `:` (or `%3A`), the query
/// read as `parse_qs` reads it.
pub fn parse_uri(uri: &str) -> Result<Parsed, UriProblem> {
    let rest = uri
        .get(..10)
        .filter(|p| p.eq_ignore_ascii_case("otpauth://"))
        .map(|_| &uri[10..])
        .ok_or(UriProblem::NotOtpauth)?;
    let (kind, rest) = rest.split_once('/').ok_or(UriProblem::NoLabel)?;
    if !kind.eq_ignore_ascii_case("totp") {
        return Err(UriProblem::Type(kind.to_ascii_lowercase()));
    }
    let (label, query) = rest.split_once('?').unwrap_or((rest, ""));
    let split = [label.find(':'), label.to_ascii_uppercase().find("%3A")]
        .into_iter()
        .flatten()
        .min();
    let (label_issuer, account) = match split {
        Some(i) => {
            let sep = if label[i..].starts_with(':') { 1 } else { 3 };
            (
                Some(unquote(&label[..i], false).ok_or(UriProblem::Encoding)?),
                &label[i + sep..],
            )
        }
        None => (None, label),
    };
    let user = unquote(account, false).ok_or(UriProblem::Encoding)?;
    if user.is_empty() {
        return Err(UriProblem::NoLabel);
    }
    let (mut secret, mut issuer) = (None::<Zeroizing<String>>, None::<Zeroizing<String>>);
    let mut seen: Vec<String> = Vec::new();
    for pair in query.split(['&', ';']).filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = unquote(k, true).ok_or(UriProblem::Encoding)?.to_string();
        let v = unquote(v, true).ok_or(UriProblem::Encoding)?;
        if seen.contains(&k) {
            return Err(UriProblem::Repeated(k));
        }
        seen.push(k.clone());
        match k.as_str() {
            "secret" => secret = Some(v),
            "issuer" => issuer = Some(v),
            "algorithm" if v.eq_ignore_ascii_case("SHA1") => {}
            "digits" if v.as_str() == "6" => {}
            "period" if v.as_str() == "30" => {}
            "algorithm" | "digits" | "period" => {
                let name = match k.as_str() {
                    "algorithm" => "algorithm",
                    "digits" => "digits",
                    _ => "period",
                };
                return Err(UriProblem::Unsupported {
                    name,
                    value: v.to_string(),
                });
            }
            "image" => {}
            _ => return Err(UriProblem::Parameter(k)),
        }
    }
    let secret = secret.ok_or(UriProblem::NoSecret)?;
    if let (Some(a), Some(b)) = (&label_issuer, &issuer)
        && a.as_str() != b.as_str()
    {
        return Err(UriProblem::IssuerMismatch);
    }
    Ok(Parsed {
        user: user.to_string(),
        issuer: issuer.or(label_issuer).map(|s| s.to_string()),
        secret,
    })
}

/// Reads the otpauth form: one URI a line; blank lines and lines starting
/// with `#` are skipped. Also gives the issuers the lines name.
pub fn from_otpauth(text: &str, shown: &str) -> Result<(Vec<Record>, Vec<String>)> {
    let mut records = Vec::new();
    let mut issuers: Vec<String> = Vec::new();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let place = format!("{shown}: line {}", i + 1);
        let parsed = parse_uri(line)
            .map_err(|p| Error::usage(format!("{place}: {p}; nothing was written")))?;
        let secret = secret(&parsed.secret, &place, &parsed.user)?;
        if let Some(issuer) = parsed.issuer
            && !issuers.contains(&issuer)
        {
            issuers.push(issuer);
        }
        records.push(Record {
            user: parsed.user,
            state: State::Enabled,
            secret,
            place,
        });
    }
    Ok((records, issuers))
}

// ---------------------------------------------------------------- images --

/// The file name of a user's QR image: the name with every character but
/// ASCII letters, digits, `.`, `-`, `_`, `@` and `+` replaced by `_`, no
/// leading dot, at most 100 bytes, `.png` added (`.pending.png` for a
/// pending enrollment); a name already taken (case-insensitively, for
/// file systems that fold case) gets `~2`, `~3`, ….
pub fn image_names<'a>(records: impl IntoIterator<Item = (&'a str, State)>) -> Vec<String> {
    let mut taken = std::collections::HashSet::new();
    let mut names = Vec::new();
    for (user, state) in records {
        let mut stem: String = user
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-@+".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if stem.starts_with('.') {
            stem.replace_range(..1, "_");
        }
        stem.truncate(100);
        if stem.is_empty() {
            stem.push('_');
        }
        let ext = match state {
            State::Enabled => ".png",
            State::Pending => ".pending.png",
        };
        let mut name = format!("{stem}{ext}");
        let mut n = 2;
        while taken.contains(&name.to_ascii_lowercase()) {
            name = format!("{stem}~{n}{ext}");
            n += 1;
        }
        taken.insert(name.to_ascii_lowercase());
        names.push(name);
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

    fn rec(user: &str, state: State) -> Record {
        Record {
            user: user.into(),
            state,
            secret: Secret::parse(S).unwrap(),
            place: String::new(),
        }
    }

    #[test]
    fn uris_parse_as_pyotp_reads_them() {
        let p = parse_uri(&format!(
            "otpauth://totp/MeXanimatoR:bob%20smith?secret={S}&issuer=MeXanimatoR"
        ))
        .unwrap();
        assert_eq!(p.user, "bob smith");
        assert_eq!(p.issuer.as_deref(), Some("MeXanimatoR"));
        let p = parse_uri(&format!("otpauth://totp/alice?secret={}", S.to_lowercase())).unwrap();
        assert_eq!((p.user.as_str(), p.issuer), ("alice", None));
        let p = parse_uri(&format!(
            "otpauth://totp/ACME%3Aa%3Ab?secret={S}&algorithm=SHA1&digits=6&period=30&issuer=ACME"
        ))
        .unwrap();
        assert_eq!(p.user, "a:b");
        let p = parse_uri(&format!("otpauth://totp/x?secret={S}&issuer=A+B")).unwrap();
        assert_eq!(p.issuer.as_deref(), Some("A B"));
        for (uri, problem) in [
            (
                format!("otpauth://hotp/a?secret={S}&counter=1"),
                UriProblem::Type("hotp".into()),
            ),
            (
                format!("otpauth://totp/a?secret={S}&algorithm=SHA256"),
                UriProblem::Unsupported {
                    name: "algorithm",
                    value: "SHA256".into(),
                },
            ),
            (
                format!("otpauth://totp/a?secret={S}&digits=8"),
                UriProblem::Unsupported {
                    name: "digits",
                    value: "8".into(),
                },
            ),
            (
                format!("otpauth://totp/a?secret={S}&period=60"),
                UriProblem::Unsupported {
                    name: "period",
                    value: "60".into(),
                },
            ),
            ("otpauth://totp/a?issuer=x".into(), UriProblem::NoSecret),
            (
                format!("otpauth://totp/A:a?secret={S}&issuer=B"),
                UriProblem::IssuerMismatch,
            ),
            (
                format!("otpauth://totp/a?secret={S}&foo=1"),
                UriProblem::Parameter("foo".into()),
            ),
            (
                format!("otpauth://totp/a%ZZ?secret={S}"),
                UriProblem::Encoding,
            ),
            (format!("https://totp/a?secret={S}"), UriProblem::NotOtpauth),
            (format!("otpauth://totp/?secret={S}"), UriProblem::NoLabel),
        ] {
            assert_eq!(parse_uri(&uri).err(), Some(problem), "{uri}");
        }
    }

    #[test]
    fn otpauth_round_trip() {
        let recs = vec![
            rec("alice", State::Enabled),
            rec("bob smith/ä:x", State::Enabled),
        ];
        let text = to_otpauth(&recs, "MeXanimatoR");
        let (back, issuers) = from_otpauth(std::str::from_utf8(&text).unwrap(), "f").unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[1].user, "bob smith/ä:x");
        assert_eq!(issuers, vec!["MeXanimatoR".to_string()]);
    }

    #[test]
    fn csv_round_trip_with_awkward_names() {
        let names = ["a,b", "q\"uote", "multi\nline", " lead", "plain"];
        let recs: Vec<Record> = names.iter().map(|n| rec(n, State::Pending)).collect();
        let text = to_csv(&recs);
        let back = from_csv(std::str::from_utf8(&text).unwrap(), "f").unwrap();
        let got: Vec<&str> = back.iter().map(|r| r.user.as_str()).collect();
        assert_eq!(got, names);
        assert!(back.iter().all(|r| r.state == State::Pending));
        assert_eq!(back[4].place, "f: line 7");
        let err = from_csv("user,state,secret\nalice,enabled\n", "f").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        let err = from_csv("user,state,secret\n\"alice,enabled,X\n", "f").unwrap_err();
        assert!(err.to_string().contains("not closed"), "{err}");
        let err = from_csv(&format!("user,state,secret\nalice,on,{S}\n"), "f").unwrap_err();
        assert!(!err.to_string().contains(S));
    }

    #[test]
    fn bundles_are_strict() {
        let key = MasterKey::parse(&MasterKey::generate()).unwrap();
        let other = MasterKey::parse(&MasterKey::generate()).unwrap();
        let recs = vec![rec("alice", State::Enabled), rec("bob", State::Pending)];
        let sealed = seal(&recs, "MeXanimatoR", "2026-01-01T00:00:00Z", &key);
        let text = std::str::from_utf8(&sealed).unwrap();
        let b = open(text, &key, "f").unwrap();
        assert_eq!(b.records.len(), 2);
        assert_eq!(b.records[1].state, State::Pending);
        assert_eq!(b.issuer, "MeXanimatoR");
        assert!(matches!(open(text, &other, "f"), Err(Error::Key(_))));
        assert!(matches!(
            open(&text[..text.len() - 10], &key, "f"),
            Err(Error::Usage(_))
        ));
        let v2 = key.encrypt(br#"{"format":"mex2fa-export","version":2}"#);
        let err = open(&v2, &key, "f").err().unwrap();
        assert!(err.to_string().contains("version 2"), "{err}");
        let extra = key.encrypt(
            br#"{"format":"mex2fa-export","version":1,"issuer":"","exported_at":"","users":[],"x":1}"#,
        );
        assert!(matches!(open(&extra, &key, "f"), Err(Error::Usage(_))));
    }

    #[test]
    fn image_names_are_safe_and_distinct() {
        let names = image_names([
            ("../etc/passwd", State::Enabled),
            (".hidden", State::Enabled),
            ("a b", State::Enabled),
            ("a_b", State::Enabled),
            ("A_B", State::Enabled),
            ("alice", State::Pending),
            ("", State::Enabled),
        ]);
        assert_eq!(
            names,
            [
                "_._etc_passwd.png",
                "_hidden.png",
                "a_b.png",
                "a_b~2.png",
                "A_B~3.png",
                "alice.pending.png",
                "_.png"
            ]
        );
    }
}
