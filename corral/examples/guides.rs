//! The scenarios of the asyncio guides, replayed with corral on tokio's paused clock: the delays
//! are simulated, so the times printed are exact virtual times and the example ends at once.
//!
//! Run: `cargo run -p tokio-corral --example guides`

use std::time::Duration;

use corral::{Outcome, ReturnWhen};
use tokio::time::{sleep, Instant};

/// A job that takes `secs` seconds and returns `value` (asyncio's `after(dt, v)`).
async fn job(secs: f64, value: &'static str) -> Result<&'static str, String> {
    outcome(secs, Ok(value)).await
}

/// A job that takes `secs` seconds and ends with `result` (a value or an error).
async fn outcome(
    secs: f64,
    result: Result<&'static str, &'static str>,
) -> Result<&'static str, String> {
    sleep(Duration::from_secs_f64(secs)).await;
    result.map_err(str::to_string)
}

fn alive() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

struct Clock(Instant);

impl Clock {
    fn now(&self) -> String {
        format!("t={:.1}s", self.0.elapsed().as_secs_f64())
    }
}

async fn gather_keeps_order() {
    println!("1. gather keeps input order (asyncio.gather)");
    let clock = Clock(Instant::now());
    let values = corral::gather([job(2.0, "a"), job(1.0, "b"), job(3.0, "c")]).await;
    println!("   jobs of 2 s, 1 s, 3 s -> {values:?} at {}", clock.now());
}

async fn as_completed_streams() {
    println!("2. as_completed streams results as they finish (asyncio.as_completed)");
    let clock = Clock(Instant::now());
    let mut done = corral::as_completed([job(3.0, "3 s"), job(1.0, "1 s"), job(2.0, "2 s")]);
    while let Some(item) = done.next().await {
        println!(
            "   input #{} finished with {:?} at {}",
            item.index,
            item.outcome,
            clock.now()
        );
    }
    println!("   all three in {}, not 6 s", clock.now());
}

async fn first_completed_then_cancel() {
    println!("3. wait(FIRST_COMPLETED), then cancel the rest (asyncio.wait)");
    let clock = Clock(Instant::now());
    let tasks = vec![
        corral::spawn_named("slow", job(10.0, "slow")),
        corral::spawn_named("fast", job(1.0, "fast")),
        corral::spawn_named("medium", job(5.0, "medium")),
    ];
    let waited = corral::wait(tasks)
        .return_when(ReturnWhen::FirstCompleted)
        .await
        .expect("three tasks given");
    for (index, task) in &waited.done {
        println!("   done: #{index} {} at {}", task.name(), clock.now());
    }
    let pending: Vec<String> = waited
        .pending
        .iter()
        .map(|(i, t)| format!("#{i} {}", t.name()))
        .collect();
    println!(
        "   pending: {} (still running: {} tasks)",
        pending.join(", "),
        alive()
    );
    drop(waited); // dropping the pending handles cancels them
    tokio::task::yield_now().await;
    println!("   after dropping them: {} tasks running", alive());
}

async fn budget_over_three_jobs() {
    println!("4. a 5 s budget over three 2 s jobs (asyncio.timeout)");
    let clock = Clock(Instant::now());
    let one_by_one = corral::timeout(Duration::from_secs(5), async {
        for name in ["first", "second", "third"] {
            let v = job(2.0, name).await?;
            println!("   {v} finished at {}", clock.now());
        }
        Ok::<(), String>(())
    })
    .await;
    println!("   one after another: {one_by_one:?} at {}", clock.now());
    let clock = Clock(Instant::now());
    let together = corral::timeout(
        Duration::from_secs(5),
        corral::gather([job(2.0, "first"), job(2.0, "second"), job(2.0, "third")]),
    )
    .await;
    println!("   together (gather): {together:?} at {}", clock.now());
}

async fn errors_as_values() {
    println!("5. errors returned as values (gather(return_exceptions=True))");
    let clock = Clock(Instant::now());
    let outcomes = corral::gather_settled([
        outcome(1.0, Ok("ok")),
        outcome(0.5, Err("refused")),
        outcome(2.0, Ok("also ok")),
    ])
    .await;
    for (i, o) in outcomes.iter().enumerate() {
        let shown = match o {
            Outcome::Ok(v) => format!("Ok({v})"),
            Outcome::Err(e) => format!("Err({e})"),
            other => format!("{other:?}"),
        };
        println!("   slot {i}: {shown}");
    }
    println!("   every slot filled at {}", clock.now());
    let clock = Clock(Instant::now());
    let first_error = corral::gather([
        outcome(1.0, Ok("ok")),
        outcome(0.5, Err("refused")),
        outcome(2.0, Ok("x")),
    ])
    .await;
    println!(
        "   plain gather: {first_error:?} at {}, the others cancelled ({} running)",
        clock.now(),
        alive()
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    rt.block_on(async {
        gather_keeps_order().await;
        as_completed_streams().await;
        first_completed_then_cancel().await;
        budget_over_three_jobs().await;
        errors_as_values().await;
    });
}
