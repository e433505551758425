//! Frame-pointer stack walks: the return addresses of a goroutine's frames, from its saved
//! context (parked), from a stopped thread's registers (running), or from here (the
//! calling goroutine).
//!
//! Every frame built with frame pointers starts with `push rbp; mov rbp, rsp` (aarch64:
//! `stp x29, x30, [sp, -N]!; mov x29, sp`), so `[fp]` is the caller's frame pointer and
//! `[fp + 8]` the return address into the caller. The walk follows that chain while it
//! stays inside the stack and moves strictly up it (a frame pointer that goes down or
//! leaves the stack means a function in between used the register for something else:
//! C built without `-fno-omit-frame-pointer`). The goroutine entry trampoline sets the
//! frame pointer to 0, which ends every walk cleanly.
//!
//! Reads go through a [`Reader`]: plain loads when the stack cannot change or go away
//! under us (our own stack, or the world is stopped), and `process_vm_readv` on
//! ourselves when it can (a crash dump walking the stacks of goroutines other threads
//! may resume, exit or free meanwhile): that system call returns `EFAULT` for an
//! unmapped address instead of faulting, so a racing walk yields garbage frames at
//! worst, never a second crash.
//!
//! Rejected: DWARF CFI unwinding (libgcc's `_Unwind_Backtrace` only walks the calling
//! thread's own stack, and a CFI interpreter that starts from a saved register set
//! allocates and locks where a crash dump may not). Its cost is that C frames compiled
//! without frame pointers are skipped or end the walk; docs/debugging.md says to build
//! with `-fno-omit-frame-pointer`.

use std::mem::size_of;

/// At most this many frames per goroutine; deeper stacks are cut (the dump says so).
pub(crate) const MAX_FRAMES: usize = 64;

/// The return addresses of one stack, innermost first (`pcs[0]` may be an exact pc: a
/// stopped thread's interrupted instruction).
#[derive(Clone, Copy)]
pub(crate) struct Pcs {
    pcs: [usize; MAX_FRAMES],
    len: usize,
    /// The walk stopped at `MAX_FRAMES` with more frames above.
    pub(crate) truncated: bool,
}

impl Pcs {
    pub(crate) const fn new() -> Pcs {
        Pcs { pcs: [0; MAX_FRAMES], len: 0, truncated: false }
    }

    pub(crate) fn as_slice(&self) -> &[usize] {
        &self.pcs[..self.len]
    }

    /// Drops the `n` innermost addresses (all of them if there are fewer).
    pub(crate) fn drop_front(&mut self, n: usize) {
        let n = n.min(self.len);
        self.pcs.copy_within(n..self.len, 0);
        self.len -= n;
    }

    fn push(&mut self, pc: usize) -> bool {
        if self.len == MAX_FRAMES {
            self.truncated = true;
            return false;
        }
        self.pcs[self.len] = pc;
        self.len += 1;
        true
    }
}

impl Default for Pcs {
    fn default() -> Self {
        Pcs::new()
    }
}

/// How a walk reads stack words.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Reader {
    /// Plain loads: the stack is ours or frozen, and stays mapped during the walk.
    Direct,
    /// `process_vm_readv`: the stack may change or be unmapped while we read.
    Careful,
}

impl Reader {
    fn word(self, addr: usize) -> Option<usize> {
        match self {
            // SAFETY: the caller of `walk` promised the stack is mapped and checked that
            // `addr` lies in it.
            Reader::Direct => Some(unsafe { (addr as *const usize).read_volatile() }),
            Reader::Careful => careful_word(addr),
        }
    }
}

/// One word at `addr` through the kernel: `None` if it is not mapped.
fn careful_word(addr: usize) -> Option<usize> {
    let mut v: usize = 0;
    let local = libc::iovec { iov_base: &mut v as *mut usize as *mut libc::c_void, iov_len: size_of::<usize>() };
    let remote = libc::iovec { iov_base: addr as *mut libc::c_void, iov_len: size_of::<usize>() };
    // SAFETY: reads our own memory through the kernel into `v`; a bad address is an error
    // return, not a fault. getpid cannot fail.
    let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    (n == size_of::<usize>() as isize).then_some(v)
}

/// Walks the frame-pointer chain starting at frame pointer `fp` on the stack `[lo, hi)`,
/// after recording `first_pc` (0: none). Returns the addresses, innermost first.
///
/// # Safety
/// With [`Reader::Direct`], `[lo, hi)` must be mapped and readable for the whole walk.
pub(crate) unsafe fn walk(first_pc: usize, mut fp: usize, lo: usize, hi: usize, reader: Reader) -> Pcs {
    let mut out = Pcs::new();
    if first_pc != 0 {
        out.push(first_pc);
    }
    let word = size_of::<usize>();
    while fp != 0 && fp.is_multiple_of(word) && fp >= lo && fp + 2 * word <= hi {
        let (Some(next), Some(ret)) = (reader.word(fp), reader.word(fp + word)) else { break };
        if ret == 0 || !out.push(ret) {
            break;
        }
        // Frames sit at ever higher addresses; anything else is a broken chain.
        if next <= fp {
            break;
        }
        fp = next;
    }
    out
}

/// The calling thread's own frames, starting with the return address of the function
/// that called this one, on the stack `[lo, hi)` the caller is running on (with
/// [`Reader::Careful`] the bounds may be a guess).
#[inline(never)]
pub(crate) fn here(lo: usize, hi: usize, reader: Reader) -> Pcs {
    let fp = crate::arch::frame_pointer();
    // Our own frame record is read here, not by `walk`: the call to `walk` may be a tail
    // call that pops this frame first (aarch64 does), leaving `fp` pointing at what
    // `walk`'s own frame then overwrites.
    let word = size_of::<usize>();
    let (Some(caller_fp), Some(ret)) = (reader.word(fp), reader.word(fp + word)) else { return Pcs::new() };
    if fp < lo || fp + 2 * word > hi || ret == 0 {
        return Pcs::new();
    }
    // SAFETY: with Direct the caller vouches that [lo, hi) is its own, mapped stack; it
    // does not change above our frame while we walk (those frames wait for us).
    let pcs = unsafe { walk(ret, caller_fp, lo, hi, reader) };
    std::hint::black_box(pcs)
}

/// The frames of a context saved by the context switch at `sp` on stack `[lo, hi)`.
///
/// # Safety
/// As for [`walk`]; `sp` must lie in `[lo, hi)` (checked: out of range gives no frames).
pub(crate) unsafe fn from_saved_context(sp: usize, lo: usize, hi: usize, reader: Reader) -> Pcs {
    if sp < lo || sp >= hi {
        return Pcs::new();
    }
    let (pc, fp) = match reader {
        // SAFETY: sp lies in the mapped stack and is a saved context (the caller's claim).
        Reader::Direct => unsafe { crate::arch::saved_frame(sp as *const u8) },
        Reader::Careful => {
            // Read the two words the same way the arch helper would, through the kernel.
            let mut buf = [0usize; 24];
            for (i, w) in buf.iter_mut().enumerate() {
                match careful_word(sp + i * size_of::<usize>()) {
                    Some(v) => *w = v,
                    None => return Pcs::new(),
                }
            }
            // SAFETY: `buf` holds a copy of the saved context's words.
            unsafe { crate::arch::saved_frame(buf.as_ptr() as *const u8) }
        }
    };
    // SAFETY: per the contract.
    unsafe { walk(pc, fp, lo, hi, reader) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn depth3() -> Pcs {
        let marker = 0u8;
        let sp = std::hint::black_box(&marker) as *const u8 as usize;
        // Our thread's stack: generous bounds around the current frame suffice.
        let r = here(sp - 4096, sp + (1 << 20), Reader::Careful);
        std::hint::black_box(r)
    }

    #[inline(never)]
    fn depth2() -> Pcs {
        std::hint::black_box(depth3())
    }

    #[inline(never)]
    fn depth1() -> Pcs {
        std::hint::black_box(depth2())
    }

    #[test]
    fn walks_own_frames_in_order() {
        let pcs = depth1();
        let s = pcs.as_slice();
        assert!(s.len() >= 3, "only {} frames", s.len());
        // The first three return addresses lie in depth3's callers: depth2, depth1, test.
        let f2 = depth2 as *const () as usize;
        let f1 = depth1 as *const () as usize;
        assert!(s[0] > f2 && s[0] < f2 + 256, "{:#x} not in depth2 at {f2:#x}", s[0]);
        assert!(s[1] > f1 && s[1] < f1 + 256, "{:#x} not in depth1 at {f1:#x}", s[1]);
    }

    #[test]
    fn careful_reads_survive_unmapped_addresses() {
        assert_eq!(careful_word(8), None);
        let x = 0x1234_5678usize;
        assert_eq!(careful_word(&x as *const usize as usize), Some(x));
        // A chain pointing at unmapped memory ends the walk instead of faulting.
        let frame = [16usize, 0x4000];
        let base = frame.as_ptr() as usize;
        // SAFETY: Careful reads never fault.
        let pcs = unsafe { walk(0, base, 0, usize::MAX - 64, Reader::Careful) };
        assert_eq!(pcs.as_slice(), &[0x4000]);
    }

    #[test]
    fn broken_chains_stop() {
        // A frame whose saved fp points down the stack: one frame, then stop.
        let mut frames = [0usize; 4];
        let base = frames.as_mut_ptr() as usize;
        // SAFETY: writes into our own array (volatile: the walk reads it behind the
        // compiler's back).
        unsafe {
            std::ptr::write_volatile(frames.as_mut_ptr(), base - 64); // goes down
            std::ptr::write_volatile(frames.as_mut_ptr().add(1), 0x1111);
        }
        // SAFETY: the array is ours and mapped; bounds cover only it.
        let pcs = unsafe { walk(0, base, base, base + 32, Reader::Direct) };
        assert_eq!(pcs.as_slice(), &[0x1111]);
        // Leaving the bounds: no frames.
        // SAFETY: as above.
        let pcs = unsafe { walk(7, base + 32, base, base + 32, Reader::Direct) };
        assert_eq!(pcs.as_slice(), &[7]);
    }
}
