//! The per-P cache, the central lists, sweeping: the small-object paths of the heap.

use super::Heap;
use super::sizeclass::{BIT_WORDS, CLASSES, NUM_CLASSES};
use super::span::{Span, SpanList};
use std::ptr;
use std::sync::atomic::Ordering;

/// Span classes: (size class, noscan) pairs; scan and noscan objects never share a span,
/// so the marker skips noscan spans without looking at any bitmap.
pub(crate) const NUM_SPAN_CLASSES: usize = NUM_CLASSES * 2;

#[inline]
pub(crate) fn span_class(class: usize, noscan: bool) -> usize {
    class << 1 | noscan as usize
}

/// A span with no free slot and no objects: every empty cache entry points at it, so the
/// fast path needs no null check (Go's `emptymspan`). Never written.
pub(crate) static EMPTY_SPAN: Span = Span::empty();

/// A cache of one span per span class to allocate from without locks. Owned by a P
/// (field `heap_cache`, used only by the P's owner) or by the heap's shared cache (under
/// its lock).
pub(crate) struct Cache {
    pub(super) spans: [*const Span; NUM_SPAN_CLASSES],
}

// SAFETY: the spans a cache points to belong to the cache's owner (see `Span`); moving
// the cache moves that ownership.
unsafe impl Send for Cache {}

impl Cache {
    pub(crate) const fn new() -> Cache {
        Cache { spans: [&raw const EMPTY_SPAN; NUM_SPAN_CLASSES] }
    }
}

impl Default for Cache {
    fn default() -> Cache {
        Cache::new()
    }
}

/// The spans of one span class that are in no cache, split by whether they are swept in
/// the current cycle: `lists[sweepgen / 2 % 2]` are swept, the other pair unswept, so a
/// new cycle makes every span unswept by bumping the sweep generation (Go's trick).
pub(crate) struct Central {
    pub partial: [SpanList; 2],
    pub full: [SpanList; 2],
}

impl Central {
    pub(crate) const fn new() -> Central {
        Central { partial: [SpanList::new(), SpanList::new()], full: [SpanList::new(), SpanList::new()] }
    }
}

/// Index of the swept lists for sweep generation `sg`.
#[inline]
pub(crate) fn swept_index(sg: u32) -> usize {
    (sg / 2 % 2) as usize
}

impl Heap {
    /// The cache's span for `sc` is full: hand it back and take one with free slots.
    /// Returns the span and the slot taken, and whether the pacer's trigger was crossed.
    #[inline(never)]
    pub(super) fn next_free_slow(&self, cache: &mut Cache, sc: usize) -> Option<(&'static Span, usize, bool)> {
        // SAFETY: cache entries are EMPTY_SPAN or live spans owned by this cache.
        let cur = unsafe { &*cache.spans[sc] };
        if let Some(i) = cur.next_free() {
            // SAFETY: as above; not EMPTY_SPAN (it has no free slot).
            return Some((unsafe { &*cache.spans[sc] }, i, false));
        }
        if !ptr::eq(cur, &EMPTY_SPAN) {
            cache.spans[sc] = &raw const EMPTY_SPAN;
            // SAFETY: a live span from the slab (only EMPTY_SPAN is static).
            self.uncache(unsafe { &*(cur as *const Span) }, sc);
        }
        let s = self.cache_span(sc)?;
        let free = s.nelems.get() - s.alloc_count.get();
        self.live.fetch_add((free * s.elem_size.get()) as i64, Ordering::Relaxed);
        self.credit_mark_debt((free * s.elem_size.get()) as u64);
        cache.spans[sc] = s;
        let i = s.next_free().expect("a cached span has a free slot");
        Some((s, i, self.crossed_trigger()))
    }

    /// A span leaves a cache: count what was allocated from it, put it on its list.
    pub(super) fn uncache(&self, s: &'static Span, sc: usize) {
        let count = s.count_allocated();
        let size = s.elem_size.get();
        assert!(count >= s.alloc_count.get(), "heap: a cached span lost objects");
        let new = count - s.alloc_count.get();
        self.mallocs.fetch_add(new as u64, Ordering::Relaxed);
        self.total_alloc.fetch_add((new * size) as u64, Ordering::Relaxed);
        self.heap_alloc.fetch_add((new * size) as u64, Ordering::Relaxed);
        // It was counted live as if full when cached.
        self.live.fetch_sub(((s.nelems.get() - count) * size) as i64, Ordering::Relaxed);
        s.alloc_count.set(count);
        let swept = swept_index(self.sweepgen.load(Ordering::Relaxed));
        let mut c = self.central[sc].lock();
        if count < s.nelems.get() {
            c.partial[swept].push(s);
        } else {
            c.full[swept].push(s);
        }
    }

    /// Hands every span of `cache` back (a P's cache before marking, a thread's cache
    /// in tests).
    pub(crate) fn flush(&self, cache: &mut Cache) {
        for sc in 0..NUM_SPAN_CLASSES {
            let s = cache.spans[sc];
            if !ptr::eq(s, &EMPTY_SPAN) {
                cache.spans[sc] = &raw const EMPTY_SPAN;
                // SAFETY: a live slab span owned by this cache.
                self.uncache(unsafe { &*s }, sc);
            }
        }
    }

    /// A swept span of class `sc` with a free slot, out of every list: a swept partial
    /// span, else one swept now (at most a bounded number, Go's spanBudget), else a new
    /// span from the page heap.
    fn cache_span(&self, sc: usize) -> Option<&'static Span> {
        let sg = self.sweepgen.load(Ordering::Acquire);
        let swept = swept_index(sg);
        if let Some(s) = self.central[sc].lock().partial[swept].pop() {
            return Some(s);
        }
        for _ in 0..100 {
            let s = {
                let mut c = self.central[sc].lock();
                c.partial[swept ^ 1].pop().or_else(|| c.full[swept ^ 1].pop())
            };
            let Some(s) = s else { break };
            if self.sweep_span(s) < s.nelems.get() {
                return Some(s);
            }
            self.central[sc].lock().full[swept].push(s);
        }
        let class = sc >> 1;
        let (s, needzero) = {
            let mut ph = self.pages.lock();
            let r = ph.alloc(CLASSES[class].pages, false);
            self.sync_page_stats(&ph);
            r?
        };
        s.init_objects(class, sc & 1 != 0, needzero, sg);
        Some(s)
    }

    /// Sweeps a span its caller owns (popped from an unswept list): what is allocated
    /// and unmarked is freed (in poison mode: filled with the pattern and kept one more
    /// cycle), the mark bits become the alloc bits, and the mark bits are cleared.
    /// Returns the objects still allocated.
    pub(super) fn sweep_span(&self, s: &Span) -> usize {
        let n = s.nelems.get();
        let fi = s.freeindex.get();
        let size = s.elem_size.get();
        let poison = self.poison.load(Ordering::Relaxed);
        let mut freed = 0usize;
        let mut count = 0usize;
        for w in 0..BIT_WORDS {
            let lo = w * 64;
            if lo >= n {
                break;
            }
            let below = if fi >= lo + 64 {
                !0u64
            } else if fi <= lo {
                0
            } else {
                (1u64 << (fi - lo)) - 1
            };
            let alloc = s.alloc_bits[w].load(Ordering::Relaxed) | below;
            let mark = s.mark_bits[w].load(Ordering::Relaxed);
            debug_assert_eq!(mark & !alloc, 0, "marked object that is not allocated");
            if crate::mem::valgrind::on_valgrind() {
                // Freed now (in poison mode: poisoned now, reused a cycle later).
                let q = if poison { s.quarantine[w].get() } else { 0 };
                let mut d = alloc & !mark & !q;
                while d != 0 {
                    let i = lo + d.trailing_zeros() as usize;
                    d &= d - 1;
                    if poison {
                        // SAFETY: as below: the slot is unreachable and the sweeper's.
                        unsafe { ptr::write_bytes((s.start.get() + i * size) as *mut u8, super::POISON_BYTE, size) };
                    }
                    crate::mem::valgrind::freelike_block(s.start.get() + i * size);
                }
            }
            let new_alloc = if poison {
                let q = s.quarantine[w].get();
                let dying = alloc & !mark & !q;
                // (Under valgrind they were poisoned and declared free above.)
                let mut d = if crate::mem::valgrind::on_valgrind() { 0 } else { dying };
                while d != 0 {
                    let i = lo + d.trailing_zeros() as usize;
                    d &= d - 1;
                    // SAFETY: slot i of this span: unreachable (unmarked), owned by the
                    // sweeper; nobody may read it any more.
                    unsafe { ptr::write_bytes((s.start.get() + i * size) as *mut u8, super::POISON_BYTE, size) };
                }
                freed += dying.count_ones() as usize;
                s.quarantine[w].set(dying | (q & mark));
                mark | dying
            } else {
                freed += (alloc & !mark).count_ones() as usize;
                mark
            };
            count += new_alloc.count_ones() as usize;
            s.alloc_bits[w].store(new_alloc, Ordering::Relaxed);
            s.mark_bits[w].store(0, Ordering::Relaxed);
        }
        if freed > 0 {
            s.needzero.set(true);
            self.frees.fetch_add(freed as u64, Ordering::Relaxed);
            self.heap_alloc.fetch_sub((freed * size) as u64, Ordering::Relaxed);
        }
        s.freeindex.set(0);
        s.alloc_cache.set(!s.alloc_bits[0].load(Ordering::Relaxed));
        s.alloc_count.set(count);
        s.sweepgen.store(self.sweepgen.load(Ordering::Relaxed), Ordering::Release);
        count
    }
}
