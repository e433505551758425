//! "File descriptors and the network": waiting on any fd, goroutine-parking `read` and
//! `write`, `close` that wakes blocked goroutines; TCP, UDP and Unix sockets (the core is
//! `crate::net`).

use super::error::{GORT_EAGAIN, GORT_EBADF, GORT_EINVAL, GORT_ENOHOST, GORT_ETIMEDOUT};
use crate::netpoll::{self, Error, Mode};
use std::ffi::{CStr, c_char, c_int, c_void};

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
/// `GORT_E*` code (`GORT_EAGAIN` when nothing is there and the deadline had passed on
/// entry, `GORT_ETIMEDOUT` when it passes during the call, `GORT_EBADF`,
/// `GORT_ECONNRESET`, `GORT_EINVAL` for a NULL `buf` with `n > 0` or `n > SSIZE_MAX`, …).
/// Parks the goroutine (blocks a foreign
/// thread) while nothing is available. The fd is switched to non-blocking mode on first
/// use. Close fds used with gort through `gort_close`.
///
/// Example:
///
/// ```c
/// #include <gort.h>
/// #include <string.h>
/// #include <unistd.h>
///
/// static void writer(void *arg) {
///     int fd = *(int *)arg;
///     gort_write(fd, "ping", 4, GORT_FOREVER);
///     gort_close(fd);             // the reader sees end of file
/// }
///
/// int main(void) {
///     int p[2];
///     if (pipe(p) != 0) return 1;
///     gort_go(writer, &p[1]);
///     char buf[16];
///     size_t got = 0;
///     for (ptrdiff_t n; (n = gort_read(p[0], buf + got, sizeof buf - got, GORT_FOREVER)) > 0;)
///         got += (size_t)n;
///     gort_close(p[0]);
///     return got == 4 && memcmp(buf, "ping", 4) == 0 ? 0 : 1;
/// }
/// ```
#[unsafe(no_mangle)]
pub extern "C" fn gort_read(fd: c_int, buf: *mut c_void, n: usize, deadline: i64) -> isize {
    guard!("gort_read", {
        if (buf.is_null() && n > 0) || n > isize::MAX as usize {
            return GORT_EINVAL as isize;
        }
        crate::runtime::ensure_init();
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
/// `GORT_ECONNRESET`, `GORT_ETIMEDOUT`, `GORT_EAGAIN`, `GORT_EBADF`, `GORT_EINVAL` for a
/// NULL `buf` with `n > 0` or `n > SSIZE_MAX`, …); after an error
/// part of the data may have been written. `GORT_EAGAIN` only when the fd was full and the
/// deadline had passed on entry; a deadline that passes once the call is under way (even
/// while it is still copying) is `GORT_ETIMEDOUT`. Parks while the fd is full. Never raises
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

// ---------------------------------------------------------------------------------------
// Sockets
// ---------------------------------------------------------------------------------------

const _: () = assert!(GORT_ENOHOST == -crate::net::NO_HOST);

/// A C string argument as UTF-8; None for NULL or invalid UTF-8 (reported as EINVAL).
fn c_str<'a>(p: *const c_char) -> Option<&'a str> {
    if p.is_null() {
        return None;
    }
    // SAFETY: the caller passes a NUL-terminated string, valid for the call.
    unsafe { CStr::from_ptr(p) }.to_str().ok()
}

/// An fd (>= 0) or a `GORT_E*` code.
fn fd_or_code(r: Result<i32, Error>) -> c_int {
    match r {
        Ok(fd) => fd,
        Err(e) => error_code(e),
    }
}

/// Listens for TCP connections on `addr` and returns the listening fd (non-blocking,
/// close-on-exec, `SO_REUSEADDR`), or a `GORT_E*` code.
///
/// `addr` is Go's `host:port`: `"127.0.0.1:8080"`, `"[::1]:0"`, `"localhost:8080"` (a
/// name binds its first IPv4 address), or `":8080"` / `""`-host for every interface — a
/// dual-stack IPv6 socket that also accepts IPv4 (`IPV6_V6ONLY` off), or IPv4 only where
/// the host lacks IPv6. Port 0 lets the kernel choose (see `gort_local_port`). `backlog
/// <= 0` asks for the system's maximum (`net.core.somaxconn`).
///
/// Errors: `GORT_EINVAL` for NULL or a malformed address (`"nonsense"`, `":99999"`),
/// `GORT_ENOHOST` for a name that does not resolve, `-EADDRINUSE`, `-EACCES`, `-EMFILE`, …
///
/// Example:
///
/// ```c
/// #include <gort.h>
/// #include <stdio.h>
/// #include <string.h>
///
/// static void echo(void *arg) {   // serves one connection
///     int c = gort_accept(*(int *)arg, GORT_FOREVER);
///     char buf[64];
///     for (ptrdiff_t n; c >= 0 && (n = gort_read(c, buf, sizeof buf, GORT_FOREVER)) > 0;)
///         gort_write(c, buf, (size_t)n, GORT_FOREVER);
///     if (c >= 0) gort_close(c);
/// }
///
/// int main(void) {
///     int ln = gort_tcp_listen("127.0.0.1:0", 0);   // port 0: the kernel picks one
///     if (ln < 0) return 1;
///     char addr[32], buf[5];
///     snprintf(addr, sizeof addr, "127.0.0.1:%d", gort_local_port(ln));
///     gort_go(echo, &ln);
///     int c = gort_tcp_dial(addr, gort_deadline_in(5000000000));
///     if (c < 0 || gort_write(c, "hello", 5, GORT_FOREVER) != 5) return 1;
///     size_t got = 0;
///     for (ptrdiff_t n; got < 5 && (n = gort_read(c, buf + got, 5 - got, GORT_FOREVER)) > 0;)
///         got += (size_t)n;
///     gort_close(c);
///     gort_close(ln);
///     return got == 5 && memcmp(buf, "hello", 5) == 0 ? 0 : 1;
/// }
/// ```
#[unsafe(no_mangle)]
pub extern "C" fn gort_tcp_listen(addr: *const c_char, backlog: c_int) -> c_int {
    guard!("gort_tcp_listen", {
        let Some(addr) = c_str(addr) else { return GORT_EINVAL };
        crate::runtime::ensure_init();
        fd_or_code(crate::net::tcp_listen(addr, backlog))
    })
}

/// Connects to the TCP address `addr` (`"host:port"`, `"[::1]:80"`, `":80"` for the
/// local system) and returns the connected fd (non-blocking, close-on-exec,
/// `TCP_NODELAY`), for `gort_read`/`gort_write`/`gort_close`.
///
/// A host name is resolved with `getaddrinfo` in a blocking region (like
/// `gort_blocking_enter`): the lookup blocks its thread, never the other goroutines.
/// Each resolved address is tried in order until one connects; with a deadline, each
/// attempt gets a fair share of the time left. A numeric address never blocks a thread.
///
/// Returns the fd or a `GORT_E*` code: `-ECONNREFUSED`, `-ENETUNREACH`, … (the first
/// address's error if all fail), `GORT_ETIMEDOUT`, `GORT_EAGAIN` when the deadline had
/// passed on entry and the connection did not complete at once (a name is then not even
/// looked up), `GORT_EINVAL` for NULL or a malformed address, `GORT_ENOHOST` when the name
/// does not resolve. The lookup itself cannot be interrupted: a deadline that passes
/// during it is reported when it returns.
#[unsafe(no_mangle)]
pub extern "C" fn gort_tcp_dial(addr: *const c_char, deadline: i64) -> c_int {
    guard!("gort_tcp_dial", {
        let Some(addr) = c_str(addr) else { return GORT_EINVAL };
        crate::runtime::ensure_init();
        fd_or_code(crate::net::tcp_dial(addr, super::chan::core_deadline(deadline)))
    })
}

/// Accepts a connection on a TCP or Unix listener: returns the new fd (non-blocking,
/// close-on-exec; TCP connections get `TCP_NODELAY`) or a `GORT_E*` code
/// (`GORT_ETIMEDOUT`, `GORT_EAGAIN` when none is pending and the deadline has passed,
/// `GORT_EBADF` if the listener is not open or is closed by `gort_close` meanwhile,
/// `-EMFILE`/`-ENFILE` when out of fds — returned, not retried). Connections aborted
/// while queued are skipped. Any number of goroutines may accept on one listener.
#[unsafe(no_mangle)]
pub extern "C" fn gort_accept(listen_fd: c_int, deadline: i64) -> c_int {
    guard!("gort_accept", {
        crate::runtime::ensure_init();
        fd_or_code(crate::net::accept(listen_fd, super::chan::core_deadline(deadline)))
    })
}

/// The local port of a bound TCP or UDP socket (e.g. the one the kernel chose for port
/// 0), or a `GORT_E*` code (`GORT_EBADF`; `GORT_EINVAL` for a Unix socket; `-ENOTSOCK`).
#[unsafe(no_mangle)]
pub extern "C" fn gort_local_port(fd: c_int) -> c_int {
    guard!("gort_local_port", {
        match crate::net::local_port(fd) {
            Ok(p) => p as c_int,
            Err(e) => error_code(e),
        }
    })
}

/// A UDP socket bound to `addr` (`"127.0.0.1:0"`, `"[::1]:0"`, `":0"` for every
/// interface, dual-stack as in `gort_tcp_listen`; broadcast allowed, as in Go). Returns
/// the fd, for `gort_recvfrom`/`gort_sendto`, or a `GORT_E*` code.
///
/// On a dual-stack socket, IPv4 senders appear as v4-mapped IPv6 addresses
/// (`::ffff:127.0.0.1`); replying to them works, and so does `gort_sendto` with an IPv4
/// `sockaddr_in`. `GORT_EINVAL` for NULL or a malformed address.
#[unsafe(no_mangle)]
pub extern "C" fn gort_udp_bind(addr: *const c_char) -> c_int {
    guard!("gort_udp_bind", {
        let Some(addr) = c_str(addr) else { return GORT_EINVAL };
        crate::runtime::ensure_init();
        fd_or_code(crate::net::udp_bind(addr))
    })
}

/// A UDP socket connected to `addr` (`"host:port"`; names resolved as in
/// `gort_tcp_dial`): exchange datagrams with that peer through `gort_read`/`gort_write`
/// (one datagram per call) or `gort_sendto` with `to` NULL. Connecting a datagram socket
/// never waits. Returns the fd or a `GORT_E*` code (`GORT_EINVAL` for NULL or a malformed
/// address, `GORT_ENOHOST`, …).
#[unsafe(no_mangle)]
pub extern "C" fn gort_udp_dial(addr: *const c_char) -> c_int {
    guard!("gort_udp_dial", {
        let Some(addr) = c_str(addr) else { return GORT_EINVAL };
        crate::runtime::ensure_init();
        fd_or_code(crate::net::udp_dial(addr))
    })
}

/// Receives one datagram into `buf` (a datagram longer than `n` is truncated to `n`, the
/// rest discarded, as with `recvfrom(2)`) and returns its length, or a `GORT_E*` code
/// (`GORT_ETIMEDOUT`, `GORT_EAGAIN`, `GORT_EBADF`, `GORT_EINVAL` for a NULL `buf` with
/// `n > 0` or `n > SSIZE_MAX`, …). Parks while nothing has arrived.
///
/// `from` (may be NULL) receives the sender's address: pass a `struct sockaddr_storage`.
/// `fromlen` (may be NULL) holds the size of `from` on entry (NULL: `from` is taken to
/// be a `sockaddr_storage`) and the address's real length on return. On a connected
/// stream socket the address length is 0.
#[unsafe(no_mangle)]
pub extern "C" fn gort_recvfrom(
    fd: c_int,
    buf: *mut c_void,
    n: usize,
    from: *mut c_void,
    fromlen: *mut u32,
    deadline: i64,
) -> isize {
    guard!("gort_recvfrom", {
        if (buf.is_null() && n > 0) || n > isize::MAX as usize {
            return GORT_EINVAL as isize;
        }
        crate::runtime::ensure_init();
        let slice: &mut [u8] = if n == 0 {
            &mut []
        } else {
            // SAFETY: the caller provides `n` writable bytes at `buf` (non-null here).
            unsafe { std::slice::from_raw_parts_mut(buf as *mut u8, n) }
        };
        match crate::net::recvfrom(fd, slice, super::chan::core_deadline(deadline)) {
            Ok((k, addr)) => {
                let cap = if fromlen.is_null() {
                    std::mem::size_of::<libc::sockaddr_storage>()
                } else {
                    // SAFETY: the caller passes a valid in/out length (non-null here).
                    unsafe { *fromlen as usize }
                };
                if !from.is_null() {
                    let len = (addr.len as usize).min(cap);
                    // SAFETY: `from` has room for `cap` bytes per the contract, and `len`
                    // is within both it and the source address.
                    unsafe { std::ptr::copy_nonoverlapping(addr.as_ptr() as *const u8, from as *mut u8, len) };
                }
                if !fromlen.is_null() {
                    // SAFETY: as above.
                    unsafe { *fromlen = addr.len };
                }
                k as isize
            }
            Err(e) => error_code(e) as isize,
        }
    })
}

/// Sends `n` bytes of `buf` as one datagram to `to` (a `struct sockaddr_in`/`_in6`/`_un`
/// of `tolen` bytes, e.g. from `gort_recvfrom` or `gort_sockaddr_parse`), or to the
/// connected peer when `to` is NULL. Returns the bytes sent (all `n` for a datagram; on a
/// stream socket possibly fewer — use `gort_write` there) or a `GORT_E*` code
/// (`-EMSGSIZE`, `GORT_EAGAIN`, `GORT_ETIMEDOUT`, `GORT_EBADF`, `GORT_EINVAL` for a bad
/// `tolen`, …). Parks while the socket's buffer is full. Never raises SIGPIPE.
#[unsafe(no_mangle)]
pub extern "C" fn gort_sendto(
    fd: c_int,
    buf: *const c_void,
    n: usize,
    to: *const c_void,
    tolen: u32,
    deadline: i64,
) -> isize {
    guard!("gort_sendto", {
        if (buf.is_null() && n > 0) || n > isize::MAX as usize {
            return GORT_EINVAL as isize;
        }
        let mut addr = crate::net::RawAddr::zeroed();
        let to = if to.is_null() {
            None
        } else {
            let sz = std::mem::size_of::<libc::sockaddr_storage>();
            if (tolen as usize) < std::mem::size_of::<libc::sa_family_t>() || tolen as usize > sz {
                return GORT_EINVAL as isize;
            }
            // SAFETY: the caller provides `tolen` readable bytes at `to`; `tolen` fits in
            // the storage (checked above).
            unsafe { std::ptr::copy_nonoverlapping(to as *const u8, addr.as_mut_ptr() as *mut u8, tolen as usize) };
            addr.len = tolen;
            Some(&addr)
        };
        crate::runtime::ensure_init();
        let slice: &[u8] = if n == 0 {
            &[]
        } else {
            // SAFETY: the caller provides `n` readable bytes at `buf` (non-null here).
            unsafe { std::slice::from_raw_parts(buf as *const u8, n) }
        };
        match crate::net::sendto(fd, slice, to, super::chan::core_deadline(deadline)) {
            Ok(k) => k as isize,
            Err(e) => error_code(e) as isize,
        }
    })
}

/// Converts a numeric `"host:port"` (`"127.0.0.1:53"`, `"[::1]:53"`; `":53"` is
/// 127.0.0.1) to a socket address for `gort_sendto`, without any lookup. `out` receives a
/// `sockaddr_in` or `sockaddr_in6` (pass a `struct sockaddr_storage`); `outlen` (may be
/// NULL: `out` is taken to be a `sockaddr_storage`) holds the room in `out` on entry and
/// the address's length on return. Returns 0, or `GORT_EINVAL` for NULL, a malformed
/// address, a host name, or too little room.
#[unsafe(no_mangle)]
pub extern "C" fn gort_sockaddr_parse(addr: *const c_char, out: *mut c_void, outlen: *mut u32) -> c_int {
    guard!("gort_sockaddr_parse", {
        let Some(addr) = c_str(addr) else { return GORT_EINVAL };
        if out.is_null() {
            return GORT_EINVAL;
        }
        let a = match crate::net::parse_numeric(addr) {
            Ok(a) => a,
            Err(e) => return error_code(e),
        };
        let cap = if outlen.is_null() {
            std::mem::size_of::<libc::sockaddr_storage>()
        } else {
            // SAFETY: the caller passes a valid in/out length (non-null here).
            unsafe { *outlen as usize }
        };
        if (a.len as usize) > cap {
            return GORT_EINVAL;
        }
        // SAFETY: `out` has room for `cap >= a.len` bytes per the contract.
        unsafe { std::ptr::copy_nonoverlapping(a.as_ptr() as *const u8, out as *mut u8, a.len as usize) };
        if !outlen.is_null() {
            // SAFETY: as above.
            unsafe { *outlen = a.len };
        }
        0
    })
}

/// Listens on a Unix stream socket at `path`, or in Linux's abstract namespace for
/// `"@name"` (no file; the name goes away with the socket). Returns the listening fd or a
/// `GORT_E*` code: `-EADDRINUSE` if `path` already exists — as in Go, gort does not
/// remove it, and it does not remove the socket file when the listener is closed either
/// (`unlink` it yourself) — `GORT_EINVAL` for NULL, "" or a path longer than 107 bytes,
/// `-ENOENT`/`-EACCES` for a bad directory. `backlog <= 0` asks for the system's maximum.
#[unsafe(no_mangle)]
pub extern "C" fn gort_unix_listen(path: *const c_char, backlog: c_int) -> c_int {
    guard!("gort_unix_listen", {
        let Some(path) = c_str(path) else { return GORT_EINVAL };
        crate::runtime::ensure_init();
        fd_or_code(crate::net::unix_listen(path, backlog))
    })
}

/// Connects to the Unix stream listener at `path` (`"@name"`: abstract namespace) and
/// returns the fd or a `GORT_E*` code (`-ENOENT` no such socket, `-ECONNREFUSED` nobody
/// listening, `-EAGAIN` the listener's backlog is full, `GORT_EINVAL`, …).
#[unsafe(no_mangle)]
pub extern "C" fn gort_unix_dial(path: *const c_char, deadline: i64) -> c_int {
    guard!("gort_unix_dial", {
        let Some(path) = c_str(path) else { return GORT_EINVAL };
        crate::runtime::ensure_init();
        fd_or_code(crate::net::unix_dial(path, super::chan::core_deadline(deadline)))
    })
}
