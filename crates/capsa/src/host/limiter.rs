//! The store's resource limiter: the memory, table and instance limits, and the peak memory.

use std::time::Instant;

use wasmtime::ResourceLimiter;

use crate::limits::{ByteSize, Limits};

/// Enforces the memory, table and instance limits, and records the peak memory.
pub(crate) struct Limiter {
    memory_max: u64,
    table_max: u64,
    instances_max: usize,
    memory: Usage,
    table: Usage,
    /// Why a growth was refused, and when: the outcome if the guest then fails.
    pub(crate) denied: Option<(Instant, String)>,
}

/// The total of one kind of resource, with the state before the last approved growth so a growth
/// that wasmtime refuses after the limiter approved it (a declared maximum, an mmap failure) can be
/// taken back.
#[derive(Default)]
struct Usage {
    now: u64,
    peak: u64,
    before_last: Option<(u64, u64)>,
}

impl Usage {
    /// Approves growing one memory (or table) from `current` to `desired` if the total stays within
    /// `max`. Sizes come from the guest (64-bit memories reach 2^64), so the arithmetic is checked.
    fn grow(&mut self, current: usize, desired: usize, max: u64) -> Result<(), u64> {
        let total = self
            .now
            .saturating_sub(current as u64)
            .saturating_add(desired as u64);
        if total > max {
            return Err(total);
        }
        self.before_last = Some((self.now, self.peak));
        self.now = total;
        self.peak = self.peak.max(total);
        Ok(())
    }

    fn undo_last(&mut self) {
        if let Some((now, peak)) = self.before_last.take() {
            self.now = now;
            self.peak = peak;
        }
    }
}

impl Limiter {
    pub(crate) fn new(limits: &Limits) -> Self {
        Limiter {
            memory_max: limits.memory.bytes(),
            table_max: limits.max_table_elements,
            instances_max: limits.max_instances as usize,
            memory: Usage::default(),
            table: Usage::default(),
            denied: None,
        }
    }

    /// Takes over the usage of a store whose instance was made under `placeholder` (a standby
    /// instance), if that instance is within this limiter's limits; `false` (and nothing changed)
    /// otherwise, and the call instantiates fresh, meeting its limits there.
    pub(crate) fn adopt(&mut self, placeholder: &Limiter) -> bool {
        if placeholder.memory.now > self.memory_max
            || placeholder.table.now > self.table_max
            || placeholder.instances_max > self.instances_max
        {
            return false;
        }
        for (mine, theirs) in [
            (&mut self.memory, &placeholder.memory),
            (&mut self.table, &placeholder.table),
        ] {
            *mine = Usage {
                now: theirs.now,
                peak: theirs.now,
                before_last: None,
            };
        }
        true
    }

    /// The linear memory the store has now, in bytes.
    pub(crate) fn memory_now(&self) -> u64 {
        self.memory.now
    }

    pub(crate) fn memory_peak(&self) -> u64 {
        self.memory.peak
    }

    fn deny(&mut self, message: impl FnOnce() -> String) {
        if self.denied.is_none() {
            self.denied = Some((Instant::now(), message()));
        }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let max = self.memory_max;
        match self.memory.grow(current, desired, max) {
            Ok(()) => Ok(true),
            Err(total) => {
                self.deny(|| {
                    format!(
                        "guest asked for {} of linear memory; the limit is {}",
                        ByteSize(total).approx(),
                        ByteSize(max).approx()
                    )
                });
                Ok(false)
            }
        }
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory.undo_last();
        Ok(())
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let max = self.table_max;
        match self.table.grow(current, desired, max) {
            Ok(()) => Ok(true),
            Err(total) => {
                self.deny(|| format!("guest asked for {total} table elements; the limit is {max}"));
                Ok(false)
            }
        }
    }

    fn table_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.table.undo_last();
        Ok(())
    }

    fn instances(&self) -> usize {
        self.instances_max
    }

    fn tables(&self) -> usize {
        self.instances_max.saturating_mul(4)
    }

    fn memories(&self) -> usize {
        self.instances_max.saturating_mul(4)
    }
}
