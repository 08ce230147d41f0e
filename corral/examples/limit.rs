//! A limit of 10 over 100 jobs, two ways: a [`corral::Limiter`] whose permits move into
//! spawned tasks (asyncio's `Semaphore`), and `gather(...).limit(10)`, which needs no semaphore.
//! Each prints the peak number of jobs in flight and the total time.
//!
//! The delays run on tokio's paused clock, so the times printed are exact virtual times and
//! the example ends at once.
//!
//! Run: `cargo run -p tokio-corral --example limit`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{sleep, Instant};

/// Counts jobs in flight and remembers the peak.
#[derive(Default)]
struct InFlight {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl InFlight {
    async fn run(&self, job: u64) -> Result<u64, String> {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        // Jobs of 50 to 149 ms.
        sleep(Duration::from_millis(50 + job * 37 % 100)).await;
        self.now.fetch_sub(1, Ordering::SeqCst);
        Ok(job)
    }

    fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    println!("1. a Limiter of 10; each job is a spawned task that carries its permit");
    let limiter = Arc::new(corral::Limiter::new(10));
    let meter = Arc::new(InFlight::default());
    let start = Instant::now();
    let mut tasks = Vec::new();
    for job in 0..100 {
        // Waits here (back-pressure on the spawner) until one of the 10 permits is free.
        let permit = limiter.clone().acquire_owned().await;
        let meter = meter.clone();
        tasks.push(corral::spawn(async move {
            let _permit = permit; // given back when the task ends
            meter.run(job).await
        }));
    }
    let done = corral::gather(tasks).await.expect("no job fails");
    println!(
        "   {} jobs, peak in flight {}, in {:?}; permits free again: {}",
        done.len(),
        meter.peak(),
        start.elapsed(),
        limiter.available()
    );

    println!("2. the same 100 jobs with gather(...).limit(10), polled in place");
    let meter = InFlight::default();
    let start = Instant::now();
    let done = corral::gather((0..100).map(|job| meter.run(job)))
        .limit(10)
        .await
        .expect("no job fails");
    println!(
        "   {} jobs, peak in flight {}, in {:?}",
        done.len(),
        meter.peak(),
        start.elapsed()
    );
}
