//! A connection's socket, wrapped so that the server can act below HTTP and see what HTTP
//! hides:
//!
//! * `/garbage` flips the wrapper into writing bytes that are not HTTP instead of hyper's
//!   response, then closing; `/reset` makes the connection close with a TCP reset;
//! * the bytes read are watched for the HTTP/2 preface (the connection has then started: see
//!   [`Shared::started`]) and, on HTTP/1, for each request's header names as they were sent
//!   ([`wire`](super::wire)), which hyper lower-cases.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::wire::{Sniffer, WireNames};

/// What `/garbage` sends instead of an HTTP response.
const GARBAGE: &[u8] = b"this is not HTTP \x00\xff\xfe{{{\r\n\r\n";

/// What an HTTP/2 client sends first ("prior knowledge", RFC 9113 section 3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// At most this many request heads wait for their handler (pipelined requests); more are not
/// kept, and their headers are shown lower-case.
const MAX_QUEUED_HEADS: usize = 64;

/// What a connection's socket and its request handlers share.
#[derive(Default)]
pub(super) struct Shared {
    /// `/garbage` was asked for: write garbage instead of the response.
    pub(super) garbage: AtomicBool,
    /// `/reset` was asked for: close with a reset.
    pub(super) reset: AtomicBool,
    /// A request has reached the handlers, or the client sent the HTTP/2 preface: the
    /// connection is past the point where a client that sends nothing is cut off.
    pub(super) started: AtomicBool,
    /// The header names of the HTTP/1 requests read and not yet handled, oldest first.
    heads: Mutex<VecDeque<WireNames>>,
}

impl Shared {
    /// The header names of the next HTTP/1 request, as sent, if the socket saw them.
    pub(super) fn next_names(&self) -> Option<WireNames> {
        self.heads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front()
    }

    fn push_names(&self, names: WireNames) {
        let mut heads = self.heads.lock().unwrap_or_else(|e| e.into_inner());
        if heads.len() < MAX_QUEUED_HEADS {
            heads.push_back(names);
        }
    }
}

/// The service error that makes hyper drop a connection without answering (`/reset`).
#[derive(Debug)]
pub(super) struct Fault;

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset on request")
    }
}

impl std::error::Error for Fault {}

/// A connection's socket, wrapped.
pub(super) struct Conn {
    inner: TcpStream,
    shared: Arc<Shared>,
    garbage_sent: usize,
    shut: bool,
    /// How much of the HTTP/2 preface the client has sent; `None` once it is known whether
    /// it did.
    preface: Option<usize>,
    sniffer: Sniffer,
}

impl Conn {
    pub(super) fn new(inner: TcpStream) -> Self {
        Conn {
            inner,
            shared: Arc::default(),
            garbage_sent: 0,
            shut: false,
            preface: Some(0),
            sniffer: Sniffer::default(),
        }
    }

    /// What this connection's handlers share with it.
    pub(super) fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Looks at bytes just read: for the HTTP/2 preface, and for HTTP/1 header names.
    fn watch(&mut self, bytes: &[u8]) {
        if let Some(seen) = self.preface {
            let n = bytes.len().min(H2_PREFACE.len() - seen);
            self.preface = if bytes[..n] != H2_PREFACE[seen..seen + n] {
                None
            } else if seen + n == H2_PREFACE.len() {
                self.shared.started.store(true, Ordering::Release);
                None
            } else {
                Some(seen + n)
            };
        }
        let shared = &self.shared;
        self.sniffer
            .feed(bytes, &mut |names| shared.push_names(names));
    }

    /// Writes the garbage (once) and closes the write side; reports `len` as written so hyper
    /// believes its response went out.
    fn poll_garbage(&mut self, cx: &mut Context<'_>, len: usize) -> Poll<io::Result<usize>> {
        while self.garbage_sent < GARBAGE.len() {
            let n =
                ready!(Pin::new(&mut self.inner).poll_write(cx, &GARBAGE[self.garbage_sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.garbage_sent += n;
        }
        if !self.shut {
            ready!(Pin::new(&mut self.inner).poll_shutdown(cx))?;
            self.shut = true;
        }
        Poll::Ready(Ok(len))
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if self.shared.reset.load(Ordering::Acquire) {
            // Linger 0 makes close send RST instead of FIN; it does not block for zero.
            #[allow(deprecated)]
            let _ = self.inner.set_linger(Some(Duration::ZERO));
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        let read = &buf.filled()[before..];
        if !read.is_empty() {
            self.watch(read);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.shared.garbage.load(Ordering::Acquire) {
            return self.poll_garbage(cx, buf.len());
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.shared.garbage.load(Ordering::Acquire) {
            let len = bufs.iter().map(|b| b.len()).sum();
            return self.poll_garbage(cx, len);
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.shut {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
