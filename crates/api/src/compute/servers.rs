//! Compute API: servers (`/v2.1/servers`), their actions and sub-resources.
//!
//! Handlers parse requests into kernel server commands or read closures. Reads copy compact
//! [`view::View`]s out of the kernel and serialize them after the read returns, so the kernel
//! actor never spends time on JSON. Sub-modules: [`create`] (the boot request), [`action`]
//! (`POST /servers/{id}/action`), [`query`] (list filters), [`view`] (response shapes per
//! microversion) and [`extras`] (metadata, tags, addresses, password, instance actions).

pub mod action;
pub mod create;
pub mod extras;
pub mod query;
pub mod view;

#[cfg(test)]
pub(crate) mod tests;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use orrery_kernel::compute::servers::{self as kservers, edit, list, Cmd};
use orrery_kernel::compute::{self as kcompute};
use orrery_kernel::{Command, Uuid};
use serde::{Deserialize, Serialize};
use serde_json::json;

use self::query::Pairs;
use self::view::{Collector, Ctx, Detail, Link, Summary};
use super::versions::{apply, ask, auth, layer, read, Microversion};
use crate::error::{ApiError, Service};
use crate::util::{parse_json, SizedJson};
use crate::AppState;
use orrery_kernel::ask::compute as kask;

const S: Service = Service::Compute;

/// Routes for servers, relative to `/compute`.
pub fn routes() -> Router<AppState> {
    layer(
        Router::new()
            .route("/v2.1/servers", get(index).post(create_server))
            .route("/v2.1/servers/detail", get(detail))
            .route("/v2.1/servers/{id}", get(show).put(update).delete(delete))
            .route("/v2.1/servers/{id}/action", post(server_action))
            .merge(extras::routes()),
    )
}

/// A server id from a path: anything that is not a UUID is simply not found, as in Nova.
fn server_id(text: &str) -> Result<Uuid, ApiError> {
    text.parse().map_err(|_| ApiError::not_found(S, format!("Instance {text} could not be found.")))
}

/// Applies a server command as the caller; its reply says nothing beyond success.
async fn run(s: &AppState, h: &HeaderMap, cmd: Cmd) -> Result<(), ApiError> {
    apply(s, S, auth(h, S)?, Command::Compute(kcompute::Cmd::Server(cmd))).await.map(drop)
}

/// Applies a typed server command as the caller and answers its typed reply.
async fn run_ask<R>(s: &AppState, h: &HeaderMap, a: orrery_kernel::ask::Ask<R>) -> Result<R, ApiError> {
    ask(s, S, auth(h, S)?, a).await
}

/// `x-openstack-request-id` for a response.
fn with_request_id(mut resp: Response, id: &Uuid) -> Response {
    if let Ok(v) = HeaderValue::from_str(&format!("req-{id}")) {
        resp.headers_mut().insert("x-openstack-request-id", v);
    }
    resp
}

/// Percent-encodes a query component.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Nova's `next` link: the same query with the marker moved to the last server shown.
fn next_link(base: &str, path: &str, q: &Pairs, last: &Uuid) -> Vec<Link> {
    let mut params: Vec<String> = q.iter().filter(|(k, _)| k != "marker").map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
    params.push(format!("marker={last}"));
    let href = format!("{base}/compute/v2.1/{path}?{}", params.join("&"));
    vec![Link::next(href)]
}

#[derive(Serialize)]
struct ListBody<T> {
    servers: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    servers_links: Option<Vec<Link>>,
}

/// One page of views, and whether it is full.
async fn page(s: &AppState, h: &HeaderMap, mv: Microversion, q: Pairs, is_detail: bool) -> Result<(Vec<view::View>, bool), ApiError> {
    read(s, S, auth(h, S)?, move |k, c| {
        let Some(lq) = query::parse(k, c, mv, &q, is_detail)? else { return Ok((Vec::new(), false)) };
        let (found, full) = list::list(k, &lq)?;
        let mut col = Collector::new(k, c, mv);
        Ok((found.into_iter().map(|srv| col.view(srv)).collect(), full))
    })
    .await
}

async fn index(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Query(q): Query<Pairs>) -> Result<Json<ListBody<Summary>>, ApiError> {
    let (views, full) = page(&s, &h, mv, q.clone(), false).await?;
    let base = &s.site.base_url;
    let links = full.then(|| views.last().map(|v| next_link(base, "servers", &q, &v.id))).flatten();
    Ok(Json(ListBody { servers: views.into_iter().map(|v| view::summary(v, base)).collect(), servers_links: links }))
}

async fn detail(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Query(q): Query<Pairs>) -> Result<SizedJson<ListBody<Detail>>, ApiError> {
    let (views, full) = page(&s, &h, mv, q.clone(), true).await?;
    let base = &s.site.base_url;
    let links = full.then(|| views.last().map(|v| next_link(base, "servers/detail", &q, &v.id))).flatten();
    let ctx = Ctx { mv, base, single: false };
    let hint = views.len() * 2048;
    Ok(SizedJson(ListBody { servers: views.into_iter().map(|v| view::detail(v, ctx)).collect(), servers_links: links }, hint))
}

/// The full body of one server, as the caller sees it.
async fn one(s: &AppState, h: &HeaderMap, mv: Microversion, id: Uuid) -> Result<Detail, ApiError> {
    let v = one_view(s, h, mv, id).await?;
    Ok(view::detail(v, Ctx { mv, base: &s.site.base_url, single: true }))
}

async fn one_view(s: &AppState, h: &HeaderMap, mv: Microversion, id: Uuid) -> Result<view::View, ApiError> {
    read(s, S, auth(h, S)?, move |k, c| kservers::find(k, c, &id).map(|srv| Collector::new(k, c, mv).view(srv))).await
}

/// The body of an update or rebuild response for one server.
async fn one_edited(s: &AppState, h: &HeaderMap, mv: Microversion, id: Uuid, edit: view::Edit) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    let v = one_view(s, h, mv, id).await?;
    Ok(view::edited(v, Ctx { mv, base: &s.site.base_url, single: true }, edit))
}

#[derive(Serialize)]
struct One {
    server: Detail,
}

async fn show(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Path(id): Path<String>) -> Result<Json<One>, ApiError> {
    auth(&h, S)?;
    Ok(Json(One { server: one(&s, &h, mv, server_id(&id)?).await? }))
}

async fn create_server(State(s): State<AppState>, mv: Microversion, h: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    auth(&h, S)?;
    let body: create::Body = parse_json(S, &body)?;
    let parsed = create::parse(body, mv).map_err(|e| ApiError::new(S, e))?;
    let request_id = parsed.spec.request_id;
    let disk_config = if parsed.spec.auto_disk_config { "AUTO" } else { "MANUAL" };
    let (ids, reservation_id) = run_ask(&s, &h, kask::create_servers(parsed.spec)).await?;
    if parsed.return_reservation_id {
        let resp = (StatusCode::ACCEPTED, Json(json!({"reservation_id": reservation_id}))).into_response();
        return Ok(with_request_id(resp, &request_id));
    }
    let id = ids[0].to_string();
    let links = view::links(&s.site.base_url, "servers", &id);
    let location = format!("{}/compute/v2.1/servers/{id}", s.site.base_url);
    let body = json!({"server": {
        "id": id,
        "links": links,
        "OS-DCF:diskConfig": disk_config,
        "security_groups": parsed.security_groups.iter().map(|name| json!({"name": name})).collect::<Vec<_>>(),
        "adminPass": parsed.admin_pass,
    }});
    let resp = (StatusCode::ACCEPTED, [(header::LOCATION, location)], Json(body)).into_response();
    Ok(with_request_id(resp, &request_id))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    server: UpdateServer,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateServer {
    name: Option<String>,
    #[serde(rename = "accessIPv4", default, deserialize_with = "create::present")]
    access_ipv4: Option<Option<String>>,
    #[serde(rename = "accessIPv6", default, deserialize_with = "create::present")]
    access_ipv6: Option<Option<String>>,
    #[serde(rename = "OS-DCF:diskConfig")]
    disk_config: Option<String>,
    #[serde(default, deserialize_with = "create::present")]
    description: Option<Option<String>>,
    hostname: Option<String>,
}

async fn update(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Json<serde_json::Value>, ApiError> {
    auth(&h, S)?;
    let sid = server_id(&id)?;
    let b: UpdateBody = parse_json(S, &body)?;
    let u = b.server;
    if u.description.is_some() && !mv.at_least(19) {
        return Err(ApiError::bad_request(S, "Invalid input for field/attribute server. Additional properties are not allowed ('description' was unexpected)"));
    }
    if u.hostname.is_some() && !mv.at_least(90) {
        return Err(ApiError::bad_request(S, "Invalid input for field/attribute server. Additional properties are not allowed ('hostname' was unexpected)"));
    }
    let hostname = create::hostname(u.hostname, mv).map_err(|e| ApiError::new(S, e))?;
    create::disk_config(&u.disk_config).map_err(|e| ApiError::new(S, e))?;
    let ip = |field: &str, v: Option<Option<String>>, v6: bool| v.map(|inner| create::access_ip(field, inner, v6)).transpose().map_err(|e| ApiError::new(S, e));
    let (access_ipv4, access_ipv6) = (ip("accessIPv4", u.access_ipv4, false)?, ip("accessIPv6", u.access_ipv6, true)?);
    let cmd = edit::Update { id: sid, name: u.name, description: u.description, access_ipv4, access_ipv6, hostname };
    run(&s, &h, Cmd::Update(Box::new(cmd))).await?;
    Ok(Json(serde_json::json!({"server": one_edited(&s, &h, mv, sid, view::Edit::Update).await?})))
}

async fn delete(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<Response, ApiError> {
    auth(&h, S)?;
    let request_id = crate::util::new_uuid();
    run(&s, &h, Cmd::Delete { id: server_id(&id)?, request_id }).await?;
    Ok(with_request_id(StatusCode::NO_CONTENT.into_response(), &request_id))
}

/// The `evacuate` action: 200, with the admin password before 2.14 and no body from then;
/// from 2.95 the server ends stopped at its destination.
async fn evacuate(s: &AppState, h: &HeaderMap, mv: Microversion, server: Uuid, request_id: Uuid, pass: Option<String>) -> Result<Response, ApiError> {
    let cmd = kcompute::hosts::Cmd::Evacuate { server, request_id, stop: mv.at_least(95) };
    apply(s, S, auth(h, S)?, Command::Compute(kcompute::Cmd::Host(cmd))).await?;
    let resp = if mv.at_least(14) { StatusCode::OK.into_response() } else { Json(json!({"adminPass": pass.unwrap_or_else(create::password)})).into_response() };
    Ok(with_request_id(resp, &request_id))
}

async fn server_action(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    auth(&h, S)?;
    let sid = server_id(&id)?;
    let map: serde_json::Map<String, serde_json::Value> = parse_json(S, &body)?;
    let (parsed, admin_pass) = match action::parse(map, mv) {
        Ok(p) => p,
        // An action orrery does not build still names a server: Nova's 404 comes first.
        Err(e) if e.kind == orrery_kernel::ErrorKind::NotImplemented => {
            one_view(&s, &h, mv, sid).await?;
            return Err(ApiError::new(S, e));
        }
        Err(e) => return Err(ApiError::new(S, e)),
    };
    let request_id = crate::util::new_uuid();
    let action = match parsed {
        action::Parsed::Delete => {
            run(&s, &h, Cmd::Delete { id: sid, request_id }).await?;
            return Ok(with_request_id(StatusCode::ACCEPTED.into_response(), &request_id));
        }
        action::Parsed::Evacuate(pass) => return evacuate(&s, &h, mv, sid, request_id, pass).await,
        action::Parsed::Action(a) => a,
    };
    let (rebuild, confirm) = (matches!(action, kservers::Action::Rebuild(_)), matches!(action, kservers::Action::ConfirmResize));
    let rescue = matches!(action, kservers::Action::Rescue { .. });
    run(&s, &h, Cmd::Action { id: sid, request_id, action }).await?;
    let resp = if rescue {
        // Nova answers the rescue's admin password, made up when none was asked for.
        Json(serde_json::json!({"adminPass": admin_pass.unwrap_or_else(create::password)})).into_response()
    } else if rebuild {
        let mut server = one_edited(&s, &h, mv, sid, view::Edit::Rebuild).await?;
        server.insert("adminPass".into(), admin_pass.unwrap_or_else(create::password).into());
        (StatusCode::ACCEPTED, Json(serde_json::json!({ "server": server }))).into_response()
    } else if confirm {
        StatusCode::NO_CONTENT.into_response()
    } else {
        StatusCode::ACCEPTED.into_response()
    };
    Ok(with_request_id(resp, &request_id))
}
