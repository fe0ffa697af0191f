//! Text corpora for skip-gram training, and the (source, target) pair
//! datasets that [`Sgns`](crate::model::Sgns) trains on.
//!
//! A [`Corpus`] is read from a text file with one sentence per line and
//! words separated by whitespace ([`read_corpus`]); words rarer than
//! `min_count` are dropped, as word2vec does. A [`SkipGram`] turns a corpus
//! into [`Pairs`] for one epoch: it sub-samples frequent words and draws a
//! dynamic window per word, both from a seed and the epoch number. Graphs
//! become [`Pairs`] with [`Pairs::from_graph`].

use std::collections::HashMap;
use std::path::Path;

use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};

use super::parse::{check_head, check_nul, decode_bytes, display_name, read_file, utf8, ReadOptions};
use super::{Dataset, Graph};
use crate::error::Error;

/// The words of a corpus that passed `min_count`, with their counts. Ids run
/// from 0 in order of falling count (ties by the word's bytes), so id 0 is
/// the most frequent word.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Vocab {
    words: Vec<String>,
    counts: Vec<u64>,
    index: HashMap<String, u32>,
}

impl Vocab {
    /// The number of words.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether there are no words.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The id of `word`, if it is in the vocabulary.
    pub fn id(&self, word: &str) -> Option<u32> {
        self.index.get(word).copied()
    }

    /// The word with id `id`. Panics if `id >= self.len()`.
    pub fn word(&self, id: u32) -> &str {
        &self.words[id as usize]
    }

    /// How often word `id` occurs in the corpus this vocabulary describes.
    pub fn count(&self, id: u32) -> u64 {
        self.counts[id as usize]
    }

    /// Every word's count, indexed by id (what
    /// [`UnigramTable::new`](crate::model::UnigramTable::new) takes).
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// The number of in-vocabulary tokens.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// A tokenised corpus: sentences of word ids over a [`Vocab`].
///
/// ```
/// use wildsgd::data::Corpus;
///
/// let c = Corpus::from_text("the cat sat\nthe dog sat\n", 2).unwrap();
/// assert_eq!(c.vocab().len(), 2); // "the" and "sat" occur twice
/// assert_eq!(c.n_sentences(), 2);
/// assert_eq!(c.sentence(0).len(), 2); // "cat" was dropped
/// assert_eq!(c.vocab().count(c.vocab().id("the").unwrap()), 2);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Corpus {
    vocab: Vocab,
    tokens: Vec<u32>,
    /// Sentence `i` is `tokens[offsets[i]..offsets[i + 1]]`.
    offsets: Vec<usize>,
}

/// Reads a corpus with the default [`ReadOptions`]; see [`read_corpus_with`].
pub fn read_corpus(path: impl AsRef<Path>, min_count: u64) -> Result<Corpus, Error> {
    read_corpus_with(path, min_count, &ReadOptions::default())
}

/// Reads a corpus: one sentence per line (UTF-8 without NUL bytes, possibly
/// gzipped), words separated by ASCII whitespace, blank lines skipped. Words
/// that occur fewer than `min_count` times are dropped from the vocabulary
/// and from the sentences, as word2vec does (at most `u32::MAX` words are
/// kept). Errors name the file, the line and the column.
pub fn read_corpus_with(path: impl AsRef<Path>, min_count: u64, opts: &ReadOptions) -> Result<Corpus, Error> {
    let path = path.as_ref();
    let text = read_file(path, opts, Some(&prefix))?;
    Corpus::parse(&display_name(path), &text, min_count)
}

/// Reads a corpus held in memory (plain or gzip-compressed text); `name` is
/// what error messages call it. See [`read_corpus_with`].
///
/// ```
/// use wildsgd::data::read_corpus_bytes;
///
/// let c = read_corpus_bytes("c.txt", b"a b a\n", 1).unwrap();
/// assert_eq!((c.vocab().len(), c.n_tokens()), (2, 3));
/// let e = read_corpus_bytes("c.txt", b"ok\nbad \xff\n", 1).unwrap_err();
/// assert_eq!(e.to_string(), "c.txt: line 2, column 5: the text is not valid UTF-8");
/// ```
pub fn read_corpus_bytes(name: &str, bytes: &[u8], min_count: u64) -> Result<Corpus, Error> {
    let text = decode_bytes(name, bytes, &ReadOptions::default(), Some(&prefix))?;
    Corpus::parse(name, &text, min_count)
}

/// The errors of whole lines of corpus text (what `check_head` needs): the
/// same line checks as [`Corpus::parse`]'s, without counting words.
fn prefix(name: &str, text: &[u8]) -> Result<(), Error> {
    for (no, line) in text.split(|&b| b == b'\n').enumerate() {
        check_line(name, no + 1, line)?;
    }
    Ok(())
}

/// A corpus line must be UTF-8 without NUL bytes.
fn check_line(name: &str, line_no: usize, line: &[u8]) -> Result<(), Error> {
    check_nul(name, line_no, line)?;
    utf8(name, line_no, 1, line, "text").map(drop)
}

impl Corpus {
    /// A corpus from text held in memory (named `<memory>` in errors); see
    /// [`read_corpus`].
    pub fn from_text(text: &str, min_count: u64) -> Result<Corpus, Error> {
        Corpus::parse("<memory>", text.as_bytes(), min_count)
    }

    fn parse(name: &str, text: &[u8], min_count: u64) -> Result<Corpus, Error> {
        check_head(name, text, false, &prefix)?;
        // Pass 1: validate and count, borrowing the words from the text.
        let mut counts: HashMap<&[u8], u64> = HashMap::new();
        let mut lines = Vec::new();
        for (no, line) in text.split(|&b| b == b'\n').enumerate() {
            check_line(name, no + 1, line)?;
            let mut any = false;
            for w in line.split(u8::is_ascii_whitespace).filter(|w| !w.is_empty()) {
                *counts.entry(w).or_insert(0) += 1;
                any = true;
            }
            if any {
                lines.push(line);
            }
        }
        if lines.is_empty() {
            return Err(Error::EmptyFile {
                file: name.to_string(),
                detail: if text.is_empty() { "" } else { ", only blank lines" },
            });
        }
        let mut kept: Vec<(&[u8], u64)> = counts.into_iter().filter(|&(_, c)| c >= min_count.max(1)).collect();
        if kept.is_empty() {
            return Err(Error::InvalidParameter {
                name: "min_count",
                reason: format!("no word of {name} occurs {min_count} times"),
            });
        }
        if u32::try_from(kept.len()).is_err() {
            return Err(Error::InvalidParameter {
                name: "min_count",
                reason: format!(
                    "{name} has {} distinct words of at least {min_count} occurrences, more than the {} that word ids (u32) can number",
                    kept.len(),
                    u32::MAX
                ),
            });
        }
        kept.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        // Fits: checked above.
        let ids: HashMap<&[u8], u32> = kept.iter().enumerate().map(|(i, &(w, _))| (w, i as u32)).collect();
        let words: Vec<String> = kept
            .iter()
            .map(|&(w, _)| String::from_utf8(w.to_vec()).expect("validated above"))
            .collect();
        let vocab = Vocab {
            index: words.iter().enumerate().map(|(i, w)| (w.clone(), i as u32)).collect(),
            counts: kept.iter().map(|&(_, c)| c).collect(),
            words,
        };
        // Pass 2: sentences of ids, out-of-vocabulary words dropped.
        let mut corpus = Corpus {
            vocab,
            tokens: Vec::new(),
            offsets: vec![0],
        };
        for line in lines {
            let start = corpus.tokens.len();
            corpus
                .tokens
                .extend(line.split(u8::is_ascii_whitespace).filter_map(|w| ids.get(w).copied()));
            if corpus.tokens.len() > start {
                corpus.offsets.push(corpus.tokens.len());
            }
        }
        Ok(corpus)
    }

    /// The vocabulary (its counts are this corpus's).
    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    /// The number of sentences (lines with at least one in-vocabulary word).
    pub fn n_sentences(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Sentence `i`, as word ids.
    pub fn sentence(&self, i: usize) -> &[u32] {
        &self.tokens[self.offsets[i]..self.offsets[i + 1]]
    }

    /// The number of in-vocabulary tokens.
    pub fn n_tokens(&self) -> usize {
        self.tokens.len()
    }

    /// Splits the sentences at random into (train, held-out), with about
    /// `held_out` of them held out. Both keep the word ids; each part's
    /// vocabulary counts are recounted on its own sentences, so training
    /// statistics (sub-sampling, the negative table) never see held-out text.
    pub fn split(&self, held_out: f64, seed: u64) -> Result<(Corpus, Corpus), Error> {
        if !(held_out > 0.0 && held_out < 1.0) {
            return Err(Error::InvalidParameter {
                name: "held_out",
                reason: format!("{held_out} is not strictly between 0 and 1"),
            });
        }
        let n = self.n_sentences();
        let n_held = ((n as f64 * held_out).round() as usize).clamp(1, n.saturating_sub(1).max(1));
        if n < 2 {
            return Err(Error::InvalidParameter {
                name: "held_out",
                reason: format!("{n} sentence(s) cannot be split in two"),
            });
        }
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut Xoshiro256PlusPlus::seed_from_u64(seed));
        let (held, train) = order.split_at(n_held);
        let part = |idx: &[usize]| {
            let mut idx = idx.to_vec();
            idx.sort_unstable();
            let mut c = Corpus {
                vocab: self.vocab.clone(),
                tokens: Vec::new(),
                offsets: vec![0],
            };
            c.vocab.counts.fill(0);
            for &i in &idx {
                for &t in self.sentence(i) {
                    c.tokens.push(t);
                    c.vocab.counts[t as usize] += 1;
                }
                c.offsets.push(c.tokens.len());
            }
            c
        };
        Ok((part(train), part(held)))
    }
}

/// How a corpus becomes skip-gram pairs, as word2vec makes them: each kept
/// word is paired with the kept words within a dynamic window around it.
///
/// * **Sub-sampling**: word `w` with frequency `f = count / total` is kept
///   with probability `min(1, (sqrt(f / t) + 1) · t / f)` (word2vec's
///   formula, `t` = [`subsample`](Self::subsample)); words with `f` well
///   below `t` are always kept. Discarded words are removed before windows
///   are formed, so windows reach further past them.
/// * **Dynamic window**: each position draws its window `b` uniformly from
///   `1..=window`, so nearer words are paired more often.
///
/// Both draws come from `(seed, epoch)`, so [`pairs`](Self::pairs) for a
/// given epoch is reproducible, and each epoch sees a fresh draw.
///
/// ```
/// use wildsgd::data::{Corpus, SkipGram};
///
/// let c = Corpus::from_text("a b c d e\n", 1).unwrap();
/// let sg = SkipGram { window: 1, subsample: 0.0, seed: 1 };
/// // window 1, nothing discarded: every neighbouring pair, both ways.
/// assert_eq!(sg.pairs(&c, 0).as_slice().len(), 8);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct SkipGram {
    /// The largest window (words on each side).
    pub window: usize,
    /// The sub-sampling threshold `t` (word2vec's `-sample`); 0 keeps every word.
    pub subsample: f64,
    /// Seed of the sub-sampling and window draws.
    pub seed: u64,
}

impl Default for SkipGram {
    /// word2vec's defaults: window 5, `t = 1e-3`, seed 0.
    fn default() -> Self {
        SkipGram {
            window: 5,
            subsample: 1e-3,
            seed: 0,
        }
    }
}

impl SkipGram {
    /// The probability that one occurrence of `id` survives sub-sampling in
    /// a corpus with vocabulary `vocab`.
    pub fn keep_probability(&self, vocab: &Vocab, id: u32) -> f64 {
        let (c, total) = (vocab.count(id) as f64, vocab.total() as f64);
        if self.subsample <= 0.0 || c == 0.0 {
            return 1.0;
        }
        let f = c / total;
        ((f / self.subsample).sqrt() + 1.0) * self.subsample / f
    }

    /// The sentences of `corpus` after `epoch`'s sub-sampling draw (same
    /// vocabulary and counts; sentences left empty are dropped).
    pub fn subsampled(&self, corpus: &Corpus, epoch: u64) -> Corpus {
        let vocab = corpus.vocab();
        let keep: Vec<f64> = (0..vocab.len() as u32)
            .map(|w| self.keep_probability(vocab, w))
            .collect();
        let mut rng = self.rng(epoch, 1);
        let mut out = Corpus {
            vocab: vocab.clone(),
            tokens: Vec::with_capacity(corpus.n_tokens()),
            offsets: vec![0],
        };
        for s in 0..corpus.n_sentences() {
            for &w in corpus.sentence(s) {
                let p = keep[w as usize];
                if p >= 1.0 || rng.random::<f64>() < p {
                    out.tokens.push(w);
                }
            }
            if out.tokens.len() > *out.offsets.last().expect("starts at 0") {
                out.offsets.push(out.tokens.len());
            }
        }
        out
    }

    fn rng(&self, epoch: u64, stream: u64) -> Xoshiro256PlusPlus {
        let key = self.seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03);
        Xoshiro256PlusPlus::seed_from_u64(key)
    }

    /// Checks the parameters against `corpus` and returns the most pairs one
    /// epoch can produce: `Σ len · min(2 · window, len − 1)` over its
    /// sentences (reached with no sub-sampling when every drawn window is
    /// the largest). Call it before [`pairs`](Self::pairs), which trusts it.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when `window` is outside
    /// `1..=`[`MAX_WINDOW`](crate::limits::MAX_WINDOW), `subsample` is not
    /// finite and non-negative, or the bound does not fit in a [`Pair`]'s
    /// `u32` index; [`Error::OutOfMemory`] when that many pairs (8 bytes each)
    /// would not fit in memory.
    ///
    /// ```
    /// use wildsgd::data::{Corpus, SkipGram};
    ///
    /// let c = Corpus::from_text("a b c d e\nf g\n", 1).unwrap();
    /// let sg = SkipGram { window: 1, subsample: 0.0, seed: 1 };
    /// assert_eq!(sg.check(&c).unwrap(), 5 * 2 + 2 * 1);
    /// let e = SkipGram { window: 1_000_000_000_000, ..sg }.check(&c).unwrap_err();
    /// assert!(e.to_string().starts_with("invalid window: 1000000000000 is beyond"), "{e}");
    /// ```
    pub fn check(&self, corpus: &Corpus) -> Result<u64, Error> {
        use crate::limits::{self, MAX_WINDOW};
        if !(1..=MAX_WINDOW).contains(&self.window) {
            return Err(Error::InvalidParameter {
                name: "window",
                reason: format!(
                    "{} is beyond the limit: the window (words on each side) must be in 1..={MAX_WINDOW}",
                    self.window
                ),
            });
        }
        if !(self.subsample.is_finite() && self.subsample >= 0.0) {
            return Err(Error::InvalidParameter {
                name: "subsample",
                reason: format!("must be finite and >= 0, got {}", self.subsample),
            });
        }
        let bound = pair_bound(corpus, self.window);
        if bound > u64::from(u32::MAX) {
            return Err(Error::InvalidParameter {
                name: "window",
                reason: format!(
                    "with window {}, one epoch of the corpus ({} words in {} sentences) could make up to {bound} skip-gram pairs, more than the {} a pair's index (u32) can number: use a smaller window or a smaller corpus",
                    self.window,
                    corpus.n_tokens(),
                    corpus.n_sentences(),
                    u32::MAX
                ),
            });
        }
        limits::check_memory(
            format_args!("the skip-gram pairs of one epoch (up to {bound})"),
            limits::bytes(bound, 8),
        )?;
        Ok(bound)
    }

    /// The skip-gram pairs `(word, context)` of `corpus` for `epoch`: those
    /// of the dynamic windows over [`subsampled`](Self::subsampled)`(corpus, epoch)`.
    ///
    /// It never overflows, whatever the window, but it does not check its
    /// parameters ([`check`](Self::check) does, and bounds the memory the
    /// pairs take; [`try_pairs`](Self::try_pairs) checks, then makes them).
    /// A `window` of 0 is taken as 1. The pairs are empty when no sentence
    /// keeps two words: [`try_pairs`](Self::try_pairs) says why.
    pub fn pairs(&self, corpus: &Corpus, epoch: u64) -> Pairs {
        let kept = self.subsampled(corpus, epoch);
        let mut rng = self.rng(epoch, 2);
        let window = self.window.max(1);
        // The bound of `check`, or the expected count if smaller (a dynamic
        // window averages about window / 2 words on each side).
        let expected = (kept.n_tokens() as u64).saturating_mul(window as u64);
        let reserve = pair_bound(&kept, window).min(expected);
        let mut out = Vec::new();
        // Too large to reserve: grow as the pairs come (`check` bounds them).
        let _ = out.try_reserve_exact(usize::try_from(reserve).unwrap_or(usize::MAX));
        for s in 0..kept.n_sentences() {
            let sent = kept.sentence(s);
            for (i, &w) in sent.iter().enumerate() {
                let b = rng.random_range(1..=window);
                let (lo, hi) = (i.saturating_sub(b), i.saturating_add(b).min(sent.len() - 1));
                for (j, &c) in sent.iter().enumerate().take(hi + 1).skip(lo) {
                    if j != i {
                        out.push((w, c));
                    }
                }
            }
        }
        Pairs::new(out)
    }

    /// [`check`](Self::check), then [`pairs`](Self::pairs), with an error
    /// that says why when the epoch has no pairs at all. The two causes are
    /// told apart by the error's parameter name:
    ///
    /// * `corpus`: no sentence of `corpus` has two in-vocabulary words
    ///   (every epoch is empty, whatever the sub-sampling);
    /// * `subsample`: sentences with two words exist, but this epoch's
    ///   sub-sampling discarded words until none was left with two.
    ///
    /// ```
    /// use wildsgd::data::{Corpus, SkipGram};
    /// use wildsgd::Error;
    ///
    /// let sg = SkipGram { window: 2, subsample: 0.0, seed: 1 };
    /// let one_word_lines = Corpus::from_text("a\nb\na\n", 1).unwrap();
    /// let e = sg.try_pairs(&one_word_lines, 0).unwrap_err();
    /// assert!(matches!(e, Error::InvalidParameter { name: "corpus", .. }), "{e}");
    /// let c = Corpus::from_text(&"the the\n".repeat(100), 1).unwrap();
    /// let e = SkipGram { subsample: 1e-9, ..sg }.try_pairs(&c, 0).unwrap_err();
    /// assert!(matches!(e, Error::InvalidParameter { name: "subsample", .. }), "{e}");
    /// assert_eq!(sg.try_pairs(&c, 0).unwrap().as_slice().len(), 200);
    /// ```
    pub fn try_pairs(&self, corpus: &Corpus, epoch: u64) -> Result<Pairs, Error> {
        if self.check(corpus)? == 0 {
            return Err(Error::InvalidParameter {
                name: "corpus",
                reason: format!(
                    "no sentence has two in-vocabulary words ({} words in {} sentences), so there are no skip-gram pairs",
                    corpus.n_tokens(),
                    corpus.n_sentences()
                ),
            });
        }
        let pairs = self.pairs(corpus, epoch);
        if pairs.as_slice().is_empty() {
            let kept = self.subsampled(corpus, epoch).n_tokens();
            return Err(Error::InvalidParameter {
                name: "subsample",
                reason: format!(
                    "sub-sampling with threshold {} kept {kept} of the corpus's {} words in epoch {epoch}, no two of them in one sentence, so there are no skip-gram pairs: use a larger threshold, or 0 to keep every word",
                    self.subsample,
                    corpus.n_tokens()
                ),
            });
        }
        Ok(pairs)
    }
}

/// `Σ len · min(2 · window, len − 1)` over the sentences of `corpus`,
/// saturating: the most pairs windows of at most `window` words a side make.
fn pair_bound(corpus: &Corpus, window: usize) -> u64 {
    let side = (window as u64).saturating_mul(2);
    (0..corpus.n_sentences())
        .map(|s| {
            let len = corpus.sentence(s).len() as u64;
            len.saturating_mul(side.min(len.saturating_sub(1)))
        })
        .fold(0u64, u64::saturating_add)
}

/// One training sample of [`Sgns`](crate::model::Sgns): a (source, target)
/// pair. The model derives its negatives from the pair and the
/// [`Step`](crate::model::Step) it is trained at (epoch and row).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pair {
    /// The source (word, or node).
    pub source: u32,
    /// The target (context word, or neighbour).
    pub target: u32,
}

/// A dataset of (source, target) pairs: skip-gram pairs of a text or the
/// edges of a graph. Its samples are [`Pair`]s.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pairs {
    pairs: Vec<(u32, u32)>,
}

impl Pairs {
    /// The pairs `(source, target)`. Training orders are `u32`s: use at
    /// most `u32::MAX` pairs ([`SkipGram::check`] bounds a corpus's).
    pub fn new(pairs: Vec<(u32, u32)>) -> Pairs {
        Pairs { pairs }
    }

    /// A graph's edges in both directions (`u → v` and `v → u`), as LINE's
    /// first-order objective on an undirected graph uses them.
    pub fn from_graph(graph: &Graph) -> Pairs {
        Pairs::new(graph.edges.iter().flat_map(|&(u, v)| [(u, v), (v, u)]).collect())
    }

    /// The pairs.
    pub fn as_slice(&self) -> &[(u32, u32)] {
        &self.pairs
    }

    /// How often each id `0..n` occurs as a target: the counts to build a
    /// negative-sampling table from (node degrees, for a graph). Ids `>= n`
    /// are ignored.
    pub fn target_counts(&self, n: usize) -> Vec<u64> {
        let mut c = vec![0u64; n];
        for &(_, t) in &self.pairs {
            if let Some(x) = c.get_mut(t as usize) {
                *x += 1;
            }
        }
        c
    }
}

impl Dataset for Pairs {
    type Sample<'a> = Pair;

    fn len(&self) -> usize {
        self.pairs.len()
    }

    #[inline]
    fn sample(&self, i: usize) -> Pair {
        let (source, target) = self.pairs[i];
        Pair { source, target }
    }

    fn gather(&self, rows: &[u32]) -> Option<Box<Self>> {
        Some(Box::new(Pairs {
            pairs: rows.iter().map(|&i| self.pairs[i as usize]).collect(),
        }))
    }

    fn sample_bytes(&self) -> usize {
        8
    }

    #[inline]
    fn prefetch(&self, i: usize) {
        crate::prefetch::read(&self.pairs[i]);
    }
}
