//! `/v2.0/ports`: list, show, create, update and delete, in Neutron's shapes. The binding
//! attributes but `binding:vnic_type` are shown to admins only (Neutron's policy); a port bound
//! to a host is wired at once by the modelled data plane (`ovs`, `ACTIVE`).
//!
//! Security groups, allowed address pairs and extra DHCP options are not built: a port shows
//! them as empty lists, and asking for any is 501. So are vNIC types other than `normal`,
//! binding profiles and changing a port's MAC.

use std::net::IpAddr;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use orrery_kernel::ask::network as kask;
use orrery_kernel::network::cidr::validate_ip_address;
use orrery_kernel::network::cmds::{mac_param, Cmd, IpRequest, NewPort, PortChange};
use orrery_kernel::network::model::{mac_text, Port};
use orrery_kernel::network::views;
use orrery_kernel::{Error, Uuid};
use serde_json::{json, Value};

use super::body::{bad_attr, py, resource_body, unbuilt, uuid_like, validate_string, Allow, Attr, Fields, Op, FIELD_SIZE};
use super::query::{self, Conv, Item, ListQuery, Pairs, Spec};
use super::{no_if_match, path_id, who, S};
use crate::compute::versions::{ask, auth, read};
use crate::error::ApiError;
use crate::util::iso;
use crate::AppState;

const NOT_FOUND: &str = "network.port_not_found";

/// The binding attributes only admins see (`get_port:binding:*`).
const ADMIN_ONLY: [&str; 4] = ["binding:host_id", "binding:vif_type", "binding:vif_details", "binding:profile"];

static SPEC: Spec = Spec {
    collection: "ports",
    kind: "Port",
    not_found: NOT_FOUND,
    filters: &[
        ("id", Conv::Text),
        ("name", Conv::Text),
        ("network_id", Conv::Text),
        ("admin_state_up", Conv::Bool),
        ("mac_address", Conv::Mac),
        ("fixed_ips", Conv::FixedIps),
        ("device_id", Conv::Text),
        ("device_owner", Conv::Text),
        ("tenant_id", Conv::Text),
        ("project_id", Conv::Text),
        ("status", Conv::Text),
        ("binding:host_id", Conv::Text),
        ("description", Conv::Text),
        ("revision_number", Conv::Int),
    ],
    sort_keys: &["id", "name", "network_id", "admin_state_up", "mac_address", "device_id", "device_owner", "tenant_id", "project_id", "status"],
    hidden: &[],
};

/// The attributes of a port, in the order Neutron checks them.
const ATTRS: &[Attr] = &[
    ("id", Allow::Never),
    ("name", Allow::Both),
    ("network_id", Allow::Required),
    ("admin_state_up", Allow::Both),
    ("mac_address", Allow::Both),
    ("fixed_ips", Allow::Both),
    ("device_id", Allow::Both),
    ("device_owner", Allow::Both),
    ("tenant_id", Allow::Post),
    ("status", Allow::Never),
    ("project_id", Allow::Post),
    ("binding:vif_type", Allow::Never),
    ("binding:vif_details", Allow::Never),
    ("binding:vnic_type", Allow::Both),
    ("binding:host_id", Allow::Both),
    ("binding:profile", Allow::Both),
    ("port_security_enabled", Allow::Both),
    ("security_groups", Allow::Both),
    ("allowed_address_pairs", Allow::Both),
    ("extra_dhcp_opts", Allow::Both),
    ("description", Allow::Both),
    ("created_at", Allow::Never),
    ("updated_at", Allow::Never),
    ("revision_number", Allow::Never),
    ("tags", Allow::Never),
];

/// A port as `admin` or another caller sees it.
fn render(p: &Port, admin: bool) -> Item {
    let project = p.project.simple();
    let bound = !p.host.is_empty();
    let v = json!({
        "id": p.id.to_string(), "name": p.name, "tenant_id": project, "project_id": project, "description": p.description,
        "network_id": p.network.to_string(), "mac_address": mac_text(p.mac),
        "fixed_ips": p.fixed_ips.iter().map(|f| json!({"subnet_id": f.subnet.to_string(), "ip_address": f.ip.to_string()})).collect::<Vec<_>>(),
        "device_id": p.device_id, "device_owner": p.device_owner, "admin_state_up": p.admin_state_up, "status": p.status(),
        "port_security_enabled": p.port_security, "security_groups": [], "allowed_address_pairs": [], "extra_dhcp_opts": [],
        "binding:vnic_type": "normal", "binding:host_id": p.host, "binding:vif_type": if bound { "ovs" } else { "unbound" },
        "binding:vif_details": if bound { json!({"connectivity": "l2", "port_filter": p.port_security}) } else { json!({}) }, "binding:profile": {},
        "created_at": iso(p.created), "updated_at": iso(p.updated), "revision_number": p.revision, "tags": [],
    });
    let Value::Object(mut m) = v else { unreachable!("a JSON object") };
    if !admin {
        for a in ADMIN_ONLY {
            m.remove(a);
        }
    }
    m
}

/// The networks a `network_id` filter names, when every value is an id: the ports to list are
/// then read from the kernel's index of ports by network.
fn networks_filtered(lq: &ListQuery) -> Option<Vec<Uuid>> {
    lq.filter_values("network_id").map(|vals| {
        let mut ids: Vec<Uuid> = vals.iter().filter_map(|v| v.as_str()?.parse().ok()).collect();
        ids.sort();
        ids.dedup();
        ids
    })
}

/// `GET /v2.0/ports`.
pub(super) async fn list(State(s): State<AppState>, h: HeaderMap, Query(q): Query<Pairs>) -> Result<Json<Value>, ApiError> {
    let auth = auth(&h, S)?;
    let lq = ListQuery::parse(&SPEC, q);
    let nets = lq.as_ref().ok().and_then(networks_filtered);
    let marker = lq.as_ref().ok().and_then(|l| l.marker.as_ref()).and_then(|m| m.parse::<Uuid>().ok());
    let (ports, marker, admin) = read(&s, S, auth, move |k, c| {
        let ports: Vec<Port> = match &nets {
            Some(nets) => {
                let mut all = Vec::new();
                for net in nets {
                    all.extend(views::ports(k, c, Some(*net))?.cloned());
                }
                all
            }
            None => views::ports(k, c, None)?.cloned().collect(),
        };
        let marker = marker.and_then(|m| views::port(k, c, m).ok().cloned());
        Ok((ports, marker, c.admin))
    })
    .await?;
    let lq = lq?;
    let page = lq.select(ports.iter().map(|p| render(p, admin)).collect(), marker.map(|m| render(&m, admin)))?;
    Ok(Json(lq.body(&super::collection_url(&s, SPEC.collection), page)))
}

/// `GET /v2.0/ports/{id}`.
pub(super) async fn show(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, Query(q): Query<Pairs>) -> Result<Json<Value>, ApiError> {
    let auth = auth(&h, S)?;
    let id = path_id("Port", NOT_FOUND, &id)?;
    let (port, admin) = read(&s, S, auth, move |k, c| Ok((views::port(k, c, id)?.clone(), c.admin))).await?;
    Ok(Json(json!({"port": query::shape(&SPEC, &query::fields_of(&q), render(&port, admin))})))
}

/// `fixed_ips`: `validate_fixed_ips` (a list of objects, each with an optional `ip_address`,
/// no address twice, and an optional `subnet_id`).
fn fixed_ips(v: Value) -> Result<Vec<IpRequest>, ApiError> {
    let bad = |r: String| bad_attr("fixed_ips", &r);
    let Value::Array(items) = v else { return Err(bad(format!("Invalid data format for fixed IP: '{}'", py(&v)))) };
    let mut seen: Vec<&Value> = Vec::new();
    let mut out = Vec::with_capacity(items.len());
    for item in &items {
        let Value::Object(o) = item else { return Err(bad(format!("Invalid data format for fixed IP: '{}'", py(item)))) };
        let ip: Option<IpAddr> = match o.get("ip_address") {
            None => None,
            Some(a) if seen.contains(&a) => return Err(bad(format!("Duplicate IP address '{}'", py(a)))),
            Some(a) => {
                seen.push(a);
                let text = a.as_str().ok_or_else(|| bad(format!("'{}' is not a valid IP address", py(a))))?;
                Some(validate_ip_address(text).map_err(bad)?)
            }
        };
        let subnet = match o.get("subnet_id") {
            None => None,
            Some(s) => Some(uuid_like(s).ok_or_else(|| bad(format!("'{}' is not a valid UUID", py(s))))?),
        };
        out.push(IpRequest { subnet, ip });
    }
    Ok(out)
}

/// `mac_address`: `validate_mac_address`.
fn mac(v: Value) -> Result<u64, ApiError> {
    let text = v.as_str().ok_or_else(|| bad_attr("mac_address", &format!("'{}' is not a valid MAC address", py(&v))))?;
    mac_param(text).map_err(|e| ApiError::new(S, e))
}

/// `binding:host_id`: a host name (null unbinds).
fn host(f: &mut Fields) -> Result<Option<String>, ApiError> {
    match f.take("binding:host_id") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(String::new())),
        Some(v) => validate_string(&v, FIELD_SIZE).map(Some).map_err(|r| bad_attr("binding:host_id", &r)),
    }
}

/// The binding attributes orrery does not model beyond their defaults: `binding:vnic_type`
/// `normal` and an empty `binding:profile`.
fn binding_defaults(f: &mut Fields) -> Result<(), ApiError> {
    match f.take("binding:vnic_type") {
        None => {}
        Some(Value::String(t)) if t == "normal" => {}
        Some(Value::String(t)) if VNIC_TYPES.contains(&t.as_str()) => {
            return Err(unbuilt(format!("binding:vnic_type '{t}': only normal vNICs are modelled in orrery.")));
        }
        Some(v) => return Err(bad_attr("binding:vnic_type", &format!("{} is not in valid_values", py(&v)))),
    }
    match f.take("binding:profile") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Object(o)) if o.is_empty() => Ok(()),
        Some(Value::Object(_)) => Err(unbuilt("binding:profile is not stored in orrery; leave it out or empty.")),
        Some(v) => Err(bad_attr("binding:profile", &format!("'{}' is not a dictionary", py(&v)))),
    }
}

/// neutron-lib's `VNIC_TYPES`.
const VNIC_TYPES: [&str; 11] = [
    "normal",
    "direct",
    "macvtap",
    "baremetal",
    "direct-physical",
    "virtio-forwarder",
    "smart-nic",
    "vdpa",
    "accelerator-direct",
    "accelerator-direct-physical",
    "remote-managed",
];

/// The list attributes of features not built.
fn unbuilt_lists(f: &mut Fields) -> Result<(), ApiError> {
    f.empty_only("security_groups", "security groups are not built in orrery yet; ports have none")?;
    f.empty_only("allowed_address_pairs", "allowed address pairs are not built in orrery")?;
    f.empty_only("extra_dhcp_opts", "extra DHCP options are not built in orrery")
}

/// `POST /v2.0/ports` (201).
pub(super) async fn create(State(s): State<AppState>, h: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let (auth, admin) = who(&s, &h).await?;
    let mut f = resource_body(&body, "port", ATTRS, Op::Create)?;
    let name = f.name("name")?.unwrap_or_default();
    let network = f.uuid("network_id")?.expect("required above");
    let admin_state_up = f.boolean("admin_state_up")?.unwrap_or(true);
    let mac = f.take("mac_address").map(mac).transpose()?;
    let fixed_ips = f.take("fixed_ips").map(fixed_ips).transpose()?;
    let device_id = f.string("device_id", FIELD_SIZE)?.unwrap_or_default();
    let device_owner = f.string("device_owner", FIELD_SIZE)?.unwrap_or_default();
    let project = f.project()?;
    binding_defaults(&mut f)?;
    let host = host(&mut f)?.unwrap_or_default();
    let port_security = f.boolean("port_security_enabled")?;
    unbuilt_lists(&mut f)?;
    let description = f.string("description", FIELD_SIZE)?.unwrap_or_default();
    f.finish();
    let spec = NewPort { network, project, name, description, mac, fixed_ips, device_id, device_owner, admin_state_up, port_security, host };
    let port = ask(&s, S, auth, kask::create_port(spec)).await?;
    Ok((StatusCode::CREATED, Json(json!({"port": Value::Object(render(&port, admin))}))).into_response())
}

/// `PUT /v2.0/ports/{id}`.
pub(super) async fn update(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let (auth, admin) = who(&s, &h).await?;
    no_if_match(&h)?;
    let id = path_id("Port", NOT_FOUND, &id)?;
    let mut f = resource_body(&body, "port", ATTRS, Op::Update)?;
    let name = f.name("name")?;
    let admin_state_up = f.boolean("admin_state_up")?;
    if let Some(v) = f.take("mac_address") {
        mac(v)?;
        if !admin {
            return Err(ApiError::new(S, Error::forbidden("network.policy_not_authorized", "(rule:update_port:mac_address) is disallowed by policy".into())));
        }
        return Err(unbuilt("Changing a port's mac_address is not built in orrery."));
    }
    let fixed_ips = f.take("fixed_ips").map(fixed_ips).transpose()?;
    let device_id = f.string("device_id", FIELD_SIZE)?;
    let device_owner = f.string("device_owner", FIELD_SIZE)?;
    binding_defaults(&mut f)?;
    let host = host(&mut f)?;
    let port_security = f.boolean("port_security_enabled")?;
    unbuilt_lists(&mut f)?;
    let description = f.string("description", FIELD_SIZE)?;
    f.finish();
    let change = PortChange { name, description, fixed_ips, device_id, device_owner, admin_state_up, port_security, host };
    let port = ask(&s, S, auth, kask::update_port(id, change)).await?;
    Ok(Json(json!({"port": Value::Object(render(&port, admin))})))
}

/// `DELETE /v2.0/ports/{id}` (204), releasing its addresses.
pub(super) async fn delete(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<StatusCode, ApiError> {
    super::delete_resource(&s, &h, &body, "Port", NOT_FOUND, &id, |id| Cmd::DeletePort { id }).await
}
