use wildsgd::equivalence::Harness;
use wildsgd::{data::Synthetic, Linear, Loss, Policy, Schedule, Trainer};
fn main() {
    let data = Synthetic { rows: 20_000, features: 5_000, ..Synthetic::default() }.generate().unwrap();
    for (loss, lr) in [(Loss::Squared, 0.2f32), (Loss::Hinge, 0.5), (Loss::Logistic, 0.5)] {
        let model = Linear::new(loss, data.n_features()).bias(true).l2(1e-4, &data);
        let t = Trainer::new().epochs(10).schedule(Schedule::EpochDecay { initial: lr, decay: 0.6 }).seed(1);
        let mut h = Harness::new(&t, &model, &data).seeds(3);
        for ranks in [2usize, 4] {
            for every in [16usize, 32, 64, 128] {
                match h.distributed(Policy::Racy, ranks, 1, Some(every)) {
                    Ok(c) => println!("{loss:?} {}", c.to_string().lines().next().unwrap().chars().take(150).collect::<String>()),
                    Err(e) => println!("{loss:?} {ranks} {every}: {e}"),
                }
            }
        }
    }
}
