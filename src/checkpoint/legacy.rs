//! Format versions 1 and 2, read and converted into a version-3
//! [`Checkpoint`] (saving one writes version 3).
//!
//! Version 1 (linear models only): an 80-byte header — magic, version `u32`
//! (1), loss `u8`, bias `u8`, schedule `u8`, a reserved byte, λ, bias scale,
//! initial rate and decay (`f32` each), the policy name (16 bytes, NUL
//! padded), then features, weights `n`, epochs done and seed (`u64` each);
//! then the weights (`f32`) and a CRC-32 of every byte before it.
//!
//! Version 2: a 56-byte header — magic, version `u32` (2), model kind `u8`
//! (0 linear, 1 softmax, 2 matrix factorisation, 3 SGNS embeddings),
//! schedule `u8` (as version 3's, a linear schedule's sample count in the
//! bits of the decay), flags `u8` (bit 0: averaging), a reserved byte,
//! initial rate and decay (`f32`), epochs done, seed, parameter block length
//! `P` and weights `n` (`u64` each); then the parameter block — the policy
//! name (a string), then by kind:
//!
//! - linear: loss `u8`, bias `u8`, 2 reserved bytes, λ `f32`, bias scale `f32`, features `u64`;
//! - softmax: classes `u64`, features `u64`, λ `f32`;
//! - matrix factorisation: users, items and rank (`u64`), global mean `f32`, λ `f32`, clip flag
//!   `u8`, clip low and high (`f32`), then the users' and items' file ids (strings), which
//!   become the [`tables::USER_IDS`] and [`tables::ITEM_IDS`] tables;
//! - SGNS: text flag `u8` (1 word2vec, 0 line), 3 reserved bytes, items, dimension, negatives,
//!   negative seed and window (`u64`), sub-sampling threshold `f64`, the items' names
//!   (strings) and counts (`u64`): the [`tables::TASK`], [`tables::WINDOW`],
//!   [`tables::SUBSAMPLE`], [`tables::NAMES`] and [`tables::COUNTS`] tables, the negative
//!   table rebuilt from the counts;
//!
//! then the weights and the CRC, as in version 3.

use std::collections::BTreeMap;

use super::frame::{check_frame, policy_of, schedule_of, truncated, weights_of, HEADER_V1, HEADER_V2};
use super::{bad, Checkpoint, CheckpointIssue, Decoder, Persist, Table};
use crate::data::{CsrDataset, Ratings};
use crate::model::{Linear, Loss, MatrixFactorization, Softmax};
use crate::model::{Sgns, UnigramTable, MAX_CLASSES, MAX_DIM};
use crate::policy::Policy;
use crate::schedule::Schedule;

/// The names of the tables a converted version-2 file carries (the
/// `wildsgd` command writes and reads the same ones).
pub mod tables {
    /// Matrix factorisation: the users' ids as the training file wrote them ([`Table::Strings`](super::Table::Strings)).
    pub const USER_IDS: &str = "user ids";
    /// Matrix factorisation: the items' ids as the training file wrote them ([`Table::Strings`](super::Table::Strings)).
    pub const ITEM_IDS: &str = "item ids";
    /// Classifiers saved by the Python package: each class's label, as text
    /// (`str()` of it), then a last entry naming the labels' NumPy dtype
    /// ([`Table::Strings`](super::Table::Strings)). Without it the classes
    /// are the command line's: -1 and 1 for a binary model, `0..C` for softmax.
    pub const CLASSES: &str = "classes";
    /// Linear models trained on hashed features (`--hash-bits`): the bits
    /// and the hash seed ([`Table::U64s`](super::Table::U64s)); data to
    /// evaluate or predict on is hashed the same way.
    pub const HASHING: &str = "feature hashing";
    /// Embeddings: `word2vec` or `line` ([`Table::Text`](super::Table::Text)).
    pub const TASK: &str = "task";
    /// Embeddings: the items' names, words or node names ([`Table::Strings`](super::Table::Strings)).
    pub const NAMES: &str = "names";
    /// Embeddings: the items' counts in the training data ([`Table::U64s`](super::Table::U64s)).
    pub const COUNTS: &str = "counts";
    /// Embeddings: the skip-gram window, 0 for graphs ([`Table::U64`](super::Table::U64)).
    pub const WINDOW: &str = "window";
    /// Embeddings: the sub-sampling threshold, 0 for graphs ([`Table::F64`](super::Table::F64)).
    pub const SUBSAMPLE: &str = "subsample";
}

fn loss_of(code: u8) -> Result<Loss, CheckpointIssue> {
    match code {
        0 => Ok(Loss::Logistic),
        1 => Ok(Loss::Hinge),
        2 => Ok(Loss::Squared),
        v => Err(bad("loss code", v)),
    }
}

fn l2_of(l2: f32) -> Result<f32, CheckpointIssue> {
    if l2.is_finite() && l2 >= 0.0 {
        Ok(l2)
    } else {
        Err(bad("L2 strength", l2))
    }
}

fn linear(
    loss: Loss,
    bias: bool,
    bias_scale: f32,
    l2: f32,
    n_features: u64,
    n: u64,
) -> Result<Linear, CheckpointIssue> {
    if n_features.checked_add(u64::from(bias)) != Some(n) {
        return Err(bad(
            "dimension",
            format!("{n} for {n_features} features and bias {bias}"),
        ));
    }
    if !(bias_scale.is_finite() && bias_scale > 0.0) {
        return Err(bad("bias scale", bias_scale));
    }
    let l2 = l2_of(l2)?;
    Ok(Linear::new(loss, n_features as usize)
        .bias(bias)
        .bias_scale(bias_scale)
        .l2(l2, &CsrDataset::new(0)))
}

/// The trainer's state of a converted file, the model and tables to come.
struct Base {
    schedule: Schedule,
    policy: Policy,
    average: bool,
    epochs_done: u64,
    seed: u64,
}

impl Base {
    fn with<M: Persist>(self, model: &M, weights: &[u8]) -> Result<Checkpoint, CheckpointIssue> {
        let mut params = super::Encoder::new();
        model.encode(&mut params);
        Ok(Checkpoint {
            kind: M::KIND.to_string(),
            params: params.into_bytes(),
            tables: BTreeMap::new(),
            schedule: self.schedule,
            policy: self.policy,
            average: self.average,
            epochs_done: usize::try_from(self.epochs_done).map_err(|_| bad("epochs completed", self.epochs_done))?,
            seed: self.seed,
            weights: weights_of(weights)?,
        })
    }
}

/// Version 1: a linear model, fixed 80-byte header.
pub(super) fn from_v1(b: &[u8]) -> Result<Checkpoint, CheckpointIssue> {
    truncated(b, HEADER_V1)?;
    let mut h = Decoder::new(&b[12..HEADER_V1], 0);
    let (loss, bias, sched, _) = (h.u8("")?, h.u8("")?, h.u8("")?, h.u8("")?);
    let (l2, bias_scale, initial, decay) = (h.f32("")?, h.f32("")?, h.f32("")?, h.f32("")?);
    let name_bytes = h.take(16, "")?;
    let (n_features, n, epochs_done, seed) = (h.u64("")?, h.u64("")?, h.u64("")?, h.u64("")?);
    let body = check_frame(b, HEADER_V1, 0, n)?;
    let bias = match bias {
        0 | 1 => bias == 1,
        v => return Err(bad("bias flag", v)),
    };
    let schedule = schedule_of(sched, initial, decay)?;
    let end = name_bytes.iter().position(|&c| c == 0).unwrap_or(16);
    let policy = policy_of(&String::from_utf8_lossy(&name_bytes[..end]))?;
    let model = linear(loss_of(loss)?, bias, bias_scale, l2, n_features, n)?;
    let base = Base {
        schedule,
        policy,
        average: false,
        epochs_done,
        seed,
    };
    base.with(&model, &b[HEADER_V1..body])
}

/// Version 2: one parameter layout per built-in model.
pub(super) fn from_v2(b: &[u8]) -> Result<Checkpoint, CheckpointIssue> {
    truncated(b, HEADER_V2)?;
    let mut h = Decoder::new(&b[12..HEADER_V2], 0);
    let (kind, sched, flags, _) = (h.u8("")?, h.u8("")?, h.u8("")?, h.u8("")?);
    let (initial, decay) = (h.f32("")?, h.f32("")?);
    let (epochs_done, seed, params_len, n) = (h.u64("")?, h.u64("")?, h.u64("")?, h.u64("")?);
    let body = check_frame(b, HEADER_V2, params_len, n)?;
    let (params, weights) = b[HEADER_V2..body].split_at(params_len as usize); // bounded by the frame check
    let schedule = schedule_of(sched, initial, decay)?;
    let average = match flags {
        0 | 1 => flags == 1,
        v => return Err(bad("flags", v)),
    };
    let mut p = Decoder::new(params, n);
    let policy = policy_of(&p.string("policy name")?)?;
    let base = Base {
        schedule,
        policy,
        average,
        epochs_done,
        seed,
    };
    let converted = match kind {
        0 => {
            let (loss, bias) = (loss_of(p.u8("loss code")?)?, p.bool("bias flag")?);
            p.take(2, "reserved bytes")?;
            let (l2, bias_scale, n_features) = (p.f32("L2 strength")?, p.f32("bias scale")?, p.u64("features")?);
            base.with(&linear(loss, bias, bias_scale, l2, n_features, n)?, weights)?
        }
        1 => {
            let classes = p.usize_in(2..=MAX_CLASSES, "number of classes")?;
            let features = p.usize_in(1..=usize::MAX, "number of features")?;
            let l2 = l2_of(p.f32("L2 strength")?)?;
            p.expect_weights(
                (features as u64)
                    .checked_add(1)
                    .and_then(|f| f.checked_mul(classes as u64)),
                "softmax",
            )?;
            let model = Softmax::new(classes, features).map_err(|e| bad("softmax", e))?;
            base.with(&model.l2(l2, &CsrDataset::new(0)), weights)?
        }
        2 => {
            let (users, items) = (p.count(4, "users")?, p.count(4, "items")?);
            let rank = p.usize_in(1..=crate::limits::MAX_RANK, "rank")?;
            let (mean, l2) = (p.finite_f32("global mean")?, l2_of(p.f32("L2 strength")?)?);
            let (flag, lo, hi) = (p.u8("clip flag")?, p.f32("clip low")?, p.f32("clip high")?);
            let clip = match flag {
                0 => None,
                1 if lo.is_finite() && hi.is_finite() && lo <= hi => Some((lo, hi)),
                _ => return Err(bad("clip range", format!("flag {flag}, [{lo}, {hi}]"))),
            };
            let rows = (users as u64).checked_add(items as u64);
            p.expect_weights(
                rows.and_then(|r| r.checked_mul(rank as u64 + 1)),
                "matrix factorisation",
            )?;
            let user_ids = p.list(users, |p| p.string("user id"))?;
            let item_ids = p.list(items, |p| p.string("item id"))?;
            let model = MatrixFactorization::new(users, items, rank).map_err(|e| bad("matrix factorisation", e))?;
            let model = model.global_mean(mean).clip(clip).l2(l2, &Ratings::default());
            base.with(&model, weights)?
                .with_table(tables::USER_IDS, Table::Strings(user_ids))
                .with_table(tables::ITEM_IDS, Table::Strings(item_ids))
        }
        3 => {
            let text = p.bool("text flag")?;
            p.take(3, "reserved bytes")?;
            let items = p.usize_in(1..=u32::MAX as usize, "items")?;
            let dim = p.usize_in(1..=MAX_DIM, "embedding dimension")?;
            let negatives = p.usize_in(0..=crate::limits::MAX_NEGATIVES, "negatives")?;
            let (negative_seed, window) = (
                p.u64("negative seed")?,
                p.usize_in(0..=crate::limits::MAX_WINDOW, "window")?,
            );
            let subsample = p.finite_f64("sub-sampling threshold")?;
            if subsample < 0.0 {
                return Err(bad("sub-sampling threshold", subsample));
            }
            p.expect_weights((items as u64).checked_mul(2 * dim as u64), "embeddings")?;
            if items > p.remaining() / 12 {
                return Err(bad("items", items));
            }
            let names = p.list(items, |p| p.string("item name"))?;
            let counts = p.list(items, |p| p.u64("item count"))?;
            let table = UnigramTable::new(&counts).map_err(|_| bad("item counts", "all 0"))?;
            let model = Sgns::new(items, dim, table).map_err(|e| bad("embeddings", e))?;
            base.with(&model.negatives(negatives).seed(negative_seed), weights)?
                .with_table(tables::TASK, Table::Text(if text { "word2vec" } else { "line" }.into()))
                .with_table(tables::NAMES, Table::Strings(names))
                .with_table(tables::COUNTS, Table::U64s(counts))
                .with_table(tables::WINDOW, Table::U64(window as u64))
                .with_table(tables::SUBSAMPLE, Table::F64(subsample))
        }
        v => return Err(bad("model kind", v)),
    };
    p.finish("parameter block")?;
    Ok(converted)
}
