//! The synchronisation primitives of the core's lock-free and locked parts: std's, or loom's
//! when the crate's unit tests are built with `--cfg loom`, so that the models in
//! `rt/loom.rs` explore every interleaving of the real code.

#[cfg(not(all(test, loom)))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8};
#[cfg(not(all(test, loom)))]
pub(crate) use std::sync::{Mutex, MutexGuard};

#[cfg(all(test, loom))]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8};
#[cfg(all(test, loom))]
pub(crate) use loom::sync::{Mutex, MutexGuard};
