//! Helpers for the loom model checks of `wildsgd`, which live in `tests/`
//! (see `README.md` in this directory: "What the loom suite proves").
//!
//! Everything here is compiled only with `RUSTFLAGS="--cfg loom"`; in a
//! normal build this crate is empty, so `cargo test --workspace` neither
//! builds loom nor runs the models.

#![cfg(loom)]

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The preemption bound used when `LOOM_MAX_PREEMPTIONS` is not set (the
/// suite's command sets it to the same value; see `README.md` for why 3).
pub const DEFAULT_PREEMPTIONS: usize = 3;

/// Runs `body` under `loom::model` (via a [`loom::model::Builder`] that reads
/// the usual `LOOM_*` variables, with a preemption bound of
/// [`DEFAULT_PREEMPTIONS`] when none is set), and returns the number of
/// interleavings (loom iterations) explored. Prints that count, so
/// `cargo test -- --nocapture` shows the size of each model.
///
/// Asserts that loom explored more than one interleaving: a model with a
/// single execution would prove nothing about concurrency.
pub fn explore<F>(name: &str, body: F) -> usize
where
    F: Fn() + Sync + Send + 'static,
{
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(DEFAULT_PREEMPTIONS);
    }
    let bound = builder.preemption_bound;
    let iterations = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&iterations);
    let start = Instant::now();
    builder.check(move || {
        counter.fetch_add(1, Ordering::Relaxed);
        body();
    });
    let n = iterations.load(Ordering::Relaxed);
    println!(
        "loom model {name}: {n} interleavings explored in {:.2?} (preemption bound {bound:?})",
        start.elapsed()
    );
    assert!(n > 1, "{name}: loom explored only {n} interleaving(s)");
    n
}

/// A set of outcomes collected across all of a model's interleavings. It is
/// a std (not loom) mutex living outside the model, so it survives between
/// iterations; record into it only from the model's main thread, after the
/// threads that produced the outcome were joined.
#[derive(Debug)]
pub struct Outcomes<T>(Arc<Mutex<BTreeSet<T>>>);

impl<T> Clone for Outcomes<T> {
    fn clone(&self) -> Self {
        Outcomes(Arc::clone(&self.0))
    }
}

impl<T: Ord + Clone> Default for Outcomes<T> {
    fn default() -> Self {
        Outcomes(Arc::new(Mutex::new(BTreeSet::new())))
    }
}

impl<T: Ord + Clone> Outcomes<T> {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one outcome.
    pub fn insert(&self, outcome: T) {
        self.0.lock().unwrap().insert(outcome);
    }

    /// Every outcome recorded so far.
    pub fn all(&self) -> BTreeSet<T> {
        self.0.lock().unwrap().clone()
    }

    /// Whether some recorded outcome satisfies `pred`.
    pub fn any(&self, pred: impl FnMut(&T) -> bool) -> bool {
        self.0.lock().unwrap().iter().any(pred)
    }
}

/// The exact bit patterns of some weights: outcomes are compared bit for
/// bit (a torn or mis-rounded value must not pass as a near neighbour).
pub fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

/// Back from bit patterns to values, for messages.
pub fn floats(bits: &[u32]) -> Vec<f32> {
    bits.iter().map(|&b| f32::from_bits(b)).collect()
}

/// Learning rate of the two-sample hinge steps in `rows.rs` and `locked.rs`.
pub const LR: f32 = 0.25;
/// What sample 0's step adds to each weight (sample 1's adds [`B`]); all sums
/// are exact in `f32`.
pub const A: f32 = 0.25;
/// What sample 1's step adds to each weight.
pub const B: f32 = 0.125;

/// A hinge-loss model on two features and two samples over both of them:
/// sample 0 has values (1, 1), sample 1 has (0.5, 0.5), both labelled +1.
/// Starting from zero weights the margin a step sees is at most 0.25 < 1, so
/// the hinge is always active and a step adds exactly `LR * value` to each
/// weight: [`A`] for sample 0, [`B`] for sample 1, whatever it read.
pub fn hinge_problem() -> Arc<(wildsgd::Linear, wildsgd::data::CsrDataset)> {
    let mut data = wildsgd::data::CsrDataset::new(2);
    data.push(&[0, 1], &[1.0, 1.0], 1.0).unwrap();
    data.push(&[0, 1], &[0.5, 0.5], 1.0).unwrap();
    Arc::new((wildsgd::Linear::new(wildsgd::Loss::Hinge, 2), data))
}
