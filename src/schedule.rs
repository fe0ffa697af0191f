//! Step-size schedules and the seeded per-epoch sample orders: what a run's
//! learning rate and order are at any sample, computed from the position
//! alone (no shared counter), so every thread and a resumed run agree.

use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::error::Error;

/// A step-size schedule: the learning rate for the sample at global position
/// `t` (counting every sample of every epoch, in shuffled order) in `epoch`.
///
/// Rates depend only on `(epoch, t)`, never on which thread runs the
/// sample or when, so a parallel run uses exactly the rates of a sequential
/// one, and workers need no shared counter.
///
/// ```
/// use wildsgd::Schedule;
///
/// assert_eq!(Schedule::Constant(0.1).rate(3, 1000), 0.1);
/// let s = Schedule::InverseTime { initial: 1.0, decay: 0.5 };
/// assert_eq!(s.rate(0, 2), 0.5); // 1 / (1 + 0.5 * 2)
/// let s = Schedule::EpochDecay { initial: 0.5, decay: 0.8 };
/// assert!((s.rate(2, 0) - 0.32).abs() < 1e-7); // 0.5 * 0.8²
/// let s = Schedule::Linear { initial: 0.025, samples: 1000 };
/// assert!((s.rate(1, 750) - 0.00625).abs() < 1e-9); // 0.025 * (1 - 750/1000)
/// assert!((s.rate(9, 5000) - 0.025e-4).abs() < 1e-12); // floored at 1e-4 * initial
/// ```
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub enum Schedule {
    /// The same rate throughout.
    Constant(f32),
    /// `initial / (1 + decay * t)`.
    InverseTime {
        /// The rate at `t = 0`.
        initial: f32,
        /// How fast it falls per sample.
        decay: f32,
    },
    /// `initial * decay^epoch`, as in the Hogwild! paper's code.
    EpochDecay {
        /// The rate in epoch 0.
        initial: f32,
        /// The factor applied at each new epoch.
        decay: f32,
    },
    /// `initial * max(1 - t / samples, 1e-4)`: word2vec's linear decay to
    /// (almost) zero over a whole run. Set `samples` to epochs × samples per
    /// epoch.
    Linear {
        /// The rate at `t = 0`.
        initial: f32,
        /// The position where the rate reaches its floor, `1e-4 * initial`.
        samples: u64,
    },
}

impl Default for Schedule {
    /// `EpochDecay { initial: 0.5, decay: 0.6 }`: large early steps, then a
    /// quick decay so that the last epochs settle rather than bounce.
    fn default() -> Self {
        Schedule::EpochDecay {
            initial: 0.5,
            decay: 0.6,
        }
    }
}

impl Schedule {
    /// The same schedule with every rate multiplied by `factor` (how the
    /// trainer backs off after a blow-up).
    ///
    /// ```
    /// use wildsgd::Schedule;
    ///
    /// let s = Schedule::EpochDecay { initial: 8.0, decay: 0.8 }.scaled(0.25);
    /// assert_eq!(s, Schedule::EpochDecay { initial: 2.0, decay: 0.8 });
    /// ```
    pub fn scaled(self, factor: f32) -> Schedule {
        match self {
            Schedule::Constant(lr) => Schedule::Constant(lr * factor),
            Schedule::InverseTime { initial, decay } => Schedule::InverseTime {
                initial: initial * factor,
                decay,
            },
            Schedule::EpochDecay { initial, decay } => Schedule::EpochDecay {
                initial: initial * factor,
                decay,
            },
            Schedule::Linear { initial, samples } => Schedule::Linear {
                initial: initial * factor,
                samples,
            },
        }
    }

    /// The learning rate at global sample position `t` in `epoch`.
    #[inline]
    pub fn rate(&self, epoch: usize, t: u64) -> f32 {
        match *self {
            Schedule::Constant(lr) => lr,
            Schedule::InverseTime { initial, decay } => {
                (f64::from(initial) / (1.0 + f64::from(decay) * t as f64)) as f32
            }
            Schedule::EpochDecay { initial, decay } => {
                (f64::from(initial) * f64::from(decay).powi(epoch as i32)) as f32
            }
            Schedule::Linear { initial, samples } => {
                let left = 1.0 - t as f64 / samples.max(1) as f64;
                (f64::from(initial) * left.max(1e-4)) as f32
            }
        }
    }

    /// Checks that the schedule yields finite, positive rates.
    pub fn validate(&self) -> Result<(), Error> {
        let (initial, decay) = match *self {
            Schedule::Constant(lr) | Schedule::Linear { initial: lr, .. } => (lr, 0.0),
            Schedule::InverseTime { initial, decay } | Schedule::EpochDecay { initial, decay } => (initial, decay),
        };
        if !(initial.is_finite() && initial > 0.0) {
            return Err(Error::InvalidLearningRate {
                value: f64::from(initial),
            });
        }
        let decay_ok = match self {
            Schedule::EpochDecay { .. } => decay > 0.0 && decay.is_finite(),
            _ => decay >= 0.0 && decay.is_finite(),
        };
        if !decay_ok {
            return Err(Error::InvalidParameter {
                name: "schedule decay",
                reason: format!(
                    "must be finite and {}, got {decay}",
                    if matches!(self, Schedule::EpochDecay { .. }) {
                        "> 0"
                    } else {
                        ">= 0"
                    }
                ),
            });
        }
        Ok(())
    }
}

/// Fills `order` with the sample order of `epoch`: a permutation of
/// `0..order.len()` that depends only on `(seed, epoch)`. Every trainer and
/// the plain baseline loop use this, so their orders are identical.
pub fn epoch_order(seed: u64, epoch: usize, order: &mut [u32]) {
    for (i, o) in order.iter_mut().enumerate() {
        *o = i as u32;
    }
    order.shuffle(&mut Xoshiro256PlusPlus::seed_from_u64(stream(seed, epoch)));
}

/// The order in which each epoch visits the training rows.
///
/// SGD's per-sample cost is mostly the wait for the row's memory when rows
/// are visited at random addresses. Every order but [`Full`](Order::Full)
/// first shuffles the rows once per run (a seeded physical copy the trainer
/// makes, unless [`Trainer::rows_shuffled`](crate::Trainer::rows_shuffled)
/// says the data already is), so that whatever structure the file has
/// (rows grouped by label, by user, by folder) is gone, and then reads that
/// copy in runs of consecutive rows that memory streams. The equivalence
/// harness shows the default converges to the loss of a full permutation
/// (tests/order.rs, benches/results/…/order/).
///
/// ```
/// use wildsgd::schedule::Order;
///
/// let mut order = vec![0u32; 10];
/// Order::Blocks { rows: 4, shuffle_within: false }.fill(7, 0, 4, &mut order);
/// // Blocks of 4 consecutive rows (the last one shorter), in a seeded order.
/// for run in order.chunk_by(|a, b| b == &(a + 1)) {
///     assert!(run[0] % 4 == 0 && run.len() <= 4);
/// }
/// let mut sorted = order.clone();
/// sorted.sort_unstable();
/// assert_eq!(sorted, (0..10).collect::<Vec<_>>());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Order {
    /// A fresh seeded permutation of all rows each epoch, on the data as
    /// given (no copy): the textbook order (scikit-learn's, the Hogwild!
    /// paper's), and wildsgd's before 0.2.
    Full,
    /// Each epoch, a fresh seeded order of blocks of `rows` consecutive rows
    /// of the once-shuffled data, with the rows of each block in a fresh
    /// seeded order when `shuffle_within` (else as stored). `rows: 0`
    /// chooses from the data: about 32 KiB of row data per block
    /// ([`block_rows`]).
    Blocks {
        /// Rows per block; 0 chooses from the row size.
        rows: usize,
        /// Whether the rows of a block are visited in a random order.
        shuffle_within: bool,
    },
    /// The once-shuffled rows in the same order every epoch: a streaming
    /// bound, for measurement (the order never changes between epochs).
    Stored,
}

impl Default for Order {
    /// Blocks of about 32 KiB of rows, each in a random order.
    fn default() -> Self {
        Order::Blocks {
            rows: 0,
            shuffle_within: true,
        }
    }
}

/// The bytes of row data a block of [`Order::Blocks`] aims for: a fraction
/// of every current core's L1 data cache, and many DRAM pages' worth of
/// sequential reads.
pub const BLOCK_BYTES: usize = 32 * 1024;

/// Rows per block for rows of `sample_bytes` bytes each: [`BLOCK_BYTES`] of
/// them, at least 8 rows (so a block is never a single long row) and at
/// most 4096 (so tiny rows still change places between epochs).
///
/// ```
/// use wildsgd::schedule::block_rows;
///
/// assert_eq!(block_rows(500), 65);   // an RCV1 row: 61 nonzeros of 8 bytes
/// assert_eq!(block_rows(12), 2730);  // a (user, item, rating) triple
/// assert_eq!(block_rows(1 << 20), 8);
/// assert_eq!(block_rows(0), 4096);
/// ```
pub fn block_rows(sample_bytes: usize) -> usize {
    (BLOCK_BYTES / sample_bytes.max(1)).clamp(8, 4096)
}

impl Order {
    /// Whether the order reads a once-shuffled copy of the rows.
    pub fn shuffles_once(&self) -> bool {
        !matches!(self, Order::Full)
    }

    /// The rows per block for rows of `sample_bytes` bytes (1 for
    /// [`Full`](Order::Full), every row for [`Stored`](Order::Stored)).
    pub fn block(&self, sample_bytes: usize, n: usize) -> usize {
        match *self {
            Order::Full => 1,
            Order::Blocks { rows: 0, .. } => block_rows(sample_bytes),
            Order::Blocks { rows, .. } => rows,
            Order::Stored => n.max(1),
        }
    }

    /// Fills `order` with the visit order of `epoch` (positions in the
    /// data, a permutation of `0..order.len()`), a function of
    /// `(seed, epoch)` and the `block` size alone.
    pub fn fill(&self, seed: u64, epoch: usize, block: usize, order: &mut [u32]) {
        match *self {
            Order::Full => epoch_order(seed, epoch, order),
            Order::Stored => {
                for (i, o) in order.iter_mut().enumerate() {
                    *o = i as u32;
                }
            }
            Order::Blocks { shuffle_within, .. } => {
                let n = order.len();
                let block = block.max(1);
                let mut rng = Xoshiro256PlusPlus::seed_from_u64(stream(seed, epoch));
                let mut blocks: Vec<u32> = (0..n.div_ceil(block) as u32).collect();
                blocks.shuffle(&mut rng);
                let mut at = 0;
                for b in blocks {
                    let start = b as usize * block;
                    let end = (start + block).min(n);
                    let run = &mut order[at..at + (end - start)];
                    for (o, i) in run.iter_mut().zip(start..end) {
                        *o = i as u32;
                    }
                    if shuffle_within {
                        run.shuffle(&mut rng);
                    }
                    at += end - start;
                }
            }
        }
    }

    /// A short name for reports: `full`, `blocks:65`, `blocks-in-order:65`,
    /// `stored`.
    pub fn describe(&self, block: usize) -> String {
        match *self {
            Order::Full => "full".into(),
            Order::Blocks {
                shuffle_within: true, ..
            } => format!("blocks:{block}"),
            Order::Blocks { .. } => format!("blocks-in-order:{block}"),
            Order::Stored => "stored".into(),
        }
    }
}

impl std::str::FromStr for Order {
    type Err = String;

    /// `full`, `blocks` (the default, rows chosen from the data),
    /// `blocks:N`, `blocks-in-order[:N]` or `stored`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, rows) = match s.split_once(':') {
            Some((name, rows)) => {
                let rows: usize = rows
                    .parse()
                    .ok()
                    .filter(|&r| r > 0)
                    .ok_or_else(|| format!("block size {rows:?} is not a positive whole number"))?;
                (name, rows)
            }
            None => (s, 0),
        };
        match (name, rows) {
            ("full", 0) => Ok(Order::Full),
            ("stored", 0) => Ok(Order::Stored),
            ("blocks", rows) => Ok(Order::Blocks {
                rows,
                shuffle_within: true,
            }),
            ("blocks-in-order", rows) => Ok(Order::Blocks {
                rows,
                shuffle_within: false,
            }),
            _ => Err(format!(
                "unknown order {s:?}: expected full, blocks, blocks:N, blocks-in-order[:N] or stored"
            )),
        }
    }
}

/// The permutation of `0..n` a run's once-per-run shuffle applies: the
/// trainer's copy holds original row `perm[i]` at position `i`. A function
/// of `seed` alone (and of `epoch` for data made per epoch).
pub fn once_permutation(seed: u64, epoch: Option<usize>, n: usize) -> Vec<u32> {
    let mut perm: Vec<u32> = (0..n as u32).collect();
    let salt = 0x5EED_0F0C_E5A1_u64.wrapping_add(epoch.map_or(0, |e| e as u64 + 1));
    perm.shuffle(&mut Xoshiro256PlusPlus::seed_from_u64(
        seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15),
    ));
    perm
}

fn stream(seed: u64, epoch: usize) -> u64 {
    seed ^ (epoch as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_are_seeded_permutations() {
        let mut a = vec![0u32; 100];
        let mut b = vec![0u32; 100];
        epoch_order(1, 0, &mut a);
        epoch_order(1, 0, &mut b);
        assert_eq!(a, b);
        epoch_order(1, 1, &mut b);
        assert_ne!(a, b, "a fresh order each epoch");
        epoch_order(2, 0, &mut b);
        assert_ne!(a, b, "seed changes the order");
        a.sort_unstable();
        assert_eq!(a, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn block_orders_are_seeded_permutations_of_runs() {
        for order in [
            Order::Blocks {
                rows: 7,
                shuffle_within: true,
            },
            Order::Blocks {
                rows: 7,
                shuffle_within: false,
            },
            Order::Stored,
            Order::Full,
        ] {
            let (mut a, mut b) = (vec![0u32; 100], vec![0u32; 100]);
            order.fill(3, 2, 7, &mut a);
            order.fill(3, 2, 7, &mut b);
            assert_eq!(a, b, "{order:?}: seeded");
            if order != Order::Stored {
                order.fill(3, 3, 7, &mut b);
                assert_ne!(a, b, "{order:?}: a fresh order each epoch");
            }
            if let Order::Blocks { .. } = order {
                // Every aligned block of 7 rows is visited once, as one run.
                let mut seen = [false; 15];
                let mut at = 0;
                while at < 100 {
                    let blk = a[at] as usize / 7;
                    assert!(!seen[blk], "block {blk} visited twice");
                    seen[blk] = true;
                    let len = if blk == 14 { 2 } else { 7 };
                    assert!(a[at..at + len].iter().all(|&i| i as usize / 7 == blk));
                    at += len;
                }
            }
            a.sort_unstable();
            assert_eq!(a, (0..100).collect::<Vec<_>>(), "{order:?}: a permutation");
        }
    }

    #[test]
    fn orders_parse() {
        assert_eq!("full".parse::<Order>(), Ok(Order::Full));
        assert_eq!("blocks".parse::<Order>(), Ok(Order::default()));
        assert_eq!(
            "blocks-in-order:64".parse::<Order>(),
            Ok(Order::Blocks {
                rows: 64,
                shuffle_within: false
            })
        );
        assert!("blocks:0".parse::<Order>().is_err());
        assert!("full:3".parse::<Order>().is_err());
        assert!("random".parse::<Order>().unwrap_err().contains("unknown order"));
        let p = once_permutation(1, None, 50);
        assert_eq!(p, once_permutation(1, None, 50));
        assert_ne!(p, once_permutation(1, Some(0), 50));
        let mut s = p.clone();
        s.sort_unstable();
        assert_eq!(s, (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn invalid_schedules_are_rejected() {
        assert!(Schedule::Constant(f32::NAN).validate().is_err());
        assert!(Schedule::Constant(f32::INFINITY).validate().is_err());
        assert!(Schedule::Constant(0.0).validate().is_err());
        assert!(Schedule::Constant(-1.0).validate().is_err());
        assert!(Schedule::EpochDecay {
            initial: 0.1,
            decay: 0.0
        }
        .validate()
        .is_err());
        assert!(Schedule::InverseTime {
            initial: 0.1,
            decay: f32::NAN
        }
        .validate()
        .is_err());
        assert!(Schedule::InverseTime {
            initial: 0.1,
            decay: 0.0
        }
        .validate()
        .is_ok());
        assert!(Schedule::default().validate().is_ok());
        assert!(Schedule::Linear {
            initial: -0.1,
            samples: 10
        }
        .validate()
        .is_err());
    }

    #[test]
    fn rates_decrease() {
        let s = Schedule::InverseTime {
            initial: 0.5,
            decay: 1e-3,
        };
        assert!(s.rate(0, 10) > s.rate(0, 10_000));
        let s = Schedule::EpochDecay {
            initial: 0.5,
            decay: 0.9,
        };
        assert_eq!(s.rate(0, 99), 0.5);
        assert!(s.rate(1, 0) < 0.5);
    }
}
