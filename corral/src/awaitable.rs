//! [`Awaitable`]: what every combinator takes. Any `Future`, polled in place, and a [`Task`]
//! handle (by value or `&mut`), whose outcome is polled and which can be asked to stop.

use std::future::Future;
use std::pin::Pin;

use crate::outcome::Outcome;
use crate::task::{Join, Task, TaskFuture};

#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be awaited by corral's combinators",
    label = "not a future whose output is a `Result`, nor a corral task handle",
    note = "pass futures that return `Result<T, E>` (wrap others in `corral::infallible`), or `corral::Task` handles from `corral::spawn`"
)]
/// Anything a corral combinator can wait for: any `Future` (polled in place, in the caller's
/// task), and a [`Task`] handle (the work runs elsewhere; the combinator waits for its outcome).
///
/// The difference matters in three places, and this trait is how combinators tell:
/// a zero timeout never polls a plain future but does read a finished task's outcome
/// ([`wait_for`](crate::wait_for)); a task is asked to stop gracefully rather than dropped;
/// and a task's `Cancelled` outcome is recognised as a cancellation.
///
/// You do not implement this; it is implemented for every `Future` and for `Task` (owned or
/// `&mut`).
///
/// asyncio: an "awaitable" (coroutine, Task or Future).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // Plain futures and task handles both go into corral's combinators.
/// let in_place = corral::gather((1..=2u8).map(|i| async move { Ok::<u8, ()>(i) })).await;
/// let spawned = corral::gather([corral::spawn(async { Ok::<u8, ()>(1) })]).await;
/// assert_eq!(in_place.unwrap(), vec![1, 2]);
/// assert_eq!(spawned.unwrap(), vec![1]);
/// # }
/// ```
pub trait Awaitable: Sized {
    /// What waiting produces.
    type Output;
    /// The future that waits.
    type Future: Future<Output = Self::Output>;

    /// Starts waiting.
    fn into_awaitable(self) -> Self::Future;

    /// The output, if it is available without running any of the caller's code (a finished
    /// task). Plain futures return `None`: polling them would start them.
    #[doc(hidden)]
    fn ready_output(&mut self) -> Option<Self::Output> {
        None
    }

    /// The output of the work behind `fut`, taken, if it is available without running any of
    /// the caller's code (a finished task); plain futures return `None`. For combinators that
    /// decide only when first polled ([`wait_for`](crate::wait_for) with a zero timeout).
    #[doc(hidden)]
    fn ready_output_of(_fut: Pin<&mut Self::Future>) -> Option<Self::Output> {
        None
    }

    /// Asks the work behind `fut` to stop gracefully. Returns false if the only way to stop it
    /// is to drop `fut` (plain futures).
    #[doc(hidden)]
    fn request_stop(_fut: Pin<&mut Self::Future>) -> bool {
        false
    }

    /// True if `out` says the work was cancelled.
    #[doc(hidden)]
    fn is_cancelled(_out: &Self::Output) -> bool {
        false
    }
}

impl<F: Future> Awaitable for F {
    type Output = F::Output;
    type Future = F;
    #[inline]
    fn into_awaitable(self) -> F {
        self
    }
}

impl<T, E> Awaitable for Task<T, E> {
    type Output = Outcome<T, E>;
    type Future = TaskFuture<T, E>;

    fn into_awaitable(self) -> TaskFuture<T, E> {
        TaskFuture { task: self }
    }

    fn ready_output(&mut self) -> Option<Outcome<T, E>> {
        self.try_outcome()
    }

    fn ready_output_of(fut: Pin<&mut TaskFuture<T, E>>) -> Option<Outcome<T, E>> {
        fut.get_mut().task.try_outcome()
    }

    fn request_stop(fut: Pin<&mut TaskFuture<T, E>>) -> bool {
        fut.task.cancel();
        true
    }

    fn is_cancelled(out: &Outcome<T, E>) -> bool {
        out.is_cancelled()
    }
}

impl<'a, T, E> Awaitable for &'a mut Task<T, E> {
    type Output = Outcome<T, E>;
    type Future = Join<'a, T, E>;

    fn into_awaitable(self) -> Join<'a, T, E> {
        self.join()
    }

    fn ready_output(&mut self) -> Option<Outcome<T, E>> {
        self.try_outcome()
    }

    fn ready_output_of(fut: Pin<&mut Join<'a, T, E>>) -> Option<Outcome<T, E>> {
        fut.get_mut().task.try_outcome()
    }

    fn request_stop(fut: Pin<&mut Join<'a, T, E>>) -> bool {
        fut.task.cancel();
        true
    }

    fn is_cancelled(out: &Outcome<T, E>) -> bool {
        out.is_cancelled()
    }
}
