//! Which inputs a run fetches: with `--shard`, its shard's ([`Sharding`]); with `--resume`,
//! those without a final record in the journal ([`Done`]). Every input is still read and
//! counted, so records keep the index among all the inputs.

use crate::journal::Done;
use crate::shard::{ShardBy, Sharding};

/// Which inputs this run fetches: with `--shard`, its shard's; with `--resume`, those without
/// a final record in the journal.
pub struct Selection {
    /// `--shard`.
    pub sharding: Option<Sharding>,
    /// `--resume`: what the journal has done.
    pub done: Option<Done>,
}

impl Selection {
    /// Whether every input is this run's.
    pub fn is_all(&self) -> bool {
        self.sharding.is_none() && self.done.as_ref().is_none_or(|d| d.count == 0)
    }

    /// Whether the input at `index`, with this host (`None` if it is not a URL), is this run's.
    pub fn keeps(&self, index: u64, host: Option<&str>) -> bool {
        self.sharding.is_none_or(|s| s.keeps(index, host))
            && self.done.as_ref().is_none_or(|d| !d.contains(index))
    }

    /// Whether `--shard-by host` needs an input's host.
    pub fn needs_host(&self) -> bool {
        self.sharding.is_some_and(|s| s.by == ShardBy::Host)
    }
}
