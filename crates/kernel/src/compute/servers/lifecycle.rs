//! How a server operation starts: the state and lock guards, the action record, and the
//! hand-off to the driver (`await_driver`) for work that needs the data plane. How it ends
//! is [`super::observe`]'s.

use super::model::{ActionEvent, ActionKind, ActionRecord, EventKind, Pending, Server, Step, TaskState, VmState};
use crate::compute::Cx;
use crate::driver::{Operation, Work};
use crate::ids::Uuid;
use crate::time::Dur;
use crate::{Caller, Effect, Error, Result};

/// Nova's 409 for an action in the wrong state.
pub(crate) fn invalid_state(action: &str, id: &Uuid, attr: &str, state: &str) -> Error {
    Error::conflict("compute.invalid_state", format!("Cannot '{action}' instance {id} while it is in {attr} {state}"))
}

/// Nova's `check_instance_state`: vm_state in `vm` (any if empty), task_state in `tasks`,
/// and, if `launched`, booted at least once.
pub(crate) fn check_state(s: &Server, action: &str, vm: &[VmState], tasks: &[Option<TaskState>], launched: bool) -> Result<()> {
    if !vm.is_empty() && !vm.contains(&s.vm_state) {
        return Err(invalid_state(action, &s.id, "vm_state", s.vm_state.name()));
    }
    if !tasks.contains(&s.task_state) {
        return Err(invalid_state(action, &s.id, "task_state", s.task_state.map_or("None", |t| t.name())));
    }
    if launched && s.launched_at.is_none() {
        return Err(invalid_state(action, &s.id, "launched_at", "None"));
    }
    Ok(())
}

/// Nova's `check_instance_lock`: a locked server refuses non-admins.
pub(crate) fn check_lock(s: &Server, caller: &Caller) -> Result<()> {
    if s.locked() && !caller.admin {
        return Err(Error::conflict("compute.locked", format!("Instance {} is locked", s.id)));
    }
    Ok(())
}

/// Starts an operation on a validated server: records the action, sets the task state and,
/// if the operation needs the data plane, bumps the operation number and waits for the driver.
#[allow(clippy::too_many_arguments)]
pub(crate) fn begin(
    k: &mut Cx,
    caller: &Caller,
    id: &Uuid,
    request_id: Uuid,
    kind: ActionKind,
    task: Option<TaskState>,
    timed: Option<(EventKind, Dur, Step, Work)>,
) {
    let now = k.now();
    let Some(s) = k.compute.servers.by_id.get_mut(id) else { return };
    let mut events = Vec::new();
    if let Some((event, ..)) = &timed {
        supersede(s, now);
        events.push(ActionEvent { kind: *event, start: now, finish: None, ok: None, host: s.host });
    }
    let project = caller.project.unwrap_or(s.project);
    super::model::push_compact(&mut s.actions, ActionRecord { kind, request_id, user: caller.user, project, start: now, updated: now, events });
    s.updated = now;
    if task.is_some() {
        s.task_state = task;
    }
    if let Some((_, dur, step, work)) = timed {
        s.op = s.op.wrapping_add(1);
        let op = s.op;
        await_driver(k, *id, op, dur, step, work);
    }
}

/// Marks the events of the operation a new one overtakes (its timer is now stale) as failed.
pub(crate) fn supersede(s: &mut Server, now: crate::Time) {
    let Some(a) = s.actions.iter_mut().rev().find(|a| !a.events.is_empty()) else { return };
    for e in a.events.iter_mut().filter(|e| e.finish.is_none()) {
        e.finish = Some(now);
        e.ok = Some(false);
        a.updated = now;
    }
}

/// Marks the newest unfinished event of `kind` finished.
pub(crate) fn finish_event(s: &mut Server, kind: EventKind, now: crate::Time, ok: bool) {
    for a in s.actions.iter_mut().rev() {
        if let Some(e) = a.events.iter_mut().rev().find(|e| e.kind == kind && e.finish.is_none()) {
            e.finish = Some(now);
            e.ok = Some(ok);
            a.updated = now;
            return;
        }
    }
}

/// Starts operation `op` of placed server `id`: the driver is asked for `work`, which the model
/// says takes `model`; `step` finishes it.
pub(crate) fn await_driver(k: &mut Cx, id: Uuid, op: u32, model: Dur, step: Step, work: Work) {
    let Some(host) = k.compute.servers.host_of(&id) else {
        debug_assert!(false, "operation {op} of server {id}, which has no host");
        return;
    };
    let operation = Operation { server: id, op, host, work, at: k.now(), model };
    let after = Dur(model.0.saturating_add(k.policy().timing.driver_timeout.0));
    let deadline = k.schedule_timer(after, crate::compute::Timer::Server(super::Timer { server: id, op }));
    if let Some(old) = k.compute.servers.pending.insert(id, Pending { operation: operation.clone(), step, deadline }) {
        k.cancel_timer(old.deadline);
    }
    k.outbox.effects.push(Effect::Run(operation));
}
