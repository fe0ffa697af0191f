//! Fuzzes the LIBSVM reader: any bytes (plain or gzip) either parse into a
//! valid dataset that survives a write + read round trip (and whose widest
//! feature is where the reader says), or give an error naming a real place;
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wildsgd::data::{read_libsvm_bytes, write_libsvm, LibsvmOptions};

#[path = "common.rs"]
mod common;

fuzz_target!(|bytes: &[u8]| {
    // Small chunks so that the chunk splitting is exercised too.
    let opts = LibsvmOptions {
        chunk_bytes: 16,
        ..LibsvmOptions::default()
    };
    match read_libsvm_bytes("fuzz", bytes, &opts) {
        Ok(d) => {
            let whole = read_libsvm_bytes("fuzz", bytes, &LibsvmOptions::default()).expect("whole parse");
            assert_eq!(whole.data, d.data, "chunked and whole parses differ");
            assert_eq!(
                whole.widest, d.widest,
                "chunked and whole parses place the widest feature apart"
            );
            assert_eq!(d.widest.is_some(), d.data.n_features() > 0);
            if let (Some((line, column)), false) = (d.widest, bytes.starts_with(&[0x1f, 0x8b])) {
                // The token there is the widest index, written in full.
                let text = bytes.split(|&b| b == b'\n').nth(line - 1).expect("the line");
                let token = &text[column - 1..];
                let digits = token.iter().take_while(|b| b.is_ascii_digit()).count();
                assert_eq!(token.get(digits), Some(&b':'));
                let index: u64 = std::str::from_utf8(&token[..digits]).unwrap().parse().unwrap();
                assert_eq!(index, d.data.n_features() as u64);
            }
            let mut text = Vec::new();
            write_libsvm(&mut text, &d.data).expect("write");
            let again = read_libsvm_bytes(
                "again",
                &text,
                &LibsvmOptions {
                    n_features: Some(d.data.n_features()),
                    ..LibsvmOptions::default()
                },
            )
            .expect("re-read");
            assert_eq!(again.data, d.data, "round trip");
        }
        Err(e) => common::check_error(bytes, &e),
    }
});
