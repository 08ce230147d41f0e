//! [`LatencyTracker`]: the latencies of recent attempts, shared, and their percentiles.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The latencies of the last `capacity` operations, shared by every clone, and their
/// percentiles: what [`HedgePolicy::at_percentile`](crate::HedgePolicy::at_percentile) reads
/// to decide when an attempt has become slow.
///
/// A ring of durations: recording overwrites the oldest, a percentile sorts a copy (nearest
/// rank). Small on purpose: a few hundred samples say what "slow" means now, and a percentile
/// is computed once per hedged call, not per sample.
///
/// asyncio: hand-written (a `deque(maxlen=n)` of timings).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let tracker = corral::LatencyTracker::new(100);
/// for ms in 1..=100 {
///     tracker.record(Duration::from_millis(ms));
/// }
/// assert_eq!(tracker.percentile(50.0), Some(Duration::from_millis(50)));
/// assert_eq!(tracker.percentile(95.0), Some(Duration::from_millis(95)));
/// tracker.record(Duration::from_secs(1)); // overwrites the oldest, 1 ms
/// assert_eq!(tracker.percentile(0.0), Some(Duration::from_millis(2)));
/// ```
#[derive(Clone)]
pub struct LatencyTracker {
    ring: Arc<Mutex<Ring>>,
}

struct Ring {
    samples: Vec<Duration>,
    capacity: usize,
    /// Where the next sample goes once the ring is full.
    next: usize,
}

impl LatencyTracker {
    /// A tracker of the last `capacity` latencies.
    ///
    /// # Panics
    ///
    /// If `capacity` is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// let tracker = corral::LatencyTracker::new(500);
    /// assert!(tracker.is_empty());
    /// ```
    pub fn new(capacity: usize) -> LatencyTracker {
        assert!(capacity > 0, "a latency tracker needs room for one sample");
        LatencyTracker {
            ring: Arc::new(Mutex::new(Ring {
                samples: Vec::new(),
                capacity,
                next: 0,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Ring> {
        // Every update is a push or one assignment: a poisoned lock holds a usable ring.
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records one latency, forgetting the oldest if the tracker is full.
    ///
    /// # Examples
    ///
    /// ```
    /// let tracker = corral::LatencyTracker::new(2);
    /// tracker.record(std::time::Duration::from_millis(10));
    /// assert_eq!(tracker.len(), 1);
    /// ```
    pub fn record(&self, latency: Duration) {
        let mut ring = self.lock();
        if ring.samples.len() < ring.capacity {
            ring.samples.push(latency);
        } else {
            let next = ring.next;
            ring.samples[next] = latency;
            ring.next = (next + 1) % ring.capacity;
        }
    }

    /// The `p`-th percentile (0 to 100) of the latencies held, by nearest rank: the smallest
    /// sample that is at least `p` % of them. `None` while the tracker is empty.
    ///
    /// # Panics
    ///
    /// If `p` is not between 0 and 100.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let tracker = corral::LatencyTracker::new(10);
    /// assert_eq!(tracker.percentile(99.0), None);
    /// for ms in [30, 10, 20, 40] {
    ///     tracker.record(Duration::from_millis(ms));
    /// }
    /// assert_eq!(tracker.percentile(50.0), Some(Duration::from_millis(20)));
    /// assert_eq!(tracker.percentile(100.0), Some(Duration::from_millis(40)));
    /// ```
    pub fn percentile(&self, p: f64) -> Option<Duration> {
        assert!(
            (0.0..=100.0).contains(&p),
            "a percentile is between 0 and 100, not {p}"
        );
        let mut samples = self.lock().samples.clone();
        if samples.is_empty() {
            return None;
        }
        let n = samples.len();
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        let (_, nth, _) = samples.select_nth_unstable(rank.clamp(1, n) - 1);
        Some(*nth)
    }

    /// How many latencies it holds (at most its capacity).
    ///
    /// # Examples
    ///
    /// ```
    /// let tracker = corral::LatencyTracker::new(2);
    /// for _ in 0..5 {
    ///     tracker.record(std::time::Duration::from_millis(1));
    /// }
    /// assert_eq!(tracker.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.lock().samples.len()
    }

    /// True if it holds no latency yet.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(corral::LatencyTracker::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for LatencyTracker {
    /// The last 1,000 latencies.
    fn default() -> Self {
        LatencyTracker::new(1000)
    }
}

impl fmt::Debug for LatencyTracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ring = self.lock();
        f.debug_struct("LatencyTracker")
            .field("samples", &ring.samples.len())
            .field("capacity", &ring.capacity)
            .finish()
    }
}
