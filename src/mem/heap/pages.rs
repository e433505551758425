//! The page heap: free page runs of all arenas, handed out as spans and taken back,
//! coalesced with their neighbours; the span slab; releasing free pages to the OS.

use super::arena::{self, ARENA, ArenaMeta, PAGES_PER_ARENA, arena_of, page_bits_count, page_bits_update};
use super::sizeclass::{PAGE, PAGE_SHIFT};
use super::span::{Span, SpanList, state};
use std::ptr;

/// Runs of up to this many pages sit in exact-size lists; longer ones in one list.
const EXACT: usize = 128;

pub(crate) struct PageHeap {
    /// Identifies the heap that owns an arena (several heaps exist in unit tests).
    pub owner: usize,
    /// `exact[n]`: free runs of exactly n pages (n in 1..=EXACT).
    exact: [SpanList; EXACT + 1],
    /// Free runs of more than EXACT pages.
    long: SpanList,
    /// Span slab: unused span structs (linked by `next`) and the rest of the current chunk.
    slab_free: *mut Span,
    slab_cur: usize,
    slab_end: usize,
    /// Every arena of this heap, oldest first (a fixed-size chain would do; a Vec is
    /// touched only when the heap grows, never with the world stopped).
    pub arenas: Vec<&'static ArenaMeta>,
    /// Pages in free runs, and how many of them are released to the OS.
    pub free_pages: usize,
    pub released_pages: usize,
    /// Bytes of arena address space (Go's HeapSys).
    pub sys_bytes: usize,
    /// Bytes of span structs and arena metadata touched (for `sys`).
    pub meta_bytes: usize,
    /// The scavenger's round: a free run remembers the round it was freed in.
    pub round: u32,
}

// SAFETY: the raw pointers are to spans and slab memory owned by this page heap, used
// only under its lock.
unsafe impl Send for PageHeap {}

/// Calls `f(arena, first page index, count)` for each arena piece of [start, start+n pages).
fn for_each_piece(start: usize, npages: usize, mut f: impl FnMut(&'static ArenaMeta, usize, usize)) {
    let mut addr = start;
    let end = start + (npages << PAGE_SHIFT);
    while addr < end {
        let a = arena_of(addr).expect("page heap run outside the arenas");
        let piece_end = end.min(a.base + ARENA);
        f(a, a.page_index(addr), (piece_end - addr) >> PAGE_SHIFT);
        addr = piece_end;
    }
}

pub(crate) fn set_spans(start: usize, npages: usize, s: *mut Span) {
    for_each_piece(start, npages, |a, first, n| a.set_spans(a.base + (first << PAGE_SHIFT), n, s));
}

/// The page's released/dirty bits: (released count, dirty count) in the run, after
/// applying `f`.
fn update_bits(start: usize, npages: usize, released: Option<bool>, dirty: Option<bool>) -> (usize, usize) {
    let (mut r, mut d) = (0, 0);
    for_each_piece(start, npages, |a, first, n| {
        r += match released {
            Some(set) => page_bits_update(&a.released, first, n, set),
            None => page_bits_count(&a.released, first, n),
        };
        d += match dirty {
            Some(set) => page_bits_update(&a.dirty, first, n, set),
            None => page_bits_count(&a.dirty, first, n),
        };
    });
    (r, d)
}

fn blacklisted(page_addr: usize) -> bool {
    arena_of(page_addr).is_some_and(|a| a.is_blacklisted(a.page_index(page_addr)))
}

impl PageHeap {
    pub(crate) const fn new(owner: usize) -> PageHeap {
        PageHeap {
            owner,
            exact: [const { SpanList::new() }; EXACT + 1],
            long: SpanList::new(),
            slab_free: ptr::null_mut(),
            slab_cur: 0,
            slab_end: 0,
            arenas: Vec::new(),
            free_pages: 0,
            released_pages: 0,
            sys_bytes: 0,
            meta_bytes: 0,
            round: 1,
        }
    }

    fn list_for(&mut self, npages: usize) -> &mut SpanList {
        if npages <= EXACT { &mut self.exact[npages] } else { &mut self.long }
    }

    /// A span struct from the slab (None if the OS refuses memory for a new chunk).
    fn new_span(&mut self) -> Option<&'static Span> {
        // SAFETY: slab entries are live span structs, never unmapped.
        if let Some(s) = unsafe { self.slab_free.as_ref() } {
            self.slab_free = s.next.get();
            s.next.set(ptr::null_mut());
            return Some(s);
        }
        let sz = size_of::<Span>().next_multiple_of(align_of::<Span>());
        if self.slab_cur + sz > self.slab_end {
            const CHUNK: usize = 256 * 1024;
            let p = arena::os_reserve(CHUNK)? as usize;
            self.slab_cur = p;
            self.slab_end = p + CHUNK;
            self.meta_bytes += CHUNK;
        }
        let p = self.slab_cur as *mut Span;
        self.slab_cur += sz;
        // SAFETY: unused, aligned slab memory of Span's size; mmap'd memory is aligned
        // to pages and `sz` keeps the alignment.
        unsafe { p.write(Span::empty()) };
        // SAFETY: just initialised; slab memory is never freed.
        Some(unsafe { &*p })
    }

    fn free_span_struct(&mut self, s: &Span) {
        s.state.store(state::UNUSED, std::sync::atomic::Ordering::Release);
        s.next.set(self.slab_free);
        self.slab_free = s as *const Span as *mut Span;
    }

    /// Adds `n` fresh arenas (contiguous) to the heap as one free run.
    fn grow(&mut self, npages: usize) -> bool {
        let count = (npages << PAGE_SHIFT).div_ceil(ARENA);
        let Some(metas) = arena::new_arenas(count, self.owner) else { return false };
        let base = metas[0].base;
        self.meta_bytes += count * 64 * 1024; // span table and page bits, roughly what is touched
        self.sys_bytes += count * ARENA;
        self.free_pages += count * PAGES_PER_ARENA;
        self.arenas.extend_from_slice(&metas);
        let Some(s) = self.new_span() else { return false };
        s.start.set(base);
        s.npages.set(count * PAGES_PER_ARENA);
        // Fresh pages are zero and cost nothing until touched: count them released, as
        // Go does.
        update_bits(base, count * PAGES_PER_ARENA, Some(true), None);
        self.released_pages += count * PAGES_PER_ARENA;
        self.insert_free(s, 0);
        true
    }

    /// Puts a free run into the lists, merging it with free neighbours of the same heap.
    fn insert_free(&mut self, s: &'static Span, round: u32) {
        let mut round = round;
        // Previous neighbour.
        if let Some(a) = arena_of(s.start.get().wrapping_sub(1)).filter(|a| a.owner == self.owner) {
            // SAFETY: span structs are never unmapped.
            if let Some(p) = unsafe { a.span_at(s.start.get() - 1).as_ref() }
                && p.state.load(std::sync::atomic::Ordering::Relaxed) == state::FREE
                && p.end() == s.start.get()
            {
                self.list_for(p.npages.get()).remove(p);
                s.start.set(p.start.get());
                s.npages.set(s.npages.get() + p.npages.get());
                round = round.max(p.free_round.get());
                self.free_span_struct(p);
            }
        }
        if let Some(a) = arena_of(s.end()).filter(|a| a.owner == self.owner) {
            // SAFETY: as above.
            if let Some(n) = unsafe { a.span_at(s.end()).as_ref() }
                && n.state.load(std::sync::atomic::Ordering::Relaxed) == state::FREE
                && n.start.get() == s.end()
            {
                self.list_for(n.npages.get()).remove(n);
                s.npages.set(s.npages.get() + n.npages.get());
                round = round.max(n.free_round.get());
                self.free_span_struct(n);
            }
        }
        s.free_round.set(round);
        s.state.store(state::FREE, std::sync::atomic::Ordering::Release);
        set_span_end_pages(s, s as *const Span as *mut Span);
        let n = s.npages.get();
        self.list_for(n).push(s);
    }

    /// The first offset in free run `s` where `npages` pages without blacklisted pages
    /// start.
    fn clean_offset(s: &Span, npages: usize) -> Option<usize> {
        let mut clean = 0;
        for i in 0..s.npages.get() {
            if blacklisted(s.start.get() + (i << PAGE_SHIFT)) {
                clean = 0;
            } else {
                clean += 1;
                if clean == npages {
                    return Some(i + 1 - npages);
                }
            }
        }
        None
    }

    /// A free run with room for `npages` (at the returned offset): best fit among the
    /// lists; with `avoid_black`, only clean windows.
    fn find(&mut self, npages: usize, avoid_black: bool) -> Option<(&'static Span, usize)> {
        for n in npages..=EXACT {
            let mut p = self.exact[n].head();
            // SAFETY: list members are live span structs.
            while let Some(s) = unsafe { p.as_ref() } {
                if !avoid_black {
                    return Some((s, 0));
                }
                if let Some(off) = Self::clean_offset(s, npages) {
                    return Some((s, off));
                }
                p = s.next.get();
            }
        }
        let mut best: Option<(&'static Span, usize)> = None;
        let mut p = self.long.head();
        // SAFETY: as above.
        while let Some(s) = unsafe { p.as_ref() } {
            p = s.next.get();
            if s.npages.get() < npages || best.is_some_and(|(b, _)| b.npages.get() <= s.npages.get()) {
                continue;
            }
            let off = if avoid_black { Self::clean_offset(s, npages) } else { Some(0) };
            if let Some(off) = off {
                best = Some((s, off));
            }
        }
        best
    }

    /// Allocates a span of `npages` pages. Returns it (state CLAIMED, spans table set,
    /// dirty bits set) and whether its memory may hold old bytes (needs zeroing).
    /// `avoid_black`: large objects stay off blacklisted pages if at all possible.
    pub(crate) fn alloc(&mut self, npages: usize, avoid_black: bool) -> Option<(&'static Span, bool)> {
        debug_assert!(npages > 0);
        let found = self.find(npages, avoid_black).or_else(|| {
            if !self.grow(npages) {
                return None;
            }
            self.find(npages, avoid_black)
        });
        let (s, off) = match found {
            Some(f) => f,
            // Every candidate has blacklisted pages: use one anyway (Boehm does the same
            // after a while), rather than grow without bound.
            None if avoid_black => self.find(npages, false)?,
            None => return None,
        };
        assert_eq!(s.state.load(std::sync::atomic::Ordering::Relaxed), state::FREE, "page heap: run not free");
        // The span structs for the pieces left over, before anything changes (so running
        // out of memory for them leaves the run as it was).
        let pre = if off > 0 { Some(self.new_span()?) } else { None };
        let post = if s.npages.get() > off + npages {
            match self.new_span() {
                Some(p) => Some(p),
                None => {
                    if let Some(p) = pre {
                        self.free_span_struct(p);
                    }
                    return None;
                }
            }
        } else {
            None
        };
        self.list_for(s.npages.get()).remove(s);
        let round = s.free_round.get();
        // Split off the pages before and after the window into free runs of their own.
        if let Some(pre) = pre {
            pre.start.set(s.start.get());
            pre.npages.set(off);
            s.start.set(s.start.get() + (off << PAGE_SHIFT));
            s.npages.set(s.npages.get() - off);
            self.insert_free_split(pre, round);
        }
        if let Some(post) = post {
            post.start.set(s.start.get() + (npages << PAGE_SHIFT));
            post.npages.set(s.npages.get() - npages);
            s.npages.set(npages);
            self.insert_free_split(post, round);
        }
        let (released, dirty) = update_bits(s.start.get(), npages, Some(false), Some(true));
        self.released_pages -= released;
        self.free_pages -= npages;
        set_spans(s.start.get(), npages, s as *const Span as *mut Span);
        // Invariant: every span whose state reads FREE under this lock is on one of our
        // lists. The caller sets the span up (init_objects) only after it dropped the
        // lock; had the span stayed FREE until then, a `free` of a neighbouring span in
        // that window would "merge" it: remove it from a list it is not on (corrupting
        // that list), absorb its pages into a free run and recycle its struct, while the
        // caller goes on carving objects out of those pages — the same memory handed out
        // twice. CLAIMED, stored before the lock is released, closes that window.
        s.state.store(state::CLAIMED, std::sync::atomic::Ordering::Release);
        Some((s, dirty > 0))
    }

    /// A split-off piece goes back to the lists without merging (its neighbours are the
    /// allocated window and whatever bordered the old run, which was not free).
    fn insert_free_split(&mut self, s: &'static Span, round: u32) {
        s.free_round.set(round);
        s.state.store(state::FREE, std::sync::atomic::Ordering::Release);
        let sp = s as *const Span as *mut Span;
        set_span_end_pages(s, sp);
        let n = s.npages.get();
        self.list_for(n).push(s);
    }

    /// Takes back an in-use span's pages.
    pub(crate) fn free(&mut self, s: &'static Span) {
        let st = s.state.load(std::sync::atomic::Ordering::Relaxed);
        assert!(st == state::SMALL || st == state::LARGE, "page heap: freeing a span not in use ({st})");
        let n = s.npages.get();
        self.free_pages += n;
        let round = self.round;
        self.insert_free(s, round);
    }

    /// Takes up to `max` free runs that hold unreleased pages inside whole OS pages
    /// (freed before round `before`, if given) out of the lists for the scavenger: state
    /// SCAVENGING. `os_page` is a multiple of PAGE; see [`releasable`].
    pub(crate) fn take_for_scavenge(
        &mut self,
        before: Option<u32>,
        os_page: usize,
        max: usize,
        out: &mut Vec<&'static Span>,
    ) {
        let take = |list: &mut SpanList, out: &mut Vec<&'static Span>| {
            let mut p = list.head();
            // SAFETY: list members are live span structs.
            while let Some(s) = unsafe { p.as_ref() } {
                p = s.next.get();
                if out.len() >= max {
                    return;
                }
                if before.is_some_and(|r| s.free_round.get() >= r) {
                    continue;
                }
                let (lo, hi) = releasable(s, os_page);
                if hi <= lo {
                    continue;
                }
                let (released, _) = update_bits(lo, (hi - lo) >> PAGE_SHIFT, None, None);
                if released < (hi - lo) >> PAGE_SHIFT {
                    list.remove(s);
                    s.state.store(state::SCAVENGING, std::sync::atomic::Ordering::Release);
                    out.push(s);
                }
            }
        };
        for n in 1..=EXACT {
            take(&mut self.exact[n], out);
        }
        take(&mut self.long, out);
    }

    /// Returns a run taken by [`Self::take_for_scavenge`], its pages in
    /// `[rel_start, rel_end)` now released. Returns the pages newly released.
    pub(crate) fn return_scavenged(&mut self, s: &'static Span, rel_start: usize, rel_end: usize) -> usize {
        let mut newly = 0;
        if rel_end > rel_start {
            let n = (rel_end - rel_start) >> PAGE_SHIFT;
            let (was, _) = update_bits(rel_start, n, Some(true), Some(false));
            newly = n - was;
            self.released_pages += newly;
        }
        let round = s.free_round.get();
        self.insert_free(s, round);
        newly
    }
}

/// The part of a free run that `madvise` can release: whole OS pages inside it.
pub(crate) fn releasable(s: &Span, os_page: usize) -> (usize, usize) {
    (s.start.get().next_multiple_of(os_page), s.end() & !(os_page - 1))
}

fn set_span_end_pages(s: &Span, sp: *mut Span) {
    let first = s.start.get();
    let last = s.end() - PAGE;
    for addr in [first, last] {
        let a = arena_of(addr).expect("free run outside the arenas");
        a.spans[a.page_index(addr)].store(sp, std::sync::atomic::Ordering::Release);
    }
}

#[cfg(any(debug_assertions, test))]
impl PageHeap {
    /// Checks the free lists: every run is FREE, in the right list, its end pages point
    /// at it, no two runs touch, and the page counters add up.
    pub(crate) fn check(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let mut free = 0;
        let mut released = 0;
        let mut check_list = |list: &SpanList, exact: Option<usize>| {
            let mut p = list.head();
            let mut len = 0;
            // SAFETY: list members are live span structs.
            while let Some(s) = unsafe { p.as_ref() } {
                len += 1;
                assert_eq!(s.state.load(Relaxed), state::FREE);
                match exact {
                    Some(n) => assert_eq!(s.npages.get(), n),
                    None => assert!(s.npages.get() > EXACT),
                }
                let sp = s as *const Span as *mut Span;
                for addr in [s.start.get(), s.end() - PAGE] {
                    assert_eq!(arena_of(addr).unwrap().span_at(addr), sp, "free run end page");
                }
                for addr in [s.start.get().wrapping_sub(1), s.end()] {
                    if let Some(a) = arena_of(addr).filter(|a| a.owner == self.owner) {
                        // SAFETY: span structs are never unmapped.
                        if let Some(n) = unsafe { a.span_at(addr).as_ref() } {
                            let touching = n.start.get() <= addr && addr < n.end();
                            assert!(!(touching && n.state.load(Relaxed) == state::FREE), "adjacent free runs");
                        }
                    }
                }
                free += s.npages.get();
                released += update_bits(s.start.get(), s.npages.get(), None, None).0;
                p = s.next.get();
            }
            assert_eq!(len, list.len);
        };
        for n in 1..=EXACT {
            check_list(&self.exact[n], Some(n));
        }
        check_list(&self.long, None);
        assert_eq!(free, self.free_pages, "free page count");
        assert_eq!(released, self.released_pages, "released page count");
    }
}
