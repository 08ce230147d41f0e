//! Deadlines: [`timeout`], [`timeout_at`], the [`Deadline`] handle, the [`Elapsed`] error, and
//! the deadline engine ([`Core`]) that [`wait_for`](crate::wait_for) shares.
//!
//! A timeout is a *deadline scope*: the body is polled in place, in the caller's task, inside a
//! cancel scope of its own (see [`cancel`](crate::cancel)). When the deadline passes, the scope
//! is asked to stop, exactly as a task is by [`Task::cancel`](crate::Task::cancel):
//!
//! * a body nobody listens in is dropped at once (its destructors run before the timeout
//!   returns) and the timeout returns `Err(Elapsed)`;
//! * a body that listens with [`cancelled()`](crate::cancelled) is handed the request and keeps
//!   running for up to the grace period. Whatever it then returns wins (a value, or an error
//!   inside the value); if it hands the request back ([`CancelRequest::propagate`]) or the
//!   grace period runs out, the timeout returns `Err(Elapsed)`.
//!
//! Nested scopes report like asyncio's: when an outer scope expires together with (or before)
//! an inner one, only the outermost expired scope returns `Err(Elapsed)`; the inner ones let
//! the cancellation pass.
//!
//! One concern a file:
//!
//! * `mod.rs`: the [`Elapsed`] error, the [`Timeout`] future, and the functions that make it.
//! * `deadline`: the [`Deadline`] handle on a scope's deadline and phase, and
//!   [`RescheduleError`].
//! * `engine`: [`Core`], which polls a body inside its cancel scope against the deadline;
//!   [`Timeout`] and [`WaitFor`](crate::WaitFor) both run on it.
//!
//! [`CancelRequest::propagate`]: crate::CancelRequest::propagate

mod deadline;
mod engine;

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

pub use deadline::{Deadline, RescheduleError};
pub(crate) use engine::{instant_after, Body, Core};

/// The error of a deadline that passed before the work finished.
///
/// asyncio: `TimeoutError`.
///
/// # Examples
///
/// ```
/// let e = corral::Elapsed::new();
/// assert_eq!(e.to_string(), "deadline has elapsed");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Elapsed(());

impl fmt::Debug for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Elapsed")
    }
}

impl Elapsed {
    /// The error value (for adapters and tests): equal to the one every timeout returns.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let r = corral::timeout(Duration::from_secs(1), std::future::pending::<()>()).await;
    /// assert_eq!(r, Err(corral::Elapsed::new()));
    /// # }
    /// ```
    pub fn new() -> Self {
        Elapsed(())
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

pin_project_lite::pin_project! {
    /// A deadline scope around a future: what [`timeout`], [`timeout_at`], [`timeout_with`] and
    /// [`timeout_at_with`] return. It outputs `Ok(output)` or `Err(`[`Elapsed`]`)`.
    ///
    /// The body is polled in place, in the caller's task, inside a cancel scope of its own.
    /// It is polled before the deadline is looked at, so a body that finishes without
    /// suspending never times out, even with a zero deadline. When the deadline passes:
    ///
    /// * if nothing in the body listens ([`cancelled()`](crate::cancelled)), the body is
    ///   dropped at once, its destructors run, and the scope returns `Err(Elapsed)`;
    /// * if something listens, the request is delivered to it and the body keeps running for
    ///   up to the [grace period](Timeout::grace). What the body then returns wins: `Ok` with
    ///   its value (an error inside that value passes through unchanged). If the body hands the
    ///   request back ([`CancelRequest::propagate`](crate::CancelRequest::propagate)) or the
    ///   grace period runs out, the body is dropped and the scope returns `Err(Elapsed)`.
    ///
    /// In nested scopes, only the outermost scope whose deadline has passed returns
    /// `Err(Elapsed)`; an inner scope that expires at the same time lets the cancellation pass
    /// (its [`Deadline::expired`] is still true). A cancellation from outside (the enclosing
    /// task is cancelled) is never turned into `Elapsed`.
    ///
    /// Dropping it drops the body: nothing keeps running.
    ///
    /// asyncio: `async with asyncio.timeout(d):` / `asyncio.timeout_at(when)`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the scope drops the body at its current suspension point; the scope then counts
    /// as ended ([`Deadline::reschedule`] returns an error).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio::time::sleep;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// // Nobody listens: dropped at the deadline.
    /// let r = corral::timeout(Duration::from_millis(10), sleep(Duration::from_secs(10))).await;
    /// assert_eq!(r, Err(corral::Elapsed::new()));
    ///
    /// // The body listens, cleans up, and returns its own value.
    /// let r = corral::timeout(Duration::from_millis(10), async {
    ///     tokio::select! {
    ///         _ = corral::cancelled() => {
    ///             sleep(Duration::from_millis(5)).await; // asynchronous cleanup
    ///             "partial"
    ///         }
    ///         _ = sleep(Duration::from_secs(10)) => "complete",
    ///     }
    /// })
    /// .grace(Duration::from_secs(1))
    /// .await;
    /// assert_eq!(r, Ok("partial"));
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct Timeout<F> {
        #[pin]
        core: Core<F>,
    }
}

impl<F> Timeout<F> {
    fn new(fut: F, when: Option<Instant>) -> Self {
        Timeout {
            core: Core::new(Body::Running { fut }, Deadline::new(when)),
        }
    }

    /// A handle on this scope's deadline, for use after (or while) awaiting it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let scope = corral::timeout(Duration::ZERO, tokio::task::yield_now());
    /// let deadline = scope.deadline();
    /// assert!(scope.await.is_err()); // fires at the first suspension point
    /// assert!(deadline.expired());
    /// # }
    /// ```
    pub fn deadline(&self) -> Deadline {
        self.core.exit.0.clone()
    }

    /// How long a body that listens for the expiry may keep running after it is delivered,
    /// before it is dropped. Default: [`DEFAULT_GRACE`](crate::DEFAULT_GRACE).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio::time::{sleep, Instant};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let start = Instant::now();
    /// let r = corral::timeout(Duration::from_millis(10), async {
    ///     let _request = corral::cancelled().await;
    ///     sleep(Duration::from_secs(60)).await; // a cleanup that takes too long
    /// })
    /// .grace(Duration::from_millis(100))
    /// .await;
    /// assert!(r.is_err());
    /// assert_eq!(start.elapsed(), Duration::from_millis(110));
    /// # }
    /// ```
    pub fn grace(mut self, grace: Duration) -> Self {
        self.core.grace = grace;
        self
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().core.poll(cx).map(|r| r.map(|(out, _)| out))
    }
}

impl<F> fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("deadline", &self.core.exit.0)
            .field("grace", &self.core.grace)
            .finish_non_exhaustive()
    }
}

/// Runs `fut` in place with a deadline `d` from now: `Ok(output)`, or `Err(Elapsed)` if the
/// deadline passed first. `d` is a [`Duration`] or an `Option<Duration>`; `None` never
/// expires. A zero deadline fires at the body's first suspension point, never in a body that
/// finishes without suspending. See [`Timeout`] for what happens at the deadline.
///
/// asyncio: `async with asyncio.timeout(d): ...`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tokio::time::sleep;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let fast = corral::timeout(Duration::from_secs(1), async { 42 }).await;
/// assert_eq!(fast, Ok(42));
/// let slow = corral::timeout(Duration::from_secs(1), sleep(Duration::from_secs(2))).await;
/// assert!(slow.is_err());
/// let never = corral::timeout(None, sleep(Duration::from_secs(100))).await;
/// assert!(never.is_ok());
/// # }
/// ```
pub fn timeout<F: IntoFuture>(d: impl Into<Option<Duration>>, fut: F) -> Timeout<F::IntoFuture> {
    Timeout::new(fut.into_future(), instant_after(d.into()))
}

/// Runs `fut` in place with a deadline at `when` (`None`: never): `Ok(output)`, or
/// `Err(Elapsed)`. A deadline already in the past fires at the body's first suspension point.
/// See [`Timeout`].
///
/// asyncio: `async with asyncio.timeout_at(when): ...`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tokio::time::{sleep, Instant};
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let at = Instant::now() + Duration::from_millis(10);
/// let scope = corral::timeout_at(at, sleep(Duration::from_secs(10)));
/// assert_eq!(scope.deadline().when(), Some(at));
/// assert!(scope.await.is_err());
/// assert_eq!(Instant::now(), at);
/// # }
/// ```
pub fn timeout_at<F: IntoFuture>(
    when: impl Into<Option<Instant>>,
    fut: F,
) -> Timeout<F::IntoFuture> {
    Timeout::new(fut.into_future(), when.into())
}

/// Like [`timeout`], for a body that needs its own [`Deadline`]: `body` is called at once with
/// the handle and returns the future to run (typically an `async move` block that captures it).
///
/// asyncio: `async with asyncio.timeout(d) as cm: ... cm.reschedule(...)`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tokio::time::sleep;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let r = corral::timeout_with(Duration::from_millis(10), |deadline| async move {
///     deadline.reschedule(None).unwrap(); // this one may take as long as it needs
///     sleep(Duration::from_secs(100)).await;
///     "done"
/// })
/// .await;
/// assert_eq!(r, Ok("done"));
/// # }
/// ```
pub fn timeout_with<F, B>(d: impl Into<Option<Duration>>, body: B) -> Timeout<F>
where
    F: Future,
    B: FnOnce(Deadline) -> F,
{
    with_deadline(instant_after(d.into()), body)
}

/// Like [`timeout_at`], for a body that needs its own [`Deadline`]; see [`timeout_with`].
///
/// asyncio: `async with asyncio.timeout_at(when) as cm: ...`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tokio::time::{sleep, Instant};
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let at = Instant::now() + Duration::from_secs(1);
/// let r = corral::timeout_at_with(at, |deadline| async move {
///     assert_eq!(deadline.when(), Some(at));
///     sleep(Duration::from_secs(2)).await;
/// })
/// .await;
/// assert!(r.is_err());
/// # }
/// ```
pub fn timeout_at_with<F, B>(when: impl Into<Option<Instant>>, body: B) -> Timeout<F>
where
    F: Future,
    B: FnOnce(Deadline) -> F,
{
    with_deadline(when.into(), body)
}

fn with_deadline<F, B>(when: Option<Instant>, body: B) -> Timeout<F>
where
    B: FnOnce(Deadline) -> F,
{
    let deadline = Deadline::new(when);
    let fut = body(deadline.clone());
    Timeout {
        core: Core::new(Body::Running { fut }, deadline),
    }
}

/// The deadline that code polled here must finish by: the earliest deadline of the
/// [`timeout`] scopes around the caller (up to its task's root), or `None` if there is none.
/// Crate-internal: policies read it ([`retry`](crate::retry) does not sleep past it).
#[inline]
pub(crate) fn current_deadline() -> Option<Instant> {
    crate::rt::current_deadline()
}
