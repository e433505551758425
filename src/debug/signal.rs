//! Signals the program asks about: SIGQUIT's goroutine dump, Go's `os/signal` for C
//! (`gort_signal_notify`/`gort_signal_stop`), and the `hangwarn` watchdog.
//!
//! # SIGQUIT
//! As in Go, Ctrl-\ prints `SIGQUIT: quit`, every goroutine, and exits 2 (at
//! `GORT_TRACEBACK=crash` it aborts, for a core dump). `GORT_DEBUG=sigquitcontinue=1`
//! makes it dump and go on. The dump runs in the handler itself: it allocates nothing and
//! takes no lock (`traceback`), so it works in a wedged process, which is when it is
//! wanted. The handler is installed at start-up only if SIGQUIT has its default action:
//! a program with its own SIGQUIT handler, or one that ignores SIGQUIT, keeps it. A
//! `gort_signal_notify` for SIGQUIT replaces the dump with delivery, as in Go.
//!
//! # Notify
//! `gort_signal_notify(c, sig)` makes every later `sig` a non-blocking send of the
//! signal number (an `int`) on `c`; a full channel drops it, as Go's does. The handler
//! only counts the signal and writes a byte to a self-pipe (both async-signal-safe); a
//! helper thread, `gort-signal`, reads the pipe and sends on the registered channels.
//! The registry's lock is held across those sends, so after `gort_signal_stop(c)`
//! returns, `c` receives nothing more. The first registration of a signal saves the
//! action the program had; a handler of the program's own still runs after ours (its
//! behaviour is respected), the default action is replaced while any channel listens
//! (that is the point: SIGTERM no longer kills), and the saved action comes back when
//! the last channel stops listening. Each registration holds a channel reference.
//! While any registration exists, deadlock detection stays silent: a signal may come.
//!
//! Not notifiable: SIGKILL and SIGSTOP (the kernel's), the synchronous faults SIGSEGV,
//! SIGBUS, SIGFPE, SIGILL and SIGTRAP (gort's fault handling owns the first two; the
//! others are errors in the code that raised them) and gort's own GC signal.
//!
//! # hangwarn
//! `GORT_DEBUG=hangwarn=SECONDS` starts a watchdog thread that looks every quarter of
//! the period (at least every second) for a goroutine parked longer than SECONDS, and
//! then prints every goroutine once: a deadlock between goroutines and threads gort does
//! not own cannot be proven, but it can be noticed. `G::wait_since` (sysmon's recent
//! clock, stamped at park; 0 when sysmon was asleep, then stamped by the watchdog) gives
//! the ages.

use super::traceback::{self, Current, FdOut, Scope};
use crate::chan::Chan;
use parking_lot::Mutex;
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};

/// Highest signal number handled (Linux's `_NSIG - 1`).
const MAX_SIG: usize = 64;

/// Signals delivered but not yet sent, per number (written by the handler).
static PENDING: [AtomicU32; MAX_SIG + 1] = [const { AtomicU32::new(0) }; MAX_SIG + 1];
/// The self-pipe (read end, write end); -1 until the delivery thread starts.
static PIPE_R: AtomicI32 = AtomicI32::new(-1);
static PIPE_W: AtomicI32 = AtomicI32::new(-1);
/// SIGQUIT is delivered to channels rather than dumped.
static QUIT_NOTIFIED: AtomicBool = AtomicBool::new(false);
/// `GORT_DEBUG=sigquitcontinue=1`.
static QUIT_CONTINUE: AtomicBool = AtomicBool::new(false);

/// The program's action for each notified signal, saved at its first registration.
struct Saved(UnsafeCell<[libc::sigaction; MAX_SIG + 1]>);
// SAFETY: an entry is written under REGISTRY before the handler for its signal is
// installed, and read by that handler (and under REGISTRY) until it is uninstalled.
unsafe impl Sync for Saved {}
static SAVED: Saved = Saved(UnsafeCell::new(
    [const {
        // SAFETY: an all-zero sigaction is SIG_DFL with an empty mask: a valid value.
        unsafe { std::mem::zeroed::<libc::sigaction>() }
    }; MAX_SIG + 1],
));

/// Entry `sig` (1..=MAX_SIG) of [`SAVED`].
fn saved(sig: i32) -> *mut libc::sigaction {
    debug_assert!((1..=MAX_SIG as i32).contains(&sig));
    // SAFETY: in bounds; no reference is formed.
    unsafe { (SAVED.0.get() as *mut libc::sigaction).add(sig as usize) }
}

/// One channel's registrations.
struct Listener {
    chan: *mut Chan,
    /// Bit `s` set: the channel receives signal `s`.
    sigs: u128,
}

// SAFETY: the channel pointer is a counted reference, used under REGISTRY only.
unsafe impl Send for Listener {}

struct Registry {
    listeners: Vec<Listener>,
    /// Channels listening per signal.
    count: [u32; MAX_SIG + 1],
    thread_started: bool,
}

static REGISTRY: Mutex<Registry> =
    Mutex::new(Registry { listeners: Vec::new(), count: [0; MAX_SIG + 1], thread_started: false });

/// True while any channel listens: deadlock detection must not fire (a signal may come).
static NOTIFYING: AtomicBool = AtomicBool::new(false);

pub(crate) fn notifying() -> bool {
    NOTIFYING.load(Ordering::SeqCst)
}

/// Why `notify` refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NotifyError {
    /// Not a signal that can be notified, or the channel does not carry an `int`.
    Invalid,
    /// No thread or pipe could be made.
    NoResources,
}

fn notifiable(sig: i32) -> bool {
    (1..=MAX_SIG as i32).contains(&sig)
        && !matches!(
            sig,
            libc::SIGKILL | libc::SIGSTOP | libc::SIGSEGV | libc::SIGBUS | libc::SIGFPE | libc::SIGILL | libc::SIGTRAP
        )
        && sig != crate::sched::world::gc_signal()
}

/// `gort_signal_notify`.
pub(crate) fn notify(c: &Chan, sig: i32) -> Result<(), NotifyError> {
    if !notifiable(sig) || c.elem_size() != std::mem::size_of::<i32>() {
        return Err(NotifyError::Invalid);
    }
    let mut r = REGISTRY.lock();
    if !r.thread_started {
        start_delivery().map_err(|_| NotifyError::NoResources)?;
        r.thread_started = true;
    }
    let cp = c as *const Chan as *mut Chan;
    let bit = 1u128 << sig;
    let i = match r.listeners.iter().position(|l| l.chan == cp) {
        Some(i) => i,
        None => {
            c.retain();
            r.listeners.push(Listener { chan: cp, sigs: 0 });
            r.listeners.len() - 1
        }
    };
    if r.listeners[i].sigs & bit != 0 {
        return Ok(());
    }
    r.listeners[i].sigs |= bit;
    r.count[sig as usize] += 1;
    NOTIFYING.store(true, Ordering::SeqCst);
    if r.count[sig as usize] == 1 {
        install(sig);
    }
    Ok(())
}

/// `gort_signal_stop`: no more deliveries to `c`. Not an error if it listened to nothing.
pub(crate) fn stop(c: &Chan) {
    let mut r = REGISTRY.lock();
    let cp = c as *const Chan as *mut Chan;
    let Some(i) = r.listeners.iter().position(|l| l.chan == cp) else { return };
    let l = r.listeners.swap_remove(i);
    for sig in 1..=MAX_SIG {
        if l.sigs & (1u128 << sig) != 0 {
            r.count[sig] -= 1;
            if r.count[sig] == 0 {
                uninstall(sig as i32);
            }
        }
    }
    NOTIFYING.store(!r.listeners.is_empty(), Ordering::SeqCst);
    drop(r);
    // SAFETY: the reference taken by notify.
    unsafe { Chan::release(l.chan) };
}

/// Installs the delivery handler for `sig`, saving the program's action. REGISTRY held.
fn install(sig: i32) {
    if sig == libc::SIGQUIT {
        QUIT_NOTIFIED.store(true, Ordering::SeqCst);
    }
    // SAFETY: REGISTRY is held, so no other install/uninstall runs; the saved entry is
    // written before our handler can read it (sigaction stores the old action first, and
    // our handler reads it only after it is installed).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART | libc::SA_ONSTACK;
        libc::sigemptyset(&mut sa.sa_mask);
        let saved = saved(sig);
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, &sa, &mut old);
        // Our own SIGQUIT dumper is not the program's action: keep what was before it.
        if !(sig == libc::SIGQUIT && old.sa_sigaction == on_sigquit as *const () as usize) {
            *saved = old;
        }
    }
}

/// Puts back the program's action for `sig` (or gort's SIGQUIT dumper). REGISTRY held.
fn uninstall(sig: i32) {
    // SAFETY: REGISTRY held; restores the saved action.
    unsafe {
        let saved = saved(sig);
        if sig == libc::SIGQUIT && QUIT_INSTALLED.load(Ordering::SeqCst) {
            install_sigquit_dumper();
        } else {
            libc::sigaction(sig, saved, std::ptr::null_mut());
        }
    }
    if sig == libc::SIGQUIT {
        QUIT_NOTIFIED.store(false, Ordering::SeqCst);
    }
}

extern "C" fn on_signal(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let saved_errno = crate::os::errno();
    if (1..=MAX_SIG as i32).contains(&sig) {
        PENDING[sig as usize].fetch_add(1, Ordering::SeqCst);
        let fd = PIPE_W.load(Ordering::Relaxed);
        if fd >= 0 {
            let b = sig as u8;
            // SAFETY: write(2) of one byte from our stack; async-signal-safe. A full
            // pipe (EAGAIN) loses nothing: PENDING already counts the signal.
            unsafe { libc::write(fd, &b as *const u8 as *const libc::c_void, 1) };
        }
        // The program's own handler runs too.
        // SAFETY: the saved entry was written before this handler was installed.
        let old = unsafe { &*saved(sig) };
        if old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN {
            // SAFETY: the program installed this handler with these flags.
            unsafe { crate::sched::signals::call_handler(old, sig, info, ctx) };
        }
    }
    crate::os::set_errno(saved_errno);
}

/// Starts the delivery thread and its pipe. REGISTRY held.
fn start_delivery() -> std::io::Result<()> {
    let mut fds = [0; 2];
    // SAFETY: a valid two-int array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // The read end blocks: the thread sleeps in read(2).
    // SAFETY: fcntl on our own fd.
    unsafe { libc::fcntl(fds[0], libc::F_SETFL, 0) };
    PIPE_R.store(fds[0], Ordering::SeqCst);
    PIPE_W.store(fds[1], Ordering::SeqCst);
    extern "C" fn body(_: *mut libc::c_void) -> *mut libc::c_void {
        deliver_forever()
    }
    let counted = crate::sched::proc::helper_thread_starting();
    if let Err(e) = crate::sched::proc::spawn_thread("gort-signal", 128 * 1024, body, std::ptr::null_mut()) {
        counted.cancel();
        return Err(e);
    }
    Ok(())
}

fn deliver_forever() -> ! {
    let fd = PIPE_R.load(Ordering::SeqCst);
    let mut buf = [0u8; 64];
    loop {
        // SAFETY: reads into our buffer; blocks until a handler writes.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
        if n <= 0 {
            continue; // EINTR
        }
        let r = REGISTRY.lock();
        for (sig, pending) in PENDING.iter().enumerate().skip(1) {
            let k = pending.swap(0, Ordering::SeqCst);
            if k == 0 {
                continue;
            }
            for l in r.listeners.iter().filter(|l| l.sigs & (1u128 << sig) != 0) {
                let v = sig as i32;
                for _ in 0..k {
                    // SAFETY: the listener holds a reference, so the channel is live; it
                    // carries an int (checked by notify). A full channel drops the signal.
                    if !unsafe { crate::chan::try_send(&*l.chan, &v as *const i32 as *const u8) } {
                        break;
                    }
                }
            }
        }
    }
}

/// Our SIGQUIT dumper is installed (SIGQUIT had its default action at start-up).
static QUIT_INSTALLED: AtomicBool = AtomicBool::new(false);

fn install_sigquit_dumper() {
    // SAFETY: installs an async-signal-safe handler.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigquit as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART | libc::SA_ONSTACK;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGQUIT, &sa, std::ptr::null_mut());
    }
}

extern "C" fn on_sigquit(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    if QUIT_NOTIFIED.load(Ordering::SeqCst) {
        on_signal(sig, info, ctx);
        return;
    }
    let saved_errno = crate::os::errno();
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let code = unsafe { (*info).si_code };
    let (pc, fp) = crate::sched::signals::frame_of(ctx);
    {
        let mut out = FdOut::new(2);
        out.bytes(b"SIGQUIT: quit\nPC=").hex(pc as u64);
        out.bytes(b" sigcode=").dec(code as i64).bytes(b"\n");
    }
    let level = traceback::crash_dump(2, Scope::All, Current::Interrupted(pc, fp));
    if QUIT_CONTINUE.load(Ordering::Relaxed) {
        crate::os::set_errno(saved_errno);
        return;
    }
    traceback::crash_if_asked(level);
    // SAFETY: _exit is async-signal-safe; no stdio flush (a stopped thread may hold
    // stdio's lock).
    unsafe { libc::_exit(2) }
}

/// Start-up: the SIGQUIT dumper (if SIGQUIT has its default action) and the `hangwarn`
/// watchdog.
pub(crate) fn start(sigquit_continue: bool, hangwarn_s: i64) {
    QUIT_CONTINUE.store(sigquit_continue, Ordering::Relaxed);
    // SAFETY: reads the current action into a local.
    let dfl = unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGQUIT, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_DFL
    };
    if dfl {
        QUIT_INSTALLED.store(true, Ordering::SeqCst);
        install_sigquit_dumper();
    }
    if hangwarn_s > 0 {
        start_hangwarn(hangwarn_s);
    }
}

fn start_hangwarn(secs: i64) {
    extern "C" fn body(arg: *mut libc::c_void) -> *mut libc::c_void {
        watch(arg as usize as i64)
    }
    let counted = crate::sched::proc::helper_thread_starting();
    if crate::sched::proc::spawn_thread("gort-hangwarn", 128 * 1024, body, secs as usize as *mut libc::c_void).is_err()
    {
        counted.cancel();
        crate::fatal::write_stderr(b"gort: warning: hangwarn: cannot start its thread\n");
    }
}

/// The watchdog: one dump, the first time a goroutine has been parked `secs` seconds.
fn watch(secs: i64) -> *mut libc::c_void {
    let limit = secs.saturating_mul(1_000_000_000);
    let period = (limit / 4).clamp(10_000_000, 1_000_000_000);
    loop {
        let ts = libc::timespec { tv_sec: (period / 1_000_000_000) as _, tv_nsec: (period % 1_000_000_000) as _ };
        // SAFETY: a plain sleep of this thread.
        unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
        let now = crate::time::nanotime();
        let mut oldest: Option<(i64, i64)> = None;
        traceback::for_each_live(|g| {
            // SAFETY: Gs are never freed.
            let g = unsafe { &*g };
            if g.status() != crate::sched::g::status::WAITING {
                return;
            }
            let mut since = g.wait_since.load(Ordering::Relaxed);
            if since == 0 {
                // Parked while sysmon slept: its wait counts from now (a CAS, since the
                // goroutine may wake and park again meanwhile).
                let _ = g.wait_since.compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
                since = now;
            }
            if now - since >= limit && oldest.is_none_or(|(_, s)| since < s) {
                oldest = Some((g.id(), since));
            }
        });
        if let Some((id, since)) = oldest {
            {
                let mut out = FdOut::new(2);
                out.bytes(b"gort: hangwarn: goroutine ").dec(id).bytes(b" has been blocked for ");
                out.dec((now - since) / 1_000_000_000).bytes(b" s (GORT_DEBUG=hangwarn=").dec(secs);
                out.bytes(b"); every goroutine:\n");
            }
            traceback::crash_dump(2, Scope::All, Current::Skip);
            return std::ptr::null_mut();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_and_fault_signals_are_not_notifiable() {
        for s in [0, libc::SIGKILL, libc::SIGSTOP, libc::SIGSEGV, libc::SIGBUS, libc::SIGFPE, 65] {
            assert!(!notifiable(s), "{s}");
        }
        for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGUSR1, libc::SIGQUIT] {
            assert!(notifiable(s) || s == crate::sched::world::gc_signal(), "{s}");
        }
    }
}
