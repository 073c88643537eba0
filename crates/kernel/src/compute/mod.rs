//! Compute (Nova): flavors, keypairs, servers and their state machine, server groups, quotas,
//! and host failure and evacuation.
//!
//! Each sub-module owns one resource: its state types, its commands and its handlers.
//! [`Cmd`] and [`Reply`] nest the sub-modules' own enums.

pub mod flavors;
pub mod groups;
pub mod hosts;
pub mod keypairs;
pub mod quotas;
pub mod servers;
pub mod views;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::Uuid;
use crate::{Caller, Error, Kernel, Result};

/// Nova's 403 naming the policy `what` (`os_compute_api:{what}`) the caller lacks.
pub(crate) fn forbidden(what: &str) -> Error {
    Error::forbidden("compute.forbidden", format!("Policy doesn't allow os_compute_api:{what} to be performed."))
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
}

impl Compute {
    /// An empty compute service with Nova's default flavors.
    pub fn new() -> Compute {
        Compute { flavors: flavors::defaults(), ..Compute::default() }
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
}

/// Compute timers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Timer {
    /// A server operation finishing.
    Server(servers::Timer),
}

/// Applies a compute command.
pub fn apply(k: &mut Kernel, caller: &Caller, cmd: Cmd) -> Result<Reply> {
    match cmd {
        Cmd::Flavor(c) => flavors::apply(k, caller, c).map(Reply::Flavor),
        Cmd::Keypair(c) => keypairs::apply(k, caller, c).map(Reply::Keypair),
        Cmd::Group(c) => groups::apply(k, caller, c).map(Reply::Group),
        Cmd::Quota(c) => quotas::apply(k, caller, c).map(Reply::Quota),
        Cmd::Server(c) => servers::apply(k, caller, c).map(Reply::Server),
        Cmd::Host(c) => hosts::apply(k, caller, c).map(Reply::Host),
    }
}

/// Fires a compute timer.
pub fn fire(k: &mut Kernel, t: Timer) {
    match t {
        Timer::Server(t) => servers::fire(k, t),
    }
}
