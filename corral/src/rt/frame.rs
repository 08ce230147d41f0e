//! A value borrowed from a poller for the length of one call, that code polled inside the call
//! can see: a scoped thread-local, typed. A task group sets its frame while it polls its body or
//! a child, so that a group started there can hang itself under it in the tree, without a clone
//! of anything per poll. Invariant I6 of the [module doc](super) is the one this file keeps.

use std::any::TypeId;
use std::cell::Cell;

thread_local! {
    // The frame of the innermost `with_frame` call running on this thread, and its type; null
    // outside any (I6).
    static FRAME: Cell<(*const (), Option<TypeId>)> = const { Cell::new((std::ptr::null(), None)) };
}

/// Runs `f` with `frame` visible to [`frame`] on this thread.
pub(crate) fn with_frame<T: 'static, R>(frame: &T, f: impl FnOnce() -> R) -> R {
    /// Puts the outer frame back, also when `f` unwinds.
    struct Restore((*const (), Option<TypeId>));
    impl Drop for Restore {
        fn drop(&mut self) {
            FRAME.with(|c| c.set(self.0));
        }
    }
    let me = (frame as *const T as *const (), Some(TypeId::of::<T>()));
    let _restore = Restore(FRAME.with(|c| c.replace(me)));
    f()
}

/// Calls `f` with the frame of the innermost [`with_frame`] call running on this thread, if
/// there is one and it is a `T`.
pub(crate) fn frame<T: 'static, R>(f: impl FnOnce(Option<&T>) -> R) -> R {
    let (p, ty) = FRAME.with(|c| c.get());
    if p.is_null() || ty != Some(TypeId::of::<T>()) {
        return f(None);
    }
    // SAFETY: (I6) a non-null pointer is the frame of a `with_frame` call still running on this
    // thread (it puts the outer one back when it returns or unwinds), so the `&T` it was made
    // from is alive for this call, which ends before that one; its type is `T` (the ids match).
    f(Some(unsafe { &*(p as *const T) }))
}
