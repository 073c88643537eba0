//! The Compute API (Nova v2.1) with microversions 2.1 to [`MAX_MICROVERSION`].
//!
//! Sub-modules own groups of endpoints; [`router`] merges them.

pub mod aggregates;
pub mod audit;
pub mod events;
pub mod extensions;
pub mod extra_specs;
pub mod flavors;
pub mod groups;
pub mod hosts;
pub mod hypervisors;
pub mod images;
pub mod keygen;
pub mod keypairs;
pub mod migrations;
pub mod quotas;
pub mod servers;
pub mod usage;
pub mod versions;

use axum::Router;

use crate::error::{service_fallback, Service};
use crate::AppState;

/// The highest compute microversion whose response shapes orrery implements.
pub const MAX_MICROVERSION: (u32, u32) = (2, 100);

/// Routes of the Compute API, relative to its mount point (`/compute`).
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(versions::routes())
        .merge(flavors::routes())
        .merge(extensions::routes())
        .merge(keypairs::routes())
        .merge(groups::routes())
        .merge(quotas::routes())
        .merge(hypervisors::routes())
        .merge(aggregates::routes())
        .merge(migrations::routes())
        .merge(usage::routes())
        .merge(audit::routes())
        .merge(events::routes())
        .merge(hosts::routes())
        .merge(images::routes())
        .merge(servers::routes())
        .fallback(service_fallback(Service::Compute))
}
