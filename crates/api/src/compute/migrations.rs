//! Compute API: `GET /os-migrations` (admin), the kernel's resize and evacuation records
//! (`orrery_kernel::compute::migrations`) in Nova's shape: `migration_type` from 2.23, `uuid`,
//! paging (`limit`, `marker`) and `changes-since` from 2.59, newest first from then,
//! `changes-before` from 2.66, and `user_id` and `project_id` (shown, and filters) from 2.80.
//! Also the server-migrations API (2.23+, `GET /servers/{id}/migrations[/{mid}]`), which shows
//! in-progress live migrations only: orrery makes none, so its list is empty.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use orrery_kernel::compute::migrations::{self as kmigrations, Migration};
use orrery_kernel::compute::views::{self, MigrationQuery};
use orrery_kernel::{Error, Kernel, Time, Uuid};
use serde_json::{json, Value};

use super::hypervisors::host_ip;
use super::servers::query::parse_iso;
use super::versions::{auth, layer, read, Microversion};
use crate::error::{ApiError, Service};
use crate::util::iso_micros;
use crate::AppState;

const S: Service = Service::Compute;

/// Nova's migration types.
const TYPES: &[&str] = &["evacuation", "live-migration", "migration", "resize"];

/// Routes for `os-migrations` and the server-migrations API.
pub fn routes() -> Router<AppState> {
    layer(
        Router::new()
            .route("/v2.1/os-migrations", get(list))
            .route("/v2.1/servers/{id}/migrations", get(server_list))
            .route("/v2.1/servers/{id}/migrations/{mid}", get(server_show)),
    )
}

fn bad(msg: String) -> ApiError {
    ApiError::new(S, Error::bad_request("compute.bad_request", msg))
}

/// The query parameters Nova's schema names at `mv`. From 2.59 no others are allowed; before,
/// others are ignored, except that `user_id` and `project_id` reach Nova's database filter.
fn known(mv: Microversion) -> Vec<&'static str> {
    let mut k = vec!["hidden", "host", "instance_uuid", "migration_type", "source_compute", "status"];
    if mv.at_least(59) {
        k.extend(["limit", "marker", "changes-since"]);
    }
    if mv.at_least(66) {
        k.push("changes-before");
    }
    if mv.at_least(80) {
        k.extend(["user_id", "project_id"]);
    }
    k
}

/// Parses a `date-time` query parameter.
fn time(q: &BTreeMap<String, String>, name: &str) -> Result<Option<Time>, ApiError> {
    match q.get(name) {
        Some(t) => Ok(Some(parse_iso(t).ok_or_else(|| bad(format!("Invalid input for query parameters {name}. Value: {t}. '{t}' is not a 'date-time'")))?)),
        None => Ok(None),
    }
}

/// Parses the list's query at `mv`.
fn query(q: &BTreeMap<String, String>, mv: Microversion) -> Result<MigrationQuery, ApiError> {
    let paged = mv.at_least(59);
    let allowed = known(mv);
    if let Some(k) = q.keys().find(|k| paged && !allowed.contains(&k.as_str())) {
        return Err(bad(format!("Invalid input for query parameters {k}. Additional properties are not allowed ('{k}' was unexpected)")));
    }
    if let Some(t) = q.get("migration_type").filter(|t| !TYPES.contains(&t.as_str())) {
        return Err(bad(format!("Invalid input for query parameters migration_type. Value: {t}. '{t}' is not one of {TYPES:?}")));
    }
    let uuid = |name: &str| q.get(name).map(|v| v.parse::<Uuid>().map_err(|_| bad(format!("Invalid input for query parameters {name}. Value: {v}."))));
    let mut out = MigrationQuery {
        status: q.get("status").cloned(),
        host: q.get("host").cloned(),
        source_compute: q.get("source_compute").cloned(),
        instance: uuid("instance_uuid").transpose()?,
        migration_type: q.get("migration_type").cloned(),
        user: q.get("user_id").cloned(),
        project: q.get("project_id").cloned(),
        newest_first: paged,
        ..MigrationQuery::default()
    };
    if paged {
        out.marker = uuid("marker").transpose()?;
        out.limit = match q.get("limit") {
            Some(l) => Some(l.parse::<usize>().map_err(|_| bad(format!("Invalid input for query parameters limit. Value: {l}.")))?),
            None => None,
        };
        out.changes_since = time(q, "changes-since")?;
    }
    if mv.at_least(66) {
        out.changes_before = time(q, "changes-before")?;
        if let (Some(since), Some(before)) = (out.changes_since, out.changes_before) {
            if before < since {
                return Err(bad("The value of changes-since must be less than or equal to changes-before.".into()));
            }
        }
    }
    Ok(out)
}

/// One migration as Nova shows it at `mv`.
fn migration_json(k: &Kernel, m: &Migration, mv: Microversion) -> Value {
    let name = |h| views::host_name(k, h);
    let flavor_id = |idx: u32| idx + 1;
    let mut o = json!({
        "id": m.id, "status": m.status.name(), "instance_uuid": m.instance.to_string(),
        "source_compute": name(m.source), "source_node": name(m.source),
        "dest_compute": m.dest.map(name), "dest_node": m.dest.map(name), "dest_host": m.dest.map(host_ip),
        "old_instance_type_id": flavor_id(m.old_flavor), "new_instance_type_id": flavor_id(m.new_flavor),
        "created_at": iso_micros(m.created_at), "updated_at": m.updated_at.map(iso_micros),
    });
    if mv.at_least(23) {
        o["migration_type"] = json!(m.kind.name());
    }
    if mv.at_least(59) {
        o["uuid"] = json!(m.uuid.to_string());
    }
    if mv.at_least(80) {
        o["user_id"] = json!(m.user.simple());
        o["project_id"] = json!(m.project.simple());
    }
    o
}

/// `GET /os-migrations`: `migrations_links` follows a full page from 2.59.
async fn list(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Query(q): Query<BTreeMap<String, String>>) -> Result<Json<Value>, ApiError> {
    let mq = query(&q, mv)?;
    let limit = mq.limit;
    let (list, last) = read(&s, S, auth(&h, S)?, move |k, c| {
        let found = views::migrations(k, c, &mq)?;
        let last = found.last().map(|m| m.uuid);
        Ok((found.iter().map(|m| migration_json(k, m, mv)).collect::<Vec<_>>(), last))
    })
    .await?;
    let mut body = json!({"migrations": list});
    if let (Some(l), Some(last)) = (limit, last) {
        if list_len(&body) == l {
            body["migrations_links"] = json!([{"rel": "next", "href": format!("{}/compute/v2.1/os-migrations?limit={l}&marker={last}", s.site.base_url)}]);
        }
    }
    Ok(Json(body))
}

fn list_len(body: &Value) -> usize {
    body["migrations"].as_array().map_or(0, Vec::len)
}

/// The server-migrations API exists from 2.23; before, Nova finds no such resource.
fn server_migrations_gate(mv: Microversion) -> Result<(), ApiError> {
    if mv.at_least(23) {
        Ok(())
    } else {
        Err(ApiError::not_found(S, "The resource could not be found."))
    }
}

fn server_uuid(id: &str) -> Result<Uuid, ApiError> {
    id.parse().map_err(|_| ApiError::not_found(S, format!("Instance {id} could not be found.")))
}

/// `GET /servers/{id}/migrations` (2.23+, admin): the server's in-progress live migrations,
/// always none in orrery.
async fn server_list(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    server_migrations_gate(mv)?;
    let sid = server_uuid(&id)?;
    read(&s, S, auth(&h, S)?, move |k, c| kmigrations::of_server(k, c, &sid, "servers:migrations:index").map(drop)).await?;
    Ok(Json(json!({"migrations": []})))
}

/// `GET /servers/{id}/migrations/{mid}` (2.23+, admin): a resize or evacuation is Nova's 404
/// for a migration that is not a live migration; any other id is not found.
async fn server_show(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Path((id, mid)): Path<(String, String)>) -> Result<Json<Value>, ApiError> {
    server_migrations_gate(mv)?;
    let sid = server_uuid(&id)?;
    let n = mid.parse::<u32>().ok();
    let found = read(&s, S, auth(&h, S)?, move |k, c| {
        let records = kmigrations::of_server(k, c, &sid, "servers:migrations:show")?;
        Ok(records.iter().any(|m| Some(m.id) == n))
    })
    .await?;
    let msg = if found {
        format!("Migration {mid} for server {id} is not live-migration.")
    } else {
        format!("In-progress live migration {mid} is not found for server {id}.")
    };
    Err(ApiError::not_found(S, msg))
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use orrery_kernel::Uuid;

    use crate::compute::servers::tests::{app, boot, cloud, image_id, req, settle, ADMIN, P1, P1_ID, P2, SERVERS};

    #[tokio::test]
    async fn resizes_are_listed_with_filters_and_pages() {
        let k = cloud(2, 10);
        let image = image_id(&k);
        let app = app(k);
        let list = |q: &str| format!("/compute/v2.1/os-migrations{q}");
        assert_eq!(req(&app, "GET", &list(""), ADMIN, "2.1", None).await.body, json!({"migrations": []}));
        assert_eq!(req(&app, "GET", &list(""), P1, "2.1", None).await.status, 403);
        let id = boot(&app, &image, "vm", P1).await;
        settle().await;
        let r = req(&app, "POST", &format!("{SERVERS}/{id}/action"), P1, "2.79", Some(json!({"resize": {"flavorRef": "2"}}))).await;
        assert_eq!(r.status, 202, "{}", r.body);
        let got = |q: &str, mv: &str| {
            let (app, path, mv) = (app.clone(), list(q), mv.to_string());
            async move { req(&app, "GET", &path, ADMIN, &mv, None).await }
        };
        let m = got("", "2.79").await.body["migrations"][0].clone();
        assert_eq!((m["instance_uuid"].as_str(), m["status"].clone(), m["migration_type"].clone()), (Some(id.as_str()), json!("migrating"), json!("resize")));
        assert!(m["uuid"].is_string() && m["dest_compute"].is_string() && m["old_instance_type_id"].is_u64());
        let old = got("", "2.1").await.body["migrations"][0].clone();
        assert!(old.get("uuid").is_none() && old.get("migration_type").is_none());
        let count = |b: Value| b["migrations"].as_array().map_or(0, Vec::len);
        assert_eq!(count(got("?status=finished", "2.79").await.body), 0);
        assert_eq!(count(got(&format!("?instance_uuid={id}"), "2.79").await.body), 1);
        assert_eq!(count(got("?migration_type=evacuation", "2.79").await.body), 0);
        assert_eq!(got("?migration_type=bogus", "2.79").await.status, 400);
        assert_eq!(got("?bogus=1", "2.79").await.status, 400);
        assert_eq!(got("?bogus=1", "2.1").await.status, 200, "unknown parameters are ignored before 2.59");
        assert!(got("?limit=1", "2.79").await.body["migrations_links"][0]["href"].as_str().unwrap().contains("marker="));
        let marker = m["uuid"].as_str().unwrap().to_string();
        assert_eq!(count(got(&format!("?marker={marker}"), "2.79").await.body), 0);
        assert_eq!(got("?marker=00000000-0000-4000-8000-000000000000", "2.79").await.status, 400);
        assert_eq!(got("?changes-since=yesterday", "2.79").await.status, 400);
        settle().await;
        assert_eq!(count(got("?status=finished", "2.79").await.body), 1);
    }

    #[tokio::test]
    async fn owners_show_and_filter_from_2_80() {
        let k = cloud(2, 10);
        let image = image_id(&k);
        let app = app(k);
        let id = boot(&app, &image, "vm", P1).await;
        settle().await;
        let r = req(&app, "POST", &format!("{SERVERS}/{id}/action"), P1, "2.79", Some(json!({"resize": {"flavorRef": "2"}}))).await;
        assert_eq!(r.status, 202, "{}", r.body);
        let got = |q: &str, mv: &str| {
            let (app, path, mv) = (app.clone(), format!("/compute/v2.1/os-migrations{q}"), mv.to_string());
            async move { req(&app, "GET", &path, ADMIN, &mv, None).await }
        };
        let count = |b: Value| b["migrations"].as_array().map_or(0, Vec::len);
        let (user, project) = (Uuid(0x9001).simple(), P1_ID.simple());
        let m = got("", "2.80").await.body["migrations"][0].clone();
        assert_eq!((m["user_id"].as_str(), m["project_id"].as_str()), (Some(user.as_str()), Some(project.as_str())));
        let old = got("", "2.79").await.body["migrations"][0].clone();
        assert!(old.get("user_id").is_none() && old.get("project_id").is_none());
        assert_eq!(count(got(&format!("?user_id={user}&project_id={project}"), "2.80").await.body), 1);
        assert_eq!(count(got("?project_id=someone-else", "2.80").await.body), 0);
        assert_eq!(count(got(&format!("?user_id={user}&limit=1"), "2.80").await.body), 1);
        assert_eq!(got(&format!("?user_id={user}"), "2.79").await.status, 400, "the 2.59 to 2.79 schema forbids it");
        assert_eq!(count(got("?user_id=someone-else", "2.1").await.body), 0, "before 2.59 Nova's database filter sees it");
        assert_eq!(got("?cell_name=x", "2.80").await.status, 400, "not in Nova's schema");
        assert_eq!(got("?changes-before=2000-01-01T00:00:00Z", "2.65").await.status, 400);
        assert_eq!(count(got("?changes-before=2000-01-01T00:00:00Z", "2.66").await.body), 0);
        assert_eq!(count(got("?changes-before=2999-01-01T00:00:00Z", "2.66").await.body), 1);
        assert_eq!(got("?changes-since=2999-01-01T00:00:00Z&changes-before=2000-01-01T00:00:00Z", "2.66").await.status, 400);
    }

    #[tokio::test]
    async fn server_migrations_list_no_live_migrations() {
        let k = cloud(2, 10);
        let image = image_id(&k);
        let app = app(k);
        let id = boot(&app, &image, "vm", P1).await;
        settle().await;
        let path = format!("{SERVERS}/{id}/migrations");
        assert_eq!(req(&app, "GET", &path, ADMIN, "2.22", None).await.status, 404);
        assert_eq!(req(&app, "GET", &path, ADMIN, "2.80", None).await.body, json!({"migrations": []}));
        assert_eq!(req(&app, "GET", &path, P1, "2.80", None).await.status, 403);
        assert_eq!(req(&app, "GET", &path, P2, "2.80", None).await.status, 404, "another project's server is not found");
        let r = req(&app, "POST", &format!("{SERVERS}/{id}/action"), P1, "2.79", Some(json!({"resize": {"flavorRef": "2"}}))).await;
        assert_eq!(r.status, 202, "{}", r.body);
        let mid = req(&app, "GET", "/compute/v2.1/os-migrations", ADMIN, "2.80", None).await.body["migrations"][0]["id"].clone();
        let r = req(&app, "GET", &format!("{path}/{mid}"), ADMIN, "2.80", None).await;
        assert_eq!(r.status, 404);
        assert_eq!(r.body["itemNotFound"]["message"], format!("Migration {mid} for server {id} is not live-migration."));
        let r = req(&app, "GET", &format!("{path}/99"), ADMIN, "2.80", None).await;
        assert_eq!(r.body["itemNotFound"]["message"], format!("In-progress live migration 99 is not found for server {id}."));
        assert_eq!(req(&app, "GET", &format!("{path}/{mid}"), P1, "2.80", None).await.status, 403);
        assert_eq!(req(&app, "GET", &path, ADMIN, "2.80", None).await.body, json!({"migrations": []}), "a resize is not a live migration");
    }
}
