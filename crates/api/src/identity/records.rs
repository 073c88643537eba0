//! Admin-only records: policy blobs (`/v3/policies`) and OAuth1 consumers
//! (`/v3/OS-OAUTH1/consumers`). The kernel keeps them (`orrery_kernel::identity::records`);
//! a consumer's secret is made here, shown once, and stored only as a digest. The rest of
//! OAuth1 (request and access tokens) is not built: its paths answer 501 through the identity
//! fallback.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use orrery_kernel::identity::records::{self as krec, Consumer, Policy};
use orrery_kernel::identity::{Cmd, TokenDigest};
use serde::Deserialize;
use serde_json::{json, Value};

use super::resources::parse_id;
use super::{apply, ask, collection, read, v3_url, S};
use crate::error::ApiError;
use crate::util::{new_token, new_uuid, parse_json};
use crate::AppState;
use orrery_kernel::ask::identity as kask;

/// Routes for policies and consumers.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v3/policies", get(list_policies).post(create_policy))
        .route("/v3/policies/{id}", get(show_policy).patch(update_policy).delete(delete_policy))
        .route("/v3/OS-OAUTH1/consumers", get(list_consumers).post(create_consumer))
        .route("/v3/OS-OAUTH1/consumers/{id}", get(show_consumer).patch(update_consumer).delete(delete_consumer))
}

fn policy_json(base: &str, p: &Policy) -> Value {
    let id = p.id.simple();
    json!({"id": id, "type": p.kind, "blob": p.blob, "links": {"self": v3_url(base, &format!("policies/{id}"))}})
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyBody<T> {
    policy: T,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyIn {
    #[serde(rename = "type")]
    kind: Option<String>,
    blob: Option<String>,
}

async fn list_policies(State(s): State<AppState>, h: HeaderMap, Query(q): Query<BTreeMap<String, String>>) -> Result<Json<Value>, ApiError> {
    let kind = q.get("type").cloned();
    let all = read(&s, &h, move |k, c, _| krec::policies(k.identity(), c, kind.as_deref())).await?;
    let base = &s.site.base_url;
    Ok(Json(collection(base, "policies", "policies", all.iter().map(|p| policy_json(base, p)).collect())))
}

async fn show_policy(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let pid = parse_id("policy", &id)?;
    let p = read(&s, &h, move |k, c, _| krec::policy(k.identity(), c, pid)).await?;
    Ok(Json(json!({"policy": policy_json(&s.site.base_url, &p)})))
}

async fn create_policy(State(s): State<AppState>, h: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let b: PolicyBody<PolicyIn> = parse_json(S, &body)?;
    let (Some(kind), Some(blob)) = (b.policy.kind, b.policy.blob) else {
        return Err(ApiError::bad_request(S, "Invalid input for field 'policy': 'type' and 'blob' are required."));
    };
    let p = ask(&s, &h, kask::create_policy(Policy { id: new_uuid(), kind, blob })).await?;
    Ok((StatusCode::CREATED, Json(json!({"policy": policy_json(&s.site.base_url, &p)}))).into_response())
}

async fn update_policy(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let b: PolicyBody<PolicyIn> = parse_json(S, &body)?;
    let pid = parse_id("policy", &id)?;
    let p = ask(&s, &h, kask::update_policy(pid, b.policy.kind, b.policy.blob)).await?;
    Ok(Json(json!({"policy": policy_json(&s.site.base_url, &p)})))
}

async fn delete_policy(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let pid = parse_id("policy", &id)?;
    apply(&s, &h, Cmd::DeletePolicy { id: pid }).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- OAuth1 consumers

fn consumer_json(base: &str, c: &Consumer) -> Value {
    let id = c.id.simple();
    json!({"id": id, "description": c.description, "links": {"self": v3_url(base, &format!("OS-OAUTH1/consumers/{id}"))}})
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsumerBody<T> {
    consumer: T,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsumerIn {
    #[serde(default, deserialize_with = "crate::util::nullable")]
    description: Option<Option<String>>,
}

async fn list_consumers(State(s): State<AppState>, h: HeaderMap) -> Result<Json<Value>, ApiError> {
    let all = read(&s, &h, |k, c, _| krec::consumers(k.identity(), c)).await?;
    let base = &s.site.base_url;
    Ok(Json(collection(base, "OS-OAUTH1/consumers", "consumers", all.iter().map(|c| consumer_json(base, c)).collect())))
}

async fn show_consumer(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let cid = parse_id("consumer", &id)?;
    let c = read(&s, &h, move |k, c, _| krec::consumer(k.identity(), c, cid)).await?;
    Ok(Json(json!({"consumer": consumer_json(&s.site.base_url, &c)})))
}

/// `POST /v3/OS-OAUTH1/consumers`: 201 with the consumer and its secret, shown only here.
async fn create_consumer(State(s): State<AppState>, h: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let b: ConsumerBody<ConsumerIn> = parse_json(S, &body)?;
    let secret = new_token();
    let c = Consumer { id: new_uuid(), description: b.consumer.description.flatten(), secret: TokenDigest::of(&secret) };
    let c = ask(&s, &h, kask::create_consumer(c)).await?;
    let mut out = consumer_json(&s.site.base_url, &c);
    out["secret"] = json!(secret);
    Ok((StatusCode::CREATED, Json(json!({ "consumer": out }))).into_response())
}

async fn update_consumer(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let b: ConsumerBody<ConsumerIn> = parse_json(S, &body)?;
    let cid = parse_id("consumer", &id)?;
    let c = ask(&s, &h, kask::update_consumer(cid, b.consumer.description)).await?;
    Ok(Json(json!({"consumer": consumer_json(&s.site.base_url, &c)})))
}

async fn delete_consumer(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let cid = parse_id("consumer", &id)?;
    apply(&s, &h, Cmd::DeleteConsumer { id: cid }).await?;
    Ok(StatusCode::NO_CONTENT)
}
