//! A one-shot sleep/wake-up flag on a futex (Go's `note`). `wakeup` before `sleep` is not
//! lost: the flag stays set until a `sleep` consumes it.

use std::sync::atomic::{AtomicU32, Ordering};

pub(crate) struct Note {
    /// 0: clear, 1: signalled. Any thread may signal; only the owner sleeps.
    state: AtomicU32,
}

impl Note {
    pub(crate) const fn new() -> Note {
        Note { state: AtomicU32::new(0) }
    }

    /// Sets the flag and wakes the sleeper, if any.
    pub(crate) fn wakeup(&self) {
        if self.state.swap(1, Ordering::Release) == 0 {
            futex_wake(&self.state);
        }
    }

    /// Sleeps until the flag is set (consuming it) or `timeout_ns` elapses (None = never).
    /// Returns true when woken by the flag.
    pub(crate) fn sleep(&self, timeout_ns: Option<i64>) -> bool {
        let deadline = timeout_ns.map(|t| crate::time::nanotime().saturating_add(t.max(0)));
        loop {
            if self.state.swap(0, Ordering::Acquire) == 1 {
                return true;
            }
            let rel = match deadline {
                None => None,
                Some(d) => {
                    let left = d - crate::time::nanotime();
                    if left <= 0 {
                        return self.state.swap(0, Ordering::Acquire) == 1;
                    }
                    Some(left)
                }
            };
            // Asleep: a world stop counts this thread as stopped without a signal.
            super::world::parked(|| futex_wait(&self.state, 0, rel));
        }
    }
}

impl Default for Note {
    fn default() -> Self {
        Note::new()
    }
}

/// Blocks while `*word == expected`, for at most `rel_ns` (None = forever). Spurious
/// returns are allowed; callers re-check.
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, rel_ns: Option<i64>) {
    let ts;
    let tsp = match rel_ns {
        None => std::ptr::null(),
        Some(ns) => {
            ts = libc::timespec {
                tv_sec: (ns / 1_000_000_000) as libc::time_t,
                tv_nsec: (ns % 1_000_000_000) as libc::c_long,
            };
            &ts as *const libc::timespec
        }
    };
    // SAFETY: `word` is a valid, aligned u32 for the duration of the call; `tsp` is null or
    // points to a live timespec.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG, expected, tsp);
    }
}

/// Wakes one thread blocked in [`futex_wait`] on `word`.
pub(crate) fn futex_wake(word: &AtomicU32) {
    // SAFETY: FUTEX_WAKE only reads the address as a key.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn wakeup_before_sleep_is_kept() {
        let n = Note::new();
        n.wakeup();
        assert!(n.sleep(Some(0)));
        assert!(!n.sleep(Some(1_000_000)));
    }

    #[test]
    fn cross_thread_wakeups_are_never_lost() {
        for _ in 0..200 {
            let n = Arc::new(Note::new());
            let n2 = n.clone();
            let t = std::thread::spawn(move || n2.wakeup());
            assert!(n.sleep(None));
            t.join().unwrap();
        }
    }
}
