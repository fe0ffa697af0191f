//! Property 1: no torn writes, because there is no data race.
//!
//! Every shared access to a weight goes through the `sync` shim's atomics
//! (under `--cfg loom`, loom's `AtomicU32` holding the `f32`'s bits), so loom
//! would report any non-atomic access that races with another. On top of
//! that, each test checks the observable contract: whatever a concurrent
//! reader sees is the initial value or a value some writer stored, never a
//! mixture of bits. One model per policy (`Sequential` is `Racy` on one
//! thread), and a control model showing that loom does report a race when
//! weights live in a plain (non-atomic) cell.
#![cfg(loom)]

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;
use wildsgd::policy::rule::{AtomicAddRule, LockedRule, RacyRule};
use wildsgd::policy::{UpdateRule, Worker};
use wildsgd::{WeightStore, Weights, WeightsMut};
use wildsgd_loom_tests::{explore, floats, Outcomes};

/// The initial weight and the two writers' deltas. Every partial sum is
/// exact in `f32`, and the possible values 1, 3, 5, 7 (`0x3f80_0000`,
/// `0x4040_0000`, `0x40a0_0000`, `0x40e0_0000`) are far apart in their bit
/// patterns, so a torn mixture of two of them would be none of them.
const INIT: f32 = 1.0;
const A: f32 = 2.0;
const B: f32 = 4.0;

/// Every value weight 0 can hold: the initial value, or one that writer A or
/// B stored (A stores `seen + A` for a `seen` of `INIT` or `INIT + B`, and B
/// likewise). Under `Racy` a store may overwrite the other writer's, under
/// the others it cannot, but the set of storable values is the same.
fn stored_values() -> [u32; 4] {
    [INIT, INIT + A, INIT + B, INIT + A + B].map(f32::to_bits)
}

/// Two writer threads each apply one sample's update (`add(0, delta)`)
/// through a worker of rule `R`, while a third thread reads weight 0 through
/// its own worker's view and through `WeightStore::get`. Asserts that every
/// read, and the value after both writers joined, is one in
/// `stored_values()`, that the final value is one of `finals`, and that
/// across all interleavings the reader saw every storable value (so the
/// assertion is not vacuous).
fn readers_see_only_stored_values<R>(name: &str, finals: &'static [f32])
where
    R: UpdateRule + Default + Send + Sync + 'static,
{
    let seen = Outcomes::new();
    let record = seen.clone();
    explore(name, move || {
        let store = Arc::new(WeightStore::from_slice(&[INIT]));
        let writers: Vec<_> = [A, B]
            .into_iter()
            .map(|delta| {
                let store = Arc::clone(&store);
                thread::spawn(move || {
                    let rule = R::default();
                    let mut worker = rule.worker(&store);
                    worker.update(|w| w.add(0, delta));
                    worker.finish();
                })
            })
            .collect();
        // The reader is spawned last: see the README on loom's exploration.
        let reader = {
            let store = Arc::clone(&store);
            thread::spawn(move || {
                let rule = R::default();
                let mut worker = rule.worker(&store);
                let via_view = worker.update(|w| w.read(0));
                (via_view, store.get(0))
            })
        };
        for h in writers {
            h.join().unwrap();
        }
        let (via_view, via_get) = reader.join().unwrap();
        let last = store.get(0);

        for v in [via_view, via_get, last] {
            assert!(
                stored_values().contains(&v.to_bits()),
                "{v} ({:#010x}) is neither the initial value nor one a writer stored",
                v.to_bits()
            );
        }
        assert!(finals.contains(&last), "final value {last}, expected one of {finals:?}");
        record.insert(via_view.to_bits());
        record.insert(via_get.to_bits());
    });
    let all: Vec<u32> = seen.all().into_iter().collect();
    assert_eq!(
        all,
        stored_values().to_vec(),
        "the reader saw {:?}; every storable value should be reachable",
        floats(&all)
    );
}

#[test]
fn racy_reader_sees_only_stored_values() {
    // A lost update leaves INIT + A or INIT + B: see `lost_updates.rs`.
    readers_see_only_stored_values::<RacyRule>(
        "racy_reader_sees_only_stored_values",
        &[INIT + A, INIT + B, INIT + A + B],
    );
}

#[test]
fn atomic_add_reader_sees_only_stored_values() {
    readers_see_only_stored_values::<AtomicAddRule>("atomic_add_reader_sees_only_stored_values", &[INIT + A + B]);
}

#[test]
fn locked_reader_sees_only_stored_values() {
    // The reader's view read runs under the store lock too.
    readers_see_only_stored_values::<LockedRule>("locked_reader_sees_only_stored_values", &[INIT + A + B]);
}

/// Weights in plain `loom::cell::UnsafeCell`s, shared without
/// synchronisation: what the store would be if a weight were not atomic.
struct PlainCells(Vec<UnsafeCell<f32>>);

// SAFETY: deliberately wrong — this is the bug loom must catch.
unsafe impl Sync for PlainCells {}

/// A view over [`PlainCells`] with the same `read`/`add` interface as the
/// policies' views.
struct PlainView<'a>(&'a PlainCells);

impl Weights for PlainView<'_> {
    fn read(&self, j: usize) -> f32 {
        // SAFETY: none; loom checks it.
        self.0 .0[j].with(|p| unsafe { *p })
    }
}

impl WeightsMut for PlainView<'_> {
    fn add(&mut self, j: usize, delta: f32) {
        // SAFETY: none; loom checks it.
        self.0 .0[j].with_mut(|p| unsafe { *p += delta })
    }
}

/// The control for property 1: the same two-writer model over non-atomic
/// weights makes loom report a data race ("Causality violation"), so the
/// models above passing means the real store's accesses do not race.
#[test]
#[should_panic(expected = "Causality violation")]
fn plain_cell_weights_are_reported_as_a_race() {
    loom::model(|| {
        let cells = Arc::new(PlainCells(vec![UnsafeCell::new(INIT)]));
        let writers: Vec<_> = [A, B]
            .into_iter()
            .map(|delta| {
                let cells = Arc::clone(&cells);
                thread::spawn(move || PlainView(&cells).add(0, delta))
            })
            .collect();
        for h in writers {
            h.join().unwrap();
        }
        assert!(stored_values().contains(&PlainView(&cells).read(0).to_bits()));
    });
}
