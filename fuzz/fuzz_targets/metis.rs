//! Fuzzes the METIS reader: any bytes (plain or gzip) either parse into a
//! simple undirected graph (each edge once, from its lower vertex, within
//! the vertices, with one finite weight per edge or none) or give an error
//! naming a real place; never a panic.
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use wildsgd::data::read_metis_bytes;

#[path = "common.rs"]
mod common;

fuzz_target!(|bytes: &[u8]| {
    match read_metis_bytes("fuzz", bytes) {
        Ok(g) => {
            assert!(g.names.is_empty());
            assert!(g.edges.iter().all(|&(a, b)| a < b && (b as usize) < g.n_nodes));
            assert_eq!(
                g.edges.iter().collect::<HashSet<_>>().len(),
                g.edges.len(),
                "an edge twice"
            );
            if let Some(w) = &g.weights {
                assert_eq!(w.len(), g.edges.len());
                assert!(w.iter().all(|x| x.is_finite()));
            }
        }
        Err(e) => common::check_error(bytes, &e),
    }
});
