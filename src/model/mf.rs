//! Matrix factorisation (placeholder, being written).
