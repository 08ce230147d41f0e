//! The [`AsCompleted`] stream: its state, its options, and how it streams its items when it
//! has no timeout (see `timed` for what a timeout adds).

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::{FusedFuture, FusedStream, Stream};
use tokio::time::Instant;

use crate::adaptive::Limit;
use crate::awaitable::Awaitable;
use crate::outcome::IntoOutcome;
use crate::rate::RateLimiter;
use crate::set::{Set, Source};

use super::timed::{Timed, Timer, Untimed};
use super::{Completed, Item};

/// A stream of the outcomes of many inputs, in the order they finish. Made by
/// [`as_completed`]. `S` is where the inputs come from (see [`source`](crate::source)), and
/// `D` is [`Untimed`] or, once a [timeout](AsCompleted::timeout) is set, [`Timed`].
///
/// # Items
///
/// Every input comes out exactly once, as a [`Completed`]: its index, its key, its
/// [`Outcome`]. A failed input is an item like any other, not the end of the stream, which is
/// why the item carries a whole `Outcome` rather than being a `Result` itself.
///
/// With a [`timeout`](AsCompleted::timeout), the items become `Result<Completed, Elapsed>`
/// (the `Timed` marker in the type), whatever the timeout's value, `None` included: asking for
/// a timeout is what makes the stream able to time out. The timeout is the one way the stream
/// ends before every input has come out, so it is the `Err` case: `let done = item?;` in a
/// loop leaves it the way asyncio's `async for` raises `TimeoutError`. A stream that was never
/// given a timeout never pays for that `Result`.
///
/// # Order
///
/// Completion order, with inputs that finish in the same poll in input order (asyncio leaves
/// ties unordered). [`ordered`](AsCompleted::ordered) streams them in input order instead.
///
/// # Timeout
///
/// The timeout ends the stream with one `Err(Elapsed)` item and cancels nothing: the inputs
/// left stay in the stream (tasks keep running; plain futures wait, since they only progress
/// while polled). [`reschedule`](AsCompleted::reschedule) the deadline (or pass `None`) to take
/// them out, [`cancel_rest`](AsCompleted::cancel_rest) to stop them and take out their final
/// outcomes, or drop the stream to cancel them.
///
/// # Resuming
///
/// Breaking out of a `while let Some(..) = s.next().await` loop and coming back later loses
/// nothing: every input still comes out exactly once.
///
/// # Cancel safety
///
/// `s.next()` is cancel safe: if the `next()` future is dropped before it completes (in a
/// `select!`, say), no item is lost.
///
/// # Dropping
///
/// Dropping the stream drops every plain future it holds and every owned [`Task`] handle
/// (which aborts the task), so nothing it started keeps running. Inputs given as `&mut Task`
/// belong to the caller and keep running.
///
/// asyncio: the iterator `asyncio.as_completed(aws, timeout=...)` returns.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use futures::StreamExt;
/// use tokio::time::sleep;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let job = |secs: u64| async move {
///     sleep(Duration::from_secs(secs)).await;
///     Ok::<_, ()>(secs)
/// };
/// let mut s = corral::as_completed([job(1), job(10), job(2)]).timeout(Duration::from_secs(5));
/// while let Some(item) = s.next().await {
///     match item {
///         Ok(done) => println!("input {} gave {:?}", done.index, done.outcome),
///         Err(elapsed) => println!("{elapsed}; {} still running", s.remaining()),
///     }
/// }
/// assert_eq!(s.remaining(), 1);
/// s.cancel_rest(); // the 10 s job comes out cancelled
/// assert!(s.next().await.unwrap().unwrap().outcome.is_cancelled());
/// # }
/// ```
///
/// [`Task`]: crate::Task
/// [`as_completed`]: super::as_completed
/// [`Untimed`]: super::Untimed
/// [`Timed`]: super::Timed
/// [`Outcome`]: crate::outcome::Outcome
#[must_use = "streams do nothing unless polled"]
pub struct AsCompleted<S, D = Untimed>
where
    S: Source,
    <S::Item as Awaitable>::Output: IntoOutcome,
{
    pub(super) set: Set<S>,
    pub(super) timer: Timer,
    mode: PhantomData<fn() -> D>,
}

// Unpin whatever the inputs: nothing is structurally pinned. The set keeps its futures in heap segments of
// its own (pinned there), the source stream is boxed, and the timer is boxed.
impl<S, D> Unpin for AsCompleted<S, D>
where
    S: Source,
    <S::Item as Awaitable>::Output: IntoOutcome,
{
}

impl<S> AsCompleted<S>
where
    S: Source,
    <S::Item as Awaitable>::Output: IntoOutcome,
{
    pub(super) fn new(source: S) -> Self {
        AsCompleted {
            set: Set::new(source),
            timer: Timer::default(),
            mode: PhantomData,
        }
    }
}

impl<S, D> AsCompleted<S, D>
where
    S: Source,
    <S::Item as Awaitable>::Output: IntoOutcome,
{
    /// Runs at most `n` inputs at once (`0` counts as `1`); the next input is pulled and started
    /// when one finishes, so a long lazy iterator or stream costs memory for `n`. Task handles
    /// are already running when given; the limit counts them but cannot hold them back. `n`
    /// may also be an [`AdaptiveLimiter`](crate::AdaptiveLimiter): see [`Limit`].
    ///
    /// asyncio has no equivalent (python/cpython#115201 declined it).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let s = corral::as_completed((0..100).map(|i| async move { Ok::<_, ()>(i) })).limit(8);
    /// assert_eq!(s.count().await, 100);
    /// # }
    /// ```
    pub fn limit(mut self, limit: impl Into<Limit>) -> Self {
        self.set.set_limit_to(limit.into());
        self
    }

    /// Starts each input only when `limiter` gives it a slot, so inputs start at most at its
    /// rate; composes with [`limit`](AsCompleted::limit). See [`Gather::rate`](crate::Gather::rate).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use std::time::Duration;
    /// use tokio::time::Instant;
    /// use corral::{Rate, RateLimiter};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let start = Instant::now();
    /// let s = corral::as_completed((0..3).map(|i| async move { Ok::<_, ()>(i) }))
    ///     .rate(RateLimiter::new(Rate::per_second(1), 1));
    /// let at: Vec<Duration> = s.map(|_| start.elapsed()).collect().await;
    /// assert_eq!(at, [Duration::ZERO, Duration::from_secs(1), Duration::from_secs(2)]);
    /// # }
    /// ```
    pub fn rate(mut self, limiter: impl Into<Arc<RateLimiter>>) -> Self {
        self.set.set_rate(limiter.into());
        self
    }

    /// Streams the outcomes **in input order** instead of completion order, still as soon as
    /// possible: an item comes out once every earlier input has come out (like `futures`'
    /// `buffered`). With a [`limit`](AsCompleted::limit), the limit bounds the inputs running
    /// plus those finished and waiting for an earlier one, so memory stays bounded.
    ///
    /// asyncio has no equivalent; it is `gather` that streams.
    ///
    /// # Panics
    ///
    /// Panics if the stream has already pulled an input (call it before polling).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use futures::StreamExt;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let job = |ms: u64| async move {
    ///     tokio::time::sleep(Duration::from_millis(ms)).await;
    ///     Ok::<_, ()>(ms)
    /// };
    /// let s = corral::as_completed([job(30), job(10), job(20)]).ordered();
    /// let v: Vec<_> = s.map(|d| d.outcome.unwrap()).collect().await;
    /// assert_eq!(v, [30, 10, 20]);
    /// # }
    /// ```
    #[track_caller]
    pub fn ordered(mut self) -> Self {
        assert!(
            self.set.pulled() == 0,
            "AsCompleted::ordered must be called before the stream is polled"
        );
        self.set.set_ordered(true);
        self
    }

    /// Ends the stream with an `Err(`[`Elapsed`]`)` item if it has to wait past `duration` from
    /// now; see [`AsCompleted`] for what the timeout does and does not do. `None` sets no
    /// deadline (the stream's items are `Result`s all the same, so that a timeout that may or
    /// may not be there needs one code path). Calling it again replaces the deadline; so does
    /// [`reschedule`](AsCompleted::reschedule).
    ///
    /// The same signature as [`Wait::timeout`](crate::Wait::timeout) and the free
    /// [`timeout`](crate::timeout()).
    ///
    /// asyncio: `asyncio.as_completed(aws, timeout=...)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let slow = || async {
    ///     tokio::time::sleep(Duration::from_secs(10)).await;
    ///     Ok::<_, ()>(1)
    /// };
    /// let mut s = corral::as_completed([slow()]).timeout(Duration::from_secs(1));
    /// assert_eq!(s.next().await.unwrap(), Err(corral::Elapsed::new()));
    /// assert!(s.next().await.is_none()); // ended; the input is still in it
    ///
    /// let budget: Option<Duration> = None; // asyncio's timeout=None
    /// let mut s = corral::as_completed([slow()]).timeout(budget);
    /// assert_eq!(s.next().await.unwrap().unwrap().outcome.unwrap(), 1);
    /// # }
    /// ```
    ///
    /// [`Elapsed`]: crate::timeout::Elapsed
    pub fn timeout(self, duration: impl Into<Option<Duration>>) -> AsCompleted<S, Timed> {
        let deadline = duration.into().map(|d| Instant::now() + d);
        self.timeout_at(deadline)
    }

    /// Like [`timeout`](AsCompleted::timeout), with a deadline instead of a duration (`None`:
    /// no deadline).
    ///
    /// asyncio: `asyncio.as_completed(aws, timeout=...)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio::time::Instant;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let at = Instant::now() + Duration::from_secs(1);
    /// let s = corral::as_completed([async { Ok::<_, ()>(1) }]).timeout_at(at);
    /// assert_eq!(s.deadline(), Some(at));
    /// # }
    /// ```
    pub fn timeout_at(mut self, deadline: impl Into<Option<Instant>>) -> AsCompleted<S, Timed> {
        self.timer.set(deadline.into());
        AsCompleted {
            set: self.set,
            timer: self.timer,
            mode: PhantomData,
        }
    }

    /// How many inputs have not come out yet, as far as the stream knows: those started and
    /// not yet handed out, plus those the iterator or stream says it still holds (the lower
    /// bound of its `size_hint`; exact for a `Vec`, a range or an array).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut s = corral::as_completed((0..3).map(|i| async move { Ok::<_, ()>(i) }));
    /// assert_eq!(s.remaining(), 3);
    /// s.next().await;
    /// assert_eq!(s.remaining(), 2);
    /// # }
    /// ```
    pub fn remaining(&self) -> usize {
        self.set.size_hint().0
    }

    /// How many inputs are running now (started, not finished).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let s = corral::as_completed([async { Ok::<_, ()>(1) }]);
    /// assert_eq!(s.running(), 0); // nothing starts before the first poll
    /// # }
    /// ```
    pub fn running(&self) -> usize {
        self.set.running()
    }

    /// Stops the stream early: no more inputs are pulled (those not pulled yet are never
    /// started); running plain futures are dropped now and come out as
    /// [`Outcome::Cancelled`]; running tasks are asked to stop ([`Task::cancel`]) and come out
    /// with whatever outcome they end with, once they have stopped. Inputs that had finished
    /// come out as they were. The timeout, if any, is disarmed, so that all of these come out;
    /// then the stream ends.
    ///
    /// For `--fail-fast`, "first success wins", a deadline or Ctrl-C: stop, then drain.
    ///
    /// asyncio: cancelling each remaining task by hand after breaking out of the loop.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use futures::StreamExt;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let job = |secs: u64| async move {
    ///     tokio::time::sleep(Duration::from_secs(secs)).await;
    ///     Ok::<_, ()>(secs)
    /// };
    /// let mut s = corral::as_completed([job(1), job(5), job(9)]);
    /// let first = s.next().await.unwrap();
    /// s.cancel_rest();
    /// let rest: Vec<_> = s.map(|d| (d.index, d.outcome.is_cancelled())).collect().await;
    /// assert_eq!(first.index, 0);
    /// assert_eq!(rest, [(1, true), (2, true)]);
    /// # }
    /// ```
    ///
    /// [`Task::cancel`]: crate::Task::cancel
    /// [`Outcome::Cancelled`]: crate::outcome::Outcome::Cancelled
    pub fn cancel_rest(&mut self) {
        self.set.stop();
        self.timer.set(None);
    }

    /// Like [`cancel_rest`](AsCompleted::cancel_rest), but the inputs not pulled yet come out
    /// too, so that **every input comes out exactly once**: the rest of the iterator or stream
    /// is pulled (within the limit, so memory stays bounded), and each plain future comes out
    /// as [`Outcome::Cancelled`] without ever being polled, each task handle with the outcome
    /// it ends with after being asked to stop.
    ///
    /// For a report with one record per input even when the run is cut short.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut s = corral::as_completed((0..100).map(|i| async move { Ok::<_, ()>(i) })).limit(5);
    /// let first = s.next().await.unwrap();
    /// s.cancel_all();
    /// let cancelled = s.filter(|d| std::future::ready(d.outcome.is_cancelled())).count().await;
    /// assert_eq!(first.index, 0);
    /// assert!(cancelled >= 95); // the unpulled ones were never started
    /// # }
    /// ```
    ///
    /// [`Outcome::Cancelled`]: crate::outcome::Outcome::Cancelled
    pub fn cancel_all(&mut self) {
        self.set.stop_all();
        self.timer.set(None);
    }

    /// The next item, in completion order; `None` once every input is done. After
    /// [`timeout`](AsCompleted::timeout), items are `Result`s, and the stream ends with one
    /// `Err(Elapsed)` if it has to wait past the deadline. The same as `StreamExt::next` from
    /// `futures`, with no trait to import.
    ///
    /// asyncio: `for fut in as_completed(aws): result = await fut`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut done = corral::as_completed((0..3u8).map(|i| async move { Ok::<_, ()>(i) }));
    /// let mut seen = 0;
    /// while let Some(item) = done.next().await {
    ///     assert_eq!(item.outcome.into_result(), Ok(item.index as u8));
    ///     seen += 1;
    /// }
    /// assert_eq!(seen, 3);
    /// # }
    /// ```
    #[allow(clippy::should_implement_trait)] // named as `StreamExt::next`, on purpose
    pub fn next(&mut self) -> impl FusedFuture<Output = Option<<Self as Stream>::Item>> + Unpin + '_
    where
        Self: FusedStream,
    {
        NextItem(self)
    }
}

/// The future of [`AsCompleted::next`]: `Unpin` and fused, like the future of
/// `StreamExt::next`, so that it works where that one does (`select!`, `poll!`).
struct NextItem<'a, S: ?Sized>(&'a mut S);

impl<S: Stream + Unpin + ?Sized> Future for NextItem<'_, S> {
    type Output = Option<S::Item>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut *self.0).poll_next(cx)
    }
}

impl<S: FusedStream + Unpin + ?Sized> FusedFuture for NextItem<'_, S> {
    fn is_terminated(&self) -> bool {
        self.0.is_terminated()
    }
}

impl<S> Stream for AsCompleted<S, Untimed>
where
    S: Source,
    <S::Item as Awaitable>::Output: IntoOutcome,
{
    type Item = Item<S>;

    #[inline]
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut()
            .set
            .poll_next(cx)
            .map(|d| d.map(Completed::from_done))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.set.size_hint()
    }
}

impl<S> FusedStream for AsCompleted<S, Untimed>
where
    S: Source,
    <S::Item as Awaitable>::Output: IntoOutcome,
{
    fn is_terminated(&self) -> bool {
        self.set.is_terminated()
    }
}

impl<S, D> fmt::Debug for AsCompleted<S, D>
where
    S: Source,
    <S::Item as Awaitable>::Output: IntoOutcome,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("running", &self.set.running())
            .field("remaining", &self.remaining())
            .field("deadline", &self.timer.deadline)
            .field("expired", &self.timer.expired)
            .finish_non_exhaustive()
    }
}
