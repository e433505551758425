//! When to collect: Go's GOGC model with a soft memory limit.
//!
//! After a cycle marks `live` bytes, the next cycle starts when the heap reaches
//!
//! ```text
//! goal = live + (live + stacks + roots) * gc_percent / 100      (at least MIN_HEAP * gc_percent / 100)
//! ```
//!
//! so with the default 100 the heap may double before the next collection, and the
//! memory held outside the heap that the collector must scan (goroutine stacks,
//! registered roots) counts as work paid for by allocation, as in Go 1.18+.
//!
//! The memory limit caps the goal: `goal <= limit - (sys - heap_sys)`, i.e. the heap may
//! only use what the limit leaves after everything else the runtime took from the OS. As
//! in Go it is soft: a program whose live heap exceeds it keeps running, collecting
//! often, and allocation fails (`GORT_ENOMEM`) only when a collection cannot bring the
//! heap under the limit (see `gc::alloc`). With `gc_percent < 0` (`GORT_GC=off`) the
//! goal is the limit alone: nothing is collected until the heap reaches it.

use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU64, Ordering};

/// The smallest goal at `gc_percent = 100` (Go's `heapminimum`, 4 MiB).
pub(crate) const MIN_HEAP: u64 = 4 << 20;

/// No limit (Go's default `math.MaxInt64`).
pub(crate) const NO_LIMIT: i64 = i64::MAX;

pub(crate) struct Pacer {
    /// GOGC; negative = off. Written by `gort_set_gc_percent`, read by the collector.
    pub gc_percent: AtomicI32,
    /// GOMEMLIMIT in bytes; `NO_LIMIT` when unset.
    pub mem_limit: AtomicI64,
    /// The current heap goal (bytes of heap_live at which the next cycle starts).
    pub goal: AtomicU64,
    /// Live bytes marked by the last cycle, and the scan roots it saw, for recomputing
    /// the goal when a setting changes between cycles.
    pub last_live: AtomicU64,
    pub last_roots: AtomicU64,
    /// The concurrent mode's trigger, in thousandths of the runway from the live heap to
    /// the goal (see [`Pacer::adjust_trigger`]).
    pub trigger_permille: AtomicU64,
}

pub(crate) static PACER: Pacer = Pacer {
    gc_percent: AtomicI32::new(100),
    mem_limit: AtomicI64::new(NO_LIMIT),
    goal: AtomicU64::new(MIN_HEAP),
    last_live: AtomicU64::new(0),
    last_roots: AtomicU64::new(0),
    trigger_permille: AtomicU64::new(TRIGGER_START),
};

/// The concurrent trigger's first value and bounds, in thousandths of the runway. Go keeps
/// its trigger between 70% and 95%; gort's marker is slower per byte than Go's, so it may
/// start as early as 50% when cycles keep overshooting their goal.
const TRIGGER_START: u64 = 700;
const TRIGGER_MIN: u64 = 500;
const TRIGGER_MAX: u64 = 950;

/// The heap goal for `live` marked bytes, `roots` bytes of stacks and registered roots,
/// `other` bytes the runtime holds besides the heap (for the limit).
pub(crate) fn goal(live: u64, roots: u64, other: u64, gc_percent: i32, limit: i64) -> u64 {
    let by_percent = if gc_percent < 0 {
        u64::MAX
    } else {
        let p = gc_percent as u64;
        let g = live.saturating_add((live.saturating_add(roots)).saturating_mul(p) / 100);
        g.max(MIN_HEAP.saturating_mul(p) / 100).max(live + (64 << 10))
    };
    if limit == NO_LIMIT {
        return by_percent;
    }
    let cap = (limit.max(0) as u64).saturating_sub(other);
    by_percent.min(cap)
}

impl Pacer {
    /// Recomputes the goal from the last cycle's figures (after a cycle, or when
    /// `gc_percent` or the limit changes).
    pub(crate) fn recompute(&self, other: u64) -> u64 {
        let g = goal(
            self.last_live.load(Ordering::Relaxed),
            self.last_roots.load(Ordering::Relaxed),
            other,
            self.gc_percent.load(Ordering::Relaxed),
            self.mem_limit.load(Ordering::Relaxed),
        );
        self.goal.store(g, Ordering::Relaxed);
        g
    }

    /// After a concurrent cycle whose goal was `goal`, with the heap at `peak` bytes when
    /// its mark ended: start the next cycle earlier if the heap went past the goal (the
    /// program allocated faster than the mark progressed), later if it stayed well below
    /// (Go's pacer corrects its trigger from the same error, more smoothly).
    pub(crate) fn adjust_trigger(&self, peak: u64, goal: u64) {
        if goal == u64::MAX || goal == 0 {
            return;
        }
        let p = self.trigger_permille.load(Ordering::Relaxed);
        let next = if peak > goal {
            p.saturating_sub(100).max(TRIGGER_MIN)
        } else if peak < goal / 10 * 9 {
            (p + 50).min(TRIGGER_MAX)
        } else {
            p
        };
        self.trigger_permille.store(next, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goal_follows_gogc_and_limit() {
        // GOGC=100: live 100 MiB with 10 MiB of roots → 210 MiB.
        assert_eq!(goal(100 << 20, 10 << 20, 0, 100, NO_LIMIT), 210 << 20);
        // GOGC=50.
        assert_eq!(goal(100 << 20, 0, 0, 50, NO_LIMIT), 150 << 20);
        // Small heaps: at least 4 MiB at 100, 2 MiB at 50.
        assert_eq!(goal(1 << 10, 0, 0, 100, NO_LIMIT), MIN_HEAP);
        assert_eq!(goal(1 << 10, 0, 0, 50, NO_LIMIT), MIN_HEAP / 2);
        // Off: no goal without a limit; the limit minus the rest with one.
        assert_eq!(goal(100 << 20, 0, 0, -1, NO_LIMIT), u64::MAX);
        assert_eq!(goal(100 << 20, 0, 8 << 20, -1, 512 << 20), 504 << 20);
        // The limit caps the percentage goal.
        assert_eq!(goal(100 << 20, 0, 0, 100, 150 << 20), 150 << 20);
    }

    #[test]
    fn the_concurrent_trigger_follows_the_overshoot_within_its_bounds() {
        let p = Pacer {
            gc_percent: AtomicI32::new(100),
            mem_limit: AtomicI64::new(NO_LIMIT),
            goal: AtomicU64::new(MIN_HEAP),
            last_live: AtomicU64::new(0),
            last_roots: AtomicU64::new(0),
            trigger_permille: AtomicU64::new(TRIGGER_START),
        };
        let at = || p.trigger_permille.load(Ordering::Relaxed);
        // Past the goal: earlier, 100 per mille a cycle, never below the minimum.
        p.adjust_trigger(120, 100);
        assert_eq!(at(), TRIGGER_START - 100);
        for _ in 0..10 {
            p.adjust_trigger(120, 100);
        }
        assert_eq!(at(), TRIGGER_MIN);
        // Near the goal: unchanged; well below it: later, up to the maximum.
        p.adjust_trigger(95, 100);
        assert_eq!(at(), TRIGGER_MIN);
        for _ in 0..20 {
            p.adjust_trigger(50, 100);
        }
        assert_eq!(at(), TRIGGER_MAX);
        // No goal (GC off): nothing to learn.
        p.adjust_trigger(u64::MAX, u64::MAX);
        assert_eq!(at(), TRIGGER_MAX);
    }
}
