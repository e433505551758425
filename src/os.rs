//! errno, read so that it survives goroutine migration.
//!
//! A goroutine may park inside a function and resume on another thread, and errno is per
//! thread. The standard library's `io::Error::last_os_error` reaches errno through
//! `__errno_location` declared as a *const* function (as glibc's header declares it for
//! C), so the compiler may call it once and reuse the address for the rest of the
//! function: after a park, a later system call's errno is then read from the thread the
//! goroutine left, which holds whatever another goroutine's call left there (typically
//! `EAGAIN`). The `libc` crate declares `__errno_location` as a plain function, so every
//! [`errno`] call asks again, on the thread that made the system call just before.
//!
//! Everything in gort reads errno through this module.

/// The calling thread's errno. Call it right after the failing system call, with no gort
/// call (which could park the goroutine) in between.
#[inline]
pub(crate) fn errno() -> i32 {
    // SAFETY: __errno_location returns this thread's errno slot, valid for the thread's
    // lifetime; read at once.
    unsafe { *libc::__errno_location() }
}

/// Sets the calling thread's errno (a signal handler restores the interrupted code's).
#[inline]
pub(crate) fn set_errno(v: i32) {
    // SAFETY: as in `errno`; a plain store to this thread's slot.
    unsafe { *libc::__errno_location() = v };
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::errno;
    use crate::sched::{self, Entry};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    /// Goroutines fail one system call, yield (and so often move to another thread, where
    /// other goroutines keep failing with a different errno), fail another and check that
    /// errno names the second failure. With errno's address reused across the yield, the
    /// second read sees the first thread's errno.
    #[test]
    fn errno_is_read_on_the_thread_that_made_the_call() {
        const GOROUTINES: usize = 16;
        const ROUNDS: usize = 2000;
        let mut fds = [0i32; 2];
        // SAFETY: a valid two-int array for pipe(2).
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let pipe_r = fds[0];
        let done = Arc::new(AtomicUsize::new(0));
        let wrong = Arc::new(AtomicUsize::new(0));
        for _ in 0..GOROUTINES {
            let (done, wrong) = (done.clone(), wrong.clone());
            sched::spawn(Entry::Rust(Box::new(move || {
                for _ in 0..ROUNDS {
                    // SAFETY: closing fd -1 only fails (EBADF).
                    unsafe { libc::close(-1) };
                    if errno() != libc::EBADF {
                        wrong.fetch_add(1, Ordering::Relaxed);
                    }
                    sched::gosched();
                    // SAFETY: lseek on a pipe only fails (ESPIPE) and changes nothing.
                    unsafe { libc::lseek(pipe_r, 0, libc::SEEK_CUR) };
                    if errno() != libc::ESPIPE {
                        wrong.fetch_add(1, Ordering::Relaxed);
                    }
                }
                done.fetch_add(1, Ordering::SeqCst);
            })))
            .expect("spawn");
        }
        let start = Instant::now();
        while done.load(Ordering::SeqCst) < GOROUTINES {
            assert!(start.elapsed() < Duration::from_secs(120), "goroutines stuck");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(wrong.load(Ordering::Relaxed), 0, "errno read from another thread");
        // SAFETY: closing the pipe made above.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
    }
}
