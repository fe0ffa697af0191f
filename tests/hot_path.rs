//! The per-sample path of the lock-free policies allocates nothing and takes
//! no lock.
//!
//! The test suite's counting global allocator (`tests/common/alloc.rs`)
//! counts every allocation; this file reads its process-wide count, which
//! sees the training pool's threads too. The lock test holds every lock the
//! crate owns while training.

use std::sync::mpsc;
use std::time::Duration;

use wildsgd::data::{CsrDataset, Synthetic};
use wildsgd::model::Step;
use wildsgd::policy::rule::{AtomicAddRule, BatchedRule, HotColdRule, Merge, RacyRule, ReplicasRule};
use wildsgd::policy::{Touches, UpdateRule, Worker};
use wildsgd::{Linear, Loss, Model, Policy, Trainer, WeightStore};

#[path = "common/alloc.rs"]
mod counting_alloc;

use counting_alloc::process_allocations as allocations;

/// The process-wide count sees every thread, so the tests of this file run
/// one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn problem(rows: usize) -> CsrDataset {
    Synthetic {
        rows,
        features: 3_000,
        seed: 2,
        ..Synthetic::default()
    }
    .generate()
    .unwrap()
}

/// Drives one worker of `rule` over every sample, as the trainer's loop does.
fn pass<R: UpdateRule>(rule: &R, store: &WeightStore, model: &Linear, data: &CsrDataset) {
    let mut worker = rule.worker(store);
    for i in 0..data.len() {
        let sample = data.row(i);
        worker.update(|w| model.step(w, sample, Step::new(0.1)));
    }
    worker.finish();
}

#[test]
fn the_lock_free_per_sample_path_allocates_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let data = problem(5_000);
    let model = Linear::new(Loss::Logistic, data.n_features())
        .bias(true)
        .l2(1e-4, &data);
    let store = WeightStore::zeros(model.n_weights());

    let before = allocations();
    pass(&RacyRule, &store, &model, &data);
    assert_eq!(allocations() - before, 0, "RacyRule allocated in the per-sample path");
    let before = allocations();
    pass(&AtomicAddRule, &store, &model, &data);
    assert_eq!(
        allocations() - before,
        0,
        "AtomicAddRule allocated in the per-sample path"
    );
    // BatchedRule allocates its buffer when the worker is made, then nothing per sample.
    let rule = BatchedRule { size: 32 };
    let mut worker = rule.worker(&store);
    let before = allocations();
    for i in 0..data.len() {
        let sample = data.row(i);
        worker.update(|w| model.step(w, sample, Step::new(0.1)));
    }
    worker.finish();
    assert_eq!(
        allocations() - before,
        0,
        "BatchedRule allocated in the per-sample path"
    );
    drop(worker);
    // So do HotColdRule and ReplicasRule (their merges included: 5,000 samples are
    // 156 hot merges and 19 replica merges).
    let touches = Touches::probe(&model, &data, &store.snapshot(), 2_000, 0.1, 1).unwrap();
    let hot = HotColdRule::new(&touches.written_at_least(1.0 / 32.0, 4096), model.n_weights(), 32).unwrap();
    assert!(!hot.hot().is_empty());
    let mut worker = hot.worker(&store);
    let before = allocations();
    for i in 0..data.len() {
        let sample = data.row(i);
        worker.update(|w| model.step(w, sample, Step::new(0.1)));
    }
    worker.finish();
    assert_eq!(
        allocations() - before,
        0,
        "HotColdRule allocated in the per-sample path"
    );
    drop(worker);
    // Every 256 samples: whole-copy replicas (3,001 weights / 256 <= DENSE_PER_SAMPLE);
    // every 8: touched-only ones (375 > 256), whose touched list must not grow per sample.
    for (every, merge) in [(256, Merge::Sum), (256, Merge::Average), (8, Merge::Sum)] {
        let rule = ReplicasRule {
            every,
            merge,
            workers: 2,
        };
        let mut worker = rule.worker(&store);
        let before = allocations();
        for i in 0..data.len() {
            let sample = data.row(i);
            worker.update(|w| model.step(w, sample, Step::new(0.1)));
        }
        worker.finish();
        assert_eq!(
            allocations() - before,
            0,
            "ReplicasRule (every {every}) allocated in the per-sample path"
        );
    }

    // A whole training run allocates per run and per epoch (pool, orders,
    // reports), never per sample: 10x the samples costs (almost) no more.
    let small = problem(2_000);
    let large = problem(20_000);
    for policy in [
        Policy::Racy,
        Policy::AtomicAdd,
        Policy::HotCold { hot: 4096, every: 32 },
        Policy::Replicas {
            every: 64,
            merge: Merge::Sum,
        },
        Policy::Auto,
    ] {
        let t = Trainer::new().threads(2).epochs(3).policy(policy);
        let count = |d: &CsrDataset| {
            let m = Linear::new(Loss::Logistic, d.n_features()).bias(true);
            let before = allocations();
            t.fit(&m, d).unwrap();
            allocations() - before
        };
        let (a, b) = (count(&small), count(&large));
        // 54,000 more sample updates; allow only a constant's worth of slack.
        assert!(b <= a + 64, "{policy}: {a} allocations for 2k rows, {b} for 20k rows");
    }
}

#[test]
fn lock_free_policies_finish_while_every_crate_lock_is_held() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let data = problem(3_000);
    let model = Linear::new(Loss::Logistic, data.n_features()).bias(true);
    let store = WeightStore::zeros(model.n_weights());
    // The store's update lock is the only lock wildsgd owns.
    let guard = store.lock();
    std::thread::scope(|s| {
        for policy in [
            Policy::Racy,
            Policy::AtomicAdd,
            Policy::Sequential,
            Policy::HotCold { hot: 4096, every: 32 },
            Policy::Replicas {
                every: 64,
                merge: Merge::Sum,
            },
            Policy::Auto,
        ] {
            let (tx, rx) = mpsc::channel();
            let (model, data, store) = (&model, &data, &store);
            s.spawn(move || {
                let r = Trainer::new()
                    .threads(2)
                    .epochs(2)
                    .policy(policy)
                    .job(model, data)
                    .weights(store)
                    .run();
                tx.send(r.is_ok()).unwrap();
            });
            // A deadlock guard, not a timing assertion: a lock-taking path
            // would never finish.
            let done = rx.recv_timeout(Duration::from_secs(300));
            assert_eq!(done, Ok(true), "{policy} did not finish while the store lock was held");
        }
        // Control: the LockedRule policy does wait for that same lock.
        let (tx, rx) = mpsc::channel();
        let (model, data, store) = (&model, &data, &store);
        s.spawn(move || {
            let r = Trainer::new()
                .threads(2)
                .epochs(1)
                .policy(Policy::Locked)
                .job(model, data)
                .weights(store)
                .run();
            tx.send(r.is_ok()).unwrap();
        });
        assert!(
            rx.recv_timeout(Duration::from_millis(300)).is_err(),
            "LockedRule ran without its lock"
        );
        drop(guard);
        assert_eq!(rx.recv_timeout(Duration::from_secs(300)), Ok(true));
    });
}
