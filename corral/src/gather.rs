//! [`gather`] and [`gather_settled`]: run many awaitables, results in input order.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::adaptive::Limit;
use crate::awaitable::Awaitable;
use crate::outcome::{Failure, IntoOutcome, Outcome};
use crate::race::InputFailure;
use crate::rate::RateLimiter;
use crate::rt::Outputs;
use crate::set::{Iter, Set};

type Ok_<A> = <<A as Awaitable>::Output as IntoOutcome>::Ok;
type Err_<A> = <<A as Awaitable>::Output as IntoOutcome>::Err;
type OutcomeOf<A> = Outcome<Ok_<A>, Err_<A>>;

/// Runs every input concurrently and returns their values **in input order**; on the first
/// failure, cancels and drains the others, then returns that failure.
///
/// Inputs are [`Awaitable`]s: plain futures (polled in place, inside the caller's task) or
/// [`Task`](crate::Task) handles, whose outputs are `Result<T, E>` (or [`Outcome`]). The
/// failure says which input failed and how ([`InputFailure`]): a panic in an input is caught and
/// returned as [`Failure::Panicked`]; a cancelled input fails the gather with
/// [`Failure::Cancelled`] (the caller itself is not cancelled).
///
/// "Cancel and drain" means: plain futures are dropped; tasks are asked to stop
/// ([`Task::cancel`](crate::Task::cancel)) and waited for, so when `gather` returns, nothing it
/// was given is still running. An empty input gives `Ok(vec![])` at once. Use
/// [`.limit(n)`](Gather::limit) to run at most `n` at a time; with a limit, the inputs not
/// pulled from the iterator yet when a failure comes are never pulled, and a task handle among
/// them is aborted, not drained (see [`Gather::limit`]).
///
/// asyncio: `asyncio.gather(*aws)`. Unlike asyncio, the siblings of a failure are cancelled and
/// drained before the failure is returned, instead of being left running, and the failure says
/// which input it came from.
///
/// # Errors
///
/// The first failure in completion order (ties in input order), as an [`InputFailure`]: the
/// input's `index` and its [`Failure`].
///
/// # Cancel safety
///
/// Dropping the future drops every plain future it runs and aborts every task it was given.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tokio::time::sleep;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let after = |secs: u64, v: &'static str| async move {
///     sleep(Duration::from_secs(secs)).await;
///     Ok::<_, String>(v)
/// };
/// let values = corral::gather([after(2, "a"), after(1, "b"), after(3, "c")]).await;
/// assert_eq!(values, Ok(vec!["a", "b", "c"]));
///
/// let failed = corral::gather([
///     corral::spawn(after(1, "a")),
///     corral::spawn(async { Err("refused".to_string()) }),
/// ])
/// .await
/// .unwrap_err();
/// assert_eq!(failed.index, 1);
/// assert_eq!(failed.to_string(), "input 1: refused");
/// # }
/// ```
pub fn gather<I>(inputs: I) -> Gather<I::IntoIter>
where
    I: IntoIterator,
    I::Item: Awaitable,
    <I::Item as Awaitable>::Output: IntoOutcome,
{
    let iter = inputs.into_iter();
    let hint = iter.size_hint().0;
    Gather {
        set: Set::new(Iter(iter)),
        values: Outputs::with_capacity(hint),
        failure: None,
    }
}

/// The future returned by [`gather`]; `I` is the iterator of inputs. Dropping it stops what
/// it runs (see [`gather`]'s cancel safety).
///
/// # Examples
///
/// ```
/// use std::future::{ready, Ready};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let inputs = vec![ready(Ok::<u8, ()>(1)), ready(Ok(2))];
/// let all: corral::Gather<std::vec::IntoIter<Ready<Result<u8, ()>>>> = corral::gather(inputs);
/// assert_eq!(all.await, Ok(vec![1, 2]));
/// # }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Gather<I>
where
    I: Iterator,
    I::Item: Awaitable,
    <I::Item as Awaitable>::Output: IntoOutcome,
{
    set: Set<Iter<I>>,
    values: Outputs<Ok_<I::Item>>,
    /// The first failure, with its input index (ties within a pass go to the lowest index).
    failure: Option<(usize, Failure<Err_<I::Item>>)>,
}

impl<I> Gather<I>
where
    I: Iterator,
    I::Item: Awaitable,
    <I::Item as Awaitable>::Output: IntoOutcome,
{
    /// Runs at most `n` inputs at once (`0` counts as `1`); the next input starts when one
    /// finishes. Inputs are pulled from the iterator only when there is room, so a long lazy
    /// iterator costs memory for `n`. Task handles are already running when given; the limit
    /// counts them but cannot hold them back.
    ///
    /// `n` may also be an [`AdaptiveLimiter`](crate::AdaptiveLimiter) (any [`Limit`]): then an
    /// input starts only with one of its permits, and its outcome is the permit's verdict (an
    /// `Err` cuts the limit). See [`Limit`].
    ///
    /// After the first failure, the inputs still in the iterator are never pulled, as in
    /// [`race`](crate::race): plain futures there are never started, and a
    /// [`Task`](crate::Task) handle there is dropped with the iterator, which aborts its task
    /// (no cancel request and no grace period; on another worker it may end just after `gather`
    /// returns). The ones pulled already are cancelled and drained as usual. An iterator that
    /// spawns each task as it is pulled has no such task: the rest are never spawned. Tasks
    /// spawned beforehand run whatever the limit, so give them without one to have every one
    /// of them asked to stop and drained on a failure.
    ///
    /// asyncio has no equivalent (python/cpython#115201 declined it); the usual workaround is a
    /// `Semaphore` inside every coroutine.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let v = corral::gather((0..1000).map(|i| async move { Ok::<_, ()>(i) }))
    ///     .limit(10)
    ///     .await
    ///     .unwrap();
    /// assert_eq!(v.len(), 1000);
    /// # }
    /// ```
    pub fn limit(mut self, limit: impl Into<Limit>) -> Self {
        self.set.set_limit_to(limit.into());
        self
    }

    /// Starts each input only when `limiter` gives it a slot, so inputs start at most at its
    /// [`Rate`](crate::Rate) (after a burst). Composes with [`limit`](Gather::limit): an input
    /// waits for room under the limit first, then for its slot. Give one limiter (an
    /// `Arc<RateLimiter>`, or a `RateLimiter` to use here alone) to several combinators to
    /// hold their inputs to one rate together; waiters are served first come, first served.
    ///
    /// The rate gates *starts*: a [`Task`](crate::Task) handle is running already when given,
    /// and only its turn to be waited for is gated. A slot is taken only when the iterator
    /// may still hold an input (its `size_hint` is not `(_, Some(0))`), so an exact iterator
    /// wastes none; once the combinator stops (a failure), it leaves the limiter's queue.
    /// When several inputs are sure to come (an exact iterator) and have room to start, the
    /// free slots for them are taken in one step, so a rate that holds nothing back costs
    /// about a counter per input; slots so taken and not used are given back at the end.
    ///
    /// asyncio: hand-written loop (an `await limiter.acquire()` in every coroutine).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio::time::Instant;
    /// use corral::{Rate, RateLimiter};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let start = Instant::now();
    /// let v = corral::gather((0..5).map(|i| async move { Ok::<_, ()>(i) }))
    ///     .rate(RateLimiter::new(Rate::per_second(10), 1))
    ///     .await
    ///     .unwrap();
    /// assert_eq!(v, [0, 1, 2, 3, 4]);
    /// assert_eq!(start.elapsed(), Duration::from_millis(400)); // one start every 100 ms
    /// # }
    /// ```
    pub fn rate(mut self, limiter: impl Into<Arc<RateLimiter>>) -> Self {
        self.set.set_rate(limiter.into());
        self
    }
}

// Unpin whatever the inputs: nothing is structurally pinned (the set keeps its futures in heap
// segments of its own, pinned there; the other fields are plain data).
impl<I> Unpin for Gather<I>
where
    I: Iterator,
    I::Item: Awaitable,
    <I::Item as Awaitable>::Output: IntoOutcome,
{
}

impl<I> Future for Gather<I>
where
    I: Iterator,
    I::Item: Awaitable,
    <I::Item as Awaitable>::Output: IntoOutcome,
{
    type Output = Result<Vec<Ok_<I::Item>>, InputFailure<Err_<I::Item>>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let values = &mut this.values;
        let failure = &mut this.failure;
        // The set stops itself (cancelling and draining the rest) at the end of the pass in
        // which the first failure came, and drops every later outcome.
        std::task::ready!(this.set.poll_drain(cx, &mut |done| {
            match done.outcome.into_result() {
                Ok(v) => {
                    values.set(done.index, v);
                    false
                }
                Err(f) => {
                    if failure.as_ref().is_none_or(|(i, _)| done.index < *i) {
                        *failure = Some((done.index, f));
                    }
                    true
                }
            }
        }));
        Poll::Ready(match this.failure.take() {
            Some((index, failure)) => Err(InputFailure { index, failure }),
            None => Ok(std::mem::take(&mut this.values)
                .into_vec(this.set.pulled())
                .expect("every input finished")),
        })
    }
}

/// Runs every input concurrently and returns each one's [`Outcome`] **in input order**; never
/// fails, never cancels anything (unless it is itself dropped).
///
/// asyncio: `asyncio.gather(*aws, return_exceptions=True)`. Cancelled inputs fill their slot
/// with [`Outcome::Cancelled`], and panics with [`Outcome::Panicked`].
///
/// # Cancel safety
///
/// Dropping the future drops every plain future it runs and aborts every task it was given.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use corral::Outcome;
/// let outcomes = corral::gather_settled([
///     corral::spawn(async { Ok::<u8, &str>(1) }),
///     corral::spawn(async { Err("no") }),
/// ])
/// .await;
/// assert_eq!(outcomes, vec![Outcome::Ok(1), Outcome::Err("no")]);
/// # }
/// ```
pub fn gather_settled<I>(inputs: I) -> GatherSettled<I::IntoIter>
where
    I: IntoIterator,
    I::Item: Awaitable,
    <I::Item as Awaitable>::Output: IntoOutcome,
{
    let iter = inputs.into_iter();
    let hint = iter.size_hint().0;
    GatherSettled {
        set: Set::new(Iter(iter)),
        outcomes: Outputs::with_capacity(hint),
    }
}

/// The future returned by [`gather_settled`]; `I` is the iterator of inputs. Dropping it
/// stops what it runs (see [`gather_settled`]'s cancel safety).
///
/// # Examples
///
/// ```
/// use corral::Outcome;
/// use std::future::{ready, Ready};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let inputs = vec![ready(Ok::<u8, &str>(1)), ready(Err("no"))];
/// let all: corral::GatherSettled<std::vec::IntoIter<Ready<Result<u8, &str>>>> =
///     corral::gather_settled(inputs);
/// assert_eq!(all.await, vec![Outcome::Ok(1), Outcome::Err("no")]);
/// # }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct GatherSettled<I>
where
    I: Iterator,
    I::Item: Awaitable,
    <I::Item as Awaitable>::Output: IntoOutcome,
{
    set: Set<Iter<I>>,
    outcomes: Outputs<OutcomeOf<I::Item>>,
}

impl<I> GatherSettled<I>
where
    I: Iterator,
    I::Item: Awaitable,
    <I::Item as Awaitable>::Output: IntoOutcome,
{
    /// Runs at most `n` inputs at once, or under an adaptive limit; see [`Gather::limit`].
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let v = corral::gather_settled((0..100).map(|i| async move { Ok::<_, ()>(i) }))
    ///     .limit(4)
    ///     .await;
    /// assert!(v.iter().all(|o| o.is_ok()));
    /// # }
    /// ```
    pub fn limit(mut self, limit: impl Into<Limit>) -> Self {
        self.set.set_limit_to(limit.into());
        self
    }

    /// Starts each input only when `limiter` gives it a slot; see [`Gather::rate`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio::time::Instant;
    /// use corral::{Rate, RateLimiter};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let start = Instant::now();
    /// let v = corral::gather_settled((0..4).map(|i| async move { Err::<(), _>(i) }))
    ///     .rate(RateLimiter::new(Rate::per_second(2), 2))
    ///     .await;
    /// assert_eq!(v.len(), 4);
    /// assert_eq!(start.elapsed(), Duration::from_secs(1)); // a burst of 2, then 2 a second
    /// # }
    /// ```
    pub fn rate(mut self, limiter: impl Into<Arc<RateLimiter>>) -> Self {
        self.set.set_rate(limiter.into());
        self
    }
}

// Unpin whatever the inputs: nothing is structurally pinned (the set keeps its futures in heap
// segments of its own, pinned there; the other fields are plain data).
impl<I> Unpin for GatherSettled<I>
where
    I: Iterator,
    I::Item: Awaitable,
    <I::Item as Awaitable>::Output: IntoOutcome,
{
}

impl<I> Future for GatherSettled<I>
where
    I: Iterator,
    I::Item: Awaitable,
    <I::Item as Awaitable>::Output: IntoOutcome,
{
    type Output = Vec<Outcome<Ok_<I::Item>, Err_<I::Item>>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let outcomes = &mut this.outcomes;
        std::task::ready!(this.set.poll_drain(cx, &mut |done| {
            outcomes.set(done.index, done.outcome);
            false
        }));
        Poll::Ready(
            std::mem::take(&mut this.outcomes)
                .into_vec(this.set.pulled())
                .expect("every input finished"),
        )
    }
}

impl<I> fmt::Debug for Gather<I>
where
    I: Iterator,
    I::Item: Awaitable,
    <I::Item as Awaitable>::Output: IntoOutcome,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gather")
            .field("remaining", &self.set.remaining())
            .finish_non_exhaustive()
    }
}

impl<I> fmt::Debug for GatherSettled<I>
where
    I: Iterator,
    I::Item: Awaitable,
    <I::Item as Awaitable>::Output: IntoOutcome,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatherSettled")
            .field("remaining", &self.set.remaining())
            .finish_non_exhaustive()
    }
}
