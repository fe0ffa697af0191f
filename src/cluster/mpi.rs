//! Ranks over MPI (rsmpi): one rank per process, started by `mpirun`.

use std::sync::{Mutex, MutexGuard, Once};

use mpi::collective::SystemOperation;
use mpi::datatype::PartitionMut;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use mpi::{Count, Threading};

use super::Cluster;
use crate::error::Error;

/// The ranks of an MPI job (the world communicator), one per process.
///
/// Start the program under `mpirun -np K`; each process calls
/// [`Mpi::init`] once. Every collective must be called by every rank, in
/// the same order, with buffers of the same length for the sums and maxima
/// (MPI itself ends the job on a mismatch it detects; one it cannot detect,
/// such as a rank that never arrives, hangs the job, which is why
/// [`abort`](Cluster::abort) and the panic hook exist).
///
/// **A failing rank ends the whole job.** [`Cluster::abort`] and any panic
/// (the hook [`Mpi::init`] installs) call `MPI_Abort`, so `mpirun` exits
/// non-zero within about a second instead of leaving the other ranks
/// waiting in a collective, or this one in `MPI_Finalize`, for ever.
///
/// Needs the crate's `mpi` feature and, to build it, an MPI library and
/// libclang (for the bindings). On Debian or Ubuntu:
/// `apt-get install -y --no-install-recommends libopenmpi-dev openmpi-bin libclang1-14 libclang-common-14-dev`
/// (or MPICH: `libmpich-dev mpich`); `bash scripts/mpi-deps` checks for
/// them and installs what is missing. Without them the build stops in the
/// `mpi-sys` build script, with "Reason #1" to "#5" naming no package.
///
/// ```no_run
/// use wildsgd::cluster::{Cluster, Mpi};
///
/// let mpi = Mpi::init()?;
/// let mut v = vec![mpi.rank() as f32; 4];
/// mpi.sum_f32(&mut v)?;
/// # Ok::<(), wildsgd::Error>(())
/// ```
pub struct Mpi {
    rank: usize,
    size: usize,
    transport: String,
    /// Scratch for the collectives. The lock also serialises every call
    /// into MPI from this handle, which is what the threading level asked
    /// for in [`Mpi::init`] requires at the least.
    scratch: Mutex<Scratch>,
    /// Dropped last (fields drop in order): `MPI_Finalize`, after which no
    /// collective may run. `Universe` is `Send + Sync`, unlike rsmpi's
    /// communicators, which hold a raw `MPI_Comm`; so no communicator is
    /// stored and each call takes the world communicator afresh (it is a
    /// constant handle: nothing to create or free).
    _universe: Universe,
}

/// Buffers kept between collectives so an exchange allocates nothing once
/// warm: rsmpi has no in-place all-reduce, so results land here and are
/// copied back (the copy is small next to the transfer).
#[derive(Default)]
struct Scratch {
    f32s: Vec<f32>,
    f64s: Vec<f64>,
    u64s: Vec<u64>,
    counts: Vec<Count>,
    displs: Vec<Count>,
}

impl std::fmt::Debug for Mpi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mpi")
            .field("rank", &self.rank)
            .field("size", &self.size)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

/// Installs the panic hook at most once per process, even if a failed
/// [`Mpi::init`] is retried.
static PANIC_HOOK: Once = Once::new();

impl Mpi {
    /// Initialises MPI (once per process) and joins the world communicator.
    ///
    /// Also installs a panic hook: after the previous hook has printed the
    /// panic, it prints `wildsgd: rank R of K: panicked` and calls
    /// `MPI_Abort`, so a panicking rank ends the job rather than hanging
    /// it. Any panic of the process counts, even one that would have been
    /// caught: under MPI a rank cannot drop out and let the others go on.
    ///
    /// Dropping the handle finalises MPI; a process cannot initialise it
    /// again.
    ///
    /// # Errors
    /// [`Error::Cluster`] if MPI was already initialised in this process
    /// (or finalised), or if the library cannot let more than the main
    /// thread call it.
    pub fn init() -> Result<Mpi, Error> {
        // `Multiple` lets the panic hook abort from any thread while
        // another sits in a collective; `Serialized` is enough for the
        // collectives themselves, which the scratch lock serialises.
        let Some((universe, threading)) = mpi::initialize_with_threading(Threading::Multiple) else {
            return Err(Error::Cluster {
                rank: 0,
                size: 1,
                what: "MPI was already initialised in this process (Mpi::init may be called once)".into(),
            });
        };
        let world = universe.world();
        // A rank and a size are never negative.
        let rank = usize::try_from(world.rank()).unwrap_or(0);
        let size = usize::try_from(world.size()).unwrap_or(1);
        if threading < Threading::Serialized {
            return Err(Error::Cluster {
                rank,
                size,
                what: format!("the MPI library offers only {threading:?} threading; wildsgd needs Serialized"),
            });
        }
        let version = mpi::environment::library_version().unwrap_or_else(|_| "unknown version".into());
        PANIC_HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                previous(info);
                // After finalisation there is no job left to end, and
                // MPI_Abort may no longer be called.
                if mpi::environment::is_initialized() && !mpi::environment::is_finalized() {
                    say(rank, size, "panicked");
                    SimpleCommunicator::world().abort(101);
                }
            }));
        });
        Ok(Mpi {
            rank,
            size,
            transport: format!("mpi: {}", short_version(&version)),
            scratch: Mutex::new(Scratch::default()),
            _universe: universe,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Scratch> {
        // A panic while holding the lock has aborted the job already (the
        // hook), so a poisoned lock is never seen in practice; the scratch
        // buffers hold nothing that must survive a call anyway.
        self.scratch.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// MPI counts are C ints: a longer buffer is refused before it reaches
    /// the library (rsmpi would panic). The sums' lengths are the same on
    /// every rank, so every rank refuses together and none is left waiting.
    fn count(&self, what: &'static str, n: usize) -> Result<Count, Error> {
        Count::try_from(n).map_err(|_| Error::InvalidParameter {
            name: what,
            reason: format!("{n} values is more than MPI can send in one call ({})", Count::MAX),
        })
    }
}

/// Prints `wildsgd: rank R of K: what` on stderr in one write: `mpirun`
/// relays each write as it comes, and would interleave the pieces
/// `eprintln!` writes with its own abort banner.
fn say(rank: usize, size: usize, what: &str) {
    use std::io::Write;
    let line = format!("wildsgd: rank {rank} of {size}: {what}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// The library's name and version from its version string: Open MPI's is
/// one long line ("Open MPI v4.1.4, package: ..."), MPICH's several
/// ("MPICH Version:\t4.0.2\n...").
fn short_version(full: &str) -> String {
    let first = full.lines().next().unwrap_or("").split(',').next().unwrap_or("");
    let short = first.split_whitespace().collect::<Vec<_>>().join(" ");
    if short.is_empty() {
        "unknown version".into()
    } else {
        short
    }
}

impl Cluster for Mpi {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn sum_f32(&self, buf: &mut [f32]) -> Result<(), Error> {
        self.count("sum_f32 buffer", buf.len())?;
        let mut s = self.lock();
        s.f32s.resize(buf.len(), 0.0);
        SimpleCommunicator::world().all_reduce_into(&*buf, &mut s.f32s[..], SystemOperation::sum());
        buf.copy_from_slice(&s.f32s);
        Ok(())
    }

    fn sum_f64(&self, buf: &mut [f64]) -> Result<(), Error> {
        self.count("sum_f64 buffer", buf.len())?;
        let mut s = self.lock();
        s.f64s.resize(buf.len(), 0.0);
        SimpleCommunicator::world().all_reduce_into(&*buf, &mut s.f64s[..], SystemOperation::sum());
        buf.copy_from_slice(&s.f64s);
        Ok(())
    }

    fn max_u64(&self, buf: &mut [u64]) -> Result<(), Error> {
        self.count("max_u64 buffer", buf.len())?;
        let mut s = self.lock();
        s.u64s.resize(buf.len(), 0);
        SimpleCommunicator::world().all_reduce_into(&*buf, &mut s.u64s[..], SystemOperation::max());
        buf.copy_from_slice(&s.u64s);
        Ok(())
    }

    fn gather_u32(&self, mine: &[u32], all: &mut Vec<u32>, counts: &mut Vec<usize>) -> Result<(), Error> {
        let world = SimpleCommunicator::world();
        let mut guard = self.lock();
        let s = &mut *guard;
        // The lengths go first, as u64 so that none is cut short: every
        // rank then sees every length, and refuses (or proceeds) together.
        s.u64s.resize(self.size, 0);
        world.all_gather_into(&(mine.len() as u64), &mut s.u64s[..]);
        let total: u64 = s.u64s.iter().sum();
        let total = self.count("gather_u32 total", usize::try_from(total).unwrap_or(usize::MAX))?;
        s.counts.clear();
        s.displs.clear();
        let mut at: Count = 0;
        for &n in &s.u64s {
            // Each length is at most the total, which fits.
            let n = n as Count;
            s.counts.push(n);
            s.displs.push(at);
            at += n;
        }
        all.clear();
        all.resize(total as usize, 0);
        let mut parts = PartitionMut::new(&mut all[..], &s.counts[..], &s.displs[..]);
        world.all_gather_varcount_into(mine, &mut parts);
        counts.clear();
        counts.extend(s.u64s.iter().map(|&n| n as usize));
        Ok(())
    }

    fn abort(&self, why: &str) {
        say(self.rank, self.size, why);
        SimpleCommunicator::world().abort(1)
    }

    fn transport(&self) -> String {
        self.transport.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::short_version;

    #[test]
    fn version_strings_shorten_to_name_and_version() {
        assert_eq!(
            short_version("Open MPI v4.1.4, package: Debian OpenMPI, ident: 4.1.4, repo rev: v4.1.4, May 26, 2022\0"),
            "Open MPI v4.1.4"
        );
        assert_eq!(
            short_version("MPICH Version:\t4.0.2\nMPICH Release date:\tThu Apr  7 12:34:45 CDT 2022"),
            "MPICH Version: 4.0.2"
        );
        assert_eq!(short_version(""), "unknown version");
    }
}
