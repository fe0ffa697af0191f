//! Properties 2 and 3: whether concurrent adds to one weight can be lost.
//!
//! `AtomicAdd` turns each `add` into a `fetch_add` (a CAS loop), so no update
//! is ever lost or applied twice: the weight ends at the exact sum in every
//! interleaving. `Racy` is the Hogwild! update: a Relaxed load, then a
//! Relaxed store of `loaded + delta`, so a second writer can overwrite the
//! first writer's store with a value computed from the stale load. That
//! lost update is the trade-off the Hogwild! paper accepts: it costs no
//! synchronisation at all, and when samples rarely touch the same weight at
//! the same moment it only delays progress slightly. These models show the
//! trade-off is real (the lost update happens) and bounded (nothing worse:
//! no torn value, no update counted twice).
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use wildsgd::policy::rule::{AtomicAddRule, RacyRule};
use wildsgd::policy::{UpdateRule, Worker};
use wildsgd::{WeightStore, WeightsMut};
use wildsgd_loom_tests::{explore, floats, Outcomes};

/// Spawns one thread per delta, each applying a one-sample update
/// `add(0, delta)` through a worker of rule `R`, joins them all, and returns
/// weight 0.
fn concurrent_adds<R>(init: f32, deltas: &[f32]) -> f32
where
    R: UpdateRule + Default + Send + Sync + 'static,
{
    let store = Arc::new(WeightStore::from_slice(&[init]));
    let threads: Vec<_> = deltas
        .iter()
        .map(|&delta| {
            let store = Arc::clone(&store);
            thread::spawn(move || {
                let rule = R::default();
                let mut worker = rule.worker(&store);
                worker.update(|w| w.add(0, delta));
                worker.finish();
            })
        })
        .collect();
    for h in threads {
        h.join().unwrap();
    }
    store.get(0)
}

/// Property 2: three threads `fetch_add` 1, 2 and 4 to a weight starting at
/// 0.5 (every partial sum is exact in `f32`, so float rounding cannot hide or
/// fake a lost update); in every interleaving, including those where a
/// thread's CAS fails and retries, the weight ends at exactly 7.5.
#[test]
fn atomic_add_loses_no_update() {
    let finals = Outcomes::new();
    let record = finals.clone();
    explore("atomic_add_loses_no_update", move || {
        let last = concurrent_adds::<AtomicAddRule>(0.5, &[1.0, 2.0, 4.0]);
        assert_eq!(
            last.to_bits(),
            7.5f32.to_bits(),
            "AtomicAddRule lost or duplicated an update: {last}"
        );
        record.insert(last.to_bits());
    });
    assert_eq!(finals.all().len(), 1);
}

/// Property 3: two `Racy` threads each add 1 to a weight starting at 0.
/// loom must find the interleaving where both load 0 and the second store
/// overwrites the first (final value 1: one update lost), as well as the
/// serial ones (final value 2), and nothing else (no torn value, no update
/// applied twice).
#[test]
fn racy_can_lose_an_update() {
    let finals = Outcomes::new();
    let record = finals.clone();
    explore("racy_can_lose_an_update", move || {
        let last = concurrent_adds::<RacyRule>(0.0, &[1.0, 1.0]);
        assert!(last == 1.0 || last == 2.0, "RacyRule produced {last}");
        record.insert(last.to_bits());
    });
    let seen: Vec<u32> = finals.all().into_iter().collect();
    assert!(
        seen.contains(&1.0f32.to_bits()),
        "loom found no interleaving in which RacyRule loses an update; finals {:?}",
        floats(&seen)
    );
    assert_eq!(
        seen,
        vec![1.0f32.to_bits(), 2.0f32.to_bits()],
        "finals {:?}",
        floats(&seen)
    );
}
