//! "File descriptors and the network": waiting on any fd, goroutine-parking `read` and
//! `write`, `close` that wakes blocked goroutines. Sockets are in `ffi/socket.rs`.

use super::error::{GORT_EAGAIN, GORT_EBADF, GORT_EINVAL, GORT_ETIMEDOUT};
use crate::netpoll::{self, Error, Mode};
use std::ffi::{c_int, c_void};

/// `gort_fd_wait` event: the fd is readable (or at end of file, or has an error).
pub const GORT_READABLE: c_int = 1;
/// `gort_fd_wait` event: the fd is writable (or has an error).
pub const GORT_WRITABLE: c_int = 2;

/// A netpoller error as a `GORT_E*` code.
pub(crate) fn error_code(e: Error) -> c_int {
    match e {
        Error::Closed => GORT_EBADF,
        Error::WouldBlock => GORT_EAGAIN,
        Error::TimedOut => GORT_ETIMEDOUT,
        Error::Os(errno) => -errno,
    }
}

/// Waits until `fd` is ready for `events` (`GORT_READABLE`, `GORT_WRITABLE`, or both) and
/// returns the events that are (at least one), or a `GORT_E*` code: `GORT_ETIMEDOUT`,
/// `GORT_EAGAIN` for a deadline already passed, `GORT_EBADF` if the fd is not open or is
/// closed by `gort_close` meanwhile, `GORT_EINVAL` for bad `events`, `-EPERM` for an fd
/// epoll cannot watch (a regular file: always ready).
///
/// Works on any fd, including ones another C library owns and reads itself (sockets,
/// pipes, eventfds, timerfds): the fd should be non-blocking, and readiness is an edge
/// ("something happened since the last wait"), so after a wake-up read or write until
/// `EAGAIN` before waiting again, as with any edge-triggered poller. The registration is
/// re-armed on every wait, so an fd closed with plain `close()` and reopened is handled.
#[unsafe(no_mangle)]
pub extern "C" fn gort_fd_wait(fd: c_int, events: c_int, deadline: i64) -> c_int {
    guard!("gort_fd_wait", {
        if events <= 0 || events & !(GORT_READABLE | GORT_WRITABLE) != 0 {
            return GORT_EINVAL;
        }
        crate::runtime::ensure_init();
        let r = match netpoll::FdRef::acquire(fd) {
            Ok(r) => r,
            Err(e) => return error_code(e),
        };
        // GORT_READABLE/GORT_WRITABLE are the bits of Mode::Read/Mode::Write.
        let sides = events as u8;
        let res = netpoll::wait_any(r.fd(), sides, super::chan::core_deadline(deadline), true);
        drop(r);
        match res {
            Ok(ready) => ready as c_int,
            Err(e) => error_code(e),
        }
    })
}

/// Reads up to `n` bytes into `buf`: returns how many (≥ 1), 0 at end of file, or a
/// `GORT_E*` code (`GORT_ETIMEDOUT`, `GORT_EAGAIN` when nothing is there and the deadline
/// has passed, `GORT_EBADF`, `GORT_ECONNRESET`, …). Parks the goroutine (blocks a foreign
/// thread) while nothing is available. The fd is switched to non-blocking mode on first
/// use. Close fds used with gort through `gort_close`.
#[unsafe(no_mangle)]
pub extern "C" fn gort_read(fd: c_int, buf: *mut c_void, n: usize, deadline: i64) -> isize {
    guard!("gort_read", {
        if buf.is_null() && n > 0 {
            return GORT_EINVAL as isize;
        }
        crate::runtime::ensure_init();
        let n = n.min(isize::MAX as usize);
        let slice: &mut [u8] = if n == 0 {
            &mut []
        } else {
            // SAFETY: the caller provides `n` writable bytes at `buf` (non-null here).
            unsafe { std::slice::from_raw_parts_mut(buf as *mut u8, n) }
        };
        match netpoll::read(fd, slice, super::chan::core_deadline(deadline)) {
            Ok(k) => k as isize,
            Err(e) => error_code(e) as isize,
        }
    })
}

/// Writes all `n` bytes of `buf` and returns `n`, or a `GORT_E*` code (`GORT_EPIPE`,
/// `GORT_ECONNRESET`, `GORT_ETIMEDOUT`, `GORT_EAGAIN`, `GORT_EBADF`, …); after an error
/// part of the data may have been written. Parks while the fd is full. Never raises
/// SIGPIPE.
#[unsafe(no_mangle)]
pub extern "C" fn gort_write(fd: c_int, buf: *const c_void, n: usize, deadline: i64) -> isize {
    guard!("gort_write", {
        if buf.is_null() && n > 0 {
            return GORT_EINVAL as isize;
        }
        if n > isize::MAX as usize {
            return GORT_EINVAL as isize;
        }
        crate::runtime::ensure_init();
        let slice: &[u8] = if n == 0 {
            &[]
        } else {
            // SAFETY: the caller provides `n` readable bytes at `buf` (non-null here).
            unsafe { std::slice::from_raw_parts(buf as *const u8, n) }
        };
        match netpoll::write(fd, slice, super::chan::core_deadline(deadline)) {
            Ok(k) => k as isize,
            Err(e) => error_code(e) as isize,
        }
    })
}

/// Closes `fd`: goroutines blocked on it in any gort call return `GORT_EBADF`, and the fd
/// is closed once the last of them has let go (so its number cannot be reused under
/// them). Returns 0, or `GORT_EBADF` if `fd` is not open or already being closed.
#[unsafe(no_mangle)]
pub extern "C" fn gort_close(fd: c_int) -> c_int {
    guard!("gort_close", {
        // Waking waiters may ready goroutines: the runtime must exist if anyone waits,
        // and starting it for a plain close would be wasteful.
        netpoll::close(fd)
    })
}

/// Maps `Mode` to the C event bits (keeps the two in step at compile time).
const _: () = {
    assert!(GORT_READABLE == 1 << Mode::Read as u8);
    assert!(GORT_WRITABLE == 1 << Mode::Write as u8);
};
