//! Unit and property tests of the servers module: lifecycle with timers, the state machine's
//! allowed and refused actions, resize bookkeeping, deletion, groups, isolation, listing and
//! determinism.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::actions::{Action, RebuildSpec};
use super::*;
use crate::compute::groups;
use crate::compute::quotas::Resource;
use crate::identity::Bootstrap;
use crate::placement::MEMORY_MB;
use crate::scheduler::GroupPolicy;
use crate::time::Dur;
use crate::topology::{HostSpec, TopologySpec};
use crate::Kernel;
use crate::{Auth, Command, Error, InitSpec, Request, Time};

const T0: u64 = 1_700_000_000;

/// A cloud of `hosts` compute hosts (4 vCPUs ×4 overcommit, 8 GiB usable RAM, 100 GiB disk)
/// in one zone, `az1`.
fn kernel(hosts: u32) -> Kernel {
    kernel_of(hosts, 4, 8192)
}

/// A cloud of `hosts` compute hosts with `vcpus` (×4 overcommit) and `ram` MiB usable each.
fn kernel_of(hosts: u32, vcpus: u32, ram: u64) -> Kernel {
    let topology = TopologySpec::uniform("RegionOne", HostSpec::compute(vcpus, ram + 4096, 100), &[("az1", 1, hosts)]);
    let mut k = Kernel::new();
    let init = InitSpec { seed: 7, topology, bootstrap: Bootstrap::new("admin", "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA") };
    k.apply(Time::from_secs(T0), Request { auth: Auth::System, command: Command::Init(Box::new(init)) }).expect("init");
    k
}

fn project(n: u128) -> Uuid {
    Uuid(0xabc0_0000 + n)
}

fn member(p: u128) -> Caller {
    Caller::scoped(Uuid(0x5000 + p), project(p), &["member", "reader"])
}

fn reader(p: u128) -> Caller {
    Caller::scoped(Uuid(0x6000 + p), project(p), &["reader"])
}

fn admin() -> Caller {
    Caller::scoped(Uuid(0x7000), project(99), &["admin", "member", "reader"])
}

fn image(k: &Kernel) -> Uuid {
    k.images.find("cirros-0.6").expect("built-in image").id
}

fn spec(k: &Kernel, id: Uuid, flavor: &str) -> CreateSpec {
    CreateSpec {
        ids: vec![id],
        min_count: 1,
        request_id: Uuid(id.0 + 1),
        name: format!("vm-{}", { id.0 }),
        flavor: flavor.into(),
        image: image(k),
        ..Default::default()
    }
}

fn boot(k: &mut Kernel, c: &Caller, id: u128, flavor: &str) -> Result<Reply> {
    let s = spec(k, Uuid(id), flavor);
    apply(&mut k.cx(), c, Cmd::Create(Box::new(s)))
}

fn act(k: &mut Kernel, c: &Caller, id: u128, action: Action) -> Result<Reply> {
    apply(&mut k.cx(), c, Cmd::Action { id: Uuid(id), request_id: Uuid(0xeeee_0000 + id), action })
}

fn del(k: &mut Kernel, c: &Caller, id: u128) -> Result<Reply> {
    apply(&mut k.cx(), c, Cmd::Delete { id: Uuid(id), request_id: Uuid(0xdddd_0000 + id) })
}

fn wait(k: &mut Kernel, secs: u64) {
    let to = k.now().plus(Dur::secs(secs));
    crate::driver::run_modelled(k, to);
}

fn server(k: &Kernel, id: u128) -> &Server {
    k.compute.servers.get(&Uuid(id)).expect("server exists")
}

fn status(k: &Kernel, id: u128) -> Status {
    server(k, id).status()
}

fn allocations(k: &Kernel, consumer: &Uuid) -> BTreeMap<u32, crate::placement::Resources> {
    k.placement.consumers.get(consumer).map(|c| (&c.allocations).into()).unwrap_or_default()
}

/// Boots a server and waits until it is ACTIVE.
fn active(k: &mut Kernel, c: &Caller, id: u128) {
    boot(k, c, id, "1").expect("boot");
    wait(k, 10);
    assert_eq!(status(k, id), Status::Active);
}

fn conflict(r: Result<Reply>) -> String {
    match r {
        Err(Error { kind: crate::ErrorKind::Conflict, message, .. }) => message,
        other => panic!("expected 409, got {other:?}"),
    }
}

#[test]
fn boots_through_build_to_active_on_the_boot_timer() {
    let mut k = kernel(2);
    let c = member(1);
    let reply = boot(&mut k, &c, 100, "1").unwrap();
    assert!(matches!(reply, Reply::Created { ref ids, .. } if ids == &[Uuid(100)]));
    let s = server(&k, 100);
    assert_eq!((s.status(), s.vm_state, s.task_state, s.power_state), (Status::Build, VmState::Building, Some(TaskState::Spawning), PowerState::NoState));
    let host = s.host.expect("placed");
    assert_eq!(k.compute.servers.servers_on_host(host), 1);
    let prov = k.placement.by_host[&host];
    assert_eq!(allocations(&k, &Uuid(100))[&prov][MEMORY_MB], 512);
    assert_eq!(k.compute.quotas.usage(&project(1)).instances, 1);
    wait(&mut k, 7);
    assert_eq!(status(&k, 100), Status::Build, "boot takes 8 s");
    wait(&mut k, 1);
    let s = server(&k, 100);
    assert_eq!((s.status(), s.power_state, s.task_state), (Status::Active, PowerState::Running, None));
    assert_eq!(s.launched_at, Some(Time::from_secs(T0 + 8)));
    let create = &s.actions[0];
    assert_eq!(create.kind, ActionKind::Create);
    assert_eq!(create.events.iter().map(|e| (e.kind, e.ok)).collect::<Vec<_>>(), vec![(EventKind::Schedule, Some(true)), (EventKind::Build, Some(true))]);
    k.compute.servers.check_invariants().unwrap();
}

#[test]
fn rescue_and_unrescue_follow_novas_state_machine() {
    let mut k = kernel(1);
    let c = member(1);
    boot(&mut k, &c, 1, "1").unwrap();
    wait(&mut k, 10);
    act(&mut k, &c, 1, Action::Pause).unwrap();
    wait(&mut k, 1);
    let m = conflict(act(&mut k, &c, 1, Action::Rescue { image: None }));
    assert_eq!(m, format!("Cannot 'rescue' instance {} while it is in vm_state paused", Uuid(1)));
    act(&mut k, &c, 1, Action::Unpause).unwrap();
    wait(&mut k, 1);
    let e = act(&mut k, &c, 1, Action::Rescue { image: Some(Uuid(0xbad)) }).map(|_| ()).unwrap_err();
    assert_eq!(e.kind, crate::ErrorKind::BadRequest, "an unknown rescue image");
    act(&mut k, &c, 1, Action::Rescue { image: None }).unwrap();
    assert_eq!((status(&k, 1), server(&k, 1).task_state), (Status::Active, Some(TaskState::Rescuing)));
    wait(&mut k, 6);
    assert_eq!((status(&k, 1), server(&k, 1).vm_state.name()), (Status::Rescue, "rescued"));
    for refused in [Action::Reboot { hard: true }, Action::Stop, Action::Pause, Action::Rescue { image: None }] {
        conflict(act(&mut k, &c, 1, refused));
    }
    act(&mut k, &c, 1, Action::Unrescue).unwrap();
    assert_eq!(server(&k, 1).task_state, Some(TaskState::Unrescuing));
    wait(&mut k, 6);
    assert_eq!(status(&k, 1), Status::Active);
    conflict(act(&mut k, &c, 1, Action::Unrescue));
    let names: Vec<&str> = server(&k, 1).actions.iter().map(|a| a.kind.name()).collect();
    assert!(names.ends_with(&["rescue", "unrescue"]), "{names:?}");
    let m = conflict(act(&mut k, &c, 1, Action::Restore));
    assert_eq!(m, format!("Cannot 'restore' instance {} while it is in vm_state active", Uuid(1)), "soft delete is off");
}

#[test]
fn power_actions_follow_novas_state_machine() {
    let mut k = kernel(1);
    let c = member(1);
    boot(&mut k, &c, 1, "1").unwrap();
    let m = conflict(act(&mut k, &c, 1, Action::Stop));
    assert_eq!(m, format!("Cannot 'stop' instance {} while it is in vm_state building", Uuid(1)));
    wait(&mut k, 10);
    act(&mut k, &c, 1, Action::Stop).unwrap();
    assert_eq!(server(&k, 1).task_state, Some(TaskState::PoweringOff));
    let m = conflict(act(&mut k, &c, 1, Action::Pause));
    assert!(m.ends_with("while it is in task_state powering-off"), "{m}");
    wait(&mut k, 3);
    assert_eq!((status(&k, 1), server(&k, 1).power_state), (Status::Shutoff, PowerState::Shutdown));
    conflict(act(&mut k, &c, 1, Action::Stop));
    conflict(act(&mut k, &c, 1, Action::Reboot { hard: false }));
    conflict(act(&mut k, &c, 1, Action::Pause));
    conflict(act(&mut k, &c, 1, Action::Suspend));
    k.outbox.drain();
    act(&mut k, &c, 1, Action::Reboot { hard: true }).unwrap();
    assert_eq!((status(&k, 1), server(&k, 1).task_state), (Status::Shutoff, Some(TaskState::RebootingHard)), "Nova shows SHUTOFF");
    let host = server(&k, 1).host.unwrap();
    let (op, at) = (server(&k, 1).op, k.now());
    let work = crate::driver::Work::Reboot { hard: true };
    let run = crate::driver::Operation { server: Uuid(1), op, host, work, at, model: k.policy().timing.reboot };
    assert_eq!(k.outbox.drain().effects, vec![crate::Effect::Run(run)]);
    wait(&mut k, 6);
    assert_eq!(status(&k, 1), Status::Active);
    act(&mut k, &c, 1, Action::Reboot { hard: false }).unwrap();
    assert_eq!(status(&k, 1), Status::Reboot);
    act(&mut k, &c, 1, Action::Reboot { hard: true }).expect("a hard reboot may interrupt a soft one");
    wait(&mut k, 6);
    act(&mut k, &c, 1, Action::Pause).unwrap();
    wait(&mut k, 1);
    assert_eq!((status(&k, 1), server(&k, 1).power_state.code()), (Status::Paused, 3));
    conflict(act(&mut k, &c, 1, Action::Start));
    conflict(act(&mut k, &c, 1, Action::Resume));
    act(&mut k, &c, 1, Action::Unpause).unwrap();
    wait(&mut k, 1);
    act(&mut k, &c, 1, Action::Suspend).unwrap();
    wait(&mut k, 1);
    assert_eq!(status(&k, 1), Status::Suspended);
    conflict(act(&mut k, &c, 1, Action::Unpause));
    act(&mut k, &c, 1, Action::Resume).unwrap();
    wait(&mut k, 1);
    act(&mut k, &c, 1, Action::Start).map(|_| ()).expect_err("start needs a stopped server");
    act(&mut k, &c, 1, Action::Stop).unwrap();
    wait(&mut k, 3);
    act(&mut k, &c, 1, Action::Start).unwrap();
    wait(&mut k, 3);
    assert_eq!(status(&k, 1), Status::Active);
    let names: Vec<&str> = server(&k, 1).actions.iter().map(|a| a.kind.name()).collect();
    assert_eq!(names, ["create", "stop", "reboot", "reboot", "reboot", "pause", "unpause", "suspend", "resume", "stop", "start"]);
    let failed: Vec<bool> = server(&k, 1).actions.iter().map(|a| a.failed()).collect();
    assert_eq!(failed.iter().filter(|&&f| f).count(), 1, "only the overtaken soft reboot failed");
    assert!(failed[3]);
    assert!(server(&k, 1).actions.iter().all(|a| a.events.iter().all(|e| e.finish.is_some())));
}

#[test]
fn reset_state_sets_a_settled_server_to_error_or_active_for_admins_only() {
    let mut k = kernel(1);
    let c = member(1);
    boot(&mut k, &c, 1, "1").unwrap();
    let before = k.state_hash();
    assert!(conflict(act(&mut k, &admin(), 1, Action::ResetState { error: true })).contains("task_state spawning is in flight"));
    assert_eq!(k.state_hash(), before, "a refused reset changes nothing");
    wait(&mut k, 10);
    assert!(matches!(act(&mut k, &c, 1, Action::ResetState { error: true }), Err(Error { kind: crate::ErrorKind::Forbidden, .. })));
    act(&mut k, &admin(), 1, Action::ResetState { error: true }).unwrap();
    assert_eq!((status(&k, 1), server(&k, 1).power_state), (Status::Error, PowerState::Running), "the power state stays");
    act(&mut k, &admin(), 1, Action::ResetState { error: false }).unwrap();
    assert_eq!(status(&k, 1), Status::Active);
    act(&mut k, &c, 1, Action::Stop).expect("a reset server takes actions again");
    wait(&mut k, 10);
    assert_eq!(status(&k, 1), Status::Shutoff);
    k.check_invariants().unwrap();
}

#[test]
fn locked_servers_refuse_non_admins_and_admin_locks_need_an_admin() {
    let mut k = kernel(1);
    let c = member(1);
    active(&mut k, &c, 1);
    act(&mut k, &c, 1, Action::Lock { reason: Some("maintenance".into()) }).unwrap();
    assert_eq!(conflict(act(&mut k, &c, 1, Action::Stop)), format!("Instance {} is locked", Uuid(1)));
    conflict(del(&mut k, &c, 1));
    act(&mut k, &admin(), 1, Action::Stop).expect("admins ignore locks");
    act(&mut k, &c, 1, Action::Unlock).unwrap();
    act(&mut k, &admin(), 1, Action::Lock { reason: None }).unwrap();
    let before = k.state_hash();
    assert!(matches!(act(&mut k, &c, 1, Action::Unlock), Err(Error { kind: crate::ErrorKind::Forbidden, .. })));
    assert_eq!(k.state_hash(), before);
    act(&mut k, &admin(), 1, Action::Unlock).unwrap();
    assert!(!server(&k, 1).locked());
}

#[test]
fn rebuild_keeps_power_state_and_changes_the_image() {
    let mut k = kernel(1);
    let c = member(1);
    active(&mut k, &c, 1);
    act(&mut k, &c, 1, Action::Stop).unwrap();
    wait(&mut k, 3);
    let debian = k.images.find("debian-12").unwrap().id;
    let small = RebuildSpec { image: debian, ..Default::default() };
    assert!(
        matches!(act(&mut k, &c, 1, Action::Rebuild(Box::new(small))), Err(Error { kind: crate::ErrorKind::BadRequest, message: m, .. }) if m.contains("Flavor's disk is smaller"))
    );
    let cirros = image(&k);
    let spec = RebuildSpec { image: cirros, name: Some("renamed".into()), ..Default::default() };
    act(&mut k, &c, 1, Action::Rebuild(Box::new(spec))).unwrap();
    assert_eq!((status(&k, 1), server(&k, 1).name.as_str()), (Status::Rebuild, "renamed"));
    wait(&mut k, 10);
    assert_eq!(status(&k, 1), Status::Shutoff);
}

#[test]
fn resize_moves_allocations_to_a_migration_and_confirm_drops_them() {
    let mut k = kernel(2);
    let c = member(1);
    active(&mut k, &c, 1);
    let source = server(&k, 1).host.unwrap();
    act(&mut k, &c, 1, Action::Resize { flavor: "2".into() }).unwrap();
    assert_eq!(status(&k, 1), Status::Resize);
    let m = server(&k, 1).extras().migration.clone().expect("migration");
    assert_ne!(m.dest, source, "another host is preferred");
    assert_eq!(allocations(&k, &m.id)[&k.placement.by_host[&source]][MEMORY_MB], 512);
    assert_eq!(allocations(&k, &Uuid(1))[&k.placement.by_host[&m.dest]][MEMORY_MB], 2048);
    assert_eq!(k.compute.quotas.usage(&project(1)).ram, 2048, "the new flavor counts");
    wait(&mut k, 15);
    let s = server(&k, 1);
    assert_eq!((s.status(), s.host, k.compute.servers.flavor(s.flavor).id.as_str()), (Status::VerifyResize, Some(m.dest), "2"));
    conflict(act(&mut k, &c, 1, Action::Stop));
    act(&mut k, &c, 1, Action::ConfirmResize).unwrap();
    assert_eq!(status(&k, 1), Status::Active);
    assert!(!k.placement.consumers.contains_key(&m.id));
    assert_eq!(k.placement.provider(k.placement.by_host[&source]).unwrap().usage[MEMORY_MB], 0);
    conflict(act(&mut k, &c, 1, Action::ConfirmResize));
    k.placement.check_invariants().unwrap();
}

#[test]
fn revert_resize_returns_to_the_old_flavor_and_host() {
    let mut k = kernel(2);
    let c = member(1);
    active(&mut k, &c, 1);
    act(&mut k, &c, 1, Action::Stop).unwrap();
    wait(&mut k, 3);
    let source = server(&k, 1).host.unwrap();
    let before = allocations(&k, &Uuid(1));
    assert!(
        matches!(act(&mut k, &c, 1, Action::Resize { flavor: "1".into() }), Err(Error { kind: crate::ErrorKind::BadRequest, message: m, .. }) if m.contains("must change flavor"))
    );
    act(&mut k, &c, 1, Action::Resize { flavor: "3".into() }).unwrap();
    wait(&mut k, 15);
    assert_eq!(server(&k, 1).power_state, PowerState::Shutdown);
    act(&mut k, &c, 1, Action::RevertResize).unwrap();
    assert_eq!(status(&k, 1), Status::RevertResize);
    assert_eq!(allocations(&k, &Uuid(1)), before, "the source's allocations return at once");
    assert_eq!(k.compute.quotas.usage(&project(1)).cores, 1);
    wait(&mut k, 15);
    let s = server(&k, 1);
    assert_eq!((s.status(), s.host, k.compute.servers.flavor(s.flavor).id.as_str()), (Status::Shutoff, Some(source), "1"));
    assert!(s.extras().migration.is_none());
    assert_eq!(k.placement.consumers.len(), 1);
    k.placement.check_invariants().unwrap();
}

#[test]
fn resize_on_a_single_host_uses_the_same_host() {
    let mut k = kernel(1);
    let c = member(1);
    active(&mut k, &c, 1);
    act(&mut k, &c, 1, Action::Resize { flavor: "2".into() }).unwrap();
    let m = server(&k, 1).extras().migration.clone().unwrap();
    assert_eq!(m.source, m.dest);
    let prov = k.placement.by_host[&m.source];
    assert_eq!(k.placement.provider(prov).unwrap().usage[MEMORY_MB], 512 + 2048);
}

#[test]
fn a_resize_with_no_room_fails_in_the_action_log_not_the_request() {
    let mut k = kernel(1);
    let c = member(1);
    active(&mut k, &c, 1);
    apply_quota(&mut k, 1, Resource::Ram, -1);
    act(&mut k, &c, 1, Action::Resize { flavor: "4".into() }).unwrap();
    let s = server(&k, 1);
    assert_eq!(s.status(), Status::Active);
    assert!(s.actions.last().unwrap().failed());
    assert_eq!(s.extras().fault.as_ref().unwrap().message, create::NO_VALID_HOST);
}

fn apply_quota(k: &mut Kernel, p: u128, r: Resource, v: i64) {
    let cmd = crate::compute::quotas::Cmd::Set { project: project(p), limits: BTreeMap::from([(r, v)]), force: true };
    crate::compute::quotas::apply(&mut k.cx(), &admin(), cmd).unwrap();
}

#[test]
fn delete_frees_placement_quota_and_group_membership() {
    let mut k = kernel(2);
    let c = member(1);
    let g = make_group(&mut k, &c, GroupPolicy::AntiAffinity);
    let mut s = spec(&k, Uuid(1), "1");
    s.group = Some(g);
    apply(&mut k.cx(), &c, Cmd::Create(Box::new(s))).unwrap();
    wait(&mut k, 10);
    act(&mut k, &c, 1, Action::Reboot { hard: false }).unwrap();
    del(&mut k, &c, 1).unwrap();
    assert_eq!(server(&k, 1).task_state, Some(TaskState::Deleting));
    del(&mut k, &c, 1).expect("deleting twice is fine");
    assert_eq!(k.compute.quotas.usage(&project(1)).instances, 1, "a deleting server still counts");
    wait(&mut k, 10);
    assert!(k.compute.servers.get(&Uuid(1)).is_none(), "the stale reboot timer did not resurrect it");
    assert!(k.placement.consumers.is_empty());
    assert_eq!(k.compute.quotas.usage(&project(1)).instances, 0);
    assert!(k.compute.groups[&g].members.is_empty());
    assert!(matches!(del(&mut k, &c, 1), Err(Error { kind: crate::ErrorKind::NotFound, .. })));
    k.compute.servers.check_invariants().unwrap();
}

fn make_group(k: &mut Kernel, c: &Caller, policy: GroupPolicy) -> Uuid {
    let id = Uuid(0x9999);
    groups::apply(&mut k.cx(), c, groups::Cmd::Create { id, name: "g".into(), policy, max_server_per_host: None }).unwrap();
    id
}

#[test]
fn anti_affinity_spreads_then_fails_with_no_valid_host() {
    let mut k = kernel(3);
    let c = member(1);
    let g = make_group(&mut k, &c, GroupPolicy::AntiAffinity);
    for id in 1..=4 {
        let mut s = spec(&k, Uuid(id), "42");
        s.group = Some(g);
        apply(&mut k.cx(), &c, Cmd::Create(Box::new(s))).expect("accepted even when unplaceable");
    }
    let hosts: std::collections::BTreeSet<_> = (1..=3).map(|id| server(&k, id).host.unwrap()).collect();
    assert_eq!(hosts.len(), 3);
    let s = server(&k, 4);
    assert_eq!((s.status(), s.host), (Status::Error, None));
    let fault = s.extras().fault.as_ref().unwrap();
    assert_eq!((fault.code, fault.message.as_str()), (500, "No valid host was found. There are not enough hosts available."));
    assert!(s.actions[0].failed());
    assert_eq!(k.compute.quotas.usage(&project(1)).instances, 4, "ERROR servers count against quota");
    conflict(act(&mut k, &c, 4, Action::Stop));
    del(&mut k, &c, 4).unwrap();
    assert!(k.compute.servers.get(&Uuid(4)).is_none(), "an unplaced server goes at once");
}

#[test]
fn multi_create_names_servers_and_shrinks_to_quota() {
    let mut k = kernel(4);
    let c = member(1);
    apply_quota(&mut k, 1, Resource::Instances, 3);
    let mut s = spec(&k, Uuid(1), "42");
    s.ids = (1..=5).map(Uuid).collect();
    s.name = "web".into();
    s.min_count = 4;
    let before = k.state_hash();
    assert!(
        matches!(apply(&mut k.cx(), &c, Cmd::Create(Box::new(s.clone()))), Err(Error { kind: crate::ErrorKind::OverQuota, message: m, .. }) if m.starts_with("Quota exceeded for instances"))
    );
    assert_eq!(k.state_hash(), before);
    s.min_count = 2;
    let Reply::Created { ids, reservation_id } = apply(&mut k.cx(), &c, Cmd::Create(Box::new(s))).unwrap() else { panic!() };
    assert_eq!(ids.len(), 3);
    assert!(reservation_id.starts_with("r-") && reservation_id.len() == 10);
    let names: Vec<_> = ids.iter().map(|id| k.compute.servers.get(id).unwrap().name.clone()).collect();
    assert_eq!(names, ["web-1", "web-2", "web-3"]);
    let q = ListQuery { project: Some(project(1)), reservation_id: Some(reservation_id), ..Default::default() };
    assert_eq!(list::list(&k, &q).unwrap().0.len(), 3);
}

#[test]
fn projects_are_isolated_and_readers_cannot_write() {
    let mut k = kernel(2);
    active(&mut k, &member(1), 1);
    let other = member(2);
    let before = k.state_hash();
    assert_eq!(act(&mut k, &other, 1, Action::Stop), Err(not_found(&Uuid(1))));
    assert_eq!(del(&mut k, &other, 1), Err(not_found(&Uuid(1))));
    assert!(find(&k, &other, &Uuid(1)).is_err());
    assert!(find(&k, &admin(), &Uuid(1)).is_ok());
    let q = ListQuery { project: Some(project(2)), ..Default::default() };
    assert!(list::list(&k, &q).unwrap().0.is_empty());
    assert!(matches!(act(&mut k, &reader(1), 1, Action::Stop), Err(Error { kind: crate::ErrorKind::Forbidden, .. })));
    assert!(matches!(boot(&mut k, &reader(1), 5, "1"), Err(Error { kind: crate::ErrorKind::Forbidden, .. })));
    assert_eq!(k.state_hash(), before);
    assert!(find(&k, &reader(1), &Uuid(1)).is_ok(), "readers may look");
}

#[test]
fn invalid_creates_change_nothing() {
    let mut k = kernel(1);
    let c = member(1);
    let before = k.state_hash();
    let bad_flavor = boot(&mut k, &c, 1, "nope");
    assert_eq!(bad_flavor, Err(Error::bad_request("compute.bad_request", "Flavor nope could not be found.".into())));
    let mut s = spec(&k, Uuid(1), "1");
    s.image = Uuid(12345);
    assert_eq!(apply(&mut k.cx(), &c, Cmd::Create(Box::new(s))), Err(Error::bad_request("compute.bad_request", "Can not find requested image".into())));
    let mut s = spec(&k, Uuid(1), "1");
    s.key_name = Some("missing".into());
    assert_eq!(apply(&mut k.cx(), &c, Cmd::Create(Box::new(s))), Err(Error::bad_request("compute.bad_request", "Invalid key_name provided.".into())));
    let mut s = spec(&k, Uuid(1), "1");
    s.availability_zone = Some("nowhere".into());
    assert!(matches!(apply(&mut k.cx(), &c, Cmd::Create(Box::new(s))), Err(Error { kind: crate::ErrorKind::BadRequest, .. })));
    let mut s = spec(&k, Uuid(1), "1");
    s.name = " padded".into();
    assert!(matches!(apply(&mut k.cx(), &c, Cmd::Create(Box::new(s))), Err(Error { kind: crate::ErrorKind::BadRequest, .. })));
    let mut s = spec(&k, Uuid(1), "1");
    s.metadata = (0..200).map(|i| (format!("k{i}"), "v".to_string())).collect();
    assert!(matches!(apply(&mut k.cx(), &c, Cmd::Create(Box::new(s))), Err(Error { kind: crate::ErrorKind::OverQuota, .. })));
    assert_eq!(k.state_hash(), before);
    for id in 1..=10 {
        boot(&mut k, &c, id, "42").unwrap();
    }
    let before = k.state_hash();
    assert!(matches!(boot(&mut k, &c, 11, "42"), Err(Error { kind: crate::ErrorKind::OverQuota, .. })));
    assert!(matches!(boot(&mut k, &c, 1, "42"), Err(Error { kind: crate::ErrorKind::Conflict, .. })));
    assert_eq!(k.state_hash(), before);
}

#[test]
fn listing_is_newest_first_with_paging_and_filters() {
    let mut k = kernel(4);
    let c = member(1);
    apply_quota(&mut k, 1, Resource::Instances, -1);
    apply_quota(&mut k, 1, Resource::Cores, -1);
    for id in 1..=25 {
        boot(&mut k, &c, id, "42").unwrap();
        wait(&mut k, 1);
    }
    active(&mut k, &member(2), 100);
    let q = ListQuery { project: Some(project(1)), limit: Some(10), ..Default::default() };
    let (page, full) = list::list(&k, &q).unwrap();
    assert!(full);
    assert_eq!(page.iter().map(|s| s.id.0).collect::<Vec<_>>(), (16..=25).rev().collect::<Vec<_>>());
    let q2 = ListQuery { marker: Some(Uuid(16)), ..q.clone() };
    assert_eq!(list::list(&k, &q2).unwrap().0.first().map(|s| s.id.0), Some(15));
    let q3 = ListQuery { marker: Some(Uuid(5)), ..q.clone() };
    let (page, full) = list::list(&k, &q3).unwrap();
    assert_eq!((page.len(), full), (4, false));
    let foreign = ListQuery { marker: Some(Uuid(100)), ..q.clone() };
    assert!(matches!(list::list(&k, &foreign), Err(Error { kind: crate::ErrorKind::BadRequest, .. })));
    let all = ListQuery::default();
    assert_eq!(list::list(&k, &all).unwrap().0.first().map(|s| s.id.0), Some(100));
    let named = ListQuery { project: Some(project(1)), name: Some("^vm-2.$".into()), ..Default::default() };
    assert_eq!(list::list(&k, &named).unwrap().0.len(), 6);
    let building = ListQuery { project: Some(project(1)), status: Some(vec![Status::Build]), ..Default::default() };
    assert!(list::list(&k, &building).unwrap().0.is_empty());
    let running = ListQuery { status: Some(vec![Status::Active, Status::Error]), ..building };
    assert_eq!(list::list(&k, &running).unwrap().0.len(), 25);
    let by_name = ListQuery { project: Some(project(1)), sort: Some((SortKey::DisplayName, false)), limit: Some(3), ..Default::default() };
    let names: Vec<_> = list::list(&k, &by_name).unwrap().0.iter().map(|s| s.name.clone()).collect();
    assert_eq!(names, ["vm-1", "vm-10", "vm-11"]);
    let next = ListQuery { marker: Some(Uuid(11)), ..by_name };
    assert_eq!(list::list(&k, &next).unwrap().0[0].name, "vm-12");
}

#[test]
fn name_filter_is_a_small_case_insensitive_regex() {
    assert!(list::name_matches("web", "my-WEB-1"));
    assert!(!list::name_matches("^web-$", "web-1"));
    assert!(list::name_matches("^w.b$", "wEb"));
    assert!(!list::name_matches("^w.b$", "webs"));
    assert!(list::name_matches("a.*z", "abcz"));
    assert!(list::name_matches("ab+c", "abbbc") && !list::name_matches("ab+c", "ac"));
    assert!(list::name_matches("colou?r", "color") && list::name_matches("colou?r", "colour"));
    assert!(list::name_matches("a\\.b", "a.b") && !list::name_matches("a\\.b", "axb"));
    assert!(list::name_matches("", "anything"));
    assert!(list::name_matches(r"^.*\-instance\-[0-9]+$", "tempest-instance-350675143"));
    assert!(!list::name_matches(r"^.*-instance-[0-9]+$", "tempest-instance-35x"));
    assert!(list::name_matches("^vm-[^0-4]$", "vm-7") && !list::name_matches("^vm-[^0-4]$", "vm-3"));
    assert!(list::name_matches("[a-c]x", "zzbx") && list::name_matches("[-a]", "-") && list::name_matches("a[", "a["));
}

#[test]
fn metadata_and_tags_follow_novas_rules() {
    let mut k = kernel(1);
    let c = member(1);
    boot(&mut k, &c, 1, "1").unwrap();
    let items = BTreeMap::from([("a".to_string(), "1".to_string())]);
    conflict(apply(&mut k.cx(), &c, Cmd::SetMetadata { id: Uuid(1), items: items.clone(), replace: false }));
    wait(&mut k, 10);
    apply(&mut k.cx(), &c, Cmd::SetMetadata { id: Uuid(1), items, replace: false }).unwrap();
    let more = BTreeMap::from([("b".to_string(), "2".to_string())]);
    assert_eq!(
        apply(&mut k.cx(), &c, Cmd::SetMetadata { id: Uuid(1), items: more.clone(), replace: false }).unwrap(),
        Reply::Metadata(BTreeMap::from([("a".into(), "1".into()), ("b".into(), "2".into())]))
    );
    assert_eq!(apply(&mut k.cx(), &c, Cmd::SetMetadata { id: Uuid(1), items: more.clone(), replace: true }).unwrap(), Reply::Metadata(more));
    assert!(matches!(apply(&mut k.cx(), &c, Cmd::DeleteMetadata { id: Uuid(1), key: "zz".into() }), Err(Error { kind: crate::ErrorKind::NotFound, .. })));
    apply(&mut k.cx(), &c, Cmd::DeleteMetadata { id: Uuid(1), key: "b".into() }).unwrap();
    assert!(server(&k, 1).metadata.is_empty());
    apply(&mut k.cx(), &c, Cmd::AddTag { id: Uuid(1), tag: "blue".into() }).unwrap();
    assert!(matches!(apply(&mut k.cx(), &c, Cmd::AddTag { id: Uuid(1), tag: "a/b".into() }), Err(Error { kind: crate::ErrorKind::BadRequest, .. })));
    let many: Vec<String> = (0..51).map(|i| format!("t{i}")).collect();
    assert!(matches!(apply(&mut k.cx(), &c, Cmd::SetTags { id: Uuid(1), tags: many }), Err(Error { kind: crate::ErrorKind::BadRequest, .. })));
    assert_eq!(apply(&mut k.cx(), &c, Cmd::DeleteTag { id: Uuid(1), tag: "blue".into() }).unwrap(), Reply::Tags(vec![]));
    let u = edit::Update { id: Uuid(1), name: Some("new".into()), description: Some(Some("d".into())), ..Default::default() };
    apply(&mut k.cx(), &c, Cmd::Update(Box::new(u))).unwrap();
    assert_eq!((server(&k, 1).name.as_str(), server(&k, 1).extras().description.as_deref()), ("new", Some("d")));
}

/// A scripted mix of everything, run on two kernels: their states must hash equal.
fn script(k: &mut Kernel) {
    let c = member(1);
    for id in 1..=4 {
        boot(k, &c, id, if id % 2 == 0 { "1" } else { "42" }).unwrap();
    }
    wait(k, 9);
    act(k, &c, 1, Action::Resize { flavor: "2".into() }).unwrap();
    act(k, &c, 2, Action::Stop).unwrap();
    del(k, &c, 3).unwrap();
    wait(k, 20);
    act(k, &c, 1, Action::RevertResize).unwrap();
    let _ = act(k, &c, 2, Action::Pause);
    wait(k, 20);
}

#[test]
fn same_commands_same_state_hash() {
    let (mut a, mut b) = (kernel(3), kernel(3));
    script(&mut a);
    script(&mut b);
    assert_eq!(a.state_hash(), b.state_hash());
    assert_eq!(a.compute.servers, b.compute.servers);
    let mut c = kernel(3);
    script(&mut c);
    act(&mut c, &member(1), 4, Action::Stop).unwrap();
    assert_ne!(a.state_hash(), c.state_hash());
}

/// Recomputes quota usage from the servers and compares it with the counters.
fn check_quota(k: &Kernel) -> std::result::Result<(), String> {
    let mut want: BTreeMap<Uuid, (u64, u64, u64)> = BTreeMap::new();
    for s in k.compute.servers.by_id.values() {
        let f = k.compute.servers.flavor(s.counted_flavor());
        let e = want.entry(s.project).or_default();
        e.0 += 1;
        e.1 += u64::from(f.vcpus);
        e.2 += f.ram;
    }
    for p in [project(1), project(2)] {
        let u = k.compute.quotas.usage(&p);
        let w = want.get(&p).copied().unwrap_or_default();
        if (u.instances, u.cores, u.ram) != w {
            return Err(format!("project {p}: counters {u:?}, servers {w:?}"));
        }
    }
    Ok(())
}

/// Each placed server's own allocation matches its counted flavor on the right provider.
fn check_allocations(k: &Kernel) -> std::result::Result<(), String> {
    for s in k.compute.servers.by_id.values() {
        let allocs = allocations(k, &s.id);
        match (s.host, &s.extras().migration) {
            (None, _) if !allocs.is_empty() => return Err(format!("unplaced {} holds allocations", s.id)),
            (Some(h), None) => {
                let want = crate::compute::flavors::resources(k.compute.servers.flavor(s.flavor));
                if allocs.get(&k.placement.by_host[&h]) != Some(&want) || allocs.len() != 1 {
                    return Err(format!("server {} allocations {allocs:?} differ from its flavor on its host", s.id));
                }
            }
            (Some(_), Some(m)) => {
                let (flavor, host, held) = if m.reverting { (m.old_flavor, m.source, false) } else { (m.new_flavor, m.dest, true) };
                let want = BTreeMap::from([(k.placement.by_host[&host], crate::compute::flavors::resources(k.compute.servers.flavor(flavor)))]);
                if allocs != want || k.placement.consumers.contains_key(&m.id) != held {
                    return Err(format!("server {} in resize holds {allocs:?}, migration held: {}", s.id, !held));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[derive(Clone, Debug)]
enum Op {
    Create { project: u128, flavor: usize },
    Delete(usize),
    Resize { idx: usize, flavor: usize },
    Confirm(usize),
    Revert(usize),
    Stop(usize),
    Start(usize),
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1u128..=2, 0usize..4).prop_map(|(project, flavor)| Op::Create { project, flavor }),
        2 => (0usize..16).prop_map(Op::Delete),
        2 => (0usize..16, 0usize..4).prop_map(|(idx, flavor)| Op::Resize { idx, flavor }),
        1 => (0usize..16).prop_map(Op::Confirm),
        1 => (0usize..16).prop_map(Op::Revert),
        1 => (0usize..16).prop_map(Op::Stop),
        1 => (0usize..16).prop_map(Op::Start),
        3 => (0u64..20).prop_map(Op::Advance),
    ]
}

const FLAVORS: [&str; 4] = ["42", "1", "2", "3"];

fn pick(k: &Kernel, idx: usize) -> Option<(u128, Caller)> {
    let n = k.compute.servers.len();
    (n > 0).then(|| {
        let s = k.compute.servers.by_id.values().nth(idx % n).expect("in range");
        let p = if s.project == project(1) { 1 } else { 2 };
        (s.id.0, member(p))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_lifecycles_keep_placement_and_quota_consistent(ops in prop::collection::vec(op(), 1..60)) {
        let mut k = kernel(2);
        let mut next_id = 1u128;
        for op in ops {
            let before = k.state_hash();
            let result = match op {
                Op::Create { project, flavor } => {
                    next_id += 1;
                    boot(&mut k, &member(project), next_id, FLAVORS[flavor])
                }
                Op::Advance(secs) => {
                    wait(&mut k, secs);
                    Ok(Reply::Accepted)
                }
                Op::Delete(i) => pick(&k, i).map_or(Ok(Reply::Accepted), |(id, c)| del(&mut k, &c, id)),
                Op::Resize { idx, flavor } => pick(&k, idx).map_or(Ok(Reply::Accepted), |(id, c)| act(&mut k, &c, id, Action::Resize { flavor: FLAVORS[flavor].into() })),
                Op::Confirm(i) => pick(&k, i).map_or(Ok(Reply::Accepted), |(id, c)| act(&mut k, &c, id, Action::ConfirmResize)),
                Op::Revert(i) => pick(&k, i).map_or(Ok(Reply::Accepted), |(id, c)| act(&mut k, &c, id, Action::RevertResize)),
                Op::Stop(i) => pick(&k, i).map_or(Ok(Reply::Accepted), |(id, c)| act(&mut k, &c, id, Action::Stop)),
                Op::Start(i) => pick(&k, i).map_or(Ok(Reply::Accepted), |(id, c)| act(&mut k, &c, id, Action::Start)),
            };
            if result.is_err() {
                prop_assert_eq!(k.state_hash(), before, "a refused command changed state: {:?}", result);
            }
            prop_assert_eq!(k.placement.check_invariants(), Ok(()));
            prop_assert_eq!(k.compute.servers.check_invariants(), Ok(()));
            prop_assert_eq!(check_quota(&k), Ok(()));
            prop_assert_eq!(check_allocations(&k), Ok(()));
        }
    }
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// Measures memory per server; run with `cargo test -p orrery-kernel servers_memory -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
fn servers_memory() {
    let mut k = kernel_of(1000, 32, 16384);
    for r in [Resource::Instances, Resource::Cores, Resource::Ram] {
        apply_quota(&mut k, 1, r, -1);
    }
    let c = member(1);
    let n = 100_000u128;
    let before = rss_kib();
    let start = std::time::Instant::now();
    let mut lap = std::time::Instant::now();
    for i in 0..n {
        boot(&mut k, &c, 0x10_0000 + i, "42").unwrap();
        if i % 20_000 == 19_999 {
            println!("{} servers: last 20000 took {:?}", i + 1, lap.elapsed());
            lap = std::time::Instant::now();
        }
    }
    let took = start.elapsed();
    wait(&mut k, 10);
    let after = rss_kib();
    println!(
        "{n} servers: {:.1} MiB RSS growth, {} B/server, create {:?} ({:.1} µs each)",
        (after - before) as f64 / 1024.0,
        (after - before) * 1024 / n as u64,
        took,
        took.as_micros() as f64 / n as f64
    );
    println!(
        "size_of Server = {} B, Extras = {} B, ActionRecord = {} B",
        std::mem::size_of::<Server>(),
        std::mem::size_of::<Extras>(),
        std::mem::size_of::<ActionRecord>()
    );
    assert_eq!(k.compute.servers.len(), n as usize);
    assert!(k.compute.servers.by_id.values().all(|s| s.status() == Status::Active));
    let r0 = rss_kib();
    let servers = k.compute.servers.clone();
    let r1 = rss_kib();
    let placement = k.placement.clone();
    let r2 = rss_kib();
    let timers_etc = k.clone();
    let r3 = rss_kib();
    println!(
        "clones: servers {} B/server, placement {} B/server, whole kernel {} B/server",
        (r1 - r0) * 1024 / n as u64,
        (r2 - r1) * 1024 / n as u64,
        (r3 - r2) * 1024 / n as u64
    );
    drop((servers, placement, timers_etc));
}

#[test]
fn resizes_leave_migration_records_until_their_server_is_deleted() {
    use crate::compute::migrations::{Kind, Status as M};
    let mut k = kernel(2);
    let c = member(1);
    active(&mut k, &c, 1);
    let statuses = |k: &Kernel| k.compute.migrations.by_id.values().map(|m| (m.kind, m.status)).collect::<Vec<_>>();
    act(&mut k, &c, 1, Action::Resize { flavor: "2".into() }).unwrap();
    assert_eq!(statuses(&k), vec![(Kind::Resize, M::Migrating)]);
    let m = k.compute.migrations.by_id[&1].clone();
    assert_eq!((m.uuid, m.instance, m.dest.is_some()), (server(&k, 1).extras().migration.as_ref().unwrap().id, Uuid(1), true));
    wait(&mut k, 15);
    assert_eq!(statuses(&k), vec![(Kind::Resize, M::Finished)]);
    act(&mut k, &c, 1, Action::ConfirmResize).unwrap();
    act(&mut k, &c, 1, Action::Resize { flavor: "3".into() }).unwrap();
    wait(&mut k, 15);
    act(&mut k, &c, 1, Action::RevertResize).unwrap();
    assert_eq!(statuses(&k), vec![(Kind::Resize, M::Confirmed), (Kind::Resize, M::Reverting)]);
    wait(&mut k, 15);
    assert_eq!(statuses(&k)[1], (Kind::Resize, M::Reverted));
    assert!(k.compute.migrations.active(&Uuid(1)).is_none());
    del(&mut k, &c, 1).unwrap();
    wait(&mut k, 2);
    assert!(k.compute.migrations.by_id.is_empty() && k.compute.migrations.by_instance.is_empty());
    k.check_invariants().unwrap();
}
