//! `TaskGroup::limit` with an adaptive limit (issue 11), on the paused clock: children start
//! only with a permit of the `AdaptiveLimiter`, the group's in-flight count follows the limit
//! as it grows and is cut, each child's outcome is its verdict (as in the fan-out
//! combinators), a group that shuts down judges nothing more, and a dropped group gives back
//! the permits of a limiter that outlives it.

mod common;
use common::*;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use corral::{AdaptiveLimiter, GroupError, TaskGroup};
use tokio::time::{sleep, Instant};

/// Counts the children running at once, and records (in flight, limit) as each one starts.
#[derive(Clone, Default)]
struct Gauge {
    running: Arc<AtomicUsize>,
    /// (in flight, limit, when) at each start.
    starts: Arc<Mutex<Vec<(usize, usize, Instant)>>>,
}

impl Gauge {
    async fn child(self, limit: AdaptiveLimiter, d: u64, fail: bool) -> Result<(), String> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        let at = Instant::now();
        self.starts.lock().unwrap().push((now, limit.limit(), at));
        sleep(ms(d)).await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        if fail {
            Err("overloaded".into())
        } else {
            Ok(())
        }
    }

    /// Runs `group` (its limit set to `limit`) with `n` children of 10 ms, failing ones if
    /// `fail`.
    async fn run(
        &self,
        group: TaskGroup,
        limit: &AdaptiveLimiter,
        n: usize,
        fail: bool,
    ) -> Result<(), GroupError<String>> {
        let (limit, gauge) = (limit.clone(), self.clone());
        group
            .run(|g| async move {
                for _ in 0..n {
                    g.spawn(gauge.clone().child(limit.clone(), 10, fail));
                }
                Ok(())
            })
            .await
    }
}

#[tokio::test(start_paused = true)]
async fn the_groups_in_flight_count_follows_an_adaptive_limit_as_it_grows() {
    let limit = AdaptiveLimiter::aimd(2, 1, 64);
    let gauge = Gauge::default();
    gauge
        .run(TaskGroup::new().limit(&limit), &limit, 300, false)
        .await
        .unwrap();
    let starts = gauge.starts.lock().unwrap();
    assert_eq!(starts.len(), 300);
    // Never more in flight than the limit at the time...
    for (i, &(running, at, _)) in starts.iter().enumerate() {
        assert!(
            running <= at,
            "start {i}: {running} in flight over a limit of {at}"
        );
    }
    // ...and, at every instant children start while others still wait, they fill it: once
    // the starts of that instant are done, as many run as the limit allows.
    let mut instants = 0;
    let mut i = 0;
    while i < starts.len() {
        let t = starts[i].2;
        let j = i + starts[i..].iter().take_while(|s| s.2 == t).count();
        let (running, at, _) = starts[j - 1];
        if j < starts.len() {
            assert_eq!(
                running, at,
                "at {t:?}: {running} running under a limit of {at}"
            );
            instants += 1;
        }
        i = j;
    }
    let highest = starts.iter().map(|s| s.1).max().unwrap();
    assert!(highest > 10, "the limit grew from 2 only to {highest}");
    assert!(instants > 10, "{instants} instants");
    assert_eq!(limit.in_flight(), 0, "every permit went back");
}

#[tokio::test(start_paused = true)]
async fn children_start_only_with_a_permit_and_failures_cut_the_limit() {
    // As the combinators' test of the same name: never above 3 (its max); the first three
    // fail together and cut it to 1 once (they started before the cut), then it grows back.
    let limit = AdaptiveLimiter::aimd(3, 1, 3).backoff(0.1);
    let started = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let err = TaskGroup::new()
        .supervisor() // a failing child stops nothing
        .limit(&limit)
        .run(|g| {
            let started = started.clone();
            async move {
                for i in 0..30 {
                    let started = started.clone();
                    g.spawn(async move {
                        started.lock().unwrap().push(start.elapsed());
                        sleep(ms(10)).await;
                        if i < 3 {
                            Err(i)
                        } else {
                            Ok(i)
                        }
                    });
                }
                Ok(())
            }
        })
        .await
        .unwrap_err();
    assert_eq!(err.errors().collect::<Vec<_>>(), [&0, &1, &2]);
    assert_eq!(limit.in_flight(), 0);
    let started = started.lock().unwrap();
    let at = |t: u64| started.iter().filter(|&&s| s == ms(t)).count();
    assert_eq!((at(0), at(10), at(20), at(30), at(40)), (3, 1, 2, 2, 3));
    assert!((0..40).all(|t| at(t * 10) <= 3));
}

#[tokio::test(start_paused = true)]
async fn the_in_flight_count_falls_with_the_limit_when_children_overload() {
    // Thirty children that all fail: each round trip cuts the limit, and fewer run at once.
    let limit = AdaptiveLimiter::aimd(16, 1, 64).backoff(0.5);
    let gauge = Gauge::default();
    let err = gauge
        .run(
            TaskGroup::new().supervisor().limit(&limit),
            &limit,
            40,
            true,
        )
        .await
        .unwrap_err();
    assert_eq!(err.len(), 40);
    let starts = gauge.starts.lock().unwrap();
    for &(running, at, _) in starts.iter() {
        assert!(running <= at, "{running} in flight over a limit of {at}");
    }
    // 16 at once, then 8, 4, 2, 1...: the limit and the running count fall together.
    let firsts: Vec<usize> = starts.iter().map(|s| s.1).collect();
    assert_eq!(&firsts[..16], [16; 16]);
    assert_eq!(&firsts[16..24], [8; 8]);
    assert_eq!(limit.limit(), 1);
    assert_eq!(limit.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_failing_group_judges_only_the_failure_not_the_children_it_cancels() {
    let limit = AdaptiveLimiter::aimd(10, 1, 100).backoff(0.5);
    let err = TaskGroup::new()
        .limit(&limit)
        .run(|g| async move {
            for i in 0..10u64 {
                g.spawn(async move {
                    sleep(ms(10 * (i + 1))).await;
                    if i == 0 {
                        Err(i)
                    } else {
                        Ok(i)
                    }
                });
            }
            Ok(())
        })
        .await
        .unwrap_err();
    assert_eq!(err.errors().collect::<Vec<_>>(), [&0]);
    // One overload (10 → 5); the nine cancelled siblings say nothing.
    assert_eq!((limit.limit(), limit.in_flight()), (5, 0));
}

#[tokio::test(start_paused = true)]
async fn a_dropped_group_gives_back_the_permits_of_a_limiter_that_outlives_it() {
    let limit = AdaptiveLimiter::aimd(4, 1, 10);
    let group = TaskGroup::new().limit(&limit).run(|g| async move {
        for _ in 0..10 {
            g.spawn(async {
                sleep(secs(3600)).await;
                Ok::<(), String>(())
            });
        }
        let tree = g.tree();
        assert!(tree.contains("limit 4 (adaptive)"), "{tree}");
        std::future::pending::<Result<(), String>>().await
    });
    assert!(tokio::time::timeout(ms(50), group).await.is_err());
    // The permits of the running children are back at once; those the limiter handed to
    // waiting children go back as the runtime drops those (aborted) children.
    assert_eq!(alive_tasks().await, 0);
    assert_eq!(limit.in_flight(), 0);
    // The limiter is whole: another group gets its four permits at once.
    let gauge = Gauge::default();
    gauge
        .run(TaskGroup::new().limit(&limit), &limit, 4, false)
        .await
        .unwrap();
    let peak = gauge.starts.lock().unwrap().iter().map(|s| s.0).max();
    assert_eq!(peak, Some(4));
    assert_eq!(limit.in_flight(), 0);
    sleep(ms(1)).await;
    assert_eq!(alive(), 0);
}
