//! [`as_completed`]: a stream of outcomes in the order the inputs finish.
//!
//! Four ways in, one stream type out: [`as_completed`] (an iterator of awaitables),
//! [`as_completed_keyed`] (an iterator of `(key, awaitable)` pairs), [`as_completed_stream`] and
//! [`as_completed_stream_keyed`] (the same from a [`Stream`], pulled lazily). Each gives an
//! [`AsCompleted`] stream whose items are [`Completed`] values, or `Result<Completed, Elapsed>`
//! once a [timeout](AsCompleted::timeout) is set.
//!
//! One concern a file:
//!
//! * `mod.rs`: the item type [`Completed`], the four ways in, and the aliases that name the
//!   stream's type.
//! * `stream`: the [`AsCompleted`] stream, its options, and how it streams without a timeout.
//! * `timed`: the [`Untimed`] and [`Timed`] markers, and what a timeout adds to the stream.
//!
//! [`Elapsed`]: crate::timeout::Elapsed

mod stream;
mod timed;

use futures_core::Stream;

use crate::awaitable::Awaitable;
use crate::outcome::{IntoOutcome, Outcome};
use crate::set::{Done, Iter, Keyed, Source, Streamed, StreamedKeyed};

pub use stream::{AsCompleted, NextCompleted};
pub use timed::{Timed, Untimed};

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
