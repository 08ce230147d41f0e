//! CircuitBreaker: opens after N consecutive failures, fails fast for the cool-down (on
//! tokio's clock), half-opens to one probe, and closes on the probe's success or re-opens on
//! its failure; keys are independent, late verdicts are ignored, idle keys are forgotten.

mod common;
use common::*;

use std::sync::atomic::{AtomicU32, Ordering};

use corral::{BreakerError, BreakerState, CircuitBreaker};
use tokio::time::{sleep, Instant};

async fn fail(b: &CircuitBreaker<&'static str>, key: &'static str) -> BreakerError<&'static str> {
    b.call(key, async { Err::<(), _>("down") })
        .await
        .unwrap_err()
}

async fn succeed(
    b: &CircuitBreaker<&'static str>,
    key: &'static str,
) -> Result<u8, BreakerError<&'static str>> {
    b.call(key, async { Ok(1) }).await
}

#[tokio::test(start_paused = true)]
async fn opens_after_n_consecutive_failures_and_fails_fast_without_running() {
    let b = CircuitBreaker::new(3, secs(10));
    for i in 1..=2 {
        assert_eq!(fail(&b, "api").await, BreakerError::Failed("down"));
        assert_eq!(b.state(&"api"), BreakerState::Closed { failures: i });
    }
    assert_eq!(fail(&b, "api").await, BreakerError::Failed("down"));
    let opened = Instant::now();
    assert_eq!(
        b.state(&"api"),
        BreakerState::Open {
            until: opened + secs(10)
        }
    );

    let ran = AtomicU32::new(0);
    let e = b
        .call("api", async {
            ran.fetch_add(1, Ordering::SeqCst);
            Ok::<_, &str>(())
        })
        .await
        .unwrap_err();
    assert!(e.is_open());
    assert_eq!(
        ran.load(Ordering::SeqCst),
        0,
        "a fast failure never runs the call"
    );
    // Still open just before the cool-down ends.
    sleep(secs(10) - ms(1)).await;
    assert!(succeed(&b, "api").await.unwrap_err().is_open());
}

#[tokio::test(start_paused = true)]
async fn a_success_resets_the_count_of_consecutive_failures() {
    let b = CircuitBreaker::new(3, secs(10));
    fail(&b, "api").await;
    fail(&b, "api").await;
    succeed(&b, "api").await.unwrap();
    fail(&b, "api").await;
    fail(&b, "api").await;
    assert_eq!(b.state(&"api"), BreakerState::Closed { failures: 2 });
}

#[tokio::test(start_paused = true)]
async fn half_opens_after_the_cooldown_to_one_probe_whose_success_closes() {
    let b = CircuitBreaker::new(1, secs(5));
    fail(&b, "api").await;
    sleep(secs(5)).await;
    assert_eq!(b.state(&"api"), BreakerState::HalfOpen);
    let probe = b.check(&"api").unwrap();
    assert!(probe.is_probe());
    // While the probe runs, the others fail fast, with no time to wait for.
    let open = b.check(&"api").unwrap_err();
    assert_eq!(open.until(), None);
    probe.success();
    assert_eq!(b.state(&"api"), BreakerState::Closed { failures: 0 });
    assert_eq!(b.keys(), 0, "a closed circuit with no failure is forgotten");
    assert_eq!(succeed(&b, "api").await.unwrap(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_probe_reopens_for_another_cooldown() {
    let b = CircuitBreaker::new(2, secs(5));
    fail(&b, "api").await;
    fail(&b, "api").await;
    sleep(secs(5)).await;
    assert_eq!(fail(&b, "api").await, BreakerError::Failed("down")); // the probe ran
    let reopened = Instant::now();
    assert_eq!(
        b.state(&"api"),
        BreakerState::Open {
            until: reopened + secs(5)
        }
    );
    sleep(secs(4)).await;
    assert!(succeed(&b, "api").await.unwrap_err().is_open());
    sleep(secs(1)).await;
    assert_eq!(succeed(&b, "api").await.unwrap(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_probe_lets_the_next_call_probe() {
    let b = CircuitBreaker::new(1, secs(1));
    fail(&b, "api").await;
    sleep(secs(1)).await;
    let probe = b.call("api", async {
        sleep(secs(60)).await;
        Ok::<_, &str>(0)
    });
    assert!(tokio::time::timeout(ms(10), probe).await.is_err()); // dropped mid-call
    assert_eq!(b.state(&"api"), BreakerState::HalfOpen);
    let next = b.check(&"api").unwrap();
    assert!(next.is_probe());
}

#[tokio::test(start_paused = true)]
async fn late_verdicts_from_calls_let_through_before_opening_are_ignored() {
    let b = CircuitBreaker::new(1, secs(5));
    let early_fail = b.check(&"api").unwrap();
    let early_ok = b.check(&"api").unwrap();
    fail(&b, "api").await; // opens
    let opened = Instant::now();
    sleep(secs(2)).await;
    early_fail.failure(); // does not extend the cool-down
    assert_eq!(
        b.state(&"api"),
        BreakerState::Open {
            until: opened + secs(5)
        }
    );
    early_ok.success(); // does not close it
    assert!(matches!(b.state(&"api"), BreakerState::Open { .. }));
}

#[tokio::test(start_paused = true)]
async fn keys_are_independent() {
    let b = CircuitBreaker::new(1, secs(5));
    fail(&b, "a.test").await;
    assert!(succeed(&b, "a.test").await.unwrap_err().is_open());
    assert_eq!(succeed(&b, "b.test").await.unwrap(), 1);
    assert_eq!(b.keys(), 1);
}

#[tokio::test(start_paused = true)]
async fn composes_with_gather_per_host() {
    let b = CircuitBreaker::new(2, secs(30));
    // Host "bad" fails; the third request to it fails fast (limit 1 runs them in order).
    let calls = ["bad", "good", "bad", "good", "bad"].map(|host| {
        let b = b.clone();
        async move {
            let r = b
                .call(host, async move {
                    sleep(ms(10)).await;
                    if host == "bad" {
                        Err("500")
                    } else {
                        Ok(host)
                    }
                })
                .await;
            Ok::<_, ()>(r)
        }
    });
    let results = corral::gather(calls).limit(1).await.unwrap();
    assert_eq!(results[0], Err(BreakerError::Failed("500")));
    assert_eq!(results[1], Ok("good"));
    assert_eq!(results[2], Err(BreakerError::Failed("500")));
    assert!(results[4].as_ref().unwrap_err().is_open());
}
