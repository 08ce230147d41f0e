//! `-k`'s reorder buffer: records put back into input order behind a slow request.

use std::collections::VecDeque;

use crate::record::Record;

/// `-k`'s reorder buffer: finished records wait here until every earlier one is written.
/// Indexed by the order inputs were pulled into the stream (the run's own inputs, which with
/// `--shard` skip others), from the next record to write; it never holds more than the
/// window the input stream keeps to (`Plan::reorder`), because no input is pulled beyond it.
#[derive(Default)]
pub struct Reorder {
    /// The pull position of `waiting[0]`: the next record to write.
    pub next: u64,
    waiting: VecDeque<Option<Record>>,
    /// Records waiting.
    pub held: usize,
}

impl Reorder {
    /// An empty buffer, expecting the record pulled first.
    pub fn new() -> Self {
        Reorder {
            next: 0,
            waiting: VecDeque::new(),
            held: 0,
        }
    }

    /// Holds `r`, the record of the input pulled at position `pulled`.
    pub fn insert(&mut self, pulled: u64, r: Record) {
        let at = (pulled - self.next) as usize;
        if self.waiting.len() <= at {
            self.waiting.resize_with(at + 1, || None);
        }
        self.waiting[at] = Some(r);
        self.held += 1;
    }

    /// The next record in input order, if it has finished.
    pub fn pop(&mut self) -> Option<Record> {
        let r = self.waiting.front_mut()?.take()?;
        self.waiting.pop_front();
        self.next += 1;
        self.held -= 1;
        Some(r)
    }
}
