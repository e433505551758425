//! Processors (P): the right to run goroutines, with a local run queue and timers.

use super::g::{G, GPtr};
use super::protocol::runnext;
use crate::mem::stack::Stack;
use crate::time::TimerHeap;
use crossbeam_deque::{Steal, Stealer, Worker};
use crossbeam_utils::CachePadded;
use std::cell::{Cell, UnsafeCell};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicU64, Ordering};

/// P states, in the low byte of [`P::status`]; the rest of the word is an epoch bumped
/// each time an M acquires the P, so a stale owner's compare-and-swap always fails.
pub(crate) mod pstate {
    /// On the idle list (or being moved on/off it): owned by the scheduler lock.
    pub(crate) const IDLE: u64 = 0;
    /// Owned by an M that is executing runtime code (scheduler, or a runtime call from a
    /// goroutine). Nobody else touches the P.
    pub(crate) const RUNNING: u64 = 1;
    /// Owned by an M whose goroutine is executing user code. sysmon may retake it after
    /// ~10 ms without a scheduling event; the owner re-enters the runtime with a CAS to
    /// RUNNING and learns of the loss when the CAS fails.
    pub(crate) const USER: u64 = 2;
    /// Owned by an M inside `gort_blocking_enter`/`exit`: like USER, but retaken sooner.
    pub(crate) const SYSCALL: u64 = 3;
    /// Stopped for stop-the-world (`gort_gomaxprocs`): owned by the stopper.
    pub(crate) const STOPPED: u64 = 4;
    /// Beyond the current `gomaxprocs`: unused until it grows again.
    pub(crate) const DEAD: u64 = 5;
}

/// Local run queue capacity (Go's 256); beyond it, half goes to the global queue.
pub(crate) const LOCAL_RUNQ_CAP: usize = 256;

pub(crate) struct P {
    /// Index in `allp`; shown by debuggers, the runtime never reads it.
    #[allow(dead_code, reason = "for debuggers")]
    pub id: usize,
    /// `epoch << 8 | state` (see [`pstate`]). CAS by owner, sysmon and stop-the-world.
    pub status: CachePadded<AtomicU64>,
    /// Local run queue: a Chase-Lev deque (crossbeam's LIFO `Worker`). The owning M
    /// pushes and pops at the newest end; thieves, and the owner when it wants the oldest
    /// (a yield, the fairness round, an overflow), take from the oldest end through
    /// `stealer`. See [`P::runq_get`] for why the owner runs the newest first.
    runq: UnsafeCell<Worker<GPtr>>,
    pub stealer: Stealer<GPtr>,
    /// The G to run next, ahead of `runq` (a freshly spawned or readied G: it inherits the
    /// time slice, like Go's `runnext`). Owner swaps it in; thieves may CAS it out.
    pub runnext: AtomicPtr<G>,
    /// Incremented by the owner on every schedule; sysmon watches it to spot a goroutine
    /// that has held the P too long.
    pub schedtick: AtomicU64,
    /// Goroutines spawned on this P minus goroutines that ended on it (can be negative).
    /// Only the owner writes it, with a plain load and store: a global counter updated by
    /// every spawn and exit bounced its cache line between the Ps (15% of the samples of
    /// a fork/join benchmark on 2 Ps). Readers sum all Ps ([`super::proc::num_goroutine`]).
    pub ngoroutine: AtomicI64,
    /// The `schedtick` at which the current time slice began, written by the owner
    /// whenever a goroutine runs without inheriting the slice: everything but a
    /// `runnext` pick (Go's `inheritTime`). sysmon watches it to end a slice that has
    /// lasted 10 ms (`slice_over`).
    pub slice_tick: AtomicU64,
    /// Set by sysmon when the current time slice has lasted 10 ms while other work waits
    /// on this P. The owner's next local pick clears it and ends the slice instead of
    /// running `runnext` (`proc::local_next`).
    pub slice_over: AtomicBool,
    /// Incremented on every `gort_blocking_enter`.
    pub syscalltick: AtomicU64,
    pub timers: TimerHeap,
    /// Set by sysmon when this P's earliest timer is overdue, so that the next direct
    /// switch checks timers even between its periodic checks. Cleared by the owner.
    pub timer_nudge: AtomicBool,
    /// Free Gs (without stacks) and free stacks, owner only.
    pub gfree: UnsafeCell<Vec<GPtr>>,
    pub stack_cache: UnsafeCell<Vec<Stack>>,
    /// Set by the scavenger: the owner moves `stack_cache` to the global pool at its next
    /// scheduling round (`proc::flush_stack_cache`), where idle stacks get released.
    pub stack_flush: AtomicBool,
    /// Stack slots reserved in the arena for goroutines this P will spawn (a batch taken
    /// at a time; `proc::reserve_stack`). Owner only.
    pub stack_reserved: Cell<usize>,
    /// Goroutine id cache, owner only: ids in [goid_next, goid_end) are this P's to hand out.
    pub goid_next: Cell<i64>,
    pub goid_end: Cell<i64>,
    /// sysmon's private bookkeeping: the tick it last saw and when.
    pub sysmon_tick: AtomicU64,
    pub sysmon_when: AtomicI64,
    /// sysmon's private bookkeeping of `slice_tick`: the value it last saw and when.
    pub sysmon_slice_tick: AtomicU64,
    pub sysmon_slice_when: AtomicI64,
    /// The M that acquired the P last (`proc::acquirep`, before the Release store of
    /// `status` that publishes the new epoch). A taker that won its CAS on a USER word
    /// reads it to find the owner's `in_heap_cache` flag (`P::wait_heap_cache_owner`).
    pub owner_m: AtomicPtr<super::m::M>,
    /// The heap's per-P allocation cache (`mem::heap`), owner only: see [`P::heap_cache`].
    heap_cache: UnsafeCell<crate::mem::heap::Cache>,
}

// SAFETY: the non-atomic fields (`runq`, `gfree`, goid cache) are touched only by the M
// that owns the P, and ownership is transferred through `status` and the scheduler lock,
// which order the accesses.
unsafe impl Sync for P {}
// SAFETY: as above.
unsafe impl Send for P {}

/// One scheduling round in this many takes the oldest local G instead of the newest (see
/// [`P::runq_get`]).
pub(crate) const FAIRNESS_ROUND: u64 = 61;

pub(crate) const GFREE_LOCAL_MAX: usize = 64;
pub(crate) const STACK_CACHE_MAX: usize = 32;

impl P {
    pub(crate) fn new(id: usize) -> P {
        let w = Worker::new_lifo();
        let s = w.stealer();
        P {
            id,
            status: CachePadded::new(AtomicU64::new(pstate::DEAD)),
            runq: UnsafeCell::new(w),
            stealer: s,
            runnext: AtomicPtr::new(ptr::null_mut()),
            schedtick: AtomicU64::new(0),
            ngoroutine: AtomicI64::new(0),
            slice_tick: AtomicU64::new(0),
            slice_over: AtomicBool::new(false),
            syscalltick: AtomicU64::new(0),
            timers: TimerHeap::new(),
            timer_nudge: AtomicBool::new(false),
            gfree: UnsafeCell::new(Vec::new()),
            stack_cache: UnsafeCell::new(Vec::new()),
            stack_flush: AtomicBool::new(false),
            stack_reserved: Cell::new(0),
            goid_next: Cell::new(0),
            goid_end: Cell::new(0),
            sysmon_tick: AtomicU64::new(0),
            sysmon_when: AtomicI64::new(0),
            sysmon_slice_tick: AtomicU64::new(0),
            sysmon_slice_when: AtomicI64::new(0),
            owner_m: AtomicPtr::new(ptr::null_mut()),
            heap_cache: UnsafeCell::new(crate::mem::heap::Cache::new()),
        }
    }

    /// Called by whoever has just taken this P with a CAS from the word `seen` (sysmon's
    /// retake, stop-the-world): if it was USER, the owner's goroutine may be allocating
    /// from the P's heap cache right now, protected only by its flag (see
    /// `protocol::heapcache`); wait until it is out. Must come before the P is used or
    /// handed to anyone. Nothing to do for SYSCALL (the owner never uses the cache there,
    /// and the CAS that entered SYSCALL came after its last flag clear) or when the
    /// owners use the compare-and-swap scheme (no `membarrier`).
    pub(crate) fn wait_heap_cache_owner(&self, seen: u64) {
        if seen & 0xff != pstate::USER || !super::membarrier::available() {
            return;
        }
        // SAFETY: Ms are never freed; `owner_m` was written before the Release store that
        // published the epoch of `seen`, which our CAS read.
        let Some(owner) = (unsafe { self.owner_m.load(Ordering::Relaxed).as_ref() }) else { return };
        let mut spins = 0u32;
        super::protocol::heapcache::taker_wait(&owner.in_heap_cache, super::membarrier::heavy_barrier, || {
            // An allocation is short (a slow refill takes a few locks, at worst an mmap).
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        });
    }

    /// The heap's allocation cache of this P.
    ///
    /// # Safety
    /// The caller must own the P RUNNING (or have stopped the world), and must not hold
    /// another reference from this accessor.
    #[allow(clippy::mut_from_ref)]
    #[inline]
    pub(crate) unsafe fn heap_cache(&self) -> &mut crate::mem::heap::Cache {
        // SAFETY: exclusive by the caller's ownership of the P.
        unsafe { &mut *self.heap_cache.get() }
    }

    /// Adds `d` to this P's goroutine count.
    ///
    /// # Safety
    /// The caller must own the P (RUNNING).
    #[inline]
    pub(crate) unsafe fn count_goroutines(&self, d: i64) {
        self.ngoroutine.store(self.ngoroutine.load(Ordering::Relaxed) + d, Ordering::Release);
    }

    /// Fires due timers (reads the clock only if one could be due). The owner calls it.
    #[inline]
    pub(crate) fn check_timers(&self) {
        if self.timer_nudge.load(Ordering::Relaxed) {
            self.timer_nudge.store(false, Ordering::Relaxed);
        }
        self.timers.run_if_due();
    }

    pub(crate) fn state(&self) -> u64 {
        self.status.load(Ordering::Acquire) & 0xff
    }

    /// # Safety
    /// The caller must own the P.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn runq(&self) -> &Worker<GPtr> {
        // SAFETY: shared reference to the owner end; only the owner calls this.
        unsafe { &*self.runq.get() }
    }

    /// Queues `g`. With `next`, `g` goes into `runnext` and the previous occupant to the
    /// queue's newest end (where `g` itself goes without `next`).
    ///
    /// # Safety
    /// The caller must own the P.
    pub(crate) unsafe fn runq_put(&self, g: *mut G, next: bool) {
        let g = if next {
            // Only the owner puts into `runnext`, so an empty slot is filled with a store
            // (`protocol::runnext::put`). Like a push on the local queue, that is a
            // Release store, not a StoreLoad barrier: a spinning M that misses it is
            // harmless, the G is on a P whose M is running.
            match runnext::put(&self.runnext, g) {
                None => return,
                Some(old) => old,
            }
        } else {
            g
        };
        if self.stealer.len() >= LOCAL_RUNQ_CAP {
            // SAFETY: we own the P.
            unsafe { self.runq_overflow(g) };
            return;
        }
        // SAFETY: we own the P.
        unsafe { self.runq().push(GPtr(g)) };
    }

    /// The local queue is full: move its older half, and `g`, to the global queue (Go's
    /// `runqputslow`). Bounding the local queue is what keeps fork-heavy programs close to
    /// depth-first: the P keeps working on the newest goroutines, which finish and free
    /// their stacks, while the old ones wait in the global queue; an unbounded FIFO would
    /// run them breadth-first and hold every parent's stack at once (skynet: 4 GB).
    ///
    /// # Safety
    /// The caller must own the P and must not hold the scheduler lock.
    unsafe fn runq_overflow(&self, g: *mut G) {
        let mut batch: Vec<GPtr> = Vec::with_capacity(LOCAL_RUNQ_CAP / 2 + 1);
        while batch.len() < LOCAL_RUNQ_CAP / 2 {
            match self.take_oldest() {
                Some(x) => batch.push(GPtr(x)),
                None => break,
            }
        }
        batch.push(GPtr(g));
        super::proc::globrunq_put_batch(batch);
    }

    /// Dequeues the next G: `runnext` first, then the *newest* queued G, except one round
    /// in 61 ([`FAIRNESS_ROUND`]), which takes the oldest.
    ///
    /// Newest first makes fork/join programs run depth-first: a node's children are the
    /// newest entries, so the subtree just started finishes (and frees its stacks) before
    /// the next pending one begins, and only about the tree's depth of goroutines hold a
    /// stack at once. Go's FIFO queue runs the oldest pending subtree first, close to
    /// breadth-first: a divide-and-conquer sum over 1M leaves had ~90k goroutines parked at
    /// its peak (361 MiB), and a third of its time went to faulting in fresh stacks and
    /// installing their guards; newest first took it to 110 MiB and half the time. Thieves
    /// still take the oldest entries (the biggest pending subtrees), so work spreads as
    /// in any work-stealing scheduler.
    ///
    /// Fairness: nothing can be overtaken for ever. A goroutine that yields goes behind
    /// the others (the yield path takes the oldest, `proc::local_next` with `yielding`), the
    /// fairness round serves the oldest entry regularly, and the global queue keeps its
    /// own round (`proc::global_queue_turn`). What changes from Go is only the order in
    /// which runnable goroutines that nobody yielded to are started.
    ///
    /// # Safety
    /// The caller must own the P.
    pub(crate) unsafe fn runq_get(&self) -> Option<*mut G> {
        if let Some(g) = self.take_runnext() {
            return Some(g);
        }
        // SAFETY: the caller owns the P.
        unsafe { self.runq_get_queued() }
    }

    /// [`P::runq_get`] without `runnext`: the newest queued G, or the oldest in a
    /// fairness round.
    ///
    /// # Safety
    /// The caller must own the P.
    #[inline]
    pub(crate) unsafe fn runq_get_queued(&self) -> Option<*mut G> {
        if self.schedtick.load(Ordering::Relaxed) % FAIRNESS_ROUND == FAIRNESS_ROUND / 2 {
            return self.take_oldest();
        }
        // SAFETY: we own the P.
        unsafe { self.runq().pop().map(|g| g.0) }
    }

    /// Takes `runnext`, if set. The caller must own the P.
    #[inline]
    pub(crate) fn take_runnext(&self) -> Option<*mut G> {
        // With one P there is no thief (thieves steal only from the other Ps, and
        // gomaxprocs changes only while every P is stopped, so it cannot change while
        // we hold this one RUNNING): the owner takes runnext with a store, not a CAS.
        runnext::take_owner(&self.runnext, || super::proc::gomaxprocs() == 1)
    }

    /// The oldest queued G, taken from the thieves' end (it races with them like one).
    #[inline]
    pub(crate) fn take_oldest(&self) -> Option<*mut G> {
        loop {
            match self.stealer.steal() {
                Steal::Success(g) => return Some(g.0),
                Steal::Retry => continue,
                Steal::Empty => return None,
            }
        }
    }

    /// Whether the P has no queued Gs (racy unless owned; fine for heuristics).
    pub(crate) fn runq_empty(&self) -> bool {
        self.runnext.load(Ordering::Acquire).is_null() && self.stealer.is_empty()
    }

    pub(crate) fn runq_len(&self) -> usize {
        self.stealer.len() + usize::from(!self.runnext.load(Ordering::Acquire).is_null())
    }

    /// Steals about half of this P's queue into `dst` (owned by the caller) and returns
    /// one G to run. With `take_runnext` (the thief's last round, as in Go's `stealWork`)
    /// it also takes `runnext` when the queue itself is empty, but not at once from a P
    /// whose M is running: that M has just readied the G (a channel hand-off) and usually
    /// runs it within microseconds, on the core where its data is hot. The thief first
    /// sleeps briefly, as Go's `runqgrab` does with `usleep(3)`, and takes it only if it
    /// is still there. Without the pause a two-P producer/consumer program bounced every
    /// woken G to the other P, and that P's M between a futex sleep and a wake-up: select2
    /// made 6x Go's futex calls.
    ///
    /// # Safety
    /// The caller must own `dst`.
    pub(crate) unsafe fn steal_into(&self, dst: &P, take_runnext: bool) -> Option<*mut G> {
        loop {
            // SAFETY: the caller owns dst.
            match self.stealer.steal_batch_and_pop(unsafe { dst.runq() }) {
                Steal::Success(g) => return Some(g.0),
                Steal::Retry => continue,
                Steal::Empty => break,
            }
        }
        if !take_runnext {
            return None;
        }
        runnext::steal(&self.runnext, || {
            if matches!(self.state(), pstate::RUNNING | pstate::USER) {
                // SAFETY: usleep has no preconditions; an early return (a signal) is harmless.
                unsafe { libc::usleep(3) };
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `runq_get` is `take_runnext`, then `runq_get_queued` (the split `local_next` uses
    /// to learn whether the G inherits the time slice).
    #[test]
    fn runq_get_serves_runnext_then_the_queue() {
        let p = P::new(0);
        // Never dereferenced: the queues only store and compare G pointers.
        let g = ptr::NonNull::<G>::dangling().as_ptr();
        let h = g.wrapping_byte_add(64);
        // SAFETY: this test is the only user of the P.
        unsafe {
            p.runq_put(h, false);
            p.runq_put(g, true);
            assert_eq!(p.runq_get_queued(), Some(h));
            assert_eq!(p.runq_get_queued(), None);
            assert_eq!(p.take_runnext(), Some(g));
            assert_eq!(p.take_runnext(), None);
        }
    }

    /// `runnext` is only taken in a thief's last round, and from a running P only after
    /// the pause; the queue itself is stolen from in every round.
    #[test]
    fn thieves_take_runnext_only_when_asked() {
        let victim = P::new(0);
        let thief = P::new(1);
        // Never dereferenced: the queues only store and compare G pointers.
        let g = ptr::NonNull::<G>::dangling().as_ptr();
        // SAFETY: this test is the only user of both Ps.
        unsafe { victim.runq_put(g, true) };
        // SAFETY: as above.
        assert_eq!(unsafe { victim.steal_into(&thief, false) }, None);
        assert_eq!(victim.runnext.load(Ordering::Relaxed), g);
        for state in [pstate::IDLE, pstate::USER] {
            victim.status.store(state, Ordering::Relaxed);
            if victim.runnext.load(Ordering::Relaxed).is_null() {
                // SAFETY: as above.
                unsafe { victim.runq_put(g, true) };
            }
            // SAFETY: as above.
            assert_eq!(unsafe { victim.steal_into(&thief, true) }, Some(g));
            assert!(victim.runnext.load(Ordering::Relaxed).is_null());
        }
        // The queue proper is stolen from without the flag.
        let h = g.wrapping_byte_add(64);
        // SAFETY: as above.
        unsafe {
            victim.runq_put(h, false);
            victim.runq_put(g, true);
        }
        // SAFETY: as above.
        assert_eq!(unsafe { victim.steal_into(&thief, false) }, Some(h));
        assert_eq!(victim.runnext.load(Ordering::Relaxed), g);
    }
}
