//! `gort_waitgroup`: Go's WaitGroup. One 64-bit word holds the counter (high 32 bits)
//! and the number of waiters (low 32), so `add` sees both at once: when the counter
//! reaches zero with waiters, the adder resets the word and releases the semaphore once
//! per waiter. Misuse is a Go panic: a negative counter, an `add` racing a `wait` at zero,
//! or reuse before the previous `wait` has returned.

use super::semtable::{semacquire, semrelease};
use crate::sched::NO_DEADLINE;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

#[repr(C)]
pub struct WaitGroup {
    /// counter << 32 | waiters; atomic.
    state: AtomicU64,
    /// Waiters sleep here.
    sema: AtomicU32,
}

fn go_panic(msg: &'static std::ffi::CStr) -> ! {
    crate::panic::panic_msg(msg.to_owned())
}

impl Default for WaitGroup {
    fn default() -> Self {
        Self::new()
    }
}

impl WaitGroup {
    pub const fn new() -> WaitGroup {
        WaitGroup { state: AtomicU64::new(0), sema: AtomicU32::new(0) }
    }

    pub fn add(&self, delta: i64) {
        if delta < i32::MIN as i64 || delta > i32::MAX as i64 {
            go_panic(c"sync: WaitGroup delta out of range");
        }
        let state = self.state.fetch_add((delta as u64) << 32, Ordering::AcqRel).wrapping_add((delta as u64) << 32);
        let v = (state >> 32) as i32;
        let w = state as u32;
        if v < 0 {
            go_panic(c"sync: negative WaitGroup counter");
        }
        if w != 0 && delta > 0 && v as i64 == delta {
            go_panic(c"sync: WaitGroup misuse: Add called concurrently with Wait");
        }
        if v > 0 || w == 0 {
            return;
        }
        // Counter zero with waiters: nobody may change the word now (they would be
        // misusing it); wake them all.
        if self.state.load(Ordering::Acquire) != state {
            go_panic(c"sync: WaitGroup misuse: Add called concurrently with Wait");
        }
        self.state.store(0, Ordering::Release);
        for _ in 0..w {
            semrelease(&self.sema, false);
        }
    }

    pub fn done(&self) {
        self.add(-1)
    }

    pub fn wait(&self) {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if state >> 32 == 0 {
                return;
            }
            match self.state.compare_exchange_weak(state, state + 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    semacquire(&self.sema, false, "sync.WaitGroup.Wait", NO_DEADLINE);
                    if self.state.load(Ordering::Acquire) != 0 {
                        go_panic(c"sync: WaitGroup is reused before previous Wait has returned");
                    }
                    return;
                }
                Err(cur) => state = cur,
            }
        }
    }
}
