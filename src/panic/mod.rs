//! Panics, `gort_protect` and `gort_defer`: Go's panic/defer/recover for C.
//!
//! # Model
//! `gort_protect(fn, arg, &msg)` is Go's `func() { defer func() { recover() }(); fn(arg) }`:
//! it runs `fn` and reports whether it panicked. `gort_defer(f, a)` registers `f(a)` to run
//! when the innermost active `gort_protect` ends (or, outside any, when the goroutine ends),
//! last registered first.
//!
//! # Mechanism
//! Each goroutine (or, on a thread the runtime does not own, each thread) has a
//! [`PanicState`]: a stack of protect frames and a stack of deferred calls, each frame
//! remembering how many defers existed when it began (`defer_base`). A protect frame saves
//! a resumable context with `arch::protect_call`, which is `setjmp` written with our own
//! context-switch layout. `gort_panic`:
//! 1. records the message,
//! 2. pops and runs the innermost frame's defers, LIFO (a deferred call that panics again
//!    simply continues this loop with the new message),
//! 3. pops the frame and switches to its saved context, making `protect_call` return 1.
//!
//! The C frames between the protect and the panic are abandoned exactly as `longjmp`
//! abandons them (C++ destructors in them do not run). With no frame left, the goroutine's
//! remaining defers run and the process prints `panic: MSG` and `goroutine N [running]:`
//! and exits 2, as Go does. `gort_goexit` runs every defer, outermost frames included.
//!
//! Rejected: Rust unwinding (cannot cross C frames compiled without unwind tables, and is
//! undefined behaviour through `extern "C"`), and libc `setjmp` (Rust cannot call a
//! returns-twice function soundly).

use std::alloc::Layout;
use std::cell::{Cell, UnsafeCell};
use std::ffi::{CStr, CString, c_char, c_void};
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

pub(crate) type CFn = unsafe extern "C" fn(*mut c_void);

struct Frame {
    /// Where `protect_call` stored the resumable context's stack pointer.
    sp_slot: *mut *mut u8,
    defer_base: usize,
}

struct Defer {
    f: CFn,
    arg: *mut c_void,
}

/// The deferred calls of a goroutine or thread: a stack that only its owner changes and
/// that the collector reads, with the world stopped, in whatever state a stopped owner
/// left it (their arguments are roots: `gc/roots.rs`). So the length is published after
/// the element is written, and a new buffer is published before the old one is freed:
/// every frozen state shows `len` valid elements in `buf`.
struct DeferStack {
    /// `cap` elements (null while `cap` is 0). Replaced only by the owner.
    buf: AtomicPtr<Defer>,
    /// Owner only.
    cap: usize,
    /// Elements in use; stored by the owner after writing them (Release).
    len: AtomicUsize,
}

impl DeferStack {
    const fn new() -> DeferStack {
        DeferStack { buf: AtomicPtr::new(ptr::null_mut()), cap: 0, len: AtomicUsize::new(0) }
    }

    fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    fn capacity(&self) -> usize {
        self.cap
    }

    fn push(&mut self, d: Defer) {
        let len = self.len();
        if len == self.cap {
            self.resize((self.cap * 2).max(4));
        }
        // SAFETY: len < cap: a slot of our buffer, outside the published prefix.
        unsafe { self.buf.load(Ordering::Relaxed).add(len).write(d) };
        self.len.store(len + 1, Ordering::Release);
    }

    fn pop(&mut self) -> Option<Defer> {
        let len = self.len().checked_sub(1)?;
        self.len.store(len, Ordering::Release);
        // SAFETY: element `len` was written by `push` and is no longer published.
        Some(unsafe { self.buf.load(Ordering::Relaxed).add(len).read() })
    }

    fn clear(&mut self) {
        self.len.store(0, Ordering::Release);
    }

    /// Moves the elements to a buffer of `cap` (>= len) elements, or frees the buffer
    /// when `cap` is 0 (and the stack is empty).
    fn resize(&mut self, cap: usize) {
        let len = self.len();
        debug_assert!(cap >= len);
        let new = if cap == 0 {
            ptr::null_mut()
        } else {
            let layout = Layout::array::<Defer>(cap).unwrap_or_else(|_| crate::fatal::fatal("gort_defer: too many"));
            // SAFETY: non-zero size.
            let p = unsafe { std::alloc::alloc(layout) } as *mut Defer;
            if p.is_null() {
                std::alloc::handle_alloc_error(layout);
            }
            // SAFETY: both buffers hold at least len elements and are distinct.
            unsafe { ptr::copy_nonoverlapping(self.buf.load(Ordering::Relaxed), p, len) };
            p
        };
        // Published before the old buffer goes.
        let old = self.buf.swap(new, Ordering::Release);
        if !old.is_null() {
            // SAFETY: allocated by an earlier resize with this capacity.
            unsafe { std::alloc::dealloc(old as *mut u8, Layout::array::<Defer>(self.cap).expect("was allocated")) };
        }
        self.cap = cap;
    }

    /// For the collector: the published elements as one byte range.
    ///
    /// # Safety
    /// The owner is stopped or is the caller.
    unsafe fn for_each_held_range(&self, f: &mut dyn FnMut(*const u8, usize)) {
        let len = self.len.load(Ordering::Acquire);
        let buf = self.buf.load(Ordering::Acquire);
        if len != 0 && !buf.is_null() {
            f(buf as *const u8, len * size_of::<Defer>());
        }
    }
}

impl Drop for DeferStack {
    fn drop(&mut self) {
        self.clear();
        self.resize(0);
    }
}

/// Defer and protect bookkeeping of one goroutine or foreign thread. Only its owner
/// changes it; the collector reads its deferred calls ([`for_each_held_range`]).
pub(crate) struct PanicState {
    frames: Vec<Frame>,
    defers: DeferStack,
    /// The panic in flight (while its defers run).
    panicking: Option<CString>,
    /// The message of the last recovered panic, handed to `gort_protect`'s caller; valid
    /// until the next recovered panic or the end of the goroutine.
    last_msg: Option<CString>,
}

/// Defer and protect entries whose buffers a recycled goroutine keeps (see `reset`).
const KEEP_ON_RESET: usize = 64;

impl Default for PanicState {
    fn default() -> Self {
        PanicState::new()
    }
}

impl PanicState {
    pub(crate) const fn new() -> PanicState {
        PanicState { frames: Vec::new(), defers: DeferStack::new(), panicking: None, last_msg: None }
    }

    /// Forgets everything (the goroutine ended).
    pub(crate) fn reset(&mut self) {
        // A recycled goroutine keeps small buffers for the next one, but not what a one-off
        // deep chain of defers or protects grew: dead descriptors are kept for good.
        if self.frames.capacity() > KEEP_ON_RESET {
            self.frames = Vec::new();
        }
        self.frames.clear();
        self.defers.clear();
        if self.defers.capacity() > KEEP_ON_RESET {
            self.defers.resize(0);
        }
        self.panicking = None;
        self.last_msg = None;
    }
}

/// The deferred calls of `st`, for the collector (`gc::roots::for_each_root`).
///
/// # Safety
/// `st` is a live panic state (a G's, never freed, or one registered in
/// `gc::roots::THREAD_DEFERS`) and its owner is stopped.
pub(crate) unsafe fn for_each_held_range(st: *const PanicState, f: &mut dyn FnMut(*const u8, usize)) {
    // SAFETY: per the contract; only the defer stack is read, which is valid in any state
    // a stopped owner leaves it in.
    unsafe { (*st).defers.for_each_held_range(f) };
}

/// A thread's panic state, and its entry in the collector's registry once the thread
/// has deferred a call (`THREAD_DEFERS`), removed when the thread exits.
struct ThreadPanic {
    state: UnsafeCell<PanicState>,
    /// Only the owning thread touches it.
    root: Cell<Option<crate::gc::roots::Slot>>,
}

impl Drop for ThreadPanic {
    fn drop(&mut self) {
        // A thread-exit destructor, outside any export: runtime code for TSan.
        let _runtime = crate::sched::tsan::InRuntime::enter();
        // Before the state (and its defer buffer) goes.
        if let Some(slot) = self.root.take() {
            crate::gc::roots::THREAD_DEFERS.remove(slot);
        }
    }
}

thread_local! {
    static THREAD_STATE: ThreadPanic = const {
        ThreadPanic { state: UnsafeCell::new(PanicState::new()), root: Cell::new(None) }
    };
}

/// The caller's panic state: its goroutine's, or its thread's on a foreign thread.
/// Callers keep the pointer only across code that cannot switch goroutines, or across
/// code that returns to the same goroutine (whose state does not move).
fn state() -> *mut PanicState {
    let g = crate::sched::current_g();
    if !g.is_null() {
        // SAFETY: Gs are never freed; the G's panic state is touched only by the G itself.
        let slot = unsafe { &mut *(*g).panic.get() };
        if slot.is_none() {
            let fresh = Box::new(PanicState::new());
            // The collector may read the slot at any instruction: the state is complete
            // before the pointer to it is stored.
            std::sync::atomic::compiler_fence(Ordering::Release);
            *slot = Some(fresh);
        }
        return &mut **slot.as_mut().expect("set above");
    }
    THREAD_STATE.with(|s| s.state.get())
}

/// Registers the calling thread's panic state with the collector (once), so that its
/// deferred calls' arguments are roots.
fn register_thread_state() {
    THREAD_STATE.with(|s| {
        if s.root.get().is_none() {
            match crate::gc::roots::THREAD_DEFERS.add(s.state.get() as *const u8, 0) {
                Some(slot) => s.root.set(Some(slot)),
                None => crate::fatal::fatal("gort_defer: out of memory"),
            }
        }
    });
}

/// The caller's panic state if it has one (no allocation).
fn state_if_any() -> Option<*mut PanicState> {
    let g = crate::sched::current_g();
    if !g.is_null() {
        // SAFETY: as in `state`.
        return unsafe { (*(*g).panic.get()).as_mut() }.map(|b| &mut **b as *mut PanicState);
    }
    Some(THREAD_STATE.with(|s| s.state.get()))
}

/// `gort_protect`: 0 if `f` returned, 1 if it panicked (message in `*msg_out`).
pub(crate) fn protect(f: CFn, arg: *mut c_void, msg_out: *mut *const c_char) -> i32 {
    let st = state();
    let mut slot: *mut u8 = ptr::null_mut();
    // SAFETY: st is our own state (see `state`); no other reference to it is live.
    let base = unsafe {
        let s = &mut *st;
        s.frames.push(Frame { sp_slot: &mut slot, defer_base: s.defers.len() });
        s.defers.len()
    };
    let mut r = protect_on_own_fiber(&mut slot, f, arg, true);
    if r == 0 {
        // Normal return: this frame's defers run while the frame is still active, so a
        // deferred call that panics is caught here. protect_call's saved context died when
        // it returned, so they run under a fresh one (re-armed in the same slot).
        let mut job = DeferJob { st, base };
        // `job` outlives the call.
        r = protect_on_own_fiber(&mut slot, run_defers_job, &mut job as *mut DeferJob as *mut c_void, false);
        if r == 0 {
            // SAFETY: as above.
            unsafe { (*st).frames.pop() };
            return 0;
        }
    }
    // A panic jumped here; gort_panic already ran the defers and popped the frame.
    if !msg_out.is_null() {
        // SAFETY: msg_out was checked non-null; st is ours.
        unsafe { *msg_out = (*st).last_msg.as_ref().map_or(ptr::null(), |m| m.as_ptr()) };
    }
    1
}

/// `arch::protect_call` of `f` on a fiber of its own for TSan (see
/// `tsan::on_own_fiber`); `program`: `f` is program code, observed by TSan.
fn protect_on_own_fiber(slot: &mut *mut u8, f: CFn, arg: *mut c_void, program: bool) -> usize {
    let g = if cfg!(feature = "tsan") { crate::sched::current_g() } else { ptr::null_mut() };
    // SAFETY: Gs are never freed; the slot is only touched by the M running the G.
    let fiber = (!g.is_null()).then(|| unsafe { &(*g).tsan_fiber });
    // The child fiber starts outside the runtime: program code runs as it is; runtime
    // code enters the runtime for the call. A panic's jump lands inside the runtime.
    crate::sched::tsan::on_own_fiber(fiber, || {
        if !program {
            crate::sched::tsan::enter_runtime();
        }
        // SAFETY: f is the caller's function (or the runtime's); `slot` lives in the
        // caller's frame for the whole call, and any jump to it comes from gort_panic on
        // this same stack while the call is active.
        let r = unsafe { crate::arch::protect_call(slot, f, arg) };
        if !program || r != 0 {
            crate::sched::tsan::end_runtime_after_jump();
        }
        r
    })
}

struct DeferJob {
    st: *mut PanicState,
    base: usize,
}

unsafe extern "C" fn run_defers_job(job: *mut c_void) {
    // SAFETY: `protect` passes a live DeferJob.
    let job = unsafe { &*(job as *const DeferJob) };
    run_defers_above(job.st, job.base);
}

fn run_defers_above(st: *mut PanicState, base: usize) {
    loop {
        // SAFETY: st is our own state; the borrow ends before the deferred call runs.
        let d = unsafe {
            let s = &mut *st;
            if s.defers.len() <= base {
                return;
            }
            s.defers.pop().expect("len checked")
        };
        // SAFETY: registered by gort_defer with this argument.
        crate::sched::tsan::user_call(|| unsafe { (d.f)(d.arg) });
    }
}

/// `gort_defer`.
pub(crate) fn defer(f: CFn, arg: *mut c_void) {
    let st = state();
    // SAFETY: st is our own state.
    let s = unsafe { &mut *st };
    if !crate::sched::in_goroutine() {
        if s.frames.is_empty() {
            panic_msg(c"gort_defer outside gort_protect on a thread the runtime does not own".to_owned());
        }
        register_thread_state();
    }
    s.defers.push(Defer { f, arg });
}

/// Whether the caller's goroutine (or thread) is running the deferred calls of a panic
/// that has not been recovered yet.
pub(crate) fn panicking() -> bool {
    match state_if_any() {
        // SAFETY: our own state; only read.
        Some(st) => unsafe { (*st).panicking.is_some() },
        None => false,
    }
}

/// `gort_panic`.
pub(crate) fn panic(msg: *const c_char) -> ! {
    let owned = if msg.is_null() {
        // Go 1.21+'s message for panic(nil).
        c"panic called with nil argument".to_owned()
    } else {
        // SAFETY: the caller passes a NUL-terminated string (checked non-null).
        unsafe { CStr::from_ptr(msg) }.to_owned()
    };
    panic_msg(owned)
}

/// Raises a gort panic with an owned message (also used by the runtime for Go's
/// programming errors, e.g. a send on a closed channel).
pub(crate) fn panic_msg(msg: CString) -> ! {
    let st = state();
    // SAFETY: st is our own state; the borrow ends before anything is called.
    unsafe { (*st).panicking = Some(msg) };
    loop {
        // SAFETY: as above.
        let next = unsafe {
            let s = &mut *st;
            match s.frames.last() {
                None => None,
                Some(fr) if s.defers.len() > fr.defer_base => Some(Ok(s.defers.pop().expect("len checked"))),
                Some(_) => Some(Err(s.frames.pop().expect("last checked"))),
            }
        };
        match next {
            // SAFETY: registered by gort_defer with this argument.
            Some(Ok(d)) => crate::sched::tsan::user_call(|| unsafe { (d.f)(d.arg) }),
            Some(Err(frame)) => {
                // SAFETY: as above; then resume the protect's saved context, which lives on
                // this same stack below us (its protect_call is still active).
                unsafe {
                    let s = &mut *st;
                    s.last_msg = s.panicking.take();
                    let target = *frame.sp_slot;
                    let mut scratch: *mut u8 = ptr::null_mut();
                    crate::sched::asan::handle_no_return();
                    crate::arch::switch(&mut scratch, target, 1);
                }
                unreachable!("a protect frame resumed into a panic");
            }
            None => break,
        }
    }
    // Unrecovered: the goroutine's own defers run first, as in Go.
    loop {
        // SAFETY: as above.
        let d = unsafe { (*st).defers.pop() };
        match d {
            // SAFETY: registered by gort_defer.
            Some(d) => crate::sched::tsan::user_call(|| unsafe { (d.f)(d.arg) }),
            None => break,
        }
    }
    // SAFETY: as above.
    let text = unsafe { (*st).panicking.take() }.map(|m| m.to_string_lossy().into_owned()).unwrap_or_default();
    let goid = crate::sched::goid();
    crate::fatal::write_stderr(format!("panic: {text}\n").as_bytes());
    if goid == 0 {
        crate::fatal::write_stderr(b"\ngoroutine 0 [running]:\n\t(on a thread the runtime does not own)\n");
    }
    use crate::debug::traceback::{Current, Scope, crash_dump, crash_if_asked};
    let level = crash_dump(2, Scope::Current, Current::Here);
    crash_if_asked(level);
    crate::fatal::exit2()
}

/// Runs every pending deferred call of the goroutine (gort_goexit and normal goroutine
/// end), innermost first. Protect frames are discarded: gort_goexit is not recoverable.
pub(crate) fn run_all_defers() {
    let Some(st) = state_if_any() else { return };
    // SAFETY: our own state.
    unsafe { (*st).frames.clear() };
    run_defers_above(st, 0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn reset_keeps_small_buffers_and_drops_grown_ones() {
        let mut ps = PanicState::new();
        ps.defers.resize(8);
        let small = ps.defers.capacity();
        ps.reset();
        assert_eq!(ps.defers.capacity(), small);
        ps.defers.resize(10 * KEEP_ON_RESET);
        ps.frames.reserve(10 * KEEP_ON_RESET);
        ps.reset();
        assert!(ps.defers.capacity() <= KEEP_ON_RESET && ps.frames.capacity() <= KEEP_ON_RESET);
    }

    static ORDER: AtomicUsize = AtomicUsize::new(0);

    unsafe extern "C" fn record(arg: *mut c_void) {
        let v = arg as usize;
        ORDER.store(ORDER.load(Ordering::SeqCst) * 10 + v, Ordering::SeqCst);
    }
    unsafe extern "C" fn body_panics(_: *mut c_void) {
        defer(record, std::ptr::dangling_mut::<c_void>());
        defer(record, 2 as *mut c_void);
        panic(c"boom".as_ptr());
    }
    unsafe extern "C" fn body_returns(_: *mut c_void) {
        defer(record, 3 as *mut c_void);
        defer(record, 4 as *mut c_void);
    }

    static SAW_PANICKING: AtomicUsize = AtomicUsize::new(0);

    unsafe extern "C" fn record_panicking(_: *mut c_void) {
        SAW_PANICKING.store(1 + usize::from(panicking()), Ordering::SeqCst);
    }
    unsafe extern "C" fn defer_then_panic(_: *mut c_void) {
        defer(record_panicking, ptr::null_mut());
        panic(c"boom".as_ptr());
    }
    unsafe extern "C" fn defer_then_return(_: *mut c_void) {
        defer(record_panicking, ptr::null_mut());
    }

    #[test]
    fn panicking_only_while_a_panic_runs_defers() {
        let mut msg: *const c_char = ptr::null();
        assert!(!panicking());
        assert_eq!(protect(defer_then_panic, ptr::null_mut(), &mut msg), 1);
        assert_eq!(SAW_PANICKING.load(Ordering::SeqCst), 2);
        assert!(!panicking(), "a recovered panic is over");
        assert_eq!(protect(defer_then_return, ptr::null_mut(), &mut msg), 0);
        assert_eq!(SAW_PANICKING.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn protect_catches_and_runs_defers_lifo() {
        ORDER.store(0, Ordering::SeqCst);
        let mut msg: *const c_char = ptr::null();
        assert_eq!(protect(body_panics, ptr::null_mut(), &mut msg), 1);
        assert_eq!(unsafe { CStr::from_ptr(msg) }.to_str().unwrap(), "boom");
        assert_eq!(ORDER.load(Ordering::SeqCst), 21);
        ORDER.store(0, Ordering::SeqCst);
        assert_eq!(protect(body_returns, ptr::null_mut(), &mut msg), 0);
        assert_eq!(ORDER.load(Ordering::SeqCst), 43);
    }
}
