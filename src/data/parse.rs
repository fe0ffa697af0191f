//! What the text readers share: the typed description of a parse error,
//! reading a (possibly gzipped) file into memory within limits
//! ([`ReadOptions`]), the check of the head of a text, field splitting, and
//! fast number parsing.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufReader, ErrorKind, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::error::Error;

pub use crate::error::ParseIssue;

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

/// A parse error at `line` and `column` (both from 1) of `file`.
pub(crate) fn parse_error(file: &str, line: usize, column: usize, what: ParseIssue) -> Error {
    Error::Parse {
        file: file.to_string(),
        line,
        column,
        what,
    }
}

/// The default of [`ReadOptions::max_bytes`]: 16 GiB of text, after
/// decompression. Far more than any dataset the readers are meant for
/// (MovieLens 25M is 650 MiB, RCV1 1.2 GiB as LIBSVM text), and small
/// enough that a runaway input (`/dev/zero`, a gzip bomb, a wrong file)
/// stops with [`Error::InputTooLarge`] instead of reading until memory runs
/// out.
pub const DEFAULT_MAX_INPUT_BYTES: u64 = 16 << 30;

/// How the readers take their input.
///
/// ```
/// use wildsgd::data::{read_text, ReadOptions, DEFAULT_MAX_INPUT_BYTES};
/// use wildsgd::Error;
///
/// assert_eq!(ReadOptions::default().max_bytes, DEFAULT_MAX_INPUT_BYTES);
/// # let path = std::env::temp_dir().join(format!("wildsgd-doc-read-{}", std::process::id()));
/// std::fs::write(&path, "some text\n").unwrap();
/// assert_eq!(read_text(&path, &ReadOptions::default())?, b"some text\n");
/// let e = read_text(&path, &ReadOptions { max_bytes: 4 }).unwrap_err();
/// assert!(matches!(e, Error::InputTooLarge { limit: 4, .. }), "{e}");
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReadOptions {
    /// The most bytes of text a reader takes from one input, counted after
    /// decompression: more is [`Error::InputTooLarge`]. The reader streams
    /// the input and stops one byte past the limit, so the limit also bounds
    /// the memory the text takes (each growth of the buffer is first checked
    /// with [`limits::check_memory`](crate::limits::check_memory), so what
    /// does not fit in memory is an [`Error::OutOfMemory`] naming the file).
    pub max_bytes: u64,
}

impl Default for ReadOptions {
    /// [`DEFAULT_MAX_INPUT_BYTES`].
    fn default() -> Self {
        ReadOptions {
            max_bytes: DEFAULT_MAX_INPUT_BYTES,
        }
    }
}

/// How many bytes at the start of the (decompressed) text are checked
/// before the rest is read: see [`check_head`].
pub(crate) const HEAD_BYTES: usize = 64 << 10;

/// A reader's parser run on a prefix of its text made of whole lines: it
/// must report, as an [`Error::Parse`], exactly the first error that the
/// full parse would report if that error lies in those lines, and may
/// return anything else (`Ok`, an empty-file error...) otherwise.
pub(crate) type Prefix<'a> = &'a dyn Fn(&str, &[u8]) -> Result<(), Error>;

/// The check every reader makes of the first [`HEAD_BYTES`] of its text
/// (`head`), before parsing the whole (and, for a file, before reading the
/// rest, so that a wrong input fails after 64 KiB rather than after
/// decompressing gigabytes):
///
/// 1. the head must not hold a NUL byte: none of the text formats has one,
///    and binary data (a model, an archive, an unknown compression, a run
///    of zeros) always does early on. The error is at the first NUL, unless
///    a line before it has an error of its own, which comes first.
/// 2. with `early` (the text continues past the head), the whole lines of
///    the head are parsed, and their first error, if any, is returned: the
///    full parse would stop there anyway.
pub(crate) fn check_head(name: &str, head: &[u8], early: bool, prefix: Prefix<'_>) -> Result<(), Error> {
    let head = &head[..head.len().min(HEAD_BYTES)];
    let nul = head.iter().position(|&b| b == 0);
    let lines_end = |upto: usize| head[..upto].iter().rposition(|&b| b == b'\n').map_or(0, |k| k + 1);
    let whole = match nul {
        Some(p) => lines_end(p),
        None if early => lines_end(head.len()),
        None => return Ok(()),
    };
    if whole > 0 {
        if let Err(e @ Error::Parse { .. }) = prefix(name, &head[..whole]) {
            return Err(e);
        }
    }
    match nul {
        Some(p) => {
            let (line, column) = end_position(&head[..p]);
            Err(parse_error(name, line, column, ParseIssue::NulByte))
        }
        None => Ok(()),
    }
}

/// Whether `bytes` start with the gzip magic number.
pub(crate) fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// Reads a whole file as text, decompressing it if it starts with the gzip
/// magic bytes (whatever its name), reading at most `opts.max_bytes` of
/// text ([`Error::InputTooLarge`] beyond) and checking memory before each
/// growth of the buffer ([`Error::OutOfMemory`]). With `prefix` (a reader's
/// parser), the head of the text is checked as soon as it has been read
/// ([`check_head`]). A truncated or corrupt gzip stream is a
/// [`ParseIssue::Gzip`] at the line and column where the text stopped.
pub(crate) fn read_file(path: &Path, opts: &ReadOptions, prefix: Option<Prefix<'_>>) -> Result<Vec<u8>, Error> {
    let name = display_name(path);
    let io = |source| Error::Io {
        file: name.clone(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    // A plain file's size: the first buffer's, and more than the limit is
    // too large without reading. None for a device or a pipe (which may say 0).
    let size = file.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
    let mut magic = [0u8; 2];
    let mut got = 0;
    while got < magic.len() {
        match file.read(&mut magic[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(io(e)),
        }
    }
    let input = (&magic[..got]).chain(file);
    if is_gzip(&magic[..got]) {
        let decoder = MultiGzDecoder::new(BufReader::with_capacity(1 << 16, input));
        slurp(&name, decoder, true, size.map(gzip_guess), opts, prefix)
    } else if size.is_some_and(|s| s > opts.max_bytes) {
        // A plain file says how long it is: no need to read it to know.
        Err(Error::InputTooLarge {
            file: name,
            limit: opts.max_bytes,
        })
    } else {
        slurp(&name, input, false, size, opts, prefix)
    }
}

/// Reads a file's text (decompressed and limited as the readers do, see
/// [`ReadOptions`]) without parsing it: for inputs that are not one of the
/// data formats, such as a word list.
///
/// # Errors
/// [`Error::Io`], [`Error::InputTooLarge`], [`Error::OutOfMemory`], or a
/// [`ParseIssue::Gzip`] parse error for a truncated or corrupt gzip stream.
pub fn read_text(path: impl AsRef<Path>, opts: &ReadOptions) -> Result<Vec<u8>, Error> {
    read_file(path.as_ref(), opts, None)
}

/// The text of in-memory input: `bytes` themselves, or their decompression
/// if they are gzip (limited and checked as [`read_file`] does).
pub(crate) fn decode_bytes<'a>(
    name: &str,
    bytes: &'a [u8],
    opts: &ReadOptions,
    prefix: Option<Prefix<'_>>,
) -> Result<Cow<'a, [u8]>, Error> {
    if is_gzip(bytes) {
        let size = Some(gzip_guess(bytes.len() as u64));
        slurp(name, MultiGzDecoder::new(bytes), true, size, opts, prefix).map(Cow::Owned)
    } else if bytes.len() as u64 > opts.max_bytes {
        Err(Error::InputTooLarge {
            file: name.to_string(),
            limit: opts.max_bytes,
        })
    } else {
        Ok(Cow::Borrowed(bytes))
    }
}

/// A first guess at the text size of `compressed` bytes of gzip: 4 times
/// as much, up to 256 MiB (past that, the buffer grows as the text comes).
fn gzip_guess(compressed: u64) -> u64 {
    compressed.saturating_mul(4).min(256 << 20)
}

/// Reads `input` to its end into memory, within `opts.max_bytes`; `size`
/// is a guess at its length (the exact length of a plain file).
///
/// The buffer grows by doubling (by an eighth when doubling would not fit
/// in memory), each growth checked first with
/// [`check_memory`](crate::limits::check_memory) and made with
/// `try_reserve`, and filled without being zeroed first (untouched capacity
/// costs no memory). The first [`HEAD_BYTES`] are read on their own and
/// checked with `prefix` before the rest is read.
fn slurp(
    name: &str,
    input: impl Read,
    gzip: bool,
    size: Option<u64>,
    opts: &ReadOptions,
    prefix: Option<Prefix<'_>>,
) -> Result<Vec<u8>, Error> {
    let limit = opts.max_bytes;
    // One byte past the limit tells a text of exactly `limit` bytes from a longer one.
    let most = limit.saturating_add(1);
    let cap = usize::try_from(most).unwrap_or(usize::MAX);
    let mut input = input.take(most);
    let mut buf: Vec<u8> = Vec::new();
    let mut head_checked = prefix.is_none();
    loop {
        if buf.len() == buf.capacity() {
            let now = buf.capacity();
            let (want, least) = if now == 0 {
                let first = size.map_or(HEAD_BYTES as u64, |s| s.saturating_add(1).max(HEAD_BYTES as u64));
                let first = usize::try_from(first).unwrap_or(usize::MAX);
                (first, first)
            } else {
                (
                    now.saturating_mul(2),
                    now.saturating_add(now / 8).saturating_add(HEAD_BYTES),
                )
            };
            grow(name, &mut buf, want.min(cap), least.min(cap))?;
        }
        let mut room = buf.capacity() - buf.len();
        if !head_checked {
            room = room.min(HEAD_BYTES.saturating_sub(buf.len()).max(1));
        }
        // Fills at most `room` bytes: no growth inside `read_to_end`.
        let got = match (&mut input).take(room as u64).read_to_end(&mut buf) {
            Ok(got) => got,
            Err(e)
                if gzip
                    && matches!(
                        e.kind(),
                        ErrorKind::InvalidInput | ErrorKind::InvalidData | ErrorKind::UnexpectedEof
                    ) =>
            {
                // The bytes decompressed before the error are in `buf`.
                let (line, column) = end_position(&buf);
                return Err(parse_error(
                    name,
                    line,
                    column,
                    ParseIssue::Gzip { reason: e.to_string() },
                ));
            }
            Err(source) => {
                return Err(Error::Io {
                    file: name.to_string(),
                    source,
                })
            }
        };
        if buf.len() as u64 > limit {
            return Err(Error::InputTooLarge {
                file: name.to_string(),
                limit,
            });
        }
        if !head_checked && (buf.len() >= HEAD_BYTES || got < room) {
            head_checked = true;
            if let (Some(prefix), true) = (prefix, buf.len() >= HEAD_BYTES) {
                check_head(name, &buf[..HEAD_BYTES], true, prefix)?;
            }
        }
        if got < room {
            return Ok(buf);
        }
    }
}

/// Grows the capacity of `buf` to `len` bytes, or at least to `least` if
/// `len` does not fit, after checking that the memory is there, and without
/// aborting if the allocation fails after all.
fn grow(name: &str, buf: &mut Vec<u8>, len: usize, least: usize) -> Result<(), Error> {
    let what = || format!("reading {name}");
    let len = if len > least && crate::limits::check_memory(what(), len as u64).is_err() {
        least
    } else {
        len
    };
    crate::limits::check_memory(what(), len as u64)?;
    if buf.try_reserve_exact(len.saturating_sub(buf.len())).is_err() {
        return Err(Error::OutOfMemory {
            what: what(),
            needed: len as u64,
            limit: crate::limits::available_memory().unwrap_or(0),
            budget: false,
        });
    }
    Ok(())
}

/// How a line of a delimited text format (ratings, edge lists) splits into
/// fields. It is decided once per file, from its first line that is not a
/// comment or blank ([`Separator::of`]), and applies to every line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Separator {
    /// Tab-separated: fields are split at each tab, and only there, then
    /// trimmed of spaces and `\r`; a field may hold spaces (`Apollo 13 (1995)`),
    /// and may be empty.
    Tab,
    /// Comma-separated, likewise (trimmed of spaces and `\r`). Quoted fields
    /// are not supported: a field that starts with `"` is an error.
    Comma,
    /// Runs of blanks (spaces, and tabs on later lines) separate fields.
    Blank,
}

impl Separator {
    /// Tab if `line` holds a tab, else comma if it holds a comma, else blanks.
    pub(crate) fn of(line: &[u8]) -> Separator {
        if line.contains(&b'\t') {
            Separator::Tab
        } else if line.contains(&b',') {
            Separator::Comma
        } else {
            Separator::Blank
        }
    }

    /// Replaces `out` with the fields of `line`; for a comma-separated
    /// file, a quoted field (unsupported) is a [`ParseIssue::QuotedField`]
    /// at its column.
    pub(crate) fn split_into<'a>(
        self,
        line: &'a [u8],
        out: &mut Vec<(usize, &'a [u8])>,
    ) -> Result<(), (usize, ParseIssue)> {
        out.clear();
        out.extend(self.split(line));
        if self == Separator::Comma {
            if let Some(&(col, _)) = out.iter().find(|(_, f)| f.starts_with(b"\"")) {
                return Err((col, ParseIssue::QuotedField));
            }
        }
        Ok(())
    }

    /// The fields of `line` as (column from 1, text) pairs.
    pub(crate) fn split(self, line: &[u8]) -> Fields<'_> {
        Fields {
            line,
            pos: 0,
            sep: self,
            done: false,
        }
    }
}

/// The iterator of [`Separator::split`].
pub(crate) struct Fields<'a> {
    line: &'a [u8],
    pos: usize,
    sep: Separator,
    done: bool,
}

fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r')
}

impl<'a> Iterator for Fields<'a> {
    type Item = (usize, &'a [u8]);

    fn next(&mut self) -> Option<(usize, &'a [u8])> {
        let line = self.line;
        let delim = match self.sep {
            Separator::Blank => {
                let mut pos = self.pos;
                while pos < line.len() && is_blank(line[pos]) {
                    pos += 1;
                }
                if pos >= line.len() {
                    self.pos = pos;
                    return None;
                }
                let start = pos;
                while pos < line.len() && !is_blank(line[pos]) {
                    pos += 1;
                }
                self.pos = pos;
                return Some((start + 1, &line[start..pos]));
            }
            Separator::Tab => b'\t',
            Separator::Comma => b',',
        };
        if self.done {
            return None;
        }
        let end = line[self.pos..]
            .iter()
            .position(|&b| b == delim)
            .map_or(line.len(), |k| self.pos + k);
        let (mut a, mut b) = (self.pos, end);
        while a < b && matches!(line[a], b' ' | b'\r') {
            a += 1;
        }
        while b > a && matches!(line[b - 1], b' ' | b'\r') {
            b -= 1;
        }
        if end == line.len() {
            self.done = true;
        }
        self.pos = end + 1;
        Some((a + 1, &line[a..b]))
    }
}

/// Splits a line at runs of blanks (spaces, tabs, `\r`): the fields of
/// whitespace-separated formats such as METIS.
pub(crate) fn blank_fields(line: &[u8]) -> Fields<'_> {
    Separator::Blank.split(line)
}

/// The first NUL byte of `line`, as an error at its column.
pub(crate) fn check_nul(name: &str, line_no: usize, line: &[u8]) -> Result<(), Error> {
    match line.iter().position(|&b| b == 0) {
        Some(k) => Err(parse_error(name, line_no, k + 1, ParseIssue::NulByte)),
        None => Ok(()),
    }
}

/// The text of an id field (a user, an item, a node): not empty, UTF-8
/// (`field` names it in a message, `id` in an encoding error).
pub(crate) fn id_text<'a>(
    name: &str,
    line: usize,
    column: usize,
    text: &'a [u8],
    field: &'static str,
    id: &'static str,
) -> Result<&'a str, Error> {
    if text.is_empty() {
        return Err(parse_error(name, line, column, ParseIssue::EmptyField { field }));
    }
    utf8(name, line, column, text, id)
}

/// `field` as UTF-8 text, or an error at the first invalid byte (its
/// column is `column` for the field's first byte).
pub(crate) fn utf8<'a>(
    name: &str,
    line: usize,
    column: usize,
    text: &'a [u8],
    field: &'static str,
) -> Result<&'a str, Error> {
    std::str::from_utf8(text)
        .map_err(|e| parse_error(name, line, column + e.valid_up_to(), ParseIssue::InvalidUtf8 { field }))
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
    fn separators_split_as_documented() {
        let split = |sep: Separator, line: &str| -> Vec<(usize, String)> {
            sep.split(line.as_bytes())
                .map(|(c, f)| (c, String::from_utf8(f.to_vec()).unwrap()))
                .collect()
        };
        assert_eq!(Separator::of(b"a b,c\td"), Separator::Tab);
        assert_eq!(Separator::of(b"a b,c"), Separator::Comma);
        assert_eq!(Separator::of(b"a b"), Separator::Blank);
        let s = |x: &str| x.to_string();
        assert_eq!(
            split(Separator::Tab, " u 1 \tApollo 13\t\t5\r"),
            vec![(2, s("u 1")), (7, s("Apollo 13")), (17, s("")), (18, s("5"))]
        );
        assert_eq!(split(Separator::Tab, ""), vec![(1, s(""))]);
        assert_eq!(
            split(Separator::Comma, "a,,b ,"),
            vec![(1, s("a")), (3, s("")), (4, s("b")), (7, s(""))]
        );
        assert_eq!(split(Separator::Blank, "  a\t b \r"), vec![(3, s("a")), (6, s("b"))]);
        assert!(split(Separator::Blank, " \r").is_empty());
    }

    #[test]
    fn the_head_check_finds_nul_after_earlier_errors() {
        let never = |_: &str, _: &[u8]| -> Result<(), Error> { panic!("no whole line to parse") };
        let fails = |name: &str, text: &[u8]| -> Result<(), Error> {
            Err(parse_error(
                name,
                1,
                2,
                ParseIssue::Invalid(format!("{} bytes", text.len())),
            ))
        };
        let empty = |name: &str, _: &[u8]| -> Result<(), Error> {
            Err(Error::EmptyFile {
                file: name.into(),
                detail: "",
            })
        };
        assert!(check_head("h", b"no nul, no check", false, &never).is_ok());
        let e = check_head("h", b"\0", false, &never).unwrap_err();
        assert_eq!(
            e.to_string(),
            "h: line 1, column 1: a NUL byte: this is binary data, not text"
        );
        // Lines before the NUL's are parsed first; only parse errors count.
        let e = check_head("h", b"ab\ncd\nx\0", false, &fails).unwrap_err();
        assert_eq!(e.to_string(), "h: line 1, column 2: 6 bytes");
        let e = check_head("h", b"ab\ncd\nx\0", false, &empty).unwrap_err();
        assert_eq!(
            e.to_string(),
            "h: line 3, column 2: a NUL byte: this is binary data, not text"
        );
        // Early: the whole lines of the head, without the cut one.
        let e = check_head("h", b"ab\ncd\nxyz", true, &fails).unwrap_err();
        assert_eq!(e.to_string(), "h: line 1, column 2: 6 bytes");
        assert!(check_head("h", b"one long cut line", true, &never).is_ok());
        let mut long = vec![b'a'; HEAD_BYTES + 10];
        long[HEAD_BYTES + 5] = 0;
        assert!(
            check_head("h", &long, false, &never).is_ok(),
            "a NUL past the head is not looked for"
        );
    }

    #[test]
    fn quoting_shortens() {
        assert_eq!(quote(b"abc"), "abc");
        assert_eq!(quote(&[b'x'; 100]).len(), 43);
    }
}
