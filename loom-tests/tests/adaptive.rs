//! Property 7: the adaptive update's accumulators (`Update::Adaptive`),
//! which sit in the store next to their weights and go through the same
//! view.
//!
//! Two workers each take one adaptive `Linear` step on a hinge sample whose
//! one feature has value 1 (its scale), so each step adds exactly
//! `(g x / s)² = 1` to the feature's accumulator whatever the interleaving.
//! Under `AtomicAdd` the accumulator ends at exactly 2 in every
//! interleaving (no accumulation lost or applied twice) and the weight is
//! one of the values the two steps can sum to; under `Racy` some
//! interleaving loses one accumulation (it ends at 1), the same race its
//! weights have.
#![cfg(loom)]

use std::sync::Arc as StdArc;

use loom::sync::Arc;
use loom::thread;
use wildsgd::data::CsrDataset;
use wildsgd::model::Step;
use wildsgd::policy::rule::{AtomicAddRule, RacyRule};
use wildsgd::policy::{UpdateRule, Worker};
use wildsgd::{Linear, Loss, Model, WeightStore};
use wildsgd_loom_tests::{explore, Outcomes, LR};

fn problem() -> StdArc<(Linear, CsrDataset)> {
    let mut data = CsrDataset::new(1);
    data.push(&[0], &[1.0], 1.0).unwrap();
    data.push(&[0], &[1.0], 1.0).unwrap();
    let model = Linear::new(Loss::Hinge, 1).adaptive(&data);
    StdArc::new((model, data))
}

/// The final (weight, accumulator) of every interleaving under `rule`.
fn finals<R>(name: &str, rule: R) -> Vec<(u32, u32)>
where
    R: UpdateRule + Copy + Send + Sync + 'static,
{
    let problem = problem();
    let seen = Outcomes::new();
    let record = seen.clone();
    explore(name, move || {
        let store = Arc::new(WeightStore::zeros(2));
        let workers: Vec<_> = [0, 1]
            .into_iter()
            .map(|i| {
                let (store, problem) = (Arc::clone(&store), StdArc::clone(&problem));
                thread::spawn(move || {
                    let (model, data) = &*problem;
                    let mut worker = rule.worker(&store);
                    worker.update(|w| model.step(w, data.row(i), Step::new(LR)));
                    worker.finish();
                })
            })
            .collect();
        for h in workers {
            h.join().unwrap();
        }
        let (w, acc) = (store.get(0), store.get(1));
        assert!(w.is_finite() && acc.is_finite(), "{w} {acc}");
        record.insert((w.to_bits(), acc.to_bits()));
    });
    seen.all().into_iter().collect()
}

#[test]
fn atomic_add_loses_no_accumulation() {
    let finals = finals("adaptive_atomic_add", AtomicAddRule);
    // Each step moves the weight by lr/√(the accumulator it saw) (the
    // data's rate factor is 1: one feature of normalised value 1): 1 if it
    // read before the other's accumulation, 2 after; both cannot read after.
    let step = |acc: f32| LR / acc.sqrt();
    let possible = [step(1.0) + step(1.0), step(1.0) + step(2.0)];
    for &(w, acc) in &finals {
        assert_eq!(
            f32::from_bits(acc),
            2.0,
            "an accumulation was lost or doubled: {finals:?}"
        );
        let w = f32::from_bits(w);
        assert!(
            possible.iter().any(|p| (p - w).abs() < 1e-6),
            "weight {w} is not a sum of the two steps {possible:?}"
        );
    }
}

#[test]
fn racy_can_lose_an_accumulation() {
    let finals = finals("adaptive_racy", RacyRule);
    assert!(
        finals.iter().any(|&(_, acc)| f32::from_bits(acc) == 1.0),
        "expected some interleaving to lose an accumulation: {finals:?}"
    );
    assert!(finals.iter().all(|&(_, acc)| [1.0, 2.0].contains(&f32::from_bits(acc))));
}
