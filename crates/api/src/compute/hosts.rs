//! Compute API: `os-hosts`, Nova's deprecated per-host view (before microversion 2.43; 404
//! from then, as Nova). Listing and showing read the kernel's hypervisor views. Setting a
//! host's `status` enables or disables its compute service through the same kernel commands
//! as `os-services`. Maintenance mode and the power actions (startup, shutdown, reboot)
//! answer 501, as Nova's libvirt driver does: orrery's hosts have no power of their own to
//! switch (fail and recover them with `orrery chaos` or `forced_down`).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Uri};
use axum::routing::get;
use axum::{Json, Router};
use orrery_kernel::compute::views::{self, HostRef, Hypervisor, HypervisorQuery};
use orrery_kernel::compute::{self as kcompute, hosts};
use orrery_kernel::{Caller, Command, Error, Kernel};
use serde::Deserialize;
use serde_json::{json, Value};

use super::versions::{apply, auth, layer, read, Microversion};
use crate::error::{ApiError, Service};
use crate::util::parse_json;
use crate::AppState;

const S: Service = Service::Compute;

/// The first microversion without `os-hosts`.
const REMOVED_IN: u32 = 43;

/// Routes of `os-hosts`.
pub fn routes() -> Router<AppState> {
    layer(
        Router::new()
            .route("/v2.1/os-hosts", get(list))
            .route("/v2.1/os-hosts/{name}", get(show).put(update))
            .route("/v2.1/os-hosts/{name}/{action}", get(power)),
    )
}

fn check_version(mv: Microversion, uri: &Uri) -> Result<(), ApiError> {
    if mv.at_least(REMOVED_IN) {
        return Err(ApiError::not_found(
            S,
            format!("The resource could not be found: {} was removed in microversion 2.43; use os-hypervisors and os-services.", uri.path()),
        ));
    }
    Ok(())
}

fn admin_only(c: &Caller, what: &str) -> orrery_kernel::Result<()> {
    if c.admin {
        return Ok(());
    }
    Err(Error::forbidden("compute.forbidden", format!("Policy doesn't allow os_compute_api:os-hosts:{what} to be performed.")))
}

/// One host by name, after the policy check; Nova's 404 for a name that is no compute host.
fn host(k: &Kernel, c: &Caller, name: &str, what: &str) -> orrery_kernel::Result<Hypervisor> {
    admin_only(c, what)?;
    views::hypervisor(k, c, &HostRef::Name(name.to_string()), false)
        .map_err(|_| Error::not_found("compute.not_found", format!("Compute host {name} could not be found.")))
}

/// `GET /os-hosts[?zone=Z]`: each compute host with its zone; an empty zone means all.
async fn list(State(s): State<AppState>, mv: Microversion, h: HeaderMap, uri: Uri, Query(q): Query<BTreeMap<String, String>>) -> Result<Json<Value>, ApiError> {
    check_version(mv, &uri)?;
    let zone = q.get("zone").filter(|z| !z.is_empty()).cloned();
    let all = read(&s, S, auth(&h, S)?, move |k, c| {
        admin_only(c, "list")?;
        views::hypervisors(k, c, &HypervisorQuery::default())
    })
    .await?;
    let rows: Vec<Value> = all
        .iter()
        .filter(|v| zone.as_ref().is_none_or(|z| &v.zone == z))
        .map(|v| json!({"host_name": v.host.name, "service": "compute", "zone": v.zone}))
        .collect();
    Ok(Json(json!({ "hosts": rows })))
}

fn resource(host: &str, project: &str, [cpu, memory_mb, disk_gb]: [u64; 3]) -> Value {
    json!({"resource": {"host": host, "project": project, "cpu": cpu, "memory_mb": memory_mb, "disk_gb": disk_gb}})
}

/// `GET /os-hosts/{name}`: its capacity (`(total)`), what is in use with the host's reserve
/// (`(used_now)`), and what its servers' flavors claim (`(used_max)`).
async fn show(State(s): State<AppState>, mv: Microversion, h: HeaderMap, uri: Uri, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    check_version(mv, &uri)?;
    let v = read(&s, S, auth(&h, S)?, move |k, c| host(k, c, &name, "show")).await?;
    let n = &v.host.name;
    let spec = &v.host.spec;
    let rows = vec![
        resource(n, "(total)", [u64::from(spec.vcpus), spec.ram, spec.disk]),
        resource(n, "(used_now)", [v.used[0], v.memory_used(), v.disk_used()]),
        resource(n, "(used_max)", v.used),
    ];
    Ok(Json(json!({ "host": rows })))
}

/// The body of `PUT /os-hosts/{name}`: at least one of the two, each `enable` or `disable`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Update {
    status: Option<String>,
    maintenance_mode: Option<String>,
}

/// `enable`/`disable` in any case, as Nova's schema lists them.
fn switch(field: &str, v: Option<&String>) -> Result<Option<bool>, ApiError> {
    match v.map(|s| s.to_ascii_lowercase()) {
        None => Ok(None),
        Some(s) if s == "enable" => Ok(Some(true)),
        Some(s) if s == "disable" => Ok(Some(false)),
        Some(_) => Err(ApiError::bad_request(
            S,
            format!("Invalid input for field/attribute {field}. Value: {}. It must be 'enable' or 'disable'", v.map_or("", |s| s)),
        )),
    }
}

/// `PUT /os-hosts/{name}`: `status` enables or disables the host's compute service.
async fn update(State(s): State<AppState>, mv: Microversion, h: HeaderMap, uri: Uri, Path(name): Path<String>, body: Bytes) -> Result<Json<Value>, ApiError> {
    check_version(mv, &uri)?;
    let a = auth(&h, S)?;
    let u: Update = parse_json(S, &body)?;
    let (status, maintenance) = (switch("status", u.status.as_ref())?, switch("maintenance_mode", u.maintenance_mode.as_ref())?);
    if status.is_none() && maintenance.is_none() {
        return Err(ApiError::bad_request(S, "Invalid input for field/attribute host. Value: {}. {} does not have enough properties"));
    }
    let found = read(&s, S, a.clone(), move |k, c| host(k, c, &name, "update")).await?;
    if maintenance.is_some() {
        return Err(ApiError::not_implemented(S, "Host maintenance mode is not implemented by orrery's sim driver; use `orrery chaos maintain host NAME`."));
    }
    let host = found.host.name.clone();
    let cmd = match status {
        Some(true) => hosts::Cmd::Enable { host: host.clone() },
        _ => hosts::Cmd::Disable { host: host.clone(), reason: None },
    };
    apply(&s, S, a, Command::Compute(kcompute::Cmd::Host(cmd))).await?;
    Ok(Json(json!({"host": host, "status": if status == Some(true) { "enabled" } else { "disabled" }})))
}

/// `GET /os-hosts/{name}/{startup|shutdown|reboot}`: 501 after the policy and host checks.
async fn power(
    State(s): State<AppState>,
    mv: Microversion,
    h: HeaderMap,
    uri: Uri,
    Path((name, action)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    check_version(mv, &uri)?;
    if !matches!(action.as_str(), "startup" | "shutdown" | "reboot") {
        return Err(ApiError::not_found(S, format!("The resource could not be found: os-hosts has no action {action}.")));
    }
    read(&s, S, auth(&h, S)?, move |k, c| host(k, c, &name, action.as_str())).await?;
    Err(ApiError::not_implemented(
        S,
        "Host power actions (startup, shutdown, reboot) are not implemented by orrery's sim driver; use `orrery chaos fail host NAME` and `recover`.",
    ))
}

#[cfg(test)]
mod tests {
    use crate::compute::versions::testkit::*;

    #[tokio::test]
    async fn hosts_list_show_enable_and_refuse_power_actions() {
        let app = app();
        let r = get(&app, "/compute/v2.1/os-hosts", ADMIN).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let hosts = r.body["hosts"].as_array().unwrap().clone();
        assert!(!hosts.is_empty() && hosts.iter().all(|h| h["service"] == "compute"));
        let (name, zone) = (hosts[0]["host_name"].as_str().unwrap().to_string(), hosts[0]["zone"].as_str().unwrap().to_string());
        let in_zone = get(&app, &format!("/compute/v2.1/os-hosts?zone={zone}"), ADMIN).await.body["hosts"].as_array().unwrap().len();
        assert!(in_zone >= 1 && in_zone <= hosts.len());
        assert_eq!(get(&app, "/compute/v2.1/os-hosts?zone=xxx", ADMIN).await.body["hosts"].as_array().unwrap().len(), 0);
        assert_eq!(get(&app, "/compute/v2.1/os-hosts?zone=", ADMIN).await.body["hosts"].as_array().unwrap().len(), hosts.len());
        assert_eq!(get(&app, "/compute/v2.1/os-hosts", P1).await.status, 403);
        let detail = get(&app, &format!("/compute/v2.1/os-hosts/{name}"), ADMIN).await;
        let rows = detail.body["host"].as_array().unwrap();
        assert_eq!(rows[0]["resource"]["project"], "(total)", "{}", detail.body);
        assert!(rows[0]["resource"]["cpu"].as_u64().unwrap() > 0);
        assert_eq!(get(&app, "/compute/v2.1/os-hosts/nonexistent", ADMIN).await.status, 404);
        let path = format!("/compute/v2.1/os-hosts/{name}");
        let put = |body: &'static str, token: &'static str| {
            let (app, path) = (app.clone(), path.clone());
            async move { call(&app, "PUT", &path, Some(token), &[], Some(body)).await }
        };
        let r = put(r#"{"status": "disable"}"#, ADMIN).await;
        assert_eq!((r.status.as_u16(), r.body["status"].as_str()), (200, Some("disabled")), "{}", r.body);
        let svc = get(&app, "/compute/v2.1/os-services", ADMIN).await.body;
        assert!(svc["services"].as_array().unwrap().iter().any(|s| s["host"] == name.as_str() && s["status"] == "disabled"), "{svc}");
        assert_eq!(put(r#"{"status": "ENABLE"}"#, ADMIN).await.body["status"], "enabled");
        assert_eq!(put(r#"{"status": "sleep"}"#, ADMIN).await.status, 400);
        assert_eq!(put(r#"{}"#, ADMIN).await.status, 400);
        assert_eq!(put(r#"{"status": "enable"}"#, P1).await.status, 403);
        assert_eq!(put(r#"{"maintenance_mode": "enable"}"#, ADMIN).await.status, 501);
        assert_eq!(get(&app, &format!("{path}/reboot"), ADMIN).await.status, 501);
        assert_eq!(get(&app, "/compute/v2.1/os-hosts/nonexistent/reboot", ADMIN).await.status, 404);
        assert_eq!(get(&app, &format!("{path}/reboot"), P1).await.status, 403);
        assert_eq!(get_mv(&app, "/compute/v2.1/os-hosts", ADMIN, "2.43").await.status, 404);
    }
}
