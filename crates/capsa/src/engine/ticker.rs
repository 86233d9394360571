//! The epoch ticker: the thread that advances an engine's epoch while calls run, so deadlines fire.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, Thread};
use std::time::Duration;

use crate::error::{Error, Result};

/// How often the epoch ticker advances; wall-clock deadlines are enforced to this granularity.
const EPOCH_TICK: Duration = Duration::from_millis(1);

/// The thread that advances the engine's epoch while calls run. It parks after [`IDLE_TICKS`] ticks
/// without a call, so an idle engine costs nothing, and a busy one never pays for waking it.
pub(crate) struct Ticker {
    shared: Arc<TickerShared>,
    thread: Thread,
}

/// Ticks without any running call before the ticker parks (about 100 ms).
const IDLE_TICKS: u32 = 100;

struct TickerShared {
    active: AtomicUsize,
    parked: AtomicBool,
    stop: AtomicBool,
}

impl Ticker {
    pub(super) fn start(engine: wasmtime::Engine) -> Result<Ticker> {
        let shared = Arc::new(TickerShared {
            active: AtomicUsize::new(0),
            parked: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        });
        let state = shared.clone();
        let handle = thread::Builder::new()
            .name("capsa-epoch".into())
            .spawn(move || {
                let mut idle = 0;
                while !state.stop.load(Ordering::SeqCst) {
                    if state.active.load(Ordering::SeqCst) > 0 {
                        idle = 0;
                    } else if idle >= IDLE_TICKS {
                        state.parked.store(true, Ordering::SeqCst);
                        // A call that starts after this check finds `parked` set and unparks us; an
                        // `unpark` that comes before `park` makes it return at once.
                        if state.active.load(Ordering::SeqCst) == 0 {
                            thread::park();
                        }
                        state.parked.store(false, Ordering::SeqCst);
                        idle = 0;
                        continue;
                    } else {
                        idle += 1;
                    }
                    thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .map_err(|e| Error::internal(format!("cannot start the epoch ticker: {e}")))?;
        Ok(Ticker {
            shared,
            thread: handle.thread().clone(),
        })
    }

    /// Keeps the ticker running until the returned guard is dropped.
    pub(crate) fn activate(&self) -> TickerGuard<'_> {
        self.shared.active.fetch_add(1, Ordering::SeqCst);
        if self.shared.parked.load(Ordering::SeqCst) {
            self.thread.unpark();
        }
        TickerGuard(self)
    }

    pub(super) fn stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.thread.unpark();
    }
}

pub(crate) struct TickerGuard<'a>(&'a Ticker);

impl Drop for TickerGuard<'_> {
    fn drop(&mut self) {
        self.0.shared.active.fetch_sub(1, Ordering::SeqCst);
    }
}
