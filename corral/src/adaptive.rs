//! [`AdaptiveLimiter`]: a concurrency limit that moves by itself, AIMD (additive increase,
//! multiplicative decrease), over a [`Limiter`].
//!
//! asyncio: hand-written loop (asyncio, Trio and tokio have none; Netflix's
//! concurrency-limits and Envoy's adaptive concurrency have it as middleware).
//!
//! TCP's congestion control, applied to requests: while calls succeed quickly and at least
//! half the limit is in use, the limit grows by `1 / limit` a success (about one every round
//! trip or two); an overload (an error, a timeout, or a success slower than the
//! [threshold](AdaptiveLimiter::overload_after)) cuts it by a factor (0.9 by default), once
//! per round trip: calls that started before the last cut do not cut it again.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::limit::{Limiter, OwnedPermit};

/// A concurrency limit that finds the capacity of what it protects: AIMD over a
/// [`Limiter`]. Each call [`acquire`](AdaptiveLimiter::acquire)s a permit and gives a verdict
/// ([`AdaptivePermit::success`] or [`AdaptivePermit::overload`]); the limit grows while calls
/// are fast and at least half of it is in use, and shrinks on overload.
///
/// Waiting is the [`Limiter`]'s: FIFO with hand-off, cancel-safe. Cloning is cheap and shares
/// the limit. It runs on tokio's clock.
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
    state: Mutex<Aimd>,
}

struct Aimd {
    /// The limit, fractional: it grows by `1 / limit` a success.
    limit: f64,
    min: usize,
    max: usize,
    backoff: f64,
    threshold: Option<Duration>,
    /// Calls that started before this did not see the last cut: their overloads are ignored.
    last_cut: Option<Instant>,
}

impl AdaptiveLimiter {
    /// An AIMD limit starting at `initial`, kept between `min` (at least 1) and `max`.
    ///
    /// # Examples
    ///
    /// ```
    /// let limit = corral::AdaptiveLimiter::aimd(10, 1, 1000);
    /// assert_eq!(limit.limit(), 10);
    /// ```
    pub fn aimd(initial: usize, min: usize, max: usize) -> AdaptiveLimiter {
        let min = min.max(1);
        let max = max.max(min);
        let initial = initial.clamp(min, max);
        AdaptiveLimiter {
            shared: Arc::new(Shared {
                limiter: Arc::new(Limiter::new(initial)),
                state: Mutex::new(Aimd {
                    limit: initial as f64,
                    min,
                    max,
                    backoff: 0.9,
                    threshold: None,
                    last_cut: None,
                }),
            }),
        }
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
    /// but slowly). Without it, only [`overload`](AdaptivePermit::overload) cuts the limit.
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

    fn lock(&self) -> MutexGuard<'_, Aimd> {
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

    /// Applies one verdict.
    fn record(&self, started: Instant, overload: bool) {
        // Held now, the caller's permit included (it is released after the verdict).
        let in_flight = self.shared.limiter.in_use();
        let mut st = self.lock();
        let overload = overload || st.threshold.is_some_and(|t| started.elapsed() > t);
        let old = st.limit as usize;
        if overload {
            if st.last_cut.is_some_and(|cut| started < cut) {
                return; // this round trip was cut already
            }
            st.limit = (st.limit * st.backoff).max(st.min as f64);
            st.last_cut = Some(Instant::now());
        } else if in_flight * 2 >= old {
            // The limit is at least half used, so it may be what holds calls back (Netflix's
            // AIMD test): grow, by about one every two round trips at full use.
            st.limit = (st.limit + 1.0 / st.limit).min(st.max as f64);
        }
        let new = st.limit as usize;
        drop(st);
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
    /// The call succeeded: the limit grows by `1 / limit` if at least half of it is in use
    /// (and the call was not slower than the [threshold](AdaptiveLimiter::overload_after)).
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
