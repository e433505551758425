//! The runtime's lock for short critical sections (a channel's state): Go's `lock_futex`.
//!
//! One `u32` word: `UNLOCKED`, `LOCKED`, or `SLEEPING` (locked, and a thread may be asleep
//! on the word). Locking is a CAS from `UNLOCKED`; on contention the thread spins a few
//! rounds (the holder is running on another core and is about to leave: a channel's
//! critical section is a few dozen instructions), yields the CPU once, and only then sleeps
//! on a futex after marking the word `SLEEPING`. Unlocking swaps in `UNLOCKED` and wakes
//! one sleeper only if the word said `SLEEPING`, so an uncontended pair is one CAS and one
//! swap and never a system call.
//!
//! A thread that wakes from the futex cannot know whether others still sleep, so from then
//! on it locks by writing `SLEEPING` rather than `LOCKED` (`wait_state` below): its unlock
//! then wakes the next sleeper, which re-checks. That may cost one spurious wake-up, never
//! a lost one.
//!
//! Why not `parking_lot::RawMutex`, which this replaces for channels: its slow path parks
//! the thread in a global hash table after a short spin with growing pauses, and on two
//! goroutines hammering one buffered channel from two Ps it was 18% of the samples; the
//! fixed spin-then-yield of Go's lock wins there (see BENCHMARKS.md, issue 11). The lock
//! is not goroutine-aware: a waiter blocks its thread, as Go's runtime lock does, which is
//! right only because nothing long or blocking ever happens while it is held.

use super::protocol::Atom;
use std::sync::atomic::{AtomicU32, Ordering};

pub(crate) const UNLOCKED: u32 = 0;
pub(crate) const LOCKED: u32 = 1;
pub(crate) const SLEEPING: u32 = 2;

/// Rounds of busy-waiting before yielding, and `spin_loop` hints per round (Go: 4 × 30).
const ACTIVE_SPIN: u32 = 4;
const ACTIVE_SPIN_CNT: u32 = 30;

/// The lock. Zero is unlocked, so it is `const`-constructible and needs no drop.
pub(crate) struct RtLock {
    state: AtomicU32,
}

impl RtLock {
    pub(crate) const fn new() -> RtLock {
        RtLock { state: AtomicU32::new(UNLOCKED) }
    }

    #[inline]
    pub(crate) fn lock(&self) {
        if self.state.compare_exchange_weak(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed).is_err() {
            lock_slow(&self.state, &Futex, multicore());
        }
    }

    /// Only the holder calls it (an unlock of a free lock is a fatal error; of a lock
    /// someone else holds, undetected, as in Go).
    #[inline]
    pub(crate) fn unlock(&self) {
        unlock(&self.state, &Futex);
    }

    /// True while held (for assertions).
    #[allow(dead_code, reason = "debug assertions and tests")]
    pub(crate) fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) != UNLOCKED
    }
}

impl Default for RtLock {
    fn default() -> Self {
        RtLock::new()
    }
}

/// How a waiter sleeps and wakes: the futex in the runtime, a model in loom.
pub(crate) trait Sleeper<S> {
    /// Blocks while `*word == SLEEPING` (spurious returns allowed).
    fn sleep(&self, word: &S);
    fn wake_one(&self, word: &S);
    /// Gives the CPU away once (sched_yield); a model may do nothing.
    fn yield_now(&self);
}

struct Futex;

impl Sleeper<AtomicU32> for Futex {
    fn sleep(&self, word: &AtomicU32) {
        super::note::futex_wait(word, SLEEPING, None);
    }
    fn wake_one(&self, word: &AtomicU32) {
        super::note::futex_wake(word);
    }
    fn yield_now(&self) {
        // SAFETY: sched_yield has no preconditions.
        unsafe { libc::sched_yield() };
    }
}

fn multicore() -> bool {
    use std::sync::OnceLock;
    static MULTI: OnceLock<bool> = OnceLock::new();
    *MULTI.get_or_init(|| std::thread::available_parallelism().map(|n| n.get() > 1).unwrap_or(true))
}

/// The contended path of [`RtLock::lock`], generic so the loom model runs this very code.
#[cold]
#[inline(never)]
pub(crate) fn lock_slow<S: Atom<V = u32>>(word: &S, sleeper: &impl Sleeper<S>, spin: bool) {
    // Grab it at once if it was just released; remember whether sleepers were announced.
    let mut wait_state = word.swap(LOCKED, Ordering::Acquire);
    if wait_state == UNLOCKED {
        return;
    }
    // If we overwrote SLEEPING with LOCKED, we now owe that mark back: every acquisition
    // below writes `wait_state`, which is SLEEPING from here on when it was.
    loop {
        if spin {
            for _ in 0..ACTIVE_SPIN {
                if word.load(Ordering::Relaxed) == UNLOCKED
                    && word.cas(UNLOCKED, wait_state, Ordering::Acquire, Ordering::Relaxed).is_ok()
                {
                    return;
                }
                for _ in 0..ACTIVE_SPIN_CNT {
                    std::hint::spin_loop();
                }
            }
        }
        if word.load(Ordering::Relaxed) == UNLOCKED
            && word.cas(UNLOCKED, wait_state, Ordering::Acquire, Ordering::Relaxed).is_ok()
        {
            return;
        }
        sleeper.yield_now();
        // Announce a sleeper and sleep, unless it came free meanwhile.
        if word.swap(SLEEPING, Ordering::Acquire) == UNLOCKED {
            return;
        }
        wait_state = SLEEPING;
        sleeper.sleep(word);
    }
}

#[inline]
pub(crate) fn unlock<S: Atom<V = u32>>(word: &S, sleeper: &impl Sleeper<S>) {
    match word.swap(UNLOCKED, Ordering::Release) {
        LOCKED => {}
        SLEEPING => sleeper.wake_one(word),
        _ => crate::fatal::fatal("unlock of unlocked runtime lock"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn excludes_under_contention() {
        struct Shared {
            lock: RtLock,
            count: std::cell::UnsafeCell<u64>,
        }
        // SAFETY: `count` is only touched with `lock` held.
        unsafe impl Sync for Shared {}
        let s = Arc::new(Shared { lock: RtLock::new(), count: std::cell::UnsafeCell::new(0) });
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for i in 0..200_000u32 {
                        s.lock.lock();
                        // SAFETY: the lock is held.
                        unsafe { *s.count.get() += 1 };
                        if i % 1000 == 0 {
                            std::thread::yield_now(); // holder descheduled: waiters sleep
                        }
                        s.lock.unlock();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(!s.lock.is_locked());
        // SAFETY: every thread has joined.
        assert_eq!(unsafe { *s.count.get() }, 800_000);
    }
}

/// loom model (`--cfg loom`, ctest `cargo-loom`): the lock's own `lock_slow`/`unlock` on
/// loom's atomics, with the futex modelled as a mutex and condition variable (the kernel
/// checks the word and queues the sleeper atomically with respect to wakers, as the
/// model's mutex does). A lost wake-up is a deadlock loom reports; two holders at once a
/// data race on the counter.
#[cfg(all(test, loom))]
mod loom_models {
    use super::{SLEEPING, Sleeper, UNLOCKED, lock_slow, unlock};
    use crate::sched::protocol::Atom;
    use loom::cell::UnsafeCell;
    use loom::sync::atomic::{AtomicU32, Ordering};
    use loom::sync::{Arc, Condvar, Mutex};

    impl Atom for AtomicU32 {
        type V = u32;
        fn load(&self, o: Ordering) -> u32 {
            AtomicU32::load(self, o)
        }
        fn store(&self, v: u32, o: Ordering) {
            AtomicU32::store(self, v, o)
        }
        fn swap(&self, v: u32, o: Ordering) -> u32 {
            AtomicU32::swap(self, v, o)
        }
        fn cas(&self, cur: u32, new: u32, ok: Ordering, err: Ordering) -> Result<u32, u32> {
            self.compare_exchange(cur, new, ok, err)
        }
    }

    #[derive(Default)]
    struct ModelFutex {
        queue: Mutex<()>,
        cv: Condvar,
    }

    impl Sleeper<AtomicU32> for ModelFutex {
        fn sleep(&self, word: &AtomicU32) {
            let g = self.queue.lock().unwrap();
            if word.load(Ordering::Relaxed) == SLEEPING {
                drop(self.cv.wait(g).unwrap());
            }
        }
        fn wake_one(&self, _word: &AtomicU32) {
            let _g = self.queue.lock().unwrap();
            self.cv.notify_one();
        }
        fn yield_now(&self) {
            loom::thread::yield_now();
        }
    }

    struct Shared {
        word: AtomicU32,
        futex: ModelFutex,
        count: UnsafeCell<u32>,
    }

    fn critical_section(s: &Shared) {
        if s.word.compare_exchange(UNLOCKED, super::LOCKED, Ordering::Acquire, Ordering::Relaxed).is_err() {
            lock_slow(&s.word, &s.futex, false);
        }
        // SAFETY: held; loom reports a second holder as a race on this cell.
        s.count.with_mut(|c| unsafe { *c += 1 });
        unlock(&s.word, &s.futex);
    }

    /// Three threads take the lock (twice for one of them): every increment lands, nobody
    /// sleeps for ever, and the lock ends free.
    #[test]
    fn loom_rtlock_excludes_and_wakes() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(3);
        b.check(|| {
            let s = Arc::new(Shared {
                word: AtomicU32::new(UNLOCKED),
                futex: ModelFutex::default(),
                count: UnsafeCell::new(0),
            });
            let ts: Vec<_> = (0..2)
                .map(|_| {
                    let s = s.clone();
                    loom::thread::spawn(move || critical_section(&s))
                })
                .collect();
            critical_section(&s);
            critical_section(&s);
            for t in ts {
                t.join().unwrap();
            }
            assert_eq!(s.word.load(Ordering::Relaxed), UNLOCKED);
            // SAFETY: every thread has joined.
            s.count.with(|c| assert_eq!(unsafe { *c }, 4));
        });
    }
}
