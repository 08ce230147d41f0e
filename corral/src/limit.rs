//! [`Limiter`]: a counting semaphore with FIFO hand-off, cancel-safe waiters, a bounded
//! variant and a total that can be resized while in use.
//!
//! The state is one `Mutex` (taken once, uncontended, on the fast path) over a count of free
//! permits and an intrusive-style FIFO of waiters kept in a slab, so that a waiter that goes
//! away is unlinked in O(1).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::rt::sync::{Mutex, MutexGuard};

/// A limit on how many holders may run at once: a counting semaphore whose permits are guards.
///
/// [`acquire`](Limiter::acquire) waits for a permit and returns a [`Permit`]; dropping the
/// permit gives it back. [`acquire_owned`](Limiter::acquire_owned) on an `Arc<Limiter>` returns
/// an [`OwnedPermit`] that can move into a spawned task.
///
/// * **FIFO with direct hand-off, no barging.** Waiters are served in the order they first
///   polled their [`Acquire`]. A permit given back while someone waits goes straight to the
///   oldest waiter; it never becomes free for a newcomer to grab. While any waiter exists
///   (even one that has been handed a permit but has not run yet), a new `acquire` queues
///   behind it, and [`locked`](Limiter::locked) is true.
/// * **Cancel-safe.** A waiter dropped before it is served leaves nothing behind. A waiter
///   dropped *after* it was handed a permit, before it ran, gives the permit to the next
///   waiter, so no permit is lost.
/// * **Resizable.** [`set_total`](Limiter::set_total) grows the total at once (new permits go
///   to waiters first) and shrinks it as permits come back, never by taking a permit away
///   from a holder.
/// * **Bounded or not.** [`Limiter::bounded`] refuses a [`release`](Limiter::release) that
///   would put more permits back than were taken out; [`Limiter::new`] treats such a release
///   as adding a permit, as asyncio's `Semaphore` does.
///
/// The uncontended path (a permit is free and nobody waits) takes one uncontended lock to
/// acquire and one to give back.
///
/// asyncio: `asyncio.Semaphore(n)`, and `asyncio.BoundedSemaphore(n)` for
/// [`Limiter::bounded`]; Trio's `CapacityLimiter` for the resizable total.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let limiter = Arc::new(corral::Limiter::new(2));
/// let start = tokio::time::Instant::now();
/// let jobs = (0..6).map(|_| {
///     let limiter = limiter.clone();
///     async move {
///         let _permit = limiter.acquire().await; // given back when dropped
///         tokio::time::sleep(Duration::from_secs(1)).await;
///         Ok::<(), ()>(())
///     }
/// });
/// corral::gather(jobs).await.unwrap();
/// // Six one-second jobs, two at a time.
/// assert_eq!(start.elapsed(), Duration::from_secs(3));
/// # }
/// ```
pub struct Limiter {
    state: Mutex<State>,
    bounded: bool,
}

const NIL: usize = usize::MAX;

#[derive(Clone, Copy, PartialEq, Eq)]
enum NodeState {
    Free,
    /// In the queue, not served yet.
    Waiting,
    /// Handed a permit, out of the queue, not yet picked up by its future.
    Granted,
}

struct Node {
    prev: usize,
    next: usize,
    state: NodeState,
    waker: Option<Waker>,
}

/// Invariant: `available + granted + held + forgotten == total + debt`, where `held` counts
/// live [`Permit`]s and [`OwnedPermit`]s; and `available > 0` implies no node is `Waiting`.
struct State {
    total: usize,
    available: usize,
    /// Permits to swallow as they come back, after the total was shrunk below what is out.
    debt: usize,
    /// Permits whose guards were [forgotten](Permit::forget): what `release` may put back.
    forgotten: usize,
    /// Nodes in the `Granted` state.
    granted: usize,
    /// Nodes in the `Waiting` state (the queue's length).
    waiting: usize,
    head: usize,
    tail: usize,
    nodes: Vec<Node>,
    free: Vec<usize>,
}

impl State {
    fn insert(&mut self, state: NodeState, waker: Option<Waker>) -> usize {
        let node = Node {
            prev: NIL,
            next: NIL,
            state,
            waker,
        };
        match self.free.pop() {
            Some(id) => {
                self.nodes[id] = node;
                id
            }
            None => {
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        }
    }

    fn release_node(&mut self, id: usize) {
        self.nodes[id].state = NodeState::Free;
        self.nodes[id].waker = None;
        self.free.push(id);
        // Keep the slab from growing forever after a burst of waiters.
        if self.free.len() == self.nodes.len() {
            self.nodes.clear();
            self.free.clear();
        }
    }

    fn push_back(&mut self, id: usize) {
        self.nodes[id].prev = self.tail;
        self.nodes[id].next = NIL;
        if self.tail == NIL {
            self.head = id;
        } else {
            self.nodes[self.tail].next = id;
        }
        self.tail = id;
        self.waiting += 1;
    }

    fn unlink(&mut self, id: usize) {
        let Node { prev, next, .. } = self.nodes[id];
        if prev == NIL {
            self.head = next;
        } else {
            self.nodes[prev].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.nodes[next].prev = prev;
        }
        self.waiting -= 1;
    }

    /// Hands a permit to the oldest waiter. Returns its waker, to wake after unlocking.
    fn grant_head(&mut self) -> Option<Waker> {
        let id = self.head;
        if id == NIL {
            return None;
        }
        self.unlink(id);
        self.nodes[id].state = NodeState::Granted;
        self.granted += 1;
        // A waiter always has a waker; the `Option` is only empty for Free and Granted nodes.
        self.nodes[id].waker.take()
    }

    /// One permit comes back: it pays off a shrink, or goes to the oldest waiter, or becomes
    /// free. Returns a waker to wake after unlocking.
    fn give_back(&mut self) -> Option<Waker> {
        if self.debt > 0 {
            self.debt -= 1;
            return None;
        }
        if self.head != NIL {
            return self.grant_head();
        }
        self.available += 1;
        None
    }

    fn waiters(&self) -> usize {
        self.waiting + self.granted
    }
}

impl Limiter {
    /// A limiter with `permits` permits. A [`release`](Limiter::release) beyond what was
    /// taken out adds a permit. `Limiter::new(0)` starts locked.
    ///
    /// asyncio: `asyncio.Semaphore(permits)`.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = corral::Limiter::new(3);
    /// assert_eq!(limiter.available(), 3);
    /// assert!(!limiter.locked());
    /// assert!(corral::Limiter::new(0).locked());
    /// ```
    pub fn new(permits: usize) -> Limiter {
        Limiter::with(permits, false)
    }

    /// A limiter with `permits` permits whose [`release`](Limiter::release) refuses to put
    /// back a permit that was not taken out (with [`Permit::forget`]).
    ///
    /// asyncio: `asyncio.BoundedSemaphore(permits)`.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = corral::Limiter::bounded(2);
    /// assert!(limiter.release().is_err()); // nothing was taken out
    /// limiter.try_acquire().unwrap().forget();
    /// assert!(limiter.release().is_ok()); // puts the forgotten permit back
    /// assert!(limiter.release().is_err());
    /// ```
    pub fn bounded(permits: usize) -> Limiter {
        Limiter::with(permits, true)
    }

    fn with(permits: usize, bounded: bool) -> Limiter {
        Limiter {
            state: Mutex::new(State {
                total: permits,
                available: permits,
                debt: 0,
                forgotten: 0,
                granted: 0,
                waiting: 0,
                head: NIL,
                tail: NIL,
                nodes: Vec::new(),
                free: Vec::new(),
            }),
            bounded,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No user code runs under this lock except waker clones, and every update leaves the
        // state consistent before anything can panic, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a permit. The returned future joins the queue the first time it is polled,
    /// and resolves to a [`Permit`] that gives the permit back when dropped.
    ///
    /// asyncio: `await sem.acquire()`, or `async with sem:` with the permit as the block.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it resolves gives up its place in the queue and loses no
    /// permit: one it was already handed goes to the next waiter.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let limiter = corral::Limiter::new(1);
    /// {
    ///     let _permit = limiter.acquire().await;
    ///     assert!(limiter.locked());
    /// }
    /// assert!(!limiter.locked());
    /// # }
    /// ```
    pub fn acquire(&self) -> Acquire<'_> {
        Acquire {
            limiter: Some(self),
            node: NIL,
        }
    }

    /// Waits for a permit that owns a reference to the limiter, so that it can move into a
    /// spawned task. Otherwise the same as [`acquire`](Limiter::acquire).
    ///
    /// # Cancel safety
    ///
    /// As for [`acquire`](Limiter::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let limiter = Arc::new(corral::Limiter::new(4));
    /// let permit = limiter.clone().acquire_owned().await;
    /// let task = corral::spawn(async move {
    ///     let _permit = permit; // held until the task ends
    ///     Ok::<(), ()>(())
    /// });
    /// task.await.unwrap();
    /// assert_eq!(limiter.available(), 4);
    /// # }
    /// ```
    pub fn acquire_owned(self: Arc<Self>) -> AcquireOwned {
        AcquireOwned {
            limiter: Some(self),
            node: NIL,
        }
    }

    /// Takes a permit if one is free and nobody is waiting for one, without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = corral::Limiter::new(1);
    /// let p = limiter.try_acquire();
    /// assert!(p.is_some());
    /// assert!(limiter.try_acquire().is_none());
    /// ```
    pub fn try_acquire(&self) -> Option<Permit<'_>> {
        let mut st = self.lock();
        if st.available > 0 && st.waiters() == 0 {
            st.available -= 1;
            Some(Permit { limiter: self })
        } else {
            None
        }
    }

    /// Puts back one permit taken out with [`Permit::forget`]. If none was, a plain limiter
    /// adds a permit (its total grows by one) and a [bounded](Limiter::bounded) one refuses.
    /// The permit goes to the oldest waiter if there is one.
    ///
    /// asyncio: `sem.release()`.
    ///
    /// # Errors
    ///
    /// [`ReleaseError`] from a bounded limiter when no forgotten permit is outstanding.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = corral::Limiter::new(1);
    /// limiter.release().unwrap();
    /// assert_eq!(limiter.available(), 2);
    /// ```
    pub fn release(&self) -> Result<(), ReleaseError> {
        let waker = {
            let mut st = self.lock();
            if st.forgotten > 0 {
                st.forgotten -= 1;
            } else if self.bounded {
                return Err(ReleaseError { total: st.total });
            } else {
                st.total += 1;
            }
            st.give_back()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Sets the total number of permits, while in use. Growing hands the new permits to
    /// waiters first. Shrinking takes free permits away now and the rest as holders give
    /// theirs back; no holder loses a permit it has.
    ///
    /// Trio: `CapacityLimiter.total_tokens = n`.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = corral::Limiter::new(2);
    /// let a = limiter.try_acquire().unwrap();
    /// let b = limiter.try_acquire().unwrap();
    /// limiter.set_total(1);
    /// drop(a); // swallowed: two were out and the total is now one
    /// assert_eq!(limiter.available(), 0);
    /// drop(b);
    /// assert_eq!(limiter.available(), 1);
    /// limiter.set_total(3);
    /// assert_eq!(limiter.available(), 3);
    /// ```
    pub fn set_total(&self, total: usize) {
        let mut wakers = Vec::new();
        {
            let mut st = self.lock();
            if total >= st.total {
                let mut more = total - st.total;
                st.total = total;
                let paid = more.min(st.debt);
                st.debt -= paid;
                more -= paid;
                while more > 0 {
                    match st.grant_head() {
                        Some(w) => wakers.push(w),
                        None => {
                            st.available += more;
                            break;
                        }
                    }
                    more -= 1;
                }
            } else {
                let less = st.total - total;
                st.total = total;
                let now = less.min(st.available);
                st.available -= now;
                st.debt += less - now;
            }
        }
        wakers.into_iter().for_each(Waker::wake);
    }

    /// The total number of permits (after any shrink has fully taken effect).
    ///
    /// Trio: `CapacityLimiter.total_tokens`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corral::Limiter::new(5).total(), 5);
    /// ```
    pub fn total(&self) -> usize {
        self.lock().total
    }

    /// Permits free right now. Permits handed to a waiter that has not run yet are not free.
    ///
    /// Trio: `CapacityLimiter.available_tokens`; asyncio: `sem._value`.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = corral::Limiter::new(2);
    /// let _p = limiter.try_acquire();
    /// assert_eq!(limiter.available(), 1);
    /// ```
    pub fn available(&self) -> usize {
        self.lock().available
    }

    /// Permits out: held, forgotten, or handed to a waiter that has not run yet. May exceed
    /// [`total`](Limiter::total) for a while after a shrink.
    ///
    /// Trio: `CapacityLimiter.borrowed_tokens`.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = corral::Limiter::new(2);
    /// let _p = limiter.try_acquire();
    /// assert_eq!(limiter.in_use(), 1);
    /// ```
    pub fn in_use(&self) -> usize {
        let st = self.lock();
        st.total + st.debt - st.available
    }

    /// Waiters: those queued, and those handed a permit that have not run yet.
    ///
    /// Trio: `CapacityLimiter.statistics().tasks_waiting`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corral::Limiter::new(1).waiters(), 0);
    /// ```
    pub fn waiters(&self) -> usize {
        self.lock().waiters()
    }

    /// True if an `acquire` now would have to wait: no permit is free, or someone is already
    /// waiting (first come, first served, even when a permit is free).
    ///
    /// asyncio: `sem.locked()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = corral::Limiter::new(1);
    /// assert!(!limiter.locked());
    /// let _p = limiter.try_acquire();
    /// assert!(limiter.locked());
    /// ```
    pub fn locked(&self) -> bool {
        let st = self.lock();
        st.available == 0 || st.waiters() > 0
    }

    /// True for a limiter made with [`Limiter::bounded`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(corral::Limiter::bounded(1).is_bounded());
    /// ```
    pub fn is_bounded(&self) -> bool {
        self.bounded
    }

    fn give_back(&self) {
        let waker = self.lock().give_back();
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn forget_one(&self) {
        self.lock().forgotten += 1;
    }

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

impl Default for Limiter {
    /// A limiter with one permit, like asyncio's `Semaphore()`.
    fn default() -> Self {
        Limiter::new(1)
    }
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct("Limiter")
            .field("total", &st.total)
            .field("available", &st.available)
            .field("waiters", &st.waiters())
            .field("bounded", &self.bounded)
            .finish()
    }
}

/// The error of [`Limiter::release`] on a [bounded](Limiter::bounded) limiter when no permit
/// is out to put back.
///
/// asyncio: the `ValueError` of `BoundedSemaphore.release()`.
///
/// # Examples
///
/// ```
/// let e = corral::Limiter::bounded(2).release().unwrap_err();
/// assert_eq!(
///     e.to_string(),
///     "released a permit that was not taken out: the bounded limiter's total is 2"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReleaseError {
    total: usize,
}

impl fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "released a permit that was not taken out: the bounded limiter's total is {}",
            self.total
        )
    }
}

impl std::error::Error for ReleaseError {}

/// A permit from [`Limiter::acquire`], given back when dropped.
///
/// asyncio: the body of `async with sem:`.
///
/// # Examples
///
/// ```
/// let limiter = corral::Limiter::new(1);
/// let permit = limiter.try_acquire().unwrap();
/// assert_eq!(limiter.available(), 0);
/// drop(permit);
/// assert_eq!(limiter.available(), 1);
/// ```
#[must_use = "the permit is given back as soon as it is dropped"]
pub struct Permit<'a> {
    limiter: &'a Limiter,
}

impl Permit<'_> {
    /// Keeps the permit taken without a guard; [`Limiter::release`] puts it back.
    ///
    /// asyncio: `await sem.acquire()` without the matching `release()` yet.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = corral::Limiter::bounded(1);
    /// limiter.try_acquire().unwrap().forget();
    /// assert_eq!(limiter.available(), 0);
    /// limiter.release().unwrap();
    /// assert_eq!(limiter.available(), 1);
    /// ```
    pub fn forget(self) {
        self.limiter.forget_one();
        std::mem::forget(self);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.limiter.give_back();
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").finish_non_exhaustive()
    }
}

/// A permit from [`Limiter::acquire_owned`]: holds an `Arc` to its limiter, so it can move
/// into a spawned task. Given back when dropped.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let limiter = Arc::new(corral::Limiter::new(1));
/// let permit = limiter.clone().acquire_owned().await;
/// assert!(Arc::ptr_eq(permit.limiter(), &limiter));
/// # }
/// ```
#[must_use = "the permit is given back as soon as it is dropped"]
pub struct OwnedPermit {
    /// `None` only inside `forget`, so that the drop that follows gives nothing back.
    limiter: Option<Arc<Limiter>>,
}

impl OwnedPermit {
    /// The limiter the permit came from.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let limiter = Arc::new(corral::Limiter::new(2));
    /// let permit = limiter.clone().acquire_owned().await;
    /// assert_eq!(permit.limiter().in_use(), 1);
    /// # }
    /// ```
    pub fn limiter(&self) -> &Arc<Limiter> {
        self.limiter
            .as_ref()
            .expect("a permit holds its limiter until it is dropped")
    }

    /// Keeps the permit taken without a guard; [`Limiter::release`] puts it back.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let limiter = Arc::new(corral::Limiter::bounded(1));
    /// limiter.clone().acquire_owned().await.forget();
    /// assert!(limiter.locked());
    /// limiter.release().unwrap();
    /// assert!(!limiter.locked());
    /// # }
    /// ```
    pub fn forget(mut self) {
        if let Some(limiter) = self.limiter.take() {
            limiter.forget_one();
        }
    }
}

impl Drop for OwnedPermit {
    fn drop(&mut self) {
        if let Some(limiter) = &self.limiter {
            limiter.give_back();
        }
    }
}

impl fmt::Debug for OwnedPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedPermit").finish_non_exhaustive()
    }
}

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
    limiter: Option<&'a Limiter>,
    node: usize,
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
    limiter: Option<Arc<Limiter>>,
    node: usize,
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
