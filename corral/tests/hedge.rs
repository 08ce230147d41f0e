//! hedge: a backup starts at the delay (fixed, or the tracker's percentile), the first success
//! wins, the losers are cancelled and drained before `hedge` returns, the budget caps backups,
//! a failure while nothing else runs ends the call, and no backup is started that an enclosing
//! deadline leaves no time for.

mod common;
use common::*;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use corral::{Failure, HedgePolicy, LatencyTracker, RetryBudget, Task};
use tokio::time::{sleep, Instant};

/// Attempts whose latencies are given in order (ms; the last repeats), each recording when it
/// started, relative to `start`.
#[derive(Clone)]
struct Server {
    latencies: Arc<Vec<u64>>,
    calls: Arc<AtomicU32>,
    starts: Arc<Mutex<Vec<Duration>>>,
    start: Instant,
}

impl Server {
    fn new(latencies: &[u64]) -> Server {
        Server {
            latencies: Arc::new(latencies.to_vec()),
            calls: Arc::new(AtomicU32::new(0)),
            starts: Arc::new(Mutex::new(Vec::new())),
            start: Instant::now(),
        }
    }

    fn attempt(&self) -> impl std::future::Future<Output = Result<u32, String>> + Send + 'static {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) as usize;
        self.starts.lock().unwrap().push(self.start.elapsed());
        let l = self.latencies[n.min(self.latencies.len() - 1)];
        async move {
            sleep(ms(l)).await;
            Ok(n as u32)
        }
    }

    fn starts(&self) -> Vec<Duration> {
        self.starts.lock().unwrap().clone()
    }
}

#[tokio::test(start_paused = true)]
async fn backup_starts_at_the_fixed_delay_and_the_faster_wins() {
    let server = Server::new(&[1_000, 50]);
    let start = Instant::now();
    let done = corral::hedge(HedgePolicy::after(ms(200)), || server.attempt())
        .await
        .unwrap();
    assert_eq!(server.starts(), [ms(0), ms(200)]);
    assert_eq!((done.value, done.winner, done.attempts), (1, 1, 2));
    assert_eq!(start.elapsed(), ms(250));
}

#[tokio::test(start_paused = true)]
async fn no_backup_when_the_first_answers_before_the_delay() {
    let server = Server::new(&[199]);
    let done = corral::hedge(HedgePolicy::after(ms(200)), || server.attempt())
        .await
        .unwrap();
    assert_eq!((done.winner, done.attempts), (0, 1));
    assert_eq!(server.starts(), [ms(0)]);
    // And nothing starts later: the timer went with the call.
    sleep(secs(1)).await;
    assert_eq!(server.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn first_can_still_win_after_the_backup_started() {
    let server = Server::new(&[300, 1_000]);
    let start = Instant::now();
    let done = corral::hedge(HedgePolicy::after(ms(100)), || server.attempt())
        .await
        .unwrap();
    assert_eq!((done.winner, done.attempts), (0, 2));
    assert_eq!(start.elapsed(), ms(300));
}

#[tokio::test(start_paused = true)]
async fn plain_future_loser_is_dropped_before_hedge_returns() {
    let dropped = flag();
    let calls = AtomicU32::new(0);
    let make = || {
        let first = calls.fetch_add(1, Ordering::SeqCst) == 0;
        let guard = first.then(|| Finally(dropped.clone()));
        async move {
            let _guard = guard;
            sleep(ms(if first { 10_000 } else { 10 })).await;
            Ok::<_, ()>(first)
        }
    };
    let done = corral::hedge(HedgePolicy::after(ms(100)), make)
        .await
        .unwrap();
    assert!(!done.value);
    assert!(
        is_set(&dropped),
        "the slow first attempt is dropped when the backup wins"
    );
}

#[tokio::test(start_paused = true)]
async fn task_loser_is_cancelled_and_drained_before_hedge_returns() {
    let before = alive_tasks().await;
    let cleaned = Arc::new(AtomicBool::new(false));
    let calls = AtomicU32::new(0);
    let make = || -> Task<&'static str, ()> {
        let first = calls.fetch_add(1, Ordering::SeqCst) == 0;
        let cleaned = cleaned.clone();
        corral::spawn(async move {
            if !first {
                sleep(ms(20)).await;
                return Ok("backup");
            }
            tokio::select! {
                req = corral::cancelled() => {
                    // Cleanup takes time: hedge must wait for it.
                    sleep(ms(500)).await;
                    cleaned.store(true, Ordering::SeqCst);
                    req.propagate().await
                }
                _ = sleep(secs(60)) => Ok("first"),
            }
        })
    };
    let start = Instant::now();
    let done = corral::hedge(HedgePolicy::after(ms(100)), make)
        .await
        .unwrap();
    assert_eq!((done.value, done.winner), ("backup", 1));
    assert!(
        cleaned.load(Ordering::SeqCst),
        "the loser's cleanup ran before hedge returned"
    );
    assert_eq!(start.elapsed(), ms(620)); // won at 120 ms, drained 500 ms later
    assert_eq!(alive_tasks().await, before, "no attempt is left running");
}

#[tokio::test(start_paused = true)]
async fn dropping_the_hedge_aborts_its_task_attempts() {
    let before = alive_tasks().await;
    let make = || {
        corral::spawn(async {
            sleep(secs(60)).await;
            Ok::<(), ()>(())
        })
    };
    let h = corral::hedge(HedgePolicy::after(ms(10)), make);
    assert!(tokio::time::timeout(ms(50), h).await.is_err());
    assert_eq!(alive_tasks().await, before);
}

#[tokio::test(start_paused = true)]
async fn max_attempts_starts_one_more_each_delay() {
    let server = Server::new(&[10_000, 10_000, 10_000, 5]);
    let done = corral::hedge(HedgePolicy::after(ms(100)).max_attempts(4), || {
        server.attempt()
    })
    .await
    .unwrap();
    assert_eq!(server.starts(), [ms(0), ms(100), ms(200), ms(300)]);
    assert_eq!((done.winner, done.attempts), (3, 4));
}

#[tokio::test(start_paused = true)]
async fn percentile_delay_follows_the_tracker() {
    let tracker = LatencyTracker::new(100);
    let policy = HedgePolicy::at_percentile(90.0, tracker.clone()).min_samples(10);
    // Too few samples and no fallback: no backup, however slow.
    let server = Server::new(&[1_000]);
    let done = corral::hedge(policy.clone(), || server.attempt())
        .await
        .unwrap();
    assert_eq!(done.attempts, 1);
    assert_eq!(tracker.len(), 1, "the successful attempt was recorded");
    // Ten fast calls: 10..=100 ms. p90 is then 90 ms (the 1 s sample is the 11th: p90 of 11
    // samples is the 10th smallest, 100 ms).
    for l in 1..=10 {
        let server = Server::new(&[l * 10]);
        corral::hedge(policy.clone(), || server.attempt())
            .await
            .unwrap();
    }
    assert_eq!(policy.delay(), Some(ms(100)));
    let server = Server::new(&[5_000, 30]);
    let done = corral::hedge(policy, || server.attempt()).await.unwrap();
    assert_eq!(server.starts(), [ms(0), ms(100)]);
    assert_eq!(done.winner, 1);
}

#[tokio::test(start_paused = true)]
async fn fallback_delay_until_the_tracker_has_enough_samples() {
    let policy = HedgePolicy::at_percentile(50.0, LatencyTracker::new(10)).fallback(ms(250));
    let server = Server::new(&[1_000, 1]);
    corral::hedge(policy, || server.attempt()).await.unwrap();
    assert_eq!(server.starts(), [ms(0), ms(250)]);
}

#[tokio::test(start_paused = true)]
async fn budget_caps_backups_at_its_share_of_calls() {
    // 10 % of calls, no floor: over 1,000 slow calls, 100 backups.
    let budget = RetryBudget::new(0.1, 0, secs(3600));
    let policy = HedgePolicy::after(ms(10)).budget(budget);
    let mut backups = 0;
    for _ in 0..1_000 {
        let server = Server::new(&[20]);
        let done = corral::hedge(policy.clone(), || server.attempt())
            .await
            .unwrap();
        backups += done.attempts - 1;
    }
    assert_eq!(backups, 100);
}

#[tokio::test(start_paused = true)]
async fn failure_before_the_delay_ends_the_call_without_a_backup() {
    let calls = AtomicU32::new(0);
    let make = || {
        calls.fetch_add(1, Ordering::SeqCst);
        fail_after::<()>(50, "refused")
    };
    let start = Instant::now();
    let err = corral::hedge(HedgePolicy::after(ms(100)), make)
        .await
        .unwrap_err();
    assert_eq!(err.attempts(), 1);
    assert_eq!(
        err.failures()[0].failure,
        Failure::Error("refused".to_string())
    );
    assert_eq!(start.elapsed(), ms(50));
    sleep(secs(1)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_attempt_waits_for_the_other_and_all_failures_are_kept() {
    let calls = AtomicU32::new(0);
    // The first fails at 300 ms while the backup (started at 100 ms) runs; the backup then
    // succeeds at 400 ms.
    let make = || match calls.fetch_add(1, Ordering::SeqCst) {
        0 => Box::pin(fail_after::<u32>(300, "first"))
            as std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send>>,
        _ => Box::pin(after(300, 2u32)),
    };
    let start = Instant::now();
    let done = corral::hedge(HedgePolicy::after(ms(100)), make)
        .await
        .unwrap();
    assert_eq!((done.value, done.winner, done.attempts), (2, 1, 2));
    assert_eq!(start.elapsed(), ms(400));

    // Both fail: every failure, in attempt order.
    let make = || fail_after::<u32>(300, "down");
    let err = corral::hedge(HedgePolicy::after(ms(100)), make)
        .await
        .unwrap_err();
    let indexes: Vec<usize> = err.failures().iter().map(|f| f.index).collect();
    assert_eq!(indexes, [0, 1]);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_attempt_is_a_failure_not_a_crash() {
    let calls = AtomicU32::new(0);
    let make = || {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        async move {
            sleep(ms(200)).await;
            if n == 0 {
                panic!("boom");
            }
            Ok::<_, ()>(n)
        }
    };
    let done = corral::hedge(HedgePolicy::after(ms(100)), make)
        .await
        .unwrap();
    assert_eq!(done.winner, 1);
}

// ---- the enclosing deadline ----

#[tokio::test(start_paused = true)]
async fn no_backup_is_started_that_could_not_finish_before_the_deadline() {
    // A backup at 100 ms would have 50 ms before the deadline, and needs 100: none is started
    // (nor paid for), and the first answers at 120 ms, alone.
    let server = Server::new(&[120, 10]);
    let budget = RetryBudget::new(0.0, 10, secs(10));
    let policy = HedgePolicy::after(ms(100))
        .min_attempt_time(ms(100))
        .budget(budget.clone());
    let r = corral::timeout(ms(150), corral::hedge(policy, || server.attempt())).await;
    let done = r.expect("the first attempt answered in time").unwrap();
    assert_eq!((done.winner, done.attempts), (0, 1));
    assert_eq!(server.starts(), [ms(0)]);
    assert_eq!(budget.available(), 100, "the budget's floor is untouched");
}

#[tokio::test(start_paused = true)]
async fn a_backup_due_at_or_after_the_deadline_is_not_started() {
    // The first attempt never answers; a backup would answer at once. Due at the deadline, it
    // could not have finished before it: the timeout expires with one attempt made.
    for deadline in [ms(100), ms(80)] {
        let calls = AtomicU32::new(0);
        let make = || {
            let first = calls.fetch_add(1, Ordering::SeqCst) == 0;
            async move {
                if first {
                    std::future::pending::<()>().await;
                }
                Ok::<_, ()>(first)
            }
        };
        let r = corral::timeout(deadline, corral::hedge(HedgePolicy::after(ms(100)), make)).await;
        assert!(r.is_err(), "the deadline {deadline:?} expired: {r:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 1, "deadline {deadline:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn by_default_a_backup_needs_the_fastest_latency_the_tracker_has_seen() {
    let tracker = LatencyTracker::new(10);
    for l in [80, 100, 120] {
        tracker.record(ms(l));
    }
    let policy = HedgePolicy::at_percentile(50.0, tracker).min_samples(1);
    assert_eq!(policy.delay(), Some(ms(100)));
    // Nothing faster than 80 ms seen: a backup at 100 ms could not end by 150 ms.
    let server = Server::new(&[130, 10]);
    let r = corral::timeout(ms(150), corral::hedge(policy.clone(), || server.attempt())).await;
    assert_eq!(r.unwrap().unwrap().attempts, 1);
    assert_eq!(server.starts(), [ms(0)]);
    // With room for it, the same call hedges (p50 is still 100 ms).
    let server = Server::new(&[130, 10]);
    let start = Instant::now();
    let r = corral::timeout(ms(300), corral::hedge(policy, || server.attempt())).await;
    let done = r.unwrap().unwrap();
    assert_eq!((done.winner, done.attempts), (1, 2));
    assert_eq!(server.starts(), [ms(0), ms(100)]);
    assert_eq!(start.elapsed(), ms(110));
}

#[tokio::test(start_paused = true)]
async fn backups_stop_where_the_deadline_leaves_too_little_time() {
    // One more every 100 ms, each needing 50: the one at 100 ms fits a 240 ms deadline, the
    // one at 200 ms does not, nor any after it.
    let server = Server::new(&[10_000]);
    let policy = HedgePolicy::after(ms(100))
        .max_attempts(4)
        .min_attempt_time(ms(50));
    let r = corral::timeout(ms(240), corral::hedge(policy, || server.attempt())).await;
    assert!(r.is_err(), "no attempt answered in time");
    assert_eq!(server.starts(), [ms(0), ms(100)]);
}

#[tokio::test(start_paused = true)]
async fn hedges_in_gather_see_the_enclosing_deadline() {
    let servers: Vec<_> = (0..3).map(|_| Server::new(&[120, 10])).collect();
    let policy = HedgePolicy::after(ms(100)).min_attempt_time(ms(100));
    let calls = servers
        .iter()
        .map(|s| corral::hedge(policy.clone(), || s.attempt()));
    let r = corral::timeout(ms(150), corral::gather(calls)).await;
    let done = r.unwrap().unwrap();
    assert_eq!(done.len(), 3);
    assert!(
        done.iter().all(|d| (d.winner, d.attempts) == (0, 1)),
        "{done:?}"
    );
    for s in &servers {
        assert_eq!(s.starts(), [ms(0)]);
    }
}
