//! Domain configuration: `/v3/domains/{id}/config[/{group}[/{option}]]` (`PUT` the whole of it,
//! `GET`, `PATCH`, `DELETE` at any level), the default domain's `security_compliance` group,
//! and Keystone's defaults at `/v3/domains/config[/{group}[/{option}]]/default`.
//!
//! Option values are any JSON; they travel through the kernel as canonical JSON text. The
//! kernel validates and keeps the configuration; nothing applies it, since orrery keeps every
//! user itself and has no LDAP driver.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use orrery_kernel::ask::identity as kask;
use orrery_kernel::identity::domain_config::{self as dc, Config, Options};
use orrery_kernel::identity::Cmd;
use orrery_kernel::Error;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{apply, ask, read, S};
use crate::error::ApiError;
use crate::util::parse_json;
use crate::AppState;

type P2 = Path<(String, String)>;
type P3 = Path<(String, String, String)>;

/// Routes for domain configuration and its defaults.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v3/domains/config/default", get(|s: State<AppState>, h: HeaderMap| defaults(s, h, None, None)))
        .route("/v3/domains/config/{group}/default", get(|s: State<AppState>, h: HeaderMap, Path(g): Path<String>| defaults(s, h, Some(g), None)))
        .route("/v3/domains/config/{group}/{option}/default", get(|s: State<AppState>, h: HeaderMap, Path((g, o)): P2| defaults(s, h, Some(g), Some(o))))
        .route(
            "/v3/domains/{id}/config",
            get(|s: State<AppState>, h: HeaderMap, Path(d): Path<String>| show(s, h, d, None, None))
                .put(put_config)
                .patch(|s: State<AppState>, h: HeaderMap, Path(d): Path<String>, b: Bytes| update(s, h, d, None, None, b))
                .delete(|s: State<AppState>, h: HeaderMap, Path(d): Path<String>| delete(s, h, d, None, None)),
        )
        .route(
            "/v3/domains/{id}/config/{group}",
            get(|s: State<AppState>, h: HeaderMap, Path((d, g)): P2| show(s, h, d, Some(g), None))
                .patch(|s: State<AppState>, h: HeaderMap, Path((d, g)): P2, b: Bytes| update(s, h, d, Some(g), None, b))
                .delete(|s: State<AppState>, h: HeaderMap, Path((d, g)): P2| delete(s, h, d, Some(g), None)),
        )
        .route(
            "/v3/domains/{id}/config/{group}/{option}",
            get(|s: State<AppState>, h: HeaderMap, Path((d, g, o)): P3| show(s, h, d, Some(g), Some(o)))
                .patch(|s: State<AppState>, h: HeaderMap, Path((d, g, o)): P3, b: Bytes| update(s, h, d, Some(g), Some(o), b))
                .delete(|s: State<AppState>, h: HeaderMap, Path((d, g, o)): P3| delete(s, h, d, Some(g), Some(o))),
        )
}

/// A request body: `{"config": {...}}`, by group (or, for one option, that option alone).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigBody {
    #[serde(default)]
    config: Map<String, Value>,
}

/// Keystone's 403 for a group whose value is not an object of options.
fn not_a_group(group: &str) -> ApiError {
    let msg = format!("Invalid domain specific configuration: The value of group {group} specified in the config should be a dictionary of options.");
    ApiError::new(S, Error::forbidden("identity.invalid_domain_config", msg))
}

/// Option values as canonical JSON text.
fn options_of(options: Map<String, Value>) -> Options {
    options.into_iter().map(|(o, v)| (o, v.to_string())).collect()
}

/// The configuration a body sends: by group, or for a one-option update `{option: value}`
/// under that option's group.
fn config_of(body: &Bytes, group: Option<&str>, option: Option<&str>) -> Result<Config, ApiError> {
    let b: ConfigBody = parse_json(S, body)?;
    if let (Some(g), Some(_)) = (group, option) {
        return Ok(Config::from([(g.to_string(), options_of(b.config))]));
    }
    b.config
        .into_iter()
        .map(|(g, v)| match v {
            Value::Object(options) => Ok((g, options_of(options))),
            _ => Err(not_a_group(&g)),
        })
        .collect()
}

/// One option value from its JSON text (the kernel holds only text the shell wrote).
fn value_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// A configuration's JSON: `{group: {option: value}}`.
fn config_json(config: &Config) -> Value {
    let groups: Map<String, Value> =
        config.iter().map(|(g, options)| (g.clone(), Value::Object(options.iter().map(|(o, v)| (o.clone(), value_of(v))).collect()))).collect();
    Value::Object(groups)
}

/// The `config` body: the whole configuration, or for one option just `{option: value}`.
fn body(config: &Config, group: Option<&str>, option: Option<&str>) -> Value {
    let shown = match (group, option) {
        (Some(g), Some(o)) => json!({ o: config.get(g).and_then(|options| options.get(o)).map_or(Value::Null, |v| value_of(v)) }),
        _ => config_json(config),
    };
    json!({ "config": shown })
}

/// `GET /v3/domains/{id}/config[/{group}[/{option}]]`; the `security_compliance` group is the
/// default domain's password rules, readable by any caller.
async fn show(State(s): State<AppState>, h: HeaderMap, domain: String, group: Option<String>, option: Option<String>) -> Result<Json<Value>, ApiError> {
    let (g, o) = (group.clone(), option.clone());
    let config = read(&s, &h, move |k, c, _| {
        if g.as_deref() == Some(dc::SECURITY_COMPLIANCE) {
            return dc::security_compliance(k.identity(), &domain, o.as_deref());
        }
        dc::show(k.identity(), c, &domain, g.as_deref(), o.as_deref())
    })
    .await?;
    Ok(Json(body(&config, group.as_deref(), option.as_deref())))
}

/// `PUT /v3/domains/{id}/config`: replaces the whole configuration; 201 for a domain's first,
/// 200 after that.
async fn put_config(State(s): State<AppState>, h: HeaderMap, Path(domain): Path<String>, b: Bytes) -> Result<Response, ApiError> {
    let config = config_of(&b, None, None)?;
    let r = ask(&s, &h, kask::set_domain_config(domain, config)).await?;
    let status = if r.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(body(&r.config, None, None))).into_response())
}

/// `PATCH /v3/domains/{id}/config[/{group}[/{option}]]`: answers the whole configuration.
async fn update(
    State(s): State<AppState>,
    h: HeaderMap,
    domain: String,
    group: Option<String>,
    option: Option<String>,
    b: Bytes,
) -> Result<Json<Value>, ApiError> {
    let config = config_of(&b, group.as_deref(), option.as_deref())?;
    let r = ask(&s, &h, kask::update_domain_config(domain, group, option, config)).await?;
    Ok(Json(body(&r.config, None, None)))
}

/// `DELETE /v3/domains/{id}/config[/{group}[/{option}]]`.
async fn delete(State(s): State<AppState>, h: HeaderMap, domain: String, group: Option<String>, option: Option<String>) -> Result<StatusCode, ApiError> {
    apply(&s, &h, Cmd::DeleteDomainConfig { domain, group, option }).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v3/domains/config[/{group}[/{option}]]/default`: Keystone's defaults.
async fn defaults(State(s): State<AppState>, h: HeaderMap, group: Option<String>, option: Option<String>) -> Result<Json<Value>, ApiError> {
    let (g, o) = (group.clone(), option.clone());
    let config = read(&s, &h, move |_, c, _| dc::defaults(c, g.as_deref(), o.as_deref())).await?;
    Ok(Json(body(&config, group.as_deref(), option.as_deref())))
}
