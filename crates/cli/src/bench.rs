//! `orrery bench`: the measurements behind docs/benchmarks.md. `bench api` starts a real
//! `orrery up` process on a generated topology and drives it over HTTP like a client would;
//! `bench reads` (in [`reads`]) does the same with a mixed load of reads and writes, once per
//! read mode.

mod network;
mod reads;
mod restart;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Subcommand;
use hyper::{Method, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

/// Benchmarks.
#[derive(Subcommand)]
pub enum BenchCmd {
    /// Startup time, boot rate, listing latency and memory of a live cloud, through HTTP.
    #[command(after_help = "Examples:
  orrery bench api                                   # 1,000 hosts, 10,000 servers
  orrery bench api --hosts 10000 --servers 100000    # the memory target")]
    Api(ApiArgs),
    /// The simulator's wall time, peak memory and kernel events per second on large scenarios.
    #[command(after_help = crate::sim::BENCH_EXAMPLES)]
    Sim(crate::sim::BenchSimArgs),
    /// Reads and writes per second and their latencies under a mixed load, with reads served
    /// through the kernel actor and from published snapshots.
    #[command(after_help = reads::EXAMPLES)]
    Reads(reads::ReadsArgs),
    /// What snapshots of a large cloud cost the kernel actor, and how long a restart after
    /// `kill -9` takes, from a snapshot and its journal tail or from the whole journal.
    #[command(after_help = restart::EXAMPLES)]
    Restart(restart::RestartArgs),
    /// IP allocation time at every fill level of a /16, and port creations per second,
    /// listing and memory of a live cloud with many networks and ports.
    #[command(after_help = network::EXAMPLES)]
    Network(network::NetworkArgs),
}

/// The cloud a live benchmark drives: its size and how many clients drive it.
#[derive(clap::Args)]
pub struct CloudArgs {
    /// Compute hosts in the generated topology (20 per rack, 2 zones).
    #[arg(long, default_value_t = 1000)]
    pub hosts: u32,
    /// Servers to boot.
    #[arg(long, default_value_t = 10_000)]
    pub servers: u32,
    /// Concurrent client connections.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
}

/// Options of `bench api`.
#[derive(clap::Args)]
pub struct ApiArgs {
    #[command(flatten)]
    cloud: CloudArgs,
    /// Keep the data directory here instead of a temporary one.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

use crate::remote::{admin_token, call, HttpClient};

/// Runs a benchmark.
pub async fn run(cmd: BenchCmd) -> Result<(), String> {
    match cmd {
        BenchCmd::Api(a) => api(a).await,
        BenchCmd::Sim(a) => crate::sim::bench(a).await,
        BenchCmd::Reads(a) => reads::run(a).await,
        BenchCmd::Restart(a) => restart::run(a),
        BenchCmd::Network(a) => network::run(a).await,
    }
}

/// A running `orrery up` child, killed on drop.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn api(a: ApiArgs) -> Result<(), String> {
    let tmp = a.data_dir.clone().unwrap_or_else(|| std::env::temp_dir().join(format!("orrery-bench-{}", std::process::id())));
    fresh_dir(&tmp)?;
    let topo = write_topology(&tmp, a.cloud.hosts)?;
    let client = http_client(a.cloud.concurrency);
    let t0 = Instant::now();
    let server = start_server(&tmp, &topo, &[]).await?;
    let startup = t0.elapsed();
    println!("startup to serving ({} hosts): {:.0} ms", a.cloud.hosts, startup.as_secs_f64() * 1e3);
    let token = admin_token(&client, &server.base, &tmp.join("data")).await?;
    unlimited_quota(&client, &server.base, &token).await?;
    let image = image_id(&client, &server.base, &token).await?;
    let boot = boot_servers(&client, &server.base, &token, &image, a.cloud.servers, a.cloud.concurrency).await?;
    println!(
        "boots: {} servers in {:.2} s = {:.0} servers/s (concurrency {})",
        a.cloud.servers,
        boot.as_secs_f64(),
        f64::from(a.cloud.servers) / boot.as_secs_f64(),
        a.cloud.concurrency
    );
    for round in 0..3 {
        let (n, pages, took) = list_detail(&client, &server.base, &token).await?;
        println!("list /servers/detail round {round}: {n} servers in {pages} pages, {:.0} ms", took.as_secs_f64() * 1e3);
    }
    let (rss, hwm) = rss_of(server.child.id());
    println!("server memory: RSS {:.1} MiB, peak {:.1} MiB", rss as f64 / 1024.0, hwm as f64 / 1024.0);
    drop(server);
    if a.data_dir.is_none() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    Ok(())
}

/// Empties `dir`, creating it if needed.
fn fresh_dir(dir: &Path) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))
}

/// A keep-alive client pooling up to `concurrency` connections.
fn http_client(concurrency: usize) -> HttpClient {
    Client::builder(TokioExecutor::new()).pool_max_idle_per_host(concurrency).build_http()
}

fn write_topology(dir: &Path, hosts: u32) -> Result<PathBuf, String> {
    let per_rack = 20.min(hosts.max(1));
    let racks = hosts.div_ceil(per_rack);
    let (r1, r2) = (racks.div_ceil(2), racks / 2);
    let mut text = format!(
        "[host_profile.std]\nvcpus = 64\nram = \"384GiB\"\ndisk = \"1920GiB\"\n\n[[region]]\nname = \"RegionOne\"\n\n\
[[region.zones]]\nname = \"az1\"\n[[region.zones.racks]]\ncount = {r1}\nhosts = {per_rack}\nprofile = \"std\"\n"
    );
    if r2 > 0 {
        text += &format!("\n[[region.zones]]\nname = \"az2\"\n[[region.zones.racks]]\ncount = {r2}\nhosts = {per_rack}\nprofile = \"std\"\n");
    }
    let path = dir.join("bench-topology.toml");
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// Starts `orrery up` on `dir/data` with `topo` and the `extra` arguments, and waits until it serves.
async fn start_server(dir: &Path, topo: &Path, extra: &[&str]) -> Result<Server, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the orrery binary: {e}"))?;
    let log = std::fs::File::create(dir.join("server.log")).map_err(|e| e.to_string())?;
    let child = Command::new(exe)
        .args(["up", "--listen", "127.0.0.1:0", "--time-scale", "100", "--data-dir"])
        .arg(dir.join("data"))
        .arg("--topology")
        .arg(topo)
        .args(extra)
        .env("ORRERY_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start orrery up: {e}"))?;
    let endpoint = dir.join("data").join("endpoint");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(base) = std::fs::read_to_string(&endpoint) {
            return Ok(Server { child, base: base.trim().to_string() });
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Err(format!("orrery up did not start within 60 s; see {}", dir.join("server.log").display()))
}

async fn unlimited_quota(client: &HttpClient, base: &str, token: &str) -> Result<(), String> {
    let (status, _, text) = call(client, Method::GET, &format!("{base}/identity/v3/projects?name=admin"), Some(token), None).await?;
    let v: Value = serde_json::from_slice(&text).map_err(|e| format!("projects list ({status}): {e}"))?;
    let id = v["projects"][0]["id"].as_str().ok_or("admin project not found")?.to_string();
    let q = json!({"quota_set": {"instances": -1, "cores": -1, "ram": -1}});
    let (status, _, text) = call(client, Method::PUT, &format!("{base}/compute/v2.1/os-quota-sets/{id}"), Some(token), Some(q)).await?;
    if !status.is_success() {
        return Err(format!("quota update failed with {status}: {}", String::from_utf8_lossy(&text)));
    }
    Ok(())
}

async fn image_id(client: &HttpClient, base: &str, token: &str) -> Result<String, String> {
    let (status, _, text) = call(client, Method::GET, &format!("{base}/image/v2/images?name=cirros-0.6"), Some(token), None).await?;
    let v: Value = serde_json::from_slice(&text).map_err(|e| format!("image list ({status}): {e}"))?;
    v["images"][0]["id"].as_str().map(str::to_string).ok_or_else(|| format!("image cirros-0.6 not found ({status})"))
}

async fn boot_servers(client: &HttpClient, base: &str, token: &str, image: &str, n: u32, concurrency: usize) -> Result<Duration, String> {
    let url = Arc::new(format!("{base}/compute/v2.1/servers"));
    let image = Arc::new(image.to_string());
    let next = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, url, next, token, image) = (client.clone(), url.clone(), next.clone(), token.to_string(), image.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    return Ok::<(), String>(());
                }
                let body = json!({"server": {"name": format!("bench-{i}"), "flavorRef": "1", "imageRef": image.as_str(), "networks": "none"}});
                let (status, _, text) = call(&client, Method::POST, &url, Some(&token), Some(body)).await?;
                if status != StatusCode::ACCEPTED {
                    return Err(format!("server create failed with {status}: {}", String::from_utf8_lossy(&text)));
                }
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    Ok(t0.elapsed())
}

async fn list_detail(client: &HttpClient, base: &str, token: &str) -> Result<(usize, usize, Duration), String> {
    let t0 = Instant::now();
    let mut url = format!("{base}/compute/v2.1/servers/detail?limit=10000");
    let (mut total, mut pages) = (0, 0);
    loop {
        let (status, _, text) = call(client, Method::GET, &url, Some(token), None).await?;
        if status != StatusCode::OK {
            return Err(format!("list failed with {status}: {}", String::from_utf8_lossy(&text)));
        }
        // Scan the whole page but build no DOM: the figure is the server's, not the client's.
        let page: Page = serde_json::from_slice(&text).map_err(|e| e.to_string())?;
        let got = page.servers.len();
        total += got;
        pages += 1;
        let next = page.servers_links.iter().find(|l| l.rel == "next").map(|l| l.href.as_str());
        match next {
            Some(href) if got > 0 => url = href.to_string(),
            _ => break,
        }
    }
    Ok((total, pages, t0.elapsed()))
}

/// One page of `GET /servers/detail`, with the servers skipped over rather than parsed.
#[derive(serde::Deserialize)]
struct Page {
    servers: Vec<serde::de::IgnoredAny>,
    #[serde(default)]
    servers_links: Vec<PageLink>,
}

/// A pagination link.
#[derive(serde::Deserialize)]
struct PageLink {
    rel: String,
    href: String,
}

/// (current RSS, peak RSS) in KiB of a process, from /proc.
fn rss_of(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| status.lines().find(|l| l.starts_with(name)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0);
    (field("VmRSS:"), field("VmHWM:"))
}
