//! "Time": the clock, deadlines, sleeping, timers and tickers.

use super::chan::gort_chan;
use super::error::{GORT_EINVAL, GORT_ENOMEM, set_errno};
use crate::sched::Entry;
use crate::time::timer::{self, Ticker, TickerError, Timer};
use crate::time::{nanotime, sleep, sleep_until};
use std::ffi::{c_int, c_void};
use std::ptr;

/// A deadline that never expires.
pub const GORT_FOREVER: i64 = -1;

/// Monotonic time in nanoseconds (CLOCK_MONOTONIC). All deadlines use this clock.
#[unsafe(no_mangle)]
pub extern "C" fn gort_now() -> i64 {
    guard!("gort_now", { nanotime() })
}

/// `gort_now() + ns`, saturating instead of overflowing; never negative, so never
/// `GORT_FOREVER`: a sum below 0 gives 0, a deadline that has passed.
#[unsafe(no_mangle)]
pub extern "C" fn gort_deadline_in(ns: i64) -> i64 {
    guard!("gort_deadline_in", { nanotime().saturating_add(ns).max(0) })
}

/// Sleeps for `ns` nanoseconds (parks the goroutine; blocks a foreign thread). Returns
/// at once for `ns <= 0`. However long, the sleep is finite: a goroutine sleeping
/// `INT64_MAX` ns has a pending timer, so deadlock detection does not report it (as Go
/// does not for `time.Sleep(math.MaxInt64)`).
#[unsafe(no_mangle)]
pub extern "C" fn gort_sleep(ns: i64) {
    guard!("gort_sleep", {
        crate::runtime::ensure_init();
        foreign_blocking(|| sleep(ns))
    })
}

/// Sleeps until `deadline` on the `gort_now()` clock; returns 0 (at once if the deadline
/// has passed). `GORT_FOREVER` sleeps forever, which under `gort_main` lets deadlock
/// detection see the goroutine as blocked for good (like Go's empty `select {}`); any
/// other deadline, `INT64_MAX` included, is a pending timer and never a deadlock.
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

// Not `repr(C)`: cbindgen emits opaque typedefs, as for `gort_chan`.
/// A one-shot timer (opaque), Go's `time.Timer`. Made by `gort_timer_new` or
/// `gort_after_func`, owned by the caller until `gort_timer_free`.
pub struct gort_timer {
    _private: [u8; 0],
}

/// A ticker (opaque), Go's `time.Ticker`. Made by `gort_ticker_new`, owned by the caller
/// until `gort_ticker_free`.
pub struct gort_ticker {
    _private: [u8; 0],
}

fn as_timer<'a>(t: *mut gort_timer) -> Option<&'a Timer> {
    // SAFETY: a non-null gort_timer pointer is a Timer boxed by gort_timer_new or
    // gort_after_func and not yet freed, per the API contract.
    unsafe { (t as *const Timer).as_ref() }
}

fn as_ticker<'a>(t: *mut gort_ticker) -> Option<&'a Ticker> {
    // SAFETY: as above, boxed by gort_ticker_new.
    unsafe { (t as *const Ticker).as_ref() }
}

/// A channel that receives one `int64_t`, `ns` from now (`ns <= 0`: at once); Go's
/// `time.After`. The value is the timer's deadline on the `gort_now()` clock (what Go
/// sends), however late it is received. The caller owns the returned reference
/// (`gort_chan_release`), and the channel owns the timer: releasing it before the timer
/// fires stops the timer and frees both at once, as Go 1.23+ collects an unreferenced
/// timer (no goroutine may still be blocked on it, as for any channel). Like every timer
/// channel (Go 1.23+): `gort_chan_len` and `gort_chan_cap` report 0, and a receive that
/// starts after the deadline gets the value even if the scheduler has not fired the timer
/// yet. Only receive from it. NULL with errno ENOMEM if out of memory.
///
/// Example:
///
/// ```c
/// #include <gort.h>
/// #include <stdio.h>
///
/// int main(void) {
///     gort_chan *results = gort_chan_make(sizeof(int), 1);  // nobody sends: we time out
///     gort_chan *timeout = gort_after(50 * 1000000);        // 50 ms; ours to release
///     int v;
///     int64_t at;
///     gort_case cs[2] = {{.chan = results, .dir = GORT_RECV, .elem = &v},
///                        {.chan = timeout, .dir = GORT_RECV, .elem = &at}};
///     int which = gort_select(cs, 2, GORT_FOREVER);
///     if (which == 1) puts("timed out");
///     gort_chan_release(timeout);
///     gort_chan_release(results);
///     return which == 1 ? 0 : 1;
/// }
/// ```
#[unsafe(no_mangle)]
pub extern "C" fn gort_after(ns: i64) -> *mut gort_chan {
    guard!("gort_after", {
        match timer::after(ns) {
            Ok(c) => c as *mut gort_chan,
            Err(_) => {
                set_errno(GORT_ENOMEM);
                ptr::null_mut()
            }
        }
    })
}

/// A timer that sends one `int64_t` (its deadline on the `gort_now()` clock, as Go sends)
/// on `gort_timer_chan(t)`, `ns` from now (`ns <= 0`: at once); Go's `time.NewTimer`. With
/// Go 1.23+ semantics: after `gort_timer_stop` or `gort_timer_reset` returns, no value of
/// the old schedule is ever received. Free it with `gort_timer_free`. NULL with errno
/// ENOMEM if out of memory.
///
/// Example:
///
/// ```c
/// #include <gort.h>
///
/// int main(void) {
///     int64_t start = gort_now(), fired;
///     gort_timer *t = gort_timer_new(20 * 1000000);             // fires in 20 ms
///     gort_chan_recv(gort_timer_chan(t), &fired);               // waits for it
///     int pending = gort_timer_reset(t, 3600LL * 1000000000);   // 0: it had fired
///     int stopped = gort_timer_stop(t);                         // 1: stopped in time
///     gort_timer_free(t);
///     return fired - start >= 20 * 1000000 && pending == 0 && stopped == 1 ? 0 : 1;
/// }
/// ```
#[unsafe(no_mangle)]
pub extern "C" fn gort_timer_new(ns: i64) -> *mut gort_timer {
    guard!("gort_timer_new", {
        match Timer::new(ns) {
            Ok(t) => Box::into_raw(Box::new(t)) as *mut gort_timer,
            Err(_) => {
                set_errno(GORT_ENOMEM);
                ptr::null_mut()
            }
        }
    })
}

/// The C function and argument of `gort_after_func`, handed to goroutines on any thread.
#[derive(Clone, Copy)]
struct CallArg(unsafe extern "C" fn(*mut c_void), *mut c_void);

// SAFETY: the caller of gort_after_func hands `arg` to `fn` on another goroutine (and
// so another thread), which is the documented contract.
unsafe impl Send for CallArg {}
// SAFETY: as above; CallArg is only copied, never mutated.
unsafe impl Sync for CallArg {}

impl CallArg {
    fn entry(self) -> Entry {
        Entry::C(self.0, self.1)
    }
}

/// A timer that runs `f(arg)` in a new goroutine, `ns` from now (`ns <= 0`: at once);
/// Go's `time.AfterFunc`. `gort_timer_reset` arms it again (each firing starts one
/// goroutine); `gort_timer_stop` returns 1 if it prevented `f` from starting;
/// `gort_timer_chan` returns NULL. Free it with `gort_timer_free` (a goroutine already
/// started keeps running). NULL with errno EINVAL if `f` is NULL. The goroutine is
/// created when the timer fires, where no caller can be told of a failure: if no stack
/// can be had then, that is a fatal error (Go's runtime throws too); `gort_go` is the
/// call that reports `GORT_ENOMEM`.
#[unsafe(no_mangle)]
pub extern "C" fn gort_after_func(
    ns: i64,
    f: Option<unsafe extern "C" fn(arg: *mut c_void)>,
    arg: *mut c_void,
) -> *mut gort_timer {
    guard!("gort_after_func", {
        let Some(f) = f else {
            set_errno(GORT_EINVAL);
            return ptr::null_mut();
        };
        let call = CallArg(f, arg);
        let t = Timer::after_func(ns, Box::new(move || call.entry()));
        Box::into_raw(Box::new(t)) as *mut gort_timer
    })
}

/// The timer's channel: receives one `int64_t` (the deadline, `gort_now()` clock) per
/// firing. Borrowed: valid until `gort_timer_free`; do not release, close or send on it.
/// As in Go 1.23+, `gort_chan_len`/`gort_chan_cap` report 0 on it. NULL for a
/// `gort_after_func` timer (errno untouched: Go's `AfterFunc` timer has no channel
/// either), and NULL with errno EINVAL when `t` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn gort_timer_chan(t: *mut gort_timer) -> *mut gort_chan {
    guard!("gort_timer_chan", {
        let Some(t) = as_timer(t) else {
            set_errno(GORT_EINVAL);
            return ptr::null_mut();
        };
        t.chan().map_or(ptr::null_mut(), |c| c as *mut gort_chan)
    })
}

/// Stops the timer (Go 1.23+ `Timer.Stop`): returns 1 if that prevented a value from being
/// received — the timer was pending, or had fired and its value was not yet received (it is
/// discarded) — or prevented a `gort_after_func` function from starting; 0 if the value was
/// already received (or handed to a receiver waiting at that moment), the timer was already
/// stopped, or the function already started. Afterwards nothing of the old schedule is
/// received. `GORT_EINVAL` if `t` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn gort_timer_stop(t: *mut gort_timer) -> c_int {
    guard!("gort_timer_stop", {
        match as_timer(t) {
            Some(t) => c_int::from(t.stop()),
            None => GORT_EINVAL,
        }
    })
}

/// Re-arms the timer to fire `ns` from now (`ns <= 0`: at once), Go 1.23+ `Timer.Reset`:
/// returns 1 if the timer was pending or its fired value was still unreceived (that value
/// is discarded), 0 otherwise — what `gort_timer_stop` would have returned. No value of the
/// old schedule is received after it returns. `GORT_EINVAL` if `t` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn gort_timer_reset(t: *mut gort_timer, ns: i64) -> c_int {
    guard!("gort_timer_reset", {
        match as_timer(t) {
            Some(t) => c_int::from(t.reset(ns)),
            None => GORT_EINVAL,
        }
    })
}

/// Stops and frees the timer, pending or not: nothing of it is left waiting for its
/// deadline. Its channel goes with it, so no goroutine may still be blocked on it (that is
/// a fatal error, as for `gort_chan_release`). NULL is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn gort_timer_free(t: *mut gort_timer) {
    guard!("gort_timer_free", {
        if !t.is_null() {
            // SAFETY: made by Box::into_raw in gort_timer_new/gort_after_func; the caller
            // gives up its ownership. Dropping the Timer stops it and frees its channel; a
            // heap entry still queued is stale and swept (it keeps the small shared state
            // alive until then, never the channel).
            drop(unsafe { Box::from_raw(t as *mut Timer) });
        }
    })
}

/// A ticker that sends an `int64_t` (the time the tick was due, `gort_now()` clock) on
/// `gort_ticker_chan(t)` every `period` ns, the first `period` from now; Go's
/// `time.NewTicker`. A receiver that falls behind gets one stale tick, then ticks on the
/// original schedule: ticks that find the previous one unreceived are dropped. Stop it
/// with `gort_ticker_stop`, free it with `gort_ticker_free`. Go panics for `period <= 0`;
/// here that returns NULL with errno EINVAL (ENOMEM if out of memory).
///
/// Example:
///
/// ```c
/// #include <gort.h>
///
/// int main(void) {
///     int64_t start = gort_now(), tick = 0;
///     gort_ticker *tk = gort_ticker_new(10 * 1000000);          // every 10 ms
///     for (int i = 0; i < 3; i++) gort_chan_recv(gort_ticker_chan(tk), &tick);
///     gort_ticker_free(tk);
///     return tick - start >= 30 * 1000000 ? 0 : 1;             // the third tick or later
/// }
/// ```
#[unsafe(no_mangle)]
pub extern "C" fn gort_ticker_new(period: i64) -> *mut gort_ticker {
    guard!("gort_ticker_new", {
        match Ticker::new(period) {
            Ok(t) => Box::into_raw(Box::new(t)) as *mut gort_ticker,
            Err(TickerError::NonPositive) => {
                set_errno(GORT_EINVAL);
                ptr::null_mut()
            }
            Err(TickerError::NoMemory) => {
                set_errno(GORT_ENOMEM);
                ptr::null_mut()
            }
        }
    })
}

/// The ticker's channel. Borrowed: valid until `gort_ticker_free`; do not release, close
/// or send on it. `gort_chan_len`/`gort_chan_cap` report 0 on it (Go 1.23+). NULL with
/// errno EINVAL when `t` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn gort_ticker_chan(t: *mut gort_ticker) -> *mut gort_chan {
    guard!("gort_ticker_chan", {
        let Some(t) = as_ticker(t) else {
            set_errno(GORT_EINVAL);
            return ptr::null_mut();
        };
        t.chan() as *mut gort_chan
    })
}

/// Restarts the ticker with `period`, first tick `period` from now (Go 1.23+
/// `Ticker.Reset`): no tick of the old schedule is received after it returns. A stopped
/// ticker starts again. `period <= 0` is a gort panic, "non-positive interval for
/// Ticker.Reset" (Go's); so is a NULL `t` ("gort_ticker_reset: nil ticker"), as a nil
/// `*Ticker` is in Go.
#[unsafe(no_mangle)]
pub extern "C" fn gort_ticker_reset(t: *mut gort_ticker, period: i64) {
    guard!("gort_ticker_reset", {
        let Some(t) = as_ticker(t) else {
            crate::panic::panic_msg(c"gort_ticker_reset: nil ticker".to_owned());
        };
        if t.reset(period).is_err() {
            crate::panic::panic_msg(c"non-positive interval for Ticker.Reset".to_owned());
        }
    })
}

/// Stops the ticker without freeing it (Go's `Ticker.Stop`): no tick is received after it
/// returns, not even one that came due before and was never received (Go 1.23+);
/// `gort_ticker_reset` starts it again. Stopping a stopped ticker does nothing. A NULL `t`
/// is a gort panic ("gort_ticker_stop: nil ticker"), as a nil `*Ticker` is in Go.
#[unsafe(no_mangle)]
pub extern "C" fn gort_ticker_stop(t: *mut gort_ticker) {
    guard!("gort_ticker_stop", {
        let Some(t) = as_ticker(t) else {
            crate::panic::panic_msg(c"gort_ticker_stop: nil ticker".to_owned());
        };
        t.stop();
    })
}

/// Stops and frees the ticker, stopped or not (no tick is received afterwards, and nothing
/// of it is left waiting for its next tick); its channel goes with it, so no goroutine may
/// still be blocked on it. NULL is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn gort_ticker_free(t: *mut gort_ticker) {
    guard!("gort_ticker_free", {
        if !t.is_null() {
            // SAFETY: made by Box::into_raw in gort_ticker_new; the caller gives up its
            // ownership. Dropping the Ticker stops it.
            drop(unsafe { Box::from_raw(t as *mut Ticker) });
        }
    })
}
