//! Unrecoverable errors: Go's `fatal error: ...` and `panic: ...` crashes, exit status 2.

/// Writes all of `b` to stderr with write(2) (no locks, no allocation).
pub(crate) fn write_stderr(mut b: &[u8]) {
    while !b.is_empty() {
        // SAFETY: b is a valid buffer.
        let n = unsafe { libc::write(2, b.as_ptr() as *const libc::c_void, b.len()) };
        if n < 0 {
            if crate::os::errno() == libc::EINTR {
                continue;
            }
            return;
        }
        b = &b[n as usize..];
    }
}

/// Formats `v` in decimal into `out`; returns the length.
pub(crate) fn fmt_i64(v: i64, out: &mut [u8]) -> usize {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    let neg = v < 0;
    let mut u = v.unsigned_abs();
    loop {
        i -= 1;
        tmp[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    let mut n = 0;
    if neg {
        out[0] = b'-';
        n = 1;
    }
    for &d in &tmp[i..] {
        out[n] = d;
        n += 1;
    }
    n
}

/// A message assembled without allocating, for paths that must stay async-signal-safe
/// (signal handlers, a forked child). Text past the capacity is dropped.
pub(crate) struct StackMsg {
    buf: [u8; 512],
    len: usize,
}

impl StackMsg {
    pub(crate) const fn new() -> StackMsg {
        StackMsg { buf: [0; 512], len: 0 }
    }

    pub(crate) fn push(&mut self, b: &[u8]) -> &mut StackMsg {
        let n = b.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&b[..n]);
        self.len += n;
        self
    }

    pub(crate) fn push_dec(&mut self, v: i64) -> &mut StackMsg {
        let mut tmp = [0u8; 20];
        let n = fmt_i64(v, &mut tmp);
        self.push(&tmp[..n])
    }

    /// `0x` and `v` in lower-case hex, as Go prints addresses.
    pub(crate) fn push_hex(&mut self, v: u64) -> &mut StackMsg {
        let mut tmp = [0u8; 18];
        let mut i = tmp.len();
        let mut u = v;
        loop {
            i -= 1;
            tmp[i] = b"0123456789abcdef"[(u & 0xf) as usize];
            u >>= 4;
            if u == 0 {
                break;
            }
        }
        i -= 2;
        tmp[i] = b'0';
        tmp[i + 1] = b'x';
        self.push(&tmp[i..])
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Default for StackMsg {
    fn default() -> Self {
        StackMsg::new()
    }
}

/// Flushes C stdio (what the program printed so far should not be lost) and exits 2.
pub(crate) fn exit2() -> ! {
    crate::sched::tsan::before_exit();
    // SAFETY: fflush(NULL) flushes every open output stream; _exit ends the process.
    unsafe {
        libc::fflush(std::ptr::null_mut());
        libc::_exit(2)
    }
}

/// `fatal error: MSG`, every goroutine (as `GORT_TRACEBACK` says: Go's throw), and exit
/// 2 (abort at `GORT_TRACEBACK=crash`). The message and the dump allocate nothing.
pub(crate) fn fatal(msg: &str) -> ! {
    write_stderr(b"fatal error: ");
    write_stderr(msg.as_bytes());
    write_stderr(b"\n");
    use crate::debug::traceback::{Current, Scope, crash_dump, crash_if_asked};
    let level = crash_dump(2, Scope::All, Current::Here);
    crash_if_asked(level);
    exit2()
}

/// [`fatal`], named for the call sites that always meant "with a goroutine dump"
/// (deadlocks, unlocks of unlocked mutexes): every fatal error dumps now.
pub(crate) fn fatal_with_dump(msg: &str) -> ! {
    fatal(msg)
}

/// A Rust panic reached an exported function: a bug in gort, never the caller's fault.
pub(crate) fn internal_panic(func: &str) -> ! {
    fatal(&format!("gort internal error: Rust panic in {func}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_msg_formats_and_truncates() {
        let mut m = StackMsg::new();
        m.push(b"addr=").push_hex(0xdead_beef).push(b" id=").push_dec(-42);
        m.push(b" ").push_hex(0).push(b" ").push_hex(u64::MAX);
        assert_eq!(m.as_bytes(), b"addr=0xdeadbeef id=-42 0x0 0xffffffffffffffff");
        let mut m = StackMsg::new();
        for _ in 0..100 {
            m.push(b"0123456789");
        }
        assert_eq!(m.as_bytes().len(), 512);
    }
}
