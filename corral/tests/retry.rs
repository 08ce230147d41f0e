//! retry: every knob of a RetryPolicy on the paused clock (attempts, retry_if, backoff and
//! jitter bounds, delay hints, the shared budget, the enclosing deadline), and that a retry
//! composes with the combinators.

mod common;
use common::*;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use corral::{Backoff, GaveUp, Jitter, RetryBudget, RetryPolicy};
use tokio::time::{sleep, Instant};

/// An operation that fails `fails` times, then returns the attempt number; each attempt takes
/// `takes` and records when it started (relative to `start`).
#[derive(Clone)]
struct Flaky {
    fails: u32,
    takes: Duration,
    start: Instant,
    calls: Arc<AtomicU32>,
    starts: Arc<Mutex<Vec<Duration>>>,
}

impl Flaky {
    fn new(fails: u32, takes: Duration) -> Flaky {
        Flaky {
            fails,
            takes,
            start: Instant::now(),
            calls: Arc::new(AtomicU32::new(0)),
            starts: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn attempt(&self) -> impl std::future::Future<Output = Result<u32, String>> + Send + 'static {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        self.starts.lock().unwrap().push(self.start.elapsed());
        let (fails, takes) = (self.fails, self.takes);
        async move {
            sleep(takes).await;
            if n <= fails {
                Err(format!("failure {n}"))
            } else {
                Ok(n)
            }
        }
    }

    fn starts(&self) -> Vec<Duration> {
        self.starts.lock().unwrap().clone()
    }

    /// The waits between one attempt's end and the next one's start.
    fn gaps(&self) -> Vec<Duration> {
        self.starts()
            .windows(2)
            .map(|w| w[1] - w[0] - self.takes)
            .collect()
    }
}

fn always_failing() -> Flaky {
    Flaky::new(u32::MAX, Duration::ZERO)
}

#[tokio::test(start_paused = true)]
async fn success_after_failures_reports_attempts_and_earlier_failures() {
    let op = Flaky::new(2, ms(10));
    let policy = RetryPolicy::new()
        .max_attempts(5)
        .backoff(Backoff::constant(ms(100)));
    let done = corral::retry(policy, || op.attempt())
        .report()
        .await
        .unwrap();
    assert_eq!(done.value, 3);
    assert_eq!(done.attempts(), 3);
    assert_eq!(done.failures, ["failure 1", "failure 2"]);
    assert_eq!(op.starts(), [ms(0), ms(110), ms(220)]);
}

#[tokio::test(start_paused = true)]
async fn gives_up_after_max_attempts_keeping_every_failure() {
    let op = Flaky::new(u32::MAX, ms(5));
    let policy = RetryPolicy::new().max_attempts(4).backoff(Backoff::none());
    let err = corral::retry(policy, || op.attempt()).await.unwrap_err();
    assert_eq!(err.reason(), GaveUp::Exhausted);
    assert_eq!(err.attempts(), 4);
    assert_eq!(
        err.failures(),
        ["failure 1", "failure 2", "failure 3", "failure 4"]
    );
    assert_eq!(err.last(), "failure 4");
    assert_eq!(op.calls.load(Ordering::SeqCst), 4);
}

#[tokio::test(start_paused = true)]
async fn retry_if_refuses_a_non_retryable_error_at_once() {
    let start = Instant::now();
    let calls = AtomicU32::new(0);
    let policy = RetryPolicy::new()
        .max_attempts(10)
        .retry_if(|status: &u16| *status >= 500);
    let err = corral::retry(policy, || {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        async move { Err::<(), u16>(if n == 0 { 503 } else { 404 }) }
    })
    .await
    .unwrap_err();
    assert_eq!(err.reason(), GaveUp::NotRetryable);
    assert_eq!(err.failures(), [503, 404]); // 503 retried, 404 not
    assert!(start.elapsed() <= Duration::from_millis(101)); // one backoff delay at most
}

#[tokio::test(start_paused = true)]
async fn no_jitter_gives_exact_exponential_delays_up_to_the_cap() {
    let op = always_failing();
    let policy = RetryPolicy::new().max_attempts(6).backoff(
        Backoff::exponential(ms(100))
            .max_delay(ms(500))
            .jitter(Jitter::None),
    );
    let _ = corral::retry(policy, || op.attempt()).await;
    assert_eq!(op.gaps(), [ms(100), ms(200), ms(400), ms(500), ms(500)]);
}

/// Runs `calls` always-failing retries of `attempts` attempts under `backoff` (seeded) and
/// returns each call's gaps between attempts.
async fn gaps_of(backoff: Backoff, calls: usize, attempts: u32) -> Vec<Vec<Duration>> {
    let policy = RetryPolicy::new()
        .max_attempts(attempts)
        .backoff(backoff)
        .seed(7);
    let mut all = Vec::new();
    for _ in 0..calls {
        let op = always_failing();
        let _ = corral::retry(policy.clone(), || op.attempt()).await;
        all.push(op.gaps());
    }
    all
}

/// tokio's timer wakes on whole milliseconds: a delay is slept for up to 1 ms longer.
const TICK: Duration = Duration::from_millis(1);

#[tokio::test(start_paused = true)]
async fn full_jitter_delays_stay_within_zero_and_the_exponential_ceiling() {
    let base = ms(100);
    let cap = ms(1_000);
    let calls = gaps_of(
        Backoff::exponential(base)
            .max_delay(cap)
            .jitter(Jitter::Full),
        300,
        6,
    )
    .await;
    let mut sums = [0.0f64; 5];
    for gaps in &calls {
        assert_eq!(gaps.len(), 5);
        for (n, gap) in gaps.iter().enumerate() {
            let ceiling = (base * 2u32.pow(n as u32)).min(cap);
            assert!(*gap <= ceiling + TICK, "retry {n}: {gap:?} > {ceiling:?}");
            sums[n] += gap.as_secs_f64() / ceiling.as_secs_f64();
        }
    }
    // Uniform in [0, ceiling]: the mean is half the ceiling (not all at the top, nor at 0).
    for (n, sum) in sums.iter().enumerate() {
        let mean = sum / calls.len() as f64;
        assert!((0.42..0.58).contains(&mean), "retry {n}: mean {mean}");
    }
    // Calls do not jitter in step: the 300 first delays (in [0, 100 ms], seen through the
    // timer's whole milliseconds) spread over most of the 101 values they can take.
    let mut firsts: Vec<_> = calls.iter().map(|g| g[0]).collect();
    firsts.sort();
    firsts.dedup();
    assert!(firsts.len() > 80, "{} distinct", firsts.len());
}

#[tokio::test(start_paused = true)]
async fn equal_jitter_delays_stay_in_the_upper_half_of_the_ceiling() {
    let base = ms(100);
    let calls = gaps_of(Backoff::exponential(base).jitter(Jitter::Equal), 200, 5).await;
    let mut below_three_quarters = 0;
    for gaps in &calls {
        for (n, gap) in gaps.iter().enumerate() {
            let ceiling = base * 2u32.pow(n as u32);
            assert!(
                *gap >= ceiling / 2 && *gap <= ceiling + TICK,
                "{n}: {gap:?}"
            );
            if *gap < ceiling * 3 / 4 {
                below_three_quarters += 1;
            }
        }
    }
    // Half of the draws fall in the lower half of the random part.
    assert!(
        (300..500).contains(&below_three_quarters),
        "{below_three_quarters}"
    );
}

#[tokio::test(start_paused = true)]
async fn decorrelated_jitter_delays_stay_between_base_and_three_times_the_previous() {
    let base = ms(50);
    let cap = ms(2_000);
    let calls = gaps_of(
        Backoff::exponential(base)
            .max_delay(cap)
            .jitter(Jitter::Decorrelated),
        200,
        8,
    )
    .await;
    let mut grew = 0;
    for gaps in &calls {
        let mut prev = base;
        for gap in gaps {
            // The gap may exceed the drawn delay by the timer's millisecond, never less.
            assert!(*gap >= base, "{gap:?} < base");
            assert!(*gap <= (prev * 3).min(cap) + TICK, "{gap:?} > 3 x {prev:?}");
            if *gap > prev {
                grew += 1;
            }
            prev = *gap;
        }
    }
    // Uniform in [base, 3 x prev]: it grows from the previous delay more often than not.
    assert!(grew > 200 * 7 / 2, "{grew}");
}

#[tokio::test(start_paused = true)]
async fn a_seeded_policy_replays_the_same_delays() {
    let backoff = Backoff::exponential(ms(100)).jitter(Jitter::Full);
    let a = gaps_of(backoff, 5, 5).await;
    let b = gaps_of(backoff, 5, 5).await;
    assert_eq!(a, b);
    assert_ne!(a[0], a[1], "each call draws its own sequence");
}

#[tokio::test(start_paused = true)]
async fn calls_that_succeed_at_once_do_not_shift_the_seeded_delays_of_failing_ones() {
    // Calls are numbered for their jitter when they first fail: the failing calls of a seeded
    // policy draw the same delays whether or not successful calls come between them.
    let policy = RetryPolicy::new()
        .max_attempts(4)
        .backoff(Backoff::exponential(ms(100)).jitter(Jitter::Full));
    let run = |successes_between: usize| {
        let policy = policy.clone().seed(11);
        async move {
            let mut all = Vec::new();
            for _ in 0..3 {
                for _ in 0..successes_between {
                    let ok = corral::retry(policy.clone(), || async { Ok::<_, String>(1) });
                    assert_eq!(ok.await, Ok(1));
                }
                let op = always_failing();
                let _ = corral::retry(policy.clone(), || op.attempt()).await;
                all.push(op.gaps());
            }
            all
        }
    };
    let alone = run(0).await;
    assert_ne!(
        alone[0], alone[1],
        "each failing call draws its own sequence"
    );
    assert_eq!(run(5).await, alone);
}

#[tokio::test(start_paused = true)]
async fn a_delay_hint_overrides_the_backoff_and_is_capped() {
    let op_start = Instant::now();
    let starts = Arc::new(Mutex::new(Vec::new()));
    let hints = [Some(secs(3)), None, Some(secs(60))];
    let calls = AtomicU32::new(0);
    let policy = RetryPolicy::new()
        .max_attempts(4)
        .backoff(Backoff::constant(ms(100)).max_delay(secs(5)))
        .delay_hint(|hint: &Option<Duration>| *hint);
    let err = corral::retry(policy, || {
        starts.lock().unwrap().push(op_start.elapsed());
        let n = calls.fetch_add(1, Ordering::SeqCst) as usize;
        async move { Err::<(), _>(hints.get(n).copied().flatten()) }
    })
    .await
    .unwrap_err();
    assert_eq!(err.attempts(), 4);
    // 3 s as hinted; 100 ms of backoff without a hint; 60 s hinted, capped at 5 s.
    assert_eq!(
        *starts.lock().unwrap(),
        [ms(0), ms(3_000), ms(3_100), ms(8_100)]
    );
}

/// 10,000 calls of an always-failing operation that would each make 4 attempts.
async fn extra_attempts_under(budget: &RetryBudget, spacing: Duration) -> (u32, Duration) {
    let policy = RetryPolicy::new()
        .max_attempts(4)
        .backoff(Backoff::none())
        .budget(budget.clone());
    let start = Instant::now();
    let mut extra = 0;
    for _ in 0..10_000 {
        let err = policy
            .retry(|| async { Err::<(), _>("down") })
            .await
            .unwrap_err();
        extra += err.attempts() - 1;
        if !spacing.is_zero() {
            sleep(spacing).await;
        }
    }
    (extra, start.elapsed())
}

#[tokio::test(start_paused = true)]
async fn the_budget_caps_extra_attempts_at_the_promised_share_over_10000_calls() {
    // 20 % on top of first attempts, no floor: at most 2,000 retries, where 30,000 would be
    // made without a budget.
    let budget = RetryBudget::new(0.2, 0, secs(10));
    let (extra, _) = extra_attempts_under(&budget, Duration::ZERO).await;
    assert!(extra <= 2_000, "{extra}");
    assert!(
        extra >= 1_990,
        "the budget lets the promised share through: {extra}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_budget_share_and_floor_hold_over_a_sliding_window() {
    // 10 % plus 2 a second, over 10 s windows, with calls spread over 100 virtual seconds.
    let budget = RetryBudget::new(0.1, 2, secs(10));
    let (extra, elapsed) = extra_attempts_under(&budget, ms(10)).await;
    assert_eq!(elapsed, secs(100));
    // Share of first attempts, plus the floor for the run, plus one window's reserve at start.
    let promised = 1_000 + 2 * 100 + 2 * 10;
    assert!(extra <= promised, "{extra} > {promised}");
    // ...and the budget lets that much through (a steady load uses its share and floor).
    assert!(extra >= 1_150, "{extra}");
}

#[tokio::test(start_paused = true)]
async fn the_budget_floor_allows_retries_with_no_traffic_and_refills_with_time() {
    let budget = RetryBudget::new(0.0, 1, secs(10));
    let policy = RetryPolicy::new()
        .max_attempts(100)
        .backoff(Backoff::none())
        .budget(budget.clone());
    let err = policy
        .retry(|| async { Err::<(), _>(()) })
        .await
        .unwrap_err();
    assert_eq!(err.reason(), GaveUp::Budget);
    assert_eq!(err.attempts(), 11); // the first attempt and the floor's 10 retries
    assert_eq!(budget.available(), 0);
    sleep(secs(10)).await; // the window slides past the spent retries
    assert_eq!(budget.available(), 10);
}

#[tokio::test(start_paused = true)]
async fn a_deadline_cuts_retries_short_without_sleeping_past_it() {
    let op = Flaky::new(u32::MAX, ms(100));
    let policy = RetryPolicy::new()
        .max_attempts(100)
        .backoff(Backoff::constant(ms(300)));
    let start = Instant::now();
    let scope = corral::timeout(secs(1), corral::retry(policy, || op.attempt()));
    let deadline = scope.deadline();
    let err = scope
        .await
        .expect("the retry gave up before the deadline")
        .unwrap_err();
    // Attempts 0-100, 400-500, 800-900; the next would start at 1.2 s, past the deadline.
    assert_eq!(op.starts(), [ms(0), ms(400), ms(800)]);
    assert_eq!(err.reason(), GaveUp::Deadline);
    assert_eq!(err.last(), "failure 3");
    assert_eq!(start.elapsed(), ms(900)); // gave up at once, no sleep towards the deadline
    assert!(!deadline.expired());
}

#[tokio::test(start_paused = true)]
async fn no_attempt_is_started_that_cannot_finish_before_the_deadline() {
    // Each attempt takes 400 ms: after two (at 800 ms), a third could not end by 1 s.
    let op = Flaky::new(u32::MAX, ms(400));
    let policy = RetryPolicy::new()
        .max_attempts(100)
        .backoff(Backoff::none());
    let start = Instant::now();
    let r = corral::timeout(secs(1), corral::retry(policy, || op.attempt())).await;
    let err = r.unwrap().unwrap_err();
    assert_eq!(err.reason(), GaveUp::Deadline);
    assert_eq!(op.starts(), [ms(0), ms(400)]);
    assert_eq!(start.elapsed(), ms(800));
}

#[tokio::test(start_paused = true)]
async fn the_first_attempt_is_timed_under_a_deadline() {
    // The first attempt takes 600 ms: a second could not end by 1 s, so the call gives up
    // when the first fails (without its duration, it would start one and hit the deadline).
    let op = Flaky::new(u32::MAX, ms(600));
    let policy = RetryPolicy::new()
        .max_attempts(100)
        .backoff(Backoff::none());
    let start = Instant::now();
    let r = corral::timeout(secs(1), corral::retry(policy, || op.attempt())).await;
    let err = r
        .expect("the retry gave up before the deadline")
        .unwrap_err();
    assert_eq!(err.reason(), GaveUp::Deadline);
    assert_eq!(op.starts(), [ms(0)]);
    assert_eq!(start.elapsed(), ms(600));
}

#[tokio::test(start_paused = true)]
async fn a_retry_in_a_spawned_task_does_not_see_its_spawners_deadline() {
    // The same attempts as above, in a task: the deadline around the spawner is not the
    // task's, so the retry goes on until its attempts are spent.
    let op = Flaky::new(u32::MAX, ms(600));
    let policy = RetryPolicy::new().max_attempts(3).backoff(Backoff::none());
    let start = Instant::now();
    let task = {
        let op = op.clone();
        corral::timeout(secs(1), async move {
            corral::spawn(corral::retry(policy, move || {
                let op = op.clone();
                async move { op.attempt().await }
            }))
        })
        .await
        .unwrap()
    };
    let err = match task.await {
        corral::Outcome::Err(e) => e,
        other => panic!("the retry ended with {other:?}"),
    };
    assert_eq!(err.reason(), GaveUp::Exhausted);
    assert_eq!(op.starts(), [ms(0), ms(600), ms(1200)]);
    assert_eq!(start.elapsed(), ms(1800));
}

#[tokio::test(start_paused = true)]
async fn min_attempt_time_overrides_the_observed_attempt_time() {
    // Attempts fail at once, but the caller says one needs 300 ms.
    let op = Flaky::new(u32::MAX, Duration::ZERO);
    let policy = RetryPolicy::new()
        .max_attempts(100)
        .backoff(Backoff::constant(ms(200)))
        .min_attempt_time(ms(300));
    let r = corral::timeout(secs(1), corral::retry(policy, || op.attempt())).await;
    assert_eq!(r.unwrap().unwrap_err().reason(), GaveUp::Deadline);
    // 0, 200, 400, 600 (600 + 300 <= 1000); 800 + 300 > 1000.
    assert_eq!(op.starts(), [ms(0), ms(200), ms(400), ms(600)]);
}

#[tokio::test(start_paused = true)]
async fn the_innermost_deadline_of_nested_scopes_applies() {
    let op = Flaky::new(u32::MAX, ms(100));
    let policy = RetryPolicy::new()
        .max_attempts(100)
        .backoff(Backoff::constant(ms(100)));
    let r = corral::timeout(secs(10), async {
        corral::timeout(ms(450), corral::retry(policy, || op.attempt())).await
    })
    .await;
    let err = r.unwrap().unwrap().unwrap_err();
    assert_eq!(err.reason(), GaveUp::Deadline);
    assert_eq!(op.starts(), [ms(0), ms(200)]); // one at 400 ms could not end by 450 ms
}

#[tokio::test(start_paused = true)]
async fn retries_in_gather_see_the_enclosing_deadline() {
    let start = Instant::now();
    let policy = RetryPolicy::new()
        .max_attempts(100)
        .backoff(Backoff::constant(ms(250)));
    let ops: Vec<_> = (0..3).map(|_| Flaky::new(u32::MAX, ms(100))).collect();
    let calls = ops
        .iter()
        .map(|op| corral::retry(policy.clone(), || op.attempt()));
    let r = corral::timeout(secs(1), corral::gather_settled(calls)).await;
    let outcomes = r.expect("every retry gave up before the deadline");
    for o in outcomes {
        let err = o.err().unwrap();
        assert_eq!(err.reason(), GaveUp::Deadline);
        assert_eq!(err.attempts(), 3); // 0, 350, 700; 1050 is past the deadline
    }
    assert_eq!(start.elapsed(), ms(800));
}

#[tokio::test(start_paused = true)]
async fn a_retry_is_a_future_returning_result_for_gather_and_task_groups() {
    let policy = RetryPolicy::new().backoff(Backoff::constant(ms(10)));
    let ops: Vec<_> = (0..3).map(|i| Flaky::new(i, ms(1))).collect();
    let attempts = corral::gather(
        ops.iter()
            .map(|op| corral::retry(policy.clone(), || op.attempt())),
    )
    .await
    .unwrap();
    assert_eq!(attempts, [1, 2, 3]);

    // In a TaskGroup: each child retries on its own; the group sees a plain Result.
    let results = Arc::new(Mutex::new(Vec::new()));
    corral::TaskGroup::new()
        .run(|g| {
            let (policy, results) = (policy.clone(), results.clone());
            async move {
                for i in 0..3 {
                    let (policy, results) = (policy.clone(), results.clone());
                    let op = Flaky::new(i, ms(1));
                    g.spawn(async move {
                        let n = corral::retry(policy, || op.attempt())
                            .await
                            .map_err(|e| e.into_last())?;
                        results.lock().unwrap().push(n);
                        Ok::<_, String>(())
                    });
                }
                Ok::<_, String>(())
            }
        })
        .await
        .unwrap();
    let mut results = results.lock().unwrap().clone();
    results.sort();
    assert_eq!(results, [1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn dropping_a_retry_drops_the_attempt_in_flight() {
    let dropped = flag();
    let started = Arc::new(AtomicU32::new(0));
    let policy = RetryPolicy::new().max_attempts(10);
    let r = corral::timeout(ms(50), {
        let (dropped, started) = (dropped.clone(), started.clone());
        corral::retry(policy, move || {
            started.fetch_add(1, Ordering::SeqCst);
            let guard = Finally(dropped.clone());
            async move {
                let _guard = guard;
                sleep(secs(10)).await;
                Err::<(), ()>(())
            }
        })
    })
    .await;
    assert!(r.is_err());
    assert!(is_set(&dropped));
    assert_eq!(started.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn max_attempts_zero_still_runs_once() {
    let policy = RetryPolicy::new().max_attempts(0);
    let err = corral::retry(policy, || async { Err::<(), _>("x") })
        .await
        .unwrap_err();
    assert_eq!(err.attempts(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_delay_hint_is_honoured_over_a_short_constant_backoff_up_to_10_s() {
    let start = Instant::now();
    let hints = [secs(2), secs(30)];
    let calls = AtomicU32::new(0);
    let policy = RetryPolicy::new()
        .max_attempts(3)
        .backoff(Backoff::constant(ms(10)))
        .delay_hint(|hint: &Duration| Some(*hint));
    let err = corral::retry(policy, || {
        let n = calls.fetch_add(1, Ordering::SeqCst) as usize;
        async move { Err::<(), _>(hints[n.min(1)]) }
    })
    .await
    .unwrap_err();
    assert_eq!(err.attempts(), 3);
    assert_eq!(start.elapsed(), secs(2) + secs(10)); // 2 s, then 30 s capped at 10 s
}
