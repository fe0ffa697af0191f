//! Ratings files: `user item rating [more fields...]` per line, separated by
//! tabs, commas or spaces, with an optional header line (a first line whose
//! rating field is not a number), as MovieLens' `u.data` or RecBole's
//! `ml-100k.inter` are.

use std::collections::HashMap;
use std::path::Path;

use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

use super::parse::{display_name, maybe_gunzip, parse_f32, quote, read_file, ParseIssue};
use super::Dataset;
use crate::Error;

/// One rating: the sample type of [`Ratings`] as a [`Dataset`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rating {
    /// The user (dense id).
    pub user: u32,
    /// The item (dense id).
    pub item: u32,
    /// The rating value.
    pub value: f32,
}

/// User–item ratings with users and items renumbered densely from 0 in
/// order of first appearance.
///
/// The id tables ([`user_ids`](Self::user_ids), [`item_ids`](Self::item_ids))
/// define the id space: [`n_users`](Self::n_users) and
/// [`n_items`](Self::n_items) are their lengths, and a [`split`](Self::split)
/// keeps them whole in both halves, so a model sized for one half fits the
/// other. As a [`Dataset`], sample `i` is the [`Rating`] `(users[i],
/// items[i], ratings[i])`.
///
/// ```
/// use wildsgd::data::{Dataset, Rating, Ratings};
///
/// let mut r = Ratings::with_ids(3, 2);
/// r.push(0, 1, 4.0)?;
/// r.push(2, 0, 3.5)?;
/// assert_eq!(r.sample(1), Rating { user: 2, item: 0, value: 3.5 });
/// assert!(r.push(3, 0, 1.0).is_err()); // no user 3
/// assert!(r.push(0, 0, f32::NAN).is_err());
/// let (train, test) = r.split(0.5, 7)?;
/// assert_eq!((train.len(), test.len(), test.n_users()), (1, 1, 3));
/// # Ok::<(), wildsgd::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ratings {
    /// The user of each rating (dense id).
    pub users: Vec<u32>,
    /// The item of each rating (dense id).
    pub items: Vec<u32>,
    /// The rating values.
    pub ratings: Vec<f32>,
    /// The id each dense user number had in the file.
    pub user_ids: Vec<String>,
    /// The id each dense item number had in the file.
    pub item_ids: Vec<String>,
    /// Whether the first line was a header (and skipped).
    pub had_header: bool,
}

impl Ratings {
    /// The number of ratings.
    pub fn len(&self) -> usize {
        self.ratings.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ratings.is_empty()
    }

    /// No ratings yet, over users `0..n_users` and items `0..n_items`, whose
    /// file ids are their numbers (`"0"`, `"1"`, ...).
    pub fn with_ids(n_users: usize, n_items: usize) -> Self {
        let ids = |n: usize| (0..n).map(|i| i.to_string()).collect();
        Ratings {
            user_ids: ids(n_users),
            item_ids: ids(n_items),
            ..Ratings::default()
        }
    }

    /// The number of users in the id space (`user_ids.len()`).
    pub fn n_users(&self) -> usize {
        self.user_ids.len()
    }

    /// The number of items in the id space (`item_ids.len()`).
    pub fn n_items(&self) -> usize {
        self.item_ids.len()
    }

    /// Appends a rating; the user and item must be in the id space and the
    /// value finite.
    pub fn push(&mut self, user: u32, item: u32, value: f32) -> Result<(), Error> {
        let row = self.len();
        let bad = |reason| Err(Error::InvalidSample { row, reason });
        if user as usize >= self.n_users() {
            return bad(format!("user {user} is beyond the {} users", self.n_users()));
        }
        if item as usize >= self.n_items() {
            return bad(format!("item {item} is beyond the {} items", self.n_items()));
        }
        if !value.is_finite() {
            return bad(format!("rating {value} is not finite"));
        }
        self.users.push(user);
        self.items.push(item);
        self.ratings.push(value);
        Ok(())
    }

    /// Rating `i`.
    ///
    /// # Panics
    /// If `i >= self.len()` (or the three columns have different lengths
    /// and `i` is beyond one of them).
    #[inline]
    pub fn get(&self, i: usize) -> Rating {
        Rating {
            user: self.users[i],
            item: self.items[i],
            value: self.ratings[i],
        }
    }

    /// The mean rating (0 when empty), accumulated in `f64`.
    pub fn mean(&self) -> f64 {
        if self.is_empty() {
            return 0.0;
        }
        self.ratings.iter().map(|&r| f64::from(r)).sum::<f64>() / self.len() as f64
    }

    /// The smallest and largest rating, or `None` when empty.
    pub fn range(&self) -> Option<(f32, f32)> {
        let lo = self.ratings.iter().copied().reduce(f32::min)?;
        let hi = self.ratings.iter().copied().reduce(f32::max)?;
        Some((lo, hi))
    }

    /// How many ratings each user has (indexed by user, length
    /// [`n_users`](Self::n_users); users beyond the id space are not counted).
    pub fn user_counts(&self) -> Vec<u32> {
        counts(&self.users, self.n_users())
    }

    /// How many ratings each item has (length [`n_items`](Self::n_items)).
    pub fn item_counts(&self) -> Vec<u32> {
        counts(&self.items, self.n_items())
    }

    /// The ratings at `rows`, in that order, with the same id tables.
    ///
    /// # Panics
    /// If a row is out of range.
    pub fn subset(&self, rows: &[usize]) -> Ratings {
        Ratings {
            users: rows.iter().map(|&i| self.users[i]).collect(),
            items: rows.iter().map(|&i| self.items[i]).collect(),
            ratings: rows.iter().map(|&i| self.ratings[i]).collect(),
            user_ids: self.user_ids.clone(),
            item_ids: self.item_ids.clone(),
            had_header: self.had_header,
        }
    }

    /// A seeded random split into `(train, valid)`: `valid` gets
    /// `floor(len * valid_fraction)` ratings drawn uniformly without
    /// replacement, `train` the rest (both in shuffled order). Both keep the
    /// whole id space. Depends only on `seed`.
    pub fn split(&self, valid_fraction: f64, seed: u64) -> Result<(Ratings, Ratings), Error> {
        if !(0.0..1.0).contains(&valid_fraction) {
            return Err(Error::InvalidParameter {
                name: "valid_fraction",
                reason: format!("must be in [0, 1), got {valid_fraction}"),
            });
        }
        self.check_columns()?;
        let mut rows: Vec<usize> = (0..self.len()).collect();
        rows.shuffle(&mut Xoshiro256PlusPlus::seed_from_u64(seed));
        let n_valid = (self.len() as f64 * valid_fraction) as usize;
        let (valid, train) = rows.split_at(n_valid);
        Ok((self.subset(train), self.subset(valid)))
    }

    /// The same ratings renumbered into another id space, given by its id
    /// tables (a training set's [`user_ids`](Self::user_ids) and
    /// [`item_ids`](Self::item_ids)): how a separately read test file is
    /// lined up with the model trained on another file, since
    /// [`read_ratings`] numbers ids by first appearance in each file.
    ///
    /// # Errors
    /// [`Error::InvalidSample`] naming the first rating whose user or item id
    /// is not in the target tables (a model has no row for it).
    ///
    /// ```
    /// use wildsgd::data::read_ratings_bytes;
    ///
    /// let train = read_ratings_bytes("train", b"7 3 4\n9 5 2\n")?;
    /// let test = read_ratings_bytes("test", b"9 3 5\n")?; // user "9" is 0 here, 1 in train
    /// let test = test.in_id_space(&train.user_ids, &train.item_ids)?;
    /// assert_eq!((test.users[0], test.items[0], test.n_users()), (1, 0, 2));
    /// let cold = read_ratings_bytes("cold", b"8 3 1\n")?;
    /// let e = cold.in_id_space(&train.user_ids, &train.item_ids).unwrap_err();
    /// assert_eq!(e.to_string(), "row 0: user id \"8\" is not in the target id space");
    /// # Ok::<(), wildsgd::Error>(())
    /// ```
    pub fn in_id_space(&self, user_ids: &[String], item_ids: &[String]) -> Result<Ratings, Error> {
        self.check_columns()?;
        let index = |ids: &[String]| -> HashMap<String, u32> {
            ids.iter().enumerate().map(|(k, id)| (id.clone(), k as u32)).collect()
        };
        let (users, items) = (index(user_ids), index(item_ids));
        let map = |row: usize, what: &str, map: &HashMap<String, u32>, names: &[String], dense: u32| {
            names
                .get(dense as usize)
                .and_then(|name| map.get(name).copied())
                .ok_or_else(|| Error::InvalidSample {
                    row,
                    reason: match names.get(dense as usize) {
                        Some(name) => format!("{what} id {name:?} is not in the target id space"),
                        None => format!("{what} {dense} has no id in this data's id table"),
                    },
                })
        };
        let mut out = Ratings {
            user_ids: user_ids.to_vec(),
            item_ids: item_ids.to_vec(),
            had_header: self.had_header,
            ..Ratings::default()
        };
        for row in 0..self.len() {
            let r = self.get(row);
            out.users.push(map(row, "user", &users, &self.user_ids, r.user)?);
            out.items.push(map(row, "item", &items, &self.item_ids, r.item)?);
            out.ratings.push(r.value);
        }
        Ok(out)
    }

    /// Checks that the three columns have one entry per rating.
    pub fn check_columns(&self) -> Result<(), Error> {
        for (what, len) in [
            ("ratings: users", self.users.len()),
            ("ratings: items", self.items.len()),
        ] {
            if len != self.ratings.len() {
                return Err(Error::LengthMismatch {
                    what,
                    expected: self.ratings.len(),
                    found: len,
                });
            }
        }
        Ok(())
    }
}

fn counts(ids: &[u32], n: usize) -> Vec<u32> {
    let mut c = vec![0u32; n];
    for &id in ids {
        if let Some(slot) = c.get_mut(id as usize) {
            *slot += 1;
        }
    }
    c
}

impl Dataset for Ratings {
    type Sample<'a> = Rating;

    fn len(&self) -> usize {
        self.ratings.len()
    }

    #[inline]
    fn sample(&self, i: usize) -> Rating {
        self.get(i)
    }
}

/// A synthetic ratings problem with a known low-rank structure:
/// `rating = mean + ⟨u_user, v_item⟩ + noise`, with factor entries drawn
/// from a normal law of variance `1/√rank` (so the signal `⟨u, v⟩` has unit variance whatever
/// the rank), Gaussian noise of standard deviation `noise`, and
/// (user, item) pairs drawn uniformly (repeats possible). Everything is
/// derived from `seed`.
///
/// ```
/// use wildsgd::data::SyntheticRatings;
///
/// let r = SyntheticRatings { users: 50, items: 40, ratings: 1000, ..SyntheticRatings::default() }.generate()?;
/// assert_eq!((r.len(), r.n_users(), r.n_items()), (1000, 50, 40));
/// assert!((r.mean() - 3.5).abs() < 0.2);
/// # Ok::<(), wildsgd::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SyntheticRatings {
    /// Number of users.
    pub users: usize,
    /// Number of items.
    pub items: usize,
    /// Number of ratings.
    pub ratings: usize,
    /// Rank of the hidden factors.
    pub rank: usize,
    /// The ratings' offset.
    pub mean: f32,
    /// Standard deviation of the Gaussian noise.
    pub noise: f32,
    /// Seed for everything.
    pub seed: u64,
}

impl Default for SyntheticRatings {
    /// ML-100k's shape: 943 users, 1682 items, 100k ratings around 3.5, with
    /// a rank-5 truth and noise 0.5.
    fn default() -> Self {
        SyntheticRatings {
            users: 943,
            items: 1682,
            ratings: 100_000,
            rank: 5,
            mean: 3.5,
            noise: 0.5,
            seed: 0,
        }
    }
}

impl SyntheticRatings {
    /// Generates the ratings.
    pub fn generate(&self) -> Result<Ratings, Error> {
        let bad = |name, reason: String| Err(Error::InvalidParameter { name, reason });
        if self.users == 0 || self.items == 0 || self.rank == 0 {
            return bad("synthetic ratings", "users, items and rank must be at least 1".into());
        }
        if self.users > u32::MAX as usize || self.items > u32::MAX as usize {
            return bad("synthetic ratings", "at most 2^32 - 1 users and items".into());
        }
        if !(self.noise.is_finite() && self.noise >= 0.0 && self.mean.is_finite()) {
            return bad(
                "synthetic ratings",
                format!("mean {} and noise {} must be finite, noise >= 0", self.mean, self.noise),
            );
        }
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(self.seed);
        let scale = 1.0 / (self.rank as f32).sqrt().sqrt();
        let mut normal = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| scale * <StandardNormal as Distribution<f32>>::sample(&StandardNormal, &mut rng))
                .collect()
        };
        let (u, v) = (normal(self.users * self.rank), normal(self.items * self.rank));
        let mut out = Ratings::with_ids(self.users, self.items);
        out.users.reserve_exact(self.ratings);
        out.items.reserve_exact(self.ratings);
        out.ratings.reserve_exact(self.ratings);
        for _ in 0..self.ratings {
            let (a, b) = (rng.random_range(0..self.users), rng.random_range(0..self.items));
            let (pu, qi) = (&u[a * self.rank..][..self.rank], &v[b * self.rank..][..self.rank]);
            let dot: f32 = pu.iter().zip(qi).map(|(x, y)| x * y).sum();
            let e: f32 = StandardNormal.sample(&mut rng);
            out.users.push(a as u32);
            out.items.push(b as u32);
            out.ratings.push(self.mean + dot + self.noise * e);
        }
        Ok(out)
    }
}

/// Reads a ratings file (gzip-compressed or not).
///
/// ```
/// use wildsgd::data::read_ratings_bytes;
///
/// let r = read_ratings_bytes("r.tsv", b"user_id\titem_id\trating\n7\t3\t4\n9\t3\t2.5\n").unwrap();
/// assert_eq!((r.len(), r.user_ids.len(), r.item_ids.len()), (2, 2, 1));
/// let e = read_ratings_bytes("r.csv", b"1,2,5\n1,3,x\n").unwrap_err();
/// assert_eq!(e.to_string(), "r.csv: line 2, column 5: rating \"x\" is not a number");
/// ```
pub fn read_ratings(path: impl AsRef<Path>) -> Result<Ratings, Error> {
    let path = path.as_ref();
    let text = read_file(path)?;
    parse_ratings(&display_name(path), &text)
}

/// Reads ratings from memory; `name` is what error messages call it.
pub fn read_ratings_bytes(name: &str, bytes: &[u8]) -> Result<Ratings, Error> {
    let text = maybe_gunzip(name, bytes.to_vec())?;
    parse_ratings(name, &text)
}

/// Splits a line into (column from 1, field) pairs at tabs, commas and spaces.
pub(crate) fn fields(line: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        while pos < line.len() && matches!(line[pos], b' ' | b'\t' | b',' | b'\r') {
            pos += 1;
        }
        if pos >= line.len() {
            return None;
        }
        let start = pos;
        while pos < line.len() && !matches!(line[pos], b' ' | b'\t' | b',' | b'\r') {
            pos += 1;
        }
        Some((start + 1, &line[start..pos]))
    })
}

fn parse_ratings(name: &str, text: &[u8]) -> Result<Ratings, Error> {
    let mut out = Ratings::default();
    let mut users: HashMap<Vec<u8>, u32> = HashMap::new();
    let mut items: HashMap<Vec<u8>, u32> = HashMap::new();
    let mut first = true;
    for (no, line) in text.split(|&b| b == b'\n').enumerate() {
        let line_no = no + 1;
        let trimmed = line.iter().position(|&b| !b.is_ascii_whitespace());
        if trimmed.is_none() || line[trimmed.unwrap_or(0)] == b'#' {
            continue;
        }
        let fail = |column, what| Error::Parse {
            file: name.to_string(),
            line: line_no,
            column,
            what,
        };
        let mut f = fields(line);
        let end = line.len() + 1;
        let (_, user) = f
            .next()
            .ok_or_else(|| fail(end, ParseIssue::MissingField { field: "user" }))?;
        let (_, item) = f
            .next()
            .ok_or_else(|| fail(end, ParseIssue::MissingField { field: "item" }))?;
        let (col, rating) = f
            .next()
            .ok_or_else(|| fail(end, ParseIssue::MissingField { field: "rating" }))?;
        let value = parse_f32(rating);
        if first {
            first = false;
            if value.is_none() {
                out.had_header = true;
                continue;
            }
        }
        let value = match value {
            Some(v) if v.is_finite() => v,
            Some(_) => {
                return Err(fail(
                    col,
                    ParseIssue::BadField {
                        field: "rating",
                        text: quote(rating),
                        expected: "a finite number",
                    },
                ))
            }
            None => {
                return Err(fail(
                    col,
                    ParseIssue::BadField {
                        field: "rating",
                        text: quote(rating),
                        expected: "a number",
                    },
                ))
            }
        };
        let id = |map: &mut HashMap<Vec<u8>, u32>, names: &mut Vec<String>, key: &[u8]| {
            let next = map.len() as u32;
            *map.entry(key.to_vec()).or_insert_with(|| {
                names.push(String::from_utf8_lossy(key).into_owned());
                next
            })
        };
        let u = id(&mut users, &mut out.user_ids, user);
        let i = id(&mut items, &mut out.item_ids, item);
        out.users.push(u);
        out.items.push(i);
        out.ratings.push(value);
    }
    if out.is_empty() {
        return Err(Error::EmptyFile {
            file: name.to_string(),
            detail: if text.is_empty() {
                ""
            } else {
                ", only a header, comments or blank lines"
            },
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_separators() {
        let r = read_ratings_bytes("m", b"user_id:token\titem_id:token\trating:float\ttimestamp:float\n196\t242\t3\t881250949\n186,302,3\n196 1 5\n").unwrap();
        assert!(r.had_header);
        assert_eq!(r.users, vec![0, 1, 0]);
        assert_eq!(r.items, vec![0, 1, 2]);
        assert_eq!(r.ratings, vec![3.0, 3.0, 5.0]);
        assert_eq!(r.user_ids, vec!["196", "186"]);
        let e = read_ratings_bytes("m", b"1 2 3\n4 5\n").unwrap_err();
        assert_eq!(e.to_string(), "m: line 2, column 4: the rating field is missing");
        let e = read_ratings_bytes("m", b"").unwrap_err();
        assert!(matches!(e, Error::EmptyFile { .. }), "{e}");
        let e = read_ratings_bytes("m", b"a b c\n").unwrap_err();
        assert!(e.to_string().contains("only a header"), "{e}");
    }
}
