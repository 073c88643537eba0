//! `/v2.0/quotas`: Neutron's quota API for the resources orrery counts (networks, subnets,
//! ports): a project's limits, its defaults and its usage (`quota_details`), and admins'
//! changes and resets. Limits of resources orrery does not model yet (routers, floating IPs,
//! security groups, …) are not listed, and setting one is 501.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use orrery_kernel::ask::network as kask;
use orrery_kernel::network::cmds::Cmd;
use orrery_kernel::network::model::{Counts, DEFAULT_QUOTAS};
use orrery_kernel::network::views;
use orrery_kernel::{Command, Error, Uuid};
use serde_json::{json, Value};

use super::body::{bad_attr, http_bad_request, resource_body, to_int, unbuilt, Allow, Attr, Op};
use super::{no_body, who, S};
use crate::compute::versions::{apply, ask, auth, read};
use crate::error::ApiError;
use crate::AppState;

/// Neutron quota resources that orrery does not model yet.
const NOT_MODELLED: [&str; 6] = ["router", "floatingip", "security_group", "security_group_rule", "subnetpool", "rbac_policy"];

/// Neutron's `DB_INTEGER_MAX_VALUE`, the highest limit.
const MAX_LIMIT: i64 = 2_147_483_647;

/// Routes of the quota API.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2.0/quotas", get(list))
        .route("/v2.0/quotas/{project}", get(show).put(update).delete(reset))
        .route("/v2.0/quotas/{project}/default", get(defaults))
        .route("/v2.0/quotas/{project}/details", get(details))
}

fn limits(c: &Counts) -> Value {
    json!({"network": c.network, "subnet": c.subnet, "port": c.port})
}

fn policy(rule: &str) -> ApiError {
    ApiError::new(S, Error::forbidden("network.policy_not_authorized", format!("(rule:{rule}) is disallowed by policy")))
}

/// A project's limits and usage. A project id that is not a UUID names no orrery project:
/// admins get the defaults, others the policy refusal.
async fn read_quota(s: &AppState, h: &HeaderMap, project: &str) -> Result<(Counts, Counts), ApiError> {
    let id = project.parse::<Uuid>().ok();
    read(s, S, auth(h, S)?, move |k, c| match id {
        Some(id) => views::quota(k, c, id),
        None if c.admin => Ok((DEFAULT_QUOTAS, Counts::default())),
        None => Err(Error::forbidden("network.policy_not_authorized", "(rule:get_quota) is disallowed by policy".into())),
    })
    .await
}

/// `GET /v2.0/quotas` (admins): the projects with limits of their own.
async fn list(State(s): State<AppState>, h: HeaderMap) -> Result<Json<Value>, ApiError> {
    let all = read(&s, S, auth(&h, S)?, views::quotas).await?;
    let quotas: Vec<Value> = all
        .iter()
        .map(|(p, q)| {
            let mut v = limits(q);
            v["project_id"] = json!(p.simple());
            v["tenant_id"] = json!(p.simple());
            v
        })
        .collect();
    Ok(Json(json!({ "quotas": quotas })))
}

/// `GET /v2.0/quotas/{project}`; `tenant` and `project` name the caller's own project, as
/// Neutron's undocumented "whoami" answers them.
async fn show(State(s): State<AppState>, h: HeaderMap, Path(project): Path<String>) -> Result<Json<Value>, ApiError> {
    if project == "tenant" || project == "project" {
        let mine = read(&s, S, auth(&h, S)?, |_, c| Ok(c.project)).await?;
        let mine =
            mine.ok_or_else(|| ApiError::new(S, Error::bad_request("network.quota_missing_tenant", "Tenant-id was missing from quota request.".into())))?;
        return Ok(Json(json!({ project.clone(): { format!("{project}_id"): mine.simple() } })));
    }
    let (limit, _) = read_quota(&s, &h, &project).await?;
    let mut q = limits(&limit);
    q["project_id"] = json!(project);
    Ok(Json(json!({ "quota": q })))
}

/// `GET /v2.0/quotas/{project}/default`.
async fn defaults(State(s): State<AppState>, h: HeaderMap, Path(project): Path<String>) -> Result<Json<Value>, ApiError> {
    read_quota(&s, &h, &project).await?;
    let mut q = limits(&DEFAULT_QUOTAS);
    q["project_id"] = json!(project);
    Ok(Json(json!({ "quota": q })))
}

/// `GET /v2.0/quotas/{project}/details`: limit, used and reserved (always 0: orrery reserves
/// nothing ahead of a create).
async fn details(State(s): State<AppState>, h: HeaderMap, Path(project): Path<String>) -> Result<Json<Value>, ApiError> {
    let (limit, used) = read_quota(&s, &h, &project).await?;
    let row = |l: i64, u: i64| json!({"limit": l, "used": u, "reserved": 0});
    Ok(Json(json!({"quota": {
        "network": row(limit.network, used.network), "subnet": row(limit.subnet, used.subnet), "port": row(limit.port, used.port),
    }})))
}

/// The body of a quota update: each limit `convert_to_int`, then between -1 and Neutron's
/// maximum; `force` skips the usage check; `check_limit` is accepted (it is the default).
fn new_limits(body: &[u8]) -> Result<([Option<i64>; 3], bool), ApiError> {
    const ATTRS: &[Attr] =
        &[("network", Allow::Both), ("subnet", Allow::Both), ("port", Allow::Both), ("tenant_id", Allow::Never), ("project_id", Allow::Never)];
    let mut obj: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let force = obj.get_mut("quota").and_then(Value::as_object_mut).map(|q| {
        q.remove("check_limit");
        q.remove("force") == Some(Value::Bool(true))
    });
    if let Some(q) = obj.get("quota").and_then(Value::as_object) {
        if let Some(r) = NOT_MODELLED.iter().find(|r| q.contains_key(**r)) {
            return Err(unbuilt(format!("The {r} quota: orrery does not model {r} resources yet; its quotas cover network, subnet and port.")));
        }
    }
    let body = if obj.is_null() { body.to_vec() } else { obj.to_string().into_bytes() };
    let mut f = resource_body(&body, "quota", ATTRS, Op::Update)?;
    let mut limit = |k: &str| -> Result<Option<i64>, ApiError> {
        let Some(v) = f.take(k) else { return Ok(None) };
        let n = to_int(&v)?;
        if n < -1 {
            return Err(bad_attr(k, &format!("'{n}' is too small - must be at least '-1'")));
        }
        if n > MAX_LIMIT {
            return Err(bad_attr(k, &format!("'{n}' is too large - must be no larger than '{MAX_LIMIT}'")));
        }
        Ok(Some(n))
    };
    let limits = [limit("network")?, limit("subnet")?, limit("port")?];
    f.finish();
    Ok((limits, force.unwrap_or(false)))
}

/// `PUT /v2.0/quotas/{project}` (admins): unless forced, no limit below what is in use.
async fn update(State(s): State<AppState>, h: HeaderMap, Path(project): Path<String>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let (auth, admin) = who(&s, &h).await?;
    if !admin {
        return Err(policy("update_quota"));
    }
    let id = project.parse::<Uuid>().map_err(|_| bad_attr("project_id", &format!("'{project}' is not a valid UUID")))?;
    let (asked, force) = new_limits(&body)?;
    if !force {
        let (_, used) = read_quota(&s, &h, &project).await?;
        let used = [("network", used.network), ("subnet", used.subnet), ("port", used.port)];
        for (limit, (name, in_use)) in asked.iter().zip(used) {
            if let Some(l) = limit.filter(|l| *l != -1 && *l < in_use) {
                return Err(http_bad_request(format!("Quota limit {l} for {name} must be greater than or equal to already used {in_use}")));
            }
        }
    }
    let now = ask(&s, S, auth, kask::set_network_quota(id, asked[0], asked[1], asked[2])).await?;
    let mut q = limits(&now);
    q["project_id"] = json!(project);
    Ok(Json(json!({ "quota": q })))
}

/// `DELETE /v2.0/quotas/{project}` (admins, 204): back to the defaults.
async fn reset(State(s): State<AppState>, h: HeaderMap, Path(project): Path<String>, body: Bytes) -> Result<StatusCode, ApiError> {
    let auth = auth(&h, S)?;
    no_body(&body)?;
    let Ok(id) = project.parse::<Uuid>() else {
        // Nothing is stored for a project orrery cannot have; only the policy check remains.
        let admin = read(&s, S, auth, |_, c| Ok(c.admin)).await?;
        return if admin { Ok(StatusCode::NO_CONTENT) } else { Err(policy("delete_quota")) };
    };
    apply(&s, S, auth, Command::Network(Cmd::ResetQuota { project: id })).await?;
    Ok(StatusCode::NO_CONTENT)
}
