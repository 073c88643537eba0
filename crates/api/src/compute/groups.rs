//! Compute API: groups. Skeleton: a helper fills this in.

use axum::Router;

use crate::AppState;

/// Routes for groups.
pub fn routes() -> Router<AppState> {
    Router::new()
}
