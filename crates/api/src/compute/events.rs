//! Compute API: `POST /os-server-external-events` (admin or service). Each event gets its own
//! code (200 accepted, 404 unknown server, 422 server not on a host yet) from the kernel's
//! view (`orrery_kernel::compute::external`); the reply is 200 when every event was accepted,
//! 207 when some were, 404 when none was. An accepted event changes nothing: orrery's servers
//! have no ports or volumes to refresh, and its driver, like libvirt's, ignores power updates.

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
    n
}

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

/// `POST /os-server-external-events`.
async fn create(State(s): State<AppState>, mv: Microversion, h: HeaderMap, body: Bytes) -> Result<(StatusCode, Json<Value>), ApiError> {
    let a = auth(&h, S)?;
    let b: Body = parse_json(S, &body)?;
    let servers = validate(&b.events, mv)?;
    let codes = read(&s, S, a, move |k, c| external::codes(k, c, &servers)).await?;
    if codes.iter().all(|&c| c != 200) {
        return Err(ApiError::not_found(S, "No instances found for any event"));
    }
    let out: Vec<Value> = b
        .events
        .iter()
        .zip(&codes)
        .map(|(e, &code)| {
            let status = if code == 200 { e.status.as_deref().unwrap_or("completed") } else { "failed" };
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
        assert_eq!(post(ADMIN, "2.79", json!({"events": [{"name": "network-changed", "server_uuid": missing}]})).await.status, 404);
        assert_eq!(post(ADMIN, "2.79", json!({"events": [{"name": "bogus", "server_uuid": id}]})).await.status, 400);
        assert_eq!(post(ADMIN, "2.50", json!({"events": [{"name": "volume-extended", "server_uuid": id}]})).await.status, 400);
        assert_eq!(post(ADMIN, "2.51", json!({"events": [{"name": "volume-extended", "server_uuid": id}]})).await.status, 200);
        assert_eq!(post(ADMIN, "2.79", json!({"events": []})).await.status, 400);
        assert_eq!(post(P1, "2.79", json!({"events": [{"name": "network-changed", "server_uuid": id}]})).await.status, 403);
    }
}
