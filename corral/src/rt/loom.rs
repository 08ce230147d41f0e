//! loom models of the core's concurrent parts, run by `.ci/run` as
//! `RUSTFLAGS="--cfg loom" cargo test -p tokio-corral --lib --release rt::loom`. Under `--cfg loom`
//! the core's atomics and mutexes are loom's (see `rt/sync.rs`), so each model explores every
//! interleaving of the real code up to a preemption bound; a lost wake-up shows as a deadlock,
//! a double queueing as a failed assertion.
//!
//! Not modelled here: the task cell's hand-over from the task to its handle rests on tokio's
//! `JoinHandle` ordering (tokio's own loom suite checks it; Miri and ASan run our side of it),
//! and the slots' free list is touched by the engine's owner alone.

use std::future::{poll_fn, Future};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;

use loom::future::block_on;
use loom::thread;

use crate::limit::Limiter;
use crate::outcome::Cancelled;
use crate::rt::scope::{Scope, Verdict};
use crate::rt::wake::WakeTable;

/// Runs `f` under loom with a preemption bound that keeps each model to seconds.
fn model(f: impl Fn() + Send + Sync + 'static) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(3);
    b.check(f);
}

#[test]
fn wake_table_polls_every_wake_up_once_and_never_loses_the_owners_wake() {
    model(|| {
        let mut table = WakeTable::new();
        table.grow(2);
        // Two slot wakers, as a future polled in slots 0 and 1 would keep them.
        table.schedule(0);
        table.schedule(1);
        let (a, wa) = table.pop().expect("slot 0 was queued");
        let wa = (*wa).clone();
        let (b, wb) = table.pop().expect("slot 1 was queued");
        let wb = (*wb).clone();
        assert_eq!((a, b), (0, 1));
        let waker = thread::spawn(move || {
            wa.wake();
            wb.wake_by_ref();
        });
        let mut seen = [0; 2];
        block_on(poll_fn(|cx| {
            table.register(cx.waker());
            table.collect();
            while let Some((id, _waker)) = table.pop() {
                seen[id] += 1;
            }
            if seen.iter().all(|&n| n > 0) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }));
        waker.join().unwrap();
        table.collect();
        assert!(table.pop().is_none(), "a wake-up was queued twice");
        assert_eq!(seen, [1, 1]);
    });
}

#[test]
fn wake_table_queues_a_slot_woken_twice_once() {
    model(|| {
        let mut table = WakeTable::new();
        table.grow(1);
        table.schedule(0);
        let (_, w) = table.pop().expect("slot 0 was queued");
        let (w1, w2) = ((*w).clone(), (*w).clone());
        let t1 = thread::spawn(move || w1.wake());
        let t2 = thread::spawn(move || w2.wake());
        t1.join().unwrap();
        t2.join().unwrap();
        table.collect();
        assert_eq!(table.pop().map(|(id, _)| id), Some(0));
        assert!(table.pop().is_none(), "one slot, queued once");
    });
}

#[test]
fn a_request_to_stop_always_reaches_the_scopes_owner() {
    model(|| {
        let scope = Scope::boundary();
        let requester = {
            let scope = scope.clone();
            thread::spawn(move || {
                scope.request(Cancelled::with_message("stop"));
            })
        };
        // The owner's protocol: register the waker, then ask the verdict. A request that
        // lands in between must wake it (or loom reports a deadlock).
        let why = block_on(poll_fn(|cx| {
            scope.set_owner_waker(cx.waker());
            match scope.verdict(None) {
                Verdict::Stop(why) => Poll::Ready(why),
                Verdict::Continue(_) => Poll::Pending,
            }
        }));
        assert_eq!(why.message(), Some("stop"));
        requester.join().unwrap();
    });
}

#[test]
fn limiter_hands_its_permit_over_and_never_exceeds_it() {
    model(|| {
        let limiter = Arc::new(Limiter::new(1));
        let inside = Arc::new(AtomicUsize::new(0));
        let worker = |limiter: Arc<Limiter>, inside: Arc<AtomicUsize>| {
            block_on(async move {
                let _permit = limiter.acquire_owned().await;
                assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                inside.fetch_sub(1, Ordering::SeqCst);
            })
        };
        let t = {
            let (l, i) = (limiter.clone(), inside.clone());
            thread::spawn(move || worker(l, i))
        };
        worker(limiter.clone(), inside.clone());
        t.join().unwrap();
        assert_eq!(limiter.available(), 1);
    });
}

#[test]
fn limiter_takes_back_a_permit_granted_to_a_waiter_that_left() {
    model(|| {
        let limiter = Arc::new(Limiter::new(1));
        let held = block_on(limiter.clone().acquire_owned());
        let leaver = {
            let limiter = limiter.clone();
            thread::spawn(move || {
                // Queue, maybe be granted the permit, then leave without taking it.
                let mut acquire = Box::pin(limiter.acquire_owned());
                block_on(poll_fn(|cx| {
                    let _ = acquire.as_mut().poll(cx);
                    Poll::Ready(())
                }));
            })
        };
        drop(held);
        leaver.join().unwrap();
        assert_eq!(limiter.available(), 1, "the permit came back");
    });
}
