//! A P's shared part of a pool: a chain of rings, each a single-producer,
//! multi-consumer double-ended queue of object pointers (Go's `poolChain` of
//! `poolDequeue`s, bounded).
//!
//! # A ring
//! `2^k` slots and one 64-bit word, `head << 32 | tail`. The owner pushes and pops at the
//! head; any thread pops at the tail. A pop claims its slot by a CAS of the word (head − 1
//! for the owner, tail + 1 for a thief) and only then reads the slot and clears it; so two
//! pops can never both get one object. A slot is free when it holds null: a thief clears
//! its slot *after* its CAS moved the tail, so the owner, finding the ring not full by the
//! indices, must still find the slot null before it writes there (else the ring counts as
//! full for now). The owner writes the slot, then publishes it by moving the head
//! (Release); a thief reads the word (Acquire) before the slot. Popped slots are cleared at
//! once, so the collector, which scans every slot of every ring as a root, keeps alive
//! only objects the pool still holds (or one a pop is handing out, which is in the popping
//! thread's registers as well).
//!
//! # The chain
//! Rings of 8, 16, ... `8 << (NRINGS - 1)` slots, at most one of each size, made when the
//! newest is full and never freed before the chain is: `rings[k]` is published once
//! (Release) and stays. `head` (owner only) is the newest ring; `tail` is the oldest one
//! that may still hold objects, moved forward by a thief that found a ring empty while a
//! newer one existed (the owner never pushes into a ring once a newer one exists, so such
//! a ring stays empty). The owner pops newest ring first (Go: reuse what is warm), thieves
//! oldest first. When the newest ring is the largest and full, a push fails: the caller
//! drops the object. That is the bound: a chain holds at most [`CHAIN_CAP`] objects.
//!
//! Keeping emptied rings until the chain goes (Go's chain drops them for its collector)
//! is what lets a thief that read a ring pointer use it without any reclamation scheme:
//! the memory stays valid as long as the generation of the pool it belongs to, and
//! generations are freed only when no thread can be inside them (see `super`). The cost
//! is at most one ring of each size per chain.
//!
//! Rejected: an unbounded chain as Go's (without collections nothing would ever shrink
//! it), a single fixed ring per P (either large for every pool on every P, or a small
//! burst already spills), a lock per P (the point is that get/put on one P take none).

use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};

/// Ring sizes 8, 16, ..., 1024.
pub(crate) const NRINGS: usize = 8;
const FIRST_RING: usize = 8;
/// The most objects a chain holds: 8 + 16 + ... + 1024.
pub(crate) const CHAIN_CAP: usize = FIRST_RING * ((1 << NRINGS) - 1);

pub(crate) struct Ring {
    /// `head << 32 | tail`, both counting up and wrapping; `head - tail` objects are in.
    head_tail: AtomicU64,
    /// The slots; null = free. Written by the owner before the head moves over them,
    /// taken and cleared by whoever claimed them with a CAS of `head_tail`.
    vals: Box<[AtomicPtr<c_void>]>,
}

#[inline]
fn unpack(w: u64) -> (u32, u32) {
    ((w >> 32) as u32, w as u32)
}

#[inline]
fn pack(head: u32, tail: u32) -> u64 {
    ((head as u64) << 32) | tail as u64
}

impl Ring {
    fn new(cap: usize) -> Option<Box<Ring>> {
        debug_assert!(cap.is_power_of_two());
        let mut v = Vec::new();
        v.try_reserve_exact(cap).ok()?;
        v.resize_with(cap, || AtomicPtr::new(ptr::null_mut()));
        Some(Box::new(Ring { head_tail: AtomicU64::new(0), vals: v.into_boxed_slice() }))
    }

    #[inline]
    fn slot(&self, i: u32) -> &AtomicPtr<c_void> {
        // The length is a power of two: the mask keeps the index in bounds.
        &self.vals[i as usize & (self.vals.len() - 1)]
    }

    /// Owner only. False if the ring is full (or a thief has not cleared its slot yet).
    #[inline]
    fn push_head(&self, v: *mut c_void) -> bool {
        let (head, tail) = unpack(self.head_tail.load(Ordering::Acquire));
        if head.wrapping_sub(tail) as usize == self.vals.len() {
            return false;
        }
        let slot = self.slot(head);
        // Acquire: the thief's clearing store comes after its read of the object.
        if !slot.load(Ordering::Acquire).is_null() {
            return false;
        }
        slot.store(v, Ordering::Relaxed);
        // Release: a thief that sees the new head sees the slot. Only the owner moves
        // the head up, so an add cannot disturb a thief's concurrent tail CAS (which
        // then fails and retries).
        self.head_tail.fetch_add(1 << 32, Ordering::Release);
        true
    }

    /// Owner only: the newest object.
    #[inline]
    fn pop_head(&self) -> Option<*mut c_void> {
        let mut w = self.head_tail.load(Ordering::Acquire);
        let head = loop {
            let (head, tail) = unpack(w);
            if head == tail {
                return None;
            }
            let head = head.wrapping_sub(1);
            match self.head_tail.compare_exchange_weak(w, pack(head, tail), Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break head,
                Err(now) => w = now,
            }
        };
        let slot = self.slot(head);
        let v = slot.load(Ordering::Relaxed);
        slot.store(ptr::null_mut(), Ordering::Relaxed);
        debug_assert!(!v.is_null());
        Some(v)
    }

    /// Any thread: the oldest object.
    #[inline]
    fn pop_tail(&self) -> Option<*mut c_void> {
        let mut w = self.head_tail.load(Ordering::Acquire);
        let tail = loop {
            let (head, tail) = unpack(w);
            if head == tail {
                return None;
            }
            match self.head_tail.compare_exchange_weak(
                w,
                pack(head, tail.wrapping_add(1)),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break tail,
                Err(now) => w = now,
            }
        };
        let slot = self.slot(tail);
        let v = slot.load(Ordering::Relaxed);
        // Release: the owner's next push into this slot comes after our read.
        slot.store(ptr::null_mut(), Ordering::Release);
        debug_assert!(!v.is_null());
        Some(v)
    }
}

pub(crate) struct Chain {
    /// Ring `k` (`8 << k` slots) once made: stored once (Release) by the owner, freed
    /// only with the chain.
    rings: [AtomicPtr<Ring>; NRINGS],
    /// The newest ring. Owner only (atomic for a plain word the collector never reads).
    head: AtomicU32,
    /// The oldest ring that may hold objects; thieves move it up by CAS.
    tail: AtomicU32,
}

impl Chain {
    /// (The runtime makes chains zeroed, inside their Local; this is the same value.)
    #[cfg(all(test, not(loom)))]
    pub(crate) const fn new() -> Chain {
        Chain {
            rings: [const { AtomicPtr::new(ptr::null_mut()) }; NRINGS],
            head: AtomicU32::new(0),
            tail: AtomicU32::new(0),
        }
    }

    #[inline]
    fn ring(&self, k: usize) -> Option<&Ring> {
        // SAFETY: rings are freed only with the chain (see the module docs).
        unsafe { self.rings[k].load(Ordering::Acquire).as_ref() }
    }

    /// Owner only. False: the chain is full (or out of memory); the caller keeps `v`.
    #[inline]
    pub(crate) fn push_head(&self, v: *mut c_void) -> bool {
        let k = self.head.load(Ordering::Relaxed) as usize;
        if let Some(r) = self.ring(k)
            && r.push_head(v)
        {
            return true;
        }
        self.push_slow(k, v)
    }

    #[cold]
    #[inline(never)]
    fn push_slow(&self, k: usize, v: *mut c_void) -> bool {
        // The first ring, or the next size up.
        let next = if self.rings[k].load(Ordering::Relaxed).is_null() { k } else { k + 1 };
        if next >= NRINGS {
            return false;
        }
        let Some(ring) = Ring::new(FIRST_RING << next) else { return false };
        let pushed = ring.push_head(v);
        debug_assert!(pushed);
        self.rings[next].store(Box::into_raw(ring), Ordering::Release);
        self.head.store(next as u32, Ordering::Relaxed);
        true
    }

    /// Owner only: newest ring first, newest object first.
    #[inline]
    pub(crate) fn pop_head(&self) -> Option<*mut c_void> {
        let tail = self.tail.load(Ordering::Relaxed) as usize;
        let mut k = self.head.load(Ordering::Relaxed) as usize;
        loop {
            if let Some(v) = self.ring(k).and_then(Ring::pop_head) {
                return Some(v);
            }
            if k <= tail {
                return None;
            }
            k -= 1;
        }
    }

    /// Any thread: oldest ring first, oldest object first.
    pub(crate) fn pop_tail(&self) -> Option<*mut c_void> {
        let mut k = self.tail.load(Ordering::Acquire) as usize;
        loop {
            let r = self.ring(k)?;
            // The next ring is read before the pop: if it existed then and the pop finds
            // this ring empty, this ring stays empty (the owner pushes only to the newest).
            let next = if k + 1 < NRINGS { self.ring(k + 1) } else { None };
            if let Some(v) = r.pop_tail() {
                return Some(v);
            }
            next?;
            let _ = self.tail.compare_exchange(k as u32, (k + 1) as u32, Ordering::AcqRel, Ordering::Relaxed);
            k += 1;
        }
    }

    /// Every slot of every ring, for the collector's root scan: `f(address, bytes)`.
    /// Valid in any frozen state: a ring is visible only once complete.
    pub(crate) fn for_each_range(&self, f: &mut dyn FnMut(*const u8, usize)) {
        for k in 0..NRINGS {
            if let Some(r) = self.ring(k) {
                f(r.vals.as_ptr() as *const u8, std::mem::size_of_val(&*r.vals));
            }
        }
    }

    /// Takes every object out (`f` for each), oldest ring first. The caller has the
    /// chain to itself.
    pub(crate) fn drain(&self, f: &mut dyn FnMut(*mut c_void)) {
        for k in 0..NRINGS {
            if let Some(r) = self.ring(k) {
                for s in r.vals.iter() {
                    let v = s.swap(ptr::null_mut(), Ordering::AcqRel);
                    if !v.is_null() {
                        f(v);
                    }
                }
                r.head_tail.store(0, Ordering::Relaxed);
            }
        }
    }
}

impl Drop for Chain {
    fn drop(&mut self) {
        for r in &self.rings {
            let r = r.load(Ordering::Relaxed);
            if !r.is_null() {
                // SAFETY: made by Box::into_raw in push_slow, dropped once, here.
                drop(unsafe { Box::from_raw(r) });
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    fn obj(i: usize) -> *mut c_void {
        (i << 4) as *mut c_void
    }

    #[test]
    fn owner_lifo_thief_fifo() {
        let c = Chain::new();
        for i in 1..=20 {
            assert!(c.push_head(obj(i)));
        }
        assert_eq!(c.pop_head(), Some(obj(20)));
        assert_eq!(c.pop_tail(), Some(obj(1)));
        assert_eq!(c.pop_tail(), Some(obj(2)));
        assert_eq!(c.pop_head(), Some(obj(19)));
        let mut rest = Vec::new();
        while let Some(v) = c.pop_head() {
            rest.push(v as usize >> 4);
        }
        assert_eq!(rest, (3..=18).rev().collect::<Vec<_>>());
        assert_eq!(c.pop_tail(), None);
    }

    #[test]
    fn bounded() {
        let c = Chain::new();
        for i in 1..=CHAIN_CAP {
            assert!(c.push_head(obj(i)), "push {i}");
        }
        assert!(!c.push_head(obj(CHAIN_CAP + 1)));
        let mut seen = HashSet::new();
        c.drain(&mut |v| assert!(seen.insert(v as usize)));
        assert_eq!(seen.len(), CHAIN_CAP);
        assert_eq!(c.pop_head(), None);
        assert_eq!(c.pop_tail(), None);
    }

    #[test]
    fn ranges_cover_rings() {
        let c = Chain::new();
        let mut bytes = 0;
        c.for_each_range(&mut |_, n| bytes += n);
        assert_eq!(bytes, 0);
        for i in 1..=9 {
            c.push_head(obj(i));
        }
        c.for_each_range(&mut |_, n| bytes += n);
        assert_eq!(bytes, (8 + 16) * 8);
    }

    /// One owner pushing and popping, three thieves stealing: every object comes out
    /// exactly once (Go's TestPoolDequeue shape).
    #[test]
    fn owner_and_thieves() {
        const N: usize = 200_000;
        let c = Arc::new(Chain::new());
        let done = Arc::new(AtomicBool::new(false));
        let thieves: Vec<_> = (0..3)
            .map(|_| {
                let c = c.clone();
                let done = done.clone();
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    loop {
                        match c.pop_tail() {
                            Some(v) => got.push(v as usize),
                            None if done.load(Ordering::Acquire) => {
                                while let Some(v) = c.pop_tail() {
                                    got.push(v as usize);
                                }
                                return got;
                            }
                            None => std::hint::spin_loop(),
                        }
                    }
                })
            })
            .collect();
        let mut mine = Vec::new();
        let mut dropped = Vec::new();
        for i in 1..=N {
            if !c.push_head(obj(i)) {
                dropped.push(obj(i) as usize);
            }
            if i % 3 == 0
                && let Some(v) = c.pop_head()
            {
                mine.push(v as usize);
            }
        }
        done.store(true, Ordering::Release);
        let mut all: Vec<usize> = thieves.into_iter().flat_map(|t| t.join().unwrap()).collect();
        all.extend(mine);
        all.extend(dropped);
        c.drain(&mut |v| all.push(v as usize));
        assert_eq!(all.len(), N);
        let set: HashSet<usize> = all.into_iter().collect();
        assert_eq!(set.len(), N);
    }
}
