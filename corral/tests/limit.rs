//! Limiter: catalog section 9 (asyncio's Semaphore / BoundedSemaphore), plus resizing, owned
//! permits, and that nothing is left behind.

mod common;
use common::*;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use corral::{Limiter, Outcome};
use tokio::time::{sleep, Instant};

/// Lets every runnable task run until all are blocked again.
async fn tick() {
    tokio::task::yield_now().await;
}

/// Fails (instead of hanging) if `f` is not done within a virtual minute.
async fn within<F: std::future::IntoFuture>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .expect("finished within a virtual minute")
}

/// Polls a future once with a no-op waker.
fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    std::pin::Pin::new(f).poll(&mut cx)
}

type Log = Arc<Mutex<Vec<u32>>>;

fn log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

fn seen(log: &Log) -> Vec<u32> {
    log.lock().unwrap().clone()
}

/// A task that takes a permit, records `id`, and holds the permit until cancelled.
fn holder(lim: &Arc<Limiter>, log: &Log, id: u32) -> corral::Task<(), ()> {
    let (lim, log) = (lim.clone(), log.clone());
    corral::spawn(async move {
        let _permit = lim.acquire().await;
        log.lock().unwrap().push(id);
        std::future::pending::<()>().await;
        Ok(())
    })
}

#[tokio::test(start_paused = true)]
async fn zero_permits_is_locked_9_1() {
    let lim = Limiter::new(0);
    assert!(lim.locked());
    assert_eq!(lim.available(), 0);
    assert!(lim.try_acquire().is_none());
}

#[tokio::test(start_paused = true)]
async fn acquire_and_release_toggle_locked_9_3() {
    let lim = Limiter::new(1);
    assert!(!lim.locked());
    let p = lim.acquire().await;
    assert!(lim.locked());
    drop(p);
    assert!(!lim.locked());
    // The manual pair, asyncio's `acquire()` / `release()`.
    lim.acquire().await.forget();
    assert!(lim.locked());
    lim.release().unwrap();
    assert!(!lim.locked());
    assert_eq!(lim.available(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_permit_is_held_for_the_whole_block_9_4() {
    for lim in [Limiter::new(1), Limiter::bounded(1), Limiter::default()] {
        let t0 = Instant::now();
        {
            let _permit = lim.acquire().await;
            assert!(lim.locked());
            sleep(Duration::from_millis(10)).await;
            assert!(lim.locked());
        }
        assert!(!lim.locked());
        assert_eq!(t0.elapsed(), Duration::from_millis(10));
    }
}

#[tokio::test(start_paused = true)]
async fn releases_hand_permits_straight_to_waiters_in_fifo_order_9_5() {
    let lim = Arc::new(Limiter::new(3));
    let a = lim.acquire().await;
    let b = lim.acquire().await;
    assert_eq!(lim.available(), 1);
    assert!(!lim.locked());
    let log = log();
    let tasks: Vec<_> = (1..=3).map(|i| holder(&lim, &log, i)).collect();
    tick().await;
    assert_eq!(seen(&log), [1]);
    assert_eq!(lim.waiters(), 2);
    assert_eq!(lim.available(), 0);
    assert!(lim.locked());

    let t4 = holder(&lim, &log, 4);
    drop(a);
    drop(b);
    // Direct hand-off: the two permits went to t2 and t3, not back to the pool.
    assert_eq!(lim.available(), 0);
    tick().await;
    assert_eq!(seen(&log), [1, 2, 3]);
    assert_eq!(lim.waiters(), 1);
    assert_eq!(lim.available(), 0);

    drop(tasks);
    drop(t4);
    tick().await;
    assert_eq!(alive(), 0);
    assert_eq!((lim.available(), lim.waiters()), (3, 0));
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_waiting_acquire_leaves_no_waiter_9_6() {
    let lim = Arc::new(Limiter::new(1));
    let p = lim.acquire().await;

    // Cancelled by a deadline, in place.
    let t0 = Instant::now();
    let r = tokio::time::timeout(Duration::from_millis(10), lim.acquire()).await;
    assert!(r.is_err());
    assert_eq!(t0.elapsed(), Duration::from_millis(10));
    assert_eq!(lim.waiters(), 0);

    // Cancelled as a task.
    let l = lim.clone();
    let task = corral::spawn(async move {
        let _p = l.acquire().await;
        Ok::<(), ()>(())
    });
    tick().await;
    assert_eq!(lim.waiters(), 1);
    assert!(task.cancel());
    assert!(within(task).await.is_cancelled());
    assert_eq!(lim.waiters(), 0);

    drop(p);
    assert_eq!(lim.available(), 1, "no permit went to a stale waiter");
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn cancelled_waiters_are_skipped_and_no_permit_is_lost_9_7() {
    // test_acquire_cancel_before_awoken: cancel t1 and t2, release once: t3 gets it.
    let lim = Arc::new(Limiter::new(0));
    let log = log();
    let tasks: Vec<_> = (1..=4).map(|i| holder(&lim, &log, i)).collect();
    tick().await;
    assert_eq!(lim.waiters(), 4);
    tasks[0].cancel();
    tasks[1].cancel();
    lim.release().unwrap();
    tick().await;
    assert_eq!(seen(&log), [3]);
    assert_eq!(lim.waiters(), 1);
    assert!(lim.locked());
    drop(tasks);

    // test_acquire_hang: with t1 cancelled, a release lets t2 acquire and it stays locked.
    let lim = Arc::new(Limiter::new(0));
    let log = self::log();
    let tasks: Vec<_> = (1..=2).map(|i| holder(&lim, &log, i)).collect();
    tick().await;
    tasks[0].cancel();
    lim.release().unwrap();
    tick().await;
    assert_eq!(seen(&log), [2]);
    assert!(lim.locked());
    drop(tasks);
    tick().await;
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_waiter_granted_then_cancelled_gives_the_permit_back_9_8() {
    let lim = Arc::new(Limiter::new(1));
    let ran = Arc::new(AtomicUsize::new(0));
    let p = lim.acquire().await;
    let (l, r) = (lim.clone(), ran.clone());
    let c2 = corral::spawn(async move {
        let _p = l.acquire().await;
        r.fetch_add(1, Ordering::SeqCst);
        Ok::<(), ()>(())
    });
    tick().await;
    // Release, handing the permit to c2, then cancel c2 before it runs.
    drop(p);
    assert_eq!(lim.available(), 0);
    c2.cancel();
    assert!(within(c2).await.is_cancelled());
    assert_eq!(ran.load(Ordering::SeqCst), 0);

    let t0 = Instant::now();
    let permit = tokio::time::timeout(Duration::from_secs(1), lim.acquire()).await;
    assert!(permit.is_ok());
    assert_eq!(t0.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_granted_acquire_future_dropped_in_place_passes_its_permit_on_9_8() {
    let lim = Limiter::new(1);
    let p = lim.try_acquire().unwrap();
    let mut a = Box::pin(lim.acquire());
    let mut b = Box::pin(lim.acquire());
    assert!(poll_once(&mut a).is_pending());
    assert!(poll_once(&mut b).is_pending());
    drop(p); // goes to a
    assert_eq!((lim.available(), lim.waiters()), (0, 2));
    drop(a); // a never picked it up: it goes to b
    assert_eq!((lim.available(), lim.waiters()), (0, 1));
    let Poll::Ready(pb) = poll_once(&mut b) else {
        panic!("b was handed the permit");
    };
    drop(pb);
    drop(b);
    assert_eq!((lim.available(), lim.waiters(), lim.in_use()), (1, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn bounded_release_above_the_total_is_an_error_9_9() {
    let lim = Limiter::bounded(1);
    assert!(lim.release().is_err(), "with no prior acquire");
    assert_eq!(lim.available(), 1);

    let lim = Limiter::bounded(2);
    drop(lim.acquire().await);
    let e = lim.release().unwrap_err();
    assert_eq!(
        e.to_string(),
        "released a permit that was not taken out: the bounded limiter's total is 2"
    );
    assert_eq!(lim.available(), 2);

    // Releasing what was taken out with forget() is fine, once.
    lim.acquire().await.forget();
    assert_eq!(lim.available(), 1);
    assert!(lim.release().is_ok());
    assert!(lim.release().is_err());
    assert_eq!((lim.available(), lim.total()), (2, 2));
}

#[tokio::test(start_paused = true)]
async fn fifo_with_no_barging_9_10() {
    let lim = Arc::new(Limiter::new(1));
    let order = Arc::new(Mutex::new(Vec::new()));
    let coro = |tag: &'static str| {
        let (lim, order) = (lim.clone(), order.clone());
        corral::spawn(async move {
            for round in 1..=2 {
                let _p = lim.acquire().await;
                order.lock().unwrap().push(format!("{tag}_{round}"));
                sleep(Duration::from_millis(10)).await;
            }
            Ok::<(), ()>(())
        })
    };
    let t0 = Instant::now();
    within(corral::gather([coro("c1"), coro("c2"), coro("c3")]))
        .await
        .unwrap();
    assert_eq!(
        *order.lock().unwrap(),
        ["c1_1", "c2_1", "c3_1", "c1_2", "c2_2", "c3_2"]
    );
    assert_eq!(t0.elapsed(), Duration::from_millis(60));
}

#[tokio::test(start_paused = true)]
async fn a_release_and_reacquire_cannot_overtake_a_woken_waiter_9_11() {
    let lim = Arc::new(Limiter::new(1));
    let log = log();
    let (l, g) = (lim.clone(), log.clone());
    let t1 = corral::spawn(async move {
        l.acquire().await.forget();
        g.lock().unwrap().push(1);
        Ok::<(), ()>(())
    });
    let (l, g) = (lim.clone(), log.clone());
    let t2 = corral::spawn(async move {
        let p = l.acquire().await;
        g.lock().unwrap().push(2);
        drop(p);
        l.acquire().await.forget();
        g.lock().unwrap().push(4);
        Ok::<(), ()>(())
    });
    let (l, g) = (lim.clone(), log.clone());
    let t3 = corral::spawn(async move {
        l.acquire().await.forget();
        g.lock().unwrap().push(3);
        Ok::<(), ()>(())
    });
    tick().await;
    lim.release().unwrap();
    lim.release().unwrap();
    within(corral::gather([t1, t2, t3])).await.unwrap();
    assert_eq!(seen(&log), [1, 2, 3, 4]);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_head_waiter_is_skipped_9_12() {
    let lim = Arc::new(Limiter::new(0));
    let log = log();
    let tasks: Vec<_> = (1..=3).map(|i| holder(&lim, &log, i)).collect();
    tick().await;
    tasks[0].cancel();
    lim.release().unwrap();
    lim.release().unwrap();
    tick().await;
    assert_eq!(seen(&log), [2, 3]);
    drop(tasks);
    tick().await;
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn locked_while_a_woken_waiter_has_not_run_even_with_free_permits_9_13() {
    let lim = Arc::new(Limiter::new(0));
    let log = log();
    let checks = Arc::new(Mutex::new(Vec::new()));

    let (l, g, c) = (lim.clone(), log.clone(), checks.clone());
    let t1 = corral::spawn(async move {
        l.acquire().await.forget();
        c.lock()
            .unwrap()
            .push(("c1 after acquire: available", l.available()));
        // A task created here runs after c3, not before c2.
        let g4 = g.clone();
        let t4 = corral::spawn(async move {
            g4.lock().unwrap().push(4);
            Ok::<(), ()>(())
        });
        g.lock().unwrap().push(1);
        Ok::<_, ()>(t4)
    });
    let (l, g, c) = (lim.clone(), log.clone(), checks.clone());
    let t2 = corral::spawn(async move {
        l.release().unwrap();
        l.release().unwrap();
        l.release().unwrap();
        c.lock()
            .unwrap()
            .push(("c2 after 3 releases: available", l.available()));
        c.lock()
            .unwrap()
            .push(("c2 after 3 releases: locked", l.locked() as usize));
        l.acquire().await.forget();
        g.lock().unwrap().push(2);
        Ok::<(), ()>(())
    });
    let (l, g, c) = (lim.clone(), log.clone(), checks.clone());
    let t3 = corral::spawn(async move {
        l.acquire().await.forget();
        c.lock()
            .unwrap()
            .push(("c3 after acquire: locked", l.locked() as usize));
        g.lock().unwrap().push(3);
        Ok::<(), ()>(())
    });
    let t4 = within(t1).await.unwrap();
    within(corral::gather([t2, t3])).await.unwrap();
    within(t4).await.unwrap();
    assert_eq!(seen(&log), [1, 2, 3, 4]);
    assert_eq!(
        *checks.lock().unwrap(),
        [
            ("c2 after 3 releases: available", 2),
            ("c2 after 3 releases: locked", 1),
            ("c1 after acquire: available", 0),
            ("c3 after acquire: locked", 1),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn try_acquire_does_not_barge_past_a_woken_waiter_9_13() {
    let lim = Limiter::new(1);
    let p = lim.try_acquire().unwrap();
    let mut a = Box::pin(lim.acquire());
    assert!(poll_once(&mut a).is_pending());
    drop(p); // handed to a, which has not run
    lim.release().unwrap(); // one more permit, free
    assert_eq!(lim.available(), 1);
    assert!(lim.locked());
    assert!(lim.try_acquire().is_none());
    assert!(poll_once(&mut a).is_ready());
    assert!(!lim.locked());
    assert!(lim.try_acquire().is_some());
}

#[tokio::test(start_paused = true)]
async fn plain_release_has_no_upper_bound_9_14() {
    let lim = Limiter::new(1);
    lim.release().unwrap();
    lim.release().unwrap();
    assert_eq!((lim.available(), lim.total()), (3, 3));
}

#[tokio::test(start_paused = true)]
async fn growing_the_total_hands_permits_to_waiters_in_order() {
    let lim = Arc::new(Limiter::new(1));
    let log = log();
    let tasks: Vec<_> = (1..=4).map(|i| holder(&lim, &log, i)).collect();
    tick().await;
    assert_eq!(seen(&log), [1]);
    lim.set_total(3);
    tick().await;
    assert_eq!(seen(&log), [1, 2, 3]);
    assert_eq!((lim.total(), lim.available(), lim.waiters()), (3, 0, 1));
    lim.set_total(5);
    tick().await;
    assert_eq!(seen(&log), [1, 2, 3, 4]);
    assert_eq!((lim.available(), lim.in_use()), (1, 4));
    drop(tasks);
    tick().await;
    assert_eq!((lim.available(), lim.in_use(), alive()), (5, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn shrinking_the_total_takes_effect_as_permits_come_back() {
    let lim = Arc::new(Limiter::new(3));
    let log = log();
    let holders: Vec<_> = (1..=3).map(|i| holder(&lim, &log, i)).collect();
    let waiter = holder(&lim, &log, 4);
    tick().await;
    assert_eq!(seen(&log), [1, 2, 3]);
    lim.set_total(1);
    assert_eq!((lim.total(), lim.in_use()), (1, 3));
    let mut holders = holders.into_iter();
    drop(holders.next());
    tick().await;
    // Swallowed: two permits are still out and the total is one.
    assert_eq!(seen(&log), [1, 2, 3]);
    drop(holders.next());
    tick().await;
    assert_eq!(seen(&log), [1, 2, 3]);
    drop(holders.next());
    tick().await;
    assert_eq!(
        seen(&log),
        [1, 2, 3, 4],
        "the last one back goes to the waiter"
    );
    assert_eq!((lim.available(), lim.in_use()), (0, 1));
    lim.set_total(2);
    assert_eq!(lim.available(), 1);
    drop(waiter);
    tick().await;
    assert_eq!((lim.available(), lim.total(), alive()), (2, 2, 0));
}

#[tokio::test(start_paused = true)]
async fn shrinking_then_growing_before_permits_return_cancels_the_debt() {
    let lim = Limiter::bounded(2);
    let a = lim.try_acquire().unwrap();
    let b = lim.try_acquire().unwrap();
    lim.set_total(0);
    lim.set_total(1);
    drop(a);
    assert_eq!(lim.available(), 0);
    drop(b);
    assert_eq!((lim.available(), lim.total()), (1, 1));
    assert!(
        lim.release().is_err(),
        "the bound follows the resized total"
    );
}

#[tokio::test(start_paused = true)]
async fn owned_permits_move_into_spawned_tasks_and_cap_them() {
    let lim = Arc::new(Limiter::new(10));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let permit = lim.clone().acquire_owned().await;
        let (f, p) = (in_flight.clone(), peak.clone());
        tasks.push(corral::spawn(async move {
            let _permit = permit;
            let now = f.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(now, Ordering::SeqCst);
            sleep(Duration::from_millis(100)).await;
            f.fetch_sub(1, Ordering::SeqCst);
            Ok::<(), ()>(())
        }));
    }
    within(corral::gather(tasks)).await.unwrap();
    assert_eq!(peak.load(Ordering::SeqCst), 10);
    assert_eq!(t0.elapsed(), Duration::from_millis(1000));
    assert_eq!((lim.available(), alive()), (10, 0));
}

#[tokio::test(start_paused = true)]
async fn cancelling_holders_and_waiters_midway_leaves_nothing_behind() {
    let lim = Arc::new(Limiter::new(2));
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let lim = lim.clone();
            corral::spawn(async move {
                let _p = lim.clone().acquire_owned().await;
                sleep(Duration::from_millis(100 * (i + 1))).await;
                Ok::<(), ()>(())
            })
        })
        .collect();
    sleep(Duration::from_millis(150)).await;
    assert_eq!((lim.in_use(), lim.waiters()), (2, 3));
    drop(tasks);
    tick().await;
    assert_eq!(alive(), 0);
    assert_eq!((lim.available(), lim.in_use(), lim.waiters()), (2, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn waiters_with_random_deadlines_never_lose_or_duplicate_a_permit() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
    let lim = Arc::new(Limiter::new(3));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let jobs: Vec<_> = (0..300)
        .map(|_| {
            let (lim, f, p) = (lim.clone(), in_flight.clone(), peak.clone());
            let patience = Duration::from_millis(rng.gen_range(0..400));
            let work = Duration::from_millis(rng.gen_range(1..50));
            let resize = rng.gen_ratio(1, 20).then(|| rng.gen_range(1..6));
            async move {
                if let Some(n) = resize {
                    lim.set_total(n);
                }
                let Ok(_permit) = tokio::time::timeout(patience, lim.acquire()).await else {
                    return Ok::<bool, ()>(false);
                };
                let now = f.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(now, Ordering::SeqCst);
                sleep(work).await;
                f.fetch_sub(1, Ordering::SeqCst);
                Ok(true)
            }
        })
        .collect();
    let served = within(corral::gather(jobs)).await.unwrap();
    assert!(served.iter().any(|s| *s) && served.iter().any(|s| !*s));
    assert!(peak.load(Ordering::SeqCst) <= 5);
    assert_eq!(lim.waiters(), 0);
    assert_eq!(lim.in_use(), 0);
    assert_eq!(lim.available(), lim.total());
}

#[tokio::test(start_paused = true)]
async fn a_holder_finishing_returns_its_outcome_and_permit() {
    let lim = Arc::new(Limiter::new(1));
    let l = lim.clone();
    let t = corral::spawn(async move {
        let _p = l.acquire_owned().await;
        Ok::<u8, ()>(7)
    });
    assert_eq!(within(t).await, Outcome::Ok(7));
    assert_eq!(lim.available(), 1);
}

#[test]
fn limiter_permits_and_acquires_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Limiter>();
    send_sync::<corral::Permit<'static>>();
    send_sync::<corral::OwnedPermit>();
    send_sync::<corral::Acquire<'static>>();
    send_sync::<corral::AcquireOwned>();
    send_sync::<corral::ReleaseError>();
}
