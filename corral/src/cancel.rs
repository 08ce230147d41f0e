//! Listening for a request to stop: [`cancelled()`], [`is_cancel_requested`],
//! [`CancelRequest`] and [`CancelListener`]. The story they belong to (cancel scopes, requests,
//! the grace period) is told once, in the crate docs' "Cancellation" section.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio_util::sync::WaitForCancellationFutureOwned;

use crate::outcome::Cancelled;
use crate::rt::{current, Scope};

pub use crate::rt::scope::DEFAULT_GRACE;

/// Listens for a request to stop the code that calls it: the enclosing corral task, or the
/// innermost [`timeout`](crate::timeout) scope around it, or anything those are nested in.
///
/// While the returned future is alive, a request to stop is *delivered* to it instead of
/// dropping the body at once: the future resolves with a [`CancelRequest`], and the body may
/// clean up (even with `.await`s) for up to the grace period, then return a value, an error,
/// or the cancellation ([`CancelRequest::propagate`]). Outside any corral task or scope it
/// never resolves. Each request is delivered once: a listener made after the request was
/// delivered to an earlier one does not resolve for it.
///
/// asyncio: `except asyncio.CancelledError:` around the code that should clean up.
///
/// # Cancel safety
///
/// Dropping it before it resolves just stops listening. Once it has resolved, the request
/// counts as handled: dropping the [`CancelRequest`] means the body carries on.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let task = corral::spawn(async {
///     tokio::select! {
///         req = corral::cancelled() => {
///             // Asynchronous cleanup runs before the task ends.
///             tokio::time::sleep(Duration::from_millis(10)).await;
///             Err(format!("stopped: {req:?}"))
///         }
///         _ = tokio::time::sleep(Duration::from_secs(3600)) => Ok(1),
///     }
/// });
/// tokio::task::yield_now().await;
/// task.cancel();
/// assert_eq!(task.await.err().unwrap(), "stopped: CancelRequest(None)");
/// # }
/// ```
pub fn cancelled() -> CancelListener {
    // One request, one delivery: once a request has been handed to a listener, a listener
    // made afterwards (e.g. by a loop that goes round again) does not see it a second time.
    let scope = current().filter(|s| !s.request_delivered());
    let wait = scope.as_ref().map(|s| {
        s.add_listener();
        s.token().cancelled_owned()
    });
    CancelListener {
        scope,
        wait: wait.map(Box::pin),
    }
}

/// True if the code that calls it is in a corral task or scope that has been asked to stop
/// (including requests already delivered). For loops that do not `.await`.
///
/// asyncio: `current_task().cancelling() > 0`.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert!(!corral::is_cancel_requested()); // not inside a corral task
/// let t = corral::spawn(async { Ok::<bool, ()>(corral::is_cancel_requested()) });
/// assert_eq!(t.await.unwrap(), false);
/// # }
/// ```
pub fn is_cancel_requested() -> bool {
    current().is_some_and(|s| s.chain_requested())
}

/// The future returned by [`cancelled()`]: resolves when the enclosing task or scope is asked
/// to stop. While it is alive, the body gets a grace period instead of being dropped.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let t = corral::spawn(async {
///     let listener: corral::CancelListener = corral::cancelled();
///     let _request = listener.await; // the request arrives here instead of dropping the body
///     Ok::<&str, ()>("cleaned up")
/// });
/// tokio::task::yield_now().await;
/// t.cancel();
/// assert_eq!(t.await.unwrap(), "cleaned up");
/// # }
/// ```
#[must_use = "a listener does nothing unless polled, and only counts while alive"]
pub struct CancelListener {
    scope: Option<Arc<Scope>>,
    wait: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
}

impl CancelListener {
    /// False if it can never resolve: made outside any corral task or scope, or in cleanup
    /// code (the request around it was delivered already).
    pub(crate) fn listens(&self) -> bool {
        self.scope.is_some()
    }
}

impl std::fmt::Debug for CancelListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelListener").finish_non_exhaustive()
    }
}

impl Future for CancelListener {
    type Output = CancelRequest;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<CancelRequest> {
        let Some(wait) = self.wait.as_mut() else {
            return Poll::Pending;
        };
        if wait.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        let scope = self
            .scope
            .take()
            .expect("listener polled after it resolved");
        self.wait = None;
        let why = scope.deliver();
        scope.remove_listener();
        Poll::Ready(CancelRequest {
            why: why.unwrap_or_default(),
            scope,
        })
    }
}

impl Drop for CancelListener {
    fn drop(&mut self) {
        if let Some(scope) = self.scope.take() {
            scope.remove_listener();
        }
    }
}

/// A delivered request to stop, handed to the code that listened with [`cancelled()`].
///
/// Dropping it means "handled": the body goes on and its result stands. To end as cancelled
/// after cleaning up, call [`propagate`](CancelRequest::propagate).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let t = corral::spawn(async {
///     let request: corral::CancelRequest = corral::cancelled().await;
///     // ... async cleanup here ...
///     request.propagate::<Result<(), ()>>().await // end as cancelled
/// });
/// tokio::task::yield_now().await;
/// t.cancel();
/// assert!(t.await.is_cancelled());
/// # }
/// ```
pub struct CancelRequest {
    why: Cancelled,
    scope: Arc<Scope>,
}

impl std::fmt::Debug for CancelRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CancelRequest")
            .field(&self.why.message())
            .finish()
    }
}

impl CancelRequest {
    /// The cancellation, with its message if one was given.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let t = corral::spawn(async {
    ///     let request = corral::cancelled().await;
    ///     Ok::<String, ()>(request.reason().message().unwrap_or("").to_string())
    /// });
    /// tokio::task::yield_now().await;
    /// t.cancel_with("deploy");
    /// assert_eq!(t.await.unwrap(), "deploy");
    /// # }
    /// ```
    pub fn reason(&self) -> &Cancelled {
        &self.why
    }

    /// Hands the cancellation back: the scope that asked ends as cancelled (a task's outcome
    /// becomes [`Outcome::Cancelled`](crate::Outcome), a timeout reports that it expired). The
    /// returned future never resolves; the body is dropped as soon as its owner sees it.
    ///
    /// asyncio: re-raising `CancelledError` after cleanup.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let task = corral::spawn(async {
    ///     let req = corral::cancelled().await;
    ///     // ... cleanup ...
    ///     req.propagate::<Result<(), ()>>().await
    /// });
    /// tokio::task::yield_now().await;
    /// task.cancel();
    /// assert!(task.await.is_cancelled());
    /// # }
    /// ```
    #[must_use = "`propagate` does nothing until awaited: `return req.propagate().await`"]
    pub async fn propagate<T>(self) -> T {
        self.scope.propagate();
        std::future::pending().await
    }
}
