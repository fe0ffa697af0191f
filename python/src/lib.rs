//! `wildsgd._core`: the Rust half of the Python package.
//!
//! Deliberately thin: scikit-learn's conventions (parameters, validation,
//! `classes_`) live in the Python estimators; this module trains, predicts
//! and (de)serialises through the `wildsgd` library, so a model fitted here
//! is the same checkpoint `wildsgd train --out` writes.
//!
//! Input arrays are borrowed, never converted: a CSR matrix's `indices`
//! (`int32`) and `data` (`float32`) are read in place while the GIL is
//! released, straight into the one row-shuffled copy that training makes
//! anyway (the trainer's once-per-run shuffle, which it then skips).

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use wildsgd::checkpoint::{Checkpoint, Persist, Table};
use wildsgd::data::{CsrDataset, Ratings, SparseRow};
use wildsgd::model::Update;
use wildsgd::schedule::{once_permutation, Order};
use wildsgd::trainer::{Outcome, StopFlag};
use wildsgd::{Error, Linear, Loss, MatrixFactorization, Policy, Schedule, Softmax, Trainer, WeightStore};

/// The training loss each epoch reports (and the blow-up guard reads) is
/// measured on a seeded subset of this many rows, not on all of them: on
/// 200,000 RCV1-shaped rows the full pass cost 0.9 s of a 2.5 s fit, and
/// scikit-learn's estimators spend nothing on it.
const LOSS_ROWS: usize = 20_000;

/// How often the waiting thread looks for Ctrl-C while training runs.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

fn value_error(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

fn wildsgd_error(e: Error) -> PyErr {
    match e {
        Error::Io { .. } => PyOSError::new_err(e.to_string()),
        e => PyValueError::new_err(e.to_string()),
    }
}

/// A slice of a contiguous 1-D array, or a `ValueError` naming it.
fn slice<'a, T: numpy::Element>(a: &'a PyReadonlyArray1<'_, T>, name: &str) -> PyResult<&'a [T]> {
    a.as_slice()
        .map_err(|_| value_error(format!("{name} must be a contiguous 1-D array")))
}

/// Borrowed rows: a CSR matrix (`indptr` `int64`, `indices` `int32` read
/// as `u32` after a check, `data` `float32`) or a C-contiguous dense
/// `float32` matrix, whose rows are read as sparse rows over one shared
/// `0..width` index list.
struct Csr<'a> {
    indptr: Option<&'a [i64]>,
    indices: &'a [u32],
    data: &'a [f32],
    /// Dense: the row length, and the index list every row shares.
    dense: Option<(usize, Vec<u32>)>,
    rows: usize,
}

impl<'a> Csr<'a> {
    fn new(indptr: &'a [i64], indices: &'a [i32], data: &'a [f32]) -> PyResult<Self> {
        if indptr.is_empty() || indptr[0] != 0 {
            return Err(value_error("indptr must start at 0"));
        }
        if indices.len() != data.len() || *indptr.last().unwrap() != indices.len() as i64 {
            return Err(value_error(format!(
                "indptr ends at {} but there are {} indices and {} values",
                indptr.last().unwrap(),
                indices.len(),
                data.len()
            )));
        }
        if let Some(w) = indptr.windows(2).position(|w| w[0] > w[1]) {
            return Err(value_error(format!("indptr decreases at row {w}")));
        }
        if let Some(k) = indices.iter().position(|&j| j < 0) {
            return Err(value_error(format!(
                "negative column index {} at position {k}",
                indices[k]
            )));
        }
        Ok(Csr {
            indptr: Some(indptr),
            indices: bytemuck::cast_slice(indices),
            data,
            dense: None,
            rows: indptr.len() - 1,
        })
    }

    /// A dense row-major matrix of `width` columns.
    fn dense(data: &'a [f32], width: usize) -> PyResult<Self> {
        if width == 0 || !data.len().is_multiple_of(width) {
            return Err(value_error(format!(
                "{} values do not make rows of {width}",
                data.len()
            )));
        }
        if width > u32::MAX as usize {
            return Err(value_error(format!("{width} columns; at most {}", u32::MAX)));
        }
        Ok(Csr {
            indptr: None,
            indices: &[],
            data,
            rows: data.len() / width,
            dense: Some((width, (0..width as u32).collect())),
        })
    }

    /// The rows an estimator passed: CSR when `indptr` is given, else dense
    /// with `width` columns.
    fn from_parts(
        indptr: &'a Option<PyReadonlyArray1<'_, i64>>,
        indices: &'a Option<PyReadonlyArray1<'_, i32>>,
        data: &'a PyReadonlyArray1<'_, f32>,
        width: usize,
    ) -> PyResult<Self> {
        match (indptr, indices) {
            (Some(p), Some(i)) => Csr::new(slice(p, "indptr")?, slice(i, "indices")?, slice(data, "data")?),
            (None, None) => Csr::dense(slice(data, "data")?, width),
            _ => Err(value_error("indptr and indices go together")),
        }
    }

    fn nnz(&self) -> usize {
        self.data.len()
    }

    fn rows(&self) -> usize {
        self.rows
    }

    fn row(&self, i: usize, label: f32) -> SparseRow<'_> {
        match (&self.dense, self.indptr) {
            (Some((d, iota)), _) => SparseRow {
                indices: iota,
                values: &self.data[i * d..(i + 1) * d],
                label,
            },
            (None, Some(p)) => {
                let r = p[i] as usize..p[i + 1] as usize;
                SparseRow {
                    indices: &self.indices[r.clone()],
                    values: &self.data[r],
                    label,
                }
            }
            (None, None) => unreachable!("rows are CSR or dense"),
        }
    }

    /// The rows in the trainer's once-per-run order for `seed`, checked row
    /// by row (indices below `n_features` and increasing, values finite).
    fn shuffled(&self, labels: &[f32], n_features: usize, seed: u64) -> Result<CsrDataset, Error> {
        let perm = once_permutation(seed, None, self.rows());
        let mut out = CsrDataset::new(n_features);
        out.reserve(self.rows(), self.nnz());
        for &i in &perm {
            let row = self.row(i as usize, labels[i as usize]);
            out.push(row.indices, row.values, row.label).map_err(|e| match e {
                // Name the caller's row, not the shuffled position.
                Error::InvalidSample { reason, .. } => Error::InvalidSample {
                    row: i as usize,
                    reason,
                },
                Error::FeatureOutOfRange { index, dim, .. } => Error::FeatureOutOfRange {
                    row: i as usize,
                    index,
                    dim,
                },
                e => e,
            })?;
        }
        Ok(out)
    }
}

/// The trainer's settings for one `fit` (or one `partial_fit` call), as
/// an estimator resolved them: built once in Python for every kind of model.
#[pyclass(module = "wildsgd._core", frozen)]
#[derive(Clone, Debug)]
struct Settings {
    threads: usize,
    policy: Policy,
    order: Order,
    epochs: usize,
    start_epoch: usize,
    schedule: Schedule,
    seed: u64,
}

#[pymethods]
impl Settings {
    /// Checks and parses the settings; `ValueError` names what is wrong.
    #[new]
    #[pyo3(signature = (*, threads, policy, order, epochs, start_epoch, eta0, decay, seed))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        threads: usize,
        policy: &str,
        order: &str,
        epochs: usize,
        start_epoch: usize,
        eta0: f32,
        decay: f32,
        seed: u64,
    ) -> PyResult<Settings> {
        if threads == 0 {
            return Err(value_error("n_jobs must resolve to at least 1 thread"));
        }
        let schedule = Schedule::EpochDecay { initial: eta0, decay };
        schedule.validate().map_err(wildsgd_error)?;
        Ok(Settings {
            threads,
            policy: policy.parse().map_err(wildsgd_error)?,
            order: order.parse().map_err(|e: String| value_error(format!("order: {e}")))?,
            epochs,
            start_epoch,
            schedule,
            seed,
        })
    }
}

impl Settings {
    fn trainer(&self, stop: &StopFlag, rows: usize) -> Trainer {
        Trainer::new()
            .threads(self.threads)
            .policy(self.policy)
            .order(self.order)
            // The trainer counts epochs from the run's first: `epochs` more.
            .epochs(self.start_epoch + self.epochs)
            .start_epoch(self.start_epoch)
            .schedule(self.schedule)
            .seed(self.seed)
            // The rows arrive already in the once-per-run order.
            .rows_shuffled(true)
            .stop_flag(stop.clone())
            .loss_rows((rows > LOSS_ROWS).then_some(LOSS_ROWS))
    }
}

/// Runs `train` on a thread of its own while this thread, holding the GIL
/// only between short waits, looks for Ctrl-C: on `KeyboardInterrupt` it
/// raises the trainer's stop flag and waits for the consistent weights.
/// Returns what `train` returned and whether it was interrupted.
fn train_interruptibly<T: Send>(
    py: Python<'_>,
    stop: &StopFlag,
    train: impl FnOnce() -> T + Send,
) -> PyResult<(T, bool)> {
    let mut interrupted = false;
    let out = std::thread::scope(|s| -> PyResult<T> {
        let (tx, rx) = mpsc::channel();
        // `detach` needs what it borrows to be `Sync`; only this thread waits.
        let rx = std::sync::Mutex::new(rx);
        let worker = s.spawn(move || {
            let out = train();
            let _ = tx.send(());
            out
        });
        loop {
            let done = py.detach(|| rx.lock().map_or(Ok(()), |r| r.recv_timeout(SIGNAL_POLL)));
            if !matches!(done, Err(mpsc::RecvTimeoutError::Timeout)) {
                break;
            }
            if let Err(e) = py.check_signals() {
                // Stop at the next sample and wait for the consistent weights.
                stop.raise();
                let _ = py.detach(|| rx.lock().map(|r| r.recv()).is_ok());
                if !e.is_instance_of::<pyo3::exceptions::PyKeyboardInterrupt>(py) {
                    // Another handler's exception: raise it.
                    let _ = worker.join();
                    return Err(e);
                }
                interrupted = true;
                break;
            }
        }
        worker
            .join()
            .map_err(|_| PyRuntimeError::new_err("wildsgd: training panicked"))
    })?;
    Ok((out, interrupted))
}

/// A 1-D `float32` array handed to Python.
type Array<'py> = Bound<'py, PyArray1<f32>>;

/// A trained (or loaded) model: a checkpoint, in the format of
/// `wildsgd train --out`. Immutable; training returns a new one.
#[pyclass(module = "wildsgd._core", frozen)]
struct Model {
    ckpt: Checkpoint,
}

enum Kind {
    Linear(Linear),
    Softmax(Softmax),
    Mf(MatrixFactorization),
}

impl Model {
    fn kind(&self) -> PyResult<Kind> {
        let name = "the model";
        let c = &self.ckpt;
        Ok(if c.kind == Linear::KIND {
            Kind::Linear(c.model::<Linear>(name).map_err(wildsgd_error)?)
        } else if c.kind == Softmax::KIND {
            Kind::Softmax(c.model::<Softmax>(name).map_err(wildsgd_error)?)
        } else if c.kind == MatrixFactorization::KIND {
            Kind::Mf(c.model::<MatrixFactorization>(name).map_err(wildsgd_error)?)
        } else {
            return Err(value_error(format!(
                "a {:?} model: the Python package handles linear, softmax and matrix factorisation models",
                c.kind
            )));
        })
    }
}

#[pymethods]
impl Model {
    /// The model a checkpoint's bytes hold.
    #[staticmethod]
    fn from_bytes(b: &[u8]) -> PyResult<Model> {
        let ckpt = Checkpoint::from_bytes("the pickled model", b).map_err(wildsgd_error)?;
        let m = Model { ckpt };
        m.kind()?;
        Ok(m)
    }

    /// The checkpoint's bytes (what `save` writes).
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.ckpt.to_bytes())
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyBytes>,))> {
        let from = slf.get_type().getattr("from_bytes")?;
        Ok((from, (slf.get().to_bytes(slf.py()),)))
    }

    /// Reads a checkpoint file (`wildsgd train --out`'s or `save`'s).
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Model> {
        let ckpt = py.detach(|| Checkpoint::load(&path)).map_err(wildsgd_error)?;
        let m = Model { ckpt };
        m.kind()?;
        Ok(m)
    }

    /// Writes the checkpoint atomically (a crash leaves the old file or the
    /// new one, never a mixture).
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| self.ckpt.save(&path)).map_err(wildsgd_error)
    }

    /// `"linear"`, `"softmax"` or `"mf"`.
    #[getter]
    fn kind_name(&self) -> PyResult<&'static str> {
        Ok(match self.kind()? {
            Kind::Linear(_) => "linear",
            Kind::Softmax(_) => "softmax",
            Kind::Mf(_) => "mf",
        })
    }

    /// The loss of a linear model (`"logistic"`, `"hinge"`, `"squared"`).
    #[getter]
    fn loss(&self) -> PyResult<Option<&'static str>> {
        Ok(match self.kind()? {
            Kind::Linear(m) => Some(m.get_loss().name()),
            _ => None,
        })
    }

    #[getter]
    fn epochs_done(&self) -> usize {
        self.ckpt.epochs_done
    }

    #[getter]
    fn n_features(&self) -> PyResult<usize> {
        Ok(match self.kind()? {
            Kind::Linear(m) => m.n_features(),
            Kind::Softmax(m) => m.n_features(),
            Kind::Mf(_) => 0,
        })
    }

    #[getter]
    fn n_classes(&self) -> PyResult<usize> {
        Ok(match self.kind()? {
            Kind::Linear(m) if m.get_loss() != Loss::Squared => 2,
            Kind::Softmax(m) => m.n_classes(),
            _ => 0,
        })
    }

    /// The weights as stored (every slot of the model's layout).
    fn weights<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f32>> {
        PyArray1::from_slice(py, &self.ckpt.weights)
    }

    /// `(coef, intercept)`: row-major `classes x features` coefficients
    /// (one row for a linear model) and one intercept per row (0 without a
    /// bias).
    fn coefficients<'py>(&self, py: Python<'py>) -> PyResult<(Array<'py>, Array<'py>)> {
        let w = &self.ckpt.weights;
        let (coef, intercept) = match self.kind()? {
            Kind::Linear(m) => {
                let mut c = m.coefficients(w);
                let b = if m.get_bias() { c.pop().unwrap_or(0.0) } else { 0.0 };
                c.truncate(m.n_features());
                (c, vec![b])
            }
            Kind::Softmax(m) => {
                let (k, d) = (m.n_classes(), m.n_features());
                let mut coef = Vec::with_capacity(k * d);
                for c in 0..k {
                    coef.extend((0..d).map(|j| w[m.index(c, j)]));
                }
                let intercept = (0..k).map(|c| w[m.index(c, d)]).collect();
                (coef, intercept)
            }
            Kind::Mf(_) => return Err(value_error("a matrix factorisation has no coefficients")),
        };
        Ok((PyArray1::from_vec(py, coef), PyArray1::from_vec(py, intercept)))
    }

    /// A linear model whose scores are `scale · (w·x + b) + shift`: every
    /// feature weight times `scale`, the bias `b · scale + shift` (the
    /// accumulators of the adaptive update are left as they are). What the
    /// regressor uses to train on a standardised target and hand back
    /// weights in the target's own units.
    fn rescaled(&self, scale: f32, shift: f32) -> PyResult<Model> {
        let Kind::Linear(m) = self.kind()? else {
            return Err(value_error("only a linear model can be rescaled"));
        };
        if !(scale.is_finite() && scale != 0.0 && shift.is_finite()) {
            return Err(value_error(format!(
                "scale {scale} and shift {shift} must be finite, scale nonzero"
            )));
        }
        if shift != 0.0 && !m.get_bias() {
            return Err(value_error("a shift needs a bias (fit_intercept=True)"));
        }
        let mut ckpt = self.ckpt.clone();
        for j in 0..m.n_features() {
            ckpt.weights[m.weight_index(j)] *= scale;
        }
        if m.get_bias() {
            let b = &mut ckpt.weights[m.weight_index(m.n_features())];
            *b = *b * scale + shift;
        }
        if let Some(k) = ckpt.weights.iter().position(|w| !w.is_finite()) {
            return Err(value_error(format!("rescaling overflows weight {k}")));
        }
        Ok(Model { ckpt })
    }

    /// A string table saved with the model (class labels, id maps).
    fn strings(&self, name: &str) -> Option<Vec<String>> {
        match self.ckpt.tables.get(name) {
            Some(Table::Strings(s)) => Some(s.clone()),
            Some(Table::Text(s)) => Some(vec![s.clone()]),
            _ => None,
        }
    }

    /// The model with string table `name` set to `values`.
    fn with_strings(&self, name: String, values: Vec<String>) -> Model {
        Model {
            ckpt: self.ckpt.clone().with_table(name, Table::Strings(values)),
        }
    }

    /// A linear model's scores `w·x + b`, or a softmax model's logits (row
    /// major, rows x classes), for a CSR matrix read in place.
    fn decision<'py>(
        &self,
        py: Python<'py>,
        indptr: Option<PyReadonlyArray1<'py, i64>>,
        indices: Option<PyReadonlyArray1<'py, i32>>,
        data: PyReadonlyArray1<'py, f32>,
        width: usize,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let x = Csr::from_parts(&indptr, &indices, &data, width)?;
        let kind = self.kind()?;
        let w = &self.ckpt.weights[..];
        let width = match &kind {
            Kind::Linear(m) => m.n_features(),
            Kind::Softmax(m) => m.n_features(),
            Kind::Mf(_) => return Err(value_error("a matrix factorisation takes (user, item) pairs")),
        };
        let beyond = match &x.dense {
            Some((d, _)) => (*d > width).then_some(*d as u32 - 1),
            None => x.indices.iter().copied().find(|&j| j as usize >= width),
        };
        if let Some(j) = beyond {
            return Err(value_error(format!(
                "column {j} is beyond the model's {width} features"
            )));
        }
        let out = py.detach(|| match &kind {
            Kind::Linear(m) => (0..x.rows()).map(|i| m.margin(w, &x.row(i, 0.0))).collect::<Vec<f32>>(),
            Kind::Softmax(m) => {
                let k = m.n_classes();
                let mut out = vec![0.0f32; x.rows() * k];
                for (i, z) in out.chunks_mut(k).enumerate() {
                    m.logits(w, &x.row(i, 0.0), z);
                }
                out
            }
            Kind::Mf(_) => unreachable!(),
        });
        Ok(PyArray1::from_vec(py, out))
    }

    /// A factorisation's predictions; an id of -1 is unknown (the
    /// prediction falls back to the other side's bias and the global mean).
    fn predict_pairs<'py>(
        &self,
        py: Python<'py>,
        users: PyReadonlyArray1<'py, i64>,
        items: PyReadonlyArray1<'py, i64>,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let Kind::Mf(m) = self.kind()? else {
            return Err(value_error("predict_pairs is for a matrix factorisation"));
        };
        let (u, i) = (slice(&users, "users")?, slice(&items, "items")?);
        if u.len() != i.len() {
            return Err(value_error(format!("{} users but {} items", u.len(), i.len())));
        }
        let known = |id: i64, n: usize, what: &str| -> PyResult<Option<u32>> {
            match id {
                -1 => Ok(None),
                id if id >= 0 && (id as u64) < n as u64 => Ok(Some(id as u32)),
                id => Err(value_error(format!(
                    "{what} index {id} is not in 0..{n} (or -1 for unknown)"
                ))),
            }
        };
        let pairs = u
            .iter()
            .zip(i)
            .map(|(&a, &b)| Ok((known(a, m.n_users(), "user")?, known(b, m.n_items(), "item")?)))
            .collect::<PyResult<Vec<_>>>()?;
        let w = &self.ckpt.weights[..];
        let out = py.detach(|| {
            pairs
                .iter()
                .map(|&(a, b)| m.predict_known(w, a, b))
                .collect::<Vec<f32>>()
        });
        Ok(PyArray1::from_vec(py, out))
    }
}

/// What a fit hands back to Python: the model, a report, and whether
/// Ctrl-C stopped it.
type Fitted<'py> = (Model, Bound<'py, PyDict>, bool);

fn report<'py>(py: Python<'py>, trained: &wildsgd::Trained, start_epoch: usize) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let r = &trained.report;
    d.set_item("policy", &r.policy)?;
    d.set_item("threads", r.threads)?;
    d.set_item("order", &r.order)?;
    d.set_item("epochs", r.epochs.len())?;
    d.set_item("train_loss", r.epochs.iter().map(|e| e.train_loss).collect::<Vec<_>>())?;
    d.set_item(
        "samples_per_sec",
        r.epochs.iter().map(|e| e.samples_per_sec).collect::<Vec<_>>(),
    )?;
    d.set_item(
        "learning_rate",
        r.epochs.iter().map(|e| e.learning_rate).collect::<Vec<_>>(),
    )?;
    d.set_item("update_seconds", r.epochs.iter().map(|e| e.update_seconds).sum::<f64>())?;
    d.set_item("eval_seconds", r.epochs.iter().map(|e| e.eval_seconds).sum::<f64>())?;
    d.set_item("wall_seconds", r.epochs.iter().map(|e| e.wall_seconds).sum::<f64>())?;
    d.set_item("back_offs", r.back_offs.len())?;
    d.set_item("start_epoch", start_epoch)?;
    d.set_item("outcome", trained.outcome.to_string())?;
    d.set_item("interrupted", matches!(trained.outcome, Outcome::Interrupted { .. }))?;
    Ok(d)
}

/// Trains a linear (`logistic`, `hinge`, `squared`) or `softmax` model on a
/// CSR matrix, from `start`'s weights when given (`partial_fit`, warm
/// start). Labels: ±1 for binary, the class index for softmax, the target
/// for squared loss.
#[pyfunction]
#[pyo3(signature = (task, indptr, indices, data, labels, n_features, n_classes, l2, update, bias, settings, start=None))]
#[allow(clippy::too_many_arguments)]
fn fit_linear<'py>(
    py: Python<'py>,
    task: &str,
    indptr: Option<PyReadonlyArray1<'py, i64>>,
    indices: Option<PyReadonlyArray1<'py, i32>>,
    data: PyReadonlyArray1<'py, f32>,
    labels: PyReadonlyArray1<'py, f32>,
    n_features: usize,
    n_classes: usize,
    l2: f32,
    update: &str,
    bias: bool,
    settings: PyRef<'py, Settings>,
    start: Option<PyRef<'py, Model>>,
) -> PyResult<Fitted<'py>> {
    let x = Csr::from_parts(&indptr, &indices, &data, n_features)?;
    let y = slice(&labels, "labels")?;
    if y.len() != x.rows() {
        return Err(value_error(format!("{} rows but {} labels", x.rows(), y.len())));
    }
    if x.rows() == 0 {
        return Err(value_error("no rows to train on"));
    }
    let update: Update = update
        .parse()
        .map_err(|e: String| value_error(format!("update: {e}")))?;
    let s = settings.clone();
    let start = start.map(|m| m.ckpt.weights.clone());
    let stop = StopFlag::new();
    // `None`: softmax; a loss: a linear model.
    let loss = match task {
        "logistic" => Some(Loss::Logistic),
        "hinge" => Some(Loss::Hinge),
        "squared" => Some(Loss::Squared),
        "softmax" => None,
        other => return Err(value_error(format!("unknown task {other:?}"))),
    };
    // The width comes from the caller's matrix: check it before the model's
    // per-feature arrays (scales, document frequencies) are allocated. Two
    // slots per weight (the adaptive update's accumulator), per class; the
    // store, the start, the result and the per-feature arrays.
    let per_feature = 2 * n_classes.max(1) as u64;
    wildsgd::limits::check_weights("the model", (n_features as u64 + 1).saturating_mul(per_feature), 6)
        .map_err(wildsgd_error)?;
    let (result, interrupted) = train_interruptibly(py, &stop, || -> Result<_, Error> {
        let train = x.shuffled(y, n_features, s.seed)?;
        let trainer = s.trainer(&stop, train.len());
        match loss {
            None => {
                let model = Softmax::new(n_classes, n_features)?
                    .l2(l2, &train)
                    .update(update, &train);
                run(&trainer, &model, &train, start)
            }
            Some(loss) => {
                let model = Linear::new(loss, n_features)
                    .bias(bias)
                    .l2(l2, &train)
                    .update(update, &train);
                run(&trainer, &model, &train, start)
            }
        }
    })?;
    finish(py, result, interrupted, s.start_epoch)
}

/// Trains `model` from `start` (or its initial weights) and makes the
/// checkpoint of the result.
fn run<M: Persist>(
    trainer: &Trainer,
    model: &M,
    train: &M::Data,
    start: Option<Vec<f32>>,
) -> Result<(Checkpoint, wildsgd::Trained), Error> {
    let init = match start {
        Some(w) => {
            if w.len() != model.n_weights() {
                return Err(Error::LengthMismatch {
                    what: "the warm start's weights",
                    expected: model.n_weights(),
                    found: w.len(),
                });
            }
            w
        }
        None => {
            wildsgd::limits::check_weights("the model", model.n_weights() as u64, 4)?;
            let mut init = vec![0.0f32; model.n_weights()];
            model.init(&mut init, trainer.get_seed());
            init
        }
    };
    let store = WeightStore::from_slice(&init);
    let trained = trainer.job(model, train).weights(&store).run()?;
    let epochs_done = trainer.get_start_epoch() + trained.report.epochs.len();
    let ckpt = Checkpoint::new(model, trainer, epochs_done, trained.weights.clone());
    Ok((ckpt, trained))
}

/// The fitted model and its report, or the error: a run that diverged is
/// one, naming the parameter to change.
fn finish<'py>(
    py: Python<'py>,
    result: Result<(Checkpoint, wildsgd::Trained), Error>,
    interrupted: bool,
    start_epoch: usize,
) -> PyResult<Fitted<'py>> {
    let (ckpt, trained) = result.map_err(wildsgd_error)?;
    if let Outcome::Diverged { epoch, reason } = &trained.outcome {
        return Err(PyRuntimeError::new_err(format!(
            "wildsgd: training diverged in epoch {} ({reason}); lower eta0 or raise alpha",
            epoch + 1
        )));
    }
    Ok((Model { ckpt }, report(py, &trained, start_epoch)?, interrupted))
}

/// Trains a matrix factorisation on (user, item, rating) triples of dense
/// indices `0..n_users` and `0..n_items`.
#[pyfunction]
#[pyo3(signature = (users, items, ratings, n_users, n_items, rank, l2, settings, start=None))]
#[allow(clippy::too_many_arguments)]
fn fit_mf<'py>(
    py: Python<'py>,
    users: PyReadonlyArray1<'py, u32>,
    items: PyReadonlyArray1<'py, u32>,
    ratings: PyReadonlyArray1<'py, f32>,
    n_users: usize,
    n_items: usize,
    rank: usize,
    l2: f32,
    settings: PyRef<'py, Settings>,
    start: Option<PyRef<'py, Model>>,
) -> PyResult<Fitted<'py>> {
    let (u, i, r) = (
        slice(&users, "users")?,
        slice(&items, "items")?,
        slice(&ratings, "ratings")?,
    );
    if u.len() != i.len() || u.len() != r.len() {
        return Err(value_error(format!(
            "{} users, {} items and {} ratings",
            u.len(),
            i.len(),
            r.len()
        )));
    }
    if u.is_empty() {
        return Err(value_error("no ratings to train on"));
    }
    let s = settings.clone();
    let start = start.map(|m| m.ckpt.weights.clone());
    let stop = StopFlag::new();
    let (result, interrupted) = train_interruptibly(py, &stop, || -> Result<_, Error> {
        let mut train = Ratings::with_ids(n_users, n_items);
        for &k in &once_permutation(s.seed, None, u.len()) {
            let k = k as usize;
            train.push(u[k], i[k], r[k]).map_err(|e| match e {
                Error::InvalidSample { reason, .. } => Error::InvalidSample { row: k, reason },
                e => e,
            })?;
        }
        let trainer = s.trainer(&stop, train.len());
        let model = MatrixFactorization::for_ratings(&train, rank)?.l2(l2, &train);
        run(&trainer, &model, &train, start)
    })?;
    finish(py, result, interrupted, s.start_epoch)
}

/// The library's defaults, so the estimators and `wildsgd train` agree.
#[pyfunction]
fn defaults<'py>(py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let rate = |s: Schedule| match s {
        Schedule::EpochDecay { initial, decay } => (initial, decay),
        _ => unreachable!("the defaults decay per epoch"),
    };
    d.set_item("linear_epochs", Linear::DEFAULT_EPOCHS)?;
    d.set_item("linear_schedule", rate(Linear::DEFAULT_SCHEDULE))?;
    d.set_item("mf_epochs", MatrixFactorization::DEFAULT_EPOCHS)?;
    d.set_item("mf_schedule", rate(MatrixFactorization::DEFAULT_SCHEDULE))?;
    d.set_item("mf_rank", MatrixFactorization::DEFAULT_RANK)?;
    d.set_item("mf_l2", MatrixFactorization::DEFAULT_L2)?;
    d.set_item("classes_table", wildsgd::checkpoint::tables::CLASSES)?;
    d.set_item("user_ids_table", wildsgd::checkpoint::tables::USER_IDS)?;
    d.set_item("item_ids_table", wildsgd::checkpoint::tables::ITEM_IDS)?;
    Ok(d)
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Model>()?;
    m.add_class::<Settings>()?;
    m.add_function(wrap_pyfunction!(fit_linear, m)?)?;
    m.add_function(wrap_pyfunction!(fit_mf, m)?)?;
    m.add_function(wrap_pyfunction!(defaults, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
