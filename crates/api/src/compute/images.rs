//! Compute API: the image proxy (`/v2.1/images`), Nova's deprecated read-through view of the
//! image catalog. It answers before microversion 2.36, and 404 from then on, as Nova does.
//! Listings and shows come from the kernel's image views; metadata is the image's properties.
//! Writes (delete, metadata changes) need Glance writes, which are not built yet: they answer
//! 404 for an image the caller cannot see and 501 otherwise.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::routing::get;
use axum::{Json, Router};
use orrery_kernel::image::{self as kimage, Image};
use orrery_kernel::{Caller, Error, Kernel};
use serde_json::{json, Map, Value};

use super::versions::{auth, layer, read, Microversion};
use crate::error::{ApiError, Service};
use crate::util::iso;
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
            .route("/v2.1/images/{id}", get(show).delete(unbuilt))
            .route("/v2.1/images/{id}/metadata", get(metadata).put(unbuilt).post(unbuilt))
            .route("/v2.1/images/{id}/metadata/{key}", get(meta_item).put(unbuilt).delete(unbuilt)),
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
    let mut all: Vec<&Image> = kimage::visible_images(k, c)
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

/// A proxy write: 404 for an image the caller cannot see, else 501 (Glance writes are not built).
async fn unbuilt(
    State(s): State<AppState>,
    mv: Microversion,
    h: HeaderMap,
    method: Method,
    uri: Uri,
    Path(params): Path<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    check_version(mv, &uri)?;
    let id = params.into_iter().find(|(k, _)| k == "id").map(|(_, v)| v).unwrap_or_default();
    read(&s, S, auth(&h, S)?, move |k, c| one(k, c, &id)).await?;
    Err(ApiError::not_implemented(
        S,
        format!(
            "{method} {}: changing images through the compute proxy needs Glance writes, which orrery does not build yet (the images/volumes/objects issue).",
            uri.path()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::compute::versions::testkit::*;

    #[tokio::test]
    async fn the_proxy_lists_shows_and_refuses_writes_until_2_36() {
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
        assert_eq!(call(&app, "DELETE", &format!("/compute/v2.1/images/{id}"), Some(P1), &[], None).await.status, 501);
        assert_eq!(get_mv(&app, "/compute/v2.1/images", P1, "2.36").await.status, 404);
        assert_eq!(get_mv(&app, "/compute/v2.1/images", P1, "2.35").await.status, 200);
    }
}
