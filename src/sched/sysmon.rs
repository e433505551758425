//! sysmon: a thread without a P that watches the scheduler.
//!
//! Every 20 µs to 10 ms (backing off while nothing happens) it
//! - retakes the P of a goroutine that has run user code for more than 10 ms without a
//!   scheduling event (a CPU-bound C loop): the P goes to another M, the loop keeps its
//!   thread and rejoins the scheduler at its next runtime call;
//! - retakes the P of an M blocked in `gort_blocking_enter` once there is other work for it
//!   (or after 10 ms regardless);
//! - wakes an M when a timer is overdue and nobody is waiting for it;
//! - prints `GORT_DEBUG=schedtrace=MS` lines.
//! When every P is idle and nothing is blocked it sleeps until a P is taken again, so an
//! idle runtime uses no CPU.
//!
//! Without signals we cannot interrupt C code, so "preemption" means giving the other
//! goroutines a new thread to run on, not stopping the loop.

use super::p::pstate;
use super::protocol::pstatus;
use super::proc::{self, FORCE_PREEMPT_NS, SCHED, allp, gomaxprocs};
use crate::time::nanotime;
use std::sync::atomic::Ordering;

/// A blocking call may keep its P this long while other work waits (Go: one sysmon tick).
const SYSCALL_GRACE_NS: i64 = 20_000;

pub fn start() {
    extern "C" fn body(_: *mut libc::c_void) -> *mut libc::c_void {
        run()
    }
    if let Err(e) = proc::spawn_thread("gort-sysmon", 256 * 1024, body, std::ptr::null_mut()) {
        crate::fatal::fatal(&format!("cannot start the sysmon thread: {e}"));
    }
}

/// Called whenever a P leaves the idle list: sysmon has something to watch again.
#[inline]
pub fn wake_if_idle() {
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
        if trace_ns == 0 && all_idle() {
            SCHED.sysmon_idle.store(true, Ordering::SeqCst);
            if all_idle() && !proc::DEADLOCK_SUSPECT.load(Ordering::SeqCst) {
                SCHED.sysmon_note.sleep(None);
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
        // Overdue timers: busy Ps check theirs at their next round; idle ones need an M
        // (the timer waiter, kicked, or a fresh spinning M).
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
        && !SCHED.gcwaiting.load(Ordering::SeqCst)
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
        let key = (p.schedtick.load(Ordering::Relaxed) << 24) ^ p.syscalltick.load(Ordering::Relaxed) ^ (st << 56) ^ (s >> 8);
        if p.sysmon_tick.load(Ordering::Relaxed) != key {
            p.sysmon_tick.store(key, Ordering::Relaxed);
            p.sysmon_when.store(now, Ordering::Relaxed);
            continue;
        }
        let held = now - p.sysmon_when.load(Ordering::Relaxed);
        let take = if st == pstate::USER {
            held >= FORCE_PREEMPT_NS
        } else {
            let others_could_use_it = !p.runq_empty()
                || SCHED.runq_len.load(Ordering::SeqCst) > 0
                || !p.timers.is_empty()
                || SCHED.nmspinning.load(Ordering::SeqCst) + SCHED.npidle.load(Ordering::SeqCst) == 0;
            held >= FORCE_PREEMPT_NS || (held >= SYSCALL_GRACE_NS && others_could_use_it)
        };
        if take && pstatus::take(&*p.status, s, pstate::IDLE) {
            n += 1;
            proc::handoffp(p);
        }
    }
    n
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
