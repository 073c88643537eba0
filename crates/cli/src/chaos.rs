//! `orrery chaos` and `orrery status`: fail and recover failure domains of a running cloud, and
//! see its health at a glance. Both are clients of the admin API (`/orrery/v1`), reached
//! through the data directory `orrery up` serves.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Subcommand, ValueEnum};
use hyper::Method;
use serde_json::{json, Value};

use crate::remote::Remote;

/// Examples for `orrery chaos --help`.
pub const CHAOS_EXAMPLES: &str = "Examples:
  orrery chaos list rack                     # every rack, what it holds, its state
  orrery chaos fail rack az1-r01             # the rack's hosts go down; their servers are lost or rebuilt elsewhere
  orrery chaos recover rack az1-r01          # the hosts come back (a host failed on its own stays down)
  orrery chaos fail host az2-r01-h03
  orrery chaos maintain host az1-r02-h01     # no new servers there; what runs keeps running

Kinds: host, rack, az, region. Each change is journaled like every other command.";

/// Examples for `orrery status --help`.
pub const STATUS_EXAMPLES: &str = "Examples:
  orrery status                              # HEALTH_OK / HEALTH_WARN / HEALTH_ERR with the reasons
  orrery status --watch                      # refresh every 2 s until Ctrl-C
  orrery status --format json | jq .health";

/// Where the cloud is: the data directory `orrery up` serves.
#[derive(clap::Args)]
pub struct Target {
    /// The data directory of the running cloud.
    #[arg(long, env = "ORRERY_DATA_DIR", default_value_os_t = crate::default_data_dir())]
    data_dir: PathBuf,
}

/// `orrery chaos` subcommands.
#[derive(Subcommand)]
pub enum ChaosCmd {
    /// Fail a component: it and everything in it go down.
    Fail(Change),
    /// Recover a failed or maintained component.
    Recover(Change),
    /// Put a component in maintenance: nothing new is placed there.
    Maintain(Change),
    /// List the components that can be failed, what each contains, and its state.
    List {
        /// Only this kind.
        kind: Option<Kind>,
        #[command(flatten)]
        target: Target,
    },
}

/// A kind of failure domain.
#[derive(Copy, Clone, ValueEnum)]
pub enum Kind {
    /// One host.
    Host,
    /// A rack and every host in it.
    Rack,
    /// An availability zone.
    Az,
    /// A region.
    Region,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Host => "host",
            Kind::Rack => "rack",
            Kind::Az => "az",
            Kind::Region => "region",
        }
    }
}

/// One component to change.
#[derive(clap::Args)]
pub struct Change {
    /// Its kind.
    kind: Kind,
    /// Its name (`az1-r01-h03`, `az1-r01`, `az1`, `RegionOne`).
    name: String,
    #[command(flatten)]
    target: Target,
}

/// Output formats.
#[derive(Copy, Clone, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// For scripts: the admin API's JSON document.
    Json,
}

/// Options of `orrery status`.
#[derive(clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    target: Target,
    /// Refresh every N seconds (2 if no N is given) until interrupted.
    #[arg(long, num_args = 0..=1, default_missing_value = "2")]
    watch: Option<f64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// Runs a chaos command.
pub async fn chaos(cmd: ChaosCmd) -> Result<(), String> {
    let (action, change) = match cmd {
        ChaosCmd::List { kind, target } => return list(kind, target).await,
        ChaosCmd::Fail(c) => ("fail", c),
        ChaosCmd::Recover(c) => ("recover", c),
        ChaosCmd::Maintain(c) => ("maintain", c),
    };
    let remote = Remote::connect(&change.target.data_dir).await?;
    let body = json!({"kind": change.kind.as_str(), "name": change.name});
    let v = remote.json(Method::POST, &format!("/orrery/v1/chaos/{action}"), Some(body)).await?;
    let hosts: Vec<&str> = v["hosts_changed"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    println!("{} {} is now {}; {} hosts changed state{}", change.kind.as_str(), change.name, v["state"].as_str().unwrap_or("?"), hosts.len(), brief(&hosts));
    Ok(())
}

/// `: a, b, c and 5 more` for a list of names.
fn brief(names: &[&str]) -> String {
    match names.len() {
        0 => String::new(),
        n if n <= 4 => format!(": {}", names.join(", ")),
        n => format!(": {} and {} more", names[..3].join(", "), n - 3),
    }
}

async fn list(kind: Option<Kind>, target: Target) -> Result<(), String> {
    let remote = Remote::connect(&target.data_dir).await?;
    let query = kind.map(|k| format!("?kind={}", k.as_str())).unwrap_or_default();
    let v = remote.json(Method::GET, &format!("/orrery/v1/chaos{query}"), None).await?;
    let rows = v["components"].as_array().cloned().unwrap_or_default();
    let cell = |r: &Value, k: &str| r[k].as_str().unwrap_or("-").to_string();
    let table: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            [cell(r, "kind"), cell(r, "name"), cell(r, "state"), cell(r, "effective"), cell(r, "parent"), cell(r, "contains"), r["hosts_down"].to_string()]
        })
        .collect();
    print_table(&["KIND", "NAME", "STATE", "EFFECTIVE", "IN", "CONTAINS", "HOSTS DOWN"], &table);
    Ok(())
}

fn print_table<const N: usize>(head: &[&str; N], rows: &[[String; N]]) {
    let mut width: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| cells.iter().zip(&width).map(|(c, w)| format!("{c:<w$}")).collect::<Vec<_>>().join("  ").trim_end().to_string();
    println!("{}", line(head.to_vec()));
    for r in rows {
        println!("{}", line(r.iter().map(String::as_str).collect()));
    }
}

/// Runs `orrery status`.
pub async fn status(a: StatusArgs) -> Result<(), String> {
    let remote = Remote::connect(&a.target.data_dir).await?;
    loop {
        let v = remote.json(Method::GET, "/orrery/v1/status", None).await?;
        match a.format {
            Format::Json => println!("{}", serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?),
            Format::Text => {
                if a.watch.is_some() && std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                    print!("\x1b[2J\x1b[H");
                }
                print!("{}", render(&remote.base, &v));
            }
        }
        let Some(secs) = a.watch else { return Ok(()) };
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs_f64(secs.max(0.1))) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

/// The status document as text, like `ceph -s`.
fn render(base: &str, v: &Value) -> String {
    let mut out = format!("  cloud:    {base} at {}\n  health:   {}\n", v["time"].as_str().unwrap_or("?"), v["health"].as_str().unwrap_or("?"));
    for r in v["reasons"].as_array().into_iter().flatten() {
        out += &format!("            {}\n", r.as_str().unwrap_or(""));
    }
    let n = |x: &Value, k: &str| x[k].as_u64().unwrap_or(0);
    let zones = v["zones"].as_array().cloned().unwrap_or_default();
    let (total, up, down, maint) = zones.iter().fold((0, 0, 0, 0), |(a, b, c, d), z| {
        let z = &z["zone"];
        (a + n(z, "hosts"), b + n(z, "up"), c + n(z, "down"), d + n(z, "maintenance"))
    });
    out += &format!("\n  hosts:    {total} compute hosts: {up} up, {down} down, {maint} in maintenance\n");
    for z in &zones {
        out += &counts_line("    ", &z["zone"]);
        for r in z["racks"].as_array().into_iter().flatten().filter(|r| r["state"] != "up" || n(r, "down") + n(r, "maintenance") > 0) {
            out += &counts_line("      ", r);
        }
    }
    let servers = v["servers"].as_object().cloned().unwrap_or_default();
    let count: u64 = servers.values().filter_map(Value::as_u64).sum();
    let by: Vec<String> = servers.iter().map(|(k, c)| format!("{c} {k}")).collect();
    out += &format!(
        "\n  servers:  {count} total{}{}\n",
        if by.is_empty() { String::new() } else { format!(": {}", by.join(", ")) },
        match n(v, "servers_down") {
            0 => String::new(),
            d => format!("; {d} down with their hosts"),
        }
    );
    let pct = |u: &Value| if n(u, "total") == 0 { 0.0 } else { 100.0 * n(u, "used") as f64 / n(u, "total") as f64 };
    out += &format!(
        "  usage:    vCPU {}/{} ({:.1}%), RAM {}/{} GiB ({:.1}%), disk {}/{} GiB ({:.1}%)\n",
        n(&v["vcpus"], "used"),
        n(&v["vcpus"], "total"),
        pct(&v["vcpus"]),
        n(&v["ram_mb"], "used") / 1024,
        n(&v["ram_mb"], "total") / 1024,
        pct(&v["ram_mb"]),
        n(&v["disk_gb"], "used"),
        n(&v["disk_gb"], "total"),
        pct(&v["disk_gb"]),
    );
    let events = v["events"].as_array().cloned().unwrap_or_default();
    if !events.is_empty() {
        out += "\n  recent health events:\n";
        for e in &events {
            let s = |k: &str| e[k].as_str().unwrap_or("?").to_string();
            out += &format!("    {}  {} {}: {} -> {} ({} hosts changed)\n", s("time"), s("kind"), s("name"), s("from"), s("to"), n(e, "hosts_changed"));
        }
    }
    out
}

fn counts_line(indent: &str, c: &Value) -> String {
    let n = |k: &str| c[k].as_u64().unwrap_or(0);
    format!(
        "{indent}{:<12} {:<12} {} hosts: {} up, {} down, {} in maintenance\n",
        c["name"].as_str().unwrap_or("?"),
        c["state"].as_str().unwrap_or("?"),
        n("hosts"),
        n("up"),
        n("down"),
        n("maintenance")
    )
}
