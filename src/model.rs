//! The [`Model`] trait users implement, the weight views a model reads and
//! writes through, and the built-in models.
//!
//! A model never touches the [`WeightStore`](crate::WeightStore) directly: its
//! [`step`](Model::step) receives a view implementing [`WeightsMut`], and the
//! trainer's [`Policy`](crate::Policy) decides what `add` does (a racy
//! load+store, a `fetch_add`, a write under a lock, ...). The view's type is a
//! generic parameter, so each (model, policy) pair is monomorphised into a
//! tight loop with no dynamic dispatch per weight.
//!
//! # Builders
//!
//! The built-in models and the [`Trainer`](crate::Trainer) share one style:
//! a method `x(value)` sets `x` and returns the builder, and `get_x()` reads
//! it back (as `std::process::Command` does); sizes fixed at construction
//! are plain nouns (`n_features`, `n_classes`, `rank`, `n_items`). No builder
//! panics on a value it cannot use: [`Model::validate`], which the trainer
//! runs before any step, reports it as
//! `Error::InvalidParameter` naming it.

mod adaptive;
mod linear;
mod mf;
pub mod persist;
mod sgns;
mod softmax;

pub(crate) use adaptive::norm_sum as adaptive_norm_sum;
pub use adaptive::{shrink, Update};
pub use linear::{Linear, Loss};
pub use mf::MatrixFactorization;
pub use persist::Persist;
pub use sgns::{auc, corrupt_targets, Sgns, UnigramTable, MAX_DIM, UNIGRAM_POWER};
pub use softmax::{cross_entropy, softmax_in_place, Confusion, Softmax, SyntheticClasses, MAX_CLASSES};

use crate::data::Dataset;
use crate::error::Error;

/// Read access to weights, as a model sees them.
pub trait Weights {
    /// The current value of weight `j`.
    fn read(&self, j: usize) -> f32;
}

/// Read and update access to weights, as a model's [`step`](Model::step) sees
/// them. How an `add` lands in the shared store is the policy's business.
pub trait WeightsMut: Weights {
    /// Adds `delta` to weight `j`.
    fn add(&mut self, j: usize, delta: f32);

    /// Adds `delta` to weight `j`, whose value the step has just
    /// [`read`](Weights::read) as `current` (an L2 shrink reads the weight it
    /// changes). The default is [`add`](Self::add); the racy view stores
    /// `current + delta` instead of reading the weight a second time — the
    /// same race as its `add` (a write landing between its read and its
    /// store is lost), one load fewer per nonzero.
    #[inline]
    fn add_read(&mut self, j: usize, current: f32, delta: f32) {
        let _ = current;
        self.add(j, delta);
    }
}

impl Weights for [f32] {
    #[inline]
    fn read(&self, j: usize) -> f32 {
        self[j]
    }
}

impl WeightsMut for [f32] {
    #[inline]
    fn add(&mut self, j: usize, delta: f32) {
        self[j] += delta;
    }
}

impl Weights for Vec<f32> {
    #[inline]
    fn read(&self, j: usize) -> f32 {
        self[j]
    }
}

impl WeightsMut for Vec<f32> {
    #[inline]
    fn add(&mut self, j: usize, delta: f32) {
        self[j] += delta;
    }
}

impl Weights for crate::store::WeightStore {
    #[inline]
    fn read(&self, j: usize) -> f32 {
        self.get(j)
    }
}

/// Where in training a [`Model::step`] or [`Model::loss`] happens: what the
/// trainer already knows about the sample in hand, handed to the model so it
/// needs no state of its own to vary per epoch or per sample.
///
/// ```
/// use wildsgd::model::Step;
///
/// let at = Step { lr: 0.1, epoch: 2, index: 7 };
/// assert_eq!(Step::new(0.1), Step { lr: 0.1, epoch: 0, index: 0 });
/// assert_eq!(at.lr, 0.1);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Step {
    /// The learning rate for this sample (0 when a loss is evaluated).
    pub lr: f32,
    /// The epoch, from 0.
    pub epoch: usize,
    /// The sample's row in the dataset the caller handed the trainer — the
    /// original row even when the trainer reads a once-shuffled copy
    /// ([`Order`](crate::schedule::Order)), so draws keyed on it (SGNS's
    /// negatives) follow the row, not where the shuffle put it.
    pub index: usize,
}

impl Step {
    /// Learning rate `lr`, epoch 0, row 0: for calling a model by hand.
    pub const fn new(lr: f32) -> Step {
        Step { lr, epoch: 0, index: 0 }
    }
}

/// `Err(InvalidParameter)` naming `name` unless `ok`: how built-in models
/// report a builder value that cannot be used, from [`Model::validate`].
pub(crate) fn check_parameter(name: &'static str, ok: bool, reason: impl FnOnce() -> String) -> Result<(), Error> {
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidParameter { name, reason: reason() })
    }
}

/// `Err(FeatureOutOfRange)` naming the first row of `data` with a feature
/// at or past `dim`: how the sparse models check data wider than they are
/// (rows may still fit; each is checked so the error names the row).
pub(crate) fn check_features(data: &crate::data::CsrDataset, dim: usize) -> Result<(), Error> {
    if data.n_features() > dim {
        for i in 0..data.len() {
            if let Some(&j) = data.row(i).indices.iter().find(|&&j| j as usize >= dim) {
                return Err(Error::FeatureOutOfRange {
                    row: i,
                    index: j as usize,
                    dim,
                });
            }
        }
    }
    Ok(())
}

/// The sample type a model trains on: its dataset's [`Dataset::Sample`].
pub type SampleOf<'a, M> = <<M as Model>::Data as Dataset>::Sample<'a>;

/// A model trained by SGD, one sample at a time.
///
/// A model says which dataset type it trains on (and so its sample type), how
/// many weights it has and how they start, its loss on one sample, and one SGD
/// step on one sample. A step reads and updates weights only through the view
/// it is given, and touches only the weights its sample needs.
///
/// # Example: a user-defined model
///
/// Least squares on dense 2-feature points, written outside the crate:
///
/// ```
/// use wildsgd::{Model, Step, Weights, WeightsMut, Trainer, Policy, Schedule};
///
/// struct Line;
///
/// impl Model for Line {
///     type Data = Vec<([f32; 2], f32)>;
///     fn n_weights(&self) -> usize { 2 }
///     fn loss<W: Weights + ?Sized>(&self, w: &W, s: &([f32; 2], f32), _: Step) -> f64 {
///         let (x, y) = s;
///         let e = w.read(0) * x[0] + w.read(1) * x[1] - y;
///         0.5 * f64::from(e * e)
///     }
///     fn step<W: WeightsMut + ?Sized>(&self, w: &mut W, s: &([f32; 2], f32), at: Step) {
///         let (x, y, lr) = (s.0, s.1, at.lr);
///         let e = w.read(0) * x[0] + w.read(1) * x[1] - y;
///         w.add(0, -lr * e * x[0]);
///         w.add(1, -lr * e * x[1]);
///     }
/// }
///
/// let data: Vec<([f32; 2], f32)> =
///     (0..1000).map(|i| { let t = i as f32 / 1000.0; ([t, 1.0], 3.0 * t - 1.0) }).collect();
/// let trained = Trainer::new()
///     .threads(2)
///     .epochs(20)
///     .policy(Policy::Racy)
///     .schedule(Schedule::Constant(0.1))
///     .fit(&Line, &data)
///     .unwrap();
/// assert!((trained.weights[0] - 3.0).abs() < 0.1);
/// assert!((trained.weights[1] + 1.0).abs() < 0.1);
/// ```
pub trait Model: Sync {
    /// The dataset type the model trains on; its
    /// [`Sample`](Dataset::Sample) is the model's sample type.
    type Data: Dataset + ?Sized;

    /// The number of weights.
    fn n_weights(&self) -> usize;

    /// Writes the initial weights into `weights` (length [`n_weights`](Self::n_weights)),
    /// using `seed` for any randomness. The default is all zeros.
    fn init(&self, weights: &mut [f32], seed: u64) {
        let _ = seed;
        weights.fill(0.0);
    }

    /// Checks that `data` fits the model (indices within [`n_weights`](Self::n_weights),
    /// finite values, valid labels) before any training starts.
    fn validate(&self, data: &Self::Data) -> Result<(), Error> {
        let _ = data;
        Ok(())
    }

    /// The loss on one sample at `at` (without any regulariser; see
    /// [`penalty`](Self::penalty)). `at` says which epoch and row the sample
    /// is, for models whose loss draws from them (SGNS's negatives).
    fn loss<W: Weights + ?Sized>(&self, w: &W, sample: SampleOf<'_, Self>, at: Step) -> f64;

    /// One SGD step on `sample` with learning rate `at.lr`, applied through
    /// `w`.
    fn step<W: WeightsMut + ?Sized>(&self, w: &mut W, sample: SampleOf<'_, Self>, at: Step);

    /// A regularisation term added once to the mean loss to form the training
    /// objective (e.g. `λ/2 ‖w‖²`). Default: none.
    fn penalty<W: Weights + ?Sized>(&self, w: &W) -> f64 {
        let _ = w;
        0.0
    }

    /// Whether the model's prediction on `sample` is correct, for models that
    /// classify; `None` (the default) where accuracy means nothing.
    fn correct<W: Weights + ?Sized>(&self, w: &W, sample: SampleOf<'_, Self>) -> Option<bool> {
        let _ = (w, sample);
        None
    }

    /// Calls `ahead` with each run of weights that [`step`](Self::step)
    /// on `sample` at `at` will touch and that is worth asking memory for
    /// early: the trainer calls it a few samples before the step (a
    /// software prefetch; it never changes what is computed). Matrix
    /// factorisation names its two factor rows, SGNS its input row and its
    /// output rows. The default names none: a model whose weights stay in
    /// cache gains nothing.
    ///
    /// ```
    /// use wildsgd::{data::Rating, MatrixFactorization, Model, Step};
    ///
    /// let mf = MatrixFactorization::new(3, 4, 2)?;
    /// let mut runs = Vec::new();
    /// mf.prefetch_rows(Rating { user: 1, item: 2, value: 4.0 }, Step::new(0.1), |r| runs.push(r));
    /// assert_eq!(runs.len(), 2); // the user's row and the item's row
    /// assert!(runs.iter().all(|r| r.len() == 3)); // bias + rank 2
    /// # Ok::<(), wildsgd::Error>(())
    /// ```
    fn prefetch_rows<F: FnMut(std::ops::Range<usize>)>(&self, sample: SampleOf<'_, Self>, at: Step, ahead: F) {
        let _ = (sample, at, ahead);
    }
}
