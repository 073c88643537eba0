//! Server actions and Nova's state machine: which vm_state and task_state allow each action,
//! the task_state it sets, the modelled time it takes, and what its observation finishes.
//!
//! Every action that needs the data plane bumps the server's operation number, so an
//! observation or deadline of an earlier operation (say a reboot overtaken by a delete) finds
//! the number changed and does nothing (see [`super::observe`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::lifecycle::{begin, check_lock, check_state};
use super::observe::destroy;
use super::{create, edit, ActionEvent, ActionKind, EventKind, Fault, Lock, Migration, PowerState, Server, Step, TaskState, VmState};
use crate::compute::quotas::{self, Usage};
use crate::compute::Cx;
use crate::compute::{flavors, groups, migrations};
use crate::driver::Work;
use crate::ids::Uuid;
use crate::placement::Resources;
use crate::scheduler::Request as SchedRequest;
use crate::time::Dur;
use crate::topology::HostIdx;
use crate::Read;
use crate::{Caller, Effect, Error, Result};

/// What a server action asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// `os-start`: power a stopped server on.
    Start,
    /// `os-stop`: power an active (or errored) server off.
    Stop,
    /// `reboot`, SOFT or HARD.
    Reboot {
        /// HARD rather than SOFT.
        hard: bool,
    },
    /// `pause`.
    Pause,
    /// `unpause`.
    Unpause,
    /// `suspend`.
    Suspend,
    /// `resume`.
    Resume,
    /// `lock`, with an optional reason (2.73).
    Lock {
        /// Why.
        reason: Option<String>,
    },
    /// `unlock`.
    Unlock,
    /// `rebuild` from an image.
    Rebuild(Box<RebuildSpec>),
    /// `resize` to another flavor.
    Resize {
        /// The new flavor's id.
        flavor: String,
    },
    /// `confirmResize`: keep the new flavor and free the source.
    ConfirmResize,
    /// `revertResize`: go back to the old flavor and host.
    RevertResize,
    /// `os-resetState` (admin): set the vm_state to `error`, or back to `active`.
    ResetState {
        /// To `error` rather than `active`.
        error: bool,
    },
    /// `rescue`: reboot from a rescue image (the server's own image when `image` is None),
    /// with the server's disk attached beside it.
    Rescue {
        /// `rescue_image_ref`.
        image: Option<Uuid>,
    },
    /// `unrescue`: reboot back from the server's own disk.
    Unrescue,
    /// `restore`: bring back a soft-deleted server. Soft delete is off (Nova's default
    /// `reclaim_instance_interval = 0`), so no server is ever soft-deleted and every restore
    /// is refused with Nova's 409.
    Restore,
}

/// What a rebuild changes besides the image. `None` leaves a field alone; `Some(None)`
/// clears it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebuildSpec {
    /// The image to rebuild from.
    pub image: Uuid,
    /// A new name.
    pub name: Option<String>,
    /// New metadata, replacing the old.
    pub metadata: Option<BTreeMap<String, String>>,
    /// A new description (2.19).
    pub description: Option<Option<String>>,
    /// New `accessIPv4`.
    pub access_ipv4: Option<Option<String>>,
    /// New `accessIPv6`.
    pub access_ipv6: Option<Option<String>>,
    /// A new keypair (2.54).
    pub key_name: Option<Option<String>>,
    /// New user data (2.57).
    pub user_data: Option<Option<String>>,
    /// New trusted certificate ids (2.63).
    pub trusted_certs: Option<Option<Vec<String>>>,
    /// New `OS-DCF:diskConfig` (AUTO is true).
    pub auto_disk_config: Option<bool>,
    /// A new hostname (2.90).
    #[serde(default)]
    pub hostname: Option<String>,
}

/// The task states a hard reboot may interrupt (Nova's `ALLOW_REBOOT`).
const ALLOW_REBOOT: &[Option<TaskState>] = &[
    None,
    Some(TaskState::Rebooting),
    Some(TaskState::RebootingHard),
    Some(TaskState::Resuming),
    Some(TaskState::Unpausing),
    Some(TaskState::Pausing),
    Some(TaskState::Suspending),
];

/// A timed power operation: its guard, the task state it sets and where it ends.
struct PowerOp {
    name: &'static str,
    kind: ActionKind,
    allowed: &'static [VmState],
    tasks: &'static [Option<TaskState>],
    task: TaskState,
    end: VmState,
    power: PowerState,
    event: EventKind,
    work: Work,
}

fn power_op(action: &Action) -> Option<PowerOp> {
    use VmState::*;
    let op = |name, kind, allowed, task, end, power, event, work| PowerOp { name, kind, allowed, tasks: &[None], task, end, power, event, work };
    Some(match action {
        Action::Stop => op("stop", ActionKind::Stop, &[Active, Error], TaskState::PoweringOff, Stopped, PowerState::Shutdown, EventKind::Stop, Work::Stop),
        Action::Start => op("start", ActionKind::Start, &[Stopped], TaskState::PoweringOn, Active, PowerState::Running, EventKind::Start, Work::Start),
        Action::Reboot { hard: false } => {
            op("reboot", ActionKind::Reboot, &[Active], TaskState::Rebooting, Active, PowerState::Running, EventKind::Reboot, Work::Reboot { hard: false })
        }
        Action::Reboot { hard: true } => PowerOp {
            tasks: ALLOW_REBOOT,
            ..op(
                "reboot",
                ActionKind::Reboot,
                &[Active, Stopped, Paused, Suspended, Error],
                TaskState::RebootingHard,
                Active,
                PowerState::Running,
                EventKind::Reboot,
                Work::Reboot { hard: true },
            )
        },
        Action::Pause => op("pause", ActionKind::Pause, &[Active], TaskState::Pausing, Paused, PowerState::Paused, EventKind::Pause, Work::Pause),
        Action::Unpause => op("unpause", ActionKind::Unpause, &[Paused], TaskState::Unpausing, Active, PowerState::Running, EventKind::Unpause, Work::Unpause),
        Action::Suspend => {
            op("suspend", ActionKind::Suspend, &[Active], TaskState::Suspending, Suspended, PowerState::Shutdown, EventKind::Suspend, Work::Suspend)
        }
        Action::Resume => op("resume", ActionKind::Resume, &[Suspended], TaskState::Resuming, Active, PowerState::Running, EventKind::Resume, Work::Resume),
        Action::Rescue { image } => {
            let work = Work::Rescue { image: *image };
            op("rescue", ActionKind::Rescue, &[Active, Stopped, Error], TaskState::Rescuing, Rescued, PowerState::Running, EventKind::Rescue, work)
        }
        Action::Unrescue => {
            op("unrescue", ActionKind::Unrescue, &[Rescued], TaskState::Unrescuing, Active, PowerState::Running, EventKind::Unrescue, Work::Unrescue)
        }
        _ => return None,
    })
}

/// The modelled duration of a power operation.
fn power_time<'k>(k: impl Read<'k>, kind: ActionKind) -> Dur {
    let k = k.read();
    let t = &k.policy().timing;
    match kind {
        ActionKind::Stop => t.stop,
        ActionKind::Start => t.start,
        ActionKind::Reboot | ActionKind::Rescue | ActionKind::Unrescue => t.reboot,
        _ => t.pause,
    }
}

/// Runs a server action.
pub fn run(k: &mut Cx, caller: &Caller, id: Uuid, request_id: Uuid, action: Action) -> Result<()> {
    let what = format!("servers:{}", action_policy(&action));
    let s = super::find_for_write(&*k, caller, &id, &what)?;
    if !matches!(action, Action::Lock { .. } | Action::Unlock) && k.compute.servers.down.contains_key(&id) {
        return Err(Error::conflict("compute.host_down", format!("Cannot '{}' instance {id} while its host is down.", action_name(&action))));
    }
    if let Some(op) = power_op(&action) {
        check_lock(s, caller)?;
        if s.host.is_none() {
            return Err(Error::conflict("compute.not_ready", format!("Instance {id} is not ready")));
        }
        check_state(s, op.name, op.allowed, op.tasks, true)?;
        if let Action::Rescue { image: Some(image) } = &action {
            create::find_image(&*k, caller, image)?;
        }
        let dur = power_time(&*k, op.kind);
        let step = Step::Settled { vm: op.end, power: op.power, event: op.event, relaunched: false };
        begin(k, caller, &id, request_id, op.kind, Some(op.task), Some((op.event, dur, step, op.work)));
        return Ok(());
    }
    match action {
        Action::Lock { reason } => lock(k, caller, id, request_id, reason),
        Action::Unlock => unlock(k, caller, id, request_id),
        Action::Rebuild(spec) => rebuild(k, caller, id, request_id, *spec),
        Action::Resize { flavor } => resize(k, caller, id, request_id, &flavor),
        Action::ConfirmResize => confirm_resize(k, caller, id, request_id),
        Action::RevertResize => revert_resize(k, caller, id, request_id),
        Action::ResetState { error } => reset_state(k, caller, id, error),
        Action::Restore => Err(super::lifecycle::invalid_state("restore", &id, "vm_state", s.vm_state.name())),
        _ => Err(Error::bad_request("compute.bad_request", "Unknown server action.".into())),
    }
}

/// The action's name in Nova's 409 messages.
fn action_name(a: &Action) -> &'static str {
    match a {
        Action::Reboot { .. } => "reboot",
        Action::Rebuild(_) => "rebuild",
        Action::Resize { .. } => "resize",
        Action::ConfirmResize => "confirmResize",
        Action::RevertResize => "revertResize",
        Action::ResetState { .. } => "os-resetState",
        Action::Restore => "restore",
        other => power_op(other).map_or("action", |op| op.name),
    }
}

/// The policy name Nova checks for an action, for 403 messages.
fn action_policy(a: &Action) -> &'static str {
    match a {
        Action::Start => "os-start",
        Action::Stop => "os-stop",
        Action::Reboot { .. } => "reboot",
        Action::Pause => "os-pause-server:pause",
        Action::Unpause => "os-pause-server:unpause",
        Action::Suspend => "os-suspend-server:suspend",
        Action::Resume => "os-suspend-server:resume",
        Action::Lock { .. } => "os-lock-server:lock",
        Action::Unlock => "os-lock-server:unlock",
        Action::Rebuild(_) => "rebuild",
        Action::Resize { .. } => "resize",
        Action::ConfirmResize => "confirm_resize",
        Action::RevertResize => "revert_resize",
        Action::ResetState { .. } => "os-admin-actions:reset_state",
        Action::Rescue { .. } => "os-rescue",
        Action::Unrescue => "os-unrescue",
        Action::Restore => "os-deferred-delete:restore",
    }
}

/// `os-resetState`: an admin sets a settled server's vm_state to error, or back to active
/// (its power state stays; Nova records no instance action for it). Nova would also reset a
/// server mid-operation and leave the operation half done; orrery refuses that with 409, and
/// likewise while a resize awaits confirmation and, to active, a server that never got a host.
fn reset_state(k: &mut Cx, caller: &Caller, id: Uuid, error: bool) -> Result<()> {
    if !caller.admin {
        return Err(Error::forbidden("compute.forbidden", "Policy doesn't allow os_compute_api:os-admin-actions:reset_state to be performed.".into()));
    }
    let s = super::find(&*k, caller, &id)?;
    let refuse = |why: String| Err(Error::conflict("compute.invalid_state", format!("Cannot reset the state of instance {id}: {why}.")));
    if let Some(t) = s.task_state {
        return refuse(format!("task_state {} is in flight", t.name()));
    }
    if s.vm_state == VmState::Resized {
        return refuse("a resize awaits confirmResize or revertResize".into());
    }
    if !error && s.host.is_none() {
        return refuse("it was never placed on a host, so it cannot be active".into());
    }
    let now = k.now();
    if let Some(s) = k.compute.servers.by_id.get_mut(&id) {
        s.vm_state = if error { VmState::Error } else { VmState::Active };
        s.updated = now;
    }
    Ok(())
}

fn lock(k: &mut Cx, caller: &Caller, id: Uuid, request_id: Uuid, reason: Option<String>) -> Result<()> {
    if let Some(r) = &reason {
        if r.chars().count() > 255 {
            return Err(Error::bad_request("compute.bad_request", "Invalid input for field/attribute locked_reason. It is longer than 255 characters.".into()));
        }
    }
    let s = super::find(&*k, caller, &id)?;
    let by_admin = caller.project != Some(s.project);
    begin(k, caller, &id, request_id, ActionKind::Lock, None, None);
    if let Some(s) = k.compute.servers.by_id.get_mut(&id) {
        s.extras_mut().lock = Some(Lock { by_admin, reason });
    }
    Ok(())
}

fn unlock(k: &mut Cx, caller: &Caller, id: Uuid, request_id: Uuid) -> Result<()> {
    let s = super::find(&*k, caller, &id)?;
    if s.extras().lock.as_ref().is_some_and(|l| l.by_admin) && !caller.admin {
        return Err(Error::forbidden("compute.forbidden", "Policy doesn't allow os_compute_api:os-lock-server:unlock:unlock_override to be performed.".into()));
    }
    begin(k, caller, &id, request_id, ActionKind::Unlock, None, None);
    if let Some(s) = k.compute.servers.by_id.get_mut(&id) {
        s.extras_mut().lock = None;
        s.tidy();
    }
    Ok(())
}

fn rebuild(k: &mut Cx, caller: &Caller, id: Uuid, request_id: Uuid, spec: RebuildSpec) -> Result<()> {
    let s = super::find(&*k, caller, &id)?;
    check_lock(s, caller)?;
    check_state(s, "rebuild", &[VmState::Active, VmState::Stopped, VmState::Error], &[None], true)?;
    if s.host.is_none() {
        return Err(Error::conflict("compute.not_ready", format!("Instance {id} is not ready")));
    }
    let image = create::find_image(&*k, caller, &spec.image)?;
    create::check_image_fits(caller, image, k.compute.servers.flavor(s.flavor))?;
    if let Some(n) = &spec.name {
        edit::check_name(n)?;
    }
    if let Some(Some(d)) = &spec.description {
        edit::check_description(Some(d))?;
    }
    if let Some(m) = &spec.metadata {
        edit::check_metadata(&*k, &s.project, m)?;
    }
    if let Some(Some(name)) = &spec.key_name {
        crate::compute::keypairs::find(&*k, &s.user, name).map_err(|_| Error::bad_request("compute.bad_request", "Invalid key_name provided.".into()))?;
    }
    let stopped = s.vm_state == VmState::Stopped;
    let (vm, power) = if stopped { (VmState::Stopped, PowerState::Shutdown) } else { (VmState::Active, PowerState::Running) };
    let step = Step::Settled { vm, power, event: EventKind::Rebuild, relaunched: true };
    let dur = k.policy().timing.rebuild;
    begin(k, caller, &id, request_id, ActionKind::Rebuild, Some(TaskState::Rebuilding), Some((EventKind::Rebuild, dur, step, Work::Rebuild)));
    let s = k.compute.servers.by_id.get_mut(&id).expect("validated above");
    apply_rebuild(s, spec);
    Ok(())
}

fn apply_rebuild(s: &mut Server, spec: RebuildSpec) {
    s.image = Some(spec.image);
    if let Some(n) = spec.name {
        s.rename(n);
    }
    if let Some(h) = spec.hostname {
        s.set_hostname(h);
    }
    if let Some(m) = spec.metadata {
        s.metadata = m;
    }
    let x = s.extras_mut();
    if let Some(d) = spec.description {
        x.description = d;
    }
    if let Some(v) = spec.access_ipv4 {
        x.access_ipv4 = v;
    }
    if let Some(v) = spec.access_ipv6 {
        x.access_ipv6 = v;
    }
    if let Some(v) = spec.user_data {
        x.user_data = v;
    }
    if let Some(v) = spec.trusted_certs {
        x.trusted_certs = v;
    }
    if let Some(v) = spec.key_name {
        x.key_name = v;
    }
    if let Some(v) = spec.auto_disk_config {
        s.auto_disk_config = v;
    }
    s.tidy();
    s.progress = 0;
}

/// The resources a flavor copy claims.
fn resources_of<'k>(k: impl Read<'k>, flavor: u32) -> Resources {
    let k = k.read();
    flavors::resources(k.compute.servers.flavor(flavor))
}

/// The quota growth from flavor `from` to flavor `to` (zero where it shrinks).
fn growth<'k>(k: impl Read<'k>, from: u32, to: u32) -> Usage {
    let k = k.read();
    let (a, b) = (k.compute.servers.flavor(from), k.compute.servers.flavor(to));
    Usage { instances: 0, cores: u64::from(b.vcpus.saturating_sub(a.vcpus)), ram: b.ram.saturating_sub(a.ram), server_groups: 0 }
}

/// Moves a server's counted quota usage from flavor `from` to flavor `to`.
fn recount(k: &mut Cx, project: &Uuid, from: u32, to: u32) {
    let (a, b) = (super::usage_of(&k.compute.servers, from), super::usage_of(&k.compute.servers, to));
    quotas::sub_usage(k, project, &a);
    quotas::add_usage(k, project, &b);
}

fn resize(k: &mut Cx, caller: &Caller, id: Uuid, request_id: Uuid, flavor_id: &str) -> Result<()> {
    let s = super::find(&*k, caller, &id)?;
    check_lock(s, caller)?;
    check_state(s, "resize", &[VmState::Active, VmState::Stopped], &[None], true)?;
    let source = s.host.ok_or_else(|| Error::conflict("compute.not_ready", format!("Instance {id} is not ready")))?;
    let new =
        flavors::find(&*k, caller, flavor_id).map_err(|_| Error::bad_request("compute.bad_request", "Unable to locate requested flavor.".into()))?.clone();
    let old = k.compute.servers.flavor(s.flavor);
    if old.id == new.id {
        return Err(Error::bad_request("compute.bad_request", "When resizing, instances must change flavor!".into()));
    }
    if new.disk == 0 && old.disk > 0 {
        return Err(Error::bad_request("compute.bad_request", "Resize to zero disk flavor is not allowed.".into()));
    }
    let (project, user, resume, old_idx, group) = (s.project, s.user, s.vm_state, s.flavor, s.extras().group);
    let delta = Usage { instances: 0, cores: u64::from(new.vcpus.saturating_sub(old.vcpus)), ram: new.ram.saturating_sub(old.ram), server_groups: 0 };
    quotas::check(&*k, &project, &delta)?;
    let new_idx = k.compute.servers.intern_flavor(&new);
    let migration_id = k.rng().uuid();
    match pick_resize_host(k, &id, new_idx, source, group) {
        Some(dest) if move_allocations(k, &id, &migration_id, project, user, dest, new_idx) => {
            let m = Migration { id: migration_id, old_flavor: old_idx, new_flavor: new_idx, source, dest, resume, reverting: false };
            let dur = k.policy().timing.resize;
            begin(
                k,
                caller,
                &id,
                request_id,
                ActionKind::Resize,
                Some(TaskState::ResizeMigrating),
                Some((EventKind::Resize, dur, Step::Resized, Work::Migrate { to: dest })),
            );
            k.compute.servers.by_id.get_mut(&id).expect("validated above").extras_mut().migration = Some(m);
            recount(k, &project, old_idx, new_idx);
            let status = migrations::Status::Migrating;
            let record = migrations::New {
                uuid: migration_id,
                instance: id,
                kind: migrations::Kind::Resize,
                source,
                dest: Some(dest),
                flavors: (old_idx, new_idx),
                status,
            };
            migrations::start(k, record);
        }
        _ => {
            let status = migrations::Status::Error;
            let record =
                migrations::New { uuid: migration_id, instance: id, kind: migrations::Kind::Resize, source, dest: None, flavors: (old_idx, new_idx), status };
            migrations::start(k, record);
            resize_failed(k, caller, &id, request_id)
        }
    }
    Ok(())
}

/// Chooses a host for the resized server: another host if one fits, else its own.
fn pick_resize_host(k: &mut Cx, id: &Uuid, flavor: u32, source: HostIdx, group: Option<Uuid>) -> Option<HostIdx> {
    let s = k.compute.servers.get(id)?;
    let zone = s.requested_zone;
    let image_props = s.image.and_then(|i| k.images.by_id.get(&i)).map(|i| i.properties.clone()).unwrap_or_default();
    let f = k.compute.servers.flavor(flavor);
    let extra_specs = f.extra_specs.clone();
    let res = flavors::resources(f);
    let group = match group {
        Some(g) => groups::placement_for(&*k, &g, |m| if m == id { None } else { k.compute.servers.host_of(m) }),
        None => Default::default(),
    };
    let avoid = [source];
    let mut req = SchedRequest { resources: res, zone, image_props: Some(&image_props), extra_specs: Some(&extra_specs), group, ignore_hosts: &avoid };
    if let Ok(h) = k.schedule(&req) {
        return Some(h);
    }
    req.ignore_hosts = &[];
    k.schedule(&req).ok()
}

/// Hands the server's current allocations to the migration consumer and claims the new
/// flavor on `dest` for the server. All or nothing: false (and nothing changed) if the
/// destination claim fails.
fn move_allocations(k: &mut Cx, id: &Uuid, migration: &Uuid, project: Uuid, user: Uuid, dest: HostIdx, flavor: u32) -> bool {
    k.placement.move_allocations(id, *migration);
    let res = resources_of(&*k, flavor);
    if k.placement.claim_on_hosts(*id, project, user, &[dest], &res).is_ok() {
        return true;
    }
    k.placement.move_allocations(migration, *id);
    false
}

/// A resize the scheduler could not place: the server stays as it was, the action and a
/// fault record why, as Nova's conductor does.
fn resize_failed(k: &mut Cx, caller: &Caller, id: &Uuid, request_id: Uuid) {
    begin(k, caller, id, request_id, ActionKind::Resize, None, None);
    let now = k.now();
    let s = k.compute.servers.by_id.get_mut(id).expect("validated above");
    if let Some(a) = s.actions.last_mut() {
        super::push_compact(&mut a.events, ActionEvent { kind: EventKind::MigrateServer, start: now, finish: Some(now), ok: Some(false), host: None });
    }
    s.extras_mut().fault = Some(Fault { code: 500, message: create::NO_VALID_HOST.to_string(), created: now });
}

fn confirm_resize(k: &mut Cx, caller: &Caller, id: Uuid, request_id: Uuid) -> Result<()> {
    let s = super::find(&*k, caller, &id)?;
    check_lock(s, caller)?;
    check_state(s, "confirmResize", &[VmState::Resized], &[None], true)?;
    let m = s.extras().migration.clone().ok_or_else(|| Error::bad_request("compute.bad_request", format!("Instance {id} has no resize to confirm.")))?;
    begin(k, caller, &id, request_id, ActionKind::ConfirmResize, None, None);
    k.placement.free(&m.id);
    let now = k.now();
    let s = k.compute.servers.by_id.get_mut(&id).expect("validated above");
    s.vm_state = m.resume;
    s.extras_mut().migration = None;
    s.tidy();
    if let Some(a) = s.actions.last_mut() {
        super::push_compact(&mut a.events, ActionEvent { kind: EventKind::ConfirmResize, start: now, finish: Some(now), ok: Some(true), host: Some(m.source) });
    }
    if m.dest != m.source {
        k.outbox.effects.push(Effect::Destroy { server: id, host: m.source });
    }
    migrations::advance(k, &id, migrations::Status::Confirmed);
    Ok(())
}

fn revert_resize(k: &mut Cx, caller: &Caller, id: Uuid, request_id: Uuid) -> Result<()> {
    let s = super::find(&*k, caller, &id)?;
    check_lock(s, caller)?;
    check_state(s, "revertResize", &[VmState::Resized], &[None], true)?;
    let m = s.extras().migration.clone().ok_or_else(|| Error::bad_request("compute.bad_request", format!("Instance {id} has no resize to revert.")))?;
    let project = s.project;
    quotas::check(&*k, &project, &growth(&*k, m.new_flavor, m.old_flavor))?;
    let dur = k.policy().timing.resize;
    begin(
        k,
        caller,
        &id,
        request_id,
        ActionKind::RevertResize,
        Some(TaskState::ResizeReverting),
        Some((EventKind::RevertResize, dur, Step::Reverted, Work::RevertMigration { to: m.source })),
    );
    k.placement.free(&id);
    k.placement.move_allocations(&m.id, id);
    recount(k, &project, m.new_flavor, m.old_flavor);
    if let Some(mm) = k.compute.servers.by_id.get_mut(&id).and_then(|s| s.extras.as_deref_mut()).and_then(|x| x.migration.as_mut()) {
        mm.reverting = true;
    }
    migrations::advance(k, &id, migrations::Status::Reverting);
    Ok(())
}

/// Deletes a server: allowed in any state unless locked; the teardown takes modelled time
/// unless the server never reached a host.
pub fn delete(k: &mut Cx, caller: &Caller, id: Uuid, request_id: Uuid) -> Result<()> {
    let s = super::find_for_write(&*k, caller, &id, "servers:delete")?;
    check_lock(s, caller)?;
    if s.task_state == Some(TaskState::Deleting) {
        return Ok(());
    }
    if s.host.is_none() || k.compute.servers.down.contains_key(&id) {
        // Never placed, or its host is down: Nova deletes it locally, at once.
        destroy(k, &id);
        return Ok(());
    }
    let dur = k.policy().timing.delete;
    begin(k, caller, &id, request_id, ActionKind::Delete, Some(TaskState::Deleting), Some((EventKind::Terminate, dur, Step::Deleted, Work::Teardown)));
    Ok(())
}
