//! IP address management (Neutron's IPAM) on interval sets: a subnet keeps its free addresses
//! as disjoint ranges, never one entry per address, so a `/16` with one port allocated is two
//! ranges and an IPv6 `/64` costs what an IPv4 `/30` does.
//!
//! [`IntervalSet`] is the set; [`SubnetIpam`] is one subnet's allocation state: its CIDR,
//! gateway and allocation pools (validated as Neutron validates them), the free addresses of
//! the pools, and the addresses allocated outside the pools.
//!
//! # Complexity
//!
//! With n the number of ranges in the set concerned (free ranges, not free addresses) and p
//! the number of allocation pools:
//!
//! | Operation | Cost |
//! |---|---|
//! | [`IntervalSet::insert_range`], [`IntervalSet::take`], [`IntervalSet::release`] | O(log n) |
//! | [`IntervalSet::take_first`], [`IntervalSet::contains`], [`IntervalSet::overlaps_range`] | O(log n) |
//! | [`IntervalSet::len`], [`IntervalSet::is_empty`], [`IntervalSet::range_count`] | O(1) |
//! | [`IntervalSet::ranges`] | O(n) for the whole walk |
//! | [`SubnetIpam::new`] | O(p log p); O(p²) only on failure, to name the pair Neutron names |
//! | [`SubnetIpam::allocate`], [`SubnetIpam::release`], [`SubnetIpam::is_allocated`] | O(log n + log p) |
//! | [`SubnetIpam::free_count`], [`SubnetIpam::allocated_count`] | O(1) |
//! | `check_invariants` (both types) | O(n log n) |
//!
//! # Neutron's behaviour, and where this differs
//!
//! - A request for no particular address gets the lowest free pool address. Neutron's DB
//!   driver (`neutrondb_ipam/driver.py`, `_generate_ips`) picks at random among the first
//!   1,000 free addresses of the first pool with room; the kernel has no entropy to spare for
//!   this, and the lowest free address is what Neutron's `PreferNextAddressRequest` gives.
//! - A request for a specific address is checked as Neutron checks it (`check_subnet_ip`):
//!   any address of the CIDR except, for IPv4, the network and broadcast addresses and, for
//!   IPv6, the network address unless the port is a router's. Neutron does not require it to
//!   be inside an allocation pool, and neither does this: such addresses are tracked apart.
//!   The gateway address is not reserved either (a router interface takes it as a port).
//! - Releasing an address that is not allocated changes nothing, as Neutron's `deallocate`
//!   deletes nothing then; [`SubnetIpam::release`] says whether anything was released.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::cidr::{from_u128, invalid_input, ip_version_mismatch, to_u128, Cidr, IpRange, IpVersion};
use crate::ids::Uuid;
use crate::{Error, Result};

/// A set of `u128` values kept as disjoint, non-adjacent inclusive ranges, with a cached
/// count. Ranges that touch are merged, so the representation of a set is unique.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IntervalSet {
    /// Start → end (inclusive) of each range.
    ranges: BTreeMap<u128, u128>,
    /// How many values the ranges hold.
    len: u128,
}

impl IntervalSet {
    /// The empty set.
    pub fn new() -> IntervalSet {
        IntervalSet::default()
    }

    /// Adds every value from `start` to `end` inclusive, merging with the ranges it touches.
    ///
    /// # Panics
    /// If `start > end`, if any of the values is already in the set (inserting twice is a
    /// caller's bug: a pool counted twice, an address freed twice; [`IntervalSet::release`]
    /// is the forgiving single-value form), or if the set would hold all 2^128 values.
    pub fn insert_range(&mut self, start: u128, end: u128) {
        assert!(start <= end, "interval {start}..={end} is reversed");
        let before = self.ranges.range(..=end).next_back().map(|(&s, &e)| (s, e));
        let (mut lo, mut hi) = (start, end);
        if let Some((s, e)) = before {
            assert!(e < start, "interval {start}..={end} overlaps {s}..={e}");
            if e + 1 == start {
                self.ranges.remove(&s);
                lo = s;
            }
        }
        if let Some(e) = end.checked_add(1).and_then(|next| self.ranges.remove(&next)) {
            hi = e;
        }
        self.ranges.insert(lo, hi);
        let added = (end - start).checked_add(1).expect("an interval set holds fewer than 2^128 values");
        self.len = self.len.checked_add(added).expect("an interval set holds fewer than 2^128 values");
    }

    /// Removes and returns the lowest value, if any.
    pub fn take_first(&mut self) -> Option<u128> {
        let (s, e) = self.ranges.pop_first()?;
        if s < e {
            self.ranges.insert(s + 1, e);
        }
        self.len -= 1;
        Some(s)
    }

    /// Removes `v`, splitting its range; false if `v` was not in the set.
    pub fn take(&mut self, v: u128) -> bool {
        let Some((s, e)) = self.range_containing(v) else { return false };
        self.ranges.remove(&s);
        if s < v {
            self.ranges.insert(s, v - 1);
        }
        if v < e {
            self.ranges.insert(v + 1, e);
        }
        self.len -= 1;
        true
    }

    /// Adds `v` back, merging with its neighbours; false (and no change) if it was already in.
    pub fn release(&mut self, v: u128) -> bool {
        if self.contains(v) {
            return false;
        }
        self.insert_range(v, v);
        true
    }

    /// Whether `v` is in the set.
    pub fn contains(&self, v: u128) -> bool {
        self.range_containing(v).is_some()
    }

    /// Whether any value from `start` to `end` inclusive is in the set.
    pub fn overlaps_range(&self, start: u128, end: u128) -> bool {
        self.ranges.range(..=end).next_back().is_some_and(|(_, &e)| e >= start)
    }

    /// How many values the set holds.
    pub fn len(&self) -> u128 {
        self.len
    }

    /// Whether the set holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many ranges the set is made of (its memory, not its size).
    pub fn range_count(&self) -> usize {
        self.ranges.len()
    }

    /// The ranges as inclusive `(start, end)` pairs, lowest first.
    pub fn ranges(&self) -> impl Iterator<Item = (u128, u128)> + '_ {
        self.ranges.iter().map(|(&s, &e)| (s, e))
    }

    /// The range holding `v`, if any.
    fn range_containing(&self, v: u128) -> Option<(u128, u128)> {
        self.ranges.range(..=v).next_back().filter(|(_, &e)| e >= v).map(|(&s, &e)| (s, e))
    }

    /// Checks the ranges are well formed, sorted, disjoint and non-adjacent, and that the
    /// cached count is their total.
    pub fn check_invariants(&self) -> std::result::Result<(), String> {
        let mut prev_end: Option<u128> = None;
        let mut total: u128 = 0;
        for (s, e) in self.ranges() {
            if s > e {
                return Err(format!("range {s}..={e} is reversed"));
            }
            if let Some(p) = prev_end {
                if s <= p {
                    return Err(format!("range starting at {s} overlaps the one ending at {p}"));
                }
                if s == p + 1 {
                    return Err(format!("range starting at {s} touches the one ending at {p} but was not merged"));
                }
            }
            total = (e - s).checked_add(1).and_then(|n| total.checked_add(n)).ok_or("the ranges hold 2^128 values or more")?;
            prev_end = Some(e);
        }
        if total != self.len {
            return Err(format!("cached count {} but the ranges hold {total}", self.len));
        }
        Ok(())
    }
}

/// How a subnet's gateway was asked for: Neutron's `gateway_ip` left out, `null`, or given.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Gateway {
    /// Left out: the CIDR's [`Cidr::default_gateway`].
    Default,
    /// `null`: no gateway.
    Disabled,
    /// This address.
    Ip(IpAddr),
}

/// One subnet's IP allocations: which addresses of its pools are free, and which addresses
/// outside its pools have been handed out.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SubnetIpam {
    /// The subnet, named in `IpAddressAlreadyAllocated`.
    subnet: Uuid,
    /// The subnet's network, named in `IpAddressGenerationFailure`.
    network: Uuid,
    /// The subnet's CIDR.
    cidr: Cidr,
    /// The gateway, if the subnet has one.
    gateway: Option<IpAddr>,
    /// The allocation pools, sorted by start (as Neutron's `SubnetRequest` sorts them).
    pools: Vec<IpRange>,
    /// Every pool address (adjacent pools merge here).
    in_pools: IntervalSet,
    /// The pool addresses not allocated.
    free: IntervalSet,
    /// The allocated addresses outside the pools.
    outside: IntervalSet,
}

impl SubnetIpam {
    /// A subnet's IPAM with nothing allocated. Checks run in Neutron's order: the gateway
    /// (`_validate_subnet`; call [`Cidr::check_subnet`] before this, as Neutron does), then the
    /// pools (`_prepare_allocation_pools`), then the prefix length (`_validate_subnet_cidr`).
    /// Without `pools`, Neutron's default pools around the gateway; `Some(vec![])` is a subnet
    /// whose addresses can only be asked for by address.
    ///
    /// Errors: `network.invalid_input` (a gateway of the other version or, for IPv4, the
    /// network or broadcast address; prefix length 0), and those of the pools:
    /// `network.invalid_allocation_pool`, `network.out_of_bounds_allocation_pool`,
    /// `network.overlapping_allocation_pools` (409),
    /// `network.gateway_conflict_with_allocation_pools` (409).
    pub fn new(subnet: Uuid, network: Uuid, cidr: Cidr, gateway: Gateway, pools: Option<Vec<IpRange>>) -> Result<SubnetIpam> {
        let gateway = match gateway {
            Gateway::Default => cidr.default_gateway(),
            Gateway::Disabled => None,
            Gateway::Ip(ip) if IpVersion::of(ip) != cidr.version() => return Err(ip_version_mismatch("gateway_ip", ip, cidr.version())),
            Gateway::Ip(ip) if cidr.is_invalid_gateway(ip) => return Err(invalid_input("Gateway is not valid on subnet")),
            Gateway::Ip(ip) => Some(ip),
        };
        let mut pools = match pools {
            None => cidr.default_pools(gateway),
            Some(pools) => {
                check_pools(&cidr, &pools, gateway)?;
                pools
            }
        };
        if cidr.prefix() == 0 {
            return Err(invalid_input("0 is not allowed as CIDR prefix length"));
        }
        pools.sort();
        let mut in_pools = IntervalSet::new();
        for p in &pools {
            in_pools.insert_range(p.first(), p.last());
        }
        Ok(SubnetIpam { subnet, network, cidr, gateway, pools, free: in_pools.clone(), in_pools, outside: IntervalSet::new() })
    }

    /// Allocates an address for a port that is not a router's: the lowest free pool address
    /// for `None`, or the address asked for. Errors: `network.ip_address_generation_failure`
    /// (409) when the pools are exhausted; `network.invalid_ip_for_subnet` (400) for an
    /// address a port may not have (see [`Cidr::is_valid_ip`]);
    /// `network.ip_address_already_allocated` (409). On error nothing changes.
    pub fn allocate(&mut self, request: Option<IpAddr>) -> Result<IpAddr> {
        self.allocate_as(request, false)
    }

    /// As [`SubnetIpam::allocate`], for a router's port, which may also have an IPv6 subnet's
    /// network address (the subnet-router anycast address).
    pub fn allocate_for_router(&mut self, request: Option<IpAddr>) -> Result<IpAddr> {
        self.allocate_as(request, true)
    }

    fn allocate_as(&mut self, request: Option<IpAddr>, router_port: bool) -> Result<IpAddr> {
        let Some(ip) = request else {
            let v = self.free.take_first().ok_or_else(|| {
                Error::conflict("network.ip_address_generation_failure", format!("No more IP addresses available on network {}.", self.network))
            })?;
            return Ok(from_u128(v, self.cidr.version()));
        };
        if !self.cidr.is_valid_ip(ip, router_port) {
            return Err(Error::bad_request("network.invalid_ip_for_subnet", format!("IP address {ip} is not a valid IP for the specified subnet.")));
        }
        let v = to_u128(ip);
        // `outside` holds allocated addresses: releasing into it records an allocation.
        let newly = if self.in_pools.contains(v) { self.free.take(v) } else { self.outside.release(v) };
        if !newly {
            return Err(Error::conflict("network.ip_address_already_allocated", format!("IP address {ip} already allocated in subnet {}", self.subnet)));
        }
        Ok(ip)
    }

    /// Frees `ip`; false (and no change) if it was not allocated here.
    pub fn release(&mut self, ip: IpAddr) -> bool {
        if !self.cidr.contains(ip) {
            return false;
        }
        let v = to_u128(ip);
        if self.in_pools.contains(v) {
            self.free.release(v)
        } else {
            self.outside.take(v)
        }
    }

    /// Whether `ip` is allocated here.
    pub fn is_allocated(&self, ip: IpAddr) -> bool {
        let v = to_u128(ip);
        self.cidr.contains(ip) && if self.in_pools.contains(v) { !self.free.contains(v) } else { self.outside.contains(v) }
    }

    /// How many pool addresses are free.
    pub fn free_count(&self) -> u128 {
        self.free.len()
    }

    /// How many addresses are allocated, in the pools or outside them.
    pub fn allocated_count(&self) -> u128 {
        self.in_pools.len() - self.free.len() + self.outside.len()
    }

    /// The subnet's id.
    pub fn subnet(&self) -> Uuid {
        self.subnet
    }

    /// The subnet's network.
    pub fn network(&self) -> Uuid {
        self.network
    }

    /// The subnet's CIDR.
    pub fn cidr(&self) -> Cidr {
        self.cidr
    }

    /// The gateway, if the subnet has one.
    pub fn gateway(&self) -> Option<IpAddr> {
        self.gateway
    }

    /// The allocation pools, sorted by start.
    pub fn pools(&self) -> &[IpRange] {
        &self.pools
    }

    /// Checks each set's own invariants, that the pools are what `in_pools` holds, that the
    /// free addresses lie in the pools, and that addresses allocated outside the pools lie in
    /// the CIDR and not in a pool.
    pub fn check_invariants(&self) -> std::result::Result<(), String> {
        self.in_pools.check_invariants().map_err(|e| format!("pools: {e}"))?;
        self.free.check_invariants().map_err(|e| format!("free: {e}"))?;
        self.outside.check_invariants().map_err(|e| format!("outside the pools: {e}"))?;
        let pooled: u128 = self.pools.iter().map(|p| p.last() - p.first() + 1).sum();
        if pooled != self.in_pools.len() || !self.pools.iter().all(|p| self.in_pools.range_containing(p.first()).is_some_and(|(_, e)| e >= p.last())) {
            return Err(format!("the pools {:?} are not the pool set {:?}", self.pools, self.in_pools));
        }
        if let Some((s, e)) = self.free.ranges().find(|&(s, e)| self.in_pools.range_containing(s).is_none_or(|(_, pe)| pe < e)) {
            return Err(format!("free range {s}..={e} is not inside the pools"));
        }
        let (first, last) = (self.cidr.first(), self.cidr.last());
        if let Some((s, e)) = self.outside.ranges().find(|&(s, e)| s < first || e > last || self.in_pools.overlaps_range(s, e)) {
            return Err(format!("range {s}..={e} allocated outside the pools is in a pool or outside the CIDR"));
        }
        Ok(())
    }
}

/// Neutron's checks of explicit allocation pools (`pools_to_ip_range`,
/// `validate_allocation_pools`, `validate_gw_out_of_pools`), in its order and with its messages.
fn check_pools(cidr: &Cidr, pools: &[IpRange], gateway: Option<IpAddr>) -> Result<()> {
    for p in pools {
        if IpVersion::of(p.start) != IpVersion::of(p.end) || p.first() > p.last() {
            // netaddr refuses to build the range; Neutron shows the pool as the request's dict.
            let message = format!("The allocation pool {{'start': '{}', 'end': '{}'}} is not valid.", p.start, p.end);
            return Err(Error::bad_request("network.invalid_allocation_pool", message));
        }
    }
    let bounds = cidr.pool_bounds();
    for p in pools {
        if IpVersion::of(p.start) != cidr.version() {
            return Err(Error::bad_request("network.invalid_allocation_pool", format!("The allocation pool {p} is not valid.")));
        }
        if !bounds.is_some_and(|(lo, hi)| lo <= p.first() && p.last() <= hi) {
            return Err(Error::bad_request("network.out_of_bounds_allocation_pool", format!("The allocation pool {p} spans beyond the subnet cidr {cidr}.")));
        }
    }
    let mut order: Vec<&IpRange> = pools.iter().collect();
    order.sort_by_key(|p| p.first());
    if order.windows(2).any(|w| w[1].first() <= w[0].last()) {
        // Neutron names the first overlapping pair in request order.
        let overlap = |a: &IpRange, b: &IpRange| a.first() <= b.last() && b.first() <= a.last();
        let (l, r) = (0..pools.len())
            .flat_map(|l| (l + 1..pools.len()).map(move |r| (l, r)))
            .find(|&(l, r)| overlap(&pools[l], &pools[r]))
            .expect("sorted neighbours overlap, so some pair does");
        let message = format!("Found overlapping allocation pools: {} {} for subnet {cidr}.", pools[l], pools[r]);
        return Err(Error::conflict("network.overlapping_allocation_pools", message));
    }
    if let Some(g) = gateway {
        if let Some(p) = pools.iter().find(|p| p.contains(g)) {
            return Err(Error::conflict("network.gateway_conflict_with_allocation_pools", format!("Gateway ip {g} conflicts with allocation pool {p}.")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    const SUBNET: Uuid = Uuid(0x51);
    const NET: Uuid = Uuid(0x4e);

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn pool(a: &str, b: &str) -> IpRange {
        IpRange::new(ip(a), ip(b))
    }

    fn ipam(cidr: &str, gateway: Gateway, pools: Option<Vec<IpRange>>) -> Result<SubnetIpam> {
        SubnetIpam::new(SUBNET, NET, Cidr::parse(cidr).unwrap(), gateway, pools)
    }

    fn err(r: Result<impl std::fmt::Debug>) -> (&'static str, String) {
        let e = r.unwrap_err();
        (e.code, e.message)
    }

    #[test]
    fn ranges_merge_split_and_count() {
        let mut s = IntervalSet::new();
        s.insert_range(10, 19);
        s.insert_range(30, 39);
        s.insert_range(20, 29);
        assert_eq!((s.ranges().collect::<Vec<_>>(), s.len()), (vec![(10, 39)], 30));
        assert!(s.take(15) && !s.take(15) && s.contains(14) && !s.contains(15) && s.contains(16));
        assert_eq!(s.ranges().collect::<Vec<_>>(), [(10, 14), (16, 39)]);
        assert_eq!((s.take_first(), s.len()), (Some(10), 28));
        assert!(s.release(15) && !s.release(15) && s.release(10));
        assert_eq!((s.ranges().collect::<Vec<_>>(), s.len()), (vec![(10, 39)], 30));
        assert!(s.overlaps_range(0, 10) && s.overlaps_range(39, 50) && !s.overlaps_range(40, 50) && !s.overlaps_range(0, 9));
        s.check_invariants().unwrap();
    }

    #[test]
    fn ranges_reach_both_ends_of_u128() {
        let mut s = IntervalSet::new();
        s.insert_range(u128::MAX - 1, u128::MAX);
        s.insert_range(0, 1);
        assert!(s.take(u128::MAX) && s.take(0) && s.release(u128::MAX) && s.release(0));
        assert_eq!((s.ranges().collect::<Vec<_>>(), s.len()), (vec![(0, 1), (u128::MAX - 1, u128::MAX)], 4));
        s.insert_range(2, u128::MAX - 3);
        assert_eq!((s.range_count(), s.len(), s.take_first()), (2, u128::MAX, Some(0)));
        s.check_invariants().unwrap();
    }

    #[test]
    #[should_panic(expected = "fewer than 2^128")]
    fn the_whole_u128_space_does_not_fit_the_count() {
        let mut s = IntervalSet::new();
        s.insert_range(0, 0);
        s.insert_range(1, u128::MAX);
    }

    #[test]
    #[should_panic(expected = "overlaps")]
    fn inserting_a_range_twice_is_a_bug() {
        let mut s = IntervalSet::new();
        s.insert_range(10, 20);
        s.insert_range(20, 30);
    }

    #[test]
    fn default_subnet_allocates_from_after_the_gateway() {
        let mut s = ipam("10.0.0.0/24", Gateway::Default, None).unwrap();
        assert_eq!((s.gateway(), s.pools(), s.free_count()), (Some(ip("10.0.0.1")), &[pool("10.0.0.2", "10.0.0.254")][..], 253));
        assert_eq!(s.allocate(None), Ok(ip("10.0.0.2")));
        assert_eq!(s.allocate(None), Ok(ip("10.0.0.3")));
        // The gateway is not reserved: a router interface takes it like any address.
        assert_eq!(s.allocate(Some(ip("10.0.0.1"))), Ok(ip("10.0.0.1")));
        assert_eq!(
            err(s.allocate(Some(ip("10.0.0.3")))),
            ("network.ip_address_already_allocated", "IP address 10.0.0.3 already allocated in subnet 00000000-0000-0000-0000-000000000051".into())
        );
        for bad in ["10.0.0.0", "10.0.0.255", "10.0.1.1", "::a00:5"] {
            assert_eq!(
                err(s.allocate(Some(ip(bad)))),
                ("network.invalid_ip_for_subnet", format!("IP address {bad} is not a valid IP for the specified subnet."))
            );
        }
        assert!(s.release(ip("10.0.0.2")) && !s.release(ip("10.0.0.2")) && !s.release(ip("192.0.2.1")));
        assert_eq!(s.allocate(None), Ok(ip("10.0.0.2")));
        assert_eq!((s.allocated_count(), s.free_count()), (3, 251));
        s.check_invariants().unwrap();
    }

    #[test]
    fn addresses_outside_the_pools_may_be_asked_for() {
        let mut s = ipam("10.0.0.0/24", Gateway::Default, Some(vec![pool("10.0.0.10", "10.0.0.20")])).unwrap();
        assert_eq!(s.allocate(Some(ip("10.0.0.50"))), Ok(ip("10.0.0.50")));
        assert!(s.is_allocated(ip("10.0.0.50")) && !s.is_allocated(ip("10.0.0.51")));
        assert_eq!(s.allocate(Some(ip("10.0.0.51"))), Ok(ip("10.0.0.51")));
        assert_eq!(err(s.allocate(Some(ip("10.0.0.50")))).0, "network.ip_address_already_allocated");
        assert_eq!((s.allocated_count(), s.free_count()), (2, 11));
        assert!(s.release(ip("10.0.0.50")) && !s.release(ip("10.0.0.50")) && !s.is_allocated(ip("10.0.0.50")));
        assert_eq!(s.allocate(None), Ok(ip("10.0.0.10")));
        s.check_invariants().unwrap();
    }

    #[test]
    fn exhausted_pools_name_the_network() {
        let mut s = ipam("10.0.0.0/30", Gateway::Default, None).unwrap();
        assert_eq!(s.allocate(None), Ok(ip("10.0.0.2")));
        let before = s.clone();
        assert_eq!(
            err(s.allocate(None)),
            ("network.ip_address_generation_failure", "No more IP addresses available on network 00000000-0000-0000-0000-00000000004e.".into())
        );
        assert_eq!(s, before);
        let mut empty = ipam("10.0.0.0/24", Gateway::Disabled, Some(vec![])).unwrap();
        assert_eq!(err(empty.allocate(None)).0, "network.ip_address_generation_failure");
        assert_eq!(empty.allocate(Some(ip("10.0.0.9"))), Ok(ip("10.0.0.9")));
    }

    #[test]
    fn single_address_subnets() {
        // A /32's pool is its one address, which automatic allocation hands out but a port may
        // not ask for by address (Neutron's check_subnet_ip refuses IPv4 network addresses).
        let mut v4 = ipam("10.0.0.5/32", Gateway::Default, None).unwrap();
        assert_eq!((v4.gateway(), v4.pools()), (Some(ip("10.0.0.6")), &[pool("10.0.0.5", "10.0.0.5")][..]));
        assert_eq!(err(v4.allocate(Some(ip("10.0.0.5")))).0, "network.invalid_ip_for_subnet");
        assert_eq!(v4.allocate(None), Ok(ip("10.0.0.5")));
        let mut v6 = ipam("2001:db8::7/128", Gateway::Default, None).unwrap();
        assert_eq!((v6.gateway(), v6.allocate(None)), (Some(ip("2001:db8::7")), Ok(ip("2001:db8::7"))));
        assert_eq!(err(ipam("2001:db8::7/128", Gateway::Disabled, Some(vec![pool("2001:db8::7", "2001:db8::7")]))).0, "network.out_of_bounds_allocation_pool");
    }

    #[test]
    fn ipv6_network_address_is_for_routers_only() {
        let mut s = ipam("2001:db8::/64", Gateway::Default, None).unwrap();
        assert_eq!((s.gateway(), s.free_count()), (Some(ip("2001:db8::")), u128::from(u64::MAX)));
        assert_eq!(s.allocate(None), Ok(ip("2001:db8::1")));
        assert_eq!(err(s.allocate(Some(ip("2001:db8::")))).0, "network.invalid_ip_for_subnet");
        assert_eq!(s.allocate_for_router(Some(ip("2001:db8::"))), Ok(ip("2001:db8::")));
        assert_eq!(s.allocate(Some(ip("2001:db8::ffff:ffff:ffff:ffff"))), Ok(ip("2001:db8::ffff:ffff:ffff:ffff")));
        assert_eq!((s.allocated_count(), s.free.range_count()), (3, 1));
        s.check_invariants().unwrap();
    }

    #[test]
    fn a_big_subnet_with_one_port_is_two_ranges() {
        let mut s = ipam("10.0.0.0/16", Gateway::Default, None).unwrap();
        assert_eq!(s.allocate(Some(ip("10.0.128.7"))), Ok(ip("10.0.128.7")));
        assert_eq!((s.free.range_count(), s.free_count()), (2, 65_532));
        assert_eq!(s.allocate(None), Ok(ip("10.0.0.2")));
        assert_eq!(s.free.range_count(), 2);
        assert!(s.release(ip("10.0.128.7")));
        assert_eq!(s.free.range_count(), 1);
    }

    #[test]
    fn gateways_are_checked_as_neutron_does() {
        let bad = |m: &str| ("network.invalid_input", format!("Invalid input for operation: {m}."));
        assert_eq!(err(ipam("10.0.0.0/24", Gateway::Ip(ip("10.0.0.0")), None)), bad("Gateway is not valid on subnet"));
        assert_eq!(err(ipam("10.0.0.0/24", Gateway::Ip(ip("10.0.0.255")), None)), bad("Gateway is not valid on subnet"));
        assert_eq!(err(ipam("10.0.0.0/24", Gateway::Ip(ip("2001:db8::1")), None)), bad("gateway_ip '2001:db8::1' does not match the ip_version '4'"));
        // A gateway outside the CIDR is allowed: Neutron cannot tell where it is.
        let s = ipam("10.0.0.0/24", Gateway::Ip(ip("192.0.2.1")), None).unwrap();
        assert_eq!(s.pools(), [pool("10.0.0.1", "10.0.0.254")]);
        let s = ipam("10.0.0.0/24", Gateway::Ip(ip("10.0.0.100")), None).unwrap();
        assert_eq!(s.pools(), [pool("10.0.0.1", "10.0.0.99"), pool("10.0.0.101", "10.0.0.254")]);
        assert_eq!(err(ipam("0.0.0.0/0", Gateway::Default, None)), bad("0 is not allowed as CIDR prefix length"));
        assert_eq!(err(ipam("::/0", Gateway::Disabled, None)), bad("0 is not allowed as CIDR prefix length"));
    }

    #[test]
    fn pools_are_checked_as_neutron_does() {
        let pools = |p: Vec<IpRange>| err(ipam("10.0.0.0/24", Gateway::Default, Some(p)));
        assert_eq!(
            pools(vec![pool("10.0.0.20", "10.0.0.10")]),
            ("network.invalid_allocation_pool", "The allocation pool {'start': '10.0.0.20', 'end': '10.0.0.10'} is not valid.".into())
        );
        assert_eq!(pools(vec![pool("10.0.0.2", "2001:db8::1")]).0, "network.invalid_allocation_pool");
        assert_eq!(
            pools(vec![pool("2001:db8::2", "2001:db8::9")]),
            ("network.invalid_allocation_pool", "The allocation pool 2001:db8::2-2001:db8::9 is not valid.".into())
        );
        for (a, b) in [("10.0.0.0", "10.0.0.9"), ("10.0.0.250", "10.0.0.255"), ("10.0.1.2", "10.0.1.9")] {
            assert_eq!(
                pools(vec![pool("10.0.0.2", "10.0.0.3"), pool(a, b)]),
                ("network.out_of_bounds_allocation_pool", format!("The allocation pool {a}-{b} spans beyond the subnet cidr 10.0.0.0/24."))
            );
        }
        assert_eq!(
            pools(vec![pool("10.0.0.50", "10.0.0.60"), pool("10.0.0.2", "10.0.0.10"), pool("10.0.0.5", "10.0.0.7"), pool("10.0.0.60", "10.0.0.70")]),
            (
                "network.overlapping_allocation_pools",
                "Found overlapping allocation pools: 10.0.0.50-10.0.0.60 10.0.0.60-10.0.0.70 for subnet 10.0.0.0/24.".into()
            )
        );
        assert_eq!(
            pools(vec![pool("10.0.0.1", "10.0.0.9")]),
            ("network.gateway_conflict_with_allocation_pools", "Gateway ip 10.0.0.1 conflicts with allocation pool 10.0.0.1-10.0.0.9.".into())
        );
        let e = ipam("10.0.0.0/24", Gateway::Default, Some(vec![pool("10.0.0.1", "10.0.0.9")])).unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::Conflict);
        // Adjacent pools are not overlapping; they come back sorted and allocate as one run.
        let mut s = ipam("10.0.0.0/24", Gateway::Default, Some(vec![pool("10.0.0.11", "10.0.0.20"), pool("10.0.0.2", "10.0.0.10")])).unwrap();
        assert_eq!(s.pools(), [pool("10.0.0.2", "10.0.0.10"), pool("10.0.0.11", "10.0.0.20")]);
        assert_eq!((s.in_pools.range_count(), s.free_count()), (1, 19));
        assert_eq!(s.allocate(Some(ip("10.0.0.10"))), Ok(ip("10.0.0.10")));
        s.check_invariants().unwrap();
    }

    /// One step against a subnet: an offset is from 8 addresses below the CIDR to past its end.
    #[derive(Clone, Debug)]
    enum Op {
        Any,
        Specific(u16),
        Router(u16),
        Release(u16),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![3 => Just(Op::Any), 2 => any::<u16>().prop_map(Op::Specific), 1 => any::<u16>().prop_map(Op::Router), 2 => any::<u16>().prop_map(Op::Release)]
    }

    /// A subnet of 4 to 256 addresses anywhere in either version's space, and its gateway.
    fn subnet() -> impl Strategy<Value = (Cidr, Gateway)> {
        (any::<bool>(), 2u8..=8, any::<u128>(), 0u8..3, any::<u16>()).prop_map(|(v6, host_bits, base, gw, gw_off)| {
            let version = if v6 { IpVersion::V6 } else { IpVersion::V4 };
            let cidr = Cidr::new(from_u128(base & version.max_value(), version), version.bits() - host_bits).unwrap();
            let gateway = match gw {
                0 => Gateway::Default,
                1 => Gateway::Disabled,
                _ => Gateway::Ip(from_u128(cidr.first() + u128::from(gw_off) % cidr.size(), version)),
            };
            (cidr, gateway)
        })
    }

    /// Disjoint pools inside the bounds and clear of the gateway, from random (start, length)
    /// pairs, listed in a shuffled order.
    fn explicit_pools(cidr: &Cidr, gateway: Option<IpAddr>, pairs: &[(u16, u8)], reverse: bool) -> Vec<IpRange> {
        let Some((lo, hi)) = cidr.pool_bounds() else { return Vec::new() };
        let mut starts: Vec<(u128, u128)> = pairs.iter().map(|&(a, l)| (lo + u128::from(a) % (hi - lo + 1), u128::from(l % 16))).collect();
        starts.sort();
        let mut pools: Vec<IpRange> = Vec::new();
        for (s, l) in starts {
            let r = IpRange::from_u128(s, (s + l).min(hi), cidr.version());
            if pools.last().is_none_or(|p| p.last() < s) && !gateway.is_some_and(|g| r.contains(g)) {
                pools.push(r);
            }
        }
        if reverse {
            pools.reverse();
        }
        pools
    }

    proptest! {
        /// Random allocations and releases against a brute-force model: no address is handed out
        /// twice, automatic ones are the lowest free pool address, released ones can be had
        /// again, and every count and membership agrees with the model after every step.
        #[test]
        fn allocations_match_a_brute_force_model(
            (cidr, gateway) in subnet(),
            pool_pairs in prop::option::of((prop::collection::vec((any::<u16>(), any::<u8>()), 0..6), any::<bool>())),
            ops in prop::collection::vec(op(), 1..150),
        ) {
            let version = cidr.version();
            let resolved = match gateway {
                Gateway::Default => cidr.default_gateway(),
                Gateway::Disabled => None,
                Gateway::Ip(g) => Some(g),
            };
            let pools = pool_pairs.map(|(pairs, reverse)| explicit_pools(&cidr, resolved, &pairs, reverse));
            let mut s = match SubnetIpam::new(SUBNET, NET, cidr, gateway, pools.clone()) {
                Ok(s) => s,
                Err(e) => {
                    // Only an explicit IPv4 network or broadcast gateway is refused here.
                    prop_assert!(matches!(gateway, Gateway::Ip(g) if cidr.is_invalid_gateway(g)), "{e:?}");
                    return Ok(());
                }
            };
            let pool_model: BTreeSet<u128> =
                pools.unwrap_or_else(|| cidr.default_pools(resolved)).iter().flat_map(|p| p.first()..=p.last()).collect();
            let mut allocated: BTreeSet<u128> = BTreeSet::new();
            let valid = |v: u128, router: bool| {
                cidr.first() <= v && v <= cidr.last() && match version {
                    IpVersion::V4 => v != cidr.first() && v != cidr.last(),
                    IpVersion::V6 => router || v != cidr.first(),
                }
            };
            for op in ops {
                let addr = |off: u16| cidr.first().checked_add(u128::from(off) % (cidr.size() + 16)).and_then(|v| v.checked_sub(8)).filter(|v| *v <= version.max_value());
                match op {
                    Op::Any => {
                        let want = pool_model.iter().copied().find(|v| !allocated.contains(v));
                        match (s.allocate(None), want) {
                            (Ok(got), Some(v)) => {
                                prop_assert_eq!(to_u128(got), v);
                                allocated.insert(v);
                            }
                            (Err(e), None) => prop_assert_eq!(e.code, "network.ip_address_generation_failure"),
                            (got, want) => prop_assert!(false, "allocate(None) gave {got:?}, the model {want:?}"),
                        }
                    }
                    Op::Specific(off) | Op::Router(off) => {
                        let Some(v) = addr(off) else { continue };
                        let router = matches!(op, Op::Router(_));
                        let ip = from_u128(v, version);
                        let got = if router { s.allocate_for_router(Some(ip)) } else { s.allocate(Some(ip)) };
                        if !valid(v, router) {
                            prop_assert_eq!(got.unwrap_err().code, "network.invalid_ip_for_subnet");
                        } else if allocated.contains(&v) {
                            prop_assert_eq!(got.unwrap_err().code, "network.ip_address_already_allocated");
                        } else {
                            prop_assert_eq!(got, Ok(ip));
                            allocated.insert(v);
                        }
                    }
                    Op::Release(off) => {
                        let Some(v) = addr(off) else { continue };
                        let ip = from_u128(v, version);
                        let released = s.release(ip);
                        prop_assert_eq!(released, allocated.remove(&v));
                        if released {
                            prop_assert_eq!(s.clone().allocate_for_router(Some(ip)), Ok(ip));
                        }
                    }
                }
                prop_assert!(s.check_invariants().is_ok(), "{:?}", s.check_invariants());
                prop_assert_eq!(s.allocated_count(), allocated.len() as u128);
                prop_assert_eq!(s.free_count(), pool_model.iter().filter(|v| !allocated.contains(v)).count() as u128);
                for v in cidr.first()..=cidr.last() {
                    prop_assert_eq!(s.is_allocated(from_u128(v, version)), allocated.contains(&v), "address {}", v);
                }
            }
        }

        /// Random inserts, takes and releases near 0, near `u128::MAX` or anywhere: the ranges
        /// stay sorted, disjoint and non-adjacent, and hold exactly the model's values.
        #[test]
        fn ranges_stay_disjoint_and_merged(
            base in prop_oneof![Just(0u128), Just(u128::MAX - 255), 0..=u128::MAX - 255],
            ops in prop::collection::vec((0u8..4, any::<u8>(), 0u8..12), 1..200),
        ) {
            let mut s = IntervalSet::new();
            let mut model: BTreeSet<u128> = BTreeSet::new();
            for (kind, off, len) in ops {
                let v = base + u128::from(off);
                match kind {
                    0 => {
                        let end = base + u128::from(off.saturating_add(len));
                        let clash = model.range(v..=end).next().is_some();
                        prop_assert_eq!(s.overlaps_range(v, end), clash);
                        if !clash {
                            s.insert_range(v, end);
                            model.extend(v..=end);
                        }
                    }
                    1 => prop_assert_eq!(s.take(v), model.remove(&v)),
                    2 => prop_assert_eq!(s.release(v), model.insert(v)),
                    _ => prop_assert_eq!(s.take_first(), model.pop_first()),
                }
                prop_assert!(s.check_invariants().is_ok(), "{:?}", s.check_invariants());
                prop_assert_eq!(s.len(), model.len() as u128);
                prop_assert_eq!(s.contains(v), model.contains(&v));
                let expanded: Vec<u128> = s.ranges().flat_map(|(a, b)| a..=b).collect();
                prop_assert_eq!(expanded, model.iter().copied().collect::<Vec<_>>());
            }
        }
    }
}
