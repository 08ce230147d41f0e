//! The guards a [`Limiter`] hands out: [`Permit`] and [`OwnedPermit`], each giving its permit
//! back when dropped.

use std::fmt;
use std::sync::Arc;

use super::Limiter;

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
    pub(super) limiter: &'a Limiter,
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
    pub(super) limiter: Option<Arc<Limiter>>,
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

impl Limiter {
    fn give_back(&self) {
        let waker = self.lock().give_back();
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn forget_one(&self) {
        self.lock().forgotten += 1;
    }
}
