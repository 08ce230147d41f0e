//! RateLimiter on the paused clock: bursts, the rate held over a long run, FIFO order, and
//! that waiters dropped mid-wait take nothing.

mod common;
use common::*;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use corral::{Rate, RateLimiter};
use futures::FutureExt;
use tokio::time::{sleep, Instant};

/// Lets every runnable task run until all are blocked again.
async fn settle() {
    for _ in 0..4 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_burst_goes_at_once_then_slots_are_one_interval_apart() {
    let limiter = RateLimiter::new(Rate::per_second(10), 3);
    let start = Instant::now();
    let mut times = Vec::new();
    for _ in 0..6 {
        limiter.until_ready().await;
        times.push(start.elapsed());
    }
    assert_eq!(times, [ms(0), ms(0), ms(0), ms(100), ms(200), ms(300)]);
}

#[tokio::test(start_paused = true)]
async fn a_quiet_spell_refills_the_burst_but_no_more() {
    let limiter = RateLimiter::new(Rate::per_second(10), 3);
    for _ in 0..3 {
        assert!(limiter.try_acquire());
    }
    assert!(!limiter.try_acquire());
    sleep(secs(60)).await;
    for _ in 0..3 {
        assert!(limiter.try_acquire());
    }
    assert!(
        !limiter.try_acquire(),
        "a long quiet spell earns one burst, not 600 slots"
    );
}

/// 20 senders contend for 3,000 slots at 3 a second (an interval of 333.33 ms, which tokio's
/// millisecond timer cannot hit): about 1,000 virtual seconds. Checks, at every instant a slot
/// was taken, that the count is within one token of `burst + elapsed × rate`.
async fn hold_the_rate_over_a_long_run(burst: u32) {
    let limiter = Arc::new(RateLimiter::new(Rate::per_second(3), burst));
    let start = Instant::now();
    let times = Arc::new(Mutex::new(Vec::new()));
    let senders = (0..20).map(|_| {
        let (limiter, times) = (limiter.clone(), times.clone());
        async move {
            for _ in 0..150 {
                limiter.until_ready().await;
                times.lock().unwrap().push(start.elapsed());
            }
            Ok::<_, ()>(())
        }
    });
    corral::gather(senders).await.unwrap();
    let times = times.lock().unwrap().clone();
    assert_eq!(times.len(), 3_000);
    let burst = f64::from(burst);
    for (i, t) in times.iter().enumerate() {
        if times.get(i + 1) == Some(t) {
            continue; // count every slot taken by this instant
        }
        let sent = (i + 1) as f64;
        // Never more than the burst plus the rate allows by then...
        let allowed = burst + t.as_secs_f64() * 3.0;
        assert!(
            sent <= allowed + 1e-6,
            "slot {i} at {t:?}: {sent} > {allowed}"
        );
        // ...and, with a backlog, never more than one token behind it.
        assert!(
            sent >= allowed - 1.0 - 1e-6,
            "slot {i} at {t:?}: {sent} < {allowed} - 1"
        );
    }
    let last = times.last().unwrap().as_secs_f64();
    let expected = (3_000.0 - burst) / 3.0;
    assert!((last - expected).abs() < 0.002, "{last} vs {expected}");
}

#[tokio::test(start_paused = true)]
async fn the_rate_is_held_within_one_token_over_a_long_run() {
    hold_the_rate_over_a_long_run(1).await;
}

#[tokio::test(start_paused = true)]
async fn the_rate_with_a_burst_is_held_within_one_token_over_a_long_run() {
    hold_the_rate_over_a_long_run(5).await;
}

#[tokio::test(start_paused = true)]
async fn waiters_are_served_in_the_order_they_first_polled() {
    let limiter = Arc::new(RateLimiter::new(Rate::per_second(10), 1));
    assert!(limiter.try_acquire());
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..5 {
        let (limiter, order) = (limiter.clone(), order.clone());
        tasks.push(corral::spawn(async move {
            limiter.until_ready().await;
            order.lock().unwrap().push(i);
            Ok::<_, ()>(())
        }));
        settle().await; // each queues before the next is spawned
    }
    // A newcomer that finds a slot free does not overtake the queue.
    sleep(ms(100)).await;
    assert!(!limiter.try_acquire());
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4]);
}

#[tokio::test(start_paused = true)]
async fn a_waiter_dropped_mid_wait_takes_nothing() {
    let limiter = RateLimiter::new(Rate::per_second(1), 1);
    let start = Instant::now();
    limiter.until_ready().await; // the slot at 0 s; the next is at 1 s
                                 // Three waiters queue; the head is armed for 1 s. All are dropped at 0.5 s.
    let mut a = Box::pin(limiter.until_ready());
    let mut b = Box::pin(limiter.until_ready());
    let mut c = Box::pin(limiter.until_ready());
    assert!((&mut a).now_or_never().is_none());
    assert!((&mut b).now_or_never().is_none());
    assert!((&mut c).now_or_never().is_none());
    assert_eq!(limiter.waiters(), 3);
    sleep(ms(500)).await;
    drop((a, b, c));
    assert_eq!(limiter.waiters(), 0);
    // The slot at 1 s is still there for the next caller, and the one after at 2 s.
    limiter.until_ready().await;
    assert_eq!(start.elapsed(), secs(1));
    limiter.until_ready().await;
    assert_eq!(start.elapsed(), secs(2));
}

#[tokio::test(start_paused = true)]
async fn dropping_the_head_hands_its_turn_to_the_next_waiter() {
    let limiter = Arc::new(RateLimiter::new(Rate::per_second(1), 1));
    let start = Instant::now();
    assert!(limiter.try_acquire());
    let head = corral::spawn({
        let limiter = limiter.clone();
        async move {
            limiter.until_ready().await;
            Ok::<_, ()>(())
        }
    });
    settle().await;
    let next = corral::spawn({
        let limiter = limiter.clone();
        async move {
            limiter.until_ready().await;
            Ok::<_, ()>(start.elapsed())
        }
    });
    settle().await;
    assert_eq!(limiter.waiters(), 2);
    sleep(ms(300)).await;
    head.cancel();
    assert!(head.await.is_cancelled());
    // The second waiter takes the head's slot at 1 s (it is woken, not left hanging).
    assert_eq!(next.await.unwrap(), secs(1));
    assert_eq!(limiter.waiters(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_waiter_dropped_from_the_middle_of_the_queue_keeps_the_others_on_time() {
    let limiter = Arc::new(RateLimiter::new(Rate::per_second(10), 1));
    let start = Instant::now();
    assert!(limiter.try_acquire());
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let limiter = limiter.clone();
        tasks.push(corral::spawn(async move {
            limiter.until_ready().await;
            Ok::<_, ()>(start.elapsed())
        }));
        settle().await;
    }
    let middle = tasks.remove(1);
    middle.cancel();
    assert!(middle.await.is_cancelled());
    let times: Vec<_> = corral::gather(tasks).await.unwrap();
    assert_eq!(times, [ms(100), ms(200)]);
}

#[tokio::test(start_paused = true)]
async fn a_rate_limited_gather_takes_as_long_as_the_rate_says() {
    // The command's check: 60 requests at 20 a second (burst 1) take 2.95 s.
    let limiter = RateLimiter::new(Rate::per_second(20), 1);
    let start = Instant::now();
    let requests = (0..60).map(|i| {
        let limiter = &limiter;
        async move {
            limiter.until_ready().await;
            Ok::<_, ()>(i)
        }
    });
    let out = corral::gather(requests).await.unwrap();
    assert_eq!(out.len(), 60);
    assert_eq!(start.elapsed(), ms(2_950));
}

#[test]
fn rates_parse_from_the_commands_forms() {
    assert_eq!("50".parse::<Rate>().unwrap(), Rate::per_second(50));
    assert_eq!("50/s".parse::<Rate>().unwrap(), Rate::per_second(50));
    assert_eq!("3000/min".parse::<Rate>().unwrap(), Rate::per_minute(3000));
    assert_eq!("3000/m".parse::<Rate>().unwrap(), Rate::per_second(50));
    assert_eq!(
        "0.5/s".parse::<Rate>().unwrap().interval(),
        Duration::from_secs(2)
    );
    assert_eq!(
        "10/h".parse::<Rate>().unwrap().interval(),
        Duration::from_secs(360)
    );
    assert_eq!(Rate::per_second(3).to_string(), "3/s");
    assert_eq!("3000/min".parse::<Rate>().unwrap().to_string(), "50/s");
    assert_eq!("0.5/s".parse::<Rate>().unwrap().to_string(), "0.5/s");
    for bad in ["", "0", "-1/s", "ten", "5/fortnight", "inf", "NaN/s"] {
        assert!(bad.parse::<Rate>().is_err(), "{bad:?} parsed");
    }
}

// ---------------------------------------------------------------------------------------------
// `.rate(..)` on the fan-out combinators: the engine takes a slot before starting an input.

/// Futures that record when they were started (first polled), relative to `start`.
#[derive(Clone)]
struct Starts {
    start: Instant,
    at: Arc<Mutex<Vec<Duration>>>,
}

impl Starts {
    fn new() -> Starts {
        Starts {
            start: Instant::now(),
            at: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn input(
        &self,
        takes: u64,
        r: Result<u32, u32>,
    ) -> impl std::future::Future<Output = Result<u32, u32>> {
        let me = self.clone();
        async move {
            me.at.lock().unwrap().push(me.start.elapsed());
            sleep(ms(takes)).await;
            r
        }
    }

    fn times(&self) -> Vec<Duration> {
        self.at.lock().unwrap().clone()
    }
}

#[tokio::test(start_paused = true)]
async fn gather_rate_holds_the_rate_over_a_long_run() {
    // 1,000 inputs at 50/s with a burst of 5: the n-th starts at (n - 5) × 20 ms, never earlier.
    let starts = Starts::new();
    let inputs = (0..1_000).map(|i| starts.input(7, Ok(i)));
    let v = corral::gather(inputs)
        .rate(RateLimiter::new(Rate::per_second(50), 5))
        .await
        .unwrap();
    assert_eq!(v.len(), 1_000);
    let times = starts.times();
    for (n, at) in times.iter().enumerate() {
        let due = ms(20) * (n.saturating_sub(4) as u32);
        assert_eq!(*at, due, "input {n}");
    }
    // Over any window, at most burst + window / interval starts.
    assert_eq!(starts.start.elapsed(), ms(20 * 995 + 7));
}

#[tokio::test(start_paused = true)]
async fn rate_composes_with_limit() {
    // At most 2 at once, each 300 ms, and 10/s: the limit is the tighter bound once the
    // burst is spent.
    let starts = Starts::new();
    let inputs = (0..6).map(|i| starts.input(300, Ok(i)));
    corral::gather(inputs)
        .limit(2)
        .rate(RateLimiter::new(Rate::per_second(10), 1))
        .await
        .unwrap();
    assert_eq!(
        starts.times(),
        [ms(0), ms(100), ms(300), ms(400), ms(600), ms(700)]
    );
}

#[tokio::test(start_paused = true)]
async fn gather_settled_and_as_completed_take_the_rate() {
    use futures::StreamExt;
    let starts = Starts::new();
    let out = corral::gather_settled((0..3).map(|i| starts.input(0, Err(i))))
        .rate(RateLimiter::new(Rate::per_second(4), 1))
        .await;
    assert_eq!(out.len(), 3);
    assert_eq!(starts.times(), [ms(0), ms(250), ms(500)]);

    let starts = Starts::new();
    let n = corral::as_completed((0..3).map(|i| starts.input(0, Ok(i))))
        .rate(RateLimiter::new(Rate::per_second(4), 1))
        .count()
        .await;
    assert_eq!(n, 3);
    assert_eq!(starts.times(), [ms(0), ms(250), ms(500)]);
}

#[tokio::test(start_paused = true)]
async fn a_shared_limiter_holds_several_combinators_to_one_rate() {
    let limiter = Arc::new(RateLimiter::new(Rate::per_second(10), 1));
    let a = Starts::new();
    let b = Starts::new();
    let (ra, rb) = tokio::join!(
        corral::gather((0..5).map(|i| a.input(0, Ok(i)))).rate(limiter.clone()),
        corral::gather((0..5).map(|i| b.input(0, Ok(i)))).rate(limiter.clone()),
    );
    ra.unwrap();
    rb.unwrap();
    let mut all: Vec<Duration> = a.times().into_iter().chain(b.times()).collect();
    all.sort();
    let due: Vec<Duration> = (0..10).map(|n| ms(100) * n).collect();
    assert_eq!(all, due, "ten starts, one every 100 ms, between the two");
}

#[tokio::test(start_paused = true)]
async fn race_any_and_quorum_stop_taking_slots_once_decided() {
    let limiter = Arc::new(RateLimiter::new(Rate::per_second(10), 1));
    let starts = Starts::new();
    // any: inputs 0 and 1 fail at once, input 2 wins at 200 ms.
    let w = corral::any((0..100).map(|i| starts.input(0, if i < 2 { Err(i) } else { Ok(i) })))
        .rate(limiter.clone())
        .await
        .unwrap();
    assert_eq!(w.index, 2);
    assert_eq!(starts.times(), [ms(0), ms(100), ms(200)]);
    assert_eq!(
        limiter.waiters(),
        0,
        "a decided combinator leaves the limiter's queue"
    );

    let starts = Starts::new();
    let first = corral::race((0..100).map(|i| starts.input(950, Ok(i))))
        .rate(limiter.clone())
        .await
        .unwrap();
    // The shared limiter's next slot was at 300 ms; inputs started every 100 ms until the
    // first finished, 950 ms after it started (at 1,250 ms): ten of them.
    assert_eq!(first.index, 0);
    assert_eq!(starts.times().len(), 10);
    assert_eq!(limiter.waiters(), 0);

    let starts = Starts::new();
    let ok = corral::quorum(2, (0..100).map(|i| starts.input(0, Ok(i))))
        .rate(limiter.clone())
        .await
        .unwrap();
    assert_eq!(ok.len(), 2);
    assert_eq!(starts.times().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_rated_gather_that_fails_leaves_the_queue_and_starts_nothing_more() {
    let limiter = Arc::new(RateLimiter::new(Rate::per_second(1), 1));
    let starts = Starts::new();
    let err = corral::gather((0..10).map(|i| starts.input(0, if i == 1 { Err(i) } else { Ok(i) })))
        .rate(limiter.clone())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        corral::InputFailure {
            index: 1,
            failure: corral::Failure::Error(1)
        }
    );
    assert_eq!(starts.times(), [secs(0), secs(1)]);
    assert_eq!(limiter.waiters(), 0);
    // The limiter is free for others at its next slot, not held by the failed gather.
    let t = Instant::now();
    limiter.until_ready().await;
    assert_eq!(t.elapsed(), secs(1));
}

/// An iterator that promises more inputs than it gives: its `size_hint` says 10, it yields 2.
struct Liar(u32);

impl Iterator for Liar {
    type Item = std::future::Ready<Result<u32, u32>>;
    fn next(&mut self) -> Option<Self::Item> {
        (self.0 < 2).then(|| {
            self.0 += 1;
            std::future::ready(Ok(self.0))
        })
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (10, Some(10))
    }
}

#[tokio::test(start_paused = true)]
async fn slots_taken_at_once_and_not_used_are_given_back() {
    // The gate takes the free slots for the 10 inputs it was promised in one step, starts 2,
    // and gives the other 8 back when the gather ends.
    let limiter = Arc::new(RateLimiter::new(Rate::per_second(1), 10));
    let v = corral::gather(Liar(0)).rate(limiter.clone()).await.unwrap();
    assert_eq!(v, [1, 2]);
    let free = (0..20).take_while(|_| limiter.try_acquire()).count();
    assert_eq!(free, 8, "the burst of 10, less the 2 inputs started");
}

#[tokio::test(start_paused = true)]
async fn a_whole_burst_taken_at_once_starts_as_one_by_one_would() {
    // 30 inputs, a burst of 12 at 100/s, under a limit of 5 and then none: the starts are
    // those of one slot at a time, whatever the batches.
    for limit in [5, usize::MAX] {
        let starts = Starts::new();
        let limiter = Arc::new(RateLimiter::new(Rate::per_second(100), 12));
        corral::gather((0..30).map(|i| starts.input(30, Ok(i))))
            .limit(limit)
            .rate(limiter.clone())
            .await
            .unwrap();
        let times = starts.times();
        // One by one: the n-th start is no earlier than its GCRA slot, (n - 11) × 10 ms,
        // nor than the limit allows (the (n - 5)-th ended 30 ms after it started).
        let mut expected: Vec<Duration> = Vec::new();
        for n in 0..30 {
            let slot = ms(10) * (n as u32).saturating_sub(11);
            let room = if limit == 5 && n >= 5 {
                expected[n - 5] + ms(30)
            } else {
                ms(0)
            };
            expected.push(slot.max(room));
        }
        assert_eq!(times, expected, "limit {limit}");
        assert_eq!(limiter.waiters(), 0);
    }
}
