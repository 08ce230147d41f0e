//! Deadlines: [`timeout`], [`timeout_at`], [`wait_for`], and the [`Elapsed`] error they share.

use std::fmt;

/// The error of a deadline that passed before the work finished.
///
/// asyncio: `TimeoutError`.
///
/// # Examples
///
/// ```
/// let e = corral::Elapsed::new();
/// assert_eq!(e.to_string(), "deadline has elapsed");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Elapsed(());

impl Elapsed {
    /// The error value (for adapters and tests).
    pub fn new() -> Self {
        Elapsed(())
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}
