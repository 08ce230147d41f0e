//! race, any and quorum: which input won, every failure kept in input order, quorum deciding
//! as early as it can, losers cancelled and drained, limits, and nothing left running.

mod common;
use common::*;

use std::future::{ready, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use corral::{AnyError, Failure, InputFailure, QuorumError, RaceError, Task, Winner};
use tokio::time::{sleep, Instant};

async fn after(n: u64, r: Result<u32, &'static str>) -> Result<u32, &'static str> {
    sleep(ms(n)).await;
    r
}

fn spawn_after(n: u64, r: Result<u32, &'static str>) -> Task<u32, &'static str> {
    corral::spawn(after(n, r))
}

/// A task that would succeed after 10 s, but listens for a cancel request and then spends
/// `cleanup` ms cleaning up before it ends; `cleaned` is set when the cleanup is done.
fn listener(cleanup: u64, cleaned: &Arc<AtomicBool>) -> Task<u32, &'static str> {
    let cleaned = cleaned.clone();
    corral::spawn(async move {
        tokio::select! {
            req = corral::cancelled() => {
                sleep(ms(cleanup)).await;
                cleaned.store(true, Ordering::SeqCst);
                req.propagate().await
            }
            v = after(10_000, Ok(99)) => v,
        }
    })
}

fn fail(index: usize, e: &'static str) -> InputFailure<&'static str> {
    InputFailure {
        index,
        failure: Failure::Error(e),
    }
}

/// Counts how many inputs were started (first polled) and the peak running at once.
#[derive(Clone, Default)]
struct Meter {
    started: Arc<AtomicUsize>,
    running: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

impl Meter {
    fn wrap(
        &self,
        fut: impl Future<Output = Result<u32, &'static str>>,
    ) -> impl Future<Output = Result<u32, &'static str>> {
        let m = self.clone();
        async move {
            m.started.fetch_add(1, Ordering::SeqCst);
            let now = m.running.fetch_add(1, Ordering::SeqCst) + 1;
            m.peak.fetch_max(now, Ordering::SeqCst);
            let _done = Decrement(m.running.clone());
            fut.await
        }
    }
    fn started(&self) -> usize {
        self.started.load(Ordering::SeqCst)
    }
    fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
    fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }
}

/// Decrements a counter when dropped: runs whether the future ends or is dropped.
struct Decrement(Arc<AtomicUsize>);

impl Drop for Decrement {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

type Boxed = Pin<Box<dyn Future<Output = Result<u32, &'static str>>>>;

// ---------------------------------------------------------------------------------------------
// race

#[tokio::test(start_paused = true)]
async fn race_returns_the_first_to_finish_with_its_index() {
    let t0 = Instant::now();
    let w = corral::race([after(30, Ok(1)), after(10, Ok(2)), after(20, Ok(3))]).await;
    assert_eq!(w, Ok(Winner { index: 1, value: 2 }));
    assert_eq!(t0.elapsed(), ms(10));
}

#[tokio::test(start_paused = true)]
async fn race_returns_a_failure_that_finishes_first() {
    let t0 = Instant::now();
    let r = corral::race([after(30, Ok(1)), after(10, Err("broken")), after(20, Ok(3))]).await;
    assert_eq!(r, Err(RaceError::Failed(fail(1, "broken"))));
    assert_eq!(t0.elapsed(), ms(10));
}

#[tokio::test(start_paused = true)]
async fn race_ties_go_to_the_earlier_input() {
    let w = corral::race([after(20, Ok(1)), after(10, Ok(2)), after(10, Ok(3))]).await;
    assert_eq!(w, Ok(Winner { index: 1, value: 2 }));
    let r = corral::race([after(10, Err("first")), after(10, Ok(2))]).await;
    assert_eq!(r, Err(RaceError::Failed(fail(0, "first"))));
}

#[tokio::test(start_paused = true)]
async fn race_cancels_and_drains_spawned_losers() {
    let t0 = Instant::now();
    let tasks = vec![
        spawn_after(1000, Ok(1)),
        spawn_after(10, Ok(2)),
        spawn_after(2000, Err("never")),
    ];
    assert_eq!(alive(), 3);
    let w = corral::race(tasks).await;
    assert_eq!(w, Ok(Winner { index: 1, value: 2 }));
    assert_eq!(t0.elapsed(), ms(10));
    assert_eq!(alive(), 0, "losers are drained before race returns");
}

#[tokio::test(start_paused = true)]
async fn race_waits_for_a_listening_loser_to_clean_up() {
    let cleaned = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let w = corral::race([listener(50, &cleaned), spawn_after(10, Ok(2))]).await;
    assert_eq!(w, Ok(Winner { index: 1, value: 2 }));
    assert!(cleaned.load(Ordering::SeqCst));
    assert_eq!(t0.elapsed(), ms(60));
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn race_drops_losers_polled_in_place_before_returning() {
    let m = Meter::default();
    let w = corral::race([m.wrap(after(10, Ok(1))), m.wrap(after(99, Ok(2)))]).await;
    assert_eq!(w.unwrap().index, 0);
    assert_eq!(m.running(), 0);
}

#[tokio::test(start_paused = true)]
async fn race_counts_a_panic_or_a_cancelled_task_as_finishing() {
    let inputs: Vec<Boxed> = vec![
        Box::pin(after(20, Ok(1))),
        Box::pin(async {
            sleep(ms(10)).await;
            panic!("in place")
        }),
    ];
    let r = corral::race(inputs).await;
    assert_eq!(
        r,
        Err(RaceError::Failed(InputFailure {
            index: 1,
            failure: Failure::Panicked(corral::Panic::new("in place")),
        }))
    );

    let a = spawn_after(20, Ok(1));
    let b = spawn_after(20, Ok(2));
    b.cancel_with("not needed");
    let r = corral::race([a, b]).await;
    assert_eq!(
        r,
        Err(RaceError::Failed(InputFailure {
            index: 1,
            failure: Failure::Cancelled(corral::Cancelled::with_message("not needed")),
        }))
    );
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn race_over_no_inputs_is_an_error() {
    let r = corral::race(Vec::<Task<u32, &str>>::new()).await;
    assert_eq!(r, Err(RaceError::Empty));
    assert_eq!(r.unwrap_err().to_string(), "race over no inputs");
}

#[tokio::test(start_paused = true)]
async fn race_with_a_limit_never_starts_inputs_after_the_winner() {
    let m = Meter::default();
    let inputs = (0..10u64).map(|i| m.wrap(after(50 - i, Ok(i as u32))));
    let t0 = Instant::now();
    let w = corral::race(inputs).limit(3).await;
    // Inputs 0, 1, 2 run (50, 49, 48 ms); 2 wins at 48 ms; 3.. never start.
    assert_eq!(w, Ok(Winner { index: 2, value: 2 }));
    assert_eq!(t0.elapsed(), ms(48));
    assert_eq!((m.started(), m.peak(), m.running()), (3, 3, 0));
}

#[tokio::test(start_paused = true)]
async fn dropping_race_midway_leaves_nothing_running() {
    let tasks: Vec<_> = (0..5).map(|i| spawn_after(1000, Ok(i))).collect();
    let r = tokio::time::timeout(ms(10), corral::race(tasks)).await;
    assert!(r.is_err());
    tokio::task::yield_now().await;
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn race_takes_a_finished_task_at_once() {
    let done = spawn_after(0, Ok(7));
    tokio::task::yield_now().await;
    assert!(done.is_finished());
    let t0 = Instant::now();
    let w = corral::race([spawn_after(10, Ok(1)), done]).await;
    assert_eq!(w, Ok(Winner { index: 1, value: 7 }));
    assert_eq!(t0.elapsed(), Duration::ZERO);
    assert_eq!(alive(), 0);
}

// ---------------------------------------------------------------------------------------------
// any

#[tokio::test(start_paused = true)]
async fn any_returns_the_first_success_past_earlier_failures() {
    let t0 = Instant::now();
    let w = corral::any([
        after(10, Err("a")),
        after(30, Ok(2)),
        after(20, Err("c")),
        after(40, Ok(4)),
    ])
    .await;
    assert_eq!(w, Ok(Winner { index: 1, value: 2 }));
    assert_eq!(t0.elapsed(), ms(30));
}

#[tokio::test(start_paused = true)]
async fn any_returns_every_failure_in_input_order_when_all_fail() {
    let inputs: Vec<Task<u32, &'static str>> = vec![
        spawn_after(30, Err("a")),
        corral::spawn(async {
            sleep(ms(10)).await;
            if true {
                panic!("b panicked");
            }
            Ok(0)
        }),
        spawn_after(20, Err("c")),
        spawn_after(1000, Ok(4)),
    ];
    inputs[3].cancel();
    let t0 = Instant::now();
    let e = corral::any(inputs).await.unwrap_err();
    assert_eq!(t0.elapsed(), ms(30));
    assert_eq!(
        e,
        AnyError::AllFailed(vec![
            fail(0, "a"),
            InputFailure {
                index: 1,
                failure: Failure::Panicked(corral::Panic::new("b panicked")),
            },
            fail(2, "c"),
            InputFailure {
                index: 3,
                failure: Failure::Cancelled(corral::Cancelled::new()),
            },
        ])
    );
    assert_eq!(
        e.to_string(),
        "all 4 inputs failed: input 0: a; input 1: panicked: b panicked; input 2: c; \
         input 3: cancelled"
    );
    assert_eq!(alive(), 0);
}

#[derive(Debug, PartialEq)]
struct Down(&'static str);

impl std::fmt::Display for Down {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is down", self.0)
    }
}

impl std::error::Error for Down {}

#[tokio::test(start_paused = true)]
async fn any_error_is_a_std_error_that_lists_every_failure() {
    let e = corral::any([ready(Err::<(), _>(Down("a"))), ready(Err(Down("b")))])
        .await
        .unwrap_err();
    let boxed: Box<dyn std::error::Error> = Box::new(e);
    assert_eq!(
        boxed.to_string(),
        "all 2 inputs failed: input 0: a is down; input 1: b is down"
    );
    assert_eq!(boxed.source().unwrap().to_string(), "a is down");
}

#[tokio::test(start_paused = true)]
async fn any_over_no_inputs_is_an_error() {
    let e = corral::any(std::iter::empty::<std::future::Ready<Result<u8, ()>>>()).await;
    assert_eq!(e, Err(AnyError::Empty));
}

#[tokio::test(start_paused = true)]
async fn any_waits_for_listening_losers_to_clean_up() {
    let (c1, c2) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let t0 = Instant::now();
    let w = corral::any([
        listener(30, &c1),
        spawn_after(5, Err("down")),
        spawn_after(10, Ok(2)),
        listener(50, &c2),
    ])
    .await;
    assert_eq!(w, Ok(Winner { index: 2, value: 2 }));
    assert!(c1.load(Ordering::SeqCst) && c2.load(Ordering::SeqCst));
    assert_eq!(t0.elapsed(), ms(60));
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn any_with_a_limit_starts_the_next_input_as_each_fails() {
    let m = Meter::default();
    let inputs = (0..10u32).map(|i| m.wrap(after(10, if i < 5 { Err("no") } else { Ok(i) })));
    let t0 = Instant::now();
    let w = corral::any(inputs).limit(2).await;
    // Rounds of two: {0,1} {2,3} fail; {4,5}: 5 succeeds at 30 ms.
    assert_eq!(w, Ok(Winner { index: 5, value: 5 }));
    assert_eq!(t0.elapsed(), ms(30));
    assert_eq!((m.started(), m.peak(), m.running()), (6, 2, 0));
}

#[tokio::test(start_paused = true)]
async fn dropping_any_midway_leaves_nothing_running() {
    let tasks: Vec<_> = (0..5).map(|i| spawn_after(1000, Ok(i))).collect();
    let r = tokio::time::timeout(ms(10), corral::any(tasks)).await;
    assert!(r.is_err());
    tokio::task::yield_now().await;
    assert_eq!(alive(), 0);
}

// ---------------------------------------------------------------------------------------------
// quorum

#[tokio::test(start_paused = true)]
async fn quorum_succeeds_as_soon_as_k_have_succeeded() {
    let t0 = Instant::now();
    let ok = corral::quorum(
        3,
        [
            spawn_after(50, Ok(0)),
            spawn_after(10, Ok(1)),
            spawn_after(20, Err("down")),
            spawn_after(40, Ok(3)),
            spawn_after(30, Ok(4)),
        ],
    )
    .await;
    assert_eq!(
        ok,
        Ok(vec![
            Winner { index: 1, value: 1 },
            Winner { index: 3, value: 3 },
            Winner { index: 4, value: 4 },
        ])
    );
    assert_eq!(t0.elapsed(), ms(40));
    assert_eq!(alive(), 0, "the fifth input was cancelled and drained");
}

#[tokio::test(start_paused = true)]
async fn quorum_fails_as_soon_as_k_has_become_impossible() {
    let t0 = Instant::now();
    let e = corral::quorum(
        3,
        [
            spawn_after(10, Err("a")),
            spawn_after(15, Ok(1)),
            spawn_after(20, Err("c")),
            spawn_after(30, Err("d")),
            spawn_after(5000, Ok(4)),
        ],
    )
    .await
    .unwrap_err();
    // Three of five failed at 30 ms: at most two can succeed.
    assert_eq!(t0.elapsed(), ms(30));
    assert_eq!(
        e,
        QuorumError::Unreachable {
            needed: 3,
            successes: vec![Winner { index: 1, value: 1 }],
            failures: vec![fail(0, "a"), fail(2, "c"), fail(3, "d")],
            inputs: Some(5),
        }
    );
    assert_eq!(
        e.to_string(),
        "quorum of 3 unreachable with 5 inputs: 1 succeeded, 3 failed: \
         input 0: a; input 2: c; input 3: d"
    );
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn quorum_larger_than_the_input_fails_at_once_without_starting_anything() {
    let m = Meter::default();
    let t0 = Instant::now();
    let e = corral::quorum(3, [m.wrap(after(10, Ok(1))), m.wrap(after(10, Ok(2)))]).await;
    assert_eq!(
        e,
        Err(QuorumError::Unreachable {
            needed: 3,
            successes: vec![],
            failures: vec![],
            inputs: Some(2),
        })
    );
    assert_eq!(t0.elapsed(), Duration::ZERO);
    assert_eq!(m.started(), 0);
}

#[tokio::test(start_paused = true)]
async fn quorum_over_no_inputs_is_unreachable_and_zero_is_refused() {
    let e = corral::quorum(1, Vec::<Task<u32, ()>>::new()).await;
    assert_eq!(
        e,
        Err(QuorumError::Unreachable {
            needed: 1,
            successes: vec![],
            failures: vec![],
            inputs: Some(0),
        })
    );
    let m = Meter::default();
    let e = corral::quorum(0, [m.wrap(after(10, Ok(1)))]).await;
    assert_eq!(e, Err(QuorumError::ZeroQuorum));
    assert_eq!(m.started(), 0);
    assert_eq!(
        QuorumError::<(), &str>::ZeroQuorum.to_string(),
        "a quorum of 0 was asked for; k must be >= 1"
    );
}

#[tokio::test(start_paused = true)]
async fn quorum_of_zero_or_more_than_the_inputs_cancels_and_drains_its_task_inputs() {
    // Nothing is started, but task inputs are running already: they are stopped like losers
    // before the error is returned, and a listener gets to clean up.
    for k in [0, 3] {
        let t0 = Instant::now();
        let cleaned = flag();
        let ended = flag();
        let e = ended.clone();
        let sleeper = corral::spawn(async move {
            let _ended = Finally(e);
            sleep(secs(3600)).await;
            Ok::<u32, &str>(1)
        });
        let listening = listener(5, &cleaned);
        tokio::task::yield_now().await; // both tasks are running
        let r = corral::quorum(k, [listening, sleeper]).await;
        match k {
            0 => assert_eq!(r, Err(QuorumError::ZeroQuorum)),
            _ => assert!(matches!(
                r,
                Err(QuorumError::Unreachable {
                    needed: 3,
                    inputs: Some(2),
                    ..
                })
            )),
        }
        assert_eq!(t0.elapsed(), ms(5), "quorum({k}) waited for the cleanup");
        assert!(is_set(&cleaned), "quorum({k}) returned before the cleanup");
        assert!(
            is_set(&ended),
            "quorum({k}) returned with its input running"
        );
        assert_eq!(alive_tasks().await, 0);
    }
}

#[tokio::test(start_paused = true)]
async fn quorum_learns_the_count_of_an_unsized_iterator_when_it_runs_out() {
    let mut plan = vec![after(10, Err("a")), after(20, Err("b")), after(30, Ok(3))].into_iter();
    let unsized_inputs = std::iter::from_fn(move || plan.next());
    assert_eq!(unsized_inputs.size_hint(), (0, None));
    let t0 = Instant::now();
    let e = corral::quorum(2, unsized_inputs).await.unwrap_err();
    assert_eq!(t0.elapsed(), ms(20));
    assert_eq!(e.failures(), &[fail(0, "a"), fail(1, "b")]);
    assert!(matches!(
        e,
        QuorumError::Unreachable {
            inputs: Some(3),
            ..
        }
    ));
}

#[tokio::test(start_paused = true)]
async fn quorum_returns_exactly_k_when_more_finish_together() {
    let ok = corral::quorum(
        2,
        [
            after(10, Ok(0)),
            after(5, Err("x")),
            after(10, Ok(2)),
            after(10, Ok(3)),
        ],
    )
    .await;
    assert_eq!(
        ok,
        Ok(vec![
            Winner { index: 0, value: 0 },
            Winner { index: 2, value: 2 }
        ])
    );
}

#[tokio::test(start_paused = true)]
async fn quorum_waits_for_listening_losers_to_clean_up() {
    let cleaned = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let ok = corral::quorum(
        2,
        [
            spawn_after(10, Ok(0)),
            listener(25, &cleaned),
            spawn_after(20, Ok(2)),
        ],
    )
    .await
    .unwrap();
    assert_eq!(ok.len(), 2);
    assert!(cleaned.load(Ordering::SeqCst));
    assert_eq!(t0.elapsed(), ms(45));
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn quorum_with_a_limit_runs_at_most_n_at_once() {
    let m = Meter::default();
    let inputs = (0..20u32).map(|i| m.wrap(after(10, if i % 2 == 0 { Ok(i) } else { Err("odd") })));
    let t0 = Instant::now();
    let ok = corral::quorum(5, inputs).limit(4).await.unwrap();
    let idx: Vec<usize> = ok.iter().map(|w| w.index).collect();
    // Rounds of four: 0..4 (2 successes), 4..8 (2 more), 8..12 (the fifth, index 8).
    assert_eq!(idx, [0, 2, 4, 6, 8]);
    assert_eq!(t0.elapsed(), ms(30));
    assert_eq!((m.started(), m.peak(), m.running()), (12, 4, 0));
}

#[tokio::test(start_paused = true)]
async fn dropping_quorum_midway_leaves_nothing_running() {
    let tasks: Vec<_> = (0..5).map(|i| spawn_after(1000, Ok(i))).collect();
    let r = tokio::time::timeout(ms(10), corral::quorum(3, tasks)).await;
    assert!(r.is_err());
    tokio::task::yield_now().await;
    assert_eq!(alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn quorum_error_is_a_std_error_whose_source_is_the_first_failure() {
    let e = corral::quorum(2, [ready(Err::<u8, _>(Down("a"))), ready(Ok(1))])
        .await
        .unwrap_err();
    let boxed: Box<dyn std::error::Error> = Box::new(e);
    assert_eq!(boxed.source().unwrap().to_string(), "a is down");
}

#[tokio::test(start_paused = true)]
async fn quorum_decides_at_the_failure_that_makes_it_impossible_even_within_a_tie() {
    // All three finish in the same poll; counted in input order, the second failure already
    // decides, so the success after it is a loser and is not reported.
    let e = corral::quorum(
        2,
        [after(10, Err("a")), after(10, Err("b")), after(10, Ok(2))],
    )
    .await
    .unwrap_err();
    assert_eq!(
        e,
        QuorumError::Unreachable {
            needed: 2,
            successes: vec![],
            failures: vec![fail(0, "a"), fail(1, "b")],
            inputs: Some(3),
        }
    );
}

#[test]
fn the_futures_and_errors_are_send_when_their_inputs_are() {
    fn send<T: Send>(_: &T) {}
    fn send_sync<T: Send + Sync + 'static>() {}
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let _guard = rt.enter();
    send(&corral::race(vec![spawn_after(1, Ok(1))]));
    send(&corral::any(vec![spawn_after(1, Ok(1))]).limit(2));
    send(&corral::quorum(1, [after(1, Ok(1))]));
    send_sync::<RaceError<std::io::Error>>();
    send_sync::<AnyError<std::io::Error>>();
    send_sync::<QuorumError<u32, std::io::Error>>();
}

/// `?` turns every combinator's error into a `Box<dyn Error>` even when the inputs' error is a
/// plain `String`: `Failure<E>` and the errors built on it are errors whenever `E` can be
/// shown.
#[tokio::test(start_paused = true)]
async fn question_mark_works_for_string_errors_on_every_combinator() {
    fn failing() -> std::future::Ready<Result<u8, String>> {
        ready(Err("boom".to_string()))
    }
    async fn gather() -> Result<Vec<u8>, Box<dyn std::error::Error>> {
        Ok(corral::gather([failing()]).await?)
    }
    async fn race() -> Result<u8, Box<dyn std::error::Error>> {
        Ok(corral::race([failing()]).await?.value)
    }
    async fn any() -> Result<u8, Box<dyn std::error::Error>> {
        Ok(corral::any([failing()]).await?.value)
    }
    async fn quorum() -> Result<usize, Box<dyn std::error::Error>> {
        Ok(corral::quorum(1, [failing()]).await?.len())
    }
    assert_eq!(gather().await.unwrap_err().to_string(), "input 0: boom");
    assert_eq!(
        race().await.unwrap_err().to_string(),
        "the first input to finish failed: input 0: boom"
    );
    assert_eq!(
        any().await.unwrap_err().to_string(),
        "all 1 inputs failed: input 0: boom"
    );
    let q = quorum().await.unwrap_err();
    assert!(q.to_string().starts_with("quorum of 1 unreachable"), "{q}");
    // The failure's own message is not repeated as its source.
    let f: Box<dyn std::error::Error> = Box::new(Failure::Error("boom".to_string()));
    assert!(f.source().is_none());
}
