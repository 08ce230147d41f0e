//! [`Spawner::start`]: spawn a child and wait until it says it is ready (Trio's
//! `nursery.start`), with the [`TaskStatus`] it says so with and the [`StartError`] of a child
//! that ended first.

use std::fmt;
use std::future::Future;

use tokio::sync::oneshot;

use crate::outcome::{IntoOutcome, Outcome};

use super::child::Child;
use super::error::{Reported, SpawnError};
use super::spawner::Spawner;

/// How a child started with [`Spawner::start`] says that it is ready: call
/// [`started`](TaskStatus::started) with the value `start` should return (the port a server
/// bound, a handle to it), then keep running.
///
/// Dropping it without calling `started` (the child returned, failed, or let go of it) makes
/// `start` wait for the child to end and return [`StartError::Ended`].
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
    tx: oneshot::Sender<V>,
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
        let _ = self.tx.send(value);
    }
}

impl<V> fmt::Debug for TaskStatus<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskStatus")
            .field("waiting", &!self.tx.is_closed())
            .finish()
    }
}

/// Why [`Spawner::start`] returned no ready value: the group refused the child, or the child
/// ended before it signalled (with its outcome: a value, [`Reported`] for an error, whose
/// error is in the group's error, a panic, or a cancellation).
///
/// Trio: the `RuntimeError` "child exited without calling task_status.started()", or the
/// child's own exception.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let err = corral::TaskGroup::new()
///     .run(|g| async move {
///         let e = g
///             .start(|_status: corral::TaskStatus<u16>| async { Err::<(), _>("bind failed") })
///             .await
///             .unwrap_err();
///         assert!(matches!(e, corral::StartError::Ended(corral::Outcome::Err(_))));
///         Ok::<(), &str>(())
///     })
///     .await
///     .unwrap_err();
/// // The child's error is the group's, as for any child.
/// assert_eq!(err.errors().collect::<Vec<_>>(), [&"bind failed"]);
/// # }
/// ```
#[derive(Debug)]
pub enum StartError<T: 'static> {
    /// The group refused to spawn the child (it is shutting down or finished).
    Refused(SpawnError),
    /// The child ended without signalling that it started.
    Ended(Outcome<T, Reported>),
}

impl<T> fmt::Display for StartError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Refused(e) => e.fmt(f),
            StartError::Ended(Outcome::Ok(_)) => {
                f.write_str("the child returned without signalling that it started")
            }
            StartError::Ended(Outcome::Err(r)) => write!(f, "before it started: {r}"),
            StartError::Ended(Outcome::Panicked(p)) => {
                write!(f, "the child {p} before it started")
            }
            StartError::Ended(Outcome::Cancelled(c)) => {
                write!(f, "the child was {c} before it started")
            }
        }
    }
}

impl<T: fmt::Debug> std::error::Error for StartError<T> {}

impl<E: Send + 'static> Spawner<E> {
    /// Spawns the child `task` returns and waits until it signals that it is ready: returns
    /// the value it passed to [`TaskStatus::started`], and its handle, while it keeps running
    /// in the group. Use it for a child the body needs ready before it goes on (a server
    /// bound to its port).
    ///
    /// The child is an ordinary child of the group from the start: its failure, before or
    /// after it signalled, is the group's failure (siblings and body cancelled, the error kept
    /// in the group's error), and the group waits for it.
    ///
    /// Trio: `await nursery.start(fn)`.
    ///
    /// # Errors
    ///
    /// * [`StartError::Refused`] if the group is shutting down or finished, as for
    ///   [`spawn`](Spawner::spawn).
    /// * [`StartError::Ended`] if the child ended before it signalled, with its outcome.
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
    pub async fn start<V, F, Fut>(
        &self,
        task: F,
    ) -> Result<
        (V, Child<<Fut::Output as IntoOutcome>::Ok>),
        StartError<<Fut::Output as IntoOutcome>::Ok>,
    >
    where
        F: FnOnce(TaskStatus<V>) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: IntoOutcome<Err = E>,
        <Fut::Output as IntoOutcome>::Ok: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let mut child = self
            .spawn(task(TaskStatus { tx }))
            .map_err(StartError::Refused)?;
        match rx.await {
            Ok(value) => Ok((value, child)),
            // The status was dropped unsent: the child ended, or let go of it.
            Err(_) => Err(StartError::Ended((&mut child).await)),
        }
    }
}
