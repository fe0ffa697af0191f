//! Datasets: the [`Dataset`] trait the trainer iterates, an in-memory CSR
//! dataset for sparse linear models, an RCV1-like synthetic generator, and
//! the readers of the text formats (LIBSVM, ratings, edge lists, METIS,
//! corpora).
//!
//! Every reader takes plain or gzip-compressed text (the content decides)
//! and, whatever the input, returns a typed [`Error`](crate::error::Error) rather
//! than panicking, aborting or reading without bound: at most
//! [`ReadOptions::max_bytes`] of (decompressed) text
//! ([`DEFAULT_MAX_INPUT_BYTES`] unless a `*_with` variant is given other
//! [`ReadOptions`]), memory checked before each growth of the buffer, and
//! the first 64 KiB checked before the rest is read (a NUL byte there is
//! binary data, a [`ParseIssue::NulByte`]; a malformed line there fails at
//! once).

mod corpus;
mod csr;
mod graph;
mod libsvm;
mod parse;
mod ratings;
mod shard;
mod stream;
mod synthetic;

pub use corpus::{read_corpus, read_corpus_bytes, read_corpus_with, Corpus, Pair, Pairs, SkipGram, Vocab};
pub use csr::{CsrDataset, FeatureStats, SparseRow};
pub use graph::{
    read_edge_list, read_edge_list_bytes, read_edge_list_with, read_metis, read_metis_bytes, read_metis_with, Graph,
    MAX_METIS_NCON,
};
pub use libsvm::{
    binary_labels, binary_labels_as, binary_pair, read_libsvm, read_libsvm_bytes, write_libsvm, write_libsvm_file,
    Hashing, LibsvmData, LibsvmOptions,
};
pub use parse::{read_text, ParseIssue, ReadOptions, DEFAULT_MAX_INPUT_BYTES};
pub use ratings::{read_ratings, read_ratings_bytes, read_ratings_with, Rating, Ratings};
pub use shard::{read_libsvm_shard, read_ratings_shard, LibsvmShard, RatingsShard, Shard, MAX_RANKS};
pub use stream::{stream_libsvm, LabelSet, Piped, StreamOptions, Streamed, Survey, Windows};
pub use synthetic::{Synthetic, SyntheticRatings};

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

    /// A copy holding the samples `rows` (indices into `self`), in that
    /// order: what the trainer's once-per-run shuffle makes
    /// ([`Order`](crate::schedule::Order)). `None`, the default, when the
    /// type cannot copy itself: the trainer then visits a
    /// [full permutation](crate::schedule::Order::Full) of the data as
    /// given, and says so in its report. Implement it (with
    /// [`sample_bytes`](Self::sample_bytes) and
    /// [`prefetch`](Self::prefetch)) for a dataset of your own to get the
    /// block orders' speed.
    fn gather(&self, rows: &[u32]) -> Option<Box<Self>> {
        let _ = rows;
        None
    }

    /// The mean bytes of memory one sample occupies (its row data), from
    /// which block orders choose their block size. The default is the size
    /// of the sample value itself.
    fn sample_bytes(&self) -> usize {
        std::mem::size_of::<Self::Sample<'_>>()
    }

    /// Hints that sample `i` will be read soon (a software prefetch of its
    /// memory); `i < self.len()`. The default does nothing.
    #[inline]
    fn prefetch(&self, i: usize) {
        let _ = i;
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
