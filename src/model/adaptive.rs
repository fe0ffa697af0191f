//! The adaptive, scale-invariant update: AdaGrad on features normalised by
//! their scale, and an L2 shrink in closed form.
//!
//! Plain SGD moves weight `j` by `lr · g · x_j`: its step depends on how the
//! feature happens to be scaled, so one learning rate cannot suit a column
//! of pixel values (0..255) and one of tf-idf weights (0..0.3), and a
//! default tuned on unit-norm rows breaks elsewhere. The adaptive update
//! (Duchi, Hazan & Singer's AdaGrad; normalised as in Ross, Mineiro &
//! Langford's *Normalized online learning*) takes its steps in units where
//! every feature's largest value is 1:
//!
//! ```text
//! s_j   = max over the training rows of |x_j|          (the feature's scale)
//! ĝ_j   = g · x_j / s_j                                (the normalised gradient)
//! G_j  += ĝ_j²                                          (its accumulator)
//! w_j  -= lr · ĝ_j / (s_j · √G_j)
//! ```
//!
//! Multiplying a column by `c` multiplies `s_j` by `c` and leaves `ĝ_j` and
//! `G_j` as they were, so `w_j` comes out divided by `c` and every margin —
//! the whole trajectory — is unchanged (tests check it). Each coordinate's
//! step shrinks as `1/√(its own gradient history)`, so rare features keep
//! large steps and frequent ones settle, with no per-epoch decay to tune.
//!
//! # Layout
//!
//! `G_j` lives in the same [`WeightStore`](crate::WeightStore) as `w_j`, in
//! the slot right after it (weight at `2k`, accumulator at `2k + 1`): the
//! two share a cache line, so the update costs no extra line and no extra
//! contention, and it goes through the same view as the weight, so every
//! [`Policy`](crate::Policy) (and the loom suite) covers it. A checkpoint
//! saves the accumulators with the weights, so a resumed run continues the
//! same steps.
//!
//! # L2 without overshoot
//!
//! The lazy L2 step of the sparse models shrinks weight `j` with strength
//! `a = step · λ · n/df_j`. Written as `w -= a · w` it overshoots once
//! `a > 1` (the weight flips sign) and diverges once `a > 2`, which rare
//! features reach at ordinary rates. Both updates instead take the
//! *proximal* step of the penalty, `w ← w / (1 + a)`: the exact minimiser of
//! `λ/2 w² + (w − w')²/(2·step)`, equal to the gradient step to first order
//! in `a`, and for every `a ≥ 0` a shrink that never flips the sign or grows
//! the weight ([`shrink`]).

use super::WeightsMut;

/// How a built-in model turns a gradient into a change of its weights.
///
/// ```
/// use wildsgd::model::Update;
///
/// assert_eq!(Update::default(), Update::Sgd);
/// assert_eq!("adaptive".parse::<Update>(), Ok(Update::Adaptive));
/// assert_eq!(Update::Adaptive.name(), "adaptive");
/// assert!("adagrad".parse::<Update>().is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Update {
    /// Plain SGD: `w -= lr · gradient`, one weight per coordinate.
    #[default]
    Sgd,
    /// The normalised AdaGrad update of this module: two slots per
    /// coordinate (the weight, then its accumulator).
    Adaptive,
}

impl Update {
    /// `sgd` or `adaptive`.
    pub fn name(self) -> &'static str {
        match self {
            Update::Sgd => "sgd",
            Update::Adaptive => "adaptive",
        }
    }

    /// Store slots per coordinate: 1 for SGD, 2 (weight, accumulator) for
    /// the adaptive update.
    pub fn stride(self) -> usize {
        match self {
            Update::Sgd => 1,
            Update::Adaptive => 2,
        }
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            Update::Sgd => 0,
            Update::Adaptive => 1,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<Update> {
        match code {
            0 => Some(Update::Sgd),
            1 => Some(Update::Adaptive),
            _ => None,
        }
    }
}

impl std::str::FromStr for Update {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "sgd" => Ok(Update::Sgd),
            "adaptive" => Ok(Update::Adaptive),
            _ => Err(format!("unknown update {s:?}: expected sgd or adaptive")),
        }
    }
}

/// The mean over the rows of `train` of their normalised L1 norm,
/// `Σ_j |x_j / s_j|` (`inv_scale` holding `1/s_j`), from which
/// [`rate_factor`] makes the adaptive update's rate factor. Each
/// coordinate's first step has size `lr` in normalised units, so a row of
/// `k` comparable features moves its margin by about `lr · Σ_j |x_j/s_j|`
/// on its first visit; dividing the rate by the mean keeps one `lr` right
/// for rows of 3 features and of 300 (the L1 rather than Ross, Mineiro &
/// Langford's squared norm under a root: with it, rows of many rare
/// features overshoot in their first epoch). It depends only on the
/// normalised rows, so it is as scale-invariant as the steps.
pub(crate) fn mean_normalised_norm(train: &crate::data::CsrDataset, inv_scale: &[f32]) -> f64 {
    let n = train.len();
    if n == 0 {
        return 0.0;
    }
    norm_sum(train, inv_scale) / n as f64
}

/// The sum over `train`'s rows of their normalised L1 norms.
pub(crate) fn norm_sum(train: &crate::data::CsrDataset, inv_scale: &[f32]) -> f64 {
    let n = train.len();
    let mut total = 0.0f64;
    for i in 0..n {
        let x = train.row(i);
        for (&j, &v) in x.indices.iter().zip(x.values) {
            let u = f64::from(v) * f64::from(inv_scale.get(j as usize).copied().unwrap_or(0.0));
            total += u.abs();
        }
    }
    total
}

/// `1 / (mean_norm + 1 for a bias feature of value 1)`; 1 when that is not
/// a usable number (no rows).
pub(crate) fn rate_factor(mean_norm: f64, bias: bool) -> f32 {
    let mean = mean_norm + f64::from(u8::from(bias));
    if mean > 0.0 && mean.is_finite() {
        (1.0 / mean) as f32
    } else {
        1.0
    }
}

/// Checks the scales an adaptive model took from its training data: some
/// (it was given data, not loaded), and none so small that its inverse
/// overflows (a feature whose values are all subnormal: no `f32` weight
/// could give it a say in the margin).
pub(crate) fn check_scales(inv_scale: &[f32], n_features: usize) -> Result<(), crate::error::Error> {
    use crate::error::Error;
    if inv_scale.len() < n_features {
        return Err(Error::InvalidParameter {
            name: "adaptive",
            reason: "the adaptive update has no feature scales (a loaded model): call adaptive() with the \
                     training data before training"
                .into(),
        });
    }
    match inv_scale.iter().position(|s| !s.is_finite()) {
        Some(j) => Err(Error::InvalidParameter {
            name: "data",
            reason: format!(
                "feature {j} (counting from 0): its largest |value| is below {:e}, too small for the adaptive update (its scale's \
                 inverse overflows f32); rescale the feature",
                1.0 / f32::MAX
            ),
        }),
        None => Ok(()),
    }
}

/// The accumulator's floor under the square root: a coordinate whose
/// gradients have all been 0 takes a finite step (in normalised units,
/// where gradients are O(1) at the start of training).
const FLOOR: f32 = 1e-6;

/// The L2 shrink in closed form: `w / (1 + a)` for strength `a ≥ 0` — never
/// a sign flip, never growth, for any `a` (the proximal step of
/// `a/2 · w²`).
///
/// ```
/// use wildsgd::model::shrink;
///
/// assert_eq!(shrink(2.0, 0.0), 2.0);
/// assert_eq!(shrink(2.0, 1.0), 1.0);
/// assert!(shrink(-3.0, 1e6) < 0.0 && shrink(-3.0, 1e6) > -1e-5); // shrinks, keeps its sign
/// ```
#[inline]
pub fn shrink(w: f32, a: f32) -> f32 {
    w / (1.0 + a)
}

/// One coordinate's adaptive step through `w`: the weight in slot `k`, its
/// accumulator in slot `k + 1`. `grad` is the loss's gradient for the
/// coordinate (`g · x_j`), `inv_scale` is `1/s_j`, and `l2` the lazy L2
/// strength for it (`λ n/df_j`, 0 for none).
#[inline]
pub(crate) fn step<W: WeightsMut + ?Sized>(w: &mut W, k: usize, grad: f32, inv_scale: f32, lr: f32, l2: f32) {
    let wk = w.read(k);
    let gn = grad * inv_scale;
    let sq = gn * gn;
    let acc = w.read(k + 1) + sq;
    if sq != 0.0 {
        w.add(k + 1, sq);
    }
    // The step is w − r·ĝ with r = lr/(s_j √G_j), then the shrink by
    // 1 + r·l2/s_j; written over the common denominator √G_j, so one
    // division per coordinate instead of two (each waits ~13 cycles).
    let root = acc.sqrt().max(FLOOR);
    let c = lr * inv_scale;
    let new = if l2 == 0.0 {
        wk - c * gn / root
    } else {
        (wk * root - c * gn) / (root + c * inv_scale * l2)
    };
    w.add_read(k, wk, new - wk);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrink_never_flips_or_grows() {
        let mut a = 1e-3f32;
        while a <= 1e3 {
            for w in [-5.0f32, -1e-3, 0.0, 1e-3, 5.0] {
                let s = shrink(w, a);
                assert!(s.abs() <= w.abs(), "a={a} w={w}: {s}");
                assert!(s == 0.0 || s.signum() == w.signum(), "a={a} w={w}: {s}");
                // First order in a: the gradient step.
                if a <= 1e-2 {
                    assert!(
                        (s - (w - a * w)).abs() <= 2.0 * a * a * w.abs() + 1e-7,
                        "a={a} w={w}: {s}"
                    );
                }
            }
            a *= 1.5;
        }
    }

    #[test]
    fn first_step_moves_the_normalised_weight_by_lr() {
        // AdaGrad's first step has size lr in normalised units, whatever the gradient's size.
        for (grad, scale) in [(0.5f32, 1.0f32), (1e-3, 1.0), (40.0, 1000.0), (0.2, 1e-3)] {
            let mut w = vec![0.0f32, 0.0];
            step(&mut w, 0, grad, 1.0 / scale, 0.1, 0.0);
            assert!(
                (w[0] * scale + 0.1).abs() < 1e-5,
                "grad {grad} scale {scale}: {}",
                w[0] * scale
            );
            assert!((w[1] - (grad / scale).powi(2)).abs() <= 1e-6 * w[1].max(1.0));
        }
    }

    #[test]
    fn a_zero_gradient_with_l2_only_shrinks() {
        let mut w = vec![2.0f32, 4.0];
        step(&mut w, 0, 0.0, 1.0, 0.1, 10.0);
        assert!(w[0] > 0.0 && w[0] < 2.0, "{}", w[0]);
        assert_eq!(w[1], 4.0, "no gradient, no accumulation");
    }
}
