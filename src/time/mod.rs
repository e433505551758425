//! Time: the monotonic clock, per-P timer heaps, and sleeping.
//!
//! # Timers
//! Every P owns a [`TimerHeap`]: a binary min-heap of [`TimerEntry`] ordered by `when`
//! (then by insertion order, so equal deadlines fire FIFO), behind a mutex, plus an atomic
//! copy of the earliest deadline (`P::timer0`) that schedulers read without the lock. This
//! is Go 1.14's design: a timer lives on the P that started it, the M running that P fires
//! it from its scheduling loop, idle Ps' timers are fired by whichever M is the *timer
//! waiter* (the idle M sleeping until the earliest deadline), and spinning Ms fire the
//! expired timers of the Ps they try to steal from.
//!
//! An entry names what to do when it fires ([`TimerTarget`]) and carries a sequence number.
//! Entries are never removed early: cancelling or re-arming a timer bumps the owner's
//! sequence number, and a fired entry whose number is stale does nothing (lazy deletion).
//! When stale entries make up most of a heap it is rebuilt without them, so start/stop
//! churn cannot grow it without bound; user timers also report the entries they make
//! stale ([`TimerHeap::note_stale`]), and a heap sweeps once those are a quarter of it, so
//! a timer freed while pending does not linger until its deadline.
//!
//! Timer callbacks run on an M's scheduler stack (g0) or on the idle waiter with no P: they
//! must be short and never block; readying a goroutine is the typical action.
//!
//! User timers and tickers (`gort_after`, `gort_timer_*`, `gort_ticker_*`) are
//! [`timer`]: shared targets with their own lock and sequence numbers, firing into
//! Go 1.23-style synchronous channels (see that module's essay).
//!
//! Rejected: a single global heap (one lock for every `sleep` in the program) and a timing
//! wheel (cheap inserts, but imprecise deadlines or cascading costs, and Go's semantics are
//! deadline-precise).

pub(crate) mod timer;

use crate::sched::g::{G, GPtr};
use crate::sched::protocol::timerwait;
use parking_lot::Mutex;
use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};

/// The latest finite deadline. `i64::MAX` means "none" throughout the runtime (an empty
/// heap's `timer0`, `NO_DEADLINE`), so a finite deadline that saturates to it (a sleep of
/// `INT64_MAX` ns, a C deadline of `INT64_MAX`) is clamped here instead: a goroutine
/// waiting for it has a pending timer and is not deadlocked, as in Go, where a goroutine
/// in `time.Sleep(math.MaxInt64)` is never reported.
pub(crate) const MAX_WHEN: i64 = i64::MAX - 1;

/// Nanoseconds on the monotonic clock (CLOCK_MONOTONIC, read through the vDSO).
#[inline]
pub(crate) fn nanotime() -> i64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid out-pointer; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// CLOCK_MONOTONIC_COARSE: the same clock as [`nanotime`], updated only at kernel ticks,
/// read without the cycle counter.
#[inline]
pub(crate) fn coarse_nanotime() -> i64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: valid out-pointer; the clock exists on every Linux since 2.6.32.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

static COARSE_SLACK: AtomicI64 = AtomicI64::new(0);

/// How far the coarse clock may lag the precise one: twice its resolution (a margin
/// for a late tick).
#[inline]
fn coarse_slack() -> i64 {
    let s = COARSE_SLACK.load(Ordering::Relaxed);
    if s != 0 {
        return s;
    }
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: valid out-pointer.
    let ok = unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut ts) } == 0;
    let res = if ok { ts.tv_sec * 1_000_000_000 + ts.tv_nsec } else { 10_000_000 };
    let s = (2 * res).max(2_000_000);
    COARSE_SLACK.store(s, Ordering::Relaxed);
    s
}

/// Something a timer can fire into, for targets that outlive a single entry (user timers,
/// tickers, channel deadlines). `fire` is called at most once per armed sequence number
/// and must not block.
pub(crate) trait TimerFire: Send + Sync {
    /// Runs the timer's action if `seq` is still current.
    fn fire(&self, seq: u64, now: i64);
    /// False when `seq` has been cancelled or superseded (the entry is garbage).
    fn is_live(&self, seq: u64) -> bool;
    /// Entry `seq` now lives in `heap` (a P going away handed its timers over), for a
    /// target that reports its stale entries ([`TimerHeap::note_stale`]). If `seq` went
    /// stale after the move checked it, the target reports it to `heap` here: its earlier
    /// report went to the old heap.
    fn moved(&self, _seq: u64, _heap: &'static TimerHeap) {}
}

/// What a heap entry does when it fires.
pub(crate) enum TimerTarget {
    /// Wake a goroutine sleeping in [`sleep`]: valid while `G::sleep_seq == seq`.
    Sleep(GPtr),
    /// Time out a goroutine's channel/select/semaphore wait number `seq`
    /// ([`crate::sched::waiter`]): valid while that wait is unclaimed.
    Wait(GPtr),
    /// A shared timer object.
    Shared(Arc<dyn TimerFire>),
}

pub(crate) struct TimerEntry {
    pub when: i64,
    pub seq: u64,
    order: u64,
    pub target: TimerTarget,
}

impl TimerEntry {
    fn is_live(&self) -> bool {
        match &self.target {
            // SAFETY: Gs are never freed (they are recycled), so the pointer stays valid.
            TimerTarget::Sleep(g) => unsafe { (*g.0).sleep_seq.load(Ordering::Acquire) == self.seq },
            TimerTarget::Wait(g) => crate::sched::waiter::wait_timer_live(g.0, self.seq),
            TimerTarget::Shared(t) => t.is_live(self.seq),
        }
    }

    fn fire(self, now: i64) {
        match self.target {
            TimerTarget::Sleep(g) => {
                // SAFETY: as above. The sleeping goroutine is parked (it armed this entry
                // from its park callback, after switching out), so readying it is valid
                // once we win the sequence number.
                let gr: &G = unsafe { &*g.0 };
                if gr.sleep_seq.compare_exchange(self.seq, self.seq + 1, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
                    crate::sched::ready(g.0);
                }
            }
            TimerTarget::Wait(g) => crate::sched::waiter::fire_wait_timer(g.0, self.seq),
            TimerTarget::Shared(t) => t.fire(self.seq, now),
        }
    }
}

impl PartialEq for TimerEntry {
    fn eq(&self, o: &Self) -> bool {
        self.when == o.when && self.order == o.order
    }
}
impl Eq for TimerEntry {}
impl PartialOrd for TimerEntry {
    fn partial_cmp(&self, o: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(o))
    }
}
impl Ord for TimerEntry {
    /// Reversed so that `BinaryHeap` (a max-heap) pops the earliest deadline first.
    fn cmp(&self, o: &Self) -> CmpOrdering {
        (o.when, o.order).cmp(&(self.when, self.order))
    }
}

static ORDER: AtomicU64 = AtomicU64::new(0);

/// A P's timers. `timer0` mirrors the earliest `when` (i64::MAX when empty) so that the
/// scheduler can skip the lock when nothing is due.
///
/// Stale entries go in two ways: every push sweeps once the heap has doubled since the
/// last sweep (`sweep_at`), and user timers report their entries stale as they stop, reset
/// or are freed ([`TimerHeap::note_stale`]), which sweeps as soon as reported entries are a
/// quarter of the heap (Go's zombie count). The second is what frees a timer dropped while
/// pending at once instead of at its deadline (a released `gort_after(1h)`), at O(1)
/// amortised per stale entry.
pub(crate) struct TimerHeap {
    heap: Mutex<Heap>,
    pub timer0: AtomicI64,
    /// Entries reported stale since the last sweep. Approximate: a report may arrive after
    /// its entry was swept or popped (an early sweep later); never one too few, because a
    /// sweep resets it before it reads any entry (see `sweep`), all in SeqCst.
    zombies: AtomicUsize,
    /// `heap.entries.len()`, for `note_stale` to compare without the lock.
    len: AtomicUsize,
}

struct Heap {
    entries: BinaryHeap<TimerEntry>,
    /// Size at which the next stale-entry sweep runs: twice the live count found by the
    /// last sweep, so sweeps cost O(1) amortised per push.
    sweep_at: usize,
    /// The P owning this heap was destroyed by `gort_gomaxprocs` ([`TimerHeap::drain_into`])
    /// and not brought back ([`TimerHeap::reopen`]): nobody looks at this heap, so
    /// [`TimerHeap::push_unless_closed`] refuses entries.
    closed: bool,
}

const MIN_SWEEP: usize = 256;

impl Default for TimerHeap {
    fn default() -> Self {
        TimerHeap::new()
    }
}

impl TimerHeap {
    pub(crate) fn new() -> TimerHeap {
        TimerHeap {
            heap: Mutex::new(Heap { entries: BinaryHeap::new(), sweep_at: MIN_SWEEP, closed: false }),
            timer0: AtomicI64::new(i64::MAX),
            zombies: AtomicUsize::new(0),
            len: AtomicUsize::new(0),
        }
    }

    /// A user timer's entry in this heap has gone stale (stopped, reset or freed): sweeps
    /// once reported entries are a quarter of the heap or more. Called with that timer's
    /// lock held (lock order timer → heap); the sweep reads other timers' atomics only.
    pub(crate) fn note_stale(&self) {
        let zombies = self.zombies.fetch_add(1, Ordering::SeqCst) + 1;
        if zombies.saturating_mul(4) < self.len.load(Ordering::Relaxed) {
            return;
        }
        let mut h = self.heap.lock();
        let garbage = self.sweep(&mut h);
        self.publish(&h);
        drop(h);
        // Dropped unlocked, as in `push`. The last reference to another user timer may go
        // here, under the caller's timer lock: its destructor takes no lock.
        drop(garbage);
    }

    /// Updates the lock-free mirrors of `h` (lock held).
    fn publish(&self, h: &Heap) {
        self.len.store(h.entries.len(), Ordering::Relaxed);
        timerwait::publish_timer0(&self.timer0, h.entries.peek().map_or(i64::MAX, |e| e.when));
    }

    /// Adds an entry; returns true when it became the earliest of this heap.
    pub(crate) fn push(&self, when: i64, seq: u64, target: TimerTarget) -> bool {
        self.push_locked(self.heap.lock(), when, seq, target)
    }

    /// [`TimerHeap::push`], unless the heap's P has been destroyed: then the target comes
    /// back, for the caller to push elsewhere. A thread can still name a destroyed P as its
    /// own (a goroutine whose P was taken while it ran C code learns it at its next
    /// scheduler call); an entry pushed there would never fire. Checked under the heap
    /// lock, which `drain_into` holds to close the heap, so no entry slips in behind it.
    pub(crate) fn push_unless_closed(&self, when: i64, seq: u64, target: TimerTarget) -> Result<bool, TimerTarget> {
        let h = self.heap.lock();
        if h.closed {
            return Err(target);
        }
        Ok(self.push_locked(h, when, seq, target))
    }

    fn push_locked(&self, mut h: parking_lot::MutexGuard<'_, Heap>, when: i64, seq: u64, target: TimerTarget) -> bool {
        // An entry always counts as pending (`timer0 != i64::MAX`): see [`MAX_WHEN`].
        let when = when.min(MAX_WHEN);
        let order = ORDER.fetch_add(1, Ordering::Relaxed);
        h.entries.push(TimerEntry { when, seq, order, target });
        let garbage = if h.entries.len() >= h.sweep_at { self.sweep(&mut h) } else { Vec::new() };
        let top = h.entries.peek().map_or(i64::MAX, |e| e.when);
        self.len.store(h.entries.len(), Ordering::Relaxed);
        timerwait::publish_timer0(&self.timer0, top);
        drop(h);
        // Stale entries are dropped with the heap unlocked: a shared target's last
        // reference may go with them, and its destructor (a user timer releasing its
        // channel) is none of the heap's business.
        drop(garbage);
        top == when
    }

    /// The scheduler's per-round check: fires due timers. The precise clock costs ~25 ns,
    /// a third of a yield, so it is read only when the coarse clock (a few ns, lagging by
    /// at most its resolution) says the earliest timer could be due.
    #[inline]
    pub(crate) fn run_if_due(&self) {
        let t0 = self.timer0.load(Ordering::Relaxed);
        if t0 == i64::MAX || t0 > coarse_nanotime().saturating_add(coarse_slack()) {
            return;
        }
        self.run(nanotime());
    }

    /// Removes stale entries (start/stop churn) and schedules the next sweep at twice the
    /// live count: invariant `entries.len() < sweep_at` after every push. Returns the
    /// removed entries, for the caller to drop after unlocking. Resets the zombie count
    /// first: a timer reports its entry after making it stale, so a report counted before
    /// the reset is for an entry this sweep sees stale.
    fn sweep(&self, h: &mut Heap) -> Vec<TimerEntry> {
        self.zombies.store(0, Ordering::SeqCst);
        let mut live = std::mem::take(&mut h.entries).into_vec();
        let stale: Vec<TimerEntry> = live.extract_if(.., |e| !e.is_live()).collect();
        // A heap that once held many entries gives the memory back.
        if live.capacity() > 4 * live.len() + MIN_SWEEP {
            live.shrink_to(2 * live.len());
        }
        h.sweep_at = (live.len() * 2).max(MIN_SWEEP);
        h.entries = BinaryHeap::from(live);
        stale
    }

    /// Fires every entry due at `now`; returns the next deadline (i64::MAX if none).
    /// Callbacks run with the heap unlocked, so they may add timers.
    pub(crate) fn run(&self, now: i64) -> i64 {
        if self.timer0.load(Ordering::Acquire) > now {
            return self.timer0.load(Ordering::Acquire);
        }
        let mut due: Vec<TimerEntry> = Vec::new();
        let next = {
            let mut h = self.heap.lock();
            while let Some(top) = h.entries.peek() {
                if top.when > now {
                    break;
                }
                due.push(h.entries.pop().expect("peeked"));
            }
            self.publish(&h);
            h.entries.peek().map_or(i64::MAX, |e| e.when)
        };
        for e in due {
            e.fire(now);
        }
        next
    }

    /// Moves every entry into `dst` (used when a P is destroyed by `gort_gomaxprocs`) and
    /// closes this heap until [`TimerHeap::reopen`].
    pub(crate) fn drain_into(&self, dst: &'static TimerHeap) {
        let v: Vec<TimerEntry> = {
            let mut h = self.heap.lock();
            h.closed = true;
            std::mem::take(&mut h.entries).into_vec()
        };
        self.len.store(0, Ordering::Relaxed);
        timerwait::publish_timer0(&self.timer0, i64::MAX);
        for e in v {
            if e.is_live() {
                let shared = match &e.target {
                    TimerTarget::Shared(t) => Some(t.clone()),
                    _ => None,
                };
                let seq = e.seq;
                dst.push(e.when, e.seq, e.target);
                if let Some(t) = shared {
                    t.moved(seq, dst);
                }
            }
        }
    }

    /// Accepts entries again: the heap's P is back (`gort_gomaxprocs` grew).
    pub(crate) fn reopen(&self) {
        self.heap.lock().closed = false;
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.heap.lock().entries.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.timer0.load(Ordering::Acquire) == i64::MAX
    }
}

/// Sleeps the calling goroutine (or thread) for `ns` nanoseconds.
pub(crate) fn sleep(ns: i64) {
    if ns <= 0 {
        crate::sched::gosched();
        return;
    }
    sleep_until(nanotime().saturating_add(ns).min(MAX_WHEN));
}

/// Sleeps until the monotonic clock reaches `deadline`. Returns immediately when it has
/// already passed.
pub(crate) fn sleep_until(deadline: i64) {
    let deadline = deadline.min(MAX_WHEN);
    if deadline <= nanotime() {
        return;
    }
    if crate::sched::in_goroutine() {
        crate::sched::park_sleep(deadline);
    } else {
        let ts = libc::timespec {
            tv_sec: (deadline / 1_000_000_000) as libc::time_t,
            tv_nsec: (deadline % 1_000_000_000) as libc::c_long,
        };
        // SAFETY: valid timespec; clock_nanosleep with TIMER_ABSTIME on CLOCK_MONOTONIC
        // sleeps the calling thread. Interrupted by a signal, it is retried.
        while unsafe { libc::clock_nanosleep(libc::CLOCK_MONOTONIC, libc::TIMER_ABSTIME, &ts, std::ptr::null_mut()) }
            == libc::EINTR
        {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counter {
        seq: AtomicU64,
        fired: AtomicUsize,
        order: Mutex<Vec<u64>>,
    }
    impl TimerFire for Counter {
        fn fire(&self, seq: u64, _now: i64) {
            if self.is_live(seq) {
                self.fired.fetch_add(1, Ordering::SeqCst);
                self.order.lock().push(seq);
            }
        }
        fn is_live(&self, seq: u64) -> bool {
            seq >= self.seq.load(Ordering::SeqCst)
        }
    }

    #[test]
    fn fires_in_deadline_order_and_skips_stale() {
        let h = TimerHeap::new();
        let c = Arc::new(Counter { seq: AtomicU64::new(0), fired: AtomicUsize::new(0), order: Mutex::new(vec![]) });
        for (when, seq) in [(30, 3), (10, 1), (20, 2), (20, 4)] {
            h.push(when, seq, TimerTarget::Shared(c.clone()));
        }
        assert_eq!(h.timer0.load(Ordering::SeqCst), 10);
        assert_eq!(h.run(5), 10);
        assert_eq!(h.run(20), 30);
        assert_eq!(*c.order.lock(), vec![1, 2, 4]);
        c.seq.store(10, Ordering::SeqCst); // cancel everything older than 10
        assert_eq!(h.run(100), i64::MAX);
        assert_eq!(c.fired.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn a_drained_heap_refuses_entries_until_reopened() {
        static DST: std::sync::LazyLock<TimerHeap> = std::sync::LazyLock::new(TimerHeap::new);
        let h = TimerHeap::new();
        let c = Arc::new(Counter { seq: AtomicU64::new(0), fired: AtomicUsize::new(0), order: Mutex::new(vec![]) });
        assert_eq!(h.push_unless_closed(5, 0, TimerTarget::Shared(c.clone())).ok(), Some(true));
        h.drain_into(&DST);
        assert_eq!((h.len(), DST.len()), (0, 1));
        assert!(h.push_unless_closed(5, 0, TimerTarget::Shared(c.clone())).is_err(), "closed: nobody would fire it");
        assert!(h.is_empty());
        h.reopen();
        assert!(h.push_unless_closed(5, 0, TimerTarget::Shared(c.clone())).is_ok());
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn stale_reports_sweep_at_a_quarter() {
        let h = TimerHeap::new();
        let c = Arc::new(Counter { seq: AtomicU64::new(0), fired: AtomicUsize::new(0), order: Mutex::new(vec![]) });
        for i in 0..10u64 {
            h.push(1_000_000 + i as i64, i, TimerTarget::Shared(c.clone()));
        }
        // Entries 0 and 1 go stale and are reported: 2 of 10, no sweep yet.
        c.seq.store(2, Ordering::SeqCst);
        h.note_stale();
        h.note_stale();
        assert_eq!(h.len(), 10);
        // A third report makes stale entries a quarter or more: all of them go.
        c.seq.store(3, Ordering::SeqCst);
        h.note_stale();
        assert_eq!(h.len(), 7);
        assert_eq!(h.timer0.load(Ordering::SeqCst), 1_000_003);
        assert_eq!(Arc::strong_count(&c), 8, "the swept entries let go of their target");
        // Everything stale, reported one by one: the second report empties the heap.
        c.seq.store(100, Ordering::SeqCst);
        h.note_stale();
        assert_eq!(h.len(), 7);
        h.note_stale();
        assert_eq!(h.len(), 0);
        assert!(h.is_empty());
    }

    #[test]
    fn churn_is_compacted() {
        let h = TimerHeap::new();
        let c = Arc::new(Counter { seq: AtomicU64::new(0), fired: AtomicUsize::new(0), order: Mutex::new(vec![]) });
        for i in 0..100_000u64 {
            h.push(1_000_000 + i as i64, i, TimerTarget::Shared(c.clone()));
            c.seq.store(i + 1, Ordering::SeqCst); // stop it right away
        }
        assert!(h.len() < 1000, "heap kept {} stale entries", h.len());
    }
}
