//! `gort_once`: runs a function once; every caller returns only after it has finished.
//! Fast path: one atomic load of `done`. Slow path: the mutex serialises the callers and
//! the first runs the function. As in Go (where `Do` finishes in a `defer`), a function
//! that panics or calls `gort_goexit` still counts as done and releases the others: the
//! finishing step (`done` = 1, unlock) is a deferred call registered before the function
//! runs, inside a protect frame, so it runs however the function ends; a panic is then
//! raised again.

use super::mutex::Mutex;
use crate::sched::tsan;
use std::ffi::{c_char, c_void};
use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};

#[repr(C)]
pub(crate) struct Once {
    /// 1 once the function has run (or panicked); atomic.
    done: AtomicU32,
    m: Mutex,
}

impl Default for Once {
    fn default() -> Self {
        Self::new()
    }
}

impl Once {
    pub(crate) const fn new() -> Once {
        Once { done: AtomicU32::new(0), m: Mutex::new() }
    }

    pub(crate) fn call(&self, f: crate::panic::CFn, arg: *mut c_void) {
        if self.done.load(Ordering::Acquire) != 1 {
            self.call_slow(f, arg);
        }
        // The function's effects happen before every call returns (`finish` released).
        tsan::acquire(self);
    }

    fn call_slow(&self, f: crate::panic::CFn, arg: *mut c_void) {
        self.m.lock();
        if self.done.load(Ordering::Relaxed) == 1 {
            self.m.unlock();
            return;
        }
        let mut job = Job { once: self, f, arg };
        let mut msg: *const c_char = ptr::null();
        let panicked = crate::panic::protect(run_job, &mut job as *mut Job as *mut c_void, &mut msg);
        // `finish` has run by now (normal return or panic); a goexit never gets here.
        if panicked != 0 {
            let owned = if msg.is_null() {
                c"nil".to_owned()
            } else {
                // SAFETY: protect hands back the panic's NUL-terminated message, valid
                // until the next panic on this goroutine or thread.
                unsafe { std::ffi::CStr::from_ptr(msg) }.to_owned()
            };
            crate::panic::panic_msg(owned);
        }
    }
}

struct Job<'a> {
    once: &'a Once,
    f: crate::panic::CFn,
    arg: *mut c_void,
}

/// Runs inside `protect`: registers `finish` first, then calls the user's function.
unsafe extern "C" fn run_job(job: *mut c_void) {
    // SAFETY: `call_slow` passes its live Job; it outlives the protect call, and a goexit
    // runs the deferred `finish` before this frame is abandoned.
    let job = unsafe { &*(job as *const Job) };
    crate::panic::defer(finish, job.once as *const Once as *mut c_void);
    // SAFETY: the caller's function and argument, as given to gort_once_do.
    unsafe { (job.f)(job.arg) };
}

/// Deferred: marks the Once done and lets the waiting callers go.
unsafe extern "C" fn finish(once: *mut c_void) {
    // SAFETY: registered with a live Once whose mutex the running caller holds.
    let once = unsafe { &*(once as *const Once) };
    tsan::release(once);
    once.done.store(1, Ordering::Release);
    once.m.unlock();
}
