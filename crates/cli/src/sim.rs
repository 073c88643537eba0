//! `orrery sim` (run an experiment file, write its report) and `orrery bench sim` (the
//! simulator's speed and memory on fixed large scenarios). The event loop itself is
//! `orrery_sim::runner`; this module parses flags, wires Ctrl-C to the runner's cancel flag,
//! shows progress, and writes the outputs.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use orrery_sim::experiment::{load_experiment, parse_experiment, Experiment};
use orrery_sim::runner::{replay_experiment, run_experiment, JournalEntry, Outcome, Progress};
use orrery_store::{Journal, SqliteJournal};

/// Options of `orrery sim`.
#[derive(clap::Args)]
pub struct SimArgs {
    /// The experiment file (see examples/experiment.toml and docs/sim.md).
    experiment: PathBuf,
    /// Directory for report.html, results.json, timings.json and the CSVs.
    #[arg(long, default_value = "sim-out")]
    out: PathBuf,
    /// Runs (variant × seed) in parallel; each run is single-threaded. Default: the CPUs.
    #[arg(long)]
    jobs: Option<usize>,
    /// Re-run the commands journaled in DATA_DIR/journal.sqlite (an `orrery up` data
    /// directory) under each variant, instead of the experiment's workloads.
    #[arg(long, value_name = "DATA_DIR")]
    replay: Option<PathBuf>,
}

/// Help examples of `orrery sim`.
pub const SIM_EXAMPLES: &str = "Examples:
  orrery sim examples/experiment.toml --out out/        # report in out/report.html
  orrery sim exp.toml --jobs 1                          # one run at a time
  orrery sim exp.toml --replay ~/.local/share/orrery    # what-if on a live cloud's history

Ctrl-C stops early and still writes what was simulated, marked partial.";

/// Runs `orrery sim`.
pub async fn run(a: SimArgs) -> Result<(), String> {
    let exp = load_experiment(&a.experiment).map_err(|e| e.to_string())?;
    let journal = match &a.replay {
        Some(dir) => Some(read_journal(dir)?),
        None => None,
    };
    let jobs = a.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    let cancel = Arc::new(AtomicBool::new(false));
    let watcher = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                cancel.store(true, Ordering::Relaxed);
                eprintln!("\ninterrupted: finishing the runs in flight and writing partial results");
            }
        })
    };
    let seeds = if journal.is_some() { 1 } else { exp.run.seeds.len() };
    let runs = exp.variants.len() * seeds;
    eprintln!("{}: {} variant(s) x {seeds} seed(s) = {runs} run(s), {jobs} at a time", exp.name, exp.variants.len());
    let out = run_blocking(exp.clone(), journal, jobs, cancel.clone()).await?;
    watcher.abort();
    finish(&exp, out, &a.out)
}

/// Every request journaled in `dir/journal.sqlite`, in order.
fn read_journal(dir: &Path) -> Result<Vec<JournalEntry>, String> {
    let path = dir.join("journal.sqlite");
    if !path.is_file() {
        return Err(format!("--replay: {} does not exist; give the --data-dir of an `orrery up` cloud", path.display()));
    }
    let journal = SqliteJournal::open(&path).map_err(|e| format!("--replay: {}: {e}", path.display()))?;
    let mut entries = Vec::new();
    journal
        .replay(0, &mut |e| {
            entries.push((e.at, e.request));
            Ok(())
        })
        .map_err(|e| format!("--replay: {}: {e}", path.display()))?;
    eprintln!("replaying {} journaled request(s) from {}", entries.len(), path.display());
    Ok(entries)
}

/// Runs the experiment (or the journal's replay under its variants) on a blocking thread,
/// with a progress bar on a terminal.
async fn run_blocking(exp: Experiment, journal: Option<Vec<JournalEntry>>, jobs: usize, cancel: Arc<AtomicBool>) -> Result<Outcome, String> {
    tokio::task::spawn_blocking(move || {
        let tty = std::io::stderr().is_terminal();
        let started = Instant::now();
        let progress = move |p: &Progress| show_progress(p, tty, started);
        let out = match &journal {
            Some(j) => replay_experiment(&exp, j, jobs, &progress, &cancel),
            None => run_experiment(&exp, jobs, &progress, &cancel),
        };
        if tty {
            eprintln!();
        }
        out.map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| format!("the simulation thread failed: {e}"))?
}

fn show_progress(p: &Progress, tty: bool, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    let (variant, seed) = &p.last;
    if tty {
        let width = 30;
        let filled = p.done * width / p.total.max(1);
        let bar: String = "#".repeat(filled) + &"-".repeat(width - filled);
        eprint!("\r[{bar}] {}/{} runs, {secs:.1} s (last: {variant}, seed {seed})\x1b[K", p.done, p.total);
        let _ = std::io::stderr().flush();
    } else {
        eprintln!("run {}/{} done: {variant}, seed {seed} ({secs:.1} s)", p.done, p.total);
    }
}

/// Writes the outputs and prints the summary table; partial or inconsistent runs are errors.
fn finish(exp: &Experiment, mut out: Outcome, dir: &Path) -> Result<(), String> {
    if out.partial {
        out.results.experiment = format!("{} (partial: interrupted)", out.results.experiment);
    }
    orrery_sim::output::write_outputs(dir, exp, &out.results, &out.timings).map_err(|e| e.to_string())?;
    println!("{}", orrery_sim::report::summary_table(&out.results));
    println!("wrote {}/report.html, results.json, summary.csv, timings.json and series CSVs", dir.display());
    if !out.violations.is_empty() {
        return Err(format!("placement invariants broke (a kernel bug): {}", out.violations.join("; ")));
    }
    if out.partial {
        return Err(format!("interrupted: partial results written to {}", dir.display()));
    }
    Ok(())
}

/// Options of `orrery bench sim`.
#[derive(clap::Args)]
pub struct BenchSimArgs {
    /// a: 20,000 hosts, 40,000 VMs (CloudSim Plus); b: 10,000 hosts, 100,000 VMs (DSLab
    /// iaas-benchmark); c: 100,000 hosts, 1,000,000 arrivals and departures over 30 days.
    #[arg(long, value_parser = ["a", "b", "c"])]
    scenario: String,
    /// Seed of the run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Help examples of `orrery bench sim`.
pub const BENCH_EXAMPLES: &str = "Examples:
  orrery bench sim --scenario a
  cargo build --release -p orrery && target/release/orrery bench sim --scenario c";

/// A generated topology of `hosts` hosts (2 zones of racks of 20) with one host profile.
fn bench_topology(hosts: u32, vcpus: u32, ram: &str) -> String {
    let racks = hosts / 40;
    format!(
        r#"[topology.host_profile.h]
vcpus = {vcpus}
ram = "{ram}"
disk = "4000GiB"

[[topology.region]]
name = "RegionOne"

[[topology.region.zones]]
name = "az1"
racks = [{{ count = {racks}, hosts = 20, profile = "h" }}]

[[topology.region.zones]]
name = "az2"
racks = [{{ count = {racks}, hosts = 20, profile = "h" }}]

[topology.allocation]
cpu_ratio = 1.0
ram_ratio = 1.0
"#
    )
}

/// The experiment file of a benchmark scenario.
pub fn scenario_text(name: &str) -> Option<String> {
    let (topology, workload, run) = match name {
        "a" => (
            bench_topology(20_000, 32, "128GiB"),
            r#"arrival = { process = "poisson", rate = 2400000 }
flavors = [{ vcpus = 2, ram = "4GiB" }, { vcpus = 4, ram = "8GiB" }]
lifetime = { dist = "fixed", value = "2d" }
limit = 40000"#,
            r#"duration = "1d"
sample_period = "1h""#,
        ),
        "b" => (
            bench_topology(10_000, 144, "200GiB"),
            r#"arrival = { process = "poisson", rate = 100000 }
flavors = [
    { vcpus = 1, ram = "512MiB" }, { vcpus = 2, ram = "1024MiB" },
    { vcpus = 4, ram = "1536MiB" }, { vcpus = 8, ram = "2048MiB" },
]
lifetime = { dist = "exponential", mean = "2h" }
limit = 100000"#,
            r#"duration = "1d"
sample_period = "1h""#,
        ),
        "c" => (
            bench_topology(100_000, 64, "384GiB"),
            r#"arrival = { process = "poisson", rate = 1400 }
flavors = [
    { vcpus = 1, ram = "2GiB", weight = 4 }, { vcpus = 2, ram = "4GiB", weight = 3 },
    { vcpus = 4, ram = "8GiB", weight = 2 }, { vcpus = 8, ram = "32GiB" },
]
lifetime = { dist = "exponential", mean = "1d" }
limit = 1000000"#,
            r#"duration = "30d"
sample_period = "6h""#,
        ),
        _ => return None,
    };
    Some(format!("name = \"bench-{name}\"\n\n{topology}\n[[workload]]\nkind = \"synthetic\"\n{workload}\n\n[run]\n{run}\n"))
}

/// Runs `orrery bench sim`.
pub async fn bench(a: BenchSimArgs) -> Result<(), String> {
    let text = scenario_text(&a.scenario).ok_or_else(|| format!("unknown scenario '{}'; use a, b or c", a.scenario))?;
    let mut exp = parse_experiment(&text, &format!("scenario {}", a.scenario), Path::new(".")).map_err(|e| e.to_string())?;
    exp.run.seeds = vec![a.seed];
    let started = Instant::now();
    let cancel = Arc::new(AtomicBool::new(false));
    let out = run_blocking(exp, None, 1, cancel).await?;
    let wall = started.elapsed().as_secs_f64();
    let run = out.timings.runs.first().ok_or("the scenario produced no run")?;
    let r = out.results.variants.first().and_then(|v| v.runs.first()).ok_or("the scenario produced no result")?;
    println!("scenario {}: {} arrivals, {} placed, {} rejected, {} departures", a.scenario, r.arrivals, r.accepted, r.rejected, r.departures);
    println!("wall time        {wall:.2} s (run {:.2} s, including building the cloud)", run.wall_s);
    println!("kernel events    {} ({:.0} per second)", run.events, run.events_per_s);
    println!("placement        mean {:.1} us, p99 {:.1} us", run.placement.mean_us, run.placement.p99_us);
    println!("peak RSS (VmHWM) {:.1} MiB", peak_rss_kib() as f64 / 1024.0);
    if !out.violations.is_empty() {
        return Err(format!("placement invariants broke: {}", out.violations.join("; ")));
    }
    Ok(())
}

/// This process's peak resident set (VmHWM), in KiB; 0 where /proc is missing.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.split_whitespace().next()).and_then(|v| v.parse().ok()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scenario_parses() {
        for s in ["a", "b", "c"] {
            let text = scenario_text(s).unwrap();
            let exp = parse_experiment(&text, s, Path::new(".")).unwrap_or_else(|e| panic!("scenario {s}: {e}"));
            assert_eq!(exp.variants.len(), 1);
        }
        assert!(scenario_text("d").is_none());
    }
}
