//! Compute API: keypairs. Skeleton: a helper fills this in.

use axum::Router;

use crate::AppState;

/// Routes for keypairs.
pub fn routes() -> Router<AppState> {
    Router::new()
}
