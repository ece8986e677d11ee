//! QR codes read back from mex2fa's output: the text forms are turned back
//! into a grid of modules and decoded with rqrr, an implementation
//! independent of the `qrcode` crate that drew them.

use std::path::Path;

/// Detects and decodes exactly one code in an rqrr `PreparedImage` (a macro:
/// rqrr does not export the image buffer type to name in a signature).
macro_rules! decode_prepared {
    ($img:expr) => {{
        let mut img = $img;
        let grids = img.detect_grids();
        match grids.as_slice() {
            [grid] => grid
                .decode()
                .map(|(_, text)| text)
                .map_err(|e| format!("rqrr found a code but cannot decode it: {e:?}")),
            other => Err(format!("rqrr found {} QR codes, expected 1", other.len())),
        }
    }};
}

/// A grid of QR modules read back from an output (`true` = dark module).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Modules {
    pub width: usize,
    pub height: usize,
    pub dark: Vec<bool>,
}

/// Which modules the glyph ink marks in the plain half-block rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ink {
    /// The default, for dark terminals: ink (the light foreground) = light modules.
    Light,
    /// `--invert`, for light terminals: ink = dark modules.
    Dark,
}

impl Modules {
    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        self.dark[y * self.width + x]
    }

    /// The same grid with every module flipped (the wrong polarity).
    pub fn inverted(&self) -> Modules {
        Modules {
            dark: self.dark.iter().map(|d| !d).collect(),
            ..self.clone()
        }
    }

    /// The first `rows` rows (drops the half row an odd-sized code leaves).
    pub fn rows(&self, rows: usize) -> Modules {
        assert!(rows <= self.height, "only {} rows", self.height);
        Modules {
            width: self.width,
            height: rows,
            dark: self.dark[..rows * self.width].to_vec(),
        }
    }

    pub fn row_is_light(&self, y: usize) -> bool {
        (0..self.width).all(|x| !self.is_dark(x, y))
    }

    pub fn column_is_light(&self, x: usize) -> bool {
        (0..self.height).all(|y| !self.is_dark(x, y))
    }

    /// Decodes with rqrr, `scale` pixels per module; adds no margin of its
    /// own, so the quiet zone must be in the grid. Exactly one code expected.
    pub fn decode(&self, scale: usize) -> Result<String, String> {
        let img = rqrr::PreparedImage::prepare_from_bitmap(
            self.width * scale,
            self.height * scale,
            |x, y| self.is_dark(x / scale, y / scale),
        );
        decode_prepared!(img)
    }
}

/// Reads the plain rendering: every character is one module wide and two
/// tall (`█` both, `▀` upper, `▄` lower, space none). Panics on anything else
/// and on lines of different widths. The grid has 2 × lines rows.
pub fn modules_from_half_blocks(text: &str, ink: Ink) -> Modules {
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    assert!(!lines.is_empty(), "no QR lines");
    let width = lines[0].chars().count();
    let mut top_rows = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        assert_eq!(
            line.chars().count(),
            width,
            "QR line {n} is not as wide as the first: {line:?}"
        );
        let (mut top, mut bottom) = (Vec::new(), Vec::new());
        for c in line.chars() {
            let (t, b) = match c {
                '█' => (true, true),
                '▀' => (true, false),
                '▄' => (false, true),
                ' ' => (false, false),
                other => panic!("unexpected character {other:?} in QR line {n}: {line:?}"),
            };
            // Ink marks light modules by default, dark ones with --invert.
            top.push(t == (ink == Ink::Dark));
            bottom.push(b == (ink == Ink::Dark));
        }
        top_rows.push(top);
        top_rows.push(bottom);
    }
    Modules {
        width,
        height: top_rows.len(),
        dark: top_rows.concat(),
    }
}

/// Reads the ANSI rendering: every cell is exactly `ESC[FG;BGm▀` (upper half
/// in the foreground, lower half in the background; 30/40 = black = dark,
/// 97/107 = bright white = light) and every line ends with `ESC[0m`.
pub fn modules_from_ansi(text: &str) -> Modules {
    let mut rows: Vec<Vec<bool>> = Vec::new();
    let mut width = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        let body = line
            .strip_suffix("\x1b[0m")
            .unwrap_or_else(|| panic!("ANSI QR line {n} does not end with a reset: {line:?}"));
        let (mut top, mut bottom) = (Vec::new(), Vec::new());
        for cell in body.split("▀").filter(|c| !c.is_empty()) {
            let colors = cell
                .strip_prefix("\x1b[")
                .and_then(|c| c.strip_suffix('m'))
                .unwrap_or_else(|| panic!("bad ANSI cell {cell:?} in line {n}"));
            let (fg, bg) = colors
                .split_once(';')
                .unwrap_or_else(|| panic!("bad ANSI colors {colors:?} in line {n}"));
            top.push(match fg {
                "30" => true,
                "97" => false,
                other => panic!("unexpected foreground {other} in line {n}"),
            });
            bottom.push(match bg {
                "40" => true,
                "107" => false,
                other => panic!("unexpected background {other} in line {n}"),
            });
        }
        // Every cell ends with a glyph: as many glyphs as color pairs.
        assert_eq!(
            body.matches('▀').count(),
            top.len(),
            "line {n}: cells and glyphs do not pair up: {line:?}"
        );
        assert!(body.ends_with('▀'), "line {n} ends without a glyph");
        assert_eq!(*width.get_or_insert(top.len()), top.len(), "line {n} width");
        rows.push(top);
        rows.push(bottom);
    }
    let width = width.expect("no ANSI QR lines");
    Modules {
        width,
        height: rows.len(),
        dark: rows.concat(),
    }
}

/// Decodes a PNG file with the `image` crate and rqrr.
pub fn decode_png(path: &Path) -> Result<String, String> {
    let img = image::open(path)
        .map_err(|e| format!("not a readable image: {e}"))?
        .to_luma8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    decode_prepared!(rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
        img.get_pixel(x as u32, y as u32).0[0]
    }))
}
