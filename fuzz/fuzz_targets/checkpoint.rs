//! Fuzzes the checkpoint decoder on any bytes, as given and with the CRC
//! (the last four bytes) fixed up so that the fields behind it get
//! exercised: a checkpoint decodes, and then encodes and decodes again to
//! the same bytes, or it is an error; never a panic, an abort or a huge
//! allocation. A checkpoint that decodes is also decoded as each built-in
//! model (every `Persist::decode`), which must not panic either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wildsgd::checkpoint::Checkpoint;
use wildsgd::model::Sgns;
use wildsgd::{Linear, MatrixFactorization, Softmax};

fn check(bytes: &[u8]) {
    match Checkpoint::from_bytes("fuzz", bytes) {
        Ok(c) => {
            let once = c.to_bytes();
            let again = Checkpoint::from_bytes("again", &once).expect("re-decode");
            assert_eq!(again.to_bytes(), once, "encode/decode is not stable");
            let _ = c.model::<Linear>("fuzz");
            let _ = c.model::<Softmax>("fuzz");
            let _ = c.model::<MatrixFactorization>("fuzz");
            let _ = c.model::<Sgns>("fuzz");
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

fuzz_target!(|bytes: &[u8]| {
    check(bytes);
    if bytes.len() >= 4 {
        let mut fixed = bytes.to_vec();
        let body = fixed.len() - 4;
        let crc = crc32fast::hash(&fixed[..body]);
        fixed[body..].copy_from_slice(&crc.to_le_bytes());
        check(&fixed);
    }
});
