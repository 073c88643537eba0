//! Application credentials: `/v3/users/{id}/application_credentials`. The shell makes the
//! id and, unless the caller gives one, the secret; it hashes the secret with argon2 (as a
//! password) and shows it once, in the creation response. The kernel keeps the record, binds
//! it to the caller's project and decides its roles (`orrery_kernel::identity::appcreds`).
//! Access rules are not built: a request with any answers 501.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use orrery_kernel::identity::appcreds::{self as kapp, AppCredential, AppCredentialSpec};
use orrery_kernel::identity::Cmd;
use orrery_kernel::Kernel;
use serde::Deserialize;
use serde_json::{json, Value};

use super::resources::parse_id;
use super::{apply, ask, collection, read, v3_url, S};
use crate::error::ApiError;
use crate::util::{iso_micros, new_token, new_uuid, parse_json};
use crate::AppState;
use orrery_kernel::ask::identity as kask;

/// Routes for application credentials.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v3/users/{user}/application_credentials", get(list).post(create))
        .route("/v3/users/{user}/application_credentials/{id}", get(show).delete(delete))
}

fn cred_json(k: &Kernel, base: &str, c: &AppCredential) -> Value {
    let roles: Vec<Value> =
        c.roles.iter().map(|r| json!({"id": r.simple(), "name": k.identity().roles.get(r).map(|x| x.name.clone()), "domain_id": null})).collect();
    let (user, id) = (c.user.simple(), c.id.simple());
    json!({
        "id": id, "name": c.name, "description": c.description, "project_id": c.project.simple(), "user_id": user,
        "expires_at": c.expires_at.map(iso_micros), "roles": roles, "unrestricted": c.unrestricted, "access_rules": [],
        "links": {"self": v3_url(base, &format!("users/{user}/application_credentials/{id}"))},
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredBody {
    application_credential: CredIn,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredIn {
    name: String,
    description: Option<String>,
    secret: Option<String>,
    expires_at: Option<String>,
    roles: Option<Vec<super::RoleRef>>,
    unrestricted: Option<bool>,
    access_rules: Option<Vec<Value>>,
}

async fn create(State(s): State<AppState>, h: HeaderMap, Path(user): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    let b: CredBody = parse_json(S, &body)?;
    let c = b.application_credential;
    if c.access_rules.as_ref().is_some_and(|r| !r.is_empty()) {
        return Err(ApiError::not_implemented(S, "orrery does not implement access rules for application credentials yet."));
    }
    let uid = parse_id("user", &user)?;
    let expires_at = match &c.expires_at {
        Some(t) => Some(
            crate::compute::servers::query::parse_iso(t)
                .ok_or_else(|| ApiError::bad_request(S, format!("Invalid input for field 'expires_at': '{t}' is not a date and time.")))?,
        ),
        None => None,
    };
    let wanted = c.roles.unwrap_or_default();
    let roles = read(&s, &h, move |k, _, _| super::role_ids(k.identity(), &wanted, "application credential")).await?;
    let secret = c.secret.unwrap_or_else(new_token);
    let secret_hash = super::hash_password(secret.clone()).await?;
    let spec = AppCredentialSpec {
        id: new_uuid(),
        user: uid,
        name: c.name,
        description: c.description,
        secret_hash,
        expires_at,
        roles,
        unrestricted: c.unrestricted.unwrap_or(false),
    };
    let cred = ask(&s, &h, kask::create_app_credential(spec)).await?;
    let base = s.site.base_url.clone();
    let mut out = s.cloud.read(S, move |k, _| cred_json(k, &base, &cred)).await?;
    out["secret"] = json!(secret);
    Ok((StatusCode::CREATED, Json(json!({ "application_credential": out }))).into_response())
}

async fn list(State(s): State<AppState>, h: HeaderMap, Path(user): Path<String>, Query(q): Query<BTreeMap<String, String>>) -> Result<Json<Value>, ApiError> {
    let uid = parse_id("user", &user)?;
    let name = q.get("name").cloned();
    let base = s.site.base_url.clone();
    let items =
        read(&s, &h, move |k, c, _| Ok(kapp::list(k.identity(), c, uid, name.as_deref())?.iter().map(|x| cred_json(k, &base, x)).collect::<Vec<_>>())).await?;
    Ok(Json(collection(&s.site.base_url, &format!("users/{}/application_credentials", uid.simple()), "application_credentials", items)))
}

async fn show(State(s): State<AppState>, h: HeaderMap, Path((user, id)): Path<(String, String)>) -> Result<Json<Value>, ApiError> {
    let (uid, cid) = (parse_id("user", &user)?, parse_id("application credential", &id)?);
    let base = s.site.base_url.clone();
    let out = read(&s, &h, move |k, c, _| kapp::show(k.identity(), c, uid, cid).map(|x| cred_json(k, &base, &x))).await?;
    Ok(Json(json!({ "application_credential": out })))
}

async fn delete(State(s): State<AppState>, h: HeaderMap, Path((user, id)): Path<(String, String)>) -> Result<StatusCode, ApiError> {
    let (uid, cid) = (parse_id("user", &user)?, parse_id("application credential", &id)?);
    apply(&s, &h, Cmd::DeleteAppCredential { user: uid, id: cid }).await?;
    Ok(StatusCode::NO_CONTENT)
}
