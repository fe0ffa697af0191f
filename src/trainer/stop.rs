//! Stopping a run from outside: a flag the caller raises (from a signal
//! handler's thread, a UI, a deadline) and the workers look at.

use std::sync::Arc;

use crate::sync::{AtomicBool, Ordering};

/// A request to stop training, shared by whoever asks and the trainer's
/// workers ([`Trainer::stop_flag`](crate::Trainer::stop_flag)).
///
/// Each worker looks at the flag before every sample, so once it is raised
/// every worker finishes the sample in flight, flushes what its policy
/// buffers (a `Batched` buffer, `HotCold`'s hot weights, a replica's
/// change) and stops: the weights handed back are consistent — every sample
/// taken was applied whole — and the report says where the run stopped
/// ([`Outcome::Interrupted`](crate::trainer::Outcome::Interrupted)). Clones
/// share one flag.
///
/// ```
/// use wildsgd::trainer::{Outcome, StopFlag};
/// use wildsgd::{data::Synthetic, Linear, Loss, Trainer};
///
/// let data = Synthetic { rows: 2000, features: 100, ..Synthetic::default() }.generate()?;
/// let model = Linear::new(Loss::Logistic, data.n_features());
/// let stop = StopFlag::new();
/// stop.raise(); // raised before the run: it stops at once, with the initial weights
/// let trained = Trainer::new().threads(2).stop_flag(stop).fit(&model, &data)?;
/// assert_eq!(trained.outcome, Outcome::Interrupted { epoch: 0, samples: 0 });
/// assert!(trained.report.epochs.is_empty());
/// # Ok::<(), wildsgd::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    /// A flag not yet raised.
    pub fn new() -> Self {
        StopFlag::default()
    }

    /// Asks the run to stop after the samples in flight.
    pub fn raise(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`raise`](Self::raise) was called.
    #[inline]
    pub fn is_raised(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl PartialEq for StopFlag {
    /// Two flags are equal when they are the same flag.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
