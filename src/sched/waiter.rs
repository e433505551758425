//! Waiters: something that can block and be woken — a goroutine, or a thread the runtime
//! does not own. Channels, select and the semaphore table keep records naming a
//! [`Waiter`] in their wait queues and wake them through this one interface, so every
//! blocking call works from both kinds of caller, with or without a deadline.
//!
//! # The wait word
//! Each waiter has one `AtomicU64` *wait word* that lives as long as the process: in the
//! [`G`] (descriptors are never freed) or in the thread's parker (never freed either). It
//! holds `gen << 3 | state`:
//!
//! | state      | meaning                                   | who moves it on            |
//! |------------|-------------------------------------------|----------------------------|
//! | `IDLE`     | not waiting                               | the waiter ([`Waiter::begin`]) |
//! | `WAITING`  | records published, nobody has claimed them | a waker (→ `CLAIMED`), the deadline (→ `TIMEDOUT`) |
//! | `CLAIMED`  | one waker owns the completion             | that waker (→ `DONE`)      |
//! | `DONE`     | the waker filled in its record and woke us | the waiter (next `begin`)  |
//! | `TIMEDOUT` | the deadline won                          | the waiter (next `begin`)  |
//!
//! `wait_gen` counts waits. A waiter may have records in several queues at once (a select has
//! one per case); the claim CAS `WAITING → CLAIMED` lets exactly one waker or the
//! deadline win. A waker that pops a record whose claim fails just drops it (the waiter is
//! being completed by someone else and will unlink its other records itself).
//!
//! # Protocol
//! 1. The waiter calls [`Waiter::begin`] (new `wait_gen`, state `WAITING`), then publishes its
//!    records in the queues, under the queues' locks.
//! 2. It calls [`Waiter::block`], which releases those locks only once blocking is safe:
//!    for a goroutine, from its park callback, after it has switched out — so a waker can
//!    never ready a goroutine that is still running. A goroutine's deadline timer is armed
//!    in that same callback, for the same reason.
//! 3. A waker holding a queue lock pops a record and calls [`Waiter::claim`]; on success it
//!    fills in the record and calls [`Waiter::wake`] exactly once, after which it must not
//!    touch the record (it lives on the waiter's stack).
//! 4. The deadline: a goroutine's timer entry carries `wait_gen` and fires only if the word is
//!    still `wait_gen|WAITING`, so a timer left over from an earlier wait can never wake a later
//!    one (no cancellation needed: the entry is garbage once the word moves on). A thread
//!    times itself out with a futex timeout and the same CAS.
//!
//! Rejected: a heap-allocated, reference-counted wait context per blocking call (an
//! allocation on every block) and cancelling timers synchronously (the firing timer and
//! the waking waker race; the generation check makes the loser harmless instead).

use super::g::{G, GPtr};
use super::note::Note;
use std::sync::atomic::AtomicU64;

/// States of the wait word (low 3 bits).
pub(crate) mod wstate {
    /// Not waiting: the word's zero state, never compared against (named for the record).
    #[allow(dead_code, reason = "documents the encoding")]
    pub(crate) const IDLE: u64 = 0;
    pub(crate) const WAITING: u64 = 1;
    pub(crate) const CLAIMED: u64 = 2;
    pub(crate) const DONE: u64 = 3;
    pub(crate) const TIMEDOUT: u64 = 4;
    pub(crate) const MASK: u64 = 7;
}

/// "No deadline" for [`Waiter::block`].
pub(crate) const NO_DEADLINE: i64 = i64::MAX;

/// A per-thread parking spot for threads the runtime does not own. Never freed: a waker
/// may still be calling `wakeup` when the woken thread exits. When a thread exits its
/// parker goes to a free list for the next thread (a late wake-up is then a spurious one
/// for the new owner, which re-checks its wait word), so parkers stay bounded.
pub(crate) struct ThreadParker {
    note: Note,
    word: AtomicU64,
}

static FREE_PARKERS: parking_lot::Mutex<Vec<&'static ThreadParker>> = parking_lot::Mutex::new(Vec::new());

struct ParkerSlot(&'static ThreadParker);

impl Drop for ParkerSlot {
    fn drop(&mut self) {
        // A thread-exit destructor, outside any export: runtime code for TSan.
        let _runtime = crate::sched::tsan::InRuntime::enter();
        FREE_PARKERS.lock().push(self.0);
    }
}

thread_local! {
    static PARKER: ParkerSlot = ParkerSlot(FREE_PARKERS.lock().pop().unwrap_or_else(|| {
        Box::leak(Box::new(ThreadParker { note: Note::new(), word: AtomicU64::new(0) }))
    }));
}

/// How a wait ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Woken {
    /// A waker claimed the wait and filled in one of the records.
    Claimed,
    /// The deadline passed first.
    TimedOut,
}

#[derive(Clone, Copy)]
pub(crate) enum Waiter {
    G(*mut G),
    Thread(&'static ThreadParker),
}

// SAFETY: Gs and thread parkers are never freed; the pointer is only a handle.
unsafe impl Send for Waiter {}

/// What `block` hands through the park callback.
struct BlockArgs {
    release: fn(usize),
    arg: usize,
    deadline: i64,
    wait_gen: u64,
}

impl Waiter {
    /// The calling goroutine or thread.
    #[inline]
    pub(crate) fn current() -> Waiter {
        let g = super::current_g();
        if !g.is_null() { Waiter::G(g) } else { Waiter::Thread(PARKER.with(|p| p.0)) }
    }

    #[inline]
    fn word(self) -> &'static AtomicU64 {
        match self {
            // SAFETY: Gs are never freed.
            Waiter::G(g) => unsafe { &(*g).wait },
            Waiter::Thread(p) => &p.word,
        }
    }

    /// Starts a wait: a new generation in state `WAITING`. Call before publishing records.
    /// Returns the generation.
    #[inline]
    pub(crate) fn begin(self) -> u64 {
        word::begin(self.word())
    }

    /// Called by a waker holding the lock of a queue that holds one of this waiter's
    /// records: true if the waker now owns the completion (then it must fill in the
    /// record and call [`Waiter::wake`]); false if someone else already does.
    #[inline]
    pub(crate) fn claim(self) -> bool {
        word::claim(self.word())
    }

    /// [`Waiter::claim`] for a waker that holds the *only* record of a wait with *no
    /// deadline* (a plain channel send or receive without a deadline, a WaitGroup slot):
    /// nobody else can move the word, so a plain store replaces the CAS. Still false if
    /// the word is not WAITING (a broken caller), so a misuse stays detectable.
    #[inline]
    pub(crate) fn claim_sole(self) -> bool {
        word::claim_sole(self.word())
    }

    /// The first half of [`Waiter::wake`]: marks the claimed wait done (the caller then
    /// readies the goroutine itself).
    #[inline]
    pub(crate) fn complete(self) {
        word::complete(self.word());
    }

    /// Wakes a waiter whose wait the caller claimed, after filling in its record.
    #[inline]
    pub(crate) fn wake(self) {
        word::complete(self.word());
        match self {
            Waiter::G(g) => super::ready(g),
            Waiter::Thread(p) => p.note.wakeup(),
        }
    }

    /// Blocks until a waker claims and wakes this wait, or until `deadline` (monotonic ns;
    /// [`NO_DEADLINE`] for none). `release(arg)` is called exactly once when it is safe
    /// for wakers to proceed (typically it unlocks the wait queues). For a goroutine it
    /// runs in the park callback: the goroutine may be readied and running again as soon
    /// as `release` has unlocked the queues, so `release` must not touch the waiter's
    /// stack after its last unlock.
    ///
    /// After `TimedOut` the waiter's records may still be queued: the caller removes them
    /// under the queues' locks. After `Claimed` the records other than the one the waker
    /// filled in may also still be queued (a select's other cases).
    pub(crate) fn block(
        self,
        reason: &'static str,
        wait_gen: u64,
        deadline: i64,
        release: fn(usize),
        arg: usize,
    ) -> Woken {
        match self {
            Waiter::G(g) => {
                let args = BlockArgs { release, arg, deadline, wait_gen };
                super::park(reason, Some(park_commit), &args as *const BlockArgs as usize);
                // SAFETY: g is us.
                match word::outcome(&unsafe { &*g }.wait) {
                    Some(woken) => woken,
                    None => crate::fatal::fatal("waiter: goroutine resumed before its wait ended"),
                }
            }
            Waiter::Thread(p) => {
                let _inside = super::proc::ForeignInside::enter_if(true);
                release(arg);
                loop {
                    if let Some(woken) = word::outcome(&p.word) {
                        return woken;
                    }
                    if deadline == NO_DEADLINE || !word::is_waiting(&p.word, wait_gen) {
                        // No deadline, or already claimed (the waker is filling in our
                        // record and wakes us once it is DONE): only a wake-up ends this.
                        p.note.sleep(None);
                        continue;
                    }
                    let left = deadline - crate::time::nanotime();
                    if left <= 0 {
                        if word::time_out(&p.word, wait_gen) {
                            return Woken::TimedOut;
                        }
                        continue; // a waker claimed it just now
                    }
                    p.note.sleep(Some(left));
                }
            }
        }
    }

    /// Parks the calling goroutine `g` in a wait published without a lock: begins a wait,
    /// switches out and, from the park callback (the G is WAITING by then, so a waker may
    /// `ready` it at once), calls `publish(g, arg)`. `publish` makes the G findable by a
    /// waker (e.g. stores it in a slot of the primitive) and returns true, or returns false
    /// to cancel: the G is then requeued and this returns `None`; nobody can have claimed
    /// the wait (publish did not publish it). `Some(Woken::Claimed)` once a waker claimed
    /// and woke it. No deadline: a lock-free slot has no timer to race.
    ///
    /// `publish` runs on another stack while `g` is parked; it may read `arg` (which may
    /// point into g's stack) until it has published, and must not touch it afterwards.
    pub(crate) fn park_published(
        g: *mut G,
        reason: &'static str,
        publish: fn(*mut G, usize) -> bool,
        arg: usize,
    ) -> Option<Woken> {
        // SAFETY: g is the calling goroutine; Gs are never freed.
        let word = &unsafe { &*g }.wait;
        word::begin(word);
        super::park(reason, Some(publish), arg);
        match word::outcome(word) {
            Some(woken) => Some(woken),
            None if word::outcome_pending(word) => {
                crate::fatal::fatal("waiter: goroutine resumed before its wait ended")
            }
            None => None,
        }
    }

    /// True if the wait of generation `wait_gen` is still unclaimed (the timer entry check).
    fn still_waiting(g: *mut G, wait_gen: u64) -> bool {
        // SAFETY: Gs are never freed.
        word::is_waiting(&unsafe { &*g }.wait, wait_gen)
    }
}

/// Park callback of [`Waiter::block`] for goroutines: arms the deadline timer (now that the
/// G is WAITING, so the timer cannot ready a running G), then releases the queues.
fn park_commit(g: *mut G, arg: usize) -> bool {
    // SAFETY: `arg` is the BlockArgs on the parked G's stack; it stays valid until the G
    // runs again, which needs `release` below to have unlocked its queues (or the timer to
    // fire). Copy it out first: after either of those it may be gone.
    let BlockArgs { release, arg, deadline, wait_gen } = unsafe { std::ptr::read(arg as *const BlockArgs) };
    if deadline != NO_DEADLINE {
        super::proc::add_timer(deadline, wait_gen, crate::time::TimerTarget::Wait(GPtr(g)));
    }
    release(arg);
    true
}

/// Timer action for [`crate::time::TimerTarget::Wait`]: times out wait `wait_gen` of `g` if it
/// is still unclaimed.
pub(crate) fn fire_wait_timer(g: *mut G, wait_gen: u64) {
    // SAFETY: Gs are never freed.
    if word::time_out(&unsafe { &*g }.wait, wait_gen) {
        super::ready(g);
    }
}

/// True while the timer entry for wait `wait_gen` of `g` can still fire (else it is garbage).
pub(crate) fn wait_timer_live(g: *mut G, wait_gen: u64) -> bool {
    Waiter::still_waiting(g, wait_gen)
}

/// The transitions of the wait word, generic over the atomic so that the loom model below
/// checks this very code (with loom's `AtomicU64`) while the runtime runs it on std's.
pub(crate) mod word {
    use super::{Woken, wstate};
    use std::sync::atomic::Ordering;

    /// The three operations the protocol needs from a 64-bit atomic.
    pub(crate) trait Word {
        fn load(&self, o: Ordering) -> u64;
        fn store(&self, v: u64, o: Ordering);
        fn cas(&self, cur: u64, new: u64) -> bool;
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
        fn cas(&self, cur: u64, new: u64) -> bool {
            self.compare_exchange(cur, new, Ordering::AcqRel, Ordering::Acquire).is_ok()
        }
    }

    /// The waiter starts wait `gen + 1`: `IDLE|DONE|TIMEDOUT → WAITING`. Only the waiter
    /// writes the word outside `WAITING`/`CLAIMED`, so a plain store suffices. A waker
    /// learns of the wait only through a record the waiter publishes afterwards, by a
    /// Release (a queue lock's unlock, or the WaitGroup slot's CAS) that the waker's
    /// Acquire pairs with, so Release is enough here: a SeqCst store is an `xchg` on x86,
    /// paid on every blocking call.
    #[inline]
    pub(crate) fn begin(w: &impl Word) -> u64 {
        let wait_gen = (w.load(Ordering::Relaxed) >> 3).wrapping_add(1) & (u64::MAX >> 3);
        w.store(wait_gen << 3 | wstate::WAITING, Ordering::Release);
        wait_gen
    }

    /// A waker: `WAITING → CLAIMED`, of whatever generation is current (the waker found a
    /// record of that wait in a queue, under the queue lock, so it is the current one).
    #[inline]
    pub(crate) fn claim(w: &impl Word) -> bool {
        let cur = w.load(Ordering::Acquire);
        cur & wstate::MASK == wstate::WAITING && w.cas(cur, (cur & !wstate::MASK) | wstate::CLAIMED)
    }

    /// [`claim`] when the caller's record is the wait's only one and the wait has no
    /// deadline: no other waker and no timer can race for the word, so `WAITING →
    /// CLAIMED` needs no CAS (one atomic read-modify-write fewer per hand-off). The
    /// Acquire load pairs with the Release that published the record.
    #[inline]
    pub(crate) fn claim_sole(w: &impl Word) -> bool {
        let cur = w.load(Ordering::Acquire);
        if cur & wstate::MASK != wstate::WAITING {
            return false;
        }
        w.store((cur & !wstate::MASK) | wstate::CLAIMED, Ordering::Relaxed);
        true
    }

    /// The claiming waker, after filling in the record: `CLAIMED → DONE` (Release: the
    /// record's contents happen-before the waiter reads them).
    #[inline]
    pub(crate) fn complete(w: &impl Word) {
        let cur = w.load(Ordering::Relaxed);
        debug_assert_eq!(cur & wstate::MASK, wstate::CLAIMED);
        w.store((cur & !wstate::MASK) | wstate::DONE, Ordering::Release);
    }

    /// The deadline of wait `wait_gen`: `wait_gen|WAITING → wait_gen|TIMEDOUT`. Fails if a
    /// waker claimed it first or the word has moved on to a later wait.
    #[inline]
    pub(crate) fn time_out(w: &impl Word, wait_gen: u64) -> bool {
        w.cas(wait_gen << 3 | wstate::WAITING, wait_gen << 3 | wstate::TIMEDOUT)
    }

    /// True while wait `wait_gen` is unclaimed and not timed out.
    #[inline]
    pub(crate) fn is_waiting(w: &impl Word, wait_gen: u64) -> bool {
        w.load(Ordering::Acquire) == wait_gen << 3 | wstate::WAITING
    }

    /// True while a waker has claimed the current wait but not completed it yet.
    #[inline]
    pub(crate) fn outcome_pending(w: &impl Word) -> bool {
        w.load(Ordering::Acquire) & wstate::MASK == wstate::CLAIMED
    }

    /// How the current wait ended, or `None` while it is still waiting or being completed.
    #[inline]
    pub(crate) fn outcome(w: &impl Word) -> Option<Woken> {
        match w.load(Ordering::Acquire) & wstate::MASK {
            wstate::DONE => Some(Woken::Claimed),
            wstate::TIMEDOUT => Some(Woken::TimedOut),
            _ => None,
        }
    }
}

/// loom models of the wait word: `RUSTFLAGS="--cfg loom" cargo test --lib loom_`
/// (the `cargo-loom` ctest). They explore every interleaving of the waiter, wakers and the
/// deadline over the functions above.
#[cfg(all(test, loom))]
mod loom_models {
    use super::word::{self, Word};
    use super::{Woken, wstate};
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    struct LoomWord(AtomicU64);
    impl Word for LoomWord {
        fn load(&self, o: Ordering) -> u64 {
            self.0.load(o)
        }
        fn store(&self, v: u64, o: Ordering) {
            self.0.store(v, o)
        }
        fn cas(&self, cur: u64, new: u64) -> bool {
            self.0.compare_exchange(cur, new, Ordering::AcqRel, Ordering::Acquire).is_ok()
        }
    }

    /// Two wakers and the deadline race for one wait: exactly one of them wins, a waker
    /// that wins has its record visible to the waiter, and the waiter's outcome names the
    /// winner.
    #[test]
    fn loom_one_winner_and_record_visible() {
        loom::model(|| {
            let w = Arc::new(LoomWord(AtomicU64::new(0)));
            let record = Arc::new(AtomicUsize::new(0));
            let wins = Arc::new(AtomicUsize::new(0));
            let wait_gen = word::begin(&*w);
            let wakers: Vec<_> = (1..=2)
                .map(|id| {
                    let (w, record, wins) = (w.clone(), record.clone(), wins.clone());
                    loom::thread::spawn(move || {
                        if word::claim(&*w) {
                            record.store(id, Ordering::Relaxed); // the record, filled in
                            word::complete(&*w);
                            wins.fetch_add(1, Ordering::Relaxed);
                        }
                    })
                })
                .collect();
            let timed_out = word::time_out(&*w, wait_gen);
            if timed_out {
                wins.fetch_add(1, Ordering::Relaxed);
            }
            // The waiter waits for an outcome (a thread would sleep on its note here) and
            // reads its record before joining anyone: visibility must come from
            // complete()'s Release and outcome()'s Acquire alone.
            let woken = loop {
                if let Some(o) = word::outcome(&*w) {
                    break o;
                }
                loom::thread::yield_now();
            };
            let seen = record.load(Ordering::Relaxed);
            match woken {
                Woken::TimedOut => {
                    assert!(timed_out);
                    assert_eq!(seen, 0);
                }
                Woken::Claimed => {
                    assert!(!timed_out);
                    assert_ne!(seen, 0);
                }
            }
            for t in wakers {
                t.join().unwrap();
            }
            assert_eq!(wins.load(Ordering::Relaxed), 1);
        });
    }

    /// A sole waker (the only record, no deadline) claims without a CAS; the waiter still
    /// sees its record once the outcome is `Claimed`.
    #[test]
    fn loom_sole_claim_record_visible() {
        loom::model(|| {
            let w = Arc::new(LoomWord(AtomicU64::new(0)));
            let record = Arc::new(AtomicUsize::new(0));
            word::begin(&*w);
            let waker = {
                let (w, record) = (w.clone(), record.clone());
                loom::thread::spawn(move || {
                    assert!(word::claim_sole(&*w));
                    record.store(7, Ordering::Relaxed);
                    word::complete(&*w);
                })
            };
            let woken = loop {
                if let Some(o) = word::outcome(&*w) {
                    break o;
                }
                loom::thread::yield_now();
            };
            assert_eq!(woken, Woken::Claimed);
            assert_eq!(record.load(Ordering::Relaxed), 7);
            waker.join().unwrap();
        });
    }

    /// A deadline left over from an earlier wait never ends a later one, and a waker
    /// that claims the later wait is not disturbed by it.
    #[test]
    fn loom_stale_deadline_is_harmless() {
        loom::model(|| {
            let w = Arc::new(LoomWord(AtomicU64::new(0)));
            let gen1 = word::begin(&*w);
            // The first wait is completed by a waker before its timer fires.
            assert!(word::claim(&*w));
            word::complete(&*w);
            assert_eq!(word::outcome(&*w), Some(Woken::Claimed));
            let gen2 = word::begin(&*w);
            assert_ne!(gen1, gen2);
            let stale = {
                let w = w.clone();
                loom::thread::spawn(move || word::time_out(&*w, gen1))
            };
            let waker = {
                let w = w.clone();
                loom::thread::spawn(move || {
                    if word::claim(&*w) {
                        word::complete(&*w);
                        true
                    } else {
                        false
                    }
                })
            };
            assert!(!stale.join().unwrap());
            assert!(waker.join().unwrap());
            assert_eq!(word::outcome(&*w), Some(Woken::Claimed));
            assert_eq!(w.load(Ordering::Relaxed) >> 3, gen2);
            assert_eq!(w.load(Ordering::Relaxed) & wstate::MASK, wstate::DONE);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn noop(_: usize) {}

    #[test]
    fn thread_wait_is_claimed_once_and_woken() {
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let claims = Arc::new(AtomicUsize::new(0));
        let h = std::thread::spawn(move || {
            let w = Waiter::current();
            let wait_gen = w.begin();
            tx.send(w).unwrap();
            let r = w.block("test", wait_gen, NO_DEADLINE, noop, 0);
            // The thread's parker is recycled when it exits: a losing claimer that ran
            // after that could claim another test thread's wait. Stay until they are done.
            done_rx.recv().unwrap();
            r
        });
        let w = rx.recv().unwrap();
        let mut ts = vec![];
        for _ in 0..4 {
            let c = claims.clone();
            ts.push(std::thread::spawn(move || {
                if w.claim() {
                    c.fetch_add(1, Ordering::SeqCst);
                    w.wake();
                }
            }));
        }
        for t in ts {
            t.join().unwrap();
        }
        done_tx.send(()).unwrap();
        assert_eq!(h.join().unwrap(), Woken::Claimed);
        assert_eq!(claims.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn thread_wait_times_out_and_then_cannot_be_claimed() {
        let w = Waiter::current();
        let wait_gen = w.begin();
        let r = w.block("test", wait_gen, crate::time::nanotime() + 1_000_000, noop, 0);
        assert_eq!(r, Woken::TimedOut);
        assert!(!w.claim());
        let gen2 = w.begin();
        assert_eq!(gen2, wait_gen + 1);
        assert!(w.claim());
        w.wake();
        assert_eq!(w.block("test", gen2, NO_DEADLINE, noop, 0), Woken::Claimed);
    }
}
