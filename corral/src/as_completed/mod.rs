//! [`as_completed`]: a stream of outcomes in the order the inputs finish.
//!
//! One way in, [`as_completed`], which takes an iterator of awaitables or one of the adapters of
//! [`source`](crate::source) (keyed pairs, a [`Stream`](futures_core::Stream) of inputs), and
//! one stream type out: [`AsCompleted`], whose items are [`Completed`] values, or
//! `Result<Completed, Elapsed>` once a [timeout](AsCompleted::timeout) is set.
//!
//! One concern a file:
//!
//! * `mod.rs`: the item type [`Completed`] and the way in.
//! * `stream`: the [`AsCompleted`] stream, its options, and how it streams without a timeout.
//! * `timed`: the [`Untimed`] and [`Timed`] markers, and what a timeout adds to the stream.
//!
//! [`Elapsed`]: crate::timeout::Elapsed

mod stream;
mod timed;

use crate::awaitable::Awaitable;
use crate::outcome::{IntoOutcome, Outcome};
use crate::set::{Done, IntoSource, Source};

pub use stream::AsCompleted;
pub use timed::{Timed, Untimed};

type Ok_<A> = <<A as Awaitable>::Output as IntoOutcome>::Ok;
type Err_<A> = <<A as Awaitable>::Output as IntoOutcome>::Err;
type Item<S> = Completed<Ok_<<S as Source>::Item>, Err_<<S as Source>::Item>, <S as Source>::Key>;

/// One finished input of an [`AsCompleted`] stream: which input it was, and how it ended.
///
/// `index` is the input's position, counting from 0 in the order the inputs were given. `key`
/// is the key the input was given with ([`keyed`](crate::source::keyed),
/// [`keyed_stream`](crate::source::keyed_stream)), or `()`. `outcome` is the input's [`Outcome`]: an error, a panic or a cancellation is an item
/// like a success, and the stream goes on after it.
///
/// asyncio: the awaitable `as_completed` yields. asyncio hands back the input object itself so
/// that the caller can tell which input finished; Rust moves the inputs into the call, so corral
/// hands back their position and the caller's key instead.
///
/// # Examples
///
/// ```
/// use corral::{source::keyed, Completed, Outcome};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut s = corral::as_completed(keyed([("a", async { Err::<u8, _>("no") })]));
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
/// Inputs are pulled only when there is room under the [limit](AsCompleted::limit). An empty
/// input ends the stream at once.
///
/// `inputs` is an iterator of awaitables, or one of the adapters of [`source`](crate::source):
/// [`keyed(pairs)`](crate::source::keyed) for `(key, awaitable)` pairs, whose items carry the
/// key, and [`stream(st)`](crate::source::stream) or
/// [`keyed_stream(st)`](crate::source::keyed_stream) for inputs that come from a `Stream`.
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
pub fn as_completed<I>(inputs: I) -> AsCompleted<I::Source>
where
    I: IntoSource,
    <<I::Source as Source>::Item as Awaitable>::Output: IntoOutcome,
{
    AsCompleted::new(inputs.into_source())
}
