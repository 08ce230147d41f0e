//! Where a set's inputs come from: the sealed [`Source`] trait and its four implementations,
//! over an iterator or a stream, with keys or without.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::awaitable::Awaitable;

/// Where a set's inputs come from: `(key, awaitable)` pairs, pulled only when there is room.
///
/// Named as `corral::source::Source`, so that an [`AsCompleted`](crate::AsCompleted) can be
/// generic over its source; sealed, so that only these four implement it. Users meet it as the
/// first type parameter of [`AsCompleted`](crate::AsCompleted), picked by the aliases
/// [`AsCompletedIter`](crate::AsCompletedIter) ([`Iter`]),
/// [`AsCompletedKeyed`](crate::AsCompletedKeyed) ([`Keyed`]),
/// [`AsCompletedStream`](crate::AsCompletedStream) ([`Streamed`]) and
/// [`AsCompletedStreamKeyed`](crate::AsCompletedStreamKeyed) ([`StreamedKeyed`]).
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use std::future::{ready, Ready};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // `AsCompletedIter<I>` is `AsCompleted<Iter<I>>`: the source is the iterator, wrapped.
/// let mut s: corral::AsCompletedIter<std::vec::IntoIter<Ready<Result<u8, ()>>>> =
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

mod sealed {
    /// Keeps [`Source`](super::Source) closed: the engine relies on how each source behaves.
    pub trait Sealed {}
    impl<I> Sealed for super::Iter<I> {}
    impl<I> Sealed for super::Keyed<I> {}
    impl<S> Sealed for super::Streamed<S> {}
    impl<S> Sealed for super::StreamedKeyed<S> {}
}

/// Inputs from an iterator, keyed by `()` (the input index is the key). The source of
/// [`as_completed`](crate::as_completed), named through
/// [`AsCompletedIter<I>`](crate::AsCompletedIter) (`AsCompleted<Iter<I>>`).
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use std::future::{ready, Ready};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let inputs = vec![ready(Ok::<u8, ()>(1)), ready(Ok(2))];
/// let s: corral::AsCompletedIter<std::vec::IntoIter<Ready<Result<u8, ()>>>> =
///     corral::as_completed(inputs);
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

/// Inputs from an iterator of `(key, awaitable)` pairs. The source of
/// [`as_completed_keyed`](crate::as_completed_keyed), named through
/// [`AsCompletedKeyed<I>`](crate::AsCompletedKeyed) (`AsCompleted<Keyed<I>>`).
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use std::future::{ready, Ready};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let inputs = vec![("a", ready(Ok::<u8, ()>(1)))];
/// let mut s: corral::AsCompletedKeyed<std::vec::IntoIter<(&str, Ready<Result<u8, ()>>)>> =
///     corral::as_completed_keyed(inputs);
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

/// Inputs from a stream, keyed by `()`. The source of
/// [`as_completed_stream`](crate::as_completed_stream), named through
/// [`AsCompletedStream<St>`](crate::AsCompletedStream) (`AsCompleted<Streamed<St>>`).
///
/// # Examples
///
/// ```
/// use futures::{stream, StreamExt};
/// use std::future::{ready, Ready};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let inputs = stream::iter(vec![ready(Ok::<u8, ()>(1)), ready(Ok(2))]);
/// let s: corral::AsCompletedStream<stream::Iter<std::vec::IntoIter<Ready<Result<u8, ()>>>>> =
///     corral::as_completed_stream(inputs);
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

/// Inputs from a stream of `(key, awaitable)` pairs. The source of
/// [`as_completed_stream_keyed`](crate::as_completed_stream_keyed), named through
/// [`AsCompletedStreamKeyed<St>`](crate::AsCompletedStreamKeyed)
/// (`AsCompleted<StreamedKeyed<St>>`).
///
/// # Examples
///
/// ```
/// use futures::{stream, StreamExt};
/// use std::future::{ready, Ready};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// type Pairs = stream::Iter<std::vec::IntoIter<(char, Ready<Result<u8, ()>>)>>;
/// let inputs: Pairs = stream::iter(vec![('x', ready(Ok(1)))]);
/// let mut s: corral::AsCompletedStreamKeyed<Pairs> = corral::as_completed_stream_keyed(inputs);
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
