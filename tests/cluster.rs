//! Data-parallel training on in-process ranks (`cluster::Threads`): the
//! ranks agree on everything they decide, whatever their shards hold, and
//! one rank's error ends the job instead of hanging it.

use wildsgd::cluster::{Handle, Threads};
use wildsgd::data::{CsrDataset, Synthetic};
use wildsgd::trainer::Outcome;
use wildsgd::{Error, Linear, Loss, Policy, Schedule, Trained, Trainer};

/// Runs `trainer` on each shard as one rank of a job; each rank's result.
fn on_ranks(
    trainer: &Trainer,
    model: &Linear,
    shards: &[CsrDataset],
    valid: &[CsrDataset],
) -> Vec<Result<Trained, Error>> {
    std::thread::scope(|s| {
        let runs: Vec<_> = Threads::ranks(shards.len())
            .into_iter()
            .enumerate()
            .map(|(k, rank)| {
                let t = trainer.clone().cluster(Handle::new(rank));
                s.spawn(move || {
                    let mut job = t.job(model, &shards[k]);
                    if let Some(v) = valid.get(k) {
                        job = job.validation(v);
                    }
                    job.run()
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().expect("no rank panics")).collect()
    })
}

fn data(rows: usize) -> CsrDataset {
    Synthetic {
        rows,
        features: 200,
        ..Synthetic::default()
    }
    .generate()
    .unwrap()
}

fn shards(d: &CsrDataset, sizes: &[usize]) -> Vec<CsrDataset> {
    let mut at = 0;
    sizes
        .iter()
        .map(|&n| {
            let rows: Vec<usize> = (at..at + n).collect();
            at += n;
            d.subset(&rows)
        })
        .collect()
}

#[test]
fn the_blow_up_guard_is_on_for_every_rank_or_none() {
    // `loss_rows(50)` is a subset on the 55-row shard (too small for the
    // guard) and all rows on the 45-row one: the guard must still agree.
    let d = data(100);
    let model = Linear::new(Loss::Logistic, d.n_features()).bias(true);
    let t = Trainer::new()
        .threads(1)
        .epochs(2)
        .policy(Policy::Racy)
        .loss_rows(Some(50));
    let out = on_ranks(&t, &model, &shards(&d, &[45, 55]), &[]);
    let losses: Vec<f64> = out
        .into_iter()
        .map(|r| r.unwrap().report.final_loss().unwrap())
        .collect();
    assert_eq!(losses[0], losses[1]);
}

#[test]
fn an_empty_validation_share_leaves_the_others_figures() {
    let d = data(3000);
    let model = Linear::new(Loss::Logistic, d.n_features()).bias(true);
    let t = Trainer::new().threads(1).epochs(2).policy(Policy::Racy);
    let train = shards(&d, &[1000, 1000]);
    let valid = vec![
        shards(&d, &[2000, 1000]).pop().unwrap(),
        CsrDataset::new(d.n_features()),
    ];
    let out = on_ranks(&t, &model, &train, &valid);
    for r in out {
        let e = r.unwrap().report.epochs.pop().unwrap();
        assert!(e.valid_loss.is_some_and(f64::is_finite), "{e:?}");
        assert!(e.valid_accuracy.is_some_and(|a| a > 0.5), "{e:?}");
    }
}

#[test]
fn one_ranks_bad_data_ends_the_job_on_every_rank() {
    // Rank 1's model is narrower than its data: its validation fails
    // before training, and rank 0 must hear of it rather than wait.
    let model = Linear::new(Loss::Logistic, 10).bias(true);
    let t = Trainer::new().threads(1).epochs(2).policy(Policy::Racy);
    let mut s = shards(&data(400), &[200, 200]);
    s[0] = {
        let mut narrow = CsrDataset::new(10);
        for i in 0..200 {
            narrow
                .push(&[(i % 10) as u32], &[1.0], if i % 2 == 0 { 1.0 } else { -1.0 })
                .unwrap();
        }
        narrow
    };
    let out = on_ranks(&t, &model, &s, &[]);
    assert!(out[1].is_err(), "rank 1's own error");
    let e = out[0].as_ref().err().map(ToString::to_string).unwrap_or_default();
    assert!(e.contains("rank 1 ended the job"), "rank 0: {e}");
}

#[test]
fn a_divergence_is_every_ranks_outcome() {
    let d = data(2000);
    let model = Linear::new(Loss::Squared, d.n_features()).bias(true);
    let t = Trainer::new()
        .threads(1)
        .epochs(3)
        .policy(Policy::Racy)
        .schedule(Schedule::Constant(1e30))
        .blow_up_guard(false);
    for r in on_ranks(&t, &model, &shards(&d, &[1000, 1000]), &[]) {
        let r = r.unwrap();
        assert!(matches!(r.outcome, Outcome::Diverged { .. }), "{:?}", r.outcome);
        assert!(r.weights.iter().all(|w| w.is_finite()));
    }
}
