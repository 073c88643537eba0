//! The driver seam: how the kernel's decisions reach a data plane and how the data plane's
//! facts come back.
//!
//! An operation that needs the data plane (spawn an instance, stop it, tear it down…) is an
//! [`Effect::Run`] carrying an [`Operation`]. The kernel then waits: the
//! operation finishes only when a [`Command::Observe`] brings its
//! [`Observation`] back, or fails when none arrived within the modelled duration plus
//! `timing.driver_timeout` (the server goes to ERROR with a fault; nothing stays in BUILD).
//! Observations name the operation number they answer, so a late, repeated or overtaken one
//! is recognised as stale and changes nothing.
//!
//! A shell hands effects to a [`Driver`] only after the commands that made them are durable,
//! and applies what the driver observes as journaled commands. [`Modelled`] is the driver of
//! the simulator and of `orrery up` today: every operation succeeds after its modelled
//! duration. It is pure, so it lives here, next to the model it serves.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use serde::{Deserialize, Serialize};

use crate::ids::Uuid;
use crate::time::{Dur, Time};
use crate::topology::HostIdx;
use crate::{Auth, Command, Effect, Kernel, Request};

/// What the data plane is asked to do to an instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Work {
    /// Create and boot the instance on the operation's host (a build, or an evacuation's
    /// rebuild on a new host).
    Spawn,
    /// Power a stopped instance on.
    Start,
    /// Shut the instance down cleanly.
    Stop,
    /// Reboot it, soft or hard.
    Reboot {
        /// A hard (power-cycle) reboot.
        hard: bool,
    },
    /// Pause it in memory.
    Pause,
    /// Unpause it.
    Unpause,
    /// Suspend it to disk.
    Suspend,
    /// Resume a suspended instance.
    Resume,
    /// Re-create its disk from a new image and boot it.
    Rebuild,
    /// Reboot it from a rescue image (`None`: the server's own image), its own disk attached
    /// as a second disk.
    Rescue {
        /// The rescue image.
        image: Option<Uuid>,
    },
    /// Reboot it back from its own disk.
    Unrescue,
    /// Cold-migrate it to `to` with a new flavor (a resize).
    Migrate {
        /// The destination host.
        to: HostIdx,
    },
    /// Bring a resized instance back from the operation's host to `to`, where it came from.
    RevertMigration {
        /// The host the resize had moved it from.
        to: HostIdx,
    },
    /// Destroy the instance and its disks.
    Teardown,
    /// Power on an instance whose host came back (Nova's resume of guests on host boot).
    Restart,
}

/// One operation the kernel waits to observe.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Operation {
    /// The server.
    pub server: Uuid,
    /// The server's operation number; the observation must name it.
    pub op: u32,
    /// The host it runs on.
    pub host: HostIdx,
    /// What to do.
    pub work: Work,
    /// When the kernel asked.
    pub at: Time,
    /// How long the model says it takes.
    pub model: Dur,
}

impl Operation {
    /// When the model says it is done.
    pub fn due(&self) -> Time {
        self.at.plus(self.model)
    }
}

/// A fact the data plane reports, applied through `Command::Observe` by the kernel's own
/// shell (`Auth::System`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Observation {
    /// Operation `op` of `server` finished: the instance spawned, stopped, was torn down…
    Done {
        /// The server.
        server: Uuid,
        /// The operation it answers.
        op: u32,
    },
    /// Operation `op` of `server` failed; the server goes to ERROR with `reason` as its fault.
    Failed {
        /// The server.
        server: Uuid,
        /// The operation it answers.
        op: u32,
        /// What went wrong, for the fault.
        reason: String,
    },
    /// The instance stopped on its own (crashed or was shut down from inside): an ACTIVE
    /// server with no task in flight becomes SHUTOFF, as Nova's power-state sync does.
    Died {
        /// The server.
        server: Uuid,
    },
}

impl Observation {
    /// The server it is about.
    pub fn server(&self) -> Uuid {
        match self {
            Observation::Done { server, .. } | Observation::Failed { server, .. } | Observation::Died { server } => *server,
        }
    }
}

/// A data plane as a shell sees it.
pub trait Driver: Send {
    /// Takes the effects of commands that are durable now, at kernel time `now`.
    fn submit(&mut self, now: Time, effects: Vec<Effect>);
    /// The earliest kernel time an observation is due, if the driver knows it.
    fn next_due(&self) -> Option<Time>;
    /// Removes and returns the observations due at or before `now`, each with its time, in
    /// time order.
    fn poll(&mut self, now: Time) -> Vec<(Time, Observation)>;
}

/// The modelled data plane: every operation succeeds after its modelled duration, in
/// (due time, submission order). Fire-and-forget effects (`Destroy`) need no answer.
#[derive(Debug, Default)]
pub struct Modelled {
    due: BinaryHeap<Reverse<(Time, u64, Uuid, u32)>>,
    seq: u64,
}

impl Modelled {
    /// A driver with nothing in flight.
    pub fn new() -> Modelled {
        Modelled::default()
    }
    /// A driver that takes over every operation `k` has in flight: what a shell starts with
    /// after loading a snapshot and replaying its journal, since effects are not state.
    pub fn resuming(k: &Kernel) -> Modelled {
        let mut d = Modelled::new();
        d.submit(k.now(), k.in_flight().cloned().map(Effect::Run).collect());
        d
    }
    /// Operations in flight.
    pub fn len(&self) -> usize {
        self.due.len()
    }
    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.due.is_empty()
    }
}

impl Driver for Modelled {
    fn submit(&mut self, _now: Time, effects: Vec<Effect>) {
        for e in effects {
            if let Effect::Run(op) = e {
                self.seq += 1;
                self.due.push(Reverse((op.due(), self.seq, op.server, op.op)));
            }
        }
    }
    fn next_due(&self) -> Option<Time> {
        self.due.peek().map(|Reverse((t, ..))| *t)
    }
    fn poll(&mut self, now: Time) -> Vec<(Time, Observation)> {
        let mut out = Vec::new();
        while let Some(&Reverse((t, _, server, op))) = self.due.peek() {
            if t > now {
                break;
            }
            self.due.pop();
            out.push((t, Observation::Done { server, op }));
        }
        out
    }
}

/// Applies a driver's observation to `k` at `at`, as the kernel's own shell.
pub fn observe(k: &mut Kernel, at: Time, obs: Observation) -> crate::Result<crate::Reply> {
    k.apply(at, Request { auth: Auth::System, command: Command::Observe(obs) })
}

/// Runs `k` to `to` with driver `d` and no other input: hands `d` the effects in the outbox,
/// applies its observations at their own times and fires timers in between. Events stay in
/// the outbox. For tools and tests; a shell that also journals does the same loop itself.
pub fn run_until(k: &mut Kernel, d: &mut dyn Driver, to: Time) {
    loop {
        d.submit(k.now(), std::mem::take(&mut k.outbox.effects));
        let Some(t) = d.next_due().filter(|&t| t <= to) else {
            k.advance(to);
            if k.outbox.effects.is_empty() {
                return;
            }
            continue;
        };
        for (at, obs) in d.poll(t) {
            // Only an uninitialised kernel refuses its own shell; there is nothing to finish then.
            let _ = observe(k, at, obs);
        }
    }
}

/// [`run_until`] with a fresh [`Modelled`] driver that takes over what `k` has in flight (the
/// outbox's `Run` effects are those same operations, so they are dropped, not doubled).
pub fn run_modelled(k: &mut Kernel, to: Time) {
    k.outbox.effects.retain(|e| !matches!(e, Effect::Run(_)));
    let mut d = Modelled::resuming(k);
    run_until(k, &mut d, to);
}

/// A driver that sees nothing and answers nothing: for shells that replay a journal which
/// already holds the observations.
#[derive(Debug, Default)]
pub struct Silent;

impl Driver for Silent {
    fn submit(&mut self, _now: Time, _effects: Vec<Effect>) {}
    fn next_due(&self) -> Option<Time> {
        None
    }
    fn poll(&mut self, _now: Time) -> Vec<(Time, Observation)> {
        Vec::new()
    }
}

/// How an [`Unreliable`] driver misbehaves, in parts per thousand of operations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Misbehaviour {
    /// Operations whose observation never comes.
    pub drop: u64,
    /// Operations observed twice.
    pub duplicate: u64,
    /// Operations that fail instead of finishing.
    pub fail: u64,
    /// Most extra delay past the modelled duration; each observation draws its own, so
    /// observations overtake each other.
    pub max_delay: Dur,
}

/// What an [`Unreliable`] driver did, for tests to check against the kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Operations submitted.
    pub submitted: u64,
    /// Observations dropped.
    pub dropped: u64,
    /// Observations sent twice.
    pub duplicated: u64,
    /// Failures reported.
    pub failed: u64,
}

/// A seeded test driver that delays, reorders, duplicates, fails and drops observations, to
/// show the kernel copes: stale ones change nothing, lost ones time out into ERROR.
#[derive(Debug)]
pub struct Unreliable {
    how: Misbehaviour,
    rng: crate::rng::Rng,
    due: std::collections::BTreeMap<(Time, u64), Observation>,
    seq: u64,
    /// What it did so far.
    pub tally: Tally,
}

impl Unreliable {
    /// A driver misbehaving as `how`, its choices drawn from `seed`.
    pub fn new(seed: u64, how: Misbehaviour) -> Unreliable {
        Unreliable { how, rng: crate::rng::Rng::new(seed), due: Default::default(), seq: 0, tally: Tally::default() }
    }

    fn chance(&mut self, per_mille: u64) -> bool {
        per_mille > 0 && self.rng.below(1000) < per_mille
    }

    fn at(&mut self, op: &Operation) -> Time {
        let extra = if self.how.max_delay.0 == 0 { 0 } else { self.rng.below(self.how.max_delay.0 + 1) };
        op.due().plus(Dur(extra))
    }

    fn push(&mut self, at: Time, obs: Observation) {
        self.seq += 1;
        self.due.insert((at, self.seq), obs);
    }
}

impl Driver for Unreliable {
    fn submit(&mut self, _now: Time, effects: Vec<Effect>) {
        for e in effects {
            let Effect::Run(op) = e else { continue };
            self.tally.submitted += 1;
            if self.chance(self.how.drop) {
                self.tally.dropped += 1;
                continue;
            }
            let obs = if self.chance(self.how.fail) {
                self.tally.failed += 1;
                Observation::Failed { server: op.server, op: op.op, reason: format!("injected failure of operation {}", op.op) }
            } else {
                Observation::Done { server: op.server, op: op.op }
            };
            if self.chance(self.how.duplicate) {
                self.tally.duplicated += 1;
                let at = self.at(&op);
                self.push(at, obs.clone());
            }
            let at = self.at(&op);
            self.push(at, obs);
        }
    }
    fn next_due(&self) -> Option<Time> {
        self.due.first_key_value().map(|(&(t, _), _)| t)
    }
    fn poll(&mut self, now: Time) -> Vec<(Time, Observation)> {
        let mut out = Vec::new();
        while let Some(e) = self.due.first_entry() {
            if e.key().0 > now {
                break;
            }
            let ((t, _), obs) = e.remove_entry();
            out.push((t, obs));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(server: u128, op: u32, at: u64, model: u64) -> Effect {
        Effect::Run(Operation { server: Uuid(server), op, host: 0, work: Work::Spawn, at: Time(at), model: Dur(model) })
    }

    #[test]
    fn modelled_answers_each_operation_at_its_due_time_in_order() {
        let mut d = Modelled::new();
        d.submit(Time(0), vec![run(1, 1, 0, 50), run(2, 1, 0, 10), Effect::Destroy { server: Uuid(3), host: 0 }, run(3, 4, 0, 10)]);
        assert_eq!((d.len(), d.next_due()), (3, Some(Time(10))));
        assert!(d.poll(Time(9)).is_empty());
        let got = d.poll(Time(10));
        assert_eq!(got, vec![(Time(10), Observation::Done { server: Uuid(2), op: 1 }), (Time(10), Observation::Done { server: Uuid(3), op: 4 })]);
        assert_eq!(d.poll(Time(100)), vec![(Time(50), Observation::Done { server: Uuid(1), op: 1 })]);
        assert!(d.is_empty() && d.next_due().is_none());
    }
}
