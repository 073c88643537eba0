//! The Image API (Glance v2) at `/image`: read-only metadata of the image catalog (the built-in
//! images in the kernel). Listing follows Glance's visibility rules, filters, sorting and
//! marker paging; creating, uploading, changing and deleting images answer 501 until image
//! data lives in the storage model.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
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
        .route("/v2/images", get(list).post(unbuilt))
        .route("/v2/images/", any(no_image_id))
        .route("/v2/images/{id}", get(show).patch(unbuilt_on_image).delete(unbuilt_on_image))
        .route("/v2/images/{id}/{*rest}", any(unbuilt_on_image))
        .route("/v2/schemas/image", get(image_schema))
        .route("/v2/schemas/images", get(images_schema))
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

/// An image in Glance's shape, with its extra properties flattened in.
pub fn image_json(img: &Image) -> Value {
    let id = img.id.to_string();
    let mut o: Map<String, Value> = img.properties.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    let core = json!({
        "id": id, "name": img.name, "status": img.status, "visibility": img.visibility,
        "size": img.size, "virtual_size": null, "checksum": img.checksum,
        "os_hash_algo": null, "os_hash_value": null,
        "disk_format": img.disk_format, "container_format": img.container_format,
        "min_disk": img.min_disk, "min_ram": img.min_ram,
        "created_at": iso(img.created_at), "updated_at": iso(img.updated_at),
        "tags": [], "owner": img.owner.map(|o| o.simple()), "protected": false, "os_hidden": false,
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
    visibility: Option<String>,
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
        let skip = ["limit", "marker", "visibility", "sort", "sort_key", "sort_dir", "member_status", "os_hidden"];
        let filters = q.iter().filter(|(k, _)| !skip.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
        Ok(ListQuery { filters, visibility, sort: parse_sort(q)?, limit, marker })
    }

    /// Whether a visible image passes the query's visibility and field filters.
    fn keep(&self, img: &Image) -> bool {
        let vis_ok = match self.visibility.as_deref() {
            None => img.visibility != "community",
            Some("all") => true,
            Some(v) => img.visibility == v,
        };
        vis_ok && self.filters.iter().all(|(k, v)| field(img, k).is_some_and(|f| filter_matches(&f, v)))
    }

    fn select(&self, k: &Kernel, caller: &Caller) -> orrery_kernel::Result<Vec<Image>> {
        let mut imgs: Vec<&Image> = kimage::visible_images(k, caller).filter(|i| self.keep(i)).collect();
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

fn image_schema_doc() -> Value {
    let s = |t: &str| json!({"type": t});
    let n = |t: &str| json!({"type": [t, "null"]});
    json!({
        "name": "image",
        "properties": {
            "id": {"type": "string", "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"},
            "name": n("string"), "status": s("string"), "visibility": {"type": "string", "enum": ["community", "public", "private", "shared"]},
            "protected": s("boolean"), "os_hidden": s("boolean"), "checksum": n("string"), "os_hash_algo": n("string"), "os_hash_value": n("string"),
            "owner": n("string"), "size": n("integer"), "virtual_size": n("integer"),
            "container_format": n("string"), "disk_format": n("string"), "created_at": s("string"), "updated_at": s("string"),
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 255}}, "min_ram": s("integer"), "min_disk": s("integer"),
            "self": s("string"), "file": s("string"), "schema": s("string"),
        },
        "additionalProperties": {"type": "string"},
        "links": [{"rel": "self", "href": "{self}"}, {"rel": "enclosure", "href": "{file}"}, {"rel": "describedby", "href": "{schema}"}],
    })
}

async fn image_schema(State(s): State<AppState>, h: HeaderMap) -> Result<Json<Value>, ApiError> {
    read(&s, S, auth(&h, S)?, |_, _| Ok(())).await?;
    Ok(Json(image_schema_doc()))
}

async fn images_schema(State(s): State<AppState>, h: HeaderMap) -> Result<Json<Value>, ApiError> {
    read(&s, S, auth(&h, S)?, |_, _| Ok(())).await?;
    Ok(Json(json!({
        "name": "images",
        "properties": {
            "images": {"type": "array", "items": image_schema_doc()},
            "schema": {"type": "string"}, "first": {"type": "string"}, "next": {"type": "string"},
        },
        "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"}, {"rel": "describedby", "href": "{schema}"}],
    })))
}

#[cfg(test)]
mod tests {
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
        let r = call(&app, "POST", "/image/v2/images", Some(P1), &[], Some(r#"{"name": "x"}"#)).await;
        assert_eq!(r.status, 501);
        assert!(r.body["message"].as_str().unwrap().contains("images/volumes/objects"));
        assert_eq!(call(&app, "PUT", &format!("/image/v2/images/{id}/file"), Some(P1), &[], Some("x")).await.status, 501);
        let unknown = "/image/v2/images/00000000-0000-4000-8000-000000000000";
        for (method, path) in
            [("DELETE", unknown.to_string()), ("PATCH", unknown.to_string()), ("PUT", format!("{unknown}/file")), ("GET", "/image/v2/images/".into())]
        {
            assert_eq!(call(&app, method, &path, Some(P1), &[], Some("{}")).await.status, 404, "{method} {path}: Glance finds no such image first");
        }
        assert_eq!(call(&app, "DELETE", &format!("/image/v2/images/{id}"), Some(P1), &[], None).await.status, 501);
        assert_eq!(get(&app, "/image/v2/schemas/image", P1).await.body["name"], "image");
    }
}
