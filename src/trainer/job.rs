//! One training run being set up: the model, its data, validation, hooks
//! and a warm start, turned into an engine for the driver.

use super::driver::{drive, EpochData, Hooks, Train};
use super::pool::PoolEngine;
use super::report::{EpochReport, Trained};
use super::{Control, Trainer};
use crate::data::Dataset;
use crate::error::Error;
use crate::model::Model;
use crate::policy::{self, Policy, UpdateRule, UseRule};
use crate::store::WeightStore;

/// One training run being set up; made by [`Trainer::job`] or
/// [`Trainer::job_per_epoch`].
pub struct Job<'a, M: Model> {
    pub(crate) trainer: &'a Trainer,
    pub(crate) model: &'a M,
    pub(crate) train: Train<'a, M::Data>,
    pub(crate) valid: Option<&'a M::Data>,
    pub(crate) hooks: Hooks<'a>,
    pub(crate) store: Option<&'a WeightStore>,
    /// `Auto`'s probe and pick, once [`choose_policy`](Job::choose_policy)
    /// made them.
    pub(crate) choice: Option<(policy::Touches, policy::Choice)>,
}

impl<'a, M: Model> Job<'a, M> {
    pub(crate) fn new(trainer: &'a Trainer, model: &'a M, train: Train<'a, M::Data>) -> Self {
        Job {
            trainer,
            model,
            train,
            valid: None,
            hooks: Hooks::default(),
            store: None,
            choice: None,
        }
    }

    /// Report validation loss (and accuracy, for classifiers) each epoch.
    pub fn validation(mut self, valid: &'a M::Data) -> Self {
        self.valid = Some(valid);
        self
    }

    /// Called after each epoch's report; returning [`Control::Stop`] ends
    /// training early ([`Outcome::StoppedEarly`](super::Outcome::StoppedEarly)).
    pub fn on_epoch(mut self, f: impl FnMut(&EpochReport) -> Control + 'a) -> Self {
        self.hooks.on_epoch = Some(Box::new(f));
        self
    }

    /// Called after each epoch that ended finite, with the epoch just
    /// completed (so [`start_epoch`](Trainer::start_epoch)`(epoch + 1)`
    /// resumes after it) and the weights at that point: the place to write
    /// checkpoints. An error stops training and is returned.
    pub fn on_weights(mut self, f: impl FnMut(usize, &[f32]) -> Result<(), Error> + 'a) -> Self {
        self.hooks.on_weights = Some(Box::new(f));
        self
    }

    /// Called after each window of a streamed job
    /// ([`Trainer::stream_job`]) with the epoch, the samples applied in it
    /// so far and the epoch's total: the place for a progress display.
    /// Never called for in-memory jobs.
    pub fn on_progress(mut self, f: impl FnMut(usize, u64, u64) + 'a) -> Self {
        self.hooks.on_progress = Some(Box::new(f));
        self
    }

    /// Train the weights already in `store` (warm start) instead of freshly
    /// initialised ones; `store` holds the result afterwards too.
    pub fn weights(mut self, store: &'a WeightStore) -> Self {
        self.store = Some(store);
        self
    }

    /// Runs the job under the trainer's [`Policy`].
    pub fn run(self) -> Result<Trained, Error> {
        let t = self.trainer;
        ends_job_on_error(t, self.run_policy())
    }

    fn run_policy(mut self) -> Result<Trained, Error> {
        let t = self.trainer;
        let threads = t.thread_count();
        let samples = policy::probe_samples(t.policy, threads);
        let (touches, mut choice) = match self.choice.take() {
            Some((touches, c)) => (Some(touches), Some(c)),
            None if samples > 0 => (Some(self.probe(samples)?), None),
            None => (None, None),
        };
        if touches.is_some() {
            self.train.mark_validated(); // the probe checked it
        }
        if let (Policy::Auto, Some(touches), None) = (t.policy, &touches, &choice) {
            choice = Some(self.decide(touches, threads)?);
        }
        let reason = choice.as_ref().map(|c| c.reason.clone()).unwrap_or_default();
        let mut trained = policy::resolve_picked(
            t.policy,
            choice.map(|c| c.policy),
            touches.as_ref(),
            self.model.n_weights(),
            threads,
            RunJob(self),
        )??;
        trained.report.policy_reason = reason;
        Ok(trained)
    }

    /// [`Policy::Auto`]'s pick for this job: [`policy::decide`] on the first
    /// epoch's data.
    fn decide(&mut self, touches: &policy::Touches, threads: usize) -> Result<policy::Choice, Error> {
        let t = self.trainer;
        let train = self.train.get(t.start_epoch)?;
        policy::decide(self.model, train, touches, &t.schedule, t.seed, threads, t.epochs)
    }

    /// What [`Policy::Auto`] picks for this job (for any other policy, that
    /// policy): probes the problem's shape ([`Touches`](policy::Touches)) and
    /// applies [`policy::decide`] (the coherence simulator's verdict); a
    /// later [`run`](Job::run) trains with this probe and pick rather than
    /// making them again. Validates the data first: the probe runs the
    /// model's steps.
    pub fn choose_policy(&mut self) -> Result<policy::Choice, Error> {
        let t = self.trainer;
        let chosen = self.choose();
        ends_job_on_error(t, chosen)
    }

    fn choose(&mut self) -> Result<policy::Choice, Error> {
        let t = self.trainer;
        if t.policy != Policy::Auto {
            return Ok(policy::Choice {
                policy: t.policy,
                reason: "chosen by the caller".into(),
            });
        }
        if let Some((_, c)) = &self.choice {
            return Ok(c.clone());
        }
        let threads = t.thread_count();
        let touches = self.probe(policy::probe_samples(Policy::Auto, threads))?;
        let c = self.decide(&touches, threads)?;
        self.choice = Some((touches, c.clone()));
        Ok(c)
    }

    /// Counts the writes of the model's steps on up to `samples` rows of the
    /// first epoch's training data, from the job's starting weights.
    fn probe(&mut self, samples: usize) -> Result<policy::Touches, Error> {
        let t = self.trainer;
        t.check()?;
        let start = match self.store {
            Some(s) if s.len() != self.model.n_weights() => {
                return Err(store_mismatch(self.model.n_weights(), s.len()))
            }
            Some(s) => s.snapshot(),
            None => {
                let mut w = vec![0.0; self.model.n_weights()];
                self.model.init(&mut w, t.seed);
                w
            }
        };
        let train = self.train.get(t.start_epoch)?;
        super::driver::check_training_len(train.len())?;
        self.model.validate(train).map_err(|e| e.in_dataset("training"))?;
        let lr = t.schedule.rate(t.start_epoch, (t.start_epoch * train.len()) as u64);
        policy::Touches::probe(self.model, train, &start, samples, lr, t.seed)
    }

    /// Runs the job with a user-supplied [`UpdateRule`] instead of the
    /// trainer's [`Policy`] (which then only names the thread count: a
    /// `Sequential` trainer runs the rule on one thread). The report's policy
    /// is `name`.
    pub fn run_with_rule<R: UpdateRule>(self, rule: R, name: &str) -> Result<Trained, Error> {
        let t = self.trainer;
        ends_job_on_error(t, self.run_rule(rule, name))
    }

    fn run_rule<R: UpdateRule>(mut self, rule: R, name: &str) -> Result<Trained, Error> {
        let t = self.trainer;
        t.check()?;
        let owned;
        let store = match self.store {
            Some(s) => s,
            None => {
                owned = initial_store(self.model, t.seed)?;
                &owned
            }
        };
        if store.len() != self.model.n_weights() {
            return Err(store_mismatch(self.model.n_weights(), store.len()));
        }
        let pool = t.pool(t.thread_count())?;
        let mut engine = PoolEngine {
            model: self.model,
            store,
            pool: &pool,
            rule,
            name: name.to_string(),
            stop: t.stop.clone(),
        };
        if let Train::Stream(s) = self.train {
            return super::stream::drive_stream(t, &mut engine, s, self.valid, self.hooks, &pool);
        }
        drive(t, &mut engine, &mut self.train, self.valid, self.hooks, &pool)
    }
}

/// Runs a job with the rule its policy resolved to.
struct RunJob<'a, M: Model>(Job<'a, M>);

impl<M: Model> UseRule for RunJob<'_, M> {
    type Output = Result<Trained, Error>;

    fn with<R: UpdateRule + 'static>(self, rule: R, name: String) -> Self::Output {
        self.0.run_rule(rule, &name)
    }
}

impl Trainer {
    /// Trains `model` on `train` with defaults for everything else; the same
    /// as `self.job(model, train).run()`.
    pub fn fit<M: Model>(&self, model: &M, train: &M::Data) -> Result<Trained, Error> {
        self.job(model, train).run()
    }

    /// A training job, to add a validation set, a per-epoch callback or an
    /// existing weight store before [`run`](Job::run)ning it.
    pub fn job<'a, M: Model>(&'a self, model: &'a M, train: &'a M::Data) -> Job<'a, M> {
        Job::new(self, model, Train::Fixed(train))
    }

    /// A training job on a file read from disk in windows every epoch
    /// (see [`Streamed`](crate::data::Streamed)): memory stays at a few
    /// windows of rows whatever the file's size. Everything else is as for
    /// [`job`](Self::job), but the training loss is measured on the
    /// data's in-memory sample and validation is on its held-out rows
    /// (and on [`validation`](Job::validation)'s data, if given);
    /// averaging, several evaluations per epoch and data-parallel ranks
    /// are refused.
    ///
    /// ```
    /// use wildsgd::data::{stream_libsvm, StreamOptions};
    /// use wildsgd::{Linear, Loss, Trainer};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("d.svm");
    /// // Distinct rows: held-out rows are chosen by a hash of each row's content.
    /// let row = |i: usize| format!("{} {}:{}\n", if i % 2 == 0 { 1 } else { -1 }, i % 2 + 1, 1 + i % 97);
    /// let text: String = (0..4000).map(row).collect();
    /// std::fs::write(&path, text).unwrap();
    /// let opts = StreamOptions { valid_fraction: 0.1, chunk_bytes: 4096, ..StreamOptions::default() };
    /// let data = stream_libsvm(&path, &opts, &mut |_, _| {}).unwrap();
    /// let model = Linear::new(Loss::Logistic, data.n_features());
    /// let trainer = Trainer::new().threads(2).epochs(3);
    /// let trained = trainer.stream_job(&model, &data).run().unwrap();
    /// let last = trained.report.epochs.last().unwrap();
    /// assert!(last.valid_accuracy.unwrap() > 0.99);
    /// ```
    pub fn stream_job<'a, M: Model>(&'a self, model: &'a M, data: &'a dyn crate::data::Windows<M::Data>) -> Job<'a, M> {
        Job::new(self, model, Train::Stream(data))
    }

    /// A training job whose data is made afresh for each epoch by `data`
    /// (word2vec's skip-gram pairs, re-drawn every epoch; see
    /// [`EpochData`]). Everything else is as for [`job`](Self::job): one
    /// epoch loop, so averaging, evaluation points, validation, hooks, stop
    /// flags and resuming all work the same.
    pub fn job_per_epoch<'a, M: Model>(&'a self, model: &'a M, data: impl EpochData<M::Data> + 'a) -> Job<'a, M> {
        Job::new(self, model, Train::PerEpoch(Box::new(data)))
    }
}

/// `result`, after ending the trainer's whole data-parallel job if it is an
/// error: the other ranks would otherwise wait for this one in their next
/// collective.
fn ends_job_on_error<T>(t: &Trainer, result: Result<T, Error>) -> Result<T, Error> {
    if let (Err(e), Some(c)) = (&result, t.get_cluster()) {
        c.abort(&e.to_string());
    }
    result
}

/// A fresh store holding `model`'s initial weights for `seed`.
pub(crate) fn initial_store<M: Model>(model: &M, seed: u64) -> Result<WeightStore, Error> {
    // The initial vector, the store, and the driver's last-finite copy.
    crate::limits::check_weights("the model", model.n_weights() as u64, 3)?;
    let mut init = vec![0.0; model.n_weights()];
    model.init(&mut init, seed);
    Ok(WeightStore::from_slice(&init))
}

fn store_mismatch(expected: usize, found: usize) -> Error {
    Error::LengthMismatch {
        what: "weight store for this model",
        expected,
        found,
    }
}
