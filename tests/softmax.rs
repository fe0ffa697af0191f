//! The dense multiclass softmax model: its maths (gradient, stability), its
//! checks, that it learns, that it allocates nothing per step, that parallel
//! training converges to the sequential loss, and Fashion-MNIST accuracy.

#[path = "common/cache.rs"]
mod cache;
use cache::cached;
use std::sync::OnceLock;
use std::time::Instant;

use wildsgd::data::{read_libsvm, CsrDataset, LibsvmOptions};
use wildsgd::equivalence::{Harness, Verdict};
use wildsgd::model::Step;
use wildsgd::model::{cross_entropy, softmax_in_place, Softmax, SyntheticClasses, MAX_CLASSES};
use wildsgd::policy::rule::{AtomicAddRule, RacyRule};
use wildsgd::policy::{UpdateRule, Worker};
use wildsgd::{Error, Model, Policy, Schedule, Trainer, WeightStore};

#[path = "common/alloc.rs"]
mod counting_alloc;

use counting_alloc::allocations;

/// 3 classes, 4 features; feature 3 appears in no row.
fn tiny() -> CsrDataset {
    let mut d = CsrDataset::new(4);
    d.push(&[0, 2], &[1.0, -2.0], 2.0).unwrap();
    d.push(&[1], &[0.5], 0.0).unwrap();
    d.push(&[0, 1, 2], &[0.3, 1.5, 1.0], 1.0).unwrap();
    d
}

/// Deterministic, varied weights.
fn weights(n: usize) -> Vec<f32> {
    (0..n).map(|k| ((k * 7 + 3) % 11) as f32 * 0.1 - 0.5).collect()
}

/// A step is `-lr` times the gradient of the sample's loss plus the lazy L2
/// term, checked by central differences on every weight.
#[test]
fn step_is_the_gradient_of_cross_entropy_plus_lazy_l2() {
    let d = tiny();
    for lambda in [0.0f32, 0.05] {
        let model = Softmax::new(3, 4).unwrap().l2(lambda, &d);
        assert_eq!(model.n_weights(), 3 * 5);
        let w0 = weights(model.n_weights());
        // n / df: feature 0 in 2 of 3 rows, 1 in 2, 2 in 2, 3 in none.
        let inv_df = [1.5f32, 1.5, 1.5, 0.0];
        for i in 0..d.len() {
            let x = d.row(i);
            let lr = 1e-3f32;
            let mut w = w0.clone();
            model.step(&mut w, x, Step::new(lr));
            for k in 0..w.len() {
                let h = 1e-2f32;
                let (mut plus, mut minus) = (w0.clone(), w0.clone());
                plus[k] += h;
                minus[k] -= h;
                let numeric =
                    (model.loss(&plus, x, Step::new(0.0)) - model.loss(&minus, x, Step::new(0.0))) / f64::from(2.0 * h);
                let j = k % 5;
                let touched = j == 4 || x.indices.contains(&(j as u32));
                let l2 = if touched && j < 4 {
                    f64::from(lambda * inv_df[j] * w0[k])
                } else {
                    0.0
                };
                let analytic = f64::from(w0[k] - w[k]) / f64::from(lr);
                assert!(
                    (analytic - (numeric + l2)).abs() < 2e-3,
                    "λ {lambda}, row {i}, weight {k}: step gives {analytic}, finite differences {}",
                    numeric + l2
                );
                if !touched {
                    assert_eq!(w[k], w0[k], "row {i} must not touch weight {k}");
                }
            }
        }
        // The objective's penalty: λ/2 ‖W‖², biases (every 5th weight) excluded.
        let sq: f64 = w0
            .iter()
            .enumerate()
            .filter(|(k, _)| k % 5 != 4)
            .map(|(_, &v)| f64::from(v) * f64::from(v))
            .sum();
        assert!((model.penalty(&w0) - 0.5 * f64::from(lambda) * sq).abs() < 1e-9);
    }
}

#[test]
fn layout_is_class_major_with_the_bias_last() {
    let model = Softmax::new(3, 4).unwrap();
    assert_eq!(model.index(0, 0), 0);
    assert_eq!(model.index(1, 4), 9, "class 1's bias");
    assert_eq!(model.index(2, 1), 11);
    // Only class 1's bias set: every row is predicted as class 1 and the
    // logits are the biases.
    let mut w = vec![0.0f32; model.n_weights()];
    w[model.index(1, 4)] = 2.0;
    w[model.index(2, 0)] = 1.0;
    let d = tiny();
    let mut z = [0.0f32; 3];
    model.logits(&w, &d.row(1), &mut z);
    assert_eq!(z, [0.0, 2.0, 0.0]);
    model.logits(&w, &d.row(2), &mut z);
    assert_eq!(z, [0.0, 2.0, 0.3]);
    assert_eq!(model.predict(&w, &d.row(2)), 1);
    assert_eq!(model.correct(&w, d.row(2)), Some(true));
    assert_eq!(model.correct(&w, d.row(0)), Some(false));
}

#[test]
fn softmax_and_loss_are_stable_with_huge_logits() {
    let mut z = [1e4f32, 0.0, -1e4];
    softmax_in_place(&mut z);
    assert_eq!(z, [1.0, 0.0, 0.0]);
    let mut z = [3e38f32, 3e38, -3e38];
    softmax_in_place(&mut z);
    assert_eq!(z, [0.5, 0.5, 0.0]);
    let mut z = [-1e30f32, -1e30 + 1e24, -1e30];
    softmax_in_place(&mut z);
    assert!(z.iter().all(|p| p.is_finite()), "{z:?}");
    assert!((z.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    assert_eq!(cross_entropy(&[1e4, -1e4], 0), 0.0);
    assert!((cross_entropy(&[1e4, -1e4], 1) - 2e4).abs() < 1e-9);
    assert!((cross_entropy(&[0.0, 0.0, 0.0, 0.0], 3) - 4f64.ln()).abs() < 1e-12);

    // A step with logits in the thousands stays finite and moves the
    // (confidently wrong) model the right way.
    let model = Softmax::new(2, 1).unwrap();
    let mut d = CsrDataset::new(1);
    d.push(&[0], &[1.0], 1.0).unwrap();
    let mut w = vec![5000.0f32, 0.0, -5000.0, 0.0];
    assert!((model.loss(&w, d.row(0), Step::new(0.0)) - 1e4).abs() < 1e-6);
    model.step(&mut w, d.row(0), Step::new(0.5));
    assert_eq!(w, vec![4999.5, -0.5, -4999.5, 0.5]);
}

#[test]
fn validate_names_the_bad_row() {
    let model = Softmax::new(3, 4).unwrap();
    assert!(model.validate(&tiny()).is_ok());
    for (label, what) in [(3.0f32, "label 3 "), (1.5, "label 1.5 "), (-1.0, "label -1 ")] {
        let mut d = tiny();
        d.push(&[0], &[1.0], label).unwrap();
        let e = model.validate(&d).unwrap_err();
        assert!(matches!(e, Error::InvalidSample { row: 3, .. }), "{e}");
        let text = e.to_string();
        assert!(text.starts_with(&format!("row 3: {what}")), "{text}");
        assert!(text.contains("not a class id (a whole number in 0..3)"), "{text}");
    }
    // A row using a feature the model does not have.
    let mut d = CsrDataset::new(10);
    d.push(&[1], &[1.0], 0.0).unwrap();
    d.push(&[2, 7], &[1.0, 1.0], 1.0).unwrap();
    let e = model.validate(&d).unwrap_err();
    assert!(
        matches!(
            e,
            Error::FeatureOutOfRange {
                row: 1,
                index: 7,
                dim: 4
            }
        ),
        "{e}"
    );
    // The trainer checks before training and says which dataset.
    let e = Trainer::new().threads(1).fit(&model, &d).unwrap_err();
    assert_eq!(
        e.to_string(),
        "training data, row 1: feature index 7 is beyond the model's dimension 4"
    );
    // Confusion matrices check too.
    assert!(model.confusion(&vec![0.0; model.n_weights()], &d).is_err());
}

#[test]
fn class_count_is_capped_with_a_clear_error() {
    assert!(Softmax::new(MAX_CLASSES, 10).is_ok());
    let e = Softmax::new(MAX_CLASSES + 1, 10).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "invalid classes: a softmax model needs 2 to {MAX_CLASSES} classes (a step keeps every logit in a \
             fixed stack buffer), got {}",
            MAX_CLASSES + 1
        )
    );
    assert!(Softmax::new(1, 10).is_err());
    assert!(Softmax::new(2, 0).is_err());
    // Inferring the classes from labels obeys the same cap.
    let mut d = CsrDataset::new(1);
    d.push(&[0], &[1.0], 0.0).unwrap();
    d.push(&[0], &[1.0], 9.0).unwrap();
    assert_eq!(Softmax::classes_in(&d).unwrap(), 10);
    d.push(&[0], &[1.0], MAX_CLASSES as f32).unwrap();
    let e = Softmax::for_data(&d).unwrap_err();
    assert!(e.to_string().starts_with("row 2: label 256 is not a class id"), "{e}");
}

#[test]
fn a_step_allocates_nothing() {
    let data = SyntheticClasses {
        rows: 200,
        features: 30,
        classes: MAX_CLASSES,
        margin: 0.0,
        ..SyntheticClasses::default()
    }
    .generate()
    .unwrap();
    let model = Softmax::for_data(&data).unwrap().l2(1e-3, &data);
    let store = WeightStore::zeros(model.n_weights());
    let mut plain = vec![0.0f32; model.n_weights()];
    fn pass<R: UpdateRule>(rule: &R, store: &WeightStore, model: &Softmax, data: &CsrDataset) {
        let mut worker = rule.worker(store);
        for i in 0..data.len() {
            worker.update(|w| model.step(w, data.row(i), Step::new(0.05)));
        }
        worker.finish();
    }
    let before = allocations();
    pass(&RacyRule, &store, &model, &data);
    pass(&AtomicAddRule, &store, &model, &data);
    for i in 0..data.len() {
        model.step(&mut plain, data.row(i), Step::new(0.05));
        let _ = model.loss(&plain, data.row(i), Step::new(0.0));
        let _ = model.correct(&plain, data.row(i));
    }
    assert_eq!(
        allocations() - before,
        0,
        "steps, losses and predictions allocate nothing"
    );
    assert!(store.all_finite());
}

/// Separable classes (teacher margin 0.5), learned to (almost) 100 %
/// accuracy on held-out rows.
#[test]
fn separable_classes_are_learned() {
    let data = SyntheticClasses {
        rows: 6_000,
        features: 20,
        classes: 5,
        margin: 0.5,
        ..SyntheticClasses::default()
    }
    .generate()
    .unwrap();
    let (train, test) = data.split(0.2, 3).unwrap();
    let model = Softmax::for_data(&train).unwrap();
    let trained = Trainer::new()
        .threads(2)
        .policy(Policy::Racy)
        .epochs(20)
        .schedule(Schedule::Constant(0.5))
        .job(&model, &train)
        .validation(&test)
        .run()
        .unwrap();
    let confusion = model.confusion(&trained.weights, &test).unwrap();
    let last = trained.report.epochs.last().unwrap();
    eprintln!(
        "separable: training objective {:.4}, held-out\n{confusion}",
        last.train_loss
    );
    assert_eq!(
        last.valid_accuracy,
        Some(confusion.accuracy()),
        "the trainer's accuracy is argmax"
    );
    assert!(confusion.accuracy() >= 0.995, "{confusion}");
    assert!(model.confusion(&trained.weights, &train).unwrap().accuracy() >= 0.995);
    assert!(last.train_loss < 0.1, "{}", last.train_loss);
    assert_eq!(confusion.total(), test.len() as u64);
    for c in 0..5 {
        assert!(confusion.recall(c).unwrap() >= 0.98, "{confusion}");
    }
}

/// Noisy 10-class dense problem: 8,000 rows × 64 features, 10 % of labels
/// redrawn, generated once.
fn noisy() -> &'static CsrDataset {
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

/// RacyRule and AtomicAddRule at 2 threads reach the sequential converged loss within
/// the equivalence suite's 1 % tolerance, although every sample writes every
/// class row (and all threads write the same 10 biases on every sample).
#[test]
fn parallel_training_is_equivalent_to_sequential() {
    let train = noisy();
    let model = Softmax::for_data(train).unwrap().l2(1e-4, train);
    let trainer = Trainer::new()
        .epochs(8)
        .schedule(Schedule::EpochDecay {
            initial: 0.5,
            decay: 0.6,
        })
        .seed(1);
    let mut harness = Harness::new(&trainer, &model, train).seeds(3).tolerance(0.01);
    for policy in [Policy::Racy, Policy::AtomicAdd] {
        let cmp = harness.policy(policy, 2).unwrap();
        eprintln!("{cmp}");
        assert_eq!(cmp.verdict, Verdict::Equivalent, "\n{cmp}");
        assert!(cmp.rel_gap.abs() < 0.01, "{cmp}");
    }
}

/// Fashion-MNIST, all 60,000 training images, 3 epochs with 2 RacyRule threads
/// and tail averaging: test accuracy at least 0.83.
#[test]
#[ignore = "needs data-cache/fashion-mnist/{train,test}.svm.gz; run scripts/fetch-data"]
fn fashion_mnist_test_accuracy() {
    let (train_path, test_path) = (
        cached("fashion-mnist/train.svm.gz"),
        cached("fashion-mnist/test.svm.gz"),
    );
    let clock = Instant::now();
    let opts = LibsvmOptions {
        n_features: Some(784),
        ..LibsvmOptions::default()
    };
    let train = read_libsvm(&train_path, &opts).unwrap().data;
    let test = read_libsvm(&test_path, &opts).unwrap().data;
    let read_seconds = clock.elapsed().as_secs_f64();
    assert_eq!((train.len(), test.len()), (60_000, 10_000));
    let model = Softmax::for_data(&train).unwrap().l2(1e-4, &train);
    assert_eq!((model.n_classes(), model.n_features()), (10, 784));
    let trained = Trainer::new()
        .threads(2)
        .policy(Policy::Racy)
        .epochs(3)
        .schedule(Schedule::EpochDecay {
            initial: 0.01,
            decay: 0.6,
        })
        .average(true)
        .loss_rows(Some(2_000))
        .seed(0)
        .fit(&model, &train)
        .unwrap();
    let confusion = model.confusion(&trained.weights, &test).unwrap();
    eprintln!(
        "fashion-mnist: read in {read_seconds:.1} s, trained {} epochs at {:.0} samples/s, training objective \
         {:.4} (on 2,000 rows), total {:.1} s\n{confusion}",
        trained.report.epochs.len(),
        trained.report.samples_per_sec(),
        trained.report.final_loss().unwrap(),
        clock.elapsed().as_secs_f64()
    );
    assert!(confusion.accuracy() >= 0.83, "{confusion}");
}
