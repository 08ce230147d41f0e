//! The `corral` command. Everything lives in the library crate's modules; see `lib.rs`.

fn main() {
    std::process::exit(corral_cli::main());
}
