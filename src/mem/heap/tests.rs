//! Unit tests of the allocator. Most run on private heaps ([`test_heap`]) so that their
//! collection cycles (simulated here: a precise mark from explicit roots, as the
//! collector in `src/gc` will do) never disturb each other or the runtime's heap.

use super::sizeclass::{CLASSES, MAX_SMALL, NUM_CLASSES, PAGE};
use super::*;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

fn test_heap() -> &'static Heap {
    static NEXT: AtomicUsize = AtomicUsize::new(2);
    Box::leak(Box::new(Heap::new(NEXT.fetch_add(1, Ordering::Relaxed))))
}

fn noscan(h: &'static Heap, size: usize) -> usize {
    h.alloc(size, Kind::NoScan).expect("out of memory").as_ptr() as usize
}

fn typed(h: &'static Heap, t: &'static GcType, n: usize) -> usize {
    h.alloc(t.size() * n, Kind::Typed(t)).expect("out of memory").as_ptr() as usize
}

/// Marks everything reachable from `roots` (precise: through pointer slots only).
/// Returns the marked bytes.
fn mark_from(roots: &[usize]) -> u64 {
    let mut stack: Vec<usize> = roots.to_vec();
    let mut bytes = 0;
    while let Some(a) = stack.pop() {
        if let Some(o) = find_object(a)
            && o.try_mark()
        {
            bytes += o.size() as u64;
            // SAFETY: pointer slots of a live object: aligned words inside it.
            o.for_each_pointer_slot(|slot| stack.push(unsafe { *(slot as *const usize) }));
        }
    }
    bytes
}

/// A whole cycle on a test heap whose only caches are the shared one and `caches`.
fn cycle(h: &'static Heap, caches: &mut [&mut Cache], roots: &[usize]) {
    for c in caches.iter_mut() {
        h.flush(c);
    }
    h.prepare_for_mark();
    let marked = mark_from(roots);
    h.finish_mark(marked);
    while h.sweep_one() {}
    h.check();
}

fn flush_shared(h: &'static Heap) {
    let g = h.shared.lock();
    h.flush(&mut g.borrow_mut());
}

fn read_word(addr: usize) -> usize {
    // SAFETY: tests read words inside objects they allocated and keep alive.
    unsafe { *(addr as *const usize) }
}

fn write_word(addr: usize, v: usize) {
    // SAFETY: as above.
    unsafe { *(addr as *mut usize) = v }
}

fn is_zero(addr: usize, len: usize) -> bool {
    // SAFETY: as above.
    unsafe { std::slice::from_raw_parts(addr as *const u8, len) }.iter().all(|&b| b == 0)
}

#[test]
fn heap_alloc_is_zeroed_aligned_and_found_on_every_byte() {
    let h = test_heap();
    let mut objs = Vec::new();
    for size in (1..=4096).step_by(7).chain([MAX_SMALL, MAX_SMALL + 1, 100_000, 1 << 20]) {
        let a = noscan(h, size);
        assert_eq!(a % 16, 0, "size {size}");
        assert!(is_zero(a, size));
        // SAFETY: a fresh object of `size` bytes.
        unsafe { ptr::write_bytes(a as *mut u8, 0xab, size) };
        objs.push((a, size));
    }
    for &(a, size) in &objs {
        let o = find_object(a).expect("object");
        assert_eq!(o.base(), a);
        assert!(o.size() >= size);
        assert!(o.is_noscan());
        for off in 0..o.size() {
            let f = find_object(a + off).expect("interior byte");
            assert_eq!(f.base(), a, "size {size} offset {off}");
        }
    }
    // Distinct objects do not overlap.
    let mut sorted: Vec<(usize, usize)> = objs.iter().map(|&(a, _)| (a, find_object(a).unwrap().size())).collect();
    sorted.sort();
    for w in sorted.windows(2) {
        assert!(w[0].0 + w[0].1 <= w[1].0);
    }
    // Not objects: outside the arenas, free slots after the last object of a fresh span,
    // the tail of a span, free pages.
    let local = 0u64;
    for addr in [0usize, 8, &raw const local as usize, 1 << 50, usize::MAX] {
        assert!(find_object(addr).is_none(), "{addr:#x}");
    }
    let a = noscan(h, 48);
    let o = find_object(a).unwrap();
    assert!(find_object(a + 48).is_none() || find_object(a + 48).unwrap().base() != a);
    // The slot after a fresh object in a fresh span is free unless allocated.
    let s = o.span;
    let next = a + s.elem_size.get();
    if next < s.start.get() + s.nelems.get() * s.elem_size.get() && !s.is_allocated(o.index + 1) {
        assert!(find_object(next).is_none());
    }
    // The tail after the last slot of a class whose span does not divide evenly.
    let c = (1..NUM_CLASSES).find(|&c| CLASSES[c].pages * PAGE > CLASSES[c].nelems * CLASSES[c].size).unwrap();
    let b = noscan(h, CLASSES[c].size);
    let sp = find_object(b).unwrap().span;
    assert!(find_object(sp.start.get() + sp.nelems.get() * sp.elem_size.get()).is_none());
    // A page past everything allocated in the arena is free.
    let big = noscan(h, 3 * PAGE * 40);
    let end = big + find_object(big).unwrap().size();
    assert!(find_object(end + 64 * PAGE).is_none());
    // Zero-size allocations: one non-null address, not a heap object.
    let z1 = h.alloc(0, Kind::NoScan).unwrap();
    let z2 = h.alloc(0, Kind::NoScan).unwrap();
    assert_eq!(z1, z2);
    assert!(find_object(z1.as_ptr() as usize).is_none());
}

#[test]
fn heap_fast_class_of_types() {
    use super::types::FAST_MAX;
    let scan = GcType::new("scan", 24, &[0]).unwrap();
    let noscan = GcType::new("noscan", 24, &[]).unwrap();
    assert_eq!(scan.fast_class(), Some(span_class(class_of(24), false)));
    assert_eq!(noscan.fast_class(), Some(span_class(class_of(24), true)));
    assert_eq!(GcType::new("empty", 0, &[]).unwrap().fast_class(), None);
    let edge = GcType::new("edge", FAST_MAX, &[FAST_MAX - 8]).unwrap();
    assert_eq!(edge.fast_class(), Some(span_class(class_of(FAST_MAX), false)));
    // The fast path writes the slot's bits from the mask: the slot must fit in 64 words.
    assert!(CLASSES[class_of(FAST_MAX)].size <= 64 * 8);
    assert_eq!(GcType::new("big", FAST_MAX + 8, &[0]).unwrap().fast_class(), None);
}

#[test]
fn heap_pointer_slots_of_typed_objects_and_arrays() {
    let h = test_heap();
    // struct { void *a; long x; void *b; }
    let t = GcType::new("node", 24, &[16, 0, 16]).unwrap();
    assert_eq!(t.name(), "node");
    assert!(t.has_pointers());
    assert_eq!(GcType::new("bad", 24, &[4]).err(), Some(TypeError::BadOffset));
    assert_eq!(GcType::new("bad", 24, &[24]).err(), Some(TypeError::BadOffset));
    assert_eq!(GcType::new("bad", 20, &[0]).err(), Some(TypeError::BadSize));
    let slots = |a: usize| {
        let mut v = Vec::new();
        find_object(a).unwrap().for_each_pointer_slot(|s| v.push(s - a));
        v
    };
    let one = typed(h, t, 1);
    assert_eq!(slots(one), vec![0, 16]);
    assert!(!find_object(one).unwrap().is_noscan());
    let arr = typed(h, t, 5);
    let want: Vec<usize> = (0..5).flat_map(|e| [e * 24, e * 24 + 16]).collect();
    assert_eq!(slots(arr), want);
    // A slot reused by a noscan object of the same size is never scanned; a scan slot
    // reused by another type gets its own bits (cycle frees `one` and `arr`).
    cycle(h, &mut [], &[]);
    let plain = GcType::new("plain", 24, &[8]).unwrap();
    let again = typed(h, plain, 1);
    assert_eq!(slots(again), vec![8]);
    // Big small type (> 64 words) and an array of it.
    let wide = GcType::new("wide", 1024, &[0, 1000, 512]).unwrap();
    let w1 = typed(h, wide, 1);
    assert_eq!(slots(w1), vec![0, 512, 1000]);
    let w3 = typed(h, wide, 3);
    assert_eq!(slots(w3), (0..3).flat_map(|e| [e * 1024, e * 1024 + 512, e * 1024 + 1000]).collect::<Vec<_>>());
    assert!(find_object(w3).unwrap().type_of().is_none(), "small objects keep only their bitmap");
    // Large typed array: pointers from the type in the span.
    let big = typed(h, t, 10_000);
    assert!(find_object(big).unwrap().size() >= 240_000);
    let s = slots(big);
    assert_eq!(s.len(), 20_000);
    assert_eq!(&s[..4], &[0, 16, 24, 40]);
    assert_eq!(find_object(big + 123_456).unwrap().type_of().map(|t| t.name()), Some("node"));
    // Types without pointers allocate noscan.
    let np = GcType::new("bytes", 32, &[]).unwrap();
    let n = typed(h, np, 2);
    assert!(find_object(n).unwrap().is_noscan());
    assert!(slots(n).is_empty());
}

#[test]
fn heap_cycles_free_unreachable_objects_and_keep_reachable_ones() {
    let h = test_heap();
    let node = GcType::new("list", 16, &[0]).unwrap();
    // A kept list of 1000 nodes and 9000 garbage nodes, interleaved.
    let mut head = 0usize;
    let mut garbage = Vec::new();
    for i in 0..10_000 {
        let n = typed(h, node, 1);
        write_word(n + 8, i);
        if i % 10 == 0 {
            write_word(n, head);
            head = n;
        } else {
            garbage.push(n);
        }
    }
    let big_garbage = noscan(h, 200_000);
    // Objects are counted when their span leaves the cache.
    assert!(h.stats().heap_objects < 10_001);
    flush_shared(h);
    assert_eq!(h.stats().heap_objects, 10_001);
    cycle(h, &mut [], &[head]);
    let st = h.stats();
    assert_eq!(st.mallocs, 10_001);
    assert_eq!(st.frees, 9_001);
    assert_eq!(st.heap_objects, 1000);
    assert_eq!(st.heap_alloc, 1000 * 16);
    assert_eq!(st.heap_live, 1000 * 16);
    assert!(find_object(big_garbage).is_none());
    for g in &garbage {
        assert!(find_object(*g).is_none(), "garbage still allocated");
    }
    // The list is intact.
    let (mut p, mut count) = (head, 0);
    while p != 0 {
        assert_eq!(read_word(p + 8) % 10, 0);
        assert!(find_object(p).is_some());
        p = read_word(p);
        count += 1;
    }
    assert_eq!(count, 1000);
    // Freed slots are reused, zeroed.
    let reused: HashSet<usize> = garbage.iter().copied().collect();
    let mut hits = 0;
    for _ in 0..9000 {
        let n = typed(h, node, 1);
        assert!(is_zero(n, 16));
        hits += reused.contains(&n) as usize;
    }
    assert!(hits > 8000, "freed slots not reused: {hits}");
    // Dropping the root frees the list too.
    cycle(h, &mut [], &[]);
    let st = h.stats();
    assert_eq!(st.heap_objects, 0);
    assert_eq!(st.heap_alloc, 0);
    assert_eq!(st.mallocs, st.frees);
    assert!(st.total_alloc >= 19_000 * 16 + 200_000);
}

#[test]
fn heap_alloc_black_during_mark() {
    let h = test_heap();
    h.prepare_for_mark();
    let a = noscan(h, 64);
    let b = noscan(h, 100_000);
    assert!(find_object(a).unwrap().is_marked());
    assert!(find_object(b).unwrap().is_marked());
    h.finish_mark(0);
    while h.sweep_one() {}
    assert!(find_object(a).is_some() && find_object(b).is_some(), "allocated during mark: survives");
    cycle(h, &mut [], &[]);
    assert!(find_object(a).is_none() && find_object(b).is_none());
}

/// Threads with their own caches (as Ps) allocate and write concurrently; no object is
/// handed out twice; then a cycle with no roots frees everything and the counters add up.
#[test]
fn heap_multithreaded_alloc_stress() {
    let h = test_heap();
    let t = GcType::new("pair", 32, &[0, 8]).unwrap();
    const THREADS: usize = 4;
    const ROUNDS: usize = 3;
    const PER: usize = 20_000;
    let caches: Vec<Arc<parking_lot::Mutex<Cache>>> =
        (0..THREADS).map(|_| Arc::new(parking_lot::Mutex::new(Cache::new()))).collect();
    for round in 0..ROUNDS {
        let handles: Vec<_> = (0..THREADS + 1)
            .map(|id| {
                let cache = caches.get(id).cloned();
                std::thread::spawn(move || {
                    let mut mine = Vec::with_capacity(PER);
                    for i in 0..PER {
                        let size = 16 + (i * 7919 + id) % 200;
                        let a = match &cache {
                            Some(c) => h.alloc_with_cache(&mut c.lock(), size, None).0.unwrap().as_ptr() as usize,
                            // One thread without a P: the shared path.
                            None => h.alloc(size, Kind::NoScan).unwrap().as_ptr() as usize,
                        };
                        assert!(is_zero(a, size), "round {round}: not zeroed");
                        // SAFETY: our fresh object.
                        unsafe { ptr::write_bytes(a as *mut u8, id as u8 + 1, size) };
                        mine.push((a, size));
                        if i % 4096 == 0 {
                            let big = h.alloc(t.size() * (1250 + id), Kind::Typed(t)).unwrap().as_ptr() as usize;
                            assert!(is_zero(big, 40_000));
                            mine.push((big, 0));
                        }
                    }
                    for &(a, size) in &mine {
                        // SAFETY: still ours (no cycle runs meanwhile).
                        let bytes = unsafe { std::slice::from_raw_parts(a as *const u8, size) };
                        assert!(bytes.iter().all(|&b| b == id as u8 + 1), "object shared between threads");
                    }
                    mine.len()
                })
            })
            .collect();
        let total: usize = handles.into_iter().map(|j| j.join().unwrap()).sum();
        let mut guards: Vec<_> = caches.iter().map(|c| c.lock()).collect();
        let mut refs: Vec<&mut Cache> = guards.iter_mut().map(|g| &mut **g).collect();
        for c in refs.iter_mut() {
            h.flush(c);
        }
        flush_shared(h);
        let st = h.stats();
        assert_eq!(st.heap_objects as usize, total, "round {round}");
        cycle(h, &mut refs, &[]);
        let st = h.stats();
        assert_eq!(st.heap_objects, 0);
        assert_eq!(st.heap_alloc, 0);
        assert_eq!(st.mallocs, st.frees);
    }
}

/// Lazy sweeping under load: after each cycle, threads allocate (their refills sweep the
/// spans they take) while another thread runs sweep_one; survivors keep their contents,
/// freed memory comes back zeroed, and nothing is handed out twice.
#[test]
fn heap_lazy_sweep_concurrent_with_allocation() {
    let h = test_heap();
    let node = GcType::new("kept", 32, &[0]).unwrap();
    const THREADS: usize = 3;
    let caches: Vec<Arc<parking_lot::Mutex<Cache>>> =
        (0..THREADS).map(|_| Arc::new(parking_lot::Mutex::new(Cache::new()))).collect();
    // A kept list (every 8th object) threaded through garbage.
    let mut head = 0usize;
    for i in 0..40_000 {
        let n = typed(h, node, 1);
        write_word(n + 8, 0x5eed ^ i);
        if i % 8 == 0 {
            write_word(n, head);
            head = n;
        }
    }
    for round in 0..4 {
        {
            let mut guards: Vec<_> = caches.iter().map(|c| c.lock()).collect();
            let mut refs: Vec<&mut Cache> = guards.iter_mut().map(|g| &mut **g).collect();
            for c in refs.iter_mut() {
                h.flush(c);
            }
            h.prepare_for_mark();
            let marked = mark_from(&[head]);
            h.finish_mark(marked);
        }
        let sweeper = std::thread::spawn(move || {
            let mut n = 0;
            while h.sweep_one() {
                n += 1;
            }
            n
        });
        let handles: Vec<_> = (0..THREADS)
            .map(|id| {
                let cache = caches[id].clone();
                std::thread::spawn(move || {
                    let mut mine = Vec::new();
                    for i in 0..20_000 {
                        let size = 16 + (i % 5) * 16;
                        let a = h.alloc_with_cache(&mut cache.lock(), size, None).0.unwrap().as_ptr() as usize;
                        assert!(is_zero(a, size), "round {round}: reused memory not zeroed");
                        // SAFETY: our fresh object.
                        unsafe { ptr::write_bytes(a as *mut u8, 0x40 + id as u8, size) };
                        mine.push((a, size));
                    }
                    for &(a, size) in &mine {
                        // SAFETY: ours until the next cycle.
                        let bytes = unsafe { std::slice::from_raw_parts(a as *const u8, size) };
                        assert!(bytes.iter().all(|&b| b == 0x40 + id as u8), "object handed out twice");
                    }
                })
            })
            .collect();
        for j in handles {
            j.join().unwrap();
        }
        sweeper.join().unwrap();
        while h.sweep_one() {}
        // The kept list survived every cycle untouched.
        let (mut p, mut count) = (head, 0);
        while p != 0 {
            assert_eq!(read_word(p + 8), 0x5eed ^ (39_992 - 8 * count));
            p = read_word(p);
            count += 1;
        }
        assert_eq!(count, 5000);
    }
    h.check();
}

/// Goroutines allocate from the runtime heap through their Ps' caches (and the test
/// thread through the shared path): memory is zeroed, found, and never shared.
#[test]
fn heap_goroutines_allocate_through_p_caches() {
    const G: usize = 8;
    const PER: usize = 5_000;
    let done = Arc::new(AtomicUsize::new(0));
    let bad = Arc::new(AtomicUsize::new(0));
    let via_p = Arc::new(AtomicUsize::new(0));
    let t = GcType::new("gnode", 48, &[0, 40]).unwrap();
    for id in 0..G {
        let (done, bad, via_p) = (done.clone(), bad.clone(), via_p.clone());
        crate::sched::spawn(crate::sched::Entry::Rust(Box::new(move || {
            // A goroutine in user code reaches its P's cache (USER -> RUNNING -> USER).
            if p_cache::with_p_cache(|_| ()).is_some() {
                via_p.fetch_add(1, Ordering::Relaxed);
            }
            let mut mine = Vec::with_capacity(PER);
            for i in 0..PER {
                let a = alloc(48, Kind::Typed(t)).unwrap().as_ptr() as usize;
                if !is_zero(a, 48) || find_object(a + 47).map(|o| o.base()) != Some(a) {
                    bad.fetch_add(1, Ordering::Relaxed);
                }
                write_word(a + 8, id << 32 | i);
                mine.push(a);
                if i % 512 == 0 {
                    crate::sched::gosched();
                }
            }
            for (i, &a) in mine.iter().enumerate() {
                if read_word(a + 8) != id << 32 | i {
                    bad.fetch_add(1, Ordering::Relaxed);
                }
            }
            done.fetch_add(1, Ordering::SeqCst);
        })))
        .expect("spawn");
    }
    let mine: Vec<usize> = (0..1000).map(|_| alloc(24, Kind::NoScan).unwrap().as_ptr() as usize).collect();
    let start = std::time::Instant::now();
    while done.load(Ordering::SeqCst) < G {
        assert!(start.elapsed() < std::time::Duration::from_secs(120), "goroutines stuck");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(bad.load(Ordering::Relaxed), 0);
    assert!(via_p.load(Ordering::Relaxed) > 0, "no goroutine allocated through its P");
    assert!(p_cache::with_p_cache(|_| ()).is_none(), "a thread without a P has no P cache");
    assert!(mine.iter().all(|&a| find_object(a).is_some()));
    assert!(stats().heap_sys >= 64 << 20);
}

fn resident_pages(addr: usize, len: usize) -> usize {
    let os = crate::mem::stack::page_size();
    let mut v = vec![0u8; len.div_ceil(os)];
    // SAFETY: a range of our own mapping and a vector of one byte per page.
    let r = unsafe { libc::mincore(addr as *mut libc::c_void, len, v.as_mut_ptr()) };
    assert_eq!(r, 0);
    v.iter().filter(|&&b| b & 1 != 0).count()
}

#[test]
fn heap_release_returns_free_pages_to_the_os() {
    let h = test_heap();
    let big = noscan(h, 8 << 20);
    // SAFETY: our fresh object.
    unsafe { ptr::write_bytes(big as *mut u8, 1, 8 << 20) };
    let small: Vec<usize> = (0..20_000).map(|_| noscan(h, 256)).collect();
    for &a in &small {
        write_word(a, 7);
    }
    assert!(resident_pages(big, 8 << 20) > 0);
    let released_before = h.stats().heap_released;
    cycle(h, &mut [], &[]);
    let freed = h.release(None);
    assert!(freed >= 8 << 20, "released {freed}");
    assert_eq!(resident_pages(big, 8 << 20), 0, "pages still resident");
    let st = h.stats();
    assert!(st.heap_released >= released_before + (8 << 20));
    assert!(st.heap_released <= st.heap_sys);
    assert_eq!(h.release(None), 0, "nothing left to release");
    h.check();
    // Released pages come back zeroed without a memset (needzero is false).
    let again = noscan(h, 8 << 20);
    assert!(!find_object(again).unwrap().span.needzero.get());
    assert!(is_zero(again, 8 << 20));
    // The idle rule: runs freed in the current round stay until the next one.
    cycle(h, &mut [], &[]);
    let round = h.pages.lock().round;
    assert_eq!(h.release(Some(round)), 0);
    assert!(h.release(Some(round + 1)) >= 8 << 20);
}

#[test]
fn heap_poison_fills_freed_objects_and_delays_reuse() {
    let h = test_heap();
    h.poison.store(true, Ordering::Relaxed);
    let a = noscan(h, 64);
    write_word(a, 42);
    cycle(h, &mut [], &[]);
    // SAFETY: the slot stays allocated (quarantined) for one cycle: readable.
    let bytes = unsafe { std::slice::from_raw_parts(a as *const u8, 64) };
    assert!(bytes.iter().all(|&b| b == POISON_BYTE));
    let fresh: Vec<usize> = (0..200).map(|_| noscan(h, 64)).collect();
    assert!(!fresh.contains(&a), "quarantined slot reused");
    flush_shared(h);
    assert_eq!(h.stats().heap_objects, 200);
    cycle(h, &mut [], &fresh);
    cycle(h, &mut [], &fresh);
    let later: Vec<usize> = (0..200).map(|_| noscan(h, 64)).collect();
    assert!(later.contains(&a), "slot never reused after quarantine");
    assert!(is_zero(a, 64));
}

#[test]
fn heap_large_objects_avoid_blacklisted_pages() {
    let h = test_heap();
    // Make a free run, blacklist a page in its middle, and ask for a fitting object.
    let a = noscan(h, 64 * PAGE);
    cycle(h, &mut [], &[]);
    assert!(find_object(a).is_none());
    let hit = a + 20 * PAGE + 100;
    h.note_false_pointer(hit);
    let b = noscan(h, 40 * PAGE);
    let ob = find_object(b).unwrap();
    assert!(!(ob.base() <= hit && hit < ob.base() + ob.size()), "large object on a blacklisted page");
    // Small spans may use it.
    h.check();
    // After two cycles the blacklist has aged out.
    cycle(h, &mut [], &[]);
    cycle(h, &mut [], &[]);
    let arena = arena::arena_of(hit).unwrap();
    assert!(!arena.is_blacklisted(arena.page_index(hit)));
}

/// A span the page heap hands out is not free any more, even before its new owner sets
/// it up (outside the page heap's lock): freeing its neighbour in that window must not
/// merge it into a free run (it did, when it left still FREE: the same pages then held
/// the new owner's objects and a free run, test_heap_take_alloc's corruption).
#[test]
fn heap_span_being_set_up_is_not_merged_by_a_freed_neighbour() {
    let h = test_heap();
    let mut ph = h.pages.lock();
    let (b, _) = ph.alloc(1, false).expect("out of memory");
    assert_eq!(b.state.load(Ordering::Relaxed), span::state::CLAIMED);
    b.init_objects(0, true, false, 2);
    // Fresh arena, best fit: the next page-sized span is b's right neighbour.
    let (a, _) = ph.alloc(1, false).expect("out of memory");
    assert_eq!(a.start.get(), b.end());
    assert_eq!(a.state.load(Ordering::Relaxed), span::state::CLAIMED);
    // b dies while a is still being set up by its allocator.
    ph.free(b);
    assert_eq!(a.state.load(Ordering::Relaxed), span::state::CLAIMED);
    assert_eq!((a.start.get(), a.npages.get()), (b.end(), 1), "a was merged into the freed run");
    ph.check();
    a.init_objects(0, true, false, 2);
    ph.free(a);
    ph.check();
}

#[test]
fn heap_huge_object_spans_arenas() {
    let h = test_heap();
    let size = 3 * arena::ARENA + 12345;
    let a = noscan(h, size);
    for off in [0, arena::ARENA - 1, arena::ARENA, 2 * arena::ARENA + 5, size - 1] {
        assert_eq!(find_object(a + off).map(|o| o.base()), Some(a));
    }
    cycle(h, &mut [], &[a + 2 * arena::ARENA]);
    assert!(find_object(a).is_some(), "interior pointer keeps it");
    cycle(h, &mut [], &[]);
    assert!(find_object(a + arena::ARENA).is_none());
    assert!(h.alloc(MAX_ALLOC + 1, Kind::NoScan).is_none());
}

static HOOK_CALLS: AtomicUsize = AtomicUsize::new(0);

#[test]
fn heap_trigger_hook_runs_once_per_trigger() {
    let h = test_heap();
    h.hook.store(
        (|| {
            HOOK_CALLS.fetch_add(1, Ordering::Relaxed);
        }) as fn() as usize,
        Ordering::Release,
    );
    h.set_trigger(1 << 20);
    for _ in 0..(4 << 20) / 64 {
        noscan(h, 64);
    }
    assert_eq!(HOOK_CALLS.load(Ordering::Relaxed), 1);
    h.set_trigger(h.stats().heap_live + (1 << 20));
    for _ in 0..10 {
        noscan(h, 300_000);
    }
    assert_eq!(HOOK_CALLS.load(Ordering::Relaxed), 2);
}

/// ns per allocation of 16-64 B objects with 64K objects allocated between cycles (the
/// window: each cycle frees the previous 64K; sweeping is lazy, in the refills, as in a
/// program). Run with `cargo test --release heap_bench -- --ignored --nocapture`.
#[test]
#[ignore = "benchmark"]
fn heap_bench_small_alloc() {
    const WINDOW: usize = 64 * 1024;
    const ROUNDS: usize = 64;
    let sizes: Vec<usize> = (0..WINDOW).map(|i| 16 + (i * 2_654_435_761 % 49)).collect();
    let h = test_heap();
    let mut cache = Cache::new();
    let mut best = f64::MAX;
    let mut total = 0.0;
    for round in 0..ROUNDS {
        let t0 = std::time::Instant::now();
        for &s in &sizes {
            std::hint::black_box(h.alloc_with_cache(&mut cache, s, None));
        }
        let ns = t0.elapsed().as_nanos() as f64 / WINDOW as f64;
        if round > 0 {
            best = best.min(ns);
            total += ns;
        }
        h.flush(&mut cache);
        h.prepare_for_mark();
        h.finish_mark(0);
    }
    println!("cache fast path: mean {:.1} ns/alloc, best round {best:.1}", total / (ROUNDS - 1) as f64);
    // Through alloc() from a goroutine (the P's cache behind the USER->RUNNING handshake);
    // no cycles on the runtime heap here, so fresh memory each time.
    let out = Arc::new(parking_lot::Mutex::new(None));
    let o2 = out.clone();
    crate::sched::spawn(crate::sched::Entry::Rust(Box::new(move || {
        let mut best = f64::MAX;
        for _ in 0..8 {
            let t0 = std::time::Instant::now();
            for &s in &sizes {
                std::hint::black_box(alloc(s, Kind::NoScan));
            }
            best = best.min(t0.elapsed().as_nanos() as f64 / WINDOW as f64);
        }
        *o2.lock() = Some(best);
    })))
    .unwrap();
    loop {
        if let Some(ns) = *out.lock() {
            println!("goroutine alloc(): best round {ns:.1} ns/alloc (fresh memory, no reuse)");
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// The span struct's size is part of the heap's overhead (one per span of at least 8 KiB;
/// its bitmaps are inline): keep it under 4% of a page, about what Go's mspan plus its
/// two bitmaps cost for the 16-byte class.
#[test]
fn heap_span_struct_stays_small() {
    assert!(size_of::<Span>() * 25 <= PAGE, "Span is {} bytes", size_of::<Span>());
}

/// Every size class: every byte of a slot maps to the slot, the span tail to nothing.
#[test]
fn heap_find_object_every_class_every_byte() {
    let h = test_heap();
    for (c, ci) in CLASSES.iter().enumerate().skip(1) {
        let a = noscan(h, ci.size);
        let o = find_object(a).unwrap();
        assert_eq!((o.size(), o.base()), (ci.size, a), "class {c}");
        for off in 0..ci.size {
            assert_eq!(find_object(a + off).map(|o| o.base()), Some(a), "class {c} offset {off}");
        }
        let s = o.span;
        for addr in s.start.get() + ci.nelems * ci.size..s.end() {
            assert!(find_object(addr).is_none(), "class {c}: span tail");
        }
    }
}

/// More small objects than one arena holds: the heap grows arena by arena, and after a
/// cycle frees everything the free runs are merged and the counters add up.
#[test]
fn heap_grows_past_one_arena_and_merges_back() {
    let h = test_heap();
    let n = (arena::ARENA + arena::ARENA / 4) / 64;
    let mut first_last = (usize::MAX, 0);
    for _ in 0..n {
        let a = noscan(h, 64);
        first_last = (first_last.0.min(a), first_last.1.max(a));
    }
    assert!(h.stats().heap_sys >= 2 * arena::ARENA as u64);
    assert!(arena::arena_of(first_last.0).unwrap().base != arena::arena_of(first_last.1).unwrap().base);
    cycle(h, &mut [], &[]);
    let st = h.stats();
    assert_eq!((st.heap_objects, st.heap_alloc), (0, 0));
    let ph = h.pages.lock();
    assert_eq!(ph.free_pages * PAGE, ph.sys_bytes, "every page free again");
}

/// The marker's one-word queue entry scans like the object it came from: for every
/// small class (several objects each, so slots start at various bitmap offsets), arrays
/// and a large object, `GreyRef` gives the base back and the same pointer slots as
/// `Obj::for_each_pointer_slot`, through its one-word fast path when it applies.
#[test]
fn heap_grey_ref_scans_like_the_object() {
    let h = test_heap();
    let elem = GcType::new("pair", 16, &[0, 8]).unwrap();
    let sparse = GcType::new("sparse", 48, &[8, 40]).unwrap();
    let slots_of = |o: Obj| {
        let mut v = Vec::new();
        o.for_each_pointer_slot(|s| v.push(s));
        v
    };
    let check = |a: usize| {
        let o = find_object(a).unwrap();
        let r = GreyRef::from_word(o.grey_ref().to_word());
        assert_eq!(r.base(), a);
        let want = slots_of(o);
        let mut got = Vec::new();
        r.for_each_pointer_slot(|s| got.push(s)).unwrap();
        assert_eq!(got, want, "object of {} bytes", o.size());
        if let Some((base, mut bits)) = r.pointer_bits() {
            assert_eq!(base, a);
            let mut fast = Vec::new();
            while bits != 0 {
                fast.push(base + 8 * bits.trailing_zeros() as usize);
                bits &= bits - 1;
            }
            assert_eq!(fast, want, "one-word bits of an object of {} bytes", o.size());
        } else {
            // Only slots that straddle a bitmap word (or large objects) take the long way.
            assert!(o.size() > 512 || !o.size().is_power_of_two(), "no fast path for {} bytes", o.size());
        }
    };
    let mut fast_paths = 0;
    for ci in CLASSES.iter().skip(1) {
        for t in [elem, sparse] {
            if ci.size % t.size() != 0 {
                continue;
            }
            for _ in 0..5 {
                let a = typed(h, t, ci.size / t.size());
                assert_eq!(find_object(a).unwrap().size(), ci.size);
                check(a);
                fast_paths += usize::from(
                    GreyRef::from_word(find_object(a).unwrap().grey_ref().to_word()).pointer_bits().is_some(),
                );
            }
        }
    }
    assert!(fast_paths > 0);
    check(typed(h, elem, 10_000));
}
