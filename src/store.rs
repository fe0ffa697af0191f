//! The shared weight store: a fixed-length array of atomic `f32`s.

use crate::error::Error;
use crate::sync::{self, AtomicF32, Mutex, MutexGuard, Ordering::Relaxed};

/// A fixed-length array of atomic `f32` weights, allocated once and shared by
/// every worker of a training run.
///
/// Each weight is a 4-byte atomic (no per-element padding), so a store of `n`
/// weights costs `4 n` bytes plus a constant. All accesses are atomic, so a
/// weight is never torn; *which* concurrent updates survive is decided by the
/// [`Policy`](crate::Policy) the trainer uses.
///
/// ```
/// use wildsgd::WeightStore;
///
/// let store = WeightStore::from_fn(6, |j| j as f32);
/// assert_eq!(store.len(), 6);
/// assert_eq!(store.get(4), 4.0);
/// // View it as 2 rows of width 3 (an embedding table).
/// assert_eq!(store.row(1, 3).to_vec(), vec![3.0, 4.0, 5.0]);
/// store.load_from(&[0.0; 6]).unwrap();
/// assert_eq!(store.snapshot(), vec![0.0; 6]);
/// ```
#[derive(Debug)]
pub struct WeightStore {
    weights: Box<[AtomicF32]>,
    /// Held for a whole sample by the `Locked` policy (and only by it).
    lock: Mutex<()>,
}

impl WeightStore {
    /// A store of `len` weights, all zero.
    pub fn zeros(len: usize) -> Self {
        Self::from_fn(len, |_| 0.0)
    }

    /// A store holding a copy of `values`.
    pub fn from_slice(values: &[f32]) -> Self {
        Self::from_fn(values.len(), |j| values[j])
    }

    /// A store of `len` weights, weight `j` initialised to `init(j)`.
    pub fn from_fn(len: usize, mut init: impl FnMut(usize) -> f32) -> Self {
        let weights: Box<[AtomicF32]> = (0..len).map(|j| AtomicF32::new(init(j))).collect();
        WeightStore {
            weights,
            lock: Mutex::new(()),
        }
    }

    /// The number of weights.
    pub fn len(&self) -> usize {
        self.weights.len()
    }

    /// Whether the store holds no weights.
    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    /// Reads weight `j` (a Relaxed load).
    ///
    /// # Panics
    /// If `j >= self.len()`.
    pub fn get(&self, j: usize) -> f32 {
        self.weights[j].load(Relaxed)
    }

    /// Overwrites weight `j` (a Relaxed store).
    ///
    /// # Panics
    /// If `j >= self.len()`.
    pub fn set(&self, j: usize, value: f32) {
        self.weights[j].store(value, Relaxed)
    }

    /// Copies every weight into a new `Vec`. Taken while workers write, each
    /// element is some value that weight held, but the copy as a whole need not
    /// match any single instant.
    pub fn snapshot(&self) -> Vec<f32> {
        self.weights.iter().map(|w| w.load(Relaxed)).collect()
    }

    /// Copies every weight into `out`, reusing its allocation.
    pub fn snapshot_into(&self, out: &mut Vec<f32>) {
        out.clear();
        out.extend(self.weights.iter().map(|w| w.load(Relaxed)));
    }

    /// Overwrites every weight from `values`, which must have [`len`](Self::len)
    /// elements.
    pub fn load_from(&self, values: &[f32]) -> Result<(), Error> {
        if values.len() != self.len() {
            return Err(Error::LengthMismatch {
                what: "weight snapshot",
                expected: self.len(),
                found: values.len(),
            });
        }
        for (w, &v) in self.weights.iter().zip(values) {
            w.store(v, Relaxed);
        }
        Ok(())
    }

    /// Row `i` of the store seen as a row-major table of rows of `width`
    /// weights (embedding tables, factor matrices).
    ///
    /// # Panics
    /// If `width == 0` or the row extends past the end of the store.
    pub fn row(&self, i: usize, width: usize) -> Row<'_> {
        assert!(width > 0, "row width must be positive");
        let start = i * width;
        Row(&self.weights[start..start + width])
    }

    /// Whether every weight is finite (no NaN or infinity).
    pub fn all_finite(&self) -> bool {
        self.weights.iter().all(|w| w.load(Relaxed).is_finite())
    }

    /// Takes the store's update lock: the one the
    /// [`Locked`](crate::Policy::Locked) policy holds for each sample. Lock-free
    /// policies never take it, so training with them completes while someone
    /// else holds this guard.
    pub fn lock(&self) -> MutexGuard<'_, ()> {
        sync::lock(&self.lock)
    }

    pub(crate) fn update_lock(&self) -> &Mutex<()> {
        &self.lock
    }

    pub(crate) fn atomics(&self) -> &[AtomicF32] {
        &self.weights
    }
}

/// A read-only view of one row of a [`WeightStore`]; see [`WeightStore::row`].
#[derive(Clone, Copy, Debug)]
pub struct Row<'a>(&'a [AtomicF32]);

impl Row<'_> {
    /// The row's width.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the row is empty (never, for rows made by [`WeightStore::row`]).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Element `k` of the row.
    pub fn get(&self, k: usize) -> f32 {
        self.0[k].load(Relaxed)
    }

    /// The row's elements, copied.
    pub fn to_vec(&self) -> Vec<f32> {
        self.0.iter().map(|w| w.load(Relaxed)).collect()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn constructors_agree() {
        let a = WeightStore::from_slice(&[1.0, 2.0, 3.0]);
        let b = WeightStore::from_fn(3, |j| (j + 1) as f32);
        assert_eq!(a.snapshot(), b.snapshot());
        assert_eq!(WeightStore::zeros(4).snapshot(), vec![0.0; 4]);
        assert!(WeightStore::zeros(0).is_empty());
    }

    #[test]
    fn four_bytes_per_weight() {
        assert_eq!(std::mem::size_of::<AtomicF32>(), 4);
        let s = WeightStore::zeros(1000);
        assert_eq!(std::mem::size_of_val(&*s.weights), 4000);
    }

    #[test]
    fn load_from_checks_length() {
        let s = WeightStore::zeros(3);
        let err = s.load_from(&[1.0]).unwrap_err();
        assert!(err.to_string().contains("expected 3"), "{err}");
        s.load_from(&[1.0, f32::NAN, 3.0]).unwrap();
        assert!(!s.all_finite());
        s.set(1, 2.0);
        assert!(s.all_finite());
        let mut out = vec![9.0; 10];
        s.snapshot_into(&mut out);
        assert_eq!(out, vec![1.0, 2.0, 3.0]);
    }

    #[test]
    fn rows() {
        let s = WeightStore::from_fn(6, |j| j as f32);
        assert_eq!(s.row(0, 2).to_vec(), vec![0.0, 1.0]);
        assert_eq!(s.row(2, 2).get(1), 5.0);
        assert_eq!(s.row(1, 3).len(), 3);
    }

    #[test]
    #[should_panic]
    fn row_out_of_range_panics() {
        WeightStore::zeros(4).row(2, 2);
    }
}
