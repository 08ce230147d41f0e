//! The latency gradient of [`AdaptiveLimiter::vegas`](super::AdaptiveLimiter::vegas): TCP
//! Vegas's queue estimate, applied to calls.
//!
//! Why Vegas and not Gradient2: a server that answers in the same time up to its capacity and
//! queues the calls beyond it makes a call wait `latency × (in flight − capacity) / in flight`
//! more than without a queue, so Vegas's estimate, `in flight × (1 − lowest latency / latency
//! now)`, is exactly the number of calls queued past the capacity. Holding it at one or a few
//! puts the limit just above the capacity, with no threshold to tell and nothing to tune.
//! Gradient2 compares a short-term average latency with a long-term one that follows it, and
//! settles where the short one is a tolerance factor above the long one: a factor to choose,
//! and a resting point that drifts with the averages rather than a knee.
//!
//! The rule: the samples are the latencies of the calls started since the last decision
//! (they ran under the limit it set; the older ones would make it overshoot), over one round
//! trip of them (from the first such verdict to the first verdict of a call started after
//! it). Their mean gives the queue estimate; the limit grows by one while it is below
//! `α = 1 + 2 %` of the limit (and at least half the limit is in use, else the limit holds
//! nothing back), and shrinks by one above `β = 2 + 4 %`. So the limit moves by one about
//! every two round trips. The percentages keep a large limit from chasing latency noise: at a
//! limit of 1000, a 2 % jitter is 20 calls "queued". The mean, not the lowest, because calls
//! that start together do not all queue: the lowest would hide the queue.
//!
//! The lowest latency ever seen stands for the latency without a queue. A service whose
//! latency rises for good (not from load) therefore looks queued, and the limit goes down and
//! stays there; so does a limit shared by services of different speeds. Calls that take no
//! time at all on tokio's clock (finished in their first poll) are no sample.

use std::time::Duration;

use tokio::time::Instant;

/// Vegas's state, under the limiter's lock.
pub(super) struct Vegas {
    /// The lowest latency seen: the latency without a queue.
    base: Option<Duration>,
    /// The latencies of the calls started since the last decision: their sum and count.
    sum: Duration,
    count: u32,
    /// The last decision: only calls started since count (they ran under the limit it set).
    /// `None` before the first verdict.
    decided: Option<Instant>,
    /// The first verdict of a call started since the decision: the next decision comes with
    /// the first verdict of a call started since then, one round trip of samples later.
    first: Option<Instant>,
}

impl Vegas {
    pub(super) fn new() -> Vegas {
        Vegas {
            base: None,
            sum: Duration::ZERO,
            count: 0,
            decided: None,
            first: None,
        }
    }

    /// A success that took `latency`, of a call that `started` then, with `in_flight` permits
    /// held (its own included), at `now`: the new limit, if it moves.
    pub(super) fn sample(
        &mut self,
        limit: f64,
        in_flight: usize,
        started: Instant,
        latency: Duration,
        now: Instant,
    ) -> Option<f64> {
        if latency.is_zero() {
            return None;
        }
        let base = *self
            .base
            .insert(self.base.map_or(latency, |b| b.min(latency)));
        if self.decided.is_some_and(|at| started < at) {
            return None; // started under an older limit
        }
        self.sum += latency;
        self.count += 1;
        let first = *self.first.get_or_insert(now);
        if self.decided.is_some() && started < first {
            return None; // the round trip is not over
        }
        let mean = self.sum / self.count;
        (self.sum, self.count) = (Duration::ZERO, 0);
        self.decided = Some(now);
        self.first = None;
        let queued = in_flight as f64 * (1.0 - base.as_secs_f64() / mean.as_secs_f64());
        let (alpha, beta) = (1.0 + 0.02 * limit, 2.0 + 0.04 * limit);
        if queued > beta {
            Some(limit - 1.0)
        } else if queued < alpha && in_flight as f64 * 2.0 >= limit.floor() {
            Some(limit + 1.0)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// One round trip after a decision at `at`: a call started then, and one started at its
    /// verdict, both taking `latency`; what the second's verdict decides.
    fn round(
        v: &mut Vegas,
        limit: f64,
        in_flight: usize,
        at: Instant,
        latency: Duration,
    ) -> Option<f64> {
        assert_eq!(v.sample(limit, in_flight, at, latency, at + latency), None);
        let at = at + latency;
        v.sample(limit, in_flight, at, latency, at + latency)
    }

    #[test]
    fn estimates_the_queue_from_the_calls_started_since_the_last_decision() {
        let t0 = Instant::now();
        let mut v = Vegas::new();
        // First sample: the base; no queue, the limit in use: grow.
        assert_eq!(v.sample(20.0, 20, t0, ms(100), t0 + ms(100)), Some(21.0));
        let decided = t0 + ms(100);
        // A call started before that decision is no sample of the new limit.
        assert_eq!(v.sample(21.0, 21, t0 + ms(50), ms(500), t0 + ms(550)), None);
        // The first call started since: the round trip begins; the next started after its
        // verdict ends it. Mean 160 ms against 100 ms: 21 × 0.375 ≈ 7.9 queued (> β = 2.84).
        assert_eq!(
            v.sample(21.0, 21, decided, ms(150), decided + ms(150)),
            None
        );
        let at = decided + ms(150);
        assert_eq!(v.sample(21.0, 21, at, ms(170), at + ms(170)), Some(20.0));
        let at = at + ms(170);
        // No queue, half in use: grows; less than half in use: holds.
        assert_eq!(round(&mut v, 20.0, 10, at, ms(100)), Some(21.0));
        let at = at + ms(200);
        assert_eq!(round(&mut v, 21.0, 5, at, ms(100)), None);
        let at = at + ms(200);
        // Between α and β: holds. 21 × (1 − 100/110) ≈ 1.9; α = 1.42, β = 2.84.
        assert_eq!(round(&mut v, 21.0, 21, at, ms(110)), None);
        let at = at + ms(220);
        // No time at all: no sample.
        assert_eq!(v.sample(21.0, 21, at, Duration::ZERO, at), None);
        assert_eq!(v.base, Some(ms(100)));
    }
}
