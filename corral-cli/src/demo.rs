//! `corral demo`.

use crate::cli::DemoArgs;

/// Runs `corral demo` and returns the exit code.
pub async fn run(_args: DemoArgs) -> i32 {
    todo!()
}
