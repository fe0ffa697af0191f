//! The epoch loop for data streamed from disk ([`Streamed`]): each epoch
//! reads the rows again in windows (see [`crate::data::Streamed::windows`])
//! and the engine trains each window as it arrives, while the next one is
//! read. Schedules count samples across windows as across one epoch;
//! training loss comes from the data's in-memory sample, validation from
//! its held-out rows (streamed too); the divergence guard, back-offs,
//! stop requests, hooks and reports behave as in the in-memory loop.

use std::time::Instant;

use super::driver::{worse_than_start, Engine, Hooks, Visit, BACK_OFFS, GUARD_ROWS};
use super::report::{BackOff, EpochReport, Outcome, Report, Streaming, TracePoint, Trained};
use super::{Control, Trainer};
use crate::data::{Dataset, Windows};
use crate::error::Error;

/// What a streamed run refuses, and why.
fn refuse(t: &Trainer) -> Result<(), Error> {
    let no = |what: &str| {
        Err(Error::InvalidParameter {
            name: "stream",
            reason: format!("streamed training does not support {what}"),
        })
    };
    if t.average {
        return no("iterate averaging (it samples the weights at points within an epoch held in memory)");
    }
    if t.evals_per_epoch != 1 {
        return no("more than one evaluation per epoch");
    }
    if t.get_cluster().is_some() {
        return no("data-parallel ranks yet (each rank would need its own share of the file)");
    }
    Ok(())
}

/// Runs `engine` for the trainer's epochs on the windows of `data`.
pub(crate) fn drive_stream<E: Engine>(
    t: &Trainer,
    engine: &mut E,
    data: &dyn Windows<E::Data>,
    valid: Option<&E::Data>,
    mut hooks: Hooks<'_>,
    pool: &rayon::ThreadPool,
) -> Result<Trained, Error> {
    t.check()?;
    refuse(t)?;
    let sample = data.sample();
    let n = data.rows();
    if n == 0 {
        return Err(Error::EmptyDataset { what: "training" });
    }
    engine.validate(sample).map_err(|e| e.in_dataset("training"))?;
    if let Some(v) = valid {
        if v.is_empty() {
            return Err(Error::EmptyDataset { what: "validation" });
        }
        engine.validate(v).map_err(|e| e.in_dataset("validation"))?;
    }
    let mut report = Report {
        policy: engine.name(),
        threads: engine.threads(),
        order: data.describe(),
        stream: Some(Streaming::default()),
        ..Report::default()
    };
    let mut last_finite = Vec::new();
    engine.snapshot_into(&mut last_finite);
    let guarded = t.guards_blow_ups() && sample.len() >= GUARD_ROWS;
    let mut start_objective = None;
    let mut schedule = t.schedule;
    let mut rate_factor = 1.0f32;
    let (mut total_samples, mut total_seconds) = (0u64, 0.0f64);
    let mut order: Vec<u32> = Vec::new();
    let mut epoch = t.start_epoch;
    while epoch < t.epochs {
        let epoch_start = Instant::now();
        let mut eval_seconds = 0.0;
        if guarded && start_objective.is_none() {
            let clock = Instant::now();
            start_objective = Some(engine.objective(pool, sample, None, epoch).0);
            eval_seconds += clock.elapsed().as_secs_f64();
        }
        let (mut done, mut update_seconds, mut windows) = (0u64, 0.0f64, 0u64);
        let mut failed: Option<Error> = None;
        let mut stopping = false;
        let base = epoch as u64 * n;
        let piped = data.windows(false, Some(epoch), &mut |w: &E::Data| {
            if (windows == 0 || !data.uniform()) && engine.validate(w).is_err() {
                failed = engine.validate(w).err().map(|e| e.in_dataset("training"));
                return false;
            }
            // The window's rows come in a random order already: the
            // trainer's order reads them in runs (blocks) as in memory.
            let block = t.order.block(w.sample_bytes(), w.len());
            order.resize(w.len(), 0);
            t.order.fill(t.seed ^ windows.rotate_left(32), epoch, block, &mut order);
            if windows == 0 && epoch == t.start_epoch {
                report.order = format!("{}; each window in order {}", data.describe(), t.order.describe(block));
            }
            windows += 1;
            let visit = Visit {
                data: w,
                order: &order,
                names: None,
                prefetch: t.prefetch,
                base: base + done,
            };
            let clock = Instant::now();
            done += engine.epoch(&visit, &schedule, epoch, 0..w.len(), &[], &mut |_| {});
            update_seconds += clock.elapsed().as_secs_f64();
            if t.stop_requested() {
                stopping = true;
                return false;
            }
            if let Some(f) = hooks.on_progress.as_mut() {
                f(epoch, done, n);
            }
            true
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        if let Some(s) = report.stream.as_mut() {
            s.add(&piped, windows);
        }
        if stopping {
            if engine.all_finite() {
                engine.snapshot_into(&mut last_finite);
            }
            return Ok(Trained {
                weights: last_finite,
                report,
                outcome: Outcome::Interrupted { epoch, samples: done },
            });
        }
        total_samples += done;
        total_seconds += update_seconds;

        let clock = Instant::now();
        let (loss, train_accuracy) = engine.objective(pool, sample, None, epoch);
        let (valid_loss, valid_accuracy) = held_out_loss(engine, data, valid, pool, epoch)?;
        eval_seconds += clock.elapsed().as_secs_f64();
        report.trace.push(TracePoint {
            epoch,
            samples: total_samples,
            update_seconds: total_seconds,
            loss,
        });
        let bad = if !loss.is_finite() {
            Some(format!("the training loss is {loss}"))
        } else if let Some(l) = valid_loss.filter(|l| !l.is_finite()) {
            Some(format!("the validation loss is {l}"))
        } else if let Some((start, why)) =
            start_objective.and_then(|start| worse_than_start(loss, start).map(|why| (start, why)))
        {
            if report.back_offs.len() < BACK_OFFS {
                rate_factor *= 0.25;
                schedule = t.schedule.scaled(rate_factor);
                report.back_offs.push(BackOff {
                    epoch,
                    objective: loss,
                    start,
                    rate_factor,
                });
                engine.load(&last_finite);
                continue;
            }
            Some(format!("{why}, after {BACK_OFFS} back-offs to a quarter of the rate"))
        } else if !engine.all_finite() {
            Some(
                engine
                    .non_finite()
                    .unwrap_or_else(|| "a weight is NaN or infinite".into()),
            )
        } else {
            None
        };
        if let Some(reason) = bad {
            return Ok(Trained {
                weights: last_finite,
                report,
                outcome: Outcome::Diverged { epoch, reason },
            });
        }
        engine.snapshot_into(&mut last_finite);
        report.epochs.push(EpochReport {
            epoch,
            learning_rate: schedule.rate(epoch, base),
            samples: done,
            update_seconds,
            samples_per_sec: done as f64 / update_seconds.max(1e-12),
            train_loss: loss,
            train_accuracy,
            valid_loss,
            valid_accuracy,
            eval_seconds,
            wall_seconds: epoch_start.elapsed().as_secs_f64(),
        });
        if let Some(f) = hooks.on_weights.as_mut() {
            f(epoch, &last_finite)?;
        }
        let stop = hooks
            .on_epoch
            .as_mut()
            .is_some_and(|f| f(report.epochs.last().expect("just pushed")) == Control::Stop);
        if stop && epoch + 1 < t.epochs {
            return Ok(Trained {
                weights: last_finite,
                report,
                outcome: Outcome::StoppedEarly { epoch },
            });
        }
        epoch += 1;
    }
    Ok(Trained {
        weights: last_finite,
        report,
        outcome: Outcome::Finished,
    })
}

/// The mean loss (and accuracy) over the held-out rows streamed from the
/// data, and over `valid` (in memory), weighted by rows; `None` when there
/// are neither.
fn held_out_loss<E: Engine>(
    engine: &E,
    data: &dyn Windows<E::Data>,
    valid: Option<&E::Data>,
    pool: &rayon::ThreadPool,
    epoch: usize,
) -> Result<(Option<f64>, Option<f64>), Error> {
    let (mut rows, mut loss, mut right, mut acc) = (0usize, 0.0f64, 0.0f64, true);
    let mut add = |v: &E::Data| {
        let (l, a) = engine.validation(pool, v, epoch);
        loss += l * v.len() as f64;
        match a {
            Some(a) => right += a * v.len() as f64,
            None => acc = false,
        }
        rows += v.len();
    };
    let (mut failed, mut first) = (None, true);
    data.windows(true, None, &mut |w| {
        if (first || !data.uniform()) && engine.validate(w).is_err() {
            failed = engine.validate(w).err().map(|e| e.in_dataset("validation"));
            return false;
        }
        first = false;
        add(w);
        true
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    if let Some(v) = valid {
        add(v);
    }
    if rows == 0 {
        return Ok((None, None));
    }
    let n = rows as f64;
    Ok((Some(loss / n), acc.then_some(right / n)))
}
