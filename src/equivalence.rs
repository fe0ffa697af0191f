//! The sequential-equivalence harness (being written).
