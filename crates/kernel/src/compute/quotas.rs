//! Compute quotas: Nova's default limits, per-project overrides set by admins, and the usage
//! counters (instances, cores, RAM, server groups) that servers and groups keep in step.
//!
//! The servers module calls [`check`] before it creates or resizes a server and
//! [`add_usage`] / [`sub_usage`] when one starts or stops counting; a limit of −1 is unlimited.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::compute::Cx;
use crate::ids::Uuid;
use crate::Read;
use crate::{Caller, Error, Result};

/// A quota-limited resource of the compute API.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Resource {
    /// Servers.
    Instances,
    /// vCPUs over all servers.
    Cores,
    /// MiB of RAM over all servers.
    Ram,
    /// Keypairs, counted per user.
    KeyPairs,
    /// Server groups.
    ServerGroups,
    /// Servers in one server group.
    ServerGroupMembers,
    /// Metadata items per server.
    MetadataItems,
    /// Injected files per server (shown before 2.57).
    InjectedFiles,
    /// Bytes of one injected file (shown before 2.57).
    InjectedFileContentBytes,
    /// Bytes of one injected file's path (shown before 2.57).
    InjectedFilePathBytes,
    // The nova-network quotas, last so the variants above keep their hash. Nova still stores
    // and shows them (quota sets before 2.36, the quota class before 2.50) but counts and
    // enforces nothing against them since nova-network was removed; neither does orrery.
    /// Fixed IPs (nova-network).
    FixedIps,
    /// Floating IPs (nova-network).
    FloatingIps,
    /// Security groups (nova-network).
    SecurityGroups,
    /// Security group rules (nova-network).
    SecurityGroupRules,
}

impl Resource {
    /// Every resource, in Nova's alphabetical order of names.
    pub const ALL: [Resource; 14] = [
        Resource::Cores,
        Resource::FixedIps,
        Resource::FloatingIps,
        Resource::InjectedFileContentBytes,
        Resource::InjectedFilePathBytes,
        Resource::InjectedFiles,
        Resource::Instances,
        Resource::KeyPairs,
        Resource::MetadataItems,
        Resource::Ram,
        Resource::SecurityGroupRules,
        Resource::SecurityGroups,
        Resource::ServerGroupMembers,
        Resource::ServerGroups,
    ];

    /// The name in the quota-set API.
    pub fn name(self) -> &'static str {
        match self {
            Resource::Instances => "instances",
            Resource::Cores => "cores",
            Resource::Ram => "ram",
            Resource::KeyPairs => "key_pairs",
            Resource::ServerGroups => "server_groups",
            Resource::ServerGroupMembers => "server_group_members",
            Resource::MetadataItems => "metadata_items",
            Resource::InjectedFiles => "injected_files",
            Resource::InjectedFileContentBytes => "injected_file_content_bytes",
            Resource::InjectedFilePathBytes => "injected_file_path_bytes",
            Resource::FixedIps => "fixed_ips",
            Resource::FloatingIps => "floating_ips",
            Resource::SecurityGroups => "security_groups",
            Resource::SecurityGroupRules => "security_group_rules",
        }
    }

    /// The resource with API name `name`.
    pub fn from_name(name: &str) -> Option<Resource> {
        Resource::ALL.into_iter().find(|r| r.name() == name)
    }

    /// Nova's default limit.
    pub fn default_limit(self) -> i64 {
        match self {
            Resource::Instances => 10,
            Resource::Cores => 20,
            Resource::Ram => 51_200,
            Resource::KeyPairs => 100,
            Resource::ServerGroups => 10,
            Resource::ServerGroupMembers => 10,
            Resource::MetadataItems => 128,
            Resource::InjectedFiles => 5,
            Resource::InjectedFileContentBytes => 10_240,
            Resource::InjectedFilePathBytes => 255,
            Resource::FixedIps => -1,
            Resource::FloatingIps => 10,
            Resource::SecurityGroups => 10,
            Resource::SecurityGroupRules => 20,
        }
    }

    /// Whether this is one of the nova-network quotas (stored and shown, never enforced).
    pub fn is_network(self) -> bool {
        matches!(self, Resource::FixedIps | Resource::FloatingIps | Resource::SecurityGroups | Resource::SecurityGroupRules)
    }
}

/// What a project has in use of the counted resources.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Usage {
    /// Servers.
    pub instances: u64,
    /// vCPUs.
    pub cores: u64,
    /// MiB of RAM.
    pub ram: u64,
    /// Server groups.
    pub server_groups: u64,
}

impl Usage {
    /// The usage of one server of `vcpus` and `ram` MiB.
    pub fn server(vcpus: u64, ram: u64) -> Usage {
        Usage { instances: 1, cores: vcpus, ram, server_groups: 0 }
    }

    /// The amount of `r` counted here (zero for resources not counted per project).
    pub fn get(&self, r: Resource) -> u64 {
        match r {
            Resource::Instances => self.instances,
            Resource::Cores => self.cores,
            Resource::Ram => self.ram,
            Resource::ServerGroups => self.server_groups,
            _ => 0,
        }
    }
}

/// One resource over quota: (resource, requested, used, limit).
type Over = (Resource, u64, u64, i64);

/// The `default` quota class: the limits an admin set for every project without its own,
/// where they differ from Nova's defaults (hashed as nothing while empty; see
/// [`crate::sparse::Sparse`]).
pub type ClassDefaults = crate::sparse::Sparse<Resource, i64>;

/// Quota limits and usage.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Quotas {
    /// Per-project limits that differ from the defaults.
    pub overrides: BTreeMap<Uuid, BTreeMap<Resource, i64>>,
    /// Usage per project.
    pub usage: BTreeMap<Uuid, Usage>,
    /// The `default` quota class.
    #[serde(default, skip_serializing_if = "ClassDefaults::is_empty")]
    pub class_defaults: ClassDefaults,
}

impl Quotas {
    /// The default limit of `r`: the `default` quota class's, else Nova's.
    pub fn default_of(&self, r: Resource) -> i64 {
        self.class_defaults.0.get(&r).copied().unwrap_or_else(|| r.default_limit())
    }

    /// The limit of `r` for `project` (−1: unlimited).
    pub fn limit(&self, project: &Uuid, r: Resource) -> i64 {
        self.overrides.get(project).and_then(|o| o.get(&r)).copied().unwrap_or_else(|| self.default_of(r))
    }

    /// What `project` has in use.
    pub fn usage(&self, project: &Uuid) -> Usage {
        self.usage.get(project).copied().unwrap_or_default()
    }

    /// Checks that adding `delta` keeps `project` within its limits; on failure the message is
    /// Nova's, naming every resource that would go over.
    pub fn check(&self, project: &Uuid, delta: &Usage) -> Result<()> {
        let used = self.usage(project);
        let mut overs = Vec::new();
        for r in [Resource::Cores, Resource::Instances, Resource::Ram, Resource::ServerGroups] {
            let limit = self.limit(project, r);
            if delta.get(r) > 0 && limit >= 0 && used.get(r).saturating_add(delta.get(r)) > limit as u64 {
                overs.push((r, delta.get(r), used.get(r), limit));
            }
        }
        if overs.is_empty() {
            return Ok(());
        }
        if overs.iter().any(|o| o.0 == Resource::ServerGroups) {
            return Err(Error::over_quota("compute.over_quota", "Quota exceeded, too many server groups.".into()));
        }
        let join = |f: &dyn Fn(&Over) -> String| overs.iter().map(f).collect::<Vec<_>>().join(", ");
        let names = join(&|o| o.0.name().to_string());
        Err(Error::over_quota(
            "compute.over_quota",
            format!(
                "Quota exceeded for {names}: Requested {}, but already used {} of {} {names}",
                join(&|o| o.1.to_string()),
                join(&|o| o.2.to_string()),
                join(&|o| o.3.to_string()),
            ),
        ))
    }

    /// Adds `delta` to `project`'s usage.
    pub fn add(&mut self, project: &Uuid, delta: &Usage) {
        let u = self.usage.entry(*project).or_default();
        u.instances += delta.instances;
        u.cores += delta.cores;
        u.ram += delta.ram;
        u.server_groups += delta.server_groups;
    }

    /// Takes `delta` off `project`'s usage. Usage never goes below zero; asserting that it
    /// would is a bookkeeping bug.
    pub fn sub(&mut self, project: &Uuid, delta: &Usage) {
        let u = self.usage.entry(*project).or_default();
        debug_assert!(u.instances >= delta.instances && u.cores >= delta.cores && u.ram >= delta.ram, "quota usage would go negative");
        u.instances = u.instances.saturating_sub(delta.instances);
        u.cores = u.cores.saturating_sub(delta.cores);
        u.ram = u.ram.saturating_sub(delta.ram);
        u.server_groups = u.server_groups.saturating_sub(delta.server_groups);
        if *u == Usage::default() {
            self.usage.remove(project);
        }
    }
}

/// Checks that `project` may add `delta` (see [`Quotas::check`]).
pub fn check<'k>(k: impl Read<'k>, project: &Uuid, delta: &Usage) -> Result<()> {
    let k = k.read();
    k.compute.quotas.check(project, delta)
}

/// Adds `delta` to `project`'s usage.
pub fn add_usage(k: &mut Cx, project: &Uuid, delta: &Usage) {
    k.compute.quotas.add(project, delta);
}

/// Takes `delta` off `project`'s usage.
pub fn sub_usage(k: &mut Cx, project: &Uuid, delta: &Usage) {
    k.compute.quotas.sub(project, delta);
}

/// Quota commands. Both need the admin role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmd {
    /// Sets some limits of a project (−1: unlimited). Unless `force`, a limit below what is
    /// already in use is refused, as Nova does.
    Set {
        /// The project.
        project: Uuid,
        /// The limits to set.
        limits: BTreeMap<Resource, i64>,
        /// Accept limits below current usage.
        force: bool,
    },
    /// Reverts every limit of a project to the defaults.
    Delete {
        /// The project.
        project: Uuid,
    },
    /// Sets limits of the `default` quota class: the defaults of every project without its own.
    SetDefaults {
        /// The limits to set (−1: unlimited).
        limits: BTreeMap<Resource, i64>,
    },
}

/// Quota replies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// The project's limits after the change, for every resource.
    Limits(BTreeMap<Resource, i64>),
}

/// Every default limit: the `default` quota class's, else Nova's.
pub fn defaults(q: &Quotas) -> BTreeMap<Resource, i64> {
    Resource::ALL.into_iter().map(|r| (r, q.default_of(r))).collect()
}

/// Every limit of `project`.
pub fn limits(q: &Quotas, project: &Uuid) -> BTreeMap<Resource, i64> {
    Resource::ALL.into_iter().map(|r| (r, q.limit(project, r))).collect()
}

/// Nova's minimum: a limit is −1 (unlimited) or more.
fn check_minimum(limits: &BTreeMap<Resource, i64>) -> Result<()> {
    match limits.iter().find(|(_, &v)| v < -1) {
        Some((r, v)) => Err(Error::bad_request(
            "compute.bad_request",
            format!("Invalid input for field/attribute {}. Value: {v}. {v} is less than the minimum of -1", r.name()),
        )),
        None => Ok(()),
    }
}

/// Applies a quota command.
pub fn apply(k: &mut Cx, caller: &Caller, cmd: Cmd) -> Result<Reply> {
    if !caller.admin {
        return Err(Error::forbidden("compute.forbidden", "Policy doesn't allow os_compute_api:os-quota-sets:update to be performed.".into()));
    }
    let q = &mut k.compute.quotas;
    match cmd {
        Cmd::SetDefaults { limits: new } => {
            check_minimum(&new)?;
            for (r, v) in new {
                if v == r.default_limit() {
                    q.class_defaults.0.remove(&r);
                } else {
                    q.class_defaults.0.insert(r, v);
                }
            }
            Ok(Reply::Limits(defaults(q)))
        }
        Cmd::Set { project, limits: new, force } => {
            let used = q.usage(&project);
            check_minimum(&new)?;
            for (&r, &v) in &new {
                if !force && v >= 0 && (v as u64) < used.get(r) {
                    return Err(Error::bad_request(
                        "compute.bad_request",
                        format!("Quota limit {v} for {} must be greater than or equal to already used and reserved {}.", r.name(), used.get(r)),
                    ));
                }
            }
            let base = defaults(q);
            let o = q.overrides.entry(project).or_default();
            for (r, v) in new {
                if v == base[&r] {
                    o.remove(&r);
                } else {
                    o.insert(r, v);
                }
            }
            if o.is_empty() {
                q.overrides.remove(&project);
            }
            Ok(Reply::Limits(limits(q, &project)))
        }
        Cmd::Delete { project } => {
            q.overrides.remove(&project);
            Ok(Reply::Limits(limits(q, &project)))
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::topology::{HostSpec, PowerSpec, RackGroupSpec, RegionSpec, Role, Topology, TopologySpec, ZoneSpec};
    use crate::Kernel;
    use crate::{Auth, Time};

    /// A kernel with one zone of two racks of two compute hosts, and Nova's default flavors.
    pub(crate) fn kernel() -> Kernel {
        let host = HostSpec {
            role: Role::Compute,
            vcpus: 16,
            ram: 65536,
            disk: 1000,
            arch: "x86_64".into(),
            gpus: 0,
            data_disks: vec![],
            power: PowerSpec::default(),
        };
        let spec = TopologySpec {
            host_profile: [("std".to_string(), host)].into(),
            region: vec![RegionSpec {
                name: "RegionOne".into(),
                zones: vec![ZoneSpec { name: "az1".into(), racks: vec![RackGroupSpec { count: 2, hosts: 2, profile: "std".into() }] }],
            }],
            aggregate: vec![],
            allocation: Default::default(),
            scheduler: Default::default(),
            timing: Default::default(),
        };
        let mut k = Kernel::new();
        k.topology = Topology::build(&spec, &mut crate::rng::Rng::new(1)).expect("test topology builds");
        k.spec = Some(spec);
        k.compute = crate::compute::Compute::new();
        k
    }

    /// A caller: `admin` or a project member, with user and project ids from `n`.
    pub(crate) fn caller(k: &Kernel, n: u128, admin: bool) -> Caller {
        let mut c = k.identity.resolve(&Auth::System, Time(0)).expect("system caller");
        c.system = false;
        c.admin = admin;
        c.member = true;
        c.user = Uuid(1000 + n);
        c.project = Some(Uuid(n));
        c
    }

    #[test]
    fn over_quota_names_every_resource_like_nova() {
        let k = kernel();
        let p = Uuid(1);
        let mut q = k.compute.quotas.clone();
        q.add(&p, &Usage { instances: 10, cores: 10, ram: 1024, server_groups: 0 });
        let err = q.check(&p, &Usage::server(1, 512)).unwrap_err();
        assert_eq!(err.message(), "Quota exceeded for instances: Requested 1, but already used 10 of 10 instances");
        let err = q.check(&p, &Usage::server(12, 60000)).unwrap_err();
        assert_eq!(err.kind, crate::ErrorKind::OverQuota);
        assert_eq!(
            err.message(),
            "Quota exceeded for cores, instances, ram: Requested 12, 1, 60000, but already used 10, 10, 1024 of 20, 10, 51200 cores, instances, ram"
        );
        q.sub(&p, &Usage::server(1, 512));
        assert!(q.check(&p, &Usage::server(1, 512)).is_ok());
        assert_eq!(q.usage(&p), Usage { instances: 9, cores: 9, ram: 512, server_groups: 0 });
    }

    #[test]
    fn unlimited_and_overrides() {
        let mut k = kernel();
        let admin = caller(&k, 9, true);
        let p = Uuid(1);
        let limits = BTreeMap::from([(Resource::Instances, -1), (Resource::Cores, 2)]);
        apply(&mut k.cx(), &admin, Cmd::Set { project: p, limits, force: false }).unwrap();
        assert_eq!(k.compute.quotas.limit(&p, Resource::Instances), -1);
        assert!(check(&k, &p, &Usage { instances: 1000, ..Usage::default() }).is_ok());
        assert!(check(&k, &p, &Usage::server(3, 1)).is_err());
        apply(&mut k.cx(), &admin, Cmd::Delete { project: p }).unwrap();
        assert_eq!(k.compute.quotas.limit(&p, Resource::Cores), 20);
        assert!(k.compute.quotas.overrides.is_empty());
    }

    #[test]
    fn refused_updates_change_nothing() {
        let mut k = kernel();
        let p = Uuid(1);
        add_usage(&mut k.cx(), &p, &Usage::server(4, 4096));
        let before = k.compute.clone();
        let member = caller(&k, 1, false);
        let set = |v| Cmd::Set { project: p, limits: BTreeMap::from([(Resource::Cores, v)]), force: false };
        assert_eq!(apply(&mut k.cx(), &member, set(50)).unwrap_err().kind, crate::ErrorKind::Forbidden);
        let admin = caller(&k, 9, true);
        assert_eq!(apply(&mut k.cx(), &admin, set(2)).unwrap_err().kind, crate::ErrorKind::BadRequest);
        assert_eq!(apply(&mut k.cx(), &admin, set(-2)).unwrap_err().kind, crate::ErrorKind::BadRequest);
        assert_eq!(k.compute, before);
        let forced = Cmd::Set { project: p, limits: BTreeMap::from([(Resource::Cores, 2)]), force: true };
        apply(&mut k.cx(), &admin, forced).unwrap();
        assert_eq!(k.compute.quotas.limit(&p, Resource::Cores), 2);
    }
}
