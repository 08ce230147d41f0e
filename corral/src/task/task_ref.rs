//! [`TaskRef`], a shared reference to a task that does not own it, and [`current_task`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::outcome::Cancelled;
use crate::rt::{current, Scope, TaskMeta};

use super::{TaskId, TaskState};

/// The name of the task whose root scope is `scope`: the one it was given, or `Task-<id>`
/// (made on demand, so an unnamed task stores no string).
pub(super) fn task_name(scope: &Scope, meta: &TaskMeta) -> Arc<str> {
    scope
        .task_name()
        .unwrap_or_else(|| Arc::from(format!("Task-{}", meta.id.as_u64())))
}

/// A shared reference to a task: its id and name, and the means to ask it to stop. It does not
/// own the task; dropping it does nothing. Get one with [`Task::task_ref`](super::Task::task_ref) or [`current_task`].
///
/// asyncio: the `Task` object as seen from `current_task()`.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let t = corral::spawn_named("worker", async {
///     let me = corral::current_task().expect("inside a corral task");
///     Ok::<String, ()>(me.name().to_string())
/// });
/// assert_eq!(t.await.unwrap(), "worker");
/// # }
/// ```
#[derive(Clone)]
pub struct TaskRef {
    pub(super) scope: Arc<Scope>,
}

impl TaskRef {
    /// The task whose root scope is `scope` (a scope made by [`Builder::spawn_cell`]).
    pub(crate) fn from_scope(scope: Arc<Scope>) -> TaskRef {
        TaskRef { scope }
    }

    fn meta(&self) -> &TaskMeta {
        self.scope.task().expect("a task's root scope has its meta")
    }

    /// The task's id.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let t = corral::spawn(async { Ok::<(), ()>(()) });
    /// assert_eq!(t.task_ref().id(), t.id());
    /// # }
    /// ```
    pub fn id(&self) -> TaskId {
        self.meta().id
    }

    /// The task's name: the one it was given, or `Task-<id>`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let t = corral::spawn_named("fetcher", async { Ok::<(), ()>(()) });
    /// assert_eq!(&*t.task_ref().name(), "fetcher");
    /// # }
    /// ```
    pub fn name(&self) -> Arc<str> {
        task_name(&self.scope, self.meta())
    }

    /// Renames the task. asyncio: `Task.set_name()`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let t = corral::spawn(async {
    ///     corral::current_task().unwrap().set_name("renamed");
    ///     Ok::<(), ()>(())
    /// });
    /// let r = t.task_ref();
    /// t.await.unwrap();
    /// assert_eq!(&*r.name(), "renamed");
    /// # }
    /// ```
    pub fn set_name(&self, name: impl Into<Arc<str>>) {
        self.scope.set_task_name(name.into())
    }

    /// How long the task has existed.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let t = corral::spawn(std::future::pending::<Result<(), ()>>());
    /// tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    /// assert_eq!(t.task_ref().age(), std::time::Duration::from_secs(2));
    /// # }
    /// ```
    pub fn age(&self) -> Duration {
        self.meta().spawned_at.elapsed()
    }

    /// Asks the task to stop (see [`Task::cancel`](super::Task::cancel)). Returns false if it was already asked.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let t = corral::spawn(std::future::pending::<Result<(), ()>>());
    /// let r = t.task_ref();
    /// assert!(r.cancel());
    /// assert!(!r.cancel()); // asked already
    /// assert!(t.await.is_cancelled());
    /// # }
    /// ```
    pub fn cancel(&self) -> bool {
        self.scope.request(Cancelled::new())
    }

    /// Asks the task to stop, with a message its outcome will carry.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let t = corral::spawn(std::future::pending::<Result<(), ()>>());
    /// t.task_ref().cancel_with("shutting down");
    /// match t.await {
    ///     corral::Outcome::Cancelled(c) => assert_eq!(c.message(), Some("shutting down")),
    ///     other => panic!("{other:?}"),
    /// }
    /// # }
    /// ```
    pub fn cancel_with(&self, message: impl Into<Arc<str>>) -> bool {
        self.scope.request(Cancelled::with_message(message))
    }

    /// True once the task has been asked to stop.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let t = corral::spawn(std::future::pending::<Result<(), ()>>());
    /// let r = t.task_ref();
    /// assert!(!r.is_cancel_requested());
    /// t.cancel();
    /// assert!(r.is_cancel_requested());
    /// # }
    /// ```
    pub fn is_cancel_requested(&self) -> bool {
        self.scope.is_requested()
    }

    /// True once the task has ended, whatever the outcome: its body returned, failed,
    /// panicked or was dropped. asyncio: `Task.done()`.
    ///
    /// This is the task's own end. The handle that owns the task may report it a moment
    /// later: a [`Task`](crate::Task) once the runtime has let go of the task, a
    /// [`Child`](crate::Child) once its group has collected it.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let t = corral::spawn(async { Ok::<u8, ()>(1) });
    /// let r = t.task_ref();
    /// assert!(!r.is_finished());
    /// t.await.unwrap();
    /// assert!(r.is_finished()); // the handle is gone; the reference still knows
    /// # }
    /// ```
    pub fn is_finished(&self) -> bool {
        self.scope.end().is_some()
    }

    /// What the task is doing, or how it ended, without its outcome (a `TaskRef` does not know
    /// the task's types): [`Running`](TaskState::Running), [`Cancelling`](TaskState::Cancelling)
    /// once asked to stop, then [`Succeeded`](TaskState::Succeeded),
    /// [`Failed`](TaskState::Failed), [`Panicked`](TaskState::Panicked) or
    /// [`Cancelled`](TaskState::Cancelled). (A group's child waiting for a permit shows as
    /// `Running` here; its [`Child`](crate::Child) handle says
    /// [`Waiting`](TaskState::Waiting).)
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::TaskState;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let t = corral::spawn(async { Err::<(), _>("boom") });
    /// let r = t.task_ref();
    /// assert_eq!(r.state(), TaskState::Running);
    /// assert!(t.await.is_failure());
    /// assert_eq!(r.state(), TaskState::Failed);
    /// # }
    /// ```
    pub fn state(&self) -> TaskState {
        self.scope
            .end()
            .map_or_else(|| self.live_state(), TaskState::from_end)
    }

    /// The state of a task that has not ended: cancelling once asked, else running.
    pub(crate) fn live_state(&self) -> TaskState {
        if self.scope.is_requested() {
            TaskState::Cancelling
        } else {
            TaskState::Running
        }
    }

    /// The state of a task whose owning handle has seen its end: how it ended (recorded by
    /// then; `Cancelled` for the one kind of task that records nothing, a never-started one,
    /// which records that too).
    pub(crate) fn end_state(&self) -> TaskState {
        self.scope
            .end()
            .map_or(TaskState::Cancelled, TaskState::from_end)
    }
}

impl fmt::Debug for TaskRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskRef")
            .field("id", &self.id())
            .field("name", &self.name())
            .finish()
    }
}

/// The corral task whose code is running, or `None` outside any corral task.
///
/// asyncio: `asyncio.current_task()`.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert!(corral::current_task().is_none());
/// let t = corral::spawn(async { Ok::<_, ()>(corral::current_task().map(|t| t.id())) });
/// let id = t.id();
/// assert_eq!(t.await.unwrap(), Some(id));
/// # }
/// ```
pub fn current_task() -> Option<TaskRef> {
    current()
        .and_then(|s| s.task_scope())
        .map(|scope| TaskRef { scope })
}
