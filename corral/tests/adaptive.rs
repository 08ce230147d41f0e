//! AdaptiveLimiter (AIMD) on the paused clock: against a simulated server whose latency grows
//! past a knee, the limit converges near the knee; it grows while fast and saturated, and one
//! congestion event cuts it once.

mod common;
use common::*;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use corral::AdaptiveLimiter;
use tokio::time::{sleep, Instant};

/// A server that answers in 100 ms while at most `knee` requests are in flight, and slower
/// past it, in proportion (a queue): `100 ms × in_flight / knee`.
#[derive(Clone)]
struct Server {
    knee: usize,
    in_flight: Arc<AtomicUsize>,
}

impl Server {
    async fn call(&self) {
        let n = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        let latency = if n <= self.knee {
            ms(100)
        } else {
            ms(100) * n as u32 / self.knee as u32
        };
        sleep(latency).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn aimd_converges_near_a_servers_knee() {
    let server = Server {
        knee: 40,
        in_flight: Arc::new(AtomicUsize::new(0)),
    };
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
