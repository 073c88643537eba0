//! Compute's side of the driver seam (see [`crate::driver`]): operations waiting for the
//! data plane, the observations that finish them, and the deadlines that fail them.
//!
//! An operation starts with [`await_driver`]: it is recorded as pending, handed out as an
//! [`Effect::Run`], and given a deadline of its modelled duration plus
//! `timing.driver_timeout`. [`observe`] finishes it when the driver reports it done, fails it
//! when the driver reports a failure; [`deadline`] fails it when nothing came. Each checks the
//! operation number, so stale, repeated and overtaken observations change nothing.

use serde::{Deserialize, Serialize};

use super::actions::{self, Step};
use super::{Fault, PowerState, VmState};
use crate::driver::{Observation, Operation, Work};
use crate::ids::Uuid;
use crate::time::Dur;
use crate::{Effect, Error, Event, Kernel};

/// An operation the kernel waits for, and what finishes it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Pending {
    /// What the driver was asked to do.
    pub operation: Operation,
    /// What its observation finishes.
    pub step: Step,
}

/// Starts operation `op` of placed server `id`: the driver is asked for `work`, which the model
/// says takes `model`; `step` finishes it.
pub(crate) fn await_driver(k: &mut Kernel, id: Uuid, op: u32, model: Dur, step: Step, work: Work) {
    let Some(host) = k.compute.servers.host_of(&id) else {
        debug_assert!(false, "operation {op} of server {id}, which has no host");
        return;
    };
    let operation = Operation { server: id, op, host, work, at: k.now(), model };
    k.compute.servers.pending.insert(id, Pending { operation: operation.clone(), step });
    let deadline = Dur(model.0.saturating_add(k.policy().timing.driver_timeout.0));
    k.schedule_timer(deadline, crate::Timer::Compute(crate::compute::Timer::Server(super::Timer { server: id, op })));
    k.outbox.effects.push(Effect::Run(operation));
}

/// Applies an observation. False if it changed nothing: stale, repeated, or about a server
/// that is gone.
pub fn observe(k: &mut Kernel, obs: Observation) -> bool {
    match obs {
        Observation::Done { server, op } => match take(k, &server, op) {
            Some(p) => {
                actions::finish(k, server, p.step);
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
pub(crate) fn deadline(k: &mut Kernel, server: Uuid, op: u32) {
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
fn take(k: &mut Kernel, server: &Uuid, op: u32) -> Option<Pending> {
    let current = k.compute.servers.get(server).is_some_and(|s| s.op == op);
    let waits = k.compute.servers.pending.get(server).is_some_and(|p| p.operation.op == op);
    if current && waits {
        k.compute.servers.pending.remove(server)
    } else {
        None
    }
}

/// A failed operation: the server goes to ERROR with `error` as its fault. A server being
/// brought back from a host failure is no longer waiting for it.
fn fail(k: &mut Kernel, id: &Uuid, p: &Pending, error: Error) {
    let now = k.now();
    let Some(s) = k.compute.servers.by_id.get_mut(id) else { return };
    actions::supersede(s, now);
    s.vm_state = VmState::Error;
    s.task_state = None;
    s.updated = now;
    s.extras_mut().fault = Some(Fault { code: 500, message: error.message.clone(), created: now });
    if matches!(p.step, Step::Recovered | Step::Evacuated) {
        k.compute.servers.down.remove(id);
        crate::compute::hosts::trim_allocations(k, id);
    }
    k.outbox.events.push(Event::ServerFailed { server: *id, error });
}

/// An instance stopped on its own: an ACTIVE server with nothing in flight becomes SHUTOFF.
fn died(k: &mut Kernel, id: &Uuid) -> bool {
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
        Work::Migrate { .. } => "migrate",
        Work::RevertMigration { .. } => "revert the migration of",
        Work::Teardown => "destroy",
    }
}
