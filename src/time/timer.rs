//! User timers and tickers: Go's `time.Timer`, `time.AfterFunc`, `time.After` and
//! `time.Ticker`, with Go 1.23's semantics.
//!
//! # Shape
//! A [`Timer`] or [`Ticker`] is a handle on a shared `Inner`: a lock around the timer's
//! state (armed or not, deadline, period, sequence number), what firing does (send the
//! firing time on a channel the timer owns, or start a goroutine), and two atomics that
//! mirror the state for readers that must not take the lock. Arming pushes an entry
//! `(when, seq, TimerTarget::Shared(inner))` on the caller's P heap; the entry holds a
//! strong reference, so a timer freed while an entry is still queued stays allocated
//! until the entry is popped or swept, and firing a stale entry never touches freed
//! memory. Stop and Reset never search the heap: they retire the sequence number (lazy
//! deletion), and `is_live` tells the heap which entries are garbage.
//!
//! # Go 1.23: no value from an old schedule
//! Since Go 1.23, once `Stop` or `Reset` returns, no value from the old schedule is
//! received. Here that holds because:
//! - firing (from a heap, or from the receive hook below) checks the sequence number and
//!   sends its value while holding the timer's lock, so a firing happens entirely before a
//!   Stop/Reset or not at all;
//! - the channel has a one-element buffer, so firing never blocks (it runs on a scheduler
//!   stack or on a thread without a P); a value that finds the buffer full is dropped;
//! - Stop and Reset, under the same lock, empty that buffer ([`chan::drain_one`]). A value
//!   drained counts as pending, so Stop and Reset return true for a timer that fired but
//!   whose value nobody received, exactly as Go 1.23+ does;
//! - `len` and `cap` of the channel report 0 ([`Chan::make_timer`]): the buffer is an
//!   implementation detail, the channel behaves as unbuffered;
//! - every receive on the channel first fires the timer if its deadline has passed
//!   ([`TimerHook`], Go's `maybeRunChan`): a receiver that looks after the deadline gets
//!   the value even if no scheduler has got round to the heap entry yet. So
//!   `gort_timer_new(0)` followed by a non-blocking receive always succeeds, as in Go.
//!
//! A value handed straight to a receiver blocked on the channel is delivered: a Stop that
//! comes after that returns false ("already fired"), as in Go.
//!
//! Lock order: timer → channel; timer → heap → (nothing). The heap calls `fire` with its
//! lock released and reads only the atomic `live` under it (sweeps), so it never waits
//! for a timer lock.
//!
//! # A timer's channel is in a heap only while somebody waits on it
//! As in Go 1.23, a timer made by `gort_timer_new` (or re-armed by `reset`) is not pushed
//! on a heap until a receive is about to block on its channel ([`TimerHook::will_block`]):
//! until then nobody could notice it firing late, because every receive fires a due timer
//! itself (above). So `gort_timer_new` followed by `gort_timer_stop` — the common
//! "timeout that did not happen" — never touches a heap or its lock, and leaves no stale
//! entry to sweep. While receivers are blocked (`State::blocked > 0`) arming pushes at
//! once, so a reset under a waiting receiver still wakes it. `gort_after`, AfterFunc
//! timers and tickers push when armed: the first has no handle to keep it alive except
//! its heap entry, and the others must act whether or not anyone receives.
//!
//! # Tickers
//! After each firing the next deadline is the first point of the original schedule after
//! now (`when + k·period`): missed ticks are skipped and the phase is kept, and a tick that
//! finds the buffer full is dropped. A slow receiver therefore gets one stale tick, then
//! ticks on schedule — Go's behaviour.
//!
//! # AfterFunc
//! Firing builds an [`Entry`] under the lock and spawns it after unlocking; Stop returns
//! true only if it prevented that.
//!
//! # Rejected
//! - Go ≤ 1.22's asynchronous channel (a plain one-element channel): Stop could not
//!   retract a value already sent, and callers had to drain it themselves, racily.
//! - Removing the heap entry on Stop: the timer would need to know its heap and index, and
//!   the heap belongs to whichever P armed it (a cross-P lock per Stop). Lazy deletion
//!   leaves a stale entry that the heap sweeps away.
//! - A blocking send, or a goroutine per timer to do it: timer callbacks must not block,
//!   and a goroutine per timer costs a stack.
//! - An unbuffered channel with hand-off only: a value firing when nobody waits would be
//!   lost.

use super::{MAX_WHEN, TimerFire, TimerTarget, nanotime};
use crate::chan::{self, Chan, MakeError, TimerHook};
use crate::sched::Entry;
use parking_lot::Mutex;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

/// Builds the goroutine an AfterFunc timer starts each time it fires.
pub type SpawnFn = Box<dyn Fn() -> Entry + Send + Sync>;

/// Why a ticker could not be made or reset.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum TickerError {
    /// `period <= 0` (Go panics: "non-positive interval for NewTicker").
    NonPositive,
    NoMemory,
}

/// The deadline `ns` from now; zero and negative durations are due at once.
fn deadline_in(ns: i64) -> i64 {
    nanotime().saturating_add(ns.max(0)).min(MAX_WHEN)
}

/// The next tick of a ticker that was due at `when` and fired at `now >= when`: the first
/// `when + k·period` (k ≥ 1) after `now`.
fn next_tick(when: i64, period: i64, now: i64) -> i64 {
    debug_assert!(period > 0);
    let missed = now.saturating_sub(when).max(0) / period;
    when.saturating_add(missed.saturating_add(1).saturating_mul(period)).min(MAX_WHEN)
}

/// One channel reference, released when dropped.
struct ChanRef(NonNull<Chan>);

// SAFETY: a Chan is Send + Sync (all its mutable state is behind its lock) and its
// reference count is atomic.
unsafe impl Send for ChanRef {}
// SAFETY: as above.
unsafe impl Sync for ChanRef {}

impl ChanRef {
    fn get(&self) -> &Chan {
        // SAFETY: we own a reference, so the channel is alive.
        unsafe { self.0.as_ref() }
    }
}

impl Drop for ChanRef {
    fn drop(&mut self) {
        // SAFETY: we own this reference and give it up exactly once.
        unsafe { Chan::release(self.0.as_ptr()) };
    }
}

/// What firing does.
enum Action {
    /// Send the firing time (an `i64`) on the timer's channel.
    Send(ChanRef),
    /// Start a goroutine.
    Spawn(SpawnFn),
    /// Nothing: only in a timer whose channel could not be made (dropped at once).
    Nothing,
}

/// Protected by `Inner::state`.
struct State {
    /// Sequence number of the armed heap entry; every arming takes a new one, so no two
    /// entries of one timer share it. Starts at 0, and 0 is never armed.
    seq: u64,
    armed: bool,
    /// Deadline while armed.
    when: i64,
    /// > 0 for a ticker.
    period: i64,
    /// Push on a heap only when a receiver may block (see the module docs).
    lazy: bool,
    /// The sequence number that has a heap entry (0: none).
    heaped: u64,
    /// Receives on the channel that may be blocked right now ([`TimerHook::will_block`]).
    blocked: u32,
}

struct Inner {
    state: Mutex<State>,
    /// `state.seq` while armed, 0 otherwise: `is_live` reads it without the lock.
    live: AtomicU64,
    /// `state.when` while armed, `i64::MAX` otherwise: the receive hook's quick check.
    due: AtomicI64,
    action: Action,
    /// Ourselves, to put in heap entries.
    me: Weak<Inner>,
}

impl Inner {
    fn new(action: Action, me: &Weak<Inner>, period: i64) -> Inner {
        Inner {
            state: Mutex::new(State { seq: 0, armed: false, when: 0, period, lazy: false, heaped: 0, blocked: 0 }),
            live: AtomicU64::new(0),
            due: AtomicI64::new(i64::MAX),
            action,
            me: me.clone(),
        }
    }

    /// A timer that sends on a channel it makes (timer channel, element size 8).
    fn with_chan(period: i64) -> Result<Arc<Inner>, MakeError> {
        let mut err = None;
        let inner = Arc::new_cyclic(|me: &Weak<Inner>| {
            let hook: Weak<dyn TimerHook> = me.clone();
            let action = match Chan::make_timer(size_of::<i64>(), hook) {
                Ok(c) => Action::Send(ChanRef(NonNull::new(c).expect("Chan::make never returns null"))),
                Err(e) => {
                    err = Some(e);
                    Action::Nothing
                }
            };
            Inner::new(action, me, period)
        });
        match err {
            Some(e) => Err(e),
            None => Ok(inner),
        }
    }

    fn chan(&self) -> Option<*mut Chan> {
        match &self.action {
            Action::Send(c) => Some(c.0.as_ptr()),
            _ => None,
        }
    }

    /// Arms for `when` under a fresh sequence number (lock held).
    fn arm(&self, st: &mut State, when: i64) {
        st.seq += 1;
        st.armed = true;
        st.when = when;
        self.live.store(st.seq, Ordering::Release);
        self.due.store(when, Ordering::Release);
        if st.lazy && st.blocked == 0 {
            return; // pushed by `will_block` if a receive ever waits for it
        }
        self.push(st);
    }

    /// Puts the armed schedule on the caller's P heap (lock held).
    fn push(&self, st: &mut State) {
        st.heaped = st.seq;
        let (when, seq) = (st.when, st.seq);
        // Callers hold a strong reference (a handle, a heap entry being fired, or the
        // receive hook's upgrade), so this cannot fail.
        let me: Arc<dyn TimerFire> = self.me.upgrade().expect("an armed timer is referenced");
        crate::sched::proc::add_timer(when, seq, TimerTarget::Shared(me));
    }

    /// Disarms (lock held): every queued entry becomes stale. Returns whether it was armed.
    fn disarm(&self, st: &mut State) -> bool {
        let was = st.armed;
        st.armed = false;
        self.live.store(0, Ordering::Release);
        self.due.store(i64::MAX, Ordering::Release);
        was
    }

    /// Empties the channel's buffer (lock held): true if a value was there.
    fn drain(&self) -> bool {
        match &self.action {
            Action::Send(c) => chan::drain_one(c.get()),
            _ => false,
        }
    }

    /// Go 1.23's Stop: true if the timer was armed or its value was still unreceived.
    fn stop(&self) -> bool {
        let mut st = self.state.lock();
        let was = self.disarm(&mut st);
        let drained = self.drain();
        was || drained
    }

    /// Go 1.23's Reset: stops (same result as `stop`) and arms for `when` with `period`.
    fn reset(&self, when: i64, period: i64) -> bool {
        let mut st = self.state.lock();
        let was = self.disarm(&mut st);
        let drained = self.drain();
        st.period = period;
        self.arm(&mut st, when);
        was || drained
    }

    /// Fires (lock held; armed and due at `now`): sends, or returns the goroutine to start
    /// once the lock is released; re-arms a ticker.
    fn fire_locked(&self, st: &mut State, now: i64) -> Option<Entry> {
        let start = match &self.action {
            Action::Send(c) => {
                // A full buffer (nobody took the last value) or a channel some misbehaving
                // caller closed: the value is dropped, as Go drops a ticker's tick.
                // SAFETY: live channel (we own a reference); `now` is the 8-byte element.
                unsafe { chan::try_send(c.get(), &now as *const i64 as *const u8) };
                None
            }
            Action::Spawn(f) => Some(f()),
            Action::Nothing => None,
        };
        if st.period > 0 {
            let next = next_tick(st.when, st.period, now);
            self.arm(st, next);
        } else {
            self.disarm(st);
        }
        start
    }
}

/// Starts an AfterFunc goroutine (no lock held).
fn start(e: Entry) {
    if crate::sched::spawn(e).is_none() {
        crate::fatal::fatal("timer: out of memory starting an AfterFunc goroutine");
    }
}

impl TimerFire for Inner {
    fn fire(&self, seq: u64, now: i64) {
        let mut st = self.state.lock();
        if !st.armed || st.seq != seq {
            return; // stopped or re-armed since this entry was queued
        }
        let e = self.fire_locked(&mut st, now);
        drop(st);
        if let Some(e) = e {
            start(e);
        }
    }

    fn is_live(&self, seq: u64) -> bool {
        self.live.load(Ordering::Acquire) == seq
    }
}

impl TimerHook for Inner {
    fn run_if_due(&self) {
        let due = self.due.load(Ordering::Acquire);
        if due == i64::MAX {
            return;
        }
        let now = nanotime();
        if due > now {
            return;
        }
        let mut st = self.state.lock();
        if !st.armed || st.when > now {
            return;
        }
        let e = self.fire_locked(&mut st, now);
        drop(st);
        if let Some(e) = e {
            start(e);
        }
    }

    fn will_block(&self) {
        let mut st = self.state.lock();
        st.blocked += 1;
        if st.armed && st.heaped != st.seq {
            self.push(&mut st);
        }
    }

    fn unblocked(&self) {
        let mut st = self.state.lock();
        st.blocked -= 1;
    }
}

/// A one-shot timer: Go's `time.Timer`, on a channel ([`Timer::new`]) or starting a
/// goroutine ([`Timer::after_func`]). Dropping it stops it.
pub struct Timer {
    inner: Arc<Inner>,
}

impl Timer {
    /// A timer that sends the firing time (`i64`, the [`nanotime`] clock) on its channel
    /// once, `ns` from now (at once for `ns <= 0`).
    pub fn new(ns: i64) -> Result<Timer, MakeError> {
        crate::runtime::ensure_init();
        let inner = Inner::with_chan(0)?;
        let when = deadline_in(ns);
        let mut st = inner.state.lock();
        st.lazy = true;
        inner.arm(&mut st, when);
        drop(st);
        Ok(Timer { inner })
    }

    /// A timer that starts a goroutine running `f()`'s entry, `ns` from now.
    pub fn after_func(ns: i64, f: SpawnFn) -> Timer {
        crate::runtime::ensure_init();
        let inner = Arc::new_cyclic(|me| Inner::new(Action::Spawn(f), me, 0));
        let when = deadline_in(ns);
        inner.arm(&mut inner.state.lock(), when);
        Timer { inner }
    }

    /// The channel (borrowed: valid while the timer lives); None for an AfterFunc timer.
    pub fn chan(&self) -> Option<*mut Chan> {
        self.inner.chan()
    }

    /// Stops the timer. True if that prevented a value from being received (the timer was
    /// pending, or had fired and its value was unreceived) or an AfterFunc from starting.
    /// Afterwards no value of the old schedule is received.
    pub fn stop(&self) -> bool {
        self.inner.stop()
    }

    /// Re-arms the timer for `ns` from now; returns what [`Timer::stop`] would have.
    pub fn reset(&self, ns: i64) -> bool {
        self.inner.reset(deadline_in(ns), 0)
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.inner.stop();
    }
}

/// `time.After`: a channel that receives the firing time once, `ns` from now. The caller
/// owns the returned reference; the pending timer holds its own until it fires.
pub fn after(ns: i64) -> Result<*mut Chan, MakeError> {
    crate::runtime::ensure_init();
    let inner = Inner::with_chan(0)?;
    let c = inner.chan().expect("a channel timer has a channel");
    // SAFETY: the timer owns a reference, so the channel is alive.
    unsafe { &*c }.retain();
    let when = deadline_in(ns);
    inner.arm(&mut inner.state.lock(), when);
    // Our `inner` goes; the heap entry keeps the timer (and its reference) until it fires.
    Ok(c)
}

/// A ticker: Go's `time.Ticker`. Dropping it stops it.
pub struct Ticker {
    inner: Arc<Inner>,
}

impl Ticker {
    /// Ticks every `period` ns, the first one `period` from now.
    pub fn new(period: i64) -> Result<Ticker, TickerError> {
        if period <= 0 {
            return Err(TickerError::NonPositive);
        }
        crate::runtime::ensure_init();
        let inner = Inner::with_chan(period).map_err(|_| TickerError::NoMemory)?;
        let when = deadline_in(period);
        inner.arm(&mut inner.state.lock(), when);
        Ok(Ticker { inner })
    }

    /// The channel (borrowed: valid while the ticker lives).
    pub fn chan(&self) -> *mut Chan {
        self.inner.chan().expect("a ticker has a channel")
    }

    /// Stops the ticker and restarts it with `period`, first tick `period` from now; no tick
    /// of the old schedule is received afterwards. A stopped ticker restarts.
    pub fn reset(&self, period: i64) -> Result<(), TickerError> {
        if period <= 0 {
            return Err(TickerError::NonPositive);
        }
        self.inner.reset(deadline_in(period), period);
        Ok(())
    }

    /// Stops the ticker; no tick is received afterwards (until a reset).
    pub fn stop(&self) {
        self.inner.stop();
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.inner.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chan::Blocked;
    use crate::sched::NO_DEADLINE;

    const MS: i64 = 1_000_000;

    fn ch<'a>(c: *mut Chan) -> &'a Chan {
        // SAFETY (test): the timer owning `c` outlives every use in these tests.
        unsafe { &*c }
    }

    /// Receives one i64 with a deadline (None: would block / timed out).
    fn recv_until(c: *mut Chan, deadline: i64) -> Option<i64> {
        let mut v = 0i64;
        // SAFETY: live channel of 8-byte elements; `v` is 8 bytes.
        match unsafe { chan::recv(ch(c), &mut v as *mut i64 as *mut u8, deadline) } {
            Ok(true) => Some(v),
            Ok(false) => panic!("timer channel closed"),
            Err(Blocked::WouldBlock | Blocked::TimedOut) => None,
        }
    }

    #[test]
    fn next_tick_skips_missed_ticks_and_keeps_phase() {
        assert_eq!(next_tick(100, 10, 100), 110);
        assert_eq!(next_tick(100, 10, 105), 110);
        assert_eq!(next_tick(100, 10, 110), 120);
        assert_eq!(next_tick(100, 10, 155), 160);
        assert_eq!(next_tick(i64::MAX - 5, 10, i64::MAX - 5), MAX_WHEN);
        assert_eq!(next_tick(0, i64::MAX, 1), MAX_WHEN);
        assert_eq!(deadline_in(i64::MAX), MAX_WHEN);
        assert!(deadline_in(-5) <= nanotime());
    }

    #[test]
    fn stop_and_reset_results_follow_go_1_23() {
        // Pending: Stop true, then false.
        let t = Timer::new(3_600_000 * MS).unwrap();
        let c = t.chan().unwrap();
        assert_eq!((ch(c).len(), ch(c).cap()), (0, 0));
        assert!(t.stop());
        assert!(!t.stop());
        // Stopped: Reset false. Fired, unreceived: Reset true and the value is gone.
        assert!(!t.reset(0));
        let now = nanotime();
        // Not on a heap (nobody waits): it fires when somebody looks, e.g. a receive.
        assert_eq!(t.inner.state.lock().heaped, 0, "a timer nobody waits for stays off the heaps");
        TimerHook::run_if_due(&*t.inner);
        assert!(!t.inner.state.lock().armed, "a due timer fires");
        assert!(t.reset(3_600_000 * MS));
        assert_eq!(recv_until(c, 0), None);
        // Fired, unreceived: Stop true, nothing to receive afterwards.
        assert!(t.reset(-1));
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(t.stop());
        assert_eq!(recv_until(c, 0), None);
        assert!(!t.stop());
        // Received: Stop false.
        assert!(!t.reset(MS));
        let v = recv_until(c, NO_DEADLINE).unwrap();
        assert!(v >= now);
        assert!(!t.stop());
    }

    #[test]
    fn a_due_timer_fires_into_the_receive_that_looks() {
        // Deadline passed: a non-blocking receive gets the value, whatever the scheduler
        // did meanwhile (the receive hook fires it).
        for ns in [0, -1, 1] {
            let t = Timer::new(ns).unwrap();
            let before = nanotime();
            while nanotime() < before + 2 {}
            assert!(recv_until(t.chan().unwrap(), 0).is_some(), "ns = {ns}");
            assert_eq!(recv_until(t.chan().unwrap(), 0), None, "one value only");
        }
        // Not yet due: nothing.
        let t = Timer::new(3_600_000 * MS).unwrap();
        assert_eq!(recv_until(t.chan().unwrap(), 0), None);
    }

    #[test]
    fn after_holds_its_own_reference_until_it_fires() {
        // Released at once by its caller: the timer still fires into it, then frees it.
        let c = after(MS).unwrap();
        // SAFETY: we own that reference.
        unsafe { Chan::release(c) };
        // Received: the value is the firing time, not before the deadline.
        let t0 = nanotime();
        let c = after(2 * MS).unwrap();
        let v = recv_until(c, NO_DEADLINE).unwrap();
        assert!(v >= t0 + 2 * MS && nanotime() >= t0 + 2 * MS);
        assert_eq!(recv_until(c, 0), None);
        // SAFETY: we own that reference.
        unsafe { Chan::release(c) };
    }

    #[test]
    fn dropped_while_pending_leaves_only_a_stale_entry() {
        let t = Timer::new(MS).unwrap();
        let weak = Arc::downgrade(&t.inner);
        drop(t);
        // The heap entry still holds the timer until it is popped (stale: nothing sent).
        let t0 = nanotime();
        while weak.strong_count() > 0 && nanotime() < t0 + 5000 * MS {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(weak.strong_count(), 0, "the fired stale entry released the timer");
    }

    #[test]
    fn after_func_runs_once_unless_stopped() {
        use std::sync::atomic::AtomicUsize;
        let ran = Arc::new(AtomicUsize::new(0));
        let mk = |ran: &Arc<AtomicUsize>| -> SpawnFn {
            let ran = ran.clone();
            Box::new(move || {
                let ran = ran.clone();
                Entry::Rust(Box::new(move || {
                    ran.fetch_add(1, Ordering::SeqCst);
                }))
            })
        };
        let t = Timer::after_func(3_600_000 * MS, mk(&ran));
        assert!(t.chan().is_none());
        assert!(t.stop());
        assert!(!t.stop());
        assert!(!t.reset(0));
        let t0 = nanotime();
        while ran.load(Ordering::SeqCst) == 0 && nanotime() < t0 + 5000 * MS {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        assert!(!t.stop(), "already ran");
    }

    #[test]
    fn ticker_drops_ticks_for_a_slow_receiver() {
        assert_eq!(Ticker::new(0).err(), Some(TickerError::NonPositive));
        assert_eq!(Ticker::new(-1).err(), Some(TickerError::NonPositive));
        let t = Ticker::new(MS).unwrap();
        let c = t.chan();
        assert_eq!((ch(c).len(), ch(c).cap()), (0, 0));
        std::thread::sleep(std::time::Duration::from_millis(20));
        // ~20 ticks were due: one is buffered, the rest dropped; the next is on schedule.
        let first = recv_until(c, 0).expect("a buffered tick");
        let second = recv_until(c, NO_DEADLINE).unwrap();
        assert!(second > first);
        // Reset: nothing of the old schedule afterwards.
        assert_eq!(t.reset(0), Err(TickerError::NonPositive));
        std::thread::sleep(std::time::Duration::from_millis(3));
        t.reset(3_600_000 * MS).unwrap();
        assert_eq!(recv_until(c, 0), None);
        t.stop();
        t.reset(MS).unwrap();
        assert!(recv_until(c, NO_DEADLINE).is_some(), "a stopped ticker restarts on reset");
    }
}
