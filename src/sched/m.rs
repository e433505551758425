//! Machines (M): OS threads that run goroutines while holding a P.

use super::g::G;
use super::note::Note;
use super::p::P;
use std::cell::{Cell, UnsafeCell};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32};

/// What the scheduler (g0) must do with the goroutine that just switched back to it.
/// Set by the goroutine right before the switch; taken by g0 right after.
#[derive(Clone, Copy)]
pub(crate) enum Action {
    None,
    /// Requeue at the tail of the local (or, without a P, the global) run queue.
    Yield,
    /// Requeue in `runnext`: run one other goroutine, then resume (spawn back-pressure).
    YieldNext,
    /// Mark WAITING, then call `unlock(g, arg)`; if it returns false, the park is
    /// abandoned and the G is made runnable again.
    Park {
        unlock: Option<fn(*mut G, usize) -> bool>,
        arg: usize,
    },
    /// The goroutine finished: recycle it.
    Exit,
}

pub(crate) struct M {
    /// Shown by debuggers (gdb prints the struct); the runtime never reads it.
    #[allow(dead_code, reason = "for debuggers")]
    pub id: u64,
    /// Saved stack pointer of this M's scheduler context (g0, the thread's own stack).
    /// Only this thread reads and writes it.
    pub g0_sp: UnsafeCell<*mut u8>,
    /// The goroutine running on this M, null on g0. Only this thread.
    pub curg: Cell<*mut G>,
    /// The P this M holds, or null, and the status word it installed there. Only this thread.
    pub p: Cell<*const P>,
    pub p_word: Cell<u64>,
    /// A P handed over by another thread before waking this M (startm/handoff).
    pub nextp: AtomicPtr<P>,
    /// Wakes this M when it sleeps idle.
    pub note: Note,
    /// This M is looking for work and is counted in `nmspinning`. Only this thread.
    pub spinning: Cell<bool>,
    /// The goroutine locked to this M (`gort_lock_os_thread`), or null. Only this thread.
    pub locked_g: Cell<*mut G>,
    /// Pending action for g0 (see [`Action`]). Only this thread.
    pub action: Cell<Action>,
    /// Work left over by a direct goroutine-to-goroutine switch: the goroutine that
    /// switched out and what to do with it, done by the incoming goroutine right after the
    /// switch (see `proc::after_switch`). Only this thread.
    pub after: Cell<Option<(*mut G, Action)>>,
    /// This thread's own stack bounds and ASan fake-stack handle (feature `asan`).
    pub g0_stack: Cell<(*const u8, usize)>,
    pub g0_asan: Cell<*mut std::ffi::c_void>,
    /// This thread's own TSan fiber (feature `tsan`; null without it). Only this thread.
    pub g0_fiber: Cell<*mut std::ffi::c_void>,
    /// Set (under the scheduler lock) while the M sits on the idle list.
    pub idle: AtomicBool,
    /// 1 while this M's goroutine allocates from the heap cache of a P it holds in USER
    /// state (the owner's flag of `protocol::heapcache`). Written by this thread only,
    /// with plain stores; read by whoever took that P (sysmon, stop-the-world), who waits
    /// for 0 before using the P.
    pub in_heap_cache: AtomicU32,
    /// True between `gort_blocking_enter` and `gort_blocking_exit` on this M's goroutine
    /// (its P is SYSCALL, or gone: `p` alone cannot tell a region from a retaken USER P).
    /// Only this thread.
    pub in_blocking: Cell<bool>,
}

// SAFETY: fields other than `nextp`, `note`, `idle` and `in_heap_cache` are touched
// only by the M's own thread; those are atomics or internally synchronised.
unsafe impl Sync for M {}
// SAFETY: as above.
unsafe impl Send for M {}

impl M {
    pub(crate) fn new(id: u64) -> M {
        M {
            id,
            g0_sp: UnsafeCell::new(ptr::null_mut()),
            curg: Cell::new(ptr::null_mut()),
            p: Cell::new(ptr::null()),
            p_word: Cell::new(0),
            nextp: AtomicPtr::new(ptr::null_mut()),
            note: Note::new(),
            spinning: Cell::new(false),
            locked_g: Cell::new(ptr::null_mut()),
            action: Cell::new(Action::None),
            after: Cell::new(None),
            g0_stack: Cell::new((ptr::null(), 0)),
            g0_asan: Cell::new(ptr::null_mut()),
            g0_fiber: Cell::new(ptr::null_mut()),
            idle: AtomicBool::new(false),
            in_heap_cache: AtomicU32::new(0),
            in_blocking: Cell::new(false),
        }
    }
}

/// The M of the calling thread, or null on a thread the runtime does not own.
///
/// One thread-pointer-relative load ([`super::tls`]), read afresh at every call: safe to
/// inline around a context switch (a goroutine may resume on another thread).
#[inline(always)]
pub(crate) fn current_m() -> *const M {
    super::tls::m() as *const M
}

pub(crate) fn set_current_m(m: *const M) {
    super::tls::set_m(m as usize);
}
