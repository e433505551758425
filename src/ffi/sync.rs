//! "Sync". The C types are fixed-size opaque structs with the exact size and alignment
//! of the core types (checked at compile time below); all-zero bytes are a valid,
//! unlocked/empty value, so `= {0}`, static storage or the `GORT_*_INIT` macros work.
//! Caller mistakes follow the rule in the header's preamble: the `void` functions panic
//! for a NULL object (`gort_mutex_lock: nil mutex`), as a nil pointer dereference does in
//! Go; the `int` ones return `GORT_EINVAL`.

use super::error::{GORT_EAGAIN, GORT_EINVAL, GORT_ENOMEM, GORT_ETIMEDOUT};
use crate::gc::roots::HeldRoot;
use crate::sync::{AcquireError, Cond, Mutex, Once, RwMutex, Sema, WaitGroup};
use std::ffi::{CString, c_int, c_void};

/// A mutual exclusion lock (Go's `sync.Mutex`). Zero value: unlocked.
#[repr(C)]
pub struct gort_mutex {
    _opaque: [u32; 2],
}
/// A reader/writer lock (Go's `sync.RWMutex`). Zero value: unlocked.
#[repr(C)]
pub struct gort_rwmutex {
    _opaque: [u32; 6],
}
/// A condition variable, used with a `gort_mutex`. Zero value: ready.
#[repr(C)]
pub struct gort_cond {
    _opaque: [u32; 2],
}
/// A wait group (Go's `sync.WaitGroup`). Zero value: counter 0.
#[repr(C)]
pub struct gort_waitgroup {
    _opaque: [u64; 3],
}
/// Runs a function once (Go's `sync.Once`). Zero value: not run yet.
#[repr(C)]
pub struct gort_once {
    _opaque: [u32; 3],
}
/// A counting semaphore. Zero value: count 0 (`gort_sema_init` sets another).
#[repr(C)]
pub struct gort_sema {
    _opaque: [u64; 1],
}

macro_rules! same_layout {
    ($c:ty, $core:ty) => {
        const _: () = assert!(size_of::<$c>() == size_of::<$core>() && align_of::<$c>() == align_of::<$core>());
    };
}
same_layout!(gort_mutex, Mutex);
same_layout!(gort_rwmutex, RwMutex);
same_layout!(gort_cond, Cond);
same_layout!(gort_waitgroup, WaitGroup);
same_layout!(gort_once, Once);
same_layout!(gort_sema, Sema);

/// What a C sync type is called in the panic message for a NULL one.
trait Noun {
    const NOUN: &'static str;
}
impl Noun for gort_mutex {
    const NOUN: &'static str = "mutex";
}
impl Noun for gort_rwmutex {
    const NOUN: &'static str = "rwmutex";
}
impl Noun for gort_cond {
    const NOUN: &'static str = "cond";
}
impl Noun for gort_waitgroup {
    const NOUN: &'static str = "waitgroup";
}
impl Noun for gort_once {
    const NOUN: &'static str = "once";
}
impl Noun for gort_sema {
    const NOUN: &'static str = "sema";
}

/// The core value behind a C pointer, or a gort panic for NULL: `gort_xxx: nil mutex`.
fn core<'a, C: Noun, T>(p: *mut C, func: &str) -> &'a T {
    if p.is_null() {
        crate::panic::panic_msg(CString::new(format!("{func}: nil {}", C::NOUN)).expect("no NUL"));
    }
    // SAFETY: non-null and, per the API contract, pointing to a value of the C type, which
    // has T's size and alignment (checked above); T is made of atomics, valid for any
    // bit pattern the C side can produce by zeroing or by our own operations.
    unsafe { &*(p as *const T) }
}

/// Locks `m`, parking the goroutine (or blocking the thread) while another holds it.
///
/// Example:
///
/// ```c
/// #include <gort.h>
///
/// static gort_mutex mu = GORT_MUTEX_INIT;
/// static gort_waitgroup wg = GORT_WAITGROUP_INIT;
/// static long counter;            // protected by mu
///
/// static void add(void *arg) {
///     (void)arg;
///     for (int i = 0; i < 1000; i++) {
///         gort_mutex_lock(&mu);
///         counter++;
///         gort_mutex_unlock(&mu);
///     }
///     gort_waitgroup_done(&wg);
/// }
///
/// int main(void) {
///     gort_waitgroup_add(&wg, 10);
///     for (int i = 0; i < 10; i++) gort_go(add, NULL);
///     gort_waitgroup_wait(&wg);
///     return counter == 10000 ? 0 : 1;
/// }
/// ```
#[unsafe(no_mangle)]
pub extern "C" fn gort_mutex_lock(m: *mut gort_mutex) {
    guard!("gort_mutex_lock", { core::<_, Mutex>(m, "gort_mutex_lock").lock() })
}

/// Locks `m` if it is free right now: 1 if it did, 0 if not, `GORT_EINVAL` if `m` is
/// NULL (so test for `== 1`).
#[unsafe(no_mangle)]
pub extern "C" fn gort_mutex_trylock(m: *mut gort_mutex) -> c_int {
    guard!("gort_mutex_trylock", {
        if m.is_null() {
            return GORT_EINVAL;
        }
        core::<_, Mutex>(m, "gort_mutex_trylock").try_lock() as c_int
    })
}

/// Unlocks `m`. Any goroutine or thread may unlock a locked mutex (as in Go); unlocking
/// an unlocked one is a fatal error: `fatal error: sync: unlock of unlocked mutex`.
#[unsafe(no_mangle)]
pub extern "C" fn gort_mutex_unlock(m: *mut gort_mutex) {
    guard!("gort_mutex_unlock", { core::<_, Mutex>(m, "gort_mutex_unlock").unlock() })
}

/// Locks `m` for reading; waits while a writer holds it or is waiting for it.
#[unsafe(no_mangle)]
pub extern "C" fn gort_rwmutex_rlock(m: *mut gort_rwmutex) {
    guard!("gort_rwmutex_rlock", { core::<_, RwMutex>(m, "gort_rwmutex_rlock").rlock() })
}

/// Undoes one `gort_rwmutex_rlock` (fatal error if `m` is not read-locked).
#[unsafe(no_mangle)]
pub extern "C" fn gort_rwmutex_runlock(m: *mut gort_rwmutex) {
    guard!("gort_rwmutex_runlock", { core::<_, RwMutex>(m, "gort_rwmutex_runlock").runlock() })
}

/// Locks `m` for writing. From the moment a writer waits, new readers wait behind it.
#[unsafe(no_mangle)]
pub extern "C" fn gort_rwmutex_lock(m: *mut gort_rwmutex) {
    guard!("gort_rwmutex_lock", { core::<_, RwMutex>(m, "gort_rwmutex_lock").lock() })
}

/// Unlocks a write-locked `m` (fatal error if it is not write-locked).
#[unsafe(no_mangle)]
pub extern "C" fn gort_rwmutex_unlock(m: *mut gort_rwmutex) {
    guard!("gort_rwmutex_unlock", { core::<_, RwMutex>(m, "gort_rwmutex_unlock").unlock() })
}

/// Read-locks `rw` if that needs no waiting (Go's `TryRLock`): 1 if it did, 0 if a writer
/// holds `rw` or waits for it, `GORT_EINVAL` if `rw` is NULL. Undo with
/// `gort_rwmutex_runlock`.
#[unsafe(no_mangle)]
pub extern "C" fn gort_rwmutex_tryrlock(rw: *mut gort_rwmutex) -> c_int {
    guard!("gort_rwmutex_tryrlock", {
        if rw.is_null() {
            return GORT_EINVAL;
        }
        core::<_, RwMutex>(rw, "gort_rwmutex_tryrlock").try_rlock() as c_int
    })
}

/// Write-locks `rw` if that needs no waiting (Go's `TryLock`): 1 if it did, 0 if a reader
/// or writer holds `rw` or a writer waits for it, `GORT_EINVAL` if `rw` is NULL. Undo with
/// `gort_rwmutex_unlock`.
#[unsafe(no_mangle)]
pub extern "C" fn gort_rwmutex_trylock(rw: *mut gort_rwmutex) -> c_int {
    guard!("gort_rwmutex_trylock", {
        if rw.is_null() {
            return GORT_EINVAL;
        }
        core::<_, RwMutex>(rw, "gort_rwmutex_trylock").try_lock() as c_int
    })
}

/// Atomically unlocks `m` (which the caller must hold: an unlocked one is a fatal error,
/// as in Go) and waits for a signal, then locks `m` again before returning.
/// As in Go, wake-ups come only from signal/broadcast, but re-check your condition in a
/// loop: another waiter may have changed it first.
#[unsafe(no_mangle)]
pub extern "C" fn gort_cond_wait(c: *mut gort_cond, m: *mut gort_mutex) {
    guard!("gort_cond_wait", {
        let cond = core::<_, Cond>(c, "gort_cond_wait");
        cond.wait(core::<_, Mutex>(m, "gort_cond_wait"))
    })
}

/// Wakes the longest-waiting `gort_cond_wait`, if any.
#[unsafe(no_mangle)]
pub extern "C" fn gort_cond_signal(c: *mut gort_cond) {
    guard!("gort_cond_signal", { core::<_, Cond>(c, "gort_cond_signal").signal() })
}

/// Wakes every waiting `gort_cond_wait`.
#[unsafe(no_mangle)]
pub extern "C" fn gort_cond_broadcast(c: *mut gort_cond) {
    guard!("gort_cond_broadcast", { core::<_, Cond>(c, "gort_cond_broadcast").broadcast() })
}

/// Adds `delta` (may be negative) to the counter; at zero, every waiter is released.
/// Panics (Go's messages): `sync: negative WaitGroup counter` (also when the counter
/// would pass `INT32_MAX`; that add is undone), and
/// `sync: WaitGroup misuse: Add called concurrently with Wait`; also
/// `sync: WaitGroup delta out of range` for a `delta` outside 32 bits.
#[unsafe(no_mangle)]
pub extern "C" fn gort_waitgroup_add(wg: *mut gort_waitgroup, delta: i64) {
    guard!("gort_waitgroup_add", { core::<_, WaitGroup>(wg, "gort_waitgroup_add").add(delta) })
}

/// `gort_waitgroup_add(wg, -1)`.
#[unsafe(no_mangle)]
pub extern "C" fn gort_waitgroup_done(wg: *mut gort_waitgroup) {
    guard!("gort_waitgroup_done", { core::<_, WaitGroup>(wg, "gort_waitgroup_done").done() })
}

/// Waits until the counter is zero (at once if it is).
#[unsafe(no_mangle)]
pub extern "C" fn gort_waitgroup_wait(wg: *mut gort_waitgroup) {
    guard!("gort_waitgroup_wait", { core::<_, WaitGroup>(wg, "gort_waitgroup_wait").wait() })
}

/// Go's `WaitGroup.Go` (Go 1.25): adds 1 to the counter and runs `f(arg)` in a new
/// goroutine, which calls `gort_waitgroup_done(wg)` when `f` returns or ends its goroutine
/// with `gort_goexit` (after `f`'s own deferred calls). If `f` panics and nothing
/// recovers, the counter is left alone, as in Go: the panic ends the program, and a waiter
/// must not run on meanwhile. Returns as `gort_go`: 0, `GORT_ENOMEM` (then the counter is
/// as before), or `GORT_EINVAL` if `wg` or `f` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn gort_waitgroup_go(
    wg: *mut gort_waitgroup,
    f: Option<unsafe extern "C" fn(arg: *mut c_void)>,
    arg: *mut c_void,
) -> c_int {
    guard!("gort_waitgroup_go", {
        let Some(f) = f else { return GORT_EINVAL };
        if wg.is_null() {
            return GORT_EINVAL;
        }
        let group = core::<_, WaitGroup>(wg, "gort_waitgroup_go");
        group.add(1);
        let job = Box::into_raw(Box::new(GroupJob { wg: wg as *mut c_void, f, arg, held: None }));
        // Until the goroutine starts, `wg` and `arg` live only here: a root for the
        // collector.
        // SAFETY: just made, ours alone; the registered bytes are its first three fields.
        unsafe {
            match HeldRoot::new(job as *const u8, std::mem::offset_of!(GroupJob, held)) {
                Some(h) => (*job).held = Some(h),
                None => {
                    drop(Box::from_raw(job));
                    group.add(-1);
                    return GORT_ENOMEM;
                }
            }
        }
        match crate::sched::spawn(crate::sched::Entry::C(run_group_job, job as *mut c_void)) {
            Some(_) => 0,
            None => {
                // SAFETY: made just above and not handed to any goroutine.
                drop(unsafe { Box::from_raw(job) });
                group.add(-1);
                GORT_ENOMEM
            }
        }
    })
}

/// The wait group, function and argument of one `gort_waitgroup_go`.
#[repr(C)]
struct GroupJob {
    wg: *mut c_void,
    f: unsafe extern "C" fn(*mut c_void),
    arg: *mut c_void,
    /// The three fields above are a root until the goroutine has read them (dropped with
    /// the job, before its memory is freed).
    held: Option<HeldRoot>,
}

/// The goroutine of a `gort_waitgroup_go`. A C entry, not a Rust closure: `f` may leave
/// by `gort_goexit` or a panic, abandoning this frame, so nothing here may own heap
/// memory across the call.
unsafe extern "C" fn run_group_job(job: *mut c_void) {
    // SAFETY: boxed by gort_waitgroup_go for this goroutine alone; freed here.
    let boxed = unsafe { Box::from_raw(job as *mut GroupJob) };
    let job = GroupJob { held: None, ..*boxed };
    // Unregistered (its `held` dropped) before the box is freed; the values are on this
    // stack now.
    drop(boxed);
    // Registered first, so it runs last: after f's own deferred calls. It runs when the
    // goroutine ends, normally or by gort_goexit (and by a panic, where it does nothing).
    crate::panic::defer(group_job_done, job.wg);
    // SAFETY: the caller of gort_waitgroup_go promised f is callable with arg.
    unsafe { (job.f)(job.arg) };
}

/// The deferred call of a `gort_waitgroup_go` goroutine: done, unless a panic is going to
/// end the program (Go's `WaitGroup.Go` skips Done then, so `Wait` cannot return first).
unsafe extern "C" fn group_job_done(wg: *mut c_void) {
    if crate::panic::panicking() {
        return;
    }
    core::<_, WaitGroup>(wg as *mut gort_waitgroup, "gort_waitgroup_go").done()
}

/// Calls `f(arg)` if no call through `o` has happened yet; every caller returns only
/// once that call has finished. If `f` panics, `o` counts as done and the panic goes on.
#[unsafe(no_mangle)]
pub extern "C" fn gort_once_do(o: *mut gort_once, f: Option<unsafe extern "C" fn(arg: *mut c_void)>, arg: *mut c_void) {
    guard!("gort_once_do", {
        let once = core::<_, Once>(o, "gort_once_do");
        match f {
            Some(f) => once.call(f, arg),
            None => crate::panic::panic_msg(c"gort_once_do: nil function".to_owned()),
        }
    })
}

/// Sets the count of `s` (not while it is in use). Panics for a negative count.
#[unsafe(no_mangle)]
pub extern "C" fn gort_sema_init(s: *mut gort_sema, count: i64) {
    guard!("gort_sema_init", {
        let sema = core::<_, Sema>(s, "gort_sema_init");
        if count < 0 {
            crate::panic::panic_msg(c"gort_sema_init: negative count".to_owned());
        }
        sema.init(count)
    })
}

/// Takes `n` units, waiting until `deadline` for them: 0, `GORT_EAGAIN` (not available
/// and the deadline had passed on entry; 0 makes it a try), or `GORT_ETIMEDOUT`. Waiters
/// are served in arrival order (a big request is not overtaken by small ones).
/// `GORT_EINVAL` for `s == NULL` or `n <= 0`.
#[unsafe(no_mangle)]
pub extern "C" fn gort_sema_acquire(s: *mut gort_sema, n: i64, deadline: i64) -> c_int {
    guard!("gort_sema_acquire", {
        if s.is_null() || n <= 0 {
            return GORT_EINVAL;
        }
        let sema = core::<_, Sema>(s, "gort_sema_acquire");
        match sema.acquire(n, super::chan::core_deadline(deadline)) {
            Ok(()) => 0,
            Err(AcquireError::WouldBlock) => GORT_EAGAIN,
            Err(AcquireError::TimedOut) => GORT_ETIMEDOUT,
        }
    })
}

/// Returns `n` units and wakes the waiters they satisfy. Panics for `n <= 0`, and when
/// the count would pass `INT64_MAX` (`gort_sema_release: semaphore count overflow`; the
/// count is left unchanged).
#[unsafe(no_mangle)]
pub extern "C" fn gort_sema_release(s: *mut gort_sema, n: i64) {
    guard!("gort_sema_release", {
        let sema = core::<_, Sema>(s, "gort_sema_release");
        if n <= 0 {
            crate::panic::panic_msg(c"gort_sema_release: non-positive count".to_owned());
        }
        sema.release(n)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ptr;

    unsafe extern "C" fn defer_done_then_panic(wg: *mut c_void) {
        crate::panic::defer(group_job_done, wg);
        crate::panic::panic_msg(c"fn panicked".to_owned());
    }
    unsafe extern "C" fn defer_done_then_return(wg: *mut c_void) {
        crate::panic::defer(group_job_done, wg);
    }
    unsafe extern "C" fn take_one(wg: *mut c_void) {
        // SAFETY: the test passes its live WaitGroup.
        unsafe { &*(wg as *const WaitGroup) }.add(-1);
    }

    /// `gort_waitgroup_go`'s deferred done does nothing while a panic runs the defers (the
    /// counter stays 1: taking one succeeds) and is a done otherwise (the counter is 0:
    /// taking one is the negative-counter panic). The C test of the panic case cannot see
    /// this: the panicking goroutine exits before a woken waiter could run.
    #[test]
    fn group_job_done_skips_only_a_panic() {
        let wg = WaitGroup::new();
        let p = &wg as *const WaitGroup as *mut c_void;
        let mut msg = ptr::null();
        wg.add(1);
        assert_eq!(crate::panic::protect(defer_done_then_panic, p, &mut msg), 1);
        assert_eq!(crate::panic::protect(take_one, p, &mut msg), 0);
        wg.add(1);
        assert_eq!(crate::panic::protect(defer_done_then_return, p, &mut msg), 0);
        assert_eq!(crate::panic::protect(take_one, p, &mut msg), 1);
    }
}
