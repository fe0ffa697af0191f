use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::{index, SliceRandom};
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Exp1, StandardNormal, Zipf};
use rayon::prelude::*;

use super::CsrDataset;
use crate::Error;

/// An RCV1-like synthetic binary classification problem.
///
/// Feature popularity follows a Zipf law (rank `r` drawn with probability
/// ∝ `1 / r^zipf`; `zipf = 0` is uniform), ranks are scattered over feature ids
/// by a seeded permutation (as in real vocabularies, hot features are not
/// adjacent), values are tf-idf-like (an exponential term frequency times an
/// idf that falls with popularity) and each row is scaled to unit L2 norm.
/// Labels are the sign of a sparse ground-truth linear model, flipped with
/// probability `label_noise`. Everything is derived from `seed`, independent
/// of the thread count used to generate it.
///
/// The defaults are RCV1's shape (47,236 features, ~75 nonzeros per row) with
/// Zipf(1.0) popularity.
///
/// ```
/// use wildsgd::data::{Dataset, Synthetic};
///
/// let d = Synthetic { rows: 1000, features: 5000, ..Synthetic::default() }.generate().unwrap();
/// assert_eq!(d.len(), 1000);
/// let row = d.sample(0);
/// let norm: f32 = row.values.iter().map(|v| v * v).sum();
/// assert!((norm - 1.0).abs() < 1e-4);
/// assert!(row.label == 1.0 || row.label == -1.0);
/// ```
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Synthetic {
    /// Number of rows.
    pub rows: usize,
    /// Number of features.
    pub features: usize,
    /// Mean nonzeros per row (each row has between half and 1.5 times this);
    /// `>= features` makes every row dense.
    pub nnz_per_row: usize,
    /// Zipf exponent of feature popularity; 0 for uniform.
    pub zipf: f64,
    /// Probability that a label is flipped.
    pub label_noise: f64,
    /// Fraction of features with a nonzero ground-truth weight.
    pub truth_density: f64,
    /// Seed for everything.
    pub seed: u64,
}

impl Default for Synthetic {
    fn default() -> Self {
        Synthetic {
            rows: 100_000,
            features: 47_236,
            nnz_per_row: 75,
            zipf: 1.0,
            label_noise: 0.05,
            truth_density: 0.2,
            seed: 1,
        }
    }
}

const CHUNK: usize = 2048;

impl Synthetic {
    /// A dense problem: every row touches every one of `features` weights (the
    /// worst case for lock-free updates).
    pub fn dense(rows: usize, features: usize) -> Self {
        Synthetic {
            rows,
            features,
            nnz_per_row: features,
            zipf: 0.0,
            ..Synthetic::default()
        }
    }

    /// Generates the dataset.
    pub fn generate(&self) -> Result<CsrDataset, Error> {
        let param = |name, reason: &str| Error::InvalidParameter {
            name,
            reason: reason.to_string(),
        };
        if self.features == 0 || self.features > u32::MAX as usize {
            return Err(param("features", "must be in 1..=u32::MAX"));
        }
        if self.nnz_per_row == 0 {
            return Err(param("nnz_per_row", "must be positive"));
        }
        if !(self.zipf >= 0.0 && self.zipf.is_finite()) {
            return Err(param("zipf", "must be finite and >= 0"));
        }
        if !(0.0..=1.0).contains(&self.label_noise) {
            return Err(param("label_noise", "must be in [0, 1]"));
        }
        if !(self.truth_density > 0.0 && self.truth_density <= 1.0) {
            return Err(param("truth_density", "must be in (0, 1]"));
        }
        let d = self.features;
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(self.seed);
        // Popularity rank -> feature id.
        let mut by_rank: Vec<u32> = (0..d as u32).collect();
        by_rank.shuffle(&mut rng);
        let truth: Vec<f32> = (0..d)
            .map(|_| {
                if rng.random_bool(self.truth_density) {
                    StandardNormal.sample(&mut rng)
                } else {
                    0.0
                }
            })
            .collect();
        let idf: Vec<f32> = (0..d).map(|r| (1.0 + (d as f32) / (r as f32 + 1.0)).ln()).collect();
        let zipf = Zipf::new(d as f64, self.zipf).map_err(|e| param("zipf", &e.to_string()))?;
        let dense = self.nnz_per_row >= d;

        let chunks: Vec<CsrDataset> = (0..self.rows.div_ceil(CHUNK))
            .into_par_iter()
            .map(|c| {
                let mut rng =
                    Xoshiro256PlusPlus::seed_from_u64(self.seed ^ (c as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                let rows = CHUNK.min(self.rows - c * CHUNK);
                let mut out = CsrDataset::new(d);
                let mut ranks: Vec<u32> = Vec::new();
                let mut entries: Vec<(u32, f32)> = Vec::new();
                let (mut idx, mut val) = (Vec::new(), Vec::new());
                for _ in 0..rows {
                    ranks.clear();
                    if dense {
                        ranks.extend(0..d as u32);
                    } else {
                        let k = rng
                            .random_range(self.nnz_per_row.div_ceil(2)..=self.nnz_per_row * 3 / 2)
                            .min(d);
                        if 2 * k > d {
                            // Rejection would crawl through the rare tail: draw uniformly.
                            ranks.extend(index::sample(&mut rng, d, k).iter().map(|r| r as u32));
                        }
                        while ranks.len() < k {
                            let r = zipf.sample(&mut rng) as u32 - 1;
                            if !ranks.contains(&r) {
                                ranks.push(r);
                            }
                        }
                    }
                    entries.clear();
                    for &r in &ranks {
                        let tf: f32 = Exp1.sample(&mut rng);
                        entries.push((by_rank[r as usize], (1.0 + tf) * idf[r as usize]));
                    }
                    entries.sort_unstable_by_key(|e| e.0);
                    let norm = entries.iter().map(|e| e.1 * e.1).sum::<f32>().sqrt();
                    idx.clear();
                    val.clear();
                    let mut margin = 0.0f32;
                    for &(j, v) in &entries {
                        idx.push(j);
                        val.push(v / norm);
                        margin += truth[j as usize] * v / norm;
                    }
                    let mut label = if margin > 0.0 || (margin == 0.0 && rng.random_bool(0.5)) {
                        1.0
                    } else {
                        -1.0
                    };
                    if rng.random_bool(self.label_noise) {
                        label = -label;
                    }
                    out.push(&idx, &val, label).expect("generated rows are valid");
                }
                out
            })
            .collect();
        Ok(concat(chunks, d))
    }
}

fn concat(chunks: Vec<CsrDataset>, d: usize) -> CsrDataset {
    let mut out = CsrDataset::new(d);
    out.reserve(
        chunks.iter().map(|c| c.len()).sum(),
        chunks.iter().map(|c| c.nnz()).sum(),
    );
    for c in &chunks {
        out.append(c);
    }
    out
}
