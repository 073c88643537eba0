//! The physical model: regions → availability zones → racks → hosts, plus host aggregates.
//!
//! A [`TopologySpec`] is the compact, declarative form (with generators like "40 racks of 24
//! hosts") that topology files deserialize into; [`Topology::build`] expands it into the model.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

use crate::ids::Uuid;
use crate::rng::Rng;
use crate::time::Dur;
use crate::units;

/// Index of a host in [`Topology::hosts`].
pub type HostIdx = u32;

/// A floating-point ratio (allocation ratio, weigher multiplier) that hashes by its bits.
#[derive(Copy, Clone, Debug, Default, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Ratio(pub f64);

impl Eq for Ratio {}
impl Hash for Ratio {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state);
    }
}

/// What a host is for.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Runs instances; gets a resource provider and a hypervisor record.
    #[default]
    Compute,
    /// Holds storage daemons, one per disk.
    Storage,
    /// Runs network services (routers, DHCP).
    Network,
}

/// A linear host power model: idle draw plus a share of the span to max by CPU utilisation.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerSpec {
    /// Watts drawn when idle but powered on.
    pub idle_watts: u32,
    /// Watts drawn at full CPU load.
    pub max_watts: u32,
}

impl Default for PowerSpec {
    fn default() -> Self {
        PowerSpec { idle_watts: 110, max_watts: 420 }
    }
}

/// The hardware of one host, as written in a topology file.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    /// compute, storage or network.
    #[serde(default)]
    pub role: Role,
    /// Hardware threads offered as vCPUs.
    pub vcpus: u32,
    /// Memory, in MiB ("384GiB" in files).
    #[serde(deserialize_with = "units::de_mib")]
    pub ram: u64,
    /// Local disk for instances, in GiB ("1920GiB" in files).
    #[serde(deserialize_with = "units::de_gib")]
    pub disk: u64,
    /// CPU architecture, matched against an image's `hw_architecture`.
    #[serde(default = "default_arch")]
    pub arch: String,
    /// Number of GPUs.
    #[serde(default)]
    pub gpus: u32,
    /// Data disks of a storage host, each in GiB.
    #[serde(default)]
    pub data_disks: Vec<DiskSize>,
    /// Power model.
    #[serde(default)]
    pub power: PowerSpec,
}

/// One data disk's size in GiB, written like "4TiB".
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DiskSize(#[serde(deserialize_with = "units::de_gib")] pub u64);

impl HostSpec {
    /// An x86_64 compute host with no GPUs, data disks or custom power model.
    pub fn compute(vcpus: u32, ram_mib: u64, disk_gib: u64) -> HostSpec {
        HostSpec { role: Role::Compute, vcpus, ram: ram_mib, disk: disk_gib, arch: default_arch(), gpus: 0, data_disks: vec![], power: PowerSpec::default() }
    }
}

fn default_arch() -> String {
    "x86_64".into()
}

/// A group of identical racks inside a zone: the generator behind "40 racks of 24 hosts".
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RackGroupSpec {
    /// How many racks.
    #[serde(default = "one")]
    pub count: u32,
    /// Hosts in each rack.
    pub hosts: u32,
    /// The name of a `[host_profile.NAME]` every host in these racks uses.
    pub profile: String,
}

fn one() -> u32 {
    1
}

/// An availability zone and its racks.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneSpec {
    /// The zone's name, as the API shows it.
    pub name: String,
    /// Rack groups, expanded in order.
    pub racks: Vec<RackGroupSpec>,
}

/// A region and its zones.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionSpec {
    /// The region's name, as the catalog shows it.
    pub name: String,
    /// Availability zones.
    pub zones: Vec<ZoneSpec>,
}

/// A host aggregate: a named set of hosts with metadata, selected by rack or host name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateSpec {
    /// The aggregate's name.
    pub name: String,
    /// Metadata matched by the aggregate filter against flavor extra specs.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Racks whose hosts all join.
    #[serde(default)]
    pub racks: Vec<String>,
    /// Individual hosts that join.
    #[serde(default)]
    pub hosts: Vec<String>,
}

/// Placement inventory settings applied to every compute host.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AllocationSpec {
    /// VCPU allocation ratio (overcommit).
    pub cpu_ratio: Ratio,
    /// MEMORY_MB allocation ratio.
    pub ram_ratio: Ratio,
    /// DISK_GB allocation ratio.
    pub disk_ratio: Ratio,
    /// vCPUs held back for the host itself.
    pub reserved_vcpus: u32,
    /// Memory held back for the host itself, in MiB.
    #[serde(deserialize_with = "units::de_mib")]
    pub reserved_ram: u64,
    /// Disk held back for the host itself, in GiB.
    #[serde(deserialize_with = "units::de_gib")]
    pub reserved_disk: u64,
}

impl Default for AllocationSpec {
    fn default() -> Self {
        AllocationSpec { cpu_ratio: Ratio(4.0), ram_ratio: Ratio(1.0), disk_ratio: Ratio(1.0), reserved_vcpus: 0, reserved_ram: 4096, reserved_disk: 0 }
    }
}

/// Which end of the free-capacity order the scheduler prefers.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Prefer the emptiest hosts (Nova's default positive weigher multipliers).
    #[default]
    Spread,
    /// Prefer the fullest hosts that still fit (negative multipliers): fewer active hosts.
    Pack,
}

/// Scheduler policy: filter, weigh, then pick at random among the best `host_subset_size`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerSpec {
    /// Spread or pack.
    pub strategy: Strategy,
    /// Pick uniformly among this many best hosts (Nova's `host_subset_size`).
    pub host_subset_size: u32,
    /// Weight of free RAM in the host score.
    pub ram_weight: Ratio,
    /// Weight of free vCPU in the host score.
    pub cpu_weight: Ratio,
    /// Weight of free disk in the host score.
    pub disk_weight: Ratio,
    /// Prefer racks holding fewer members of the same server group (failure-domain spread).
    pub rack_spread: bool,
    /// Filters in force, by Nova name.
    pub filters: Vec<String>,
    /// What happens to the servers of a host that fails.
    pub evacuation: Evacuation,
}

/// What the cloud does with the servers of a failed host.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Evacuation {
    /// Nothing: they stay down until their host recovers (Nova without automation).
    #[default]
    None,
    /// Rebuild each one on another host at once, as Masakari's host-failure recovery does
    /// with Nova's evacuate.
    RebuildElsewhere,
}

/// Every filter the scheduler knows, by Nova's names.
pub const ALL_FILTERS: &[&str] = &[
    "AvailabilityZoneFilter",
    "ComputeFilter",
    "ImagePropertiesFilter",
    "AggregateInstanceExtraSpecsFilter",
    "ServerGroupAffinityFilter",
    "ServerGroupAntiAffinityFilter",
];

impl Default for SchedulerSpec {
    fn default() -> Self {
        SchedulerSpec {
            strategy: Strategy::Spread,
            host_subset_size: 1,
            ram_weight: Ratio(1.0),
            cpu_weight: Ratio(1.0),
            disk_weight: Ratio(1.0),
            rack_spread: true,
            filters: ALL_FILTERS.iter().map(|s| s.to_string()).collect(),
            evacuation: Evacuation::None,
        }
    }
}

/// Modelled durations of compute operations. Every one is a named, realistic default.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimingSpec {
    /// From accepted to ACTIVE: scheduling, image fetch, spawn.
    #[serde(deserialize_with = "units::de_dur")]
    pub boot: Dur,
    /// A clean guest shutdown.
    #[serde(deserialize_with = "units::de_dur")]
    pub stop: Dur,
    /// Powering a stopped guest on.
    #[serde(deserialize_with = "units::de_dur")]
    pub start: Dur,
    /// A soft or hard reboot.
    #[serde(deserialize_with = "units::de_dur")]
    pub reboot: Dur,
    /// Pause, unpause, suspend and resume.
    #[serde(deserialize_with = "units::de_dur")]
    pub pause: Dur,
    /// Rebuilding from an image.
    #[serde(deserialize_with = "units::de_dur")]
    pub rebuild: Dur,
    /// Resizing (a cold migration to the new flavor).
    #[serde(deserialize_with = "units::de_dur")]
    pub resize: Dur,
    /// Tearing an instance down.
    #[serde(deserialize_with = "units::de_dur")]
    pub delete: Dur,
    /// Snapshotting an instance to an image.
    #[serde(deserialize_with = "units::de_dur")]
    pub snapshot: Dur,
    /// Lifetime of an identity token.
    #[serde(deserialize_with = "units::de_dur")]
    pub token_ttl: Dur,
    /// How long past an operation's modelled duration the kernel waits for the driver to
    /// report it before the server goes to ERROR with a fault.
    #[serde(deserialize_with = "units::de_dur")]
    pub driver_timeout: Dur,
}

impl Default for TimingSpec {
    fn default() -> Self {
        TimingSpec {
            boot: Dur::secs(8),
            stop: Dur::secs(3),
            start: Dur::secs(3),
            reboot: Dur::secs(6),
            pause: Dur::secs(1),
            rebuild: Dur::secs(10),
            resize: Dur::secs(15),
            delete: Dur::secs(2),
            snapshot: Dur::secs(10),
            driver_timeout: Dur::secs(300),
            token_ttl: Dur::secs(3600),
        }
    }
}

/// A whole topology file: regions with generators, host profiles, aggregates and policies.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopologySpec {
    /// Named host hardware profiles, referenced by rack groups.
    pub host_profile: BTreeMap<String, HostSpec>,
    /// Regions, each with zones and racks.
    pub region: Vec<RegionSpec>,
    /// Host aggregates.
    #[serde(default)]
    pub aggregate: Vec<AggregateSpec>,
    /// Placement inventory settings.
    #[serde(default)]
    pub allocation: AllocationSpec,
    /// Scheduler policy.
    #[serde(default)]
    pub scheduler: SchedulerSpec,
    /// Modelled durations.
    #[serde(default)]
    pub timing: TimingSpec,
}

impl TopologySpec {
    /// One region whose zones, given as (name, racks, hosts per rack), all use one host
    /// profile (named `std`), with default allocation, scheduler and timing policies.
    pub fn uniform(region: &str, profile: HostSpec, zones: &[(&str, u32, u32)]) -> TopologySpec {
        let zones = zones
            .iter()
            .map(|&(name, count, hosts)| ZoneSpec { name: name.into(), racks: vec![RackGroupSpec { count, hosts, profile: "std".into() }] })
            .collect();
        TopologySpec {
            host_profile: BTreeMap::from([("std".to_string(), profile)]),
            region: vec![RegionSpec { name: region.into(), zones }],
            aggregate: vec![],
            allocation: AllocationSpec::default(),
            scheduler: SchedulerSpec::default(),
            timing: TimingSpec::default(),
        }
    }
}

/// A region in the model.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Region {
    /// Its name.
    pub name: String,
}

/// An availability zone in the model.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Zone {
    /// Its name.
    pub name: String,
    /// Index into [`Topology::regions`].
    pub region: u32,
}

/// A rack: the smallest failure domain above a host.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rack {
    /// Its name, like `az1-r03`.
    pub name: String,
    /// Index into [`Topology::zones`].
    pub zone: u32,
}

/// A physical host in the model.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Host {
    /// Its hostname, like `az1-r03-h07`.
    pub name: String,
    /// Stable id: the resource provider and hypervisor UUID.
    pub id: Uuid,
    /// Index into [`Topology::racks`].
    pub rack: u32,
    /// Index into [`Topology::zones`].
    pub zone: u32,
    /// Its hardware.
    pub spec: HostSpec,
}

/// A host aggregate in the model.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Aggregate {
    /// Its name.
    pub name: String,
    /// Its UUID.
    pub id: Uuid,
    /// Its metadata.
    pub metadata: BTreeMap<String, String>,
    /// Member hosts.
    pub hosts: BTreeSet<HostIdx>,
}

/// The expanded physical model.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Topology {
    /// Regions.
    pub regions: Vec<Region>,
    /// Availability zones.
    pub zones: Vec<Zone>,
    /// Racks.
    pub racks: Vec<Rack>,
    /// Hosts; a [`HostIdx`] indexes this.
    pub hosts: Vec<Host>,
    /// Aggregates.
    pub aggregates: Vec<Aggregate>,
    /// Host index by name.
    pub host_by_name: BTreeMap<String, HostIdx>,
    /// Aggregates each host belongs to, by index into `aggregates`.
    pub host_aggregates: Vec<Vec<u32>>,
}

/// Why a topology spec cannot be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    /// A rack group names a profile that does not exist.
    #[error("rack group in zone '{zone}' uses host profile '{profile}', which is not defined under [host_profile]")]
    UnknownProfile {
        /// The zone.
        zone: String,
        /// The missing profile.
        profile: String,
    },
    /// Two zones share a name.
    #[error("availability zone '{0}' is declared twice")]
    DuplicateZone(String),
    /// Two regions share a name.
    #[error("region '{0}' is declared twice")]
    DuplicateRegion(String),
    /// An aggregate names a rack or host that does not exist.
    #[error("aggregate '{aggregate}' names '{member}', which is not a rack or host in this topology")]
    UnknownMember {
        /// The aggregate.
        aggregate: String,
        /// The unknown rack or host.
        member: String,
    },
    /// The spec expands to no compute host.
    #[error("the topology has no compute host; add a rack group whose profile has role = \"compute\"")]
    NoComputeHost,
    /// A profile has zero vCPUs or RAM.
    #[error("host profile '{0}' needs vcpus and ram above zero")]
    EmptyProfile(String),
}

impl Topology {
    /// Expands a spec into the model, drawing host ids from `rng`.
    pub fn build(spec: &TopologySpec, rng: &mut Rng) -> Result<Topology, TopologyError> {
        let mut t = Topology::default();
        for (name, p) in &spec.host_profile {
            if p.vcpus == 0 || p.ram == 0 {
                return Err(TopologyError::EmptyProfile(name.clone()));
            }
        }
        for region in &spec.region {
            if t.regions.iter().any(|r| r.name == region.name) {
                return Err(TopologyError::DuplicateRegion(region.name.clone()));
            }
            t.regions.push(Region { name: region.name.clone() });
            for zone in &region.zones {
                t.add_zone(spec, zone, (t.regions.len() - 1) as u32, rng)?;
            }
        }
        if !t.hosts.iter().any(|h| h.spec.role == Role::Compute) {
            return Err(TopologyError::NoComputeHost);
        }
        t.host_aggregates = vec![Vec::new(); t.hosts.len()];
        for agg in &spec.aggregate {
            t.add_aggregate(agg, rng)?;
        }
        // Built by pushing: give back the doubling slack (a third of 10,000 hosts' records).
        t.hosts.shrink_to_fit();
        t.racks.shrink_to_fit();
        Ok(t)
    }

    fn add_zone(&mut self, spec: &TopologySpec, zone: &ZoneSpec, region: u32, rng: &mut Rng) -> Result<(), TopologyError> {
        if self.zones.iter().any(|z| z.name == zone.name) {
            return Err(TopologyError::DuplicateZone(zone.name.clone()));
        }
        let zi = self.zones.len() as u32;
        self.zones.push(Zone { name: zone.name.clone(), region });
        let mut rack_no = 0;
        for group in &zone.racks {
            let profile = spec
                .host_profile
                .get(&group.profile)
                .ok_or_else(|| TopologyError::UnknownProfile { zone: zone.name.clone(), profile: group.profile.clone() })?;
            for _ in 0..group.count {
                rack_no += 1;
                let rack_name = format!("{}-r{:02}", zone.name, rack_no);
                let ri = self.racks.len() as u32;
                for h in 1..=group.hosts {
                    let name = format!("{rack_name}-h{h:02}");
                    self.host_by_name.insert(name.clone(), self.hosts.len() as HostIdx);
                    self.hosts.push(Host { name, id: rng.uuid(), rack: ri, zone: zi, spec: profile.clone() });
                }
                self.racks.push(Rack { name: rack_name, zone: zi });
            }
        }
        Ok(())
    }

    fn add_aggregate(&mut self, agg: &AggregateSpec, rng: &mut Rng) -> Result<(), TopologyError> {
        let mut members = BTreeSet::new();
        for rack in &agg.racks {
            let ri = self
                .racks
                .iter()
                .position(|r| &r.name == rack)
                .ok_or_else(|| TopologyError::UnknownMember { aggregate: agg.name.clone(), member: rack.clone() })?;
            members.extend(self.hosts.iter().enumerate().filter(|(_, h)| h.rack as usize == ri).map(|(i, _)| i as HostIdx));
        }
        for host in &agg.hosts {
            let hi = self.host_by_name.get(host).ok_or_else(|| TopologyError::UnknownMember { aggregate: agg.name.clone(), member: host.clone() })?;
            members.insert(*hi);
        }
        let ai = self.aggregates.len() as u32;
        for &h in &members {
            self.host_aggregates[h as usize].push(ai);
        }
        self.aggregates.push(Aggregate { name: agg.name.clone(), id: rng.uuid(), metadata: agg.metadata.clone(), hosts: members });
        Ok(())
    }

    /// The host at `idx`. Panics if the index is out of range, which is a kernel bug.
    pub fn host(&self, idx: HostIdx) -> &Host {
        &self.hosts[idx as usize]
    }

    /// The zone name of a host.
    pub fn zone_of(&self, idx: HostIdx) -> &str {
        &self.zones[self.host(idx).zone as usize].name
    }
}
