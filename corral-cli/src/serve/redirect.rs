//! The redirect endpoints, as httpbin has them: `/redirect/{n}`, `/relative-redirect/{n}`,
//! `/absolute-redirect/{n}` (n redirects, then `/get`) and `/redirect-to?url=&status_code=`.

use axum::body::Body;
use axum::extract::Path;
use axum::http::{header::LOCATION, HeaderMap, HeaderValue, Response, StatusCode};
use axum::response::IntoResponse;

use super::{bad_request, Args};

/// A redirect with `status` to `location`, or a 400 if `location` cannot be a header.
fn to_location(status: StatusCode, location: &str) -> Response<Body> {
    match HeaderValue::from_str(location) {
        Ok(v) => (status, [(LOCATION, v)]).into_response(),
        Err(_) => bad_request(format!(
            "`{}` cannot be a Location header",
            location.escape_debug()
        )),
    }
}

/// `/redirect/{n}` (any method): 302 to `/relative-redirect/{n-1}`, or to `/get` when n is
/// 1; with `?absolute=true`, the absolute chain instead.
pub(super) async fn redirect(
    Path(n): Path<u32>,
    axum::extract::Query(args): Args,
    headers: HeaderMap,
) -> Response<Body> {
    if args
        .get("absolute")
        .is_some_and(|a| a.eq_ignore_ascii_case("true"))
    {
        absolute(Path(n), headers).await
    } else {
        relative(Path(n)).await
    }
}

/// `/relative-redirect/{n}` (any method): 302 with a relative `Location`,
/// `/relative-redirect/{n-1}`, or `/get` when n is 1.
pub(super) async fn relative(Path(n): Path<u32>) -> Response<Body> {
    match n {
        0 => bad_request("the number of redirects must be at least 1"),
        1 => to_location(StatusCode::FOUND, "/get"),
        n => to_location(StatusCode::FOUND, &format!("/relative-redirect/{}", n - 1)),
    }
}

/// `/absolute-redirect/{n}` (any method): 302 to `http://HOST/absolute-redirect/{n-1}`, or to
/// `http://HOST/get` when n is 1, HOST being the request's `Host` header.
pub(super) async fn absolute(Path(n): Path<u32>, headers: HeaderMap) -> Response<Body> {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    match n {
        0 => bad_request("the number of redirects must be at least 1"),
        1 => to_location(StatusCode::FOUND, &format!("http://{host}/get")),
        n => to_location(
            StatusCode::FOUND,
            &format!("http://{host}/absolute-redirect/{}", n - 1),
        ),
    }
}

/// `/redirect-to?url=URL&status_code=CODE` (any method): CODE (a 3xx; 302 by default or
/// otherwise) to URL, whatever its scheme.
pub(super) async fn to(axum::extract::Query(args): Args) -> Response<Body> {
    let Some(url) = args.get("url") else {
        return bad_request("give the target as ?url=");
    };
    let status = args
        .get("status_code")
        .and_then(|c| c.parse::<u16>().ok())
        .filter(|c| (300..400).contains(c))
        .and_then(|c| StatusCode::from_u16(c).ok())
        .unwrap_or(StatusCode::FOUND);
    to_location(status, url)
}
