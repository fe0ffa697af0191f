//! `train --distributed`: this process as one rank of an MPI job, and the
//! pieces of a kind's setup the ranks must agree on (the data's width, its
//! rows, its feature statistics).

use std::path::Path;

use wildsgd::cluster::{Cluster, Handle};
use wildsgd::data::{read_libsvm_shard, CsrDataset, LibsvmOptions, ReadOptions, Shard};
use wildsgd::Error;

use crate::run::param;

/// Joins the MPI job this process was started in (by `mpirun`); a panic
/// on any rank then ends the whole job (`Mpi::init` installs the hook).
#[cfg(feature = "mpi")]
pub(crate) fn join() -> Result<Handle, Error> {
    Ok(Handle::new(wildsgd::cluster::Mpi::init()?))
}

/// This build has no MPI: say how to get one.
#[cfg(not(feature = "mpi"))]
pub(crate) fn join() -> Result<Handle, Error> {
    Err(param(
        "distributed",
        "this wildsgd was built without MPI: build it with `cargo install --locked --path . --features mpi` \
         (Debian/Ubuntu packages: libopenmpi-dev openmpi-bin libclang1-14 libclang-common-14-dev)"
            .into(),
    ))
}

/// This rank's share of a LIBSVM file, as wide as the widest share (and at
/// least `n_features`), with the same shard split on every rank for `seed`;
/// a model `per_feature` weights per feature wide must fit in memory. A
/// share with no rows is an error naming the rank (too many ranks for the
/// file) unless `may_be_empty` (a validation share).
pub(crate) fn read_share(
    cluster: &dyn Cluster,
    path: &Path,
    n_features: Option<usize>,
    read: &ReadOptions,
    seed: u64,
    per_feature: u64,
    may_be_empty: bool,
) -> Result<CsrDataset, Error> {
    let shard = Shard::new(cluster.rank(), cluster.size(), seed)?;
    let opts = LibsvmOptions {
        n_features,
        read: *read,
        ..LibsvmOptions::default()
    };
    let part = read_libsvm_shard(path, &shard, &opts)?;
    let mut width = [part.data.n_features() as u64];
    cluster.max_u64(&mut width)?;
    let width = width[0] as usize;
    wildsgd::limits::check_weights("the model", (width as u64 + 1).saturating_mul(per_feature), 4)
        .map_err(|e| param("data", format!("{}: {width} features: {e}", path.display())))?;
    if part.data.is_empty() && !may_be_empty {
        return Err(empty_share(cluster, path));
    }
    let mut data = part.data;
    data.widen(width)?;
    Ok(data)
}

/// This rank's share of a ratings file, with users and items numbered in
/// the job's id space: every rank's ids, in rank order of first
/// appearance (the same tables on every rank).
pub(crate) fn read_ratings_share(
    cluster: &dyn Cluster,
    path: &Path,
    read: &ReadOptions,
    seed: u64,
) -> Result<wildsgd::data::Ratings, Error> {
    let shard = Shard::new(cluster.rank(), cluster.size(), seed)?;
    let part = wildsgd::data::read_ratings_shard(path, &shard, read)?.ratings;
    let merged = |mine: &[String]| -> Result<Vec<String>, Error> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for table in wildsgd::cluster::gather_strings(cluster, mine)? {
            for id in table {
                if seen.insert(id.clone()) {
                    out.push(id);
                }
            }
        }
        Ok(out)
    };
    let (users, items) = (merged(&part.user_ids)?, merged(&part.item_ids)?);
    // After the gathers, which every rank joins.
    if part.is_empty() {
        return Err(empty_share(cluster, path));
    }
    part.in_id_space(&users, &items)
        .map_err(|e| param("data", format!("{}: {e}", path.display())))
}

/// Maps a binary problem's two classes to ±1 as [`binary_labels`] does for
/// the whole file: the classes are every rank's together (a share may hold
/// only one, or a class no other share has), so all ranks map alike.
///
/// [`binary_labels`]: wildsgd::data::binary_labels
pub(crate) fn binary_labels(cluster: &dyn Cluster, data: &mut CsrDataset, path: &Path) -> Result<(), Error> {
    let mut mine: Vec<f32> = Vec::new();
    for &y in data.labels() {
        if !mine.contains(&y) {
            mine.push(y);
            if mine.len() > 2 {
                break; // a third class: the error below names it
            }
        }
    }
    let bits: Vec<u32> = mine.iter().map(|y| y.to_bits()).collect();
    let (mut all, mut counts) = (Vec::new(), Vec::new());
    cluster.gather_u32(&bits, &mut all, &mut counts)?;
    let mut classes: Vec<f32> = Vec::new();
    for y in all.into_iter().map(f32::from_bits) {
        if !classes.contains(&y) {
            classes.push(y);
        }
    }
    classes.sort_by(f32::total_cmp);
    if let [a, b, c, ..] = classes[..] {
        return Err(param(
            "data",
            format!(
                "{}: the ranks' shares hold labels {a}, {b} and {c}: a binary model needs two classes",
                path.display()
            ),
        ));
    }
    let (neg, pos) = wildsgd::data::binary_pair(&mut classes);
    wildsgd::data::binary_labels_as(data, neg, pos).map_err(|e| param("data", format!("{}: {e}", path.display())))
}

/// The error for a rank whose share of `path` holds no rows.
pub(crate) fn empty_share(cluster: &dyn Cluster, path: &Path) -> Error {
    param(
        "data",
        format!(
            "{}: the share of rank {} of {} holds no rows: the file is too small for {} ranks (use fewer)",
            path.display(),
            cluster.rank(),
            cluster.size(),
            cluster.size()
        ),
    )
}

/// The sum over the ranks of `x`.
pub(crate) fn total(cluster: &dyn Cluster, x: f64) -> Result<f64, Error> {
    let mut b = [x];
    cluster.sum_f64(&mut b)?;
    Ok(b[0])
}
