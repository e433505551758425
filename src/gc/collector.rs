//! One collection, step by step (see the protocol in [`super`]).

use super::finalize::{self, Found, SPECIALS};
use super::mark::{self, Jobs};
use super::pacer::PACER;
use super::stats::{self, CycleFigures};
use crate::mem::heap;
use crate::time::nanotime;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

/// Why a cycle runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Reason {
    /// The heap reached its goal (the allocator's trigger), or gcstress.
    Heap,
    /// `gort_gc`, `gort_free_os_memory`, or an allocation that would pass the limit.
    Forced,
}

/// One cycle at a time; the job table is reused between cycles.
static CYCLE: Mutex<Jobs> = Mutex::new(Jobs::new());
/// Completed cycles (`num_gc`).
pub(crate) static NUM_GC: AtomicU32 = AtomicU32::new(0);

/// Runs a full collection: stops the world, marks, restarts it; sweeping follows lazily
/// (and `Forced` cycles finish it before returning, as Go's `runtime.GC` does).
pub(crate) fn collect(reason: Reason) {
    let seen = NUM_GC.load(Ordering::Acquire);
    let mut jobs = CYCLE.lock();
    if reason == Reason::Heap && NUM_GC.load(Ordering::Acquire) != seen {
        return; // somebody collected while we waited: the heap is no longer at its goal
    }
    // Sweep what the last cycle left, with the world running (mark bits must be clean).
    while heap::sweep_one() {}
    mark::ensure_workers(crate::sched::gomaxprocs());

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
    let roots_guard = super::roots::lock_for_gc();

    let t_begin = nanotime();
    let world = crate::sched::world::stop_world_for_gc();
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
    super::roots::for_each_root(&mut |p, n| {
        root_bytes += n as u64;
        jobs.push(p as usize, n);
    });
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
    let first = mark::mark(&jobs, |w| {
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
        let again = mark::mark(&jobs, |w| {
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
    heap::finish_mark();
    let t_marked = nanotime();

    // The next goal, from what is live now.
    PACER.last_live.store(marked as u64, Ordering::Relaxed);
    PACER.last_roots.store(stack_bytes + root_bytes, Ordering::Relaxed);
    stats::STACK_INUSE.store(stack_bytes, Ordering::Relaxed);
    let goal = PACER.recompute(stats::non_heap_sys());
    heap::set_trigger(goal);

    let restart_ns = world.restart();
    let t_end = nanotime();
    drop(roots_guard);
    drop(heap_guard);
    drop(queue);
    finalize::queue_found(sp, found);
    drop(specials);

    let n = NUM_GC.fetch_add(1, Ordering::AcqRel) + 1;
    stats::record_cycle(CycleFigures {
        num: n,
        forced: reason == Reason::Forced,
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
    });
    drop(jobs);
    if reason == Reason::Forced {
        while heap::sweep_one() {}
    }
}
