//! The goroutine, block and mutex profiles, written in pprof's format
//! (`gort_profile_write`).
//!
//! - **goroutine**: every live goroutine's stack, goroutines with the same stack counted
//!   together (Go's `pprof.Lookup("goroutine")`). Taken from a stopped world, in chunks,
//!   as `gort_dump_goroutines` does.
//! - **block**: where goroutines waited on channels, select, WaitGroup, Cond and the
//!   mutexes, and for how long. Off until `gort_set_block_profile_rate(rate)` (Go's
//!   `runtime.SetBlockProfileRate`): a wait of `d` ns is recorded if `d >= rate`, else
//!   with probability `d / rate` and then weighted by `rate / d`, so the totals stay
//!   unbiased (Go's rule since 1.17). Sleeps, fd waits and the runtime's own waits are
//!   not blocking events, as in Go.
//! - **mutex**: contention on `gort_mutex_t`/`gort_rwmutex_t`, charged to the stack of
//!   the unlock that ended it (Go 1.22's choice: the holder is who to blame). Off until
//!   `gort_set_mutex_profile_fraction(rate)`: one contended wait in `rate` is sampled, and
//!   recorded with count `rate` and delay `rate * d`.
//!
//! # Cost when off
//! One relaxed load per park (block) and per contended mutex wait (mutex). When on, a
//! sampled wait reads the clock twice and walks its frame pointers; recording takes a
//! lock and hashes the stack (a goroutine that just woke can afford it; Go does the same).
//!
//! Stacks are stored as raw return addresses and named only when a profile is written;
//! the runtime's own frames are dropped then (`traceback::is_internal`), so a sample
//! reads `gort_chan_recv <- worker <- ...`.

use super::pprof;
use super::symbolize::{Symbol, symbolize};
use super::traceback;
use super::unwind::{self, Reader};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, AtomicI64, Ordering};

/// Block profile rate in ns (0: off).
static BLOCK_RATE: AtomicI64 = AtomicI64::new(0);
/// Mutex profile fraction (0: off).
static MUTEX_FRACTION: AtomicI32 = AtomicI32::new(0);

/// Accumulated events per stack.
#[derive(Default)]
struct Bucket {
    count: f64,
    delay_ns: f64,
}

type Table = Mutex<Option<HashMap<Box<[usize]>, Bucket>>>;

static BLOCK: Table = Mutex::new(None);
static MUTEX: Table = Mutex::new(None);

/// Go's `SetBlockProfileRate`: `rate` ns per sampled event (1: every event; <= 0: off).
/// Returns the previous rate.
pub(crate) fn set_block_rate(rate: i64) -> i64 {
    let old = BLOCK_RATE.swap(rate.max(0), Ordering::Relaxed);
    super::update_observed();
    old
}

/// The block profile rate (0: off).
pub(crate) fn block_rate() -> i64 {
    BLOCK_RATE.load(Ordering::Relaxed)
}

/// Go's `SetMutexProfileFraction`: one event in `rate` sampled (0: off). A negative rate
/// only reads the current one. Returns the previous fraction.
pub(crate) fn set_mutex_fraction(rate: i32) -> i32 {
    if rate < 0 {
        return MUTEX_FRACTION.load(Ordering::Relaxed);
    }
    MUTEX_FRACTION.swap(rate, Ordering::Relaxed)
}

/// The wait reasons that are blocking events (Go's block profile covers channel
/// operations, select and the sync package; not sleeps, I/O or the runtime's own waits).
fn is_blocking_reason(reason: &str) -> bool {
    reason.starts_with("chan ") || reason.starts_with("select") || reason.starts_with("sync.")
}

/// Called by a goroutine about to park for `reason`: the wait's start (`nanotime`) if
/// the block profile samples it, else 0 (then [`block_end`] need not be called).
#[inline]
pub(crate) fn block_begin(reason: &str) -> i64 {
    if BLOCK_RATE.load(Ordering::Relaxed) <= 0 || !is_blocking_reason(reason) {
        return 0;
    }
    crate::time::nanotime()
}

/// The wait begun at `t0` by [`block_begin`] ended: decide and record.
#[cold]
pub(crate) fn block_end(t0: i64) {
    let rate = BLOCK_RATE.load(Ordering::Relaxed);
    if t0 == 0 || rate <= 0 {
        return;
    }
    let d = (crate::time::nanotime() - t0).max(1);
    let (count, delay) = if d >= rate {
        (1.0, d as f64)
    } else if (fastrand64() % rate as u64) < d as u64 {
        // Kept with probability d/rate: weighted by rate/d, as Go does.
        (rate as f64 / d as f64, rate as f64)
    } else {
        return;
    };
    record(&BLOCK, count, delay);
}

/// A contended mutex-family wait begins: its start time if the mutex profile samples it,
/// else 0.
#[inline]
pub(crate) fn mutex_wait_begin(reason: &str) -> i64 {
    let rate = MUTEX_FRACTION.load(Ordering::Relaxed);
    if rate <= 0 || !matches!(reason, "sync.Mutex.Lock" | "sync.RWMutex.Lock" | "sync.RWMutex.RLock") {
        return 0;
    }
    if rate > 1 && !fastrand64().is_multiple_of(rate as u64) {
        return 0;
    }
    crate::time::nanotime()
}

/// An unlock woke a sampled waiter that began waiting at `t0`: charge the delay to the
/// unlocker's stack.
#[cold]
pub(crate) fn mutex_event(t0: i64) {
    let rate = MUTEX_FRACTION.load(Ordering::Relaxed).max(1) as f64;
    let d = (crate::time::nanotime() - t0).max(0) as f64;
    record(&MUTEX, rate, rate * d);
}

fn record(table: &Table, count: f64, delay: f64) {
    let g = crate::sched::current_g();
    let pcs = if g.is_null() {
        let marker = 0u8;
        let sp = std::hint::black_box(&marker) as *const u8 as usize;
        unwind::here(sp.saturating_sub(1 << 20), sp.saturating_add(64 << 20), Reader::Careful)
    } else {
        // SAFETY: the running goroutine's own stack slot.
        match unsafe { (*g).stack() } {
            Some(s) => unwind::here(s.lo() as usize, s.top() as usize, Reader::Direct),
            None => return,
        }
    };
    let key: Box<[usize]> = pcs.as_slice().into();
    let mut t = table.lock();
    let b = t.get_or_insert_with(HashMap::new).entry(key).or_default();
    b.count += count;
    b.delay_ns += delay;
}

fn fastrand64() -> u64 {
    let a = crate::sched::proc::fastrand() as u64;
    (a << 32) | crate::sched::proc::fastrand() as u64
}

/// Names pcs for pprof and drops the runtime's frames.
pub(crate) struct Namer {
    sym: Symbol,
}

impl Namer {
    pub(crate) fn new() -> Namer {
        Namer { sym: Symbol::new() }
    }

    /// The stack without runtime frames, innermost first.
    fn user_frames(&mut self, pcs: &[usize]) -> Vec<u64> {
        let mut out = Vec::with_capacity(pcs.len());
        for (i, &pc) in pcs.iter().enumerate() {
            let found = symbolize(pc, i > 0, &mut self.sym);
            if found && traceback::is_internal(self.sym.name()) {
                continue;
            }
            if !found && out.is_empty() {
                continue;
            }
            out.push(pc as u64);
        }
        out
    }

    /// Names the return address `pc` (looked up at `pc - 1`).
    pub(crate) fn frame(&mut self, pc: u64) -> Option<pprof::Frame> {
        if !symbolize(pc as usize, true, &mut self.sym) {
            return None;
        }
        let function = String::from_utf8_lossy(self.sym.name()).into_owned();
        let file = String::from_utf8_lossy(self.sym.file()).into_owned();
        Some(pprof::Frame { function, file, line: self.sym.line as i64 })
    }
}

pub(crate) fn now_unix_ns() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

/// A profile of `samples` with these sample types (the first is also the period's type),
/// stamped with the current time, frames named by `namer`.
fn encode(types: &[(&str, &str)], period: i64, samples: Vec<pprof::Sample>, namer: &mut Namer) -> Vec<u8> {
    let p = pprof::Profile {
        sample_types: types.iter().map(|&(t, u)| (t.into(), u.into())).collect(),
        period_type: types.first().map(|&(t, u)| (t.into(), u.into())),
        period,
        time_nanos: now_unix_ns(),
        duration_nanos: 0,
        default_sample_type: None,
        comments: Vec::new(),
        samples,
    };
    // Every pc of a sample is a return address (walks start at a caller), so lines are
    // looked up at pc - 1.
    pprof::encode(&p, &mut |pc| namer.frame(pc))
}

/// The block or mutex profile as pprof bytes.
fn contention_profile(table: &Table, period: i64) -> Vec<u8> {
    let entries: Vec<(Box<[usize]>, f64, f64)> = {
        let t = table.lock();
        t.as_ref().map(|m| m.iter().map(|(k, b)| (k.clone(), b.count, b.delay_ns)).collect()).unwrap_or_default()
    };
    let mut namer = Namer::new();
    let mut merged: HashMap<Vec<u64>, (f64, f64)> = HashMap::new();
    for (pcs, c, d) in entries {
        let e = merged.entry(namer.user_frames(&pcs)).or_default();
        e.0 += c;
        e.1 += d;
    }
    let samples = merged
        .into_iter()
        .map(|(pcs, (c, d))| pprof::Sample {
            pcs,
            values: vec![c.round() as i64, d.round() as i64],
            str_labels: Vec::new(),
            num_labels: Vec::new(),
        })
        .collect();
    encode(&[("contentions", "count"), ("delay", "nanoseconds")], period, samples, &mut namer)
}

/// The goroutine profile as pprof bytes.
fn goroutine_profile() -> Vec<u8> {
    let mut stacks: Vec<Vec<usize>> = Vec::new();
    traceback::snapshot(|r| stacks.push(r.pcs.as_slice().to_vec()));
    let mut namer = Namer::new();
    let mut merged: HashMap<Vec<u64>, i64> = HashMap::new();
    for pcs in stacks {
        *merged.entry(namer.user_frames(&pcs)).or_default() += 1;
    }
    let samples = merged
        .into_iter()
        .map(|(pcs, n)| pprof::Sample { pcs, values: vec![n], str_labels: Vec::new(), num_labels: Vec::new() })
        .collect();
    encode(&[("goroutine", "count")], 1, samples, &mut namer)
}

/// Errors of [`write()`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum WriteError {
    UnknownProfile,
    Io(i32),
}

/// `gort_profile_write`: the named profile to `fd`.
pub(crate) fn write(name: &str, fd: i32) -> Result<(), WriteError> {
    let bytes = match name {
        "goroutine" => goroutine_profile(),
        "block" => contention_profile(&BLOCK, BLOCK_RATE.load(Ordering::Relaxed).max(1)),
        "mutex" => contention_profile(&MUTEX, MUTEX_FRACTION.load(Ordering::Relaxed).max(1) as i64),
        _ => return Err(WriteError::UnknownProfile),
    };
    super::write_all(fd, &bytes).map_err(WriteError::Io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocking_reasons_are_gos() {
        assert!(is_blocking_reason("chan receive"));
        assert!(is_blocking_reason("chan send (nil chan)"));
        assert!(is_blocking_reason("select"));
        assert!(is_blocking_reason("sync.WaitGroup.Wait"));
        assert!(!is_blocking_reason("sleep"));
        assert!(!is_blocking_reason("IO wait"));
    }

    #[test]
    fn rates_swap_and_report_the_old_value() {
        let old = set_mutex_fraction(5);
        assert_eq!(set_mutex_fraction(-1), 5);
        assert_eq!(set_mutex_fraction(old), 5);
    }

    #[test]
    fn unknown_profile_is_an_error() {
        assert_eq!(write("heapz", -1), Err(WriteError::UnknownProfile));
    }
}
