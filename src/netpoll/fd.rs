//! I/O on descriptors: references that keep an fd number alive during an operation,
//! `read`/`write` that park on the netpoller instead of blocking, and `close`.
//! The protocol (why close waits for the last operation) is in the module essay.

use super::{CLOSING, Error, Mode, PollDesc, desc, ensure_nonblocking, errno, evict, wait};
use std::sync::atomic::Ordering;

/// A reference on the descriptor of an fd number for the duration of one operation: the
/// fd is not closed (and its number not reused) until every reference is dropped.
pub struct FdRef {
    pd: &'static PollDesc,
}

impl FdRef {
    /// Takes a reference, or `Closed` if `gort_close` has begun on this fd (or the number
    /// is out of range).
    pub fn acquire(fd: i32) -> Result<FdRef, Error> {
        let pd = desc(fd).ok_or(Error::Closed)?;
        let mut r = pd.refs.load(Ordering::Acquire);
        let mut looked_again = false;
        loop {
            if r & CLOSING != 0 {
                if looked_again {
                    return Err(Error::Closed);
                }
                // The last reference may be finishing the close of the previous file with
                // this number (it holds the descriptor lock until the refs are reset):
                // wait for that, then look once more.
                drop(pd.lock());
                looked_again = true;
                r = pd.refs.load(Ordering::Acquire);
                continue;
            }
            match pd.refs.compare_exchange_weak(r, r + 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(FdRef { pd }),
                Err(cur) => r = cur,
            }
        }
    }

    pub fn fd(&self) -> i32 {
        self.pd.fd
    }

    pub fn desc(&self) -> &'static PollDesc {
        self.pd
    }
}

impl Drop for FdRef {
    fn drop(&mut self) {
        release(self.pd);
    }
}

/// Drops one reference; the last one of a closing fd closes it. Returns `close(2)`'s
/// errno (0 on success) when this call closed the fd, else 0.
fn release(pd: &'static PollDesc) -> i32 {
    if pd.refs.fetch_sub(1, Ordering::AcqRel) != CLOSING | 1 {
        return 0;
    }
    // Last reference of a closing fd. Hold the lock across the reset and close(2) so
    // that `acquire` on the next file with this number waits for us instead of seeing
    // CLOSING.
    let _l = pd.lock();
    {
        // Forget the old file: the next one with this number starts afresh.
        // SAFETY: we hold the lock.
        let st = unsafe { &mut *pd.state.get() };
        st.closing = false;
        st.nonblock = false;
        st.not_socket = false;
        st.registered = false;
        for side in st.sides.iter_mut() {
            side.ready = false;
            side.hup = false;
        }
    }
    // SAFETY: closing an fd the caller gave to gort_close; nobody else uses this number
    // through gort any more.
    let rc = unsafe { libc::close(pd.fd) };
    let e = if rc < 0 { errno() } else { 0 };
    pd.refs.store(0, Ordering::Release);
    // EINTR: Linux has closed the fd anyway; retrying could close a reused number.
    if e == libc::EINTR { 0 } else { e }
}

/// `gort_close`: wakes every goroutine blocked on `fd` with `Closed`, then closes it once
/// the last operation in flight has let go. Returns 0 or a negated errno (`-EBADF` for an
/// fd that is not open or already being closed).
pub fn close(fd: i32) -> i32 {
    let Some(pd) = desc(fd) else { return -libc::EBADF };
    let mut r = pd.refs.load(Ordering::Acquire);
    loop {
        if r & CLOSING != 0 {
            return -libc::EBADF;
        }
        // Close holds a reference of its own until the waiters are out.
        match pd.refs.compare_exchange_weak(r, (r | CLOSING) + 1, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => break,
            Err(cur) => r = cur,
        }
    }
    evict(pd);
    -release(pd)
}

/// Reads up to `buf.len()` bytes, parking while nothing is available. `Ok(0)` at end of
/// file (or for an empty `buf`).
pub fn read(fd: i32, buf: &mut [u8], deadline: i64) -> Result<usize, Error> {
    let r = FdRef::acquire(fd)?;
    ensure_nonblocking(r.desc())?;
    loop {
        // SAFETY: `buf` is valid for writes of its length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
        if n >= 0 {
            return Ok(n as usize);
        }
        match errno() {
            libc::EINTR => continue,
            libc::EAGAIN => wait(fd, Mode::Read, deadline, false)?,
            libc::EBADF => return Err(Error::Closed),
            e => return Err(Error::Os(e)),
        }
    }
}

/// Writes all of `buf`, parking while the fd is full. On error (or deadline) part of the
/// data may have been written already. Sockets are written with `MSG_NOSIGNAL` and pipes
/// with SIGPIPE blocked, so a closed peer gives `EPIPE`, never the signal.
pub fn write(fd: i32, buf: &[u8], deadline: i64) -> Result<usize, Error> {
    let r = FdRef::acquire(fd)?;
    ensure_nonblocking(r.desc())?;
    let mut done = 0;
    while done < buf.len() {
        let rest = &buf[done..];
        let n = write_once(r.desc(), rest);
        if n >= 0 {
            done += n as usize;
            continue;
        }
        match errno() {
            libc::EINTR => continue,
            libc::EAGAIN => wait(fd, Mode::Write, deadline, false)?,
            libc::EBADF => return Err(Error::Closed),
            e => return Err(Error::Os(e)),
        }
    }
    Ok(done)
}

/// One `send`/`write` call; -1 with errno set on failure.
fn write_once(pd: &PollDesc, buf: &[u8]) -> isize {
    let fd = pd.fd;
    // SAFETY: reading a flag written under the lock; a stale value only costs one
    // ENOTSOCK retry.
    let not_socket = unsafe { (*pd.state.get()).not_socket };
    if !not_socket {
        // SAFETY: `buf` is valid for reads of its length.
        let n = unsafe { libc::send(fd, buf.as_ptr() as *const libc::c_void, buf.len(), libc::MSG_NOSIGNAL) };
        if n >= 0 || errno() != libc::ENOTSOCK {
            return n;
        }
        let mut l = pd.lock();
        l.st().not_socket = true;
    }
    write_nosigpipe(fd, buf)
}

/// `write(2)` with SIGPIPE blocked on this thread, and a SIGPIPE it raised consumed, so a
/// pipe whose reader is gone reports `EPIPE` instead of killing the process.
fn write_nosigpipe(fd: i32, buf: &[u8]) -> isize {
    // SAFETY: plain signal-mask system calls on this thread with valid sigset pointers;
    // `buf` is valid for reads of its length.
    unsafe {
        let mut pipe: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut pipe);
        libc::sigaddset(&mut pipe, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &pipe, &mut old);
        let n = libc::write(fd, buf.as_ptr() as *const libc::c_void, buf.len());
        let e = errno();
        if n < 0 && e == libc::EPIPE && libc::sigismember(&old, libc::SIGPIPE) == 0 {
            let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
            libc::sigtimedwait(&pipe, std::ptr::null_mut(), &zero);
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        *libc::__errno_location() = e;
        n
    }
}
