//! Matrix factorisation on ratings files (`user item rating` per line).

use std::path::Path;

use wildsgd::checkpoint::{tables, Checkpoint, Table};
use wildsgd::data::{read_ratings_with, Ratings, ReadOptions};
use wildsgd::checkpoint::Persist;
use wildsgd::{Error, MatrixFactorization, Model};

use crate::args::{EvalArgs, PredictArgs};
use crate::kind::Kind;
use crate::run::{param, trainer_line, Defaults, Done, Failure, Run};
use crate::train_loop::{train_loop, Described, Saved, Source};

/// Matrix factorisation.
pub(crate) struct MfKind;

impl Kind for MfKind {
    fn names(&self) -> &'static [(&'static str, &'static str)] {
        &[("mf", "Matrix factorisation (ratings file: `user item rating` per line)")]
    }

    fn defaults(&self, _model: &str, _: wildsgd::model::Update) -> Defaults {
        DEFAULTS
    }

    fn flags(&self) -> &'static [&'static str] {
        &["rank"]
    }

    fn train(&self, run: &Run) -> Result<Done, Failure> {
        train(run)
    }

    fn loads(&self, c: &Checkpoint) -> bool {
        c.kind == MatrixFactorization::KIND
    }

    fn saved_l2(&self, c: &Checkpoint, file: &str) -> Result<f32, Error> {
        Ok(c.model::<MatrixFactorization>(file)?.get_l2())
    }

    fn eval(&self, c: &Checkpoint, name: &str, a: &EvalArgs) -> Result<(), Error> {
        eval(c, name, a)
    }

    fn predict(&self, c: &Checkpoint, name: &str, a: &PredictArgs) -> Result<Vec<String>, Error> {
        predict(c, name, a)
    }
}

/// `MatrixFactorization`'s defaults, tuned on MovieLens 100k.
const DEFAULTS: Defaults = Defaults {
    epochs: MatrixFactorization::DEFAULT_EPOCHS,
    schedule: MatrixFactorization::DEFAULT_SCHEDULE,
    l2: MatrixFactorization::DEFAULT_L2,
    average: false,
    l2_per_row: false,
};

/// A rating-numbered error about `path`, with the rating's number from 1.
fn in_ratings_file(e: Error, path: &Path) -> Error {
    match e {
        Error::InvalidSample { row, reason } => Error::InvalidParameter {
            name: "data",
            reason: format!(
                "{}: rating {} (from 1, not counting a header): {}",
                path.display(),
                row + 1,
                reason.replace("the target id space", "the model's id space")
            ),
        },
        e => e,
    }
}

/// `data` (read from `path`) renumbered into the id tables of a model.
fn into_ids(data: &Ratings, path: &Path, user_ids: &[String], item_ids: &[String]) -> Result<Ratings, Error> {
    data.in_id_space(user_ids, item_ids)
        .map_err(|e| in_ratings_file(e, path))
}

fn train(run: &Run) -> Result<Done, Failure> {
    let (a, quiet) = (&run.a, run.quiet);
    let ckpt_name = run.checkpoint_name();
    let rank = a.rank.unwrap_or(MatrixFactorization::DEFAULT_RANK);
    let ranks = run.ranks();
    let total = |x: f64| match ranks {
        Some(c) => crate::distributed::total(c, x),
        None => Ok(x),
    };
    let mut data = match ranks {
        Some(c) => crate::distributed::read_ratings_share(c, &a.data, &run.read, run.split_seed())?,
        None => read_ratings_with(&a.data, &run.read)?,
    };
    if let Some(h) = &data.header {
        say!(quiet, "{}: skipped the header line {h:?}", a.data.display());
    }
    if let Some(c) = &run.resume {
        // The right kind, before anything else.
        let (user_ids, item_ids) = id_tables(c, &ckpt_name, &c.model::<MatrixFactorization>(&ckpt_name)?)?;
        data = into_ids(&data, &a.data, user_ids, item_ids)?;
    }
    // A split returns both halves in a seeded random order: the trainer's
    // block order may read them as they are (no second copy of the rows).
    let (train, valid, shuffled) = match (a.valid_fraction, &a.valid) {
        (Some(f), _) => {
            let (t, v) = data.split(f, run.split_seed())?;
            // Over every rank: one rank's share may be left with none.
            if total(v.len() as f64)? == 0.0 {
                return Err(param(
                    "valid-fraction",
                    format!("{f} of {} ratings leaves no validation ratings", data.len()),
                )
                .into());
            }
            drop(data);
            (t, Some(v), true)
        }
        (None, Some(path)) => {
            let read = match ranks {
                Some(c) => wildsgd::data::read_ratings_shard(
                    path,
                    &wildsgd::data::Shard::new(c.rank(), c.size(), run.split_seed())?,
                    &run.read,
                )?
                .ratings,
                None => read_ratings_with(path, &run.read)?,
            };
            let v = into_ids(&read, path, &data.user_ids, &data.item_ids)?;
            (data, Some(v), false)
        }
        (None, None) => (data, None, false),
    };
    if ranks.is_none() && train.is_empty() {
        return Err(Error::EmptyDataset { what: "training" }.into());
    }
    let rows = total(train.len() as f64)? as usize;
    if rows == 0 {
        return Err(Error::EmptyDataset { what: "training" }.into());
    }
    let model = match &run.resume {
        Some(c) => {
            let m = c.model::<MatrixFactorization>(&ckpt_name)?;
            let l2 = m.get_l2();
            m.l2(l2, &train)
        }
        None => MatrixFactorization::for_ratings(&train, rank)?.l2(run.l2, &train),
    };
    let model = match ranks {
        // The global mean, the rating range and the counts the L2 is
        // scaled by, over every rank's ratings.
        Some(c) => {
            let sum = total(train.ratings.iter().map(|&r| f64::from(r)).sum())?;
            let mut model = model;
            if run.resume.is_none() {
                model = model
                    .global_mean((sum / rows as f64) as f32)
                    .clip(wildsgd::cluster::agree_range(c, train.range())?);
            }
            let sum_counts = |counts: Vec<u32>| -> Result<Vec<u32>, Error> {
                let mut f: Vec<f64> = counts.iter().map(|&n| f64::from(n)).collect();
                c.sum_f64(&mut f)?;
                Ok(f.iter().map(|&n| n as u32).collect())
            };
            let (users, items) = (sum_counts(train.user_counts())?, sum_counts(train.item_counts())?);
            let l2 = model.get_l2();
            model.l2_from_counts(l2, users, items, rows)
        }
        None => model,
    };
    if run.resume.is_some() && a.rank.is_some_and(|r| r != model.rank()) {
        return Err(Error::Checkpoint {
            file: ckpt_name,
            what: wildsgd::checkpoint::CheckpointIssue::WrongModel {
                reason: format!("rank {} in the file, {rank} asked for", model.rank()),
            },
        }
        .into());
    }
    let trainer = run.trainer().rows_shuffled(shuffled);
    let weights = run.start_weights(&model)?;
    // Outside `say!`: every rank takes part in the sums, quiet or not.
    let valid_rows = match &valid {
        Some(v) => Some(total(v.len() as f64)? as usize),
        None => None,
    };
    say!(
        quiet,
        "data: {} ({} ratings, {} users, {} items){}",
        a.data.display(),
        rows + if a.valid.is_some() { 0 } else { valid_rows.unwrap_or(0) },
        train.n_users(),
        train.n_items(),
        match (valid_rows, &a.valid) {
            (Some(v), Some(p)) => format!("; training on {rows} ratings, validating on {v} of {}", p.display()),
            (Some(v), None) => format!("; training on {rows} ratings, validating on {v}"),
            (None, _) => format!("; training on all {rows} ratings (no validation set)"),
        }
    );
    if let Some(c) = ranks {
        say!(quiet, "distributed: {} ranks ({}), each on its share of the ratings", c.size(), c.transport());
    }
    say!(
        quiet,
        "model: mf, rank {}, l2 {}, global mean {:.4}, {}; {}",
        model.rank(),
        model.get_l2(),
        model.get_global_mean(),
        match model.get_clip() {
            Some((lo, hi)) => format!("predictions clipped to [{lo}, {hi}]"),
            None => "predictions not clipped".into(),
        },
        trainer_line(&trainer)
    );
    let mut json = serde_json::Map::new();
    json.insert("data".into(), a.data.display().to_string().into());
    json.insert("rows".into(), rows.into());
    json.insert("valid_rows".into(), valid_rows.into());
    json.insert("users".into(), train.n_users().into());
    json.insert("items".into(), train.n_items().into());
    json.insert("rank".into(), model.rank().into());
    json.insert("model".into(), "mf".into());
    let summary: crate::train_loop::Summary<'_> = Box::new(|w: &[f32], _: &mut crate::train_loop::Json| -> Result<Vec<String>, Error> {
        Ok(match &valid {
            Some(v) => {
                // Every rank's validation ratings: the sums run on all ranks.
                let rmse = model.rmse(w, v)?;
                let n = v.len() as f64;
                let (sq, n) = (total(rmse * rmse * n)?, total(n)?);
                vec![format!(
                    "valid rmse {:.4} (predictions clipped to the training range)",
                    (sq / n.max(1.0)).sqrt()
                )]
            }
            None => Vec::new(),
        })
    });
    let described = Described {
        saved: saved(&model, &train)?,
        json,
        summary,
    };
    train_loop(run, &model, Source::Fixed(&train), valid.as_ref(), trainer, weights, described)
}

/// The saved form of `model`, trained on `train`: with its id tables.
fn saved(model: &MatrixFactorization, train: &Ratings) -> Result<Saved, Error> {
    for (what, expected, found) in [
        (
            "user ids of a matrix factorisation",
            model.n_users(),
            train.user_ids.len(),
        ),
        (
            "item ids of a matrix factorisation",
            model.n_items(),
            train.item_ids.len(),
        ),
    ] {
        if expected != found {
            return Err(Error::LengthMismatch { what, expected, found });
        }
    }
    Ok(Saved::of(model)
        .table(tables::USER_IDS, Table::Strings(train.user_ids.clone()))
        .table(tables::ITEM_IDS, Table::Strings(train.item_ids.clone())))
}

/// The users' and items' ids a checkpoint of `model` holds (a dense user
/// or item number is a position in them).
fn id_tables<'c>(
    c: &'c Checkpoint,
    file: &str,
    model: &MatrixFactorization,
) -> Result<(&'c [String], &'c [String]), Error> {
    let (users, items) = (c.strings(file, tables::USER_IDS)?, c.strings(file, tables::ITEM_IDS)?);
    if (users.len(), items.len()) != (model.n_users(), model.n_items()) {
        return Err(Error::Checkpoint {
            file: file.to_string(),
            what: wildsgd::checkpoint::bad(
                "id tables",
                format!(
                    "{} users and {} items for {} and {}",
                    users.len(),
                    items.len(),
                    model.n_users(),
                    model.n_items()
                ),
            ),
        });
    }
    Ok((users, items))
}

/// The model and `path`'s ratings in its id space.
fn load(
    ckpt: &Checkpoint,
    name: &str,
    path: &Path,
    read: &ReadOptions,
) -> Result<(MatrixFactorization, Ratings), Error> {
    let model = ckpt.model::<MatrixFactorization>(name)?;
    let (user_ids, item_ids) = id_tables(ckpt, name, &model)?;
    let data = into_ids(&read_ratings_with(path, read)?, path, user_ids, item_ids)?;
    if data.is_empty() {
        return Err(Error::EmptyDataset { what: "evaluation" });
    }
    Ok((model, data))
}

/// Loss (mean ½ e², unclipped, as training reports it) and RMSE of the
/// clipped predictions.
fn eval(ckpt: &Checkpoint, name: &str, a: &EvalArgs) -> Result<(), Error> {
    let (model, data) = load(ckpt, name, &a.data, &a.limits.read())?;
    let w = &ckpt.weights[..];
    let rmse = model.rmse(w, &data).map_err(|e| in_ratings_file(e, &a.data))?;
    let loss = (0..data.len()).map(|i| model.loss(w, data.get(i), wildsgd::Step::new(0.0))).sum::<f64>() / data.len() as f64;
    out!(
        "data: {} ({} ratings, model: mf, rank {}, {} users, {} items)",
        a.data.display(),
        data.len(),
        model.rank(),
        model.n_users(),
        model.n_items()
    );
    out!("loss: {loss:.6}");
    out!("rmse: {rmse:.6}");
    Ok(())
}

/// The predicted rating of each line (clipped to the training range).
fn predict(ckpt: &Checkpoint, name: &str, a: &PredictArgs) -> Result<Vec<String>, Error> {
    let (model, data) = load(ckpt, name, &a.data, &a.limits.read())?;
    let w = &ckpt.weights[..];
    Ok((0..data.len())
        .map(|i| {
            let r = data.get(i);
            model.predict(w, r.user, r.item).to_string()
        })
        .collect())
}
