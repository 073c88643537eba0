//! `orrery bench network`: what the network service costs.
//! - **IPAM**, in-process: the time to allocate one address from a `/16` subnet when it is
//!   empty, half full and nearly full, and when its free addresses are fragmented into every
//!   other address (the worst case for the interval set: 32,768 free ranges).
//! - **Ports through HTTP**: a live `orrery up` with `--networks` networks of one `/16` subnet
//!   each, `--ports` ports created round-robin over them by concurrent clients, the creation
//!   rate, one network's port listing, and the server's memory.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use orrery_kernel::network::cidr::Cidr;
use orrery_kernel::network::ipam::{Gateway, SubnetIpam};
use orrery_kernel::Uuid;
use serde_json::{json, Value};

use super::{fresh_dir, http_client, rss_of, start_server, write_topology};
use crate::remote::{admin_token, call, HttpClient};

/// Examples in `orrery bench network --help`.
pub const EXAMPLES: &str = "Examples:
  orrery bench network                                  # 100 networks, 10,000 ports
  orrery bench network --networks 1000 --ports 100000   # the issue's target";

/// Options of `bench network`.
#[derive(clap::Args)]
pub struct NetworkArgs {
    /// Networks, each with one /16 subnet.
    #[arg(long, default_value_t = 100)]
    networks: u32,
    /// Ports, spread round-robin over the networks.
    #[arg(long, default_value_t = 10_000)]
    ports: u32,
    /// Concurrent client connections.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Allocations timed at each fill level of the IPAM measurement.
    #[arg(long, default_value_t = 20_000)]
    samples: u32,
}

/// Runs the benchmark.
pub async fn run(a: NetworkArgs) -> Result<(), String> {
    ipam(a.samples)?;
    ports(&a).await
}

/// A fresh `/16` subnet's allocator.
fn slash16() -> Result<SubnetIpam, String> {
    let cidr = Cidr::parse("10.0.0.0/16").map_err(|e| e.to_string())?;
    SubnetIpam::new(Uuid(1), Uuid(2), cidr, Gateway::Default, None).map_err(|e| e.to_string())
}

/// Nanoseconds per allocate+release pair of the lowest free address, over `samples` pairs.
fn time_pairs(ipam: &mut SubnetIpam, samples: u32) -> Result<f64, String> {
    let t0 = Instant::now();
    for _ in 0..samples {
        let ip = ipam.allocate(None).map_err(|e| e.to_string())?;
        ipam.release(ip);
    }
    Ok(t0.elapsed().as_nanos() as f64 / f64::from(samples))
}

fn ipam(samples: u32) -> Result<(), String> {
    let mut ipam = slash16()?;
    let total = ipam.free_count();
    let mut held: Vec<IpAddr> = Vec::new();
    for (label, fill) in [("empty", 0.0), ("half full", 0.5), ("99.9 % full", 0.999)] {
        let want = (total as f64 * fill) as usize;
        while held.len() < want {
            held.push(ipam.allocate(None).map_err(|e| e.to_string())?);
        }
        let ns = time_pairs(&mut ipam, samples)?;
        println!("ipam /16 {label:>11}: {ns:>6.0} ns per allocate+release ({} of {total} free, {samples} pairs)", ipam.free_count());
    }
    // Free every other address: the most ranges a /16's free set can have.
    for ip in held.iter().step_by(2) {
        ipam.release(*ip);
    }
    let ns = time_pairs(&mut ipam, samples)?;
    println!("ipam /16 fragmented: {ns:>6.0} ns per allocate+release ({} free, in as many ranges)", ipam.free_count());
    Ok(())
}

async fn ports(a: &NetworkArgs) -> Result<(), String> {
    let tmp = std::env::temp_dir().join(format!("orrery-bench-network-{}", std::process::id()));
    fresh_dir(&tmp)?;
    let topo = write_topology(&tmp, 100)?;
    let client = http_client(a.concurrency);
    let server = start_server(&tmp, &topo, &[]).await?;
    let base = server.base.clone();
    let token = admin_token(&client, &base, &tmp.join("data")).await?;
    unlimited_network_quota(&client, &base, &token).await?;
    let t0 = Instant::now();
    let mut nets = Vec::new();
    for i in 0..a.networks {
        let net = post(&client, &base, &token, "networks", json!({"network": {"name": format!("bench-{i}")}})).await?;
        let id = net["network"]["id"].as_str().ok_or("network create: no id")?.to_string();
        let sub = json!({"subnet": {"network_id": id, "ip_version": 4, "cidr": "10.0.0.0/16"}});
        post(&client, &base, &token, "subnets", sub).await?;
        nets.push(id);
    }
    println!("networks: {} networks with a /16 subnet each in {:.2} s", a.networks, t0.elapsed().as_secs_f64());
    let took = create_ports(&client, &base, &token, Arc::new(nets.clone()), a.ports, a.concurrency).await?;
    println!(
        "ports: {} ports in {:.2} s = {:.0} ports/s (concurrency {})",
        a.ports,
        took.as_secs_f64(),
        f64::from(a.ports) / took.as_secs_f64(),
        a.concurrency
    );
    let t0 = Instant::now();
    let (status, _, text) = call(&client, Method::GET, &format!("{base}/network/v2.0/ports?network_id={}", nets[0]), Some(&token), None).await?;
    let listed: Value = serde_json::from_slice(&text).map_err(|e| format!("port list ({status}): {e}"))?;
    let n = listed["ports"].as_array().map_or(0, Vec::len);
    println!("list ports of one network: {n} ports in {:.1} ms", t0.elapsed().as_secs_f64() * 1e3);
    let (rss, hwm) = rss_of(server.child.id());
    println!("server memory: RSS {:.1} MiB, peak {:.1} MiB", rss as f64 / 1024.0, hwm as f64 / 1024.0);
    drop(server);
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

/// POSTs `body` to `/network/v2.0/{path}`; the created resource.
async fn post(client: &HttpClient, base: &str, token: &str, path: &str, body: Value) -> Result<Value, String> {
    let (status, _, text) = call(client, Method::POST, &format!("{base}/network/v2.0/{path}"), Some(token), Some(body)).await?;
    if status != StatusCode::CREATED {
        return Err(format!("POST {path} failed with {status}: {}", String::from_utf8_lossy(&text)));
    }
    serde_json::from_slice(&text).map_err(|e| e.to_string())
}

/// Lifts the admin project's network, subnet and port quotas.
async fn unlimited_network_quota(client: &HttpClient, base: &str, token: &str) -> Result<(), String> {
    let (status, _, text) = call(client, Method::GET, &format!("{base}/identity/v3/projects?name=admin"), Some(token), None).await?;
    let v: Value = serde_json::from_slice(&text).map_err(|e| format!("projects list ({status}): {e}"))?;
    let id = v["projects"][0]["id"].as_str().ok_or("admin project not found")?.to_string();
    let q = json!({"quota": {"network": -1, "subnet": -1, "port": -1}});
    let (status, _, text) = call(client, Method::PUT, &format!("{base}/network/v2.0/quotas/{id}"), Some(token), Some(q)).await?;
    if !status.is_success() {
        return Err(format!("network quota update failed with {status}: {}", String::from_utf8_lossy(&text)));
    }
    Ok(())
}

async fn create_ports(client: &HttpClient, base: &str, token: &str, nets: Arc<Vec<String>>, n: u32, concurrency: usize) -> Result<Duration, String> {
    let url = Arc::new(format!("{base}/network/v2.0/ports"));
    let next = Arc::new(AtomicU32::new(0));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, url, next, token, nets) = (client.clone(), url.clone(), next.clone(), token.to_string(), nets.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<(), String>(());
                }
                let net = &nets[i as usize % nets.len()];
                let body = json!({"port": {"network_id": net, "name": format!("p{i}")}});
                let (status, _, text) = call(&client, Method::POST, &url, Some(&token), Some(body)).await?;
                if status != StatusCode::CREATED {
                    return Err(format!("port create failed with {status}: {}", String::from_utf8_lossy(&text)));
                }
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    Ok(t0.elapsed())
}
