//! I/O on descriptors: references that keep an fd number alive during an operation,
//! `read`/`write` that park on the netpoller instead of blocking, and `close`.
//! The protocol (why close waits for the last operation) is in the module essay.

use super::{CLOSING, Error, IoMode, Mode, PollDesc, desc, errno, evict, io_mode, may_block, wait_in_op};
use std::sync::atomic::Ordering;

/// A reference on the descriptor of an fd number for the duration of one operation: the
/// fd is not closed (and its number not reused) until every reference is dropped.
pub(crate) struct FdRef {
    pd: &'static PollDesc,
}

impl FdRef {
    /// Takes a reference, or `Closed` if `gort_close` has begun on this fd (or the number
    /// is out of range).
    pub(crate) fn acquire(fd: i32) -> Result<FdRef, Error> {
        let pd = desc(fd).ok_or(Error::Closed)?;
        if refs::acquire(&pd.refs) {
            return Ok(FdRef { pd });
        }
        // The last reference may be finishing the close of the previous file with this
        // number (it holds the descriptor lock until the refs are reset): wait for that,
        // then look once more.
        drop(pd.lock());
        if refs::acquire(&pd.refs) { Ok(FdRef { pd }) } else { Err(Error::Closed) }
    }

    pub(crate) fn fd(&self) -> i32 {
        self.pd.fd
    }

    pub(crate) fn desc(&self) -> &'static PollDesc {
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
    if !refs::release(&pd.refs) {
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
        pd.not_socket.store(false, Ordering::Relaxed);
        st.keep_blocking = false;
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
    refs::reset(&pd.refs);
    // EINTR: Linux has closed the fd anyway; retrying could close a reused number.
    if e == libc::EINTR { 0 } else { e }
}

/// `gort_close`: wakes every goroutine blocked on `fd` with `Closed`, then closes it once
/// the last operation in flight has let go. Returns 0 or a negated errno (`-EBADF` for an
/// fd that is not open or already being closed).
pub(crate) fn close(fd: i32) -> i32 {
    let Some(pd) = desc(fd) else { return -libc::EBADF };
    if !refs::begin_close(&pd.refs) {
        return -libc::EBADF;
    }
    evict(pd);
    -release(pd)
}

/// Reads up to `buf.len()` bytes, parking while nothing is available. `Ok(0)` at end of
/// file (or for an empty `buf`).
pub(crate) fn read(fd: i32, buf: &mut [u8], deadline: i64) -> Result<usize, Error> {
    let r = FdRef::acquire(fd)?;
    let mode = io_mode(r.desc())?;
    let blocking = may_block(deadline);
    loop {
        if mode == IoMode::KeepBlocking && !level_ready(fd, libc::POLLIN) {
            // Nothing to read now: park until an edge, then look again (the level check
            // above, not the edge, decides: a blocking fd is never drained to EAGAIN).
            wait_in_op(fd, Mode::Read, deadline, blocking)?;
            continue;
        }
        // A blocking fd reads inside a blocking section, so the P moves on if the read
        // blocks after all.
        let n = in_blocking_section(mode, || read_once(r.desc(), buf));
        if n >= 0 {
            return Ok(n as usize);
        }
        match errno() {
            libc::EINTR => continue,
            libc::EAGAIN => wait_in_op(fd, Mode::Read, deadline, blocking)?,
            libc::EBADF => return Err(Error::Closed),
            e => return Err(Error::Os(e)),
        }
    }
}

/// Writes all of `buf`, parking while the fd is full. On error (or deadline) part of the
/// data may have been written already. Sockets are written with `MSG_NOSIGNAL` and pipes
/// with SIGPIPE blocked, so a closed peer gives `EPIPE`, never the signal.
pub(crate) fn write(fd: i32, buf: &[u8], deadline: i64) -> Result<usize, Error> {
    let r = FdRef::acquire(fd)?;
    let mode = io_mode(r.desc())?;
    let blocking = may_block(deadline);
    let mut done = 0;
    while done < buf.len() {
        let rest = &buf[done..];
        // A blocking standard stream writes in a blocking section (its deadline cannot be
        // honoured: the thread is in the kernel until the write completes).
        let n = in_blocking_section(mode, || write_once(r.desc(), rest));
        if n >= 0 {
            done += n as usize;
            continue;
        }
        match errno() {
            libc::EINTR => continue,
            libc::EAGAIN => wait_in_op(fd, Mode::Write, deadline, blocking)?,
            libc::EBADF => return Err(Error::Closed),
            e => return Err(Error::Os(e)),
        }
    }
    Ok(done)
}

/// True if `poll(2)` says `fd` is ready for `events` now (or has an error or hang-up,
/// which the following call reports).
fn level_ready(fd: i32, events: i16) -> bool {
    let mut p = libc::pollfd { fd, events, revents: 0 };
    // SAFETY: one valid pollfd, zero timeout.
    unsafe { libc::poll(&mut p, 1, 0) > 0 }
}

/// Runs `f` (a system call that may block) as `gort_blocking_enter`/`exit` would, for
/// blocking fds; errno survives the exit.
fn in_blocking_section(mode: IoMode, f: impl FnOnce() -> isize) -> isize {
    if mode == IoMode::NonBlocking {
        return f();
    }
    crate::sched::proc::blocking_enter();
    let n = f();
    let e = errno();
    crate::sched::proc::blocking_exit();
    // SAFETY: this thread's errno slot (the goroutine may be on another thread now, so
    // restore it where the caller will read it).
    unsafe { *libc::__errno_location() = e };
    n
}

/// One `recv`/`read` call; -1 with errno set on failure. Sockets take `recv`: it goes
/// straight to the socket layer, skipping `read`'s file-position lock and VFS dispatch
/// (3-4% of an echo server's CPU time under load).
fn read_once(pd: &PollDesc, buf: &mut [u8]) -> isize {
    let fd = pd.fd;
    if !pd.not_socket.load(Ordering::Relaxed) {
        // SAFETY: `buf` is valid for writes of its length.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) };
        if n >= 0 || errno() != libc::ENOTSOCK {
            return n;
        }
        let _l = pd.lock();
        pd.not_socket.store(true, Ordering::Relaxed);
    }
    // SAFETY: `buf` is valid for writes of its length.
    unsafe { libc::read(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) }
}

/// One `send`/`write` call; -1 with errno set on failure.
fn write_once(pd: &PollDesc, buf: &[u8]) -> isize {
    let fd = pd.fd;
    if !pd.not_socket.load(Ordering::Relaxed) {
        // SAFETY: `buf` is valid for reads of its length.
        let n = unsafe { libc::send(fd, buf.as_ptr() as *const libc::c_void, buf.len(), libc::MSG_NOSIGNAL) };
        if n >= 0 || errno() != libc::ENOTSOCK {
            return n;
        }
        let _l = pd.lock();
        pd.not_socket.store(true, Ordering::Relaxed);
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

/// The transitions of `PollDesc::refs` (`CLOSING | operations in flight`), generic over
/// the atomic so that the loom model below checks this very code.
pub(crate) mod refs {
    use super::CLOSING;
    use std::sync::atomic::Ordering;

    pub(crate) trait Refs {
        fn load(&self) -> u32;
        fn cas_weak(&self, cur: u32, new: u32) -> Result<u32, u32>;
        fn fetch_sub(&self, v: u32) -> u32;
        fn store(&self, v: u32);
    }

    impl Refs for std::sync::atomic::AtomicU32 {
        fn load(&self) -> u32 {
            std::sync::atomic::AtomicU32::load(self, Ordering::Acquire)
        }
        fn cas_weak(&self, cur: u32, new: u32) -> Result<u32, u32> {
            self.compare_exchange_weak(cur, new, Ordering::AcqRel, Ordering::Acquire)
        }
        fn fetch_sub(&self, v: u32) -> u32 {
            std::sync::atomic::AtomicU32::fetch_sub(self, v, Ordering::AcqRel)
        }
        fn store(&self, v: u32) {
            std::sync::atomic::AtomicU32::store(self, v, Ordering::Release)
        }
    }

    /// An operation starts: +1 unless the fd is closing.
    pub(crate) fn acquire(r: &impl Refs) -> bool {
        let mut cur = r.load();
        loop {
            if cur & CLOSING != 0 {
                return false;
            }
            match r.cas_weak(cur, cur + 1) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    /// `close` starts: sets CLOSING and takes a reference of its own; false if a close
    /// had already begun.
    pub(crate) fn begin_close(r: &impl Refs) -> bool {
        let mut cur = r.load();
        loop {
            if cur & CLOSING != 0 {
                return false;
            }
            match r.cas_weak(cur, (cur | CLOSING) + 1) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    /// A reference goes: true for the last one of a closing fd, which must close it.
    pub(crate) fn release(r: &impl Refs) -> bool {
        r.fetch_sub(1) == CLOSING | 1
    }

    /// The closer, after `close(2)`: the number is free for the next file.
    pub(crate) fn reset(r: &impl Refs) {
        r.store(0);
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::refs::{self, Refs};
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

    struct L(AtomicU32);
    impl Refs for L {
        fn load(&self) -> u32 {
            self.0.load(Ordering::Acquire)
        }
        fn cas_weak(&self, cur: u32, new: u32) -> Result<u32, u32> {
            self.0.compare_exchange_weak(cur, new, Ordering::AcqRel, Ordering::Acquire)
        }
        fn fetch_sub(&self, v: u32) -> u32 {
            self.0.fetch_sub(v, Ordering::AcqRel)
        }
        fn store(&self, v: u32) {
            self.0.store(v, Ordering::Release)
        }
    }

    /// An operation races a close (and a second close): the fd is closed exactly once, and
    /// never while an operation that got its reference is still using it. (Two racing
    /// operations multiply loom's state space past minutes for no new interleaving of
    /// the protocol: each operation only ever meets the counter and the CLOSING bit.)
    #[test]
    fn loom_close_waits_for_operations() {
        loom::model(|| {
            let refs = Arc::new(L(AtomicU32::new(0)));
            let using = Arc::new(AtomicUsize::new(0)); // operations inside their critical part
            let closed = Arc::new(AtomicUsize::new(0)); // close(2) calls
            let close_fd = |using: &AtomicUsize, closed: &AtomicUsize| {
                assert_eq!(using.load(Ordering::SeqCst), 0, "closed under a running operation");
                closed.fetch_add(1, Ordering::SeqCst);
            };
            let ops: Vec<_> = (0..1)
                .map(|_| {
                    let (refs, using, closed) = (refs.clone(), using.clone(), closed.clone());
                    loom::thread::spawn(move || {
                        if !refs::acquire(&*refs) {
                            return;
                        }
                        using.fetch_add(1, Ordering::SeqCst);
                        assert_eq!(closed.load(Ordering::SeqCst), 0, "operation on a closed fd");
                        using.fetch_sub(1, Ordering::SeqCst);
                        if refs::release(&*refs) {
                            close_fd(&using, &closed);
                        }
                    })
                })
                .collect();
            assert!(refs::begin_close(&*refs));
            assert!(!refs::begin_close(&*refs), "a second close must fail");
            if refs::release(&*refs) {
                close_fd(&using, &closed);
            }
            for t in ops {
                t.join().unwrap();
            }
            assert_eq!(closed.load(Ordering::SeqCst), 1, "closed exactly once");
        });
    }
}
