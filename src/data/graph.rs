//! Graphs: edge lists (`u v [weight]` per line) and the METIS adjacency
//! format (a header `n m [fmt [ncon]]`, then one line of neighbours per
//! vertex, checked for symmetry).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};

use super::parse::{
    blank_fields, check_head, check_nul, decode_bytes, display_name, end_position, id_text, parse_error, parse_f32,
    quote, read_file, ParseIssue, ReadOptions, Separator,
};
use super::ratings::dense_id;
use crate::error::Error;

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

/// Reads an edge list with the default [`ReadOptions`]; see
/// [`read_edge_list_with`].
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
    read_edge_list_with(path, &ReadOptions::default())
}

/// Reads an edge list (gzip-compressed or not): one `from to [weight]` per
/// line; `#` and `%` start comment lines. Fields are separated as in a
/// ratings file ([`read_ratings_with`](super::read_ratings_with)): by tabs
/// only if the first line that is not a comment holds a tab (node names may
/// then hold spaces), else by commas if it holds one (no quoted fields),
/// else by runs of blanks. Node names are any UTF-8 text without a NUL byte,
/// numbered densely in order of first appearance (at most `u32::MAX` nodes
/// and edges). A weight column must be on every edge or none (the first
/// edge decides), and weights must be finite; fields after the weight are
/// ignored.
pub fn read_edge_list_with(path: impl AsRef<Path>, opts: &ReadOptions) -> Result<Graph, Error> {
    let path = path.as_ref();
    let text = read_file(path, opts, Some(&edge_prefix))?;
    parse_edge_list(&display_name(path), &text)
}

/// Reads an edge list held in memory (plain or gzip-compressed); `name` is
/// what error messages call it. See [`read_edge_list_with`].
///
/// ```
/// use wildsgd::data::read_edge_list_bytes;
///
/// let g = read_edge_list_bytes("e.tsv", b"Ada Lovelace\tCharles Babbage\n").unwrap();
/// assert_eq!(g.names, vec!["Ada Lovelace", "Charles Babbage"]);
/// let e = read_edge_list_bytes("e", b"a b\nc\n").unwrap_err();
/// assert_eq!(e.to_string(), "e: line 2, column 2: the to field is missing");
/// ```
pub fn read_edge_list_bytes(name: &str, bytes: &[u8]) -> Result<Graph, Error> {
    let text = decode_bytes(name, bytes, &ReadOptions::default(), Some(&edge_prefix))?;
    parse_edge_list(name, &text)
}

fn edge_prefix(name: &str, text: &[u8]) -> Result<(), Error> {
    parse_edge_list(name, text).map(drop)
}

/// The most nodes and edges of an edge list: their numbers are `u32`s.
const MAX_COUNT: usize = u32::MAX as usize;

fn parse_edge_list(name: &str, text: &[u8]) -> Result<Graph, Error> {
    check_head(name, text, false, &edge_prefix)?;
    let mut g = Graph::default();
    let mut ids: HashMap<Vec<u8>, u32> = HashMap::new();
    let mut weights = Vec::new();
    let mut weighted: Option<bool> = None;
    let mut sep: Option<Separator> = None;
    // Reused from line to line (its slices borrow from `text`).
    let mut fields: Vec<(usize, &[u8])> = Vec::new();
    for (no, line) in text.split(|&b| b == b'\n').enumerate() {
        let line_no = no + 1;
        check_nul(name, line_no, line)?;
        let first = line.iter().position(|&b| !b.is_ascii_whitespace());
        let Some(first) = first else { continue };
        if matches!(line[first], b'#' | b'%') {
            continue;
        }
        let fail = |column, what| parse_error(name, line_no, column, what);
        let sep = *sep.get_or_insert_with(|| Separator::of(line));
        sep.split_into(line, &mut fields)
            .map_err(|(col, what)| fail(col, what))?;
        let end = line.strip_suffix(b"\r").unwrap_or(line).len() + 1;
        if g.edges.len() >= MAX_COUNT {
            return Err(fail(
                1,
                ParseIssue::Invalid(format!("more than {MAX_COUNT} edges: edges are numbered in u32")),
            ));
        }
        let mut node = |k: usize, field: &'static str, id_field: &'static str| {
            let (col, tok) = fields
                .get(k)
                .copied()
                .ok_or_else(|| fail(end, ParseIssue::MissingField { field }))?;
            let tok = id_text(name, line_no, col, tok, field, id_field)?;
            dense_id(&mut ids, &mut g.names, tok, MAX_COUNT).map_err(|n| {
                fail(
                    col,
                    ParseIssue::Invalid(format!("more than {n} distinct nodes: nodes are numbered in u32")),
                )
            })
        };
        let (u, v) = (node(0, "from", "from node")?, node(1, "to", "to node")?);
        let w = fields.get(2).copied().filter(|(_, t)| !t.is_empty());
        match (weighted, &w) {
            (None, _) => weighted = Some(w.is_some()),
            (Some(true), None) => return Err(fail(end, ParseIssue::MissingField { field: "weight" })),
            (Some(false), Some((col, _))) => {
                return Err(fail(
                    *col,
                    ParseIssue::Invalid(
                        "a weight, but the first edge has none: weights must be on every edge or none".into(),
                    ),
                ))
            }
            _ => {}
        }
        if weighted == Some(true) {
            let (col, tok) = w.expect("checked above");
            match parse_f32(tok) {
                Some(x) if x.is_finite() => weights.push(x),
                _ => {
                    return Err(fail(
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
            file: name.to_string(),
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

/// The largest `ncon` (vertex weights per vertex) of a METIS header.
pub const MAX_METIS_NCON: u64 = 1024;

/// Reads a METIS graph with the default [`ReadOptions`]; see
/// [`read_metis_with`].
pub fn read_metis(path: impl AsRef<Path>) -> Result<Graph, Error> {
    read_metis_with(path, &ReadOptions::default())
}

/// Reads a graph in METIS format (gzip-compressed or not): `%` comment
/// lines; a header `n m [fmt [ncon]]` (fmt's digits: vertex sizes, vertex
/// weights, edge weights; `ncon`, the number of vertex weights, in
/// `1..=`[`MAX_METIS_NCON`], default 1; at most `u32::MAX` vertices); then
/// exactly `n` vertex lines, each `[size] [ncon weights] neighbour [weight]
/// ...` with neighbours numbered from 1 and fields separated by blanks. The
/// adjacency must be symmetric: each neighbour `u` listed on vertex `v`'s
/// line is listed once, and `v` is listed once on `u`'s line, with the same
/// edge weight; the first entry in the file that breaks this is an error at
/// its line and column. Then there must be `m` edges.
pub fn read_metis_with(path: impl AsRef<Path>, opts: &ReadOptions) -> Result<Graph, Error> {
    let path = path.as_ref();
    let text = read_file(path, opts, Some(&metis_prefix))?;
    parse_metis(&display_name(path), &text, false)
}

/// Reads a METIS graph held in memory (plain or gzip-compressed); `name` is
/// what error messages call it. See [`read_metis_with`].
///
/// ```
/// use wildsgd::data::read_metis_bytes;
///
/// // A path 1 - 2 - 3.
/// let g = read_metis_bytes("p.graph", b"3 2\n2\n1 3\n2\n").unwrap();
/// assert_eq!(g.edges, vec![(0, 1), (1, 2)]);
/// let e = read_metis_bytes("a.graph", b"3 1\n2\n\n1\n").unwrap_err();
/// assert_eq!(e.to_string(), "a.graph: line 2, column 1: vertex 1 lists 2 as a neighbour, but vertex 2 does not list 1");
/// ```
pub fn read_metis_bytes(name: &str, bytes: &[u8]) -> Result<Graph, Error> {
    let text = decode_bytes(name, bytes, &ReadOptions::default(), Some(&metis_prefix))?;
    parse_metis(name, &text, false)
}

fn metis_prefix(name: &str, text: &[u8]) -> Result<(), Error> {
    parse_metis(name, text, true).map(drop)
}

/// One neighbour entry of a METIS vertex line.
#[derive(Clone, Copy)]
struct Entry {
    /// The neighbour, from 0.
    to: u32,
    /// Its place among the line's neighbour entries, from 0.
    k: u32,
    /// The edge weight (0 when the file has none).
    w: f32,
}

/// Parses METIS text; `partial`: `text` is whole lines from the start of a
/// longer text, and only errors within them are reported (none of the
/// checks at the end of the file).
fn parse_metis(name: &str, text: &[u8], partial: bool) -> Result<Graph, Error> {
    if !partial {
        check_head(name, text, false, &metis_prefix)?;
    }
    // The piece after the final newline is not a line.
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    let mut all = body.split(|&b| b == b'\n').enumerate().map(|(i, l)| (i + 1, l));
    let mut lines = std::iter::from_fn(|| loop {
        let (no, l) = all.next()?;
        if let Err(e) = check_nul(name, no, l) {
            return Some(Err(e));
        }
        if !l.starts_with(b"%") {
            return Some(Ok((no, l)));
        }
    });
    let header = loop {
        match lines.next().transpose()? {
            None => {
                return Err(Error::EmptyFile {
                    file: name.to_string(),
                    detail: if text.is_empty() { "" } else { ", no header line" },
                })
            }
            Some((no, l)) if l.iter().any(|b| !b.is_ascii_whitespace()) => break (no, l),
            Some(_) => {}
        }
    };
    let (hno, hline) = header;
    let nums: Vec<(usize, &[u8])> = blank_fields(hline).collect();
    let int = |(col, tok): (usize, &[u8]), field, line| -> Result<u64, Error> {
        std::str::from_utf8(tok)
            .ok()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| {
                parse_error(
                    name,
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
            name,
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
                name,
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
        let ncon = int(nums[3], "ncon", hno)?;
        if !(1..=MAX_METIS_NCON).contains(&ncon) {
            return Err(parse_error(
                name,
                hno,
                nums[3].0,
                ParseIssue::BadField {
                    field: "ncon",
                    text: quote(nums[3].1),
                    expected: "an integer in 1..=1024",
                },
            ));
        }
        ncon
    } else {
        1
    };
    if n > u64::from(u32::MAX) {
        return Err(parse_error(
            name,
            hno,
            nums[0].0,
            ParseIssue::Invalid(format!("{n} vertices: at most {} supported", u32::MAX)),
        ));
    }
    // Leading fields of each vertex line: its size, then its ncon weights.
    let lead = u64::from(sizes)
        .checked_add(if vweights { ncon } else { 0 })
        .and_then(|l| usize::try_from(l).ok())
        .expect("ncon is at most 1024");
    let mut g = Graph {
        n_nodes: n as usize,
        weights: eweights.then(Vec::new),
        ..Graph::default()
    };
    // Every neighbour entry, grouped by vertex: vertex v's are
    // entries[starts[v]..starts[v + 1]], its line is line_of[v].
    let mut entries: Vec<Entry> = Vec::new();
    let mut starts: Vec<usize> = vec![0];
    let mut line_of: Vec<usize> = Vec::new();
    for v in 1..=n {
        // Blank lines are vertices with no neighbours.
        let Some((no, line)) = lines.next().transpose()? else {
            if partial {
                return Ok(g);
            }
            let (line, column) = end_position(text);
            return Err(parse_error(
                name,
                line,
                column,
                ParseIssue::Invalid(format!(
                    "the header promises {n} vertices, the file ends after {}",
                    v - 1
                )),
            ));
        };
        line_of.push(no);
        let mut f = blank_fields(line);
        for _ in 0..lead {
            let tok = f.next().ok_or_else(|| {
                parse_error(
                    name,
                    no,
                    line.len() + 1,
                    ParseIssue::MissingField { field: "vertex weight" },
                )
            })?;
            int(tok, "vertex weight", no)?;
        }
        let mut k = 0u32;
        while let Some(tok) = f.next() {
            let u = int(tok, "neighbour", no)?;
            if u == 0 || u > n {
                return Err(parse_error(
                    name,
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
                    name,
                    no,
                    tok.0,
                    ParseIssue::Invalid(format!("vertex {v} lists itself as a neighbour")),
                ));
            }
            let w = if eweights {
                let (col, wt) = f.next().ok_or_else(|| {
                    parse_error(
                        name,
                        no,
                        line.len() + 1,
                        ParseIssue::MissingField { field: "edge weight" },
                    )
                })?;
                match parse_f32(wt) {
                    Some(x) if x.is_finite() => x,
                    _ => {
                        return Err(parse_error(
                            name,
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
                0.0
            };
            // Vertices are u32 (checked above); a line has fewer than
            // u32::MAX entries unless it holds duplicates, an error below.
            entries.push(Entry {
                to: (u - 1) as u32,
                k,
                w,
            });
            k = k.saturating_add(1);
            if v < u {
                g.edges.push(((v - 1) as u32, (u - 1) as u32));
                if let Some(ws) = g.weights.as_mut() {
                    ws.push(w);
                }
            }
        }
        starts.push(entries.len());
    }
    if partial {
        return Ok(g);
    }
    for item in lines {
        let (no, line) = item?;
        if line.iter().any(|b| !b.is_ascii_whitespace()) {
            return Err(parse_error(
                name,
                no,
                1,
                ParseIssue::Invalid(format!("extra line after the {n} vertex lines: {:?}", quote(line))),
            ));
        }
    }
    if let Some((v, k, what)) = asymmetry(&mut entries, &starts, eweights) {
        // The column of the k-th neighbour on vertex v's line.
        let no = line_of[v];
        let line = body.split(|&b| b == b'\n').nth(no - 1).unwrap_or_default();
        let per = if eweights { 2 } else { 1 };
        let col = blank_fields(line).nth(lead + k as usize * per).map_or(1, |(c, _)| c);
        return Err(parse_error(name, no, col, ParseIssue::Invalid(what)));
    }
    if g.edges.len() as u64 != m {
        return Err(parse_error(
            name,
            hno,
            nums[1].0,
            ParseIssue::Invalid(format!(
                "the header says {m} edges, but the vertex lines hold {} (each listed on both its vertices' lines)",
                g.edges.len()
            )),
        ));
    }
    Ok(g)
}

/// The first neighbour entry, in file order, that breaks the symmetry of a
/// METIS adjacency: (vertex from 0, the entry's place on its line, what is
/// wrong). `entries` is grouped by vertex as `starts` says; each group is
/// sorted here.
fn asymmetry(entries: &mut [Entry], starts: &[usize], weighted: bool) -> Option<(usize, u32, String)> {
    let n = starts.len() - 1;
    for v in 0..n {
        entries[starts[v]..starts[v + 1]].sort_unstable_by_key(|e| (e.to, e.k));
    }
    let group = |v: usize| (starts[v], starts[v + 1]);
    for v in 0..n {
        let (a, b) = group(v);
        let mut first: Option<(u32, String)> = None;
        for i in a..b {
            let e = entries[i];
            let (v1, u1) = (v + 1, e.to as usize + 1);
            let problem = if i > a && entries[i - 1].to == e.to {
                Some(format!("vertex {v1} lists {u1} twice"))
            } else {
                let (c, d) = group(e.to as usize);
                let back = &entries[c..d];
                let at = back.partition_point(|x| (x.to as usize) < v);
                match back.get(at).filter(|x| x.to as usize == v) {
                    None => Some(format!(
                        "vertex {v1} lists {u1} as a neighbour, but vertex {u1} does not list {v1}"
                    )),
                    // The entry later in the file is the one at odds.
                    Some(x) if weighted && u1 < v1 && x.w != e.w => Some(format!(
                        "the edge {u1}-{v1} has weight {} here but {} on vertex {u1}'s line",
                        e.w, x.w
                    )),
                    Some(_) => None,
                }
            };
            if let Some(p) = problem {
                if first.as_ref().is_none_or(|(k, _)| e.k < *k) {
                    first = Some((e.k, p));
                }
            }
        }
        if let Some((k, p)) = first {
            return Some((v, k, p));
        }
    }
    None
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
    fn metis_symmetry_and_partial_parses() {
        let sym = |t: &str| parse_metis("g", t.as_bytes(), false).map_err(|e| e.to_string());
        // Each undirected edge once, from its lower vertex, in file order.
        let g = sym("4 4\n2 3\n1 3\n4 1 2\n3\n").unwrap();
        assert_eq!(g.edges, vec![(0, 1), (0, 2), (1, 2), (2, 3)]);
        // Listed twice on the back side: the later, duplicate, entry is the error.
        assert_eq!(
            sym("2 1\n2\n1 1\n").unwrap_err(),
            "g: line 3, column 3: vertex 2 lists 1 twice"
        );
        // A duplicate whose count still matches the header is caught too.
        assert_eq!(
            sym("3 1\n2 2\n1 1\n\n").unwrap_err(),
            "g: line 2, column 3: vertex 1 lists 2 twice"
        );
        // A partial parse (whole lines of the head) stops short of the end checks.
        assert!(parse_metis("g", b"5 9\n2\n1\n", true).is_ok());
        assert!(parse_metis("g", b"3 1\n2\n\n1\n", true).is_ok());
        assert_eq!(
            parse_metis("g", b"3 1\n2\n0\n", true).unwrap_err().to_string(),
            "g: line 3, column 1: neighbour \"0\" is not a vertex number in 1..=n"
        );
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
        let e = read_edge_list_bytes("e", b"a b\nc d 2\n").unwrap_err().to_string();
        assert_eq!(
            e,
            "e: line 2, column 5: a weight, but the first edge has none: weights must be on every edge or none"
        );
        let p = tmp("e3", "# nothing\n");
        assert!(matches!(read_edge_list(&p).unwrap_err(), Error::EmptyFile { .. }));
    }
}
