//! `orrery bench`: measurements behind docs/benchmarks.md.

use clap::Subcommand;

/// Benchmarks.
#[derive(Subcommand)]
pub enum BenchCmd {
    /// Startup, boot rate, listing latency and memory of a live cloud, through HTTP.
    Api,
}

/// Runs a benchmark.
pub async fn run(cmd: BenchCmd) -> Result<(), String> {
    match cmd {
        BenchCmd::Api => Err("orrery bench api is not implemented yet".into()),
    }
}
