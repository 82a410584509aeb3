//! `hbx-sa`: starts the command line (`hbx_service_accounts::cli`).

/// mimalloc instead of the system's allocator: a loaded server spends a
/// sixth of its CPU allocating and freeing (perf, benches/profiles/), which
/// glibc's malloc does more slowly (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    hbx_service_accounts::cli::main()
}
