//! Compute API: versions. Skeleton: a helper fills this in.

use axum::Router;

use crate::AppState;

/// Routes for versions.
pub fn routes() -> Router<AppState> {
    Router::new()
}
