//! The CPU time a call used: the thread CPU clock, read around every poll of the guest's future.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::time::Duration;

/// Polls `future`, adding the thread CPU time of each poll to `total`: guest execution and host work
/// done inline, but not time spent waiting.
pub(super) async fn cpu_metered<F: Future>(future: F, total: &mut Duration) -> F::Output {
    let mut future = pin!(future);
    poll_fn(|cx| {
        let before = thread_cpu_time();
        let poll = future.as_mut().poll(cx);
        *total += thread_cpu_time().saturating_sub(before);
        poll
    })
    .await
}

fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID exists on every Linux.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
