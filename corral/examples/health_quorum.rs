//! A 3-of-5 health check with [`corral::quorum`]: the cluster is healthy as soon as three
//! nodes answer, and unhealthy as soon as three have failed (two successes can no longer make
//! three). The checks still running are cancelled either way, so the slowest node never holds
//! the answer up.
//!
//! The delays run on tokio's paused clock, so the times printed are exact virtual times and
//! the example ends at once.
//!
//! Run: `cargo run -p tokio-corral --example health_quorum`

use std::time::Duration;

use corral::QuorumError;
use tokio::time::{sleep, Instant};

/// Checks one node: after `ms`, it is up (answers with its version) or down.
async fn check(node: &'static str, ms: u64, up: bool) -> Result<&'static str, String> {
    sleep(Duration::from_millis(ms)).await;
    if up {
        Ok("v1.4.2")
    } else {
        Err(format!("{node} is down"))
    }
}

async fn round(title: &str, plan: [(&'static str, u64, bool); 5]) {
    println!("{title}");
    let start = Instant::now();
    let checks = plan.iter().map(|&(node, ms, up)| check(node, ms, up));
    match corral::quorum(3, checks).await {
        Ok(up) => {
            let nodes: Vec<_> = up
                .iter()
                .map(|w| format!("{} ({})", plan[w.index].0, w.value))
                .collect();
            println!(
                "   healthy at {:?}: {} answered",
                start.elapsed(),
                nodes.join(", ")
            );
        }
        Err(e @ QuorumError::Unreachable { .. }) => {
            println!("   unhealthy at {:?}: {e}", start.elapsed());
        }
        Err(e) => println!("   {e}"),
    }
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    round(
        "1. four of five nodes are up; the third answer comes at 60 ms",
        [
            ("node-a", 40, true),
            ("node-b", 900, true),
            ("node-c", 25, false),
            ("node-d", 60, true),
            ("node-e", 50, true),
        ],
    )
    .await;
    round(
        "2. three of five nodes are down; the third failure comes at 70 ms",
        [
            ("node-a", 30, false),
            ("node-b", 45, true),
            ("node-c", 70, false),
            ("node-d", 5000, true),
            ("node-e", 10, false),
        ],
    )
    .await;
}
