//! Dense multiclass softmax regression (placeholder, being written).
