//! The header names of each HTTP/1 request as the client wrote them.
//!
//! hyper lower-cases header names (its way of keeping their case is not public), while
//! httpbin's users expect `User-Agent` back when they sent `User-Agent`. So the bytes a
//! connection reads are also fed to a [`Sniffer`], which follows the requests' framing (heads,
//! `Content-Length` and chunked bodies) just far enough to pick out each head's names, in order
//! and with their case. hyper reads the same bytes in the same order and hands the requests to
//! the handlers in that order, so the n-th head found belongs to the n-th request handled.
//! Whatever the sniffer cannot follow (an upgrade, a malformed or huge head, HTTP/2) turns it
//! off for the connection; the names are then shown as hyper has them, lower-case.

/// The header names of one request, as sent, in the order sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WireNames(pub Vec<String>);

/// The longest head the sniffer keeps; hyper's own limit is larger, but such heads are not
/// worth the memory (their names are then shown lower-case).
const MAX_HEAD: usize = 64 * 1024;

/// The most header lines a head may have for the sniffer (hyper's default is 100).
const MAX_HEADERS: usize = 128;

/// Where the sniffer is in the byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In a request head (or before one).
    Head,
    /// In a body of known length: this many bytes left.
    Body(u64),
    /// Reading a chunk-size line.
    ChunkSize,
    /// In a chunk: this many bytes left, its closing CRLF included.
    Chunk(u64),
    /// Reading the trailer lines after the last chunk.
    Trailers,
    /// Lost (or no longer HTTP/1): looks at nothing more.
    Off,
}

/// Follows one connection's HTTP/1 requests through its bytes; see the module's doc.
#[derive(Debug)]
pub struct Sniffer {
    state: State,
    /// The head so far, or the current chunk-size or trailer line.
    buf: Vec<u8>,
}

impl Default for Sniffer {
    fn default() -> Self {
        Sniffer {
            state: State::Head,
            buf: Vec::new(),
        }
    }
}

impl Sniffer {
    /// Follows `bytes`, the next ones read from the connection, and calls `found` with the
    /// names of each request head completed in them.
    pub fn feed(&mut self, mut bytes: &[u8], found: &mut dyn FnMut(WireNames)) {
        while !bytes.is_empty() {
            match self.state {
                State::Off => return,
                State::Body(left) | State::Chunk(left) => {
                    let n = left.min(bytes.len() as u64);
                    bytes = &bytes[n as usize..];
                    self.state = match (self.state, left - n) {
                        (State::Body(_), 0) => State::Head,
                        (State::Body(_), left) => State::Body(left),
                        (_, 0) => State::ChunkSize,
                        (_, left) => State::Chunk(left),
                    };
                }
                State::Head | State::ChunkSize | State::Trailers => {
                    let (line, rest) = match bytes.iter().position(|&b| b == b'\n') {
                        Some(i) => (&bytes[..=i], &bytes[i + 1..]),
                        None => (bytes, &[][..]),
                    };
                    bytes = rest;
                    if self.buf.len() + line.len() > MAX_HEAD {
                        self.off();
                        return;
                    }
                    self.buf.extend_from_slice(line);
                    if self.buf.ends_with(b"\n") {
                        self.line_done(found);
                    }
                }
            }
        }
    }

    fn off(&mut self) {
        self.state = State::Off;
        self.buf = Vec::new();
    }

    /// `buf` ends with a complete line: act on it.
    fn line_done(&mut self, found: &mut dyn FnMut(WireNames)) {
        let empty = self.buf.ends_with(b"\n\n")
            || self.buf.ends_with(b"\n\r\n")
            || self.buf == b"\n"
            || self.buf == b"\r\n";
        match self.state {
            // Empty lines before a request line are skipped, as hyper does.
            State::Head if self.buf == b"\n" || self.buf == b"\r\n" => self.buf.clear(),
            State::Head if empty => {
                self.state = self.head_done(found);
                self.buf.clear();
            }
            State::Head => {}
            State::ChunkSize => {
                let line = String::from_utf8_lossy(&self.buf);
                let size = line
                    .split([';', ' ', '\t', '\r', '\n'])
                    .next()
                    .unwrap_or("");
                self.state = match u64::from_str_radix(size, 16) {
                    Ok(0) => State::Trailers,
                    Ok(n) => State::Chunk(n.saturating_add(2)),
                    Err(_) => State::Off,
                };
                self.buf.clear();
            }
            State::Trailers => {
                if self.buf == b"\n" || self.buf == b"\r\n" {
                    self.state = State::Head;
                }
                self.buf.clear();
            }
            State::Body(_) | State::Chunk(_) | State::Off => {}
        }
        if self.state == State::Off {
            self.off();
        }
    }

    /// A complete head is in `buf`: reports its names and says how its body is framed.
    fn head_done(&mut self, found: &mut dyn FnMut(WireNames)) -> State {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&self.buf) {
            Ok(httparse::Status::Complete(_)) => {}
            _ => return State::Off,
        }
        let has = |name: &str| {
            request
                .headers
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case(name))
        };
        let values = |name: &str| -> Vec<String> {
            request
                .headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| String::from_utf8_lossy(h.value).into_owned())
                .collect()
        };
        found(WireNames(
            request.headers.iter().map(|h| h.name.to_owned()).collect(),
        ));
        if request.method == Some("CONNECT") || has("upgrade") {
            // What follows may not be HTTP/1 at all.
            return State::Off;
        }
        let codings = values("transfer-encoding");
        if !codings.is_empty() {
            let last = codings.join(",");
            let last = last.rsplit(',').next().unwrap_or("").trim();
            if last.eq_ignore_ascii_case("chunked") {
                State::ChunkSize
            } else {
                State::Off
            }
        } else if has("content-length") {
            match values("content-length")
                .first()
                .map(|v| v.trim().parse::<u64>())
            {
                Some(Ok(0)) => State::Head,
                Some(Ok(n)) => State::Body(n),
                _ => State::Off,
            }
        } else {
            State::Head
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `step` bytes and returns every head's names.
    fn sniff(input: &[u8], step: usize) -> Vec<Vec<String>> {
        let mut s = Sniffer::default();
        let mut out = Vec::new();
        for piece in input.chunks(step) {
            s.feed(piece, &mut |n| out.push(n.0));
        }
        out
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn heads_are_found_across_bodies_of_every_framing_in_any_pieces() {
        let input = b"\r\nGET /a HTTP/1.1\r\nHost: x\r\nX-Mixed-Case: 1\r\n\r\n\
            POST /b HTTP/1.1\r\nContent-Length: 11\r\nUSER-agent: u\r\n\r\nHost: fake\n\n\
            POST /c HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n\
            5;ext=1\r\nHost:\r\n0\r\nTrailer-Name: t\r\n\r\n\
            GET /d HTTP/1.0\nAccept: */*\n\n";
        let expected = vec![
            names(&["Host", "X-Mixed-Case"]),
            names(&["Content-Length", "USER-agent"]),
            names(&["transfer-encoding"]),
            names(&["Accept"]),
        ];
        for step in [1, 2, 3, 7, 64, input.len()] {
            assert_eq!(sniff(input, step), expected, "pieces of {step}");
        }
    }

    #[test]
    fn what_cannot_be_followed_turns_the_sniffer_off() {
        let h2 = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nGET / HTTP/1.1\r\nA: 1\r\n\r\n";
        assert!(sniff(h2, 5).is_empty(), "HTTP/2");
        let upgrade = b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\nGET / HTTP/1.1\r\nA: 1\r\n\r\n";
        assert_eq!(sniff(upgrade, 9), vec![names(&["Upgrade"])], "upgrade");
        let bad_length =
            b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\nGET / HTTP/1.1\r\nA: 1\r\n\r\n";
        assert_eq!(sniff(bad_length, 4), vec![names(&["Content-Length"])]);
        let mut huge = b"GET / HTTP/1.1\r\nA: ".to_vec();
        huge.extend(std::iter::repeat_n(b'a', MAX_HEAD));
        huge.extend_from_slice(b"\r\n\r\nGET / HTTP/1.1\r\nB: 1\r\n\r\n");
        assert!(sniff(&huge, 1000).is_empty(), "a head past the limit");
    }
}
