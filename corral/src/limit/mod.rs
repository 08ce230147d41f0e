//! [`Limiter`]: a counting semaphore with FIFO hand-off, cancel-safe waiters, a bounded
//! variant and a total that can be resized while in use.
//!
//! The state is one `Mutex` (taken once, uncontended, on the fast path) over a count of free
//! permits and an intrusive-style FIFO of waiters kept in a slab, so that a waiter that goes
//! away is unlinked in O(1).
//!
//! One concern a file:
//!
//! * `mod.rs`: the [`Limiter`] and its public methods, and [`ReleaseError`].
//! * `queue`: the state under the lock: the permit counts and the FIFO of waiters.
//! * `permit`: the guards, [`Permit`] and [`OwnedPermit`], and how they give a permit back.
//! * `acquire`: the futures [`Acquire`] and [`AcquireOwned`], and how an acquire joins, waits
//!   in and leaves the queue.

mod acquire;
mod permit;
mod queue;

use std::fmt;
use std::sync::Arc;
use std::task::Waker;

use crate::rt::sync::{Mutex, MutexGuard};

use queue::{State, NIL};

pub use acquire::{Acquire, AcquireOwned};
pub use permit::{OwnedPermit, Permit};

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
            state: Mutex::new(State::new(permits)),
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

    /// Takes a permit that owns a reference to the limiter, if one is free and nobody is
    /// waiting for one, without waiting. Otherwise the same as
    /// [`try_acquire`](Limiter::try_acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let limiter = Arc::new(corral::Limiter::new(1));
    /// let p: corral::OwnedPermit = limiter.try_acquire_owned().unwrap();
    /// assert!(limiter.try_acquire_owned().is_none());
    /// drop(p);
    /// assert_eq!(limiter.available(), 1);
    /// ```
    pub fn try_acquire_owned(self: &Arc<Self>) -> Option<OwnedPermit> {
        let mut st = self.lock();
        if st.available > 0 && st.waiters() == 0 {
            st.available -= 1;
            Some(OwnedPermit {
                limiter: Some(self.clone()),
            })
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
