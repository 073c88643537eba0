//! Compute API: flavors. Skeleton: a helper fills this in.

use axum::Router;

use crate::AppState;

/// Routes for flavors.
pub fn routes() -> Router<AppState> {
    Router::new()
}
