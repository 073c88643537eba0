//! Compute API: host aggregates (`os-aggregates`), admin only. Lists and shows render the
//! kernel's live aggregate set (`orrery_kernel::compute::views`), seeded from the topology;
//! create, update, delete and the `add_host`, `remove_host` and `set_metadata` actions parse
//! Nova's bodies into `orrery_kernel::compute::aggregates::Cmd`, which the kernel validates.
//! An aggregate's `availability_zone` must be its hosts' physical zone (see the kernel module).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use orrery_kernel::compute::aggregates::Cmd;
use orrery_kernel::compute::views;
use orrery_kernel::compute::{self as kcompute, aggregates as kagg};
use orrery_kernel::{Auth, Command, Error};
use serde::Deserialize;
use serde_json::{json, Value};

use super::versions::{apply, ask, auth, layer, read, Microversion};
use crate::error::{ApiError, Service};
use crate::util::{iso_micros, new_uuid, nullable, parse_json};
use crate::AppState;

const S: Service = Service::Compute;

/// Routes for `os-aggregates`.
pub fn routes() -> Router<AppState> {
    layer(
        Router::new()
            .route("/v2.1/os-aggregates", get(list).post(create))
            .route("/v2.1/os-aggregates/{id}", get(show).put(update).delete(delete))
            .route("/v2.1/os-aggregates/{id}/action", post(action)),
    )
}

/// One aggregate as Nova shows it; `full` adds its hosts and metadata (every reply but create's).
fn aggregate_json(a: &views::Aggregate, mv: Microversion, full: bool) -> Value {
    let mut o = json!({
        "id": a.number, "name": a.name, "availability_zone": a.metadata.get(kagg::ZONE_KEY),
        "created_at": iso_micros(a.created), "updated_at": a.updated.map(iso_micros), "deleted": false, "deleted_at": null,
    });
    if full {
        o["hosts"] = json!(a.hosts);
        o["metadata"] = json!(a.metadata);
    }
    if mv.at_least(41) {
        o["uuid"] = json!(a.id.to_string());
    }
    o
}

async fn list(State(s): State<AppState>, mv: Microversion, h: HeaderMap) -> Result<Json<Value>, ApiError> {
    let list = read(&s, S, auth(&h, S)?, views::aggregates).await?;
    Ok(Json(json!({"aggregates": list.iter().map(|a| aggregate_json(a, mv, true)).collect::<Vec<_>>()})))
}

async fn show(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let a = read(&s, S, auth(&h, S)?, move |k, c| views::aggregate(k, c, &id)).await?;
    Ok(Json(json!({"aggregate": aggregate_json(&a, mv, true)})))
}

/// The aggregate `id` names in a write: an integer, as Nova validates it. The caller's policy
/// is checked first, so a non-admin learns nothing from a malformed id; an integer that no
/// aggregate can have (negative, too large) is 404, anything else 400.
async fn aggregate_id(s: &AppState, a: &Auth, id: &str, action: &'static str) -> Result<u32, ApiError> {
    if let Ok(n) = id.parse::<u32>() {
        return Ok(n);
    }
    let forbidden = move || Error::forbidden("compute.forbidden", format!("Policy doesn't allow os_compute_api:os-aggregates:{action} to be performed."));
    read(s, S, a.clone(), move |_, c| if c.admin { Ok(()) } else { Err(forbidden()) }).await?;
    if id.parse::<i64>().is_ok() {
        return Err(ApiError::not_found(S, format!("Aggregate {id} could not be found.")));
    }
    Err(ApiError::bad_request(S, format!("Invalid input for field/attribute id. Value: {id}. id must be an integer.")))
}

/// Runs an aggregate command and renders the aggregate it leaves.
async fn run(s: &AppState, a: Auth, mv: Microversion, cmd: Cmd, full: bool) -> Result<Json<Value>, ApiError> {
    let id = ask(s, S, a.clone(), orrery_kernel::ask::compute::change_aggregate(cmd)).await?;
    let v = read(s, S, a, move |k, c| views::aggregate(k, c, &id.to_string())).await?;
    Ok(Json(json!({"aggregate": aggregate_json(&v, mv, full)})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    aggregate: CreateFields,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateFields {
    name: String,
    #[serde(default)]
    availability_zone: Option<String>,
}

/// `POST /os-aggregates`: 200 with the new, empty aggregate (without hosts and metadata, as Nova).
async fn create(State(s): State<AppState>, mv: Microversion, h: HeaderMap, body: Bytes) -> Result<Json<Value>, ApiError> {
    let a = auth(&h, S)?;
    let b: CreateBody = parse_json(S, &body)?;
    let cmd = Cmd::Create { uuid: new_uuid(), name: b.aggregate.name, zone: b.aggregate.availability_zone };
    run(&s, a, mv, cmd, false).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    aggregate: UpdateFields,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateFields {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    availability_zone: Option<Option<String>>,
}

/// `PUT /os-aggregates/{id}`: renames it or changes the zone it names.
async fn update(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let a = auth(&h, S)?;
    let id = aggregate_id(&s, &a, &id, "update").await?;
    let b: UpdateBody = parse_json(S, &body)?;
    if b.aggregate.name.is_none() && b.aggregate.availability_zone.is_none() {
        return Err(ApiError::bad_request(S, "Invalid input for field/attribute aggregate. Value: {}. {} does not have enough properties"));
    }
    run(&s, a, mv, Cmd::Update { id, name: b.aggregate.name, zone: b.aggregate.availability_zone }, true).await
}

/// `DELETE /os-aggregates/{id}`: 200 with no body, as Nova; 400 while it still holds hosts.
async fn delete(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let a = auth(&h, S)?;
    let id = aggregate_id(&s, &a, &id, "delete").await?;
    apply(&s, S, a, Command::Compute(kcompute::Cmd::Aggregate(Cmd::Delete { id }))).await?;
    Ok(StatusCode::OK)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HostBody {
    host: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MetadataBody {
    metadata: BTreeMap<String, Option<String>>,
}

/// The one action an `/action` body names.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum Action {
    AddHost(HostBody),
    RemoveHost(HostBody),
    SetMetadata(MetadataBody),
}

/// `POST /os-aggregates/{id}/action` with `add_host`, `remove_host` or `set_metadata`.
async fn action(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let a = auth(&h, S)?;
    let id = aggregate_id(&s, &a, &id, "action").await?;
    let cmd = match parse_json::<Action>(S, &body)? {
        Action::AddHost(b) => Cmd::AddHost { id, host: b.host },
        Action::RemoveHost(b) => Cmd::RemoveHost { id, host: b.host },
        Action::SetMetadata(b) => Cmd::SetMetadata { id, metadata: b.metadata },
    };
    run(&s, a, mv, cmd, true).await
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::compute::versions::testkit::*;

    const AGGS: &str = "/compute/v2.1/os-aggregates";

    async fn act(app: &axum::Router, id: &str, token: &str, body: &str) -> Resp {
        send(app, "POST", &format!("{AGGS}/{id}/action"), token, "2.79", body).await
    }

    #[tokio::test]
    async fn reads_show_the_topology_seed() {
        let app = app();
        let a = get_mv(&app, AGGS, ADMIN, "2.79").await.body;
        assert_eq!(a["aggregates"][0]["name"], "fast");
        assert_eq!(a["aggregates"][0]["hosts"], json!(["az1-r01-h01", "az1-r01-h02"]));
        assert!(a["aggregates"][0]["uuid"].is_string());
        assert!(get(&app, AGGS, ADMIN).await.body["aggregates"][0].get("uuid").is_none(), "uuid from 2.41");
        assert_eq!(get(&app, &format!("{AGGS}/1"), ADMIN).await.body["aggregate"]["metadata"]["ssd"], "true");
        let uuid = a["aggregates"][0]["uuid"].as_str().unwrap().to_string();
        assert_eq!(get(&app, &format!("{AGGS}/{uuid}"), ADMIN).await.body["aggregate"]["id"], 1);
        assert_eq!(get(&app, &format!("{AGGS}/99"), ADMIN).await.status, 404);
        assert_eq!(get(&app, AGGS, P1).await.status, 403);
    }

    #[tokio::test]
    async fn create_update_and_delete() {
        let app = app();
        let r = send(&app, "POST", AGGS, ADMIN, "2.79", r#"{"aggregate": {"name": "x", "availability_zone": "az1"}}"#).await;
        assert_eq!(r.status, 200);
        let agg = r.body["aggregate"].clone();
        assert_eq!((agg["id"].clone(), agg["availability_zone"].clone(), agg["updated_at"].clone()), (json!(2), json!("az1"), json!(null)));
        assert!(agg.get("hosts").is_none() && agg["uuid"].is_string());
        assert_eq!(send(&app, "POST", AGGS, ADMIN, "2.79", r#"{"aggregate": {"name": "x"}}"#).await.status, 409);
        assert_eq!(send(&app, "POST", AGGS, ADMIN, "2.79", r#"{"aggregate": {"name": ""}}"#).await.status, 400);
        let long = format!(r#"{{"aggregate": {{"name": "{}"}}}}"#, "a".repeat(256));
        assert_eq!(send(&app, "POST", AGGS, ADMIN, "2.79", &long).await.status, 400);
        assert_eq!(send(&app, "POST", AGGS, ADMIN, "2.79", r#"{"aggregate": {"name": "y", "bogus": 1}}"#).await.status, 400);
        assert_eq!(send(&app, "POST", AGGS, P1, "2.79", r#"{"aggregate": {"name": "y"}}"#).await.status, 403);
        let r = send(&app, "PUT", &format!("{AGGS}/2"), ADMIN, "2.79", r#"{"aggregate": {"name": "x2", "availability_zone": null}}"#).await;
        assert_eq!((r.status.as_u16(), r.body["aggregate"]["name"].clone(), r.body["aggregate"]["availability_zone"].clone()), (200, json!("x2"), json!(null)));
        assert!(r.body["aggregate"]["updated_at"].is_string());
        assert_eq!(send(&app, "PUT", &format!("{AGGS}/2"), ADMIN, "2.79", r#"{"aggregate": {}}"#).await.status, 400);
        assert_eq!(send(&app, "PUT", &format!("{AGGS}/2"), ADMIN, "2.79", r#"{"aggregate": {"name": "fast"}}"#).await.status, 409);
        assert_eq!(send(&app, "DELETE", &format!("{AGGS}/2"), P1, "2.79", "").await.status, 403);
        assert_eq!(send(&app, "DELETE", &format!("{AGGS}/-1"), ADMIN, "2.79", "").await.status, 404);
        assert_eq!(send(&app, "DELETE", &format!("{AGGS}/abc"), ADMIN, "2.79", "").await.status, 400);
        assert_eq!(send(&app, "DELETE", &format!("{AGGS}/abc"), P1, "2.79", "").await.status, 403);
        assert_eq!(send(&app, "DELETE", &format!("{AGGS}/2"), ADMIN, "2.79", "").await.status, 200);
        assert_eq!(send(&app, "DELETE", &format!("{AGGS}/2"), ADMIN, "2.79", "").await.status, 404);
        assert_eq!(send(&app, "DELETE", &format!("{AGGS}/1"), ADMIN, "2.79", "").await.status, 400, "fast still holds hosts");
    }

    #[tokio::test]
    async fn host_and_metadata_actions() {
        let app = app();
        let id = send(&app, "POST", AGGS, ADMIN, "2.79", r#"{"aggregate": {"name": "x"}}"#).await.body["aggregate"]["id"].to_string();
        let r = act(&app, &id, ADMIN, r#"{"add_host": {"host": "az1-r01-h01"}}"#).await;
        assert_eq!((r.status.as_u16(), r.body["aggregate"]["hosts"].clone()), (200, json!(["az1-r01-h01"])));
        let uuid = r.body["aggregate"]["uuid"].clone();
        let rp = get_mv(&app, "/compute/v2.1/os-hypervisors", ADMIN, "2.79").await.body["hypervisors"][0]["id"].as_str().unwrap().to_string();
        let pl =
            call(&app, "GET", &format!("/placement/resource_providers/{rp}/aggregates"), Some(ADMIN), &[("OpenStack-API-Version", "placement 1.19")], None)
                .await;
        assert!(pl.body["aggregates"].as_array().unwrap().contains(&uuid), "placement shows the live aggregates: {}", pl.body);
        assert_eq!(act(&app, &id, ADMIN, r#"{"add_host": {"host": "az1-r01-h01"}}"#).await.status, 409);
        assert_eq!(act(&app, &id, ADMIN, r#"{"add_host": {"host": "nonexist_host"}}"#).await.status, 404);
        assert_eq!(act(&app, &id, P1, r#"{"add_host": {"host": "az1-r01-h02"}}"#).await.status, 403);
        assert_eq!(act(&app, "99", ADMIN, r#"{"add_host": {"host": "az1-r01-h02"}}"#).await.status, 404);
        assert_eq!(act(&app, &id, ADMIN, r#"{"remove_host": {"host": "nonexist_host"}}"#).await.status, 404);
        assert_eq!(act(&app, &id, ADMIN, r#"{"remove_host": {"host": "az1-r01-h02"}}"#).await.status, 404);
        assert_eq!(act(&app, &id, P1, r#"{"remove_host": {"host": "az1-r01-h01"}}"#).await.status, 403);
        let r = act(&app, &id, ADMIN, r#"{"set_metadata": {"metadata": {"ssd": "true", "gone": null}}}"#).await;
        assert_eq!(r.body["aggregate"]["metadata"], json!({"ssd": "true"}));
        let r = act(&app, &id, ADMIN, r#"{"set_metadata": {"metadata": {"ssd": null}}}"#).await;
        assert_eq!(r.body["aggregate"]["metadata"], json!({}));
        assert_eq!(act(&app, &id, ADMIN, r#"{"set_metadata": {"metadata": {"availability_zone": "az9"}}}"#).await.status, 400);
        assert_eq!(act(&app, &id, ADMIN, r#"{"bogus": {}}"#).await.status, 400);
        let r = act(&app, &id, ADMIN, r#"{"remove_host": {"host": "az1-r01-h01"}}"#).await;
        assert_eq!((r.status.as_u16(), r.body["aggregate"]["hosts"].clone()), (200, json!([])));
    }
}
