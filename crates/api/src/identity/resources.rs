//! CRUD for domains, projects (and domains seen as projects acting as domains), users, groups
//! and roles (global or domain-specific), plus a user's projects, groups and self-service
//! password change. Writes are admin-only (the kernel enforces it); reads are admin-only except
//! what a caller may see about itself.

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use orrery_kernel::identity::views;
pub(crate) use orrery_kernel::identity::views::not_found;
use orrery_kernel::identity::{Cmd, Domain, DomainPatch, Group, GroupPatch, Project, ProjectPatch, Role, RolePatch, User, UserPatch};
use orrery_kernel::{Auth, Command, Error, Request, Uuid};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{apply, ask, bool_filter, collection, domain_json, domain_project_json, group_json, project_json, read, role_json, user_json, S};
use crate::error::ApiError;
use crate::util::{new_uuid, parse_json};
use crate::AppState;
use orrery_kernel::ask::identity as kask;

type Q = Query<BTreeMap<String, String>>;
type KResult<T> = orrery_kernel::Result<T>;

/// Routes for domains, projects, users, groups and roles.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v3/domains", get(list_domains).post(create_domain))
        .route("/v3/domains/{id}", get(show_domain).patch(update_domain).delete(delete_domain))
        .route("/v3/projects", get(list_projects).post(create_project))
        .route("/v3/projects/{id}", get(show_project).patch(update_project).delete(delete_project))
        .route("/v3/projects/{id}/tags", get(list_tags).put(replace_tags).delete(clear_tags))
        .route("/v3/projects/{id}/tags/{tag}", get(check_tag).put(add_tag).delete(remove_tag))
        .route("/v3/users", get(list_users).post(create_user))
        .route("/v3/users/{id}", get(show_user).patch(update_user).delete(delete_user))
        .route("/v3/users/{id}/password", post(change_password))
        .route("/v3/users/{id}/projects", get(user_projects))
        .route("/v3/users/{id}/groups", get(user_groups))
        .route("/v3/groups", get(list_groups).post(create_group))
        .route("/v3/groups/{id}", get(show_group).patch(update_group).delete(delete_group))
        .route("/v3/roles", get(list_roles).post(create_role))
        .route("/v3/roles/{id}", get(show_role).patch(update_role).delete(delete_role))
}

/// Parses an id from a path; text that is no id names nothing, so 404.
pub(crate) fn parse_id(kind: &str, text: &str) -> Result<Uuid, ApiError> {
    text.parse::<Uuid>().map_err(|_| ApiError::new(S, not_found(kind, text)))
}

/// Resource options (like `immutable`) are not modelled; only an empty object is accepted.
fn no_options(options: &Option<Map<String, Value>>) -> Result<(), ApiError> {
    match options {
        Some(o) if !o.is_empty() => Err(ApiError::not_implemented(S, "orrery does not implement resource options (such as immutable) yet.")),
        _ => Ok(()),
    }
}

fn created(key: &str, v: Value) -> Response {
    (StatusCode::CREATED, Json(serde_json::json!({ key: v }))).into_response()
}

fn ok(key: &str, v: Value) -> Response {
    Json(serde_json::json!({ key: v })).into_response()
}

/// The domain new things go to when the request names none: the caller's scope's domain.
async fn caller_domain(s: &AppState, h: &HeaderMap) -> Result<String, ApiError> {
    read(s, h, |k, c, _| Ok(views::caller_domain(k.identity(), c))).await
}

/// The list filter a query asks for: `name`, `domain_id`, `enabled`, `parent_id`, `is_domain`.
fn filter(q: &BTreeMap<String, String>) -> KResult<views::Filter> {
    Ok(views::Filter {
        name: q.get("name").cloned(),
        domain: q.get("domain_id").cloned(),
        enabled: bool_filter(q, "enabled")?,
        parent: q.get("parent_id").cloned(),
        is_domain: bool_filter(q, "is_domain")?,
    })
}

// ---------------------------------------------------------------- domains

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DomainBody<T> {
    domain: T,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DomainCreate {
    name: String,
    description: Option<String>,
    enabled: Option<bool>,
    options: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DomainUpdate {
    name: Option<String>,
    #[serde(default, deserialize_with = "crate::util::nullable")]
    description: Option<Option<String>>,
    enabled: Option<bool>,
    options: Option<Map<String, Value>>,
}

async fn list_domains(State(s): State<AppState>, h: HeaderMap, Query(q): Q) -> Result<Json<Value>, ApiError> {
    let ds = read(&s, &h, move |k, c, _| views::domains(k.identity(), c, &filter(&q)?)).await?;
    let base = &s.site.base_url;
    Ok(Json(collection(base, "domains", "domains", ds.iter().map(|d| domain_json(base, d)).collect())))
}

async fn show_domain(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<Response, ApiError> {
    let d = read(&s, &h, move |k, c, _| views::domain(k.identity(), c, &id)).await?;
    Ok(ok("domain", domain_json(&s.site.base_url, &d)))
}

async fn create_domain(State(s): State<AppState>, h: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let b: DomainBody<DomainCreate> = parse_json(S, &body)?;
    no_options(&b.domain.options)?;
    let d = b.domain;
    // Keystone stores an empty description when none is given.
    let domain = Domain { id: new_uuid().simple(), name: d.name, description: Some(d.description.unwrap_or_default()), enabled: d.enabled.unwrap_or(true) };
    let d = ask(&s, &h, kask::create_domain(domain)).await?;
    Ok(created("domain", domain_json(&s.site.base_url, &d)))
}

async fn update_domain(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    let b: DomainBody<DomainUpdate> = parse_json(S, &body)?;
    no_options(&b.domain.options)?;
    let d = b.domain;
    let patch = DomainPatch { name: d.name, description: d.description, enabled: d.enabled };
    let d = ask(&s, &h, kask::update_domain(id, patch)).await?;
    Ok(ok("domain", domain_json(&s.site.base_url, &d)))
}

async fn delete_domain(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    apply(&s, &h, Cmd::DeleteDomain { id }).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- projects

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectBody<T> {
    project: T,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectCreate {
    name: String,
    domain_id: Option<String>,
    description: Option<String>,
    enabled: Option<bool>,
    parent_id: Option<String>,
    is_domain: Option<bool>,
    tags: Option<BTreeSet<String>>,
    options: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectUpdate {
    name: Option<String>,
    #[serde(default, deserialize_with = "crate::util::nullable")]
    description: Option<Option<String>>,
    enabled: Option<bool>,
    tags: Option<BTreeSet<String>>,
    domain_id: Option<String>,
    parent_id: Option<String>,
    is_domain: Option<bool>,
    options: Option<Map<String, Value>>,
}

/// `GET /v3/projects`: projects, or with `is_domain=true` the domains as projects acting as
/// domains.
async fn list_projects(State(s): State<AppState>, h: HeaderMap, Query(q): Q) -> Result<Json<Value>, ApiError> {
    let base = s.site.base_url.clone();
    let items = read(&s, &h, move |k, c, _| {
        let f = filter(&q)?;
        if f.is_domain == Some(true) {
            return Ok(views::domain_projects(k.identity(), c, &f)?.iter().map(|d| domain_project_json(&base, d)).collect());
        }
        Ok(views::projects(k.identity(), c, &f)?.iter().map(|p| project_json(&base, p)).collect())
    })
    .await?;
    Ok(Json(collection(&s.site.base_url, "projects", "projects", items)))
}

/// The JSON of a project, or of a domain as a project acting as a domain.
fn project_like_json(base: &str, p: &views::ProjectLike) -> Value {
    match p {
        views::ProjectLike::Project(p) => project_json(base, p),
        views::ProjectLike::Domain(d) => domain_project_json(base, d),
    }
}

async fn show_project(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<Response, ApiError> {
    let p = read(&s, &h, move |k, c, _| views::project_like(k.identity(), c, &id)).await?;
    Ok(ok("project", project_like_json(&s.site.base_url, &p)))
}

/// The domain `/v3/projects/{id}` names when it names no project (a project acting as a domain).
async fn project_domain(s: &AppState, h: &HeaderMap, id: &str) -> Result<Option<String>, ApiError> {
    let id = id.to_string();
    read(s, h, move |k, _, _| Ok(views::project_domain(k.identity(), &id))).await
}

/// Domains keep no tags: a project acting as a domain may only be given none.
fn no_domain_tags(tags: &Option<BTreeSet<String>>) -> Result<(), ApiError> {
    match tags {
        Some(t) if !t.is_empty() => Err(ApiError::not_implemented(S, "orrery keeps no tags on domains (projects acting as domains) yet.")),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------- project tags

/// `GET /v3/projects/{id}/tags`.
async fn list_tags(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let p = read(&s, &h, move |k, c, _| views::project(k.identity(), c, &id)).await?;
    Ok(Json(serde_json::json!({"tags": p.tags, "links": super::list_links(&s.site.base_url, &format!("projects/{}/tags", p.id.simple()))})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TagsBody {
    tags: BTreeSet<String>,
}

/// Replaces every tag through the project update, so the tags are checked the same way.
async fn set_tags(s: &AppState, h: &HeaderMap, id: &str, tags: BTreeSet<String>) -> Result<Project, ApiError> {
    let pid = parse_id("project", id)?;
    ask(s, h, kask::update_project(pid, ProjectPatch { tags: Some(tags), ..Default::default() })).await
}

/// `PUT /v3/projects/{id}/tags`: replaces the tags; 200 with the new list.
async fn replace_tags(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let b: TagsBody = parse_json(S, &body)?;
    let p = set_tags(&s, &h, &id, b.tags).await?;
    Ok(Json(serde_json::json!({"tags": p.tags, "links": super::list_links(&s.site.base_url, &format!("projects/{}/tags", p.id.simple()))})))
}

/// `DELETE /v3/projects/{id}/tags`: removes every tag.
async fn clear_tags(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    set_tags(&s, &h, &id, BTreeSet::new()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET`/`HEAD /v3/projects/{id}/tags/{tag}`: 204 if the project has it, else 404.
async fn check_tag(State(s): State<AppState>, h: HeaderMap, Path((id, tag)): Path<(String, String)>) -> Result<StatusCode, ApiError> {
    let p = read(&s, &h, move |k, c, _| views::project(k.identity(), c, &id)).await?;
    if !p.tags.contains(&tag) {
        return Err(ApiError::new(S, Error::not_found("identity.not_found", format!("Tag {tag} not found on project {}.", p.id.simple()))));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /v3/projects/{id}/tags/{tag}`: 201, with the tag's location.
async fn add_tag(State(s): State<AppState>, h: HeaderMap, Path((id, tag)): Path<(String, String)>) -> Result<Response, ApiError> {
    let pid = parse_id("project", &id)?;
    let location = super::v3_url(&s.site.base_url, &format!("projects/{}/tags/{tag}", pid.simple()));
    apply(&s, &h, Cmd::TagProject { id: pid, tag, add: true }).await?;
    Ok((StatusCode::CREATED, [("location", location)]).into_response())
}

/// `DELETE /v3/projects/{id}/tags/{tag}`.
async fn remove_tag(State(s): State<AppState>, h: HeaderMap, Path((id, tag)): Path<(String, String)>) -> Result<StatusCode, ApiError> {
    let pid = parse_id("project", &id)?;
    apply(&s, &h, Cmd::TagProject { id: pid, tag, add: false }).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The parent project named by `parent_id`, which may also be the domain's id (top level).
async fn parent_of(s: &AppState, h: &HeaderMap, domain: Option<String>, parent: Option<String>) -> Result<(String, Option<Uuid>), ApiError> {
    let parent = match parent {
        None => None,
        Some(p) if Some(&p) == domain.as_ref() => None,
        Some(p) => Some(p),
    };
    match (domain, parent) {
        (Some(d), None) => Ok((d, None)),
        (d, Some(p)) => {
            let pid = parse_id("project", &p)?;
            let pdom = read(s, h, move |k, c, _| views::project(k.identity(), c, &pid.simple()).map(|x| x.domain)).await?;
            Ok((d.unwrap_or(pdom), Some(pid)))
        }
        (None, None) => Ok((caller_domain(s, h).await?, None)),
    }
}

async fn create_project(State(s): State<AppState>, h: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let b: ProjectBody<ProjectCreate> = parse_json(S, &body)?;
    let p = b.project;
    no_options(&p.options)?;
    if p.is_domain == Some(true) {
        return create_domain_project(&s, &h, p).await;
    }
    let (domain, parent) = parent_of(&s, &h, p.domain_id, p.parent_id).await?;
    let project = Project {
        id: new_uuid(),
        name: p.name,
        domain,
        parent,
        description: Some(p.description.unwrap_or_default()),
        enabled: p.enabled.unwrap_or(true),
        tags: p.tags.unwrap_or_default(),
    };
    let p = ask(&s, &h, kask::create_project(project)).await?;
    Ok(created("project", project_json(&s.site.base_url, &p)))
}

/// `POST /v3/projects` with `is_domain: true`: as in Keystone, a project acting as a domain
/// is a domain with the same id, and must be a root (no parent, no domain of its own).
async fn create_domain_project(s: &AppState, h: &HeaderMap, p: ProjectCreate) -> Result<Response, ApiError> {
    if p.parent_id.is_some() || p.domain_id.is_some() {
        return Err(ApiError::bad_request(S, "Only root projects are allowed to act as domains: give neither domain_id nor parent_id."));
    }
    no_domain_tags(&p.tags)?;
    let domain = Domain { id: new_uuid().simple(), name: p.name, description: Some(p.description.unwrap_or_default()), enabled: p.enabled.unwrap_or(true) };
    let d = ask(s, h, kask::create_domain(domain)).await?;
    Ok(created("project", domain_project_json(&s.site.base_url, &d)))
}

/// `PATCH /v3/projects/{id}` of a project acting as a domain: changes the domain; it stays a
/// root and a domain.
async fn update_domain_project(s: &AppState, h: &HeaderMap, did: String, p: ProjectUpdate) -> Result<Response, ApiError> {
    if p.is_domain == Some(false) {
        return Err(ApiError::bad_request(S, "Update of `is_domain` is not allowed."));
    }
    if p.domain_id.is_some() {
        return Err(ApiError::bad_request(S, "Update of `domain_id` is not allowed."));
    }
    if p.parent_id.is_some() {
        return Err(ApiError::new(S, Error::forbidden("identity.forbidden", "Update of `parent_id` is not allowed.".into())));
    }
    no_domain_tags(&p.tags)?;
    let patch = DomainPatch { name: p.name, description: p.description, enabled: p.enabled };
    let d = ask(s, h, kask::update_domain(did, patch)).await?;
    Ok(ok("project", domain_project_json(&s.site.base_url, &d)))
}

async fn update_project(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    let b: ProjectBody<ProjectUpdate> = parse_json(S, &body)?;
    let p = b.project;
    no_options(&p.options)?;
    if let Some(did) = project_domain(&s, &h, &id).await? {
        return update_domain_project(&s, &h, did, p).await;
    }
    let pid = parse_id("project", &id)?;
    // Immutable fields are checked inside the command, against the record as it is then.
    let patch = ProjectPatch {
        name: p.name,
        description: p.description,
        enabled: p.enabled,
        tags: p.tags,
        domain: p.domain_id,
        parent: p.parent_id,
        is_domain: p.is_domain,
    };
    let p = ask(&s, &h, kask::update_project(pid, patch)).await?;
    Ok(ok("project", project_json(&s.site.base_url, &p)))
}

/// `DELETE /v3/projects/{id}`; a project acting as a domain is its domain, deleted as one
/// (it must be disabled first).
async fn delete_project(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    if let Some(did) = project_domain(&s, &h, &id).await? {
        apply(&s, &h, Cmd::DeleteDomain { id: did }).await?;
        return Ok(StatusCode::NO_CONTENT);
    }
    let pid = parse_id("project", &id)?;
    apply(&s, &h, Cmd::DeleteProject { id: pid }).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- users

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserBody<T> {
    user: T,
}

/// Keystone's user schema allows fields of its own choosing: they are kept as extras.
#[derive(Deserialize)]
struct UserCreate {
    name: String,
    domain_id: Option<String>,
    default_project_id: Option<String>,
    password: Option<String>,
    enabled: Option<bool>,
    description: Option<String>,
    email: Option<String>,
    options: Option<Map<String, Value>>,
    #[serde(flatten)]
    extra: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
struct UserUpdate {
    name: Option<String>,
    domain_id: Option<String>,
    #[serde(default, deserialize_with = "crate::util::nullable")]
    default_project_id: Option<Option<String>>,
    password: Option<String>,
    enabled: Option<bool>,
    #[serde(default, deserialize_with = "crate::util::nullable")]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::util::nullable")]
    email: Option<Option<String>>,
    options: Option<Map<String, Value>>,
    #[serde(flatten)]
    extra: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    password: String,
    original_password: String,
}

async fn list_users(State(s): State<AppState>, h: HeaderMap, Query(q): Q) -> Result<Json<Value>, ApiError> {
    let us = read(&s, &h, move |k, c, _| views::users(k.identity(), c, &filter(&q)?)).await?;
    let base = &s.site.base_url;
    Ok(Json(collection(base, "users", "users", us.iter().map(|u| user_json(base, u)).collect())))
}

async fn show_user(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<Response, ApiError> {
    let u = read(&s, &h, move |k, c, _| views::user(k.identity(), c, &id)).await?;
    Ok(ok("user", user_json(&s.site.base_url, &u)))
}

/// Parses an optional project id from a body; an id that names nothing is 404.
fn project_ref(p: Option<String>) -> Result<Option<Uuid>, ApiError> {
    p.map(|p| parse_id("project", &p)).transpose()
}

async fn create_user(State(s): State<AppState>, h: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let b: UserBody<UserCreate> = parse_json(S, &body)?;
    let u = b.user;
    no_options(&u.options)?;
    let default_project = project_ref(u.default_project_id)?;
    let domain = match u.domain_id {
        Some(d) => d,
        None => caller_domain(&s, &h).await?,
    };
    let password_hash = match u.password {
        Some(p) => Some(super::hash_password(p).await?),
        None => None,
    };
    let user = User {
        id: new_uuid(),
        name: u.name,
        domain,
        enabled: u.enabled.unwrap_or(true),
        default_project,
        password_hash,
        description: u.description,
        email: u.email,
        extra: super::extra_of(u.extra, None)?,
    };
    let u = ask(&s, &h, kask::create_user(user)).await?;
    Ok(created("user", user_json(&s.site.base_url, &u)))
}

async fn update_user(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    let b: UserBody<UserUpdate> = parse_json(S, &body)?;
    let u = b.user;
    no_options(&u.options)?;
    let uid = parse_id("user", &id)?;
    let default_project = match u.default_project_id {
        Some(p) => Some(project_ref(p)?),
        None => None,
    };
    let password_hash = match u.password {
        Some(p) => Some(super::hash_password(p).await?),
        None => None,
    };
    let extra = super::extra_of(u.extra, Some(&uid.simple()))?;
    let patch =
        UserPatch { name: u.name, enabled: u.enabled, default_project, password_hash, description: u.description, email: u.email, domain: u.domain_id, extra };
    let u = ask(&s, &h, kask::update_user(uid, patch)).await?;
    Ok(ok("user", user_json(&s.site.base_url, &u)))
}

async fn delete_user(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let uid = parse_id("user", &id)?;
    apply(&s, &h, Cmd::DeleteUser { id: uid }).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v3/users/{id}/password`: a password change, proven by the original password. As in
/// Keystone it needs no token, so the shell verifies the original (as it does for a login)
/// and applies the change as the system.
async fn change_password(State(s): State<AppState>, Path(id): Path<String>, body: Bytes) -> Result<StatusCode, ApiError> {
    let b: UserBody<PasswordChange> = parse_json(S, &body)?;
    let uid = parse_id("user", &id)?;
    let hash = s.cloud.read(S, move |k, _| views::password_hash_for_change(k.identity(), &id)).await?.map_err(|e| ApiError::new(S, e))?;
    if !super::verify_password(b.user.original_password, hash).await {
        return Err(ApiError::new(S, Error::unauthorized("identity.unauthorized", "The original password you gave is not correct.".into())));
    }
    let password_hash = super::hash_password(b.user.password).await?;
    let cmd = Request { auth: Auth::System, command: Command::Identity(Cmd::ChangePassword { user: uid, password_hash }) };
    s.cloud.apply(S, cmd).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v3/users/{id}/projects`: projects where the user holds a role.
async fn user_projects(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let path = format!("users/{id}/projects");
    let ps = read(&s, &h, move |k, c, _| views::user_projects(k.identity(), c, &id)).await?;
    let base = &s.site.base_url;
    Ok(Json(collection(base, &path, "projects", ps.iter().map(|p| project_json(base, p)).collect())))
}

/// `GET /v3/users/{id}/groups`: the groups the user belongs to.
async fn user_groups(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let path = format!("users/{id}/groups");
    let gs = read(&s, &h, move |k, c, _| views::user_groups(k.identity(), c, &id)).await?;
    let base = &s.site.base_url;
    Ok(Json(collection(base, &path, "groups", gs.iter().map(|g| group_json(base, g)).collect())))
}

// ---------------------------------------------------------------- groups

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupBody<T> {
    group: T,
}

/// Keystone's group schema allows fields of its own choosing: they are kept as extras.
#[derive(Deserialize)]
struct GroupCreate {
    name: String,
    domain_id: Option<String>,
    description: Option<String>,
    #[serde(flatten)]
    extra: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
struct GroupUpdate {
    name: Option<String>,
    #[serde(default, deserialize_with = "crate::util::nullable")]
    description: Option<Option<String>>,
    domain_id: Option<String>,
    #[serde(flatten)]
    extra: BTreeMap<String, Value>,
}

async fn list_groups(State(s): State<AppState>, h: HeaderMap, Query(q): Q) -> Result<Json<Value>, ApiError> {
    let gs = read(&s, &h, move |k, c, _| views::groups(k.identity(), c, &filter(&q)?)).await?;
    let base = &s.site.base_url;
    Ok(Json(collection(base, "groups", "groups", gs.iter().map(|g| group_json(base, g)).collect())))
}

async fn show_group(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<Response, ApiError> {
    let g = read(&s, &h, move |k, c, _| views::group(k.identity(), c, &id)).await?;
    Ok(ok("group", group_json(&s.site.base_url, &g)))
}

async fn create_group(State(s): State<AppState>, h: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let b: GroupBody<GroupCreate> = parse_json(S, &body)?;
    let g = b.group;
    let domain = match g.domain_id {
        Some(d) => d,
        None => caller_domain(&s, &h).await?,
    };
    let group = Group { id: new_uuid(), name: g.name, domain, description: g.description, extra: super::extra_of(g.extra, None)? };
    let g = ask(&s, &h, kask::create_group(group)).await?;
    Ok(created("group", group_json(&s.site.base_url, &g)))
}

async fn update_group(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    let b: GroupBody<GroupUpdate> = parse_json(S, &body)?;
    let g = b.group;
    let gid = parse_id("group", &id)?;
    let patch = GroupPatch { name: g.name, description: g.description, domain: g.domain_id, extra: super::extra_of(g.extra, Some(&gid.simple()))? };
    let g = ask(&s, &h, kask::update_group(gid, patch)).await?;
    Ok(ok("group", group_json(&s.site.base_url, &g)))
}

async fn delete_group(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let gid = parse_id("group", &id)?;
    apply(&s, &h, Cmd::DeleteGroup { id: gid }).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- roles

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleBody<T> {
    role: T,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleCreate {
    name: String,
    description: Option<String>,
    #[serde(default, deserialize_with = "crate::util::nullable")]
    domain_id: Option<Option<String>>,
    options: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleUpdate {
    name: Option<String>,
    #[serde(default, deserialize_with = "crate::util::nullable")]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::util::nullable")]
    domain_id: Option<Option<String>>,
    options: Option<Map<String, Value>>,
}

async fn list_roles(State(s): State<AppState>, h: HeaderMap, Query(q): Q) -> Result<Json<Value>, ApiError> {
    let rs = read(&s, &h, move |k, _, _| {
        let domain = q.get("domain_id").filter(|d| !d.is_empty()).cloned();
        Ok(views::roles(k.identity(), &views::Filter { name: q.get("name").cloned(), domain, ..Default::default() }))
    })
    .await?;
    let base = &s.site.base_url;
    Ok(Json(collection(base, "roles", "roles", rs.iter().map(|r| role_json(base, r)).collect())))
}

async fn show_role(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<Response, ApiError> {
    let r = read(&s, &h, move |k, _, _| views::role(k.identity(), &id)).await?;
    Ok(ok("role", role_json(&s.site.base_url, &r)))
}

async fn create_role(State(s): State<AppState>, h: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let b: RoleBody<RoleCreate> = parse_json(S, &body)?;
    let r = b.role;
    no_options(&r.options)?;
    let role = Role { id: new_uuid(), name: r.name, description: r.description, domain: r.domain_id.flatten() };
    let r = ask(&s, &h, kask::create_role(role)).await?;
    Ok(created("role", role_json(&s.site.base_url, &r)))
}

async fn update_role(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    let b: RoleBody<RoleUpdate> = parse_json(S, &body)?;
    no_options(&b.role.options)?;
    let rid = parse_id("role", &id)?;
    let patch = RolePatch { name: b.role.name, description: b.role.description, domain: b.role.domain_id };
    let r = ask(&s, &h, kask::update_role(rid, patch)).await?;
    Ok(ok("role", role_json(&s.site.base_url, &r)))
}

async fn delete_role(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let rid = parse_id("role", &id)?;
    apply(&s, &h, Cmd::DeleteRole { id: rid }).await?;
    Ok(StatusCode::NO_CONTENT)
}
