//! `select`: wait on several channel operations, run exactly one.
//!
//! # Protocol (Go's `selectgo`)
//! 1. Cases with a null channel are switched off. The live cases get a random *poll
//!    order* (a Fisher–Yates shuffle), which makes the choice among ready cases uniform,
//!    and a *lock order*: by channel address, so two selects (or a select and a plain
//!    operation) always take the locks they share in the same order and cannot deadlock.
//!    A channel named by several cases is locked once, and cases on one channel keep
//!    their random poll order among themselves (see step 3).
//! 2. With every channel locked, the cases are polled in poll order; the first that can
//!    run now runs (the same steps as a plain send or receive), the locks are released and
//!    its index returned.
//! 3. Nothing ready: a passed deadline returns "would block" (Go's `default`). Otherwise
//!    the waiter starts a wait ([`Waiter::begin`]), puts one sudog per case in the
//!    channels' queues, and blocks; the park callback releases every lock.
//! 4. A waker on any of the channels claims the wait — exactly one wins, or the deadline
//!    does — fills in its sudog (`fired`) and wakes us. We lock every channel again,
//!    unlink the sudogs still queued, and report the case that fired.
//!
//! Case records are read while the channels are locked and the sudogs live on this stack
//! frame; step 4's relock is what makes it safe to return: a waker can only touch a sudog
//! it dequeued under that channel's lock.

use super::{Chan, Sudog, block_until, expired, go_panic};
use crate::sched::{NO_DEADLINE, Waiter, Woken};
use std::mem::MaybeUninit;
use std::ptr;

/// Case directions (the values of `GORT_SEND` and `GORT_RECV`).
pub(crate) struct Dir;
impl Dir {
    pub(crate) const SEND: i32 = 1;
    pub(crate) const RECV: i32 = 2;
}

/// One case; the layout of the C `gort_case` (the FFI layer checks `dir`).
#[repr(C)]
pub(crate) struct Case {
    /// Null: the case is switched off.
    pub chan: *const Chan,
    /// [`Dir::SEND`] or [`Dir::RECV`].
    pub dir: i32,
    /// Send: the element. Receive: where to put it (null discards).
    pub elem: *mut u8,
    /// Out, for a receive: 1 value, 0 closed.
    pub ok: i32,
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub(crate) enum SelectError {
    /// Nothing was ready and the deadline had passed on entry.
    WouldBlock,
    /// The deadline passed while waiting.
    TimedOut,
}

/// Up to this many cases, the select's scratch arrays live on the stack.
const SMALL: usize = 8;

/// A uniformly distributed number in `0..n` (n > 0).
#[inline]
fn rand_below(n: usize) -> usize {
    ((crate::sched::proc::fastrand() as u64 * n as u64) >> 32) as usize
}

/// What the park callback needs to release the locks.
struct LockSet {
    cases: *const Case,
    order: *const u32,
    n: usize,
}

/// # Safety
/// The locks of the live cases in `order` (sorted by channel) are held by the caller.
///
/// Called from a park callback, `cases` and `order` live on the parked goroutine's stack,
/// and the goroutine may be readied as soon as the first lock is released. It cannot
/// return from `select` before it has relocked every channel, the last one included; so
/// everything read while the last channel's lock is still held is still there. We stop
/// right after unlocking the last channel rather than walking on over its duplicate
/// entries (those reads would race with the goroutine returning and reusing its frame).
unsafe fn unlock_all(cases: *const Case, order: *const u32, n: usize) {
    if n == 0 {
        return;
    }
    // SAFETY: order has n > 0 entries naming live cases; all locks are still held.
    let final_chan = unsafe { (*cases.add(*order.add(n - 1) as usize)).chan };
    let mut last: *const Chan = ptr::null();
    for k in 0..n {
        // SAFETY: entry k is read before the lock of `final_chan` is released (see above).
        let c = unsafe { (*cases.add(*order.add(k) as usize)).chan };
        if c != last {
            // SAFETY: we hold its lock.
            unsafe { (*c).unlock() };
            if ptr::eq(c, final_chan) {
                return; // the rest are duplicates of it; the frame may be gone now
            }
            last = c;
        }
    }
}

fn release_locks(arg: usize) {
    // SAFETY: arg is the LockSet on the selecting waiter's frame, valid until the last
    // unlock (see `unlock_all`). Copy it out first.
    let LockSet { cases, order, n } = unsafe { ptr::read(arg as *const LockSet) };
    // SAFETY: the select holds these locks and hands them to us.
    unsafe { unlock_all(cases, order, n) };
}

fn lock_all(cases: &[Case], order: &[u32]) {
    let mut last: *const Chan = ptr::null();
    for &i in order {
        let c = cases[i as usize].chan;
        if c != last {
            // SAFETY: live channel (the caller holds a reference).
            unsafe { (*c).lock.lock() };
            last = c;
        }
    }
}

/// Runs one ready case (choosing uniformly among several), or waits until one can run or
/// `deadline` passes. Returns the index of the case that ran; for a receive its `ok` is set
/// (and its element zeroed when the channel was closed). A send case on a closed channel
/// is a gort panic, as in Go.
///
/// # Safety
/// Every non-null `chan` is a live channel the caller holds a reference to; every `elem`
/// is valid for the channel's element size (null allowed for receives and for size 0).
pub(crate) unsafe fn select(cases: &mut [Case], deadline: i64) -> Result<usize, SelectError> {
    if cfg!(feature = "tsan") {
        // As a send or receive: release on every channel it may operate on, acquire on
        // the one it did.
        for c in cases.iter().filter(|c| !c.chan.is_null()) {
            crate::sched::tsan::release(c.chan);
        }
    }
    // SAFETY: per the contract.
    let r = unsafe { select_unannotated(cases, deadline) };
    if cfg!(feature = "tsan")
        && let Ok(i) = r
    {
        crate::sched::tsan::acquire(cases[i].chan);
    }
    r
}

/// [`select`] without its TSan annotations.
///
/// # Safety
/// As for [`select`].
unsafe fn select_unannotated(cases: &mut [Case], deadline: i64) -> Result<usize, SelectError> {
    let n = cases.len();
    let mut poll_small = [0u32; SMALL];
    let mut lock_small = [0u32; SMALL];
    let (mut poll_vec, mut lock_vec) = (Vec::new(), Vec::new());
    let (poll_buf, lock_buf): (&mut [u32], &mut [u32]) = if n <= SMALL {
        (&mut poll_small, &mut lock_small)
    } else {
        poll_vec.resize(n, 0);
        lock_vec.resize(n, 0);
        (&mut poll_vec, &mut lock_vec)
    };

    // 1. Poll order (inside-out Fisher–Yates over the live cases) and lock order.
    let mut live = 0;
    // Timer channels among the receive cases (see `Chan::before_recv`); no allocation
    // unless there is one.
    let mut timers: Vec<super::TimerWait> = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        if c.chan.is_null() {
            continue;
        }
        if c.dir != Dir::SEND {
            // A timer channel's due timer fires now, before any lock is taken.
            // SAFETY: live channel (the caller holds a reference).
            if let Some(t) = unsafe { (*c.chan).before_recv(deadline != 0) } {
                timers.push(t);
            }
        }
        let j = rand_below(live + 1);
        poll_buf[live] = poll_buf[j];
        poll_buf[j] = i as u32;
        lock_buf[live] = i as u32;
        live += 1;
    }
    if live == 0 {
        return Err(match block_until("select (no cases)", deadline) {
            super::Blocked::WouldBlock => SelectError::WouldBlock,
            super::Blocked::TimedOut => SelectError::TimedOut,
        });
    }
    let poll = &poll_buf[..live];
    // The lock order: by channel address. Cases on one channel must also keep their
    // random poll order among themselves: that is the order their sudogs are queued in
    // (step 3), and a waker completes the first one it finds, so a select that blocked
    // with several cases on one channel completes a uniformly random one of them, as Go
    // does (its heap sort starts from the poll order for this reason). Sorting the poll
    // order stably would do both, but sorting the case indices (already in address order
    // for most selects) keeps the common case's branches predictable; only a select that
    // names a channel twice sorts again, from the poll order.
    let order = &mut lock_buf[..live];
    if sort_by_chan(cases, order) {
        order.copy_from_slice(poll);
        sort_by_chan(cases, order);
    }
    let order: &[u32] = order;

    // 2. Poll with every channel locked.
    lock_all(cases, order);
    for &i in poll {
        let (chan, dir, elem) = (cases[i as usize].chan, cases[i as usize].dir, cases[i as usize].elem);
        // SAFETY: live channel, locked by us.
        let c = unsafe { &*chan };
        // SAFETY: lock held; no other reference to the state is live.
        let st = unsafe { c.state() };
        if dir == Dir::SEND {
            if st.closed {
                // SAFETY: we hold them.
                unsafe { unlock_all(cases.as_ptr(), order.as_ptr(), live) };
                go_panic("send on closed channel");
            }
            if let Some(r) = c.try_send_locked(st, elem) {
                // SAFETY: we hold them.
                unsafe { unlock_all(cases.as_ptr(), order.as_ptr(), live) };
                if let Some(r) = r {
                    // SAFETY: claimed by us.
                    unsafe { (*r).waiter.wake() };
                }
                return Ok(i as usize);
            }
        } else if let Some((ok, s)) = c.try_recv_locked(st, elem) {
            // SAFETY: we hold them.
            unsafe { unlock_all(cases.as_ptr(), order.as_ptr(), live) };
            cases[i as usize].ok = ok as i32;
            if let Some(s) = s {
                // SAFETY: claimed by us.
                unsafe { (*s).waiter.wake() };
            }
            return Ok(i as usize);
        }
    }

    // 3. Nothing ready.
    if expired(deadline) {
        // SAFETY: we hold them.
        unsafe { unlock_all(cases.as_ptr(), order.as_ptr(), live) };
        return Err(SelectError::WouldBlock);
    }
    let mut sg_small: [MaybeUninit<Sudog>; SMALL] = [const { MaybeUninit::uninit() }; SMALL];
    let mut sg_vec: Vec<MaybeUninit<Sudog>> = Vec::new();
    let sudogs: &mut [MaybeUninit<Sudog>] = if n <= SMALL {
        &mut sg_small
    } else {
        sg_vec.resize_with(n, MaybeUninit::uninit);
        &mut sg_vec
    };
    let w = Waiter::current();
    let wait_gen = w.begin();
    for &i in order {
        let case = &cases[i as usize];
        let s = sudogs[i as usize].write(Sudog::new(w, case.elem));
        // SAFETY: live channel, locked; s lives in this frame until after step 4 unlinks it.
        unsafe {
            let st = (*case.chan).state();
            if case.dir == Dir::SEND { st.sendq.push(s) } else { st.recvq.push(s) }
        }
    }
    let set = LockSet { cases: cases.as_ptr(), order: order.as_ptr(), n: live };
    let reason = if deadline == NO_DEADLINE { "select" } else { "select (with deadline)" };
    let woken = w.block(reason, wait_gen, deadline, release_locks, &set as *const LockSet as usize);

    // 4. Relock, unlink what is still queued, find the case that fired.
    lock_all(cases, order);
    let mut fired = None;
    for &i in order {
        let case = &cases[i as usize];
        // SAFETY: initialised in step 3 for every case in `order`.
        let s = unsafe { sudogs[i as usize].assume_init_mut() };
        if s.queued {
            // SAFETY: locked; s is in that channel's queue.
            unsafe {
                let st = (*case.chan).state();
                if case.dir == Dir::SEND { st.sendq.remove(s) } else { st.recvq.remove(s) }
            }
        }
        if s.fired {
            fired = Some((i as usize, s.success));
        }
    }
    // SAFETY: we hold them.
    unsafe { unlock_all(cases.as_ptr(), order.as_ptr(), live) };
    match (woken, fired) {
        (Woken::TimedOut, _) => Err(SelectError::TimedOut),
        (Woken::Claimed, Some((i, success))) => {
            let case = &mut cases[i];
            if case.dir == Dir::SEND {
                if !success {
                    go_panic("send on closed channel");
                }
            } else {
                case.ok = success as i32;
                if !success {
                    // SAFETY: live channel.
                    unsafe { (*case.chan).copy(ptr::null(), case.elem) };
                }
            }
            Ok(i)
        }
        (Woken::Claimed, None) => crate::fatal::fatal("select: woken with no case completed"),
    }
}

/// Sorts `order` (case indices) by channel address, stably; true if a channel is named
/// twice (adjacent once sorted). Two cases, the most common select, take one comparison
/// here; more go to [`sort_many_by_chan`].
#[inline(always)]
fn sort_by_chan(cases: &[Case], order: &mut [u32]) -> bool {
    if let [a, b] = order {
        let (ca, cb) = (cases[*a as usize].chan, cases[*b as usize].chan);
        if ca > cb {
            std::mem::swap(a, b);
        }
        return ca == cb;
    }
    sort_many_by_chan(cases, order)
}

/// [`sort_by_chan`] for any number of cases: an insertion sort for a handful (no
/// allocation), the standard stable sort beyond.
#[inline(never)]
fn sort_many_by_chan(cases: &[Case], order: &mut [u32]) -> bool {
    if order.len() <= SMALL {
        for k in 1..order.len() {
            let mut j = k;
            while j > 0 && cases[order[j - 1] as usize].chan > cases[order[j] as usize].chan {
                order.swap(j - 1, j);
                j -= 1;
            }
        }
    } else {
        order.sort_by_key(|&i| cases[i as usize].chan as usize);
    }
    order.windows(2).any(|w| cases[w[0] as usize].chan == cases[w[1] as usize].chan)
}
