//! Read views of the network service, with Neutron's default read policy: a network is seen
//! by its project, by everyone when shared or external, and by admins; a subnet with its
//! network; a port by its project, by its network's project, and by admins.

use super::model::{Counts, Network, Networks, Port, Subnet};
use crate::ids::Uuid;
use crate::{Caller, Error, Kernel, Result};

/// Whether `caller` sees `net`.
pub fn network_visible(net: &Network, caller: &Caller) -> bool {
    caller.admin || net.shared || net.external || Some(net.project) == caller.project
}

/// Whether `caller` sees subnet `s` (through its network).
pub fn subnet_visible(n: &Networks, s: &Subnet, caller: &Caller) -> bool {
    caller.admin || Some(s.project) == caller.project || n.networks.get(&s.network()).is_some_and(|net| network_visible(net, caller))
}

/// Whether `caller` sees port `p`.
pub fn port_visible(n: &Networks, p: &Port, caller: &Caller) -> bool {
    caller.admin || Some(p.project) == caller.project || n.networks.get(&p.network).is_some_and(|net| Some(net.project) == caller.project)
}

fn readable(caller: &Caller) -> Result<()> {
    if caller.admin || caller.reader || caller.member {
        Ok(())
    } else {
        Err(Error::forbidden("network.policy_not_authorized", "(rule:get_network) is disallowed by policy".into()))
    }
}

/// Every network `caller` sees, in id order.
pub fn networks<'a>(k: &'a Kernel, caller: &'a Caller) -> Result<impl Iterator<Item = &'a Network> + 'a> {
    readable(caller)?;
    Ok(k.network.networks.values().filter(move |n| network_visible(n, caller)))
}

/// One network, or Neutron's 404.
pub fn network<'a>(k: &'a Kernel, caller: &Caller, id: Uuid) -> Result<&'a Network> {
    readable(caller)?;
    k.network
        .networks
        .get(&id)
        .filter(|n| network_visible(n, caller))
        .ok_or_else(|| Error::not_found("network.network_not_found", format!("Network {id} could not be found.")))
}

/// Every subnet `caller` sees, in id order.
pub fn subnets<'a>(k: &'a Kernel, caller: &'a Caller) -> Result<impl Iterator<Item = &'a Subnet> + 'a> {
    readable(caller)?;
    let n = &k.network;
    Ok(n.subnets.values().filter(move |s| subnet_visible(n, s, caller)))
}

/// One subnet, or Neutron's 404.
pub fn subnet<'a>(k: &'a Kernel, caller: &Caller, id: Uuid) -> Result<&'a Subnet> {
    readable(caller)?;
    let n = &k.network;
    n.subnets
        .get(&id)
        .filter(|s| subnet_visible(n, s, caller))
        .ok_or_else(|| Error::not_found("network.subnet_not_found", format!("Subnet {id} could not be found.")))
}

/// Every port `caller` sees, in id order; with `network`, only that network's (by index).
pub fn ports<'a>(k: &'a Kernel, caller: &'a Caller, network: Option<Uuid>) -> Result<Box<dyn Iterator<Item = &'a Port> + 'a>> {
    readable(caller)?;
    let n = &k.network;
    Ok(match network {
        Some(net) => Box::new(n.ports_of(net).filter(move |p| port_visible(n, p, caller))),
        None => Box::new(n.ports.values().filter(move |p| port_visible(n, p, caller))),
    })
}

/// One port, or Neutron's 404.
pub fn port<'a>(k: &'a Kernel, caller: &Caller, id: Uuid) -> Result<&'a Port> {
    readable(caller)?;
    let n = &k.network;
    n.ports.get(&id).filter(|p| port_visible(n, p, caller)).ok_or_else(|| Error::not_found("network.port_not_found", format!("Port {id} could not be found.")))
}

/// A project's quotas and what it holds: its own members and readers, or admins.
pub fn quota(k: &Kernel, caller: &Caller, project: Uuid) -> Result<(Counts, Counts)> {
    if !caller.admin && caller.project != Some(project) {
        return Err(Error::forbidden("network.policy_not_authorized", "(rule:get_quota) is disallowed by policy".into()));
    }
    readable(caller)?;
    Ok((k.network.quota(project), k.network.usage(project)))
}

/// The projects with quotas of their own (admins only), in id order.
pub fn quotas(k: &Kernel, caller: &Caller) -> Result<Vec<(Uuid, Counts)>> {
    if !caller.admin {
        return Err(Error::forbidden("network.policy_not_authorized", "(rule:get_quota) is disallowed by policy".into()));
    }
    Ok(k.network.quotas.iter().map(|(p, q)| (*p, *q)).collect())
}
