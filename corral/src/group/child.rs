//! A group's child as its [`Child`] handle sees it: the handle, the slot the child's outcome
//! waits in, and what [`Spawner::children`] reports of it ([`ChildInfo`]).
//!
//! [`Spawner::children`]: super::spawner::Spawner::children

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::outcome::Outcome;
use crate::rt::Scope;
use crate::task::{TaskId, TaskRef, TaskState};

use super::cell::{live_state, NodeCell, SlotCell};
use super::error::Reported;

/// A handle to a child of a [`TaskGroup`]: its id and name, a way to cancel it, and its
/// outcome once it has ended.
///
/// The group owns the child: **dropping this handle does not abort it**, and the group waits
/// for it either way. Await the handle (or [`try_outcome`](Child::try_outcome) after the group
/// has ended) for the outcome: the value, [`Reported`] for an error (the error itself is in
/// the group's [`GroupError`]), the panic, or the cancellation. If the group's future is
/// dropped, unfinished children are aborted and report `Cancelled`.
///
/// asyncio: the `Task` that `TaskGroup.create_task` returns.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let v = corral::TaskGroup::new()
///     .run(|g| async move {
///         let child = g.spawn(async { Ok::<u8, ()>(5) });
///         Ok::<_, ()>(child.await.unwrap() * 2) // waiting for a child inside the body
///     })
///     .await
///     .unwrap();
/// assert_eq!(v, 10);
/// # }
/// ```
///
/// [`TaskGroup`]: super::task_group::TaskGroup
/// [`GroupError`]: super::error::GroupError
pub struct Child<T: 'static> {
    /// The child's task allocation, whose node holds the slot its outcome waits in.
    pub(super) node: Arc<Scope<dyn SlotCell<T>>>,
}

impl<T> Child<T> {
    /// The child's task.
    fn task(&self) -> TaskRef {
        TaskRef::from_scope(self.node.clone())
    }

    /// The child's id.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         let child = g.spawn(async { Ok::<(), ()>(()) });
    ///         assert_eq!(child.task_ref().id(), child.id());
    ///         Ok::<(), ()>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn id(&self) -> TaskId {
        self.task().id()
    }

    /// The child's name: the one it was given, or `Task-<id>`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         let child = g.spawn_named("resize", async { Ok::<(), ()>(()) });
    ///         assert_eq!(&*child.name(), "resize");
    ///         Ok::<(), ()>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn name(&self) -> Arc<str> {
        self.task().name()
    }

    /// A shared reference to the child task.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         let child = g.spawn(std::future::pending::<Result<(), ()>>());
    ///         let r = child.task_ref();
    ///         r.cancel();
    ///         assert!(child.await.is_cancelled());
    ///         Ok::<(), ()>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn task_ref(&self) -> TaskRef {
        self.task()
    }

    /// Asks the child to stop (see [`Task::cancel`](crate::Task::cancel)). A child that ends
    /// cancelled is not a failure of the group. Returns false if it has already ended or was
    /// already asked.
    ///
    /// asyncio: `task.cancel()` on a group's task.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         let child = g.spawn(std::future::pending::<Result<(), ()>>());
    ///         assert!(child.cancel());
    ///         assert!(child.await.is_cancelled()); // not a failure: the group goes on
    ///         Ok::<(), ()>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn cancel(&self) -> bool {
        !self.is_finished() && self.task().cancel()
    }

    /// Like [`cancel`](Child::cancel), with a message the outcome will carry.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         let child = g.spawn(std::future::pending::<Result<(), ()>>());
    ///         child.cancel_with("not needed");
    ///         match child.await {
    ///             corral::Outcome::Cancelled(c) => assert_eq!(c.message(), Some("not needed")),
    ///             other => panic!("{other:?}"),
    ///         }
    ///         Ok::<(), ()>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn cancel_with(&self, message: impl Into<Arc<str>>) -> bool {
        !self.is_finished() && self.task().cancel_with(message)
    }

    /// True once the group has collected the child's outcome.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         let mut child = g.spawn(async { Ok::<(), ()>(()) });
    ///         assert!(!child.is_finished());
    ///         (&mut child).await.unwrap();
    ///         assert!(child.is_finished());
    ///         Ok::<(), ()>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn is_finished(&self) -> bool {
        self.node.payload.slot().is_settled()
    }

    /// What the child is doing, or how it ended ([`TaskState`]): waiting for a permit of the
    /// group's limit, running, cancelling, then the kind of its outcome. Never takes the
    /// outcome. `state().is_finished()` agrees with [`is_finished`](Child::is_finished): the
    /// end shows once the group has collected the child.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::TaskState;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// corral::TaskGroup::new()
    ///     .supervisor() // a failing child does not stop the others
    ///     .run(|g| async move {
    ///         let mut bad = g.spawn(async { Err::<(), _>("boom") });
    ///         assert_eq!(bad.state(), TaskState::Waiting); // not polled yet
    ///         let _ = (&mut bad).await;
    ///         assert_eq!(bad.state(), TaskState::Failed);
    ///         Ok::<(), &str>(())
    ///     })
    ///     .await
    ///     .unwrap_err();
    /// # }
    /// ```
    pub fn state(&self) -> TaskState {
        let s = self.node.payload.slot().lock();
        match &s.outcome {
            Stored::Filled(o) => TaskState::of(o),
            Stored::Taken(state) => *state,
            Stored::Empty => {
                drop(s);
                let cell: &Scope<dyn NodeCell> = &*self.node;
                live_state(cell)
            }
        }
    }

    /// Shows the outcome to `f` by reference (as [`try_outcome`](Child::try_outcome) would
    /// return it), if the child has ended and the outcome has not been taken; returns what
    /// `f` returns. Never waits, never takes or clones the outcome.
    ///
    /// `f` runs while the child's outcome is locked: it must not use this child's handle.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut kept = None;
    /// corral::TaskGroup::new()
    ///     .run(|g| {
    ///         kept = Some(g.spawn(async { Ok::<Vec<u8>, ()>(vec![1, 2, 3]) }));
    ///         async { Ok::<(), ()>(()) }
    ///     })
    ///     .await
    ///     .unwrap();
    /// let child = kept.unwrap();
    /// let len = child.with_outcome(|o| o.as_ref().ok().map(|v| v.len()));
    /// assert_eq!(len, Some(Some(3)));
    /// assert_eq!(child.await.unwrap(), vec![1, 2, 3]); // still there
    /// # }
    /// ```
    pub fn with_outcome<R>(&self, f: impl FnOnce(&Outcome<T, Reported>) -> R) -> Option<R> {
        let mut s = self.node.payload.slot().lock();
        // The stored error is `()` (see `Slot`): the outcome is moved out, shown with its
        // `Reported`, and moved back, also if `f` panics. Moves, no clone.
        let o = s.take()?;
        let lent = Lent {
            slot: &mut s.outcome,
            outcome: Some(self.reported(o)),
        };
        Some(f(lent.outcome.as_ref().expect("lent until dropped")))
    }

    /// Takes the outcome, if the child has ended and the outcome has not been taken yet. Never
    /// waits. After it returns `Some`, awaiting the child panics. To look without taking, use
    /// [`with_outcome`](Child::with_outcome) or [`state`](Child::state).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         let mut child = g.spawn(async { Ok::<u8, ()>(4) });
    ///         assert!(child.try_outcome().is_none()); // not finished yet
    ///         tokio::task::yield_now().await;
    ///         tokio::task::yield_now().await;
    ///         assert_eq!(child.try_outcome().map(|o| o.unwrap()), Some(4));
    ///         Ok::<(), ()>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn try_outcome(&mut self) -> Option<Outcome<T, Reported>> {
        let o = self.node.payload.slot().lock().take();
        o.map(|o| self.reported(o))
    }

    /// The stored outcome with its error made a [`Reported`] naming this child.
    fn reported(&self, o: Outcome<T, ()>) -> Outcome<T, Reported> {
        match o {
            Outcome::Ok(v) => Outcome::Ok(v),
            Outcome::Err(()) => Outcome::Err(Reported {
                id: self.id(),
                name: self.name(),
            }),
            Outcome::Panicked(p) => Outcome::Panicked(p),
            Outcome::Cancelled(c) => Outcome::Cancelled(c),
        }
    }
}

impl<T> Future for Child<T> {
    type Output = Outcome<T, Reported>;

    /// # Panics
    ///
    /// Panics if the outcome was already taken.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = self.node.payload.slot().lock();
        if let Some(o) = s.take() {
            drop(s);
            return Poll::Ready(self.reported(o));
        }
        assert!(
            !matches!(s.outcome, Stored::Taken(_)),
            "the outcome of this group child was already taken"
        );
        match &s.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => s.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T> fmt::Debug for Child<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Where a child's outcome waits for its handle. An error is kept as `Err(())`: the handle
/// makes the [`Reported`] from the child's own allocation (its id and name) when it takes it,
/// so the slot holds a word-sized value's outcome in 16 bytes, not 32.
pub(super) struct Slot<T> {
    state: Mutex<SlotState<T>>,
}

struct SlotState<T> {
    outcome: Stored<T>,
    waker: Option<Waker>,
}

/// A slot's outcome: not there yet, there, or taken by the handle (which kind it was stays,
/// for [`Child::state`]).
enum Stored<T> {
    Empty,
    Filled(Outcome<T, ()>),
    Taken(TaskState),
}

/// An outcome lent to [`Child::with_outcome`]'s closure: put back into its slot when dropped,
/// also if the closure panics.
struct Lent<'a, T> {
    slot: &'a mut Stored<T>,
    outcome: Option<Outcome<T, Reported>>,
}

impl<T> Drop for Lent<'_, T> {
    fn drop(&mut self) {
        if let Some(o) = self.outcome.take() {
            *self.slot = Stored::Filled(match o {
                Outcome::Ok(v) => Outcome::Ok(v),
                Outcome::Err(_) => Outcome::Err(()),
                Outcome::Panicked(p) => Outcome::Panicked(p),
                Outcome::Cancelled(c) => Outcome::Cancelled(c),
            });
        }
    }
}

impl<T> Slot<T> {
    pub(super) fn new() -> Self {
        Slot {
            state: Mutex::new(SlotState {
                outcome: Stored::Empty,
                waker: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SlotState<T>> {
        // Every update is one assignment, so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True once the slot holds an outcome or the outcome was taken.
    pub(super) fn is_settled(&self) -> bool {
        !matches!(self.lock().outcome, Stored::Empty)
    }

    pub(super) fn fill(&self, outcome: Outcome<T, ()>) {
        let waker = {
            let mut s = self.lock();
            if !matches!(s.outcome, Stored::Empty) {
                return;
            }
            s.outcome = Stored::Filled(outcome);
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> SlotState<T> {
    /// Takes the outcome if it is there (the slot is then `Taken`).
    fn take(&mut self) -> Option<Outcome<T, ()>> {
        let state = match &self.outcome {
            Stored::Filled(o) => TaskState::of(o),
            _ => return None,
        };
        match std::mem::replace(&mut self.outcome, Stored::Taken(state)) {
            Stored::Filled(o) => Some(o),
            _ => None,
        }
    }
}

/// A snapshot of one running child of a group. See [`Spawner::children`].
///
/// asyncio: one line of `python -m asyncio ps`.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// corral::TaskGroup::new()
///     .run(|g| async move {
///         g.spawn_named("w", std::future::pending::<Result<(), ()>>());
///         let info = &g.children()[0];
///         assert_eq!(&*info.name, "w");
///         assert_eq!(info.state, corral::TaskState::Waiting); // not polled yet
///         g.cancel();
///         Ok::<(), ()>(())
///     })
///     .await
///     .ok();
/// # }
/// ```
///
/// [`Spawner::children`]: super::spawner::Spawner::children
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildInfo {
    /// The child's id.
    pub id: TaskId,
    /// The child's name.
    pub name: Arc<str>,
    /// How long ago it was spawned.
    pub age: Duration,
    /// What it is doing: [`Waiting`](TaskState::Waiting) for a permit of the group's limit
    /// (or its first turn), [`Running`](TaskState::Running) or
    /// [`Cancelling`](TaskState::Cancelling). A listing shows only children that have not
    /// been collected, so never an end state.
    pub state: TaskState,
}

impl fmt::Display for ChildInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "task {} \"{}\": {} for {:?}",
            self.id,
            self.name,
            self.state,
            whole_ms(self.age)
        )
    }
}

/// Ages shown to people: whole milliseconds are enough, and read better.
pub(super) fn whole_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis().try_into().unwrap_or(u64::MAX))
}
