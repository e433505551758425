//! "Time": the clock, deadlines and sleeping (timers and tickers come with the netpoller).

use crate::time::{nanotime, sleep, sleep_until};
use std::ffi::c_int;

/// A deadline that never expires.
pub const GORT_FOREVER: i64 = -1;

/// Monotonic time in nanoseconds (CLOCK_MONOTONIC). All deadlines use this clock.
#[unsafe(no_mangle)]
pub extern "C" fn gort_now() -> i64 {
    guard!("gort_now", { nanotime() })
}

/// `gort_now() + ns`, saturating instead of overflowing.
#[unsafe(no_mangle)]
pub extern "C" fn gort_deadline_in(ns: i64) -> i64 {
    guard!("gort_deadline_in", { nanotime().saturating_add(ns) })
}

/// Sleeps for `ns` nanoseconds (parks the goroutine; blocks a foreign thread). Returns
/// at once for `ns <= 0`.
#[unsafe(no_mangle)]
pub extern "C" fn gort_sleep(ns: i64) {
    guard!("gort_sleep", {
        crate::runtime::ensure_init();
        foreign_blocking(|| sleep(ns))
    })
}

/// Sleeps until `deadline` on the `gort_now()` clock; returns 0 (at once if the deadline
/// has passed). `GORT_FOREVER` sleeps forever, which under `gort_main` lets deadlock
/// detection see the goroutine as blocked for good (like Go's empty `select {}`).
#[unsafe(no_mangle)]
pub extern "C" fn gort_sleep_until(deadline: i64) -> c_int {
    guard!("gort_sleep_until", {
        crate::runtime::ensure_init();
        if deadline == GORT_FOREVER {
            if crate::sched::in_goroutine() {
                loop {
                    crate::sched::park("sleep (forever)", None, 0);
                }
            }
            loop {
                // SAFETY: pause() just waits for a signal.
                unsafe { libc::pause() };
            }
        }
        foreign_blocking(|| sleep_until(deadline));
        0
    })
}

/// Counts a foreign thread as "inside gort" while it blocks (it may wake goroutines
/// afterwards, so deadlock detection must not fire meanwhile).
pub(crate) fn foreign_blocking<R>(f: impl FnOnce() -> R) -> R {
    use std::sync::atomic::Ordering;
    if crate::sched::in_goroutine() {
        return f();
    }
    let s = &crate::sched::SCHED;
    s.foreign_blocked.fetch_add(1, Ordering::SeqCst);
    let r = f();
    s.foreign_blocked.fetch_sub(1, Ordering::SeqCst);
    r
}
