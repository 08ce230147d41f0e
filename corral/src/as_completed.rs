//! [`as_completed`]: a stream of outcomes in the order the inputs finish.
//!
//! Four ways in, one stream type out: [`as_completed`] (an iterator of awaitables),
//! [`as_completed_keyed`] (an iterator of `(key, awaitable)` pairs), [`as_completed_stream`] and
//! [`as_completed_stream_keyed`] (the same from a [`Stream`], pulled lazily). Each gives an
//! [`AsCompleted`] stream whose items are [`Completed`] values, or `Result<Completed, Elapsed>`
//! once a [timeout](AsCompleted::timeout) is set.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::{FusedStream, Stream};
use tokio::time::{Instant, Sleep};

use crate::awaitable::Awaitable;
use crate::outcome::{IntoOutcome, Outcome};
use crate::set::{Done, Iter, Keyed, Set, Source, Streamed, StreamedKeyed};
use crate::timeout::Elapsed;

type Ok_<A> = <<A as Awaitable>::Output as IntoOutcome>::Ok;
type Err_<A> = <<A as Awaitable>::Output as IntoOutcome>::Err;
type Item<S> = Completed<Ok_<<S as Source>::Item>, Err_<<S as Source>::Item>, <S as Source>::Key>;

/// One finished input of an [`AsCompleted`] stream: which input it was, and how it ended.
///
/// `index` is the input's position, counting from 0 in the order the inputs were given. `key`
/// is the key the input was given with ([`as_completed_keyed`], [`as_completed_stream_keyed`]),
/// or `()`. `outcome` is the input's [`Outcome`]: an error, a panic or a cancellation is an item
/// like a success, and the stream goes on after it.
///
/// asyncio: the awaitable `as_completed` yields. asyncio hands back the input object itself so
/// that the caller can tell which input finished; Rust moves the inputs into the call, so corral
/// hands back their position and the caller's key instead.
///
/// # Examples
///
/// ```
/// use corral::{Completed, Outcome};
/// use futures::StreamExt;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut s = corral::as_completed_keyed([("a", async { Err::<u8, _>("no") })]);
/// let done = s.next().await.unwrap();
/// assert_eq!(done, Completed { index: 0, key: "a", outcome: Outcome::Err("no") });
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completed<T, E, K = ()> {
    /// The input's position, counting from 0 in input order.
    pub index: usize,
    /// The key the input was given with, or `()`.
    pub key: K,
    /// How the input ended.
    pub outcome: Outcome<T, E>,
}

impl<T, E, K> Completed<T, E, K> {
    #[inline]
    fn from_done(d: Done<K, Outcome<T, E>>) -> Self {
        Completed {
            index: d.index,
            key: d.key,
            outcome: d.outcome,
        }
    }
}

/// Runs every input concurrently and streams their outcomes **in the order they finish**, each
/// item telling which input it was ([`Completed::index`]). Inputs that finish in the same poll
/// come out in input order.
///
/// Inputs are [`Awaitable`]s: plain futures (polled in place, inside the task that polls the
/// stream, so they make progress only while the stream is polled) or [`Task`](crate::Task)
/// handles (running on their own). Outputs are `Result<T, E>` or [`Outcome<T, E>`](Outcome).
/// Inputs are pulled from the iterator only when there is room under the
/// [limit](AsCompleted::limit). An empty input ends the stream at once.
///
/// See [`AsCompleted`] for the options: [`limit`](AsCompleted::limit),
/// [`ordered`](AsCompleted::ordered), [`timeout`](AsCompleted::timeout),
/// [`cancel_rest`](AsCompleted::cancel_rest), [`remaining`](AsCompleted::remaining).
///
/// asyncio: `asyncio.as_completed(aws)`. Unlike asyncio, each item says which input it was,
/// ties come out in input order, and dropping the stream cancels what is left.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use futures::StreamExt;
/// use tokio::time::{sleep, Instant};
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let after = |secs: u64| async move {
///     sleep(Duration::from_secs(secs)).await;
///     Ok::<_, ()>(secs)
/// };
/// let t0 = Instant::now();
/// let mut s = corral::as_completed([after(3), after(1), after(2)]);
/// let mut order = Vec::new();
/// while let Some(done) = s.next().await {
///     order.push((done.index, done.outcome.unwrap()));
/// }
/// assert_eq!(order, [(1, 1), (2, 2), (0, 3)]);
/// assert_eq!(t0.elapsed(), Duration::from_secs(3)); // 3 s, not 6
/// # }
/// ```
pub fn as_completed<I>(inputs: I) -> AsCompletedIter<I::IntoIter>
where
    I: IntoIterator,
    I::Item: Awaitable,
    <I::Item as Awaitable>::Output: IntoOutcome,
{
    AsCompleted::new(Iter(inputs.into_iter()))
}

/// Like [`as_completed`], for `(key, awaitable)` pairs: each item carries the input's key
/// ([`Completed::key`]) as well as its index.
///
/// asyncio: `asyncio.as_completed(aws)`, where the yielded object identifies the input.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let urls = ["a.example", "b.example"];
/// let mut s = corral::as_completed_keyed(
///     urls.iter().map(|u| (*u, async move { Ok::<usize, ()>(u.len()) })),
/// );
/// while let Some(done) = s.next().await {
///     println!("{}: {:?}", done.key, done.outcome);
/// }
/// # }
/// ```
pub fn as_completed_keyed<I, K, A>(inputs: I) -> AsCompletedKeyed<I::IntoIter>
where
    I: IntoIterator<Item = (K, A)>,
    A: Awaitable,
    A::Output: IntoOutcome,
{
    AsCompleted::new(Keyed(inputs.into_iter()))
}

/// Like [`as_completed`], with the inputs coming from a [`Stream`], pulled only when there is
/// room under the [limit](AsCompleted::limit). With a limit, memory stays bounded by the limit
/// however long the input stream is.
///
/// Pass `&mut stream` (for an `Unpin` stream) to keep the stream: after
/// [`cancel_rest`](AsCompleted::cancel_rest) and dropping the `AsCompleted`, the inputs that
/// were never pulled are still in it.
///
/// asyncio: `asyncio.as_completed(aws)` (which takes only a finite iterable).
///
/// # Examples
///
/// ```
/// use futures::{stream, StreamExt};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let inputs = stream::iter(0..1_000).map(|i| async move { Ok::<u32, ()>(i) });
/// let n = corral::as_completed_stream(inputs).limit(10).count().await;
/// assert_eq!(n, 1_000);
/// # }
/// ```
pub fn as_completed_stream<St>(inputs: St) -> AsCompletedStream<St>
where
    St: Stream,
    St::Item: Awaitable,
    <St::Item as Awaitable>::Output: IntoOutcome,
{
    AsCompleted::new(Streamed(Box::pin(inputs)))
}

/// Like [`as_completed_stream`], for a stream of `(key, awaitable)` pairs: each item carries
/// the input's key as well as its index.
///
/// asyncio: `asyncio.as_completed(aws)`.
///
/// # Examples
///
/// ```
/// use futures::{stream, StreamExt};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let lines = stream::iter(["x", "yy"]).map(|l| (l, async move { Ok::<usize, ()>(l.len()) }));
/// let mut s = corral::as_completed_stream_keyed(lines).limit(50);
/// while let Some(done) = s.next().await {
///     assert_eq!(done.outcome.unwrap(), done.key.len());
/// }
/// # }
/// ```
pub fn as_completed_stream_keyed<St, K, A>(inputs: St) -> AsCompletedStreamKeyed<St>
where
    St: Stream<Item = (K, A)>,
    A: Awaitable,
    A::Output: IntoOutcome,
{
    AsCompleted::new(StreamedKeyed(Box::pin(inputs)))
}

/// The [`AsCompleted`] stream over an iterator of awaitables `I`, as [`as_completed`] makes
/// it; `D` is [`Untimed`] or [`Timed`]. Use it to name the stream's type, e.g. in a struct.
///
/// # Examples
///
/// ```
/// use corral::{AsCompletedIter, Task, Timed};
///
/// struct Progress {
///     jobs: AsCompletedIter<std::vec::IntoIter<Task<u64, String>>, Timed>,
/// }
/// ```
pub type AsCompletedIter<I, D = Untimed> = AsCompleted<Iter<I>, D>;

/// The [`AsCompleted`] stream over an iterator of `(key, awaitable)` pairs `I`, as
/// [`as_completed_keyed`] makes it.
///
/// # Examples
///
/// ```
/// use corral::{AsCompletedKeyed, Task};
///
/// type ByName = AsCompletedKeyed<std::vec::IntoIter<(String, Task<u64, String>)>>;
/// ```
pub type AsCompletedKeyed<I, D = Untimed> = AsCompleted<Keyed<I>, D>;

/// The [`AsCompleted`] stream over a stream of awaitables `St`, as [`as_completed_stream`]
/// makes it.
///
/// # Examples
///
/// ```
/// use std::future::Ready;
/// use corral::AsCompletedStream;
/// use futures::stream::Iter;
///
/// type Lines = AsCompletedStream<Iter<std::vec::IntoIter<Ready<Result<u8, ()>>>>>;
/// ```
pub type AsCompletedStream<St, D = Untimed> = AsCompleted<Streamed<St>, D>;

/// The [`AsCompleted`] stream over a stream of `(key, awaitable)` pairs `St`, as
/// [`as_completed_stream_keyed`] makes it.
///
/// # Examples
///
/// ```
/// use std::future::Ready;
/// use corral::AsCompletedStreamKeyed;
/// use futures::stream::Iter;
///
/// type Keyed = AsCompletedStreamKeyed<Iter<std::vec::IntoIter<(usize, Ready<Result<u8, ()>>)>>>;
/// ```
pub type AsCompletedStreamKeyed<St, D = Untimed> = AsCompleted<StreamedKeyed<St>, D>;

/// Marker for an [`AsCompleted`] with no timeout: its items are [`Completed`] values. The
/// default; [`AsCompleted::timeout`] turns it into [`Timed`].
///
/// # Examples
///
/// ```
/// use corral::{AsCompletedIter, Untimed};
///
/// fn plain(s: AsCompletedIter<std::vec::IntoIter<corral::Task<u8, ()>>, Untimed>) {}
/// ```
#[derive(Debug)]
pub enum Untimed {}

/// Marker for an [`AsCompleted`] with a timeout: its items are `Result<Completed, Elapsed>`,
/// and it has [`deadline`](AsCompleted::deadline), [`reschedule`](AsCompleted::reschedule) and
/// [`expired`](AsCompleted::expired).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corral::{AsCompletedIter, Timed};
///
/// fn with_budget(
///     tasks: Vec<corral::Task<u8, ()>>,
/// ) -> AsCompletedIter<std::vec::IntoIter<corral::Task<u8, ()>>, Timed> {
///     corral::as_completed(tasks).timeout(Duration::from_secs(5))
/// }
/// ```
#[derive(Debug)]
pub enum Timed {}

/// The deadline of a timed stream; lazily armed, so that a stream that never waits never
/// registers a timer.
#[derive(Default)]
struct Timer {
    deadline: Option<Instant>,
    sleep: Option<Pin<Box<Sleep>>>,
    expired: bool,
}

impl Timer {
    fn set(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
        self.expired = false;
        match (deadline, &mut self.sleep) {
            (Some(d), Some(sleep)) => sleep.as_mut().reset(d),
            (None, sleep) => *sleep = None,
            (Some(_), None) => {}
        }
    }

    fn poll_expired(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(deadline) = self.deadline else {
            return false;
        };
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.as_mut().poll(cx).is_pending() {
            return false;
        }
        self.expired = true;
        self.sleep = None;
        true
    }
}

/// A stream of the outcomes of many inputs, in the order they finish. Made by
/// [`as_completed`], [`as_completed_keyed`], [`as_completed_stream`] and
/// [`as_completed_stream_keyed`]; name its type with [`AsCompletedIter`],
/// [`AsCompletedKeyed`], [`AsCompletedStream`] or [`AsCompletedStreamKeyed`].
///
/// # Items
///
/// Every input comes out exactly once, as a [`Completed`]: its index, its key, its
/// [`Outcome`]. A failed input is an item like any other, not the end of the stream, which is
/// why the item carries a whole `Outcome` rather than being a `Result` itself.
///
/// With a [`timeout`](AsCompleted::timeout), the items become `Result<Completed, Elapsed>`
/// (the `Timed` marker in the type). The timeout is the one way the stream ends before every
/// input has come out, so it is the `Err` case: `let done = item?;` in a loop leaves it the way
/// asyncio's `async for` raises `TimeoutError`. A stream without a timeout never pays for
/// that `Result`.
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
#[must_use = "streams do nothing unless polled"]
pub struct AsCompleted<S, D = Untimed>
where
    S: Source,
    <S::Item as Awaitable>::Output: IntoOutcome,
{
    set: Set<S>,
    timer: Timer,
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
    fn new(source: S) -> Self {
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
    /// are already running when given; the limit counts them but cannot hold them back.
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
    pub fn limit(mut self, n: usize) -> Self {
        self.set.set_limit(n);
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
    /// now; see [`AsCompleted`] for what the timeout does and does not do. Calling it again
    /// replaces the deadline.
    ///
    /// asyncio: `asyncio.as_completed(aws, timeout=...)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use futures::StreamExt;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let slow = async {
    ///     tokio::time::sleep(Duration::from_secs(10)).await;
    ///     Ok::<_, ()>(1)
    /// };
    /// let mut s = corral::as_completed([slow]).timeout(Duration::from_secs(1));
    /// assert_eq!(s.next().await.unwrap(), Err(corral::Elapsed::new()));
    /// assert!(s.next().await.is_none()); // ended; the input is still in it
    /// # }
    /// ```
    pub fn timeout(self, duration: Duration) -> AsCompleted<S, Timed> {
        self.timeout_at(Instant::now() + duration)
    }

    /// Like [`timeout`](AsCompleted::timeout), with a deadline instead of a duration.
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
    pub fn timeout_at(mut self, deadline: Instant) -> AsCompleted<S, Timed> {
        self.timer.set(Some(deadline));
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
    pub fn cancel_all(&mut self) {
        self.set.stop_all();
        self.timer.set(None);
    }
}

impl<S> AsCompleted<S, Timed>
where
    S: Source,
    <S::Item as Awaitable>::Output: IntoOutcome,
{
    /// The deadline, or `None` if it was removed.
    ///
    /// asyncio: `Timeout.when()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut s = corral::as_completed([async { Ok::<_, ()>(1) }]).timeout(Duration::from_secs(1));
    /// assert!(s.deadline().is_some());
    /// s.reschedule(None);
    /// assert_eq!(s.deadline(), None);
    /// # }
    /// ```
    pub fn deadline(&self) -> Option<Instant> {
        self.timer.deadline
    }

    /// Moves the deadline (`None`: no deadline). After the timeout has ended the stream, this
    /// re-opens it: the inputs left come out again, until the new deadline.
    ///
    /// asyncio: `Timeout.reschedule()`; asyncio's `as_completed` cannot be re-armed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use futures::StreamExt;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let slow = async {
    ///     tokio::time::sleep(Duration::from_secs(3)).await;
    ///     Ok::<_, ()>("late")
    /// };
    /// let mut s = corral::as_completed([slow]).timeout(Duration::from_secs(1));
    /// assert!(s.next().await.unwrap().is_err()); // timed out at 1 s
    /// s.reschedule(None);
    /// assert_eq!(s.next().await.unwrap().unwrap().outcome.unwrap(), "late"); // at 3 s
    /// # }
    /// ```
    pub fn reschedule(&mut self, deadline: Option<Instant>) {
        self.timer.set(deadline);
    }

    /// True once the timeout has ended the stream (until it is
    /// [rescheduled](AsCompleted::reschedule)).
    ///
    /// asyncio: `Timeout.expired()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let s = corral::as_completed([async { Ok::<_, ()>(1) }]).timeout(Duration::from_secs(1));
    /// assert!(!s.expired());
    /// # }
    /// ```
    pub fn expired(&self) -> bool {
        self.timer.expired
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

impl<S> Stream for AsCompleted<S, Timed>
where
    S: Source,
    <S::Item as Awaitable>::Output: IntoOutcome,
{
    type Item = Result<Item<S>, Elapsed>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.timer.expired {
            return Poll::Ready(None);
        }
        // Results first: an input that has finished comes out even if the deadline has passed
        // too; the timeout bounds waiting, not work already done.
        match this.set.poll_next(cx) {
            Poll::Ready(Some(d)) => Poll::Ready(Some(Ok(Completed::from_done(d)))),
            Poll::Ready(None) => {
                // Disarm: the stream is over, and an empty one never armed a timer at all.
                this.timer.sleep = None;
                Poll::Ready(None)
            }
            Poll::Pending if this.timer.poll_expired(cx) => Poll::Ready(Some(Err(Elapsed::new()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.timer.expired {
            return (0, Some(0));
        }
        let (_, hi) = self.set.size_hint();
        // One more item (the timeout) may come if there is a deadline.
        let extra = usize::from(self.timer.deadline.is_some());
        (0, hi.and_then(|h| h.checked_add(extra)))
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

impl<S> FusedStream for AsCompleted<S, Timed>
where
    S: Source,
    <S::Item as Awaitable>::Output: IntoOutcome,
{
    fn is_terminated(&self) -> bool {
        self.timer.expired || self.set.is_terminated()
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
