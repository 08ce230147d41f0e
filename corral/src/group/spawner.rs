//! The [`Spawner`] a group's body is given: it spawns children, cancels the group, and shows
//! what is running.

use std::fmt;
use std::future::Future;
use std::sync::atomic::AtomicU8;
use std::sync::{Arc, Weak};
use std::task::Context;

use crate::outcome::{Cancelled, IntoOutcome};
use crate::rt::{KeptHandle, Scope};
use crate::task::Builder;

use super::cell::{info, Acquire, ChildMeta, ChildTail, Enrolled, Held, NodeCell, WAITING};
use super::child::{Child, ChildInfo, Slot};
use super::error::SpawnError;
use super::running::Shared;
use super::tree::{render, GroupNode, Host, HostFrame};

/// The handle a [`TaskGroup`]'s body is given: spawns children into the group, cancels the
/// group, and shows what is running. It is `Clone + Send`, so children can spawn siblings.
///
/// A handle that outlives its group refuses to spawn ([`SpawnError::is_finished`]).
///
/// asyncio: the `tg` of `async with TaskGroup() as tg`. Trio: the nursery.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let n = corral::TaskGroup::new()
///     .run(|g| async move {
///         let g2 = g.clone();
///         // A child that spawns a grandchild into the same group.
///         let parent = g.spawn(async move {
///             let grandchild = g2.spawn(async { Ok(2) })?;
///             Ok::<_, corral::SpawnError>(grandchild)
///         })?;
///         Ok::<_, corral::SpawnError>(parent)
///     })
///     .await
///     .unwrap();
/// let mut grandchild = n.await.unwrap();
/// assert_eq!(grandchild.try_outcome().unwrap().unwrap(), 2);
/// # }
/// ```
///
/// [`TaskGroup`]: super::task_group::TaskGroup
pub struct Spawner<E> {
    pub(super) shared: Arc<Shared<E>>,
}

impl<E> Clone for Spawner<E> {
    fn clone(&self) -> Self {
        Spawner {
            shared: self.shared.clone(),
        }
    }
}

impl<E> fmt::Debug for Spawner<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spawner")
            .field("group", &self.shared.label())
            .finish()
    }
}

impl<E: Send + 'static> Spawner<E> {
    /// Spawns a child into the group. It starts at once (or when the group's
    /// [limit](super::task_group::TaskGroup::limit) lets it), runs on the runtime's worker
    /// threads, and the group waits for it before ending. Its error type is the group's.
    ///
    /// asyncio: `tg.create_task(coro)`.
    ///
    /// # Errors
    ///
    /// [`SpawnError`] if the group is shutting down (a member failed, or it was cancelled) or
    /// has finished. The future is then dropped without ever being polled.
    ///
    /// # Panics
    ///
    /// Panics if called outside a tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         let child = g.spawn(async { Ok(1) })?;
    ///         assert!(child.name().starts_with("Task-"));
    ///         Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn spawn<F>(&self, fut: F) -> Result<Child<<F::Output as IntoOutcome>::Ok>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: IntoOutcome<Err = E>,
        <F::Output as IntoOutcome>::Ok: Send + 'static,
    {
        self.spawn_with(Builder::new(), fut)
    }

    /// Spawns a named child. Same as [`spawn`](Spawner::spawn) otherwise.
    ///
    /// asyncio: `tg.create_task(coro, name=...)`.
    ///
    /// # Errors
    ///
    /// As [`spawn`](Spawner::spawn).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         let c = g.spawn_named("yolo", async { Ok(corral::current_task().unwrap().name()) })?;
    ///         assert_eq!(&*c.await.unwrap(), "yolo");
    ///         Ok::<_, corral::SpawnError>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn spawn_named<F>(
        &self,
        name: impl Into<Arc<str>>,
        fut: F,
    ) -> Result<Child<<F::Output as IntoOutcome>::Ok>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: IntoOutcome<Err = E>,
        <F::Output as IntoOutcome>::Ok: Send + 'static,
    {
        self.spawn_with(Builder::new().name(name), fut)
    }

    /// Spawns a child with the options of a [`Builder`] (name, grace period).
    ///
    /// # Errors
    ///
    /// As [`spawn`](Spawner::spawn).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         let b = corral::Builder::new().name("db").grace(Duration::from_millis(50));
    ///         g.spawn_with(b, async { Ok::<(), corral::SpawnError>(()) })?;
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn spawn_with<F>(
        &self,
        builder: Builder,
        fut: F,
    ) -> Result<Child<<F::Output as IntoOutcome>::Ok>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: IntoOutcome<Err = E>,
        <F::Output as IntoOutcome>::Ok: Send + 'static,
    {
        let shared = &self.shared;
        let mut st = shared.lock();
        if st.finished || st.cancelling.is_some() {
            return Err(SpawnError {
                group: shared.name.clone(),
                finished: st.finished,
            });
        }
        let acquire = shared
            .limit
            .as_ref()
            .map(|(_, sem)| -> Acquire { Box::pin(sem.clone().acquire_owned()) });
        let group: Arc<dyn GroupNode> = shared.clone();
        // One allocation for the child's scope, body, outcome and node (besides tokio's cell).
        let (mut task, node) = builder.spawn_cell(|me| {
            let me: Weak<Scope<dyn NodeCell>> = me.clone();
            let enrolled = Enrolled {
                fut,
                frame: HostFrame {
                    group,
                    host: Host::Child(me),
                },
                acquire,
            };
            let meta = ChildMeta {
                state: AtomicU8::new(WAITING),
                slot: ChildTail {
                    slot: Slot::new(),
                    handle: KeptHandle::default(),
                },
            };
            (enrolled, meta)
        });
        let key = st.children.insert(Held { node: node.clone() });
        // Poll the child's `JoinHandle` once here, with the waker of its slot, so that its end
        // wakes the group (queues the key), rather than queueing the key for the group to do
        // that first poll. A child that has ended already is queued at once.
        let ended = st.children.with_waker(key, |waker| {
            let ended = task.poll_end_unconstrained(&mut Context::from_waker(waker));
            ended.is_ready().then(|| waker.clone())
        });
        task.keep_in(&node.payload.ext.slot.handle);
        drop(st);
        if let Some(waker) = ended {
            waker.wake();
        }
        Ok(Child { node })
    }

    /// Cancels the group: every child and the body are asked to stop, and spawning is refused.
    /// The group then ends with a [`GroupError`] that [`is_cancelled`]
    /// (or with the body's value, if the body had already returned one; or with the failures,
    /// if some member failed). Returns false if the group was already shutting down.
    ///
    /// Trio: `nursery.cancel_scope.cancel()`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         g.spawn(std::future::pending::<Result<(), ()>>()).unwrap();
    ///         g.cancel();
    ///         std::future::pending::<Result<(), ()>>().await
    ///     })
    ///     .await
    ///     .unwrap_err();
    /// assert!(err.is_cancelled());
    /// # }
    /// ```
    ///
    /// [`GroupError`]: super::error::GroupError
    /// [`is_cancelled`]: super::error::GroupError::is_cancelled
    pub fn cancel(&self) -> bool {
        self.shared.begin_cancel(Cancelled::new(), true)
    }

    /// Like [`cancel`](Spawner::cancel), with a message the members' cancellations carry.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         g.spawn(std::future::pending::<Result<(), ()>>()).unwrap();
    ///         g.cancel_with("shutting down");
    ///         std::future::pending::<Result<(), ()>>().await
    ///     })
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(err.cancelled().and_then(|c| c.message()), Some("shutting down"));
    /// # }
    /// ```
    pub fn cancel_with(&self, message: impl Into<Arc<str>>) -> bool {
        self.shared
            .begin_cancel(Cancelled::with_message(message), true)
    }

    /// True while the group accepts new children: it is neither shutting down nor finished.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         assert!(g.is_open());
    ///         g.spawn(async { Err::<(), _>("bad") }).unwrap();
    ///         let _request = corral::cancelled().await; // a child failed
    ///         assert!(!g.is_open());
    ///         Ok::<(), &str>(())
    ///     })
    ///     .await
    ///     .unwrap_err();
    /// # }
    /// ```
    pub fn is_open(&self) -> bool {
        let st = self.shared.lock();
        !st.finished && st.cancelling.is_none()
    }

    /// How many children the group holds: spawned and not yet collected. Finished children are
    /// released as soon as the group sees them end, so a long-lived group does not grow.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         g.spawn(async { Ok::<(), ()>(()) }).unwrap();
    ///         assert_eq!(g.len(), 1);
    ///         Ok::<(), ()>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn len(&self) -> usize {
        self.shared.lock().children.len()
    }

    /// True if the group holds no child.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         assert!(g.is_empty());
    ///         g.spawn(async { Ok::<(), ()>(()) }).unwrap();
    ///         assert!(!g.is_empty());
    ///         Ok::<(), ()>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A snapshot of the children the group holds (id, name, age, state), in spawn order.
    ///
    /// asyncio: `python -m asyncio ps PID`, for one group.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// corral::TaskGroup::new()
    ///     .run(|g| async move {
    ///         g.spawn_named("sleeper", async {
    ///             tokio::time::sleep(Duration::from_secs(1)).await;
    ///             Ok::<(), ()>(())
    ///         })
    ///         .unwrap();
    ///         tokio::time::sleep(Duration::from_millis(300)).await;
    ///         let kids = g.children();
    ///         assert_eq!(kids[0].to_string(), format!("task {} \"sleeper\": running for 300ms", kids[0].id));
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn children(&self) -> Vec<ChildInfo> {
        let cells: Vec<Arc<Scope<dyn NodeCell>>> = {
            let st = self.shared.lock();
            st.children.values().map(|c| c.cell()).collect()
        };
        let mut infos: Vec<ChildInfo> = cells.iter().map(info).collect();
        infos.sort_by_key(|i| i.id);
        infos
    }

    /// A text tree of this group: its state, its body, its children, and the groups nested in
    /// them, recursively. For debugging a stuck program.
    ///
    /// asyncio: `python -m asyncio pstree PID`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// corral::TaskGroup::new()
    ///     .name("outer")
    ///     .run(|g| async move {
    ///         let tree = corral::TaskGroup::new()
    ///             .name("inner")
    ///             .run(|_inner| async move { Ok::<_, ()>(g.tree()) })
    ///             .await
    ///             .unwrap();
    ///         assert!(tree.starts_with("group \"outer\""));
    ///         assert!(tree.contains("└── body\n    └── group \"inner\""));
    ///         Ok::<(), ()>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn tree(&self) -> String {
        let mut out = String::new();
        render(&*self.shared, "", "", &mut out);
        out
    }

    /// The group's name, if it was given one.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// corral::TaskGroup::new()
    ///     .name("uploads")
    ///     .run(|g| async move {
    ///         assert_eq!(g.name().as_deref(), Some("uploads"));
    ///         Ok::<(), ()>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn name(&self) -> Option<Arc<str>> {
        self.shared.name.clone()
    }
}
