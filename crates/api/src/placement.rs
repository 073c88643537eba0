//! The Placement API at `/placement`, microversions 1.0 to [`MAX_VERSION`]: resource providers
//! with their inventories, usages, traits and aggregates; allocations per consumer; project
//! usages; allocation candidates; resource classes and traits.
//!
//! orrery's placement is flat (no nested providers, no sharing providers) and models the
//! resource classes VCPU, MEMORY_MB, DISK_GB and VGPU. A host provider's traits come from the
//! topology (its architecture, whether it is disabled) and its aggregates are its host's Nova
//! host aggregates (`os-aggregates`); both are read-only here; custom resource classes and
//! custom traits answer 501. Every path needs the
//! admin role except the version document at the root.

mod allocations;
mod params;
mod providers;
#[cfg(test)]
mod tests;

use axum::extract::{FromRequestParts, Request as HttpRequest};
use axum::http::header::{HeaderMap, HeaderName, HeaderValue, CACHE_CONTROL, LAST_MODIFIED, VARY};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use orrery_kernel::placement::{views as pviews, Provider, CLASSES};
use orrery_kernel::{Caller, Command, Kernel, Reply, Uuid};
use serde_json::{json, Value};

use crate::compute::versions::{apply, auth, read};
use crate::error::{error_body, service_fallback, ApiError, Service};
use crate::AppState;

const S: Service = Service::Placement;

/// The highest placement microversion orrery serves (1.36: `same_subtree`).
pub const MAX_VERSION: u32 = 36;

/// Standard traits orrery knows. Host providers carry `COMPUTE_NODE`, their `HW_ARCH_*` and,
/// when disabled, `COMPUTE_STATUS_DISABLED`.
pub const TRAITS: &[&str] = &[
    "COMPUTE_IMAGE_TYPE_QCOW2",
    "COMPUTE_IMAGE_TYPE_RAW",
    "COMPUTE_NODE",
    "COMPUTE_STATUS_DISABLED",
    "HW_ARCH_AARCH64",
    "HW_ARCH_PPC64LE",
    "HW_ARCH_S390X",
    "HW_ARCH_X86_64",
    "HW_CPU_X86_AVX2",
    "HW_CPU_X86_SSE42",
    "MISC_SHARES_VIA_AGGREGATE",
    "STORAGE_DISK_HDD",
    "STORAGE_DISK_SSD",
];

/// A negotiated placement microversion: 1.`self.0`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32);

impl Version {
    /// Whether this is 1.`minor` or later.
    pub fn at_least(self, minor: u32) -> bool {
        self.0 >= minor
    }

    /// The version a request asks for with `OpenStack-API-Version: placement 1.x`.
    fn from_headers(h: &HeaderMap) -> Result<Version, BadVersion> {
        let asked = crate::util::asked_version(h, "placement").map_err(|msg| BadVersion(StatusCode::BAD_REQUEST, msg))?;
        let Some(text) = asked else { return Ok(Version(0)) };
        if text.eq_ignore_ascii_case("latest") {
            return Ok(Version(MAX_VERSION));
        }
        let parsed = text.split_once('.').and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)));
        match parsed {
            None => Err(BadVersion(StatusCode::BAD_REQUEST, format!("invalid version string: {text}"))),
            Some((1, minor)) if minor <= MAX_VERSION => Ok(Version(minor)),
            Some(_) => Err(BadVersion(StatusCode::NOT_ACCEPTABLE, format!("Unacceptable version header: {text}"))),
        }
    }

    fn stamp(self, resp: &mut Response) {
        let h = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&format!("placement 1.{}", self.0)) {
            h.insert(HeaderName::from_static("openstack-api-version"), v);
        }
        h.insert(VARY, HeaderValue::from_static("openstack-api-version"));
    }
}

/// A malformed (400) or unacceptable (406) placement version header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadVersion(pub StatusCode, pub String);

impl IntoResponse for BadVersion {
    fn into_response(self) -> Response {
        let mut resp = (self.0, Json(error_body(S, self.0, "placement.undefined_code", &self.1))).into_response();
        Version(0).stamp(&mut resp);
        resp
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Version {
    type Rejection = BadVersion;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Version>() {
            Some(v) => Ok(*v),
            None => Version::from_headers(&parts.headers),
        }
    }
}

/// Middleware: negotiates the version, answers 406 for one out of range, and stamps the
/// version header (and, from 1.15, cache headers on successful GETs).
async fn negotiate(mut req: HttpRequest, next: Next) -> Response {
    let v = match Version::from_headers(req.headers()) {
        Ok(v) => v,
        Err(bad) => return bad.into_response(),
    };
    let get = req.method() == Method::GET;
    req.extensions_mut().insert(v);
    let mut resp = next.run(req).await;
    v.stamp(&mut resp);
    if get && v.at_least(15) && resp.status() == StatusCode::OK {
        resp.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        if let Ok(lm) = HeaderValue::from_str(&http_date(crate::cloud::wall_now().as_secs())) {
            resp.headers_mut().insert(LAST_MODIFIED, lm);
        }
    }
    resp
}

/// An RFC 7231 date, like `Tue, 15 Nov 1994 08:12:31 GMT`.
fn http_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let iso = crate::util::iso(orrery_kernel::Time::from_secs(secs));
    let (date, time) = iso.trim_end_matches('Z').split_once('T').unwrap_or(("1970-01-01", "00:00:00"));
    let mut parts = date.split('-');
    let (y, m, d) = (parts.next().unwrap_or("1970"), parts.next().unwrap_or("01"), parts.next().unwrap_or("01"));
    let month = m.parse::<usize>().ok().and_then(|m| MONTHS.get(m.wrapping_sub(1))).copied().unwrap_or("Jan");
    format!("{}, {d} {month} {y} {time} GMT", DAYS[((secs / 86_400) % 7) as usize])
}

/// Routes of the Placement API, relative to its mount point.
pub fn router() -> Router<AppState> {
    let api = Router::new()
        .merge(providers::routes())
        .merge(allocations::routes())
        .route("/resource_classes", get(resource_classes).post(custom_class))
        .route("/resource_classes/{name}", get(resource_class).put(custom_class).delete(custom_class))
        .route("/traits", get(traits))
        .route("/traits/{name}", get(trait_show).put(trait_put).delete(trait_delete))
        .layer(middleware::from_fn(negotiate));
    Router::new().route("/", get(root)).merge(api).fallback(service_fallback(S))
}

/// The version document, served without a token.
pub async fn root() -> Json<Value> {
    Json(json!({"versions": [{
        "id": "v1.0", "min_version": "1.0", "max_version": format!("1.{MAX_VERSION}"),
        "status": "CURRENT", "links": [{"rel": "self", "href": ""}],
    }]}))
}

/// Runs `f` as an admin caller against the kernel.
async fn admin_read<R, F>(s: &AppState, h: &HeaderMap, f: F) -> Result<R, ApiError>
where
    R: Send + 'static,
    F: FnOnce(&Kernel, &Caller) -> orrery_kernel::Result<R> + Send + 'static,
{
    read(s, S, auth(h, S)?, move |k, c| {
        pviews::check_reader(c)?;
        f(k, c)
    })
    .await
}

/// Applies a placement command as the caller.
async fn run(s: &AppState, h: &HeaderMap, cmd: orrery_kernel::placement::Cmd) -> Result<Reply, ApiError> {
    apply(s, S, auth(h, S)?, Command::Placement(cmd)).await
}

/// The traits a provider has: derived from its host (see `placement::views::traits_of`).
fn provider_traits(k: &Kernel, p: &Provider) -> Vec<String> {
    pviews::traits_of(k, p)
}

/// The aggregates a provider belongs to: its host's aggregates.
fn provider_aggregates(k: &Kernel, p: &Provider) -> Vec<Uuid> {
    pviews::aggregates_of(k, p)
}

/// Whether `name` is a trait orrery knows (standard, or an architecture trait).
fn known_trait(name: &str) -> bool {
    TRAITS.contains(&name) || name.starts_with("HW_ARCH_")
}

fn class_json(name: &str) -> Value {
    json!({"name": name, "links": [{"rel": "self", "href": format!("/placement/resource_classes/{name}")}]})
}

async fn resource_classes(s: axum::extract::State<AppState>, h: HeaderMap) -> Result<Json<Value>, ApiError> {
    admin_read(&s, &h, |_, _| Ok(())).await?;
    Ok(Json(json!({"resource_classes": CLASSES.iter().map(|c| class_json(c)).collect::<Vec<_>>()})))
}

async fn resource_class(
    s: axum::extract::State<AppState>,
    h: HeaderMap,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Result<Json<Value>, ApiError> {
    admin_read(&s, &h, |_, _| Ok(())).await?;
    if !CLASSES.contains(&name.as_str()) {
        return Err(ApiError::not_found(S, format!("No such resource class {name}.")));
    }
    Ok(Json(class_json(&name)))
}

async fn custom_class(method: Method, uri: Uri) -> ApiError {
    ApiError::not_implemented(
        S,
        format!("orrery models only the resource classes {}; custom resource classes are not built ({method} {}).", CLASSES.join(", "), uri.path()),
    )
}

async fn traits(
    s: axum::extract::State<AppState>,
    h: HeaderMap,
    q: axum::extract::Query<std::collections::BTreeMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let associated = q.get("associated").map(|v| v.to_ascii_lowercase());
    let used = admin_read(&s, &h, pviews::host_traits).await?;
    let name = q.get("name").cloned().unwrap_or_default();
    let keep = |t: &str| -> Result<bool, ApiError> {
        let by_name = if let Some(p) = name.strip_prefix("startswith:") {
            t.starts_with(p)
        } else if let Some(list) = name.strip_prefix("in:") {
            list.split(',').any(|x| x == t)
        } else if name.is_empty() {
            true
        } else {
            return Err(ApiError::bad_request(
                S,
                format!(
                    "Badly formed name parameter. Expected name query string parameter in form: ?name=[in|startswith]:[name1,name2|prefix]. Got: \"{name}\""
                ),
            ));
        };
        let by_use = match associated.as_deref() {
            None => true,
            Some("true") => used.contains(t),
            Some("false") => !used.contains(t),
            Some(other) => return Err(ApiError::bad_request(S, format!("Unrecognized value '{other}' for the associated parameter; use true or false."))),
        };
        Ok(by_name && by_use)
    };
    let mut out = Vec::new();
    for t in TRAITS {
        if keep(t)? {
            out.push(*t);
        }
    }
    Ok(Json(json!({"traits": out})))
}

async fn trait_show(s: axum::extract::State<AppState>, h: HeaderMap, axum::extract::Path(name): axum::extract::Path<String>) -> Result<StatusCode, ApiError> {
    admin_read(&s, &h, |_, _| Ok(())).await?;
    if known_trait(&name) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(S, format!("No such trait(s): {name}.")))
    }
}

async fn trait_put(s: axum::extract::State<AppState>, h: HeaderMap, axum::extract::Path(name): axum::extract::Path<String>) -> Result<StatusCode, ApiError> {
    admin_read(&s, &h, |_, _| Ok(())).await?;
    if !name.starts_with("CUSTOM_") {
        return Err(ApiError::bad_request(
            S,
            format!("The trait is invalid. A valid trait must include prefix \"CUSTOM_\" and use following characters: \"A-Z0-9_\". Got: {name}"),
        ));
    }
    Err(ApiError::not_implemented(S, "orrery does not model custom traits; provider traits come from the topology."))
}

async fn trait_delete(s: axum::extract::State<AppState>, h: HeaderMap, axum::extract::Path(name): axum::extract::Path<String>) -> Result<StatusCode, ApiError> {
    admin_read(&s, &h, |_, _| Ok(())).await?;
    if known_trait(&name) {
        return Err(ApiError::bad_request(S, format!("Cannot delete standard trait {name}.")));
    }
    Err(ApiError::not_found(S, format!("No such trait(s): {name}.")))
}

/// Decodes `%XX` escapes and `+` in a query component.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(v) => {
                    out.push(v);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Query parameters in order, repeated keys kept (placement repeats `member_of` and `required`).
fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// 400 for query parameters a path does not take, in placement's words.
fn unexpected_param(name: &str) -> ApiError {
    ApiError::bad_request(S, format!("Invalid query string parameters: Additional properties are not allowed ('{name}' was unexpected)"))
}
