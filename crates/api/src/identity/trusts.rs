//! Trusts: `/v3/OS-TRUST/trusts` (create, list by trustor or trustee, show, delete) and their
//! roles (`/roles`, `/roles/{id}`). The kernel keeps them (`orrery_kernel::identity::trusts`).
//! A token scoped to a trust is not built yet: asking for one answers 501.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use orrery_kernel::identity::trusts::{self as ktrust, Trust};
use orrery_kernel::identity::Cmd;
use orrery_kernel::Kernel;
use serde::Deserialize;
use serde_json::{json, Value};

use super::resources::parse_id;
use super::{apply, ask, collection, read, role_json, v3_url, S};
use crate::error::ApiError;
use crate::util::{iso_micros, new_uuid, parse_json};
use crate::AppState;
use orrery_kernel::ask::identity as kask;

/// Routes for trusts.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v3/OS-TRUST/trusts", get(list).post(create))
        // Keystone's trust client lists with a trailing slash.
        .route("/v3/OS-TRUST/trusts/", get(list))
        .route("/v3/OS-TRUST/trusts/{id}", get(show).delete(delete))
        .route("/v3/OS-TRUST/trusts/{id}/roles", get(roles))
        .route("/v3/OS-TRUST/trusts/{id}/roles/{role}", get(role).head(check_role))
}

fn trust_json(k: &Kernel, base: &str, t: &Trust) -> Value {
    let roles: Vec<Value> = t.roles.iter().filter_map(|r| k.identity().roles.get(r)).map(|r| role_json(base, r)).collect();
    let id = t.id.simple();
    json!({
        "id": id, "trustor_user_id": t.trustor.simple(), "trustee_user_id": t.trustee.simple(),
        "project_id": t.project.map(|p| p.simple()), "impersonation": t.impersonation,
        "expires_at": t.expires_at.map(|e| format!("{}Z", iso_micros(e))), "remaining_uses": t.remaining_uses,
        "allow_redelegation": t.allow_redelegation, "redelegation_count": 0, "roles": roles,
        "roles_links": {"self": null, "previous": null, "next": null},
        "links": {"self": v3_url(base, &format!("OS-TRUST/trusts/{id}"))},
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustBody {
    trust: TrustIn,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustIn {
    trustor_user_id: String,
    trustee_user_id: String,
    project_id: Option<String>,
    impersonation: bool,
    roles: Option<Vec<super::RoleRef>>,
    expires_at: Option<String>,
    remaining_uses: Option<u32>,
    allow_redelegation: Option<bool>,
    redelegation_count: Option<u32>,
}

async fn create(State(s): State<AppState>, h: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let b: TrustBody = parse_json(S, &body)?;
    let t = b.trust;
    let expires_at = match &t.expires_at {
        Some(e) => Some(
            crate::compute::servers::query::parse_iso(e)
                .ok_or_else(|| ApiError::bad_request(S, format!("Invalid input for field 'expires_at': '{e}' is not a date and time.")))?,
        ),
        None => None,
    };
    let _ = t.redelegation_count;
    let wanted = t.roles.unwrap_or_default();
    let roles = read(&s, &h, move |k, _, _| super::role_ids(k.identity(), &wanted, "trust")).await?;
    let trust = Trust {
        id: new_uuid(),
        trustor: parse_id("user", &t.trustor_user_id)?,
        trustee: parse_id("user", &t.trustee_user_id)?,
        project: t.project_id.map(|p| parse_id("project", &p)).transpose()?,
        impersonation: t.impersonation,
        roles: roles.into_iter().collect(),
        expires_at,
        remaining_uses: t.remaining_uses,
        allow_redelegation: t.allow_redelegation.unwrap_or(false),
    };
    let trust = ask(&s, &h, kask::create_trust(trust)).await?;
    let base = s.site.base_url.clone();
    let out = s.cloud.read(S, move |k, _| trust_json(k, &base, &trust)).await?;
    Ok((StatusCode::CREATED, Json(json!({ "trust": out }))).into_response())
}

async fn list(State(s): State<AppState>, h: HeaderMap, Query(q): Query<BTreeMap<String, String>>) -> Result<Json<Value>, ApiError> {
    let user = |key: &str| q.get(key).map(|u| parse_id("user", u)).transpose();
    let (trustor, trustee) = (user("trustor_user_id")?, user("trustee_user_id")?);
    let base = s.site.base_url.clone();
    let items =
        read(&s, &h, move |k, c, _| Ok(ktrust::list(k.identity(), c, trustor, trustee)?.iter().map(|t| trust_json(k, &base, t)).collect::<Vec<_>>())).await?;
    Ok(Json(collection(&s.site.base_url, "OS-TRUST/trusts", "trusts", items)))
}

async fn show(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let tid = parse_id("trust", &id)?;
    let base = s.site.base_url.clone();
    let out = read(&s, &h, move |k, c, _| ktrust::show(k.identity(), c, tid).map(|t| trust_json(k, &base, &t))).await?;
    Ok(Json(json!({ "trust": out })))
}

async fn delete(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    apply(&s, &h, Cmd::DeleteTrust { id: parse_id("trust", &id)? }).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn roles(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let tid = parse_id("trust", &id)?;
    let base = s.site.base_url.clone();
    let items = read(&s, &h, move |k, c, _| {
        let t = ktrust::show(k.identity(), c, tid)?;
        Ok(t.roles.iter().filter_map(|r| k.identity().roles.get(r)).map(|r| role_json(&base, r)).collect::<Vec<_>>())
    })
    .await?;
    Ok(Json(collection(&s.site.base_url, &format!("OS-TRUST/trusts/{}/roles", tid.simple()), "roles", items)))
}

/// The delegated role `role` of trust `id`, or Keystone's 404.
async fn trust_role(s: &AppState, h: &HeaderMap, id: &str, role: &str) -> Result<Value, ApiError> {
    let (tid, rid) = (parse_id("trust", id)?, parse_id("role", role)?);
    let base = s.site.base_url.clone();
    read(s, h, move |k, c, _| {
        let t = ktrust::show(k.identity(), c, tid)?;
        let r = t.roles.get(&rid).and_then(|r| k.identity().roles.get(r));
        r.map(|r| role_json(&base, r)).ok_or_else(|| orrery_kernel::Error::not_found("identity.not_found", format!("Could not find role: {}.", rid.simple())))
    })
    .await
}

async fn role(State(s): State<AppState>, h: HeaderMap, Path((id, role)): Path<(String, String)>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"role": trust_role(&s, &h, &id, &role).await?})))
}

async fn check_role(State(s): State<AppState>, h: HeaderMap, Path((id, role)): Path<(String, String)>) -> Result<StatusCode, ApiError> {
    trust_role(&s, &h, &id, &role).await?;
    Ok(StatusCode::OK)
}
