//! `GET /metrics` and the operator logs of a real live cloud: `orrery_live::serve` on a fresh
//! data directory and a free port, driven over HTTP like Prometheus and a client would.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use orrery_live::UpOptions;
use serde_json::{json, Value};

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// Everything logged in this test process, as text.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

/// The process-wide log capture (the kernel actor logs from its own thread, so it must be global).
fn logs() -> &'static Capture {
    static LOGS: OnceLock<Capture> = OnceLock::new();
    LOGS.get_or_init(|| {
        let capture = Capture::default();
        let sub = tracing_subscriber::fmt().with_writer(capture.clone()).with_ansi(false).with_max_level(tracing::Level::INFO).finish();
        tracing::subscriber::set_global_default(sub).expect("no other subscriber in this test binary");
        capture
    })
}

fn log_lines() -> Vec<String> {
    String::from_utf8_lossy(&logs().0.lock().unwrap()).lines().map(str::to_string).collect()
}

struct Resp {
    status: StatusCode,
    headers: hyper::HeaderMap,
    body: Bytes,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    fn request_id(&self) -> String {
        self.headers.get("x-openstack-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
    }
}

async fn call(client: &HttpClient, method: Method, url: &str, token: Option<&str>, body: Option<Value>) -> Resp {
    let mut req = Request::builder().method(method).uri(url).header("content-type", "application/json").header("x-openstack-nova-api-version", "2.79");
    if let Some(t) = token {
        req = req.header("x-auth-token", t);
    }
    let body = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
    let resp = client.request(req.body(Full::new(body)).unwrap()).await.unwrap_or_else(|e| panic!("{url}: {e}"));
    let (parts, body) = resp.into_parts();
    Resp { status: parts.status, headers: parts.headers, body: body.collect().await.unwrap().to_bytes() }
}

/// Waits for the endpoint file `orrery up` writes once it serves.
async fn endpoint(dir: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match std::fs::read_to_string(dir.join("endpoint")) {
            Ok(s) if s.ends_with('\n') => return s.trim().to_string(),
            _ => {}
        }
        assert!(Instant::now() < deadline, "the cloud did not start serving within 60 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One scrape, parsed: the `# TYPE` of each family and the value of each sample, keyed by
/// `name{labels}` exactly as exposed. Panics on any line that is not valid text format.
struct Scrape {
    types: BTreeMap<String, String>,
    samples: BTreeMap<String, f64>,
}

impl Scrape {
    fn parse(text: &str) -> Scrape {
        let (mut types, mut samples) = (BTreeMap::new(), BTreeMap::new());
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("bad TYPE line: {line}"));
                assert!(["counter", "gauge", "histogram"].contains(&kind), "unexpected type in {line}");
                types.insert(name.to_string(), kind.to_string());
                continue;
            }
            if line.starts_with("# HELP ") {
                continue;
            }
            assert!(!line.starts_with('#') && !line.is_empty(), "unexpected line {line:?}");
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value in {line}"));
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
            };
            let name = series.split('{').next().unwrap();
            assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'), "bad metric name in {line}");
            if let Some(labels) = series.strip_prefix(name) {
                check_labels(labels, line);
            }
            let family = ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).filter(|f| types.get(*f).is_some_and(|t| t == "histogram"));
            let family = family.unwrap_or(name);
            assert!(types.contains_key(family), "sample {name} has no # TYPE line before it");
            samples.insert(series.to_string(), value);
        }
        Scrape { types, samples }
    }

    fn get(&self, series: &str) -> f64 {
        self.samples.get(series).copied().unwrap_or(0.0)
    }
}

/// `{k="v",...}` or nothing; values escape `\`, `"` and newlines.
fn check_labels(labels: &str, line: &str) {
    if labels.is_empty() {
        return;
    }
    let inner = labels.strip_prefix('{').and_then(|l| l.strip_suffix('}')).unwrap_or_else(|| panic!("bad labels in {line}"));
    let mut rest = inner;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").unwrap_or_else(|| panic!("bad label in {line}"));
        assert!(key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "bad label name {key} in {line}");
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => {
                    chars.next();
                }
                Some((i, '"')) => break i,
                Some(_) => {}
                None => panic!("unterminated label value in {line}"),
            }
        };
        rest = after[end + 1..].strip_prefix(',').unwrap_or(&after[end + 1..]);
    }
}

async fn scrape(client: &HttpClient, base: &str) -> Scrape {
    let r = call(client, Method::GET, &format!("{base}/metrics"), None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.body));
    let ctype = r.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "content type {ctype}");
    Scrape::parse(std::str::from_utf8(&r.body).expect("the metrics are UTF-8"))
}

async fn admin_token(client: &HttpClient, base: &str, data: &Path) -> String {
    let password = std::fs::read_to_string(data.join("admin-password")).unwrap();
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "domain": {"id": "default"}, "password": password.trim()}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}});
    let r = call(client, Method::POST, &format!("{base}/identity/v3/auth/tokens"), None, Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED);
    r.headers["x-subject-token"].to_str().unwrap().to_string()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("orrery-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_commits_hosts_and_servers() {
    logs();
    let data = temp_dir("metrics");
    let opts = UpOptions {
        data_dir: data.clone(),
        listen: "127.0.0.1:0".parse().unwrap(),
        topology: None,
        time_scale: 1.0,
        driver: "sim".into(),
        snapshot_every: 50_000,
        snapshot_interval: std::time::Duration::from_secs(300),
        read_mode: Default::default(),
        accept_journal_loss: false,
        reset_admin_password: false,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let cloud = tokio::spawn(orrery_live::serve(opts, async {
        let _ = stopped.await;
    }));
    let base = endpoint(&data).await;
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();

    let before = scrape(&client, &base).await;
    assert!(before.get("orrery_journal_commit_duration_seconds_count") >= 1.0, "creating the cloud committed its Init");

    let ok = call(&client, Method::GET, &format!("{base}/identity/v3"), None, None).await;
    assert_eq!(ok.status, StatusCode::OK);
    let denied = call(&client, Method::GET, &format!("{base}/compute/v2.1/servers"), None, None).await;
    assert_eq!(denied.status, StatusCode::UNAUTHORIZED);
    for r in [&ok, &denied] {
        let id = r.request_id();
        assert!(id.len() == 40 && id.starts_with("req-"), "request id {id:?}");
    }
    assert_ne!(ok.request_id(), denied.request_id());

    let token = admin_token(&client, &base, &data).await;
    let hypervisors = call(&client, Method::GET, &format!("{base}/compute/v2.1/os-hypervisors"), Some(&token), None).await.json();
    let hypervisors = hypervisors["hypervisors"].as_array().cloned().unwrap_or_default();
    assert!(hypervisors.len() > 1);
    let victim = hypervisors[0]["hypervisor_hostname"].as_str().unwrap().to_string();
    let failed = call(&client, Method::POST, &format!("{base}/orrery/v1/chaos/fail"), Some(&token), Some(json!({"kind": "host", "name": victim}))).await;
    assert_eq!(failed.status, StatusCode::OK, "{}", String::from_utf8_lossy(&failed.body));

    let named = |list: &Value, name: &str| list.as_array().and_then(|l| l.iter().find(|x| x["name"] == name)).map(|x| x["id"].clone());
    let flavors = call(&client, Method::GET, &format!("{base}/compute/v2.1/flavors"), Some(&token), None).await.json();
    let images = call(&client, Method::GET, &format!("{base}/image/v2/images"), Some(&token), None).await.json();
    let (flavor, image) = (named(&flavors["flavors"], "m1.tiny").unwrap(), named(&images["images"], "cirros-0.6").unwrap());
    let boot = json!({"server": {"name": "metrics-1", "flavorRef": flavor, "imageRef": image, "networks": "none"}});
    let booted = call(&client, Method::POST, &format!("{base}/compute/v2.1/servers"), Some(&token), Some(boot)).await;
    assert_eq!(booted.status, StatusCode::ACCEPTED, "{}", String::from_utf8_lossy(&booted.body));

    let after = scrape(&client, &base).await;
    for (family, kind) in [
        ("orrery_http_requests_total", "counter"),
        ("orrery_http_request_duration_seconds", "histogram"),
        ("orrery_journal_commit_duration_seconds", "histogram"),
        ("orrery_journal_batch_entries", "histogram"),
        ("orrery_actor_queue_depth", "gauge"),
        ("orrery_hosts", "gauge"),
        ("orrery_servers", "gauge"),
    ] {
        assert_eq!(after.types.get(family).map(String::as_str), Some(kind), "# TYPE of {family}");
    }
    let moved = |series: &str| after.get(series) - before.get(series);
    assert!(moved(r#"orrery_http_requests_total{service="identity",status="200"}"#) >= 1.0);
    assert!(moved(r#"orrery_http_requests_total{service="identity",status="201"}"#) >= 1.0);
    assert!(moved(r#"orrery_http_requests_total{service="compute",status="401"}"#) >= 1.0);
    assert!(moved(r#"orrery_http_requests_total{service="compute",status="202"}"#) >= 1.0);
    assert!(moved(r#"orrery_http_requests_total{service="admin",status="200"}"#) >= 1.0);
    assert!(moved(r#"orrery_http_requests_total{service="image",status="200"}"#) >= 1.0);
    assert!(moved(r#"orrery_http_requests_total{service="other",status="200"}"#) >= 1.0, "the first scrape is counted");
    assert!(moved(r#"orrery_http_request_duration_seconds_count{service="compute"}"#) >= 3.0);
    assert_eq!(
        after.get(r#"orrery_http_request_duration_seconds_bucket{service="compute",le="+Inf"}"#),
        after.get(r#"orrery_http_request_duration_seconds_count{service="compute"}"#)
    );
    assert!(moved("orrery_journal_commit_duration_seconds_count") >= 3.0, "token, chaos and boot are journaled");
    assert!(moved("orrery_journal_batch_entries_sum") >= 3.0);
    assert!(after.get("orrery_actor_queue_depth") >= 0.0);
    assert_eq!(after.get(r#"orrery_hosts{state="up"}"#), (hypervisors.len() - 1) as f64);
    assert_eq!(after.get(r#"orrery_hosts{state="down"}"#), 1.0);
    assert_eq!(after.get(r#"orrery_hosts{state="maintenance"}"#), 0.0);
    let servers: f64 = after.samples.iter().filter(|(k, _)| k.starts_with("orrery_servers{")).map(|(_, v)| v).sum();
    assert_eq!(servers, 1.0, "one server, whatever its status: {:?}", after.samples);

    let lines = log_lines();
    let logged = |id: &str, status: &str| lines.iter().any(|l| l.contains("orrery::http") && l.contains(&format!("request_id={id}")) && l.contains(status));
    assert!(logged(&denied.request_id(), "status=401"), "no log line for the 401:\n{}", lines.join("\n"));
    assert!(logged(&ok.request_id(), "status=200"));
    assert!(logged(&booted.request_id(), "status=202"), "the boot is logged under the request id of its action");
    assert!(lines.iter().any(|l| l.contains("method=GET path=/compute/v2.1/servers status=401")));
    let health = format!("WARN orrery::health: kind=host name={victim} from=up to=down");
    assert!(lines.iter().any(|l| l.contains(&health)), "no health line:\n{}", lines.join("\n"));

    let _ = stop.send(());
    cloud.await.expect("the cloud task").expect("the cloud stops cleanly");
    let _ = std::fs::remove_dir_all(&data);
}
