//! AdaptiveLimiter on the paused clock. AIMD and Vegas, against a simulated server whose
//! latency grows past a knee, converge near the knee (Vegas without being told a latency
//! threshold, and it backs off when the knee drops); AIMD grows while fast and saturated, and
//! one congestion event cuts it once. The fan-out combinators under an adaptive limit start
//! inputs only with a permit, take each verdict from the input's outcome, and give every
//! permit back when they end.

mod common;
use common::*;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use corral::AdaptiveLimiter;
use tokio::time::{sleep, Instant};

/// A server that answers in 100 ms while at most `knee` requests are in flight, and slower
/// past it, in proportion (a queue): `100 ms × in_flight / knee`. The knee can move.
#[derive(Clone)]
struct Server {
    knee: Arc<AtomicUsize>,
    in_flight: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

impl Server {
    fn new(knee: usize) -> Server {
        Server {
            knee: Arc::new(AtomicUsize::new(knee)),
            in_flight: Arc::new(AtomicUsize::new(0)),
            peak: Arc::new(AtomicUsize::new(0)),
        }
    }

    async fn call(&self) {
        let n = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(n, Ordering::SeqCst);
        let knee = self.knee.load(Ordering::SeqCst);
        let latency = if n <= knee {
            ms(100)
        } else {
            ms(100) * n as u32 / knee as u32
        };
        sleep(latency).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The mean, lowest and highest of `limits`.
fn spread(limits: &[usize]) -> (f64, usize, usize) {
    let mean = limits.iter().sum::<usize>() as f64 / limits.len() as f64;
    let lo = *limits.iter().min().unwrap();
    let hi = *limits.iter().max().unwrap();
    (mean, lo, hi)
}

#[tokio::test(start_paused = true)]
async fn aimd_converges_near_a_servers_knee() {
    let server = Server::new(40);
    // A success slower than 120 ms is an overload: the server is past its knee.
    let limit = AdaptiveLimiter::aimd(4, 1, 1_000).overload_after(ms(120));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let calls = (0..20_000).map(|_| {
        let (limit, server, samples) = (limit.clone(), server.clone(), samples.clone());
        async move {
            let permit = limit.acquire().await;
            server.call().await;
            permit.success();
            samples
                .lock()
                .unwrap()
                .push((start.elapsed(), limit.limit()));
            Ok::<_, ()>(())
        }
    });
    corral::gather(calls).await.unwrap();
    let samples = samples.lock().unwrap();
    // After the first half (warm-up: growing from 4), the limit stays near the knee of 40.
    let settled: Vec<usize> = samples[samples.len() / 2..].iter().map(|s| s.1).collect();
    let mean = settled.iter().sum::<usize>() as f64 / settled.len() as f64;
    let (lo, hi) = (settled.iter().min().unwrap(), settled.iter().max().unwrap());
    assert!(
        (32.0..=48.0).contains(&mean),
        "the limit settled at {mean:.1} on average, not within 20 % of the knee (40)"
    );
    assert!(*lo >= 30 && *hi <= 50, "the limit swung from {lo} to {hi}");
}

#[tokio::test(start_paused = true)]
async fn grows_only_while_the_limit_holds_calls_back() {
    let limit = AdaptiveLimiter::aimd(10, 1, 100);
    // One call at a time never uses half of a limit of 10: no growth.
    for _ in 0..100 {
        limit.acquire().await.success();
    }
    assert_eq!(limit.limit(), 10);
    // Ten at once: the verdicts given while at least five are held grow it, by about one
    // every two round trips (fewer of ten calls hold half as the limit grows).
    for _ in 0..10 {
        let permits: Vec<_> = futures::future::join_all((0..10).map(|_| limit.acquire())).await;
        permits.into_iter().for_each(|p| p.success());
    }
    // At most one a round trip: ten round trips from 10 stay within 20.
    assert!(
        (12..=20).contains(&limit.limit()),
        "grew to {}",
        limit.limit()
    );
}

#[tokio::test(start_paused = true)]
async fn one_congestion_event_cuts_once() {
    let limit = AdaptiveLimiter::aimd(20, 1, 100);
    let permits: Vec<_> = futures::future::join_all((0..20).map(|_| limit.acquire())).await;
    sleep(ms(10)).await;
    // All twenty started before the first cut: only the first overload counts.
    permits.into_iter().for_each(|p| p.overload());
    assert_eq!(limit.limit(), 18);
    // A call started after the cut cuts again.
    limit.acquire().await.overload();
    assert_eq!(limit.limit(), 16);
    // Never below the minimum.
    for _ in 0..100 {
        sleep(ms(1)).await;
        limit.acquire().await.overload();
    }
    assert_eq!(limit.limit(), 1);
}

/// Runs `calls` calls to `server` under `limit` as the limit of a `gather` (the combinator
/// acquires and gives the verdicts), and returns the limit seen as each call ended.
async fn run_under(limit: &AdaptiveLimiter, server: &Server, calls: usize) -> Vec<usize> {
    let samples = Arc::new(Mutex::new(Vec::with_capacity(calls)));
    let inputs = (0..calls).map(|_| {
        let (limit, server, samples) = (limit.clone(), server.clone(), samples.clone());
        async move {
            server.call().await;
            samples.lock().unwrap().push(limit.limit());
            Ok::<_, ()>(())
        }
    });
    corral::gather(inputs).limit(limit).await.unwrap();
    assert_eq!(limit.in_flight(), 0, "every permit is given back");
    let samples = samples.lock().unwrap();
    samples.clone()
}

#[tokio::test(start_paused = true)]
async fn vegas_converges_near_a_servers_knee_without_a_threshold() {
    for knee in [20, 40, 100] {
        let server = Server::new(knee);
        let limit = AdaptiveLimiter::vegas(4, 1, 1_000);
        let samples = run_under(&limit, &server, knee * 500).await;
        // The second half: warmed up (grown from 4 by one a round trip).
        let (mean, lo, hi) = spread(&samples[samples.len() / 2..]);
        let k = knee as f64;
        assert!(
            (0.8 * k..=1.2 * k).contains(&mean),
            "knee {knee}: the limit settled at {mean:.1} on average, not within 20 %"
        );
        assert!(
            lo as f64 >= 0.8 * k && hi as f64 <= 1.2 * k,
            "knee {knee}: the limit swung from {lo} to {hi}"
        );
        // The limit held the server there: never more in flight than the limit went.
        let peak = server.peak.load(Ordering::SeqCst);
        assert!(
            peak as f64 <= 1.2 * k,
            "knee {knee}: {peak} in flight at once"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn vegas_backs_off_when_latency_rises() {
    let server = Server::new(40);
    let limit = AdaptiveLimiter::vegas(4, 1, 1_000);
    let before = run_under(&limit, &server, 10_000).await;
    let (mean, _, _) = spread(&before[5_000..]);
    assert!((32.0..=48.0).contains(&mean), "settled at {mean:.1} first");
    // The server can take a quarter of that now: past 10 in flight, calls queue, and latency
    // rises (4x at the old limit). Same base latency: Vegas sees the queue and shrinks.
    server.knee.store(10, Ordering::SeqCst);
    let start = Instant::now();
    let after = run_under(&limit, &server, 5_000).await;
    let (mean, lo, hi) = spread(&after[2_500..]);
    assert!(
        (8.0..=12.0).contains(&mean) && lo >= 8 && hi <= 13,
        "after the knee dropped to 10, the limit is at {mean:.1} ({lo}..{hi})"
    );
    // It shrinks by one a round trip: down from about 42 within a few seconds.
    let first_at_13 = after.iter().position(|&l| l <= 13).unwrap();
    assert!(
        first_at_13 < 2_000,
        "took {first_at_13} calls to back off (of {} in {:?})",
        after.len(),
        start.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn an_adaptive_limit_takes_its_verdicts_from_the_outcomes() {
    use corral::Outcome;
    // Err: an overload, cut by half.
    let limit = AdaptiveLimiter::aimd(8, 1, 100).backoff(0.5);
    let out = corral::gather_settled([async {
        sleep(ms(10)).await;
        Err::<(), _>("overloaded")
    }])
    .limit(&limit)
    .await;
    assert!(matches!(out[0], Outcome::Err(_)));
    assert_eq!(limit.limit(), 4);
    // A panic: an overload too.
    let out = corral::gather_settled([async {
        sleep(ms(10)).await;
        if true {
            panic!("boom");
        }
        Ok::<(), ()>(())
    }])
    .limit(&limit)
    .await;
    assert!(matches!(out[0], Outcome::Panicked(_)));
    assert_eq!(limit.limit(), 2);
    // Ok: a success; AIMD grows by 1 / limit with the limit in use.
    let out = corral::gather_settled([async {
        sleep(ms(10)).await;
        Ok::<(), ()>(())
    }])
    .limit(&limit)
    .await;
    assert!(matches!(out[0], Outcome::Ok(())));
    assert_eq!(limit.limit(), 2); // 2.5
                                  // A cancelled task says nothing.
    let task = corral::spawn(async {
        sleep(secs(1)).await;
        Ok::<(), ()>(())
    });
    task.cancel();
    let out = corral::gather_settled([task]).limit(&limit).await;
    assert!(matches!(out[0], Outcome::Cancelled(_)));
    assert_eq!(limit.limit(), 2);
    assert_eq!(limit.in_flight(), 0);
    // Vegas: a success slower than its threshold is an overload, a fast one a sample.
    let vegas = AdaptiveLimiter::vegas(10, 1, 100).overload_after(ms(50));
    corral::gather([async {
        sleep(ms(80)).await;
        Ok::<(), ()>(())
    }])
    .limit(&vegas)
    .await
    .unwrap();
    assert_eq!(vegas.limit(), 9);
}

#[tokio::test(start_paused = true)]
async fn inputs_start_only_with_a_permit_and_the_limit_bounds_them_as_it_moves() {
    let started = Arc::new(Mutex::new(Vec::new()));
    // Never above 3 (its max); the first failures cut it to 1 (once: they started together).
    let limit = AdaptiveLimiter::aimd(3, 1, 3).backoff(0.1);
    let start = Instant::now();
    let inputs = (0..30).map(|i| {
        let started = started.clone();
        async move {
            started.lock().unwrap().push(start.elapsed());
            sleep(ms(10)).await;
            if i < 3 {
                Err(i)
            } else {
                Ok(i)
            }
        }
    });
    let s = corral::as_completed(inputs).limit(&limit);
    let done: Vec<_> = futures::StreamExt::collect(s).await;
    assert_eq!(done.len(), 30);
    assert_eq!(limit.in_flight(), 0);
    let started = started.lock().unwrap();
    let at = |t: u64| started.iter().filter(|&&s| s == ms(t)).count();
    // Three at once (the limit), then one alone after the cut, then two as it grows back
    // (1 + 1/1), two (2 + 1/2 + 1/2.5 = 2.9), three (+ 1/2.9), never more than the max.
    assert_eq!((at(0), at(10), at(20), at(30), at(40)), (3, 1, 2, 2, 3));
    assert!((0..40).all(|t| at(t * 10) <= 3));
}

#[tokio::test(start_paused = true)]
async fn a_stopped_combinator_gives_every_permit_back_and_judges_only_before_the_stop() {
    let limit = AdaptiveLimiter::aimd(10, 1, 100).backoff(0.5);
    // gather: the first failure stops the rest; they are cancelled and say nothing.
    let inputs = (0..10).map(|i| async move {
        sleep(ms(10 * (i + 1))).await;
        if i == 0 {
            Err(i)
        } else {
            Ok(i)
        }
    });
    assert_eq!(
        corral::gather(inputs)
            .limit(&limit)
            .await
            .map_err(|f| f.failure),
        Err(corral::Failure::Error(0))
    );
    assert_eq!((limit.limit(), limit.in_flight()), (5, 0));
    // any: the first success wins; the others are cancelled without a verdict.
    let inputs = (0..5u64).map(|i| async move {
        sleep(ms(10 * (i + 1))).await;
        Ok::<_, ()>(i)
    });
    let won = corral::any(inputs).limit(&limit).await.unwrap();
    assert_eq!(won.value, 0);
    assert_eq!(limit.in_flight(), 0);
    assert_eq!(limit.limit(), 5); // 5.2: one success
                                  // A stream dropped half-way.
    let inputs = (0..100).map(|i| async move {
        sleep(ms(i % 7 + 1)).await;
        Ok::<_, ()>(i)
    });
    let mut s = corral::as_completed(inputs).limit(&limit);
    futures::StreamExt::next(&mut s).await.unwrap();
    assert!(limit.in_flight() > 0);
    drop(s);
    assert_eq!(limit.in_flight(), 0);
    // Quorum and race take it too.
    let inputs = (0..6).map(|i| async move { Ok::<_, ()>(i) });
    assert_eq!(
        corral::quorum(2, inputs).limit(&limit).await.unwrap().len(),
        2
    );
    let inputs = (0..6).map(|i| async move { Ok::<_, ()>(i) });
    assert_eq!(corral::race(inputs).limit(&limit).await.unwrap().index, 0);
    assert_eq!(limit.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_shared_adaptive_limit_bounds_two_combinators_together() {
    let limit = AdaptiveLimiter::vegas(4, 4, 4);
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let calls = || {
        let (running, peak) = (running.clone(), peak.clone());
        (0..20).map(move |_| {
            let (running, peak) = (running.clone(), peak.clone());
            async move {
                peak.fetch_max(running.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                sleep(ms(10)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, ()>(())
            }
        })
    };
    let start = Instant::now();
    let (a, b) = tokio::join!(
        corral::gather(calls()).limit(&limit),
        corral::gather_settled(calls()).limit(&limit)
    );
    assert!(a.is_ok() && b.len() == 20);
    assert_eq!(peak.load(Ordering::SeqCst), 4);
    assert_eq!(start.elapsed(), ms(100)); // 40 calls of 10 ms, 4 at a time
}
