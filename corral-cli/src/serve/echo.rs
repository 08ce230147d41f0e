//! The httpbin endpoints that answer with what the request showed: `/get`, `/anything`,
//! `/headers`, `/ip`, `/user-agent`, `/delay/{secs}`, `/gzip`, plus `/response-headers` and
//! `/basic-auth/{user}/{passwd}`, in httpbin's JSON shapes:
//!
//! * `args`: the query; an argument given more than once becomes a list (`?a=1&a=2&b=3` is
//!   `{"a": ["1", "2"], "b": "3"}`);
//! * `headers`: the request's headers, named as the client wrote them (on HTTP/1: see
//!   [`wire`](super::wire); HTTP/2 names are lower-case by the protocol), in the order sent; a
//!   header sent more than once has its values joined with `,`;
//! * `/anything` adds `method`, `data` (the body as text), `json` (the body, if it is JSON),
//!   `form` (a urlencoded or multipart body's fields) and `files` (a multipart body's files).

use std::collections::HashSet;
use std::convert::Infallible;
use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, Response, StatusCode, Uri};
use axum::response::{IntoResponse, Json};
use base64::Engine as _;
use serde_json::{json, Value};

use super::wire::WireNames;
use super::{bad_request, form, gzip, seconds, App};

/// What a request showed, as the echo endpoints report it.
pub(super) struct Seen {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    peer: Option<SocketAddr>,
    wire: Option<WireNames>,
}

#[axum::async_trait]
impl<S: Send + Sync> FromRequestParts<S> for Seen {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Seen {
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            headers: parts.headers.clone(),
            peer: parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
            wire: parts.extensions.get::<WireNames>().cloned(),
        })
    }
}

impl Seen {
    /// The query arguments, repeated ones as lists.
    fn args(&self) -> Value {
        let query = self.uri.query().unwrap_or("");
        form::lists(url::form_urlencoded::parse(query.as_bytes()).into_owned())
    }

    /// The headers, named as sent and in the order sent where the socket saw them (then any
    /// others, lower-case); a name sent more than once has its values joined with `,`.
    fn headers(&self) -> Value {
        let wire = self
            .wire
            .iter()
            .flat_map(|w| w.0.iter().map(String::as_str));
        let mut done = HashSet::new();
        let mut map = serde_json::Map::new();
        for name in wire.chain(self.headers.keys().map(HeaderName::as_str)) {
            let Ok(key) = HeaderName::from_bytes(name.as_bytes()) else {
                continue;
            };
            if !self.headers.contains_key(&key) || !done.insert(key.clone()) {
                continue;
            }
            let values: Vec<_> = self
                .headers
                .get_all(&key)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()))
                .collect();
            map.insert(name.to_owned(), Value::String(values.join(",")));
        }
        Value::Object(map)
    }

    fn origin(&self) -> String {
        self.peer.map(|p| p.ip().to_string()).unwrap_or_default()
    }

    /// `http://HOST/PATH?QUERY`, HOST from the `Host` header (HTTP/1) or the request's
    /// authority (HTTP/2).
    fn url(&self) -> String {
        let host = self
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| self.uri.authority().map(|a| a.as_str()))
            .unwrap_or("localhost");
        let path = self.uri.path_and_query().map_or("/", |p| p.as_str());
        format!("http://{host}{path}")
    }

    /// `args`, `headers`, `origin` and `url`.
    fn echo(&self) -> Value {
        json!({
            "args": self.args(),
            "headers": self.headers(),
            "origin": self.origin(),
            "url": self.url(),
        })
    }
}

/// `/get`: the echo.
pub(super) async fn get(seen: Seen) -> Json<Value> {
    Json(seen.echo())
}

/// `/anything`: the echo plus `method`, `data`, `json`, `form`, `files`.
pub(super) async fn anything(seen: Seen, body: Bytes) -> Json<Value> {
    let mut v = seen.echo();
    let content_type = seen.headers.get(header::CONTENT_TYPE);
    let (form, files) = form::form_and_files(content_type, &body);
    v["method"] = json!(seen.method.as_str());
    v["data"] = json!(String::from_utf8_lossy(&body));
    v["json"] = serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
    v["form"] = form;
    v["files"] = files;
    Json(v)
}

/// `/headers`.
pub(super) async fn headers(seen: Seen) -> Json<Value> {
    Json(json!({ "headers": seen.headers() }))
}

/// `/ip`.
pub(super) async fn ip(seen: Seen) -> Json<Value> {
    Json(json!({ "origin": seen.origin() }))
}

/// `/user-agent`.
pub(super) async fn user_agent(seen: Seen) -> Json<Value> {
    let ua = seen
        .headers
        .get(header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    Json(json!({ "user-agent": ua }))
}

/// `/delay/{secs}`: the echo after `secs` (capped by `--max-delay`), with `delay`.
pub(super) async fn delay(
    State(app): State<App>,
    Path(secs): Path<String>,
    seen: Seen,
) -> Response<Body> {
    let d = match seconds(&secs, app.config.max_delay) {
        Ok(d) => d,
        Err(e) => return bad_request(e),
    };
    tokio::time::sleep(d).await;
    let mut v = seen.echo();
    v["delay"] = json!(d.as_secs_f64());
    Json(v).into_response()
}

/// `/gzip`: `gzipped`, `headers`, `method`, `origin`, gzip-encoded whatever the request's
/// `Accept-Encoding`, as httpbin does.
pub(super) async fn gzip(seen: Seen) -> Response<Body> {
    let doc = json!({
        "gzipped": true,
        "headers": seen.headers(),
        "method": seen.method.as_str(),
        "origin": seen.origin(),
    });
    let json = serde_json::to_vec(&doc).unwrap_or_default();
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CONTENT_ENCODING, "gzip"),
        ],
        gzip::stored(&json),
    )
        .into_response()
}

/// `/response-headers?NAME=VALUE&...`: answers with those headers (a name given twice, twice)
/// and, as body, the response's headers as JSON: the arguments, `Content-Type` and
/// `Content-Length`. `Content-Type` may be replaced; the framing headers are refused.
pub(super) async fn response_headers(uri: Uri) -> Response<Body> {
    let query = uri.query().unwrap_or("");
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let mut typed = false;
    for (name, value) in &pairs {
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
            return bad_request(format!("`{}` is not a header name", name.escape_debug()));
        };
        let Ok(value) = HeaderValue::from_str(value) else {
            return bad_request(format!("`{}` is not a header value", value.escape_debug()));
        };
        if [header::CONTENT_LENGTH, header::TRANSFER_ENCODING].contains(&name) {
            return bad_request(format!("{name} is the server's to set"));
        }
        if name == header::CONTENT_TYPE && !typed {
            headers.remove(header::CONTENT_TYPE);
            typed = true;
        }
        headers.append(name, value);
    }
    let mut doc = serde_json::Map::new();
    doc.insert("Content-Length".into(), json!(""));
    if !typed {
        doc.insert("Content-Type".into(), json!("application/json"));
    }
    if let Value::Object(args) = form::lists(pairs) {
        doc.extend(args);
    }
    // The body states its own length: settle it (a few rounds at most, as digits are added).
    let mut body = Vec::new();
    for _ in 0..4 {
        body = serde_json::to_vec(&doc).unwrap_or_default();
        let len = json!(body.len().to_string());
        if doc["Content-Length"] == len {
            break;
        }
        doc["Content-Length"] = len;
    }
    (headers, body).into_response()
}

/// `/basic-auth/{user}/{passwd}`: 200 with `authenticated` and `user` when the request's
/// `Authorization` is `Basic` with exactly those credentials; else 401 asking for them.
pub(super) async fn basic_auth(
    Path((user, passwd)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response<Body> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, credentials) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("basic")
                .then_some(credentials.trim())
        })
        .and_then(|c| base64::engine::general_purpose::STANDARD.decode(c).ok());
    if given.as_deref() == Some(format!("{user}:{passwd}").as_bytes()) {
        Json(json!({ "authenticated": true, "user": user })).into_response()
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, r#"Basic realm="Fake Realm""#)],
        )
            .into_response()
    }
}
