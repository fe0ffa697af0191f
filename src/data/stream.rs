//! Data larger than memory: a LIBSVM file read once into a binary spill on
//! disk, then streamed in windows of rows epoch after epoch, in bounded
//! memory. The protocol is described on [`Streamed`].

use std::cell::Cell;
use std::fs::File;
use std::io::{BufWriter, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

use flate2::read::MultiGzDecoder;
use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};

use super::libsvm::{parse_lines_at, Hashing};
use super::parse::{check_head, display_name, is_gzip, parse_error, ParseIssue};
use super::{CsrDataset, FeatureStats};
use crate::error::Error;

/// How [`stream_libsvm`] reads a file and spills it.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamOptions {
    /// Feature hashing (the width is then `2^bits`); `None`: exact indices.
    pub hashing: Option<Hashing>,
    /// With exact indices, the width at least this (a model's, when
    /// resuming); rows with larger indices are an error then. `None`: the
    /// largest index in the file.
    pub n_features: Option<usize>,
    /// The fraction of rows held out for validation, by a seeded hash of
    /// each row (0: none).
    pub valid_fraction: f64,
    /// Seed of the held-out choice, the sample and the windowed shuffle.
    pub seed: u64,
    /// Bytes of text parsed at a time (0: 8 MiB).
    pub block_bytes: usize,
    /// Bytes of parsed rows per spilled chunk, the unit of reading (0:
    /// 128 KiB; less when the shuffle scatters into many windows, so that
    /// the chunks being filled hold at most 48 MiB).
    pub chunk_bytes: usize,
    /// Bytes of parsed rows per window, the unit of the shuffle and of
    /// memory (0: 8 MiB).
    pub window_bytes: usize,
    /// Rows of the in-memory sample (0: none).
    pub sample_rows: usize,
    /// Where the spill goes (`None`: the system's temporary directory).
    pub spill_dir: Option<PathBuf>,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            hashing: None,
            n_features: None,
            valid_fraction: 0.0,
            seed: 0,
            block_bytes: 0,
            chunk_bytes: 0,
            window_bytes: 0,
            sample_rows: 10_000,
            spill_dir: None,
        }
    }
}

const DEFAULT_BLOCK: usize = 8 << 20;
const DEFAULT_CHUNK: usize = 128 << 10;
const DEFAULT_WINDOW: usize = 8 << 20;
/// The most buckets the shuffle scatters rows into.
const MAX_BUCKETS: u64 = 4096;
/// The chunks being filled, one per bucket, hold about this in all while
/// the pass scatters rows (their size shrinks with more buckets).
const SCATTER_BYTES: usize = 16 << 20;
/// Distinct labels recorded (with the row where each first appears); past
/// this many the set is "many" (real-valued targets).
const MAX_CLASSES: usize = 1024;
/// A single line may grow a block to at most this.
const MAX_LINE: usize = 1 << 30;

/// The rows of one part (training or held out) in the spill file: an
/// unnamed temporary file (no directory entry), so it is gone when the
/// process ends however it ends, a signal's exit or a kill included.
#[derive(Debug)]
struct Spill {
    file: File,
    /// Its directory, for error messages.
    dir: PathBuf,
    /// (offset, rows, nonzeros) of each chunk.
    chunks: Vec<(u64, u32, u32)>,
    rows: u64,
    nnz: u64,
    /// The chunks of each window, when the rows were scattered into
    /// windows; `None`: rows in file order.
    groups: Option<Vec<Vec<u32>>>,
}

/// A chunk being gathered for the spill.
#[derive(Default)]
struct Pending {
    row_nnz: Vec<u32>,
    labels: Vec<f32>,
    indices: Vec<u32>,
    values: Vec<f32>,
}

impl Pending {
    fn bytes(&self) -> usize {
        8 * (self.labels.len() + self.indices.len())
    }
}

struct SpillWriter {
    spill: Spill,
    out: BufWriter<File>,
    at: u64,
    pending: Pending,
    target: usize,
    bytes: Vec<u8>,
}

fn spill_error(dir: &Path, e: std::io::Error) -> Error {
    Error::Io {
        file: format!("the spill file in {} (see --spill-dir)", dir.display()),
        source: e,
    }
}

/// Fills `buf` from `file` at `offset`, without moving any shared cursor
/// (several readers may read one spill at once).
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        let (mut buf, mut offset) = (buf, offset);
        while !buf.is_empty() {
            match std::os::windows::fs::FileExt::seek_read(file, buf, offset) {
                Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
                Ok(k) => {
                    buf = &mut buf[k..];
                    offset += k as u64;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
    #[cfg(not(any(unix, windows)))]
    {
        use std::io::{Seek, SeekFrom};
        let mut f = file.try_clone()?;
        f.seek(SeekFrom::Start(offset))?;
        f.read_exact(buf)
    }
}

impl SpillWriter {
    fn new(dir: Option<&Path>, target: usize) -> Result<Self, Error> {
        let dir = dir.map_or_else(std::env::temp_dir, Path::to_path_buf);
        let file = tempfile::tempfile_in(&dir).map_err(|e| spill_error(&dir, e))?;
        let out = BufWriter::with_capacity(1 << 20, file.try_clone().map_err(|e| spill_error(&dir, e))?);
        Ok(SpillWriter {
            spill: Spill {
                file,
                dir,
                chunks: Vec::new(),
                rows: 0,
                nnz: 0,
                groups: None,
            },
            out,
            at: 0,
            pending: Pending::default(),
            target,
            bytes: Vec::new(),
        })
    }

    fn push(&mut self, indices: &[u32], values: &[f32], label: f32) -> Result<(), Error> {
        let p = &mut self.pending;
        p.row_nnz.push(indices.len() as u32);
        p.labels.push(label);
        p.indices.extend_from_slice(indices);
        p.values.extend_from_slice(values);
        if p.bytes() >= self.target || p.indices.len() > (u32::MAX / 2) as usize {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Error> {
        let mut p = std::mem::take(&mut self.pending);
        let result = self.write(&mut p);
        self.pending = p;
        result
    }

    /// Writes `p` as the next chunk (row lengths, labels, indices, values,
    /// all little-endian 4-byte words) and empties it; nothing when empty.
    fn write(&mut self, p: &mut Pending) -> Result<(), Error> {
        if p.labels.is_empty() {
            return Ok(());
        }
        let b = &mut self.bytes;
        b.clear();
        b.extend(p.row_nnz.iter().flat_map(|x| x.to_le_bytes()));
        b.extend(p.labels.iter().flat_map(|x| x.to_le_bytes()));
        b.extend(p.indices.iter().flat_map(|x| x.to_le_bytes()));
        b.extend(p.values.iter().flat_map(|x| x.to_le_bytes()));
        self.out.write_all(b).map_err(|e| spill_error(&self.spill.dir, e))?;
        self.spill
            .chunks
            .push((self.at, p.labels.len() as u32, p.indices.len() as u32));
        self.spill.rows += p.labels.len() as u64;
        self.spill.nnz += p.indices.len() as u64;
        self.at += b.len() as u64;
        p.row_nnz.clear();
        p.labels.clear();
        p.indices.clear();
        p.values.clear();
        Ok(())
    }

    fn finish(mut self) -> Result<Spill, Error> {
        self.flush()?;
        self.out.flush().map_err(|e| spill_error(&self.spill.dir, e))?;
        Ok(self.spill)
    }
}

/// The training rows' spill, written with every row sent to one of `k`
/// buckets at random (see [`Streamed`]): each bucket's chunks
/// are a uniform random sample of the file.
struct Scatter {
    writer: SpillWriter,
    pending: Vec<Pending>,
    groups: Vec<Vec<u32>>,
    target: usize,
    rng: Xoshiro256PlusPlus,
}

impl Scatter {
    fn new(dir: Option<&Path>, k: usize, chunk: usize, seed: u64) -> Result<Self, Error> {
        // The chunks being filled hold SCATTER_BYTES in all, reserved once.
        let target = chunk.min((SCATTER_BYTES / k.max(1)).max(4 << 10));
        let pending = (0..k)
            .map(|_| Pending {
                // Room for the row that crosses the target, too.
                row_nnz: Vec::with_capacity(target / 64),
                labels: Vec::with_capacity(target / 64),
                indices: Vec::with_capacity(target / 8 + target / 32),
                values: Vec::with_capacity(target / 8 + target / 32),
            })
            .collect();
        Ok(Scatter {
            writer: SpillWriter::new(dir, usize::MAX)?,
            pending,
            groups: vec![Vec::new(); k],
            target,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x005C_A77E_250F_u64.rotate_left(17)),
        })
    }

    fn push(&mut self, indices: &[u32], values: &[f32], label: f32) -> Result<(), Error> {
        let b = self.rng.random_range(0..self.pending.len());
        let p = &mut self.pending[b];
        p.row_nnz.push(indices.len() as u32);
        p.labels.push(label);
        p.indices.extend_from_slice(indices);
        p.values.extend_from_slice(values);
        if p.bytes() >= self.target || p.indices.len() > (u32::MAX / 2) as usize {
            self.groups[b].push(self.writer.spill.chunks.len() as u32);
            self.writer.write(p)?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Spill, Error> {
        for (b, p) in self.pending.iter_mut().enumerate() {
            if !p.labels.is_empty() {
                self.groups[b].push(self.writer.spill.chunks.len() as u32);
                self.writer.write(p)?;
            }
        }
        let mut spill = self.writer.finish()?;
        self.groups.retain(|g| !g.is_empty());
        spill.groups = Some(self.groups);
        Ok(spill)
    }
}

/// The labels seen (training and held-out rows): each distinct one with
/// the data row of the file (from 0) it first appears on, up to 1024 of them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LabelSet {
    /// (label, first row), in order of appearance.
    pub first_seen: Vec<(f32, u64)>,
    /// Whether there were more distinct labels than recorded.
    pub many: bool,
}

impl LabelSet {
    fn see(&mut self, y: f32, row: u64) {
        if self.many || self.first_seen.iter().any(|&(l, _)| l == y) {
            return;
        }
        if self.first_seen.len() == MAX_CLASSES {
            self.many = true;
        } else {
            self.first_seen.push((y, row));
        }
    }
}

/// What the pass over the text measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Survey {
    /// Bytes of the file (compressed, for gzip).
    pub file_bytes: u64,
    /// Bytes of text parsed.
    pub text_bytes: u64,
    /// Lines of text.
    pub lines: u64,
    /// Seconds the pass took (reading, parsing and spilling).
    pub seconds: f64,
    /// Threads that parsed (the current Rayon pool's; one more read,
    /// decompressed and spilled).
    pub threads: usize,
}

impl Survey {
    /// Text parsed per second, in MB (10^6 bytes).
    pub fn mb_per_sec(&self) -> f64 {
        self.text_bytes as f64 / 1e6 / self.seconds.max(1e-9)
    }

    /// [`mb_per_sec`](Self::mb_per_sec) per parsing thread.
    pub fn mb_per_sec_per_thread(&self) -> f64 {
        self.mb_per_sec() / self.threads.max(1) as f64
    }
}

/// A LIBSVM file prepared for streaming.
///
/// Data larger than memory: a LIBSVM file read once into a binary spill on
/// disk, then streamed in windows of rows, epoch after epoch, in bounded
/// memory.
///
/// [`stream_libsvm`] makes one pass over the text (plain or gzip, in
/// blocks of [`StreamOptions::block_bytes`], each parsed in parallel on the
/// current Rayon pool) and writes the rows, parsed, to a temporary file
/// (an unnamed one, gone when the process ends). On the way it measures what
/// the models need before training starts: the width, each feature's
/// document frequency and largest `|x|` ([`FeatureStats`]), the sum of
/// squared row norms and the label set, and it keeps a seeded uniform
/// sample of [`StreamOptions::sample_rows`] rows (reservoir sampling) for
/// the per-epoch training loss and the policy probe. Parse errors name the
/// file, line and column exactly as [`read_libsvm`](super::read_libsvm)'s
/// do, and come from this pass, before any training.
///
/// **The shuffle.** The pass sends every training row to one of `K`
/// buckets drawn at random (seeded), each bucket its own run of chunks in
/// the spill; `K` is chosen from the file's size (gzip: guessed at three
/// times the file) for buckets of about a quarter of
/// [`StreamOptions::window_bytes`] (8 MiB by default), at most 4096. Each
/// bucket is a uniform random sample of the whole file, whatever order the
/// file is in (sorted by label or by time, it mixes as a shuffled one
/// does), and so is any union of buckets: a window joins as many as make
/// its size. Each epoch visits the buckets in a fresh seeded order, joined
/// into windows, and each window's rows are gathered in a seeded random
/// order: the streamed analogue of the in-memory once-shuffled copy. A
/// guess of the text's size up to 4x too small still gives windows of the
/// size asked for; beyond that, or past 4096 buckets, windows grow.
///
/// **Reading.** Each epoch reads the spill again ([`Streamed::windows`]):
/// a reader thread reads the next window (its chunks, by positional reads),
/// gathers its rows in a seeded random order into a window buffer (so the
/// trainer can read them in cache-friendly runs, as the in-memory block
/// orders read their once-shuffled copy) and hands it to the trainer through a bounded channel
/// (`crossbeam-channel`) while the trainer works on the window before;
/// three window buffers and the reader's staging window are reused, so
/// memory stays at four windows whatever the file's size.
///
/// **Held-out rows** ([`StreamOptions::valid_fraction`]) are chosen by a
/// seeded hash of each row's content, so the choice is the same every
/// epoch, on every rank and whatever order the file is in (and duplicate
/// rows fall on the same side); they are spilled apart and read only to
/// evaluate.
///
/// ```
/// use wildsgd::data::{stream_libsvm, StreamOptions};
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("d.svm");
/// let text: String = (0..1000).map(|i| format!("{} {}:1 {}:0.5\n", i % 2, i % 7 + 1, i % 5 + 10)).collect();
/// std::fs::write(&path, text).unwrap();
/// let opts = StreamOptions { valid_fraction: 0.2, chunk_bytes: 1024, window_bytes: 4096, ..StreamOptions::default() };
/// let s = stream_libsvm(&path, &opts, &mut |_, _| {}).unwrap();
/// assert_eq!(s.n_features(), 14);
/// assert_eq!(s.rows() + s.valid_rows(), 1000);
/// let mut seen = 0;
/// s.windows(false, Some(0), &mut |w| { seen += w.len(); true }).unwrap();
/// assert_eq!(seen as u64, s.rows());
/// ```
#[derive(Debug)]
pub struct Streamed {
    name: String,
    width: usize,
    train: Spill,
    valid: Option<Spill>,
    sample: CsrDataset,
    stats: FeatureStats,
    squared_norms: f64,
    labels: LabelSet,
    survey: Survey,
    /// Bytes per window and per chunk.
    window: usize,
    chunk: usize,
    seed: u64,
    binary: Option<(f32, f32)>,
    /// Features beyond a fixed width dropped from held-out rows of a
    /// separate file (values, rows).
    dropped: (u64, u64),
    /// The labels of a separate validation file, and its name.
    valid_labels: Option<(LabelSet, String)>,
}

/// Counts the bytes read from the file (progress for gzip, too).
struct Counted<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.count.set(self.count.get() + k as u64);
        Ok(k)
    }
}

/// Fills `buf` from `input` up to its capacity; returns whether the input
/// ended.
fn fill(input: &mut dyn Read, buf: &mut Vec<u8>, want: usize) -> std::io::Result<bool> {
    while buf.len() < want {
        let room = want - buf.len();
        match input.take(room as u64).read_to_end(buf) {
            Ok(0) => return Ok(true),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}

/// Where rows go in the pass.
enum Role<'a> {
    /// Training rows (and a held-out fraction).
    Train { fraction: f64 },
    /// All rows held out (a separate validation file), at the training
    /// data's width.
    Valid {
        width: usize,
        hashing: Option<Hashing>,
        into: &'a mut Option<Spill>,
    },
}

/// Reads the LIBSVM file at `path` (plain or gzip: the content decides)
/// once, spilling its parsed rows to disk, and returns it ready to stream:
/// see [`Streamed`]. `progress` is called after each block
/// with the bytes of the file read so far and its size (when known).
///
/// # Errors
/// The file's own ([`Error::Io`], a parse error at its line and column, an
/// empty file), a spill that cannot be written (naming its directory), or
/// a width beyond [`MAX_WEIGHTS`](crate::limits::MAX_WEIGHTS).
pub fn stream_libsvm(
    path: impl AsRef<Path>,
    opts: &StreamOptions,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<Streamed, Error> {
    if !(0.0..1.0).contains(&opts.valid_fraction) {
        return Err(Error::InvalidParameter {
            name: "valid-fraction",
            reason: format!("{}: must be at least 0 and below 1", opts.valid_fraction),
        });
    }
    let mut s = Streamed {
        name: display_name(path.as_ref()),
        width: 0,
        train: SpillWriter::new(opts.spill_dir.as_deref(), 1)?.finish()?,
        valid: None,
        sample: CsrDataset::new(0),
        stats: FeatureStats::default(),
        squared_norms: 0.0,
        labels: LabelSet::default(),
        survey: Survey::default(),
        window: if opts.window_bytes == 0 {
            DEFAULT_WINDOW
        } else {
            opts.window_bytes
        },
        chunk: if opts.chunk_bytes == 0 {
            DEFAULT_CHUNK
        } else {
            opts.chunk_bytes
        },
        seed: opts.seed,
        binary: None,
        dropped: (0, 0),
        valid_labels: None,
    };
    pass(
        path.as_ref(),
        opts,
        Role::Train {
            fraction: opts.valid_fraction,
        },
        &mut s,
        progress,
    )?;
    Ok(s)
}

/// The pass over one file: see [`stream_libsvm`].
fn pass(
    path: &Path,
    opts: &StreamOptions,
    role: Role<'_>,
    s: &mut Streamed,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<(), Error> {
    let clock = Instant::now();
    let name = display_name(path);
    let io = |source| Error::Io {
        file: name.clone(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    let size = file.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
    let mut magic = [0u8; 2];
    let got = {
        let mut got = 0;
        while got < 2 {
            match file.read(&mut magic[got..]) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(io(e)),
            }
        }
        got
    };
    let count = Rc::new(Cell::new(got as u64));
    let counted = Counted {
        inner: file,
        count: count.clone(),
    };
    let gzip = is_gzip(&magic[..got]);
    let mut input: Box<dyn Read> = if gzip {
        Box::new(MultiGzDecoder::new(std::io::BufReader::with_capacity(
            1 << 16,
            (&magic[..got]).chain(counted),
        )))
    } else {
        Box::new((&magic[..got]).chain(counted))
    };
    let hashing = match &role {
        Role::Train { .. } => opts.hashing,
        Role::Valid { hashing, .. } => *hashing,
    };
    let fixed_width = match (&role, hashing) {
        (_, Some(h)) => Some(h.width()),
        (Role::Valid { width, .. }, None) => Some(*width),
        (Role::Train { .. }, None) => opts.n_features,
    };
    if let Some(w) = fixed_width {
        crate::limits::check_weights("the model", w as u64 + 1, 4).map_err(|e| match hashing {
            Some(h) => Error::InvalidParameter {
                name: "hash-bits",
                reason: format!("{} bits make the model {} features wide: {e}", h.bits(), h.width()),
            },
            None => e,
        })?;
    }
    let chunk = if opts.chunk_bytes == 0 {
        DEFAULT_CHUNK
    } else {
        opts.chunk_bytes
    };
    let block = if opts.block_bytes == 0 {
        DEFAULT_BLOCK
    } else {
        opts.block_bytes
    };
    let window = if opts.window_bytes == 0 {
        DEFAULT_WINDOW
    } else {
        opts.window_bytes
    };
    // Buckets of about a quarter of a window, from the text's size (gzip:
    // guessed at 3x the file; a parsed row takes about what its text does):
    // windows then join about four, and a guess up to 4x short still gives
    // windows no larger than asked for.
    let text_guess = size.map(|s| if gzip { s.saturating_mul(3) } else { s });
    let buckets = match (&role, text_guess) {
        (Role::Valid { .. }, _) => 1,
        (_, Some(t)) => t.div_ceil((window / 4).max(1) as u64).clamp(1, MAX_BUCKETS) as usize,
        (_, None) => 64,
    };
    let mut train = Scatter::new(opts.spill_dir.as_deref(), buckets, chunk, opts.seed)?;
    let mut held = SpillWriter::new(opts.spill_dir.as_deref(), chunk)?;
    let fraction = match role {
        Role::Train { fraction } => fraction,
        Role::Valid { .. } => 1.0,
    };
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(opts.seed ^ 0x5A3B_1E5E_EDF0);
    let mut sample: Vec<(Vec<u32>, Vec<f32>, f32)> = Vec::new();
    let mut stats = FeatureStats {
        rows: 0.0,
        counts: vec![
            0.0;
            if matches!(role, Role::Train { .. }) {
                fixed_width.unwrap_or(0)
            } else {
                0
            }
        ],
        max_abs: vec![
            0.0;
            if matches!(role, Role::Train { .. }) {
                fixed_width.unwrap_or(0)
            } else {
                0
            }
        ],
    };
    let (mut squared, mut labels) = (0.0f64, LabelSet::default());
    let (mut width, mut lines, mut text_bytes) = (fixed_width.unwrap_or(0), 0usize, 0u64);
    let mut dropped = (0u64, 0u64);
    let mut data_row = 0u64;
    let mut buf: Vec<u8> = Vec::with_capacity(block);
    let mut want = block;
    let mut first = true;
    let mut kept: Vec<u32> = Vec::new();
    loop {
        let ended = match fill(&mut input, &mut buf, want) {
            Ok(e) => e,
            Err(e)
                if gzip
                    && matches!(
                        e.kind(),
                        ErrorKind::InvalidInput | ErrorKind::InvalidData | ErrorKind::UnexpectedEof
                    ) =>
            {
                let (line, column) = super::parse::end_position(&buf);
                return Err(parse_error(
                    &name,
                    lines + line,
                    column,
                    ParseIssue::Gzip { reason: e.to_string() },
                ));
            }
            Err(e) => return Err(io(e)),
        };
        if buf.is_empty() && ended {
            break;
        }
        let cut = if ended {
            buf.len()
        } else {
            match buf.iter().rposition(|&b| b == b'\n') {
                Some(k) => k + 1,
                None => {
                    // One line longer than the block: grow it (bounded).
                    if want >= MAX_LINE {
                        return Err(parse_error(
                            &name,
                            lines + 1,
                            1,
                            ParseIssue::Gzip {
                                reason: format!("a line longer than {MAX_LINE} bytes"),
                            },
                        ));
                    }
                    want = (want * 2).min(MAX_LINE);
                    crate::limits::check_memory(format_args!("a line of {name}"), want as u64)?;
                    buf.reserve(want - buf.len());
                    continue;
                }
            }
        };
        let text = &buf[..cut];
        if first {
            first = false;
            let prefix: super::parse::Prefix<'_> = &|n, t| parse_lines_at(n, t, 0, hashing, 0).map(|_| ());
            check_head(&name, text, false, prefix)?;
        }
        let parsed = parse_lines_at(&name, text, 1 << 20, hashing, lines)?;
        if hashing.is_none() && fixed_width.is_none() && parsed.width > width {
            if let Err(e) = crate::limits::check_weights("the model", parsed.width as u64 + 1, 4) {
                let (line, column) = parsed.widest.unwrap_or((lines + 1, 1));
                return Err(Error::InvalidParameter {
                    name: "data",
                    reason: format!(
                        "{name}: line {line}, column {column}: feature index {} makes the model {} features wide: {e}",
                        parsed.width, parsed.width
                    ),
                });
            }
            width = parsed.width;
            if matches!(role, Role::Train { .. }) {
                stats.counts.resize(width, 0.0);
                stats.max_abs.resize(width, 0.0);
            }
        }
        let mut failed = Ok(());
        parsed.for_each_row(|indices, values, label| {
            if failed.is_err() {
                return;
            }
            let (mut indices, mut values) = (indices, values);
            if indices.last().is_some_and(|&j| j as usize >= width) {
                // Held-out rows of another file, at the training width.
                let keep = indices.partition_point(|&j| (j as usize) < width);
                dropped.0 += (indices.len() - keep) as u64;
                dropped.1 += 1;
                kept.clear();
                kept.extend_from_slice(&indices[..keep]);
                indices = &kept[..];
                values = &values[..keep];
            }
            labels.see(label, data_row);
            data_row += 1;
            failed = if fraction >= 1.0 || (fraction > 0.0 && held_out(indices, values, label, opts.seed, fraction)) {
                held.push(indices, values, label)
            } else {
                let row = stats.rows as u64;
                stats.rows += 1.0;
                let mut sq = 0.0f64;
                for (&j, &v) in indices.iter().zip(values) {
                    let j = j as usize;
                    stats.counts[j] += 1.0;
                    stats.max_abs[j] = stats.max_abs[j].max(v.abs());
                    sq += f64::from(v) * f64::from(v);
                }
                squared += sq;
                if opts.sample_rows > 0 {
                    if sample.len() < opts.sample_rows {
                        sample.push((indices.to_vec(), values.to_vec(), label));
                    } else {
                        let k = rng.random_range(0..=row) as usize;
                        if k < opts.sample_rows {
                            sample[k] = (indices.to_vec(), values.to_vec(), label);
                        }
                    }
                }
                train.push(indices, values, label)
            };
        });
        failed?;
        lines += parsed.lines;
        text_bytes += cut as u64;
        buf.drain(..cut);
        want = block.max(buf.len() + 1);
        progress(count.get(), size);
        if ended && buf.is_empty() {
            break;
        }
    }
    let (train, held) = (train.finish()?, held.finish()?);
    let survey = Survey {
        file_bytes: count.get(),
        text_bytes,
        lines: lines as u64,
        seconds: clock.elapsed().as_secs_f64(),
        threads: rayon::current_num_threads(),
    };
    match role {
        Role::Valid { into, .. } => {
            if held.rows == 0 {
                return Err(Error::EmptyFile {
                    file: name,
                    detail: if text_bytes == 0 {
                        ""
                    } else {
                        ", only comments and blank lines"
                    },
                });
            }
            *into = Some(held);
            s.dropped = dropped;
            s.labels = labels;
        }
        Role::Train { .. } => {
            if train.rows == 0 {
                return Err(if text_bytes == 0 || held.rows == 0 {
                    Error::EmptyFile {
                        file: name,
                        detail: if text_bytes == 0 {
                            ""
                        } else {
                            ", only comments and blank lines"
                        },
                    }
                } else {
                    Error::EmptyDataset { what: "training" }
                });
            }
            let mut d = CsrDataset::new(width);
            for (i, v, y) in &sample {
                d.push(i, v, *y).expect("rows of the file, at its width");
            }
            s.train = train;
            s.width = width;
            s.valid = (held.rows > 0).then_some(held);
            s.sample = d;
            s.stats = stats;
            s.squared_norms = squared;
            s.labels = labels;
            s.survey = survey;
        }
    }
    Ok(())
}

/// Whether a row is held out: a seeded hash of its content below `fraction`.
fn held_out(indices: &[u32], values: &[f32], label: f32, seed: u64, fraction: f64) -> bool {
    use xxhash_rust::xxh3::Xxh3;
    let mut h = Xxh3::with_seed(seed ^ 0x0001_D0C5_0FF0);
    h.update(&label.to_bits().to_le_bytes());
    for &j in indices {
        h.update(&j.to_le_bytes());
    }
    for &v in values {
        h.update(&v.to_bits().to_le_bytes());
    }
    ((h.digest() >> 11) as f64 / (1u64 << 53) as f64) < fraction
}

/// What reading one pass of windows measured.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Piped {
    /// Rows handed over.
    pub rows: u64,
    /// Bytes of spill read.
    pub bytes: u64,
    /// Seconds the reader thread spent reading and decoding.
    pub read_seconds: f64,
    /// Seconds the consumer waited for a window (the reader not keeping up).
    pub wait_seconds: f64,
}

impl Streamed {
    /// The file's name, as errors give it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The width: `2^bits` when hashing, else the largest index (or the
    /// width asked for).
    pub fn n_features(&self) -> usize {
        self.width
    }

    /// Training rows.
    pub fn rows(&self) -> u64 {
        self.train.rows
    }

    /// Training nonzeros.
    pub fn nnz(&self) -> u64 {
        self.train.nnz
    }

    /// Held-out rows (0 when none).
    pub fn valid_rows(&self) -> u64 {
        self.valid.as_ref().map_or(0, |v| v.rows)
    }

    /// The seeded uniform sample of training rows.
    pub fn sample(&self) -> &CsrDataset {
        &self.sample
    }

    /// Document frequencies and scales of the training rows.
    pub fn stats(&self) -> &FeatureStats {
        &self.stats
    }

    /// The mean squared norm of the training rows.
    pub fn mean_squared_norm(&self) -> f64 {
        self.squared_norms / self.train.rows.max(1) as f64
    }

    /// The labels of the file's rows.
    pub fn labels(&self) -> &LabelSet {
        &self.labels
    }

    /// The labels of the separate validation file
    /// ([`validate_on`](Self::validate_on)), if there is one.
    pub fn valid_labels(&self) -> Option<&LabelSet> {
        self.valid_labels.as_ref().map(|(l, _)| l)
    }

    /// What the pass over the text measured.
    pub fn survey(&self) -> &Survey {
        &self.survey
    }

    fn spill_bytes_train(&self) -> u64 {
        8 * (self.train.rows + self.train.nnz)
    }

    /// Bytes on disk of the spill (both parts).
    pub fn spill_bytes(&self) -> u64 {
        let part = |s: &Spill| 8 * (s.rows + s.nnz);
        part(&self.train) + self.valid.as_ref().map_or(0, part)
    }

    /// Windows of training rows each epoch reads.
    pub fn window_count(&self) -> usize {
        match &self.train.groups {
            Some(g) => g.len().div_ceil(self.buckets_per_window(&self.train)),
            None => self
                .train
                .chunks
                .len()
                .div_ceil((self.window / self.chunk.max(1)).max(1)),
        }
    }

    /// Buckets joined into one window: as many as make about the window
    /// size (at least one).
    fn buckets_per_window(&self, spill: &Spill) -> usize {
        let buckets = spill.groups.as_ref().map_or(1, Vec::len).max(1) as u64;
        let per_bucket = (8 * (spill.rows + spill.nnz)).div_ceil(buckets).max(1);
        ((self.window as u64 + per_bucket / 2) / per_bucket).max(1) as usize
    }

    /// Feature values (and rows holding them) dropped from a separate
    /// validation file for being beyond the training width.
    pub fn dropped(&self) -> (u64, u64) {
        self.dropped
    }

    /// Maps the two classes `neg` and `pos` to −1 and +1 as
    /// [`binary_labels_as`](super::binary_labels_as) does, in the sample
    /// now and in every window read. The label set must hold only those.
    pub fn binary_labels_as(&mut self, neg: f32, pos: f32) -> Result<(), Error> {
        if let Some(&(y, row)) = self.labels.first_seen.iter().find(|&&(y, _)| y != neg && y != pos) {
            return Err(Error::InvalidSample {
                row: row as usize,
                reason: format!("label {y} is a third class (after {neg} and {pos}): a binary model needs two"),
            });
        }
        if let Some((set, file)) = &self.valid_labels {
            if let Some(&(y, row)) = set.first_seen.iter().find(|&&(y, _)| y != neg && y != pos) {
                return Err(Error::InvalidParameter {
                    name: "valid",
                    reason: format!(
                        "{file}: data row {} (from 1): label {y} is not one of the training data's classes ({neg} and \
                         {pos})",
                        row + 1
                    ),
                });
            }
            if set.many {
                return Err(Error::InvalidParameter {
                    name: "valid",
                    reason: format!("{file}: more than two classes"),
                });
            }
        }
        super::binary_labels_as(&mut self.sample, neg, pos)?;
        self.binary = Some((neg, pos));
        Ok(())
    }

    /// Holds out a separate LIBSVM file (all of it) instead of a fraction:
    /// read once, spilled, at this data's width (with the same hashing;
    /// features beyond an exact width are dropped and counted in
    /// [`dropped`](Self::dropped)).
    pub fn validate_on(&mut self, path: impl AsRef<Path>, opts: &StreamOptions) -> Result<(), Error> {
        let mut into = None;
        let role = Role::Valid {
            width: self.width,
            hashing: opts.hashing,
            into: &mut into,
        };
        let mut scratch = Streamed {
            name: String::new(),
            width: self.width,
            train: SpillWriter::new(opts.spill_dir.as_deref(), 1)?.finish()?,
            valid: None,
            sample: CsrDataset::new(0),
            stats: FeatureStats::default(),
            squared_norms: 0.0,
            labels: LabelSet::default(),
            survey: Survey::default(),
            window: self.window,
            chunk: self.chunk,
            seed: self.seed,
            binary: None,
            dropped: (0, 0),
            valid_labels: None,
        };
        pass(path.as_ref(), opts, role, &mut scratch, &mut |_, _| {})?;
        self.valid = into;
        self.dropped = scratch.dropped;
        self.valid_labels = Some((scratch.labels, display_name(path.as_ref())));
        Ok(())
    }

    /// Reads every training row into memory (for `--hash-bits` without
    /// streaming): every row but the held-out ones, in the order of the
    /// spill (the shuffle's, when the rows fill more than one window).
    pub fn load(&self) -> Result<CsrDataset, Error> {
        let bytes = 8 * (self.train.rows + self.train.nnz) + 8 * self.train.rows;
        crate::limits::check_memory(format_args!("the rows of {}", self.name), bytes)?;
        let mut all = CsrDataset::new(self.width);
        all.reserve(self.train.rows as usize, self.train.nnz as usize);
        let mut lens = Vec::new();
        for c in 0..self.train.chunks.len() {
            self.read_chunk(&self.train, c, &mut lens, &mut 0, &mut all)?;
        }
        Ok(all)
    }

    /// The held-out rows, in memory (see [`load`](Self::load)).
    pub fn load_valid(&self) -> Result<Option<CsrDataset>, Error> {
        let Some(v) = &self.valid else { return Ok(None) };
        let mut all = CsrDataset::new(self.width);
        let mut lens = Vec::new();
        for c in 0..v.chunks.len() {
            self.read_chunk(v, c, &mut lens, &mut 0, &mut all)?;
        }
        Ok(Some(all))
    }

    fn read_chunk(
        &self,
        spill: &Spill,
        c: usize,
        row_nnz: &mut Vec<u32>,
        read: &mut u64,
        into: &mut CsrDataset,
    ) -> Result<(), Error> {
        read_chunk(spill, c, row_nnz, read, into, self.binary)
    }

    /// Reads one pass over the training rows (or, with `held_out`, the
    /// held-out ones) in windows, calling `each` with every window in
    /// turn until it returns `false`. With `Some(epoch)` the windows come
    /// in that epoch's seeded order, each window's rows in a seeded random
    /// order of their own (so that a caller may read them in runs); with
    /// `None`, as spilled. The windows are read on a thread of their own, one
    /// ahead of `each`, through a bounded channel; three buffers are
    /// allocated and reused.
    pub fn windows(
        &self,
        held_out: bool,
        epoch: Option<usize>,
        each: &mut dyn FnMut(&CsrDataset) -> bool,
    ) -> Result<Piped, Error> {
        let spill = match (held_out, &self.valid) {
            (false, _) => &self.train,
            (true, Some(v)) => v,
            (true, None) => return Ok(Piped::default()),
        };
        // The chunks of each window, in the epoch's order.
        let mut plan: Vec<Vec<u32>> = match &spill.groups {
            Some(g) => {
                let mut g = g.clone();
                if let Some(e) = epoch {
                    let mut rng = Xoshiro256PlusPlus::seed_from_u64(
                        self.seed ^ 0x0B0C_4E75 ^ (e as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                    );
                    g.shuffle(&mut rng);
                }
                let per = self.buckets_per_window(spill);
                g.chunks(per).map(|w| w.concat()).collect()
            }
            None => {
                let per = (self.window / self.chunk.max(1)).max(1);
                let ids: Vec<u32> = (0..spill.chunks.len() as u32).collect();
                ids.chunks(per).map(<[u32]>::to_vec).collect()
            }
        };
        if let Some(e) = epoch {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(
                self.seed ^ 0xC4A2_0D0E ^ (e as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            );
            plan.shuffle(&mut rng);
        }
        let (full_tx, full_rx) = crossbeam_channel::bounded::<Result<(CsrDataset, f64, u64), Error>>(1);
        let (free_tx, free_rx) = crossbeam_channel::bounded::<CsrDataset>(3);
        for _ in 0..3 {
            free_tx.send(CsrDataset::new(self.width)).expect("room for three");
        }
        std::thread::scope(|scope| {
            scope.spawn(move || {
                let mut lens = Vec::new();
                // An epoch's windows are read here, then gathered into the
                // buffer in a seeded random order: the trainer may then read
                // each window's rows in cache-friendly runs.
                let mut staging = epoch.map(|_| CsrDataset::new(self.width));
                let mut perm: Vec<u32> = Vec::new();
                for (w, group) in plan.iter().enumerate() {
                    let Ok(mut buf) = free_rx.recv() else { return };
                    let clock = Instant::now();
                    let target = staging.as_mut().unwrap_or(&mut buf);
                    target.clear();
                    let mut read = 0u64;
                    let mut result = Ok(());
                    for &c in group {
                        result = self.read_chunk(spill, c as usize, &mut lens, &mut read, target);
                        if result.is_err() {
                            break;
                        }
                    }
                    if let (Some(staged), Some(e), Ok(())) = (&staging, epoch, &result) {
                        perm.clear();
                        perm.extend(0..staged.len() as u32);
                        let mut rng = Xoshiro256PlusPlus::seed_from_u64(
                            self.seed ^ 0x6A7E_0F5E ^ (e as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (w as u64) << 40,
                        );
                        perm.shuffle(&mut rng);
                        staged.gather_into(&perm, &mut buf);
                    }
                    let msg = result.map(|()| (buf, clock.elapsed().as_secs_f64(), read));
                    let failed = msg.is_err();
                    if full_tx.send(msg).is_err() || failed {
                        return;
                    }
                }
            });
            let mut piped = Piped::default();
            let result = loop {
                let clock = Instant::now();
                let Ok(msg) = full_rx.recv() else { break Ok(piped) };
                piped.wait_seconds += clock.elapsed().as_secs_f64();
                let (buf, seconds, read) = match msg {
                    Ok(m) => m,
                    Err(e) => break Err(e),
                };
                piped.read_seconds += seconds;
                piped.bytes += read;
                piped.rows += buf.len() as u64;
                let go = each(&buf);
                let _ = free_tx.send(buf);
                if !go {
                    break Ok(piped);
                }
            };
            // Unblocks the reader wherever it waits.
            drop(full_rx);
            drop(free_tx);
            result
        })
    }
}

/// Training data read in windows, one pass per epoch: what
/// [`Trainer::stream_job`](crate::Trainer::stream_job) trains on.
/// [`Streamed`] is one; implement it for a source of your own (a socket,
/// a queue, another format) to train on it in bounded memory. The
/// [`Step::index`](crate::model::Step::index) a model sees is the row's
/// position in its window (models that key random draws on it, like the
/// skip-gram ones, need sources that name rows otherwise).
pub trait Windows<D: ?Sized>: Sync {
    /// An in-memory sample of the rows: the per-epoch training loss and
    /// the policy probe are measured on it.
    fn sample(&self) -> &D;
    /// Training rows per epoch.
    fn rows(&self) -> u64;
    /// How the windows are made and ordered (for the report's `order`).
    fn describe(&self) -> String;
    /// Whether every window has the sample's width and labels a model
    /// that accepts the sample accepts (the trainer then validates only the
    /// first window of a pass, not each one: a model's validation may cost
    /// as much as its width). `false` by default.
    fn uniform(&self) -> bool {
        false
    }
    /// One pass over the training rows (or, with `held_out`, over the
    /// held-out rows) in windows, calling `each` with each window until it
    /// returns `false`; `Some(epoch)` asks for that epoch's seeded order.
    /// See [`Streamed::windows`].
    fn windows(&self, held_out: bool, epoch: Option<usize>, each: &mut dyn FnMut(&D) -> bool) -> Result<Piped, Error>;
}

impl Windows<CsrDataset> for Streamed {
    fn sample(&self) -> &CsrDataset {
        Streamed::sample(self)
    }

    // One width for every row, and labels checked as a set in the pass
    // (and mapped alike when binary).
    fn uniform(&self) -> bool {
        true
    }

    fn rows(&self) -> u64 {
        Streamed::rows(self)
    }

    fn describe(&self) -> String {
        format!(
            "windowed shuffle (rows scattered at random into {} buckets as read, joined into {} windows of ~{:.1} \
             MiB; each epoch reads the windows in a seeded order, each one's rows gathered in a seeded random order)",
            self.train.groups.as_ref().map_or(0, Vec::len),
            self.window_count(),
            self.spill_bytes_train() as f64 / self.window_count().max(1) as f64 / f64::from(1 << 20)
        )
    }

    fn windows(
        &self,
        held_out: bool,
        epoch: Option<usize>,
        each: &mut dyn FnMut(&CsrDataset) -> bool,
    ) -> Result<Piped, Error> {
        Streamed::windows(self, held_out, epoch, each)
    }
}

/// Appends chunk `c` of `spill` to `into` (`row_nnz`: scratch space),
/// counting its bytes in `read`; `map` takes two classes to −1 and +1.
fn read_chunk(
    spill: &Spill,
    c: usize,
    row_nnz: &mut Vec<u32>,
    read: &mut u64,
    into: &mut CsrDataset,
    map: Option<(f32, f32)>,
) -> Result<(), Error> {
    let (at, rows, nnz) = spill.chunks[c];
    let (rows, nnz) = (rows as usize, nnz as usize);
    let (file, dir) = (&spill.file, spill.dir.as_path());
    // Read straight into the dataset's arrays (the file is
    // little-endian 4-byte words, as the machine is, or swapped below).
    let mut scratch = std::mem::take(row_nnz);
    let result = into.append_filled(rows, nnz, &mut scratch, |lens, labels, indices, values| {
        let (r, z) = (4 * rows as u64, 4 * nnz as u64);
        read_at(file, bytemuck::cast_slice_mut(lens), at)?;
        read_at(file, bytemuck::cast_slice_mut(labels), at + r)?;
        read_at(file, bytemuck::cast_slice_mut(indices), at + 2 * r)?;
        read_at(file, bytemuck::cast_slice_mut(values), at + 2 * r + z)?;
        if cfg!(target_endian = "big") {
            for x in lens.iter_mut().chain(indices.iter_mut()) {
                *x = u32::from_le(*x);
            }
            for x in labels.iter_mut().chain(values.iter_mut()) {
                *x = f32::from_bits(u32::from_le(x.to_bits()));
            }
        }
        if let Some((neg, _)) = map {
            for y in labels.iter_mut() {
                *y = if *y == neg { -1.0 } else { 1.0 };
            }
        }
        Ok::<(), std::io::Error>(())
    });
    *row_nnz = scratch;
    *read += 8 * (rows + nnz) as u64;
    match result {
        Err(e) => Err(spill_error(dir, e)),
        Ok(Err(reason)) => Err(spill_error(dir, std::io::Error::new(ErrorKind::InvalidData, reason))),
        Ok(Ok(())) => Ok(()),
    }
}
