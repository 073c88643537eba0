//! Compute API: `os-simple-tenant-usage`, the hours each project's servers ran in a period and
//! what they held (`orrery_kernel::compute::usage`). Listing every project is admin only; a
//! project's members and readers may read their own. Deleted servers are not counted: the
//! kernel keeps no history of them. Paging (`limit`, `marker`) from 2.40.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use orrery_kernel::compute::usage::{self, ServerUsage, UsageQuery};
use orrery_kernel::{Time, Uuid};
use serde_json::{json, Value};

use super::servers::query::parse_iso;
use super::versions::{auth, layer, read, Microversion};
use crate::error::{ApiError, Service};
use crate::util::iso_micros;
use crate::AppState;

const S: Service = Service::Compute;

/// Microseconds in an hour.
const HOUR: f64 = 3_600_000_000.0;

/// Routes for `os-simple-tenant-usage`.
pub fn routes() -> Router<AppState> {
    layer(
        Router::new()
            .route("/v2.1/os-simple-tenant-usage", get(list))
            .route("/v2.1/os-simple-tenant-usage/", get(no_tenant))
            .route("/v2.1/os-simple-tenant-usage/{tenant}", get(show)),
    )
}

/// The period and page a request asks for; `start` and `end` default to now, as in Nova.
fn period(q: &BTreeMap<String, String>, now: Time, mv: Microversion) -> Result<(Time, Time, Option<Uuid>, Option<usize>), ApiError> {
    let time = |name: &str| match q.get(name) {
        Some(t) => parse_iso(t).ok_or_else(|| ApiError::bad_request(S, format!("Invalid datetime string: {name} {t} is not an ISO 8601 time."))),
        None => Ok(now),
    };
    let (start, stop) = (time("start")?, time("end")?);
    if !mv.at_least(40) {
        return Ok((start, stop, None, None));
    }
    let marker = match q.get("marker") {
        Some(m) => Some(m.parse::<Uuid>().map_err(|_| ApiError::bad_request(S, format!("marker [{m}] not found")))?),
        None => None,
    };
    let limit = match q.get("limit") {
        Some(l) => Some(l.parse::<usize>().map_err(|_| ApiError::bad_request(S, format!("Invalid input for query parameters limit. Value: {l}.")))?),
        None => None,
    };
    Ok((start, stop, marker, limit))
}

/// Reads the usage `project` (or every project) had in the requested period.
async fn read_usage(s: &AppState, h: &HeaderMap, q: &BTreeMap<String, String>, mv: Microversion, project: Option<Uuid>) -> Result<Report, ApiError> {
    let q = q.clone();
    read(s, S, auth(h, S)?, move |k, c| {
        let (start, stop, marker, limit) = period(&q, k.now(), mv).map_err(|e| e.error)?;
        let servers = usage::usage(k, c, &UsageQuery { project, start, stop, marker, limit })?;
        Ok(Report { start, stop, limit, servers })
    })
    .await
}

/// What a usage request found.
struct Report {
    start: Time,
    stop: Time,
    limit: Option<usize>,
    servers: Vec<ServerUsage>,
}

fn server_json(u: &ServerUsage) -> Value {
    json!({
        "instance_id": u.id.to_string(), "name": u.name, "tenant_id": u.project.simple(), "flavor": u.flavor,
        "vcpus": u.vcpus, "memory_mb": u.memory_mb, "local_gb": u.local_gb, "state": u.state,
        "started_at": iso_micros(u.started), "ended_at": null, "hours": u.ran as f64 / HOUR, "uptime": u.uptime,
    })
}

/// One project's totals over `servers`, with them listed when `detailed`.
fn tenant_json(project: Uuid, servers: &[&ServerUsage], r: &Report, detailed: bool) -> Value {
    let hours = |u: &ServerUsage| u.ran as f64 / HOUR;
    let total = |size: &dyn Fn(&ServerUsage) -> f64| servers.iter().map(|u| size(u) * hours(u)).sum::<f64>();
    let mut o = json!({
        "tenant_id": project.simple(), "start": iso_micros(r.start), "stop": iso_micros(r.stop),
        "total_hours": servers.iter().map(|u| hours(u)).sum::<f64>(),
        "total_vcpus_usage": total(&|u| f64::from(u.vcpus)),
        "total_memory_mb_usage": total(&|u| u.memory_mb as f64),
        "total_local_gb_usage": total(&|u| u.local_gb as f64),
    });
    if detailed {
        o["server_usages"] = servers.iter().map(|u| server_json(u)).collect();
    }
    o
}

/// A `*_links` entry when a page is full.
fn links(s: &AppState, r: &Report, path: &str) -> Option<Value> {
    let (l, last) = (r.limit?, r.servers.last()?);
    (r.servers.len() == l).then(|| json!([{"rel": "next", "href": format!("{}/compute/v2.1/{path}?limit={l}&marker={}", s.site.base_url, last.id)}]))
}

/// `GET /os-simple-tenant-usage` (admin): one entry per project with servers in the period.
async fn list(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Query(q): Query<BTreeMap<String, String>>) -> Result<Json<Value>, ApiError> {
    let r = read_usage(&s, &h, &q, mv, None).await?;
    let detailed = q.get("detailed").is_some_and(|d| d == "1");
    let mut by_project: BTreeMap<Uuid, Vec<&ServerUsage>> = BTreeMap::new();
    for u in &r.servers {
        by_project.entry(u.project).or_default().push(u);
    }
    let list: Vec<Value> = by_project.iter().map(|(p, us)| tenant_json(*p, us, &r, detailed)).collect();
    let mut body = json!({"tenant_usages": list});
    if let Some(l) = links(&s, &r, "os-simple-tenant-usage") {
        body["tenant_usages_links"] = l;
    }
    Ok(Json(body))
}

/// `GET /os-simple-tenant-usage/{tenant_id}`: the project's usage with its servers; `{}` when
/// it has none, as Nova answers.
async fn show(
    State(s): State<AppState>,
    mv: Microversion,
    h: HeaderMap,
    Path(tenant): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let Ok(project) = tenant.parse::<Uuid>() else {
        // No project has this id; only an admin may ask after another project's.
        read(&s, S, auth(&h, S)?, |_, c| if c.admin { Ok(()) } else { Err(forbidden()) }).await?;
        return Ok(Json(json!({"tenant_usage": {}})));
    };
    let r = read_usage(&s, &h, &q, mv, Some(project)).await?;
    let servers: Vec<&ServerUsage> = r.servers.iter().collect();
    let usage = if servers.is_empty() { json!({}) } else { tenant_json(project, &servers, &r, true) };
    let mut body = json!({"tenant_usage": usage});
    if let Some(l) = links(&s, &r, &format!("os-simple-tenant-usage/{tenant}")) {
        body["tenant_usage_links"] = l;
    }
    Ok(Json(body))
}

fn forbidden() -> orrery_kernel::Error {
    orrery_kernel::Error::forbidden("compute.forbidden", "Policy doesn't allow os_compute_api:os-simple-tenant-usage:show to be performed.".into())
}

/// `GET /os-simple-tenant-usage/`: no tenant named, Nova's 404.
async fn no_tenant() -> ApiError {
    ApiError::not_found(S, "The resource could not be found.")
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use crate::compute::servers::tests::{app, boot, cloud, image_id, req, settle, ADMIN, P1, P1_ID, P2};

    #[tokio::test]
    async fn usage_counts_launched_servers_per_project() {
        let k = cloud(2, 10);
        let image = image_id(&k);
        let app = app(k);
        let id = boot(&app, &image, "vm", P1).await;
        settle().await;
        let window = "start=2000-01-01T00:00:00&end=2999-01-01T00:00:00.000000";
        let list = req(&app, "GET", &format!("/compute/v2.1/os-simple-tenant-usage?{window}&detailed=1"), ADMIN, "2.79", None).await;
        assert_eq!(list.status, 200, "{}", list.body);
        let t = list.body["tenant_usages"][0].clone();
        assert_eq!((t["tenant_id"].as_str(), t.as_object().map(|o| o.len())), (Some(P1_ID.simple().as_str()), Some(8)));
        assert_eq!(t["server_usages"][0]["instance_id"].as_str(), Some(id.as_str()));
        assert!(t["total_hours"].as_f64().unwrap() > 0.0);
        let brief = req(&app, "GET", &format!("/compute/v2.1/os-simple-tenant-usage?{window}"), ADMIN, "2.79", None).await.body;
        assert_eq!(brief["tenant_usages"][0].as_object().map(|o| o.len()), Some(7));
        let own = format!("/compute/v2.1/os-simple-tenant-usage/{}?{window}", P1_ID.simple());
        let shown = req(&app, "GET", &own, P1, "2.79", None).await;
        assert_eq!((shown.status.as_u16(), shown.body["tenant_usage"].as_object().map(|o| o.len())), (200, Some(8)));
        assert_eq!(req(&app, "GET", &own, P2, "2.79", None).await.status, 403);
        assert_eq!(req(&app, "GET", &format!("/compute/v2.1/os-simple-tenant-usage?{window}"), P1, "2.79", None).await.status, 403);
        let backwards = format!("/compute/v2.1/os-simple-tenant-usage/{}?start=2999-01-01T00:00:00&end=2000-01-01T00:00:00", P1_ID.simple());
        assert_eq!(req(&app, "GET", &backwards, ADMIN, "2.79", None).await.status, 400);
        assert_eq!(req(&app, "GET", "/compute/v2.1/os-simple-tenant-usage/?start=x", ADMIN, "2.79", None).await.status, 404);
        assert_eq!(req(&app, "GET", "/compute/v2.1/os-simple-tenant-usage?start=garbage", ADMIN, "2.79", None).await.status, 400);
        let before = "start=2000-01-01T00:00:00&end=2000-01-02T00:00:00";
        let none = req(&app, "GET", &format!("/compute/v2.1/os-simple-tenant-usage/{}?{before}", P1_ID.simple()), ADMIN, "2.79", None).await.body;
        assert_eq!(none["tenant_usage"], Value::Object(Default::default()));
    }
}
