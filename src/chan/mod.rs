//! Channels: Go's `chan`, for elements of any fixed size.
//!
//! # Structure
//! A [`Chan`] is a lock, a ring buffer of `cap` elements of `elem_size` bytes, and two FIFO
//! queues of blocked waiters (`recvq`, `sendq`). A waiter is a [`Sudog`] ("pseudo-G", as in
//! Go): a record on the blocked goroutine's (or thread's) own stack naming the waiter and
//! the element buffer to copy from or into.
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
//! Invariants: `qcount <= cap`; a non-empty `recvq` implies `qcount == 0`; a non-empty
//! `sendq` implies `qcount == cap`; a sudog is in at most one queue and only whoever
//! dequeues it under the lock may fill it in and wake its waiter, once.
//!
//! A waiter blocks through [`Waiter::block`], which releases the channel lock only after a
//! goroutine has switched out (its park callback), so a waker can never ready a goroutine
//! that is still running.
//!
//! # Lifetime
//! Channels are reference counted (`retain`/`release`). Releasing the last reference while
//! goroutines are blocked on the channel would free the sudogs' queue under them: that is
//! reported as a fatal error instead of a use-after-free.

use crate::sched::Waiter;
use parking_lot::RawMutex;
use parking_lot::lock_api::RawMutex as _;
use std::cell::UnsafeCell;
use std::ffi::CString;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// A blocked send or receive. Lives on the waiter's stack while it is queued.
pub struct Sudog {
    waiter: Waiter,
    /// Send: the element to send. Receive: where to put it (null: discard).
    elem: *mut u8,
    /// Set by the waker: true if a value was communicated, false if the channel closed.
    success: bool,
    /// Set (Release) by the waker right before waking; thread waiters wait for it.
    done: AtomicBool,
    next: *mut Sudog,
    prev: *mut Sudog,
}

impl Sudog {
    fn new(elem: *mut u8) -> Sudog {
        Sudog {
            waiter: Waiter::current(),
            elem,
            success: false,
            done: AtomicBool::new(false),
            next: ptr::null_mut(),
            prev: ptr::null_mut(),
        }
    }
}

/// An intrusive FIFO of sudogs.
struct WaitQ {
    head: *mut Sudog,
    tail: *mut Sudog,
}

impl WaitQ {
    const fn new() -> WaitQ {
        WaitQ { head: ptr::null_mut(), tail: ptr::null_mut() }
    }
    fn is_empty(&self) -> bool {
        self.head.is_null()
    }
    /// # Safety
    /// `s` is valid and in no queue; the caller holds the channel lock.
    unsafe fn push(&mut self, s: *mut Sudog) {
        // SAFETY: per the contract; queued sudogs stay valid while queued.
        unsafe {
            (*s).next = ptr::null_mut();
            (*s).prev = self.tail;
            if self.tail.is_null() {
                self.head = s;
            } else {
                (*self.tail).next = s;
            }
        }
        self.tail = s;
    }
    /// # Safety
    /// The caller holds the channel lock.
    unsafe fn pop(&mut self) -> Option<*mut Sudog> {
        let s = self.head;
        if s.is_null() {
            return None;
        }
        // SAFETY: queued sudogs are valid.
        unsafe {
            self.head = (*s).next;
            if self.head.is_null() {
                self.tail = ptr::null_mut();
            } else {
                (*self.head).prev = ptr::null_mut();
            }
            (*s).next = ptr::null_mut();
        }
        Some(s)
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

pub struct Chan {
    lock: RawMutex,
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
}

// SAFETY: all mutable state is behind `lock`; the rest is immutable or atomic.
unsafe impl Sync for Chan {}
// SAFETY: as above.
unsafe impl Send for Chan {}

/// Why a channel could not be made.
#[derive(Debug, PartialEq, Eq)]
pub enum MakeError {
    /// `elem_size * cap` overflows or exceeds the address space.
    TooLarge,
    NoMemory,
}

const MAX_BUF: usize = isize::MAX as usize / 2;

impl Chan {
    /// Makes a channel with one reference.
    pub fn make(elem_size: usize, cap: usize) -> Result<*mut Chan, MakeError> {
        let bytes = elem_size.checked_mul(cap).filter(|&b| b <= MAX_BUF).ok_or(MakeError::TooLarge)?;
        let buf = if bytes == 0 {
            ptr::null_mut()
        } else {
            // SAFETY: calloc with a nonzero size; freed in `destroy`.
            let p = unsafe { libc::calloc(1, bytes) } as *mut u8;
            if p.is_null() {
                return Err(MakeError::NoMemory);
            }
            p
        };
        let c = Box::new(Chan {
            lock: RawMutex::INIT,
            state: UnsafeCell::new(State { qcount: 0, sendx: 0, recvx: 0, closed: false, recvq: WaitQ::new(), sendq: WaitQ::new() }),
            buf,
            elem_size,
            cap,
            refs: AtomicUsize::new(1),
            len: AtomicUsize::new(0),
        });
        Ok(Box::into_raw(c))
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    pub fn elem_size(&self) -> usize {
        self.elem_size
    }

    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn retain(&self) {
        self.refs.fetch_add(1, Ordering::Relaxed);
    }

    /// Drops a reference; frees the channel at zero.
    ///
    /// # Safety
    /// `c` was made by [`Chan::make`] and the caller owns one reference.
    pub unsafe fn release(c: *mut Chan) {
        // SAFETY: the caller owns a reference, so c is alive.
        let ch = unsafe { &*c };
        if ch.refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        std::sync::atomic::fence(Ordering::Acquire);
        ch.lock.lock();
        // SAFETY: we hold the lock.
        let st = unsafe { &*ch.state.get() };
        let busy = !st.recvq.is_empty() || !st.sendq.is_empty();
        // SAFETY: locked above.
        unsafe { ch.lock.unlock() };
        if busy {
            crate::fatal::fatal("gort_chan_release: channel freed while goroutines are blocked on it");
        }
        // SAFETY: last reference and nobody waits: nothing else can reach it.
        unsafe {
            if !ch.buf.is_null() {
                libc::free(ch.buf as *mut libc::c_void);
            }
            drop(Box::from_raw(c));
        }
    }

    fn slot(&self, i: usize) -> *mut u8 {
        // SAFETY: i < cap and buf holds cap elements (callers guarantee; elem_size 0 gives
        // a dangling-but-unused pointer offset of 0).
        unsafe { self.buf.add(i * self.elem_size) }
    }

    /// Copies one element (no-op for size 0 or a null side).
    fn copy(&self, src: *const u8, dst: *mut u8) {
        if self.elem_size == 0 || dst.is_null() {
            return;
        }
        if src.is_null() {
            // SAFETY: dst holds elem_size bytes (caller's buffer contract).
            unsafe { ptr::write_bytes(dst, 0, self.elem_size) };
        } else {
            // SAFETY: both hold elem_size bytes and do not overlap (distinct buffers).
            unsafe { ptr::copy_nonoverlapping(src, dst, self.elem_size) };
        }
    }

    #[allow(clippy::mut_from_ref)]
    fn locked(&self) -> &mut State {
        self.lock.lock();
        // SAFETY: we hold the lock until `unlock`.
        unsafe { &mut *self.state.get() }
    }

    fn unlock(&self) {
        // SAFETY: only called by the holder of the lock.
        unsafe { self.lock.unlock() };
    }
}

/// Park callback: releases the lock of the channel at `arg`.
fn unlock_chan(_g: *mut crate::sched::G, arg: usize) -> bool {
    // SAFETY: the channel is alive while we are queued on it; we hold its lock.
    unsafe { (*(arg as *const Chan)).lock.unlock() };
    true
}

fn wake(s: *mut Sudog, success: bool) {
    // SAFETY: the sudog was dequeued by us under the lock; it is valid until its waiter
    // runs again, which only happens after `wake`.
    unsafe {
        (*s).success = success;
        let w = (*s).waiter;
        (*s).done.store(true, Ordering::Release);
        w.wake();
    }
}

fn go_panic(msg: &str) -> ! {
    crate::panic::panic_msg(CString::new(msg).expect("no NUL"))
}

/// Blocks forever (operations on a NULL channel).
pub fn block_forever(reason: &'static str) -> ! {
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

/// Sends the element at `elem` (elem_size bytes), blocking until a receiver takes it or
/// there is room. Panics (gort panic) if the channel is or becomes closed.
///
/// # Safety
/// `c` is a live channel; `elem` points to elem_size readable bytes (or is null for size 0).
pub unsafe fn send(c: &Chan, elem: *const u8) {
    let st = c.locked();
    if st.closed {
        c.unlock();
        go_panic("send on closed channel");
    }
    // SAFETY: lock held.
    if let Some(r) = unsafe { st.recvq.pop() } {
        // SAFETY: r is valid (see `wake`).
        c.copy(elem, unsafe { (*r).elem });
        c.unlock();
        wake(r, true);
        return;
    }
    if st.qcount < c.cap {
        c.copy(elem, c.slot(st.sendx));
        st.sendx = (st.sendx + 1) % c.cap;
        st.qcount += 1;
        c.len.store(st.qcount, Ordering::Relaxed);
        c.unlock();
        return;
    }
    let mut s = Sudog::new(elem as *mut u8);
    // SAFETY: s lives on our stack until we are woken (it is dequeued before that).
    unsafe { st.sendq.push(&mut s) };
    let w = s.waiter;
    w.block("chan send", unlock_chan, c as *const Chan as usize, &s.done);
    if !s.success {
        go_panic("send on closed channel");
    }
}

/// Receives into `out` (may be null to discard). Returns true for a value, false when the
/// channel is closed and drained (then `out` is zeroed).
///
/// # Safety
/// `c` is a live channel; `out` is null or points to elem_size writable bytes.
pub unsafe fn recv(c: &Chan, out: *mut u8) -> bool {
    let st = c.locked();
    // SAFETY: lock held.
    if let Some(s) = unsafe { st.sendq.pop() } {
        // SAFETY: s is valid until we wake it.
        let sent = unsafe { (*s).elem };
        if c.cap == 0 {
            c.copy(sent, out);
        } else {
            // The ring is full: take its head, put the sender's element at its tail.
            c.copy(c.slot(st.recvx), out);
            c.copy(sent, c.slot(st.recvx));
            st.recvx = (st.recvx + 1) % c.cap;
            st.sendx = st.recvx;
        }
        c.unlock();
        wake(s, true);
        return true;
    }
    if st.qcount > 0 {
        c.copy(c.slot(st.recvx), out);
        st.recvx = (st.recvx + 1) % c.cap;
        st.qcount -= 1;
        c.len.store(st.qcount, Ordering::Relaxed);
        c.unlock();
        return true;
    }
    if st.closed {
        c.unlock();
        c.copy(ptr::null(), out);
        return false;
    }
    let mut s = Sudog::new(out);
    // SAFETY: as in `send`.
    unsafe { st.recvq.push(&mut s) };
    let w = s.waiter;
    w.block("chan receive", unlock_chan, c as *const Chan as usize, &s.done);
    if !s.success {
        c.copy(ptr::null(), out);
    }
    s.success
}

/// Closes the channel: receivers drain the buffer then see "closed"; blocked senders
/// panic. Closing a closed channel is a gort panic.
pub fn close(c: &Chan) {
    let st = c.locked();
    if st.closed {
        c.unlock();
        go_panic("close of closed channel");
    }
    st.closed = true;
    let mut woken: Vec<*mut Sudog> = Vec::new();
    // SAFETY: lock held.
    while let Some(r) = unsafe { st.recvq.pop() } {
        woken.push(r);
    }
    // SAFETY: lock held.
    while let Some(s) = unsafe { st.sendq.pop() } {
        woken.push(s);
    }
    c.unlock();
    for s in woken {
        wake(s, false);
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
            unsafe { send(ch, &i as *const u64 as *const u8) };
        }
        assert_eq!(ch.len(), 4);
        close(ch);
        let mut out = 0u64;
        for i in 0..4u64 {
            assert!(unsafe { recv(ch, &mut out as *mut u64 as *mut u8) });
            assert_eq!(out, i);
        }
        out = 99;
        assert!(!unsafe { recv(ch, &mut out as *mut u64 as *mut u8) });
        assert_eq!(out, 0, "closed receive zeroes the output");
        unsafe { Chan::release(c) };
    }

    #[test]
    fn sizes_that_overflow_are_rejected() {
        assert_eq!(Chan::make(usize::MAX, 2).err(), Some(MakeError::TooLarge));
        assert_eq!(Chan::make(1 << 40, 1 << 40).err(), Some(MakeError::TooLarge));
        let c = Chan::make(0, 0).unwrap();
        unsafe { Chan::release(c) };
    }
}
