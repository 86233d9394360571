//! Backpressure: how many calls run at once, gateway-wide and per function, with a short bounded
//! queue in front. A call that finds the queue full, or waits longer than the queue timeout, is
//! refused with `503 busy` and `Retry-After`; it never piles up memory or latency behind the others.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

/// One concurrency limit with its queue.
pub struct Gate {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    queue: usize,
    wait: Duration,
}

/// Admission to run: hold it for the length of the call.
pub struct Ticket {
    _global: OwnedSemaphorePermit,
    _function: OwnedSemaphorePermit,
}

impl Gate {
    /// A gate letting `concurrency` calls in at once and `queue` more wait up to `wait`.
    pub fn new(concurrency: usize, queue: usize, wait: Duration) -> Gate {
        Gate {
            permits: Arc::new(Semaphore::new(concurrency)),
            waiting: AtomicUsize::new(0),
            queue,
            wait,
        }
    }

    /// Calls waiting right now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Waits for a slot. `function` names the gate in the error (`None`: the gateway-wide one); the
    /// message is only made when refusing.
    async fn enter(&self, function: Option<&str>) -> Result<OwnedSemaphorePermit, ApiError> {
        let what = || match function {
            Some(name) => format!("function `{name}`"),
            None => "the gateway".to_owned(),
        };
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.queue {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(ApiError::busy(format!(
                "{} is at its concurrency limit and its queue is full; retry shortly",
                what()
            )));
        }
        // Leaves the queue however this future ends, a client disconnect included.
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        let _waiting = Waiting(&self.waiting);
        match tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(ApiError::busy("the gateway is shutting down")),
            Err(_) => Err(ApiError::busy(format!(
                "{} stayed at its concurrency limit for {:?}; retry shortly",
                what(),
                self.wait
            ))),
        }
    }
}

/// The gateway-wide gate and one gate per function.
pub struct Admission {
    global: Gate,
    functions: Mutex<HashMap<String, Arc<Gate>>>,
    per_function: usize,
    queue: usize,
    wait: Duration,
}

impl Admission {
    /// Gates of these sizes.
    pub fn new(global: usize, per_function: usize, queue: usize, wait: Duration) -> Admission {
        Admission {
            global: Gate::new(global, queue, wait),
            functions: Mutex::new(HashMap::new()),
            per_function,
            queue,
            wait,
        }
    }

    /// Waits for a slot of `function` and then a gateway-wide one.
    ///
    /// # Errors
    ///
    /// `503 busy` when either queue is full or the wait times out.
    pub async fn admit(&self, function: &str) -> Result<Ticket, ApiError> {
        let gate = {
            let mut functions = self.functions.lock().unwrap_or_else(|p| p.into_inner());
            functions
                .entry(function.to_owned())
                .or_insert_with(|| Arc::new(Gate::new(self.per_function, self.queue, self.wait)))
                .clone()
        };
        let function_permit = gate.enter(Some(function)).await?;
        let global = self.global.enter(None).await?;
        Ok(Ticket {
            _global: global,
            _function: function_permit,
        })
    }

    /// Calls waiting for a slot, over every gate.
    pub fn queue_depth(&self) -> usize {
        let functions = self.functions.lock().unwrap_or_else(|p| p.into_inner());
        self.global.waiting() + functions.values().map(|g| g.waiting()).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_gate_queues_then_refuses() {
        let admission = Admission::new(1, 1, 1, Duration::from_millis(50));
        let first = admission.admit("f").await.unwrap();
        // One may wait; it times out as busy.
        let err = admission.admit("f").await.err().unwrap();
        assert_eq!(err.code, capsa::ErrorCode::Busy);
        assert_eq!(admission.queue_depth(), 0);
        drop(first);
        let _again = admission.admit("f").await.unwrap();
    }

    #[tokio::test]
    async fn a_queued_call_gets_the_freed_slot() {
        let admission = Arc::new(Admission::new(1, 4, 4, Duration::from_secs(5)));
        let first = admission.admit("f").await.unwrap();
        let waiter = {
            let admission = admission.clone();
            tokio::spawn(async move { admission.admit("g").await.map(drop) })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(admission.queue_depth(), 1);
        drop(first);
        waiter.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn the_queue_is_bounded() {
        let admission = Arc::new(Admission::new(1, 1, 1, Duration::from_secs(5)));
        let _first = admission.admit("f").await.unwrap();
        let queued = {
            let admission = admission.clone();
            tokio::spawn(async move { admission.admit("f").await.map(drop) })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let err = admission.admit("f").await.err().unwrap();
        assert!(err.message.contains("queue is full"), "{}", err.message);
        queued.abort();
        let _ = queued.await;
        assert_eq!(admission.queue_depth(), 0);
    }
}
