//! [`AdaptiveLimiter`]: a concurrency limit that moves by itself, over a [`Limiter`], with two
//! algorithms: AIMD (additive increase, multiplicative decrease) and Vegas (a latency gradient).
//!
//! asyncio: hand-written loop (asyncio, Trio and tokio have none; Netflix's
//! concurrency-limits and Envoy's adaptive concurrency have it as middleware).
//!
//! * **AIMD** ([`AdaptiveLimiter::aimd`]) is TCP's congestion control, applied to requests:
//!   while calls succeed and at least half the limit is in use, the limit grows by
//!   `1 / limit` a success (about one every round trip or two). It only learns of overload
//!   from failures, or from successes slower than a threshold it is told
//!   ([`overload_after`](AdaptiveLimiter::overload_after)).
//! * **Vegas** ([`AdaptiveLimiter::vegas`]) needs no threshold: it estimates how many calls
//!   wait in a queue from the latency alone (module `vegas`), and holds that queue small.
//!
//! Both cut the limit by a factor (0.9 by default) on an overload (an error, a timeout, or a
//! success slower than the threshold), once per round trip: calls that started before the last
//! cut do not cut it again.
//!
//! One concern a file: this file has the limiter, its permits and the overload rule; `vegas`
//! the latency gradient; `limit` the [`Limit`] the fan-out combinators' `.limit(..)` take; and
//! `gate` how the combinators' engine waits for and holds the permits of an adaptive limit.

mod gate;
mod limit;
mod vegas;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::limit::{Limiter, OwnedPermit};

pub(crate) use gate::{AdaptiveGate, Verdict};
pub use limit::Limit;
use vegas::Vegas;

/// A concurrency limit that finds the capacity of what it protects, over a [`Limiter`]: AIMD
/// ([`aimd`](AdaptiveLimiter::aimd)) or Vegas ([`vegas`](AdaptiveLimiter::vegas)). Each call
/// [`acquire`](AdaptiveLimiter::acquire)s a permit and gives a verdict
/// ([`AdaptivePermit::success`] or [`AdaptivePermit::overload`]); the limit grows while calls
/// go well, and shrinks on overload.
///
/// Waiting is the [`Limiter`]'s: FIFO with hand-off, cancel-safe. Cloning is cheap and shares
/// the limit. It runs on tokio's clock: latency is measured from the permit to the verdict.
///
/// The fan-out combinators take one as their limit (`.limit(adaptive.clone())`, see
/// [`Limit`]): they then acquire and give the verdicts themselves.
///
/// asyncio: hand-written (a `Semaphore` resized by hand).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let limit = corral::AdaptiveLimiter::aimd(4, 1, 100)
///     .overload_after(Duration::from_millis(200));
/// let calls = (0..100).map(|_| {
///     let limit = limit.clone();
///     async move {
///         let permit = limit.acquire().await;
///         tokio::time::sleep(Duration::from_millis(50)).await; // fast: the limit grows
///         permit.success();
///         Ok::<_, ()>(())
///     }
/// });
/// corral::gather(calls).await.unwrap();
/// assert!(limit.limit() > 4);
/// # }
/// ```
#[derive(Clone)]
pub struct AdaptiveLimiter {
    shared: Arc<Shared>,
}

struct Shared {
    limiter: Arc<Limiter>,
    state: Mutex<State>,
}

/// The limit and what moves it.
struct State {
    /// The limit, fractional: AIMD grows it by `1 / limit` a success.
    limit: f64,
    min: usize,
    max: usize,
    backoff: f64,
    threshold: Option<Duration>,
    /// Calls that started before this did not see the last cut: their overloads are ignored.
    last_cut: Option<Instant>,
    /// How successes move the limit.
    algorithm: Algorithm,
}

enum Algorithm {
    Aimd,
    Vegas(Vegas),
}

impl AdaptiveLimiter {
    fn new(initial: usize, min: usize, max: usize, algorithm: Algorithm) -> AdaptiveLimiter {
        let min = min.max(1);
        let max = max.max(min);
        let initial = initial.clamp(min, max);
        AdaptiveLimiter {
            shared: Arc::new(Shared {
                limiter: Arc::new(Limiter::new(initial)),
                state: Mutex::new(State {
                    limit: initial as f64,
                    min,
                    max,
                    backoff: 0.9,
                    threshold: None,
                    last_cut: None,
                    algorithm,
                }),
            }),
        }
    }

    /// An AIMD limit starting at `initial`, kept between `min` (at least 1) and `max`: it
    /// grows by `1 / limit` a success while at least half of it is in use, and is cut by the
    /// [`backoff`](AdaptiveLimiter::backoff) factor on an overload. Successes never cut it
    /// unless they are slower than [`overload_after`](AdaptiveLimiter::overload_after).
    ///
    /// # Examples
    ///
    /// ```
    /// let limit = corral::AdaptiveLimiter::aimd(10, 1, 1000);
    /// assert_eq!(limit.limit(), 10);
    /// ```
    pub fn aimd(initial: usize, min: usize, max: usize) -> AdaptiveLimiter {
        AdaptiveLimiter::new(initial, min, max, Algorithm::Aimd)
    }

    /// A Vegas limit starting at `initial`, kept between `min` (at least 1) and `max`: it
    /// needs no latency threshold. About every two round trips, it estimates how many calls
    /// wait in a queue from the lowest latency ever seen (the latency without a queue) and the
    /// mean latency of the calls started since its last move: `in flight × (1 − lowest / mean)`.
    /// It grows by one while fewer than `1 + 2 %` of the limit wait, and shrinks by one when
    /// more than `2 + 4 %` do; an overload cuts it by the
    /// [`backoff`](AdaptiveLimiter::backoff) factor as in AIMD.
    ///
    /// Against a server that answers in the same time up to a capacity and queues past it, it
    /// settles a request or a few above the capacity. It assumes one service: calls to
    /// services with different latencies, under one limit, look like a queue.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let limit = corral::AdaptiveLimiter::vegas(4, 1, 100);
    /// // Calls that all take 10 ms: no queue, so the limit grows, one per round trip.
    /// let calls = (0..200).map(|_| async {
    ///     tokio::time::sleep(Duration::from_millis(10)).await;
    ///     Ok::<_, ()>(())
    /// });
    /// corral::gather(calls).limit(limit.clone()).await.unwrap();
    /// assert!(limit.limit() > 10, "{}", limit.limit());
    /// # }
    /// ```
    pub fn vegas(initial: usize, min: usize, max: usize) -> AdaptiveLimiter {
        AdaptiveLimiter::new(initial, min, max, Algorithm::Vegas(Vegas::new()))
    }

    /// The factor an overload multiplies the limit by (default 0.9; kept within 0.1 and
    /// 0.99).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let limit = corral::AdaptiveLimiter::aimd(10, 1, 100).backoff(0.5);
    /// limit.acquire().await.overload();
    /// assert_eq!(limit.limit(), 5);
    /// # }
    /// ```
    pub fn backoff(self, ratio: f64) -> Self {
        self.lock().backoff = ratio.clamp(0.1, 0.99);
        self
    }

    /// A success slower than `latency` counts as an overload (a server past its knee answers,
    /// but slowly). Without it, only [`overload`](AdaptivePermit::overload) cuts an AIMD
    /// limit; a Vegas limit also shrinks as latency grows.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let limit = corral::AdaptiveLimiter::aimd(10, 1, 100)
    ///     .overload_after(Duration::from_millis(100));
    /// let permit = limit.acquire().await;
    /// tokio::time::sleep(Duration::from_millis(150)).await;
    /// permit.success(); // too slow: counted as an overload
    /// assert_eq!(limit.limit(), 9);
    /// # }
    /// ```
    pub fn overload_after(self, latency: Duration) -> Self {
        self.lock().threshold = Some(latency);
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Each update is a few assignments: a poisoned lock holds a usable state.
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a permit under the current limit.
    ///
    /// # Cancel safety
    ///
    /// As [`Limiter::acquire`]: dropping the future gives up its place in the queue.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let limit = corral::AdaptiveLimiter::aimd(2, 1, 10);
    /// let permit = limit.acquire().await;
    /// assert_eq!(limit.in_flight(), 1);
    /// permit.success();
    /// # }
    /// ```
    pub async fn acquire(&self) -> AdaptivePermit {
        let permit = self.shared.limiter.clone().acquire_owned().await;
        self.permit(permit)
    }

    /// A permit of this limit around `permit`, its latency counted from now.
    fn permit(&self, permit: OwnedPermit) -> AdaptivePermit {
        AdaptivePermit {
            limiter: self.clone(),
            _permit: permit,
            started: Instant::now(),
        }
    }

    /// The current limit.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corral::AdaptiveLimiter::aimd(0, 3, 10).limit(), 3);
    /// ```
    pub fn limit(&self) -> usize {
        self.lock().limit as usize
    }

    /// The highest the limit may go (the `max` it was made with).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corral::AdaptiveLimiter::vegas(10, 1, 64).max(), 64);
    /// ```
    pub fn max(&self) -> usize {
        self.lock().max
    }

    /// How many permits are held now.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corral::AdaptiveLimiter::aimd(4, 1, 10).in_flight(), 0);
    /// ```
    pub fn in_flight(&self) -> usize {
        self.shared.limiter.in_use()
    }

    /// The limiter the permits come from. A task group's children take theirs from it, hold
    /// them until the group collects them, and give their verdict with
    /// [`verdict`](AdaptiveLimiter::verdict) meanwhile.
    pub(crate) fn permits(&self) -> &Arc<Limiter> {
        &self.shared.limiter
    }

    /// The verdict of a call that got its permit at `started` and holds it still.
    pub(crate) fn verdict(&self, started: Instant, verdict: Verdict) {
        match verdict {
            Verdict::Success => self.record(started, false),
            Verdict::Overload => self.record(started, true),
            Verdict::None => {}
        }
    }

    /// Applies one verdict.
    fn record(&self, started: Instant, overload: bool) {
        // Held now, the caller's permit included (it is released after the verdict).
        let in_flight = self.shared.limiter.in_use();
        let now = Instant::now();
        let latency = now.saturating_duration_since(started);
        let mut st = self.lock();
        let overload = overload || st.threshold.is_some_and(|t| latency > t);
        let old = st.limit as usize;
        let st = &mut *st;
        if overload {
            if st.last_cut.is_some_and(|cut| started < cut) {
                return; // this round trip was cut already
            }
            st.limit = (st.limit * st.backoff).max(st.min as f64);
            st.last_cut = Some(now);
        } else {
            let grown = match &mut st.algorithm {
                // The limit is at least half used, so it may be what holds calls back
                // (Netflix's AIMD test): grow, by about one every two round trips at full use.
                Algorithm::Aimd => (in_flight * 2 >= old).then(|| st.limit + 1.0 / st.limit),
                Algorithm::Vegas(v) => v.sample(st.limit, in_flight, started, latency, now),
            };
            if let Some(limit) = grown {
                st.limit = limit.clamp(st.min as f64, st.max as f64);
            }
        }
        let new = st.limit as usize;
        if new != old {
            self.shared.limiter.set_total(new);
        }
    }
}

impl fmt::Debug for AdaptiveLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveLimiter")
            .field("limit", &self.limit())
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

/// A permit of an [`AdaptiveLimiter`]: give its verdict with
/// [`success`](AdaptivePermit::success) or [`overload`](AdaptivePermit::overload). Dropped
/// without one (a cancelled call), it only gives its place back.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let limit = corral::AdaptiveLimiter::aimd(1, 1, 10);
/// let permit: corral::AdaptivePermit = limit.acquire().await;
/// drop(permit); // no verdict
/// assert_eq!((limit.limit(), limit.in_flight()), (1, 0));
/// # }
/// ```
#[must_use = "a permit gives its place back when dropped"]
pub struct AdaptivePermit {
    limiter: AdaptiveLimiter,
    _permit: OwnedPermit,
    started: Instant,
}

impl AdaptivePermit {
    /// The call succeeded. AIMD: the limit grows by `1 / limit` if at least half of it is in
    /// use. Vegas: its latency is a sample, and the last of a round trip moves the limit. A
    /// success slower than the [threshold](AdaptiveLimiter::overload_after) is an overload.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let limit = corral::AdaptiveLimiter::aimd(1, 1, 10);
    /// limit.acquire().await.success(); // the limit (1) is in use: grows by 1/1
    /// assert_eq!(limit.limit(), 2);
    /// # }
    /// ```
    pub fn success(self) {
        self.limiter.record(self.started, false);
    }

    /// The call failed from overload (an error, a timeout, a 503): the limit is cut.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let limit = corral::AdaptiveLimiter::aimd(20, 1, 100);
    /// limit.acquire().await.overload();
    /// assert_eq!(limit.limit(), 18);
    /// # }
    /// ```
    pub fn overload(self) {
        self.limiter.record(self.started, true);
    }
}

impl fmt::Debug for AdaptivePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptivePermit")
            .field("started", &self.started)
            .finish_non_exhaustive()
    }
}
