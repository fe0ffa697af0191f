//! Sharded reading for data-parallel training: each of `ranks` processes
//! reads and parses only its part of a text file ([`read_libsvm_shard`],
//! [`read_ratings_shard`]).
//!
//! How a file is split, what a rank reads and what it reports: see [`Shard`].

use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::Path;

use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::libsvm::{assemble, parse_lines, Parsed};
use super::parse::{display_name, end_position, is_gzip, parse_error, read_file, ParseIssue, Separator, HEAD_BYTES};
use super::ratings::{is_data_line, RatingsParse};
use super::{CsrDataset, LibsvmOptions, Ratings, ReadOptions};
use crate::error::Error;

/// The most ranks a [`Shard`] may name.
pub const MAX_RANKS: usize = 1 << 18;

/// Pieces per rank, at least.
const PIECES_PER_RANK: u64 = 16;

/// The most bytes of a piece, when there are enough ranks' pieces for it.
const PIECE_BYTES: u64 = 4 << 20;

/// The most pieces (16 per rank for [`MAX_RANKS`]): past 16 TiB of text, pieces grow past 4 MiB.
const MAX_PIECES: u64 = 1 << 22;

/// The bytes read at a time when looking for the end of the line at a cut.
const WINDOW: usize = 4 << 10;

/// One rank's part of the data: rank `rank` of `ranks`, with the `seed`
/// that decides which pieces of a file go to which rank. All ranks must
/// use the same `ranks` and `seed`.
///
/// # How a file is split
///
/// The file's `size` bytes are cut into `C` pieces of near-equal size,
/// `C = max(16 × ranks, size / 4 MiB)`, at most `max(2^22, ranks)` and at
/// most `size` ([`Shard::pieces`]). Each cut is then moved forward to just
/// after the next `'\n'` (a cut already at a line start stays), so pieces
/// hold whole lines, and every line lies in exactly one piece; pieces left
/// empty (a line longer than a piece) are dropped. The pieces are dealt to
/// the ranks round-robin in the order of a permutation seeded with
/// [`Shard::seed`] (`Xoshiro256PlusPlus`): rank `r` gets the pieces at
/// positions `r, r + ranks, r + 2·ranks, ...` of the permutation, about
/// `C / ranks` pieces spread over the whole file, so a file sorted by label
/// or by user still gives each rank a mix. The split depends only on the
/// file's content (its size and where its newlines are), `ranks` and
/// `seed`: every rank computes the same split without talking to the
/// others, and a rerun gets the same one.
///
/// The permutation deals the `C` pieces as cut from the size, before the
/// empty ones are known, so that a rank locates only the cuts around its
/// own pieces (two small reads each) rather than all `C`; a rank whose
/// pieces are all empty, or hold only comments, gets no rows (see below).
///
/// # What a rank reads
///
/// From a plain file, only its pieces (a seek and one read each) and a
/// window of a few KiB at each cut around them; a ratings file also has its
/// first data line read (which decides the separator). Lines before a
/// piece are counted only to name the line of an error. A gzip-compressed
/// file (the content decides, as for every reader) cannot be read from the
/// middle: every rank decompresses the whole stream (within
/// [`ReadOptions::max_bytes`]), holds the text in memory once, and parses
/// only its pieces of it, cut from the decompressed text exactly as from a
/// plain file of that text (so the split is the same as the plain file's).
///
/// # Rows, widths and errors
///
/// A rank's rows are those of its pieces in file order. A rank whose
/// pieces hold no rows gets an empty dataset, not an error: the caller
/// decides (an all-reduce of the row counts, say). An empty file (no bytes
/// of text) is [`Error::EmptyFile`] on every rank.
///
/// A rank parses only its pieces, so it reports the first error *in its
/// pieces*: another rank may report another error of the same file, or
/// none. The message is the one the single-process reader gives for that
/// line when it is the file's first error: the file's name, the absolute
/// line (the lines before the piece are counted then) and the column.
///
/// # Example
///
/// ```
/// use wildsgd::data::Shard;
///
/// let shard = Shard::new(1, 4, 7)?;
/// assert_eq!((shard.rank, shard.ranks), (1, 4));
/// assert!(Shard::new(4, 4, 7).is_err()); // ranks are 0..4
/// assert!(Shard::new(0, 0, 7).is_err());
/// // A 1 GiB file is cut into 256 pieces of 4 MiB; a small one into 16 per rank.
/// assert_eq!((shard.pieces(1 << 30), shard.pieces(1000), shard.pieces(10)), (256, 64, 10));
/// # Ok::<(), wildsgd::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shard {
    /// This rank, in `0..ranks`.
    pub rank: usize,
    /// The number of ranks, from 1 to [`MAX_RANKS`].
    pub ranks: usize,
    /// The seed of the pieces' permutation.
    pub seed: u64,
}

impl Shard {
    /// Rank `rank` of `ranks`, checked ([`check`](Self::check)).
    pub fn new(rank: usize, ranks: usize, seed: u64) -> Result<Shard, Error> {
        let shard = Shard { rank, ranks, seed };
        shard.check()?;
        Ok(shard)
    }

    /// The whole data as one rank's part (one rank, seed 0).
    pub fn whole() -> Shard {
        Shard {
            rank: 0,
            ranks: 1,
            seed: 0,
        }
    }

    /// Checks that `ranks` is from 1 to [`MAX_RANKS`] and `rank` below it.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming what is wrong.
    pub fn check(&self) -> Result<(), Error> {
        let bad = |name, reason| Err(Error::InvalidParameter { name, reason });
        if self.ranks == 0 {
            return bad("ranks", "there must be at least one rank".to_string());
        }
        if self.ranks > MAX_RANKS {
            return bad(
                "ranks",
                format!("{} ranks, more than the limit of {MAX_RANKS}", self.ranks),
            );
        }
        if self.rank >= self.ranks {
            return bad(
                "rank",
                format!(
                    "rank {} is not one of the {} ranks (0 to {})",
                    self.rank,
                    self.ranks,
                    self.ranks - 1
                ),
            );
        }
        Ok(())
    }

    /// The number of pieces a text of `size` bytes is cut into:
    /// `max(16 × ranks, size / 4 MiB)`, at most `max(2^22, ranks)` and at
    /// most `size` (0 for an empty text).
    pub fn pieces(&self, size: u64) -> u64 {
        let ranks = self.ranks.max(1) as u64;
        (PIECES_PER_RANK.saturating_mul(ranks))
            .max(size / PIECE_BYTES)
            .min(MAX_PIECES.max(ranks))
            .min(size)
    }

    /// The pieces (as indices from 0, ascending) of a text of `size` bytes
    /// dealt to this rank, and their number in all.
    fn my_pieces(&self, size: u64) -> Result<(Vec<u64>, u64), Error> {
        self.check()?;
        let c = self.pieces(size);
        let mut order: Vec<u32> = (0..c as u32).collect();
        order.shuffle(&mut Xoshiro256PlusPlus::seed_from_u64(self.seed));
        let mut mine: Vec<u64> = order
            .iter()
            .skip(self.rank)
            .step_by(self.ranks)
            .map(|&p| u64::from(p))
            .collect();
        mine.sort_unstable();
        Ok((mine, c))
    }

    /// This rank's byte ranges of a text of `size` bytes, in file order,
    /// each of whole lines and not empty (adjacent ones merged);
    /// `line_start(c)` is the first line start at or after `c`.
    fn ranges(
        &self,
        size: u64,
        mut line_start: impl FnMut(u64) -> Result<u64, Error>,
    ) -> Result<Vec<Range<u64>>, Error> {
        let (mine, c) = self.my_pieces(size)?;
        let cut = |i: u64| (u128::from(i) * u128::from(size) / u128::from(c.max(1))) as u64;
        let mut out: Vec<Range<u64>> = Vec::new();
        // The last cut located, (piece index, offset): adjacent pieces share one.
        let mut last: Option<(u64, u64)> = None;
        for p in mine {
            let start = match last {
                Some((i, at)) if i == p => at,
                _ => line_start(cut(p))?,
            };
            let end = line_start(cut(p + 1))?;
            last = Some((p + 1, end));
            if start >= end {
                continue;
            }
            match out.last_mut() {
                Some(prev) if prev.end == start => prev.end = end,
                _ => out.push(start..end),
            }
        }
        Ok(out)
    }

    /// This rank's byte ranges of a plain (uncompressed) file: whole lines,
    /// in file order, not empty, adjacent ones merged; together, the ranks'
    /// ranges cover the file once. Only a window of a few KiB is read at
    /// each cut around this rank's pieces (more where a line is longer).
    ///
    /// The file's bytes are taken as they are: for a gzip file, the ranges
    /// of its compressed bytes are meaningless, and the readers cut its
    /// decompressed text instead ([`text_ranges`](Self::text_ranges)).
    ///
    /// ```
    /// use wildsgd::data::Shard;
    ///
    /// # let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("rows.txt");
    /// let text: String = (0..100).map(|i| format!("row {i}\n")).collect();
    /// std::fs::write(&path, &text).unwrap();
    /// let mut all = Vec::new();
    /// for rank in 0..3 {
    ///     all.extend(Shard::new(rank, 3, 42)?.file_ranges(&path)?);
    /// }
    /// all.sort_by_key(|r| r.start);
    /// assert_eq!((all[0].start, all.last().unwrap().end), (0, text.len() as u64));
    /// assert!(all.windows(2).all(|w| w[0].end <= w[1].start));
    /// assert_eq!(all.iter().map(|r| r.end - r.start).sum::<u64>(), text.len() as u64);
    /// # Ok::<(), wildsgd::Error>(())
    /// ```
    pub fn file_ranges(&self, path: impl AsRef<Path>) -> Result<Vec<Range<u64>>, Error> {
        let path = path.as_ref();
        let name = display_name(path);
        let io = |source| Error::Io {
            file: name.clone(),
            source,
        };
        let mut file = File::open(path).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        self.file_ranges_in(&name, &mut file, size, WINDOW)
    }

    fn file_ranges_in(&self, name: &str, file: &mut File, size: u64, window: usize) -> Result<Vec<Range<u64>>, Error> {
        let mut buf = vec![0u8; window.max(1)];
        self.ranges(size, |c| file_line_start(name, file, size, c, &mut buf))
    }

    /// This rank's ranges of a text in memory (cut as
    /// [`file_ranges`](Self::file_ranges) cuts a file of these bytes).
    ///
    /// ```
    /// use wildsgd::data::Shard;
    ///
    /// let text = b"a\nbb\nccc\ndddd\n";
    /// let mut lines = 0;
    /// for rank in 0..2 {
    ///     for r in Shard::new(rank, 2, 1)?.text_ranges(text)? {
    ///         assert!(r.start == 0 || text[r.start - 1] == b'\n'); // whole lines
    ///         lines += text[r].iter().filter(|&&b| b == b'\n').count();
    ///     }
    /// }
    /// assert_eq!(lines, 4);
    /// # Ok::<(), wildsgd::Error>(())
    /// ```
    pub fn text_ranges(&self, text: &[u8]) -> Result<Vec<Range<usize>>, Error> {
        let ranges = self.ranges(text.len() as u64, |c| Ok(text_line_start(text, c as usize) as u64))?;
        Ok(ranges.into_iter().map(|r| r.start as usize..r.end as usize).collect())
    }
}

/// The first line start at or after `c` in `text`.
fn text_line_start(text: &[u8], c: usize) -> usize {
    if c == 0 || c >= text.len() {
        return c.min(text.len());
    }
    text[c - 1..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(text.len(), |k| c + k)
}

/// The first line start at or after `c` in a file of `size` bytes, read
/// a window (`buf`) at a time from just before `c`.
fn file_line_start(name: &str, file: &mut File, size: u64, c: u64, buf: &mut [u8]) -> Result<u64, Error> {
    if c == 0 || c >= size {
        return Ok(c.min(size));
    }
    let io = |source| Error::Io {
        file: name.to_string(),
        source,
    };
    let mut at = c - 1;
    file.seek(SeekFrom::Start(at)).map_err(io)?;
    loop {
        let got = match file.read(buf) {
            Ok(0) => return Ok(size),
            Ok(k) => k,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(io(e)),
        };
        if let Some(k) = buf[..got].iter().position(|&b| b == b'\n') {
            return Ok((at + k as u64 + 1).min(size));
        }
        at += got as u64;
    }
}

/// Where a rank's text comes from: a plain file it reads piece by piece,
/// or the whole (decompressed) text in memory.
enum Source {
    File { file: File, size: u64 },
    Memory(Vec<u8>),
}

/// An open input and this rank's ranges of its text.
struct Opened {
    name: String,
    source: Source,
    ranges: Vec<Range<u64>>,
    /// The buffer a piece of a plain file is read into.
    buf: Vec<u8>,
}

impl Opened {
    /// Opens `path` and finds this rank's ranges (see [`Shard`]'s
    /// documentation), within `read`'s limit: on this rank's bytes for a
    /// plain file, on the whole text for a gzip file or a stream.
    fn new(path: &Path, shard: &Shard, read: &ReadOptions) -> Result<Opened, Error> {
        shard.check()?;
        let name = display_name(path);
        let io = |source| Error::Io {
            file: name.clone(),
            source,
        };
        let mut file = File::open(path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
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
        let (source, ranges) = if meta.is_file() && !is_gzip(&magic[..got]) {
            let size = meta.len();
            let ranges = shard.file_ranges_in(&name, &mut file, size, WINDOW)?;
            let mine: u64 = ranges.iter().map(|r| r.end - r.start).sum();
            if mine > read.max_bytes {
                return Err(Error::InputTooLarge {
                    file: name,
                    limit: read.max_bytes,
                });
            }
            (Source::File { file, size }, ranges)
        } else {
            drop(file);
            let text = read_file(path, read, None)?;
            let ranges = shard
                .text_ranges(&text)?
                .into_iter()
                .map(|r| r.start as u64..r.end as u64)
                .collect();
            (Source::Memory(text), ranges)
        };
        let opened = Opened {
            name,
            source,
            ranges,
            buf: Vec::new(),
        };
        if opened.size() == 0 {
            return Err(Error::EmptyFile {
                file: opened.name,
                detail: "",
            });
        }
        Ok(opened)
    }

    /// The size of the whole text.
    fn size(&self) -> u64 {
        match &self.source {
            Source::File { size, .. } => *size,
            Source::Memory(text) => text.len() as u64,
        }
    }

    /// The bytes of `range`, read (a plain file) or borrowed (in memory).
    fn piece(&mut self, range: Range<u64>) -> Result<&[u8], Error> {
        match &mut self.source {
            Source::Memory(text) => Ok(&text[range.start as usize..range.end as usize]),
            Source::File { file, .. } => {
                let len = range.end - range.start;
                let io = |source| Error::Io {
                    file: self.name.clone(),
                    source,
                };
                self.buf.clear();
                if (self.buf.capacity() as u64) < len {
                    crate::limits::reserve(&mut self.buf, len, format_args!("reading {}", self.name))?;
                }
                file.seek(SeekFrom::Start(range.start)).map_err(io)?;
                let read = file.take(len).read_to_end(&mut self.buf).map_err(io)?;
                if (read as u64) < len {
                    return Err(io(std::io::Error::new(
                        ErrorKind::UnexpectedEof,
                        format!(
                            "the file ended at byte {} while reading to byte {}",
                            range.start + read as u64,
                            range.end
                        ),
                    )));
                }
                Ok(&self.buf)
            }
        }
    }

    /// The number of `'\n'` before byte `at` of the text.
    fn newlines_before(&mut self, at: u64) -> Result<usize, Error> {
        let count = |b: &[u8]| b.iter().filter(|&&b| b == b'\n').count();
        match &mut self.source {
            Source::Memory(text) => Ok(count(&text[..at as usize])),
            Source::File { file, .. } => {
                let io = |source| Error::Io {
                    file: self.name.clone(),
                    source,
                };
                file.seek(SeekFrom::Start(0)).map_err(io)?;
                let mut input = BufReader::with_capacity(1 << 16, file.take(at));
                let mut n = 0;
                loop {
                    let chunk = input.fill_buf().map_err(io)?;
                    if chunk.is_empty() {
                        return Ok(n);
                    }
                    n += count(chunk);
                    let k = chunk.len();
                    input.consume(k);
                }
            }
        }
    }

    /// `e` with the lines before byte `start` added to its line, if it is a
    /// parse error (of a piece starting there).
    fn at_piece(&mut self, e: Error, start: u64) -> Error {
        match e {
            Error::Parse {
                file,
                line,
                column,
                what,
            } => match self.newlines_before(start) {
                Ok(before) => Error::Parse {
                    file,
                    line: line + before,
                    column,
                    what,
                },
                Err(io) => io,
            },
            e => e,
        }
    }

    /// The offset of the first data line of a ratings text (not blank, not
    /// a comment) and the separator it decides, or `None` if there is none.
    fn first_data_line(&mut self, limit: u64) -> Result<Option<(u64, Separator)>, Error> {
        let find = |input: &mut dyn BufRead, name: &str| -> Result<Option<(u64, Separator)>, Error> {
            let mut at = 0u64;
            let mut line = Vec::new();
            loop {
                line.clear();
                let got = input.read_until(b'\n', &mut line).map_err(|source| Error::Io {
                    file: name.to_string(),
                    source,
                })?;
                if got == 0 {
                    return Ok(None);
                }
                let text = line.strip_suffix(b"\n").unwrap_or(&line);
                if is_data_line(text) {
                    return Ok(Some((at, Separator::of(text))));
                }
                at += got as u64;
            }
        };
        match &mut self.source {
            Source::Memory(text) => find(&mut &text[..], &self.name),
            Source::File { file, .. } => {
                file.seek(SeekFrom::Start(0)).map_err(|source| Error::Io {
                    file: self.name.clone(),
                    source,
                })?;
                find(&mut BufReader::new(file.take(limit)), &self.name)
            }
        }
    }
}

/// One rank's part of a LIBSVM file: what [`read_libsvm_shard`] returns.
#[derive(Clone, Debug, PartialEq)]
pub struct LibsvmShard {
    /// This rank's rows, in file order. Its width is the larger of
    /// [`LibsvmOptions::n_features`] and [`width`](Self::width): ranks
    /// differ, and must agree on the global width (the maximum of their
    /// `width`s, an all-reduce) before sizing a model.
    pub data: CsrDataset,
    /// One more than the largest 0-based feature index in this rank's rows
    /// (the largest index as written in the file); 0 when they have no
    /// feature.
    pub width: usize,
    /// Lines in this rank's pieces, data or not (the ranks' sum is the
    /// file's line count).
    pub lines: usize,
    /// Bytes of text this rank parsed.
    pub bytes: u64,
    /// This rank's byte ranges of the (decompressed) text, in order.
    pub ranges: Vec<Range<u64>>,
    /// Bytes of the whole (decompressed) text.
    pub total_bytes: u64,
}

/// Reads this rank's part of a LIBSVM file (see [`Shard`] for the
/// split): only its pieces of a plain file,
/// parsed as [`read_libsvm`](super::read_libsvm) parses (in parallel
/// chunks of [`LibsvmOptions::chunk_bytes`]). A gzip file is decompressed
/// whole on every rank (within [`LibsvmOptions::read`]; the text is held
/// in memory once while this rank's pieces are parsed) and cut as the
/// plain file of the same text would be.
///
/// [`ReadOptions::max_bytes`] limits the bytes of text this rank reads
/// from a plain file (its pieces), and the whole decompressed text of a
/// gzip file.
///
/// # Errors
/// The first error in this rank's pieces, named as the single-process
/// reader names it (file, absolute line, column); [`Error::EmptyFile`] on
/// every rank for a file with no text; I/O, size and memory errors. A rank
/// whose pieces hold no rows gets an empty dataset, not an error.
///
/// ```
/// use wildsgd::data::{read_libsvm, read_libsvm_shard, LibsvmOptions, Shard};
///
/// # let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("train.svm");
/// let text: String = (0..1000).map(|i| format!("{} {}:1\n", i % 2, i % 50 + 1)).collect();
/// std::fs::write(&path, text).unwrap();
/// let opts = LibsvmOptions::default();
/// let shards: Vec<_> = (0..4)
///     .map(|rank| read_libsvm_shard(&path, &Shard::new(rank, 4, 7)?, &opts))
///     .collect::<Result<_, _>>()?;
/// assert_eq!(shards.iter().map(|s| s.data.len()).sum::<usize>(), 1000);
/// // The ranks agree on the width (an all-reduce of the maximum).
/// let width = shards.iter().map(|s| s.width).max().unwrap();
/// assert_eq!(width, read_libsvm(&path, &opts)?.data.n_features());
///
/// // An error names the line of the file, whichever rank holds it.
/// std::fs::write(&path, "1 1:1\n".repeat(300) + "1 2:x\n" + &"0 1:1\n".repeat(300)).unwrap();
/// let errors: Vec<String> = (0..4)
///     .filter_map(|rank| read_libsvm_shard(&path, &Shard::new(rank, 4, 7).unwrap(), &opts).err())
///     .map(|e| e.to_string())
///     .collect();
/// assert_eq!(errors, [format!("{}: line 301, column 5: value \"x\" is not a number", path.display())]);
/// # Ok::<(), wildsgd::Error>(())
/// ```
pub fn read_libsvm_shard(path: impl AsRef<Path>, shard: &Shard, opts: &LibsvmOptions) -> Result<LibsvmShard, Error> {
    let mut input = Opened::new(path.as_ref(), shard, &opts.read)?;
    let total = input.ranges.iter().map(|r| r.end - r.start).sum::<u64>();
    // The parsed chunks of all pieces are held until the dataset is made.
    crate::limits::check_memory(format_args!("parsing {}", input.name), total.saturating_mul(5) / 6)?;
    let mut parts: Vec<Parsed> = Vec::with_capacity(input.ranges.len());
    for range in input.ranges.clone() {
        let name = input.name.clone();
        let text = input.piece(range.clone())?;
        let parsed = parse_lines(&name, text, opts.chunk_bytes);
        let parsed = head_nul(&name, text, range.start, parsed);
        match parsed {
            Ok(p) => parts.push(p),
            Err(e) => return Err(input.at_piece(e, range.start)),
        }
    }
    let width = parts.iter().map(|p| p.width).max().unwrap_or(0);
    let lines = parts.iter().map(|p| p.lines).sum();
    let data = assemble(&input.name, parts, opts.n_features)?;
    Ok(LibsvmShard {
        data,
        width,
        lines,
        bytes: total,
        total_bytes: input.size(),
        ranges: input.ranges,
    })
}

/// The single-process reader's check of the first [`HEAD_BYTES`] of the
/// text for a NUL byte, for a piece starting at byte `start`: within the
/// head, a NUL is the error unless a line before its own has one first.
fn head_nul(name: &str, text: &[u8], start: u64, parsed: Result<Parsed, Error>) -> Result<Parsed, Error> {
    let in_head = (HEAD_BYTES as u64).saturating_sub(start).min(text.len() as u64) as usize;
    let Some(q) = text[..in_head].iter().position(|&b| b == 0) else {
        return parsed;
    };
    let (line, column) = end_position(&text[..q]);
    match parsed {
        Err(e @ Error::Parse { line: l, .. }) if l < line => Err(e),
        _ => Err(parse_error(name, line, column, ParseIssue::NulByte)),
    }
}

/// One rank's part of a ratings file: what [`read_ratings_shard`] returns.
#[derive(Clone, Debug, PartialEq)]
pub struct RatingsShard {
    /// This rank's ratings, in file order. Users and items are numbered
    /// densely in order of first appearance *in this rank's pieces*, so the
    /// ranks' numbers differ: the id tables ([`Ratings::user_ids`],
    /// [`Ratings::item_ids`]) say which id each number is, and the ranks
    /// must agree on one id space (gather the tables, merge them, and
    /// renumber with [`Ratings::in_id_space`]) before training one model.
    /// Only the rank holding the file's first data line can see a header
    /// ([`Ratings::had_header`]).
    pub ratings: Ratings,
    /// Lines in this rank's pieces, data or not.
    pub lines: usize,
    /// Bytes of text this rank parsed.
    pub bytes: u64,
    /// This rank's byte ranges of the (decompressed) text, in order.
    pub ranges: Vec<Range<u64>>,
    /// Bytes of the whole (decompressed) text.
    pub total_bytes: u64,
}

/// Reads this rank's part of a ratings file, split as
/// [`read_libsvm_shard`] splits a file (see [`Shard`]), with the rules of
/// [`read_ratings_with`](super::read_ratings_with): the separator is the
/// one the file's first data line decides (every rank reads that line),
/// and only that line may be a header. Users and items are numbered per
/// rank: see [`RatingsShard::ratings`].
///
/// # Errors
/// As [`read_libsvm_shard`]: the first error in this rank's pieces, named
/// with the file's absolute line and column.
///
/// ```
/// use wildsgd::data::{read_ratings_shard, ReadOptions, Shard};
///
/// # let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("ratings.csv");
/// let text: String = (0..500).map(|i| format!("u{},i{},{}\n", i % 7, i % 11, i % 5)).collect();
/// std::fs::write(&path, "user,item,rating\n".to_string() + &text).unwrap();
/// let shards: Vec<_> = (0..3)
///     .map(|rank| read_ratings_shard(&path, &Shard::new(rank, 3, 1)?, &ReadOptions::default()))
///     .collect::<Result<_, _>>()?;
/// assert_eq!(shards.iter().map(|s| s.ratings.len()).sum::<usize>(), 500);
/// assert_eq!(shards.iter().filter(|s| s.ratings.had_header).count(), 1);
/// # Ok::<(), wildsgd::Error>(())
/// ```
pub fn read_ratings_shard(path: impl AsRef<Path>, shard: &Shard, opts: &ReadOptions) -> Result<RatingsShard, Error> {
    let mut input = Opened::new(path.as_ref(), shard, opts)?;
    let first = input.first_data_line(opts.max_bytes)?;
    let mut parse = RatingsParse::with_separator(first.map(|(_, sep)| sep));
    let mut lines = 0;
    for range in input.ranges.clone() {
        let name = input.name.clone();
        parse.first = first.is_some_and(|(at, _)| range.contains(&at));
        let text = input.piece(range.clone())?;
        lines += text.iter().filter(|&&b| b == b'\n').count() + usize::from(text.last() != Some(&b'\n'));
        if let Err(e) = parse.lines(&name, text) {
            return Err(input.at_piece(e, range.start));
        }
    }
    Ok(RatingsShard {
        ratings: parse.finish(),
        lines,
        bytes: input.ranges.iter().map(|r| r.end - r.start).sum(),
        total_bytes: input.size(),
        ranges: input.ranges,
    })
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::data::{read_libsvm, read_ratings};
    use std::io::Write;

    /// A shard's rows as (label, indices, value bits), comparable.
    type Row = (u32, Vec<u32>, Vec<u32>);

    fn rows(d: &CsrDataset) -> Vec<Row> {
        (0..d.len())
            .map(|i| {
                let r = d.row(i);
                (
                    r.label.to_bits(),
                    r.indices.to_vec(),
                    r.values.iter().map(|v| v.to_bits()).collect(),
                )
            })
            .collect()
    }

    fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap()
    }

    /// Sorted by label: a split by position alone would give ranks one class.
    fn sample_text(n: usize) -> String {
        let mut text = String::from("# a LIBSVM file\n\n");
        for i in 0..n {
            let label = if i < n / 2 { -1 } else { 1 };
            text.push_str(&format!("{label} {}:{} {}:0.5", i % 13 + 1, i, i % 13 + 20));
            text.push_str(if i % 3 == 0 { "\r\n" } else { "\n" });
            if i % 17 == 0 {
                text.push_str("   # comment\n\n");
            }
        }
        text
    }

    fn shard(rank: usize, ranks: usize, seed: u64) -> Shard {
        Shard::new(rank, ranks, seed).unwrap()
    }

    fn opts() -> LibsvmOptions {
        LibsvmOptions::default()
    }

    /// Checks the K shards of `path` against the whole read: the union of
    /// rows is the file's as a multiset, lines add up, ranges partition.
    fn check_union(path: &Path, ranks: usize, seed: u64) -> Vec<LibsvmShard> {
        let whole = read_libsvm(path, &opts()).unwrap();
        let shards: Vec<LibsvmShard> = (0..ranks)
            .map(|r| read_libsvm_shard(path, &shard(r, ranks, seed), &opts()).unwrap())
            .collect();
        let mut got: Vec<Row> = shards.iter().flat_map(|s| rows(&s.data)).collect();
        let mut want = rows(&whole.data);
        got.sort();
        want.sort();
        assert_eq!(got, want, "ranks {ranks}, seed {seed}");
        assert_eq!(shards.iter().map(|s| s.lines).sum::<usize>(), whole.lines);
        assert_eq!(shards.iter().map(|s| s.width).max().unwrap(), whole.data.n_features());
        let mut ranges: Vec<Range<u64>> = shards.iter().flat_map(|s| s.ranges.clone()).collect();
        ranges.sort_by_key(|r| r.start);
        let mut at = 0;
        for r in &ranges {
            assert!(r.start >= at && r.start < r.end, "{ranges:?}");
            at = r.end;
        }
        assert_eq!(ranges.iter().map(|r| r.end - r.start).sum::<u64>(), whole.bytes as u64);
        shards
    }

    #[test]
    fn shards_partition_the_rows_for_every_rank_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "a.svm", sample_text(3000).as_bytes());
        for ranks in 1..=5 {
            for seed in [0, 1, 99] {
                let shards = check_union(&path, ranks, seed);
                if ranks > 1 {
                    // Spread over the file: every rank gets both classes.
                    for s in &shards {
                        let labels = s.data.labels();
                        assert!(labels.contains(&1.0) && labels.contains(&-1.0), "ranks {ranks}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_split_is_reproducible_and_depends_on_the_seed() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "a.svm", sample_text(2000).as_bytes());
        let read = |seed| read_libsvm_shard(&path, &shard(1, 3, seed), &opts()).unwrap();
        assert_eq!(read(5), read(5));
        assert_ne!(read(5).ranges, read(6).ranges);
        assert_ne!(rows(&read(5).data), rows(&read(6).data));
        // The file and the in-memory cuts agree.
        let text = std::fs::read(&path).unwrap();
        for rank in 0..3 {
            let s = shard(rank, 3, 5);
            let file: Vec<Range<usize>> = s
                .file_ranges(&path)
                .unwrap()
                .into_iter()
                .map(|r| r.start as usize..r.end as usize)
                .collect();
            assert_eq!(file, s.text_ranges(&text).unwrap());
        }
    }

    #[test]
    fn an_error_names_the_files_line_from_the_shard_that_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = sample_text(2000);
        let good_lines = text.lines().count();
        text.push_str("1 5:1 3:2\n");
        text.push_str(&sample_text(2000));
        for (name, bytes) in [
            ("bad.svm", text.clone().into_bytes()),
            ("bad.svm.gz", gzip(text.as_bytes())),
        ] {
            let path = write(&dir, name, &bytes);
            let want = read_libsvm(&path, &opts()).unwrap_err().to_string();
            assert!(want.contains(&format!("line {}, column 7", good_lines + 1)), "{want}");
            for ranks in 1..=5 {
                for seed in [0, 3] {
                    let errors: Vec<String> = (0..ranks)
                        .filter_map(|r| read_libsvm_shard(&path, &shard(r, ranks, seed), &opts()).err())
                        .map(|e| e.to_string())
                        .collect();
                    assert_eq!(errors, [want.as_str()], "ranks {ranks}, seed {seed}");
                }
            }
        }
    }

    #[test]
    fn a_nul_in_the_head_is_the_same_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = sample_text(100).into_bytes();
        let at = text.len() / 2;
        text[at] = 0;
        let path = write(&dir, "nul.svm", &text);
        let want = read_libsvm(&path, &opts()).unwrap_err().to_string();
        assert!(want.contains("NUL"), "{want}");
        for ranks in 1..=4 {
            let errors: Vec<String> = (0..ranks)
                .filter_map(|r| read_libsvm_shard(&path, &shard(r, ranks, 2), &opts()).err())
                .map(|e| e.to_string())
                .collect();
            assert_eq!(errors, [want.as_str()], "ranks {ranks}");
        }
    }

    #[test]
    fn tiny_files_long_lines_and_empty_shards() {
        let dir = tempfile::tempdir().unwrap();
        // Fewer bytes than pieces (16 per rank); no final newline.
        let path = write(&dir, "tiny.svm", b"1 1:1\r\n-1 2:1\n# c\n\n1 3:1");
        for ranks in 1..=5 {
            for seed in [0, 1, 2] {
                let shards = check_union(&path, ranks, seed);
                assert!(shards.iter().all(|s| s.data.n_features() == s.width));
            }
        }
        // A rank whose pieces have no rows: an empty dataset, the width asked for.
        let path = write(&dir, "one.svm", b"1 7:1\n");
        let wide = LibsvmOptions {
            n_features: Some(10),
            ..opts()
        };
        let shards: Vec<LibsvmShard> = (0..3)
            .map(|r| read_libsvm_shard(&path, &shard(r, 3, 0), &wide).unwrap())
            .collect();
        assert_eq!(shards.iter().map(|s| s.data.len()).sum::<usize>(), 1);
        assert!(shards
            .iter()
            .any(|s| s.data.is_empty() && s.width == 0 && s.data.n_features() == 10));
        // Lines far longer than the 4 KiB window, and than a piece.
        let mut text = String::new();
        for i in 0..40 {
            let n = if i % 5 == 0 { 3000 } else { 3 };
            let row: Vec<String> = (1..=n).map(|j| format!("{j}:{}", (i + j) % 9)).collect();
            text.push_str(&format!("{} {}\n", i % 2, row.join(" ")));
        }
        assert!(text.lines().any(|l| l.len() > 4 * WINDOW));
        let path = write(&dir, "long.svm", text.as_bytes());
        for ranks in 1..=5 {
            check_union(&path, ranks, 4);
        }
        // A small window keeps scanning: the same cuts.
        let bytes = text.as_bytes();
        let mut file = File::open(&path).unwrap();
        for window in [1, 2, 7, 100] {
            let s = shard(2, 5, 4);
            let file_cuts = s.file_ranges_in("long", &mut file, bytes.len() as u64, window).unwrap();
            let want: Vec<Range<u64>> = s
                .text_ranges(bytes)
                .unwrap()
                .into_iter()
                .map(|r| r.start as u64..r.end as u64)
                .collect();
            assert_eq!(file_cuts, want, "window {window}");
        }
        // An empty file is an error on every rank.
        let path = write(&dir, "empty.svm", b"");
        let e = read_libsvm_shard(&path, &shard(0, 2, 0), &opts()).unwrap_err();
        assert!(matches!(e, Error::EmptyFile { .. }), "{e}");
    }

    #[test]
    fn gzip_gives_the_plain_files_shards() {
        let dir = tempfile::tempdir().unwrap();
        let text = sample_text(2500);
        let plain = write(&dir, "p.svm", text.as_bytes());
        let gz = write(&dir, "p.svm.gz", &gzip(text.as_bytes()));
        for ranks in 1..=4 {
            for rank in 0..ranks {
                let s = shard(rank, ranks, 11);
                let a = read_libsvm_shard(&plain, &s, &opts()).unwrap();
                let b = read_libsvm_shard(&gz, &s, &opts()).unwrap();
                assert_eq!(a, b, "rank {rank} of {ranks}");
            }
        }
        // The read limit: this rank's bytes of a plain file, the whole text of a gzip one.
        let small = LibsvmOptions {
            read: ReadOptions {
                max_bytes: text.len() as u64 / 2,
            },
            ..opts()
        };
        assert!(read_libsvm_shard(&plain, &shard(0, 4, 0), &small).is_ok());
        let e = read_libsvm_shard(&gz, &shard(0, 4, 0), &small).unwrap_err();
        assert!(matches!(e, Error::InputTooLarge { .. }), "{e}");
        let e = read_libsvm_shard(&plain, &shard(0, 1, 0), &small).unwrap_err();
        assert!(matches!(e, Error::InputTooLarge { .. }), "{e}");
    }

    #[test]
    fn bad_shards_are_refused() {
        let e = Shard::new(3, 3, 0).unwrap_err().to_string();
        assert_eq!(e, "invalid rank: rank 3 is not one of the 3 ranks (0 to 2)");
        let e = Shard::new(0, 0, 0).unwrap_err().to_string();
        assert_eq!(e, "invalid ranks: there must be at least one rank");
        assert!(Shard::new(0, MAX_RANKS + 1, 0).is_err());
        let bad = Shard {
            rank: 5,
            ranks: 2,
            seed: 0,
        };
        assert!(bad.text_ranges(b"1 1:1\n").is_err());
        assert_eq!(Shard::whole().text_ranges(b"a\nb").unwrap(), vec![0..3]);
        assert_eq!(shard(0, 1, 0).pieces(0), 0);
        assert_eq!(shard(0, 2, 0).pieces(u64::MAX), MAX_PIECES);
    }

    fn ratings_text(n: usize) -> String {
        let mut text = String::from("# ratings\nuser_id\titem_id\trating\n");
        for i in 0..n {
            // Sorted by user.
            text.push_str(&format!("user {}\titem {}\t{}\r\n", i / 40, (i * 7) % 23, i % 5 + 1));
            if i % 29 == 0 {
                text.push_str("\n# note\n");
            }
        }
        text
    }

    /// Ratings as (user id, item id, value bits), comparable across id spaces.
    fn triples(r: &Ratings) -> Vec<(String, String, u32)> {
        (0..r.len())
            .map(|k| {
                let x = r.get(k);
                (
                    r.user_ids[x.user as usize].clone(),
                    r.item_ids[x.item as usize].clone(),
                    x.value.to_bits(),
                )
            })
            .collect()
    }

    #[test]
    fn ratings_shards_partition_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let text = ratings_text(3000);
        let plain = write(&dir, "r.tsv", text.as_bytes());
        let gz = write(&dir, "r.tsv.gz", &gzip(text.as_bytes()));
        let whole = read_ratings(&plain).unwrap();
        let mut want = triples(&whole);
        want.sort();
        for ranks in 1..=5 {
            for seed in [0, 8] {
                let shards: Vec<RatingsShard> = (0..ranks)
                    .map(|r| read_ratings_shard(&plain, &shard(r, ranks, seed), &ReadOptions::default()).unwrap())
                    .collect();
                let mut got: Vec<_> = shards.iter().flat_map(|s| triples(&s.ratings)).collect();
                got.sort();
                assert_eq!(got, want, "ranks {ranks}, seed {seed}");
                let headers: Vec<_> = shards.iter().filter_map(|s| s.ratings.header.clone()).collect();
                assert_eq!(headers, ["user_id\titem_id\trating"]);
                assert_eq!(shards.iter().map(|s| s.lines).sum::<usize>(), text.lines().count());
                for (r, s) in shards.iter().enumerate() {
                    let g = read_ratings_shard(&gz, &shard(r, ranks, seed), &ReadOptions::default()).unwrap();
                    assert_eq!(&g, s);
                    // Renumbered into the whole file's id space.
                    s.ratings.in_id_space(&whole.user_ids, &whole.item_ids).unwrap();
                }
            }
        }
    }

    #[test]
    fn ratings_errors_name_the_files_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = ratings_text(1500);
        text.push_str("user 1\titem 2\tfive\n");
        text.push_str(&ratings_text(1500).replace("user_id\titem_id\trating\n", ""));
        let path = write(&dir, "bad.tsv", text.as_bytes());
        let want = read_ratings(&path).unwrap_err().to_string();
        assert!(want.contains("rating \"five\" is not a number"), "{want}");
        for ranks in 1..=5 {
            let errors: Vec<String> = (0..ranks)
                .filter_map(|r| read_ratings_shard(&path, &shard(r, ranks, 1), &ReadOptions::default()).err())
                .map(|e| e.to_string())
                .collect();
            assert_eq!(errors, [want.as_str()], "ranks {ranks}");
        }
        // A comma file: the separator is the first data line's on every rank.
        let text: String = (0..400).map(|i| format!("{},{} x,{}\n", i % 9, i % 4, i % 5)).collect();
        let path = write(&dir, "c.csv", text.as_bytes());
        let whole = read_ratings(&path).unwrap();
        let n: usize = (0..3)
            .map(|r| {
                let s = read_ratings_shard(&path, &shard(r, 3, 0), &ReadOptions::default()).unwrap();
                assert!(s.ratings.item_ids.iter().all(|i| i.ends_with(" x")));
                s.ratings.len()
            })
            .sum();
        assert_eq!(n, whole.len());
    }
}
