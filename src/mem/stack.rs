//! Goroutine stacks.
//!
//! # Layout
//! Stacks are fixed-size slots carved from chunks of address space reserved with one
//! `mmap(MAP_NORESERVE)` each. A slot is `[guard | usable stack]`, the stack growing down
//! towards its guard:
//!
//! ```text
//! chunk:  | guard | stack 0 | guard | stack 1 | ... |
//!         ^ slot 0 start      ^ slot 1 start
//! ```
//! Invariants: `slot = GUARD_SIZE + stack_size`, both multiples of the page size;
//! `stack.hi - stack.lo == stack_size`; `stack.lo - GUARD_SIZE` is the slot start.
//!
//! # Why not one mapping per stack
//! `vm.max_map_count` defaults to 65530, and an `mprotect`ed guard page splits a mapping in
//! two, so one-mapping-per-stack designs stop near 32k goroutines (libdill's complaint).
//! Linux 6.13+ has `MADV_GUARD_INSTALL`, which marks pages as guards in the page tables
//! without splitting the VMA: a chunk of hundreds of guarded stacks stays one mapping.
//! On older kernels we fall back to `mprotect` guards for the first
//! [`MPROTECT_GUARD_BUDGET`] stacks and, past that, to the canary alone.
//!
//! # Overflow detection
//! A fault in a guard region is caught by the SIGSEGV handler (`sched::signals`), which
//! prints `fatal error: goroutine N stack overflow` and exits 2. The guard is
//! [`GUARD_SIZE`] (64 KiB) so that a C frame with a large local array, compiled without
//! `-fstack-clash-protection`, still lands in it rather than in the neighbouring stack.
//! Where no hardware guard could be installed, a canary word at the lowest usable address
//! is checked whenever the goroutine switches out instead.
//!
//! # Memory cost
//! Only touched pages are resident (lazily committed by the kernel). A parked goroutine
//! that used little stack costs one or two pages. Slots are never returned to the OS: a
//! dead goroutine keeps its stack for the next `gort_go` (see `sched::g`).

use parking_lot::Mutex;
use std::ptr;

/// Default usable stack size: 256 KiB of address space, of which only touched pages cost
/// memory. Go starts at 2 KiB and grows; C code cannot be moved, so we reserve up front.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;
/// Smallest stack we accept: the runtime's own frames need a few KiB.
pub const MIN_STACK_SIZE: usize = 16 * 1024;
/// Largest stack we accept (1 GiB, like Go's maximum).
pub const MAX_STACK_SIZE: usize = 1 << 30;
/// Guard region below every stack.
pub const GUARD_SIZE: usize = 64 * 1024;
/// Chunks are about this big (address space, not memory).
const CHUNK_BYTES: usize = 256 << 20;
/// `mprotect` guards allowed on kernels without `MADV_GUARD_INSTALL`: each costs one
/// extra mapping, and we keep well below `vm.max_map_count`.
const MPROTECT_GUARD_BUDGET: usize = 16_384;
const MADV_GUARD_INSTALL: libc::c_int = 102;
/// Written at the lowest usable word of every stack.
pub const CANARY: u64 = 0x676f_7274_5f73_746b; // "gort_stk"

pub fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 { p as usize } else { 4096 }
}

/// Rounds a requested stack size into the supported range and to whole pages.
pub fn normalize_size(requested: usize) -> usize {
    let page = page_size();
    let s = requested.clamp(MIN_STACK_SIZE, MAX_STACK_SIZE);
    s.div_ceil(page) * page
}

/// A goroutine stack: `[lo, hi)` is usable, `[lo - GUARD_SIZE, lo)` is the guard.
#[derive(Debug)]
pub struct Stack {
    lo: *mut u8,
    hi: *mut u8,
    /// False when no hardware guard could be installed: then a canary word at `lo` is
    /// checked on every switch out. (With a guard, writing a canary would cost a resident
    /// page per stack for nothing.)
    guarded: bool,
}

// SAFETY: a Stack is a description of memory owned by whoever holds the Stack value;
// moving it between threads moves that ownership.
unsafe impl Send for Stack {}

impl Stack {
    /// The initial stack pointer (16-byte aligned end of the usable region).
    pub fn top(&self) -> *mut u8 {
        self.hi
    }
    pub fn lo(&self) -> *mut u8 {
        self.lo
    }
    pub fn size(&self) -> usize {
        self.hi as usize - self.lo as usize
    }
    /// True when `addr` lies in this stack's guard region.
    pub fn guard_contains(&self, addr: usize) -> bool {
        let lo = self.lo as usize;
        addr < lo && addr >= lo - GUARD_SIZE
    }
    /// False when something wrote over the lowest usable word: the stack overflowed
    /// (or C code scribbled there).
    #[inline]
    pub fn canary_intact(&self) -> bool {
        // SAFETY: `lo` is the first usable, mapped, 8-aligned word of the stack.
        self.guarded || unsafe { (self.lo as *const u64).read_volatile() == CANARY }
    }

    pub fn guarded(&self) -> bool {
        self.guarded
    }
}

struct Arena {
    /// Next unused slot in the current chunk, and the chunk's end.
    next: *mut u8,
    end: *mut u8,
    guard_failures: usize,
    mprotect_guards: usize,
    use_madv_guard: bool,
    /// Whether the first MADV_GUARD_INSTALL was checked to really guard (some emulators,
    /// such as qemu-user, accept the advice and do nothing).
    madv_guard_verified: bool,
}

// SAFETY: the raw pointers describe address space owned by the arena; access is serialised
// by the mutex below.
unsafe impl Send for Arena {}

static ARENA: Mutex<Arena> = Mutex::new(Arena {
    next: ptr::null_mut(),
    end: ptr::null_mut(),
    guard_failures: 0,
    mprotect_guards: 0,
    use_madv_guard: true,
    madv_guard_verified: false,
});

/// Allocates a fresh stack of `size` usable bytes (already normalised by
/// [`normalize_size`]). Returns `None` when the OS refuses address space.
pub fn alloc(size: usize) -> Option<Stack> {
    let slot = GUARD_SIZE + size;
    let mut a = ARENA.lock();
    if a.next.is_null() || (a.end as usize - a.next as usize) < slot {
        let slots = (CHUNK_BYTES / slot).max(16);
        let bytes = slots * slot;
        // SAFETY: anonymous private mapping; no existing memory is affected.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return None;
        }
        a.next = p as *mut u8;
        // SAFETY: p..p+bytes is the mapping just made.
        a.end = unsafe { a.next.add(bytes) };
    }
    let base = a.next;
    // SAFETY: base + slot <= end, checked above.
    a.next = unsafe { base.add(slot) };
    let guarded = install_guard(&mut a, base);
    drop(a);
    // SAFETY: the guard is the first GUARD_SIZE bytes of the slot, the rest is usable.
    let lo = unsafe { base.add(GUARD_SIZE) };
    // SAFETY: as above; the slot is `slot` bytes long.
    let hi = unsafe { base.add(slot) };
    if !guarded {
        // SAFETY: lo is mapped read-write and 8-aligned (page aligned).
        unsafe { (lo as *mut u64).write(CANARY) };
    }
    super::valgrind::stack_register(lo, hi);
    Some(Stack { lo, hi, guarded })
}

/// Installs the guard of the slot at `base`; false when none could be had.
fn install_guard(a: &mut Arena, base: *mut u8) -> bool {
    if a.use_madv_guard {
        // SAFETY: [base, base+GUARD_SIZE) belongs to our mapping and holds no live data.
        if unsafe { libc::madvise(base as *mut libc::c_void, GUARD_SIZE, MADV_GUARD_INSTALL) } == 0 {
            if a.madv_guard_verified {
                return true;
            }
            a.madv_guard_verified = true;
            if guard_is_effective(base) {
                return true;
            }
        }
        a.use_madv_guard = false;
    }
    if a.mprotect_guards < MPROTECT_GUARD_BUDGET {
        // SAFETY: as above.
        if unsafe { libc::mprotect(base as *mut libc::c_void, GUARD_SIZE, libc::PROT_NONE) } == 0 {
            a.mprotect_guards += 1;
            return true;
        }
    }
    a.guard_failures += 1;
    false
}

/// Checks that a freshly installed guard really faults: reading it through
/// `process_vm_readv` on ourselves must fail with EFAULT (the kernel takes the fault, we
/// do not). Any other answer (the read succeeds: the advice was accepted and ignored, as
/// qemu-user does; or the call is unavailable) means we cannot rely on it, and the caller
/// falls back to `mprotect` guards, which always work.
fn guard_is_effective(base: *mut u8) -> bool {
    let mut byte = 0u8;
    let local = libc::iovec { iov_base: &mut byte as *mut u8 as *mut libc::c_void, iov_len: 1 };
    let remote = libc::iovec { iov_base: base as *mut libc::c_void, iov_len: 1 };
    // SAFETY: reads one byte of our own address space into `byte`; the kernel validates
    // the remote range and reports a fault as an error instead of raising a signal.
    let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT)
}

/// Whether new stacks get hardware guard regions (false only on old kernels past the
/// mprotect budget). Reported by tests and `GORT_DEBUG`.
pub fn hardware_guards_available() -> bool {
    let a = ARENA.lock();
    a.use_madv_guard || a.mprotect_guards < MPROTECT_GUARD_BUDGET
}

/// Releases the physical pages of a stack's usable region except the top page, keeping the
/// address space and guard. Used for stacks of goroutines that sit unused for long.
pub fn release_pages(stack: &Stack) {
    let page = page_size();
    let len = stack.size() - page;
    // SAFETY: [lo, hi - page) is this stack's memory and the stack is not in use by any
    // goroutine (the caller owns it). The guard markers survive MADV_DONTNEED.
    unsafe {
        libc::madvise(stack.lo as *mut libc::c_void, len, libc::MADV_DONTNEED);
        if !stack.guarded {
            (stack.lo as *mut u64).write(CANARY);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacks_are_disjoint_aligned_and_canaried() {
        let size = normalize_size(64 * 1024);
        let a = alloc(size).unwrap();
        let b = alloc(size).unwrap();
        assert_eq!(a.size(), size);
        assert_eq!(a.top() as usize % 16, 0);
        assert!(a.canary_intact() && b.canary_intact());
        assert!(a.guarded(), "this kernel supports guards");
        // The guard really faults (checked through the kernel, without a signal).
        assert!(guard_is_effective(unsafe { a.lo().sub(GUARD_SIZE) }));
        assert!(!guard_is_effective(a.lo()));
        let (alo, ahi) = (a.lo() as usize, a.top() as usize);
        let (blo, bhi) = (b.lo() as usize, b.top() as usize);
        assert!(ahi <= blo - GUARD_SIZE || bhi <= alo - GUARD_SIZE);
        assert!(a.guard_contains(alo - 1) && !a.guard_contains(alo));
        // The whole usable region is writable.
        unsafe { std::ptr::write_bytes(a.lo().add(8), 0xAB, size - 8) };
        release_pages(&a);
        assert!(a.canary_intact());
    }

    #[test]
    fn sizes_are_clamped_and_page_rounded() {
        assert_eq!(normalize_size(1), MIN_STACK_SIZE);
        assert_eq!(normalize_size(MIN_STACK_SIZE + 1) % page_size(), 0);
        assert_eq!(normalize_size(usize::MAX), MAX_STACK_SIZE);
    }
}
