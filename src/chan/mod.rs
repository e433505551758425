//! Channels: Go's `chan`, for elements of any fixed size, and `select` ([`mod@select`]).
//!
//! # Structure
//! A [`Chan`] is a lock, a ring buffer of `cap` elements of `elem_size` bytes, and two FIFO
//! queues of blocked waiters (`recvq`, `sendq`). A waiter is a [`Sudog`] ("pseudo-G", as in
//! Go): a record on the blocked goroutine's (or thread's) own stack naming the waiter and
//! the element buffer to copy from or into. A select puts one sudog per case in the
//! queues of all its channels at once.
//!
//! # Protocol (all under the channel lock)
//! - send: closed → panic. A waiting receiver → copy the element straight into the
//!   receiver's buffer and wake it (direct hand-off, no trip through the ring). Room in the
//!   ring → enqueue there. Otherwise queue a sudog on `sendq` and block.
//! - recv: a waiting sender → take its element (unbuffered: straight from the sender;
//!   buffered, so the ring is full: take the head of the ring and move the sender's element
//!   to its tail, preserving FIFO) and wake it. Elements in the ring → take the head.
//!   Closed and drained → report closed (zeroing the output). Otherwise block.
//! - close: mark closed, dequeue every waiter (receivers get "closed", senders panic when
//!   they wake), wake them all after unlocking.
//!
//! "A waiting receiver" means a sudog in `recvq` whose wait the caller manages to *claim*
//! ([`Waiter::claim`]): the queues may hold sudogs of selects already completed by
//! another case, or of waits whose deadline won; those are dropped on the way
//! ([`WaitQ::dequeue`]) and their owners unlink the rest themselves.
//!
//! Invariants: `qcount <= cap`; `recvq` holds a claimable sudog only if `qcount == 0`;
//! `sendq` holds a claimable sudog only if `qcount == cap`; a sudog is in at most one
//! queue; only whoever claims its wait may fill it in and wake its waiter, once.
//!
//! A waiter blocks through [`Waiter::block`], which releases the channel lock only after a
//! goroutine has switched out (its park callback), so a waker can never ready a goroutine
//! that is still running. Deadlines are the waiter's: see [`crate::sched::waiter`].
//!
//! # Timer channels
//! A user timer's channel ([`crate::time::timer`]) is made by [`Chan::make_timer`]: it
//! has a one-element buffer but reports `len` and `cap` 0, like Go 1.23's synchronous
//! timer channels, and it owns its timer through a [`TimerHook`]. Every receive on it
//! (plain or in a select) first calls the hook, before taking the channel lock, so a
//! timer whose deadline has passed delivers its value to that receive even if no
//! scheduler has run it yet (Go's `maybeRunChan`). The timer sends with [`try_send`]
//! (never blocks, never panics) and empties the buffer with [`drain_one`] when it is
//! stopped or reset.
//!
//! # Lifetime
//! Channels are reference counted (`retain`/`release`). Releasing the last reference while
//! goroutines are blocked on the channel would free the sudogs' queue under them: that is
//! reported as a fatal error instead of a use-after-free. A timer channel's last release
//! detaches its timer first ([`TimerHook::detach`]), which stops it.
//! A use after the last release cannot be caught that way; with the `asan` feature every
//! operation first asks ASan whether the channel is still allocated ([`Chan::check_live`]),
//! since ASan does not see the (uninstrumented) Rust code read freed memory.

mod select;
mod waitq;

pub(crate) use select::{Case, Dir, SelectError, select};
pub(crate) use waitq::{Sudog, WaitQ};

use crate::gc::roots;
use crate::sched::rtlock::RtLock;
use crate::sched::tsan;
use crate::sched::{NO_DEADLINE, Waiter, Woken};
use std::cell::UnsafeCell;
use std::ffi::CString;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The timer behind a timer channel, called at the start of every receive on it. The
/// channel owns it.
pub(crate) trait TimerHook: Send + Sync {
    /// Fires the timer now if its deadline has passed (it sends on the channel, so it is
    /// called without the channel lock).
    fn run_if_due(&self);
    /// A receive may block on the channel: the timer must be on a heap from now on (until
    /// the matching [`TimerHook::unblocked`]), or nobody would fire it.
    fn will_block(&self);
    fn unblocked(&self);
    /// The channel's last reference is gone and it is about to be freed: the timer must
    /// never touch it again (it stops, and forgets the channel).
    fn detach(&self);
}

/// Returned by [`Chan::before_recv`] for a receive that may block on a timer channel:
/// tells the timer when the receive is over.
pub(crate) struct TimerWait(Option<Arc<dyn TimerHook>>);

impl Drop for TimerWait {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            t.unblocked();
        }
    }
}

struct State {
    qcount: usize,
    sendx: usize,
    recvx: usize,
    closed: bool,
    recvq: WaitQ,
    sendq: WaitQ,
}

pub(crate) struct Chan {
    lock: RtLock,
    /// Protected by `lock`.
    state: UnsafeCell<State>,
    /// The ring: `cap * elem_size` bytes (null when that is 0). The pointer is immutable;
    /// the contents are protected by `lock`.
    buf: *mut u8,
    elem_size: usize,
    cap: usize,
    refs: AtomicUsize,
    /// Mirror of `state.qcount` for `len` without the lock.
    len: AtomicUsize,
    /// Set for a timer channel (immutable): its timer, which the channel owns (the timer
    /// points back without owning; see [`TimerHook::detach`]).
    timer: Option<Arc<dyn TimerHook>>,
    /// Our entry in the collector's registry of channels ([`roots::CHANNELS`]), for
    /// channels whose elements have a size (timer channels hold a deadline, not program
    /// bytes, and are left out). Immutable; cleared from the registry before freeing.
    root: Option<roots::Slot>,
}

// SAFETY: all mutable state is behind `lock`; the rest is immutable or atomic.
unsafe impl Sync for Chan {}
// SAFETY: as above.
unsafe impl Send for Chan {}

/// Why a channel could not be made.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum MakeError {
    /// `elem_size * cap` overflows or exceeds the address space.
    TooLarge,
    NoMemory,
}

/// Why a send or receive with a deadline did not complete.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub(crate) enum Blocked {
    /// The deadline had passed on entry and the operation would have blocked.
    WouldBlock,
    /// The deadline passed while waiting.
    TimedOut,
}

const MAX_BUF: usize = isize::MAX as usize / 2;

impl Chan {
    /// Makes a channel with one reference.
    pub(crate) fn make(elem_size: usize, cap: usize) -> Result<*mut Chan, MakeError> {
        Self::make_with(elem_size, cap, None)
    }

    /// Makes a timer channel (see the module docs): a one-element buffer that reports
    /// `len` and `cap` 0, and `hook` called before every receive and detached before the
    /// channel is freed.
    pub(crate) fn make_timer(elem_size: usize, hook: Arc<dyn TimerHook>) -> Result<*mut Chan, MakeError> {
        Self::make_with(elem_size, 1, Some(hook))
    }

    fn make_with(elem_size: usize, cap: usize, timer: Option<Arc<dyn TimerHook>>) -> Result<*mut Chan, MakeError> {
        let bytes = elem_size.checked_mul(cap).filter(|&b| b <= MAX_BUF).ok_or(MakeError::TooLarge)?;
        let buf = if bytes == 0 {
            ptr::null_mut()
        } else {
            // Small rings: malloc + memset. glibc's calloc bypasses its per-thread cache,
            // which made a channel per timer cost a trip through the arena on make and on
            // free (timer start/stop: 280 instructions of _int_free per pair). Large ones:
            // calloc, which gets zeroed pages from the kernel for free.
            // SAFETY: allocations of a nonzero size, zeroed before use; freed in `release`.
            let p = unsafe {
                if bytes <= 1024 {
                    let p = libc::malloc(bytes) as *mut u8;
                    if !p.is_null() {
                        ptr::write_bytes(p, 0, bytes);
                    }
                    p
                } else {
                    libc::calloc(1, bytes) as *mut u8
                }
            };
            if p.is_null() {
                return Err(MakeError::NoMemory);
            }
            p
        };
        let c = Box::new(Chan {
            lock: RtLock::new(),
            state: UnsafeCell::new(State {
                qcount: 0,
                sendx: 0,
                recvx: 0,
                closed: false,
                recvq: WaitQ::new(),
                sendq: WaitQ::new(),
            }),
            buf,
            elem_size,
            cap,
            refs: AtomicUsize::new(1),
            len: AtomicUsize::new(0),
            root: None,
            timer,
        });
        let registered = elem_size != 0 && c.timer.is_none();
        let c = Box::into_raw(c);
        if registered {
            // Published only now that the channel is complete: the collector may read it
            // from the moment the slot holds it.
            match roots::CHANNELS.add(c as *const u8, 0) {
                // SAFETY: nobody else knows `c` yet; `root` is immutable from here on.
                Some(slot) => unsafe { (*c).root = Some(slot) },
                None => {
                    // SAFETY: made above, never shared.
                    unsafe {
                        if !buf.is_null() {
                            libc::free(buf as *mut libc::c_void);
                        }
                        drop(Box::from_raw(c));
                    }
                    return Err(MakeError::NoMemory);
                }
            }
        }
        Ok(c)
    }

    /// The buffer capacity; 0 for a timer channel (Go 1.23: its buffer is internal).
    pub(crate) fn cap(&self) -> usize {
        if self.timer.is_some() { 0 } else { self.cap }
    }

    pub(crate) fn elem_size(&self) -> usize {
        self.elem_size
    }

    /// Elements buffered; 0 for a timer channel (Go 1.23: a fired, unreceived value is
    /// not "in" the channel, it is what the next receive gets).
    pub(crate) fn len(&self) -> usize {
        if self.timer.is_some() { 0 } else { self.len.load(Ordering::Relaxed) }
    }

    /// Calls the timer hook of a timer channel (before a receive, without the lock):
    /// fires a due timer, and if the receive may block, makes sure the timer is on a heap
    /// until the returned guard goes. None (nothing built, nothing to drop) for any other
    /// channel, or when the receive cannot block.
    #[inline]
    pub(crate) fn before_recv(&self, may_block: bool) -> Option<TimerWait> {
        self.check_live();
        let t = self.timer.as_ref()?;
        let w = Self::run_timer(t, may_block);
        w.0.is_some().then_some(w)
    }

    #[cold]
    fn run_timer(t: &Arc<dyn TimerHook>, may_block: bool) -> TimerWait {
        t.run_if_due();
        if !may_block {
            return TimerWait(None);
        }
        t.will_block();
        TimerWait(Some(t.clone()))
    }

    /// With the `asan` feature, an ASan report if this channel was freed (released by its
    /// last owner): the C code's use of a released channel, made visible. No-op otherwise.
    #[inline(always)]
    fn check_live(&self) {
        let this = self as *const Chan as *const u8;
        crate::sched::asan::check_addressable(this, std::mem::size_of::<Chan>());
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Senders queued now (tests wait for a sender to block).
    #[cfg(test)]
    pub(crate) fn blocked_senders(&self) -> usize {
        let st = self.locked();
        let mut n = 0;
        // SAFETY: lock held.
        unsafe { st.sendq.for_each_member(|_| n += 1) };
        self.unlock();
        n
    }

    /// Takes the lock and keeps it (tests play a thread stopped inside an operation).
    #[cfg(test)]
    pub(crate) fn hold_lock(&self) {
        self.lock.lock();
    }

    /// Gives back the lock of [`Chan::hold_lock`].
    #[cfg(test)]
    pub(crate) fn drop_lock(&self) {
        self.unlock();
    }

    /// The timer a timer channel owns (tests look at its lifetime).
    #[cfg(test)]
    pub(crate) fn timer_hook(&self) -> Option<Arc<dyn TimerHook>> {
        self.timer.clone()
    }

    pub(crate) fn retain(&self) {
        self.check_live();
        self.refs.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether the caller's reference is the only one: then nobody else can take one
    /// (a retain needs a reference), so the answer stays true until the caller acts.
    pub(crate) fn sole_reference(&self) -> bool {
        self.refs.load(Ordering::Acquire) == 1
    }

    /// Drops a reference; frees the channel at zero.
    ///
    /// # Safety
    /// `c` was made by [`Chan::make`] and the caller owns one reference.
    pub(crate) unsafe fn release(c: *mut Chan) {
        // SAFETY: the caller owns a reference, so c is alive.
        let ch = unsafe { &*c };
        ch.check_live();
        if ch.refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        std::sync::atomic::fence(Ordering::Acquire);
        let st = ch.locked();
        let busy = !st.recvq.is_empty() || !st.sendq.is_empty();
        ch.unlock();
        if busy {
            crate::fatal::fatal("gort_chan_release: channel freed while goroutines are blocked on it");
        }
        if let Some(t) = &ch.timer {
            // A pending timer stops here, and a firing in progress (it holds the timer's
            // lock while it sends) finishes before we free what it sends into.
            t.detach();
        }
        if let Some(slot) = ch.root {
            // Out of the collector's sight before anything is freed.
            roots::CHANNELS.remove(slot);
        }
        // SAFETY: last reference and nobody waits: nothing else can reach it.
        unsafe {
            if !ch.buf.is_null() {
                libc::free(ch.buf as *mut libc::c_void);
            }
            drop(Box::from_raw(c));
        }
    }

    /// The program's bytes this channel holds, for the collector ([`roots::for_each_root`]):
    /// the buffered elements, and the element of every blocked sender (a select's send
    /// cases included). Reads without the lock: if it is free, the state is consistent and
    /// only the live part of the ring is reported, to `held`. If a stopped thread holds
    /// it, an element may be half moved and `qcount` not yet updated, so the whole ring is
    /// reported, to `maybe_stale`: its free slots still hold elements received earlier,
    /// which the collector keeps alive one more cycle but the program no longer holds
    /// (`gccheckmark` must not expect them marked). The sender queue is valid to walk in
    /// any frozen state (see [`WaitQ`] and the essay in `gc/roots.rs`); its elements go to
    /// `held`.
    ///
    /// # Safety
    /// `c` is registered in [`roots::CHANNELS`] and the world is stopped (or no thread
    /// touches the channel meanwhile).
    pub(crate) unsafe fn for_each_held_range(
        c: *const Chan,
        held: &mut dyn FnMut(*const u8, usize),
        maybe_stale: &mut dyn FnMut(*const u8, usize),
    ) {
        // SAFETY: registered channels are alive (removed from the registry before they are
        // freed); nobody runs to change the state while we read it.
        let (ch, st) = unsafe { (&*c, &*(*c).state.get()) };
        let es = ch.elem_size;
        if !ch.buf.is_null() {
            if ch.lock.is_locked() {
                maybe_stale(ch.buf, ch.cap * es);
            } else if st.qcount > 0 {
                let first = st.qcount.min(ch.cap - st.recvx);
                held(ch.slot(st.recvx), first * es);
                if first < st.qcount {
                    held(ch.buf, (st.qcount - first) * es);
                }
            }
        }
        // SAFETY: as above; every sudog on the chain is alive (see WaitQ::for_each_member).
        unsafe {
            st.sendq.for_each_member(|s| {
                let e = (*s).elem;
                if !e.is_null() {
                    held(e, es);
                }
            })
        };
    }

    fn slot(&self, i: usize) -> *mut u8 {
        // SAFETY: i < cap and buf holds cap elements (for elem_size 0 the offset is 0 and
        // the pointer is never dereferenced).
        unsafe { self.buf.add(i * self.elem_size) }
    }

    /// Copies one element (no-op for size 0 or a null destination; a null source zeroes).
    fn copy(&self, src: *const u8, dst: *mut u8) {
        self.check_live();
        if self.elem_size == 0 || dst.is_null() {
            return;
        }
        if crate::gc::barrier::active() {
            // The destination may be a heap object's field: what it held is a deletion
            // the concurrent mark must see (as gort_store_range).
            // SAFETY: dst holds elem_size readable bytes (caller's buffer contract).
            unsafe { crate::gc::barrier::shade_words(dst as usize, self.elem_size) };
        }
        // Unobserved by TSan: the two sides are ordered by the channel's annotations,
        // and this copy may run on a third goroutine's fiber (the one that matched them).
        tsan::unobserved(|| {
            if src.is_null() {
                // SAFETY: dst holds elem_size bytes (caller's buffer contract).
                unsafe { ptr::write_bytes(dst, 0, self.elem_size) };
            } else {
                // SAFETY: both hold elem_size bytes; distinct buffers (ptr::copy tolerates a
                // caller passing the same buffer to both sides of a select). Word-sized
                // elements are the common case: a constant size compiles to a move instead
                // of a call to memmove.
                unsafe {
                    match self.elem_size {
                        4 => ptr::copy(src, dst, 4),
                        8 => ptr::copy(src, dst, 8),
                        16 => ptr::copy(src, dst, 16),
                        n => ptr::copy(src, dst, n),
                    }
                }
            }
        })
    }

    #[allow(clippy::mut_from_ref)]
    fn locked(&self) -> &mut State {
        self.check_live();
        self.lock.lock();
        // SAFETY: we hold the lock until `unlock`.
        unsafe { &mut *self.state.get() }
    }

    /// The state, for a caller that already holds the lock.
    ///
    /// # Safety
    /// The caller holds `lock` and no other reference to the state is live.
    #[allow(clippy::mut_from_ref)]
    unsafe fn state(&self) -> &mut State {
        // SAFETY: per the contract.
        unsafe { &mut *self.state.get() }
    }

    fn unlock(&self) {
        self.lock.unlock();
    }

    fn set_len(&self, st: &State) {
        self.len.store(st.qcount, Ordering::Relaxed);
    }

    // ---- the steps shared by send/recv and select (lock held) ----

    /// A send that can complete now: to a claimed receiver, or into the ring.
    /// `Some(Some(r))`: hand-off done into `r`, wake it after unlocking.
    fn try_send_locked(&self, st: &mut State, elem: *const u8) -> Option<Option<*mut Sudog>> {
        // SAFETY: lock held.
        if let Some(r) = unsafe { st.recvq.dequeue() } {
            // SAFETY: r is claimed by us and valid until woken.
            unsafe {
                self.copy(elem, (*r).elem);
                (*r).success = true;
                (*r).fired = true;
            }
            return Some(Some(r));
        }
        if st.qcount < self.cap {
            self.copy(elem, self.slot(st.sendx));
            st.sendx += 1;
            if st.sendx == self.cap {
                st.sendx = 0;
            }
            st.qcount += 1;
            self.set_len(st);
            return Some(None);
        }
        None
    }

    /// A receive that can complete now: from a claimed sender, the ring, or closed.
    /// `Some((ok, sender to wake))`.
    fn try_recv_locked(&self, st: &mut State, out: *mut u8) -> Option<(bool, Option<*mut Sudog>)> {
        // Claimed but left in the queue until its element is copied: a collector that
        // stops us halfway still finds the element through the queue (gc::roots).
        // SAFETY: lock held.
        if let Some(s) = unsafe { st.sendq.claim_front() } {
            // SAFETY: s is claimed by us and valid until woken.
            let sent = unsafe { (*s).elem };
            if self.cap == 0 {
                self.copy(sent, out);
            } else {
                // The ring is full: take its head, put the sender's element at its tail.
                self.copy(self.slot(st.recvx), out);
                self.copy(sent, self.slot(st.recvx));
                st.recvx += 1;
                if st.recvx == self.cap {
                    st.recvx = 0;
                }
                st.sendx = st.recvx;
            }
            // SAFETY: as above; s is still in sendq (claim_front), lock held.
            unsafe {
                st.sendq.remove(s);
                (*s).success = true;
                (*s).fired = true;
            }
            return Some((true, Some(s)));
        }
        if st.qcount > 0 {
            self.copy(self.slot(st.recvx), out);
            st.recvx += 1;
            if st.recvx == self.cap {
                st.recvx = 0;
            }
            st.qcount -= 1;
            self.set_len(st);
            return Some((true, None));
        }
        if st.closed {
            self.copy(ptr::null(), out);
            return Some((false, None));
        }
        None
    }
}

/// Park/block release: unlocks the channel at `arg`.
fn unlock_chan(arg: usize) {
    // SAFETY: the channel is alive while we are queued on it; we hold its lock.
    unsafe { (*(arg as *const Chan)).lock.unlock() };
}

fn go_panic(msg: &str) -> ! {
    crate::panic::panic_msg(CString::new(msg).expect("no NUL"))
}

/// True when a wait with this deadline must not block ("deadline <= now").
fn expired(deadline: i64) -> bool {
    deadline != NO_DEADLINE && deadline <= crate::time::nanotime()
}

/// Blocks forever (operations on a NULL channel without a deadline).
pub(crate) fn block_forever(reason: &'static str) -> ! {
    if crate::sched::in_goroutine() {
        loop {
            crate::sched::park(reason, None, 0);
        }
    }
    let _inside = crate::sched::proc::ForeignInside::enter_if(true);
    loop {
        // SAFETY: pause just waits for a signal.
        unsafe { libc::pause() };
    }
}

/// An operation on a NULL channel with a deadline: waits for the deadline.
pub(crate) fn block_until(reason: &'static str, deadline: i64) -> Blocked {
    if deadline == NO_DEADLINE {
        block_forever(reason);
    }
    if expired(deadline) {
        return Blocked::WouldBlock;
    }
    let _inside = crate::sched::proc::ForeignInside::enter_if(!crate::sched::in_goroutine());
    crate::time::sleep_until(deadline);
    Blocked::TimedOut
}

/// After a wait on one channel timed out: unlinks our sudog if no waker did.
fn unlink_after_timeout(c: &Chan, s: &mut Sudog, from_sendq: bool) {
    let st = c.locked();
    if s.queued {
        // SAFETY: s is in that queue (queued is protected by the lock we hold).
        unsafe { if from_sendq { st.sendq.remove(s) } else { st.recvq.remove(s) } }
    }
    c.unlock();
}

/// Sends the element at `elem` (elem_size bytes), blocking until a receiver takes it or
/// there is room, or until `deadline` ([`NO_DEADLINE`]: none). Panics (gort panic) if the
/// channel is or becomes closed.
///
/// # Safety
/// `c` is a live channel; `elem` points to elem_size readable bytes (or is null for size 0).
pub(crate) unsafe fn send(c: &Chan, elem: *const u8, deadline: i64) -> Result<(), Blocked> {
    tsan::release(c);
    // SAFETY: per the contract.
    let r = unsafe { send_unannotated(c, elem, deadline) };
    if r.is_ok() {
        tsan::acquire(c);
    }
    r
}

/// [`send`] without its TSan annotations.
///
/// # Safety
/// As for [`send`].
unsafe fn send_unannotated(c: &Chan, elem: *const u8, deadline: i64) -> Result<(), Blocked> {
    let st = c.locked();
    if st.closed {
        c.unlock();
        go_panic("send on closed channel");
    }
    if let Some(r) = c.try_send_locked(st, elem) {
        c.unlock();
        if let Some(r) = r {
            // SAFETY: claimed by us in try_send_locked.
            unsafe { (*r).waiter.wake() };
        }
        return Ok(());
    }
    if expired(deadline) {
        c.unlock();
        return Err(Blocked::WouldBlock);
    }
    let w = Waiter::current();
    let wait_gen = w.begin();
    let mut s = if deadline == NO_DEADLINE { Sudog::sole(w, elem as *mut u8) } else { Sudog::new(w, elem as *mut u8) };
    // SAFETY: s lives on our stack until we return, and we unlink it before that if no
    // waker did.
    unsafe { st.sendq.push(&mut s) };
    match w.block("chan send", wait_gen, deadline, unlock_chan, c as *const Chan as usize) {
        Woken::TimedOut => {
            unlink_after_timeout(c, &mut s, true);
            Err(Blocked::TimedOut)
        }
        Woken::Claimed if s.success => Ok(()),
        Woken::Claimed => go_panic("send on closed channel"),
    }
}

/// Receives into `out` (may be null to discard), blocking until a value arrives, the
/// channel is closed and drained, or `deadline`. `Ok(true)` for a value, `Ok(false)` when
/// closed and drained (then `out` is zeroed).
///
/// # Safety
/// `c` is a live channel; `out` is null or points to elem_size writable bytes.
pub(crate) unsafe fn recv(c: &Chan, out: *mut u8, deadline: i64) -> Result<bool, Blocked> {
    tsan::release(c);
    // SAFETY: per the contract.
    let r = unsafe { recv_unannotated(c, out, deadline) };
    if r.is_ok() {
        tsan::acquire(c);
    }
    r
}

/// [`recv`] without its TSan annotations.
///
/// # Safety
/// As for [`recv`].
unsafe fn recv_unannotated(c: &Chan, out: *mut u8, deadline: i64) -> Result<bool, Blocked> {
    // (0 is the usual "don't block"; any other past deadline only costs a heap push.)
    let _timer = c.before_recv(deadline != 0);
    let st = c.locked();
    if let Some((ok, s)) = c.try_recv_locked(st, out) {
        c.unlock();
        if let Some(s) = s {
            // SAFETY: claimed by us in try_recv_locked.
            unsafe { (*s).waiter.wake() };
        }
        return Ok(ok);
    }
    if expired(deadline) {
        c.unlock();
        return Err(Blocked::WouldBlock);
    }
    let w = Waiter::current();
    let wait_gen = w.begin();
    let mut s = if deadline == NO_DEADLINE { Sudog::sole(w, out) } else { Sudog::new(w, out) };
    // SAFETY: as in `send`.
    unsafe { st.recvq.push(&mut s) };
    match w.block("chan receive", wait_gen, deadline, unlock_chan, c as *const Chan as usize) {
        Woken::TimedOut => {
            unlink_after_timeout(c, &mut s, false);
            Err(Blocked::TimedOut)
        }
        Woken::Claimed => {
            if !s.success {
                c.copy(ptr::null(), out);
            }
            Ok(s.success)
        }
    }
}

/// A send that never blocks and never panics, for timers firing (on a scheduler stack, or
/// under their own lock): true if the element was handed to a waiting receiver or
/// buffered; false if the buffer was full or the channel closed (the value is dropped).
///
/// # Safety
/// `c` is a live channel; `elem` points to elem_size readable bytes (or is null for size 0).
pub(crate) unsafe fn try_send(c: &Chan, elem: *const u8) -> bool {
    tsan::release(c);
    let st = c.locked();
    if st.closed {
        c.unlock();
        return false;
    }
    let r = c.try_send_locked(st, elem);
    c.unlock();
    match r {
        Some(Some(r)) => {
            // SAFETY: claimed by us in try_send_locked.
            unsafe { (*r).waiter.wake() };
            true
        }
        Some(None) => true,
        None => false,
    }
}

/// Discards one element if one can be received right now (no timer hook, no blocking):
/// true if one was. False when there is none or the channel is closed and drained.
pub(crate) fn drain_one(c: &Chan) -> bool {
    tsan::release(c);
    let st = c.locked();
    let r = c.try_recv_locked(st, ptr::null_mut());
    c.unlock();
    match r {
        Some((ok, s)) => {
            if let Some(s) = s {
                // SAFETY: claimed by us in try_recv_locked.
                unsafe { (*s).waiter.wake() };
            }
            ok
        }
        None => false,
    }
}

/// Closes the channel: receivers drain the buffer then see "closed"; blocked senders
/// panic. Closing a closed channel is a gort panic.
pub(crate) fn close(c: &Chan) {
    tsan::release(c);
    let st = c.locked();
    if st.closed {
        c.unlock();
        go_panic("close of closed channel");
    }
    st.closed = true;
    // Collect the claimed waiters into a stack (through the sudogs' own storage, which is
    // ours once claimed), then wake them after unlocking.
    let mut woken: Vec<*mut Sudog> = Vec::new();
    // SAFETY: lock held; claimed sudogs are valid until woken.
    unsafe {
        while let Some(r) = st.recvq.dequeue() {
            (*r).success = false;
            (*r).fired = true;
            woken.push(r);
        }
        while let Some(s) = st.sendq.dequeue() {
            (*s).success = false;
            (*s).fired = true;
            woken.push(s);
        }
    }
    c.unlock();
    for s in woken {
        // SAFETY: claimed above.
        unsafe { (*s).waiter.wake() };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffered_fifo_and_close_drains() {
        let c = Chan::make(8, 4).unwrap();
        let ch = unsafe { &*c };
        for i in 0..4u64 {
            unsafe { send(ch, &i as *const u64 as *const u8, NO_DEADLINE) }.unwrap();
        }
        assert_eq!(ch.len(), 4);
        close(ch);
        let mut out = 0u64;
        for i in 0..4u64 {
            assert!(unsafe { recv(ch, &mut out as *mut u64 as *mut u8, NO_DEADLINE) }.unwrap());
            assert_eq!(out, i);
        }
        out = 99;
        assert!(!unsafe { recv(ch, &mut out as *mut u64 as *mut u8, NO_DEADLINE) }.unwrap());
        assert_eq!(out, 0, "closed receive zeroes the output");
        unsafe { Chan::release(c) };
    }

    #[test]
    fn deadlines_on_threads() {
        let c = Chan::make(8, 1).unwrap();
        let ch = unsafe { &*c };
        let mut out = 0u64;
        let now = crate::time::nanotime();
        assert_eq!(unsafe { recv(ch, &mut out as *mut u64 as *mut u8, 0) }, Err(Blocked::WouldBlock));
        assert_eq!(unsafe { recv(ch, &mut out as *mut u64 as *mut u8, now + 2_000_000) }, Err(Blocked::TimedOut));
        let v = 7u64;
        unsafe { send(ch, &v as *const u64 as *const u8, 0) }.unwrap();
        assert_eq!(unsafe { send(ch, &v as *const u64 as *const u8, 0) }, Err(Blocked::WouldBlock));
        assert_eq!(
            unsafe { send(ch, &v as *const u64 as *const u8, crate::time::nanotime() + 2_000_000) },
            Err(Blocked::TimedOut)
        );
        assert!(!ch.is_empty() && ch.len() == 1);
        unsafe { Chan::release(c) };
    }

    #[test]
    fn select_between_threads() {
        let a = Chan::make(8, 0).unwrap() as usize;
        let b = Chan::make(8, 0).unwrap() as usize;
        let t = std::thread::spawn(move || {
            let v = 42u64;
            unsafe { send(&*(b as *const Chan), &v as *const u64 as *const u8, NO_DEADLINE) }.unwrap();
        });
        let (mut x, mut y) = (0u64, 0u64);
        let mut cases = [
            Case { chan: a as *const Chan, dir: Dir::RECV, elem: &mut x as *mut u64 as *mut u8, ok: -1 },
            Case { chan: b as *const Chan, dir: Dir::RECV, elem: &mut y as *mut u64 as *mut u8, ok: -1 },
        ];
        assert_eq!(unsafe { select(&mut cases, NO_DEADLINE) }, Ok(1));
        assert_eq!((y, cases[1].ok), (42, 1));
        t.join().unwrap();
        assert_eq!(unsafe { select(&mut cases, 0) }, Err(SelectError::WouldBlock));
        unsafe {
            Chan::release(a as *mut Chan);
            Chan::release(b as *mut Chan);
        }
    }

    #[test]
    fn timer_channels_hide_their_slot_and_call_the_hook() {
        struct Hook(AtomicUsize, AtomicUsize);
        impl TimerHook for Hook {
            fn run_if_due(&self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
            fn will_block(&self) {}
            fn unblocked(&self) {}
            fn detach(&self) {
                self.1.fetch_add(1, Ordering::SeqCst);
            }
        }
        let hook = Arc::new(Hook(AtomicUsize::new(0), AtomicUsize::new(0)));
        let c = Chan::make_timer(8, hook.clone()).unwrap();
        // SAFETY (test): we own the channel until the release below.
        let ch = unsafe { &*c };
        let (a, b) = (1u64, 2u64);
        // SAFETY (test): 8-byte elements.
        unsafe {
            assert!(try_send(ch, &a as *const u64 as *const u8));
            assert!(!try_send(ch, &b as *const u64 as *const u8), "one slot: the second is dropped");
        }
        assert_eq!((ch.len(), ch.cap()), (0, 0), "Go 1.23: len and cap of a timer channel are 0");
        assert!(drain_one(ch));
        assert!(!drain_one(ch));
        let mut out = 0u64;
        // SAFETY (test): as above.
        assert_eq!(unsafe { recv(ch, &mut out as *mut u64 as *mut u8, 0) }, Err(Blocked::WouldBlock));
        assert_eq!(hook.0.load(Ordering::SeqCst), 1, "a receive calls the hook first");
        let mut cases = [Case { chan: c, dir: Dir::RECV, elem: &mut out as *mut u64 as *mut u8, ok: -1 }];
        // SAFETY (test): live channel, valid element buffer.
        assert_eq!(unsafe { select(&mut cases, 0) }, Err(SelectError::WouldBlock));
        assert_eq!(hook.0.load(Ordering::SeqCst), 2, "so does a select's receive case");
        // A closed channel: the timer's send neither blocks nor panics, and drains nothing.
        close(ch);
        // SAFETY (test): as above.
        assert!(!unsafe { try_send(ch, &a as *const u64 as *const u8) });
        assert!(!drain_one(ch));
        // SAFETY (test): as above.
        assert_eq!(unsafe { recv(ch, &mut out as *mut u64 as *mut u8, 0) }, Ok(false));
        // The channel owns the hook and detaches it when freed, once.
        // SAFETY (test): an extra reference, then both of ours.
        unsafe {
            ch.retain();
            Chan::release(c);
            assert_eq!(hook.1.load(Ordering::SeqCst), 0);
            Chan::release(c);
        }
        assert_eq!(hook.1.load(Ordering::SeqCst), 1);
        assert_eq!(Arc::strong_count(&hook), 1, "the freed channel let go of its timer");
    }

    #[test]
    fn channel_stays_small() {
        // Making a channel writes it whole: past 128 bytes the compiler builds it on the
        // stack and copies it (a memcpy call per make, seen when the collector's registry
        // slot was added as an 8-byte field).
        let size = std::mem::size_of::<Chan>();
        assert!(size <= 128, "Chan grew to {size} bytes");
    }

    #[test]
    fn sizes_that_overflow_are_rejected() {
        assert_eq!(Chan::make(usize::MAX, 2).err(), Some(MakeError::TooLarge));
        assert_eq!(Chan::make(1 << 40, 1 << 40).err(), Some(MakeError::TooLarge));
        let c = Chan::make(0, 0).unwrap();
        unsafe { Chan::release(c) };
    }
}
