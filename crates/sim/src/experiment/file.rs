//! The experiment file exactly as written: flat tables that serde reads with full positions,
//! so a wrong type or an unknown key is reported at its own line and key path. The checks in
//! `check.rs` turn these into the typed [`super::Experiment`].
//!
//! Tagged unions (`kind`, `process`, `dist`, `model`) are read as a tag plus every field any
//! of its forms may carry; serde's internally tagged enums would buffer the table and lose
//! the line and key of an error inside it.

use std::fmt;

use orrery_kernel::time::Dur;
use orrery_kernel::topology::{Strategy, TopologySpec};
use orrery_kernel::units;
use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;

use super::{Evacuation, FailureProcess, ScriptedFault};

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExperimentFile {
    pub name: Option<String>,
    #[serde(default)]
    pub description: String,
    pub topology_file: Option<String>,
    pub topology: Option<TopologySpec>,
    #[serde(default)]
    pub workload: Vec<WorkloadFile>,
    #[serde(default)]
    pub variant: Vec<VariantFile>,
    #[serde(default)]
    pub faults: FaultsFile,
    pub run: RunFile,
}

/// Which kind of workload a `[[workload]]` table describes.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum WorkloadKind {
    Synthetic,
    AzureVmtable,
    AzurePacking,
    Huawei,
}

/// One `[[workload]]` table: the union of the synthetic and trace keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WorkloadFile {
    pub kind: WorkloadKind,
    pub name: Option<String>,
    pub limit: Option<u64>,
    pub cpu_util: Option<CpuUtilFile>,
    pub arrival: Option<ArrivalFile>,
    pub flavors: Option<Vec<FlavorFile>>,
    pub lifetime: Option<LifetimeFile>,
    pub server_groups: Option<GroupsFile>,
    pub path: Option<String>,
    pub time_scale: Option<f64>,
    pub machine: Option<MachineFile>,
}

/// `arrival = { process = ..., ... }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ArrivalFile {
    pub process: ProcessKind,
    pub rate: Option<f64>,
    pub mean_rate: Option<f64>,
    pub peak_to_trough: Option<f64>,
    pub peak_hour: Option<f64>,
    pub base_rate: Option<f64>,
    pub burst_rate: Option<f64>,
    #[serde(default, deserialize_with = "opt_dur")]
    pub burst_every: Option<Dur>,
    #[serde(default, deserialize_with = "opt_dur")]
    pub burst_length: Option<Dur>,
}

/// The arrival process names.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ProcessKind {
    Poisson,
    Diurnal,
    Bursts,
}

/// One entry of `flavors = [...]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FlavorFile {
    pub name: Option<String>,
    pub vcpus: u32,
    #[serde(deserialize_with = "units::de_mib")]
    pub ram: u64,
    #[serde(default, deserialize_with = "units::de_gib")]
    pub disk: u64,
    #[serde(default = "one")]
    pub weight: u32,
}

fn one() -> u32 {
    1
}

/// `lifetime = { dist = ..., ... }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LifetimeFile {
    pub dist: LifetimeKind,
    #[serde(default, deserialize_with = "opt_dur")]
    pub mean: Option<Dur>,
    #[serde(default, deserialize_with = "opt_dur")]
    pub median: Option<Dur>,
    pub sigma: Option<f64>,
    #[serde(default, deserialize_with = "opt_dur")]
    pub value: Option<Dur>,
}

/// The lifetime distribution names.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum LifetimeKind {
    Exponential,
    Lognormal,
    Fixed,
}

/// `server_groups = { fraction, size, policy }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GroupsFile {
    pub fraction: f64,
    pub size: u32,
    pub policy: String,
}

/// `cpu_util = { model = ..., ... }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CpuUtilFile {
    pub model: CpuModelKind,
    pub value: Option<f64>,
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub mean: Option<f64>,
    pub amplitude: Option<f64>,
}

/// The CPU utilisation model names.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CpuModelKind {
    Constant,
    Uniform,
    Diurnal,
}

/// `machine = { vcpus, ram, disk }` for the Azure packing trace.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MachineFile {
    pub vcpus: u32,
    #[serde(deserialize_with = "units::de_mib")]
    pub ram: u64,
    #[serde(default, deserialize_with = "units::de_gib")]
    pub disk: u64,
}

/// One `[[variant]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VariantFile {
    pub name: String,
    pub strategy: Option<Strategy>,
    pub host_subset_size: Option<u32>,
    pub filters: Option<Vec<String>>,
    pub cpu_ratio: Option<f64>,
    pub ram_ratio: Option<f64>,
    pub disk_ratio: Option<f64>,
    pub rack_spread: Option<bool>,
    pub anti_affinity: Option<bool>,
    pub evacuation: Option<Evacuation>,
    pub power_off_idle: Option<bool>,
    /// Reserved; any value is rejected while it is read, so the error carries its line.
    #[serde(default, deserialize_with = "reject_storage")]
    #[allow(dead_code)]
    pub storage: Option<()>,
}

/// `[faults]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultsFile {
    pub host: Option<FailureProcess>,
    pub rack: Option<FailureProcess>,
    pub zone: Option<FailureProcess>,
    pub region: Option<FailureProcess>,
    #[serde(default)]
    pub event: Vec<ScriptedFault>,
}

/// `[run]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunFile {
    #[serde(deserialize_with = "units::de_dur")]
    pub duration: Dur,
    #[serde(default = "one_seed", deserialize_with = "de_seeds")]
    pub seeds: Vec<u64>,
    #[serde(deserialize_with = "units::de_dur")]
    pub sample_period: Dur,
    #[serde(default, deserialize_with = "opt_dur")]
    pub warmup: Option<Dur>,
}

fn one_seed() -> Vec<u64> {
    vec![1]
}

/// Serde helper: an optional duration written like "30s".
pub(crate) fn opt_dur<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Dur>, D::Error> {
    units::de_dur(d).map(Some)
}

fn reject_storage<'de, D: Deserializer<'de>>(d: D) -> Result<Option<()>, D::Error> {
    IgnoredAny::deserialize(d)?;
    Err(de::Error::custom("storage variants are not implemented yet; remove [variant.storage] (storage is modelled in a later release)"))
}

/// Serde helper: `seeds = 3` means seeds 1, 2, 3; `seeds = [7, 42]` lists them.
fn de_seeds<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    d.deserialize_any(SeedsVisitor)
}

struct SeedsVisitor;

impl<'de> Visitor<'de> for SeedsVisitor {
    type Value = Vec<u64>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number of seeds (like 3) or a list of seeds (like [1, 7, 42])")
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Vec<u64>, E> {
        if !(1..=10_000).contains(&n) {
            return Err(E::custom(format!("seeds = {n} is out of range; run between 1 and 10000 seeds")));
        }
        Ok((1..=n as u64).collect())
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Vec<u64>, E> {
        self.visit_i64(i64::try_from(n).unwrap_or(i64::MAX))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u64>, A::Error> {
        let mut seeds = Vec::new();
        while let Some(s) = seq.next_element::<u64>()? {
            if seeds.contains(&s) {
                return Err(de::Error::custom(format!("seed {s} is listed twice")));
            }
            seeds.push(s);
        }
        if seeds.is_empty() {
            return Err(de::Error::custom("the list of seeds is empty; give at least one"));
        }
        Ok(seeds)
    }
}
