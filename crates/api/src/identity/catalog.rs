//! The service catalog, built from the site's base URL and region, and the read-only
//! `/v3/regions`, `/v3/services` and `/v3/endpoints` views of it. Ids are derived from the
//! URLs, so they stay the same across restarts.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use orrery_kernel::hash::stable_hash;
use orrery_kernel::rng::Rng;
use orrery_kernel::Error;
use serde_json::{json, Value};

use super::{admin_only, collection, read, v3_url};
use crate::error::ApiError;
use crate::{AppState, Site};

/// (type, name, path under the base URL, description) of every service orrery serves.
const SERVICES: [(&str, &str, &str, &str); 4] = [
    ("identity", "keystone", "/identity", "Identity (Keystone v3)"),
    ("compute", "nova", "/compute/v2.1", "Compute (Nova v2.1)"),
    ("placement", "placement", "/placement", "Placement"),
    ("image", "glance", "/image", "Image (Glance v2)"),
];

/// The interfaces each endpoint is listed under.
const INTERFACES: [&str; 3] = ["public", "internal", "admin"];

/// Routes for regions, services and endpoints.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v3/regions", get(regions))
        .route("/v3/regions/{id}", get(region))
        .route("/v3/services", get(services))
        .route("/v3/services/{id}", get(service))
        .route("/v3/endpoints", get(endpoints))
        .route("/v3/endpoints/{id}", get(endpoint))
}

/// A stable, random-looking 32-hex id derived from `seed`.
fn stable_id(seed: &str) -> String {
    Rng::new(stable_hash(seed)).uuid().simple()
}

struct Endpoint {
    id: String,
    service_id: String,
    interface: &'static str,
    url: String,
}

fn service_id(kind: &str) -> String {
    stable_id(&format!("service {kind}"))
}

fn endpoints_of(site: &Site) -> Vec<Endpoint> {
    let mut out = Vec::new();
    for (kind, _, path, _) in SERVICES {
        let url = format!("{}{path}", site.base_url);
        for interface in INTERFACES {
            let id = stable_id(&format!("{interface} {url}"));
            out.push(Endpoint { id, service_id: service_id(kind), interface, url: url.clone() });
        }
    }
    out
}

/// The catalog as a token shows it.
pub fn catalog(site: &Site) -> Value {
    let eps = endpoints_of(site);
    let items: Vec<Value> = SERVICES
        .iter()
        .map(|(kind, name, _, _)| {
            let sid = service_id(kind);
            let mine: Vec<Value> = eps
                .iter()
                .filter(|e| e.service_id == sid)
                .map(|e| json!({"id": e.id, "interface": e.interface, "region": site.region, "region_id": site.region, "url": e.url}))
                .collect();
            json!({"id": sid, "type": kind, "name": name, "endpoints": mine})
        })
        .collect();
    json!(items)
}

fn region_json(site: &Site) -> Value {
    json!({
        "id": site.region, "description": "", "parent_region_id": null,
        "links": {"self": v3_url(&site.base_url, &format!("regions/{}", site.region))},
    })
}

async fn regions(State(s): State<AppState>, h: HeaderMap) -> Result<Json<Value>, ApiError> {
    read(&s, &h, |_, _, _| Ok(())).await?;
    Ok(Json(collection(&s.site.base_url, "regions", "regions", vec![region_json(&s.site)])))
}

async fn region(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    read(&s, &h, |_, _, _| Ok(())).await?;
    if id != s.site.region {
        return Err(ApiError::not_found(super::S, format!("Could not find region: {id}.")));
    }
    Ok(Json(json!({"region": region_json(&s.site)})))
}

fn service_json(site: &Site, kind: &str, name: &str, description: &str) -> Value {
    let id = service_id(kind);
    json!({
        "id": id, "type": kind, "name": name, "description": description, "enabled": true,
        "links": {"self": v3_url(&site.base_url, &format!("services/{id}"))},
    })
}

async fn services(State(s): State<AppState>, h: HeaderMap, Query(q): Query<BTreeMap<String, String>>) -> Result<Json<Value>, ApiError> {
    read(&s, &h, |_, c, _| admin_only(c, "list_services")).await?;
    let items =
        SERVICES.iter().filter(|(kind, ..)| q.get("type").is_none_or(|t| t == kind)).map(|(kind, name, _, d)| service_json(&s.site, kind, name, d)).collect();
    Ok(Json(collection(&s.site.base_url, "services", "services", items)))
}

async fn service(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    read(&s, &h, |_, c, _| admin_only(c, "get_service")).await?;
    let found = SERVICES.iter().find(|(kind, ..)| service_id(kind) == id);
    let (kind, name, _, d) = found.ok_or_else(|| ApiError::new(super::S, Error::not_found("identity.not_found", format!("Could not find service: {id}."))))?;
    Ok(Json(json!({"service": service_json(&s.site, kind, name, d)})))
}

fn endpoint_json(site: &Site, e: &Endpoint) -> Value {
    json!({
        "id": e.id, "interface": e.interface, "region": site.region, "region_id": site.region,
        "service_id": e.service_id, "url": e.url, "enabled": true,
        "links": {"self": v3_url(&site.base_url, &format!("endpoints/{}", e.id))},
    })
}

async fn endpoints(State(s): State<AppState>, h: HeaderMap, Query(q): Query<BTreeMap<String, String>>) -> Result<Json<Value>, ApiError> {
    read(&s, &h, |_, c, _| admin_only(c, "list_endpoints")).await?;
    let items = endpoints_of(&s.site)
        .iter()
        .filter(|e| q.get("interface").is_none_or(|i| i == e.interface))
        .filter(|e| q.get("service_id").is_none_or(|i| *i == e.service_id))
        .filter(|_| q.get("region_id").is_none_or(|r| *r == s.site.region))
        .map(|e| endpoint_json(&s.site, e))
        .collect();
    Ok(Json(collection(&s.site.base_url, "endpoints", "endpoints", items)))
}

async fn endpoint(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    read(&s, &h, |_, c, _| admin_only(c, "get_endpoint")).await?;
    let eps = endpoints_of(&s.site);
    let e = eps
        .iter()
        .find(|e| e.id == id)
        .ok_or_else(|| ApiError::new(super::S, Error::not_found("identity.not_found", format!("Could not find endpoint: {id}."))))?;
    Ok(Json(json!({"endpoint": endpoint_json(&s.site, e)})))
}
