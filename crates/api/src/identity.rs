//! The Identity API (Keystone v3), mounted at `/identity`: version discovery, tokens, the
//! service catalog, domains, projects, users, groups, roles and role assignments.
//!
//! Passwords are hashed and verified here with argon2 on the blocking pool; the kernel only
//! ever stores and compares hash strings. Sub-modules: [`auth`] (tokens), [`catalog`]
//! (catalog, regions, services, endpoints), [`resources`] (CRUD), [`assignments`] (grants,
//! memberships, assignment listings, implied roles) and [`domain_config`] (per-domain driver
//! options).

pub mod appcreds;
pub mod assignments;
pub mod auth;
pub mod catalog;
pub mod credentials;
pub mod domain_config;
pub mod records;
pub mod resources;
pub mod trusts;

use std::collections::BTreeMap;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use orrery_kernel::ask::Ask;
use orrery_kernel::identity::{self as kid, Domain, Group, Project, Role, TokenDigest, User};
use orrery_kernel::{Auth, Caller, Command, Error, Kernel, Request, Time};
use serde_json::{json, Value};

use crate::error::{service_fallback, ApiError, Service};
use crate::AppState;

const S: Service = Service::Identity;

/// Routes of the Identity API, relative to its mount point.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(versions))
        .route("/v3", get(version))
        .route("/v3/", get(version))
        .merge(auth::routes())
        .merge(catalog::routes())
        .merge(resources::routes())
        .merge(assignments::routes())
        .merge(credentials::routes())
        .merge(domain_config::routes())
        .merge(records::routes())
        .merge(appcreds::routes())
        .merge(trusts::routes())
        .fallback(service_fallback(S))
}

fn version_doc(base: &str) -> Value {
    json!({
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": format!("{base}/identity/v3/")}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
    })
}

/// `GET /identity`: the list of versions, with 300 Multiple Choices as Keystone answers.
pub async fn versions(State(s): State<AppState>) -> Response {
    let body = json!({"versions": {"values": [version_doc(&s.site.base_url)]}});
    let location = [("location", format!("{}/identity/v3/", s.site.base_url))];
    (StatusCode::MULTIPLE_CHOICES, location, Json(body)).into_response()
}

/// `GET /identity/v3`: the one version this API serves.
async fn version(State(s): State<AppState>) -> Json<Value> {
    Json(json!({"version": version_doc(&s.site.base_url)}))
}

/// The caller's credentials from `X-Auth-Token`; 401 when missing.
pub(crate) fn auth_of(headers: &HeaderMap) -> Result<Auth, ApiError> {
    match headers.get("x-auth-token").and_then(|v| v.to_str().ok()) {
        Some(t) if !t.trim().is_empty() => Ok(Auth::Token(TokenDigest::of(t.trim()))),
        _ => Err(ApiError::new(S, Error::unauthorized("identity.unauthorized", kid::tokens::UNAUTHORIZED.into()))),
    }
}

/// Runs `f` against the kernel as the caller the request's token resolves to.
pub(crate) async fn read<R, F>(s: &AppState, headers: &HeaderMap, f: F) -> Result<R, ApiError>
where
    R: Send + 'static,
    F: FnOnce(&Kernel, &Caller, Time) -> orrery_kernel::Result<R> + Send + 'static,
{
    let auth = auth_of(headers)?;
    let res = s
        .cloud
        .read(S, move |k, now| {
            let caller = k.identity().resolve(&auth, now)?;
            f(k, &caller, now)
        })
        .await?;
    res.map_err(|e| ApiError::new(S, e))
}

/// Applies an identity command as the request's caller; its reply says nothing beyond success.
pub(crate) async fn apply(s: &AppState, headers: &HeaderMap, cmd: kid::Cmd) -> Result<(), ApiError> {
    s.cloud.apply(S, Request { auth: auth_of(headers)?, command: Command::Identity(cmd) }).await.map(drop)
}

/// Applies a typed identity command as `auth` and answers its typed reply.
pub(crate) async fn ask_as<R>(s: &AppState, auth: Auth, ask: Ask<R>) -> Result<R, ApiError> {
    s.cloud.ask(S, auth, ask).await
}

/// Applies a typed identity command as the request's caller and answers its typed reply.
pub(crate) async fn ask<R>(s: &AppState, headers: &HeaderMap, ask: Ask<R>) -> Result<R, ApiError> {
    ask_as(s, auth_of(headers)?, ask).await
}

/// Keystone's policy refusal.
pub(crate) fn forbidden(action: &str) -> Error {
    Error::forbidden("identity.forbidden", format!("You are not authorized to perform the requested action: identity:{action}."))
}

/// Refuses `action` unless the caller is an admin.
pub(crate) fn admin_only(c: &Caller, action: &str) -> orrery_kernel::Result<()> {
    if c.admin {
        Ok(())
    } else {
        Err(forbidden(action))
    }
}

/// `{base}/identity/v3/{path}`.
pub(crate) fn v3_url(base: &str, path: &str) -> String {
    format!("{base}/identity/v3/{path}")
}

/// The `links` object of a collection.
pub(crate) fn list_links(base: &str, path: &str) -> Value {
    json!({"self": v3_url(base, path), "previous": null, "next": null})
}

/// A collection body: `{key: items, links}`.
pub(crate) fn collection(base: &str, path: &str, key: &str, items: Vec<Value>) -> Value {
    json!({ key: items, "links": list_links(base, path) })
}

/// Keystone's timestamp form: microseconds and a `Z`.
pub(crate) fn ts(t: Time) -> String {
    format!("{}Z", crate::util::iso_micros(t))
}

/// A boolean query filter (`true`/`false`/`1`/`0`, any case); a bare key counts as true.
pub(crate) fn bool_filter(q: &BTreeMap<String, String>, key: &str) -> orrery_kernel::Result<Option<bool>> {
    match q.get(key).map(|v| v.to_ascii_lowercase()) {
        None => Ok(None),
        Some(v) if ["", "true", "1", "yes", "on"].contains(&v.as_str()) => Ok(Some(true)),
        Some(v) if ["false", "0", "no", "off"].contains(&v.as_str()) => Ok(Some(false)),
        Some(v) => Err(Error::bad_request("identity.bad_request", format!("Invalid value for query parameter '{key}': '{v}' is not a boolean."))),
    }
}

/// A domain's JSON.
pub fn domain_json(base: &str, d: &Domain) -> Value {
    json!({
        "id": d.id, "name": d.name, "description": d.description, "enabled": d.enabled,
        "tags": [], "options": {},
        "links": {"self": v3_url(base, &format!("domains/{}", d.id))},
    })
}

/// A project's JSON; a top-level project's `parent_id` is its domain, as Keystone shows it.
pub fn project_json(base: &str, p: &Project) -> Value {
    let id = p.id.simple();
    json!({
        "id": id, "name": p.name, "domain_id": p.domain, "description": p.description,
        "enabled": p.enabled, "is_domain": false,
        "parent_id": p.parent.map_or(p.domain.clone(), |x| x.simple()),
        "tags": p.tags, "options": {},
        "links": {"self": v3_url(base, &format!("projects/{id}"))},
    })
}

/// A domain as `/v3/projects` shows it: Keystone's project acting as a domain, with the
/// domain's id and no domain or parent of its own.
pub fn domain_project_json(base: &str, d: &Domain) -> Value {
    json!({
        "id": d.id, "name": d.name, "domain_id": null, "description": d.description,
        "enabled": d.enabled, "is_domain": true, "parent_id": null, "tags": [], "options": {},
        "links": {"self": v3_url(base, &format!("projects/{}", d.id))},
    })
}

/// A user's JSON (never the password hash).
pub fn user_json(base: &str, u: &User) -> Value {
    let id = u.id.simple();
    let mut o = json!({
        "id": id, "name": u.name, "domain_id": u.domain, "enabled": u.enabled,
        "password_expires_at": null, "options": {},
        "links": {"self": v3_url(base, &format!("users/{id}"))},
    });
    if let Some(p) = u.default_project {
        o["default_project_id"] = json!(p.simple());
    }
    if let Some(d) = &u.description {
        o["description"] = json!(d);
    }
    if let Some(e) = &u.email {
        o["email"] = json!(e);
    }
    with_extra(o, &u.extra)
}

/// A group's JSON.
pub fn group_json(base: &str, g: &Group) -> Value {
    let id = g.id.simple();
    let o = json!({
        "id": id, "name": g.name, "domain_id": g.domain, "description": g.description.clone().unwrap_or_default(),
        "links": {"self": v3_url(base, &format!("groups/{id}"))},
    });
    with_extra(o, &g.extra)
}

/// A role named in a request body by id or by name (application credentials, trusts).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoleRef {
    id: Option<String>,
    name: Option<String>,
}

/// The ids of the roles `refs` name; Keystone's 404 if one names no role.
pub(crate) fn role_ids(id: &kid::Identity, refs: &[RoleRef], what: &str) -> orrery_kernel::Result<Vec<orrery_kernel::Uuid>> {
    refs.iter()
        .map(|r| match (&r.id, &r.name) {
            (Some(x), _) => id.role_by_id(x).map(|r| r.id),
            (None, Some(n)) => id.role_by_name(n).map(|r| r.id),
            _ => None,
        })
        .map(|r| r.ok_or_else(|| Error::not_found("identity.not_found", format!("Could not find a role the {what} names."))))
        .collect()
}

/// A record's JSON with its extra attributes flattened in, as Keystone shows them.
fn with_extra(mut o: Value, extra: &kid::Extra) -> Value {
    for (k, v) in &extra.0 {
        if o.get(k).is_none() {
            o[k.as_str()] = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.clone()));
        }
    }
    o
}

/// Extra attributes from a create or update body: every field Keystone does not define,
/// kept as JSON text. Names the response itself uses are refused, except an `id` that
/// repeats the id of the record being updated (`current`), as Keystone allows.
pub(crate) fn extra_of(mut fields: BTreeMap<String, Value>, current: Option<&str>) -> Result<kid::Extra, ApiError> {
    const OWN: [&str; 2] = ["links", "password_expires_at"];
    match (fields.remove("id"), current) {
        (None, _) => {}
        (Some(Value::String(id)), Some(cur)) if id == cur => {}
        (Some(_), Some(_)) => return Err(ApiError::bad_request(S, "Cannot change ID")),
        (Some(_), None) => return Err(ApiError::bad_request(S, "Invalid input for field 'id': it is read-only.")),
    }
    if let Some(k) = fields.keys().find(|k| OWN.contains(&k.as_str())) {
        return Err(ApiError::bad_request(S, format!("Invalid input for field '{k}': it is read-only.")));
    }
    Ok(orrery_kernel::sparse::Sparse(fields.into_iter().map(|(k, v)| (k, v.to_string())).collect()))
}

/// A role's JSON.
pub fn role_json(base: &str, r: &Role) -> Value {
    let id = r.id.simple();
    json!({
        "id": id, "name": r.name, "domain_id": r.domain, "description": r.description, "options": {},
        "links": {"self": v3_url(base, &format!("roles/{id}"))},
    })
}

/// Hashes a password with argon2 (default parameters, random salt) on the blocking pool.
pub(crate) async fn hash_password(password: String) -> Result<String, ApiError> {
    let job = tokio::task::spawn_blocking(move || {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|e| format!("the operating system's random source failed: {e}"))?;
        let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
        Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| e.to_string())
    });
    match job.await {
        Ok(Ok(hash)) => Ok(hash),
        Ok(Err(e)) => Err(ApiError::bad_request(S, format!("The password could not be hashed: {e}."))),
        Err(e) => Err(ApiError::bad_request(S, format!("The password could not be hashed: {e}."))),
    }
}

/// Verifies `password` against a PHC hash on the blocking pool. With no hash (unknown user
/// or a user without a password) it still does the work of one verification, so timing does
/// not reveal which users exist.
pub(crate) async fn verify_password(password: String, hash: Option<String>) -> bool {
    let job = tokio::task::spawn_blocking(move || {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| DUMMY_HASH.to_string());
        let ok = PasswordHash::new(&hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok());
        ok && known
    });
    job.await.unwrap_or(false)
}

/// An argon2id hash of a random password nobody knows, for [`verify_password`]'s dummy work.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$b3JyZXJ5ZHVtbXlzYWx0$u0Wgn4nEQqxw9wZ0rXw1fQmRk3D2w8pF2v1w7Rr0ZlE";

#[cfg(test)]
mod tests;
