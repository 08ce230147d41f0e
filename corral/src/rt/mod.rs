//! The core: every `unsafe` block, thread-local and hand-made waker of the crate lives here,
//! and the rest of the crate is built on the safe API this module exports (`lib.rs` denies
//! `unsafe_code` everywhere else). Miri runs the library's `miri` test suite over it, loom
//! model-checks its lock-free parts (`tests/loom.rs`, under `--cfg loom`), and the whole
//! library suite runs under AddressSanitizer (see `.ci/run`).
//!
//! # What is here
//!
//! * [`scope`]: cancel scopes, the thread-local `CURRENT` that says whose body is being
//!   polled, and the owner's protocol around a body: [`Scope::enter`] (the body runs as the
//!   current scope), [`Scope::verdict`] and [`GraceTimer`] (drop it now, or let it finish its
//!   cleanup within its grace period). Tasks, timeouts and groups all drive their bodies with
//!   these three.
//! * [`task`]: a spawned task: [`TaskId`], the [`TaskCell`] that holds its body and then its
//!   outcome, the future tokio runs for it, and [`RawTask`], the one handle entitled to the
//!   outcome.
//! * [`slots`] and [`wake`]: the engine's storage. Running inputs are pinned in slots that
//!   never move; each slot id has a 16-byte waker in a shared table, and woken ids queue on a
//!   lock-free intrusive stack. The combinators' set (`set.rs`) and the task group's children
//!   (`group/running.rs`) both run on these two: one engine.
//! * [`outputs`]: results by input index, filled in any order, turned into a `Vec` in place.
//! * [`frame`]: a typed, scoped thread-local: what a task group is polling (its body or one of
//!   its children), for the groups started inside to find their parent.
//!
//! # Invariants
//!
//! Each `SAFETY` comment in this module points at one of these.
//!
//! * **I1 (current scope).** `CURRENT` holds, for the duration of one call of
//!   [`Scope::enter`], a pointer that `Arc::as_ptr` returned for the scope being entered (never
//!   one made from a reference), and the caller of `enter` holds that `Arc` for the whole
//!   call. A guard puts the previous value back when the call returns or unwinds. So
//!   [`current`] may turn the pointer back into a counted `Arc` (and `current_deadline` may
//!   read the scope through it for the length of its call).
//! * **I2 (the task's stage).** A task's body and then its outcome live in its [`TaskCell`],
//!   in an `UnsafeCell`. While the task runs, only its root future touches it, through
//!   `&mut`. tokio drops a task's future before its `JoinHandle` reports the end (the task's
//!   state transition is a release, the handle's read of it an acquire), and only the holder
//!   of the task's one `JoinHandle` ([`RawTask`], not `Clone`; or a [`KeptHandle`] inside the
//!   task's own allocation, filled only from that task's `RawTask`) touches the stage after
//!   it has seen that end. A `TaskRef` never touches it.
//! * **I3 (pinned slots).** A slot's future is written into an empty slot, polled in place,
//!   and dropped in place; slots live in boxed segments that are never moved or freed before
//!   the whole [`Slots`]. The future sits in an `UnsafeCell`, and no `&` to a slot is ever
//!   formed, so a future that points into itself keeps its pointers valid. The one exception
//!   is for `Unpin` futures (a task group's children, which are handles): they may be read by
//!   shared reference and moved out, since nothing pins them in place.
//! * **I4 (the wake table).** A waker is a pointer to its entry; every waker clone counts one
//!   reference on the entry's segment (`Arc`), and the borrowed waker the owner polls with
//!   is backed by the table's own reference. An entry is in at most one queue at a time: the
//!   claim (`not_queued` → null, a CAS) gives its `next` link to whoever queued it, and only
//!   the owner takes entries off (it swaps the whole shared stack out, so there is no pop
//!   and no ABA).
//! * **I5 (outputs).** Bit `i` of the filled set is on exactly while `values[i]` holds an
//!   initialised value.
//! * **I6 (frames).** The frame thread-local holds, for the duration of one `with_frame` call,
//!   a pointer made from the `&T` that call borrows, with `T`'s `TypeId`; a guard puts the
//!   outer frame back when the call returns or unwinds. A reader gets a `&T` only for a call
//!   that ends inside that one, and only if its `T` has the same id.
//!
//! # Lock order
//!
//! No lock here is held while another is taken, with one exception: a scope's state lock may
//! be held while the scope's `CancellationToken` is made from its parent's, and the parent's
//! lock is taken first and released before the child's (`Scope::token`). Wakers are never
//! called under a lock: a scope collects the wakers to call, releases its lock, then wakes.
//! The wake table's mutex (the owner's waker) is taken with no other lock of the core's held;
//! a task group keeps its table under the group's own state lock, which is always taken
//! first, and nothing that holds the table's mutex takes another lock.
//!
//! # Memory ordering
//!
//! * Wake table: a waker's claim is an `Acquire` CAS on the entry's `next`, pairing with the
//!   owner's `Release` store of `not_queued` when it took the entry off a queue, so the waker's
//!   writes to `next` come after the owner's last read of it. The push onto the shared stack
//!   is a `Release` CAS, and the owner's `swap` of the stack is `Acquire`, so the owner sees
//!   every link written before the push.
//! * Scopes: `requested` is a lock-free mirror of the request under the state lock, stored
//!   with `Release` after the state is written and read with `Acquire` before the state is
//!   locked; a stale `false` only delays the verdict to the next poll, which the request's
//!   wake-up of the owner guarantees.
//! * Task outcome: ordered by tokio's task state (I2); the core adds no atomics of its own
//!   for it. How a task ended (a byte in its root scope, `ended`, read by `TaskRef`s, which
//!   never touch the outcome) is stored with `Release` by the task's root before the stage
//!   is written (a panic, while the poll unwinds), and read with `Acquire`; it orders nothing
//!   but itself. A handle that has seen the end through tokio's task state sees the byte too:
//!   the root stored it before tokio marked the task complete.

#![allow(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub(crate) mod frame;
#[cfg(all(test, loom))]
mod loom;
pub(crate) mod outputs;
pub(crate) mod scope;
pub(crate) mod slots;
pub(crate) mod sync;
pub(crate) mod task;
pub(crate) mod wake;

pub(crate) use frame::{frame, with_frame};
pub(crate) use outputs::Outputs;
pub(crate) use scope::{
    current, current_deadline, GraceTimer, Payload, Scope, Verdict, DEFAULT_GRACE,
};
pub(crate) use slots::Slots;
pub(crate) use task::{unstarted, Body, End, KeptHandle, RawTask, TaskCell, TaskMeta};
pub(crate) use wake::WakeTable;
