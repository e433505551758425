//! "Sync". The C types are fixed-size opaque structs with the exact size and alignment
//! of the core types (checked at compile time below); all-zero bytes are a valid,
//! unlocked/empty value, so `= {0}`, static storage or the `GORT_*_INIT` macros work.
//! A NULL pointer is a gort panic, as a nil pointer dereference is in Go.

use super::error::{GORT_EAGAIN, GORT_EINVAL, GORT_ETIMEDOUT};
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

/// The core value behind a C pointer, or a gort panic naming the function for NULL.
fn core<'a, C, T>(p: *mut C, func: &str) -> &'a T {
    if p.is_null() {
        crate::panic::panic_msg(CString::new(format!("{func}: nil pointer")).expect("no NUL"));
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

/// Locks `m` if it is free right now: 1 if it did, 0 if not.
#[unsafe(no_mangle)]
pub extern "C" fn gort_mutex_trylock(m: *mut gort_mutex) -> c_int {
    guard!("gort_mutex_trylock", { core::<_, Mutex>(m, "gort_mutex_trylock").try_lock() as c_int })
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

/// Atomically unlocks `m` and waits for a signal, then locks `m` again before returning.
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
/// Panics (Go's messages): `sync: negative WaitGroup counter`, and
/// `sync: WaitGroup misuse: Add called concurrently with Wait`.
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

/// Returns `n` units and wakes the waiters they satisfy. Panics for `n <= 0`.
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
