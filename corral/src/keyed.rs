//! [`KeyedLimiter`]: at most N at once per key (per host, per tenant), each key a [`Limiter`]
//! of its own: FIFO with hand-off and cancel-safe, and forgotten once nobody holds or waits
//! for it.
//!
//! asyncio: hand-written loop (a `defaultdict(lambda: asyncio.Semaphore(n))`, which never
//! forgets a key).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{ready, Context, Poll};

use crate::limit::{AcquireOwned, Limiter, OwnedPermit};

/// At most `per_key` holders at once for each key: a map from key to [`Limiter`], made on
/// first use and dropped when the last permit or waiter of its key goes away, so that a
/// stream of ten million hosts keeps only the busy ones in memory.
///
/// Each key's limiter is FIFO with hand-off and cancel-safe (see [`Limiter`]): waiters for a
/// key are served in the order they first polled, a dropped waiter loses nothing, and keys do
/// not wait for one another. Cloning is cheap and shares the limits.
///
/// asyncio: hand-written (a dict of `Semaphore`s).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tokio::time::Instant;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let per_host = corral::KeyedLimiter::new(2);
/// let start = Instant::now();
/// let urls = ["a.test/1", "a.test/2", "a.test/3", "a.test/4", "b.test/1"];
/// let fetches = urls.map(|url| {
///     let per_host = per_host.clone();
///     async move {
///         let host = url.split('/').next().unwrap().to_string();
///         let _permit = per_host.acquire(host).await;
///         tokio::time::sleep(Duration::from_secs(1)).await;
///         Ok::<_, ()>(url)
///     }
/// });
/// corral::gather(fetches).await.unwrap();
/// // a.test: two at a time, so two seconds; b.test alongside.
/// assert_eq!(start.elapsed(), Duration::from_secs(2));
/// assert_eq!(per_host.keys(), 0); // idle keys are forgotten
/// # }
/// ```
pub struct KeyedLimiter<K: Hash + Eq> {
    shared: Arc<Shared<K>>,
}

struct Shared<K> {
    per_key: usize,
    map: Mutex<HashMap<K, Arc<Limiter>>>,
}

impl<K: Hash + Eq> Shared<K> {
    fn lock(&self) -> MutexGuard<'_, HashMap<K, Arc<Limiter>>> {
        // Map updates are single inserts and removes: a poisoned lock holds a usable map.
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets `key` if nothing holds its limiter but the map. Every other holder (a permit,
    /// an acquire) got its `Arc` under this lock, so none can appear while we look.
    fn forget_if_idle(&self, key: &K) {
        let mut map = self.lock();
        if map.get(key).is_some_and(|l| Arc::strong_count(l) == 1) {
            map.remove(key);
        }
    }
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    /// A limiter of `per_key` at once for each key. `0` lets nobody through.
    ///
    /// # Examples
    ///
    /// ```
    /// let limits = corral::KeyedLimiter::<String>::new(4);
    /// assert_eq!(limits.per_key(), 4);
    /// ```
    pub fn new(per_key: usize) -> KeyedLimiter<K> {
        KeyedLimiter {
            shared: Arc::new(Shared {
                per_key,
                map: Mutex::new(HashMap::new()),
            }),
        }
    }

    fn limiter(&self, key: &K) -> Arc<Limiter> {
        let mut map = self.shared.lock();
        map.entry(key.clone())
            .or_insert_with(|| Arc::new(Limiter::new(self.shared.per_key)))
            .clone()
    }

    /// Waits for a permit for `key`. The permit gives its place back when dropped.
    ///
    /// asyncio: `async with semaphores[key]:`.
    ///
    /// # Cancel safety
    ///
    /// As for [`Limiter::acquire`]: dropping the future gives up its place in the key's
    /// queue, and passes on a permit it was handed but had not picked up.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let limits = corral::KeyedLimiter::new(1);
    /// let a = limits.acquire("a").await;
    /// let b = limits.acquire("b").await; // another key: no wait
    /// assert_eq!((*a.key(), *b.key()), ("a", "b"));
    /// assert!(limits.try_acquire("a").is_none());
    /// # }
    /// ```
    pub fn acquire(&self, key: K) -> KeyedAcquire<K> {
        let acquire = self.limiter(&key).acquire_owned();
        KeyedAcquire {
            shared: self.shared.clone(),
            key: Some(key),
            acquire: Some(acquire),
        }
    }

    /// Takes a permit for `key` if one is free and nobody waits for one, without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let limits = corral::KeyedLimiter::new(1);
    /// let p = limits.try_acquire(7).unwrap();
    /// assert!(limits.try_acquire(7).is_none());
    /// drop(p);
    /// assert!(limits.try_acquire(7).is_some());
    /// ```
    pub fn try_acquire(&self, key: K) -> Option<KeyedPermit<K>> {
        let permit = self.limiter(&key).try_acquire_owned();
        match permit {
            Some(permit) => Some(KeyedPermit {
                shared: self.shared.clone(),
                key: Some(key),
                permit: Some(permit),
            }),
            None => {
                self.shared.forget_if_idle(&key);
                None
            }
        }
    }
}

impl<K: Hash + Eq> KeyedLimiter<K> {
    /// How many may hold a permit for one key at once.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corral::KeyedLimiter::<u32>::new(3).per_key(), 3);
    /// ```
    pub fn per_key(&self) -> usize {
        self.shared.per_key
    }

    /// How many keys have a holder or a waiter now (idle keys are forgotten).
    ///
    /// # Examples
    ///
    /// ```
    /// let limits = corral::KeyedLimiter::new(2);
    /// let p = limits.try_acquire("a");
    /// assert_eq!(limits.keys(), 1);
    /// drop(p);
    /// assert_eq!(limits.keys(), 0);
    /// ```
    pub fn keys(&self) -> usize {
        self.shared.lock().len()
    }

    /// Permits out for `key` now (see [`Limiter::in_use`]); 0 for a key nobody uses.
    ///
    /// # Examples
    ///
    /// ```
    /// let limits = corral::KeyedLimiter::new(2);
    /// let _p = limits.try_acquire("a".to_string());
    /// assert_eq!(limits.in_use("a"), 1);
    /// assert_eq!(limits.in_use("b"), 0);
    /// ```
    pub fn in_use<Q>(&self, key: &Q) -> usize
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shared.lock().get(key).map_or(0, |l| l.in_use())
    }
}

impl<K: Hash + Eq> Clone for KeyedLimiter<K> {
    fn clone(&self) -> Self {
        KeyedLimiter {
            shared: self.shared.clone(),
        }
    }
}

impl<K: Hash + Eq> fmt::Debug for KeyedLimiter<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedLimiter")
            .field("per_key", &self.shared.per_key)
            .field("keys", &self.keys())
            .finish()
    }
}

/// The future returned by [`KeyedLimiter::acquire`].
///
/// # Cancel safety
///
/// As for [`Acquire`](crate::Acquire); a key left with nobody is forgotten.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let limits = corral::KeyedLimiter::new(1);
/// let held = limits.acquire("host").await;
/// let mut waiting: corral::KeyedAcquire<&str> = limits.acquire("host");
/// assert!(futures::poll!(&mut waiting).is_pending());
/// drop(waiting);
/// drop(held);
/// assert_eq!(limits.keys(), 0);
/// # }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct KeyedAcquire<K: Hash + Eq> {
    shared: Arc<Shared<K>>,
    key: Option<K>,
    acquire: Option<AcquireOwned>,
}

// Nothing in it is pinned: the key is only moved out, and `AcquireOwned` is `Unpin`.
impl<K: Hash + Eq> Unpin for KeyedAcquire<K> {}

impl<K: Hash + Eq> Future for KeyedAcquire<K> {
    type Output = KeyedPermit<K>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<KeyedPermit<K>> {
        let this = &mut *self;
        let acquire = this
            .acquire
            .as_mut()
            .expect("KeyedAcquire polled after it resolved");
        let permit = ready!(Pin::new(acquire).poll(cx));
        this.acquire = None;
        Poll::Ready(KeyedPermit {
            shared: this.shared.clone(),
            key: this.key.take(),
            permit: Some(permit),
        })
    }
}

impl<K: Hash + Eq> Drop for KeyedAcquire<K> {
    fn drop(&mut self) {
        if let Some(acquire) = self.acquire.take() {
            drop(acquire); // first, so that its reference to the key's limiter is gone
            if let Some(key) = &self.key {
                self.shared.forget_if_idle(key);
            }
        }
    }
}

impl<K: Hash + Eq + fmt::Debug> fmt::Debug for KeyedAcquire<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedAcquire")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// A permit for one key of a [`KeyedLimiter`], given back when dropped (and the key forgotten
/// if nobody else holds or waits for it). It owns what it needs, so it can move into a task.
///
/// # Examples
///
/// ```
/// let limits = corral::KeyedLimiter::new(1);
/// let permit: corral::KeyedPermit<u8> = limits.try_acquire(1).unwrap();
/// assert_eq!(*permit.key(), 1);
/// ```
#[must_use = "the permit is given back as soon as it is dropped"]
pub struct KeyedPermit<K: Hash + Eq> {
    shared: Arc<Shared<K>>,
    /// `Some` until dropped.
    key: Option<K>,
    permit: Option<OwnedPermit>,
}

impl<K: Hash + Eq> KeyedPermit<K> {
    /// The key this permit is for.
    ///
    /// # Examples
    ///
    /// ```
    /// let limits = corral::KeyedLimiter::new(1);
    /// assert_eq!(limits.try_acquire("x").unwrap().key(), &"x");
    /// ```
    pub fn key(&self) -> &K {
        self.key
            .as_ref()
            .expect("a permit keeps its key until dropped")
    }
}

impl<K: Hash + Eq> Drop for KeyedPermit<K> {
    fn drop(&mut self) {
        drop(self.permit.take()); // first, so that its reference to the limiter is gone
        if let Some(key) = &self.key {
            self.shared.forget_if_idle(key);
        }
    }
}

impl<K: Hash + Eq + fmt::Debug> fmt::Debug for KeyedPermit<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedPermit")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}
