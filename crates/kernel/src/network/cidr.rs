//! Subnet CIDRs and address ranges: parsing as Neutron's API takes them, addresses as `u128`,
//! and what Neutron derives from a CIDR (the default gateway, the default allocation pools,
//! which addresses a port may be given).
//!
//! Neutron's rules come from several places, cited on each item: neutron-lib's converters and
//! validators (`neutron_lib/api/converters.py`, `neutron_lib/api/validators/__init__.py`), the
//! subnet create path (`neutron/db/db_base_plugin_v2.py`, `neutron/db/ipam_backend_mixin.py`)
//! and `neutron/ipam/utils.py`. Neutron parses with netaddr; this module accepts the forms
//! netaddr 1.x accepts for the inputs Neutron takes, and no others (see [`Cidr::parse`]).
//!
//! Errors carry the Neutron exception type in their code, in lower snake case as every kernel
//! code is (`network.invalid_input` is Neutron's `InvalidInput`); the API adapter maps the code
//! back to the type for the `NeutronError` body.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// An IP version: Neutron's `ip_version`, 4 or 6.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum IpVersion {
    /// IPv4: 32-bit addresses.
    V4,
    /// IPv6: 128-bit addresses.
    V6,
}

impl IpVersion {
    /// The version of `ip`.
    pub fn of(ip: IpAddr) -> IpVersion {
        match ip {
            IpAddr::V4(_) => IpVersion::V4,
            IpAddr::V6(_) => IpVersion::V6,
        }
    }

    /// The version as Neutron writes it: 4 or 6.
    pub fn number(self) -> u8 {
        match self {
            IpVersion::V4 => 4,
            IpVersion::V6 => 6,
        }
    }

    /// The address length in bits, which is also the longest prefix: 32 or 128.
    pub fn bits(self) -> u8 {
        match self {
            IpVersion::V4 => 32,
            IpVersion::V6 => 128,
        }
    }

    /// The highest address of this version, as a `u128`.
    pub fn max_value(self) -> u128 {
        match self {
            IpVersion::V4 => u128::from(u32::MAX),
            IpVersion::V6 => u128::MAX,
        }
    }
}

/// `ip` as a number: an IPv4 address is its 32-bit value, an IPv6 address its 128-bit value.
pub fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The address of `version` whose number is `v` (the inverse of [`to_u128`]).
///
/// # Panics
/// If `version` is IPv4 and `v` does not fit in 32 bits: a caller's arithmetic went wrong.
pub fn from_u128(v: u128, version: IpVersion) -> IpAddr {
    match version {
        IpVersion::V4 => IpAddr::V4(Ipv4Addr::from(u32::try_from(v).expect("an IPv4 address fits in 32 bits"))),
        IpVersion::V6 => IpAddr::V6(Ipv6Addr::from(v)),
    }
}

/// Neutron's `InvalidInput` (400): "Invalid input for operation: {message}."
pub fn invalid_input(message: &str) -> Error {
    Error::bad_request("network.invalid_input", format!("Invalid input for operation: {message}."))
}

/// The error of a request attribute that failed its validator (400). Neutron raises
/// `webob.exc.HTTPBadRequest` from `convert_values` (`neutron_lib/api/attributes.py`), so the
/// body's type is `HTTPBadRequest` and the code `network.http_bad_request`.
pub fn invalid_attribute(attr: &str, reason: &str) -> Error {
    Error::bad_request("network.http_bad_request", format!("Invalid input for {attr}. Reason: {reason}."))
}

/// Neutron's `_validate_ip_version` (`db_base_plugin_v2.py`): `InvalidInput` when an address
/// attribute (`name`: `cidr`, `gateway_ip`) is not of the subnet's `ip_version`.
pub fn ip_version_mismatch(name: &str, addr: impl fmt::Display, version: IpVersion) -> Error {
    invalid_input(&format!("{name} '{addr}' does not match the ip_version '{}'", version.number()))
}

/// Neutron's `validate_ip_address`: the address, or the validator's reason. IPv4 must be four
/// dotted decimal octets; leading zeros are refused with the form Neutron recommends instead
/// ("'010.0.0.1' is not an accepted IP address, '10.0.0.1' is recommended"). IPv6 takes every
/// textual form (RFC 4291), in any case.
pub fn validate_ip_address(text: &str) -> std::result::Result<IpAddr, String> {
    let invalid = || format!("'{text}' is not a valid IP address");
    if text.contains(':') {
        return text.parse::<Ipv6Addr>().map(IpAddr::V6).map_err(|_| invalid());
    }
    // netaddr's ZEROFILL drops leading zeros from each octet before parsing.
    let octets: Vec<&str> = text.split('.').collect();
    if octets.len() != 4 || !octets.iter().all(|o| !o.is_empty() && o.bytes().all(|b| b.is_ascii_digit())) {
        return Err(invalid());
    }
    let mut value = [0u8; 4];
    for (v, o) in value.iter_mut().zip(&octets) {
        let digits = o.trim_start_matches('0');
        *v = if digits.is_empty() { 0 } else { digits.parse().map_err(|_| invalid())? };
    }
    let ip = IpAddr::V4(Ipv4Addr::from(value));
    if ip.to_string() != text {
        return Err(format!("'{text}' is not an accepted IP address, '{ip}' is recommended"));
    }
    Ok(ip)
}

/// An inclusive range of addresses of one version: an allocation pool. Neutron shows one as
/// `start-end` (netaddr's `IPRange`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct IpRange {
    /// The first address in the range.
    pub start: IpAddr,
    /// The last address in the range (inclusive).
    pub end: IpAddr,
}

impl IpRange {
    /// The range from `start` to `end`, both included.
    pub fn new(start: IpAddr, end: IpAddr) -> IpRange {
        IpRange { start, end }
    }

    /// The range of `version` from number `first` to number `last`.
    pub fn from_u128(first: u128, last: u128, version: IpVersion) -> IpRange {
        IpRange { start: from_u128(first, version), end: from_u128(last, version) }
    }

    /// The first address as a number.
    pub fn first(&self) -> u128 {
        to_u128(self.start)
    }

    /// The last address as a number.
    pub fn last(&self) -> u128 {
        to_u128(self.end)
    }

    /// Whether `ip` lies in the range (same version, between the bounds).
    pub fn contains(&self, ip: IpAddr) -> bool {
        IpVersion::of(ip) == IpVersion::of(self.start) && self.first() <= to_u128(ip) && to_u128(ip) <= self.last()
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// A subnet's CIDR: a network address (host bits always zero) and a prefix length no longer
/// than the version's address.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// The network of `ip` with `prefix` bits (host bits cleared), or `None` when the prefix is
    /// longer than the address.
    pub fn new(ip: IpAddr, prefix: u8) -> Option<Cidr> {
        let version = IpVersion::of(ip);
        if prefix > version.bits() {
            return None;
        }
        let addr = from_u128(to_u128(ip) & !host_mask(version, prefix), version);
        Some(Cidr { addr, prefix })
    }

    /// A subnet's `cidr` as Neutron's API takes it on `POST /v2.0/subnets`.
    ///
    /// Neutron first converts the value with netaddr (`convert_cidr_to_canonical_format`);
    /// what netaddr cannot parse is `InvalidInput`: "Invalid input for operation: 10/24 is not
    /// in a CIDR format." Accepted: an IPv4 dotted quad (no leading zeros) or any IPv6 form,
    /// then `/` and a decimal prefix length, or for IPv4 a dotted netmask (`/255.255.255.0`).
    /// Without `/`, netaddr takes the whole address (`10.0.2.0` is `10.0.2.0/32`). Host bits
    /// are then cleared without complaint (`_create_subnet_precommit`: "turn the CIDR into a
    /// proper subnet"), so `10.0.0.1/24` is `10.0.0.0/24`.
    pub fn parse(text: &str) -> Result<Cidr> {
        parse_network(text).map(|(cidr, _)| cidr).ok_or_else(|| invalid_input(&format!("{text} is not in a CIDR format")))
    }

    /// neutron-lib's `validate_subnet`, stricter than [`Cidr::parse`]: the `/` is required and
    /// an IPv4 CIDR must be written exactly as netaddr writes it (host bits may be set, and are
    /// cleared). The reason on failure is "'{text}' is not a valid IP subnet"; wrap it with
    /// [`invalid_attribute`].
    pub fn validate_subnet(text: &str) -> std::result::Result<Cidr, String> {
        let invalid = || format!("'{text}' is not a valid IP subnet");
        let (cidr, ip) = parse_network(text).filter(|_| text.contains('/')).ok_or_else(invalid)?;
        if cidr.version() == IpVersion::V4 && format!("{ip}/{}", cidr.prefix) != text {
            return Err(invalid());
        }
        Ok(cidr)
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// The IP version.
    pub fn version(&self) -> IpVersion {
        IpVersion::of(self.addr)
    }

    /// The first address (the network address) as a number.
    pub fn first(&self) -> u128 {
        to_u128(self.addr)
    }

    /// The last address (for IPv4, the broadcast address) as a number.
    pub fn last(&self) -> u128 {
        self.first() | host_mask(self.version(), self.prefix)
    }

    /// The number of addresses. `::/0` holds 2^128, one more than a `u128`: it saturates at
    /// `u128::MAX` (Neutron refuses prefix length 0 for subnets anyway).
    pub fn size(&self) -> u128 {
        host_mask(self.version(), self.prefix).saturating_add(1)
    }

    /// Whether this is a single address: `/32` for IPv4, `/128` for IPv6.
    pub fn is_single(&self) -> bool {
        self.prefix == self.version().bits()
    }

    /// Whether `ip` is of this version and inside the CIDR.
    pub fn contains(&self, ip: IpAddr) -> bool {
        IpVersion::of(ip) == self.version() && self.first() <= to_u128(ip) && to_u128(ip) <= self.last()
    }

    /// Whether the two CIDRs share an address (never across versions).
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.version() == other.version() && self.first() <= other.last() && other.first() <= self.last()
    }

    /// The gateway Neutron picks when `gateway_ip` is not given (`_gateway_ip_str`): for IPv4
    /// the first address after the network address, for IPv6 the network address itself (the
    /// subnet-router anycast address). For an IPv4 `/32` that address lies outside the CIDR,
    /// which Neutron allows; for `255.255.255.255/32` there is none.
    pub fn default_gateway(&self) -> Option<IpAddr> {
        match self.version() {
            IpVersion::V4 => self.first().checked_add(1).filter(|g| *g <= IpVersion::V4.max_value()).map(|g| from_u128(g, IpVersion::V4)),
            IpVersion::V6 => Some(self.addr),
        }
    }

    /// The addresses an allocation pool may span (`validate_allocation_pools`): for IPv4 up to
    /// `/30`, all but the network and broadcast addresses; for IPv4 `/31` and `/32`, all of
    /// them; for IPv6, all but the network address (so an IPv6 `/128` has none).
    pub fn pool_bounds(&self) -> Option<(u128, u128)> {
        let (first, last) = (self.first(), self.last());
        match self.version() {
            IpVersion::V4 if self.prefix <= 30 => Some((first + 1, last - 1)),
            IpVersion::V4 => Some((first, last)),
            IpVersion::V6 => first.checked_add(1).filter(|lo| *lo <= last).map(|lo| (lo, last)),
        }
    }

    /// The allocation pools Neutron generates when none are given (`ipam_utils.generate_pools`):
    /// [`Cidr::pool_bounds`] without the gateway, except that a single-address CIDR is one
    /// pool of that address, even when it is the gateway.
    pub fn default_pools(&self, gateway: Option<IpAddr>) -> Vec<IpRange> {
        let version = self.version();
        let (first, last) = (self.first(), self.last());
        if first == last {
            return vec![IpRange::from_u128(first, last, version)];
        }
        let (lo, hi) = self.pool_bounds().expect("a CIDR of two or more addresses has pool bounds");
        let range = |a, b| IpRange::from_u128(a, b, version);
        match gateway.filter(|g| IpVersion::of(*g) == version).map(to_u128) {
            Some(g) if lo <= g && g <= hi => {
                let below = (g > lo).then(|| range(lo, g - 1));
                let above = (g < hi).then(|| range(g + 1, hi));
                below.into_iter().chain(above).collect()
            }
            _ => vec![range(lo, hi)],
        }
    }

    /// Whether a port may be given `ip` on this subnet (`ipam_utils.check_subnet_ip`): it is in
    /// the CIDR and, for IPv4, neither the network nor the broadcast address (even on `/31` and
    /// `/32`, whose pools do hold them); for IPv6, not the network address unless the port is
    /// a router's (`router_port`).
    pub fn is_valid_ip(&self, ip: IpAddr, router_port: bool) -> bool {
        let v = to_u128(ip);
        self.contains(ip)
            && match self.version() {
                IpVersion::V4 => v != self.first() && v != self.last(),
                IpVersion::V6 => router_port || v != self.first(),
            }
    }

    /// Whether `ip` may not be this subnet's gateway (`check_gateway_invalid_in_subnet`): an
    /// IPv4 network or broadcast address. Addresses outside the CIDR are allowed.
    pub fn is_invalid_gateway(&self, ip: IpAddr) -> bool {
        self.version() == IpVersion::V4 && self.contains(ip) && (to_u128(ip) == self.first() || to_u128(ip) == self.last())
    }

    /// The checks of Neutron's `_validate_subnet` that need only the CIDR, in its order, each an
    /// `InvalidInput`: the IPv6 network `::` (without prefix delegation), and with DHCP enabled
    /// a prefix longer than `/30` (IPv4) or `/126` (IPv6), a multicast or loopback network, and
    /// an IPv4 network starting at `0.0.0.0`.
    pub fn check_subnet(&self, enable_dhcp: bool) -> Result<()> {
        let v6 = self.version() == IpVersion::V6;
        if v6 && self.first() == 0 {
            return Err(invalid_input("IPv6 subnet '::' is not supported"));
        }
        if !enable_dhcp {
            return Ok(());
        }
        if self.prefix > self.version().bits() - 2 {
            return Err(invalid_input("Subnet has a prefix length that is incompatible with DHCP service enabled"));
        }
        let (multicast, loopback) =
            if v6 { (self.within("ff00::/8"), self.within("::1/128")) } else { (self.within("224.0.0.0/4"), self.within("127.0.0.0/8")) };
        if multicast {
            return Err(invalid_input("Multicast IP subnet is not supported if enable_dhcp is True"));
        }
        if loopback {
            return Err(invalid_input("Loopback IP subnet is not supported if enable_dhcp is True"));
        }
        if !v6 && self.first() == 0 {
            return Err(invalid_input("First IP '0.0.0.0' of network is not supported if enable_dhcp is True."));
        }
        Ok(())
    }

    /// Whether this CIDR lies wholly inside the well-known block `block`.
    fn within(&self, block: &str) -> bool {
        let block: Cidr = block.parse().expect("well-known blocks parse");
        block.contains(self.addr) && block.prefix <= self.prefix
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Cidr {
    type Err = Error;
    /// As [`Cidr::parse`].
    fn from_str(s: &str) -> Result<Cidr> {
        Cidr::parse(s)
    }
}

/// The host bits of a `prefix`-bit network of `version`, as a mask.
fn host_mask(version: IpVersion, prefix: u8) -> u128 {
    let host_bits = u32::from(version.bits() - prefix);
    u128::MAX.checked_shr(128 - host_bits).unwrap_or(0)
}

/// What netaddr's `IPNetwork` accepts: the CIDR, and the address as written (host bits kept).
fn parse_network(text: &str) -> Option<(Cidr, IpAddr)> {
    let (addr, prefix) = match text.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (text, None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    let version = IpVersion::of(ip);
    let prefix = match prefix {
        None => version.bits(),
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse::<u8>().ok()?,
        Some(p) if version == IpVersion::V4 => netmask_bits(p.parse::<Ipv4Addr>().ok()?)?,
        Some(_) => return None,
    };
    Cidr::new(ip, prefix).map(|cidr| (cidr, ip))
}

/// The prefix length of a contiguous IPv4 netmask (`255.255.255.0` is 24).
fn netmask_bits(mask: Ipv4Addr) -> Option<u8> {
    let m = u32::from(mask);
    let ones = m.leading_ones();
    (m.checked_shl(ones).unwrap_or(0) == 0).then_some(ones as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Cidr {
        Cidr::parse(s).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parse_takes_what_netaddr_takes_and_clears_host_bits() {
        assert_eq!(cidr("10.0.0.0/24").to_string(), "10.0.0.0/24");
        assert_eq!(cidr("10.0.0.1/24").to_string(), "10.0.0.0/24");
        assert_eq!(cidr("10.0.2.0").to_string(), "10.0.2.0/32");
        assert_eq!(cidr("10.1.2.3/255.255.0.0").to_string(), "10.1.0.0/16");
        assert_eq!(cidr("2001:DB8:0:0::1/64").to_string(), "2001:db8::/64");
        assert_eq!(cidr("fe80::").to_string(), "fe80::/128");
        assert_eq!(cidr("0.0.0.0/0").to_string(), "0.0.0.0/0");
        assert_eq!(cidr("::/0").size(), u128::MAX);
    }

    #[test]
    fn parse_refuses_what_netaddr_refuses_with_neutrons_message() {
        for bad in ["10/24", "10.0.0.0/33", "2001:db8::/129", "010.0.0.0/24", " 10.0.0.0/24", "10.0.0.0/", "10.0.0.0/255.0.255.0", "abc", "2001:db8::/ffff::"] {
            let e = Cidr::parse(bad).unwrap_err();
            assert_eq!(
                (e.code, e.message()),
                ("network.invalid_input", format!("Invalid input for operation: {bad} is not in a CIDR format.").as_str()),
                "{bad}"
            );
        }
    }

    #[test]
    fn validate_subnet_wants_a_slash_and_netaddrs_own_spelling() {
        assert_eq!(Cidr::validate_subnet("10.0.0.1/24"), Ok(cidr("10.0.0.0/24")));
        assert_eq!(Cidr::validate_subnet("2001:DB8::/64"), Ok(cidr("2001:db8::/64")));
        for bad in ["10.0.2.0", "fe80::", "10.0.0.0/255.255.255.0", "10/24", "10.0.0.0/024"] {
            assert_eq!(Cidr::validate_subnet(bad), Err(format!("'{bad}' is not a valid IP subnet")));
        }
        let e = invalid_attribute("cidr", &Cidr::validate_subnet("10/24").unwrap_err());
        assert_eq!((e.code, e.message()), ("network.http_bad_request", "Invalid input for cidr. Reason: '10/24' is not a valid IP subnet."));
    }

    #[test]
    fn ip_addresses_are_validated_as_neutron_does() {
        assert_eq!(validate_ip_address("10.0.0.1"), Ok(ip("10.0.0.1")));
        assert_eq!(validate_ip_address("2001:DB8::1"), Ok(ip("2001:db8::1")));
        assert_eq!(validate_ip_address("010.0.0.1"), Err("'010.0.0.1' is not an accepted IP address, '10.0.0.1' is recommended".into()));
        for bad in ["1.2.3", "1.2.3.4.5", "256.0.0.1", "1.2.3.4:80", "1.2.3.a", "", " 1.2.3.4", "2001:db8:::1"] {
            assert_eq!(validate_ip_address(bad), Err(format!("'{bad}' is not a valid IP address")), "{bad}");
        }
    }

    #[test]
    fn arithmetic_as_u128() {
        let c = cidr("10.0.0.0/24");
        assert_eq!((c.first(), c.last(), c.size()), (0x0a00_0000, 0x0a00_00ff, 256));
        assert_eq!(from_u128(c.last(), IpVersion::V4), ip("10.0.0.255"));
        assert_eq!(to_u128(ip("::1")), 1);
        assert!(c.contains(ip("10.0.0.77")) && !c.contains(ip("10.0.1.0")) && !c.contains(ip("::a00:1")));
        assert!(c.overlaps(&cidr("10.0.0.128/25")) && cidr("10.0.0.0/8").overlaps(&c) && !c.overlaps(&cidr("10.0.1.0/24")));
        assert!(!c.overlaps(&cidr("::/0")));
        let top = cidr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128");
        assert!((top.first() == u128::MAX && top.last() == u128::MAX && top.size() == 1 && top.is_single()));
        assert_eq!(cidr("255.255.255.255/32").last(), u128::from(u32::MAX));
    }

    #[test]
    fn default_gateway_is_first_host_for_v4_and_the_network_for_v6() {
        assert_eq!(cidr("10.0.0.0/24").default_gateway(), Some(ip("10.0.0.1")));
        assert_eq!(cidr("2001:db8::/64").default_gateway(), Some(ip("2001:db8::")));
        assert_eq!(cidr("10.0.0.5/32").default_gateway(), Some(ip("10.0.0.6")));
        assert_eq!(cidr("255.255.255.255/32").default_gateway(), None);
    }

    fn pools(c: &str, gw: Option<&str>) -> Vec<String> {
        cidr(c).default_pools(gw.map(ip)).iter().map(|r| r.to_string()).collect()
    }

    #[test]
    fn default_pools_follow_generate_pools() {
        assert_eq!(pools("10.0.0.0/24", Some("10.0.0.1")), ["10.0.0.2-10.0.0.254"]);
        assert_eq!(pools("10.0.0.0/24", Some("10.0.0.100")), ["10.0.0.1-10.0.0.99", "10.0.0.101-10.0.0.254"]);
        assert_eq!(pools("10.0.0.0/24", Some("10.0.0.254")), ["10.0.0.1-10.0.0.253"]);
        assert_eq!(pools("10.0.0.0/24", None), ["10.0.0.1-10.0.0.254"]);
        assert_eq!(pools("10.0.0.0/24", Some("192.168.0.1")), ["10.0.0.1-10.0.0.254"]);
        assert_eq!(pools("10.0.0.0/30", Some("10.0.0.1")), ["10.0.0.2-10.0.0.2"]);
        assert_eq!(pools("10.0.0.0/31", Some("10.0.0.1")), ["10.0.0.0-10.0.0.0"]);
        assert_eq!(pools("10.0.0.5/32", Some("10.0.0.6")), ["10.0.0.5-10.0.0.5"]);
        assert_eq!(pools("2001:db8::/64", Some("2001:db8::")), ["2001:db8::1-2001:db8::ffff:ffff:ffff:ffff"]);
        assert_eq!(pools("2001:db8::/127", Some("2001:db8::")), ["2001:db8::1-2001:db8::1"]);
        // A single-address subnet keeps its one address in the pool even as the gateway.
        assert_eq!(pools("2001:db8::/128", Some("2001:db8::")), ["2001:db8::-2001:db8::"]);
    }

    #[test]
    fn pool_bounds_and_port_addresses() {
        assert_eq!(cidr("10.0.0.0/30").pool_bounds(), Some((0x0a00_0001, 0x0a00_0002)));
        assert_eq!(cidr("10.0.0.0/31").pool_bounds(), Some((0x0a00_0000, 0x0a00_0001)));
        assert_eq!(cidr("2001:db8::/128").pool_bounds(), None);
        assert_eq!(cidr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128").pool_bounds(), None);
        let v4 = cidr("10.0.0.0/24");
        assert!(v4.is_valid_ip(ip("10.0.0.1"), false) && !v4.is_valid_ip(ip("10.0.0.0"), true) && !v4.is_valid_ip(ip("10.0.0.255"), false));
        assert!(!cidr("10.0.0.5/32").is_valid_ip(ip("10.0.0.5"), false));
        let v6 = cidr("2001:db8::/64");
        assert!(
            !v6.is_valid_ip(ip("2001:db8::"), false) && v6.is_valid_ip(ip("2001:db8::"), true) && v6.is_valid_ip(ip("2001:db8::ffff:ffff:ffff:ffff"), false)
        );
        assert!(v4.is_invalid_gateway(ip("10.0.0.0")) && v4.is_invalid_gateway(ip("10.0.0.255")) && !v4.is_invalid_gateway(ip("10.9.0.1")));
        assert!(!v6.is_invalid_gateway(ip("2001:db8::")));
    }

    #[test]
    fn subnet_checks_follow_validate_subnet() {
        let msg = |c: &str, dhcp| cidr(c).check_subnet(dhcp).map_err(|e| (e.code, e.message.clone()));
        let bad = |m: &str| Err(("network.invalid_input", format!("Invalid input for operation: {m}.")));
        assert_eq!(msg("10.0.0.0/24", true), Ok(()));
        assert_eq!(msg("10.0.0.0/31", false), Ok(()));
        assert_eq!(msg("::/64", false), bad("IPv6 subnet '::' is not supported"));
        assert_eq!(msg("10.0.0.0/31", true), bad("Subnet has a prefix length that is incompatible with DHCP service enabled"));
        assert_eq!(msg("2001:db8::/127", true), bad("Subnet has a prefix length that is incompatible with DHCP service enabled"));
        assert_eq!(msg("224.0.0.0/24", true), bad("Multicast IP subnet is not supported if enable_dhcp is True"));
        assert_eq!(msg("ff02::/64", true), bad("Multicast IP subnet is not supported if enable_dhcp is True"));
        assert_eq!(msg("127.0.0.0/24", true), bad("Loopback IP subnet is not supported if enable_dhcp is True"));
        assert_eq!(
            msg("0.0.0.0/24", true),
            Err(("network.invalid_input", "Invalid input for operation: First IP '0.0.0.0' of network is not supported if enable_dhcp is True..".into()))
        );
        let e = ip_version_mismatch("gateway_ip", ip("2001:db8::1"), IpVersion::V4);
        assert_eq!(e.message(), "Invalid input for operation: gateway_ip '2001:db8::1' does not match the ip_version '4'.");
    }
}
