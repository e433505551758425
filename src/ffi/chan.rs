//! "Channels".

use super::error::{GORT_EAGAIN, GORT_EINVAL, GORT_ENOMEM, GORT_ETIMEDOUT, set_errno};
use crate::chan::{self, Blocked, Chan, MakeError};
use std::ffi::{c_int, c_void};

// Not `repr(C)`: cbindgen then emits an opaque `typedef struct gort_chan gort_chan;`.
/// A channel (opaque, reference counted). Made by `gort_chan_make` with one reference.
pub struct gort_chan {
    _private: [u8; 0],
}

pub(crate) fn as_chan<'a>(c: *const gort_chan) -> Option<&'a Chan> {
    // SAFETY: a non-null gort_chan pointer is a live Chan per the API contract (the caller
    // holds a reference).
    unsafe { (c as *const Chan).as_ref() }
}

/// An API deadline (`GORT_FOREVER` = -1 never expires) as the core's. Every other value
/// is a finite instant, `INT64_MAX` included: it becomes [`crate::time::MAX_WHEN`], since
/// the core's `i64::MAX` means "no deadline" (a goroutine waiting for it would look
/// deadlocked).
pub(crate) fn core_deadline(deadline: i64) -> i64 {
    if deadline == super::time::GORT_FOREVER { crate::sched::NO_DEADLINE } else { deadline.min(crate::time::MAX_WHEN) }
}

fn blocked_code(b: Blocked) -> c_int {
    match b {
        Blocked::WouldBlock => GORT_EAGAIN,
        Blocked::TimedOut => GORT_ETIMEDOUT,
    }
}

/// Makes a channel of elements of `elem_size` bytes (0 allowed) with a buffer of `cap`
/// elements (0: unbuffered). Returns NULL with errno EINVAL if `elem_size * cap` overflows,
/// or ENOMEM. The caller owns one reference (`gort_chan_release`).
///
/// Example:
///
/// ```c
/// #include <gort.h>
///
/// static void produce(void *arg) {
///     gort_chan *ch = arg;
///     for (int i = 1; i <= 3; i++) gort_chan_send(ch, &i);
///     gort_chan_close(ch);        // its last use of ch
/// }
///
/// int main(void) {                // a plain thread: the calls block it
///     gort_chan *ch = gort_chan_make(sizeof(int), 0);
///     gort_go(produce, ch);
///     int sum = 0;
///     for (int n; gort_chan_recv(ch, &n) == 1;) sum += n;  // 0: closed and drained
///     gort_chan_release(ch);      // after the close: nobody uses ch any more
///     return sum == 6 ? 0 : 1;
/// }
/// ```
#[unsafe(no_mangle)]
pub extern "C" fn gort_chan_make(elem_size: usize, cap: usize) -> *mut gort_chan {
    guard!("gort_chan_make", {
        match Chan::make(elem_size, cap) {
            Ok(c) => c as *mut gort_chan,
            Err(MakeError::TooLarge) => {
                set_errno(GORT_EINVAL);
                std::ptr::null_mut()
            }
            Err(MakeError::NoMemory) => {
                set_errno(GORT_ENOMEM);
                std::ptr::null_mut()
            }
        }
    })
}

/// Adds a reference. NULL is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn gort_chan_retain(c: *mut gort_chan) {
    guard!("gort_chan_retain", {
        if let Some(c) = as_chan(c) {
            c.retain();
        }
    })
}

/// Drops a reference; the channel is freed with the last one. Freeing a channel while
/// goroutines are blocked on it is a fatal error. NULL is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn gort_chan_release(c: *mut gort_chan) {
    guard!("gort_chan_release", {
        if !c.is_null() {
            // SAFETY: the caller owns the reference it gives up.
            unsafe { Chan::release(c as *mut Chan) };
        }
    })
}

/// Sends the `elem_size` bytes at `elem`, blocking until a receiver takes them or there is
/// buffer room. Returns 0. Sending on a closed channel (or one closed while waiting) is a
/// gort panic ("send on closed channel"). A NULL channel blocks forever. `GORT_EINVAL` if
/// `elem` is NULL and `elem_size > 0`.
#[unsafe(no_mangle)]
pub extern "C" fn gort_chan_send(c: *mut gort_chan, elem: *const c_void) -> c_int {
    gort_chan_send_until(c, elem, super::time::GORT_FOREVER)
}

/// `gort_chan_send` with a deadline: 0 when sent; `GORT_EAGAIN` if it would block and
/// `deadline <= gort_now()` on entry (0 works: a non-blocking send); `GORT_ETIMEDOUT` if
/// the deadline passed while waiting (nothing was sent). `GORT_FOREVER` waits forever.
/// On a NULL channel it waits for the deadline.
#[unsafe(no_mangle)]
pub extern "C" fn gort_chan_send_until(c: *mut gort_chan, elem: *const c_void, deadline: i64) -> c_int {
    guard!("gort_chan_send_until", {
        let deadline = core_deadline(deadline);
        let Some(ch) = as_chan(c) else { return blocked_code(chan::block_until("chan send (nil chan)", deadline)) };
        if elem.is_null() && ch.elem_size() > 0 {
            return GORT_EINVAL;
        }
        // SAFETY: elem holds elem_size bytes per the contract (checked non-null above).
        match unsafe { chan::send(ch, elem as *const u8, deadline) } {
            Ok(()) => 0,
            Err(b) => blocked_code(b),
        }
    })
}

/// Receives into `out` (`elem_size` bytes; NULL discards the value). Returns 1 for a
/// value, 0 when the channel is closed and drained (then `out` is zeroed). Blocks until
/// one of the two. A NULL channel blocks forever.
#[unsafe(no_mangle)]
pub extern "C" fn gort_chan_recv(c: *mut gort_chan, out: *mut c_void) -> c_int {
    gort_chan_recv_until(c, out, super::time::GORT_FOREVER)
}

/// `gort_chan_recv` with a deadline: 1 value, 0 closed and drained; `GORT_EAGAIN` if it
/// would block and `deadline <= gort_now()` on entry (a non-blocking receive);
/// `GORT_ETIMEDOUT` if the deadline passed while waiting. On a NULL channel it waits for
/// the deadline.
#[unsafe(no_mangle)]
pub extern "C" fn gort_chan_recv_until(c: *mut gort_chan, out: *mut c_void, deadline: i64) -> c_int {
    guard!("gort_chan_recv_until", {
        let deadline = core_deadline(deadline);
        let Some(ch) = as_chan(c) else { return blocked_code(chan::block_until("chan receive (nil chan)", deadline)) };
        // SAFETY: out is null or holds elem_size bytes per the contract.
        match unsafe { chan::recv(ch, out as *mut u8, deadline) } {
            Ok(ok) => c_int::from(ok),
            Err(b) => blocked_code(b),
        }
    })
}

/// Closes the channel: blocked and later receivers drain the buffer, then get 0; blocked
/// senders panic. Closing a closed or NULL channel is a gort panic. Returns 0.
#[unsafe(no_mangle)]
pub extern "C" fn gort_chan_close(c: *mut gort_chan) -> c_int {
    guard!("gort_chan_close", {
        let Some(ch) = as_chan(c) else { crate::panic::panic_msg(c"close of nil channel".to_owned()) };
        chan::close(ch);
        0
    })
}

/// Number of elements buffered (0 for NULL).
#[unsafe(no_mangle)]
pub extern "C" fn gort_chan_len(c: *const gort_chan) -> usize {
    guard!("gort_chan_len", { as_chan(c).map_or(0, |c| c.len()) })
}

/// Buffer capacity (0 for NULL or unbuffered).
#[unsafe(no_mangle)]
pub extern "C" fn gort_chan_cap(c: *const gort_chan) -> usize {
    guard!("gort_chan_cap", { as_chan(c).map_or(0, |c| c.cap()) })
}
