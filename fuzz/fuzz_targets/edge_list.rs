//! Fuzzes the edge-list reader: any bytes (plain or gzip) either parse into
//! a consistent graph (edges within the nodes, one distinct name per node,
//! one finite weight per edge or none) or give an error naming a real
//! place; never a panic.
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use wildsgd::data::read_edge_list_bytes;

#[path = "common.rs"]
mod common;

fuzz_target!(|bytes: &[u8]| {
    match read_edge_list_bytes("fuzz", bytes) {
        Ok(g) => {
            assert!(!g.edges.is_empty());
            assert_eq!(g.names.len(), g.n_nodes);
            assert_eq!(g.names.iter().collect::<HashSet<_>>().len(), g.n_nodes, "a name twice");
            assert!(g.names.iter().all(|n| !n.is_empty() && !n.contains('\0')));
            assert!(g
                .edges
                .iter()
                .all(|&(a, b)| (a as usize) < g.n_nodes && (b as usize) < g.n_nodes));
            if let Some(w) = &g.weights {
                assert_eq!(w.len(), g.edges.len());
                assert!(w.iter().all(|x| x.is_finite()));
            }
        }
        Err(e) => common::check_error(bytes, &e),
    }
});
