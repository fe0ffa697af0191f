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

use crate::args::TrainArgs;
pub(crate) use crate::run::Kind;
use crate::run::{param, Defaults};

/// Helpers line and word2vec share (not a kind).
mod sgns;

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
    ("update", |a| a.update.is_some()),
    ("rank", |a| a.rank.is_some()),
    ("format", |a| a.format.is_some()),
    ("dim", |a| a.dim.is_some()),
    ("negatives", |a| a.negatives.is_some()),
    ("window", |a| a.window.is_some()),
    ("min-count", |a| a.min_count.is_some()),
    ("subsample", |a| a.subsample.is_some()),
    ("stream", |a| a.stream),
    ("hash-bits", |a| a.hash_bits.is_some()),
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
            let Some(v) = value(&k.defaults(name, crate::run::DEFAULT_UPDATE)) else {
                continue;
            };
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
        .flat_map(|k| {
            k.names()
                .iter()
                .map(move |&(n, _)| (n, k.defaults(n, crate::run::DEFAULT_UPDATE)))
        })
        .filter(|(_, d)| matches!(d.schedule, wildsgd::Schedule::Linear { .. }))
        .map(|(n, _)| n)
        .collect();
    if !linear.is_empty() {
        notes.push(format!("{} decay linearly to 1e-4 of it", list(&linear)));
    }
    notes.join("; ")
}

/// The command line, each kind's defaults (from the registry) in the help
/// of the flags they stand in for.
pub(crate) fn command() -> clap::Command {
    use clap::CommandFactory;
    use wildsgd::Schedule;
    let num = |v: f32| {
        if v != 0.0 && v.abs() < 1e-3 {
            format!("{v:e}")
        } else {
            v.to_string()
        }
    };
    let rate = move |s: &Schedule| match *s {
        Schedule::Constant(lr) => num(lr),
        Schedule::InverseTime { initial, .. }
        | Schedule::EpochDecay { initial, .. }
        | Schedule::Linear { initial, .. } => num(initial),
    };
    let decay = move |s: &Schedule| match *s {
        Schedule::InverseTime { decay, .. } | Schedule::EpochDecay { decay, .. } => Some(num(decay)),
        _ => None,
    };
    let epochs = defaults_help(|d| Some(d.epochs.to_string()));
    let lr = format!("{} ({})", defaults_help(|d| Some(rate(&d.schedule))), lr_notes());
    let lr_decay = defaults_help(|d| decay(&d.schedule));
    let l2 = defaults_help(|d| {
        if d.l2_per_row {
            Some("1/rows (the training rows, as scikit-learn's LogisticRegression() has it)".into())
        } else {
            (d.l2 > 0.0).then(|| num(d.l2))
        }
    });
    let average = defaults_help(|d| Some(d.average.to_string()));
    crate::args::Cli::command().mut_subcommand("train", |c| {
        c.mut_arg("model", |a| a.value_parser(value_parser()))
            .mut_arg("epochs", |a| a.help(format!("Passes over the training data {epochs}")))
            .mut_arg("lr", |a| a.help(format!("Initial learning rate {lr}")))
            .mut_arg("lr_decay", |a| {
                a.help(format!(
                    "The schedule's decay, per epoch for epoch-decay, per sample for inverse-time {lr_decay}"
                ))
            })
            .mut_arg("l2", |a| a.help(format!("L2 regularisation strength {l2}")))
            .mut_arg("average", |a| {
                a.help(format!(
                    "Return the average of the last epoch's iterates (true/false) {average}"
                ))
            })
    })
}
