//! Compute API: quotas. Skeleton: a helper fills this in.

use axum::Router;

use crate::AppState;

/// Routes for quotas.
pub fn routes() -> Router<AppState> {
    Router::new()
}
