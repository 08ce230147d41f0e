//! [`race`] and [`any`] (and, in `quorum.rs`, [`quorum`](crate::quorum)): stop as soon as the
//! answer is known, say which input gave it, and cancel and drain the rest before returning.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::adaptive::Limit;
use crate::awaitable::Awaitable;
use crate::outcome::{Failure, IntoOutcome};
use crate::rate::RateLimiter;
use crate::set::{Iter, Set};

pub(crate) type Ok_<A> = <<A as Awaitable>::Output as IntoOutcome>::Ok;
pub(crate) type Err_<A> = <<A as Awaitable>::Output as IntoOutcome>::Err;
/// How a race ended: the winner, or the failure that finished first.
type Finish<A> = Result<Winner<Ok_<A>>, InputFailure<Err_<A>>>;

/// A value and the position of the input that produced it.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::future::ready;
/// let w = corral::any([ready(Err("down")), ready(Ok::<_, &str>("up"))]).await.unwrap();
/// assert_eq!(w, corral::Winner { index: 1, value: "up" });
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Winner<T> {
    /// The input's position, counting from 0.
    pub index: usize,
    /// What it returned.
    pub value: T,
}

/// A [`Failure`] and the position of the input that failed.
///
/// # Examples
///
/// ```
/// use corral::{Failure, InputFailure};
/// let f = InputFailure { index: 2, failure: Failure::Error("refused") };
/// assert_eq!(f.to_string(), "input 2: refused");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFailure<E> {
    /// The input's position, counting from 0.
    pub index: usize,
    /// How it failed: an error, a panic or a cancellation.
    pub failure: Failure<E>,
}

impl<E: fmt::Display> fmt::Display for InputFailure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "input {}: {}", self.index, self.failure)
    }
}

impl<E: fmt::Debug + fmt::Display + 'static> std::error::Error for InputFailure<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.failure)
    }
}

/// Writes `input 0: a; input 3: b`.
pub(crate) fn list<E: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    failures: &[InputFailure<E>],
) -> fmt::Result {
    for (i, fail) in failures.iter().enumerate() {
        if i > 0 {
            f.write_str("; ")?;
        }
        write!(f, "{fail}")?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// race

/// Runs every input concurrently and returns the first to finish, **whether it succeeded or
/// failed**, with its position; cancels and drains the others before returning.
///
/// Ties (inputs that finish during the same poll) go to the earlier input. A [`Task`] input
/// that was cancelled counts as finishing with [`Failure::Cancelled`]. "Cancel and drain"
/// works as in [`gather`](crate::gather): plain futures are dropped; tasks are asked to stop
/// ([`Task::cancel`]) and waited for, so a loser listening with
/// [`cancelled()`](crate::cancelled) finishes its cleanup before `race` returns. Their
/// outcomes are discarded. Use [`.limit(n)`](Race::limit) to run at most `n` at a time;
/// inputs not pulled from the iterator when the race is decided are never pulled (a task
/// handle still in the iterator is dropped with it, which aborts its task).
///
/// asyncio has no direct equivalent: `asyncio.wait(aws, return_when=FIRST_COMPLETED)`
/// followed by cancelling the pending ones (and, to be thorough, awaiting them).
///
/// # Errors
///
/// * [`RaceError::Failed`] if the first input to finish failed (an error, a panic, or a
///   cancellation), with its position.
/// * [`RaceError::Empty`] if there were no inputs.
///
/// # Cancel safety
///
/// Dropping the future drops every plain future it runs and aborts every task it was given.
///
/// [`Task`]: crate::Task
/// [`Task::cancel`]: crate::Task::cancel
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tokio::time::sleep;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let after = |secs: u64, r: Result<&'static str, &'static str>| async move {
///     sleep(Duration::from_secs(secs)).await;
///     r
/// };
/// let first = corral::race([after(3, Ok("slow")), after(1, Ok("fast"))]).await;
/// assert_eq!(first.unwrap(), corral::Winner { index: 1, value: "fast" });
///
/// let first = corral::race([after(3, Ok("slow")), after(1, Err("broken"))]).await;
/// assert_eq!(first.unwrap_err().to_string(), "the first input to finish failed: input 1: broken");
/// # }
/// ```
pub fn race<I>(inputs: I) -> Race<I::IntoIter>
where
    I: IntoIterator,
    I::Item: Awaitable,
    <I::Item as Awaitable>::Output: IntoOutcome,
{
    Race {
        set: Set::new(Iter(inputs.into_iter())),
        first: None,
    }
}

/// Why a [`race`] gave no value.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let none = corral::race(Vec::<corral::Task<u8, ()>>::new()).await;
/// assert_eq!(none, Err(corral::RaceError::Empty));
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RaceError<E> {
    /// There were no inputs.
    Empty,
    /// The first input to finish failed.
    Failed(InputFailure<E>),
}

impl<E: fmt::Display> fmt::Display for RaceError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RaceError::Empty => f.write_str("race over no inputs"),
            RaceError::Failed(fail) => write!(f, "the first input to finish failed: {fail}"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display + 'static> std::error::Error for RaceError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RaceError::Empty => None,
            RaceError::Failed(fail) => Some(&fail.failure),
        }
    }
}

/// The future returned by [`race`]; `I` is the iterator of inputs. Dropping it stops what it
/// runs (see [`race`]'s cancel safety).
///
/// # Examples
///
/// ```
/// use std::future::{ready, Ready};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let inputs = vec![ready(Ok::<u8, ()>(1)), ready(Ok(2))];
/// let first: corral::Race<std::vec::IntoIter<Ready<Result<u8, ()>>>> = corral::race(inputs);
/// assert_eq!(first.await, Ok(corral::Winner { index: 0, value: 1 }));
/// # }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Race<I>
where
    I: Iterator,
    I::Item: Awaitable,
    <I::Item as Awaitable>::Output: IntoOutcome,
{
    set: Set<Iter<I>>,
    first: Option<Finish<I::Item>>,
}

impl<I> Race<I>
where
    I: Iterator,
    I::Item: Awaitable,
    <I::Item as Awaitable>::Output: IntoOutcome,
{
    /// Runs at most `n` inputs at once (`0` counts as `1`), pulling the next from the iterator
    /// when one finishes; or under an adaptive limit ([`Limit`]). See
    /// [`Gather::limit`](crate::Gather::limit).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let w = corral::race((0..100).map(|i| async move { Ok::<_, ()>(i) })).limit(3).await;
    /// assert_eq!(w.unwrap().index, 0);
    /// # }
    /// ```
    pub fn limit(mut self, limit: impl Into<Limit>) -> Self {
        self.set.set_limit_to(limit.into());
        self
    }

    /// Starts each input only when `limiter` gives it a slot, so inputs start at most at its
    /// rate; composes with [`limit`](Race::limit). See [`Gather::rate`](crate::Gather::rate).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use tokio::time::Instant;
    /// use corral::{Rate, RateLimiter};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shared = Arc::new(RateLimiter::new(Rate::per_second(10), 1));
    /// let start = Instant::now();
    /// // Inputs 0 to 2 fail at once; input 3 starts at 300 ms and wins.
    /// let inputs = (0..10).map(|i| async move { if i < 3 { Err(i) } else { Ok(i) } });
    /// let w = corral::any(inputs).rate(shared.clone()).await.unwrap();
    /// assert_eq!((w.index, start.elapsed()), (3, Duration::from_millis(300)));
    /// let first = corral::race([async { Ok::<_, ()>("next") }]).rate(shared).await.unwrap();
    /// assert_eq!(first.value, "next");
    /// // The shared limiter kept its pace across both: the race started at 400 ms.
    /// assert_eq!(start.elapsed(), Duration::from_millis(400));
    /// # }
    /// ```
    pub fn rate(mut self, limiter: impl Into<Arc<RateLimiter>>) -> Self {
        self.set.set_rate(limiter.into());
        self
    }
}

// Unpin whatever the inputs: nothing is structurally pinned (the set keeps its futures in heap
// segments of its own, pinned there; the other fields are plain data).
impl<I> Unpin for Race<I>
where
    I: Iterator,
    I::Item: Awaitable,
    <I::Item as Awaitable>::Output: IntoOutcome,
{
}

impl<I> Future for Race<I>
where
    I: Iterator,
    I::Item: Awaitable,
    <I::Item as Awaitable>::Output: IntoOutcome,
{
    type Output = Result<Winner<Ok_<I::Item>>, RaceError<Err_<I::Item>>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        while let Some(done) = std::task::ready!(this.set.poll_next(cx)) {
            if this.first.is_some() {
                continue; // a loser, drained
            }
            let index = done.index;
            this.first = Some(match done.outcome.into_result() {
                Ok(value) => Ok(Winner { index, value }),
                Err(failure) => Err(InputFailure { index, failure }),
            });
            this.set.stop();
        }
        Poll::Ready(match this.first.take() {
            Some(Ok(w)) => Ok(w),
            Some(Err(f)) => Err(RaceError::Failed(f)),
            None => Err(RaceError::Empty),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// any

/// Runs every input concurrently and returns the first **success**, with its position;
/// cancels and drains the others before returning. If every input fails, returns **all** the
/// failures, in input order.
///
/// Failures (errors, panics, and cancelled [`Task`](crate::Task) inputs) do not stop the
/// others. Ties go to the earlier input. Losers are cancelled and drained as in [`race`];
/// failures seen before the winner and the losers' outcomes are discarded. Use
/// [`.limit(n)`](Any::limit) to run at most `n` at a time.
///
/// asyncio has no equivalent (JavaScript's `Promise.any`, whose `AggregateError` also keeps
/// every error).
///
/// # Errors
///
/// * [`AnyError::AllFailed`] with every failure, in input order, if no input succeeded.
/// * [`AnyError::Empty`] if there were no inputs.
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
/// let after = |secs: u64, r: Result<&'static str, &'static str>| async move {
///     sleep(Duration::from_secs(secs)).await;
///     r
/// };
/// let w = corral::any([after(1, Err("down")), after(2, Ok("b")), after(3, Ok("c"))]).await;
/// assert_eq!(w.unwrap(), corral::Winner { index: 1, value: "b" });
///
/// let e = corral::any([after(2, Err("x")), after(1, Err("y"))]).await.unwrap_err();
/// assert_eq!(e.to_string(), "all 2 inputs failed: input 0: x; input 1: y");
/// # }
/// ```
pub fn any<I>(inputs: I) -> Any<I::IntoIter>
where
    I: IntoIterator,
    I::Item: Awaitable,
    <I::Item as Awaitable>::Output: IntoOutcome,
{
    Any {
        set: Set::new(Iter(inputs.into_iter())),
        winner: None,
        failures: Vec::new(),
    }
}

/// Why [`any`] found no success.
///
/// # Examples
///
/// ```
/// use std::future::ready;
/// use corral::{AnyError, Failure, InputFailure};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let e = corral::any([ready(Err::<(), _>("a")), ready(Err("b"))]).await.unwrap_err();
/// assert_eq!(
///     e.failures(),
///     &[
///         InputFailure { index: 0, failure: Failure::Error("a") },
///         InputFailure { index: 1, failure: Failure::Error("b") },
///     ]
/// );
/// assert_eq!(AnyError::<&str>::Empty.to_string(), "any over no inputs");
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnyError<E> {
    /// There were no inputs.
    Empty,
    /// Every input failed; each failure, in input order.
    AllFailed(Vec<InputFailure<E>>),
}

impl<E> AnyError<E> {
    /// Every failure, in input order (empty for [`AnyError::Empty`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::future::ready;
    /// let e = corral::any([ready(Err::<(), _>("a")), ready(Err("b"))]).await.unwrap_err();
    /// let indexes: Vec<usize> = e.failures().iter().map(|f| f.index).collect();
    /// assert_eq!(indexes, [0, 1]);
    /// assert!(corral::AnyError::<&str>::Empty.failures().is_empty());
    /// # }
    /// ```
    pub fn failures(&self) -> &[InputFailure<E>] {
        match self {
            AnyError::Empty => &[],
            AnyError::AllFailed(v) => v,
        }
    }

    /// Every failure, in input order, by value.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::future::ready;
    /// let e = corral::any([ready(Err::<(), _>("a")), ready(Err("b"))]).await.unwrap_err();
    /// let errors: Vec<_> = e.into_failures().into_iter().map(|f| f.failure).collect();
    /// assert_eq!(errors, [corral::Failure::Error("a"), corral::Failure::Error("b")]);
    /// # }
    /// ```
    pub fn into_failures(self) -> Vec<InputFailure<E>> {
        match self {
            AnyError::Empty => Vec::new(),
            AnyError::AllFailed(v) => v,
        }
    }
}

impl<E: fmt::Display> fmt::Display for AnyError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnyError::Empty => f.write_str("any over no inputs"),
            AnyError::AllFailed(v) => {
                write!(f, "all {} inputs failed: ", v.len())?;
                list(f, v)
            }
        }
    }
}

impl<E: fmt::Debug + fmt::Display + 'static> std::error::Error for AnyError<E> {
    /// The first failure in input order; [`Display`](fmt::Display) lists them all.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.failures()
            .first()
            .map(|f| &f.failure as &(dyn std::error::Error + 'static))
    }
}

/// The future returned by [`any`]; `I` is the iterator of inputs. Dropping it stops what it
/// runs (see [`any`]'s cancel safety).
///
/// # Examples
///
/// ```
/// use std::future::{ready, Ready};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let inputs = vec![ready(Err::<u8, ()>(())), ready(Ok(2))];
/// let first_ok: corral::Any<std::vec::IntoIter<Ready<Result<u8, ()>>>> = corral::any(inputs);
/// assert_eq!(first_ok.await, Ok(corral::Winner { index: 1, value: 2 }));
/// # }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Any<I>
where
    I: Iterator,
    I::Item: Awaitable,
    <I::Item as Awaitable>::Output: IntoOutcome,
{
    set: Set<Iter<I>>,
    winner: Option<Winner<Ok_<I::Item>>>,
    failures: Vec<InputFailure<Err_<I::Item>>>,
}

impl<I> Any<I>
where
    I: Iterator,
    I::Item: Awaitable,
    <I::Item as Awaitable>::Output: IntoOutcome,
{
    /// Runs at most `n` inputs at once (`0` counts as `1`), pulling the next from the iterator
    /// when one finishes; or under an adaptive limit ([`Limit`]). See
    /// [`Gather::limit`](crate::Gather::limit).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let inputs = (0..10).map(|i| async move { if i < 5 { Err(i) } else { Ok(i) } });
    /// let w = corral::any(inputs).limit(2).await.unwrap();
    /// assert_eq!(w.index, 5);
    /// # }
    /// ```
    pub fn limit(mut self, limit: impl Into<Limit>) -> Self {
        self.set.set_limit_to(limit.into());
        self
    }

    /// Starts each input only when `limiter` gives it a slot, so inputs start at most at its
    /// rate; composes with [`limit`](Any::limit). See [`Gather::rate`](crate::Gather::rate).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use tokio::time::Instant;
    /// use corral::{Rate, RateLimiter};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shared = Arc::new(RateLimiter::new(Rate::per_second(10), 1));
    /// let start = Instant::now();
    /// // Inputs 0 to 2 fail at once; input 3 starts at 300 ms and wins.
    /// let inputs = (0..10).map(|i| async move { if i < 3 { Err(i) } else { Ok(i) } });
    /// let w = corral::any(inputs).rate(shared.clone()).await.unwrap();
    /// assert_eq!((w.index, start.elapsed()), (3, Duration::from_millis(300)));
    /// let first = corral::race([async { Ok::<_, ()>("next") }]).rate(shared).await.unwrap();
    /// assert_eq!(first.value, "next");
    /// // The shared limiter kept its pace across both: the race started at 400 ms.
    /// assert_eq!(start.elapsed(), Duration::from_millis(400));
    /// # }
    /// ```
    pub fn rate(mut self, limiter: impl Into<Arc<RateLimiter>>) -> Self {
        self.set.set_rate(limiter.into());
        self
    }
}

// Unpin whatever the inputs: nothing is structurally pinned (the set keeps its futures in heap
// segments of its own, pinned there; the other fields are plain data).
impl<I> Unpin for Any<I>
where
    I: Iterator,
    I::Item: Awaitable,
    <I::Item as Awaitable>::Output: IntoOutcome,
{
}

impl<I> Future for Any<I>
where
    I: Iterator,
    I::Item: Awaitable,
    <I::Item as Awaitable>::Output: IntoOutcome,
{
    type Output = Result<Winner<Ok_<I::Item>>, AnyError<Err_<I::Item>>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        while let Some(done) = std::task::ready!(this.set.poll_next(cx)) {
            if this.winner.is_some() {
                continue; // a loser, drained
            }
            let index = done.index;
            match done.outcome.into_result() {
                Ok(value) => {
                    this.winner = Some(Winner { index, value });
                    this.failures = Vec::new();
                    this.set.stop();
                }
                Err(failure) => this.failures.push(InputFailure { index, failure }),
            }
        }
        Poll::Ready(match this.winner.take() {
            Some(w) => Ok(w),
            None if this.failures.is_empty() => Err(AnyError::Empty),
            None => {
                let mut failures = std::mem::take(&mut this.failures);
                failures.sort_by_key(|f| f.index);
                Err(AnyError::AllFailed(failures))
            }
        })
    }
}

macro_rules! debug_remaining {
    ($name:ident) => {
        impl<I> fmt::Debug for $name<I>
        where
            I: Iterator,
            I::Item: Awaitable,
            <I::Item as Awaitable>::Output: IntoOutcome,
        {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("remaining", &self.set.remaining())
                    .finish_non_exhaustive()
            }
        }
    };
}

debug_remaining!(Race);
debug_remaining!(Any);
