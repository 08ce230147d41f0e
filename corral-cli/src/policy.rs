//! Retries, rate and per-host limits, hedging and the circuit breaker of `corral fetch`: the
//! flags, and ([`Requester`]) the request future that applies them.
//!
//! Each flag configures one of the library's policies and adds no logic of its own:
//!
//! | flag | library |
//! |---|---|
//! | `--retries N`, `--retry-on`, `--backoff`, `--retry-budget` | [`corral::retry`] with a [`corral::RetryPolicy`]: `max_attempts`, `retry_if`, [`corral::Backoff`], `delay_hint` (`Retry-After`), a shared [`corral::RetryBudget`]; deadline-aware inside a [`corral::timeout_at`] scope at `-z` |
//! | `--rate R` | one [`corral::RateLimiter`] (burst 1) that every request waits for |
//! | `--per-host N` | a [`corral::KeyedLimiter`] keyed by host and port |
//! | `--hedge DELAY\|pNN` | [`corral::hedge`] with a [`corral::HedgePolicy`] (a fixed delay, or a percentile of a [`corral::LatencyTracker`]) and a budget |
//! | `--circuit-breaker N[,COOLDOWN]` | a [`corral::CircuitBreaker`] keyed by host and port |
//! | `--adaptive[=ALGO[,SLOW]]` | one [`corral::AdaptiveLimiter`] (Vegas or AIMD) under `-c`, given each request's verdict |
//!
//! This module parses the flags; `requester` builds the request future of one input;
//! `adaptive` has what `--adaptive` adds (its spec, which failures are overloads, its summary).

mod adaptive;
mod requester;

use std::fmt;
use std::time::{Duration, SystemTime};

use clap::Args;

use crate::duration;
use crate::fetch::OkStatus;
use crate::record::{ErrorKind, Record};

pub use adaptive::{overload, AdaptiveRun, AdaptiveSpec, Algorithm};
pub use requester::Requester;

/// The default of `--retry-on`.
pub const DEFAULT_RETRY_ON: &str = "connect,timeout,protocol,429,502,503,504";

/// Flags of `corral fetch` for retries, rate and per-host limits, hedging and the circuit
/// breaker.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Retries, rate limits, hedging, circuit breaker")]
pub struct PolicyArgs {
    /// Retry a failed request up to N times (N+1 attempts in all) when its failure is in
    /// --retry-on, with --backoff between attempts; a `Retry-After` header sets the wait
    /// (capped at the backoff's MAX). Each attempt has its own -t; no attempt starts that
    /// could not end before -z. The record's `attempts` counts every request made.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=100))]
    pub retries: Option<u32>,

    /// With --retries: which failures are retried, a comma-separated list of error kinds
    /// (dns, connect, tls, timeout, protocol, body) and statuses (429, 5xx, 500-504).
    #[arg(long, value_name = "LIST", default_value = DEFAULT_RETRY_ON,
          value_parser = RetryOn::parse, requires = "retries")]
    pub retry_on: RetryOn,

    /// With --retries: the wait before retry n is random between 0 and BASE × 2^(n-1)
    /// (full jitter), at most MAX; MAX also caps `Retry-After`.
    #[arg(long, value_name = "BASE[,MAX]", default_value = "100ms,10s",
          value_parser = BackoffSpec::parse, requires = "retries")]
    pub backoff: BackoffSpec,

    /// With --retries: over the last 10 seconds, retries may number at most this share of the
    /// inputs started, plus 10 a second (a failing host then gets little more than its usual
    /// load); a retry beyond it is not made. `off`: no budget.
    #[arg(long, value_name = "PERCENT|off", default_value = "20%",
          value_parser = BudgetSpec::parse, requires = "retries")]
    pub retry_budget: BudgetSpec,

    /// Send at most R requests a second over the whole run (retries and backups included),
    /// evenly spaced: `50` or `50/s`, `3000/min`, `10/h`, `0.5/s`.
    #[arg(long, value_name = "R", value_parser = parse_rate)]
    pub rate: Option<corral::Rate>,

    /// At most N requests at once to each host (host name and port), within -c.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub per_host: Option<u32>,

    /// Start a second request for an input when the first has not answered after DELAY
    /// (`200ms`), or after the NNth percentile of recent successful requests (`p95`, once 20
    /// have succeeded); the first success wins and the other is cancelled. Backups number at
    /// most 10 % of the inputs started over the last 10 seconds, plus 10 a second.
    #[arg(long, value_name = "DELAY|pNN", value_parser = HedgeSpec::parse)]
    pub hedge: Option<HedgeSpec>,

    /// Per host (name and port): after N failures in a row (dns, connect, tls, timeout,
    /// protocol, 429 or 5xx), fail its requests fast, without sending them, for COOLDOWN
    /// (default 5s): error_kind `circuit_open`. Then one probe request goes: its success
    /// closes the circuit, its failure opens it again.
    #[arg(long, value_name = "N[,COOLDOWN]", value_parser = BreakerSpec::parse)]
    pub circuit_breaker: Option<BreakerSpec>,

    /// Instead of a fixed -c, a limit that finds the server's capacity: it starts at 10 and
    /// moves between 1 and -c, its ceiling. ALGO `vegas` (the default) shrinks as latency
    /// grows, with no threshold; `aimd` grows until requests fail. Both cut the limit on
    /// connect, timeout, 429, 503 and 504 (not on a 404), and on a success slower than SLOW
    /// (`aimd,300ms`). The summary says where it settled. Note the `=`: `--adaptive=aimd`.
    #[arg(long, value_name = "ALGO[,SLOW]", num_args = 0..=1, require_equals = true,
          default_missing_value = "vegas", value_parser = AdaptiveSpec::parse)]
    pub adaptive: Option<AdaptiveSpec>,
}

/// Which failures `--retry-on` retries: error kinds and statuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryOn {
    kinds: Vec<ErrorKind>,
    statuses: Option<OkStatus>,
    text: String,
}

/// The error kinds `--retry-on` accepts: failures of a request that was made.
const RETRYABLE_KINDS: [ErrorKind; 6] = [
    ErrorKind::Dns,
    ErrorKind::Connect,
    ErrorKind::Tls,
    ErrorKind::Timeout,
    ErrorKind::Protocol,
    ErrorKind::Body,
];

impl RetryOn {
    /// Parses a comma-separated list of error kinds (`connect`, `timeout`, ...) and statuses
    /// in `--ok-status`'s syntax (`503`, `5xx`, `500-504`).
    ///
    /// # Errors
    ///
    /// A message naming the part that is neither.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut kinds = Vec::new();
        let mut statuses = Vec::new();
        for part in text.split(',').map(str::trim) {
            if let Some(kind) = RETRYABLE_KINDS.iter().find(|k| k.as_str() == part) {
                kinds.push(*kind);
            } else if part.starts_with(|c: char| c.is_ascii_digit()) {
                statuses.push(part);
            } else {
                return Err(format!(
                    "`{part}` is not an error kind that can be retried (dns, connect, tls, \
                     timeout, protocol, body) or a status (503, 5xx, 500-504)"
                ));
            }
        }
        let statuses = if statuses.is_empty() {
            None
        } else {
            Some(OkStatus::parse(&statuses.join(","))?)
        };
        Ok(RetryOn {
            kinds,
            statuses,
            text: text.trim().to_owned(),
        })
    }

    /// Whether `r`'s failure is one to retry.
    pub fn matches(&self, r: &Record) -> bool {
        match (r.error_kind, r.status) {
            (Some(ErrorKind::Status), Some(s)) => {
                self.statuses.as_ref().is_some_and(|l| l.contains(s))
            }
            (Some(kind), _) => self.kinds.contains(&kind),
            (None, _) => false,
        }
    }
}

impl fmt::Display for RetryOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// `--backoff BASE[,MAX]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffSpec {
    /// The ceiling of the first wait; it doubles for each retry.
    pub base: Duration,
    /// The longest wait, also the cap on `Retry-After`.
    pub max: Duration,
}

impl BackoffSpec {
    /// Parses `BASE` or `BASE,MAX` (durations); MAX defaults to 10s, or BASE if longer.
    ///
    /// # Errors
    ///
    /// A bad duration, or MAX shorter than BASE.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (base, max) = match text.split_once(',') {
            Some((b, m)) => (duration::parse(b)?, Some(duration::parse(m)?)),
            None => (duration::parse(text)?, None),
        };
        let max = max.unwrap_or(base.max(Duration::from_secs(10)));
        if max < base {
            return Err(format!(
                "in `{text}`, MAX ({}) is shorter than BASE ({})",
                duration::human(max),
                duration::human(base)
            ));
        }
        Ok(BackoffSpec { base, max })
    }

    /// The library's backoff: exponential from `base`, doubling, full jitter, capped at `max`.
    pub fn backoff(&self) -> corral::Backoff {
        corral::Backoff::exponential(self.base).max_delay(self.max)
    }
}

/// `--retry-budget PERCENT|off`: the share retries may add, or none.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetSpec(pub Option<f64>);

impl BudgetSpec {
    /// Parses `20%`, `20` (percent) or `off`.
    ///
    /// # Errors
    ///
    /// Not a percentage between 0 and 1000.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if t == "off" {
            return Ok(BudgetSpec(None));
        }
        t.strip_suffix('%')
            .unwrap_or(t)
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|p| p.is_finite() && (0.0..=1000.0).contains(p))
            .map(|p| BudgetSpec(Some(p / 100.0)))
            .ok_or_else(|| format!("`{text}` is not a percentage (20%, 0 to 1000) or `off`"))
    }

    /// The library's budget: this share, plus 10 retries a second, over 10 seconds.
    pub fn budget(&self) -> Option<corral::RetryBudget> {
        self.0
            .map(|ratio| corral::RetryBudget::new(ratio, 10, Duration::from_secs(10)))
    }
}

/// `--hedge DELAY|pNN`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HedgeSpec {
    /// A backup after this delay.
    After(Duration),
    /// A backup after this percentile (0 < p < 100) of recent successful latencies.
    Percentile(f64),
}

impl HedgeSpec {
    /// Parses a duration (`200ms`) or a percentile (`p95`, `p99.9`).
    ///
    /// # Errors
    ///
    /// Neither, or a percentile not strictly between 0 and 100.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if let Some(p) = t.strip_prefix('p').or(t.strip_prefix('P')) {
            return p
                .parse::<f64>()
                .ok()
                .filter(|p| *p > 0.0 && *p < 100.0)
                .map(HedgeSpec::Percentile)
                .ok_or_else(|| {
                    format!("`{text}` is not a percentile between p0 and p100 (p90, p99.9)")
                });
        }
        duration::parse(t)
            .map(HedgeSpec::After)
            .map_err(|e| format!("{e}; or a percentile such as p95"))
    }
}

/// `--circuit-breaker N[,COOLDOWN]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSpec {
    /// Failures in a row that open a host's circuit.
    pub threshold: u32,
    /// How long it stays open before a probe.
    pub cooldown: Duration,
}

impl BreakerSpec {
    /// Parses `N` or `N,COOLDOWN` (N ≥ 1; COOLDOWN a duration above zero, default 5s).
    ///
    /// # Errors
    ///
    /// A bad count or duration.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (n, cooldown) = match text.split_once(',') {
            Some((n, c)) => (n, duration::parse(c)?),
            None => (text, Duration::from_secs(5)),
        };
        let threshold = n
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| format!("`{}` is not a number of failures (1 or more)", n.trim()))?;
        if cooldown.is_zero() {
            return Err(format!(
                "in `{text}`, the cool-down must be longer than zero"
            ));
        }
        Ok(BreakerSpec {
            threshold,
            cooldown,
        })
    }
}

/// Parses `--rate`: `50`, `50/s`, `3000/min`, `10/h`, `0.5/s`.
fn parse_rate(text: &str) -> Result<corral::Rate, String> {
    text.parse::<corral::Rate>().map_err(|e| e.to_string())
}

/// The delay a response's `Retry-After` header asks for, in seconds: a number of seconds, or
/// an HTTP date counted from now (a date in the past is 0). `None` without a readable header.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<f64> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Digits only (RFC 9110's delay-seconds); too many of them is "a very long time".
        return Some(value.parse::<u64>().map_or(u64::MAX as f64, |s| s as f64));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let secs = at
        .duration_since(SystemTime::now())
        .map_or(0.0, |d| d.as_secs_f64());
    Some((secs * 1000.0).round() / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn status_record(status: u16) -> Record {
        let mut r = Record::failed(0, 1, "http://a/".into(), ErrorKind::Status, "x".into());
        r.status = Some(status);
        r
    }

    #[test]
    fn retry_on_takes_kinds_and_statuses() {
        let on = RetryOn::parse(DEFAULT_RETRY_ON).unwrap();
        for s in [429, 502, 503, 504] {
            assert!(on.matches(&status_record(s)), "{s}");
        }
        for s in [500, 404, 200] {
            assert!(!on.matches(&status_record(s)), "{s}");
        }
        let failed = |k| Record::failed(0, 1, "u".into(), k, "x".into());
        for k in [ErrorKind::Connect, ErrorKind::Timeout, ErrorKind::Protocol] {
            assert!(on.matches(&failed(k)), "{k}");
        }
        for k in [
            ErrorKind::Dns,
            ErrorKind::Body,
            ErrorKind::InvalidInput,
            ErrorKind::Cancelled,
            ErrorKind::CircuitOpen,
        ] {
            assert!(!on.matches(&failed(k)), "{k}");
        }
        let on = RetryOn::parse("body, 5xx").unwrap();
        assert!(on.matches(&status_record(500)) && on.matches(&failed(ErrorKind::Body)));
        assert!(!on.matches(&status_record(429)) && !on.matches(&failed(ErrorKind::Connect)));
        for bad in [
            "",
            "connect,",
            "refused",
            "cancelled",
            "circuit_open",
            "99",
            "5xx-",
        ] {
            assert!(RetryOn::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn backoff_budget_hedge_and_breaker_specs_parse_and_refuse() {
        let ms = Duration::from_millis;
        assert_eq!(
            BackoffSpec::parse("250ms,2s").unwrap(),
            BackoffSpec {
                base: ms(250),
                max: ms(2000)
            }
        );
        assert_eq!(BackoffSpec::parse("1s").unwrap().max, ms(10_000));
        assert_eq!(BackoffSpec::parse("20s").unwrap().max, ms(20_000));
        assert_eq!(BackoffSpec::parse("0").unwrap().base, Duration::ZERO);
        for bad in ["", "2s,1s", "1x", "1s,", ",1s", "1s,2s,3s"] {
            assert!(BackoffSpec::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(BudgetSpec::parse("20%").unwrap(), BudgetSpec(Some(0.2)));
        assert_eq!(BudgetSpec::parse("5").unwrap(), BudgetSpec(Some(0.05)));
        assert_eq!(BudgetSpec::parse("off").unwrap(), BudgetSpec(None));
        for bad in ["", "-1%", "2000%", "lots", "NaN"] {
            assert!(BudgetSpec::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            HedgeSpec::parse("p95").unwrap(),
            HedgeSpec::Percentile(95.0)
        );
        assert_eq!(
            HedgeSpec::parse("p99.9").unwrap(),
            HedgeSpec::Percentile(99.9)
        );
        assert_eq!(
            HedgeSpec::parse("150ms").unwrap(),
            HedgeSpec::After(ms(150))
        );
        for bad in ["", "p", "p0", "p100", "p-5", "fast", "5x"] {
            assert!(HedgeSpec::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            BreakerSpec::parse("5").unwrap(),
            BreakerSpec {
                threshold: 5,
                cooldown: ms(5000)
            }
        );
        assert_eq!(BreakerSpec::parse("3,500ms").unwrap().cooldown, ms(500));
        for bad in ["", "0", "-1", "x", "3,", "3,0", "3,1x"] {
            assert!(BreakerSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn retry_after_takes_seconds_and_http_dates() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(7.0));
        h.insert("retry-after", "99999999999999999999999".parse().unwrap());
        assert!(retry_after(&h).unwrap() > 1e18);
        let later = SystemTime::now() + Duration::from_secs(30);
        h.insert(
            "retry-after",
            httpdate::fmt_http_date(later).parse().unwrap(),
        );
        let secs = retry_after(&h).unwrap();
        assert!((28.0..=30.0).contains(&secs), "{secs}");
        h.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), Some(0.0));
        for bad in ["soon", "-1", "1.5", ""] {
            h.insert("retry-after", bad.parse().unwrap());
            assert_eq!(retry_after(&h), None, "{bad}");
        }
    }

    fn policy(args: &[&str]) -> Result<PolicyArgs, clap::Error> {
        let mut all = vec!["corral", "fetch"];
        all.extend(args);
        all.push("http://a/");
        Cli::try_parse_from(all).map(|cli| match cli.command {
            Command::Fetch(f) => f.policy,
            _ => unreachable!(),
        })
    }

    #[test]
    fn flags_parse_with_their_defaults_and_bad_values_exit_2() {
        let p = policy(&[]).unwrap();
        assert!(p.retries.is_none() && p.rate.is_none() && p.per_host.is_none());
        assert!(p.hedge.is_none() && p.circuit_breaker.is_none());
        assert_eq!(p.retry_on.to_string(), DEFAULT_RETRY_ON);
        assert_eq!(
            p.backoff,
            BackoffSpec {
                base: Duration::from_millis(100),
                max: Duration::from_secs(10)
            }
        );
        assert_eq!(p.retry_budget, BudgetSpec(Some(0.2)));
        let p = policy(&["--retries", "3", "--rate", "3000/min", "--per-host", "2"]).unwrap();
        assert_eq!(p.retries, Some(3));
        assert_eq!(p.rate, Some(corral::Rate::per_minute(3000)));
        assert_eq!(p.per_host, Some(2));
        for bad in [
            &["--retries", "-1"][..],
            &["--retries", "101"],
            &["--retries", "x"],
            &["--retry-on", "503"],
            &["--backoff", "1s"],
            &["--retries", "1", "--backoff", "2s,1s"],
            &["--retries", "1", "--retry-on", "nope"],
            &["--retries", "1", "--retry-budget", "much"],
            &["--rate", "0"],
            &["--rate", "fast"],
            &["--rate", "5/day"],
            &["--per-host", "0"],
            &["--hedge", "p100"],
            &["--circuit-breaker", "0"],
        ] {
            let e = policy(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad:?}");
        }
        let e = policy(&["--rate", "fast"]).unwrap_err().to_string();
        assert!(e.contains("50/s, 3000/min or 10/h"), "{e}");
    }
}
