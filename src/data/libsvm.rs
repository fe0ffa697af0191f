//! The LIBSVM / SVMlight text format: a reader (plain or gzip, parsed in
//! parallel chunks split at line boundaries) and a writer.
//!
//! One row per line: `LABEL [qid:Q] INDEX:VALUE INDEX:VALUE ... [# comment]`.
//! Indices start at 1 and strictly increase within a row; feature `i` of the
//! file is feature `i - 1` of the [`CsrDataset`]. Labels may be ±1, 0/1,
//! multiclass integers or real targets (the reader keeps them as written;
//! [`binary_labels`] maps two classes to ±1). Blank lines, `#` comments and
//! CRLF line ends are accepted; `qid:` tokens are skipped.

use std::io::Write;
use std::ops::Range;
use std::path::Path;

use rayon::prelude::*;

use super::parse::{
    check_head, decode_bytes, display_name, parse_error, parse_f32, quote, read_file, ParseIssue, ReadOptions,
};
use super::CsrDataset;
use crate::error::Error;

/// How to read a LIBSVM file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LibsvmOptions {
    /// The dataset's number of features: at least this many (a model's
    /// dimension, say). The width is the larger of this and the largest index
    /// in the file. `None`: the largest index in the file.
    pub n_features: Option<usize>,
    /// Bytes per parallel parsing chunk (0: a default of 1 MiB). Chunks are
    /// cut at line boundaries and parsed on the current Rayon pool.
    pub chunk_bytes: usize,
    /// How the file is read (the limit on its size).
    pub read: ReadOptions,
    /// Feature hashing: every feature name maps to one of `2^bits`
    /// columns, and the width is exactly that (`n_features` is then
    /// ignored). `None`: exact indices, as written.
    pub hashing: Option<Hashing>,
}

/// Feature hashing (the "hashing trick"): a feature's name — the digits of
/// a LIBSVM index, or any token without white space, `#` or a final
/// `:value` — maps to one of `2^bits` columns by seeded XXH3, so a model's
/// size is fixed before any data is read, whatever the data holds.
///
/// A token `name:value` has the value after its last colon; a token
/// without a colon has value 1 (Vowpal Wabbit's convention). Features of
/// one row that land in one column (the same name twice, or a collision)
/// are summed. LIBSVM files read the same hashed or not except for where
/// each index lands: index `12` is the name `12`.
///
/// ```
/// use wildsgd::data::{read_libsvm_bytes, Hashing, LibsvmOptions};
///
/// let opts = LibsvmOptions { hashing: Some(Hashing::new(10).unwrap()), ..LibsvmOptions::default() };
/// let d = read_libsvm_bytes("words", b"1 price:2.5 free cheap\n-1 12:1 hello\n", &opts).unwrap().data;
/// assert_eq!(d.n_features(), 1024);
/// assert_eq!(d.row(0).indices.len(), 3);
/// assert_eq!(d.row(1).values, &[1.0, 1.0]); // `12:1` and `hello` (barring a collision)
/// assert!(Hashing::new(0).is_err() && Hashing::new(32).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hashing {
    bits: u32,
    seed: u64,
}

impl Hashing {
    /// The most bits: 2^31 columns (the width must fit a `u32` index).
    pub const MAX_BITS: u32 = 31;

    /// Hashing into `2^bits` columns, `1 <= bits <= MAX_BITS`, seed 0.
    pub fn new(bits: u32) -> Result<Self, Error> {
        if !(1..=Self::MAX_BITS).contains(&bits) {
            return Err(Error::InvalidParameter {
                name: "hash-bits",
                reason: format!("{bits}: must be from 1 to {}", Self::MAX_BITS),
            });
        }
        Ok(Hashing { bits, seed: 0 })
    }

    /// The same, with the hash function seeded by `seed` (a different
    /// set of collisions).
    pub fn seed(self, seed: u64) -> Self {
        Hashing { seed, ..self }
    }

    /// The bits.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// The hash seed.
    pub fn get_seed(&self) -> u64 {
        self.seed
    }

    /// The number of columns, `2^bits`.
    pub fn width(&self) -> usize {
        1usize << self.bits
    }

    /// The column of feature `name`.
    #[inline]
    pub fn column(&self, name: &[u8]) -> u32 {
        (xxhash_rust::xxh3::xxh3_64_with_seed(name, self.seed) & ((1u64 << self.bits) - 1)) as u32
    }
}

/// A LIBSVM file read into memory: the dataset and what the reader counted.
#[derive(Clone, Debug, PartialEq)]
pub struct LibsvmData {
    /// The rows.
    pub data: CsrDataset,
    /// Lines in the (decompressed) text, data or not.
    pub lines: usize,
    /// Bytes of (decompressed) text.
    pub bytes: usize,
    /// Where the largest feature index is written, as (line, column) from
    /// 1 (its first occurrence): the token that decides the dataset's width
    /// when [`LibsvmOptions::n_features`] does not. `None` when no row has a
    /// feature.
    pub widest: Option<(usize, usize)>,
}

const DEFAULT_CHUNK: usize = 1 << 20;

/// Reads a LIBSVM/SVMlight file (gzip-compressed or not: the content decides,
/// not the name), within the limits of [`LibsvmOptions::read`].
///
/// Before the whole text is parsed (and before a file is read past its
/// first 64 KiB), its head is checked: a NUL byte there is an error
/// ([`ParseIssue::NulByte`]: binary data), and so is the first malformed
/// line of the head, found without reading the rest.
///
/// ```
/// use wildsgd::data::{read_libsvm_bytes, LibsvmOptions};
///
/// let text = b"+1 1:0.5 3:2 # a comment\r\n\n-1 qid:4 2:1.5\n";
/// let d = read_libsvm_bytes("inline", text, &LibsvmOptions::default()).unwrap().data;
/// assert_eq!((d.len(), d.n_features(), d.nnz()), (2, 3, 3));
/// assert_eq!(d.row(0).indices, &[0, 2]); // file index 1 is feature 0
///
/// let err = read_libsvm_bytes("bad.svm", b"1 1:0.5\n1 4:x\n", &LibsvmOptions::default()).unwrap_err();
/// assert_eq!(err.to_string(), "bad.svm: line 2, column 5: value \"x\" is not a number");
///
/// // Where the widest feature is, for a message about the model's size.
/// let d = read_libsvm_bytes("w.svm", b"1 2:1\n0 1:1 4294967295:1\n", &LibsvmOptions::default()).unwrap();
/// assert_eq!((d.data.n_features(), d.widest), (4294967295, Some((2, 7))));
/// ```
pub fn read_libsvm(path: impl AsRef<Path>, opts: &LibsvmOptions) -> Result<LibsvmData, Error> {
    let path = path.as_ref();
    let text = match opts.hashing {
        None => read_file(path, &opts.read, Some(&first_error))?,
        Some(_) => read_file(path, &opts.read, Some(&first_error_hashed))?,
    };
    parse_text(&display_name(path), &text, opts)
}

/// Reads LIBSVM text (or gzip-compressed text) held in memory; `name` is
/// what error messages call it.
pub fn read_libsvm_bytes(name: &str, bytes: &[u8], opts: &LibsvmOptions) -> Result<LibsvmData, Error> {
    let text = match opts.hashing {
        None => decode_bytes(name, bytes, &opts.read, Some(&first_error))?,
        Some(_) => decode_bytes(name, bytes, &opts.read, Some(&first_error_hashed))?,
    };
    parse_text(name, &text, opts)
}

/// [`first_error`] for hashed text: any token is a feature name (so the
/// check is of labels and values only; the seed and width do not matter).
fn first_error_hashed(name: &str, text: &[u8]) -> Result<(), Error> {
    let h = Hashing { bits: 1, seed: 0 };
    match parse_chunk_hashed(text, h, &mut Vec::new()).error {
        Some((line, column, what)) => Err(parse_error(name, line, column, what)),
        None => Ok(()),
    }
}

/// The first error of some whole lines of LIBSVM text (what [`check_head`] needs).
fn first_error(name: &str, text: &[u8]) -> Result<(), Error> {
    match parse_chunk(text).error {
        Some((line, column, what)) => Err(parse_error(name, line, column, what)),
        None => Ok(()),
    }
}

/// One chunk's rows, or the first error in it.
#[derive(Default)]
struct Chunk {
    row_nnz: Vec<u32>,
    indices: Vec<u32>,
    values: Vec<f32>,
    labels: Vec<f32>,
    /// Lines fully scanned (all of them unless `error` is set).
    lines: usize,
    /// One more than the largest 0-based feature index seen.
    width: usize,
    /// Where the first feature of index `width` is (line within the chunk
    /// from 1, column from 1); (0, 0) when `width` is 0.
    widest: (usize, usize),
    /// (line within the chunk from 1, column from 1, issue).
    error: Option<(usize, usize, ParseIssue)>,
}

fn parse_text(name: &str, text: &[u8], opts: &LibsvmOptions) -> Result<LibsvmData, Error> {
    if text.is_empty() {
        return Err(Error::EmptyFile {
            file: name.to_string(),
            detail: "",
        });
    }
    match opts.hashing {
        None => check_head(name, text, false, &first_error)?,
        Some(_) => check_head(name, text, false, &first_error_hashed)?,
    }
    let parsed = parse_lines_at(name, text, opts.chunk_bytes, opts.hashing, 0)?;
    if parsed.rows() == 0 {
        return Err(Error::EmptyFile {
            file: name.to_string(),
            detail: ", only comments and blank lines",
        });
    }
    let (lines, widest) = (parsed.lines, parsed.widest);
    let width = match opts.hashing {
        Some(h) => Some(h.width()),
        None => opts.n_features,
    };
    let data = assemble(name, vec![parsed], width)?;
    Ok(LibsvmData {
        data,
        lines,
        bytes: text.len(),
        widest,
    })
}

/// Whole lines of LIBSVM text, parsed: what [`assemble`] makes a dataset of.
pub(super) struct Parsed {
    chunks: Vec<Chunk>,
    /// Lines in the text, data or not.
    pub(super) lines: usize,
    /// One more than the largest 0-based feature index seen (0: none).
    pub(super) width: usize,
    /// Where the first feature of index `width` is, as (line within the
    /// text from 1, column from 1).
    pub(super) widest: Option<(usize, usize)>,
}

impl Parsed {
    /// The rows parsed.
    pub(super) fn rows(&self) -> usize {
        self.chunks.iter().map(|c| c.labels.len()).sum()
    }

    /// Calls `f` with each row's indices, values and label, in order.
    pub(super) fn for_each_row(&self, mut f: impl FnMut(&[u32], &[f32], f32)) {
        for c in &self.chunks {
            let mut at = 0usize;
            for (&k, &y) in c.row_nnz.iter().zip(&c.labels) {
                let r = at..at + k as usize;
                f(&c.indices[r.clone()], &c.values[r], y);
                at += k as usize;
            }
        }
    }
}

/// Parses whole lines of LIBSVM text in parallel chunks of about
/// `chunk_bytes` (0: the default). The first error is a parse error of
/// `name` with lines counted from 1 at the start of `text` (a caller
/// parsing a piece of a file adds the lines before it).
pub(super) fn parse_lines(name: &str, text: &[u8], chunk_bytes: usize) -> Result<Parsed, Error> {
    parse_lines_at(name, text, chunk_bytes, None, 0)
}

/// [`parse_lines`], hashing feature names when `hashing` says so, with
/// `first_line` lines before `text` (a piece of a longer text) counted
/// in errors and in [`Parsed::widest`].
pub(super) fn parse_lines_at(
    name: &str,
    text: &[u8],
    chunk_bytes: usize,
    hashing: Option<Hashing>,
    first_line: usize,
) -> Result<Parsed, Error> {
    // The chunks start with room for a value per 10 bytes of text (8 bytes
    // each, index and value) and a row per 256: about 0.83 bytes per byte.
    crate::limits::check_memory(
        format_args!("parsing {name}"),
        (text.len() as u64).saturating_mul(5) / 6,
    )?;
    let chunks = split_chunks(text, if chunk_bytes == 0 { DEFAULT_CHUNK } else { chunk_bytes });
    let one = |s: &[u8]| match hashing {
        None => parse_chunk(s),
        Some(h) => parse_chunk_hashed(s, h, &mut Vec::new()),
    };
    let parsed: Vec<Chunk> = if chunks.len() <= 1 {
        vec![one(text)]
    } else {
        chunks.par_iter().map(|r| one(&text[r.clone()])).collect()
    };
    let mut line_base = first_line;
    let (mut width, mut widest) = (0, None);
    for c in &parsed {
        if let Some((line, column, what)) = &c.error {
            return Err(parse_error(name, line_base + line, *column, what.clone()));
        }
        if c.width > width {
            width = c.width;
            widest = Some((line_base + c.widest.0, c.widest.1));
        }
        line_base += c.lines;
    }
    Ok(Parsed {
        chunks: parsed,
        lines: line_base - first_line,
        width,
        widest,
    })
}

/// The dataset of some parsed texts, their rows in order, `n_features`
/// wide at least.
pub(super) fn assemble(name: &str, parts: Vec<Parsed>, n_features: Option<usize>) -> Result<CsrDataset, Error> {
    let chunks = || parts.iter().flat_map(|p| &p.chunks);
    let rows: usize = chunks().map(|c| c.labels.len()).sum();
    let nnz: usize = chunks().map(|c| c.indices.len()).sum();
    let width = parts
        .iter()
        .map(|p| p.width)
        .max()
        .unwrap_or(0)
        .max(n_features.unwrap_or(0));
    // The dataset's arrays, while the chunks' copies still exist.
    let needed = (rows as u64 + 1)
        .saturating_mul(8)
        .saturating_add((nnz as u64).saturating_mul(8))
        .saturating_add((rows as u64).saturating_mul(4));
    crate::limits::check_memory(format_args!("the {rows} rows and {nnz} values of {name}"), needed)?;
    let mut indptr = Vec::with_capacity(rows + 1);
    let mut indices = Vec::with_capacity(nnz);
    let mut values = Vec::with_capacity(nnz);
    let mut labels = Vec::with_capacity(rows);
    indptr.push(0usize);
    let mut at = 0usize;
    for c in parts.into_iter().flat_map(|p| p.chunks) {
        for &k in &c.row_nnz {
            at += k as usize;
            indptr.push(at);
        }
        indices.extend_from_slice(&c.indices);
        values.extend_from_slice(&c.values);
        labels.extend_from_slice(&c.labels);
    }
    CsrDataset::from_parts(indptr, indices, values, labels, width)
}

/// Cuts `text` into ranges of about `target` bytes, each ending just after a
/// newline (the last one at the end of the text).
fn split_chunks(text: &[u8], target: usize) -> Vec<Range<usize>> {
    let mut out = Vec::with_capacity(text.len() / target + 1);
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + target).min(text.len());
        while end < text.len() && text[end - 1] != b'\n' {
            end += 1;
        }
        out.push(start..end);
        start = end;
    }
    out
}

#[inline]
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\x0b' | b'\x0c')
}

/// Parses whole lines of LIBSVM text.
fn parse_chunk(s: &[u8]) -> Chunk {
    let mut c = Chunk {
        row_nnz: Vec::with_capacity(s.len() / 256 + 1),
        indices: Vec::with_capacity(s.len() / 10 + 1),
        values: Vec::with_capacity(s.len() / 10 + 1),
        labels: Vec::with_capacity(s.len() / 256 + 1),
        ..Chunk::default()
    };
    let n = s.len();
    let mut pos = 0;
    let mut max_index: u64 = 0;
    let mut widest = (0, 0);
    while pos < n {
        let line_start = pos;
        c.lines += 1;
        let fail = |c: &mut Chunk, at: usize, what: ParseIssue| {
            c.error = Some((c.lines, at - line_start + 1, what));
        };
        // Leading white space, then a blank or comment-only line?
        while pos < n && is_space(s[pos]) {
            pos += 1;
        }
        if pos == n || s[pos] == b'\n' || s[pos] == b'#' {
            while pos < n && s[pos] != b'\n' {
                pos += 1;
            }
            pos += 1;
            continue;
        }
        // The label.
        let start = pos;
        while pos < n && !is_space(s[pos]) && s[pos] != b'\n' && s[pos] != b'#' {
            pos += 1;
        }
        let tok = &s[start..pos];
        let label = match parse_f32(tok) {
            Some(v) if v.is_finite() => v,
            Some(_) => {
                fail(&mut c, start, ParseIssue::NonFiniteLabel { text: quote(tok) });
                return c;
            }
            None => {
                fail(&mut c, start, ParseIssue::BadLabel { text: quote(tok) });
                return c;
            }
        };
        // The features.
        let row_start = c.indices.len();
        let mut prev: u64 = 0;
        // Where the row's last (so largest) feature starts.
        let mut last_start = start;
        loop {
            while pos < n && is_space(s[pos]) {
                pos += 1;
            }
            if pos == n || s[pos] == b'\n' {
                break;
            }
            if s[pos] == b'#' {
                while pos < n && s[pos] != b'\n' {
                    pos += 1;
                }
                break;
            }
            let start = pos;
            // The index: digits up to the colon.
            let mut idx: u64 = 0;
            let mut overflow = false;
            while pos < n && s[pos].is_ascii_digit() {
                idx = idx * 10 + u64::from(s[pos] - b'0');
                if idx > u64::from(u32::MAX) {
                    overflow = true;
                    idx = u64::from(u32::MAX) + 1;
                }
                pos += 1;
            }
            let digits_end = pos;
            if pos < n && s[pos] == b':' && digits_end > start {
                pos += 1;
            } else {
                // Not DIGITS:... — find the token's end to say what it is.
                while pos < n && !is_space(s[pos]) && s[pos] != b'\n' && s[pos] != b'#' {
                    pos += 1;
                }
                let tok = &s[start..pos];
                if tok.starts_with(b"qid:") {
                    continue;
                }
                let issue = match tok.iter().position(|&b| b == b':') {
                    None => ParseIssue::MissingColon { token: quote(tok) },
                    Some(k) => ParseIssue::BadIndex { text: quote(&tok[..k]) },
                };
                fail(&mut c, start, issue);
                return c;
            }
            if overflow {
                fail(
                    &mut c,
                    start,
                    ParseIssue::IndexTooLarge {
                        text: quote(&s[start..digits_end]),
                    },
                );
                return c;
            }
            if idx == 0 {
                fail(&mut c, start, ParseIssue::ZeroIndex);
                return c;
            }
            if c.indices.len() > row_start && idx <= prev {
                let issue = if idx == prev {
                    ParseIssue::DuplicateIndex { index: idx }
                } else {
                    ParseIssue::DescendingIndex {
                        index: idx,
                        previous: prev,
                    }
                };
                fail(&mut c, start, issue);
                return c;
            }
            prev = idx;
            // The value.
            let vstart = pos;
            while pos < n && !is_space(s[pos]) && s[pos] != b'\n' && s[pos] != b'#' {
                pos += 1;
            }
            let tok = &s[vstart..pos];
            match parse_f32(tok) {
                Some(v) if v.is_finite() => {
                    c.indices.push((idx - 1) as u32);
                    c.values.push(v);
                    last_start = start;
                }
                Some(_) => {
                    fail(&mut c, vstart, ParseIssue::NonFiniteValue { text: quote(tok) });
                    return c;
                }
                None => {
                    fail(&mut c, vstart, ParseIssue::BadValue { text: quote(tok) });
                    return c;
                }
            }
        }
        if prev > max_index {
            max_index = prev;
            widest = (c.lines, last_start - line_start + 1);
        }
        c.row_nnz.push((c.indices.len() - row_start) as u32);
        c.labels.push(label);
        pos += 1; // the newline (or one past the end)
    }
    c.width = max_index as usize;
    c.widest = widest;
    c
}

/// Parses whole lines of LIBSVM-like text whose feature names are hashed
/// (see [`Hashing`]): `row` is scratch space for one row's features.
fn parse_chunk_hashed(s: &[u8], h: Hashing, row: &mut Vec<(u32, f32)>) -> Chunk {
    let mut c = Chunk {
        row_nnz: Vec::with_capacity(s.len() / 256 + 1),
        indices: Vec::with_capacity(s.len() / 10 + 1),
        values: Vec::with_capacity(s.len() / 10 + 1),
        labels: Vec::with_capacity(s.len() / 256 + 1),
        ..Chunk::default()
    };
    let n = s.len();
    let mut pos = 0;
    let mut width = 0u32;
    let mut widest = (0, 0);
    let ends_token = |b: u8| is_space(b) || b == b'\n' || b == b'#';
    while pos < n {
        let line_start = pos;
        c.lines += 1;
        let fail = |c: &mut Chunk, at: usize, what: ParseIssue| {
            c.error = Some((c.lines, at - line_start + 1, what));
        };
        while pos < n && is_space(s[pos]) {
            pos += 1;
        }
        if pos == n || s[pos] == b'\n' || s[pos] == b'#' {
            while pos < n && s[pos] != b'\n' {
                pos += 1;
            }
            pos += 1;
            continue;
        }
        let start = pos;
        while pos < n && !ends_token(s[pos]) {
            pos += 1;
        }
        let tok = &s[start..pos];
        let label = match parse_f32(tok) {
            Some(v) if v.is_finite() => v,
            Some(_) => {
                fail(&mut c, start, ParseIssue::NonFiniteLabel { text: quote(tok) });
                return c;
            }
            None => {
                fail(&mut c, start, ParseIssue::BadLabel { text: quote(tok) });
                return c;
            }
        };
        row.clear();
        loop {
            while pos < n && is_space(s[pos]) {
                pos += 1;
            }
            if pos == n || s[pos] == b'\n' {
                break;
            }
            if s[pos] == b'#' {
                while pos < n && s[pos] != b'\n' {
                    pos += 1;
                }
                break;
            }
            let start = pos;
            while pos < n && !ends_token(s[pos]) {
                pos += 1;
            }
            let tok = &s[start..pos];
            if tok.starts_with(b"qid:") {
                continue;
            }
            let (name, value) = match tok.iter().rposition(|&b| b == b':') {
                None => (tok, 1.0),
                Some(k) => {
                    let text = &tok[k + 1..];
                    match parse_f32(text) {
                        Some(v) if v.is_finite() => (&tok[..k], v),
                        Some(_) => {
                            fail(&mut c, start + k + 1, ParseIssue::NonFiniteValue { text: quote(text) });
                            return c;
                        }
                        None => {
                            fail(&mut c, start + k + 1, ParseIssue::BadValue { text: quote(text) });
                            return c;
                        }
                    }
                }
            };
            if name.is_empty() {
                fail(&mut c, start, ParseIssue::BadIndex { text: quote(name) });
                return c;
            }
            row.push((h.column(name), value));
        }
        row.sort_unstable_by_key(|&(j, _)| j);
        let row_start = c.indices.len();
        for &(j, v) in row.iter() {
            if c.indices.len() > row_start && c.indices.last() == Some(&j) {
                *c.values.last_mut().expect("a value per index") += v;
            } else {
                c.indices.push(j);
                c.values.push(v);
            }
        }
        // A sum of finite values may overflow: the row is then unusable.
        if c.values[row_start..].iter().any(|v| !v.is_finite()) {
            fail(
                &mut c,
                start,
                ParseIssue::NonFiniteValue {
                    text: "the sum of the values that hash to one column".into(),
                },
            );
            return c;
        }
        if let Some(&last) = c.indices[row_start..].last() {
            if last + 1 > width {
                width = last + 1;
                widest = (c.lines, 1);
            }
        }
        c.row_nnz.push((c.indices.len() - row_start) as u32);
        c.labels.push(label);
        pos += 1;
    }
    c.width = width as usize;
    c.widest = widest;
    c
}

/// Writes `data` in LIBSVM format (feature `j` as index `j + 1`), with
/// labels and values in the shortest form that reads back to the same `f32`
/// bits.
pub fn write_libsvm<W: Write>(mut out: W, data: &CsrDataset) -> std::io::Result<()> {
    let mut line = String::with_capacity(256);
    for i in 0..data.len() {
        use std::fmt::Write as _;
        let r = data.row(i);
        line.clear();
        let _ = write!(line, "{}", r.label);
        for (&j, &v) in r.indices.iter().zip(r.values) {
            let _ = write!(line, " {}:{}", u64::from(j) + 1, v);
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    out.flush()
}

/// Writes `data` to a LIBSVM file, gzip-compressed if the name ends in `.gz`.
pub fn write_libsvm_file(path: impl AsRef<Path>, data: &CsrDataset) -> Result<(), Error> {
    let path = path.as_ref();
    let io = |source| Error::Io {
        file: display_name(path),
        source,
    };
    let file = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    if path.extension().is_some_and(|e| e == "gz") {
        let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
        write_libsvm(&mut gz, data).map_err(io)?;
        gz.finish().map_err(io)?.flush().map_err(io)
    } else {
        write_libsvm(file, data).map_err(io)
    }
}

/// Maps a two-class label set to ±1 in place: `{-1, +1}` stays, `{0, 1}`
/// becomes `{-1, +1}`, and any other pair becomes -1 for the smaller and +1
/// for the larger. Returns the original (negative, positive) labels. More
/// than two distinct labels (multiclass or real targets) are an error.
pub fn binary_labels(data: &mut CsrDataset) -> Result<(f32, f32), Error> {
    let mut classes: Vec<f32> = Vec::with_capacity(2);
    for (row, &y) in data.labels().iter().enumerate() {
        if !classes.contains(&y) {
            if classes.len() == 2 {
                return Err(Error::InvalidSample {
                    row,
                    reason: format!(
                        "label {y} is a third class (after {} and {}): a binary model needs two",
                        classes[0], classes[1]
                    ),
                });
            }
            classes.push(y);
        }
    }
    let (neg, pos) = binary_pair(&mut classes);
    binary_labels_as(data, neg, pos)?;
    Ok((neg, pos))
}

/// The (negative, positive) classes [`binary_labels`] maps to −1 and +1,
/// from the at most two distinct labels seen (sorted in place): one class
/// `a` pairs with `−a`, and a lone 0 is the negative class.
pub fn binary_pair(classes: &mut [f32]) -> (f32, f32) {
    classes.sort_by(f32::total_cmp);
    match *classes {
        [a, b] => (a, b),
        [a] if a > 0.0 => (-a, a),
        [a] if a < 0.0 => (a, -a),
        _ => (0.0, 1.0), // one class, 0: it is the negative one
    }
}

/// Maps the two classes `neg` and `pos` to −1 and +1 as
/// [`binary_labels`] would have found them (for rows that hold only some of
/// a larger dataset's classes: a data-parallel job's share); a label that is
/// neither is an error naming its row.
///
/// ```
/// use wildsgd::data::{binary_labels_as, CsrDataset};
///
/// let mut d = CsrDataset::new(1);
/// d.push(&[0], &[1.0], 2.0).unwrap();
/// binary_labels_as(&mut d, 2.0, 5.0).unwrap(); // 2 is the negative class here
/// assert_eq!(d.labels(), &[-1.0]);
/// assert!(binary_labels_as(&mut d, 0.0, 1.0).is_err());
/// ```
pub fn binary_labels_as(data: &mut CsrDataset, neg: f32, pos: f32) -> Result<(), Error> {
    if let Some(row) = data.labels().iter().position(|&y| y != neg && y != pos) {
        return Err(Error::InvalidSample {
            row,
            reason: format!(
                "label {} is a third class (after {neg} and {pos}): a binary model needs two",
                data.labels()[row]
            ),
        });
    }
    let labels = data
        .labels()
        .iter()
        .map(|&y| if y == pos { 1.0 } else { -1.0 })
        .collect();
    data.set_labels(labels);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, chunk: usize) -> Result<CsrDataset, Error> {
        read_libsvm_bytes(
            "t",
            text.as_bytes(),
            &LibsvmOptions {
                chunk_bytes: chunk,
                ..LibsvmOptions::default()
            },
        )
        .map(|d| d.data)
    }

    #[test]
    fn chunked_and_whole_parses_agree_and_errors_keep_their_line() {
        let mut text = String::new();
        for i in 0..500 {
            text.push_str(&format!("{} {}:{} {}:0.25\n", i % 2, i % 7 + 1, i, i % 7 + 9));
        }
        let whole = parse(&text, 0).unwrap();
        for chunk in [1, 7, 64, 1000] {
            assert_eq!(parse(&text, chunk).unwrap(), whole, "chunk {chunk}");
        }
        text.push_str("1 3:1 2:1\n");
        for chunk in [1, 7, 64, 0] {
            let e = parse(&text, chunk).unwrap_err().to_string();
            assert_eq!(
                e,
                "t: line 501, column 7: feature index 2 comes after 3: indices must be in increasing order"
            );
        }
    }

    #[test]
    fn binary_label_mapping() {
        let mut d = parse("0 1:1\n1 1:1\n0 2:1\n", 0).unwrap();
        assert_eq!(binary_labels(&mut d).unwrap(), (0.0, 1.0));
        assert_eq!(d.labels(), &[-1.0, 1.0, -1.0]);
        let mut d = parse("1 1:1\n2 1:1\n3 2:1\n", 0).unwrap();
        assert!(binary_labels(&mut d)
            .unwrap_err()
            .to_string()
            .contains("row 2: label 3 is a third class"));
    }
}
