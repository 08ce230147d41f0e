//! The records on stdout: `text` for people, `jsonl` and `csv` for programs. One record per
//! input, written as soon as the run hands it out.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

use clap::ValueEnum;

use crate::duration::human;
use crate::record::{elapsed_ms, Record};

/// The record format, `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns: index, status or error kind, time, bytes, URL, error; control
    /// characters from the input are shown escaped (`\x1b`).
    Text,
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated values with a header line.
    Csv,
}

/// The CSV header, also the JSON field order. (`fields`, a row's other fields with
/// `--input-format csv|jsonl`, is left out of JSON for plain lines, and is a JSON object in
/// one CSV column.)
pub const FIELDS: [&str; 16] = [
    "index",
    "url",
    "ok",
    "status",
    "error_kind",
    "error",
    "elapsed_ms",
    "bytes",
    "attempts",
    "line",
    "ended_at",
    "final_url",
    "redirects",
    "retry_after",
    "attempt_errors",
    "fields",
];

/// Writes records in one format.
pub struct Printer<W: Write> {
    format: Format,
    out: W,
    started: bool,
}

impl<W: Write> Printer<W> {
    /// A printer writing `format` to `out` (buffer `out` yourself; see [`Printer::flush`]).
    pub fn new(format: Format, out: W) -> Self {
        Printer {
            format,
            out,
            started: false,
        }
    }

    /// Writes one record.
    ///
    /// # Errors
    ///
    /// Writing to the output failed (for a closed pipe, `BrokenPipe`).
    pub fn write(&mut self, r: &Record) -> io::Result<()> {
        if !self.started {
            self.started = true;
            if self.format == Format::Csv {
                writeln!(self.out, "{}", FIELDS.join(","))?;
            }
        }
        match self.format {
            Format::Jsonl => {
                serde_json::to_writer(&mut self.out, r)?;
                self.out.write_all(b"\n")
            }
            Format::Csv => {
                let opt = |v: Option<String>| v.unwrap_or_default();
                let row = [
                    r.index.to_string(),
                    csv_field(&r.url),
                    r.ok.to_string(),
                    opt(r.status.map(|s| s.to_string())),
                    opt(r.error_kind.map(|k| k.to_string())),
                    csv_field(r.error.as_deref().unwrap_or("")),
                    elapsed_ms(r.elapsed_ms).to_string(),
                    r.bytes.to_string(),
                    r.attempts.to_string(),
                    r.line.to_string(),
                    ((r.ended_at * 1000.0).round() / 1000.0).to_string(),
                    csv_field(r.final_url.as_deref().unwrap_or("")),
                    r.redirects.to_string(),
                    opt(r.retry_after.map(|s| s.to_string())),
                    csv_field(&r.attempt_errors.join(" | ")),
                    r.fields.as_ref().map_or_else(String::new, |f| {
                        csv_field(&serde_json::to_string(f).unwrap_or_default())
                    }),
                ];
                writeln!(self.out, "{}", row.join(","))
            }
            Format::Text => writeln!(self.out, "{}", text_line(r)),
        }
    }

    /// Flushes the output.
    ///
    /// # Errors
    ///
    /// As for [`Printer::write`].
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// One record as an aligned line for people. The URL and the error, which carry the input's
/// text, go through [`visible`], so the input cannot drive the terminal.
pub fn text_line(r: &Record) -> String {
    let what = match (r.ok, r.error_kind, r.status) {
        (true, _, Some(s)) => s.to_string(),
        (_, Some(crate::record::ErrorKind::Status), Some(s)) => format!("{s}"),
        (_, Some(k), _) => k.to_string(),
        _ => "-".to_owned(),
    };
    let time = if r.attempts == 0 {
        "-".to_owned()
    } else {
        human(r.elapsed_ms)
    };
    let mut line = format!(
        "{:>5}  {:<13} {:>8} {:>10}  {}",
        r.index,
        what,
        time,
        bytes(r.bytes),
        visible(&r.url)
    );
    if r.redirects > 0 {
        let s = if r.redirects == 1 { "" } else { "s" };
        let to = r.final_url.as_deref().unwrap_or("?");
        let _ = write!(line, " -> {} ({} redirect{s})", visible(to), r.redirects);
    }
    if let Some(e) = &r.error {
        line.push_str("  ");
        line.push_str(&visible(e));
    }
    if r.attempts > 1 {
        line.push_str(&format!("  ({} attempts)", r.attempts));
    }
    line
}

/// `s` with every character that would act on a terminal instead of showing written as an
/// escape: C0 and C1 controls and DEL as `\x1b`, `\t`, `\n`, `\r` or `\u{9b}`, and the
/// bidirectional overrides and isolates as `\u{202e}`. Those come from the input: an ESC
/// sequence in a URL could otherwise retitle or recolour the terminal, and a bidi override
/// could make the line read as something else.
pub fn visible(s: &str) -> Cow<'_, str> {
    let acts =
        |c: char| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if !s.contains(acts) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x80 && acts(c) => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if acts(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A byte count for people: `512B`, `1.5KiB`, `3.0MiB`.
pub fn bytes(n: u64) -> String {
    const K: f64 = 1024.0;
    let f = n as f64;
    if f < K {
        format!("{n}B")
    } else if f < K * K {
        format!("{:.1}KiB", f / K)
    } else if f < K * K * K {
        format!("{:.1}MiB", f / (K * K))
    } else {
        format!("{:.1}GiB", f / (K * K * K))
    }
}

/// Quotes a CSV field when it holds a comma, a quote or a line break (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::ErrorKind;
    use serde_json::json;
    use std::time::Duration;

    fn sample() -> Vec<Record> {
        let ok = Record {
            index: 0,
            url: "http://a/x".into(),
            ok: true,
            status: Some(200),
            error_kind: None,
            error: None,
            elapsed_ms: Duration::from_micros(12_345),
            bytes: 2048,
            attempts: 3,
            line: 1,
            ended_at: 1_700_000_000.5,
            final_url: Some("http://b/y".into()),
            redirects: 2,
            retry_after: Some(1.5),
            attempt_errors: vec!["status 503".into(), "connect: refused".into()],
            ..Record::default()
        };
        let mut bad = Record::failed(
            1,
            3,
            "a,\"b\"".into(),
            ErrorKind::InvalidInput,
            "line 3: not a URL, \"sorry\"".into(),
        );
        bad.ended_at = 1_700_000_001.25;
        let mut row = crate::rows::Fields::new();
        row.insert("name".into(), "x,y".into());
        bad.fields = Some(Box::new(row));
        vec![ok, bad]
    }

    fn render(format: Format) -> String {
        let mut p = Printer::new(format, Vec::new());
        for r in sample() {
            p.write(&r).unwrap();
        }
        String::from_utf8(p.out).unwrap()
    }

    #[test]
    fn jsonl_has_every_field_with_nulls() {
        let out = render(Format::Jsonl);
        let lines: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        for v in &lines {
            for f in FIELDS.iter().filter(|&&f| f != "fields") {
                assert!(v.get(f).is_some(), "{f} missing in {v}");
            }
        }
        assert_eq!(lines[0]["elapsed_ms"], 12.345);
        assert_eq!(lines[0]["status"], 200);
        assert!(lines[0]["error_kind"].is_null());
        assert_eq!(lines[1]["error_kind"], "invalid_input");
        assert!(lines[1]["status"].is_null());
        assert_eq!(lines[1]["attempts"], 0);
        assert_eq!(
            (&lines[0]["final_url"], &lines[0]["redirects"]),
            (&json!("http://b/y"), &json!(2))
        );
        assert!(lines[1]["final_url"].is_null());
    }

    #[test]
    fn csv_has_a_header_and_quotes_what_needs_it() {
        let out = render(Format::Csv);
        let mut lines = out.lines();
        assert_eq!(
            lines.next(),
            Some(
                "index,url,ok,status,error_kind,error,elapsed_ms,bytes,attempts,line,ended_at,\
                 final_url,redirects,retry_after,attempt_errors,fields"
            )
        );
        assert_eq!(
            lines.next(),
            Some(
                "0,http://a/x,true,200,,,12.345,2048,3,1,1700000000.5,http://b/y,2,1.5,\
                 status 503 | connect: refused,"
            )
        );
        assert_eq!(
            lines.next(),
            Some("1,\"a,\"\"b\"\"\",false,,invalid_input,\"line 3: not a URL, \"\"sorry\"\"\",0,0,0,3,1700000001.25,,0,,,\"{\"\"name\"\":\"\"x,y\"\"}\"")
        );
        assert_eq!(lines.next(), None);
    }

    #[test]
    fn text_shows_status_or_kind_time_size_url_and_error() {
        let out = render(Format::Text);
        let lines: Vec<&str> = out.lines().collect();
        assert!(
            lines[0].contains(" 200 ") && lines[0].contains("12ms"),
            "{}",
            lines[0]
        );
        assert!(
            lines[0].contains("2.0KiB")
                && lines[0].ends_with("http://a/x -> http://b/y (2 redirects)  (3 attempts)"),
            "{}",
            lines[0]
        );
        assert!(lines[1].contains("invalid_input") && lines[1].ends_with("\"sorry\""));
    }

    #[test]
    fn text_escapes_control_characters_from_the_input() {
        let url = "http://a/\x1b]0;owned\x07\x1b[31mred\u{9b}2J\u{202e}txt.exe\x7f\tx\r\n";
        let r = Record::failed(
            0,
            1,
            url.into(),
            ErrorKind::InvalidInput,
            format!("line 1: not a URL: {url}"),
        );
        let line = text_line(&r);
        let shown =
            "http://a/\\x1b]0;owned\\x07\\x1b[31mred\\u{9b}2J\\u{202e}txt.exe\\x7f\\tx\\r\\n";
        assert!(
            line.contains(&format!("  {shown}  line 1: not a URL: {shown}")),
            "{line}"
        );
        assert!(!line.contains(|c: char| c.is_control()), "{line:?}");
        // Printable text, ASCII or not, is left alone.
        assert_eq!(
            visible("http://ex.org/caf\u{e9}?q=a b"),
            "http://ex.org/caf\u{e9}?q=a b"
        );
        assert!(matches!(visible("http://a/"), Cow::Borrowed(_)));
    }
}
