//! Role grants on projects and domains (`/v3/{projects,domains}/{id}/{users,groups}/{id}/roles`),
//! group membership, `/v3/role_assignments` (with `effective` and `include_names`) and the
//! read-only implied-role views.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use orrery_kernel::identity::{Actor, Assignment, AssignmentFilter, AssignmentRow, Cmd, Identity, Target};
use orrery_kernel::{Caller, Error, Kernel, Uuid};
use serde_json::{json, Value};

use super::resources::{not_found, parse_id};
use super::{apply, bool_filter, collection, forbidden, read, role_json, user_json, v3_url};
use crate::error::ApiError;
use crate::AppState;

type Q = Query<BTreeMap<String, String>>;
type P2 = Path<(String, String)>;
type P3 = Path<(String, String, String)>;

/// Whether a grant path names a project or a domain.
#[derive(Copy, Clone, Debug)]
enum On {
    Project,
    Domain,
}

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
        .route("/v3/groups/{g}/users", get(group_users))
        .route("/v3/groups/{g}/users/{u}", get(check_member).put(add_member).delete(remove_member));
    for (on, tseg) in [(On::Project, "projects"), (On::Domain, "domains")] {
        for (who, aseg) in [(Who::User, "users"), (Who::Group, "groups")] {
            let list = move |State(s): State<AppState>, h: HeaderMap, Path(p): P2| async move { list_grants(s, h, p, on, who).await };
            let check = move |State(s): State<AppState>, h: HeaderMap, Path(p): P3| async move { check_grant(s, h, p, on, who).await };
            let put = move |State(s): State<AppState>, h: HeaderMap, Path(p): P3| async move { put_grant(s, h, p, on, who).await };
            let del = move |State(s): State<AppState>, h: HeaderMap, Path(p): P3| async move { delete_grant(s, h, p, on, who).await };
            r = r
                .route(&format!("/v3/{tseg}/{{t}}/{aseg}/{{a}}/roles"), get(list))
                .route(&format!("/v3/{tseg}/{{t}}/{aseg}/{{a}}/roles/{{r}}"), get(check).put(put).delete(del));
        }
    }
    r
}

fn target(on: On, t: &str) -> Result<Target, ApiError> {
    match on {
        On::Project => parse_id("project", t).map(Target::Project),
        On::Domain => Ok(Target::Domain(t.to_string())),
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
fn may_read(c: &Caller, actor: &Actor, action: &str) -> orrery_kernel::Result<()> {
    if c.admin || *actor == Actor::User(c.user) {
        Ok(())
    } else {
        Err(forbidden(action))
    }
}

async fn list_grants(s: AppState, h: HeaderMap, (t, a): (String, String), on: On, who: Who) -> Result<Json<Value>, ApiError> {
    let (target, actor) = (target(on, &t)?, actor(who, &a)?);
    let base = s.site.base_url.clone();
    let items = read(&s, &h, move |k, c, _| {
        may_read(c, &actor, "list_grants")?;
        let id = &k.identity();
        id.check_actor_target(&actor, &target)?;
        Ok(id.assigned_roles(&actor, &target).filter_map(|r| id.roles.get(&r)).map(|r| role_json(&base, r)).collect())
    })
    .await?;
    let path = format!("{}/{t}/{}/{a}/roles", seg_on(on), seg_who(who));
    Ok(Json(collection(&s.site.base_url, &path, "roles", items)))
}

fn seg_on(on: On) -> &'static str {
    match on {
        On::Project => "projects",
        On::Domain => "domains",
    }
}

fn seg_who(who: Who) -> &'static str {
    match who {
        Who::User => "users",
        Who::Group => "groups",
    }
}

fn missing_assignment(a: &Assignment) -> Error {
    Error::not_found(
        "identity.not_found",
        format!(
            "Could not find role assignment with role: {}, user or group: {}, project, domain, or system: {}.",
            a.role.simple(),
            a.actor.id(),
            a.target.id()
        ),
    )
}

async fn check_grant(s: AppState, h: HeaderMap, p: (String, String, String), on: On, who: Who) -> Result<StatusCode, ApiError> {
    let a = assignment(on, who, &p)?;
    read(&s, &h, move |k, c, _| {
        may_read(c, &a.actor, "check_grant")?;
        if k.identity().assignments.contains(&a) {
            Ok(())
        } else {
            Err(missing_assignment(&a))
        }
    })
    .await?;
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
    let base = s.site.base_url.clone();
    let items = read(&s, &h, move |k, c, _| {
        super::admin_only(c, "list_users_in_group")?;
        if !k.identity().groups.contains_key(&gid) {
            return Err(not_found("group", &g));
        }
        Ok(k.identity().group_members(gid).filter_map(|u| k.identity().users.get(&u)).map(|u| user_json(&base, u)).collect())
    })
    .await?;
    let path = format!("groups/{}/users", gid.simple());
    Ok(Json(collection(&s.site.base_url, &path, "users", items)))
}

async fn check_member(State(s): State<AppState>, h: HeaderMap, Path((g, u)): P2) -> Result<StatusCode, ApiError> {
    let (gid, uid) = (parse_id("group", &g)?, parse_id("user", &u)?);
    read(&s, &h, move |k, c, _| {
        if !c.admin && c.user != uid {
            return Err(forbidden("check_user_in_group"));
        }
        if !k.identity().groups.contains_key(&gid) {
            return Err(not_found("group", &g));
        }
        if !k.identity().members.contains(&(gid, uid)) {
            return Err(Error::not_found("identity.not_found", format!("User {} is not a member of group {}.", uid.simple(), gid.simple())));
        }
        Ok(())
    })
    .await?;
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
    if q.contains_key("scope.system") || q.contains_key("scope.OS-INHERIT:inherited_to") {
        return Ok(None);
    }
    Ok(Some(f))
}

/// `GET /v3/role_assignments`.
async fn role_assignments(State(s): State<AppState>, h: HeaderMap, Query(q): Q, RawQuery(raw): RawQuery) -> Result<Json<Value>, ApiError> {
    let base = s.site.base_url.clone();
    let items = read(&s, &h, move |k, c, _| {
        let names = bool_filter(&q, "include_names")?.unwrap_or(false);
        let Some(f) = filter_of(&q)? else { return Ok(vec![]) };
        if !c.admin && f.user != Some(c.user) {
            return Err(forbidden("list_role_assignments"));
        }
        Ok(k.identity().list_assignments(&f).iter().map(|row| row_json(&base, k, row, names)).collect())
    })
    .await?;
    let path = format!("role_assignments{}", raw.map(|r| format!("?{r}")).unwrap_or_default());
    Ok(Json(collection(&s.site.base_url, &path, "role_assignments", items)))
}

fn domain_ref(k: &Kernel, id: &str) -> Value {
    json!({"id": id, "name": k.identity().domains.get(id).map(|d| d.name.clone())})
}

/// One assignment row in Keystone's shape.
fn row_json(base: &str, k: &Kernel, row: &AssignmentRow, names: bool) -> Value {
    let id = &k.identity();
    let assigned = row.prior_role.unwrap_or(row.role);
    let (tseg, tid) = match &row.target {
        Target::Project(p) => ("projects", p.simple()),
        Target::Domain(d) => ("domains", d.clone()),
    };
    let (aseg, aid) = match (row.via_group, row.actor.clone()) {
        (Some(g), _) | (None, Actor::Group(g)) => ("groups", g.simple()),
        (None, Actor::User(u)) => ("users", u.simple()),
    };
    let mut links = json!({"assignment": v3_url(base, &format!("{tseg}/{tid}/{aseg}/{aid}/roles/{}", assigned.simple()))});
    if let (Some(g), Actor::User(u)) = (row.via_group, &row.actor) {
        links["membership"] = json!(v3_url(base, &format!("groups/{}/users/{}", g.simple(), u.simple())));
    }
    if let Some(p) = row.prior_role {
        links["prior_role"] = json!(v3_url(base, &format!("roles/{}", p.simple())));
    }
    let mut role = json!({"id": row.role.simple()});
    let mut scope_obj = json!({"id": tid});
    let mut who = json!({"id": row.actor.id()});
    if names {
        role["name"] = json!(id.roles.get(&row.role).map(|r| r.name.clone()));
        match &row.target {
            Target::Project(p) => {
                let proj = id.projects.get(p);
                scope_obj["name"] = json!(proj.map(|p| p.name.clone()));
                scope_obj["domain"] = domain_ref(k, proj.map_or("", |p| p.domain.as_str()));
            }
            Target::Domain(d) => scope_obj["name"] = json!(id.domains.get(d).map(|d| d.name.clone())),
        }
        let (name, dom) = match &row.actor {
            Actor::User(u) => id.users.get(u).map(|u| (u.name.clone(), u.domain.clone())).unzip(),
            Actor::Group(g) => id.groups.get(g).map(|g| (g.name.clone(), g.domain.clone())).unzip(),
        };
        who["name"] = json!(name);
        who["domain"] = domain_ref(k, dom.as_deref().unwrap_or(""));
    }
    let scope_key = if matches!(row.target, Target::Project(_)) { "project" } else { "domain" };
    let actor_key = if matches!(row.actor, Actor::User(_)) { "user" } else { "group" };
    json!({ "role": role, "scope": { scope_key: scope_obj }, actor_key: who, "links": links })
}

// ---------------------------------------------------------------- implied roles

fn role_ref(base: &str, id: &Identity, r: Uuid) -> Value {
    let name = id.roles.get(&r).map(|r| r.name.clone());
    json!({"id": r.simple(), "name": name, "links": {"self": v3_url(base, &format!("roles/{}", r.simple()))}})
}

fn inference(base: &str, id: &Identity, prior: Uuid) -> Value {
    let implies: Vec<Value> = id.implies.range((prior, Uuid(0))..=(prior, Uuid(u128::MAX))).map(|&(_, i)| role_ref(base, id, i)).collect();
    json!({"prior_role": role_ref(base, id, prior), "implies": implies})
}

/// `GET /v3/role_inferences`: every prior role with the roles it implies.
async fn role_inferences(State(s): State<AppState>, h: HeaderMap) -> Result<Json<Value>, ApiError> {
    let base = s.site.base_url.clone();
    let items = read(&s, &h, move |k, _, _| {
        let priors: std::collections::BTreeSet<Uuid> = k.identity().implies.iter().map(|&(p, _)| p).collect();
        Ok(priors.into_iter().map(|p| inference(&base, k.identity(), p)).collect())
    })
    .await?;
    Ok(Json(collection(&s.site.base_url, "role_inferences", "role_inferences", items)))
}

/// `GET /v3/roles/{id}/implies`: the roles one role implies.
async fn implies_of(State(s): State<AppState>, h: HeaderMap, Path(r): Path<String>) -> Result<Json<Value>, ApiError> {
    let base = s.site.base_url.clone();
    let v = read(&s, &h, move |k, _, _| {
        let role = k.identity().role_by_id(&r).ok_or_else(|| not_found("role", &r))?;
        Ok(inference(&base, k.identity(), role.id))
    })
    .await?;
    let mut body = json!({"role_inference": v});
    body["links"] = json!({"self": v3_url(&s.site.base_url, &format!("roles/{}/implies", v_id(&body)))});
    Ok(Json(body))
}

fn v_id(body: &Value) -> String {
    body["role_inference"]["prior_role"]["id"].as_str().unwrap_or_default().to_string()
}
