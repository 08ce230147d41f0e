//! The summary on stderr: counts by status and by error kind, requests per second, and
//! latency percentiles from an HDR histogram.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::duration::human;
use crate::record::{ErrorKind, Record};

/// Counts records as they are written.
pub struct Summary {
    /// Records seen.
    pub total: u64,
    /// Records with `ok`.
    pub ok: u64,
    /// Body bytes received, over every record (a cancelled request's count what had arrived).
    pub bytes: u64,
    by_status: BTreeMap<u16, u64>,
    by_kind: BTreeMap<ErrorKind, u64>,
    /// Latency in microseconds of every request that ran to an end (not cancelled).
    latency: Histogram<u64>,
    /// Requests made (the records' `attempts`), and inputs that took more than one.
    attempts: u64,
    retried: u64,
}

impl Default for Summary {
    fn default() -> Self {
        Self::new()
    }
}

impl Summary {
    /// An empty summary.
    pub fn new() -> Self {
        Summary {
            total: 0,
            ok: 0,
            bytes: 0,
            by_status: BTreeMap::new(),
            by_kind: BTreeMap::new(),
            // 1 µs to 1 hour at 3 significant digits: about 0.1 % error, a few tens of KiB.
            latency: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("static histogram bounds are valid"),
            attempts: 0,
            retried: 0,
        }
    }

    /// Counts one record.
    pub fn add(&mut self, r: &Record) {
        self.total += 1;
        if r.ok {
            self.ok += 1;
        }
        self.bytes += r.bytes;
        if let Some(s) = r.status {
            *self.by_status.entry(s).or_default() += 1;
        }
        if let Some(k) = r.error_kind {
            *self.by_kind.entry(k).or_default() += 1;
        }
        self.attempts += u64::from(r.attempts);
        self.retried += u64::from(r.attempts > 1);
        if r.attempts > 0 && r.error_kind != Some(ErrorKind::Cancelled) {
            let micros = u64::try_from(r.elapsed_ms.as_micros()).unwrap_or(u64::MAX);
            self.latency.saturating_record(micros.max(1));
        }
    }

    /// Adds the counts and the latency histogram of `other` (another shard, another file) to
    /// this one. HDR histograms merge without loss: the percentiles are those of all the
    /// requests together.
    pub fn merge(&mut self, other: &Summary) {
        self.total += other.total;
        self.ok += other.ok;
        self.bytes += other.bytes;
        for (s, n) in &other.by_status {
            *self.by_status.entry(*s).or_default() += n;
        }
        for (k, n) in &other.by_kind {
            *self.by_kind.entry(*k).or_default() += n;
        }
        self.attempts += other.attempts;
        self.retried += other.retried;
        // Same bounds on both sides, and values are clamped when recorded: cannot fail.
        let _ = self.latency.add(&other.latency);
    }

    /// Records that failed: neither ok nor cancelled.
    pub fn failed(&self) -> u64 {
        self.total - self.ok - self.count(ErrorKind::Cancelled)
    }

    /// Records by HTTP status, in order of status.
    pub fn statuses(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        self.by_status.iter().map(|(s, n)| (*s, *n))
    }

    /// Records by error kind, in the order of [`ErrorKind::ALL`].
    pub fn kinds(&self) -> impl Iterator<Item = (ErrorKind, u64)> + '_ {
        ErrorKind::ALL
            .iter()
            .filter_map(|k| self.by_kind.get(k).map(|n| (*k, *n)))
    }

    /// The latency, in microseconds, of every request that ran to an end.
    pub fn latency(&self) -> &Histogram<u64> {
        &self.latency
    }

    /// Records with this error kind.
    pub fn count(&self, kind: ErrorKind) -> u64 {
        self.by_kind.get(&kind).copied().unwrap_or(0)
    }

    /// Requests that ran to an end (a response or an error, not cancelled).
    pub fn completed_requests(&self) -> u64 {
        self.latency.len()
    }

    /// The summary text, several lines, for a run that took `wall`; `note` says why the run
    /// stopped, if it stopped early.
    pub fn render(&self, wall: Duration, note: Option<&str>) -> String {
        let mut s = String::new();
        let cancelled = match self.count(ErrorKind::Cancelled) {
            0 => String::new(),
            n => format!(", {n} cancelled"),
        };
        let secs = wall.as_secs_f64();
        let rate = if secs > 0.0 {
            self.completed_requests() as f64 / secs
        } else {
            0.0
        };
        let _ = writeln!(
            s,
            "corral: {} inputs in {}: {} ok, {} failed{cancelled}; {:.1} requests/s, {} received",
            self.total,
            human(wall),
            self.ok,
            self.failed(),
            rate,
            crate::output::bytes(self.bytes)
        );
        if !self.by_status.is_empty() {
            let parts: Vec<String> = self
                .by_status
                .iter()
                .map(|(s, n)| format!("{s} ×{n}"))
                .collect();
            let _ = writeln!(s, "  status:  {}", parts.join("  "));
        }
        if !self.by_kind.is_empty() {
            let parts: Vec<String> = ErrorKind::ALL
                .iter()
                .filter_map(|k| self.by_kind.get(k).map(|n| format!("{k} ×{n}")))
                .collect();
            let _ = writeln!(s, "  errors:  {}", parts.join("  "));
        }
        if !self.latency.is_empty() {
            let q = |p: f64| human(Duration::from_micros(self.latency.value_at_quantile(p)));
            let _ = writeln!(
                s,
                "  latency: p50 {}  p90 {}  p99 {}  max {}",
                q(0.50),
                q(0.90),
                q(0.99),
                human(Duration::from_micros(self.latency.max()))
            );
        }
        if self.retried > 0 {
            let _ = writeln!(
                s,
                "  attempts: {} requests for {} inputs; {} inputs took more than one",
                self.attempts, self.total, self.retried
            );
        }
        if let Some(note) = note {
            let _ = writeln!(s, "  stopped: {note}");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ok: bool, status: Option<u16>, kind: Option<ErrorKind>, ms: u64) -> Record {
        Record {
            index: 0,
            url: "http://a/".into(),
            ok,
            status,
            error_kind: kind,
            error: kind.map(|k| k.to_string()),
            elapsed_ms: Duration::from_millis(ms),
            bytes: 1000,
            attempts: u32::from(kind != Some(ErrorKind::InvalidInput)),
            line: 1,
            ..Record::default()
        }
    }

    #[test]
    fn counts_by_status_and_kind_and_percentiles() {
        let mut s = Summary::new();
        for ms in 1..=100 {
            s.add(&rec(true, Some(200), None, ms));
        }
        s.add(&rec(false, Some(500), Some(ErrorKind::Status), 5));
        s.add(&rec(false, None, Some(ErrorKind::Cancelled), 999_999));
        s.add(&rec(false, None, Some(ErrorKind::InvalidInput), 0));
        assert_eq!((s.total, s.ok), (103, 100));
        assert_eq!(s.count(ErrorKind::Cancelled), 1);
        assert_eq!(
            s.completed_requests(),
            101,
            "cancelled and invalid have no latency"
        );
        let text = s.render(Duration::from_secs(2), Some("deadline"));
        assert!(
            text.contains(
                "103 inputs in 2.00s: 100 ok, 2 failed, 1 cancelled; 50.5 requests/s, \
                 100.6KiB received"
            ),
            "{text}"
        );
        assert!(text.contains("200 ×100  500 ×1"), "{text}");
        assert!(
            text.contains("invalid_input ×1  status ×1  cancelled ×1"),
            "{text}"
        );
        assert!(
            text.contains("p50 50ms") && text.contains("max 100ms"),
            "{text}"
        );
        assert!(text.contains("stopped: deadline"), "{text}");
    }

    #[test]
    fn retried_inputs_get_a_line_of_their_own() {
        let mut s = Summary::new();
        s.add(&rec(true, Some(200), None, 5));
        assert!(!s.render(Duration::from_secs(1), None).contains("attempts:"));
        let mut r = rec(true, Some(200), None, 5);
        r.attempts = 3;
        s.add(&r);
        let mut other = Summary::new();
        other.add(&r);
        s.merge(&other);
        let text = s.render(Duration::from_secs(1), None);
        assert!(
            text.contains("attempts: 7 requests for 3 inputs; 2 inputs took more than one"),
            "{text}"
        );
    }

    #[test]
    fn an_empty_run_renders_without_percentiles() {
        let text = Summary::new().render(Duration::ZERO, None);
        assert!(text.starts_with("corral: 0 inputs"), "{text}");
        assert!(
            !text.contains("cancelled"),
            "no cancelled count when none: {text}"
        );
        assert!(!text.contains("latency"));
    }
}
