//! OpenStack-compatible HTTP adapters. Each service module parses requests into kernel
//! [`Command`](orrery_kernel::Command)s or read closures, sends them through a [`Cloud`]
//! handle, and renders the reply in that service's own JSON shapes and error bodies.
//!
//! One listener serves every service under its own path prefix, plus `GET /metrics` for
//! Prometheus and `GET /healthcheck` for supervisors; see [`router`] and [`metrics`].

pub mod admin;
pub mod body;
pub mod cloud;
pub mod compute;
pub mod error;
pub mod identity;
pub mod image;
pub mod metrics;
pub mod network;
pub mod placement;
pub mod util;

use std::sync::Arc;

use axum::Router;

pub use cloud::{Cloud, Msg, Published, ReadMode};
pub use error::{ApiError, Service};
pub use metrics::Metrics;

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
    /// The metrics registry, shared with the kernel actor.
    pub metrics: Arc<Metrics>,
}

impl AppState {
    /// State with a fresh metrics registry (the live shell makes its own, to share it with
    /// the kernel actor).
    pub fn new(cloud: Cloud, site: Site) -> AppState {
        AppState { cloud, site, metrics: Arc::new(Metrics::new()) }
    }
}

/// The whole API: every service mounted at its catalog path, and `/metrics`. Every request
/// passes through [`metrics::track`]: counted, timed, logged and given a request id.
pub fn router(state: AppState) -> Router {
    let track = axum::middleware::from_fn_with_state(state.metrics.clone(), metrics::track);
    Router::new()
        .route("/metrics", axum::routing::get(metrics::scrape))
        .route("/healthcheck", axum::routing::get(admin::healthcheck))
        .nest("/identity", identity::router())
        .route("/identity/", axum::routing::get(identity::versions))
        .nest("/compute", compute::router())
        .route("/compute/", axum::routing::get(compute::versions::root))
        .nest("/placement", placement::router())
        .route("/placement/", axum::routing::get(placement::root))
        .nest("/orrery", admin::router())
        .nest("/image", image::router())
        .route("/image/", axum::routing::get(image::root))
        .nest("/network", network::router())
        .route("/network/", axum::routing::get(network::root))
        .merge(error::unbuilt_services())
        .fallback(error::unknown_path)
        .layer(axum::middleware::from_fn(body::read_whole))
        .layer(track)
        .with_state(state)
}
