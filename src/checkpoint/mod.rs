//! Crash-safe checkpoints (and saved models) of any model that implements
//! [`Persist`]: the container knows the trainer's state, a kind name, an
//! opaque parameter block, named [`Table`]s and the weights, never a model.
//!
//! # Format (version 3)
//!
//! A checkpoint is one file, every number little-endian:
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 8 | magic `WSGDCKPT` |
//! | 8 | 4 | format version, `u32` (3) |
//! | 12 | 1 | schedule: 0 constant, 1 inverse-time, 2 epoch-decay, 3 linear |
//! | 13 | 1 | flags: bit 0 set when the run averages the last epoch's iterates |
//! | 14 | 2 | reserved, 0 |
//! | 16 | 4 | schedule's initial rate, `f32` |
//! | 20 | 4 | schedule's decay, `f32` (0 for constant and linear) |
//! | 24 | 8 | linear schedule's sample count, `u64` (0 for the others) |
//! | 32 | 8 | epochs completed, `u64` |
//! | 40 | 8 | seed, `u64` |
//! | 48 | 8 | length `M` of the metadata block, `u64` |
//! | 56 | 8 | number of weights `n`, `u64` (at most [`MAX_WEIGHTS`](crate::limits::MAX_WEIGHTS)) |
//! | 64 | M | metadata block (below) |
//! | 64 + M | 4·n | the weights, `f32`, all finite |
//! | 64 + M + 4·n | 4 | CRC-32 (IEEE) of every byte before it |
//!
//! Strings are a `u32` byte length, then UTF-8. The metadata block holds the
//! policy name as on the command line (a string); the model's kind
//! ([`Persist::KIND`], a string); the parameter block (a `u64` length, then
//! what [`Persist::encode`] wrote); then the tables: a `u32` count, then per
//! table, in name order, its name (a string), a type byte and its value:
//! 0 text (a string), 1 strings (a `u64` count, then the strings), 2 a `u64`,
//! 3 `u64`s (a `u64` count, then the values), 4 a finite `f64`.
//!
//! Versions 1 (linear models only) and 2 (one fixed layout per built-in
//! model) are still read, and converted: see `src/checkpoint/legacy.rs`.
//!
//! [`Checkpoint::save`] writes to a temporary file in the same directory,
//! fsyncs it, renames it over the target and fsyncs the directory, so a crash
//! at any moment leaves either the old or the new checkpoint, whole.
//! [`Checkpoint::load`] rejects truncated, corrupted, wrong-version and
//! foreign files with a [`CheckpointIssue`] saying which; [`Checkpoint::model`]
//! decodes the model, checking every value before it is used.

mod frame;
mod legacy;
mod table;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;

pub use self::legacy::tables;
pub use self::table::Table;
pub use crate::error::CheckpointIssue;
use crate::error::Error;
pub use crate::model::persist::{bad, Decoder, Encoder, Persist};
pub use crate::output::write_atomically;
use crate::policy::Policy;
use crate::schedule::Schedule;
use crate::trainer::Trainer;

/// The first 8 bytes of every checkpoint.
pub const MAGIC: [u8; 8] = *b"WSGDCKPT";
/// The format version this build writes.
pub const VERSION: u32 = 3;
/// The oldest format version this build still reads.
pub const OLDEST_VERSION: u32 = 1;
/// Version 3's fixed header, before the metadata block.
const HEADER: usize = 64;

/// A model's weights with everything needed to use them again or to resume
/// training: the model's kind and parameters, the caller's tables, the
/// trainer's schedule, policy, seed and averaging, and how many epochs are done.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// The model's [`Persist::KIND`].
    pub kind: String,
    /// The model's parameters, as [`Persist::encode`] wrote them.
    pub params: Vec<u8>,
    /// The caller's named tables.
    pub tables: BTreeMap<String, Table>,
    /// The schedule of the run.
    pub schedule: Schedule,
    /// The policy of the run.
    pub policy: Policy,
    /// Whether the run averages the last epoch's iterates ([`Trainer::average`]).
    pub average: bool,
    /// Epochs completed when the weights were taken: resume with
    /// [`Trainer::start_epoch`]`(epochs_done)`.
    pub epochs_done: usize,
    /// The trainer's seed.
    pub seed: u64,
    /// The weights, in the model's layout.
    pub weights: Vec<f32>,
}

impl Checkpoint {
    /// A checkpoint of `model` after `epochs_done` epochs of `trainer`,
    /// holding `weights`, without tables; [`average`](Self::average) is
    /// `false` (set it when the trainer averages: a [`Trainer`] does not say).
    pub fn new<M: Persist>(model: &M, trainer: &Trainer, epochs_done: usize, weights: Vec<f32>) -> Self {
        let mut params = Encoder::new();
        model.encode(&mut params);
        Checkpoint {
            kind: M::KIND.to_string(),
            params: params.into_bytes(),
            tables: BTreeMap::new(),
            schedule: trainer.get_schedule(),
            policy: trainer.get_policy(),
            average: false,
            epochs_done,
            seed: trainer.get_seed(),
            weights,
        }
    }

    /// The checkpoint with `table` attached as `name` (replacing one so named).
    pub fn with_table(mut self, name: impl Into<String>, table: Table) -> Self {
        self.tables.insert(name.into(), table);
        self
    }

    /// The model these weights belong to; `file` is what errors call the file.
    /// A model whose parameters depend on training data (an L2 scaled by it)
    /// comes back scaled for no data: rebuild that part to resume training.
    ///
    /// # Errors
    /// [`CheckpointIssue::WrongModel`] if it holds another kind of model; a
    /// [`CheckpointIssue::BadField`] if its parameters are invalid.
    pub fn model<M: Persist>(&self, file: &str) -> Result<M, Error> {
        self.model_matching(file, |_: &M| None)
    }

    /// [`model`](Self::model), then `check`, which says why the model is not
    /// the one asked for (a [`CheckpointIssue::WrongModel`]), or `None`.
    pub fn model_matching<M: Persist>(&self, file: &str, check: impl FnOnce(&M) -> Option<String>) -> Result<M, Error> {
        let fail = |what| Error::Checkpoint {
            file: file.to_string(),
            what,
        };
        let wrong = |reason| fail(CheckpointIssue::WrongModel { reason });
        if self.kind != M::KIND {
            return Err(wrong(format!("it holds a {} model, not {}", self.kind, M::KIND)));
        }
        let mut input = Decoder::new(&self.params, self.weights.len() as u64);
        let model = M::decode(&mut input).map_err(fail)?;
        input.finish("parameter block").map_err(fail)?;
        if model.n_weights() != self.weights.len() {
            let stored = self.weights.len();
            return Err(fail(bad(
                "dimension",
                format!("{stored} for a {} model of {} weights", M::KIND, model.n_weights()),
            )));
        }
        match check(&model) {
            Some(reason) => Err(wrong(reason)),
            None => Ok(model),
        }
    }

    /// The encoded file contents (format version [`VERSION`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut meta = Encoder::new();
        meta.string(&self.policy.to_string()).string(&self.kind);
        meta.usize(self.params.len()).bytes(&self.params);
        table::encode(&self.tables, &mut meta);
        let meta = meta.into_bytes();
        let (code, initial, decay, samples) = match self.schedule {
            Schedule::Constant(lr) => (0u8, lr, 0.0, 0),
            Schedule::InverseTime { initial, decay } => (1, initial, decay, 0),
            Schedule::EpochDecay { initial, decay } => (2, initial, decay, 0),
            Schedule::Linear { initial, samples } => (3, initial, 0.0, samples),
        };
        let mut b = Encoder::new();
        b.bytes(&MAGIC).u32(VERSION).u8(code).bool(self.average).bytes(&[0, 0]);
        b.f32(initial)
            .f32(decay)
            .u64(samples)
            .usize(self.epochs_done)
            .u64(self.seed);
        b.usize(meta.len()).usize(self.weights.len()).bytes(&meta);
        for w in &self.weights {
            b.f32(*w);
        }
        let mut b = b.into_bytes();
        b.extend_from_slice(&crc32fast::hash(&b).to_le_bytes());
        b
    }

    /// Decodes a checkpoint of format version 1, 2 or 3; `name` is what
    /// errors call it.
    pub fn from_bytes(name: &str, b: &[u8]) -> Result<Self, Error> {
        let decoded = match b.get(8..12).map(|v| u32::from_le_bytes(v.try_into().expect("4 bytes"))) {
            _ if b.len() < MAGIC.len() || b[..MAGIC.len()] != MAGIC => Err(CheckpointIssue::BadMagic),
            None => Err(CheckpointIssue::Truncated {
                len: b.len() as u64,
                expected: HEADER as u64 + 4,
            }),
            Some(1) => legacy::from_v1(b),
            Some(2) => legacy::from_v2(b),
            Some(VERSION) => Self::from_v3(b),
            Some(found) => Err(frame::unsupported(found)),
        };
        decoded.map_err(|what| Error::Checkpoint {
            file: name.to_string(),
            what,
        })
    }

    fn from_v3(b: &[u8]) -> Result<Self, CheckpointIssue> {
        frame::truncated(b, HEADER)?;
        let mut h = Decoder::new(&b[12..HEADER], 0);
        let (code, flags, reserved) = (h.u8("")?, h.u8("")?, h.take(2, "")?);
        let (initial, decay, samples) = (h.f32("")?, h.f32("")?, h.u64("")?);
        let (epochs_done, seed, meta_len, n) = (h.u64("")?, h.u64("")?, h.u64("")?, h.u64("")?);
        let body = frame::check_frame(b, HEADER, meta_len, n)?;
        let (meta, weights) = b[HEADER..body].split_at(meta_len as usize); // bounded by the frame check
        if reserved != [0, 0] {
            return Err(bad("reserved bytes", format!("{reserved:?}")));
        }
        let schedule = match code {
            3 if decay.to_bits() == 0 => frame::valid(Schedule::Linear { initial, samples })?,
            3 => return Err(bad("linear schedule's decay", decay)),
            _ if samples != 0 => return Err(bad("sample count", samples)),
            c => frame::schedule_of(c, initial, decay)?,
        };
        let average = match flags {
            0 | 1 => flags == 1,
            v => return Err(bad("flags", v)),
        };
        let mut m = Decoder::new(meta, 0);
        let policy = frame::policy_of(&m.string("policy name")?)?;
        let kind = m.string("model kind")?;
        let n = m.count(1, "parameter block length")?;
        let params = m.take(n, "parameter block")?.to_vec();
        let tables = table::decode(&mut m)?;
        m.finish("metadata block")?;
        Ok(Checkpoint {
            kind,
            params,
            tables,
            schedule,
            policy,
            average,
            epochs_done: usize::try_from(epochs_done).map_err(|_| bad("epochs completed", epochs_done))?,
            seed,
            weights: frame::weights_of(weights)?,
        })
    }

    /// Reads and checks a checkpoint file. The magic bytes and the length
    /// the header promises are checked first, and the memory for the rest
    /// before it is read: a file that is not a checkpoint (or a device such
    /// as `/dev/zero`) is rejected after at most a header's worth of bytes.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let io = |source| Error::Io {
            file: name.clone(),
            source,
        };
        let mut file = File::open(path).map_err(io)?;
        let mut head = Vec::with_capacity(frame::HEADER_V1);
        (&mut file)
            .take(frame::HEADER_V1 as u64)
            .read_to_end(&mut head)
            .map_err(io)?;
        let expected = match frame::expected_len(&head) {
            Ok(n) => n,
            Err(what) => return Err(Error::Checkpoint { file: name, what }),
        };
        let mut bytes = Vec::new();
        crate::limits::reserve(&mut bytes, expected, format_args!("reading the checkpoint {name}"))?;
        bytes.extend_from_slice(&head);
        // One byte more than promised tells a longer file from a whole one.
        file.take((expected + 1).saturating_sub(head.len() as u64))
            .read_to_end(&mut bytes)
            .map_err(io)?;
        Self::from_bytes(&name, &bytes)
    }

    /// Writes the checkpoint atomically: a temporary file in the same
    /// directory, fsynced, renamed over `path`, then the directory fsynced.
    /// A crash at any point leaves `path` holding either its old contents or
    /// the new ones, never a mixture.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        write_atomically(path.as_ref(), &self.to_bytes())
    }
}
