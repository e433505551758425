//! SIGSEGV/SIGBUS handling: turns a fault in a goroutine's guard region into Go's
//! stack-overflow crash. Every M runs its handler on an alternate signal stack (the
//! faulting stack is, by definition, full). A fault that is not ours is passed to the
//! handler that was installed before gort's (or, if that was the default, re-raised with
//! the default action).

use super::m::current_m;
use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::Once;

struct OldActions(UnsafeCell<[MaybeUninit<libc::sigaction>; 2]>);
// SAFETY: written once inside `INSTALL` before the handler can run, read-only afterwards.
unsafe impl Sync for OldActions {}
static OLD: OldActions = OldActions(UnsafeCell::new([MaybeUninit::uninit(), MaybeUninit::uninit()]));
static INSTALL: Once = Once::new();
const SIGNALS: [libc::c_int; 2] = [libc::SIGSEGV, libc::SIGBUS];
const ALTSTACK_SIZE: usize = 64 * 1024;

pub fn install() {
    INSTALL.call_once(|| {
        for (i, &sig) in SIGNALS.iter().enumerate() {
            // SAFETY: plain sigaction calls with valid pointers; OLD is written before the
            // handler is installed (sigaction stores the old action first).
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = handler as *const () as usize;
                sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut sa.sa_mask);
                let old = (*OLD.0.get())[i].as_mut_ptr();
                libc::sigaction(sig, &sa, old);
            }
        }
    });
}

/// Gives the calling M thread an alternate signal stack.
pub fn thread_init() {
    // SAFETY: a fresh anonymous mapping used only as this thread's signal stack; it lives
    // as long as the thread (Ms never exit).
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            ALTSTACK_SIZE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            return;
        }
        let ss = libc::stack_t { ss_sp: p, ss_flags: 0, ss_size: ALTSTACK_SIZE };
        libc::sigaltstack(&ss, std::ptr::null_mut());
    }
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    let m = current_m();
    if !m.is_null() {
        // SAFETY: Ms and Gs are never freed; reading the current G's immutable stack bounds
        // is async-signal-safe.
        let g = unsafe { &*m }.curg.get();
        // SAFETY: g is running on this thread, so its stack slot is not being written.
        if !g.is_null() && unsafe { (*g).stack() }.is_some_and(|s| s.guard_contains(addr)) {
            stack_overflow(unsafe { &*g }.id());
        }
    }
    // Not a goroutine stack overflow: hand the signal to whoever had it before us.
    let i = if sig == libc::SIGSEGV { 0 } else { 1 };
    // SAFETY: OLD[i] was initialised by install() before this handler was registered and
    // is never written again.
    let old = unsafe { &*(*OLD.0.get())[i].as_ptr() };
    match old.sa_sigaction {
        libc::SIG_DFL => {
            // Restore the default action and return: the faulting instruction runs again
            // and the kernel kills the process as it would have without gort.
            // SAFETY: plain sigaction call.
            unsafe { libc::sigaction(sig, old, std::ptr::null_mut()) };
        }
        libc::SIG_IGN => {}
        h if old.sa_flags & libc::SA_SIGINFO != 0 => {
            // SAFETY: the previous owner installed this as an SA_SIGINFO handler.
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) = unsafe { std::mem::transmute(h) };
            f(sig, info, ctx);
        }
        h => {
            // SAFETY: the previous owner installed this as a plain handler.
            let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(h) };
            f(sig);
        }
    }
}

/// Prints Go's stack-overflow crash and exits 2. Async-signal-safe (no allocation).
pub fn stack_overflow(goid: i64) -> ! {
    let mut buf = [0u8; 96];
    let mut n = 0;
    for b in b"fatal error: goroutine " {
        buf[n] = *b;
        n += 1;
    }
    n += crate::fatal::fmt_i64(goid, &mut buf[n..]);
    for b in b" stack overflow\n" {
        buf[n] = *b;
        n += 1;
    }
    crate::fatal::write_stderr(&buf[..n]);
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(2) }
}
