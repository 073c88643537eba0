//! Identity API tests: the router driven in-process against an in-memory kernel actor.

use axum::body::Body;
use axum::http::{HeaderMap, Request as HttpRequest, StatusCode};
use axum::Router;
use orrery_kernel::identity::Bootstrap;
use orrery_kernel::topology::HostSpec;
use orrery_kernel::{Auth, Command, InitSpec, Kernel, Request, TopologySpec};
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::cloud::{spawn_in_memory, wall_now};
use crate::{AppState, Site};

const PASSWORD: &str = "orrery-admin-pw";
const BASE: &str = "http://orrery.test";

fn tiny_topology() -> TopologySpec {
    TopologySpec::uniform("RegionOne", HostSpec::compute(8, 16_384, 100), &[("nova", 1, 2)])
}

async fn app() -> Router {
    let hash = super::hash_password(PASSWORD.into()).await.unwrap();
    let mut k = Kernel::new();
    let spec = InitSpec { seed: 11, topology: tiny_topology(), bootstrap: Bootstrap::new("admin", &hash) };
    k.apply(wall_now(), Request { auth: Auth::System, command: Command::Init(Box::new(spec)) }).unwrap();
    let cloud = spawn_in_memory(k);
    crate::router(AppState::new(cloud, Site { base_url: BASE.into(), region: "RegionOne".into() }))
}

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

async fn call(app: &Router, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> Resp {
    let mut req = HttpRequest::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("x-auth-token", t);
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req.body(body.map_or(Body::empty(), |b| Body::from(b.to_string()))).unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
    Resp { status, headers, body }
}

fn password_body(user: &str, password: &str, project: Option<&str>) -> String {
    let mut b = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"name": "Default"}, "password": password}}}}});
    if let Some(p) = project {
        b["auth"]["scope"] = json!({"project": {"name": p, "domain": {"id": "default"}}});
    }
    b.to_string()
}

async fn login(app: &Router, user: &str, password: &str, project: Option<&str>) -> Resp {
    call(app, "POST", "/identity/v3/auth/tokens", None, Some(&password_body(user, password, project))).await
}

fn subject(r: &Resp) -> String {
    r.headers.get("x-subject-token").expect("X-Subject-Token header").to_str().unwrap().to_string()
}

async fn admin(app: &Router) -> String {
    let r = login(app, "admin", PASSWORD, Some("admin")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    subject(&r)
}

fn assert_keystone_error(r: &Resp, code: u16) {
    assert_eq!(r.status.as_u16(), code, "{}", r.body);
    assert_eq!(r.body["error"]["code"], json!(code), "{}", r.body);
    assert!(r.body["error"]["title"].is_string() && r.body["error"]["message"].is_string(), "{}", r.body);
}

#[tokio::test]
async fn discovery_documents() {
    let app = app().await;
    for path in ["/identity", "/identity/"] {
        let r = call(&app, "GET", path, None, None).await;
        assert_eq!(r.status, StatusCode::MULTIPLE_CHOICES, "{path}");
        let v = &r.body["versions"]["values"][0];
        assert_eq!(v["id"], "v3.14");
        assert_eq!(v["links"][0]["href"], format!("{BASE}/identity/v3/"));
    }
    for path in ["/identity/v3", "/identity/v3/"] {
        let r = call(&app, "GET", path, None, None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.body["version"]["status"], "stable");
    }
}

#[tokio::test]
async fn password_token_is_issued_with_catalog_and_validates() {
    let app = app().await;
    let r = login(&app, "admin", PASSWORD, Some("admin")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let tok = subject(&r);
    assert_eq!(tok.len(), 64);
    let t = &r.body["token"];
    assert_eq!(t["methods"], json!(["password"]));
    assert_eq!(t["project"]["name"], "admin");
    assert_eq!(t["user"]["domain"], json!({"id": "default", "name": "Default"}));
    let roles: Vec<&str> = t["roles"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(roles, vec!["admin", "manager", "member", "reader"]);
    let issued = t["issued_at"].as_str().unwrap();
    assert!(issued.ends_with('Z') && issued.len() == "2026-11-22T10:00:00.000000Z".len(), "{issued}");
    let types: Vec<&str> = t["catalog"].as_array().unwrap().iter().map(|s| s["type"].as_str().unwrap()).collect();
    assert_eq!(types, vec!["identity", "compute", "placement", "image", "network"]);
    let eps = t["catalog"][1]["endpoints"].as_array().unwrap();
    assert_eq!(eps.len(), 3);
    assert_eq!(eps[0]["url"], format!("{BASE}/compute/v2.1"));
    assert_eq!(eps[0]["region_id"], "RegionOne");
    // Validation by the owner, with and without the catalog.
    let mut req = HttpRequest::builder().method("GET").uri("/identity/v3/auth/tokens?nocatalog");
    req = req.header("x-auth-token", &tok).header("x-subject-token", &tok);
    let resp = app.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = serde_json::from_slice(&axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap()).unwrap();
    assert!(body["token"].get("catalog").is_none());
    assert_eq!(body["token"]["audit_ids"], t["audit_ids"]);
}

#[tokio::test]
async fn wrong_password_and_unknown_user_are_401() {
    let app = app().await;
    for (user, pw) in [("admin", "wrong"), ("nobody", PASSWORD)] {
        let r = login(&app, user, pw, Some("admin")).await;
        assert_keystone_error(&r, 401);
        assert_eq!(r.body["error"]["message"], "The request you have made requires authentication.");
        assert_eq!(r.body["error"]["title"], "Unauthorized");
    }
    let r = call(&app, "GET", "/identity/v3/projects", None, None).await;
    assert_keystone_error(&r, 401);
    let r = call(&app, "GET", "/identity/v3/projects", Some("deadbeef"), None).await;
    assert_keystone_error(&r, 401);
}

#[tokio::test]
async fn malformed_json_and_unknown_fields_are_400() {
    let app = app().await;
    let tok = admin(&app).await;
    let r = call(&app, "POST", "/identity/v3/projects", Some(&tok), Some("{\"project\": ")).await;
    assert_keystone_error(&r, 400);
    let r = call(&app, "POST", "/identity/v3/projects", Some(&tok), Some(r#"{"project": {"name": "p", "colour": "red"}}"#)).await;
    assert_keystone_error(&r, 400);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("colour"), "{}", r.body);
    let r = call(&app, "POST", "/identity/v3/auth/tokens", None, Some(r#"{"auth": {"identity": {"methods": ["password"]}, "extra": 1}}"#)).await;
    assert_keystone_error(&r, 400);
}

#[tokio::test]
async fn project_user_and_member_role_flow() {
    let app = app().await;
    let tok = admin(&app).await;
    let r = call(&app, "POST", "/identity/v3/projects", Some(&tok), Some(r#"{"project": {"name": "demo", "domain_id": "default", "enabled": true}}"#)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let pid = r.body["project"]["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["project"]["links"]["self"], format!("{BASE}/identity/v3/projects/{pid}"));
    let dup = call(&app, "POST", "/identity/v3/projects", Some(&tok), Some(r#"{"project": {"name": "demo"}}"#)).await;
    assert_keystone_error(&dup, 409);
    let body = json!({"user": {"name": "alice", "password": "alice-pw", "default_project_id": pid, "enabled": true}}).to_string();
    let r = call(&app, "POST", "/identity/v3/users", Some(&tok), Some(&body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(r.body["user"].get("password").is_none() && r.body["user"].get("password_hash").is_none());
    let uid = r.body["user"]["id"].as_str().unwrap().to_string();
    let roles = call(&app, "GET", "/identity/v3/roles?name=member", Some(&tok), None).await;
    let rid = roles.body["roles"][0]["id"].as_str().unwrap().to_string();
    let grant = format!("/identity/v3/projects/{pid}/users/{uid}/roles/{rid}");
    assert_eq!(call(&app, "PUT", &grant, Some(&tok), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(call(&app, "HEAD", &grant, Some(&tok), None).await.status, StatusCode::NO_CONTENT);
    // alice logs in (default project scope) and is a member there, not an admin.
    let r = login(&app, "alice", "alice-pw", None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["token"]["project"]["id"], json!(pid));
    let alice = subject(&r);
    let r = call(&app, "POST", "/identity/v3/projects", Some(&alice), Some(r#"{"project": {"name": "mine"}}"#)).await;
    assert_keystone_error(&r, 403);
    assert_eq!(call(&app, "GET", &format!("/identity/v3/projects/{pid}"), Some(&alice), None).await.status, StatusCode::OK);
    let r = call(&app, "GET", "/identity/v3/auth/projects", Some(&alice), None).await;
    assert_eq!(r.body["projects"].as_array().unwrap().len(), 1);
    // The admin's effective listing names alice's member and implied reader roles.
    let q = format!("/identity/v3/role_assignments?user.id={uid}&effective&include_names");
    let r = call(&app, "GET", &q, Some(&tok), None).await;
    let names: Vec<&str> = r.body["role_assignments"].as_array().unwrap().iter().map(|a| a["role"]["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 2, "{}", r.body);
    assert!(names.contains(&"member") && names.contains(&"reader"));
    assert_eq!(r.body["role_assignments"][0]["scope"]["project"]["name"], "demo");
    // Removing the grant revokes alice's scoped token.
    assert_eq!(call(&app, "DELETE", &grant, Some(&tok), None).await.status, StatusCode::NO_CONTENT);
    assert_keystone_error(&call(&app, "GET", "/identity/v3/auth/projects", Some(&alice), None).await, 401);
}

#[tokio::test]
async fn revoked_tokens_stop_working() {
    let app = app().await;
    let tok = admin(&app).await;
    let other = admin(&app).await;
    let req = HttpRequest::builder()
        .method("DELETE")
        .uri("/identity/v3/auth/tokens")
        .header("x-auth-token", &tok)
        .header("x-subject-token", &other)
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.clone().oneshot(req).await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_keystone_error(&call(&app, "GET", "/identity/v3/projects", Some(&other), None).await, 401);
    assert_eq!(call(&app, "GET", "/identity/v3/projects", Some(&tok), None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn token_method_rescopes_and_unknown_paths_answer_501() {
    let app = app().await;
    let mut unscoped: Value = serde_json::from_str(&password_body("admin", PASSWORD, None)).unwrap();
    unscoped["auth"]["scope"] = json!("unscoped");
    let r = login_raw(&app, &unscoped.to_string()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(r.body["token"].get("project").is_none() && r.body["token"].get("catalog").is_none());
    let tok = subject(&r);
    let body =
        json!({"auth": {"identity": {"methods": ["token"], "token": {"id": tok}}, "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}});
    let r2 = login_raw(&app, &body.to_string()).await;
    assert_eq!(r2.status, StatusCode::CREATED, "{}", r2.body);
    assert_eq!(r2.body["token"]["project"]["name"], "admin");
    let service =
        json!({"auth": {"identity": {"methods": ["token"], "token": {"id": tok}}, "scope": {"project": {"name": "service", "domain": {"name": "Default"}}}}});
    assert_keystone_error(&login_raw(&app, &service.to_string()).await, 401);
    assert_eq!(r2.body["token"]["methods"], json!(["token", "password"]));
    assert_eq!(r2.body["token"]["expires_at"], r.body["token"]["expires_at"]);
    let r = call(&app, "GET", "/identity/v3/OS-FEDERATION/identity_providers", Some(&tok), None).await;
    assert_keystone_error(&r, 501);
}

async fn login_raw(app: &Router, body: &str) -> Resp {
    call(app, "POST", "/identity/v3/auth/tokens", None, Some(body)).await
}

#[tokio::test]
async fn user_changes_own_password() {
    let app = app().await;
    let tok = admin(&app).await;
    let body = json!({"user": {"name": "bob", "password": "old-pw"}}).to_string();
    let r = call(&app, "POST", "/identity/v3/users", Some(&tok), Some(&body)).await;
    let uid = r.body["user"]["id"].as_str().unwrap().to_string();
    let bob = subject(&login(&app, "bob", "old-pw", None).await);
    let path = format!("/identity/v3/users/{uid}/password");
    let wrong = json!({"user": {"password": "new-pw", "original_password": "nope"}}).to_string();
    assert_keystone_error(&call(&app, "POST", &path, Some(&bob), Some(&wrong)).await, 401);
    let right = json!({"user": {"password": "new-pw", "original_password": "old-pw"}}).to_string();
    assert_eq!(call(&app, "POST", &path, Some(&bob), Some(&right)).await.status, StatusCode::NO_CONTENT);
    assert_keystone_error(&login(&app, "bob", "old-pw", None).await, 401);
    assert_eq!(login(&app, "bob", "new-pw", None).await.status, StatusCode::CREATED);
    // As in Keystone, the original password is the proof: no token, or another's, will do.
    let again = json!({"user": {"password": "newer-pw", "original_password": "new-pw"}}).to_string();
    assert_eq!(call(&app, "POST", &path, None, Some(&again)).await.status, StatusCode::NO_CONTENT);
    let back = json!({"user": {"password": "new-pw", "original_password": "newer-pw"}}).to_string();
    assert_eq!(call(&app, "POST", &path, Some(&tok), Some(&back)).await.status, StatusCode::NO_CONTENT);
    assert_keystone_error(&call(&app, "POST", "/identity/v3/users/00000000000040008000000000000000/password", None, Some(&back)).await, 404);
}

#[tokio::test]
async fn dummy_hash_parses() {
    assert!(argon2::password_hash::PasswordHash::new(super::DUMMY_HASH).is_ok());
    assert!(!super::verify_password("x".into(), None).await);
}

#[test]
fn catalog_ids_are_stable_and_distinct() {
    let site = Site { base_url: BASE.into(), region: "RegionOne".into() };
    let reg = orrery_kernel::identity::catalog::Catalog::default();
    let (a, b) = (super::catalog::catalog(&site, &reg), super::catalog::catalog(&site, &reg));
    assert_eq!(a, b);
    let mut ids = std::collections::BTreeSet::new();
    for s in a.as_array().unwrap() {
        ids.insert(s["id"].as_str().unwrap().to_string());
        for e in s["endpoints"].as_array().unwrap() {
            ids.insert(e["id"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(ids.len(), 5 + 5 * 3);
    assert!(ids.iter().all(|i| i.len() == 32));
}

#[tokio::test]
async fn groups_domains_and_domain_grants() {
    let app = app().await;
    let tok = admin(&app).await;
    let r = call(&app, "POST", "/identity/v3/domains", Some(&tok), Some(r#"{"domain": {"name": "lab"}}"#)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let did = r.body["domain"]["id"].as_str().unwrap().to_string();
    let body = json!({"group": {"name": "ops", "domain_id": did}}).to_string();
    let gid = call(&app, "POST", "/identity/v3/groups", Some(&tok), Some(&body)).await.body["group"]["id"].as_str().unwrap().to_string();
    let body = json!({"user": {"name": "carol", "domain_id": did, "password": "c"}}).to_string();
    let uid = call(&app, "POST", "/identity/v3/users", Some(&tok), Some(&body)).await.body["user"]["id"].as_str().unwrap().to_string();
    let member = format!("/identity/v3/groups/{gid}/users/{uid}");
    assert_eq!(call(&app, "PUT", &member, Some(&tok), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(call(&app, "HEAD", &member, Some(&tok), None).await.status, StatusCode::NO_CONTENT);
    let rid = call(&app, "GET", "/identity/v3/roles?name=admin", Some(&tok), None).await.body["roles"][0]["id"].as_str().unwrap().to_string();
    let grant = format!("/identity/v3/domains/{did}/groups/{gid}/roles/{rid}");
    assert_eq!(call(&app, "PUT", &grant, Some(&tok), None).await.status, StatusCode::NO_CONTENT);
    let r = call(&app, "GET", &format!("/identity/v3/role_assignments?user.id={uid}&effective"), Some(&tok), None).await;
    let rows = r.body["role_assignments"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "admin, manager, member, reader through the group: {}", r.body);
    assert!(rows.iter().all(|a| a["scope"]["domain"]["id"] == json!(did) && a["links"]["membership"].is_string()));
    // A domain-scoped token for carol.
    let body =
        json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": uid, "password": "c"}}}, "scope": {"domain": {"name": "lab"}}}});
    let r = login_raw(&app, &body.to_string()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["token"]["domain"]["id"], json!(did));
    // An enabled domain cannot be deleted; a disabled one can.
    assert_keystone_error(&call(&app, "DELETE", &format!("/identity/v3/domains/{did}"), Some(&tok), None).await, 403);
    let off = call(&app, "PATCH", &format!("/identity/v3/domains/{did}"), Some(&tok), Some(r#"{"domain": {"enabled": false}}"#)).await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.body);
    assert_eq!(call(&app, "DELETE", &format!("/identity/v3/domains/{did}"), Some(&tok), None).await.status, StatusCode::NO_CONTENT);
    assert_keystone_error(&call(&app, "GET", &format!("/identity/v3/users/{uid}"), Some(&tok), None).await, 404);
}

#[tokio::test]
async fn system_grants_scope_tokens_to_the_whole_cloud() {
    let app = app().await;
    let tok = admin(&app).await;
    let r = call(&app, "POST", "/identity/v3/users", Some(&tok), Some(r#"{"user": {"name": "ops", "password": "ops-pw"}}"#)).await;
    let uid = r.body["user"]["id"].as_str().unwrap().to_string();
    let rid = call(&app, "GET", "/identity/v3/roles?name=reader", Some(&tok), None).await.body["roles"][0]["id"].as_str().unwrap().to_string();
    let system_login = |scope: Value| {
        let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": uid, "password": "ops-pw"}}}, "scope": scope}});
        let app = app.clone();
        async move { login_raw(&app, &body.to_string()).await }
    };
    assert_keystone_error(&system_login(json!({"system": {"all": true}})).await, 401);
    let grant = format!("/identity/v3/system/users/{uid}/roles/{rid}");
    assert_eq!(call(&app, "HEAD", &grant, Some(&tok), None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(call(&app, "PUT", &grant, Some(&tok), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(call(&app, "HEAD", &grant, Some(&tok), None).await.status, StatusCode::NO_CONTENT);
    let listed = call(&app, "GET", &format!("/identity/v3/system/users/{uid}/roles"), Some(&tok), None).await;
    assert_eq!(listed.body["roles"][0]["name"], "reader", "{}", listed.body);
    assert!(listed.body["links"]["self"].as_str().unwrap().ends_with(&format!("/v3/system/users/{uid}/roles")));
    // A system-scoped token: the system, its roles and the catalog.
    let r = system_login(json!({"system": {"all": true}})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let t = &r.body["token"];
    assert_eq!((t["system"].clone(), t["roles"][0]["name"].clone(), t.get("project").is_none()), (json!({"all": true}), json!("reader"), true));
    assert!(t["catalog"].as_array().is_some_and(|c| !c.is_empty()));
    let ops = subject(&r);
    assert_eq!(call(&app, "GET", "/identity/v3/auth/system", Some(&ops), None).await.body["system"], json!([{"all": true}]));
    assert_eq!(call(&app, "GET", "/identity/v3/auth/system", Some(&tok), None).await.body["system"], json!([]));
    assert_keystone_error(&call(&app, "POST", "/identity/v3/projects", Some(&ops), Some(r#"{"project": {"name": "x"}}"#)).await, 403);
    // Role assignments show the system scope and filter on it.
    let rows = call(&app, "GET", "/identity/v3/role_assignments?scope.system=all", Some(&tok), None).await.body["role_assignments"].clone();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    assert_eq!(rows[0]["scope"], json!({"system": {"all": true}}));
    assert!(rows[0]["links"]["assignment"].as_str().unwrap().ends_with(&format!("/v3/system/users/{uid}/roles/{rid}")));
    let on_projects = call(&app, "GET", &format!("/identity/v3/role_assignments?user.id={uid}&scope.project.id={uid}"), Some(&tok), None).await;
    assert_eq!(on_projects.body["role_assignments"], json!([]));
    // Bad system scopes are 400; revoking the grant ends the token.
    assert_keystone_error(&system_login(json!({"system": {"all": false}})).await, 400);
    assert_keystone_error(&system_login(json!({"system": {"all": true}, "project": {"id": uid}})).await, 400);
    assert_eq!(call(&app, "DELETE", &grant, Some(&tok), None).await.status, StatusCode::NO_CONTENT);
    assert_keystone_error(&call(&app, "GET", "/identity/v3/auth/system", Some(&ops), None).await, 401);
    assert_keystone_error(&call(&app, "DELETE", &grant, Some(&tok), None).await, 404);
}

#[tokio::test]
async fn users_and_groups_keep_extra_attributes() {
    let app = app().await;
    let tok = admin(&app).await;
    let r = call(&app, "POST", "/identity/v3/users", Some(&tok), Some(r#"{"user": {"name": "x", "project_id": "p1", "tier": {"a": 1}, "description": null}}"#))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!((r.body["user"]["project_id"].clone(), r.body["user"]["tier"].clone()), (json!("p1"), json!({"a": 1})));
    let uid = r.body["user"]["id"].as_str().unwrap().to_string();
    let path = format!("/identity/v3/users/{uid}");
    let r = call(&app, "PATCH", &path, Some(&tok), Some(r#"{"user": {"project_id": "p2", "email": "x@example.org"}}"#)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let shown = call(&app, "GET", &path, Some(&tok), None).await.body["user"].clone();
    assert_eq!((shown["project_id"].clone(), shown["tier"].clone(), shown["email"].clone()), (json!("p2"), json!({"a": 1}), json!("x@example.org")));
    // Keystone's own fields keep their types; the response's own keys cannot be set.
    assert_keystone_error(&call(&app, "PATCH", &path, Some(&tok), Some(r#"{"user": {"enabled": "yes"}}"#)).await, 400);
    let same_id = json!({"user": {"id": uid, "enabled": true}}).to_string();
    assert_eq!(call(&app, "PATCH", &path, Some(&tok), Some(&same_id)).await.status, StatusCode::OK, "the record's own id may be repeated");
    assert_keystone_error(&call(&app, "PATCH", &path, Some(&tok), Some(r#"{"user": {"id": "other"}}"#)).await, 400);
    assert_keystone_error(&call(&app, "POST", "/identity/v3/users", Some(&tok), Some(r#"{"user": {"name": "y", "links": 1}}"#)).await, 400);
    let r = call(&app, "POST", "/identity/v3/groups", Some(&tok), Some(r#"{"group": {"name": "g", "project_id": "p1"}}"#)).await;
    assert_eq!((r.status, r.body["group"]["project_id"].clone()), (StatusCode::CREATED, json!("p1")), "{}", r.body);
}

#[tokio::test]
async fn implied_roles_are_created_checked_and_deleted() {
    let app = app().await;
    let tok = admin(&app).await;
    let role = |name: &'static str| {
        let app = app.clone();
        let tok = tok.clone();
        async move {
            let body = json!({"role": {"name": name}}).to_string();
            call(&app, "POST", "/identity/v3/roles", Some(&tok), Some(&body)).await.body["role"]["id"].as_str().unwrap().to_string()
        }
    };
    let (a, b, c) = (role("e2e-a").await, role("e2e-b").await, role("e2e-c").await);
    let path = |p: &str, i: &str| format!("/identity/v3/roles/{p}/implies/{i}");
    let r = call(&app, "PUT", &path(&a, &b), Some(&tok), None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!((r.body["role_inference"]["prior_role"]["name"].clone(), r.body["role_inference"]["implies"]["name"].clone()), (json!("e2e-a"), json!("e2e-b")));
    assert_eq!(call(&app, "PUT", &path(&b, &c), Some(&tok), None).await.status, StatusCode::CREATED);
    assert_eq!(call(&app, "HEAD", &path(&a, &b), Some(&tok), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(call(&app, "GET", &path(&a, &b), Some(&tok), None).await.status, StatusCode::OK);
    assert_eq!(call(&app, "HEAD", &path(&a, &c), Some(&tok), None).await.status, StatusCode::NOT_FOUND);
    // Cycles and the admin role are refused.
    assert_keystone_error(&call(&app, "PUT", &path(&c, &a), Some(&tok), None).await, 400);
    assert_keystone_error(&call(&app, "PUT", &path(&a, &a), Some(&tok), None).await, 400);
    let admin_role = call(&app, "GET", "/identity/v3/roles?name=admin", Some(&tok), None).await.body["roles"][0]["id"].as_str().unwrap().to_string();
    assert_keystone_error(&call(&app, "PUT", &path(&a, &admin_role), Some(&tok), None).await, 403);
    let inferences = call(&app, "GET", "/identity/v3/role_inferences", Some(&tok), None).await.body;
    assert!(inferences["role_inferences"].as_array().unwrap().iter().any(|i| i["prior_role"]["id"] == json!(a)), "{inferences}");
    assert_eq!(call(&app, "DELETE", &path(&a, &b), Some(&tok), None).await.status, StatusCode::NO_CONTENT);
    assert_keystone_error(&call(&app, "DELETE", &path(&a, &b), Some(&tok), None).await, 404);
}

#[tokio::test]
async fn project_tags_are_added_checked_replaced_and_removed() {
    let app = app().await;
    let tok = admin(&app).await;
    let r = call(&app, "POST", "/identity/v3/projects", Some(&tok), Some(r#"{"project": {"name": "tagged", "tags": ["a"]}}"#)).await;
    let pid = r.body["project"]["id"].as_str().unwrap().to_string();
    let tags = format!("/identity/v3/projects/{pid}/tags");
    let r = call(&app, "PUT", &format!("{tags}/blue"), Some(&tok), None).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(r.headers["location"].to_str().unwrap().ends_with(&format!("/projects/{pid}/tags/blue")));
    assert_eq!(call(&app, "GET", &tags, Some(&tok), None).await.body["tags"], json!(["a", "blue"]));
    assert_eq!(call(&app, "GET", &format!("{tags}/blue"), Some(&tok), None).await.status, StatusCode::NO_CONTENT);
    assert_keystone_error(&call(&app, "GET", &format!("{tags}/green"), Some(&tok), None).await, 404);
    assert_keystone_error(&call(&app, "PUT", &format!("{tags}/a,b"), Some(&tok), None).await, 400);
    let r = call(&app, "PUT", &tags, Some(&tok), Some(r#"{"tags": ["x", "y"]}"#)).await;
    assert_eq!((r.status, r.body["tags"].clone()), (StatusCode::OK, json!(["x", "y"])));
    assert_eq!(call(&app, "DELETE", &format!("{tags}/x"), Some(&tok), None).await.status, StatusCode::NO_CONTENT);
    assert_keystone_error(&call(&app, "DELETE", &format!("{tags}/x"), Some(&tok), None).await, 404);
    assert_eq!(call(&app, "DELETE", &tags, Some(&tok), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(call(&app, "GET", &format!("/identity/v3/projects/{pid}"), Some(&tok), None).await.body["project"]["tags"], json!([]));
}

#[tokio::test]
async fn credentials_and_ec2_keys_belong_to_their_user() {
    let app = app().await;
    let tok = admin(&app).await;
    let pid = call(&app, "GET", "/identity/v3/projects?name=admin", Some(&tok), None).await.body["projects"][0]["id"].as_str().unwrap().to_string();
    let body = json!({"user": {"name": "dave", "password": "d", "default_project_id": pid}}).to_string();
    let uid = call(&app, "POST", "/identity/v3/users", Some(&tok), Some(&body)).await.body["user"]["id"].as_str().unwrap().to_string();
    let rid = call(&app, "GET", "/identity/v3/roles?name=member", Some(&tok), None).await.body["roles"][0]["id"].as_str().unwrap().to_string();
    call(&app, "PUT", &format!("/identity/v3/projects/{pid}/users/{uid}/roles/{rid}"), Some(&tok), None).await;
    let dave = subject(&login(&app, "dave", "d", None).await);
    // A generic ec2 credential: its id is the SHA-256 of the access key.
    let blob = json!({"access": "abc", "secret": "s1"}).to_string();
    let body = json!({"credential": {"user_id": uid, "project_id": pid, "type": "ec2", "blob": blob}}).to_string();
    let r = call(&app, "POST", "/identity/v3/credentials", Some(&dave), Some(&body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let cid = r.body["credential"]["id"].as_str().unwrap().to_string();
    assert_eq!(cid, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_keystone_error(&call(&app, "POST", "/identity/v3/credentials", Some(&dave), Some(&body)).await, 409);
    let no_project = json!({"credential": {"user_id": uid, "type": "ec2", "blob": blob}}).to_string();
    assert_keystone_error(&call(&app, "POST", "/identity/v3/credentials", Some(&dave), Some(&no_project)).await, 400);
    let upd = json!({"credential": {"blob": json!({"access": "abc", "secret": "s2"}).to_string()}}).to_string();
    let r = call(&app, "PATCH", &format!("/identity/v3/credentials/{cid}"), Some(&dave), Some(&upd)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body["credential"]["blob"].as_str().unwrap().contains("s2"));
    // EC2: the OS-EC2 view makes keys and shows the same records.
    let r = call(&app, "POST", &format!("/identity/v3/users/{uid}/credentials/OS-EC2"), Some(&dave), Some(&json!({"tenant_id": pid}).to_string())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let access = r.body["credential"]["access"].as_str().unwrap().to_string();
    assert_eq!((access.len(), r.body["credential"]["tenant_id"].clone()), (32, json!(pid)));
    let listed = call(&app, "GET", &format!("/identity/v3/users/{uid}/credentials/OS-EC2"), Some(&dave), None).await.body;
    assert_eq!(listed["credentials"].as_array().unwrap().len(), 2, "{listed}");
    let ec2 = format!("/identity/v3/users/{uid}/credentials/OS-EC2/{access}");
    assert_eq!(call(&app, "GET", &ec2, Some(&dave), None).await.body["credential"]["access"], json!(access));
    // Another user sees none of them; the admin sees all; deleting the user deletes them.
    assert_eq!(call(&app, "GET", "/identity/v3/credentials", Some(&tok), None).await.body["credentials"].as_array().unwrap().len(), 2);
    assert_eq!(call(&app, "DELETE", &ec2, Some(&dave), None).await.status, StatusCode::NO_CONTENT);
    assert_keystone_error(&call(&app, "GET", &ec2, Some(&dave), None).await, 404);
    assert_eq!(call(&app, "DELETE", &format!("/identity/v3/users/{uid}"), Some(&tok), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(call(&app, "GET", "/identity/v3/credentials", Some(&tok), None).await.body["credentials"], json!([]));
}

#[tokio::test]
async fn admins_register_regions_services_and_endpoints_and_tokens_list_them() {
    let app = app().await;
    let tok = admin(&app).await;
    let r = call(&app, "POST", "/identity/v3/regions", Some(&tok), Some(r#"{"region": {"id": "RegionTwo", "parent_region_id": "RegionOne"}}"#)).await;
    assert_eq!((r.status, r.body["region"]["parent_region_id"].clone()), (StatusCode::CREATED, json!("RegionOne")), "{}", r.body);
    assert_keystone_error(&call(&app, "POST", "/identity/v3/regions", Some(&tok), Some(r#"{"region": {"id": "RegionTwo"}}"#)).await, 409);
    assert_keystone_error(
        &call(&app, "POST", "/identity/v3/regions", Some(&tok), Some(r#"{"region": {"id": "R3", "parent_region_id": "nowhere"}}"#)).await,
        404,
    );
    assert_keystone_error(&call(&app, "DELETE", "/identity/v3/regions/RegionOne", Some(&tok), None).await, 403);
    let kids = call(&app, "GET", "/identity/v3/regions?parent_region_id=RegionOne", Some(&tok), None).await.body["regions"].clone();
    assert_eq!(kids.as_array().unwrap().len(), 1);
    let r = call(&app, "POST", "/identity/v3/services", Some(&tok), Some(r#"{"service": {"type": "object-store", "name": "swift"}}"#)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let sid = r.body["service"]["id"].as_str().unwrap().to_string();
    let ep = json!({"endpoint": {"service_id": sid, "interface": "public", "url": "http://swift.example/v1", "region_id": "RegionTwo"}}).to_string();
    let r = call(&app, "POST", "/identity/v3/endpoints", Some(&tok), Some(&ep)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let eid = r.body["endpoint"]["id"].as_str().unwrap().to_string();
    let bad = json!({"endpoint": {"service_id": sid, "interface": "sideways", "url": "http://x"}}).to_string();
    assert_keystone_error(&call(&app, "POST", "/identity/v3/endpoints", Some(&tok), Some(&bad)).await, 400);
    // A new token's catalog lists the registered service with its endpoint.
    let r = login(&app, "admin", PASSWORD, Some("admin")).await;
    let swift = r.body["token"]["catalog"].as_array().unwrap().iter().find(|s| s["type"] == "object-store").cloned().unwrap();
    assert_eq!(swift["endpoints"][0]["url"], "http://swift.example/v1");
    // Built-ins are read-only; a region with endpoints cannot go; deleting the service takes its endpoints.
    let nova = call(&app, "GET", "/identity/v3/services?type=compute", Some(&tok), None).await.body["services"][0]["id"].as_str().unwrap().to_string();
    assert_keystone_error(&call(&app, "DELETE", &format!("/identity/v3/services/{nova}"), Some(&tok), None).await, 403);
    assert_keystone_error(&call(&app, "DELETE", "/identity/v3/regions/RegionTwo", Some(&tok), None).await, 403);
    let r = call(&app, "PATCH", &format!("/identity/v3/endpoints/{eid}"), Some(&tok), Some(r#"{"endpoint": {"enabled": false}}"#)).await;
    assert_eq!(r.body["endpoint"]["enabled"], json!(false));
    assert_eq!(call(&app, "DELETE", &format!("/identity/v3/services/{sid}"), Some(&tok), None).await.status, StatusCode::NO_CONTENT);
    assert_keystone_error(&call(&app, "GET", &format!("/identity/v3/endpoints/{eid}"), Some(&tok), None).await, 404);
    assert_eq!(call(&app, "DELETE", "/identity/v3/regions/RegionTwo", Some(&tok), None).await.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn policies_and_oauth1_consumers_are_admin_records() {
    let app = app().await;
    let tok = admin(&app).await;
    let r = call(&app, "POST", "/identity/v3/policies", Some(&tok), Some(r#"{"policy": {"type": "application/json", "blob": "{}"}}"#)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let pid = r.body["policy"]["id"].as_str().unwrap().to_string();
    let r = call(&app, "PATCH", &format!("/identity/v3/policies/{pid}"), Some(&tok), Some(r#"{"policy": {"type": "text/plain"}}"#)).await;
    assert_eq!((r.body["policy"]["type"].clone(), r.body["policy"]["blob"].clone()), (json!("text/plain"), json!("{}")));
    assert_keystone_error(&call(&app, "POST", "/identity/v3/policies", Some(&tok), Some(r#"{"policy": {"blob": "{}"}}"#)).await, 400);
    assert_eq!(call(&app, "GET", "/identity/v3/policies", Some(&tok), None).await.body["policies"].as_array().unwrap().len(), 1);
    assert_eq!(call(&app, "DELETE", &format!("/identity/v3/policies/{pid}"), Some(&tok), None).await.status, StatusCode::NO_CONTENT);
    assert_keystone_error(&call(&app, "GET", &format!("/identity/v3/policies/{pid}"), Some(&tok), None).await, 404);
    let r = call(&app, "POST", "/identity/v3/OS-OAUTH1/consumers", Some(&tok), Some(r#"{"consumer": {"description": "ci"}}"#)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["consumer"]["secret"].as_str().unwrap().len(), 64, "the secret is shown once");
    let cid = r.body["consumer"]["id"].as_str().unwrap().to_string();
    let shown = call(&app, "GET", &format!("/identity/v3/OS-OAUTH1/consumers/{cid}"), Some(&tok), None).await.body;
    assert!(shown["consumer"].get("secret").is_none() && shown["consumer"]["description"] == "ci", "{shown}");
    let r = call(&app, "PATCH", &format!("/identity/v3/OS-OAUTH1/consumers/{cid}"), Some(&tok), Some(r#"{"consumer": {"description": "new"}}"#)).await;
    assert_eq!(r.body["consumer"]["description"], "new");
    assert_eq!(call(&app, "DELETE", &format!("/identity/v3/OS-OAUTH1/consumers/{cid}"), Some(&tok), None).await.status, StatusCode::NO_CONTENT);
    assert_keystone_error(&call(&app, "GET", &format!("/identity/v3/OS-OAUTH1/consumers/{cid}"), Some(&tok), None).await, 404);
}

#[tokio::test]
async fn endpoint_groups_filter_on_endpoint_attributes() {
    let app = app().await;
    let tok = admin(&app).await;
    let base = "/identity/v3/OS-EP-FILTER/endpoint_groups";
    let r = call(&app, "POST", base, Some(&tok), Some(r#"{"endpoint_group": {"name": "pub", "filters": {"interface": "public"}}}"#)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let gid = r.body["endpoint_group"]["id"].as_str().unwrap().to_string();
    assert_keystone_error(&call(&app, "POST", base, Some(&tok), Some(r#"{"endpoint_group": {"name": "x", "filters": {"colour": "red"}}}"#)).await, 400);
    assert_keystone_error(&call(&app, "POST", base, Some(&tok), Some(r#"{"endpoint_group": {"name": "x"}}"#)).await, 400);
    let one = format!("{base}/{gid}");
    assert_eq!(call(&app, "HEAD", &one, Some(&tok), None).await.status, StatusCode::OK);
    let r = call(&app, "PATCH", &one, Some(&tok), Some(r#"{"endpoint_group": {"description": "public ones"}}"#)).await;
    assert_eq!(
        (r.body["endpoint_group"]["description"].clone(), r.body["endpoint_group"]["filters"].clone()),
        (json!("public ones"), json!({"interface": "public"}))
    );
    assert_eq!(call(&app, "GET", base, Some(&tok), None).await.body["endpoint_groups"].as_array().unwrap().len(), 1);
    assert_eq!(call(&app, "DELETE", &one, Some(&tok), None).await.status, StatusCode::NO_CONTENT);
    assert_keystone_error(&call(&app, "GET", &one, Some(&tok), None).await, 404);
}

#[tokio::test]
async fn application_credentials_log_in_with_their_roles_and_end_with_their_deletion() {
    let app = app().await;
    let tok = admin(&app).await;
    let pid = call(&app, "GET", "/identity/v3/projects?name=admin", Some(&tok), None).await.body["projects"][0]["id"].as_str().unwrap().to_string();
    let body = json!({"user": {"name": "erin", "password": "e", "default_project_id": pid}}).to_string();
    let uid = call(&app, "POST", "/identity/v3/users", Some(&tok), Some(&body)).await.body["user"]["id"].as_str().unwrap().to_string();
    let rid = call(&app, "GET", "/identity/v3/roles?name=member", Some(&tok), None).await.body["roles"][0]["id"].as_str().unwrap().to_string();
    call(&app, "PUT", &format!("/identity/v3/projects/{pid}/users/{uid}/roles/{rid}"), Some(&tok), None).await;
    let erin = subject(&login(&app, "erin", "e", None).await);
    let base = format!("/identity/v3/users/{uid}/application_credentials");
    let r = call(&app, "POST", &base, Some(&erin), Some(r#"{"application_credential": {"name": "ci", "roles": [{"name": "reader"}]}}"#)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let (cid, secret) =
        (r.body["application_credential"]["id"].as_str().unwrap().to_string(), r.body["application_credential"]["secret"].as_str().unwrap().to_string());
    assert_eq!(r.body["application_credential"]["project_id"], json!(pid));
    assert_keystone_error(&call(&app, "POST", &base, Some(&erin), Some(r#"{"application_credential": {"name": "ci"}}"#)).await, 409);
    assert_keystone_error(
        &call(&app, "POST", &base, Some(&erin), Some(r#"{"application_credential": {"name": "x", "roles": [{"name": "admin"}]}}"#)).await,
        403,
    );
    let shown = call(&app, "GET", &format!("{base}/{cid}"), Some(&erin), None).await.body;
    assert!(shown["application_credential"].get("secret").is_none(), "the secret is shown once");
    let auth = |secret: &str| {
        json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": {"id": cid, "secret": secret}}}}).to_string()
    };
    let r = login_raw(&app, &auth(&secret)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let t = &r.body["token"];
    let roles: Vec<&str> = t["roles"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!((t["project"]["id"].clone(), roles, t["application_credential"]["name"].clone()), (json!(pid), vec!["reader"], json!("ci")));
    let app_tok = subject(&r);
    assert_keystone_error(&login_raw(&app, &auth("wrong")).await, 401);
    // The credential's token may read but, holding only reader, not write.
    assert_eq!(call(&app, "GET", &format!("/identity/v3/projects/{pid}"), Some(&app_tok), None).await.status, StatusCode::OK);
    assert_eq!(call(&app, "DELETE", &format!("{base}/{cid}"), Some(&erin), None).await.status, StatusCode::NO_CONTENT);
    assert_keystone_error(&call(&app, "GET", &format!("/identity/v3/projects/{pid}"), Some(&app_tok), None).await, 401);
    assert_keystone_error(&login_raw(&app, &auth(&secret)).await, 401);
}

#[tokio::test]
async fn inherited_grants_apply_to_the_projects_below_and_not_to_their_target() {
    let app = app().await;
    let tok = admin(&app).await;
    let top = call(&app, "POST", "/identity/v3/projects", Some(&tok), Some(r#"{"project": {"name": "top"}}"#)).await.body["project"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let leaf_body = json!({"project": {"name": "leaf", "parent_id": top}}).to_string();
    let leaf = call(&app, "POST", "/identity/v3/projects", Some(&tok), Some(&leaf_body)).await.body["project"]["id"].as_str().unwrap().to_string();
    let uid = call(&app, "POST", "/identity/v3/users", Some(&tok), Some(r#"{"user": {"name": "frank", "password": "f"}}"#)).await.body["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let rid = call(&app, "GET", "/identity/v3/roles?name=member", Some(&tok), None).await.body["roles"][0]["id"].as_str().unwrap().to_string();
    let grant = format!("/identity/v3/OS-INHERIT/projects/{top}/users/{uid}/roles/{rid}/inherited_to_projects");
    assert_eq!(call(&app, "PUT", &grant, Some(&tok), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(call(&app, "HEAD", &grant, Some(&tok), None).await.status, StatusCode::NO_CONTENT);
    let scoped = |project: String| {
        let app = app.clone();
        async move {
            let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "frank", "domain": {"id": "default"}, "password": "f"}}}, "scope": {"project": {"id": project}}}});
            login_raw(&app, &body.to_string()).await.status
        }
    };
    assert_eq!(scoped(leaf.clone()).await, StatusCode::CREATED, "the leaf inherits the grant");
    assert_eq!(scoped(top.clone()).await, StatusCode::UNAUTHORIZED, "the project itself does not");
    let eff = call(&app, "GET", &format!("/identity/v3/role_assignments?effective&user.id={uid}&scope.project.id={leaf}"), Some(&tok), None).await.body;
    assert!(!eff["role_assignments"].as_array().unwrap().is_empty(), "{eff}");
    let listed = call(&app, "GET", "/identity/v3/role_assignments?scope.OS-INHERIT:inherited_to=projects", Some(&tok), None).await.body;
    assert_eq!(listed["role_assignments"][0]["scope"]["OS-INHERIT:inherited_to"], "projects", "{listed}");
    assert_eq!(call(&app, "DELETE", &grant, Some(&tok), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(scoped(leaf).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn trusts_delegate_roles_the_trustor_holds_and_are_private_to_their_parties() {
    let app = app().await;
    let tok = admin(&app).await;
    let pid = call(&app, "GET", "/identity/v3/projects?name=admin", Some(&tok), None).await.body["projects"][0]["id"].as_str().unwrap().to_string();
    let user = |name: &'static str| {
        let (app, tok, pid) = (app.clone(), tok.clone(), pid.clone());
        async move {
            let body = json!({"user": {"name": name, "password": name, "default_project_id": pid}}).to_string();
            call(&app, "POST", "/identity/v3/users", Some(&tok), Some(&body)).await.body["user"]["id"].as_str().unwrap().to_string()
        }
    };
    let (gina, hal, ivy) = (user("gina").await, user("hal").await, user("ivy").await);
    let rid = call(&app, "GET", "/identity/v3/roles?name=member", Some(&tok), None).await.body["roles"][0]["id"].as_str().unwrap().to_string();
    call(&app, "PUT", &format!("/identity/v3/projects/{pid}/users/{gina}/roles/{rid}"), Some(&tok), None).await;
    let gtok = subject(&login(&app, "gina", "gina", None).await);
    let body = |roles: Value| {
        json!({"trust": {"trustor_user_id": gina, "trustee_user_id": hal, "project_id": pid, "impersonation": false, "roles": roles, "expires_at": "2099-01-01T00:00:00Z"}}).to_string()
    };
    let r = call(&app, "POST", "/identity/v3/OS-TRUST/trusts", Some(&gtok), Some(&body(json!([{"name": "member"}])))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!((r.body["trust"]["expires_at"].clone(), r.body["trust"]["roles"][0]["name"].clone()), (json!("2099-01-01T00:00:00.000000Z"), json!("member")));
    let tid = r.body["trust"]["id"].as_str().unwrap().to_string();
    assert_keystone_error(&call(&app, "POST", "/identity/v3/OS-TRUST/trusts", Some(&gtok), Some(&body(json!([{"name": "admin"}])))).await, 403);
    assert_keystone_error(&call(&app, "POST", "/identity/v3/OS-TRUST/trusts", Some(&tok), Some(&body(json!([])))).await, 403);
    assert_eq!(
        call(&app, "GET", &format!("/identity/v3/OS-TRUST/trusts?trustor_user_id={gina}"), Some(&gtok), None).await.body["trusts"].as_array().unwrap().len(),
        1
    );
    assert_eq!(call(&app, "HEAD", &format!("/identity/v3/OS-TRUST/trusts/{tid}/roles/{rid}"), Some(&gtok), None).await.status, StatusCode::OK);
    let itok = subject(&login(&app, "ivy", "ivy", None).await);
    let _ = ivy;
    assert_keystone_error(&call(&app, "GET", &format!("/identity/v3/OS-TRUST/trusts/{tid}"), Some(&itok), None).await, 404);
    let scoped = json!({"auth": {"identity": {"methods": ["token"], "token": {"id": gtok}}, "scope": {"OS-TRUST:trust": {"id": tid}}}}).to_string();
    assert_keystone_error(&login_raw(&app, &scoped).await, 501);
    assert_eq!(call(&app, "DELETE", &format!("/identity/v3/OS-TRUST/trusts/{tid}"), Some(&gtok), None).await.status, StatusCode::NO_CONTENT);
    assert_keystone_error(&call(&app, "GET", &format!("/identity/v3/OS-TRUST/trusts/{tid}"), Some(&gtok), None).await, 404);
}

async fn new_domain(app: &Router, tok: &str, name: &str) -> String {
    let r = call(app, "POST", "/identity/v3/domains", Some(tok), Some(&json!({"domain": {"name": name}}).to_string())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["domain"]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn domain_configuration_is_stored_served_and_validated_as_keystone() {
    let app = app().await;
    let tok = admin(&app).await;
    let did = new_domain(&app, &tok, "ldap-lab").await;
    let cfg = |rest: &str| format!("/identity/v3/domains/{did}/config{rest}");
    assert_keystone_error(&call(&app, "GET", &cfg(""), Some(&tok), None).await, 404);
    let body = json!({"config": {"identity": {"driver": "ldap"}, "ldap": {"url": "ldap://x:389/", "password": "s3cret"}}}).to_string();
    let r = call(&app, "PUT", &cfg(""), Some(&tok), Some(&body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["config"], json!({"identity": {"driver": "ldap"}, "ldap": {"url": "ldap://x:389/"}}), "the password is never shown");
    assert_eq!(call(&app, "PUT", &cfg(""), Some(&tok), Some(&body)).await.status, StatusCode::OK, "a replacement is 200");
    assert_eq!(call(&app, "GET", &cfg("/ldap/url"), Some(&tok), None).await.body, json!({"config": {"url": "ldap://x:389/"}}));
    assert_eq!(call(&app, "GET", &cfg("/identity"), Some(&tok), None).await.body, json!({"config": {"identity": {"driver": "ldap"}}}));
    assert_keystone_error(&call(&app, "GET", &cfg("/ldap/password"), Some(&tok), None).await, 404);
    assert_keystone_error(&call(&app, "GET", &cfg("/ldap/nope"), Some(&tok), None).await, 403);
    assert_keystone_error(&call(&app, "PUT", &cfg(""), Some(&tok), Some(r#"{"config": {"catalog": {"driver": "sql"}}}"#)).await, 403);
    assert_keystone_error(&call(&app, "PUT", &cfg(""), Some(&tok), Some(r#"{"config": {"identity": "ldap"}}"#)).await, 403);
    assert_keystone_error(&call(&app, "PUT", &cfg(""), Some(&tok), Some(r#"{"config": {}}"#)).await, 403);
    // Group and option updates keep JSON types; the answer is the whole configuration.
    let r = call(&app, "PATCH", &cfg("/identity"), Some(&tok), Some(r#"{"config": {"identity": {"driver": "d2", "list_limit": 42}}}"#)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["config"]["identity"], json!({"driver": "d2", "list_limit": 42}));
    assert_eq!(r.body["config"]["ldap"], json!({"url": "ldap://x:389/"}));
    let r = call(&app, "PATCH", &cfg("/identity/driver"), Some(&tok), Some(r#"{"config": {"driver": "d3"}}"#)).await;
    assert_eq!(r.body["config"]["identity"]["driver"], "d3", "{}", r.body);
    assert_keystone_error(&call(&app, "PATCH", &cfg("/ldap/user"), Some(&tok), Some(r#"{"config": {"user": "cn=a"}}"#)).await, 404);
    assert_keystone_error(&call(&app, "PATCH", &cfg("/identity"), Some(&tok), Some(r#"{"config": {"ldap": {"url": "y"}}}"#)).await, 403);
    assert_eq!(call(&app, "DELETE", &cfg("/identity/driver"), Some(&tok), None).await.status, StatusCode::NO_CONTENT);
    assert_keystone_error(&call(&app, "GET", &cfg("/identity/driver"), Some(&tok), None).await, 404);
    assert_eq!(call(&app, "DELETE", &cfg("/identity"), Some(&tok), None).await.status, StatusCode::NO_CONTENT);
    assert_keystone_error(&call(&app, "GET", &cfg("/identity"), Some(&tok), None).await, 404);
    assert_eq!(call(&app, "DELETE", &cfg(""), Some(&tok), None).await.status, StatusCode::NO_CONTENT);
    assert_keystone_error(&call(&app, "GET", &cfg(""), Some(&tok), None).await, 404);
    assert_keystone_error(&call(&app, "GET", "/identity/v3/domains/nope/config", Some(&tok), None).await, 404);
}

#[tokio::test]
async fn domain_configuration_defaults_and_password_rules() {
    let app = app().await;
    let tok = admin(&app).await;
    let r = call(&app, "GET", "/identity/v3/domains/config/default", Some(&tok), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["config"]["identity"], json!({"driver": "sql", "list_limit": null}));
    assert_eq!(r.body["config"]["ldap"]["page_size"], json!(0));
    assert_eq!(r.body["config"]["ldap"]["pool_retry_delay"], json!(0.1));
    let r = call(&app, "GET", "/identity/v3/domains/config/ldap/default", Some(&tok), None).await;
    assert_eq!(r.body["config"].as_object().unwrap().keys().collect::<Vec<_>>(), vec!["ldap"]);
    let r = call(&app, "GET", "/identity/v3/domains/config/ldap/url/default", Some(&tok), None).await;
    assert_eq!(r.body, json!({"config": {"url": "ldap://localhost"}}));
    assert_keystone_error(&call(&app, "GET", "/identity/v3/domains/config/ldap/password/default", Some(&tok), None).await, 403);
    assert_keystone_error(&call(&app, "GET", "/identity/v3/domains/config/catalog/default", Some(&tok), None).await, 403);
    let r = call(&app, "GET", "/identity/v3/domains/default/config/security_compliance", Some(&tok), None).await;
    assert_eq!(r.body, json!({"config": {"security_compliance": {"password_regex": null, "password_regex_description": null}}}));
    let r = call(&app, "GET", "/identity/v3/domains/default/config/security_compliance/password_regex", Some(&tok), None).await;
    assert_eq!(r.body, json!({"config": {"password_regex": null}}));
}

#[tokio::test]
async fn domain_roles_are_listed_by_domain_granted_within_it_and_imply_only_downwards() {
    let app = app().await;
    let tok = admin(&app).await;
    let did = new_domain(&app, &tok, "roles-lab").await;
    let r = call(&app, "POST", "/identity/v3/roles", Some(&tok), Some(&json!({"role": {"name": "dr", "domain_id": did}}).to_string())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let role = r.body["role"].clone();
    assert_eq!(role["domain_id"], json!(did));
    let rid = role["id"].as_str().unwrap().to_string();
    let listed = call(&app, "GET", &format!("/identity/v3/roles?domain_id={did}"), Some(&tok), None).await.body;
    assert_eq!(listed["roles"], json!([role]));
    let global = call(&app, "GET", "/identity/v3/roles", Some(&tok), None).await.body;
    assert!(global["roles"].as_array().unwrap().iter().all(|r| r["id"] != json!(rid) && r["domain_id"].is_null()));
    let dup = call(&app, "POST", "/identity/v3/roles", Some(&tok), Some(&json!({"role": {"name": "dr", "domain_id": did}}).to_string())).await;
    assert_keystone_error(&dup, 409);
    // Granted on a project of its domain only; in effective listings it is left out.
    let r = call(&app, "POST", "/identity/v3/projects", Some(&tok), Some(&json!({"project": {"name": "in", "domain_id": did}}).to_string())).await;
    let pid = r.body["project"]["id"].as_str().unwrap().to_string();
    let uid = call(&app, "POST", "/identity/v3/users", Some(&tok), Some(&json!({"user": {"name": "dora", "domain_id": did}}).to_string())).await.body["user"]
        ["id"]
        .as_str()
        .unwrap()
        .to_string();
    let admin_project = call(&app, "GET", "/identity/v3/projects?name=admin", Some(&tok), None).await.body["projects"][0]["id"].as_str().unwrap().to_string();
    assert_keystone_error(&call(&app, "PUT", &format!("/identity/v3/projects/{admin_project}/users/{uid}/roles/{rid}"), Some(&tok), None).await, 403);
    assert_eq!(call(&app, "PUT", &format!("/identity/v3/projects/{pid}/users/{uid}/roles/{rid}"), Some(&tok), None).await.status, StatusCode::NO_CONTENT);
    let effective = call(&app, "GET", &format!("/identity/v3/role_assignments?effective&user.id={uid}&scope.project.id={pid}"), Some(&tok), None).await;
    assert_eq!(effective.body["role_assignments"], json!([]), "{}", effective.body);
    let direct = call(&app, "GET", &format!("/identity/v3/role_assignments?user.id={uid}"), Some(&tok), None).await;
    assert_eq!(direct.body["role_assignments"].as_array().unwrap().len(), 1);
    // A domain role implies a global one; not the other way round.
    let reader = call(&app, "GET", "/identity/v3/roles?name=reader", Some(&tok), None).await.body["roles"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(call(&app, "PUT", &format!("/identity/v3/roles/{rid}/implies/{reader}"), Some(&tok), None).await.status, StatusCode::CREATED);
    assert_keystone_error(&call(&app, "PUT", &format!("/identity/v3/roles/{reader}/implies/{rid}"), Some(&tok), None).await, 403);
    assert_keystone_error(&call(&app, "PATCH", &format!("/identity/v3/roles/{rid}"), Some(&tok), Some(r#"{"role": {"domain_id": null}}"#)).await, 400);
    assert_eq!(call(&app, "DELETE", &format!("/identity/v3/roles/{rid}"), Some(&tok), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(call(&app, "GET", &format!("/identity/v3/roles?domain_id={did}"), Some(&tok), None).await.body["roles"], json!([]));
}

#[tokio::test]
async fn a_project_acting_as_a_domain_is_a_domain() {
    let app = app().await;
    let tok = admin(&app).await;
    let body = json!({"project": {"name": "acme", "description": "d", "domain_id": null, "is_domain": true}}).to_string();
    let r = call(&app, "POST", "/identity/v3/projects", Some(&tok), Some(&body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let p = r.body["project"].clone();
    assert_eq!((p["is_domain"].clone(), p["domain_id"].clone(), p["parent_id"].clone()), (json!(true), Value::Null, Value::Null));
    let id = p["id"].as_str().unwrap().to_string();
    let domain = call(&app, "GET", &format!("/identity/v3/domains/{id}"), Some(&tok), None).await;
    assert_eq!(domain.body["domain"]["name"], "acme", "{}", domain.body);
    let listed = call(&app, "GET", "/identity/v3/projects?is_domain=true", Some(&tok), None).await.body;
    assert!(listed["projects"].as_array().unwrap().contains(&p), "{listed}");
    let plain = call(&app, "GET", "/identity/v3/projects", Some(&tok), None).await.body;
    assert!(plain["projects"].as_array().unwrap().iter().all(|x| x["id"] != json!(id) && x["is_domain"] == json!(false)));
    assert_eq!(call(&app, "GET", &format!("/identity/v3/projects/{id}"), Some(&tok), None).await.body["project"], p);
    let nested = json!({"project": {"name": "sub", "is_domain": true, "parent_id": id}}).to_string();
    assert_keystone_error(&call(&app, "POST", "/identity/v3/projects", Some(&tok), Some(&nested)).await, 400);
    assert_keystone_error(&call(&app, "DELETE", &format!("/identity/v3/projects/{id}"), Some(&tok), None).await, 403);
    let off = call(&app, "PATCH", &format!("/identity/v3/projects/{id}"), Some(&tok), Some(r#"{"project": {"enabled": false}}"#)).await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.body);
    assert_eq!(off.body["project"]["enabled"], json!(false));
    let flip = call(&app, "PATCH", &format!("/identity/v3/projects/{id}"), Some(&tok), Some(r#"{"project": {"is_domain": false}}"#)).await;
    assert_keystone_error(&flip, 400);
    assert_eq!(call(&app, "DELETE", &format!("/identity/v3/projects/{id}"), Some(&tok), None).await.status, StatusCode::NO_CONTENT);
    assert_keystone_error(&call(&app, "GET", &format!("/identity/v3/domains/{id}"), Some(&tok), None).await, 404);
}
