//! Compute API: `GET /os-migrations` (admin), the kernel's resize and evacuation records
//! (`orrery_kernel::compute::migrations`) in Nova's shape: `migration_type` from 2.23, `uuid`,
//! paging (`limit`, `marker`) and `changes-since` from 2.59, newest first from then. The
//! 2.80 `user_id` and `project_id` are above orrery's ceiling.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use orrery_kernel::compute::migrations::Migration;
use orrery_kernel::compute::views::{self, MigrationQuery};
use orrery_kernel::{Error, Kernel, Uuid};
use serde_json::{json, Value};

use super::hypervisors::host_ip;
use super::servers::query::parse_iso;
use super::versions::{auth, layer, read, Microversion};
use crate::error::{ApiError, Service};
use crate::util::iso_micros;
use crate::AppState;

const S: Service = Service::Compute;

/// The query parameters Nova's schema knows from 2.59 (before it, others are ignored).
const KNOWN: &[&str] = &["status", "host", "instance_uuid", "migration_type", "source_compute", "hidden", "cell_name", "limit", "marker", "changes-since"];

/// Nova's migration types.
const TYPES: &[&str] = &["evacuation", "live-migration", "migration", "resize"];

/// Routes for `os-migrations`.
pub fn routes() -> Router<AppState> {
    layer(Router::new().route("/v2.1/os-migrations", get(list)))
}

fn bad(msg: String) -> ApiError {
    ApiError::new(S, Error::bad_request("compute.bad_request", msg))
}

/// Parses the list's query at `mv`.
fn query(q: &BTreeMap<String, String>, mv: Microversion) -> Result<MigrationQuery, ApiError> {
    let paged = mv.at_least(59);
    if let Some(k) = q.keys().find(|k| paged && !KNOWN.contains(&k.as_str())) {
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
        newest_first: paged,
        ..MigrationQuery::default()
    };
    if paged {
        out.marker = uuid("marker").transpose()?;
        out.limit = match q.get("limit") {
            Some(l) => Some(l.parse::<usize>().map_err(|_| bad(format!("Invalid input for query parameters limit. Value: {l}.")))?),
            None => None,
        };
        out.changes_since = match q.get("changes-since") {
            Some(t) => {
                Some(parse_iso(t).ok_or_else(|| bad(format!("Invalid input for query parameters changes-since. Value: {t}. '{t}' is not a 'date-time'")))?)
            }
            None => None,
        };
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

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use crate::compute::servers::tests::{app, boot, cloud, image_id, req, settle, ADMIN, P1, SERVERS};

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
}
