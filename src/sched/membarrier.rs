//! `membarrier(2)`: the heavy side of the asymmetric barrier that lets a goroutine use its
//! P's heap cache without an atomic read-modify-write (see `mem::heap`, "Allocating
//! under a USER P", and `protocol::heapcache`).
//!
//! `MEMBARRIER_CMD_PRIVATE_EXPEDITED` makes every thread of this process that is running
//! on some CPU execute a full memory barrier (an IPI) before the call returns; a thread
//! that is not running passes through the scheduler, which is a full barrier too. So the
//! caller gets, cheaply for everybody else, the effect of a `SeqCst` fence executed by
//! every other thread at some point during the call. The process must register once
//! (`MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED`) before the first use; [`init`] does it at
//! start-up and records whether it worked. Where it did not (kernels before 4.14,
//! seccomp filters; valgrind does support it) the owner side keeps its compare-and-swap
//! scheme and takers never call [`heavy_barrier`].

use std::sync::atomic::{AtomicBool, Ordering};

// From <linux/membarrier.h>; libc does not export the command values.
const MEMBARRIER_CMD_QUERY: libc::c_long = 0;
const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

/// Registered: owners may use the light side, and takers must call [`heavy_barrier`].
/// Written once by [`init`] before any M exists, read with Relaxed afterwards (the
/// threads that read it are started after the write, which orders it for them).
static AVAILABLE: AtomicBool = AtomicBool::new(false);

fn membarrier(cmd: libc::c_long) -> libc::c_long {
    // SAFETY: membarrier takes two integers and touches no memory of ours.
    unsafe { libc::syscall(libc::SYS_membarrier, cmd, 0 as libc::c_long, 0 as libc::c_long) }
}

/// Registers the process for expedited private barriers, unless `GORT_DEBUG` turned it
/// off (`nomembarrier=1`, to test the fallback). Called once at start-up, before the
/// first M.
pub(crate) fn init(disabled: bool) {
    if disabled {
        return;
    }
    let cmds = membarrier(MEMBARRIER_CMD_QUERY);
    if cmds < 0 || cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED == 0 {
        return;
    }
    if membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0 {
        AVAILABLE.store(true, Ordering::Relaxed);
    }
}

/// Whether the asymmetric scheme is in use (decided once, at start-up).
#[inline]
pub(crate) fn available() -> bool {
    AVAILABLE.load(Ordering::Relaxed)
}

/// A full barrier on every running thread of the process. Only when [`available`].
pub(crate) fn heavy_barrier() {
    if membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 {
        // Registered, so the kernel cannot refuse it; going on would break the protocol.
        crate::fatal::fatal("membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) failed");
    }
}
