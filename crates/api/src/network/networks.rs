//! `/v2.0/networks`: list, show, create, update and delete, in Neutron's shapes. Provider
//! attributes are shown to admins only (Neutron's `get_network:provider:*` policy); a network
//! is always `ACTIVE`. Changing a network's provider segment is refused as ML2 refuses it,
//! except its segmentation id, which is not built (501).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use orrery_kernel::ask::network as kask;
use orrery_kernel::network::cmds::{Cmd, NetworkChange, NewNetwork};
use orrery_kernel::network::model::{Network, Segment, SegmentKind};
use orrery_kernel::network::views;
use orrery_kernel::Error;
use serde_json::{json, Value};

use super::body::{bad_input, resource_body, unbuilt, Allow, Attr, Fields, Op, FIELD_SIZE};
use super::query::{self, Conv, Item, ListQuery, Pairs, Spec};
use super::{no_if_match, path_id, who, S};
use crate::compute::versions::{ask, read};
use crate::error::ApiError;
use crate::util::iso;
use crate::AppState;

const NOT_FOUND: &str = "network.network_not_found";

/// The provider attributes, admins' only.
const PROVIDER: [&str; 3] = ["provider:network_type", "provider:physical_network", "provider:segmentation_id"];

static SPEC: Spec = Spec {
    collection: "networks",
    kind: "Network",
    not_found: NOT_FOUND,
    filters: &[
        ("id", Conv::Text),
        ("name", Conv::Text),
        ("admin_state_up", Conv::Bool),
        ("status", Conv::Text),
        ("tenant_id", Conv::Text),
        ("project_id", Conv::Text),
        ("shared", Conv::Bool),
        ("router:external", Conv::Bool),
        ("mtu", Conv::Int),
        ("description", Conv::Text),
        ("revision_number", Conv::Int),
        ("provider:network_type", Conv::Text),
        ("provider:physical_network", Conv::Text),
        ("provider:segmentation_id", Conv::Int),
    ],
    sort_keys: &["id", "name", "admin_state_up", "status", "tenant_id", "project_id", "mtu"],
    hidden: &[],
};

/// The attributes of a network, in the order Neutron checks them.
const ATTRS: &[Attr] = &[
    ("id", Allow::Never),
    ("name", Allow::Both),
    ("subnets", Allow::Never),
    ("admin_state_up", Allow::Both),
    ("status", Allow::Never),
    ("tenant_id", Allow::Post),
    ("shared", Allow::Both),
    ("project_id", Allow::Post),
    ("router:external", Allow::Both),
    ("mtu", Allow::Both),
    ("port_security_enabled", Allow::Both),
    ("provider:network_type", Allow::Both),
    ("provider:physical_network", Allow::Both),
    ("provider:segmentation_id", Allow::Both),
    ("description", Allow::Both),
    ("created_at", Allow::Never),
    ("updated_at", Allow::Never),
    ("revision_number", Allow::Never),
    ("tags", Allow::Never),
];

/// A network as `admin` or another caller sees it.
fn render(n: &Network, admin: bool) -> Item {
    let project = n.project.simple();
    let v = json!({
        "id": n.id.to_string(), "name": n.name, "tenant_id": project, "project_id": project,
        "description": n.description, "admin_state_up": n.admin_state_up, "status": "ACTIVE",
        "subnets": n.subnets.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        "shared": n.shared, "router:external": n.external, "mtu": n.mtu, "port_security_enabled": n.port_security,
        "created_at": iso(n.created), "updated_at": iso(n.updated), "revision_number": n.revision, "tags": [],
    });
    let Value::Object(mut m) = v else { unreachable!("a JSON object") };
    if admin {
        m.insert(PROVIDER[0].into(), json!(n.segment.kind.name()));
        m.insert(PROVIDER[1].into(), json!(n.segment.physical_network));
        m.insert(PROVIDER[2].into(), json!(n.segment.id));
    }
    m
}

/// `GET /v2.0/networks`.
pub(super) async fn list(State(s): State<AppState>, h: HeaderMap, Query(q): Query<Pairs>) -> Result<Json<Value>, ApiError> {
    let auth = crate::compute::versions::auth(&h, S)?;
    let lq = ListQuery::parse(&SPEC, q);
    let (nets, admin) = read(&s, S, auth, |k, c| Ok((views::networks(k, c)?.cloned().collect::<Vec<_>>(), c.admin))).await?;
    let lq = lq?;
    let page = lq.select(nets.iter().map(|n| render(n, admin)).collect(), None)?;
    Ok(Json(lq.body(&super::collection_url(&s, SPEC.collection), page)))
}

/// `GET /v2.0/networks/{id}`.
pub(super) async fn show(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, Query(q): Query<Pairs>) -> Result<Json<Value>, ApiError> {
    let auth = crate::compute::versions::auth(&h, S)?;
    let id = path_id("Network", NOT_FOUND, &id)?;
    let (net, admin) = read(&s, S, auth, move |k, c| Ok((views::network(k, c, id)?.clone(), c.admin))).await?;
    Ok(Json(json!({"network": query::shape(&SPEC, &query::fields_of(&q), render(&net, admin))})))
}

/// The provider attributes as given: type, physical network, segmentation id.
type Provider = (Option<String>, Option<String>, Option<i64>);

/// The provider segment asked for: None when no provider attribute is given; admins only.
fn provider(f: &mut Fields, admin: bool, rule: &str) -> Result<Option<Provider>, ApiError> {
    if let Some(attr) = PROVIDER.iter().find(|a| f.has(a)) {
        if !admin {
            return Err(ApiError::new(S, Error::forbidden("network.policy_not_authorized", format!("(rule:{rule}:{attr}) is disallowed by policy"))));
        }
    } else {
        return Ok(None);
    }
    let kind = f.string(PROVIDER[0], 32)?;
    let phys = match f.take(PROVIDER[1]) {
        None | Some(Value::Null) => None,
        Some(v) => Some(super::body::validate_string(&v, 64).map_err(|r| super::body::bad_attr(PROVIDER[1], &r))?),
    };
    let seg = match f.take(PROVIDER[2]) {
        None | Some(Value::Null) => None,
        Some(v) => Some(super::body::to_int(&v)?),
    };
    Ok(Some((kind, phys, seg)))
}

/// ML2's provider segment checks before the type driver's (which are the kernel's).
fn segment(kind: Option<String>, phys: Option<String>, seg: Option<i64>) -> Result<Segment, ApiError> {
    let kind = kind.ok_or_else(|| bad_input("network_type required"))?;
    let parsed = SegmentKind::parse(&kind).ok_or_else(|| bad_input(&format!("network_type value '{kind}' not supported")))?;
    // An id no segment can have (negative, or past 32 bits) is 0 here, out of every range the
    // kernel checks, so its message names the range.
    let id = seg.map(|v| u32::try_from(v).unwrap_or(0));
    Ok(Segment { kind: parsed, physical_network: phys, id })
}

/// `mtu`: `convert_to_int`, then non-negative.
fn mtu(f: &mut Fields) -> Result<Option<u32>, ApiError> {
    let Some(m) = f.int("mtu")? else { return Ok(None) };
    if m < 0 {
        return Err(super::body::bad_attr("mtu", &format!("'{m}' should be non-negative")));
    }
    Ok(Some(u32::try_from(m).unwrap_or(u32::MAX)))
}

/// `POST /v2.0/networks` (201).
pub(super) async fn create(State(s): State<AppState>, h: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let (auth, admin) = who(&s, &h).await?;
    let mut f = resource_body(&body, "network", ATTRS, Op::Create)?;
    let d = NewNetwork::default();
    let spec = NewNetwork {
        name: f.name("name")?.unwrap_or_default(),
        admin_state_up: f.boolean("admin_state_up")?.unwrap_or(d.admin_state_up),
        project: f.project()?,
        shared: f.boolean("shared")?.unwrap_or(false),
        external: f.boolean("router:external")?.unwrap_or(false),
        // 0, the attribute's default, is the most the segment carries.
        mtu: mtu(&mut f)?.filter(|m| *m > 0),
        port_security: f.boolean("port_security_enabled")?.unwrap_or(d.port_security),
        segment: provider(&mut f, admin, "create_network")?.map(|(k, p, i)| segment(k, p, i)).transpose()?,
        description: f.string("description", FIELD_SIZE)?.unwrap_or_default(),
    };
    f.finish();
    let net = ask(&s, S, auth, kask::create_network(spec)).await?;
    Ok((StatusCode::CREATED, Json(json!({"network": Value::Object(render(&net, admin))}))).into_response())
}

/// `PUT /v2.0/networks/{id}`.
pub(super) async fn update(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let (auth, admin) = who(&s, &h).await?;
    no_if_match(&h)?;
    let id = path_id("Network", NOT_FOUND, &id)?;
    let mut f = resource_body(&body, "network", ATTRS, Op::Update)?;
    let change = NetworkChange {
        name: f.name("name")?,
        admin_state_up: f.boolean("admin_state_up")?,
        shared: f.boolean("shared")?,
        external: f.boolean("router:external")?,
        mtu: mtu(&mut f)?,
        port_security: f.boolean("port_security_enabled")?,
        description: f.string("description", FIELD_SIZE)?,
    };
    if let Some(asked) = provider(&mut f, admin, "update_network")? {
        let current = read(&s, S, auth.clone(), move |k, c| Ok(views::network(k, c, id)?.segment.clone())).await?;
        same_segment(&current, asked)?;
    }
    f.finish();
    let net = ask(&s, S, auth, kask::update_network(id, change)).await?;
    Ok(Json(json!({"network": Value::Object(render(&net, admin))})))
}

/// `_update_provider_network_attributes`: the type and physical network cannot change; a new
/// segmentation id is not built.
fn same_segment(current: &Segment, (kind, phys, seg): Provider) -> Result<(), ApiError> {
    let kind_changes = kind.is_some_and(|k| k != current.kind.name());
    let phys_changes = phys.is_some_and(|p| Some(&p) != current.physical_network.as_ref());
    if kind_changes || phys_changes {
        return Err(bad_input("Plugin does not support updating the following provider network attributes: provider:network_type, provider:physical_network"));
    }
    if seg.is_some_and(|v| Some(v) != current.id.map(i64::from)) {
        return Err(unbuilt("Changing a network's provider:segmentation_id is not built in orrery."));
    }
    Ok(())
}

/// `DELETE /v2.0/networks/{id}` (204); refused while ports use it.
pub(super) async fn delete(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<StatusCode, ApiError> {
    super::delete_resource(&s, &h, &body, "Network", NOT_FOUND, &id, |id| Cmd::DeleteNetwork { id }).await
}
