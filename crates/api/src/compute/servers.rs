//! Compute API: servers. Skeleton: a helper fills this in.

use axum::Router;

use crate::AppState;

/// Routes for servers.
pub fn routes() -> Router<AppState> {
    Router::new()
}
