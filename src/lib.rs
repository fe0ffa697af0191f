//! # wildsgd
//!
//! Lock-free, Hogwild!-style asynchronous SGD on shared atomic weights.
//!
//! Model weights live in a [`WeightStore`], an array of atomic `f32`s. A
//! [`Trainer`] runs a Rayon pool whose workers each take samples and apply a
//! [`Model`]'s SGD step after every sample, without locks. *How* an update
//! lands — a racy load+store as in the Hogwild! paper, an atomic `fetch_add`,
//! or under a lock as a baseline — is the trainer's [`Policy`], not the
//! model's business: a model reads and writes only through the view it is
//! handed.
//!
//! ```
//! use wildsgd::{data::Synthetic, Linear, Loss, Policy, Trainer};
//!
//! // An RCV1-shaped synthetic problem, small enough for a doctest.
//! let data = Synthetic { rows: 20_000, features: 5_000, ..Synthetic::default() }.generate()?;
//! let (train, valid) = data.split(0.1, 1)?;
//! let model = Linear::new(Loss::Logistic, train.n_features()).bias(true).l2(1e-5, &train);
//! let trained = Trainer::new()
//!     .threads(2)
//!     .epochs(3)
//!     .policy(Policy::Racy)
//!     .job(&model, &train)
//!     .validation(&valid)
//!     .run()?;
//! println!("{}", trained.report);
//! assert!(trained.report.final_loss().unwrap() < 0.6);
//! # Ok::<(), wildsgd::Error>(())
//! ```
//!
//! Modules, one concept each: [`store`] (the atomic weights), [`policy`]
//! (update policies), [`model`] (the trait and built-in models), [`data`]
//! (datasets and generators), [`trainer`] (schedules, the Rayon loop,
//! reports), [`baseline`] (the plain sequential loop used as the yardstick).

#![warn(missing_docs)]
// One audited `unsafe` block, in src/prefetch.rs (a software prefetch hint);
// `deny` rather than `forbid` so that module alone may allow it, and a test
// (tests/hygiene.rs) checks no other file does.
#![deny(unsafe_code)]

pub mod baseline;
pub mod checkpoint;
pub mod cluster;
pub mod data;
pub mod equivalence;
mod error;
pub mod limits;
pub mod mesh;
pub mod metrics;
pub mod model;
pub mod output;
pub mod policy;
mod prefetch;
pub mod schedule;
pub mod store;
mod sync;
pub mod trainer;
pub mod word2vec;

pub use error::Error;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
pub use model::{Linear, Loss, MatrixFactorization, Model, Softmax, Step, Weights, WeightsMut};
pub use policy::Policy;
pub use store::WeightStore;
pub use trainer::{Control, Schedule, Trained, Trainer};
