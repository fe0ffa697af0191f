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
    let stream = seed ^ (epoch as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407);
    order.shuffle(&mut Xoshiro256PlusPlus::seed_from_u64(stream));
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
