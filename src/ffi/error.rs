//! Error codes (`GORT_E*` = the negated Linux errno) and `gort_strerror`.

use std::ffi::{c_char, c_int};

/// Invalid argument (a NULL where an object is required, a size out of range).
pub const GORT_EINVAL: c_int = -22;
/// A deadline expired.
pub const GORT_ETIMEDOUT: c_int = -110;
/// Out of memory (or address space for a goroutine stack).
pub const GORT_ENOMEM: c_int = -12;
/// The operation would block and the deadline had already passed (non-blocking mode).
pub const GORT_EAGAIN: c_int = -11;
/// Write to a connection whose peer has closed it.
pub const GORT_EPIPE: c_int = -32;
/// Connection reset by the peer.
pub const GORT_ECONNRESET: c_int = -104;
/// The operation was cancelled.
pub const GORT_ECANCELED: c_int = -125;
/// Bad file descriptor (or the fd was closed while waiting on it).
pub const GORT_EBADF: c_int = -9;
/// The resource is busy (e.g. `gort_init` after the runtime started).
pub const GORT_EBUSY: c_int = -16;
/// A host name did not resolve (`gort_tcp_dial("nosuch.example:80", …)`). Equals
/// `-ENXIO` ("no such device or address"), which no socket call gort makes returns.
pub const GORT_ENOHOST: c_int = -6;

/// A static, human-readable description of a `GORT_E*` code (or of any negated errno);
/// "success" for values >= 0. Never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn gort_strerror(code: c_int) -> *const c_char {
    let s: &'static std::ffi::CStr = match code {
        c if c >= 0 => c"success",
        GORT_EINVAL => c"invalid argument",
        GORT_ETIMEDOUT => c"deadline exceeded",
        GORT_ENOMEM => c"out of memory",
        GORT_EAGAIN => c"operation would block",
        GORT_EPIPE => c"broken pipe",
        GORT_ECONNRESET => c"connection reset by peer",
        GORT_ECANCELED => c"operation canceled",
        GORT_EBADF => c"bad file descriptor",
        GORT_EBUSY => c"resource busy",
        GORT_ENOHOST => c"no such host",
        c => {
            // SAFETY: strerror returns a pointer to a static (or thread-local) string.
            return unsafe { libc::strerror(-c) };
        }
    };
    s.as_ptr()
}

/// Sets errno (for functions that return NULL on failure).
#[allow(dead_code)]
pub(crate) fn set_errno(code: c_int) {
    // SAFETY: __errno_location returns the calling thread's errno slot.
    unsafe { *libc::__errno_location() = -code };
}
