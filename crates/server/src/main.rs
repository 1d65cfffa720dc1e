//! The `kinbridge` command. Everything it does lives in the library.

/// mimalloc rather than glibc's malloc: a nested page allocates and frees tens of
/// thousands of small values (GraphQL values, rows, strings) per request, and under load
/// glibc spent about a third of the service's CPU time in malloc, free and their
/// consolidation of freed chunks (measured with `perf` on a page of 50 families).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    kinbridge_server::main()
}
