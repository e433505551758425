//! One collection, step by step (see the protocol in [`super`]), and how a program's
//! threads ask for one.
//!
//! Cycles run on the collector's own thread, never on the thread that asks: that thread
//! is a mutator like any other, stopped and scanned with the rest (a goroutine parks and
//! is scanned from its saved stack pointer; a foreign thread blocks and is stopped by the
//! signal). Running the cycle on the asking thread would put the collector's own frames
//! and registers, full of heap addresses (span starts, the arena base), among the roots
//! and keep garbage alive. The collector thread is not registered: it is never stopped
//! and its stack is never scanned.

use super::finalize::{self, Found, SPECIALS};
use super::mark::{self, Jobs};
use super::pacer::PACER;
use super::stats::{self, CycleFigures};
use crate::mem::heap;
use crate::sched::Note;
use crate::time::nanotime;
use std::sync::Once;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Why a cycle runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Reason {
    /// The heap reached its goal (the allocator's trigger), or gcstress.
    Heap,
    /// `gort_gc`, `gort_free_os_memory` (counted in `num_forced_gc`).
    Forced,
    /// The heap is past the memory limit, or the OS refused memory: collect and sweep
    /// everything, then the allocation decides whether it fits.
    Limit,
}

/// Completed cycles (`num_gc`). Written by the collector thread; requesters sleep on it
/// (a futex).
pub(crate) static NUM_GC: AtomicU32 = AtomicU32::new(0);
/// Cycles started: a cycle that starts after a request sees everything the requester
/// did before it (the world stops after the increment).
static STARTED: AtomicU32 = AtomicU32::new(0);
/// The highest cycle number somebody waits for.
static WANTED: AtomicU32 = AtomicU32::new(0);
/// Forced requests not yet served (each makes the next cycle count as forced).
static FORCED_PENDING: AtomicU64 = AtomicU64::new(0);
/// Wakes the collector thread.
static WAKE: Note = Note::new();
static THREAD: Once = Once::new();

/// Asks for a full cycle that starts after this call and waits for it: marking and the
/// restart of the world (sweeping follows lazily; `Forced` and `Limit` then finish it on
/// the caller's thread, as Go's `runtime.GC` does).
pub(crate) fn collect(reason: Reason) {
    THREAD.call_once(|| {
        mark::ensure_workers(crate::sched::gomaxprocs());
        let _counted = crate::sched::proc::helper_thread_starting(); // failure is fatal
        std::thread::Builder::new()
            .name("gort-gc".into())
            .spawn(collector_loop)
            .unwrap_or_else(|_| crate::fatal::fatal("cannot start the collector thread"));
    });
    let target = STARTED.load(Ordering::SeqCst).wrapping_add(1);
    if reason == Reason::Forced {
        FORCED_PENDING.fetch_add(1, Ordering::SeqCst);
    }
    WANTED.fetch_max(target, Ordering::SeqCst);
    WAKE.wakeup();
    // Wait in a blocking region: the goroutine keeps its thread (a C caller reads errno
    // where it called from), its P is free for others and for the world stop, and the
    // thread is stopped by the signal like any blocked thread.
    let entered = crate::sched::proc::blocking_enter_if_outside();
    loop {
        let done = NUM_GC.load(Ordering::Acquire);
        if (done.wrapping_sub(target) as i32) >= 0 {
            break;
        }
        crate::sched::world::parked(|| crate::sched::note::futex_wait(&NUM_GC, done, None));
    }
    if entered {
        crate::sched::proc::blocking_exit();
    }
    if reason != Reason::Heap {
        while heap::sweep_one() {}
    }
}

fn collector_loop() {
    let mut jobs = Jobs::new();
    loop {
        while (WANTED.load(Ordering::SeqCst).wrapping_sub(STARTED.load(Ordering::SeqCst)) as i32) <= 0 {
            WAKE.sleep(None);
        }
        let n = STARTED.fetch_add(1, Ordering::SeqCst).wrapping_add(1);
        let forced = FORCED_PENDING.swap(0, Ordering::SeqCst) > 0;
        let figures = cycle(&mut jobs, n, forced);
        // Recorded (and traced) before the requesters wake: memstats read right after
        // gort_gc returns include this cycle, and a program that exits then has its line.
        stats::record_cycle(figures);
        // Stacks idle in the pools are trimmed at the collector's pace too (Go frees
        // unused stack spans at each cycle): the scavenger releases what stayed idle.
        crate::mem::scavenge::wake();
        NUM_GC.store(n, Ordering::Release);
        // SAFETY: wakes every requester sleeping on NUM_GC.
        unsafe {
            libc::syscall(libc::SYS_futex, NUM_GC.as_ptr(), libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG, i32::MAX);
        }
    }
}

/// One cycle, on the collector thread: returns its figures.
fn cycle(jobs: &mut Jobs, n: u32, forced: bool) -> CycleFigures {
    // Sweep what the last cycle left, with the world running (mark bits must be clean).
    while heap::sweep_one() {}

    // Locks of everything the stopped world's threads could be inside of, taken while
    // they still run (a thread suspended holding one would otherwise deadlock us).
    let mut specials = SPECIALS.lock();
    if specials.is_none() {
        *specials = Some(finalize::Specials { finalizers: Default::default(), cleanups: Default::default() });
    }
    let sp = specials.as_mut().expect("set above");
    let mut found = Found::reserve(sp);
    let queue = finalize::QUEUE.lock();
    let heap_guard = heap::lock_for_gc();

    let t_begin = nanotime();
    let world = crate::sched::world::stop_world_from_collector();
    let t_stopped = nanotime();
    let heap_before = heap::stats().heap_alloc;
    heap::prepare_for_mark();

    // Roots.
    jobs.clear();
    let mut stack_bytes = 0u64;
    world.for_each_stack_root(&mut |p, n| {
        stack_bytes += n as u64;
        jobs.push(p as usize, n);
    });
    let mut root_bytes = 0u64;
    // SAFETY: the world is stopped.
    unsafe {
        super::roots::for_each_root(&mut |p, n| {
            root_bytes += n as u64;
            jobs.push(p as usize, n);
        })
    };
    let word = std::mem::size_of::<usize>();
    for f in sp.finalizers.values() {
        jobs.push(&f.arg as *const usize as usize, word);
    }
    for cs in sp.cleanups.values() {
        for c in cs {
            jobs.push(&c.arg as *const usize as usize, word);
        }
    }
    let (a, b) = queue.as_slices();
    for s in [a, b] {
        if !s.is_empty() {
            jobs.push(s.as_ptr() as usize, std::mem::size_of_val(s));
        }
    }

    // Mark: roots, and what finalizable objects point to.
    let first = mark::mark(jobs, |w| {
        for &base in sp.finalizers.keys() {
            mark::grey_referents(base, w);
        }
    });
    // Resurrect unreachable finalizable objects for their finalizers.
    for &base in sp.finalizers.keys() {
        if !heap::find_object(base).is_some_and(|o| o.is_marked()) {
            found.finalize.push(base); // within the reserved capacity
        }
    }
    let mut marked = first.marked_bytes;
    if !found.finalize.is_empty() {
        jobs.clear();
        let again = mark::mark(jobs, |w| {
            for &base in &found.finalize {
                mark::grey_object(base, w);
            }
        });
        marked += again.marked_bytes;
    }
    for &base in sp.cleanups.keys() {
        if !heap::find_object(base).is_some_and(|o| o.is_marked()) {
            found.cleanup.push(base);
        }
    }
    heap::finish_mark(marked as u64);
    let t_marked = nanotime();

    // The next goal, from what is live now.
    PACER.last_live.store(marked as u64, Ordering::Relaxed);
    PACER.last_roots.store(stack_bytes + root_bytes, Ordering::Relaxed);
    stats::STACK_INUSE.store(stack_bytes, Ordering::Relaxed);
    let goal = PACER.recompute(stats::non_heap_sys());
    heap::set_trigger(goal);

    let restart_ns = world.restart();
    let t_end = nanotime();
    drop(heap_guard);
    drop(queue);
    finalize::queue_found(sp, found);
    drop(specials);

    CycleFigures {
        num: n,
        forced,
        start_ns: t_begin,
        end_ns: t_end,
        stop_ns: (t_stopped - t_begin) as u64,
        mark_ns: (t_marked - t_stopped) as u64,
        restart_ns,
        heap_before,
        live: marked as u64,
        goal,
        stacks: stack_bytes,
        roots: root_bytes,
        workers: mark::workers(),
    }
}
