//! The harness: runs sequential and parallel training over seeds and
//! compares them with [`tost`].

use std::fmt;

use serde::Serialize;

use super::stats::{mean, sd, tost};
use super::{Settings, Verdict};
use crate::data::Dataset;
use crate::error::Error;
use crate::mesh::Mesh;
use crate::model::Model;
use crate::policy::Policy;
use crate::trainer::{TracePoint, Trained, Trainer};

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
/// it. See the [module docs](crate::equivalence).
///
/// The trainer given to [`new`](Self::new) supplies everything but the
/// policy, thread count and seed (epochs, schedule, averaging, evaluation
/// settings); its seed is the first of the `K` consecutive seeds. The
/// harness turns the trainer's [blow-up guard](Trainer::blow_up_guard) off
/// on both sides: it compares what the policies do, not what the guard's
/// back-offs would rescue.
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
            trainer: trainer.clone().blow_up_guard(false),
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
    /// use wildsgd::equivalence::{Harness, LaggedRule, Verdict};
    /// use wildsgd::{data::Synthetic, Linear, Loss, Trainer};
    ///
    /// let train = Synthetic { rows: 3_000, features: 800, ..Synthetic::default() }.generate()?;
    /// let model = Linear::new(Loss::Logistic, train.n_features()).bias(true);
    /// let trainer = Trainer::new().epochs(3);
    /// let mut harness = Harness::new(&trainer, &model, &train);
    /// // Updates applied 200 samples late, on one thread: a trainer that is worse on purpose.
    /// let cmp = harness.custom("lagged", 1, |t| t.job(&model, &train).run_with_rule(LaggedRule::new(200), "lagged"))?;
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

    /// Compares a data-parallel run with `Sequential`: `ranks` in-process
    /// ranks ([`Threads`](crate::cluster::Threads)), each training `policy`
    /// on `threads` threads on its shard of the harness's data (the rows of
    /// a seeded permutation, cut into `ranks` near-equal parts), exchanging
    /// every `every` samples of its shard (`None`: the trainer's default).
    /// The final loss compared is the job's, over every shard's rows: the
    /// same rows the sequential side trains and measures on.
    ///
    /// ```
    /// use wildsgd::equivalence::{Harness, Verdict};
    /// use wildsgd::{data::Synthetic, Linear, Loss, Policy, Schedule, Trainer};
    ///
    /// let train = Synthetic { rows: 4_000, features: 1_000, ..Synthetic::default() }.generate()?;
    /// let model = Linear::new(Loss::Logistic, train.n_features()).bias(true).l2(1e-4, &train);
    /// let trainer = Trainer::new().epochs(6).schedule(Schedule::EpochDecay { initial: 0.5, decay: 0.6 });
    /// let mut harness = Harness::new(&trainer, &model, &train).seeds(3).tolerance(0.02);
    /// let cmp = harness.distributed(Policy::Racy, 2, 1, Some(250))?;
    /// assert_eq!(cmp.verdict, Verdict::Equivalent, "{cmp}");
    /// assert_eq!(cmp.policy, "racy, 2 ranks, exchanging every 250");
    /// # Ok::<(), wildsgd::Error>(())
    /// ```
    pub fn distributed(
        &mut self,
        policy: Policy,
        ranks: usize,
        threads: usize,
        every: Option<usize>,
    ) -> Result<Comparison, Error>
    where
        M::Data: Sized,
    {
        use crate::cluster::{part, Handle, Threads};
        let n = self.train.len();
        // The split is the harness's, the same for every pair of runs.
        let perm = crate::schedule::once_permutation(self.trainer.get_seed() ^ 0x5_4A2D_0FD1, None, n);
        let shards = (0..ranks)
            .map(|k| {
                self.train
                    .gather(&perm[part(n, k, ranks)])
                    .ok_or(Error::InvalidParameter {
                        name: "distributed",
                        reason: "the dataset type cannot copy itself into shards (Dataset::gather)".into(),
                    })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let mut trainer = self.trainer.clone().policy(policy).threads(threads);
        if let Some(e) = every {
            trainer = trainer.exchange_every(e);
        }
        let model = self.model;
        let name = match every {
            Some(e) => format!("{policy}, {ranks} ranks, exchanging every {e}"),
            None => format!("{policy}, {ranks} ranks"),
        };
        let threads = trainer.thread_count();
        self.compare(&name, ranks * threads, |seed| {
            let trainer = &trainer;
            std::thread::scope(|s| {
                let runs: Vec<_> = Threads::ranks(ranks)
                    .into_iter()
                    .zip(&shards)
                    .map(|(rank, shard)| {
                        s.spawn(move || {
                            trainer
                                .clone()
                                .seed(seed)
                                .cluster(Handle::new(rank))
                                .fit(model, &**shard)
                        })
                    })
                    .collect();
                let mut done: Vec<Result<Trained, Error>> = runs
                    .into_iter()
                    .map(|r| {
                        r.join().unwrap_or_else(|_| {
                            Err(Error::InvalidParameter {
                                name: "distributed",
                                reason: "a rank panicked".into(),
                            })
                        })
                    })
                    .collect();
                // Rank 0's report: its losses are the job's.
                done.swap_remove(0)
            })
        })
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
