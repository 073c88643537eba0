//! OpenStack-compatible HTTP adapters. Each service module parses requests into kernel
//! [`Command`](orrery_kernel::Command)s or read closures, sends them through a [`Cloud`]
//! handle, and renders the reply in that service's own JSON shapes and error bodies.
//!
//! One listener serves every service under its own path prefix; see [`router`].

pub mod admin;
pub mod cloud;
pub mod compute;
pub mod error;
pub mod identity;
pub mod image;
pub mod placement;
pub mod util;

use axum::Router;

pub use cloud::{Cloud, Msg};
pub use error::{ApiError, Service};

/// Where the cloud is reachable from outside, used to build links and the catalog.
#[derive(Clone, Debug)]
pub struct Site {
    /// Base URL without a trailing slash, like `http://127.0.0.1:8774`.
    pub base_url: String,
    /// The region name in the catalog.
    pub region: String,
}

/// State shared by every handler.
#[derive(Clone)]
pub struct AppState {
    /// The kernel actor.
    pub cloud: Cloud,
    /// External addressing.
    pub site: Site,
}

/// The whole API: every service mounted at its catalog path.
pub fn router(state: AppState) -> Router {
    Router::new()
        .nest("/identity", identity::router())
        .route("/identity/", axum::routing::get(identity::versions))
        .nest("/compute", compute::router())
        .route("/compute/", axum::routing::get(compute::versions::root))
        .nest("/placement", placement::router())
        .route("/placement/", axum::routing::get(placement::root))
        .nest("/orrery", admin::router())
        .nest("/image", image::router())
        .route("/image/", axum::routing::get(image::root))
        .merge(error::unbuilt_services())
        .fallback(error::unknown_path)
        .with_state(state)
}
