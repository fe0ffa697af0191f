//! loom model checks of wildsgd live in `tests/`; this crate has no library code.
