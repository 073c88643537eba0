//! `orrery bench reads`: how fast a live cloud serves a mixed load of reads and writes when reads
//! go through the kernel actor and when they run on the snapshot it publishes. It boots the
//! servers once (reads through the actor) and waits for them to be active; then, for each read
//! mode, it starts `orrery up --read-mode MODE` on its own copy of that data directory and runs
//! one fixed-length phase per write share from many connections at once.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use orrery_api::ReadMode;
use serde_json::json;

use super::{admin_token, boot_servers, call, fresh_dir, http_client, image_id, rss_of, start_server, unlimited_quota, write_topology, HttpClient, Server};

/// Examples in `orrery bench reads --help`.
pub const EXAMPLES: &str = "Examples:
  orrery bench reads                                          # 1,000 hosts, 10,000 servers, both modes
  orrery bench reads --hosts 10000 --servers 100000 --writes 10,1
  orrery bench reads --read-mode snapshot --write create --seconds 5";

/// Options of `bench reads`.
#[derive(clap::Args)]
pub struct ReadsArgs {
    #[command(flatten)]
    cloud: super::CloudArgs,
    /// Shares of writes in the load, in percent; each is one phase on the same cloud.
    #[arg(long, value_delimiter = ',', default_value = "10,1")]
    writes: Vec<f64>,
    /// What a write is: `metadata` sets a key on a booted server, `create` boots one more.
    #[arg(long, value_enum, default_value_t = WriteKind::Metadata)]
    write: WriteKind,
    /// Length of each phase, in seconds.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Read modes to measure, each on its own cloud.
    #[arg(long, value_delimiter = ',', default_value = "actor,snapshot", value_name = "actor|snapshot")]
    read_mode: Vec<ReadMode>,
    /// Keep the data directories under this one instead of a temporary one.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// The write of the mixed load.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum WriteKind {
    /// `PUT /servers/{id}/metadata/{key}` on a booted server (the state stays the same size).
    Metadata,
    /// `POST /servers` (the state grows).
    Create,
}

/// One phase's figures.
struct Row {
    mode: ReadMode,
    write_pct: f64,
    reads: Latencies,
    writes: Latencies,
    took: Duration,
}

/// Latencies of one kind of request, in microseconds.
#[derive(Default)]
struct Latencies(Vec<u32>);

impl Latencies {
    fn push(&mut self, d: Duration) {
        self.0.push(u32::try_from(d.as_micros()).unwrap_or(u32::MAX));
    }

    fn merge(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    /// The `q` quantile in milliseconds, or "-" if there were none (sort the list first).
    fn ms(&self, q: f64) -> String {
        if self.0.is_empty() {
            return "-".into();
        }
        let i = ((self.0.len() - 1) as f64 * q).round() as usize;
        format!("{:.2}ms", f64::from(self.0[i]) / 1e3)
    }

    fn sort(&mut self) {
        self.0.sort_unstable();
    }

    fn per_sec(&self, took: Duration) -> f64 {
        self.0.len() as f64 / took.as_secs_f64()
    }
}

/// What every connection of a phase shares.
struct Load {
    client: HttpClient,
    base: String,
    token: String,
    image: String,
    ids: Vec<String>,
    write: WriteKind,
}

/// Runs the benchmark: one cloud per read mode, one phase per write share, then the table.
pub async fn run(a: ReadsArgs) -> Result<(), String> {
    if a.writes.iter().any(|w| !(0.0..=100.0).contains(w)) {
        return Err(format!("--writes takes percentages between 0 and 100, not {:?}", a.writes));
    }
    if !(a.seconds.is_finite() && a.seconds > 0.0) || a.cloud.concurrency == 0 {
        return Err("--seconds and --concurrency must be positive".into());
    }
    let root = a.data_dir.clone().unwrap_or_else(|| std::env::temp_dir().join(format!("orrery-bench-reads-{}", std::process::id())));
    let booted = root.join("booted");
    boot_once(&a, &booted).await?;
    let mut rows = Vec::new();
    for &mode in &a.read_mode {
        rows.extend(one_mode(&a, mode, &booted, &root.join(mode.as_str())).await?);
    }
    if a.data_dir.is_none() {
        let _ = std::fs::remove_dir_all(&root);
    }
    print_table(&a, &rows);
    Ok(())
}

/// Boots the servers on a cloud in `dir` and stops it once none is building.
async fn boot_once(a: &ReadsArgs, dir: &Path) -> Result<(), String> {
    fresh_dir(dir)?;
    let topo = write_topology(dir, a.cloud.hosts)?;
    let client = http_client(a.cloud.concurrency);
    let server = start_server(dir, &topo, &[]).await?;
    let token = admin_token(&client, &server.base, &dir.join("data")).await?;
    unlimited_quota(&client, &server.base, &token).await?;
    let image = image_id(&client, &server.base, &token).await?;
    let boot = boot_servers(&client, &server.base, &token, &image, a.cloud.servers, a.cloud.concurrency).await?;
    wait_active(&client, &server.base, &token).await?;
    println!("{} servers on {} hosts booted in {:.1} s", a.cloud.servers, a.cloud.hosts, boot.as_secs_f64());
    // Killed, not stopped: the restarts below replay the journal, as after a crash.
    drop(server);
    Ok(())
}

/// Starts a cloud in `mode` on a copy of the booted one and runs every phase on it.
async fn one_mode(a: &ReadsArgs, mode: ReadMode, booted: &Path, dir: &Path) -> Result<Vec<Row>, String> {
    fresh_dir(dir)?;
    copy_tree(&booted.join("data"), &dir.join("data"))?;
    let _ = std::fs::remove_file(dir.join("data").join("endpoint"));
    let topo = write_topology(dir, a.cloud.hosts)?;
    let client = http_client(a.cloud.concurrency);
    let t0 = Instant::now();
    let server = start_server(dir, &topo, &["--read-mode", mode.as_str()]).await?;
    let token = admin_token(&client, &server.base, &dir.join("data")).await?;
    let image = image_id(&client, &server.base, &token).await?;
    let ids = server_ids(&client, &server.base, &token).await?;
    println!("{}: restarted on {} servers in {:.1} s", mode.as_str(), ids.len(), t0.elapsed().as_secs_f64());
    let load = Arc::new(Load { client, base: server.base.clone(), token, image, ids, write: a.write });
    let mut rows = Vec::new();
    for &pct in &a.writes {
        let row = phase(&load, mode, pct, a.cloud.concurrency, Duration::from_secs_f64(a.seconds)).await?;
        print_row(&row);
        rows.push(row);
    }
    report_memory(&server);
    Ok(rows)
}

/// Copies the directory tree `from` to `to`.
fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("{}: {e}", to.display()))?;
    for entry in std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))? {
        let entry = entry.map_err(|e| format!("{}: {e}", from.display()))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().map_err(|e| format!("{}: {e}", src.display()))?.is_dir() {
            copy_tree(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst).map_err(|e| format!("cannot copy {} to {}: {e}", src.display(), dst.display()))?;
        }
    }
    Ok(())
}

fn report_memory(server: &Server) {
    let (rss, hwm) = rss_of(server.child.id());
    println!("  server memory: RSS {:.1} MiB, peak {:.1} MiB", rss as f64 / 1024.0, hwm as f64 / 1024.0);
}

/// Waits until no server is still building, so the phases measure only their own writes.
async fn wait_active(client: &HttpClient, base: &str, token: &str) -> Result<(), String> {
    let url = format!("{base}/compute/v2.1/servers?status=BUILD&limit=1");
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let (status, _, body) = call(client, Method::GET, &url, Some(token), None).await?;
        let page: IdPage = serde_json::from_slice(&body).map_err(|e| format!("server list ({status}): {e}"))?;
        if page.servers.is_empty() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("servers were still building after 120 s".into())
}

/// Every server's id, from `GET /servers` pages.
async fn server_ids(client: &HttpClient, base: &str, token: &str) -> Result<Vec<String>, String> {
    let mut url = format!("{base}/compute/v2.1/servers?limit=1000");
    let mut ids = Vec::new();
    loop {
        let (status, _, body) = call(client, Method::GET, &url, Some(token), None).await?;
        if status != StatusCode::OK {
            return Err(format!("server list failed with {status}: {}", String::from_utf8_lossy(&body)));
        }
        let page: IdPage = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        let got = page.servers.len();
        ids.extend(page.servers.into_iter().map(|s| s.id));
        match page.servers_links.into_iter().find(|l| l.rel == "next") {
            Some(l) if got > 0 => url = l.href,
            _ => return Ok(ids),
        }
    }
}

/// A page of `GET /servers`, ids only.
#[derive(serde::Deserialize)]
struct IdPage {
    servers: Vec<IdOnly>,
    #[serde(default)]
    servers_links: Vec<super::PageLink>,
}

/// A server of a summary list.
#[derive(serde::Deserialize)]
struct IdOnly {
    id: String,
}

/// Runs the mixed load with `pct` % writes from `concurrency` connections for `length`.
async fn phase(load: &Arc<Load>, mode: ReadMode, pct: f64, concurrency: usize, length: Duration) -> Result<Row, String> {
    let t0 = Instant::now();
    let until = t0 + length;
    let mut tasks = Vec::new();
    for conn in 0..concurrency {
        let load = load.clone();
        tasks.push(tokio::spawn(async move { connection(&load, conn as u64, pct / 100.0, until).await }));
    }
    let (mut reads, mut writes) = (Latencies::default(), Latencies::default());
    for t in tasks {
        let (r, w) = t.await.map_err(|e| e.to_string())??;
        reads.merge(r);
        writes.merge(w);
    }
    let took = t0.elapsed();
    reads.sort();
    writes.sort();
    Ok(Row { mode, write_pct: pct, reads, writes, took })
}

/// One connection's loop: a write with probability `share`, else one of the reads.
async fn connection(load: &Load, conn: u64, share: f64, until: Instant) -> Result<(Latencies, Latencies), String> {
    let mut rng = SplitMix(0x5eed ^ conn.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let (mut reads, mut writes) = (Latencies::default(), Latencies::default());
    let mut n = 0u64;
    while Instant::now() < until {
        n += 1;
        let server = &load.ids[rng.below(load.ids.len() as u64) as usize];
        let is_write = rng.unit() < share;
        let (method, url, body, expect) = if is_write { write_request(load, server, conn, n) } else { read_request(load, server, rng.unit()) };
        let started = Instant::now();
        let (status, _, text) = call(&load.client, method.clone(), &url, Some(&load.token), body).await?;
        if status != expect {
            return Err(format!("{method} {url} answered {status}, not {expect}: {}", String::from_utf8_lossy(&text)));
        }
        if is_write {
            writes.push(started.elapsed());
        } else {
            reads.push(started.elapsed());
        }
    }
    Ok((reads, writes))
}

/// A request as (method, URL, body, expected status).
type Call = (Method, String, Option<serde_json::Value>, StatusCode);

/// The write: a metadata key (one of 8 per server, so the state does not grow) or a new server.
fn write_request(load: &Load, server: &str, conn: u64, n: u64) -> Call {
    let compute = format!("{}/compute/v2.1", load.base);
    match load.write {
        WriteKind::Metadata => {
            let key = format!("k{}", n % 8);
            let body = json!({"meta": {key.clone(): format!("v{conn}-{n}")}});
            (Method::PUT, format!("{compute}/servers/{server}/metadata/{key}"), Some(body), StatusCode::OK)
        }
        WriteKind::Create => {
            let body = json!({"server": {"name": format!("mix-{conn}-{n}"), "flavorRef": "1", "imageRef": load.image, "networks": "none"}});
            (Method::POST, format!("{compute}/servers"), Some(body), StatusCode::ACCEPTED)
        }
    }
}

/// The read for a uniform draw `u`: 60 % one server, 30 % a page of 100 with details, 10 % a
/// page of 100 hypervisors.
fn read_request(load: &Load, server: &str, u: f64) -> Call {
    let compute = format!("{}/compute/v2.1", load.base);
    let url = if u < 0.6 {
        format!("{compute}/servers/{server}")
    } else if u < 0.9 {
        format!("{compute}/servers/detail?limit=100")
    } else {
        format!("{compute}/os-hypervisors?limit=100")
    };
    (Method::GET, url, None, StatusCode::OK)
}

/// A small seeded generator (SplitMix64), so every run draws the same requests.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, n), for n > 0.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const HEADER: &str = "mode      writes   reads/s  writes/s  read p50  read p99  write p50  write p99";

fn print_row(r: &Row) {
    println!(
        "  {:<8} {:>5.1} % {:>9.0} {:>9.0} {:>9} {:>9} {:>10} {:>10}",
        r.mode.as_str(),
        r.write_pct,
        r.reads.per_sec(r.took),
        r.writes.per_sec(r.took),
        r.reads.ms(0.5),
        r.reads.ms(0.99),
        r.writes.ms(0.5),
        r.writes.ms(0.99)
    );
}

fn print_table(a: &ReadsArgs, rows: &[Row]) {
    let write = match a.write {
        WriteKind::Metadata => "metadata set",
        WriteKind::Create => "server create",
    };
    println!("\n{} hosts, {} servers, {} connections, {} s per phase, writes are {write}:", a.cloud.hosts, a.cloud.servers, a.cloud.concurrency, a.seconds);
    println!("  {HEADER}");
    for r in rows {
        print_row(r);
    }
}
