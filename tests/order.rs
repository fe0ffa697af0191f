//! The block order changes nothing that matters (issue 16, part 2).
//!
//! `Order::default()` (a once-per-run seeded shuffled copy of the rows, then
//! each epoch a seeded order of ~32 KiB blocks of consecutive rows of that
//! copy, each block's rows permuted) is compared with `Order::Full` (a fresh
//! permutation of all rows each epoch, the textbook order) under
//! `Policy::Sequential` by the equivalence harness: a paired TOST over
//! `SEEDS` seeds per side at the default 1 % tolerance. The reference side is
//! `Harness::new(&trainer.order(Order::Full), ..)`; the other side trains the
//! same trainer with the default order and the same seed (same initial
//! weights, other visit order), so pairing removes only the initialisation
//! noise and the test has to see through the order noise itself.
//!
//! * Every harness problem of tests/equivalence.rs (logistic, hinge and
//!   squared on the RCV1-like synthetic data), softmax, matrix factorisation
//!   and SGNS, each sized to take a few seconds.
//! * Real data whose file order has structure: the embedded SpamAssassin
//!   corpus (4,150 ham rows, then 1,896 spam rows) and MovieLens-100k sorted
//!   by user (`#[ignore]`d: it needs `data-cache/ml-100k.inter`).
//! * A negative control: the spam rows as stored (sorted by label), read
//!   without the once-shuffle (`rows_shuffled(true)`) in four huge blocks in
//!   stored order, must be `Different` from `Full`; the same four-block
//!   order *with* the once-shuffle must be `Equivalent`: the physical
//!   shuffle is what makes block orders safe.
//! * `Sequential` stays bit-for-bit reproducible per seed under the default
//!   order, and the plain baseline loops equal it bit for bit under both
//!   orders.
//!
//! Every comparison also checks that its reference loss is above the
//! harness's loss floor (else both sides are floored to the same value and
//! the verdict says nothing), and that the block side really ran a block
//! order (a dataset that cannot copy itself falls back to `Full`).
//!
//! The table of every comparison (this suite run with `--nocapture`) is
//! benches/results/2core-epyc/order/equivalence.md.

#[path = "common/cache.rs"]
mod cache;
use cache::cached;
use std::path::PathBuf;
use std::sync::OnceLock;

use wildsgd::data::{binary_labels, read_libsvm, read_ratings, CsrDataset, Dataset, LibsvmOptions, Pairs, Ratings};
use wildsgd::data::{Synthetic, SyntheticRatings};
use wildsgd::equivalence::{Comparison, Harness, Settings, Verdict};
use wildsgd::model::{Sgns, Softmax, SyntheticClasses, UnigramTable};
use wildsgd::schedule::Order;
use wildsgd::{baseline, Linear, Loss, MatrixFactorization, Model, Policy, Schedule, Trainer};

/// Seeds per side: the order noise is not paired away, so more than the
/// 3 seeds tests/equivalence.rs uses for policies.
const SEEDS: usize = 10;

/// `order` against `Order::Full` under `Sequential`, `SEEDS` seeds, the
/// harness's default 1 % tolerance; `rows_shuffled` is passed to the
/// `order` side only (`Full` never copies).
fn compare_with<M: Model>(
    trainer: &Trainer,
    model: &M,
    data: &M::Data,
    order: Order,
    rows_shuffled: bool,
) -> Comparison {
    let mut harness = Harness::new(&trainer.clone().order(Order::Full), model, data).seeds(SEEDS);
    let name = format!("{order:?}{}", if rows_shuffled { " as stored" } else { "" });
    let cmp = harness
        .compare(&name, 1, |seed| {
            // The orders' raw runs: the label-sorted control blows up its
            // first epoch, and must not be backed off into looking better.
            let trained = trainer
                .clone()
                .order(order)
                .rows_shuffled(rows_shuffled)
                .blow_up_guard(false)
                .policy(Policy::Sequential)
                .seed(seed)
                .fit(model, data)?;
            let want = match order {
                Order::Full => "full",
                Order::Stored => "stored",
                Order::Blocks {
                    shuffle_within: true, ..
                } => "blocks:",
                Order::Blocks { .. } => "blocks-in-order:",
            };
            assert!(
                trained.report.order.starts_with(want),
                "{order:?} ran as {:?}",
                trained.report.order
            );
            Ok(trained)
        })
        .unwrap();
    let floor = Settings::default().loss_floor;
    assert!(
        cmp.seq_mean > floor,
        "the reference loss {} is under the loss floor {floor}: the test would be vacuous",
        cmp.seq_mean
    );
    eprintln!("{cmp}");
    cmp
}

/// The default order against `Order::Full`: must be equivalent.
fn default_order_is_equivalent<M: Model>(what: &str, trainer: &Trainer, model: &M, data: &M::Data) {
    let cmp = compare_with(trainer, model, data, Order::default(), false);
    assert_eq!(cmp.verdict, Verdict::Equivalent, "{what}:\n{cmp}");
}

// ---------------------------------------------------------------------------
// The problems.

/// tests/equivalence.rs's data: RCV1-like, 20k rows x 5k features.
fn rcv1_like() -> &'static CsrDataset {
    static DATA: OnceLock<CsrDataset> = OnceLock::new();
    DATA.get_or_init(|| {
        Synthetic {
            rows: 20_000,
            features: 5_000,
            ..Synthetic::default()
        }
        .generate()
        .expect("valid generator settings")
    })
}

/// tests/equivalence.rs's model and trainer for `loss`.
fn linear_problem(loss: Loss) -> (Linear, Trainer) {
    let train = rcv1_like();
    let model = Linear::new(loss, train.n_features()).bias(true).l2(1e-4, train);
    let initial = if loss == Loss::Squared { 0.2 } else { 0.5 };
    let trainer = Trainer::new()
        .epochs(10)
        .schedule(Schedule::EpochDecay { initial, decay: 0.6 })
        .seed(1);
    (model, trainer)
}

/// tests/softmax.rs's noisy 10-class problem (8,000 x 64, 10 % label noise).
fn classes() -> &'static CsrDataset {
    static DATA: OnceLock<CsrDataset> = OnceLock::new();
    DATA.get_or_init(|| {
        SyntheticClasses {
            rows: 8_000,
            features: 64,
            classes: 10,
            margin: 0.0,
            label_noise: 0.1,
            seed: 5,
        }
        .generate()
        .unwrap()
    })
}

fn softmax_problem() -> (Softmax, Trainer) {
    let train = classes();
    let model = Softmax::for_data(train).unwrap().l2(1e-4, train);
    let trainer = Trainer::new()
        .epochs(8)
        .schedule(Schedule::EpochDecay {
            initial: 0.5,
            decay: 0.6,
        })
        .seed(1);
    (model, trainer)
}

/// tests/mf.rs's equivalence problem: 600 users x 400 items, 30k ratings.
fn ratings() -> &'static Ratings {
    static DATA: OnceLock<Ratings> = OnceLock::new();
    DATA.get_or_init(|| {
        SyntheticRatings {
            users: 600,
            items: 400,
            ratings: 30_000,
            rank: 4,
            noise: 0.5,
            seed: 3,
            ..SyntheticRatings::default()
        }
        .generate()
        .unwrap()
    })
}

fn mf_problem() -> (MatrixFactorization, Trainer) {
    let data = ratings();
    let model = MatrixFactorization::for_ratings(data, 8)
        .expect("valid model settings")
        .l2(0.02, data);
    let trainer = Trainer::new()
        .epochs(12)
        .schedule(Schedule::EpochDecay {
            initial: 0.1,
            decay: 0.75,
        })
        .seed(1);
    (model, trainer)
}

/// tests/sgns.rs's two cliques of 20 nodes joined by one edge, each pair 4
/// times (6,084 pairs, grouped by clique and source node as generated).
fn two_cliques() -> &'static Pairs {
    static DATA: OnceLock<Pairs> = OnceLock::new();
    DATA.get_or_init(|| {
        let mut e = Vec::new();
        for c in [0u32, 20] {
            for a in c..c + 20 {
                for b in c..c + 20 {
                    if a != b {
                        e.push((a, b));
                    }
                }
            }
        }
        e.push((0, 20));
        Pairs::new(e.repeat(4))
    })
}

fn sgns_problem() -> (Sgns, Trainer) {
    let pairs = two_cliques();
    let model = Sgns::new(40, 8, UnigramTable::new(&pairs.target_counts(40)).unwrap()).unwrap();
    let trainer = Trainer::new().epochs(8).schedule(Schedule::Linear {
        initial: 0.1,
        samples: 8 * pairs.len() as u64,
    });
    (model, trainer.seed(1))
}

/// The embedded SpamAssassin corpus, labels ±1, rows as in the file: all
/// 4,150 ham rows, then all 1,896 spam rows.
fn spam() -> &'static CsrDataset {
    static DATA: OnceLock<CsrDataset> = OnceLock::new();
    DATA.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/spamassassin.svm.gz");
        let mut data = read_libsvm(&path, &LibsvmOptions::default()).unwrap().data;
        binary_labels(&mut data).unwrap();
        data
    })
}

/// Logistic regression on the spam rows with the main job's schedule (10
/// epochs of EpochDecay(12, 0.3)) and λ = 1e-4: at the main job's λ = 1e-6
/// the training loss (about 0.012) is under the harness's 0.05 loss floor,
/// so both sides would be floored to 0.05 and any order would pass.
fn spam_problem() -> (Linear, Trainer) {
    let data = spam();
    let model = Linear::new(Loss::Logistic, data.n_features()).bias(true).l2(1e-4, data);
    let trainer = Trainer::new()
        .epochs(10)
        .schedule(Schedule::EpochDecay {
            initial: 12.0,
            decay: 0.3,
        })
        .seed(1);
    (model, trainer)
}

// ---------------------------------------------------------------------------
// The default order against the full permutation.

#[test]
fn logistic_default_order_is_equivalent_to_full() {
    let (model, trainer) = linear_problem(Loss::Logistic);
    default_order_is_equivalent("logistic", &trainer, &model, rcv1_like());
}

#[test]
fn hinge_default_order_is_equivalent_to_full() {
    let (model, trainer) = linear_problem(Loss::Hinge);
    default_order_is_equivalent("hinge", &trainer, &model, rcv1_like());
}

#[test]
fn squared_default_order_is_equivalent_to_full() {
    let (model, trainer) = linear_problem(Loss::Squared);
    default_order_is_equivalent("squared", &trainer, &model, rcv1_like());
}

#[test]
fn softmax_default_order_is_equivalent_to_full() {
    let (model, trainer) = softmax_problem();
    default_order_is_equivalent("softmax", &trainer, &model, classes());
}

#[test]
fn mf_default_order_is_equivalent_to_full() {
    let (model, trainer) = mf_problem();
    default_order_is_equivalent("mf", &trainer, &model, ratings());
}

#[test]
fn sgns_default_order_is_equivalent_to_full() {
    let (model, trainer) = sgns_problem();
    default_order_is_equivalent("sgns", &trainer, &model, two_cliques());
}

/// The file's rows are grouped by label; the once-shuffle removes that.
#[test]
fn spam_default_order_is_equivalent_to_full() {
    let labels = spam().labels();
    let first_spam = labels.iter().position(|&y| y > 0.0).unwrap();
    assert!(
        labels[..first_spam].iter().all(|&y| y < 0.0) && labels[first_spam..].iter().all(|&y| y > 0.0),
        "the spam file is expected sorted by label (ham, then spam)"
    );
    let (model, trainer) = spam_problem();
    default_order_is_equivalent("spamassassin", &trainer, &model, spam());
}

/// MovieLens-100k with its ratings sorted by user (each user's ratings
/// consecutive), the MF defaults of a MovieLens run (rank 100, λ 0.08, 25
/// epochs of EpochDecay(0.02, 0.9)).
#[test]
#[ignore = "needs data-cache/ml-100k.inter; run scripts/fetch-data"]
fn movielens_sorted_by_user_default_order_is_equivalent_to_full() {
    let ratings = read_ratings(cached("ml-100k.inter")).unwrap();
    let mut rows: Vec<usize> = (0..ratings.len()).collect();
    rows.sort_by_key(|&i| (ratings.get(i).user, i));
    let sorted = ratings.subset(&rows);
    assert!((1..sorted.len()).all(|i| sorted.get(i - 1).user <= sorted.get(i).user));
    let model = MatrixFactorization::for_ratings(&sorted, MatrixFactorization::DEFAULT_RANK).unwrap();
    let trainer = Trainer::new()
        .epochs(MatrixFactorization::DEFAULT_EPOCHS)
        .schedule(MatrixFactorization::DEFAULT_SCHEDULE)
        .seed(1);
    default_order_is_equivalent("movielens sorted by user", &trainer, &model, &sorted);
}

// ---------------------------------------------------------------------------
// The negative control: the shuffle is what matters.

/// Four blocks, each read in stored order: the coarsest block order.
fn four_blocks(n: usize) -> Order {
    Order::Blocks {
        rows: n.div_ceil(4),
        shuffle_within: false,
    }
}

/// Without the once-shuffle the spam rows stay sorted by label, and four
/// stored-order blocks are each nearly one class: each epoch ends with
/// hundreds of same-class steps and the last iterate is biased. That must be
/// told apart from the full permutation.
#[test]
fn control_sorted_rows_in_huge_blocks_without_the_shuffle_are_different() {
    let (model, trainer) = spam_problem();
    let data = spam();
    let cmp = compare_with(&trainer, &model, data, four_blocks(data.len()), true);
    assert_eq!(cmp.verdict, Verdict::Different, "\n{cmp}");
    let stored = compare_with(&trainer, &model, data, Order::Stored, true);
    assert_eq!(stored.verdict, Verdict::Different, "\n{stored}");
}

/// The same four-block order on the once-shuffled copy: equivalent.
#[test]
fn control_the_same_huge_blocks_with_the_shuffle_are_equivalent() {
    let (model, trainer) = spam_problem();
    let data = spam();
    let cmp = compare_with(&trainer, &model, data, four_blocks(data.len()), false);
    assert_eq!(cmp.verdict, Verdict::Equivalent, "\n{cmp}");
}

// ---------------------------------------------------------------------------
// Reproducibility and the baselines.

fn bits(w: &[f32]) -> Vec<u32> {
    w.iter().map(|x| x.to_bits()).collect()
}

/// Same seed twice: identical weights and losses; another seed: other
/// weights.
fn reproducible<M: Model>(what: &str, trainer: &Trainer, model: &M, data: &M::Data) {
    let t = trainer
        .clone()
        .order(Order::default())
        .policy(Policy::Sequential)
        .epochs(2);
    let run = |seed| t.clone().seed(seed).fit(model, data).unwrap();
    let (a, b, c) = (run(11), run(11), run(12));
    assert!(a.report.order.starts_with("blocks:"), "{what}: {}", a.report.order);
    assert_eq!(bits(&a.weights), bits(&b.weights), "{what}: same seed, same weights");
    assert_eq!(a.report.final_loss(), b.report.final_loss(), "{what}");
    assert_ne!(
        bits(&a.weights),
        bits(&c.weights),
        "{what}: another seed, other weights"
    );
}

#[test]
fn sequential_is_bit_for_bit_reproducible_per_seed_under_the_default_order() {
    let (m, t) = linear_problem(Loss::Logistic);
    reproducible("logistic", &t, &m, rcv1_like());
    let (m, t) = softmax_problem();
    reproducible("softmax", &t, &m, classes());
    let (m, t) = mf_problem();
    reproducible("mf", &t, &m, ratings());
    let (m, t) = sgns_problem();
    reproducible("sgns", &t, &m, two_cliques());
    let (m, t) = spam_problem();
    reproducible("spam", &t, &m, spam());
}

/// `baseline::plain` (and `plain_linear` for linear models) against
/// `Sequential`, bit for bit, under `order`.
fn plain_equals_sequential<M: Model>(what: &str, trainer: &Trainer, model: &M, data: &M::Data, order: Order) {
    let t = trainer
        .clone()
        .order(order)
        .policy(Policy::Sequential)
        .epochs(2)
        .seed(5);
    let seq = t.fit(model, data).unwrap();
    let plain = baseline::plain(&t, model, data).unwrap();
    assert_eq!(
        bits(&plain.weights),
        bits(&seq.weights),
        "{what}, {order:?}: plain vs sequential"
    );
    assert_eq!(plain.report.order, seq.report.order, "{what}");
    assert_eq!(plain.report.final_loss(), seq.report.final_loss(), "{what}");
}

#[test]
fn plain_baselines_equal_sequential_bit_for_bit_under_the_default_and_full_orders() {
    for order in [Order::default(), Order::Full] {
        for loss in [Loss::Logistic, Loss::Hinge, Loss::Squared] {
            let (m, t) = linear_problem(loss);
            let t = t.clone().order(order).policy(Policy::Sequential).epochs(2).seed(5);
            let seq = t.fit(&m, rcv1_like()).unwrap();
            let plain = baseline::plain_linear(&t, &m, rcv1_like()).unwrap();
            assert_eq!(
                bits(&plain.weights),
                bits(&seq.weights),
                "{loss:?}, {order:?}: plain_linear vs sequential"
            );
            assert_eq!(plain.report.order, seq.report.order);
            plain_equals_sequential(&format!("{loss:?}"), &t, &m, rcv1_like(), order);
        }
        let (m, t) = spam_problem();
        plain_equals_sequential("spam", &t, &m, spam(), order);
        let (m, t) = softmax_problem();
        plain_equals_sequential("softmax", &t, &m, classes(), order);
        let (m, t) = mf_problem();
        plain_equals_sequential("mf", &t, &m, ratings(), order);
        let (m, t) = sgns_problem();
        plain_equals_sequential("sgns", &t, &m, two_cliques(), order);
    }
}
