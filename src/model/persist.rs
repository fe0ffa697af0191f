//! How a model saves itself: the [`Persist`] trait each built-in model
//! implements next to its definition, and the small codec it writes with
//! (the model layer; [`checkpoint`](crate::checkpoint) is the container
//! above it): little-endian integers, `f32`/`f64`, and strings as a
//! `u32` length then UTF-8. Every read is bounds-checked and fails with a
//! [`CheckpointIssue::BadField`] naming the field, never a panic; a length or
//! count read from the file is checked against the bytes left before it
//! sizes an allocation.

use crate::error::CheckpointIssue;
use crate::model::Model;

/// A model that can be saved in a checkpoint: its parameters (not its
/// weights) as a block of bytes, and back.
pub trait Persist: Model + Sized {
    /// The kind's name, written in the file: stable, unique per model type.
    const KIND: &'static str;
    /// Writes the model's parameters.
    fn encode(&self, out: &mut Encoder);
    /// Reads them back, checking every size and value before it is used or
    /// sizes an allocation (see [`Decoder::expect_weights`]). The decoded
    /// model's [`n_weights`](Model::n_weights) must be the number of weights stored.
    fn decode(input: &mut Decoder<'_>) -> Result<Self, CheckpointIssue>;
}

/// A [`CheckpointIssue::BadField`] for `field` holding `value`.
pub fn bad(field: &'static str, value: impl ToString) -> CheckpointIssue {
    CheckpointIssue::BadField {
        field,
        value: value.to_string(),
    }
}

/// Appends little-endian values to a byte buffer.
#[derive(Clone, Debug, Default)]
pub struct Encoder {
    bytes: Vec<u8>,
}

impl Encoder {
    /// An empty buffer.
    pub fn new() -> Self {
        Encoder::default()
    }

    /// The bytes written so far.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Raw bytes, as they are.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.bytes.extend_from_slice(b);
        self
    }

    /// One byte.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.bytes(&[v])
    }

    /// A flag: one byte, 0 or 1.
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.u8(u8::from(v))
    }

    /// A `u32`.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }

    /// A `u64`.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }

    /// A size or count, as a `u64`.
    pub fn usize(&mut self, v: usize) -> &mut Self {
        self.u64(v as u64)
    }

    /// An `f32`, bit for bit.
    pub fn f32(&mut self, v: f32) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }

    /// An `f64`, bit for bit.
    pub fn f64(&mut self, v: f64) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }

    /// A string: its length in bytes as a `u32`, then its UTF-8.
    ///
    /// # Panics
    /// If it is 4 GiB or longer.
    pub fn string(&mut self, s: &str) -> &mut Self {
        let n = u32::try_from(s.len()).expect("a checkpoint string is under 4 GiB");
        self.u32(n).bytes(s.as_bytes())
    }
}

/// Reads little-endian values from a byte slice, each read checked.
///
/// It also knows how many weights the checkpoint stores
/// ([`n_weights`](Self::n_weights)), so that a model can check the sizes it
/// reads against them before allocating anything of that size.
#[derive(Clone, Debug)]
pub struct Decoder<'b> {
    b: &'b [u8],
    pos: usize,
    n_weights: u64,
}

impl<'b> Decoder<'b> {
    /// A reader over `b`, for a checkpoint storing `n_weights` weights.
    pub fn new(b: &'b [u8], n_weights: u64) -> Self {
        Decoder { b, pos: 0, n_weights }
    }

    /// The number of weights the checkpoint stores.
    pub fn n_weights(&self) -> u64 {
        self.n_weights
    }

    /// Fails unless `n` (the number of weights a model's sizes imply, `None`
    /// when it overflows) is the number stored: call it before allocating
    /// anything sized by the file.
    pub fn expect_weights(&self, n: Option<u64>, what: impl std::fmt::Display) -> Result<(), CheckpointIssue> {
        match n {
            Some(n) if n == self.n_weights => Ok(()),
            _ => Err(bad(
                "dimension",
                format!("{} weights stored for {what}", self.n_weights),
            )),
        }
    }

    /// The bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }

    /// Fails unless every byte has been read.
    pub fn finish(&self, field: &'static str) -> Result<(), CheckpointIssue> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(bad(field, format!("{n} bytes left over"))),
        }
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize, field: &'static str) -> Result<&'b [u8], CheckpointIssue> {
        match self.pos.checked_add(n).filter(|&end| end <= self.b.len()) {
            Some(end) => {
                let s = &self.b[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(bad(
                field,
                format!("cut short: {n} bytes needed at offset {}", self.pos),
            )),
        }
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], CheckpointIssue> {
        Ok(self.take(N, field)?.try_into().expect("N bytes"))
    }

    /// One byte.
    pub fn u8(&mut self, field: &'static str) -> Result<u8, CheckpointIssue> {
        Ok(self.array::<1>(field)?[0])
    }

    /// A flag: a byte that must be 0 or 1.
    pub fn bool(&mut self, field: &'static str) -> Result<bool, CheckpointIssue> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(bad(field, v)),
        }
    }

    /// A `u32`.
    pub fn u32(&mut self, field: &'static str) -> Result<u32, CheckpointIssue> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    /// A `u64`.
    pub fn u64(&mut self, field: &'static str) -> Result<u64, CheckpointIssue> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }

    /// A `u64` that must lie in `range` (and fit a `usize`).
    pub fn usize_in(
        &mut self,
        range: std::ops::RangeInclusive<usize>,
        field: &'static str,
    ) -> Result<usize, CheckpointIssue> {
        let v = self.u64(field)?;
        usize::try_from(v)
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| bad(field, format!("{v} (must be in {}..={})", range.start(), range.end())))
    }

    /// An `f32`, any bits.
    pub fn f32(&mut self, field: &'static str) -> Result<f32, CheckpointIssue> {
        Ok(f32::from_le_bytes(self.array(field)?))
    }

    /// An `f64`, any bits.
    pub fn f64(&mut self, field: &'static str) -> Result<f64, CheckpointIssue> {
        Ok(f64::from_le_bytes(self.array(field)?))
    }

    /// An `f32` that must be finite.
    pub fn finite_f32(&mut self, field: &'static str) -> Result<f32, CheckpointIssue> {
        let v = self.f32(field)?;
        if v.is_finite() {
            Ok(v)
        } else {
            Err(bad(field, v))
        }
    }

    /// An `f64` that must be finite.
    pub fn finite_f64(&mut self, field: &'static str) -> Result<f64, CheckpointIssue> {
        let v = self.f64(field)?;
        if v.is_finite() {
            Ok(v)
        } else {
            Err(bad(field, v))
        }
    }

    /// A count of items that take at least `min_bytes` each: it must be at
    /// most what the bytes left can hold, so it can size an allocation.
    pub fn count(&mut self, min_bytes: usize, field: &'static str) -> Result<usize, CheckpointIssue> {
        let n = self.u64(field)?;
        let room = (self.remaining() / min_bytes.max(1)) as u64;
        if n > room {
            return Err(bad(
                field,
                format!("{n}, more than the {} bytes left can hold", self.remaining()),
            ));
        }
        Ok(n as usize)
    }

    /// A string: a `u32` length, then UTF-8.
    pub fn string(&mut self, field: &'static str) -> Result<String, CheckpointIssue> {
        let n = self.u32(field)? as usize;
        let s = self.take(n, field)?;
        String::from_utf8(s.to_vec()).map_err(|_| bad(field, format!("{:?} (not UTF-8)", String::from_utf8_lossy(s))))
    }

    /// `n` values read by `read` (check `n` with [`count`](Self::count) first).
    pub fn list<T>(
        &mut self,
        n: usize,
        mut read: impl FnMut(&mut Self) -> Result<T, CheckpointIssue>,
    ) -> Result<Vec<T>, CheckpointIssue> {
        (0..n).map(|_| read(self)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_short_or_forged_input() {
        let mut e = Encoder::new();
        e.u8(7).bool(true).u32(9).u64(u64::MAX).f32(-0.0).f64(1.5).string("ü");
        e.u64(2).string("a").string("");
        let b = e.into_bytes();
        let mut d = Decoder::new(&b, 0);
        assert_eq!(d.u8("a").unwrap(), 7);
        assert!(d.bool("b").unwrap());
        assert_eq!(d.u32("c").unwrap(), 9);
        assert_eq!(d.u64("d").unwrap(), u64::MAX);
        assert_eq!(d.f32("e").unwrap().to_bits(), (-0.0f32).to_bits());
        assert_eq!(d.finite_f64("f").unwrap(), 1.5);
        assert_eq!(d.string("g").unwrap(), "ü");
        let n = d.count(4, "n").unwrap();
        assert_eq!(d.list(n, |d| d.string("s")).unwrap(), ["a", ""]);
        d.finish("all").unwrap();
        assert!(d.u8("past the end").is_err());
        let mut forged = Encoder::new();
        forged.u64(1 << 40);
        let forged = forged.into_bytes();
        assert!(Decoder::new(&forged, 0).count(4, "n").is_err());
        assert!(Decoder::new(&forged, 0).usize_in(0..=10, "n").is_err());
        let mut nan = Encoder::new();
        nan.f32(f32::NAN);
        let nan = nan.into_bytes();
        assert!(Decoder::new(&nan, 0).finite_f32("x").is_err());
    }
}
