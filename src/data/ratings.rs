//! Ratings files: `user item rating [more fields...]` per line, separated by
//! tabs, commas or spaces, with an optional header line of column names, as
//! MovieLens' `u.data` and `ratings.csv` or RecBole's `ml-100k.inter` are
//! (the exact rules: [`read_ratings_with`]).

use std::collections::HashMap;
use std::path::Path;

use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::parse::{
    check_head, check_nul, decode_bytes, display_name, id_text, parse_error, parse_f32, quote, read_file, ParseIssue,
    ReadOptions, Separator,
};
use super::Dataset;
use crate::error::Error;

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
    /// The header line's text (without its line end), when there was one.
    pub header: Option<String>,
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
            header: self.header.clone(),
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
            header: self.header.clone(),
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

    fn gather(&self, rows: &[u32]) -> Option<Box<Self>> {
        let pick = |v: &[u32]| rows.iter().map(|&i| v[i as usize]).collect();
        Some(Box::new(Ratings {
            users: pick(&self.users),
            items: pick(&self.items),
            ratings: rows.iter().map(|&i| self.ratings[i as usize]).collect(),
            user_ids: self.user_ids.clone(),
            item_ids: self.item_ids.clone(),
            had_header: self.had_header,
            header: self.header.clone(),
        }))
    }

    fn sample_bytes(&self) -> usize {
        12
    }

    #[inline]
    fn prefetch(&self, i: usize) {
        crate::prefetch::read(&self.users[i]);
        crate::prefetch::read(&self.items[i]);
        crate::prefetch::read(&self.ratings[i]);
    }
}

/// Reads a ratings file (gzip-compressed or not), with the default
/// [`ReadOptions`]; see [`read_ratings_with`] for the format.
pub fn read_ratings(path: impl AsRef<Path>) -> Result<Ratings, Error> {
    read_ratings_with(path, &ReadOptions::default())
}

/// Reads a ratings file (gzip-compressed or not: the content decides).
///
/// One rating per line, `user item rating [more fields...]`; the extra
/// fields (a timestamp, say) are ignored. Blank lines and lines whose first
/// non-blank character is `#` are skipped. The rules, all decided by the
/// first line that is not a comment or blank:
///
/// * **Separators.** If that line holds a tab, the file is tab-separated:
///   every line is split at tabs and only there, so ids may hold spaces
///   (`u1<TAB>Apollo 13 (1995)<TAB>5`). Else, if it holds a comma, the file
///   is comma-separated, likewise; quoted CSV is not supported (a field
///   starting with `"` is an error). Else fields are separated by runs of
///   blanks (spaces or tabs). Tab- and comma-separated fields are trimmed of
///   spaces and `\r`, and a user or item field left empty is an error.
/// * **Header.** That line is a header, and skipped, if and only if its
///   rating field is not a number, every field looks like a column name (a
///   letter or `_`, then letters, digits, `_`, `-`, `.` or spaces,
///   optionally followed by `:type`, as RecBole's `user_id:token`), *and*
///   the rating field names a rating column: it has a `:type` (RecBole), or
///   its letters contain `rat` (rating, rate), `score`, `value`, `star`,
///   `pref`, `label`, `target`, `weight`, `count`, `grade`, `vote`, `click`
///   or `like`, or it is `r`, `v`, `w` or `y` — as in
///   `userId,movieId,rating,timestamp` or
///   `user_id:token<TAB>item_id:token<TAB>rating:float`. Otherwise (`u1 i1 x`,
///   say) a rating that is not a number is an error there as on any other
///   line.
///   [`Ratings::had_header`] and [`Ratings::header`] say what was skipped.
///
/// Ids are any UTF-8 text without a NUL byte (an id that is not UTF-8 is an
/// error, with its line and column); users and items are numbered densely
/// from 0 in order of first appearance. Ratings must be finite numbers. At
/// most `u32::MAX` ratings, distinct users and distinct items.
///
/// ```
/// use wildsgd::data::read_ratings_bytes;
///
/// let r = read_ratings_bytes("r.tsv", b"user_id\titem_id\trating\n7\t3\t4\n9\t3\t2.5\n").unwrap();
/// assert_eq!((r.len(), r.user_ids.len(), r.item_ids.len()), (2, 2, 1));
/// assert_eq!(r.header.as_deref(), Some("user_id\titem_id\trating"));
/// let r = read_ratings_bytes("t.tsv", b"u1\tApollo 13 (1995)\t5\n").unwrap();
/// assert_eq!((r.item_ids[0].as_str(), r.ratings[0]), ("Apollo 13 (1995)", 5.0));
/// let e = read_ratings_bytes("r.csv", b"1,2,5\n1,3,x\n").unwrap_err();
/// assert_eq!(e.to_string(), "r.csv: line 2, column 5: rating \"x\" is not a number");
/// // Not a header: `5.0x` does not look like a column name.
/// let e = read_ratings_bytes("h.csv", b"user,item,5.0x\n1,3,4\n").unwrap_err();
/// assert_eq!(e.to_string(), "h.csv: line 1, column 11: rating \"5.0x\" is not a number");
/// ```
pub fn read_ratings_with(path: impl AsRef<Path>, opts: &ReadOptions) -> Result<Ratings, Error> {
    let path = path.as_ref();
    let text = read_file(path, opts, Some(&prefix))?;
    parse_ratings(&display_name(path), &text, (MAX_COUNT, MAX_COUNT))
}

/// Reads ratings from memory (plain or gzip-compressed text, as
/// [`read_ratings_with`] reads them); `name` is what error messages call it.
pub fn read_ratings_bytes(name: &str, bytes: &[u8]) -> Result<Ratings, Error> {
    let text = decode_bytes(name, bytes, &ReadOptions::default(), Some(&prefix))?;
    parse_ratings(name, &text, (MAX_COUNT, MAX_COUNT))
}

/// The most ratings, users and items: their numbers are `u32`s.
const MAX_COUNT: usize = u32::MAX as usize;

fn prefix(name: &str, text: &[u8]) -> Result<(), Error> {
    parse_ratings(name, text, (MAX_COUNT, MAX_COUNT)).map(drop)
}

/// Whether `field` looks like a column name: a letter or `_`, then letters,
/// digits, `_`, `-`, `.` or spaces, then optionally `:` and a type name (a
/// letter or `_`, then letters, digits or `_`).
fn is_column_name(field: &[u8]) -> bool {
    let (name, ty) = match field.iter().position(|&b| b == b':') {
        Some(k) => (&field[..k], Some(&field[k + 1..])),
        None => (field, None),
    };
    let starts = |s: &[u8]| s.first().is_some_and(|&b| b.is_ascii_alphabetic() || b == b'_');
    starts(name)
        && name[1..]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b' '))
        && ty.is_none_or(|t| starts(t) && t[1..].iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_'))
}

/// Whether a header's rating field names a rating column (see
/// [`read_ratings_with`]'s header rule).
fn names_a_rating(field: &[u8]) -> bool {
    if field.contains(&b':') {
        return true; // RecBole's typed header: `rating:float`
    }
    let letters: String = field
        .iter()
        .filter(|b| b.is_ascii_alphabetic())
        .map(|b| char::from(b.to_ascii_lowercase()))
        .collect();
    const WORDS: [&str; 13] = [
        "rat", "score", "value", "star", "pref", "label", "target", "weight", "count", "grade", "vote", "click", "like",
    ];
    WORDS.iter().any(|w| letters.contains(w)) || matches!(letters.as_str(), "r" | "v" | "w" | "y")
}

/// The id of `key` in `map`, adding it (and its name) if new; `what` says
/// what it is in a message. `cap`: the most distinct ids.
pub(crate) fn dense_id(
    map: &mut HashMap<Vec<u8>, u32>,
    names: &mut Vec<String>,
    key: &str,
    cap: usize,
) -> Result<u32, usize> {
    if let Some(&id) = map.get(key.as_bytes()) {
        return Ok(id);
    }
    let next = map.len();
    if next >= cap {
        return Err(next);
    }
    let id = u32::try_from(next).map_err(|_| next)?;
    map.insert(key.as_bytes().to_vec(), id);
    names.push(key.to_string());
    Ok(id)
}

/// `cap`: the most ratings, and the most distinct users or items.
fn parse_ratings(name: &str, text: &[u8], cap: (usize, usize)) -> Result<Ratings, Error> {
    check_head(name, text, false, &prefix)?;
    let mut parse = RatingsParse::new(cap);
    parse.lines(name, text)?;
    let out = parse.finish();
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

/// A ratings parse, which may take its text in pieces (whole lines each, in
/// the order of the file): the ratings so far, the id maps, the separator.
pub(super) struct RatingsParse {
    out: Ratings,
    users: HashMap<Vec<u8>, u32>,
    items: HashMap<Vec<u8>, u32>,
    /// The file's separator, once known (from its first data line).
    pub(super) sep: Option<Separator>,
    /// Whether the next data line is the file's first (and may be a header).
    pub(super) first: bool,
    /// The most ratings, and the most distinct users or items.
    cap: (usize, usize),
}

impl RatingsParse {
    /// A parse from the start of a file.
    pub(super) fn new(cap: (usize, usize)) -> Self {
        RatingsParse {
            out: Ratings::default(),
            users: HashMap::new(),
            items: HashMap::new(),
            sep: None,
            first: true,
            cap,
        }
    }

    /// A parse of pieces of a file whose first data line has separator
    /// `sep`, with at most [`MAX_COUNT`] ratings, users and items.
    pub(super) fn with_separator(sep: Option<Separator>) -> Self {
        RatingsParse {
            sep,
            first: false,
            ..RatingsParse::new((MAX_COUNT, MAX_COUNT))
        }
    }

    /// The ratings read.
    pub(super) fn finish(self) -> Ratings {
        self.out
    }

    /// Parses whole lines of ratings; errors count lines from 1 at the
    /// start of `text`.
    pub(super) fn lines(&mut self, name: &str, text: &[u8]) -> Result<(), Error> {
        let (max_ratings, cap) = self.cap;
        let out = &mut self.out;
        // Reused from line to line (its slices borrow from `text`).
        let mut fields: Vec<(usize, &[u8])> = Vec::new();
        for (no, line) in text.split(|&b| b == b'\n').enumerate() {
            let line_no = no + 1;
            check_nul(name, line_no, line)?;
            let first = line.iter().position(|&b| !b.is_ascii_whitespace());
            let Some(first) = first else { continue };
            if line[first] == b'#' {
                continue;
            }
            let fail = |column, what| parse_error(name, line_no, column, what);
            let is_first = std::mem::take(&mut self.first);
            let sep = *self.sep.get_or_insert_with(|| Separator::of(line));
            sep.split_into(line, &mut fields)
                .map_err(|(col, what)| fail(col, what))?;
            let end = line.strip_suffix(b"\r").unwrap_or(line).len() + 1;
            let field = |k: usize, what| {
                fields
                    .get(k)
                    .copied()
                    .ok_or_else(|| fail(end, ParseIssue::MissingField { field: what }))
            };
            let (ucol, user) = field(0, "user")?;
            let (icol, item) = field(1, "item")?;
            let (col, rating) = field(2, "rating")?;
            let value = parse_f32(rating);
            if is_first
                && value.is_none()
                && !user.is_empty()
                && !item.is_empty()
                && fields.iter().all(|(_, f)| f.is_empty() || is_column_name(f))
                && names_a_rating(rating)
            {
                out.had_header = true;
                let text = line.strip_suffix(b"\r").unwrap_or(line);
                out.header = Some(String::from_utf8_lossy(text).into_owned());
                continue;
            }
            let value = match value {
                Some(v) if v.is_finite() => v,
                v => {
                    return Err(fail(
                        col,
                        ParseIssue::BadField {
                            field: "rating",
                            text: quote(rating),
                            expected: if v.is_some() { "a finite number" } else { "a number" },
                        },
                    ))
                }
            };
            let user = id_text(name, line_no, ucol, user, "user", "user id")?;
            let item = id_text(name, line_no, icol, item, "item", "item id")?;
            if out.ratings.len() >= max_ratings {
                return Err(fail(
                    1,
                    ParseIssue::Invalid(format!("more than {max_ratings} ratings: ratings are numbered in u32")),
                ));
            }
            let too_many = |col, what: &str, n: usize| {
                fail(
                    col,
                    ParseIssue::Invalid(format!("more than {n} distinct {what}s: {what}s are numbered in u32")),
                )
            };
            let u = dense_id(&mut self.users, &mut out.user_ids, user, cap).map_err(|n| too_many(ucol, "user", n))?;
            let i = dense_id(&mut self.items, &mut out.item_ids, item, cap).map_err(|n| too_many(icol, "item", n))?;
            out.users.push(u);
            out.items.push(i);
            out.ratings.push(value);
        }
        Ok(())
    }
}

/// Whether `line` (without its `\n`) is a data line of a ratings file (not
/// blank, not a comment): the first one decides the separator and may be a
/// header.
pub(super) fn is_data_line(line: &[u8]) -> bool {
    line.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b != b'#')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_separators() {
        let r = read_ratings_bytes(
            "m",
            b"user_id:token\titem_id:token\trating:float\ttimestamp:float\n196\t242\t3\t881250949\n186\t302\t3\t1\n196\t1\t5\t2\n",
        )
        .unwrap();
        assert!(r.had_header);
        assert_eq!(
            r.header.as_deref(),
            Some("user_id:token\titem_id:token\trating:float\ttimestamp:float")
        );
        assert_eq!(r.users, vec![0, 1, 0]);
        assert_eq!(r.items, vec![0, 1, 2]);
        assert_eq!(r.ratings, vec![3.0, 3.0, 5.0]);
        assert_eq!(r.user_ids, vec!["196", "186"]);
        let r = read_ratings_bytes("c", b"userId,movieId,rating,timestamp\r\n1, 31 ,2.5,1260759144\r\n").unwrap();
        assert_eq!(
            (r.header.as_deref(), r.item_ids[0].as_str()),
            (Some("userId,movieId,rating,timestamp"), "31")
        );
        // Blanks: runs of spaces, and tabs on the lines after the first.
        let r = read_ratings_bytes("s", b"# a comment\n1   2 3\n4\t5  6\n").unwrap();
        assert_eq!((r.had_header, r.header, r.ratings), (false, None, vec![3.0, 6.0]));
        let e = read_ratings_bytes("m", b"1 2 3\n4 5\n").unwrap_err();
        assert_eq!(e.to_string(), "m: line 2, column 4: the rating field is missing");
        let e = read_ratings_bytes("m", b"").unwrap_err();
        assert!(matches!(e, Error::EmptyFile { .. }), "{e}");
        let e = read_ratings_bytes("m", b"user item rating\n").unwrap_err();
        assert!(e.to_string().contains("only a header"), "{e}");
        let e = read_ratings_bytes("m", b"a b c\n").unwrap_err();
        assert!(e.to_string().contains("line 1, column 5"), "{e}");
    }

    #[test]
    fn the_header_rule() {
        for header in [
            "userId,movieId,rating,timestamp",
            "user_id:token\titem_id:token\trating:float",
            "user id\tmovie title\trating",
            "u.id i-d r",
            "_user,_item,_rating,",
        ] {
            let text = format!(
                "{header}\n1{0}2{0}3\n",
                if header.contains('\t') {
                    "\t"
                } else if header.contains(',') {
                    ","
                } else {
                    " "
                }
            );
            let r = read_ratings_bytes("h", text.as_bytes()).unwrap_or_else(|e| panic!("{header:?}: {e}"));
            assert_eq!(r.header.as_deref(), Some(header));
        }
        // Not headers: a rating field that parses, a field that is no column
        // name, or a rating field that names no rating column.
        for (text, msg) in [
            (
                "u1 i1 x\nu2 i1 3\n",
                "h: line 1, column 7: rating \"x\" is not a number",
            ),
            (
                "alice,bob,five\n",
                "h: line 1, column 11: rating \"five\" is not a number",
            ),
            ("1,2,x\n3,4,5\n", "h: line 1, column 5: rating \"x\" is not a number"),
            (
                "user,item,rating?\n",
                "h: line 1, column 11: rating \"rating?\" is not a number",
            ),
            (
                "user,2item,rating\n",
                "h: line 1, column 12: rating \"rating\" is not a number",
            ),
            (
                "user,item,rating:\n",
                "h: line 1, column 11: rating \"rating:\" is not a number",
            ),
            (
                "user,item,nan\n",
                "h: line 1, column 11: rating \"nan\" is not a finite number",
            ),
            (
                "1,2,3\nuser,item,rating\n",
                "h: line 2, column 11: rating \"rating\" is not a number",
            ),
        ] {
            assert_eq!(
                read_ratings_bytes("h", text.as_bytes()).unwrap_err().to_string(),
                msg,
                "{text:?}"
            );
        }
        assert!(is_column_name(b"rating:float") && is_column_name(b"a b.c-d_e"));
        assert!(!is_column_name(b"") && !is_column_name(b"1a") && !is_column_name(b"a:1") && !is_column_name(b"a:b:c"));
    }

    #[test]
    fn counts_beyond_the_cap_are_errors_not_wraps() {
        let e = parse_ratings("c", b"a x 1\nb x 1\nc x 1\n", (2, 9))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "c: line 3, column 1: more than 2 ratings: ratings are numbered in u32"
        );
        let e = parse_ratings("c", b"a x 1\nb y 1\nc x 1\n", (9, 2))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "c: line 3, column 1: more than 2 distinct users: users are numbered in u32"
        );
        let e = parse_ratings("c", b"a x 1\na y 1\na z 1\n", (9, 2))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "c: line 3, column 3: more than 2 distinct items: items are numbered in u32"
        );
        assert!(parse_ratings("c", b"a x 1\nb x 1\na x 1\n", (3, 2)).is_ok());
    }
}
