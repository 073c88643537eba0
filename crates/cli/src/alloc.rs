//! glibc's allocator, tuned for a long-running cloud.
//!
//! With its defaults, glibc's malloc keeps a live cloud far above its live data: every tokio
//! thread gets an arena of its own whose freed pages stay mapped, and the first large buffer
//! freed (the argon2 hash of a login is 19 MiB) raises the dynamic mmap threshold for good, so
//! later response buffers fragment the heap. At 10,000 hosts and 100,000 servers that was
//! 149 MiB for about 95 MiB of data (docs/benchmarks.md, "Where the memory goes").
//!
//! The workspace forbids `unsafe`, so `mallopt` is out; glibc reads the same settings from
//! `GLIBC_TUNABLES` when a process starts. `orrery up` therefore re-executes itself once with
//! them set, keeping its pid, arguments and descriptors. A `GLIBC_TUNABLES` the user set is
//! left alone, and nothing changes on other C libraries.

/// One arena for every thread, and fixed mmap and trim thresholds of 4 MiB: a large free (the
/// argon2 hash) no longer raises them, buffers of 4 MiB or more go back to the system when
/// freed, and a listing page's transient buffers (about 3 MiB) are reused from page to page
/// instead of being mapped and faulted in again each time (which cost 128 KiB thresholds 30 %
/// of their listing speed).
pub const TUNABLES: &str = "glibc.malloc.arena_max=1:glibc.malloc.mmap_threshold=4194304:glibc.malloc.trim_threshold=4194304";

/// Re-executes the process with [`TUNABLES`] unless `GLIBC_TUNABLES` is already set. Returns
/// only when no re-exec was needed or it failed (then the process goes on untuned).
pub fn tune() {
    if !cfg!(all(target_os = "linux", target_env = "gnu")) || std::env::var_os("GLIBC_TUNABLES").is_some() {
        return;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let Ok(exe) = std::env::current_exe() else { return };
        let err = std::process::Command::new(exe).args(std::env::args_os().skip(1)).env("GLIBC_TUNABLES", TUNABLES).exec();
        tracing::warn!("could not re-execute with glibc's allocator tuned ({err}); going on with its defaults");
    }
}
