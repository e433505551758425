//! Figures for `gort_read_memstats` and the `gctrace` line.

use crate::mem::heap;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// What one cycle measured (all durations in ns).
#[derive(Clone, Copy, Debug)]
pub(crate) struct CycleFigures {
    pub num: u32,
    pub forced: bool,
    pub end_ns: i64,
    pub stop_ns: u64,
    pub mark_ns: u64,
    pub restart_ns: u64,
    /// The stop-the-world time: the whole cycle when the world stops to mark, the two
    /// pauses of a concurrent cycle.
    pub pause_ns: u64,
    /// A concurrent cycle's other figures (`stop_ns`, `mark_ns` and `restart_ns` are
    /// then those of its second pause).
    pub concurrent: Option<ConcurrentFigures>,
    pub heap_before: u64,
    pub live: u64,
    pub goal: u64,
    pub stacks: u64,
    pub roots: u64,
    pub workers: usize,
}

/// What only a concurrent cycle has.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConcurrentFigures {
    /// The first pause (the snapshot).
    pub pause1_ns: u64,
    /// heap_alloc when the mark ended (the second pause).
    pub heap_end: u64,
    /// Wall time of the concurrent mark between the pauses.
    pub mark_ns: u64,
    /// CPU time of the background worker in it while every P had work, and while some
    /// P was idle; CPU time of the program's threads in mark assists.
    pub background_cpu_ns: u64,
    pub idle_cpu_ns: u64,
    pub assist_cpu_ns: u64,
}

/// The history behind memstats. Protected by its mutex (never taken with the world
/// stopped: `record_cycle` runs after the restart).
pub(crate) struct History {
    pub last_gc_ns: u64,
    pub pause_total_ns: u64,
    pub pause_ns: [u64; 256],
    pub pause_max_ns: u64,
    pub num_gc: u32,
    pub num_forced_gc: u32,
    /// GC CPU time: each pause times the threads that marked in it.
    pub gc_cpu_ns: u64,
}

pub(crate) static HISTORY: Mutex<History> = Mutex::new(History {
    last_gc_ns: 0,
    pause_total_ns: 0,
    pause_ns: [0; 256],
    pause_max_ns: 0,
    num_gc: 0,
    num_forced_gc: 0,
    gc_cpu_ns: 0,
});

/// `GORT_DEBUG=gctrace=1`.
pub(crate) static GCTRACE: AtomicBool = AtomicBool::new(false);

pub(crate) fn record_cycle(c: CycleFigures) {
    let pause = c.pause_ns;
    {
        let mut h = HISTORY.lock();
        h.last_gc_ns = c.end_ns.max(0) as u64;
        h.pause_total_ns += pause;
        h.pause_ns[(c.num as usize + 255) % 256] = pause;
        h.pause_max_ns = h.pause_max_ns.max(pause);
        h.num_gc = c.num;
        h.num_forced_gc += u32::from(c.forced);
        h.gc_cpu_ns += gc_cpu_ns(&c);
    }
    if GCTRACE.load(Ordering::Relaxed) {
        print_trace(&c);
    }
}

/// The collector's CPU time in a cycle: each pause times the threads that ran in it,
/// plus a concurrent mark's background worker (assists are the program's time).
fn gc_cpu_ns(c: &CycleFigures) -> u64 {
    let mut ns = c.stop_ns + c.restart_ns + c.mark_ns * c.workers as u64;
    if let Some(k) = c.concurrent {
        ns += k.pause1_ns + k.background_cpu_ns + k.idle_cpu_ns + k.assist_cpu_ns;
    }
    ns
}

/// Go's gctrace line, adapted:
/// `gc N @S s P%: STOP+MARK+RESTART ms clock, CPU ms cpu, BEFORE->LIVE MB, GOAL MB goal,
/// STACKS MB stacks, ROOTS MB roots, W P (forced)` for a stop-the-world cycle; a
/// concurrent one shows Go's figures: `PAUSE1+CONCURRENT+PAUSE2 ms clock,
/// P1CPU+ASSIST/BACKGROUND/IDLE+P2CPU ms cpu`, `START->END->LIVE MB`, and ends with `U% mutator` (the share of
/// the Ps' CPU time the program kept during the cycle: all of it but the pauses, assists
/// and the background worker's time while every P had work; see `mutator_utilisation`).
fn print_trace(c: &CycleFigures) {
    use std::fmt::Write;
    let since = (c.end_ns - crate::sched::start_time()).max(0) as f64 / 1e9;
    let frac = cpu_fraction();
    let ms = |ns: u64| ns as f64 / 1e6;
    let mb = |b: u64| b as f64 / (1 << 20) as f64;
    let procs = crate::sched::gomaxprocs() as u64;
    let (clock, cpu, mu) = match c.concurrent {
        None => (
            format!("{:.3}+{:.3}+{:.3}", ms(c.stop_ns), ms(c.mark_ns), ms(c.restart_ns)),
            format!("{:.3}", ms(gc_cpu_ns(c))),
            String::new(),
        ),
        Some(k) => (
            format!("{:.3}+{:.3}+{:.3}", ms(k.pause1_ns), ms(k.mark_ns), ms(c.pause_ns - k.pause1_ns)),
            format!(
                "{:.3}+{:.3}/{:.3}/{:.3}+{:.3}",
                ms(k.pause1_ns * procs),
                ms(k.assist_cpu_ns),
                ms(k.background_cpu_ns),
                ms(k.idle_cpu_ns),
                ms((c.pause_ns - k.pause1_ns) * procs)
            ),
            format!(", {:.0}% mutator", mutator_utilisation(c, &k, procs) * 100.0),
        ),
    };
    let mut s = String::with_capacity(200);
    let _ = writeln!(
        s,
        "gc {} @{:.3}s {:.0}%: {} ms clock, {} ms cpu, {}{:.1}->{:.1} MB, {:.1} MB goal, {:.1} MB stacks, {:.1} MB roots, {} P{}{}{}",
        c.num,
        since,
        frac * 100.0,
        clock,
        cpu,
        c.concurrent.map_or(String::new(), |_| format!("{:.1}->", mb(c.heap_before))),
        c.concurrent.map_or(mb(c.heap_before), |k| mb(k.heap_end)),
        mb(c.live),
        if c.goal == u64::MAX { 0.0 } else { mb(c.goal) },
        mb(c.stacks),
        mb(c.roots),
        procs,
        if c.concurrent.is_some() { " (concurrent)" } else { "" },
        if c.forced { " (forced)" } else { "" },
        mu,
    );
    crate::fatal::write_stderr(s.as_bytes());
}

/// The share of the Ps' CPU time during a concurrent cycle (first pause to restart) that
/// the program kept: 1 − (pauses × Ps + assists + the background worker's time while
/// every P had work) / (cycle time × Ps). The worker's time on idle Ps is not taken
/// from the program (Go counts its idle workers the same way).
pub(crate) fn mutator_utilisation(c: &CycleFigures, k: &ConcurrentFigures, procs: u64) -> f64 {
    let wall = (k.pause1_ns + k.mark_ns + (c.pause_ns - k.pause1_ns)).max(1) as f64 * procs as f64;
    let taken = (c.pause_ns * procs + k.assist_cpu_ns + k.background_cpu_ns) as f64;
    (1.0 - taken / wall).clamp(0.0, 1.0)
}

/// GC CPU time over all the CPU time the Ps have had since the start.
pub(crate) fn cpu_fraction() -> f64 {
    let gc = HISTORY.lock().gc_cpu_ns as f64;
    let wall = (crate::time::nanotime() - crate::sched::start_time()).max(1) as f64;
    (gc / (wall * crate::sched::gomaxprocs() as f64)).min(1.0)
}

/// Bytes of goroutine and thread stacks in use at the last collection: from each
/// stack's top to its saved stack pointer, as the collector scanned them.
pub(crate) static STACK_INUSE: AtomicU64 = AtomicU64::new(0);

/// Memory the runtime holds besides the heap (stacks in use): what the memory limit
/// leaves less of for the heap.
pub(crate) fn non_heap_sys() -> u64 {
    STACK_INUSE.load(Ordering::Relaxed)
}

/// The fields of `gort_memstats`, in Rust.
#[derive(Default, Clone, Debug)]
pub(crate) struct MemStats {
    pub heap_alloc: u64,
    pub heap_sys: u64,
    pub heap_released: u64,
    pub heap_objects: u64,
    pub total_alloc: u64,
    pub mallocs: u64,
    pub frees: u64,
    pub stack_inuse: u64,
    pub sys: u64,
    pub next_gc: u64,
    pub last_gc_ns: u64,
    pub pause_total_ns: u64,
    pub pause_ns: Vec<u64>,
    pub pause_max_ns: u64,
    pub num_gc: u32,
    pub num_forced_gc: u32,
    pub gc_cpu_fraction: f64,
}

/// Exact figures, as Go's `ReadMemStats`: the world stops for a moment so that every
/// per-P cache's counts are folded in.
pub(crate) fn read() -> MemStats {
    let hs = {
        let _gate = heap::lock_for_gc();
        let world = crate::sched::world::stop_world_for_gc();
        heap::flush_caches();
        let hs = heap::stats();
        world.restart();
        hs
    };
    let stack_inuse = STACK_INUSE.load(Ordering::Relaxed);
    let goal = super::pacer::PACER.goal.load(Ordering::Relaxed);
    let frac = cpu_fraction();
    let h = HISTORY.lock();
    MemStats {
        heap_alloc: hs.heap_alloc,
        // The heap's own figure is arena address space, released pages included; the
        // C field is what is backed by memory.
        heap_sys: hs.heap_sys.saturating_sub(hs.heap_released),
        heap_released: hs.heap_released,
        heap_objects: hs.heap_objects,
        total_alloc: hs.total_alloc,
        mallocs: hs.mallocs,
        frees: hs.frees,
        stack_inuse,
        sys: hs.heap_sys + hs.heap_meta + stack_inuse,
        next_gc: if goal == u64::MAX { 0 } else { goal },
        last_gc_ns: h.last_gc_ns,
        pause_total_ns: h.pause_total_ns,
        pause_ns: h.pause_ns.to_vec(),
        pause_max_ns: h.pause_max_ns,
        num_gc: h.num_gc,
        num_forced_gc: h.num_forced_gc,
        gc_cpu_fraction: frac,
    }
}
