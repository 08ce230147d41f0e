//! [`RetryBudget`]: a cap on retries shared by many calls, as a share of first attempts plus
//! a small floor per second, over a sliding window (Finagle's `RetryBudget`, tower's
//! `TpsBudget`).

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

/// The window is kept as this many slots, each `window / SLOTS` long; a slot drops out whole,
/// so the window in effect is between `(SLOTS - 1) / SLOTS` and all of `window`.
const SLOTS: usize = 10;

/// Fixed-point unit: one retry costs `UNIT`; a first attempt earns `ratio * UNIT`.
const UNIT: u64 = 1_000_000;

/// A budget for retries, shared by every call that uses it: over a sliding window, retries may
/// add at most `ratio` (say 20 %) on top of the first attempts made, plus a floor of
/// `min_per_sec` retries per second so that a quiet client can still retry.
///
/// Without a budget, a dependency that fails everything receives `max_attempts` times its
/// normal load from every client, just when it can least take it. With one, the extra load
/// stays at `ratio` however many attempts each call allows: a call whose retry the budget
/// refuses gives up with [`GaveUp::Budget`](crate::GaveUp::Budget).
///
/// Cloning is cheap and shares the budget (it is an `Arc` inside); give one budget to every
/// [`RetryPolicy`](crate::RetryPolicy) that calls the same dependency. It runs on tokio's
/// clock.
///
/// asyncio: hand-written (a shared counter of attempts and retries).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// // Retries may add 10 % to first attempts, with no floor.
/// let budget = corral::RetryBudget::new(0.1, 0, Duration::from_secs(10));
/// for _ in 0..20 {
///     budget.deposit(); // 20 first attempts...
/// }
/// assert!(budget.try_withdraw()); // ...pay for 2 retries
/// assert!(budget.try_withdraw());
/// assert!(!budget.try_withdraw());
/// # }
/// ```
#[derive(Clone)]
pub struct RetryBudget {
    inner: Arc<Inner>,
}

struct Inner {
    /// Earned per first attempt, in `UNIT`s.
    earn: u64,
    /// The floor over a whole window, in `UNIT`s.
    reserve: u64,
    slot_len: Duration,
    state: Mutex<Window>,
}

struct Window {
    origin: Option<Instant>,
    /// `(slot number, earned, spent)`, indexed by slot number modulo `SLOTS`.
    slots: [(u64, u64, u64); SLOTS],
}

impl RetryBudget {
    /// A budget that lets retries add `ratio` (0.2: 20 %) on top of first attempts, plus
    /// `min_per_sec` retries per second, counted over the last `window`.
    ///
    /// # Panics
    ///
    /// If `ratio` is negative, not finite, or above 1000, or if `window` is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let budget = corral::RetryBudget::new(0.2, 1, Duration::from_secs(10));
    /// // The floor: one retry a second over ten seconds, before any first attempt.
    /// assert_eq!(budget.available(), 10);
    /// # }
    /// ```
    pub fn new(ratio: f64, min_per_sec: u32, window: Duration) -> RetryBudget {
        assert!(
            ratio.is_finite() && (0.0..=1000.0).contains(&ratio),
            "a retry budget's ratio must be between 0 and 1000, not {ratio}"
        );
        assert!(
            !window.is_zero(),
            "a retry budget's window must not be zero"
        );
        let earn = (ratio * UNIT as f64).round() as u64;
        let reserve = (f64::from(min_per_sec) * window.as_secs_f64() * UNIT as f64) as u64;
        RetryBudget {
            inner: Arc::new(Inner {
                earn,
                reserve,
                slot_len: (window / SLOTS as u32).max(Duration::from_nanos(1)),
                state: Mutex::new(Window {
                    origin: None,
                    slots: [(0, 0, 0); SLOTS],
                }),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Window> {
        // Every update is a few integer assignments: a poisoned lock holds a usable state.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a first attempt, which earns `ratio` of a retry. [`retry`](crate::retry) calls
    /// it once per call.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let budget = corral::RetryBudget::new(0.5, 0, Duration::from_secs(1));
    /// budget.deposit();
    /// budget.deposit();
    /// assert_eq!(budget.available(), 1);
    /// # }
    /// ```
    pub fn deposit(&self) {
        let mut w = self.lock();
        let slot = self.slot(&mut w);
        slot.1 += self.inner.earn;
    }

    /// Takes one retry from the budget if it has one. [`retry`](crate::retry) calls it before
    /// each retry, and gives up if it returns false.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let budget = corral::RetryBudget::new(0.2, 0, Duration::from_secs(1));
    /// assert!(!budget.try_withdraw()); // nothing earned yet, and no floor
    /// # }
    /// ```
    pub fn try_withdraw(&self) -> bool {
        let mut w = self.lock();
        let (earned, spent) = self.totals(&mut w);
        if self.inner.reserve + earned < spent + UNIT {
            return false;
        }
        self.slot(&mut w).2 += UNIT;
        true
    }

    /// How many retries the budget would allow right now.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let budget = corral::RetryBudget::new(0.2, 0, Duration::from_secs(10));
    /// (0..10).for_each(|_| budget.deposit());
    /// assert_eq!(budget.available(), 2);
    /// // The window slides: ten seconds later the deposits have expired.
    /// tokio::time::sleep(Duration::from_secs(10)).await;
    /// assert_eq!(budget.available(), 0);
    /// # }
    /// ```
    pub fn available(&self) -> u64 {
        let mut w = self.lock();
        let (earned, spent) = self.totals(&mut w);
        (self.inner.reserve + earned).saturating_sub(spent) / UNIT
    }

    /// The current slot number, and the window started on first use.
    fn now_slot(&self, w: &mut Window) -> u64 {
        let now = Instant::now();
        let origin = *w.origin.get_or_insert(now);
        let n = now.duration_since(origin).as_nanos() / self.inner.slot_len.as_nanos();
        u64::try_from(n).unwrap_or(u64::MAX)
    }

    /// The current slot, cleared first if it last held an older slot's counts.
    fn slot<'w>(&self, w: &'w mut Window) -> &'w mut (u64, u64, u64) {
        let n = self.now_slot(w);
        let slot = &mut w.slots[(n % SLOTS as u64) as usize];
        if slot.0 != n {
            *slot = (n, 0, 0);
        }
        slot
    }

    /// Earned and spent over the slots still inside the window.
    fn totals(&self, w: &mut Window) -> (u64, u64) {
        let n = self.now_slot(w);
        w.slots
            .iter()
            .filter(|(slot, _, _)| n.saturating_sub(*slot) < SLOTS as u64)
            .fold((0, 0), |(e, s), &(_, earned, spent)| {
                (e + earned, s + spent)
            })
    }
}

impl Default for RetryBudget {
    /// tower's and Finagle's defaults: retries may add 20 % on top of first attempts, plus 10
    /// a second, over 10 seconds.
    fn default() -> Self {
        RetryBudget::new(0.2, 10, Duration::from_secs(10))
    }
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudget")
            .field("available", &self.available())
            .finish_non_exhaustive()
    }
}
