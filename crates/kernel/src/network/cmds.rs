//! Network commands (Neutron v2.0): create, update and delete networks, subnets and ports.
//!
//! The rules are Neutron's default policy: project members create networks, subnets and ports
//! in their project; only admins create shared, external or provider networks, create anything
//! for another project, or bind ports to hosts. Subnets go on networks the caller owns (admins:
//! any). Ports go on networks the caller owns or that are shared. Every check runs before any
//! change, so a refused command changes nothing.

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::cidr::{invalid_input, Cidr, IpRange, IpVersion};
use super::ipam::{Gateway, IntervalSet, SubnetIpam};
use super::model::{
    parse_mac, Counted, Counts, FixedIp, HostRoute, Network, Networks, Port, Segment, SegmentKind, Subnet, BASE_MAC, PHYSNET_MTU, TENANT_VNIS, VXLAN_OVERHEAD,
};
use super::views::{network_visible, port_visible};
use crate::ids::Uuid;
use crate::ports::Core;
use crate::{Caller, Error, Result};

/// Most DNS servers a subnet hands out (Neutron's `max_dns_nameservers`).
pub const MAX_DNS: usize = 5;
/// Most host routes per subnet (Neutron's `max_subnet_host_routes`).
pub const MAX_ROUTES: usize = 20;
/// Most fixed IPs per port (Neutron's `max_fixed_ips_per_port`).
pub const MAX_FIXED_IPS: usize = 5;

/// A new network, as the API parsed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewNetwork {
    /// Name.
    pub name: String,
    /// Owner, for admins creating in another project; else the caller's.
    pub project: Option<Uuid>,
    /// Description.
    pub description: String,
    /// `shared` (admins only).
    pub shared: bool,
    /// `router:external` (admins only).
    pub external: bool,
    /// `admin_state_up`.
    pub admin_state_up: bool,
    /// `mtu`; defaults to the most the segment carries.
    pub mtu: Option<u32>,
    /// `provider:*` (admins only); default a tenant VXLAN.
    pub segment: Option<Segment>,
    /// `port_security_enabled`.
    pub port_security: bool,
}

impl Default for NewNetwork {
    fn default() -> Self {
        NewNetwork {
            name: String::new(),
            project: None,
            description: String::new(),
            shared: false,
            external: false,
            admin_state_up: true,
            mtu: None,
            segment: None,
            port_security: true,
        }
    }
}

/// What a network update changes; `None` leaves a field alone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkChange {
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// `shared` (admins only).
    pub shared: Option<bool>,
    /// `router:external` (admins only).
    pub external: Option<bool>,
    /// `admin_state_up`.
    pub admin_state_up: Option<bool>,
    /// `mtu`.
    pub mtu: Option<u32>,
    /// `port_security_enabled`.
    pub port_security: Option<bool>,
}

/// A new subnet, as the API parsed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewSubnet {
    /// Its network.
    pub network: Uuid,
    /// Owner, for admins; else the caller's.
    pub project: Option<Uuid>,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// `ip_version`.
    pub version: IpVersion,
    /// `cidr`.
    pub cidr: Cidr,
    /// `gateway_ip`: left out, null, or an address.
    pub gateway: Gateway,
    /// `allocation_pools`; None for Neutron's default pools.
    pub pools: Option<Vec<IpRange>>,
    /// `enable_dhcp`.
    pub enable_dhcp: bool,
    /// `dns_nameservers`.
    pub dns_nameservers: Vec<IpAddr>,
    /// `host_routes`.
    pub host_routes: Vec<HostRoute>,
}

/// What a subnet update changes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetChange {
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// `enable_dhcp`.
    pub enable_dhcp: Option<bool>,
    /// `dns_nameservers`.
    pub dns_nameservers: Option<Vec<IpAddr>>,
    /// `host_routes`.
    pub host_routes: Option<Vec<HostRoute>>,
}

/// One requested fixed IP: a subnet, an address, or both.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpRequest {
    /// `subnet_id`.
    pub subnet: Option<Uuid>,
    /// `ip_address`.
    pub ip: Option<IpAddr>,
}

/// A new port, as the API parsed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPort {
    /// Its network.
    pub network: Uuid,
    /// Owner, for admins; else the caller's.
    pub project: Option<Uuid>,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// `mac_address`; else one is drawn.
    pub mac: Option<u64>,
    /// `fixed_ips`; None for one address of each IP version the network has subnets of.
    pub fixed_ips: Option<Vec<IpRequest>>,
    /// `device_id`.
    pub device_id: String,
    /// `device_owner`.
    pub device_owner: String,
    /// `admin_state_up`.
    pub admin_state_up: bool,
    /// `port_security_enabled`; else the network's.
    pub port_security: Option<bool>,
    /// `binding:host_id` (admins only).
    pub host: String,
}

/// What a port update changes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortChange {
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// `fixed_ips`: the whole new list.
    pub fixed_ips: Option<Vec<IpRequest>>,
    /// `device_id`.
    pub device_id: Option<String>,
    /// `device_owner`.
    pub device_owner: Option<String>,
    /// `admin_state_up`.
    pub admin_state_up: Option<bool>,
    /// `port_security_enabled`.
    pub port_security: Option<bool>,
    /// `binding:host_id` (admins only).
    pub host: Option<String>,
}

/// Network commands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmd {
    /// Creates a network.
    CreateNetwork(Box<NewNetwork>),
    /// Changes a network.
    UpdateNetwork {
        /// The network.
        id: Uuid,
        /// What changes.
        change: NetworkChange,
    },
    /// Deletes a network and its subnets; refused while ports use it.
    DeleteNetwork {
        /// The network.
        id: Uuid,
    },
    /// Creates a subnet.
    CreateSubnet(Box<NewSubnet>),
    /// Changes a subnet.
    UpdateSubnet {
        /// The subnet.
        id: Uuid,
        /// What changes.
        change: SubnetChange,
    },
    /// Deletes a subnet; refused while ports hold its addresses.
    DeleteSubnet {
        /// The subnet.
        id: Uuid,
    },
    /// Creates a port.
    CreatePort(Box<NewPort>),
    /// Changes a port.
    UpdatePort {
        /// The port.
        id: Uuid,
        /// What changes.
        change: Box<PortChange>,
    },
    /// Deletes a port, releasing its addresses.
    DeletePort {
        /// The port.
        id: Uuid,
    },
    /// Sets some of a project's quotas (admins only); -1 is unlimited.
    SetQuota {
        /// The project.
        project: Uuid,
        /// The limits to set; `None` keeps the current one.
        network: Option<i64>,
        /// Subnets.
        subnet: Option<i64>,
        /// Ports.
        port: Option<i64>,
    },
    /// Returns a project to the default quotas (admins only).
    ResetQuota {
        /// The project.
        project: Uuid,
    },
}

/// Network replies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// A network as it is now.
    Network(Box<Network>),
    /// A subnet as it is now.
    Subnet(Box<Subnet>),
    /// A port as it is now.
    Port(Box<Port>),
    /// A project's quotas as they are now.
    Quota(Counts),
}

/// Applies a network command.
pub fn apply(n: &mut Networks, core: &mut Core, caller: &Caller, cmd: Cmd) -> Result<Option<Reply>> {
    match cmd {
        Cmd::CreateNetwork(spec) => create_network(n, core, caller, *spec).map(|x| Some(Reply::Network(Box::new(x)))),
        Cmd::UpdateNetwork { id, change } => update_network(n, core, caller, id, change).map(|x| Some(Reply::Network(Box::new(x)))),
        Cmd::DeleteNetwork { id } => delete_network(n, caller, id).map(|()| None),
        Cmd::CreateSubnet(spec) => create_subnet(n, core, caller, *spec).map(|x| Some(Reply::Subnet(Box::new(x)))),
        Cmd::UpdateSubnet { id, change } => update_subnet(n, core, caller, id, change).map(|x| Some(Reply::Subnet(Box::new(x)))),
        Cmd::DeleteSubnet { id } => delete_subnet(n, caller, id).map(|()| None),
        Cmd::CreatePort(spec) => create_port(n, core, caller, *spec).map(|x| Some(Reply::Port(Box::new(x)))),
        Cmd::UpdatePort { id, change } => update_port(n, core, caller, id, *change).map(|x| Some(Reply::Port(Box::new(x)))),
        Cmd::DeletePort { id } => delete_port(n, caller, id).map(|()| None),
        Cmd::SetQuota { project, network, subnet, port } => set_quota(n, caller, project, [network, subnet, port]).map(|q| Some(Reply::Quota(q))),
        Cmd::ResetQuota { project } => {
            if !caller.admin {
                return Err(policy("rule:delete_quota"));
            }
            n.quotas.remove(&project);
            Ok(None)
        }
    }
}

/// Neutron's policy refusal: "(rule:{rule}) is disallowed by policy".
fn policy(rule: &str) -> Error {
    Error::forbidden("network.policy_not_authorized", format!("({rule}) is disallowed by policy"))
}

fn not_found(kind: &str, code: &'static str, id: Uuid) -> Error {
    Error::not_found(code, format!("{kind} {id} could not be found."))
}

/// The project a create is for: the caller's, or (admins only) the one named.
fn owner(caller: &Caller, asked: Option<Uuid>, rule: &str) -> Result<Uuid> {
    if !caller.admin && !caller.member {
        return Err(policy(rule));
    }
    match (asked, caller.project) {
        (Some(p), Some(mine)) if p == mine => Ok(p),
        (Some(p), _) if caller.admin => Ok(p),
        (Some(_), _) => Err(policy(&format!("{rule}:tenant_id"))),
        (None, Some(mine)) => Ok(mine),
        (None, None) => Err(invalid_input("A project-scoped token or a project_id is needed")),
    }
}

fn over_quota(resource: &str) -> Error {
    Error::over_quota("network.over_quota", format!("Quota exceeded for resources: ['{resource}']."))
}

/// A writable network: visible to `caller`, and owned by it unless it is an admin.
fn owned_network<'a>(n: &'a Networks, caller: &Caller, id: Uuid, rule: &str) -> Result<&'a Network> {
    let net = n.networks.get(&id).filter(|x| network_visible(x, caller)).ok_or_else(|| not_found("Network", "network.network_not_found", id))?;
    if !caller.admin && (Some(net.project) != caller.project || !caller.member) {
        return Err(policy(rule));
    }
    Ok(net)
}

fn create_network(n: &mut Networks, core: &mut Core, caller: &Caller, spec: NewNetwork) -> Result<Network> {
    let project = owner(caller, spec.project, "rule:create_network")?;
    for (given, attr) in [(spec.shared, "shared"), (spec.external, "router:external"), (spec.segment.is_some(), "provider:network_type")] {
        if given && !caller.admin {
            return Err(policy(&format!("rule:create_network:{attr}")));
        }
    }
    if !n.has_room(project, Counted::Network) {
        return Err(over_quota("network"));
    }
    let segment = match spec.segment.clone() {
        Some(s) => check_provider(n, s)?,
        None => Segment { kind: SegmentKind::Vxlan, physical_network: None, id: None },
    };
    let max_mtu = if segment.kind == SegmentKind::Vxlan { PHYSNET_MTU - VXLAN_OVERHEAD } else { PHYSNET_MTU };
    let mtu = spec.mtu.unwrap_or(max_mtu);
    if mtu > max_mtu || mtu < MIN_MTU {
        return Err(mtu_error(mtu, max_mtu));
    }
    let segment = take_segment(n, segment)?;
    let now = core.now();
    let net = Network {
        id: core.rng().uuid(),
        name: spec.name,
        project,
        description: spec.description,
        shared: spec.shared,
        external: spec.external,
        admin_state_up: spec.admin_state_up,
        mtu,
        segment,
        port_security: spec.port_security,
        subnets: Vec::new(),
        created: now,
        updated: now,
        revision: 1,
    };
    n.count(project, Counted::Network, 1);
    n.networks.insert(net.id, net.clone());
    Ok(net)
}

/// The smallest MTU an IPv4 network may have (RFC 791).
const MIN_MTU: u32 = 68;

/// Neutron's `InvalidInput` for an MTU the segment cannot carry, or one below IPv4's minimum.
fn mtu_error(mtu: u32, max_mtu: u32) -> Error {
    if mtu < MIN_MTU {
        invalid_input(&format!("Requested MTU {mtu} is too small, minimum is {MIN_MTU}"))
    } else {
        invalid_input(&format!("Requested MTU is too big, maximum is {max_mtu}"))
    }
}

/// Validates a provider segment as Neutron's type drivers do.
fn check_provider(n: &Networks, s: Segment) -> Result<Segment> {
    let bad = |m: &str| invalid_input(m);
    match s.kind {
        SegmentKind::Flat => {
            if s.id.is_some() {
                return Err(bad("segmentation_id requires physical_network for flat provider network"));
            }
            let phys = s.physical_network.as_deref().ok_or_else(|| bad("physical_network required for flat provider network"))?;
            if n.physical_segments.contains(&(phys.to_string(), 0)) {
                return Err(Error::conflict("network.flat_network_in_use", format!("Unable to create the flat network. Physical network {phys} is in use.")));
            }
        }
        SegmentKind::Vlan => {
            let phys = s.physical_network.as_deref().ok_or_else(|| bad("physical_network required for VLAN provider network"))?;
            let id = s.id.ok_or_else(|| bad("segmentation_id required for VLAN provider network"))?;
            if !(1..=4094).contains(&id) {
                return Err(bad("segmentation_id out of range (1 through 4094)"));
            }
            if n.physical_segments.contains(&(phys.to_string(), id)) {
                return Err(Error::conflict(
                    "network.vlan_id_in_use",
                    format!("Unable to create the network. The VLAN {id} on physical network {phys} is in use."),
                ));
            }
        }
        SegmentKind::Vxlan => {
            if s.physical_network.is_some() {
                return Err(bad("provider:physical_network specified for vxlan network"));
            }
            if let Some(id) = s.id {
                if !(1..=super::model::VNI_MAX).contains(&id) {
                    return Err(bad(&format!("segmentation_id out of range (1 through {})", super::model::VNI_MAX)));
                }
                let in_tenant_range = (TENANT_VNIS.0..=TENANT_VNIS.1).contains(&id);
                let free = n.free_vnis.as_ref().is_none_or(|f| f.contains(u128::from(id)));
                if in_tenant_range && !free {
                    return Err(Error::conflict("network.tunnel_id_in_use", format!("Unable to create the network. The tunnel ID {id} is in use.")));
                }
            }
        }
    }
    Ok(s)
}

/// Reserves `s`'s segment id: the next free tenant VXLAN id when none is given.
fn take_segment(n: &mut Networks, mut s: Segment) -> Result<Segment> {
    match s.kind {
        SegmentKind::Vxlan => {
            let free = n.free_vnis.get_or_insert_with(|| {
                let mut f = IntervalSet::new();
                f.insert_range(u128::from(TENANT_VNIS.0), u128::from(TENANT_VNIS.1));
                f
            });
            match s.id {
                Some(id) => {
                    free.take(u128::from(id));
                }
                None => {
                    let id = free.take_first().ok_or_else(|| {
                        Error::conflict("network.no_network_available", "Unable to create the network. No tenant network is available for allocation.".into())
                    })?;
                    s.id = Some(id as u32);
                }
            }
        }
        SegmentKind::Vlan | SegmentKind::Flat => {
            let phys = s.physical_network.clone().unwrap_or_default();
            n.physical_segments.insert((phys, s.id.unwrap_or(0)));
        }
    }
    Ok(s)
}

/// Gives a deleted network's segment id back.
fn release_segment(n: &mut Networks, s: &Segment) {
    match s.kind {
        SegmentKind::Vxlan => {
            if let (Some(id), Some(free)) = (s.id, n.free_vnis.as_mut()) {
                if (TENANT_VNIS.0..=TENANT_VNIS.1).contains(&id) {
                    free.release(u128::from(id));
                }
            }
        }
        SegmentKind::Vlan | SegmentKind::Flat => {
            n.physical_segments.remove(&(s.physical_network.clone().unwrap_or_default(), s.id.unwrap_or(0)));
        }
    }
}

fn update_network(n: &mut Networks, core: &mut Core, caller: &Caller, id: Uuid, c: NetworkChange) -> Result<Network> {
    let net = owned_network(n, caller, id, "rule:update_network")?;
    for (given, attr) in [(c.shared.is_some(), "shared"), (c.external.is_some(), "router:external")] {
        if given && !caller.admin {
            return Err(policy(&format!("rule:update_network:{attr}")));
        }
    }
    let max_mtu = if net.segment.kind == SegmentKind::Vxlan { PHYSNET_MTU - VXLAN_OVERHEAD } else { PHYSNET_MTU };
    if let Some(mtu) = c.mtu.filter(|&m| m > max_mtu || m < MIN_MTU) {
        return Err(mtu_error(mtu, max_mtu));
    }
    if c.shared == Some(false) && net.shared && n.ports_of(id).any(|p| p.project != net.project) {
        return Err(Error::conflict(
            "network.invalid_shared_setting",
            format!("Unable to reconfigure sharing settings for network {id}. Multiple tenants are using it."),
        ));
    }
    let now = core.now();
    let net = n.networks.get_mut(&id).expect("found above");
    set(&mut net.name, c.name);
    set(&mut net.description, c.description);
    set(&mut net.shared, c.shared);
    set(&mut net.external, c.external);
    set(&mut net.admin_state_up, c.admin_state_up);
    set(&mut net.mtu, c.mtu);
    set(&mut net.port_security, c.port_security);
    net.updated = now;
    net.revision += 1;
    Ok(net.clone())
}

fn set<T>(field: &mut T, v: Option<T>) {
    if let Some(v) = v {
        *field = v;
    }
}

fn delete_network(n: &mut Networks, caller: &Caller, id: Uuid) -> Result<()> {
    owned_network(n, caller, id, "rule:delete_network")?;
    if n.ports_of(id).next().is_some() {
        return Err(Error::conflict(
            "network.network_in_use",
            format!("Unable to complete operation on network {id}. There are one or more ports still in use on the network."),
        ));
    }
    let net = n.networks.remove(&id).expect("found above");
    n.count(net.project, Counted::Network, -1);
    for s in &net.subnets {
        if let Some(s) = n.subnets.remove(s) {
            n.count(s.project, Counted::Subnet, -1);
        }
    }
    release_segment(n, &net.segment);
    Ok(())
}

fn create_subnet(n: &mut Networks, core: &mut Core, caller: &Caller, spec: NewSubnet) -> Result<Subnet> {
    let project = owner(caller, spec.project, "rule:create_subnet")?;
    let net = owned_network(n, caller, spec.network, "rule:create_subnet")?;
    if spec.cidr.version() != spec.version {
        return Err(super::cidr::ip_version_mismatch("cidr", spec.cidr, spec.version));
    }
    spec.cidr.check_subnet(spec.enable_dhcp)?;
    if let Some(other) = net.subnets.iter().filter_map(|s| n.subnets.get(s)).find(|s| s.cidr().overlaps(&spec.cidr)) {
        return Err(invalid_input(&format!(
            "Requested subnet with cidr: {} for network: {} overlaps with another subnet {}",
            spec.cidr, spec.network, other.id
        )));
    }
    check_dns_and_routes(&spec.cidr, &spec.dns_nameservers, &spec.host_routes)?;
    if !n.has_room(project, Counted::Subnet) {
        return Err(over_quota("subnet"));
    }
    let id = core.rng().uuid();
    let ipam = SubnetIpam::new(id, spec.network, spec.cidr, spec.gateway, spec.pools)?;
    let now = core.now();
    let s = Subnet {
        id,
        name: spec.name,
        project,
        description: spec.description,
        ipam,
        enable_dhcp: spec.enable_dhcp,
        dns_nameservers: spec.dns_nameservers,
        host_routes: spec.host_routes,
        created: now,
        updated: now,
        revision: 1,
    };
    let net = n.networks.get_mut(&spec.network).expect("found above");
    net.subnets.push(id);
    net.revision += 1;
    n.count(project, Counted::Subnet, 1);
    n.subnets.insert(id, s.clone());
    Ok(s)
}

/// DNS servers and host routes as Neutron checks them: at most [`MAX_DNS`] distinct servers,
/// at most [`MAX_ROUTES`] routes, each of the subnet's IP version.
fn check_dns_and_routes(cidr: &Cidr, dns: &[IpAddr], routes: &[HostRoute]) -> Result<()> {
    if dns.len() > MAX_DNS {
        return Err(invalid_input(&format!("Number of DNS nameservers exceeds the limit of {MAX_DNS}")));
    }
    let distinct: BTreeSet<&IpAddr> = dns.iter().collect();
    if distinct.len() != dns.len() {
        return Err(super::cidr::invalid_attribute("dns_nameservers", "Duplicate nameserver"));
    }
    if routes.len() > MAX_ROUTES {
        return Err(invalid_input(&format!("Number of host routes exceeds the limit of {MAX_ROUTES}")));
    }
    for r in routes {
        if r.destination.version() != cidr.version() || IpVersion::of(r.nexthop) != cidr.version() {
            return Err(invalid_input(&format!("Host route {}-{} does not match the subnet's IP version", r.destination, r.nexthop)));
        }
    }
    Ok(())
}

/// A writable subnet: one whose network the caller may write (see [`owned_network`]); a
/// subnet whose network it cannot see is not found.
fn owned_subnet<'a>(n: &'a Networks, caller: &Caller, id: Uuid, rule: &str) -> Result<&'a Subnet> {
    let missing = || not_found("Subnet", "network.subnet_not_found", id);
    let s = n.subnets.get(&id).ok_or_else(missing)?;
    match owned_network(n, caller, s.network(), rule) {
        Ok(_) => Ok(s),
        Err(e) if e.kind == crate::ErrorKind::NotFound => Err(missing()),
        Err(e) => Err(e),
    }
}

fn update_subnet(n: &mut Networks, core: &mut Core, caller: &Caller, id: Uuid, c: SubnetChange) -> Result<Subnet> {
    let s = owned_subnet(n, caller, id, "rule:update_subnet")?;
    let cidr = s.cidr();
    check_dns_and_routes(&cidr, c.dns_nameservers.as_deref().unwrap_or(&s.dns_nameservers), c.host_routes.as_deref().unwrap_or(&s.host_routes))?;
    let now = core.now();
    let s = n.subnets.get_mut(&id).expect("found above");
    set(&mut s.name, c.name);
    set(&mut s.description, c.description);
    set(&mut s.enable_dhcp, c.enable_dhcp);
    set(&mut s.dns_nameservers, c.dns_nameservers);
    set(&mut s.host_routes, c.host_routes);
    s.updated = now;
    s.revision += 1;
    Ok(s.clone())
}

fn delete_subnet(n: &mut Networks, caller: &Caller, id: Uuid) -> Result<()> {
    let s = owned_subnet(n, caller, id, "rule:delete_subnet")?;
    let net = s.network();
    if s.ipam.allocated_count() > 0 {
        return Err(Error::conflict(
            "network.subnet_in_use",
            format!("Unable to complete operation on subnet {id}: One or more ports have an IP allocation from this subnet."),
        ));
    }
    if let Some(s) = n.subnets.remove(&id) {
        n.count(s.project, Counted::Subnet, -1);
    }
    if let Some(net) = n.networks.get_mut(&net) {
        net.subnets.retain(|s| *s != id);
        net.revision += 1;
    }
    Ok(())
}

/// The network a port may go on: visible, and the caller's or shared (admins: any).
fn port_network<'a>(n: &'a Networks, caller: &Caller, id: Uuid) -> Result<&'a Network> {
    let net = n.networks.get(&id).filter(|x| network_visible(x, caller)).ok_or_else(|| not_found("Network", "network.network_not_found", id))?;
    if !caller.admin && !net.shared && Some(net.project) != caller.project {
        return Err(policy("rule:create_port:network"));
    }
    Ok(net)
}

/// Which subnet and address each request names, checked against the network; nothing is
/// allocated yet.
fn resolve_ips(n: &Networks, net: &Network, requests: &[IpRequest]) -> Result<Vec<(Uuid, Option<IpAddr>)>> {
    if requests.len() > MAX_FIXED_IPS {
        return Err(invalid_input("Exceeded maximum amount of fixed ips per port."));
    }
    let mut out = Vec::with_capacity(requests.len());
    for r in requests {
        let subnet = match (r.subnet, r.ip) {
            (Some(s), _) => {
                let sub = n
                    .subnets
                    .get(&s)
                    .filter(|x| x.network() == net.id)
                    .ok_or_else(|| invalid_input(&format!("Failed to create port on network {}, because fixed_ips included invalid subnet {s}", net.id)))?;
                if let Some(ip) = r.ip {
                    if !sub.cidr().contains(ip) {
                        return Err(Error::bad_request(
                            "network.invalid_ip_for_subnet",
                            format!("IP address {ip} is not a valid IP for the specified subnet."),
                        ));
                    }
                }
                s
            }
            (None, Some(ip)) => net.subnets.iter().filter_map(|s| n.subnets.get(s)).find(|s| s.cidr().contains(ip)).map(|s| s.id).ok_or_else(|| {
                Error::bad_request(
                    "network.invalid_ip_for_network",
                    format!("IP address {ip} is not a valid IP for any of the subnets on the specified network."),
                )
            })?,
            (None, None) => return Err(invalid_input("IP allocation requires subnet_id or ip_address")),
        };
        out.push((subnet, r.ip));
    }
    Ok(out)
}

/// The default addresses of a new port: one from the first subnet of each IP version that has
/// a free address (Neutron's rule for ports created without `fixed_ips`).
fn default_ips(n: &Networks, net: &Network) -> Result<Vec<(Uuid, Option<IpAddr>)>> {
    let mut out = Vec::new();
    for version in [IpVersion::V4, IpVersion::V6] {
        let of_version: Vec<&Subnet> = net.subnets.iter().filter_map(|s| n.subnets.get(s)).filter(|s| s.cidr().version() == version).collect();
        if of_version.is_empty() {
            continue;
        }
        match of_version.iter().find(|s| s.ipam.free_count() > 0) {
            Some(s) => out.push((s.id, None)),
            None => return Err(Error::conflict("network.ip_address_generation_failure", format!("No more IP addresses available on network {}.", net.id))),
        }
    }
    Ok(out)
}

/// Allocates every requested address, all or nothing.
fn allocate_all(n: &mut Networks, wanted: &[(Uuid, Option<IpAddr>)], router: bool) -> Result<Vec<FixedIp>> {
    let mut done: Vec<FixedIp> = Vec::with_capacity(wanted.len());
    for &(subnet, ip) in wanted {
        let ipam = &mut n.subnets.get_mut(&subnet).expect("resolved above").ipam;
        let got = if router { ipam.allocate_for_router(ip) } else { ipam.allocate(ip) };
        match got {
            Ok(ip) => done.push(FixedIp { subnet, ip }),
            Err(e) => {
                release_all(n, &done);
                return Err(e);
            }
        }
    }
    Ok(done)
}

fn release_all(n: &mut Networks, ips: &[FixedIp]) {
    for f in ips {
        if let Some(s) = n.subnets.get_mut(&f.subnet) {
            let released = s.ipam.release(f.ip);
            debug_assert!(released, "{} was allocated in {}", f.ip, f.subnet);
        }
    }
}

/// A fresh MAC under Neutron's base, unique on `network`.
fn draw_mac(n: &Networks, core: &mut Core, network: Uuid) -> Result<u64> {
    for _ in 0..16 {
        let mac = BASE_MAC | (core.rng().next_u64() & 0xff_ff_ff);
        if !n.mac_in_use(network, mac) {
            return Ok(mac);
        }
    }
    Err(Error::conflict("network.mac_address_generation_failure", format!("Unable to generate unique mac on network {network}.")))
}

fn is_router_owner(owner: &str) -> bool {
    owner.starts_with("network:router")
}

fn create_port(n: &mut Networks, core: &mut Core, caller: &Caller, spec: NewPort) -> Result<Port> {
    let project = owner(caller, spec.project, "rule:create_port")?;
    if !spec.host.is_empty() && !caller.admin {
        return Err(policy("rule:create_port:binding:host_id"));
    }
    let net = port_network(n, caller, spec.network)?;
    if !caller.admin && Some(net.project) != caller.project {
        // Neutron's policy on another project's (shared) network: the network owner's rights.
        let asked_ip = spec.fixed_ips.as_ref().is_some_and(|r| r.iter().any(|r| r.ip.is_some()));
        for (given, attr) in
            [(spec.mac.is_some(), "mac_address"), (asked_ip, "fixed_ips:ip_address"), (spec.device_owner.starts_with("network:"), "device_owner")]
        {
            if given {
                return Err(policy(&format!("rule:create_port:{attr}")));
            }
        }
    }
    if let Some(mac) = spec.mac {
        if n.mac_in_use(net.id, mac) {
            return Err(Error::conflict(
                "network.mac_address_in_use",
                format!("Unable to complete operation for network {}. The mac address {} is in use.", net.id, super::model::mac_text(mac)),
            ));
        }
    }
    let wanted = match &spec.fixed_ips {
        Some(r) => resolve_ips(n, net, r)?,
        None => default_ips(n, net)?,
    };
    let port_security = spec.port_security.unwrap_or(net.port_security);
    if !n.has_room(project, Counted::Port) {
        return Err(over_quota("port"));
    }
    let mac = match spec.mac {
        Some(m) => m,
        None => draw_mac(n, core, spec.network)?,
    };
    let fixed_ips = allocate_all(n, &wanted, is_router_owner(&spec.device_owner))?;
    let now = core.now();
    let port = Port {
        id: core.rng().uuid(),
        name: spec.name,
        network: spec.network,
        project,
        description: spec.description,
        mac,
        fixed_ips,
        device_id: spec.device_id,
        device_owner: spec.device_owner,
        admin_state_up: spec.admin_state_up,
        port_security,
        host: spec.host,
        created: now,
        updated: now,
        revision: 1,
    };
    n.count(project, Counted::Port, 1);
    n.ports_by_network.insert((port.network, port.id));
    n.macs.insert((port.network, port.mac));
    n.ports.insert(port.id, port.clone());
    Ok(port)
}

/// A writable port: visible to `caller` (its project's, or any for admins).
fn owned_port<'a>(n: &'a Networks, caller: &Caller, id: Uuid, rule: &str) -> Result<&'a Port> {
    let p = n.ports.get(&id).filter(|p| port_visible(n, p, caller)).ok_or_else(|| not_found("Port", "network.port_not_found", id))?;
    if !caller.admin && !caller.member {
        return Err(policy(rule));
    }
    Ok(p)
}

fn update_port(n: &mut Networks, core: &mut Core, caller: &Caller, id: Uuid, c: PortChange) -> Result<Port> {
    let p = owned_port(n, caller, id, "rule:update_port")?;
    if c.host.is_some() && !caller.admin {
        return Err(policy("rule:update_port:binding:host_id"));
    }
    let net = n.networks.get(&p.network).expect("a port's network exists");
    let router = is_router_owner(c.device_owner.as_deref().unwrap_or(&p.device_owner));
    let old = p.fixed_ips.clone();
    let new_ips = match &c.fixed_ips {
        Some(r) => {
            let wanted = resolve_ips(n, net, r)?;
            // Keep an address asked for again; release the rest, then allocate what is new.
            let keep: Vec<FixedIp> = old.iter().copied().filter(|f| wanted.iter().any(|&(s, ip)| s == f.subnet && ip == Some(f.ip))).collect();
            let fresh: Vec<(Uuid, Option<IpAddr>)> = wanted.into_iter().filter(|&(s, ip)| !keep.iter().any(|f| f.subnet == s && Some(f.ip) == ip)).collect();
            let dropped: Vec<FixedIp> = old.iter().copied().filter(|f| !keep.contains(f)).collect();
            release_all(n, &dropped);
            match allocate_all(n, &fresh, router) {
                Ok(mut got) => {
                    let mut all = keep;
                    all.append(&mut got);
                    Some(all)
                }
                Err(e) => {
                    let reclaimed = allocate_all(n, &dropped.iter().map(|f| (f.subnet, Some(f.ip))).collect::<Vec<_>>(), router);
                    debug_assert!(reclaimed.is_ok(), "addresses just released can be taken back");
                    return Err(e);
                }
            }
        }
        None => None,
    };
    let now = core.now();
    let p = n.ports.get_mut(&id).expect("found above");
    set(&mut p.name, c.name);
    set(&mut p.description, c.description);
    set(&mut p.fixed_ips, new_ips);
    set(&mut p.device_id, c.device_id);
    set(&mut p.device_owner, c.device_owner);
    set(&mut p.admin_state_up, c.admin_state_up);
    set(&mut p.port_security, c.port_security);
    set(&mut p.host, c.host);
    p.updated = now;
    p.revision += 1;
    Ok(p.clone())
}

fn delete_port(n: &mut Networks, caller: &Caller, id: Uuid) -> Result<()> {
    owned_port(n, caller, id, "rule:delete_port")?;
    let p = n.ports.remove(&id).expect("found above");
    release_all(n, &p.fixed_ips);
    n.count(p.project, Counted::Port, -1);
    n.ports_by_network.remove(&(p.network, p.id));
    n.macs.remove(&(p.network, p.mac));
    Ok(())
}

/// Sets `project`'s network, subnet and port limits (each -1 or more; `None` keeps it).
fn set_quota(n: &mut Networks, caller: &Caller, project: Uuid, limits: [Option<i64>; 3]) -> Result<Counts> {
    if !caller.admin {
        return Err(policy("rule:update_quota"));
    }
    if let Some(bad) = limits.iter().flatten().find(|l| **l < -1) {
        return Err(super::cidr::invalid_attribute("quota", &format!("'{bad}' should be greater than or equal to -1")));
    }
    let mut q = n.quota(project);
    set(&mut q.network, limits[0]);
    set(&mut q.subnet, limits[1]);
    set(&mut q.port, limits[2]);
    n.quotas.insert(project, q);
    Ok(q)
}

/// Parses a MAC given by a client, with Neutron's message for a bad one.
pub fn mac_param(text: &str) -> Result<u64> {
    parse_mac(text).ok_or_else(|| super::cidr::invalid_attribute("mac_address", &format!("'{text}' is not a valid MAC address")))
}
