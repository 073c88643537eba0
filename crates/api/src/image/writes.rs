//! Image writes (Glance v2): create a record, patch it (JSON patch, both of Glance's media
//! types), delete it, deactivate and reactivate it, and add or remove tags. The shell only
//! types the JSON; every rule (who may, which attributes, which values) is the kernel's.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use orrery_kernel::image::cmds::{Change, Cmd, NewImage, Op, Value as Attr};
use orrery_kernel::{ask::image as kask, Command, Uuid};
use serde_json::{Map, Value};

use super::{image_id, image_json, S};
use crate::compute::versions::{apply, ask, auth};
use crate::error::{error_body, ApiError};
use crate::util::parse_json;
use crate::AppState;

/// The media types Glance takes a PATCH in: v2.1 is RFC 6902, v2.0 Glance's older form.
const PATCH_V21: &str = "application/openstack-images-v2.1-json-patch";
const PATCH_V20: &str = "application/openstack-images-v2.0-json-patch";

/// A JSON value in the kernel's attribute types.
fn attr(v: Value) -> Attr {
    match v {
        Value::Null => Attr::Null,
        Value::Bool(b) => Attr::Bool(b),
        Value::Number(n) => n.as_i64().map(Attr::Int).unwrap_or(Attr::Other),
        Value::String(s) => Attr::Str(s),
        Value::Array(items) => {
            items.into_iter().map(|i| if let Value::String(s) = i { Some(s) } else { None }).collect::<Option<Vec<_>>>().map_or(Attr::Other, Attr::List)
        }
        Value::Object(_) => Attr::Other,
    }
}

/// `POST /v2/images`: a new queued image record (201).
pub async fn create(State(s): State<AppState>, h: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let mut obj: Map<String, Value> = parse_json(S, &body)?;
    let id = match obj.remove("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(i)) => Some(i.parse::<Uuid>().map_err(|_| ApiError::bad_request(S, format!("Invalid value '{i}' for 'id': it is not a UUID.")))?),
        Some(_) => return Err(ApiError::bad_request(S, "Invalid type for 'id': a string is expected.")),
    };
    let attrs = obj.into_iter().map(|(k, v)| (k, attr(v))).collect();
    let img = ask(&s, S, auth(&h, S)?, kask::create(NewImage { id, attrs })).await?;
    let location = format!("{}/image/v2/images/{}", s.site.base_url, img.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(image_json(&img))).into_response())
}

/// One patch operation in either media type, as (op, path, value).
fn patch_op(item: Value, v21: bool) -> Result<Change, ApiError> {
    let Value::Object(mut o) = item else { return Err(ApiError::bad_request(S, "Each patch operation must be a JSON object.")) };
    let (op, path) = if v21 {
        let op = o
            .remove("op")
            .and_then(|v| v.as_str().map(str::to_string))
            .ok_or_else(|| ApiError::bad_request(S, "Operation objects must contain an 'op' member."))?;
        (op, o.remove("path"))
    } else {
        let op = ["add", "replace", "remove"]
            .into_iter()
            .find(|k| o.contains_key(*k))
            .ok_or_else(|| ApiError::bad_request(S, "Operation objects must contain exactly one of 'add', 'remove' or 'replace'."))?;
        (op.to_string(), o.remove(op))
    };
    let op = match op.as_str() {
        "add" if v21 => Op::Add,
        "add" => Op::AddNew,
        "replace" => Op::Replace,
        "remove" => Op::Remove,
        other => return Err(ApiError::bad_request(S, format!("Invalid operation: `{other}`: only add, replace and remove are allowed."))),
    };
    let path = path
        .and_then(|p| p.as_str().map(str::to_string))
        .ok_or_else(|| ApiError::bad_request(S, "Unable to find '/' in JSON Schema change: the path is missing."))?;
    let attr_name = path.strip_prefix('/').ok_or_else(|| ApiError::bad_request(S, format!("Pointer `{path}` does not start with \"/\".")))?;
    let value = match (op, o.remove("value")) {
        (Op::Remove, _) => Attr::Null,
        (_, Some(v)) => attr(v),
        (_, None) => return Err(ApiError::bad_request(S, "Operation objects must contain a 'value' member.")),
    };
    Ok(Change { op, attr: attr_name.replace("~1", "/").replace("~0", "~"), value })
}

/// `PATCH /v2/images/{id}`: a JSON patch, applied all or nothing.
pub async fn update(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    let who = auth(&h, S)?;
    let ctype = h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").split(';').next().unwrap_or("").trim().to_string();
    let v21 = match ctype.as_str() {
        PATCH_V21 => true,
        PATCH_V20 => false,
        _ => return Ok(unsupported(&ctype)),
    };
    let id = image_id(&s, &h, &id).await?;
    let ops: Vec<Value> = parse_json(S, &body)?;
    let changes = ops.into_iter().map(|o| patch_op(o, v21)).collect::<Result<Vec<_>, _>>()?;
    let img = ask(&s, S, who, kask::update(id, changes)).await?;
    Ok(Json(image_json(&img)).into_response())
}

/// Glance's 415 for a PATCH in another media type.
fn unsupported(ctype: &str) -> Response {
    let status = StatusCode::UNSUPPORTED_MEDIA_TYPE;
    let msg = format!("Unsupported Content-Type '{ctype}': a PATCH must be {PATCH_V21} or {PATCH_V20}.");
    (status, Json(error_body(S, status, "image.unsupported_media_type", &msg))).into_response()
}

/// Sends one command that answers nothing, and answers 204.
async fn done(s: &AppState, h: &HeaderMap, cmd: Cmd) -> Result<StatusCode, ApiError> {
    apply(s, S, auth(h, S)?, Command::Image(cmd)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v2/images/{id}`.
pub async fn delete(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let id = image_id(&s, &h, &id).await?;
    done(&s, &h, Cmd::Delete { id }).await
}

/// `POST /v2/images/{id}/actions/{deactivate|reactivate}`.
pub async fn action(State(s): State<AppState>, h: HeaderMap, Path((id, action)): Path<(String, String)>) -> Result<StatusCode, ApiError> {
    let id = image_id(&s, &h, &id).await?;
    let on = match action.as_str() {
        "deactivate" => true,
        "reactivate" => false,
        other => return Err(ApiError::not_found(S, format!("The resource could not be found: there is no image action '{other}'."))),
    };
    done(&s, &h, Cmd::Deactivate { id, on }).await
}

/// `PUT /v2/images/{id}/tags/{tag}` adds a tag (idempotent).
pub async fn add_tag(State(s): State<AppState>, h: HeaderMap, Path((id, tag)): Path<(String, String)>) -> Result<StatusCode, ApiError> {
    let id = image_id(&s, &h, &id).await?;
    done(&s, &h, Cmd::Tag { id, tag, on: true }).await
}

/// `DELETE /v2/images/{id}/tags/{tag}`.
pub async fn remove_tag(State(s): State<AppState>, h: HeaderMap, Path((id, tag)): Path<(String, String)>) -> Result<StatusCode, ApiError> {
    let id = image_id(&s, &h, &id).await?;
    done(&s, &h, Cmd::Tag { id, tag, on: false }).await
}
