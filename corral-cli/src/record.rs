//! One record per input: what happened to it. Shared by the fetcher, the printers and the
//! summary.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Why a request did not succeed. The names are the `error_kind` values of the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The input line is not a URL, or its scheme is not http or https.
    InvalidInput,
    /// The host name did not resolve.
    Dns,
    /// The TCP connection could not be made (refused, unreachable, connect timeout).
    Connect,
    /// The TLS handshake failed.
    Tls,
    /// The request took longer than `--timeout`.
    Timeout,
    /// The peer broke HTTP: closed without a response, or answered with something else.
    Protocol,
    /// The response started but its body failed (cut short, unreadable, or not savable).
    Body,
    /// A well-formed response whose status is not in `--ok-status`.
    Status,
    /// A redirect that was not followed: past `--max-redirects`, or to a scheme other than
    /// http and https.
    Redirect,
    /// Stopped before it finished: the strategy was decided, the deadline expired, or Ctrl-C.
    Cancelled,
    /// Not sent: `--circuit-breaker` had opened the host's circuit, so the request failed fast.
    CircuitOpen,
}

impl ErrorKind {
    /// Every kind, in the order the summary lists them.
    pub const ALL: [ErrorKind; 11] = [
        ErrorKind::InvalidInput,
        ErrorKind::Dns,
        ErrorKind::Connect,
        ErrorKind::Tls,
        ErrorKind::Timeout,
        ErrorKind::Protocol,
        ErrorKind::Body,
        ErrorKind::Status,
        ErrorKind::Redirect,
        ErrorKind::Cancelled,
        ErrorKind::CircuitOpen,
    ];

    /// The name used in records: `invalid_input`, `dns`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::Dns => "dns",
            ErrorKind::Connect => "connect",
            ErrorKind::Tls => "tls",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Body => "body",
            ErrorKind::Status => "status",
            ErrorKind::Redirect => "redirect",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::CircuitOpen => "circuit_open",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result for one input. Field names and meanings are the output's; `corral report` and
/// `--resume` read them back.
/// `Default` is an empty record (index 0, no URL, not ok, nothing received): literals name the
/// fields they set and take the rest from it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// 0-based position among the inputs (bad lines count; blank and comment lines do not).
    pub index: u64,
    /// The input as given (for a bad line, the line's text).
    pub url: String,
    /// True when the request got a response whose status is in `--ok-status`.
    pub ok: bool,
    /// The HTTP status, if a response arrived.
    pub status: Option<u16>,
    /// Why it failed, or `None` when `ok`.
    pub error_kind: Option<ErrorKind>,
    /// A message for people, or `None` when `ok`.
    pub error: Option<String>,
    /// Time from the start of the request to its end (0 if it never started).
    #[serde(serialize_with = "millis", deserialize_with = "from_millis")]
    pub elapsed_ms: Duration,
    /// Body bytes received.
    pub bytes: u64,
    /// Requests made for this input: retries and hedged backups count (0 if none was sent).
    pub attempts: u32,
    /// Where the input came from: the line number in the input file (1-based), or the
    /// argument's position among the URL arguments (1-based).
    pub line: u64,
    /// When the record became final: Unix time in seconds, to the millisecond. `corral report`
    /// takes the time span of a run from it (the files of older versions lack it: 0).
    #[serde(serialize_with = "unix_millis", default)]
    pub ended_at: f64,
    /// The URL of the last request made for this input: the input's (as the HTTP client
    /// normalised it), or where its redirects led. `None` if no request was made (the files
    /// of older versions lack it).
    #[serde(default)]
    pub final_url: Option<String>,
    /// Redirects followed (the files of older versions lack it: 0).
    #[serde(default)]
    pub redirects: u32,
    /// The delay the last response asked for in its `Retry-After` header, in seconds (an HTTP
    /// date counts from when the response arrived), or `None`.
    #[serde(default)]
    pub retry_after: Option<f64>,
    /// With `--retries` or `--hedge`: the failures of the other requests made for this input,
    /// first to last, one line each (`status 503`, `connect: ...`).
    #[serde(default)]
    pub attempt_errors: Vec<String>,
    /// The input row's other fields, unchanged (`--input-format csv|jsonl`); absent for plain
    /// lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Box<crate::rows::Fields>>,
}

impl Record {
    /// Whether this record is what the input's run came to, for `--journal` and `--resume`:
    /// every record but a `cancelled` one (`cancelled while running`, `not started`), whose
    /// input was stopped from outside and may end differently when run again.
    pub fn is_final(&self) -> bool {
        self.error_kind != Some(ErrorKind::Cancelled)
    }

    /// A record for an input that failed with `kind` before or without a response.
    pub fn failed(index: u64, line: u64, url: String, kind: ErrorKind, error: String) -> Self {
        Record {
            index,
            url,
            error_kind: Some(kind),
            error: Some(error),
            line,
            ended_at: now(),
            ..Record::default()
        }
    }
}

/// The current Unix time in seconds, for [`Record::ended_at`].
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn unix_millis<S: serde::Serializer>(t: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((t * 1000.0).round() / 1000.0)
}

fn from_millis<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let ms = f64::deserialize(d)?;
    Duration::try_from_secs_f64(ms / 1000.0).map_err(serde::de::Error::custom)
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(elapsed_ms(*d))
}

/// Milliseconds with three decimals, as written in records: loopback requests take well under
/// a millisecond, so whole milliseconds would say nothing.
pub fn elapsed_ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_of_an_older_version_reads_back_with_the_new_fields_empty() {
        let old = r#"{"index":3,"url":"http://a/","ok":true,"status":200,"error_kind":null,"error":null,"elapsed_ms":1.5,"bytes":2,"attempts":1,"line":4,"ended_at":1700000000.0}"#;
        let r: Record = serde_json::from_str(old).unwrap();
        assert_eq!((r.index, r.final_url.as_deref(), r.redirects), (3, None, 0));
        let mut new = r.clone();
        new.final_url = Some("http://b/".into());
        new.redirects = 2;
        new.error_kind = Some(ErrorKind::Redirect);
        let text = serde_json::to_string(&new).unwrap();
        let back: Record = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (back.final_url.as_deref(), back.redirects, back.error_kind),
            (Some("http://b/"), 2, Some(ErrorKind::Redirect)),
            "{text}"
        );
    }
}
