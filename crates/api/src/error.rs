//! Error bodies in each OpenStack service's own shape, and the answers for paths and services
//! orrery does not serve.

use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use orrery_kernel::{Error, ErrorKind};
use serde_json::{json, Value};

use crate::AppState;

/// Which service's conventions an error follows.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Service {
    /// Keystone.
    Identity,
    /// Nova.
    Compute,
    /// Placement.
    Placement,
    /// Glance.
    Image,
    /// Cinder.
    Volume,
    /// Neutron.
    Network,
    /// Swift.
    ObjectStore,
    /// orrery's own admin API (chaos, status), with Keystone's body shape.
    Admin,
}

impl Service {
    /// The service's human name.
    pub fn name(self) -> &'static str {
        match self {
            Service::Identity => "Identity",
            Service::Compute => "Compute",
            Service::Placement => "Placement",
            Service::Image => "Image",
            Service::Volume => "Block Storage",
            Service::Network => "Networking",
            Service::ObjectStore => "Object Storage",
            Service::Admin => "orrery admin",
        }
    }

    /// The service whose conventions a request path follows: by its first segment, with
    /// Keystone's shape for paths no service owns.
    pub fn of_path(path: &str) -> Service {
        match path.trim_start_matches('/').split('/').next().unwrap_or_default() {
            "compute" => Service::Compute,
            "placement" => Service::Placement,
            "image" => Service::Image,
            "volume" => Service::Volume,
            "network" => Service::Network,
            "object-store" => Service::ObjectStore,
            "orrery" => Service::Admin,
            _ => Service::Identity,
        }
    }

    /// The HTTP status this service answers an error of `kind` with. Only over-quota differs
    /// between services: Nova says 403, Neutron 409, Cinder, Glance and Swift 413.
    pub fn status(self, kind: ErrorKind) -> StatusCode {
        match kind {
            ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::OverQuota => match self {
                Service::Compute | Service::Identity | Service::Admin => StatusCode::FORBIDDEN,
                Service::Network | Service::Placement => StatusCode::CONFLICT,
                Service::Volume | Service::Image | Service::ObjectStore => StatusCode::PAYLOAD_TOO_LARGE,
            },
            ErrorKind::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// A kernel error on its way out, to be wrapped in `service`'s error body.
#[derive(Debug)]
pub struct ApiError {
    /// Whose body shape to use.
    pub service: Service,
    /// The error.
    pub error: Error,
}

impl ApiError {
    /// Wraps a kernel error.
    pub fn new(service: Service, error: Error) -> ApiError {
        ApiError { service, error }
    }
    /// 400 with `msg`.
    pub fn bad_request(service: Service, msg: impl Into<String>) -> ApiError {
        ApiError::new(service, Error::bad_request("api.bad_request", msg.into()))
    }
    /// 404 with `msg`.
    pub fn not_found(service: Service, msg: impl Into<String>) -> ApiError {
        ApiError::new(service, Error::not_found("api.not_found", msg.into()))
    }
    /// 501 naming what is missing.
    pub fn not_implemented(service: Service, what: impl Into<String>) -> ApiError {
        ApiError::new(service, Error::not_implemented("api.not_implemented", what.into()))
    }
    /// The HTTP status of this error.
    pub fn status(&self) -> u16 {
        self.service.status(self.error.kind).as_u16()
    }
    /// The kernel actor is gone (shutting down).
    pub fn unavailable(service: Service) -> ApiError {
        ApiError::new(service, Error::conflict("api.shutting_down", "The cloud is shutting down; retry after it restarts.".into()))
    }
}

impl From<(Service, Error)> for ApiError {
    fn from((s, e): (Service, Error)) -> ApiError {
        ApiError::new(s, e)
    }
}

/// The standard reason phrase of a status.
fn title(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Error")
}

/// The error codes the Placement API itself defines (placement/errors.py); any other code is
/// shown as `placement.undefined_code`, as Placement does.
const PLACEMENT_CODES: [&str; 4] =
    ["placement.concurrent_update", "placement.duplicate_name", "placement.inventory.inuse", "placement.resource_provider.inuse"];

/// The body a service sends with an error. `code` is the error's stable code; services whose
/// body has a place for one show it (Placement's `code`, Neutron's `type`).
pub fn error_body(service: Service, status: StatusCode, code_name: &str, message: &str) -> Value {
    let code = status.as_u16();
    if code == 401 {
        // keystonemiddleware answers for every service.
        return json!({"error": {"code": code, "title": title(status), "message": message}});
    }
    match service {
        Service::Identity | Service::Admin => json!({"error": {"code": code, "title": title(status), "message": message}}),
        Service::Compute | Service::Volume => {
            let key = match code {
                400 => "badRequest",
                403 => "forbidden",
                404 => "itemNotFound",
                409 => "conflictingRequest",
                413 => "overLimit",
                501 => "notImplemented",
                _ => "computeFault",
            };
            json!({ key: {"code": code, "message": message} })
        }
        Service::Placement => json!({"errors": [{
            "status": code, "title": title(status), "detail": message,
            "code": if PLACEMENT_CODES.contains(&code_name) { code_name } else { "placement.undefined_code" }
        }]}),
        Service::Image | Service::ObjectStore => json!({"code": code, "title": title(status), "message": message}),
        Service::Network => json!({"NeutronError": {"type": neutron_type(code_name, status), "message": message, "detail": ""}}),
    }
}

/// Neutron's exception type (the `type` of its `NeutronError` body) for an error code. Kernel
/// codes name it in snake case after `network.` (`network.network_not_found` is
/// `NetworkNotFound`; `network.http_bad_request` is webob's `HTTPBadRequest`, which Neutron raises
/// for attributes that fail their validators). Other codes come from the API layer itself, where
/// Neutron raises webob's exceptions, named after the status (`HTTPNotFound`, `HTTPNotImplemented`).
fn neutron_type(code: &str, status: StatusCode) -> String {
    match code.strip_prefix("network.") {
        Some("http_bad_request") => "HTTPBadRequest".into(),
        Some(snake) => snake
            .split('_')
            .map(|w| {
                let mut c = w.chars();
                c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
            })
            .collect(),
        None => format!("HTTP{}", title(status).replace([' ', '-'], "")),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.service.status(self.error.kind);
        let body = error_body(self.service, status, self.error.code, self.error.message());
        (status, Json(body)).into_response()
    }
}

/// 404 for a path no service owns.
pub async fn unknown_path(method: Method, uri: Uri) -> Response {
    let msg = format!("No orrery service serves {method} {}. Services live under /identity, /compute, /placement, /image, /network and /orrery.", uri.path());
    (StatusCode::NOT_FOUND, Json(json!({"error": {"code": 404, "title": "Not Found", "message": msg}}))).into_response()
}

/// 501 answers for whole services that are part of the design but not built yet.
pub fn unbuilt_services() -> Router<AppState> {
    let mut r = Router::new();
    for (prefix, service) in [("/volume", Service::Volume), ("/object-store", Service::ObjectStore)] {
        let h = move |method: Method, uri: Uri| async move {
            let what = format!("orrery does not implement the {} API yet ({method} {}).", service.name(), uri.path());
            ApiError::not_implemented(service, what)
        };
        r = r.route(prefix, any(h)).route(&format!("{prefix}/{{*rest}}"), any(h));
    }
    r
}

/// The fallback inside a service: the path is under the service but not served.
pub fn service_fallback(service: Service) -> impl Fn(Method, Uri) -> std::future::Ready<ApiError> + Clone + Send + 'static {
    move |method: Method, uri: Uri| {
        let what = format!("orrery does not implement {method} {} of the {} API.", uri.path(), service.name());
        std::future::ready(ApiError::not_implemented(service, what))
    }
}
