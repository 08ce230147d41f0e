//! Where a set's inputs come from: the sealed [`Source`] trait and its four implementations,
//! over an iterator or a stream, with keys or without; [`IntoSource`], which picks one for
//! `as_completed`; and the adapters [`keyed`], [`stream`] and [`keyed_stream`].

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::awaitable::Awaitable;

/// Where a set's inputs come from: `(key, awaitable)` pairs, pulled only when there is room.
///
/// The first type parameter of [`AsCompleted`](crate::AsCompleted), so that a stream can be
/// named in a struct field or a signature: `AsCompleted<Iter<I>>` for an iterator `I` of
/// awaitables, `AsCompleted<Keyed<I>>` for `(key, awaitable)` pairs, `AsCompleted<Streamed<St>>`
/// and `AsCompleted<StreamedKeyed<St>>` for the same from a stream. Sealed: only these four
/// implement it, because the engine relies on how each behaves. [`IntoSource`] says which one
/// a given input becomes.
///
/// # Examples
///
/// ```
/// use std::future::{ready, Ready};
/// use corral::source::Iter;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // An iterator of awaitables becomes an `Iter` source.
/// let mut s: corral::AsCompleted<Iter<std::vec::IntoIter<Ready<Result<u8, ()>>>>> =
///     corral::as_completed(vec![ready(Ok(1))]);
/// assert_eq!(s.next().await.unwrap().outcome, corral::Outcome::Ok(1));
/// # }
/// ```
pub trait Source: sealed::Sealed {
    /// The key each input comes with (`()` when inputs have none).
    type Key;
    /// The inputs.
    type Item: Awaitable;
    /// The next input and its key, `Ready(None)` when there are no more.
    fn poll_next_input(&mut self, cx: &mut Context<'_>) -> Poll<Option<(Self::Key, Self::Item)>>;
    /// Bounds on the number of inputs left, as [`Iterator::size_hint`].
    fn size_hint(&self) -> (usize, Option<usize>);
}

#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a source of inputs for `as_completed`",
    label = "not an iterator of futures or tasks",
    note = "pass an iterator of futures or tasks; `corral::source::keyed(pairs)` for \
            `(key, future)` pairs; `corral::source::stream(s)` or \
            `corral::source::keyed_stream(s)` for a `Stream`"
)]
/// What [`as_completed`](crate::as_completed) accepts: anything that can become a [`Source`].
///
/// * Any `IntoIterator` of awaitables (a `Vec`, an array, a `map` over a range) becomes an
///   [`Iter`].
/// * [`keyed(pairs)`](keyed) gives `(key, awaitable)` pairs, and each item carries its key.
/// * [`stream(st)`](stream) and [`keyed_stream(st)`](keyed_stream) take the inputs from a
///   [`Stream`], pulled lazily.
///
/// # Examples
///
/// ```
/// use futures::stream;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let jobs = || (0..3u8).map(|i| async move { Ok::<_, ()>(i) });
/// assert_eq!(corral::as_completed(jobs()).remaining(), 3);
/// assert_eq!(corral::as_completed(corral::source::stream(stream::iter(jobs()))).remaining(), 3);
/// # }
/// ```
pub trait IntoSource {
    /// The source it becomes.
    type Source: Source;
    /// Makes the source.
    fn into_source(self) -> Self::Source;
}

impl<I> IntoSource for I
where
    I: IntoIterator,
    I::Item: Awaitable,
{
    type Source = Iter<I::IntoIter>;
    fn into_source(self) -> Iter<I::IntoIter> {
        Iter(self.into_iter())
    }
}

impl<I, K, A> IntoSource for Keyed<I>
where
    I: Iterator<Item = (K, A)>,
    A: Awaitable,
{
    type Source = Self;
    fn into_source(self) -> Self {
        self
    }
}

impl<S, A> IntoSource for Streamed<S>
where
    S: Stream<Item = A>,
    A: Awaitable,
{
    type Source = Self;
    fn into_source(self) -> Self {
        self
    }
}

impl<S, K, A> IntoSource for StreamedKeyed<S>
where
    S: Stream<Item = (K, A)>,
    A: Awaitable,
{
    type Source = Self;
    fn into_source(self) -> Self {
        self
    }
}

/// Inputs given as `(key, awaitable)` pairs: each item of the stream carries its input's key
/// ([`Completed::key`](crate::Completed::key)) as well as its index.
///
/// asyncio: `as_completed(aws)`, where the object yielded identifies the input; Rust moves the
/// inputs into the call, so the caller's key does that job.
///
/// # Examples
///
/// ```
/// use corral::source::keyed;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let urls = ["a.example", "bb.example"];
/// let mut s = corral::as_completed(keyed(urls.map(|u| (u, async move { Ok::<_, ()>(u.len()) }))));
/// while let Some(done) = s.next().await {
///     assert_eq!(done.outcome.unwrap(), done.key.len());
/// }
/// # }
/// ```
pub fn keyed<I, K, A>(pairs: I) -> Keyed<I::IntoIter>
where
    I: IntoIterator<Item = (K, A)>,
    A: Awaitable,
{
    Keyed(pairs.into_iter())
}

/// Inputs taken from a [`Stream`], pulled only when there is room under the
/// [limit](crate::AsCompleted::limit): with a limit, memory stays bounded however long the
/// stream is.
///
/// Pass `&mut stream` (for an `Unpin` stream) to keep the stream: after
/// [`cancel_rest`](crate::AsCompleted::cancel_rest) and dropping the `AsCompleted`, the inputs
/// never pulled are still in it.
///
/// asyncio: `as_completed` takes only a finite iterable.
///
/// # Examples
///
/// ```
/// use futures::{stream, StreamExt};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let inputs = stream::iter(0..1_000).map(|i| async move { Ok::<u32, ()>(i) });
/// let n = corral::as_completed(corral::source::stream(inputs)).limit(10).count().await;
/// assert_eq!(n, 1_000);
/// # }
/// ```
pub fn stream<S>(inputs: S) -> Streamed<S>
where
    S: Stream,
    S::Item: Awaitable,
{
    Streamed(Box::pin(inputs))
}

/// [`keyed`] and [`stream`] together: `(key, awaitable)` pairs taken from a [`Stream`].
///
/// # Examples
///
/// ```
/// use futures::{stream, StreamExt};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let lines = stream::iter(["x", "yy"]).map(|l| (l, async move { Ok::<usize, ()>(l.len()) }));
/// let mut s = corral::as_completed(corral::source::keyed_stream(lines)).limit(50);
/// while let Some(done) = s.next().await {
///     assert_eq!(done.outcome.unwrap(), done.key.len());
/// }
/// # }
/// ```
pub fn keyed_stream<S, K, A>(pairs: S) -> StreamedKeyed<S>
where
    S: Stream<Item = (K, A)>,
    A: Awaitable,
{
    StreamedKeyed(Box::pin(pairs))
}

mod sealed {
    /// Keeps [`Source`](super::Source) closed: the engine relies on how each source behaves.
    pub trait Sealed {}
    impl<I> Sealed for super::Iter<I> {}
    impl<I> Sealed for super::Keyed<I> {}
    impl<S> Sealed for super::Streamed<S> {}
    impl<S> Sealed for super::StreamedKeyed<S> {}
}

/// Inputs from an iterator, keyed by `()` (the input index is the key): what
/// [`as_completed`](crate::as_completed) makes of an iterator of awaitables.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use std::future::{ready, Ready};
/// use corral::{source::Iter, AsCompleted};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let inputs = vec![ready(Ok::<u8, ()>(1)), ready(Ok(2))];
/// let s: AsCompleted<Iter<std::vec::IntoIter<Ready<Result<u8, ()>>>>> = corral::as_completed(inputs);
/// let indexes: Vec<usize> = s.map(|done| done.index).collect().await;
/// assert_eq!(indexes, [0, 1]);
/// # }
/// ```
#[derive(Debug)]
pub struct Iter<I>(pub(crate) I);

impl<I: Iterator> Source for Iter<I>
where
    I::Item: Awaitable,
{
    type Key = ();
    type Item = I::Item;
    #[inline]
    fn poll_next_input(&mut self, _: &mut Context<'_>) -> Poll<Option<((), I::Item)>> {
        Poll::Ready(self.0.next().map(|a| ((), a)))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

/// Inputs from an iterator of `(key, awaitable)` pairs, made by [`keyed`].
///
/// # Examples
///
/// ```
/// use std::future::{ready, Ready};
/// use corral::{source::{keyed, Keyed}, AsCompleted};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let inputs = vec![("a", ready(Ok::<u8, ()>(1)))];
/// let mut s: AsCompleted<Keyed<std::vec::IntoIter<(&str, Ready<Result<u8, ()>>)>>> =
///     corral::as_completed(keyed(inputs));
/// assert_eq!(s.next().await.unwrap().key, "a");
/// # }
/// ```
#[derive(Debug)]
pub struct Keyed<I>(pub(crate) I);

impl<I, K, A> Source for Keyed<I>
where
    I: Iterator<Item = (K, A)>,
    A: Awaitable,
{
    type Key = K;
    type Item = A;
    #[inline]
    fn poll_next_input(&mut self, _: &mut Context<'_>) -> Poll<Option<(K, A)>> {
        Poll::Ready(self.0.next())
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

/// Inputs from a stream, keyed by `()`, made by [`stream`].
///
/// # Examples
///
/// ```
/// use futures::{stream, StreamExt};
/// use std::future::{ready, Ready};
/// use corral::{source::Streamed, AsCompleted};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// type Inputs = stream::Iter<std::vec::IntoIter<Ready<Result<u8, ()>>>>;
/// let inputs: Inputs = stream::iter(vec![ready(Ok(1)), ready(Ok(2))]);
/// let s: AsCompleted<Streamed<Inputs>> = corral::as_completed(corral::source::stream(inputs));
/// assert_eq!(s.count().await, 2);
/// # }
/// ```
#[derive(Debug)]
pub struct Streamed<S>(pub(crate) Pin<Box<S>>);

impl<S: Stream> Source for Streamed<S>
where
    S::Item: Awaitable,
{
    type Key = ();
    type Item = S::Item;
    fn poll_next_input(&mut self, cx: &mut Context<'_>) -> Poll<Option<((), S::Item)>> {
        self.0.as_mut().poll_next(cx).map(|o| o.map(|a| ((), a)))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

/// Inputs from a stream of `(key, awaitable)` pairs, made by [`keyed_stream`].
///
/// # Examples
///
/// ```
/// use futures::stream;
/// use std::future::{ready, Ready};
/// use corral::{source::StreamedKeyed, AsCompleted};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// type Pairs = stream::Iter<std::vec::IntoIter<(char, Ready<Result<u8, ()>>)>>;
/// let inputs: Pairs = stream::iter(vec![('x', ready(Ok(1)))]);
/// let mut s: AsCompleted<StreamedKeyed<Pairs>> =
///     corral::as_completed(corral::source::keyed_stream(inputs));
/// assert_eq!(s.next().await.unwrap().key, 'x');
/// # }
/// ```
#[derive(Debug)]
pub struct StreamedKeyed<S>(pub(crate) Pin<Box<S>>);

impl<S, K, A> Source for StreamedKeyed<S>
where
    S: Stream<Item = (K, A)>,
    A: Awaitable,
{
    type Key = K;
    type Item = A;
    fn poll_next_input(&mut self, cx: &mut Context<'_>) -> Poll<Option<(K, A)>> {
        self.0.as_mut().poll_next(cx)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}
