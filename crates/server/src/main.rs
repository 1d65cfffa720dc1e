//! The `kinbridge` command. Everything it does lives in the library.

fn main() -> std::process::ExitCode {
    kinbridge_server::main()
}
