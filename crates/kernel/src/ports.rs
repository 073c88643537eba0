//! The borders between services: what a service's handlers may touch besides their own state.
//!
//! A handler borrows its own service's state mutably and reaches everything else through
//! ports that the kernel builds by splitting its own fields:
//! - [`Reader`]: a read-only window on every service's state, for validation and views;
//! - [`Core`]: the clock, the policy in force, the RNG and the kernel's timers;
//! - a service's typed write ports into another, such as placement's [`crate::placement::Port`]
//!   (claim, move, keep, free), and the outbox for events and effects.
//!
//! Because a handler holds only these borrows, the borrow checker keeps the borders: compute
//! cannot write a placement field, identity cannot touch compute, and so on. Each service's
//! context (for example [`crate::compute::Cx`]) names the ports it is given.

use crate::compute::Compute;
use crate::health::Health;
use crate::identity::Identity;
use crate::image::Images;
use crate::placement::Placement;
use crate::rng::Rng;
use crate::timer::{TimerKey, TimerQueue};
use crate::topology::{Topology, TopologySpec};
use crate::{Dur, Kernel, Time, Timer};

/// A read-only window on every service's state at one instant. Cheap to copy: it is only
/// references.
#[derive(Clone, Copy)]
pub struct Reader<'a> {
    /// The kernel's current time.
    pub now: Time,
    /// The policies and durations in force.
    pub spec: &'a TopologySpec,
    /// The physical model.
    pub topology: &'a Topology,
    /// Every failure domain's state.
    pub health: &'a Health,
    /// Identity state.
    pub identity: &'a Identity,
    /// Placement state.
    pub placement: &'a Placement,
    /// Compute state.
    pub compute: &'a Compute,
    /// The image catalog.
    pub images: &'a Images,
}

impl<'a> Reader<'a> {
    /// The kernel's current time.
    pub fn now(&self) -> Time {
        self.now
    }

    /// The policies and durations in force.
    pub fn policy(&self) -> &'a TopologySpec {
        self.spec
    }
}

/// Anything that can lend a [`Reader`] for `'a`: the kernel, a service's context, a reader.
pub trait Read<'a> {
    /// The read-only window.
    fn read(self) -> Reader<'a>;
}

impl<'a> Read<'a> for Reader<'a> {
    fn read(self) -> Reader<'a> {
        self
    }
}

impl<'a> Read<'a> for &'a Kernel {
    fn read(self) -> Reader<'a> {
        Reader {
            now: self.now,
            spec: self.policy(),
            topology: &self.topology,
            health: &self.health,
            identity: &self.identity,
            placement: &self.placement,
            compute: &self.compute,
            images: &self.images,
        }
    }
}

/// What every service may use: the clock, the policy, the RNG and the timers.
pub struct Core<'a> {
    now: Time,
    spec: &'a TopologySpec,
    rng: &'a mut Rng,
    timers: &'a mut TimerQueue<Timer>,
}

impl<'a> Core<'a> {
    /// A core over the kernel's own clock, policy, RNG and timers.
    pub(crate) fn new(now: Time, spec: &'a TopologySpec, rng: &'a mut Rng, timers: &'a mut TimerQueue<Timer>) -> Core<'a> {
        Core { now, spec, rng, timers }
    }

    /// The kernel's current time.
    pub fn now(&self) -> Time {
        self.now
    }

    /// The policies and durations in force.
    pub fn policy(&self) -> &'a TopologySpec {
        self.spec
    }

    /// The kernel's RNG, for ids and random choices made inside the kernel.
    pub fn rng(&mut self) -> &mut Rng {
        self.rng
    }

    /// Schedules `timer` to fire `after` from now.
    pub fn schedule(&mut self, after: Dur, timer: Timer) -> TimerKey {
        self.timers.schedule(self.now.plus(after), timer)
    }

    /// Cancels a timer that has not fired (nothing if it has).
    pub fn cancel(&mut self, key: TimerKey) {
        self.timers.cancel(key);
    }
}
