//! Crash-safe checkpoints (and saved models) of a [`Linear`] model.
//!
//! # Format (version 1)
//!
//! A checkpoint is one file, every number little-endian:
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 8 | magic `WSGDCKPT` |
//! | 8 | 4 | format version, `u32` (1) |
//! | 12 | 1 | loss: 0 logistic, 1 hinge, 2 squared |
//! | 13 | 1 | bias: 0 or 1 |
//! | 14 | 1 | schedule: 0 constant, 1 inverse-time, 2 epoch-decay |
//! | 15 | 1 | reserved, 0 |
//! | 16 | 4 | L2 strength λ, `f32` |
//! | 20 | 4 | bias learning-rate scale, `f32` |
//! | 24 | 4 | schedule's initial rate, `f32` |
//! | 28 | 4 | schedule's decay, `f32` (0 for constant) |
//! | 32 | 16 | policy name as on the command line (`racy`, `batched:32`), ASCII, zero-padded |
//! | 48 | 8 | number of features, `u64` |
//! | 56 | 8 | number of weights `dim` (features + bias), `u64` |
//! | 64 | 8 | epochs completed, `u64` |
//! | 72 | 8 | seed, `u64` |
//! | 80 | 4·dim | the weights, `f32` |
//! | 80 + 4·dim | 4 | CRC-32 (IEEE) of every byte before it |
//!
//! [`Checkpoint::save`] writes to a temporary file in the same directory,
//! fsyncs it, renames it over the target and fsyncs the directory, so a crash
//! at any moment leaves either the old or the new checkpoint, whole.
//! [`Checkpoint::load`] rejects truncated, corrupted, wrong-version and
//! foreign files with a [`CheckpointIssue`] saying which.

use std::fmt;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::data::CsrDataset;
use crate::{Error, Linear, Loss, Policy, Schedule};

/// The first 8 bytes of every checkpoint.
pub const MAGIC: [u8; 8] = *b"WSGDCKPT";
/// The format version this build writes and reads.
pub const VERSION: u32 = 1;
const HEADER: usize = 80;

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
            CheckpointIssue::UnsupportedVersion { found } => {
                write!(f, "format version {found}, but this build reads version {VERSION}")
            }
            CheckpointIssue::ChecksumMismatch { stored, computed } => write!(
                f,
                "corrupted: checksum {computed:#010x} does not match the stored {stored:#010x}"
            ),
            CheckpointIssue::BadField { field, value } => write!(f, "invalid {field} {value}"),
            CheckpointIssue::WrongModel { reason } => write!(f, "a different model: {reason}"),
        }
    }
}

/// A [`Linear`] model's weights with everything needed to use them again or
/// to resume training: the model's hyper-parameters, the trainer's schedule,
/// policy and seed, and how many epochs are done.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// The loss.
    pub loss: Loss,
    /// Whether the last weight is a bias.
    pub bias: bool,
    /// The bias's learning-rate scale.
    pub bias_scale: f32,
    /// The L2 strength λ.
    pub l2: f32,
    /// The schedule of the run.
    pub schedule: Schedule,
    /// The policy of the run.
    pub policy: Policy,
    /// The number of features (weights, less the bias).
    pub n_features: usize,
    /// Epochs completed when the weights were taken: resume with
    /// [`Trainer::start_epoch`](crate::Trainer::start_epoch)`(epochs_done)`.
    pub epochs_done: usize,
    /// The trainer's seed.
    pub seed: u64,
    /// The weights (`n_features`, then the bias if any).
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

impl Checkpoint {
    /// A checkpoint of `model` after `epochs_done` epochs of `trainer`, holding `weights`.
    pub fn new(model: &Linear, trainer: &crate::Trainer, epochs_done: usize, weights: Vec<f32>) -> Self {
        Checkpoint {
            loss: model.loss_fn(),
            bias: model.has_bias(),
            bias_scale: model.bias_rate(),
            l2: model.l2_strength(),
            schedule: trainer.get_schedule(),
            policy: trainer.get_policy(),
            n_features: model.n_features(),
            epochs_done,
            seed: trainer.get_seed(),
            weights,
        }
    }

    /// The number of weights the model has.
    pub fn dim(&self) -> usize {
        self.n_features + usize::from(self.bias)
    }

    /// The model these weights belong to, its lazy L2 scaled by `train`'s
    /// document frequencies (pass the training data to resume training; any
    /// data, or an empty dataset, to evaluate: the scaling only affects steps).
    pub fn model(&self, train: &CsrDataset) -> Linear {
        Linear::new(self.loss, self.n_features)
            .bias(self.bias)
            .bias_scale(self.bias_scale)
            .l2(self.l2, train)
    }

    /// The encoded file contents.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(HEADER + 4 * self.weights.len() + 4);
        b.extend_from_slice(&MAGIC);
        b.extend_from_slice(&VERSION.to_le_bytes());
        let (kind, initial, decay) = match self.schedule {
            Schedule::Constant(lr) => (0u8, lr, 0.0),
            Schedule::InverseTime { initial, decay } => (1, initial, decay),
            Schedule::EpochDecay { initial, decay } => (2, initial, decay),
            // The sample count travels as the bits of the f32 slot; counts
            // past u32::MAX are clamped there (a rate floor that late is 1e-4 anyway).
            Schedule::Linear { initial, samples } => {
                (3, initial, f32::from_bits(samples.min(u64::from(u32::MAX)) as u32))
            }
        };
        b.extend_from_slice(&[loss_code(self.loss), u8::from(self.bias), kind, 0]);
        for x in [self.l2, self.bias_scale, initial, decay] {
            b.extend_from_slice(&x.to_le_bytes());
        }
        let mut name = [0u8; 16];
        // The full name, so `batched:N` keeps its size (up to 8 digits fit).
        let full = self.policy.to_string();
        let p = full.as_bytes();
        name[..p.len().min(16)].copy_from_slice(&p[..p.len().min(16)]);
        b.extend_from_slice(&name);
        for x in [
            self.n_features as u64,
            self.weights.len() as u64,
            self.epochs_done as u64,
            self.seed,
        ] {
            b.extend_from_slice(&x.to_le_bytes());
        }
        for w in &self.weights {
            b.extend_from_slice(&w.to_le_bytes());
        }
        let crc = crc32(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes a checkpoint; `name` is what errors call it.
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
        let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"));
        let f32_at = |o: usize| f32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"));
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"));
        let version = u32_at(8);
        if version != VERSION {
            return Err(fail(CheckpointIssue::UnsupportedVersion { found: version }));
        }
        if b.len() < HEADER + 4 {
            return Err(fail(CheckpointIssue::Truncated {
                len: b.len() as u64,
                expected: HEADER as u64 + 4,
            }));
        }
        let dim = u64_at(56);
        let expected = dim.checked_mul(4).and_then(|w| w.checked_add(HEADER as u64 + 4));
        if expected != Some(b.len() as u64) {
            return Err(fail(CheckpointIssue::Truncated {
                len: b.len() as u64,
                expected: expected.unwrap_or(u64::MAX),
            }));
        }
        let body = b.len() - 4;
        let (stored, computed) = (u32_at(body), crc32(&b[..body]));
        if stored != computed {
            return Err(fail(CheckpointIssue::ChecksumMismatch { stored, computed }));
        }
        let bad = |field, value: String| fail(CheckpointIssue::BadField { field, value });
        let loss = match b[12] {
            0 => Loss::Logistic,
            1 => Loss::Hinge,
            2 => Loss::Squared,
            v => return Err(bad("loss code", v.to_string())),
        };
        let bias = match b[13] {
            0 => false,
            1 => true,
            v => return Err(bad("bias flag", v.to_string())),
        };
        let (l2, bias_scale, initial, decay) = (f32_at(16), f32_at(20), f32_at(24), f32_at(28));
        let schedule = match b[14] {
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
        if !(l2.is_finite() && l2 >= 0.0) {
            return Err(bad("L2 strength", l2.to_string()));
        }
        if !(bias_scale.is_finite() && bias_scale > 0.0) {
            return Err(bad("bias scale", bias_scale.to_string()));
        }
        let name_bytes = &b[32..48];
        let end = name_bytes.iter().position(|&c| c == 0).unwrap_or(16);
        let policy_name = String::from_utf8_lossy(&name_bytes[..end]).into_owned();
        let policy: Policy = policy_name
            .parse()
            .map_err(|_| bad("policy", format!("{policy_name:?}")))?;
        let n_features = u64_at(48);
        if n_features + u64::from(bias) != dim {
            return Err(bad(
                "dimension",
                format!("{dim} for {n_features} features and bias {bias}"),
            ));
        }
        let weights: Vec<f32> = b[HEADER..body]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        Ok(Checkpoint {
            loss,
            bias,
            bias_scale,
            l2,
            schedule,
            policy,
            n_features: n_features as usize,
            epochs_done: u64_at(64) as usize,
            seed: u64_at(72),
            weights,
        })
    }

    /// Reads and checks a checkpoint file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let bytes = fs::read(path).map_err(|source| Error::Io {
            file: name.clone(),
            source,
        })?;
        Self::from_bytes(&name, &bytes)
    }

    /// Writes the checkpoint atomically: a temporary file in the same
    /// directory, fsynced, renamed over `path`, then the directory fsynced.
    /// A crash at any point leaves `path` holding either its old contents or
    /// the new ones, never a mixture.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        write_atomically(path.as_ref(), &self.to_bytes())
    }

    /// Checks that this checkpoint can continue training `loss` (with or
    /// without a bias) over `n_features` features.
    pub fn check_model(&self, name: &str, loss: Loss, bias: bool, n_features: usize) -> Result<(), Error> {
        let reason = if self.loss != loss {
            Some(format!("it holds a {} model, not {}", self.loss.name(), loss.name()))
        } else if self.bias != bias {
            Some(format!("bias {} in the file, {} asked for", self.bias, bias))
        } else if self.n_features < n_features {
            Some(format!(
                "{} features in the file, but the data has {n_features}",
                self.n_features
            ))
        } else {
            None
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

/// The temporary file a write to `path` goes through first.
fn temp_path(path: &Path) -> PathBuf {
    let file = path
        .file_name()
        .map_or_else(|| "checkpoint".into(), |f| f.to_string_lossy().into_owned());
    path.with_file_name(format!(".{file}.tmp-{}", std::process::id()))
}

/// Writes `bytes` to `path` so that a crash leaves the old or the new file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let tmp = temp_path(path);
    let io = |p: &Path| {
        let file = p.display().to_string();
        move |source| Error::Io { file, source }
    };
    let result = (|| {
        let mut f = File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        drop(f);
        fs::rename(&tmp, path).map_err(io(path))?;
        sync_dir(path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(unix)]
fn sync_dir(path: &Path) -> Result<(), Error> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir).and_then(|d| d.sync_all()).map_err(|source| Error::Io {
        file: dir.display().to_string(),
        source,
    })
}

#[cfg(not(unix))]
fn sync_dir(_path: &Path) -> Result<(), Error> {
    // Directories cannot be opened for syncing here; the rename is still atomic.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
        Checkpoint {
            loss: Loss::Hinge,
            bias: true,
            bias_scale: 0.01,
            l2: 1e-5,
            schedule: Schedule::InverseTime {
                initial: 0.5,
                decay: 1e-3,
            },
            policy: Policy::AtomicAdd,
            n_features: 3,
            epochs_done: 7,
            seed: 42,
            weights: vec![1.0, -0.0, f32::MIN_POSITIVE, 3.5],
        }
    }

    #[test]
    fn round_trips_bit_for_bit() {
        let c = sample();
        let b = c.to_bytes();
        assert_eq!(b.len(), HEADER + 16 + 4);
        let d = Checkpoint::from_bytes("x", &b).unwrap();
        assert_eq!(d, c);
        assert_eq!(d.weights[1].to_bits(), (-0.0f32).to_bits());
    }

    #[test]
    fn a_batched_policy_keeps_its_size() {
        let c = Checkpoint {
            policy: Policy::Batched { size: 12_345_678 },
            ..sample()
        };
        let d = Checkpoint::from_bytes("x", &c.to_bytes()).unwrap();
        assert_eq!(d.policy, Policy::Batched { size: 12_345_678 });
    }

    #[test]
    fn every_single_byte_flip_and_cut_is_caught() {
        let b = sample().to_bytes();
        for i in 0..b.len() {
            let mut c = b.clone();
            c[i] ^= 0x10;
            assert!(Checkpoint::from_bytes("x", &c).is_err(), "flip at {i}");
            assert!(Checkpoint::from_bytes("x", &b[..i]).is_err(), "cut at {i}");
        }
    }
}
