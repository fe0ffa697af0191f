//! The `Replicas` policy's merge: each worker trains a private copy and
//! `fetch_add`s its change since its last merge into the shared weights,
//! then reloads them.
//!
//! Two workers, merges every 2 samples, three one-weight samples each: A
//! adds 1, 2, 4 (merges its change 3 after two samples, 4 on `finish`), B
//! adds 8, 16, 32 (24, then 32 when dropped without `finish`). With
//! `Merge::Sum` the weight ends at exactly 63 in every interleaving; with
//! `Merge::Average` over 2 workers, at exactly 31.5 — each change lands once,
//! halved, whatever the other worker merged in between (a replica's base
//! moves to what it reloaded, so nothing is merged twice). A concurrent
//! reader sees only sums of whole merges.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use wildsgd::policy::rule::{Merge, ReplicasRule};
use wildsgd::policy::{UpdateRule, Worker};
use wildsgd::{WeightStore, WeightsMut};
use wildsgd_loom_tests::{explore, floats, Outcomes};

fn worker_thread(
    store: &Arc<WeightStore>,
    merge: Merge,
    deltas: [f32; 3],
    call_finish: bool,
) -> thread::JoinHandle<()> {
    let store = Arc::clone(store);
    thread::spawn(move || {
        let rule = ReplicasRule {
            every: 2,
            merge,
            workers: 2,
        };
        let mut w = rule.worker(&store);
        for d in deltas {
            w.update(|v| v.add(0, d));
        }
        if call_finish {
            w.finish();
        }
    })
}

fn check(merge: Merge, scale: f32) {
    let seen = Outcomes::new();
    let record = seen.clone();
    explore(&format!("replica_merges_{merge:?}"), move || {
        let store = Arc::new(WeightStore::zeros(1));
        let a = worker_thread(&store, merge, [1.0, 2.0, 4.0], true);
        let b = worker_thread(&store, merge, [8.0, 16.0, 32.0], false);
        let reader = {
            let store = Arc::clone(&store);
            thread::spawn(move || store.get(0))
        };
        let observed = reader.join().unwrap();
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(store.get(0), 63.0 * scale, "a merge was lost or applied twice");
        record.insert(observed.to_bits());
    });
    let allowed: Vec<f32> = [0.0f32, 3.0, 7.0]
        .iter()
        .flat_map(|a| [0.0f32, 24.0, 56.0].map(|b| (a + b) * scale))
        .collect();
    let seen: Vec<u32> = seen.all().into_iter().collect();
    for v in floats(&seen) {
        assert!(allowed.contains(&v), "the reader saw {v}, not a sum of whole merges");
    }
    assert!(
        floats(&seen).iter().any(|v| ![0.0, 63.0 * scale].contains(v)),
        "loom never showed a reader between merges: {:?}",
        floats(&seen)
    );
}

#[test]
fn summed_replicas_lose_nothing_and_merge_nothing_twice() {
    check(Merge::Sum, 1.0);
}

#[test]
fn averaged_replicas_land_each_change_once_scaled() {
    check(Merge::Average, 0.5);
}
