//! `/v2.0/subnets`: list, show, create, update and delete, in Neutron's shapes, with
//! neutron-lib's validators for CIDRs, addresses, pools, name servers and host routes. The
//! address rules that need the subnet (defaults, pools, overlaps, gateways) are the kernel's.
//! Subnet pools, IPv6 address modes and prefix delegation are not built (501); nor are
//! changes to a subnet's gateway or pools.

use std::net::IpAddr;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use orrery_kernel::ask::network as kask;
use orrery_kernel::network::cidr::{validate_ip_address, Cidr, IpRange, IpVersion};
use orrery_kernel::network::cmds::{Cmd, NewSubnet, SubnetChange};
use orrery_kernel::network::ipam::Gateway;
use orrery_kernel::network::model::{HostRoute, Subnet};
use orrery_kernel::network::views;
use orrery_kernel::Error;
use serde_json::{json, Value};

use super::body::{bad_attr, bad_input, py, resource_body, to_int, unbuilt, uuid_like, Allow, Attr, Fields, Op, FIELD_SIZE};
use super::query::{self, Conv, Item, ListQuery, Pairs, Spec};
use super::{no_if_match, path_id, who, S};
use crate::compute::versions::{ask, auth, read};
use crate::error::ApiError;
use crate::util::iso;
use crate::AppState;

const NOT_FOUND: &str = "network.subnet_not_found";

/// neutron-lib's `IPV6_MODES`.
const IPV6_MODES: [&str; 3] = ["dhcpv6-stateful", "dhcpv6-stateless", "slaac"];

static SPEC: Spec = Spec {
    collection: "subnets",
    kind: "Subnet",
    not_found: NOT_FOUND,
    filters: &[
        ("id", Conv::Text),
        ("name", Conv::Text),
        ("ip_version", Conv::Int),
        ("network_id", Conv::Text),
        ("subnetpool_id", Conv::Text),
        ("cidr", Conv::Cidr),
        ("gateway_ip", Conv::Ip),
        ("tenant_id", Conv::Text),
        ("project_id", Conv::Text),
        ("enable_dhcp", Conv::Bool),
        ("ipv6_ra_mode", Conv::Text),
        ("ipv6_address_mode", Conv::Text),
        ("shared", Conv::Bool),
        ("description", Conv::Text),
        ("revision_number", Conv::Int),
    ],
    sort_keys: &[
        "id",
        "name",
        "ip_version",
        "network_id",
        "subnetpool_id",
        "cidr",
        "gateway_ip",
        "tenant_id",
        "project_id",
        "enable_dhcp",
        "ipv6_ra_mode",
        "ipv6_address_mode",
    ],
    hidden: &["shared"],
};

/// The attributes of a subnet, in the order Neutron checks them.
const ATTRS: &[Attr] = &[
    ("id", Allow::Never),
    ("name", Allow::Both),
    ("ip_version", Allow::Required),
    ("network_id", Allow::Required),
    ("subnetpool_id", Allow::Post),
    ("prefixlen", Allow::Post),
    ("cidr", Allow::Post),
    ("gateway_ip", Allow::Both),
    ("allocation_pools", Allow::Both),
    ("dns_nameservers", Allow::Both),
    ("host_routes", Allow::Both),
    ("tenant_id", Allow::Post),
    ("enable_dhcp", Allow::Both),
    ("ipv6_ra_mode", Allow::Post),
    ("ipv6_address_mode", Allow::Post),
    ("shared", Allow::Never),
    ("project_id", Allow::Post),
    ("description", Allow::Both),
    ("service_types", Allow::Both),
    ("created_at", Allow::Never),
    ("updated_at", Allow::Never),
    ("revision_number", Allow::Never),
    ("tags", Allow::Never),
];

/// A subnet, with its network's `shared` for filters.
fn render(s: &Subnet, shared: bool) -> Item {
    let project = s.project.simple();
    let v = json!({
        "id": s.id.to_string(), "name": s.name, "tenant_id": project, "project_id": project, "description": s.description,
        "network_id": s.network().to_string(), "ip_version": s.cidr().version().number(), "cidr": s.cidr().to_string(),
        "gateway_ip": s.ipam.gateway().map(|g| g.to_string()),
        "allocation_pools": s.ipam.pools().iter().map(|p| json!({"start": p.start.to_string(), "end": p.end.to_string()})).collect::<Vec<_>>(),
        "enable_dhcp": s.enable_dhcp,
        "dns_nameservers": s.dns_nameservers.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        "host_routes": s.host_routes.iter().map(|r| json!({"destination": r.destination.to_string(), "nexthop": r.nexthop.to_string()})).collect::<Vec<_>>(),
        "subnetpool_id": null, "ipv6_ra_mode": null, "ipv6_address_mode": null, "service_types": [], "tags": [],
        "created_at": iso(s.created), "updated_at": iso(s.updated), "revision_number": s.revision, "shared": shared,
    });
    let Value::Object(m) = v else { unreachable!("a JSON object") };
    m
}

/// A subnet and whether its network is shared.
fn with_shared(k: &orrery_kernel::Kernel, c: &orrery_kernel::Caller, s: &Subnet) -> (Subnet, bool) {
    let shared = views::network(k, c, s.network()).is_ok_and(|n| n.shared);
    (s.clone(), shared)
}

/// `GET /v2.0/subnets`.
pub(super) async fn list(State(s): State<AppState>, h: HeaderMap, Query(q): Query<Pairs>) -> Result<Json<Value>, ApiError> {
    let auth = auth(&h, S)?;
    let lq = ListQuery::parse(&SPEC, q);
    let subs = read(&s, S, auth, |k, c| Ok(views::subnets(k, c)?.map(|x| with_shared(k, c, x)).collect::<Vec<_>>())).await?;
    let lq = lq?;
    let page = lq.select(subs.iter().map(|(x, shared)| render(x, *shared)).collect(), None)?;
    Ok(Json(lq.body(&super::collection_url(&s, SPEC.collection), page)))
}

/// `GET /v2.0/subnets/{id}`.
pub(super) async fn show(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, Query(q): Query<Pairs>) -> Result<Json<Value>, ApiError> {
    let auth = auth(&h, S)?;
    let id = path_id("Subnet", NOT_FOUND, &id)?;
    let (sub, shared) = read(&s, S, auth, move |k, c| Ok(with_shared(k, c, views::subnet(k, c, id)?))).await?;
    Ok(Json(json!({"subnet": query::shape(&SPEC, &query::fields_of(&q), render(&sub, shared))})))
}

/// An address attribute (`gateway_ip`, a pool bound, a next hop): `validate_ip_address`.
fn ip(attr: &str, v: &Value) -> Result<IpAddr, ApiError> {
    let text = v.as_str().ok_or_else(|| bad_attr(attr, &format!("'{}' is not a valid IP address", py(v))))?;
    validate_ip_address(text).map_err(|r| bad_attr(attr, &r))
}

/// `_verify_dict_keys` (strict): the object's two keys, or the validator's reason.
fn two_keys<'a>(v: &'a Value, keys: [&str; 2]) -> Result<(&'a Value, &'a Value), String> {
    let expected = format!("{{'{}', '{}'}}", keys[0], keys[1]);
    let Value::Object(o) = v else {
        return Err(format!("Invalid input. '{}' must be a dictionary with keys: ['{}', '{}']", py(v), keys[0], keys[1]));
    };
    match (o.get(keys[0]), o.get(keys[1])) {
        (Some(a), Some(b)) if o.len() == 2 => Ok((a, b)),
        _ => {
            let provided = o.keys().map(|k| format!("'{k}'")).collect::<Vec<_>>().join(", ");
            Err(format!("Validation of dictionary's keys failed. Expected keys: {expected} Provided keys: {{{provided}}}"))
        }
    }
}

/// `allocation_pools`: `convert_allocation_pools_to_canonical_format`, then `validate_ip_pools`.
fn pools(v: Value) -> Result<Vec<IpRange>, ApiError> {
    let items = match v {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) if items.iter().all(Value::is_object) => items,
        _ => return Err(bad_input("Invalid data format for allocation pools")),
    };
    items
        .iter()
        .map(|p| {
            let (start, end) = two_keys(p, ["start", "end"]).map_err(|r| bad_attr("allocation_pools", &r))?;
            Ok(IpRange::new(ip("allocation_pools", start)?, ip("allocation_pools", end)?))
        })
        .collect()
}

/// `dns_nameservers`: `validate_nameservers` (which iterates what it is given, so a string is
/// its characters).
fn nameservers(v: Value) -> Result<Vec<IpAddr>, ApiError> {
    let hosts: Vec<Value> = match v {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        Value::String(s) => s.chars().map(|c| json!(c.to_string())).collect(),
        Value::Object(o) => o.keys().map(|k| json!(k)).collect(),
        other => return Err(bad_attr("dns_nameservers", &format!("Invalid data format for nameserver: '{}'", py(&other)))),
    };
    let mut out: Vec<IpAddr> = Vec::with_capacity(hosts.len());
    for (i, h) in hosts.iter().enumerate() {
        let addr = h.as_str().ok_or_else(|| format!("'{}' is not a valid IP address", py(h))).and_then(validate_ip_address);
        let addr = addr.map_err(|r| bad_attr("dns_nameservers", &format!("'{}' is not a valid nameserver. {r}", py(h))))?;
        if hosts[..i].contains(h) {
            return Err(bad_attr("dns_nameservers", &format!("Duplicate nameserver '{}'", py(h))));
        }
        out.push(addr);
    }
    Ok(out)
}

/// `validate_route_cidr`: a CIDR with no host bits that is not loopback.
fn route_cidr(v: &Value) -> Result<Cidr, String> {
    let invalid = || format!("'{}' is not a valid CIDR", py(v));
    let text = v.as_str().filter(|t| t.contains('/')).ok_or_else(invalid)?;
    let cidr = Cidr::parse(text).map_err(|_| invalid())?;
    let written: IpAddr = text.split('/').next().unwrap_or_default().parse().map_err(|_| invalid())?;
    if written != cidr.addr() {
        return Err(invalid());
    }
    let loopback = match cidr.version() {
        IpVersion::V4 => cidr.addr().is_loopback(),
        IpVersion::V6 => cidr.addr().is_loopback() && cidr.prefix() == 128,
    };
    if loopback {
        return Err(format!("'{text}' is not a routable CIDR"));
    }
    Ok(cidr)
}

/// `host_routes`: `validate_hostroutes`.
fn host_routes(v: Value) -> Result<Vec<HostRoute>, ApiError> {
    let items = match v {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        other => return Err(bad_attr("host_routes", &format!("Invalid data format for hostroute: '{}'", py(&other)))),
    };
    let mut out: Vec<HostRoute> = Vec::with_capacity(items.len());
    for (i, r) in items.iter().enumerate() {
        let bad = |reason: String| bad_attr("host_routes", &reason);
        let (dest, hop) = two_keys(r, ["destination", "nexthop"]).map_err(bad)?;
        let destination = route_cidr(dest).map_err(bad)?;
        let nexthop = ip("host_routes", hop)?;
        if items[..i].contains(r) {
            return Err(bad(format!("Duplicate hostroute '{}'", py(r))));
        }
        out.push(HostRoute { destination, nexthop });
    }
    Ok(out)
}

/// `ipv6_ra_mode` and `ipv6_address_mode`: one of Neutron's modes (not built) or absent.
fn ipv6_mode(f: &mut Fields, attr: &str) -> Result<(), ApiError> {
    match f.take(attr) {
        None => Ok(()),
        Some(Value::String(m)) if IPV6_MODES.contains(&m.as_str()) => {
            Err(unbuilt(format!("{attr} '{m}': IPv6 address modes (SLAAC, DHCPv6) are not built in orrery; leave {attr} out.")))
        }
        Some(other) => Err(bad_attr(attr, &format!("{} is not in valid_values", py(&other)))),
    }
}

/// `subnetpool_id`: null or absent; a pool (or prefix delegation) is not built.
fn subnetpool(f: &mut Fields) -> Result<(), ApiError> {
    match f.take("subnetpool_id") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(p)) if p == "prefix_delegation" => Err(unbuilt("IPv6 prefix delegation is not built in orrery.")),
        Some(v) if uuid_like(&v).is_some() => Err(unbuilt("Subnet pools are not built in orrery; give the subnet a cidr.")),
        Some(v) => Err(bad_attr("subnetpool_id", &format!("'{}' is not a valid UUID", py(&v)))),
    }
}

/// `ip_version`: `convert_to_int`, then 4 or 6.
fn ip_version(f: &mut Fields) -> Result<IpVersion, ApiError> {
    match f.int("ip_version")? {
        Some(4) => Ok(IpVersion::V4),
        Some(6) => Ok(IpVersion::V6),
        Some(v) => Err(bad_attr("ip_version", &format!("{v} is not in valid_values"))),
        None => Err(super::body::http_bad_request("Failed to parse request. Required attribute 'ip_version' not specified")),
    }
}

/// `cidr` and `prefixlen`, as `_create_subnet_precommit` takes them.
fn cidr(f: &mut Fields) -> Result<Cidr, ApiError> {
    let prefixlen = match f.take("prefixlen") {
        None => None,
        Some(v) => {
            let n = to_int(&v)?;
            if n < 0 {
                return Err(bad_attr("prefixlen", &format!("'{n}' should be non-negative")));
            }
            Some(n)
        }
    };
    let cidr = match f.take("cidr") {
        None => None,
        Some(Value::String(t)) => Some(Cidr::parse(&t).map_err(|e| ApiError::new(S, e))?),
        Some(v) => return Err(bad_input(&format!("{} is not in a CIDR format", py(&v)))),
    };
    let bad = |m: &str| ApiError::new(S, Error::bad_request("network.bad_request", format!("Bad subnets request: {m}.")));
    match (cidr, prefixlen) {
        (Some(_), Some(_)) => Err(bad("cidr and prefixlen must not be supplied together")),
        (Some(c), None) => Ok(c),
        (None, _) => Err(bad("a subnetpool must be specified in the absence of a cidr")),
    }
}

/// `POST /v2.0/subnets` (201).
pub(super) async fn create(State(s): State<AppState>, h: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let (auth, _) = who(&s, &h).await?;
    let mut f = resource_body(&body, "subnet", ATTRS, Op::Create)?;
    let name = f.name("name")?.unwrap_or_default();
    let version = ip_version(&mut f)?;
    let network = f.uuid("network_id")?.expect("required above");
    subnetpool(&mut f)?;
    let cidr = cidr(&mut f)?;
    let gateway = match f.take("gateway_ip") {
        None => Gateway::Default,
        Some(Value::Null) => Gateway::Disabled,
        Some(v) => Gateway::Ip(ip("gateway_ip", &v)?),
    };
    let pools = f.take("allocation_pools").map(pools).transpose()?;
    let dns_nameservers = f.take("dns_nameservers").map(nameservers).transpose()?.unwrap_or_default();
    let host_routes = f.take("host_routes").map(host_routes).transpose()?.unwrap_or_default();
    let project = f.project()?;
    let enable_dhcp = f.boolean("enable_dhcp")?.unwrap_or(true);
    ipv6_mode(&mut f, "ipv6_ra_mode")?;
    ipv6_mode(&mut f, "ipv6_address_mode")?;
    let description = f.string("description", FIELD_SIZE)?.unwrap_or_default();
    f.empty_only("service_types", "subnet service types are not built in orrery")?;
    f.finish();
    let spec = NewSubnet { network, project, name, description, version, cidr, gateway, pools, enable_dhcp, dns_nameservers, host_routes };
    let sub = ask(&s, S, auth.clone(), kask::create_subnet(spec)).await?;
    let shared = read(&s, S, auth, move |k, c| Ok(views::network(k, c, network).is_ok_and(|n| n.shared))).await?;
    Ok((StatusCode::CREATED, Json(json!({"subnet": query::shape(&SPEC, &[], render(&sub, shared))}))).into_response())
}

/// `PUT /v2.0/subnets/{id}`.
pub(super) async fn update(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let (auth, _) = who(&s, &h).await?;
    no_if_match(&h)?;
    let id = path_id("Subnet", NOT_FOUND, &id)?;
    let mut f = resource_body(&body, "subnet", ATTRS, Op::Update)?;
    let name = f.name("name")?;
    for attr in ["gateway_ip", "allocation_pools"] {
        if f.has(attr) {
            return Err(unbuilt(format!("Changing a subnet's {attr} is not built in orrery; create a new subnet instead.")));
        }
    }
    let dns_nameservers = f.take("dns_nameservers").map(nameservers).transpose()?;
    let host_routes = f.take("host_routes").map(host_routes).transpose()?;
    let enable_dhcp = f.boolean("enable_dhcp")?;
    let description = f.string("description", FIELD_SIZE)?;
    f.empty_only("service_types", "subnet service types are not built in orrery")?;
    f.finish();
    let change = SubnetChange { name, description, enable_dhcp, dns_nameservers, host_routes };
    let sub = ask(&s, S, auth.clone(), kask::update_subnet(id, change)).await?;
    let (sub, shared) = read(&s, S, auth, move |k, c| Ok(with_shared(k, c, &sub))).await?;
    Ok(Json(json!({"subnet": query::shape(&SPEC, &[], render(&sub, shared))})))
}

/// `DELETE /v2.0/subnets/{id}` (204); refused while ports hold its addresses.
pub(super) async fn delete(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<StatusCode, ApiError> {
    super::delete_resource(&s, &h, &body, "Subnet", NOT_FOUND, &id, |id| Cmd::DeleteSubnet { id }).await
}
