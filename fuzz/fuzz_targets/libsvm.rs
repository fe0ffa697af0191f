//! Fuzzes the LIBSVM reader: any bytes (plain or gzip) either parse into a
//! valid dataset that survives a write + read round trip, or give a typed
//! error whose message names the place; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wildsgd::data::{read_libsvm_bytes, write_libsvm, LibsvmOptions};
use wildsgd::Error;

fuzz_target!(|bytes: &[u8]| {
    // Small chunks so that the chunk splitting is exercised too.
    let opts = LibsvmOptions {
        n_features: None,
        chunk_bytes: 16,
    };
    match read_libsvm_bytes("fuzz", bytes, &opts) {
        Ok(d) => {
            let whole = read_libsvm_bytes("fuzz", bytes, &LibsvmOptions::default()).expect("whole parse");
            assert_eq!(whole.data, d.data, "chunked and whole parses differ");
            let mut text = Vec::new();
            write_libsvm(&mut text, &d.data).expect("write");
            let again = read_libsvm_bytes(
                "again",
                &text,
                &LibsvmOptions {
                    n_features: Some(d.data.n_features()),
                    chunk_bytes: 0,
                },
            )
            .expect("re-read");
            assert_eq!(again.data, d.data, "round trip");
        }
        Err(Error::Parse { file, line, column, .. }) => {
            assert_eq!(file, "fuzz");
            assert!(line >= 1 && column >= 1);
        }
        Err(Error::EmptyFile { .. }) => {}
        Err(e) => panic!("unexpected error kind: {e:?}"),
    }
});
