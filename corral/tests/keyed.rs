//! KeyedLimiter on the paused clock: the peak per key, independence of keys, FIFO per key,
//! cancel safety, and that idle keys are forgotten.

mod common;
use common::*;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use corral::KeyedLimiter;
use futures::FutureExt;
use tokio::time::{sleep, Instant};

/// Lets every runnable task run until all are blocked again.
async fn settle() {
    for _ in 0..4 {
        tokio::task::yield_now().await;
    }
}

#[derive(Default)]
struct InFlight {
    now: HashMap<u32, usize>,
    peak: HashMap<u32, usize>,
}

#[tokio::test(start_paused = true)]
async fn the_peak_per_key_is_at_most_n() {
    let limits = KeyedLimiter::new(3);
    let seen = Arc::new(Mutex::new(InFlight::default()));
    // 4 hosts, 200 requests of varied lengths spread over them.
    let requests = (0..200u32).map(|i| {
        let (limits, seen) = (limits.clone(), seen.clone());
        async move {
            let host = i % 4;
            let _permit = limits.acquire(host).await;
            {
                let mut s = seen.lock().unwrap();
                let n = s.now.entry(host).or_default();
                *n += 1;
                let n = *n;
                let peak = s.peak.entry(host).or_default();
                *peak = (*peak).max(n);
            }
            sleep(ms(10 + u64::from(i * 7 % 31))).await;
            *seen.lock().unwrap().now.get_mut(&host).unwrap() -= 1;
            Ok::<_, ()>(())
        }
    });
    corral::gather(requests).await.unwrap();
    let s = seen.lock().unwrap();
    for host in 0..4 {
        assert_eq!(
            s.peak[&host], 3,
            "host {host}: the limit is reached, never passed"
        );
    }
    assert_eq!(limits.keys(), 0);
}

#[tokio::test(start_paused = true)]
async fn keys_do_not_wait_for_each_other() {
    let limits = KeyedLimiter::new(1);
    let start = Instant::now();
    let jobs = ["a", "b", "c", "a"].map(|key| {
        let limits = limits.clone();
        async move {
            let _p = limits.acquire(key).await;
            sleep(secs(1)).await;
            Ok::<_, ()>(start.elapsed())
        }
    });
    let ends = corral::gather(jobs).await.unwrap();
    assert_eq!(ends, [secs(1), secs(1), secs(1), secs(2)]);
}

#[tokio::test(start_paused = true)]
async fn waiters_for_a_key_are_served_in_order() {
    let limits = KeyedLimiter::new(1);
    let held = limits.acquire("k").await;
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..5 {
        let (limits, order) = (limits.clone(), order.clone());
        tasks.push(corral::spawn(async move {
            let _p = limits.acquire("k").await;
            order.lock().unwrap().push(i);
            Ok::<_, ()>(())
        }));
        settle().await;
    }
    drop(held);
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4]);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_waiter_leaks_no_permit_and_idle_keys_are_forgotten() {
    let limits = KeyedLimiter::new(1);
    let held = limits.acquire("k").await;
    // Queued, then dropped before it is served.
    let mut queued = Box::pin(limits.acquire("k"));
    assert!((&mut queued).now_or_never().is_none());
    // Handed the permit on release, then dropped before it picked it up.
    let mut granted = Box::pin(limits.acquire("k"));
    assert!((&mut granted).now_or_never().is_none());
    drop(queued);
    drop(held); // goes to `granted`
    drop(granted); // passes it on: nobody is left, so the key is forgotten
    assert_eq!(limits.keys(), 0);
    let p = limits.try_acquire("k").expect("the permit was not lost");
    assert_eq!(limits.in_use("k"), 1);
    drop(p);
    assert_eq!(limits.keys(), 0);
    // A cancelled task waiting on a key leaves nothing behind either.
    let held = limits.acquire("k").await;
    let waiter = corral::spawn({
        let limits = limits.clone();
        async move {
            let _p = limits.acquire("k").await;
            Ok::<_, ()>(())
        }
    });
    settle().await;
    waiter.cancel();
    assert!(waiter.await.is_cancelled());
    drop(held);
    assert_eq!(limits.keys(), 0);
    assert_eq!(alive_tasks().await, 0);
}

#[tokio::test(start_paused = true)]
async fn permits_move_into_spawned_tasks() {
    let limits = KeyedLimiter::new(2);
    let permit = limits.acquire(String::from("host")).await;
    let task = corral::spawn(async move {
        sleep(ms(10)).await;
        drop(permit);
        Ok::<_, ()>(())
    });
    assert_eq!(limits.in_use("host"), 1);
    task.await.unwrap();
    assert_eq!(limits.in_use("host"), 0);
    assert_eq!(limits.keys(), 0);
}
