//! User timers and tickers: Go's `time.Timer`, `time.AfterFunc`, `time.After` and
//! `time.Ticker`, with Go 1.23's semantics.
//!
//! # Shape and ownership
//! A [`Timer`] or [`Ticker`] is a handle on a shared `Inner`: a lock around the timer's
//! state (armed or not, deadline, period, its heap entry), what firing does (send on the
//! timer's channel, or start a goroutine), and atomics that mirror the state for readers
//! that must not take the lock. A timer channel owns its timer (`Arc`); the timer points
//! at its channel without owning it, and the channel's last release detaches the timer
//! ([`TimerHook::detach`]: disarmed, pointer cleared, under the timer's lock) before the
//! channel is freed. A [`Timer`] or [`Ticker`] handle owns one channel reference, and
//! `gort_after` hands the only one to its caller: releasing it frees the timer at once,
//! as Go 1.23's collector frees an unreferenced timer.
//!
//! # Heap entries
//! Arming pushes an entry `(when, token, TimerTarget::Shared(inner))` on the caller's P
//! heap. Each push takes a fresh token; the state records the token of the one entry that
//! stands for the armed schedule, and the heap it went to. Stop, Reset and the channel's
//! release never search a heap: they retire the token (lazy deletion; `is_live` tells the
//! heap which entries are garbage) and report the entry stale to its heap
//! ([`super::TimerHeap::note_stale`]), which sweeps as soon as stale entries are a quarter
//! of it. So a timer freed while pending leaves nothing behind for long, whatever its
//! deadline; the entry holds a strong reference, so firing a stale entry never touches
//! freed memory.
//!
//! # Go 1.23: no value from an old schedule
//! Since Go 1.23, once `Stop` or `Reset` returns, no value from the old schedule is
//! received. Here that holds because:
//! - firing (from a heap, or from the receive hook below) checks the entry's token or the
//!   deadline and sends its value while holding the timer's lock, so a firing happens
//!   entirely before a Stop/Reset or not at all;
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
//! The value sent is the time the timer was due (its deadline), not the moment it fired,
//! as Go sends: a timer fired late by a busy scheduler, or by a receive long after the
//! deadline, tells the same time.
//!
//! A value handed straight to a receiver blocked on the channel is delivered: a Stop that
//! comes after that returns false ("already fired"), as in Go.
//!
//! Lock order: timer → channel; timer → heap → (nothing). The heap calls `fire` with its
//! lock released and reads only the atomic `live_entry` under it (sweeps), so it never
//! waits for a timer lock.
//!
//! # A timer's channel is in a heap only while somebody waits on it
//! As in Go 1.23, a channel timer (`gort_timer_new`, `gort_after`, a ticker) is not pushed
//! on a heap until a receive is about to block on its channel ([`TimerHook::will_block`]):
//! until then nobody could notice it firing late, because every receive fires a due timer
//! itself (above). So `gort_timer_new` followed by `gort_timer_stop` — the common
//! "timeout that did not happen" — never touches a heap or its lock, and a released
//! `gort_after` or a freed ticker nobody waited on was never in one. While receivers are
//! blocked (`State::blocked > 0`) arming pushes at once, so a reset under a waiting
//! receiver still wakes it. An entry pushed for a receiver stays after the receiver left
//! (a select that took another case): it fires harmlessly into the buffer, or goes stale
//! with the next stop, reset or free. AfterFunc timers push when armed: they must act
//! whether or not anyone receives. A consequence, as in Go: a ticker nobody receives from
//! does not keep deadlock detection from firing.
//!
//! # Tickers
//! After each firing the next deadline is the first point of the original schedule after
//! now (`when + k·period`): missed ticks are skipped and the phase is kept, and a tick that
//! finds the buffer full is dropped. A slow receiver therefore gets one stale tick, then
//! ticks on schedule — Go's behaviour. A ticker nobody waits on is fired by the receive
//! that looks (above), which computes the same schedule.
//!
//! # AfterFunc
//! Firing builds an [`Entry`] under the lock and spawns it after unlocking; Stop returns
//! true only if it prevented that.
//!
//! # Rejected
//! - Go ≤ 1.22's asynchronous channel (a plain one-element channel): Stop could not
//!   retract a value already sent, and callers had to drain it themselves, racily.
//! - Removing the heap entry on Stop: the timer would need its index in the heap, kept up
//!   to date by every sift of a heap another P owns. Reporting it stale costs one atomic
//!   add on that heap, and the sweep it may trigger is paid for by the stale entries.
//! - A timer owning its channel and the channel pointing back weakly (the design before):
//!   `gort_after`'s timer then had to own itself through its heap entry until it fired,
//!   so a released `gort_after(1h)` kept ~340 bytes for an hour.
//! - A blocking send, or a goroutine per timer to do it: timer callbacks must not block,
//!   and a goroutine per timer costs a stack.
//! - An unbuffered channel with hand-off only: a value firing when nobody waits would be
//!   lost.

use super::{MAX_WHEN, TimerFire, TimerHeap, TimerTarget, nanotime};
use crate::chan::{self, Chan, MakeError, TimerHook};
use crate::gc::roots::HeldRoot;
use crate::sched::Entry;
use parking_lot::Mutex;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

/// Builds the goroutine an AfterFunc timer starts each time it fires.
pub(crate) type SpawnFn = Box<dyn Fn() -> Entry + Send + Sync>;

/// Why a ticker could not be made or reset.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub(crate) enum TickerError {
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

/// One channel reference, released when dropped (what a [`Timer`] or [`Ticker`] owns).
struct ChanRef(NonNull<Chan>);

// SAFETY: a Chan is Send + Sync (all its mutable state is behind its lock) and its
// reference count is atomic.
unsafe impl Send for ChanRef {}
// SAFETY: as above.
unsafe impl Sync for ChanRef {}

impl ChanRef {
    fn as_ptr(&self) -> *mut Chan {
        self.0.as_ptr()
    }

    /// Whether this is the channel's only reference (then nobody can take another).
    fn is_sole_reference(&self) -> bool {
        // SAFETY: we own a reference, so the channel is alive.
        unsafe { self.0.as_ref() }.sole_reference()
    }
}

impl Drop for ChanRef {
    fn drop(&mut self) {
        // SAFETY: we own this reference and give it up exactly once.
        unsafe { Chan::release(self.0.as_ptr()) };
    }
}

/// The timer's channel, not owned (the channel owns the timer). Null for an AfterFunc
/// timer, and once the channel's last reference is gone ([`TimerHook::detach`]).
struct ChanPtr(*mut Chan);

// SAFETY: only dereferenced under the timer's lock while non-null, and the channel clears
// it under that lock before it is freed; a Chan is Send + Sync.
unsafe impl Send for ChanPtr {}

/// What firing does.
enum Action {
    /// Send the deadline (an `i64`) on the timer's channel (`State::chan`).
    Send,
    /// Start a goroutine.
    Spawn(SpawnFn),
}

/// Protected by `Inner::state`.
struct State {
    armed: bool,
    /// Deadline while armed.
    when: i64,
    /// > 0 for a ticker.
    period: i64,
    /// Push on a heap only when a receiver may block (see the module docs).
    lazy: bool,
    /// Receives on the channel that may be blocked right now ([`TimerHook::will_block`]).
    blocked: u32,
    /// Token of the heap entry that stands for the armed schedule (0: none). Every push
    /// takes a new one, so no two entries of one timer share it.
    entry: u64,
    /// The last token handed out.
    tokens: u64,
    /// The heap holding `entry`, to report it stale there.
    heap: Option<&'static TimerHeap>,
    chan: ChanPtr,
}

struct Inner {
    state: Mutex<State>,
    /// `state.entry`, for `is_live` without the lock.
    live_entry: AtomicU64,
    /// `state.when` while armed, `i64::MAX` otherwise: the receive hook's quick check.
    due: AtomicI64,
    /// Immutable.
    action: Action,
    /// Ourselves, to put in heap entries.
    me: Weak<Inner>,
}

impl Inner {
    fn new(action: Action, me: &Weak<Inner>, period: i64, lazy: bool) -> Inner {
        Inner {
            state: Mutex::new(State {
                armed: false,
                when: 0,
                period,
                lazy,
                blocked: 0,
                entry: 0,
                tokens: 0,
                heap: None,
                chan: ChanPtr(ptr::null_mut()),
            }),
            live_entry: AtomicU64::new(0),
            due: AtomicI64::new(i64::MAX),
            action,
            me: me.clone(),
        }
    }

    /// A lazy timer with a channel (a timer channel of 8-byte elements) that owns it,
    /// armed for `when`. Returns the timer and the channel's one reference, which the
    /// caller owns. One lock round for both (start/stop loops are a hot path).
    fn with_chan(period: i64, when: i64) -> Result<(Arc<Inner>, ChanRef), MakeError> {
        let inner = Arc::new_cyclic(|me| Inner::new(Action::Send, me, period, true));
        let hook: Arc<dyn TimerHook> = inner.clone();
        let c = Chan::make_timer(size_of::<i64>(), hook)?;
        let c = ChanRef(NonNull::new(c).expect("Chan::make never returns null"));
        let mut st = inner.state.lock();
        st.chan = ChanPtr(c.as_ptr());
        inner.arm(&mut st, when);
        drop(st);
        Ok((inner, c))
    }

    /// Arms for `when` (lock held; not armed, no entry).
    fn arm(&self, st: &mut State, when: i64) {
        debug_assert!(!st.armed && st.entry == 0);
        // TSan: what the arming goroutine did happens before the firing (acquired in
        // `fire_locked`), so before the value sent or the goroutine started, as in Go.
        crate::sched::tsan::release(self);
        st.armed = true;
        st.when = when;
        self.due.store(when, Ordering::Release);
        if st.lazy && st.blocked == 0 {
            return; // pushed by `will_block` if a receive ever waits for it
        }
        self.push(st);
    }

    /// Puts the armed schedule on the caller's P heap under a fresh token (lock held).
    fn push(&self, st: &mut State) {
        st.tokens += 1;
        st.entry = st.tokens;
        // Live before it is in a heap: a sweep there may look at once.
        self.live_entry.store(st.entry, Ordering::SeqCst);
        // Callers hold a strong reference (a handle, a channel, a heap entry being fired,
        // or the receive hook's), so this cannot fail.
        let me: Arc<dyn TimerFire> = self.me.upgrade().expect("an armed timer is referenced");
        st.heap = Some(crate::sched::proc::add_timer(st.when, st.entry, TimerTarget::Shared(me)));
    }

    /// Makes the heap entry, if any, stale and reports it to its heap (lock held).
    fn retire(&self, st: &mut State) {
        if st.entry == 0 {
            return;
        }
        st.entry = 0;
        // Stale before it is reported (see `TimerHeap::zombies`).
        self.live_entry.store(0, Ordering::SeqCst);
        if let Some(h) = st.heap.take() {
            h.note_stale();
        }
    }

    /// Disarms (lock held): the heap entry goes stale. Returns whether it was armed.
    fn disarm(&self, st: &mut State) -> bool {
        let was = st.armed;
        st.armed = false;
        self.due.store(i64::MAX, Ordering::Release);
        self.retire(st);
        was
    }

    /// Empties the channel's buffer (lock held): true if a value was there.
    fn drain(&self, st: &State) -> bool {
        // SAFETY: non-null means the channel is alive (see `ChanPtr`); we hold the lock.
        match unsafe { st.chan.0.as_ref() } {
            Some(c) => chan::drain_one(c),
            None => false,
        }
    }

    /// Go 1.23's Stop: true if the timer was armed or its value was still unreceived.
    fn stop(&self) -> bool {
        let mut st = self.state.lock();
        let was = self.disarm(&mut st);
        let drained = self.drain(&st);
        was || drained
    }

    /// Go 1.23's Reset: stops (same result as `stop`) and arms for `when` with `period`.
    fn reset(&self, when: i64, period: i64) -> bool {
        let mut st = self.state.lock();
        let was = self.disarm(&mut st);
        let drained = self.drain(&st);
        st.period = period;
        self.arm(&mut st, when);
        was || drained
    }

    /// Fires (lock held; armed and due at `now`): sends, or returns the goroutine to start
    /// once the lock is released; re-arms a ticker.
    fn fire_locked(&self, st: &mut State, now: i64) -> Option<Entry> {
        crate::sched::tsan::acquire(self);
        let start = match &self.action {
            Action::Send => {
                // SAFETY: non-null means the channel is alive (see `ChanPtr`); lock held.
                if let Some(c) = unsafe { st.chan.0.as_ref() } {
                    // A full buffer (nobody took the last value) or a channel some
                    // misbehaving caller closed: the value is dropped, as Go drops a
                    // ticker's tick.
                    // SAFETY: live channel; `when` is the 8-byte element.
                    unsafe { chan::try_send(c, &st.when as *const i64 as *const u8) };
                }
                None
            }
            Action::Spawn(f) => Some(f()),
        };
        let period = st.period;
        let when = st.when;
        // Fired from the receive hook, an entry may still be queued for this schedule.
        self.disarm(st);
        if period > 0 {
            self.arm(st, next_tick(when, period, now));
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
    fn fire(&self, token: u64, now: i64) {
        let mut st = self.state.lock();
        if st.entry != token {
            return; // stopped, re-armed or freed since this entry was queued
        }
        // The entry is used up, not stale: nothing to report.
        st.entry = 0;
        st.heap = None;
        self.live_entry.store(0, Ordering::SeqCst);
        debug_assert!(st.armed && st.when <= now);
        let e = self.fire_locked(&mut st, now);
        drop(st);
        if let Some(e) = e {
            start(e);
        }
    }

    fn is_live(&self, token: u64) -> bool {
        self.live_entry.load(Ordering::SeqCst) == token
    }

    fn moved(&self, token: u64, heap: &'static TimerHeap) {
        let mut st = self.state.lock();
        if st.entry == token {
            st.heap = Some(heap);
        } else {
            // Retired (or fired) since the move found it live: a retirement was reported
            // to the old heap, but the entry is in `heap` now. (After a firing this only
            // counts one zombie too many: an early sweep.)
            heap.note_stale();
        }
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
        if st.armed && st.entry == 0 {
            self.push(&mut st);
        }
    }

    fn unblocked(&self) {
        let mut st = self.state.lock();
        st.blocked -= 1;
    }

    fn detach(&self) {
        let mut st = self.state.lock();
        self.disarm(&mut st);
        st.chan = ChanPtr(ptr::null_mut());
    }
}

/// A one-shot timer: Go's `time.Timer`, on a channel ([`Timer::new`]) or starting a
/// goroutine ([`Timer::after_func`]). Dropping it stops it and frees its channel.
pub(crate) struct Timer {
    /// An AfterFunc timer's function and argument (the bytes of its closure) are a root
    /// for the collector while the handle lives: it may be reset and fire again. Dropped
    /// first (field order), after `drop` has stopped the timer and before `inner` may
    /// free the closure.
    #[allow(dead_code, reason = "kept for its Drop (unregisters the root)")]
    held: Option<HeldRoot>,
    inner: Arc<Inner>,
    /// None for an AfterFunc timer.
    chan: Option<ChanRef>,
}

impl Timer {
    /// A timer that sends its deadline (`i64`, the [`nanotime`] clock) on its channel
    /// once, `ns` from now (at once for `ns <= 0`).
    pub(crate) fn new(ns: i64) -> Result<Timer, MakeError> {
        crate::runtime::ensure_init();
        let (inner, chan) = Inner::with_chan(0, deadline_in(ns))?;
        Ok(Timer { held: None, inner, chan: Some(chan) })
    }

    /// A timer that starts a goroutine running `f()`'s entry, `ns` from now.
    pub(crate) fn after_func(ns: i64, f: SpawnFn) -> Timer {
        crate::runtime::ensure_init();
        let inner = Arc::new_cyclic(|me| Inner::new(Action::Spawn(f), me, 0, false));
        let held = match &inner.action {
            Action::Spawn(f) if size_of_val::<dyn Fn() -> Entry + Send + Sync>(&**f) != 0 => {
                let bytes = &**f as *const (dyn Fn() -> Entry + Send + Sync) as *const u8;
                let len = size_of_val::<dyn Fn() -> Entry + Send + Sync>(&**f);
                Some(HeldRoot::new(bytes, len).unwrap_or_else(|| crate::fatal::fatal("gort_after_func: out of memory")))
            }
            _ => None,
        };
        let when = deadline_in(ns);
        inner.arm(&mut inner.state.lock(), when);
        Timer { held, inner, chan: None }
    }

    /// The channel (borrowed: valid while the timer lives); None for an AfterFunc timer.
    pub(crate) fn chan(&self) -> Option<*mut Chan> {
        self.chan.as_ref().map(ChanRef::as_ptr)
    }

    /// Stops the timer. True if that prevented a value from being received (the timer was
    /// pending, or had fired and its value was unreceived) or an AfterFunc from starting.
    /// Afterwards no value of the old schedule is received.
    pub(crate) fn stop(&self) -> bool {
        self.inner.stop()
    }

    /// Re-arms the timer for `ns` from now; returns what [`Timer::stop`] would have.
    pub(crate) fn reset(&self, ns: i64) -> bool {
        self.inner.reset(deadline_in(ns), 0)
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        // Then `chan` goes: its last release detaches (disarms) the timer and frees the
        // channel. Only if somebody else still holds the channel must we stop it here.
        if !self.chan.as_ref().is_some_and(ChanRef::is_sole_reference) {
            self.inner.stop();
        }
    }
}

/// `time.After`: a channel that receives the deadline once, `ns` from now. The caller owns
/// the returned (only) reference, and the channel owns the timer: releasing it before the
/// timer fires stops and frees both at once.
pub(crate) fn after(ns: i64) -> Result<*mut Chan, MakeError> {
    crate::runtime::ensure_init();
    let (_inner, chan) = Inner::with_chan(0, deadline_in(ns))?;
    // The caller's reference, not ours to release.
    let c = chan.as_ptr();
    std::mem::forget(chan);
    Ok(c)
}

/// A ticker: Go's `time.Ticker`. Dropping it stops it and frees its channel.
pub(crate) struct Ticker {
    inner: Arc<Inner>,
    chan: ChanRef,
}

impl Ticker {
    /// Ticks every `period` ns, the first one `period` from now.
    pub(crate) fn new(period: i64) -> Result<Ticker, TickerError> {
        if period <= 0 {
            return Err(TickerError::NonPositive);
        }
        crate::runtime::ensure_init();
        let (inner, chan) = Inner::with_chan(period, deadline_in(period)).map_err(|_| TickerError::NoMemory)?;
        Ok(Ticker { inner, chan })
    }

    /// The channel (borrowed: valid while the ticker lives).
    pub(crate) fn chan(&self) -> *mut Chan {
        self.chan.as_ptr()
    }

    /// Stops the ticker and restarts it with `period`, first tick `period` from now; no tick
    /// of the old schedule is received afterwards. A stopped ticker restarts.
    pub(crate) fn reset(&self, period: i64) -> Result<(), TickerError> {
        if period <= 0 {
            return Err(TickerError::NonPositive);
        }
        self.inner.reset(deadline_in(period), period);
        Ok(())
    }

    /// Stops the ticker (Go's `Ticker.Stop`); no tick is received afterwards, until a
    /// reset starts it again.
    pub(crate) fn stop(&self) {
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
        assert_eq!(t.inner.state.lock().entry, 0, "a timer nobody waits for stays off the heaps");
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
    fn after_is_owned_by_its_channel() {
        // Released at once by its caller: the timer goes with the channel, at once.
        let c = after(3_600_000 * MS).unwrap();
        // SAFETY (test): the channel owns the timer while we hold our reference.
        let hook = ch(c).timer_hook().expect("a timer channel");
        let weak = Arc::downgrade(&hook);
        drop(hook);
        // SAFETY (test): we own that reference.
        unsafe { Chan::release(c) };
        assert_eq!(weak.strong_count(), 0, "a released gort_after frees its timer at once");
        // Received: the value is the deadline, and not received before it.
        let t0 = nanotime();
        let c = after(2 * MS).unwrap();
        let t1 = nanotime();
        let v = recv_until(c, NO_DEADLINE).unwrap();
        assert!(v >= t0 + 2 * MS && v <= t1 + 2 * MS, "the value is the deadline");
        assert!(nanotime() >= t0 + 2 * MS);
        assert_eq!(recv_until(c, 0), None);
        // SAFETY (test): we own that reference.
        unsafe { Chan::release(c) };
    }

    /// The heap a timer's entry went to, if it has one.
    fn heaped(inner: &Inner) -> Option<&'static TimerHeap> {
        let st = inner.state.lock();
        if st.entry == 0 { None } else { st.heap }
    }

    #[test]
    fn freed_while_pending_leaves_nothing_behind() {
        // A timer nobody waited on was never on a heap: dropping it frees it.
        let t = Timer::new(3_600_000 * MS).unwrap();
        assert!(heaped(&t.inner).is_none());
        let weak = Arc::downgrade(&t.inner);
        drop(t);
        assert_eq!(weak.strong_count(), 0);
        // A receive that may block puts it on a heap; dropping it then reports the entry
        // stale, and a heap made only of stale entries is swept at once.
        for kind in 0..4 {
            let (inner, keep): (Arc<Inner>, Box<dyn std::any::Any>) = match kind {
                0 => {
                    let t = Timer::new(3_600_000 * MS).unwrap();
                    (t.inner.clone(), Box::new(t))
                }
                1 => {
                    let t = Ticker::new(3_600_000 * MS).unwrap();
                    (t.inner.clone(), Box::new(t))
                }
                2 => {
                    let t = Timer::after_func(3_600_000 * MS, Box::new(|| Entry::Rust(Box::new(|| {}))));
                    (t.inner.clone(), Box::new(t))
                }
                _ => {
                    let c = after(3_600_000 * MS).unwrap();
                    let hook = ch(c).timer_hook().unwrap();
                    // SAFETY (test): the hook of a channel `after` made is an Inner.
                    let inner = unsafe { Arc::from_raw(Arc::into_raw(hook) as *const Inner) };
                    (inner, Box::new(ChanRef(NonNull::new(c).unwrap())))
                }
            };
            let c = inner.state.lock().chan.0;
            if !c.is_null() {
                // The channel is alive while `keep` is.
                assert_eq!(recv_until(c, 1), None);
            }
            assert!(heaped(&inner).is_some(), "kind {kind}: a receive that may block pushes the timer");
            let weak = Arc::downgrade(&inner);
            drop(inner);
            drop(keep);
            // Freed at once, unless other tests' live entries share that heap: then the
            // stale entry waits for the quarter rule (`TimerHeap::note_stale`, tested
            // there). Either way it is stopped, stale and detached from its channel.
            if let Some(inner) = weak.upgrade() {
                assert_eq!(inner.live_entry.load(Ordering::SeqCst), 0, "kind {kind}");
                let st = inner.state.lock();
                assert!(!st.armed && st.entry == 0 && st.chan.0.is_null(), "kind {kind}");
            }
        }
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

    #[test]
    fn freed_while_firing_on_every_thread() {
        use std::sync::atomic::AtomicUsize;
        // Threads put short timers on the heaps (the idle waiter and the Ps fire them) and
        // free them around their deadline, reporting entries stale while other threads
        // push, fire and sweep: nothing may be lost or touched after it is freed, and an
        // AfterFunc runs exactly when Stop says it will.
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        let expected = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..4u64)
            .map(|k| {
                let expected = expected.clone();
                std::thread::spawn(move || {
                    let mut seed = 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(k + 1);
                    for i in 0..2000 {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        let ns = (seed % 20) as i64 * 1000;
                        let t0 = nanotime();
                        match i % 4 {
                            0 => {
                                let c = after(ns).unwrap();
                                let _ = recv_until(c, nanotime() + ns / 2 + 1);
                                // SAFETY (test): our reference.
                                unsafe { Chan::release(c) };
                            }
                            1 => {
                                let t = Timer::new(ns).unwrap();
                                let _ = recv_until(t.chan().unwrap(), nanotime() + ns / 2 + 1);
                            }
                            2 => {
                                let t = Ticker::new(ns + 1).unwrap();
                                let _ = recv_until(t.chan(), nanotime() + ns / 2 + 1);
                            }
                            _ => {
                                let t = Timer::after_func(
                                    ns,
                                    Box::new(|| {
                                        Entry::Rust(Box::new(|| {
                                            RUNS.fetch_add(1, Ordering::SeqCst);
                                        }))
                                    }),
                                );
                                while nanotime() < t0 + ns {}
                                if !t.stop() {
                                    expected.fetch_add(1, Ordering::SeqCst);
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let t0 = nanotime();
        while RUNS.load(Ordering::SeqCst) < expected.load(Ordering::SeqCst) && nanotime() < t0 + 60_000 * MS {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(RUNS.load(Ordering::SeqCst), expected.load(Ordering::SeqCst));
    }
    #[test]
    fn an_entry_retired_while_it_moves_is_reported_where_it_went() {
        // `TimerHeap::drain_into` (a P going away) checks an entry is live, pushes it on
        // the new heap, then tells the timer (`moved`). A stop in between reports the
        // entry to the old heap, which no longer holds it: the new heap must hear of it,
        // or a freed timer's entry stays there until its deadline (and keeps deadlock
        // detection quiet meanwhile).
        let dst: &'static TimerHeap = Box::leak(Box::new(TimerHeap::new()));
        let t = Timer::after_func(3_600_000 * MS, Box::new(|| Entry::Rust(Box::new(|| {}))));
        let (when, token) = {
            let st = t.inner.state.lock();
            (st.when, st.entry)
        };
        assert_ne!(token, 0, "an AfterFunc timer is on a heap once armed");
        let me: Arc<dyn TimerFire> = t.inner.clone();
        dst.push(when, token, TimerTarget::Shared(me));
        // The stop comes between the push and `moved`.
        assert!(t.stop());
        TimerFire::moved(&*t.inner, token, dst);
        assert_eq!(dst.len(), 0, "the only entry of the heap is stale and was reported there");
        assert!(dst.is_empty());
    }
}
