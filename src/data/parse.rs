//! What the text readers share: the typed description of a parse error,
//! reading a (possibly gzipped) file into memory, and fast number parsing.

use std::fmt;
use std::io::Read;
use std::path::Path;

use crate::Error;

/// What is wrong at the place a [`Error::Parse`] names. Every reader
/// ([`read_libsvm`](super::read_libsvm), [`read_ratings`](super::read_ratings),
/// [`read_edge_list`](super::read_edge_list), [`read_metis`](super::read_metis))
/// reports malformed input as one of these, never by panicking.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseIssue {
    /// A LIBSVM feature token has no `:` between index and value.
    MissingColon {
        /// The token (shortened if long).
        token: String,
    },
    /// A feature index is not a decimal integer.
    BadIndex {
        /// The text found.
        text: String,
    },
    /// A LIBSVM feature index is 0 (indices start at 1).
    ZeroIndex,
    /// A feature index does not fit in `u32`.
    IndexTooLarge {
        /// The text found.
        text: String,
    },
    /// The same feature index appears twice in one row.
    DuplicateIndex {
        /// The index (as written in the file).
        index: u64,
    },
    /// A feature index is smaller than the one before it in the row.
    DescendingIndex {
        /// The index (as written in the file).
        index: u64,
        /// The index before it.
        previous: u64,
    },
    /// A feature value is not a number.
    BadValue {
        /// The text found.
        text: String,
    },
    /// A feature value is NaN, infinite, or beyond the range of `f32`.
    NonFiniteValue {
        /// The text found.
        text: String,
    },
    /// The label (first token of a row) is not a number.
    BadLabel {
        /// The text found.
        text: String,
    },
    /// The label is NaN, infinite, or beyond the range of `f32`.
    NonFiniteLabel {
        /// The text found.
        text: String,
    },
    /// A gzip stream ends early or is corrupt; the place is where the
    /// decompressed text stopped.
    Gzip {
        /// The decompressor's message.
        reason: String,
    },
    /// A field of a delimited record (ratings, edges, graph) does not parse.
    BadField {
        /// Which field (`user`, `rating`, `neighbour`, ...).
        field: &'static str,
        /// The text found.
        text: String,
        /// What was expected there.
        expected: &'static str,
    },
    /// A delimited record has too few fields.
    MissingField {
        /// The first field that is missing.
        field: &'static str,
    },
    /// Something else, described in words (structural problems of a format,
    /// such as a METIS graph whose edge count does not match its header).
    Invalid(String),
}

impl fmt::Display for ParseIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseIssue::MissingColon { token } => {
                write!(f, "expected INDEX:VALUE, found {token:?} (missing colon)")
            }
            ParseIssue::BadIndex { text } => write!(f, "feature index {text:?} is not a positive integer"),
            ParseIssue::ZeroIndex => write!(f, "feature index 0: LIBSVM indices start at 1"),
            ParseIssue::IndexTooLarge { text } => {
                write!(f, "feature index {text} is beyond u32 (at most {})", u32::MAX)
            }
            ParseIssue::DuplicateIndex { index } => write!(f, "feature index {index} appears twice in the row"),
            ParseIssue::DescendingIndex { index, previous } => write!(
                f,
                "feature index {index} comes after {previous}: indices must be in increasing order"
            ),
            ParseIssue::BadValue { text } => write!(f, "value {text:?} is not a number"),
            ParseIssue::NonFiniteValue { text } => write!(f, "value {text:?} is not a finite f32"),
            ParseIssue::BadLabel { text } => write!(f, "label {text:?} is not a number"),
            ParseIssue::NonFiniteLabel { text } => write!(f, "label {text:?} is not a finite f32"),
            ParseIssue::Gzip { reason } => write!(f, "gzip data is truncated or corrupt ({reason})"),
            ParseIssue::BadField { field, text, expected } => {
                write!(f, "{field} {text:?} is not {expected}")
            }
            ParseIssue::MissingField { field } => write!(f, "the {field} field is missing"),
            ParseIssue::Invalid(what) => f.write_str(what),
        }
    }
}

/// At most this many bytes of offending text are quoted in a message.
const QUOTE: usize = 40;

/// The text of `bytes` for an error message, shortened if long.
pub(crate) fn quote(bytes: &[u8]) -> String {
    if bytes.len() <= QUOTE {
        String::from_utf8_lossy(bytes).into_owned()
    } else {
        let mut cut = QUOTE;
        while cut > 0 && (bytes[cut] & 0xC0) == 0x80 {
            cut -= 1;
        }
        format!("{}...", String::from_utf8_lossy(&bytes[..cut]))
    }
}

/// The name of a path for messages.
pub(crate) fn display_name(path: &Path) -> String {
    path.display().to_string()
}

/// Reads a whole file, decompressing it if it starts with the gzip magic
/// bytes (whatever its name). A truncated or corrupt gzip stream is a
/// [`ParseIssue::Gzip`] at the line and column where the text stopped.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, Error> {
    let name = display_name(path);
    let raw = std::fs::read(path).map_err(|source| Error::Io {
        file: name.clone(),
        source,
    })?;
    maybe_gunzip(&name, raw)
}

/// Decompresses `raw` if it is gzip, else hands it back.
pub(crate) fn maybe_gunzip(name: &str, raw: Vec<u8>) -> Result<Vec<u8>, Error> {
    if raw.len() < 2 || raw[0] != 0x1f || raw[1] != 0x8b {
        return Ok(raw);
    }
    let mut out = Vec::with_capacity(raw.len().saturating_mul(4));
    match flate2::read::MultiGzDecoder::new(raw.as_slice()).read_to_end(&mut out) {
        Ok(_) => Ok(out),
        Err(e) => {
            let (line, column) = end_position(&out);
            Err(Error::Parse {
                file: name.to_string(),
                line,
                column,
                what: ParseIssue::Gzip { reason: e.to_string() },
            })
        }
    }
}

/// The (line, column), from 1, just after the last byte of `text`.
pub(crate) fn end_position(text: &[u8]) -> (usize, usize) {
    let line = 1 + text.iter().filter(|&&b| b == b'\n').count();
    let column = 1 + text.iter().rev().take_while(|&&b| b != b'\n').count();
    (line, column)
}

/// Exact powers of ten in `f32` (10^10 = 2^10 · 5^10 and 5^10 < 2^24).
const POW10: [f32; 11] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10];

/// Parses a decimal number as `f32`, correctly rounded (as `str::parse`
/// does), or `None` if it is not one. Plain decimals of up to 7 significant
/// digits take a fast exact path (Clinger's: one exactly representable
/// integer times or over one exact power of ten, a single rounding); all else
/// goes to the standard library. `inf`/`nan` parse (to non-finite values) so
/// the caller can say they are not finite.
#[inline]
pub(crate) fn parse_f32(s: &[u8]) -> Option<f32> {
    let mut i = 0;
    let neg = match s.first() {
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        _ => false,
    };
    let mut m: u32 = 0;
    let mut digits = 0usize;
    let mut frac = 0usize;
    let mut seen_dot = false;
    let mut ok = true;
    while i < s.len() {
        let b = s[i];
        if b.is_ascii_digit() {
            if digits < 9 {
                m = m * 10 + u32::from(b - b'0');
                if m != 0 {
                    digits += 1;
                }
                if seen_dot {
                    frac += 1;
                }
            } else {
                ok = false;
                break;
            }
        } else if b == b'.' && !seen_dot {
            seen_dot = true;
        } else {
            ok = false;
            break;
        }
        i += 1;
    }
    let has_digit = s[usize::from(matches!(s.first(), Some(b'-' | b'+')))..]
        .iter()
        .any(u8::is_ascii_digit);
    if ok && has_digit && m < (1 << 24) && frac <= 10 {
        let v = m as f32 / POW10[frac];
        return Some(if neg { -v } else { v });
    }
    std::str::from_utf8(s).ok()?.parse::<f32>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_float_path_matches_std() {
        let cases = [
            "0",
            "-0",
            "1",
            "+1",
            "-1",
            "0.5",
            ".5",
            "5.",
            "0.05753",
            "123456.7",
            "16777215",
            "16777216",
            "16777217",
            "0.1",
            "0.3",
            "3.4028235e38",
            "1e-45",
            "1e39",
            "inf",
            "-inf",
            "NaN",
            "0.0000000001",
            "0.00000000001",
            "99999999",
            "1.000000001",
            "000000000000000001.5",
            "-.25",
        ];
        for c in cases {
            let mine = parse_f32(c.as_bytes());
            let std = c.parse::<f32>().ok();
            match (mine, std) {
                (Some(a), Some(b)) if a.is_nan() && b.is_nan() => {}
                (a, b) => assert_eq!(a.map(f32::to_bits), b.map(f32::to_bits), "{c}"),
            }
        }
        for bad in ["", "-", "+", ".", "1.2.3", "abc", "1e", "--1", "1,5", "0x10"] {
            assert_eq!(parse_f32(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn fast_path_is_exhaustively_right_for_short_decimals() {
        for m in (0..2_000_000u32).step_by(7) {
            for frac in [0, 1, 3, 5, 7] {
                let s = if frac == 0 {
                    m.to_string()
                } else {
                    let t = format!("{m:0>width$}", width = frac + 1);
                    format!("{}.{}", &t[..t.len() - frac], &t[t.len() - frac..])
                };
                assert_eq!(
                    parse_f32(s.as_bytes()).map(f32::to_bits),
                    s.parse::<f32>().ok().map(f32::to_bits),
                    "{s}"
                );
            }
        }
    }

    #[test]
    fn quoting_shortens() {
        assert_eq!(quote(b"abc"), "abc");
        assert_eq!(quote(&[b'x'; 100]).len(), 43);
    }
}
