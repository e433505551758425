//! `gort_once`: runs a function once; every caller returns only after it has finished.
//! Fast path: one atomic load of `done`. Slow path: the mutex serialises the callers and
//! the first runs the function. As in Go, a function that panics counts as done: the
//! panic is caught, `done` set, the mutex unlocked, and the panic raised again.

use super::mutex::Mutex;
use std::ffi::{c_char, c_void};
use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};

#[repr(C)]
pub struct Once {
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
    pub const fn new() -> Once {
        Once { done: AtomicU32::new(0), m: Mutex::new() }
    }

    pub fn call(&self, f: crate::panic::CFn, arg: *mut c_void) {
        if self.done.load(Ordering::Acquire) == 1 {
            return;
        }
        self.call_slow(f, arg)
    }

    fn call_slow(&self, f: crate::panic::CFn, arg: *mut c_void) {
        self.m.lock();
        if self.done.load(Ordering::Relaxed) == 1 {
            self.m.unlock();
            return;
        }
        let mut msg: *const c_char = ptr::null();
        let panicked = crate::panic::protect(f, arg, &mut msg);
        self.done.store(1, Ordering::Release);
        self.m.unlock();
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
