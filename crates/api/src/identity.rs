//! The Identity API. Skeleton: every path answers 501 until it is built.

use axum::Router;

use crate::error::{service_fallback, Service};
use crate::AppState;

/// Routes of the Identity API, relative to its mount point.
pub fn router() -> Router<AppState> {
    Router::new().fallback(service_fallback(Service::Identity))
}
