//! orrery's own admin API, under `/orrery/v1`: chaos (fail, recover or maintain a failure
//! domain) and the status of the cloud. `orrery chaos` and `orrery status` are its clients.
//! Every write is a kernel health command, journaled like any other; every read is a kernel
//! view. Admin tokens only; errors use Keystone's body shape.
//!
//! - `GET /orrery/v1/chaos[?kind=host|rack|az|region]`: the failure domains and their states.
//! - `POST /orrery/v1/chaos/{fail|recover|maintain}` with `{"kind": "rack", "name": "az1-r01"}`.
//! - `GET /orrery/v1/status`: health at a glance.
//!
//! Beside it, at the root, `GET /healthcheck` ([`healthcheck`]) is the supervisor's probe.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use orrery_kernel::health::{self, Kind};
use orrery_kernel::{status, Error};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::compute::versions::{ask, auth, read};
use crate::error::{service_fallback, ApiError, Service};
use crate::util::{iso_micros, parse_json};
use crate::AppState;

const S: Service = Service::Admin;

/// The admin API's routes, to nest under `/orrery`.
pub fn router() -> Router<AppState> {
    Router::new().route("/v1/chaos", get(list)).route("/v1/chaos/{action}", post(act)).route("/v1/status", get(status_doc)).fallback(service_fallback(S))
}

/// The body of a chaos action.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Target {
    kind: String,
    name: String,
}

fn parse_kind(s: &str) -> Result<Kind, ApiError> {
    Kind::parse(s).ok_or_else(|| ApiError::bad_request(S, format!("Unknown kind '{s}': use host, rack, az or region.")))
}

async fn list(State(s): State<AppState>, h: HeaderMap, Query(q): Query<BTreeMap<String, String>>) -> Result<Json<Value>, ApiError> {
    if let Some(other) = q.keys().find(|k| *k != "kind") {
        return Err(ApiError::bad_request(S, format!("Unknown query parameter '{other}': only 'kind' is accepted.")));
    }
    let kind = q.get("kind").map(|k| parse_kind(k)).transpose()?;
    let list = read(&s, S, auth(&h, S)?, move |k, c| health::components(k.health(), k.topology(), c, kind)).await?;
    Ok(Json(json!({ "components": list })))
}

async fn act(State(s): State<AppState>, h: HeaderMap, Path(action): Path<String>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let a = auth(&h, S)?;
    let state = match action.as_str() {
        "fail" => health::State::Down,
        "recover" => health::State::Up,
        "maintain" => health::State::Maintenance,
        other => return Err(ApiError::not_found(S, format!("Unknown chaos action '{other}': use fail, recover or maintain."))),
    };
    let t: Target = parse_json(S, &body)?;
    let kind = parse_kind(&t.kind)?;
    let hosts = ask(&s, S, a, orrery_kernel::ask::health::set(kind, t.name.clone(), state)).await?;
    Ok(Json(json!({ "kind": kind, "name": t.name, "state": state, "hosts_changed": hosts })))
}

/// How long `GET /healthcheck` waits for the kernel actor before calling the cloud unhealthy.
const HEALTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// `GET /healthcheck`, as oslo.middleware's healthcheck answers for OpenStack services: no
/// token, `200 OK` when the kernel actor answers a probe through its own queue (so a cloud
/// whose kernel is gone, stuck or not yet created is never "fine"), else `503` with the reason.
pub async fn healthcheck(State(s): State<AppState>) -> axum::response::Response {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    let (status, text) = match tokio::time::timeout(HEALTH_TIMEOUT, s.cloud.ping()).await {
        Ok(Ok(true)) => (StatusCode::OK, "OK"),
        Ok(Ok(false)) => (StatusCode::SERVICE_UNAVAILABLE, "the cloud has not been created yet"),
        Ok(Err(_)) => (StatusCode::SERVICE_UNAVAILABLE, "the kernel actor is gone"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "the kernel actor did not answer within 5 s"),
    };
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}

async fn status_doc(State(s): State<AppState>, h: HeaderMap) -> Result<Json<Value>, ApiError> {
    let view = read(&s, S, auth(&h, S)?, status::status).await?;
    let mut doc =
        serde_json::to_value(&view).map_err(|e| ApiError::new(S, Error::internal("orrery.internal", format!("The status did not serialize: {e}."))))?;
    doc["time"] = json!(iso_micros(view.now));
    if let Some(events) = doc["events"].as_array_mut() {
        for (e, r) in events.iter_mut().zip(&view.events) {
            e["time"] = json!(iso_micros(r.at));
        }
    }
    Ok(Json(doc))
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use crate::cloud::Cloud;
    use crate::compute::versions::testkit::app;
    use crate::{AppState, Site};

    async fn probe(app: axum::Router) -> (u16, String) {
        let resp = app.oneshot(Request::get("/healthcheck").body(Body::empty()).unwrap()).await.unwrap();
        let status = resp.status().as_u16();
        (status, String::from_utf8(axum::body::to_bytes(resp.into_body(), 1024).await.unwrap().to_vec()).unwrap())
    }

    #[tokio::test]
    async fn the_healthcheck_is_ok_only_while_the_kernel_answers() {
        assert_eq!(probe(app()).await, (200, "OK".to_string()));
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        drop(rx);
        let gone = crate::router(AppState::new(Cloud::new(tx), Site { base_url: "http://x".into(), region: "RegionOne".into() }));
        assert_eq!(probe(gone).await, (503, "the kernel actor is gone".to_string()));
    }
}
