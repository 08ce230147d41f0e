//! `corral fetch`: the strategies.

use crate::cli::FetchArgs;

/// Runs `corral fetch` and returns the exit code.
pub async fn run(_args: FetchArgs) -> i32 {
    todo!()
}
