//! [`TaskState`]: what a task is doing, or how it ended, as every handle reports it.

use std::fmt;

use crate::outcome::Outcome;
use crate::rt::End;

/// What a task is doing, or how it ended: the one status every handle reports
/// ([`Task::state`](crate::Task::state), [`TaskRef::state`](crate::TaskRef::state),
/// [`Child::state`](crate::Child::state), [`Shielded::state`](crate::Shielded::state), and
/// [`ChildInfo::state`](crate::ChildInfo::state) in a group's listing). It is cheap (a copy)
/// and never takes or clones the outcome; the four end states are the four kinds of
/// [`Outcome`].
///
/// asyncio: `Task.done()`, `Task.cancelled()`, and whether `Task.exception()` is set, in one
/// value.
///
/// # Examples
///
/// ```
/// use corral::TaskState;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut t = corral::spawn(async { Ok::<u8, ()>(7) });
/// assert_eq!(t.state(), TaskState::Running);
/// (&mut t).await.unwrap();
/// assert_eq!(t.state(), TaskState::Succeeded);
/// assert!(t.state().is_finished());
/// assert_eq!(t.state().to_string(), "succeeded");
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskState {
    /// Spawned, not started yet: a group's child waiting for a permit of the group's
    /// [limit](crate::TaskGroup::limit), or for its first turn on the runtime. Only group
    /// children report it.
    Waiting,
    /// Running its future.
    Running,
    /// Asked to stop, and not finished yet (cleaning up in its grace period, or about to be
    /// dropped).
    Cancelling,
    /// Ended with a value ([`Outcome::Ok`]).
    Succeeded,
    /// Ended with an error ([`Outcome::Err`]). A panic is [`Panicked`](TaskState::Panicked).
    Failed,
    /// Panicked ([`Outcome::Panicked`]).
    Panicked,
    /// Cancelled ([`Outcome::Cancelled`]): stopped by a request or an abort, or never started.
    Cancelled,
}

impl TaskState {
    /// True for the four end states (`Succeeded`, `Failed`, `Panicked`, `Cancelled`).
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::TaskState;
    /// assert!(TaskState::Panicked.is_finished());
    /// assert!(!TaskState::Cancelling.is_finished());
    /// ```
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            TaskState::Succeeded | TaskState::Failed | TaskState::Panicked | TaskState::Cancelled
        )
    }

    /// The end state that `outcome` is.
    pub(crate) fn of<T, E>(outcome: &Outcome<T, E>) -> TaskState {
        TaskState::from_end(End::of(outcome))
    }

    pub(crate) fn from_end(end: End) -> TaskState {
        match end {
            End::Ok => TaskState::Succeeded,
            End::Err => TaskState::Failed,
            End::Panicked => TaskState::Panicked,
            End::Cancelled => TaskState::Cancelled,
        }
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TaskState::Waiting => "waiting",
            TaskState::Running => "running",
            TaskState::Cancelling => "cancelling",
            TaskState::Succeeded => "succeeded",
            TaskState::Failed => "failed",
            TaskState::Panicked => "panicked",
            TaskState::Cancelled => "cancelled",
        })
    }
}
