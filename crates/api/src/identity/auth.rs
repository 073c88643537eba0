//! `/v3/auth/*`: issuing tokens (password and token methods; project, domain or no scope),
//! validating, checking and revoking them, and what a token may see (projects, domains,
//! catalog, system).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use orrery_kernel::identity::{views, AuthMethod, Cmd, Scope, TokenDigest, TokenInfo};
use orrery_kernel::{Auth, Error};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{apply, ask_as, catalog, collection, domain_json, project_json, read, ts, verify_password, S};
use crate::error::ApiError;
use crate::util::{new_token, parse_json};
use crate::{AppState, Site};

/// Routes under `/v3/auth`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v3/auth/tokens", get(validate).post(issue).delete(revoke))
        .route("/v3/auth/projects", get(projects))
        .route("/v3/auth/domains", get(domains))
        .route("/v3/auth/catalog", get(catalog_of_token))
        .route("/v3/auth/system", get(system))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthBody {
    auth: AuthReq,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthReq {
    identity: IdentityReq,
    scope: Option<ScopeReq>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentityReq {
    methods: Vec<String>,
    password: Option<PasswordReq>,
    token: Option<TokenReq>,
    application_credential: Option<AppCredReq>,
    totp: Option<Value>,
}

/// An application credential by id, or by name with its user (by id, or name and domain).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppCredReq {
    id: Option<String>,
    name: Option<String>,
    user: Option<NameOrId>,
    secret: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordReq {
    user: PasswordUser,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordUser {
    id: Option<String>,
    name: Option<String>,
    domain: Option<NameOrId>,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenReq {
    id: String,
}

/// `{"id": ...}` or `{"name": ...}` (a domain; a project also carries its domain).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct NameOrId {
    id: Option<String>,
    name: Option<String>,
    domain: Option<Box<NameOrId>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ScopeReq {
    Word(String),
    Object(ScopeObj),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScopeObj {
    project: Option<NameOrId>,
    domain: Option<NameOrId>,
    system: Option<Value>,
    #[serde(rename = "OS-TRUST:trust")]
    trust: Option<Value>,
}

fn unauthorized() -> ApiError {
    ApiError::new(S, Error::unauthorized("identity.unauthorized", orrery_kernel::identity::tokens::UNAUTHORIZED.into()))
}

fn bad(msg: &str) -> ApiError {
    ApiError::bad_request(S, msg)
}

/// `POST /v3/auth/tokens`.
async fn issue(State(s): State<AppState>, Query(q): Query<BTreeMap<String, String>>, body: Bytes) -> Result<Response, ApiError> {
    let req: AuthBody = parse_json(S, &body)?;
    let method = authenticate(&s, req.auth.identity).await?;
    let scope = resolve_scope(&s, req.auth.scope).await?;
    let token = new_token();
    let info = ask_as(&s, Auth::System, orrery_kernel::ask::identity::issue_token(TokenDigest::of(&token), method, scope)).await?;
    let reg = if q.contains_key("nocatalog") { None } else { Some(catalog::registered(&s).await?) };
    let body = token_json(&s.site, &info, reg.as_ref());
    Ok((StatusCode::CREATED, [("x-subject-token", token)], Json(body)).into_response())
}

/// Turns the identity section into a kernel auth method, verifying a password here.
async fn authenticate(s: &AppState, id: IdentityReq) -> Result<AuthMethod, ApiError> {
    if id.totp.is_some() || id.methods.iter().any(|m| m == "totp") {
        return Err(ApiError::not_implemented(S, "orrery does not implement the totp authentication method yet."));
    }
    match id.methods.as_slice() {
        [m] if m == "password" => {
            let pw = id.password.ok_or_else(|| bad("Expecting to find password in identity. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error."))?;
            password_user(s, pw.user).await
        }
        [m] if m == "token" => {
            let t = id.token.ok_or_else(|| bad("Expecting to find token in identity. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error."))?;
            Ok(AuthMethod::Token { token: TokenDigest::of(&t.id) })
        }
        [m] if m == "application_credential" => {
            let a = id.application_credential.ok_or_else(|| bad("Expecting to find application_credential in identity. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error."))?;
            app_credential(s, a).await
        }
        [] => Err(bad("Expecting to find methods in identity; at least one authentication method is required.")),
        _ => Err(unauthorized()),
    }
}

/// Finds the application credential a request names and verifies its secret.
async fn app_credential(s: &AppState, a: AppCredReq) -> Result<AuthMethod, ApiError> {
    let cid = match &a.id {
        Some(id) => Some(id.parse::<orrery_kernel::Uuid>().map_err(|_| unauthorized())?),
        None => None,
    };
    if cid.is_none() && (a.name.is_none() || a.user.is_none()) {
        return Err(bad("Expecting to find id, or name and user, in application_credential."));
    }
    let user: Option<views::NameOrId> = a.user.map(Into::into);
    let name = a.name;
    let found = s
        .cloud
        .read(S, move |k, _| {
            let uid = user.as_ref().and_then(|u| views::login_user(k.identity(), u)).map(|(u, _)| u);
            orrery_kernel::identity::appcreds::for_login(k.identity(), cid, uid, name.as_deref())
        })
        .await?;
    let (cred, hash) = match found {
        Some(c) => (Some(c.id), Some(c.secret_hash)),
        None => (None, None),
    };
    match (verify_password(a.secret, hash).await, cred) {
        (true, Some(id)) => Ok(AuthMethod::ApplicationCredential { id }),
        _ => Err(unauthorized()),
    }
}

/// Finds the user a password request names and verifies the password.
async fn password_user(s: &AppState, u: PasswordUser) -> Result<AuthMethod, ApiError> {
    if u.id.is_none() && u.name.is_none() {
        return Err(bad("Expecting to find id or name in user. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error."));
    }
    if u.id.is_none() && u.domain.is_none() {
        return Err(bad("Expecting to find domain in user. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error."));
    }
    let who = views::NameOrId { id: u.id, name: u.name, domain: u.domain.map(|d| Box::new(d.into())) };
    let found = s.cloud.read(S, move |k, _| views::login_user(k.identity(), &who)).await?;
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), hash),
        None => (None, None),
    };
    match (verify_password(u.password, hash).await, user) {
        (true, Some(user)) => Ok(AuthMethod::Password { user }),
        _ => Err(unauthorized()),
    }
}

impl From<NameOrId> for views::NameOrId {
    fn from(n: NameOrId) -> Self {
        views::NameOrId { id: n.id, name: n.name, domain: n.domain.map(|d| Box::new((*d).into())) }
    }
}

/// Resolves a requested scope by id or name; names that match nothing give 401, as Keystone.
async fn resolve_scope(s: &AppState, scope: Option<ScopeReq>) -> Result<Option<Scope>, ApiError> {
    let obj = match scope {
        None => return Ok(None),
        Some(ScopeReq::Word(w)) if w == "unscoped" => return Ok(Some(Scope::Unscoped)),
        Some(ScopeReq::Word(w)) => return Err(bad(&format!("Invalid scope '{w}'; the only word accepted is 'unscoped'."))),
        Some(ScopeReq::Object(o)) => o,
    };
    if obj.trust.is_some() {
        return Err(ApiError::not_implemented(S, "orrery does not implement trusts (OS-TRUST) yet."));
    }
    match (&obj.system, &obj.project, &obj.domain) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => return Err(bad("Specifying system and project or domain scope is not allowed.")),
        (Some(v), ..) if v == &json!({"all": true}) => return Ok(Some(Scope::System)),
        (Some(v), ..) => return Err(bad(&format!("Invalid system scope {v}; the only system scope is {{\"all\": true}}."))),
        _ => {}
    }
    match (obj.project, obj.domain) {
        (Some(_), Some(_)) => Err(bad("Scoping to both domain and project is not allowed")),
        (Some(p), None) => project_scope(s, p).await.map(Some),
        (None, Some(d)) => {
            let d: views::NameOrId = d.into();
            let found = s.cloud.read(S, move |k, _| views::find_domain(k.identity(), &d)).await?;
            found.map(|d| Some(Scope::Domain(d))).ok_or_else(unauthorized)
        }
        (None, None) => Ok(None),
    }
}

async fn project_scope(s: &AppState, p: NameOrId) -> Result<Scope, ApiError> {
    if p.id.is_none() && (p.name.is_none() || p.domain.is_none()) {
        return Err(bad("Expecting to find id, or name and domain, in project. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error."));
    }
    let p: views::NameOrId = p.into();
    let found = s.cloud.read(S, move |k, _| views::find_project(k.identity(), &p)).await?;
    found.map(Scope::Project).ok_or_else(unauthorized)
}

/// The `{"token": ...}` body Keystone sends for a token; with the catalog (built in, plus
/// `registered`) unless `registered` is `None` (`?nocatalog`).
pub fn token_json(site: &Site, info: &TokenInfo, registered: Option<&orrery_kernel::identity::catalog::Catalog>) -> Value {
    let t = &info.token;
    let mut o = json!({
        "methods": t.methods,
        "user": {
            "id": info.user.id, "name": info.user.name,
            "domain": {"id": info.user_domain.id, "name": info.user_domain.name},
            "password_expires_at": null,
        },
        "audit_ids": t.audit_ids,
        "expires_at": ts(t.expires_at),
        "issued_at": ts(t.issued_at),
    });
    let roles: Vec<Value> = info.roles.iter().map(|r| json!({"id": r.id, "name": r.name})).collect();
    let scoped = if let Some((p, d)) = &info.project {
        o["project"] = json!({"id": p.id, "name": p.name, "domain": {"id": d.id, "name": d.name}});
        o["is_domain"] = json!(false);
        true
    } else if let Some(d) = &info.domain {
        o["domain"] = json!({"id": d.id, "name": d.name});
        true
    } else if info.token.scope == Scope::System {
        o["system"] = json!({"all": true});
        true
    } else {
        false
    };
    if let Some(c) = &info.app_cred {
        o["application_credential"] = json!({"id": c.id, "name": c.name, "restricted": !c.unrestricted});
    }
    if scoped {
        o["roles"] = json!(roles);
        if let Some(reg) = registered {
            o["catalog"] = catalog::catalog(site, reg);
        }
    }
    json!({ "token": o })
}

fn subject(h: &HeaderMap) -> Result<String, ApiError> {
    match h.get("x-subject-token").and_then(|v| v.to_str().ok()) {
        Some(t) if !t.trim().is_empty() => Ok(t.trim().to_string()),
        _ => Err(bad("Expecting to find X-Subject-Token in the request headers.")),
    }
}

/// `GET` / `HEAD /v3/auth/tokens`: validates `X-Subject-Token` for its owner or an admin.
async fn validate(State(s): State<AppState>, h: HeaderMap, Query(q): Query<BTreeMap<String, String>>) -> Result<Response, ApiError> {
    let secret = subject(&h)?;
    let sub = TokenDigest::of(&secret);
    let with_catalog = !q.contains_key("nocatalog");
    let (info, reg) =
        read(&s, &h, move |k, c, now| Ok((views::token(k.identity(), c, &sub, now)?, with_catalog.then(|| k.identity().catalog.clone())))).await?;
    let body = token_json(&s.site, &info, reg.as_ref());
    Ok((StatusCode::OK, [("x-subject-token", secret)], Json(body)).into_response())
}

/// `DELETE /v3/auth/tokens`: revokes `X-Subject-Token`.
async fn revoke(State(s): State<AppState>, h: HeaderMap) -> Result<StatusCode, ApiError> {
    let token = TokenDigest::of(&subject(&h)?);
    apply(&s, &h, Cmd::RevokeToken { token }).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v3/auth/projects`: the projects the token's user can scope to.
async fn projects(State(s): State<AppState>, h: HeaderMap) -> Result<Json<Value>, ApiError> {
    let ps = read(&s, &h, |k, c, _| Ok(views::scopable_projects(k.identity(), c))).await?;
    let base = &s.site.base_url;
    Ok(Json(collection(base, "auth/projects", "projects", ps.iter().map(|p| project_json(base, p)).collect())))
}

/// `GET /v3/auth/domains`: the domains the token's user can scope to.
async fn domains(State(s): State<AppState>, h: HeaderMap) -> Result<Json<Value>, ApiError> {
    let ds = read(&s, &h, |k, c, _| Ok(views::scopable_domains(k.identity(), c))).await?;
    let base = &s.site.base_url;
    Ok(Json(collection(base, "auth/domains", "domains", ds.iter().map(|d| domain_json(base, d)).collect())))
}

/// `GET /v3/auth/catalog`: the catalog, for a scoped token.
async fn catalog_of_token(State(s): State<AppState>, h: HeaderMap) -> Result<Json<Value>, ApiError> {
    let (scoped, reg) = read(&s, &h, |k, c, _| Ok((!c.roles.is_empty(), k.identity().catalog.clone()))).await?;
    if !scoped {
        return Err(ApiError::new(S, Error::forbidden("identity.forbidden", "A project-scoped token is required to produce a service catalog.".into())));
    }
    let mut body = json!({"catalog": catalog::catalog(&s.site, &reg)});
    body["links"] = super::list_links(&s.site.base_url, "auth/catalog");
    Ok(Json(body))
}

/// `GET /v3/auth/system`: `[{"all": true}]` when the token's user holds a role on the
/// system, else empty.
async fn system(State(s): State<AppState>, h: HeaderMap) -> Result<Json<Value>, ApiError> {
    let on_system = read(&s, &h, |k, c, _| Ok(!k.identity().effective_roles(c.user, &orrery_kernel::identity::Target::System).is_empty())).await?;
    let list = if on_system { vec![json!({"all": true})] } else { vec![] };
    Ok(Json(collection(&s.site.base_url, "auth/system", "system", list)))
}
