//! Form bodies, for `/anything`'s `form` and `files`: `application/x-www-form-urlencoded`,
//! and `multipart/form-data` (RFC 7578), parsed as httpbin shows them.

use axum::http::HeaderValue;
use base64::Engine as _;
use serde_json::{Map, Value};

/// Names and values as a JSON object, in first-seen order; a name seen more than once gets a
/// list of its values, as httpbin shows repeated query arguments and form fields.
pub(super) fn lists(pairs: impl IntoIterator<Item = (String, String)>) -> Value {
    let mut map = Map::new();
    for (name, value) in pairs {
        match map.get_mut(&name) {
            None => {
                map.insert(name, Value::String(value));
            }
            Some(Value::Array(values)) => values.push(Value::String(value)),
            Some(first) => {
                let first = first.take();
                map.insert(name, Value::Array(vec![first, Value::String(value)]));
            }
        }
    }
    Value::Object(map)
}

/// The fields (`form`) and files (`files`) of a body of `content_type`; both empty objects for
/// other bodies, or for a multipart body that cannot be parsed.
pub(super) fn form_and_files(content_type: Option<&HeaderValue>, body: &[u8]) -> (Value, Value) {
    let empty = || Value::Object(Map::new());
    let Some(content_type) = content_type.and_then(|v| v.to_str().ok()) else {
        return (empty(), empty());
    };
    let mut params = content_type.split(';');
    let essence = params.next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        let fields = url::form_urlencoded::parse(body).into_owned();
        return (lists(fields), empty());
    }
    if !essence.eq_ignore_ascii_case("multipart/form-data") {
        return (empty(), empty());
    }
    let boundary = parameters(content_type)
        .into_iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v);
    match boundary.and_then(|b| multipart(body, &b)) {
        Some(parts) => {
            let (mut fields, mut files) = (Vec::new(), Vec::new());
            for part in parts {
                match part.filename {
                    Some(_) => files.push((part.name, file_value(&part.content_type, part.body))),
                    None => fields.push((part.name, String::from_utf8_lossy(part.body).into())),
                }
            }
            (lists(fields), lists(files))
        }
        None => (empty(), empty()),
    }
}

/// A file's content as httpbin shows it: the text if it is UTF-8, else a `data:` URL.
fn file_value(content_type: &str, body: &[u8]) -> String {
    match std::str::from_utf8(body) {
        Ok(text) => text.to_owned(),
        Err(_) => format!(
            "data:{};base64,{}",
            if content_type.is_empty() {
                "application/octet-stream"
            } else {
                content_type
            },
            base64::engine::general_purpose::STANDARD.encode(body)
        ),
    }
}

/// One part of a multipart body.
#[derive(Debug)]
struct Part<'a> {
    name: String,
    filename: Option<String>,
    content_type: String,
    body: &'a [u8],
}

/// The parts of a multipart body with `boundary`; `None` if it is not well formed. Parts
/// without a `Content-Disposition` name are skipped.
fn multipart<'a>(body: &'a [u8], boundary: &str) -> Option<Vec<Part<'a>>> {
    let delimiter = format!("--{boundary}").into_bytes();
    let next_delimiter = format!("\r\n--{boundary}").into_bytes();
    // The preamble ends with the first delimiter (at the start, or after a CRLF).
    let start = find(body, &delimiter)?;
    let mut rest = &body[start + delimiter.len()..];
    let mut parts = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Some(parts);
        }
        // Transport padding, then the CRLF that ends the delimiter line.
        let line_end = find(rest, b"\r\n")?;
        if rest[..line_end].iter().any(|b| !matches!(b, b' ' | b'\t')) {
            return None;
        }
        rest = &rest[line_end + 2..];
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let (head_len, headers) = match httparse::parse_headers(rest, &mut headers).ok()? {
            httparse::Status::Complete((len, headers)) => (len, headers),
            httparse::Status::Partial => return None,
        };
        let end = find(&rest[head_len..], &next_delimiter)?;
        let content = &rest[head_len..head_len + end];
        rest = &rest[head_len + end + next_delimiter.len()..];
        let header = |name: &str| {
            headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| String::from_utf8_lossy(h.value).into_owned())
        };
        let disposition = parameters(&header("content-disposition").unwrap_or_default());
        let param = |key: &str| {
            disposition
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.clone())
        };
        if let Some(name) = param("name") {
            parts.push(Part {
                name,
                filename: param("filename"),
                content_type: header("content-type").unwrap_or_default(),
                body: content,
            });
        }
    }
}

/// The `key=value` parameters after the first `;` of a header value (`form-data;
/// name="a"; filename="b.txt"`, `multipart/form-data; boundary=x`); quoted values are
/// unquoted, with `\"` and `\\` unescaped.
fn parameters(value: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = match value.split_once(';') {
        Some((_, rest)) => rest,
        None => return out,
    };
    loop {
        rest = rest.trim_start_matches([' ', '\t', ';']);
        let Some((key, after)) = rest.split_once('=') else {
            return out;
        };
        let key = key.trim().to_owned();
        let after = after.trim_start();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next().map(|(_, c)| c)),
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end..])
        } else {
            let end = after.find(';').unwrap_or(after.len());
            (after[..end].trim().to_owned(), &after[end..])
        };
        out.push((key, value));
        rest = next;
    }
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn repeated_names_become_lists_in_first_seen_order() {
        let pairs = [("b", "1"), ("a", "x"), ("b", "2"), ("b", "3")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let v = lists(pairs);
        assert_eq!(v, json!({"b": ["1", "2", "3"], "a": "x"}));
        assert_eq!(
            v.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["b", "a"]
        );
    }

    #[test]
    fn parameters_are_unquoted() {
        assert_eq!(
            parameters(r#"form-data; name="a \"b\"; c"; filename=x.txt"#),
            [
                ("name".to_owned(), r#"a "b"; c"#.to_owned()),
                ("filename".to_owned(), "x.txt".to_owned())
            ]
        );
        assert!(parameters("text/plain").is_empty());
    }

    #[test]
    fn multipart_fields_and_files_are_told_apart() {
        let body = b"preamble\r\n--XyZ\r\n\
            Content-Disposition: form-data; name=\"greeting\"\r\n\r\nhello\r\n\
            --XyZ  \r\n\
            Content-Disposition: form-data; name=\"greeting\"\r\n\r\nagain\r\n\
            --XyZ\r\n\
            Content-Disposition: form-data; name=\"doc\"; filename=\"a.txt\"\r\n\
            Content-Type: text/plain\r\n\r\nline 1\r\nline 2\r\n\
            --XyZ\r\n\
            Content-Disposition: form-data; name=\"bin\"; filename=\"b\"\r\n\r\n\xff\x00\r\n\
            --XyZ--\r\nepilogue";
        let ct = HeaderValue::from_static("multipart/form-data; boundary=\"XyZ\"");
        let (form, files) = form_and_files(Some(&ct), body);
        assert_eq!(form, json!({"greeting": ["hello", "again"]}));
        assert_eq!(
            files,
            json!({"doc": "line 1\r\nline 2", "bin": "data:application/octet-stream;base64,/wA="})
        );
        let cut = &body[..body.len() - 20];
        assert_eq!(
            form_and_files(Some(&ct), cut),
            (json!({}), json!({})),
            "no closing delimiter"
        );
    }

    #[test]
    fn urlencoded_bodies_are_fields_and_others_nothing() {
        let ct = HeaderValue::from_static("application/x-www-form-urlencoded");
        let (form, files) = form_and_files(Some(&ct), b"a=1&b=x+y&a=%3D");
        assert_eq!(form, json!({"a": ["1", "="], "b": "x y"}));
        assert_eq!(files, json!({}));
        let json_ct = HeaderValue::from_static("application/json");
        assert_eq!(
            form_and_files(Some(&json_ct), b"a=1"),
            (json!({}), json!({}))
        );
        assert_eq!(form_and_files(None, b"a=1"), (json!({}), json!({})));
    }
}
