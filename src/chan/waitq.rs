//! Wait queues of channels: intrusive FIFOs of [`Sudog`]s.
//!
//! The collector walks them forwards without the channel lock while the world is stopped
//! (`gc/roots.rs`), and a thread stopped by a signal may be halfway through `push` or
//! `remove`. So the forward chain (`head`, `next`) is kept valid at every instruction: a
//! sudog is linked only after its own fields are set, and unlinked by one store before
//! its own links are cleared. The compiler fences keep those stores in source order as a
//! signal handler on the same thread sees them; they cost no instruction.

use crate::sched::Waiter;
use std::ptr;
use std::sync::atomic::{Ordering, compiler_fence};

/// A blocked send or receive (one per case for a select). Lives on the waiter's stack
/// while it is queued; every field but `waiter` is protected by the lock of the channel
/// whose queue it is in (or was last in).
pub(crate) struct Sudog {
    pub waiter: Waiter,
    /// Send: the element to send. Receive: where to put it (null: discard).
    pub elem: *mut u8,
    /// Set by the waker that claimed the wait: true if a value was communicated, false if
    /// the channel was closed.
    pub success: bool,
    /// Set by the waker that claimed the wait: this is the record it completed (tells a
    /// select which case ran).
    pub fired: bool,
    /// In a queue now. Cleared by whoever unlinks it.
    pub queued: bool,
    /// The wait's only record, and the wait has no deadline (a plain send or receive):
    /// the waker that pops it claims with [`Waiter::claim_sole`], no CAS. Immutable.
    pub sole: bool,
    next: *mut Sudog,
    prev: *mut Sudog,
}

impl Sudog {
    /// A record of a wait that may have others (a select's cases) or a deadline.
    pub(crate) fn new(waiter: Waiter, elem: *mut u8) -> Sudog {
        Sudog {
            waiter,
            elem,
            success: false,
            fired: false,
            queued: false,
            sole: false,
            next: ptr::null_mut(),
            prev: ptr::null_mut(),
        }
    }

    /// The only record of a wait without a deadline (see `sole`).
    pub(crate) fn sole(waiter: Waiter, elem: *mut u8) -> Sudog {
        Sudog { sole: true, ..Sudog::new(waiter, elem) }
    }
}

/// An intrusive FIFO of sudogs. Invariant: `queued` is true exactly for the members.
pub(crate) struct WaitQ {
    head: *mut Sudog,
    tail: *mut Sudog,
}

impl WaitQ {
    pub(crate) const fn new() -> WaitQ {
        WaitQ { head: ptr::null_mut(), tail: ptr::null_mut() }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_null()
    }

    /// # Safety
    /// `s` is valid, in no queue, and stays valid while queued; the caller holds the
    /// channel lock.
    pub(crate) unsafe fn push(&mut self, s: *mut Sudog) {
        // SAFETY: per the contract; members are valid.
        unsafe {
            (*s).next = ptr::null_mut();
            (*s).prev = self.tail;
            (*s).queued = true;
            compiler_fence(Ordering::Release);
            if self.tail.is_null() {
                self.head = s;
            } else {
                (*self.tail).next = s;
            }
        }
        self.tail = s;
    }

    /// Unlinks a member.
    ///
    /// # Safety
    /// `s` is in this queue; the caller holds the channel lock.
    pub(crate) unsafe fn remove(&mut self, s: *mut Sudog) {
        // SAFETY: s and its neighbours are members, hence valid.
        unsafe {
            debug_assert!((*s).queued);
            let (p, n) = ((*s).prev, (*s).next);
            if p.is_null() {
                self.head = n;
            } else {
                (*p).next = n;
            }
            compiler_fence(Ordering::Release);
            if n.is_null() {
                self.tail = p;
            } else {
                (*n).prev = p;
            }
            (*s).next = ptr::null_mut();
            (*s).prev = ptr::null_mut();
            (*s).queued = false;
        }
    }

    /// Claims the first sudog whose wait this caller manages to claim and returns it
    /// **still queued**: the caller uses it, then unlinks it with [`WaitQ::remove`] before
    /// releasing the lock. Sudogs whose wait is being completed elsewhere are dropped on
    /// the way, as in [`WaitQ::dequeue`]. (A receiver copying a blocked sender's element
    /// uses this, so the element stays visible to the collector until it is copied.)
    ///
    /// # Safety
    /// The caller holds the channel lock.
    pub(crate) unsafe fn claim_front(&mut self) -> Option<*mut Sudog> {
        loop {
            let s = self.head;
            if s.is_null() {
                return None;
            }
            // SAFETY: s is a member; lock held.
            unsafe {
                let claimed = if (*s).sole { (*s).waiter.claim_sole() } else { (*s).waiter.claim() };
                if claimed {
                    return Some(s);
                }
                self.remove(s);
            }
        }
    }

    /// Calls `f` for every sudog on the forward chain, for the collector: without the
    /// channel lock, in any state a stopped thread can leave the queue in (see the module
    /// docs). Every sudog on the chain is alive: its owner cannot return from the
    /// operation before it is unlinked, under the lock.
    ///
    /// # Safety
    /// The world is stopped (or nobody touches the queue meanwhile).
    pub(crate) unsafe fn for_each_member(&self, mut f: impl FnMut(*const Sudog)) {
        let mut s = self.head;
        while !s.is_null() {
            f(s);
            // SAFETY: s is on the chain, hence alive (above).
            s = unsafe { (*s).next };
        }
    }

    /// Pops the first sudog whose wait this caller manages to claim; sudogs whose wait is
    /// already being completed elsewhere (another case of a select, or its deadline) are
    /// dropped from the queue on the way.
    ///
    /// # Safety
    /// The caller holds the channel lock.
    pub(crate) unsafe fn dequeue(&mut self) -> Option<*mut Sudog> {
        loop {
            let s = self.head;
            if s.is_null() {
                return None;
            }
            // SAFETY: s is a member; lock held.
            unsafe {
                self.remove(s);
                let claimed = if (*s).sole { (*s).waiter.claim_sole() } else { (*s).waiter.claim() };
                if claimed {
                    return Some(s);
                }
            }
        }
    }
}
