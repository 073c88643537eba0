//! Experiment files: what to simulate (topology, workloads, faults, run length, seeds) and
//! which architecture variants to compare. [`load_experiment`] reads and checks a file;
//! every error names the file, the line and the key, and says what to do.
//!
//! docs/sim.md is the reference for the format; examples/experiment.toml shows every key.
//!
//! ```
//! let text = r#"
//! [topology]
//! host_profile.std = { vcpus = 64, ram = "384GiB", disk = "1920GiB" }
//! [[topology.region]]
//! name = "R"
//! zones = [{ name = "az1", racks = [{ count = 2, hosts = 4, profile = "std" }] }]
//!
//! [[workload]]
//! kind = "synthetic"
//! arrival = { process = "poisson", rate = 60 }
//! flavors = [{ vcpus = 2, ram = "4GiB", disk = "40GiB" }]
//! lifetime = { dist = "exponential", mean = "4h" }
//!
//! [run]
//! duration = "1d"
//! sample_period = "5m"
//! "#;
//! let exp = orrery_sim::experiment::parse_experiment(text, "x.toml", std::path::Path::new(".")).unwrap();
//! assert_eq!(exp.variants[0].name, "baseline");
//! assert_eq!(exp.run.seeds, vec![1]);
//! ```

mod check;
mod file;

use std::path::{Path, PathBuf};

use orrery_config::ConfigError;
use orrery_kernel::scheduler::GroupPolicy;
use orrery_kernel::time::Dur;
use orrery_kernel::topology::{Ratio, Strategy, TopologySpec};
use serde::{Deserialize, Serialize};

/// A checked experiment, ready to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Experiment {
    /// Its title (the `name` key, else the file name without extension).
    pub name: String,
    /// Free text shown at the top of the report.
    pub description: String,
    /// The datacenter every variant starts from.
    pub topology: TopologySpec,
    /// Workloads, merged by time; at least one.
    pub workloads: Vec<Workload>,
    /// Variants to compare; at least one (a `baseline` with no overrides if none is given).
    pub variants: Vec<Variant>,
    /// Failure processes and scripted faults.
    pub faults: Faults,
    /// Run length, seeds and sampling.
    pub run: Run,
}

/// One workload: a synthetic generator or a trace.
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    /// Its name in the report (the `name` key, else `workload-N`).
    pub name: String,
    /// Stop after this many arrivals.
    pub limit: Option<u64>,
    /// Per-VM CPU utilisation; for traces, `None` means "from the trace, else the default".
    pub cpu_util: Option<CpuUtilModel>,
    /// Where the arrivals come from.
    pub source: Source,
}

/// Where a workload's arrivals come from.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// Drawn from distributions.
    Synthetic(Synthetic),
    /// Read from a public trace file.
    Trace(Trace),
}

/// A synthetic workload.
#[derive(Clone, Debug, PartialEq)]
pub struct Synthetic {
    /// When requests arrive.
    pub arrival: ArrivalProcess,
    /// What they ask for, with weights.
    pub flavors: Vec<Flavor>,
    /// How long each VM lives.
    pub lifetime: Lifetime,
    /// Server-group membership, if any.
    pub groups: Option<Groups>,
}

/// An arrival process. Rates are in requests per hour.
#[derive(Clone, Debug, PartialEq)]
pub enum ArrivalProcess {
    /// A homogeneous Poisson process.
    Poisson {
        /// Requests per hour.
        rate: f64,
    },
    /// A Poisson process whose rate follows a daily cosine, drawn by thinning.
    Diurnal {
        /// Mean requests per hour over a day.
        mean_rate: f64,
        /// Ratio of the peak rate to the trough rate (at least 1).
        peak_to_trough: f64,
        /// Hour of the day (0 to 24) when the rate peaks.
        peak_hour: f64,
    },
    /// A two-state process: `base_rate`, and `burst_rate` for `length` at the start of every
    /// `every`.
    Bursts {
        /// Requests per hour outside bursts (may be 0).
        base_rate: f64,
        /// Requests per hour during a burst.
        burst_rate: f64,
        /// Period between burst starts.
        every: Dur,
        /// Length of each burst (shorter than `every`).
        length: Dur,
    },
}

/// One flavor of the mix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flavor {
    /// Its name (default `v{vcpus}-r{ram_mb}-d{disk_gb}`).
    pub name: String,
    /// vCPUs.
    pub vcpus: u32,
    /// RAM in MiB.
    pub ram_mb: u64,
    /// Root disk in GiB.
    pub disk_gb: u64,
    /// Relative weight in the mix (positive integer).
    pub weight: u32,
}

/// A VM lifetime distribution.
#[derive(Clone, Debug, PartialEq)]
pub enum Lifetime {
    /// Exponential with this mean.
    Exponential {
        /// Mean lifetime.
        mean: Dur,
    },
    /// Lognormal with this median and shape.
    Lognormal {
        /// Median lifetime.
        median: Dur,
        /// Standard deviation of the log (0 makes every lifetime the median).
        sigma: f64,
    },
    /// Every VM lives exactly this long.
    Fixed(Dur),
}

/// How arrivals join server groups.
#[derive(Clone, Debug, PartialEq)]
pub struct Groups {
    /// Share of arrivals that are group members (0 to 1].
    pub fraction: f64,
    /// Members per group.
    pub size: u32,
    /// The group policy.
    pub policy: GroupPolicy,
}

/// A per-VM CPU utilisation model; values are fractions of the VM's vCPUs (0 to 1).
#[derive(Clone, Debug, PartialEq)]
pub enum CpuUtilModel {
    /// Always `value`.
    Constant(f64),
    /// Each VM draws a constant uniformly from `[low, high]`.
    Uniform {
        /// Lowest value.
        low: f64,
        /// Highest value.
        high: f64,
    },
    /// `mean + amplitude * cos(2π (hour − 14) / 24)`: busiest at 14:00 of each simulated day.
    Diurnal {
        /// Daily mean.
        mean: f64,
        /// Swing above and below the mean.
        amplitude: f64,
    },
}

/// The model used when a workload names none and its trace carries no utilisation.
pub const DEFAULT_CPU_UTIL: CpuUtilModel = CpuUtilModel::Constant(0.3);

/// A trace workload.
#[derive(Clone, Debug, PartialEq)]
pub struct Trace {
    /// Which public trace format.
    pub format: TraceFormat,
    /// The file, resolved against the experiment file's directory.
    pub path: PathBuf,
    /// Multiplies every trace time and lifetime (0.5 replays twice as fast).
    pub time_scale: f64,
    /// The machine the packing trace's fractional sizes refer to.
    pub machine: Machine,
}

/// The public trace formats orrery reads.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceFormat {
    /// Azure Public Dataset V1/V2 `vmtable.csv`.
    AzureVmtable,
    /// Azure Trace for Packing 2020 (SQLite).
    AzurePacking,
    /// Huawei-East-1 VM placement CSV (`vmid,cpu,memory,time,type`).
    Huawei,
}

/// A reference machine: turns the packing trace's fractions of a machine into sizes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Machine {
    /// vCPUs of the whole machine.
    pub vcpus: u32,
    /// RAM of the whole machine, in MiB.
    pub ram_mb: u64,
    /// Local SSD of the whole machine, in GiB.
    pub disk_gb: u64,
}

impl Default for Machine {
    /// The default topology's host: 64 vCPUs, 384 GiB RAM, 1920 GiB disk.
    fn default() -> Self {
        Machine { vcpus: 64, ram_mb: 384 * 1024, disk_gb: 1920 }
    }
}

/// What happens to instances on a failed host.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Evacuation {
    /// They stay down until their host recovers.
    None,
    /// They are rebuilt on another host (Nova's evacuate).
    #[default]
    RebuildElsewhere,
}

/// A named set of policy overrides, compared against the others.
#[derive(Clone, Debug, PartialEq)]
pub struct Variant {
    /// Its name, unique in the experiment.
    pub name: String,
    /// Scheduler strategy (spread or pack).
    pub strategy: Option<Strategy>,
    /// Pick among this many best hosts.
    pub host_subset_size: Option<u32>,
    /// Scheduler filters in force.
    pub filters: Option<Vec<String>>,
    /// VCPU allocation ratio.
    pub cpu_ratio: Option<f64>,
    /// RAM allocation ratio.
    pub ram_ratio: Option<f64>,
    /// Disk allocation ratio.
    pub disk_ratio: Option<f64>,
    /// Failure-domain (rack) spread weigher.
    pub rack_spread: Option<bool>,
    /// When false, arrivals join no server group.
    pub anti_affinity: bool,
    /// What happens to instances on failed hosts.
    pub evacuation: Evacuation,
    /// When true, hosts with no instance draw no power.
    pub power_off_idle: bool,
}

impl Variant {
    /// The variant with no overrides, used when the file declares none.
    pub fn baseline() -> Variant {
        Variant {
            name: "baseline".into(),
            strategy: None,
            host_subset_size: None,
            filters: None,
            cpu_ratio: None,
            ram_ratio: None,
            disk_ratio: None,
            rack_spread: None,
            anti_affinity: true,
            evacuation: Evacuation::default(),
            power_off_idle: false,
        }
    }

    /// The experiment's topology with this variant's scheduler and allocation overrides.
    pub fn topology(&self, base: &TopologySpec) -> TopologySpec {
        let mut t = base.clone();
        let s = &mut t.scheduler;
        s.strategy = self.strategy.unwrap_or(s.strategy);
        s.host_subset_size = self.host_subset_size.unwrap_or(s.host_subset_size);
        s.rack_spread = self.rack_spread.unwrap_or(s.rack_spread);
        if let Some(f) = &self.filters {
            s.filters = f.clone();
        }
        let a = &mut t.allocation;
        a.cpu_ratio = self.cpu_ratio.map_or(a.cpu_ratio, Ratio);
        a.ram_ratio = self.ram_ratio.map_or(a.ram_ratio, Ratio);
        a.disk_ratio = self.disk_ratio.map_or(a.disk_ratio, Ratio);
        t
    }
}

/// Failure processes per component kind, and scripted faults.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Every compute host fails and recovers independently.
    pub host: Option<FailureProcess>,
    /// Every rack fails and recovers independently.
    pub rack: Option<FailureProcess>,
    /// Every availability zone fails and recovers independently.
    pub zone: Option<FailureProcess>,
    /// Every region fails and recovers independently.
    pub region: Option<FailureProcess>,
    /// Scripted faults, in file order.
    pub events: Vec<ScriptedFault>,
}

/// Time between failures and time to repair of one component kind.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailureProcess {
    /// Mean time between failures (time up before the next failure).
    #[serde(deserialize_with = "orrery_kernel::units::de_dur")]
    pub mtbf: Dur,
    /// Mean time to repair (time down before recovery).
    #[serde(deserialize_with = "orrery_kernel::units::de_dur")]
    pub mttr: Dur,
    /// How up and down times are drawn around those means.
    #[serde(default)]
    pub dist: FaultDist,
}

/// How up and down times are drawn.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultDist {
    /// Exponential around the mean (memoryless failures).
    #[default]
    Exponential,
    /// Exactly the mean every time.
    Fixed,
}

/// A component kind that can fail.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// One host.
    Host,
    /// A rack and every host in it.
    Rack,
    /// An availability zone and every host in it.
    Zone,
    /// A region and every host in it.
    Region,
}

/// Fail or recover.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultAction {
    /// The component goes down.
    Fail,
    /// The component comes back.
    Recover,
}

/// One scripted fault: `{ at = "2h", kind = "host", name = "az1-r01-h03", action = "fail" }`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedFault {
    /// When, from the start of the run.
    #[serde(deserialize_with = "orrery_kernel::units::de_dur")]
    pub at: Dur,
    /// What kind of component.
    pub kind: FaultKind,
    /// Its name in the topology (`az1-r01-h03`, `az1-r01`, `az1`).
    pub name: String,
    /// Fail or recover.
    pub action: FaultAction,
}

/// Run length, seeds and sampling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    /// Virtual time simulated per run.
    pub duration: Dur,
    /// One run per seed and variant.
    pub seeds: Vec<u64>,
    /// Metrics are sampled at this period.
    pub sample_period: Dur,
    /// Events and samples before this are left out of the metrics.
    pub warmup: Dur,
}

impl Experiment {
    /// The smallest vCPU count and RAM any workload requests, for stranded capacity.
    ///
    /// Synthetic workloads contribute their smallest flavor; a trace contributes 1 vCPU and
    /// 1 GiB, since its sizes are not known before it is read.
    pub fn smallest_request(&self) -> (u32, u64) {
        let mut least: Option<(u32, u64)> = None;
        for w in &self.workloads {
            let (v, r) = match &w.source {
                Source::Synthetic(s) => (s.flavors.iter().map(|f| f.vcpus).min().unwrap_or(1), s.flavors.iter().map(|f| f.ram_mb).min().unwrap_or(1024)),
                Source::Trace(_) => (1, 1024),
            };
            least = Some(least.map_or((v, r), |(lv, lr)| (lv.min(v), lr.min(r))));
        }
        least.unwrap_or((1, 1024))
    }
}

/// Reads and checks the experiment file at `path`. Trace and topology paths in it are
/// relative to the file's directory.
pub fn load_experiment(path: &Path) -> Result<Experiment, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read { path: path.display().to_string(), reason: e.to_string() })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut exp = parse_experiment(&text, &path.display().to_string(), base)?;
    if exp.name.is_empty() {
        exp.name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    }
    Ok(exp)
}

/// Parses and checks experiment `text`; `origin` names it in messages and `base_dir`
/// resolves relative paths. Without a `name` key the name is left empty.
pub fn parse_experiment(text: &str, origin: &str, base_dir: &Path) -> Result<Experiment, ConfigError> {
    let file: file::ExperimentFile = orrery_config::parse_toml(text, origin)?;
    check::Checker { text, origin, base_dir }.experiment(file)
}

#[cfg(test)]
pub(crate) mod tests;
