//! The state behind a [`Limiter`](super::Limiter)'s lock: the permit counts, and the FIFO of
//! waiters, kept in a slab so that a waiter that goes away is unlinked in O(1).

use std::task::Waker;

pub(super) const NIL: usize = usize::MAX;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum NodeState {
    Free,
    /// In the queue, not served yet.
    Waiting,
    /// Handed a permit, out of the queue, not yet picked up by its future.
    Granted,
}

pub(super) struct Node {
    prev: usize,
    next: usize,
    pub(super) state: NodeState,
    pub(super) waker: Option<Waker>,
}

/// Invariant: `available + granted + held + forgotten == total + debt`, where `held` counts
/// live [`Permit`](super::Permit)s and [`OwnedPermit`](super::OwnedPermit)s; and
/// `available > 0` implies no node is `Waiting`.
pub(super) struct State {
    pub(super) total: usize,
    pub(super) available: usize,
    /// Permits to swallow as they come back, after the total was shrunk below what is out.
    pub(super) debt: usize,
    /// Permits whose guards were [forgotten](super::Permit::forget): what `release` may put back.
    pub(super) forgotten: usize,
    /// Nodes in the `Granted` state.
    pub(super) granted: usize,
    /// Nodes in the `Waiting` state (the queue's length).
    waiting: usize,
    head: usize,
    tail: usize,
    pub(super) nodes: Vec<Node>,
    free: Vec<usize>,
}

impl State {
    pub(super) fn new(permits: usize) -> State {
        State {
            total: permits,
            available: permits,
            debt: 0,
            forgotten: 0,
            granted: 0,
            waiting: 0,
            head: NIL,
            tail: NIL,
            nodes: Vec::new(),
            free: Vec::new(),
        }
    }

    pub(super) fn insert(&mut self, state: NodeState, waker: Option<Waker>) -> usize {
        let node = Node {
            prev: NIL,
            next: NIL,
            state,
            waker,
        };
        match self.free.pop() {
            Some(id) => {
                self.nodes[id] = node;
                id
            }
            None => {
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        }
    }

    pub(super) fn release_node(&mut self, id: usize) {
        self.nodes[id].state = NodeState::Free;
        self.nodes[id].waker = None;
        self.free.push(id);
        // Keep the slab from growing forever after a burst of waiters.
        if self.free.len() == self.nodes.len() {
            self.nodes.clear();
            self.free.clear();
        }
    }

    pub(super) fn push_back(&mut self, id: usize) {
        self.nodes[id].prev = self.tail;
        self.nodes[id].next = NIL;
        if self.tail == NIL {
            self.head = id;
        } else {
            self.nodes[self.tail].next = id;
        }
        self.tail = id;
        self.waiting += 1;
    }

    pub(super) fn unlink(&mut self, id: usize) {
        let Node { prev, next, .. } = self.nodes[id];
        if prev == NIL {
            self.head = next;
        } else {
            self.nodes[prev].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.nodes[next].prev = prev;
        }
        self.waiting -= 1;
    }

    /// Hands a permit to the oldest waiter. Returns its waker, to wake after unlocking.
    pub(super) fn grant_head(&mut self) -> Option<Waker> {
        let id = self.head;
        if id == NIL {
            return None;
        }
        self.unlink(id);
        self.nodes[id].state = NodeState::Granted;
        self.granted += 1;
        // A waiter always has a waker; the `Option` is only empty for Free and Granted nodes.
        self.nodes[id].waker.take()
    }

    /// One permit comes back: it pays off a shrink, or goes to the oldest waiter, or becomes
    /// free. Returns a waker to wake after unlocking.
    pub(super) fn give_back(&mut self) -> Option<Waker> {
        if self.debt > 0 {
            self.debt -= 1;
            return None;
        }
        if self.head != NIL {
            return self.grant_head();
        }
        self.available += 1;
        None
    }

    pub(super) fn waiters(&self) -> usize {
        self.waiting + self.granted
    }
}
