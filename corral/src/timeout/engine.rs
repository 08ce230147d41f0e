//! The deadline engine shared by [`Timeout`](super::Timeout) and
//! [`WaitFor`](crate::WaitFor): [`Core`] polls a body in place inside a cancel scope of its
//! own, watches the deadline, and asks the body to stop when it passes.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use crate::outcome::Cancelled;
use crate::rt::{GraceTimer, Scope, DEFAULT_GRACE};

use super::deadline::{Deadline, ExitGuard};
use super::Elapsed;

pin_project_lite::pin_project! {
    #[project = BodyProj]
    #[project_replace = BodyReplace]
    pub(crate) enum Body<F> {
        Running { #[pin] fut: F },
        Done,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The deadline has not passed.
    Watching,
    /// The deadline passed and this scope asked its body to stop.
    Fired,
    /// The deadline passed and the work (a task) was asked to stop; waiting for it to end.
    Stopping,
    /// The deadline passed together with an outer scope's: the outer one stops the body and
    /// reports; this one lets the cancellation pass.
    PassedThrough,
}

fn never_stops<F>(_: Pin<&mut F>) -> bool {
    false
}

pin_project_lite::pin_project! {
    /// Polls `body` in place inside a cancel scope of its own, against a deadline.
    pub(crate) struct Core<F> {
        #[pin]
        body: Body<F>,
        scope: Option<Arc<Scope>>,
        pub(crate) grace: Duration,
        mode: Mode,
        // wait_for with a zero timeout: expire before the first poll of the body.
        pub(crate) expire_first: bool,
        // The deadline was seen to pass, and the scope yielded to the scheduler once, so that
        // work finishing at that very instant (a task woken by the same timer tick) is polled
        // first: what finishes at the deadline counts as finished, wherever the scope runs.
        settling: bool,
        sleep: Option<Pin<Box<Sleep>>>,
        armed_for: Option<Instant>,
        grace_timer: GraceTimer,
        // Asks work that runs elsewhere (a task) to stop; false: drop the body instead.
        pub(crate) request_stop: fn(Pin<&mut F>) -> bool,
        // Declared last: dropped after the body, so the phase changes once it is gone.
        pub(crate) exit: ExitGuard,
    }
}

/// What [`Core`] ends with: the body's output, and whether the work was asked to stop by
/// [`Awaitable::request_stop`](crate::Awaitable::request_stop) before producing it; or `Elapsed`.
pub(crate) type CoreOutput<O> = Result<(O, bool), Elapsed>;

impl<F> Core<F> {
    pub(crate) fn new(body: Body<F>, deadline: Deadline) -> Self {
        Core {
            body,
            scope: None,
            grace: DEFAULT_GRACE,
            mode: Mode::Watching,
            expire_first: false,
            settling: false,
            sleep: None,
            armed_for: None,
            grace_timer: GraceTimer::default(),
            request_stop: never_stops::<F>,
            exit: ExitGuard(deadline),
        }
    }
}

impl<F: Future> Core<F> {
    /// Before the first poll: takes the body's output if `ready` finds it without running any
    /// of the caller's code (a finished task), and drops the body. The scope is never entered.
    pub(crate) fn take_ready(
        self: Pin<&mut Self>,
        ready: fn(Pin<&mut F>) -> Option<F::Output>,
    ) -> Option<F::Output> {
        let mut this = self.project();
        let out = match this.body.as_mut().project() {
            BodyProj::Running { fut } => ready(fut)?,
            BodyProj::Done => return None,
        };
        this.body.project_replace(Body::Done);
        Some(out)
    }
}

impl<F: Future> Future for Core<F> {
    type Output = CoreOutput<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let deadline = &this.exit.0;
        let scope = match this.scope {
            Some(s) => s.clone(),
            None => {
                // Entering: the scope nests in whatever scope polls us now.
                let s = Scope::nested();
                deadline.enter(&s);
                *this.scope = Some(s.clone());
                s
            }
        };
        deadline.set_waker(cx.waker());
        scope.set_owner_waker(cx.waker());

        // Drops the body in place (its destructors run now) and reports the expiry.
        macro_rules! elapsed {
            () => {{
                this.body.as_mut().project_replace(Body::Done);
                deadline.exit();
                return Poll::Ready(Err(Elapsed::new()));
            }};
        }

        if *this.mode == Mode::Fired
            && this
                .grace_timer
                .must_stop(&scope, Some(*this.grace), cx)
                .is_some()
        {
            elapsed!();
        }

        if std::mem::take(this.expire_first) && *this.mode == Mode::Watching {
            deadline.set_expiring();
            let asked = match this.body.as_mut().project() {
                BodyProj::Running { fut } => (this.request_stop)(fut),
                BodyProj::Done => false,
            };
            if asked {
                *this.mode = Mode::Stopping;
            } else {
                // A zero wait_for never starts a plain future.
                *this.mode = Mode::Fired;
                scope.request(Cancelled::new());
                elapsed!();
            }
        }

        let polled = match this.body.as_mut().project() {
            BodyProj::Running { fut } => scope.enter(|| fut.poll(cx)),
            BodyProj::Done => panic!("corral timeout polled after completion"),
        };
        if let Poll::Ready(out) = polled {
            this.body.as_mut().project_replace(Body::Done);
            // A request the body never saw (or handed back) stands: the scope expired.
            if *this.mode == Mode::Fired && scope.finished_verdict().is_some() {
                deadline.exit();
                return Poll::Ready(Err(Elapsed::new()));
            }
            deadline.exit();
            return Poll::Ready(Ok((out, *this.mode == Mode::Stopping)));
        }

        if *this.mode == Mode::Watching {
            // `waited`: the scope armed a timer for this deadline, so the deadline arrived
            // while it waited (a tie is possible). A deadline already past when the scope
            // first saw it (zero, or rescheduled into the past) fires at once, as in asyncio.
            let (due, waited) = match deadline.when() {
                None => {
                    *this.sleep = None;
                    (false, false)
                }
                Some(when) if when <= Instant::now() => (true, *this.armed_for == Some(when)),
                Some(when) => {
                    let sleep = this
                        .sleep
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(when)));
                    if *this.armed_for != Some(when) {
                        sleep.as_mut().reset(when);
                        *this.armed_for = Some(when);
                    }
                    (sleep.as_mut().poll(cx).is_ready(), true)
                }
            };
            if due && waited && !std::mem::replace(this.settling, true) {
                // The tie rule (see the crate docs): yield once, then decide. The body is
                // polled again first on the next poll, after the tasks this tick woke.
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            if due {
                *this.sleep = None;
                deadline.set_expiring();
                if scope.outer_doomed(Instant::now()) {
                    *this.mode = Mode::PassedThrough;
                } else {
                    let asked = match this.body.as_mut().project() {
                        BodyProj::Running { fut } => (this.request_stop)(fut),
                        BodyProj::Done => false,
                    };
                    if asked {
                        *this.mode = Mode::Stopping;
                    } else {
                        *this.mode = Mode::Fired;
                        // The owner's waker stays registered (see `Scope::request`).
                        scope.request(Cancelled::new());
                    }
                }
            }
        }

        if *this.mode == Mode::Fired
            && this
                .grace_timer
                .must_stop(&scope, Some(*this.grace), cx)
                .is_some()
        {
            elapsed!();
        }
        Poll::Pending
    }
}

pub(crate) fn instant_after(d: Option<Duration>) -> Option<Instant> {
    // A deadline too far away to represent never fires.
    d.and_then(|d| Instant::now().checked_add(d))
}
