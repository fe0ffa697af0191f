//! Evaluation metrics, in one place for the library, its examples and the
//! `wildsgd` binary: [`auc`], the area under the ROC curve of scores, and
//! [`Confusion`], a multiclass confusion matrix.
//!
//! ```
//! use wildsgd::metrics::{auc, Confusion};
//!
//! // Positives mostly score above negatives: 5 of the 6 comparisons are won.
//! assert_eq!(auc(&[0.9, 0.4], &[0.1, 0.2, 0.5]), Some(5.0 / 6.0));
//! // Undefined without both classes.
//! assert_eq!(auc(&[0.9], &[]), None);
//!
//! let m = Confusion::from_counts(2, vec![3, 1, 0, 2])?;
//! assert!((m.accuracy() - 5.0 / 6.0).abs() < 1e-12);
//! # Ok::<(), wildsgd::Error>(())
//! ```

use std::fmt;

use crate::error::Error;

/// The area under the ROC curve: the probability that a random positive
/// scores above a random negative, ties counting one half (the
/// Mann–Whitney U statistic over `|pos|·|neg|`, from mid-ranks, in
/// `O((p + n) log(p + n))`). `None` when either side is empty: the AUC is
/// undefined without both classes.
///
/// NaN scores never stall or poison it: every NaN (any sign or payload)
/// ranks *above* every number, `+∞` included, and ties with the other NaNs —
/// a tie group of its own. (The `wildsgd` binary's AUC has always ranked
/// `f32::NAN` so.)
///
/// ```
/// use wildsgd::metrics::auc;
/// assert_eq!(auc(&[0.9, 0.8], &[0.1, 0.2]), Some(1.0));
/// assert_eq!(auc(&[0.5], &[0.5]), Some(0.5));
/// assert_eq!(auc(&[0.1, 0.9], &[0.5]), Some(0.5));
/// assert_eq!(auc(&[], &[0.5]), None);
/// // A NaN positive ties with the NaN negative and beats 0.1.
/// assert_eq!(auc(&[f32::NAN], &[0.1, f32::NAN]), Some(0.75));
/// ```
pub fn auc(positive: &[f32], negative: &[f32]) -> Option<f64> {
    if positive.is_empty() || negative.is_empty() {
        return None;
    }
    // One NaN for all of them, ranking above +inf under `total_cmp`.
    let key = |x: f32| if x.is_nan() { f32::NAN.abs() } else { x };
    let mut all: Vec<(f32, bool)> = positive
        .iter()
        .map(|&x| (key(x), true))
        .chain(negative.iter().map(|&x| (key(x), false)))
        .collect();
    all.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    // Sum of the positives' (mid-)ranks, ranks from 1. Groups by total
    // order, so NaN equals NaN and the loop always advances.
    let (mut rank_sum, mut i) = (0.0f64, 0);
    while i < all.len() {
        let mut j = i;
        while j < all.len() && all[j].0.total_cmp(&all[i].0).is_eq() {
            j += 1;
        }
        let mid = (i + 1 + j) as f64 / 2.0;
        rank_sum += mid * all[i..j].iter().filter(|e| e.1).count() as f64;
        i = j;
    }
    let (p, n) = (positive.len() as f64, negative.len() as f64);
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// A confusion matrix: how many rows of each true class were predicted as
/// each class. Made by [`Softmax::confusion`](crate::Softmax::confusion).
///
/// ```
/// use wildsgd::metrics::Confusion;
///
/// // 2 classes; class 0: 3 right, 1 predicted as class 1; class 1: 2 right.
/// let m = Confusion::from_counts(2, vec![3, 1, 0, 2]).unwrap();
/// assert_eq!(m.total(), 6);
/// assert!((m.accuracy() - 5.0 / 6.0).abs() < 1e-12);
/// assert_eq!(m.recall(0), Some(0.75));
/// assert_eq!(m.get(0, 1), 1);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Confusion {
    n_classes: usize,
    /// `counts[truth * C + predicted]`.
    counts: Vec<u64>,
}

impl Confusion {
    /// A matrix from row-major counts (`counts[truth * C + predicted]`).
    pub fn from_counts(n_classes: usize, counts: Vec<u64>) -> Result<Self, Error> {
        if counts.len() != n_classes * n_classes {
            return Err(Error::LengthMismatch {
                what: "confusion counts",
                expected: n_classes * n_classes,
                found: counts.len(),
            });
        }
        Ok(Confusion { n_classes, counts })
    }

    /// The number of classes.
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// Rows of true class `truth` predicted as `predicted`.
    pub fn get(&self, truth: usize, predicted: usize) -> u64 {
        self.counts[truth * self.n_classes + predicted]
    }

    /// All rows counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Rows predicted correctly.
    pub fn correct(&self) -> u64 {
        (0..self.n_classes).map(|c| self.get(c, c)).sum()
    }

    /// The fraction of rows predicted correctly (0 when there are none).
    pub fn accuracy(&self) -> f64 {
        let total = self.total();
        if total == 0 {
            0.0
        } else {
            self.correct() as f64 / total as f64
        }
    }

    /// The per-class accuracy (recall) of class `c`: the fraction of its rows
    /// predicted as `c`; `None` when it has no rows.
    pub fn recall(&self, c: usize) -> Option<f64> {
        let row = &self.counts[c * self.n_classes..(c + 1) * self.n_classes];
        let n: u64 = row.iter().sum();
        (n > 0).then(|| row[c] as f64 / n as f64)
    }
}

impl fmt::Display for Confusion {
    /// The matrix (rows: true class, columns: predicted) with each class's
    /// recall, then the overall accuracy.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:>6}", "true\\p")?;
        for c in 0..self.n_classes {
            write!(f, " {c:>6}")?;
        }
        writeln!(f, " {:>7}", "recall")?;
        for t in 0..self.n_classes {
            write!(f, "{t:>6}")?;
            for p in 0..self.n_classes {
                write!(f, " {:>6}", self.get(t, p))?;
            }
            match self.recall(t) {
                Some(r) => writeln!(f, " {:>7.4}", r)?,
                None => writeln!(f, " {:>7}", "-")?,
            }
        }
        write!(
            f,
            "accuracy {:.4} ({} of {})",
            self.accuracy(),
            self.correct(),
            self.total()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_matches_the_pairwise_count() {
        let pos = [0.3, 0.7, 0.7, f32::NAN, -1.0];
        let neg = [0.7, 0.1, f32::NAN, f32::INFINITY, 0.3, -f32::NAN];
        let key = |x: f32| if x.is_nan() { f32::INFINITY } else { x };
        let mut wins = 0.0;
        for &a in &pos {
            for &b in &neg {
                let (a, b, an, bn) = (key(a), key(b), a.is_nan(), b.is_nan());
                wins += match (an, bn) {
                    (true, true) => 0.5,
                    (true, false) => 1.0,
                    (false, true) => 0.0,
                    _ if a > b => 1.0,
                    _ if a == b => 0.5,
                    _ => 0.0,
                };
            }
        }
        let expected = wins / (pos.len() * neg.len()) as f64;
        assert!((auc(&pos, &neg).unwrap() - expected).abs() < 1e-12);
        assert_eq!(auc(&[0.9, 0.1], &[]), None);
    }
}
