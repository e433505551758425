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

/// The description of any `int`, always a string in static storage (never a buffer that
/// a later call could reuse or free, so it may be kept and read from any thread): the
/// `GORT_E*` codes' own texts, every other negated Linux errno (`-ENOENT`, ...), "success"
/// for values >= 0 and "unknown error" for anything else (including `INT_MIN`).
/// Never NULL.
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
        // c < 0 here; INT_MIN has no positive counterpart and is no errno anyway.
        c => c.checked_neg().map_or(c"unknown error", errno_text),
    };
    s.as_ptr()
}

/// Linux's errno values (the same numbers on x86_64 and aarch64) not covered by a
/// `GORT_E*` code, described in lower case like Go's `syscall.Errno` strings. A table of
/// our own rather than `strerror`, whose buffer is reused by the next call on the thread
/// (a goroutine may have moved to another thread in between).
fn errno_text(e: c_int) -> &'static std::ffi::CStr {
    match e {
        libc::EPERM => c"operation not permitted",
        libc::ENOENT => c"no such file or directory",
        libc::ESRCH => c"no such process",
        libc::EINTR => c"interrupted system call",
        libc::EIO => c"input/output error",
        libc::E2BIG => c"argument list too long",
        libc::ENOEXEC => c"exec format error",
        libc::ECHILD => c"no child processes",
        libc::EACCES => c"permission denied",
        libc::EFAULT => c"bad address",
        libc::ENOTBLK => c"block device required",
        libc::EEXIST => c"file exists",
        libc::EXDEV => c"invalid cross-device link",
        libc::ENODEV => c"no such device",
        libc::ENOTDIR => c"not a directory",
        libc::EISDIR => c"is a directory",
        libc::ENFILE => c"too many open files in system",
        libc::EMFILE => c"too many open files",
        libc::ENOTTY => c"inappropriate ioctl for device",
        libc::ETXTBSY => c"text file busy",
        libc::EFBIG => c"file too large",
        libc::ENOSPC => c"no space left on device",
        libc::ESPIPE => c"illegal seek",
        libc::EROFS => c"read-only file system",
        libc::EMLINK => c"too many links",
        libc::EDOM => c"numerical argument out of domain",
        libc::ERANGE => c"numerical result out of range",
        libc::EDEADLK => c"resource deadlock avoided",
        libc::ENAMETOOLONG => c"file name too long",
        libc::ENOLCK => c"no locks available",
        libc::ENOSYS => c"function not implemented",
        libc::ENOTEMPTY => c"directory not empty",
        libc::ELOOP => c"too many levels of symbolic links",
        libc::ENOMSG => c"no message of desired type",
        libc::EIDRM => c"identifier removed",
        libc::ECHRNG => c"channel number out of range",
        libc::EL2NSYNC => c"level 2 not synchronized",
        libc::EL3HLT => c"level 3 halted",
        libc::EL3RST => c"level 3 reset",
        libc::ELNRNG => c"link number out of range",
        libc::EUNATCH => c"protocol driver not attached",
        libc::ENOCSI => c"no CSI structure available",
        libc::EL2HLT => c"level 2 halted",
        libc::EBADE => c"invalid exchange",
        libc::EBADR => c"invalid request descriptor",
        libc::EXFULL => c"exchange full",
        libc::ENOANO => c"no anode",
        libc::EBADRQC => c"invalid request code",
        libc::EBADSLT => c"invalid slot",
        libc::EBFONT => c"bad font file format",
        libc::ENOSTR => c"device not a stream",
        libc::ENODATA => c"no data available",
        libc::ETIME => c"timer expired",
        libc::ENOSR => c"out of streams resources",
        libc::ENONET => c"machine is not on the network",
        libc::ENOPKG => c"package not installed",
        libc::EREMOTE => c"object is remote",
        libc::ENOLINK => c"link has been severed",
        libc::EADV => c"advertise error",
        libc::ESRMNT => c"srmount error",
        libc::ECOMM => c"communication error on send",
        libc::EPROTO => c"protocol error",
        libc::EMULTIHOP => c"multihop attempted",
        libc::EDOTDOT => c"RFS specific error",
        libc::EBADMSG => c"bad message",
        libc::EOVERFLOW => c"value too large for defined data type",
        libc::ENOTUNIQ => c"name not unique on network",
        libc::EBADFD => c"file descriptor in bad state",
        libc::EREMCHG => c"remote address changed",
        libc::ELIBACC => c"cannot access a needed shared library",
        libc::ELIBBAD => c"accessing a corrupted shared library",
        libc::ELIBSCN => c".lib section in a.out corrupted",
        libc::ELIBMAX => c"attempting to link in too many shared libraries",
        libc::ELIBEXEC => c"cannot exec a shared library directly",
        libc::EILSEQ => c"invalid or incomplete multibyte or wide character",
        libc::ERESTART => c"interrupted system call should be restarted",
        libc::ESTRPIPE => c"streams pipe error",
        libc::EUSERS => c"too many users",
        libc::ENOTSOCK => c"socket operation on non-socket",
        libc::EDESTADDRREQ => c"destination address required",
        libc::EMSGSIZE => c"message too long",
        libc::EPROTOTYPE => c"protocol wrong type for socket",
        libc::ENOPROTOOPT => c"protocol not available",
        libc::EPROTONOSUPPORT => c"protocol not supported",
        libc::ESOCKTNOSUPPORT => c"socket type not supported",
        libc::EOPNOTSUPP => c"operation not supported",
        libc::EPFNOSUPPORT => c"protocol family not supported",
        libc::EAFNOSUPPORT => c"address family not supported by protocol",
        libc::EADDRINUSE => c"address already in use",
        libc::EADDRNOTAVAIL => c"cannot assign requested address",
        libc::ENETDOWN => c"network is down",
        libc::ENETUNREACH => c"network is unreachable",
        libc::ENETRESET => c"network dropped connection on reset",
        libc::ECONNABORTED => c"software caused connection abort",
        libc::ENOBUFS => c"no buffer space available",
        libc::EISCONN => c"transport endpoint is already connected",
        libc::ENOTCONN => c"transport endpoint is not connected",
        libc::ESHUTDOWN => c"cannot send after transport endpoint shutdown",
        libc::ETOOMANYREFS => c"too many references: cannot splice",
        libc::ECONNREFUSED => c"connection refused",
        libc::EHOSTDOWN => c"host is down",
        libc::EHOSTUNREACH => c"no route to host",
        libc::EALREADY => c"operation already in progress",
        libc::EINPROGRESS => c"operation now in progress",
        libc::ESTALE => c"stale file handle",
        libc::EUCLEAN => c"structure needs cleaning",
        libc::ENOTNAM => c"not a XENIX named type file",
        libc::ENAVAIL => c"no XENIX semaphores available",
        libc::EISNAM => c"is a named type file",
        libc::EREMOTEIO => c"remote I/O error",
        libc::EDQUOT => c"disk quota exceeded",
        libc::ENOMEDIUM => c"no medium found",
        libc::EMEDIUMTYPE => c"wrong medium type",
        libc::ENOKEY => c"required key not available",
        libc::EKEYEXPIRED => c"key has expired",
        libc::EKEYREVOKED => c"key has been revoked",
        libc::EKEYREJECTED => c"key was rejected by service",
        libc::EOWNERDEAD => c"owner died",
        libc::ENOTRECOVERABLE => c"state not recoverable",
        libc::ERFKILL => c"operation not possible due to RF-kill",
        libc::EHWPOISON => c"memory page has hardware error",
        _ => c"unknown error",
    }
}

/// Sets errno (for functions that return NULL on failure).
#[allow(dead_code)]
pub(crate) fn set_errno(code: c_int) {
    // SAFETY: __errno_location returns the calling thread's errno slot.
    unsafe { *libc::__errno_location() = -code };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn text(code: c_int) -> &'static str {
        // SAFETY: gort_strerror returns a NUL-terminated string in static storage.
        unsafe { CStr::from_ptr(gort_strerror(code)) }.to_str().unwrap()
    }

    #[test]
    fn every_int_has_a_static_description() {
        for code in [c_int::MIN, c_int::MIN + 1, -c_int::MAX, -1_000_000, -4096, -134, 0, 1, c_int::MAX] {
            assert_eq!(gort_strerror(code), gort_strerror(code));
            assert!(!text(code).is_empty());
        }
        assert_eq!(text(c_int::MIN), "unknown error");
        assert_eq!(text(c_int::MAX), "success");
        assert_eq!(text(GORT_ETIMEDOUT), "deadline exceeded");
        assert_eq!(text(-libc::ENOENT), "no such file or directory");
        // Linux numbers its errnos 1..=133, leaving out 41 and 58.
        for e in 1..=133 {
            let t = text(-e);
            assert_eq!(t == "unknown error", e == 41 || e == 58, "errno {e}: {t}");
        }
        assert_eq!(text(-134), "unknown error");
    }
}
