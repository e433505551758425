//! SIGSEGV/SIGBUS handling: turns a fault in a goroutine's guard region into Go's
//! stack-overflow crash. Every M runs its handler on an alternate signal stack (the
//! faulting stack is, by definition, full).
//!
//! A signal that is not a stack overflow goes by the action the program had installed
//! before gort's:
//! - a handler of its own: called, with the same arguments (it may fix the fault and
//!   return, as GC write barriers and guard-page tricks do);
//! - `SIG_DFL`: a real fault (sent by the kernel) prints Go's fault report naming the
//!   address (see [`report_fault`]), then the default action runs, so the process dies of
//!   the signal (and dumps core) as it would without gort; a SIGSEGV/SIGBUS sent with
//!   `kill` gets the default action at once;
//! - `SIG_IGN`: a real fault cannot be ignored: returning would run the faulting
//!   instruction again, for ever. It is a fatal error with the same report, exit status
//!   2 (the program asked not to be killed by the signal). A sent signal is ignored.

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

pub(crate) fn install() {
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
pub(crate) fn thread_init() {
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
    let (addr, code) = unsafe { ((*info).si_addr() as usize, (*info).si_code) };
    let m = current_m();
    if !m.is_null() {
        // SAFETY: Ms and Gs are never freed; reading the current G's immutable stack bounds
        // is async-signal-safe.
        let g = unsafe { &*m }.curg.get();
        // SAFETY: g is running on this thread, so its stack slot is not being written.
        if !g.is_null() && unsafe { (*g).stack() }.is_some_and(|s| s.guard_contains(addr)) {
            let (pc, fp) = frame_of(ctx);
            stack_overflow_at(unsafe { &*g }.id(), crate::debug::traceback::Current::Interrupted(pc, fp));
        }
    }
    // Not a goroutine stack overflow: go by the action the program had before us.
    // si_code > 0: the kernel raised it for a fault (SEGV_MAPERR, BUS_ADRERR, SI_KERNEL,
    // ...); <= 0: someone sent it (kill, tgkill, sigqueue) and returning does not repeat it.
    let fault = code > 0;
    let i = if sig == libc::SIGSEGV { 0 } else { 1 };
    // SAFETY: OLD[i] was initialised by install() before this handler was registered and
    // is never written again.
    let old = unsafe { &*(*OLD.0.get())[i].as_ptr() };
    match old.sa_sigaction {
        libc::SIG_DFL => {
            if fault {
                report_fault(sig, code, addr, ctx);
            }
            // Restore the default action and raise the signal again: it is delivered when
            // this handler returns and ends the process as it would have without gort.
            // SAFETY: plain sigaction and raise calls, both async-signal-safe.
            unsafe {
                libc::sigaction(sig, old, std::ptr::null_mut());
                libc::raise(sig);
            }
        }
        libc::SIG_IGN => {
            if fault {
                report_fault(sig, code, addr, ctx);
                // SAFETY: _exit is async-signal-safe. No stdio flush: the fault may have
                // struck inside stdio, with its lock held.
                unsafe { libc::_exit(2) };
            }
        }
        // SAFETY: `old` is the action that was installed before ours, a handler here.
        _ => unsafe { call_handler(old, sig, info, ctx) },
    }
}

/// Calls the handler of `action` (neither `SIG_DFL` nor `SIG_IGN`) as the kernel would
/// have: with `(sig, info, ctx)` if it was installed with `SA_SIGINFO`, else with `sig`.
/// How gort passes on a signal to the action the program had installed before its own.
///
/// # Safety
/// `action.sa_sigaction` must be a function installed with `action.sa_flags`.
pub(crate) unsafe fn call_handler(
    action: &libc::sigaction,
    sig: libc::c_int,
    info: *mut libc::siginfo_t,
    ctx: *mut libc::c_void,
) {
    let h = action.sa_sigaction;
    debug_assert!(h != libc::SIG_DFL && h != libc::SIG_IGN);
    if action.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the caller promises an SA_SIGINFO handler.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) = unsafe { std::mem::transmute(h) };
        f(sig, info, ctx);
    } else {
        // SAFETY: the caller promises a plain handler.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(h) };
        f(sig);
    }
}

/// The interrupted instruction's address and frame pointer, from a signal's saved
/// context (`(0, 0)` without one).
pub(crate) fn frame_of(ctx: *mut libc::c_void) -> (usize, usize) {
    if ctx.is_null() {
        return (0, 0);
    }
    let uc = ctx as *const libc::ucontext_t;
    // SAFETY: for an SA_SIGINFO handler the kernel passes its ucontext_t as `ctx`.
    #[cfg(target_arch = "x86_64")]
    let fp = unsafe { (*uc).uc_mcontext.gregs[libc::REG_RBP as usize] as usize };
    // SAFETY: as above.
    #[cfg(target_arch = "aarch64")]
    let fp = unsafe { (*uc).uc_mcontext.regs[29] as usize };
    (pc_of(ctx) as usize, fp)
}

/// The faulting instruction's address, from the signal's saved context.
fn pc_of(ctx: *mut libc::c_void) -> u64 {
    if ctx.is_null() {
        return 0;
    }
    let uc = ctx as *const libc::ucontext_t;
    // SAFETY: for an SA_SIGINFO handler the kernel passes its ucontext_t as `ctx`.
    #[cfg(target_arch = "x86_64")]
    let pc = unsafe { (*uc).uc_mcontext.gregs[libc::REG_RIP as usize] as u64 };
    // SAFETY: as above.
    #[cfg(target_arch = "aarch64")]
    let pc = unsafe { (*uc).uc_mcontext.pc };
    pc
}

/// Go's report of a fault it cannot recover from, on stderr (async-signal-safe):
/// ```text
/// unexpected fault address 0xdead0000
/// fatal error: fault
/// [signal SIGSEGV: segmentation violation code=0x1 addr=0xdead0000 pc=0x55d0c2a01139]
///
/// goroutine 5 [running]:
/// ```
/// The last line only when the fault struck inside a goroutine.
pub(crate) fn report_fault(sig: libc::c_int, code: libc::c_int, addr: usize, ctx: *mut libc::c_void) {
    let pc = pc_of(ctx);
    let name: &[u8] = if sig == libc::SIGBUS { b"SIGBUS: bus error" } else { b"SIGSEGV: segmentation violation" };
    let mut msg = crate::fatal::StackMsg::new();
    msg.push(b"unexpected fault address ").push_hex(addr as u64).push(b"\nfatal error: fault\n[signal ");
    msg.push(name).push(b" code=").push_hex(code as u64).push(b" addr=").push_hex(addr as u64);
    msg.push(b" pc=").push_hex(pc).push(b"]\n");
    crate::fatal::write_stderr(msg.as_bytes());
    let (pc, fp) = frame_of(ctx);
    use crate::debug::traceback::{Current, Scope, crash_dump};
    crash_dump(2, Scope::All, Current::Interrupted(pc, fp));
}

/// Prints Go's stack-overflow crash and exits 2. Async-signal-safe (no allocation).
pub(crate) fn stack_overflow(goid: i64) -> ! {
    stack_overflow_at(goid, crate::debug::traceback::Current::Skip)
}

/// [`stack_overflow`] with the overflowing goroutine's frames from `current`, then every
/// goroutine (Go's fatal errors show them all).
fn stack_overflow_at(goid: i64, current: crate::debug::traceback::Current) -> ! {
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
    let level = crate::debug::traceback::crash_dump(2, crate::debug::traceback::Scope::All, current);
    crate::debug::traceback::crash_if_asked(level);
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(2) }
}
