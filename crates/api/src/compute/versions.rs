//! Compute API versions: the version documents (`GET /compute/`, `GET /compute/v2.1/`) and
//! microversion negotiation, shared by every compute handler.
//!
//! [`negotiate`] is a middleware: it parses the requested microversion (answering 400 or 406
//! as Nova does), stores the [`Microversion`] in the request's extensions, and stamps the
//! version headers on every response, errors included. Handlers take [`Microversion`] as an
//! extractor and branch with [`Microversion::at_least`]. Sub-routers apply it with [`layer`].

use axum::extract::{FromRequestParts, Request as HttpRequest, State};
use axum::http::header::{HeaderMap, HeaderName, HeaderValue, VARY};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use orrery_kernel::{Auth, Caller, Command, Kernel, Reply, Request};
use serde_json::{json, Value};

use crate::error::{error_body, ApiError, Service};
use crate::AppState;

use super::MAX_MICROVERSION;

/// The legacy Nova microversion header.
pub const LEGACY_HEADER: &str = "x-openstack-nova-api-version";
/// The standard microversion header, `OpenStack-API-Version: compute 2.x`.
pub const HEADER: &str = "openstack-api-version";
/// The lowest compute microversion.
pub const MIN_MICROVERSION: (u32, u32) = (2, 1);

/// A negotiated compute microversion, such as 2.79.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Microversion(pub u32, pub u32);

impl Default for Microversion {
    fn default() -> Self {
        Microversion(MIN_MICROVERSION.0, MIN_MICROVERSION.1)
    }
}

impl std::fmt::Display for Microversion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

impl Microversion {
    /// The highest version orrery serves.
    pub const MAX: Microversion = Microversion(MAX_MICROVERSION.0, MAX_MICROVERSION.1);
    /// The lowest version orrery serves.
    pub const MIN: Microversion = Microversion(MIN_MICROVERSION.0, MIN_MICROVERSION.1);

    /// Whether this is 2.`minor` or later.
    pub fn at_least(&self, minor: u32) -> bool {
        *self >= Microversion(2, minor)
    }

    /// The microversion a request asks for: the `OpenStack-API-Version: compute X` header,
    /// else the legacy `X-OpenStack-Nova-API-Version`, else 2.1. `latest` is the maximum.
    /// A malformed version is a 400 and one outside 2.1..=max a 406, with Nova's bodies.
    pub fn from_headers(headers: &HeaderMap) -> Result<Microversion, BadVersion> {
        let standard = crate::util::asked_version(headers, "compute").map_err(|msg| BadVersion(StatusCode::BAD_REQUEST, msg))?;
        let legacy = match headers.get(LEGACY_HEADER).map(|v| v.to_str()) {
            None => None,
            Some(Ok(v)) => Some(v.trim().to_string()),
            Some(Err(_)) => {
                return Err(BadVersion(StatusCode::BAD_REQUEST, format!("{LEGACY_HEADER} is not valid: it holds bytes that are not visible ASCII.")))
            }
        };
        match standard.or(legacy) {
            None => Ok(Microversion::MIN),
            Some(v) => Microversion::parse(&v),
        }
    }

    /// Parses `2.x` or `latest` and checks the range.
    pub fn parse(text: &str) -> Result<Microversion, BadVersion> {
        if text.eq_ignore_ascii_case("latest") {
            return Ok(Microversion::MAX);
        }
        let parsed = text.split_once('.').and_then(|(a, b)| {
            let ok = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
            if ok(a) && ok(b) {
                Some(Microversion(a.parse().ok()?, b.parse().ok()?))
            } else {
                None
            }
        });
        let Some(v) = parsed else {
            let msg = format!("API Version String {text} is of invalid format. Must be of format MajorNum.MinorNum.");
            return Err(BadVersion(StatusCode::BAD_REQUEST, msg));
        };
        if v < Microversion::MIN || v > Microversion::MAX {
            let msg = format!("Version {v} is not supported by the API. Minimum is {} and maximum is {}.", Microversion::MIN, Microversion::MAX);
            return Err(BadVersion(StatusCode::NOT_ACCEPTABLE, msg));
        }
        Ok(v)
    }

    /// The response headers naming this version.
    pub fn headers(&self) -> [(HeaderName, HeaderValue); 3] {
        let standard = HeaderValue::from_str(&format!("compute {self}")).unwrap_or(HeaderValue::from_static("compute 2.1"));
        let legacy = HeaderValue::from_str(&self.to_string()).unwrap_or(HeaderValue::from_static("2.1"));
        [
            (HeaderName::from_static(HEADER), standard),
            (HeaderName::from_static(LEGACY_HEADER), legacy),
            (VARY, HeaderValue::from_static("OpenStack-API-Version, X-OpenStack-Nova-API-Version")),
        ]
    }

    /// Adds this version's headers to `resp`.
    pub fn stamp(&self, mut resp: Response) -> Response {
        for (name, value) in self.headers() {
            resp.headers_mut().insert(name, value);
        }
        resp
    }
}

/// A requested microversion that is malformed (400) or out of range (406), with Nova's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadVersion(pub StatusCode, pub String);

impl IntoResponse for BadVersion {
    fn into_response(self) -> Response {
        let body = match self.0 {
            StatusCode::BAD_REQUEST => error_body(Service::Compute, self.0, "compute.bad_version", &self.1),
            _ => json!({"computeFault": {"code": self.0.as_u16(), "message": self.1}}),
        };
        Microversion::MIN.stamp((self.0, Json(body)).into_response())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Microversion {
    type Rejection = BadVersion;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Microversion>() {
            Some(v) => Ok(*v),
            None => Microversion::from_headers(&parts.headers),
        }
    }
}

/// Middleware: negotiates the microversion and stamps the version headers on the response.
pub async fn negotiate(mut req: HttpRequest, next: Next) -> Response {
    let v = match Microversion::from_headers(req.headers()) {
        Ok(v) => v,
        Err(bad) => return bad.into_response(),
    };
    req.extensions_mut().insert(v);
    v.stamp(next.run(req).await)
}

/// Wraps a compute sub-router in [`negotiate`].
pub fn layer(router: Router<AppState>) -> Router<AppState> {
    router.layer(middleware::from_fn(negotiate))
}

/// The caller's credentials from `X-Auth-Token`; 401 in `service`'s body when it is missing.
pub fn auth(headers: &HeaderMap, service: Service) -> Result<Auth, ApiError> {
    match headers.get("x-auth-token").and_then(|v| v.to_str().ok()) {
        Some(t) if !t.trim().is_empty() => Ok(Auth::Token(orrery_kernel::identity::TokenDigest::of(t.trim()))),
        _ => {
            Err(ApiError::new(service, orrery_kernel::Error::unauthorized("compute.unauthorized", "The request you have made requires authentication.".into())))
        }
    }
}

/// Runs `f` against the kernel as the caller `auth` resolves to; errors come back in
/// `service`'s body.
pub async fn read<R, F>(state: &AppState, service: Service, auth: Auth, f: F) -> Result<R, ApiError>
where
    R: Send + 'static,
    F: FnOnce(&Kernel, &Caller) -> orrery_kernel::Result<R> + Send + 'static,
{
    let res = state
        .cloud
        .read(service, move |k, now| {
            let caller = k.identity().resolve(&auth, now)?;
            f(k, &caller)
        })
        .await?;
    res.map_err(|e| ApiError::new(service, e))
}

/// Applies `command` as `auth`; errors come back in `service`'s body.
pub async fn apply(state: &AppState, service: Service, auth: Auth, command: Command) -> Result<Reply, ApiError> {
    state.cloud.apply(service, Request { auth, command }).await
}

/// Applies a typed command as `auth` and answers its typed reply.
pub async fn ask<R>(state: &AppState, service: Service, auth: Auth, ask: orrery_kernel::ask::Ask<R>) -> Result<R, ApiError> {
    state.cloud.ask(service, auth, ask).await
}

/// Routes for the version documents.
pub fn routes() -> Router<AppState> {
    layer(Router::new().route("/", get(root)).route("/v2.1", get(current)).route("/v2.1/", get(current)).route("/v2", get(legacy)).route("/v2/", get(legacy)))
}

/// The legacy v2.0 API's version document. Nova lists v2.0 first; orrery lists it too and
/// serves this document, but not the legacy API itself (its paths answer 501): use v2.1.
fn legacy_doc(base: &str) -> Value {
    json!({
        "id": "v2.0",
        "status": "SUPPORTED",
        "version": "",
        "min_version": "",
        "updated": "2011-01-21T11:33:21Z",
        "links": [{"rel": "self", "href": format!("{base}/compute/v2/")}],
    })
}

async fn legacy(State(s): State<AppState>) -> Json<Value> {
    let mut doc = legacy_doc(&s.site.base_url);
    if let Some(l) = doc["links"].as_array_mut() {
        l.push(json!({"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"}));
    }
    doc["media-types"] = json!([{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2"}]);
    Json(json!({"version": doc}))
}

fn version_doc(base: &str) -> Value {
    json!({
        "id": "v2.1",
        "status": "CURRENT",
        "version": Microversion::MAX.to_string(),
        "min_version": Microversion::MIN.to_string(),
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": format!("{base}/compute/v2.1/")}],
    })
}

/// `GET /compute/`: the versions document.
pub async fn root(State(s): State<AppState>) -> Json<Value> {
    Json(json!({"versions": [legacy_doc(&s.site.base_url), version_doc(&s.site.base_url)]}))
}

async fn current(State(s): State<AppState>) -> Json<Value> {
    let mut doc = version_doc(&s.site.base_url);
    if let Some(l) = doc["links"].as_array_mut() {
        l.push(json!({"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"}));
    }
    doc["media-types"] = json!([{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}]);
    Json(json!({"version": doc}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdrs(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn negotiates_like_nova() {
        assert_eq!(Microversion::from_headers(&hdrs(&[])).unwrap(), Microversion(2, 1));
        assert_eq!(Microversion::from_headers(&hdrs(&[(LEGACY_HEADER, "2.53")])).unwrap(), Microversion(2, 53));
        assert_eq!(Microversion::from_headers(&hdrs(&[(HEADER, "compute 2.60")])).unwrap(), Microversion(2, 60));
        assert_eq!(Microversion::from_headers(&hdrs(&[(HEADER, "placement 1.2, compute latest")])).unwrap(), Microversion::MAX);
        // The standard header wins over the legacy one.
        assert_eq!(Microversion::from_headers(&hdrs(&[(HEADER, "compute 2.10"), (LEGACY_HEADER, "2.20")])).unwrap(), Microversion(2, 10));
        assert_eq!(Microversion::from_headers(&hdrs(&[(HEADER, "volume 3.5")])).unwrap(), Microversion(2, 1));
        assert!(Microversion(2, 79).at_least(55) && !Microversion(2, 54).at_least(55));
    }

    #[test]
    fn a_malformed_or_non_ascii_header_is_a_400() {
        let bad = |h: HeaderMap| Microversion::from_headers(&h).unwrap_err().0;
        assert_eq!(bad(hdrs(&[(HEADER, "compute")])), StatusCode::BAD_REQUEST);
        assert_eq!(bad(hdrs(&[(HEADER, "compute 2.1 2.2")])), StatusCode::BAD_REQUEST);
        assert_eq!(bad(hdrs(&[(HEADER, "compute 2.x")])), StatusCode::BAD_REQUEST);
        let mut h = HeaderMap::new();
        h.append(HEADER, HeaderValue::from_bytes(b"compute 2.\xff").unwrap());
        assert_eq!(bad(h), StatusCode::BAD_REQUEST);
        let mut h = HeaderMap::new();
        h.append(LEGACY_HEADER, HeaderValue::from_bytes(b"2.\xe9").unwrap());
        assert_eq!(bad(h), StatusCode::BAD_REQUEST);
        // Items for other services are not ours to judge.
        assert_eq!(Microversion::from_headers(&hdrs(&[(HEADER, "placement, compute 2.5")])).unwrap(), Microversion(2, 5));
    }

    #[test]
    fn rejects_out_of_range_and_garbage() {
        let r = Microversion::parse("2.101").unwrap_err().into_response();
        assert_eq!(r.status(), StatusCode::NOT_ACCEPTABLE);
        assert_eq!(r.headers()["openstack-api-version"], "compute 2.1");
        assert_eq!(Microversion::parse("2.0").unwrap_err().0, StatusCode::NOT_ACCEPTABLE);
        assert_eq!(Microversion::parse("3.1").unwrap_err().0, StatusCode::NOT_ACCEPTABLE);
        assert_eq!(Microversion::parse("two").unwrap_err().0, StatusCode::BAD_REQUEST);
        assert_eq!(Microversion::parse("2.01").unwrap_err().0, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn stamps_headers() {
        let r = Microversion(2, 55).stamp(StatusCode::OK.into_response());
        assert_eq!(r.headers()["openstack-api-version"], "compute 2.55");
        assert_eq!(r.headers()["x-openstack-nova-api-version"], "2.55");
        assert!(r.headers()["vary"].to_str().unwrap().contains("OpenStack-API-Version"));
    }
}

/// An in-process cloud for the compute, placement and image adapter tests: an admin token, a
/// member token in project `p1` and a member token in project `p2`, issued through the kernel.
#[cfg(test)]
pub(crate) mod testkit {
    use std::collections::{BTreeMap, BTreeSet};

    use axum::body::Body;
    use axum::http::{HeaderMap, Request as HttpRequest, StatusCode};
    use axum::Router;
    use orrery_kernel::identity::{self, Actor, Assignment, AuthMethod, Bootstrap, Project, Scope, Target, User, DEFAULT_DOMAIN};
    use orrery_kernel::topology::HostSpec;
    use orrery_kernel::{Auth, Command, InitSpec, Kernel, Request, TopologySpec, Uuid};
    use serde_json::Value;
    use tower::ServiceExt;

    use crate::cloud::{spawn_in_memory, wall_now};
    use crate::{AppState, Site};

    /// The base URL links are built from.
    pub const BASE: &str = "http://orrery.test";
    /// The admin's token.
    pub const ADMIN: &str = "00000000000000000000000000000000000000000000000000000000000000a1";
    /// A member of project 1.
    pub const P1: &str = "00000000000000000000000000000000000000000000000000000000000000b1";
    /// A member of project 2.
    pub const P2: &str = "00000000000000000000000000000000000000000000000000000000000000b2";
    /// Project 1's id.
    pub const P1_ID: Uuid = Uuid(0x1111);
    /// Project 2's id.
    pub const P2_ID: Uuid = Uuid(0x2222);

    fn topology() -> TopologySpec {
        let mut spec = TopologySpec::uniform("RegionOne", HostSpec::compute(16, 32_768, 200), &[("az1", 2, 2)]);
        spec.aggregate.push(orrery_kernel::topology::AggregateSpec {
            name: "fast".into(),
            metadata: BTreeMap::from([("ssd".to_string(), "true".to_string())]),
            racks: vec!["az1-r01".into()],
            hosts: vec![],
        });
        spec
    }

    fn sys(k: &mut Kernel, cmd: identity::Cmd) {
        k.apply(wall_now(), Request { auth: Auth::System, command: Command::Identity(cmd) }).expect("test identity setup");
    }

    fn member(k: &mut Kernel, n: u128, project: Uuid, token: &str) {
        let p = Project {
            id: project,
            name: format!("p{n}"),
            domain: DEFAULT_DOMAIN.into(),
            parent: None,
            description: None,
            enabled: true,
            tags: BTreeSet::new(),
        };
        sys(k, identity::Cmd::CreateProject(p));
        let user = Uuid(0x9000 + n);
        let u = User {
            id: user,
            name: format!("u{n}"),
            domain: DEFAULT_DOMAIN.into(),
            enabled: true,
            default_project: Some(project),
            password_hash: None,
            description: None,
            email: None,
            extra: Default::default(),
        };
        sys(k, identity::Cmd::CreateUser(u));
        let role = k.identity().role_by_name("member").expect("member role").id;
        sys(k, identity::Cmd::Grant(Assignment { actor: Actor::User(user), target: Target::Project(project), role }));
        sys(
            k,
            identity::Cmd::IssueToken {
                token: orrery_kernel::identity::TokenDigest::of(token),
                method: AuthMethod::Password { user },
                scope: Some(Scope::Project(project)),
            },
        );
    }

    /// The router over a fresh cloud.
    pub fn app() -> Router {
        let mut k = Kernel::new();
        let spec = InitSpec { seed: 5, topology: topology(), bootstrap: Bootstrap::new("admin", "$argon2id$v=19$unused") };
        k.apply(wall_now(), Request { auth: Auth::System, command: Command::Init(Box::new(spec)) }).expect("init");
        let admin = k.identity().user_by_name(DEFAULT_DOMAIN, "admin").expect("admin").id;
        sys(
            &mut k,
            identity::Cmd::IssueToken { token: orrery_kernel::identity::TokenDigest::of(ADMIN), method: AuthMethod::Password { user: admin }, scope: None },
        );
        member(&mut k, 1, P1_ID, P1);
        member(&mut k, 2, P2_ID, P2);
        let cloud = spawn_in_memory(k);
        crate::router(AppState::new(cloud, Site { base_url: BASE.into(), region: "RegionOne".into() }))
    }

    /// A response, its body parsed as JSON (Null when empty or not JSON).
    pub struct Resp {
        /// Status.
        pub status: StatusCode,
        /// Headers.
        pub headers: HeaderMap,
        /// Body.
        pub body: Value,
    }

    /// Sends one request with optional token, extra headers and body.
    pub async fn call(app: &Router, method: &str, path: &str, token: Option<&str>, headers: &[(&str, &str)], body: Option<&str>) -> Resp {
        let mut req = HttpRequest::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("x-auth-token", t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req.body(body.map_or(Body::empty(), |b| Body::from(b.to_string()))).expect("request");
        let resp = app.clone().oneshot(req).await.expect("router answers");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24).await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp { status, headers, body }
    }

    /// GET as `token`.
    pub async fn get(app: &Router, path: &str, token: &str) -> Resp {
        call(app, "GET", path, Some(token), &[], None).await
    }

    /// GET as `token` at compute microversion `mv`.
    pub async fn get_mv(app: &Router, path: &str, token: &str, mv: &str) -> Resp {
        call(app, "GET", path, Some(token), &[("OpenStack-API-Version", &format!("compute {mv}"))], None).await
    }

    /// A request with a JSON body as `token` at compute microversion `mv`.
    pub async fn send(app: &Router, method: &str, path: &str, token: &str, mv: &str, body: &str) -> Resp {
        let h = format!("compute {mv}");
        let b = if body.is_empty() { None } else { Some(body) };
        call(app, method, path, Some(token), &[("OpenStack-API-Version", &h)], b).await
    }
}
