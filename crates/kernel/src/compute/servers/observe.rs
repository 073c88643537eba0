//! How a server operation ends: compute's side of the driver seam (see [`crate::driver`]).
//!
//! An operation starts with `super::lifecycle::await_driver`: it is recorded as pending,
//! handed out as an [`crate::Effect::Run`], and given a deadline of its modelled duration plus
//! `timing.driver_timeout`. [`observe`] finishes it when the driver reports it done (each
//! [`Step`]'s completion is here: `finish`), fails it when the driver reports a failure;
//! `deadline` fails it when nothing came. Each checks the operation number, so stale,
//! repeated and overtaken observations change nothing.

use super::failover::{finish_evacuation, finish_recovery, landed, trim_allocations};
use super::lifecycle::{finish_event, supersede};
use super::model::{EventKind, Fault, Pending, PowerState, Step, VmState};
use crate::compute::Cx;
use crate::compute::{groups, migrations, quotas};
use crate::driver::{Observation, Work};
use crate::ids::Uuid;
use crate::time::Dur;
use crate::{Effect, Error, Event};

/// Applies an observation. False if it changed nothing: stale, repeated, or about a server
/// that is gone.
pub fn observe(k: &mut Cx, obs: Observation) -> bool {
    match obs {
        Observation::Done { server, op } => match take(k, &server, op) {
            Some(p) => {
                finish(k, server, p.step);
                true
            }
            None => false,
        },
        Observation::Failed { server, op, reason } => match take(k, &server, op) {
            Some(p) => {
                fail(k, &server, &p, Error::internal("compute.driver_failed", reason));
                true
            }
            None => false,
        },
        Observation::Died { server } => died(k, &server),
    }
}

/// Operation `op` of `server` reached its deadline: if it is still pending, it fails.
pub(crate) fn deadline(k: &mut Cx, server: Uuid, op: u32) {
    if let Some(p) = take(k, &server, op) {
        let waited = Dur(p.operation.model.0.saturating_add(k.policy().timing.driver_timeout.0));
        let host = k.topology.host(p.operation.host).name.clone();
        let msg = format!(
            "Timed out after {} s waiting for the driver to {} instance {server} on host {host}; set to error state.",
            waited.0 / 1_000_000,
            work_name(p.operation.work)
        );
        fail(k, &server, &p, Error::internal("compute.driver_timeout", msg));
    }
}

/// Removes and returns the pending operation `op` of `server`, if that is the one in flight.
fn take(k: &mut Cx, server: &Uuid, op: u32) -> Option<Pending> {
    let current = k.compute.servers.get(server).is_some_and(|s| s.op == op);
    let waits = k.compute.servers.pending.get(server).is_some_and(|p| p.operation.op == op);
    if current && waits {
        let p = k.compute.servers.pending.remove(server)?;
        k.cancel_timer(p.deadline);
        Some(p)
    } else {
        None
    }
}

/// A failed operation: the server goes to ERROR with `error` as its fault. A server being
/// brought back from a host failure is no longer waiting for it.
fn fail(k: &mut Cx, id: &Uuid, p: &Pending, error: Error) {
    let now = k.now();
    let Some(s) = k.compute.servers.by_id.get_mut(id) else { return };
    supersede(s, now);
    s.vm_state = VmState::Error;
    s.task_state = None;
    s.updated = now;
    s.extras_mut().fault = Some(Fault { code: 500, message: error.message.clone(), created: now });
    if matches!(p.step, Step::Recovered | Step::Evacuated) {
        k.compute.servers.down.remove(id);
        trim_allocations(k, id);
    }
    migrations::advance(k, id, migrations::Status::Error);
    k.outbox.events.push(Event::ServerFailed { server: *id, error });
}

/// An instance stopped on its own: an ACTIVE server with nothing in flight becomes SHUTOFF.
fn died(k: &mut Cx, id: &Uuid) -> bool {
    let now = k.now();
    let lost = k.compute.servers.down.contains_key(id);
    let Some(s) = k.compute.servers.by_id.get_mut(id) else { return false };
    if lost || s.task_state.is_some() || s.vm_state != VmState::Active {
        return false;
    }
    s.vm_state = VmState::Stopped;
    s.power_state = PowerState::Shutdown;
    s.updated = now;
    true
}

/// The verb for a fault message.
fn work_name(w: Work) -> &'static str {
    match w {
        Work::Spawn => "spawn",
        Work::Start | Work::Restart => "start",
        Work::Stop => "stop",
        Work::Reboot { .. } => "reboot",
        Work::Pause => "pause",
        Work::Unpause => "unpause",
        Work::Suspend => "suspend",
        Work::Resume => "resume",
        Work::Rebuild => "rebuild",
        Work::Rescue { .. } => "rescue",
        Work::Unrescue => "unrescue",
        Work::Migrate { .. } => "migrate",
        Work::RevertMigration { .. } => "revert the migration of",
        Work::Teardown => "destroy",
    }
}

/// Finishes an operation whose timer fired (the caller checked it is not stale).
pub(crate) fn finish(k: &mut Cx, id: Uuid, step: Step) {
    match step {
        Step::Built => {
            settle(k, &id, VmState::Active, PowerState::Running, EventKind::Build, true);
            k.outbox.events.push(Event::ServerActive { server: id });
        }
        Step::Settled { vm, power, event, relaunched } => settle(k, &id, vm, power, event, relaunched),
        Step::Resized => finish_resize(k, &id),
        Step::Reverted => finish_revert(k, &id),
        Step::Deleted => destroy(k, &id),
        Step::Recovered => finish_recovery(k, &id),
        Step::Evacuated => finish_evacuation(k, &id),
    }
}

fn settle(k: &mut Cx, id: &Uuid, vm: VmState, power: PowerState, event: EventKind, relaunched: bool) {
    let now = k.now();
    let Some(s) = k.compute.servers.by_id.get_mut(id) else { return };
    s.vm_state = vm;
    s.power_state = power;
    s.task_state = None;
    s.updated = now;
    if relaunched {
        s.launched_at = Some(now);
        s.progress = 100;
    }
    finish_event(s, event, now, true);
}

fn finish_resize(k: &mut Cx, id: &Uuid) {
    let now = k.now();
    let Some(s) = k.compute.servers.by_id.get_mut(id) else { return };
    let Some(m) = s.extras().migration.clone() else { return };
    s.flavor = m.new_flavor;
    s.vm_state = VmState::Resized;
    s.task_state = None;
    s.power_state = if m.resume == VmState::Stopped { PowerState::Shutdown } else { PowerState::Running };
    s.updated = now;
    s.progress = 100;
    finish_event(s, EventKind::Resize, now, true);
    k.compute.servers.set_host(id, Some(m.dest));
    if m.dest != m.source {
        k.outbox.events.push(Event::ServerPlaced { server: *id, host: m.dest });
    }
    migrations::advance(k, id, migrations::Status::Finished);
    landed(k, id);
}

fn finish_revert(k: &mut Cx, id: &Uuid) {
    let now = k.now();
    let Some(s) = k.compute.servers.by_id.get_mut(id) else { return };
    let Some(m) = s.extras.as_deref_mut().and_then(|x| x.migration.take()) else { return };
    s.tidy();
    s.flavor = m.old_flavor;
    s.vm_state = m.resume;
    s.task_state = None;
    s.power_state = if m.resume == VmState::Stopped { PowerState::Shutdown } else { PowerState::Running };
    s.updated = now;
    finish_event(s, EventKind::RevertResize, now, true);
    k.compute.servers.set_host(id, Some(m.source));
    if m.dest != m.source {
        k.outbox.effects.push(Effect::Destroy { server: *id, host: m.dest });
    }
    migrations::advance(k, id, migrations::Status::Reverted);
    landed(k, id);
}

/// Removes a server for good: frees its allocations (and a pending resize's), its quota
/// usage and its group membership.
pub(crate) fn destroy(k: &mut Cx, id: &Uuid) {
    let Some(s) = k.compute.servers.remove(id) else { return };
    migrations::forget(k, id);
    k.placement.free(id);
    if let Some(m) = &s.extras().migration {
        k.placement.free(&m.id);
    }
    let usage = super::usage_of(&k.compute.servers, s.counted_flavor());
    quotas::sub_usage(k, &s.project, &usage);
    if let Some(g) = s.extras().group {
        groups::remove_member(k, &g, id);
    }
    if let Some(h) = s.host {
        k.outbox.effects.push(Effect::Destroy { server: *id, host: h });
    }
    k.outbox.events.push(Event::ServerDeleted { server: *id });
}
