//! The crate's error type: a leaf module, imported by every layer and
//! importing none.

use std::fmt;

/// Everything that can go wrong in wildsgd, each with a message that says
/// what and where.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A trainer was configured with zero threads.
    #[error("threads must be at least 1, got 0")]
    ZeroThreads,
    /// A trainer was configured with zero epochs.
    #[error("epochs must be at least 1, got 0")]
    ZeroEpochs,
    /// Training or evaluation was asked for on a dataset with no samples.
    #[error("the {what} dataset is empty")]
    EmptyDataset {
        /// Which dataset ("training", "validation").
        what: &'static str,
    },
    /// A sample uses a feature index the model does not have.
    #[error("row {row}: feature index {index} is beyond the model's dimension {dim}")]
    FeatureOutOfRange {
        /// Row (sample) number, from 0.
        row: usize,
        /// The offending feature index.
        index: usize,
        /// The number of features the model or dataset has.
        dim: usize,
    },
    /// A sample is malformed (non-finite value, unsorted indices, bad label...).
    #[error("row {row}: {reason}")]
    InvalidSample {
        /// Row (sample) number, from 0.
        row: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A problem found in one of the datasets handed to the trainer.
    #[error("{dataset} data, {source}")]
    Data {
        /// Which dataset ("training", "validation").
        dataset: &'static str,
        /// The problem.
        #[source]
        source: Box<Error>,
    },
    /// A learning rate (or the schedule producing it) is not finite and positive.
    #[error("learning rate must be finite and positive, got {value}")]
    InvalidLearningRate {
        /// The value given.
        value: f64,
    },
    /// Some other parameter is out of range.
    #[error("invalid {name}: {reason}")]
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// Why it is rejected.
        reason: String,
    },
    /// A slice of the wrong length was handed over.
    #[error("{what}: expected {expected} values, found {found}")]
    LengthMismatch {
        /// What was being loaded.
        what: &'static str,
        /// The length needed.
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// A run that had to finish diverged. Training itself never fails this
    /// way — it hands back the last finite weights with
    /// [`Outcome::Diverged`](crate::trainer::Outcome::Diverged); this error
    /// is for callers that need a finished run, such as the
    /// [equivalence harness](crate::equivalence).
    #[error("training diverged in epoch {epoch}: {reason}")]
    Diverged {
        /// The epoch whose end found the non-finite value, from 0.
        epoch: usize,
        /// What was non-finite.
        reason: String,
    },
    /// The worker thread pool could not be created.
    #[error("could not start the worker thread pool: {0}")]
    ThreadPool(String),
    /// A data-parallel job's collective failed, or another rank of the job
    /// ended it (see [`cluster`](crate::cluster)).
    #[error("rank {rank} of {size}: {what}")]
    Cluster {
        /// This process's rank, from 0.
        rank: usize,
        /// The number of ranks.
        size: usize,
        /// What went wrong.
        what: String,
    },
    /// A data file is malformed at a known place.
    #[error("{file}: line {line}, column {column}: {what}")]
    Parse {
        /// The file's name as given (or a label such as `<memory>`).
        file: String,
        /// Line number, from 1.
        line: usize,
        /// Column (byte offset within the line), from 1.
        column: usize,
        /// What is wrong there.
        what: ParseIssue,
    },
    /// A data file holds no data rows at all.
    #[error("{file}: the file is empty (no data rows{detail})")]
    EmptyFile {
        /// The file's name as given.
        file: String,
        /// Extra detail, such as ", only comments and blank lines"; may be empty.
        detail: &'static str,
    },
    /// Reading or writing a file failed.
    #[error("{file}: {source}")]
    Io {
        /// The file's name as given.
        file: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Something would need more memory than the machine has available (or
    /// than the budget set with [`limits::set_memory_limit`](crate::limits::set_memory_limit)).
    #[error(
        "{what} would need {} of memory, more than the {} {}",
        human_bytes(*needed),
        human_bytes(*limit),
        if *budget { "left of the memory limit set" } else { "available on this machine" }
    )]
    OutOfMemory {
        /// What asked for the memory.
        what: String,
        /// Bytes it needs.
        needed: u64,
        /// Bytes that may be used.
        limit: u64,
        /// Whether the limit is a budget the program set rather than the
        /// machine's available memory.
        budget: bool,
    },
    /// An input file holds more bytes (after decompression) than the
    /// reader's limit allows.
    #[error("{file}: more than {limit} bytes of input (after decompression), the reading limit")]
    InputTooLarge {
        /// The file's name as given.
        file: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// An output path that must not be written: it is not a regular file,
    /// its folder is missing, or it is also an input or another output.
    #[error("{file}: refusing to write: {reason}")]
    Output {
        /// The path as given.
        file: String,
        /// Why.
        reason: String,
    },
    /// A checkpoint or saved model cannot be used.
    #[error("{file}: not a usable checkpoint: {what}")]
    Checkpoint {
        /// The file's name as given.
        file: String,
        /// What is wrong with it.
        what: CheckpointIssue,
    },
}

/// Why a file is not a usable checkpoint (see [`Error::Checkpoint`]).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum CheckpointIssue {
    /// Shorter (or longer) than its header says it must be.
    Truncated {
        /// The file's length in bytes.
        len: u64,
        /// The length it must have (the header's size, if the header itself is cut).
        expected: u64,
    },
    /// Does not start with the checkpoint magic bytes: not a wildsgd checkpoint.
    BadMagic,
    /// Written in a format version this build cannot read.
    UnsupportedVersion {
        /// The file's version.
        found: u32,
        /// The oldest version this build reads.
        oldest: u32,
        /// The newest version this build reads (the one it writes).
        newest: u32,
    },
    /// The checksum does not match: the file is corrupted.
    ChecksumMismatch {
        /// The checksum stored in the file.
        stored: u32,
        /// The checksum of the file's contents.
        computed: u32,
    },
    /// A field holds a value no writer produces.
    BadField {
        /// Which field.
        field: &'static str,
        /// What it holds.
        value: String,
    },
    /// A weight is NaN or infinite: the file holds a diverged model (the
    /// trainer never saves one), so nothing can be computed with it.
    NonFiniteWeight {
        /// The weight's index.
        index: usize,
        /// Its value.
        value: f32,
    },
    /// A well-formed checkpoint of a different model than the one asked for.
    WrongModel {
        /// How it differs.
        reason: String,
    },
    /// A table the reader needs is absent, or holds another type of value.
    MissingTable {
        /// The table's name.
        name: String,
        /// The type of value wanted.
        wanted: &'static str,
    },
}

impl fmt::Display for CheckpointIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckpointIssue::Truncated { len, expected } => {
                write!(f, "truncated: {len} bytes, expected {expected}")
            }
            CheckpointIssue::BadMagic => write!(f, "not a wildsgd checkpoint (bad magic bytes)"),
            CheckpointIssue::UnsupportedVersion { found, oldest, newest } => write!(
                f,
                "format version {found}, but this build reads versions {oldest} to {newest}"
            ),
            CheckpointIssue::ChecksumMismatch { stored, computed } => write!(
                f,
                "corrupted: checksum {computed:#010x} does not match the stored {stored:#010x}"
            ),
            CheckpointIssue::BadField { field, value } => write!(f, "invalid {field} {value}"),
            CheckpointIssue::NonFiniteWeight { index, value } => write!(
                f,
                "weight {index} is {value}: the file holds a diverged model, which cannot be evaluated, applied or resumed"
            ),
            CheckpointIssue::WrongModel { reason } => write!(f, "a different model: {reason}"),
            CheckpointIssue::MissingTable { name, wanted } => {
                write!(f, "no table {name:?} holding {wanted}")
            }
        }
    }
}

impl Error {
    pub(crate) fn in_dataset(self, dataset: &'static str) -> Error {
        Error::Data {
            dataset,
            source: Box::new(self),
        }
    }
}

/// What is wrong at the place a [`Error::Parse`] names. Every reader
/// ([`read_libsvm`](crate::data::read_libsvm), [`read_ratings`](crate::data::read_ratings),
/// [`read_edge_list`](crate::data::read_edge_list), [`read_metis`](crate::data::read_metis),
/// [`read_corpus`](crate::data::read_corpus)) reports malformed input as one of
/// these, never by panicking.
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
    /// A field of a tab- or comma-separated record is empty (or only spaces).
    EmptyField {
        /// Which field.
        field: &'static str,
    },
    /// A NUL byte: none of the text formats holds one, so the input is
    /// binary (a model file, an archive, a compression other than gzip...).
    NulByte,
    /// A field (or, for a corpus, the text) is not valid UTF-8; the column
    /// is that of the first invalid byte.
    InvalidUtf8 {
        /// What holds it (`user id`, `text`, ...).
        field: &'static str,
    },
    /// A comma-separated field starts with a double quote: quoted CSV is
    /// not supported (a quoted field may hold commas, which would shift the
    /// fields after it).
    QuotedField,
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
            ParseIssue::EmptyField { field } => write!(f, "the {field} field is empty"),
            ParseIssue::NulByte => f.write_str("a NUL byte: this is binary data, not text"),
            ParseIssue::InvalidUtf8 { field } => write!(f, "the {field} is not valid UTF-8"),
            ParseIssue::QuotedField => f.write_str(
                "a quoted field: quoted CSV is not supported (write fields without quotes and commas, or separate them with tabs)",
            ),
            ParseIssue::Invalid(what) => f.write_str(what),
        }
    }
}

/// A byte count for messages: `1.5 GiB`, `512 B`.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
