//! Waiters: something that can block and be woken, a goroutine or a thread the runtime
//! does not own. Channels and sync keep waiter records in their queues and wake them
//! through this one interface, so every blocking call works from both kinds of caller.
//!
//! Protocol: the waiter publishes itself in a queue under the queue's lock, then blocks
//! with [`Waiter::block`], which releases that lock only once blocking is safe (for a
//! goroutine: after it has switched out, from its park callback). A waker that takes the
//! record out of the queue under the same lock fills in the result, then calls
//! [`Waiter::wake`] exactly once, after which it must not touch the record.

use super::g::G;
use super::note::Note;
use std::sync::atomic::{AtomicBool, Ordering};

/// A per-thread parking spot for threads the runtime does not own. Never freed: a waker
/// may still be calling `wakeup` when the woken thread exits. When a thread exits its
/// parker goes to a free list for the next thread (a late wake-up is then a spurious one
/// for the new owner, which re-checks its flag), so parkers stay bounded and reachable.
struct ThreadParker {
    note: Note,
}

static FREE_PARKERS: parking_lot::Mutex<Vec<&'static ThreadParker>> = parking_lot::Mutex::new(Vec::new());

struct ParkerSlot(&'static ThreadParker);

impl Drop for ParkerSlot {
    fn drop(&mut self) {
        FREE_PARKERS.lock().push(self.0);
    }
}

thread_local! {
    static PARKER: ParkerSlot = ParkerSlot(
        FREE_PARKERS.lock().pop().unwrap_or_else(|| Box::leak(Box::new(ThreadParker { note: Note::new() }))),
    );
}

#[derive(Clone, Copy)]
pub enum Waiter {
    G(*mut G),
    Thread(&'static Note),
}

// SAFETY: Gs and thread parkers are never freed; the pointer is only a handle.
unsafe impl Send for Waiter {}

impl Waiter {
    /// The calling goroutine or thread.
    pub fn current() -> Waiter {
        let g = super::current_g();
        if !g.is_null() {
            Waiter::G(g)
        } else {
            Waiter::Thread(PARKER.with(|p| &p.0.note))
        }
    }

    /// Blocks until woken. `release(g, arg)` is called exactly once, when it is safe for
    /// a waker to proceed (for a goroutine, as its park callback; `g` is null for a
    /// thread); it must return true. `done` is the flag the waker sets before waking
    /// (thread waiters use it to tell a real wake-up from a spurious one).
    pub fn block(self, reason: &'static str, release: fn(*mut G, usize) -> bool, arg: usize, done: &AtomicBool) {
        match self {
            Waiter::G(_) => super::park(reason, Some(release), arg),
            Waiter::Thread(note) => {
                let _inside = super::proc::ForeignInside::enter_if(true);
                release(std::ptr::null_mut(), arg);
                while !done.load(Ordering::Acquire) {
                    note.sleep(None);
                }
            }
        }
    }

    /// Wakes the waiter (call once, after filling in its record).
    pub fn wake(self) {
        match self {
            Waiter::G(g) => super::ready(g),
            Waiter::Thread(note) => note.wakeup(),
        }
    }
}
