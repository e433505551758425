//! "Select".

use super::chan::{core_deadline, gort_chan};
use super::error::{GORT_EAGAIN, GORT_EINVAL, GORT_ETIMEDOUT};
use crate::chan::{self, Case, Dir, SelectError};
use std::ffi::{c_int, c_void};

/// `gort_case.dir`: send `elem` on `chan`.
#[allow(dead_code)] // exported through the header
pub const GORT_SEND: c_int = 1;
/// `gort_case.dir`: receive from `chan` into `elem`.
#[allow(dead_code)] // exported through the header
pub const GORT_RECV: c_int = 2;

/// The most cases one `gort_select` takes (Go's limit).
pub const GORT_SELECT_MAX_CASES: usize = 65536;

/// One case of `gort_select`.
#[repr(C)]
pub struct gort_case {
    /// The channel; NULL switches the case off (never ready).
    pub chan: *mut gort_chan,
    /// `GORT_SEND` or `GORT_RECV`.
    pub dir: c_int,
    /// Send: the value to send (`elem_size` bytes). Receive: where to put the value
    /// (NULL discards it).
    pub elem: *mut c_void,
    /// Out, for `GORT_RECV`: 1 a value was received, 0 the channel is closed and drained.
    pub ok: c_int,
}

// gort_case is read as the core's Case: same fields, same order, same types.
const _: () = {
    assert!(GORT_SEND == Dir::SEND && GORT_RECV == Dir::RECV);
    assert!(size_of::<gort_case>() == size_of::<Case>());
    assert!(core::mem::offset_of!(gort_case, chan) == core::mem::offset_of!(Case, chan));
    assert!(core::mem::offset_of!(gort_case, dir) == core::mem::offset_of!(Case, dir));
    assert!(core::mem::offset_of!(gort_case, elem) == core::mem::offset_of!(Case, elem));
    assert!(core::mem::offset_of!(gort_case, ok) == core::mem::offset_of!(Case, ok));
};

/// Waits until one of the `n` cases can run, runs it, and returns its index. When several
/// are ready, one is chosen uniformly at random. Cases with a NULL channel are never ready
/// (the same channel may appear in several cases). `deadline` as for the other blocking
/// calls: `GORT_FOREVER` waits forever; `GORT_EAGAIN` if nothing is ready and the deadline
/// has passed on entry (0 works: Go's `default`); `GORT_ETIMEDOUT` when it passes while
/// waiting. A send case on a closed channel is a gort panic, as in Go. `GORT_EINVAL` for
/// `cases == NULL` with `n > 0`, `n > GORT_SELECT_MAX_CASES`, a `dir` that is neither
/// `GORT_SEND` nor `GORT_RECV`, or a send case whose `elem` is NULL on a channel with
/// non-zero element size. With no live case and no deadline it blocks forever.
///
/// A select that blocked with several cases on one channel completes a uniformly random
/// one of them when that channel becomes ready, as in Go.
///
/// Example:
///
/// ```c
/// #include <gort.h>
///
/// // Sends v on out unless quit is closed first; gives up after 100 ms.
/// static int send_or_quit(gort_chan *out, gort_chan *quit, int v) {
///     gort_case cs[2] = {{.chan = out, .dir = GORT_SEND, .elem = &v},
///                        {.chan = quit, .dir = GORT_RECV}};
///     return gort_select(cs, 2, gort_deadline_in(100 * 1000000));
/// }
///
/// int main(void) {
///     gort_chan *out = gort_chan_make(sizeof(int), 1), *quit = gort_chan_make(0, 0);
///     int first = send_or_quit(out, quit, 1);   // 0: buffered
///     int second = send_or_quit(out, quit, 2);  // GORT_ETIMEDOUT: full, nobody receives
///     gort_chan_close(quit);
///     int third = send_or_quit(out, quit, 3);   // 1: quit is closed
///     gort_chan_release(out);
///     gort_chan_release(quit);
///     return first == 0 && second == GORT_ETIMEDOUT && third == 1 ? 0 : 1;
/// }
/// ```
#[unsafe(no_mangle)]
pub extern "C" fn gort_select(cases: *mut gort_case, n: usize, deadline: i64) -> c_int {
    guard!("gort_select", {
        if (cases.is_null() && n > 0) || n > GORT_SELECT_MAX_CASES {
            return GORT_EINVAL;
        }
        let cases: &mut [Case] = if n == 0 {
            &mut []
        } else {
            // SAFETY: the caller passes n cases; gort_case and Case share a layout (checked
            // at compile time above).
            unsafe { std::slice::from_raw_parts_mut(cases as *mut Case, n) }
        };
        for c in cases.iter() {
            if c.dir != Dir::SEND && c.dir != Dir::RECV {
                return GORT_EINVAL;
            }
            if c.dir == Dir::SEND
                && c.elem.is_null()
                && let Some(ch) = super::chan::as_chan(c.chan as *const gort_chan)
                && ch.elem_size() > 0
            {
                return GORT_EINVAL;
            }
        }
        // SAFETY: channels are live (callers hold references) and elements sized per the
        // contract.
        match unsafe { chan::select(cases, core_deadline(deadline)) } {
            Ok(i) => i as c_int,
            Err(SelectError::WouldBlock) => GORT_EAGAIN,
            Err(SelectError::TimedOut) => GORT_ETIMEDOUT,
        }
    })
}
