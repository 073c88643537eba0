//! Compute hosts: what compute does when [`crate::health`] says a host went down or came back,
//! disabling hosts (`os-services`), and evacuating the servers a failure took down.
//!
//! A failed host is down and out of the scheduler's index. Every server on it loses its
//! instance: its operation in flight is cancelled (its timer goes stale), `power_state` goes to
//! NOSTATE and a [`Down`](super::servers::Down) record remembers since when and what to return to. What happens
//! next is the topology's [`Evacuation`] policy: with `none` the servers wait for their host
//! to recover and then power back on (after `timing.start`); with `rebuild-elsewhere` each one
//! is rebuilt at once on a host the scheduler picks (after `timing.rebuild`), as Nova's
//! evacuate does. An admin may also evacuate one server by hand ([`Cmd::Evacuate`]).
//!
//! Allocations follow Nova: during an evacuation the server holds resources on both its
//! failed source and its destination; the source's are dropped when the rebuild finishes. If
//! no host fits, the server goes to ERROR with "No valid host" and keeps its source allocation.
//!
//! Servers being deleted, resized or reverted are left to finish their operation; one that
//! lands on a down host is lost then.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::servers::failover::{is_down, lose, restart};
use super::servers::lifecycle::{begin, check_state};
use super::servers::{create, ActionEvent, ActionKind, EventKind, Fault, Step, TaskState, VmState};
use super::{flavors, groups, migrations};
use crate::compute::Cx;
use crate::health::{Change, State};
use crate::ids::Uuid;
use crate::scheduler::Request as SchedRequest;
use crate::topology::{Evacuation, HostIdx, Role};
use crate::Read;
use crate::{Caller, Error, Event, Result, Time};

/// When each host that came back from a failure booted again. A host never failed has been up
/// since the cloud was created. Hashed and stored as nothing while empty, so states from before
/// it was kept load and hash as they did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Boots(pub BTreeMap<HostIdx, Time>);

impl Boots {
    /// Whether no host has rebooted (then the field is left out of snapshots).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::hash::Hash for Boots {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        if !self.0.is_empty() {
            self.0.hash(h);
        }
    }
}

/// Host commands. Legal only for admins and the kernel's own shell ([`crate::Auth::System`]).
/// Failing and recovering hosts, racks and zones is [`crate::health`]'s; compute reacts to it
/// through `on_health`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmd {
    /// Takes a host out of the scheduler (`os-services` disable); its servers keep running.
    Disable {
        /// The host's name.
        host: String,
        /// Why (at most 255 characters).
        reason: Option<String>,
    },
    /// Lets the scheduler use a host again.
    Enable {
        /// The host's name.
        host: String,
    },
    /// Rebuilds one server whose host is down on another host (Nova's `evacuate`).
    Evacuate {
        /// The server.
        server: Uuid,
        /// The request id, for the action log.
        request_id: Uuid,
        /// Whether it ends stopped at the destination, whatever it was (Nova from 2.95).
        #[serde(default)]
        stop: bool,
    },
}

/// Host replies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// The names of the hosts whose state changed, in index order.
    Hosts(Vec<String>),
    /// The evacuation was accepted (it may still fail with "No valid host").
    Accepted,
}

/// Applies a host command: validates everything first, then mutates.
pub fn apply(k: &mut Cx, caller: &Caller, cmd: Cmd) -> Result<Reply> {
    let policy = if matches!(cmd, Cmd::Evacuate { .. }) { "os-evacuate" } else { "os-services:update" };
    if !(caller.admin || caller.system) {
        return Err(super::forbidden(policy));
    }
    match cmd {
        Cmd::Disable { host, reason } => disable(k, &host, reason),
        Cmd::Enable { host } => {
            let h = find_host(&*k, &host)?;
            set_enabled(k, h, true, None);
            Ok(Reply::Hosts(vec![host]))
        }
        Cmd::Evacuate { server, request_id, stop } => evacuate_cmd(k, caller, server, request_id, stop),
    }
}

/// Compute's reaction to hosts whose effective health changed: each goes in or out of the
/// scheduler; the servers of hosts that went down are lost (and evacuated, as the policy says);
/// those of hosts that came back power on again.
pub(crate) fn on_health(k: &mut Cx, caller: &Caller, changes: &[Change]) {
    for c in changes {
        sync_schedulable(k, c.host);
    }
    let down: Vec<HostIdx> = changes.iter().filter(|c| c.to == State::Down).map(|c| c.host).collect();
    let back: Vec<HostIdx> = changes.iter().filter(|c| c.from == State::Down).map(|c| c.host).collect();
    debug_assert!(down.is_empty() || back.is_empty(), "one health change moves hosts one way");
    if !down.is_empty() {
        fail_hosts(k, caller, &down);
    }
    if !back.is_empty() {
        recover_hosts(k, &back);
    }
}

/// The host named `name`.
fn find_host<'k>(k: impl Read<'k>, name: &str) -> Result<HostIdx> {
    let k = k.read();
    k.topology.host_by_name.get(name).copied().ok_or_else(|| Error::not_found("compute.not_found", format!("Compute host {name} could not be found.")))
}

/// Puts the host in or out of the scheduler's index to match its up/enabled state.
fn sync_schedulable(k: &mut Cx, h: HostIdx) {
    let host = k.topology.host(h);
    let on = k.health.host_up(k.topology, h) && k.compute.host_enabled(h) && host.spec.role == Role::Compute;
    k.placement.set_schedulable(h, on);
}

fn disable(k: &mut Cx, host: &str, reason: Option<String>) -> Result<Reply> {
    if reason.as_ref().is_some_and(|r| r.chars().count() > 255) {
        return Err(Error::bad_request("compute.bad_request", "Invalid input for field/attribute disabled_reason. It is longer than 255 characters.".into()));
    }
    let h = find_host(&*k, host)?;
    set_enabled(k, h, false, reason);
    Ok(Reply::Hosts(vec![host.to_string()]))
}

fn set_enabled(k: &mut Cx, h: HostIdx, enabled: bool, reason: Option<String>) {
    if enabled {
        k.compute.disabled.remove(&h);
    } else {
        k.compute.disabled.insert(h, reason);
    }
    sync_schedulable(k, h);
}

/// Reacts to `hs` going down (health has already taken them out of the scheduler): every
/// server on them is lost, then, under `rebuild-elsewhere`, the lost servers are evacuated in
/// id order. Doing it in that order keeps an evacuation from landing on a host of the same
/// rack or zone failure.
fn fail_hosts(k: &mut Cx, caller: &Caller, hs: &[HostIdx]) {
    let mut lost = BTreeSet::new();
    for &h in hs {
        let ids: Vec<Uuid> = k.compute.servers.on_host(h).map(|s| s.id).collect();
        lost.extend(ids.into_iter().filter(|id| lose(k, id, h)));
    }
    if k.policy().scheduler.evacuation == Evacuation::RebuildElsewhere {
        // A server between resize and confirm stays down: Nova refuses to evacuate it.
        lost.retain(|id| k.compute.servers.get(id).is_some_and(|s| s.extras().migration.is_none()));
        for id in lost {
            let request_id = k.rng().uuid();
            evacuate(k, caller, &id, request_id);
        }
    }
}

/// Reacts to `hs` coming back (health has already put them back in the scheduler if they are
/// up and enabled): their servers that are still down power back on.
fn recover_hosts(k: &mut Cx, hs: &[HostIdx]) {
    let now = k.now();
    for &h in hs {
        k.compute.boots.0.insert(h, now);
        let ids: Vec<Uuid> = k.compute.servers.on_host(h).map(|s| s.id).filter(|id| k.compute.servers.down.contains_key(id)).collect();
        for id in ids {
            restart(k, &id);
        }
    }
}

fn evacuate_cmd(k: &mut Cx, caller: &Caller, id: Uuid, request_id: Uuid, stop: bool) -> Result<Reply> {
    let s = super::servers::find(&*k, caller, &id)?;
    let h = s.host.ok_or_else(|| Error::conflict("compute.not_ready", format!("Instance {id} is not ready")))?;
    if !is_down(&*k, h) {
        return Err(Error::conflict("compute.host_in_use", format!("Compute service of {} is still in use.", k.topology.host(h).name)));
    }
    check_state(s, "evacuate", &[VmState::Active, VmState::Stopped, VmState::Error], &[None], false)?;
    if !k.compute.servers.down.contains_key(&id) {
        return Err(Error::conflict("compute.invalid_state", format!("Instance {id} is not down.")));
    }
    if stop {
        if let Some(rec) = k.compute.servers.down.get_mut(&id) {
            rec.vm = VmState::Stopped;
        }
    }
    evacuate(k, caller, &id, request_id);
    Ok(Reply::Accepted)
}

/// Rebuilds down server `id` on a host the scheduler picks, or puts it in ERROR with "No
/// valid host" (keeping its source allocation) if none fits.
fn evacuate(k: &mut Cx, caller: &Caller, id: &Uuid, request_id: Uuid) {
    let Some(rec) = k.compute.servers.down.get(id).cloned() else { return };
    let Some(source) = k.compute.servers.host_of(id) else { return };
    let now = k.now();
    let dest = pick_host(k, id, source).and_then(|dest| claim(k, id, rec.host, dest).then_some(dest));
    record_evacuation(k, id, source, dest);
    match dest {
        Some(dest) => {
            k.compute.servers.set_host(id, Some(dest));
            let dur = k.policy().timing.rebuild;
            begin(
                k,
                caller,
                id,
                request_id,
                ActionKind::Evacuate,
                Some(TaskState::Rebuilding),
                Some((EventKind::Rebuild, dur, Step::Evacuated, crate::driver::Work::Spawn)),
            );
            if let Some(a) = k.compute.servers.by_id.get_mut(id).and_then(|s| s.actions.last_mut()) {
                a.events.insert(0, ActionEvent { kind: EventKind::RebuildServer, start: now, finish: Some(now), ok: Some(true), host: None });
            }
            k.outbox.events.push(Event::ServerEvacuated { server: *id, from: source, to: dest });
        }
        None => {
            begin(k, caller, id, request_id, ActionKind::Evacuate, None, None);
            let Some(s) = k.compute.servers.by_id.get_mut(id) else { return };
            s.vm_state = VmState::Error;
            s.updated = now;
            s.extras_mut().fault = Some(Fault { code: 500, message: create::NO_VALID_HOST.to_string(), created: now });
            if let Some(a) = s.actions.last_mut() {
                a.events.push(ActionEvent { kind: EventKind::RebuildServer, start: now, finish: Some(now), ok: Some(false), host: None });
            }
            k.outbox.events.push(Event::ServerRejected { server: *id, error: create::no_valid_host() });
        }
    }
}

/// Records an evacuation of server `id` from `source`: under way, or failed without a host. Its
/// UUID is derived from the server and the record's id, so recording draws nothing from the RNG.
fn record_evacuation(k: &mut Cx, id: &Uuid, source: HostIdx, dest: Option<HostIdx>) {
    let Some(flavor) = k.compute.servers.get(id).map(|s| s.flavor) else { return };
    let next = u128::from(k.compute.migrations.last_id + 1);
    let uuid = Uuid::from_random(id.0.rotate_left(32) ^ (next << 96) ^ 0xe7ac_0a7e);
    let status = if dest.is_some() { migrations::Status::PreMigrating } else { migrations::Status::Error };
    migrations::start(k, migrations::New { uuid, instance: *id, kind: migrations::Kind::Evacuation, source, dest, flavors: (flavor, flavor), status });
}

/// Asks the scheduler for a host for server `id` with its own request (zone, image, flavor,
/// group), avoiding `source`.
fn pick_host(k: &mut Cx, id: &Uuid, source: HostIdx) -> Option<HostIdx> {
    let s = k.compute.servers.get(id)?;
    let zone = s.requested_zone;
    let group = s.extras().group;
    let image_props = s.image.and_then(|i| k.images.by_id.get(&i)).map(|i| i.properties.clone()).unwrap_or_default();
    let f = k.compute.servers.flavor(s.flavor);
    let extra_specs = f.extra_specs.clone();
    let resources = flavors::resources(f);
    let group = match group {
        Some(g) => groups::placement_for(&*k, &g, |m| if m == id { None } else { k.compute.servers.host_of(m) }),
        None => Default::default(),
    };
    let avoid = [source];
    let req = SchedRequest { resources, zone, image_props: Some(&image_props), extra_specs: Some(&extra_specs), group, ignore_hosts: &avoid };
    k.schedule(&req).ok()
}

/// Claims the server's flavor on `dest` while keeping its claim on the failed `origin`, as
/// Nova does during an evacuation. False, with nothing changed, if it does not fit.
fn claim(k: &mut Cx, id: &Uuid, origin: HostIdx, dest: HostIdx) -> bool {
    let Some(s) = k.compute.servers.get(id) else { return false };
    let res = flavors::resources(k.compute.servers.flavor(s.flavor));
    let (project, user) = (s.project, s.user);
    k.placement.claim_on_hosts(*id, project, user, &[origin, dest], &res).is_ok()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::compute::servers::{self, CreateSpec, PowerState, Status};
    use crate::health::{self, Kind};
    use crate::identity::Bootstrap;
    use crate::scheduler::GroupPolicy;
    use crate::time::Dur;
    use crate::topology::{HostSpec, TopologySpec};
    use crate::Kernel;
    use crate::{Auth, Command, InitSpec, Request, Time};

    /// Two racks of `per_rack` compute hosts (4 vCPUs ×4, 8 GiB usable RAM) in zone `az1`,
    /// and one rack of two in `az2`, with evacuation policy `evac`.
    fn kernel(per_rack: u32, evac: Evacuation) -> Kernel {
        let zones = [("az1", 2, per_rack), ("az2", 1, 2)];
        let mut topology = TopologySpec::uniform("RegionOne", HostSpec::compute(4, 8192 + 4096, 100), &zones);
        topology.scheduler.evacuation = evac;
        let mut k = Kernel::new();
        let init = InitSpec { seed: 11, topology, bootstrap: Bootstrap::new("admin", "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA") };
        k.apply(Time::from_secs(1_700_000_000), Request { auth: Auth::System, command: Command::Init(Box::new(init)) }).expect("init");
        k
    }

    fn member() -> Caller {
        Caller::scoped(Uuid(0x5001), Uuid(0xabc1), &["member", "reader"])
    }

    fn admin() -> Caller {
        Caller::scoped(Uuid(0x7000), Uuid(0xabc9), &["admin", "member", "reader"])
    }

    fn host_cmd(k: &mut Kernel, cmd: Cmd) -> Result<Reply> {
        apply(&mut k.cx(), &Caller::system(), cmd)
    }

    /// Sets a failure domain's own state through the kernel's health command, as `caller`.
    fn set_as(k: &mut Kernel, caller: &Caller, kind: Kind, name: &str, state: State) -> Result<health::Reply> {
        k.apply_health(caller, health::Cmd::Set { kind, name: name.into(), state })
    }

    fn set(k: &mut Kernel, kind: Kind, name: &str, state: State) -> Result<health::Reply> {
        set_as(k, &Caller::system(), kind, name, state)
    }

    fn fail(k: &mut Kernel, host: &str) {
        set(k, Kind::Host, host, State::Down).expect("fail");
    }

    /// Boots server `id` in `az1` (optionally in `group`) and waits for it to be ACTIVE.
    fn boot(k: &mut Kernel, id: u128, group: Option<Uuid>) {
        let image = k.images.find("cirros-0.6").expect("built-in image").id;
        let spec = CreateSpec {
            ids: vec![Uuid(id)],
            min_count: 1,
            request_id: Uuid(id + 1000),
            name: format!("vm-{id}"),
            flavor: "1".into(),
            image,
            availability_zone: Some("az1".into()),
            group,
            ..Default::default()
        };
        servers::apply(&mut k.cx(), &member(), servers::Cmd::Create(Box::new(spec))).expect("boot");
        wait(k, 10);
        assert_eq!(server(k, id).status(), Status::Active);
    }

    fn wait(k: &mut Kernel, secs: u64) {
        let to = k.now().plus(Dur::secs(secs));
        crate::driver::run_modelled(k, to);
    }

    fn server(k: &Kernel, id: u128) -> &servers::Server {
        k.compute.servers.get(&Uuid(id)).expect("server exists")
    }

    fn host_name(k: &Kernel, id: u128) -> String {
        k.topology.host(server(k, id).host.expect("placed")).name.clone()
    }

    /// Whether host `h` is in the scheduler's capacity index.
    fn in_index(k: &Kernel, h: HostIdx) -> bool {
        use crate::placement::{DISK_GB, MEMORY_MB, NUM_CLASSES, VCPU};
        let mut req = [0; NUM_CLASSES];
        (req[VCPU], req[MEMORY_MB], req[DISK_GB]) = (1, 1, 1);
        let prov = k.placement.by_host[&h];
        let found = k.placement.candidates(None, &req).any(|p| p == prov);
        found
    }

    fn check(k: &Kernel) {
        if let Err(e) = invariants(k) {
            panic!("{e}");
        }
    }

    /// Placement and server invariants, plus: a server outside a resize holds its flavor on
    /// its own host (and only there unless it is down); a down server with no task in flight
    /// sits on a down host; every server on a down host with no delete or resize in flight is
    /// down.
    fn invariants(k: &Kernel) -> std::result::Result<(), String> {
        k.placement.check_invariants()?;
        k.compute.servers.check_invariants()?;
        for s in k.compute.servers.by_id.values() {
            let (Some(h), None) = (s.host, &s.extras().migration) else { continue };
            let allocs = k.placement.consumers.get(&s.id).map(|c| c.allocations.clone()).unwrap_or_default();
            let down = k.compute.servers.down.contains_key(&s.id);
            if allocs.get(&k.placement.by_host[&h]).is_none() || (!down && allocs.len() != 1) {
                return Err(format!("server {} on host {h} holds {allocs:?}", s.id));
            }
            let host_up = k.health.host_alive(&k.topology, h);
            if down && s.task_state.is_none() && host_up {
                return Err(format!("server {} is down with nothing in flight on a host that is up", s.id));
            }
            let busy = matches!(s.task_state, Some(TaskState::Deleting | TaskState::ResizeMigrating | TaskState::ResizeReverting));
            if !host_up && !down && !busy {
                return Err(format!("server {} runs on a down host", s.id));
            }
        }
        Ok(())
    }

    #[test]
    fn without_evacuation_servers_wait_for_their_host() {
        let mut k = kernel(2, Evacuation::None);
        boot(&mut k, 1, None);
        let name = host_name(&k, 1);
        let h = server(&k, 1).host.unwrap();
        k.outbox.drain();
        fail(&mut k, &name);
        let s = server(&k, 1);
        assert_eq!((s.vm_state, s.power_state, s.host), (VmState::Active, PowerState::NoState, Some(h)));
        assert!(!k.health.host_up(&k.topology, h) && !in_index(&k, h));
        let changed = Event::HealthChanged { kind: Kind::Host, name: name.clone(), from: State::Up, state: State::Down };
        assert_eq!(k.outbox.drain().events, vec![changed, Event::HostFailed { host: h }, Event::ServerLost { server: Uuid(1), host: h }]);
        let refused = servers::apply(&mut k.cx(), &member(), servers::Cmd::Action { id: Uuid(1), request_id: Uuid(9), action: servers::Action::Stop });
        assert!(matches!(refused, Err(Error { kind: crate::ErrorKind::Conflict, .. })), "{refused:?}");
        // Nothing new lands on the failed host.
        for id in 2..=5 {
            boot(&mut k, id, None);
            assert_ne!(server(&k, id).host, Some(h));
        }
        wait(&mut k, 100);
        set(&mut k, Kind::Host, &name, State::Up).unwrap();
        assert_eq!(server(&k, 1).task_state, Some(TaskState::PoweringOn));
        k.outbox.drain();
        wait(&mut k, 3);
        let s = server(&k, 1);
        assert_eq!((s.status(), s.power_state), (Status::Active, PowerState::Running));
        assert_eq!(k.outbox.drain().events, vec![Event::ServerRecovered { server: Uuid(1), downtime: Dur::secs(143) }]);
        assert!(k.compute.servers.down.is_empty() && in_index(&k, h));
        check(&k);
    }

    #[test]
    fn rebuild_elsewhere_evacuates_after_the_rebuild_time() {
        let mut k = kernel(2, Evacuation::RebuildElsewhere);
        for id in 1..=6 {
            boot(&mut k, id, None);
        }
        let h = server(&k, 1).host.unwrap();
        let name = host_name(&k, 1);
        let on_h: Vec<u128> = (1..=6).filter(|&id| server(&k, id).host == Some(h)).collect();
        k.outbox.drain();
        fail(&mut k, &name);
        check(&k);
        for &id in &on_h {
            let s = server(&k, id);
            assert_eq!((s.status(), s.task_state), (Status::Rebuild, Some(TaskState::Rebuilding)));
            assert_ne!(s.host, Some(h));
            assert_eq!(k.topology.zone_of(s.host.unwrap()), "az1", "evacuation keeps the requested zone");
            assert_eq!(k.placement.consumers[&Uuid(id)].allocations.len(), 2, "source allocation kept while rebuilding");
            let m = k.compute.migrations.active(&Uuid(id)).expect("an evacuation record");
            assert_eq!((m.kind, m.status, m.source), (migrations::Kind::Evacuation, migrations::Status::PreMigrating, h));
        }
        let evacuated = k.outbox.drain().events.iter().filter(|e| matches!(e, Event::ServerEvacuated { from, .. } if *from == h)).count();
        assert_eq!(evacuated, on_h.len());
        wait(&mut k, 9);
        assert_eq!(server(&k, on_h[0]).status(), Status::Rebuild);
        wait(&mut k, 1);
        for &id in &on_h {
            let s = server(&k, id);
            assert_eq!((s.status(), s.power_state), (Status::Active, PowerState::Running));
            assert_eq!(s.actions.last().unwrap().kind, ActionKind::Evacuate);
            assert!(!s.actions.last().unwrap().failed());
        }
        let recovered: Vec<Event> = k.outbox.drain().events;
        assert!(recovered.iter().all(|e| matches!(e, Event::ServerRecovered { downtime, .. } if *downtime == Dur::secs(10))));
        assert_eq!(recovered.len(), on_h.len());
        assert_eq!(k.compute.servers.servers_on_host(h), 0);
        assert!(k.compute.servers.down.is_empty());
        assert!(k.compute.migrations.by_id.values().all(|m| m.status == migrations::Status::Done));
        assert_eq!(k.compute.migrations.by_id.len(), on_h.len());
        check(&k);
        set(&mut k, Kind::Host, &name, State::Up).unwrap();
        assert!(
            k.outbox.drain().events
                == vec![Event::HealthChanged { kind: Kind::Host, name: name.clone(), from: State::Down, state: State::Up }, Event::HostRecovered { host: h }]
        );
    }

    #[test]
    fn evacuation_respects_anti_affinity_or_fails_with_no_valid_host() {
        let mut k = kernel(2, Evacuation::RebuildElsewhere);
        let g = Uuid(0x9999);
        groups::apply(&mut k.cx(), &member(), groups::Cmd::Create { id: g, name: "g".into(), policy: GroupPolicy::AntiAffinity, max_server_per_host: None })
            .unwrap();
        for id in 1..=3 {
            boot(&mut k, id, Some(g));
        }
        let used: BTreeSet<_> = (1..=3).map(|id| server(&k, id).host.unwrap()).collect();
        assert_eq!(used.len(), 3);
        let name = host_name(&k, 1);
        fail(&mut k, &name);
        let dest = server(&k, 1).host.unwrap();
        assert!(!used.contains(&dest), "the evacuated member avoids its peers' hosts");
        wait(&mut k, 10);
        assert_eq!(server(&k, 1).status(), Status::Active);
        // All four az1 hosts now hold a member (one of them down): the next loss has nowhere to go.
        let name2 = host_name(&k, 2);
        let h2 = server(&k, 2).host.unwrap();
        fail(&mut k, &name2);
        let s = server(&k, 2);
        assert_eq!((s.status(), s.host), (Status::Error, Some(h2)));
        assert_eq!(s.extras().fault.as_ref().unwrap().message, create::NO_VALID_HOST);
        assert!(s.actions.last().unwrap().failed());
        assert_eq!(k.placement.consumers[&Uuid(2)].allocations.len(), 1, "the source allocation stays");
        check(&k);
        // The first failed host comes back: a manual evacuation now finds it, and (as Nova's
        // 2.95 asks) leaves the server stopped there.
        set(&mut k, Kind::Host, &name, State::Up).unwrap();
        apply(&mut k.cx(), &admin(), Cmd::Evacuate { server: Uuid(2), request_id: Uuid(77), stop: true }).unwrap();
        wait(&mut k, 10);
        let s = server(&k, 2);
        assert_eq!((s.status(), s.power_state), (Status::Shutoff, PowerState::Shutdown));
        assert_ne!(s.host, Some(h2));
        check(&k);
    }

    #[test]
    fn rack_and_zone_failures_fail_every_host_in_them() {
        let mut k = kernel(3, Evacuation::RebuildElsewhere);
        for id in 1..=8 {
            boot(&mut k, id, None);
        }
        let health::Reply::Changed { hosts: failed } = set(&mut k, Kind::Rack, "az1-r01", State::Down).unwrap();
        assert_eq!(failed, vec!["az1-r01-h01", "az1-r01-h02", "az1-r01-h03"]);
        for id in 1..=8 {
            let s = server(&k, id);
            assert_eq!(
                k.topology.racks[k.topology.host(s.host.unwrap()).rack as usize].name,
                "az1-r02",
                "server {id} is on or evacuated to the surviving rack"
            );
        }
        wait(&mut k, 10);
        assert!((1..=8).all(|id| server(&k, id).status() == Status::Active));
        check(&k);
        let again = set(&mut k, Kind::Rack, "az1-r01", State::Down);
        assert!(matches!(again, Err(Error { kind: crate::ErrorKind::Conflict, .. })));
        let health::Reply::Changed { hosts: zone } = set(&mut k, Kind::Zone, "az1", State::Down).unwrap();
        assert_eq!(zone, vec!["az1-r02-h01", "az1-r02-h02", "az1-r02-h03"], "only hosts still up fail");
        assert!((1..=8).all(|id| server(&k, id).status() == Status::Error), "no host of az1 is left for servers that asked for it");
        let health::Reply::Changed { hosts: back } = set(&mut k, Kind::Zone, "az1", State::Up).unwrap();
        assert_eq!(back, vec!["az1-r02-h01", "az1-r02-h02", "az1-r02-h03"], "rack az1-r01 failed on its own and stays down");
        wait(&mut k, 3);
        assert!((1..=8).all(|id| server(&k, id).status() == Status::Active));
        assert!(k.compute.servers.down.is_empty());
        let health::Reply::Changed { hosts: back } = set(&mut k, Kind::Rack, "az1-r01", State::Up).unwrap();
        assert_eq!(back.len(), 3);
        check(&k);
    }

    #[test]
    fn disable_takes_a_host_out_of_the_scheduler_only() {
        let mut k = kernel(1, Evacuation::None);
        boot(&mut k, 1, None);
        let name = host_name(&k, 1);
        let h = server(&k, 1).host.unwrap();
        host_cmd(&mut k, Cmd::Disable { host: name.clone(), reason: Some("maintenance".into()) }).unwrap();
        assert_eq!((k.compute.host_enabled(h), k.compute.disabled_reason(h)), (false, Some("maintenance")));
        assert_eq!(server(&k, 1).status(), Status::Active);
        boot(&mut k, 2, None);
        assert_ne!(server(&k, 2).host, Some(h));
        fail(&mut k, &name);
        set(&mut k, Kind::Host, &name, State::Up).unwrap();
        assert!(!in_index(&k, h), "recovering a disabled host keeps it out");
        host_cmd(&mut k, Cmd::Enable { host: name }).unwrap();
        assert!(in_index(&k, h));
        assert_eq!(k.compute.disabled_reason(h), None);
    }

    #[test]
    fn refused_commands_change_nothing() {
        let mut k = kernel(2, Evacuation::RebuildElsewhere);
        boot(&mut k, 1, None);
        let name = host_name(&k, 1);
        let before = k.state_hash();
        let health_cases = [
            (member(), Kind::Host, name.as_str(), State::Down),
            (admin(), Kind::Host, "nope", State::Down),
            (admin(), Kind::Host, name.as_str(), State::Up),
            (admin(), Kind::Rack, "nope", State::Down),
            (admin(), Kind::Zone, "az1", State::Up),
        ];
        for (c, kind, n, state) in health_cases {
            let r = set_as(&mut k, &c, kind, n, state);
            assert!(r.is_err(), "{kind:?} {n} {state:?} should be refused");
            assert_eq!(k.state_hash(), before, "{kind:?} {n} {state:?} changed state");
        }
        let cases: Vec<(Caller, Cmd)> = vec![
            (admin(), Cmd::Disable { host: name.clone(), reason: Some("x".repeat(256)) }),
            (admin(), Cmd::Evacuate { server: Uuid(1), request_id: Uuid(5), stop: false }),
            (admin(), Cmd::Evacuate { server: Uuid(404), request_id: Uuid(5), stop: false }),
        ];
        for (c, cmd) in cases {
            let r = apply(&mut k.cx(), &c, cmd.clone());
            assert!(r.is_err(), "{cmd:?} should be refused");
            assert_eq!(k.state_hash(), before, "{cmd:?} changed state");
        }
        // Evacuating a server that is mid-rebuild (its task is set) is refused too.
        fail(&mut k, &name);
        let mid = k.state_hash();
        assert!(matches!(
            apply(&mut k.cx(), &admin(), Cmd::Evacuate { server: Uuid(1), request_id: Uuid(6), stop: false }),
            Err(Error { kind: crate::ErrorKind::Conflict, .. })
        ));
        assert_eq!(k.state_hash(), mid);
    }

    #[test]
    fn deleting_a_down_server_is_immediate_and_frees_everything() {
        let mut k = kernel(2, Evacuation::None);
        boot(&mut k, 1, None);
        let name = host_name(&k, 1);
        fail(&mut k, &name);
        servers::apply(&mut k.cx(), &member(), servers::Cmd::Delete { id: Uuid(1), request_id: Uuid(3) }).unwrap();
        assert!(k.compute.servers.get(&Uuid(1)).is_none() && k.compute.servers.down.is_empty());
        assert!(k.placement.consumers.is_empty());
        set(&mut k, Kind::Host, &name, State::Up).unwrap();
        check(&k);
    }

    #[test]
    fn a_failure_during_a_build_or_an_evacuation_is_handled() {
        let mut k = kernel(2, Evacuation::RebuildElsewhere);
        boot(&mut k, 1, None);
        let first = host_name(&k, 1);
        fail(&mut k, &first);
        // Its evacuation target fails mid-rebuild: the stale rebuild timer does nothing and the
        // server is evacuated again, its downtime counted from the first loss.
        wait(&mut k, 5);
        let second = host_name(&k, 1);
        k.outbox.drain();
        fail(&mut k, &second);
        wait(&mut k, 10);
        let s = server(&k, 1);
        assert_eq!(s.status(), Status::Active);
        let events = k.outbox.drain().events;
        assert!(events.contains(&Event::ServerRecovered { server: Uuid(1), downtime: Dur::secs(15) }), "{events:?}");
        check(&k);
    }

    #[test]
    fn resizes_finish_on_their_own_and_resized_servers_wait_for_their_host() {
        let mut k = kernel(1, Evacuation::RebuildElsewhere);
        boot(&mut k, 1, None);
        let source = server(&k, 1).host.unwrap();
        let resize = servers::Cmd::Action { id: Uuid(1), request_id: Uuid(8), action: servers::Action::Resize { flavor: "2".into() } };
        servers::apply(&mut k.cx(), &member(), resize).unwrap();
        let dest = k.compute.servers.get(&Uuid(1)).and_then(|s| s.extras().migration.as_ref()).map(|m| m.dest).unwrap();
        assert_ne!(dest, source);
        // The destination fails mid-resize: the resize still lands, and the server is lost there.
        let dest_name = k.topology.host(dest).name.clone();
        fail(&mut k, &dest_name);
        assert_eq!(server(&k, 1).status(), Status::Resize);
        wait(&mut k, 15);
        let s = server(&k, 1);
        assert_eq!((s.status(), s.host, s.power_state), (Status::VerifyResize, Some(dest), PowerState::NoState));
        assert!(k.compute.servers.down.contains_key(&Uuid(1)));
        check(&k);
        // Nova will not evacuate a resized server: a second failure leaves it where it is.
        let source_name = k.topology.host(source).name.clone();
        fail(&mut k, &source_name);
        assert_eq!(server(&k, 1).host, Some(dest));
        set(&mut k, Kind::Host, &dest_name, State::Up).unwrap();
        wait(&mut k, 3);
        assert_eq!((server(&k, 1).status(), server(&k, 1).power_state), (Status::VerifyResize, PowerState::Running));
        let confirm = servers::Cmd::Action { id: Uuid(1), request_id: Uuid(9), action: servers::Action::ConfirmResize };
        servers::apply(&mut k.cx(), &member(), confirm).unwrap();
        assert_eq!(server(&k, 1).status(), Status::Active);
        check(&k);
    }

    #[derive(Clone, Debug)]
    enum Op {
        Create,
        Delete(usize),
        Resize(usize),
        Confirm(usize),
        Revert(usize),
        Stop(usize),
        Fail(u32),
        Recover(u32),
        Evacuate(usize),
        Advance(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => Just(Op::Create),
            1 => (0usize..16).prop_map(Op::Delete),
            2 => (0usize..16).prop_map(Op::Resize),
            1 => (0usize..16).prop_map(Op::Confirm),
            1 => (0usize..16).prop_map(Op::Revert),
            1 => (0usize..16).prop_map(Op::Stop),
            2 => (0u32..4).prop_map(Op::Fail),
            2 => (0u32..4).prop_map(Op::Recover),
            1 => (0usize..16).prop_map(Op::Evacuate),
            3 => (0u64..20).prop_map(Op::Advance),
        ]
    }

    /// The id of the `idx`-th server (modulo their number).
    fn nth(k: &Kernel, idx: usize) -> Uuid {
        let n = k.compute.servers.len().max(1);
        k.compute.servers.by_id.keys().nth(idx % n).copied().unwrap_or(Uuid(0))
    }

    fn step(k: &mut Kernel, next: &mut u128, op: Op) -> Result<()> {
        let act = |k: &mut Kernel, i: usize, action: servers::Action| {
            let id = nth(k, i);
            servers::apply(&mut k.cx(), &member(), servers::Cmd::Action { id, request_id: Uuid(3), action }).map(|_| ())
        };
        let host = |h: u32| format!("az1-r0{}-h01", h % 2 + 1);
        match op {
            Op::Create => {
                *next += 1;
                let image = k.images.find("cirros-0.6").expect("image").id;
                let spec =
                    CreateSpec { ids: vec![Uuid(*next)], min_count: 1, request_id: Uuid(2), name: "p".into(), flavor: "1".into(), image, ..Default::default() };
                servers::apply(&mut k.cx(), &member(), servers::Cmd::Create(Box::new(spec))).map(|_| ())
            }
            Op::Delete(i) => {
                let id = nth(k, i);
                servers::apply(&mut k.cx(), &member(), servers::Cmd::Delete { id, request_id: Uuid(4) }).map(|_| ())
            }
            Op::Resize(i) => act(k, i, servers::Action::Resize { flavor: "2".into() }),
            Op::Confirm(i) => act(k, i, servers::Action::ConfirmResize),
            Op::Revert(i) => act(k, i, servers::Action::RevertResize),
            Op::Stop(i) => act(k, i, servers::Action::Stop),
            Op::Fail(h) if h >= 2 => set(k, Kind::Rack, &format!("az1-r0{}", h % 2 + 1), State::Down).map(|_| ()),
            Op::Fail(h) => set(k, Kind::Host, &host(h), State::Down).map(|_| ()),
            Op::Recover(h) => set(k, Kind::Host, &host(h), State::Up).map(|_| ()),
            Op::Evacuate(i) => {
                let server = nth(k, i);
                apply(&mut k.cx(), &admin(), Cmd::Evacuate { server, request_id: Uuid(5), stop: false }).map(|_| ())
            }
            Op::Advance(secs) => {
                wait(k, secs);
                Ok(())
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn random_failures_keep_placement_and_servers_consistent(auto in any::<bool>(), ops in prop::collection::vec(op(), 1..60)) {
            let mut k = kernel(1, if auto { Evacuation::RebuildElsewhere } else { Evacuation::None });
            let mut next = 100;
            for op in ops {
                let before = k.state_hash();
                let result = step(&mut k, &mut next, op.clone());
                if result.is_err() {
                    prop_assert_eq!(k.state_hash(), before, "refused {:?} changed state: {:?}", op, result);
                }
                prop_assert_eq!(invariants(&k), Ok(()), "after {:?}", op);
            }
        }
    }

    fn script(k: &mut Kernel) {
        for id in 1..=6 {
            boot(k, id, None);
        }
        set(k, Kind::Rack, "az1-r01", State::Down).unwrap();
        wait(k, 4);
        let name = host_name(k, 3);
        set(k, Kind::Host, &name, State::Down).unwrap();
        wait(k, 20);
        set(k, Kind::Rack, "az1-r01", State::Up).unwrap();
        wait(k, 20);
    }

    #[test]
    fn same_commands_same_state_hash() {
        let mut a = kernel(2, Evacuation::RebuildElsewhere);
        let mut b = kernel(2, Evacuation::RebuildElsewhere);
        script(&mut a);
        script(&mut b);
        assert_eq!(a.state_hash(), b.state_hash());
        assert_eq!(a.compute.servers, b.compute.servers);
        check(&a);
    }
}
