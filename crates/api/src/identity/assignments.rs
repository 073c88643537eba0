//! Role grants on projects and domains (`/v3/{projects,domains}/{id}/{users,groups}/{id}/roles`)
//! and on the system (`/v3/system/{users,groups}/{id}/roles`), group membership,
//! `/v3/role_assignments` (with `effective` and `include_names`) and implied roles
//! (`/v3/roles/{prior}/implies/{implied}`, `/v3/role_inferences`).

use std::collections::BTreeMap;

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use orrery_kernel::identity::{views, Actor, Assignment, AssignmentFilter, Cmd, Target};
use orrery_kernel::{Error, Uuid};
use serde_json::{json, Value};

use super::resources::parse_id;
use super::{apply, bool_filter, collection, read, role_json, user_json, v3_url};
use crate::error::ApiError;
use crate::AppState;

type Q = Query<BTreeMap<String, String>>;
type P2 = Path<(String, String)>;
type P3 = Path<(String, String, String)>;

/// Whether a grant path names a project, a domain or the system.
#[derive(Copy, Clone, Debug)]
enum On {
    Project,
    Domain,
    System,
    /// OS-INHERIT: every project of a domain.
    DomainTree,
    /// OS-INHERIT: every project below a project.
    ProjectTree,
}

/// The target segment of a system grant's path tuple.
const ALL: &str = "all";

/// Whether a grant path names a user or a group.
#[derive(Copy, Clone, Debug)]
enum Who {
    User,
    Group,
}

/// Routes for grants, memberships, assignment listings and implied roles.
pub fn routes() -> Router<AppState> {
    let mut r = Router::new()
        .route("/v3/role_assignments", get(role_assignments))
        .route("/v3/role_inferences", get(role_inferences))
        .route("/v3/roles/{id}/implies", get(implies_of))
        .route("/v3/roles/{p}/implies/{i}", get(show_implied).head(check_implied).put(put_implied).delete(delete_implied))
        .route("/v3/groups/{g}/users", get(group_users))
        .route("/v3/groups/{g}/users/{u}", get(check_member).put(add_member).delete(remove_member));
    // (target, path prefix, target segment, path suffix): direct and inherited (OS-INHERIT) grants.
    let kinds = [
        (On::Project, "", "projects", ""),
        (On::Domain, "", "domains", ""),
        (On::DomainTree, "OS-INHERIT/", "domains", "/inherited_to_projects"),
        (On::ProjectTree, "OS-INHERIT/", "projects", "/inherited_to_projects"),
    ];
    for (on, prefix, tseg, suffix) in kinds {
        for (who, aseg) in [(Who::User, "users"), (Who::Group, "groups")] {
            let list = move |State(s): State<AppState>, h: HeaderMap, Path(p): P2| async move { list_grants(s, h, p, on, who).await };
            let check = move |State(s): State<AppState>, h: HeaderMap, Path(p): P3| async move { check_grant(s, h, p, on, who).await };
            let put = move |State(s): State<AppState>, h: HeaderMap, Path(p): P3| async move { put_grant(s, h, p, on, who).await };
            let del = move |State(s): State<AppState>, h: HeaderMap, Path(p): P3| async move { delete_grant(s, h, p, on, who).await };
            r = r
                .route(&format!("/v3/{prefix}{tseg}/{{t}}/{aseg}/{{a}}/roles{suffix}"), get(list))
                .route(&format!("/v3/{prefix}{tseg}/{{t}}/{aseg}/{{a}}/roles/{{r}}{suffix}"), get(check).put(put).delete(del));
        }
    }
    for (who, aseg) in [(Who::User, "users"), (Who::Group, "groups")] {
        let on = On::System;
        let list = move |State(s): State<AppState>, h: HeaderMap, Path(a): Path<String>| async move { list_grants(s, h, (ALL.into(), a), on, who).await };
        let check = move |State(s): State<AppState>, h: HeaderMap, Path((a, r)): P2| async move { check_grant(s, h, (ALL.into(), a, r), on, who).await };
        let put = move |State(s): State<AppState>, h: HeaderMap, Path((a, r)): P2| async move { put_grant(s, h, (ALL.into(), a, r), on, who).await };
        let del = move |State(s): State<AppState>, h: HeaderMap, Path((a, r)): P2| async move { delete_grant(s, h, (ALL.into(), a, r), on, who).await };
        r = r
            .route(&format!("/v3/system/{aseg}/{{a}}/roles"), get(list))
            .route(&format!("/v3/system/{aseg}/{{a}}/roles/{{r}}"), get(check).put(put).delete(del));
    }
    r
}

fn target(on: On, t: &str) -> Result<Target, ApiError> {
    match on {
        On::Project => parse_id("project", t).map(Target::Project),
        On::Domain => Ok(Target::Domain(t.to_string())),
        On::System => Ok(Target::System),
        On::DomainTree => Ok(Target::DomainTree(t.to_string())),
        On::ProjectTree => parse_id("project", t).map(Target::ProjectTree),
    }
}

fn actor(who: Who, a: &str) -> Result<Actor, ApiError> {
    match who {
        Who::User => parse_id("user", a).map(Actor::User),
        Who::Group => parse_id("group", a).map(Actor::Group),
    }
}

fn assignment(on: On, who: Who, (t, a, r): &(String, String, String)) -> Result<Assignment, ApiError> {
    Ok(Assignment { actor: actor(who, a)?, target: target(on, t)?, role: parse_id("role", r)? })
}

/// Admins may read any grant; users may read their own.
async fn list_grants(s: AppState, h: HeaderMap, (t, a): (String, String), on: On, who: Who) -> Result<Json<Value>, ApiError> {
    let (target, actor) = (target(on, &t)?, actor(who, &a)?);
    let roles = read(&s, &h, move |k, c, _| views::grants(k.identity(), c, &actor, &target)).await?;
    let path = match on {
        On::System => format!("system/{}/{a}/roles", seg_who(who)),
        On::DomainTree | On::ProjectTree => format!("OS-INHERIT/{}/{t}/{}/{a}/roles/inherited_to_projects", seg_on(on), seg_who(who)),
        _ => format!("{}/{t}/{}/{a}/roles", seg_on(on), seg_who(who)),
    };
    let base = &s.site.base_url;
    Ok(Json(collection(base, &path, "roles", roles.iter().map(|r| role_json(base, r)).collect())))
}

fn seg_on(on: On) -> &'static str {
    match on {
        On::Project | On::ProjectTree => "projects",
        On::Domain | On::DomainTree => "domains",
        On::System => "system",
    }
}

fn seg_who(who: Who) -> &'static str {
    match who {
        Who::User => "users",
        Who::Group => "groups",
    }
}

async fn check_grant(s: AppState, h: HeaderMap, p: (String, String, String), on: On, who: Who) -> Result<StatusCode, ApiError> {
    let a = assignment(on, who, &p)?;
    read(&s, &h, move |k, c, _| views::check_grant(k.identity(), c, &a)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn put_grant(s: AppState, h: HeaderMap, p: (String, String, String), on: On, who: Who) -> Result<StatusCode, ApiError> {
    let a = assignment(on, who, &p)?;
    apply(&s, &h, Cmd::Grant(a)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_grant(s: AppState, h: HeaderMap, p: (String, String, String), on: On, who: Who) -> Result<StatusCode, ApiError> {
    let a = assignment(on, who, &p)?;
    apply(&s, &h, Cmd::Revoke(a)).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- memberships

async fn group_users(State(s): State<AppState>, h: HeaderMap, Path(g): Path<String>) -> Result<Json<Value>, ApiError> {
    let gid = parse_id("group", &g)?;
    let users = read(&s, &h, move |k, c, _| views::group_users(k.identity(), c, gid)).await?;
    let path = format!("groups/{}/users", gid.simple());
    let base = &s.site.base_url;
    Ok(Json(collection(base, &path, "users", users.iter().map(|u| user_json(base, u)).collect())))
}

async fn check_member(State(s): State<AppState>, h: HeaderMap, Path((g, u)): P2) -> Result<StatusCode, ApiError> {
    let (gid, uid) = (parse_id("group", &g)?, parse_id("user", &u)?);
    read(&s, &h, move |k, c, _| views::check_member(k.identity(), c, gid, uid)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn add_member(State(s): State<AppState>, h: HeaderMap, Path((g, u)): P2) -> Result<StatusCode, ApiError> {
    let (group, user) = (parse_id("group", &g)?, parse_id("user", &u)?);
    apply(&s, &h, Cmd::AddToGroup { group, user }).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_member(State(s): State<AppState>, h: HeaderMap, Path((g, u)): P2) -> Result<StatusCode, ApiError> {
    let (group, user) = (parse_id("group", &g)?, parse_id("user", &u)?);
    apply(&s, &h, Cmd::RemoveFromGroup { group, user }).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- role assignments

/// Parses the listing filters. An id that is no id matches nothing (`Ok(None)`).
fn filter_of(q: &BTreeMap<String, String>) -> orrery_kernel::Result<Option<AssignmentFilter>> {
    let id = |key: &str| q.get(key).map(|v| v.parse::<Uuid>());
    let mut f = AssignmentFilter { effective: bool_filter(q, "effective")?.unwrap_or(false), ..Default::default() };
    match (id("user.id"), id("group.id"), id("scope.project.id"), id("role.id")) {
        (Some(Err(_)), ..) | (_, Some(Err(_)), ..) | (_, _, Some(Err(_)), _) | (.., Some(Err(_))) => return Ok(None),
        (u, g, p, r) => {
            f.user = u.and_then(Result::ok);
            f.group = g.and_then(Result::ok);
            f.project = p.and_then(Result::ok);
            f.role = r.and_then(Result::ok);
        }
    }
    f.domain = q.get("scope.domain.id").cloned();
    if f.effective && f.group.is_some() {
        return Err(Error::bad_request("identity.bad_request", "Combining effective and group filter will always result in an empty list.".into()));
    }
    if bool_filter(q, "include_subtree")? == Some(true) {
        return Err(Error::not_implemented("identity.not_implemented", "orrery does not implement include_subtree for role assignments yet.".into()));
    }
    match q.get("scope.system").map(String::as_str) {
        None => {}
        Some(ALL) if f.project.is_none() && f.domain.is_none() => f.system = true,
        Some(_) => return Ok(None),
    }
    match q.get("scope.OS-INHERIT:inherited_to").map(String::as_str) {
        None => {}
        Some("projects") => f.inherited = true,
        Some(_) => return Ok(None),
    }
    Ok(Some(f))
}

/// `GET /v3/role_assignments`.
async fn role_assignments(State(s): State<AppState>, h: HeaderMap, Query(q): Q, RawQuery(raw): RawQuery) -> Result<Json<Value>, ApiError> {
    let (rows, names) = read(&s, &h, move |k, c, _| {
        let names = bool_filter(&q, "include_names")?.unwrap_or(false);
        let Some(f) = filter_of(&q)? else { return Ok((vec![], names)) };
        Ok((views::role_assignments(k.identity(), c, &f, names)?, names))
    })
    .await?;
    let path = format!("role_assignments{}", raw.map(|r| format!("?{r}")).unwrap_or_default());
    let base = &s.site.base_url;
    Ok(Json(collection(base, &path, "role_assignments", rows.iter().map(|v| row_json(base, v, names)).collect())))
}

fn domain_ref(n: &views::Named) -> Value {
    json!({"id": n.domain.clone().unwrap_or_default(), "name": n.domain_name})
}

/// One assignment row in Keystone's shape.
fn row_json(base: &str, v: &views::AssignmentView, names: bool) -> Value {
    let row = &v.row;
    let assigned = row.prior_role.unwrap_or(row.role);
    let (aseg, aid) = match (row.via_group, row.actor.clone()) {
        (Some(g), _) | (None, Actor::Group(g)) => ("groups", g.simple()),
        (None, Actor::User(u)) => ("users", u.simple()),
    };
    let link = match &row.target {
        Target::Project(p) => format!("projects/{}/{aseg}/{aid}/roles/{}", p.simple(), assigned.simple()),
        Target::Domain(d) => format!("domains/{d}/{aseg}/{aid}/roles/{}", assigned.simple()),
        Target::System => format!("system/{aseg}/{aid}/roles/{}", assigned.simple()),
        Target::DomainTree(d) => format!("OS-INHERIT/domains/{d}/{aseg}/{aid}/roles/{}/inherited_to_projects", assigned.simple()),
        Target::ProjectTree(p) => format!("OS-INHERIT/projects/{}/{aseg}/{aid}/roles/{}/inherited_to_projects", p.simple(), assigned.simple()),
    };
    let mut links = json!({"assignment": v3_url(base, &link)});
    if let (Some(g), Actor::User(u)) = (row.via_group, &row.actor) {
        links["membership"] = json!(v3_url(base, &format!("groups/{}/users/{}", g.simple(), u.simple())));
    }
    if let Some(p) = row.prior_role {
        links["prior_role"] = json!(v3_url(base, &format!("roles/{}", p.simple())));
    }
    let mut role = json!({"id": row.role.simple()});
    let mut scope_obj = json!({"id": row.target.id()});
    let mut who = json!({"id": row.actor.id()});
    if names {
        role["name"] = json!(v.role_name);
        scope_obj["name"] = json!(v.target.name);
        if matches!(row.target, Target::Project(_) | Target::ProjectTree(_)) {
            scope_obj["domain"] = domain_ref(&v.target);
        }
        who["name"] = json!(v.actor.name);
        who["domain"] = domain_ref(&v.actor);
    }
    let scope = match row.target {
        Target::Project(_) => json!({ "project": scope_obj }),
        Target::Domain(_) => json!({ "domain": scope_obj }),
        Target::System => json!({"system": {"all": true}}),
        Target::DomainTree(_) => json!({ "domain": scope_obj, "OS-INHERIT:inherited_to": "projects" }),
        Target::ProjectTree(_) => json!({ "project": scope_obj, "OS-INHERIT:inherited_to": "projects" }),
    };
    let actor_key = if matches!(row.actor, Actor::User(_)) { "user" } else { "group" };
    json!({ "role": role, "scope": scope, actor_key: who, "links": links })
}

// ---------------------------------------------------------------- implied roles

fn role_ref(base: &str, (r, name): &(Uuid, Option<String>)) -> Value {
    json!({"id": r.simple(), "name": name, "links": {"self": v3_url(base, &format!("roles/{}", r.simple()))}})
}

fn inference_json(base: &str, i: &views::Inference) -> Value {
    json!({"prior_role": role_ref(base, &i.prior), "implies": i.implies.iter().map(|r| role_ref(base, r)).collect::<Vec<_>>()})
}

/// `GET /v3/role_inferences`: every prior role with the roles it implies.
async fn role_inferences(State(s): State<AppState>, h: HeaderMap) -> Result<Json<Value>, ApiError> {
    let list = read(&s, &h, |k, _, _| Ok(views::role_inferences(k.identity()))).await?;
    let base = &s.site.base_url;
    Ok(Json(collection(base, "role_inferences", "role_inferences", list.iter().map(|i| inference_json(base, i)).collect())))
}

/// `GET /v3/roles/{id}/implies`: the roles one role implies.
async fn implies_of(State(s): State<AppState>, h: HeaderMap, Path(r): Path<String>) -> Result<Json<Value>, ApiError> {
    let i = read(&s, &h, move |k, _, _| views::implies_of(k.identity(), &r)).await?;
    let mut body = json!({"role_inference": inference_json(&s.site.base_url, &i)});
    body["links"] = json!({"self": v3_url(&s.site.base_url, &format!("roles/{}/implies", v_id(&body)))});
    Ok(Json(body))
}

/// One implication in Keystone's shape.
fn implied_json(base: &str, prior: &(Uuid, Option<String>), implied: &(Uuid, Option<String>)) -> Value {
    let link = format!("roles/{}/implies/{}", prior.0.simple(), implied.0.simple());
    json!({"role_inference": {"prior_role": role_ref(base, prior), "implies": role_ref(base, implied)}, "links": {"self": v3_url(base, &link)}})
}

/// `GET /v3/roles/{prior}/implies/{implied}`.
async fn show_implied(State(s): State<AppState>, h: HeaderMap, Path((p, i)): P2) -> Result<Json<Value>, ApiError> {
    let (prior, implied) = read(&s, &h, move |k, _, _| views::implied_role(k.identity(), &p, &i)).await?;
    Ok(Json(implied_json(&s.site.base_url, &prior, &implied)))
}

/// `HEAD /v3/roles/{prior}/implies/{implied}`: 204 when it exists.
async fn check_implied(State(s): State<AppState>, h: HeaderMap, Path((p, i)): P2) -> Result<StatusCode, ApiError> {
    read(&s, &h, move |k, _, _| views::implied_role(k.identity(), &p, &i)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /v3/roles/{prior}/implies/{implied}`: 201 with the implication.
async fn put_implied(State(s): State<AppState>, h: HeaderMap, Path((p, i)): P2) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (prior, implied) = (parse_id("role", &p)?, parse_id("role", &i)?);
    apply(&s, &h, Cmd::Imply { prior, implied }).await?;
    let (prior, implied) = read(&s, &h, move |k, _, _| views::implied_role(k.identity(), &p, &i)).await?;
    Ok((StatusCode::CREATED, Json(implied_json(&s.site.base_url, &prior, &implied))))
}

/// `DELETE /v3/roles/{prior}/implies/{implied}`.
async fn delete_implied(State(s): State<AppState>, h: HeaderMap, Path((p, i)): P2) -> Result<StatusCode, ApiError> {
    let (prior, implied) = (parse_id("role", &p)?, parse_id("role", &i)?);
    apply(&s, &h, Cmd::Unimply { prior, implied }).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn v_id(body: &Value) -> String {
    body["role_inference"]["prior_role"]["id"].as_str().unwrap_or_default().to_string()
}
