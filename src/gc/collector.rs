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
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// Why a cycle runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Reason {
    /// The heap reached its goal (the allocator's trigger).
    Heap,
    /// `gcstress`: like Heap, but the allocation waits for the cycle in both modes, so
    /// that cycles really come every N allocations (and, in the concurrent mode, run
    /// beside the program's other goroutines).
    Stress,
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
    if reason == Reason::Heap && CONCURRENT.load(Ordering::Relaxed) {
        // The cycle runs beside the program: the allocation that asked goes on (assists
        // pace it while the mark runs).
        return;
    }
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
    if matches!(reason, Reason::Forced | Reason::Limit) {
        while heap::sweep_one() {}
    }
}

/// The concurrent mode (`GORT_GCMODE=concurrent`), fixed at the first allocation.
pub(crate) static CONCURRENT: AtomicBool = AtomicBool::new(false);

/// Bytes marked so far in the current concurrent cycle by the collector's threads (the
/// root snapshot and the background worker); the barrier and assists count theirs in
/// [`super::barrier::MUTATOR_MARKED`].
static CYCLE_MARKED: AtomicU64 = AtomicU64::new(0);
/// The heap goal the current concurrent cycle must finish by (assists pace to it).
static CYCLE_GOAL: AtomicU64 = AtomicU64::new(u64::MAX);

/// Everything marked so far in the current cycle.
pub(crate) fn marked_so_far() -> u64 {
    CYCLE_MARKED.load(Ordering::Relaxed) + super::barrier::MUTATOR_MARKED.load(Ordering::Relaxed)
}

pub(crate) fn add_marked(bytes: u64) {
    CYCLE_MARKED.fetch_add(bytes, Ordering::Relaxed);
}

pub(crate) fn cycle_goal() -> u64 {
    CYCLE_GOAL.load(Ordering::Relaxed)
}

/// The number of the cycle running or last started.
pub(crate) fn current_cycle() -> u32 {
    STARTED.load(Ordering::Relaxed)
}

fn collector_loop() {
    let mut jobs = Jobs::new();
    let mut copies = mark::RootCopies::new();
    loop {
        while (WANTED.load(Ordering::SeqCst).wrapping_sub(STARTED.load(Ordering::SeqCst)) as i32) <= 0 {
            WAKE.sleep(None);
        }
        let n = STARTED.fetch_add(1, Ordering::SeqCst).wrapping_add(1);
        let forced = FORCED_PENDING.swap(0, Ordering::SeqCst) > 0;
        let figures = if CONCURRENT.load(Ordering::Relaxed) {
            cycle_concurrent(&mut jobs, &mut copies, n, forced)
        } else {
            cycle(&mut jobs, n, forced)
        };
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

/// Gathers every root range into `jobs` with the world stopped: the stopped threads'
/// and goroutines' stacks and registers, the registered ranges and runtime-held bytes,
/// finalizer and cleanup arguments and the finalizer queue. Returns (stack bytes, other
/// root bytes). The ranges that may hold stale words come first in `jobs` (the stacks,
/// `stack_bytes` of them, then the rings of channels caught mid-operation): `gccheckmark`
/// does not expect what only they point to to be marked ([`conservative_jobs`]).
fn gather_roots(
    world: &crate::sched::world::StoppedWorld,
    jobs: &mut Jobs,
    sp: &finalize::Specials,
    queue: &std::collections::VecDeque<finalize::Job>,
) -> (u64, u64) {
    jobs.clear();
    let mut stack_bytes = 0u64;
    world.for_each_stack_root(&mut |p, n| {
        stack_bytes += n as u64;
        jobs.push(p as usize, n);
    });
    let mut root_bytes = 0u64;
    // SAFETY: the world is stopped.
    unsafe {
        super::roots::for_each_maybe_stale_root(&mut |p, n| {
            root_bytes += n as u64;
            jobs.push(p as usize, n);
        })
    };
    CONSERVATIVE_JOBS.store(jobs.len(), Ordering::Relaxed);
    // SAFETY: as above.
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
    (stack_bytes, root_bytes)
}

/// How many of the jobs [`gather_roots`] just made may hold stale words (stacks,
/// registers, locked channels' rings; they come first).
fn conservative_jobs(jobs: &Jobs) -> usize {
    CONSERVATIVE_JOBS.load(Ordering::Relaxed).min(jobs.len())
}

/// Set by [`gather_roots`]: the number of conservative jobs it pushed.
static CONSERVATIVE_JOBS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The end of every mark, world stopped: drains what is left from `jobs` (and the
/// finalizable objects' referents), resurrects unreachable finalizable objects for their
/// finalizers, collects the cleanups due. Returns the bytes this pass marked.
///
/// `parallel`: with the helper threads (the stop-the-world mark; the end of a concurrent
/// one marks on the collector's thread alone unless much is left).
fn terminate_mark(jobs: &mut Jobs, sp: &finalize::Specials, found: &mut Found, parallel: bool) -> usize {
    let first = mark::mark_with(jobs, parallel, |w| {
        for &base in sp.finalizers.keys() {
            mark::grey_referents(base, w);
        }
    });
    for &base in sp.finalizers.keys() {
        if !heap::find_object(base).is_some_and(|o| o.is_marked()) {
            found.finalize.push(base); // within the reserved capacity
        }
    }
    let mut marked = first.marked_bytes;
    if !found.finalize.is_empty() {
        jobs.clear();
        let again = mark::mark_with(jobs, parallel, |w| {
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
    marked
}

/// After the mark, world stopped: sweep generation, live heap, next goal and trigger.
/// The live heap includes the objects allocated during a concurrent mark (black, live or
/// not), as Go's `heapMarked` does: the program's assists keep that part small.
fn finish(marked: u64, stack_bytes: u64, root_bytes: u64) -> (u64, u64) {
    let live = heap::finish_mark(marked);
    PACER.last_live.store(live, Ordering::Relaxed);
    PACER.last_roots.store(stack_bytes + root_bytes, Ordering::Relaxed);
    stats::STACK_INUSE.store(stack_bytes, Ordering::Relaxed);
    let goal = PACER.recompute(stats::non_heap_sys());
    super::arm_trigger(goal);
    (live, goal)
}

/// One stop-the-world cycle, on the collector thread: returns its figures.
fn cycle(jobs: &mut Jobs, n: u32, forced: bool) -> CycleFigures {
    // Sweep what the last cycle left, with the world running (mark bits must be clean).
    while heap::sweep_one() {}

    // Locks of everything the stopped world's threads could be inside of, taken while
    // they still run (a thread suspended holding one would otherwise deadlock us).
    let mut specials = SPECIALS.lock();
    let sp = specials.get_or_insert_with(finalize::Specials::default);
    let mut found = Found::reserve(sp);
    let queue = finalize::QUEUE.lock();
    let heap_guard = heap::lock_for_gc();
    let pool_gate = crate::sync::pool::lock_for_gc();

    let t_begin = nanotime();
    let world = crate::sched::world::stop_world_from_collector();
    let t_stopped = nanotime();
    // SAFETY: the world is stopped and the pools' gate is held.
    let pool_dropped = unsafe { crate::sync::pool::cleanup() };
    let heap_before = heap::stats().heap_alloc;
    heap::prepare_for_mark();
    let (stack_bytes, root_bytes) = gather_roots(&world, jobs, sp, &queue);
    let marked = terminate_mark(jobs, sp, &mut found, true);
    if super::checkmark::enabled() {
        gather_roots(&world, jobs, sp, &queue);
        super::checkmark::verify(jobs, conservative_jobs(jobs));
    }
    let t_marked = nanotime();
    let (live, goal) = finish(marked as u64, stack_bytes, root_bytes);

    let restart_ns = world.restart();
    let t_end = nanotime();
    drop(pool_gate);
    drop(heap_guard);
    drop(queue);
    finalize::queue_found(sp, found);
    drop(specials);
    if pool_dropped {
        crate::sync::pool::start_drainer();
    }

    CycleFigures {
        num: n,
        forced,
        end_ns: t_end,
        stop_ns: (t_stopped - t_begin) as u64,
        mark_ns: (t_marked - t_stopped) as u64,
        restart_ns,
        pause_ns: (t_end - t_begin) as u64,
        concurrent: None,
        heap_before,
        live,
        goal,
        stacks: stack_bytes,
        roots: root_bytes,
        workers: mark::workers(),
    }
}

/// The share of the CPUs the background mark takes: 25% of the Ps (Go's), given to one
/// worker thread as a duty cycle.
fn background_duty() -> f64 {
    (0.25 * crate::sched::gomaxprocs() as f64).min(1.0)
}

/// Background mark slices: long enough that the clock and the sleeps cost little, short
/// enough that the program sees an even share.
const SLICE_NS: i64 = 1_000_000;

/// One concurrent cycle (see the protocol in [`super`]): a short pause that snapshots
/// the roots and turns the barrier on, marking beside the program, and a short pause that
/// finishes it.
fn cycle_concurrent(jobs: &mut Jobs, copies: &mut mark::RootCopies, n: u32, forced: bool) -> CycleFigures {
    while heap::sweep_one() {}

    // Pause 1: snapshot.
    copies.reserve();
    let (stack_bytes, root_bytes, heap_before, pause1) = {
        let mut specials = SPECIALS.lock();
        let sp = specials.get_or_insert_with(finalize::Specials::default);
        let queue = finalize::QUEUE.lock();
        let heap_guard = heap::lock_for_gc();
        let pool_gate = crate::sync::pool::lock_for_gc();
        let t0 = nanotime();
        let world = crate::sched::world::stop_world_from_collector();
        // SAFETY: the world is stopped and the pools' gate is held.
        let pool_dropped = unsafe { crate::sync::pool::cleanup() };
        let heap_before = heap::stats().heap_alloc;
        heap::prepare_for_mark();
        CYCLE_MARKED.store(0, Ordering::Relaxed);
        super::barrier::MUTATOR_MARKED.store(0, Ordering::Relaxed);
        super::barrier::ASSIST_CPU_NS.store(0, Ordering::Relaxed);
        CYCLE_GOAL.store(PACER.goal.load(Ordering::Relaxed), Ordering::Relaxed);
        let (stack_bytes, root_bytes) = gather_roots(&world, jobs, sp, &queue);
        copies.take(jobs);
        super::barrier::set_active(true);
        world.restart();
        let pause1 = (nanotime() - t0) as u64;
        drop(pool_gate);
        drop(heap_guard);
        drop(queue);
        drop(specials);
        if pool_dropped {
            crate::sync::pool::start_drainer();
        }
        (stack_bytes, root_bytes, heap_before, pause1)
    };

    // Concurrent mark.
    let t_mark = nanotime();
    let background = mark::mark_background(jobs, background_duty(), SLICE_NS);
    let t_term = nanotime();

    // Pause 2: termination.
    let mut specials = SPECIALS.lock();
    let sp = specials.get_or_insert_with(finalize::Specials::default);
    let mut found = Found::reserve(sp);
    let queue = finalize::QUEUE.lock();
    let heap_guard = heap::lock_for_gc();
    let t2 = nanotime();
    let world = crate::sched::world::stop_world_from_collector();
    let t_stopped = nanotime();
    super::work::MUTATOR_BUF.flush();
    jobs.clear();
    // Much left (a program whose barrier shaded a lot at the end): share it out.
    let parallel = super::work::shared_blocks() > 16;
    let last = terminate_mark(jobs, sp, &mut found, parallel);
    if super::checkmark::enabled() {
        gather_roots(&world, jobs, sp, &queue);
        super::checkmark::verify(jobs, conservative_jobs(jobs));
    }
    super::barrier::set_active(false);
    let heap_end = heap::stats().heap_alloc;
    PACER.adjust_trigger(heap::stats().heap_live, CYCLE_GOAL.load(Ordering::Relaxed));
    let marked = marked_so_far() + last as u64;
    let t_marked = nanotime();
    let (live, goal) = finish(marked, stack_bytes, root_bytes);
    let restart_ns = world.restart();
    let t_end = nanotime();
    drop(heap_guard);
    drop(queue);
    finalize::queue_found(sp, found);
    drop(specials);

    CycleFigures {
        num: n,
        forced,
        end_ns: t_end,
        stop_ns: (t_stopped - t2) as u64,
        mark_ns: (t_marked - t_stopped) as u64,
        restart_ns,
        pause_ns: pause1 + (t_end - t2) as u64,
        concurrent: Some(stats::ConcurrentFigures {
            pause1_ns: pause1,
            heap_end,
            mark_ns: (t_term - t_mark) as u64,
            background_cpu_ns: background.dedicated_cpu_ns,
            idle_cpu_ns: background.idle_cpu_ns,
            assist_cpu_ns: super::barrier::ASSIST_CPU_NS.load(Ordering::Relaxed),
        }),
        heap_before,
        live,
        goal,
        stacks: stack_bytes,
        roots: root_bytes,
        workers: mark::workers(),
    }
}
