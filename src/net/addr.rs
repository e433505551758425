//! Address strings and socket addresses: `host:port` parsing, conversion to the kernel's
//! `sockaddr` forms, Unix socket paths, and host-name resolution with `getaddrinfo`.
//! Errors are errnos: `EINVAL` for a malformed string, [`NO_HOST`] when a name does not
//! resolve.

use std::ffi::CString;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// The errno reported when a host name does not resolve (`ENXIO`, "no such device or
/// address"): no socket call gort makes returns it, so it is unambiguous.
pub(crate) const NO_HOST: i32 = libc::ENXIO;

/// The host part of an address string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Host<'a> {
    /// `":8080"`: every interface when listening, the local system when dialing.
    Empty,
    /// A numeric address (IPv6 with its zone's interface index, 0 for none).
    Ip(IpAddr, u32),
    /// A name to resolve.
    Name(&'a str),
}

/// A parsed `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostPort<'a> {
    pub host: Host<'a>,
    pub port: u16,
}

/// Parses `host:port`, `[ipv6]:port`, `[ipv6%zone]:port` or `:port`. The port is decimal,
/// 0 to 65535 (empty means 0, as in Go); names must look like DNS names.
pub(crate) fn parse(s: &str) -> Result<HostPort<'_>, i32> {
    let colon = s.rfind(':').ok_or(libc::EINVAL)?;
    let (h, p) = (&s[..colon], &s[colon + 1..]);
    let port = parse_port(p)?;
    let host = if let Some(inner) = h.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or(libc::EINVAL)?;
        let (ip, zone) = parse_ip(inner)?;
        Host::Ip(ip, zone)
    } else if h.is_empty() {
        Host::Empty
    } else if h.contains([':', '[', ']']) {
        // An IPv6 literal must be bracketed: "::1:80" is ambiguous.
        return Err(libc::EINVAL);
    } else if let Ok(ip) = h.parse::<Ipv4Addr>() {
        Host::Ip(IpAddr::V4(ip), 0)
    } else if is_host_name(h) {
        Host::Name(h)
    } else {
        return Err(libc::EINVAL);
    };
    Ok(HostPort { host, port })
}

fn parse_port(p: &str) -> Result<u16, i32> {
    if p.is_empty() {
        return Ok(0);
    }
    if p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(libc::EINVAL);
    }
    p.parse::<u32>().ok().and_then(|v| u16::try_from(v).ok()).ok_or(libc::EINVAL)
}

/// A literal inside brackets: IPv6 with an optional `%zone` (interface name or index),
/// or IPv4.
fn parse_ip(s: &str) -> Result<(IpAddr, u32), i32> {
    let (addr, zone) = match s.split_once('%') {
        Some((a, z)) => (a, Some(z)),
        None => (s, None),
    };
    if let Ok(v6) = addr.parse::<Ipv6Addr>() {
        let scope = match zone {
            None => 0,
            Some(z) => zone_index(z)?,
        };
        return Ok((IpAddr::V6(v6), scope));
    }
    match (addr.parse::<Ipv4Addr>(), zone) {
        (Ok(v4), None) => Ok((IpAddr::V4(v4), 0)),
        _ => Err(libc::EINVAL),
    }
}

fn zone_index(z: &str) -> Result<u32, i32> {
    if z.is_empty() {
        return Err(libc::EINVAL);
    }
    if z.bytes().all(|b| b.is_ascii_digit()) {
        return z.parse::<u32>().map_err(|_| libc::EINVAL);
    }
    let name = CString::new(z).map_err(|_| libc::EINVAL)?;
    // SAFETY: `name` is a valid NUL-terminated string.
    match unsafe { libc::if_nametoindex(name.as_ptr()) } {
        0 => Err(libc::EINVAL),
        i => Ok(i),
    }
}

/// Letters, digits, `-`, `_` and dots, at most 253 bytes, no empty label: what a resolver
/// could look up. Anything else is a malformed address, reported without a lookup.
fn is_host_name(h: &str) -> bool {
    h.len() <= 253
        && h.trim_end_matches('.').split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// A socket address in the kernel's form.
#[derive(Clone, Copy)]
pub(crate) struct RawAddr {
    pub storage: libc::sockaddr_storage,
    pub len: libc::socklen_t,
}

impl std::fmt::Debug for RawAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RawAddr(family {}, len {})", self.family(), self.len)
    }
}

impl RawAddr {
    pub(crate) fn zeroed() -> RawAddr {
        // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
        RawAddr { storage: unsafe { std::mem::zeroed() }, len: std::mem::size_of::<libc::sockaddr_storage>() as _ }
    }

    pub(crate) fn family(&self) -> i32 {
        self.storage.ss_family as i32
    }

    pub(crate) fn as_ptr(&self) -> *const libc::sockaddr {
        &self.storage as *const libc::sockaddr_storage as *const libc::sockaddr
    }

    pub(crate) fn as_mut_ptr(&mut self) -> *mut libc::sockaddr {
        &mut self.storage as *mut libc::sockaddr_storage as *mut libc::sockaddr
    }

    pub(crate) fn from_socket_addr(sa: &SocketAddr) -> RawAddr {
        let mut r = RawAddr::zeroed();
        match sa {
            SocketAddr::V4(a) => {
                // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in.
                let sin = unsafe { &mut *(r.as_mut_ptr() as *mut libc::sockaddr_in) };
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = a.port().to_be();
                sin.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
                r.len = std::mem::size_of::<libc::sockaddr_in>() as _;
            }
            SocketAddr::V6(a) => {
                // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in6.
                let sin6 = unsafe { &mut *(r.as_mut_ptr() as *mut libc::sockaddr_in6) };
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = a.port().to_be();
                sin6.sin6_addr.s6_addr = a.ip().octets();
                sin6.sin6_scope_id = a.scope_id();
                sin6.sin6_flowinfo = a.flowinfo();
                r.len = std::mem::size_of::<libc::sockaddr_in6>() as _;
            }
        }
        r
    }

    /// The IP address and port, for `AF_INET`/`AF_INET6` addresses.
    pub(crate) fn socket_addr(&self) -> Option<SocketAddr> {
        match self.family() {
            libc::AF_INET if self.len as usize >= std::mem::size_of::<libc::sockaddr_in>() => {
                // SAFETY: the family and length say the storage holds a sockaddr_in.
                let sin = unsafe { &*(self.as_ptr() as *const libc::sockaddr_in) };
                let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
                Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port))))
            }
            libc::AF_INET6 if self.len as usize >= std::mem::size_of::<libc::sockaddr_in6>() => {
                // SAFETY: the family and length say the storage holds a sockaddr_in6.
                let sin6 = unsafe { &*(self.as_ptr() as *const libc::sockaddr_in6) };
                let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                Some(SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }

    /// A Unix socket address: a file system path, or `@name` for Linux's abstract
    /// namespace (no file; the name disappears with the last socket bound to it).
    pub(crate) fn unix(path: &str) -> Result<RawAddr, i32> {
        let mut r = RawAddr::zeroed();
        // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_un.
        let sun = unsafe { &mut *(r.as_mut_ptr() as *mut libc::sockaddr_un) };
        sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let base = std::mem::offset_of!(libc::sockaddr_un, sun_path);
        let cap = sun.sun_path.len();
        let (bytes, abstract_ns) = match path.strip_prefix('@') {
            Some(name) => (name.as_bytes(), true),
            None => (path.as_bytes(), false),
        };
        // A path needs its terminating NUL inside sun_path; an abstract name starts after
        // the leading NUL.
        if path.is_empty() || bytes.contains(&0) || bytes.len() + 1 > cap {
            return Err(libc::EINVAL);
        }
        let start = usize::from(abstract_ns);
        for (i, &b) in bytes.iter().enumerate() {
            sun.sun_path[start + i] = b as libc::c_char;
        }
        r.len = (base + start + bytes.len() + usize::from(!abstract_ns)) as _;
        Ok(r)
    }
}

/// The addresses of `host` (resolved if it is a name) with `port`, for sockets of type
/// `socktype`. An empty host gives `empty` (the caller decides what it means).
/// Name lookups block in `getaddrinfo`, so they run inside a blocking region: the
/// goroutine's P is handed to another thread if the lookup takes a while.
pub(crate) fn resolve(host: &Host<'_>, port: u16, socktype: i32, empty: IpAddr) -> Result<Vec<SocketAddr>, i32> {
    match *host {
        Host::Empty => Ok(vec![SocketAddr::new(empty, port)]),
        Host::Ip(IpAddr::V6(ip), scope) => Ok(vec![SocketAddr::V6(SocketAddrV6::new(ip, port, 0, scope))]),
        Host::Ip(ip, _) => Ok(vec![SocketAddr::new(ip, port)]),
        Host::Name(name) => lookup(name, port, socktype),
    }
}

fn lookup(name: &str, port: u16, socktype: i32) -> Result<Vec<SocketAddr>, i32> {
    let cname = CString::new(name).map_err(|_| libc::EINVAL)?;
    // SAFETY: addrinfo is plain old data; all-zero is the documented "no hints" value.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_family = libc::AF_UNSPEC;
    hints.ai_socktype = socktype;
    let mut res: *mut libc::addrinfo = std::ptr::null_mut();
    crate::sched::proc::blocking_enter();
    // SAFETY: valid NUL-terminated name, hints and out-pointer; the list is freed below.
    let rc = unsafe { libc::getaddrinfo(cname.as_ptr(), std::ptr::null(), &hints, &mut res) };
    // Read errno before gort code runs (EAI_SYSTEM reports through it).
    let sys_errno = crate::os::errno();
    crate::sched::proc::blocking_exit();
    if rc != 0 {
        return Err(match rc {
            libc::EAI_MEMORY => libc::ENOMEM,
            libc::EAI_SYSTEM if sys_errno != 0 => sys_errno,
            _ => NO_HOST,
        });
    }
    let mut out: Vec<SocketAddr> = Vec::new();
    let mut p = res;
    while !p.is_null() {
        // SAFETY: `p` walks the list getaddrinfo returned, which is live until freeaddrinfo.
        let ai = unsafe { &*p };
        if !ai.ai_addr.is_null() && ai.ai_addrlen as usize <= std::mem::size_of::<libc::sockaddr_storage>() {
            let mut r = RawAddr::zeroed();
            // SAFETY: copying ai_addrlen (checked to fit) bytes from a valid sockaddr.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    ai.ai_addr as *const u8,
                    r.as_mut_ptr() as *mut u8,
                    ai.ai_addrlen as usize,
                )
            };
            r.len = ai.ai_addrlen;
            if let Some(mut sa) = r.socket_addr() {
                sa.set_port(port);
                if !out.contains(&sa) {
                    out.push(sa);
                }
            }
        }
        p = ai.ai_next;
    }
    // SAFETY: `res` came from a successful getaddrinfo and is freed once.
    unsafe { libc::freeaddrinfo(res) };
    if out.is_empty() { Err(NO_HOST) } else { Ok(out) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_address_forms() {
        let hp = parse("127.0.0.1:8080").unwrap();
        assert_eq!(hp.host, Host::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST), 0));
        assert_eq!(hp.port, 8080);
        assert_eq!(parse(":0").unwrap().host, Host::Empty);
        assert_eq!(parse(":").unwrap(), HostPort { host: Host::Empty, port: 0 });
        assert_eq!(parse("[::1]:0").unwrap().host, Host::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST), 0));
        assert_eq!(parse("[fe80::1%7]:1").unwrap().host, Host::Ip("fe80::1".parse().unwrap(), 7));
        assert_eq!(parse("localhost:80").unwrap().host, Host::Name("localhost"));
        assert_eq!(parse("example.com.:65535").unwrap().port, 65535);
        for bad in [
            "",
            "nonsense",
            ":99999",
            ":65536",
            "1.2.3.4:-1",
            "::1:80",
            "[::1]",
            "[::1:80",
            "x..y:1",
            "a b:1",
            ":http",
            "[nonsense]:1",
            "[1.2.3.4%1]:1",
            ":+80",
        ] {
            assert_eq!(parse(bad), Err(libc::EINVAL), "{bad:?}");
        }
    }

    #[test]
    fn socket_addr_round_trip() {
        for s in ["127.0.0.1:80", "[::1]:443", "[fe80::1%3]:9"] {
            let hp = parse(s).unwrap();
            let sa = resolve(&hp.host, hp.port, libc::SOCK_STREAM, IpAddr::V4(Ipv4Addr::LOCALHOST)).unwrap()[0];
            assert_eq!(RawAddr::from_socket_addr(&sa).socket_addr(), Some(sa));
        }
    }

    #[test]
    fn unix_paths() {
        let base = std::mem::offset_of!(libc::sockaddr_un, sun_path) as u32;
        assert_eq!(RawAddr::unix("/tmp/x").unwrap().len, base + 7);
        assert_eq!(RawAddr::unix("@x").unwrap().len, base + 2);
        assert!(RawAddr::unix("").is_err());
        assert!(RawAddr::unix(&"a".repeat(108)).is_err());
        assert!(RawAddr::unix(&"a".repeat(107)).is_ok());
    }
}
