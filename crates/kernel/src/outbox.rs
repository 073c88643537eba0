//! What the kernel tells the outside world: events (facts, for metrics and logs) and effects
//! (work for real drivers). The shell drains the outbox after each command.

use serde::{Deserialize, Serialize};

use crate::ids::Uuid;
use crate::topology::HostIdx;

/// A fact about a state change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Event {
    /// A server was accepted and placed on a host.
    ServerPlaced {
        /// The server.
        server: Uuid,
        /// Where it went.
        host: HostIdx,
    },
    /// A server could not be placed.
    ServerRejected {
        /// The server.
        server: Uuid,
        /// Why, with its stable code (`compute.no_valid_host`).
        error: crate::Error,
    },
    /// A server finished building and is ACTIVE.
    ServerActive {
        /// The server.
        server: Uuid,
    },
    /// A server was deleted and its resources freed.
    ServerDeleted {
        /// The server.
        server: Uuid,
    },
    /// A failure domain's own state changed (see [`crate::health`]).
    HealthChanged {
        /// The component's kind.
        kind: crate::health::Kind,
        /// Its name.
        name: String,
        /// Its own state before.
        from: crate::health::State,
        /// Its new state.
        state: crate::health::State,
    },
    /// A host's effective state became down: it is out of the scheduler, its servers are lost.
    HostFailed {
        /// The host.
        host: HostIdx,
    },
    /// A host's effective state stopped being down.
    HostRecovered {
        /// The host.
        host: HostIdx,
    },
    /// A server lost its instance because its host failed.
    ServerLost {
        /// The server.
        server: Uuid,
        /// The failed host.
        host: HostIdx,
    },
    /// A lost server was rebuilt on another host (emitted when the rebuild starts).
    ServerEvacuated {
        /// The server.
        server: Uuid,
        /// The failed host.
        from: HostIdx,
        /// The new host.
        to: HostIdx,
    },
    /// An operation failed or was never observed: the server is in ERROR with a fault.
    ServerFailed {
        /// The server.
        server: Uuid,
        /// Why, with its stable code (`compute.driver_timeout`, `compute.driver_failed`).
        error: crate::Error,
    },
    /// A lost server runs again (rebuilt elsewhere or restarted on its recovered host).
    ServerRecovered {
        /// The server.
        server: Uuid,
        /// How long it was down.
        downtime: crate::time::Dur,
    },
}

/// Work for the data plane, handed to a [`crate::driver::Driver`] once durable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Effect {
    /// Run an operation; the kernel waits for its observation (see [`crate::driver`]).
    Run(crate::driver::Operation),
    /// Stop and remove an instance left behind on a host (a resize's other side, a deleted
    /// server's remains); nothing waits for it.
    Destroy {
        /// The server.
        server: Uuid,
        /// The host.
        host: HostIdx,
    },
}

/// Events and effects waiting for the shell.
#[derive(Clone, Debug, Default)]
pub struct Outbox {
    /// Facts, in order.
    pub events: Vec<Event>,
    /// Driver work, in order.
    pub effects: Vec<Effect>,
}

impl Outbox {
    /// Takes everything queued so far.
    pub fn drain(&mut self) -> Outbox {
        std::mem::take(self)
    }
}
