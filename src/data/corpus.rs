//! Text corpora for skip-gram training (placeholder, being written).
