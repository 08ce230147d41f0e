//! gather and gather_settled: catalog section 2, limits, and nothing left running.

mod common;
use common::*;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use corral::{Cancelled, Failure, InputFailure, Outcome, Panic};
use tokio::time::{sleep, Instant};

type BoxFut<T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send>>;

fn boxed<T>(f: impl Future<Output = Result<T, String>> + Send + 'static) -> BoxFut<T> {
    Box::pin(f)
}

/// Sets a flag when dropped: tells whether an in-place future was dropped, and when.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A future that sleeps `delay` and sets `finished` if it gets to the end; `dropped` is set
/// whenever it goes away.
fn watched<T: Send + 'static>(
    delay: u64,
    v: T,
    finished: &Arc<AtomicBool>,
    dropped: &Arc<AtomicBool>,
) -> BoxFut<T> {
    let (f, d) = (finished.clone(), DropFlag(dropped.clone()));
    boxed(async move {
        let _d = d;
        sleep(ms(delay)).await;
        f.store(true, Ordering::SeqCst);
        Ok(v)
    })
}

fn is(f: &Arc<AtomicBool>) -> bool {
    f.load(Ordering::SeqCst)
}

// ---- 2.1, 2.2 ------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn results_come_in_input_order_2_1() {
    let t0 = Instant::now();
    let v = corral::gather([after(200, 'a'), after(100, 'b'), after(300, 'c')]).await;
    assert_eq!(v, Ok(vec!['a', 'b', 'c']));
    assert_eq!(t0.elapsed(), ms(300));

    let t0 = Instant::now();
    let tasks = [300, 100, 200].map(|d| corral::spawn(after(d, d)));
    assert_eq!(corral::gather(tasks).await, Ok(vec![300, 100, 200]));
    assert_eq!(t0.elapsed(), ms(300));
}

#[tokio::test(start_paused = true)]
async fn settled_results_come_in_input_order_when_nothing_fails_2_2() {
    let t0 = Instant::now();
    let v = corral::gather_settled([after(200, 'a'), after(100, 'b'), after(300, 'c')]).await;
    assert_eq!(v, [Outcome::Ok('a'), Outcome::Ok('b'), Outcome::Ok('c')]);
    assert_eq!(t0.elapsed(), ms(300));
}

// ---- 2.3 -----------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn settled_returns_errors_as_values_in_their_slots_2_3() {
    // The errors handed back are the very values the inputs returned (same allocation).
    let exc: Arc<str> = Arc::from("exc");
    let exc2: Arc<str> = Arc::from("exc2");
    let fail = |delay: u64, e: &Arc<str>| {
        let e = e.clone();
        Box::pin(async move {
            sleep(ms(delay)).await;
            Err::<u32, _>(e)
        }) as Pin<Box<dyn Future<Output = Result<u32, Arc<str>>>>>
    };
    let ok = |delay: u64, v: u32| {
        Box::pin(async move {
            sleep(ms(delay)).await;
            Ok(v)
        }) as Pin<Box<dyn Future<Output = Result<u32, Arc<str>>>>>
    };
    let t0 = Instant::now();
    let v =
        corral::gather_settled([ok(100, 3), ok(50, 1), fail(150, &exc), fail(200, &exc2)]).await;
    assert_eq!(t0.elapsed(), ms(200), "completes only after every child");
    assert_eq!(v[..2], [Outcome::Ok(3), Outcome::Ok(1)]);
    match (&v[2], &v[3]) {
        (Outcome::Err(a), Outcome::Err(b)) => {
            assert!(Arc::ptr_eq(a, &exc) && Arc::ptr_eq(b, &exc2));
        }
        other => panic!("unexpected {other:?}"),
    }
}

// ---- 2.4, 2.5, 2.6 -------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn the_first_error_returns_at_once_2_4() {
    let t0 = Instant::now();
    let v = corral::gather([
        boxed(after(50, 1)),
        boxed(fail_after(100, "b")),
        boxed(after(1000, 3)),
        boxed(after(2000, 4)),
        boxed(fail_after(3000, "e")),
    ])
    .await;
    assert_eq!(
        v,
        Err(InputFailure {
            index: 1,
            failure: Failure::Error("b".to_string())
        })
    );
    assert_eq!(t0.elapsed(), ms(100));

    // The same with spawned tasks.
    let t0 = Instant::now();
    let v = corral::gather([
        corral::spawn(after(50, 1)),
        corral::spawn(fail_after(100, "b")),
        corral::spawn(after(1000, 3)),
    ])
    .await;
    assert_eq!(
        v,
        Err(InputFailure {
            index: 1,
            failure: Failure::Error("b".to_string())
        })
    );
    assert_eq!(t0.elapsed(), ms(100));
}

#[tokio::test(start_paused = true)]
async fn siblings_of_a_failure_are_cancelled_and_drained_2_5() {
    let t0 = Instant::now();
    let (fin, drop_) = (flag(), flag());
    let sib = corral::spawn(after(500, 0));
    let sib_ref = sib.task_ref();
    // In place: the sibling future is dropped before gather returns.
    let v = corral::gather([
        watched(500, 0, &fin, &drop_),
        boxed(fail_after(100, "boom")),
    ])
    .await;
    assert_eq!(
        v,
        Err(InputFailure {
            index: 1,
            failure: Failure::Error("boom".to_string())
        })
    );
    assert_eq!(t0.elapsed(), ms(100));
    assert!(is(&drop_) && !is(&fin));
    // Spawned: the sibling task is stopped before gather returns.
    let v = corral::gather([sib, corral::spawn(fail_after(100, "boom"))]).await;
    assert!(v.is_err());
    assert!(sib_ref.is_cancel_requested());
    assert_eq!(alive(), 0);
    // asyncio's sibling would finish 'sib' at 0.5; here nothing ever does.
    sleep(ms(1000)).await;
    assert!(!is(&fin));
}

#[tokio::test(start_paused = true)]
async fn siblings_that_listen_clean_up_before_gather_returns_2_5() {
    let cleaned = flag();
    let c = cleaned.clone();
    let listener = corral::spawn(async move {
        tokio::select! {
            _ = corral::cancelled() => {
                sleep(ms(50)).await;
                c.store(true, Ordering::SeqCst);
                Err("cleaned up".to_string())
            }
            v = after(10_000, 1) => v,
        }
    });
    let t0 = Instant::now();
    let r = corral::gather([listener, corral::spawn(fail_after(100, "boom"))]).await;
    // The first failure is the one returned, not the sibling's own error from its cleanup.
    assert_eq!(
        r,
        Err(InputFailure {
            index: 1,
            failure: Failure::Error("boom".to_string())
        })
    );
    assert!(is(&cleaned));
    assert_eq!(t0.elapsed(), ms(150));
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn nothing_is_left_to_cancel_after_a_failure_2_6() {
    let (fin, dropped) = (flag(), flag());
    let tasks_fin = Arc::new(AtomicUsize::new(0));
    let tf = tasks_fin.clone();
    let task = corral::spawn(async move {
        sleep(ms(300)).await;
        tf.fetch_add(1, Ordering::SeqCst);
        Ok::<u32, String>(1)
    });
    let r = corral::gather([task, corral::spawn(fail_after(100, "boom"))]).await;
    assert!(r.is_err());
    let r = corral::gather([
        watched(300, 1, &fin, &dropped),
        boxed(fail_after(100, "boom")),
    ])
    .await;
    assert!(r.is_err());
    // Everything was stopped before the failure was returned: no leftover to cancel later.
    assert_eq!(alive(), 0);
    assert!(is(&dropped));
    sleep(ms(1000)).await;
    assert!(!is(&fin));
    assert_eq!(tasks_fin.load(Ordering::SeqCst), 0);
}

// ---- 2.7, 2.8 ------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_cancelled_child_fails_gather_with_a_cancelled_value_2_7() {
    let t0 = Instant::now();
    let a = corral::spawn(after(100, 1));
    let b = corral::spawn(after(10_000, 2));
    let c = corral::spawn(after(300, 3));
    let b_ref = b.task_ref();
    let (r, ()) = tokio::join!(corral::gather([a, b, c]), async {
        sleep(ms(200)).await;
        b_ref.cancel_with("stop b");
    });
    assert_eq!(
        r,
        Err(InputFailure {
            index: 1,
            failure: Failure::Cancelled(Cancelled::with_message("stop b"))
        })
    );
    assert_eq!(t0.elapsed(), ms(200));
    // The caller is not cancelled: it carries on. (c was cancelled and drained, see 2.5.)
    sleep(ms(1)).await;
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_awaiting_task_is_not_cancelled_by_a_cancelled_child_2_8() {
    let t0 = Instant::now();
    let b = corral::spawn(after(10_000, 2));
    let b_ref = b.task_ref();
    let c_fin = flag();
    let cf = c_fin.clone();
    let c = corral::spawn(async move {
        sleep(ms(300)).await;
        cf.store(true, Ordering::SeqCst);
        Ok::<u32, String>(3)
    });
    let awaiter = corral::spawn(async move { corral::gather([b, c]).await });
    sleep(ms(200)).await;
    b_ref.cancel();
    let outcome = awaiter.await;
    // A value saying "a child was cancelled", not a cancelled awaiter.
    assert_eq!(
        outcome,
        Outcome::Err(InputFailure {
            index: 0,
            failure: Failure::Cancelled(Cancelled::new())
        })
    );
    assert_eq!(t0.elapsed(), ms(200));
    sleep(ms(500)).await;
    assert!(
        !is(&c_fin),
        "the sibling was drained, not left to finish at 0.3"
    );
}

// ---- 2.9 -----------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn settled_puts_cancellations_in_their_slots_2_9() {
    let t0 = Instant::now();
    let tasks = vec![
        corral::spawn(after(100, 1)),
        corral::spawn(fail_after(150, "zde")),
        corral::spawn(after(10_000, 0)),
        corral::spawn(after(250, 3)),
        corral::spawn(after(10_000, 0)),
        corral::spawn(fail_after(300, "rte")),
    ];
    let (r2, r4) = (tasks[2].task_ref(), tasks[4].task_ref());
    let (v, ()) = tokio::join!(corral::gather_settled(tasks), async {
        sleep(ms(50)).await;
        r2.cancel();
        sleep(ms(150)).await;
        r4.cancel();
    });
    assert_eq!(
        v,
        [
            Outcome::Ok(1),
            Outcome::Err("zde".to_string()),
            Outcome::Cancelled(Cancelled::new()),
            Outcome::Ok(3),
            Outcome::Cancelled(Cancelled::new()),
            Outcome::Err("rte".to_string()),
        ]
    );
    assert_eq!(t0.elapsed(), ms(300), "completes only after all 6");
}

// ---- 2.10 ----------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn empty_input_gives_an_empty_result_at_once_2_10() {
    let none = std::iter::empty::<BoxFut<u8>>;
    let mut g = corral::gather(none());
    assert_eq!(futures::poll!(&mut g), std::task::Poll::Ready(Ok(vec![])));
    let mut s = corral::gather_settled(none());
    assert_eq!(futures::poll!(&mut s), std::task::Poll::Ready(vec![]));
    let mut s = corral::gather_settled(Vec::<corral::Task<u8, ()>>::new());
    assert_eq!(futures::poll!(&mut s), std::task::Poll::Ready(vec![]));
}

// ---- 2.12 ----------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn cancelling_the_awaiting_task_cancels_the_children_2_12() {
    let t0 = Instant::now();
    let (fin, dropped) = (flag(), flag());
    let child_task = corral::spawn(after(10_000, 2));
    let child_ref = child_task.task_ref();
    let in_place = watched(10_000, 1, &fin, &dropped);
    let outer = corral::spawn(async move {
        let (a, b) = tokio::join!(corral::gather([in_place]), corral::gather([child_task]));
        Ok::<_, InputFailure<String>>((a?, b?))
    });
    sleep(ms(100)).await;
    assert_eq!(alive(), 2);
    outer.cancel();
    assert_eq!(outer.await, Outcome::Cancelled(Cancelled::new()));
    assert_eq!(t0.elapsed(), ms(100));
    assert!(is(&dropped) && !is(&fin));
    tokio::task::yield_now().await;
    assert_eq!(alive(), 0);
    assert!(
        !child_ref.is_cancel_requested(),
        "stopped by abort: its handle was dropped"
    );
}

// ---- 2.13 ----------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn gather_over_finished_children_is_ready_at_the_first_poll_2_13() {
    let tasks = [corral::spawn(after(0, 42)), corral::spawn(after(0, 43))];
    sleep(ms(1)).await;
    assert!(tasks.iter().all(|t| t.is_finished()));
    let mut g = corral::gather(tasks);
    assert_eq!(
        futures::poll!(&mut g),
        std::task::Poll::Ready(Ok(vec![42, 43]))
    );
}

// ---- 2.14 ----------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn settled_never_swallows_the_cancellation_of_its_caller_2_14() {
    let t0 = Instant::now();
    let rounds = Arc::new(AtomicUsize::new(0));
    let r = rounds.clone();
    let looping = corral::spawn(async move {
        loop {
            let v = corral::gather_settled([after(50, ())]).await;
            assert!(v[0].is_ok());
            r.fetch_add(1, Ordering::SeqCst);
        }
        #[allow(unreachable_code)]
        Ok::<(), String>(())
    });
    sleep(ms(220)).await;
    looping.cancel_with("my message");
    assert_eq!(
        looping.await,
        Outcome::Cancelled(Cancelled::with_message("my message"))
    );
    assert_eq!(t0.elapsed(), ms(220));
    assert_eq!(rounds.load(Ordering::SeqCst), 4);
}

// ---- panics, limits ------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_panic_fails_gather_and_cancels_the_siblings() {
    let (fin, dropped) = (flag(), flag());
    let t0 = Instant::now();
    let r = corral::gather([
        watched(1000, 1, &fin, &dropped),
        boxed(async {
            sleep(ms(30)).await;
            panic!("kaboom")
        }),
    ])
    .await;
    assert_eq!(
        r,
        Err(InputFailure {
            index: 1,
            failure: Failure::Panicked(Panic::new("kaboom"))
        })
    );
    assert_eq!(t0.elapsed(), ms(30));
    assert!(is(&dropped));
}

/// Inputs that record how many run at once and how many were pulled from the iterator.
fn counted(
    n: u64,
    fail_at: Option<u64>,
) -> (
    impl Iterator<Item = BoxFut<u64>>,
    Arc<AtomicUsize>,
    Arc<AtomicUsize>,
) {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let pulled = Arc::new(AtomicUsize::new(0));
    let (p, pu) = (peak.clone(), pulled.clone());
    let it = (0..n).map(move |i| {
        pu.fetch_add(1, Ordering::SeqCst);
        let (f, p) = (in_flight.clone(), p.clone());
        boxed(async move {
            let now = f.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(now, Ordering::SeqCst);
            sleep(ms(10 + i % 3)).await;
            f.fetch_sub(1, Ordering::SeqCst);
            if Some(i) == fail_at {
                return Err(format!("input {i}"));
            }
            Ok(i)
        })
    });
    (it, peak, pulled)
}

#[tokio::test(start_paused = true)]
async fn gather_settled_limit_caps_concurrency_and_pulls_lazily() {
    let (inputs, peak, pulled) = counted(60, Some(7));
    let mut g = Box::pin(corral::gather_settled(inputs).limit(6));
    assert!(futures::poll!(g.as_mut()).is_pending());
    assert_eq!(pulled.load(Ordering::SeqCst), 6);
    let v = g.await;
    assert_eq!(v.len(), 60);
    assert_eq!(v[7], Outcome::Err("input 7".to_string()));
    assert!(v
        .iter()
        .enumerate()
        .all(|(i, o)| i == 7 || *o == Outcome::Ok(i as u64)));
    assert_eq!(peak.load(Ordering::SeqCst), 6);
}

#[tokio::test(start_paused = true)]
async fn gather_limit_stops_pulling_after_a_failure() {
    let (inputs, peak, pulled) = counted(1000, Some(12));
    let t0 = Instant::now();
    let r = corral::gather(inputs).limit(5).await;
    assert_eq!(
        r,
        Err(InputFailure {
            index: 12,
            failure: Failure::Error("input 12".to_string())
        })
    );
    assert_eq!(peak.load(Ordering::SeqCst), 5);
    assert!(
        pulled.load(Ordering::SeqCst) < 20,
        "the rest were never pulled"
    );
    assert!(t0.elapsed() < ms(60));
}

#[tokio::test(start_paused = true)]
async fn with_a_limit_tasks_left_in_the_iterator_after_a_failure_are_aborted_not_drained() {
    // Documented under `Gather::limit`, as for race: the rest of the iterator is never pulled,
    // and the task handles in it are dropped with it, which aborts their tasks.
    let (ended, cleaned) = (flag(), flag());
    let (e, c) = (ended.clone(), cleaned.clone());
    let sibling = corral::spawn(async move {
        let _ended = DropFlag(e);
        let _request = corral::cancelled().await;
        c.store(true, Ordering::SeqCst); // the cleanup a drained task would get
        Ok::<u8, &str>(0)
    });
    let failing = corral::spawn(async { Err::<u8, _>("boom") });
    tokio::task::yield_now().await; // both tasks have run: one failed, one listens
    let r = corral::gather([failing, sibling]).limit(1).await;
    assert_eq!(
        r,
        Err(InputFailure {
            index: 0,
            failure: Failure::Error("boom")
        })
    );
    assert_eq!(alive_tasks().await, 0);
    assert!(is(&ended), "the aborted task ended");
    assert!(!is(&cleaned), "an aborted task gets no cancel request");

    // Without a limit every task is pulled at the first poll, so every one is drained.
    let (ended, cleaned) = (flag(), flag());
    let (e, c) = (ended.clone(), cleaned.clone());
    let sibling = corral::spawn(async move {
        let _ended = DropFlag(e);
        let _request = corral::cancelled().await;
        c.store(true, Ordering::SeqCst);
        Ok::<u8, &str>(0)
    });
    let failing = corral::spawn(async { Err::<u8, _>("boom") });
    tokio::task::yield_now().await;
    let r = corral::gather([failing, sibling]).await;
    assert_eq!(
        r,
        Err(InputFailure {
            index: 0,
            failure: Failure::Error("boom")
        })
    );
    assert!(is(&ended) && is(&cleaned), "drained before gather returned");

    // An iterator that spawns as it is pulled: the rest are never spawned.
    let spawned = Arc::new(AtomicUsize::new(0));
    let s = spawned.clone();
    let tasks = (0..100u64).map(move |i| {
        s.fetch_add(1, Ordering::SeqCst);
        corral::spawn(async move {
            sleep(ms(i)).await;
            if i == 3 {
                return Err("input 3".to_string());
            }
            Ok(i)
        })
    });
    let r = corral::gather(tasks).limit(2).await;
    assert_eq!(
        r,
        Err(InputFailure {
            index: 3,
            failure: Failure::Error("input 3".to_string())
        })
    );
    assert!(
        spawned.load(Ordering::SeqCst) <= 5,
        "the rest were never spawned"
    );
    assert_eq!(alive_tasks().await, 0);
}

// ---- pinned futures are dropped in place ---------------------------------------------------

#[tokio::test(start_paused = true)]
async fn inputs_holding_live_timers_are_dropped_in_place() {
    // `tokio::time::timeout` keeps its (registered) timer after its inner future is ready;
    // moving such a future to drop it would corrupt the timer wheel.
    for _ in 0..3 {
        let v = corral::gather_settled(
            (0..50u64).map(|i| tokio::time::timeout(ms(10_000), after(i % 5, i))),
        )
        .await;
        assert!(v.iter().all(|o| matches!(o, Outcome::Ok(Ok(_)))));
        let r = corral::gather((0..50u64).map(|i| {
            boxed(async move {
                match tokio::time::timeout(ms(10_000), after(i % 5 + 1, i)).await {
                    Ok(r) if i == 20 => r.and(Err("fail".into())),
                    Ok(r) => r,
                    Err(_) => Err("elapsed".into()),
                }
            })
        }))
        .await;
        assert_eq!(
            r,
            Err(InputFailure {
                index: 20,
                failure: Failure::Error("fail".to_string())
            })
        );
        sleep(ms(20_000)).await; // let every timer that is still registered fire
    }
}

// ---- nothing left running ------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn nothing_is_left_running_after_gather_returns() {
    let tasks: Vec<_> = (0..10u64)
        .map(|i| corral::spawn(after(i * 10, i)))
        .collect();
    assert!(corral::gather(tasks).await.is_ok());
    assert_eq!(alive(), 0);
    let tasks: Vec<_> = (0..10u64)
        .map(|i| corral::spawn(after(i * 10, i)))
        .collect();
    assert_eq!(corral::gather_settled(tasks).limit(3).await.len(), 10);
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn nothing_is_left_running_after_a_timeout_around_gather() {
    let (fin, dropped) = (flag(), flag());
    let tasks: Vec<_> = (0..5u64)
        .map(|i| corral::spawn(after(1000 + i, i)))
        .collect();
    let r = tokio::time::timeout(ms(10), corral::gather(tasks)).await;
    assert!(r.is_err());
    let r = tokio::time::timeout(
        ms(10),
        corral::gather_settled([watched(1000, 1, &fin, &dropped)]),
    )
    .await;
    assert!(r.is_err());
    assert!(is(&dropped));
    tokio::task::yield_now().await;
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn nothing_is_left_running_after_dropping_gather_midway() {
    let tasks: Vec<_> = (0..5u64)
        .map(|i| corral::spawn(after(1000 * i, i)))
        .collect();
    let mut g = Box::pin(corral::gather_settled(tasks).limit(2));
    assert!(futures::poll!(g.as_mut()).is_pending());
    sleep(ms(1500)).await;
    assert!(futures::poll!(g.as_mut()).is_pending());
    drop(g);
    tokio::task::yield_now().await;
    assert_eq!(alive(), 0);
}
