//! word2vec through the one driver: skip-gram pairs re-drawn for every
//! epoch ([`SkipGramEpochs`]), trained by an ordinary
//! [`Job`](crate::trainer::Job) — so averaging, evaluation points,
//! validation, hooks (checkpoints), stop flags and resuming work as for any
//! other model.
//!
//! ```
//! use wildsgd::data::{Corpus, SkipGram};
//! use wildsgd::model::{Sgns, UnigramTable};
//! use wildsgd::word2vec::train_skipgram;
//! use wildsgd::{Policy, Schedule, Trainer};
//!
//! let text = "the cat sat on the mat\nthe dog sat on the log\n".repeat(50);
//! let corpus = Corpus::from_text(&text, 1)?;
//! let sg = SkipGram { window: 2, subsample: 0.0, seed: 1 };
//! let model = Sgns::new(corpus.vocab().len(), 8, UnigramTable::new(corpus.vocab().counts())?)?.negatives(2);
//! let trainer = Trainer::new().threads(2).epochs(2).policy(Policy::Racy).schedule(Schedule::Constant(0.05));
//! let trained = train_skipgram(&trainer, &model, &corpus, &sg)?;
//! assert_eq!(trained.report.epochs.len(), 2);
//! # Ok::<(), wildsgd::Error>(())
//! ```

use crate::data::{Corpus, Pairs, SkipGram};
use crate::error::Error;
use crate::model::Sgns;
use crate::trainer::{EpochData, Trained, Trainer};

/// The skip-gram pairs of a corpus, drawn afresh for each epoch
/// ([`SkipGram::try_pairs`]: sub-sampling and dynamic windows from the
/// seed and the epoch), for [`Trainer::job_per_epoch`].
pub struct SkipGramEpochs<'c> {
    corpus: &'c Corpus,
    skipgram: SkipGram,
    current: Option<(usize, Pairs)>,
}

impl<'c> SkipGramEpochs<'c> {
    /// The pairs of `corpus` under `skipgram`.
    pub fn new(corpus: &'c Corpus, skipgram: SkipGram) -> Self {
        SkipGramEpochs {
            corpus,
            skipgram,
            current: None,
        }
    }
}

impl EpochData<Pairs> for SkipGramEpochs<'_> {
    fn epoch(&mut self, epoch: usize) -> Result<&Pairs, Error> {
        if self.current.as_ref().is_none_or(|(e, _)| *e != epoch) {
            let pairs = self.skipgram.try_pairs(self.corpus, epoch as u64)?;
            self.current = Some((epoch, pairs));
        }
        Ok(&self.current.as_ref().expect("just drawn").1)
    }
}

/// Trains `model` on `corpus` with `trainer`, each epoch on a fresh
/// [`SkipGram::pairs`] draw for that epoch; the same as
/// `trainer.job_per_epoch(model, SkipGramEpochs::new(corpus, *skipgram)).run()`
/// after checking that the model covers the corpus's vocabulary.
///
/// With [`Schedule::Linear`](crate::Schedule::Linear), set `samples` to the
/// epochs times [`SkipGram::pairs`]`(corpus, 0).len()`; later epochs' pair
/// counts differ from it by the sub-sampling noise only.
pub fn train_skipgram(trainer: &Trainer, model: &Sgns, corpus: &Corpus, skipgram: &SkipGram) -> Result<Trained, Error> {
    check_vocabulary(model, corpus)?;
    trainer
        .job_per_epoch(model, SkipGramEpochs::new(corpus, *skipgram))
        .run()
}

/// A model for `corpus` must have an item for each of its words.
pub fn check_vocabulary(model: &Sgns, corpus: &Corpus) -> Result<(), Error> {
    if corpus.vocab().len() > model.n_items() {
        return Err(Error::InvalidParameter {
            name: "corpus",
            reason: format!(
                "its vocabulary has {} words, the model {} items",
                corpus.vocab().len(),
                model.n_items()
            ),
        });
    }
    Ok(())
}
