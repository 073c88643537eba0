//! Compute API: hypervisors. Skeleton: a helper fills this in.

use axum::Router;

use crate::AppState;

/// Routes for hypervisors.
pub fn routes() -> Router<AppState> {
    Router::new()
}
