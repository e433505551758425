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
//! that used little stack costs one or two pages. A dead goroutine's stack goes to its
//! P's cache, then to the global [`STACK_POOL`], for the next `gort_go`.
//!
//! # Reservations
//! A goroutine takes its stack when it first runs (queued goroutines cost no stack), but
//! `gort_go` must report running out of address space at once. So a spawn *reserves* a
//! slot ([`reserve`]) and the goroutine keeps the reservation until it ends; the arena
//! maps chunks ahead so that reservations never exceed the slots mapped. Then a starting
//! goroutine always finds an idle stack or a slot to carve. Ps take reservations in
//! batches (`sched::proc::reserve_stack`), so the arena lock is not on every spawn.
//!
//! # Giving memory back
//! The pool is an idle-memory source of the scavenger (`mem::scavenge`). Its stacks are
//! kept in two lists: *dirty* ones (freed with their pages still resident), reused first
//! because they cost no page faults, and *released* ones, whose usable pages went back to
//! the OS with `MADV_DONTNEED` (the guard and the address space stay: guard markers
//! survive it, and it never splits a mapping). Each scavenger round releases the dirty
//! stacks nobody took during the previous round: a low-water mark of the dirty list,
//! lowered by every take, says which (the pool is a stack, so the bottom is the oldest).
//!
//! Released stacks cost no memory, only address space and a pool entry (24 bytes). Beyond
//! [`RETAIN_STACKS`] of them, a round unmaps every fully carved chunk whose stacks are
//! *all* released in the pool, whole, as long as the remaining slots still cover the
//! reservations: `munmap` of a whole chunk never adds mappings (the kernel may have
//! merged neighbouring chunks into one VMA, which then becomes two, never more than the
//! chunks alive), and a chunk holding even one stack in use (or in a P cache) stays. So after a burst the pool shrinks back
//! to the chunks still partly in use plus at most [`RETAIN_STACKS`] stacks. Under valgrind
//! (stack registrations) and ASan (shadow of the old frames) chunks are never unmapped;
//! releasing pages is safe under both.

use parking_lot::Mutex;
use std::ptr;

/// Default usable stack size: 256 KiB of address space, of which only touched pages cost
/// memory. Go starts at 2 KiB and grows; C code cannot be moved, so we reserve up front.
pub(crate) const DEFAULT_STACK_SIZE: usize = 256 * 1024;
/// Smallest stack we accept: the runtime's own frames need a few KiB.
pub(crate) const MIN_STACK_SIZE: usize = 16 * 1024;
/// Largest stack we accept (1 GiB, like Go's maximum).
pub(crate) const MAX_STACK_SIZE: usize = 1 << 30;
/// Guard region below every stack.
pub(crate) const GUARD_SIZE: usize = 64 * 1024;
/// Chunks are about this big (address space, not memory).
const CHUNK_BYTES: usize = 256 << 20;
/// `mprotect` guards allowed on kernels without `MADV_GUARD_INSTALL`: each costs one
/// extra mapping, and we keep well below `vm.max_map_count`.
const MPROTECT_GUARD_BUDGET: usize = 16_384;
const MADV_GUARD_INSTALL: libc::c_int = 102;
/// Written at the lowest usable word of every stack.
pub(crate) const CANARY: u64 = 0x676f_7274_5f73_746b; // "gort_stk"

pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 { p as usize } else { 4096 }
}

/// Rounds a requested stack size into the supported range and to whole pages.
pub(crate) fn normalize_size(requested: usize) -> usize {
    let page = page_size();
    let s = requested.clamp(MIN_STACK_SIZE, MAX_STACK_SIZE);
    s.div_ceil(page) * page
}

/// A goroutine stack: `[lo, hi)` is usable, `[lo - GUARD_SIZE, lo)` is the guard.
#[derive(Debug)]
pub(crate) struct Stack {
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
    pub(crate) fn top(&self) -> *mut u8 {
        self.hi
    }
    pub(crate) fn lo(&self) -> *mut u8 {
        self.lo
    }
    pub(crate) fn size(&self) -> usize {
        self.hi as usize - self.lo as usize
    }
    /// True when `addr` lies in this stack's guard region.
    pub(crate) fn guard_contains(&self, addr: usize) -> bool {
        let lo = self.lo as usize;
        addr < lo && addr >= lo - GUARD_SIZE
    }
    /// False when something wrote over the lowest usable word: the stack overflowed
    /// (or C code scribbled there).
    #[inline]
    pub(crate) fn canary_intact(&self) -> bool {
        // SAFETY: `lo` is the first usable, mapped, 8-aligned word of the stack.
        self.guarded || unsafe { (self.lo as *const u64).read_volatile() == CANARY }
    }

    #[cfg(test)]
    pub(crate) fn guarded(&self) -> bool {
        self.guarded
    }
}

/// A mapping stacks are carved from, front to back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Chunk {
    base: usize,
    bytes: usize,
    /// Bytes carved so far.
    used: usize,
    /// Slots carved so far (every one is a [`Stack`] somewhere: in use, cached, pooled).
    carved: usize,
    /// Slots of the size it was mapped for (what reservations count on).
    capacity: usize,
}

struct Arena {
    /// Every mapped chunk; `chunks[current..]` may still have room (chunks mapped ahead
    /// for reservations wait behind the one being carved).
    chunks: Vec<Chunk>,
    current: usize,
    /// Slots of all mapped chunks, and how many of them are reserved (see [`reserve`]):
    /// `reserved <= slots` always.
    slots: usize,
    reserved: usize,
    guard_failures: usize,
    mprotect_guards: usize,
    use_madv_guard: bool,
    /// Whether the first MADV_GUARD_INSTALL was checked to really guard (some emulators,
    /// such as qemu-user, accept the advice and do nothing).
    madv_guard_verified: bool,
}

static ARENA: Mutex<Arena> = Mutex::new(Arena {
    chunks: Vec::new(),
    current: 0,
    slots: 0,
    reserved: 0,
    guard_failures: 0,
    mprotect_guards: 0,
    use_madv_guard: true,
    madv_guard_verified: false,
});

impl Arena {
    /// Maps one more chunk for stacks of `size`; false when the OS refuses.
    fn map_chunk(&mut self, size: usize) -> bool {
        let slot = GUARD_SIZE + size;
        let capacity = (CHUNK_BYTES / slot).max(16);
        let bytes = capacity * slot;
        if self.chunks.try_reserve(1).is_err() {
            return false;
        }
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
            return false;
        }
        self.chunks.push(Chunk { base: p as usize, bytes, used: 0, carved: 0, capacity });
        self.slots += capacity;
        true
    }
}

/// Reserves up to `n` stack slots of `size` for goroutines about to be spawned, mapping
/// chunks ahead as needed; returns how many (0: the address space is exhausted). While a
/// goroutine lives it holds one reservation, so there are never more live goroutines
/// than slots: a goroutine starting finds an idle stack somewhere or a slot to carve.
/// Stacks are still taken lazily, at first run, so queued goroutines cost no stack
/// memory (fork/join trees queue thousands).
pub(crate) fn reserve(n: usize, size: usize) -> usize {
    let mut a = ARENA.lock();
    while a.reserved + n > a.slots && a.map_chunk(size) {}
    let granted = n.min(a.slots - a.reserved);
    a.reserved += granted;
    granted
}

/// Gives back `n` reservations (goroutines that ended).
pub(crate) fn unreserve(n: usize) {
    let mut a = ARENA.lock();
    debug_assert!(a.reserved >= n);
    a.reserved -= n.min(a.reserved);
}

/// Allocates a fresh stack of `size` usable bytes (already normalised by
/// [`normalize_size`]). Returns `None` when the OS refuses address space.
pub(crate) fn alloc(size: usize) -> Option<Stack> {
    let slot = GUARD_SIZE + size;
    let mut a = ARENA.lock();
    while a.current < a.chunks.len() && a.chunks[a.current].bytes - a.chunks[a.current].used < slot {
        a.current += 1;
    }
    if a.current == a.chunks.len() && !a.map_chunk(size) {
        return None;
    }
    let cur = a.current;
    let c = &mut a.chunks[cur];
    let base = (c.base + c.used) as *mut u8;
    c.used += slot;
    c.carved += 1;
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
    n < 0 && crate::os::errno() == libc::EFAULT
}

/// Gives the physical pages of a stack's whole usable region back to the OS, keeping the
/// address space and the guard (which is not in the range). The stack must be unused.
/// Returns the bytes released.
pub(crate) fn release_pages(stack: &Stack) -> usize {
    let len = stack.size();
    // SAFETY: [lo, hi) is this stack's memory, whole pages, and no goroutine runs on it
    // (the caller owns the idle stack). MADV_DONTNEED keeps the mapping (no split) and
    // zero-fills on the next touch; the guard below `lo` is outside the range.
    unsafe {
        libc::madvise(stack.lo as *mut libc::c_void, len, libc::MADV_DONTNEED);
        if !stack.guarded {
            (stack.lo as *mut u64).write(CANARY);
        }
    }
    len
}

/// Released stacks kept in the pool before whole idle chunks are unmapped: a program that
/// bursts repeatedly reuses them without new mappings, at no memory cost.
pub(crate) const RETAIN_STACKS: usize = 1024;

/// Stacks released per lock round: the pool lock is never held over system calls, and
/// spawns can take released stacks while a long release is still going on.
const RELEASE_BATCH: usize = 1024;

/// Idle stacks shared by all Ps (beyond their caches). See "Giving memory back".
pub(crate) struct StackPool {
    inner: Mutex<PoolLists>,
}

struct PoolLists {
    /// Freed stacks whose pages may be resident; taken from the end first.
    dirty: Vec<Stack>,
    /// `dirty[..untouched]` has not been taken since the last scavenger round: those
    /// stacks have been idle for a whole round.
    untouched: usize,
    /// Stacks whose pages were released.
    released: Vec<Stack>,
    /// Stacks were released since the last trim: a new trim may find a whole idle chunk.
    trim_due: bool,
}

pub(crate) static STACK_POOL: StackPool = StackPool::new();

impl StackPool {
    pub(crate) const fn new() -> StackPool {
        StackPool {
            inner: Mutex::new(PoolLists { dirty: Vec::new(), untouched: 0, released: Vec::new(), trim_due: false }),
        }
    }

    /// Adds freed stacks (pages possibly resident) and tells the scavenger if any came.
    pub(crate) fn put(&self, stacks: impl IntoIterator<Item = Stack>) {
        let mut l = self.inner.lock();
        let before = l.dirty.len();
        l.dirty.extend(stacks);
        let added = l.dirty.len() > before;
        drop(l);
        if added {
            super::scavenge::wake();
        }
    }

    /// Moves up to `n` stacks into `into`, dirty ones (no page faults) first.
    pub(crate) fn take(&self, n: usize, into: &mut Vec<Stack>) {
        let mut l = self.inner.lock();
        let from_dirty = l.dirty.len().min(n);
        let at = l.dirty.len() - from_dirty;
        into.extend(l.dirty.drain(at..));
        l.untouched = l.untouched.min(at);
        let from_released = l.released.len().min(n - from_dirty);
        let at = l.released.len() - from_released;
        into.extend(l.released.drain(at..));
    }

    /// One stack, if the pool has any.
    pub(crate) fn take_one(&self) -> Option<Stack> {
        let mut l = self.inner.lock();
        if let Some(s) = l.dirty.pop() {
            l.untouched = l.untouched.min(l.dirty.len());
            return Some(s);
        }
        l.released.pop()
    }

    /// Releases the pages of the stacks idle for a whole round. Returns the bytes.
    fn release_idle(&self) -> usize {
        let mut idle = {
            let mut l = self.inner.lock();
            let n = l.untouched.min(l.dirty.len());
            let rest = l.dirty.split_off(n);
            let idle = std::mem::replace(&mut l.dirty, rest);
            l.untouched = l.dirty.len();
            idle
        };
        let mut bytes = 0;
        while !idle.is_empty() {
            let at = idle.len().saturating_sub(RELEASE_BATCH);
            for s in &idle[at..] {
                bytes += release_pages(s);
            }
            let mut l = self.inner.lock();
            l.released.extend(idle.drain(at..));
            l.trim_due = true;
        }
        bytes
    }

    /// Unmaps whole chunks whose every stack is released in the pool, keeping at least
    /// [`RETAIN_STACKS`] released stacks. Returns the bytes unmapped.
    fn trim(&self) -> usize {
        let mut released = {
            let mut l = self.inner.lock();
            if !l.trim_due || l.released.len() <= RETAIN_STACKS {
                return 0;
            }
            l.trim_due = false;
            if super::valgrind::running_on_valgrind() || cfg!(feature = "asan") {
                return 0;
            }
            std::mem::take(&mut l.released)
        };
        // Fully carved chunks only: the others still give out slots.
        let complete: Vec<Chunk> = ARENA.lock().chunks.iter().filter(|c| c.carved == c.capacity).copied().collect();
        released.sort_unstable_by_key(|s| s.lo as usize);
        let los: Vec<usize> = released.iter().map(|s| s.lo as usize).collect();
        let mut doomed = wholly_idle_chunks(complete, &los, RETAIN_STACKS);
        let mut unmapped = 0;
        if !doomed.is_empty() {
            {
                // Reservations count on slots: a chunk goes only while the rest covers them.
                let mut a = ARENA.lock();
                let mut slots = a.slots;
                doomed.retain(|c| {
                    let keep = slots - c.capacity >= a.reserved;
                    if keep {
                        slots -= c.capacity;
                    }
                    keep
                });
                a.slots = slots;
                a.chunks.retain(|c| doomed.binary_search_by_key(&c.base, |d| d.base).is_err());
                a.current = a.chunks.iter().position(|c| c.carved < c.capacity).unwrap_or(a.chunks.len());
            }
            // Keep the stacks outside the doomed chunks (`doomed` is sorted by base).
            let in_doomed = |lo: usize| {
                let i = doomed.partition_point(|c| c.base + c.bytes <= lo);
                i < doomed.len() && doomed[i].base <= lo
            };
            released.retain(|s| !in_doomed(s.lo as usize));
            for c in &doomed {
                // SAFETY: the chunk is a whole mapping of ours, and every slot carved from
                // it is a released stack that we just dropped from the pool: nothing
                // refers to its memory any more, and the arena no longer carves from it.
                unsafe { libc::munmap(c.base as *mut libc::c_void, c.bytes) };
                unmapped += c.bytes;
            }
        }
        let mut l = self.inner.lock();
        released.append(&mut l.released);
        l.released = released;
        if l.released.capacity() > 2 * l.released.len() + RELEASE_BATCH {
            l.released.shrink_to_fit();
        }
        if l.dirty.capacity() > 2 * l.dirty.len() + RELEASE_BATCH {
            l.dirty.shrink_to_fit();
        }
        unmapped
    }

    /// Stacks in the pool (dirty, released).
    #[allow(dead_code)]
    pub(crate) fn len(&self) -> (usize, usize) {
        let l = self.inner.lock();
        (l.dirty.len(), l.released.len())
    }
}

impl Default for StackPool {
    fn default() -> Self {
        StackPool::new()
    }
}

impl super::scavenge::IdleSource for StackPool {
    fn scavenge(&self) -> super::scavenge::Released {
        let released = self.release_idle();
        let unmapped = self.trim();
        super::scavenge::Released { released, unmapped }
    }

    fn pending(&self) -> bool {
        let l = self.inner.lock();
        !l.dirty.is_empty() || (l.trim_due && l.released.len() > RETAIN_STACKS)
    }
}

/// The complete chunks all of whose carved slots appear in `idle_los` (the sorted `lo`
/// addresses of idle stacks), as long as at least `retain` idle stacks stay outside them;
/// sorted by base.
fn wholly_idle_chunks(mut complete: Vec<Chunk>, idle_los: &[usize], retain: usize) -> Vec<Chunk> {
    complete.sort_unstable_by_key(|c| c.base);
    let mut left = idle_los.len();
    let mut doomed = Vec::new();
    for c in complete {
        if left < retain + c.carved {
            continue;
        }
        let from = idle_los.partition_point(|&lo| lo < c.base);
        let to = idle_los.partition_point(|&lo| lo < c.base + c.bytes);
        if to - from == c.carved && c.carved > 0 {
            left -= c.carved;
            doomed.push(c);
        }
    }
    doomed
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
    fn released_pages_read_zero_and_keep_the_guard() {
        let size = normalize_size(64 * 1024);
        let s = alloc(size).unwrap();
        // SAFETY: [lo, lo + size) is this unused stack's mapped, writable region; the
        // first 8 bytes (the canary) are left alone.
        unsafe { std::ptr::write_bytes(s.lo().add(8), 0xCD, size - 8) };
        assert_eq!(release_pages(&s), size);
        assert!(s.canary_intact());
        // The pages are gone (read back as zero), the guard still faults.
        // SAFETY: inside the stack's mapped region (MADV_DONTNEED keeps the mapping).
        assert_eq!(unsafe { s.lo().add(size / 2).read_volatile() }, 0);
        // SAFETY: the guard starts GUARD_SIZE below lo, in the same mapping; only its
        // address is computed (guard_is_effective probes it without faulting).
        assert!(guard_is_effective(unsafe { s.lo().sub(GUARD_SIZE) }));
        // SAFETY: as above, inside the stack's mapped, writable region.
        unsafe { s.lo().add(8).write_volatile(1) };
    }

    #[test]
    fn pool_releases_only_what_sat_idle_for_a_round() {
        let pool = StackPool::new();
        let size = normalize_size(32 * 1024);
        pool.put((0..4).map(|_| alloc(size).unwrap()));
        assert_eq!(pool.release_idle(), 0, "just freed: not idle for a whole round yet");
        // Two taken and given back during the round: they are in use, the other two idle.
        let mut two = Vec::new();
        pool.take(2, &mut two);
        assert_eq!(two.len(), 2);
        pool.put(two);
        assert_eq!(pool.release_idle(), 2 * size);
        assert_eq!(pool.len(), (2, 2));
        assert_eq!(pool.release_idle(), 2 * size);
        assert_eq!(pool.len(), (0, 4));
        // Dirty stacks go first; released ones still serve.
        pool.put(std::iter::once(alloc(size).unwrap()));
        let mut got = Vec::new();
        pool.take(3, &mut got);
        assert_eq!(pool.len(), (0, 2));
        assert!(pool.take_one().is_some() && pool.take_one().is_some() && pool.take_one().is_none());
    }

    #[test]
    fn only_chunks_idle_in_full_are_unmapped_beyond_the_retained() {
        let chunk = |base: usize, carved: usize| Chunk { base, bytes: 0x1000, used: 0x1000, carved, capacity: carved };
        // Chunk A (0x10000): 3 slots, all idle. B (0x20000): 2 slots, one in use.
        // C (0x30000): 2 slots, all idle.
        let los = [0x10000, 0x10400, 0x10800, 0x20000, 0x30000, 0x30800];
        let all = vec![chunk(0x30000, 2), chunk(0x10000, 3), chunk(0x20000, 2)];
        assert_eq!(wholly_idle_chunks(all.clone(), &los, 0), vec![chunk(0x10000, 3), chunk(0x30000, 2)]);
        // Keeping 2: A goes (3 stacks left), C would leave 1.
        assert_eq!(wholly_idle_chunks(all.clone(), &los, 2), vec![chunk(0x10000, 3)]);
        assert_eq!(wholly_idle_chunks(all, &los, 6), vec![]);
    }

    #[test]
    fn reservations_map_chunks_ahead_and_stay_covered() {
        // More than a chunk holds: the arena maps ahead, and every reservation has a slot.
        let size = normalize_size(1 << 20);
        let per_chunk = (CHUNK_BYTES / (GUARD_SIZE + size)).max(16);
        assert_eq!(reserve(3 * per_chunk, size), 3 * per_chunk);
        {
            // Other tests may hold reservations too; ours are among them.
            let a = ARENA.lock();
            assert!(a.reserved >= 3 * per_chunk && a.reserved <= a.slots);
        }
        unreserve(3 * per_chunk);
        let a = ARENA.lock();
        assert!(a.reserved <= a.slots);
    }

    #[test]
    fn sizes_are_clamped_and_page_rounded() {
        assert_eq!(normalize_size(1), MIN_STACK_SIZE);
        assert_eq!(normalize_size(MIN_STACK_SIZE + 1) % page_size(), 0);
        assert_eq!(normalize_size(usize::MAX), MAX_STACK_SIZE);
    }
}
