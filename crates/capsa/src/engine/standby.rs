//! How many standby instances an engine keeps, and the budget they are counted against. Filling,
//! taking and refilling them is the sandbox layer's (`sandbox::standby`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::limits::ByteSize;

/// Standby instances: instances of hot modules (capsa's language runtimes) made ahead of calls from
/// the pristine image, with their first pages touched, so a call skips instantiation. Each serves
/// exactly one call, as a fresh sandbox does.
///
/// Off by default (`per_module` 0): a standby instance holds a slot of the instance pool and the
/// pages it touched, and a background task spends CPU refilling the set, which a process making
/// only a few calls (the CLI) never gets back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StandbyLimits {
    /// Instances kept ready per hot module. 0 turns standby off.
    pub per_module: usize,
    /// The most linear memory all standby instances may have together (each counts its whole
    /// current memory size, touched or not).
    pub max_memory: ByteSize,
}

impl StandbyLimits {
    /// No standby instances.
    pub const OFF: StandbyLimits = StandbyLimits {
        per_module: 0,
        max_memory: ByteSize(0),
    };

    /// Two per hot module, with at most 256 MiB of linear memory in all: both language runtimes'
    /// sets (about 46 MiB for two Python instances, 2 MiB for two JavaScript ones) with room left.
    pub const DEFAULT_ON: StandbyLimits = StandbyLimits {
        per_module: 2,
        max_memory: ByteSize::mib(256),
    };
}

impl Default for StandbyLimits {
    fn default() -> Self {
        StandbyLimits::OFF
    }
}

/// What the standby instances of an engine hold at the moment, against its limits.
pub(crate) struct StandbyBudget {
    pub(crate) limits: StandbyLimits,
    /// The most standby instances at once: a share of the instance pool, so that calls and sessions
    /// always find most of it free.
    max_count: usize,
    bytes: AtomicU64,
    count: AtomicUsize,
}

/// One standby instance's share of the budget, returned when it is dropped.
pub(crate) struct StandbyReservation {
    budget: Arc<StandbyBudget>,
    bytes: u64,
}

impl StandbyBudget {
    pub(crate) fn new(limits: StandbyLimits, max_count: usize) -> Arc<StandbyBudget> {
        Arc::new(StandbyBudget {
            limits,
            max_count,
            bytes: AtomicU64::new(0),
            count: AtomicUsize::new(0),
        })
    }

    /// Whether there is room for one more instance of some size at all.
    pub(crate) fn has_room(&self) -> bool {
        self.limits.per_module > 0
            && self.count.load(Ordering::Relaxed) < self.max_count
            && self.bytes.load(Ordering::Relaxed) < self.limits.max_memory.bytes()
    }

    /// Counts an instance of `bytes` of linear memory against the budget, if it fits.
    pub(crate) fn reserve(self: &Arc<Self>, bytes: u64) -> Option<StandbyReservation> {
        let count = self.count.fetch_add(1, Ordering::Relaxed);
        let used = self.bytes.fetch_add(bytes, Ordering::Relaxed);
        if count >= self.max_count || used.saturating_add(bytes) > self.limits.max_memory.bytes() {
            self.count.fetch_sub(1, Ordering::Relaxed);
            self.bytes.fetch_sub(bytes, Ordering::Relaxed);
            return None;
        }
        Some(StandbyReservation {
            budget: self.clone(),
            bytes,
        })
    }

    /// Standby instances held now, and their linear memory in bytes.
    pub(crate) fn held(&self) -> (usize, u64) {
        (
            self.count.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }
}

impl Drop for StandbyReservation {
    fn drop(&mut self) {
        self.budget.count.fetch_sub(1, Ordering::Relaxed);
        self.budget.bytes.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_caps_count_and_bytes_and_is_given_back() {
        let budget = StandbyBudget::new(
            StandbyLimits {
                per_module: 2,
                max_memory: ByteSize(100),
            },
            2,
        );
        let a = budget.reserve(60).expect("fits");
        assert!(budget.reserve(50).is_none(), "over the bytes");
        let b = budget.reserve(40).expect("fits exactly");
        assert!(budget.reserve(0).is_none(), "over the count");
        assert_eq!(budget.held(), (2, 100));
        drop(a);
        drop(b);
        assert_eq!(budget.held(), (0, 0));
        assert!(budget.has_room());
        let off = StandbyBudget::new(StandbyLimits::OFF, 10);
        assert!(!off.has_room());
    }
}
