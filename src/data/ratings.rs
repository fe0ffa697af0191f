//! Ratings files: `user item rating [more fields...]` per line, separated by
//! tabs, commas or spaces, with an optional header line (a first line whose
//! rating field is not a number), as MovieLens' `u.data` or RecBole's
//! `ml-100k.inter` are.

use std::collections::HashMap;
use std::path::Path;

use super::parse::{display_name, maybe_gunzip, parse_f32, quote, read_file, ParseIssue};
use crate::Error;

/// User–item ratings with users and items renumbered densely from 0 in
/// order of first appearance.
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
