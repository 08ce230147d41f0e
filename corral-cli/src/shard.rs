//! `--shard I/N` and `--shard-by`: which inputs this process handles, when N processes (GNU
//! parallel jobs, a Kubernetes Indexed Job's pods, Spark partitions) share one input.
//!
//! Every shard reads the whole input and keeps its share; records keep the input's global
//! index, so the shards' record files together hold one record per input
//! (`corral report --check N` says whether they do).
//!
//! * `--shard-by index` (the default): input `i` belongs to shard `i % N`.
//! * `--shard-by host`: an input belongs to shard `fnv1a64(host) % N`, with the URL's host
//!   (lower case, without the port), so every URL of one host is fetched by one process. A
//!   per-host limit applied by that process is then the limit for the whole cluster. A line
//!   that is not a URL has no host: it goes by its index.

use std::fmt;

use clap::ValueEnum;

use crate::stable_hash::fnv1a64;

/// The environment variable `--shard env/N` reads: a Kubernetes Indexed Job's pod index.
pub const INDEX_ENV: &str = "JOB_COMPLETION_INDEX";

/// This process's share: shard `index` of `count`, 0-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 0-based, below `count`.
    pub index: u64,
    /// At least 1.
    pub count: u64,
}

impl Shard {
    /// Parses `I/N`, or `env/N` with I from `JOB_COMPLETION_INDEX`.
    ///
    /// # Errors
    ///
    /// A message saying what is wrong and what is expected.
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::parse_with(text, std::env::var(INDEX_ENV).ok().as_deref())
    }

    /// [`Shard::parse`] with the environment variable's value given.
    fn parse_with(text: &str, env: Option<&str>) -> Result<Self, String> {
        let usage = "expected I/N with 0 <= I < N (e.g. 0/4 .. 3/4), or env/N to take I from \
                     $JOB_COMPLETION_INDEX";
        let (i, n) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}`: {usage}"))?;
        let count = n
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| format!("`{text}`: N must be a whole number, at least 1; {usage}"))?;
        let (index_text, from) = if i.trim() == "env" {
            let v = env.ok_or_else(|| {
                format!("`{text}`: ${INDEX_ENV} is not set (a Kubernetes Indexed Job sets it)")
            })?;
            (v, format!(" (from ${INDEX_ENV})"))
        } else {
            (i, String::new())
        };
        let index = index_text.trim().parse::<u64>().map_err(|_| {
            format!("`{text}`: I{from} `{index_text}` is not a whole number; {usage}")
        })?;
        if index >= count {
            return Err(format!(
                "`{text}`: I{from} is {index}, but shards are numbered from 0 to N-1 = {}; \
                 GNU parallel's {{%}} and {{#}} count from 1, so give it 0..N-1 as arguments \
                 (see the README)",
                count - 1
            ));
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// How inputs are assigned to shards, `--shard-by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ShardBy {
    /// Every N-th input: input i goes to shard i % N.
    #[default]
    Index,
    /// By the URL's host (FNV-1a hash, the same on every machine): one host, one shard.
    Host,
}

impl fmt::Display for ShardBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ShardBy::Index => "index",
            ShardBy::Host => "host",
        })
    }
}

/// A shard and its rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sharding {
    /// This process's share.
    pub shard: Shard,
    /// The rule.
    pub by: ShardBy,
}

impl Sharding {
    /// Whether the input at `index`, with this host (`None` for a line that is not a URL), is
    /// this shard's.
    pub fn keeps(&self, index: u64, host: Option<&str>) -> bool {
        let key = match (self.by, host) {
            (ShardBy::Host, Some(host)) => fnv1a64(host.as_bytes()),
            _ => index,
        };
        key % self.shard.count == self.shard.index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_specs_parse_and_bad_ones_say_why() {
        assert_eq!(
            Shard::parse_with("2/4", None),
            Ok(Shard { index: 2, count: 4 })
        );
        assert_eq!(
            Shard::parse_with("0/1", None),
            Ok(Shard { index: 0, count: 1 })
        );
        assert_eq!(
            Shard::parse_with("env/8", Some("7")),
            Ok(Shard { index: 7, count: 8 })
        );
        let e = Shard::parse_with("4/4", None).unwrap_err();
        assert!(e.contains("numbered from 0 to N-1 = 3"), "{e}");
        let e = Shard::parse_with("env/4", None).unwrap_err();
        assert!(e.contains("JOB_COMPLETION_INDEX is not set"), "{e}");
        let e = Shard::parse_with("env/4", Some("9")).unwrap_err();
        assert!(e.contains("from $JOB_COMPLETION_INDEX"), "{e}");
        for bad in ["", "3", "1/0", "a/4", "-1/4", "1/x", "1/4/2"] {
            assert!(Shard::parse_with(bad, Some("0")).is_err(), "{bad}");
        }
    }

    #[test]
    fn by_index_takes_every_nth_input_and_the_shards_cover_all() {
        let n = 3;
        let shards: Vec<Sharding> = (0..n)
            .map(|index| Sharding {
                shard: Shard { index, count: n },
                by: ShardBy::Index,
            })
            .collect();
        for i in 0..100 {
            let owners: Vec<u64> = shards
                .iter()
                .filter(|s| s.keeps(i, Some("a")))
                .map(|s| s.shard.index)
                .collect();
            assert_eq!(owners, [i % n]);
        }
    }

    #[test]
    fn by_host_puts_each_host_on_one_shard_the_same_everywhere() {
        let s = |index| Sharding {
            shard: Shard { index, count: 4 },
            by: ShardBy::Host,
        };
        for host in [
            "a.example",
            "b.example",
            "127.0.0.1",
            "xn--bcher-kva.example",
        ] {
            let owners: Vec<u64> = (0..4)
                .filter(|&i| (0..50).all(|index| s(i).keeps(index, Some(host))))
                .collect();
            assert_eq!(owners.len(), 1, "{host}");
            assert!((0..4)
                .filter(|i| !owners.contains(i))
                .all(|i| (0..50).all(|index| !s(i).keeps(index, Some(host)))));
        }
        assert!(s(3).keeps(7, None), "no host: by index");
    }
}
