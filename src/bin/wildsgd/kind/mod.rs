//! The model kinds `train --model` builds, and the [`registry`]: the one
//! place that lists them. `--model`'s values and their help, the defaults,
//! which kind-specific flags apply, training, and the `eval`/`predict`
//! dispatch on a checkpoint all go through [`KINDS`].
//!
//! A new kind is one library model file (a [`Model`](wildsgd::Model) with a
//! [`Persist`](wildsgd::checkpoint::Persist) impl), one file here
//! implementing [`Kind`], and one line in the [`registry!`] below.

use wildsgd::checkpoint::Checkpoint;
use wildsgd::Error;

use crate::args::{EvalArgs, PredictArgs, TrainArgs};
use crate::run::{param, Defaults, Done, Failure, Run};

/// Helpers line and word2vec share (not a kind).
mod sgns;

/// One model kind of the command line.
pub(crate) trait Kind: Sync {
    /// The names `--model` accepts for it, with each one's help.
    fn names(&self) -> &'static [(&'static str, &'static str)];

    /// What a flag that only this kind accepts calls it (`--rank applies to
    /// ... only`): by default `--model NAME`, for a kind of several names a
    /// word for them all.
    fn group(&self) -> Option<&'static str> {
        None
    }

    /// Its defaults for what the user did not give, `model` being the name
    /// `--model` gave.
    fn defaults(&self, model: &str) -> Defaults;

    /// A note on its default learning rate, for `--lr`'s help.
    fn lr_note(&self) -> Option<&'static str> {
        None
    }

    /// The kind-specific flags (of [`KIND_FLAGS`]) it accepts.
    fn flags(&self) -> &'static [&'static str] {
        &[]
    }

    /// Further checks of the arguments, before anything is read.
    fn check(&self, _a: &TrainArgs) -> Result<(), Error> {
        Ok(())
    }

    /// Trains as `run` says.
    fn train(&self, run: &Run) -> Result<Done, Failure>;

    /// Whether a checkpoint holds one of its models (by the stored kind and tables).
    fn loads(&self, c: &Checkpoint) -> bool;

    /// The L2 strength of its model in `c` (0 for a kind without one).
    fn saved_l2(&self, _c: &Checkpoint, _file: &str) -> Result<f32, Error> {
        Ok(0.0)
    }

    /// Evaluates the checkpoint's model on `a.data`, printing the figures.
    fn eval(&self, c: &Checkpoint, name: &str, a: &EvalArgs) -> Result<(), Error>;

    /// One prediction line per sample of `a.data`.
    fn predict(&self, c: &Checkpoint, name: &str, a: &PredictArgs) -> Result<Vec<String>, Error>;
}

/// Declares each kind's module and lists it in [`KINDS`]: one line per kind.
macro_rules! registry {
    ($($module:ident :: $kind:ident),* $(,)?) => {
        $(mod $module;)*
        /// Every kind, in `--model`'s order (the first is the default's).
        pub(crate) static KINDS: &[&dyn Kind] = &[$(&$module::$kind),*];
    };
}

registry! {
    linear::LinearKind,
    softmax::SoftmaxKind,
    mf::MfKind,
    line::LineKind,
    word2vec::Word2vecKind,
}

/// Whether a flag was given.
type Given = fn(&TrainArgs) -> bool;

/// The flags that only some kinds accept, and whether they were given.
pub(crate) const KIND_FLAGS: &[(&str, Given)] = &[
    ("no-bias", |a| a.no_bias),
    ("rank", |a| a.rank.is_some()),
    ("format", |a| a.format.is_some()),
    ("dim", |a| a.dim.is_some()),
    ("negatives", |a| a.negatives.is_some()),
    ("window", |a| a.window.is_some()),
    ("min-count", |a| a.min_count.is_some()),
    ("subsample", |a| a.subsample.is_some()),
];

/// The kind `--model NAME` names.
pub(crate) fn named(name: &str) -> Option<&'static dyn Kind> {
    KINDS
        .iter()
        .copied()
        .find(|k| k.names().iter().any(|(n, _)| *n == name))
}

/// The kind whose model a checkpoint holds, or an error saying this build
/// cannot `act` (evaluate, predict with) it.
pub(crate) fn of_checkpoint(c: &Checkpoint, file: &str, act: &str) -> Result<&'static dyn Kind, Error> {
    KINDS
        .iter()
        .copied()
        .find(|k| k.loads(c))
        .ok_or_else(|| param("model", format!("{file}: this build cannot {act} {:?} models", c.kind)))
}

/// `--model`'s parser: the names of [`KINDS`], with their help.
pub(crate) fn value_parser() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(
        KINDS
            .iter()
            .flat_map(|k| k.names())
            .map(|&(n, help)| clap::builder::PossibleValue::new(n).help(help)),
    )
}

/// Refuses the kind-specific flags that `kind` does not accept, naming the
/// kinds that do.
pub(crate) fn check_flags(kind: &dyn Kind, a: &TrainArgs) -> Result<(), Error> {
    for &(flag, given) in KIND_FLAGS {
        if given(a) && !kind.flags().contains(&flag) {
            let takers: Vec<&dyn Kind> = KINDS.iter().copied().filter(|k| k.flags().contains(&flag)).collect();
            let names: Vec<&str> = takers
                .iter()
                .filter(|k| k.group().is_none())
                .map(|k| k.names()[0].0)
                .collect();
            let mut who: Vec<String> = takers.iter().filter_map(|k| k.group()).map(String::from).collect();
            if !names.is_empty() {
                who.insert(0, format!("--model {}", list(&names)));
            }
            return Err(param(flag, format!("--{flag} applies to {} only", who.join(" and "))));
        }
    }
    Ok(())
}

/// `names` as a list: `a`, `a and b`, `a, b and c`.
fn list(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The defaults of every `--model` name, for a flag's help: `value` of
/// each name's [`Defaults`] (none: the name is left out), names of equal
/// values run together (`[hinge and squared 0.5, softmax 0.01]`).
pub(crate) fn defaults_help(value: impl Fn(&Defaults) -> Option<String>) -> String {
    let mut groups: Vec<(Vec<&str>, String)> = Vec::new();
    for k in KINDS {
        for &(name, _) in k.names() {
            let Some(v) = value(&k.defaults(name)) else { continue };
            match groups.last_mut() {
                Some((names, last)) if *last == v => names.push(name),
                _ => groups.push((vec![name], v)),
            }
        }
    }
    let parts: Vec<String> = groups.iter().map(|(n, v)| format!("{} {v}", list(n))).collect();
    format!("[{}]", parts.join(", "))
}

/// `--lr`'s notes: the kinds' own, then which names decay linearly.
pub(crate) fn lr_notes() -> String {
    let mut notes: Vec<String> = KINDS.iter().filter_map(|k| k.lr_note()).map(String::from).collect();
    let linear: Vec<&str> = KINDS
        .iter()
        .flat_map(|k| k.names().iter().map(move |&(n, _)| (n, k.defaults(n))))
        .filter(|(_, d)| matches!(d.schedule, wildsgd::Schedule::Linear { .. }))
        .map(|(n, _)| n)
        .collect();
    if !linear.is_empty() {
        notes.push(format!("{} decay linearly to 1e-4 of it", list(&linear)));
    }
    notes.join("; ")
}
