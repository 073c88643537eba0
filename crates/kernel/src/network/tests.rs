//! Tests of the network service's commands and views, through the kernel's own state.

use std::net::IpAddr;

use proptest::prelude::*;

use super::cidr::{Cidr, IpVersion};
use super::cmds::{apply, Cmd, IpRequest, NetworkChange, NewNetwork, NewPort, NewSubnet, PortChange, Reply};
use super::ipam::Gateway;
use super::model::{mac_text, parse_mac, Network, Port, Segment, SegmentKind, Subnet, TENANT_VNIS};
use super::views;
use crate::compute::quotas::tests::{caller, kernel};
use crate::ids::Uuid;
use crate::ports::Core;
use crate::{Caller, ErrorKind, Kernel, Result};

fn run(k: &mut Kernel, c: &Caller, cmd: Cmd) -> Result<Option<Reply>> {
    let mut core = Core::new(k.now, k.spec.as_ref().expect("test spec"), &mut k.rng, &mut k.timers);
    let r = apply(&mut k.network, &mut core, c, cmd);
    k.network.check_invariants().expect("indexes agree after every command");
    r
}

fn network(k: &mut Kernel, c: &Caller, name: &str) -> Network {
    match run(k, c, Cmd::CreateNetwork(Box::new(NewNetwork { name: name.into(), ..NewNetwork::default() }))).expect("network") {
        Some(Reply::Network(n)) => *n,
        other => panic!("unexpected {other:?}"),
    }
}

fn subnet_spec(net: Uuid, cidr: &str) -> NewSubnet {
    let cidr = Cidr::parse(cidr).unwrap();
    NewSubnet {
        network: net,
        project: None,
        name: "s".into(),
        description: String::new(),
        version: cidr.version(),
        cidr,
        gateway: Gateway::Default,
        pools: None,
        enable_dhcp: true,
        dns_nameservers: vec![],
        host_routes: vec![],
    }
}

fn subnet(k: &mut Kernel, c: &Caller, net: Uuid, cidr: &str) -> Subnet {
    match run(k, c, Cmd::CreateSubnet(Box::new(subnet_spec(net, cidr)))).expect("subnet") {
        Some(Reply::Subnet(s)) => *s,
        other => panic!("unexpected {other:?}"),
    }
}

fn port_spec(net: Uuid, ips: Option<Vec<IpRequest>>) -> NewPort {
    NewPort {
        network: net,
        project: None,
        name: String::new(),
        description: String::new(),
        mac: None,
        fixed_ips: ips,
        device_id: String::new(),
        device_owner: String::new(),
        admin_state_up: true,
        port_security: None,
        host: String::new(),
    }
}

fn port(k: &mut Kernel, c: &Caller, net: Uuid, ips: Option<Vec<IpRequest>>) -> Result<Port> {
    run(k, c, Cmd::CreatePort(Box::new(port_spec(net, ips)))).map(|r| match r {
        Some(Reply::Port(p)) => *p,
        other => panic!("unexpected {other:?}"),
    })
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn code(r: Result<impl std::fmt::Debug>) -> (ErrorKind, &'static str) {
    let e = r.expect_err("refused");
    (e.kind, e.code)
}

#[test]
fn ports_get_distinct_addresses_and_macs_and_give_them_back() {
    let mut k = kernel();
    let c = caller(&k, 1, false);
    let net = network(&mut k, &c, "web");
    assert_eq!((net.segment.kind, net.segment.id, net.mtu), (SegmentKind::Vxlan, Some(TENANT_VNIS.0), 1450));
    let s = subnet(&mut k, &c, net.id, "10.0.0.0/24");
    assert_eq!((s.ipam.gateway(), s.ipam.pools()[0].to_string()), (Some(ip("10.0.0.1")), "10.0.0.2-10.0.0.254".to_string()));
    let ports: Vec<Port> = (0..3).map(|_| port(&mut k, &c, net.id, None).unwrap()).collect();
    let ips: Vec<IpAddr> = ports.iter().map(|p| p.fixed_ips[0].ip).collect();
    assert_eq!(ips, vec![ip("10.0.0.2"), ip("10.0.0.3"), ip("10.0.0.4")]);
    assert!(ports.iter().all(|p| mac_text(p.mac).starts_with("fa:16:3e:")));
    let fixed = port(&mut k, &c, net.id, Some(vec![IpRequest { subnet: None, ip: Some(ip("10.0.0.50")) }])).unwrap();
    assert_eq!(fixed.fixed_ips[0].subnet, s.id);
    let again = port(&mut k, &c, net.id, Some(vec![IpRequest { subnet: None, ip: Some(ip("10.0.0.50")) }]));
    assert_eq!(code(again), (ErrorKind::Conflict, "network.ip_address_already_allocated"));
    let outside = port(&mut k, &c, net.id, Some(vec![IpRequest { subnet: Some(s.id), ip: Some(ip("10.0.1.5")) }]));
    assert_eq!(code(outside), (ErrorKind::BadRequest, "network.invalid_ip_for_subnet"));
    run(&mut k, &c, Cmd::DeletePort { id: ports[1].id }).unwrap();
    assert_eq!(port(&mut k, &c, net.id, None).unwrap().fixed_ips[0].ip, ip("10.0.0.3"), "a released address is reused");
    let in_use = run(&mut k, &c, Cmd::DeleteNetwork { id: net.id });
    assert_eq!(code(in_use), (ErrorKind::Conflict, "network.network_in_use"));
    assert_eq!(code(run(&mut k, &c, Cmd::DeleteSubnet { id: s.id })), (ErrorKind::Conflict, "network.subnet_in_use"));
    for p in views::ports(&k, &c, Some(net.id)).unwrap().map(|p| p.id).collect::<Vec<_>>() {
        run(&mut k, &c, Cmd::DeletePort { id: p }).unwrap();
    }
    assert_eq!(k.network.subnets[&s.id].ipam.allocated_count(), 0, "every address is free again");
    run(&mut k, &c, Cmd::DeleteNetwork { id: net.id }).unwrap();
    assert!(k.network.subnets.is_empty() && k.network.networks.is_empty());
    assert_eq!(network(&mut k, &c, "again").segment.id, Some(TENANT_VNIS.0), "the VXLAN id came back");
}

#[test]
fn subnets_refuse_overlaps_and_mismatched_versions() {
    let mut k = kernel();
    let c = caller(&k, 1, false);
    let net = network(&mut k, &c, "n");
    subnet(&mut k, &c, net.id, "10.0.0.0/16");
    let overlap = run(&mut k, &c, Cmd::CreateSubnet(Box::new(subnet_spec(net.id, "10.0.5.0/24"))));
    let e = overlap.unwrap_err();
    assert_eq!((e.kind, e.code), (ErrorKind::BadRequest, "network.invalid_input"));
    assert!(e.message().contains("overlaps with another subnet"), "{}", e.message());
    let mut wrong = subnet_spec(net.id, "2001:db8::/64");
    wrong.version = IpVersion::V4;
    assert_eq!(code(run(&mut k, &c, Cmd::CreateSubnet(Box::new(wrong)))), (ErrorKind::BadRequest, "network.invalid_input"));
    let other = network(&mut k, &c, "other");
    subnet(&mut k, &c, other.id, "10.0.5.0/24");
    let v6 = subnet(&mut k, &c, net.id, "2001:db8::/64");
    let p = port(&mut k, &c, net.id, None).unwrap();
    assert_eq!(p.fixed_ips.len(), 2, "one address of each version");
    assert_eq!(p.fixed_ips[1], super::model::FixedIp { subnet: v6.id, ip: ip("2001:db8::1") });
}

#[test]
fn other_projects_see_nothing_and_only_admins_set_admin_attributes() {
    let mut k = kernel();
    let (a, b, admin) = (caller(&k, 1, false), caller(&k, 2, false), caller(&k, 3, true));
    let net = network(&mut k, &a, "private");
    assert_eq!(views::network(&k, &b, net.id).unwrap_err().kind, ErrorKind::NotFound);
    assert_eq!(views::networks(&k, &b).unwrap().count(), 0);
    assert_eq!(code(port(&mut k, &b, net.id, None)), (ErrorKind::NotFound, "network.network_not_found"));
    let shared = NewNetwork { name: "s".into(), shared: true, ..NewNetwork::default() };
    assert_eq!(code(run(&mut k, &a, Cmd::CreateNetwork(Box::new(shared.clone())))), (ErrorKind::Forbidden, "network.policy_not_authorized"));
    let shared = match run(&mut k, &admin, Cmd::CreateNetwork(Box::new(shared))).unwrap() {
        Some(Reply::Network(n)) => *n,
        other => panic!("{other:?}"),
    };
    subnet(&mut k, &admin, shared.id, "192.168.0.0/24");
    assert!(views::network(&k, &b, shared.id).is_ok(), "a shared network is seen by all");
    let theirs = port(&mut k, &b, shared.id, None).unwrap();
    let pick = Some(vec![IpRequest { subnet: None, ip: Some(ip("192.168.0.9")) }]);
    assert_eq!(code(port(&mut k, &b, shared.id, pick)), (ErrorKind::Forbidden, "network.policy_not_authorized"), "only the network's owner picks addresses");
    assert!(views::port(&k, &a, theirs.id).is_err(), "a port on a shared network is its project's");
    let bind = PortChange { host: Some("az1-r01-h01".into()), ..PortChange::default() };
    assert_eq!(
        code(run(&mut k, &b, Cmd::UpdatePort { id: theirs.id, change: Box::new(bind.clone()) })),
        (ErrorKind::Forbidden, "network.policy_not_authorized")
    );
    match run(&mut k, &admin, Cmd::UpdatePort { id: theirs.id, change: Box::new(bind) }).unwrap() {
        Some(Reply::Port(p)) => assert_eq!((p.status(), p.revision), ("ACTIVE", 2)),
        other => panic!("{other:?}"),
    }
    let unshare = NetworkChange { shared: Some(false), ..NetworkChange::default() };
    assert_eq!(code(run(&mut k, &admin, Cmd::UpdateNetwork { id: shared.id, change: unshare })), (ErrorKind::Conflict, "network.invalid_shared_setting"));
}

#[test]
fn provider_segments_are_never_given_twice() {
    let mut k = kernel();
    let admin = caller(&k, 3, true);
    let vlan = |id| NewNetwork {
        name: "v".into(),
        segment: Some(Segment { kind: SegmentKind::Vlan, physical_network: Some("physnet1".into()), id: Some(id) }),
        ..NewNetwork::default()
    };
    run(&mut k, &admin, Cmd::CreateNetwork(Box::new(vlan(100)))).unwrap();
    assert_eq!(code(run(&mut k, &admin, Cmd::CreateNetwork(Box::new(vlan(100))))), (ErrorKind::Conflict, "network.vlan_id_in_use"));
    assert_eq!(code(run(&mut k, &admin, Cmd::CreateNetwork(Box::new(vlan(5000))))), (ErrorKind::BadRequest, "network.invalid_input"));
    let vx = NewNetwork { segment: Some(Segment { kind: SegmentKind::Vxlan, physical_network: None, id: Some(2) }), ..NewNetwork::default() };
    run(&mut k, &admin, Cmd::CreateNetwork(Box::new(vx.clone()))).unwrap();
    assert_eq!(code(run(&mut k, &admin, Cmd::CreateNetwork(Box::new(vx)))), (ErrorKind::Conflict, "network.tunnel_id_in_use"));
    let ids: Vec<u32> = (0..3).map(|_| network(&mut k, &admin, "t").segment.id.unwrap()).collect();
    assert_eq!(ids, vec![1, 3, 4], "tenant networks skip the id taken by hand");
}

#[test]
fn macs_parse_and_stay_unique_per_network() {
    assert_eq!(parse_mac("fa:16:3e:00:00:01"), Some(0xfa163e000001));
    assert_eq!(parse_mac("FA-16-3E-00-00-01"), Some(0xfa163e000001));
    assert_eq!(parse_mac("01:00:5e:00:00:01"), None, "multicast");
    assert_eq!(parse_mac("fa:16:3e:00:00"), None);
    let mut k = kernel();
    let c = caller(&k, 1, false);
    let (n1, n2) = (network(&mut k, &c, "a"), network(&mut k, &c, "b"));
    let with_mac = |net| NewPort { mac: Some(0xfa163e000001), fixed_ips: Some(vec![]), ..port_spec(net, None) };
    run(&mut k, &c, Cmd::CreatePort(Box::new(with_mac(n1.id)))).unwrap();
    run(&mut k, &c, Cmd::CreatePort(Box::new(with_mac(n2.id)))).unwrap();
    assert_eq!(code(run(&mut k, &c, Cmd::CreatePort(Box::new(with_mac(n1.id))))), (ErrorKind::Conflict, "network.mac_address_in_use"));
}

#[test]
fn an_untouched_service_hashes_as_nothing_and_replays_alike() {
    let k = kernel();
    let before = k.state_hash();
    assert!(k.network.is_empty());
    let build = || {
        let mut k = kernel();
        let c = caller(&k, 1, false);
        let net = network(&mut k, &c, "n");
        subnet(&mut k, &c, net.id, "10.1.0.0/24");
        port(&mut k, &c, net.id, None).unwrap();
        k
    };
    let (a, b) = (build(), build());
    assert_eq!(a.state_hash(), b.state_hash(), "the same commands give the same state");
    assert_ne!(a.state_hash(), before);
}

#[test]
fn port_updates_swap_addresses_all_or_nothing() {
    let mut k = kernel();
    let c = caller(&k, 1, false);
    let net = network(&mut k, &c, "n");
    let s = subnet(&mut k, &c, net.id, "10.2.0.0/29");
    let p = port(&mut k, &c, net.id, None).unwrap();
    let other = port(&mut k, &c, net.id, None).unwrap();
    let to = |addr: &str| PortChange { fixed_ips: Some(vec![IpRequest { subnet: Some(s.id), ip: Some(ip(addr)) }]), ..PortChange::default() };
    let taken = run(&mut k, &c, Cmd::UpdatePort { id: p.id, change: Box::new(to(&other.fixed_ips[0].ip.to_string())) });
    assert_eq!(code(taken), (ErrorKind::Conflict, "network.ip_address_already_allocated"));
    assert_eq!(k.network.ports[&p.id].fixed_ips, p.fixed_ips, "a refused update keeps the old address");
    assert!(k.network.subnets[&s.id].ipam.is_allocated(p.fixed_ips[0].ip));
    run(&mut k, &c, Cmd::UpdatePort { id: p.id, change: Box::new(to("10.2.0.6")) }).unwrap();
    assert!(!k.network.subnets[&s.id].ipam.is_allocated(p.fixed_ips[0].ip), "the old address is free");
}

proptest! {
    /// Creating and deleting ports in any order never gives one address to two ports, and
    /// the indexes always agree with the tables (checked after every command by `run`).
    #[test]
    fn no_address_is_ever_held_twice(ops in prop::collection::vec((any::<bool>(), 0usize..8, prop::option::of(0u8..8)), 1..60)) {
        let mut k = kernel();
        let c = caller(&k, 1, false);
        let net = network(&mut k, &c, "n");
        let s = subnet(&mut k, &c, net.id, "10.3.0.0/28");
        let mut live: Vec<Uuid> = Vec::new();
        for (create, pick, addr) in ops {
            if create || live.is_empty() {
                let req = addr.map(|a| vec![IpRequest { subnet: Some(s.id), ip: Some(ip(&format!("10.3.0.{}", a + 2))) }]);
                if let Ok(p) = port(&mut k, &c, net.id, req) {
                    live.push(p.id);
                }
            } else {
                let id = live.remove(pick % live.len());
                run(&mut k, &c, Cmd::DeletePort { id }).unwrap();
            }
            let held: Vec<IpAddr> = k.network.ports.values().flat_map(|p| p.fixed_ips.iter().map(|f| f.ip)).collect();
            let distinct: std::collections::BTreeSet<&IpAddr> = held.iter().collect();
            prop_assert_eq!(distinct.len(), held.len());
        }
    }
}

#[test]
fn quotas_are_counted_as_resources_come_and_go() {
    let mut k = kernel();
    let (c, admin) = (caller(&k, 1, false), caller(&k, 3, true));
    let set = |network, port| Cmd::SetQuota { project: Uuid(1), network, subnet: None, port };
    assert_eq!(code(run(&mut k, &c, set(Some(1), None))), (ErrorKind::Forbidden, "network.policy_not_authorized"));
    run(&mut k, &admin, set(Some(1), Some(2))).unwrap();
    let net = network(&mut k, &c, "only");
    assert_eq!(code(run(&mut k, &c, Cmd::CreateNetwork(Box::default()))), (ErrorKind::OverQuota, "network.over_quota"));
    subnet(&mut k, &c, net.id, "10.9.0.0/24");
    let p = port(&mut k, &c, net.id, None).unwrap();
    port(&mut k, &c, net.id, None).unwrap();
    assert_eq!(code(port(&mut k, &c, net.id, None)), (ErrorKind::OverQuota, "network.over_quota"));
    run(&mut k, &c, Cmd::DeletePort { id: p.id }).unwrap();
    port(&mut k, &c, net.id, None).unwrap();
    assert_eq!(views::quota(&k, &c, Uuid(1)).unwrap().1, super::model::Counts { network: 1, subnet: 1, port: 2 });
    assert_eq!(code(run(&mut k, &admin, set(Some(-2), None))), (ErrorKind::BadRequest, "network.http_bad_request"));
    run(&mut k, &admin, Cmd::ResetQuota { project: Uuid(1) }).unwrap();
    assert_eq!(views::quota(&k, &c, Uuid(1)).unwrap().0, super::model::DEFAULT_QUOTAS);
    assert!(views::quota(&k, &caller(&k, 2, false), Uuid(1)).is_err());
}
