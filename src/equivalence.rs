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
//! A harness that cannot fail proves nothing: [`Delayed`] is a deliberately
//! degraded update rule (every update lands `tau` samples late) to check that
//! the harness rejects a trainer that converges a few percent worse.

use std::collections::VecDeque;
use std::fmt;

use serde::Serialize;

use crate::data::Dataset;
use crate::error::Error;
use crate::mesh::Mesh;
use crate::model::{Model, Weights, WeightsMut};
use crate::policy::{Policy, UpdateRule, Worker};
use crate::store::WeightStore;
use crate::sync::{AtomicF32, Ordering::Relaxed};
use crate::trainer::{TracePoint, Trained, Trainer};

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

/// The paired test on two lists of final losses; see [`tost`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Test {
    /// `(par_mean − seq_mean) / seq_mean` on floored losses, a fraction.
    pub rel_gap: f64,
    /// Lower end of the `1 − 2α` confidence interval of `rel_gap`.
    pub ci_low: f64,
    /// Upper end of the `1 − 2α` confidence interval of `rel_gap`.
    pub ci_high: f64,
    /// The TOST p-value: the larger of the two one-sided p-values (`< α`
    /// exactly when the verdict is `Equivalent`, up to ties).
    pub p_value: f64,
    /// Whether the interval lies inside ±tolerance.
    pub verdict: Verdict,
}

/// The paired two one-sided tests (TOST) of `|rel_gap| < tolerance`, on the
/// final losses of runs paired by position (`seq[i]` and `par[i]` used the
/// same seed). See the [module docs](self) for the statistics.
///
/// ```
/// use wildsgd::equivalence::{tost, Verdict};
///
/// let seq = [0.300, 0.302, 0.299];
/// let close = [0.301, 0.302, 0.300]; // +0.2 %, consistently
/// assert_eq!(tost(&seq, &close, 0.01, 0.05, 0.05).unwrap().verdict, Verdict::Equivalent);
/// let worse = [0.308, 0.309, 0.306]; // +2.4 %
/// let t = tost(&seq, &worse, 0.01, 0.05, 0.05).unwrap();
/// assert_eq!(t.verdict, Verdict::Different);
/// assert!((t.rel_gap - 0.0244).abs() < 1e-3);
/// ```
pub fn tost(seq: &[f64], par: &[f64], tolerance: f64, alpha: f64, loss_floor: f64) -> Result<Test, Error> {
    if seq.len() != par.len() {
        return Err(Error::LengthMismatch {
            what: "paired losses",
            expected: seq.len(),
            found: par.len(),
        });
    }
    Settings {
        seeds: seq.len(),
        tolerance,
        alpha,
        loss_floor,
    }
    .validate()?;
    if let Some(l) = seq.iter().chain(par).find(|l| !l.is_finite()) {
        return Err(Error::InvalidParameter {
            name: "losses",
            reason: format!("a loss is {l}"),
        });
    }
    let k = seq.len();
    let floor = |l: f64| l.max(loss_floor);
    let diffs: Vec<f64> = seq.iter().zip(par).map(|(&s, &p)| floor(p) - floor(s)).collect();
    let base = mean(seq.iter().map(|&s| floor(s)));
    if base <= 0.0 {
        return Err(Error::InvalidParameter {
            name: "losses",
            reason: "the sequential mean is 0 and the loss floor is 0: no relative gap exists".into(),
        });
    }
    let (d, sd) = (mean(diffs.iter().copied()), sd(&diffs));
    let df = (k - 1) as f64;
    let se = sd / (k as f64).sqrt();
    let half = t_quantile(1.0 - alpha, df) * se;
    let margin = tolerance * base;
    let p_value = if se > 0.0 {
        let p_low = 1.0 - t_cdf((d + margin) / se, df); // H0: d <= -margin
        let p_high = t_cdf((d - margin) / se, df); // H0: d >= +margin
        p_low.max(p_high)
    } else if d.abs() < margin {
        0.0
    } else {
        1.0
    };
    let (ci_low, ci_high) = ((d - half) / base, (d + half) / base);
    let verdict = if ci_low > -tolerance && ci_high < tolerance {
        Verdict::Equivalent
    } else {
        Verdict::Different
    };
    Ok(Test {
        rel_gap: d / base,
        ci_low,
        ci_high,
        p_value,
        verdict,
    })
}

/// One training run's outcome, as the harness keeps it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Run {
    /// The trainer seed (initial weights and sample orders).
    pub seed: u64,
    /// The final training objective ([`Report::final_loss`](crate::trainer::Report::final_loss)).
    pub final_loss: f64,
    /// The loss curve: the objective at each evaluation point
    /// ([`Report::trace`](crate::trainer::Report::trace)).
    pub curve: Vec<TracePoint>,
    /// Update seconds (evaluation excluded).
    pub update_seconds: f64,
}

/// A point of the side-by-side loss curves: mean over seeds of each side.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct CurvePoint {
    /// The epoch the point falls in (from 0).
    pub epoch: usize,
    /// Samples processed since training began.
    pub samples: u64,
    /// Mean sequential objective at this point.
    pub seq_mean: f64,
    /// Mean parallel objective at this point.
    pub par_mean: f64,
    /// The relative gap at this point, on floored means.
    pub rel_gap: f64,
}

/// A parallel side compared with `Sequential`: the runs, the summary
/// statistics, the verdict and the side-by-side loss curves.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    /// The parallel side's name (the policy's, or the one given to
    /// [`Harness::custom`]).
    pub policy: String,
    /// The parallel side's thread count.
    pub threads: usize,
    /// Seeds per side.
    pub seeds: usize,
    /// The equivalence margin (a fraction).
    pub tolerance: f64,
    /// The level of each one-sided test.
    pub alpha: f64,
    /// The loss floor.
    pub loss_floor: f64,
    /// Mean final loss of the sequential runs.
    pub seq_mean: f64,
    /// Standard deviation of the sequential final losses.
    pub seq_sd: f64,
    /// Mean final loss of the parallel runs.
    pub par_mean: f64,
    /// Standard deviation of the parallel final losses.
    pub par_sd: f64,
    /// `(par_mean − seq_mean) / seq_mean` on floored losses, a fraction.
    pub rel_gap: f64,
    /// Lower end of the `1 − 2α` interval of `rel_gap`.
    pub ci_low: f64,
    /// Upper end of the `1 − 2α` interval of `rel_gap`.
    pub ci_high: f64,
    /// The TOST p-value.
    pub p_value: f64,
    /// Equivalent or not, at `tolerance` and `alpha`.
    pub verdict: Verdict,
    /// Samples processed when the mean parallel curve came within
    /// ±tolerance of the sequential one for good (it stays within from there
    /// to the end); `None` if the last point is outside.
    pub caught_up: Option<u64>,
    /// The mean loss curves side by side.
    pub curve: Vec<CurvePoint>,
    /// The sequential runs, in seed order.
    pub seq_runs: Vec<Run>,
    /// The parallel runs, in seed order.
    pub par_runs: Vec<Run>,
}

impl Comparison {
    /// Mean update seconds per parallel run over mean seconds per sequential
    /// run (below 1: faster than sequential).
    pub fn time_ratio(&self) -> f64 {
        let secs = |runs: &[Run]| mean(runs.iter().map(|r| r.update_seconds));
        secs(&self.par_runs) / secs(&self.seq_runs)
    }

    /// The epoch (from 0) of the [`caught_up`](Self::caught_up) point.
    pub fn caught_up_epoch(&self) -> Option<usize> {
        let at = self.caught_up?;
        self.curve.iter().find(|p| p.samples == at).map(|p| p.epoch)
    }
}

fn pct(x: f64) -> String {
    format!("{:+.2}%", 100.0 * x)
}

impl fmt::Display for Comparison {
    /// A verdict line, then the mean loss curves side by side.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} x{} vs sequential, {} seeds: {:.5} ± {:.5} vs {:.5} ± {:.5}, gap {} ({:.0}% CI [{}, {}]), \
             tolerance ±{:.2}%: {} (TOST p = {:.3})",
            self.policy,
            self.threads,
            self.seeds,
            self.seq_mean,
            self.seq_sd,
            self.par_mean,
            self.par_sd,
            pct(self.rel_gap),
            100.0 * (1.0 - 2.0 * self.alpha),
            pct(self.ci_low),
            pct(self.ci_high),
            100.0 * self.tolerance,
            self.verdict,
            self.p_value,
        )?;
        writeln!(
            f,
            "{:>5} {:>10} {:>11} {:>11} {:>8}",
            "epoch", "samples", "sequential", self.policy, "gap"
        )?;
        for p in &self.curve {
            let mark = if Some(p.samples) == self.caught_up {
                "  <- within tolerance from here"
            } else {
                ""
            };
            writeln!(
                f,
                "{:>5} {:>10} {:>11.5} {:>11.5} {:>8}{mark}",
                p.epoch,
                p.samples,
                p.seq_mean,
                p.par_mean,
                pct(p.rel_gap)
            )?;
        }
        Ok(())
    }
}

/// Runs the sequential side once (cached) and compares parallel sides with
/// it. See the [module docs](self).
///
/// The trainer given to [`new`](Self::new) supplies everything but the
/// policy, thread count and seed (epochs, schedule, averaging, evaluation
/// settings); its seed is the first of the `K` consecutive seeds.
pub struct Harness<'a, M: Model> {
    trainer: Trainer,
    model: &'a M,
    train: &'a M::Data,
    settings: Settings,
    sequential: Option<Vec<Run>>,
}

/// A clone keeps the cached sequential runs: clones compare against the same
/// runs without training them again (the sequential side is deterministic).
impl<M: Model> Clone for Harness<'_, M> {
    fn clone(&self) -> Self {
        Harness {
            trainer: self.trainer.clone(),
            model: self.model,
            train: self.train,
            settings: self.settings,
            sequential: self.sequential.clone(),
        }
    }
}

impl<'a, M: Model> Harness<'a, M> {
    /// A harness for `model` on `train`, with [`Settings::default`].
    pub fn new(trainer: &Trainer, model: &'a M, train: &'a M::Data) -> Self {
        Harness {
            trainer: trainer.clone(),
            model,
            train,
            settings: Settings::default(),
            sequential: None,
        }
    }

    /// Seeds per side (`K >= 2`; default 3).
    pub fn seeds(mut self, k: usize) -> Self {
        self.settings.seeds = k;
        self.sequential = None;
        self
    }

    /// The equivalence margin on the relative gap, a fraction (default 0.01).
    pub fn tolerance(mut self, tolerance: f64) -> Self {
        self.settings.tolerance = tolerance;
        self
    }

    /// The level of each one-sided test (default 0.05).
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.settings.alpha = alpha;
        self
    }

    /// The loss floor (default 0.05).
    pub fn loss_floor(mut self, floor: f64) -> Self {
        self.settings.loss_floor = floor;
        self
    }

    /// All settings at once.
    pub fn settings(mut self, settings: Settings) -> Self {
        if settings.seeds != self.settings.seeds {
            self.sequential = None;
        }
        self.settings = settings;
        self
    }

    /// The current settings.
    pub fn get_settings(&self) -> Settings {
        self.settings
    }

    /// The seeds used, in order.
    pub fn seed_list(&self) -> Vec<u64> {
        let base = self.trainer.get_seed();
        (0..self.settings.seeds as u64).map(|i| base.wrapping_add(i)).collect()
    }

    /// The sequential runs (trained on first use, then cached).
    pub fn sequential(&mut self) -> Result<&[Run], Error> {
        self.settings.validate()?;
        if self.sequential.is_none() {
            let seq = self.trainer.clone().policy(Policy::Sequential);
            let runs = self
                .seed_list()
                .into_iter()
                .map(|s| run(s, seq.clone().seed(s).fit(self.model, self.train)))
                .collect::<Result<Vec<_>, _>>()?;
            self.sequential = Some(runs);
        }
        Ok(self.sequential.as_deref().expect("just filled"))
    }

    /// Compares `policy` on `threads` threads with `Sequential`.
    pub fn policy(&mut self, policy: Policy, threads: usize) -> Result<Comparison, Error> {
        let trainer = self.trainer.clone().policy(policy).threads(threads);
        let threads = trainer.thread_count();
        let (model, train) = (self.model, self.train);
        self.compare(&policy.to_string(), threads, |seed| {
            trainer.clone().seed(seed).fit(model, train)
        })
    }

    /// Compares any parallel side with `Sequential`. `run` trains once with
    /// the trainer it is handed: the harness's trainer with
    /// [`Policy::Racy`], `threads` threads and the seed of the pair (so a
    /// custom rule runs on `threads` threads through
    /// [`Job::run_with_rule`](crate::trainer::Job::run_with_rule)). `name`
    /// and `threads` label the comparison.
    ///
    /// ```
    /// use wildsgd::equivalence::{Delayed, Harness, Verdict};
    /// use wildsgd::{data::Synthetic, Linear, Loss, Trainer};
    ///
    /// let train = Synthetic { rows: 3_000, features: 800, ..Synthetic::default() }.generate()?;
    /// let model = Linear::new(Loss::Logistic, train.n_features()).bias(true);
    /// let trainer = Trainer::new().epochs(3);
    /// let mut harness = Harness::new(&trainer, &model, &train);
    /// // Updates applied 200 samples late, on one thread: a trainer that is worse on purpose.
    /// let cmp = harness.custom("delayed", 1, |t| t.job(&model, &train).run_with_rule(Delayed::new(200), "delayed"))?;
    /// assert_eq!(cmp.verdict, Verdict::Different, "{cmp}");
    /// # Ok::<(), wildsgd::Error>(())
    /// ```
    pub fn custom(
        &mut self,
        name: &str,
        threads: usize,
        mut run: impl FnMut(&Trainer) -> Result<Trained, Error>,
    ) -> Result<Comparison, Error> {
        let trainer = self.trainer.clone().policy(Policy::Racy).threads(threads);
        self.compare(name, threads, |seed| run(&trainer.clone().seed(seed)))
    }

    /// Compares with `Sequential` a side given as a function from the seed
    /// to a finished run.
    pub fn compare(
        &mut self,
        name: &str,
        threads: usize,
        mut run_seed: impl FnMut(u64) -> Result<Trained, Error>,
    ) -> Result<Comparison, Error> {
        let seeds = self.seed_list();
        self.sequential()?;
        let par = seeds
            .into_iter()
            .map(|s| run(s, run_seed(s)))
            .collect::<Result<Vec<_>, _>>()?;
        let seq = self.sequential.clone().expect("filled by sequential()");
        compare_runs(name, threads, self.settings, seq, par)
    }

    /// Compares this harness's model trained as the cortex `name` of `mesh`
    /// (on the mesh's `data`, with the harness's seeds) against training it
    /// alone with `Sequential` on the harness's data (its domain). The mesh's
    /// other cortices train alongside, as in real use.
    pub fn mesh<D: Dataset + ?Sized>(&mut self, mesh: &Mesh<'_, D>, data: &D, name: &str) -> Result<Comparison, Error> {
        let missing = || Error::InvalidParameter {
            name: "cortex",
            reason: format!("the mesh has no cortex called {name:?}"),
        };
        self.compare(&format!("mesh:{name}"), mesh.thread_count(), |seed| {
            mesh.fit_seeded(data, seed)?.trained(name).ok_or_else(missing)
        })
    }
}

/// Builds a [`Comparison`] from finished runs, paired by position (the
/// statistics of [`Harness`] for runs trained elsewhere).
pub fn compare_runs(
    name: &str,
    threads: usize,
    settings: Settings,
    seq_runs: Vec<Run>,
    par_runs: Vec<Run>,
) -> Result<Comparison, Error> {
    settings.validate()?;
    if seq_runs.len() != settings.seeds {
        return Err(Error::LengthMismatch {
            what: "sequential runs",
            expected: settings.seeds,
            found: seq_runs.len(),
        });
    }
    let seq: Vec<f64> = seq_runs.iter().map(|r| r.final_loss).collect();
    let par: Vec<f64> = par_runs.iter().map(|r| r.final_loss).collect();
    let test = tost(&seq, &par, settings.tolerance, settings.alpha, settings.loss_floor)?;

    let points = seq_runs
        .iter()
        .chain(&par_runs)
        .map(|r| r.curve.len())
        .min()
        .unwrap_or(0);
    let floor = |l: f64| l.max(settings.loss_floor);
    let curve_mean = |runs: &[Run], i: usize| mean(runs.iter().map(|r| r.curve[i].loss));
    let curve: Vec<CurvePoint> = (0..points)
        .map(|i| {
            let (s, p) = (curve_mean(&seq_runs, i), curve_mean(&par_runs, i));
            CurvePoint {
                epoch: seq_runs[0].curve[i].epoch,
                samples: seq_runs[0].curve[i].samples,
                seq_mean: s,
                par_mean: p,
                rel_gap: (floor(p) - floor(s)) / floor(s),
            }
        })
        .collect();
    let caught_up = match curve.iter().rposition(|p| p.rel_gap.abs() > settings.tolerance) {
        None => curve.first().map(|p| p.samples),
        Some(i) => curve.get(i + 1).map(|p| p.samples),
    };
    Ok(Comparison {
        policy: name.to_string(),
        threads,
        seeds: settings.seeds,
        tolerance: settings.tolerance,
        alpha: settings.alpha,
        loss_floor: settings.loss_floor,
        seq_mean: mean(seq.iter().copied()),
        seq_sd: sd(&seq),
        par_mean: mean(par.iter().copied()),
        par_sd: sd(&par),
        rel_gap: test.rel_gap,
        ci_low: test.ci_low,
        ci_high: test.ci_high,
        p_value: test.p_value,
        verdict: test.verdict,
        caught_up,
        curve,
        seq_runs,
        par_runs,
    })
}

fn run(seed: u64, trained: Result<Trained, Error>) -> Result<Run, Error> {
    let trained = trained?;
    if let crate::trainer::Outcome::Diverged { epoch, reason } = trained.outcome {
        return Err(Error::Diverged { epoch, reason });
    }
    let report = trained.report;
    let final_loss = report.final_loss().ok_or(Error::InvalidParameter {
        name: "run",
        reason: "the run finished no epoch".into(),
    })?;
    Ok(Run {
        seed,
        final_loss,
        curve: report.trace.clone(),
        update_seconds: report.update_seconds(),
    })
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for x in xs {
        sum += x;
        n += 1;
    }
    sum / n as f64
}

/// The sample standard deviation (`n − 1` in the denominator; 0 for fewer
/// than two values).
fn sd(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    let m = mean(xs.iter().copied());
    (xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (xs.len() - 1) as f64).sqrt()
}

/// `ln Γ(x)` for `x > 0` (Lanczos, g = 7, 9 terms; ~1e-15 relative).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, &c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularised incomplete beta function `I_x(a, b)` (continued fraction,
/// modified Lentz).
fn inc_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front = (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    if x > (a + 1.0) / (a + b + 2.0) {
        return 1.0 - inc_beta(1.0 - x, b, a);
    }
    const TINY: f64 = 1e-300;
    let (mut c, mut d) = (1.0, 1.0 - (a + b) * x / (a + 1.0));
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..300 {
        let m = f64::from(m);
        for num in [
            m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0)),
        ] {
            d = 1.0 + num * d;
            if d.abs() < TINY {
                d = TINY;
            }
            c = 1.0 + num / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            h *= d * c;
        }
        if (d * c - 1.0).abs() < 1e-15 {
            break;
        }
    }
    front * h / a
}

/// The CDF of Student's t with `df` degrees of freedom.
fn t_cdf(t: f64, df: f64) -> f64 {
    let tail = 0.5 * inc_beta(df / (df + t * t), 0.5 * df, 0.5);
    if t > 0.0 {
        1.0 - tail
    } else {
        tail
    }
}

/// The `p` quantile of Student's t with `df` degrees of freedom (bisection).
fn t_quantile(p: f64, df: f64) -> f64 {
    let (mut lo, mut hi) = (-1e7, 1e7);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if t_cdf(mid, df) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// A deliberately degraded update rule, for negative controls: each worker
/// reads the current shared weights but applies every sample's update `tau`
/// samples late (its own later samples, so on one thread the run is
/// deterministic). Adds land as under [`Policy::Racy`].
///
/// With staleness this large the iterates lag and overshoot, and the run
/// converges measurably above `Sequential`; an equivalence harness must
/// reject it. Each worker allocates its delay buffer once.
///
/// ```
/// use wildsgd::equivalence::Delayed;
/// use wildsgd::{data::Synthetic, Linear, Loss, Policy, Trainer};
///
/// let train = Synthetic { rows: 2_000, features: 500, ..Synthetic::default() }.generate()?;
/// let model = Linear::new(Loss::Logistic, train.n_features()).bias(true);
/// let trainer = Trainer::new().epochs(2).policy(Policy::Sequential);
/// let late = trainer.job(&model, &train).run_with_rule(Delayed::new(0), "delayed")?;
/// assert_eq!(late.weights, trainer.fit(&model, &train)?.weights); // tau = 0: no delay
/// # Ok::<(), wildsgd::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Delayed {
    /// How many samples late each update lands.
    pub tau: usize,
}

impl Delayed {
    /// Updates land `tau` samples late.
    pub fn new(tau: usize) -> Self {
        Delayed { tau }
    }
}

impl UpdateRule for Delayed {
    type Worker<'a> = DelayedWorker<'a>;

    fn worker<'a>(&'a self, store: &'a WeightStore) -> DelayedWorker<'a> {
        DelayedWorker {
            view: DelayedView {
                weights: store.atomics(),
                pending: VecDeque::with_capacity(self.tau.saturating_mul(128).min(1 << 22)),
            },
            counts: VecDeque::with_capacity(self.tau + 1),
            tau: self.tau,
        }
    }
}

/// A [`Delayed`] worker: the view and the per-sample counts of its pending
/// adds.
#[derive(Debug)]
pub struct DelayedWorker<'a> {
    view: DelayedView<'a>,
    counts: VecDeque<usize>,
    tau: usize,
}

/// The view of a [`Delayed`] worker: reads the shared weights, queues adds.
#[derive(Debug)]
pub struct DelayedView<'a> {
    weights: &'a [AtomicF32],
    pending: VecDeque<(usize, f32)>,
}

impl Weights for DelayedView<'_> {
    #[inline]
    fn read(&self, j: usize) -> f32 {
        self.weights[j].load(Relaxed)
    }
}

impl WeightsMut for DelayedView<'_> {
    #[inline]
    fn add(&mut self, j: usize, delta: f32) {
        self.pending.push_back((j, delta));
    }
}

impl DelayedWorker<'_> {
    /// Applies the oldest queued sample's adds.
    fn apply_oldest(&mut self) {
        let Some(count) = self.counts.pop_front() else {
            return;
        };
        for (j, delta) in self.view.pending.drain(..count) {
            let w = &self.view.weights[j];
            w.store(w.load(Relaxed) + delta, Relaxed);
        }
    }
}

impl<'a> Worker for DelayedWorker<'a> {
    type View = DelayedView<'a>;

    fn update<R>(&mut self, f: impl FnOnce(&mut DelayedView<'a>) -> R) -> R {
        let before = self.view.pending.len();
        let r = f(&mut self.view);
        self.counts.push_back(self.view.pending.len() - before);
        while self.counts.len() > self.tau {
            self.apply_oldest();
        }
        r
    }

    fn finish(&mut self) {
        while !self.counts.is_empty() {
            self.apply_oldest();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_distribution_matches_tables() {
        // Two-sided 90 % and 95 % critical values.
        for &(p, df, want) in &[
            (0.95, 1.0, 6.313_751_5),
            (0.95, 2.0, 2.919_986),
            (0.95, 4.0, 2.131_847),
            (0.975, 10.0, 2.228_139),
            (0.95, 1000.0, 1.646_379),
        ] {
            let got = t_quantile(p, df);
            assert!((got - want).abs() < 1e-4, "t({p}, {df}) = {got}, want {want}");
        }
        assert!((t_cdf(0.0, 3.0) - 0.5).abs() < 1e-12);
        assert!((t_cdf(-2.919_986, 2.0) - 0.05).abs() < 1e-6);
    }

    #[test]
    fn ln_gamma_is_right() {
        assert!(ln_gamma(1.0).abs() < 1e-12);
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-12);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-12);
    }

    #[test]
    fn identical_runs_are_equivalent_and_offsets_are_not() {
        let seq = [0.3, 0.31, 0.29];
        let t = tost(&seq, &seq, 0.01, 0.05, 0.05).unwrap();
        assert_eq!((t.rel_gap, t.ci_low, t.ci_high), (0.0, 0.0, 0.0));
        assert_eq!(t.verdict, Verdict::Equivalent);
        assert_eq!(t.p_value, 0.0);
        // A constant +2 % offset has no spread, but lies outside the margin.
        let par: Vec<f64> = seq.iter().map(|s| s + 0.02 * 0.3).collect();
        let t = tost(&seq, &par, 0.01, 0.05, 0.05).unwrap();
        assert!((t.rel_gap - 0.02).abs() < 1e-12);
        assert_eq!(t.verdict, Verdict::Different);
        assert_eq!(t.p_value, 1.0);
    }

    #[test]
    fn noise_widens_the_interval() {
        let seq = [0.30, 0.30, 0.30];
        // Mean gap 0, but paired differences of ±1.5 %: the interval is too wide.
        let par = [0.3045, 0.2955, 0.30];
        let t = tost(&seq, &par, 0.01, 0.05, 0.05).unwrap();
        assert!(t.rel_gap.abs() < 1e-12);
        assert!(t.ci_low < -0.01 && t.ci_high > 0.01, "{t:?}");
        assert_eq!(t.verdict, Verdict::Different);
        assert!(t.p_value > 0.05);
        // The same spread at a 5 % margin passes.
        assert_eq!(tost(&seq, &par, 0.05, 0.05, 0.05).unwrap().verdict, Verdict::Equivalent);
    }

    #[test]
    fn p_value_agrees_with_the_interval() {
        let seq = [0.300, 0.302, 0.299, 0.301];
        for shift in [0.0, 0.001, 0.002, 0.0028, 0.003, 0.004] {
            let par = [0.300 + shift, 0.3025 + shift, 0.2985 + shift, 0.301 + shift];
            let t = tost(&seq, &par, 0.01, 0.05, 0.05).unwrap();
            assert_eq!(t.p_value < 0.05, t.verdict == Verdict::Equivalent, "{shift}: {t:?}");
        }
    }

    #[test]
    fn the_floor_caps_relative_gaps_near_zero() {
        let seq = [1e-6, 2e-6, 1e-6];
        let par = [1e-3, 2e-3, 1e-3]; // 1000x larger, but both far below the floor
        let t = tost(&seq, &par, 0.01, 0.05, 0.05).unwrap();
        assert_eq!(t.verdict, Verdict::Equivalent);
        assert!(tost(&seq, &par, 0.01, 0.05, 0.0).unwrap().verdict == Verdict::Different);
    }

    #[test]
    fn bad_settings_are_rejected() {
        assert!(tost(&[0.3], &[0.3], 0.01, 0.05, 0.05).is_err());
        assert!(tost(&[0.3, 0.3], &[0.3], 0.01, 0.05, 0.05).is_err());
        assert!(tost(&[0.3, 0.3], &[0.3, 0.3], 0.0, 0.05, 0.05).is_err());
        assert!(tost(&[0.3, 0.3], &[0.3, 0.3], 0.01, 0.5, 0.05).is_err());
        assert!(tost(&[0.3, f64::NAN], &[0.3, 0.3], 0.01, 0.05, 0.05).is_err());
    }

    #[test]
    fn delayed_rule_applies_late_then_flushes() {
        let store = WeightStore::zeros(2);
        let rule = Delayed::new(2);
        let mut w = rule.worker(&store);
        w.update(|v| v.add(0, 1.0));
        w.update(|v| v.add(1, 1.0));
        assert_eq!(store.snapshot(), vec![0.0, 0.0]);
        w.update(|v| {
            assert_eq!(v.read(0), 0.0, "not yet applied");
            v.add(0, 1.0)
        });
        assert_eq!(store.snapshot(), vec![1.0, 0.0]);
        w.finish();
        assert_eq!(store.snapshot(), vec![2.0, 1.0]);
    }
}
