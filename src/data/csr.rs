use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::Dataset;
use crate::error::Error;

/// One row of a [`CsrDataset`]: sparse features and a label.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SparseRow<'a> {
    /// Feature indices, strictly increasing.
    pub indices: &'a [u32],
    /// The value of each feature in `indices`.
    pub values: &'a [f32],
    /// The target: ±1 for binary classification, any real for regression.
    pub label: f32,
}

/// An in-memory sparse dataset in compressed-sparse-row form: `u32` feature
/// indices and `f32` values, with one label per row.
///
/// ```
/// use wildsgd::data::{CsrDataset, Dataset};
///
/// let mut d = CsrDataset::new(10);
/// d.push(&[1, 4], &[0.5, 2.0], 1.0).unwrap();
/// d.push(&[9], &[1.0], -1.0).unwrap();
/// assert_eq!(d.len(), 2);
/// assert_eq!(d.sample(1).indices, &[9]);
/// assert!(d.push(&[3, 2], &[1.0, 1.0], 1.0).is_err()); // indices must increase
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CsrDataset {
    indptr: Vec<usize>,
    indices: Vec<u32>,
    values: Vec<f32>,
    labels: Vec<f32>,
    n_features: usize,
}

impl CsrDataset {
    /// An empty dataset whose rows may use features `0..n_features`.
    pub fn new(n_features: usize) -> Self {
        CsrDataset {
            indptr: vec![0],
            n_features,
            ..Default::default()
        }
    }

    /// Appends a row. Indices must be strictly increasing and below
    /// [`n_features`](Self::n_features); values and the label must be finite.
    pub fn push(&mut self, indices: &[u32], values: &[f32], label: f32) -> Result<(), Error> {
        let row = self.len();
        check_row(row, indices, values, label, self.n_features)?;
        self.indices.extend_from_slice(indices);
        self.values.extend_from_slice(values);
        self.labels.push(label);
        self.indptr.push(self.indices.len());
        Ok(())
    }

    /// Builds a dataset from raw CSR arrays, checking every row.
    pub fn from_parts(
        indptr: Vec<usize>,
        indices: Vec<u32>,
        values: Vec<f32>,
        labels: Vec<f32>,
        n_features: usize,
    ) -> Result<Self, Error> {
        let structural = |reason: String| Error::InvalidSample { row: 0, reason };
        if indptr.first() != Some(&0) || indptr.len() != labels.len() + 1 {
            return Err(structural(format!(
                "indptr must start at 0 and have {} entries (rows + 1), has {}",
                labels.len() + 1,
                indptr.len()
            )));
        }
        if indices.len() != values.len() || indptr.last() != Some(&indices.len()) {
            return Err(structural(format!(
                "indptr ends at {:?} but there are {} indices and {} values",
                indptr.last(),
                indices.len(),
                values.len()
            )));
        }
        for (row, w) in indptr.windows(2).enumerate() {
            if w[0] > w[1] {
                return Err(Error::InvalidSample {
                    row,
                    reason: "indptr decreases".into(),
                });
            }
            let r = w[0]..w[1];
            check_row(row, &indices[r.clone()], &values[r], labels[row], n_features)?;
        }
        Ok(CsrDataset {
            indptr,
            indices,
            values,
            labels,
            n_features,
        })
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The number of features rows may use.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Lets rows use features up to `n_features` (no narrower than now: a
    /// narrower width could cut off stored features).
    ///
    /// ```
    /// let mut d = wildsgd::data::CsrDataset::new(3);
    /// d.widen(10).unwrap();
    /// assert_eq!(d.n_features(), 10);
    /// assert!(d.widen(2).is_err());
    /// ```
    pub fn widen(&mut self, n_features: usize) -> Result<(), Error> {
        if n_features < self.n_features {
            return Err(Error::InvalidParameter {
                name: "n_features",
                reason: format!("{n_features} is narrower than the data's {}", self.n_features),
            });
        }
        self.n_features = n_features;
        Ok(())
    }

    /// The number of stored nonzeros.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// Row `i`.
    #[inline]
    pub fn row(&self, i: usize) -> SparseRow<'_> {
        let r = self.indptr[i]..self.indptr[i + 1];
        SparseRow {
            indices: &self.indices[r.clone()],
            values: &self.values[r],
            label: self.labels[i],
        }
    }

    /// Removes every row, keeping the width and the allocations.
    pub(crate) fn clear(&mut self) {
        self.indptr.clear();
        self.indptr.push(0);
        self.indices.clear();
        self.values.clear();
        self.labels.clear();
    }

    /// Appends `rows` rows holding `nnz` values that `fill` writes: their
    /// lengths (scratch space `row_nnz`, at least `rows` long), labels,
    /// indices and values. Then checks what a step relies on (indices
    /// increasing within a row and below the width, every value finite):
    /// data read back from a spill file, which a disk can corrupt. On an
    /// error the dataset is as before.
    pub(crate) fn append_filled<E>(
        &mut self,
        rows: usize,
        nnz: usize,
        row_nnz: &mut Vec<u32>,
        fill: impl FnOnce(&mut [u32], &mut [f32], &mut [u32], &mut [f32]) -> Result<(), E>,
    ) -> Result<Result<(), String>, E> {
        let (r0, z0) = (self.labels.len(), self.indices.len());
        row_nnz.resize(rows, 0);
        self.labels.resize(r0 + rows, 0.0);
        self.indices.resize(z0 + nnz, 0);
        self.values.resize(z0 + nnz, 0.0);
        let undo = |s: &mut Self| {
            s.indptr.truncate(r0 + 1);
            s.indices.truncate(z0);
            s.values.truncate(z0);
            s.labels.truncate(r0);
        };
        if let Err(e) = fill(
            row_nnz,
            &mut self.labels[r0..],
            &mut self.indices[z0..],
            &mut self.values[z0..],
        ) {
            undo(self);
            return Err(e);
        }
        let width = self.n_features;
        let mut at = z0;
        let mut bad = None;
        for &k in row_nnz.iter() {
            let end = at + k as usize;
            if end > self.indices.len() {
                bad = Some("row lengths beyond the values");
                break;
            }
            let ix = &self.indices[at..end];
            if ix.windows(2).any(|w| w[0] >= w[1]) || ix.last().is_some_and(|&j| j as usize >= width) {
                bad = Some("a row's indices are not increasing within the width");
                break;
            }
            at = end;
            self.indptr.push(at);
        }
        if bad.is_none() && at != self.indices.len() {
            bad = Some("row lengths do not match the values");
        }
        if bad.is_none()
            && !self.values[z0..]
                .iter()
                .chain(&self.labels[r0..])
                .all(|v| v.is_finite())
        {
            bad = Some("a value is not finite");
        }
        if let Some(why) = bad {
            undo(self);
            return Ok(Err(why.to_string()));
        }
        Ok(Ok(()))
    }

    /// Every row's label.
    pub fn labels(&self) -> &[f32] {
        &self.labels
    }

    /// Replaces every label (the generator decides them after the rows).
    pub(crate) fn set_labels(&mut self, labels: Vec<f32>) {
        assert_eq!(labels.len(), self.labels.len());
        self.labels = labels;
    }

    /// The rows at `rows`, in that order, as a new dataset.
    pub fn subset(&self, rows: &[usize]) -> CsrDataset {
        let mut out = CsrDataset::new(self.n_features);
        out.reserve(
            rows.len(),
            rows.iter().map(|&i| self.indptr[i + 1] - self.indptr[i]).sum(),
        );
        for &i in rows {
            let r = self.row(i);
            out.indices.extend_from_slice(r.indices);
            out.values.extend_from_slice(r.values);
            out.labels.push(r.label);
            out.indptr.push(out.indices.len());
        }
        out
    }

    /// The rows at `rows` (`u32` positions), in that order, as a new
    /// dataset: [`subset`](Self::subset) for a trainer's once-per-run
    /// shuffle. Each array is built in turn, so the peak is the data plus
    /// one array of the copy, not twice the data, where the caller drops
    /// the original right after.
    ///
    /// # Panics
    /// If a row is out of range.
    pub fn gather_rows(&self, rows: &[u32]) -> CsrDataset {
        let mut indptr = Vec::with_capacity(rows.len() + 1);
        indptr.push(0);
        let mut end = 0;
        for &i in rows {
            let i = i as usize;
            end += self.indptr[i + 1] - self.indptr[i];
            indptr.push(end);
        }
        let mut indices = Vec::with_capacity(end);
        let mut values = Vec::with_capacity(end);
        for &i in rows {
            let r = self.indptr[i as usize]..self.indptr[i as usize + 1];
            indices.extend_from_slice(&self.indices[r.clone()]);
            values.extend_from_slice(&self.values[r]);
        }
        CsrDataset {
            indptr,
            indices,
            values,
            labels: rows.iter().map(|&i| self.labels[i as usize]).collect(),
            n_features: self.n_features,
        }
    }

    /// Replaces `out`'s rows with the rows `rows` of `self`, in that
    /// order, reusing `out`'s allocations (a streamed window's physical
    /// shuffle).
    pub(crate) fn gather_into(&self, rows: &[u32], out: &mut CsrDataset) {
        out.clear();
        out.n_features = self.n_features;
        for &i in rows {
            let r = self.indptr[i as usize]..self.indptr[i as usize + 1];
            out.indices.extend_from_slice(&self.indices[r.clone()]);
            out.values.extend_from_slice(&self.values[r]);
            out.labels.push(self.labels[i as usize]);
            out.indptr.push(out.indices.len());
        }
    }

    /// Reserves room for `rows` more rows holding `nnz` more nonzeros.
    pub fn reserve(&mut self, rows: usize, nnz: usize) {
        self.indptr.reserve_exact(rows);
        self.labels.reserve_exact(rows);
        self.indices.reserve_exact(nnz);
        self.values.reserve_exact(nnz);
    }

    /// Appends every row of `other` (which must have the same
    /// [`n_features`](Self::n_features)).
    ///
    /// # Panics
    /// If the feature counts differ.
    pub fn append(&mut self, other: &CsrDataset) {
        assert_eq!(
            self.n_features, other.n_features,
            "appending a dataset of another width"
        );
        let base = self.indices.len();
        self.indices.extend_from_slice(&other.indices);
        self.values.extend_from_slice(&other.values);
        self.labels.extend_from_slice(&other.labels);
        self.indptr.extend(other.indptr[1..].iter().map(|p| p + base));
    }

    /// Splits into (train, validation) by a seeded shuffle: `valid_fraction`
    /// of the rows (rounded down) go to validation.
    pub fn split(&self, valid_fraction: f64, seed: u64) -> Result<(CsrDataset, CsrDataset), Error> {
        if !(0.0..1.0).contains(&valid_fraction) {
            return Err(Error::InvalidParameter {
                name: "valid_fraction",
                reason: format!("must be in [0, 1), got {valid_fraction}"),
            });
        }
        let mut rows: Vec<usize> = (0..self.len()).collect();
        rows.shuffle(&mut Xoshiro256PlusPlus::seed_from_u64(seed));
        let n_valid = (self.len() as f64 * valid_fraction) as usize;
        let (valid, train) = rows.split_at(n_valid);
        Ok((self.subset(train), self.subset(valid)))
    }

    /// For each feature, the number of rows in which it occurs (its document
    /// frequency).
    pub fn feature_counts(&self) -> Vec<u32> {
        let mut df = vec![0u32; self.n_features];
        for &j in &self.indices {
            df[j as usize] += 1;
        }
        df
    }

    /// For each of the first `width` features, `n / df_j`:
    /// the number of rows over the feature's document frequency, 0 for a
    /// feature that never occurs. A lazily applied L2 step scaled by it
    /// shrinks each weight, in expectation over an epoch, by exactly the
    /// `λ w_j` of the penalty `λ/2 ‖w‖²` — the scaling of the Hogwild!
    /// paper, shared by the built-in sparse models.
    pub fn inverse_document_frequencies(&self, width: usize) -> Vec<f32> {
        let n = self.len() as f32;
        let mut df = self.feature_counts();
        df.resize(width, 0);
        df.iter().map(|&c| if c == 0 { 0.0 } else { n / c as f32 }).collect()
    }

    /// For each of the first `width` features, `1 / max |x_j|` over the
    /// rows: the inverse of the feature's scale, which the adaptive update
    /// ([`Update::Adaptive`](crate::model::Update)) normalises by; 0 for a
    /// feature that never occurs with a nonzero value.
    ///
    /// ```
    /// use wildsgd::data::CsrDataset;
    ///
    /// let mut d = CsrDataset::new(3);
    /// d.push(&[0, 2], &[4.0, -0.5], 1.0).unwrap();
    /// d.push(&[0], &[-8.0], -1.0).unwrap();
    /// assert_eq!(d.inverse_scales(4), vec![0.125, 0.0, 2.0, 0.0]);
    /// ```
    pub fn inverse_scales(&self, width: usize) -> Vec<f32> {
        let mut max = vec![0.0f32; width.max(self.n_features)];
        for (&j, &v) in self.indices.iter().zip(&self.values) {
            let m = &mut max[j as usize];
            *m = m.max(v.abs());
        }
        max.truncate(width);
        // A subnormal scale's inverse overflows to infinity: the models'
        // validate() refuses it, naming the feature.
        max.iter().map(|&m| if m > 0.0 { 1.0 / m } else { 0.0 }).collect()
    }

    /// The per-feature statistics the built-in models scale their updates
    /// by, for the first `width` features: what a data-parallel job's ranks
    /// combine ([`cluster::agree_features`](crate::cluster::agree_features))
    /// so that every rank's model is the one the whole data would give.
    ///
    /// ```
    /// use wildsgd::data::CsrDataset;
    ///
    /// let mut d = CsrDataset::new(3);
    /// d.push(&[0, 2], &[4.0, -0.5], 1.0).unwrap();
    /// d.push(&[0], &[-8.0], -1.0).unwrap();
    /// let s = d.feature_stats(4);
    /// assert_eq!(s.inverse_scales(), d.inverse_scales(4));
    /// assert_eq!(s.inverse_document_frequencies(), d.inverse_document_frequencies(4));
    /// ```
    pub fn feature_stats(&self, width: usize) -> FeatureStats {
        let mut counts = vec![0.0f64; width];
        let mut max_abs = vec![0.0f32; width];
        for (&j, &v) in self.indices.iter().zip(&self.values) {
            if let (Some(c), Some(m)) = (counts.get_mut(j as usize), max_abs.get_mut(j as usize)) {
                *c += 1.0;
                *m = m.max(v.abs());
            }
        }
        FeatureStats {
            rows: self.len() as f64,
            counts,
            max_abs,
        }
    }

    /// The sum over rows of `Σ_j |x_j| · inv_scale[j]`: the adaptive
    /// update's mean normalised norm times the rows.
    pub fn normalised_norm_sum(&self, inv_scale: &[f32]) -> f64 {
        crate::model::adaptive_norm_sum(self, inv_scale)
    }

    /// Bytes of memory the dataset's arrays hold.
    pub fn heap_bytes(&self) -> usize {
        self.indptr.capacity() * std::mem::size_of::<usize>()
            + self.indices.capacity() * 4
            + self.values.capacity() * 4
            + self.labels.capacity() * 4
    }
}

fn check_row(row: usize, indices: &[u32], values: &[f32], label: f32, n_features: usize) -> Result<(), Error> {
    let bad = |reason: String| Err(Error::InvalidSample { row, reason });
    if indices.len() != values.len() {
        return bad(format!("{} indices but {} values", indices.len(), values.len()));
    }
    if !label.is_finite() {
        return bad(format!("label {label} is not finite"));
    }
    for (k, (&j, &v)) in indices.iter().zip(values).enumerate() {
        if j as usize >= n_features {
            return Err(Error::FeatureOutOfRange {
                row,
                index: j as usize,
                dim: n_features,
            });
        }
        if k > 0 && indices[k - 1] >= j {
            return bad(format!(
                "indices not strictly increasing at position {k} ({} then {j})",
                indices[k - 1]
            ));
        }
        if !v.is_finite() {
            return bad(format!("value {v} of feature {j} is not finite"));
        }
    }
    Ok(())
}

impl Dataset for CsrDataset {
    type Sample<'a> = SparseRow<'a>;

    fn len(&self) -> usize {
        CsrDataset::len(self)
    }

    #[inline]
    fn sample(&self, i: usize) -> SparseRow<'_> {
        self.row(i)
    }

    fn gather(&self, rows: &[u32]) -> Option<Box<Self>> {
        Some(Box::new(self.gather_rows(rows)))
    }

    fn sample_bytes(&self) -> usize {
        // The indices and values of a mean row, its label and its indptr entry.
        (8 * self.nnz()).div_ceil(self.len().max(1)) + 4 + std::mem::size_of::<usize>()
    }

    #[inline]
    fn prefetch(&self, i: usize) {
        let r = self.indptr[i]..self.indptr[i + 1];
        // Eight lines of each: a 128-nonzero row, beyond which the hardware
        // prefetcher has caught the stream.
        crate::prefetch::read_slice(&self.indices[r.clone()], 8);
        crate::prefetch::read_slice(&self.values[r], 8);
        crate::prefetch::read(&self.labels[i]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> CsrDataset {
        let mut d = CsrDataset::new(5);
        d.push(&[0, 2], &[1.0, 2.0], 1.0).unwrap();
        d.push(&[], &[], -1.0).unwrap();
        d.push(&[2, 4], &[3.0, 4.0], -1.0).unwrap();
        d
    }

    #[test]
    fn rows_and_counts() {
        let d = small();
        assert_eq!(d.len(), 3);
        assert_eq!(d.nnz(), 4);
        assert_eq!(d.row(2).values, &[3.0, 4.0]);
        assert!(d.row(1).indices.is_empty());
        assert_eq!(d.feature_counts(), vec![1, 0, 2, 0, 1]);
        assert!(d.heap_bytes() >= 4 * 4 * 2);
    }

    #[test]
    fn push_rejects_bad_rows() {
        let mut d = CsrDataset::new(3);
        let e = d.push(&[3], &[1.0], 1.0).unwrap_err();
        assert!(
            matches!(
                e,
                Error::FeatureOutOfRange {
                    row: 0,
                    index: 3,
                    dim: 3
                }
            ),
            "{e}"
        );
        assert!(d
            .push(&[0], &[f32::NAN], 1.0)
            .unwrap_err()
            .to_string()
            .contains("not finite"));
        assert!(d
            .push(&[0, 1], &[1.0], 1.0)
            .unwrap_err()
            .to_string()
            .contains("2 indices but 1 values"));
        assert!(d.push(&[1, 1], &[1.0, 1.0], 1.0).is_err());
        assert!(d.push(&[0], &[1.0], f32::INFINITY).is_err());
        assert_eq!(d.len(), 0, "rejected rows are not added");
    }

    #[test]
    fn from_parts_round_trips_and_checks() {
        let d = small();
        let again = CsrDataset::from_parts(
            d.indptr.clone(),
            d.indices.clone(),
            d.values.clone(),
            d.labels.clone(),
            5,
        )
        .unwrap();
        assert_eq!(again, d);
        assert!(CsrDataset::from_parts(vec![0, 1], vec![7], vec![1.0], vec![1.0], 5).is_err());
        assert!(CsrDataset::from_parts(vec![1], vec![], vec![], vec![], 5).is_err());
        assert!(CsrDataset::from_parts(vec![0, 2, 1], vec![0, 1], vec![1.0, 1.0], vec![1.0, 1.0], 5).is_err());
    }

    #[test]
    fn split_is_seeded_and_complete() {
        let mut d = CsrDataset::new(1);
        for i in 0..100 {
            d.push(&[0], &[i as f32], 1.0).unwrap();
        }
        let (t1, v1) = d.split(0.2, 7).unwrap();
        let (t2, v2) = d.split(0.2, 7).unwrap();
        let (_, v3) = d.split(0.2, 8).unwrap();
        assert_eq!((t1.len(), v1.len()), (80, 20));
        assert_eq!(v1, v2);
        assert_eq!(t1, t2);
        assert_ne!(v1, v3);
        let mut all: Vec<f32> = t1.values.iter().chain(&v1.values).copied().collect();
        all.sort_by(f32::total_cmp);
        assert_eq!(all, (0..100).map(|i| i as f32).collect::<Vec<_>>());
        assert!(d.split(1.0, 0).is_err());
    }
}

/// Per-feature counts and scales of some rows: see
/// [`CsrDataset::feature_stats`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FeatureStats {
    /// Rows counted.
    pub rows: f64,
    /// Rows in which each feature occurs (its document frequency).
    pub counts: Vec<f64>,
    /// The largest `|x_j|` of each feature.
    pub max_abs: Vec<f32>,
}

impl FeatureStats {
    /// As [`CsrDataset::inverse_document_frequencies`].
    pub fn inverse_document_frequencies(&self) -> Vec<f32> {
        let n = self.rows as f32;
        self.counts
            .iter()
            .map(|&c| if c == 0.0 { 0.0 } else { n / c as f32 })
            .collect()
    }

    /// As [`CsrDataset::inverse_scales`].
    pub fn inverse_scales(&self) -> Vec<f32> {
        self.max_abs
            .iter()
            .map(|&m| if m > 0.0 { 1.0 / m } else { 0.0 })
            .collect()
    }
}
