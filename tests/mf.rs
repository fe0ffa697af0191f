//! Matrix factorisation: the step against hand and finite-difference
//! gradients, the objective's bookkeeping, seeded initialisation, input
//! validation, recovery of a synthetic low-rank matrix, MovieLens 100k
//! (`#[ignore]`d: needs data-cache/), sequential equivalence of the lock-free policies,
//! and an allocation-free step.

#[path = "common/cache.rs"]
mod cache;
use cache::cached;

use wildsgd::data::{read_ratings, Dataset, Rating, Ratings, SyntheticRatings};
use wildsgd::equivalence::{Harness, Verdict};
use wildsgd::model::MatrixFactorization;
use wildsgd::model::Step;
use wildsgd::policy::rule::{AtomicAddRule, RacyRule};
use wildsgd::policy::{UpdateRule, Worker};
use wildsgd::{Error, Model, Policy, Schedule, Trainer, WeightStore, Weights};

#[path = "common/alloc.rs"]
mod counting_alloc;

use counting_alloc::allocations;

/// Two users, two items, four ratings.
fn tiny() -> Ratings {
    let mut r = Ratings::with_ids(2, 2);
    for (u, i, v) in [(0, 0, 3.0), (0, 1, 4.0), (1, 0, 1.0), (1, 1, 5.0)] {
        r.push(u, i, v).unwrap();
    }
    r
}

/// The per-rating objective the step descends: `½ e² + λ/2 (‖row_u‖² + ‖row_i‖²)`.
fn objective(m: &MatrixFactorization, w: &[f32], r: Rating) -> f64 {
    let sq = |start: usize| {
        w[start..start + m.row_len()]
            .iter()
            .map(|&x| f64::from(x).powi(2))
            .sum::<f64>()
    };
    m.loss(w, r, Step::new(0.0)) + 0.5 * f64::from(m.get_l2()) * (sq(m.user_row(r.user)) + sq(m.item_row(r.item)))
}

#[test]
fn step_matches_a_hand_computed_gradient_step() {
    let data = tiny();
    let m = MatrixFactorization::new(2, 2, 1)
        .expect("valid model settings")
        .global_mean(1.0)
        .l2(0.1, &data);
    // Rows (bias, factor): user 0 at 0, user 1 at 2, item 0 at 4, item 1 at 6.
    let mut w = vec![0.5f32, 2.0, 9.0, 9.0, -0.25, 0.5, 9.0, 9.0];
    let r = data.sample(0); // user 0, item 0, rating 3
                            // Score 1 + 0.5 - 0.25 + 2 * 0.5 = 2.25, so e = -0.75.
    assert_eq!(m.predict(&w, 0, 0), 2.25);
    assert!((m.loss(&w, r, Step::new(0.0)) - 0.5 * 0.75 * 0.75).abs() < 1e-9);
    m.step(&mut w, r, Step::new(0.1));
    let want = [
        0.5 - 0.1 * (-0.75 + 0.1 * 0.5),       // b_u
        2.0 - 0.1 * (-0.75 * 0.5 + 0.1 * 2.0), // p_u, with the old q_i
        9.0,                                   // user 1: untouched
        9.0,                                   //
        -0.25 - 0.1 * (-0.75 + 0.1 * -0.25),   // b_i
        0.5 - 0.1 * (-0.75 * 2.0 + 0.1 * 0.5), // q_i, with the old p_u
        9.0,                                   // item 1: untouched
        9.0,                                   //
    ];
    for (j, (&got, &want)) in w.iter().zip(&want).enumerate() {
        assert!((got - want).abs() < 1e-6, "weight {j}: {got} vs {want}");
    }
    assert!((w[0] - 0.57).abs() < 1e-6 && (w[1] - 2.0175).abs() < 1e-6 && (w[5] - 0.645).abs() < 1e-6);
}

#[test]
fn step_is_the_finite_difference_gradient_of_the_rating_objective() {
    let data = tiny();
    let (rank, lambda, lr) = (3, 0.07, 1e-3f32);
    let m = MatrixFactorization::new(2, 2, rank)
        .expect("valid model settings")
        .global_mean(3.25)
        .init_std(0.5)
        .l2(lambda, &data);
    let mut w0 = vec![0.0f32; m.n_weights()];
    m.init(&mut w0, 11);
    w0[m.user_row(1)] = 0.3; // non-zero biases too
    w0[m.item_row(0)] = -0.2;
    let r = data.sample(2); // user 1, item 0
    let mut w = w0.clone();
    m.step(&mut w, r, Step::new(lr));
    let h = 1e-2f32;
    for j in 0..m.n_weights() {
        let mut up = w0.clone();
        up[j] += h;
        let mut down = w0.clone();
        down[j] -= h;
        // The objective is quadratic in each single weight: central differences are exact up to rounding.
        let grad = (objective(&m, &up, r) - objective(&m, &down, r)) / f64::from(2.0 * h);
        let moved = f64::from(w0[j] - w[j]) / f64::from(lr);
        assert!(
            (moved - grad).abs() < 2e-3,
            "weight {j}: step moved {moved}, gradient {grad}"
        );
    }
}

#[test]
fn reported_objective_is_the_mean_per_rating_objective() {
    let data = tiny();
    let m = MatrixFactorization::new(2, 2, 2)
        .expect("valid model settings")
        .global_mean(3.0)
        .l2(0.2, &data);
    let mut w = vec![0.0f32; m.n_weights()];
    m.init(&mut w, 3);
    w.iter_mut().enumerate().for_each(|(j, x)| *x += 0.01 * j as f32);
    let reported = (0..data.len())
        .map(|i| m.loss(&w, data.sample(i), Step::new(0.0)))
        .sum::<f64>()
        / data.len() as f64
        + m.penalty(&w);
    let direct = (0..data.len()).map(|i| objective(&m, &w, data.sample(i))).sum::<f64>() / data.len() as f64;
    assert!((reported - direct).abs() < 1e-9, "{reported} vs {direct}");
    assert_eq!(m.clone().l2(0.0, &data).penalty(&w), 0.0);
    // The trainer reports the same objective.
    let trained = Trainer::new()
        .policy(Policy::Sequential)
        .epochs(1)
        .schedule(Schedule::Constant(0.05))
        .fit(&m, &data)
        .unwrap();
    let w = &trained.weights;
    let direct = (0..data.len()).map(|i| objective(&m, w, data.sample(i))).sum::<f64>() / data.len() as f64;
    let reported = trained.report.final_loss().unwrap();
    assert!((reported - direct).abs() < 1e-6, "{reported} vs {direct}");
}

#[test]
fn init_is_seeded_small_and_leaves_biases_at_zero() {
    let m = MatrixFactorization::new(300, 200, 16)
        .expect("valid model settings")
        .init_std(0.1);
    let (mut a, mut b, mut c) = (
        vec![1.0f32; m.n_weights()],
        vec![0.0f32; m.n_weights()],
        vec![0.0f32; m.n_weights()],
    );
    m.init(&mut a, 5);
    m.init(&mut b, 5);
    m.init(&mut c, 6);
    assert_eq!(a, b, "same seed, same weights");
    assert_ne!(a, c, "another seed, other weights");
    for row in a.chunks(m.row_len()) {
        assert_eq!(row[0], 0.0, "biases start at 0");
    }
    let factors: Vec<f64> = a
        .chunks(m.row_len())
        .flat_map(|row| row[1..].iter().map(|&x| f64::from(x)))
        .collect();
    let n = factors.len() as f64;
    let mean = factors.iter().sum::<f64>() / n;
    let sd = (factors.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    assert!(mean.abs() < 0.005, "{mean}");
    assert!((sd - 0.1).abs() < 0.005, "{sd}");
    // The trainer's initial weights are init's, per trainer seed.
    let data = tiny();
    let small = MatrixFactorization::new(2, 2, 4).expect("valid model settings");
    let t = Trainer::new()
        .policy(Policy::Sequential)
        .epochs(1)
        .schedule(Schedule::Constant(0.01));
    let run = |seed| t.clone().seed(seed).fit(&small, &data).unwrap().weights;
    assert_eq!(run(9), run(9));
    assert_ne!(run(9), run(10));
}

#[test]
fn bad_ratings_are_rejected_with_the_row_and_the_reason() {
    let m = MatrixFactorization::new(2, 2, 2).expect("valid model settings");
    let mut data = tiny();
    data.users[1] = 2;
    let e = m.validate(&data).unwrap_err();
    assert_eq!(e.to_string(), "row 1: user 2 is beyond the model's 2 users");
    let e = Trainer::new().epochs(1).fit(&m, &data).unwrap_err();
    assert_eq!(
        e.to_string(),
        "training data, row 1: user 2 is beyond the model's 2 users"
    );

    let mut data = tiny();
    data.items[3] = 7;
    let e = m.validate(&data).unwrap_err();
    assert_eq!(e.to_string(), "row 3: item 7 is beyond the model's 2 items");

    let mut data = tiny();
    data.ratings[2] = f32::INFINITY;
    let e = m.validate(&data).unwrap_err();
    assert_eq!(e.to_string(), "row 2: rating inf is not finite");
    let train = tiny();
    let e = Trainer::new()
        .epochs(1)
        .job(&m, &train)
        .validation(&data)
        .run()
        .unwrap_err();
    assert!(e.to_string().starts_with("validation data, row 2"), "{e}");

    let mut data = tiny();
    data.items.pop();
    assert!(matches!(m.validate(&data).unwrap_err(), Error::LengthMismatch { .. }));

    // The RMSE helper checks its inputs too.
    let w = vec![0.0f32; m.n_weights()];
    assert!(matches!(
        m.rmse(&w[1..], &tiny()).unwrap_err(),
        Error::LengthMismatch { .. }
    ));
    assert!(matches!(
        m.rmse(&w, &Ratings::with_ids(2, 2)).unwrap_err(),
        Error::EmptyDataset { .. }
    ));
    let mut data = tiny();
    data.users[0] = 5;
    assert!(m.rmse(&w, &data).unwrap_err().to_string().contains("user 5"));
}

#[test]
fn rmse_and_clipping() {
    let data = tiny(); // ratings 3, 4, 1, 5
    let m = MatrixFactorization::new(2, 2, 1)
        .expect("valid model settings")
        .global_mean(3.0);
    let w = vec![0.0f32; m.n_weights()];
    // Predicting 3 everywhere: errors 0, 1, 2, 2.
    assert!((m.rmse(&w, &data).unwrap() - (9.0f64 / 4.0).sqrt()).abs() < 1e-9);
    let high = m.clone().global_mean(7.0);
    assert_eq!(high.predict(&w, 0, 0), 7.0);
    let clipped = high.clip(Some((1.0, 5.0)));
    assert_eq!(clipped.predict(&w, 0, 0), 5.0);
    // Errors 2, 1, 4, 0 once clamped to 5.
    assert!((clipped.rmse(&w, &data).unwrap() - (21.0f64 / 4.0).sqrt()).abs() < 1e-9);
}

#[test]
fn split_is_seeded_disjoint_and_keeps_the_id_space() {
    let data = SyntheticRatings {
        users: 40,
        items: 30,
        ratings: 1000,
        ..SyntheticRatings::default()
    }
    .generate()
    .unwrap();
    let (train, test) = data.split(0.1, 4).unwrap();
    assert_eq!((train.len(), test.len()), (900, 100));
    assert_eq!((test.n_users(), test.n_items()), (40, 30));
    assert_eq!(data.split(0.1, 4).unwrap(), (train.clone(), test.clone()));
    assert_ne!(data.split(0.1, 5).unwrap().1, test);
    let key = |r: Rating| (r.user, r.item, r.value.to_bits());
    let mut all: Vec<_> = (0..data.len()).map(|i| key(data.get(i))).collect();
    let mut halves: Vec<_> = (0..train.len())
        .map(|i| key(train.get(i)))
        .chain((0..test.len()).map(|i| key(test.get(i))))
        .collect();
    all.sort_unstable();
    halves.sort_unstable();
    assert_eq!(all, halves, "the halves partition the ratings");
    assert!(data.split(1.0, 0).is_err());
}

#[test]
fn recovers_a_synthetic_low_rank_matrix() {
    let data = SyntheticRatings {
        users: 400,
        items: 300,
        ratings: 40_000,
        rank: 3,
        noise: 0.1,
        seed: 8,
        ..SyntheticRatings::default()
    }
    .generate()
    .unwrap();
    let (train, test) = data.split(0.1, 1).unwrap();
    let spread = {
        let mu = test.mean();
        (test.ratings.iter().map(|&r| (f64::from(r) - mu).powi(2)).sum::<f64>() / test.len() as f64).sqrt()
    };
    let model = MatrixFactorization::for_ratings(&train, 3)
        .expect("valid model settings")
        .l2(0.005, &train)
        .clip(None);
    let trained = Trainer::new()
        .threads(2)
        .epochs(40)
        .schedule(Schedule::EpochDecay {
            initial: 0.03,
            decay: 0.93,
        })
        .seed(2)
        .fit(&model, &train)
        .unwrap();
    let rmse = model.rmse(&trained.weights, &test).unwrap();
    eprintln!("synthetic rank 3: held-out RMSE {rmse:.4}, spread {spread:.4}, noise 0.1");
    assert!(spread > 0.9, "{spread}");
    // Noise alone gives 0.1; predicting the mean gives the spread (about 1).
    assert!(rmse < 0.2, "held-out RMSE {rmse}");
}

/// The target: held-out RMSE ≤ 0.93 on a random 90/10 split of
/// ML-100k, with the default settings, 2 threads, RacyRule.
#[test]
#[ignore = "needs data-cache/ml-100k.inter; run scripts/fetch-data"]
fn movielens_100k_held_out_rmse() {
    let path = cached("ml-100k.inter");
    let ratings = read_ratings(&path).unwrap();
    let (train, test) = ratings.split(0.1, 1).unwrap();
    let model =
        MatrixFactorization::for_ratings(&train, MatrixFactorization::DEFAULT_RANK).expect("valid model settings");
    let trained = Trainer::new()
        .epochs(MatrixFactorization::DEFAULT_EPOCHS)
        .schedule(MatrixFactorization::DEFAULT_SCHEDULE)
        .threads(2)
        .policy(Policy::Racy)
        .seed(1)
        .job(&model, &train)
        .validation(&test)
        .run()
        .unwrap();
    let rmse = model.rmse(&trained.weights, &test).unwrap();
    let report = &trained.report;
    eprintln!(
        "ML-100k: held-out RMSE {rmse:.4}, final objective {:.4}, {:.0} samples/s",
        report.final_loss().unwrap(),
        report.samples_per_sec()
    );
    assert!(rmse <= 0.93, "held-out RMSE {rmse}");
    // The per-epoch validation loss is ½ MSE of the unclamped score: its RMSE
    // is close to the clamped one, never better by more than clamping gives.
    let unclamped = (2.0 * report.epochs.last().unwrap().valid_loss.unwrap()).sqrt();
    assert!(
        rmse <= unclamped + 1e-9 && unclamped - rmse < 0.01,
        "{rmse} vs {unclamped}"
    );
}

/// RacyRule, AtomicAddRule and BatchedRule at 2 threads converge to the sequential
/// objective within the equivalence suite's 1 % tolerance (12 epochs of
/// EpochDecay(0.1, 0.75): the final rate is 4 % of the first, and the
/// objective has settled near the noise floor, ½ 0.5² plus the penalty).
#[test]
fn lock_free_policies_match_sequential() {
    let data = SyntheticRatings {
        users: 600,
        items: 400,
        ratings: 30_000,
        rank: 4,
        noise: 0.5,
        seed: 3,
        ..SyntheticRatings::default()
    }
    .generate()
    .unwrap();
    let model = MatrixFactorization::for_ratings(&data, 8)
        .expect("valid model settings")
        .l2(0.02, &data);
    let trainer = Trainer::new()
        .epochs(12)
        .schedule(Schedule::EpochDecay {
            initial: 0.1,
            decay: 0.75,
        })
        .seed(1);
    let mut harness = Harness::new(&trainer, &model, &data).seeds(3).tolerance(0.01);
    for policy in [Policy::Racy, Policy::AtomicAdd, Policy::Batched { size: 16 }] {
        let cmp = harness.policy(policy, 2).unwrap();
        eprintln!("{cmp}");
        assert_eq!(cmp.verdict, Verdict::Equivalent, "\n{cmp}");
        assert!(cmp.rel_gap.abs() < 0.01, "{cmp}");
    }
    // Data-parallel: 2 and 4 in-process ranks of 2 threads, each on its
    // share of the ratings, exchanging at the default interval.
    for ranks in [2, 4] {
        let cmp = harness.distributed(Policy::Racy, ranks, 2, None).unwrap();
        eprintln!("{cmp}");
        assert_eq!(cmp.verdict, Verdict::Equivalent, "\n{cmp}");
    }
}

#[test]
fn step_allocates_nothing() {
    let data = SyntheticRatings {
        users: 100,
        items: 100,
        ratings: 5_000,
        ..SyntheticRatings::default()
    }
    .generate()
    .unwrap();
    let model = MatrixFactorization::for_ratings(&data, 64).expect("valid model settings");
    let mut init = vec![0.0f32; model.n_weights()];
    model.init(&mut init, 1);
    let store = WeightStore::from_slice(&init);
    fn pass<R: UpdateRule>(rule: &R, store: &WeightStore, model: &MatrixFactorization, data: &Ratings) -> usize {
        let mut worker = rule.worker(store);
        let before = allocations();
        for i in 0..data.len() {
            let r = data.sample(i);
            worker.update(|w| model.step(w, r, Step::new(0.01)));
        }
        let used = allocations() - before;
        worker.finish();
        used
    }
    assert_eq!(pass(&RacyRule, &store, &model, &data), 0, "RacyRule");
    assert_eq!(pass(&AtomicAddRule, &store, &model, &data), 0, "AtomicAddRule");
    assert!(store.read(0).is_finite());
    let mut plain = init.clone();
    let before = allocations();
    for i in 0..data.len() {
        model.step(&mut plain[..], data.sample(i), Step::new(0.01));
    }
    assert_eq!(allocations() - before, 0, "plain slice");
}
