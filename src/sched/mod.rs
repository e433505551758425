//! The scheduler: goroutines (G) multiplexed onto OS threads (M) through processors (P).
//!
//! # Concepts
//! - **G**, a goroutine: a stack, a saved stack pointer and a status ([`g`]).
//! - **M**, an OS thread. Each M has a scheduler context, *g0*, running on the thread's own
//!   stack; goroutines switch to g0 to block, yield or exit, and g0 picks the next one
//!   ([`m`]).
//! - **P**, a processor: the right to run Go code. There are `gomaxprocs` of them; an M
//!   must hold one to run goroutines. A P owns a local run queue (a Chase-Lev deque plus a
//!   `runnext` slot), a timer heap, and caches of free Gs and goroutine ids ([`p`]).
//!
//! # A goroutine's life
//! 1. `gort_go` takes a dead G (with its stack) from the P's free list, or makes one, and
//!    puts it in `runnext`: it runs next on this P, inheriting the time slice, while the
//!    previous `runnext` moves to the queue's newest end. If a P is idle and nobody is spinning,
//!    `wakep` starts an M spinning so the new work can be stolen (see below).
//! 2. An M's loop (`proc::find_runnable`) fires due timers, then takes work from: the
//!    global queue one time in 61 (fairness), `runnext`, the local queue (newest first, so
//!    fork/join trees run depth-first; the oldest on yields and one round in 61: see
//!    `P::runq_get`), the global queue, and finally other Ps by stealing the older half of
//!    their queues (and firing their overdue timers).
//! 3. `execute` switches from g0 to the G. The G runs C code until it calls the runtime.
//! 4. To block, the G calls [`park`]: it records the action, switches to g0, and g0 marks
//!    it WAITING and runs the park callback (which typically releases the lock of the
//!    wait queue the G just joined). Whoever wakes it calls [`ready`], which queues it on
//!    the waker's P (`runnext`) or on the global queue.
//! 5. When its function returns (or it calls `gort_goexit`), its defers run, it switches
//!    to g0 for the last time, and g0 puts it on the free list, stack included.
//!
//! # Invariants
//! - A P is owned by exactly one party, recorded in its status word (`p::pstate`), whose
//!   upper bits count acquisitions so a stale owner's CAS fails. Runtime code touches a
//!   P's queue only while the P is RUNNING under its M; user code runs with the P in
//!   USER, which sysmon may take.
//! - Every goroutine→g0 switch happens with the P RUNNING (the G called [`proc::enter`]).
//! - A G is in at most one queue; only `ready` moves it from WAITING to RUNNABLE (a CAS,
//!   so a double wake-up is caught as a fatal error instead of corrupting a queue).
//! - Gs and Ps are never freed, so pointers to them held by timers and wait queues may be
//!   stale but never dangle; sequence numbers detect staleness.
//!
//! # Spinning Ms and wake-ups
//! Go's protocol: at most one M is woken for new work (`nmspinning` 0→1 CAS in `wakep`);
//! a spinning M that finds work stops spinning and, if it was the last spinner, wakes the
//! next. A spinning M that finds nothing drops its P, decrements `nmspinning`, and then
//! re-checks every queue: whoever queued work meanwhile saw a spinner and woke nobody, so
//! the re-check is what rules out a lost wake-up. Idle Ms sleep on a futex: an idle
//! runtime burns no CPU. One idle M, the *idle waiter*, sleeps only until the earliest
//! timer; adding an earlier timer kicks it.
//!
//! # Blocking and preemption without signals
//! `gort_blocking_enter` marks the P SYSCALL; sysmon hands it to another M when other work
//! could use it. A goroutine that stays in user code for 10 ms without a scheduling event
//! while other work waits for a P (a queued goroutine, a timer on its P) has its P taken
//! the same way: the CPU-bound C loop keeps its thread, the other goroutines get a new
//! one. A goroutine running alone keeps its P. On its next runtime call the goroutine finds its P gone
//! (its CAS fails) and picks up an idle P or queues itself, as Go's `exitsyscall` does.
//!
//! Goroutines that keep readying each other into `runnext` never stay in user code that
//! long, so a time slice is measured differently: a `runnext` pick inherits the slice,
//! every other pick starts one (`P::slice_tick`), and sysmon flags a slice that has
//! lasted 10 ms while other work waits on the P; the owner's next pick then sends the
//! `runnext` G to the global queue instead of running it (`proc::local_next`).
//!
//! # Stop-the-world
//! `gort_gomaxprocs` stops every P (idle ones from the list, USER/SYSCALL ones by CAS,
//! RUNNING ones at their next scheduling point), resizes, and restarts. Ps are never
//! freed; Ps beyond the new count are drained into the global queue and P0's timers.
//!
//! # Alternatives rejected
//! - Direct G-to-G switches (skipping g0): one switch fewer per yield, but the parking G's
//!   "after I have switched out" work would have to run on the next G's stack.
//! - A global run queue only: one lock for every spawn and wake-up.
//! - One thread per P with no handoff: a blocked C call would stall its whole P.

pub(crate) mod asan;
pub(crate) mod g;
pub(crate) mod m;
pub(crate) mod membarrier;
pub(crate) mod note;
pub(crate) mod p;
pub(crate) mod pin;
pub(crate) mod proc;
pub(crate) mod protocol;
pub(crate) mod rtlock;
pub(crate) mod signals;
pub(crate) mod sysmon;
pub(crate) mod tls;
pub(crate) mod tsan;
pub(crate) mod waiter;
pub(crate) mod world;

#[cfg(all(test, not(loom)))]
mod stress_tests;

pub(crate) use g::{Entry, G};
pub(crate) use note::Note;
pub(crate) use proc::{
    MAX_PROCS, SCHED, current_g, gomaxprocs, gosched, in_goroutine, park, park_sleep, ready, spawn, spawn_from,
    spawn_main, start,
};
pub(crate) use waiter::{NO_DEADLINE, Waiter, Woken};

/// `nanotime()` when the scheduler started.
pub(crate) fn start_time() -> i64 {
    proc::SCHED.start_time.load(std::sync::atomic::Ordering::Relaxed)
}

/// The running goroutine's id, 0 outside goroutines.
pub(crate) fn goid() -> i64 {
    let g = current_g();
    if g.is_null() {
        0
    } else {
        // SAFETY: Gs are never freed.
        unsafe { &*g }.id()
    }
}

/// Number of live goroutines.
pub(crate) fn num_goroutine() -> i64 {
    proc::num_goroutine()
}

/// `gort_goexit`: ends the calling goroutine after running all its deferred calls.
pub(crate) fn goexit() -> ! {
    if !in_goroutine() {
        crate::fatal::fatal("gort_goexit called outside a goroutine");
    }
    proc::goexit_final()
}
