//! The network service's state: networks with their segments, subnets with their address
//! management, and ports with their fixed IPs and MACs, plus the indexes that keep every check
//! a lookup (ports by network, MACs by network, free VXLAN ids as an interval set).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::cidr::Cidr;
use super::ipam::{IntervalSet, SubnetIpam};
use crate::ids::Uuid;
use crate::Time;

/// The highest VXLAN network identifier (24 bits).
pub const VNI_MAX: u32 = (1 << 24) - 1;
/// The VXLAN ids tenant networks draw from, first to last (Neutron's `vni_ranges`).
pub const TENANT_VNIS: (u32, u32) = (1, 65_535);
/// The MTU of the physical network (Neutron's `global_physnet_mtu`).
pub const PHYSNET_MTU: u32 = 1500;
/// What VXLAN encapsulation takes from the MTU over IPv4.
pub const VXLAN_OVERHEAD: u32 = 50;
/// The prefix of every MAC Neutron generates (`base_mac = fa:16:3e:00:00:00`).
pub const BASE_MAC: u64 = 0xfa_16_3e_00_00_00;

/// How a network's traffic is carried (`provider:network_type`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SegmentKind {
    /// Untagged on a physical network.
    Flat,
    /// 802.1Q-tagged on a physical network.
    Vlan,
    /// Overlay between hosts, by VXLAN id.
    Vxlan,
}

impl SegmentKind {
    /// Neutron's name.
    pub fn name(self) -> &'static str {
        match self {
            SegmentKind::Flat => "flat",
            SegmentKind::Vlan => "vlan",
            SegmentKind::Vxlan => "vxlan",
        }
    }

    /// The kind named `name`, if Neutron has it and orrery models it.
    pub fn parse(name: &str) -> Option<SegmentKind> {
        match name {
            "flat" => Some(SegmentKind::Flat),
            "vlan" => Some(SegmentKind::Vlan),
            "vxlan" => Some(SegmentKind::Vxlan),
            _ => None,
        }
    }
}

/// A network's one segment (`provider:*`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Segment {
    /// flat, vlan or vxlan.
    pub kind: SegmentKind,
    /// The physical network, for flat and vlan.
    pub physical_network: Option<String>,
    /// The VLAN tag or VXLAN id; none for flat.
    pub id: Option<u32>,
}

/// One network.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Network {
    /// Its id.
    pub id: Uuid,
    /// Its name (not unique).
    pub name: String,
    /// The owning project.
    pub project: Uuid,
    /// Free-form description.
    pub description: String,
    /// Usable by every project.
    pub shared: bool,
    /// An external network (`router:external`): floating IPs and router gateways come from it.
    pub external: bool,
    /// Administratively up.
    pub admin_state_up: bool,
    /// Its MTU.
    pub mtu: u32,
    /// How it is carried.
    pub segment: Segment,
    /// The default of its ports' `port_security_enabled`.
    pub port_security: bool,
    /// Its subnets, oldest first.
    pub subnets: Vec<Uuid>,
    /// When it was created.
    pub created: Time,
    /// When it last changed.
    pub updated: Time,
    /// Neutron's `revision_number`: bumped by every change.
    pub revision: u64,
}

/// A static route a subnet hands out by DHCP.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HostRoute {
    /// The destination.
    pub destination: Cidr,
    /// The next hop.
    pub nexthop: IpAddr,
}

/// One subnet.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Subnet {
    /// Its id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// The owning project.
    pub project: Uuid,
    /// Free-form description.
    pub description: String,
    /// Its CIDR, gateway, pools and allocations.
    pub ipam: SubnetIpam,
    /// Whether DHCP serves it.
    pub enable_dhcp: bool,
    /// DNS servers handed out, in order.
    pub dns_nameservers: Vec<IpAddr>,
    /// Static routes handed out.
    pub host_routes: Vec<HostRoute>,
    /// When it was created.
    pub created: Time,
    /// When it last changed.
    pub updated: Time,
    /// Neutron's `revision_number`.
    pub revision: u64,
}

impl Subnet {
    /// Its network.
    pub fn network(&self) -> Uuid {
        self.ipam.network()
    }

    /// Its CIDR.
    pub fn cidr(&self) -> Cidr {
        self.ipam.cidr()
    }
}

/// One address of a port.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FixedIp {
    /// The subnet it comes from.
    pub subnet: Uuid,
    /// The address.
    pub ip: IpAddr,
}

/// One port.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Port {
    /// Its id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Its network.
    pub network: Uuid,
    /// The owning project.
    pub project: Uuid,
    /// Free-form description.
    pub description: String,
    /// Its MAC, in the low 48 bits.
    pub mac: u64,
    /// Its addresses.
    pub fixed_ips: Vec<FixedIp>,
    /// What uses it (a server id, a router id), or empty.
    pub device_id: String,
    /// What kind of thing uses it (`compute:az1`, `network:router_interface`), or empty.
    pub device_owner: String,
    /// Administratively up.
    pub admin_state_up: bool,
    /// Whether security groups and anti-spoofing apply.
    pub port_security: bool,
    /// The host it is bound on (`binding:host_id`), or empty.
    pub host: String,
    /// When it was created.
    pub created: Time,
    /// When it last changed.
    pub updated: Time,
    /// Neutron's `revision_number`.
    pub revision: u64,
}

impl Port {
    /// Neutron's status: ACTIVE once bound to a host (the modelled data plane wires a bound
    /// port at once), DOWN before.
    pub fn status(&self) -> &'static str {
        if self.host.is_empty() || !self.admin_state_up {
            "DOWN"
        } else {
            "ACTIVE"
        }
    }
}

/// Formats a MAC as Neutron shows it: `fa:16:3e:12:34:56`.
pub fn mac_text(mac: u64) -> String {
    let b = mac.to_be_bytes();
    format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[2], b[3], b[4], b[5], b[6], b[7])
}

/// Parses a MAC in the colon or dash form; None unless it is six hex pairs of a unicast MAC.
pub fn parse_mac(text: &str) -> Option<u64> {
    let parts: Vec<&str> = text.split([':', '-']).collect();
    if parts.len() != 6 || parts.iter().any(|p| p.len() != 2) {
        return None;
    }
    let mut mac = 0u64;
    for p in parts {
        mac = mac << 8 | u64::from(u8::from_str_radix(p, 16).ok()?);
    }
    (mac >> 40 & 1 == 0 && mac != 0).then_some(mac)
}

/// The whole network service. Empty, it hashes as nothing (see [`Networks::is_empty`]), so a
/// cloud from before the service existed keeps its state hash.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Networks {
    /// Networks by id.
    pub networks: BTreeMap<Uuid, Network>,
    /// Subnets by id.
    pub subnets: BTreeMap<Uuid, Subnet>,
    /// Ports by id.
    pub ports: BTreeMap<Uuid, Port>,
    /// (network, port) for every port.
    pub(crate) ports_by_network: BTreeSet<(Uuid, Uuid)>,
    /// (network, MAC) for every port: MACs are unique per network.
    pub(crate) macs: BTreeSet<(Uuid, u64)>,
    /// The tenant VXLAN ids not in use; filled with [`TENANT_VNIS`] by the first tenant network.
    pub(crate) free_vnis: Option<IntervalSet>,
    /// (physical network, VLAN id, or 0 for flat) of every provider segment in use.
    pub(crate) physical_segments: BTreeSet<(String, u32)>,
    /// What each project holds, kept as it changes so quota checks never count.
    pub(crate) usage: BTreeMap<Uuid, Counts>,
    /// Projects' own quotas; the others have [`DEFAULT_QUOTAS`].
    pub(crate) quotas: BTreeMap<Uuid, Counts>,
}

/// Networks, subnets and ports: a project's usage, or its limits (-1 is unlimited).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Counts {
    /// Networks.
    pub network: i64,
    /// Subnets.
    pub subnet: i64,
    /// Ports.
    pub port: i64,
}

/// Neutron's default quotas: 100 networks, 100 subnets, 500 ports.
pub const DEFAULT_QUOTAS: Counts = Counts { network: 100, subnet: 100, port: 500 };

/// The resources quotas count.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Counted {
    /// A network.
    Network,
    /// A subnet.
    Subnet,
    /// A port.
    Port,
}

impl Counted {
    /// Neutron's resource name.
    pub fn name(self) -> &'static str {
        match self {
            Counted::Network => "network",
            Counted::Subnet => "subnet",
            Counted::Port => "port",
        }
    }

    /// This resource's field of `c`.
    pub fn of(self, c: &Counts) -> i64 {
        match self {
            Counted::Network => c.network,
            Counted::Subnet => c.subnet,
            Counted::Port => c.port,
        }
    }

    fn of_mut(self, c: &mut Counts) -> &mut i64 {
        match self {
            Counted::Network => &mut c.network,
            Counted::Subnet => &mut c.subnet,
            Counted::Port => &mut c.port,
        }
    }
}

impl Networks {
    /// Whether nothing was ever created (then the state is left out of the hash).
    pub fn is_empty(&self) -> bool {
        self.networks.is_empty() && self.subnets.is_empty() && self.ports.is_empty() && self.free_vnis.is_none() && self.quotas.is_empty()
    }

    /// The ports of `network`, in id order.
    pub fn ports_of(&self, network: Uuid) -> impl Iterator<Item = &Port> + '_ {
        self.ports_by_network.range((network, Uuid(0))..=(network, Uuid(u128::MAX))).filter_map(|(_, p)| self.ports.get(p))
    }

    /// `project`'s limits.
    pub fn quota(&self, project: Uuid) -> Counts {
        self.quotas.get(&project).copied().unwrap_or(DEFAULT_QUOTAS)
    }

    /// What `project` holds.
    pub fn usage(&self, project: Uuid) -> Counts {
        self.usage.get(&project).copied().unwrap_or_default()
    }

    /// Whether `project` may have one more `what`.
    pub(crate) fn has_room(&self, project: Uuid, what: Counted) -> bool {
        let limit = what.of(&self.quota(project));
        limit < 0 || what.of(&self.usage(project)) < limit
    }

    /// Counts one `what` more (`delta` 1) or less (-1) for `project`.
    pub(crate) fn count(&mut self, project: Uuid, what: Counted, delta: i64) {
        let u = self.usage.entry(project).or_default();
        *what.of_mut(u) += delta;
        debug_assert!(what.of(u) >= 0, "usage never goes below zero");
        if *u == Counts::default() {
            self.usage.remove(&project);
        }
    }

    /// Whether `mac` is taken on `network`.
    pub fn mac_in_use(&self, network: Uuid, mac: u64) -> bool {
        self.macs.contains(&(network, mac))
    }

    /// Checks the indexes agree with the tables (tests and debug assertions).
    pub fn check_invariants(&self) -> std::result::Result<(), String> {
        if self.ports_by_network.len() != self.ports.len() || self.macs.len() != self.ports.len() {
            return Err("the port indexes and the port table differ in size".into());
        }
        for p in self.ports.values() {
            if !self.ports_by_network.contains(&(p.network, p.id)) || !self.macs.contains(&(p.network, p.mac)) {
                return Err(format!("port {} is missing from an index", p.id));
            }
            for f in &p.fixed_ips {
                let s = self.subnets.get(&f.subnet).ok_or_else(|| format!("port {} holds an address of a missing subnet", p.id))?;
                if !s.ipam.is_allocated(f.ip) {
                    return Err(format!("port {} holds {} but its subnet has it free", p.id, f.ip));
                }
            }
        }
        let mut usage: BTreeMap<Uuid, Counts> = BTreeMap::new();
        for n in self.networks.values() {
            usage.entry(n.project).or_default().network += 1;
        }
        for s in self.subnets.values() {
            usage.entry(s.project).or_default().subnet += 1;
        }
        for p in self.ports.values() {
            usage.entry(p.project).or_default().port += 1;
        }
        if usage != self.usage {
            return Err("the usage counters differ from the tables".into());
        }
        for s in self.subnets.values() {
            s.ipam.check_invariants()?;
            let held = self.ports_of(s.network()).flat_map(|p| &p.fixed_ips).filter(|f| f.subnet == s.id).count() as u128;
            if held != s.ipam.allocated_count() {
                return Err(format!("subnet {} counts {} addresses, its ports hold {held}", s.id, s.ipam.allocated_count()));
            }
        }
        Ok(())
    }
}
