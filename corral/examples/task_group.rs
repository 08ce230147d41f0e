//! A task group: the first failure cancels the rest, every failure is reported, and the tree
//! of running groups can be printed while it runs.
//!
//! Run with `cargo run -p tokio-corral --example task_group`.

use std::time::Duration;

use corral::{GroupError, TaskGroup};
use tokio::time::{sleep, Instant};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

async fn fetch(name: &'static str, ms: u64, fail: bool) -> Result<&'static str, BoxError> {
    sleep(Duration::from_millis(ms)).await;
    if fail {
        return Err(format!("{name}: connection reset").into());
    }
    Ok(name)
}

#[tokio::main]
async fn main() {
    let start = Instant::now();
    let result: Result<(), GroupError<BoxError>> = TaskGroup::new()
        .name("mirrors")
        .limit(3)
        .run(|g| async move {
            // A nested group inside a child: shown under it in the tree.
            g.spawn_named("checks", async {
                TaskGroup::new()
                    .name("health")
                    .run(|h| async move {
                        h.spawn_named("ping", fetch("ping", 100, false));
                        h.spawn_named("dns", fetch("dns", 700, true));
                        Ok::<_, BoxError>(())
                    })
                    .await
                    .map_err(BoxError::from)
            });
            g.spawn_named("eu", fetch("eu", 300, false));
            g.spawn_named("us", fetch("us", 500, false));
            g.spawn_named("asia", fetch("asia", 2000, false));
            sleep(Duration::from_millis(200)).await;
            println!("-- at {} ms:\n{}", start.elapsed().as_millis(), g.tree());
            Ok(())
        })
        .await;
    println!("-- ended after {} ms", start.elapsed().as_millis());
    match result {
        Ok(()) => println!("all fetched"),
        Err(e) => println!("{e}"),
    }
}
