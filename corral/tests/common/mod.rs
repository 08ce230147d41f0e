//! Helpers shared by the integration tests (each test file is its own crate and uses a part).
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::yield_now;
use tokio::time::sleep;

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Sets its flag when dropped: stands for a `finally:` block.
pub struct Finally(pub Arc<AtomicBool>);

impl Drop for Finally {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

pub fn flag() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}

pub fn is_set(f: &AtomicBool) -> bool {
    f.load(Ordering::SeqCst)
}

/// Tasks alive in the runtime now.
pub fn alive() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// Tasks alive in the runtime, after one scheduler pass so that aborts already requested are
/// carried out (an aborted task runs no user code; tokio releases it on its next turn).
pub async fn alive_tasks() -> usize {
    yield_now().await;
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// `v` after `delay` ms.
pub async fn after<T>(delay: u64, v: T) -> Result<T, String> {
    sleep(ms(delay)).await;
    Ok(v)
}

/// The error `e` after `delay` ms.
pub async fn fail_after<T>(delay: u64, e: &str) -> Result<T, String> {
    sleep(ms(delay)).await;
    Err(e.to_string())
}
