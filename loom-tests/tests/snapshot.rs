//! Property 5b: `WeightStore::snapshot()` taken while workers write.
//!
//! Workers update overlapping sparse rows (A touches weights 0 and 1, B
//! touches 1 and 2) while a reader takes a snapshot. Every element of the
//! snapshot is a value that weight held at some point (its own history),
//! although the snapshot as a whole need not match any single instant; after
//! the workers are joined a snapshot is exact under `AtomicAdd`, and under
//! `Racy` only the shared weight 1 may have lost an update.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use wildsgd::policy::rule::{AtomicAddRule, RacyRule};
use wildsgd::policy::{UpdateRule, Worker};
use wildsgd::{WeightStore, WeightsMut};
use wildsgd_loom_tests::{bits, explore, floats, Outcomes};

/// Writer A's delta (to weights 0 and 1) and writer B's (to 1 and 2).
const A: f32 = 1.0;
const B: f32 = 2.0;

/// The values each weight can ever hold, from 0 initially.
fn histories() -> [Vec<f32>; 3] {
    [vec![0.0, A], vec![0.0, A, B, A + B], vec![0.0, B]]
}

/// Runs the model for rule `R`; `finals` are the allowed values of weight 1
/// after the join (weights 0 and 2 have one writer each and must end at `A`
/// and `B`). Returns the distinct snapshots the reader took.
fn snapshot_during_updates<R>(name: &str, finals: &'static [f32]) -> Vec<Vec<u32>>
where
    R: UpdateRule + Default + Send + Sync + 'static,
{
    let snaps = Outcomes::new();
    let record = snaps.clone();
    explore(name, move || {
        let store = Arc::new(WeightStore::zeros(3));
        let writers: Vec<_> = [(0, A), (1, B)]
            .into_iter()
            .map(|(first, delta)| {
                let store = Arc::clone(&store);
                thread::spawn(move || {
                    let rule = R::default();
                    let mut worker = rule.worker(&store);
                    worker.update(|w| {
                        w.add(first, delta);
                        w.add(first + 1, delta);
                    });
                    worker.finish();
                })
            })
            .collect();
        let reader = {
            let store = Arc::clone(&store);
            thread::spawn(move || store.snapshot())
        };
        for h in writers {
            h.join().unwrap();
        }
        let snap = reader.join().unwrap();
        for (j, (v, held)) in snap.iter().zip(histories()).enumerate() {
            assert!(
                held.iter().any(|h| h.to_bits() == v.to_bits()),
                "snapshot {snap:?}: weight {j} never held {v}"
            );
        }
        let mut last = Vec::new();
        store.snapshot_into(&mut last);
        assert_eq!(bits(&[last[0], last[2]]), bits(&[A, B]), "final {last:?}");
        assert!(
            finals.iter().any(|f| f.to_bits() == last[1].to_bits()),
            "final {last:?}: weight 1 should be one of {finals:?}"
        );
        record.insert(bits(&snap));
    });
    let snaps: Vec<Vec<u32>> = snaps.all().into_iter().collect();
    println!(
        "{name}: {} distinct snapshots of the 16 element-wise possible",
        snaps.len()
    );
    // Non-vacuity: the reader did run concurrently with the writers, seeing
    // nothing, everything, and a snapshot matching no single instant
    // (weight 2 updated by B but weight 0 not by A, while weight 1 has
    // A's update).
    for want in [[0.0, 0.0, 0.0], [A, A + B, B], [0.0, A, B]] {
        assert!(
            snaps.contains(&bits(&want)),
            "{name}: no snapshot {want:?} among {:?}",
            snaps.iter().map(|s| floats(s)).collect::<Vec<_>>()
        );
    }
    snaps
}

#[test]
fn snapshot_during_atomic_add_updates() {
    let snaps = snapshot_during_updates::<AtomicAddRule>("snapshot_during_atomic_add_updates", &[A + B]);
    assert_eq!(snaps.len(), 16);
}

#[test]
fn snapshot_during_racy_updates() {
    snapshot_during_updates::<RacyRule>("snapshot_during_racy_updates", &[A, B, A + B]);
}
