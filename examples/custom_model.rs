//! A model written outside the crate, on the public `Model` trait only: rank-k
//! matrix factorisation of (user, item, rating) triples, with user and item
//! factor tables laid out as rows of one weight store.
//!
//! ```text
//! cargo run --release --example custom_model
//! ```

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use wildsgd::{Model, Policy, Schedule, Step, Trainer, Weights, WeightsMut};

/// One observed rating.
struct Rating {
    user: u32,
    item: u32,
    value: f32,
}

/// `rating ≈ ⟨p_user, q_item⟩`, squared loss with L2 on the touched factors.
struct Factorisation {
    users: usize,
    items: usize,
    rank: usize,
    l2: f32,
}

impl Factorisation {
    fn user_row(&self, u: u32) -> usize {
        u as usize * self.rank
    }
    fn item_row(&self, i: u32) -> usize {
        (self.users + i as usize) * self.rank
    }
    fn predict<W: Weights + ?Sized>(&self, w: &W, r: &Rating) -> f32 {
        let (p, q) = (self.user_row(r.user), self.item_row(r.item));
        (0..self.rank).map(|k| w.read(p + k) * w.read(q + k)).sum()
    }
}

impl Model for Factorisation {
    type Data = Vec<Rating>;

    fn n_weights(&self) -> usize {
        (self.users + self.items) * self.rank
    }

    fn init(&self, weights: &mut [f32], seed: u64) {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        for w in weights {
            *w = rng.random_range(0.0..0.3);
        }
    }

    fn validate(&self, data: &Vec<Rating>) -> Result<(), wildsgd::Error> {
        match data
            .iter()
            .position(|r| r.user as usize >= self.users || r.item as usize >= self.items)
        {
            Some(row) => Err(wildsgd::Error::InvalidSample {
                row,
                reason: "user or item id out of range".into(),
            }),
            None => Ok(()),
        }
    }

    fn loss<W: Weights + ?Sized>(&self, w: &W, r: &Rating, _: Step) -> f64 {
        let e = f64::from(self.predict(w, r) - r.value);
        0.5 * e * e
    }

    fn step<W: WeightsMut + ?Sized>(&self, w: &mut W, r: &Rating, at: Step) {
        let lr = at.lr;
        let e = self.predict(w, r) - r.value;
        let (p, q) = (self.user_row(r.user), self.item_row(r.item));
        for k in 0..self.rank {
            let (pk, qk) = (w.read(p + k), w.read(q + k));
            w.add(p + k, -lr * (e * qk + self.l2 * pk));
            w.add(q + k, -lr * (e * pk + self.l2 * qk));
        }
    }
}

fn main() -> Result<(), wildsgd::Error> {
    // Ratings from a hidden rank-4 truth plus noise.
    let (users, items, rank) = (2_000, 1_000, 4);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
    let truth_u: Vec<f32> = (0..users * rank).map(|_| rng.random_range(0.0..1.0)).collect();
    let truth_i: Vec<f32> = (0..items * rank).map(|_| rng.random_range(0.0..1.0)).collect();
    let ratings: Vec<Rating> = (0..200_000)
        .map(|_| {
            let (u, i) = (rng.random_range(0..users), rng.random_range(0..items));
            let dot: f32 = (0..rank).map(|k| truth_u[u * rank + k] * truth_i[i * rank + k]).sum();
            Rating {
                user: u as u32,
                item: i as u32,
                value: dot + rng.random_range(-0.1..0.1),
            }
        })
        .collect();
    let model = Factorisation {
        users,
        items,
        rank: 8,
        l2: 0.01,
    };
    let trained = Trainer::new()
        .epochs(15)
        .policy(Policy::Racy)
        .schedule(Schedule::EpochDecay {
            initial: 0.05,
            decay: 0.9,
        })
        .fit(&model, &ratings)?;
    println!("{}", trained.report);
    let rmse = (2.0 * trained.report.final_loss().unwrap_or(f64::NAN)).sqrt();
    println!("training RMSE {rmse:.4} (noise floor ≈ 0.058)");
    // The factor tables are rows of the weight vector.
    let u0 = &trained.weights[..model.rank];
    println!("user 0 factors: {u0:?}");
    Ok(())
}
