//! Sparse linear models: logistic regression, linear SVM, least squares.

use super::adaptive::{self, shrink, Update};
use super::{Model, Step, Weights, WeightsMut};
use crate::data::{CsrDataset, SparseRow};
use crate::error::Error;
use crate::schedule::Schedule;

/// The loss of a [`Linear`] model, as a function of the margin `m = w·x + b`
/// and the label `y`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Loss {
    /// `ln(1 + exp(-y m))`, labels ±1.
    Logistic,
    /// `max(0, 1 - y m)` (linear SVM), labels ±1.
    Hinge,
    /// `(m - y)² / 2`, any real label.
    Squared,
}

impl Loss {
    /// The loss at margin `m` for label `y`.
    #[inline]
    pub fn value(self, m: f32, y: f32) -> f64 {
        let (m, y) = (f64::from(m), f64::from(y));
        match self {
            Loss::Logistic => {
                let z = -y * m;
                // ln(1 + e^z) without overflow.
                if z > 0.0 {
                    z + (-z).exp().ln_1p()
                } else {
                    z.exp().ln_1p()
                }
            }
            Loss::Hinge => (1.0 - y * m).max(0.0),
            Loss::Squared => 0.5 * (m - y) * (m - y),
        }
    }

    /// The derivative of the loss with respect to the margin.
    #[inline]
    pub fn derivative(self, m: f32, y: f32) -> f32 {
        match self {
            // -y σ(-y m); exp overflowing to inf gives -y/inf = 0, never NaN.
            Loss::Logistic => -y / (1.0 + (y * m).exp()),
            Loss::Hinge => {
                if y * m < 1.0 {
                    -y
                } else {
                    0.0
                }
            }
            Loss::Squared => m - y,
        }
    }

    fn classifies(self) -> bool {
        !matches!(self, Loss::Squared)
    }

    /// The loss's name: `logistic`, `hinge` or `squared`.
    pub fn name(self) -> &'static str {
        match self {
            Loss::Logistic => "logistic",
            Loss::Hinge => "hinge",
            Loss::Squared => "squared",
        }
    }
}

/// A linear model over sparse rows ([`CsrDataset`]): weights `w` for
/// features `0..n_features`, then an optional bias.
///
/// L2 regularisation (`λ/2 ‖w‖²`, bias excluded) is applied *lazily*: a step
/// on a row shrinks only the weights of the features in that row, each by
/// `λ n / df_j` (n rows, df_j rows containing feature j), as in the Hogwild!
/// paper. Averaged over the rows this is exactly the gradient of `λ/2 ‖w‖²`,
/// so the objective is the usual one, while a step still touches only the
/// row's weights. The document frequencies come from the training data given
/// to [`l2`](Self::l2). The shrink is taken in closed form, `w / (1 + a)`
/// ([`shrink`](crate::model::shrink)), so no rate, λ or rare feature can
/// make it flip a weight's sign or grow it.
///
/// The update is plain SGD unless [`adaptive`](Self::adaptive) switches on
/// the normalised AdaGrad update of [`Update::Adaptive`] (scale-invariant:
/// multiplying a feature column by 1000 leaves every margin of the
/// trajectory as it was). The adaptive model keeps each weight's
/// accumulator in the slot after it; [`weight_index`](Self::weight_index)
/// and [`coefficients`](Self::coefficients) find the weights either way.
///
/// ```
/// use wildsgd::{Linear, Loss, Trainer, data::Synthetic};
///
/// let train = Synthetic { rows: 2000, features: 500, nnz_per_row: 20, ..Synthetic::default() }
///     .generate()
///     .unwrap();
/// let model = Linear::new(Loss::Logistic, train.n_features()).bias(true).l2(1e-4, &train);
/// let trained = Trainer::new().threads(2).epochs(5).fit(&model, &train).unwrap();
/// let last = trained.report.epochs.last().unwrap();
/// assert!(last.train_loss < 0.6, "{}", last.train_loss);
/// ```
#[derive(Clone, Debug)]
pub struct Linear {
    loss: Loss,
    n_features: usize,
    bias: bool,
    /// `None`: the update's own default (see [`Linear::bias_scale`]).
    bias_scale: Option<f32>,
    l2: f32,
    /// n / df_j per feature; empty when `l2 == 0`.
    inv_df: Vec<f32>,
    update: Update,
    /// 1 / max |x_j| per feature, for the adaptive update; empty for SGD.
    inv_scale: Vec<f32>,
    /// The training rows' mean normalised L1 norm, and the adaptive
    /// update's rate factor made from it with the bias (kept apart so that
    /// `bias()` after `adaptive()` still gets the factor right).
    mean_norm: f64,
    rate_factor: f32,
}

impl Linear {
    /// The default number of epochs with the [adaptive](Update::Adaptive)
    /// update, for every loss and for [`Softmax`](crate::Softmax) too: see
    /// the README's defaults section and `benches/defaults/` for the panel of
    /// datasets it was chosen on. The command line and the Python package
    /// both start from it.
    pub const DEFAULT_EPOCHS: usize = 10;
    /// The default schedule with the adaptive update (8, then ×0.8 per
    /// epoch), chosen with [`DEFAULT_EPOCHS`](Self::DEFAULT_EPOCHS) on the
    /// same panel; the default L2 strength that goes with it is 1/rows
    /// (scikit-learn `LogisticRegression()`'s objective).
    pub const DEFAULT_SCHEDULE: Schedule = Schedule::EpochDecay {
        initial: 8.0,
        decay: 0.8,
    };

    /// A model with `loss` over `n_features` features, no bias and no
    /// regularisation.
    pub fn new(loss: Loss, n_features: usize) -> Self {
        Linear {
            loss,
            n_features,
            bias: false,
            bias_scale: None,
            l2: 0.0,
            inv_df: Vec::new(),
            update: Update::Sgd,
            inv_scale: Vec::new(),
            mean_norm: 0.0,
            rate_factor: 1.0,
        }
    }

    /// Switches to the adaptive update ([`Update::Adaptive`]), with each
    /// feature's scale (its largest `|x_j|`) taken from `train`, the data the
    /// model will be trained on. The model then has two store slots per
    /// coordinate (the weight, then its accumulator).
    ///
    /// ```
    /// use wildsgd::{data::Synthetic, Linear, Loss, Model, Trainer};
    ///
    /// let train = Synthetic { rows: 2000, features: 300, ..Synthetic::default() }.generate().unwrap();
    /// let model = Linear::new(Loss::Logistic, 300).bias(true).adaptive(&train);
    /// assert_eq!(model.n_weights(), 2 * 301);
    /// let trained = Trainer::new().epochs(3).schedule(wildsgd::Schedule::Constant(0.5)).fit(&model, &train).unwrap();
    /// let w = model.coefficients(&trained.weights);
    /// assert_eq!(w.len(), 301); // 300 weights, then the bias
    /// assert!(trained.report.epochs.last().unwrap().train_loss < 0.6);
    /// ```
    pub fn adaptive(mut self, train: &CsrDataset) -> Self {
        self.update = Update::Adaptive;
        self.inv_scale = train.inverse_scales(self.n_features);
        self.mean_norm = adaptive::mean_normalised_norm(train, &self.inv_scale);
        self.rate_factor = adaptive::rate_factor(self.mean_norm, self.bias);
        self
    }

    /// [`adaptive`](Self::adaptive) with the scales of `stats` and the
    /// mean normalised norm `mean_norm` (of the rows, by those scales)
    /// given rather than measured: a data-parallel job's ranks agree on
    /// them first ([`cluster::agree_features`](crate::cluster::agree_features)).
    pub fn adaptive_from(mut self, stats: &crate::data::FeatureStats, mean_norm: f64) -> Self {
        self.update = Update::Adaptive;
        self.inv_scale = stats.inverse_scales();
        self.inv_scale.resize(self.n_features, 0.0);
        self.mean_norm = mean_norm;
        self.rate_factor = adaptive::rate_factor(self.mean_norm, self.bias);
        self
    }

    /// [`l2`](Self::l2) with the document frequencies of `stats`.
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

    /// Sets the update: [`adaptive`](Self::adaptive) for
    /// [`Update::Adaptive`] (scales from `train`), plain SGD (one slot per
    /// coordinate, `train` unused) for [`Update::Sgd`].
    ///
    /// ```
    /// use wildsgd::{data::CsrDataset, model::Update, Linear, Loss};
    ///
    /// let train = CsrDataset::new(3);
    /// let m = Linear::new(Loss::Hinge, 3).update(Update::Adaptive, &train);
    /// assert_eq!(m.get_update(), Update::Adaptive);
    /// assert_eq!(m.update(Update::Sgd, &train).get_update(), Update::Sgd);
    /// ```
    pub fn update(self, update: Update, train: &CsrDataset) -> Self {
        match update {
            Update::Adaptive => self.adaptive(train),
            Update::Sgd => Linear {
                update: Update::Sgd,
                inv_scale: Vec::new(),
                mean_norm: 0.0,
                rate_factor: 1.0,
                ..self
            },
        }
    }

    /// The update: [`Update::Sgd`] unless [`adaptive`](Self::adaptive) was called.
    pub fn get_update(&self) -> Update {
        self.update
    }

    /// The store slot of feature `j`'s weight (`j = n_features` is the
    /// bias): `j` for SGD, `2 j` for the adaptive update.
    #[inline]
    pub fn weight_index(&self, j: usize) -> usize {
        j * self.update.stride()
    }

    /// The model's weights out of its store's `weights` (feature weights,
    /// then the bias if any), without the adaptive update's accumulators.
    pub fn coefficients(&self, weights: &[f32]) -> Vec<f32> {
        weights.iter().step_by(self.update.stride()).copied().collect()
    }

    /// Adds (or removes) a bias weight, stored after the feature weights.
    pub fn bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self.rate_factor = adaptive::rate_factor(self.mean_norm, bias);
        self
    }

    /// Scales the bias's learning rate relative to the feature weights'.
    /// The default is 0.01 for SGD, as scikit-learn does for sparse data:
    /// the bias is the one weight every sample moves, by a full `lr · g`
    /// with an implicit feature value of 1, against feature values of about
    /// `1/√nnz` in unit-norm rows; at full rate it random-walks and the
    /// training loss jumps by several percent between evaluations. For the
    /// adaptive update the default is 1: the bias's own accumulator, which
    /// every sample adds to, already shrinks its steps.
    ///
    /// An invalid value is not a panic: [`Model::validate`] (which the
    /// trainer runs before any step) reports it as
    /// [`Error::InvalidParameter`].
    pub fn bias_scale(mut self, scale: f32) -> Self {
        self.bias_scale = Some(scale);
        self
    }

    /// The bias's learning-rate factor.
    pub fn get_bias_scale(&self) -> f32 {
        self.bias_scale.unwrap_or(match self.update {
            Update::Sgd => 0.01,
            Update::Adaptive => 1.0,
        })
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

    /// The loss function.
    pub fn get_loss(&self) -> Loss {
        self.loss
    }

    /// The number of features (weights, less the bias).
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Whether the model has a bias weight (at index [`n_features`](Self::n_features)).
    pub fn get_bias(&self) -> bool {
        self.bias
    }

    /// The L2 strength λ.
    pub fn get_l2(&self) -> f32 {
        self.l2
    }

    /// The per-feature factor of the lazy L2 step, `λ n / df_j` (0 for
    /// features absent from the training data).
    #[inline]
    pub fn l2_factor(&self, j: usize) -> f32 {
        self.l2 * self.inv_df[j]
    }

    /// The margin `w·x + b` of a row.
    ///
    /// Summed in four interleaved partial sums: one running sum makes each
    /// add wait for the last (61 nonzeros: ~240 cycles of add latency, more
    /// than the loads take once rows stream from memory); four chains cut
    /// that by four. The result is the same on every run and thread.
    #[inline]
    pub fn margin<W: Weights + ?Sized>(&self, w: &W, x: &SparseRow<'_>) -> f32 {
        // The stride is a constant in each copy: SGD's loop is as it was.
        match self.update {
            Update::Sgd => self.margin_at::<1, W>(w, x),
            Update::Adaptive => self.margin_at::<2, W>(w, x),
        }
    }

    #[inline]
    fn margin_at<const S: usize, W: Weights + ?Sized>(&self, w: &W, x: &SparseRow<'_>) -> f32 {
        let (idx, val) = (x.indices, x.values);
        let n = idx.len().min(val.len());
        let (idx, val) = (&idx[..n], &val[..n]);
        let mut acc = [0.0f32; 4];
        let (ic, vc) = (idx.chunks_exact(4), val.chunks_exact(4));
        let (ir, vr) = (ic.remainder(), vc.remainder());
        for (i4, v4) in ic.zip(vc) {
            for l in 0..4 {
                acc[l] += w.read(S * i4[l] as usize) * v4[l];
            }
        }
        let mut m = (acc[0] + acc[1]) + (acc[2] + acc[3]);
        for (&j, &v) in ir.iter().zip(vr) {
            m += w.read(S * j as usize) * v;
        }
        if self.bias {
            m += w.read(S * self.n_features);
        }
        m
    }

    fn step_adaptive<W: WeightsMut + ?Sized>(&self, w: &mut W, x: SparseRow<'_>, lr: f32) {
        let lr = lr * self.rate_factor;
        let g = self.loss.derivative(self.margin_at::<2, W>(w, &x), x.label);
        if g == 0.0 && self.l2 == 0.0 {
            return;
        }
        for (&j, &v) in x.indices.iter().zip(x.values) {
            let j = j as usize;
            let l2 = if self.l2 == 0.0 { 0.0 } else { self.l2_factor(j) };
            adaptive::step(w, 2 * j, g * v, self.inv_scale[j], lr, l2);
        }
        if self.bias && g != 0.0 {
            adaptive::step(w, 2 * self.n_features, g, 1.0, lr * self.get_bias_scale(), 0.0);
        }
    }
}

impl Model for Linear {
    type Data = CsrDataset;

    fn n_weights(&self) -> usize {
        (self.n_features + usize::from(self.bias)) * self.update.stride()
    }

    fn validate(&self, data: &CsrDataset) -> Result<(), Error> {
        let (s, l) = (self.get_bias_scale(), self.l2);
        super::check_parameter("bias_scale", s.is_finite() && s > 0.0, || {
            format!("must be finite and > 0, got {s}")
        })?;
        super::check_parameter("l2", l.is_finite() && l >= 0.0, || {
            format!("must be finite and >= 0, got {l}")
        })?;
        super::check_features(data, self.n_features)?;
        if self.update == Update::Adaptive {
            adaptive::check_scales(&self.inv_scale, self.n_features)?;
        }
        if self.loss.classifies() {
            if let Some(row) = data.labels().iter().position(|&y| y != 1.0 && y != -1.0) {
                return Err(Error::InvalidSample {
                    row,
                    reason: format!(
                        "label {} is not +1 or -1, as {} loss needs",
                        data.labels()[row],
                        self.loss.name()
                    ),
                });
            }
        }
        Ok(())
    }

    #[inline]
    fn loss<W: Weights + ?Sized>(&self, w: &W, x: SparseRow<'_>, _: Step) -> f64 {
        self.loss.value(self.margin(w, &x), x.label)
    }

    #[inline]
    fn step<W: WeightsMut + ?Sized>(&self, w: &mut W, x: SparseRow<'_>, at: Step) {
        let lr = at.lr;
        if self.update == Update::Adaptive {
            return self.step_adaptive(w, x, lr);
        }
        let g = self.loss.derivative(self.margin_at::<1, W>(w, &x), x.label);
        if self.l2 == 0.0 {
            if g == 0.0 {
                return;
            }
            for (&j, &v) in x.indices.iter().zip(x.values) {
                w.add(j as usize, -(lr * (g * v)));
            }
        } else {
            for (&j, &v) in x.indices.iter().zip(x.values) {
                let j = j as usize;
                let wj = w.read(j);
                let new = shrink(wj - lr * (g * v), lr * self.l2_factor(j));
                w.add_read(j, wj, new - wj);
            }
        }
        if self.bias && g != 0.0 {
            w.add(self.n_features, -(lr * g * self.get_bias_scale()));
        }
    }

    fn penalty<W: Weights + ?Sized>(&self, w: &W) -> f64 {
        if self.l2 == 0.0 {
            return 0.0;
        }
        let sq: f64 = (0..self.n_features)
            .map(|j| f64::from(w.read(self.weight_index(j))).powi(2))
            .sum();
        0.5 * f64::from(self.l2) * sq
    }

    fn correct<W: Weights + ?Sized>(&self, w: &W, x: SparseRow<'_>) -> Option<bool> {
        self.loss.classifies().then(|| {
            let predicted = if self.margin(w, &x) >= 0.0 { 1.0 } else { -1.0 };
            predicted == x.label
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric_derivative(loss: Loss, m: f32, y: f32) -> f64 {
        let h = 1e-3f32;
        (loss.value(m + h, y) - loss.value(m - h, y)) / f64::from(2.0 * h)
    }

    #[test]
    fn derivatives_match_finite_differences() {
        for loss in [Loss::Logistic, Loss::Squared, Loss::Hinge] {
            for &(m, y) in &[(0.3f32, 1.0f32), (-2.0, 1.0), (1.7, -1.0), (0.5, -1.0)] {
                let num = numeric_derivative(loss, m, y);
                let ana = f64::from(loss.derivative(m, y));
                assert!((num - ana).abs() < 1e-2, "{loss:?} m={m} y={y}: {num} vs {ana}");
            }
        }
    }

    #[test]
    fn logistic_is_stable_at_extremes() {
        assert!((Loss::Logistic.value(1e4, -1.0) - 1e4).abs() < 1e-6);
        assert_eq!(Loss::Logistic.value(1e4, 1.0), 0.0);
        assert_eq!(Loss::Logistic.derivative(1e4, 1.0), 0.0);
        assert_eq!(Loss::Logistic.derivative(-1e4, 1.0), -1.0);
        assert!((Loss::Logistic.value(0.0, 1.0) - std::f64::consts::LN_2).abs() < 1e-12);
    }

    fn data() -> CsrDataset {
        let mut d = CsrDataset::new(4);
        d.push(&[0, 2], &[1.0, 2.0], 1.0).unwrap();
        d.push(&[2], &[1.0], -1.0).unwrap();
        d
    }

    #[test]
    fn step_touches_only_the_rows_weights() {
        let d = data();
        let m = Linear::new(Loss::Logistic, 4).bias(true).l2(0.1, &d);
        let mut w = vec![0.5f32; 5];
        m.step(&mut w, d.row(0), Step::new(0.1));
        assert_eq!(w[1], 0.5);
        assert_eq!(w[3], 0.5);
        assert_ne!(w[0], 0.5);
        assert_ne!(w[2], 0.5);
        assert_ne!(w[4], 0.5, "bias moves");
    }

    #[test]
    fn step_is_the_gradient_of_loss_plus_lazy_l2() {
        let d = data();
        let lambda = 0.1;
        let m = Linear::new(Loss::Logistic, 4).bias(true).l2(lambda, &d);
        let w0 = vec![0.2f32, -0.1, 0.3, 0.0, 0.05];
        let lr = 1e-2;
        let mut w = w0.clone();
        m.step(&mut w, d.row(0), Step::new(lr));
        // Feature 2 appears in both rows (df = 2, n = 2): factor λ; feature 0 in one (factor 2λ).
        let g = Loss::Logistic.derivative(m.margin(&w0, &d.row(0)), 1.0);
        // The shrink in closed form: (w - lr g x) / (1 + lr λ n/df).
        assert!((w[0] - (w0[0] - lr * g * 1.0) / (1.0 + lr * 2.0 * lambda)).abs() < 1e-7);
        assert!((w[2] - (w0[2] - lr * g * 2.0) / (1.0 + lr * lambda)).abs() < 1e-7);
        // To first order in lr, the gradient of loss + lazy L2.
        assert!((w[0] - (w0[0] - lr * (g * 1.0 + 2.0 * lambda * w0[0]))).abs() < 1e-5);
        assert!((w[4] - (w0[4] - lr * g * 0.01)).abs() < 1e-7);
        // Penalty: λ/2 ‖w‖² without the bias.
        let p = m.penalty(&w0);
        assert!((p - 0.05 * (0.04 + 0.01 + 0.09)).abs() < 1e-6, "{p}");
    }

    #[test]
    fn the_lazy_l2_step_is_stable_for_every_strength() {
        // One row holding a rare feature (df = 1 of n = 1000 rows) and a
        // gradient that pushes it one way: at lr·λ·n/df from 1e-3 to 1e3 the
        // weight never flips sign against the shrink, never grows past what
        // the loss step alone would give, and stays finite.
        let mut d = CsrDataset::new(2);
        d.push(&[0, 1], &[1.0, 1.0], 1.0).unwrap();
        for _ in 1..1000 {
            d.push(&[1], &[1.0], 1.0).unwrap();
        }
        for update in [Update::Sgd, Update::Adaptive] {
            let mut a = 1e-3f32;
            while a <= 1e3 {
                let lr = 0.1f32;
                let lambda = a / (lr * 1000.0);
                let m = Linear::new(Loss::Logistic, 2).l2(lambda, &d).update(update, &d);
                let s = m.weight_index(0);
                let mut w = vec![0.0f32; m.n_weights()];
                w[s] = 3.0;
                for _ in 0..50 {
                    let before = w[s];
                    m.step(&mut w, d.row(0), Step::new(lr));
                    assert!(
                        w[s].is_finite() && w[s] >= 0.0,
                        "{update:?} a={a}: {before} -> {}",
                        w[s]
                    );
                    // The loss pushes w up by at most lr (|g| < 1, x = 1; adaptive: lr in its units).
                    assert!(w[s] <= before + lr + 1e-6, "{update:?} a={a}: {before} -> {}", w[s]);
                }
                a *= 3.0;
            }
        }
    }

    #[test]
    fn the_adaptive_trajectory_ignores_how_features_are_scaled() {
        // The same data with columns multiplied by 1000, 1e-3 and 7: every
        // margin along the way and at the end agrees (to float rounding),
        // while plain SGD's trajectory changes completely.
        let mut a = CsrDataset::new(3);
        let mut b = CsrDataset::new(3);
        let scale = [1000.0f32, 1e-3, 7.0];
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        };
        for _ in 0..300 {
            let x = [next(), next(), next()];
            let y = if x[0] + 0.5 * x[1] - x[2] + 0.3 * next() > 0.0 {
                1.0
            } else {
                -1.0
            };
            a.push(&[0, 1, 2], &x, y).unwrap();
            let xs = [x[0] * scale[0], x[1] * scale[1], x[2] * scale[2]];
            b.push(&[0, 1, 2], &xs, y).unwrap();
        }
        let run = |d: &CsrDataset, update: Update| {
            let m = Linear::new(Loss::Logistic, 3).bias(true).update(update, d);
            let mut w = vec![0.0f32; m.n_weights()];
            let mut margins = Vec::new();
            for _ in 0..3 {
                for i in 0..d.len() {
                    m.step(&mut w, d.row(i), Step::new(0.3));
                    margins.push(m.margin(&w, &d.row(i)));
                }
            }
            margins
        };
        let (ma, mb) = (run(&a, Update::Adaptive), run(&b, Update::Adaptive));
        let worst = ma
            .iter()
            .zip(&mb)
            .map(|(p, q)| (p - q).abs() / p.abs().max(1.0))
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-3, "adaptive margins differ by {worst}");
        assert!(ma.last().unwrap().abs() > 0.1, "it learned something");
        let (sa, sb) = (run(&a, Update::Sgd), run(&b, Update::Sgd));
        let sgd = sa.iter().zip(&sb).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
        assert!(
            sgd.is_nan() || sgd >= 1.0,
            "plain SGD is not invariant (control): {sgd}"
        );
    }

    #[test]
    fn adaptive_layout_and_a_loaded_model() {
        let d = data();
        let m = Linear::new(Loss::Logistic, 4).bias(true).adaptive(&d);
        assert_eq!(m.n_weights(), 10);
        assert_eq!(m.weight_index(4), 8);
        assert_eq!(m.get_bias_scale(), 1.0);
        let w: Vec<f32> = (0..10).map(|k| k as f32).collect();
        assert_eq!(m.coefficients(&w), vec![0.0, 2.0, 4.0, 6.0, 8.0]);
        // The margin reads the weights, never the accumulators.
        assert_eq!(m.margin(&w, &d.row(1)), 4.0 * 1.0 + 8.0);
        let mut loaded = m.clone();
        loaded.inv_scale.clear();
        let e = loaded.validate(&d).unwrap_err();
        assert!(e.to_string().contains("adaptive()"), "{e}");
    }

    #[test]
    fn validate_names_the_bad_row() {
        let mut d = CsrDataset::new(10);
        d.push(&[1], &[1.0], 1.0).unwrap();
        d.push(&[2, 7], &[1.0, 1.0], -1.0).unwrap();
        let m = Linear::new(Loss::Logistic, 5);
        let e = m.validate(&d).unwrap_err();
        assert!(
            matches!(
                e,
                Error::FeatureOutOfRange {
                    row: 1,
                    index: 7,
                    dim: 5
                }
            ),
            "{e}"
        );

        let mut d = CsrDataset::new(3);
        d.push(&[1], &[1.0], 1.0).unwrap();
        d.push(&[1], &[1.0], 0.0).unwrap();
        let e = Linear::new(Loss::Hinge, 3).validate(&d).unwrap_err();
        assert!(e.to_string().contains("row 1: label 0 is not +1 or -1"), "{e}");
        assert!(Linear::new(Loss::Squared, 3).validate(&d).is_ok());
    }

    #[test]
    fn accuracy_only_for_classifiers() {
        let d = data();
        let w = vec![1.0f32, 0.0, -1.0, 0.0];
        let m = Linear::new(Loss::Hinge, 4);
        assert_eq!(m.correct(&w, d.row(0)), Some(false)); // 1 - 2 < 0, label +1
        assert_eq!(m.correct(&w, d.row(1)), Some(true));
        assert_eq!(Linear::new(Loss::Squared, 4).correct(&w, d.row(0)), None);
    }
}

/// [`Persist`](crate::model::persist::Persist) for [`Linear`] (after the tests: its
/// own module, so that the model's code above stays as it is).
mod persist {
    use super::{CsrDataset, Linear, Loss, Update};

    /// Saved as: loss `u8` (0 logistic, 1 hinge, 2 squared), bias `u8`, bias
    /// scale `f32`, λ `f32`, features `u64`, then the update `u8` (0 SGD, 1
    /// adaptive; absent in checkpoints older than the adaptive update, which
    /// are SGD). A loaded model's L2 and feature scales are for no data:
    /// call [`l2`](Linear::l2) (and [`adaptive`](Linear::adaptive)) with the
    /// training data to resume.
    impl crate::model::persist::Persist for Linear {
        const KIND: &'static str = "linear";

        fn encode(&self, out: &mut crate::model::persist::Encoder) {
            let loss = match self.loss {
                Loss::Logistic => 0,
                Loss::Hinge => 1,
                Loss::Squared => 2,
            };
            out.u8(loss)
                .bool(self.bias)
                .f32(self.get_bias_scale())
                .f32(self.l2)
                .usize(self.n_features)
                .u8(self.update.code());
        }

        fn decode(input: &mut crate::model::persist::Decoder<'_>) -> Result<Self, crate::error::CheckpointIssue> {
            use crate::model::persist::bad;
            let loss = match input.u8("loss code")? {
                0 => Loss::Logistic,
                1 => Loss::Hinge,
                2 => Loss::Squared,
                v => return Err(bad("loss code", v)),
            };
            let (bias, bias_scale, l2) = (
                input.bool("bias flag")?,
                input.f32("bias scale")?,
                input.f32("L2 strength")?,
            );
            let n_features = input.u64("features")?;
            let update = if input.remaining() == 0 {
                Update::Sgd
            } else {
                let code = input.u8("update code")?;
                Update::from_code(code).ok_or_else(|| bad("update code", code))?
            };
            let slots = n_features
                .checked_add(u64::from(bias))
                .and_then(|n| n.checked_mul(update.stride() as u64));
            input.expect_weights(slots, "a linear model")?;
            if !(bias_scale.is_finite() && bias_scale > 0.0) {
                return Err(bad("bias scale", bias_scale));
            }
            if !(l2.is_finite() && l2 >= 0.0) {
                return Err(bad("L2 strength", l2));
            }
            let mut model = Linear::new(loss, n_features as usize).bias(bias).bias_scale(bias_scale);
            // Scales come from the training data: until adaptive() is
            // called again, validate() refuses to train the model.
            model.update = update;
            Ok(model.l2(l2, &CsrDataset::new(0)))
        }
    }
}
