//! Sockets: creation and ownership ([`Sock`]), listen, dial, accept, datagrams.

use super::addr::{self, Host, RawAddr};
use crate::netpoll::{self, Error, FdRef, Mode, may_block};
use crate::sched::NO_DEADLINE;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::os::errno;

/// A socket gort created and registered with the netpoller. Dropping it closes the fd
/// through [`netpoll::close`] (so a failed listen or dial cleans up on every path);
/// [`Sock::into_fd`] hands it to the caller instead.
pub(super) struct Sock(i32);

impl Sock {
    /// A non-blocking, close-on-exec socket, adopted by the netpoller at once.
    pub(super) fn new(family: i32, socktype: i32) -> Result<Sock, Error> {
        // SAFETY: plain system call.
        let fd = unsafe { libc::socket(family, socktype | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(Error::Os(errno()));
        }
        adopt_or_close(fd).map(Sock)
    }

    pub(super) fn fd(&self) -> i32 {
        self.0
    }

    pub(super) fn into_fd(self) -> i32 {
        let fd = self.0;
        std::mem::forget(self);
        fd
    }
}

impl Drop for Sock {
    fn drop(&mut self) {
        netpoll::close(self.0);
    }
}

/// Registers a fresh fd; one the netpoller cannot take (a number beyond its table) is
/// closed here, since `netpoll::close` cannot.
fn adopt_or_close(fd: i32) -> Result<i32, Error> {
    match netpoll::adopt(fd) {
        Ok(()) => Ok(fd),
        Err(e) => {
            if netpoll::desc(fd).is_some() {
                netpoll::close(fd);
            } else {
                // SAFETY: closing the fd we just created and never shared.
                unsafe { libc::close(fd) };
            }
            Err(e)
        }
    }
}

fn set_int(fd: i32, level: i32, opt: i32, val: i32) -> Result<(), Error> {
    // SAFETY: the option value is a valid int of the size passed.
    let rc = unsafe {
        libc::setsockopt(fd, level, opt, &val as *const i32 as *const libc::c_void, std::mem::size_of::<i32>() as _)
    };
    if rc < 0 { Err(Error::Os(errno())) } else { Ok(()) }
}

fn get_int(fd: i32, level: i32, opt: i32) -> Result<i32, Error> {
    let mut val: i32 = 0;
    let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
    // SAFETY: out-pointers to a valid int and its length.
    let rc = unsafe { libc::getsockopt(fd, level, opt, &mut val as *mut i32 as *mut libc::c_void, &mut len) };
    if rc < 0 { Err(Error::Os(errno())) } else { Ok(val) }
}

/// Options every socket of `family`/`socktype` gets, as Go sets them: IPv6 sockets are
/// dual-stack, datagram sockets may broadcast, TCP connections do not delay small
/// writes (Nagle off).
fn default_opts(fd: i32, family: i32, socktype: i32) {
    // Failures are not fatal: an option the kernel lacks only changes performance or
    // reach, and the operation itself reports real problems.
    if family == libc::AF_INET6 {
        let _ = set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 0);
    }
    if socktype == libc::SOCK_DGRAM && family != libc::AF_UNIX {
        let _ = set_int(fd, libc::SOL_SOCKET, libc::SO_BROADCAST, 1);
    }
}

fn set_nodelay(fd: i32) {
    let _ = set_int(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1);
}

/// After a retryable failure (`EINTR`, an aborted connection): the error to give up with
/// if the deadline has passed, so a storm of signals cannot keep a call past it.
fn expired(deadline: i64, blocking: bool) -> Result<(), Error> {
    if deadline != NO_DEADLINE && deadline <= crate::time::nanotime() {
        return Err(if blocking { Error::TimedOut } else { Error::WouldBlock });
    }
    Ok(())
}

/// `netpoll::wait`, reporting a deadline that passed during the call as `TimedOut`.
fn wait(fd: i32, mode: Mode, deadline: i64, blocking: bool) -> Result<(), Error> {
    netpoll::wait_in_op(fd, mode, deadline, blocking)
}

// ---------------------------------------------------------------------------------------
// Listening
// ---------------------------------------------------------------------------------------

/// Backlog for `backlog <= 0`: the kernel caps it at `net.core.somaxconn`, so this asks
/// for the system's maximum (Go reads the sysctl; the effect is the same).
const MAX_BACKLOG: i32 = 65535;

fn bind(s: &Sock, a: &RawAddr) -> Result<(), Error> {
    // SAFETY: `a` holds a valid sockaddr of `a.len` bytes.
    if unsafe { libc::bind(s.fd(), a.as_ptr(), a.len) } < 0 { Err(Error::Os(errno())) } else { Ok(()) }
}

fn listen(s: &Sock, backlog: i32) -> Result<(), Error> {
    let backlog = if backlog <= 0 { MAX_BACKLOG } else { backlog };
    // SAFETY: plain system call on our socket.
    if unsafe { libc::listen(s.fd(), backlog) } < 0 { Err(Error::Os(errno())) } else { Ok(()) }
}

/// A socket of `socktype` bound to `sa`, with Go's options: `SO_REUSEADDR` on stream
/// listeners, dual-stack IPv6 (`dual` makes failing to turn `IPV6_V6ONLY` off an error,
/// for the wildcard address, which would otherwise miss IPv4), broadcast on datagrams.
fn bound(sa: &SocketAddr, socktype: i32, dual: bool) -> Result<Sock, Error> {
    let family = if sa.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
    let s = Sock::new(family, socktype)?;
    if family == libc::AF_INET6 {
        let r = set_int(s.fd(), libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 0);
        if dual {
            r?;
        }
    }
    if socktype == libc::SOCK_DGRAM {
        let _ = set_int(s.fd(), libc::SOL_SOCKET, libc::SO_BROADCAST, 1);
    }
    if socktype == libc::SOCK_STREAM {
        set_int(s.fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    }
    bind(&s, &RawAddr::from_socket_addr(sa))?;
    Ok(s)
}

/// A socket bound to every interface: dual-stack `[::]` (IPv4 peers appear as v4-mapped
/// addresses), or `0.0.0.0` where the host has no (dual-stack) IPv6.
fn bound_wildcard(port: u16, socktype: i32) -> Result<Sock, Error> {
    match bound(&SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port), socktype, true) {
        Err(Error::Os(libc::EAFNOSUPPORT | libc::EPROTONOSUPPORT | libc::EADDRNOTAVAIL | libc::ENOPROTOOPT)) => {
            bound(&SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port), socktype, false)
        }
        r => r,
    }
}

/// A socket bound to a listen/bind address string: `host:port`, `:port` (every
/// interface), `[ipv6]:port`, or a name (its first IPv4 address, else its first, as Go).
fn bound_str(addr: &str, socktype: i32) -> Result<Sock, Error> {
    let hp = addr::parse(addr).map_err(Error::Os)?;
    if hp.host == Host::Empty {
        return bound_wildcard(hp.port, socktype);
    }
    let addrs = addr::resolve(&hp.host, hp.port, socktype, IpAddr::V4(Ipv4Addr::UNSPECIFIED)).map_err(Error::Os)?;
    let sa = addrs.iter().find(|a| a.is_ipv4()).unwrap_or(&addrs[0]);
    bound(sa, socktype, false)
}

/// A TCP listener on `addr`; `backlog <= 0` asks for the system's maximum.
pub(crate) fn tcp_listen(addr: &str, backlog: i32) -> Result<i32, Error> {
    let s = bound_str(addr, libc::SOCK_STREAM)?;
    listen(&s, backlog)?;
    Ok(s.into_fd())
}

/// A UDP socket bound to `addr`.
pub(crate) fn udp_bind(addr: &str) -> Result<i32, Error> {
    Ok(bound_str(addr, libc::SOCK_DGRAM)?.into_fd())
}

/// A Unix stream listener at `path` (`@name`: abstract namespace). An existing file at
/// `path` gives `EADDRINUSE`; the file stays after the listener is closed.
pub(crate) fn unix_listen(path: &str, backlog: i32) -> Result<i32, Error> {
    let a = RawAddr::unix(path).map_err(Error::Os)?;
    let s = Sock::new(libc::AF_UNIX, libc::SOCK_STREAM)?;
    bind(&s, &a)?;
    listen(&s, backlog)?;
    Ok(s.into_fd())
}

// ---------------------------------------------------------------------------------------
// Dialing
// ---------------------------------------------------------------------------------------

/// Connects a new socket of `socktype` to `a`, waiting (writable, then `SO_ERROR` and a
/// second `connect` to confirm) until the handshake ends or `deadline` passes.
fn connect(a: &RawAddr, socktype: i32, deadline: i64, blocking: bool) -> Result<Sock, Error> {
    let family = a.family();
    let s = Sock::new(family, socktype)?;
    default_opts(s.fd(), family, socktype);
    if socktype == libc::SOCK_STREAM && family != libc::AF_UNIX {
        set_nodelay(s.fd());
    }
    let r = FdRef::acquire(s.fd())?;
    let fd = r.fd();
    // SAFETY: `a` holds a valid sockaddr of `a.len` bytes.
    if unsafe { libc::connect(fd, a.as_ptr(), a.len) } == 0 {
        drop(r);
        return Ok(s);
    }
    match errno() {
        // In progress (EINTR: the kernel carries on with it all the same).
        libc::EINPROGRESS | libc::EALREADY | libc::EINTR => {}
        libc::EISCONN => {
            drop(r);
            return Ok(s);
        }
        e => return Err(Error::Os(e)),
    }
    loop {
        wait(fd, Mode::Write, deadline, blocking)?;
        match get_int(fd, libc::SOL_SOCKET, libc::SO_ERROR)? {
            0 | libc::EINPROGRESS | libc::EALREADY | libc::EINTR => {}
            e => return Err(Error::Os(e)),
        }
        // Writable and no error — or a wake-up that predates the handshake (the edge a
        // fresh socket reports when it is registered). Asking again settles it: a second
        // `connect` says EISCONN (gVisor: 0) once connected, EALREADY while in progress.
        // (`getpeername` is not enough: gVisor answers it before the handshake is done.)
        // SAFETY: as above.
        if unsafe { libc::connect(fd, a.as_ptr(), a.len) } == 0 {
            break;
        }
        match errno() {
            libc::EISCONN => break,
            libc::EALREADY | libc::EINPROGRESS | libc::EINTR => continue,
            e => return Err(Error::Os(e)),
        }
    }
    drop(r);
    Ok(s)
}

/// Each attempt of a multi-address dial gets an equal share of the time left (at least
/// 2 s, never past the overall deadline), so one black-holed address cannot use up the
/// whole budget.
fn attempt_deadline(deadline: i64, left: usize) -> i64 {
    if deadline == NO_DEADLINE || left <= 1 {
        return deadline;
    }
    let now = crate::time::nanotime();
    let share = ((deadline - now) / left as i64).max(2_000_000_000);
    now.saturating_add(share).min(deadline)
}

/// Tries the addresses in order until one connects; the first failure is reported if all
/// fail (a time-out if the overall deadline passed).
fn dial_addrs(addrs: &[SocketAddr], socktype: i32, deadline: i64, blocking: bool) -> Result<i32, Error> {
    let mut first_err = None;
    for (i, sa) in addrs.iter().enumerate() {
        let d = attempt_deadline(deadline, addrs.len() - i);
        match connect(&RawAddr::from_socket_addr(sa), socktype, d, blocking) {
            Ok(s) => return Ok(s.into_fd()),
            Err(e @ (Error::WouldBlock | Error::TimedOut)) if d == deadline => return Err(e),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or(Error::Os(addr::NO_HOST)))
}

/// The addresses to dial for `addr`: `:port` is the local system (127.0.0.1), numeric
/// hosts are used as they are, names are resolved (see [`addr::resolve`]).
fn dial_targets(addr: &str, socktype: i32, deadline: i64) -> Result<Vec<SocketAddr>, Error> {
    let hp = addr::parse(addr).map_err(Error::Os)?;
    if matches!(hp.host, Host::Name(_)) && !may_block(deadline) {
        // A lookup would block and cannot be abandoned half way.
        return Err(Error::WouldBlock);
    }
    addr::resolve(&hp.host, hp.port, socktype, IpAddr::V4(Ipv4Addr::LOCALHOST)).map_err(Error::Os)
}

/// A TCP connection to `addr` (`host:port`, `[ipv6]:port`, `:port`).
pub(crate) fn tcp_dial(addr: &str, deadline: i64) -> Result<i32, Error> {
    // Whether the call may block is decided on entry: a deadline that passes during
    // the lookup makes the connect a time-out, not a non-blocking attempt.
    let blocking = may_block(deadline);
    let targets = dial_targets(addr, libc::SOCK_STREAM, deadline)?;
    dial_addrs(&targets, libc::SOCK_STREAM, deadline, blocking)
}

/// A connected UDP socket (its peer fixed; read and write datagrams on it).
pub(crate) fn udp_dial(addr: &str) -> Result<i32, Error> {
    let targets = dial_targets(addr, libc::SOCK_DGRAM, NO_DEADLINE)?;
    // A datagram connect only sets the peer: it never waits.
    dial_addrs(&targets, libc::SOCK_DGRAM, NO_DEADLINE, true)
}

/// A connection to the Unix stream listener at `path` (`@name`: abstract namespace).
/// A listener whose backlog is full gives `EAGAIN` (the kernel's answer for Unix sockets).
pub(crate) fn unix_dial(path: &str, deadline: i64) -> Result<i32, Error> {
    let a = RawAddr::unix(path).map_err(Error::Os)?;
    Ok(connect(&a, libc::SOCK_STREAM, deadline, may_block(deadline))?.into_fd())
}

// ---------------------------------------------------------------------------------------
// Accepting, addresses, datagrams
// ---------------------------------------------------------------------------------------

/// Waits for and accepts a connection on a TCP or Unix listener. The new socket is
/// non-blocking, close-on-exec, registered, and (TCP) has Nagle off.
pub(crate) fn accept(fd: i32, deadline: i64) -> Result<i32, Error> {
    let r = FdRef::acquire(fd)?;
    let blocking = may_block(deadline);
    loop {
        let mut peer = RawAddr::zeroed();
        // SAFETY: out-pointers to a sockaddr_storage and its length.
        let nfd = unsafe {
            libc::accept4(r.fd(), peer.as_mut_ptr(), &mut peer.len, libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
        };
        if nfd >= 0 {
            let nfd = adopt_or_close(nfd)?;
            if matches!(peer.family(), libc::AF_INET | libc::AF_INET6) {
                set_nodelay(nfd);
            }
            return Ok(nfd);
        }
        match errno() {
            // A connection that died in the queue, or a signal: try the next one.
            libc::EINTR | libc::ECONNABORTED => expired(deadline, blocking)?,
            libc::EAGAIN => wait(r.fd(), Mode::Read, deadline, blocking)?,
            libc::EBADF => return Err(Error::Closed),
            // EMFILE/ENFILE and the rest go to the caller: retrying could only spin.
            e => return Err(Error::Os(e)),
        }
    }
}

/// The local port of a bound TCP or UDP socket (`EINVAL` for other families).
pub(crate) fn local_port(fd: i32) -> Result<u16, Error> {
    let r = FdRef::acquire(fd)?;
    let mut a = RawAddr::zeroed();
    // SAFETY: out-pointers to a sockaddr_storage and its length.
    if unsafe { libc::getsockname(r.fd(), a.as_mut_ptr(), &mut a.len) } < 0 {
        return Err(match errno() {
            libc::EBADF => Error::Closed,
            e => Error::Os(e),
        });
    }
    a.socket_addr().map(|sa| sa.port()).ok_or(Error::Os(libc::EINVAL))
}

/// Receives one datagram (truncated to `buf.len()`) and its sender's address (length 0
/// on a connected stream socket). Parks while nothing has arrived.
pub(crate) fn recvfrom(fd: i32, buf: &mut [u8], deadline: i64) -> Result<(usize, RawAddr), Error> {
    let r = FdRef::acquire(fd)?;
    let blocking = may_block(deadline);
    loop {
        let mut from = RawAddr::zeroed();
        // SAFETY: `buf` is valid for writes of its length; out-pointers to a
        // sockaddr_storage and its length.
        let n = unsafe {
            libc::recvfrom(
                r.fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                0,
                from.as_mut_ptr(),
                &mut from.len,
            )
        };
        if n >= 0 {
            return Ok((n as usize, from));
        }
        match errno() {
            libc::EINTR => expired(deadline, blocking)?,
            libc::EAGAIN => wait(r.fd(), Mode::Read, deadline, blocking)?,
            libc::EBADF => return Err(Error::Closed),
            e => return Err(Error::Os(e)),
        }
    }
}

/// Sends one datagram to `to` (None: the connected peer). Returns what the kernel took
/// (all of it for a datagram). Never raises SIGPIPE.
pub(crate) fn sendto(fd: i32, buf: &[u8], to: Option<&RawAddr>, deadline: i64) -> Result<usize, Error> {
    let r = FdRef::acquire(fd)?;
    let blocking = may_block(deadline);
    let (ap, alen) = match to {
        Some(a) => (a.as_ptr(), a.len),
        None => (std::ptr::null(), 0),
    };
    loop {
        // SAFETY: `buf` is valid for reads of its length; `ap` is null or a valid
        // sockaddr of `alen` bytes.
        let n = unsafe {
            libc::sendto(r.fd(), buf.as_ptr() as *const libc::c_void, buf.len(), libc::MSG_NOSIGNAL, ap, alen)
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        match errno() {
            libc::EINTR => expired(deadline, blocking)?,
            libc::EAGAIN => wait(r.fd(), Mode::Write, deadline, blocking)?,
            libc::EBADF => return Err(Error::Closed),
            e => return Err(Error::Os(e)),
        }
    }
}

/// A numeric `host:port` as a socket address (`:port` is 127.0.0.1); no lookups.
pub(crate) fn parse_numeric(addr: &str) -> Result<RawAddr, Error> {
    let hp = addr::parse(addr).map_err(Error::Os)?;
    if matches!(hp.host, Host::Name(_)) {
        return Err(Error::Os(libc::EINVAL));
    }
    let sa = addr::resolve(&hp.host, hp.port, libc::SOCK_DGRAM, IpAddr::V4(Ipv4Addr::LOCALHOST)).map_err(Error::Os)?;
    Ok(RawAddr::from_socket_addr(&sa[0]))
}
