//! [`wait_for`]: wait for one awaitable for at most a duration, on the deadline engine of
//! [`timeout`](crate::timeout) (see that module for how an expiry stops the body).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::awaitable::Awaitable;
use crate::timeout::{instant_after, Body, Core, Deadline, Elapsed};

pin_project_lite::pin_project! {
    /// The future returned by [`wait_for`]: `Ok(output)` or `Err(`[`Elapsed`]`)`.
    ///
    /// # Cancel safety
    ///
    /// Dropping it drops what it waits for: a plain future is dropped at its suspension
    /// point, a task handed over by value is aborted (a `&mut Task` is left alone, and keeps
    /// its outcome until `wait_for` returns it).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio::time::{sleep, Instant};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let start = Instant::now();
    /// let task = corral::spawn(async {
    ///     sleep(Duration::from_secs(1)).await;
    ///     Ok::<u8, ()>(7)
    /// });
    /// let waiting: corral::WaitFor<corral::Task<u8, ()>> =
    ///     corral::wait_for(Duration::from_secs(5), task);
    /// assert_eq!(waiting.await, Ok(corral::Outcome::Ok(7)));
    /// assert_eq!(start.elapsed(), Duration::from_secs(1));
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct WaitFor<A: Awaitable> {
        #[pin]
        core: Core<A::Future>,
        // A zero timeout not polled yet: a task that has finished by the first poll gives its
        // outcome then (taking it only then, so that dropping this unpolled leaves it alone).
        ready_first: bool,
    }
}

impl<A: Awaitable> WaitFor<A> {
    /// How long a plain future that listens for the timeout may keep running after it is
    /// delivered (see [`Timeout::grace`](crate::Timeout::grace)). A task keeps its own grace period
    /// ([`Builder::grace`](crate::Builder::grace)). Default:
    /// [`DEFAULT_GRACE`](crate::DEFAULT_GRACE).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let r = corral::wait_for(Duration::from_millis(10), async {
    ///     let _req = corral::cancelled().await;
    ///     std::future::pending::<()>().await
    /// })
    /// .grace(Duration::from_millis(20))
    /// .await;
    /// assert!(r.is_err());
    /// # }
    /// ```
    pub fn grace(mut self, grace: Duration) -> Self {
        self.core.grace = grace;
        self
    }
}

impl<A: Awaitable> Future for WaitFor<A> {
    type Output = Result<A::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if std::mem::take(this.ready_first) {
            if let Some(out) = this.core.as_mut().take_ready(A::ready_output_of) {
                return Poll::Ready(Ok(out));
            }
        }
        this.core.poll(cx).map(|r| match r {
            // A task that stopped when asked to: the timeout is what ended it.
            Ok((out, true)) if A::is_cancelled(&out) => Err(Elapsed::new()),
            Ok((out, _)) => Ok(out),
            Err(e) => Err(e),
        })
    }
}

impl<A: Awaitable> fmt::Debug for WaitFor<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitFor")
            .field("deadline", &self.core.exit.0)
            .finish_non_exhaustive()
    }
}

/// Waits for `awaitable` for at most `d`: `Ok(output)`, or `Err(Elapsed)` if it was stopped
/// by the timeout.
///
/// `d` is a [`Duration`] or an `Option<Duration>`. `None` waits as long as it takes (a plain
/// await). Rust durations are never negative; asyncio's negative timeouts are
/// `Duration::ZERO` here.
///
/// * **A plain future** is polled in place, in the caller's task (nothing is spawned), exactly
///   as by [`timeout`](crate::timeout()): at the deadline it is dropped, or, if it listens with
///   [`cancelled()`](crate::cancelled), handed the request and given the grace period, and
///   what it then returns wins. **With a zero timeout it is never polled at all**: the result
///   is `Err(Elapsed)` at once.
/// * **A task** ([`Task`](crate::Task) or `&mut Task`) runs elsewhere. At the deadline it is
///   asked to stop ([`Task::cancel`](crate::Task::cancel)), and `wait_for` waits until it has
///   stopped (within the task's own grace period). If it ends cancelled, the result is
///   `Err(Elapsed)`; if it ends with its own value, error or panic, that outcome wins:
///   `Ok(outcome)`. **With a zero timeout, a task that has already finished gives its outcome**
///   (finished when the returned future is first polled, as asyncio checks when `wait_for`
///   runs); one that has not is asked to stop at once.
///
/// asyncio: `asyncio.wait_for(aw, timeout)`.
///
/// # Cancel safety
///
/// Dropping the returned future drops what it waits for (a task given by value is aborted).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tokio::time::sleep;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// // A task that is too slow is stopped, and wait_for reports the timeout.
/// let mut slow = corral::spawn(async {
///     sleep(Duration::from_secs(3600)).await;
///     Ok::<_, ()>("done")
/// });
/// assert!(corral::wait_for(Duration::from_millis(100), &mut slow).await.is_err());
/// assert!(slow.is_finished());
///
/// // A zero timeout never starts a plain future...
/// let r = corral::wait_for(Duration::ZERO, async { unreachable!() }).await;
/// assert!(r.is_err());
///
/// // ...but returns a finished task's outcome.
/// let done = corral::spawn(async { Ok::<_, ()>(7) });
/// tokio::task::yield_now().await;
/// assert_eq!(corral::wait_for(Duration::ZERO, done).await.unwrap().unwrap(), 7);
/// # }
/// ```
pub fn wait_for<A: Awaitable>(d: impl Into<Option<Duration>>, awaitable: A) -> WaitFor<A> {
    let d = d.into();
    let zero = d.is_some_and(|d| d.is_zero());
    let fut = awaitable.into_awaitable();
    let mut core = Core::new(Body::Running { fut }, Deadline::new(instant_after(d)));
    core.request_stop = A::request_stop;
    core.expire_first = zero;
    WaitFor {
        core,
        ready_first: zero,
    }
}
