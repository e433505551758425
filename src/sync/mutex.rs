//! `gort_mutex`: Go's mutex — a state word and a semaphore, 8 bytes, zero is unlocked.
//!
//! `state` packs `LOCKED`, `WOKEN` (a woken or spinning waiter is about to try, so an
//! unlocker need not wake another), `STARVING`, and the waiter count above them.
//!
//! **Normal mode**: waiters queue FIFO on the semaphore, but a woken waiter competes with
//! new arrivals, which are already on a CPU and usually win: good throughput, possible
//! starvation. A waiter that loses is requeued at the *front*.
//! **Starvation mode**: a waiter that has waited more than 1 ms sets `STARVING`; then
//! unlock hands the mutex directly to the front waiter (semaphore hand-off), new arrivals
//! do not try to take it nor spin, and queue at the back. The last waiter, or one that
//! waited under 1 ms, switches back to normal mode.
//!
//! Spinning is brief (4 rounds of 30 pauses) and only with several CPUs and Ps, while
//! the mutex is held and not starving: it never keeps a thread busy for long.

use super::semtable::{semacquire, semrelease};
use crate::sched::NO_DEADLINE;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

const LOCKED: i32 = 1;
const WOKEN: i32 = 2;
const STARVING: i32 = 4;
const WAITER_SHIFT: u32 = 3;
const STARVATION_NS: i64 = 1_000_000;
const SPIN_ROUNDS: u32 = 4;

#[repr(C)]
pub struct Mutex {
    /// LOCKED | WOKEN | STARVING | waiters << WAITER_SHIFT; atomic.
    state: AtomicI32,
    /// The semaphore waiters sleep on (through the semtable, keyed by its address).
    sema: AtomicU32,
}

impl Default for Mutex {
    fn default() -> Self {
        Self::new()
    }
}

fn can_spin(round: u32) -> bool {
    round < SPIN_ROUNDS && crate::sched::proc::gomaxprocs() > 1 && num_cpu() > 1
}

fn num_cpu() -> usize {
    use std::sync::OnceLock;
    static N: OnceLock<usize> = OnceLock::new();
    *N.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn spin() {
    for _ in 0..30 {
        std::hint::spin_loop();
    }
}

impl Mutex {
    pub const fn new() -> Mutex {
        Mutex { state: AtomicI32::new(0), sema: AtomicU32::new(0) }
    }

    #[inline]
    pub fn lock(&self) {
        if self.state.compare_exchange(0, LOCKED, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            return;
        }
        self.lock_slow();
    }

    pub fn try_lock(&self) -> bool {
        let old = self.state.load(Ordering::Relaxed);
        if old & (LOCKED | STARVING) != 0 {
            return false;
        }
        self.state.compare_exchange(old, old | LOCKED, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }

    fn lock_slow(&self) {
        let mut wait_start: i64 = 0;
        let mut starving = false;
        let mut awoke = false;
        let mut round = 0;
        let mut old = self.state.load(Ordering::Relaxed);
        loop {
            // Spin while it is locked in normal mode, telling unlockers (WOKEN) that
            // someone is about to take it, so they need not wake a sleeper.
            if old & (LOCKED | STARVING) == LOCKED && can_spin(round) {
                if !awoke
                    && old & WOKEN == 0
                    && old >> WAITER_SHIFT != 0
                    && self.state.compare_exchange(old, old | WOKEN, Ordering::Relaxed, Ordering::Relaxed).is_ok()
                {
                    awoke = true;
                }
                spin();
                round += 1;
                old = self.state.load(Ordering::Relaxed);
                continue;
            }
            let mut new = old;
            if old & STARVING == 0 {
                new |= LOCKED; // never grab a starving mutex: it belongs to the queue
            }
            if old & (LOCKED | STARVING) != 0 {
                new += 1 << WAITER_SHIFT;
            }
            if starving && old & LOCKED != 0 {
                new |= STARVING;
            }
            if awoke {
                if new & WOKEN == 0 {
                    crate::fatal::fatal("sync: inconsistent mutex state");
                }
                new &= !WOKEN;
            }
            if self.state.compare_exchange(old, new, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                if old & (LOCKED | STARVING) == 0 {
                    return; // locked it
                }
                let requeue = wait_start != 0;
                if wait_start == 0 {
                    wait_start = crate::time::nanotime();
                }
                semacquire(&self.sema, requeue, "sync.Mutex.Lock", NO_DEADLINE);
                starving = starving || crate::time::nanotime() - wait_start > STARVATION_NS;
                old = self.state.load(Ordering::Relaxed);
                if old & STARVING != 0 {
                    // Handed to us: we are not counted as a waiter any more and own it.
                    if old & (LOCKED | WOKEN) != 0 || old >> WAITER_SHIFT == 0 {
                        crate::fatal::fatal("sync: inconsistent mutex state");
                    }
                    let mut delta = LOCKED - (1 << WAITER_SHIFT);
                    if !starving || old >> WAITER_SHIFT == 1 {
                        // Leave starvation mode: we waited little, or we are the last.
                        delta -= STARVING;
                    }
                    self.state.fetch_add(delta, Ordering::Acquire);
                    return;
                }
                awoke = true;
                round = 0;
            } else {
                old = self.state.load(Ordering::Relaxed);
            }
        }
    }

    #[inline]
    pub fn unlock(&self) {
        let new = self.state.fetch_sub(LOCKED, Ordering::Release) - LOCKED;
        if new != 0 {
            self.unlock_slow(new);
        }
    }

    fn unlock_slow(&self, new: i32) {
        if (new + LOCKED) & LOCKED == 0 {
            crate::fatal::fatal_with_dump("sync: unlock of unlocked mutex");
        }
        if new & STARVING == 0 {
            let mut old = new;
            loop {
                // Nobody to wake, or someone already woken/spinning, or it was re-locked.
                if old >> WAITER_SHIFT == 0 || old & (LOCKED | WOKEN | STARVING) != 0 {
                    return;
                }
                let new = (old - (1 << WAITER_SHIFT)) | WOKEN;
                match self.state.compare_exchange(old, new, Ordering::Release, Ordering::Relaxed) {
                    Ok(_) => {
                        semrelease(&self.sema, false);
                        return;
                    }
                    Err(cur) => old = cur,
                }
            }
        } else {
            // Starving: hand the mutex to the front waiter.
            semrelease(&self.sema, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn uncontended_and_trylock() {
        let m = Mutex::new();
        m.lock();
        assert!(!m.try_lock());
        m.unlock();
        assert!(m.try_lock());
        m.unlock();
        assert_eq!(m.state.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn threads_contend_and_count_is_exact() {
        struct Shared {
            m: Mutex,
            n: std::cell::UnsafeCell<u64>,
        }
        // SAFETY: `n` is only touched under `m`.
        unsafe impl Sync for Shared {}
        let s = Arc::new(Shared { m: Mutex::new(), n: std::cell::UnsafeCell::new(0) });
        let ts: Vec<_> = (0..6)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for _ in 0..20_000 {
                        s.m.lock();
                        // SAFETY: under the mutex.
                        unsafe { *s.n.get() += 1 };
                        s.m.unlock();
                    }
                })
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
        // SAFETY: all threads joined.
        assert_eq!(unsafe { *s.n.get() }, 120_000);
        assert_eq!(s.m.state.load(Ordering::Relaxed), 0);
    }
}
