//! The `orrery` command line: `up` runs the live cloud, `sim` runs experiments, `chaos` and
//! `status` break and watch a running cloud, `bench` measures.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod alloc;
mod bench;
mod chaos;
mod remote;
mod sim;

/// A working model of a whole cloud datacenter on one machine.
#[derive(Parser)]
#[command(name = "orrery", version, about, long_about = None, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

const EXAMPLES: &str = "Examples:
  orrery up                                  # a cloud on the embedded default topology
  orrery up --data-dir /tmp/c1 --listen 127.0.0.1:9000 --topology etc/topology.example.toml
  OS_CLIENT_CONFIG_FILE=~/.local/share/orrery/clouds.yaml openstack --os-cloud orrery server list
  orrery sim examples/experiment.toml --out out/
  orrery chaos fail rack az1-r01             # then: orrery status
  orrery bench api --hosts 1000 --servers 10000";

#[derive(Subcommand)]
enum Cmd {
    /// Run a live cloud with OpenStack-compatible APIs.
    #[command(after_help = "Examples:
  orrery up
  orrery up --data-dir ./mycloud --listen 0.0.0.0:8080
  orrery up --topology etc/topology.example.toml --time-scale 10

Starting again on the same --data-dir brings the same cloud back. One cloud serves from a
data directory at a time; a directory that held a cloud and lost part of it is refused with
what is missing (see docs/operations.md).")]
    Up(UpArgs),
    /// Run an experiment file in virtual time and write its report.
    #[command(after_help = sim::SIM_EXAMPLES)]
    Sim(sim::SimArgs),
    /// Fail, recover or maintain hosts, racks, zones and regions of a running cloud.
    #[command(subcommand, after_help = chaos::CHAOS_EXAMPLES)]
    Chaos(chaos::ChaosCmd),
    /// Show a running cloud's health at a glance.
    #[command(after_help = chaos::STATUS_EXAMPLES)]
    Status(chaos::StatusArgs),
    /// Copy a cloud's data directory consistently, even while it serves writes.
    #[command(after_help = "Examples:
  orrery backup ~/.local/share/orrery ./cloud-backup
  orrery up --data-dir ./cloud-backup          # restore: serve the copy

The copy is checked by opening it as `orrery up` would; its last journal entry and state
hash are printed. See docs/operations.md.")]
    Backup(BackupArgs),
    /// Measure orrery: API throughput, listing latency, memory.
    #[command(subcommand)]
    Bench(bench::BenchCmd),
}

#[derive(clap::Args)]
struct BackupArgs {
    /// The data directory to copy (the cloud may be running).
    data_dir: PathBuf,
    /// Where to write the copy: a new or empty directory.
    out: PathBuf,
}

#[derive(clap::Args)]
struct UpArgs {
    /// Where the cloud keeps its journal, snapshots and clouds.yaml.
    #[arg(long, env = "ORRERY_DATA_DIR", default_value_os_t = default_data_dir())]
    data_dir: PathBuf,
    /// Address to serve every API on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Topology file for a new cloud (default: the embedded 32-host topology).
    #[arg(long)]
    topology: Option<PathBuf>,
    /// Kernel seconds per wall-clock second (10 makes an 8 s boot take 0.8 s).
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// What runs instances: `sim` models them without processes.
    #[arg(long, default_value = "sim")]
    driver: String,
    /// Journal entries between snapshots.
    #[arg(long, default_value_t = 50_000)]
    snapshot_every: u64,
    /// Seconds between snapshots while anything is journaled, however few entries: it
    /// bounds the journal tail a restart after `kill -9` replays.
    #[arg(long, default_value_t = 300, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    snapshot_interval: u64,
    /// Developer option: how reads reach the state. `actor` runs each read in the kernel
    /// actor between batches; `snapshot` runs it in the request's task on a copy the actor
    /// publishes after each commit. Both keep read-your-writes; see docs/benchmarks.md.
    #[arg(long, default_value = "actor", value_name = "actor|snapshot")]
    read_mode: orrery_api::ReadMode,
    /// Start even though the journal lost acknowledged entries (a cut or deleted -wal): the
    /// cloud comes back as of the last good entry, and the lost ones are gone for good.
    #[arg(long)]
    accept_journal_loss: bool,
    /// Give the `admin` user a new password and write it to admin-password and clouds.yaml
    /// (for a data directory whose admin-password file was lost).
    #[arg(long)]
    reset_admin_password: bool,
}

/// `$XDG_DATA_HOME/orrery`, or `~/.local/share/orrery`.
pub(crate) fn default_data_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("orrery")
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("ORRERY_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none())
        .init();
    let cli = Cli::parse();
    if matches!(cli.command, Cmd::Up(_)) {
        alloc::tune();
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Cmd::Up(a) => rt
            .block_on(orrery_live::up(orrery_live::UpOptions {
                data_dir: a.data_dir,
                listen: a.listen,
                topology: a.topology,
                time_scale: a.time_scale,
                driver: a.driver,
                snapshot_every: a.snapshot_every,
                snapshot_interval: std::time::Duration::from_secs(a.snapshot_interval),
                read_mode: a.read_mode,
                accept_journal_loss: a.accept_journal_loss,
                reset_admin_password: a.reset_admin_password,
            }))
            .map_err(|e| e.to_string()),
        Cmd::Backup(a) => orrery_live::backup(&a.data_dir, &a.out)
            .map(|r| println!("backed up {} to {}: {} journal entries, state hash {:016x}", a.data_dir.display(), a.out.display(), r.seq, r.state_hash))
            .map_err(|e| e.to_string()),
        Cmd::Sim(a) => rt.block_on(sim::run(a)),
        Cmd::Chaos(c) => rt.block_on(chaos::chaos(c)),
        Cmd::Status(a) => rt.block_on(chaos::status(a)),
        Cmd::Bench(b) => rt.block_on(bench::run(b)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
