//! Task groups: [`TaskGroup`] runs a body and the children it spawns, and returns only when
//! every one of them has ended. asyncio's `TaskGroup`, Trio's nursery.
//!
//! One concern a file, in the order a group's life reads:
//!
//! * `task_group`: the [`TaskGroup`] builder, and the future [`TaskGroup::run`] returns.
//! * `spawner`: the [`Spawner`] handle the body spawns children with.
//! * `start`: [`Spawner::start`], for a child the body waits to be ready ([`TaskStatus`],
//!   [`StartError`]).
//! * `child`: a child's [`Child`] handle, the slot its outcome waits in, and what
//!   [`Spawner::children`] reports of it ([`ChildInfo`]).
//! * `cell`: a child's task allocation, its node, its waker and its future inside the task.
//! * `error`: what a group reports ([`GroupError`], [`GroupFailure`], [`Member`],
//!   [`SpawnError`], [`Reported`]).
//! * `running`: the group's shared state and the state machine that runs it.
//! * `tree`: the tree of running groups ([`group_tree`], [`Spawner::tree`]), and the
//!   thread-local that tells a group which group and member it was started in.

mod cell;
mod child;
mod error;
mod running;
mod spawner;
mod start;
mod task_group;
mod tree;

pub use child::{Child, ChildInfo};
pub use error::{GroupError, GroupFailure, Member, Reported, SpawnError};
pub use spawner::Spawner;
pub use start::{StartError, TaskStatus};
pub use task_group::TaskGroup;
pub use tree::group_tree;
