//! [`Requester`]: the request future of one input, with the policies the flags ask for.
//!
//! From the outside in, for one input:
//!
//! * `-z`: with `--retries`, the whole input runs inside a [`corral::timeout_at`] scope at the
//!   run's deadline, which is how the library's retry knows it (it neither sleeps past it nor
//!   starts an attempt that could not end before it). When the scope expires, the future
//!   waits to be cancelled by the run, which stops at the same deadline, so that the input
//!   gets the run's own `cancelled` record.
//! * `--retries`: [`corral::retry`] over tries;
//! * `--hedge`: each try is a [`corral::hedge`] over requests;
//! * each request goes through `--circuit-breaker` (fail fast, or a permit that takes the
//!   verdict), then `--per-host` (a permit held while it runs), then `--rate`, then
//!   `--adaptive` (the last wait before it is sent, so that the limit sees the request's own
//!   latency; a permit that takes the verdict), and is made by [`Fetcher::fetch`].
//!
//! A request cancelled by the run (deadline, Ctrl-C, a strategy's stop) is dropped with the
//! input's future: it is never seen by the retry as a failure.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::future::Either;
use tokio::time::Instant;

use super::{AdaptiveRun, HedgeSpec, PolicyArgs, RetryOn};
use crate::duration::human;
use crate::fetch::{Fetched, Fetcher, Partial};
use crate::input::Input;
use crate::record::{ErrorKind, Record};

/// Makes the request future of each input: a plain [`Fetcher::fetch`] when no policy flag is
/// given, else one that applies them. Cheap to clone; clones share the limiters, budgets,
/// latencies and circuits.
#[derive(Clone)]
pub struct Requester {
    fetcher: Fetcher,
    policies: Option<Arc<Policies>>,
}

/// The library's policies, configured once for the run.
struct Policies {
    retry: Option<corral::RetryPolicy<Box<Record>>>,
    hedge: Option<corral::HedgePolicy>,
    rate: Option<corral::RateLimiter>,
    per_host: Option<corral::KeyedLimiter<String>>,
    breaker: Option<corral::CircuitBreaker<String>>,
    adaptive: Option<AdaptiveRun>,
    /// The run's `-z` deadline, for the retry.
    deadline: Option<Instant>,
}

impl Requester {
    /// The policies `args` asks for, around `fetcher`; `deadline` is the run's `-z`, and
    /// `concurrency` its `-c` (the ceiling of `--adaptive`).
    pub fn new(
        fetcher: Fetcher,
        args: &PolicyArgs,
        deadline: Option<Instant>,
        concurrency: usize,
    ) -> Self {
        let retry = args.retries.filter(|&n| n > 0).map(|n| {
            let on: RetryOn = args.retry_on.clone();
            let mut policy = corral::RetryPolicy::<Box<Record>>::new()
                .max_attempts(n + 1)
                .backoff(args.backoff.backoff())
                .retry_if(move |r| on.matches(r))
                // The library caps the hint at the backoff's MAX.
                .delay_hint(|r| {
                    r.retry_after
                        .map(|s| Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX))
                });
            if let Some(budget) = args.retry_budget.budget() {
                policy = policy.budget(budget);
            }
            policy
        });
        let hedge = args.hedge.map(|spec| {
            let policy = match spec {
                HedgeSpec::After(d) => corral::HedgePolicy::after(d),
                HedgeSpec::Percentile(p) => {
                    corral::HedgePolicy::at_percentile(p, corral::LatencyTracker::default())
                }
            };
            policy.budget(corral::RetryBudget::new(0.1, 10, Duration::from_secs(10)))
        });
        let policies = Policies {
            retry,
            hedge,
            rate: args.rate.map(|r| corral::RateLimiter::new(r, 1)),
            per_host: args.per_host.map(|n| corral::KeyedLimiter::new(n as usize)),
            breaker: args
                .circuit_breaker
                .map(|b| corral::CircuitBreaker::new(b.threshold, b.cooldown)),
            adaptive: args.adaptive.map(|a| AdaptiveRun::new(a, concurrency)),
            deadline,
        };
        let any = policies.retry.is_some()
            || policies.hedge.is_some()
            || policies.rate.is_some()
            || policies.per_host.is_some()
            || policies.breaker.is_some()
            || policies.adaptive.is_some();
        Requester {
            fetcher,
            policies: any.then(|| Arc::new(policies)),
        }
    }

    /// With `--adaptive`, the summary's line on the limit.
    pub fn adaptive_summary(&self) -> Option<String> {
        let run = self.policies.as_ref()?.adaptive.as_ref()?;
        Some(run.summary_line())
    }

    /// The future that fetches one input and outputs its record, `Ok` for a success. Its
    /// `attempts` counts the requests made, `elapsed_ms` runs from the first one sent to the
    /// end of the last, and `attempt_errors` lists the failures before the one recorded.
    pub fn fetch(
        &self,
        input: Input,
        partial: Arc<Partial>,
    ) -> impl Future<Output = Fetched> + Send + 'static + use<> {
        let policies = match &self.policies {
            Some(p) if input.url.is_ok() => p.clone(),
            // No policy, or a bad input that fails without a request: the plain future.
            _ => return Either::Left(self.fetcher.fetch(input, partial)),
        };
        let sender = Sender::new(policies, self.fetcher.clone(), input, partial);
        Either::Right(async move {
            let policies = &sender.policies;
            match policies.deadline.filter(|_| policies.retry.is_some()) {
                Some(at) => match corral::timeout_at(at, policies.run(&sender)).await {
                    Ok(fetched) => fetched,
                    // The run stops at this deadline too, and records the input as cancelled.
                    Err(_) => std::future::pending().await,
                },
                None => policies.run(&sender).await,
            }
        })
    }
}

impl Policies {
    /// Retries of (hedged) tries of requests, and the record that comes of them.
    async fn run(&self, sender: &Sender) -> Fetched {
        let result = match &self.retry {
            None => self.try_once(sender).await,
            Some(policy) => {
                match corral::retry(policy.clone(), || self.try_once(sender))
                    .report()
                    .await
                {
                    Ok(done) => {
                        let mut r = done.value;
                        r.attempt_errors = earlier(done.failures, &r);
                        Ok(r)
                    }
                    Err(e) => {
                        let (reason, tries) = (e.reason(), e.attempts());
                        let mut failures = e.into_failures();
                        let mut last = failures.pop().expect("a retry error holds a failure");
                        last.attempt_errors = earlier(failures, &last);
                        gave_up(&mut last, reason, tries);
                        Err(last)
                    }
                }
            }
        };
        let finish = |r: &mut Record| {
            r.attempts = sender.partial.attempts();
            if let Some(first) = sender.first_sent.get() {
                r.elapsed_ms = first.elapsed();
            }
        };
        match result {
            Ok(mut r) => {
                finish(&mut r);
                Ok(r)
            }
            Err(mut r) => {
                finish(&mut r);
                Err(r)
            }
        }
    }

    /// One try: a request, or with `--hedge`, a request and its backups.
    async fn try_once(&self, sender: &Sender) -> Fetched {
        let Some(policy) = &self.hedge else {
            return sender.request().await;
        };
        match corral::hedge(policy.clone(), || sender.request()).await {
            Ok(hedged) => Ok(hedged.value),
            Err(e) => {
                let mut failed: Vec<Box<Record>> = e
                    .into_failures()
                    .into_iter()
                    .filter_map(|f| match f.failure {
                        corral::Failure::Error(r) => Some(r),
                        corral::Failure::Panicked(p) => Some(Box::new(sender.failed(
                            ErrorKind::Protocol,
                            format!("internal error (a bug in corral): {}", p.message()),
                        ))),
                        corral::Failure::Cancelled(_) => None,
                    })
                    .collect();
                let mut last = failed.pop().unwrap_or_else(|| {
                    Box::new(sender.failed(ErrorKind::Cancelled, "cancelled".into()))
                });
                last.attempt_errors = earlier(failed, &last);
                Err(last)
            }
        }
    }
}

/// The failures before `last`, each with the ones before it, as `attempt_errors` lines.
fn earlier(failures: impl IntoIterator<Item = Box<Record>>, last: &Record) -> Vec<String> {
    let mut lines = Vec::new();
    for f in failures {
        lines.extend(f.attempt_errors.iter().cloned());
        lines.push(describe(&f));
    }
    lines.extend(last.attempt_errors.iter().cloned());
    lines
}

/// One failure as an `attempt_errors` line: `status 503`, `connect: connection refused`.
fn describe(r: &Record) -> String {
    match (r.error_kind, r.status) {
        (Some(ErrorKind::Status), Some(s)) => format!("status {s}"),
        (Some(kind), _) => format!("{kind}: {}", r.error.as_deref().unwrap_or("")),
        (None, _) => "ok".to_owned(),
    }
}

/// Says in the record's error why a retry stopped, when that is news: after more than one
/// try, or when a retryable failure was not retried (budget, deadline).
fn gave_up(r: &mut Record, reason: corral::GaveUp, tries: u32) {
    let note = match reason {
        corral::GaveUp::Budget | corral::GaveUp::Deadline if tries == 1 => {
            format!("not retried: {reason}")
        }
        corral::GaveUp::Budget | corral::GaveUp::Deadline => {
            format!("gave up after {tries} tries: {reason}")
        }
        _ if tries > 1 => format!("gave up after {tries} tries"),
        _ => return,
    };
    let error = r.error.get_or_insert_with(String::new);
    error.push_str(&format!(" ({note})"));
}

/// Makes the requests of one input, each through the breaker, the per-host limit and the
/// rate limit.
struct Sender {
    policies: Arc<Policies>,
    fetcher: Fetcher,
    input: Input,
    partial: Arc<Partial>,
    /// The host and port: the key of `--per-host` and `--circuit-breaker`.
    host: String,
    /// When the first request was sent, past the limits: the record's time starts there.
    first_sent: Arc<OnceLock<Instant>>,
}

impl Sender {
    fn new(policies: Arc<Policies>, fetcher: Fetcher, input: Input, partial: Arc<Partial>) -> Self {
        let host = input.url.as_ref().map_or_else(
            |_| String::new(),
            |u| {
                format!(
                    "{}:{}",
                    u.host_str().unwrap_or(""),
                    u.port_or_known_default().unwrap_or(0)
                )
            },
        );
        Sender {
            policies,
            fetcher,
            input,
            partial,
            host,
            first_sent: Arc::new(OnceLock::new()),
        }
    }

    /// A record of this input that failed without a response.
    fn failed(&self, kind: ErrorKind, error: String) -> Record {
        Record::failed(
            self.input.index,
            self.input.line,
            self.input.text.clone(),
            kind,
            error,
        )
    }

    /// One request. Owns what it needs, so that a hedge can run several at once.
    fn request(&self) -> impl Future<Output = Fetched> + Send + 'static + use<> {
        let policies = self.policies.clone();
        let fetcher = self.fetcher.clone();
        let input = self.input.clone();
        let partial = self.partial.clone();
        let host = self.host.clone();
        let first_sent = self.first_sent.clone();
        let open = |why: String| Box::new(self.failed(ErrorKind::CircuitOpen, why));
        // The breaker first: a request it fails does not wait for the limits.
        let permit = match &policies.breaker {
            None => Ok(None),
            Some(breaker) => match breaker.check(&host) {
                Ok(permit) => Ok(Some(permit)),
                Err(o) => Err(open(match o.retry_after() {
                    Some(left) => format!(
                        "not sent: {host} failed {} times in a row (--circuit-breaker); its \
                         circuit is open for another {}",
                        breaker.threshold(),
                        human(left)
                    ),
                    None => format!(
                        "not sent: {host} failed {} times in a row (--circuit-breaker), and a \
                         probe request is under way",
                        breaker.threshold()
                    ),
                })),
            },
        };
        async move {
            let permit = permit?;
            let _host_permit = match &policies.per_host {
                Some(limiter) => Some(limiter.acquire(host).await),
                None => None,
            };
            if let Some(rate) = &policies.rate {
                rate.until_ready().await;
            }
            let adaptive = match &policies.adaptive {
                Some(run) => Some(run.acquire().await),
                None => None,
            };
            first_sent.get_or_init(Instant::now);
            let fetched = fetcher.fetch(input, partial).await;
            if let (Some(run), Some(permit)) = (&policies.adaptive, adaptive) {
                run.verdict(permit, &fetched);
            }
            if let Some(permit) = permit {
                let failed = fetched.as_ref().err().is_some_and(|r| host_failure(r));
                if failed {
                    permit.failure();
                } else {
                    permit.success();
                }
            }
            fetched
        }
    }
}

/// Whether a failure counts against the host for `--circuit-breaker`: no usable connection or
/// answer (dns, connect, tls, timeout, protocol), or a 429 or 5xx status. A 404 or a body cut
/// by `--max-body` says nothing about the host's health.
fn host_failure(r: &Record) -> bool {
    match r.error_kind {
        Some(
            ErrorKind::Dns
            | ErrorKind::Connect
            | ErrorKind::Tls
            | ErrorKind::Timeout
            | ErrorKind::Protocol,
        ) => true,
        Some(ErrorKind::Status) => r.status.is_some_and(|s| s == 429 || s >= 500),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(kind: ErrorKind, status: Option<u16>, error: &str) -> Box<Record> {
        let mut r = Record::failed(0, 1, "http://a/".into(), kind, error.into());
        r.status = status;
        Box::new(r)
    }

    #[test]
    fn attempt_errors_list_earlier_failures_first_to_last_with_their_own() {
        // A try whose hedge already failed once, then a plain failure, then the last one.
        let mut hedged = failed(ErrorKind::Timeout, None, "no answer");
        hedged.attempt_errors = vec!["connect: refused".into()];
        let plain = failed(ErrorKind::Status, Some(503), "status 503 is not in 2xx");
        let mut last = failed(ErrorKind::Status, Some(502), "x");
        last.attempt_errors = vec!["status 504".into()];
        assert_eq!(
            earlier(vec![hedged, plain], &last),
            [
                "connect: refused",
                "timeout: no answer",
                "status 503",
                "status 504"
            ]
        );
        assert!(earlier(
            Vec::new(),
            &Record::failed(0, 1, "u".into(), ErrorKind::Dns, "x".into())
        )
        .is_empty());
    }

    #[test]
    fn the_error_says_why_a_retry_stopped_only_when_that_is_news() {
        let note = |reason, tries| {
            let mut r = *failed(ErrorKind::Status, Some(503), "status 503");
            gave_up(&mut r, reason, tries);
            r.error.unwrap()
        };
        assert_eq!(note(corral::GaveUp::NotRetryable, 1), "status 503");
        assert_eq!(note(corral::GaveUp::Exhausted, 1), "status 503");
        assert_eq!(
            note(corral::GaveUp::Exhausted, 3),
            "status 503 (gave up after 3 tries)"
        );
        assert_eq!(
            note(corral::GaveUp::Budget, 1),
            "status 503 (not retried: the retry budget is spent)"
        );
        assert_eq!(
            note(corral::GaveUp::Deadline, 2),
            "status 503 (gave up after 2 tries: the deadline leaves no time for another attempt)"
        );
    }

    #[test]
    fn only_transport_failures_429_and_5xx_count_against_a_host() {
        for (kind, status, counts) in [
            (ErrorKind::Connect, None, true),
            (ErrorKind::Dns, None, true),
            (ErrorKind::Timeout, None, true),
            (ErrorKind::Protocol, None, true),
            (ErrorKind::Status, Some(503), true),
            (ErrorKind::Status, Some(429), true),
            (ErrorKind::Status, Some(404), false),
            (ErrorKind::Body, Some(200), false),
            (ErrorKind::CircuitOpen, None, false),
        ] {
            assert_eq!(
                host_failure(&failed(kind, status, "x")),
                counts,
                "{kind} {status:?}"
            );
        }
    }
}
