//! A loom model of the semaphore table's semantics (`--cfg loom` tests only), for the
//! models of the primitives built on it (`mutex`, `rwmutex`).

use loom::sync::{Condvar, Mutex as ModelLock};
use std::collections::VecDeque;

/// `semacquire`/`semrelease` as the sync primitives see them: acquirers take a free unit even
/// past sleepers (barging); sleepers queue FIFO, a requeue (`lifo`) at the front; a
/// release adds a unit and wakes the front sleeper, which tries again, or with
/// `handoff` takes the unit for it.
pub(crate) struct Sema {
    st: ModelLock<SemState>,
    cv: Condvar,
}
struct SemState {
    count: u32,
    queue: VecDeque<usize>,
    woken: Vec<(usize, bool)>,
    next: usize,
}

impl Sema {
    pub(crate) fn new(count: u32) -> Sema {
        Sema {
            st: ModelLock::new(SemState { count, queue: VecDeque::new(), woken: Vec::new(), next: 0 }),
            cv: Condvar::new(),
        }
    }

    /// Asserts `count` units are left and nobody sleeps or is being woken.
    pub(crate) fn assert_clean(&self, count: u32) {
        let st = self.st.lock().unwrap();
        assert_eq!((st.count, st.queue.len(), st.woken.len()), (count, 0, 0), "semaphore left dirty");
    }

    pub(crate) fn acquire(&self, lifo: bool) {
        let mut st = self.st.lock().unwrap();
        loop {
            if st.count > 0 {
                st.count -= 1;
                return;
            }
            let id = st.next;
            st.next += 1;
            if lifo {
                st.queue.push_front(id);
            } else {
                st.queue.push_back(id);
            }
            let ticket = loop {
                if let Some(i) = st.woken.iter().position(|w| w.0 == id) {
                    break st.woken.swap_remove(i).1;
                }
                st = self.cv.wait(st).unwrap();
            };
            if ticket {
                return;
            }
        }
    }

    /// Takes a free unit if there is one now, never sleeping (a `try_lock` of a binary
    /// semaphore used as a lock).
    pub(crate) fn try_acquire(&self) -> bool {
        let mut st = self.st.lock().unwrap();
        if st.count > 0 {
            st.count -= 1;
            return true;
        }
        false
    }

    pub(crate) fn release(&self, handoff: bool) {
        let mut st = self.st.lock().unwrap();
        st.count += 1;
        if let Some(id) = st.queue.pop_front() {
            if handoff {
                st.count -= 1;
            }
            st.woken.push((id, handoff));
            self.cv.notify_all();
        }
    }
}
