//! Crash-safe checkpoints (and saved models) of the built-in models:
//! [`Linear`], [`Softmax`], [`MatrixFactorization`] and [`Sgns`].
//!
//! # Format (version 2)
//!
//! A checkpoint is one file, every number little-endian:
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 8 | magic `WSGDCKPT` |
//! | 8 | 4 | format version, `u32` (2) |
//! | 12 | 1 | model kind: 0 linear, 1 softmax, 2 matrix factorisation, 3 SGNS embeddings |
//! | 13 | 1 | schedule: 0 constant, 1 inverse-time, 2 epoch-decay, 3 linear |
//! | 14 | 1 | flags: bit 0 set when the run averages the last epoch's iterates |
//! | 15 | 1 | reserved, 0 |
//! | 16 | 4 | schedule's initial rate, `f32` |
//! | 20 | 4 | schedule's decay, `f32` (0 for constant; the bits of the sample count, a `u32`, for linear) |
//! | 24 | 8 | epochs completed, `u64` |
//! | 32 | 8 | seed, `u64` |
//! | 40 | 8 | length `P` of the parameter block, `u64` |
//! | 48 | 8 | number of weights `dim`, `u64` |
//! | 56 | P | parameter block: the policy name as on the command line (`u32` length, then UTF-8), then the model's parameters (below) |
//! | 56 + P | 4·dim | the weights, `f32` |
//! | 56 + P + 4·dim | 4 | CRC-32 (IEEE) of every byte before it |
//!
//! Model parameters, by kind:
//!
//! - linear: loss `u8` (0 logistic, 1 hinge, 2 squared), bias `u8` (0/1), 2 reserved bytes,
//!   λ `f32`, bias learning-rate scale `f32`, features `u64`; `dim` = features + bias.
//! - softmax: classes `u64`, features `u64`, λ `f32`; `dim` = classes · (features + 1).
//! - matrix factorisation: users `u64`, items `u64`, rank `u64`, global mean `f32`, λ `f32`,
//!   clip flag `u8` (0/1), clip low `f32`, clip high `f32` (0 without clipping), then the
//!   users' file ids and the items' file ids, each a `u32` length then UTF-8;
//!   `dim` = (users + items) · (rank + 1).
//! - SGNS embeddings: text flag `u8` (1 word2vec, 0 graph), 3 reserved bytes, items `u64`,
//!   embedding dimension `u64`, negatives `u64`, negative seed `u64`, window `u64`,
//!   sub-sampling threshold `f64` (window and threshold 0 for graphs), then the items' names
//!   (words, or node names: a METIS vertex's number from 1), each a `u32` length then UTF-8,
//!   then their counts (`u64` each: the negative table's counts); `dim` = 2 · items · dimension.
//!
//! Version 1 files (linear models only, written before version 2 existed) are
//! still read: [`Checkpoint::from_bytes`] turns them into a linear checkpoint.
//!
//! [`Checkpoint::save`] writes to a temporary file in the same directory,
//! fsyncs it, renames it over the target and fsyncs the directory, so a crash
//! at any moment leaves either the old or the new checkpoint, whole.
//! [`Checkpoint::load`] rejects truncated, corrupted, wrong-version and
//! foreign files with a [`CheckpointIssue`] saying which.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::data::{CsrDataset, Ratings};
use crate::model::{Sgns, UnigramTable, MAX_CLASSES};
use crate::{Error, Linear, Loss, MatrixFactorization, Policy, Schedule, Softmax};

/// The first 8 bytes of every checkpoint.
pub const MAGIC: [u8; 8] = *b"WSGDCKPT";
/// The format version this build writes.
pub const VERSION: u32 = 2;
/// The oldest format version this build still reads (linear models only).
pub const OLDEST_VERSION: u32 = 1;
/// Version 2's fixed header, before the parameter block.
const HEADER: usize = 56;
/// Version 1's fixed header, before the weights.
const HEADER_V1: usize = 80;

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
    /// Does not start with [`MAGIC`]: not a wildsgd checkpoint.
    BadMagic,
    /// Written in a format version this build cannot read.
    UnsupportedVersion {
        /// The file's version.
        found: u32,
    },
    /// The checksum does not match: the file is corrupted.
    ChecksumMismatch {
        /// The checksum stored in the file.
        stored: u32,
        /// The checksum of the file's contents.
        computed: u32,
    },
    /// A header field holds a value no writer produces.
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
}

impl fmt::Display for CheckpointIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckpointIssue::Truncated { len, expected } => {
                write!(f, "truncated: {len} bytes, expected {expected}")
            }
            CheckpointIssue::BadMagic => write!(f, "not a wildsgd checkpoint (bad magic bytes)"),
            CheckpointIssue::UnsupportedVersion { found } => write!(
                f,
                "format version {found}, but this build reads versions {OLDEST_VERSION} to {VERSION}"
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
        }
    }
}

/// Which model a checkpoint holds, with everything needed to rebuild it
/// around its weights.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum SavedModel {
    /// A [`Linear`] model.
    Linear {
        /// The loss.
        loss: Loss,
        /// Whether the last weight is a bias.
        bias: bool,
        /// The bias's learning-rate scale.
        bias_scale: f32,
        /// The L2 strength λ.
        l2: f32,
        /// The number of features (weights, less the bias).
        n_features: usize,
    },
    /// A [`Softmax`] model.
    Softmax {
        /// The number of classes.
        n_classes: usize,
        /// The number of features.
        n_features: usize,
        /// The L2 strength λ.
        l2: f32,
    },
    /// A [`MatrixFactorization`] model and the id tables of the data it was
    /// trained on (a dense user or item number is a position in them).
    MatrixFactorization {
        /// The length of the factor vectors.
        rank: usize,
        /// The global mean `μ`.
        mean: f32,
        /// The clip range of predictions, if any.
        clip: Option<(f32, f32)>,
        /// The L2 strength λ.
        l2: f32,
        /// The users' ids as the training file wrote them (one per user).
        user_ids: Vec<String>,
        /// The items' ids as the training file wrote them (one per item).
        item_ids: Vec<String>,
    },
    /// An [`Sgns`] embedding model (word2vec on text, LINE-style on a graph)
    /// with the names of its items and the counts its negative table was
    /// built from (item `k` is `names[k]`).
    Sgns {
        /// Trained on text (skip-gram pairs), not on graph edges.
        text: bool,
        /// The embedding dimension.
        dim: usize,
        /// Negatives per pair.
        negatives: usize,
        /// The seed of the negative draws.
        negative_seed: u64,
        /// The skip-gram window (0 for graphs).
        window: usize,
        /// The sub-sampling threshold (0 for graphs).
        subsample: f64,
        /// The items' names: words, or node names (a METIS vertex's number from 1).
        names: Vec<String>,
        /// The items' counts in the training data (the negative table's counts).
        counts: Vec<u64>,
    },
}

impl SavedModel {
    /// The parameters of `model`.
    pub fn of_linear(model: &Linear) -> Self {
        SavedModel::Linear {
            loss: model.loss_fn(),
            bias: model.has_bias(),
            bias_scale: model.bias_rate(),
            l2: model.l2_strength(),
            n_features: model.n_features(),
        }
    }

    /// The parameters of `model`.
    pub fn of_softmax(model: &Softmax) -> Self {
        SavedModel::Softmax {
            n_classes: model.n_classes(),
            n_features: model.n_features(),
            l2: model.l2_strength(),
        }
    }

    /// The parameters of `model`, trained on data whose id tables are
    /// `user_ids` and `item_ids` (as [`Ratings::user_ids`] and
    /// [`Ratings::item_ids`]).
    ///
    /// # Errors
    /// If the tables' lengths are not the model's user and item counts.
    pub fn of_mf(model: &MatrixFactorization, user_ids: &[String], item_ids: &[String]) -> Result<Self, Error> {
        for (what, expected, found) in [
            ("user ids of a matrix factorisation", model.n_users(), user_ids.len()),
            ("item ids of a matrix factorisation", model.n_items(), item_ids.len()),
        ] {
            if expected != found {
                return Err(Error::LengthMismatch { what, expected, found });
            }
        }
        Ok(SavedModel::MatrixFactorization {
            rank: model.rank(),
            mean: model.mean(),
            clip: model.clip_range(),
            l2: model.l2_strength(),
            user_ids: user_ids.to_vec(),
            item_ids: item_ids.to_vec(),
        })
    }

    /// The kind's name as the command line spells it: `linear`, `softmax`,
    /// `mf`, `word2vec`, `line`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            SavedModel::Linear { .. } => "linear",
            SavedModel::Softmax { .. } => "softmax",
            SavedModel::MatrixFactorization { .. } => "mf",
            SavedModel::Sgns { text: true, .. } => "word2vec",
            SavedModel::Sgns { text: false, .. } => "line",
        }
    }

    /// The number of weights the model has (saturating, for corrupt sizes).
    pub fn n_weights(&self) -> usize {
        match self {
            SavedModel::Linear { bias, n_features, .. } => n_features.saturating_add(usize::from(*bias)),
            SavedModel::Softmax {
                n_classes, n_features, ..
            } => n_classes.saturating_mul(n_features.saturating_add(1)),
            SavedModel::MatrixFactorization {
                rank,
                user_ids,
                item_ids,
                ..
            } => (user_ids.len().saturating_add(item_ids.len())).saturating_mul(rank.saturating_add(1)),
            SavedModel::Sgns { dim, names, .. } => names.len().saturating_mul(*dim).saturating_mul(2),
        }
    }

    fn code(&self) -> u8 {
        match self {
            SavedModel::Linear { .. } => 0,
            SavedModel::Softmax { .. } => 1,
            SavedModel::MatrixFactorization { .. } => 2,
            SavedModel::Sgns { .. } => 3,
        }
    }
}

/// A model's weights with everything needed to use them again or to resume
/// training: the model's parameters, the trainer's schedule, policy, seed and
/// averaging, and how many epochs are done.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// The model and its parameters.
    pub model: SavedModel,
    /// The schedule of the run.
    pub schedule: Schedule,
    /// The policy of the run.
    pub policy: Policy,
    /// Whether the run averages the last epoch's iterates
    /// ([`Trainer::average`](crate::Trainer::average)).
    pub average: bool,
    /// Epochs completed when the weights were taken: resume with
    /// [`Trainer::start_epoch`](crate::Trainer::start_epoch)`(epochs_done)`.
    pub epochs_done: usize,
    /// The trainer's seed.
    pub seed: u64,
    /// The weights, in the model's layout.
    pub weights: Vec<f32>,
}

fn loss_code(l: Loss) -> u8 {
    match l {
        Loss::Logistic => 0,
        Loss::Hinge => 1,
        Loss::Squared => 2,
    }
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(bytes);
    h.finalize()
}

fn schedule_fields(s: Schedule) -> (u8, f32, f32) {
    match s {
        Schedule::Constant(lr) => (0u8, lr, 0.0),
        Schedule::InverseTime { initial, decay } => (1, initial, decay),
        Schedule::EpochDecay { initial, decay } => (2, initial, decay),
        // The sample count travels as the bits of the f32 slot; counts
        // past u32::MAX are clamped there (a rate floor that late is 1e-4 anyway).
        Schedule::Linear { initial, samples } => (3, initial, f32::from_bits(samples.min(u64::from(u32::MAX)) as u32)),
    }
}

/// A little-endian reader over a checked byte slice; running out is a
/// `BadField` naming what was being read (the CRC has already matched, so
/// only a writer bug or a forged file gets here).
struct Cursor<'b> {
    b: &'b [u8],
    pos: usize,
}

impl<'b> Cursor<'b> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'b [u8], CheckpointIssue> {
        match self.pos.checked_add(n).filter(|&end| end <= self.b.len()) {
            Some(end) => {
                let s = &self.b[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(CheckpointIssue::BadField {
                field,
                value: format!("cut short: {n} bytes needed at offset {}", self.pos),
            }),
        }
    }
    fn u8(&mut self, field: &'static str) -> Result<u8, CheckpointIssue> {
        Ok(self.take(1, field)?[0])
    }
    fn u32(&mut self, field: &'static str) -> Result<u32, CheckpointIssue> {
        Ok(u32::from_le_bytes(self.take(4, field)?.try_into().expect("4 bytes")))
    }
    fn f32(&mut self, field: &'static str) -> Result<f32, CheckpointIssue> {
        Ok(f32::from_le_bytes(self.take(4, field)?.try_into().expect("4 bytes")))
    }
    fn u64(&mut self, field: &'static str) -> Result<u64, CheckpointIssue> {
        Ok(u64::from_le_bytes(self.take(8, field)?.try_into().expect("8 bytes")))
    }
    fn usize(&mut self, field: &'static str) -> Result<usize, CheckpointIssue> {
        let v = self.u64(field)?;
        usize::try_from(v).map_err(|_| bad(field, v.to_string()))
    }
    fn string(&mut self, field: &'static str) -> Result<String, CheckpointIssue> {
        let n = self.u32(field)? as usize;
        let s = self.take(n, field)?;
        String::from_utf8(s.to_vec()).map_err(|_| bad(field, format!("{:?} (not UTF-8)", String::from_utf8_lossy(s))))
    }
}

fn bad(field: &'static str, value: String) -> CheckpointIssue {
    CheckpointIssue::BadField { field, value }
}

fn put_string(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(&(s.len() as u32).to_le_bytes());
    b.extend_from_slice(s.as_bytes());
}

fn check_l2(l2: f32) -> Result<(), CheckpointIssue> {
    if l2.is_finite() && l2 >= 0.0 {
        Ok(())
    } else {
        Err(bad("L2 strength", l2.to_string()))
    }
}

fn loss_of(code: u8) -> Result<Loss, CheckpointIssue> {
    match code {
        0 => Ok(Loss::Logistic),
        1 => Ok(Loss::Hinge),
        2 => Ok(Loss::Squared),
        v => Err(bad("loss code", v.to_string())),
    }
}

fn bias_of(code: u8) -> Result<bool, CheckpointIssue> {
    match code {
        0 => Ok(false),
        1 => Ok(true),
        v => Err(bad("bias flag", v.to_string())),
    }
}

fn schedule_of(code: u8, initial: f32, decay: f32) -> Result<Schedule, CheckpointIssue> {
    let schedule = match code {
        0 => Schedule::Constant(initial),
        1 => Schedule::InverseTime { initial, decay },
        2 => Schedule::EpochDecay { initial, decay },
        3 => Schedule::Linear {
            initial,
            samples: u64::from(decay.to_bits()),
        },
        v => return Err(bad("schedule code", v.to_string())),
    };
    schedule
        .validate()
        .map_err(|e| bad("schedule", format!("{schedule:?} ({e})")))?;
    Ok(schedule)
}

fn policy_of(name: &str) -> Result<Policy, CheckpointIssue> {
    name.parse().map_err(|_| bad("policy", format!("{name:?}")))
}

fn weights_of(b: &[u8]) -> Result<Vec<f32>, CheckpointIssue> {
    let w: Vec<f32> = b
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect();
    match w.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(CheckpointIssue::NonFiniteWeight { index, value: w[index] }),
        None => Ok(w),
    }
}

impl Checkpoint {
    /// A checkpoint of `model` after `epochs_done` epochs of `trainer`,
    /// holding `weights`; [`average`](Self::average) is `false` (set it when
    /// the trainer averages: a [`Trainer`](crate::Trainer) does not say).
    pub fn new(model: SavedModel, trainer: &crate::Trainer, epochs_done: usize, weights: Vec<f32>) -> Self {
        Checkpoint {
            model,
            schedule: trainer.get_schedule(),
            policy: trainer.get_policy(),
            average: false,
            epochs_done,
            seed: trainer.get_seed(),
            weights,
        }
    }

    /// The number of weights the model has.
    pub fn n_weights(&self) -> usize {
        self.model.n_weights()
    }

    fn wrong(&self, name: &str, wanted: &str) -> Error {
        Error::Checkpoint {
            file: name.to_string(),
            what: CheckpointIssue::WrongModel {
                reason: format!("it holds a {} model, not {wanted}", self.model.kind_name()),
            },
        }
    }

    /// The [`Linear`] model these weights belong to, its lazy L2 scaled by
    /// `train`'s document frequencies (pass the training data to resume
    /// training; any data, or an empty dataset, to evaluate: the scaling only
    /// affects steps). `name` is what the error calls the file.
    ///
    /// # Errors
    /// [`CheckpointIssue::WrongModel`] if it holds another kind of model.
    pub fn linear(&self, name: &str, train: &CsrDataset) -> Result<Linear, Error> {
        match &self.model {
            SavedModel::Linear {
                loss,
                bias,
                bias_scale,
                l2,
                n_features,
            } => Ok(Linear::new(*loss, *n_features)
                .bias(*bias)
                .bias_scale(*bias_scale)
                .l2(*l2, train)),
            _ => Err(self.wrong(name, "linear")),
        }
    }

    /// The [`Softmax`] model these weights belong to, its lazy L2 scaled by
    /// `train`'s document frequencies (as for [`linear`](Self::linear)).
    ///
    /// # Errors
    /// [`CheckpointIssue::WrongModel`] if it holds another kind of model.
    pub fn softmax(&self, name: &str, train: &CsrDataset) -> Result<Softmax, Error> {
        match &self.model {
            SavedModel::Softmax {
                n_classes,
                n_features,
                l2,
            } => Ok(Softmax::new(*n_classes, *n_features)?.l2(*l2, train)),
            _ => Err(self.wrong(name, "softmax")),
        }
    }

    /// The [`MatrixFactorization`] these weights belong to, its penalty
    /// weighted by `train`'s rating counts (pass the training ratings, in this
    /// checkpoint's id space, to resume; an empty [`Ratings`] to evaluate).
    ///
    /// # Errors
    /// [`CheckpointIssue::WrongModel`] if it holds another kind of model.
    pub fn mf(&self, name: &str, train: &Ratings) -> Result<MatrixFactorization, Error> {
        match &self.model {
            SavedModel::MatrixFactorization {
                rank,
                mean,
                clip,
                l2,
                user_ids,
                item_ids,
            } => Ok(MatrixFactorization::new(user_ids.len(), item_ids.len(), *rank)?
                .global_mean(*mean)
                .clip(*clip)
                .l2(*l2, train)),
            _ => Err(self.wrong(name, "mf")),
        }
    }

    /// The [`Sgns`] model these weights belong to, its negative table rebuilt
    /// from the saved counts.
    ///
    /// # Errors
    /// [`CheckpointIssue::WrongModel`] if it holds another kind of model.
    pub fn sgns(&self, name: &str) -> Result<Sgns, Error> {
        match &self.model {
            SavedModel::Sgns {
                dim,
                negatives,
                negative_seed,
                names,
                counts,
                ..
            } => Ok(Sgns::new(names.len(), *dim, UnigramTable::new(counts)?)?
                .negatives(*negatives)
                .seed(*negative_seed)),
            _ => Err(self.wrong(name, "an SGNS (line or word2vec)")),
        }
    }

    /// The encoded file contents (format version [`VERSION`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut params = Vec::new();
        put_string(&mut params, &self.policy.to_string());
        match &self.model {
            SavedModel::Linear {
                loss,
                bias,
                bias_scale,
                l2,
                n_features,
            } => {
                params.extend_from_slice(&[loss_code(*loss), u8::from(*bias), 0, 0]);
                params.extend_from_slice(&l2.to_le_bytes());
                params.extend_from_slice(&bias_scale.to_le_bytes());
                params.extend_from_slice(&(*n_features as u64).to_le_bytes());
            }
            SavedModel::Softmax {
                n_classes,
                n_features,
                l2,
            } => {
                params.extend_from_slice(&(*n_classes as u64).to_le_bytes());
                params.extend_from_slice(&(*n_features as u64).to_le_bytes());
                params.extend_from_slice(&l2.to_le_bytes());
            }
            SavedModel::MatrixFactorization {
                rank,
                mean,
                clip,
                l2,
                user_ids,
                item_ids,
            } => {
                for x in [user_ids.len(), item_ids.len(), *rank] {
                    params.extend_from_slice(&(x as u64).to_le_bytes());
                }
                params.extend_from_slice(&mean.to_le_bytes());
                params.extend_from_slice(&l2.to_le_bytes());
                let (flag, lo, hi) = clip.map_or((0u8, 0.0f32, 0.0f32), |(lo, hi)| (1, lo, hi));
                params.push(flag);
                params.extend_from_slice(&lo.to_le_bytes());
                params.extend_from_slice(&hi.to_le_bytes());
                for id in user_ids.iter().chain(item_ids) {
                    put_string(&mut params, id);
                }
            }
            SavedModel::Sgns {
                text,
                dim,
                negatives,
                negative_seed,
                window,
                subsample,
                names,
                counts,
            } => {
                params.extend_from_slice(&[u8::from(*text), 0, 0, 0]);
                for x in [
                    names.len() as u64,
                    *dim as u64,
                    *negatives as u64,
                    *negative_seed,
                    *window as u64,
                ] {
                    params.extend_from_slice(&x.to_le_bytes());
                }
                params.extend_from_slice(&subsample.to_le_bytes());
                for n in names {
                    put_string(&mut params, n);
                }
                for c in counts {
                    params.extend_from_slice(&c.to_le_bytes());
                }
            }
        }
        let mut b = Vec::with_capacity(HEADER + params.len() + 4 * self.weights.len() + 4);
        b.extend_from_slice(&MAGIC);
        b.extend_from_slice(&VERSION.to_le_bytes());
        let (kind, initial, decay) = schedule_fields(self.schedule);
        b.extend_from_slice(&[self.model.code(), kind, u8::from(self.average), 0]);
        b.extend_from_slice(&initial.to_le_bytes());
        b.extend_from_slice(&decay.to_le_bytes());
        for x in [
            self.epochs_done as u64,
            self.seed,
            params.len() as u64,
            self.weights.len() as u64,
        ] {
            b.extend_from_slice(&x.to_le_bytes());
        }
        b.extend_from_slice(&params);
        for w in &self.weights {
            b.extend_from_slice(&w.to_le_bytes());
        }
        let crc = crc32(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes a checkpoint of format version 1 or 2; `name` is what errors
    /// call it.
    pub fn from_bytes(name: &str, b: &[u8]) -> Result<Self, Error> {
        let fail = |what| Error::Checkpoint {
            file: name.to_string(),
            what,
        };
        if b.len() < MAGIC.len() || b[..MAGIC.len()] != MAGIC {
            return Err(fail(CheckpointIssue::BadMagic));
        }
        if b.len() < 12 {
            return Err(fail(CheckpointIssue::Truncated {
                len: b.len() as u64,
                expected: HEADER as u64 + 4,
            }));
        }
        let version = u32::from_le_bytes(b[8..12].try_into().expect("4 bytes"));
        let decoded = match version {
            1 => Self::from_v1(b),
            VERSION => Self::from_v2(b),
            found => Err(CheckpointIssue::UnsupportedVersion { found }),
        };
        decoded.map_err(fail)
    }

    /// Checks the length against `header + extra + 4 dim + 4` and the CRC;
    /// returns the offset of the CRC.
    fn check_frame(b: &[u8], header: usize, extra: u64, dim: u64) -> Result<usize, CheckpointIssue> {
        let expected = dim
            .checked_mul(4)
            .and_then(|w| w.checked_add(extra))
            .and_then(|w| w.checked_add(header as u64 + 4));
        if expected != Some(b.len() as u64) {
            return Err(CheckpointIssue::Truncated {
                len: b.len() as u64,
                expected: expected.unwrap_or(u64::MAX),
            });
        }
        let body = b.len() - 4;
        let stored = u32::from_le_bytes(b[body..].try_into().expect("4 bytes"));
        let computed = crc32(&b[..body]);
        if stored != computed {
            return Err(CheckpointIssue::ChecksumMismatch { stored, computed });
        }
        Ok(body)
    }

    fn from_v2(b: &[u8]) -> Result<Self, CheckpointIssue> {
        if b.len() < HEADER + 4 {
            return Err(CheckpointIssue::Truncated {
                len: b.len() as u64,
                expected: HEADER as u64 + 4,
            });
        }
        let mut head = Cursor {
            b: &b[..HEADER],
            pos: 12,
        };
        let (kind, sched, flags, _) = (head.u8("")?, head.u8("")?, head.u8("")?, head.u8("")?);
        let (initial, decay) = (head.f32("")?, head.f32("")?);
        let (epochs_done, seed, params_len, dim) = (head.u64("")?, head.u64("")?, head.u64("")?, head.u64("")?);
        let body = Self::check_frame(b, HEADER, params_len, dim)?;
        let params_end = HEADER + params_len as usize; // fits: the frame check bounded it by the length
        let schedule = schedule_of(sched, initial, decay)?;
        let average = match flags {
            0 => false,
            1 => true,
            v => return Err(bad("flags", v.to_string())),
        };
        let mut p = Cursor {
            b: &b[HEADER..params_end],
            pos: 0,
        };
        let policy = policy_of(&p.string("policy name")?)?;
        let model = match kind {
            0 => {
                let (loss, bias) = (loss_of(p.u8("loss code")?)?, bias_of(p.u8("bias flag")?)?);
                p.take(2, "reserved bytes")?;
                let (l2, bias_scale) = (p.f32("L2 strength")?, p.f32("bias scale")?);
                let n_features = p.usize("number of features")?;
                check_l2(l2)?;
                if !(bias_scale.is_finite() && bias_scale > 0.0) {
                    return Err(bad("bias scale", bias_scale.to_string()));
                }
                SavedModel::Linear {
                    loss,
                    bias,
                    bias_scale,
                    l2,
                    n_features,
                }
            }
            1 => {
                let (n_classes, n_features) = (p.usize("number of classes")?, p.usize("number of features")?);
                let l2 = p.f32("L2 strength")?;
                check_l2(l2)?;
                if !(2..=MAX_CLASSES).contains(&n_classes) {
                    return Err(bad("number of classes", n_classes.to_string()));
                }
                if n_features == 0 {
                    return Err(bad("number of features", "0".into()));
                }
                SavedModel::Softmax {
                    n_classes,
                    n_features,
                    l2,
                }
            }
            2 => {
                let (n_users, n_items, rank) = (p.u64("users")?, p.u64("items")?, p.usize("rank")?);
                let (mean, l2) = (p.f32("global mean")?, p.f32("L2 strength")?);
                let (flag, lo, hi) = (p.u8("clip flag")?, p.f32("clip low")?, p.f32("clip high")?);
                check_l2(l2)?;
                if rank == 0 || rank > crate::limits::MAX_RANK {
                    return Err(bad("rank", rank.to_string()));
                }
                if !mean.is_finite() {
                    return Err(bad("global mean", mean.to_string()));
                }
                let clip = match flag {
                    0 => None,
                    1 if lo.is_finite() && hi.is_finite() && lo <= hi => Some((lo, hi)),
                    _ => return Err(bad("clip range", format!("flag {flag}, [{lo}, {hi}]"))),
                };
                // Each id takes at least its 4-byte length: a count beyond what
                // the block can hold is forged, and must not size an allocation.
                let room = (p.b.len() - p.pos) as u64 / 4;
                if n_users > u64::from(u32::MAX) || n_items > u64::from(u32::MAX) || n_users + n_items > room {
                    return Err(bad("user and item counts", format!("{n_users} and {n_items}")));
                }
                let mut ids = |n: u64, field| (0..n).map(|_| p.string(field)).collect::<Result<Vec<_>, _>>();
                let user_ids = ids(n_users, "user id")?;
                let item_ids = ids(n_items, "item id")?;
                SavedModel::MatrixFactorization {
                    rank,
                    mean,
                    clip,
                    l2,
                    user_ids,
                    item_ids,
                }
            }
            3 => {
                let text = match p.u8("text flag")? {
                    0 => false,
                    1 => true,
                    v => return Err(bad("text flag", v.to_string())),
                };
                p.take(3, "reserved bytes")?;
                let (n, dim, negatives) = (p.u64("items")?, p.usize("embedding dimension")?, p.usize("negatives")?);
                let (negative_seed, window) = (p.u64("negative seed")?, p.usize("window")?);
                let subsample = f64::from_le_bytes(p.take(8, "sub-sampling threshold")?.try_into().expect("8 bytes"));
                if dim == 0 || dim > crate::model::MAX_DIM {
                    return Err(bad("embedding dimension", dim.to_string()));
                }
                if negatives > crate::limits::MAX_NEGATIVES {
                    return Err(bad("negatives", negatives.to_string()));
                }
                if window > crate::limits::MAX_WINDOW {
                    return Err(bad("window", window.to_string()));
                }
                if !(subsample.is_finite() && subsample >= 0.0) {
                    return Err(bad("sub-sampling threshold", subsample.to_string()));
                }
                // Each item takes at least its 4-byte name length and 8-byte
                // count: a count beyond that is forged and must not size an allocation.
                let room = (p.b.len() - p.pos) as u64 / 12;
                if n == 0 || n > u64::from(u32::MAX) || n > room {
                    return Err(bad("items", n.to_string()));
                }
                let names = (0..n).map(|_| p.string("item name")).collect::<Result<Vec<_>, _>>()?;
                let counts = (0..n).map(|_| p.u64("item count")).collect::<Result<Vec<_>, _>>()?;
                if counts.iter().all(|&c| c == 0) {
                    return Err(bad("item counts", "all 0".into()));
                }
                SavedModel::Sgns {
                    text,
                    dim,
                    negatives,
                    negative_seed,
                    window,
                    subsample,
                    names,
                    counts,
                }
            }
            v => return Err(bad("model kind", v.to_string())),
        };
        if p.pos != p.b.len() {
            return Err(bad(
                "parameter block",
                format!("{} bytes long, {} used", p.b.len(), p.pos),
            ));
        }
        if model.n_weights() as u64 != dim {
            return Err(bad(
                "dimension",
                format!(
                    "{dim} for a {} model of {} weights",
                    model.kind_name(),
                    model.n_weights()
                ),
            ));
        }
        Ok(Checkpoint {
            model,
            schedule,
            policy,
            average,
            epochs_done: epochs_done as usize,
            seed,
            weights: weights_of(&b[params_end..body])?,
        })
    }

    /// Version 1: a linear model, fixed 80-byte header.
    fn from_v1(b: &[u8]) -> Result<Self, CheckpointIssue> {
        if b.len() < HEADER_V1 + 4 {
            return Err(CheckpointIssue::Truncated {
                len: b.len() as u64,
                expected: HEADER_V1 as u64 + 4,
            });
        }
        let mut h = Cursor {
            b: &b[..HEADER_V1],
            pos: 12,
        };
        let (loss, bias, sched, _) = (h.u8("")?, h.u8("")?, h.u8("")?, h.u8("")?);
        let (l2, bias_scale, initial, decay) = (h.f32("")?, h.f32("")?, h.f32("")?, h.f32("")?);
        let name_bytes = h.take(16, "")?;
        let (n_features, dim, epochs_done, seed) = (h.u64("")?, h.u64("")?, h.u64("")?, h.u64("")?);
        let body = Self::check_frame(b, HEADER_V1, 0, dim)?;
        let (loss, bias) = (loss_of(loss)?, bias_of(bias)?);
        let schedule = schedule_of(sched, initial, decay)?;
        check_l2(l2)?;
        if !(bias_scale.is_finite() && bias_scale > 0.0) {
            return Err(bad("bias scale", bias_scale.to_string()));
        }
        let end = name_bytes.iter().position(|&c| c == 0).unwrap_or(16);
        let policy = policy_of(&String::from_utf8_lossy(&name_bytes[..end]))?;
        if n_features.checked_add(u64::from(bias)) != Some(dim) {
            return Err(bad(
                "dimension",
                format!("{dim} for {n_features} features and bias {bias}"),
            ));
        }
        Ok(Checkpoint {
            model: SavedModel::Linear {
                loss,
                bias,
                bias_scale,
                l2,
                n_features: n_features as usize,
            },
            schedule,
            policy,
            average: false,
            epochs_done: epochs_done as usize,
            seed,
            weights: weights_of(&b[HEADER_V1..body])?,
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
        let fail = |what| Error::Checkpoint {
            file: name.clone(),
            what,
        };
        let mut file = File::open(path).map_err(io)?;
        let mut head = Vec::with_capacity(HEADER_V1);
        (&mut file).take(HEADER_V1 as u64).read_to_end(&mut head).map_err(io)?;
        if head.len() < MAGIC.len() || head[..MAGIC.len()] != MAGIC {
            return Err(fail(CheckpointIssue::BadMagic));
        }
        let expected = match Self::expected_len(&head) {
            Ok(n) => n,
            Err(what) => return Err(fail(what)),
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

    /// The file length a checkpoint's header promises (at least the header,
    /// for a header too short to say).
    fn expected_len(head: &[u8]) -> Result<u64, CheckpointIssue> {
        let field = |at: usize| -> Option<u64> { Some(u64::from_le_bytes(head.get(at..at + 8)?.try_into().ok()?)) };
        let version = head
            .get(8..12)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")));
        let (header, extra, dim) = match version {
            Some(1) => (HEADER_V1 as u64, Some(0), field(56)),
            Some(VERSION) => (HEADER as u64, field(40), field(48)),
            Some(found) => return Err(CheckpointIssue::UnsupportedVersion { found }),
            None => (HEADER as u64, None, None),
        };
        let total = dim
            .and_then(|d| d.checked_mul(4))
            .zip(extra)
            .and_then(|(w, p)| w.checked_add(p))
            .and_then(|w| w.checked_add(header + 4));
        match total {
            Some(t) => Ok(t),
            // Cut inside the header: read what there is, and let the
            // decoder say "truncated".
            None if (head.len() as u64) < header => Ok(header + 4),
            None => Err(CheckpointIssue::BadField {
                field: "lengths",
                value: "the header's sizes overflow".into(),
            }),
        }
    }

    /// Writes the checkpoint atomically: a temporary file in the same
    /// directory, fsynced, renamed over `path`, then the directory fsynced.
    /// A crash at any point leaves `path` holding either its old contents or
    /// the new ones, never a mixture.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        write_atomically(path.as_ref(), &self.to_bytes())
    }

    /// Checks that this checkpoint can continue training a linear model
    /// with `loss` (with or without a bias) over `n_features` features.
    pub fn check_model(&self, name: &str, loss: Loss, bias: bool, n_features: usize) -> Result<(), Error> {
        let reason = match &self.model {
            SavedModel::Linear {
                loss: l,
                bias: b,
                n_features: n,
                ..
            } => {
                if *l != loss {
                    Some(format!("it holds a {} model, not {}", l.name(), loss.name()))
                } else if *b != bias {
                    Some(format!("bias {b} in the file, {bias} asked for"))
                } else if *n < n_features {
                    Some(format!("{n} features in the file, but the data has {n_features}"))
                } else {
                    None
                }
            }
            other => Some(format!(
                "it holds a {} model, not linear {}",
                other.kind_name(),
                loss.name()
            )),
        };
        match reason {
            Some(reason) => Err(Error::Checkpoint {
                file: name.to_string(),
                what: CheckpointIssue::WrongModel { reason },
            }),
            None => Ok(()),
        }
    }
}

pub use crate::output::write_atomically;

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
        Checkpoint {
            model: SavedModel::Linear {
                loss: Loss::Hinge,
                bias: true,
                bias_scale: 0.01,
                l2: 1e-5,
                n_features: 3,
            },
            schedule: Schedule::InverseTime {
                initial: 0.5,
                decay: 1e-3,
            },
            policy: Policy::AtomicAdd,
            average: false,
            epochs_done: 7,
            seed: 42,
            weights: vec![1.0, -0.0, f32::MIN_POSITIVE, 3.5],
        }
    }

    fn mf_sample() -> Checkpoint {
        Checkpoint {
            model: SavedModel::MatrixFactorization {
                rank: 1,
                mean: 3.5,
                clip: Some((1.0, 5.0)),
                l2: 0.08,
                user_ids: vec!["u7".into(), "ü".into()],
                item_ids: vec!["".into()],
            },
            average: true,
            policy: Policy::Batched { size: 12_345_678 },
            weights: vec![0.5; 6],
            ..sample()
        }
    }

    #[test]
    fn round_trips_bit_for_bit() {
        let c = sample();
        let b = c.to_bytes();
        let d = Checkpoint::from_bytes("x", &b).unwrap();
        assert_eq!(d, c);
        assert_eq!(d.weights[1].to_bits(), (-0.0f32).to_bits());
        let m = mf_sample();
        assert_eq!(Checkpoint::from_bytes("x", &m.to_bytes()).unwrap(), m);
    }

    #[test]
    fn a_long_policy_name_keeps_its_parameters() {
        let c = Checkpoint {
            policy: Policy::HotCold {
                hot: 123_456_789,
                every: 987_654_321,
            },
            ..sample()
        };
        let d = Checkpoint::from_bytes("x", &c.to_bytes()).unwrap();
        assert_eq!(d.policy, c.policy);
    }

    #[test]
    fn every_single_byte_flip_and_cut_is_caught() {
        for b in [sample().to_bytes(), mf_sample().to_bytes()] {
            for i in 0..b.len() {
                let mut c = b.clone();
                c[i] ^= 0x10;
                assert!(Checkpoint::from_bytes("x", &c).is_err(), "flip at {i}");
                assert!(Checkpoint::from_bytes("x", &b[..i]).is_err(), "cut at {i}");
            }
        }
    }
}
