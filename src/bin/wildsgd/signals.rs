//! SIGINT and SIGTERM while training: the first one stops the run after the
//! samples in flight so that the weights can be saved; a second one exits at
//! once. Before training starts (and after it ends) there is nothing of the
//! run's to lose, and a signal exits at once.

#![allow(clippy::disallowed_types)] // the binary's signal state lives outside the library and its loom shim
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use wildsgd::trainer::StopFlag;
use wildsgd::Error;

/// The signal handling of one process.
pub(crate) struct Interrupts {
    stop: StopFlag,
    armed: Arc<AtomicBool>,
    received: Arc<AtomicI32>,
}

fn name(sig: i32) -> &'static str {
    match sig {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

impl Interrupts {
    /// Installs the handlers (a thread that waits for the signals).
    pub fn install() -> Result<Interrupts, Error> {
        let mut signals = Signals::new([SIGINT, SIGTERM]).map_err(|source| Error::Io {
            file: "<signal handlers>".into(),
            source,
        })?;
        let (stop, armed, received) = (
            StopFlag::new(),
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicI32::new(0)),
        );
        let (s, a, r) = (stop.clone(), armed.clone(), received.clone());
        std::thread::Builder::new()
            .name("wildsgd-signals".into())
            .spawn(move || {
                for sig in signals.forever() {
                    let first = r.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst).is_ok();
                    if first && a.load(Ordering::SeqCst) {
                        // No output here: a write to a full stderr pipe would
                        // block this thread, and a second signal would then
                        // go unanswered. Training prints what happened.
                        s.raise();
                    } else {
                        std::process::exit(128 + sig);
                    }
                }
            })
            .map_err(|source| Error::Io {
                file: "<signal thread>".into(),
                source,
            })?;
        Ok(Interrupts { stop, armed, received })
    }

    /// The flag training stops on.
    pub fn flag(&self) -> StopFlag {
        self.stop.clone()
    }

    /// From now on a first signal stops training instead of the process.
    pub fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
        if self.received.load(Ordering::SeqCst) != 0 {
            // Arrived just before arming: the process is already exiting.
            self.stop.raise();
        }
    }

    /// The signal that stopped training, if one did.
    pub fn received(&self) -> Option<(i32, &'static str)> {
        match self.received.load(Ordering::SeqCst) {
            0 => None,
            sig => Some((sig, name(sig))),
        }
    }
}
