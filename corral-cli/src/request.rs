//! Request shaping, as curl and oha spell it: what each request sends (`-H`, `-X`, `-d`,
//! `--json`, `-A`), how far redirects are followed (`--max-redirects`), and how the client
//! connects (`--proxy`, `--insecure`, `--http1.1`, `--http2`, `--http2-prior-knowledge`).
//!
//! Every flag is checked, and every `@FILE` read, once, while the command line is parsed and
//! before anything is fetched: a bad value exits 2 saying why. [`RequestArgs::resolve`] turns
//! the flags into a [`Request`], which the fetcher applies to its client
//! ([`Request::configure`]) and to each request ([`Request::send`]).
//!
//! Redirects are followed by reqwest, under a policy of ours that counts them and refuses a
//! scheme corral does not fetch. reqwest's policy sees the chain but not which request it
//! belongs to, so the count reaches the record through a task-local [`Trail`], set around
//! each `send`: the policy runs inside that future's poll, on the task that awaits it.

use std::cell::RefCell;
use std::fmt;

use bytes::Bytes;
use clap::Args;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE, LOCATION};
use reqwest::{Method, StatusCode};
use url::Url;

/// The `User-Agent` sent without `-A`.
pub const DEFAULT_USER_AGENT: &str = concat!("corral/", env!("CARGO_PKG_VERSION"));

/// Redirects followed without `--max-redirects`.
pub const DEFAULT_MAX_REDIRECTS: u32 = 10;

/// The request flags of `corral fetch`.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Request")]
pub struct RequestArgs {
    /// Send this header with every request, as `Name: value`; repeatable (a name given twice
    /// is sent twice). `Name;` sends it with an empty value. A header given here replaces the
    /// one -A, -d or --json would set.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE",
          value_parser = parse_header)]
    pub headers: Vec<HeaderLine>,

    /// The request method, as written (methods are case-sensitive): GET by default, POST
    /// with -d or --json. HEAD requests get no body: their records have bytes 0.
    #[arg(short = 'X', long = "method", value_name = "METHOD", value_parser = parse_method)]
    pub method: Option<Method>,

    /// Send TEXT, or the bytes of FILE (`@FILE`, read once at start, sent as they are), as the
    /// body of every request, with `Content-Type: application/x-www-form-urlencoded` unless
    /// -H sets one. Makes the method POST unless -X says otherwise. Repeated, the parts are
    /// joined with `&`.
    #[arg(short = 'd', long = "data", value_name = "TEXT|@FILE", value_parser = parse_body,
          conflicts_with = "json")]
    pub data: Vec<BodyArg>,

    /// Send this JSON (TEXT or `@FILE`, as for -d) as the body, with `Content-Type` and
    /// `Accept` set to `application/json` unless -H sets them. Makes the method POST unless
    /// -X says otherwise.
    #[arg(long = "json", value_name = "TEXT|@FILE", value_parser = parse_body)]
    pub json: Option<BodyArg>,

    /// The `User-Agent` header [default: corral/VERSION]; an empty TEXT sends none.
    #[arg(short = 'A', long = "user-agent", value_name = "TEXT",
          value_parser = parse_header_value)]
    pub user_agent: Option<HeaderValue>,

    /// Follow at most N redirects (301, 302, 303, 307, 308) per input, then fail with
    /// `redirect`; 0 follows none, and the 3xx is the response (it is ok only if --ok-status
    /// says so). A redirect to a scheme other than http and https fails with `redirect`.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_REDIRECTS)]
    pub max_redirects: u32,

    /// Send every request through this proxy: `http://HOST:PORT` (no scheme means http://)
    /// or `https://HOST:PORT`, with `USER:PASSWORD@` if it wants them. Hosts in $NO_PROXY
    /// still go direct. Without --proxy, $HTTP_PROXY, $HTTPS_PROXY and $ALL_PROXY are used;
    /// an empty URL (`--proxy ''`) turns every proxy off, the environment's too.
    #[arg(long, value_name = "URL", value_parser = parse_proxy)]
    pub proxy: Option<ProxyArg>,

    /// Accept any TLS certificate: expired, self-signed, for another name. For test servers
    /// only. (No short form: -k is --keep-order here, as in GNU parallel.)
    #[arg(long)]
    pub insecure: bool,

    /// Speak HTTP/1.1 only, also where TLS would offer HTTP/2.
    #[arg(long = "http1.1", conflicts_with_all = ["http2", "http2_prior_knowledge"])]
    pub http1_1: bool,

    /// Use HTTP/2 where the server agrees to it in the TLS handshake (ALPN), else HTTP/1.1:
    /// the default, as in curl. Plain http:// stays HTTP/1.1 (no h2c upgrade); see
    /// --http2-prior-knowledge.
    #[arg(long, conflicts_with = "http2_prior_knowledge")]
    pub http2: bool,

    /// Speak HTTP/2 at once, without negotiating: h2c over plain http://, and only h2 over
    /// TLS. A server that does not speak HTTP/2 fails with `protocol`.
    #[arg(long)]
    pub http2_prior_knowledge: bool,
}

/// One `-H` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderLine {
    /// Its name.
    pub name: HeaderName,
    /// Its value (may be empty: `Name;`).
    pub value: HeaderValue,
}

/// A `-d` or `--json` body: the text as given, and the bytes it stands for (the file's, for
/// `@FILE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyArg {
    /// The argument as given: the text, or `@FILE`.
    pub given: String,
    /// What is sent.
    pub bytes: Bytes,
}

/// A `--proxy` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyArg {
    /// `--proxy ''`: no proxy at all, not even the environment's.
    Off,
    /// Through this proxy.
    Via(Url),
}

impl fmt::Display for ProxyArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyArg::Off => f.write_str("off"),
            ProxyArg::Via(url) => {
                // A password is not for the journal's header.
                let mut shown = url.clone();
                if shown.password().is_some() {
                    let _ = shown.set_password(Some("***"));
                }
                f.write_str(shown.as_str())
            }
        }
    }
}

/// Parses `-H`: `Name: value`, or `Name;` for an empty value.
fn parse_header(text: &str) -> Result<HeaderLine, String> {
    let (name, value) = match text.split_once(':') {
        Some((name, value)) => {
            let value = value.trim_matches([' ', '\t']);
            if value.is_empty() {
                return Err(format!(
                    "`{text}` has no value: write `Name: value`, or `{};` to send it empty \
                     (curl's `Name:` removes a header; corral has none to remove)",
                    name.trim()
                ));
            }
            (name, value)
        }
        None => match text.strip_suffix(';') {
            Some(name) => (name, ""),
            None => return Err(format!("`{text}` is not `Name: value` (no colon)")),
        },
    };
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("`{name}` is not a header name (letters, digits, `-`; no spaces)"))?;
    let value = parse_header_value(value)?;
    Ok(HeaderLine { name, value })
}

/// Parses a header value: no line breaks or other control characters but tab.
fn parse_header_value(text: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(text).map_err(|_| {
        format!(
            "`{}` holds a line break or a control character",
            text.escape_debug()
        )
    })
}

/// Parses `-X`: an HTTP token (`GET`, `PUT`, `PURGE`, ...).
fn parse_method(text: &str) -> Result<Method, String> {
    Method::from_bytes(text.as_bytes()).map_err(|_| {
        format!("`{text}` is not a method (a word of letters, digits and !#$%&'*+-.^_`|~)")
    })
}

/// Parses `-d` and `--json`: TEXT, or `@FILE`, read here, once.
fn parse_body(text: &str) -> Result<BodyArg, String> {
    let bytes = match text.strip_prefix('@') {
        Some("-") => {
            return Err(
                "`@-` (stdin) is not read: stdin may carry the URLs; give @FILE \
                        (`@/dev/stdin` when the URLs come from arguments or -i FILE)"
                    .to_owned(),
            )
        }
        Some(path) => Bytes::from(
            std::fs::read(path).map_err(|e| format!("cannot read the body file {path}: {e}"))?,
        ),
        None => Bytes::copy_from_slice(text.as_bytes()),
    };
    Ok(BodyArg {
        given: text.to_owned(),
        bytes,
    })
}

/// Parses `--proxy`: an http or https URL with a host; no scheme means http://; empty means
/// no proxy.
fn parse_proxy(text: &str) -> Result<ProxyArg, String> {
    if text.is_empty() {
        return Ok(ProxyArg::Off);
    }
    let full = if text.contains("://") {
        text.to_owned()
    } else {
        format!("http://{text}")
    };
    let url = Url::parse(&full).map_err(|e| format!("`{text}` is not a proxy URL ({e})"))?;
    match url.scheme() {
        "http" | "https" if url.host_str().is_some_and(|h| !h.is_empty()) => {}
        "http" | "https" => return Err(format!("`{text}` names no proxy host")),
        s => {
            return Err(format!(
                "proxy scheme `{s}` is not supported: give an http:// or https:// proxy"
            ))
        }
    }
    // reqwest checks what else it needs (for example, that the URL is not a path).
    reqwest::Proxy::all(url.as_str())
        .map_err(|e| format!("`{text}` is not a proxy URL: {}", crate::fetch::chain(&e)))?;
    Ok(ProxyArg::Via(url))
}

/// Which HTTP versions the client speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HttpVersion {
    /// HTTP/2 where TLS negotiates it, else HTTP/1.1 (the default, and `--http2`).
    #[default]
    Negotiate,
    /// `--http1.1`.
    Http1Only,
    /// `--http2-prior-knowledge`.
    Http2PriorKnowledge,
}

/// What every request sends, and how the client connects: the request flags, checked.
#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    headers: HeaderMap,
    body: Option<Bytes>,
    user_agent: Option<HeaderValue>,
    max_redirects: u32,
    proxy: Option<ProxyArg>,
    insecure: bool,
    version: HttpVersion,
}

impl Default for Request {
    /// A GET with no body or extra headers, `corral/VERSION` as the user agent, up to 10
    /// redirects, the environment's proxies, verified certificates, HTTP/2 where TLS
    /// negotiates it.
    fn default() -> Self {
        Request {
            method: Method::GET,
            headers: HeaderMap::new(),
            body: None,
            user_agent: Some(HeaderValue::from_static(DEFAULT_USER_AGENT)),
            max_redirects: DEFAULT_MAX_REDIRECTS,
            proxy: None,
            insecure: false,
            version: HttpVersion::Negotiate,
        }
    }
}

impl RequestArgs {
    /// The checked request: the method (POST for a body without -X), the headers (-H over
    /// the content type a body implies), the body.
    ///
    /// # Errors
    ///
    /// A combination the flags' own parsers cannot see: a body with `-X HEAD`.
    pub fn resolve(&self) -> Result<Request, String> {
        let mut headers = HeaderMap::new();
        for h in &self.headers {
            headers.append(h.name.clone(), h.value.clone());
        }
        let body = if let Some(json) = &self.json {
            let json_type = HeaderValue::from_static("application/json");
            headers.entry(CONTENT_TYPE).or_insert(json_type.clone());
            headers.entry(ACCEPT).or_insert(json_type);
            Some(json.bytes.clone())
        } else if self.data.is_empty() {
            None
        } else {
            headers
                .entry(CONTENT_TYPE)
                .or_insert(HeaderValue::from_static(
                    "application/x-www-form-urlencoded",
                ));
            let parts: Vec<&[u8]> = self.data.iter().map(|d| d.bytes.as_ref()).collect();
            Some(Bytes::from(parts.join(&b'&')))
        };
        let method = match (&self.method, &body) {
            (Some(m), Some(_)) if *m == Method::HEAD => {
                return Err(
                    "-X HEAD sends no body: drop -d/--json, or use another method".to_owned(),
                )
            }
            (Some(m), _) => m.clone(),
            (None, Some(_)) => Method::POST,
            (None, None) => Method::GET,
        };
        Ok(Request {
            method,
            headers,
            body,
            user_agent: match &self.user_agent {
                None => Some(HeaderValue::from_static(DEFAULT_USER_AGENT)),
                Some(ua) if ua.is_empty() => None,
                Some(ua) => Some(ua.clone()),
            },
            max_redirects: self.max_redirects,
            proxy: self.proxy.clone(),
            insecure: self.insecure,
            version: if self.http1_1 {
                HttpVersion::Http1Only
            } else if self.http2_prior_knowledge {
                HttpVersion::Http2PriorKnowledge
            } else {
                HttpVersion::Negotiate
            },
        })
    }

    /// The flags here that change what a record says, for the journal's header: only those
    /// that differ from the defaults, so that a journal written before these flags existed
    /// (or without them) resumes with the defaults. Bodies are named by their size and
    /// FNV-1a hash, so a changed `@FILE` is noticed.
    pub fn result_flags(&self) -> Vec<(&'static str, String)> {
        let body = |b: &Bytes| {
            format!(
                "{} bytes, FNV-1a {:016x}",
                b.len(),
                crate::stable_hash::fnv1a64(b)
            )
        };
        let mut flags = Vec::new();
        if !self.headers.is_empty() {
            let all: Vec<String> = self
                .headers
                .iter()
                .map(|h| {
                    format!(
                        "{}: {}",
                        h.name,
                        String::from_utf8_lossy(h.value.as_bytes())
                    )
                })
                .collect();
            flags.push(("header", all.join("\n")));
        }
        if let Some(m) = &self.method {
            flags.push(("method", m.to_string()));
        }
        if !self.data.is_empty() {
            let all: Vec<String> = self.data.iter().map(|d| body(&d.bytes)).collect();
            flags.push(("data", all.join(" & ")));
        }
        if let Some(j) = &self.json {
            flags.push(("json", body(&j.bytes)));
        }
        if let Some(ua) = &self.user_agent {
            flags.push(("user-agent", String::from_utf8_lossy(ua.as_bytes()).into()));
        }
        if self.max_redirects != DEFAULT_MAX_REDIRECTS {
            flags.push(("max-redirects", self.max_redirects.to_string()));
        }
        if let Some(p) = &self.proxy {
            flags.push(("proxy", p.to_string()));
        }
        if self.insecure {
            flags.push(("insecure", "true".to_owned()));
        }
        if self.http1_1 {
            flags.push(("http1.1", "true".to_owned()));
        }
        if self.http2_prior_knowledge {
            flags.push(("http2-prior-knowledge", "true".to_owned()));
        }
        flags
    }
}

/// Where a request went: the redirects it followed and the URL of the last request made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trail {
    /// Redirects followed.
    pub redirects: u32,
    /// The URL of the last request made: the input's, or where the redirects led.
    pub url: Option<Url>,
    /// The status of a redirect the policy refused to follow (its response arrived, but the
    /// request fails with `redirect`).
    pub refused_status: Option<u16>,
}

tokio::task_local! {
    /// The trail of the request being sent on this task, kept by the redirect policy.
    static TRAIL: RefCell<Trail>;
}

/// Why a redirect was not followed.
#[derive(Debug)]
struct RedirectRefused(String);

impl fmt::Display for RedirectRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RedirectRefused {}

/// The redirect policy: stop at once with `max` 0, fail past `max` redirects or on a scheme
/// other than http and https, else follow, and note it in the task's [`Trail`].
fn redirect_policy(max: u32) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        if max == 0 {
            return attempt.stop();
        }
        // `previous` holds every URL requested so far, the input's first: this would be
        // redirect number `previous.len()`.
        let number = u32::try_from(attempt.previous().len()).unwrap_or(u32::MAX);
        let scheme = attempt.url().scheme();
        let refused = if number > max {
            Some(format!(
                "stopped after --max-redirects {max}: the next redirect was to {}",
                attempt.url()
            ))
        } else if scheme != "http" && scheme != "https" {
            Some(format!(
                "redirected to {}: scheme `{scheme}` is not fetched (http and https only)",
                attempt.url()
            ))
        } else {
            None
        };
        if let Some(why) = refused {
            let status = attempt.status().as_u16();
            let _ = TRAIL.try_with(|t| t.borrow_mut().refused_status = Some(status));
            return attempt.error(RedirectRefused(why));
        }
        let next = attempt.url().clone();
        let _ = TRAIL.try_with(|t| {
            let mut t = t.borrow_mut();
            t.redirects = number;
            t.url = Some(next);
        });
        attempt.follow()
    })
}

impl Request {
    /// The method every request uses.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// Sets up the shared client: the user agent, the redirect policy, the proxy, the
    /// certificate checks and the HTTP versions.
    ///
    /// # Errors
    ///
    /// reqwest refuses the proxy.
    pub fn configure(
        &self,
        mut builder: reqwest::ClientBuilder,
    ) -> Result<reqwest::ClientBuilder, String> {
        if let Some(ua) = &self.user_agent {
            builder = builder.user_agent(ua.clone());
        }
        builder = builder.redirect(redirect_policy(self.max_redirects));
        match &self.proxy {
            None => {}
            Some(ProxyArg::Off) => builder = builder.no_proxy(),
            Some(ProxyArg::Via(url)) => {
                let proxy = reqwest::Proxy::all(url.as_str())
                    .map_err(|e| format!("--proxy {url}: {}", crate::fetch::chain(&e)))?
                    // As curl: $NO_PROXY applies to --proxy too.
                    .no_proxy(reqwest::NoProxy::from_env());
                builder = builder.proxy(proxy);
            }
        }
        if self.insecure {
            builder = builder.danger_accept_invalid_certs(true);
        }
        builder = match self.version {
            HttpVersion::Negotiate => builder,
            HttpVersion::Http1Only => builder.http1_only(),
            HttpVersion::Http2PriorKnowledge => builder.http2_prior_knowledge(),
        };
        Ok(builder)
    }

    /// Sends one request to `url` on `client` (built with [`Request::configure`]), following
    /// redirects, and says where it went. The trail holds the redirects followed even when
    /// sending fails.
    pub async fn send(
        &self,
        client: &reqwest::Client,
        url: Url,
    ) -> (Result<reqwest::Response, reqwest::Error>, Trail) {
        let mut builder = client.request(self.method.clone(), url.clone());
        if !self.headers.is_empty() {
            builder = builder.headers(self.headers.clone());
        }
        if let Some(body) = &self.body {
            builder = builder.body(body.clone());
        }
        let trail = RefCell::new(Trail {
            redirects: 0,
            url: Some(url),
            refused_status: None,
        });
        TRAIL
            .scope(trail, async move {
                let sent = builder.send().await;
                (sent, TRAIL.with(|t| t.take()))
            })
            .await
    }

    /// Why `response` is a redirect that should have been followed and was not: reqwest
    /// hands back a redirect whose `Location` it cannot resolve to an http(s) URL (`mailto:`,
    /// `file:`, bytes that are not text) as the response. `None` for any other response, and
    /// with `--max-redirects 0`, where a redirect is the answer.
    pub fn unfollowed(&self, response: &reqwest::Response) -> Option<String> {
        let redirect = matches!(
            response.status(),
            StatusCode::MOVED_PERMANENTLY
                | StatusCode::FOUND
                | StatusCode::SEE_OTHER
                | StatusCode::TEMPORARY_REDIRECT
                | StatusCode::PERMANENT_REDIRECT
        );
        if !redirect || self.max_redirects == 0 {
            return None;
        }
        let location = response.headers().get(LOCATION)?;
        Some(format!(
            "redirected to {}: not an http or https URL, so not followed",
            String::from_utf8_lossy(location.as_bytes())
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<RequestArgs, clap::Error> {
        let all = [&["corral", "fetch"], args, &["http://a/"]].concat();
        Cli::try_parse_from(all).map(|cli| match cli.command {
            Command::Fetch(f) => f.request,
            _ => unreachable!(),
        })
    }

    #[test]
    fn headers_are_name_colon_value_or_name_semicolon() {
        let h = parse_header("X-Trace:  abc def ").unwrap();
        assert_eq!(
            (h.name.as_str(), h.value.to_str().unwrap()),
            ("x-trace", "abc def")
        );
        let h = parse_header("X-Empty;").unwrap();
        assert_eq!((h.name.as_str(), h.value.is_empty()), ("x-empty", true));
        // A colon in the value stays in the value.
        let h = parse_header("Host: example.org:8080").unwrap();
        assert_eq!(h.value.to_str().unwrap(), "example.org:8080");
        for (bad, says) in [
            ("NoColon", "no colon"),
            ("X-Gone:", "has no value"),
            ("X-Gone:   ", "has no value"),
            ("Bad Name: x", "not a header name"),
            (": x", "not a header name"),
            ("X: a\r\nInjected: b", "line break"),
        ] {
            let e = parse_header(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn methods_are_tokens_kept_as_written() {
        assert_eq!(parse_method("PURGE").unwrap().as_str(), "PURGE");
        assert_eq!(parse_method("get").unwrap().as_str(), "get");
        for bad in ["", "GET POST", "GÉT", "a/b"] {
            assert!(parse_method(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_body_file_is_read_and_a_missing_one_refused() {
        let path = std::env::temp_dir().join(format!("corral-body-{}", std::process::id()));
        std::fs::write(&path, b"a=1\nb=\x002").unwrap();
        let b = parse_body(&format!("@{}", path.display())).unwrap();
        assert_eq!(b.bytes.as_ref(), b"a=1\nb=\x002", "sent byte for byte");
        std::fs::remove_file(&path).unwrap();
        let e = parse_body(&format!("@{}", path.display())).unwrap_err();
        assert!(e.contains("cannot read the body file"), "{e}");
        assert!(parse_body("@-").unwrap_err().contains("stdin"));
        assert_eq!(parse_body("x=@y").unwrap().bytes.as_ref(), b"x=@y");
    }

    #[test]
    fn proxies_are_http_or_https_urls_or_empty_for_none() {
        assert_eq!(parse_proxy("").unwrap(), ProxyArg::Off);
        let ProxyArg::Via(u) = parse_proxy("127.0.0.1:3128").unwrap() else {
            panic!("no proxy")
        };
        assert_eq!(u.as_str(), "http://127.0.0.1:3128/");
        assert!(parse_proxy("https://user:pw@proxy.example:443").is_ok());
        assert!(parse_proxy("socks5://127.0.0.1:1080")
            .unwrap_err()
            .contains("not supported"));
        assert!(parse_proxy("http://").is_err());
        let shown = parse_proxy("http://u:secret@p:1").unwrap().to_string();
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[test]
    fn a_body_makes_a_post_with_a_content_type_unless_told_otherwise() {
        let r = parse(&[]).unwrap().resolve().unwrap();
        assert_eq!((r.method.as_str(), r.body.is_none()), ("GET", true));
        assert!(r.headers.is_empty());

        let r = parse(&["-d", "a=1", "-d", "b=2"])
            .unwrap()
            .resolve()
            .unwrap();
        assert_eq!(r.method, Method::POST);
        assert_eq!(r.body.as_deref(), Some(&b"a=1&b=2"[..]));
        assert_eq!(r.headers[CONTENT_TYPE], "application/x-www-form-urlencoded");

        let r = parse(&["--json", "{}", "-X", "PUT", "-H", "content-type: text/x"])
            .unwrap()
            .resolve()
            .unwrap();
        assert_eq!(r.method, Method::PUT);
        assert_eq!(r.headers[CONTENT_TYPE], "text/x", "-H wins");
        assert_eq!(r.headers[ACCEPT], "application/json");

        let e = parse(&["-X", "HEAD", "-d", "x"])
            .unwrap()
            .resolve()
            .unwrap_err();
        assert!(e.contains("HEAD"), "{e}");
        assert!(parse(&["-X", "HEAD"]).unwrap().resolve().is_ok());
    }

    #[test]
    fn conflicting_flags_are_usage_errors() {
        for args in [
            &["-d", "x", "--json", "{}"][..],
            &["--http1.1", "--http2"],
            &["--http1.1", "--http2-prior-knowledge"],
            &["--http2", "--http2-prior-knowledge"],
            &["--max-redirects", "-1"],
            &["--json", "{}", "--json", "{}"],
        ] {
            let e = parse(args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn the_user_agent_is_corrals_unless_given_and_none_if_empty() {
        let ua = |args: &[&str]| parse(args).unwrap().resolve().unwrap().user_agent;
        assert_eq!(ua(&[]).unwrap(), DEFAULT_USER_AGENT);
        assert_eq!(ua(&["-A", "probe/1"]).unwrap(), "probe/1");
        assert_eq!(ua(&["-A", ""]), None);
    }

    #[test]
    fn only_changed_flags_go_into_the_journal() {
        assert!(parse(&[]).unwrap().result_flags().is_empty());
        assert!(parse(&["--max-redirects", "10", "--http2"])
            .unwrap()
            .result_flags()
            .is_empty());
        let flags = parse(&["-H", "A: 1", "-d", "x", "--max-redirects", "0"])
            .unwrap()
            .result_flags();
        let names: Vec<&str> = flags.iter().map(|(k, _)| *k).collect();
        assert_eq!(names, ["header", "data", "max-redirects"]);
        let other = parse(&["-H", "A: 1", "-d", "y", "--max-redirects", "0"])
            .unwrap()
            .result_flags();
        assert_ne!(flags[1], other[1], "another body is another flag value");
    }
}
