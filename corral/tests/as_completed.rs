//! as_completed: catalog section 4, plus keys, limits, ordered mode, cancel_rest / cancel_all,
//! bounded memory over a stream, and nothing left running however the stream ends.

mod common;
use common::*;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use corral::{Completed, Elapsed, Outcome, Panic};
use futures::{stream, StreamExt};
use tokio::time::{sleep, Instant};

/// Counts live values, and remembers the most that were ever alive at once.
#[derive(Clone, Default)]
struct Live {
    now: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    made: Arc<AtomicUsize>,
}

struct Guard(Live);

impl Live {
    fn guard(&self) -> Guard {
        self.made.fetch_add(1, Ordering::SeqCst);
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(n, Ordering::SeqCst);
        Guard(self.clone())
    }
    fn now(&self) -> usize {
        self.now.load(Ordering::SeqCst)
    }
    fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
    fn made(&self) -> usize {
        self.made.load(Ordering::SeqCst)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

// ---- 4.1 -----------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn items_come_in_completion_order_4_1() {
    let t0 = Instant::now();
    let mut s = corral::as_completed([after(10, 'b'), after(150, 'c'), after(10, 'a')]);
    let mut seen = Vec::new();
    while let Some(done) = s.next().await {
        seen.push((done.index, done.outcome.unwrap(), t0.elapsed()));
    }
    assert_eq!(
        seen,
        [(0, 'b', ms(10)), (2, 'a', ms(10)), (1, 'c', ms(150))]
    );
}

#[tokio::test(start_paused = true)]
async fn spawned_tasks_come_in_completion_order_4_1() {
    let t0 = Instant::now();
    let tasks = vec![
        corral::spawn(after(10, 'b')),
        corral::spawn(after(150, 'c')),
        corral::spawn(after(10, 'a')),
    ];
    let seen: Vec<_> = corral::as_completed(tasks)
        .map(|d| (d.index, d.outcome.unwrap(), t0.elapsed()))
        .collect()
        .await;
    assert_eq!(
        seen,
        [(0, 'b', ms(10)), (2, 'a', ms(10)), (1, 'c', ms(150))]
    );
    assert_eq!(alive(), 0);
}

// ---- 4.2 -----------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn ties_come_out_in_input_order_4_2() {
    let delays = [30, 10, 30, 10, 20, 10, 30];
    let order: Vec<_> = corral::as_completed(delays.map(|d| after(d, d)))
        .map(|d| d.index)
        .collect()
        .await;
    assert_eq!(order, [1, 3, 5, 4, 0, 2, 6]);

    let tasks: Vec<_> = delays.iter().map(|&d| corral::spawn(after(d, d))).collect();
    let order: Vec<_> = corral::as_completed(tasks).map(|d| d.index).collect().await;
    assert_eq!(order, [1, 3, 5, 4, 0, 2, 6]);
}

#[tokio::test(start_paused = true)]
async fn inputs_ready_at_once_come_out_in_input_order_4_2() {
    let order: Vec<_> = corral::as_completed((0..100).map(|i| async move { Ok::<_, ()>(i) }))
        .map(|d| (d.index, d.outcome.unwrap()))
        .collect()
        .await;
    assert_eq!(order, (0..100).map(|i| (i, i)).collect::<Vec<_>>());
}

// ---- 4.3 -----------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn items_say_which_input_they_were_4_3() {
    // By key: the caller's own identifier for each input.
    let tasks: Vec<_> = [30, 10, 20]
        .iter()
        .map(|&d| corral::spawn(after(d, d)))
        .collect();
    let ids: Vec<_> = tasks.iter().map(|t| t.id()).collect();
    let items: Vec<_> = corral::as_completed(corral::source::keyed(
        tasks.into_iter().map(|t| (t.id(), t)),
    ))
    .collect()
    .await;
    let got: Vec<_> = items
        .iter()
        .map(|d| (d.key, d.index, d.outcome.clone().unwrap()))
        .collect();
    assert_eq!(got, [(ids[1], 1, 10), (ids[2], 2, 20), (ids[0], 0, 30)]);

    // By index, with the handles staying with the caller.
    let mut tasks: Vec<_> = [20, 10]
        .iter()
        .map(|&d| corral::spawn(after(d, d)))
        .collect();
    let order: Vec<_> = corral::as_completed(tasks.iter_mut())
        .map(|d| d.index)
        .collect()
        .await;
    assert_eq!(order, [1, 0]);
    assert!(tasks.iter().all(|t| t.is_finished()));
}

// ---- 4.4 -----------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn timeout_ends_the_stream_and_cancels_nothing_4_4() {
    let t0 = Instant::now();
    let mut a = corral::spawn(after(100, 'a'));
    let mut b = corral::spawn(after(150, 'b'));
    {
        let mut s = corral::as_completed([&mut a, &mut b]).timeout(ms(120));
        let first = s.next().await.unwrap().unwrap();
        assert_eq!(
            (first.index, first.outcome, t0.elapsed()),
            (0, Outcome::Ok('a'), ms(100))
        );
        assert_eq!(s.next().await, Some(Err(Elapsed::new())));
        assert_eq!(t0.elapsed(), ms(120));
        assert!(s.expired());
        assert_eq!(s.next().await, None);
        assert_eq!(s.remaining(), 1);
    }
    // b was not cancelled: it finishes on its own at 150.
    assert_eq!(b.join().await, Outcome::Ok('b'));
    assert_eq!(t0.elapsed(), ms(150));
}

#[tokio::test(start_paused = true)]
async fn the_rest_can_be_taken_out_after_a_timeout_4_4() {
    let t0 = Instant::now();
    let mut s = corral::as_completed([after(100, 'a'), after(150, 'b')]).timeout(ms(120));
    assert_eq!(s.next().await.unwrap().unwrap().outcome, Outcome::Ok('a'));
    assert_eq!(s.next().await, Some(Err(Elapsed::new())));
    assert_eq!(t0.elapsed(), ms(120));
    s.reschedule(None);
    assert!(!s.expired());
    let b = s.next().await.unwrap().unwrap();
    assert_eq!(
        (b.index, b.outcome, t0.elapsed()),
        (1, Outcome::Ok('b'), ms(150))
    );
    assert_eq!(s.next().await, None);
}

/// asyncio's `as_completed(aws, timeout=maybe)` in one code path: `.timeout(..)` takes a
/// `Duration` or an `Option`, and `None` is a stream that can time out but has no deadline.
#[tokio::test(start_paused = true)]
async fn a_timeout_that_may_be_none_needs_one_code_path_4_4() {
    async fn collect(budget: Option<Duration>) -> (Vec<Result<char, Elapsed>>, Duration) {
        let t0 = Instant::now();
        let mut s = corral::as_completed([after(100, 'a'), after(300, 'b')]).timeout(budget);
        assert_eq!(s.deadline(), budget.map(|d| t0 + d));
        let mut got = Vec::new();
        while let Some(item) = s.next().await {
            got.push(item.map(|done| done.outcome.unwrap()));
        }
        (got, t0.elapsed())
    }
    assert_eq!(collect(None).await, (vec![Ok('a'), Ok('b')], ms(300)));
    assert_eq!(
        collect(Some(ms(200))).await,
        (vec![Ok('a'), Err(Elapsed::new())], ms(200))
    );
    // And a deadline that may be none, for timeout_at.
    let t0 = Instant::now();
    let deadline: Option<Instant> = None;
    let mut s = corral::as_completed([after(100, 'c')]).timeout_at(deadline);
    assert_eq!(s.next().await.unwrap().unwrap().outcome, Outcome::Ok('c'));
    assert_eq!((s.next().await, t0.elapsed()), (None, ms(100)));
}

#[tokio::test(start_paused = true)]
async fn a_rescheduled_timeout_can_fire_again_4_4() {
    let t0 = Instant::now();
    let mut s = corral::as_completed([after(100, 1), after(300, 2), after(500, 3)]).timeout(ms(50));
    assert_eq!(s.next().await, Some(Err(Elapsed::new())));
    assert_eq!(t0.elapsed(), ms(50));
    s.reschedule(Some(t0 + ms(350)));
    assert_eq!(s.next().await.unwrap().unwrap().index, 0);
    assert_eq!(s.next().await.unwrap().unwrap().index, 1);
    assert_eq!(t0.elapsed(), ms(300));
    assert_eq!(s.next().await, Some(Err(Elapsed::new())));
    assert_eq!(t0.elapsed(), ms(350));
    s.reschedule(None);
    assert_eq!(s.next().await.unwrap().unwrap().index, 2);
    assert_eq!(t0.elapsed(), ms(500));
}

#[tokio::test(start_paused = true)]
async fn a_finished_input_wins_over_a_deadline_that_passed_meanwhile() {
    let tasks = [corral::spawn(after(10, 1)), corral::spawn(after(20, 2))];
    let mut s = corral::as_completed(tasks).timeout(ms(100));
    sleep(ms(200)).await; // not polled while both finish and the deadline passes
    let items: Vec<_> = (&mut s).collect().await;
    // Results first: each was finished when the stream was polled; then the stream ended.
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|i| i.is_ok()));
}

// ---- 4.5 -----------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn an_unused_timeout_ends_cleanly_and_is_disarmed_4_5() {
    let t0 = Instant::now();
    let mut s = corral::as_completed([after(10, 'a')]).timeout(Duration::from_secs(1));
    assert_eq!(s.next().await.unwrap().unwrap().outcome, Outcome::Ok('a'));
    assert_eq!(s.next().await, None);
    assert_eq!(t0.elapsed(), ms(10));
    // Long past the deadline, the stream is still over with no timeout item.
    sleep(Duration::from_secs(2)).await;
    assert_eq!(s.next().await, None);
    assert!(!s.expired());
}

// ---- 4.6 -----------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn breaking_out_and_resuming_gives_every_result_once_4_6() {
    let t0 = Instant::now();
    let mut s = corral::as_completed([after(10, 1), after(20, 2), after(30, 3), after(40, 4)]);
    let mut seen = Vec::new();
    while let Some(d) = s.next().await {
        seen.push((d.outcome.unwrap(), t0.elapsed()));
        if seen.len() == 2 {
            break;
        }
    }
    assert_eq!(seen, [(1, ms(10)), (2, ms(20))]);
    while let Some(d) = s.next().await {
        seen.push((d.outcome.unwrap(), t0.elapsed()));
    }
    assert_eq!(seen, [(1, ms(10)), (2, ms(20)), (3, ms(30)), (4, ms(40))]);
}

#[tokio::test(start_paused = true)]
async fn next_is_cancel_safe_in_a_select_4_6() {
    let mut s = corral::as_completed((1..=20u64).map(|i| after(i * 7, i)));
    let mut seen = Vec::new();
    let mut ticks = 0;
    loop {
        tokio::select! {
            d = s.next() => match d {
                Some(d) => seen.push(d.outcome.unwrap()),
                None => break,
            },
            _ = sleep(ms(3)) => ticks += 1,
        }
    }
    assert_eq!(seen, (1..=20).collect::<Vec<_>>());
    assert!(ticks > 20, "many next() futures were dropped on the way");
}

// ---- 4.7 -----------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_failing_input_is_an_item_and_the_stream_goes_on_4_7() {
    let t0 = Instant::now();
    let mut s = corral::as_completed([
        Box::pin(after(20, "ok")) as std::pin::Pin<Box<dyn std::future::Future<Output = _>>>,
        Box::pin(fail_after(10, "boom")),
        Box::pin(async {
            sleep(ms(15)).await;
            panic!("kaboom")
        }),
    ]);
    let mut seen = Vec::new();
    while let Some(d) = s.next().await {
        seen.push((d.index, d.outcome, t0.elapsed()));
    }
    assert_eq!(
        seen,
        [
            (1, Outcome::Err("boom".to_string()), ms(10)),
            (2, Outcome::Panicked(Panic::new("kaboom")), ms(15)),
            (0, Outcome::Ok("ok"), ms(20)),
        ]
    );
}

// ---- 4.9 -----------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn empty_input_ends_at_once_with_no_timer_4_9() {
    let t0 = Instant::now();
    let none = std::iter::empty::<std::future::Ready<Result<u8, ()>>>;
    let mut s = corral::as_completed(none()).timeout(ms(100));
    assert_eq!(futures::poll!(s.next()), std::task::Poll::Ready(None));
    assert_eq!(t0.elapsed(), Duration::ZERO);
    assert_eq!(s.remaining(), 0);
    sleep(ms(200)).await;
    assert_eq!(s.next().await, None, "no timeout item after the deadline");
    assert!(!s.expired());

    let mut s = corral::as_completed(none());
    assert_eq!(futures::poll!(s.next()), std::task::Poll::Ready(None));
    let mut s = corral::as_completed(corral::source::stream(stream::empty::<
        std::future::Ready<Result<u8, ()>>,
    >()));
    assert_eq!(futures::poll!(s.next()), std::task::Poll::Ready(None));
}

// ---- remaining, keys, streams ----------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn remaining_counts_the_inputs_not_yet_handed_out() {
    let mut s = corral::as_completed((1..=5u64).map(|i| after(i * 10, i))).limit(2);
    assert_eq!((s.remaining(), s.running()), (5, 0));
    s.next().await;
    assert_eq!((s.remaining(), s.running()), (4, 1));
    s.next().await;
    s.next().await;
    assert_eq!(s.remaining(), 2);
    s.next().await;
    s.next().await;
    assert_eq!(s.remaining(), 0);
    assert!(s.next().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn keyed_streams_hand_back_the_callers_keys() {
    let lines = stream::iter([("x", 30), ("y", 10), ("z", 20)]).map(|(k, d)| (k, after(d, d)));
    let got: Vec<_> = corral::as_completed(corral::source::keyed_stream(lines))
        .map(|d| (d.key, d.index))
        .collect()
        .await;
    assert_eq!(got, [("y", 1), ("z", 2), ("x", 0)]);
}

#[tokio::test(start_paused = true)]
async fn a_stream_with_a_limit_never_holds_more_than_the_limit() {
    let live = Live::default();
    let l = live.clone();
    let inputs = stream::iter(0..100_000u32).map(move |i| {
        let g = l.guard();
        async move {
            let _g = g;
            if i % 3 == 0 {
                sleep(ms(1)).await;
            } else {
                tokio::task::yield_now().await;
            }
            Ok::<u32, ()>(i)
        }
    });
    let mut s = corral::as_completed(corral::source::stream(inputs)).limit(10);
    let mut count = 0usize;
    let mut sum = 0u64;
    while let Some(d) = s.next().await {
        assert!(live.now() <= 10);
        count += 1;
        sum += u64::from(d.outcome.unwrap());
    }
    assert_eq!(count, 100_000);
    assert_eq!(sum, (0..100_000u64).sum::<u64>());
    assert_eq!(live.peak(), 10);
    assert_eq!(live.now(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_ordered_stream_with_a_limit_never_holds_more_than_the_limit() {
    let live = Live::default();
    let l = live.clone();
    // Input 0 is slow, so everything after it finishes first and is held.
    let inputs = stream::iter(0..1_000u64).map(move |i| {
        let g = l.guard();
        async move {
            let _g = g;
            sleep(ms(if i % 100 == 0 { 50 } else { 1 })).await;
            Ok::<u64, ()>(i)
        }
    });
    let got: Vec<_> = corral::as_completed(corral::source::stream(inputs))
        .limit(10)
        .ordered()
        .map(|d| d.outcome.unwrap())
        .collect()
        .await;
    assert_eq!(got, (0..1_000).collect::<Vec<_>>());
    assert!(live.peak() <= 10);
}

// ---- limit, ordered ------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn limit_caps_concurrency_and_pulls_inputs_lazily() {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let pulled = Arc::new(AtomicUsize::new(0));
    let (f, p, pu) = (in_flight.clone(), peak.clone(), pulled.clone());
    let inputs = (0..40u64).map(move |i| {
        pu.fetch_add(1, Ordering::SeqCst);
        let (f, p) = (f.clone(), p.clone());
        async move {
            let now = f.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(now, Ordering::SeqCst);
            sleep(ms(10 + i % 7)).await;
            f.fetch_sub(1, Ordering::SeqCst);
            Ok::<u64, ()>(i)
        }
    });
    let t0 = Instant::now();
    let mut s = corral::as_completed(inputs).limit(4);
    assert!(futures::poll!(s.next()).is_pending());
    assert_eq!(pulled.load(Ordering::SeqCst), 4);
    assert_eq!(s.running(), 4);
    let mut n = 0;
    while let Some(d) = s.next().await {
        assert!(d.outcome.is_ok());
        n += 1;
        assert!(pulled.load(Ordering::SeqCst) <= n + 4);
    }
    assert_eq!(n, 40);
    assert_eq!(peak.load(Ordering::SeqCst), 4);
    assert!(t0.elapsed() >= ms(100)); // 10 rounds of at least 10 ms
}

#[tokio::test(start_paused = true)]
async fn limit_one_runs_inputs_one_after_another() {
    let t0 = Instant::now();
    let seen: Vec<_> = corral::as_completed([after(30, 0), after(10, 1), after(20, 2)])
        .limit(1)
        .map(|d| (d.index, t0.elapsed()))
        .collect()
        .await;
    assert_eq!(seen, [(0, ms(30)), (1, ms(40)), (2, ms(60))]);
}

#[tokio::test(start_paused = true)]
async fn ordered_streams_in_input_order_as_soon_as_possible() {
    let t0 = Instant::now();
    let seen: Vec<_> = corral::as_completed([
        after(30, 0),
        after(10, 1),
        after(20, 2),
        after(50, 3),
        after(40, 4),
    ])
    .ordered()
    .map(|d| (d.index, t0.elapsed()))
    .collect()
    .await;
    assert_eq!(
        seen,
        [
            (0, ms(30)),
            (1, ms(30)),
            (2, ms(30)),
            (3, ms(50)),
            (4, ms(50))
        ]
    );
}

#[tokio::test(start_paused = true)]
#[should_panic(expected = "before the stream is polled")]
async fn ordered_after_polling_panics() {
    let mut s = corral::as_completed([after(10, 1)]);
    let _ = futures::poll!(s.next());
    let _ = s.ordered();
}

// ---- cancel_rest, cancel_all ---------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn cancel_rest_drops_running_futures_at_once_and_pulls_nothing_more() {
    let t0 = Instant::now();
    let live = Live::default();
    let pulled = Arc::new(AtomicUsize::new(0));
    let (l, p) = (live.clone(), pulled.clone());
    let delays = [10, 1000, 1000, 5, 5, 5];
    let inputs = delays.into_iter().map(move |d| {
        p.fetch_add(1, Ordering::SeqCst);
        let g = l.guard();
        async move {
            let _g = g;
            after(d, d).await
        }
    });
    let mut s = corral::as_completed(inputs).limit(3);
    let first = s.next().await.unwrap();
    assert_eq!((first.index, t0.elapsed()), (0, ms(10)));
    assert_eq!(pulled.load(Ordering::SeqCst), 3);
    s.cancel_rest();
    // The running futures are dropped at once, inside cancel_rest.
    assert_eq!(live.now(), 0);
    let seen: Vec<_> = (&mut s)
        .map(|d| (d.index, d.outcome, t0.elapsed()))
        .collect()
        .await;
    let cancelled = Outcome::Cancelled(corral::Cancelled::new());
    assert_eq!(
        seen,
        [(1, cancelled.clone(), ms(10)), (2, cancelled, ms(10))]
    );
    assert_eq!(pulled.load(Ordering::SeqCst), 3, "nothing more was pulled");
    assert_eq!(live.made(), 3);
}

#[tokio::test(start_paused = true)]
async fn cancel_rest_lets_tasks_clean_up_and_hands_out_their_final_outcome() {
    let t0 = Instant::now();
    // A task that listens for the request and takes 50 ms to clean up.
    let listener = corral::spawn(async {
        tokio::select! {
            _ = corral::cancelled() => {
                sleep(ms(50)).await;
                Err("cleaned up".to_string())
            }
            v = after(10_000, 99u64) => v,
        }
    });
    let tasks = vec![
        corral::spawn(after(10, 0)),
        listener,
        corral::spawn(after(1000, 2)),
    ];
    let mut s = corral::as_completed(tasks);
    assert_eq!(s.next().await.unwrap().index, 0);
    s.cancel_rest();
    let seen: Vec<_> = (&mut s)
        .map(|d| (d.index, d.outcome, t0.elapsed()))
        .collect()
        .await;
    assert_eq!(
        seen,
        [
            (2, Outcome::Cancelled(corral::Cancelled::new()), ms(10)),
            (1, Outcome::Err("cleaned up".to_string()), ms(60)),
        ]
    );
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn cancel_rest_after_a_timeout_drains_the_rest_as_cancelled() {
    let t0 = Instant::now();
    let tasks: Vec<_> = [10, 1000, 2000]
        .iter()
        .map(|&d| corral::spawn(after(d, d)))
        .collect();
    let mut s = corral::as_completed(tasks).timeout(ms(100));
    assert_eq!(s.next().await.unwrap().unwrap().index, 0);
    assert_eq!(s.next().await, Some(Err(Elapsed::new())));
    s.cancel_rest();
    let rest: Vec<_> = (&mut s)
        .map(|i| {
            let d = i.unwrap();
            (d.index, d.outcome.is_cancelled())
        })
        .collect()
        .await;
    assert_eq!(rest, [(1, true), (2, true)]);
    assert_eq!(t0.elapsed(), ms(100));
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn cancel_all_hands_out_every_input_once_and_starts_none_of_the_rest() {
    let started = Arc::new(AtomicUsize::new(0));
    let live = Live::default();
    let (st, l) = (started.clone(), live.clone());
    let inputs = (0..1_000u64).map(move |i| {
        let (st, g) = (st.clone(), l.guard());
        async move {
            let _g = g;
            st.fetch_add(1, Ordering::SeqCst);
            sleep(ms(10 + i)).await;
            Ok::<u64, ()>(i)
        }
    });
    let mut s = corral::as_completed(inputs).limit(10);
    let first = s.next().await.unwrap();
    assert_eq!(first.index, 0);
    s.cancel_all();
    let mut indexes = vec![first.index];
    while let Some(d) = s.next().await {
        assert!(d.outcome.is_cancelled());
        assert!(live.now() <= 10);
        indexes.push(d.index);
    }
    indexes.sort_unstable();
    assert_eq!(indexes, (0..1_000).collect::<Vec<_>>());
    assert_eq!(
        started.load(Ordering::SeqCst),
        10,
        "only the first 10 ever ran"
    );
    assert_eq!(live.made(), 1_000);
    assert!(live.peak() <= 10);
}

#[tokio::test(start_paused = true)]
async fn cancel_all_asks_pending_tasks_to_stop_and_waits_for_them() {
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..6u64)
        .map(|i| corral::spawn(after(10 + 1000 * i, i)))
        .collect();
    let mut s = corral::as_completed(tasks).limit(2);
    assert_eq!(s.next().await.unwrap().index, 0);
    s.cancel_all();
    let rest: Vec<_> = s
        .map(|d| (d.index, d.outcome.is_cancelled()))
        .collect()
        .await;
    let mut idx: Vec<_> = rest.iter().map(|r| r.0).collect();
    idx.sort_unstable();
    assert_eq!(idx, [1, 2, 3, 4, 5]);
    assert!(rest.iter().all(|r| r.1));
    assert_eq!(t0.elapsed(), ms(10));
    assert_eq!(alive(), 0);
}

// ---- nothing left running ------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn nothing_is_left_running_after_draining() {
    let tasks: Vec<_> = (0..20u64).map(|i| corral::spawn(after(i * 3, i))).collect();
    assert_eq!(alive(), 20);
    let n = corral::as_completed(tasks).limit(5).count().await;
    assert_eq!(n, 20);
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn nothing_is_left_running_after_a_timeout_and_drop() {
    let live = Live::default();
    let tasks: Vec<_> = (0..5u64)
        .map(|i| corral::spawn(after(100 * i, i)))
        .collect();
    let guarded: Vec<_> = (0..5u64)
        .map(|i| {
            let g = live.guard();
            async move {
                let _g = g;
                after(100 * i, i).await
            }
        })
        .collect();
    let mut s = corral::as_completed(tasks).timeout(ms(150));
    let mut g = corral::as_completed(guarded).timeout(ms(150));
    // Plain futures run only while polled, so poll both streams together.
    let (mut s_done, mut g_done) = (false, false);
    while !(s_done && g_done) {
        tokio::select! {
            i = s.next(), if !s_done => s_done = !matches!(i, Some(Ok(_))),
            i = g.next(), if !g_done => g_done = !matches!(i, Some(Ok(_))),
        }
    }
    assert!(s.expired() && g.expired());
    assert_eq!(alive(), 3);
    assert_eq!(live.now(), 3);
    drop(s);
    drop(g);
    assert_eq!(live.now(), 0);
    tokio::task::yield_now().await;
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn nothing_is_left_running_after_dropping_midway() {
    let live = Live::default();
    let tasks: Vec<_> = (0..5u64)
        .map(|i| corral::spawn(after(100 * i, i)))
        .collect();
    let mut s = corral::as_completed(tasks);
    s.next().await;
    s.next().await;
    let l = live.clone();
    let mut g = corral::as_completed(corral::source::stream(stream::iter(0..100u64).map(
        move |i| {
            let guard = l.guard();
            async move {
                let _g = guard;
                after(100 * i, i).await
            }
        },
    )))
    .limit(7);
    g.next().await;
    assert_eq!(live.now(), 6); // the 8th is pulled at the next poll
    drop(s);
    drop(g);
    assert_eq!(live.now(), 0);
    tokio::task::yield_now().await;
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn nothing_is_left_running_after_cancel_rest() {
    let tasks: Vec<_> = (0..50u64)
        .map(|i| corral::spawn(after(10 * i, i)))
        .collect();
    let mut s = corral::as_completed(tasks).limit(10);
    s.next().await;
    s.cancel_rest();
    let rest: Vec<Completed<u64, String>> = s.collect().await;
    // 9 were running; 40 had not been pulled and were dropped with the source.
    assert_eq!(rest.len(), 9);
    assert!(rest.iter().all(|d| d.outcome.is_cancelled()));
    tokio::task::yield_now().await;
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_stream_given_by_reference_keeps_its_unpulled_inputs() {
    let mut inputs = stream::iter(0..10u64).map(|i| after(10 * (i + 1), i));
    {
        let mut s = corral::as_completed(corral::source::stream(&mut inputs)).limit(3);
        assert_eq!(s.next().await.unwrap().index, 0);
        s.cancel_rest();
        assert_eq!(s.count().await, 2);
    }
    // Inputs 0..3 were pulled; the other 7 are still in the caller's stream.
    assert_eq!(inputs.count().await, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_spawned_tasks_on_two_workers_each_come_out_once() {
    let tasks: Vec<_> = (0..2_000u32)
        .map(|i| {
            corral::spawn(async move {
                tokio::task::yield_now().await;
                Ok::<u32, ()>(i)
            })
        })
        .collect();
    let mut seen = vec![false; 2_000];
    let mut s = corral::as_completed(tasks).limit(64);
    while let Some(d) = s.next().await {
        assert_eq!(d.outcome.unwrap() as usize, d.index);
        assert!(!std::mem::replace(&mut seen[d.index], true));
    }
    assert!(seen.iter().all(|&b| b));
}

// ---- naming and moving the stream ------------------------------------------------------------

/// A helper generic over the inputs: the stream's type can be named and its methods called.
async fn first_then_stop<I>(s: &mut corral::AsCompleted<corral::source::Iter<I>>) -> Option<usize>
where
    I: Iterator,
    I::Item: corral::Awaitable,
    <I::Item as corral::Awaitable>::Output: corral::IntoOutcome,
{
    let first = s.next().await.map(|d| d.index);
    s.cancel_rest();
    while s.next().await.is_some() {}
    first
}

#[tokio::test(start_paused = true)]
async fn the_stream_type_can_be_named_in_a_generic_helper() {
    let mut s = corral::as_completed([after(20, 0), after(10, 1), after(30, 2)]);
    assert_eq!(first_then_stop(&mut s).await, Some(1));
    assert_eq!(s.remaining(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_stream_can_move_to_another_task() {
    let tasks: Vec<_> = (0..10u64).map(|i| corral::spawn(after(i, i))).collect();
    let s = corral::as_completed(tasks).limit(3).timeout(ms(1000));
    let n = tokio::spawn(async move { s.filter(|i| std::future::ready(i.is_ok())).count().await })
        .await
        .unwrap();
    assert_eq!(n, 10);
    assert_eq!(alive(), 0);
}
