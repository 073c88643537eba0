//! Booting servers, as explicit steps that later services plug into:
//!
//! 1. **validate**: every step's checks (flavor, image, keypair, zone, forced host, group,
//!    quota), before anything changes;
//! 2. **quota**: one record per server, counted against the project's quota;
//! 3. for each server, **schedule** (the scheduler picks a host) then **claim** (placement
//!    allocates its resources there), all or none, as Nova's conductor does for one request;
//! 4. *(ports, then volumes: the networking and block storage services attach here, between
//!    the claim and the spawn, each undone with the claims if it fails)*;
//! 5. **spawn**: the driver is asked to build each server.
//!
//! A request that fails in steps 3–4 is not refused: its servers exist, in ERROR with Nova's
//! "No valid host" fault (or the failing step's), and still count against quota.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::lifecycle::await_driver;
use super::{edit, ActionEvent, ActionKind, ActionRecord, EventKind, Extras, Fault, PowerState, Server, TaskState, VmState};
use crate::compute::quotas::{self, Resource, Usage};
use crate::compute::Cx;
use crate::compute::{flavors, groups, keypairs};
use crate::ids::Uuid;
use crate::image::Image;
use crate::placement::Resources;
use crate::scheduler::Request as SchedRequest;
use crate::sparse::{Rare, Sparse};
use crate::topology::{HostIdx, Role};
use crate::Read;
use crate::{Caller, Error, Event, Result};

/// The fault Nova records when the scheduler finds no host.
pub const NO_VALID_HOST: &str = "No valid host was found. There are not enough hosts available.";

/// Nova's "No valid host" as an error: `compute.no_valid_host`.
pub fn no_valid_host() -> Error {
    Error::conflict("compute.no_valid_host", NO_VALID_HOST.to_string())
}

/// What `POST /servers` asks for, already parsed by the API.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateSpec {
    /// One fresh id per server that may be created (`max_count` of them).
    pub ids: Vec<Uuid>,
    /// The fewest servers to create; fewer than `ids.len()` are created only when quota
    /// allows no more.
    pub min_count: u32,
    /// The request id, for the action log.
    pub request_id: Uuid,
    /// The name (suffixed `-1`, `-2`, … when creating several).
    pub name: String,
    /// The flavor id.
    pub flavor: String,
    /// The image id.
    pub image: Uuid,
    /// A keypair of the caller's.
    pub key_name: Option<String>,
    /// The zone to boot in.
    pub availability_zone: Option<String>,
    /// A host to boot on, bypassing the scheduler's choice (admins only).
    pub host: Option<String>,
    /// Metadata.
    pub metadata: BTreeMap<String, String>,
    /// Description (2.19).
    pub description: Option<String>,
    /// Base64 user data.
    pub user_data: Option<String>,
    /// Whether to attach a config drive.
    pub config_drive: bool,
    /// `OS-DCF:diskConfig` AUTO.
    pub auto_disk_config: bool,
    /// `accessIPv4`.
    pub access_ipv4: Option<String>,
    /// `accessIPv6`.
    pub access_ipv6: Option<String>,
    /// Tags (2.52).
    pub tags: Vec<String>,
    /// The server group to join (scheduler hint `group`).
    pub group: Option<Uuid>,
    /// Servers whose hosts to avoid (scheduler hint `different_host`).
    pub different_host: Vec<Uuid>,
    /// Trusted image certificate ids (2.63).
    pub trusted_certs: Option<Vec<String>>,
    /// The hostname asked for (2.90); a single server only.
    #[serde(default)]
    pub hostname: Option<String>,
    /// Every scheduler hint given, each value as a list of strings, kept to show (2.100).
    #[serde(default)]
    pub hints: BTreeMap<String, Vec<String>>,
}

impl CreateSpec {
    /// One server of `flavor` from `image` with every optional field at its default (no key,
    /// zone, group, metadata or tags): what the simulator and tests boot.
    pub fn one(id: Uuid, request_id: Uuid, name: String, flavor: String, image: Uuid) -> CreateSpec {
        CreateSpec { ids: vec![id], min_count: 1, request_id, name, flavor, image, ..CreateSpec::default() }
    }
}

/// Everything validation resolved, ready to mutate.
struct Plan {
    project: Uuid,
    count: usize,
    flavor: flavors::Flavor,
    zone: Option<u32>,
    forced_host: Option<HostIdx>,
    image_props: BTreeMap<String, String>,
    avoid: Vec<HostIdx>,
}

/// Boots the servers of `spec`, step by step (see the module docs).
pub fn create(k: &mut Cx, caller: &Caller, spec: CreateSpec) -> Result<super::Reply> {
    let plan = validate(&*k, caller, &spec)?;
    let reservation = k.rng().next_u64();
    let ids = quota(k, caller, &spec, &plan, reservation);
    match place_all(k, caller, &plan, &spec, &ids) {
        Ok(hosts) => {
            for (id, host) in ids.iter().zip(hosts) {
                spawn(k, id, host);
            }
        }
        Err(error) => {
            for id in &ids {
                reject(k, id, &error);
            }
        }
    }
    Ok(super::Reply::Created { ids, reservation_id: super::reservation_id(reservation) })
}

/// The quota step: one record per server that quota allows, each counted against the
/// project's usage and joined to its group. Returns their ids in launch order.
fn quota(k: &mut Cx, caller: &Caller, spec: &CreateSpec, plan: &Plan, reservation: u64) -> Vec<Uuid> {
    let flavor_idx = k.compute.servers.intern_flavor(&plan.flavor);
    let ids: Vec<Uuid> = spec.ids[..plan.count].to_vec();
    for (i, id) in ids.iter().enumerate() {
        let server = record(k, caller, spec, plan, *id, i, flavor_idx, reservation);
        k.compute.servers.insert(server);
        quotas::add_usage(k, &plan.project, &super::usage_of(&k.compute.servers, flavor_idx));
        if let Some(g) = spec.group {
            groups::join(k, &g, id);
        }
    }
    ids
}

/// Checks everything about the request before anything changes.
fn validate<'k>(k: impl Read<'k>, caller: &Caller, spec: &CreateSpec) -> Result<Plan> {
    let k = k.read();
    super::check_writer(caller, "servers:create")?;
    let project = caller.project.ok_or_else(|| Error::forbidden("compute.forbidden", "Creating a server needs a project-scoped token.".into()))?;
    if spec.ids.is_empty() || spec.min_count == 0 || spec.min_count as usize > spec.ids.len() {
        return Err(Error::bad_request("compute.bad_request", "min_count must be <= max_count".into()));
    }
    for (i, id) in spec.ids.iter().enumerate() {
        if k.compute.servers.by_id.contains_key(id) || spec.ids[..i].contains(id) {
            return Err(Error::conflict("compute.duplicate", format!("Instance {id} already exists.")));
        }
    }
    edit::check_name(&spec.name)?;
    if spec.hostname.is_some() && spec.ids.len() > 1 {
        return Err(Error::bad_request("compute.bad_request", "Unable to allocate a single hostname to multiple instances".into()));
    }
    edit::check_description(spec.description.as_deref())?;
    edit::check_metadata(k, &project, &spec.metadata)?;
    edit::check_tags(&spec.tags)?;
    let flavor = flavors::find(k, caller, &spec.flavor).map_err(|e| Error::bad_request("compute.bad_request", e.message().to_string()))?.clone();
    let image = find_image(k, caller, &spec.image)?;
    check_image_fits(caller, image, &flavor)?;
    if let Some(name) = &spec.key_name {
        keypairs::find(k, &caller.user, name).map_err(|_| Error::bad_request("compute.bad_request", "Invalid key_name provided.".into()))?;
    }
    let zone = match &spec.availability_zone {
        Some(z) => Some(zone_index(k, z)?),
        None => None,
    };
    let forced_host = match &spec.host {
        Some(h) => Some(forced_host(k, caller, h, zone)?),
        None => None,
    };
    let count = quota_count(k, &project, &flavor, spec)?;
    if let Some(g) = &spec.group {
        check_group(k, caller, g, count)?;
    }
    let avoid = spec.different_host.iter().filter_map(|id| super::find(k, caller, id).ok()).filter_map(|s| s.host).collect();
    Ok(Plan { project, count, flavor, zone, forced_host, image_props: image.properties.clone(), avoid })
}

/// Finds an image the caller may boot: one it may see (Glance's rules), and active.
pub(crate) fn find_image<'a>(k: impl Read<'a>, caller: &Caller, id: &Uuid) -> Result<&'a Image> {
    let k = k.read();
    let image = k
        .images
        .by_id
        .get(id)
        .filter(|i| crate::image::visible(i, caller))
        .ok_or_else(|| Error::bad_request("compute.bad_request", "Can not find requested image".into()))?;
    if image.status != "active" {
        return Err(Error::bad_request("compute.bad_request", format!("Image {id} is not active.")));
    }
    Ok(image)
}

/// Nova's checks of an image against a flavor's memory and root disk.
pub(crate) fn check_image_fits(caller: &Caller, image: &Image, flavor: &flavors::Flavor) -> Result<()> {
    if image.min_ram > flavor.ram {
        return Err(Error::bad_request("compute.bad_request", "Flavor's memory is too small for requested image.".into()));
    }
    if flavor.disk == 0 {
        if !caller.admin {
            return Err(Error::forbidden("compute.forbidden", "Only volume-backed servers are allowed for flavors with zero disk.".into()));
        }
        return Ok(());
    }
    let flavor_bytes = flavor.disk << 30;
    if image.size > flavor_bytes {
        return Err(Error::bad_request(
            "compute.bad_request",
            format!("Flavor's disk is too small for requested image. Flavor disk is {flavor_bytes} bytes, image is {} bytes.", image.size),
        ));
    }
    if image.min_disk > flavor.disk {
        return Err(Error::bad_request(
            "compute.bad_request",
            format!(
                "Flavor's disk is smaller than the minimum size specified in image metadata. Flavor disk is {flavor_bytes} bytes, minimum size is {} bytes.",
                image.min_disk << 30
            ),
        ));
    }
    Ok(())
}

/// The index of the zone named `name`.
fn zone_index<'k>(k: impl Read<'k>, name: &str) -> Result<u32> {
    let k = k.read();
    k.topology
        .zones
        .iter()
        .position(|z| z.name == name)
        .map(|i| i as u32)
        .ok_or_else(|| Error::bad_request("compute.bad_request", "The requested availability zone is not available".into()))
}

/// Resolves a forced host: admins only, a compute host, inside the requested zone.
fn forced_host<'k>(k: impl Read<'k>, caller: &Caller, name: &str, zone: Option<u32>) -> Result<HostIdx> {
    let k = k.read();
    if !caller.admin {
        return Err(Error::forbidden("compute.forbidden", "Policy doesn't allow os_compute_api:servers:create:forced_host to be performed.".into()));
    }
    let h = *k.topology.host_by_name.get(name).ok_or_else(|| Error::bad_request("compute.bad_request", format!("Compute host {name} could not be found.")))?;
    let host = k.topology.host(h);
    if host.spec.role != Role::Compute {
        return Err(Error::bad_request("compute.bad_request", format!("Compute host {name} could not be found.")));
    }
    if zone.is_some_and(|z| z != host.zone) {
        return Err(Error::bad_request("compute.bad_request", format!("Host '{name}' is not a member of the requested availability zone.")));
    }
    Ok(h)
}

/// How many servers quota allows: `ids.len()` if possible, else as many as fit down to
/// `min_count`; over quota (403) below that.
fn quota_count<'k>(k: impl Read<'k>, project: &Uuid, flavor: &flavors::Flavor, spec: &CreateSpec) -> Result<usize> {
    let k = k.read();
    let one = Usage::server(u64::from(flavor.vcpus), flavor.ram);
    let times = |n: usize| Usage { instances: n as u64, cores: one.cores * n as u64, ram: one.ram * n as u64, server_groups: 0 };
    let max = spec.ids.len();
    let first = quotas::check(k, project, &times(max));
    if first.is_ok() {
        return Ok(max);
    }
    let min = spec.min_count as usize;
    (min..max).rev().find(|&n| quotas::check(k, project, &times(n)).is_ok()).ok_or_else(|| first.unwrap_err())
}

/// Checks the group exists, is the caller's, and can take `count` more members.
fn check_group<'k>(k: impl Read<'k>, caller: &Caller, group: &Uuid, count: usize) -> Result<()> {
    let k = k.read();
    let g = groups::find(k, caller, group).map_err(|e| Error::bad_request("compute.bad_request", e.message().to_string()))?;
    let limit = k.compute.quotas.limit(&g.project, Resource::ServerGroupMembers);
    if limit >= 0 && (g.members.len() + count) as i64 > limit {
        return Err(Error::over_quota("compute.over_quota", "Quota exceeded, too many servers in group".into()));
    }
    Ok(())
}

/// The record of the `i`-th new server, building and waiting for a host.
#[allow(clippy::too_many_arguments)]
fn record(k: &mut Cx, caller: &Caller, spec: &CreateSpec, plan: &Plan, id: Uuid, i: usize, flavor: u32, reservation: u64) -> Server {
    let now = k.now();
    let seq = k.compute.servers.next_seq;
    k.compute.servers.next_seq += 1;
    let name = if plan.count > 1 { format!("{}-{}", spec.name, i + 1) } else { spec.name.clone() };
    let extras = Extras {
        description: spec.description.clone(),
        access_ipv4: spec.access_ipv4.clone(),
        access_ipv6: spec.access_ipv6.clone(),
        user_data: spec.user_data.clone(),
        trusted_certs: spec.trusted_certs.clone(),
        group: spec.group,
        key_name: spec.key_name.clone(),
        tags: spec.tags.iter().cloned().collect(),
        hostname: Rare(spec.hostname.clone()),
        hints: Sparse(spec.hints.clone()),
        ..Extras::default()
    };
    let extras = (extras != Extras::default()).then(|| Box::new(extras));
    let event = ActionEvent { kind: EventKind::Schedule, start: now, finish: None, ok: None, host: None };
    let action = ActionRecord {
        kind: ActionKind::Create,
        request_id: spec.request_id,
        user: caller.user,
        project: plan.project,
        start: now,
        updated: now,
        events: vec![event],
    };
    Server {
        id,
        name,
        project: plan.project,
        user: caller.user,
        seq,
        flavor,
        image: Some(spec.image),
        requested_zone: plan.zone,
        host: None,
        vm_state: VmState::Building,
        task_state: Some(TaskState::Scheduling),
        power_state: PowerState::NoState,
        metadata: spec.metadata.clone(),
        config_drive: spec.config_drive,
        auto_disk_config: spec.auto_disk_config,
        reservation,
        launch_index: i as u32,
        progress: 0,
        op: 0,
        created: now,
        updated: now,
        launched_at: None,
        extras,
        actions: vec![action],
    }
}

/// Steps 3 and 4 for every server, all or none, as Nova's conductor does for one request:
/// each server is scheduled, then claimed, so the next one is scheduled against the claims
/// before it. If one cannot be placed, the claims of those already placed are given back.
fn place_all(k: &mut Cx, caller: &Caller, plan: &Plan, spec: &CreateSpec, ids: &[Uuid]) -> Result<Vec<HostIdx>> {
    let res = flavors::resources(&plan.flavor);
    let mut hosts = Vec::with_capacity(ids.len());
    for id in ids {
        let placed = schedule(k, id, plan, spec.group, &res).and_then(|h| claim(k, id, plan.project, caller.user, h, &res).map(|()| h));
        match placed {
            Ok(h) => {
                k.compute.servers.set_host(id, Some(h));
                hosts.push(h);
            }
            Err(reason) => {
                for done in &ids[..hosts.len()] {
                    unclaim(k, done);
                }
                return Err(reason);
            }
        }
    }
    Ok(hosts)
}

/// The schedule step: the forced host, or the scheduler's pick for server `id` (its group's
/// members elsewhere, the zone, image and flavor constraints, the hosts to avoid).
fn schedule(k: &mut Cx, id: &Uuid, plan: &Plan, group: Option<Uuid>, res: &Resources) -> Result<HostIdx> {
    if let Some(h) = plan.forced_host {
        return Ok(h);
    }
    let group = match group {
        Some(g) => groups::placement_for(&*k, &g, |m| if m == id { None } else { k.compute.servers.host_of(m) }),
        None => Default::default(),
    };
    let req = SchedRequest {
        resources: *res,
        zone: plan.zone,
        image_props: Some(&plan.image_props),
        extra_specs: Some(&plan.flavor.extra_specs),
        group,
        ignore_hosts: &plan.avoid,
    };
    Ok(k.schedule(&req)?)
}

/// The claim step: placement allocates `res` on `host` for consumer `id`. A host without room
/// (a forced one, or one that filled since) is "No valid host".
fn claim(k: &mut Cx, id: &Uuid, project: Uuid, user: Uuid, host: HostIdx, res: &Resources) -> Result<()> {
    k.placement.claim_on_hosts(*id, project, user, &[host], res).map_err(|_| no_valid_host())
}

/// Undoes the claim step for server `id`: its allocation is freed and it has no host.
fn unclaim(k: &mut Cx, id: &Uuid) {
    k.placement.free(id);
    k.compute.servers.set_host(id, None);
}

/// The spawn step: a placed server starts spawning; the driver's observation will make it
/// ACTIVE.
fn spawn(k: &mut Cx, id: &Uuid, host: HostIdx) {
    let now = k.now();
    let Some(s) = k.compute.servers.by_id.get_mut(id) else { return };
    s.task_state = Some(TaskState::Spawning);
    s.updated = now;
    if let Some(a) = s.actions.last_mut() {
        if let Some(e) = a.events.last_mut() {
            e.finish = Some(now);
            e.ok = Some(true);
        }
        super::push_compact(&mut a.events, ActionEvent { kind: EventKind::Build, start: now, finish: None, ok: None, host: Some(host) });
        a.updated = now;
    }
    let op = s.op;
    let boot = k.policy().timing.boot;
    k.outbox.events.push(Event::ServerPlaced { server: *id, host });
    await_driver(k, *id, op, boot, super::Step::Built, crate::driver::Work::Spawn);
}

/// A server the scheduler could not place goes to ERROR with the fault.
fn reject(k: &mut Cx, id: &Uuid, error: &Error) {
    let now = k.now();
    let Some(s) = k.compute.servers.by_id.get_mut(id) else { return };
    s.vm_state = VmState::Error;
    s.task_state = None;
    s.updated = now;
    s.extras_mut().fault = Some(Fault { code: 500, message: error.message.clone(), created: now });
    if let Some(a) = s.actions.last_mut() {
        if let Some(e) = a.events.last_mut() {
            e.finish = Some(now);
            e.ok = Some(false);
        }
        a.updated = now;
    }
    k.outbox.events.push(Event::ServerRejected { server: *id, error: error.clone() });
}
