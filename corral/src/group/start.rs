//! [`Spawner::start`]: spawn a child and wait until it says it is ready (Trio's
//! `nursery.start`), with the [`TaskStatus`] it says so with and the [`StartError`] of a child
//! that ended first.
//!
//! As in Trio, a child belongs to its starter until it signals: an error or a panic before
//! then is handed to the caller of `start` (who may handle it, or return it and so fail the
//! group), not to the group. From the signal on, it is an ordinary child.

use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::sync::oneshot;

use crate::outcome::{Cancelled, IntoOutcome, Outcome, Panic};

use super::child::Child;
use super::error::SpawnError;
use super::spawner::Spawner;

/// What a started child sends its starter: its ready value, or how it ended before that.
enum Signal<V, T, E> {
    Started(V),
    Ended(Outcome<T, E>),
}

type Line<V, T, E> = Arc<Mutex<Option<oneshot::Sender<Signal<V, T, E>>>>>;

/// Takes the sender off the line, if nobody has yet: whoever takes it speaks.
fn take<V, T, E>(line: &Line<V, T, E>) -> Option<oneshot::Sender<Signal<V, T, E>>> {
    // Only `take` touches the lock: a poisoned lock holds a usable `Option`.
    line.lock().unwrap_or_else(|e| e.into_inner()).take()
}

/// How a child started with [`Spawner::start`] says that it is ready: call
/// [`started`](TaskStatus::started) with the value `start` should return (the port a server
/// bound, a handle to it), then keep running.
///
/// A child that drops it without calling `started` and runs on keeps `start` waiting until
/// it ends; then `start` returns [`StartError::Ended`].
///
/// Trio: the `task_status` argument, and `task_status.started(value)`.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// corral::TaskGroup::new()
///     .run(|g| async move {
///         let port = g
///             .start(|status: corral::TaskStatus<u16>| async move {
///                 status.started(8080);
///                 Ok::<(), ()>(()) // serve until cancelled
///             })
///             .await
///             .unwrap()
///             .0;
///         assert_eq!(port, 8080);
///         Ok::<(), ()>(())
///     })
///     .await
///     .unwrap();
/// # }
/// ```
pub struct TaskStatus<V> {
    signal: Box<dyn FnOnce(V) + Send>,
}

impl<V> TaskStatus<V> {
    /// Says the child is ready, with `value`: the `start` that spawned it returns it, while
    /// the child goes on running in the group. If `start` has gone away meanwhile (it was
    /// cancelled), the value is dropped.
    ///
    /// Trio: `task_status.started(value)`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         let (ready, _child) = g
    ///             .start(|status| async move {
    ///                 status.started("listening");
    ///                 Ok::<_, ()>(())
    ///             })
    ///             .await
    ///             .unwrap();
    ///         assert_eq!(ready, "listening");
    ///         Ok::<(), ()>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn started(self, value: V) {
        (self.signal)(value);
    }
}

impl<V> fmt::Debug for TaskStatus<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskStatus").finish_non_exhaustive()
    }
}

/// Why [`Spawner::start`] returned no ready value: the group refused the child, or the child
/// ended before it signalled, with its outcome. An error or a panic before the signal is the
/// starter's, by value, and not the group's: return it to fail the group, or handle it.
///
/// Trio: the child's own exception, raised from `nursery.start`, or the `RuntimeError`
/// "child exited without calling task_status.started()".
///
/// # Examples
///
/// ```
/// use corral::{Outcome, StartError, TaskStatus};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let v = corral::TaskGroup::new()
///     .run(|g| async move {
///         let e = g
///             .start(|_status: TaskStatus<u16>| async { Err::<(), _>("address in use") })
///             .await
///             .unwrap_err();
///         assert!(matches!(e, StartError::Ended(Outcome::Err("address in use"))));
///         // Handled: the group goes on.
///         Ok::<_, &str>("fallback")
///     })
///     .await
///     .unwrap();
/// assert_eq!(v, "fallback");
/// # }
/// ```
#[derive(Debug)]
pub enum StartError<T, E> {
    /// The group refused to spawn the child (it is shutting down or finished).
    Refused(SpawnError),
    /// The child ended without signalling that it started: it returned (the value is here),
    /// failed (the error is here, not in the group's error), panicked, or was cancelled.
    Ended(Outcome<T, E>),
}

impl<T, E: fmt::Display> fmt::Display for StartError<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Refused(e) => e.fmt(f),
            StartError::Ended(Outcome::Ok(_)) => {
                f.write_str("the child returned without signalling that it started")
            }
            StartError::Ended(Outcome::Err(e)) => write!(f, "the child failed to start: {e}"),
            StartError::Ended(Outcome::Panicked(p)) => {
                write!(f, "the child {p} before it started")
            }
            StartError::Ended(Outcome::Cancelled(c)) => {
                write!(f, "the child was {c} before it started")
            }
        }
    }
}

impl<T: fmt::Debug, E: fmt::Debug + fmt::Display> std::error::Error for StartError<T, E> {}

pin_project_lite::pin_project! {
    /// A started child's future: catches a panic, and until the child has signalled, sends
    /// its end to the starter and ends cancelled in the group (not a failure).
    struct Starting<F, V, T, E> {
        #[pin]
        fut: F,
        line: Line<V, T, E>,
    }
}

impl<F, V, T, E> Future for Starting<F, V, T, E>
where
    F: Future,
    F::Output: IntoOutcome<Ok = T, Err = E>,
{
    type Output = Outcome<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome<T, E>> {
        let this = self.project();
        let out = match catch_unwind(AssertUnwindSafe(|| this.fut.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(out)) => out.into_outcome(),
            Err(payload) => Outcome::Panicked(Panic::from_payload(&*payload)),
        };
        Poll::Ready(match take(this.line) {
            None => out, // it signalled: an ordinary child's end
            Some(tx) => {
                let _ = tx.send(Signal::Ended(out));
                Outcome::Cancelled(Cancelled::with_message(
                    "ended before it started; its outcome went to start",
                ))
            }
        })
    }
}

impl<E: Send + 'static> Spawner<E> {
    /// Spawns the child `task` returns and waits until it signals that it is ready: returns
    /// the value it passed to [`TaskStatus::started`], and its handle, while it keeps running
    /// in the group. Use it for a child the body needs ready before it goes on (a server
    /// bound to its port).
    ///
    /// The child runs as a child of the group from the start (the group waits for it, and a
    /// cancelled group cancels it), but, as in Trio, it answers to its starter until it
    /// signals: an error or a panic before the signal is returned by `start`, by value, and is
    /// not a failure of the group (the child's handle would report it cancelled). Return it
    /// from the body to fail the group, or handle it. From the signal on, the child is an
    /// ordinary child: its failure is the group's (siblings and body cancelled, the error kept
    /// in the group's error).
    ///
    /// Trio: `await nursery.start(fn)`.
    ///
    /// # Errors
    ///
    /// * [`StartError::Refused`] if the group is shutting down or finished, as for
    ///   [`spawn`](Spawner::spawn).
    /// * [`StartError::Ended`] if the child ended before it signalled, with its outcome: the
    ///   value it returned, its error, its panic, or its cancellation.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future stops only the waiting: the child goes on in the group, and its
    /// signal is dropped.
    ///
    /// # Panics
    ///
    /// Panics if called outside a tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio::time::sleep;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let served = corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         let (port, server) = g
    ///             .start(|status| async move {
    ///                 sleep(Duration::from_millis(50)).await; // binding
    ///                 status.started(8080u16);
    ///                 sleep(Duration::from_secs(3600)).await; // serving
    ///                 Ok::<_, String>(())
    ///             })
    ///             .await
    ///             .map_err(|e| e.to_string())?;
    ///         assert!(!server.is_finished()); // still serving
    ///         server.cancel(); // done with it
    ///         Ok::<_, String>(port)
    ///     })
    ///     .await
    ///     .unwrap();
    /// assert_eq!(served, 8080);
    /// # }
    /// ```
    pub async fn start<V, F, Fut, T>(&self, task: F) -> Result<(V, Child<T>), StartError<T, E>>
    where
        F: FnOnce(TaskStatus<V>) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: IntoOutcome<Ok = T, Err = E>,
        T: Send + 'static,
        V: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let line: Line<V, T, E> = Arc::new(Mutex::new(Some(tx)));
        let signal_line = line.clone();
        let status = TaskStatus {
            signal: Box::new(move |value| {
                if let Some(tx) = take(&signal_line) {
                    let _ = tx.send(Signal::Started(value));
                }
            }),
        };
        let fut = Starting {
            fut: task(status),
            line,
        };
        let mut child = self.try_spawn(fut).map_err(StartError::Refused)?;
        match rx.await {
            Ok(Signal::Started(value)) => Ok((value, child)),
            Ok(Signal::Ended(out)) => Err(StartError::Ended(out)),
            // Dropped before it could speak: cancelled (or aborted) before it signalled.
            Err(_) => Err(StartError::Ended(match (&mut child).await {
                Outcome::Panicked(p) => Outcome::Panicked(p),
                Outcome::Cancelled(c) => Outcome::Cancelled(c),
                _ => Outcome::Cancelled(Cancelled::new()),
            })),
        }
    }
}
