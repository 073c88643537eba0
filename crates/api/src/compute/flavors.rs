//! Compute API: flavors, their extra specs (`os-extra_specs`) and access lists
//! (`os-flavor-access`, `addTenantAccess` / `removeTenantAccess` actions).
//!
//! From microversion 2.86 extra spec writes are checked against Nova's registry of known specs
//! ([`super::extra_specs`]).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use orrery_kernel::compute::flavors::{self as kflavors, Cmd, Flavor};
use orrery_kernel::compute::{self as kcompute};
use orrery_kernel::topology::Ratio;
use orrery_kernel::{Command, Error, Uuid};
use serde::Deserialize;
use serde_json::{json, Value};

use super::extra_specs;
use super::versions::{apply, ask, auth, layer, read, Microversion};
use crate::error::{ApiError, Service};
use crate::util::{new_uuid, parse_json};
use crate::AppState;
use orrery_kernel::ask::compute as kask;

const S: Service = Service::Compute;

/// Routes for flavors.
pub fn routes() -> Router<AppState> {
    layer(
        Router::new()
            .route("/v2.1/flavors", get(list).post(create))
            .route("/v2.1/flavors/detail", get(detail))
            .route("/v2.1/flavors/{id}", get(show).put(update).delete(delete))
            .route("/v2.1/flavors/{id}/action", post(action))
            .route("/v2.1/flavors/{id}/os-flavor-access", get(access_list))
            .route("/v2.1/flavors/{id}/os-extra_specs", get(specs_list).post(specs_create))
            .route("/v2.1/flavors/{id}/os-extra_specs/{key}", get(spec_show).put(spec_update).delete(spec_delete)),
    )
}

/// Links of a compute resource: `self` under /v2.1 and `bookmark` without the version.
pub fn links(base: &str, collection: &str, id: &str) -> Value {
    json!([
        {"rel": "self", "href": format!("{base}/compute/v2.1/{collection}/{id}")},
        {"rel": "bookmark", "href": format!("{base}/compute/{collection}/{id}")},
    ])
}

/// A flavor's summary (list) shape.
fn summary(f: &Flavor, mv: Microversion, base: &str) -> Value {
    let mut o = json!({"id": f.id, "name": f.name, "links": links(base, "flavors", &f.id)});
    if mv.at_least(55) {
        o["description"] = json!(f.description);
    }
    o
}

/// A flavor's full shape at microversion `mv`.
pub fn flavor_json(f: &Flavor, mv: Microversion, base: &str) -> Value {
    let mut o = summary(f, mv, base);
    o["vcpus"] = json!(f.vcpus);
    o["ram"] = json!(f.ram);
    o["disk"] = json!(f.disk);
    o["OS-FLV-EXT-DATA:ephemeral"] = json!(f.ephemeral);
    o["swap"] = if f.swap == 0 && !mv.at_least(75) { json!("") } else { json!(f.swap) };
    o["rxtx_factor"] = json!(f.rxtx_factor.0);
    o["os-flavor-access:is_public"] = json!(f.is_public);
    o["OS-FLV-DISABLED:disabled"] = json!(false);
    if mv.at_least(61) {
        o["extra_specs"] = json!(f.extra_specs);
    }
    o
}

/// Flavor list filters: `is_public`, `minRam`, `minDisk`, `marker`, `limit`.
fn filtered(k: &orrery_kernel::Kernel, caller: &orrery_kernel::Caller, q: &BTreeMap<String, String>) -> orrery_kernel::Result<Vec<Flavor>> {
    let is_public = match q.get("is_public").map(|s| s.to_ascii_lowercase()) {
        None => Some(true),
        Some(v) if ["none"].contains(&v.as_str()) => None,
        Some(v) if ["true", "1", "t", "yes", "y", "on"].contains(&v.as_str()) => Some(true),
        Some(v) if ["false", "0", "f", "no", "n", "off"].contains(&v.as_str()) => Some(false),
        Some(v) => return Err(Error::bad_request("compute.bad_request", format!("Invalid is_public filter [{v}]"))),
    };
    let num = |key: &str| -> orrery_kernel::Result<u64> {
        q.get(key).map_or(Ok(0), |v| v.parse().map_err(|_| Error::bad_request("compute.bad_request", format!("Invalid {key} filter [{v}]"))))
    };
    let limit = q
        .get("limit")
        .map(|v| v.parse::<usize>().map_err(|_| Error::bad_request("compute.bad_request", format!("Invalid input for query parameters limit. Value: {v}."))))
        .transpose()?;
    let lq = kflavors::ListQuery { is_public, min_ram: num("minRam")?, min_disk: num("minDisk")?, marker: q.get("marker").cloned(), limit };
    kflavors::list(k, caller, &lq)
}

async fn list(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Query(q): Query<BTreeMap<String, String>>) -> Result<Json<Value>, ApiError> {
    let base = s.site.base_url.clone();
    let flavors = read(&s, S, auth(&h, S)?, move |k, c| filtered(k, c, &q)).await?;
    Ok(Json(json!({"flavors": flavors.iter().map(|f| summary(f, mv, &base)).collect::<Vec<_>>()})))
}

async fn detail(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Query(q): Query<BTreeMap<String, String>>) -> Result<Json<Value>, ApiError> {
    let base = s.site.base_url.clone();
    let flavors = read(&s, S, auth(&h, S)?, move |k, c| filtered(k, c, &q)).await?;
    Ok(Json(json!({"flavors": flavors.iter().map(|f| flavor_json(f, mv, &base)).collect::<Vec<_>>()})))
}

async fn find(s: &AppState, h: &HeaderMap, id: String) -> Result<Flavor, ApiError> {
    read(s, S, auth(h, S)?, move |k, c| kflavors::find(k, c, &id).cloned()).await
}

async fn show(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let f = find(&s, &h, id).await?;
    Ok(Json(json!({"flavor": flavor_json(&f, mv, &s.site.base_url)})))
}

/// Runs a flavor command whose reply says nothing beyond success.
async fn run(s: &AppState, h: &HeaderMap, cmd: Cmd) -> Result<(), ApiError> {
    apply(s, S, auth(h, S)?, Command::Compute(kcompute::Cmd::Flavor(cmd))).await.map(drop)
}

/// Runs a typed flavor command and returns the flavor it leaves behind.
async fn run_ask(s: &AppState, h: &HeaderMap, a: orrery_kernel::ask::Ask<Flavor>) -> Result<Flavor, ApiError> {
    ask(s, S, auth(h, S)?, a).await
}

/// A number Nova accepts as a JSON integer or a string of digits.
#[derive(Deserialize)]
#[serde(untagged)]
enum Num {
    Int(i64),
    Float(f64),
    Text(String),
}

impl Num {
    fn int(&self, field: &str, min: i64) -> Result<u64, ApiError> {
        let v = match self {
            Num::Int(i) => Some(*i),
            Num::Text(t) if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => t.parse().ok(),
            _ => None,
        };
        match v {
            Some(v) if v >= min && v <= i64::from(i32::MAX) => Ok(v as u64),
            _ => Err(ApiError::bad_request(
                S,
                format!("Invalid input for field/attribute {field}. Value: {}. It must be an integer from {min} to {}.", self.show(), i32::MAX),
            )),
        }
    }

    fn ratio(&self) -> Result<Ratio, ApiError> {
        let v = match self {
            Num::Int(i) => Some(*i as f64),
            Num::Float(f) => Some(*f),
            Num::Text(t) => t.parse().ok(),
        };
        match v {
            Some(v) if v > 0.0 && v <= 3.40282e38 => Ok(Ratio(v)),
            _ => Err(ApiError::bad_request(S, format!("Invalid input for field/attribute rxtx_factor. Value: {}. It must be a number above 0.", self.show()))),
        }
    }

    fn show(&self) -> String {
        match self {
            Num::Int(i) => i.to_string(),
            Num::Float(f) => f.to_string(),
            Num::Text(t) => t.clone(),
        }
    }
}

/// An id Nova accepts as a string or a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum FlavorId {
    Text(String),
    Int(i64),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    flavor: CreateFlavor,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateFlavor {
    name: String,
    ram: Num,
    vcpus: Num,
    disk: Num,
    #[serde(default)]
    id: Option<FlavorId>,
    #[serde(rename = "OS-FLV-EXT-DATA:ephemeral", default)]
    ephemeral: Option<Num>,
    #[serde(default)]
    swap: Option<Num>,
    #[serde(default)]
    rxtx_factor: Option<Num>,
    #[serde(rename = "os-flavor-access:is_public", default, deserialize_with = "crate::util::nova_bool")]
    is_public: Option<bool>,
    #[serde(default)]
    description: Option<Option<String>>,
}

impl CreateFlavor {
    fn into_flavor(self, mv: Microversion) -> Result<Flavor, ApiError> {
        if self.description.is_some() && !mv.at_least(55) {
            return Err(ApiError::bad_request(
                S,
                "Invalid input for field/attribute flavor. Additional properties are not allowed ('description' was unexpected)",
            ));
        }
        let id = match self.id {
            None => new_uuid().to_string(),
            Some(FlavorId::Int(i)) => i.to_string(),
            Some(FlavorId::Text(t)) => t,
        };
        let mut f = Flavor::new(&id, &self.name, 0, 0, 0);
        f.vcpus = self.vcpus.int("vcpus", 1)? as u32;
        f.ram = self.ram.int("ram", 1)?;
        f.disk = self.disk.int("disk", 0)?;
        f.ephemeral = self.ephemeral.map(|n| n.int("OS-FLV-EXT-DATA:ephemeral", 0)).transpose()?.unwrap_or(0);
        f.swap = self.swap.map(|n| n.int("swap", 0)).transpose()?.unwrap_or(0);
        f.rxtx_factor = self.rxtx_factor.map(|n| n.ratio()).transpose()?.unwrap_or(Ratio(1.0));
        f.is_public = self.is_public.unwrap_or(true);
        f.description = self.description.flatten();
        Ok(f)
    }
}

async fn create(State(s): State<AppState>, mv: Microversion, h: HeaderMap, body: Bytes) -> Result<Json<Value>, ApiError> {
    auth(&h, S)?;
    let f = parse_json::<CreateBody>(S, &body)?.flavor.into_flavor(mv)?;
    let f = run_ask(&s, &h, kask::create_flavor(f)).await?;
    Ok(Json(json!({"flavor": flavor_json(&f, mv, &s.site.base_url)})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    flavor: UpdateFlavor,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateFlavor {
    description: Option<String>,
}

async fn update(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    if !mv.at_least(55) {
        return Err(ApiError::new(S, Error::not_found("compute.not_found", "The resource could not be found.".into())));
    }
    let b: UpdateBody = parse_json(S, &body)?;
    let f = run_ask(&s, &h, kask::change_flavor(Cmd::SetDescription { id, description: b.flavor.description })).await?;
    Ok(Json(json!({"flavor": flavor_json(&f, mv, &s.site.base_url)})).into_response())
}

async fn delete(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    run(&s, &h, Cmd::Delete { id }).await?;
    Ok(StatusCode::ACCEPTED)
}

fn access_json(f: &Flavor) -> Value {
    let list: Vec<Value> = f.access.iter().map(|p| json!({"flavor_id": f.id, "tenant_id": p.simple()})).collect();
    json!({"flavor_access": list})
}

async fn access_list(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let f = read(&s, S, auth(&h, S)?, move |k, c| {
        if !c.admin {
            return Err(Error::forbidden("compute.forbidden", "Policy doesn't allow os_compute_api:os-flavor-access to be performed.".into()));
        }
        kflavors::find(k, c, &id).cloned()
    })
    .await?;
    if f.is_public {
        return Err(ApiError::not_found(S, "Access list not available for public flavors."));
    }
    Ok(Json(access_json(&f)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Tenant {
    tenant: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
enum ActionBody {
    #[serde(rename = "addTenantAccess")]
    Add(Tenant),
    #[serde(rename = "removeTenantAccess")]
    Remove(Tenant),
}

async fn action(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let b: ActionBody = parse_json(S, &body)?;
    let cmd = match b {
        ActionBody::Add(t) => Cmd::AddAccess { id: id.clone(), project: project_id(&t.tenant)? },
        ActionBody::Remove(t) => Cmd::RemoveAccess { id: id.clone(), project: project_id(&t.tenant)? },
    };
    let f = run_ask(&s, &h, kask::change_flavor(cmd)).await?;
    Ok(Json(access_json(&f)))
}

/// Parses a project id (Keystone's 32 hex digits or a hyphenated UUID).
pub fn project_id(text: &str) -> Result<Uuid, ApiError> {
    text.parse().map_err(|_| ApiError::bad_request(S, format!("Project ID {text} is not a valid project.")))
}

/// An extra spec value: Nova accepts strings, numbers and booleans and stores their text.
#[derive(Deserialize)]
#[serde(untagged)]
enum SpecValue {
    Text(String),
    Int(i64),
    UInt(u64),
    Float(f64),
    Bool(bool),
}

impl SpecValue {
    /// The text Nova stores and validates: Python's `str()` of the value.
    fn text(self) -> String {
        match self {
            SpecValue::Text(t) => t,
            SpecValue::Int(i) => i.to_string(),
            SpecValue::UInt(u) => u.to_string(),
            SpecValue::Float(f) => python_float(f),
            SpecValue::Bool(b) => if b { "True" } else { "False" }.to_string(),
        }
    }
}

/// A float as Python's `str()` prints it: the shortest round-trip digits (a tie between two
/// goes to the even one, as Python's does), in fixed notation with at least one decimal (`2.0`)
/// for exponents -4 to 15, else as `1e+16` or `1.5e-05`.
fn python_float(f: f64) -> String {
    let shortest = format!("{:e}", f.abs());
    let len = shortest.split('e').next().map_or(1, |m| m.len() - usize::from(m.contains('.')));
    let sci = format!("{:.*e}", len - 1, f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits = mantissa.replace('.', "");
    let sign = if f.is_sign_negative() { "-" } else { "" };
    if !(-4..16).contains(&exp) {
        let (lead, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        return format!("{sign}{lead}{dot}{rest}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.unsigned_abs());
    }
    let point = exp + 1;
    let fixed = match usize::try_from(point) {
        Err(_) | Ok(0) => format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize)),
        Ok(p) if p >= digits.len() => format!("{digits}{}.0", "0".repeat(p - digits.len())),
        Ok(p) => format!("{}.{}", &digits[..p], &digits[p..]),
    };
    format!("{sign}{fixed}")
}

/// From 2.86 each spec must satisfy Nova's registry ([`extra_specs::validate`]). Nova checks
/// policy first, so a caller who may not change flavors still hears 403 rather than the 400;
/// the caller is looked up only when a spec fails.
async fn check_known(s: &AppState, h: &HeaderMap, mv: Microversion, specs: &BTreeMap<String, String>) -> Result<(), ApiError> {
    if !mv.at_least(86) {
        return Ok(());
    }
    let Err(invalid) = specs.iter().try_for_each(|(k, v)| extra_specs::validate(k, v)) else { return Ok(()) };
    if !read(s, S, auth(h, S)?, |_, c| Ok(c.admin)).await? {
        // The kernel's refusal of any flavor command by a non-admin, in the same words.
        return Err(ApiError::new(S, Error::forbidden("compute.forbidden", "Policy doesn't allow os_compute_api:os-flavor-manage to be performed.".into())));
    }
    Err(ApiError::bad_request(S, invalid.to_string()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecsBody {
    extra_specs: BTreeMap<String, SpecValue>,
}

async fn specs_list(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let f = find(&s, &h, id).await?;
    Ok(Json(json!({"extra_specs": f.extra_specs})))
}

async fn specs_create(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let b: SpecsBody = parse_json(S, &body)?;
    let specs: BTreeMap<String, String> = b.extra_specs.into_iter().map(|(k, v)| (k, v.text())).collect();
    check_known(&s, &h, mv, &specs).await?;
    run(&s, &h, Cmd::SetExtraSpecs { id, specs: specs.clone() }).await?;
    Ok(Json(json!({"extra_specs": specs})))
}

async fn spec_show(State(s): State<AppState>, h: HeaderMap, Path((id, key)): Path<(String, String)>) -> Result<Json<Value>, ApiError> {
    let f = find(&s, &h, id.clone()).await?;
    let v = f.extra_specs.get(&key).ok_or_else(|| ApiError::not_found(S, format!("Flavor {id} has no extra specs with key {key}.")))?;
    Ok(Json(json!({ key: v })))
}

async fn spec_update(
    State(s): State<AppState>,
    mv: Microversion,
    h: HeaderMap,
    Path((id, key)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let b: BTreeMap<String, SpecValue> = parse_json(S, &body)?;
    let mismatch = || ApiError::bad_request(S, "Request body and URI mismatch");
    if b.len() != 1 {
        return Err(mismatch());
    }
    let specs: BTreeMap<String, String> = b.into_iter().map(|(k, v)| (k, v.text())).collect();
    // Nova validates the body's spec before it compares the body's key with the URI's.
    check_known(&s, &h, mv, &specs).await?;
    if !specs.contains_key(&key) {
        return Err(mismatch());
    }
    run(&s, &h, Cmd::SetExtraSpecs { id, specs: specs.clone() }).await?;
    Ok(Json(json!(specs)))
}

async fn spec_delete(State(s): State<AppState>, h: HeaderMap, Path((id, key)): Path<(String, String)>) -> Result<StatusCode, ApiError> {
    run(&s, &h, Cmd::UnsetExtraSpec { id, key }).await?;
    Ok(StatusCode::OK)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::compute::versions::testkit::*;

    #[tokio::test]
    async fn versions_documents_and_negotiation() {
        let app = app();
        let r = call(&app, "GET", "/compute/", None, &[], None).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body["versions"][0]["id"], "v2.0", "Nova lists the legacy v2.0 first");
        assert_eq!(r.body["versions"][1]["id"], "v2.1");
        assert_eq!(r.body["versions"][1]["version"], "2.100");
        let v2 = call(&app, "GET", "/compute/v2/", None, &[], None).await;
        assert_eq!(v2.body["version"]["links"][0], r.body["versions"][0]["links"][0], "the listed self link leads to its document");
        let r = call(&app, "GET", "/compute/v2.1/", None, &[], None).await;
        assert_eq!((r.body["version"]["status"].as_str(), r.body["version"]["min_version"].as_str()), (Some("CURRENT"), Some("2.1")));
        let r = get_mv(&app, "/compute/v2.1/flavors", ADMIN, "2.101").await;
        assert_eq!(r.status, 406);
        assert_eq!(r.body["computeFault"]["message"], "Version 2.101 is not supported by the API. Minimum is 2.1 and maximum is 2.100.");
        let r = get_mv(&app, "/compute/v2.1/flavors", ADMIN, "latest").await;
        assert_eq!(r.headers["openstack-api-version"], "compute 2.100");
        assert_eq!(r.headers["x-openstack-nova-api-version"], "2.100");
        let r = get(&app, "/compute/v2.1/flavors", ADMIN).await;
        assert_eq!(r.headers["openstack-api-version"], "compute 2.1");
        let r = call(&app, "GET", "/compute/v2.1/flavors", None, &[], None).await;
        assert_eq!(r.status, 401);
        assert_eq!(r.headers["openstack-api-version"], "compute 2.1");
    }

    #[tokio::test]
    async fn list_and_detail_follow_the_microversion() {
        let app = app();
        let r = get(&app, "/compute/v2.1/flavors", P1).await;
        assert_eq!(r.status, 200);
        let flavors = r.body["flavors"].as_array().unwrap();
        assert_eq!(flavors.len(), 6);
        assert_eq!(flavors[0]["links"][0]["href"], format!("{BASE}/compute/v2.1/flavors/1"));
        assert!(flavors[0].get("description").is_none());
        let old = get(&app, "/compute/v2.1/flavors/1", P1).await.body["flavor"].clone();
        assert_eq!((old["swap"].clone(), old["ram"].clone(), old["name"].clone()), (json!(""), json!(512), json!("m1.tiny")));
        assert!(old.get("extra_specs").is_none() && old.get("description").is_none());
        assert_eq!(old["os-flavor-access:is_public"], true);
        let new = get_mv(&app, "/compute/v2.1/flavors/detail?minRam=4096", P1, "2.79").await.body["flavors"].clone();
        assert_eq!(new.as_array().unwrap().len(), 3);
        assert_eq!((new[0]["swap"].clone(), new[0]["description"].clone(), new[0]["extra_specs"].clone()), (json!(0), json!(null), json!({})));
        let r = get(&app, "/compute/v2.1/flavors?limit=2&marker=1", P1).await;
        let ids: Vec<_> = r.body["flavors"].as_array().unwrap().iter().map(|f| f["id"].clone()).collect();
        assert_eq!(ids, [json!("2"), json!("3")]);
        let r = get(&app, "/compute/v2.1/flavors/nope", P1).await;
        assert_eq!(r.status, 404);
        assert_eq!(r.body["itemNotFound"]["message"], "Flavor nope could not be found.");
    }

    #[tokio::test]
    async fn create_update_delete_as_admin_only() {
        let app = app();
        let body = r#"{"flavor": {"name": "gpu.large", "ram": 8192, "vcpus": "4", "disk": 40, "id": "g1", "description": "big", "os-flavor-access:is_public": false}}"#;
        let r = send(&app, "POST", "/compute/v2.1/flavors", P1, "2.79", body).await;
        assert_eq!((r.status.as_u16(), r.body["forbidden"]["code"].clone()), (403, json!(403)));
        let r = send(&app, "POST", "/compute/v2.1/flavors", ADMIN, "2.54", body).await;
        assert_eq!(r.status, 400, "description needs 2.55");
        let r = send(&app, "POST", "/compute/v2.1/flavors", ADMIN, "2.79", body).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!((r.body["flavor"]["vcpus"].clone(), r.body["flavor"]["description"].clone()), (json!(4), json!("big")));
        let r = send(&app, "POST", "/compute/v2.1/flavors", ADMIN, "2.79", body).await;
        assert_eq!(r.status, 409);
        assert!(r.body["conflictingRequest"]["message"].as_str().unwrap().contains("g1"));
        let bad = r#"{"flavor": {"name": "x", "ram": 1, "vcpus": 1, "disk": 1, "colour": "red"}}"#;
        let r = send(&app, "POST", "/compute/v2.1/flavors", ADMIN, "2.79", bad).await;
        assert_eq!(r.status, 400);
        assert!(r.body["badRequest"]["message"].as_str().unwrap().contains("colour"));
        let r = send(&app, "POST", "/compute/v2.1/flavors", ADMIN, "2.79", "{not json").await;
        assert_eq!(r.status, 400);
        let r = send(&app, "PUT", "/compute/v2.1/flavors/g1", ADMIN, "2.79", r#"{"flavor": {"description": "huge"}}"#).await;
        assert_eq!(r.body["flavor"]["description"], "huge");
        let r = send(&app, "POST", "/compute/v2.1/flavors", ADMIN, "2.1", r#"{"flavor": {"name": "auto", "ram": 64, "vcpus": 1, "disk": 0}}"#).await;
        let id = r.body["flavor"]["id"].as_str().unwrap().to_string();
        assert_eq!(id.len(), 36);
        let r = send(&app, "DELETE", &format!("/compute/v2.1/flavors/{id}"), ADMIN, "2.1", "").await;
        assert_eq!(r.status, 202);
        assert_eq!(get(&app, &format!("/compute/v2.1/flavors/{id}"), ADMIN).await.status, 404);
    }

    #[tokio::test]
    async fn private_flavor_access_and_extra_specs() {
        let app = app();
        let body = r#"{"flavor": {"name": "secret", "ram": 512, "vcpus": 1, "disk": 1, "id": "s1", "os-flavor-access:is_public": false}}"#;
        assert_eq!(send(&app, "POST", "/compute/v2.1/flavors", ADMIN, "2.1", body).await.status, 200);
        assert_eq!(get(&app, "/compute/v2.1/flavors/s1", P1).await.status, 404);
        let p1 = P1_ID.simple();
        let add = format!(r#"{{"addTenantAccess": {{"tenant": "{p1}"}}}}"#);
        let r = send(&app, "POST", "/compute/v2.1/flavors/s1/action", ADMIN, "2.1", &add).await;
        assert_eq!(r.body["flavor_access"], json!([{"flavor_id": "s1", "tenant_id": p1}]));
        assert_eq!(get(&app, "/compute/v2.1/flavors/s1", P1).await.status, 200);
        assert_eq!(get(&app, "/compute/v2.1/flavors/s1", P2).await.status, 404);
        assert_eq!(get(&app, "/compute/v2.1/flavors", P1).await.body["flavors"].as_array().unwrap().len(), 7);
        assert_eq!(get(&app, "/compute/v2.1/flavors/s1/os-flavor-access", ADMIN).await.body["flavor_access"].as_array().unwrap().len(), 1);
        assert_eq!(get(&app, "/compute/v2.1/flavors/1/os-flavor-access", ADMIN).await.status, 404);
        let r = send(
            &app,
            "POST",
            "/compute/v2.1/flavors/s1/os-extra_specs",
            ADMIN,
            "2.1",
            r#"{"extra_specs": {"hw:cpu_policy": "dedicated", "resources:VGPU": 1}}"#,
        )
        .await;
        assert_eq!(r.body["extra_specs"]["resources:VGPU"], "1");
        let r = get(&app, "/compute/v2.1/flavors/s1/os-extra_specs/hw:cpu_policy", P1).await;
        assert_eq!(r.body, json!({"hw:cpu_policy": "dedicated"}));
        let r = send(&app, "PUT", "/compute/v2.1/flavors/s1/os-extra_specs/hw:cpu_policy", ADMIN, "2.1", r#"{"other": "x"}"#).await;
        assert_eq!(r.status, 400);
        let r = send(&app, "DELETE", "/compute/v2.1/flavors/s1/os-extra_specs/hw:cpu_policy", ADMIN, "2.1", "").await;
        assert_eq!(r.status, 200);
        let r = get_mv(&app, "/compute/v2.1/flavors/s1", P1, "2.61").await;
        assert_eq!(r.body["flavor"]["extra_specs"], json!({"resources:VGPU": "1"}));
        let remove = format!(r#"{{"removeTenantAccess": {{"tenant": "{p1}"}}}}"#);
        send(&app, "POST", "/compute/v2.1/flavors/s1/action", ADMIN, "2.1", &remove).await;
        assert_eq!(get(&app, "/compute/v2.1/flavors/s1", P1).await.status, 404);
    }

    #[tokio::test]
    async fn known_extra_specs_are_validated_from_2_86() {
        let app = app();
        let specs = "/compute/v2.1/flavors/1/os-extra_specs";
        let bogus = r#"{"extra_specs": {"hw:bogus": "x"}}"#;
        let r = send(&app, "POST", specs, ADMIN, "2.85", bogus).await;
        assert_eq!((r.status.as_u16(), r.body["extra_specs"]["hw:bogus"].clone()), (200, json!("x")), "{:?}", r.body);
        send(&app, "DELETE", &format!("{specs}/hw:bogus"), ADMIN, "2.85", "").await;
        let r = send(&app, "POST", specs, ADMIN, "2.86", bogus).await;
        assert_eq!(r.status, 400);
        assert_eq!(r.body["badRequest"]["message"], "Validation failed; extra spec 'hw:bogus' does not appear to be a valid extra spec.");
        let r = send(&app, "POST", specs, P1, "2.86", bogus).await;
        assert_eq!(r.status, 403, "policy comes before the registry");
        let good = r#"{"extra_specs": {"hw:cpu_policy": "shared", "foo:bar": "baz", "hw:numa_nodes": 2, "trait:HW_CPU_X86_AVX2": "required"}}"#;
        let r = send(&app, "POST", specs, ADMIN, "2.86", good).await;
        assert_eq!((r.status.as_u16(), r.body["extra_specs"]["foo:bar"].clone()), (200, json!("baz")), "{:?}", r.body);
        let r = send(&app, "POST", specs, ADMIN, "2.86", r#"{"extra_specs": {"hw:numa_nodes": 0, "custom:x": "y"}}"#).await;
        assert_eq!(r.body["badRequest"]["message"], "Validation failed; '0' is less than the min value of '1'.");
        let r = send(&app, "POST", specs, ADMIN, "2.86", r#"{"extra_specs": {"hw:numa_nodes": 2.0}}"#).await;
        assert_eq!(r.body["badRequest"]["message"], "Validation failed; '2.0' is not a valid integer value.");
        let r = send(&app, "PUT", &format!("{specs}/hw:cpu_policy"), ADMIN, "2.86", r#"{"hw:cpu_policy": "pinned"}"#).await;
        assert_eq!(
            (r.status.as_u16(), r.body["badRequest"]["message"].clone()),
            (400, json!("Validation failed; 'pinned' is not one of: dedicated, shared, mixed."))
        );
        let r = send(&app, "PUT", &format!("{specs}/hw:cpu_policy"), ADMIN, "2.86", r#"{"hw:cpu_policy": "dedicated"}"#).await;
        assert_eq!(r.body, json!({"hw:cpu_policy": "dedicated"}));
        let r = get_mv(&app, specs, ADMIN, "2.86").await;
        let want = json!({"hw:cpu_policy": "dedicated", "foo:bar": "baz", "hw:numa_nodes": "2", "trait:HW_CPU_X86_AVX2": "required"});
        assert_eq!(r.body["extra_specs"], want, "refused writes changed nothing");
    }

    #[test]
    fn spec_numbers_are_stored_as_python_prints_them() {
        let cases = [
            (2.0, "2.0"),
            (-0.5, "-0.5"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e300, "1.5e+300"),
            // Exactly halfway between …62 and …63: Python takes the even digit, `{:e}` alone would not.
            (91703210252863.62, "91703210252863.62"),
        ];
        for (f, want) in cases {
            assert_eq!(super::python_float(f), want);
        }
    }
}
