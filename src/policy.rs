//! Update policies: how a model's `add(j, delta)` lands in the shared weights.
//!
//! The trainer picks a [`Policy`]; the model never knows which. Each policy is
//! an [`UpdateRule`] whose per-worker [`Worker`] hands the model a concrete
//! view type, so every (model, policy) pair compiles to its own loop with no
//! dynamic dispatch per weight.
//!
//! | policy | concurrent adds to one weight | a weight is torn | lock taken | reproducible |
//! |---|---|---|---|---|
//! | [`Sequential`](Policy::Sequential) | none (one thread) | never | none | bit for bit, per seed |
//! | [`Racy`](Policy::Racy) | **may be lost** (Relaxed load, then store) | never | none | no |
//! | [`AtomicAdd`](Policy::AtomicAdd) | never lost (`fetch_add`, a CAS loop) | never | none | no (float sums reorder) |
//! | [`Locked`](Policy::Locked) | never lost; whole sample under one lock | never | one per sample | no |
//! | [`Batched`](Policy::Batched) | never lost (per-worker buffer, flushed with `fetch_add` every `size` samples) | never | none | no |
//! | [`HotCold`](Policy::HotCold) | hot weights: never lost (buffered, merged with `fetch_add`); cold: may be lost | never | none | no |
//! | [`Replicas`](Policy::Replicas) | never lost (per-worker replica, change merged with `fetch_add`) | never | none | no |
//! | [`Auto`](Policy::Auto) | as the policy it picks ([`choose`]) | never | none | no |
//!
//! `Racy` is the update of the Hogwild! paper: cheapest, and a lost update
//! only delays progress slightly when conflicts are rare. "Never torn" holds
//! for all of them because every access is atomic; under `Racy` and
//! `AtomicAdd` a reader may still see a sample's update half-applied across
//! *different* weights (the `loom-tests/` suite shows both facts).
//!
//! # Contention
//!
//! On many cores a plain Hogwild! loop is limited less by lost updates than
//! by cache-line traffic: every write to a weight invalidates its line in
//! every other core's cache, and on skewed data the hottest weights are
//! written by nearly every sample. [`HotColdRule`](rule::HotColdRule) buffers just
//! those weights per worker; [`ReplicasRule`](rule::ReplicasRule) gives each worker
//! a whole private copy (for dense models, where every line is hot);
//! [`Policy::Auto`] picks between them and `Racy` by replaying each in the
//! coherence simulator ([`coherence`], [`decide`]).

mod auto;
pub mod coherence;
pub mod rule;

pub use auto::{
    choose, decide, Choice, Touches, AUTO_EVERY, AUTO_HOTCOLD_THREADS, AUTO_LOSS_SLACK, AUTO_MAX_HOT, AUTO_MERGES_SEEN,
    AUTO_REPLAY_BYTES, AUTO_REPLAY_MIN, AUTO_REPLAY_SAMPLES, AUTO_REPLAY_SHARE, AUTO_SAMPLE_NS, AUTO_WRITE_NS,
    PROBE_SAMPLES,
};
pub use rule::Merge;

use crate::error::Error;
use crate::model::WeightsMut;
use crate::store::WeightStore;

/// How workers apply updates to the shared weights; chosen on the
/// [`Trainer`](crate::Trainer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Policy {
    /// One thread, samples in the seeded shuffled order; bit-for-bit
    /// reproducible. Ignores the trainer's thread count.
    Sequential,
    /// Hogwild!: Relaxed load, add, Relaxed store. Concurrent updates of the
    /// same weight may be lost; a weight is never torn.
    Racy,
    /// `fetch_add`: no update is ever lost.
    AtomicAdd,
    /// The whole sample's update under one lock: a baseline for benchmarks.
    Locked,
    /// Mini-batch accumulation: each worker sums its updates for `size`
    /// samples in a private buffer, then flushes them with `fetch_add`; see
    /// [`BatchedRule`](rule::BatchedRule). `size = 1` is `AtomicAdd`.
    Batched {
        /// Samples per flush (at least 1).
        size: usize,
    },
    /// Hot/cold split; see [`HotColdRule`](rule::HotColdRule). Before training, a
    /// probe ([`Touches`]) finds the weights written in at least 1 of `every`
    /// samples; up to `hot` of them (the most written) are buffered per
    /// worker and merged every `every` samples, the rest are updated as
    /// under `Racy`.
    HotCold {
        /// The most weights to buffer.
        hot: usize,
        /// Samples between merges, and the hot threshold (at least 1).
        every: usize,
    },
    /// Per-worker replicas of the whole model, merged every `every` samples;
    /// see [`ReplicasRule`](rule::ReplicasRule).
    Replicas {
        /// Samples between merges (at least 1).
        every: usize,
        /// Averaging or delayed updates.
        merge: Merge,
    },
    /// The trainer picks `Racy`, `HotCold` or delayed `Replicas`: whichever
    /// the coherence simulator predicts fastest at the thread count without
    /// losing the sequential loss ([`decide`]; the mesh's cortices use the
    /// shape rule [`choose`]); the report names the pick.
    Auto,
}

impl Policy {
    /// The policies without parameters, in a stable order.
    pub const PARAMETERLESS: [Policy; 5] = [
        Policy::Sequential,
        Policy::Racy,
        Policy::AtomicAdd,
        Policy::Locked,
        Policy::Auto,
    ];

    /// The policy's family name: `sequential`, `racy`, `atomic`, `locked`,
    /// `batched`, `hotcold`, `replicas` (averaging), `delayed` (replicas
    /// merged by sum) or `auto`. The full name, as used on command lines and
    /// in JSON reports (`batched:32`, `hotcold:4096:32`, `replicas:1000`), is
    /// its [`Display`](std::fmt::Display) form.
    pub fn name(self) -> &'static str {
        match self {
            Policy::Sequential => "sequential",
            Policy::Racy => "racy",
            Policy::AtomicAdd => "atomic",
            Policy::Locked => "locked",
            Policy::Batched { .. } => "batched",
            Policy::HotCold { .. } => "hotcold",
            Policy::Replicas {
                merge: Merge::Average, ..
            } => "replicas",
            Policy::Replicas { merge: Merge::Sum, .. } => "delayed",
            Policy::Auto => "auto",
        }
    }
}

impl std::fmt::Display for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Policy::Batched { size } => write!(f, "batched:{size}"),
            Policy::HotCold { hot, every } => write!(f, "hotcold:{hot}:{every}"),
            Policy::Replicas { every, .. } => write!(f, "{}:{every}", self.name()),
            p => f.write_str(p.name()),
        }
    }
}

impl serde::Serialize for Policy {
    /// As its full name (`"atomic"`, `"batched:32"`).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl std::str::FromStr for Policy {
    type Err = Error;

    /// Parses a full name: `sequential`, `racy`, `atomic`, `locked`, `auto`,
    /// `batched:N`, `hotcold:K:M`, `replicas:M` or `delayed:M` (N, M ≥ 1).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: String| Error::InvalidParameter { name: "policy", reason };
        let count = |what: &str, n: &str, min: usize| match n.parse::<usize>() {
            Ok(v) if v >= min => Ok(v),
            _ => Err(bad(format!("{s:?}: {what} must be a whole number >= {min}"))),
        };
        if let Some(n) = s.strip_prefix("batched:") {
            return Ok(Policy::Batched {
                size: count("the batch size", n, 1)?,
            });
        }
        if let Some(rest) = s.strip_prefix("hotcold:") {
            let (k, m) = rest
                .split_once(':')
                .ok_or_else(|| bad(format!("{s:?}: expected hotcold:K:M (hot weights, merge interval)")))?;
            return Ok(Policy::HotCold {
                hot: count("the number of hot weights", k, 0)?,
                every: count("the merge interval", m, 1)?,
            });
        }
        for (prefix, merge) in [("replicas:", Merge::Average), ("delayed:", Merge::Sum)] {
            if let Some(m) = s.strip_prefix(prefix) {
                return Ok(Policy::Replicas {
                    every: count("the merge interval", m, 1)?,
                    merge,
                });
            }
        }
        Policy::PARAMETERLESS
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                bad(format!(
                    "unknown policy {s:?}; expected one of sequential, racy, atomic, locked, auto, batched:N, \
                 hotcold:K:M, replicas:M, delayed:M"
                ))
            })
    }
}

/// The mechanics of a policy: makes one [`Worker`] per training thread.
///
/// The built-in rules are in [`rule`]; [`resolve`] turns a [`Policy`] into
/// one. A custom rule runs through
/// [`Job::run_with_rule`](crate::trainer::Job::run_with_rule).
pub trait UpdateRule: Sync {
    /// A worker's state (a view of the store, a lock handle, a buffer...).
    type Worker<'a>: Worker
    where
        Self: 'a;

    /// The worker for one thread, over `store`.
    fn worker<'a>(&'a self, store: &'a WeightStore) -> Self::Worker<'a>;
}

/// One thread's handle for applying samples' updates. `Send`, so that a
/// [`Mesh`](crate::mesh::Mesh) can run two cortices' steps of one sample on
/// two threads.
pub trait Worker: Send {
    /// The view a model's step writes through.
    type View: WeightsMut;

    /// Runs one sample's update `f` against the view.
    fn update<R>(&mut self, f: impl FnOnce(&mut Self::View) -> R) -> R;

    /// Called once when the worker's share of samples is done (policies that
    /// buffer updates flush here).
    fn finish(&mut self) {}

    /// Hints that a coming sample will touch weights `run`: a worker whose
    /// view keeps its own copy of weights prefetches that copy (the trainer
    /// already prefetches the shared store). Never changes what is
    /// computed; the default does nothing.
    #[inline]
    fn prefetch(&self, run: std::ops::Range<usize>) {
        let _ = run;
    }
}

/// What to do with the rule a [`Policy`] resolves to (see [`resolve`]):
/// each policy's rule is its own type, so the code using it is generic.
pub trait UseRule {
    /// What using the rule returns.
    type Output;
    /// Uses `rule`; `name` is the policy's name for reports (`auto:racy`
    /// when [`Policy::Auto`] picked `Racy`).
    fn with<R: UpdateRule + 'static>(self, rule: R, name: String) -> Self::Output;
}

/// How many training samples [`resolve`] needs [`Touches`]-probed for
/// `policy` at `threads` threads; 0 when it needs no probe.
pub fn probe_samples(policy: Policy, threads: usize) -> usize {
    match policy {
        Policy::HotCold { .. } => PROBE_SAMPLES,
        // One thread: `choose` needs the model's shape only, not a real probe.
        Policy::Auto if threads <= 1 => 1,
        Policy::Auto => PROBE_SAMPLES,
        _ => 0,
    }
}

/// Turns `policy` into its rule, for `threads` workers on a model of
/// `n_weights` weights, and hands it to `f`: the one place where a
/// [`Policy`] becomes code. `touches` is the probe of the training data
/// that `HotCold` and `Auto` need ([`probe_samples`] says how big).
///
/// ```
/// use wildsgd::policy::{self, Policy, UpdateRule, UseRule};
///
/// struct Name;
/// impl UseRule for Name {
///     type Output = String;
///     fn with<R: UpdateRule + 'static>(self, _rule: R, name: String) -> String { name }
/// }
/// assert_eq!(policy::resolve(Policy::Batched { size: 8 }, None, 100, 2, Name).unwrap(), "batched:8");
/// assert_eq!(policy::resolve(Policy::Sequential, None, 100, 1, Name).unwrap(), "sequential");
/// ```
///
/// # Errors
/// When `HotCold` or `Auto` is given no probe, or the probe does not fit
/// the model.
pub fn resolve<F: UseRule>(
    policy: Policy,
    touches: Option<&Touches>,
    n_weights: usize,
    threads: usize,
    f: F,
) -> Result<F::Output, Error> {
    let picked = match policy {
        Policy::Auto => Some(choose(probe_for(policy, touches)?, n_weights, threads).policy),
        _ => None,
    };
    resolve_picked(policy, picked, touches, n_weights, threads, f)
}

/// The probe `policy` needs, or the error saying it was not given one.
fn probe_for(policy: Policy, touches: Option<&Touches>) -> Result<&Touches, Error> {
    touches.ok_or_else(|| Error::InvalidParameter {
        name: "policy",
        reason: format!("{policy} needs a probe of the training data"),
    })
}

/// [`resolve`], with [`Policy::Auto`]'s pick made by the caller (e.g. by
/// [`decide`]) and given as `picked`; the report names it `auto:<pick>`.
///
/// # Errors
/// As [`resolve`]; also when `policy` is `Auto` and `picked` is `None` or
/// `Auto`.
pub fn resolve_picked<F: UseRule>(
    policy: Policy,
    picked: Option<Policy>,
    touches: Option<&Touches>,
    n_weights: usize,
    threads: usize,
    f: F,
) -> Result<F::Output, Error> {
    let probe = || probe_for(policy, touches);
    let (policy, name) = match (policy, picked) {
        (Policy::Auto, Some(pick)) if pick != Policy::Auto => (pick, format!("auto:{pick}")),
        (Policy::Auto, _) => {
            return Err(Error::InvalidParameter {
                name: "policy",
                reason: "auto needs its pick".into(),
            })
        }
        (p, _) => (p, p.to_string()),
    };
    Ok(match policy {
        Policy::Sequential | Policy::Racy => f.with(rule::RacyRule, name),
        Policy::AtomicAdd => f.with(rule::AtomicAddRule, name),
        Policy::Locked => f.with(rule::LockedRule, name),
        Policy::Batched { size } => f.with(rule::BatchedRule { size: size.max(1) }, name),
        Policy::HotCold { hot, every } => {
            f.with(rule::HotColdRule::from_touches(probe()?, n_weights, hot, every)?, name)
        }
        Policy::Replicas { every, merge } => f.with(
            rule::ReplicasRule {
                every: every.max(1),
                merge,
                workers: threads.max(1),
            },
            name,
        ),
        Policy::Auto => unreachable!("choose never returns Auto"),
    })
}
