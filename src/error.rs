//! The crate's error type.

use std::fmt;

use crate::trainer::Report;

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
    /// Training produced a NaN or infinite loss or weight; see [`Divergence`].
    #[error("{0}")]
    Diverged(Box<Divergence>),
    /// The worker thread pool could not be created.
    #[error("could not start the worker thread pool: {0}")]
    ThreadPool(String),
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
        what: crate::data::ParseIssue,
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
        crate::limits::human_bytes(*needed),
        crate::limits::human_bytes(*limit),
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

/// What the divergence guard saw, and what it saved.
#[derive(Debug)]
pub struct Divergence {
    /// The epoch (from 0) at whose end the non-finite value was found.
    pub epoch: usize,
    /// What was non-finite.
    pub reason: String,
    /// The weights at the end of the last epoch that finished finite (the
    /// initial weights if the first epoch diverged). Never contains NaN/inf.
    pub last_finite: Vec<f32>,
    /// The report of the epochs before the divergence.
    pub report: Report,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "training diverged in epoch {}: {}; the last finite weights (after {} complete epoch(s)) are kept",
            self.epoch, self.reason, self.epoch
        )
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
