//! The `kinbridge` command. Everything it does lives in the library.

/// mimalloc rather than glibc's malloc: a nested page allocates and frees tens of
/// thousands of small values (GraphQL values, rows, strings) per request, and under load
/// glibc spent about a third of the service's CPU time in malloc, free and their
/// consolidation of freed chunks (measured with `perf` on a page of 50 families).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (its position in `mi_option_e` of the mimalloc 3
/// that libmimalloc-sys 0.1.49 builds; the crate declares no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> std::process::ExitCode {
    // mimalloc 3 keeps freed pages for a second (and arenas for ten) before giving them
    // back to the system, so the resident memory of a burst of large answers stays long
    // after it: a page of 50 families at 8 connections peaked at 82-111 MiB. 10 ms (the
    // delay of mimalloc 2) peaked at 73-77 MiB in the same runs, at the same throughput;
    // giving pages back at once (0) cost a quarter more CPU on that page. An operator's
    // MIMALLOC_PURGE_DELAY, which mimalloc has read already, is left as it is.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        #[allow(unsafe_code)]
        // SAFETY: a plain store into mimalloc's option table, made before the runtime
        // starts any other thread; mimalloc ignores an option number out of range.
        unsafe {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10);
        }
    }
    kinbridge_server::main()
}
