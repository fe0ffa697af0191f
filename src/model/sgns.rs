//! Negative-sampling embeddings (placeholder, being written).
