//! The frame every format version shares: the header's promised length,
//! the length and CRC checks, the weights, and the trainer's state fields.

use super::{bad, CheckpointIssue, Schedule, HEADER, MAGIC, OLDEST_VERSION, VERSION};
use crate::policy::Policy;

/// Version 1's fixed header, before the weights.
pub(super) const HEADER_V1: usize = 80;
/// Version 2's fixed header, before the parameter block.
pub(super) const HEADER_V2: usize = 56;

/// Checks the length against `header + extra + 4 n + 4` (and `n` against
/// [`MAX_WEIGHTS`](crate::limits::MAX_WEIGHTS)) and the CRC; returns the
/// offset of the CRC.
pub(crate) fn check_frame(b: &[u8], header: usize, extra: u64, n: u64) -> Result<usize, CheckpointIssue> {
    let expected = n
        .checked_mul(4)
        .and_then(|w| w.checked_add(extra))
        .and_then(|w| w.checked_add(header as u64 + 4));
    if expected != Some(b.len() as u64) {
        return Err(CheckpointIssue::Truncated {
            len: b.len() as u64,
            expected: expected.unwrap_or(u64::MAX),
        });
    }
    let body = b.len() - 4;
    let stored = u32::from_le_bytes(b[body..].try_into().expect("4 bytes"));
    let computed = crc32fast::hash(&b[..body]);
    if stored != computed {
        return Err(CheckpointIssue::ChecksumMismatch { stored, computed });
    }
    if n > crate::limits::MAX_WEIGHTS {
        return Err(bad("number of weights", n));
    }
    Ok(body)
}

/// `schedule`, if it is valid.
pub(crate) fn valid(schedule: Schedule) -> Result<Schedule, CheckpointIssue> {
    schedule
        .validate()
        .map_err(|e| bad("schedule", format!("{schedule:?} ({e})")))?;
    Ok(schedule)
}

/// The schedule coded `code` (version 2's codes: a linear schedule's sample
/// count is the bits of `decay`).
pub(crate) fn schedule_of(code: u8, initial: f32, decay: f32) -> Result<Schedule, CheckpointIssue> {
    valid(match code {
        0 => Schedule::Constant(initial),
        1 => Schedule::InverseTime { initial, decay },
        2 => Schedule::EpochDecay { initial, decay },
        3 => Schedule::Linear {
            initial,
            samples: u64::from(decay.to_bits()),
        },
        v => return Err(bad("schedule code", v)),
    })
}

pub(crate) fn policy_of(name: &str) -> Result<Policy, CheckpointIssue> {
    name.parse().map_err(|_| bad("policy", format!("{name:?}")))
}

/// The weights in `b`, all finite.
pub(crate) fn weights_of(b: &[u8]) -> Result<Vec<f32>, CheckpointIssue> {
    let w: Vec<f32> = b
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect();
    match w.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(CheckpointIssue::NonFiniteWeight { index, value: w[index] }),
        None => Ok(w),
    }
}

/// The file length a checkpoint's header promises (at least the header,
/// for a header too short to say).
pub(crate) fn expected_len(head: &[u8]) -> Result<u64, CheckpointIssue> {
    if head.len() < MAGIC.len() || head[..MAGIC.len()] != MAGIC {
        return Err(CheckpointIssue::BadMagic);
    }
    let field = |at: usize| -> Option<u64> { Some(u64::from_le_bytes(head.get(at..at + 8)?.try_into().ok()?)) };
    let version = head
        .get(8..12)
        .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")));
    let (header, extra, n) = match version {
        Some(1) => (HEADER_V1, Some(0), field(56)),
        Some(2) => (HEADER_V2, field(40), field(48)),
        Some(VERSION) => (HEADER, field(48), field(56)),
        Some(found) => return Err(unsupported(found)),
        None => (HEADER, None, None),
    };
    let total = n
        .and_then(|d| d.checked_mul(4))
        .zip(extra)
        .and_then(|(w, p)| w.checked_add(p))
        .and_then(|w| w.checked_add(header as u64 + 4));
    match total {
        Some(t) => Ok(t),
        // Cut inside the header: read what there is, and let the decoder say "truncated".
        None if head.len() < header => Ok(header as u64 + 4),
        None => Err(bad("lengths", "the header's sizes overflow")),
    }
}

/// A file too short for its version's `header` and a CRC.
pub(crate) fn truncated(b: &[u8], header: usize) -> Result<(), CheckpointIssue> {
    if b.len() < header + 4 {
        let (len, expected) = (b.len() as u64, header as u64 + 4);
        return Err(CheckpointIssue::Truncated { len, expected });
    }
    Ok(())
}

pub(crate) fn unsupported(found: u32) -> CheckpointIssue {
    CheckpointIssue::UnsupportedVersion {
        found,
        oldest: OLDEST_VERSION,
        newest: VERSION,
    }
}
