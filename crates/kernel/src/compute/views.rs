//! Read views of compute: the physical side as Nova shows it to admins (hypervisors with their
//! usage and statistics, compute services, availability zones, host aggregates), quotas and
//! limits, and where a server is. Each view checks the caller's policy and returns plain
//! records; the API adapters only render them.
//!
//! Usage comes from each host's resource provider, liveness from the health service, servers
//! from the server table's per-host index, so no view scans more than the hosts it returns
//! (zones walk the compute hosts once, zone by zone, as they are laid out).

use std::collections::BTreeMap;

use super::quotas::{self, Resource};
use crate::ids::Uuid;
use crate::placement::{DISK_GB, MEMORY_MB, VCPU};
use crate::topology::{Host, HostIdx};
use crate::{health, Caller, Error, Kernel, Result};

/// Nova's 403 for an admin-only compute read.
fn admin_only(c: &Caller, what: &str) -> Result<()> {
    if c.admin {
        Ok(())
    } else {
        Err(super::forbidden(what))
    }
}

/// One hypervisor (a compute host) with its usage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hypervisor {
    /// The host's index.
    pub idx: HostIdx,
    /// The host record (name, id, hardware).
    pub host: Host,
    /// Whether its compute service is enabled (`os-services` status).
    pub enabled: bool,
    /// Why its compute service was disabled, if a reason was given.
    pub disabled_reason: Option<String>,
    /// Its availability zone's name.
    pub zone: String,
    /// The id of its `nova-compute` service, stable per host.
    pub service_id: Uuid,
    /// Whether the host is alive: its effective health is not down.
    pub up: bool,
    /// Nova's `forced_down`: the host itself was failed, not only its rack, zone or region.
    pub forced_down: bool,
    /// VCPU, MEMORY_MB and DISK_GB allocated on it.
    pub used: [u64; 3],
    /// VCPU, MEMORY_MB and DISK_GB reserved for the host itself.
    pub reserved: [u64; 3],
    /// How many servers it holds.
    pub running: usize,
    /// Its servers (id, instance name), when asked for.
    pub servers: Vec<(Uuid, String)>,
    /// When it last booted: with the cloud, or when it last came back from a failure.
    pub booted: crate::Time,
}

impl Hypervisor {
    /// Memory in use, reserved memory included (Nova's `memory_mb_used`).
    pub fn memory_used(&self) -> u64 {
        self.used[1] + self.reserved[1]
    }

    /// Disk in use, reserved disk included (Nova's `local_gb_used`).
    pub fn disk_used(&self) -> u64 {
        self.used[2] + self.reserved[2]
    }
}

/// Which hypervisors a list wants.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HypervisorQuery {
    /// Only hosts whose name contains this.
    pub pattern: Option<String>,
    /// Only hosts after this one (a page marker).
    pub after: Option<HostIdx>,
    /// At most this many.
    pub limit: Option<usize>,
    /// Include each host's servers.
    pub with_servers: bool,
}

/// How a hypervisor or its service is named in a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostRef {
    /// By host index (Nova's integer ids, before microversion 2.53).
    Index(HostIdx),
    /// By hypervisor (resource provider) UUID.
    Uuid(Uuid),
    /// By `nova-compute` service UUID.
    Service(Uuid),
    /// By host name.
    Name(String),
}

/// A stable service UUID per host, derived from the host's id.
fn service_uuid(h: &Host) -> Uuid {
    Uuid::from_random(h.id.0.rotate_left(64) ^ 0x5e41_71ce)
}

/// Compute hosts, in index order.
fn compute_hosts(k: &Kernel) -> impl Iterator<Item = HostIdx> + '_ {
    k.placement.by_host.keys().copied()
}

/// The compute host `r` names, if there is one.
pub fn find(k: &Kernel, r: &HostRef) -> Option<HostIdx> {
    let idx = match r {
        HostRef::Index(i) => Some(*i),
        HostRef::Uuid(u) => k.placement.by_uuid.get(u).and_then(|&p| k.placement.provider(p)).and_then(|p| p.host),
        HostRef::Name(n) => k.topology.host_by_name.get(n).copied(),
        HostRef::Service(u) => compute_hosts(k).find(|&i| service_uuid(k.topology.host(i)) == *u),
    };
    idx.filter(|i| k.placement.by_host.contains_key(i))
}

/// Host `idx`'s record and usage; `with_servers` lists its servers too.
fn view(k: &Kernel, idx: HostIdx, with_servers: bool) -> Hypervisor {
    let host = k.topology.host(idx).clone();
    let prov = k.placement.by_host.get(&idx).and_then(|&p| k.placement.provider(p));
    let used = [VCPU, MEMORY_MB, DISK_GB].map(|c| prov.map_or(0, |p| p.usage[c]));
    let reserved = [VCPU, MEMORY_MB, DISK_GB].map(|c| prov.and_then(|p| p.inventories[c].as_ref()).map_or(0, |i| i.reserved));
    let servers = if with_servers { k.compute.servers.on_host(idx).map(|s| (s.id, s.instance_name())).collect() } else { Vec::new() };
    Hypervisor {
        idx,
        zone: k.topology.zone_of(idx).to_string(),
        service_id: service_uuid(&host),
        host,
        enabled: k.compute.host_enabled(idx),
        disabled_reason: k.compute.disabled_reason(idx).map(str::to_string),
        up: k.health.host_alive(&k.topology, idx),
        forced_down: k.health.own(health::Kind::Host, idx) == health::State::Down,
        used,
        reserved,
        running: k.compute.servers.servers_on_host(idx),
        servers,
        booted: k.compute.boots.0.get(&idx).copied().unwrap_or_else(|| super::cloud_created(&k.images)),
    }
}

/// Hypervisors matching `q`, in host order (`os-hypervisors`). A pattern that matches nothing
/// is Nova's 404.
pub fn hypervisors(k: &Kernel, c: &Caller, q: &HypervisorQuery) -> Result<Vec<Hypervisor>> {
    admin_only(c, "os-hypervisors:list")?;
    let start = q.after.map_or(0, |h| h + 1);
    let hosts = k.placement.by_host.range(start..).map(|(&h, _)| h);
    let hosts = hosts.filter(|&h| q.pattern.as_deref().is_none_or(|p| k.topology.host(h).name.contains(p)));
    let out: Vec<Hypervisor> = hosts.take(q.limit.unwrap_or(usize::MAX)).map(|h| view(k, h, q.with_servers)).collect();
    if let (true, Some(p)) = (out.is_empty(), &q.pattern) {
        return Err(Error::not_found("compute.not_found", format!("No hypervisor matching '{p}' could be found.")));
    }
    Ok(out)
}

/// One hypervisor (`os-hypervisors/{id}`).
pub fn hypervisor(k: &Kernel, c: &Caller, r: &HostRef, with_servers: bool) -> Result<Hypervisor> {
    admin_only(c, "os-hypervisors:show")?;
    let idx = find(k, r).ok_or_else(|| Error::not_found("compute.not_found", format!("Hypervisor with ID {} could not be found.", ref_name(r))))?;
    Ok(view(k, idx, with_servers))
}

fn ref_name(r: &HostRef) -> String {
    match r {
        HostRef::Index(i) => (i + 1).to_string(),
        HostRef::Uuid(u) | HostRef::Service(u) => u.to_string(),
        HostRef::Name(n) => n.clone(),
    }
}

/// Totals over every hypervisor (`os-hypervisors/statistics`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Compute hosts.
    pub count: u64,
    /// vCPUs, and those allocated.
    pub vcpus: (u64, u64),
    /// Memory (MiB), and that in use with reservations.
    pub memory_mb: (u64, u64),
    /// Disk (GiB), and that in use with reservations.
    pub local_gb: (u64, u64),
    /// Servers on them.
    pub running: u64,
}

/// The sums behind `os-hypervisors/statistics`.
pub fn statistics(k: &Kernel, c: &Caller) -> Result<Totals> {
    admin_only(c, "os-hypervisors:statistics")?;
    let mut t = Totals::default();
    for idx in compute_hosts(k) {
        let v = view(k, idx, false);
        t.count += 1;
        t.vcpus = (t.vcpus.0 + u64::from(v.host.spec.vcpus), t.vcpus.1 + v.used[0]);
        t.memory_mb = (t.memory_mb.0 + v.host.spec.ram, t.memory_mb.1 + v.memory_used());
        t.local_gb = (t.local_gb.0 + v.host.spec.disk, t.local_gb.1 + v.disk_used());
        t.running += v.running as u64;
    }
    Ok(t)
}

/// Every compute host as a `nova-compute` service (`os-services`), in host order.
pub fn services(k: &Kernel, c: &Caller) -> Result<Vec<Hypervisor>> {
    admin_only(c, "os-services:list")?;
    Ok(compute_hosts(k).map(|h| view(k, h, false)).collect())
}

/// One `nova-compute` service, for the reply to an update.
pub fn service(k: &Kernel, c: &Caller, r: &HostRef) -> Result<Hypervisor> {
    admin_only(c, "os-services:update")?;
    let idx = find(k, r).ok_or_else(|| Error::not_found("compute.not_found", format!("Service {} could not be found.", ref_name(r))))?;
    Ok(view(k, idx, false))
}

/// One availability zone with compute hosts in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Zone {
    /// Its name.
    pub name: String,
    /// Whether any of its hosts is up and enabled.
    pub available: bool,
    /// Its compute hosts: name, up, enabled (empty unless asked for).
    pub hosts: Vec<(String, bool, bool)>,
}

/// Availability zones that hold compute hosts (`os-availability-zone`); `detail` lists their
/// hosts and is admin-only.
pub fn zones(k: &Kernel, c: &Caller, detail: bool) -> Result<Vec<Zone>> {
    if detail {
        admin_only(c, "os-availability-zone:detail")?;
    }
    let mut out: Vec<Zone> = Vec::new();
    for idx in compute_hosts(k) {
        let h = k.topology.host(idx);
        let name = k.topology.zone_of(idx);
        let z = match out.last_mut() {
            Some(z) if z.name == name => z,
            _ => {
                out.push(Zone { name: name.to_string(), available: false, hosts: Vec::new() });
                let last = out.len() - 1;
                &mut out[last]
            }
        };
        let up = k.health.host_alive(&k.topology, idx);
        z.available |= up && k.compute.host_enabled(idx);
        if detail {
            z.hosts.push((h.name.clone(), up, k.compute.host_enabled(idx)));
        }
    }
    Ok(out)
}

/// A host aggregate as Nova shows it (`os-aggregates`): the live set, seeded from the topology.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Aggregate {
    /// Nova's integer id (the topology's aggregates are 1..n in file order).
    pub number: u32,
    /// Its UUID.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Its metadata (`availability_zone` among them, if set).
    pub metadata: BTreeMap<String, String>,
    /// Its member hosts' names, in host order.
    pub hosts: Vec<String>,
    /// When it was created (with the cloud, for the topology's).
    pub created: crate::Time,
    /// When it last changed.
    pub updated: Option<crate::Time>,
}

fn aggregate_view(k: &Kernel, a: &super::aggregates::Aggregate) -> Aggregate {
    Aggregate {
        number: a.id,
        id: a.uuid,
        name: a.name.clone(),
        metadata: a.metadata.clone(),
        hosts: a.hosts.iter().map(|&h| k.topology.host(h).name.clone()).collect(),
        created: a.created_at,
        updated: a.updated_at,
    }
}

fn live_aggregates(k: &Kernel) -> std::borrow::Cow<'_, super::aggregates::Set> {
    k.compute.aggregates.live(&k.topology, super::cloud_created(&k.images))
}

/// Every host aggregate, by id.
pub fn aggregates(k: &Kernel, c: &Caller) -> Result<Vec<Aggregate>> {
    admin_only(c, "os-aggregates:index")?;
    Ok(live_aggregates(k).by_id.values().map(|a| aggregate_view(k, a)).collect())
}

/// One aggregate, by Nova's integer id or by UUID.
pub fn aggregate(k: &Kernel, c: &Caller, id: &str) -> Result<Aggregate> {
    admin_only(c, "os-aggregates:show")?;
    let live = live_aggregates(k);
    let by_num = id.parse::<u32>().ok().and_then(|n| live.get(n));
    let found = by_num.or_else(|| id.parse::<Uuid>().ok().and_then(|u| live.by_id.values().find(|a| a.uuid == u)));
    let a = found.ok_or_else(|| Error::not_found("compute.not_found", format!("Aggregate {id} could not be found.")))?;
    Ok(aggregate_view(k, a))
}

/// Which migrations a list wants (`os-migrations`); every filter is optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MigrationQuery {
    /// Only in this status (Nova's name).
    pub status: Option<String>,
    /// Only from or to this host.
    pub host: Option<String>,
    /// Only from this host.
    pub source_compute: Option<String>,
    /// Only of this server.
    pub instance: Option<Uuid>,
    /// Only of this type (`resize`, `evacuation`).
    pub migration_type: Option<String>,
    /// Only those changed at or after this time (2.59 `changes-since`).
    pub changes_since: Option<crate::Time>,
    /// Only those changed at or before this time (2.66 `changes-before`).
    pub changes_before: Option<crate::Time>,
    /// Only of this user, as the id is given (2.80; Nova compares the text with the record's).
    pub user: Option<String>,
    /// Only of this project, as the id is given (2.80).
    pub project: Option<String>,
    /// Newest first, as Nova sorts from 2.59; id order before.
    pub newest_first: bool,
    /// Only those after this one in the order (a page marker, by UUID).
    pub marker: Option<Uuid>,
    /// At most this many.
    pub limit: Option<usize>,
}

/// Migrations matching `q` (admin only). An unknown marker is Nova's 400.
pub fn migrations(k: &Kernel, c: &Caller, q: &MigrationQuery) -> Result<Vec<super::migrations::Migration>> {
    admin_only(c, "os-migrations:index")?;
    let host = |n: &Option<String>| n.as_ref().map(|n| host_named(k, n));
    let (any_host, source) = (host(&q.host), host(&q.source_compute));
    let keep = |m: &&super::migrations::Migration| {
        q.status.as_deref().is_none_or(|s| s == m.status.name())
            && any_host.is_none_or(|h| h.is_some_and(|h| m.source == h || m.dest == Some(h)))
            && source.is_none_or(|h| h == Some(m.source))
            && q.instance.is_none_or(|i| i == m.instance)
            && q.migration_type.as_deref().is_none_or(|t| t == m.kind.name())
            && q.changes_since.is_none_or(|t| m.updated_at.unwrap_or(m.created_at) >= t)
            && q.changes_before.is_none_or(|t| m.updated_at.unwrap_or(m.created_at) <= t)
            && q.user.as_ref().is_none_or(|u| *u == m.user.simple())
            && q.project.as_ref().is_none_or(|p| *p == m.project.simple())
    };
    let mut all: Vec<&super::migrations::Migration> = match q.instance {
        Some(i) => k.compute.migrations.by_instance.get(&i).into_iter().flatten().filter_map(|id| k.compute.migrations.by_id.get(id)).collect(),
        None => k.compute.migrations.by_id.values().collect(),
    };
    if q.newest_first {
        all.sort_by_key(|m| std::cmp::Reverse((m.created_at, m.id)));
    }
    let start = match q.marker {
        Some(u) => all
            .iter()
            .position(|m| m.uuid == u)
            .map(|i| i + 1)
            .ok_or_else(|| Error::bad_request("compute.bad_request", format!("Marker {u} could not be found.")))?,
        None => 0,
    };
    Ok(all.into_iter().skip(start).filter(keep).take(q.limit.unwrap_or(usize::MAX)).cloned().collect())
}

/// Checks the caller may read `project`'s quotas: its own, or any for an admin.
fn may_read_quotas(c: &Caller, project: &Uuid) -> Result<()> {
    if c.admin || c.project == Some(*project) {
        Ok(())
    } else {
        Err(super::forbidden("os-quota-sets:show"))
    }
}

/// `project`'s limits (`os-quota-sets/{project}`): its own project, or any for an admin.
pub fn quota_limits(k: &Kernel, c: &Caller, project: &Uuid) -> Result<BTreeMap<Resource, i64>> {
    may_read_quotas(c, project)?;
    Ok(quotas::limits(&k.compute.quotas, project))
}

/// Each resource's limit and use (`os-quota-sets/{project}/detail`). Key pairs are the
/// caller's own, as Nova counts them per user.
pub fn quota_detail(k: &Kernel, c: &Caller, project: &Uuid) -> Result<BTreeMap<Resource, (i64, u64)>> {
    may_read_quotas(c, project)?;
    let used = k.compute.quotas.usage(project);
    let in_use = |r: Resource| match r {
        Resource::KeyPairs => k.compute.keypairs.get(&c.user).map_or(0, |m| m.len() as u64),
        _ => used.get(r),
    };
    Ok(Resource::ALL.into_iter().map(|r| (r, (k.compute.quotas.limit(project, r), in_use(r)))).collect())
}

/// Limits and use for `GET /limits`: the caller's project, or `asked` for an admin.
pub fn absolute_limits(k: &Kernel, c: &Caller, asked: Option<Uuid>) -> Result<(BTreeMap<Resource, i64>, quotas::Usage)> {
    let p = match asked {
        Some(p) if c.admin => p,
        _ => c.project.ok_or_else(|| Error::forbidden("compute.forbidden", "Limits need a project-scoped token.".into()))?,
    };
    Ok((quotas::limits(&k.compute.quotas, &p), k.compute.quotas.usage(&p)))
}

/// Where a server is, as Nova's server record shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Whereabouts {
    /// Its availability zone: its host's, or the one it asked for while unplaced.
    pub zone: Option<String>,
    /// Its host's name, once placed.
    pub host: Option<String>,
    /// Nova's `host_status`: `UP`, `DOWN`, `MAINTENANCE` (down for maintenance or disabled),
    /// or empty while unplaced.
    pub host_status: &'static str,
}

/// Where server `s` is and how its host is.
pub fn whereabouts(k: &Kernel, s: &super::servers::Server) -> Whereabouts {
    let t = &k.topology;
    let zone = s.host.map(|h| t.host(h).zone).or(s.requested_zone).map(|z| t.zones[z as usize].name.clone());
    let host_status = match s.host {
        None => "",
        Some(h) => match k.health.host(t, h) {
            health::State::Down => "DOWN",
            health::State::Maintenance => "MAINTENANCE",
            health::State::Up if !k.compute.host_enabled(h) => "MAINTENANCE",
            health::State::Up => "UP",
        },
    };
    Whereabouts { zone, host: s.host.map(|h| t.host(h).name.clone()), host_status }
}

/// The image properties a server shows from 2.98: those of its image that Nova knows as
/// image metadata (`hw_*`, `img_*`, `os_*` fields and their legacy names). Nova keeps a copy
/// taken at boot; orrery reads the image as it is now, so a deleted image shows none.
pub fn image_properties(k: &Kernel, s: &super::servers::Server) -> BTreeMap<String, String> {
    let Some(img) = s.image.and_then(|id| k.images.by_id.get(&id)) else { return BTreeMap::new() };
    img.properties.iter().filter(|(key, _)| IMAGE_META_PROPS.binary_search(&key.as_str()).is_ok()).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Nova's image metadata property names (the fields of its `ImageMetaProps` and the legacy
/// names it still maps), sorted for binary search.
const IMAGE_META_PROPS: &[&str] = &[
    "architecture",
    "auto_disk_config",
    "bdm_v2",
    "bittorrent",
    "block_device_mapping",
    "cache_in_nova",
    "hw_architecture",
    "hw_auto_disk_config",
    "hw_boot_menu",
    "hw_cdrom_bus",
    "hw_cpu_cores",
    "hw_cpu_max_cores",
    "hw_cpu_max_sockets",
    "hw_cpu_max_threads",
    "hw_cpu_policy",
    "hw_cpu_realtime_mask",
    "hw_cpu_sockets",
    "hw_cpu_thread_policy",
    "hw_cpu_threads",
    "hw_device_id",
    "hw_disk_bus",
    "hw_disk_type",
    "hw_emulation_architecture",
    "hw_ephemeral_encryption",
    "hw_ephemeral_encryption_secret_uuid",
    "hw_firmware_stateless",
    "hw_firmware_type",
    "hw_floppy_bus",
    "hw_input_bus",
    "hw_ipxe_boot",
    "hw_locked_memory",
    "hw_machine_type",
    "hw_maxphysaddr_bits",
    "hw_maxphysaddr_mode",
    "hw_mem_encryption",
    "hw_mem_encryption_model",
    "hw_mem_page_size",
    "hw_numa_cpus",
    "hw_numa_mem",
    "hw_numa_nodes",
    "hw_pci_numa_affinity_policy",
    "hw_pmu",
    "hw_pointer_model",
    "hw_qemu_guest_agent",
    "hw_redirected_usb_ports",
    "hw_rescue_bus",
    "hw_rescue_device",
    "hw_rng_model",
    "hw_scsi_model",
    "hw_serial_port_count",
    "hw_sound_model",
    "hw_time_hpet",
    "hw_tpm_model",
    "hw_tpm_version",
    "hw_usb_model",
    "hw_video_model",
    "hw_video_ram",
    "hw_vif_model",
    "hw_vif_multiqueue_enabled",
    "hw_viommu_model",
    "hw_virtio_packed_ring",
    "hw_vm_mode",
    "hw_watchdog_action",
    "hypervisor_type",
    "hypervisor_version_requires",
    "img_bdm_v2",
    "img_bittorrent",
    "img_cache_in_nova",
    "img_compression_level",
    "img_config_drive",
    "img_hide_hypervisor_id",
    "img_hv_requested_version",
    "img_hv_type",
    "img_linked_clone",
    "img_mappings",
    "img_owner_id",
    "img_root_device_name",
    "img_signature",
    "img_signature_certificate_uuid",
    "img_signature_hash_method",
    "img_signature_key_type",
    "img_use_agent",
    "img_version",
    "ipxe_boot",
    "mappings",
    "os_admin_user",
    "os_command_line",
    "os_distro",
    "os_require_quiesce",
    "os_secure_boot",
    "os_skip_agent_inject_files_at_boot",
    "os_skip_agent_inject_ssh",
    "os_type",
    "owner_id",
    "root_device_name",
    "traits_required",
    "vm_mode",
    "vmware_disktype",
    "vmware_image_version",
    "vmware_linked_clone",
    "vmware_ostype",
    "xenapi_device_id",
    "xenapi_image_compression_level",
    "xenapi_skip_agent_inject_files_at_boot",
    "xenapi_skip_agent_inject_ssh",
    "xenapi_use_agent",
];

/// The zone a server was pinned to at boot (2.96's `pinned_availability_zone`).
pub fn pinned_zone(k: &Kernel, s: &super::servers::Server) -> Option<String> {
    s.requested_zone.map(|z| k.topology.zones[z as usize].name.clone())
}

/// The flavor server `s` runs with: the copy taken when it booted or was resized, which later
/// flavor changes do not touch.
pub fn flavor_of<'a>(k: &'a Kernel, s: &super::servers::Server) -> &'a super::flavors::Flavor {
    k.compute.servers.flavor(s.flavor)
}

/// A host's name, for records that keep its index.
pub fn host_name(k: &Kernel, h: HostIdx) -> String {
    k.topology.host(h).name.clone()
}

/// The host a name names, for the admin-only `host` and `node` server filters.
pub fn host_named(k: &Kernel, name: &str) -> Option<HostIdx> {
    k.topology.host_by_name.get(name).copied()
}

/// The availability zone a name names, for the `availability_zone` server filter.
pub fn zone_named(k: &Kernel, name: &str) -> Option<u32> {
    k.topology.zones.iter().position(|z| z.name == name).map(|i| i as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::{Cmd as HealthCmd, Kind, State};

    #[test]
    fn image_meta_names_are_sorted_and_unique() {
        assert!(IMAGE_META_PROPS.windows(2).all(|w| w[0] < w[1]));
    }
    use crate::identity::Bootstrap;
    use crate::topology::{HostSpec, TopologySpec};
    use crate::{Auth, Command, InitSpec, Request, Time};

    /// Zone `az1` with two racks of two hosts, zone `az2` with one rack of two.
    fn kernel() -> Kernel {
        let topology = TopologySpec::uniform("RegionOne", HostSpec::compute(4, 8192, 100), &[("az1", 2, 2), ("az2", 1, 2)]);
        let mut k = Kernel::new();
        let init = InitSpec { seed: 3, topology, bootstrap: Bootstrap::new("admin", "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA") };
        k.apply(Time::from_secs(1_700_000_000), Request { auth: Auth::System, command: Command::Init(Box::new(init)) }).expect("init");
        k
    }

    fn admin() -> Caller {
        Caller::scoped(Uuid(0x7000), Uuid(0xabc9), &["admin", "member", "reader"])
    }

    fn health(k: &mut Kernel, cmd: HealthCmd) -> Result<health::Reply> {
        k.apply_health(&Caller::system(), cmd)
    }

    #[test]
    fn only_admins_read_the_physical_side() {
        let k = kernel();
        let member = Caller::scoped(Uuid(0x5001), Uuid(0xabc1), &["member", "reader"]);
        assert_eq!(hypervisors(&k, &member, &HypervisorQuery::default()).unwrap_err().code, "compute.forbidden");
        assert_eq!(statistics(&k, &member).unwrap_err().code, "compute.forbidden");
        assert_eq!(services(&k, &member).unwrap_err().code, "compute.forbidden");
        assert_eq!(zones(&k, &member, true).unwrap_err().code, "compute.forbidden");
        assert_eq!(zones(&k, &member, false).map(|z| z.len()), Ok(2));
    }

    #[test]
    fn pages_patterns_and_lookups() {
        let k = kernel();
        let all = hypervisors(&k, &admin(), &HypervisorQuery::default()).unwrap();
        assert_eq!(all.len(), 6);
        let page = hypervisors(&k, &admin(), &HypervisorQuery { after: Some(all[1].idx), limit: Some(2), ..Default::default() }).unwrap();
        assert_eq!(page.iter().map(|v| v.idx).collect::<Vec<_>>(), vec![all[2].idx, all[3].idx]);
        let name = all[4].host.name.clone();
        assert_eq!(find(&k, &HostRef::Name(name.clone())), Some(all[4].idx));
        assert_eq!(find(&k, &HostRef::Uuid(all[4].host.id)), Some(all[4].idx));
        assert_eq!(find(&k, &HostRef::Service(all[4].service_id)), Some(all[4].idx));
        assert_eq!(find(&k, &HostRef::Index(999)), None);
        let none = hypervisors(&k, &admin(), &HypervisorQuery { pattern: Some("nope".into()), ..Default::default() });
        assert_eq!(none.unwrap_err().code, "compute.not_found");
        assert_eq!(statistics(&k, &admin()).unwrap().count, 6);
    }

    #[test]
    fn a_host_boots_with_the_cloud_and_again_when_it_recovers() {
        let mut k = kernel();
        let name = hypervisors(&k, &admin(), &HypervisorQuery::default()).unwrap()[0].host.name.clone();
        let booted = |k: &Kernel| hypervisor(k, &admin(), &HostRef::Name(name.clone()), false).unwrap().booted;
        assert_eq!(booted(&k), Time::from_secs(1_700_000_000));
        k.advance(Time::from_secs(1_700_000_100));
        health(&mut k, HealthCmd::Set { kind: Kind::Host, name: name.clone(), state: State::Down }).unwrap();
        assert_eq!(booted(&k), Time::from_secs(1_700_000_000), "a failure is not a boot");
        k.advance(Time::from_secs(1_700_000_200));
        health(&mut k, HealthCmd::Set { kind: Kind::Host, name: name.clone(), state: State::Up }).unwrap();
        assert_eq!(booted(&k), Time::from_secs(1_700_000_200));
    }

    #[test]
    fn forced_down_is_the_hosts_own_state_and_ensure_is_idempotent() {
        let mut k = kernel();
        let all = hypervisors(&k, &admin(), &HypervisorQuery::default()).unwrap();
        let (host, rack) = (all[0].host.name.clone(), k.topology.racks[all[0].host.rack as usize].name.clone());
        health(&mut k, HealthCmd::Set { kind: Kind::Rack, name: rack.clone(), state: State::Down }).unwrap();
        let v = hypervisor(&k, &admin(), &HostRef::Name(host.clone()), false).unwrap();
        assert_eq!((v.up, v.forced_down), (false, false), "down with its rack, not forced down");
        let ensure = |state| HealthCmd::Ensure { kind: Kind::Host, name: host.clone(), state };
        health(&mut k, ensure(State::Down)).unwrap();
        let hash = k.state_hash();
        assert_eq!(health(&mut k, ensure(State::Down)), Ok(health::Reply::Changed { hosts: vec![] }));
        assert_eq!(k.state_hash(), hash, "a repeated ensure changes nothing");
        assert!(hypervisor(&k, &admin(), &HostRef::Name(host.clone()), false).unwrap().forced_down);
        health(&mut k, HealthCmd::Set { kind: Kind::Rack, name: rack, state: State::Up }).unwrap();
        let z = zones(&k, &admin(), true).unwrap();
        assert!(z[0].available, "az1's other rack is up");
        assert!(z[0].hosts.iter().any(|(n, up, _)| *n == host && !up), "the forced-down host stays down after its rack recovers");
    }
}
