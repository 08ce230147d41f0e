//! The futures that wait for a permit, [`Acquire`] and [`AcquireOwned`], and the queue work
//! they share: joining the queue on the first poll, and leaving it when dropped.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::queue::{NodeState, NIL};
use super::{Limiter, OwnedPermit, Permit};

/// The future returned by [`Limiter::acquire`]. It joins the queue when first polled.
///
/// # Cancel safety
///
/// Dropping it leaves no waiter behind, and passes on a permit it was handed but had not
/// picked up yet.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let limiter = corral::Limiter::new(1);
/// let held = limiter.acquire().await;
/// let mut waiting: corral::Acquire<'_> = limiter.acquire();
/// assert!(futures::poll!(&mut waiting).is_pending());
/// assert_eq!(limiter.waiters(), 1);
/// drop(waiting); // leaves the queue
/// assert_eq!(limiter.waiters(), 0);
/// drop(held);
/// assert_eq!(limiter.available(), 1);
/// # }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Acquire<'a> {
    pub(super) limiter: Option<&'a Limiter>,
    pub(super) node: usize,
}

impl<'a> Future for Acquire<'a> {
    type Output = Permit<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Permit<'a>> {
        let this = &mut *self;
        let limiter = this.limiter.expect("Acquire polled after it resolved");
        std::task::ready!(limiter.poll_acquire(&mut this.node, cx));
        this.limiter = None;
        Poll::Ready(Permit { limiter })
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        if let (Some(limiter), true) = (self.limiter, self.node != NIL) {
            limiter.cancel_acquire(self.node);
        }
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("queued", &(self.node != NIL))
            .finish()
    }
}

/// The future returned by [`Limiter::acquire_owned`].
///
/// # Cancel safety
///
/// As for [`Acquire`].
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let limiter = Arc::new(corral::Limiter::new(1));
/// let acquire: corral::AcquireOwned = limiter.clone().acquire_owned();
/// let permit = acquire.await;
/// assert!(limiter.locked());
/// drop(permit);
/// assert!(!limiter.locked());
/// # }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct AcquireOwned {
    pub(super) limiter: Option<Arc<Limiter>>,
    pub(super) node: usize,
}

impl Future for AcquireOwned {
    type Output = OwnedPermit;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<OwnedPermit> {
        let this = &mut *self;
        let limiter = this
            .limiter
            .as_ref()
            .expect("AcquireOwned polled after it resolved");
        std::task::ready!(limiter.poll_acquire(&mut this.node, cx));
        let limiter = this.limiter.take().expect("checked above");
        Poll::Ready(OwnedPermit {
            limiter: Some(limiter),
        })
    }
}

impl Drop for AcquireOwned {
    fn drop(&mut self) {
        if let (Some(limiter), true) = (&self.limiter, self.node != NIL) {
            limiter.cancel_acquire(self.node);
        }
    }
}

impl fmt::Debug for AcquireOwned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcquireOwned")
            .field("queued", &(self.node != NIL))
            .finish()
    }
}

impl Limiter {
    /// One poll of an acquire whose queue node is `*node` (`NIL` before the first poll).
    fn poll_acquire(&self, node: &mut usize, cx: &mut Context<'_>) -> Poll<()> {
        let mut st = self.lock();
        if *node == NIL {
            if st.available > 0 && st.waiters() == 0 {
                st.available -= 1;
                return Poll::Ready(());
            }
            if st.available > 0 {
                // Only waiters that were already handed a permit are ahead (nobody is
                // `Waiting` while a permit is free), so this one is served now, but it lets
                // them run first: it resolves on its next poll.
                st.available -= 1;
                st.granted += 1;
                *node = st.insert(NodeState::Granted, None);
                drop(st);
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let id = st.insert(NodeState::Waiting, Some(cx.waker().clone()));
            st.push_back(id);
            *node = id;
            return Poll::Pending;
        }
        let id = *node;
        match st.nodes[id].state {
            NodeState::Granted => {
                st.granted -= 1;
                st.release_node(id);
                *node = NIL;
                Poll::Ready(())
            }
            NodeState::Waiting => {
                match &st.nodes[id].waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => st.nodes[id].waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            NodeState::Free => unreachable!("a live acquire's node is never freed by others"),
        }
    }

    /// An acquire went away before resolving.
    fn cancel_acquire(&self, node: usize) {
        let waker = {
            let mut st = self.lock();
            match st.nodes[node].state {
                NodeState::Waiting => {
                    st.unlink(node);
                    st.release_node(node);
                    None
                }
                NodeState::Granted => {
                    st.granted -= 1;
                    st.release_node(node);
                    st.give_back()
                }
                NodeState::Free => None,
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}
