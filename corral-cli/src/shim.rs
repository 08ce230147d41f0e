//! TEMPORARY stand-in for the library's `as_completed_stream`, with the planned names, so the
//! CLI can be tested before the library lands. Delete when `corral::as_completed_stream`
//! exists.
#![allow(missing_docs, dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use corral::{Cancelled, Outcome};
use futures_util::stream::{FuturesUnordered, Stream, StreamExt};

pub struct Done<T, E> {
    pub index: usize,
    pub outcome: Outcome<T, E>,
}

type Boxed<'a, T, E> = Pin<Box<dyn Future<Output = (usize, Result<T, E>)> + 'a>>;

pub struct AsCompleted<'a, S, T, E> {
    source: Option<Pin<Box<S>>>,
    running: FuturesUnordered<Boxed<'a, T, E>>,
    indices: std::collections::BTreeSet<usize>,
    limit: usize,
    ordered: bool,
    next: usize,
    emitted: usize,
    ready: BTreeMap<usize, Outcome<T, E>>,
}

pub fn as_completed_stream<'a, S, F, T, E>(s: S) -> AsCompleted<'a, S, T, E>
where
    S: Stream<Item = F>,
    F: Future<Output = Result<T, E>> + 'a,
{
    AsCompleted {
        source: Some(Box::pin(s)),
        running: FuturesUnordered::new(),
        indices: Default::default(),
        limit: usize::MAX,
        ordered: false,
        next: 0,
        emitted: 0,
        ready: BTreeMap::new(),
    }
}

impl<'a, S, F, T, E> AsCompleted<'a, S, T, E>
where
    S: Stream<Item = F>,
    F: Future<Output = Result<T, E>> + 'a,
{
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = n.max(1);
        self
    }
    pub fn ordered(mut self) -> Self {
        self.ordered = true;
        self
    }
    pub fn remaining(&self) -> usize {
        self.running.len() + self.ready.len()
    }
    pub fn stop(&mut self) {
        self.source = None;
        self.running = FuturesUnordered::new();
        for i in std::mem::take(&mut self.indices) {
            self.ready.insert(i, Outcome::Cancelled(Cancelled::new()));
        }
    }
}

impl<'a, S, F, T, E> Stream for AsCompleted<'a, S, T, E>
where
    S: Stream<Item = F>,
    F: Future<Output = Result<T, E>> + 'a,
{
    type Item = Done<T, E>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Done<T, E>>> {
        let this = unsafe { self.get_unchecked_mut() };
        loop {
            // fill
            while let Some(src) = this.source.as_mut() {
                let room = if this.ordered {
                    this.next - this.emitted < this.limit
                } else {
                    this.running.len() < this.limit
                };
                if !room {
                    break;
                }
                match src.as_mut().poll_next(cx) {
                    Poll::Ready(Some(f)) => {
                        let i = this.next;
                        this.next += 1;
                        this.indices.insert(i);
                        this.running.push(Box::pin(async move { (i, f.await) }));
                    }
                    Poll::Ready(None) => this.source = None,
                    Poll::Pending => break,
                }
            }
            // emit ready
            if let Some((&i, _)) = this.ready.iter().next() {
                if !this.ordered || i == this.emitted {
                    let o = this.ready.remove(&i).unwrap();
                    this.emitted += 1;
                    return Poll::Ready(Some(Done { index: i, outcome: o }));
                }
            }
            match this.running.poll_next_unpin(cx) {
                Poll::Ready(Some((i, r))) => {
                    this.indices.remove(&i);
                    this.ready.insert(i, r.into());
                    continue;
                }
                Poll::Ready(None) if this.source.is_none() => {
                    if this.ready.is_empty() {
                        return Poll::Ready(None);
                    }
                    if !this.ordered {
                        continue;
                    }
                    // ordered with a gap would be a bug
                    let (&i, _) = this.ready.iter().next().unwrap();
                    this.emitted = i;
                    continue;
                }
                _ => return Poll::Pending,
            }
        }
    }
}
