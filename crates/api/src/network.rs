//! The Networking API (Neutron v2.0) at `/network`: networks, subnets and ports ([`networks`],
//! [`subnets`], [`ports`]) and their quotas ([`quotas`]), with Neutron's request validation
//! ([`body`]) and list queries (filters, fields, sorting, marker paging; [`query`]). The version
//! documents and the extension list are here; the list names only what is served. Every rule
//! about who may do what, and every check that needs the cloud's state, is the kernel's
//! (`orrery_kernel::network`).
//!
//! Routers, floating IPs, security groups, subnet pools, segments, trunks, QoS, tags, RBAC and
//! the other Neutron collections answer 501 naming the path.

mod body;
mod networks;
mod ports;
mod query;
mod quotas;
mod subnets;

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use orrery_kernel::network::cmds::Cmd;
use orrery_kernel::{Auth, Command, Error, Uuid};
use serde_json::{json, Value};

use crate::compute::versions::{apply, auth, read};
use crate::error::{ApiError, Service};
use crate::AppState;

const S: Service = Service::Network;

/// The extensions orrery serves: (alias, name, description, updated), as neutron-lib and
/// Neutron describe them. Only what is really served is listed (the attributes it adds are
/// shown and, where Neutron lets them be written, written).
const EXTENSIONS: [(&str, &str, &str, &str); 15] = [
    ("binding", "Port Binding", "Expose port bindings of a virtual port to external application", "2014-02-03T10:00:00-00:00"),
    ("external-net", "Neutron external network", "Adds external network attribute to network resource.", "2013-01-14T10:00:00-00:00"),
    ("filter-validation", "Filter parameters validation", "Provides validation on filter parameters.", "2018-07-04T10:00:00-00:00"),
    ("net-mtu", "Network MTU", "Provides MTU attribute for a network resource.", "2015-03-25T10:00:00-00:00"),
    ("net-mtu-writable", "Network MTU (writable)", "Provides a writable MTU attribute for a network resource.", "2017-07-12T00:00:00-00:00"),
    ("pagination", "Pagination support", "Extension that indicates that pagination is enabled.", "2016-06-12T00:00:00-00:00"),
    ("port-security", "Port Security", "Provides port security", "2012-07-23T10:00:00-00:00"),
    ("project-id", "project_id field enabled", "Extension that indicates that project_id field is enabled.", "2016-09-09T09:09:09-09:09"),
    ("provider", "Provider Network", "Expose mapping of virtual networks to physical networks", "2012-09-07T10:00:00-00:00"),
    ("quota_details", "Quota details management support", "Expose functions for quotas usage statistics per project", "2017-02-10T10:00:00-00:00"),
    ("quotas", "Quota management support", "Expose functions for quotas management per project", "2012-07-29T10:00:00-00:00"),
    ("sorting", "Sorting support", "Extension that indicates that sorting is enabled.", "2016-06-12T00:00:00-00:00"),
    ("standard-attr-description", "standard-attr-description", "Extension to add descriptions to standard attributes", "2016-02-10T10:00:00-00:00"),
    (
        "standard-attr-revisions",
        "Resource revision numbers",
        "This extension will display the revision number of neutron resources.",
        "2016-04-11T10:00:00-00:00",
    ),
    (
        "standard-attr-timestamp",
        "Resource timestamps",
        "Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes.",
        "2016-09-12T10:00:00-00:00",
    ),
];

/// Routes of the Networking API, relative to its mount point.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(root))
        .route("/v2.0", get(no_slash))
        .route("/v2.0/", get(v2_index))
        .route("/v2.0/extensions", get(extensions))
        .route("/v2.0/extensions/{alias}", get(extension))
        .route("/v2.0/networks", get(networks::list).post(networks::create))
        .route("/v2.0/networks/{id}", get(networks::show).put(networks::update).delete(networks::delete))
        .route("/v2.0/subnets", get(subnets::list).post(subnets::create))
        .route("/v2.0/subnets/{id}", get(subnets::show).put(subnets::update).delete(subnets::delete))
        .route("/v2.0/ports", get(ports::list).post(ports::create))
        .route("/v2.0/ports/{id}", get(ports::show).put(ports::update).delete(ports::delete))
        .merge(quotas::routes())
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(crate::error::service_fallback(S))
}

/// `GET /network/`: Neutron's versions document, v2.0 current.
pub async fn root(State(s): State<AppState>) -> Json<Value> {
    let href = format!("{}/network/v2.0/", s.site.base_url);
    Json(json!({"versions": [{"id": "v2.0", "status": "CURRENT", "links": [{"rel": "self", "href": href}]}]}))
}

/// `GET /v2.0` without the slash: Neutron's 404 (its v2.0 index wants the slash).
async fn no_slash() -> ApiError {
    ApiError::not_found(S, "The resource could not be found.")
}

/// `GET /v2.0/`: the core resources and their collections.
async fn v2_index(State(s): State<AppState>) -> Json<Value> {
    let base = format!("{}/network/v2.0/", s.site.base_url);
    let resources: Vec<Value> = [("network", "networks"), ("subnet", "subnets"), ("port", "ports")]
        .iter()
        .map(|(name, collection)| json!({"name": name, "collection": collection, "links": [{"rel": "self", "href": format!("{base}{collection}")}]}))
        .collect();
    Json(json!({ "resources": resources }))
}

fn extension_json((alias, name, description, updated): (&str, &str, &str, &str)) -> Value {
    json!({"alias": alias, "name": name, "description": description, "updated": updated, "links": []})
}

/// `GET /v2.0/extensions`.
async fn extensions(State(s): State<AppState>, h: HeaderMap) -> Result<Json<Value>, ApiError> {
    read(&s, S, auth(&h, S)?, |_, _| Ok(())).await?;
    Ok(Json(json!({"extensions": EXTENSIONS.iter().copied().map(extension_json).collect::<Vec<_>>()})))
}

/// `GET /v2.0/extensions/{alias}`: one extension, or Neutron's 404.
async fn extension(State(s): State<AppState>, h: HeaderMap, axum::extract::Path(alias): axum::extract::Path<String>) -> Result<Json<Value>, ApiError> {
    read(&s, S, auth(&h, S)?, |_, _| Ok(())).await?;
    match EXTENSIONS.iter().copied().find(|e| e.0 == alias) {
        Some(e) => Ok(Json(json!({"extension": extension_json(e)}))),
        None => Err(ApiError::not_found(S, format!("Extension with alias {alias} does not exist"))),
    }
}

/// A method a served path does not take: Neutron's 405 (webob's `HTTPMethodNotAllowed`).
async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    let status = StatusCode::METHOD_NOT_ALLOWED;
    let msg = format!("The method {method} is not allowed for {}.", uri.path());
    (status, Json(crate::error::error_body(S, status, "api.method_not_allowed", &msg))).into_response()
}

/// The caller's credentials and whether the caller is an admin, resolved first so that a
/// request without a valid token is refused before its body is read (keystonemiddleware
/// answers before Neutron does).
async fn who(s: &AppState, h: &HeaderMap) -> Result<(Auth, bool), ApiError> {
    let auth = auth(h, S)?;
    let admin = read(s, S, auth.clone(), |_, c| Ok(c.admin)).await?;
    Ok((auth, admin))
}

/// The id in a resource path: Neutron's 404 for one that is not a UUID, as for an unknown one.
fn path_id(kind: &str, code: &'static str, text: &str) -> Result<Uuid, ApiError> {
    text.parse::<Uuid>().map_err(|_| ApiError::new(S, Error::not_found(code, format!("{kind} {text} could not be found."))))
}

/// Neutron refuses a body on DELETE.
fn no_body(body: &[u8]) -> Result<(), ApiError> {
    if body.is_empty() {
        Ok(())
    } else {
        Err(body::http_bad_request("Request body is not supported in DELETE."))
    }
}

/// `If-Match: revision_number=N` asks for a compare-and-swap the kernel does not offer
/// (Neutron's `revision-if-match` extension, not listed): Neutron's 400 without it.
fn no_if_match(h: &HeaderMap) -> Result<(), ApiError> {
    let asks =
        h.get_all("if-match").iter().filter_map(|v| v.to_str().ok()).any(|v| v.split(',').any(|t| t.trim().trim_matches('"').starts_with("revision_number=")));
    if asks {
        let msg = "Bad if-match request: This server does not support constraining operations based on revision numbers.";
        return Err(ApiError::new(S, Error::bad_request("network.bad_request", msg.into())));
    }
    Ok(())
}

/// The full URL of a collection, which Neutron's paging links start with.
fn collection_url(s: &AppState, collection: &str) -> String {
    format!("{}/network/v2.0/{collection}", s.site.base_url)
}

/// `DELETE /v2.0/{collection}/{id}`: Neutron refuses a body and `If-Match`, reads the path id
/// (404 for one that is not a UUID), runs the kernel's delete and answers 204 No Content.
async fn delete_resource(
    s: &AppState,
    h: &HeaderMap,
    body: &[u8],
    kind: &str,
    code: &'static str,
    id: &str,
    cmd: fn(Uuid) -> Cmd,
) -> Result<StatusCode, ApiError> {
    let auth = auth(h, S)?;
    no_body(body)?;
    no_if_match(h)?;
    let id = path_id(kind, code, id)?;
    apply(s, S, auth, Command::Network(cmd(id))).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests;
