//! Matrix factorisation for rating prediction (the Netflix-prize model).

use rand::rngs::Xoshiro256PlusPlus;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

use super::{Model, Step, Weights, WeightsMut};
use crate::data::{Rating, Ratings};
use crate::error::Error;
use crate::schedule::Schedule;

/// Biased matrix factorisation of (user, item, rating) triples
/// ([`Ratings`]), trained by SGD one rating at a time:
///
/// ```text
/// r̂(u, i) = μ + b_u + b_i + ⟨p_u, q_i⟩
/// ```
///
/// with `μ` a fixed global mean, `b_u`, `b_i` learned biases and `p_u`,
/// `q_i` learned factor vectors of length `rank`.
///
/// # Objective
///
/// Squared loss with L2, regularised per rating as in Koren, Bell & Volinsky
/// (2009) and the usual SGD baselines: the trainer minimises
///
/// ```text
/// (1/n) Σ_(u,i,r) [ ½ (r̂(u,i) − r)²  +  λ/2 (b_u² + ‖p_u‖² + b_i² + ‖q_i‖²) ]
/// ```
///
/// over the `n` training ratings. [`loss`](Model::loss) is the `½ e²` term
/// and [`penalty`](Model::penalty) the rest, which is
/// `λ/(2n) [Σ_u n_u (b_u² + ‖p_u‖²) + Σ_i n_i (b_i² + ‖q_i‖²)]` with `n_u`,
/// `n_i` the users' and items' rating counts in the data given to
/// [`l2`](Self::l2); so the reported training loss is exactly this
/// objective, and each [`step`](Model::step) is the exact gradient step of
/// its rating's term: it touches the two rows of its user and item only.
///
/// # Weight layout
///
/// One row of `rank + 1` weights per user, then one per item: user `u`'s row
/// starts at [`user_row(u)`](Self::user_row) `= u (rank + 1)` and holds
/// `b_u, p_u[0], ..., p_u[rank-1]`; item `i`'s row starts at
/// [`item_row(i)`](Self::item_row) `= (n_users + i)(rank + 1)` and holds
/// `b_i, q_i[..]`. `μ` is not a weight: one that every rating writes would
/// be the single hot spot of a lock-free run, and its optimum is the
/// training mean anyway.
///
/// [`init`](Model::init) draws every factor from `N(0, init_std²)` (seeded;
/// default `init_std` 0.1) and sets the biases to 0. Factors must not all
/// start at 0: `p = q = 0` is a saddle point where their gradients vanish.
///
/// ```
/// use wildsgd::data::SyntheticRatings;
/// use wildsgd::model::MatrixFactorization;
/// use wildsgd::Trainer;
///
/// let data = SyntheticRatings { users: 200, items: 100, ratings: 8000, rank: 3, noise: 0.1, ..Default::default() }
///     .generate()?;
/// let (train, test) = data.split(0.1, 1)?;
/// let model = MatrixFactorization::for_ratings(&train, 3)?.l2(0.01, &train);
/// let trainer = Trainer::new().schedule(MatrixFactorization::DEFAULT_SCHEDULE).threads(2).epochs(20);
/// let trained = trainer.fit(&model, &train)?;
/// let rmse = model.rmse(&trained.weights, &test)?;
/// assert!(rmse < 0.5, "{rmse}"); // the ratings' spread is about 1
/// # Ok::<(), wildsgd::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct MatrixFactorization {
    n_users: usize,
    n_items: usize,
    rank: usize,
    mean: f32,
    l2: f32,
    init_std: f32,
    clip: Option<(f32, f32)>,
    /// Training ratings per user and item, and their total: the penalty's
    /// weights. Empty when `l2 == 0`.
    user_counts: Vec<u32>,
    item_counts: Vec<u32>,
    n_train: usize,
}

impl MatrixFactorization {
    /// The default rank ([`for_ratings`](Self::for_ratings) takes its own).
    pub const DEFAULT_RANK: usize = 100;
    /// The default L2 strength λ, set by [`for_ratings`](Self::for_ratings).
    pub const DEFAULT_L2: f32 = 0.08;
    /// The default standard deviation of the initial factors.
    pub const DEFAULT_INIT_STD: f32 = 0.1;
    /// The default number of epochs of a MovieLens-100k run (`Trainer::new().epochs(DEFAULT_EPOCHS).schedule(DEFAULT_SCHEDULE)`).
    pub const DEFAULT_EPOCHS: usize = 25;
    /// The default schedule of a MovieLens-100k run (`Trainer::new().epochs(DEFAULT_EPOCHS).schedule(DEFAULT_SCHEDULE)`).
    pub const DEFAULT_SCHEDULE: Schedule = Schedule::EpochDecay {
        initial: 0.02,
        decay: 0.9,
    };

    /// A model for users `0..n_users` and items `0..n_items` with factors of
    /// length `rank`: global mean 0, no regularisation, no clipping,
    /// `init_std` 0.1.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if `rank` is 0 or above
    /// [`limits::MAX_RANK`](crate::limits::MAX_RANK), if there are more than
    /// `u32::MAX` users or items, or if the weight count `(users + items) ·
    /// (rank + 1)` exceeds [`limits::MAX_WEIGHTS`](crate::limits::MAX_WEIGHTS).
    pub fn new(n_users: usize, n_items: usize, rank: usize) -> Result<Self, Error> {
        let bad = |name, reason: String| Err(Error::InvalidParameter { name, reason });
        if rank == 0 || rank > crate::limits::MAX_RANK {
            return bad(
                "rank",
                format!("must be in 1..={}, got {rank}", crate::limits::MAX_RANK),
            );
        }
        if n_users > u32::MAX as usize || n_items > u32::MAX as usize {
            return bad(
                "matrix factorisation",
                format!("{n_users} users and {n_items} items; at most {} of each", u32::MAX),
            );
        }
        let weights = (n_users as u64 + n_items as u64).checked_mul(rank as u64 + 1);
        if weights.is_none_or(|w| w > crate::limits::MAX_WEIGHTS) {
            let limit = crate::limits::MAX_WEIGHTS;
            let reason = format!("{n_users} users and {n_items} items at rank {rank} need more than {limit} weights");
            return bad("rank", reason);
        }
        Ok(MatrixFactorization {
            n_users,
            n_items,
            rank,
            mean: 0.0,
            l2: 0.0,
            init_std: Self::DEFAULT_INIT_STD,
            clip: None,
            user_counts: Vec::new(),
            item_counts: Vec::new(),
            n_train: 0,
        })
    }

    /// A model fitted to the shape of `train`: its id space
    /// ([`Ratings::n_users`], [`Ratings::n_items`]), its mean as `μ`, its
    /// rating range as the [`clip`](Self::clip) range of predictions, and
    /// λ = [`DEFAULT_L2`](Self::DEFAULT_L2) with `train`'s counts.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn for_ratings(train: &Ratings, rank: usize) -> Result<Self, Error> {
        Ok(MatrixFactorization::new(train.n_users(), train.n_items(), rank)?
            .global_mean(train.mean() as f32)
            .clip(train.range())
            .l2(Self::DEFAULT_L2, train))
    }

    /// Sets the fixed global mean `μ`.
    ///
    /// An invalid value is not a panic: [`Model::validate`] (which the
    /// trainer runs before any step) reports it as
    /// [`Error::InvalidParameter`].
    pub fn global_mean(mut self, mean: f32) -> Self {
        self.mean = mean;
        self
    }

    /// Sets the L2 strength `λ`, with the rating counts of `train` (the data
    /// the model will be trained on) weighting the [`penalty`](Model::penalty)
    /// so that the reported objective is the one the steps descend (see the
    /// [type docs](Self)). `λ = 0` switches regularisation off.
    ///
    /// An invalid value is not a panic: [`Model::validate`] (which the
    /// trainer runs before any step) reports it as
    /// [`Error::InvalidParameter`].
    pub fn l2(mut self, lambda: f32, train: &Ratings) -> Self {
        self.l2 = lambda;
        if lambda == 0.0 {
            (self.user_counts, self.item_counts, self.n_train) = (Vec::new(), Vec::new(), 0);
        } else {
            let mut users = train.user_counts();
            let mut items = train.item_counts();
            users.resize(self.n_users, 0);
            items.resize(self.n_items, 0);
            (self.user_counts, self.item_counts, self.n_train) = (users, items, train.len());
        }
        self
    }

    /// [`l2`](Self::l2) with each user's and item's rating counts and the
    /// number of ratings given rather than counted (a data-parallel job's,
    /// summed over its ranks).
    pub fn l2_from_counts(mut self, lambda: f32, users: Vec<u32>, items: Vec<u32>, ratings: usize) -> Self {
        self.l2 = lambda;
        if lambda == 0.0 {
            (self.user_counts, self.item_counts, self.n_train) = (Vec::new(), Vec::new(), 0);
        } else {
            let (mut users, mut items) = (users, items);
            users.resize(self.n_users, 0);
            items.resize(self.n_items, 0);
            (self.user_counts, self.item_counts, self.n_train) = (users, items, ratings);
        }
        self
    }

    /// Sets the standard deviation of the initial factors.
    ///
    /// An invalid value is not a panic: [`Model::validate`] (which the
    /// trainer runs before any step) reports it as
    /// [`Error::InvalidParameter`].
    pub fn init_std(mut self, std: f32) -> Self {
        self.init_std = std;
        self
    }

    /// Clamps [`predict`](Self::predict)ions (and so [`rmse`](Self::rmse))
    /// into `[lo, hi]`, such as a 1–5 star scale; `None` switches it off.
    /// Training is unaffected: [`loss`](Model::loss) and
    /// [`step`](Model::step) use the unclamped score.
    ///
    /// An invalid value is not a panic: [`Model::validate`] (which the
    /// trainer runs before any step) reports it as
    /// [`Error::InvalidParameter`].
    pub fn clip(mut self, range: Option<(f32, f32)>) -> Self {
        self.clip = range;
        self
    }

    /// The number of users.
    pub fn n_users(&self) -> usize {
        self.n_users
    }

    /// The number of items.
    pub fn n_items(&self) -> usize {
        self.n_items
    }

    /// The length of the factor vectors.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The global mean `μ` ([`global_mean`](Self::global_mean)).
    pub fn get_global_mean(&self) -> f32 {
        self.mean
    }

    /// The standard deviation of the initial factors ([`init_std`](Self::init_std)).
    pub fn get_init_std(&self) -> f32 {
        self.init_std
    }

    /// The L2 strength λ.
    pub fn get_l2(&self) -> f32 {
        self.l2
    }

    /// The clip range of predictions, if any.
    pub fn get_clip(&self) -> Option<(f32, f32)> {
        self.clip
    }

    /// Weights per row: `rank + 1` (the bias, then the factors).
    pub fn row_len(&self) -> usize {
        self.rank + 1
    }

    /// Where user `u`'s row (`b_u`, then `p_u`) starts in the weights.
    #[inline]
    pub fn user_row(&self, u: u32) -> usize {
        u as usize * (self.rank + 1)
    }

    /// Where item `i`'s row (`b_i`, then `q_i`) starts in the weights.
    #[inline]
    pub fn item_row(&self, i: u32) -> usize {
        (self.n_users + i as usize) * (self.rank + 1)
    }

    /// The unclamped score `μ + b_u + b_i + ⟨p_u, q_i⟩` of rows `a` (user)
    /// and `b` (item).
    #[inline]
    fn score<W: Weights + ?Sized>(&self, w: &W, a: usize, b: usize) -> f32 {
        let mut dot = 0.0f32;
        for f in 1..=self.rank {
            dot += w.read(a + f) * w.read(b + f);
        }
        self.mean + w.read(a) + w.read(b) + dot
    }

    /// The predicted rating of `item` by `user`, clamped into the
    /// [`clip`](Self::clip) range when one is set.
    ///
    /// # Panics
    /// If `user` or `item` is out of range (indexes beyond the weights).
    pub fn predict<W: Weights + ?Sized>(&self, w: &W, user: u32, item: u32) -> f32 {
        self.clipped(self.score(w, self.user_row(user), self.item_row(item)))
    }

    /// `s` clamped into the [`clip`](Self::clip) range when one is set.
    #[inline]
    fn clipped(&self, s: f32) -> f32 {
        match self.clip {
            Some((lo, hi)) => s.clamp(lo, hi),
            None => s,
        }
    }

    /// The prediction for a pair of which either side may be unknown (an id
    /// the model was not trained on, `None`): `μ + b_u + b_i + ⟨p_u, q_i⟩`
    /// with the unknown side's bias and the dot product left out, so an
    /// unseen user gets the item's bias over the global mean, and an unseen
    /// pair the global mean; clamped as [`predict`](Self::predict) is.
    ///
    /// ```
    /// use wildsgd::MatrixFactorization;
    ///
    /// let model = MatrixFactorization::new(2, 2, 1).unwrap().global_mean(3.0);
    /// // Rows: user 0, user 1, item 0, item 1; each a bias, then one factor.
    /// let w = [0.5, 1.0, 0.0, 0.0, -0.25, 2.0, 0.0, 0.0];
    /// assert_eq!(model.predict_known(&w[..], Some(0), Some(0)), 3.0 + 0.5 - 0.25 + 2.0);
    /// assert_eq!(model.predict_known(&w[..], None, Some(0)), 3.0 - 0.25);
    /// assert_eq!(model.predict_known(&w[..], Some(0), None), 3.5);
    /// assert_eq!(model.predict_known(&w[..], None, None), 3.0);
    /// ```
    ///
    /// # Panics
    /// If a known `user` or `item` is out of range.
    pub fn predict_known<W: Weights + ?Sized>(&self, w: &W, user: Option<u32>, item: Option<u32>) -> f32 {
        let s = match (user, item) {
            (Some(u), Some(i)) => self.score(w, self.user_row(u), self.item_row(i)),
            (Some(u), None) => self.mean + w.read(self.user_row(u)),
            (None, Some(i)) => self.mean + w.read(self.item_row(i)),
            (None, None) => self.mean,
        };
        self.clipped(s)
    }

    /// The root mean squared error of [`predict`](Self::predict) on `data`
    /// (held-out ratings, usually), with `weights` as a trainer returns them
    /// ([`Trained::weights`](crate::Trained::weights)).
    ///
    /// # Errors
    /// If `weights` has not [`dim`](Model::n_weights) entries, `data` is empty, or
    /// a rating does not fit the model (see [`validate`](Model::validate)).
    pub fn rmse(&self, weights: &[f32], data: &Ratings) -> Result<f64, Error> {
        if weights.len() != self.n_weights() {
            return Err(Error::LengthMismatch {
                what: "weights for this matrix factorisation",
                expected: self.n_weights(),
                found: weights.len(),
            });
        }
        if data.is_empty() {
            return Err(Error::EmptyDataset { what: "evaluation" });
        }
        self.validate(data)?;
        let sq: f64 = (0..data.len())
            .map(|i| {
                let r = data.get(i);
                f64::from(self.predict(weights, r.user, r.item) - r.value).powi(2)
            })
            .sum();
        Ok((sq / data.len() as f64).sqrt())
    }
}

impl Model for MatrixFactorization {
    type Data = Ratings;

    fn n_weights(&self) -> usize {
        (self.n_users + self.n_items) * (self.rank + 1)
    }

    fn init(&self, weights: &mut [f32], seed: u64) {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        for row in weights.chunks_mut(self.rank + 1) {
            row[0] = 0.0;
            for x in &mut row[1..] {
                let z: f32 = StandardNormal.sample(&mut rng);
                *x = self.init_std * z;
            }
        }
    }

    fn validate(&self, data: &Ratings) -> Result<(), Error> {
        let (m, l, sd) = (self.mean, self.l2, self.init_std);
        super::check_parameter("global_mean", m.is_finite(), || format!("must be finite, got {m}"))?;
        super::check_parameter("l2", l.is_finite() && l >= 0.0, || {
            format!("must be finite and >= 0, got {l}")
        })?;
        super::check_parameter("init_std", sd.is_finite() && sd > 0.0, || {
            format!("must be finite and > 0, got {sd}")
        })?;
        if let Some((lo, hi)) = self.clip {
            super::check_parameter("clip", lo.is_finite() && hi.is_finite() && lo <= hi, || {
                format!("the range must be finite with lo <= hi, got [{lo}, {hi}]")
            })?;
        }
        data.check_columns()?;
        for row in 0..data.len() {
            let r = data.get(row);
            let bad = |reason| Err(Error::InvalidSample { row, reason });
            if r.user as usize >= self.n_users {
                return bad(format!("user {} is beyond the model's {} users", r.user, self.n_users));
            }
            if r.item as usize >= self.n_items {
                return bad(format!("item {} is beyond the model's {} items", r.item, self.n_items));
            }
            if !r.value.is_finite() {
                return bad(format!("rating {} is not finite", r.value));
            }
        }
        Ok(())
    }

    #[inline]
    fn loss<W: Weights + ?Sized>(&self, w: &W, r: Rating, _: Step) -> f64 {
        let e = f64::from(self.score(w, self.user_row(r.user), self.item_row(r.item)) - r.value);
        0.5 * e * e
    }

    #[inline]
    fn step<W: WeightsMut + ?Sized>(&self, w: &mut W, r: Rating, at: Step) {
        let lr = at.lr;
        let (a, b) = (self.user_row(r.user), self.item_row(r.item));
        let e = self.score(w, a, b) - r.value;
        let l2 = self.l2;
        // Each coordinate pair is read before either is written, so p_u and
        // q_i move by the gradient at the same point without a rank-sized copy.
        let (bu, bi) = (w.read(a), w.read(b));
        w.add(a, -lr * (e + l2 * bu));
        w.add(b, -lr * (e + l2 * bi));
        for f in 1..=self.rank {
            let (p, q) = (w.read(a + f), w.read(b + f));
            w.add(a + f, -lr * (e * q + l2 * p));
            w.add(b + f, -lr * (e * p + l2 * q));
        }
    }

    fn prefetch_rows<F: FnMut(std::ops::Range<usize>)>(&self, r: Rating, _at: Step, mut ahead: F) {
        let (a, b) = (self.user_row(r.user), self.item_row(r.item));
        ahead(a..a + self.rank + 1);
        ahead(b..b + self.rank + 1);
    }

    fn penalty<W: Weights + ?Sized>(&self, w: &W) -> f64 {
        if self.l2 == 0.0 || self.n_train == 0 {
            return 0.0;
        }
        let k = self.rank + 1;
        let row_sq = |start: usize| (start..start + k).map(|j| f64::from(w.read(j)).powi(2)).sum::<f64>();
        let users: f64 = (0..self.n_users)
            .filter(|&u| self.user_counts[u] > 0)
            .map(|u| f64::from(self.user_counts[u]) * row_sq(u * k))
            .sum();
        let items: f64 = (0..self.n_items)
            .filter(|&i| self.item_counts[i] > 0)
            .map(|i| f64::from(self.item_counts[i]) * row_sq((self.n_users + i) * k))
            .sum();
        0.5 * f64::from(self.l2) * (users + items) / self.n_train as f64
    }
}

/// Saved as: users, items, rank (`u64`), global mean, λ, initial std
/// (`f32`), clip flag `u8`, clip low and high (`f32`, 0 without clipping). A
/// loaded model's penalty is weighted for no data: call
/// [`l2`](MatrixFactorization::l2) with the training ratings to resume.
impl crate::model::persist::Persist for MatrixFactorization {
    const KIND: &'static str = "mf";

    fn encode(&self, out: &mut crate::model::persist::Encoder) {
        let (flag, lo, hi) = self.clip.map_or((false, 0.0, 0.0), |(lo, hi)| (true, lo, hi));
        out.usize(self.n_users).usize(self.n_items).usize(self.rank);
        out.f32(self.mean).f32(self.l2).f32(self.init_std);
        out.bool(flag).f32(lo).f32(hi);
    }

    fn decode(input: &mut crate::model::persist::Decoder<'_>) -> Result<Self, crate::error::CheckpointIssue> {
        use crate::model::persist::bad;
        let users = input.usize_in(0..=u32::MAX as usize, "users")?;
        let items = input.usize_in(0..=u32::MAX as usize, "items")?;
        let rank = input.usize_in(1..=crate::limits::MAX_RANK, "rank")?;
        let n = (users as u64 + items as u64).checked_mul(rank as u64 + 1);
        input.expect_weights(n, "a matrix factorisation")?;
        let (mean, l2, std) = (
            input.finite_f32("global mean")?,
            input.f32("L2 strength")?,
            input.f32("init std")?,
        );
        let (flag, lo, hi) = (
            input.bool("clip flag")?,
            input.f32("clip low")?,
            input.f32("clip high")?,
        );
        if !(l2.is_finite() && l2 >= 0.0) {
            return Err(bad("L2 strength", l2));
        }
        if !(std.is_finite() && std > 0.0) {
            return Err(bad("init std", std));
        }
        let clip = match (flag, lo, hi) {
            (false, lo, hi) if lo.to_bits() == 0 && hi.to_bits() == 0 => None,
            (true, lo, hi) if lo.is_finite() && hi.is_finite() && lo <= hi => Some((lo, hi)),
            _ => return Err(bad("clip range", format!("flag {flag}, [{lo}, {hi}]"))),
        };
        let model = MatrixFactorization::new(users, items, rank).map_err(|e| bad("matrix factorisation", e))?;
        Ok(model
            .global_mean(mean)
            .init_std(std)
            .clip(clip)
            .l2(l2, &Ratings::default()))
    }
}
