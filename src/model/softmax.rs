//! Dense multiclass softmax (multinomial logistic) regression.
//!
//! Every sample moves a weight of *every* class for each of its nonzeros:
//! with `C` classes a row of `k` nonzeros makes `C (k + 1)` updates, and all
//! threads write the same `C` bias weights on every sample. This is the worst
//! case for lock-free updates, and wildsgd ships it on purpose, next to the
//! sparse models where Hogwild! shines.

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

use super::adaptive::{self, shrink, Update};
use super::{Model, Step, Weights, WeightsMut};
use crate::data::{CsrDataset, SparseRow};
use crate::error::Error;

/// The most classes a [`Softmax`] model may have. A step keeps the `C`
/// logits in a stack buffer of this size (1 KiB), so that it allocates
/// nothing whatever `C` is. Beyond a few hundred classes a full softmax
/// is the wrong tool anyway (every sample would update every class).
pub const MAX_CLASSES: usize = 256;

/// Multiclass softmax regression over sparse rows ([`CsrDataset`]) whose
/// labels are class ids `0, 1, ..., C-1` stored as `f32` (LIBSVM files with
/// integer labels read that way).
///
/// # Weights
///
/// `C × (d + 1)` weights, class-major: class `c` owns the row
/// `c·(d+1) .. (c+1)·(d+1)`, holding its feature weights `w[c, 0..d]` then
/// its bias `b[c]` at `c·(d+1) + d` (so `WeightStore::row(c, d + 1)` is
/// class `c`'s row). They start at zero. The adaptive update
/// ([`adaptive`](Softmax::adaptive)) doubles every index: each weight's
/// accumulator follows it.
///
/// # Objective
///
/// With logits `z_c = w[c]·x + b[c]` and `p = softmax(z)`, the loss of a row
/// with label `y` is the cross-entropy `−ln p_y = logsumexp(z) − z_y`. The
/// training objective is its mean plus `λ/2 Σ_c ‖w[c]‖²` (biases excluded),
/// which is what [`penalty`](Model::penalty) returns. As for
/// [`Linear`](crate::Linear), L2 is applied lazily: a step shrinks only the
/// weights of the row's features, each by `λ n / df_j` (`n` rows, `df_j` of
/// them containing feature `j`), which averages over the rows to exactly the
/// gradient of the penalty.
///
/// A step computes all `C` logits, a numerically stable softmax (the
/// largest logit is subtracted before `exp`), and applies
/// `w[c, j] ← shrink(w[c, j] − lr g_c x_j, lr λ n/df_j)`, `b[c] −= lr g_c`
/// with `g_c = p_c − [c = y]` for every class `c` (the L2 shrink in closed
/// form, [`shrink`](crate::model::shrink): it cannot overshoot). With
/// [`adaptive`](Softmax::adaptive) each weight takes the normalised AdaGrad
/// step of [`Update::Adaptive`] instead, and its accumulator sits in the
/// store slot after it ([`index`](Softmax::index) accounts for it).
///
/// ```
/// use wildsgd::data::Dataset;
/// use wildsgd::model::{Softmax, SyntheticClasses};
/// use wildsgd::{Schedule, Trainer};
///
/// let data = SyntheticClasses { rows: 1_000, features: 10, classes: 3, ..Default::default() }.generate()?;
/// let model = Softmax::for_data(&data)?;
/// assert_eq!((model.n_classes(), model.n_features()), (3, 10));
/// let trained = Trainer::new().threads(2).epochs(5).schedule(Schedule::Constant(0.1)).fit(&model, &data)?;
/// let accuracy = model.confusion(&trained.weights, &data)?.accuracy();
/// assert!(accuracy > 0.9, "{accuracy}");
/// # Ok::<(), wildsgd::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Softmax {
    n_classes: usize,
    n_features: usize,
    l2: f32,
    /// n / df_j per feature; empty when `l2 == 0`.
    inv_df: Vec<f32>,
    update: Update,
    /// 1 / max |x_j| per feature, for the adaptive update; empty for SGD.
    inv_scale: Vec<f32>,
    /// The adaptive update's rate factor (`adaptive::rate_factor`).
    rate_factor: f32,
}

impl Softmax {
    /// A model with `n_classes` classes (2 to [`MAX_CLASSES`]) over
    /// `n_features` features, without regularisation.
    pub fn new(n_classes: usize, n_features: usize) -> Result<Self, Error> {
        if !(2..=MAX_CLASSES).contains(&n_classes) {
            return Err(Error::InvalidParameter {
                name: "classes",
                reason: format!(
                    "a softmax model needs 2 to {MAX_CLASSES} classes (a step keeps every logit in a \
                     fixed stack buffer), got {n_classes}"
                ),
            });
        }
        if n_features == 0 {
            return Err(Error::InvalidParameter {
                name: "features",
                reason: "a softmax model needs at least 1 feature".into(),
            });
        }
        Ok(Softmax {
            n_classes,
            n_features,
            l2: 0.0,
            inv_df: Vec::new(),
            update: Update::Sgd,
            inv_scale: Vec::new(),
            rate_factor: 1.0,
        })
    }

    /// A model for `train`: its width and as many classes as its largest
    /// label + 1 (see [`classes_in`](Self::classes_in)).
    pub fn for_data(train: &CsrDataset) -> Result<Self, Error> {
        Self::new(Self::classes_in(train)?, train.n_features())
    }

    /// The number of classes the labels of `data` call for: the largest
    /// label + 1. Every label must be a whole number in `0..MAX_CLASSES`;
    /// the error names the first row that is not.
    ///
    /// ```
    /// use wildsgd::data::CsrDataset;
    /// use wildsgd::model::Softmax;
    ///
    /// let mut d = CsrDataset::new(2);
    /// d.push(&[0], &[1.0], 0.0)?;
    /// d.push(&[1], &[1.0], 4.0)?;
    /// assert_eq!(Softmax::classes_in(&d)?, 5);
    /// d.push(&[1], &[1.0], -1.0)?;
    /// assert!(Softmax::classes_in(&d).unwrap_err().to_string().starts_with("row 2: label -1"));
    /// # Ok::<(), wildsgd::Error>(())
    /// ```
    pub fn classes_in(data: &CsrDataset) -> Result<usize, Error> {
        let mut top = 0usize;
        for (row, &y) in data.labels().iter().enumerate() {
            top = top.max(class_of(row, y, MAX_CLASSES)?);
        }
        Ok(top + 1)
    }

    /// Sets the L2 strength `λ`, with the document frequencies of `train`
    /// (the data the model will be trained on) scaling the lazy updates.
    /// `λ = 0` switches regularisation off.
    ///
    /// An invalid value is not a panic: [`Model::validate`] (which the
    /// trainer runs before any step) reports it as
    /// [`Error::InvalidParameter`].
    pub fn l2(mut self, lambda: f32, train: &CsrDataset) -> Self {
        self.l2 = lambda;
        self.inv_df = if lambda == 0.0 {
            Vec::new()
        } else {
            train.inverse_document_frequencies(self.n_features)
        };
        self
    }

    /// Switches to the adaptive update ([`Update::Adaptive`]: per-weight
    /// AdaGrad on features normalised by their largest `|x_j|` in `train`,
    /// the data the model will be trained on). Each weight's accumulator
    /// sits in the store slot after it, so [`index`](Self::index) doubles.
    ///
    /// ```
    /// use wildsgd::model::{Softmax, SyntheticClasses};
    /// use wildsgd::{Model, Schedule, Trainer};
    ///
    /// let train = SyntheticClasses { rows: 2000, features: 16, classes: 3, ..SyntheticClasses::default() }
    ///     .generate()
    ///     .unwrap();
    /// let model = Softmax::for_data(&train).unwrap().adaptive(&train);
    /// assert_eq!(model.n_weights(), 2 * 3 * 17);
    /// let trained = Trainer::new().epochs(5).schedule(Schedule::Constant(0.5)).fit(&model, &train).unwrap();
    /// assert!(trained.report.epochs.last().unwrap().train_accuracy.unwrap() > 0.8);
    /// ```
    pub fn adaptive(mut self, train: &CsrDataset) -> Self {
        self.update = Update::Adaptive;
        self.inv_scale = train.inverse_scales(self.n_features);
        self.rate_factor = adaptive::rate_factor(adaptive::mean_normalised_norm(train, &self.inv_scale), true);
        self
    }

    /// [`l2`](Self::l2) with the document frequencies of `stats` (a
    /// data-parallel job's, agreed by its ranks:
    /// [`cluster::agree_features`](crate::cluster::agree_features)).
    pub fn l2_from(mut self, lambda: f32, stats: &crate::data::FeatureStats) -> Self {
        self.l2 = lambda;
        self.inv_df = if lambda == 0.0 {
            Vec::new()
        } else {
            let mut d = stats.inverse_document_frequencies();
            d.resize(self.n_features, 0.0);
            d
        };
        self
    }

    /// [`adaptive`](Self::adaptive) with the scales of `stats` and the
    /// rows' mean normalised norm `mean_norm` given rather than measured.
    pub fn adaptive_from(mut self, stats: &crate::data::FeatureStats, mean_norm: f64) -> Self {
        self.update = Update::Adaptive;
        self.inv_scale = stats.inverse_scales();
        self.inv_scale.resize(self.n_features, 0.0);
        self.rate_factor = adaptive::rate_factor(mean_norm, true);
        self
    }

    /// Sets the update: [`adaptive`](Self::adaptive) for
    /// [`Update::Adaptive`] (scales from `train`), plain SGD for
    /// [`Update::Sgd`] (`train` unused).
    pub fn update(self, update: Update, train: &CsrDataset) -> Self {
        match update {
            Update::Adaptive => self.adaptive(train),
            Update::Sgd => Softmax {
                update: Update::Sgd,
                inv_scale: Vec::new(),
                rate_factor: 1.0,
                ..self
            },
        }
    }

    /// The update: [`Update::Sgd`] unless [`adaptive`](Self::adaptive) was called.
    pub fn get_update(&self) -> Update {
        self.update
    }

    /// The number of classes `C`.
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// The number of features `d`.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// The L2 strength λ.
    pub fn get_l2(&self) -> f32 {
        self.l2
    }

    /// The index of class `c`'s weight for feature `j` (`j = d` is its bias).
    #[inline]
    pub fn index(&self, c: usize, j: usize) -> usize {
        (c * (self.n_features + 1) + j) * self.update.stride()
    }

    /// Writes the `C` logits `w[c]·x + b[c]` of row `x` into `out`.
    ///
    /// # Panics
    /// If `out` is not `C` long.
    #[inline]
    pub fn logits<W: Weights + ?Sized>(&self, w: &W, x: &SparseRow<'_>, out: &mut [f32]) {
        assert_eq!(out.len(), self.n_classes, "one logit per class");
        let (stride, s) = (self.n_features + 1, self.update.stride());
        for (c, z) in out.iter_mut().enumerate() {
            let base = c * stride;
            let mut sum = w.read((base + self.n_features) * s);
            for (&j, &v) in x.indices.iter().zip(x.values) {
                sum += w.read((base + j as usize) * s) * v;
            }
            *z = sum;
        }
    }

    /// The predicted class of row `x`: the largest logit (the first, on ties).
    pub fn predict<W: Weights + ?Sized>(&self, w: &W, x: &SparseRow<'_>) -> usize {
        let mut buf = [0.0f32; MAX_CLASSES];
        let z = &mut buf[..self.n_classes];
        self.logits(w, x, z);
        argmax(z)
    }

    /// The data checks of [`Model::validate`] without the training ones:
    /// class ids in range and features within the model.
    fn check_data(&self, data: &CsrDataset) -> Result<(), Error> {
        for (row, &y) in data.labels().iter().enumerate() {
            class_of(row, y, self.n_classes)?;
        }
        super::check_features(data, self.n_features)?;
        Ok(())
    }

    /// The confusion matrix of the weights `w` on `data` (rows: true class,
    /// columns: predicted), after checking that `data` fits the model.
    pub fn confusion<W: Weights + ?Sized>(&self, w: &W, data: &CsrDataset) -> Result<Confusion, Error> {
        self.check_data(data)?;
        let c = self.n_classes;
        let mut counts = vec![0u64; c * c];
        for i in 0..data.len() {
            let x = data.row(i);
            counts[x.label as usize * c + self.predict(w, &x)] += 1;
        }
        Confusion::from_counts(c, counts)
    }
}

/// The class id label `y` of `row` stands for, if it is a whole number in
/// `0..n_classes`.
fn class_of(row: usize, y: f32, n_classes: usize) -> Result<usize, Error> {
    if y >= 0.0 && y.fract() == 0.0 && (y as usize) < n_classes {
        Ok(y as usize)
    } else {
        Err(Error::InvalidSample {
            row,
            reason: format!("label {y} is not a class id (a whole number in 0..{n_classes})"),
        })
    }
}

#[inline]
fn argmax(z: &[f32]) -> usize {
    let mut best = 0;
    for (c, &v) in z.iter().enumerate() {
        if v > z[best] {
            best = c;
        }
    }
    best
}

/// Replaces logits by their softmax probabilities. The largest logit is
/// subtracted first, so no `exp` overflows: finite logits of any size give
/// finite probabilities summing to 1.
#[inline]
pub fn softmax_in_place(z: &mut [f32]) {
    let m = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for v in z.iter_mut() {
        *v = (*v - m).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    for v in z.iter_mut() {
        *v *= inv;
    }
}

/// The cross-entropy `logsumexp(z) − z[y]`, computed without overflow.
#[inline]
pub fn cross_entropy(z: &[f32], y: usize) -> f64 {
    let m = f64::from(z.iter().copied().fold(f32::NEG_INFINITY, f32::max));
    let sum: f64 = z.iter().map(|&v| (f64::from(v) - m).exp()).sum();
    m + sum.ln() - f64::from(z[y])
}

impl Model for Softmax {
    type Data = CsrDataset;

    fn n_weights(&self) -> usize {
        self.n_classes * (self.n_features + 1) * self.update.stride()
    }

    fn validate(&self, data: &CsrDataset) -> Result<(), Error> {
        let l = self.l2;
        super::check_parameter("l2", l.is_finite() && l >= 0.0, || {
            format!("must be finite and >= 0, got {l}")
        })?;
        if self.update == Update::Adaptive {
            adaptive::check_scales(&self.inv_scale, self.n_features)?;
        }
        self.check_data(data)
    }

    #[inline]
    fn loss<W: Weights + ?Sized>(&self, w: &W, x: SparseRow<'_>, _: Step) -> f64 {
        let mut buf = [0.0f32; MAX_CLASSES];
        let z = &mut buf[..self.n_classes];
        self.logits(w, &x, z);
        cross_entropy(z, x.label as usize)
    }

    #[inline]
    fn step<W: WeightsMut + ?Sized>(&self, w: &mut W, x: SparseRow<'_>, at: Step) {
        let lr = at.lr;
        let mut buf = [0.0f32; MAX_CLASSES];
        let g = &mut buf[..self.n_classes];
        self.logits(w, &x, g);
        softmax_in_place(g);
        // `validate` guarantees the label is a class id; `get_mut` keeps an
        // unvalidated call from panicking.
        if let Some(py) = g.get_mut(x.label as usize) {
            *py -= 1.0;
        }
        let stride = self.n_features + 1;
        if self.update == Update::Adaptive {
            let lr = lr * self.rate_factor;
            for (c, &gc) in g.iter().enumerate() {
                for (&j, &v) in x.indices.iter().zip(x.values) {
                    let j = j as usize;
                    let l2 = if self.l2 == 0.0 { 0.0 } else { self.l2 * self.inv_df[j] };
                    adaptive::step(w, self.index(c, j), gc * v, self.inv_scale[j], lr, l2);
                }
                adaptive::step(w, self.index(c, self.n_features), gc, 1.0, lr, 0.0);
            }
            return;
        }
        for (c, &gc) in g.iter().enumerate() {
            let base = c * stride;
            if self.l2 == 0.0 {
                let s = lr * gc;
                for (&j, &v) in x.indices.iter().zip(x.values) {
                    w.add(base + j as usize, -(s * v));
                }
            } else {
                for (&j, &v) in x.indices.iter().zip(x.values) {
                    let k = base + j as usize;
                    let wk = w.read(k);
                    let new = shrink(wk - lr * (gc * v), lr * self.l2 * self.inv_df[j as usize]);
                    w.add_read(k, wk, new - wk);
                }
            }
            w.add(base + self.n_features, -(lr * gc));
        }
    }

    fn penalty<W: Weights + ?Sized>(&self, w: &W) -> f64 {
        if self.l2 == 0.0 {
            return 0.0;
        }
        let mut sq = 0.0f64;
        for c in 0..self.n_classes {
            sq += (0..self.n_features)
                .map(|j| f64::from(w.read(self.index(c, j))).powi(2))
                .sum::<f64>();
        }
        0.5 * f64::from(self.l2) * sq
    }

    fn correct<W: Weights + ?Sized>(&self, w: &W, x: SparseRow<'_>) -> Option<bool> {
        Some(self.predict(w, &x) as f32 == x.label)
    }
}

/// Moved to [`crate::metrics`]; re-exported here so that
/// `wildsgd::model::Confusion` still names it.
pub use crate::metrics::Confusion;

/// A synthetic multiclass problem for tests and benchmarks: dense rows of
/// independent `N(0, 1/d)` features (so `‖x‖ ≈ 1`), labelled by a random
/// teacher softmax model `argmax_c t[c]·x`. Rows whose two best teacher
/// logits are closer than `margin` are drawn again, so a positive margin
/// makes the classes linearly separable with room to spare; then each label
/// is replaced by a uniformly drawn class with probability `label_noise`.
/// Everything follows from `seed`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SyntheticClasses {
    /// Number of rows.
    pub rows: usize,
    /// Number of features (every row has all of them).
    pub features: usize,
    /// Number of classes.
    pub classes: usize,
    /// The least gap between the teacher's two best logits (teacher weights
    /// are standard normal, so the logits are about `N(0, 1)`).
    pub margin: f32,
    /// Probability that a label is redrawn uniformly.
    pub label_noise: f64,
    /// Seed for everything.
    pub seed: u64,
}

impl Default for SyntheticClasses {
    /// 10,000 rows × 64 features, 10 classes, margin 0.1, no label noise.
    fn default() -> Self {
        SyntheticClasses {
            rows: 10_000,
            features: 64,
            classes: 10,
            margin: 0.1,
            label_noise: 0.0,
            seed: 1,
        }
    }
}

impl SyntheticClasses {
    /// Generates the dataset.
    pub fn generate(&self) -> Result<CsrDataset, Error> {
        let bad = |name, reason: String| Err(Error::InvalidParameter { name, reason });
        if self.features == 0 || self.features > u32::MAX as usize {
            return bad("features", format!("must be in 1..=u32::MAX, got {}", self.features));
        }
        if !(2..=MAX_CLASSES).contains(&self.classes) {
            return bad("classes", format!("must be in 2..={MAX_CLASSES}, got {}", self.classes));
        }
        if !(self.margin.is_finite() && (0.0..1.0).contains(&self.margin)) {
            return bad("margin", format!("must be in [0, 1), got {}", self.margin));
        }
        if !(0.0..=1.0).contains(&self.label_noise) {
            return bad("label_noise", format!("must be in [0, 1], got {}", self.label_noise));
        }
        let (d, k) = (self.features, self.classes);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(self.seed);
        let teacher: Vec<f32> = (0..k * d).map(|_| StandardNormal.sample(&mut rng)).collect();
        let scale = 1.0 / (d as f32).sqrt();
        let indices: Vec<u32> = (0..d as u32).collect();
        let mut x = vec![0.0f32; d];
        let mut z = vec![0.0f32; k];
        let mut out = CsrDataset::new(d);
        out.reserve(self.rows, self.rows * d);
        for _ in 0..self.rows {
            let label = loop {
                for v in x.iter_mut() {
                    let n: f32 = StandardNormal.sample(&mut rng);
                    *v = scale * n;
                }
                for (c, zc) in z.iter_mut().enumerate() {
                    *zc = teacher[c * d..(c + 1) * d].iter().zip(&x).map(|(t, v)| t * v).sum();
                }
                let best = argmax(&z);
                let second = z
                    .iter()
                    .enumerate()
                    .filter(|&(c, _)| c != best)
                    .map(|(_, &v)| v)
                    .fold(f32::NEG_INFINITY, f32::max);
                if z[best] - second >= self.margin {
                    break best;
                }
            };
            let label = if rng.random_bool(self.label_noise) {
                rng.random_range(0..k)
            } else {
                label
            };
            out.push(&indices, &x, label as f32)?;
        }
        Ok(out)
    }
}

/// Saved as: classes `u64`, features `u64`, λ `f32`, then the update `u8`
/// (0 SGD, 1 adaptive; absent in older checkpoints, which are SGD). A loaded
/// model's L2 and feature scales are for no data: call [`l2`](Softmax::l2)
/// (and [`adaptive`](Softmax::adaptive)) with the training data to resume.
impl crate::model::persist::Persist for Softmax {
    const KIND: &'static str = "softmax";

    fn encode(&self, out: &mut crate::model::persist::Encoder) {
        out.usize(self.n_classes)
            .usize(self.n_features)
            .f32(self.l2)
            .u8(self.update.code());
    }

    fn decode(input: &mut crate::model::persist::Decoder<'_>) -> Result<Self, crate::error::CheckpointIssue> {
        use crate::model::persist::bad;
        let classes = input.usize_in(2..=MAX_CLASSES, "number of classes")?;
        let features = input.usize_in(1..=usize::MAX, "number of features")?;
        let l2 = input.f32("L2 strength")?;
        let update = if input.remaining() == 0 {
            Update::Sgd
        } else {
            let code = input.u8("update code")?;
            Update::from_code(code).ok_or_else(|| bad("update code", code))?
        };
        let n = (features as u64)
            .checked_add(1)
            .and_then(|f| f.checked_mul(classes as u64))
            .and_then(|f| f.checked_mul(update.stride() as u64));
        input.expect_weights(n, "a softmax model")?;
        if !(l2.is_finite() && l2 >= 0.0) {
            return Err(bad("L2 strength", l2));
        }
        let mut model = Softmax::new(classes, features).map_err(|e| bad("softmax model", e))?;
        // Scales come from the training data: validate() refuses to train
        // the model until adaptive() is called again.
        model.update = update;
        Ok(model.l2(l2, &CsrDataset::new(0)))
    }
}
