//! One record per input: what happened to it. Shared by the fetcher, the printers and the
//! summary.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// Why a request did not succeed. The names are the `error_kind` values of the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
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
    /// Stopped before it finished: the strategy was decided, the deadline expired, or Ctrl-C.
    Cancelled,
}

impl ErrorKind {
    /// Every kind, in the order the summary lists them.
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::InvalidInput,
        ErrorKind::Dns,
        ErrorKind::Connect,
        ErrorKind::Tls,
        ErrorKind::Timeout,
        ErrorKind::Protocol,
        ErrorKind::Body,
        ErrorKind::Status,
        ErrorKind::Cancelled,
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
            ErrorKind::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result for one input. Field names and meanings are the output's.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    #[serde(serialize_with = "millis")]
    pub elapsed_ms: Duration,
    /// Body bytes received.
    pub bytes: u64,
    /// Requests made for this input (0 if it never started).
    pub attempts: u32,
    /// Where the input came from: the line number in the input file (1-based), or the
    /// argument's position among the URL arguments (1-based).
    pub line: u64,
}

impl Record {
    /// A record for an input that failed with `kind` before or without a response.
    pub fn failed(index: u64, line: u64, url: String, kind: ErrorKind, error: String) -> Self {
        Record {
            index,
            url,
            ok: false,
            status: None,
            error_kind: Some(kind),
            error: Some(error),
            elapsed_ms: Duration::ZERO,
            bytes: 0,
            attempts: 0,
            line,
        }
    }
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(elapsed_ms(*d))
}

/// Milliseconds with three decimals, as written in records: loopback requests take well under
/// a millisecond, so whole milliseconds would say nothing.
pub fn elapsed_ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}
