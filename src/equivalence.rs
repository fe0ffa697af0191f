//! The sequential-equivalence harness: does a parallel policy converge to the
//! same loss as [`Policy::Sequential`]?
//!
//! Lock-free SGD trades exactness for speed: under [`Policy::Racy`] some
//! updates are lost, under every parallel policy the gradients are computed on
//! slightly stale weights. The claim that this costs nothing worth measuring
//! is an *equivalence* claim, and this module tests it as one.
//!
//! A [`Harness`] trains a model `K` times with `Sequential` (seeds
//! `s, s+1, ..., s+K-1`, `s` being the trainer's seed) and `K` times with a
//! parallel side (a [`Policy`] at some thread count, or any closure, such as a
//! custom [`UpdateRule`] run through
//! [`Job::run_with_rule`](crate::trainer::Job::run_with_rule)). Runs with the
//! same seed share the initial weights and the per-epoch sample orders, so
//! the final losses are compared *paired by seed*:
//!
//! 1. Each final training loss is floored, `max(loss, loss_floor)`, so that a
//!    loss approaching 0 cannot blow a relative gap up.
//! 2. With `d_i = par_i − seq_i` (floored), `d̄` their mean, `s_d` their
//!    standard deviation and `S̄` the floored sequential mean, the relative
//!    gap is `rel_gap = d̄ / S̄ = (par_mean − seq_mean) / seq_mean` (a
//!    fraction: 0.004 means 0.4 %), and its `1 − 2α` confidence interval is
//!    `(d̄ ± t_{1−α, K−1} · s_d / √K) / S̄` (`S̄` is treated as a constant:
//!    its relative error is the losses' coefficient of variation over √K,
//!    orders of magnitude below any useful tolerance).
//! 3. The verdict is [`Verdict::Equivalent`] exactly when that interval lies
//!    inside `±tolerance`: the two one-sided tests (TOST) of
//!    `H0: rel_gap ≤ −tolerance` and `H0: rel_gap ≥ +tolerance` both reject
//!    at level `α`. Otherwise it is [`Verdict::Different`], which means
//!    "equivalence not shown at this tolerance", not "shown to differ".
//!
//! Unlike a difference test (Welch's t-test), whose failure to reject says
//! nothing, this one must gather evidence *for* equivalence, and pairing by
//! seed removes most of the between-seed variance, so `K = 3` seeds suffice
//! when the parallel run really does match.
//!
//! The harness also lines up the mean loss curves of both sides (one point
//! per [`evals_per_epoch`](crate::Trainer::evals_per_epoch) evaluation) and
//! reports from which point on the parallel curve stays within the tolerance
//! ([`Comparison::caught_up`]): *when* it catches up, not only where it ends.
//!
//! ```
//! use wildsgd::equivalence::{Harness, Verdict};
//! use wildsgd::{data::Synthetic, Linear, Loss, Policy, Schedule, Trainer};
//!
//! let train = Synthetic { rows: 4_000, features: 1_000, ..Synthetic::default() }.generate()?;
//! let model = Linear::new(Loss::Logistic, train.n_features()).bias(true).l2(1e-4, &train);
//! // Compare *converged* losses: a schedule that ends with small steps.
//! let trainer = Trainer::new().epochs(6).schedule(Schedule::EpochDecay { initial: 0.5, decay: 0.6 });
//! // A tiny problem is noisy: a loose 2 % margin here (1 % in the test suite, on 20k rows).
//! let mut harness = Harness::new(&trainer, &model, &train).seeds(3).tolerance(0.02);
//! let cmp = harness.policy(Policy::AtomicAdd, 2)?;
//! println!("{cmp}"); // the verdict line and the two loss curves side by side
//! assert_eq!(cmp.verdict, Verdict::Equivalent, "{cmp}");
//! assert!(cmp.rel_gap.abs() < 0.02);
//! # Ok::<(), wildsgd::Error>(())
//! ```
//!
//! A harness that cannot fail proves nothing: [`LaggedRule`] is a deliberately
//! degraded update rule (every update lands `tau` samples late) to check that
//! the harness rejects a trainer that converges a few percent worse.

mod controls;
mod harness;
mod stats;

pub use controls::{LaggedRule, LaggedView, LaggedWorker};
pub use harness::{compare_runs, Comparison, CurvePoint, Harness, Run};
pub use stats::{tost, Test};

use std::fmt;

use serde::Serialize;

use crate::error::Error;
#[allow(unused_imports)] // for the module docs' links
use crate::policy::{Policy, UpdateRule};

/// The outcome of an equivalence test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The confidence interval of the relative gap lies inside ±tolerance.
    Equivalent,
    /// Equivalence is not shown at this tolerance and level (the interval
    /// reaches beyond ±tolerance).
    Different,
}

impl Verdict {
    /// `"equivalent"` or `"different"`, as in JSON reports.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Equivalent => "equivalent",
            Verdict::Different => "different",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The test's settings. The defaults: 3 seeds, tolerance 0.01 (1 %),
/// α = 0.05 (a 90 % interval), loss floor 0.05.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Settings {
    /// Seeds per side, `K >= 2`.
    pub seeds: usize,
    /// The equivalence margin on the relative gap, as a fraction (0.01 = 1 %).
    pub tolerance: f64,
    /// The level of each one-sided test; the interval has coverage `1 − 2α`.
    pub alpha: f64,
    /// Losses below this are raised to it before any ratio is taken.
    pub loss_floor: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            seeds: 3,
            tolerance: 0.01,
            alpha: 0.05,
            loss_floor: 0.05,
        }
    }
}

impl Settings {
    /// Checks every field's range.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |name, reason: String| Err(Error::InvalidParameter { name, reason });
        if self.seeds < 2 {
            return bad("seeds", format!("at least 2 are needed for a test, got {}", self.seeds));
        }
        if !(self.tolerance.is_finite() && self.tolerance > 0.0) {
            return bad("tolerance", format!("must be finite and > 0, got {}", self.tolerance));
        }
        if !(self.alpha > 0.0 && self.alpha < 0.5) {
            return bad("alpha", format!("must be in (0, 0.5), got {}", self.alpha));
        }
        if !(self.loss_floor.is_finite() && self.loss_floor >= 0.0) {
            return bad(
                "loss_floor",
                format!("must be finite and >= 0, got {}", self.loss_floor),
            );
        }
        Ok(())
    }
}
