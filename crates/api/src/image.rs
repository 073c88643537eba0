//! The Image API (Glance v2) at `/image`: the image catalog's metadata. Images are created,
//! patched, tagged, shared with members, deactivated and deleted ([`writes`], [`members`]); the
//! metadata definitions catalog is in [`metadefs`];
//! listing follows Glance's visibility and member rules, filters, sorting and marker paging;
//! the schemas are in [`schemas`]. Image data (upload, download, staging, import) answers 501
//! until it lives in the storage model, so a created image stays `queued`.

mod members;
mod metadefs;
mod schemas;
mod writes;

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, put};
use axum::{Json, Router};
use orrery_kernel::image::{self as kimage, Image};
use orrery_kernel::{Caller, Error, Kernel, Uuid};
use serde_json::{json, Map, Value};

use crate::compute::versions::{auth, read};
use crate::error::{ApiError, Service};
use crate::util::iso;
use crate::AppState;

const S: Service = Service::Image;

/// Glance versions orrery lists; the first is current.
const VERSIONS: [&str; 10] = ["2.9", "2.8", "2.7", "2.6", "2.5", "2.4", "2.3", "2.2", "2.1", "2.0"];

/// Routes of the Image API, relative to its mount point.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(root))
        .route("/versions", get(versions))
        .route("/v2/images", get(list).post(writes::create))
        .route("/v2/images/", any(no_image_id))
        .route("/v2/images/{id}", get(show).patch(writes::update).delete(writes::delete))
        .route("/v2/images/{id}/actions/{action}", post(writes::action))
        .route("/v2/images/{id}/tags/{tag}", put(writes::add_tag).delete(writes::remove_tag))
        .route("/v2/images/{id}/members", get(members::list).post(members::create))
        .route("/v2/images/{id}/members/{member}", get(members::show).put(members::update).delete(members::delete))
        .route("/v2/images/{id}/file", get(download).put(unbuilt_on_image))
        .route("/v2/images/{id}/{*rest}", any(unbuilt_on_image))
        .route("/v2/schemas/{*name}", get(schemas::show))
        .route("/v2/info/import", get(info_import))
        .route("/v2/info/stores", get(info_stores))
        .merge(metadefs::routes())
        .route("/v2/{*rest}", any(unbuilt))
        .fallback(crate::error::service_fallback(S))
}

fn versions_doc(base: &str) -> Value {
    let list: Vec<Value> = VERSIONS
        .iter()
        .enumerate()
        .map(|(i, v)| json!({"id": format!("v{v}"), "status": if i == 0 { "CURRENT" } else { "SUPPORTED" }, "links": [{"rel": "self", "href": format!("{base}/image/v2/")}]}))
        .collect();
    json!({"versions": list})
}

/// `GET /image`: Glance answers 300 Multiple Choices with its versions.
pub async fn root(State(s): State<AppState>) -> Response {
    (StatusCode::MULTIPLE_CHOICES, Json(versions_doc(&s.site.base_url))).into_response()
}

async fn versions(State(s): State<AppState>) -> Json<Value> {
    Json(versions_doc(&s.site.base_url))
}

async fn unbuilt(method: Method, uri: Uri) -> ApiError {
    ApiError::not_implemented(
        S,
        format!(
            "orrery's Image API serves image metadata only; {method} {} is not built yet (image upload is part of the images/volumes/objects issue).",
            uri.path()
        ),
    )
}

/// `…/v2/images/` with no id: Glance finds no image there.
async fn no_image_id() -> ApiError {
    ApiError::not_found(S, "No image found with ID (an empty id).")
}

/// What orrery does not build yet on one image: Glance's 404 if the caller sees no image
/// `id`, else the 501 naming what is missing.
async fn unbuilt_on_image(
    State(s): State<AppState>,
    h: HeaderMap,
    method: Method,
    uri: Uri,
    Path(params): Path<Vec<(String, String)>>,
) -> Result<ApiError, ApiError> {
    let id = params.into_iter().find(|(k, _)| k == "id").map(|(_, v)| v).unwrap_or_default();
    read(&s, S, auth(&h, S)?, move |k, c| kimage::image(k, c, &id)).await?;
    Ok(unbuilt(method, uri).await)
}

/// The id of an image the caller sees: Glance's 404 for a malformed id or an image it cannot see.
async fn image_id(s: &AppState, h: &HeaderMap, id: &str) -> Result<Uuid, ApiError> {
    let id = id.to_string();
    read(s, S, auth(h, S)?, move |k, c| kimage::image(k, c, &id).map(|i| i.id)).await
}

/// `GET /v2/images/{id}/file`: a queued image has no data yet (204, as Glance); a deactivated
/// one refuses downloads (403); the data of any other is not stored yet (501).
async fn download(State(s): State<AppState>, h: HeaderMap, method: Method, uri: Uri, Path(id): Path<String>) -> Result<Response, ApiError> {
    match read(&s, S, auth(&h, S)?, move |k, c| kimage::download(k, c, &id)).await? {
        None => Ok(StatusCode::NO_CONTENT.into_response()),
        Some(_) => Ok(unbuilt(method, uri).await.into_response()),
    }
}

/// `GET /v2/info/import`: the import methods on offer. None yet: importing needs image data.
async fn info_import(State(s): State<AppState>, h: HeaderMap) -> Result<Json<Value>, ApiError> {
    read(&s, S, auth(&h, S)?, |_, _| Ok(())).await?;
    Ok(Json(json!({"import-methods": {"description": "Import methods available.", "type": "array", "value": []}})))
}

/// `GET /v2/info/stores`: Glance's 404 where multiple stores are not configured.
async fn info_stores(State(s): State<AppState>, h: HeaderMap) -> Result<Json<Value>, ApiError> {
    read(&s, S, auth(&h, S)?, |_, _| Ok(())).await?;
    Err(ApiError::not_found(S, "Multi backend is not supported at this site."))
}

/// Text that Glance shows as `null` when empty.
fn or_null(s: &str) -> Value {
    if s.is_empty() {
        Value::Null
    } else {
        json!(s)
    }
}

/// An image in Glance's shape, with its extra properties flattened in. A queued image has no
/// data, so no size or checksum.
pub fn image_json(img: &Image) -> Value {
    let id = img.id.to_string();
    let mut o: Map<String, Value> = img.properties.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    let queued = img.status == "queued";
    let core = json!({
        "id": id, "name": or_null(&img.name), "status": img.status, "visibility": img.visibility,
        "size": if queued { Value::Null } else { json!(img.size) }, "virtual_size": null, "checksum": or_null(&img.checksum),
        "os_hash_algo": null, "os_hash_value": null,
        "disk_format": or_null(&img.disk_format), "container_format": or_null(&img.container_format),
        "min_disk": img.min_disk, "min_ram": img.min_ram,
        "created_at": iso(img.created_at), "updated_at": iso(img.updated_at),
        "tags": img.extra.tags, "owner": img.owner.map(|o| o.simple()), "protected": img.extra.protected, "os_hidden": img.extra.hidden,
        "self": format!("/v2/images/{id}"), "file": format!("/v2/images/{id}/file"), "schema": "/v2/schemas/image",
    });
    if let Value::Object(c) = core {
        o.extend(c);
    }
    Value::Object(o)
}

/// The value of a sortable or filterable field, as text.
fn field(img: &Image, key: &str) -> Option<String> {
    Some(match key {
        "id" => img.id.to_string(),
        "name" => img.name.clone(),
        "status" => img.status.clone(),
        "visibility" => img.visibility.clone(),
        "disk_format" => img.disk_format.clone(),
        "container_format" => img.container_format.clone(),
        "owner" => img.owner.map(|o| o.simple()).unwrap_or_default(),
        "size" => format!("{:020}", img.size),
        "min_disk" => format!("{:020}", img.min_disk),
        "min_ram" => format!("{:020}", img.min_ram),
        "created_at" => format!("{:020}", img.created_at.0),
        "updated_at" => format!("{:020}", img.updated_at.0),
        other => return img.properties.get(other).cloned(),
    })
}

/// Whether a field's text matches a filter value: equality, or Glance's `in:a,b,c` operator.
fn filter_matches(field: &str, want: &str) -> bool {
    let eq = |v: &str| field.trim_start_matches('0') == v.trim_start_matches('0') || field == v;
    match want.strip_prefix("in:") {
        Some(list) => list.split(',').any(|v| eq(v.trim().trim_matches('"'))),
        None => eq(want),
    }
}

/// Parsed list options.
struct ListQuery {
    filters: Vec<(String, String)>,
    /// Visibility, member status and hidden images: the kernel's listing rules.
    listing: kimage::Listing,
    tag: Option<String>,
    size: (Option<u64>, Option<u64>),
    sort: Vec<(String, bool)>,
    limit: Option<usize>,
    marker: Option<Uuid>,
}

const SORT_KEYS: &[&str] =
    &["id", "name", "status", "visibility", "disk_format", "container_format", "owner", "size", "min_disk", "min_ram", "created_at", "updated_at"];

fn parse_sort(q: &BTreeMap<String, String>) -> Result<Vec<(String, bool)>, ApiError> {
    let mut sort = Vec::new();
    if let Some(s) = q.get("sort") {
        for item in s.split(',') {
            let (key, dir) = item.split_once(':').unwrap_or((item, "desc"));
            sort.push((key.trim().to_string(), dir.trim() == "asc"));
        }
    } else if let Some(key) = q.get("sort_key") {
        sort.push((key.clone(), q.get("sort_dir").is_some_and(|d| d == "asc")));
    }
    for (key, _) in &sort {
        if !SORT_KEYS.contains(&key.as_str()) {
            return Err(ApiError::bad_request(S, format!("Invalid sort key: {key}. It should be one of the following: {}.", SORT_KEYS.join(", "))));
        }
    }
    if sort.is_empty() {
        sort.push(("created_at".into(), false));
    }
    sort.push(("id".into(), false));
    Ok(sort)
}

impl ListQuery {
    fn parse(q: &BTreeMap<String, String>) -> Result<ListQuery, ApiError> {
        let limit =
            q.get("limit").map(|l| l.parse::<usize>().map_err(|_| ApiError::bad_request(S, format!("limit param must be an integer: {l}")))).transpose()?;
        let marker = q
            .get("marker")
            .map(|m| m.parse::<Uuid>().map_err(|_| ApiError::bad_request(S, format!("Invalid marker. Image {m} could not be found."))))
            .transpose()?;
        let visibility = q.get("visibility").cloned();
        if let Some(v) = &visibility {
            if !["public", "private", "shared", "community", "all"].contains(&v.as_str()) {
                return Err(ApiError::bad_request(S, format!("Invalid visibility value: {v}")));
            }
        }
        let member_status = match q.get("member_status").map(String::as_str) {
            None => Some(kimage::MemberStatus::Accepted),
            Some("all") => None,
            Some(m) => Some(kimage::MemberStatus::parse(m).ok_or_else(|| {
                ApiError::bad_request(S, format!("Invalid status value: {m}: member_status must be one of accepted, pending, rejected or all."))
            })?),
        };
        let hidden = match q.get("os_hidden").map(|v| v.to_ascii_lowercase()) {
            None => false,
            Some(v) if v == "true" => true,
            Some(v) if v == "false" => false,
            Some(v) => return Err(ApiError::bad_request(S, format!("Invalid value '{v}' for os_hidden: it must be true or false."))),
        };
        let size = |key: &str| {
            q.get(key)
                .map(|v| v.parse::<u64>().map_err(|_| ApiError::bad_request(S, format!("Invalid value '{v}' for {key}: an integer is expected."))))
                .transpose()
        };
        let size = (size("size_min")?, size("size_max")?);
        let skip = ["limit", "marker", "visibility", "sort", "sort_key", "sort_dir", "member_status", "os_hidden", "tag", "size_min", "size_max"];
        let filters = q.iter().filter(|(k, _)| !skip.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
        let listing = kimage::Listing { visibility, member_status, hidden };
        Ok(ListQuery { filters, listing, tag: q.get("tag").cloned(), size, sort: parse_sort(q)?, limit, marker })
    }

    /// Whether an image is in the caller's listing and passes the query's field filters.
    fn keep(&self, img: &Image, c: &Caller) -> bool {
        let tag_ok = self.tag.as_ref().is_none_or(|t| img.extra.tags.contains(t));
        let sized = !(img.status == "queued" && (self.size.0.is_some() || self.size.1.is_some()));
        let size_ok = sized && self.size.0.is_none_or(|m| img.size >= m) && self.size.1.is_none_or(|m| img.size <= m);
        kimage::listed(img, c, &self.listing) && tag_ok && size_ok && self.filters.iter().all(|(k, v)| field(img, k).is_some_and(|f| filter_matches(&f, v)))
    }

    fn select(&self, k: &Kernel, caller: &Caller) -> orrery_kernel::Result<Vec<Image>> {
        let mut imgs: Vec<&Image> = kimage::visible_images(k, caller).filter(|i| self.keep(i, caller)).collect();
        imgs.sort_by(|a, b| {
            self.sort
                .iter()
                .map(|(key, asc)| {
                    let o = field(a, key).cmp(&field(b, key));
                    if *asc {
                        o
                    } else {
                        o.reverse()
                    }
                })
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let start = match self.marker {
            Some(m) => imgs
                .iter()
                .position(|i| i.id == m)
                .map(|p| p + 1)
                .ok_or_else(|| Error::bad_request("image.bad_request", format!("Invalid marker. Image {m} could not be found.")))?,
            None => 0,
        };
        Ok(imgs.into_iter().skip(start).take(self.limit.unwrap_or(usize::MAX)).cloned().collect())
    }
}

async fn list(State(s): State<AppState>, h: HeaderMap, Query(q): Query<BTreeMap<String, String>>) -> Result<Json<Value>, ApiError> {
    let lq = ListQuery::parse(&q)?;
    let limit = lq.limit;
    let imgs = read(&s, S, auth(&h, S)?, move |k, c| lq.select(k, c)).await?;
    let mut body = json!({"images": imgs.iter().map(image_json).collect::<Vec<_>>(), "first": "/v2/images", "schema": "/v2/schemas/images"});
    if let (Some(l), Some(last)) = (limit, imgs.last()) {
        if imgs.len() == l {
            body["next"] = json!(format!("/v2/images?marker={}&limit={l}", last.id));
        }
    }
    Ok(Json(body))
}

async fn show(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let img = read(&s, S, auth(&h, S)?, move |k, c| kimage::image(k, c, &id)).await?;
    Ok(Json(image_json(&img)))
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod read_tests {
    use serde_json::json;

    use crate::compute::versions::testkit::*;

    #[tokio::test]
    async fn versions_list_show_and_unbuilt() {
        let app = app();
        let r = call(&app, "GET", "/image", None, &[], None).await;
        assert_eq!(r.status, 300);
        assert_eq!(r.body["versions"][0]["status"], "CURRENT");
        assert_eq!(call(&app, "GET", "/image/", None, &[], None).await.status, 300);
        assert_eq!(call(&app, "GET", "/placement/", None, &[], None).await.body["versions"][0]["id"], "v1.0");
        assert_eq!(call(&app, "GET", "/image/v2/images", None, &[], None).await.status, 401);
        let r = get(&app, "/image/v2/images", P1).await;
        assert_eq!(r.status, 200);
        let imgs = r.body["images"].as_array().unwrap().clone();
        assert_eq!(imgs.len(), 3);
        assert_eq!((r.body["first"].clone(), r.body["schema"].clone()), (json!("/v2/images"), json!("/v2/schemas/images")));
        let cirros = get(&app, "/image/v2/images?name=cirros-0.6", P1).await.body["images"][0].clone();
        assert_eq!(
            (cirros["os_distro"].clone(), cirros["disk_format"].clone(), cirros["visibility"].clone()),
            (json!("cirros"), json!("qcow2"), json!("public"))
        );
        assert_eq!(cirros["self"], format!("/v2/images/{}", cirros["id"].as_str().unwrap()));
        assert!(super::filter_matches("abc", "in:xyz,abc") && !super::filter_matches("abc", "in:xyz,ab"));
        let id = cirros["id"].as_str().unwrap();
        assert_eq!(get(&app, &format!("/image/v2/images/{id}"), P1).await.body["name"], "cirros-0.6");
        let r = get(&app, "/image/v2/images/00000000-0000-4000-8000-000000000000", P1).await;
        assert_eq!((r.status.as_u16(), r.body["code"].clone()), (404, json!(404)));
        let sorted = get(&app, "/image/v2/images?sort=name:asc&limit=2", P1).await.body;
        let names: Vec<_> = sorted["images"].as_array().unwrap().iter().map(|i| i["name"].clone()).collect();
        assert_eq!(names, [json!("cirros-0.6"), json!("debian-12")]);
        let next = sorted["next"].as_str().unwrap().to_string();
        let rest = get(&app, &format!("/image{next}&sort=name:asc"), P1).await.body;
        assert_eq!(rest["images"][0]["name"], "ubuntu-24.04");
        assert_eq!(get(&app, "/image/v2/images?visibility=private", P1).await.body["images"], json!([]));
        assert_eq!(get(&app, "/image/v2/images?sort_key=colour", P1).await.status, 400);
        assert_eq!(call(&app, "PUT", &format!("/image/v2/images/{id}/file"), Some(P1), &[], Some("x")).await.status, 501);
        let r = get(&app, &format!("/image/v2/images/{id}/file"), P1).await;
        assert_eq!(r.status, 501, "the built-in images' data is not stored yet");
        assert!(r.body["message"].as_str().unwrap().contains("images/volumes/objects"));
        let unknown = "/image/v2/images/00000000-0000-4000-8000-000000000000";
        for (method, path) in
            [("DELETE", unknown.to_string()), ("PUT", format!("{unknown}/file")), ("GET", "/image/v2/images/".into()), ("GET", format!("{unknown}/members"))]
        {
            assert_eq!(call(&app, method, &path, Some(P1), &[], Some("{}")).await.status, 404, "{method} {path}: Glance finds no such image first");
        }
        assert_eq!(call(&app, "DELETE", &format!("/image/v2/images/{id}"), Some(P1), &[], None).await.status, 403, "only its owner or an admin");
        assert_eq!(get(&app, "/image/v2/schemas/image", P1).await.body["name"], "image");
    }
}
