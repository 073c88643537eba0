//! Credentials: `/v3/credentials` (any type, with a blob) and the EC2 view of them,
//! `/v3/users/{id}/credentials/OS-EC2`, which makes a fresh access and secret pair for a
//! project. As in Keystone, an EC2 credential's id is the SHA-256 of its access key, so both
//! views name the same record. The records and their policy live in the kernel
//! (`orrery_kernel::identity::credentials`); this shell makes ids and keys and checks blobs.
//! Blobs are kept in the journal and snapshots as given, inside the 0600 data directory.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use orrery_kernel::identity::credentials::{self as kcred, Credential, CredentialPatch};
use orrery_kernel::identity::Cmd;
use orrery_kernel::Uuid;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::resources::parse_id;
use super::{apply, ask, read, v3_url, S};
use crate::error::ApiError;
use crate::util::{new_token, new_uuid, parse_json};
use crate::AppState;
use orrery_kernel::ask::identity as kask;

/// Routes for credentials and EC2 credentials.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v3/credentials", get(list).post(create))
        .route("/v3/credentials/{id}", get(show).patch(update).delete(delete))
        .route("/v3/users/{user}/credentials/OS-EC2", get(ec2_list).post(ec2_create))
        .route("/v3/users/{user}/credentials/OS-EC2/{access}", get(ec2_show).delete(ec2_delete))
}

/// The id Keystone gives an EC2 credential: the SHA-256 of its access key, in hex.
fn ec2_id(access: &str) -> String {
    Sha256::digest(access.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(S, msg)
}

/// The access key of an EC2 blob: the blob must be a JSON object with a string `access`.
fn ec2_access(blob: &str) -> Result<String, ApiError> {
    let v: Value = serde_json::from_str(blob).map_err(|_| bad("Invalid blob in credential: an ec2 blob is a JSON object with access and secret."))?;
    v.get("access").and_then(Value::as_str).map(str::to_string).ok_or_else(|| bad("Invalid blob in credential: an ec2 blob needs an access key."))
}

fn credential_json(base: &str, c: &Credential) -> Value {
    json!({
        "id": c.id, "user_id": c.user.simple(), "project_id": c.project.map(|p| p.simple()), "type": c.kind, "blob": c.blob,
        "links": {"self": v3_url(base, &format!("credentials/{}", c.id))},
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialBody<T> {
    credential: T,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialCreate {
    user_id: String,
    project_id: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    blob: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialUpdate {
    user_id: Option<String>,
    #[serde(default, deserialize_with = "crate::util::nullable")]
    project_id: Option<Option<String>>,
    #[serde(rename = "type")]
    kind: Option<String>,
    blob: Option<String>,
}

async fn create(State(s): State<AppState>, h: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let b: CredentialBody<CredentialCreate> = parse_json(S, &body)?;
    let c = b.credential;
    let id = if c.kind == "ec2" { ec2_id(&ec2_access(&c.blob)?) } else { new_uuid().simple() };
    let project = c.project_id.map(|p| parse_id("project", &p)).transpose()?;
    let cred = Credential { id, user: parse_id("user", &c.user_id)?, project, kind: c.kind, blob: c.blob };
    let cred = ask(&s, &h, kask::create_credential(cred)).await?;
    Ok((StatusCode::CREATED, Json(json!({"credential": credential_json(&s.site.base_url, &cred)}))).into_response())
}

async fn list(State(s): State<AppState>, h: HeaderMap, Query(q): Query<BTreeMap<String, String>>) -> Result<Json<Value>, ApiError> {
    let user = match q.get("user_id") {
        Some(u) => match u.parse::<Uuid>() {
            Ok(u) => Some(u),
            Err(_) => return Ok(Json(super::collection(&s.site.base_url, "credentials", "credentials", vec![]))),
        },
        None => None,
    };
    let kind = q.get("type").cloned();
    let all = read(&s, &h, move |k, c, _| Ok(kcred::list(k.identity(), c, user, kind.as_deref()))).await?;
    let base = &s.site.base_url;
    Ok(Json(super::collection(base, "credentials", "credentials", all.iter().map(|c| credential_json(base, c)).collect())))
}

async fn show(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let c = read(&s, &h, move |k, c, _| kcred::show(k.identity(), c, &id)).await?;
    Ok(Json(json!({"credential": credential_json(&s.site.base_url, &c)})))
}

async fn update(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let b: CredentialBody<CredentialUpdate> = parse_json(S, &body)?;
    let u = b.credential;
    if let Some(user) = &u.user_id {
        let cid = id.clone();
        let current = read(&s, &h, move |k, c, _| kcred::show(k.identity(), c, &cid)).await?;
        if parse_id("user", user)? != current.user {
            return Err(bad("Invalid input for field 'user_id': a credential cannot change owner."));
        }
    }
    if let (Some(blob), Some("ec2")) = (&u.blob, u.kind.as_deref()) {
        ec2_access(blob)?;
    }
    let project = u.project_id.map(|p| p.map(|p| parse_id("project", &p)).transpose()).transpose()?;
    let patch = CredentialPatch { blob: u.blob, kind: u.kind, project };
    let c = ask(&s, &h, kask::update_credential(id, patch)).await?;
    Ok(Json(json!({"credential": credential_json(&s.site.base_url, &c)})))
}

async fn delete(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    apply(&s, &h, Cmd::DeleteCredential { id }).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- EC2

/// An EC2 credential in Keystone's OS-EC2 shape, from the stored record.
fn ec2_json(base: &str, c: &Credential) -> Option<Value> {
    let blob: Value = serde_json::from_str(&c.blob).ok()?;
    let access = blob.get("access")?.as_str()?;
    let user = c.user.simple();
    Some(json!({
        "user_id": user, "tenant_id": c.project.map(|p| p.simple()), "access": access,
        "secret": blob.get("secret").cloned().unwrap_or(Value::Null), "trust_id": blob.get("trust_id").cloned().unwrap_or(Value::Null),
        "links": {"self": v3_url(base, &format!("users/{user}/credentials/OS-EC2/{access}"))},
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Ec2Create {
    tenant_id: String,
}

async fn ec2_create(State(s): State<AppState>, h: HeaderMap, Path(user): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    let b: Ec2Create = parse_json(S, &body)?;
    let (user, project) = (parse_id("user", &user)?, parse_id("project", &b.tenant_id)?);
    let (access, secret) = (new_token()[..32].to_string(), new_token()[..32].to_string());
    let blob = json!({"access": access, "secret": secret, "trust_id": null}).to_string();
    let cred = Credential { id: ec2_id(&access), user, project: Some(project), kind: "ec2".into(), blob };
    let cred = ask(&s, &h, kask::create_credential(cred)).await?;
    let body = ec2_json(&s.site.base_url, &cred).unwrap_or(Value::Null);
    Ok((StatusCode::CREATED, Json(json!({ "credential": body }))).into_response())
}

async fn ec2_list(State(s): State<AppState>, h: HeaderMap, Path(user): Path<String>) -> Result<Json<Value>, ApiError> {
    let uid = parse_id("user", &user)?;
    let all = read(&s, &h, move |k, c, _| Ok(kcred::list(k.identity(), c, Some(uid), Some("ec2")))).await?;
    let base = &s.site.base_url;
    let path = format!("users/{}/credentials/OS-EC2", uid.simple());
    Ok(Json(super::collection(base, &path, "credentials", all.iter().filter_map(|c| ec2_json(base, c)).collect())))
}

/// The EC2 credential of `user` with `access`; another user's is 404, as if absent.
fn ec2_find(k: &orrery_kernel::Kernel, c: &orrery_kernel::Caller, user: Uuid, access: &str) -> orrery_kernel::Result<Credential> {
    let cred = kcred::show(k.identity(), c, &ec2_id(access))?;
    if cred.user != user || cred.kind != "ec2" {
        return Err(orrery_kernel::Error::not_found("identity.not_found", format!("Could not find credential: {}.", ec2_id(access))));
    }
    Ok(cred)
}

async fn ec2_show(State(s): State<AppState>, h: HeaderMap, Path((user, access)): Path<(String, String)>) -> Result<Json<Value>, ApiError> {
    let uid = parse_id("user", &user)?;
    let cred = read(&s, &h, move |k, c, _| ec2_find(k, c, uid, &access)).await?;
    Ok(Json(json!({"credential": ec2_json(&s.site.base_url, &cred).unwrap_or(Value::Null)})))
}

async fn ec2_delete(State(s): State<AppState>, h: HeaderMap, Path((user, access)): Path<(String, String)>) -> Result<StatusCode, ApiError> {
    let uid = parse_id("user", &user)?;
    let cred = read(&s, &h, move |k, c, _| ec2_find(k, c, uid, &access)).await?;
    apply(&s, &h, Cmd::DeleteCredential { id: cred.id }).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ec2_ids_are_the_sha256_of_the_access_key() {
        assert_eq!(super::ec2_id("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
