//! [`Backoff`]: how long to wait before each retry (exponential, capped, jittered), and the
//! small random number generator behind the jitter.

use std::fmt;
use std::time::Duration;

/// How the delays of a [`Backoff`] are randomised. The names and formulas are those of the
/// AWS Architecture Blog's "Exponential Backoff and Jitter" (Marc Brooker, 2015), where `n`
/// counts retries from 0, `base` and `cap` are the backoff's [base](Backoff::exponential)
/// and [cap](Backoff::max_delay), and `ceiling(n) = min(cap, base * factor^n)`:
///
/// | jitter | delay before retry `n` |
/// |---|---|
/// | `None` | `ceiling(n)` |
/// | `Full` | uniform in `[0, ceiling(n)]` |
/// | `Equal` | `ceiling(n) / 2` + uniform in `[0, ceiling(n) / 2]` |
/// | `Decorrelated` | `min(cap, uniform in [base, 3 * previous])`, previous starting at `base` |
///
/// Full and decorrelated jitter spread the retries of many clients that failed together, so
/// that they do not come back together (the "thundering herd"); the analysis found both do
/// far less work than no jitter, full jitter slightly less than decorrelated.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corral::{Backoff, Jitter};
///
/// let b = Backoff::exponential(Duration::from_millis(100)).jitter(Jitter::Full);
/// for (n, d) in b.delays(7).take(5).enumerate() {
///     assert!(d <= Duration::from_millis(100) * 2u32.pow(n as u32));
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Jitter {
    /// No randomness: exactly `ceiling(n)`.
    None,
    /// Uniform in `[0, ceiling(n)]`: the analysis' recommendation, and the default.
    Full,
    /// Half fixed, half random: uniform in `[ceiling(n)/2, ceiling(n)]`.
    Equal,
    /// Uniform in `[base, 3 × the previous delay]`, capped: grows from the previous delay
    /// rather than from the retry count.
    Decorrelated,
}

/// The delay before each retry: exponential growth from a base, a cap, and [`Jitter`].
///
/// The default is `Backoff::exponential(100 ms)`: factor 2, capped at 10 s, full jitter.
///
/// asyncio: hand-written (`await asyncio.sleep(min(cap, base * 2 ** n) * random.random())`).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corral::{Backoff, Jitter};
///
/// let b = Backoff::exponential(Duration::from_millis(100))
///     .max_delay(Duration::from_millis(500))
///     .jitter(Jitter::None);
/// let delays: Vec<_> = b.delays(0).take(5).map(|d| d.as_millis()).collect();
/// assert_eq!(delays, [100, 200, 400, 500, 500]);
/// ```
#[derive(Clone, Copy, PartialEq)]
pub struct Backoff {
    base: Duration,
    factor: f64,
    cap: Duration,
    jitter: Jitter,
}

impl Backoff {
    /// Delays that start at `base` and double each retry (see [`factor`](Backoff::factor)),
    /// capped at 10 s (see [`max_delay`](Backoff::max_delay)), with [full jitter](Jitter::Full).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = corral::Backoff::exponential(Duration::from_millis(50));
    /// assert!(b.delays(1).take(10).all(|d| d <= Duration::from_secs(10)));
    /// ```
    pub fn exponential(base: Duration) -> Backoff {
        Backoff {
            base,
            factor: 2.0,
            cap: Duration::from_secs(10),
            jitter: Jitter::Full,
        }
    }

    /// The same delay before every retry, without jitter. The cap (which also caps a
    /// [delay hint](crate::RetryPolicy::delay_hint)) stays at 10 s, or `delay` if longer.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = corral::Backoff::constant(Duration::from_millis(20));
    /// assert!(b.delays(0).take(3).all(|d| d == Duration::from_millis(20)));
    /// ```
    pub fn constant(delay: Duration) -> Backoff {
        Backoff {
            base: delay,
            factor: 1.0,
            cap: delay.max(Duration::from_secs(10)),
            jitter: Jitter::None,
        }
    }

    /// No delay at all: retry at once (a [delay hint](crate::RetryPolicy::delay_hint) is
    /// still honoured, up to 10 s).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = corral::Backoff::none();
    /// assert!(b.delays(0).take(3).all(|d| d.is_zero()));
    /// ```
    pub fn none() -> Backoff {
        Backoff::constant(Duration::ZERO)
    }

    /// How much the ceiling grows per retry (default 2). Values below 1, NaN included, are
    /// taken as 1.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use corral::{Backoff, Jitter};
    /// let b = Backoff::exponential(Duration::from_millis(10)).factor(3.0).jitter(Jitter::None);
    /// let delays: Vec<_> = b.delays(0).take(3).map(|d| d.as_millis()).collect();
    /// assert_eq!(delays, [10, 30, 90]);
    /// ```
    pub fn factor(mut self, factor: f64) -> Backoff {
        self.factor = if factor >= 1.0 { factor } else { 1.0 };
        self
    }

    /// The longest delay (default 10 s). It also caps a [delay hint] from the error, so that
    /// a server's `Retry-After: 3600` cannot park a caller for an hour unless the cap allows.
    ///
    /// [delay hint]: crate::RetryPolicy::delay_hint
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = corral::Backoff::exponential(Duration::from_secs(1)).max_delay(Duration::from_secs(2));
    /// assert!(b.delays(0).take(10).all(|d| d <= Duration::from_secs(2)));
    /// ```
    pub fn max_delay(mut self, cap: Duration) -> Backoff {
        self.cap = cap;
        self
    }

    /// How the delays are randomised (default [`Jitter::Full`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use corral::{Backoff, Jitter};
    /// let b = Backoff::exponential(Duration::from_millis(100)).jitter(Jitter::Equal);
    /// let first = b.delays(3).next().unwrap();
    /// assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
    /// ```
    pub fn jitter(mut self, jitter: Jitter) -> Backoff {
        self.jitter = jitter;
        self
    }

    /// The longest delay: the [cap](Backoff::max_delay).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = corral::Backoff::exponential(Duration::from_millis(20));
    /// assert_eq!(b.cap(), Duration::from_secs(10));
    /// assert_eq!(b.max_delay(Duration::from_secs(1)).cap(), Duration::from_secs(1));
    /// ```
    pub fn cap(&self) -> Duration {
        self.cap
    }

    /// The delays before retry 0, 1, 2, …: an endless iterator, reproducible for a `seed`.
    /// [`retry`](crate::retry) draws one such sequence per call, seeded from its policy.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use corral::{Backoff, Jitter};
    /// let b = Backoff::exponential(Duration::from_millis(100)).jitter(Jitter::Decorrelated);
    /// let a: Vec<_> = b.delays(42).take(4).collect();
    /// let again: Vec<_> = b.delays(42).take(4).collect();
    /// assert_eq!(a, again);
    /// assert!(a.iter().all(|d| *d >= Duration::from_millis(100)));
    /// ```
    pub fn delays(&self, seed: u64) -> Delays {
        Delays {
            backoff: *self,
            retry: 0,
            prev: self.base,
            rng: SplitMix64::new(seed),
        }
    }

    /// `min(cap, base * factor^n)`, without overflowing.
    fn ceiling(&self, n: u32) -> Duration {
        let exp = i32::try_from(n).unwrap_or(i32::MAX);
        // In nanoseconds, so that whole factors give exact delays (100 ms, 200 ms, ...).
        let nanos = (self.base.as_nanos() as f64 * self.factor.powi(exp)).round();
        if nanos < self.cap.as_nanos() as f64 {
            Duration::from_nanos(nanos as u64)
        } else {
            self.cap
        }
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::exponential(Duration::from_millis(100))
    }
}

impl fmt::Debug for Backoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backoff")
            .field("base", &self.base)
            .field("factor", &self.factor)
            .field("cap", &self.cap)
            .field("jitter", &self.jitter)
            .finish()
    }
}

/// The delays of a [`Backoff`], from [`Backoff::delays`]: an endless iterator.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let mut delays: corral::Delays = corral::Backoff::constant(Duration::from_secs(1)).delays(0);
/// assert_eq!(delays.next(), Some(Duration::from_secs(1)));
/// ```
#[derive(Debug, Clone)]
pub struct Delays {
    backoff: Backoff,
    retry: u32,
    prev: Duration,
    rng: SplitMix64,
}

impl Iterator for Delays {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let b = &self.backoff;
        let d = match b.jitter {
            Jitter::None => b.ceiling(self.retry),
            Jitter::Full => self.rng.between(Duration::ZERO, b.ceiling(self.retry)),
            Jitter::Equal => {
                let half = b.ceiling(self.retry) / 2;
                half + self.rng.between(Duration::ZERO, half)
            }
            Jitter::Decorrelated => {
                let hi = self.prev.saturating_mul(3).max(b.base);
                let d = self.rng.between(b.base, hi).min(b.cap);
                self.prev = d;
                d
            }
        };
        self.retry = self.retry.saturating_add(1);
        Some(d)
    }
}

/// SplitMix64 (Steele, Lea and Flood, 2014): 8 bytes of state, statistically sound for
/// jitter, and seedable, so tests can replay a sequence. Jitter needs spread, not
/// cryptographic strength, so the library adds no RNG crate (`rand` would bring its
/// dependency tree to every user of corral for a dozen lines).
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi]` (nanosecond steps); `lo` if `hi <= lo`.
    fn between(&mut self, lo: Duration, hi: Duration) -> Duration {
        let Some(span) = hi.checked_sub(lo) else {
            return lo;
        };
        let span = u64::try_from(span.as_nanos()).unwrap_or(u64::MAX);
        // Lemire's multiply-shift: maps 64 random bits onto [0, span] without a division.
        let r = ((u128::from(self.next_u64()) * (u128::from(span) + 1)) >> 64) as u64;
        lo + Duration::from_nanos(r)
    }
}

/// A seed that differs between processes and between calls, so that clients started together
/// do not jitter in step. `RandomState` is seeded from the operating system's randomness once
/// per thread and then varied per call: the standard library's own source, no crate needed.
pub(crate) fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn between_stays_in_bounds_and_reaches_both_halves() {
        let mut rng = SplitMix64::new(1);
        let (lo, hi) = (Duration::from_millis(10), Duration::from_millis(20));
        let mut low_half = 0;
        for _ in 0..10_000 {
            let d = rng.between(lo, hi);
            assert!(d >= lo && d <= hi);
            if d < Duration::from_millis(15) {
                low_half += 1;
            }
        }
        assert!((4_500..5_500).contains(&low_half), "{low_half}");
    }

    #[test]
    fn ceiling_saturates_at_the_cap() {
        let b = Backoff::exponential(Duration::from_secs(1)).max_delay(Duration::from_secs(60));
        assert_eq!(b.ceiling(0), Duration::from_secs(1));
        assert_eq!(b.ceiling(3), Duration::from_secs(8));
        assert_eq!(b.ceiling(1_000_000), Duration::from_secs(60));
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(60));
    }
}
