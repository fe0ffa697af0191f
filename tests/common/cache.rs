//! The real datasets `scripts/fetch-data` puts in data-cache/.

use std::path::PathBuf;

/// The path of `data-cache/<rel>`; panics, naming it, when it is absent (the
/// tests that call it are `#[ignore]`d and run by scripts/test only when
/// their files are present).
pub fn cached(rel: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data-cache").join(rel);
    assert!(
        p.exists(),
        "{} is absent; run `bash scripts/fetch-data` to fetch it",
        p.display()
    );
    p
}
