//! Operators' view of a running cloud: the Prometheus registry that the HTTP layer and the
//! kernel actor share ([`Metrics`]), the middleware that counts, times and logs every request
//! and names it with an `x-openstack-request-id` ([`track`]), and `GET /metrics` ([`scrape`]),
//! which samples the kernel through the actor at scrape time.
//!
//! `/metrics` needs no token, like any Prometheus target on an operator port: it shows counts
//! and latencies, never names, ids or tenants. Keep the listener off untrusted networks if even
//! that is too much.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use orrery_kernel::status::{self, StatusView};
use orrery_kernel::{Caller, Error};
use prometheus_client::encoding::{prometheus_text, EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tracing::info;

use crate::cloud::Cloud;
use crate::error::{ApiError, Service};
use crate::util::new_uuid;
use crate::AppState;

/// The response header that names a request, `req-<uuid>`, as Nova, Keystone and Glance send it.
pub const REQUEST_ID: &str = "x-openstack-request-id";
/// Nova's own name for the same id, sent beside [`REQUEST_ID`] on every compute response.
pub const COMPUTE_REQUEST_ID: &str = "x-compute-request-id";

/// Upper bounds (seconds) of the latency buckets, 100 µs to 10 s.
const SECONDS: [f64; 16] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Which API a request went to, from the first segment of its path: the `service` label.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Api {
    /// `/identity` (Keystone).
    Identity,
    /// `/compute` (Nova).
    Compute,
    /// `/placement`.
    Placement,
    /// `/image` (Glance).
    Image,
    /// `/orrery`: chaos and status.
    Admin,
    /// Anything else: `/metrics`, services orrery does not serve yet, unknown paths.
    Other,
}

impl Api {
    /// Every API, in label order.
    pub const ALL: [Api; 6] = [Api::Identity, Api::Compute, Api::Placement, Api::Image, Api::Admin, Api::Other];

    /// The API a request path belongs to.
    pub fn of_path(path: &str) -> Api {
        match path.trim_start_matches('/').split('/').next().unwrap_or_default() {
            "identity" => Api::Identity,
            "compute" => Api::Compute,
            "placement" => Api::Placement,
            "image" => Api::Image,
            "orrery" => Api::Admin,
            _ => Api::Other,
        }
    }

    /// The label value: `identity`, `compute`, `placement`, `image`, `admin` or `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            Api::Identity => "identity",
            Api::Compute => "compute",
            Api::Placement => "placement",
            Api::Image => "image",
            Api::Admin => "admin",
            Api::Other => "other",
        }
    }
}

impl EncodeLabelValue for Api {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    service: Api,
    status: u16,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ServiceLabels {
    service: Api,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct HostLabels {
    state: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ServerLabels {
    status: String,
}

/// Every metric of a live cloud, in one registry. Share it in an `Arc`: the HTTP middleware
/// records requests, the kernel actor records journal commits, and [`Metrics::render`] samples
/// the kernel's gauges when Prometheus scrapes.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    /// One latency histogram per [`Api`], in [`Api::ALL`] order (the family's own series).
    latency: [Histogram; 6],
    commit: Histogram,
    batch: Histogram,
    queue_depth: Gauge,
    hosts: Family<HostLabels, Gauge>,
    servers: Family<ServerLabels, Gauge>,
    /// Serialises the gauge updates and encoding of concurrent scrapes; holds the server
    /// statuses seen so far, so a status nobody is in any more reads 0 instead of vanishing.
    scrape: Mutex<BTreeSet<String>>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

fn seconds_histogram() -> Histogram {
    Histogram::new(SECONDS)
}

impl Metrics {
    /// A fresh registry with every metric at zero.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("orrery_http_requests", "HTTP requests answered, by API and status code", requests.clone());
        let latency_family = Family::<ServiceLabels, Histogram, fn() -> Histogram>::new_with_constructor(seconds_histogram);
        registry.register("orrery_http_request_duration_seconds", "Time from a request's arrival to its response head, by API", latency_family.clone());
        let latency = Api::ALL.map(|service| latency_family.get_or_create_owned(&ServiceLabels { service }));
        let commit = seconds_histogram();
        registry.register("orrery_journal_commit_duration_seconds", "Time to make one batch of journal entries durable", commit.clone());
        let batch = Histogram::new(exponential_buckets(1.0, 2.0, 13));
        registry.register("orrery_journal_batch_entries", "Journal entries per group commit", batch.clone());
        let queue_depth = Gauge::default();
        registry.register("orrery_actor_queue_depth", "Messages waiting for the kernel actor, sampled at scrape time", queue_depth.clone());
        let hosts = Family::<HostLabels, Gauge>::default();
        registry.register("orrery_hosts", "Compute hosts by effective health state", hosts.clone());
        let servers = Family::<ServerLabels, Gauge>::default();
        registry.register("orrery_servers", "Servers by status", servers.clone());
        Metrics { registry, requests, latency, commit, batch, queue_depth, hosts, servers, scrape: Mutex::new(BTreeSet::new()) }
    }

    /// Counts one answered request and its latency.
    pub fn observe_request(&self, api: Api, status: u16, elapsed: Duration) {
        self.requests.get_or_create(&RequestLabels { service: api, status }).inc();
        self.latency[api as usize].observe(elapsed.as_secs_f64());
    }

    /// Records one group commit of `entries` journal entries that took `elapsed`.
    pub fn observe_commit(&self, elapsed: Duration, entries: usize) {
        self.commit.observe(elapsed.as_secs_f64());
        self.batch.observe(entries as f64);
    }

    /// Samples the kernel through `cloud` (the queue depth, then hosts and servers from the
    /// status view) and encodes every metric in the Prometheus text format, version 0.0.4.
    pub async fn render(&self, cloud: &Cloud) -> Result<String, ApiError> {
        let depth = cloud.queue_depth();
        let view = cloud.read(Service::Admin, |k, _| status::status(k, &Caller::system())).await?.map_err(|e| ApiError::new(Service::Admin, e))?;
        let mut seen = self.scrape.lock().unwrap_or_else(PoisonError::into_inner);
        self.queue_depth.set(gauge_value(depth as u64));
        self.set_hosts(&view);
        for status in seen.iter() {
            self.servers.get_or_create(&ServerLabels { status: status.clone() }).set(0);
        }
        for (status, n) in &view.servers {
            self.servers.get_or_create(&ServerLabels { status: status.clone() }).set(gauge_value(*n));
            seen.insert(status.clone());
        }
        let mut text = String::with_capacity(8192);
        prometheus_text::encode(&mut text, &self.registry)
            .map_err(|_| ApiError::new(Service::Admin, Error::internal("orrery.internal", "The metrics could not be encoded.".into())))?;
        Ok(text)
    }

    fn set_hosts(&self, view: &StatusView) {
        let (mut up, mut down, mut maintenance) = (0u64, 0u64, 0u64);
        for z in &view.zones {
            up += u64::from(z.zone.up);
            down += u64::from(z.zone.down);
            maintenance += u64::from(z.zone.maintenance);
        }
        for (state, n) in [("up", up), ("down", down), ("maintenance", maintenance)] {
            self.hosts.get_or_create(&HostLabels { state }).set(gauge_value(n));
        }
    }
}

fn gauge_value(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `GET /metrics`: every metric in the Prometheus text format; 503 with the reason in plain
/// text if the kernel cannot be sampled (the cloud is shutting down).
pub async fn scrape(State(s): State<AppState>) -> Response {
    match s.metrics.render(&s.cloud).await {
        Ok(text) => ([(header::CONTENT_TYPE, prometheus_text::CONTENT_TYPE)], text).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{}\n", e.error.message)).into_response(),
    }
}

/// Middleware around the whole router: counts and times each request, makes sure its response
/// carries an `x-openstack-request-id` (keeping the one a handler set, like the id a server
/// action is logged under; compute responses carry it as `x-compute-request-id` too), and logs
/// one line for it at info level, target `orrery::http`.
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let uri = req.uri().clone();
    let api = Api::of_path(uri.path());
    let mut resp = next.run(req).await;
    let elapsed = started.elapsed();
    let status = resp.status().as_u16();
    metrics.observe_request(api, status, elapsed);
    let id = request_id(&mut resp);
    if api == Api::Compute {
        resp.headers_mut().insert(COMPUTE_REQUEST_ID, id.clone());
    }
    let path = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
    let latency_ms = (elapsed.as_secs_f64() * 1e6).round() / 1e3;
    info!(target: "orrery::http", method = %method, path = %path, status, latency_ms, request_id = %id.to_str().unwrap_or("-"));
    resp
}

/// The response's request id, set to a fresh `req-<uuid>` if the handler did not set one.
fn request_id(resp: &mut Response) -> HeaderValue {
    if let Some(v) = resp.headers().get(REQUEST_ID) {
        return v.clone();
    }
    match HeaderValue::from_str(&format!("req-{}", new_uuid())) {
        Ok(v) => {
            resp.headers_mut().insert(REQUEST_ID, v.clone());
            v
        }
        Err(_) => HeaderValue::from_static("-"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_their_api() {
        assert_eq!(Api::of_path("/identity/v3/auth/tokens"), Api::Identity);
        assert_eq!(Api::of_path("/compute/v2.1/servers"), Api::Compute);
        assert_eq!(Api::of_path("/placement"), Api::Placement);
        assert_eq!(Api::of_path("/image/v2/images"), Api::Image);
        assert_eq!(Api::of_path("/orrery/v1/chaos/fail"), Api::Admin);
        assert_eq!(Api::of_path("/identityx/v3"), Api::Other);
        assert_eq!(Api::of_path("/metrics"), Api::Other);
        assert_eq!(Api::of_path("/"), Api::Other);
        assert_eq!(Api::of_path(""), Api::Other);
    }

    #[test]
    fn requests_and_commits_show_in_the_text() {
        let m = Metrics::new();
        m.observe_request(Api::Compute, 404, Duration::from_millis(3));
        m.observe_commit(Duration::from_micros(700), 5);
        let mut text = String::new();
        prometheus_text::encode(&mut text, &m.registry).unwrap();
        assert!(text.contains("# TYPE orrery_http_requests_total counter\n"), "{text}");
        assert!(text.contains("orrery_http_requests_total{service=\"compute\",status=\"404\"} 1\n"), "{text}");
        assert!(text.contains("orrery_http_request_duration_seconds_count{service=\"compute\"} 1\n"), "{text}");
        assert!(text.contains("orrery_http_request_duration_seconds_count{service=\"identity\"} 0\n"), "{text}");
        assert!(text.contains("orrery_journal_batch_entries_bucket{le=\"8\"} 1\n"), "{text}");
        assert!(text.contains("orrery_journal_commit_duration_seconds_count 1\n"), "{text}");
    }
}
