//! Graphs: edge lists (`u v [weight]` per line) and the METIS adjacency
//! format (a header `n m [fmt [ncon]]`, then one line of neighbours per
//! vertex).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};

use super::parse::{display_name, parse_f32, quote, read_file, ParseIssue};
use super::ratings::fields;
use crate::Error;

/// A graph as a list of edges over nodes `0..n_nodes`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Graph {
    /// The number of nodes.
    pub n_nodes: usize,
    /// The edges, as (from, to). For METIS graphs (undirected), each edge
    /// once, with `from < to`.
    pub edges: Vec<(u32, u32)>,
    /// Each edge's weight, when the file gives them.
    pub weights: Option<Vec<f32>>,
    /// For edge lists: the name each node had in the file (node `k` is
    /// `names[k]`), in order of first appearance. Empty for METIS graphs,
    /// whose vertices are numbered 1..=n in the file (node `k` is vertex `k + 1`).
    pub names: Vec<String>,
}

impl Graph {
    /// Splits the edges at random into (training graph, held-out edges),
    /// with about `held_out` of them held out (at least one, and at least one
    /// kept), for link prediction. The training graph keeps all nodes.
    ///
    /// ```
    /// use wildsgd::data::Graph;
    ///
    /// let g = Graph { n_nodes: 4, edges: vec![(0, 1), (1, 2), (2, 3), (0, 3)], ..Graph::default() };
    /// let (train, held) = g.split_edges(0.25, 7).unwrap();
    /// assert_eq!((train.edges.len(), held.len(), train.n_nodes), (3, 1, 4));
    /// ```
    pub fn split_edges(&self, held_out: f64, seed: u64) -> Result<(Graph, Vec<(u32, u32)>), Error> {
        let m = self.edges.len();
        if !(held_out > 0.0 && held_out < 1.0) || m < 2 {
            return Err(Error::InvalidParameter {
                name: "held_out",
                reason: format!("cannot hold out {held_out} of {m} edge(s): need 0 < fraction < 1 and 2 edges"),
            });
        }
        let k = ((m as f64 * held_out).round() as usize).clamp(1, m - 1);
        let mut order: Vec<usize> = (0..m).collect();
        order.shuffle(&mut Xoshiro256PlusPlus::seed_from_u64(seed));
        let mut is_held = vec![false; m];
        for &i in &order[..k] {
            is_held[i] = true;
        }
        let mut train = Graph {
            n_nodes: self.n_nodes,
            edges: Vec::with_capacity(m - k),
            weights: self.weights.as_ref().map(|_| Vec::with_capacity(m - k)),
            names: self.names.clone(),
        };
        let mut held = Vec::with_capacity(k);
        for (i, &e) in self.edges.iter().enumerate() {
            if is_held[i] {
                held.push(e);
            } else {
                train.edges.push(e);
                if let (Some(tw), Some(w)) = (train.weights.as_mut(), self.weights.as_ref()) {
                    tw.push(w[i]);
                }
            }
        }
        Ok((train, held))
    }

    /// `count` node pairs `(a, b)`, `a != b`, drawn uniformly at random
    /// (seeded) among those joined by no edge in either direction: the
    /// negatives of a link-prediction evaluation. Fails if the graph has
    /// fewer than 2 nodes or is nearly complete (fewer non-edges than
    /// `count`, or too few to find by rejection).
    pub fn non_edges(&self, count: usize, seed: u64) -> Result<Vec<(u32, u32)>, Error> {
        let n = self.n_nodes as u64;
        let possible = n * n.saturating_sub(1) / 2;
        if n < 2 || (possible.saturating_sub(self.edges.len() as u64)) < count as u64 * 2 {
            return Err(Error::InvalidParameter {
                name: "non_edges",
                reason: format!(
                    "{count} non-edges asked of a graph with {n} nodes and {} edges",
                    self.edges.len()
                ),
            });
        }
        let key = |a: u32, b: u32| (u64::from(a.min(b)) << 32) | u64::from(a.max(b));
        let edges: HashSet<u64> = self.edges.iter().map(|&(a, b)| key(a, b)).collect();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let (a, b) = (rng.random_range(0..n) as u32, rng.random_range(0..n) as u32);
            if a != b && !edges.contains(&key(a, b)) {
                out.push((a, b));
            }
        }
        Ok(out)
    }
}

fn parse_error(name: &str, line: usize, column: usize, what: ParseIssue) -> Error {
    Error::Parse {
        file: name.to_string(),
        line,
        column,
        what,
    }
}

/// Reads an edge list: one `from to [weight]` per line, separated by tabs,
/// commas or spaces; `#` and `%` start comment lines; node names are any
/// tokens, numbered densely in order of first appearance. A weight column
/// must be on every edge or none.
///
/// ```
/// use wildsgd::data::read_edge_list;
/// # let dir = std::env::temp_dir().join(format!("wildsgd-doc-edges-{}", std::process::id()));
/// # std::fs::write(&dir, "# comment\na b 0.5\nb c 2\n").unwrap();
/// let g = read_edge_list(&dir).unwrap();
/// assert_eq!((g.n_nodes, g.edges.clone()), (3, vec![(0, 1), (1, 2)]));
/// assert_eq!(g.weights, Some(vec![0.5, 2.0]));
/// # std::fs::remove_file(&dir).unwrap();
/// ```
pub fn read_edge_list(path: impl AsRef<Path>) -> Result<Graph, Error> {
    let path = path.as_ref();
    let name = display_name(path);
    let text = read_file(path)?;
    let mut g = Graph::default();
    let mut ids: HashMap<Vec<u8>, u32> = HashMap::new();
    let mut weights = Vec::new();
    let mut weighted: Option<bool> = None;
    for (no, line) in text.split(|&b| b == b'\n').enumerate() {
        let first = line.iter().position(|&b| !b.is_ascii_whitespace());
        let Some(first) = first else { continue };
        if matches!(line[first], b'#' | b'%') {
            continue;
        }
        let end = line.len() + 1;
        let mut f = fields(line);
        let mut node = |field| {
            let (_, tok) = f
                .next()
                .ok_or_else(|| parse_error(&name, no + 1, end, ParseIssue::MissingField { field }))?;
            let next = ids.len() as u32;
            Ok::<u32, Error>(*ids.entry(tok.to_vec()).or_insert_with(|| {
                g.names.push(String::from_utf8_lossy(tok).into_owned());
                next
            }))
        };
        let (u, v) = (node("from")?, node("to")?);
        let w = f.next();
        match (weighted, &w) {
            (None, _) => weighted = Some(w.is_some()),
            (Some(true), None) => {
                return Err(parse_error(
                    &name,
                    no + 1,
                    end,
                    ParseIssue::MissingField { field: "weight" },
                ))
            }
            _ => {}
        }
        if weighted == Some(true) {
            let (col, tok) = w.expect("checked above");
            match parse_f32(tok) {
                Some(x) if x.is_finite() => weights.push(x),
                _ => {
                    return Err(parse_error(
                        &name,
                        no + 1,
                        col,
                        ParseIssue::BadField {
                            field: "weight",
                            text: quote(tok),
                            expected: "a finite number",
                        },
                    ))
                }
            }
        }
        g.edges.push((u, v));
    }
    if g.edges.is_empty() {
        return Err(Error::EmptyFile {
            file: name,
            detail: if text.is_empty() {
                ""
            } else {
                ", only comments and blank lines"
            },
        });
    }
    g.n_nodes = ids.len();
    g.weights = (weighted == Some(true)).then_some(weights);
    Ok(g)
}

/// Reads a graph in METIS format: `%` comment lines; a header `n m [fmt
/// [ncon]]` (fmt's digits: vertex sizes, vertex weights, edge weights); then
/// exactly `n` vertex lines, each `[size] [ncon weights] neighbour [weight]
/// ...` with neighbours numbered from 1. Every edge must appear in both its
/// vertices' lines, and there must be `m` of them.
pub fn read_metis(path: impl AsRef<Path>) -> Result<Graph, Error> {
    let path = path.as_ref();
    let name = display_name(path);
    let text = read_file(path)?;
    // The piece after the final newline is not a line.
    let body = text.strip_suffix(b"\n").unwrap_or(&text);
    let mut lines = body
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.starts_with(b"%"));
    let header = loop {
        match lines.next() {
            None => {
                return Err(Error::EmptyFile {
                    file: name,
                    detail: if text.is_empty() { "" } else { ", no header line" },
                })
            }
            Some((no, l)) if l.iter().any(|b| !b.is_ascii_whitespace()) => break (no, l),
            Some(_) => {}
        }
    };
    let (hno, hline) = header;
    let nums: Vec<(usize, &[u8])> = fields(hline).collect();
    let int = |(col, tok): (usize, &[u8]), field, line| -> Result<u64, Error> {
        std::str::from_utf8(tok)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| {
                parse_error(
                    &name,
                    line,
                    col,
                    ParseIssue::BadField {
                        field,
                        text: quote(tok),
                        expected: "a non-negative integer",
                    },
                )
            })
    };
    if nums.len() < 2 || nums.len() > 4 {
        return Err(parse_error(
            &name,
            hno,
            1,
            ParseIssue::Invalid(format!(
                "the header must be `n m [fmt [ncon]]`, found {} fields",
                nums.len()
            )),
        ));
    }
    let n = int(nums[0], "vertex count", hno)?;
    let m = int(nums[1], "edge count", hno)?;
    let fmt = if nums.len() > 2 {
        let (col, tok) = nums[2];
        if tok.len() > 3 || !tok.iter().all(|&b| b == b'0' || b == b'1') {
            return Err(parse_error(
                &name,
                hno,
                col,
                ParseIssue::BadField {
                    field: "fmt",
                    text: quote(tok),
                    expected: "up to three 0/1 digits",
                },
            ));
        }
        tok.iter().fold(0u32, |a, &b| a * 10 + u32::from(b - b'0'))
    } else {
        0
    };
    let (sizes, vweights, eweights) = (fmt / 100 == 1, (fmt / 10) % 10 == 1, fmt % 10 == 1);
    let ncon = if nums.len() > 3 {
        int(nums[3], "ncon", hno)?
    } else {
        u64::from(vweights)
    };
    if n > u64::from(u32::MAX) {
        return Err(parse_error(
            &name,
            hno,
            nums[0].0,
            ParseIssue::Invalid(format!("{n} vertices: at most {} supported", u32::MAX)),
        ));
    }
    let mut g = Graph {
        n_nodes: n as usize,
        weights: eweights.then(Vec::new),
        ..Graph::default()
    };
    let mut entries = 0u64;
    let mut last_line = hno;
    for v in 1..=n {
        // Blank lines are vertices with no neighbours.
        let Some((no, line)) = lines.next() else {
            return Err(parse_error(
                &name,
                last_line + 1,
                1,
                ParseIssue::Invalid(format!(
                    "the header promises {n} vertices, the file ends after {}",
                    v - 1
                )),
            ));
        };
        last_line = no;
        let mut f = fields(line);
        for _ in 0..u64::from(sizes) + if vweights { ncon } else { 0 } {
            let tok = f.next().ok_or_else(|| {
                parse_error(
                    &name,
                    no,
                    line.len() + 1,
                    ParseIssue::MissingField { field: "vertex weight" },
                )
            })?;
            int(tok, "vertex weight", no)?;
        }
        while let Some(tok) = f.next() {
            let u = int(tok, "neighbour", no)?;
            if u == 0 || u > n {
                return Err(parse_error(
                    &name,
                    no,
                    tok.0,
                    ParseIssue::BadField {
                        field: "neighbour",
                        text: quote(tok.1),
                        expected: "a vertex number in 1..=n",
                    },
                ));
            }
            if u == v {
                return Err(parse_error(
                    &name,
                    no,
                    tok.0,
                    ParseIssue::Invalid(format!("vertex {v} lists itself as a neighbour")),
                ));
            }
            let w = if eweights {
                let (col, wt) = f.next().ok_or_else(|| {
                    parse_error(
                        &name,
                        no,
                        line.len() + 1,
                        ParseIssue::MissingField { field: "edge weight" },
                    )
                })?;
                match parse_f32(wt) {
                    Some(x) if x.is_finite() => Some(x),
                    _ => {
                        return Err(parse_error(
                            &name,
                            no,
                            col,
                            ParseIssue::BadField {
                                field: "edge weight",
                                text: quote(wt),
                                expected: "a finite number",
                            },
                        ))
                    }
                }
            } else {
                None
            };
            entries += 1;
            if v < u {
                g.edges.push(((v - 1) as u32, (u - 1) as u32));
                if let (Some(ws), Some(w)) = (g.weights.as_mut(), w) {
                    ws.push(w);
                }
            }
        }
    }
    if let Some((no, line)) = lines.find(|(_, l)| l.iter().any(|b| !b.is_ascii_whitespace())) {
        return Err(parse_error(
            &name,
            no,
            1,
            ParseIssue::Invalid(format!("extra line after the {n} vertex lines: {:?}", quote(line))),
        ));
    }
    if entries != 2 * m || g.edges.len() as u64 != m {
        return Err(parse_error(
            &name,
            hno,
            nums[1].0,
            ParseIssue::Invalid(format!(
                "the header says {m} edges, but the vertex lines hold {entries} neighbour entries ({} edges listed from their lower vertex); each edge must appear in both its vertices' lines",
                g.edges.len()
            )),
        ));
    }
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str, text: &str) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("wildsgd-graph-{}-{name}", std::process::id()));
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn metis_small_graph() {
        // A triangle 1-2-3 plus 3-4, with edge weights.
        let p = tmp("ok.graph", "% comment\n4 4 1\n2 1 3 2\n1 1 3 1\n1 2 2 1 4 5\n3 5\n");
        let g = read_metis(&p).unwrap();
        assert_eq!(g.n_nodes, 4);
        assert_eq!(g.edges, vec![(0, 1), (0, 2), (1, 2), (2, 3)]);
        assert_eq!(g.weights, Some(vec![1.0, 2.0, 1.0, 5.0]));
        let p = tmp("bad.graph", "3 2\n2\n1 3\n2 7\n");
        let e = read_metis(&p).unwrap_err().to_string();
        assert!(
            e.ends_with("line 4, column 3: neighbour \"7\" is not a vertex number in 1..=n"),
            "{e}"
        );
        let p = tmp("count.graph", "3 3\n2\n1 3\n2\n");
        let e = read_metis(&p).unwrap_err().to_string();
        assert!(e.contains("line 1, column 3: the header says 3 edges"), "{e}");
        let p = tmp("short.graph", "3 1\n2\n1\n");
        let e = read_metis(&p).unwrap_err().to_string();
        assert!(e.contains("promises 3 vertices"), "{e}");
    }

    #[test]
    fn edge_list_errors() {
        let p = tmp("e1", "a b 1\nc\n");
        let e = read_edge_list(&p).unwrap_err().to_string();
        assert!(e.ends_with("line 2, column 2: the to field is missing"), "{e}");
        let p = tmp("e2", "a b 1\nc d x\n");
        let e = read_edge_list(&p).unwrap_err().to_string();
        assert!(
            e.ends_with("line 2, column 5: weight \"x\" is not a finite number"),
            "{e}"
        );
        let p = tmp("e3", "# nothing\n");
        assert!(matches!(read_edge_list(&p).unwrap_err(), Error::EmptyFile { .. }));
    }
}
