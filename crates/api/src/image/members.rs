//! Image members (Glance v2): the projects a shared image is offered to, and their answers.
//! The owner offers and withdraws; only the member itself accepts or rejects.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use orrery_kernel::image::cmds::Cmd;
use orrery_kernel::image::{self as kimage, Member, MemberStatus};
use orrery_kernel::{ask::image as kask, Command, Uuid};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{image_id, S};
use crate::compute::versions::{apply, ask, auth, read};
use crate::error::ApiError;
use crate::util::{iso, parse_json};
use crate::AppState;

/// A membership in Glance's shape.
fn member_json(image: &Uuid, member: &str, m: &Member) -> Value {
    json!({
        "image_id": image.to_string(), "member_id": member, "status": m.status.name(),
        "created_at": iso(m.created_at), "updated_at": iso(m.updated_at), "schema": "/v2/schemas/member",
    })
}

/// `GET /v2/images/{id}/members`.
pub async fn list(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let uuid = image_id(&s, &h, &id).await?;
    let ms = read(&s, S, auth(&h, S)?, move |k, c| kimage::members(k, c, &id)).await?;
    let members: Vec<Value> = ms.iter().map(|(p, m)| member_json(&uuid, p, m)).collect();
    Ok(Json(json!({"members": members, "schema": "/v2/schemas/members"})))
}

/// `GET /v2/images/{id}/members/{member}`.
pub async fn show(State(s): State<AppState>, h: HeaderMap, Path((id, member)): Path<(String, String)>) -> Result<Json<Value>, ApiError> {
    let uuid = image_id(&s, &h, &id).await?;
    let key = member.clone();
    let found = read(&s, S, auth(&h, S)?, move |k, c| kimage::member(k, c, &id, &member)).await?;
    Ok(Json(member_json(&uuid, &key, &found)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMember {
    member: String,
}

/// `POST /v2/images/{id}/members`: offers a shared image to a project.
pub async fn create(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let uuid = image_id(&s, &h, &id).await?;
    let req: NewMember = parse_json(S, &body)?;
    let (key, m) = ask(&s, S, auth(&h, S)?, kask::add_member(uuid, req.member)).await?;
    Ok(Json(member_json(&uuid, &key, &m)))
}

/// A member's answer. openstacksdk also sends the member's id, which Glance ignores.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewStatus {
    status: String,
    #[serde(default, rename = "member")]
    _member: Option<String>,
    #[serde(default, rename = "member_id")]
    _member_id: Option<String>,
}

/// `PUT /v2/images/{id}/members/{member}`: the member answers.
pub async fn update(State(s): State<AppState>, h: HeaderMap, Path((id, member)): Path<(String, String)>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let uuid = image_id(&s, &h, &id).await?;
    let req: NewStatus = parse_json(S, &body)?;
    let status = MemberStatus::parse(&req.status)
        .ok_or_else(|| ApiError::bad_request(S, format!("Invalid status '{}': it must be one of pending, accepted or rejected.", req.status)))?;
    let (key, m) = ask(&s, S, auth(&h, S)?, kask::set_member(uuid, member, status)).await?;
    Ok(Json(member_json(&uuid, &key, &m)))
}

/// `DELETE /v2/images/{id}/members/{member}`: the owner withdraws an offer.
pub async fn delete(State(s): State<AppState>, h: HeaderMap, Path((id, member)): Path<(String, String)>) -> Result<StatusCode, ApiError> {
    let uuid = image_id(&s, &h, &id).await?;
    apply(&s, S, auth(&h, S)?, Command::Image(Cmd::RemoveMember { id: uuid, member })).await?;
    Ok(StatusCode::NO_CONTENT)
}
