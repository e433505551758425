//! The scavenger: gives memory the runtime holds for reuse, but has not used for a while,
//! back to the OS.
//!
//! # Why
//! A burst of a million goroutines leaves a million stacks in the pools when it ends,
//! every touched page still resident: gigabytes that the program will likely never need
//! again. Go frees dead goroutines' stacks at GC and its background scavenger
//! (`mgcscavenge.go`) returns free heap pages with `MADV_DONTNEED`. We do the same
//! without a GC: whatever sits idle in a pool long enough is released.
//!
//! # Sources of idle memory
//! The scavenger knows nothing about stacks (or, later, heap spans). It walks a fixed list
//! of [`IdleSource`]s, in order, once per round:
//! - `sched::sysmon::STACK_CACHES`: the per-P stack caches. It moves what idle Ps hold to
//!   the global pool (an idle P is owned by whoever holds the scheduler lock) and asks
//!   busy Ps to do it themselves at their next scheduling round. It releases nothing
//!   itself: it only makes stacks visible to the next source.
//! - `mem::stack::STACK_POOL`: the global stack pool. Stacks that nobody took from the
//!   pool during a whole round are released (`MADV_DONTNEED` on their usable part; the
//!   guard and the mapping stay), and whole chunks whose every stack is idle and released
//!   are unmapped once more than a bounded number of released stacks is kept.
//!
//! - `mem::heap::HEAP_IDLE`: the GC heap's page heap. Free page runs freed before the
//!   previous round began are released with `MADV_DONTNEED` (whole pages; the arena
//!   mapping stays); `gort_free_os_memory` releases every free page at once.
//!
//! A source decides what "idle" means for itself; the usual rule is "not touched during
//! the last round", which needs only a low-water mark, no timestamps on the hot paths.
//!
//! # When
//! A background thread (`gort-scavenge`, started the first time a source calls [`wake`])
//! runs a round every [`ROUND_NS`] while some
//! source says it still holds something to release ([`IdleSource::pending`]), and sleeps
//! otherwise until a source calls [`wake`] (the stack pool does when stacks arrive in it,
//! which is its slow path: per-P caches absorb the common case). So an idle program costs
//! nothing, and memory of a burst is back with the OS one to two rounds after the burst
//! ends, with no call from the program. A thread rather than sysmon: releasing a million
//! stacks is a million `madvise` calls (about a second), and sysmon must keep retaking Ps
//! and nudging timers meanwhile.
//!
//! # Rules every source follows
//! - Never split a mapping: `MADV_DONTNEED` on whole pages, `munmap` only of whole
//!   mappings, no `mprotect` (each split costs a VMA against `vm.max_map_count`, the limit
//!   Boehm's and mimalloc's unmapping ran into). The kernel may merge neighbouring
//!   mappings of ours into one VMA; unmapping one of them then leaves two, which is never
//!   more VMAs than mappings alive.
//! - Never hold a lock the hot paths need while making system calls: take the idle items
//!   out under the lock, release them outside it, put them back.
//! - Guard regions survive: `MADV_DONTNEED` is applied to usable memory only.
//!
//! Rejected: releasing at `stackfree` (a syscall per goroutine exit; the next spawn would
//! fault the pages in again), a timestamp per pooled stack (a clock read on the hot path
//! for what a low-water mark tells for free), `MADV_FREE` (pages stay counted in RSS until
//! the kernel is under pressure, so a program cannot see its memory come back, and a
//! container limit still counts it).

use crate::sched::note::Note;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A round every half second while something is pending: stacks idle for a whole round
/// (0.5-1 s) are released.
pub(crate) const ROUND_NS: i64 = 500_000_000;

/// Something that holds memory for reuse and can give back what sits idle.
pub(crate) trait IdleSource: Sync {
    /// Releases what has been idle since the previous round. Called from the scavenger
    /// thread only, never concurrently with itself.
    fn scavenge(&self) -> Released;
    /// True while a further round could still release something: the scavenger keeps
    /// ticking until every source says no, then sleeps until [`wake`].
    fn pending(&self) -> bool;
}

/// What one round of one source did.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub(crate) struct Released {
    /// Bytes of address range whose pages were given back (at most that much was
    /// resident; the address space is kept).
    pub released: usize,
    /// Bytes of address space unmapped.
    pub unmapped: usize,
}

impl std::ops::AddAssign for Released {
    fn add_assign(&mut self, o: Released) {
        self.released += o.released;
        self.unmapped += o.unmapped;
    }
}

/// The sources, in the order a round visits them (a source may feed the next one).
fn sources() -> [&'static dyn IdleSource; 3] {
    [&crate::sched::sysmon::STACK_CACHES, &crate::mem::stack::STACK_POOL, &crate::mem::heap::HEAP_IDLE]
}

/// The scavenger sleeps on this; [`wake`] sets it.
static NOTE: Note = Note::new();
/// True while the scavenger sleeps with no deadline (nothing pending): only then does a
/// source's [`wake`] need to signal it.
static PARKED: AtomicBool = AtomicBool::new(false);
/// Totals since start (for tests and debugging).
static RELEASED_TOTAL: AtomicU64 = AtomicU64::new(0);
static UNMAPPED_TOTAL: AtomicU64 = AtomicU64::new(0);
static ROUNDS: AtomicU64 = AtomicU64::new(0);

/// Whether the scavenger thread has been started.
static STARTED: AtomicBool = AtomicBool::new(false);

/// Starts the scavenger thread, the first time a source has something for it: a program
/// that never frees much never has the thread (and valgrind runs are not slowed by it).
/// If the thread cannot be created (out of memory), the next wake-up tries again:
/// scavenging is best effort.
fn start() {
    extern "C" fn body(_: *mut libc::c_void) -> *mut libc::c_void {
        run()
    }
    if STARTED.swap(true, Ordering::AcqRel) {
        return;
    }
    let counted = crate::sched::proc::helper_thread_starting();
    if crate::sched::proc::spawn_thread("gort-scavenge", 256 * 1024, body, std::ptr::null_mut()).is_err() {
        counted.cancel();
        STARTED.store(false, Ordering::Release);
    }
}

/// Tells the scavenger that a source has new idle memory. Cheap when it is already
/// ticking (two loads).
#[inline]
pub(crate) fn wake() {
    if !STARTED.load(Ordering::Relaxed) {
        start(); // it looks at the sources when it starts
        return;
    }
    if PARKED.load(Ordering::SeqCst) && PARKED.swap(false, Ordering::SeqCst) {
        NOTE.wakeup();
    }
}

fn pending() -> bool {
    sources().iter().any(|s| s.pending())
}

fn run() -> ! {
    loop {
        if !pending() {
            // Dekker with `wake`: a source publishes its memory under its own lock, then
            // reads PARKED; we set PARKED, then look at the sources again. One of the two
            // sees the other.
            PARKED.store(true, Ordering::SeqCst);
            if !pending() {
                NOTE.sleep(None);
            }
            PARKED.store(false, Ordering::SeqCst);
        }
        // Pace: what arrived just now gets a whole round to be reused before it counts
        // as idle.
        NOTE.sleep(Some(ROUND_NS));
        round();
    }
}

/// One round over every source. Returns what it released.
pub(crate) fn round() -> Released {
    let mut total = Released::default();
    for s in sources() {
        total += s.scavenge();
    }
    if total.unmapped > 0 {
        trim_malloc();
    }
    RELEASED_TOTAL.fetch_add(total.released as u64, Ordering::Relaxed);
    UNMAPPED_TOTAL.fetch_add(total.unmapped as u64, Ordering::Relaxed);
    ROUNDS.fetch_add(1, Ordering::Relaxed);
    total
}

/// After a source unmapped memory it also dropped its bookkeeping for it (a pool entry per
/// stack: tens of MB after a million-goroutine burst), and so did the scheduler's queues
/// on the way; glibc keeps such freed memory resident inside its arenas unless asked.
/// `malloc_trim` walks the arenas once and gives their free pages back.
fn trim_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim has no preconditions; it only takes glibc's own arena locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// `(rounds, bytes released, bytes unmapped)` since start.
#[allow(dead_code)]
pub(crate) fn totals() -> (u64, u64, u64) {
    (ROUNDS.load(Ordering::Relaxed), RELEASED_TOTAL.load(Ordering::Relaxed), UNMAPPED_TOTAL.load(Ordering::Relaxed))
}
