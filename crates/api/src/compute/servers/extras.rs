//! A server's sub-resources: metadata, tags (2.26), addresses, the server password, the
//! instance action log (`os-instance-actions`) and diagnostics (admin).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use orrery_kernel::compute::servers::{self as kservers, ActionRecord, Cmd};
use orrery_kernel::compute::views as kviews;
use orrery_kernel::{Error, Uuid};
use serde::Deserialize;
use serde_json::{json, Value};

use super::query::{parse_iso, Pairs};
use super::{run, run_ask, server_id, view, S};
use crate::compute::versions::{auth, read, Microversion};
use crate::error::ApiError;
use crate::util::{iso_micros, parse_json};
use crate::AppState;
use orrery_kernel::ask::compute as kask;

/// Routes of the sub-resources, relative to `/compute`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2.1/servers/{id}/metadata", get(metadata_list).post(metadata_merge).put(metadata_replace))
        .route("/v2.1/servers/{id}/metadata/{key}", get(meta_show).put(meta_set).delete(meta_delete))
        .route("/v2.1/servers/{id}/tags", get(tags_list).put(tags_replace).delete(tags_clear))
        .route("/v2.1/servers/{id}/tags/{tag}", get(tag_check).put(tag_add).delete(tag_delete))
        .route("/v2.1/servers/{id}/ips", get(ips))
        .route("/v2.1/servers/{id}/diagnostics", get(diagnostics))
        .route("/v2.1/servers/{id}/ips/{network}", get(ip_network))
        .route("/v2.1/servers/{id}/os-server-password", get(password).delete(password_clear))
        .route("/v2.1/servers/{id}/os-instance-actions", get(actions_list))
        .route("/v2.1/servers/{id}/os-instance-actions/{request_id}", get(action_show))
}

/// Reads something of a server the caller may see.
async fn with_server<R, F>(s: &AppState, h: &HeaderMap, id: &str, f: F) -> Result<R, ApiError>
where
    R: Send + 'static,
    F: FnOnce(&kservers::Server) -> R + Send + 'static,
{
    let a = auth(h, S)?;
    let id = server_id(id)?;
    read(s, S, a, move |k, c| kservers::find(k, c, &id).map(f)).await
}

async fn metadata_list(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let m = with_server(&s, &h, &id, |srv| srv.metadata.clone()).await?;
    Ok(Json(json!({"metadata": m})))
}

/// A `{"metadata": {...}}` body (servers' and the image proxy's metadata).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MetadataBody {
    /// The items.
    pub(crate) metadata: BTreeMap<String, String>,
}

/// A `{"meta": {key: value}}` body (one metadata item).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MetaBody {
    /// The item.
    pub(crate) meta: BTreeMap<String, String>,
}

async fn set_metadata(s: &AppState, h: &HeaderMap, id: &str, body: &Bytes, replace: bool) -> Result<Json<Value>, ApiError> {
    auth(h, S)?;
    let id = server_id(id)?;
    let b: MetadataBody = parse_json(S, body)?;
    let m = run_ask(s, h, kask::set_metadata(id, b.metadata, replace)).await?;
    Ok(Json(json!({"metadata": m})))
}

async fn metadata_merge(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Json<Value>, ApiError> {
    set_metadata(&s, &h, &id, &body, false).await
}

async fn metadata_replace(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Json<Value>, ApiError> {
    set_metadata(&s, &h, &id, &body, true).await
}

async fn meta_show(State(s): State<AppState>, h: HeaderMap, Path((id, key)): Path<(String, String)>) -> Result<Json<Value>, ApiError> {
    let k2 = key.clone();
    let v = with_server(&s, &h, &id, move |srv| srv.metadata.get(&k2).cloned()).await?;
    let v = v.ok_or_else(|| ApiError::not_found(S, "Metadata item was not found"))?;
    Ok(Json(json!({"meta": {key: v}})))
}

async fn meta_set(State(s): State<AppState>, h: HeaderMap, Path((id, key)): Path<(String, String)>, body: Bytes) -> Result<Json<Value>, ApiError> {
    auth(&h, S)?;
    let sid = server_id(&id)?;
    let b: MetaBody = parse_json(S, &body)?;
    if b.meta.len() > 1 {
        return Err(ApiError::bad_request(S, "Request body contains too many items"));
    }
    let value = b.meta.get(&key).cloned().ok_or_else(|| ApiError::bad_request(S, "Request body and URI mismatch"))?;
    run(&s, &h, Cmd::SetMetadata { id: sid, items: b.meta, replace: false }).await?;
    Ok(Json(json!({"meta": {key: value}})))
}

async fn meta_delete(State(s): State<AppState>, h: HeaderMap, Path((id, key)): Path<(String, String)>) -> Result<StatusCode, ApiError> {
    run(&s, &h, Cmd::DeleteMetadata { id: server_id(&id)?, key }).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Tags exist from 2.26; before that the routes are not there.
fn tags_gate(mv: Microversion) -> Result<(), ApiError> {
    if mv.at_least(26) {
        Ok(())
    } else {
        Err(ApiError::not_found(S, "The resource could not be found."))
    }
}

async fn tags_list(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    tags_gate(mv)?;
    let tags: Vec<String> = with_server(&s, &h, &id, |srv| srv.extras().tags.iter().cloned().collect()).await?;
    Ok(Json(json!({"tags": tags})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TagsBody {
    tags: Vec<String>,
}

async fn tags_replace(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Json<Value>, ApiError> {
    tags_gate(mv)?;
    auth(&h, S)?;
    let b: TagsBody = parse_json(S, &body)?;
    let t = run_ask(&s, &h, kask::set_tags(server_id(&id)?, b.tags)).await?;
    Ok(Json(json!({"tags": t})))
}

async fn tags_clear(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    tags_gate(mv)?;
    run(&s, &h, Cmd::ClearTags { id: server_id(&id)? }).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn tag_check(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Path((id, tag)): Path<(String, String)>) -> Result<StatusCode, ApiError> {
    tags_gate(mv)?;
    let t = tag.clone();
    if with_server(&s, &h, &id, move |srv| srv.extras().tags.contains(&t)).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(S, format!("Tag {tag} could not be found.")))
    }
}

async fn tag_add(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Path((id, tag)): Path<(String, String)>) -> Result<Response, ApiError> {
    tags_gate(mv)?;
    let t = tag.clone();
    let existed = with_server(&s, &h, &id, move |srv| srv.extras().tags.contains(&t)).await?;
    run(&s, &h, Cmd::AddTag { id: server_id(&id)?, tag: tag.clone() }).await?;
    if existed {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let location = format!("{}/compute/v2.1/servers/{id}/tags/{tag}", s.site.base_url);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)]).into_response())
}

async fn tag_delete(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Path((id, tag)): Path<(String, String)>) -> Result<StatusCode, ApiError> {
    tags_gate(mv)?;
    run(&s, &h, Cmd::DeleteTag { id: server_id(&id)?, tag }).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn ips(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    with_server(&s, &h, &id, |_| ()).await?;
    Ok(Json(json!({"addresses": {}})))
}

async fn ip_network(State(s): State<AppState>, h: HeaderMap, Path((id, _network)): Path<(String, String)>) -> Result<Json<Value>, ApiError> {
    with_server(&s, &h, &id, |_| ()).await?;
    Err(ApiError::not_found(S, "Instance is not a member of specified network"))
}

/// `GET /servers/{id}/diagnostics`: Nova's standard format from 2.48, with `driver` libvirt
/// (orrery's hypervisors are QEMU, which Nova drives through libvirt) and unknown counters as
/// null; before 2.48 the only keys of the libvirt driver's flat format the model can fill:
/// `memory` and `memory-actual`, in KiB (no CPU time or disk and NIC counters).
async fn diagnostics(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = server_id(&id)?;
    let d = read(&s, S, auth(&h, S)?, move |k, c| orrery_kernel::compute::diagnostics::diagnostics(k, c, &id)).await?;
    if !mv.at_least(48) {
        return Ok(Json(json!({"memory": d.memory_mb * 1024, "memory-actual": d.memory_mb * 1024})));
    }
    let unknown_disk = json!({"read_bytes": null, "read_requests": null, "write_bytes": null, "write_requests": null, "errors_count": null});
    Ok(Json(json!({
        "state": d.state, "driver": "libvirt", "hypervisor": "qemu", "hypervisor_os": "linux",
        "uptime": d.uptime, "config_drive": d.config_drive,
        "num_cpus": d.vcpus, "num_nics": 0, "num_disks": d.disks.len(),
        "cpu_details": (0..d.vcpus).map(|i| json!({"id": i, "time": null, "utilisation": null})).collect::<Vec<_>>(),
        "memory_details": {"maximum": d.memory_mb, "used": null},
        "nic_details": [],
        "disk_details": d.disks.iter().map(|_| unknown_disk.clone()).collect::<Vec<_>>(),
    })))
}

async fn password(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    with_server(&s, &h, &id, |_| ()).await?;
    Ok(Json(json!({"password": ""})))
}

async fn password_clear(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let sid = server_id(&id)?;
    read(&s, S, auth(&h, S)?, move |k, c| kservers::find_for_write(k, c, &sid, "os-server-password:clear").map(|_| ())).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An action record with what rendering needs from outside it.
struct ActionOut {
    server: Uuid,
    project: Uuid,
    rec: ActionRecord,
    hosts: Vec<Option<String>>,
    admin: bool,
    /// The server's fault: when it was recorded, and its message.
    fault: Option<(orrery_kernel::Time, String)>,
}

/// An event's `details` (2.84): the fault message of a failed event, as Nova stores the
/// failure's message with the event. Orrery records the message once, as the server's fault,
/// at the moment the failing event finishes; a failed event without it (one an operation or a
/// host failure overtook, or one whose fault a later failure replaced) has none.
fn event_details(e: &kservers::ActionEvent, fault: Option<&(orrery_kernel::Time, String)>) -> Value {
    match fault {
        Some((at, message)) if e.ok == Some(false) && e.finish == Some(*at) => json!(message),
        _ => Value::Null,
    }
}

fn request_id(id: &Uuid) -> String {
    format!("req-{id}")
}

fn action_json(a: &ActionOut, mv: Microversion) -> Value {
    let mut o = json!({
        "action": a.rec.kind.name(),
        "instance_uuid": a.server,
        "message": if a.rec.failed() { json!("Error") } else { Value::Null },
        "project_id": a.rec.project.simple(),
        "request_id": request_id(&a.rec.request_id),
        "start_time": iso_micros(a.rec.start),
        "user_id": a.rec.user.simple(),
    });
    if mv.at_least(58) {
        o["updated_at"] = json!(iso_micros(a.rec.updated));
    }
    o
}

fn events_json(a: &ActionOut, mv: Microversion) -> Vec<Value> {
    let result = |ok: Option<bool>| match ok {
        Some(true) => json!("Success"),
        Some(false) => json!("Error"),
        None => Value::Null,
    };
    a.rec
        .events
        .iter()
        .zip(&a.hosts)
        .map(|(e, host)| {
            let mut o = json!({"event": e.kind.name(), "start_time": iso_micros(e.start), "finish_time": e.finish.map(iso_micros), "result": result(e.ok)});
            if a.admin {
                o["traceback"] = Value::Null;
            }
            if mv.at_least(62) {
                if a.admin {
                    o["host"] = json!(host.clone().unwrap_or_default());
                }
                o["hostId"] = json!(view::host_id(&a.project, host.as_deref()));
            }
            // Nova's default policy (`os-instance-actions:events:details`) shows it to admins.
            if mv.at_least(84) && a.admin {
                o["details"] = event_details(e, a.fault.as_ref());
            }
            o
        })
        .collect()
}

fn collect_actions(k: &orrery_kernel::Kernel, admin: bool, srv: &kservers::Server) -> Vec<ActionOut> {
    srv.actions
        .iter()
        .rev()
        .map(|rec| ActionOut {
            server: srv.id,
            project: srv.project,
            hosts: rec.events.iter().map(|e| e.host.map(|h| kviews::host_name(k, h))).collect(),
            rec: rec.clone(),
            admin,
            fault: srv.extras().fault.as_ref().map(|f| (f.created, f.message.clone())),
        })
        .collect()
}

async fn actions_list(
    State(s): State<AppState>,
    mv: Microversion,
    h: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<Pairs>,
) -> Result<Json<Value>, ApiError> {
    let sid = server_id(&id)?;
    let all = read(&s, S, auth(&h, S)?, move |k, c| kservers::find(k, c, &sid).map(|srv| collect_actions(k, c.admin, srv))).await?;
    let get = |key: &str| q.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let mut items: Vec<&ActionOut> = all.iter().collect();
    let mut limit = usize::MAX;
    if mv.at_least(58) {
        if let Some(since) = get("changes-since") {
            let t = parse_iso(&since).ok_or_else(|| ApiError::bad_request(S, "Invalid filter field: changes-since."))?;
            items.retain(|a| a.rec.updated >= t);
        }
        if let Some(before) = get("changes-before").filter(|_| mv.at_least(66)) {
            let t = parse_iso(&before).ok_or_else(|| ApiError::bad_request(S, "Invalid filter field: changes-before."))?;
            items.retain(|a| a.rec.updated <= t);
        }
        if let Some(m) = get("marker") {
            let pos = items
                .iter()
                .position(|a| request_id(&a.rec.request_id) == m)
                .ok_or_else(|| ApiError::bad_request(S, format!("Marker {m} could not be found.")))?;
            items.drain(..=pos);
        }
        if let Some(l) = get("limit") {
            limit = l.parse().map_err(|_| ApiError::bad_request(S, format!("Invalid input for query parameters limit. Value: {l}.")))?;
        }
    }
    let full = limit != usize::MAX && items.len() > limit;
    items.truncate(limit);
    let mut body = json!({"instanceActions": items.iter().map(|a| action_json(a, mv)).collect::<Vec<_>>()});
    if full {
        if let Some(last) = items.last() {
            let href = format!("{}/compute/v2.1/servers/{id}/os-instance-actions?limit={limit}&marker={}", s.site.base_url, request_id(&last.rec.request_id));
            body["links"] = json!([{"rel": "next", "href": href}]);
        }
    }
    Ok(Json(body))
}

async fn action_show(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Path((id, rid)): Path<(String, String)>) -> Result<Json<Value>, ApiError> {
    let sid = server_id(&id)?;
    let all = read(&s, S, auth(&h, S)?, move |k, c| kservers::find(k, c, &sid).map(|srv| collect_actions(k, c.admin, srv))).await?;
    let a = all
        .iter()
        .find(|a| request_id(&a.rec.request_id) == rid)
        .ok_or_else(|| ApiError::new(S, Error::not_found("compute.not_found", format!("Action {rid} not found"))))?;
    let mut o = action_json(a, mv);
    if a.admin || mv.at_least(51) {
        o["events"] = json!(events_json(a, mv));
    }
    Ok(Json(json!({"instanceAction": o})))
}

#[cfg(test)]
mod instance_action_tests {
    use serde_json::{json, Value};

    use crate::compute::servers::tests::{app, boot, cloud, image_id, req, settle, ADMIN, P1, SERVERS};

    /// The events of server `id`'s newest action as `token` sees them at `mv`.
    async fn newest_events(app: &axum::Router, id: &str, token: &str, mv: &str) -> Vec<Value> {
        let list = req(app, "GET", &format!("{SERVERS}/{id}/os-instance-actions"), token, mv, None).await.body;
        let rid = list["instanceActions"][0]["request_id"].as_str().expect("an action").to_string();
        let show = req(app, "GET", &format!("{SERVERS}/{id}/os-instance-actions/{rid}"), token, mv, None).await;
        assert_eq!(show.status, 200, "{}", show.body);
        show.body["instanceAction"]["events"].as_array().cloned().unwrap_or_default()
    }

    #[tokio::test]
    async fn failed_events_carry_their_fault_as_details_from_2_84() {
        let k = cloud(1, 10);
        let image = image_id(&k);
        let app = app(k);
        let big = json!({"server": {"name": "big", "imageRef": image, "flavorRef": "5", "networks": "none", "max_count": 4, "min_count": 4}});
        let r = req(&app, "POST", SERVERS, P1, "2.79", Some(big)).await;
        assert_eq!(r.status, 202, "{}", r.body);
        let id = r.body["server"]["id"].as_str().unwrap().to_string();
        let events = newest_events(&app, &id, ADMIN, "2.84").await;
        let failed = events.iter().find(|e| e["result"] == "Error").expect("a failed event");
        assert_eq!(failed["details"], "No valid host was found. There are not enough hosts available.");
        assert!(events.iter().filter(|e| e["result"] != "Error").all(|e| e["details"].is_null()));
        assert!(newest_events(&app, &id, ADMIN, "2.83").await.iter().all(|e| e.get("details").is_none()));
        assert!(newest_events(&app, &id, P1, "2.84").await.iter().all(|e| e.get("details").is_none()), "Nova's policy shows details to admins");
    }

    #[tokio::test]
    async fn events_that_succeeded_have_null_details() {
        let k = cloud(2, 10);
        let image = image_id(&k);
        let app = app(k);
        let id = boot(&app, &image, "vm", P1).await;
        settle().await;
        let events = newest_events(&app, &id, ADMIN, "2.84").await;
        assert!(!events.is_empty());
        assert!(events.iter().all(|e| e["result"] == "Success" && e.as_object().unwrap().contains_key("details") && e["details"].is_null()), "{events:?}");
    }
}
