//! The `Batched` policy's flush: per-worker accumulation buffers handed to the
//! shared weights with `fetch_add`.
//!
//! Each worker sums its updates in a private buffer (never shared, so no
//! `UnsafeCell` is involved) and flushes every `size` samples, on `finish`,
//! and when dropped. Two workers, batches of 2, three one-weight samples
//! each: A adds 1, 2, 4 (flushes +3 after two samples, +4 on `finish`), B
//! adds 8, 16, 32 (flushes +24, then +32 when dropped without `finish`). In
//! every interleaving no contribution is lost or applied twice (the weight
//! ends at exactly 63), and a concurrent reader sees only sums of whole
//! flushes in each worker's order — never a single sample's add, which
//! would mean a flush per add, nor any other value.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use wildsgd::policy::rule::BatchedRule;
use wildsgd::policy::{UpdateRule, Worker};
use wildsgd::{WeightStore, WeightsMut};
use wildsgd_loom_tests::{explore, floats, Outcomes};

fn worker_thread(store: &Arc<WeightStore>, deltas: [f32; 3], call_finish: bool) -> thread::JoinHandle<()> {
    let store = Arc::clone(store);
    thread::spawn(move || {
        let rule = BatchedRule { size: 2 };
        let mut w = rule.worker(&store);
        for d in deltas {
            w.update(|v| v.add(0, d));
        }
        if call_finish {
            w.finish();
        }
        // Otherwise the drop flushes.
    })
}

#[test]
fn batched_flushes_lose_nothing_and_apply_nothing_twice() {
    let seen = Outcomes::new();
    let record = seen.clone();
    explore("batched_flushes_lose_nothing_and_apply_nothing_twice", move || {
        let store = Arc::new(WeightStore::zeros(1));
        let a = worker_thread(&store, [1.0, 2.0, 4.0], true);
        let b = worker_thread(&store, [8.0, 16.0, 32.0], false);
        let reader = {
            let store = Arc::clone(&store);
            thread::spawn(move || store.get(0))
        };
        let observed = reader.join().unwrap();
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(store.get(0), 63.0, "a flushed contribution was lost or applied twice");
        record.insert(observed.to_bits());
    });
    // A's flushes: 0, 3, 7; B's: 0, 24, 56; the reader sees one of each.
    let allowed: Vec<f32> = [0.0f32, 3.0, 7.0]
        .iter()
        .flat_map(|a| [0.0f32, 24.0, 56.0].map(|b| a + b))
        .collect();
    let seen: Vec<u32> = seen.all().into_iter().collect();
    for v in floats(&seen) {
        assert!(allowed.contains(&v), "the reader saw {v}, not a sum of whole flushes");
    }
    assert!(seen.contains(&0.0f32.to_bits()) && seen.contains(&63.0f32.to_bits()));
    assert!(
        floats(&seen).iter().any(|v| ![0.0, 63.0].contains(v)),
        "loom never showed a reader between flushes: {:?}",
        floats(&seen)
    );
}
