//! The garbage collector: a non-moving, parallel mark-sweep collector with explicit roots.
//! In the default mode it stops the world while it marks; in the concurrent mode
//! (`GORT_GCMODE=concurrent`, [`collector`]'s `cycle_concurrent`) it copies the roots and
//! stacks in a short pause, marks beside the program with a write barrier ([`barrier`])
//! and mark assists, and finishes in a second short pause.
//!
//! # What keeps an object alive
//! An object (allocated by [`crate::mem::heap`]) lives while a word that points to any of
//! its bytes is found in a root or in a pointer field of another live object:
//! - roots, scanned conservatively (every aligned word is a candidate pointer): the
//!   ranges the program registered ([`roots`]); every goroutine's stack from its saved
//!   stack pointer to its top, which holds its saved registers; the stacks and registers
//!   of the threads stopped for the cycle ([`crate::sched::world`]); and every place the
//!   runtime holds the program's bytes: goroutine and timer arguments, channel buffers,
//!   elements in flight, finalizer and cleanup arguments and the finalizer queue;
//! - heap objects, scanned precisely: only the fields their type declares as pointers.
//!
//! # A stop-the-world cycle (the protocol, [`collector`])
//! A thread that wants a cycle (`gort_gc`, an allocation that found the heap at its goal,
//! `gcstress`, the memory limit) asks for the next one and waits for it in a blocking
//! region; the cycle itself runs on the collector's own thread, which is not a mutator:
//! its stack and registers are never roots. On that thread:
//! 1. Finish sweeping the previous cycle, with the world running.
//! 2. Take the locks of every structure the collector reads while the world is stopped
//!    (the heap's, the root registry's, the finalizer tables'), *before* stopping it: a
//!    thread is stopped wherever it happens to be, possibly inside one of them, and the
//!    collector must never wait for a stopped thread. For the same reason nothing from
//!    step 3 to step 6 calls `malloc` (work buffers and the job table are `mmap`ed).
//! 3. Stop the world: Ps at safe points, threads running C code by a signal.
//! 4. Mark in parallel ([`mark`]): root jobs first, claimed by index, then grey objects
//!    shared in blocks ([`work`]). Finalizable objects get their referents marked and,
//!    if unreachable, are resurrected for their finalizer ([`finalize`]).
//! 5. Flip the heap to "needs sweeping"; compute the next goal ([`pacer`]).
//! 6. Restart the world, release the locks, queue finalizers, record the pause
//!    ([`stats`]). Sweeping is lazy: the allocator sweeps a span before reusing it, and
//!    the next cycle (or `gort_gc`) finishes the rest.
//!
//! # Invariants
//! - Mark bits are clear for every object when marking starts (sweeping resets them).
//! - With the world stopped no mutator runs, so a white object reachable from a root is
//!   reachable by a path the markers will follow: no barrier is needed in this mode.
//! - In the concurrent mode, every object reachable when the first pause copied the
//!   roots and stacks is marked by the end of the mark: a store that overwrites a heap
//!   pointer shades the old value first ([`barrier`], the argument step by step in
//!   ARCHITECTURE.md, "Concurrent marking"), and objects allocated during the mark are
//!   born marked. `GORT_DEBUG=gccheckmark=1` ([`checkmark`]) verifies it after every mark.
//! - An object is freed only by a sweep after a cycle in which it was not marked.
//!
//! # Alternatives rejected
//! - Reference counting or a copying collector: C holds raw pointers, so objects must
//!   not move, and cycles must be collected.
//! - Scanning `malloc`ed memory and C globals automatically (Boehm's default): it costs
//!   every cycle, retains by accident, and cannot see memory from other allocators. gort
//!   asks for explicit roots, like cgo's rules, and scans only stacks implicitly.
//! - Marking on the Ps themselves: the Ps' threads may be stopped inside C code; the
//!   collector's own threads always can run.

pub(crate) mod barrier;
pub(crate) mod checkmark;
pub(crate) mod collector;
pub(crate) mod finalize;
pub(crate) mod mark;
pub(crate) mod pacer;
pub(crate) mod roots;
pub(crate) mod stats;
pub(crate) mod work;

use crate::mem::heap::{self, Kind};
use collector::Reason;
use pacer::{NO_LIMIT, PACER};
use std::ptr::NonNull;
use std::sync::Once;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

pub(crate) use collector::collect;

/// `GORT_DEBUG=gcstress=N`: collect every N allocations (0: off).
static STRESS_EVERY: AtomicU64 = AtomicU64::new(0);
static STRESS_COUNT: AtomicU64 = AtomicU64::new(0);
static INIT: Once = Once::new();

/// What [`alloc`] must do besides allocating, one bit each, so that its fast path reads
/// one word (twice: before and after the allocation) instead of an init flag, the stress
/// setting, the trigger flag and the memory limit in four places.
mod extra {
    /// [`super::init_slow`] has not run yet.
    pub(super) const UNINIT: u8 = 1;
    /// `gcstress` is on: count allocations.
    pub(super) const STRESS: u8 = 2;
    /// The allocator's trigger fired: ask for a cycle.
    pub(super) const TRIGGERED: u8 = 4;
    /// A memory limit is set: check it.
    pub(super) const LIMIT: u8 = 8;
    /// `gccheckmark`: remember each object's type for the checker's reports.
    pub(super) const CHECKMARK: u8 = 16;
    /// Checked before the allocation; the others after it.
    pub(super) const BEFORE: u8 = UNINIT | STRESS;
}

/// The [`extra`] bits. Set and cleared with `fetch_or`/`fetch_and`; read Relaxed (each
/// bit only starts a slow path that reads its own state again).
static EXTRA: AtomicU8 = AtomicU8::new(extra::UNINIT);

/// Serialises `set_memory_limit`, so that the LIMIT bit matches the last limit stored.
static LIMIT_LOCK: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

/// Reads the settings and connects the pacer to the allocator; once, on first use.
#[inline]
pub(crate) fn ensure_init() {
    if EXTRA.load(Ordering::Acquire) & extra::UNINIT != 0 {
        init_slow();
    }
}

#[cold]
fn init_slow() {
    INIT.call_once(|| {
        let cfg = crate::runtime::config();
        PACER.gc_percent.store(cfg.gc_percent, Ordering::Relaxed);
        STRESS_EVERY.store(cfg.gcstress, Ordering::Relaxed);
        if cfg.gcstress != 0 {
            EXTRA.fetch_or(extra::STRESS, Ordering::Relaxed);
        }
        store_limit(cfg.mem_limit);
        stats::GCTRACE.store(cfg.gctrace, Ordering::Relaxed);
        heap::set_poison(cfg.gcpoison);
        let concurrent = cfg.gc_mode == crate::runtime::GcMode::Concurrent;
        collector::CONCURRENT.store(concurrent, Ordering::Relaxed);
        heap::set_huge_pages(!concurrent);
        if cfg.gccheckmark {
            checkmark::enable();
            EXTRA.fetch_or(extra::CHECKMARK, Ordering::Relaxed);
        }
        heap::set_trigger_hook(on_trigger);
        arm_trigger(PACER.recompute(0));
        // Release: a thread that sees the bit clear (and synchronises with this thread
        // some other way, as every caller of a gort export does with the runtime's start)
        // sees the settings; the Once itself orders it for callers that race with us.
        EXTRA.fetch_and(!extra::UNINIT, Ordering::Release);
    });
}

/// Stores the memory limit and its LIMIT bit; returns the old limit.
fn store_limit(bytes: i64) -> i64 {
    let _l = LIMIT_LOCK.lock();
    let old = PACER.mem_limit.swap(bytes, Ordering::Relaxed);
    if bytes != NO_LIMIT {
        EXTRA.fetch_or(extra::LIMIT, Ordering::Relaxed);
    } else {
        EXTRA.fetch_and(!extra::LIMIT, Ordering::Relaxed);
    }
    old
}

/// Arms the allocator's trigger for a heap goal: the goal itself when the world stops to
/// mark (the cycle is over before the program allocates again); in the concurrent mode
/// earlier, part of the way from the live heap to the goal (70% at first, then adjusted
/// after each cycle, [`pacer::Pacer::adjust_trigger`]), so that the mark, which runs
/// while the program allocates, ends near the goal.
pub(crate) fn arm_trigger(goal: u64) {
    let trigger = if collector::CONCURRENT.load(Ordering::Relaxed) && goal != u64::MAX {
        let live = PACER.last_live.load(Ordering::Relaxed).min(goal);
        let permille = PACER.trigger_permille.load(Ordering::Relaxed);
        live + ((goal - live) as u128 * permille as u128 / 1000) as u64
    } else {
        goal
    };
    heap::set_trigger(trigger);
}

/// Set by the allocator's trigger (the heap reached its goal); the allocation that
/// notices it asks for a cycle from [`alloc`], outside the allocator's own frames.
fn on_trigger() {
    EXTRA.fetch_or(extra::TRIGGERED, Ordering::Relaxed);
}

/// Why an allocation failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AllocError {
    /// Past the memory limit even after a collection, or the OS refused memory.
    NoMemory,
}

/// `gort_new`'s fast path: one object of type `ty` from the P's cache when no policy
/// needs a look (no gcstress, trigger, limit, first use); None: call [`alloc`].
#[inline(always)]
pub(crate) fn alloc_one_fast(ty: &'static heap::GcType) -> Option<NonNull<u8>> {
    if EXTRA.load(Ordering::Acquire) != 0 {
        return None;
    }
    let p = heap::alloc_one_fast(ty)?;
    crate::sched::tsan::new_memory(p.as_ptr(), ty.size());
    Some(p)
}

/// Allocates a zeroed object (the heap's fast path, plus the collector's policies).
#[inline]
pub(crate) fn alloc(size: usize, kind: Kind) -> Result<NonNull<u8>, AllocError> {
    if EXTRA.load(Ordering::Acquire) & extra::BEFORE != 0 {
        before_alloc();
    }
    let p = match heap::alloc(size, kind) {
        Some(p) => p,
        None => alloc_after_collect(size, kind)?,
    };
    if barrier::active() {
        // A refill or a large object during a concurrent mark: the assist is due.
        barrier::note_alloc(heap::take_mark_debt(), collector::current_cycle());
    }
    let after = EXTRA.load(Ordering::Relaxed) & !extra::BEFORE;
    if after != 0 {
        after_alloc(after, size, kind, p)?;
    }
    // A fresh object to TSan, whoever used the memory before the collector freed it.
    crate::sched::tsan::new_memory(p.as_ptr(), size);
    Ok(p)
}

#[cold]
fn before_alloc() {
    ensure_init();
    if EXTRA.load(Ordering::Relaxed) & extra::STRESS != 0 {
        stress_tick();
    }
}

#[cold]
fn after_alloc(bits: u8, size: usize, kind: Kind, p: NonNull<u8>) -> Result<(), AllocError> {
    if bits & extra::CHECKMARK != 0
        && let Kind::Typed(t) = kind
    {
        checkmark::note_type(p.as_ptr() as usize, t);
    }

    if bits & extra::TRIGGERED != 0 && EXTRA.fetch_and(!extra::TRIGGERED, Ordering::Relaxed) & extra::TRIGGERED != 0 {
        collect(Reason::Heap);
    }
    if bits & extra::LIMIT != 0 {
        check_limit(size)?;
    }
    Ok(())
}

fn stress_tick() {
    let every = STRESS_EVERY.load(Ordering::Relaxed);
    if every != 0 && STRESS_COUNT.fetch_add(1, Ordering::Relaxed) % every == every - 1 {
        collect(Reason::Stress);
    }
}

#[cold]
fn alloc_after_collect(size: usize, kind: Kind) -> Result<NonNull<u8>, AllocError> {
    collect(Reason::Limit);
    heap::alloc(size, kind).ok_or(AllocError::NoMemory)
}

/// With a memory limit: if the heap is past it, collect; if it is still past it, this
/// allocation fails (the object just made is garbage for the next cycle).
#[cold]
fn check_limit(size: usize) -> Result<(), AllocError> {
    let limit = PACER.mem_limit.load(Ordering::Relaxed);
    if limit == NO_LIMIT {
        return Ok(()); // lifted since the bit was read
    }
    let limit = limit.max(0) as u64;
    let used = || heap::stats().heap_alloc + stats::non_heap_sys();
    if used() <= limit {
        return Ok(());
    }
    collect(Reason::Limit);
    if used() <= limit.saturating_add(size as u64) { Ok(()) } else { Err(AllocError::NoMemory) }
}

/// `gort_set_gc_percent`: returns the old value; the goal follows at once.
pub(crate) fn set_gc_percent(p: i32) -> i32 {
    ensure_init();
    let old = PACER.gc_percent.swap(p.max(-1), Ordering::Relaxed);
    arm_trigger(PACER.recompute(stats::non_heap_sys()));
    old
}

/// `gort_set_memory_limit`: negative only queries. Returns the old limit.
pub(crate) fn set_memory_limit(bytes: i64) -> i64 {
    ensure_init();
    if bytes < 0 {
        return PACER.mem_limit.load(Ordering::Relaxed);
    }
    let old = store_limit(bytes);
    arm_trigger(PACER.recompute(stats::non_heap_sys()));
    old
}

/// `gort_gc`: a full cycle, sweeping included.
pub(crate) fn gc() {
    ensure_init();
    collect(Reason::Forced);
}

/// `gort_free_os_memory`: collect, then give every free page back to the OS.
pub(crate) fn free_os_memory() {
    gc();
    heap::release_free_memory();
}

/// The base of the heap object that starts exactly at `addr`, if one does.
pub(crate) fn object_at(addr: usize) -> Option<heap::Obj> {
    heap::find_object(addr).filter(|o| o.base() == addr)
}

#[cfg(test)]
pub(crate) mod tests {
    /// Tests that use the collector's global state run one at a time.
    pub(crate) static SERIAL: parking_lot::Mutex<()> = parking_lot::Mutex::new(());
}
