//! [`RateLimiter`]: at most a [`Rate`] of operations, with bursts, on tokio's clock.
//!
//! asyncio: hand-written loop (asyncio and tokio have no rate limiter).
//!
//! The algorithm is GCRA, the generic cell rate algorithm of ATM networks (also behind
//! `governor` and redis-cell): one instant, the *theoretical arrival time* (TAT) of the next
//! operation if they came exactly at the rate, and a tolerance of `burst - 1` intervals.
//! An operation may go when `now >= TAT - (burst - 1) × interval`; going moves the TAT one
//! interval on. It is a token bucket of `burst` tokens refilled one per interval, kept as one
//! number.
//!
//! Why not the `governor` crate: its `until_ready` sleeps on a timer of its own
//! (`futures-timer`) against its own clock, so tokio's paused clock neither drives nor sees
//! it, and tests of code that uses it would run in real time. The algorithm is a dozen lines;
//! the FIFO queue of waiters around it is what makes it fair and cancel-safe.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// A rate: one operation per [`interval`](Rate::interval).
///
/// Parses from the forms the command takes: `50` or `50/s` (per second), `3000/min` or
/// `3000/m`, `10/h`, and decimals such as `0.5/s`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corral::Rate;
///
/// assert_eq!(Rate::per_second(4).interval(), Duration::from_millis(250));
/// assert_eq!("3000/min".parse::<Rate>().unwrap(), Rate::per_minute(3000));
/// assert_eq!("50".parse::<Rate>().unwrap(), Rate::per_second(50));
/// assert!("fast".parse::<Rate>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    interval: Duration,
}

impl Rate {
    /// `n` operations per `period`. The interval is rounded up to a whole nanosecond, so the
    /// rate is never exceeded.
    ///
    /// # Panics
    ///
    /// If `n` is zero or `period` is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let r = corral::Rate::new(3, Duration::from_secs(1));
    /// assert_eq!(r.interval(), Duration::from_nanos(333_333_334));
    /// ```
    pub fn new(n: u32, period: Duration) -> Rate {
        assert!(n > 0, "a rate needs at least one operation per period");
        assert!(!period.is_zero(), "a rate's period must not be zero");
        let nanos = period.as_nanos().div_ceil(u128::from(n));
        Rate::from_interval(Duration::from_nanos(
            u64::try_from(nanos).unwrap_or(u64::MAX),
        ))
    }

    /// `n` operations per second.
    ///
    /// # Panics
    ///
    /// If `n` is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corral::Rate::per_second(20).interval().as_millis(), 50);
    /// ```
    pub fn per_second(n: u32) -> Rate {
        Rate::new(n, Duration::from_secs(1))
    }

    /// `n` operations per minute.
    ///
    /// # Panics
    ///
    /// If `n` is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corral::Rate::per_minute(120).interval().as_millis(), 500);
    /// ```
    pub fn per_minute(n: u32) -> Rate {
        Rate::new(n, Duration::from_secs(60))
    }

    /// One operation every `interval`.
    ///
    /// # Panics
    ///
    /// If `interval` is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let r = corral::Rate::from_interval(Duration::from_millis(10));
    /// assert_eq!(r, corral::Rate::per_second(100));
    /// ```
    pub fn from_interval(interval: Duration) -> Rate {
        assert!(!interval.is_zero(), "a rate's interval must not be zero");
        Rate { interval }
    }

    /// The time between two operations at this rate.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corral::Rate::per_second(1).interval(), std::time::Duration::from_secs(1));
    /// ```
    pub fn interval(&self) -> Duration {
        self.interval
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Three decimals at most: 3/s is kept as an interval of 333,333,334 ns.
        let per_sec = format!("{:.3}", 1.0 / self.interval.as_secs_f64());
        let per_sec = per_sec.trim_end_matches('0').trim_end_matches('.');
        write!(f, "{per_sec}/s")
    }
}

/// Why a string is not a [`Rate`].
///
/// # Examples
///
/// ```
/// let e = "10/week".parse::<corral::Rate>().unwrap_err();
/// assert_eq!(
///     e.to_string(),
///     "invalid rate '10/week': expected a positive number with an optional unit, \
///      such as 50, 50/s, 3000/min or 10/h"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseRateError {
    input: String,
}

impl fmt::Display for ParseRateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid rate '{}': expected a positive number with an optional unit, such as 50, \
             50/s, 3000/min or 10/h",
            self.input
        )
    }
}

impl std::error::Error for ParseRateError {}

impl FromStr for Rate {
    type Err = ParseRateError;

    fn from_str(s: &str) -> Result<Rate, ParseRateError> {
        let err = || ParseRateError {
            input: s.to_string(),
        };
        let (num, unit) = match s.trim().split_once('/') {
            Some((n, u)) => (n.trim(), u.trim()),
            None => (s.trim(), "s"),
        };
        let period = match unit {
            "s" | "sec" | "second" => 1.0,
            "m" | "min" | "minute" => 60.0,
            "h" | "hour" => 3600.0,
            _ => return Err(err()),
        };
        let n: f64 = num.parse().map_err(|_| err())?;
        if !(n.is_finite() && n > 0.0) {
            return Err(err());
        }
        let nanos = (period * 1e9 / n).ceil();
        if !(1.0..=u64::MAX as f64).contains(&nanos) {
            return Err(err());
        }
        Ok(Rate::from_interval(Duration::from_nanos(nanos as u64)))
    }
}

/// A rate limiter: lets operations go at most at a [`Rate`], with up to `burst` at once after
/// a quiet spell. [`until_ready`](RateLimiter::until_ready) waits for the next slot.
///
/// * **Tokio's clock.** It reads [`tokio::time::Instant`] and sleeps with tokio's timer, so
///   under a paused clock (`#[tokio::test(start_paused = true)]`) a test of a minute's traffic
///   runs at once.
/// * **FIFO.** Waiters go in the order they first polled; a newcomer never overtakes a waiter,
///   even when a slot is free.
/// * **Cancel-safe.** A waiter takes its slot only at the moment it resolves, so one dropped
///   while waiting has taken nothing, and the next waiter moves up.
/// * **The rate holds.** Over a long run, the count of operations stays within one of
///   `burst + elapsed / interval`: under a steady backlog the slots keep their spacing
///   exactly, even though tokio's timer wakes on whole milliseconds, and a runtime that
///   stalled earns at most one slot of catch-up beyond the burst.
///
/// Share it by reference, or in an `Arc` across tasks. Dropping it while waiters exist is
/// impossible (they borrow it).
///
/// asyncio: hand-written loop (`await asyncio.sleep(...)` between sends).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tokio::time::Instant;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let limiter = corral::RateLimiter::new(corral::Rate::per_second(10), 1);
/// let start = Instant::now();
/// let sends = (0..5).map(|i| {
///     let limiter = &limiter;
///     async move {
///         limiter.until_ready().await;
///         Ok::<_, ()>(i)
///     }
/// });
/// corral::gather(sends).await.unwrap();
/// // 10 a second: the fifth goes at 400 ms.
/// assert_eq!(start.elapsed(), Duration::from_millis(400));
/// # }
/// ```
pub struct RateLimiter {
    rate: Rate,
    burst: u32,
    state: Mutex<State>,
}

struct Waiter {
    waker: Option<Waker>,
    /// When it first polled: its arrival, in GCRA's terms.
    arrived: Instant,
}

struct State {
    /// The theoretical arrival time; `None` until the first operation (a full burst).
    tat: Option<Instant>,
    /// Waiters by ticket: the first key is the head, the only one that may take a slot.
    queue: BTreeMap<u64, Waiter>,
    next_ticket: u64,
}

impl State {
    /// The earliest instant the next operation may go; `None`: at once.
    fn allowed_at(&self, tolerance: Duration) -> Option<Instant> {
        self.tat.and_then(|tat| tat.checked_sub(tolerance))
    }

    /// One operation goes, counted as if at `at` (at or before now).
    fn take(&mut self, at: Instant, interval: Duration) {
        let from = self.tat.map_or(at, |tat| tat.max(at));
        self.tat = Some(from + interval);
    }

    /// The head's waker, to wake after unlocking: it may take a slot now, or must arm a timer.
    fn wake_head(&mut self) -> Option<Waker> {
        self.queue
            .first_key_value()
            .and_then(|(_, w)| w.waker.clone())
    }
}

impl RateLimiter {
    /// A limiter at `rate`, letting `burst` operations go at once after a quiet spell (and
    /// right after it is made).
    ///
    /// # Panics
    ///
    /// If `burst` is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = corral::RateLimiter::new(corral::Rate::per_second(1), 3);
    /// assert!(limiter.try_acquire());
    /// assert!(limiter.try_acquire());
    /// assert!(limiter.try_acquire());
    /// assert!(!limiter.try_acquire()); // the burst is spent: the next slot is in a second
    /// ```
    pub fn new(rate: Rate, burst: u32) -> RateLimiter {
        assert!(burst > 0, "a rate limiter's burst must be at least 1");
        RateLimiter {
            rate,
            burst,
            state: Mutex::new(State {
                tat: None,
                queue: BTreeMap::new(),
                next_ticket: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No user code runs under the lock, and each update leaves the state consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn tolerance(&self) -> Duration {
        self.rate.interval.saturating_mul(self.burst - 1)
    }

    /// Waits for the next slot. Resolves at once if a slot is free and nobody is waiting.
    ///
    /// # Cancel safety
    ///
    /// A slot is taken only when the future resolves: dropping it before then takes nothing
    /// and lets the next waiter move up.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio::time::Instant;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let limiter = corral::RateLimiter::new(corral::Rate::per_second(2), 1);
    /// let start = Instant::now();
    /// for _ in 0..3 {
    ///     limiter.until_ready().await;
    /// }
    /// assert_eq!(start.elapsed(), Duration::from_secs(1));
    /// # }
    /// ```
    pub fn until_ready(&self) -> UntilReady<'_> {
        UntilReady {
            limiter: self,
            wait: Waiting::default(),
        }
    }

    /// Takes a slot if one is free now and nobody is waiting, without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let limiter = corral::RateLimiter::new(corral::Rate::per_second(1), 1);
    /// assert!(limiter.try_acquire());
    /// assert!(!limiter.try_acquire());
    /// tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    /// assert!(limiter.try_acquire());
    /// # }
    /// ```
    pub fn try_acquire(&self) -> bool {
        let mut st = self.lock();
        let now = Instant::now();
        if !st.queue.is_empty() || st.allowed_at(self.tolerance()).is_some_and(|a| a > now) {
            return false;
        }
        st.take(now, self.rate.interval);
        true
    }

    /// The rate it was made with.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::{Rate, RateLimiter};
    /// assert_eq!(RateLimiter::new(Rate::per_second(5), 1).rate(), Rate::per_second(5));
    /// ```
    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// The burst it was made with.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::{Rate, RateLimiter};
    /// assert_eq!(RateLimiter::new(Rate::per_second(5), 4).burst(), 4);
    /// ```
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// How many futures from [`until_ready`](RateLimiter::until_ready) are waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let limiter = corral::RateLimiter::new(corral::Rate::per_second(1), 1);
    /// limiter.until_ready().await;
    /// let mut next = limiter.until_ready();
    /// assert!(futures::poll!(&mut next).is_pending());
    /// assert_eq!(limiter.waiters(), 1);
    /// drop(next);
    /// assert_eq!(limiter.waiters(), 0);
    /// # }
    /// ```
    pub fn waiters(&self) -> usize {
        self.lock().queue.len()
    }

    /// One poll of the waiter holding `ticket` (`None` before its first poll). `Ok(())`: it
    /// took a slot; `Err(Some(at))`: it is the head and may go at `at`; `Err(None)`: it waits
    /// behind others.
    fn poll_slot(&self, ticket: &mut Option<u64>, waker: &Waker) -> Result<(), Option<Instant>> {
        let mut st = self.lock();
        let now = Instant::now();
        let tolerance = self.tolerance();
        let t = match *ticket {
            Some(t) => {
                if let Some(w) = st.queue.get_mut(&t) {
                    match &w.waker {
                        Some(old) if old.will_wake(waker) => {}
                        _ => w.waker = Some(waker.clone()),
                    }
                }
                t
            }
            None => {
                if st.queue.is_empty() && st.allowed_at(tolerance).is_none_or(|a| a <= now) {
                    st.take(now, self.rate.interval);
                    return Ok(());
                }
                let t = st.next_ticket;
                st.next_ticket += 1;
                st.queue.insert(
                    t,
                    Waiter {
                        waker: Some(waker.clone()),
                        arrived: now,
                    },
                );
                *ticket = Some(t);
                t
            }
        };
        let (&head, waiter) = st.queue.first_key_value().expect("our ticket is queued");
        if head != t {
            return Err(None);
        }
        let arrived = waiter.arrived;
        match st.allowed_at(tolerance) {
            Some(at) if at > now => Err(Some(at)),
            allowed => {
                // Counted at the instant it could have gone (its arrival, or when the slot
                // opened), not when the timer fired: tokio's timer rounds up to whole
                // milliseconds, and counting the late wake-up would slow a backlog down. But
                // no earlier than one interval (or the timer's millisecond) ago, so that a
                // runtime that stalled does not earn a catch-up burst beyond one slot.
                let ideal = allowed.map_or(arrived, |a| a.max(arrived));
                let slack = self.rate.interval.max(Duration::from_millis(1));
                let at = now
                    .checked_sub(slack)
                    .map_or(ideal, |floor| ideal.max(floor));
                st.take(at, self.rate.interval);
                st.queue.remove(&t);
                *ticket = None;
                let next = st.wake_head();
                drop(st);
                if let Some(w) = next {
                    w.wake();
                }
                Ok(())
            }
        }
    }

    /// Takes up to `n` slots at once if they are free now and nobody is waiting, and returns
    /// how many it took (0 when none is free now, or others wait: then queue as usual). The
    /// same GCRA step as one slot, `n` times over in one lock and one clock read: what lets a
    /// combinator whose inputs are all known (an exact iterator) start them under a rate that
    /// does not hold them back at the cost of a plain start.
    fn take_now(&self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        let mut st = self.lock();
        if !st.queue.is_empty() {
            return 0;
        }
        let now = Instant::now();
        let interval = self.rate.interval;
        // How far the theoretical arrival time is ahead of now; a slot may go while that is
        // within the tolerance, and each slot moves it one interval on.
        let ahead = st
            .tat
            .map_or(Duration::ZERO, |tat| tat.saturating_duration_since(now));
        let Some(spare) = self.tolerance().checked_sub(ahead) else {
            return 0;
        };
        let free = spare.as_nanos() / interval.as_nanos() + 1;
        let k = u32::try_from(free).unwrap_or(u32::MAX).min(n);
        let from = st.tat.map_or(now, |tat| tat.max(now));
        st.tat = Some(from + interval.saturating_mul(k));
        k
    }

    /// Gives back `n` slots taken by [`take_now`](Self::take_now) and never used: the
    /// theoretical arrival time moves back `n` intervals (a bucket refilled by as many tokens;
    /// never more than a full burst, since taking counts from now at the earliest).
    fn give_back(&self, n: u32) {
        if n == 0 {
            return;
        }
        let next = {
            let mut st = self.lock();
            let back = self.rate.interval.saturating_mul(n);
            st.tat = st
                .tat
                .map(|tat| tat.checked_sub(back).unwrap_or(tat.min(Instant::now())));
            st.wake_head()
        };
        if let Some(w) = next {
            w.wake();
        }
    }

    /// A waiter went away before it took a slot.
    fn leave(&self, ticket: u64) {
        let next = {
            let mut st = self.lock();
            let was_head = st
                .queue
                .first_key_value()
                .is_some_and(|(&h, _)| h == ticket);
            st.queue.remove(&ticket);
            if was_head {
                st.wake_head()
            } else {
                None
            }
        };
        if let Some(w) = next {
            w.wake();
        }
    }
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("rate", &self.rate)
            .field("burst", &self.burst)
            .field("waiters", &self.waiters())
            .finish()
    }
}

/// The future returned by [`RateLimiter::until_ready`]: resolves when the caller may go.
///
/// # Cancel safety
///
/// It takes its slot only as it resolves: dropped before, it has taken nothing, and the
/// waiter behind it moves up.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let limiter = corral::RateLimiter::new(corral::Rate::per_second(1), 1);
/// let ready: corral::UntilReady<'_> = limiter.until_ready();
/// ready.await;
/// assert!(!limiter.try_acquire());
/// # }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct UntilReady<'a> {
    limiter: &'a RateLimiter,
    wait: Waiting,
}

/// One waiter's place: its ticket in the queue, and its timer. Shared by [`UntilReady`] (which
/// borrows the limiter) and [`RateGate`] (which shares it), so both queue the same way.
#[derive(Default)]
struct Waiting {
    ticket: Option<u64>,
    /// Armed only while this waiter is the head and its slot is in the future.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Waiting {
    fn poll_wait(&mut self, limiter: &RateLimiter, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            match limiter.poll_slot(&mut self.ticket, cx.waker()) {
                Ok(()) => {
                    self.sleep = None;
                    return Poll::Ready(());
                }
                Err(None) => return Poll::Pending,
                Err(Some(at)) => {
                    let sleep = match &mut self.sleep {
                        Some(s) => {
                            if s.deadline() != at {
                                s.as_mut().reset(at);
                            }
                            s
                        }
                        None => self.sleep.insert(Box::pin(tokio::time::sleep_until(at))),
                    };
                    if sleep.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                }
            }
        }
    }

    /// Leaves the queue, if in it.
    fn leave(&mut self, limiter: &RateLimiter) {
        if let Some(t) = self.ticket.take() {
            limiter.leave(t);
        }
    }
}

impl Future for UntilReady<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        this.wait.poll_wait(this.limiter, cx)
    }
}

impl Drop for UntilReady<'_> {
    fn drop(&mut self) {
        self.wait.leave(self.limiter);
    }
}

impl fmt::Debug for UntilReady<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UntilReady")
            .field("queued", &self.wait.ticket.is_some())
            .finish()
    }
}

/// The gate in front of a combinator's inputs (`.rate(..)`): one slot of a shared
/// [`RateLimiter`] per input started. A slot taken while the source had no input ready is kept
/// for the next input, not lost.
///
/// When the combinator knows that several inputs will come and has room to start them (an
/// exact iterator under its limit), the gate takes as many of the slots that are free now as
/// it will use, in one step, and hands them out one by one; a rate that does not hold the
/// inputs back then costs a counter per input. Slots it holds and does not use (the
/// combinator stopped) are given back when it is dropped.
pub(crate) struct RateGate {
    limiter: Arc<RateLimiter>,
    wait: Waiting,
    /// Slots held for the next inputs.
    granted: u32,
}

impl RateGate {
    pub(crate) fn new(limiter: Arc<RateLimiter>) -> RateGate {
        RateGate {
            limiter,
            wait: Waiting::default(),
            granted: 0,
        }
    }

    /// Ready once a slot is held for the next input; waits in the limiter's queue until then.
    /// `coming` is how many inputs are sure to come and have room to start now (at least 1):
    /// up to that many free slots are taken at once.
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>, coming: usize) -> Poll<()> {
        if self.granted == 0 {
            let want = u32::try_from(coming).unwrap_or(u32::MAX);
            self.granted = if want > 1 && self.wait.ticket.is_none() {
                self.limiter.take_now(want)
            } else {
                0
            };
            if self.granted == 0 {
                std::task::ready!(self.wait.poll_wait(&self.limiter, cx));
                self.granted = 1;
            }
        }
        Poll::Ready(())
    }

    /// True if a slot is held for the next input: it may start without asking the limiter.
    pub(crate) fn holds_slot(&self) -> bool {
        self.granted > 0
    }

    /// A held slot went to an input.
    pub(crate) fn consume(&mut self) {
        self.granted -= 1;
    }
}

impl Drop for RateGate {
    fn drop(&mut self) {
        self.wait.leave(&self.limiter);
        self.limiter.give_back(self.granted);
    }
}
