//! The inputs: URLs from the arguments, or one per line from a file or stdin, read as a stream.
//!
//! Reading is lazy: the next line is read only when the run has room for another request, so
//! ten million lines cost no more memory than ten. Blank lines and lines starting with `#` are
//! skipped and do not count as inputs. A UTF-8 byte-order mark at the very start of a file or
//! of stdin is dropped (editors on Windows write one). A line that is not a usable URL still
//! counts: it becomes an input whose `url` is an error naming its line number, and the run
//! writes an `invalid_input` record for it and goes on.
//!
//! With `--input-format csv|jsonl` a line (for CSV, a row, which may span lines inside quotes)
//! is a row with named fields; [`crate::rows`] takes it apart.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, BufReader};
use url::Url;

use crate::rows::{csv_row_is_open, Fields, Rows};

/// Longest line kept; the rest of a longer line is read and dropped, and the line is bad.
pub const MAX_LINE: usize = 64 * 1024;

/// The UTF-8 byte-order mark, dropped at the start of the input.
const BOM: &[u8] = b"\xef\xbb\xbf";

/// One input: a URL to fetch, or a bad line to report.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    /// 0-based position among the inputs.
    pub index: u64,
    /// 1-based line number in the input file, or position among the URL arguments.
    pub line: u64,
    /// The input's text, trimmed (shortened if it was longer than [`MAX_LINE`]).
    pub text: String,
    /// The parsed URL, or what is wrong with the input (the message names the line).
    pub url: Result<Url, String>,
    /// A row's fields other than its URL, for its record (`--input-format csv|jsonl`).
    pub fields: Option<Box<Fields>>,
}

enum Source {
    Args(std::vec::IntoIter<String>),
    Lines(Box<dyn AsyncBufRead + Unpin + Send>),
}

/// A stream of [`Input`]s; call [`Inputs::next`] until it gives `None`.
pub struct Inputs {
    source: Source,
    /// Inputs handed out so far (the next index).
    index: u64,
    /// Lines (or arguments) read so far.
    line: u64,
    /// The line being read; kept across calls, so that a `next` dropped half-way loses nothing.
    buf: Vec<u8>,
    /// Whether the line being read was longer than [`MAX_LINE`].
    truncated: bool,
    /// Lines the CSV row being read has gone on past its first.
    continued: u64,
    what: &'static str,
    /// The rest can be read without waiting for anyone: arguments, or a regular file.
    bounded: bool,
    /// Rows with fields instead of plain lines (`--input-format csv|jsonl`).
    rows: Option<Rows>,
    /// Bytes of the file or stdin consumed so far, for the progress display.
    consumed: Arc<AtomicU64>,
    /// The size of a regular file given with `-i`, for the progress display.
    size: Option<u64>,
}

/// One input's text as read, before it is parsed.
struct Raw {
    index: u64,
    /// The line it starts on.
    line: u64,
    text: String,
    /// What is wrong with it already (not UTF-8, too long).
    bad: Option<String>,
}

impl Inputs {
    /// Inputs from command-line arguments, one URL each.
    pub fn from_args(urls: Vec<String>) -> Self {
        Inputs {
            source: Source::Args(urls.into_iter()),
            index: 0,
            line: 0,
            buf: Vec::new(),
            truncated: false,
            continued: 0,
            what: "argument",
            bounded: true,
            rows: None,
            consumed: Arc::default(),
            size: None,
        }
    }

    /// Inputs from a reader, one URL per line. `bounded` says whether its end comes without
    /// waiting for anyone (a regular file), unlike a pipe or a terminal; see
    /// [`Inputs::is_bounded`].
    pub fn from_reader(reader: impl AsyncRead + Unpin + Send + 'static, bounded: bool) -> Self {
        Inputs {
            source: Source::Lines(Box::new(BufReader::with_capacity(64 * 1024, reader))),
            index: 0,
            line: 0,
            buf: Vec::new(),
            truncated: false,
            continued: 0,
            what: "line",
            bounded,
            rows: None,
            consumed: Arc::default(),
            size: None,
        }
    }

    /// Inputs from stdin; bounded if stdin is a regular file (`< urls.txt`).
    pub fn stdin() -> Self {
        Self::from_reader(tokio::io::stdin(), stdin_is_regular_file())
    }

    /// Inputs from the file at `path`, or from stdin if `path` is `-`.
    ///
    /// # Errors
    ///
    /// The file cannot be opened, or is a directory (which Linux opens, and fails to read).
    pub async fn open(path: &Path) -> io::Result<Self> {
        if path == Path::new("-") {
            return Ok(Self::stdin());
        }
        let file = tokio::fs::File::open(path).await?;
        let meta = file.metadata().await?;
        if meta.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                "is a directory; give a file of URLs, one per line",
            ));
        }
        let mut inputs = Self::from_reader(file, meta.is_file());
        inputs.size = meta.is_file().then_some(meta.len());
        Ok(inputs)
    }

    /// The size of the input file, when it is a regular file given by its path: with
    /// [`Inputs::consumed`], how far the run has read it.
    pub fn size(&self) -> Option<u64> {
        self.size
    }

    /// A counter of the bytes consumed from the file or stdin so far, kept up to date as lines
    /// are read.
    pub fn consumed(&self) -> Arc<AtomicU64> {
        self.consumed.clone()
    }

    /// Reads rows with fields instead of plain lines: `--input-format csv|jsonl`. Arguments are
    /// always plain URLs.
    pub fn with_rows(mut self, rows: Option<Rows>) -> Self {
        if matches!(self.source, Source::Lines(_)) {
            self.rows = rows;
        }
        self
    }

    /// True if the rest of the input can be read to its end without waiting for anyone: URL
    /// arguments or a regular file. False for a pipe, a FIFO or a terminal, whose end may
    /// never come (`yes URL | corral fetch --any`): after a stop, those are not read further.
    pub fn is_bounded(&self) -> bool {
        self.bounded
    }

    /// Lines (or arguments) read so far, blank and comment lines included.
    pub fn lines_read(&self) -> u64 {
        self.line
    }

    /// Inputs handed out so far.
    pub fn count(&self) -> u64 {
        self.index
    }

    /// The next input, or `None` at the end.
    ///
    /// # Errors
    ///
    /// Reading the file or stdin failed; the inputs end there.
    pub async fn next(&mut self) -> io::Result<Option<Input>> {
        let Some(raw) = self.next_line().await? else {
            return Ok(None);
        };
        let (index, text, bad, fields) = self.take_apart(raw.index, raw.text, raw.bad);
        let url = match bad {
            Some(why) => Err(why),
            None => parse_url(&text),
        }
        .map_err(|why| format!("{} {}: {why}", self.what, raw.line));
        Ok(Some(Input {
            index,
            line: raw.line,
            text,
            url,
            fields,
        }))
    }

    /// A row's index, URL text, what is wrong with it, and its other fields; a plain line is
    /// its own URL text.
    fn take_apart(
        &self,
        index: u64,
        text: String,
        bad: Option<String>,
    ) -> (u64, String, Option<String>, Option<Box<Fields>>) {
        match &self.rows {
            Some(rows) if bad.is_none() => {
                let row = rows.parse(&text);
                (row.index.unwrap_or(index), row.text, row.bad, row.fields)
            }
            _ => (index, text, bad, None),
        }
    }

    /// The next input, for a record only: it will not be fetched (the run has stopped), so
    /// its URL is not parsed, only its scheme checked, which makes it several times cheaper
    /// than [`Inputs::next`]. `bad` is set as `next` would set `url`'s error for an input
    /// that is not valid UTF-8, too long, or not an http or https URL at all; an input with
    /// such a scheme but a bad URL after it passes here.
    ///
    /// # Errors
    ///
    /// As for [`Inputs::next`].
    pub async fn next_unfetched(&mut self) -> io::Result<Option<Unfetched>> {
        let Some(raw) = self.next_line().await? else {
            return Ok(None);
        };
        let (index, text, bad, fields) = self.take_apart(raw.index, raw.text, raw.bad);
        let bad = match bad {
            Some(why) => Some(why),
            None if has_http_scheme(&text) => None,
            None => parse_url(&text).err(),
        }
        .map(|why| format!("{} {}: {why}", self.what, raw.line));
        Ok(Some(Unfetched {
            index,
            line: raw.line,
            text,
            bad,
            fields,
        }))
    }

    /// The next input's text as read, with what is wrong with it before it is parsed (not
    /// UTF-8, too long). A CSV input's header row is read here, and is not an input.
    async fn next_line(&mut self) -> io::Result<Option<Raw>> {
        loop {
            let (text, bad) = match &mut self.source {
                Source::Args(args) => match args.next() {
                    Some(a) if a.trim().len() == a.len() => (a, None),
                    Some(a) => (a.trim().to_owned(), None),
                    None => return Ok(None),
                },
                Source::Lines(reader) => {
                    // The line so far stays in `buf` if this future is dropped; it is taken
                    // (and `buf` cleared) only once the line is complete. A CSV row that is
                    // still inside quotes at the line's end goes on with the next line.
                    let csv = self.rows.as_ref().is_some_and(Rows::is_csv);
                    loop {
                        let read =
                            read_line(reader, &mut self.buf, &mut self.truncated, &self.consumed);
                        match read.await? {
                            None => return Ok(None),
                            Some(true) if csv && !self.truncated && csv_row_is_open(&self.buf) => {
                                self.buf.push(b'\n');
                                self.continued += 1;
                            }
                            Some(_) => break,
                        }
                    }
                    let truncated = std::mem::take(&mut self.truncated);
                    if self.line == 0 && self.buf.starts_with(BOM) {
                        self.buf.drain(..BOM.len());
                    }
                    let text = match std::str::from_utf8(&self.buf) {
                        Ok(s) if truncated => (
                            s.trim().to_owned(),
                            Some(format!("longer than {MAX_LINE} bytes")),
                        ),
                        Ok(s) => (s.trim().to_owned(), None),
                        Err(_) => (
                            String::from_utf8_lossy(&self.buf).trim().to_owned(),
                            Some("not valid UTF-8".to_owned()),
                        ),
                    };
                    self.buf.clear();
                    text
                }
            };
            let line = self.line + 1;
            self.line += 1 + std::mem::take(&mut self.continued);
            // Only files skip blank and comment lines: every argument is an input.
            let is_file = matches!(self.source, Source::Lines(_));
            if is_file && (text.is_empty() || text.starts_with('#')) {
                continue;
            }
            if let Some(rows) = self.rows.as_mut().filter(|r| r.wants_header()) {
                rows.read_header(&text).map_err(|why| {
                    io::Error::new(io::ErrorKind::InvalidData, format!("line {line}: {why}"))
                })?;
                continue;
            }
            let index = self.index;
            self.index += 1;
            return Ok(Some(Raw {
                index,
                line,
                text,
                bad,
            }));
        }
    }
}

/// An input that will not be fetched, from [`Inputs::next_unfetched`].
#[derive(Debug, Clone, PartialEq)]
pub struct Unfetched {
    /// 0-based position among the inputs.
    pub index: u64,
    /// 1-based line number in the input file, or position among the URL arguments.
    pub line: u64,
    /// The input's text, trimmed.
    pub text: String,
    /// What is wrong with the input, if [`Inputs::next_unfetched`] saw it (the message names
    /// the line).
    pub bad: Option<String>,
    /// A row's fields other than its URL, as in [`Input::fields`].
    pub fields: Option<Box<Fields>>,
}

/// True if `text` starts with `http://` or `https://`, in any case.
fn has_http_scheme(text: &str) -> bool {
    let starts = |p: &str| {
        text.get(..p.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(p))
    };
    starts("http://") || starts("https://")
}

/// Reads the rest of one line (without its `\n`) onto `buf`, keeping at most [`MAX_LINE`]
/// bytes and setting `truncated` if there were more. Returns whether the line ended with a
/// `\n` (not at the end of the input), or `None` at the end of input with nothing read. Cancel
/// safe: what was read stays in `buf` and `truncated` for the next call.
async fn read_line<R: AsyncBufRead + Unpin + ?Sized>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    truncated: &mut bool,
    consumed: &AtomicU64,
) -> io::Result<Option<bool>> {
    loop {
        let available = match reader.fill_buf().await {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok((!buf.is_empty() || *truncated).then_some(false));
        }
        let (chunk, used, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..i], i + 1, true),
            None => (available, available.len(), false),
        };
        let room = MAX_LINE.saturating_sub(buf.len());
        if chunk.len() > room {
            *truncated = true;
        }
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        reader.consume(used);
        consumed.fetch_add(used as u64, Ordering::Relaxed);
        if done {
            return Ok(Some(true));
        }
    }
}

/// True if stdin is a regular file (`corral fetch < urls.txt`), not a pipe or a terminal.
fn stdin_is_regular_file() -> bool {
    use std::os::fd::AsFd;
    // A duplicate of fd 0, so that dropping the `File` does not close stdin.
    io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map(std::fs::File::from)
        .and_then(|f| f.metadata())
        .is_ok_and(|m| m.is_file())
}

/// Parses one input as an http or https URL.
///
/// # Errors
///
/// A message for people: not a URL (with a hint when the scheme is missing), or a scheme other
/// than http and https.
pub fn parse_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| match e {
        url::ParseError::RelativeUrlWithoutBase if !text.contains(char::is_whitespace) => {
            format!("not a URL (no scheme); did you mean http://{text} ?")
        }
        url::ParseError::RelativeUrlWithoutBase => "not a URL (no scheme)".to_owned(),
        e => format!("not a URL ({e})"),
    })?;
    match url.scheme() {
        "http" | "https" => {}
        s => {
            return Err(format!(
                "unsupported scheme `{s}`; only http and https are fetched"
            ))
        }
    }
    // The HTTP stack's own limits (a URI of at most 65534 bytes): checked here, so that such
    // an input is an `invalid_input` naming its line, not a failed request.
    match url.as_str().parse::<http::Uri>() {
        Ok(_) => Ok(url),
        Err(e) => Err(format!(
            "not a URL the HTTP client can send ({e}; {} bytes once encoded)",
            url.as_str().len()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn all(mut inputs: Inputs) -> Vec<Input> {
        let mut v = Vec::new();
        while let Some(i) = inputs.next().await.unwrap() {
            v.push(i);
        }
        v
    }

    fn lines(text: &'static str) -> Inputs {
        Inputs::from_reader(text.as_bytes(), true)
    }

    #[tokio::test]
    async fn blank_and_comment_lines_are_skipped_and_do_not_count() {
        let v = all(lines(
            "# urls\n\nhttp://a/\n   \n  # indented comment\nhttps://b/x?y=1\r\nhttp://c/",
        ))
        .await;
        let got: Vec<_> = v
            .iter()
            .map(|i| (i.index, i.line, i.text.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (0, 3, "http://a/"),
                (1, 6, "https://b/x?y=1"),
                (2, 7, "http://c/")
            ]
        );
        assert!(v.iter().all(|i| i.url.is_ok()));
    }

    #[tokio::test]
    async fn bad_lines_count_and_name_their_line_number() {
        let v = all(lines(
            "http://ok/\nexample.com\nftp://x/\nhttp://[::1\n\nhttp://ok2/\n",
        ))
        .await;
        assert_eq!(v.len(), 5);
        assert_eq!(
            v.iter().map(|i| i.index).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4]
        );
        let e1 = v[1].url.as_ref().unwrap_err();
        assert!(e1.starts_with("line 2: not a URL (no scheme)"), "{e1}");
        assert!(e1.contains("http://example.com"), "{e1}");
        let e2 = v[2].url.as_ref().unwrap_err();
        assert!(e2.starts_with("line 3: unsupported scheme `ftp`"), "{e2}");
        let e3 = v[3].url.as_ref().unwrap_err();
        assert!(e3.starts_with("line 4: not a URL"), "{e3}");
        assert_eq!(v[4].line, 6);
        assert!(v[4].url.is_ok());
    }

    #[tokio::test]
    async fn invalid_utf8_is_a_bad_line_not_the_end() {
        let bytes: &'static [u8] = b"http://a/\n\xff\xfe\nhttp://b/\n";
        let v = all(Inputs::from_reader(bytes, true)).await;
        assert_eq!(v.len(), 3);
        assert_eq!(v[1].url.as_ref().unwrap_err(), "line 2: not valid UTF-8");
        assert!(v[2].url.is_ok());
    }

    #[tokio::test]
    async fn an_overlong_line_is_bad_and_reading_goes_on() {
        let long = format!("http://a/{}\nhttp://b/\n", "x".repeat(MAX_LINE * 2));
        let v = all(Inputs::from_reader(
            std::io::Cursor::new(long.into_bytes()),
            true,
        ))
        .await;
        assert_eq!(v.len(), 2);
        assert!(v[0].text.len() <= MAX_LINE);
        assert!(v[0].url.as_ref().unwrap_err().contains("longer than"));
        assert_eq!(v[1].url.as_ref().unwrap().as_str(), "http://b/");
    }

    #[tokio::test]
    async fn empty_input_and_a_last_line_without_newline() {
        assert!(all(lines("")).await.is_empty());
        assert!(all(lines("\n\n# only comments\n")).await.is_empty());
        let v = all(lines("http://a/")).await;
        assert_eq!(v.len(), 1);
    }

    #[tokio::test]
    async fn a_byte_order_mark_at_the_start_is_dropped_and_only_there() {
        let v = all(lines("\u{feff}http://a/\n\u{feff}http://b/\n")).await;
        assert_eq!(v[0].text, "http://a/");
        assert!(v[0].url.is_ok(), "{:?}", v[0].url);
        assert!(
            v[1].url.is_err(),
            "a mark past the start is part of the line"
        );
        // before a comment or a blank line, too
        let v = all(lines("\u{feff}# urls\nhttp://a/\n")).await;
        assert_eq!((v.len(), v[0].line), (1, 2));
        assert!(all(lines("\u{feff}\n")).await.is_empty());
    }

    #[tokio::test]
    async fn a_directory_is_refused_when_opened() {
        let e = Inputs::open(Path::new(env!("CARGO_MANIFEST_DIR")))
            .await
            .err()
            .expect("a directory is not an input file");
        assert_eq!(e.kind(), io::ErrorKind::IsADirectory);
    }

    #[tokio::test]
    async fn arguments_are_inputs_numbered_by_position() {
        let v = all(Inputs::from_args(vec![
            "http://a/".into(),
            "nope".into(),
            "".into(),
        ]))
        .await;
        assert_eq!(v.len(), 3, "every argument is an input, even an empty one");
        assert_eq!(v[1].line, 2);
        assert!(v[1].url.as_ref().unwrap_err().starts_with("argument 2: "));
        assert!(v[2].url.as_ref().unwrap_err().starts_with("argument 3: "));
    }

    #[tokio::test]
    async fn unfetched_inputs_check_only_the_scheme() {
        let mut i = lines("http://a/\n\nexample.com\nHTTPS://b/\nhttp://[::1\nftp://c/\n");
        let mut v = Vec::new();
        while let Some(u) = i.next_unfetched().await.unwrap() {
            v.push((u.index, u.line, u.bad));
        }
        assert_eq!(v.len(), 5);
        assert_eq!(v[0], (0, 1, None));
        let bad = v[1].2.as_deref().unwrap();
        assert!(bad.starts_with("line 3: not a URL (no scheme)"), "{bad}");
        assert_eq!(v[2], (2, 4, None));
        assert_eq!(v[3].2, None, "the scheme is right; the rest is not checked");
        let ftp = v[4].2.as_deref().unwrap();
        assert!(ftp.starts_with("line 6: unsupported scheme `ftp`"), "{ftp}");
    }

    fn rows(format: crate::rows::InputFormat, text: &'static str) -> Inputs {
        lines(text).with_rows(Some(Rows::new(format, "url".into(), None)))
    }

    #[tokio::test]
    async fn a_csv_header_is_not_an_input_and_an_unclosed_quote_ends_at_the_end() {
        use crate::rows::InputFormat::Csv;
        let v = all(rows(
            Csv,
            "url,n\nhttp://a/,\"1\n\n2\"\nhttp://b/,\"open\nhttp://c/\n",
        ))
        .await;
        let got: Vec<_> = v.iter().map(|i| (i.index, i.line, i.url.is_ok())).collect();
        // the second row runs from line 5 to the end: its quote never closes
        assert_eq!(got, [(0, 2, true), (1, 5, true)]);
        assert_eq!(v[0].fields.as_ref().unwrap()["n"], "1\n\n2");
        assert_eq!(v[1].fields.as_ref().unwrap()["n"], "open\nhttp://c/");
    }

    #[tokio::test]
    async fn rows_recorded_after_a_stop_still_carry_their_fields() {
        let mut i = rows(
            crate::rows::InputFormat::Jsonl,
            "{\"url\": \"http://a/\", \"k\": 1}\n",
        );
        let u = i.next_unfetched().await.unwrap().unwrap();
        assert_eq!((u.text.as_str(), u.bad), ("http://a/", None));
        assert_eq!(u.fields.unwrap()["k"], 1);
    }

    #[test]
    fn urls_need_http_or_https() {
        assert!(parse_url("http://127.0.0.1:8080/get").is_ok());
        assert!(parse_url("HTTPS://EXAMPLE.com").is_ok());
        assert!(parse_url("file:///etc/passwd").is_err());
        assert!(parse_url("mailto:a@b").is_err());
        assert!(parse_url("http://").is_err());
        assert!(parse_url("").is_err());
    }
}
