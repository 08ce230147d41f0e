//! [`CircuitBreaker`]: per key, after N consecutive failures, fail fast for a cool-down, then
//! let one probe through; its success closes the circuit, its failure opens it again.
//!
//! asyncio: hand-written loop (asyncio, Trio and tokio have no breaker; Polly and resilience4j
//! have it as middleware).
//!
//! The states, per key, on tokio's clock:
//!
//! * **Closed**: everything goes through; consecutive failures are counted, and a success
//!   resets the count. The `threshold`-th failure in a row opens the circuit.
//! * **Open** until `opened + cooldown`: every call fails fast with [`BreakerOpen`], without
//!   running.
//! * **Half-open**: the first call after the cool-down is the *probe*; the calls behind it
//!   fail fast while it runs. Its success closes the circuit (the count starts from zero); its
//!   failure opens it for another cool-down. A probe dropped without a verdict (cancelled)
//!   lets the next call probe.
//!
//! Verdicts that come late are ignored: a call let through while closed that fails after the
//! circuit opened does not extend the cool-down, nor does its success close the circuit.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

/// A circuit breaker per key (per host, per dependency): after `threshold` consecutive
/// failures of a key, its calls fail fast for `cooldown`, then one probe goes through; the
/// probe's success closes the circuit, its failure opens it again. See the module's states.
///
/// Use [`call`](CircuitBreaker::call) around a future whose `Err` is a failure, or
/// [`check`](CircuitBreaker::check) for a [`BreakerPermit`] and give the verdict yourself
/// (an HTTP 503 may be a failure though the request "succeeded"). Keys are made on the
/// first failure and forgotten when their circuit closes again, so only failing keys take
/// memory. Cloning is cheap and shares the circuits. It runs on tokio's clock.
///
/// asyncio: hand-written (a dict of failure counts and open-until times).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corral::{BreakerError, CircuitBreaker};
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let breaker = CircuitBreaker::new(2, Duration::from_secs(5));
/// let down = || async { Err::<(), _>("503") };
/// assert!(matches!(breaker.call("api", down()).await, Err(BreakerError::Failed("503"))));
/// assert!(matches!(breaker.call("api", down()).await, Err(BreakerError::Failed("503"))));
/// // Two failures in a row: open. Calls fail fast, without running.
/// assert!(matches!(breaker.call("api", down()).await, Err(BreakerError::Open(_))));
/// // Other keys are not affected.
/// assert_eq!(breaker.call("cdn", async { Ok::<_, &str>(1) }).await.unwrap(), 1);
/// // After the cool-down, one probe goes through; its success closes the circuit.
/// tokio::time::sleep(Duration::from_secs(5)).await;
/// assert_eq!(breaker.call("api", async { Ok::<_, &str>(2) }).await.unwrap(), 2);
/// assert_eq!(breaker.state(&"api"), corral::BreakerState::Closed { failures: 0 });
/// # }
/// ```
pub struct CircuitBreaker<K: Hash + Eq> {
    shared: Arc<Shared<K>>,
}

struct Shared<K> {
    threshold: u32,
    cooldown: Duration,
    map: Mutex<HashMap<K, Circuit>>,
}

/// A key's circuit; a key without one is closed with no failure.
#[derive(Clone, Copy, Debug)]
enum Circuit {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

impl<K> Shared<K> {
    fn lock(&self) -> MutexGuard<'_, HashMap<K, Circuit>> {
        // Each update is one insert or remove: a poisoned lock holds a usable map.
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A key's state, as [`CircuitBreaker::state`] reports it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corral::{BreakerState, CircuitBreaker};
/// let breaker = CircuitBreaker::<&str>::new(3, Duration::from_secs(1));
/// assert_eq!(breaker.state(&"db"), BreakerState::Closed { failures: 0 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Calls go through; `failures` in a row so far.
    Closed {
        /// Consecutive failures so far, below the threshold.
        failures: u32,
    },
    /// Calls fail fast until `until`.
    Open {
        /// When the next call may probe.
        until: Instant,
    },
    /// The cool-down is over: the next call probes (or a probe is running, and calls fail
    /// fast until its verdict).
    HalfOpen,
}

/// The fast failure of a call whose circuit is open (or half-open with a probe running): the
/// call did not run.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let breaker = corral::CircuitBreaker::new(1, Duration::from_secs(30));
/// breaker.check(&"api").unwrap().failure();
/// let open = breaker.check(&"api").unwrap_err();
/// assert_eq!(open.retry_after(), Some(Duration::from_secs(30)));
/// assert_eq!(open.to_string(), "circuit open: failing fast for 30s");
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BreakerOpen {
    /// When a probe may go; `None` while a probe is running.
    until: Option<Instant>,
}

impl BreakerOpen {
    /// When a call may probe again; `None` while a probe is running (its verdict decides).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio::time::Instant;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let breaker = corral::CircuitBreaker::new(1, Duration::from_secs(1));
    /// breaker.check(&1).unwrap().failure();
    /// let at = breaker.check(&1).unwrap_err().until();
    /// assert_eq!(at, Some(Instant::now() + Duration::from_secs(1)));
    /// # }
    /// ```
    pub fn until(&self) -> Option<Instant> {
        self.until
    }

    /// How long until a call may probe, from now; `None` while a probe is running.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let breaker = corral::CircuitBreaker::new(1, Duration::from_secs(1));
    /// breaker.check(&1).unwrap().failure();
    /// tokio::time::sleep(Duration::from_millis(400)).await;
    /// let open = breaker.check(&1).unwrap_err();
    /// assert_eq!(open.retry_after(), Some(Duration::from_millis(600)));
    /// # }
    /// ```
    pub fn retry_after(&self) -> Option<Duration> {
        self.until
            .map(|at| at.saturating_duration_since(Instant::now()))
    }
}

impl fmt::Display for BreakerOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.retry_after() {
            Some(d) => write!(f, "circuit open: failing fast for {d:?}"),
            None => f.write_str("circuit half-open: failing fast while a probe runs"),
        }
    }
}

impl std::error::Error for BreakerOpen {}

/// The error of [`CircuitBreaker::call`]: the call failed fast, or it ran and failed.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corral::BreakerError;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let breaker = corral::CircuitBreaker::new(1, Duration::from_secs(1));
/// let e = breaker.call("k", async { Err::<(), _>("refused") }).await.unwrap_err();
/// assert_eq!(e.to_string(), "refused");
/// let e = breaker.call("k", async { Ok::<(), &str>(()) }).await.unwrap_err();
/// assert!(e.is_open());
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakerError<E> {
    /// The circuit was open: the call did not run.
    Open(BreakerOpen),
    /// The call ran and failed (and counted as a failure).
    Failed(E),
}

impl<E> BreakerError<E> {
    /// True if the call failed fast, without running.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!corral::BreakerError::Failed("x").is_open());
    /// ```
    pub fn is_open(&self) -> bool {
        matches!(self, BreakerError::Open(_))
    }
}

impl<E: fmt::Display> fmt::Display for BreakerError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BreakerError::Open(open) => open.fmt(f),
            BreakerError::Failed(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for BreakerError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BreakerError::Open(open) => Some(open),
            BreakerError::Failed(e) => Some(e),
        }
    }
}

impl<K: Hash + Eq + Clone> CircuitBreaker<K> {
    /// A breaker that opens a key's circuit after `threshold` consecutive failures (`0`
    /// counts as 1), for `cooldown`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let breaker = corral::CircuitBreaker::<String>::new(5, Duration::from_secs(30));
    /// assert_eq!(breaker.keys(), 0);
    /// ```
    pub fn new(threshold: u32, cooldown: Duration) -> CircuitBreaker<K> {
        CircuitBreaker {
            shared: Arc::new(Shared {
                threshold: threshold.max(1),
                cooldown,
                map: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Asks to make a call for `key`: a [`BreakerPermit`] to report the call's verdict with,
    /// or [`BreakerOpen`] if the call must fail fast. After the cool-down, the first check
    /// gets the probe's permit.
    ///
    /// # Errors
    ///
    /// [`BreakerOpen`] while the key's circuit is open, or half-open with a probe running.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let breaker = corral::CircuitBreaker::new(1, Duration::from_secs(1));
    /// let permit = breaker.check(&"api").unwrap();
    /// let status = 503; // the call "succeeded", but the answer is a failure
    /// if status >= 500 { permit.failure() } else { permit.success() }
    /// assert!(breaker.check(&"api").is_err());
    /// # }
    /// ```
    pub fn check(&self, key: &K) -> Result<BreakerPermit<K>, BreakerOpen> {
        let mut map = self.shared.lock();
        let probe = match map.get_mut(key) {
            None => false,
            Some(c) => match *c {
                Circuit::Closed { .. } => false,
                Circuit::Open { until } if Instant::now() < until => {
                    return Err(BreakerOpen { until: Some(until) });
                }
                Circuit::HalfOpen { probing: true } => return Err(BreakerOpen { until: None }),
                Circuit::Open { .. } | Circuit::HalfOpen { probing: false } => {
                    *c = Circuit::HalfOpen { probing: true };
                    true
                }
            },
        };
        drop(map);
        Ok(BreakerPermit {
            shared: self.shared.clone(),
            key: Some(key.clone()),
            probe,
        })
    }

    /// Runs `fut` for `key` unless its circuit is open, and counts an `Err` as a failure and
    /// an `Ok` as a success. A call that fails fast never polls `fut`.
    ///
    /// # Errors
    ///
    /// [`BreakerError::Open`] if the call failed fast; [`BreakerError::Failed`] with the
    /// future's error.
    ///
    /// # Cancel safety
    ///
    /// Dropping the call drops `fut` and gives no verdict: nothing is counted, and a probe
    /// dropped this way lets the next call probe.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let breaker = corral::CircuitBreaker::new(3, Duration::from_secs(10));
    /// let v = breaker.call("db", async { Ok::<_, std::io::Error>(42) }).await.unwrap();
    /// assert_eq!(v, 42);
    /// # }
    /// ```
    pub async fn call<Fut, T, E>(&self, key: K, fut: Fut) -> Result<T, BreakerError<E>>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        let permit = self.check(&key).map_err(BreakerError::Open)?;
        match fut.await {
            Ok(v) => {
                permit.success();
                Ok(v)
            }
            Err(e) => {
                permit.failure();
                Err(BreakerError::Failed(e))
            }
        }
    }

    /// The state of `key`'s circuit now. An open circuit whose cool-down is over reports
    /// [`BreakerState::HalfOpen`]: the next call probes.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use corral::BreakerState;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let breaker = corral::CircuitBreaker::new(2, Duration::from_secs(1));
    /// breaker.check(&"a").unwrap().failure();
    /// assert_eq!(breaker.state(&"a"), BreakerState::Closed { failures: 1 });
    /// # }
    /// ```
    pub fn state<Q>(&self, key: &Q) -> BreakerState
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        match self.shared.lock().get(key) {
            None => BreakerState::Closed { failures: 0 },
            Some(Circuit::Closed { failures }) => BreakerState::Closed {
                failures: *failures,
            },
            Some(Circuit::Open { until }) if Instant::now() < *until => {
                BreakerState::Open { until: *until }
            }
            Some(_) => BreakerState::HalfOpen,
        }
    }

    /// How many keys have a circuit in memory: those with failures, open or half-open.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let breaker = corral::CircuitBreaker::new(2, Duration::from_secs(1));
    /// breaker.check(&"a").unwrap().failure();
    /// assert_eq!(breaker.keys(), 1);
    /// breaker.check(&"a").unwrap().success(); // closed with no failure: forgotten
    /// assert_eq!(breaker.keys(), 0);
    /// # }
    /// ```
    pub fn keys(&self) -> usize {
        self.shared.lock().len()
    }

    /// The threshold it was made with.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = corral::CircuitBreaker::<u8>::new(4, std::time::Duration::from_secs(1));
    /// assert_eq!(b.threshold(), 4);
    /// ```
    pub fn threshold(&self) -> u32 {
        self.shared.threshold
    }

    /// The cool-down it was made with.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = corral::CircuitBreaker::<u8>::new(4, Duration::from_secs(9));
    /// assert_eq!(b.cooldown(), Duration::from_secs(9));
    /// ```
    pub fn cooldown(&self) -> Duration {
        self.shared.cooldown
    }
}

impl<K: Hash + Eq> Clone for CircuitBreaker<K> {
    fn clone(&self) -> Self {
        CircuitBreaker {
            shared: self.shared.clone(),
        }
    }
}

impl<K: Hash + Eq> fmt::Debug for CircuitBreaker<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("threshold", &self.shared.threshold)
            .field("cooldown", &self.shared.cooldown)
            .field("keys", &self.shared.lock().len())
            .finish()
    }
}

/// Leave to make one call through a [`CircuitBreaker`]; report how it went with
/// [`success`](BreakerPermit::success) or [`failure`](BreakerPermit::failure). Dropping it
/// without a verdict counts nothing (a cancelled call), and a dropped probe lets the next
/// call probe.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let breaker = corral::CircuitBreaker::new(1, Duration::from_secs(1));
/// let permit: corral::BreakerPermit<&str> = breaker.check(&"k").unwrap();
/// assert!(!permit.is_probe());
/// permit.success();
/// # }
/// ```
#[must_use = "a permit counts nothing unless given a verdict"]
pub struct BreakerPermit<K: Hash + Eq> {
    shared: Arc<Shared<K>>,
    /// Taken by the verdict; still here when dropped without one.
    key: Option<K>,
    probe: bool,
}

impl<K: Hash + Eq> BreakerPermit<K> {
    /// True if this call is the probe of a half-open circuit: its verdict closes or reopens it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let breaker = corral::CircuitBreaker::new(1, Duration::from_secs(1));
    /// breaker.check(&"k").unwrap().failure();
    /// tokio::time::sleep(Duration::from_secs(1)).await;
    /// let probe = breaker.check(&"k").unwrap();
    /// assert!(probe.is_probe());
    /// assert!(breaker.check(&"k").is_err()); // the others fail fast while it runs
    /// # }
    /// ```
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    /// The call succeeded: a closed circuit's count of failures starts again from zero, and a
    /// probe closes the circuit.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use corral::BreakerState;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let breaker = corral::CircuitBreaker::new(3, Duration::from_secs(1));
    /// breaker.check(&"k").unwrap().failure();
    /// breaker.check(&"k").unwrap().success();
    /// assert_eq!(breaker.state(&"k"), BreakerState::Closed { failures: 0 });
    /// # }
    /// ```
    pub fn success(mut self) {
        let Some(key) = self.key.take() else { return };
        let mut map = self.shared.lock();
        match map.get(&key) {
            Some(Circuit::Closed { .. }) => {
                map.remove(&key);
            }
            Some(Circuit::HalfOpen { probing: true }) if self.probe => {
                map.remove(&key);
            }
            // Late: the circuit opened since this call was let through.
            _ => {}
        }
    }

    /// The call failed: a closed circuit counts it, and opens at the threshold; a probe opens
    /// the circuit for another cool-down.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use corral::BreakerState;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let breaker = corral::CircuitBreaker::new(2, Duration::from_secs(1));
    /// breaker.check(&"k").unwrap().failure();
    /// breaker.check(&"k").unwrap().failure();
    /// assert!(matches!(breaker.state(&"k"), BreakerState::Open { .. }));
    /// # }
    /// ```
    pub fn failure(mut self) {
        let Some(key) = self.key.take() else { return };
        let open = Circuit::Open {
            until: Instant::now() + self.shared.cooldown,
        };
        let mut map = self.shared.lock();
        match map.get_mut(&key) {
            None => {
                let circuit = if self.shared.threshold <= 1 {
                    open
                } else {
                    Circuit::Closed { failures: 1 }
                };
                map.insert(key, circuit);
            }
            Some(c) => match *c {
                Circuit::Closed { failures } => {
                    *c = if failures + 1 >= self.shared.threshold {
                        open
                    } else {
                        Circuit::Closed {
                            failures: failures + 1,
                        }
                    };
                }
                Circuit::HalfOpen { probing: true } if self.probe => *c = open,
                // Late: the circuit opened since this call was let through.
                _ => {}
            },
        }
    }
}

impl<K: Hash + Eq> Drop for BreakerPermit<K> {
    fn drop(&mut self) {
        // No verdict: a cancelled probe lets the next call probe.
        if let (Some(key), true) = (self.key.take(), self.probe) {
            let mut map = self.shared.lock();
            if let Some(Circuit::HalfOpen { probing }) = map.get_mut(&key) {
                *probing = false;
            }
        }
    }
}

impl<K: Hash + Eq> fmt::Debug for BreakerPermit<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerPermit")
            .field("probe", &self.probe)
            .finish_non_exhaustive()
    }
}
