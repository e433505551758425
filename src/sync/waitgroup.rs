//! `gort_waitgroup`: Go's WaitGroup. One 64-bit word holds the counter (high 32 bits)
//! and the waiters (low 32), so `add` sees both at once: when the counter reaches zero
//! with waiters, the adder resets the word and wakes them. Misuse is a Go panic: a
//! negative counter, an `add` racing a `wait` at zero, or reuse before the previous
//! `wait` has returned.
//!
//! # The waiter slot
//! The common case is one goroutine waiting (a fork/join node waits for its children).
//! It does not go through the semaphore table: it parks in the WaitGroup's own `slot`,
//! and the `add` that brings the counter to zero wakes it directly (claim and wake of its
//! wait word), with no bucket lock and no hash-map insert and remove. Other waiters — a
//! second one while the slot is taken, threads the runtime does not own — sleep on the
//! semaphore table as before. The low 32 bits of the state are `SLOT` (bit 31: a
//! goroutine is parked in the slot) and the number of waiters in the table (bits 0–30).
//!
//! Publishing in the slot happens in the park callback, when the goroutine has switched
//! out and is WAITING, so the waker may ready it the moment it sees `SLOT`:
//! 1. CAS `slot` null → G (fails if another goroutine holds the slot: cancel the park and
//!    use the table);
//! 2. CAS `state` to set `SLOT`, only while the counter is > 0 and `SLOT` is clear;
//!    otherwise give the slot back (store null) and cancel the park (the counter reached
//!    zero meanwhile: return). After this CAS the callback touches nothing: the waiter may
//!    already be running and the WaitGroup (often on its stack) gone.
//!
//! The adder that finds counter 0 with `SLOT` set owns the slot: it reads the G, clears
//! the slot, resets the state, releases the table waiters, and wakes the slot's G last,
//! so nothing of the WaitGroup is touched once its owner may return from `wait`. While
//! `SLOT` is set only that adder writes the slot; while it is clear only a waiter that
//! won step 1 does. The protocol is the generic [`slot`] module, model-checked by loom.
//!
//! Rejected: a list of waiters inside the WaitGroup (it needs a lock, or a lock-free stack
//! whose nodes live on the waiters' stacks: an ABA mess); several slots (one waiter is
//! the case that matters; a second one pays the table, as every waiter did before).

use super::semtable::{semacquire, semrelease};
use crate::sched::tsan;
use crate::sched::{G, NO_DEADLINE, Waiter, Woken};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

#[repr(C)]
pub(crate) struct WaitGroup {
    /// counter << 32 | SLOT | table waiters; atomic.
    state: AtomicU64,
    /// The goroutine parked in the slot (`*mut G`), 0 when free. See the module notes.
    slot: AtomicU64,
    /// Waiters in the semaphore table sleep here.
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

/// The slot protocol, generic over the atomics so that the loom model checks this code.
pub(crate) mod slot {
    use std::sync::atomic::Ordering;

    /// A goroutine waits in the slot (bit 31 of the state's low half).
    pub(crate) const SLOT: u64 = 1 << 31;

    pub(crate) trait Word {
        fn load(&self, o: Ordering) -> u64;
        fn store(&self, v: u64, o: Ordering);
        fn cas(&self, cur: u64, new: u64, ok: Ordering) -> Result<u64, u64>;
    }

    impl Word for std::sync::atomic::AtomicU64 {
        #[inline]
        fn load(&self, o: Ordering) -> u64 {
            std::sync::atomic::AtomicU64::load(self, o)
        }
        #[inline]
        fn store(&self, v: u64, o: Ordering) {
            std::sync::atomic::AtomicU64::store(self, v, o)
        }
        #[inline]
        fn cas(&self, cur: u64, new: u64, ok: Ordering) -> Result<u64, u64> {
            self.compare_exchange(cur, new, ok, Ordering::Relaxed)
        }
    }

    /// The park callback's half: publishes `g` (non-zero) in the slot. True: published,
    /// the caller must not touch `state` or `slot` again. False: not published (the slot
    /// is taken, the counter is zero, or a slot waiter is still being woken).
    #[inline]
    pub(crate) fn publish(state: &impl Word, slot: &impl Word, g: u64) -> bool {
        if slot.cas(0, g, Ordering::Relaxed).is_err() {
            return false;
        }
        let mut s = state.load(Ordering::Relaxed);
        loop {
            if s >> 32 == 0 || s & SLOT != 0 {
                // Nobody reads the slot without SLOT set by us: give it back.
                slot.store(0, Ordering::Relaxed);
                return false;
            }
            // Release: the slot's value is visible to the adder that sees SLOT.
            match state.cas(s, s | SLOT, Ordering::Release) {
                Ok(_) => return true,
                Err(cur) => s = cur,
            }
        }
    }

    /// The adder that saw `SLOT` in the state that brought the counter to zero (with an
    /// Acquire read of it): takes the G out of the slot. Must run before the state is
    /// reset, so no new waiter can publish in between.
    #[inline]
    pub(crate) fn take(slot: &impl Word) -> u64 {
        let g = slot.load(Ordering::Relaxed);
        slot.store(0, Ordering::Relaxed);
        g
    }
}

use slot::SLOT;

/// Park callback of a slot wait: `arg` is the WaitGroup.
fn publish_in_slot(g: *mut G, arg: usize) -> bool {
    // SAFETY: the WaitGroup is alive while its waiter is inside `wait` (which it is until
    // this returns false, or until it is woken after this returns true, and nothing below
    // touches the WaitGroup after publishing).
    let wg = unsafe { &*(arg as *const WaitGroup) };
    slot::publish(&wg.state, &wg.slot, g as u64)
}

impl WaitGroup {
    pub(crate) const fn new() -> WaitGroup {
        WaitGroup { state: AtomicU64::new(0), slot: AtomicU64::new(0), sema: AtomicU32::new(0) }
    }

    pub(crate) fn add(&self, delta: i64) {
        if delta < i32::MIN as i64 || delta > i32::MAX as i64 {
            go_panic(c"sync: WaitGroup delta out of range");
        }
        if delta < 0 {
            // Everything before a Done happens before Wait returns.
            tsan::release(self);
        }
        let state = self.state.fetch_add((delta as u64) << 32, Ordering::AcqRel).wrapping_add((delta as u64) << 32);
        let v = (state >> 32) as i32;
        let w = state as u32;
        if v < 0 {
            if delta > 0 {
                // The counter passed i32::MAX and wrapped (Go's message for it too). Undo
                // the add, so a recovered panic leaves the counter as it was.
                self.state.fetch_sub((delta as u64) << 32, Ordering::AcqRel);
            }
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
        let slot_g = if state & SLOT != 0 { slot::take(&self.slot) } else { 0 };
        self.state.store(0, Ordering::Release);
        for _ in 0..(state & (SLOT - 1)) {
            semrelease(&self.sema, false);
        }
        // Last: once woken, the slot's waiter may return and free the WaitGroup.
        if slot_g != 0 {
            let w = Waiter::G(slot_g as *mut G);
            // The slot is the wait's only record and it has no deadline.
            if !w.claim_sole() {
                crate::fatal::fatal("sync: WaitGroup slot waiter was not waiting");
            }
            w.wake();
        }
    }

    pub(crate) fn done(&self) {
        self.add(-1)
    }

    pub(crate) fn wait(&self) {
        self.wait_unannotated();
        tsan::acquire(self);
    }

    fn wait_unannotated(&self) {
        let mut state = self.state.load(Ordering::Acquire);
        if state >> 32 == 0 {
            return;
        }
        // One goroutine waiting: the slot, unless it looks taken.
        let g = crate::sched::current_g();
        if !g.is_null() && state & SLOT == 0 && self.slot.load(Ordering::Relaxed) == 0 {
            let arg = self as *const WaitGroup as usize;
            match Waiter::park_published(g, "sync.WaitGroup.Wait", publish_in_slot, arg) {
                Some(Woken::Claimed) => {
                    if self.state.load(Ordering::Acquire) != 0 {
                        go_panic(c"sync: WaitGroup is reused before previous Wait has returned");
                    }
                    return;
                }
                Some(Woken::TimedOut) => crate::fatal::fatal("sync: WaitGroup slot wait timed out"),
                None => state = self.state.load(Ordering::Acquire), // not published: the table
            }
        }
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

/// loom model of the slot protocol (`--cfg loom`, ctest `cargo-loom`): two goroutines try
/// to publish themselves while the last `done` brings the counter to zero.
#[cfg(all(test, loom))]
mod loom_models {
    use super::slot::{self, SLOT, Word};
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicU64, Ordering};

    struct L(AtomicU64);
    impl Word for L {
        fn load(&self, o: Ordering) -> u64 {
            self.0.load(o)
        }
        fn store(&self, v: u64, o: Ordering) {
            self.0.store(v, o)
        }
        fn cas(&self, cur: u64, new: u64, ok: Ordering) -> Result<u64, u64> {
            self.0.compare_exchange(cur, new, ok, Ordering::Relaxed)
        }
    }

    /// Exactly the waiter that published is woken, with its own identity read from the
    /// slot; a waiter that did not publish is never woken; the slot ends empty.
    #[test]
    fn loom_slot_waiter_woken_iff_published() {
        loom::model(|| {
            let state = Arc::new(L(AtomicU64::new(1 << 32))); // counter 1, no waiters
            let slot_w = Arc::new(L(AtomicU64::new(0)));
            let waiters: Vec<_> = (1..=2u64)
                .map(|g| {
                    let (state, slot_w) = (state.clone(), slot_w.clone());
                    loom::thread::spawn(move || slot::publish(&*state, &*slot_w, g))
                })
                .collect();
            // The last done, as `WaitGroup::add(-1)` does it.
            let seen = state.0.fetch_add((-1i64 as u64) << 32, Ordering::AcqRel).wrapping_add((-1i64 as u64) << 32);
            assert_eq!(seen >> 32, 0);
            let woken = if seen & SLOT != 0 {
                assert_eq!(state.0.load(Ordering::Acquire), seen);
                let g = slot::take(&*slot_w);
                state.0.store(0, Ordering::Release);
                g
            } else {
                0
            };
            let published: Vec<bool> = waiters.into_iter().map(|t| t.join().unwrap()).collect();
            match (published[0], published[1]) {
                (false, false) => assert_eq!(woken, 0),
                (true, false) => assert_eq!(woken, 1),
                (false, true) => assert_eq!(woken, 2),
                (true, true) => panic!("two waiters in one slot"),
            }
            assert_eq!(slot_w.0.load(Ordering::Relaxed), 0, "slot left taken");
        });
    }
}
