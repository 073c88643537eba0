//! Compute API: the physical side as Nova shows it to admins: hypervisors (`os-hypervisors`,
//! with statistics and uptime before 2.88, which moves uptime into the record and drops the
//! usage figures), services (`os-services`) and availability zones (`os-availability-zone`).
//! The records and their policy come from the kernel's views (`orrery_kernel::compute::views`); this module parses requests and renders
//! the views in Nova's shapes. Updating a compute service disables or enables its host, and
//! forcing it down or up fails or recovers the host through the health service.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, put};
use axum::{Json, Router};
use orrery_kernel::compute::views::{self, HostRef, Hypervisor, HypervisorQuery};
use orrery_kernel::compute::{self as kcompute, hosts};
use orrery_kernel::health::{self, Kind, State as HealthState};
use orrery_kernel::{Caller, Command, Error, HostIdx, Kernel, Time, Uuid};
use serde::Deserialize;
use serde_json::{json, Value};

use super::versions::{apply, auth, layer, read, Microversion};
use crate::error::{ApiError, Service};
use crate::util::{iso_micros, parse_json};
use crate::AppState;

const S: Service = Service::Compute;

/// Routes for hypervisors, services and availability zones.
pub fn routes() -> Router<AppState> {
    layer(
        Router::new()
            .route("/v2.1/os-hypervisors", get(list))
            .route("/v2.1/os-hypervisors/detail", get(detail))
            .route("/v2.1/os-hypervisors/statistics", get(statistics))
            .route("/v2.1/os-hypervisors/{id}", get(show))
            .route("/v2.1/os-hypervisors/{id}/servers", get(servers))
            .route("/v2.1/os-hypervisors/{id}/uptime", get(uptime))
            .route("/v2.1/os-hypervisors/{id}/search", get(search))
            .route("/v2.1/os-services", get(services))
            .route("/v2.1/os-services/{id}", put(service_update))
            .route("/v2.1/os-availability-zone", get(zones))
            .route("/v2.1/os-availability-zone/detail", get(zones_detail)),
    )
}

fn admin_only(c: &Caller, what: &str) -> orrery_kernel::Result<()> {
    if c.admin {
        Ok(())
    } else {
        Err(Error::forbidden("compute.forbidden", format!("Policy doesn't allow os_compute_api:{what} to be performed.")))
    }
}

/// A hypervisor's id at `mv`: its index + 1 before 2.53, its UUID from then.
fn hypervisor_id(v: &Hypervisor, mv: Microversion) -> Value {
    if mv.at_least(53) {
        json!(v.host.id.to_string())
    } else {
        json!(v.idx + 1)
    }
}

/// Its compute service's id at `mv`.
fn service_id(v: &Hypervisor, mv: Microversion) -> Value {
    if mv.at_least(53) {
        json!(v.service_id.to_string())
    } else {
        json!(v.idx + 3)
    }
}

/// The reference a hypervisor id names at `mv`.
fn host_ref(id: &str, mv: Microversion) -> Option<HostRef> {
    if mv.at_least(53) {
        id.parse::<Uuid>().ok().map(HostRef::Uuid)
    } else {
        id.parse::<u32>().ok().and_then(|n| n.checked_sub(1)).map(HostRef::Index)
    }
}

fn not_found(id: &str) -> Error {
    Error::not_found("compute.not_found", format!("Hypervisor with ID {id} could not be found."))
}

fn summary(v: &Hypervisor, mv: Microversion) -> Value {
    let mut o = json!({
        "id": hypervisor_id(v, mv),
        "hypervisor_hostname": v.host.name,
        "state": if v.up { "up" } else { "down" },
        "status": if v.enabled { "enabled" } else { "disabled" },
    });
    if !v.servers.is_empty() {
        o["servers"] = v.servers.iter().map(|(id, name)| json!({"uuid": id.to_string(), "name": name})).collect();
    }
    o
}

/// The usage figures of a detailed record, which 2.88 drops.
fn usage_json(v: &Hypervisor, mv: Microversion) -> Value {
    let h = &v.host;
    let (mem_used, disk_used) = (v.memory_used(), v.disk_used());
    let free_disk = h.spec.disk as i64 - disk_used as i64;
    let cpu_info = json!({
        "arch": h.spec.arch, "model": "Cascadelake-Server-noTSX", "vendor": "Intel",
        "topology": {"cells": 2, "sockets": 2, "cores": (h.spec.vcpus / 4).max(1), "threads": 2},
        "features": ["avx2", "avx512f", "vmx", "aes", "sse4.2"],
    });
    json!({
        "vcpus": h.spec.vcpus, "vcpus_used": v.used[0],
        "memory_mb": h.spec.ram, "memory_mb_used": mem_used, "free_ram_mb": h.spec.ram as i64 - mem_used as i64,
        "local_gb": h.spec.disk, "local_gb_used": disk_used, "free_disk_gb": free_disk, "disk_available_least": free_disk,
        "running_vms": v.running, "current_workload": 0,
        "cpu_info": if mv.at_least(28) { cpu_info } else { json!(cpu_info.to_string()) },
    })
}

/// A detailed record at `mv`: from 2.88 with `uptime` (null for a host that is down, whose
/// uptime Nova cannot ask) instead of the usage figures.
fn detail_json(v: &Hypervisor, mv: Microversion, now: Time) -> Value {
    let mut o = summary(v, mv);
    let mut fields = json!({
        "hypervisor_type": "QEMU", "hypervisor_version": 8_002_000,
        "host_ip": host_ip(v.idx),
        "service": {"host": v.host.name, "id": service_id(v, mv), "disabled_reason": v.disabled_reason},
    });
    if mv.at_least(88) {
        fields["uptime"] = if v.up { json!(uptime_text(now, v)) } else { Value::Null };
    } else if let (Some(f), Value::Object(u)) = (fields.as_object_mut(), usage_json(v, mv)) {
        f.extend(u);
    }
    if let (Some(o), Value::Object(f)) = (o.as_object_mut(), fields) {
        o.extend(f);
    }
    o
}

/// Nova's answer for a route the microversion no longer has.
fn gone() -> ApiError {
    ApiError::not_found(S, "The resource could not be found.")
}

/// A management address per host, in 10.0.0.0/8.
pub(crate) fn host_ip(idx: HostIdx) -> String {
    let n = idx + 10;
    format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
}

fn truthy(v: Option<&String>) -> bool {
    v.is_some_and(|v| ["1", "true", "yes", "on"].contains(&v.to_ascii_lowercase().as_str()))
}

/// Parses a list's query: `hypervisor_hostname_pattern`, `limit` and `marker` (2.33+),
/// `with_servers` (2.53+), and reads the matching hypervisors.
fn listed(k: &Kernel, c: &Caller, q: &BTreeMap<String, String>, mv: Microversion) -> orrery_kernel::Result<Vec<Hypervisor>> {
    let paged = mv.at_least(33);
    let limit = match q.get("limit").filter(|_| paged) {
        Some(l) => {
            Some(l.parse::<usize>().map_err(|_| Error::bad_request("compute.bad_request", format!("Invalid input for query parameters limit. Value: {l}.")))?)
        }
        None => None,
    };
    let after = match q.get("marker").filter(|_| paged) {
        Some(m) => {
            Some(host_ref(m, mv).and_then(|r| views::find(k, &r)).ok_or_else(|| Error::bad_request("compute.bad_request", format!("marker [{m}] not found")))?)
        }
        None => None,
    };
    let pattern = q.get("hypervisor_hostname_pattern").filter(|_| mv.at_least(53)).cloned();
    views::hypervisors(k, c, &HypervisorQuery { pattern, after, limit, with_servers: mv.at_least(53) && truthy(q.get("with_servers")) })
}

/// Adds `hypervisors_links` when a page is full.
fn with_links(mut body: Value, views: &[Hypervisor], q: &BTreeMap<String, String>, mv: Microversion, base: &str, path: &str) -> Value {
    if let (Some(l), Some(last)) = (q.get("limit").and_then(|l| l.parse::<usize>().ok()), views.last()) {
        if mv.at_least(33) && views.len() == l {
            let marker = hypervisor_id(last, mv);
            let marker = marker.as_str().map_or_else(|| marker.to_string(), str::to_string);
            body["hypervisors_links"] = json!([{"rel": "next", "href": format!("{base}/compute/v2.1/{path}?limit={l}&marker={marker}")}]);
        }
    }
    body
}

async fn list(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Query(q): Query<BTreeMap<String, String>>) -> Result<Json<Value>, ApiError> {
    let q2 = q.clone();
    let views = read(&s, S, auth(&h, S)?, move |k, c| listed(k, c, &q2, mv)).await?;
    let body = json!({"hypervisors": views.iter().map(|v| summary(v, mv)).collect::<Vec<_>>()});
    Ok(Json(with_links(body, &views, &q, mv, &s.site.base_url, "os-hypervisors")))
}

async fn detail(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Query(q): Query<BTreeMap<String, String>>) -> Result<Json<Value>, ApiError> {
    let q2 = q.clone();
    let (views, now) = read(&s, S, auth(&h, S)?, move |k, c| Ok((listed(k, c, &q2, mv)?, k.now()))).await?;
    let body = json!({"hypervisors": views.iter().map(|v| detail_json(v, mv, now)).collect::<Vec<_>>()});
    Ok(Json(with_links(body, &views, &q, mv, &s.site.base_url, "os-hypervisors/detail")))
}

async fn show(
    State(s): State<AppState>,
    mv: Microversion,
    h: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let with_servers = mv.at_least(53) && truthy(q.get("with_servers"));
    let (v, now) = read(&s, S, auth(&h, S)?, move |k, c| {
        // Policy first, as Nova does: a non-admin learns nothing from a malformed id.
        admin_only(c, "os-hypervisors:show")?;
        let r = host_ref(&id, mv).ok_or_else(|| not_found(&id))?;
        Ok((views::hypervisor(k, c, &r, with_servers)?, k.now()))
    })
    .await?;
    Ok(Json(json!({"hypervisor": detail_json(&v, mv, now)})))
}

/// The host's `uptime` line as libvirt reports it (procps' format): the time of day (UTC), how
/// long since it booted (with the cloud, or when it last came back from a failure), no users,
/// and as load average the vCPUs its servers hold, the model counting every guest vCPU busy.
fn uptime_text(now: Time, v: &Hypervisor) -> String {
    let (day, up) = (now.0 / 1_000_000 % 86_400, now.since(v.booted).0 / 60_000_000);
    let (days, hours, mins) = (up / 1440, up / 60 % 24, up % 60);
    let mut since = String::new();
    if days > 0 {
        since = format!("{days} day{}, ", if days == 1 { "" } else { "s" });
    }
    since += &if hours > 0 { format!("{hours:2}:{mins:02}") } else { format!("{mins} min") };
    let load = v.used[0] as f64;
    format!(" {:02}:{:02}:{:02} up {since},  0 users,  load average: {load:.2}, {load:.2}, {load:.2}", day / 3600, day / 60 % 60, day % 60)
}

/// `GET /os-hypervisors/{id}/uptime` (before 2.88, which puts `uptime` in the detailed record):
/// the summary record with `uptime`; 400 for a host that is down, as Nova says of an
/// unreachable compute.
async fn uptime(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    if mv.at_least(88) {
        return Err(gone());
    }
    let (v, now) = read(&s, S, auth(&h, S)?, move |k, c| {
        admin_only(c, "os-hypervisors:uptime")?;
        let r = host_ref(&id, mv).ok_or_else(|| not_found(&id))?;
        Ok((views::hypervisor(k, c, &r, false)?, k.now()))
    })
    .await?;
    if !v.up {
        return Err(bad(format!("Compute service of {} is unavailable at this time.", v.host.name)));
    }
    let mut o = summary(&v, mv);
    o["uptime"] = json!(uptime_text(now, &v));
    Ok(Json(json!({"hypervisor": o})))
}

/// `GET /os-hypervisors/{hostname}/servers` (before 2.53): hypervisors whose name matches, with servers.
async fn servers(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Path(pattern): Path<String>) -> Result<Json<Value>, ApiError> {
    legacy_search(s, mv, h, pattern, true).await
}

/// `GET /os-hypervisors/{hostname}/search` (before 2.53).
async fn search(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Path(pattern): Path<String>) -> Result<Json<Value>, ApiError> {
    legacy_search(s, mv, h, pattern, false).await
}

async fn legacy_search(s: AppState, mv: Microversion, h: HeaderMap, pattern: String, with_servers: bool) -> Result<Json<Value>, ApiError> {
    if mv.at_least(53) {
        return Err(gone());
    }
    let q = HypervisorQuery { pattern: Some(pattern), with_servers, ..HypervisorQuery::default() };
    let views = read(&s, S, auth(&h, S)?, move |k, c| {
        admin_only(c, "os-hypervisors:search")?;
        views::hypervisors(k, c, &q)
    })
    .await?;
    Ok(Json(json!({"hypervisors": views.iter().map(|v| summary(v, mv)).collect::<Vec<_>>()})))
}

/// `GET /os-hypervisors/statistics` (before 2.88): the usage figures summed over the hosts.
async fn statistics(State(s): State<AppState>, mv: Microversion, h: HeaderMap) -> Result<Json<Value>, ApiError> {
    if mv.at_least(88) {
        return Err(gone());
    }
    let t = read(&s, S, auth(&h, S)?, views::statistics).await?;
    let free = |(total, used): (u64, u64)| total as i64 - used as i64;
    Ok(Json(json!({"hypervisor_statistics": {
        "count": t.count,
        "vcpus": t.vcpus.0, "vcpus_used": t.vcpus.1,
        "memory_mb": t.memory_mb.0, "memory_mb_used": t.memory_mb.1, "free_ram_mb": free(t.memory_mb),
        "local_gb": t.local_gb.0, "local_gb_used": t.local_gb.1, "free_disk_gb": free(t.local_gb), "disk_available_least": free(t.local_gb),
        "running_vms": t.running, "current_workload": 0,
    }})))
}

/// One `os-services` record.
struct ServiceRow<'a> {
    id: Value,
    binary: &'a str,
    host: &'a str,
    zone: &'a str,
    up: bool,
    forced_down: bool,
    enabled: bool,
    reason: Option<&'a str>,
}

fn service_json(mv: Microversion, r: ServiceRow<'_>, now: Time) -> Value {
    let mut o = json!({
        "id": r.id, "binary": r.binary, "host": r.host, "zone": r.zone,
        "state": if r.up { "up" } else { "down" }, "status": if r.enabled { "enabled" } else { "disabled" },
        "disabled_reason": r.reason, "updated_at": iso_micros(now),
    });
    if mv.at_least(11) {
        o["forced_down"] = json!(r.forced_down);
    }
    o
}

/// A compute host's `nova-compute` record.
fn compute_service_json(v: &Hypervisor, mv: Microversion, now: Time) -> Value {
    let row = ServiceRow {
        id: service_id(v, mv),
        binary: "nova-compute",
        host: &v.host.name,
        zone: &v.zone,
        up: v.up,
        forced_down: v.forced_down,
        enabled: v.enabled,
        reason: v.disabled_reason.as_deref(),
    };
    service_json(mv, row, now)
}

async fn services(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Query(q): Query<BTreeMap<String, String>>) -> Result<Json<Value>, ApiError> {
    let (list, now) = read(&s, S, auth(&h, S)?, |k, c| Ok((views::services(k, c)?, k.now()))).await?;
    let control = |n: u32, binary: &str| {
        let id = if mv.at_least(53) {
            json!(Uuid::from_random(u128::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C834)).to_string())
        } else {
            json!(n)
        };
        service_json(mv, ServiceRow { id, binary, host: "controller", zone: "internal", up: true, forced_down: false, enabled: true, reason: None }, now)
    };
    let mut out = vec![control(1, "nova-scheduler"), control(2, "nova-conductor")];
    out.extend(list.iter().map(|v| compute_service_json(v, mv, now)));
    out.retain(|o| q.get("host").is_none_or(|h| o["host"] == json!(h)) && q.get("binary").is_none_or(|b| o["binary"] == json!(b)));
    Ok(Json(json!({"services": out})))
}

/// The body of `PUT /os-services/{id}` (2.53+) and of the older `PUT /os-services/{action}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceUpdate {
    status: Option<String>,
    disabled_reason: Option<String>,
    #[serde(default, deserialize_with = "crate::util::nova_bool")]
    forced_down: Option<bool>,
    host: Option<String>,
    binary: Option<String>,
}

/// What a service update asks of one host, checked before anything changes.
struct Change {
    host: String,
    enable: Option<bool>,
    reason: Option<String>,
    forced_down: Option<bool>,
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::new(S, Error::bad_request("compute.bad_request", msg.into()))
}

/// Parses a 2.53+ update of the service with UUID `id`; the host is resolved later.
fn change_253(u: ServiceUpdate) -> Result<Change, ApiError> {
    if let Some(f) = [("host", u.host.is_some()), ("binary", u.binary.is_some())].iter().find(|f| f.1) {
        return Err(bad(format!("Invalid input for field/attribute service. Additional properties are not allowed ('{}' was unexpected)", f.0)));
    }
    let enable = match u.status.as_deref() {
        None => None,
        Some("enabled") => Some(true),
        Some("disabled") => Some(false),
        Some(other) => return Err(bad(format!("Invalid input for field/attribute status. Value: {other}. '{other}' is not one of ['enabled', 'disabled']"))),
    };
    if u.disabled_reason.is_some() && enable != Some(false) {
        return Err(bad("Specifying 'disabled_reason' with status 'enabled' is invalid."));
    }
    if enable.is_none() && u.forced_down.is_none() {
        return Err(bad("No updates were requested for the service; give 'status' or 'forced_down'."));
    }
    Ok(Change { host: String::new(), enable, reason: u.disabled_reason, forced_down: u.forced_down })
}

/// Parses an update before 2.53: `PUT /os-services/{action}` naming host and binary.
fn change_legacy(action: &str, u: ServiceUpdate, mv: Microversion) -> Result<Change, ApiError> {
    let (Some(host), Some(binary)) = (u.host, u.binary) else {
        return Err(bad("Invalid input for field/attribute service. 'host' and 'binary' are required properties"));
    };
    if binary != "nova-compute" {
        return Err(bad(format!("Updating a {binary} service is not supported. Only nova-compute services can be updated.")));
    }
    let mut c = Change { host, enable: None, reason: None, forced_down: None };
    match action {
        "enable" => c.enable = Some(true),
        "disable" => c.enable = Some(false),
        "disable-log-reason" => {
            c.enable = Some(false);
            c.reason = Some(u.disabled_reason.ok_or_else(|| bad("Missing disabled reason field"))?);
        }
        "force-down" if mv.at_least(11) => {
            c.forced_down = Some(u.forced_down.ok_or_else(|| bad("Invalid input for field/attribute forced_down. 'forced_down' is a required property"))?)
        }
        other => return Err(ApiError::new(S, Error::not_found("compute.not_found", format!("Unknown action {other}")))),
    }
    Ok(c)
}

/// `PUT /os-services/{id}` (2.53+, `id` a service UUID) or `PUT /os-services/{action}`
/// (before 2.53): disable, enable, force down (fail) or force up (recover) a compute host.
/// Every command is idempotent and validated by the kernel, so nothing read here can go stale
/// before the writes.
async fn service_update(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let a = auth(&h, S)?;
    let u: ServiceUpdate = parse_json(S, &body)?;
    let mut change = if mv.at_least(53) { change_253(u)? } else { change_legacy(&id, u, mv)? };
    let r = if mv.at_least(53) {
        HostRef::Service(id.parse::<Uuid>().map_err(|_| ApiError::new(S, Error::not_found("compute.not_found", format!("Service {id} could not be found."))))?)
    } else {
        HostRef::Name(change.host.clone())
    };
    // Hosts never change name, so the name resolved here stays right for the commands.
    let found = read(&s, S, a.clone(), move |k, c| views::service(k, c, &r)).await?;
    change.host = found.host.name.clone();
    let host = change.host.clone();
    let mut cmds = Vec::new();
    match change.enable {
        Some(true) => cmds.push(Command::Compute(kcompute::Cmd::Host(hosts::Cmd::Enable { host: host.clone() }))),
        Some(false) => cmds.push(Command::Compute(kcompute::Cmd::Host(hosts::Cmd::Disable { host: host.clone(), reason: change.reason.clone() }))),
        None => {}
    }
    // forced_down sets the host's own health; a host down only with its rack stays down.
    if let Some(f) = change.forced_down {
        let state = if f { HealthState::Down } else { HealthState::Up };
        cmds.push(Command::Health(health::Cmd::Ensure { kind: Kind::Host, name: host.clone(), state }));
    }
    for cmd in cmds {
        apply(&s, S, a.clone(), cmd).await?;
    }
    service_reply(&s, a, mv, &id, change).await
}

/// The reply to a service update: the whole record from 2.53, the fields changed before.
async fn service_reply(s: &AppState, a: orrery_kernel::Auth, mv: Microversion, action: &str, change: Change) -> Result<Json<Value>, ApiError> {
    let r = HostRef::Name(change.host.clone());
    let record = read(s, S, a, move |k, c| Ok(compute_service_json(&views::service(k, c, &r)?, mv, k.now()))).await?;
    if mv.at_least(53) {
        return Ok(Json(json!({"service": record})));
    }
    let mut o = json!({"host": change.host, "binary": "nova-compute"});
    match action {
        "force-down" => o["forced_down"] = record["forced_down"].clone(),
        "disable-log-reason" => {
            o["status"] = record["status"].clone();
            o["disabled_reason"] = record["disabled_reason"].clone();
        }
        _ => o["status"] = record["status"].clone(),
    }
    Ok(Json(json!({"service": o})))
}

async fn zones(State(s): State<AppState>, h: HeaderMap) -> Result<Json<Value>, ApiError> {
    let list = read(&s, S, auth(&h, S)?, |k, c| views::zones(k, c, false)).await?;
    let info: Vec<Value> = list.iter().map(|z| json!({"zoneName": z.name, "zoneState": {"available": z.available}, "hosts": null})).collect();
    Ok(Json(json!({"availabilityZoneInfo": info})))
}

async fn zones_detail(State(s): State<AppState>, h: HeaderMap) -> Result<Json<Value>, ApiError> {
    let (list, now) = read(&s, S, auth(&h, S)?, |k, c| Ok((views::zones(k, c, true)?, iso_micros(k.now())))).await?;
    let svc = |up: bool, enabled: bool| json!({"available": up && enabled, "active": enabled, "updated_at": now});
    let internal = json!({"controller": {"nova-scheduler": svc(true, true), "nova-conductor": svc(true, true)}});
    let mut out = vec![json!({"zoneName": "internal", "zoneState": {"available": true}, "hosts": internal})];
    for z in &list {
        let hosts: serde_json::Map<String, Value> =
            z.hosts.iter().map(|(name, up, enabled)| (name.clone(), json!({"nova-compute": svc(*up, *enabled)}))).collect();
        out.push(json!({"zoneName": z.name, "zoneState": {"available": z.available}, "hosts": hosts}));
    }
    Ok(Json(json!({"availabilityZoneInfo": out})))
}

#[cfg(test)]
mod tests {
    use orrery_kernel::compute::views::Hypervisor;
    use orrery_kernel::Time;
    use serde_json::json;

    use crate::compute::versions::testkit::*;

    #[tokio::test]
    async fn hypervisors_by_microversion() {
        let app = app();
        let r = get(&app, "/compute/v2.1/os-hypervisors", ADMIN).await;
        let list = r.body["hypervisors"].as_array().unwrap().clone();
        assert_eq!(list.len(), 4);
        assert_eq!((list[0]["id"].clone(), list[0]["state"].clone(), list[0]["status"].clone()), (json!(1), json!("up"), json!("enabled")));
        assert_eq!(get(&app, "/compute/v2.1/os-hypervisors", P1).await.status, 403);
        let d = get_mv(&app, "/compute/v2.1/os-hypervisors/detail", ADMIN, "2.79").await.body["hypervisors"][0].clone();
        assert!(d["id"].as_str().unwrap().len() == 36);
        assert_eq!((d["vcpus"].clone(), d["memory_mb"].clone(), d["memory_mb_used"].clone()), (json!(16), json!(32768), json!(4096)));
        assert_eq!((d["running_vms"].clone(), d["hypervisor_type"].clone()), (json!(0), json!("QEMU")));
        assert!(d["cpu_info"].is_object());
        let id = d["id"].as_str().unwrap().to_string();
        let r = get_mv(&app, &format!("/compute/v2.1/os-hypervisors/{id}"), ADMIN, "2.79").await;
        assert_eq!(r.body["hypervisor"]["hypervisor_hostname"], "az1-r01-h01");
        assert_eq!(get(&app, "/compute/v2.1/os-hypervisors/1", ADMIN).await.body["hypervisor"]["cpu_info"].as_str().map(|s| s.starts_with('{')), Some(true));
        assert_eq!(get(&app, "/compute/v2.1/os-hypervisors/99", ADMIN).await.status, 404);
        let page = get_mv(&app, "/compute/v2.1/os-hypervisors?limit=3", ADMIN, "2.79").await.body;
        assert_eq!(page["hypervisors"].as_array().unwrap().len(), 3);
        assert!(page["hypervisors_links"][0]["href"].as_str().unwrap().contains("marker="));
        let s = get(&app, "/compute/v2.1/os-hypervisors/statistics", ADMIN).await.body["hypervisor_statistics"].clone();
        assert_eq!((s["count"].clone(), s["vcpus"].clone(), s["local_gb"].clone()), (json!(4), json!(64), json!(800)));
        let r = get(&app, "/compute/v2.1/os-hypervisors/r01/search", ADMIN).await;
        assert_eq!(r.body["hypervisors"].as_array().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn uptime_counts_from_the_clouds_creation_and_needs_a_live_host() {
        let app = app();
        let r = get(&app, "/compute/v2.1/os-hypervisors/1/uptime", ADMIN).await;
        assert_eq!(r.status, 200);
        let up = r.body["hypervisor"]["uptime"].as_str().unwrap().to_string();
        assert!(up.contains(" up ") && up.ends_with("load average: 0.00, 0.00, 0.00"), "{up}");
        assert_eq!(r.body["hypervisor"]["hypervisor_hostname"], "az1-r01-h01");
        assert_eq!(get(&app, "/compute/v2.1/os-hypervisors/99/uptime", ADMIN).await.status, 404);
        assert_eq!(get(&app, "/compute/v2.1/os-hypervisors/1/uptime", P1).await.status, 403);
        let id = get_mv(&app, "/compute/v2.1/os-hypervisors", ADMIN, "2.79").await.body["hypervisors"][0]["id"].as_str().unwrap().to_string();
        assert_eq!(get_mv(&app, &format!("/compute/v2.1/os-hypervisors/{id}/uptime"), ADMIN, "2.79").await.status, 200);
        assert_eq!(get_mv(&app, "/compute/v2.1/os-hypervisors/1/uptime", ADMIN, "2.79").await.status, 404);
    }

    #[tokio::test]
    async fn at_2_88_records_drop_usage_gain_uptime_and_the_old_routes_go() {
        let app = app();
        let d = get_mv(&app, "/compute/v2.1/os-hypervisors/detail", ADMIN, "2.88").await.body["hypervisors"][0].clone();
        let mut keys: Vec<&str> = d.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["host_ip", "hypervisor_hostname", "hypervisor_type", "hypervisor_version", "id", "service", "state", "status", "uptime"]);
        let up = d["uptime"].as_str().unwrap();
        assert!(up.contains(" up ") && up.contains("load average:"), "{up}");
        let id = d["id"].as_str().unwrap().to_string();
        let one = get_mv(&app, &format!("/compute/v2.1/os-hypervisors/{id}"), ADMIN, "2.88").await.body["hypervisor"].clone();
        assert_eq!((one["uptime"].is_string(), one.get("vcpus"), one.get("cpu_info")), (true, None, None));
        let old = get_mv(&app, &format!("/compute/v2.1/os-hypervisors/{id}"), ADMIN, "2.87").await.body["hypervisor"].clone();
        assert!(old.get("uptime").is_none() && old["vcpus"] == json!(16) && old["cpu_info"].is_object());
        for path in ["/compute/v2.1/os-hypervisors/statistics".to_string(), format!("/compute/v2.1/os-hypervisors/{id}/uptime")] {
            let r = get_mv(&app, &path, ADMIN, "2.88").await;
            assert_eq!((r.status.as_u16(), r.body["itemNotFound"]["message"].clone()), (404, json!("The resource could not be found.")), "{path}");
            assert_eq!(get_mv(&app, &path, P1, "2.88").await.status, 404, "the route is gone before policy: {path}");
            assert_eq!(get_mv(&app, &path, ADMIN, "2.87").await.status, 200, "{path}");
        }
        // A host that is down has no uptime to ask for.
        let svc = get_mv(&app, "/compute/v2.1/os-services?binary=nova-compute", ADMIN, "2.88").await.body["services"][0]["id"].as_str().unwrap().to_string();
        let r = send(&app, "PUT", &format!("/compute/v2.1/os-services/{svc}"), ADMIN, "2.88", r#"{"forced_down": true}"#).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let one = get_mv(&app, &format!("/compute/v2.1/os-hypervisors/{id}"), ADMIN, "2.88").await.body["hypervisor"].clone();
        assert_eq!((one["state"].clone(), one["uptime"].clone()), (json!("down"), json!(null)));
    }

    #[test]
    fn uptime_reads_like_procps() {
        let spec = orrery_kernel::topology::HostSpec::compute(4, 1024, 10);
        let host = orrery_kernel::topology::Host { name: "h".into(), id: orrery_kernel::Uuid(1), rack: 0, zone: 0, spec };
        let v = Hypervisor {
            idx: 0,
            host,
            enabled: true,
            disabled_reason: None,
            zone: "az1".into(),
            service_id: orrery_kernel::Uuid(2),
            up: true,
            forced_down: false,
            used: [3, 0, 0],
            reserved: [0; 3],
            running: 1,
            servers: vec![],
            booted: Time::from_secs(0),
        };
        let now = |s: u64| Time::from_secs(s);
        assert_eq!(super::uptime_text(now(3_723), &v), " 01:02:03 up  1:02,  0 users,  load average: 3.00, 3.00, 3.00");
        assert_eq!(super::uptime_text(now(300), &v), " 00:05:00 up 5 min,  0 users,  load average: 3.00, 3.00, 3.00");
        assert!(super::uptime_text(now(2 * 86_400 + 600), &v).contains(" up 2 days, 10 min,"));
    }

    #[tokio::test]
    async fn zones_and_services() {
        let app = app();
        let z = get(&app, "/compute/v2.1/os-availability-zone", P1).await.body;
        assert_eq!(z["availabilityZoneInfo"], json!([{"zoneName": "az1", "zoneState": {"available": true}, "hosts": null}]));
        let z = get(&app, "/compute/v2.1/os-availability-zone/detail", ADMIN).await.body;
        assert_eq!(z["availabilityZoneInfo"][1]["hosts"].as_object().unwrap().len(), 4);
        assert_eq!(get(&app, "/compute/v2.1/os-availability-zone/detail", P1).await.status, 403);
        let s = get(&app, "/compute/v2.1/os-services?binary=nova-compute", ADMIN).await.body;
        assert_eq!(s["services"].as_array().unwrap().len(), 4);
        let s = get_mv(&app, "/compute/v2.1/os-services", ADMIN, "2.79").await.body;
        assert_eq!(s["services"].as_array().unwrap().len(), 6);
        assert_eq!(s["services"][0]["id"].as_str().map(str::len), Some(36));
        assert_eq!(s["services"][0]["forced_down"], false);
    }

    #[tokio::test]
    async fn services_update_disables_and_forces_hosts_down() {
        let app = app();
        let list = get_mv(&app, "/compute/v2.1/os-services?binary=nova-compute", ADMIN, "2.79").await.body;
        let id = list["services"][0]["id"].as_str().unwrap().to_string();
        let path = format!("/compute/v2.1/os-services/{id}");
        let r = send(&app, "PUT", &path, ADMIN, "2.79", r#"{"status": "disabled", "disabled_reason": "maintenance"}"#).await;
        assert_eq!(r.status, 200);
        assert_eq!((r.body["service"]["status"].clone(), r.body["service"]["disabled_reason"].clone()), (json!("disabled"), json!("maintenance")));
        let r = send(&app, "PUT", &path, ADMIN, "2.79", r#"{"forced_down": true}"#).await;
        assert_eq!((r.body["service"]["state"].clone(), r.body["service"]["forced_down"].clone()), (json!("down"), json!(true)));
        let hv = get(&app, "/compute/v2.1/os-hypervisors", ADMIN).await.body;
        assert_eq!((hv["hypervisors"][0]["state"].clone(), hv["hypervisors"][0]["status"].clone()), (json!("down"), json!("disabled")));
        let r = send(&app, "PUT", &path, ADMIN, "2.79", r#"{"forced_down": false, "status": "enabled"}"#).await;
        assert_eq!((r.body["service"]["state"].clone(), r.body["service"]["status"].clone()), (json!("up"), json!("enabled")));
        assert_eq!(send(&app, "PUT", &path, P1, "2.79", r#"{"forced_down": true}"#).await.status, 403);
        assert_eq!(send(&app, "PUT", &path, ADMIN, "2.79", r#"{"status": "enabled", "disabled_reason": "x"}"#).await.status, 400);
        assert_eq!(send(&app, "PUT", &path, ADMIN, "2.79", r#"{"bogus": 1}"#).await.status, 400);
        assert_eq!(send(&app, "PUT", &path, ADMIN, "2.79", "{}").await.status, 400);
        let missing = "/compute/v2.1/os-services/00000000-0000-4000-8000-000000000000";
        assert_eq!(send(&app, "PUT", missing, ADMIN, "2.79", r#"{"forced_down": true}"#).await.status, 404);
        // Before 2.53 the path names the action and the body the host.
        let r = send(&app, "PUT", "/compute/v2.1/os-services/disable", ADMIN, "2.1", r#"{"host": "az1-r01-h02", "binary": "nova-compute"}"#).await;
        assert_eq!(r.body, json!({"service": {"host": "az1-r01-h02", "binary": "nova-compute", "status": "disabled"}}));
        let r = send(
            &app,
            "PUT",
            "/compute/v2.1/os-services/force-down",
            ADMIN,
            "2.11",
            r#"{"host": "az1-r01-h02", "binary": "nova-compute", "forced_down": true}"#,
        )
        .await;
        assert_eq!(r.body["service"]["forced_down"], true);
    }
}
