use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::{index, SliceRandom};
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Exp1, StandardNormal, Zipf};
use rayon::prelude::*;

use super::{CsrDataset, Ratings};
use crate::error::Error;

/// An RCV1-like synthetic binary classification problem.
///
/// Feature popularity follows a Zipf law (rank `r` drawn with probability
/// ∝ `1 / r^zipf`; `zipf = 0` is uniform), ranks are scattered over feature ids
/// by a seeded permutation (as in real vocabularies, hot features are not
/// adjacent), values are tf-idf-like (an exponential term frequency times an
/// idf that falls with popularity) and each row is scaled to unit L2 norm.
/// Labels are the sign of a sparse ground-truth linear model's margin
/// relative to its median (so the classes are balanced however the hot
/// features' true weights fall), flipped with probability `label_noise`. Everything is derived from `seed`, independent
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

        let chunks: Vec<(CsrDataset, Vec<f32>, Vec<bool>)> = (0..self.rows.div_ceil(CHUNK))
            .into_par_iter()
            .map(|c| {
                let mut rng =
                    Xoshiro256PlusPlus::seed_from_u64(self.seed ^ (c as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                let rows = CHUNK.min(self.rows - c * CHUNK);
                let mut out = CsrDataset::new(d);
                let (mut margins, mut flips) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
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
                    margins.push(margin);
                    flips.push(rng.random_bool(self.label_noise));
                    out.push(&idx, &val, 0.0).expect("generated rows are valid");
                }
                (out, margins, flips)
            })
            .collect();
        let mut sorted: Vec<f32> = chunks.iter().flat_map(|c| c.1.iter().copied()).collect();
        sorted.sort_unstable_by(f32::total_cmp);
        let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
        let labels = chunks.iter().flat_map(|(_, m, f)| {
            m.iter()
                .zip(f)
                .map(move |(&m, &flip)| if (m > median) != flip { 1.0 } else { -1.0 })
        });
        let labels: Vec<f32> = labels.collect();
        let mut out = concat(chunks.into_iter().map(|c| c.0).collect(), d);
        out.set_labels(labels);
        Ok(out)
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

/// A synthetic ratings problem with a known low-rank structure:
/// `rating = mean + ⟨u_user, v_item⟩ + noise`, with factor entries drawn
/// from a normal law of variance `1/√rank` (so the signal `⟨u, v⟩` has unit variance whatever
/// the rank), Gaussian noise of standard deviation `noise`, and
/// (user, item) pairs drawn uniformly (repeats possible). Everything is
/// derived from `seed`.
///
/// ```
/// use wildsgd::data::SyntheticRatings;
///
/// let r = SyntheticRatings { users: 50, items: 40, ratings: 1000, ..SyntheticRatings::default() }.generate()?;
/// assert_eq!((r.len(), r.n_users(), r.n_items()), (1000, 50, 40));
/// assert!((r.mean() - 3.5).abs() < 0.2);
/// # Ok::<(), wildsgd::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SyntheticRatings {
    /// Number of users.
    pub users: usize,
    /// Number of items.
    pub items: usize,
    /// Number of ratings.
    pub ratings: usize,
    /// Rank of the hidden factors.
    pub rank: usize,
    /// The ratings' offset.
    pub mean: f32,
    /// Standard deviation of the Gaussian noise.
    pub noise: f32,
    /// Seed for everything.
    pub seed: u64,
}

impl Default for SyntheticRatings {
    /// ML-100k's shape: 943 users, 1682 items, 100k ratings around 3.5, with
    /// a rank-5 truth and noise 0.5.
    fn default() -> Self {
        SyntheticRatings {
            users: 943,
            items: 1682,
            ratings: 100_000,
            rank: 5,
            mean: 3.5,
            noise: 0.5,
            seed: 0,
        }
    }
}

impl SyntheticRatings {
    /// Generates the ratings.
    pub fn generate(&self) -> Result<Ratings, Error> {
        let bad = |name, reason: String| Err(Error::InvalidParameter { name, reason });
        if self.users == 0 || self.items == 0 || self.rank == 0 {
            return bad("synthetic ratings", "users, items and rank must be at least 1".into());
        }
        if self.users > u32::MAX as usize || self.items > u32::MAX as usize {
            return bad("synthetic ratings", "at most 2^32 - 1 users and items".into());
        }
        if !(self.noise.is_finite() && self.noise >= 0.0 && self.mean.is_finite()) {
            return bad(
                "synthetic ratings",
                format!("mean {} and noise {} must be finite, noise >= 0", self.mean, self.noise),
            );
        }
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(self.seed);
        let scale = 1.0 / (self.rank as f32).sqrt().sqrt();
        let mut normal = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| scale * <StandardNormal as Distribution<f32>>::sample(&StandardNormal, &mut rng))
                .collect()
        };
        let (u, v) = (normal(self.users * self.rank), normal(self.items * self.rank));
        let mut out = Ratings::with_ids(self.users, self.items);
        out.users.reserve_exact(self.ratings);
        out.items.reserve_exact(self.ratings);
        out.ratings.reserve_exact(self.ratings);
        for _ in 0..self.ratings {
            let (a, b) = (rng.random_range(0..self.users), rng.random_range(0..self.items));
            let (pu, qi) = (&u[a * self.rank..][..self.rank], &v[b * self.rank..][..self.rank]);
            let dot: f32 = pu.iter().zip(qi).map(|(x, y)| x * y).sum();
            let e: f32 = StandardNormal.sample(&mut rng);
            out.users.push(a as u32);
            out.items.push(b as u32);
            out.ratings.push(self.mean + dot + self.noise * e);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Dataset;

    fn small() -> Synthetic {
        Synthetic {
            rows: 5_000,
            features: 2_000,
            nnz_per_row: 20,
            ..Synthetic::default()
        }
    }

    #[test]
    fn seeded_and_independent_of_the_thread_count() {
        let a = small().generate().unwrap();
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let b = one.install(|| small().generate().unwrap());
        assert_eq!(a, b);
        let c = Synthetic { seed: 2, ..small() }.generate().unwrap();
        assert_ne!(a, c);
    }

    #[test]
    fn rows_have_the_promised_shape() {
        let d = small().generate().unwrap();
        assert_eq!(d.len(), 5_000);
        assert_eq!(d.n_features(), 2_000);
        let mean_nnz = d.nnz() as f64 / d.len() as f64;
        assert!((18.0..22.0).contains(&mean_nnz), "{mean_nnz}");
        for i in 0..d.len() {
            let r = d.sample(i);
            assert!((10..=30).contains(&r.indices.len()));
            let norm: f32 = r.values.iter().map(|v| v * v).sum();
            assert!((norm - 1.0).abs() < 1e-4);
            assert!(r.values.iter().all(|&v| v > 0.0));
        }
        let positives = d.labels().iter().filter(|&&y| y == 1.0).count() as f64 / d.len() as f64;
        assert!(
            (0.3..0.7).contains(&positives),
            "labels are roughly balanced: {positives}"
        );
    }

    #[test]
    fn zipf_skews_popularity_and_zero_is_uniform() {
        let top = |zipf| {
            let d = Synthetic { zipf, ..small() }.generate().unwrap();
            let mut df = d.feature_counts();
            df.sort_unstable_by(|a, b| b.cmp(a));
            df[0] as f64 / d.len() as f64
        };
        // Zipf(1.0) over 2,000 features: the top feature is in ~1/H(2000) ≈ 12%
        // of draws, so in about 20 x 0.12 ≈ 2.4 draws per row => most rows.
        assert!(top(1.0) > 0.5, "{}", top(1.0));
        // Uniform: each feature is in about 20/2000 = 1% of rows.
        assert!(top(0.0) < 0.05, "{}", top(0.0));
    }

    #[test]
    fn label_noise_flips_labels() {
        let clean = Synthetic {
            label_noise: 0.0,
            ..small()
        }
        .generate()
        .unwrap();
        let noisy = Synthetic {
            label_noise: 0.2,
            ..small()
        }
        .generate()
        .unwrap();
        let flipped = clean
            .labels()
            .iter()
            .zip(noisy.labels())
            .filter(|(a, b)| a != b)
            .count() as f64
            / clean.len() as f64;
        assert!((0.15..0.25).contains(&flipped), "{flipped}");
    }

    #[test]
    fn dense_rows_touch_every_feature() {
        let d = Synthetic::dense(100, 16).generate().unwrap();
        assert_eq!(d.nnz(), 1600);
        assert_eq!(d.sample(7).indices, (0..16).collect::<Vec<u32>>().as_slice());
    }

    #[test]
    fn bad_parameters_are_errors() {
        for s in [
            Synthetic { features: 0, ..small() },
            Synthetic {
                nnz_per_row: 0,
                ..small()
            },
            Synthetic { zipf: -1.0, ..small() },
            Synthetic {
                zipf: f64::NAN,
                ..small()
            },
            Synthetic {
                label_noise: 1.5,
                ..small()
            },
            Synthetic {
                truth_density: 0.0,
                ..small()
            },
        ] {
            assert!(matches!(s.generate(), Err(Error::InvalidParameter { .. })), "{s:?}");
        }
    }
}
