//! [`Limit`]: what the fan-out combinators' `.limit(..)` takes: a number, or an
//! [`AdaptiveLimiter`].

use super::AdaptiveLimiter;

/// How many inputs a fan-out combinator runs at once: what [`Gather::limit`](crate::Gather::limit),
/// [`GatherSettled::limit`](crate::GatherSettled::limit),
/// [`AsCompleted::limit`](crate::AsCompleted::limit), [`Race::limit`](crate::Race::limit),
/// [`Any::limit`](crate::Any::limit) and [`Quorum::limit`](crate::Quorum::limit) take. A
/// `usize` converts into [`Limit::Fixed`], an [`AdaptiveLimiter`] into [`Limit::Adaptive`].
///
/// Under an adaptive limit, the combinator pulls and starts an input only once the limiter
/// gives it a permit, and gives the verdict when the input ends, from its outcome: `Ok` is a
/// success (with the latency from its start to its end), `Err` and `Panicked` are overloads,
/// `Cancelled` says nothing; the permit goes back as the input ends. A task handle that has
/// finished already when pulled gives no verdict (no latency was measured). Once the
/// combinator stops (a failure, a decision, a drop), it gives no more verdicts: what ends
/// after that was stopped by it. To judge failures yourself (a 404 is no overload), acquire
/// the permits in the inputs instead ([`AdaptiveLimiter::acquire`]) under a fixed limit.
///
/// The limiter's `max` also bounds, as a fixed limit would, the inputs finished and held for
/// input order ([`AsCompleted::ordered`](crate::AsCompleted::ordered)).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let calls = || {
///     (0..20).map(|i| async move {
///         tokio::time::sleep(Duration::from_millis(10)).await;
///         Ok::<_, ()>(i)
///     })
/// };
/// // A number, as always.
/// assert_eq!(corral::gather(calls()).limit(4).await.unwrap().len(), 20);
/// // An adaptive limit: it grows while calls succeed and keep it busy.
/// let adaptive = corral::AdaptiveLimiter::aimd(2, 1, 50);
/// let v = corral::gather(calls()).limit(adaptive.clone()).await.unwrap();
/// assert_eq!(v.len(), 20);
/// assert!(adaptive.limit() > 2);
/// # }
/// ```
#[derive(Clone, Debug)]
pub enum Limit {
    /// At most this many at once (`0` counts as `1`).
    Fixed(usize),
    /// At most what the limiter allows at the time, moving with the inputs' outcomes.
    Adaptive(AdaptiveLimiter),
}

impl From<usize> for Limit {
    fn from(n: usize) -> Limit {
        Limit::Fixed(n)
    }
}

impl From<AdaptiveLimiter> for Limit {
    fn from(limiter: AdaptiveLimiter) -> Limit {
        Limit::Adaptive(limiter)
    }
}

impl From<&AdaptiveLimiter> for Limit {
    fn from(limiter: &AdaptiveLimiter) -> Limit {
        Limit::Adaptive(limiter.clone())
    }
}
