//! LIBSVM data for the kinds that read it (linear, softmax): reading it at
//! a model's width, restricting it to one, and row-numbered errors.

use std::path::Path;

use wildsgd::data::{read_libsvm, CsrDataset, LibsvmOptions, ReadOptions};
use wildsgd::Error;

use crate::run::param;

/// Reads a LIBSVM file at least `n_features` wide. Unless `n_features` is
/// given (a model's width, which the data is cut to), a model `per_feature`
/// weights per feature wide must fit in memory: else the error names the
/// line and column of the largest feature index. Feature names are hashed
/// with `hashing` when given (the width is then its own).
pub(crate) fn read_data(
    path: &Path,
    n_features: Option<usize>,
    read: &ReadOptions,
    per_feature: u64,
    hashing: Option<wildsgd::data::Hashing>,
) -> Result<CsrDataset, Error> {
    if let Some(h) = hashing {
        // The width is the flag's, known before the file is read.
        let weights = (h.width() as u64 + 1).saturating_mul(per_feature);
        wildsgd::limits::check_weights("the model", weights, 4).map_err(|e| {
            param(
                "hash-bits",
                format!("{} bits make the model {} features wide: {e}", h.bits(), h.width()),
            )
        })?;
    }
    let d = read_libsvm(
        path,
        &LibsvmOptions {
            n_features,
            read: *read,
            hashing,
            ..LibsvmOptions::default()
        },
    )?;
    if n_features.is_none() {
        let width = d.data.n_features() as u64;
        let weights = (width + 1).saturating_mul(per_feature);
        if let Err(e) = wildsgd::limits::check_weights("the model", weights, 4) {
            let (line, column) = d.widest.unwrap_or((1, 1));
            return Err(param(
                "data",
                format!(
                    "{}: line {line}, column {column}: feature index {width} makes the model {} features wide: {e}",
                    path.display(),
                    width
                ),
            ));
        }
    }
    Ok(d.data)
}

/// What [`restrict`] dropped.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Ignored {
    pub values: usize,
    rows: usize,
    dim: usize,
}

impl std::fmt::Display for Ignored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} feature value(s) in {} row(s) with indices beyond the model's {} features",
            self.values, self.rows, self.dim
        )
    }
}

/// `data` without the features at or beyond `dim`.
pub(crate) fn restrict(data: &CsrDataset, dim: usize) -> (CsrDataset, Ignored) {
    let mut ignored = Ignored {
        dim,
        ..Ignored::default()
    };
    if data.n_features() <= dim {
        let mut d = data.clone();
        if d.n_features() < dim {
            let mut wide = CsrDataset::new(dim);
            wide.append_rows(&d);
            d = wide;
        }
        return (d, ignored);
    }
    let mut out = CsrDataset::new(dim);
    out.reserve(data.len(), data.nnz());
    for i in 0..data.len() {
        let r = data.row(i);
        let keep = r.indices.partition_point(|&j| (j as usize) < dim);
        if keep < r.indices.len() {
            ignored.values += r.indices.len() - keep;
            ignored.rows += 1;
        }
        out.push(&r.indices[..keep], &r.values[..keep], r.label)
            .expect("a prefix of a valid row is valid");
    }
    (out, ignored)
}

/// Appending rows to a wider dataset.
trait AppendRows {
    fn append_rows(&mut self, other: &CsrDataset);
}

impl AppendRows for CsrDataset {
    fn append_rows(&mut self, other: &CsrDataset) {
        self.reserve(other.len(), other.nnz());
        for i in 0..other.len() {
            let r = other.row(i);
            self.push(r.indices, r.values, r.label)
                .expect("rows of a narrower dataset fit");
        }
    }
}

/// Error context: which file a row-numbered error is about.
pub(crate) trait InFile {
    fn in_file(self, path: &Path) -> Error;
}

impl InFile for Error {
    fn in_file(self, path: &Path) -> Error {
        match self {
            Error::InvalidSample { row, reason } => Error::InvalidParameter {
                name: "data",
                reason: format!("{}: data row {} (from 1): {reason}", path.display(), row + 1),
            },
            Error::FeatureOutOfRange { row, index, dim } => Error::InvalidParameter {
                name: "data",
                reason: format!(
                    "{}: data row {} (from 1): feature index {} is beyond the model's {dim} features",
                    path.display(),
                    row + 1,
                    index + 1
                ),
            },
            e => e,
        }
    }
}
