//! Compute API: server groups (`os-server-groups`), with `policies` before microversion 2.64
//! and `policy` plus `rules` from it.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use orrery_kernel::compute::groups::{self as kgroups, Cmd, ServerGroup};
use orrery_kernel::compute::{self as kcompute};
use orrery_kernel::scheduler::GroupPolicy;
use orrery_kernel::{Command, Uuid};
use serde::Deserialize;
use serde_json::{json, Value};

use super::versions::{apply, ask, auth, layer, read, Microversion};
use crate::error::{ApiError, Service};
use crate::util::{new_uuid, parse_json};
use crate::AppState;
use orrery_kernel::ask::compute as kask;

const S: Service = Service::Compute;

/// Routes for server groups.
pub fn routes() -> Router<AppState> {
    layer(Router::new().route("/v2.1/os-server-groups", get(list).post(create)).route("/v2.1/os-server-groups/{id}", get(show).delete(delete)))
}

/// A server group's shape at microversion `mv`.
pub fn group_json(g: &ServerGroup, mv: Microversion) -> Value {
    let members: Vec<String> = g.members.iter().map(|m| m.to_string()).collect();
    let mut o = json!({"id": g.id.to_string(), "name": g.name, "members": members});
    if mv.at_least(64) {
        o["policy"] = json!(g.policy.name());
        o["rules"] = match g.max_server_per_host {
            Some(n) => json!({"max_server_per_host": n}),
            None => json!({}),
        };
    } else {
        o["policies"] = json!([g.policy.name()]);
        o["metadata"] = json!({});
    }
    if mv.at_least(13) {
        o["project_id"] = json!(g.project.simple());
        o["user_id"] = json!(g.user.simple());
    }
    o
}

fn truthy(v: Option<&String>) -> bool {
    v.is_some_and(|v| ["1", "t", "true", "on", "y", "yes"].contains(&v.to_ascii_lowercase().as_str()))
}

async fn list(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Query(q): Query<BTreeMap<String, String>>) -> Result<Json<Value>, ApiError> {
    let all = truthy(q.get("all_projects"));
    let num = |key: &str| -> Result<Option<usize>, ApiError> {
        q.get(key).map(|v| v.parse().map_err(|_| ApiError::bad_request(S, format!("Invalid input for query parameters {key}. Value: {v}.")))).transpose()
    };
    let (limit, offset) = (num("limit")?, num("offset")?.unwrap_or(0));
    let groups =
        read(&s, S, auth(&h, S)?, move |k, c| Ok(kgroups::list(k, c, all).skip(offset).take(limit.unwrap_or(usize::MAX)).cloned().collect::<Vec<_>>())).await?;
    Ok(Json(json!({"server_groups": groups.iter().map(|g| group_json(g, mv)).collect::<Vec<_>>()})))
}

/// Parses a server group id, answering 404 for anything that is not a UUID.
fn group_id(id: &str) -> Result<Uuid, ApiError> {
    id.parse().map_err(|_| ApiError::not_found(S, format!("Instance group {id} could not be found.")))
}

async fn show(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = group_id(&id)?;
    let g = read(&s, S, auth(&h, S)?, move |k, c| kgroups::find(k, c, &id).cloned()).await?;
    Ok(Json(json!({"server_group": group_json(&g, mv)})))
}

async fn delete(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let id = group_id(&id)?;
    apply(&s, S, auth(&h, S)?, Command::Compute(kcompute::Cmd::Group(Cmd::Delete { id }))).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    server_group: CreateGroup,
}

/// An integer Nova accepts as a number or a string of digits.
#[derive(Deserialize)]
#[serde(untagged)]
enum IntText {
    Int(i64),
    Text(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rules {
    #[serde(default)]
    max_server_per_host: Option<IntText>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateGroup {
    name: String,
    #[serde(default)]
    policies: Option<Vec<String>>,
    #[serde(default)]
    policy: Option<String>,
    #[serde(default)]
    rules: Option<Rules>,
}

fn unexpected(field: &str) -> ApiError {
    ApiError::bad_request(S, format!("Invalid input for field/attribute server_group. Additional properties are not allowed ('{field}' was unexpected)"))
}

impl CreateGroup {
    /// The policy and rule, checked against the microversion's schema.
    fn policy(&self, mv: Microversion) -> Result<(GroupPolicy, Option<u32>), ApiError> {
        let name = if mv.at_least(64) {
            if self.policies.is_some() {
                return Err(unexpected("policies"));
            }
            self.policy.clone().ok_or_else(|| ApiError::bad_request(S, "Invalid input for field/attribute server_group. 'policy' is a required property"))?
        } else {
            if self.policy.is_some() {
                return Err(unexpected("policy"));
            }
            if self.rules.is_some() {
                return Err(unexpected("rules"));
            }
            match self.policies.as_deref() {
                Some([one]) => one.clone(),
                _ => return Err(ApiError::bad_request(S, "Invalid input for field/attribute policies. It must hold exactly one policy.")),
            }
        };
        let soft = name.starts_with("soft-");
        let policy = GroupPolicy::from_name(&name).filter(|_| !soft || mv.at_least(15)).ok_or_else(|| {
            ApiError::bad_request(
                S,
                format!("Invalid input for field/attribute policy. Value: {name}. '{name}' is not one of the policies this microversion accepts"),
            )
        })?;
        let max = match self.rules.as_ref().and_then(|r| r.max_server_per_host.as_ref()) {
            None => None,
            Some(IntText::Int(n)) if *n >= 1 && *n <= i64::from(u32::MAX) => Some(*n as u32),
            Some(IntText::Text(t)) if t.parse::<u32>().is_ok_and(|n| n >= 1) => t.parse().ok(),
            Some(_) => return Err(ApiError::bad_request(S, "Invalid input for field/attribute max_server_per_host. It must be an integer of at least 1.")),
        };
        Ok((policy, max))
    }
}

async fn create(State(s): State<AppState>, mv: Microversion, h: HeaderMap, body: Bytes) -> Result<Json<Value>, ApiError> {
    let a = auth(&h, S)?;
    let b = parse_json::<CreateBody>(S, &body)?.server_group;
    let (policy, max_server_per_host) = b.policy(mv)?;
    let g = ask(&s, S, a, kask::create_group(new_uuid(), b.name, policy, max_server_per_host)).await?;
    Ok(Json(json!({"server_group": group_json(&g, mv)})))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::compute::versions::testkit::*;

    #[tokio::test]
    async fn shapes_follow_the_microversion() {
        let app = app();
        let r = send(&app, "POST", "/compute/v2.1/os-server-groups", P1, "2.1", r#"{"server_group": {"name": "g", "policies": ["anti-affinity"]}}"#).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let g = r.body["server_group"].clone();
        assert_eq!((g["policies"].clone(), g["members"].clone(), g["metadata"].clone()), (json!(["anti-affinity"]), json!([]), json!({})));
        assert!(g.get("project_id").is_none() && g.get("policy").is_none());
        let id = g["id"].as_str().unwrap().to_string();
        let r = get_mv(&app, &format!("/compute/v2.1/os-server-groups/{id}"), P1, "2.64").await;
        let g = r.body["server_group"].clone();
        assert_eq!((g["policy"].clone(), g["rules"].clone(), g["project_id"].clone()), (json!("anti-affinity"), json!({}), json!(P1_ID.simple())));
        let body = r#"{"server_group": {"name": "h", "policy": "anti-affinity", "rules": {"max_server_per_host": 2}}}"#;
        let r = send(&app, "POST", "/compute/v2.1/os-server-groups", P1, "2.79", body).await;
        assert_eq!(r.body["server_group"]["rules"], json!({"max_server_per_host": 2}));
        assert_eq!(get(&app, &format!("/compute/v2.1/os-server-groups/{id}"), P2).await.status, 404);
        assert_eq!(get(&app, "/compute/v2.1/os-server-groups", P1).await.body["server_groups"].as_array().unwrap().len(), 2);
        assert_eq!(get(&app, "/compute/v2.1/os-server-groups", ADMIN).await.body["server_groups"], json!([]));
        assert_eq!(get(&app, "/compute/v2.1/os-server-groups?all_projects=True", ADMIN).await.body["server_groups"].as_array().unwrap().len(), 2);
        assert_eq!(send(&app, "DELETE", &format!("/compute/v2.1/os-server-groups/{id}"), P1, "2.79", "").await.status, 204);
        assert_eq!(get(&app, &format!("/compute/v2.1/os-server-groups/{id}"), P1).await.status, 404);
    }

    #[tokio::test]
    async fn schema_errors_and_quota() {
        let app = app();
        let cases = [
            ("2.1", r#"{"server_group": {"name": "g", "policy": "affinity"}}"#),
            ("2.14", r#"{"server_group": {"name": "g", "policies": ["soft-affinity"]}}"#),
            ("2.79", r#"{"server_group": {"name": "g", "policies": ["affinity"]}}"#),
            ("2.79", r#"{"server_group": {"name": "g", "policy": "affinity", "rules": {"max_server_per_host": 2}}}"#),
            ("2.79", r#"{"server_group": {"name": "g", "policy": "sideways"}}"#),
            ("2.79", r#"{"server_group": {"name": "g", "policy": "affinity", "extra": 1}}"#),
        ];
        for (mv, body) in cases {
            let r = send(&app, "POST", "/compute/v2.1/os-server-groups", P1, mv, body).await;
            assert_eq!(r.status, 400, "{mv} {body}: {:?}", r.body);
            assert!(r.body["badRequest"]["message"].is_string());
        }
        let quota = r#"{"quota_set": {"server_groups": 1}}"#;
        send(&app, "PUT", &format!("/compute/v2.1/os-quota-sets/{}", P1_ID.simple()), ADMIN, "2.79", quota).await;
        let ok = r#"{"server_group": {"name": "g", "policy": "soft-affinity"}}"#;
        assert_eq!(send(&app, "POST", "/compute/v2.1/os-server-groups", P1, "2.79", ok).await.status, 200);
        let r = send(&app, "POST", "/compute/v2.1/os-server-groups", P1, "2.79", ok).await;
        assert_eq!(r.status, 403);
        assert_eq!(r.body["forbidden"]["message"], "Quota exceeded, too many server groups.");
        assert_eq!(get(&app, "/compute/v2.1/os-server-groups/not-a-uuid", P1).await.status, 404);
    }
}
