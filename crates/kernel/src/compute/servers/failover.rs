//! What happens to servers when their host fails or comes back: they are lost (their
//! instance is gone, their state remembered), restarted on the recovered host, or rebuilt
//! elsewhere by an evacuation, whose start is [`crate::compute::hosts`]'s.

use super::lifecycle::{await_driver, finish_event, supersede};
use super::model::{Down, EventKind, Fault, PowerState, Step, TaskState, VmState};
use crate::compute::Cx;
use crate::ids::Uuid;
use crate::topology::HostIdx;
use crate::Event;
use crate::Read;

/// Whether host `h` is effectively down.
pub(crate) fn is_down<'k>(k: impl Read<'k>, h: HostIdx) -> bool {
    let k = k.read();
    !k.health.host_alive(k.topology, h)
}

/// Server `id` on failed host `h` loses its instance. False (and nothing changed) for a
/// server whose delete, resize or revert is in flight: that operation finishes on its own.
pub(crate) fn lose(k: &mut Cx, id: &Uuid, h: HostIdx) -> bool {
    let now = k.now();
    let name = k.topology.host(h).name.clone();
    let Some(s) = k.compute.servers.by_id.get_mut(id) else { return false };
    if matches!(s.task_state, Some(TaskState::Deleting | TaskState::ResizeMigrating | TaskState::ResizeReverting)) {
        return false;
    }
    supersede(s, now);
    s.op = s.op.wrapping_add(1);
    if let Some(p) = k.compute.servers.pending.remove(id) {
        k.cancel_timer(p.deadline);
    }
    let Some(s) = k.compute.servers.by_id.get_mut(id) else { return false };
    if s.vm_state == VmState::Building {
        s.vm_state = VmState::Error;
        s.extras_mut().fault = Some(Fault { code: 500, message: format!("Build of instance {id} aborted: compute host {name} went down."), created: now });
    }
    let record = Down { since: now, host: h, vm: s.vm_state, power: s.power_state };
    s.task_state = None;
    s.power_state = PowerState::NoState;
    s.updated = now;
    // Lost again while being brought back (its new host failed too): it now waits for h.
    k.compute.servers.down.entry(*id).and_modify(|d| d.host = h).or_insert(record);
    k.outbox.events.push(Event::ServerLost { server: *id, host: h });
    true
}

/// Called when a resize or revert moves a server: if it landed on a host that is down, it is
/// lost there.
pub(crate) fn landed(k: &mut Cx, id: &Uuid) {
    let Some(h) = k.compute.servers.host_of(id) else { return };
    if is_down(&*k, h) {
        lose(k, id, h);
    }
}

/// A down server on its recovered host: a guest that was running powers on after
/// `timing.start` (Nova's `resume_guests_state_on_host_boot`); any other is back at once.
pub(crate) fn restart(k: &mut Cx, id: &Uuid) {
    let Some(rec) = k.compute.servers.down.get(id) else { return };
    if !matches!(rec.power, PowerState::Running | PowerState::Paused) {
        finish_recovery(k, id);
        return;
    }
    let now = k.now();
    let dur = k.policy().timing.start;
    let Some(s) = k.compute.servers.by_id.get_mut(id) else { return };
    s.task_state = Some(TaskState::PoweringOn);
    s.op = s.op.wrapping_add(1);
    s.updated = now;
    let op = s.op;
    await_driver(k, *id, op, dur, Step::Recovered, crate::driver::Work::Restart);
}

/// A recovered server runs again as it did before its host failed.
pub(crate) fn finish_recovery(k: &mut Cx, id: &Uuid) {
    let now = k.now();
    let Some(rec) = k.compute.servers.down.remove(id) else { return };
    let Some(s) = k.compute.servers.by_id.get_mut(id) else { return };
    s.vm_state = rec.vm;
    s.power_state = rec.power;
    s.task_state = None;
    s.updated = now;
    trim_allocations(k, id);
    k.outbox.events.push(Event::ServerRecovered { server: *id, downtime: now.since(rec.since) });
}

/// Drops a server's allocations on every provider but its own host's.
pub(crate) fn trim_allocations(k: &mut Cx, id: &Uuid) {
    let Some(h) = k.compute.servers.host_of(id) else { return };
    k.placement.keep_only(id, h);
}

/// An evacuated server finished its rebuild on its new host: it runs again (or stays
/// stopped, if it was stopped), and its claim on the failed host is dropped.
pub(crate) fn finish_evacuation(k: &mut Cx, id: &Uuid) {
    let now = k.now();
    let Some(rec) = k.compute.servers.down.remove(id) else { return };
    let Some(s) = k.compute.servers.by_id.get_mut(id) else { return };
    let (vm, power) = if rec.vm == VmState::Stopped { (VmState::Stopped, PowerState::Shutdown) } else { (VmState::Active, PowerState::Running) };
    s.vm_state = vm;
    s.power_state = power;
    s.task_state = None;
    s.updated = now;
    s.launched_at = Some(now);
    s.progress = 100;
    finish_event(s, EventKind::Rebuild, now, true);
    trim_allocations(k, id);
    crate::compute::migrations::advance(k, id, crate::compute::migrations::Status::Done);
    k.outbox.events.push(Event::ServerRecovered { server: *id, downtime: now.since(rec.since) });
}
