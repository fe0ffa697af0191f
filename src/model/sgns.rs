//! Skip-gram with negative sampling (SGNS): word2vec's objective, and LINE's
//! on graph edges.
//!
//! See [`Sgns`] for the objective and where its negatives come from.

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

use crate::data::{Dataset, Pair, Pairs};
use crate::error::Error;
use crate::model::{Model, Step, Weights, WeightsMut};

/// The largest embedding dimension: a step keeps the source vector and its
/// gradient in two stack buffers of this size, so that it allocates nothing.
pub const MAX_DIM: usize = 512;

/// The exponent word2vec raises counts to for its negative distribution.
pub const UNIGRAM_POWER: f64 = 0.75;

/// The negative-sampling distribution: item `i` is drawn with probability
/// `count_i^power / Σ_j count_j^power` (`power` = [`UNIGRAM_POWER`] for
/// [`new`](Self::new)).
///
/// Built as a Walker/Vose alias table — one `(threshold, alias)` entry per
/// item — so that a draw is exact, costs one multiply and one comparison, and
/// the table stays small enough to live in cache (8 bytes per item, where
/// word2vec's flat table uses 10⁸ slots). Items with count 0 are never drawn.
///
/// ```
/// use wildsgd::model::UnigramTable;
///
/// let table = UnigramTable::new(&[16, 1, 0]).unwrap();
/// // 16^0.75 = 8 and 1^0.75 = 1: item 0 is drawn 8/9 of the time.
/// assert!((table.probability(0) - 8.0 / 9.0).abs() < 1e-12);
/// assert_eq!(table.probability(2), 0.0);
/// let draws: Vec<u32> = (0..1000u64).map(|h| table.draw(h.wrapping_mul(0x9E37_79B9_7F4A_7C15))).collect();
/// assert!(draws.iter().all(|&d| d < 2));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct UnigramTable {
    /// Per bucket: `(threshold, alias)`; a draw landing in bucket `i` with
    /// coin `c < threshold` gives `i`, else `alias`.
    entries: Vec<(u32, u32)>,
    probs: Vec<f64>,
}

impl UnigramTable {
    /// The table for `counts` (indexed by id) raised to [`UNIGRAM_POWER`].
    pub fn new(counts: &[u64]) -> Result<UnigramTable, Error> {
        UnigramTable::with_power(counts, UNIGRAM_POWER)
    }

    /// The table for `counts` raised to `power` (0: uniform over the items
    /// with a non-zero count; 1: the plain unigram distribution).
    pub fn with_power(counts: &[u64], power: f64) -> Result<UnigramTable, Error> {
        if !(power.is_finite() && power >= 0.0) {
            return Err(Error::InvalidParameter {
                name: "power",
                reason: format!("{power} is not finite and non-negative"),
            });
        }
        if counts.len() > u32::MAX as usize {
            return Err(Error::InvalidParameter {
                name: "counts",
                reason: format!("{} items; at most {} are supported", counts.len(), u32::MAX),
            });
        }
        let weights: Vec<f64> = counts
            .iter()
            .map(|&c| if c == 0 { 0.0 } else { (c as f64).powf(power) })
            .collect();
        let total: f64 = weights.iter().sum();
        if total <= 0.0 {
            return Err(Error::InvalidParameter {
                name: "counts",
                reason: "no item has a non-zero count".into(),
            });
        }
        let n = counts.len();
        let probs: Vec<f64> = weights.iter().map(|w| w / total).collect();
        // Vose's alias method on the scaled probabilities n·p_i.
        let mut scaled: Vec<f64> = probs.iter().map(|p| p * n as f64).collect();
        let mut alias: Vec<u32> = (0..n as u32).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| scaled[i] < 1.0);
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            alias[s] = l as u32;
            scaled[l] -= 1.0 - scaled[s];
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // Leftovers are 1 up to rounding.
        for i in small.into_iter().chain(large) {
            scaled[i] = 1.0;
        }
        let entries = scaled
            .iter()
            .zip(&alias)
            .map(|(&p, &a)| {
                let threshold = (p * 4_294_967_296.0).min(u32::MAX as f64) as u32;
                // A full bucket never falls through to its alias.
                (if p >= 1.0 { u32::MAX } else { threshold }, a)
            })
            .collect();
        Ok(UnigramTable { entries, probs })
    }

    /// The number of items (ids `0..len`).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no items (never true for a built table).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The exact probability of drawing `id`.
    pub fn probability(&self, id: u32) -> f64 {
        self.probs.get(id as usize).copied().unwrap_or(0.0)
    }

    /// The item that the 64 random bits `hash` select: the high 32 bits pick
    /// a bucket, the low 32 bits toss its coin.
    #[inline]
    pub fn draw(&self, hash: u64) -> u32 {
        let bucket = (((hash >> 32) * self.entries.len() as u64) >> 32) as usize;
        let (threshold, alias) = self.entries[bucket];
        if (hash as u32) < threshold || threshold == u32::MAX {
            bucket as u32
        } else {
            alias
        }
    }
}

/// SplitMix64's finaliser: a fast, well-mixed 64-bit hash.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

#[inline]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// `ln(1 + e^x)`, without overflow.
#[inline]
fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// Skip-gram with negative sampling over `n` items with `dim`-dimensional
/// input and output vectors.
///
/// [`Sgns`] trains on [`Pairs`] of (source, target) ids over `n` items (words
/// or nodes). Each item has an *input* vector `u` and an *output* vector
/// `v`, both rows of the weight store: inputs are rows `0..n`, outputs rows
/// `n..2n`, each `dim` weights long. The loss of a pair `(s, t)` with
/// negatives `t_1..t_k` is the logistic loss of telling the true target from
/// the negatives:
///
/// `−ln σ(u_s·v_t) − Σ_j ln σ(−u_s·v_{t_j})`.
///
/// # Where the negatives come from
///
/// [`Model::step`] gets no random generator, runs on many threads at once
/// and must neither allocate nor lock, so the negatives are not drawn from
/// a generator at all: negative `j` of a sample is a pure function of the
/// model's seed, the sample's row and epoch (its [`Step`]) and the pair
/// itself — a SplitMix64 hash of those, mapped through
/// an alias table over `count^0.75` ([`UnigramTable`]). Hence:
///
/// * a `Sequential` run is bit-for-bit reproducible for a given trainer seed
///   and model seed: the negatives do not depend on the order or thread that
///   takes a sample;
/// * parallel runs use *exactly* the negatives of the sequential run, so the
///   equivalence harness compares like with like;
/// * the negatives change every epoch, as word2vec's do, because the epoch
///   is part of the hash;
/// * [`Model::loss`] uses the same negatives as the step on the same sample,
///   so it is exactly the objective the step descends (and a finite
///   difference of it checks the step's gradient).
///
/// Hashing costs a few multiplications per negative, less than the memory
/// traffic of the vectors it selects.
///
/// Initialised as word2vec does: input vectors uniform in `±0.5 / dim`,
/// output vectors zero. A step computes the exact gradient of its sample's
/// loss at the current weights (the source vector's gradient is summed over
/// the true target and the negatives before it is applied, as word2vec's
/// `neu1e`), and skips a negative that equals the true target, as word2vec
/// does.
///
/// ```
/// use wildsgd::data::Pairs;
/// use wildsgd::model::{Sgns, UnigramTable};
/// use wildsgd::{Policy, Schedule, Trainer};
///
/// // Two cliques {0,1,2} and {3,4,5}: pairs within each, both ways.
/// let mut edges = Vec::new();
/// for c in [0u32, 3] {
///     for a in c..c + 3 { for b in c..c + 3 { if a != b { edges.push((a, b)); } } }
/// }
/// let pairs = Pairs::new(edges.repeat(50));
/// let table = UnigramTable::new(&pairs.target_counts(6)).unwrap();
/// let model = Sgns::new(6, 8, table).unwrap().negatives(3);
/// let trainer = Trainer::new().policy(Policy::Sequential).epochs(5).schedule(Schedule::Constant(0.1));
/// let w = trainer.fit(&model, &pairs).unwrap().weights;
/// assert!(model.score(&w, 0, 1) > model.score(&w, 0, 4));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Sgns {
    n: usize,
    dim: usize,
    negatives: usize,
    seed: u64,
    table: UnigramTable,
}

impl Sgns {
    /// A model over items `0..n` with `dim`-dimensional vectors, drawing
    /// negatives from `table` (which must cover at most `n` items). Defaults:
    /// 5 negatives, negative seed 0.
    pub fn new(n: usize, dim: usize, table: UnigramTable) -> Result<Sgns, Error> {
        if n == 0 {
            return Err(Error::InvalidParameter {
                name: "n",
                reason: "the model needs at least one item".into(),
            });
        }
        if dim == 0 || dim > MAX_DIM {
            return Err(Error::InvalidParameter {
                name: "dim",
                reason: format!("{dim} is not in 1..={MAX_DIM}"),
            });
        }
        if table.len() > n {
            return Err(Error::InvalidParameter {
                name: "table",
                reason: format!("it covers {} items, the model has {n}", table.len()),
            });
        }
        if n.checked_mul(dim).and_then(|x| x.checked_mul(2)).is_none() || n > u32::MAX as usize {
            return Err(Error::InvalidParameter {
                name: "n",
                reason: format!("{n} items × {dim} dims is too large"),
            });
        }
        Ok(Sgns {
            n,
            dim,
            negatives: 5,
            seed: 0,
            table,
        })
    }

    /// Negatives per pair (`k`; word2vec's `-negative`, default 5).
    pub fn negatives(mut self, k: usize) -> Self {
        self.negatives = k;
        self
    }

    /// Seed of the negative draws (independent of the trainer's seed, which
    /// sets the initial vectors and the sample order).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The seed of the negative draws ([`seed`](Self::seed)).
    pub fn get_seed(&self) -> u64 {
        self.seed
    }

    /// The number of items.
    pub fn n_items(&self) -> usize {
        self.n
    }

    /// The embedding dimension.
    pub fn embedding_dim(&self) -> usize {
        self.dim
    }

    /// The negative-sampling table.
    pub fn table(&self) -> &UnigramTable {
        &self.table
    }

    /// Negative `j` (`j < k`) of `pair` trained at `at`: a hash of the
    /// model's seed, the step's row and epoch and the pair's source and
    /// target, drawn through the table. Each epoch so draws fresh negatives,
    /// reproducibly, with no state in the model or the data.
    #[inline]
    pub fn negative(&self, pair: Pair, at: Step, j: usize) -> u32 {
        let key = mix(at.index as u64 ^ (at.epoch as u64) << 32)
            ^ (u64::from(pair.source) << 32 | u64::from(pair.target)).wrapping_mul(GOLDEN);
        let base = mix(self.seed ^ key);
        self.table
            .draw(mix(base.wrapping_add((j as u64 + 1).wrapping_mul(GOLDEN))))
    }

    #[inline]
    fn input(&self, s: u32) -> usize {
        s as usize * self.dim
    }

    #[inline]
    fn output(&self, t: u32) -> usize {
        (self.n + t as usize) * self.dim
    }

    /// The input vector of item `i` (the embedding word2vec saves).
    pub fn embedding<W: Weights + ?Sized>(&self, w: &W, i: u32) -> Vec<f32> {
        let at = self.input(i);
        (0..self.dim).map(|k| w.read(at + k)).collect()
    }

    /// The model's score of `(source, target)`: `u_source · v_target`, whose
    /// sigmoid is the modelled probability that the pair is real.
    pub fn score<W: Weights + ?Sized>(&self, w: &W, source: u32, target: u32) -> f32 {
        let (u, v) = (self.input(source), self.output(target));
        (0..self.dim).map(|k| w.read(u + k) * w.read(v + k)).sum()
    }

    /// A symmetric score for undirected links, `(score(a, b) + score(b, a)) / 2`.
    pub fn link_score<W: Weights + ?Sized>(&self, w: &W, a: u32, b: u32) -> f32 {
        0.5 * (self.score(w, a, b) + self.score(w, b, a))
    }

    /// The area under the ROC curve of [`score`](Self::score) separating
    /// `positives` from `negatives` (pairs of ids); see [`auc`] (0.5 when
    /// either is empty).
    pub fn pair_auc<W: Weights + ?Sized>(&self, w: &W, positives: &[(u32, u32)], negatives: &[(u32, u32)]) -> f64 {
        let score = |p: &[(u32, u32)]| p.iter().map(|&(s, t)| self.score(w, s, t)).collect::<Vec<_>>();
        auc(&score(positives), &score(negatives)).unwrap_or(0.5)
    }

    /// Link-prediction AUC: [`link_score`](Self::link_score) separating
    /// held-out edges from non-edges (e.g. [`Graph::split_edges`] and
    /// [`Graph::non_edges`](crate::data::Graph::non_edges)).
    ///
    /// [`Graph::split_edges`]: crate::data::Graph::split_edges
    pub fn link_auc<W: Weights + ?Sized>(&self, w: &W, edges: &[(u32, u32)], non_edges: &[(u32, u32)]) -> f64 {
        let score = |p: &[(u32, u32)]| p.iter().map(|&(a, b)| self.link_score(w, a, b)).collect::<Vec<_>>();
        auc(&score(edges), &score(non_edges)).unwrap_or(0.5)
    }

    /// The `k` items whose input vectors have the highest cosine similarity
    /// to item `i`'s (itself excluded), best first.
    pub fn nearest<W: Weights + ?Sized>(&self, w: &W, i: u32, k: usize) -> Vec<(u32, f32)> {
        let unit = |j: u32| {
            let v = self.embedding(w, j);
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            v.into_iter().map(move |x| x / norm)
        };
        let q: Vec<f32> = unit(i).collect();
        let mut sims: Vec<(u32, f32)> = (0..self.n as u32)
            .filter(|&j| j != i)
            .map(|j| (j, unit(j).zip(&q).map(|(a, b)| a * b).sum()))
            .collect();
        sims.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        sims.truncate(k);
        sims
    }

    /// One logistic update of target `t` with `label` against the source
    /// vector `u`; accumulates the source's gradient step into `gu`.
    #[inline]
    fn update_target<W: WeightsMut + ?Sized>(&self, w: &mut W, u: &[f32], gu: &mut [f32], t: u32, label: f32, lr: f32) {
        let at = self.output(t);
        let mut dot = 0.0f32;
        for (k, &x) in u.iter().enumerate() {
            dot += x * w.read(at + k);
        }
        let g = lr * (label - sigmoid(dot));
        for (k, (&x, gk)) in u.iter().zip(gu.iter_mut()).enumerate() {
            *gk += g * w.read(at + k);
            w.add(at + k, g * x);
        }
    }
}

/// Moved to [`crate::metrics`]; re-exported here so that
/// `wildsgd::model::auc` still names it.
pub use crate::metrics::auc;

/// Negatives for a held-out evaluation: each pair `(s, t)` with its target
/// replaced by a draw from `table` (seeded by `seed` and the pair's
/// position), as the training objective draws them.
pub fn corrupt_targets(pairs: &[(u32, u32)], table: &UnigramTable, seed: u64) -> Vec<(u32, u32)> {
    pairs
        .iter()
        .enumerate()
        .map(|(i, &(s, _))| (s, table.draw(mix(seed ^ mix(i as u64 ^ GOLDEN)))))
        .collect()
}

impl Model for Sgns {
    type Data = Pairs;

    fn n_weights(&self) -> usize {
        2 * self.n * self.dim
    }

    /// word2vec's initialisation: inputs uniform in `±0.5 / dim`, outputs 0.
    fn init(&self, weights: &mut [f32], seed: u64) {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x5645_4354_4f52);
        let half = 0.5 / self.dim as f32;
        let (inputs, outputs) = weights.split_at_mut(self.n * self.dim);
        for x in inputs {
            *x = (rng.random::<f32>() * 2.0 - 1.0) * half;
        }
        outputs.fill(0.0);
    }

    fn validate(&self, data: &Pairs) -> Result<(), Error> {
        if self.negatives > crate::limits::MAX_NEGATIVES {
            return Err(Error::InvalidParameter {
                name: "negatives",
                reason: format!(
                    "{} per pair is more than the limit of {}",
                    self.negatives,
                    crate::limits::MAX_NEGATIVES
                ),
            });
        }
        if data.len() > u32::MAX as usize {
            return Err(Error::InvalidParameter {
                name: "pairs",
                reason: format!("{} pairs; at most {} are supported", data.len(), u32::MAX),
            });
        }
        for (row, &(s, t)) in data.as_slice().iter().enumerate() {
            if s as usize >= self.n || t as usize >= self.n {
                return Err(Error::InvalidSample {
                    row,
                    reason: format!("pair ({s}, {t}) names an item beyond the model's {} items", self.n),
                });
            }
        }
        Ok(())
    }

    fn loss<W: Weights + ?Sized>(&self, w: &W, pair: Pair, at: Step) -> f64 {
        let mut loss = softplus(-f64::from(self.score(w, pair.source, pair.target)));
        for j in 0..self.negatives {
            let t = self.negative(pair, at, j);
            if t != pair.target {
                loss += softplus(f64::from(self.score(w, pair.source, t)));
            }
        }
        loss
    }

    fn prefetch_rows<F: FnMut(std::ops::Range<usize>)>(&self, pair: Pair, at: Step, mut ahead: F) {
        let d = self.dim;
        let input = self.input(pair.source);
        ahead(input..input + d);
        let target = self.output(pair.target);
        ahead(target..target + d);
        for j in 0..self.negatives {
            let t = self.output(self.negative(pair, at, j));
            ahead(t..t + d);
        }
    }

    fn step<W: WeightsMut + ?Sized>(&self, w: &mut W, pair: Pair, at: Step) {
        let lr = at.lr;
        let d = self.dim;
        let (mut ubuf, mut gbuf) = ([0.0f32; MAX_DIM], [0.0f32; MAX_DIM]);
        let (u, gu) = (&mut ubuf[..d], &mut gbuf[..d]);
        let input = self.input(pair.source);
        for (k, x) in u.iter_mut().enumerate() {
            *x = w.read(input + k);
        }
        self.update_target(w, u, gu, pair.target, 1.0, lr);
        for j in 0..self.negatives {
            let t = self.negative(pair, at, j);
            if t != pair.target {
                self.update_target(w, u, gu, t, 0.0, lr);
            }
        }
        for (k, &g) in gu.iter().enumerate() {
            w.add(input + k, g);
        }
    }
}

/// Saved as: items, dimension, negatives, negative seed (`u64`), then the
/// negative table: its length `u64`, then per item its bucket's threshold
/// and alias (`u32` each) and its probability (`f64`).
impl crate::model::persist::Persist for Sgns {
    const KIND: &'static str = "sgns";

    fn encode(&self, out: &mut crate::model::persist::Encoder) {
        out.usize(self.n).usize(self.dim).usize(self.negatives).u64(self.seed);
        out.usize(self.table.entries.len());
        for (&(threshold, alias), &p) in self.table.entries.iter().zip(&self.table.probs) {
            out.u32(threshold).u32(alias).f64(p);
        }
    }

    fn decode(input: &mut crate::model::persist::Decoder<'_>) -> Result<Self, crate::error::CheckpointIssue> {
        use crate::model::persist::bad;
        let n = input.usize_in(1..=u32::MAX as usize, "items")?;
        let dim = input.usize_in(1..=MAX_DIM, "embedding dimension")?;
        input.expect_weights((n as u64).checked_mul(2 * dim as u64), "embeddings")?;
        let negatives = input.usize_in(0..=crate::limits::MAX_NEGATIVES, "negatives")?;
        let seed = input.u64("negative seed")?;
        let len = input.count(16, "negative table")?;
        let mut entries = Vec::with_capacity(len);
        let mut probs = Vec::with_capacity(len);
        for _ in 0..len {
            let (threshold, alias, p) = (
                input.u32("negative table")?,
                input.u32("negative table")?,
                input.f64("negative table")?,
            );
            if alias as usize >= len || !(0.0..=1.0).contains(&p) {
                return Err(bad(
                    "negative table",
                    format!("alias {alias} of {len} items, probability {p}"),
                ));
            }
            entries.push((threshold, alias));
            probs.push(p);
        }
        if probs.iter().sum::<f64>() <= 0.0 {
            return Err(bad("negative table", "no item has a non-zero probability"));
        }
        let model = Sgns::new(n, dim, UnigramTable { entries, probs }).map_err(|e| bad("embeddings", e))?;
        Ok(model.negatives(negatives).seed(seed))
    }
}

impl Sgns {
    /// Negatives per pair (`k`, set by [`negatives`](Sgns::negatives)).
    pub fn get_negatives(&self) -> usize {
        self.negatives
    }
}
