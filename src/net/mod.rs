//! Sockets on the netpoller: TCP and Unix stream listeners and connections, UDP.
//!
//! Every socket is created `SOCK_NONBLOCK | SOCK_CLOEXEC` and handed to
//! [`netpoll::adopt`](crate::netpoll::adopt) at once, so it joins the epoll set exactly
//! once in its life; a [`socket::Sock`] owns it until the caller gets the fd, and closes it
//! through [`netpoll::close`](crate::netpoll::close) on every error path. Operations hold
//! an [`FdRef`](crate::netpoll::FdRef) while they use an fd and park with
//! `netpoll::wait` when the kernel says `EAGAIN`, so a goroutine parks and a foreign
//! thread blocks, with the same deadlines as every other wait. Connected sockets are read
//! and written with the fd layer's `read`/`write`.
//!
//! # Address forms
//! Go's: `host:port`. The host is an IPv4 literal (`127.0.0.1`), a bracketed IPv6
//! literal with an optional zone (`[::1]`, `[fe80::1%eth0]`), a name (`localhost`), or
//! empty. The port is decimal, 0–65535 (0 or empty: the kernel picks one when binding).
//! An empty host means *every interface* when listening — a dual-stack `[::]` socket
//! with `IPV6_V6ONLY` off, as Go, or `0.0.0.0` where IPv6 is missing — and *the local
//! system* (127.0.0.1) when dialing. A name used to listen binds its first IPv4 address
//! (else its first), as Go. Unix sockets take a path, or `@name` for Linux's abstract
//! namespace. Malformed strings are `EINVAL` without any lookup.
//!
//! # Dialing
//! For each candidate address in the resolver's order: a new socket, `connect`, and on
//! `EINPROGRESS` a wait for writability, then `SO_ERROR`, then a second `connect` that
//! confirms it (`EISCONN`; `EALREADY` means keep waiting): a freshly registered socket
//! reports an edge of its own before the handshake has finished, and under gVisor even
//! `getpeername` answers early. With several addresses each attempt gets an equal share
//! of the time left (at least 2 s), so one black hole cannot eat the whole
//! deadline; the first error is reported if all fail. TCP connections (dialed and
//! accepted) get `TCP_NODELAY`, as in Go.
//!
//! # Resolution without stalling
//! Numeric hosts are converted directly and never reach a blocking call. Names go to
//! `getaddrinfo` (so `/etc/hosts`, `nsswitch.conf` and the system resolver apply, as with
//! Go's cgo resolver) inside `sched::proc::blocking_enter`/`blocking_exit`: the lookup
//! blocks its OS thread, but sysmon hands the goroutine's P to another thread once other
//! work waits, so the other goroutines keep running — cgo's model exactly. The lookup
//! cannot be cut short, so a deadline is checked around it: a dial whose deadline has
//! already passed does not start a lookup (`WouldBlock`), and one that expires during the
//! lookup times out at its first wait. Lookup failures are [`addr::NO_HOST`] (`ENXIO`).
//!
//! # Alternatives rejected
//! - A resolver thread (or pool) that the dialer waits on through a channel or an
//!   eventfd, so the dial could give up at its deadline while the lookup carries on: more
//!   machinery (result hand-off, a thread per concurrent lookup or a queue) for a case —
//!   slow DNS with a tight dial deadline — that a blocking region already keeps from
//!   stalling anyone else.
//! - A DNS client of our own (Go's pure-Go resolver): parsing resolv.conf, hosts,
//!   nsswitch, search domains, EDNS — a project of its own, and it would disagree with
//!   the system's resolver that C programs expect.
//! - Racing IPv6 and IPv4 attempts (Happy Eyeballs, Go's dual-stack dialer): the serial
//!   order with partial deadlines covers loopback and single-family hosts, needs no
//!   cancellation of a losing attempt, and can be added later behind the same API.
//! - Unlinking a Unix socket's file when its listener is closed (Go does): `gort_close`
//!   works on numbers and keeps no path; binding over an existing file fails with
//!   `EADDRINUSE` instead, and the caller removes the file.
//! - Blocking sockets with a thread per blocked call: the point of the netpoller is that
//!   ten thousand idle connections cost ten thousand parked goroutines, not threads.

pub(crate) mod addr;
mod socket;

pub(crate) use addr::{NO_HOST, RawAddr};
pub(crate) use socket::{
    accept, local_port, parse_numeric, recvfrom, sendto, tcp_dial, tcp_listen, udp_bind, udp_dial, unix_dial,
    unix_listen,
};
