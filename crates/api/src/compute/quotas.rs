//! Compute API: quota sets (`os-quota-sets`), the `default` quota class
//! (`os-quota-class-sets/default`: the defaults of every project without its own limits) and
//! absolute limits (`limits`), shaped per microversion (network quotas go from quota sets at
//! 2.36 and from class sets at 2.50, where class sets gain the server-group keys;
//! injected-file quotas go at 2.57).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use orrery_kernel::compute::quotas::{Cmd, Resource};
use orrery_kernel::compute::{self as kcompute, views};
use orrery_kernel::Command;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::flavors::project_id;
use super::versions::{apply, ask, auth, layer, read, Microversion};
use crate::error::{ApiError, Service};
use crate::util::parse_json;
use crate::AppState;
use orrery_kernel::ask::compute as kask;

const S: Service = Service::Compute;

/// The first microversion whose quota sets leave out the nova-network keys.
const NETWORK_UNTIL: u32 = 36;
/// The first microversion whose quota class sets leave them out.
const CLASS_NETWORK_UNTIL: u32 = 50;

/// Routes for quota sets and limits.
pub fn routes() -> Router<AppState> {
    layer(
        Router::new()
            .route("/v2.1/limits", get(limits))
            .route("/v2.1/os-quota-sets/{project}", get(show).put(update).delete(revert))
            .route("/v2.1/os-quota-sets/{project}/defaults", get(defaults))
            .route("/v2.1/os-quota-sets/{project}/detail", get(detail))
            .route("/v2.1/os-quota-class-sets/{class}", get(show_class).put(update_class)),
    )
}

/// Whether a quota body shows `r` at `mv`, when the network keys go at `network_until`.
fn shown(r: Resource, mv: Microversion, network_until: u32) -> bool {
    let injected = matches!(r, Resource::InjectedFiles | Resource::InjectedFileContentBytes | Resource::InjectedFilePathBytes);
    let gone = (injected && mv.at_least(57)) || (r.is_network() && mv.at_least(network_until));
    !gone
}

/// A quota set from per-resource values.
fn quota_set(mv: Microversion, value: impl Fn(Resource) -> Value) -> Map<String, Value> {
    Resource::ALL.into_iter().filter(|&r| shown(r, mv, NETWORK_UNTIL)).map(|r| (r.name().to_string(), value(r))).collect()
}

async fn show(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Path(project): Path<String>) -> Result<Json<Value>, ApiError> {
    let p = project_id(&project)?;
    let limits = read(&s, S, auth(&h, S)?, move |k, c| views::quota_limits(k, c, &p)).await?;
    let mut o = quota_set(mv, |r| json!(limits[&r]));
    o.insert("id".into(), json!(project));
    Ok(Json(json!({"quota_set": o})))
}

async fn defaults(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Path(project): Path<String>) -> Result<Json<Value>, ApiError> {
    project_id(&project)?;
    let defaults = read(&s, S, auth(&h, S)?, |k, _| Ok(class_defaults(k))).await?;
    let mut o = quota_set(mv, |r| json!(defaults[&r]));
    o.insert("id".into(), json!(project));
    Ok(Json(json!({"quota_set": o})))
}

async fn detail(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Path(project): Path<String>) -> Result<Json<Value>, ApiError> {
    let p = project_id(&project)?;
    let rows = read(&s, S, auth(&h, S)?, move |k, c| views::quota_detail(k, c, &p)).await?;
    let mut o = quota_set(mv, |r| json!({"limit": rows[&r].0, "in_use": rows[&r].1, "reserved": 0}));
    o.insert("id".into(), json!(project));
    Ok(Json(json!({"quota_set": o})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    quota_set: BTreeMap<String, Value>,
}

/// Parses a quota value: an integer or a string of one, at least −1.
fn limit_value(name: &str, v: &Value) -> Result<i64, ApiError> {
    let n = match v {
        Value::Number(n) => n.as_i64(),
        Value::String(t) => t.trim().parse().ok(),
        _ => None,
    };
    n.filter(|&n| n >= -1 && n <= i64::from(i32::MAX)).ok_or_else(|| {
        ApiError::bad_request(S, format!("Invalid input for field/attribute {name}. Value: {v}. It must be an integer from -1 to {}.", i32::MAX))
    })
}

/// The limits and `force` flag of a quota update, checked against the microversion.
fn parse_update(body: &Bytes, mv: Microversion) -> Result<(BTreeMap<Resource, i64>, bool), ApiError> {
    let b: UpdateBody = parse_json(S, body)?;
    let (mut limits, mut force) = (BTreeMap::new(), false);
    for (name, v) in &b.quota_set {
        if name == "force" {
            force = match v {
                Value::Bool(b) => *b,
                Value::String(t) => ["true", "1", "yes", "on"].contains(&t.to_ascii_lowercase().as_str()),
                _ => return Err(ApiError::bad_request(S, format!("Invalid input for field/attribute force. Value: {v}."))),
            };
            continue;
        }
        let (r, n) = limit_entry(name, v, mv, NETWORK_UNTIL, "quota_set")?;
        limits.insert(r, n);
    }
    Ok((limits, force))
}

/// One limit of a quota body: its resource and value (a nova-network key only before
/// `network_until`), 400 for anything else.
fn limit_entry(name: &str, v: &Value, mv: Microversion, network_until: u32, body: &str) -> Result<(Resource, i64), ApiError> {
    match Resource::from_name(name).filter(|&r| shown(r, mv, network_until)) {
        Some(r) => Ok((r, limit_value(name, v)?)),
        None => {
            Err(ApiError::bad_request(S, format!("Invalid input for field/attribute {body}. Additional properties are not allowed ('{name}' was unexpected)")))
        }
    }
}

async fn update(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Path(project): Path<String>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let a = auth(&h, S)?;
    let p = project_id(&project)?;
    let (limits, force) = parse_update(&body, mv)?;
    let now = ask(&s, S, a, kask::set_quota(p, limits, force)).await?;
    Ok(Json(json!({"quota_set": quota_set(mv, |r| json!(now[&r]))})))
}

/// Every default limit: the `default` quota class's, else Nova's.
fn class_defaults(k: &orrery_kernel::Kernel) -> BTreeMap<Resource, i64> {
    orrery_kernel::compute::quotas::defaults(&k.compute().quotas)
}

/// A quota class set: like a quota set, but the network keys stay until 2.50, where the
/// server-group keys arrive.
fn class_set(mv: Microversion, values: &BTreeMap<Resource, i64>) -> Map<String, Value> {
    let groups = |r: Resource| matches!(r, Resource::ServerGroups | Resource::ServerGroupMembers);
    let keep = |r: Resource| shown(r, mv, CLASS_NETWORK_UNTIL) && (mv.at_least(50) || !groups(r));
    Resource::ALL.into_iter().filter(|&r| keep(r)).map(|r| (r.name().to_string(), json!(values[&r]))).collect()
}

/// Only the `default` class has any effect in Nova; orrery keeps only it.
fn check_class(class: &str) -> Result<(), ApiError> {
    if class != "default" {
        return Err(ApiError::bad_request(S, format!("Quota class {class} is not used: only the 'default' quota class sets the defaults of projects.")));
    }
    Ok(())
}

/// `GET /os-quota-class-sets/default` (admin): the default limits.
async fn show_class(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Path(class): Path<String>) -> Result<Json<Value>, ApiError> {
    check_class(&class)?;
    let defaults = read(&s, S, auth(&h, S)?, |k, c| {
        if !c.admin {
            return Err(orrery_kernel::Error::forbidden(
                "compute.forbidden",
                "Policy doesn't allow os_compute_api:os-quota-class-sets:show to be performed.".into(),
            ));
        }
        Ok(class_defaults(k))
    })
    .await?;
    let mut o = class_set(mv, &defaults);
    o.insert("id".into(), json!(class));
    Ok(Json(json!({"quota_class_set": o})))
}

/// `PUT /os-quota-class-sets/default` (admin): changes the default limits.
async fn update_class(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Path(class): Path<String>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let a = auth(&h, S)?;
    check_class(&class)?;
    let b: ClassBody = parse_json(S, &body)?;
    let mut limits = BTreeMap::new();
    for (name, v) in &b.quota_class_set {
        let (r, n) = limit_entry(name, v, mv, CLASS_NETWORK_UNTIL, "quota_class_set")?;
        limits.insert(r, n);
    }
    let now = ask(&s, S, a, kask::set_default_quotas(limits)).await?;
    Ok(Json(json!({"quota_class_set": class_set(mv, &now)})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassBody {
    quota_class_set: BTreeMap<String, Value>,
}

async fn revert(State(s): State<AppState>, h: HeaderMap, Path(project): Path<String>) -> Result<StatusCode, ApiError> {
    let p = project_id(&project)?;
    apply(&s, S, auth(&h, S)?, Command::Compute(kcompute::Cmd::Quota(Cmd::Delete { project: p }))).await?;
    Ok(StatusCode::ACCEPTED)
}

async fn limits(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Query(q): Query<BTreeMap<String, String>>) -> Result<Json<Value>, ApiError> {
    let asked = q.get("tenant_id").map(|t| project_id(t)).transpose()?;
    let (limits, used) = read(&s, S, auth(&h, S)?, move |k, c| views::absolute_limits(k, c, asked)).await?;
    let mut abs = json!({
        "maxServerMeta": limits[&Resource::MetadataItems],
        "maxTotalKeypairs": limits[&Resource::KeyPairs],
        "maxServerGroups": limits[&Resource::ServerGroups],
        "maxServerGroupMembers": limits[&Resource::ServerGroupMembers],
        "maxTotalCores": limits[&Resource::Cores],
        "maxTotalInstances": limits[&Resource::Instances],
        "maxTotalRAMSize": limits[&Resource::Ram],
        "totalCoresUsed": used.cores,
        "totalInstancesUsed": used.instances,
        "totalRAMUsed": used.ram,
        "totalServerGroupsUsed": used.server_groups,
    });
    if !mv.at_least(39) {
        abs["maxImageMeta"] = json!(limits[&Resource::MetadataItems]);
    }
    if !mv.at_least(57) {
        abs["maxPersonality"] = json!(limits[&Resource::InjectedFiles]);
        abs["maxPersonalitySize"] = json!(limits[&Resource::InjectedFileContentBytes]);
    }
    if !mv.at_least(36) {
        let network = [
            ("maxSecurityGroupRules", limits[&Resource::SecurityGroupRules]),
            ("maxSecurityGroups", limits[&Resource::SecurityGroups]),
            ("maxTotalFloatingIps", limits[&Resource::FloatingIps]),
            ("totalFloatingIpsUsed", 0),
            ("totalSecurityGroupsUsed", 0),
        ];
        for (k, v) in network {
            abs[k] = json!(v);
        }
    }
    Ok(Json(json!({"limits": {"rate": [], "absolute": abs}})))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::compute::versions::testkit::*;

    #[tokio::test]
    async fn quota_sets_by_microversion() {
        let app = app();
        let path = format!("/compute/v2.1/os-quota-sets/{}", P1_ID.simple());
        let r = get(&app, &path, P1).await;
        let q = r.body["quota_set"].clone();
        assert_eq!((q["instances"].clone(), q["cores"].clone(), q["ram"].clone(), q["floating_ips"].clone()), (json!(10), json!(20), json!(51200), json!(10)));
        assert_eq!(q["id"], json!(P1_ID.simple()));
        let q = get_mv(&app, &path, P1, "2.79").await.body["quota_set"].clone();
        assert!(q.get("floating_ips").is_none() && q.get("injected_files").is_none());
        assert_eq!(q["server_group_members"], 10);
        assert_eq!(get(&app, &path, P2).await.status, 403);
        let d = get_mv(&app, &format!("{path}/detail"), P1, "2.79").await.body["quota_set"].clone();
        assert_eq!(d["instances"], json!({"limit": 10, "in_use": 0, "reserved": 0}));
        let r = send(&app, "PUT", &path, P1, "2.79", r#"{"quota_set": {"instances": 50}}"#).await;
        assert_eq!(r.status, 403);
        let r = send(&app, "PUT", &path, ADMIN, "2.79", r#"{"quota_set": {"instances": 50, "cores": "-1", "force": true}}"#).await;
        assert_eq!((r.body["quota_set"]["instances"].clone(), r.body["quota_set"]["cores"].clone()), (json!(50), json!(-1)));
        assert!(r.body["quota_set"].get("id").is_none());
        let r = send(&app, "PUT", &path, ADMIN, "2.79", r#"{"quota_set": {"injected_files": 3}}"#).await;
        assert_eq!(r.status, 400, "injected_files is gone at 2.57");
        let r = send(&app, "PUT", &path, ADMIN, "2.79", r#"{"quota_set": {"instances": -5}}"#).await;
        assert_eq!(r.status, 400);
        let r = send(&app, "PUT", &path, ADMIN, "2.79", r#"{"quota_set": {"instances": 5}"#).await;
        assert_eq!(r.status, 400);
        let r = get(&app, "/compute/v2.1/limits", P1).await;
        let abs = r.body["limits"]["absolute"].clone();
        assert_eq!((abs["maxTotalInstances"].clone(), abs["maxTotalCores"].clone(), abs["totalInstancesUsed"].clone()), (json!(50), json!(-1), json!(0)));
        assert_eq!(abs["maxPersonality"], 5);
        assert!(get_mv(&app, "/compute/v2.1/limits", P1, "2.79").await.body["limits"]["absolute"].get("maxPersonality").is_none());
        assert_eq!(send(&app, "DELETE", &path, ADMIN, "2.79", "").await.status, 202);
        assert_eq!(get(&app, &format!("{path}/defaults"), P1).await.body["quota_set"]["instances"], 10);
        assert_eq!(get(&app, &path, P1).await.body["quota_set"]["instances"], 10);
        let r = get(&app, &format!("/compute/v2.1/limits?tenant_id={}", P1_ID.simple()), ADMIN).await;
        assert_eq!(r.body["limits"]["absolute"]["maxTotalInstances"], 10);
    }

    #[tokio::test]
    async fn the_default_quota_class_sets_every_projects_defaults() {
        let app = app();
        let class = "/compute/v2.1/os-quota-class-sets/default";
        let r = get_mv(&app, class, ADMIN, "2.49").await;
        assert_eq!(r.status, 200, "{}", r.body);
        let c = r.body["quota_class_set"].clone();
        assert_eq!(
            (c["id"].clone(), c["instances"].clone(), c["floating_ips"].clone(), c.get("server_groups").is_none()),
            (json!("default"), json!(10), json!(10), true)
        );
        let c = get_mv(&app, class, ADMIN, "2.57").await.body["quota_class_set"].clone();
        assert!(c.get("floating_ips").is_none() && c["server_groups"] == json!(10), "{c}");
        assert_eq!(get(&app, class, P1).await.status, 403);
        let r = send(&app, "PUT", class, ADMIN, "2.79", r#"{"quota_class_set": {"instances": 25}}"#).await;
        assert_eq!((r.status.as_u16(), r.body["quota_class_set"]["instances"].clone()), (200, json!(25)), "{}", r.body);
        let defaults = get(&app, &format!("/compute/v2.1/os-quota-sets/{}/defaults", P1_ID.simple()), P1).await.body;
        assert_eq!(defaults["quota_set"]["instances"], 25, "project defaults follow the class");
        let mine = get(&app, &format!("/compute/v2.1/os-quota-sets/{}", P1_ID.simple()), P1).await.body;
        assert_eq!(mine["quota_set"]["instances"], 25, "a project without its own limit gets the new default");
        assert_eq!(send(&app, "PUT", class, ADMIN, "2.79", r#"{"quota_class_set": {"instances": -2}}"#).await.status, 400);
        assert_eq!(send(&app, "PUT", class, ADMIN, "2.79", r#"{"quota_class_set": {"bogus": 1}}"#).await.status, 400);
        assert_eq!(send(&app, "PUT", "/compute/v2.1/os-quota-class-sets/gold", ADMIN, "2.79", r#"{"quota_class_set": {"instances": 1}}"#).await.status, 400);
        let r = send(&app, "PUT", class, ADMIN, "2.49", r#"{"quota_class_set": {"floating_ips": 110, "fixed_ips": 99}}"#).await;
        assert_eq!(r.body["quota_class_set"]["floating_ips"], 110, "Nova stores the nova-network keys it still shows");
        assert_eq!(get_mv(&app, class, ADMIN, "2.49").await.body["quota_class_set"]["fixed_ips"], 99);
        assert_eq!(send(&app, "PUT", class, ADMIN, "2.50", r#"{"quota_class_set": {"floating_ips": 1}}"#).await.status, 400, "gone from 2.50");
        let old = get_mv(&app, &format!("/compute/v2.1/os-quota-sets/{}", P1_ID.simple()), P1, "2.35").await.body;
        assert_eq!(old["quota_set"]["floating_ips"], 110, "and project quota sets show them before 2.36");
        let limits = get_mv(&app, "/compute/v2.1/limits", P1, "2.35").await.body;
        assert_eq!(limits["limits"]["absolute"]["maxTotalFloatingIps"], 110, "and so do the absolute limits");
    }
}
