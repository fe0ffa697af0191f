//! The named [`Table`]s a caller attaches to a checkpoint, their encoding
//! (see the [format](super)) and the typed getters.

use std::collections::BTreeMap;

use super::{bad, Checkpoint, CheckpointIssue, Decoder, Encoder};
use crate::error::Error;

/// A named value a caller attaches to a checkpoint, beyond the model itself
/// (the id tables of the data a model was trained on, say).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Table {
    /// One string.
    Text(String),
    /// A list of strings.
    Strings(Vec<String>),
    /// One number.
    U64(u64),
    /// A list of numbers.
    U64s(Vec<u64>),
    /// One finite float.
    F64(f64),
}

pub(super) fn encode(tables: &BTreeMap<String, Table>, meta: &mut Encoder) {
    meta.u32(u32::try_from(tables.len()).expect("fewer than 2^32 tables"));
    for (name, table) in tables {
        meta.string(name);
        match table {
            Table::Text(s) => meta.u8(0).string(s),
            Table::Strings(v) => v.iter().fold(meta.u8(1).usize(v.len()), |m, s| m.string(s)),
            Table::U64(v) => meta.u8(2).u64(*v),
            Table::U64s(v) => v.iter().fold(meta.u8(3).usize(v.len()), |m, x| m.u64(*x)),
            Table::F64(v) => meta.u8(4).f64(*v),
        };
    }
}

pub(super) fn decode(m: &mut Decoder<'_>) -> Result<BTreeMap<String, Table>, CheckpointIssue> {
    let mut tables = BTreeMap::new();
    for _ in 0..m.u32("number of tables")? {
        let name = m.string("table name")?;
        let table = match m.u8("table type")? {
            0 => Table::Text(m.string("text table")?),
            1 => {
                let n = m.count(4, "strings table")?;
                Table::Strings(m.list(n, |m| m.string("string"))?)
            }
            2 => Table::U64(m.u64("number table")?),
            3 => {
                let n = m.count(8, "numbers table")?;
                Table::U64s(m.list(n, |m| m.u64("number"))?)
            }
            4 => Table::F64(m.finite_f64("float table")?),
            v => return Err(bad("table type", v)),
        };
        if tables.insert(name.clone(), table).is_some() {
            return Err(bad("table name", format!("{name:?} (twice)")));
        }
    }
    Ok(tables)
}

impl Checkpoint {
    fn table<'a, T: ?Sized>(
        &'a self,
        file: &str,
        name: &str,
        wanted: &'static str,
        pick: impl FnOnce(&'a Table) -> Option<&'a T>,
    ) -> Result<&'a T, Error> {
        self.tables.get(name).and_then(pick).ok_or_else(|| Error::Checkpoint {
            file: file.to_string(),
            what: CheckpointIssue::MissingTable {
                name: name.to_string(),
                wanted,
            },
        })
    }

    /// The [`Table::Text`] named `name`; `file` is what errors call the file.
    ///
    /// # Errors
    /// [`CheckpointIssue::MissingTable`] if there is none (of that type).
    pub fn text(&self, file: &str, name: &str) -> Result<&str, Error> {
        self.table(file, name, "text", |t| {
            if let Table::Text(s) = t {
                Some(s.as_str())
            } else {
                None
            }
        })
    }

    /// The [`Table::Strings`] named `name` (errors as [`text`](Self::text)).
    pub fn strings(&self, file: &str, name: &str) -> Result<&[String], Error> {
        self.table(file, name, "strings", |t| {
            if let Table::Strings(v) = t {
                Some(&v[..])
            } else {
                None
            }
        })
    }

    /// The [`Table::U64`] named `name` (errors as [`text`](Self::text)).
    pub fn u64(&self, file: &str, name: &str) -> Result<u64, Error> {
        self.table(file, name, "a number", |t| {
            if let Table::U64(v) = t {
                Some(v)
            } else {
                None
            }
        })
        .copied()
    }

    /// The [`Table::U64s`] named `name` (errors as [`text`](Self::text)).
    pub fn u64s(&self, file: &str, name: &str) -> Result<&[u64], Error> {
        self.table(file, name, "numbers", |t| {
            if let Table::U64s(v) = t {
                Some(&v[..])
            } else {
                None
            }
        })
    }

    /// The [`Table::F64`] named `name` (errors as [`text`](Self::text)).
    pub fn f64(&self, file: &str, name: &str) -> Result<f64, Error> {
        self.table(file, name, "a float", |t| {
            if let Table::F64(v) = t {
                Some(v)
            } else {
                None
            }
        })
        .copied()
    }
}
