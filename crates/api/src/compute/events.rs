//! Compute API: `POST /os-server-external-events` (admin or service). Each event gets its own
//! code (200 accepted, 404 unknown server, 400 no `tag` where Nova needs one, 422 server not on
//! a host yet), the server's from the kernel's view (`orrery_kernel::compute::external`); the
//! reply is 200 when every event was accepted, else 207, as Nova answers since it stopped
//! answering 404 when none was (bug 1855752). An accepted event changes nothing: orrery's
//! servers have no ports, volumes or accelerators to refresh, and its driver, like libvirt's,
//! ignores power updates.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use orrery_kernel::compute::external;
use orrery_kernel::Uuid;
use serde::Deserialize;
use serde_json::{json, Value};

use super::versions::{auth, layer, read, Microversion};
use crate::error::{ApiError, Service};
use crate::util::parse_json;
use crate::AppState;

const S: Service = Service::Compute;

/// Routes for `os-server-external-events`.
pub fn routes() -> Router<AppState> {
    layer(Router::new().route("/v2.1/os-server-external-events", post(create)))
}

/// The event names Nova accepts at `mv`.
fn names(mv: Microversion) -> Vec<&'static str> {
    let mut n = vec!["network-changed", "network-vif-plugged", "network-vif-unplugged", "network-vif-deleted"];
    if mv.at_least(51) {
        n.push("volume-extended");
    }
    if mv.at_least(76) {
        n.push("power-update");
    }
    if mv.at_least(82) {
        n.push("accelerator-request-bound");
    }
    n
}

/// The events Nova drops (code 400) without a `tag`: the volume, the power state, the ARQ.
const TAG_REQUIRED: &[&str] = &["volume-extended", "power-update", "accelerator-request-bound"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    events: Vec<Event>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Event {
    name: String,
    server_uuid: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    tag: Option<String>,
}

/// Checks the events against Nova's schema at `mv`, returning their servers.
fn validate(events: &[Event], mv: Microversion) -> Result<Vec<Uuid>, ApiError> {
    let bad = |msg: String| ApiError::bad_request(S, msg);
    if events.is_empty() {
        return Err(bad("Invalid input for field/attribute events. Value: []. [] is too short".into()));
    }
    let known = names(mv);
    let mut servers = Vec::with_capacity(events.len());
    for e in events {
        if !known.contains(&e.name.as_str()) {
            return Err(bad(format!("Invalid input for field/attribute name. Value: {}. '{}' is not one of {known:?}", e.name, e.name)));
        }
        if let Some(s) = e.status.as_deref().filter(|s| !["failed", "completed", "in-progress"].contains(s)) {
            return Err(bad(format!("Invalid input for field/attribute status. Value: {s}. '{s}' is not one of ['failed', 'completed', 'in-progress']")));
        }
        if e.tag.as_ref().is_some_and(|t| t.chars().count() > 255) {
            return Err(bad("Invalid input for field/attribute tag. It is longer than 255 characters.".into()));
        }
        let id = e
            .server_uuid
            .parse::<Uuid>()
            .map_err(|_| bad(format!("Invalid input for field/attribute server_uuid. Value: {}. It is not a UUID.", e.server_uuid)))?;
        servers.push(id);
    }
    Ok(servers)
}

/// An event's code, given its server's: an event Nova needs a tag for is dropped without one.
fn code(e: &Event, server: u16) -> u16 {
    if server != 404 && e.tag.is_none() && TAG_REQUIRED.contains(&e.name.as_str()) {
        400
    } else {
        server
    }
}

/// `POST /os-server-external-events`.
async fn create(State(s): State<AppState>, mv: Microversion, h: HeaderMap, body: Bytes) -> Result<(StatusCode, Json<Value>), ApiError> {
    let a = auth(&h, S)?;
    let b: Body = parse_json(S, &body)?;
    let servers = validate(&b.events, mv)?;
    let codes = read(&s, S, a, move |k, c| external::codes(k, c, &servers)).await?;
    let codes: Vec<u16> = b.events.iter().zip(codes).map(|(e, c)| code(e, c)).collect();
    let out: Vec<Value> = b
        .events
        .iter()
        .zip(&codes)
        .map(|(e, &code)| {
            // Nova answers `completed` for every accepted event, whatever status it came with.
            let status = if code == 200 { "completed" } else { "failed" };
            let mut o = json!({"name": e.name, "server_uuid": e.server_uuid, "status": status, "code": code});
            if let Some(t) = &e.tag {
                o["tag"] = json!(t);
            }
            o
        })
        .collect();
    let status = if codes.iter().all(|&c| c == 200) { StatusCode::OK } else { StatusCode::MULTI_STATUS };
    Ok((status, Json(json!({"events": out}))))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::compute::servers::tests::{app, boot, cloud, image_id, req, settle, ADMIN, P1};

    #[tokio::test]
    async fn events_are_answered_per_server() {
        let k = cloud(2, 10);
        let image = image_id(&k);
        let app = app(k);
        let id = boot(&app, &image, "vm", P1).await;
        settle().await;
        let path = "/compute/v2.1/os-server-external-events";
        let post = |token: &'static str, mv: &'static str, body: serde_json::Value| {
            let app = app.clone();
            async move { req(&app, "POST", path, token, mv, Some(body)).await }
        };
        let r = post(ADMIN, "2.79", json!({"events": [{"name": "network-changed", "server_uuid": id}]})).await;
        assert_eq!((r.status.as_u16(), r.body["events"][0]["code"].clone(), r.body["events"][0]["status"].clone()), (200, json!(200), json!("completed")));
        let missing = "00000000-0000-4000-8000-000000000000";
        let two = json!({"events": [{"name": "network-vif-plugged", "server_uuid": id, "tag": "port"}, {"name": "network-changed", "server_uuid": missing}]});
        let r = post(ADMIN, "2.79", two).await;
        assert_eq!((r.status.as_u16(), r.body["events"][1]["code"].clone(), r.body["events"][0]["tag"].clone()), (207, json!(404), json!("port")));
        let r = post(ADMIN, "2.79", json!({"events": [{"name": "network-changed", "server_uuid": missing}]})).await;
        assert_eq!((r.status.as_u16(), r.body["events"][0]["code"].clone()), (207, json!(404)), "no 404 when every event fails (bug 1855752)");
        assert_eq!(post(ADMIN, "2.79", json!({"events": [{"name": "bogus", "server_uuid": id}]})).await.status, 400);
        assert_eq!(post(ADMIN, "2.50", json!({"events": [{"name": "volume-extended", "server_uuid": id, "tag": "vol"}]})).await.status, 400);
        assert_eq!(post(ADMIN, "2.51", json!({"events": [{"name": "volume-extended", "server_uuid": id, "tag": "vol"}]})).await.status, 200);
        let r = post(ADMIN, "2.79", json!({"events": [{"name": "network-changed", "server_uuid": id, "status": "in-progress"}]})).await;
        assert_eq!(r.body["events"][0]["status"], "completed", "Nova answers completed for an accepted event");
        assert_eq!(post(ADMIN, "2.79", json!({"events": []})).await.status, 400);
        assert_eq!(post(P1, "2.79", json!({"events": [{"name": "network-changed", "server_uuid": id}]})).await.status, 403);
    }

    #[tokio::test]
    async fn accelerator_events_come_at_2_82_and_need_a_tag() {
        let k = cloud(2, 10);
        let image = image_id(&k);
        let app = app(k);
        let id = boot(&app, &image, "vm", P1).await;
        settle().await;
        let post = |mv: &'static str, body: serde_json::Value| {
            let app = app.clone();
            async move { req(&app, "POST", "/compute/v2.1/os-server-external-events", ADMIN, mv, Some(body)).await }
        };
        let arq = "0b1a5e33-e6d1-4f36-8e1b-6a4b8e1c2d3f";
        let bound = json!({"events": [{"name": "accelerator-request-bound", "server_uuid": id, "tag": arq, "status": "completed"}]});
        assert_eq!(post("2.81", bound.clone()).await.status, 400);
        let r = post("2.82", bound).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["events"][0], json!({"name": "accelerator-request-bound", "server_uuid": id, "tag": arq, "status": "completed", "code": 200}));
        let untagged = json!({"events": [
            {"name": "accelerator-request-bound", "server_uuid": id},
            {"name": "power-update", "server_uuid": id},
            {"name": "accelerator-request-bound", "server_uuid": "00000000-0000-4000-8000-000000000000"},
        ]});
        let r = post("2.82", untagged).await;
        assert_eq!(r.status, 207);
        let codes: Vec<_> = r.body["events"].as_array().unwrap().iter().map(|e| (e["code"].clone(), e["status"].clone())).collect();
        assert_eq!(codes, vec![(json!(400), json!("failed")), (json!(400), json!("failed")), (json!(404), json!("failed"))]);
    }
}
