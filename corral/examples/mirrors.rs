//! Download from whichever mirror answers first with [`corral::any`]: failures are skipped,
//! the first success wins, and the slower mirrors are cancelled before `any` returns. If every
//! mirror fails, the error lists each failure.
//!
//! The delays run on tokio's paused clock, so the times printed are exact virtual times and
//! the example ends at once.
//!
//! Run: `cargo run -p tokio-corral --example mirrors`

use std::time::Duration;

use tokio::time::{sleep, Instant};

/// Prints a line if the download is dropped before it finished (it lost the race).
struct Cancelled(&'static str, Instant);

impl Drop for Cancelled {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            println!("   {:<6} cancelled at {:?}", self.0, self.1.elapsed());
        }
    }
}

/// Fetches from `mirror`: answers after `ms` with the file, or with `error`.
async fn fetch(
    mirror: &'static str,
    ms: u64,
    error: Option<&'static str>,
    start: Instant,
) -> Result<String, String> {
    let mut guard = Cancelled(mirror, start);
    sleep(Duration::from_millis(ms)).await;
    guard.0 = ""; // finished: not cancelled
    let at = start.elapsed();
    match error {
        Some(e) => {
            println!("   {mirror:<6} failed at {at:?}: {e}");
            Err(format!("{mirror}: {e}"))
        }
        None => {
            println!("   {mirror:<6} answered at {at:?}");
            Ok(format!("corral-0.1.0.tar.gz from {mirror}"))
        }
    }
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let mirrors = ["eu", "us", "asia", "backup"];

    println!("1. four mirrors; eu refuses at once, asia is the fastest to succeed");
    let start = Instant::now();
    let plan = [
        (20, Some("connection refused")),
        (800, None),
        (350, None),
        (2000, None),
    ];
    let won = corral::any(
        mirrors
            .iter()
            .zip(plan)
            .map(|(m, (ms, err))| fetch(m, ms, err, start)),
    )
    .await;
    match won {
        Ok(w) => println!(
            "   -> mirror #{} ({}) won: {} at {:?}",
            w.index,
            mirrors[w.index],
            w.value,
            start.elapsed()
        ),
        Err(e) => println!("   -> {e}"),
    }

    println!("2. every mirror fails: the error keeps all four, in input order");
    let start = Instant::now();
    let plan = [
        (300, Some("503 Service Unavailable")),
        (100, Some("timed out")),
        (200, Some("404 Not Found")),
        (50, Some("TLS handshake failed")),
    ];
    let all_failed = corral::any(
        mirrors
            .iter()
            .zip(plan)
            .map(|(m, (ms, err))| fetch(m, ms, err, start)),
    )
    .await;
    if let Err(e) = all_failed {
        println!("   -> at {:?}: {e}", start.elapsed());
    }
}
