//! The HTTP client: one shared reqwest client (one connection pool), one request per input,
//! and the classification of what went wrong into the record's `error_kind`.
//!
//! A request's future outputs `Ok(record)` when the response's status is in `--ok-status` and
//! `Err(record)` otherwise, so the library's combinators see exactly the successes and
//! failures the user asked for. The strategies that run these futures live in `run.rs`.

use std::error::Error as _;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use crate::input::Input;
use crate::record::{ErrorKind, Record};

/// Which statuses count as success: `2xx,304`, `200-299`, `404`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OkStatus {
    ranges: Vec<(u16, u16)>,
    text: String,
}

impl OkStatus {
    /// Parses a comma-separated list of classes (`2xx`), ranges (`200-204`) and codes (`304`).
    ///
    /// # Errors
    ///
    /// A message naming the part that is not a status, a class or a range.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut ranges = Vec::new();
        for part in text.split(',').map(str::trim) {
            let bad = || {
                format!("`{part}` is not a status (`304`), a class (`2xx`) or a range (`200-299`)")
            };
            let code = |s: &str| -> Result<u16, String> {
                s.trim()
                    .parse::<u16>()
                    .ok()
                    .filter(|c| (100..=999).contains(c))
                    .ok_or_else(bad)
            };
            let range = if let Some(class) = part.strip_suffix("xx").or(part.strip_suffix("XX")) {
                match class.parse::<u16>() {
                    Ok(d) if (1..=9).contains(&d) && class.len() == 1 => (d * 100, d * 100 + 99),
                    _ => return Err(bad()),
                }
            } else if let Some((lo, hi)) = part.split_once('-') {
                let (lo, hi) = (code(lo)?, code(hi)?);
                if lo > hi {
                    return Err(bad());
                }
                (lo, hi)
            } else {
                let c = code(part)?;
                (c, c)
            };
            ranges.push(range);
        }
        Ok(OkStatus {
            ranges,
            text: text.trim().to_owned(),
        })
    }

    /// True if `status` counts as success.
    pub fn contains(&self, status: u16) -> bool {
        self.ranges
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&status))
    }
}

impl Default for OkStatus {
    fn default() -> Self {
        OkStatus {
            ranges: vec![(200, 299)],
            text: "2xx".to_owned(),
        }
    }
}

impl std::fmt::Display for OkStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Client settings taken from the flags.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Per-request limit, from the start of the request to the end of its body.
    pub timeout: Option<Duration>,
    /// Limit on establishing the connection (TCP and TLS).
    pub connect_timeout: Option<Duration>,
    /// Idle connections kept per host: the concurrency, so that every slot can reuse one.
    pub pool_per_host: usize,
    /// Which statuses are a success.
    pub ok_status: OkStatus,
    /// Where to save each body, as a file named by the input's index.
    pub save: Option<PathBuf>,
    /// Save the bodies of failed responses too (`--save-errors`), as far as they arrived.
    pub save_errors: bool,
    /// Read at most this many body bytes (`--max-body`); a longer body is cut there and the
    /// request fails with `body`.
    pub max_body: Option<u64>,
    /// What each request sends, redirects, proxy, TLS checks, HTTP versions (`-H`, `-X`, ...).
    pub request: crate::request::Request,
}

/// What has arrived of a request so far, shared with the run: when the request is cancelled
/// while running, its future is dropped with the record it was filling in, and the run makes
/// the cancelled record from this instead.
#[derive(Debug, Default)]
pub struct Partial {
    status: AtomicU16,
    bytes: AtomicU64,
    redirects: AtomicU32,
    final_url: Mutex<Option<String>>,
    attempts: AtomicU32,
}

impl Partial {
    /// The status, if the response's head had arrived.
    pub fn status(&self) -> Option<u16> {
        Some(self.status.load(Ordering::Relaxed)).filter(|&s| s != 0)
    }

    /// Body bytes received.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Redirects followed, once the response's head had arrived.
    pub fn redirects(&self) -> u32 {
        self.redirects.load(Ordering::Relaxed)
    }

    /// The URL that answered, once the response's head had arrived.
    pub fn final_url(&self) -> Option<String> {
        self.final_url
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Requests started for this input so far (retries and hedged backups count).
    pub fn attempts(&self) -> u32 {
        self.attempts.load(Ordering::Relaxed)
    }

    /// A request is starting: what arrived for an earlier one is forgotten. Returns the
    /// number of requests started so far, this one included.
    fn start_attempt(&self) -> u32 {
        self.status.store(0, Ordering::Relaxed);
        self.bytes.store(0, Ordering::Relaxed);
        self.redirects.store(0, Ordering::Relaxed);
        *self
            .final_url
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
        self.attempts.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// A body being saved to `DIR/INDEX`. The file is created anew (`create_new`, which also
/// refuses to follow a symbolic link planted at that name), and removed again when the request
/// does not succeed, whether it fails or its future is dropped, unless `--save-errors` asks to
/// keep it.
struct Saved {
    file: tokio::fs::File,
    path: PathBuf,
    keep: bool,
}

impl Saved {
    async fn create(dir: &Path, index: u64, keep: bool) -> Result<Self, (ErrorKind, String)> {
        let path = dir.join(index.to_string());
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .map_err(|e| {
                let why = if e.kind() == std::io::ErrorKind::AlreadyExists {
                    "it already exists (--save writes only new files, and follows no link; \
                     remove it or save into an empty directory)"
                        .to_owned()
                } else {
                    e.to_string()
                };
                (
                    ErrorKind::Body,
                    format!("cannot save the body to {}: {why}", path.display()),
                )
            })?;
        Ok(Saved { file, path, keep })
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), (ErrorKind, String)> {
        self.file
            .write_all(bytes)
            .await
            .map_err(|e| (ErrorKind::Body, format!("cannot save the body: {e}")))
    }

    /// The body is complete: flush it and keep the file.
    async fn finish(mut self) -> Result<(), (ErrorKind, String)> {
        let flushed = self.file.flush().await;
        self.keep = true;
        flushed.map_err(|e| (ErrorKind::Body, format!("cannot save the body: {e}")))
    }
}

impl Drop for Saved {
    fn drop(&mut self) {
        if !self.keep {
            // A failed or cancelled request's body is not kept unless --save-errors asked.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The result of one request: `Ok(record)` for a success, `Err(record)` for any failure.
pub type Fetched = Result<Record, Box<Record>>;

/// Makes requests. Cheap to clone; clones share the connection pool.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    settings: Arc<Settings>,
}

impl Fetcher {
    /// Builds the shared client.
    ///
    /// # Errors
    ///
    /// reqwest could not build a client (for example, no TLS roots).
    pub fn new(settings: Settings) -> Result<Self, String> {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .pool_max_idle_per_host(settings.pool_per_host.max(1));
        builder = settings.request.configure(builder)?;
        if let Some(t) = settings.timeout {
            builder = builder.timeout(t);
        }
        if let Some(t) = settings.connect_timeout {
            builder = builder.connect_timeout(t);
        }
        let client = builder
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {}", chain(&e)))?;
        Ok(Fetcher {
            client,
            settings: Arc::new(settings),
        })
    }

    /// The future that fetches one input and outputs its record. A bad input fails at once
    /// with `invalid_input`, without a request. What has arrived is also kept in `partial`, for
    /// the record of a request cancelled while running.
    pub fn fetch(
        &self,
        input: Input,
        partial: Arc<Partial>,
    ) -> impl Future<Output = Fetched> + Send + 'static + use<> {
        let this = self.clone();
        async move {
            let url = match input.url {
                Ok(url) => url,
                Err(why) => {
                    return Err(Box::new(Record::failed(
                        input.index,
                        input.line,
                        input.text,
                        ErrorKind::InvalidInput,
                        why,
                    )))
                }
            };
            let mut record = Record {
                index: input.index,
                url: input.text,
                attempts: partial.start_attempt(),
                line: input.line,
                ..Record::default()
            };
            let start = Instant::now();
            let result = this.request(url, input.index, &mut record, &partial).await;
            record.elapsed_ms = start.elapsed();
            record.ended_at = crate::record::now();
            match result {
                Ok(()) => {
                    record.ok = true;
                    Ok(record)
                }
                Err((kind, message)) => {
                    record.error_kind = Some(kind);
                    record.error = Some(message);
                    Err(Box::new(record))
                }
            }
        }
    }

    async fn request(
        &self,
        url: url::Url,
        index: u64,
        record: &mut Record,
        partial: &Partial,
    ) -> Result<(), (ErrorKind, String)> {
        let (sent, trail) = self.settings.request.send(&self.client, url).await;
        record.redirects = trail.redirects;
        record.final_url = trail.url.map(String::from);
        record.status = trail.refused_status;
        let mut response = sent.map_err(|e| self.describe(&e))?;
        let status = response.status().as_u16();
        record.status = Some(status);
        record.final_url = Some(response.url().to_string());
        partial.redirects.store(record.redirects, Ordering::Relaxed);
        *partial
            .final_url
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(response.url().to_string());
        record.retry_after = crate::policy::retry_after(response.headers());
        partial.status.store(status, Ordering::Relaxed);
        if let Some(why) = self.settings.request.unfollowed(&response) {
            return Err((ErrorKind::Redirect, why));
        }
        let status_ok = self.settings.ok_status.contains(status);
        let mut saved = match &self.settings.save {
            Some(dir) if status_ok || self.settings.save_errors => {
                Some(Saved::create(dir, index, self.settings.save_errors).await?)
            }
            _ => None,
        };
        let max = self.settings.max_body.unwrap_or(u64::MAX);
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = max - record.bytes;
                    let cut = chunk.len() as u64 > room;
                    let chunk = if cut {
                        chunk.slice(..room as usize)
                    } else {
                        chunk
                    };
                    record.bytes += chunk.len() as u64;
                    partial.bytes.store(record.bytes, Ordering::Relaxed);
                    if let Some(f) = &mut saved {
                        f.write(&chunk).await?;
                    }
                    if cut {
                        if let Some(f) = saved.take().filter(|f| f.keep) {
                            f.finish().await?;
                        }
                        return Err((
                            ErrorKind::Body,
                            format!("the body is longer than --max-body {max}: cut there"),
                        ));
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let (kind, message) = self.describe(&e);
                    let kind = if kind == ErrorKind::Timeout {
                        kind
                    } else {
                        ErrorKind::Body
                    };
                    if let Some(f) = saved.take().filter(|f| f.keep) {
                        f.finish().await?;
                    }
                    return Err((
                        kind,
                        format!("body cut short after {} bytes: {message}", record.bytes),
                    ));
                }
            }
        }
        if let Some(f) = saved {
            f.finish().await?;
        }
        if status_ok {
            Ok(())
        } else {
            Err((
                ErrorKind::Status,
                format!(
                    "status {status} is not in --ok-status {}",
                    self.settings.ok_status
                ),
            ))
        }
    }

    fn describe(&self, e: &reqwest::Error) -> (ErrorKind, String) {
        let kind = classify(e);
        let message = match (kind, self.settings.timeout) {
            (ErrorKind::Timeout, Some(t)) => {
                format!(
                    "no complete response within --timeout {}",
                    crate::duration::human(t)
                )
            }
            _ => chain(e),
        };
        (kind, message)
    }
}

/// Sorts a reqwest error into an `error_kind`.
///
/// reqwest exposes timeout, connect, body and builder errors directly; DNS and TLS failures
/// are connect errors whose cause says which (hyper-util names DNS failures "dns error";
/// rustls errors name certificates, handshakes or TLS), so the cause chain is searched.
pub fn classify(e: &reqwest::Error) -> ErrorKind {
    if e.is_redirect() {
        return ErrorKind::Redirect;
    }
    let text = chain(e).to_ascii_lowercase();
    if e.is_connect() {
        if text.contains("dns error") || text.contains("failed to lookup address") {
            return ErrorKind::Dns;
        }
        if [
            "tls",
            "certificate",
            "handshake",
            "rustls",
            "corrupt message",
        ]
        .iter()
        .any(|w| text.contains(w))
        {
            return ErrorKind::Tls;
        }
        return ErrorKind::Connect;
    }
    if e.is_timeout() {
        return ErrorKind::Timeout;
    }
    if e.is_body() || e.is_decode() {
        return ErrorKind::Body;
    }
    if e.is_builder() {
        return ErrorKind::InvalidInput;
    }
    ErrorKind::Protocol
}

/// The error's causes joined with `: `, without reqwest's own "error sending request for url"
/// (the record already has the URL).
pub fn chain(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        // hyper-util's "client error (Connect)" only names the layer; its cause says more.
        let layer_only = text.starts_with("client error (");
        if !layer_only && !parts.last().is_some_and(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    if parts.is_empty() {
        let mut top = e.to_string();
        if let Some(url) = e.url() {
            top = top.replace(&format!(" ({url})"), "");
        }
        parts.push(top);
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_status_accepts_classes_ranges_and_codes() {
        let s = OkStatus::parse("2xx,304, 400-404").unwrap();
        for c in [200, 204, 299, 304, 400, 404] {
            assert!(s.contains(c), "{c}");
        }
        for c in [100, 300, 305, 405, 500] {
            assert!(!s.contains(c), "{c}");
        }
        assert!(OkStatus::default().contains(200));
        assert!(!OkStatus::default().contains(304));
    }

    #[test]
    fn ok_status_refuses_what_is_not_a_status() {
        for bad in [
            "", "2x", "xx", "20xx", "abc", "404-400", "1000", "99", "2xx,", "200-",
        ] {
            let e = OkStatus::parse(bad).unwrap_err();
            assert!(e.contains("is not a status"), "{bad}: {e}");
        }
    }

    /// A resolver that knows no name, so a DNS failure can be produced offline.
    struct NoNames;

    impl reqwest::dns::Resolve for NoNames {
        fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
            let host = name.as_str().to_string();
            Box::pin(async move {
                Err(Box::new(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{host}: no such host"),
                ))
                    as Box<dyn std::error::Error + Send + Sync>)
            })
        }
    }

    #[tokio::test]
    async fn a_name_that_does_not_resolve_is_a_dns_error() {
        let client = reqwest::Client::builder()
            .dns_resolver(std::sync::Arc::new(NoNames))
            .build()
            .unwrap();
        let e = client
            .get("http://corral-test.invalid/get")
            .send()
            .await
            .unwrap_err();
        assert_eq!(classify(&e), ErrorKind::Dns, "{}", chain(&e));
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error_not_dns() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener); // nothing listens there now
        let e = reqwest::Client::new()
            .get(format!("http://{addr}/get"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(classify(&e), ErrorKind::Connect, "{}", chain(&e));
    }
}
