//! QR codes of otpauth URIs: Unicode half blocks for the terminal, PNG and SVG files.
//!
//! A terminal shows glyph "ink" in its foreground color. On a dark theme the ink
//! is light, so by default ink marks the *light* modules; `invert` flips that for
//! light themes. With colors allowed, every cell gets explicit black/white
//! colors instead, which scans on any theme.

use qrcode::{Color, EcLevel, QrCode};
use std::fmt::Write;

use zeroize::{Zeroize, Zeroizing};

/// Modules of light margin around the code, as the QR standard asks.
pub const QUIET_ZONE: usize = 4;

/// How the terminal rendering chooses its glyphs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Ink = light modules: for dark-background terminals (the default).
    DarkTerminal,
    /// Ink = dark modules: for light-background terminals.
    LightTerminal,
    /// Explicit ANSI black and white: any terminal that shows colors.
    Ansi,
}

/// A QR code as a square of modules, quiet zone included (`true` = dark).
pub struct Matrix {
    width: usize,
    /// The pattern encodes the secret: wiped when dropped.
    dark: Zeroizing<Vec<bool>>,
}

impl Matrix {
    /// Encodes `data` at error-correction level M (what Python's `qrcode.make` uses).
    pub fn encode(data: &str) -> Result<Matrix, String> {
        let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M)
            .map_err(|e| format!("cannot encode the URI as a QR code: {e}"))?;
        let inner = code.width();
        let width = inner + 2 * QUIET_ZONE;
        let colors = code.to_colors();
        let mut dark = Zeroizing::new(vec![false; width * width]);
        for y in 0..inner {
            for x in 0..inner {
                dark[(y + QUIET_ZONE) * width + x + QUIET_ZONE] =
                    colors[y * inner + x] == Color::Dark;
            }
        }
        Ok(Matrix { width, dark })
    }

    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        y < self.width && self.dark[y * self.width + x]
    }

    /// Two module rows per text line with `▀ ▄ █` and spaces.
    pub fn to_text(&self, style: Style) -> Zeroizing<String> {
        // Sized for the longest form (an ANSI cell is 12 bytes), so that the
        // string never grows: a reallocation would leave a copy unwiped.
        let mut out = Zeroizing::new(String::with_capacity(
            (self.width / 2 + 1) * (self.width * 12 + 5),
        ));
        for y in (0..self.width).step_by(2) {
            for x in 0..self.width {
                let (top, bottom) = (self.is_dark(x, y), self.is_dark(x, y + 1));
                match style {
                    Style::Ansi => {
                        // Foreground paints the upper half, background the lower.
                        let fg = if top { 30 } else { 97 };
                        let bg = if bottom { 40 } else { 107 };
                        let _ = write!(out, "\x1b[{fg};{bg}m▀");
                    }
                    Style::DarkTerminal | Style::LightTerminal => {
                        let ink_is_dark = style == Style::LightTerminal;
                        // A missing last row counts as background (no ink).
                        let t = top == ink_is_dark;
                        let b = y + 1 < self.width && bottom == ink_is_dark;
                        out.push(match (t, b) {
                            (true, true) => '█',
                            (true, false) => '▀',
                            (false, true) => '▄',
                            (false, false) => ' ',
                        });
                    }
                }
            }
            if style == Style::Ansi {
                out.push_str("\x1b[0m");
            }
            out.push('\n');
        }
        out
    }

    /// A grayscale PNG, `scale` pixels per module.
    pub fn to_png(&self, scale: u32) -> Result<Zeroizing<Vec<u8>>, String> {
        let side = self.width as u32 * scale;
        let img = image::GrayImage::from_fn(side, side, |x, y| {
            let dark = self.is_dark((x / scale) as usize, (y / scale) as usize);
            image::Luma([if dark { 0 } else { 255 }])
        });
        let mut buf = std::io::Cursor::new(Vec::new());
        let written = img
            .write_to(&mut buf, image::ImageFormat::Png)
            .map_err(|e| format!("cannot encode the PNG: {e}"));
        img.into_raw().zeroize();
        let png = Zeroizing::new(buf.into_inner());
        written.map(|()| png)
    }

    /// A standalone SVG, one unit per module.
    pub fn to_svg(&self) -> Zeroizing<String> {
        let w = self.width;
        let head = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {w}\" width=\"{px}\" height=\"{px}\" shape-rendering=\"crispEdges\"><rect width=\"{w}\" height=\"{w}\" fill=\"#fff\"/><path fill=\"#000\" d=\"",
            px = w * 8
        );
        let tail = "\"/></svg>\n";
        // Never grows (see `to_text`): at most 24 bytes a module.
        let mut svg = Zeroizing::new(String::with_capacity(head.len() + w * w * 24 + tail.len()));
        svg.push_str(&head);
        for y in 0..w {
            for x in 0..w {
                if self.is_dark(x, y) {
                    let _ = write!(svg, "M{x} {y}h1v1h-1z");
                }
            }
        }
        svg.push_str(tail);
        svg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_zone_is_light_and_finder_is_dark() {
        let m = Matrix::encode(
            "otpauth://totp/MeXanimatoR:alice?secret=JBSWY3DPEHPK3PXP&issuer=MeXanimatoR",
        )
        .unwrap();
        assert!(!m.is_dark(0, 0));
        assert!(m.is_dark(QUIET_ZONE, QUIET_ZONE));
        let text = m.to_text(Style::DarkTerminal);
        // Dark-terminal style: the all-light top margin is solid ink.
        assert!(text.lines().next().unwrap().chars().all(|c| c == '█'));
        let inverted = m.to_text(Style::LightTerminal);
        assert!(inverted.lines().next().unwrap().chars().all(|c| c == ' '));
    }
}
