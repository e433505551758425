//! Spans: runs of pages holding objects of one size class (or one large object), with
//! their allocation and mark bitmaps beside them.

use super::arena::{ArenaMeta, arena_of};
use super::sizeclass::{BIT_WORDS, CLASSES, DIV_SHIFT, PAGE, PAGE_SHIFT};
use super::types::GcType;
use std::cell::Cell;
use std::ptr;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};

/// Span states ([`Span::state`]).
pub(crate) mod state {
    /// In the span slab's free list: describes nothing.
    pub(crate) const UNUSED: u8 = 0;
    /// A run of free pages in the page heap.
    pub(crate) const FREE: u8 = 1;
    /// Free pages taken out by the scavenger while it releases them.
    pub(crate) const SCAVENGING: u8 = 2;
    /// Small objects of one class.
    pub(crate) const SMALL: u8 = 3;
    /// One large object.
    pub(crate) const LARGE: u8 = 4;
    /// Taken by `PageHeap::alloc` for a new owner that sets it up after the page heap's
    /// lock is dropped (`Span::init_objects` then stores SMALL or LARGE): no longer free,
    /// so a neighbour freed meanwhile must not merge it, and not yet holding objects, so
    /// `find_object` ignores it.
    pub(crate) const CLAIMED: u8 = 5;
}

/// A span. Who may touch which field:
/// - `state`, `alloc_bits`, `mark_bits`: atomics, read by find_object and the markers
///   at any time (exact with the world stopped); `alloc_bits` written by the sweeper that
///   owns the span, `mark_bits` set by markers and cleared by the sweeper.
/// - `start`, `npages`, class fields: written by the page heap (lock held) when the span
///   is set up, before it is published in the arena's span table; then read-only until
///   the span is freed.
/// - `freeindex`, `alloc_cache`, `needzero`: the allocation cursor, owned by the cache
///   that holds the span (a P's owner, or the shared cache under its lock), or by the
///   sweeper/central list lock while in no cache.
/// - `alloc_count`, `quarantine`, `large_*`: as the cursor (valid while in no cache).
/// - `next`, `prev`, `free_round`: whoever owns the list the span is on (a central
///   list's lock, the large list's lock, the page heap's lock).
pub(crate) struct Span {
    pub state: AtomicU8,
    pub noscan: Cell<bool>,
    /// Index into `CLASSES` (0 = large).
    pub class: Cell<u8>,
    pub needzero: Cell<bool>,
    pub sweepgen: AtomicU32,
    pub free_round: Cell<u32>,
    pub start: Cell<usize>,
    pub npages: Cell<usize>,
    pub elem_size: Cell<usize>,
    pub nelems: Cell<usize>,
    pub magic: Cell<u64>,
    /// Objects below `freeindex` are allocated; at and above, `alloc_bits` says.
    pub freeindex: Cell<usize>,
    /// Inverted `alloc_bits` from `freeindex` to the end of its 64-bit word, shifted so
    /// bit 0 is `freeindex`: the fast path is a count-trailing-zeros.
    pub alloc_cache: Cell<u64>,
    pub alloc_count: Cell<usize>,
    pub alloc_bits: [AtomicU64; BIT_WORDS],
    pub mark_bits: [AtomicU64; BIT_WORDS],
    /// Poison mode: objects freed by the last sweep, kept allocated one more cycle.
    pub quarantine: [Cell<u64>; BIT_WORDS],
    /// Large typed objects: the element type and count (small objects use the bitmap).
    pub large_type: Cell<*const GcType>,
    /// The arena holding the span's pages (its pointer bitmap), looked up once by
    /// `init_objects` so that the allocation fast path does not walk the address index.
    /// Written with the class fields, read-only while the span is in use.
    pub arena: Cell<*const ArenaMeta>,
    pub large_len: Cell<usize>,
    pub next: Cell<*mut Span>,
    pub prev: Cell<*mut Span>,
}

// SAFETY: the rules on the struct say who may touch each non-atomic field; the owner
// changes only through a lock or a stopped world, which order the accesses.
unsafe impl Sync for Span {}

impl Span {
    pub(crate) const fn empty() -> Span {
        Span {
            state: AtomicU8::new(state::UNUSED),
            noscan: Cell::new(false),
            class: Cell::new(0),
            needzero: Cell::new(false),
            sweepgen: AtomicU32::new(0),
            free_round: Cell::new(0),
            start: Cell::new(0),
            npages: Cell::new(0),
            elem_size: Cell::new(0),
            nelems: Cell::new(0),
            magic: Cell::new(0),
            freeindex: Cell::new(0),
            alloc_cache: Cell::new(0),
            alloc_count: Cell::new(0),
            alloc_bits: [const { AtomicU64::new(0) }; BIT_WORDS],
            mark_bits: [const { AtomicU64::new(0) }; BIT_WORDS],
            quarantine: [const { Cell::new(0) }; BIT_WORDS],
            large_type: Cell::new(ptr::null()),
            arena: Cell::new(ptr::null()),
            large_len: Cell::new(0),
            next: Cell::new(ptr::null_mut()),
            prev: Cell::new(ptr::null_mut()),
        }
    }

    #[inline]
    pub(crate) fn end(&self) -> usize {
        self.start.get() + (self.npages.get() << PAGE_SHIFT)
    }

    /// Sets the span up for objects of `class` (0: one large object of `npages`).
    pub(crate) fn init_objects(&self, class: usize, noscan: bool, needzero: bool, sweepgen: u32) {
        self.class.set(class as u8);
        self.noscan.set(noscan);
        self.needzero.set(needzero);
        if class == 0 {
            self.elem_size.set(self.npages.get() * PAGE);
            self.nelems.set(1);
            self.magic.set(0);
        } else {
            let ci = &CLASSES[class];
            debug_assert_eq!(ci.pages, self.npages.get());
            self.elem_size.set(ci.size);
            self.nelems.set(ci.nelems);
            self.magic.set(ci.magic);
        }
        for w in 0..BIT_WORDS {
            self.alloc_bits[w].store(0, Ordering::Relaxed);
            self.mark_bits[w].store(0, Ordering::Relaxed);
            self.quarantine[w].set(0);
        }
        self.freeindex.set(0);
        self.alloc_cache.set(!0);
        self.alloc_count.set(0);
        self.large_type.set(ptr::null());
        self.large_len.set(0);
        self.sweepgen.store(sweepgen, Ordering::Relaxed);
        self.arena.set(arena_of(self.start.get()).map_or(ptr::null(), |a| a as *const ArenaMeta));
        self.state.store(if class == 0 { state::LARGE } else { state::SMALL }, Ordering::Release);
    }

    /// The object index of `addr` (inside the span): a multiply and a shift.
    #[inline]
    pub(crate) fn index_of(&self, addr: usize) -> usize {
        (((addr - self.start.get()) as u64 * self.magic.get()) >> DIV_SHIFT) as usize
    }

    #[inline]
    pub(crate) fn alloc_bit(&self, i: usize) -> bool {
        self.alloc_bits[i / 64].load(Ordering::Relaxed) >> (i % 64) & 1 != 0
    }

    /// Allocated (or quarantined): below the cursor, or kept by the last sweep.
    #[inline]
    pub(crate) fn is_allocated(&self, i: usize) -> bool {
        i < self.freeindex.get() || self.alloc_bit(i)
    }

    /// Go's nextFreeFast: the next free slot from the cached bits, or None when the
    /// cached word is used up (then [`Span::next_free`]).
    #[inline(always)]
    pub(crate) fn next_free_fast(&self) -> Option<usize> {
        let cache = self.alloc_cache.get();
        let bit = cache.trailing_zeros() as usize;
        if bit < 64 {
            let idx = self.freeindex.get() + bit;
            if idx < self.nelems.get() {
                let next = idx + 1;
                if !next.is_multiple_of(64) || next == self.nelems.get() {
                    self.alloc_cache.set(cache >> bit >> 1);
                    self.freeindex.set(next);
                    return Some(idx);
                }
            }
        }
        None
    }

    /// The next free slot at or after `freeindex`, refilling `alloc_cache`; None when
    /// the span is full.
    pub(crate) fn next_free(&self) -> Option<usize> {
        let n = self.nelems.get();
        loop {
            if let Some(i) = self.next_free_fast() {
                return Some(i);
            }
            let cache = self.alloc_cache.get();
            let fi = self.freeindex.get();
            if fi >= n {
                return None;
            }
            if cache != 0 {
                // The free bit is the last one of its word: take it by hand.
                let idx = fi + cache.trailing_zeros() as usize;
                if idx < n {
                    self.freeindex.set(idx + 1);
                    self.refill_cache(idx + 1);
                    return Some(idx);
                }
                self.freeindex.set(n);
                return None;
            }
            // Word used up: go to the next one.
            let next = (fi / 64 + 1) * 64;
            if next >= n {
                self.freeindex.set(n);
                return None;
            }
            self.freeindex.set(next);
            self.refill_cache(next);
        }
    }

    /// Loads the inverted alloc bits from `from` (== freeindex) to the end of its word.
    fn refill_cache(&self, from: usize) {
        if from >= self.nelems.get() {
            self.alloc_cache.set(0);
            return;
        }
        let w = self.alloc_bits[from / 64].load(Ordering::Relaxed);
        self.alloc_cache.set(!w >> (from % 64));
    }

    /// Objects allocated, counting the cursor: valid for the span's owner.
    pub(crate) fn count_allocated(&self) -> usize {
        let fi = self.freeindex.get();
        let mut c = 0;
        for w in 0..BIT_WORDS {
            let lo = w * 64;
            if lo >= self.nelems.get() {
                break;
            }
            let bits = self.alloc_bits[w].load(Ordering::Relaxed);
            let below = if fi >= lo + 64 {
                !0u64
            } else if fi <= lo {
                0
            } else {
                (1u64 << (fi - lo)) - 1
            };
            c += (bits | below).count_ones() as usize;
        }
        c
    }

    /// Sets mark bit `i`; true if it was clear. A plain load first: an object already
    /// marked (reached again) costs no locked instruction and leaves the line shared
    /// between the markers' caches.
    #[inline]
    pub(crate) fn try_mark(&self, i: usize) -> bool {
        let bit = 1u64 << (i % 64);
        let word = &self.mark_bits[i / 64];
        word.load(Ordering::Relaxed) & bit == 0 && word.fetch_or(bit, Ordering::Relaxed) & bit == 0
    }

    pub(crate) fn is_marked(&self, i: usize) -> bool {
        self.mark_bits[i / 64].load(Ordering::Relaxed) >> (i % 64) & 1 != 0
    }
}

/// An intrusive doubly-linked list of spans. Its owner's lock protects it and the
/// `next`/`prev` fields of its members.
pub(crate) struct SpanList {
    head: *mut Span,
    pub len: usize,
}

// SAFETY: only used behind the lock that owns it.
unsafe impl Send for SpanList {}

impl SpanList {
    pub(crate) const fn new() -> SpanList {
        SpanList { head: ptr::null_mut(), len: 0 }
    }
    pub(crate) fn head(&self) -> *mut Span {
        self.head
    }
    pub(crate) fn push(&mut self, s: &Span) {
        let sp = s as *const Span as *mut Span;
        s.prev.set(ptr::null_mut());
        s.next.set(self.head);
        // SAFETY: list members are live spans owned through this list.
        if let Some(h) = unsafe { self.head.as_ref() } {
            h.prev.set(sp);
        }
        self.head = sp;
        self.len += 1;
    }
    pub(crate) fn remove(&mut self, s: &Span) {
        let (p, n) = (s.prev.get(), s.next.get());
        // SAFETY: neighbours are members of this list.
        match unsafe { p.as_ref() } {
            Some(p) => p.next.set(n),
            None => {
                debug_assert_eq!(self.head, s as *const Span as *mut Span);
                self.head = n;
            }
        }
        // SAFETY: as above.
        if let Some(n) = unsafe { n.as_ref() } {
            n.prev.set(p);
        }
        s.next.set(ptr::null_mut());
        s.prev.set(ptr::null_mut());
        self.len -= 1;
    }
    pub(crate) fn pop(&mut self) -> Option<&'static Span> {
        // SAFETY: spans are never freed (they return to the slab).
        let s = unsafe { self.head.as_ref() }?;
        self.remove(s);
        Some(s)
    }
}
