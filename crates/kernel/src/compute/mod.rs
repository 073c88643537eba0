//! Compute (Nova): flavors, keypairs, servers and their state machine, server groups, quotas,
//! and host failure and evacuation.
//!
//! Each sub-module owns one resource: its state types, its commands and its handlers.
//! [`Cmd`] and [`Reply`] nest the sub-modules' own enums.

pub mod aggregates;
pub mod diagnostics;
pub mod external;
pub mod flavors;
pub mod groups;
pub mod hosts;
pub mod keypairs;
pub mod migrations;
pub mod quotas;
pub mod servers;
pub mod usage;
pub mod views;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::health::Health;
use crate::identity::Identity;
use crate::ids::Uuid;
use crate::image::Images;
use crate::ports::Core;
use crate::rng::Rng;
use crate::scheduler::{self, NoValidHost};
use crate::timer::TimerKey;
use crate::topology::{HostIdx, Topology, TopologySpec};
use crate::{placement, Caller, Dur, Error, Outbox, Result, Time};
use crate::{Read, Reader};

/// Nova's 403 naming the policy `what` (`os_compute_api:{what}`) the caller lacks.
pub(crate) fn forbidden(what: &str) -> Error {
    Error::forbidden("compute.forbidden", format!("Policy doesn't allow os_compute_api:{what} to be performed."))
}

/// When the cloud was created: when `Init` made its built-in images. The topology's hosts booted
/// and its aggregates were made then.
pub fn cloud_created(images: &Images) -> Time {
    images.by_id.values().map(|i| i.created_at).min().unwrap_or_default()
}

/// What compute's handlers are given: compute's own state, mutably, and ports to the rest.
/// Other services' state is read-only here, except through placement's typed
/// [`placement::Port`] (claim, move, trim, free); compute's events and effects go to the
/// outbox, and its deadlines to the kernel's timers through [`Cx::schedule_timer`].
pub struct Cx<'a> {
    /// Compute's own state.
    pub compute: &'a mut Compute,
    /// Placement's write port.
    pub placement: placement::Port<'a>,
    /// The physical model.
    pub topology: &'a Topology,
    /// Every failure domain's state (health queries).
    pub health: &'a Health,
    /// Identity state (project and user lookups).
    pub identity: &'a Identity,
    /// The image catalog.
    pub images: &'a Images,
    /// The network service (read-only until compute plugs servers into networks).
    pub network: &'a crate::network::Networks,
    /// Where events and effects go.
    pub outbox: &'a mut Outbox,
    /// The clock, policy, RNG and timers.
    pub(crate) core: Core<'a>,
}

impl Cx<'_> {
    /// The kernel's current time.
    pub fn now(&self) -> Time {
        self.core.now()
    }

    /// The policies and durations in force.
    pub fn policy(&self) -> &TopologySpec {
        self.core.policy()
    }

    /// The kernel's RNG.
    pub fn rng(&mut self) -> &mut Rng {
        self.core.rng()
    }

    /// Schedules a compute timer `after` from now.
    pub fn schedule_timer(&mut self, after: Dur, timer: Timer) -> TimerKey {
        self.core.schedule(after, crate::Timer::Compute(timer))
    }

    /// Cancels a timer that has not fired.
    pub fn cancel_timer(&mut self, key: TimerKey) {
        self.core.cancel(key)
    }

    /// Runs the scheduler over placement's state with the policy in force.
    pub fn schedule(&mut self, req: &scheduler::Request<'_>) -> std::result::Result<HostIdx, NoValidHost> {
        let policy = &self.core.policy().scheduler;
        scheduler::select(self.topology, &self.compute.aggregates, &self.placement, policy, req, self.core.rng())
    }
}

impl<'a, 'b> Read<'a> for &'a Cx<'b> {
    fn read(self) -> Reader<'a> {
        Reader {
            now: self.core.now(),
            spec: self.core.policy(),
            topology: self.topology,
            health: self.health,
            identity: self.identity,
            placement: &self.placement,
            compute: self.compute,
            images: self.images,
            network: self.network,
        }
    }
}

/// Compute state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Compute {
    /// Flavors by id (Nova flavor ids are strings).
    pub flavors: BTreeMap<String, flavors::Flavor>,
    /// Keypairs by user, then name. (No tuple map keys anywhere: state must serialize to JSON.)
    pub keypairs: BTreeMap<Uuid, BTreeMap<String, keypairs::Keypair>>,
    /// Server groups by id.
    pub groups: BTreeMap<Uuid, groups::ServerGroup>,
    /// Quota limits and usage.
    pub quotas: quotas::Quotas,
    /// Servers and their indexes.
    pub servers: servers::Servers,
    /// Hosts whose `nova-compute` service an operator disabled, with the reason given (Nova's
    /// `os-services` status): the scheduler skips them. Every other compute host is enabled.
    #[serde(default)]
    pub disabled: BTreeMap<HostIdx, Option<String>>,
    /// Host aggregates: nothing (the topology's) until an admin first changes one.
    #[serde(default, skip_serializing_if = "aggregates::Aggregates::is_seed")]
    pub aggregates: aggregates::Aggregates,
    /// When hosts that recovered from a failure booted again.
    #[serde(default, skip_serializing_if = "hosts::Boots::is_empty")]
    pub boots: hosts::Boots,
    /// Resize and evacuation records (`os-migrations`), kept while their server exists.
    #[serde(default, skip_serializing_if = "migrations::Migrations::is_empty")]
    pub migrations: migrations::Migrations,
}

impl Compute {
    /// An empty compute service with Nova's default flavors.
    pub fn new() -> Compute {
        Compute { flavors: flavors::defaults(), ..Compute::default() }
    }

    /// Whether host `h`'s compute service is enabled (an operator has not disabled it).
    pub fn host_enabled(&self, h: HostIdx) -> bool {
        !self.disabled.contains_key(&h)
    }

    /// Why host `h`'s compute service was disabled, if it was and a reason was given.
    pub fn disabled_reason(&self, h: HostIdx) -> Option<&str> {
        self.disabled.get(&h).and_then(|r| r.as_deref())
    }
}

/// Compute commands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmd {
    /// Flavors and their extra specs and access lists.
    Flavor(flavors::Cmd),
    /// Keypairs.
    Keypair(keypairs::Cmd),
    /// Server groups.
    Group(groups::Cmd),
    /// Quotas.
    Quota(quotas::Cmd),
    /// Servers and server actions.
    Server(servers::Cmd),
    /// Host failure, recovery, maintenance and evacuation.
    Host(hosts::Cmd),
    /// Host aggregates (`os-aggregates`).
    Aggregate(aggregates::Cmd),
}

/// Compute replies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// From a flavor command.
    Flavor(flavors::Reply),
    /// From a keypair command.
    Keypair(keypairs::Reply),
    /// From a group command.
    Group(groups::Reply),
    /// From a quota command.
    Quota(quotas::Reply),
    /// From a server command.
    Server(servers::Reply),
    /// From a host command.
    Host(hosts::Reply),
    /// From an aggregate command.
    Aggregate(aggregates::Reply),
}

/// Compute timers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Timer {
    /// A server operation finishing.
    Server(servers::Timer),
}

/// Applies a compute command.
pub fn apply(k: &mut Cx, caller: &Caller, cmd: Cmd) -> Result<Reply> {
    match cmd {
        Cmd::Flavor(c) => flavors::apply(k, caller, c).map(Reply::Flavor),
        Cmd::Keypair(c) => keypairs::apply(k, caller, c).map(Reply::Keypair),
        Cmd::Group(c) => groups::apply(k, caller, c).map(Reply::Group),
        Cmd::Quota(c) => quotas::apply(k, caller, c).map(Reply::Quota),
        Cmd::Server(c) => servers::apply(k, caller, c).map(Reply::Server),
        Cmd::Host(c) => hosts::apply(k, caller, c).map(Reply::Host),
        Cmd::Aggregate(c) => aggregates::apply(k, caller, c).map(Reply::Aggregate),
    }
}

/// Fires a compute timer.
pub fn fire(k: &mut Cx, t: Timer) {
    match t {
        Timer::Server(t) => servers::fire(k, t),
    }
}
