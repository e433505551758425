//! `gort_cond`: a condition variable used with any `gort_mutex`, with tickets like Go's
//! notify list. `wait` takes a ticket (`wait_ticket`, atomically) *before* unlocking the
//! mutex, so a signal sent between the unlock and the sleep is not lost: `notify` is the
//! first ticket not yet signalled, and a waiter whose ticket is below it returns at once.
//! Signal wakes the holder of ticket `notify` (FIFO); broadcast everyone below
//! `wait_ticket`. Tickets wrap; comparisons are modular.

use super::mutex::Mutex;
use super::semtable::{self, Record, Waited};
use crate::sched::tsan;
use crate::sched::{NO_DEADLINE, Waiter};
use std::sync::atomic::{AtomicU32, Ordering};

#[repr(C)]
pub(crate) struct Cond {
    /// The next ticket to hand out; atomic.
    wait_ticket: AtomicU32,
    /// The next ticket to signal; written under the semtable bucket lock of this Cond.
    notify: AtomicU32,
}

/// `a < b` for wrapping tickets.
fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

impl Default for Cond {
    fn default() -> Self {
        Self::new()
    }
}

impl Cond {
    pub(crate) const fn new() -> Cond {
        Cond { wait_ticket: AtomicU32::new(0), notify: AtomicU32::new(0) }
    }

    fn addr(&self) -> usize {
        self as *const Cond as usize
    }

    /// Unlocks `m`, waits for a signal, locks `m` again.
    pub(crate) fn wait(&self, m: &Mutex) {
        let ticket = self.wait_ticket.fetch_add(1, Ordering::SeqCst);
        m.unlock();
        let l = semtable::lock(self.addr());
        if !before(ticket, self.notify.load(Ordering::SeqCst)) {
            let mut rec = Record::new(Waiter::current(), ticket as u64);
            let r = semtable::wait(l, &mut rec, false, || false, "sync.Cond.Wait", NO_DEADLINE);
            debug_assert_eq!(r, Waited::Woken);
        } else {
            drop(l); // signalled between our ticket and now
        }
        tsan::acquire(self);
        m.lock();
    }

    pub(crate) fn signal(&self) {
        tsan::release(self);
        if self.wait_ticket.load(Ordering::SeqCst) == self.notify.load(Ordering::SeqCst) {
            return; // nobody took a ticket since the last signal
        }
        let mut l = semtable::lock(self.addr());
        let t = self.notify.load(Ordering::SeqCst);
        if t == self.wait_ticket.load(Ordering::SeqCst) {
            return;
        }
        self.notify.store(t.wrapping_add(1), Ordering::SeqCst);
        // The holder of ticket t may not have queued yet: then it sees `notify` and
        // does not sleep.
        if let Some(r) = l.pop_where(|r| r.payload == t as u64) {
            // SAFETY: unlinked under the lock; cond waits have no deadline, so the claim
            // cannot lose.
            unsafe {
                let claimed = (*r).waiter.claim();
                debug_assert!(claimed);
                semtable::wake(r);
            }
        }
    }

    pub(crate) fn broadcast(&self) {
        tsan::release(self);
        if self.wait_ticket.load(Ordering::SeqCst) == self.notify.load(Ordering::SeqCst) {
            return;
        }
        let mut l = semtable::lock(self.addr());
        let all = self.wait_ticket.load(Ordering::SeqCst);
        self.notify.store(all, Ordering::SeqCst);
        while let Some(r) = l.pop_claimed() {
            // SAFETY: unlinked and claimed.
            unsafe { semtable::wake(r) };
        }
    }
}
