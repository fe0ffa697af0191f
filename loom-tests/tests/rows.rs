//! Property 4: a sample's update to several weights (a row) is not atomic
//! as a whole under the lock-free policies.
//!
//! Two threads each take one SGD step of the real `wildsgd::Linear` model
//! (hinge loss) on a sample touching the same two weights, while a reader
//! copies the row with `WeightStore::row(..).to_vec()`. Each element on its
//! own is always consistent: a value that weight held (the initial value,
//! one writer's update, or both). But the row as a whole may mix the two
//! writers: element 0 can show only writer A's update while element 1 shows
//! only writer B's, a state no one-sample-at-a-time order ever produces.
//! That is the Hogwild! contract (a reader, or a concurrent step computing
//! its margin, sees a sample's update half-applied); the `Locked` policy
//! rules it out (`locked.rs`).
#![cfg(loom)]

use std::sync::Arc as StdArc;

use loom::sync::Arc;
use loom::thread;
use wildsgd::model::Step;
use wildsgd::policy::rule::{AtomicAddRule, RacyRule};
use wildsgd::policy::{UpdateRule, Worker};
use wildsgd::{Model, WeightStore};
use wildsgd_loom_tests::{bits, explore, floats, hinge_problem, Outcomes, A, B, LR};

/// The set of writers whose update a value of one element reflects, as bits
/// (1 = A, 2 = B); `None` for a value that weight never held.
fn writers_in(v: f32) -> Option<u8> {
    [0.0, A, B, A + B]
        .iter()
        .position(|x| x.to_bits() == v.to_bits())
        .map(|i| i as u8)
}

/// Runs the model for rule `R`: asserts every row the reader saw is
/// element-wise consistent, every final row is one of `finals`, and that
/// across all interleavings the reader saw the mixed rows `(A, B)` and
/// `(B, A)`.
fn row_updates<R>(name: &str, finals: &'static [[f32; 2]])
where
    R: UpdateRule + Default + Send + Sync + 'static,
{
    let problem = hinge_problem();
    let rows = Outcomes::new();
    let record = rows.clone();
    explore(name, move || {
        let store = Arc::new(WeightStore::zeros(2));
        let writers: Vec<_> = [0, 1]
            .into_iter()
            .map(|i| {
                let (store, problem) = (Arc::clone(&store), StdArc::clone(&problem));
                thread::spawn(move || {
                    let (model, data) = &*problem;
                    let rule = R::default();
                    let mut worker = rule.worker(&store);
                    worker.update(|w| model.step(w, data.row(i), Step::new(LR)));
                    worker.finish();
                })
            })
            .collect();
        let reader = {
            let store = Arc::clone(&store);
            thread::spawn(move || store.row(0, 2).to_vec())
        };
        for h in writers {
            h.join().unwrap();
        }
        let row = reader.join().unwrap();
        for &v in &row {
            assert!(writers_in(v).is_some(), "row {row:?}: {v} is a value no weight held");
        }
        let last = store.snapshot();
        assert!(
            finals.iter().any(|f| bits(f) == bits(&last)),
            "final row {last:?}, expected one of {finals:?}"
        );
        record.insert(bits(&row));
    });
    let rows: Vec<Vec<u32>> = rows.all().into_iter().collect();
    let mixed = |r: &Vec<u32>| {
        let w: Vec<u8> = floats(r).into_iter().map(|v| writers_in(v).unwrap()).collect();
        w[0] & !w[1] != 0 && w[1] & !w[0] != 0
    };
    println!(
        "{name}: the reader saw {} distinct rows of the 16 element-wise consistent ones; mixed: {:?}",
        rows.len(),
        rows.iter().filter(|r| mixed(r)).map(|r| floats(r)).collect::<Vec<_>>()
    );
    // With Relaxed loads every element-wise consistent row is observable,
    // even (0, A + B): nothing orders the reader's two loads against the
    // writers' stores to different weights.
    assert_eq!(rows.len(), 16, "{name}: expected all 16 element-wise consistent rows");
    for want in [[A, B], [B, A]] {
        assert!(
            rows.contains(&bits(&want)),
            "loom found no interleaving in which the reader sees the mixed row {want:?}"
        );
    }
}

#[test]
fn atomic_add_rows_are_elementwise_consistent_but_may_mix() {
    row_updates::<AtomicAddRule>(
        "atomic_add_rows_are_elementwise_consistent_but_may_mix",
        &[[A + B, A + B]],
    );
}

#[test]
fn racy_rows_are_elementwise_consistent_but_may_mix() {
    // Each element may also lose one writer's update.
    const F: [[f32; 2]; 9] = [
        [A, A],
        [A, B],
        [A, A + B],
        [B, A],
        [B, B],
        [B, A + B],
        [A + B, A],
        [A + B, B],
        [A + B, A + B],
    ];
    row_updates::<RacyRule>("racy_rows_are_elementwise_consistent_but_may_mix", &F);
}
