//! The write barrier of the concurrent mode, and the mark assists that make allocation
//! pay for marking.
//!
//! # The barrier
//! While a concurrent mark runs, the program changes the graph the markers walk. The
//! collector's snapshot (taken with the world stopped, [`super::collector`]) holds every
//! root and every stack; what can still go wrong is a pointer field of a heap object
//! overwritten before the markers have scanned that object, while the object it pointed
//! to stays reachable only from places already scanned (a stack, a root, an object
//! already black). So every pointer store into a heap object goes through `gort_store`
//! (`gort_store_range`, `gort_cas_ptr`), which, while the barrier is on, *shades* (marks
//! grey, `shade_in_section`) both the value it overwrites (Yuasa's deletion barrier: the snapshot
//! stays reachable) and the value it writes (Dijkstra's insertion barrier), as Go's
//! hybrid barrier does. With the stacks in the snapshot the deletion half is what
//! correctness needs; the insertion half costs one lookup and covers two unsynchronised
//! writers to one slot (each shades what it writes).
//!
//! # The flag
//! [`WRITE_BARRIER`] is exported to C (`gort_internal_write_barrier`) so that `gort.h` can
//! inline the barrier-off path of `gort_store` as Go's compiler does: one load and a
//! predictable branch, then a plain store. It is set and cleared only with the world
//! stopped, so every thread sees it change at a stop. A C store that loaded the flag
//! just before the stop that sets it and stores just after the restart (an interruption
//! between two instructions) is unbarriered; it loses an object only if another thread
//! loads the old value in that window and the object is nowhere else. Go avoids this
//! window because its compiler emits no safe point between the check and the store; a C
//! compiler gives no such promise.
//!
//! # Shading
//! `shade(v)`: if `v` points into a heap object that is not marked, mark it and, if it
//! has pointer fields, queue it on [`MUTATOR_BUF`] for the markers. Marking and queuing
//! happen inside a no-suspend section: a thread stopped between the two would leave a
//! marked object that nobody scans.
//!
//! # Assists
//! An allocation during a mark runs on the slow path ([`super::alloc`]), which counts the
//! bytes against the calling thread. Every [`ASSIST_CHUNK`] bytes the thread marks in
//! proportion: (work left) / (room left before the goal) times what it allocated, taken
//! from the shared grey blocks. A program that allocates faster than the background
//! worker marks thus slows down instead of outrunning the mark (Go's mark assists).
//! An assist holds grey objects privately, so it runs inside a no-suspend section and
//! publishes what is left before it returns.

use super::work::{MUTATOR_BUF, Worker};
use crate::mem::heap;
use std::cell::Cell;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};

/// Non-zero while a concurrent mark runs: stores must shade. Exported for `gort.h`'s
/// inline fast path of `gort_store`.
#[unsafe(export_name = "gort_internal_write_barrier")]
pub(crate) static WRITE_BARRIER: AtomicU8 = AtomicU8::new(0);

/// Bytes of objects marked by the barrier and by assists in the current cycle (the
/// background worker and the final mark count their own).
pub(crate) static MUTATOR_MARKED: AtomicU64 = AtomicU64::new(0);

/// CPU time spent in assists in the current cycle.
pub(crate) static ASSIST_CPU_NS: AtomicU64 = AtomicU64::new(0);

/// Assists under way: they hold grey objects privately until they end, so the
/// background worker does not call the mark finished while one runs.
pub(crate) static ASSISTS_RUNNING: AtomicU32 = AtomicU32::new(0);

/// Words below this are small integers, never heap addresses.
const MIN_ADDR: usize = 4096;

#[inline]
pub(crate) fn active() -> bool {
    WRITE_BARRIER.load(Ordering::Relaxed) != 0
}

/// Turns the barrier on or off. World stopped.
pub(crate) fn set_active(on: bool) {
    WRITE_BARRIER.store(u8::from(on), Ordering::SeqCst);
}

/// Marks the object `v` points into grey, if it is an unmarked heap object. The caller
/// is inside a no-suspend section and the barrier is on.
#[inline]
fn shade_in_section(v: usize) {
    if v < MIN_ADDR {
        return;
    }
    let Some(o) = heap::find_object(v) else { return };
    if o.is_marked() || !o.try_mark() {
        return;
    }
    MUTATOR_MARKED.fetch_add(o.size() as u64, Ordering::Relaxed);
    if !o.is_noscan() {
        MUTATOR_BUF.push(o.grey_ref().to_word());
    }
}

/// `*slot = v` with the barrier (the caller saw it on). The slot is aligned.
///
/// # Safety
/// `slot` is a writable, aligned pointer-sized slot.
pub(crate) unsafe fn store(slot: *mut usize, v: usize) {
    let _section = crate::sched::world::no_suspend();
    // SAFETY: per the contract; atomic so that markers never read a torn word.
    let a = unsafe { std::sync::atomic::AtomicUsize::from_ptr(slot) };
    if active() {
        shade_in_section(a.load(Ordering::Relaxed));
        shade_in_section(v);
    }
    a.store(v, Ordering::Release);
}

/// Compare-and-swap with the barrier: shades the old and the new value first (a failed
/// swap only shaded two values that were reachable anyway).
///
/// # Safety
/// As [`store`].
pub(crate) unsafe fn cas(slot: *mut usize, old: usize, new: usize) -> bool {
    let _section = crate::sched::world::no_suspend();
    // SAFETY: per the contract.
    let a = unsafe { std::sync::atomic::AtomicUsize::from_ptr(slot) };
    if active() {
        shade_in_section(a.load(Ordering::Relaxed));
        shade_in_section(new);
    }
    a.compare_exchange(old, new, Ordering::AcqRel, Ordering::Acquire).is_ok()
}

/// Shades every pointer-aligned word of `[start, start + len)` as a possible pointer
/// (conservatively). Used for the old contents of memory about to be overwritten by a
/// bulk copy (`gort_store_range`, a channel receive into a heap object) and for the new.
///
/// # Safety
/// The range is readable.
pub(crate) unsafe fn shade_words(start: usize, len: usize) {
    if !active() || len == 0 {
        return;
    }
    let _section = crate::sched::world::no_suspend();
    if !active() {
        return;
    }
    let word = std::mem::size_of::<usize>();
    let mut p = (start + word - 1) & !(word - 1);
    let end = start.saturating_add(len);
    while p + word <= end {
        // SAFETY: per the contract; aligned and inside the range. (A destination about to
        // be overwritten may never have been written: `load_word` tells valgrind the copy
        // is defined, as the collector's own scans do.)
        shade_in_section(unsafe { super::mark::load_word(p) });
        p += word;
    }
}

/// `memmove(dst, src, n)` with the barrier on: shades what `dst` held and what `src`
/// holds, then copies, all in one no-suspend section.
///
/// # Safety
/// `n` bytes readable at `src` and writable at `dst`.
pub(crate) unsafe fn store_range(dst: *mut u8, src: *const u8, n: usize) {
    let _section = crate::sched::world::no_suspend();
    // SAFETY: per the contract.
    unsafe {
        shade_words(dst as usize, n);
        shade_words(src as usize, n);
        std::ptr::copy(src, dst, n);
    }
}

/// Bytes a thread allocates during a mark between two looks at its debt.
pub(crate) const ASSIST_CHUNK: u64 = 64 << 10;
/// The most one assist marks (bytes of objects), so that its no-suspend section, which
/// a world stop waits for, stays short.
const ASSIST_MAX: u64 = 256 << 10;

thread_local! {
    /// Bytes this thread allocated during the current mark and not yet paid for.
    static DEBT: Cell<u64> = const { Cell::new(0) };
    /// The cycle `DEBT` belongs to.
    static DEBT_CYCLE: Cell<u32> = const { Cell::new(0) };
}

/// Counts `bytes` allocated during the mark of `cycle`; assists when the debt is due.
pub(crate) fn note_alloc(bytes: u64, cycle: u32) {
    let debt = DEBT.with(|d| {
        if DEBT_CYCLE.with(|c| c.replace(cycle)) != cycle {
            d.set(0);
        }
        let v = d.get() + bytes;
        d.set(v);
        v
    });
    if debt >= ASSIST_CHUNK {
        DEBT.with(|d| d.set(0));
        assist(debt);
    }
}

/// Marks in proportion to `allocated` bytes (see the module notes).
#[cold]
fn assist(allocated: u64) {
    let pacer = &super::pacer::PACER;
    let expected = pacer.last_live.load(Ordering::Relaxed) + pacer.last_roots.load(Ordering::Relaxed);
    let done = super::collector::marked_so_far();
    let work_left = expected.saturating_sub(done).max(expected / 8).max(1 << 20);
    let live = heap::stats().heap_live;
    let goal = super::collector::cycle_goal();
    let room = goal.saturating_sub(live).max(1 << 20);
    let budget = ((allocated as u128 * work_left as u128 / room as u128) as u64).min(ASSIST_MAX);
    if budget == 0 || !Worker::shared_work() {
        return;
    }
    let _section = crate::sched::world::no_suspend();
    if !active() {
        return;
    }
    ASSISTS_RUNNING.fetch_add(1, Ordering::SeqCst);
    let cpu0 = super::mark::thread_cpu_ns();
    let marked = super::mark::assist_mark(budget);
    MUTATOR_MARKED.fetch_add(marked, Ordering::Relaxed);
    ASSIST_CPU_NS.fetch_add(super::mark::thread_cpu_ns() - cpu0, Ordering::Relaxed);
    ASSISTS_RUNNING.fetch_sub(1, Ordering::SeqCst);
}
