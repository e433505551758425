//! ThreadSanitizer annotations (cargo feature `tsan`).
//!
//! gort's Rust code is not instrumented (that needs a nightly compiler and a rebuilt
//! standard library), so TSan sees only the C program's memory accesses and none of the
//! runtime's atomics. Two things would go wrong without help, and this module supplies
//! both:
//!
//! - **Stacks.** TSan keeps one shadow call stack and one vector clock per thread. A
//!   goroutine switching stacks under it would mix the call stacks of every goroutine that
//!   ran on the thread. Each goroutine is therefore a TSan *fiber* (created lazily at its
//!   first run, destroyed when it ends), each M's scheduler stack (g0) is its thread's own
//!   fiber, and every [`arch::switch`](crate::arch) is preceded by
//!   `__tsan_switch_to_fiber`.
//! - **Happens-before.** Switches pass `__tsan_switch_to_fiber_no_sync`: two goroutines
//!   that happen to run on the same thread are *not* ordered by that, so a race between
//!   them is reported as under Go's `-race`. The orderings Go's memory model promises are
//!   annotated instead, each as a release by one side and an acquire by the other on an
//!   address both know ([`release`], [`acquire`]):
//!   - `gort_go` → the new goroutine's first instruction, and a wake-up (`ready`) → the
//!     woken goroutine's resumption: on the G descriptor's address.
//!   - Channel operations: every send, receive and close releases on the channel when it
//!     begins and acquires when it completes (a select, on the channel of the case it
//!     took). This orders more than Go's model requires (all operations on one channel,
//!     not only the k-th receive before the (k+C)-th send), which can hide a race, never
//!     invent one.
//!   - Mutex and RWMutex: unlock releases, lock acquires (readers release into a second
//!     address, which only writers acquire, so readers are not ordered among themselves);
//!     WaitGroup: `add` with a negative delta releases, `wait` acquires; Once: the call
//!     that ran the function releases, every call acquires; Cond: signal and broadcast
//!     release, a wait acquires; the counting semaphore: release releases, acquire
//!     acquires.
//!   - Timers: arming (start, reset) → the firing, so the value sent or the goroutine
//!     started by it: on the timer (Go's runtime annotates its timers the same way).
//!   - `gort_main`: the caller's writes before it → the main goroutine (the spawn edge),
//!     the main goroutine's writes → the caller after it returns.
//!   - The thread's start → the goroutines that run on it: on the M (C's thread-local
//!     variables live in the thread's TLS block, which TSan saw the thread initialize).
//! - **Reused memory.** Two kinds of memory pass from one owner to another without any
//!   ordering between them, and start with clean shadow memory ([`new_memory`]) instead:
//!   - a GC heap object handed out by `gort_alloc`: the collector proved nobody could
//!     reach its previous incarnation, but TSan cannot know that, and would report the
//!     new owner's first write as racing with the old owner's last;
//!   - a goroutine's stack slot, when the goroutine starts: the previous goroutine that
//!     ran on it is unrelated (ordering the two instead, by a release at the end and an
//!     acquire at the start, hid every race between goroutines that ran one after the
//!     other on one P).
//! - **Runtime code.** TSan intercepts `malloc`, `memcpy` and friends even when called
//!   from uninstrumented code, and would report the runtime's own hand-overs (a buffer
//!   filled by one goroutine's fiber and freed by another's) as races. The runtime's
//!   code therefore runs with the fiber's accesses ignored ([`InRuntime`]): every
//!   export, every runtime thread, and a goroutine outside its program code; program
//!   code called from the runtime is observed again ([`user_call`]). A `gort_protect`
//!   runs its function on a fiber of its own ([`on_own_fiber`]), so that the frames a
//!   panic jumps out of do not pile up on the goroutine's shadow call stack.
//!
//! Without the feature every function here is an empty inline no-op; with it, the final
//! program must link the TSan runtime (`-fsanitize=thread` provides the symbols).

use std::ffi::c_void;

#[cfg(feature = "tsan")]
unsafe extern "C" {
    fn __tsan_get_current_fiber() -> *mut c_void;
    fn __tsan_create_fiber(flags: u32) -> *mut c_void;
    fn __tsan_destroy_fiber(fiber: *mut c_void);
    fn __tsan_switch_to_fiber(fiber: *mut c_void, flags: u32);
    fn __tsan_acquire(addr: *mut c_void);
    fn __tsan_release(addr: *mut c_void);
    // Resets the shadow of [ptr, ptr+size) and records a heap block there; the Java
    // interface's allocation hook, the one exported entry point that forgets a range's
    // access history (AnnotateNewMemory is a no-op in TSan).
    fn __tsan_java_alloc(ptr: usize, size: usize);
    fn __tsan_java_free(ptr: usize, size: usize);
    // Per-fiber counter: while above zero, TSan records no memory accesses of the fiber
    // (its interceptors' included); synchronization is still recorded.
    fn AnnotateIgnoreReadsBegin(file: *const std::ffi::c_char, line: i32);
    fn AnnotateIgnoreReadsEnd(file: *const std::ffi::c_char, line: i32);
    fn AnnotateIgnoreWritesBegin(file: *const std::ffi::c_char, line: i32);
    fn AnnotateIgnoreWritesEnd(file: *const std::ffi::c_char, line: i32);
    fn AnnotateIgnoreSyncBegin(file: *const std::ffi::c_char, line: i32);
    fn AnnotateIgnoreSyncEnd(file: *const std::ffi::c_char, line: i32);
}

/// `__tsan_switch_to_fiber_no_sync`: do not order the fibers by the switch.
#[cfg(feature = "tsan")]
const SWITCH_NO_SYNC: u32 = 1;

/// `__tsan_switch_to_fiber` flags that order the fibers (everything before the switch
/// happens before everything after it).
#[cfg(feature = "tsan")]
const SWITCH_SYNC: u32 = 0;

/// A fiber handle slot: a `Cell` with the `tsan` feature, nothing (zero bytes, always
/// null) without it, so a descriptor pays for it only in TSan builds.
#[cfg(feature = "tsan")]
pub(crate) type FiberSlot = std::cell::Cell<*mut c_void>;

/// See the `tsan` version.
#[cfg(not(feature = "tsan"))]
pub(crate) struct FiberSlot;

/// An empty [`FiberSlot`].
pub(crate) const fn empty_fiber_slot() -> FiberSlot {
    #[cfg(feature = "tsan")]
    return std::cell::Cell::new(std::ptr::null_mut());
    #[cfg(not(feature = "tsan"))]
    FiberSlot
}

/// The calling thread's current fiber (its own, on a thread that never switched).
#[inline(always)]
pub(crate) fn current_fiber() -> *mut c_void {
    #[cfg(feature = "tsan")]
    // SAFETY: the TSan runtime is linked (feature contract); no arguments.
    return unsafe { __tsan_get_current_fiber() };
    #[cfg(not(feature = "tsan"))]
    std::ptr::null_mut()
}

/// Before switching to the goroutine whose fiber slot is `slot`: creates its fiber on
/// its first run, then tells TSan the thread now runs it.
#[inline(always)]
pub(crate) fn switch_to_goroutine(slot: &FiberSlot) {
    #[cfg(feature = "tsan")]
    {
        let mut f = slot.get();
        if f.is_null() {
            // TSan orders a new fiber after the one that creates it, as a thread after
            // its creator; here the creator is whichever goroutine or scheduler happened
            // to switch to it first, so no ordering: the spawn edge is `release(g)`.
            // SAFETY: as above; the sync ignore is balanced right after.
            f = unsafe {
                AnnotateIgnoreSyncBegin(std::ptr::null(), 0);
                let f = __tsan_create_fiber(0);
                AnnotateIgnoreSyncEnd(std::ptr::null(), 0);
                f
            };
            slot.set(f);
        }
        switch_to(f);
    }
    #[cfg(not(feature = "tsan"))]
    let _ = slot;
}

/// Before switching to the stack whose fiber is `fiber` (an M's own, for g0).
#[inline(always)]
pub(crate) fn switch_to(fiber: *mut c_void) {
    #[cfg(feature = "tsan")]
    // SAFETY: `fiber` came from `__tsan_create_fiber` or `__tsan_get_current_fiber` and
    // is not destroyed (a goroutine's fiber lives until its G is destroyed, a thread's
    // as long as the thread); the actual switch follows immediately, with no
    // instrumented code in between.
    unsafe {
        __tsan_switch_to_fiber(fiber, SWITCH_NO_SYNC)
    };
    #[cfg(not(feature = "tsan"))]
    let _ = fiber;
}

/// After a goroutine has ended and switched away for good: frees its fiber.
#[inline(always)]
pub(crate) fn destroy_fiber(slot: &FiberSlot) {
    #[cfg(feature = "tsan")]
    {
        let f = slot.replace(std::ptr::null_mut());
        if !f.is_null() {
            // SAFETY: f is the dead goroutine's fiber, which no thread runs any more.
            unsafe { __tsan_destroy_fiber(f) };
        }
    }
    #[cfg(not(feature = "tsan"))]
    let _ = slot;
}

/// Everything the current fiber did so far happens before whatever follows an
/// [`acquire`] of the same address.
#[inline(always)]
pub(crate) fn release<T: ?Sized>(addr: *const T) {
    #[cfg(feature = "tsan")]
    // SAFETY: TSan uses the address only as the key of its sync object.
    unsafe {
        __tsan_release(addr as *const u8 as *mut c_void)
    };
    #[cfg(not(feature = "tsan"))]
    let _ = addr;
}

/// See [`release`].
#[inline(always)]
pub(crate) fn acquire<T: ?Sized>(addr: *const T) {
    #[cfg(feature = "tsan")]
    // SAFETY: as above.
    unsafe {
        __tsan_acquire(addr as *const u8 as *mut c_void)
    };
    #[cfg(not(feature = "tsan"))]
    let _ = addr;
}

/// `[p, p + size)` was just handed out as a new object: forget its access history.
#[inline(always)]
pub(crate) fn new_memory(p: *const u8, size: usize) {
    #[cfg(feature = "tsan")]
    if size != 0 {
        // The free first: TSan records a heap block at the start of each allocation and
        // overwrites, without releasing, one already there, so a goroutine stack or a heap
        // slot reused without it would leak one block per reuse (and the free also drops
        // the sync objects of the range's old life).
        // SAFETY: the range is mapped heap memory owned by the caller, which nobody else
        // uses now; TSan only releases the blocks and sync objects it recorded there,
        // resets the shadow and records a new block (its Java-heap checks are debug-only,
        // and without `__tsan_java_init` no Java heap is consulted when reporting).
        unsafe {
            let (start, len) = (p as usize & !7, (size + (p as usize & 7)).next_multiple_of(8));
            __tsan_java_free(start, len);
            __tsan_java_alloc(start, len);
        }
    }
    #[cfg(not(feature = "tsan"))]
    let _ = (p, size);
}

/// Hides the current fiber's memory accesses from TSan until the matching [`ignore_end`].
#[inline(always)]
fn ignore_begin() {
    #[cfg(feature = "tsan")]
    // SAFETY: the TSan runtime is linked; the file argument may be null.
    unsafe {
        AnnotateIgnoreReadsBegin(std::ptr::null(), 0);
        AnnotateIgnoreWritesBegin(std::ptr::null(), 0);
    }
}

/// See [`ignore_begin`].
#[inline(always)]
fn ignore_end() {
    #[cfg(feature = "tsan")]
    // SAFETY: as above; the caller pairs it with an `ignore_begin` on the same fiber.
    unsafe {
        AnnotateIgnoreWritesEnd(std::ptr::null(), 0);
        AnnotateIgnoreReadsEnd(std::ptr::null(), 0);
    }
}

/// The runtime's code is unobserved by TSan (module docs, "Runtime code"): held by every
/// export (`guard!`) and runtime thread for its whole run, and by a goroutine's fiber
/// except while it runs program code ([`user_call`]). A jump out of program code by a
/// panic lands in the runtime with the `InRuntime` of the export that panicked still
/// held, which is what the landing site expects: the count is 1 in runtime code and 0 in
/// program code on both sides.
pub(crate) struct InRuntime(());

impl InRuntime {
    #[inline(always)]
    pub(crate) fn enter() -> InRuntime {
        ignore_begin();
        InRuntime(())
    }
}

impl Drop for InRuntime {
    #[inline(always)]
    fn drop(&mut self) {
        ignore_end();
    }
}

/// Enters the runtime for good: a goroutine's first instruction (its fiber is new), and
/// runtime threads. Left by [`leave_runtime`] (a goroutine's last switch).
#[inline(always)]
pub(crate) fn enter_runtime() {
    ignore_begin();
}

/// See [`enter_runtime`]: TSan refuses to destroy a fiber that still ignores.
#[inline(always)]
pub(crate) fn leave_runtime() {
    ignore_end();
}

/// Calls program code from the runtime: its accesses are observed again meanwhile.
#[inline(always)]
pub(crate) fn user_call<R>(f: impl FnOnce() -> R) -> R {
    ignore_end();
    let r = f();
    ignore_begin();
    r
}

/// Runs `f` with the current fiber's memory accesses hidden from TSan: for the
/// runtime's own `memcpy`s and allocations (TSan intercepts those even from
/// uninstrumented code), whose ordering comes from atomics TSan cannot see. `f` must not
/// run program code or switch goroutines.
#[inline(always)]
pub(crate) fn unobserved<R>(f: impl FnOnce() -> R) -> R {
    ignore_begin();
    let r = f();
    ignore_end();
    r
}

/// The runtime's allocator in TSan builds: the system one, unobserved. Without it TSan
/// reports a `Box` made by one goroutine and dropped by another as a race on the heap
/// block (the hand-over went through atomics it does not see).
#[cfg(feature = "tsan")]
pub(crate) struct UnobservedAlloc;

#[cfg(feature = "tsan")]
// SAFETY: forwards to `System`, which upholds the GlobalAlloc contract.
unsafe impl std::alloc::GlobalAlloc for UnobservedAlloc {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        // SAFETY: the caller's contract, forwarded.
        unobserved(|| unsafe { std::alloc::System.alloc(l) })
    }
    unsafe fn alloc_zeroed(&self, l: std::alloc::Layout) -> *mut u8 {
        // SAFETY: as above.
        unobserved(|| unsafe { std::alloc::System.alloc_zeroed(l) })
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        // SAFETY: as above.
        unobserved(|| unsafe { std::alloc::System.dealloc(p, l) })
    }
    unsafe fn realloc(&self, p: *mut u8, l: std::alloc::Layout, n: usize) -> *mut u8 {
        // SAFETY: as above.
        unobserved(|| unsafe { std::alloc::System.realloc(p, l, n) })
    }
}

#[cfg(feature = "tsan")]
#[global_allocator]
static ALLOCATOR: UnobservedAlloc = UnobservedAlloc;

/// Runs `f`, a `protect_call` of program code that may end by a panic's jump back to
/// its caller, on a fiber of its own for TSan (ordered after the caller's history, and
/// the caller's continuation after it). TSan keeps a shadow call stack per fiber; a
/// jump out of instrumented frames skips their exits, and without this every recovered
/// panic would leave its frames on the goroutine's shadow stack until it overflows. The
/// child fiber and its leftover frames are dropped instead. While `f` runs, the
/// goroutine's fiber slot (`slot`: None on a thread that is not a goroutine) names the
/// child, so a park inside `f` resumes it.
///
/// The child starts outside the runtime (observed); `f` must leave it that way, since
/// TSan destroys no fiber that ignores accesses (see [`end_runtime_after_jump`]).
#[inline(always)]
pub(crate) fn on_own_fiber<R>(slot: Option<&FiberSlot>, f: impl FnOnce() -> R) -> R {
    #[cfg(feature = "tsan")]
    {
        // SAFETY: the TSan runtime is linked (feature contract).
        let parent = unsafe { __tsan_get_current_fiber() };
        // SAFETY: as above.
        let child = unsafe { __tsan_create_fiber(0) };
        if let Some(s) = slot {
            s.set(child);
        }
        // SAFETY: both fibers are live; no instrumented code runs until `f`.
        unsafe { __tsan_switch_to_fiber(child, SWITCH_SYNC) };
        let r = f();
        if let Some(s) = slot {
            s.set(parent);
        }
        // SAFETY: as above; the child is dead once we are back on the parent.
        unsafe {
            __tsan_switch_to_fiber(parent, SWITCH_SYNC);
            __tsan_destroy_fiber(child);
        }
        r
    }
    #[cfg(not(feature = "tsan"))]
    {
        let _ = slot;
        f()
    }
}

/// After a panic's jump back to a `protect_call`: the export that panicked entered the
/// runtime ([`InRuntime`]) and never left; this leaves for it.
#[inline(always)]
pub(crate) fn end_runtime_after_jump() {
    ignore_end();
}

/// Before the process ends from runtime code (`_exit` on a fatal error): TSan checks at
/// exit that the current fiber ignores no accesses, and the runtime's fiber does. A fresh
/// fiber, ordered after this one, takes over for the little that is left.
pub(crate) fn before_exit() {
    #[cfg(feature = "tsan")]
    // SAFETY: the TSan runtime is linked; the fiber is new and never destroyed.
    unsafe {
        let f = __tsan_create_fiber(0);
        __tsan_switch_to_fiber(f, SWITCH_SYNC);
    }
}
