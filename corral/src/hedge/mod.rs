//! [`hedge`]: when an attempt is slow, starts a backup beside it and takes the first success;
//! the delay is fixed or the observed percentile of recent latencies ([`LatencyTracker`]),
//! and a [`RetryBudget`] caps the extra load.
//!
//! asyncio: hand-written loop (asyncio, Trio and tokio have no hedging; tower and Polly have
//! it as service middleware).
//!
//! A hedge is [`any`](crate::any) over attempts that start one after another, a delay apart,
//! while none has succeeded: it runs on the same engine, so it keeps `any`'s guarantees. The
//! first success wins; the attempts still running are cancelled and drained before the hedge
//! returns (plain futures dropped, tasks asked to stop and waited for).
//!
//! One concern a file:
//!
//! * `mod.rs`: [`hedge`], the [`Hedge`] future, and what it ends with ([`Hedged`],
//!   [`HedgeError`]).
//! * `policy`: [`HedgePolicy`], and the source that starts the attempts on time (and not
//!   past an enclosing deadline).
//! * `latency`: [`LatencyTracker`].

mod latency;
mod policy;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::awaitable::Awaitable;
use crate::outcome::IntoOutcome;
use crate::race::{list, Err_, InputFailure, Ok_};
use crate::set::{Set, Streamed};

pub use latency::LatencyTracker;
pub use policy::HedgePolicy;

use policy::{Attempts, Starts};

/// Runs the attempt `make` returns; if it has not succeeded after the policy's delay, starts
/// a backup attempt beside it (up to [`max_attempts`](HedgePolicy::max_attempts) in all, one
/// more each delay), and resolves to the first success. The others are cancelled and drained
/// before it returns.
///
/// * **When.** The delay is fixed ([`HedgePolicy::after`]) or the observed percentile of the
///   latencies a [`LatencyTracker`] holds ([`HedgePolicy::at_percentile`]): "hedge the
///   requests slower than 95 % of recent ones". Each successful attempt's latency is recorded
///   into the policy's tracker.
/// * **How much extra.** A [`RetryBudget`](crate::RetryBudget) in the policy caps backups at a
///   share of calls: each call deposits once; each backup withdraws one, or is not started.
/// * **Failures.** A failed attempt does not stop the others: the hedge waits for the rest.
///   But a hedge never starts a backup when no attempt is running: a failure while nothing
///   else runs ends the call (a hedge answers slowness; wrap it in [`retry`](crate::retry)
///   to answer failures too). If every attempt fails, [`HedgeError`] keeps every failure.
/// * **Deadline.** Inside a [`timeout`](crate::timeout) scope (polled in place, here or in an
///   enclosing combinator), the hedge reads the scope's deadline, as [`retry`](crate::retry)
///   does: a backup due at or after the deadline, or with less time left before it than a
///   backup needs ([`HedgePolicy::min_attempt_time`]; by default the fastest latency in the
///   policy's tracker, or nothing without one), is not started, nor is any after it (it
///   draws nothing from the budget and is not counted in `attempts`). The first attempt
///   always starts. The attempts already running go on: the first success before the
///   deadline is the hedge's, and if none comes, the timeout expires as it would have (its
///   `Elapsed`; the hedge is dropped with its attempts). A spawned task does not see the
///   deadlines around its spawner.
///
/// `make` may return plain futures (polled in place, in the caller's task) or
/// [`Task`](crate::Task) handles (spawned; a losing task is asked to stop and waited for, so
/// its cleanup has run when `hedge` returns).
///
/// asyncio: hand-written loop (`asyncio.wait(..., timeout=d)`, then a second request and
/// `wait(FIRST_COMPLETED)`, then cancelling the loser).
///
/// # Cancel safety
///
/// Dropping the hedge drops every attempt it runs (aborting a task attempt).
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::time::Duration;
/// use tokio::time::{sleep, Instant};
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let calls = AtomicU32::new(0);
/// // The first attempt is stuck for 10 s; the backup answers in 30 ms.
/// let fetch = || async {
///     let slow = calls.fetch_add(1, Ordering::SeqCst) == 0;
///     sleep(Duration::from_millis(if slow { 10_000 } else { 30 })).await;
///     Ok::<_, ()>(if slow { "first" } else { "backup" })
/// };
/// let start = Instant::now();
/// let policy = corral::HedgePolicy::after(Duration::from_millis(100));
/// let done = corral::hedge(policy, fetch).await.unwrap();
/// assert_eq!((done.value, done.winner, done.attempts), ("backup", 1, 2));
/// assert_eq!(start.elapsed(), Duration::from_millis(130)); // the first was dropped then
/// # }
/// ```
pub fn hedge<F, A>(policy: HedgePolicy, make: F) -> Hedge<F, A>
where
    F: FnMut() -> A,
    A: Awaitable,
    A::Output: IntoOutcome,
{
    let max = policy.max_attempts as usize;
    let tracker = policy.tracker.clone();
    let attempts = Attempts::new(policy, make);
    let starts = attempts.starts();
    let mut set = Set::new(Streamed(Box::pin(attempts)));
    set.set_limit(max);
    Hedge {
        set,
        tracker,
        starts,
        winner: None,
        failures: Vec::new(),
    }
}

/// A success from [`hedge`]: the value, which attempt gave it, and how many were started.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let policy = corral::HedgePolicy::after(Duration::from_secs(1));
/// let done = corral::hedge(policy, || async { Ok::<_, ()>(7) }).await.unwrap();
/// // Fast enough: no backup was started.
/// assert_eq!(done, corral::Hedged { value: 7, winner: 0, attempts: 1 });
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hedged<T> {
    /// What the winning attempt returned.
    pub value: T,
    /// Which attempt won: 0 for the first, 1 for the first backup, and so on.
    pub winner: usize,
    /// How many attempts were started, the winner included.
    pub attempts: usize,
}

/// The error of a [`hedge`] in which no attempt succeeded: every attempt's failure (error,
/// panic or cancellation), in attempt order. It holds at least one.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let policy = corral::HedgePolicy::after(Duration::from_secs(1));
/// let err = corral::hedge(policy, || async { Err::<(), _>("refused") }).await.unwrap_err();
/// assert_eq!(err.attempts(), 1); // it failed before the delay: no backup
/// assert_eq!(err.to_string(), "every hedged attempt failed: input 0: refused");
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HedgeError<E> {
    failures: Vec<InputFailure<E>>,
}

impl<E> HedgeError<E> {
    /// How many attempts were made (each one failed).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let policy = corral::HedgePolicy::after(std::time::Duration::ZERO).max_attempts(3);
    /// let err = corral::hedge(policy, || async { Err::<(), _>(()) }).await.unwrap_err();
    /// assert_eq!(err.attempts(), 3); // a zero delay starts all three at once
    /// # }
    /// ```
    pub fn attempts(&self) -> usize {
        self.failures.len()
    }

    /// Every attempt's failure, in attempt order; each `index` is the attempt's number.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let policy = corral::HedgePolicy::after(std::time::Duration::ZERO);
    /// let err = corral::hedge(policy, || async { Err::<(), _>("x") }).await.unwrap_err();
    /// let indexes: Vec<usize> = err.failures().iter().map(|f| f.index).collect();
    /// assert_eq!(indexes, [0, 1]);
    /// # }
    /// ```
    pub fn failures(&self) -> &[InputFailure<E>] {
        &self.failures
    }

    /// Every attempt's failure, in attempt order, by value.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let policy = corral::HedgePolicy::after(std::time::Duration::from_secs(1));
    /// let err = corral::hedge(policy, || async { Err::<(), _>(5) }).await.unwrap_err();
    /// assert_eq!(err.into_failures()[0].failure, corral::Failure::Error(5));
    /// # }
    /// ```
    pub fn into_failures(self) -> Vec<InputFailure<E>> {
        self.failures
    }
}

impl<E: fmt::Display> fmt::Display for HedgeError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("every hedged attempt failed: ")?;
        list(f, &self.failures)
    }
}

impl<E: fmt::Debug + fmt::Display + 'static> std::error::Error for HedgeError<E> {
    /// The first attempt's failure; [`Display`](fmt::Display) lists them all.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.failures
            .first()
            .map(|f| &f.failure as &(dyn std::error::Error + 'static))
    }
}

/// The future returned by [`hedge`]. Dropping it drops every attempt it runs.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let policy = corral::HedgePolicy::after(Duration::from_millis(50));
/// let h: corral::Hedge<_, _> = corral::hedge(policy, || async { Ok::<_, ()>(1) });
/// assert_eq!(h.await.unwrap().value, 1);
/// # }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Hedge<F, A>
where
    F: FnMut() -> A,
    A: Awaitable,
    A::Output: IntoOutcome,
{
    set: Set<Streamed<Attempts<F, A>>>,
    tracker: Option<LatencyTracker>,
    starts: Starts,
    winner: Option<(usize, Ok_<A>)>,
    failures: Vec<InputFailure<Err_<A>>>,
}

// Unpin whatever the attempts: the set keeps its futures pinned in heap segments of its own.
impl<F, A> Unpin for Hedge<F, A>
where
    F: FnMut() -> A,
    A: Awaitable,
    A::Output: IntoOutcome,
{
}

impl<F, A> Future for Hedge<F, A>
where
    F: FnMut() -> A,
    A: Awaitable,
    A::Output: IntoOutcome,
{
    type Output = Result<Hedged<Ok_<A>>, HedgeError<Err_<A>>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        while let Some(done) = std::task::ready!(this.set.poll_next(cx)) {
            if this.winner.is_some() {
                continue; // a loser, drained
            }
            let index = done.index;
            match done.outcome.into_result() {
                Ok(value) => {
                    if let (Some(tracker), Some(at)) = (&this.tracker, this.starts.get(index)) {
                        tracker.record(at.elapsed());
                    }
                    this.winner = Some((index, value));
                    this.set.stop();
                }
                Err(failure) => {
                    this.failures.push(InputFailure { index, failure });
                    if this.set.running() == 0 {
                        // Nothing else runs: a hedge does not start a backup for a failure.
                        this.set.stop();
                    }
                }
            }
        }
        let attempts = this.set.pulled();
        Poll::Ready(match this.winner.take() {
            Some((winner, value)) => Ok(Hedged {
                value,
                winner,
                attempts,
            }),
            None => {
                let mut failures = std::mem::take(&mut this.failures);
                failures.sort_by_key(|f| f.index);
                Err(HedgeError { failures })
            }
        })
    }
}

impl<F, A> fmt::Debug for Hedge<F, A>
where
    F: FnMut() -> A,
    A: Awaitable,
    A::Output: IntoOutcome,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hedge")
            .field("started", &self.set.pulled())
            .field("running", &self.set.running())
            .finish_non_exhaustive()
    }
}
