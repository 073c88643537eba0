//! The service catalog and `/v3/regions`, `/v3/services`, `/v3/endpoints`. The built-in part
//! is the cloud's region and the services orrery serves, at URLs built from the site's base
//! URL, with ids derived from the service type and URL so they stay the same across restarts;
//! it is read-only (403). Admins register more regions, services and endpoints through the
//! kernel (`orrery_kernel::identity::catalog`), and tokens list those too.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use orrery_kernel::hash::stable_hash;
use orrery_kernel::identity::catalog::{
    self as kcat, Catalog, EndpointGroup, EndpointGroupPatch, EndpointPatch, RegionPatch, ServicePatch, BUILTIN_SERVICES, INTERFACES,
};
use orrery_kernel::identity::Cmd;
use orrery_kernel::rng::Rng;
use orrery_kernel::{Error, Uuid};
use serde::Deserialize;
use serde_json::{json, Value};

use super::resources::parse_id;
use super::{admin_only, apply, ask, collection, read, v3_url, S};
use crate::error::ApiError;
use crate::util::{new_uuid, parse_json};
use crate::{AppState, Site};
use orrery_kernel::ask::identity as kask;

/// The path under the base URL of each built-in service type.
fn path_of(kind: &str) -> &'static str {
    match kind {
        "identity" => "/identity",
        "compute" => "/compute/v2.1",
        "placement" => "/placement",
        "network" => "/network",
        _ => "/image",
    }
}

/// Routes for regions, services and endpoints.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v3/regions", get(regions).post(create_region))
        .route("/v3/regions/{id}", get(region).put(create_region_with_id).patch(update_region).delete(delete_region))
        .route("/v3/services", get(services).post(create_service))
        .route("/v3/services/{id}", get(service).patch(update_service).delete(delete_service))
        .route("/v3/endpoints", get(endpoints).post(create_endpoint))
        .route("/v3/endpoints/{id}", get(endpoint).patch(update_endpoint).delete(delete_endpoint))
        .route("/v3/OS-EP-FILTER/endpoint_groups", get(groups).post(create_group))
        .route("/v3/OS-EP-FILTER/endpoint_groups/{id}", get(group).head(check_group).patch(update_group).delete(delete_group))
}

/// An endpoint, built in or registered, as the views list it.
struct Ep {
    id: String,
    service_id: String,
    interface: String,
    region: Option<String>,
    url: String,
    enabled: bool,
}

/// A service, built in or registered.
struct Svc {
    id: String,
    kind: String,
    name: Option<String>,
    description: Option<String>,
    enabled: bool,
}

fn builtin_services() -> Vec<Svc> {
    BUILTIN_SERVICES
        .iter()
        .map(|(kind, name, d)| Svc {
            id: kcat::builtin_service_id(kind).simple(),
            kind: kind.to_string(),
            name: Some(name.to_string()),
            description: Some(d.to_string()),
            enabled: true,
        })
        .collect()
}

fn builtin_endpoints(site: &Site) -> Vec<Ep> {
    let mut out = Vec::new();
    for (kind, ..) in BUILTIN_SERVICES {
        let url = format!("{}{}", site.base_url, path_of(kind));
        for interface in INTERFACES {
            let id = Rng::new(stable_hash(&format!("{interface} {url}"))).uuid().simple();
            out.push(Ep {
                id,
                service_id: kcat::builtin_service_id(kind).simple(),
                interface: interface.into(),
                region: Some(site.region.clone()),
                url: url.clone(),
                enabled: true,
            });
        }
    }
    out
}

fn all_services(reg: &Catalog) -> Vec<Svc> {
    let mut out = builtin_services();
    out.extend(reg.services.values().map(|s| Svc {
        id: s.id.simple(),
        kind: s.kind.clone(),
        name: s.name.clone(),
        description: s.description.clone(),
        enabled: s.enabled,
    }));
    out
}

fn all_endpoints(site: &Site, reg: &Catalog) -> Vec<Ep> {
    let mut out = builtin_endpoints(site);
    out.extend(reg.endpoints.values().map(|e| Ep {
        id: e.id.simple(),
        service_id: e.service.simple(),
        interface: e.interface.clone(),
        region: e.region.clone(),
        url: e.url.clone(),
        enabled: e.enabled,
    }));
    out
}

/// The catalog as a token shows it: every enabled service with its enabled endpoints.
pub fn catalog(site: &Site, reg: &Catalog) -> Value {
    let eps = all_endpoints(site, reg);
    let items: Vec<Value> = all_services(reg)
        .iter()
        .filter(|s| s.enabled)
        .map(|s| {
            let mine: Vec<Value> = eps
                .iter()
                .filter(|e| e.service_id == s.id && e.enabled)
                .map(|e| json!({"id": e.id, "interface": e.interface, "region": e.region, "region_id": e.region, "url": e.url}))
                .collect();
            json!({"id": s.id, "type": s.kind, "name": s.name.clone().unwrap_or_default(), "endpoints": mine})
        })
        .collect();
    json!(items)
}

/// The registered part of the catalog, for a token response.
pub async fn registered(s: &AppState) -> Result<Catalog, ApiError> {
    s.cloud.read(S, |k, _| k.identity().catalog.clone()).await
}

fn not_found(what: &str, id: &str) -> ApiError {
    ApiError::new(S, Error::not_found("identity.not_found", format!("Could not find {what}: {id}.")))
}

fn builtin(what: &str, id: &str) -> ApiError {
    ApiError::new(S, Error::forbidden("identity.forbidden", format!("The built-in {what} {id} is orrery's own and cannot be changed or deleted.")))
}

// ---------------------------------------------------------------- regions

fn region_json(base: &str, id: &str, description: &str, parent: Option<&str>) -> Value {
    json!({"id": id, "description": description, "parent_region_id": parent, "links": {"self": v3_url(base, &format!("regions/{id}"))}})
}

fn all_regions(site: &Site, reg: &Catalog) -> Vec<Value> {
    let mut out = vec![region_json(&site.base_url, &site.region, "", None)];
    out.extend(reg.regions.values().map(|r| region_json(&site.base_url, &r.id, &r.description, r.parent.as_deref())));
    out
}

async fn regions(State(s): State<AppState>, h: HeaderMap, Query(q): Query<BTreeMap<String, String>>) -> Result<Json<Value>, ApiError> {
    let reg = read(&s, &h, |k, _, _| Ok(k.identity().catalog.clone())).await?;
    let items = all_regions(&s.site, &reg).into_iter().filter(|r| q.get("parent_region_id").is_none_or(|p| r["parent_region_id"] == json!(p))).collect();
    Ok(Json(collection(&s.site.base_url, "regions", "regions", items)))
}

async fn region(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let reg = read(&s, &h, |k, _, _| Ok(k.identity().catalog.clone())).await?;
    let found = all_regions(&s.site, &reg).into_iter().find(|r| r["id"] == json!(id)).ok_or_else(|| not_found("region", &id))?;
    Ok(Json(json!({ "region": found })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegionBody<T> {
    region: T,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegionCreate {
    id: Option<String>,
    description: Option<String>,
    parent_region_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegionUpdate {
    description: Option<String>,
    #[serde(default, deserialize_with = "crate::util::nullable")]
    parent_region_id: Option<Option<String>>,
}

async fn create_region(State(s): State<AppState>, h: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let b: RegionBody<RegionCreate> = parse_json(S, &body)?;
    let r = b.region;
    let region = kcat::Region { id: r.id.unwrap_or_else(|| new_uuid().simple()), description: r.description.unwrap_or_default(), parent: r.parent_region_id };
    let r = ask(&s, &h, kask::create_region(region)).await?;
    Ok((StatusCode::CREATED, Json(json!({"region": region_json(&s.site.base_url, &r.id, &r.description, r.parent.as_deref())}))).into_response())
}

/// `PUT /v3/regions/{id}`: creates a region with the id in the path (one in the body must match).
async fn create_region_with_id(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    let b: RegionBody<RegionCreate> = parse_json(S, &body)?;
    let r = b.region;
    if r.id.as_ref().is_some_and(|x| *x != id) {
        return Err(ApiError::bad_request(S, "The region id in the body does not match the id in the URL."));
    }
    let region = kcat::Region { id, description: r.description.unwrap_or_default(), parent: r.parent_region_id };
    let r = ask(&s, &h, kask::create_region(region)).await?;
    Ok((StatusCode::CREATED, Json(json!({"region": region_json(&s.site.base_url, &r.id, &r.description, r.parent.as_deref())}))).into_response())
}

async fn update_region(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let b: RegionBody<RegionUpdate> = parse_json(S, &body)?;
    let patch = RegionPatch { description: b.region.description, parent: b.region.parent_region_id };
    let r = ask(&s, &h, kask::update_region(id, patch)).await?;
    Ok(Json(json!({"region": region_json(&s.site.base_url, &r.id, &r.description, r.parent.as_deref())})))
}

async fn delete_region(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    apply(&s, &h, Cmd::DeleteRegion { id }).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- services

fn service_json(base: &str, s: &Svc) -> Value {
    json!({
        "id": s.id, "type": s.kind, "name": s.name, "description": s.description, "enabled": s.enabled,
        "links": {"self": v3_url(base, &format!("services/{}", s.id))},
    })
}

fn svc_of(s: &kcat::Service) -> Svc {
    Svc { id: s.id.simple(), kind: s.kind.clone(), name: s.name.clone(), description: s.description.clone(), enabled: s.enabled }
}

async fn services(State(s): State<AppState>, h: HeaderMap, Query(q): Query<BTreeMap<String, String>>) -> Result<Json<Value>, ApiError> {
    let reg = read(&s, &h, |k, c, _| admin_only(c, "list_services").map(|()| k.identity().catalog.clone())).await?;
    let base = &s.site.base_url;
    let items = all_services(&reg).iter().filter(|sv| q.get("type").is_none_or(|t| *t == sv.kind)).map(|sv| service_json(base, sv)).collect();
    Ok(Json(collection(base, "services", "services", items)))
}

async fn service(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let reg = read(&s, &h, |k, c, _| admin_only(c, "get_service").map(|()| k.identity().catalog.clone())).await?;
    let all = all_services(&reg);
    let found = all.iter().find(|sv| sv.id == id).ok_or_else(|| not_found("service", &id))?;
    Ok(Json(json!({"service": service_json(&s.site.base_url, found)})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceBody<T> {
    service: T,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceCreate {
    #[serde(rename = "type")]
    kind: String,
    name: Option<String>,
    description: Option<String>,
    enabled: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceUpdate {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "crate::util::nullable")]
    name: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::util::nullable")]
    description: Option<Option<String>>,
    enabled: Option<bool>,
}

async fn create_service(State(s): State<AppState>, h: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let b: ServiceBody<ServiceCreate> = parse_json(S, &body)?;
    let v = b.service;
    let sv = kcat::Service { id: new_uuid(), kind: v.kind, name: v.name, description: v.description, enabled: v.enabled.unwrap_or(true) };
    let sv = ask(&s, &h, kask::create_service(sv)).await?;
    Ok((StatusCode::CREATED, Json(json!({"service": service_json(&s.site.base_url, &svc_of(&sv))}))).into_response())
}

async fn update_service(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let b: ServiceBody<ServiceUpdate> = parse_json(S, &body)?;
    let v = b.service;
    let sid = parse_id("service", &id)?;
    let sv = ask(&s, &h, kask::update_service(sid, ServicePatch { kind: v.kind, name: v.name, description: v.description, enabled: v.enabled })).await?;
    Ok(Json(json!({"service": service_json(&s.site.base_url, &svc_of(&sv))})))
}

async fn delete_service(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let sid = parse_id("service", &id)?;
    apply(&s, &h, Cmd::DeleteService { id: sid }).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- endpoints

fn endpoint_json(base: &str, e: &Ep) -> Value {
    json!({
        "id": e.id, "interface": e.interface, "region": e.region, "region_id": e.region,
        "service_id": e.service_id, "url": e.url, "enabled": e.enabled,
        "links": {"self": v3_url(base, &format!("endpoints/{}", e.id))},
    })
}

fn ep_of(e: &kcat::Endpoint) -> Ep {
    Ep { id: e.id.simple(), service_id: e.service.simple(), interface: e.interface.clone(), region: e.region.clone(), url: e.url.clone(), enabled: e.enabled }
}

async fn endpoints(State(s): State<AppState>, h: HeaderMap, Query(q): Query<BTreeMap<String, String>>) -> Result<Json<Value>, ApiError> {
    let reg = read(&s, &h, |k, c, _| admin_only(c, "list_endpoints").map(|()| k.identity().catalog.clone())).await?;
    let base = &s.site.base_url;
    let items = all_endpoints(&s.site, &reg)
        .iter()
        .filter(|e| q.get("interface").is_none_or(|i| *i == e.interface))
        .filter(|e| q.get("service_id").is_none_or(|i| *i == e.service_id))
        .filter(|e| q.get("region_id").is_none_or(|r| Some(r) == e.region.as_ref()))
        .map(|e| endpoint_json(base, e))
        .collect();
    Ok(Json(collection(base, "endpoints", "endpoints", items)))
}

async fn endpoint(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let reg = read(&s, &h, |k, c, _| admin_only(c, "get_endpoint").map(|()| k.identity().catalog.clone())).await?;
    let all = all_endpoints(&s.site, &reg);
    let e = all.iter().find(|e| e.id == id).ok_or_else(|| not_found("endpoint", &id))?;
    Ok(Json(json!({"endpoint": endpoint_json(&s.site.base_url, e)})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointBody<T> {
    endpoint: T,
}

/// Keystone also takes the legacy `region` name; `region_id` wins when both are given.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointCreate {
    service_id: String,
    interface: String,
    url: String,
    region_id: Option<String>,
    region: Option<String>,
    enabled: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointUpdate {
    service_id: Option<String>,
    interface: Option<String>,
    url: Option<String>,
    #[serde(default, deserialize_with = "crate::util::nullable")]
    region_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::util::nullable")]
    region: Option<Option<String>>,
    enabled: Option<bool>,
}

/// A service id from a body: one that is no id names no service (400, as Keystone).
fn service_ref(id: &str) -> Result<Uuid, ApiError> {
    id.parse::<Uuid>().map_err(|_| ApiError::bad_request(S, format!("Invalid input for field 'service_id': could not find service {id}.")))
}

async fn create_endpoint(State(s): State<AppState>, h: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let b: EndpointBody<EndpointCreate> = parse_json(S, &body)?;
    let v = b.endpoint;
    let e = kcat::Endpoint {
        id: new_uuid(),
        service: service_ref(&v.service_id)?,
        interface: v.interface,
        region: v.region_id.or(v.region),
        url: v.url,
        enabled: v.enabled.unwrap_or(true),
    };
    let e = ask(&s, &h, kask::create_endpoint(e)).await?;
    Ok((StatusCode::CREATED, Json(json!({"endpoint": endpoint_json(&s.site.base_url, &ep_of(&e))}))).into_response())
}

/// A built-in endpoint is read-only: 403 before the kernel's 404 for an unknown one.
fn check_not_builtin(site: &Site, id: &str) -> Result<(), ApiError> {
    if builtin_endpoints(site).iter().any(|e| e.id == id) {
        return Err(builtin("endpoint", id));
    }
    Ok(())
}

async fn update_endpoint(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let b: EndpointBody<EndpointUpdate> = parse_json(S, &body)?;
    check_not_builtin(&s.site, &id)?;
    let v = b.endpoint;
    let eid = id.parse::<Uuid>().map_err(|_| not_found("endpoint", &id))?;
    let service = v.service_id.as_deref().map(service_ref).transpose()?;
    let patch = EndpointPatch { service, interface: v.interface, region: v.region_id.or(v.region), url: v.url, enabled: v.enabled };
    let e = ask(&s, &h, kask::update_endpoint(eid, patch)).await?;
    Ok(Json(json!({"endpoint": endpoint_json(&s.site.base_url, &ep_of(&e))})))
}

async fn delete_endpoint(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    check_not_builtin(&s.site, &id)?;
    let eid = id.parse::<Uuid>().map_err(|_| not_found("endpoint", &id))?;
    apply(&s, &h, Cmd::DeleteEndpoint { id: eid }).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- endpoint groups (OS-EP-FILTER)

fn group_json(base: &str, g: &EndpointGroup) -> Value {
    let id = g.id.simple();
    json!({"id": id, "name": g.name, "description": g.description, "filters": g.filters, "links": {"self": v3_url(base, &format!("OS-EP-FILTER/endpoint_groups/{id}"))}})
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupBody<T> {
    endpoint_group: T,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupIn {
    name: Option<String>,
    #[serde(default, deserialize_with = "crate::util::nullable")]
    description: Option<Option<String>>,
    filters: Option<BTreeMap<String, String>>,
}

fn group_id(id: &str) -> Result<Uuid, ApiError> {
    id.parse::<Uuid>().map_err(|_| not_found("endpoint group", id))
}

async fn groups(State(s): State<AppState>, h: HeaderMap, Query(q): Query<BTreeMap<String, String>>) -> Result<Json<Value>, ApiError> {
    let reg = read(&s, &h, |k, c, _| admin_only(c, "list_endpoint_groups").map(|()| k.identity().catalog.clone())).await?;
    let base = &s.site.base_url;
    let items = reg.groups.values().filter(|g| q.get("name").is_none_or(|n| *n == g.name)).map(|g| group_json(base, g)).collect();
    Ok(Json(collection(base, "OS-EP-FILTER/endpoint_groups", "endpoint_groups", items)))
}

async fn find_group(s: &AppState, h: &HeaderMap, id: &str) -> Result<EndpointGroup, ApiError> {
    let gid = group_id(id)?;
    let reg = read(s, h, |k, c, _| admin_only(c, "get_endpoint_group").map(|()| k.identity().catalog.clone())).await?;
    reg.groups.get(&gid).cloned().ok_or_else(|| not_found("endpoint group", id))
}

async fn group(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let g = find_group(&s, &h, &id).await?;
    Ok(Json(json!({"endpoint_group": group_json(&s.site.base_url, &g)})))
}

async fn check_group(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    find_group(&s, &h, &id).await?;
    Ok(StatusCode::OK)
}

async fn create_group(State(s): State<AppState>, h: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let b: GroupBody<GroupIn> = parse_json(S, &body)?;
    let v = b.endpoint_group;
    let (Some(name), Some(filters)) = (v.name, v.filters) else {
        return Err(ApiError::bad_request(S, "Invalid input for field 'endpoint_group': 'name' and 'filters' are required."));
    };
    let g = EndpointGroup { id: new_uuid(), name, description: v.description.flatten(), filters };
    let g = ask(&s, &h, kask::create_endpoint_group(g)).await?;
    Ok((StatusCode::CREATED, Json(json!({"endpoint_group": group_json(&s.site.base_url, &g)}))).into_response())
}

async fn update_group(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let b: GroupBody<GroupIn> = parse_json(S, &body)?;
    let v = b.endpoint_group;
    let g =
        ask(&s, &h, kask::update_endpoint_group(group_id(&id)?, EndpointGroupPatch { name: v.name, description: v.description, filters: v.filters })).await?;
    Ok(Json(json!({"endpoint_group": group_json(&s.site.base_url, &g)})))
}

async fn delete_group(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    apply(&s, &h, Cmd::DeleteEndpointGroup { id: group_id(&id)? }).await?;
    Ok(StatusCode::NO_CONTENT)
}
