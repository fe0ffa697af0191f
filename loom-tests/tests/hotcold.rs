//! The `HotCold` policy's merge: hot weights buffered per worker and handed
//! to the shared weights with `fetch_add`, cold weights written racily.
//!
//! Weight 0 is hot, weight 1 cold; merges every 2 samples. Worker A adds 1,
//! 2, 4 to the hot weight (merges +3 after two samples, +4 on `finish`),
//! worker B adds 8, 16, 32 (merges +24, then +32 when dropped without
//! `finish`); each also adds 1 to the cold weight once. In every
//! interleaving the hot weight ends at exactly 63 (no merge lost or applied
//! twice) and a concurrent reader sees only sums of whole merges; the cold
//! weight keeps `Racy`'s semantics, and loom finds the interleaving where
//! one of its two adds is lost — the difference the split is about.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use wildsgd::policy::rule::HotColdRule;
use wildsgd::policy::{UpdateRule, Worker};
use wildsgd::{WeightStore, WeightsMut};
use wildsgd_loom_tests::{explore, floats, Outcomes};

fn worker_thread(
    store: &Arc<WeightStore>,
    rule: &Arc<HotColdRule>,
    deltas: [f32; 3],
    call_finish: bool,
) -> thread::JoinHandle<()> {
    let (store, rule) = (Arc::clone(store), Arc::clone(rule));
    thread::spawn(move || {
        let mut w = rule.worker(&store);
        for (i, d) in deltas.into_iter().enumerate() {
            w.update(|v| {
                v.add(0, d);
                if i == 0 {
                    v.add(1, 1.0);
                }
            });
        }
        if call_finish {
            w.finish();
        }
        // Otherwise the drop merges.
    })
}

#[test]
fn hot_merges_lose_nothing_and_apply_nothing_twice() {
    let seen = Outcomes::new();
    let cold = Outcomes::new();
    let (record, record_cold) = (seen.clone(), cold.clone());
    explore("hot_merges_lose_nothing_and_apply_nothing_twice", move || {
        let store = Arc::new(WeightStore::zeros(2));
        let rule = Arc::new(HotColdRule::new(&[0], 2, 2).unwrap());
        let a = worker_thread(&store, &rule, [1.0, 2.0, 4.0], true);
        let b = worker_thread(&store, &rule, [8.0, 16.0, 32.0], false);
        let reader = {
            let store = Arc::clone(&store);
            thread::spawn(move || store.get(0))
        };
        let observed = reader.join().unwrap();
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(store.get(0), 63.0, "a hot merge was lost or applied twice");
        record.insert(observed.to_bits());
        record_cold.insert(store.get(1).to_bits());
    });
    let allowed: Vec<f32> = [0.0f32, 3.0, 7.0]
        .iter()
        .flat_map(|a| [0.0f32, 24.0, 56.0].map(|b| a + b))
        .collect();
    let seen: Vec<u32> = seen.all().into_iter().collect();
    for v in floats(&seen) {
        assert!(allowed.contains(&v), "the reader saw {v}, not a sum of whole merges");
    }
    assert!(
        floats(&seen).iter().any(|v| ![0.0, 63.0].contains(v)),
        "loom never showed a reader between merges: {:?}",
        floats(&seen)
    );
    let cold: Vec<f32> = floats(&cold.all().into_iter().collect::<Vec<_>>());
    assert!(cold.contains(&2.0), "the cold weight never got both adds: {cold:?}");
    assert!(cold.contains(&1.0), "loom never lost a racy cold add: {cold:?}");
    assert!(
        cold.iter().all(|v| [1.0, 2.0].contains(v)),
        "a cold weight was torn: {cold:?}"
    );
}
