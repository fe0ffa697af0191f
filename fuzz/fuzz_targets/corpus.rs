//! Fuzzes the corpus reader and the skip-gram pairs: any bytes (plain or
//! gzip) either parse into a corpus whose sentences use its vocabulary,
//! with a window (from the first byte) whose checked bound holds for the
//! pairs, or give an error naming a real place; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wildsgd::data::{read_corpus_bytes, SkipGram};

#[path = "common.rs"]
mod common;

fuzz_target!(|input: &[u8]| {
    let Some((&knobs, bytes)) = input.split_first() else {
        return;
    };
    let min_count = u64::from(knobs & 3);
    match read_corpus_bytes("fuzz", bytes, min_count) {
        Ok(c) => {
            let v = c.vocab();
            assert!(!v.is_empty());
            let mut tokens = 0;
            for s in 0..c.n_sentences() {
                let sent = c.sentence(s);
                assert!(!sent.is_empty());
                assert!(sent.iter().all(|&w| (w as usize) < v.len()));
                tokens += sent.len();
            }
            assert_eq!(tokens, c.n_tokens());
            assert_eq!(v.total(), c.n_tokens() as u64);
            for id in 0..v.len() as u32 {
                assert_eq!(v.id(v.word(id)), Some(id));
                assert!(v.count(id) >= min_count.max(1));
            }
            let sg = SkipGram {
                window: usize::from(knobs >> 4),
                subsample: if knobs & 4 == 0 { 0.0 } else { 1e-3 },
                seed: u64::from(knobs),
            };
            match sg.check(&c) {
                Ok(bound) => {
                    let pairs = sg.pairs(&c, 0);
                    assert!(pairs.as_slice().len() as u64 <= bound);
                    match sg.try_pairs(&c, 1) {
                        Ok(p) => assert!(!p.as_slice().is_empty()),
                        Err(e) => assert!(!e.to_string().is_empty()),
                    }
                }
                Err(e) => assert!(sg.window == 0, "{e}"),
            }
        }
        Err(e) => common::check_error(bytes, &e),
    }
});
