//! The `Replicas` policy's merge: each worker trains a private copy and
//! `fetch_add`s its change since its last merge into the shared weights,
//! and the next period reads the shared weights again.
//!
//! Replicas come in two kinds (`DENSE_PER_SAMPLE`): a whole copy merged by
//! one walk over the model (small models), and a copy of only what the
//! period wrote, merged by walking that (large ones); every model runs
//! both. Two workers, merges every 2 samples, three one-weight samples each: A
//! adds 1, 2, 4 (merges its change 3 after two samples, 4 on `finish`), B
//! adds 8, 16, 32 (24, then 32 when dropped without `finish`). With
//! `Merge::Sum` the weight ends at exactly 63 in every interleaving; with
//! `Merge::Average` over 2 workers, at exactly 31.5 — each change lands once,
//! halved, whatever the other worker merged in between (a merge adds the
//! change accumulated since the last one, which restarts from zero, so
//! nothing is merged twice). A concurrent
//! reader sees only sums of whole merges.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use wildsgd::policy::rule::{Merge, ReplicasRule, DENSE_PER_SAMPLE};
use wildsgd::policy::{UpdateRule, Worker};
use wildsgd::{WeightStore, Weights, WeightsMut};
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

/// Weights in the store of a model whose replicas hold only what they
/// touched: more than `DENSE_PER_SAMPLE` weights per sample of a 2-sample
/// merge interval (a 1-weight store gets whole-copy replicas).
const TOUCHED_DIM: usize = 2 * DENSE_PER_SAMPLE + 2;

fn check(merge: Merge, scale: f32, dim: usize) {
    let seen = Outcomes::new();
    let record = seen.clone();
    let kind = if dim == 1 { "dense" } else { "touched" };
    explore(&format!("replica_merges_{merge:?}_{kind}"), move || {
        let store = Arc::new(WeightStore::zeros(dim));
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
    check(Merge::Sum, 1.0, 1);
    check(Merge::Sum, 1.0, TOUCHED_DIM);
}

#[test]
fn averaged_replicas_land_each_change_once_scaled() {
    check(Merge::Average, 0.5, 1);
    check(Merge::Average, 0.5, TOUCHED_DIM);
}

/// Touched-only merges: worker A writes only weight 0 (1 then 2, merging
/// every sample), worker B only weight 1 (8 then 16) and reads weight 0
/// before each of its adds. A merge walks only what its worker wrote, so it
/// never writes a weight it did not touch: both weights end at their exact
/// sums in every interleaving, and B's reads of weight 0 (not in its
/// replica) see the shared value, i.e. sums of A's whole merges.
#[test]
fn merges_touch_only_what_their_worker_wrote() {
    let seen = Outcomes::new();
    let record = seen.clone();
    explore("replica_touched_only", move || {
        // Every sample merges: more than DENSE_PER_SAMPLE weights per sample
        // makes both replicas touched-only.
        let store = Arc::new(WeightStore::zeros(DENSE_PER_SAMPLE + 1));
        let rule = ReplicasRule {
            every: 1,
            merge: Merge::Sum,
            workers: 2,
        };
        let a = {
            let store = Arc::clone(&store);
            thread::spawn(move || {
                let mut w = rule.worker(&store);
                for d in [1.0, 2.0] {
                    w.update(|v| v.add(0, d));
                }
            })
        };
        let b = {
            let store = Arc::clone(&store);
            thread::spawn(move || {
                let mut w = rule.worker(&store);
                [8.0, 16.0].map(|d| {
                    w.update(|v| {
                        let saw = v.read(0);
                        v.add(1, d);
                        saw
                    })
                })
            })
        };
        a.join().unwrap();
        for saw in b.join().unwrap() {
            record.insert(saw.to_bits());
        }
        assert_eq!(
            (store.get(0), store.get(1)),
            (3.0, 24.0),
            "a merge wrote a weight it did not touch"
        );
    });
    let seen: Vec<u32> = seen.all().into_iter().collect();
    let seen = floats(&seen);
    for v in &seen {
        assert!([0.0, 1.0, 3.0].contains(v), "B read {v}, not a sum of A's whole merges");
    }
    assert!(seen.len() > 1, "loom showed B only one value of weight 0: {seen:?}");
}
