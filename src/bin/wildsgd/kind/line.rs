//! `line`: LINE first-order style node embeddings, skip-gram with negative
//! sampling on the edges of a graph (METIS `.graph` or an edge list).

use std::path::Path;

use wildsgd::checkpoint::{tables, Checkpoint, Persist};
use wildsgd::data::{read_edge_list_with, read_metis_with, Graph, Pairs, ReadOptions};
use wildsgd::model::{Sgns, UnigramTable};
use wildsgd::{Error, Schedule};

use super::sgns::{index_of, load, resumed_trainer, saved, schedule, NEGATIVES, VALID_FRACTION};
use crate::args::{EvalArgs, GraphFormat, PredictArgs, TrainArgs};
use crate::kind::Kind;
use crate::run::{param, trainer_line, Defaults, Done, Failure, Run};
use crate::train_loop::{train_loop, Described, Source};

/// LINE-style node embeddings.
pub(crate) struct LineKind;

impl Kind for LineKind {
    fn names(&self) -> &'static [(&'static str, &'static str)] {
        &[(
            "line",
            "LINE-style node embeddings, skip-gram with negative sampling on the edges of a graph (METIS `.graph` \
             or an edge list)",
        )]
    }

    fn defaults(&self, _model: &str, _: wildsgd::model::Update) -> Defaults {
        DEFAULTS
    }

    fn flags(&self) -> &'static [&'static str] {
        &["format", "dim", "negatives"]
    }

    fn check(&self, a: &TrainArgs) -> Result<(), Error> {
        super::sgns::check_args(a)
    }

    fn train(&self, run: &Run) -> Result<Done, Failure> {
        train(run)
    }

    /// An embedding checkpoint whose task is not word2vec's (a bad task is
    /// [`load`]'s error to report).
    fn loads(&self, c: &Checkpoint) -> bool {
        c.kind == Sgns::KIND && !matches!(c.text("", tables::TASK), Ok("word2vec"))
    }

    fn eval(&self, c: &Checkpoint, name: &str, a: &EvalArgs) -> Result<(), Error> {
        eval(c, name, a)
    }

    fn predict(&self, c: &Checkpoint, name: &str, a: &PredictArgs) -> Result<Vec<String>, Error> {
        super::sgns::predict(c, name, a)
    }
}

const LINE_DIM: usize = 32;

/// `line`'s defaults, as in `examples/graph_embedding.rs`: the small
/// word2vec initialisation needs a rate this large to leave the saddle at
/// zero within a few epochs of a small graph. The schedule's sample count is
/// set once the pairs are known.
const DEFAULTS: Defaults = Defaults {
    epochs: 10,
    schedule: Schedule::Linear {
        initial: 0.4,
        samples: 0,
    },
    l2: 0.0,
    average: false,
    l2_per_row: false,
};


/// A graph file's format from its extension: `.graph` and `.metis` are METIS.
fn format_of(path: &Path) -> GraphFormat {
    match path.extension().and_then(|e| e.to_str()) {
        Some("graph" | "metis") => GraphFormat::Metis,
        _ => GraphFormat::Edges,
    }
}

/// The graph at `path` and its nodes' names (a METIS vertex's number from 1).
fn read_graph(path: &Path, format: Option<GraphFormat>, read: &ReadOptions) -> Result<(Graph, Vec<String>), Error> {
    let g = match format.unwrap_or_else(|| format_of(path)) {
        GraphFormat::Metis => read_metis_with(path, read)?,
        GraphFormat::Edges => read_edge_list_with(path, read)?,
    };
    let names = if g.names.is_empty() {
        (1..=g.n_nodes).map(|k| k.to_string()).collect()
    } else {
        g.names.clone()
    };
    Ok((g, names))
}

/// As many non-edges as `wanted`, or fewer in a dense graph: half of those
/// there are at most, which [`Graph::non_edges`] can still find by rejection.
fn non_edge_count(g: &Graph, wanted: usize) -> usize {
    let n = g.n_nodes as u64;
    let free = (n * n.saturating_sub(1) / 2).saturating_sub(g.edges.len() as u64);
    wanted.min((free / 2) as usize).max(1)
}

/// The model a line checkpoint holds, checked against the graph being
/// trained on (the same nodes, the same negative table) and the options given.
fn resumed_model(c: &Checkpoint, run: &Run, names: &[String], counts: &[u64]) -> Result<Sgns, Error> {
    let file = run.checkpoint_name();
    let wrong = |reason: String| Error::Checkpoint {
        file: file.clone(),
        what: wildsgd::checkpoint::CheckpointIssue::WrongModel { reason },
    };
    let saved = load(c, &file)?;
    let (saved_names, saved_counts, negatives) = (saved.names, saved.counts, saved.negatives);
    if saved.text {
        return Err(wrong("it holds a word2vec model, not line".into()));
    }
    if saved_names != names || saved_counts != counts {
        return Err(wrong(format!(
            "it was trained on another graph or split ({} nodes; this one has {})",
            saved_names.len(),
            names.len()
        )));
    }
    let a = &run.a;
    let dim = saved.model.embedding_dim();
    if a.dim.is_some_and(|d| d != dim) || a.negatives.is_some_and(|k| k != negatives) {
        return Err(wrong(format!(
            "dim {dim} and {negatives} negatives in the file, not what --dim/--negatives ask"
        )));
    }
    Ok(saved.model)
}

fn train(run: &Run) -> Result<Done, Failure> {
    let (a, quiet) = (&run.a, run.quiet);
    let (graph, names) = read_graph(&a.data, a.format, &run.read)?;
    let fraction = a.valid_fraction.unwrap_or(VALID_FRACTION);
    let seed = run.split_seed();
    let (train, held) = if fraction > 0.0 {
        graph.split_edges(fraction, seed)?
    } else {
        (graph.clone(), Vec::new())
    };
    let non_edges = if held.is_empty() {
        Vec::new()
    } else {
        graph.non_edges(non_edge_count(&graph, held.len()), seed.wrapping_add(1))?
    };
    let all_pairs = Pairs::from_graph(&train);
    // Negatives follow every pair's targets, on every rank alike.
    let counts = all_pairs.target_counts(graph.n_nodes);
    // --distributed: every rank reads the whole graph (the same split and
    // held-out edges everywhere) and trains its share of the pairs, dealt
    // out by a seeded permutation; the rate's linear decay runs over the
    // rank's own samples.
    let share;
    let pairs = match run.ranks() {
        Some(c) => {
            let n = all_pairs.as_slice().len();
            let order = wildsgd::schedule::once_permutation(seed ^ 0x5_4A2D, None, n);
            let mine = order[wildsgd::cluster::part(n, c.rank(), c.size())]
                .iter()
                .map(|&i| all_pairs.as_slice()[i as usize])
                .collect();
            share = Pairs::new(mine);
            &share
        }
        None => &all_pairs,
    };
    let samples = run.epochs * pairs.as_slice().len();
    let (model, trainer) = match &run.resume {
        None => {
            let (dim, k) = (a.dim.unwrap_or(LINE_DIM), a.negatives.unwrap_or(NEGATIVES));
            let model = Sgns::new(graph.n_nodes, dim, UnigramTable::new(&counts)?)?.negatives(k);
            (model, run.trainer().schedule(schedule(a, 0.4, samples)?))
        }
        Some(c) => {
            let model = resumed_model(c, run, &names, &counts)?;
            (model, resumed_trainer(run, samples))
        }
    };
    let (dim, k) = (model.embedding_dim(), model.get_negatives());
    let weights = run.start_weights(&model)?;
    say!(
        quiet,
        "data: {} ({} nodes, {} edges; training on {} edges = {} pairs, {} held out)",
        a.data.display(),
        graph.n_nodes,
        graph.edges.len(),
        train.edges.len(),
        all_pairs.as_slice().len(),
        held.len()
    );
    if let Some(c) = run.ranks() {
        say!(quiet, "distributed: {} ranks ({}), each on its share of the pairs", c.size(), c.transport());
    }
    say!(
        quiet,
        "model: line, dim {dim}, {k} negatives from degree^0.75; {}",
        trainer_line(&trainer)
    );
    let mut json = serde_json::Map::new();
    json.insert("data".into(), a.data.display().to_string().into());
    json.insert("rows".into(), all_pairs.as_slice().len().into());
    json.insert("valid_rows".into(), held.len().into());
    json.insert("nodes".into(), graph.n_nodes.into());
    json.insert("dim".into(), dim.into());
    json.insert("model".into(), "line".into());
    let summary: crate::train_loop::Summary<'_> = Box::new(|w: &[f32], _: &mut crate::train_loop::Json| {
        Ok(if held.is_empty() {
            Vec::new()
        } else {
            vec![format!(
                "held-out link auc {:.4} ({} held-out edges vs {} sampled non-edges)",
                model.link_auc(w, &held, &non_edges),
                held.len(),
                non_edges.len()
            )]
        })
    });
    let described = Described {
        saved: saved(&model, false, names, counts, 0, 0.0),
        json,
        summary,
    };
    train_loop(run, &model, Source::Fixed(pairs), None, trainer, weights, described)
}

/// `line`: link AUC of the file's edges (nodes mapped by name; an unknown
/// name is an error) against as many node pairs that are not edges of the
/// file. The training edges are not known here, so a non-edge may be one of
/// them; evaluate on a held-out file for a clean figure. `word2vec`: pair
/// AUC of the file's skip-gram pairs (the model's window, no sub-sampling;
/// words not in the model's vocabulary are dropped, and counted, before
/// windows are formed) against their targets replaced by negatives.
fn eval(ckpt: &Checkpoint, name: &str, a: &EvalArgs) -> Result<(), Error> {
    let m = load(ckpt, name)?;
    let w = &ckpt.weights[..];
    let index = index_of(m.names);
        let (g, file_names) = read_graph(&a.data, a.format, &a.limits.read())?;
        let map = |k: u32, edge: usize| {
            let node = &file_names[k as usize];
            index.get(node.as_str()).copied().ok_or_else(|| {
                param(
                    "data",
                    format!(
                        "{}: node {node:?} (edge {} from 1) is not one of the model's {} nodes",
                        a.data.display(),
                        edge + 1,
                        m.names.len()
                    ),
                )
            })
        };
        let edges = g
            .edges
            .iter()
            .enumerate()
            .map(|(i, &(u, v))| Ok((map(u, i)?, map(v, i)?)))
            .collect::<Result<Vec<_>, Error>>()?;
        let mapped = Graph {
            n_nodes: m.names.len(),
            edges,
            ..Graph::default()
        };
        let non_edges = mapped.non_edges(non_edge_count(&mapped, mapped.edges.len()), a.seed)?;
        out!(
            "data: {} ({} edges, model: line, {} nodes, dim {})",
            a.data.display(),
            mapped.edges.len(),
            m.names.len(),
            m.model.embedding_dim()
        );
        out!(
            "link auc: {:.6} ({} edges vs {} sampled non-edges)",
            m.model.link_auc(w, &mapped.edges, &non_edges),
            mapped.edges.len(),
            non_edges.len()
        );
    Ok(())
}
