//! The output-path rules, checked before anything is read or trained
//! (errors exit 2):
//!
//! * an output (`--out`, `--checkpoint` when checkpoints are written,
//!   `--report`, and `--out` of `predict`) may not be an input of the same
//!   command (`--data`, `--valid`, `--model`) nor another output: the same
//!   file is the same device and inode (so hard links, symbolic links and
//!   `./x` vs `x` count), or, for a file not yet there, the same canonical
//!   folder and name;
//! * its folder must exist and be writable, and the path must be a regular
//!   file or nothing: a directory, device, FIFO or socket is refused (see
//!   [`wildsgd::output`], which also follows a symbolic link to the file it
//!   names and replaces that file atomically).
//!
//! The checkpoint `--resume` reads is also the file it writes: that is the
//! point of resuming, so it is not an input here.

use std::path::Path;

use wildsgd::output::{check_output, same_file};
use wildsgd::Error;

use crate::args::{PredictArgs, TrainArgs};

fn refuse(path: &Path, reason: String) -> Error {
    Error::Output {
        file: path.display().to_string(),
        reason,
    }
}

/// Checks `outputs` against `inputs` and each other, then each output's target.
fn check(inputs: &[(&str, &Path)], outputs: &[(&str, &Path)]) -> Result<(), Error> {
    for (i, &(flag, out)) in outputs.iter().enumerate() {
        for &(in_flag, input) in inputs {
            if same_file(out, input) {
                return Err(refuse(
                    out,
                    format!("--{flag} is the --{in_flag} file: an input is never overwritten"),
                ));
            }
        }
        for &(other_flag, other) in &outputs[..i] {
            if same_file(out, other) {
                return Err(refuse(
                    out,
                    format!("--{flag} and --{other_flag} are the same file: give each output its own path"),
                ));
            }
        }
        check_output(out)?;
    }
    Ok(())
}

/// `train`'s paths; `checkpoint` is written when `writes_checkpoints`.
pub(crate) fn check_train(a: &TrainArgs, checkpoint: Option<&Path>, writes_checkpoints: bool) -> Result<(), Error> {
    let mut inputs = vec![("data", a.data.as_path())];
    if let Some(v) = &a.valid {
        inputs.push(("valid", v));
    }
    let mut outputs = Vec::new();
    if let Some(o) = &a.out {
        outputs.push(("out", o.as_path()));
    }
    if let Some(c) = checkpoint.filter(|_| writes_checkpoints || a.resume) {
        outputs.push(("checkpoint", c));
    }
    if let Some(r) = &a.report {
        outputs.push(("report", r.as_path()));
    }
    check(&inputs, &outputs)
}

/// `predict`'s paths.
pub(crate) fn check_predict(a: &PredictArgs) -> Result<(), Error> {
    let inputs = [("model", a.model.as_path()), ("data", a.data.as_path())];
    match &a.out {
        Some(o) => check(&inputs, &[("out", o)]),
        None => Ok(()),
    }
}
