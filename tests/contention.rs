//! The contention strategies through the public API: what the automatic
//! choice picks for each problem shape, that the trainer and the mesh run
//! what was picked, and that the strategies learn what `Sequential` learns.

use wildsgd::data::{CsrDataset, Synthetic};
use wildsgd::mesh::{Mesh, Routes};
use wildsgd::policy::rule::Merge;
use wildsgd::policy::{choose, decide, Touches, AUTO_EVERY, AUTO_HOTCOLD_THREADS};
use wildsgd::{Linear, Loss, Model, Policy, Trainer};

fn zipf(rows: usize) -> CsrDataset {
    Synthetic {
        rows,
        features: 5_000,
        ..Synthetic::default()
    }
    .generate()
    .unwrap()
}

/// The same shape with uniform feature popularity.
fn uniform(rows: usize) -> CsrDataset {
    Synthetic {
        rows,
        features: 5_000,
        zipf: 0.0,
        ..Synthetic::default()
    }
    .generate()
    .unwrap()
}

fn touches(data: &CsrDataset) -> (Linear, Touches) {
    let model = Linear::new(Loss::Logistic, data.n_features()).bias(true);
    let t = Touches::probe(&model, data, &vec![0.0; model.n_weights()], 4096, 0.5, 0).unwrap();
    (model, t)
}

#[test]
fn the_probe_counts_every_write_of_the_models_steps() {
    let data = zipf(3_000);
    let (model, t) = touches(&data);
    assert_eq!(t.samples(), 3_000, "at most the data's rows");
    // Logistic loss has a nonzero gradient on every row: each nonzero and
    // the bias are written once per sample.
    let expected = (data.nnz() + data.len()) as f64 / data.len() as f64;
    assert!(
        (t.per_sample() - expected).abs() < 1e-9,
        "{} vs {expected}",
        t.per_sample()
    );
    assert_eq!(
        t.count(model.n_weights() - 1),
        3_000,
        "the bias is written by every sample"
    );
    let hot = t.written_at_least(1.0 / AUTO_EVERY as f64, usize::MAX);
    assert_eq!(hot[0], model.n_weights() - 1, "the most written first");
    assert!(hot.windows(2).all(|w| t.count(w[0]) >= t.count(w[1])));
    assert!(hot
        .iter()
        .all(|&j| f64::from(t.count(j)) >= 3_000.0 / AUTO_EVERY as f64));
    assert!(
        t.share(&hot) > 0.3,
        "Zipf popularity: the few hot weights take a large share"
    );
    assert_eq!(t.written_at_least(0.0, 3).len(), 3);
}

#[test]
fn auto_picks_by_shape_and_thread_count() {
    let skewed = zipf(5_000);
    let (model, t) = touches(&skewed);
    assert_eq!(choose(&t, model.n_weights(), 1).policy, Policy::Racy);
    assert_eq!(
        choose(&t, model.n_weights(), 2).policy,
        Policy::Racy,
        "a split costs more than 2 threads contend"
    );
    match choose(&t, model.n_weights(), AUTO_HOTCOLD_THREADS).policy {
        Policy::HotCold { hot, every } => {
            assert_eq!(every, AUTO_EVERY);
            assert!(hot > 0 && hot < 1_000, "{hot} hot weights");
        }
        p => panic!("skewed data on many threads should split hot weights, got {p}"),
    }

    let uniform = uniform(5_000);
    let (model, t) = touches(&uniform);
    let c = choose(&t, model.n_weights(), 16);
    // Only the bias is hot under uniform popularity: well under 10% of writes.
    assert_eq!(c.policy, Policy::Racy, "{}", c.reason);

    let dense = Synthetic::dense(2_000, 64).generate().unwrap();
    let (model, t) = touches(&dense);
    match choose(&t, model.n_weights(), 2).policy {
        Policy::Replicas { every, merge } => {
            assert_eq!(merge, Merge::Sum);
            assert!(every >= 64);
        }
        p => panic!("dense steps should get replicas, got {p}"),
    }
    assert_eq!(choose(&t, model.n_weights(), 1).policy, Policy::Racy);
}

#[test]
fn auto_is_the_default_and_the_report_names_the_pick() {
    let dense = Synthetic::dense(2_000, 64).generate().unwrap();
    let model = Linear::new(Loss::Logistic, dense.n_features()).bias(true);
    let t = Trainer::new().threads(2).epochs(2);
    assert_eq!(t.get_policy(), Policy::Auto);
    let mut job = t.job(&model, &dense);
    let pick = job.choose_policy().unwrap();
    let trained = job.run().unwrap();
    assert_eq!(trained.report.policy, format!("auto:{}", pick.policy));
    assert!(pick.reason.contains("simulated at 2 workers"), "{}", pick.reason);
    assert_eq!(trained.report.policy_reason, pick.reason, "the report says why");
    let again = t.fit(&model, &dense).unwrap();
    assert_eq!(again.report.policy_reason, pick.reason, "run() alone decides the same");
    let one = Trainer::new().threads(1).epochs(1).fit(&model, &dense).unwrap();
    assert_eq!(one.report.policy, "auto:racy");
}

#[test]
fn auto_validates_the_data_before_probing_it() {
    let data = zipf(500);
    let narrow = Linear::new(Loss::Logistic, 10); // the data has 5,000 features
    let err = Trainer::new().threads(4).fit(&narrow, &data).unwrap_err();
    assert!(err.to_string().contains("training data"), "{err}");
}

#[test]
fn every_strategy_learns_what_sequential_learns() {
    let data = zipf(8_000);
    let model = Linear::new(Loss::Logistic, data.n_features())
        .bias(true)
        .l2(1e-4, &data);
    let t = Trainer::new().epochs(4).seed(3);
    let seq = t.clone().policy(Policy::Sequential).fit(&model, &data).unwrap();
    let seq_loss = seq.report.final_loss().unwrap();
    for policy in [
        Policy::HotCold { hot: 4096, every: 32 },
        Policy::HotCold { hot: 0, every: 8 },
        Policy::Replicas {
            every: 128,
            merge: Merge::Sum,
        },
        Policy::Auto,
    ] {
        for threads in [1, 3] {
            let r = t.clone().policy(policy).threads(threads).fit(&model, &data).unwrap();
            let loss = r.report.final_loss().unwrap();
            // Replicas merged by sum apply up to `every` samples late; with 3
            // workers on a loaded 2-core machine a preempted worker's replica
            // goes staler still (measured: 2.2 % above sequential). Whether
            // that is equivalent is the TOST harness's question
            // (tests/equivalence.rs); here each must simply learn.
            let stale = matches!(r.report.policy.trim_start_matches("auto:"), p if p.starts_with("delayed"));
            let tolerance = if stale && threads > 1 { 0.05 } else { 0.01 };
            assert!(
                (loss - seq_loss).abs() / seq_loss < tolerance,
                "{} x{threads}: {loss} vs sequential {seq_loss}",
                r.report.policy
            );
        }
    }
    // Averaging 3 replicas divides each change by 3: slower per epoch.
    let avg = t
        .clone()
        .policy(Policy::Replicas {
            every: 128,
            merge: Merge::Average,
        })
        .threads(3)
        .fit(&model, &data)
        .unwrap();
    assert!(avg.report.final_loss().unwrap() > seq_loss);
}

#[test]
fn a_hotcold_merge_interval_of_zero_is_an_error() {
    let data = zipf(200);
    let model = Linear::new(Loss::Logistic, data.n_features());
    let err = Trainer::new()
        .threads(2)
        .policy(Policy::HotCold { hot: 10, every: 0 })
        .fit(&model, &data)
        .unwrap_err();
    assert!(err.to_string().contains("merge interval"), "{err}");
}

#[test]
fn mesh_cortices_resolve_auto_and_hotcold_on_their_own_rows() {
    let data = zipf(6_000);
    let a = Linear::new(Loss::Logistic, data.n_features()).bias(true);
    let b = Linear::new(Loss::Hinge, data.n_features()).bias(true);
    let t = Trainer::new().threads(2).epochs(3).seed(1);
    let mesh = Mesh::new(t.clone())
        .cortex("auto", &a, Policy::Auto)
        .cortex("hot", &b, Policy::HotCold { hot: 4096, every: 32 })
        .route(|_, i| Ok(if i % 2 == 0 { Routes::only(0) } else { Routes::all(2) }));
    let trained = mesh.fit(&data).unwrap();
    let last = trained.report.epochs.last().unwrap();
    assert_eq!(last.cortices[0].samples, 6_000);
    assert_eq!(last.cortices[1].samples, 3_000);
    // Each cortex learned: its loss fell well below the untrained one.
    assert!(last.cortices[0].loss < 0.6, "{}", last.cortices[0].loss);
    assert!(last.cortices[1].loss < 0.9, "{}", last.cortices[1].loss);
    assert_eq!(trained.weights("hot").unwrap().len(), b.n_weights());
}

/// `auto` decides from the coherence simulator's replay of its candidates
/// (a prediction, not a timing: the same inputs give the same pick on any
/// machine and under any load).
#[test]
fn auto_decides_from_the_simulated_counts_deterministically() {
    let uniform = uniform(5_000);
    let dense = Synthetic::dense(2_000, 64).generate().unwrap();
    let schedule = Trainer::new().get_schedule();
    for (name, data) in [("zipf", zipf(5_000)), ("uniform", uniform), ("dense", dense)] {
        let (model, t) = touches(&data);
        for threads in [2, 16] {
            let c = decide(&model, &data, &t, &schedule, 1, threads, 5).unwrap();
            let again = decide(&model, &data, &t, &schedule, 1, threads, 5).unwrap();
            assert_eq!(c, again, "{name} x{threads}: the pick is a replay, not a timing");
            assert!(
                c.reason.contains(&format!("simulated at {threads} workers;")),
                "{}",
                c.reason
            );
            assert!(c.reason.contains("racy "), "racy is always a candidate: {}", c.reason);
            eprintln!("{name} x{threads}: {} ({})", c.policy, c.reason);
        }
        assert_eq!(
            decide(&model, &data, &t, &schedule, 1, 1, 5).unwrap().policy,
            Policy::Racy
        );
    }
}

/// A candidate whose replay would need more than `AUTO_REPLAY_BYTES` of
/// private state (64 touched replicas of 600k weights: 312 MB) is left out,
/// and the reason says so, rather than allocated.
#[test]
fn auto_leaves_out_a_replay_that_would_not_fit() {
    let data = Synthetic {
        rows: 1_000,
        features: 600_000,
        ..Synthetic::default()
    }
    .generate()
    .unwrap();
    let (model, t) = touches(&data);
    let c = decide(&model, &data, &t, &Trainer::new().get_schedule(), 1, 64, 1).unwrap();
    assert!(c.reason.contains("not replayed"), "{}", c.reason);
    assert!(!matches!(c.policy, Policy::Replicas { .. }), "{}", c.policy);
}
