//! `--adaptive`: the run's concurrency as a [`corral::AdaptiveLimiter`] instead of a fixed
//! `-c`, which becomes its ceiling. The library moves the limit; this file says which
//! algorithm, which failures are overloads, and what the summary reports.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::duration;
use crate::fetch::Fetched;
use crate::record::{ErrorKind, Record};

/// Where an adaptive limit starts (or at `-c`, if lower).
pub const INITIAL: usize = 10;

/// The algorithm of `--adaptive`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// [`corral::AdaptiveLimiter::vegas`]: a latency gradient, needs no threshold.
    Vegas,
    /// [`corral::AdaptiveLimiter::aimd`]: grows while requests succeed, cut on overload.
    Aimd,
}

/// `--adaptive[=ALGO[,SLOW]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdaptiveSpec {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// A success slower than this is an overload.
    pub slow: Option<Duration>,
}

impl AdaptiveSpec {
    /// Parses `vegas`, `aimd`, optionally followed by `,SLOW` (a duration): `aimd,300ms`.
    ///
    /// # Errors
    ///
    /// Another algorithm, or a bad duration.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (name, slow) = match text.split_once(',') {
            Some((n, s)) => (n.trim(), Some(duration::parse(s)?)),
            None => (text.trim(), None),
        };
        let algorithm = match name {
            "vegas" => Algorithm::Vegas,
            "aimd" => Algorithm::Aimd,
            _ => {
                return Err(format!(
                    "`{name}` is not an algorithm: vegas or aimd, optionally with ,SLOW \
                     (aimd,300ms)"
                ))
            }
        };
        if slow.is_some_and(|s| s.is_zero()) {
            return Err(format!("in `{text}`, SLOW must be longer than zero"));
        }
        Ok(AdaptiveSpec { algorithm, slow })
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Algorithm::Vegas => "vegas",
            Algorithm::Aimd => "aimd",
        })
    }
}

/// What a request's outcome says about the server's load: `Some(true)` an overload, `Some(false)`
/// an answer in its own time, `None` nothing.
///
/// Overloads: no connection (`connect`), no answer in time (`timeout`), and the statuses of a
/// server that sheds load, 429, 503 and 504. Any other answer, a 404 or a 500 included, is a
/// sample of its latency. Failures that say nothing about load (dns, tls, protocol, body) give
/// no verdict.
pub fn overload(fetched: &Fetched) -> Option<bool> {
    let r: &Record = match fetched {
        Ok(_) => return Some(false),
        Err(r) => r,
    };
    match r.error_kind {
        Some(ErrorKind::Connect | ErrorKind::Timeout) => Some(true),
        Some(ErrorKind::Status) => Some(matches!(r.status, Some(429 | 503 | 504))),
        Some(ErrorKind::Redirect) => Some(false),
        _ => None,
    }
}

/// The run's adaptive limit, and the lowest and highest it went.
pub struct AdaptiveRun {
    limiter: corral::AdaptiveLimiter,
    algorithm: Algorithm,
    low: AtomicUsize,
    high: AtomicUsize,
}

impl AdaptiveRun {
    /// The limit `spec` asks for, starting at `INITIAL` (10, or `ceiling` if lower), between 1
    /// and `ceiling` (`-c`).
    pub fn new(spec: AdaptiveSpec, ceiling: usize) -> Self {
        let ceiling = ceiling.max(1);
        let initial = INITIAL.min(ceiling);
        let mut limiter = match spec.algorithm {
            Algorithm::Vegas => corral::AdaptiveLimiter::vegas(initial, 1, ceiling),
            Algorithm::Aimd => corral::AdaptiveLimiter::aimd(initial, 1, ceiling),
        };
        if let Some(slow) = spec.slow {
            limiter = limiter.overload_after(slow);
        }
        AdaptiveRun {
            limiter,
            algorithm: spec.algorithm,
            low: AtomicUsize::new(initial),
            high: AtomicUsize::new(initial),
        }
    }

    /// Waits for a permit: the last wait before a request is sent, so that its latency is
    /// the request's.
    pub async fn acquire(&self) -> corral::AdaptivePermit {
        self.limiter.acquire().await
    }

    /// Gives the permit its verdict from the request's outcome ([`overload`]).
    pub fn verdict(&self, permit: corral::AdaptivePermit, fetched: &Fetched) {
        match overload(fetched) {
            Some(true) => permit.overload(),
            Some(false) => permit.success(),
            None => drop(permit),
        }
        let now = self.limiter.limit();
        self.low.fetch_min(now, Ordering::Relaxed);
        self.high.fetch_max(now, Ordering::Relaxed);
    }

    /// The summary's line: `adaptive: limit settled at N (LOW..HIGH seen; ALGO, ceiling C)`.
    pub fn summary_line(&self) -> String {
        format!(
            "  adaptive: limit settled at {} ({}..{} seen; {}, ceiling {})\n",
            self.limiter.limit(),
            self.low.load(Ordering::Relaxed),
            self.high.load(Ordering::Relaxed),
            self.algorithm,
            self.limiter.max()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(kind: ErrorKind, status: Option<u16>) -> Fetched {
        let mut r = Record::failed(0, 1, "http://a/".into(), kind, "x".into());
        r.status = status;
        Err(Box::new(r))
    }

    #[test]
    fn spec_parses_an_algorithm_and_a_threshold() {
        let ms = Duration::from_millis;
        assert_eq!(
            AdaptiveSpec::parse("vegas").unwrap(),
            AdaptiveSpec {
                algorithm: Algorithm::Vegas,
                slow: None
            }
        );
        assert_eq!(
            AdaptiveSpec::parse("aimd,300ms").unwrap(),
            AdaptiveSpec {
                algorithm: Algorithm::Aimd,
                slow: Some(ms(300))
            }
        );
        assert_eq!(AdaptiveSpec::parse("vegas,2").unwrap().slow, Some(ms(2000)));
        for bad in ["", "gradient", "aimd,", "aimd,0", "aimd,fast", ",1s"] {
            assert!(AdaptiveSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_load_shedding_failures_are_overloads() {
        let ok = Ok(Record::failed(
            0,
            1,
            "u".into(),
            ErrorKind::Status,
            "x".into(),
        ));
        assert_eq!(overload(&ok), Some(false));
        for (kind, status, verdict) in [
            (ErrorKind::Connect, None, Some(true)),
            (ErrorKind::Timeout, None, Some(true)),
            (ErrorKind::Status, Some(429), Some(true)),
            (ErrorKind::Status, Some(503), Some(true)),
            (ErrorKind::Status, Some(504), Some(true)),
            (ErrorKind::Status, Some(404), Some(false)),
            (ErrorKind::Status, Some(500), Some(false)),
            (ErrorKind::Redirect, Some(302), Some(false)),
            (ErrorKind::Dns, None, None),
            (ErrorKind::Tls, None, None),
            (ErrorKind::Protocol, None, None),
            (ErrorKind::Body, Some(200), None),
        ] {
            assert_eq!(
                overload(&failed(kind, status)),
                verdict,
                "{kind} {status:?}"
            );
        }
    }

    #[tokio::test]
    async fn the_summary_reports_the_limit_and_its_range() {
        let run = AdaptiveRun::new(
            AdaptiveSpec {
                algorithm: Algorithm::Aimd,
                slow: None,
            },
            50,
        );
        assert!(run
            .summary_line()
            .contains("settled at 10 (10..10 seen; aimd, ceiling 50)"));
        // Two overloads, the second started after the first cut: 10 → 9 → 8.
        for _ in 0..2 {
            let permit = run.acquire().await;
            run.verdict(permit, &failed(ErrorKind::Status, Some(503)));
        }
        // A 404 is an answer: the limit (8, with 1 in use) does not move.
        let permit = run.acquire().await;
        run.verdict(permit, &failed(ErrorKind::Status, Some(404)));
        assert_eq!(
            run.summary_line(),
            "  adaptive: limit settled at 8 (8..10 seen; aimd, ceiling 50)\n"
        );
        let small = AdaptiveRun::new(AdaptiveSpec::parse("vegas").unwrap(), 4);
        assert!(small
            .summary_line()
            .contains("settled at 4 (4..4 seen; vegas, ceiling 4)"));
    }
}
