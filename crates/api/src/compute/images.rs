//! Compute API: the image proxy (`/v2.1/images`), Nova's deprecated read-through view of the
//! image catalog. It answers before microversion 2.36, and 404 from then on, as Nova does.
//! Listings and shows come from the kernel's image views; metadata is the image's properties.
//! Deletes and metadata changes are the image service's own commands (Glance's rules: only the
//! owner or an admin changes an image), answered in Nova's shapes.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::get;
use axum::{Json, Router};
use orrery_kernel::ask::{image as kask, Ask};
use orrery_kernel::image::cmds::Cmd;
use orrery_kernel::image::{self as kimage, Image};
use orrery_kernel::{Caller, Command, Error, Kernel, Uuid};
use serde_json::{json, Map, Value};

use super::servers::extras::{MetaBody, MetadataBody};
use super::versions::{apply, ask, auth, layer, read, Microversion};
use crate::error::{ApiError, Service};
use crate::util::{iso, parse_json};
use crate::AppState;

const S: Service = Service::Compute;

/// The first microversion without the proxy.
const REMOVED_IN: u32 = 36;

/// Routes of the image proxy.
pub fn routes() -> Router<AppState> {
    layer(
        Router::new()
            .route("/v2.1/images", get(list))
            .route("/v2.1/images/detail", get(detail))
            .route("/v2.1/images/{id}", get(show).delete(delete))
            .route(
                "/v2.1/images/{id}/metadata",
                get(metadata).put(|s, mv, h, u, p, b| set_metadata(s, mv, h, u, p, b, true)).post(|s, mv, h, u, p, b| set_metadata(s, mv, h, u, p, b, false)),
            )
            .route("/v2.1/images/{id}/metadata/{key}", get(meta_item).put(set_item).delete(delete_item)),
    )
}

/// Nova's 404 for the proxy from 2.36 on.
fn check_version(mv: Microversion, uri: &Uri) -> Result<(), ApiError> {
    if mv.at_least(REMOVED_IN) {
        return Err(ApiError::not_found(
            S,
            format!("The resource could not be found: the image proxy {} was removed in microversion 2.36; use the Image API.", uri.path()),
        ));
    }
    Ok(())
}

/// Nova's 404 for an image the caller cannot see.
fn one(k: &Kernel, c: &Caller, id: &str) -> orrery_kernel::Result<Image> {
    kimage::image(k, c, id).map_err(|_| Error::not_found("compute.not_found", "Image not found.".into()))
}

fn links(base: &str, id: &str) -> Value {
    json!([
        {"rel": "self", "href": format!("{base}/compute/v2.1/images/{id}")},
        {"rel": "bookmark", "href": format!("{base}/compute/images/{id}")},
        {"rel": "alternate", "type": "application/vnd.openstack.image", "href": format!("{base}/image/images/{id}")},
    ])
}

/// Nova's status for a Glance status.
fn status(glance: &str) -> &'static str {
    match glance {
        "active" => "ACTIVE",
        "queued" | "saving" | "importing" | "uploading" => "SAVING",
        "deleted" | "pending_delete" => "DELETED",
        "killed" => "ERROR",
        _ => "UNKNOWN",
    }
}

fn detail_json(base: &str, img: &Image) -> Value {
    let id = img.id.to_string();
    let metadata: Map<String, Value> = img.properties.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    let status = status(&img.status);
    json!({
        "id": id, "name": img.name, "status": status, "progress": if status == "ACTIVE" { 100 } else { 0 },
        "minDisk": img.min_disk, "minRam": img.min_ram, "metadata": metadata,
        "created": iso(img.created_at), "updated": iso(img.updated_at),
        "OS-EXT-IMG-SIZE:size": img.size, "links": links(base, &id),
    })
}

/// The list filters Nova's proxy passes on: `name`, `status`, `minDisk`, `minRam`; then
/// `marker` and `limit`. Other keys are ignored, as Nova ignores them.
fn filtered(k: &Kernel, c: &Caller, q: &BTreeMap<String, String>) -> orrery_kernel::Result<Vec<Image>> {
    let num = |key: &str| q.get(key).map(|v| v.parse::<u64>().map_err(|_| Error::bad_request("compute.bad_request", format!("Invalid {key} filter {v}"))));
    let (min_disk, min_ram) = (num("minDisk").transpose()?, num("minRam").transpose()?);
    let limit = num("limit").transpose()?.map_or(usize::MAX, |l| l as usize);
    let listing = kimage::Listing::default();
    let mut all: Vec<&Image> = kimage::visible_images(k, c)
        .filter(|i| kimage::listed(i, c, &listing))
        .filter(|i| q.get("name").is_none_or(|n| &i.name == n))
        .filter(|i| q.get("status").is_none_or(|s| status(&i.status).eq_ignore_ascii_case(s)))
        .filter(|i| min_disk.is_none_or(|d| i.min_disk >= d) && min_ram.is_none_or(|r| i.min_ram >= r))
        .collect();
    all.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    let start = match q.get("marker") {
        Some(m) => all
            .iter()
            .position(|i| i.id.to_string() == *m)
            .map(|p| p + 1)
            .ok_or_else(|| Error::bad_request("compute.bad_request", format!("marker [{m}] not found")))?,
        None => 0,
    };
    Ok(all.into_iter().skip(start).take(limit).cloned().collect())
}

async fn list(State(s): State<AppState>, mv: Microversion, h: HeaderMap, uri: Uri, Query(q): Query<BTreeMap<String, String>>) -> Result<Json<Value>, ApiError> {
    check_version(mv, &uri)?;
    let imgs = read(&s, S, auth(&h, S)?, move |k, c| filtered(k, c, &q)).await?;
    let base = &s.site.base_url;
    let rows: Vec<Value> = imgs.iter().map(|i| json!({"id": i.id.to_string(), "name": i.name, "links": links(base, &i.id.to_string())})).collect();
    Ok(Json(json!({ "images": rows })))
}

async fn detail(
    State(s): State<AppState>,
    mv: Microversion,
    h: HeaderMap,
    uri: Uri,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    check_version(mv, &uri)?;
    let imgs = read(&s, S, auth(&h, S)?, move |k, c| filtered(k, c, &q)).await?;
    let base = &s.site.base_url;
    Ok(Json(json!({"images": imgs.iter().map(|i| detail_json(base, i)).collect::<Vec<_>>()})))
}

async fn show(State(s): State<AppState>, mv: Microversion, h: HeaderMap, uri: Uri, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    check_version(mv, &uri)?;
    let img = read(&s, S, auth(&h, S)?, move |k, c| one(k, c, &id)).await?;
    Ok(Json(json!({"image": detail_json(&s.site.base_url, &img)})))
}

async fn metadata(State(s): State<AppState>, mv: Microversion, h: HeaderMap, uri: Uri, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    check_version(mv, &uri)?;
    let img = read(&s, S, auth(&h, S)?, move |k, c| one(k, c, &id)).await?;
    Ok(Json(json!({"metadata": img.properties})))
}

async fn meta_item(
    State(s): State<AppState>,
    mv: Microversion,
    h: HeaderMap,
    uri: Uri,
    Path((id, key)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    check_version(mv, &uri)?;
    let img = read(&s, S, auth(&h, S)?, move |k, c| one(k, c, &id)).await?;
    let value = img.properties.get(&key).ok_or_else(|| ApiError::not_found(S, format!("Image {} has no metadata item {key}.", img.id)))?;
    Ok(Json(json!({"meta": { key.as_str(): value }})))
}

/// Sends one image command about the image the caller sees as `id`; errors in Nova's body.
async fn change(s: &AppState, h: &HeaderMap, id: &str, cmd: impl FnOnce(Uuid) -> Ask<Image>) -> Result<Image, ApiError> {
    let id = id.to_string();
    let img = read(s, S, auth(h, S)?, move |k, c| one(k, c, &id)).await?;
    ask(s, S, auth(h, S)?, cmd(img.id)).await
}

/// Nova's schema for image metadata: keys and values of 1 to 255 and 0 to 255 characters.
fn check_metadata(items: &BTreeMap<String, String>) -> Result<(), ApiError> {
    for (k, v) in items {
        if k.is_empty() || k.chars().count() > 255 || v.chars().count() > 255 {
            return Err(ApiError::bad_request(
                S,
                format!("Invalid input for field/attribute metadata: key '{k}' or its value is longer than 255 characters, or the key is empty."),
            ));
        }
    }
    Ok(())
}

async fn delete(State(s): State<AppState>, mv: Microversion, h: HeaderMap, uri: Uri, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    check_version(mv, &uri)?;
    let img = read(&s, S, auth(&h, S)?, move |k, c| one(k, c, &id)).await?;
    apply(&s, S, auth(&h, S)?, Command::Image(Cmd::Delete { id: img.id })).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT …/metadata` replaces every item (`replace`); `POST` merges the given ones in.
async fn set_metadata(
    State(s): State<AppState>,
    mv: Microversion,
    h: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    body: Bytes,
    replace: bool,
) -> Result<Json<Value>, ApiError> {
    check_version(mv, &uri)?;
    let req: MetadataBody = parse_json(S, &body)?;
    check_metadata(&req.metadata)?;
    let img = change(&s, &h, &id, |id| kask::set_properties(id, req.metadata, replace)).await?;
    Ok(Json(json!({"metadata": img.properties})))
}

/// `PUT …/metadata/{key}` with `{"meta": {key: value}}`.
async fn set_item(
    State(s): State<AppState>,
    mv: Microversion,
    h: HeaderMap,
    uri: Uri,
    Path((id, key)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    check_version(mv, &uri)?;
    let req: MetaBody = parse_json(S, &body)?;
    let value = match req.meta.into_iter().collect::<Vec<_>>().as_slice() {
        [(k, v)] if *k == key => v.clone(),
        [(k, _)] => return Err(ApiError::bad_request(S, format!("Request body and URI mismatch: the body sets '{k}', the URI names '{key}'."))),
        _ => return Err(ApiError::bad_request(S, "Request body contains too many items: 'meta' takes exactly one.")),
    };
    let item = BTreeMap::from([(key.clone(), value.clone())]);
    check_metadata(&item)?;
    change(&s, &h, &id, |id| kask::set_properties(id, item, false)).await?;
    Ok(Json(json!({"meta": {key: value}})))
}

/// `DELETE …/metadata/{key}`: Nova's 404 for an item the image does not have.
async fn delete_item(
    State(s): State<AppState>,
    mv: Microversion,
    h: HeaderMap,
    uri: Uri,
    Path((id, key)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    check_version(mv, &uri)?;
    change(&s, &h, &id, |id| kask::remove_property(id, key)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::compute::versions::testkit::*;

    #[tokio::test]
    async fn the_proxy_lists_and_shows_until_2_36() {
        let app = app();
        let r = get(&app, "/compute/v2.1/images", P1).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let rows = r.body["images"].as_array().unwrap().clone();
        assert_eq!(rows.len(), 3);
        let id = rows.iter().find(|i| i["name"] == "cirros-0.6").unwrap()["id"].as_str().unwrap().to_string();
        let one = get(&app, &format!("/compute/v2.1/images/{id}"), P1).await.body["image"].clone();
        assert_eq!((one["status"].clone(), one["progress"].clone(), one["minRam"].clone()), (json!("ACTIVE"), json!(100), json!(64)));
        assert_eq!(one["metadata"]["os_distro"], "cirros");
        assert_eq!(one["links"][0]["href"], format!("{BASE}/compute/v2.1/images/{id}"));
        let detail = get(&app, "/compute/v2.1/images/detail?minRam=512", P1).await.body["images"].clone();
        assert_eq!(detail.as_array().unwrap().len(), 2, "cirros needs only 64 MiB");
        assert_eq!(get(&app, "/compute/v2.1/images?limit=1", P1).await.body["images"].as_array().unwrap().len(), 1);
        let meta = get(&app, &format!("/compute/v2.1/images/{id}/metadata/os_version"), P1).await;
        assert_eq!(meta.body, json!({"meta": {"os_version": "0.6.2"}}));
        assert_eq!(get(&app, &format!("/compute/v2.1/images/{id}/metadata/nope"), P1).await.status, 404);
        let unknown = "/compute/v2.1/images/00000000-0000-4000-8000-000000000000";
        assert_eq!(get(&app, unknown, P1).await.status, 404);
        assert_eq!(call(&app, "DELETE", unknown, Some(P1), &[], None).await.status, 404);
        assert_eq!(call(&app, "PUT", &format!("{unknown}/metadata"), Some(P1), &[], Some(r#"{"metadata": {}}"#)).await.status, 404);
        assert_eq!(call(&app, "DELETE", &format!("/compute/v2.1/images/{id}"), Some(P1), &[], None).await.status, 403, "not its owner");
        assert_eq!(get_mv(&app, "/compute/v2.1/images", P1, "2.36").await.status, 404);
        assert_eq!(get_mv(&app, "/compute/v2.1/images", P1, "2.35").await.status, 200);
    }

    #[tokio::test]
    async fn the_proxy_changes_metadata_and_deletes_through_the_image_service() {
        let app = app();
        let r = call(&app, "POST", "/image/v2/images", Some(P1), &[], Some(r#"{"name": "mine", "a": "1", "b": "2"}"#)).await;
        let id = r.body["id"].as_str().unwrap().to_string();
        let meta = format!("/compute/v2.1/images/{id}/metadata");
        let r = call(&app, "POST", &meta, Some(P1), &[], Some(r#"{"metadata": {"c": "3"}}"#)).await;
        assert_eq!(r.body, json!({"metadata": {"a": "1", "b": "2", "c": "3"}}), "POST merges");
        let r = call(&app, "PUT", &meta, Some(P1), &[], Some(r#"{"metadata": {"a": "9"}}"#)).await;
        assert_eq!(r.body, json!({"metadata": {"a": "9"}}), "PUT replaces");
        let r = call(&app, "PUT", &format!("{meta}/d"), Some(P1), &[], Some(r#"{"meta": {"d": "4"}}"#)).await;
        assert_eq!((r.status.as_u16(), r.body.clone()), (200, json!({"meta": {"d": "4"}})));
        assert_eq!(call(&app, "PUT", &format!("{meta}/d"), Some(P1), &[], Some(r#"{"meta": {"e": "4"}}"#)).await.status, 400);
        assert_eq!(call(&app, "PUT", &meta, Some(P1), &[], Some(r#"{"metadata": {"a": 1}}"#)).await.status, 400, "values are strings");
        assert_eq!(call(&app, "DELETE", &format!("{meta}/a"), Some(P1), &[], None).await.status, 204);
        assert_eq!(call(&app, "DELETE", &format!("{meta}/a"), Some(P1), &[], None).await.status, 404);
        assert_eq!(get(&app, &format!("/image/v2/images/{id}"), P1).await.body["d"], "4", "one catalog behind both APIs");
        let r = call(&app, "PUT", &meta, Some(P2), &[], Some(r#"{"metadata": {}}"#)).await;
        assert_eq!((r.status.as_u16(), r.body["itemNotFound"]["code"].clone()), (404, json!(404)), "hidden from other projects, in Nova's body");
        let long = format!(r#"{{"metadata": {{"k": "{}"}}}}"#, "v".repeat(256));
        assert_eq!(call(&app, "POST", &meta, Some(P1), &[], Some(&long)).await.status, 400, "Nova's 255-character values");
        let hidden = call(&app, "POST", "/image/v2/images", Some(P1), &[], Some(r#"{"os_hidden": true}"#)).await.body["id"].clone();
        let rows = get(&app, "/compute/v2.1/images", P1).await.body["images"].clone();
        assert!(!rows.as_array().unwrap().iter().any(|i| i["id"] == hidden), "the proxy lists what Glance's default list does");
        assert_eq!(call(&app, "DELETE", &format!("/compute/v2.1/images/{id}"), Some(P1), &[], None).await.status, 204);
        assert_eq!(get(&app, &format!("/image/v2/images/{id}"), P1).await.status, 404);
    }
}
