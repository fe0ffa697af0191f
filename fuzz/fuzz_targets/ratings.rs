//! Fuzzes the ratings reader: any bytes (plain or gzip) either parse into
//! consistent ratings (dense ids in range, distinct id tables, finite
//! values) or give an error naming a real place; never a panic.
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use wildsgd::data::read_ratings_bytes;

#[path = "common.rs"]
mod common;

fuzz_target!(|bytes: &[u8]| {
    match read_ratings_bytes("fuzz", bytes) {
        Ok(r) => {
            assert_eq!(r.users.len(), r.ratings.len());
            assert_eq!(r.items.len(), r.ratings.len());
            assert!(!r.is_empty());
            assert!(r.users.iter().all(|&u| (u as usize) < r.n_users()));
            assert!(r.items.iter().all(|&i| (i as usize) < r.n_items()));
            assert!(r.ratings.iter().all(|x| x.is_finite()));
            for ids in [&r.user_ids, &r.item_ids] {
                assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len(), "an id twice");
                assert!(ids
                    .iter()
                    .all(|id| !id.is_empty() && !id.contains('\0') && !id.contains('\n')));
            }
            assert_eq!(r.had_header, r.header.is_some());
        }
        Err(e) => common::check_error(bytes, &e),
    }
});
