//! The trie on boxes (no collector; nodes freed when the test's map is dropped), against
//! a reference map; and, under `--cfg loom`, models of the write protocol on loom's
//! atomics and cells.

use super::trie::{self, Entry, Node, Platform, Trie};

/// The inverse of [`trie::hash`] for a seed: keys with chosen hashes (shared prefixes).
fn unhash(h: u64, seed: [u64; 2]) -> usize {
    const M: u64 = 0xd6e8_feb8_6659_fd93;
    // The inverse of M modulo 2^64 (Newton's iteration doubles the correct bits).
    let mut inv: u64 = M;
    for _ in 0..6 {
        inv = inv.wrapping_mul(2u64.wrapping_sub(M.wrapping_mul(inv)));
    }
    assert_eq!(M.wrapping_mul(inv), 1);
    let mut x = h ^ (h >> 32);
    x = x.wrapping_mul(inv);
    x = x ^ (x >> 29) ^ (x >> 58);
    x ^= seed[1];
    x = x.wrapping_mul(inv);
    x ^= x >> 32;
    (x ^ seed[0]) as usize
}

#[cfg(not(loom))]
mod boxed {
    use super::*;
    use parking_lot::lock_api::RawMutex as _;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    pub(super) struct TestLock(parking_lot::RawMutex);
    impl trie::Lock for TestLock {
        fn new() -> Self {
            TestLock(parking_lot::RawMutex::INIT)
        }
        fn lock(&self) {
            self.0.lock()
        }
        fn unlock(&self) {
            // SAFETY: the trie unlocks only what it locked.
            unsafe { self.0.unlock() }
        }
    }

    /// Nodes and entries in boxes, freed with the platform.
    #[derive(Default)]
    pub(super) struct BoxPlatform {
        entries: Mutex<Vec<usize>>,
        nodes: Mutex<Vec<usize>>,
    }

    impl Drop for BoxPlatform {
        fn drop(&mut self) {
            for &e in self.entries.get_mut().unwrap().iter() {
                // SAFETY: boxed by new_entry, freed once.
                drop(unsafe { Box::from_raw(e as *mut Entry<BoxPlatform>) });
            }
            for &n in self.nodes.get_mut().unwrap().iter() {
                // SAFETY: boxed by new_node, freed once.
                drop(unsafe { Box::from_raw(n as *mut Node<BoxPlatform>) });
            }
        }
    }

    impl Platform for BoxPlatform {
        type Word = AtomicUsize;
        type Plain = super::super::PlainWord;
        type Lock = TestLock;
        fn new_entry(&self, key: usize, value: usize) -> *const Entry<Self> {
            use trie::Plain;
            let p = Box::into_raw(Box::new(Entry { key: Plain::new(key), value: Plain::new(value) }));
            self.entries.lock().unwrap().push(p as usize);
            p
        }
        fn new_node(&self, parent: *const Node<Self>) -> *const Node<Self> {
            let p = Box::into_raw(Box::new(Node::new(parent)));
            self.nodes.lock().unwrap().push(p as usize);
            p
        }
        fn publish(&self, slot: &AtomicUsize, v: usize) {
            slot.store(v, Ordering::Release);
        }
    }

    fn new_trie(seed: [u64; 2]) -> Trie<BoxPlatform> {
        Trie::new(BoxPlatform::default(), seed)
    }

    /// xorshift, deterministic.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    #[test]
    fn hash_is_a_bijection_with_the_inverse() {
        let seed = [0x1234_5678_9abc_def0, 0x0fed_cba9_8765_4321];
        let mut r = Rng(99);
        for _ in 0..10000 {
            let k = r.next() as usize;
            assert_eq!(unhash(trie::hash(k, seed), seed), k);
        }
    }

    /// One random operation on the trie and on the reference, with the same answer.
    fn step(t: &Trie<BoxPlatform>, reference: &mut HashMap<usize, usize>, keys: &[usize], r: &mut Rng) {
        let k = keys[r.below(keys.len() as u64) as usize];
        let v = r.below(4) as usize;
        match r.below(9) {
            0 => assert_eq!(t.load(k), reference.get(&k).copied()),
            1 => {
                t.swap(k, v);
                reference.insert(k, v);
            }
            2 => assert_eq!(t.swap(k, v), reference.insert(k, v)),
            3 => {
                let want = match reference.get(&k) {
                    Some(&e) => Ok(e),
                    None => {
                        reference.insert(k, v);
                        Err(v)
                    }
                };
                assert_eq!(t.load_or_store(k, v), want);
            }
            4 => assert_eq!(t.load_and_delete(k), reference.remove(&k)),
            5 => {
                let old = r.below(4) as usize;
                let want = reference.get(&k) == Some(&old);
                if want {
                    reference.insert(k, v);
                }
                assert_eq!(t.compare_and_swap(k, old, v), want);
            }
            6 => {
                let old = r.below(4) as usize;
                let want = reference.get(&k) == Some(&old);
                if want {
                    reference.remove(&k);
                }
                assert_eq!(t.compare_and_delete(k, old), want);
            }
            7 => {
                let mut seen = HashMap::new();
                t.range(|k, v| {
                    assert!(seen.insert(k, v).is_none(), "key visited twice");
                    true
                });
                assert_eq!(&seen, reference);
            }
            _ => {
                if r.below(50) == 0 {
                    t.clear();
                    reference.clear();
                } else {
                    assert_eq!(t.load(k), reference.get(&k).copied());
                }
            }
        }
    }

    #[test]
    fn model_random_keys() {
        let seed = [7, 11];
        let t = new_trie(seed);
        let mut reference = HashMap::new();
        let mut r = Rng(0x9e37_79b9);
        let keys: Vec<usize> = (0..300).map(|_| r.next() as usize).collect();
        for _ in 0..200_000 {
            step(&t, &mut reference, &keys, &mut r);
        }
    }

    /// Keys whose hashes share long prefixes: deep chains, expansions at every level,
    /// pruning all the way back up.
    #[test]
    fn model_deep_keys() {
        let seed = [0x5555, 0xaaaa];
        let t = new_trie(seed);
        let mut reference = HashMap::new();
        let mut r = Rng(12345);
        let mut keys = Vec::new();
        for shared in [60u32, 56, 32, 8, 4] {
            for low in 0..6u64 {
                let h = (0xabcd_ef01_2345_6789u64 >> (64 - shared) << (64 - shared)) | (low << 1) | 1;
                keys.push(unhash(h, seed));
            }
        }
        keys.push(unhash(u64::MAX, seed));
        keys.push(unhash(0, seed));
        for _ in 0..100_000 {
            step(&t, &mut reference, &keys, &mut r);
        }
        // Delete everything: every inner node is pruned, only the root is left.
        for &k in &keys {
            t.load_and_delete(k);
        }
        assert_eq!(t.shape(), (0, 1, 0));
    }

    #[test]
    fn deepest_path_is_sixteen_levels() {
        let seed = [3, 4];
        let t = new_trie(seed);
        let (a, b) = (unhash(0x1234_5678_9abc_def0, seed), unhash(0x1234_5678_9abc_def1, seed));
        assert_eq!(t.load_or_store(a, 1), Err(1));
        assert_eq!(t.load_or_store(b, 2), Err(2));
        assert_eq!((t.load(a), t.load(b)), (Some(1), Some(2)));
        assert_eq!(t.shape(), (2, 16, 15));
        assert!(t.compare_and_delete(a, 1));
        assert!(!t.compare_and_delete(b, 1));
        assert!(t.compare_and_delete(b, 2));
        assert_eq!(t.shape(), (0, 1, 0));
    }

    /// Threads on shared and private keys: the private keys end as their owner left
    /// them; a reader's Range never sees a key twice and always sees the keys that stay.
    #[test]
    fn concurrent_stress() {
        let t = Arc::new(new_trie([77, 88]));
        const STAY: usize = 500;
        for k in 0..STAY {
            t.swap(k | 1 << 40, k);
        }
        let threads: Vec<_> = (0..4u64)
            .map(|id| {
                let t = t.clone();
                std::thread::spawn(move || {
                    let mut r = Rng(id * 7919 + 1);
                    let mut mine = HashMap::new();
                    for i in 0..40_000 {
                        let shared = r.below(64) as usize;
                        let own = (id as usize + 1) << 32 | r.below(64) as usize;
                        let v = i as usize;
                        match r.below(8) {
                            0 => {
                                t.swap(shared, v);
                            }
                            1 => {
                                t.load_and_delete(shared);
                            }
                            2 => {
                                let _ = t.load_or_store(shared, v);
                            }
                            3 => {
                                assert_eq!(t.swap(own, v), mine.insert(own, v));
                            }
                            4 => assert_eq!(t.load_and_delete(own), mine.remove(&own)),
                            5 => assert_eq!(t.load(own), mine.get(&own).copied()),
                            6 => {
                                if let Some(&old) = mine.get(&own) {
                                    assert!(t.compare_and_swap(own, old, v));
                                    mine.insert(own, v);
                                }
                            }
                            _ => {
                                let mut seen = std::collections::HashSet::new();
                                let mut stay = 0;
                                t.range(|k, _| {
                                    assert!(seen.insert(k), "key {k:#x} visited twice");
                                    if k >> 40 == 1 {
                                        stay += 1;
                                    }
                                    true
                                });
                                assert_eq!(stay, STAY);
                            }
                        }
                    }
                    mine
                })
            })
            .collect();
        let mut all = HashMap::new();
        for h in threads {
            all.extend(h.join().unwrap());
        }
        for (k, v) in all {
            assert_eq!(t.load(k), Some(v));
        }
        for k in 0..STAY {
            assert_eq!(t.load(k | 1 << 40), Some(k));
        }
    }

    #[test]
    fn range_stops_when_told() {
        let t = new_trie([1, 2]);
        for k in 0..100 {
            t.swap(k, k);
        }
        let mut n = 0;
        t.range(|_, _| {
            n += 1;
            n < 10
        });
        assert_eq!(n, 10);
    }
}

#[cfg(loom)]
mod models {
    use super::*;
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    pub(super) struct LoomWord(AtomicUsize);
    impl trie::Word for LoomWord {
        fn new(v: usize) -> Self {
            LoomWord(AtomicUsize::new(v))
        }
        fn load(&self, o: Ordering) -> usize {
            self.0.load(o)
        }
        fn store(&self, v: usize, o: Ordering) {
            self.0.store(v, o)
        }
    }

    /// A loom cell: a read that is not ordered after the write fails the model.
    pub(super) struct LoomPlain(loom::cell::UnsafeCell<usize>);
    impl trie::Plain for LoomPlain {
        fn new(v: usize) -> Self {
            LoomPlain(loom::cell::UnsafeCell::new(v))
        }
        fn get(&self) -> usize {
            // SAFETY: loom checks the causality of this read.
            self.0.with(|p| unsafe { *p })
        }
    }

    pub(super) struct SpinLock(AtomicBool);
    impl trie::Lock for SpinLock {
        fn new() -> Self {
            SpinLock(AtomicBool::new(false))
        }
        fn lock(&self) {
            while self.0.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
                loom::thread::yield_now();
            }
        }
        fn unlock(&self) {
            self.0.store(false, Ordering::Release);
        }
    }

    #[derive(Default)]
    pub(super) struct LoomPlatform {
        entries: std::sync::Mutex<Vec<usize>>,
        nodes: std::sync::Mutex<Vec<usize>>,
    }

    impl Drop for LoomPlatform {
        fn drop(&mut self) {
            for &e in self.entries.get_mut().unwrap().iter() {
                // SAFETY: boxed by new_entry, freed once.
                drop(unsafe { Box::from_raw(e as *mut Entry<LoomPlatform>) });
            }
            for &n in self.nodes.get_mut().unwrap().iter() {
                // SAFETY: boxed by new_node, freed once.
                drop(unsafe { Box::from_raw(n as *mut Node<LoomPlatform>) });
            }
        }
    }

    impl Platform for LoomPlatform {
        type Word = LoomWord;
        type Plain = LoomPlain;
        type Lock = SpinLock;
        fn new_entry(&self, key: usize, value: usize) -> *const Entry<Self> {
            use trie::Plain;
            let p = Box::into_raw(Box::new(Entry { key: LoomPlain::new(key), value: LoomPlain::new(value) }));
            self.entries.lock().unwrap().push(p as usize);
            p
        }
        fn new_node(&self, parent: *const Node<Self>) -> *const Node<Self> {
            let p = Box::into_raw(Box::new(Node::new(parent)));
            self.nodes.lock().unwrap().push(p as usize);
            p
        }
        fn publish(&self, slot: &LoomWord, v: usize) {
            slot.0.store(v, Ordering::Release);
        }
    }

    const SEED: [u64; 2] = [0x1111, 0x2222];

    /// Keys in one root slot, parting at level 1 (digit `d`).
    fn key(d: u64) -> usize {
        unhash(0xa000_0000_0000_0000 | d << 56 | 1, SEED)
    }

    /// Two inserts into one root slot (the second expands it) beside a reader: the reader
    /// sees the first key's value or nothing (never an unpublished entry: the cells fail
    /// the model if publication loses its Release or the walk its Acquire), and both
    /// keys are there at the end.
    #[test]
    fn loom_syncmap_insert_expand() {
        loom::model(|| {
            let t = Arc::new(Trie::new(LoomPlatform::default(), SEED));
            let (a, b) = (key(1), key(2));
            let t1 = t.clone();
            let h1 = loom::thread::spawn(move || assert_eq!(t1.load_or_store(a, 10), Err(10)));
            let t2 = t.clone();
            let h2 = loom::thread::spawn(move || t2.swap(b, 20));
            let seen = t.load(a);
            assert!(seen.is_none() || seen == Some(10));
            h1.join().unwrap();
            assert_eq!(h2.join().unwrap(), None);
            assert_eq!((t.load(a), t.load(b)), (Some(10), Some(20)));
        });
    }

    /// The delete that empties a node unlinks it while another thread inserts into it:
    /// without the dead bit (or its re-check after locking) the insert lands in the
    /// unlinked node and is lost.
    #[test]
    fn loom_syncmap_prune_vs_insert() {
        loom::model(|| {
            let t = Arc::new(Trie::new(LoomPlatform::default(), SEED));
            let (a, b, c) = (key(1), key(2), key(3));
            t.swap(a, 1);
            t.swap(b, 2);
            t.load_and_delete(b); // a alone in a level-1 node
            let t1 = t.clone();
            let h1 = loom::thread::spawn(move || assert_eq!(t1.load_and_delete(a), Some(1)));
            let t2 = t.clone();
            let h2 = loom::thread::spawn(move || assert!(!t2.compare_and_swap(c, 0, 0) && t2.swap(c, 3).is_none()));
            h1.join().unwrap();
            h2.join().unwrap();
            assert_eq!((t.load(a), t.load(c)), (None, Some(3)));
            let mut n = 0;
            t.range(|_, _| {
                n += 1;
                true
            });
            assert_eq!(n, 1);
        });
    }
}
