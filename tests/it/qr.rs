//! The QR code is proven by decoding it. Each rendering `enroll` produces —
//! plain half blocks in both polarities, explicit ANSI colors, PNG and SVG — is
//! turned back into modules and decoded with rqrr (a decoder independent of the
//! `qrcode` crate that drew it); the result must equal the otpauth URI that
//! `--show-secret` prints. Structural checks pin what a scanner needs: a square
//! code, a light quiet zone of 4 modules, lines of one width.
//!
//! The enrolled secret is random, so no golden file of the rendering is
//! possible through the binary; the structure and the decoded URI are checked
//! instead. Nothing here depends on the clock.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::util::{Ink, Modules, TestEnv, modules_from_ansi, modules_from_half_blocks};

/// Modules of light margin the QR standard asks for (and `src/qr.rs` draws).
const QUIET_ZONE: usize = 4;
/// Pixels per module when the text forms are rasterised for rqrr.
const SCALE: usize = 4;

/// What `enroll USER --show-secret` printed: the QR lines, the URI, the secret.
struct Enrolled {
    qr: String,
    uri: String,
    secret: String,
    stderr: String,
}

/// Runs `enroll alice --show-secret ARGS` with extra environment variables
/// and splits stdout into the QR drawing, the URI line and the secret line.
fn enroll(env: &TestEnv, args: &[&str], vars: &[(&str, &str)]) -> Enrolled {
    let mut cmd = env.cmd();
    cmd.args(["enroll", "alice", "--show-secret"]).args(args);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.assert().success().get_output().clone();
    let stdout = String::from_utf8(out.stdout).expect("stdout is UTF-8");
    split_output(&stdout, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn split_output(stdout: &str, stderr: String) -> Enrolled {
    let lines: Vec<&str> = stdout.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("otpauth://"))
        .unwrap_or_else(|| panic!("no URI line in the output:\n{stdout}"));
    let secret = lines
        .get(at + 1)
        .and_then(|l| l.strip_prefix("secret: "))
        .unwrap_or_else(|| panic!("no 'secret: ' line after the URI:\n{stdout}"));
    assert_eq!(
        lines.len(),
        at + 2,
        "stdout has lines after the secret:\n{stdout}"
    );
    let mut qr = lines[..at].join("\n");
    if !qr.is_empty() {
        qr.push('\n');
    }
    Enrolled {
        qr,
        uri: lines[at].to_string(),
        secret: secret.to_string(),
        stderr,
    }
}

/// The URI must be pyotp's `provisioning_uri` for alice and the printed secret.
fn check_uri(e: &Enrolled) {
    assert_eq!(e.secret.len(), 32, "secret {:?}", e.secret);
    assert!(
        e.secret
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)),
        "secret {:?} is not base32",
        e.secret
    );
    assert_eq!(
        e.uri,
        format!(
            "otpauth://totp/MeXanimatoR:alice?secret={}&issuer=MeXanimatoR",
            e.secret
        )
    );
}

/// Square, quiet zone light on all four sides, finder pattern where it belongs.
/// `text_lines` is the number of text lines the grid came from (2 rows each):
/// an odd-sized code leaves a half row below it, which must be the terminal's
/// background: no ink (read as dark with `Ink::Light`, light with `Ink::Dark`)
/// or, in ANSI colors, white.
fn check_structure(m: &Modules, text_lines: usize, half_row_dark: bool) -> Modules {
    let w = m.width;
    assert_eq!(m.height, 2 * text_lines);
    assert_eq!(
        text_lines,
        w.div_ceil(2),
        "a {w}-module-wide code needs {} text lines, not {text_lines} (not square)",
        w.div_ceil(2)
    );
    // QR sizes are 21 + 4k modules, plus the quiet zone on both sides.
    let inner = w - 2 * QUIET_ZONE;
    assert!(
        inner >= 21 && (inner - 21).is_multiple_of(4),
        "{inner} is no QR size"
    );
    if m.height > w {
        assert!(
            (0..w).all(|x| m.is_dark(x, w) == half_row_dark),
            "the half row below the code is not background"
        );
    }
    let square = m.rows(w);
    for i in 0..QUIET_ZONE {
        assert!(square.row_is_light(i), "quiet-zone row {i} is not light");
        assert!(square.row_is_light(w - 1 - i), "bottom quiet-zone row {i}");
        assert!(square.column_is_light(i), "quiet-zone column {i}");
        assert!(
            square.column_is_light(w - 1 - i),
            "right quiet-zone column {i}"
        );
    }
    // The top-left finder: a dark 7×7 ring right inside the quiet zone.
    let q = QUIET_ZONE;
    for k in 0..7 {
        assert!(
            square.is_dark(q + k, q) && square.is_dark(q, q + k),
            "finder edge"
        );
    }
    assert!(!square.is_dark(q + 1, q + 1), "finder's light ring");
    assert!(square.is_dark(q + 3, q + 3), "finder's dark centre");
    square
}

fn line_count(text: &str) -> usize {
    text.lines().count()
}

#[test]
fn default_plain_rendering_has_light_ink_and_decodes_to_the_uri() {
    let env = TestEnv::new();
    let e = enroll(&env, &[], &[]);
    check_uri(&e);
    assert!(!e.qr.contains('\x1b'), "piped output must not be colored");
    // Ink = light modules: the light quiet zone is solid ink.
    let first = e.qr.lines().next().unwrap();
    assert!(first.chars().all(|c| c == '█'), "top margin: {first:?}");
    let lines = line_count(&e.qr);
    let m = check_structure(&modules_from_half_blocks(&e.qr, Ink::Light), lines, true);
    assert_eq!(m.decode(SCALE).as_deref(), Ok(e.uri.as_str()));
    // Read with the wrong polarity the code must not scan: the decoder is
    // polarity-sensitive, so the decodes above really prove the polarity.
    assert!(m.inverted().decode(SCALE).is_err());
    assert!(e.stderr.contains("pending"), "stderr: {}", e.stderr);
}

#[test]
fn inverted_plain_rendering_has_dark_ink_and_decodes_to_the_uri() {
    let env = TestEnv::new();
    let e = enroll(&env, &["--invert"], &[]);
    check_uri(&e);
    assert!(!e.qr.contains('\x1b'));
    let first = e.qr.lines().next().unwrap();
    assert!(first.chars().all(|c| c == ' '), "top margin: {first:?}");
    let lines = line_count(&e.qr);
    let m = check_structure(&modules_from_half_blocks(&e.qr, Ink::Dark), lines, false);
    assert_eq!(m.decode(SCALE).as_deref(), Ok(e.uri.as_str()));
    assert!(m.inverted().decode(SCALE).is_err());
    // The same text read as the default polarity does not scan.
    let wrong = modules_from_half_blocks(&e.qr, Ink::Light).rows(m.width);
    assert!(wrong.decode(SCALE).is_err());
}

#[test]
fn ansi_rendering_with_clicolor_force_decodes_to_the_uri() {
    let env = TestEnv::new();
    for extra in [&[][..], &["--invert"][..]] {
        // Explicit colors scan on any theme, so --invert changes nothing.
        let e = enroll(&env, extra, &[("CLICOLOR_FORCE", "1")]);
        check_uri(&e);
        assert!(e.qr.contains("\x1b["), "CLICOLOR_FORCE=1 must color");
        let lines = line_count(&e.qr);
        let m = check_structure(&modules_from_ansi(&e.qr), lines, false);
        assert_eq!(m.decode(SCALE).as_deref(), Ok(e.uri.as_str()), "{extra:?}");
        assert!(m.inverted().decode(SCALE).is_err());
        // Only the QR is colored: the URI and the messages are plain.
        assert!(!e.uri.contains('\x1b') && !e.stderr.contains('\x1b'));
    }
}

#[test]
fn no_color_wins_over_clicolor_force() {
    let env = TestEnv::new();
    for (vars, ink) in [
        (
            &[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")][..],
            Ink::Light,
        ),
        (&[("CLICOLOR_FORCE", "0")][..], Ink::Light),
        (&[("CLICOLOR_FORCE", "")][..], Ink::Light),
    ] {
        let e = enroll(&env, &[], vars);
        assert!(!e.qr.contains('\x1b'), "{vars:?} gave colors");
        assert!(!e.stderr.contains('\x1b'), "{vars:?}: ESC on stderr");
        let lines = line_count(&e.qr);
        let m = check_structure(
            &modules_from_half_blocks(&e.qr, ink),
            lines,
            ink == Ink::Light,
        );
        assert_eq!(m.decode(SCALE).as_deref(), Ok(e.uri.as_str()), "{vars:?}");
    }
    let e = enroll(
        &env,
        &["--invert"],
        &[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")],
    );
    assert!(!e.qr.contains('\x1b'));
    let lines = line_count(&e.qr);
    let m = check_structure(&modules_from_half_blocks(&e.qr, Ink::Dark), lines, false);
    assert_eq!(m.decode(SCALE).as_deref(), Ok(e.uri.as_str()));
}

/// `script` (util-linux) runs the binary on a pseudo-terminal: there, with no
/// variable set, the QR is drawn in ANSI colors; with NO_COLOR it is plain.
#[test]
fn a_terminal_gets_colors_unless_no_color() {
    let env = TestEnv::new();
    for no_color in [false, true] {
        // stdin stays /dev/null so that enroll does not prompt for a code.
        let inner = format!(
            "'{}' enroll alice --show-secret </dev/null",
            crate::util::bin().display()
        );
        let mut real = crate::util::script();
        real.args(["-qec", &inner, "/dev/null"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("MEX2FA_DB", &env.db)
            .env("TWOFA_MASTER_KEY", crate::util::KEY)
            .env("TERM", "dumb")
            .current_dir(env.dir.path())
            .stdin(std::process::Stdio::null());
        if no_color {
            real.env("NO_COLOR", "1");
        }
        let out = real.output().expect("run script");
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8(out.stdout).expect("UTF-8");
        // The terminal shows stdout and stderr together: the messages come
        // after the secret line, so keep everything up to it.
        let text = text.replace('\r', "");
        let end = text.find("\nsecret: ").expect("secret line");
        let end = end + 1 + text[end + 1..].find('\n').expect("newline") + 1;
        let stdout = &text[..end];
        let e = split_output(stdout, String::new());
        let lines = line_count(&e.qr);
        let m = if no_color {
            assert!(!e.qr.contains('\x1b'), "NO_COLOR on a terminal gave colors");
            modules_from_half_blocks(&e.qr, Ink::Light)
        } else {
            assert!(e.qr.contains("\x1b["), "a terminal should get colors");
            modules_from_ansi(&e.qr)
        };
        let m = check_structure(&m, lines, no_color);
        assert_eq!(m.decode(SCALE).as_deref(), Ok(e.uri.as_str()));
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("file exists")
        .permissions()
        .mode()
        & 0o777
}

/// Rebuilds the modules from the SVG's `M{x} {y}h1v1h-1z` path of dark squares.
fn modules_from_svg(svg: &str) -> Modules {
    let view = svg
        .split("viewBox=\"0 0 ")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("viewBox");
    let (w, h) = view.split_once(' ').expect("viewBox size");
    let (w, h): (usize, usize) = (w.parse().unwrap(), h.parse().unwrap());
    assert_eq!(w, h, "the SVG is not square");
    let path = svg
        .split(" d=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("path");
    let mut dark = vec![false; w * w];
    for square in path.split('z').filter(|s| !s.is_empty()) {
        let xy = square
            .strip_prefix('M')
            .and_then(|s| s.strip_suffix("h1v1h-1"))
            .unwrap_or_else(|| panic!("unexpected path element {square:?}"));
        let (x, y) = xy.split_once(' ').expect("x y");
        let (x, y): (usize, usize) = (x.parse().unwrap(), y.parse().unwrap());
        dark[y * w + x] = true;
    }
    Modules {
        width: w,
        height: w,
        dark,
    }
}

#[test]
fn png_and_svg_files_decode_to_the_uri_and_are_private() {
    let env = TestEnv::new();
    let (png, svg) = (env.path("alice.png"), env.path("alice.svg"));
    let e = enroll(
        &env,
        &[
            "--no-qr",
            "--png",
            png.to_str().unwrap(),
            "--svg",
            svg.to_str().unwrap(),
        ],
        &[],
    );
    check_uri(&e);
    assert!(e.qr.is_empty(), "--no-qr drew a QR: {:?}", e.qr);
    assert_eq!(crate::util::decode_png(&png).as_deref(), Ok(e.uri.as_str()));
    assert_eq!(mode(&png), 0o600, "PNG mode");
    assert_eq!(mode(&svg), 0o600, "SVG mode");
    // The PNG has a light quiet zone too.
    let img = image::open(&png).unwrap().to_luma8();
    assert_eq!(img.width(), img.height());
    assert_eq!(img.get_pixel(0, 0).0[0], 255);

    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<?xml"), "{}", &text[..40.min(text.len())]);
    assert!(text.contains("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(text.trim_end().ends_with("</svg>"));
    let m = modules_from_svg(&text);
    let lines = m.width.div_ceil(2);
    let padded = Modules {
        height: 2 * lines,
        dark: [m.dark.clone(), vec![false; (2 * lines - m.width) * m.width]].concat(),
        ..m.clone()
    };
    check_structure(&padded, lines, false);
    assert_eq!(m.decode(SCALE).as_deref(), Ok(e.uri.as_str()));
    for f in [&png, &svg] {
        assert!(
            e.stderr
                .contains(&format!("wrote the QR code to {}", f.display())),
            "{}",
            e.stderr
        );
    }
}

fn pending(env: &TestEnv, user: &str) -> bool {
    let out = env
        .cmd()
        .args(["status", user, "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    v[0]["pending"].as_bool().expect("pending")
}

#[test]
fn image_files_are_never_overwritten_and_refusal_enrolls_nothing() {
    let env = TestEnv::new();
    let (png, svg) = (env.path("qr.png"), env.path("qr.svg"));
    std::fs::write(&png, "keep me").unwrap();
    let before = env.snapshot();
    env.cmd()
        .args(["enroll", "alice", "--png", png.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("already exists"));
    assert_eq!(std::fs::read_to_string(&png).unwrap(), "keep me");
    assert_eq!(
        env.snapshot(),
        before,
        "a refused enroll changed the database"
    );
    assert!(!pending(&env, "alice"));

    // The PNG is new but the SVG exists: neither is written, the new PNG is
    // removed again, and no enrollment is pending.
    std::fs::remove_file(&png).unwrap();
    std::fs::write(&svg, "keep me too").unwrap();
    env.cmd()
        .args(["enroll", "alice", "--png", png.to_str().unwrap()])
        .args(["--svg", svg.to_str().unwrap()])
        .assert()
        .code(2);
    assert!(!png.exists(), "the PNG of a refused enroll was left behind");
    assert_eq!(std::fs::read_to_string(&svg).unwrap(), "keep me too");
    assert!(!pending(&env, "alice"));

    // A symlink (even a dangling one) is not followed.
    let target = env.path("elsewhere.png");
    std::os::unix::fs::symlink(&target, &png).unwrap();
    env.cmd()
        .args(["enroll", "alice", "--png", png.to_str().unwrap()])
        .assert()
        .code(2);
    assert!(!target.exists(), "enroll wrote through a symlink");
    assert!(!pending(&env, "alice"));

    // And a fresh path works, so the refusals above were about the files.
    std::fs::remove_file(&png).unwrap();
    env.cmd()
        .args(["enroll", "alice", "--no-qr", "--png", png.to_str().unwrap()])
        .assert()
        .success();
    assert!(pending(&env, "alice"));
    assert_eq!(mode(&png), 0o600);
}
