//! Datasets: the [`Dataset`] trait the trainer iterates, an in-memory CSR
//! dataset for sparse linear models, and an RCV1-like synthetic generator.

mod corpus;
mod csr;
mod graph;
mod libsvm;
mod parse;
mod ratings;
mod synthetic;

pub use corpus::{read_corpus, Corpus, Pair, Pairs, SkipGram, Vocab};
pub use csr::{CsrDataset, SparseRow};
pub use graph::{read_edge_list, read_metis, Graph};
pub use libsvm::{
    binary_labels, read_libsvm, read_libsvm_bytes, write_libsvm, write_libsvm_file, LibsvmData, LibsvmOptions,
};
pub use parse::ParseIssue;
pub use ratings::{read_ratings, read_ratings_bytes, Rating, Ratings, SyntheticRatings};
pub use synthetic::Synthetic;

/// Indexed, shareable training data.
///
/// The trainer visits samples by index in a shuffled order, from several
/// threads at once, so a dataset is `Sync` and hands out cheap `Copy` samples
/// (usually borrowed views).
pub trait Dataset: Sync {
    /// One sample, as a model's [`step`](crate::Model::step) receives it.
    type Sample<'a>: Copy
    where
        Self: 'a;

    /// The number of samples.
    fn len(&self) -> usize;

    /// Sample `i`, for `i < self.len()`.
    fn sample(&self, i: usize) -> Self::Sample<'_>;

    /// Whether there are no samples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T: Sync> Dataset for [T] {
    type Sample<'a>
        = &'a T
    where
        T: 'a;

    fn len(&self) -> usize {
        <[T]>::len(self)
    }

    fn sample(&self, i: usize) -> &T {
        &self[i]
    }
}

impl<T: Sync> Dataset for Vec<T> {
    type Sample<'a>
        = &'a T
    where
        T: 'a;

    fn len(&self) -> usize {
        Vec::len(self)
    }

    fn sample(&self, i: usize) -> &T {
        &self[i]
    }
}
