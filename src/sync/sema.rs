//! `gort_sema`: a counting semaphore with multi-unit acquires and deadlines, served
//! first come, first served (like Go's `x/sync/semaphore`): a large request at the front
//! is not overtaken by small ones behind it, so it cannot starve.
//!
//! The count is an atomic word; its address keys the semtable queue. Acquire takes the
//! units with a CAS when nobody is queued, else queues a record carrying `n`. Release adds
//! to the count under the bucket lock and grants units to the front records while they
//! fit; a timed-out front record leaving may let the ones behind it fit, so it runs the
//! same grant loop. The count never goes below zero: every taker uses a CAS.

use super::semtable::{self, Locked, Record, Waited};
use crate::sched::Waiter;
use crate::sched::tsan;
use std::sync::atomic::{AtomicI64, Ordering};

#[repr(C)]
pub(crate) struct Sema {
    /// Units available (≥ 0); atomic.
    count: AtomicI64,
}

/// Why an acquire did not get its units.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum AcquireError {
    /// Not available and the deadline had passed on entry.
    WouldBlock,
    /// The deadline passed while waiting.
    TimedOut,
}

impl Sema {
    pub(crate) fn init(&self, count: i64) {
        self.count.store(count, Ordering::SeqCst);
    }

    fn addr(&self) -> usize {
        &self.count as *const AtomicI64 as usize
    }

    fn try_take(&self, n: i64) -> bool {
        let mut c = self.count.load(Ordering::SeqCst);
        while c >= n {
            match self.count.compare_exchange_weak(c, c - n, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return true,
                Err(cur) => c = cur,
            }
        }
        false
    }

    /// Takes `n > 0` units, waiting until `deadline` (monotonic ns; `NO_DEADLINE`).
    pub(crate) fn acquire(&self, n: i64, deadline: i64) -> Result<(), AcquireError> {
        let r = self.acquire_unannotated(n, deadline);
        if r.is_ok() {
            // Whatever was done before the releases that granted our units.
            tsan::acquire(self);
        }
        r
    }

    fn acquire_unannotated(&self, n: i64, deadline: i64) -> Result<(), AcquireError> {
        debug_assert!(n > 0);
        if semtable::bucket(self.addr()).nwait() == 0 && self.try_take(n) {
            return Ok(());
        }
        let mut l = semtable::lock(self.addr());
        if l.queue().is_none() && self.try_take(n) {
            return Ok(());
        }
        if deadline <= crate::time::nanotime() {
            return Err(AcquireError::WouldBlock);
        }
        let mut rec = Record::new(Waiter::current(), n as u64);
        // No re-check needed once queued: releases add units under this same lock, so
        // none can slip in between the check above and our record being queued.
        match semtable::wait(l, &mut rec, false, || false, "gort_sema_acquire", deadline) {
            Waited::Rechecked | Waited::Woken => Ok(()),
            Waited::TimedOut => {
                // Our leaving may let the records behind us fit.
                let mut l = semtable::lock(self.addr());
                self.grant(&mut l);
                Err(AcquireError::TimedOut)
            }
        }
    }

    /// Adds `n > 0` units and hands them to the waiters at the front while they fit. A
    /// count that would pass `i64::MAX` is a gort panic, with the count unchanged.
    pub(crate) fn release(&self, n: i64) {
        tsan::release(self);
        let mut l = semtable::lock(self.addr());
        // Takers only lower the count (by CAS); raisers hold this lock, so nothing can
        // raise it between the check and the add.
        let mut c = self.count.load(Ordering::SeqCst);
        loop {
            let Some(sum) = c.checked_add(n) else {
                // A gort panic does not unwind: release the bucket lock first.
                drop(l);
                crate::panic::panic_msg(c"gort_sema_release: semaphore count overflow".to_owned());
            };
            match self.count.compare_exchange_weak(c, sum, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => break,
                Err(cur) => c = cur,
            }
        }
        self.grant(&mut l);
    }

    fn grant(&self, l: &mut Locked) {
        loop {
            let want = match l.queue().and_then(|q| q.front()) {
                Some(r) => r.payload as i64,
                None => return,
            };
            if !self.try_take(want) {
                return;
            }
            let r = l.pop_where(|_| true).expect("front exists");
            // SAFETY: unlinked under the lock; valid until woken.
            unsafe {
                if (*r).waiter.claim() {
                    (*r).granted = true;
                    semtable::wake(r);
                } else {
                    // Its deadline won: give the units back and try the next one.
                    self.count.fetch_add(want, Ordering::SeqCst);
                }
            }
        }
    }
}
