//! The scenarios of the asyncio guides, replayed with corral: `gather` keeps input order,
//! `as_completed` streams, `wait(FirstCompleted)` then cancel, a `timeout` budget, errors as
//! values with `gather_settled`, and a `Limiter`.
//!
//! The scenarios are in `scenarios.rs`, next to this file, written once for any [`World`]; `corral demo`
//! runs the same file against its HTTP server. Here the world is simulated: a request sleeps
//! on tokio's paused clock and answers, so the times printed are exact and the example ends at
//! once.
//!
//! Run: `cargo run -p tokio-corral --example guides`

mod scenarios;

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use scenarios::{Get, GetError, Reply, World};
use tokio::time::{sleep, Instant};

/// The simulated server's counts.
#[derive(Default)]
struct Counts {
    in_flight: AtomicU64,
    peak: AtomicU64,
}

/// One request being answered: counted from its first poll until it is finished or dropped
/// (cancelled).
struct Answering(Arc<Counts>);

impl Answering {
    fn start(counts: Arc<Counts>) -> Self {
        let now = counts.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        counts.peak.fetch_max(now, Ordering::Relaxed);
        Answering(counts)
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Requests simulated on the paused clock.
struct Simulated {
    start: Instant,
    counts: Arc<Counts>,
}

impl World for Simulated {
    fn get(&self, get: Get) -> impl Future<Output = Reply> + Send + 'static {
        let counts = self.counts.clone();
        async move {
            let _answering = Answering::start(counts);
            match get {
                Get::Status { status, after } => {
                    sleep(after).await;
                    Ok(status)
                }
                Get::Refused => Err(GetError::Transport("connection refused".into())),
                Get::Garbage => Err(GetError::Transport("invalid HTTP version parsed".into())),
            }
        }
    }

    async fn in_flight(&self) -> u64 {
        self.counts.in_flight.load(Ordering::Relaxed)
    }

    fn reset_peak(&self) {
        let now = self.counts.in_flight.load(Ordering::Relaxed);
        self.counts.peak.store(now, Ordering::Relaxed);
    }

    fn peak(&self) -> u64 {
        self.counts.peak.load(Ordering::Relaxed)
    }

    fn scale(&self) -> f64 {
        1.0
    }

    fn start(&self) -> Instant {
        self.start
    }

    fn print(&self, line: fmt::Arguments<'_>) {
        println!("{line}");
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    rt.block_on(async {
        let world = Simulated {
            start: Instant::now(),
            counts: Arc::default(),
        };
        println!("guides: the asyncio guides' scenarios, simulated on tokio's paused clock");
        println!(
            "        get(status, after=s) sleeps s, then answers status; times are since the start"
        );
        scenarios::all(&world).await;
    });
}
