//! sysmon: a thread without a P that watches the scheduler.
//!
//! Every 20 µs to 10 ms (backing off while nothing happens) it
//! - retakes the P of a goroutine that has run user code for more than 10 ms without a
//!   scheduling event (a CPU-bound C loop): the P goes to another M, the loop keeps its
//!   thread and rejoins the scheduler at its next runtime call;
//! - retakes the P of an M blocked in `gort_blocking_enter` once there is other work for it
//!   (or after 10 ms regardless);
//! - wakes an M when a timer is overdue and nobody is waiting for it;
//! - ends a time slice that has lasted 10 ms while other work waits on its P
//!   ([`watch_slices`]): goroutines that hand the P to each other through `runnext` never
//!   stay in user code long enough to be retaken, yet must not keep it for ever;
//! - prints `GORT_DEBUG=schedtrace=MS` lines.
//!
//! This module is also the scavenger's (`mem::scavenge`) source for the stacks in per-P
//! caches ([`STACK_CACHES`]).
//! When every P is idle and nothing is blocked it sleeps until a P is taken again, so an
//! idle runtime uses no CPU.
//!
//! Without signals we cannot interrupt C code, so "preemption" means giving the other
//! goroutines a new thread to run on, not stopping the loop.

use super::p::{P, pstate};
use super::proc::{self, FORCE_PREEMPT_NS, SCHED, allp, gomaxprocs};
use super::protocol::pstatus;
use crate::mem::scavenge::{IdleSource, Released};
use crate::time::nanotime;
use std::sync::atomic::Ordering;

/// A blocking call may keep its P this long while other work waits (Go: one sysmon tick).
const SYSCALL_GRACE_NS: i64 = 20_000;

pub(crate) fn start() {
    extern "C" fn body(_: *mut libc::c_void) -> *mut libc::c_void {
        run()
    }
    // Never cancelled: without sysmon the runtime does not start.
    let _counted = proc::helper_thread_starting();
    if let Err(e) = proc::spawn_thread("gort-sysmon", 256 * 1024, body, std::ptr::null_mut()) {
        crate::fatal::fatal(&format!("cannot start the sysmon thread: {e}"));
    }
}

/// The per-P stack caches as a source of idle memory. A P's cache is owner-only, so the
/// scavenger empties into the global pool only the caches of idle Ps (an idle P is owned
/// by whoever holds the scheduler lock; during a stop-the-world the idle list is empty,
/// the stopper owns the stopped Ps) and flags the others, whose owners empty their caches
/// at their next scheduling round (`P::stack_flush`). The pool, the next source, then
/// releases what stays unused. A cache refilled after the scavenger went to sleep keeps
/// at most `STACK_CACHE_MAX` stacks per P until the next burst wakes it.
pub(crate) struct StackCaches;

pub(crate) static STACK_CACHES: StackCaches = StackCaches;

/// Empties the stack caches of the idle Ps into the global pool, returns their spare
/// stack reservations, and asks the busy ones to do the same. Also the last resort of a
/// spawn that found no address space (other Ps' spare reservations are as good as new
/// slots) and of a goroutine starting with every slot carved (the idle stack it is owed
/// may sit in another P's cache).
pub(crate) fn flush_stack_caches() {
    let mut idle = Vec::new();
    {
        let l = SCHED.lock.lock();
        for &p in &l.pidle {
            // SAFETY: Ps are never freed, and an idle P's cache is ours while we hold the
            // scheduler lock (see `StackCaches`).
            let cache = unsafe { &mut *(*p).stack_cache.get() };
            idle.append(cache);
            // SAFETY: as above.
            crate::mem::stack::unreserve(unsafe { &*p }.stack_reserved.replace(0));
        }
        for i in 0..gomaxprocs() {
            let p = allp(i);
            if !l.pidle.contains(&(p as *const P)) {
                p.stack_flush.store(true, Ordering::Relaxed);
            }
        }
    }
    crate::mem::stack::STACK_POOL.put(idle);
}

impl IdleSource for StackCaches {
    fn scavenge(&self) -> Released {
        flush_stack_caches();
        Released::default()
    }

    fn pending(&self) -> bool {
        false // what it moves shows up as pending in the pool
    }
}

/// `nanotime` as of sysmon's last round (at most 10 ms old while any P works), or 0 while
/// sysmon sleeps for good (every P idle): the time a parking goroutine records in
/// `G::wait_since`, for the dump's "N minutes" and `hangwarn`. A clock read per park cost
/// 3% of the pingpong benchmark (a vDSO call, even for the coarse clock); this is one
/// load of a line that changes at most once per sysmon round. A goroutine that parks
/// while it is 0 is stamped later by the `hangwarn` watchdog (as Go stamps `waitsince`
/// lazily), and shows no wait time in a dump until then.
static RECENT_NOW: crossbeam_utils::CachePadded<std::sync::atomic::AtomicI64> =
    crossbeam_utils::CachePadded::new(std::sync::atomic::AtomicI64::new(0));

/// See [`RECENT_NOW`].
#[inline]
pub(crate) fn recent_now() -> i64 {
    RECENT_NOW.load(Ordering::Relaxed)
}

/// Called whenever a P leaves the idle list: sysmon has something to watch again.
#[inline]
pub(crate) fn wake_if_idle() {
    if SCHED.sysmon_idle.load(Ordering::SeqCst) && SCHED.sysmon_idle.swap(false, Ordering::SeqCst) {
        SCHED.sysmon_note.wakeup();
    }
}

fn run() -> ! {
    let trace_ns = crate::runtime::config().schedtrace_ms.saturating_mul(1_000_000);
    let mut delay: i64 = 20_000;
    let mut idle_rounds = 0u32;
    let mut last_trace = nanotime();
    loop {
        if idle_rounds == 0 {
            delay = 20_000;
        } else if idle_rounds > 50 {
            delay = (delay * 2).min(10_000_000);
        }
        if trace_ns > 0 {
            delay = delay.min(trace_ns);
        }
        // Wake no later than the earliest timer, to nudge a busy P that owns it.
        let until_timer = proc::earliest_timer().saturating_sub(nanotime());
        SCHED.sysmon_note.sleep(Some(delay.min(until_timer.max(20_000))));
        if proc::DEADLOCK_SUSPECT.swap(false, Ordering::SeqCst) {
            // checkdead suspects a deadlock: report it if it is still there in a moment.
            crate::time::sleep_until(nanotime() + proc::DEADLOCK_CONFIRM_NS);
            proc::confirm_deadlock();
        }
        let now = nanotime();
        RECENT_NOW.store(now, Ordering::Relaxed);
        if trace_ns == 0 && all_idle() {
            SCHED.sysmon_idle.store(true, Ordering::SeqCst);
            if all_idle() && !proc::DEADLOCK_SUSPECT.load(Ordering::SeqCst) {
                // Goroutines that park before our next round record "unknown".
                RECENT_NOW.store(0, Ordering::Relaxed);
                SCHED.sysmon_note.sleep(None);
                RECENT_NOW.store(nanotime(), Ordering::Relaxed);
            }
            SCHED.sysmon_idle.store(false, Ordering::SeqCst);
            idle_rounds = 0;
            continue;
        }
        if retake(now) > 0 {
            idle_rounds = 0;
        } else {
            idle_rounds += 1;
        }
        watch_slices(now);
        // Overdue timers: busy Ps check theirs at their next round; idle ones need an M
        // (the idle waiter, kicked, or a fresh spinning M).
        let mut overdue = false;
        for i in 0..gomaxprocs() {
            let p = allp(i);
            if p.timers.timer0.load(Ordering::Acquire) <= now {
                overdue = true;
                p.timer_nudge.store(true, Ordering::Relaxed);
            }
        }
        if overdue {
            proc::timer_added(now);
        }
        // Nobody polled the network for 10 ms (every P busy, no idle M waiting in
        // epoll): poll here, so fd wake-ups cannot starve behind CPU-bound goroutines.
        if crate::netpoll::has_waiters() && crate::netpoll::since_last_poll(now) > 10_000_000 {
            crate::netpoll::poll_nonblocking();
        }
        if trace_ns > 0 && now - last_trace >= trace_ns {
            last_trace = now;
            schedtrace(now);
        }
    }
}

fn all_idle() -> bool {
    SCHED.npidle.load(Ordering::SeqCst) == gomaxprocs()
        && SCHED.nsyscall.load(Ordering::SeqCst) == 0
        && !SCHED.stw_pending.load(Ordering::SeqCst)
}

/// Takes Ps away from Ms stuck in user code or blocking calls. Returns how many.
fn retake(now: i64) -> usize {
    let mut n = 0;
    for i in 0..gomaxprocs() {
        let p = allp(i);
        let s = p.status.load(Ordering::Acquire);
        let st = s & 0xff;
        if st != pstate::USER && st != pstate::SYSCALL {
            continue;
        }
        // A key that changes with every scheduling event or blocking call on this P.
        let key =
            (p.schedtick.load(Ordering::Relaxed) << 24) ^ p.syscalltick.load(Ordering::Relaxed) ^ (st << 56) ^ (s >> 8);
        if p.sysmon_tick.load(Ordering::Relaxed) != key {
            p.sysmon_tick.store(key, Ordering::Relaxed);
            p.sysmon_when.store(now, Ordering::Relaxed);
            continue;
        }
        let held = now - p.sysmon_when.load(Ordering::Relaxed);
        let work_waits = || !p.runq_empty() || SCHED.runq_len.load(Ordering::SeqCst) > 0 || !p.timers.is_empty();
        let take = if st == pstate::USER {
            // Only when something waits for a P: taking the P of a goroutine that runs
            // alone only costs it a trip through the scheduler at its next gort call (and
            // a woken M that finds nothing). Go likewise only asks such a goroutine to
            // yield; work that shows up later is seen at the next check.
            held >= FORCE_PREEMPT_NS && work_waits()
        } else {
            let others_could_use_it =
                work_waits() || SCHED.nmspinning.load(Ordering::SeqCst) + SCHED.npidle.load(Ordering::SeqCst) == 0;
            held >= FORCE_PREEMPT_NS || (held >= SYSCALL_GRACE_NS && others_could_use_it)
        };
        if take && pstatus::take(&*p.status, s, pstate::IDLE) {
            p.wait_heap_cache_owner(s);
            // Only a blocking call's P counts as activity that keeps sysmon polling every
            // 20 µs (Go's rule: its preemption of a running P does not either). Counting
            // the 10 ms retakes of CPU-bound goroutines made sysmon poll at 20 µs for the
            // first ms after each, ~5,800 wake-ups/s with every P busy: on 2 CPUs they
            // took that time from the goroutines (sync.Pool's benchmark on 2 Ps: 1,175
            // context switches per run, Go's 160; 165 with this rule, issue 16).
            n += usize::from(st == pstate::SYSCALL);
            proc::handoffp(p);
        }
    }
    n
}

/// Flags the Ps whose time slice has lasted [`FORCE_PREEMPT_NS`] while something else
/// waits there (a queued goroutine, the global queue, a due timer): the owner's next pick
/// ends the slice (`proc::local_next`). A slice lives as long as `P::slice_tick` stays
/// the same, which `runnext` hand-offs do not change (Go's `inheritTime`). A P with
/// nothing else to run keeps its slice: ending it would only cost a trip through the
/// global queue. This is Go's sysmon preemption of a goroutine that used up its slice,
/// done where a goroutine calls into gort instead of by interrupting it.
fn watch_slices(now: i64) {
    let global_waiting = SCHED.runq_len.load(Ordering::Relaxed) > 0;
    for i in 0..gomaxprocs() {
        let p = allp(i);
        let st = p.state();
        let tick = p.slice_tick.load(Ordering::Relaxed);
        let running = st == pstate::RUNNING || st == pstate::USER;
        if !running || tick != p.sysmon_slice_tick.load(Ordering::Relaxed) {
            // A new slice, or none (an idle P starts one when it runs again).
            p.sysmon_slice_tick.store(tick, Ordering::Relaxed);
            p.sysmon_slice_when.store(now, Ordering::Relaxed);
            continue;
        }
        let age = now - p.sysmon_slice_when.load(Ordering::Relaxed);
        if age < FORCE_PREEMPT_NS || p.slice_over.load(Ordering::Relaxed) {
            continue;
        }
        if global_waiting || !p.stealer.is_empty() || p.timers.timer0.load(Ordering::Relaxed) <= now {
            p.slice_over.store(true, Ordering::Relaxed);
        }
    }
}

fn schedtrace(now: i64) {
    let st = proc::stats();
    let ms = (now - SCHED.start_time.load(Ordering::Relaxed)) / 1_000_000;
    let local: Vec<String> = st.local.iter().map(|n| n.to_string()).collect();
    let line = format!(
        "SCHED {}ms: gomaxprocs={} idleprocs={} threads={} spinningthreads={} idlethreads={} runqueue={} [{}]\n",
        ms,
        st.gomaxprocs,
        st.idleprocs,
        st.threads + 1,
        st.spinning,
        st.idlethreads,
        st.runqueue,
        local.join(" ")
    );
    crate::fatal::write_stderr(line.as_bytes());
}
