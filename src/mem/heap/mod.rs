//! The garbage-collected heap's allocator: where objects live, how they are found from
//! any address, and how their memory comes back after the collector (`src/gc`) marked
//! what is alive.
//!
//! # Concepts
//! - **Page**: 8 KiB, the page heap's unit. **Span**: a run of pages holding objects of
//!   one *size class* (72 small classes, 16 B to 32 KiB, all multiples of 16 so objects are
//!   aligned like `malloc`'s), or one *large* object (> 32 KiB) alone.
//! - **Span class**: (size class, noscan). Objects without pointers never share a span
//!   with objects that have some, so the marker never reads a bitmap for them.
//! - **Arena**: 64 MiB of address space aligned to 64 MiB, one `MAP_NORESERVE` mapping
//!   (memory is committed by the kernel on first touch; nothing is ever `mprotect`ed, so
//!   the heap costs one VMA per arena, far below `vm.max_map_count`). Each arena has
//!   metadata in its own mapping: the span of each page, a pointer bitmap (one bit per
//!   heap word), and per-page bits (blacklisted, released, dirty).
//! - **Index**: a two-level table from address bits 47..26 to the arena's metadata.
//!
//! # Layers, from the fast path down
//! 1. **Fast path** ([`Heap::alloc_with_cache`]): the cache's span for the span class;
//!    the next free slot is a count-trailing-zeros of a 64-bit word of inverted alloc
//!    bits (`alloc_cache`), then a shift and a store of the cursor. Zeroing only if the
//!    span's memory was used before (`needzero`: pages fresh from the OS or released
//!    with `MADV_DONTNEED` are already zero), by four overlapping 16-byte stores for
//!    slots up to 64 bytes (no `memset` call, no branch on the size); for scan objects
//!    one or two stores into the pointer bitmap (of the arena the span remembers) from
//!    the type's precomputed word mask. No lock, no atomic
//!    read-modify-write, no division.
//! 2. **Cache** ([`Cache`]): one span per span class. A P's cache is a field of the P
//!    (`P::heap_cache`), used only by the thread that owns the P *RUNNING*. A goroutine
//!    in user code holds its P as USER, which sysmon or stop-the-world may take away at
//!    any moment: it raises a flag around the allocation (an asymmetric Dekker handshake
//!    with whoever takes the P, no atomic read-modify-write: "Allocating under a USER P",
//!    below), or, where `membarrier(2)` is unavailable, moves the P USER → RUNNING and
//!    back with a CAS. A caller already holding it RUNNING (inside the runtime, on g0)
//!    needs neither. Threads with no P (foreign threads, goroutines in blocking regions
//!    whose P is SYSCALL) share one cache behind a lock (the *gate*, below).
//! 3. **Central** ([`cache::Central`]): per span class, the spans in no cache, on partial
//!    and full lists, each split in swept and unswept halves by sweep generation.
//!    Refilling a cache takes a swept partial span, else sweeps unswept spans (at most
//!    100), else asks the page heap for a new span.
//! 4. **Page heap** ([`pages::PageHeap`]): free page runs in exact-size lists (1..128
//!    pages) and one list of longer runs; best fit; a freed run merges with free
//!    neighbours found through the span table. Large objects avoid blacklisted pages.
//!    Span structs come from a slab of `mmap`ed chunks (never from `malloc`: the heap must
//!    work with the world stopped, when a suspended thread may hold malloc's lock).
//! 5. **Arenas / OS** ([`arena`]): new arenas when no run fits; `MADV_DONTNEED` on whole
//!    free pages returns memory (the scavenger, [`release_free_memory`]).
//!
//! # Invariants
//! For a span `s` of class `c` (small):
//! - `s.nelems = ⌊s.npages·PAGE / size(c)⌋`, `(s.npages·PAGE − s.nelems·size(c)) ≤ s.npages·PAGE / 8`;
//! - object `i` is at `s.start + i·size(c)`, and `i = (off · magic(c)) >> 40` for every
//!   byte offset `off` in the span (exact: checked by a test over every offset);
//! - allocated(i) ⇔ `i < s.freeindex ∨ alloc_bit(i)`; `alloc_cache = ¬alloc_bits[w] >> (freeindex mod 64)`
//!   for the word `w` of `freeindex`;
//! - after a sweep: `alloc_bits = mark_bits(before)`, `mark_bits = 0`, `freeindex = 0`,
//!   `alloc_count = popcount(alloc_bits)`;
//! - a span is in exactly one place: a cache, a central list, the large list, or
//!   (free) the page heap's lists, and `span_table[p] = s` for every page `p` of an
//!   in-use span, and for the first and last page of a free run;
//! - no two free runs of one heap are adjacent (merged on free);
//! - under the page heap's lock, state FREE ⇔ on one of its free lists. A span it hands
//!   out leaves as CLAIMED, set before the lock drops, and becomes SMALL/LARGE when its
//!   new owner has set it up (`init_objects`, outside the lock). It used to leave still
//!   FREE: a sweeper freeing the neighbouring span in that window merged the new
//!   span into its free run (unlinking it from a list it was not on, recycling its
//!   struct) while the allocator carved objects out of the same pages — live objects
//!   overwritten by new ones, "freeing a span not in use", "run not free". It takes a
//!   collection (frees) and allocation on several threads at once, e.g.
//!   `c-tests/test_heap_take_alloc.c`.
//!
//! Accounting (exact when no cache holds a span, e.g. after [`prepare_for_mark`]):
//! `heap_objects = mallocs − frees`, `heap_alloc = Σ slot sizes of allocated objects`,
//! `heap_live = marked bytes at the last finish_mark + bytes allocated since`, where a
//! span counts as wholly allocated from the moment a cache takes it (the pacer sees
//! allocation early, never late) and is corrected when the cache lets it go;
//! `free_pages·PAGE + in-use span bytes = heap_sys`, `released ≤ free_pages`.
//!
//! # Pointer information
//! Small objects: one bit per word in the arena's pointer bitmap, written by the
//! allocating cache for the whole slot (the type's pointer words, repeated for arrays;
//! zero for the rest of the slot). Large objects: the type and element count in the
//! span. The marker walks set bits (small) or the type's offsets per element (large).
//! So [`Obj::type_of`] knows the type of large objects only (Go ≥ 1.22 has the same
//! split at 512 B, with a header word in the object where we keep the span field).
//!
//! # Mark-sweep interface
//! Mark bits are atomic, beside the span (no header word in objects). With the world
//! stopped the collector calls [`prepare_for_mark`] (flush every cache, finish the
//! previous sweep, *allocate black* from now on), marks with [`find_object`] and
//! [`Obj::try_mark`], then [`finish_mark`] (bump the sweep generation: every span is
//! now unswept). Sweeping is lazy: a cache refill sweeps the spans it takes, and a
//! background sweeper calls [`sweep_one`]. Spans in caches are always swept: caches
//! are flushed before the generation moves. For concurrent marking (issue 13) the
//! pieces are there: allocate-black is a flag the fast path reads; a concurrent version
//! would need Go's "cached at generation sg+1/sg+3" states for spans cached during mark.
//!
//! # Allocating under a USER P
//! The two CASes that moved a USER P to RUNNING and back (each a `lock cmpxchg` on the
//! P's status line) showed as ~12% of a profile of a goroutine's small-object allocation
//! loop; against the CAS fallback in the same build, the handshake takes 4-6% off the
//! ns per allocation of the heap_alloc benchmark (collector included).
//! Takers are rare (sysmon, after 10 ms without a scheduling event; stop-the-world), so
//! the cost moves to them (`sched::protocol::heapcache`, `P::wait_heap_cache_owner`).
//! Owner `O` (the goroutine's M, word `w` = the USER status it installed), with its flag
//! `F = M::in_heap_cache` and the P's status word `S`:
//!
//! ```text
//! O1  F := 1                     plain (Relaxed) store
//! O2  compiler fence             keeps O1 before O3 in the instruction stream
//! O3  r := S                     plain load; r != w: F := 0 (Release), use the shared cache
//! O4  use the P's cache          only if r == w
//! O5  F := 0                     Release
//! ```
//! Taker `T` (sysmon's `retake`, `proc::stop_the_world`: every caller of `pstatus::take`
//! that wins on a USER word):
//! ```text
//! T1  CAS S: w -> taken          AcqRel, succeeds
//! T2  membarrier(PRIVATE_EXPEDITED)
//! T3  while F != 0 {}            Acquire loads (P::owner_m names O's M)
//! T4  use the P / hand it on
//! ```
//! `membarrier` returns only after every thread of the process that was running has
//! executed a full barrier `B` (an IPI), and a thread not running has passed through the
//! scheduler, a full barrier too; T1 precedes the syscall (itself a full barrier on T's
//! CPU) and T3 follows it. Where `B` falls in O's instruction stream (O2 keeps O1 and O3
//! in order there; the CPU may still let O3 pass O1 through its store buffer, which is
//! exactly what `B` forbids):
//! - `B` before O1: O3 comes after `B`, and `B` after T1, so O3 reads `taken`: O backs off.
//! - `B` between O1 and O3: O1 is globally visible before T2 returns, so T3 reads F = 1 (or
//!   the later 0 of O5) — and O3 also reads `taken`. Either way T waits or O backs off.
//! - `B` after O3: O1 is visible before T2 returns, so T3 reads 1 until O5.
//!
//! So `¬(O3 reads w ∧ T3 reads the F before O1)`: if O uses the cache (O3 = w), T3 sees
//! O1 and waits for O5; its Acquire load of O5's 0 gives it every write O4 made. If T3
//! reads the initial 0, O3 saw the CAS and O never touches the cache. The loom model
//! (`loom_heapcache_*` in `protocol.rs`) stands a SeqCst fence in for `B` in O's window
//! (the second case; the others need no fence on O's side) and one for T2; without O's
//! fence it finds the two users.
//!
//! The flag is per M, not per P: an old owner that lost its P may still raise its flag
//! (O1) before O3 tells it so, and on a per-P flag its O5 could clear the new owner's. A
//! taker may wait for such a stale owner's flag needlessly, never for long: O1 to O5 is
//! one allocation, which waits for no taker (its slow path takes heap locks only, never
//! the gate: [`p_cache::holds_p_running`] counts a raised flag as RUNNING). Nothing stops
//! the owner's thread by signal between O1 and O5 with its P live: the collector signals
//! threads only after `stop_the_world` returned, i.e. after every take waited. A SYSCALL
//! P needs no wait (the owner never raises its flag there, and its CAS into SYSCALL came
//! after its last O5). `membarrier` is registered once at start
//! (`sched::membarrier::init`); where that fails (kernels before 4.14, seccomp filters)
//! or with `GORT_DEBUG=nomembarrier=1`, owners use the CAS pair and takers skip T2/T3,
//! decided once for the process.
//!
//! # The gate: stopping the world around the heap's locks
//! A thread suspended by signal inside a heap lock would deadlock the collector. Two
//! kinds of thread touch the heap's locks: those holding their P RUNNING (they stop
//! cooperatively, never inside the allocator: they leave it first), and those without a
//! P. The latter hold the *gate* — a reentrant mutex, which is also the lock of the
//! shared cache — for every heap operation (allocation, sweeping, scavenging). The
//! collector takes the gate ([`lock_for_gc`]) before it stops the world and drops it
//! after the restart: then no suspended thread is inside any heap lock. Requirement on
//! the world stopper: a thread whose P is RUNNING is stopped cooperatively, not by
//! signal. The pacer's hook is called after the allocation let go of the P and the
//! gate, so it may stop the world itself.
//!
//! # Poison mode
//! [`set_poison`]: the sweeper fills freed objects with `0xdb` bytes and keeps them
//! allocated (quarantined) for one more cycle, so a dangling pointer from C reads the
//! pattern instead of a new object.
//!
//! # The interface, as built (differences from the plan in gc-interfaces.md)
//! - `finish_mark(marked_bytes)`: the collector passes the bytes it marked (the sum of
//!   `Obj::size` over successful `try_mark`s, summed per worker), which become heap_live;
//!   computing it here would walk every span inside the pause.
//! - `lock_for_gc() -> GcGate`: new, see "The gate". `flush_caches()`: new, for an exact
//!   `stats()` in `gort_read_memstats` (world stopped). `HeapStats::heap_meta`: new
//!   (metadata mappings, for `sys`).
//! - `Obj::type_of` is `Some` for large typed objects only (small ones keep a bitmap).
//! - `TypeError::BadSize`: a type with pointers whose size is not a multiple of 8.
//! - [`Heap`] is a type with one static instance ([`HEAP`]); the free functions act on it,
//!   tests make private heaps.
//! - [`GreyRef`] (added for the marker's speed): an object as one word, base and size
//!   class, so the marker queues it and scans it (pointer bitmap, or for a large object a
//!   lookup) without a second [`find_object`]. `Obj::try_mark` tests the bit with a plain
//!   load before its atomic `or`.
//!
//! # Rejected
//! - A header word per object (type or size): costs 8 bytes per 16-byte object and is
//!   what a conservative scan from C would have to skip; side bitmaps cost 1.6%.
//! - Free lists threaded through free objects (TCMalloc): writes into freed memory and
//!   gives conservative scanning no way to tell free from allocated without bits.
//! - An 8-byte class: it would double the per-span bitmaps (1024 objects per page) and
//!   break 16-byte alignment; Go's tiny allocator for it is not worth the complexity.
//! - Per-thread caches (TCMalloc): a thread blocked in C would strand its cache; a P is
//!   the right to allocate, as in Go.
//! - Reserving arenas `PROT_NONE` and committing with `mprotect`: every commit splits
//!   the mapping (the `vm.max_map_count` trap Boehm and mimalloc fell into).
//! - A type pointer per small object in a side array: simpler marking, but 4-8 bytes per
//!   object (25-50% for the smallest class) against the bitmap's 1.6%.

mod arena;
mod cache;
mod pages;
mod sizeclass;
mod span;
mod types;

#[cfg(test)]
mod tests;

pub(crate) use cache::Cache;
#[allow(unused_imports, reason = "TypeError is used by the collector's C API (src/ffi/heap.rs), next")]
pub(crate) use types::{GcType, TypeError};

use cache::{Central, NUM_SPAN_CLASSES, span_class, swept_index};
use crossbeam_utils::CachePadded;
use pages::PageHeap;
use parking_lot::{Mutex, ReentrantMutex, ReentrantMutexGuard};
use sizeclass::{MAX_SMALL, PAGE, class_of};
use span::{Span, SpanList, state};
use std::cell::RefCell;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// What poison mode writes over freed objects.
pub(crate) const POISON_BYTE: u8 = 0xdb;

/// Largest request served: beyond it the size computations could overflow, and no OS
/// would give that much anyway.
const MAX_ALLOC: usize = 1 << 46;

/// What an allocation holds.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    /// No pointers: never scanned.
    NoScan,
    /// An array of `size / ty.size()` elements of `ty`.
    Typed(&'static GcType),
}

/// A heap. The runtime has one ([`HEAP`]); unit tests make their own so that their
/// collection cycles do not disturb each other.
pub(crate) struct Heap {
    pages: Mutex<PageHeap>,
    central: [CachePadded<Mutex<Central>>; NUM_SPAN_CLASSES],
    /// Large-object spans, swept/unswept halves as in `Central`.
    large: Mutex<[SpanList; 2]>,
    /// The gate (see the module docs) and the cache of threads without a P.
    shared: ReentrantMutex<RefCell<Cache>>,
    /// Sweep generation, +2 per cycle (at finish_mark, world stopped).
    sweepgen: AtomicU32,
    /// No unswept span is left in this generation.
    sweep_done: AtomicBool,
    /// Where sweep_one starts looking (round robin over span classes).
    sweep_cursor: AtomicUsize,
    /// New objects are marked (between prepare_for_mark and finish_mark).
    alloc_black: AtomicBool,
    /// Between prepare_for_mark and finish_mark: do not wake the scavenger (it may start
    /// a thread, and pthread_create may need a lock a suspended thread holds).
    in_gc: AtomicBool,
    poison: AtomicBool,
    /// Blacklist generation: hits go to half `black_gen % 2`; finish_mark ages them.
    black_gen: AtomicUsize,
    // Statistics (atomics: updated on slow paths only).
    heap_alloc: AtomicU64,
    mallocs: AtomicU64,
    frees: AtomicU64,
    total_alloc: AtomicU64,
    /// The pacer's heap_live (signed: the cache correction may run ahead of a reset).
    live: AtomicI64,
    /// `live` when the current mark began (caches flushed): what is allocated past it
    /// during a concurrent mark is black.
    live_at_mark: AtomicI64,
    /// Mirrors of the page heap's counters, written under its lock.
    sys: AtomicU64,
    meta: AtomicU64,
    free_pages: AtomicUsize,
    released_pages: AtomicUsize,
    trigger: AtomicU64,
    trigger_armed: AtomicBool,
    hook: AtomicUsize,
}

/// The runtime's heap.
pub(crate) static HEAP: Heap = Heap::new(1);

thread_local! {
    /// Bytes this thread took for allocation during the current mark and has not yet
    /// paid for with assist work (see `Heap::credit_mark_debt`).
    static MARK_DEBT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Whether arenas made from now on ask for transparent huge pages (the stop-the-world
/// mode marks faster with them; the concurrent mode's pauses are shorter without).
pub(crate) fn set_huge_pages(on: bool) {
    arena::HUGE_PAGES.store(on, Ordering::Relaxed);
}

/// Takes the calling thread's allocation during the mark since the last call (the
/// collector's assists pay for it).
pub(crate) fn take_mark_debt() -> u64 {
    MARK_DEBT.with(|d| d.replace(0))
}

/// The address of every zero-size allocation (Go's `zerobase`).
static ZEROBASE: u64 = 0;

impl Heap {
    pub(crate) const fn new(id: usize) -> Heap {
        Heap {
            pages: Mutex::new(PageHeap::new(id)),
            central: [const { CachePadded::new(Mutex::new(Central::new())) }; NUM_SPAN_CLASSES],
            large: Mutex::new([SpanList::new(), SpanList::new()]),
            shared: ReentrantMutex::new(RefCell::new(Cache::new())),
            sweepgen: AtomicU32::new(2),
            sweep_done: AtomicBool::new(true),
            sweep_cursor: AtomicUsize::new(0),
            alloc_black: AtomicBool::new(false),
            in_gc: AtomicBool::new(false),
            poison: AtomicBool::new(false),
            black_gen: AtomicUsize::new(0),
            heap_alloc: AtomicU64::new(0),
            mallocs: AtomicU64::new(0),
            frees: AtomicU64::new(0),
            total_alloc: AtomicU64::new(0),
            live: AtomicI64::new(0),
            live_at_mark: AtomicI64::new(0),
            sys: AtomicU64::new(0),
            meta: AtomicU64::new(0),
            free_pages: AtomicUsize::new(0),
            released_pages: AtomicUsize::new(0),
            trigger: AtomicU64::new(u64::MAX),
            trigger_armed: AtomicBool::new(false),
            hook: AtomicUsize::new(0),
        }
    }

    fn is_runtime_heap(&self) -> bool {
        ptr::eq(self, &HEAP)
    }

    fn sync_page_stats(&self, ph: &PageHeap) {
        self.sys.store(ph.sys_bytes as u64, Ordering::Relaxed);
        self.meta.store(ph.meta_bytes as u64, Ordering::Relaxed);
        self.free_pages.store(ph.free_pages, Ordering::Relaxed);
        self.released_pages.store(ph.released_pages, Ordering::Relaxed);
    }

    /// True once per `set_trigger` when heap_live reaches the trigger.
    fn crossed_trigger(&self) -> bool {
        self.live.load(Ordering::Relaxed).max(0) as u64 >= self.trigger.load(Ordering::Relaxed)
            && self.trigger_armed.load(Ordering::Relaxed)
            && self.trigger_armed.swap(false, Ordering::AcqRel)
    }

    fn call_hook(&self) {
        let h = self.hook.load(Ordering::Acquire);
        if h != 0 {
            // SAFETY: `hook` only ever holds 0 or a `fn()` stored by set_trigger_hook.
            let f: fn() = unsafe { std::mem::transmute::<usize, fn()>(h) };
            f();
        }
    }

    /// The gate, unless the caller holds its P RUNNING (then it needs none: it is never
    /// suspended inside the heap). Only the runtime heap knows about Ps.
    fn gate_unless_running(&'static self) -> Option<ReentrantMutexGuard<'static, RefCell<Cache>>> {
        if self.is_runtime_heap() && p_cache::holds_p_running() { None } else { Some(self.shared.lock()) }
    }

    /// Allocates through the calling thread's P cache, or the shared cache.
    fn alloc(&'static self, size: usize, kind: Kind) -> Option<NonNull<u8>> {
        if size == 0 {
            return NonNull::new(&raw const ZEROBASE as *mut u8);
        }
        if size > MAX_ALLOC {
            return None;
        }
        let ty = match kind {
            Kind::Typed(t) if t.has_pointers() => {
                debug_assert!(t.size() > 0 && size.is_multiple_of(t.size()), "size is not a whole number of elements");
                Some(t)
            }
            _ => None,
        };
        let runtime = self.is_runtime_heap();
        let mut via_p = runtime.then(|| p_cache::with_p_cache(|c| self.alloc_with_cache(c, size, ty))).flatten();
        if via_p.is_none() && runtime && crate::sched::proc::rejoin_after_retake() {
            // A goroutine that lost its P in a long C loop has one again (or waited for one).
            via_p = p_cache::with_p_cache(|c| self.alloc_with_cache(c, size, ty));
        }
        let (r, trig) = if let Some(r) = via_p {
            r
        } else {
            let g = self.shared.lock();
            let mut c = g.borrow_mut();
            self.alloc_with_cache(&mut c, size, ty)
        };
        if trig {
            self.call_hook();
        }
        r
    }

    /// Allocates from `cache`, which the caller owns. Also returns whether the pacer's
    /// trigger was crossed (the caller calls the hook once it let go of everything).
    #[inline]
    pub(crate) fn alloc_with_cache(
        &self,
        cache: &mut Cache,
        size: usize,
        ty: Option<&'static GcType>,
    ) -> (Option<NonNull<u8>>, bool) {
        if size > MAX_SMALL {
            return self.alloc_large(size, ty);
        }
        let sc = span_class(class_of(size), ty.is_none());
        // SAFETY: cache entries are EMPTY_SPAN or live spans owned by this cache.
        let mut s = unsafe { &*cache.spans[sc] };
        let mut trig = false;
        let idx = match s.next_free_fast() {
            Some(i) => i,
            None => match self.next_free_slow(cache, sc) {
                Some((ns, i, t)) => {
                    s = ns;
                    trig = t;
                    i
                }
                None => return (None, false),
            },
        };
        let r = self.init_small_slot(s, idx, |a, addr, slot| {
            if let Some(t) = ty {
                write_ptr_bits(a, addr, slot, t, size);
            }
        });
        (r, trig)
    }

    /// Hands out slot `idx` of the small span `s`, just taken from its cache: tells
    /// valgrind, zeroes it if the span needs that, writes its pointer bits (scan spans
    /// only: `write_bits(arena, addr, slot)`), and marks it while a mark is under way.
    #[inline(always)]
    fn init_small_slot(
        &self,
        s: &Span,
        idx: usize,
        write_bits: impl FnOnce(&arena::ArenaMeta, usize, usize),
    ) -> Option<NonNull<u8>> {
        let slot = s.elem_size.get();
        let addr = s.start.get() + idx * slot;
        if crate::mem::valgrind::on_valgrind() {
            crate::mem::valgrind::malloclike_block(addr, slot);
        }
        if s.needzero.get() {
            // SAFETY: slot idx is ours now, inside the span's mapped pages.
            unsafe { zero_slot(addr as *mut u8, slot) };
        }
        if !s.noscan.get() {
            // SAFETY: arena metadata is never freed; init_objects set the span's.
            let a = unsafe { s.arena.get().as_ref() }.expect("a span outside the arenas");
            write_bits(a, addr, slot);
        }
        if self.alloc_black.load(Ordering::Relaxed) {
            s.try_mark(idx);
        }
        NonNull::new(addr as *mut u8)
    }

    /// `gort_new`'s fast path: one object of a small type from a slot already cached in
    /// `cache` (`fast_class` is `ty.fast_class()`); None when the cached span is full, and
    /// the caller takes the general path ([`Heap::alloc`]), which refills it. Same effects
    /// as [`Heap::alloc_with_cache`] for this case, without its size and kind dispatch.
    #[inline(always)]
    fn alloc_one_cached(&self, cache: &mut Cache, fast_class: usize, ty: &GcType) -> Option<NonNull<u8>> {
        // SAFETY: cache entries are EMPTY_SPAN or live spans owned by this cache.
        let s = unsafe { &*cache.spans[fast_class] };
        let idx = s.next_free_fast()?;
        self.init_small_slot(s, idx, |a, addr, slot| {
            // slot <= FAST_MAX: at most 64 words, so the mask covers the whole slot.
            set_bits(&a.ptr_bits, (addr - a.base) / 8, slot / 8, ty.mask());
        })
    }

    #[inline(never)]
    fn alloc_large(&self, size: usize, ty: Option<&'static GcType>) -> (Option<NonNull<u8>>, bool) {
        let npages = size.div_ceil(PAGE);
        let sg = self.sweepgen.load(Ordering::Acquire);
        let got = {
            let mut ph = self.pages.lock();
            let r = ph.alloc(npages, true);
            self.sync_page_stats(&ph);
            r
        };
        let Some((s, needzero)) = got else { return (None, false) };
        s.init_objects(0, ty.is_none(), needzero, sg);
        if let Some(t) = ty {
            s.large_type.set(t);
            s.large_len.set(size / t.size());
        }
        s.freeindex.set(1);
        s.alloc_cache.set(0);
        s.alloc_count.set(1);
        if crate::mem::valgrind::on_valgrind() {
            crate::mem::valgrind::malloclike_block(s.start.get(), npages * PAGE);
        }
        if needzero {
            // SAFETY: the span's pages are ours, mapped, not yet visible to anyone.
            unsafe { ptr::write_bytes(s.start.get() as *mut u8, 0, npages * PAGE) };
        }
        if self.alloc_black.load(Ordering::Relaxed) {
            s.try_mark(0);
        }
        let bytes = (npages * PAGE) as u64;
        self.credit_mark_debt(bytes);
        self.mallocs.fetch_add(1, Ordering::Relaxed);
        self.total_alloc.fetch_add(bytes, Ordering::Relaxed);
        self.heap_alloc.fetch_add(bytes, Ordering::Relaxed);
        self.live.fetch_add(bytes as i64, Ordering::Relaxed);
        self.large.lock()[swept_index(sg)].push(s);
        (NonNull::new(s.start.get() as *mut u8), self.crossed_trigger())
    }

    /// During a mark (allocate-black), counts `bytes` this thread just took for
    /// allocation (a span into its cache, a large object) towards its mark assist: Go
    /// charges assists per span refill too, so the fast path stays as it is.
    #[inline]
    fn credit_mark_debt(&self, bytes: u64) {
        if self.alloc_black.load(Ordering::Relaxed) && self.is_runtime_heap() {
            MARK_DEBT.with(|d| d.set(d.get() + bytes));
        }
    }

    /// Every cache of this heap back to the central lists. World stopped (or, for a
    /// test heap, no other thread using it).
    fn flush_all(&'static self) {
        if self.is_runtime_heap() {
            p_cache::for_each_p_cache(|c| self.flush(c));
        }
        let g = self.shared.lock();
        self.flush(&mut g.borrow_mut());
    }

    pub(crate) fn prepare_for_mark(&'static self) {
        self.in_gc.store(true, Ordering::Relaxed);
        let _gate = self.shared.lock();
        self.flush_all();
        while self.sweep_one() {}
        self.live_at_mark.store(self.live.load(Ordering::Relaxed), Ordering::Relaxed);
        self.alloc_black.store(true, Ordering::Release);
    }

    /// Ends a mark: `marked_bytes` were marked by the collector; objects allocated since
    /// [`Heap::prepare_for_mark`] (black, during a concurrent mark) are live too. Returns
    /// the live heap: both.
    pub(crate) fn finish_mark(&'static self, marked_bytes: u64) -> u64 {
        let _gate = self.shared.lock();
        self.flush_all();
        let allocated = (self.live.load(Ordering::Relaxed) - self.live_at_mark.load(Ordering::Relaxed)).max(0) as u64;
        let marked_bytes = marked_bytes + allocated;
        self.alloc_black.store(false, Ordering::Release);
        self.sweepgen.fetch_add(2, Ordering::AcqRel);
        self.sweep_done.store(false, Ordering::Release);
        self.live.store(marked_bytes as i64, Ordering::Relaxed);
        // Age the blacklist: the older half is cleared and collects this cycle's hits.
        let generation = self.black_gen.fetch_add(1, Ordering::Relaxed) + 1;
        for a in &self.pages.lock().arenas {
            a.clear_blacklist(generation);
        }
        #[cfg(debug_assertions)]
        self.check();
        self.in_gc.store(false, Ordering::Relaxed);
        marked_bytes
    }

    /// Sweeps one unswept span; false when none is left.
    pub(crate) fn sweep_one(&'static self) -> bool {
        if self.sweep_done.load(Ordering::Acquire) {
            return false;
        }
        let _gate = self.gate_unless_running();
        let unswept = swept_index(self.sweepgen.load(Ordering::Acquire)) ^ 1;
        let start = self.sweep_cursor.load(Ordering::Relaxed);
        for k in 0..NUM_SPAN_CLASSES {
            let sc = (start + k) % NUM_SPAN_CLASSES;
            let s = {
                let mut c = self.central[sc].lock();
                c.partial[unswept].pop().or_else(|| c.full[unswept].pop())
            };
            let Some(s) = s else { continue };
            self.sweep_cursor.store(sc, Ordering::Relaxed);
            let count = self.sweep_span(s);
            if count == 0 {
                self.free_span(s);
            } else {
                let mut c = self.central[sc].lock();
                if count < s.nelems.get() {
                    c.partial[unswept ^ 1].push(s);
                } else {
                    c.full[unswept ^ 1].push(s);
                }
            }
            return true;
        }
        let s = self.large.lock()[unswept].pop();
        if let Some(s) = s {
            if self.sweep_span(s) == 0 {
                self.free_span(s);
            } else {
                self.large.lock()[unswept ^ 1].push(s);
            }
            return true;
        }
        self.sweep_done.store(true, Ordering::Release);
        false
    }

    fn free_span(&self, s: &'static Span) {
        {
            let mut ph = self.pages.lock();
            ph.free(s);
            self.sync_page_stats(&ph);
        }
        if self.is_runtime_heap() && !self.in_gc.load(Ordering::Relaxed) {
            crate::mem::scavenge::wake();
        }
    }

    /// Releases free pages to the OS: all of them, or (`before`) those in runs freed
    /// before that scavenger round. Returns the bytes newly released.
    fn release(&'static self, before: Option<u32>) -> usize {
        let os_page = crate::mem::stack::page_size().max(PAGE);
        let mut total = 0;
        let mut batch = Vec::with_capacity(64);
        loop {
            batch.clear();
            {
                let _gate = self.gate_unless_running();
                self.pages.lock().take_for_scavenge(before, os_page, 64, &mut batch);
            }
            if batch.is_empty() {
                break;
            }
            let mut ranges = Vec::with_capacity(batch.len());
            for s in &batch {
                let (lo, hi) = pages::releasable(s, os_page);
                if hi > lo {
                    // SAFETY: whole free pages of our own mapping, taken out of the page
                    // heap's lists (state SCAVENGING), so nobody allocates them meanwhile.
                    unsafe { libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_DONTNEED) };
                }
                ranges.push((lo, hi.max(lo)));
            }
            let mut newly = 0;
            {
                let _gate = self.gate_unless_running();
                let mut ph = self.pages.lock();
                for (s, (lo, hi)) in batch.iter().zip(ranges) {
                    newly += ph.return_scavenged(s, lo, hi);
                }
                self.sync_page_stats(&ph);
            }
            total += newly * PAGE;
            if newly == 0 {
                break;
            }
        }
        total
    }

    fn note_false_pointer(&self, addr: usize) {
        if let Some(a) = arena::arena_of(addr) {
            a.blacklist(a.page_index(addr), self.black_gen.load(Ordering::Relaxed));
        }
    }

    fn set_trigger(&self, bytes: u64) {
        self.trigger.store(bytes, Ordering::Relaxed);
        self.trigger_armed.store(true, Ordering::Release);
    }

    pub(crate) fn stats(&self) -> HeapStats {
        let mallocs = self.mallocs.load(Ordering::Relaxed);
        let frees = self.frees.load(Ordering::Relaxed);
        HeapStats {
            heap_alloc: self.heap_alloc.load(Ordering::Relaxed),
            heap_sys: self.sys.load(Ordering::Relaxed),
            heap_released: (self.released_pages.load(Ordering::Relaxed) * PAGE) as u64,
            heap_objects: mallocs.saturating_sub(frees),
            total_alloc: self.total_alloc.load(Ordering::Relaxed),
            mallocs,
            frees,
            heap_live: self.live.load(Ordering::Relaxed).max(0) as u64,
            heap_meta: self.meta.load(Ordering::Relaxed),
        }
    }

    /// Expensive consistency checks of the page heap and the central lists (debug
    /// builds at every finish_mark, and tests). World stopped.
    #[cfg(any(debug_assertions, test))]
    pub(crate) fn check(&self) {
        let ph = self.pages.lock();
        ph.check();
        let swept = swept_index(self.sweepgen.load(Ordering::Relaxed));
        for sc in 0..NUM_SPAN_CLASSES {
            let c = self.central[sc].lock();
            for (list, full) in [(&c.partial, false), (&c.full, true)] {
                for (half, l) in list.iter().enumerate() {
                    let mut p = l.head();
                    // SAFETY: list members are live spans.
                    while let Some(s) = unsafe { p.as_ref() } {
                        assert_eq!(s.state.load(Ordering::Relaxed), state::SMALL);
                        assert_eq!(span_class(s.class.get() as usize, s.noscan.get()), sc);
                        if half == swept {
                            assert_eq!(s.count_allocated(), s.alloc_count.get());
                            assert_eq!(full, s.alloc_count.get() == s.nelems.get());
                        }
                        p = s.next.get();
                    }
                }
            }
        }
    }
}

/// Statistics of the heap (exact when no cache holds spans: after prepare_for_mark, or
/// [`flush_caches`] with the world stopped; otherwise objects allocated from spans still
/// in caches are not counted yet).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct HeapStats {
    /// Bytes of allocated objects (slot sizes), including dead ones not yet swept.
    pub heap_alloc: u64,
    /// Bytes of arena address space (Go's HeapSys; includes heap_released).
    pub heap_sys: u64,
    /// Bytes of free pages given back to the OS (or never touched).
    pub heap_released: u64,
    pub heap_objects: u64,
    pub total_alloc: u64,
    pub mallocs: u64,
    pub frees: u64,
    /// Marked bytes at the last finish_mark plus bytes allocated since (the pacer's).
    pub heap_live: u64,
    /// Bytes of metadata mappings (span structs, arena tables), for `sys`.
    pub heap_meta: u64,
}

/// Zeroes a slot. Slots of 16 to 64 bytes (a multiple of 16) take four 16-byte stores
/// at offsets computed without a branch, overlapping where the slot is smaller: a
/// variable `write_bytes` is a call to `memset`, and a `match` on the size mispredicts
/// when sizes alternate (a program allocating several small types).
///
/// # Safety
/// `[p, p + slot)` is writable memory owned by the caller; `slot >= 16` and a multiple
/// of 16 when `slot <= 64`.
#[inline]
unsafe fn zero_slot(p: *mut u8, slot: usize) {
    if slot > 64 {
        // SAFETY: per the contract.
        unsafe { ptr::write_bytes(p, 0, slot) };
        return;
    }
    debug_assert!(slot >= 16 && slot.is_multiple_of(16));
    let last = slot - 16;
    // slot 16: 0,0,0,0; 32: 0,16,16,0; 48: 0,32,16,16; 64: 0,48,16,32.
    for off in [0, last, last.min(16), last.saturating_sub(16)] {
        // SAFETY: off + 16 <= slot for every offset above; unaligned stores.
        unsafe { (p.add(off) as *mut [u8; 16]).write_unaligned([0; 16]) };
    }
}

/// Writes the pointer bitmap of a small object's slot: the type's pointer words for each
/// of the `size / ty.size` elements, zero for the rest of the slot. Only the span's
/// owning cache writes these words (plain load + store).
#[inline]
fn write_ptr_bits(a: &arena::ArenaMeta, addr: usize, slot: usize, ty: &GcType, size: usize) {
    let bit = (addr - a.base) / 8;
    let words = slot / 8;
    let elem_words = ty.size() / 8;
    // One element (gort_new) is the common case: no division on the fast path.
    let n = if size == ty.size() { 1 } else { size / ty.size() };
    if let Some(mask) = ty.small_mask()
        && words <= 64
    {
        let mut bits = mask;
        for e in 1..n {
            bits |= mask << (e * elem_words);
        }
        set_bits(&a.ptr_bits, bit, words, bits);
        return;
    }
    // General case: clear the slot's bits, then set each element's pointer words.
    let mut i = 0;
    while i < words {
        let cnt = (words - i).min(64);
        set_bits(&a.ptr_bits, bit + i, cnt, 0);
        i += cnt;
    }
    for e in 0..n {
        for &off in ty.ptr_offsets() {
            let b = bit + (e * ty.size() + off) / 8;
            let w = &a.ptr_bits[b / 64];
            w.store(w.load(Ordering::Relaxed) | 1 << (b % 64), Ordering::Relaxed);
        }
    }
}

/// Sets bits [bit, bit+cnt) (cnt <= 64) of `map` to the low bits of `val`.
#[inline]
fn set_bits(map: &[AtomicU64], bit: usize, cnt: usize, val: u64) {
    let (w, off) = (bit / 64, bit % 64);
    let ones = if cnt == 64 { !0u64 } else { (1u64 << cnt) - 1 };
    let val = val & ones;
    let lo = &map[w];
    lo.store((lo.load(Ordering::Relaxed) & !(ones << off)) | val << off, Ordering::Relaxed);
    if off + cnt > 64 {
        let hi = &map[w + 1];
        let sh = 64 - off;
        hi.store((hi.load(Ordering::Relaxed) & !(ones >> sh)) | val >> sh, Ordering::Relaxed);
    }
}

/// An allocated object found by [`find_object`].
#[derive(Clone, Copy)]
pub(crate) struct Obj {
    span: &'static Span,
    index: usize,
    base: usize,
}

impl Obj {
    pub(crate) fn base(self) -> usize {
        self.base
    }
    /// The slot's size (its size class, or the large object's pages), >= requested.
    pub(crate) fn size(self) -> usize {
        self.span.elem_size.get()
    }
    /// Atomically sets the mark bit; true if it was clear (the caller then scans it).
    #[inline]
    pub(crate) fn try_mark(self) -> bool {
        self.span.try_mark(self.index)
    }
    pub(crate) fn is_marked(self) -> bool {
        self.span.is_marked(self.index)
    }
    pub(crate) fn is_noscan(self) -> bool {
        self.span.noscan.get()
    }
    /// Calls `f(slot address)` for every pointer slot of the object (every element of
    /// an array); nothing for noscan objects.
    pub(crate) fn for_each_pointer_slot(self, mut f: impl FnMut(usize)) {
        let s = self.span;
        if s.noscan.get() {
            return;
        }
        if s.class.get() == 0 {
            // SAFETY: large_type is null or a leaked, immortal GcType.
            if let Some(t) = unsafe { s.large_type.get().as_ref() } {
                for e in 0..s.large_len.get() {
                    for &off in t.ptr_offsets() {
                        f(self.base + e * t.size() + off);
                    }
                }
            }
            return;
        }
        small_pointer_slots(self.base, s.elem_size.get(), f);
    }
    /// The type of a large typed object; None for small objects (they keep only their
    /// pointer bitmap) and noscan ones.
    pub(crate) fn type_of(self) -> Option<&'static GcType> {
        // SAFETY: as in for_each_pointer_slot.
        unsafe { self.span.large_type.get().as_ref() }
    }
}

/// Calls `f(slot address)` for each set bit of the pointer bitmap over the small
/// object at `base` of `size` bytes.
#[inline]
fn small_pointer_slots(base: usize, size: usize, mut f: impl FnMut(usize)) {
    let a = arena::arena_of(base).expect("heap object outside the arenas");
    let first = (base - a.base) / 8;
    let words = size / 8;
    let mut i = 0;
    while i < words {
        let b = first + i;
        let cnt = (64 - b % 64).min(words - i);
        let ones = if cnt == 64 { !0u64 } else { (1u64 << cnt) - 1 };
        let mut bits = (a.ptr_bits[b / 64].load(Ordering::Relaxed) >> (b % 64)) & ones;
        while bits != 0 {
            let k = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            f(base + (i + k) * 8);
        }
        i += cnt;
    }
}

/// A marked object to scan, as the marker queues it: one word, the base address (below
/// 2^48, see `arena`) with the size class in the top byte (0: large). Scanning a small
/// object needs only its base, its class's size and the arena's pointer bitmap, so the
/// marker does not look the object up a second time (span table, span, alloc bits) to
/// scan it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct GreyRef(usize);

const GREY_CLASS_SHIFT: usize = 56;
const GREY_ADDR_MASK: usize = (1 << GREY_CLASS_SHIFT) - 1;

impl Obj {
    /// This object as a [`GreyRef`].
    #[inline]
    pub(crate) fn grey_ref(self) -> GreyRef {
        GreyRef(self.base | (self.span.class.get() as usize) << GREY_CLASS_SHIFT)
    }
}

impl GreyRef {
    /// The word the mark queue holds.
    #[inline]
    pub(crate) fn to_word(self) -> usize {
        self.0
    }
    /// Back from [`GreyRef::to_word`].
    #[inline]
    pub(crate) fn from_word(w: usize) -> GreyRef {
        GreyRef(w)
    }
    #[inline]
    pub(crate) fn base(self) -> usize {
        self.0 & GREY_ADDR_MASK
    }
    /// For a small object whose pointer bits lie in one bitmap word (every object of
    /// 16..=512 bytes whose slot does not straddle a 64-word boundary; all 16- and
    /// 32-byte ones): its base and those bits, bit k = word k of the object is a pointer.
    /// None otherwise (then [`GreyRef::for_each_pointer_slot`]).
    #[inline]
    pub(crate) fn pointer_bits(self) -> Option<(usize, u64)> {
        let class = self.0 >> GREY_CLASS_SHIFT;
        if class == 0 {
            return None;
        }
        let base = self.base();
        let words = sizeclass::CLASSES[class].size / 8;
        let a = arena::arena_of(base)?;
        let b = (base - a.base) / 8;
        if b % 64 + words > 64 {
            return None;
        }
        let ones = if words == 64 { !0u64 } else { (1u64 << words) - 1 };
        Some((base, (a.ptr_bits[b / 64].load(Ordering::Relaxed) >> (b % 64)) & ones))
    }
    /// Calls `f(slot address)` for every pointer slot of the object, as
    /// [`Obj::for_each_pointer_slot`]. A large object is looked up again (rare: one per
    /// large object, against its many slots); None if it is gone (a bug).
    pub(crate) fn for_each_pointer_slot(self, f: impl FnMut(usize)) -> Option<()> {
        let class = self.0 >> GREY_CLASS_SHIFT;
        if class == 0 {
            find_object(self.base())?.for_each_pointer_slot(f);
        } else {
            small_pointer_slots(self.base(), sizeclass::CLASSES[class].size, f);
        }
        Some(())
    }
}

/// The allocated object containing `addr` (any interior byte), or None if `addr` is not
/// inside an allocated object (free slot, free page, span tail, outside the arenas).
/// Exact with the world stopped; a few loads: two index levels, the span, its class
/// fields, a multiply-shift, an alloc bit.
#[inline]
pub(crate) fn find_object(addr: usize) -> Option<Obj> {
    let a = arena::arena_of(addr)?;
    // SAFETY: span structs are never unmapped; a stale entry is caught by the checks.
    let s = unsafe { a.span_at(addr).as_ref() }?;
    let st = s.state.load(Ordering::Acquire);
    if (st != state::SMALL && st != state::LARGE) || addr < s.start.get() || addr >= s.end() {
        return None;
    }
    let index = if st == state::LARGE { 0 } else { s.index_of(addr) };
    if index >= s.nelems.get() || !s.is_allocated(index) {
        return None;
    }
    Some(Obj { span: s, index, base: s.start.get() + index * s.elem_size.get() })
}

/// One zeroed object of type `ty` from the calling goroutine's P cache, if that is
/// quick: a small type, a P this thread holds, a free slot in the cached span. None means
/// "use [`alloc`]" (which also refills the cache, meets the pacer's trigger, and serves
/// threads without a P).
#[inline(always)]
pub(crate) fn alloc_one_fast(ty: &'static GcType) -> Option<NonNull<u8>> {
    let fast_class = ty.fast_class()?;
    p_cache::with_p_cache(|c| HEAP.alloc_one_cached(c, fast_class, ty)).flatten()
}

/// Zeroed memory for `size` bytes (Typed: `size = ty.size * n`, an array of n elements;
/// 0 bytes: a unique non-null address). None only when the OS refuses memory.
pub(crate) fn alloc(size: usize, kind: Kind) -> Option<NonNull<u8>> {
    HEAP.alloc(size, kind)
}

/// The heap's gate, held: see [`lock_for_gc`].
pub(crate) struct GcGate {
    _held: ReentrantMutexGuard<'static, RefCell<Cache>>,
}

/// The gate: taken by the collector before it stops the world, dropped after restart,
/// so no thread stopped by a signal is inside a heap lock (see the module docs). The
/// heap's own calls made while it is held (prepare_for_mark, ...) take it again
/// (reentrant).
pub(crate) fn lock_for_gc() -> GcGate {
    GcGate { _held: HEAP.shared.lock() }
}

/// World stopped, before marking: flush every cache, finish the previous sweep, and
/// allocate black until [`finish_mark`].
pub(crate) fn prepare_for_mark() {
    HEAP.prepare_for_mark();
}

/// World stopped, after marking: every span becomes unswept; `marked_bytes` (the sum of
/// `Obj::size` over the objects the collector marked) becomes heap_live.
pub(crate) fn finish_mark(marked_bytes: u64) -> u64 {
    HEAP.finish_mark(marked_bytes)
}

/// Sweeps one unswept span; false when none is left.
pub(crate) fn sweep_one() -> bool {
    HEAP.sweep_one()
}

/// Every cache back to the central lists, so [`stats`] is exact. World stopped.
pub(crate) fn flush_caches() {
    let _gate = HEAP.shared.lock();
    HEAP.flush_all();
}

pub(crate) fn stats() -> HeapStats {
    HEAP.stats()
}

/// The pacer's trigger: the hook runs (once per call of this) when heap_live reaches
/// `bytes`.
pub(crate) fn set_trigger(bytes: u64) {
    HEAP.set_trigger(bytes);
}

pub(crate) fn set_trigger_hook(hook: fn()) {
    HEAP.hook.store(hook as usize, Ordering::Release);
}

/// Conservative scanning found `addr` in an arena but not in an object: large objects
/// stay off that page for this cycle and the next.
pub(crate) fn note_false_pointer(addr: usize) {
    HEAP.note_false_pointer(addr);
}

/// Gives every free page back to the OS now; returns the bytes released.
pub(crate) fn release_free_memory() -> usize {
    HEAP.release(None)
}

/// Poison mode (set before the first allocation).
pub(crate) fn set_poison(on: bool) {
    HEAP.poison.store(on, Ordering::Relaxed);
}

/// The heap as a source of the scavenger: each round releases the free runs that were
/// freed before the previous round began (idle a whole round).
pub(crate) struct HeapIdle;
pub(crate) static HEAP_IDLE: HeapIdle = HeapIdle;

impl crate::mem::scavenge::IdleSource for HeapIdle {
    fn scavenge(&self) -> crate::mem::scavenge::Released {
        let round = {
            let _gate = HEAP.shared.lock();
            let mut ph = HEAP.pages.lock();
            ph.round += 1;
            ph.round - 1
        };
        crate::mem::scavenge::Released { released: HEAP.release(Some(round)), unmapped: 0 }
    }
    fn pending(&self) -> bool {
        HEAP.free_pages.load(Ordering::Relaxed) > HEAP.released_pages.load(Ordering::Relaxed)
    }
}

/// How the allocator reaches the calling thread's P cache.
mod p_cache {
    use super::Cache;
    use crate::sched::m::current_m;
    use crate::sched::membarrier;
    use crate::sched::p::pstate;
    use crate::sched::protocol::{heapcache, pstatus};
    use std::sync::atomic::{Ordering, compiler_fence};

    /// True if the calling thread holds its P RUNNING (inside the runtime, or g0), or is
    /// inside [`with_p_cache`] under a USER P (flag up, P still its own): either way no
    /// stopper suspends it inside the heap, so it needs no gate.
    pub(super) fn holds_p_running() -> bool {
        // SAFETY: Ms are never freed.
        let Some(m) = (unsafe { current_m().as_ref() }) else { return false };
        !m.p.get().is_null()
            && (m.p_word.get() & 0xff == pstate::RUNNING || m.in_heap_cache.load(Ordering::Relaxed) != 0)
    }

    /// Runs `f` on the calling thread's P cache. None if the thread has no P it may use
    /// (foreign thread, blocking region, P taken away). A goroutine in user code holds its
    /// P as USER, which sysmon or stop-the-world may take at any moment: with
    /// `membarrier` it raises its flag for the duration (`protocol::heapcache`, see the
    /// module docs), otherwise it moves the P to RUNNING and back with a CAS.
    #[inline]
    pub(super) fn with_p_cache<R>(f: impl FnOnce(&mut Cache) -> R) -> Option<R> {
        // SAFETY: Ms are never freed.
        let m = unsafe { current_m().as_ref() }?;
        // SAFETY: Ps are never freed.
        let p = unsafe { m.p.get().as_ref() }?;
        let word = m.p_word.get();
        match word & 0xff {
            // SAFETY: we own the P RUNNING: its cache is ours.
            pstate::RUNNING => Some(f(unsafe { p.heap_cache() })),
            pstate::USER if !m.curg.get().is_null() => {
                if membarrier::available() {
                    if !heapcache::owner_enter(&m.in_heap_cache, &*p.status, word, || compiler_fence(Ordering::SeqCst))
                    {
                        return None;
                    }
                    // SAFETY: the flag is up and the P was still ours after it: a taker
                    // waits for the flag before it touches the P (protocol::heapcache).
                    let r = f(unsafe { p.heap_cache() });
                    heapcache::owner_exit(&m.in_heap_cache);
                    return Some(r);
                }
                let running = pstatus::owner_cas(&*p.status, word, pstate::RUNNING)?;
                m.p_word.set(running);
                // SAFETY: as above, from the CAS on.
                let r = f(unsafe { p.heap_cache() });
                m.p_word.set(pstatus::set(&*p.status, running, pstate::USER));
                Some(r)
            }
            _ => None,
        }
    }

    /// Every P's cache (world stopped: the stopper owns every P, including Ps beyond
    /// gomaxprocs that may still hold spans from before it shrank).
    pub(super) fn for_each_p_cache(mut f: impl FnMut(&mut Cache)) {
        for slot in crate::sched::SCHED.allp.iter() {
            // SAFETY: Ps are never freed once published.
            let Some(p) = (unsafe { slot.load(Ordering::Acquire).as_ref() }) else { break };
            // SAFETY: the world is stopped: nobody else uses any P.
            f(unsafe { p.heap_cache() });
        }
    }
}
