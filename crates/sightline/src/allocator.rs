//! The memory allocator (mimalloc) and how `serve` tunes it.

use std::os::unix::process::CommandExt;

/// Ingest allocates many small objects on request threads and frees them on the writer
/// and aggregator threads; mimalloc handles that cross-thread pattern far better than
/// glibc malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The option, read by mimalloc from the environment when the process starts.
const PURGE_DELAY: &str = "MIMALLOC_PURGE_DELAY";
/// Milliseconds freed memory stays with the process before it goes back to the system.
const SERVING_PURGE_DELAY_MS: &str = "1000";

/// Re-executes this process once with mimalloc's purge delay raised from 10 ms to 1 s,
/// unless the operator set it. Under ingest the 10 ms default hands freed pages back to
/// the kernel and faults them in again (zeroed) all the time: with 1 s the server spent
/// about 15 % less CPU per event for about 40 MB more peak memory, and still returns
/// memory a second after a burst (docs/benchmarks.md). mimalloc reads the option only at
/// start-up, before `main`, and the workspace forbids the `unsafe` call that would set it
/// later, hence the re-execution (same process id, same arguments). If it fails, the
/// server runs with the defaults.
pub fn reexec_tuned_for_serving() {
    if std::env::var_os(PURGE_DELAY).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else { return };
    let mut args = std::env::args_os();
    let mut command = std::process::Command::new(exe);
    if let Some(arg0) = args.next() {
        command.arg0(arg0);
    }
    // `exec` returns only when it failed.
    let error = command.args(args).env(PURGE_DELAY, SERVING_PURGE_DELAY_MS).exec();
    eprintln!("note: running with the allocator's defaults ({error})");
}
