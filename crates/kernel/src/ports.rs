//! The borders between services: what a service's handlers may touch besides their own state.
//!
//! A handler borrows its own service's state mutably and reaches everything else through
//! ports that the kernel builds by splitting its own fields:
//! - [`crate::Reader`]: a read-only window on every service's state, for validation and
//!   views, lent by the kernel itself and by every service's context;
//! - [`Core`]: the clock, the policy in force, the RNG and the kernel's timers;
//! - a service's typed write ports into another, such as placement's [`crate::placement::Port`]
//!   (claim, move, keep, free), and the outbox for events and effects.
//!
//! Because a handler holds only these borrows, the borrow checker keeps the borders: compute
//! cannot write a placement field, identity cannot touch compute, and so on. Each service's
//! context (for example [`crate::compute::Cx`]) names the ports it is given.

use crate::rng::Rng;
use crate::timer::{TimerKey, TimerQueue};
use crate::topology::TopologySpec;
use crate::{Dur, Time, Timer};

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
