//! `wildsgd`: train, evaluate and apply the built-in models from the command
//! line: linear models (logistic, hinge, squared) and multiclass softmax on
//! LIBSVM files, matrix factorisation on ratings files, and skip-gram
//! negative-sampling embeddings of graphs (`line`) and text (`word2vec`).
//!
//! ```text
//! wildsgd train --data data/spamassassin.svm.gz --valid-fraction 0.2 --out spam.model
//! wildsgd eval --model spam.model --data data/spamassassin.svm.gz
//! wildsgd predict --model spam.model --data data/spamassassin.svm.gz --out scores.txt
//! wildsgd train --model mf --data ratings.tsv --valid-fraction 0.1 --out mf.model
//! wildsgd train --model softmax --data train.svm.gz --valid test.svm.gz --out softmax.model
//! wildsgd train --model line --data graph.metis.graph --out line.model
//! wildsgd train --model word2vec --data corpus.txt --epochs 3 --out w2v.model
//! wildsgd predict --model w2v.model --data words.txt --neighbours 8
//! ```
//!
//! This file parses and dispatches. The flags are in [`args`]; each model
//! kind is one file under [`kind`] implementing [`kind::Kind`] (its names,
//! defaults, flags, training, `eval` and `predict`), listed once in the
//! registry there; what their training shares is in [`run`] (the run's
//! settings, resuming, how a command ends) and [`train_loop`] (progress,
//! checkpoints, divergence, interrupts, `--out`, `--report`).
//!
//! Exit codes: 0 success; 2 a usage error (from clap, or an output path
//! that would destroy a file: see [`paths`]); 1 a data or training error
//! (one line on stderr); 130 or 143 when SIGINT or SIGTERM stopped training
//! (the weights were saved as asked: see [`signals`]).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::FromArgMatches;
use wildsgd::checkpoint::Checkpoint;
use wildsgd::Error;

use args::{Cli, Command, EvalArgs, PredictArgs};
use run::{with_flag_hint, Done, Failure};

#[macro_use]
mod run;
mod args;
mod distributed;
mod kind;
mod paths;
mod signals;
mod stream;
mod svm;
mod train_loop;

fn main() -> ExitCode {
    // Usage errors exit with status 2.
    let cli = Cli::from_arg_matches(&kind::command().get_matches()).unwrap_or_else(|e| e.exit());
    let limits = match &cli.command {
        Command::Train(a) => a.limits,
        Command::Eval(a) => a.limits,
        Command::Predict(a) => a.limits,
    };
    wildsgd::limits::set_memory_limit(limits.max_memory);
    let mut cluster = None;
    let result = match cli.command {
        Command::Train(a) => {
            let kind = kind::named(&a.model).expect("clap accepts the registry's names only");
            let joined = if a.distributed {
                distributed::join().map(Some).map_err(Failure::Usage)
            } else {
                Ok(None)
            };
            joined.and_then(|c| {
                cluster = c.clone();
                kind::check_flags(kind, &a)
                    .map_err(Failure::from)
                    .and_then(|()| run::train(a, kind, c))
            })
        }
        Command::Eval(a) => eval(a).map(|()| Done::Finished).map_err(Failure::from),
        Command::Predict(a) => predict(a),
    };
    // A divergence is agreed by every rank (each returns it): no abort,
    // which would kill rank 0 while it saves the last finite weights.
    let agreed = matches!(result, Err(Failure::Diverged(_)));
    let (msg, code) = match result {
        Ok(Done::Finished) => return ExitCode::SUCCESS,
        Ok(Done::Interrupted(sig)) => return ExitCode::from(u8::try_from(128 + sig).unwrap_or(1)),
        Err(Failure::Error(e)) => (with_flag_hint(&e), 1),
        Err(Failure::Usage(e)) => (e.to_string(), 2),
        Err(Failure::Diverged(m)) => (m, 1),
    };
    let msg = msg.replace('\n', " ");
    if let Some(c) = cluster.as_ref().filter(|_| !agreed) {
        // The other ranks would wait for this one in their next collective:
        // end the whole job (MPI prints the message with this rank's number
        // and exits every process).
        c.get().abort(&format!("error: {msg}"));
    }
    // Every rank returns an agreed divergence: rank 0, which saved the
    // weights, says what happened.
    if !(agreed && cluster.as_ref().is_some_and(|c| c.get().rank() != 0)) {
        eprintln!("wildsgd: error: {msg}");
    }
    ExitCode::from(code)
}

fn eval(a: EvalArgs) -> Result<(), Error> {
    let ckpt = Checkpoint::load(&a.model)?;
    let name = a.model.display().to_string();
    kind::of_checkpoint(&ckpt, &name, "evaluate")?.eval(&ckpt, &name, &a)
}

fn predict(a: PredictArgs) -> Result<Done, Failure> {
    paths::check_predict(&a)?;
    let ckpt = Checkpoint::load(&a.model)?;
    let name = a.model.display().to_string();
    let lines = kind::of_checkpoint(&ckpt, &name, "predict with")?.predict(&ckpt, &name, &a)?;
    write_predictions(a.out.as_deref(), &lines)?;
    Ok(Done::Finished)
}

/// Writes one prediction per line to `out`, or stdout (a reader that went
/// away is not an error).
fn write_predictions(out: Option<&Path>, lines: &[String]) -> Result<(), Error> {
    let mut text = String::with_capacity(lines.len() * 12);
    for l in lines {
        text += l;
        text.push('\n');
    }
    match out {
        Some(p) => {
            wildsgd::output::write_atomically(p, text.as_bytes())?;
            eprintln!("wildsgd: wrote {} predictions to {}", lines.len(), p.display());
        }
        None => {
            let mut out = std::io::stdout().lock();
            if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    return Err(Error::Io {
                        file: "<stdout>".into(),
                        source: e,
                    });
                }
            }
        }
    }
    Ok(())
}
