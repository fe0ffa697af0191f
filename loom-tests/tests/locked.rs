//! Property 5a: the store's lock (`WeightStore::lock`) and the `Locked`
//! policy, which holds it for each whole sample.
//!
//! Under `Locked` no update is lost or applied twice, and a reader holding
//! the store lock sees whole samples only: never the half-applied or mixed
//! rows that `rows.rs` shows for the lock-free policies. The lock-free
//! policies never take the lock, so they make progress while someone else
//! holds it (loom reports a deadlock otherwise), and a `Locked` worker does
//! not write while someone else holds it.
#![cfg(loom)]

use std::sync::Arc as StdArc;

use loom::sync::Arc;
use loom::thread;
use wildsgd::model::Step;
use wildsgd::policy::rule::{AtomicAddRule, LockedRule, RacyRule};
use wildsgd::policy::{UpdateRule, Worker};
use wildsgd::{Model, WeightStore, WeightsMut};
use wildsgd_loom_tests::{bits, explore, floats, hinge_problem, Outcomes, A, B, LR};

/// Two `Locked` workers each take one `Linear` step on a sample touching
/// both weights while a reader copies the row under `WeightStore::lock()`.
/// The reader sees exactly the whole-sample states (0, 0), (A, A), (B, B)
/// and (A + B, A + B) (all of them, across the interleavings), and after
/// both workers joined the row is exactly (A + B, A + B): no lost or
/// duplicated update, even though each `add` inside the lock is the racy
/// load + store.
#[test]
fn locked_loses_no_update_and_readers_see_whole_samples() {
    let problem = hinge_problem();
    let rows = Outcomes::new();
    let record = rows.clone();
    explore("locked_loses_no_update_and_readers_see_whole_samples", move || {
        let store = Arc::new(WeightStore::zeros(2));
        let writers: Vec<_> = [0, 1]
            .into_iter()
            .map(|i| {
                let (store, problem) = (Arc::clone(&store), StdArc::clone(&problem));
                thread::spawn(move || {
                    let (model, data) = &*problem;
                    let mut worker = LockedRule.worker(&store);
                    worker.update(|w| model.step(w, data.row(i), Step::new(LR)));
                    worker.finish();
                })
            })
            .collect();
        let reader = {
            let store = Arc::clone(&store);
            thread::spawn(move || {
                let _guard = store.lock();
                store.row(0, 2).to_vec()
            })
        };
        for h in writers {
            h.join().unwrap();
        }
        let row = reader.join().unwrap();
        let whole = [[0.0, 0.0], [A, A], [B, B], [A + B, A + B]];
        assert!(
            whole.iter().any(|w| bits(w) == bits(&row)),
            "a reader holding the store lock saw a partial sample: {row:?}"
        );
        let last = store.snapshot();
        assert_eq!(
            bits(&last),
            bits(&[A + B, A + B]),
            "LockedRule lost or duplicated an update: {last:?}"
        );
        record.insert(bits(&row));
    });
    let rows: Vec<Vec<u32>> = rows.all().into_iter().collect();
    assert_eq!(
        rows.len(),
        4,
        "expected every whole-sample state; saw {:?}",
        rows.iter().map(|r| floats(r)).collect::<Vec<_>>()
    );
}

/// The lock-free policies never take the store lock: with the lock held by
/// the model's main thread for the whole run, a `Racy` and an `AtomicAdd`
/// worker still finish their samples (if either waited for the lock, loom
/// would report a deadlock at the join), and their updates are all there.
#[test]
fn lock_free_policies_never_take_the_store_lock() {
    explore("lock_free_policies_never_take_the_store_lock", || {
        let store = Arc::new(WeightStore::zeros(2));
        let guard = store.lock();
        let racy = {
            let store = Arc::clone(&store);
            thread::spawn(move || RacyRule.worker(&store).update(|w| w.add(0, 1.0)))
        };
        let atomic = {
            let store = Arc::clone(&store);
            thread::spawn(move || AtomicAddRule.worker(&store).update(|w| w.add(1, 2.0)))
        };
        racy.join().unwrap();
        atomic.join().unwrap();
        assert_eq!(store.snapshot(), vec![1.0, 2.0]);
        drop(guard);
    });
}

/// `WeightStore::lock()` is the lock `Locked` workers take: a thread holding
/// it reads weight 0, yields (inviting loom to run the worker), and reads it
/// again; the two reads always agree, because a `Locked` worker cannot apply
/// its sample meanwhile. Across the interleavings the holder gets the lock
/// both before the worker (reads 0) and after it (reads 1), and the update
/// is there exactly once at the end.
#[test]
fn store_lock_excludes_locked_workers() {
    let seen = Outcomes::new();
    let record = seen.clone();
    explore("store_lock_excludes_locked_workers", move || {
        let store = Arc::new(WeightStore::zeros(1));
        let worker = {
            let store = Arc::clone(&store);
            thread::spawn(move || LockedRule.worker(&store).update(|w| w.add(0, 1.0)))
        };
        let holder = {
            let store = Arc::clone(&store);
            thread::spawn(move || {
                let _guard = store.lock();
                let first = store.get(0);
                thread::yield_now();
                (first, store.get(0))
            })
        };
        worker.join().unwrap();
        let (first, second) = holder.join().unwrap();
        assert_eq!(
            first.to_bits(),
            second.to_bits(),
            "a LockedRule worker wrote while another thread held the store lock"
        );
        assert_eq!(store.get(0), 1.0);
        record.insert(first.to_bits());
    });
    let seen: Vec<u32> = seen.all().into_iter().collect();
    assert_eq!(seen, bits(&[0.0, 1.0]), "the lock holder saw {:?}", floats(&seen));
}
