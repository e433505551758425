//! Address space: 64 MiB arenas, the two-level index from any address to its arena's
//! metadata, and the metadata itself (span of every page, pointer bitmap, page bits).

use super::sizeclass::{PAGE, PAGE_SHIFT};
use super::span::Span;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

pub(crate) const ARENA_SHIFT: usize = 26;
pub(crate) const ARENA: usize = 1 << ARENA_SHIFT;
pub(crate) const PAGES_PER_ARENA: usize = ARENA / PAGE;
/// User addresses fit in 48 bits on x86_64 and on aarch64 with 4-level tables (the
/// kernel hands out nothing above that unless asked with a hint).
const ADDR_BITS: usize = 48;
const L2_BITS: usize = 12;
const L1_BITS: usize = ADDR_BITS - ARENA_SHIFT - L2_BITS;
const PAGE_WORDS: usize = PAGES_PER_ARENA / 64;
/// One bit per heap word: 1 MiB per arena, reserved, touched only where scan spans live.
const PTR_WORDS: usize = ARENA / 8 / 64;

/// Per-arena metadata, in its own `MAP_NORESERVE` mapping.
pub(crate) struct ArenaMeta {
    pub base: usize,
    /// The page heap this arena belongs to (several heaps exist in unit tests): runs
    /// merge only with neighbours of the same heap.
    pub owner: usize,
    /// The span owning each page. In-use spans set every page; free runs set their first
    /// and last page (for coalescing); other entries may be stale, so readers check that
    /// the address lies inside the span they found. Written under the page-heap lock,
    /// read without locks (find_object).
    pub spans: [AtomicPtr<Span>; PAGES_PER_ARENA],
    /// Pointer bitmap, bit i = heap word `base + 8i` holds a pointer. Written by the cache
    /// that owns the span when it allocates an object (plain load + store: one writer per
    /// span, and a bitmap word never covers two spans); read by the marker.
    pub ptr_bits: [AtomicU64; PTR_WORDS],
    /// Pages that conservative scanning hit with a non-pointer, this cycle and the last
    /// (Boehm's blacklist). Set by markers (fetch_or), aged at finish_mark.
    pub black: [[AtomicU64; PAGE_WORDS]; 2],
    /// Page-heap lock: free pages whose memory went back to the OS (zero on next touch).
    pub released: [AtomicU64; PAGE_WORDS],
    /// Page-heap lock: pages that were handed out since they were last fresh or
    /// released, so may hold old bytes.
    pub dirty: [AtomicU64; PAGE_WORDS],
}

type L2 = [AtomicPtr<ArenaMeta>; 1 << L2_BITS];
static INDEX: [AtomicPtr<L2>; 1 << L1_BITS] = [const { AtomicPtr::new(ptr::null_mut()) }; 1 << L1_BITS];

/// The arena containing `addr`, if it is a heap arena. Two dependent loads.
#[inline]
pub(crate) fn arena_of(addr: usize) -> Option<&'static ArenaMeta> {
    if addr >> ADDR_BITS != 0 {
        return None;
    }
    let l2 = INDEX[addr >> (ARENA_SHIFT + L2_BITS)].load(Ordering::Acquire);
    if l2.is_null() {
        return None;
    }
    // SAFETY: L2 tables are never freed once published.
    let a = unsafe { &*l2 }[(addr >> ARENA_SHIFT) & ((1 << L2_BITS) - 1)].load(Ordering::Acquire);
    // SAFETY: arena metadata is never freed once published.
    unsafe { a.as_ref() }
}

impl ArenaMeta {
    #[inline]
    pub(crate) fn page_index(&self, addr: usize) -> usize {
        (addr - self.base) >> PAGE_SHIFT
    }
    /// The span recorded for `addr`'s page (possibly stale; see `spans`).
    #[inline]
    pub(crate) fn span_at(&self, addr: usize) -> *mut Span {
        self.spans[self.page_index(addr)].load(Ordering::Acquire)
    }
    pub(crate) fn set_spans(&self, start: usize, npages: usize, s: *mut Span) {
        let first = self.page_index(start);
        for e in &self.spans[first..first + npages] {
            e.store(s, Ordering::Release);
        }
    }
    pub(crate) fn is_blacklisted(&self, page: usize) -> bool {
        let (w, b) = (page / 64, page % 64);
        (self.black[0][w].load(Ordering::Relaxed) | self.black[1][w].load(Ordering::Relaxed)) >> b & 1 != 0
    }
    pub(crate) fn blacklist(&self, page: usize, generation: usize) {
        self.black[generation & 1][page / 64].fetch_or(1 << (page % 64), Ordering::Relaxed);
    }
    pub(crate) fn clear_blacklist(&self, generation: usize) {
        for w in &self.black[generation & 1] {
            w.store(0, Ordering::Relaxed);
        }
    }
}

/// Sets or clears bits [first, first+n) of a page bitmap; returns how many were set before.
pub(crate) fn page_bits_update(bits: &[AtomicU64; PAGE_WORDS], first: usize, n: usize, set: bool) -> usize {
    let mut was = 0;
    let mut i = first;
    let end = first + n;
    while i < end {
        let w = i / 64;
        let lo = i % 64;
        let cnt = (64 - lo).min(end - i);
        let mask = if cnt == 64 { !0u64 } else { ((1u64 << cnt) - 1) << lo };
        let old = bits[w].load(Ordering::Relaxed);
        was += (old & mask).count_ones() as usize;
        bits[w].store(if set { old | mask } else { old & !mask }, Ordering::Relaxed);
        i += cnt;
    }
    was
}

/// Counts set bits in [first, first+n).
pub(crate) fn page_bits_count(bits: &[AtomicU64; PAGE_WORDS], first: usize, n: usize) -> usize {
    let mut c = 0;
    let mut i = first;
    let end = first + n;
    while i < end {
        let lo = i % 64;
        let cnt = (64 - lo).min(end - i);
        let mask = if cnt == 64 { !0u64 } else { ((1u64 << cnt) - 1) << lo };
        c += (bits[i / 64].load(Ordering::Relaxed) & mask).count_ones() as usize;
        i += cnt;
    }
    c
}

/// Maps `len` bytes of address space, read-write, lazily committed by the kernel
/// (`MAP_NORESERVE`): memory is used only where touched. None if the OS refuses.
pub(crate) fn os_reserve(len: usize) -> Option<*mut u8> {
    // SAFETY: an anonymous private mapping at an address of the kernel's choosing.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return None;
    }
    // Transparent huge pages where the system allows them (`madvise` mode): marking
    // visits objects all over the heap, and with 4 KiB pages nearly every visit is also a
    // TLB miss; with 2 MiB pages the pause of a 128 MiB linked-list heap fell from 1.2 s
    // to 0.73 s here at the same peak RSS. (Freed runs are still released page by page;
    // the kernel splits a huge page for that.)
    //
    // Not in the concurrent mode: with the kernel's default `defrag=madvise`, a fault on
    // an advised range compacts memory synchronously to find a huge page, which stalled
    // the faulting thread for 1-5 ms here, and a thread inside a fault cannot answer the
    // collector's signal: those stalls became the concurrent mode's longest pauses.
    if HUGE_PAGES.load(Ordering::Relaxed) {
        // SAFETY: advice on our own fresh mapping; failure (no THP) changes nothing.
        unsafe { libc::madvise(p, len, libc::MADV_HUGEPAGE) };
    }
    Some(p.cast())
}

/// Whether new arenas ask for transparent huge pages (see [`os_reserve`]).
pub(crate) static HUGE_PAGES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// `count` fresh arenas, contiguous, aligned to [`ARENA`] (over-map by one arena and
/// unmap the unaligned ends: the block stays one mapping), with their metadata,
/// published in the index.
pub(crate) fn new_arenas(count: usize, owner: usize) -> Option<Vec<&'static ArenaMeta>> {
    let len = count.checked_mul(ARENA)?;
    let raw = os_reserve(len.checked_add(ARENA)?)? as usize;
    let base = raw.next_multiple_of(ARENA);
    // SAFETY: both ranges lie inside the mapping just made and nobody uses them.
    unsafe {
        if base > raw {
            libc::munmap(raw as *mut libc::c_void, base - raw);
        }
        let tail = raw + len + ARENA - (base + len);
        if tail > 0 {
            libc::munmap((base + len) as *mut libc::c_void, tail);
        }
    }
    if (base + len - 1) >> ADDR_BITS != 0 {
        // SAFETY: our own mapping, not yet published.
        unsafe { libc::munmap(base as *mut libc::c_void, len) };
        return None;
    }
    let mut metas = Vec::with_capacity(count);
    for i in 0..count {
        let a = base + i * ARENA;
        let Some(meta) = os_reserve(size_of::<ArenaMeta>()) else {
            // The arenas already published stay (address space only); the block is
            // given up.
            return None;
        };
        let meta = meta as *mut ArenaMeta;
        // SAFETY: fresh zeroed mapping big enough for ArenaMeta; all-zero is a valid
        // ArenaMeta (null pointers, zero atomics) except `base` and `owner`, set here
        // before publishing.
        unsafe {
            ptr::addr_of_mut!((*meta).base).write(a);
            ptr::addr_of_mut!((*meta).owner).write(owner);
        }
        publish(a, meta)?;
        // SAFETY: published and never freed.
        metas.push(unsafe { &*meta });
    }
    Some(metas)
}

fn publish(base: usize, meta: *mut ArenaMeta) -> Option<()> {
    let l1 = &INDEX[base >> (ARENA_SHIFT + L2_BITS)];
    let mut l2 = l1.load(Ordering::Acquire);
    if l2.is_null() {
        let fresh = os_reserve(size_of::<L2>())? as *mut L2;
        // Two heaps (unit tests) may grow at once: publish with a CAS.
        l2 = match l1.compare_exchange(ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => fresh,
            Err(other) => {
                // SAFETY: our own unpublished mapping.
                unsafe { libc::munmap(fresh.cast(), size_of::<L2>()) };
                other
            }
        };
    }
    // SAFETY: L2 tables are never freed.
    let l2: &L2 = unsafe { &*l2 };
    l2[(base >> ARENA_SHIFT) & ((1 << L2_BITS) - 1)].store(meta, Ordering::Release);
    Some(())
}
