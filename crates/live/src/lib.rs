//! The live shell behind `orrery up`: opens the data directory, recovers the kernel from its
//! snapshot and journal (or creates a new cloud), starts the kernel actor and the HTTP server,
//! writes `clouds.yaml`, and stops cleanly on SIGINT or SIGTERM. The HTTP layer and the actor
//! share one [`Metrics`] registry, served at `GET /metrics`.

pub mod actor;
pub mod clock;
pub mod datadir;
pub mod snapshotter;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use orrery_api::{AppState, Cloud, Metrics, Published, ReadMode, Service, Site};
use orrery_kernel::driver::Modelled;
use orrery_kernel::{Auth, Command, Request, TopologySpec};
use orrery_store::{recover, DirSnapshots, Snapshots, SqliteJournal};
use tokio::sync::mpsc;
use tracing::info;

use crate::actor::Actor;
use crate::clock::{wall_now, Clock};
use crate::datadir::DataDir;

/// Options of `orrery up`.
#[derive(Clone, Debug)]
pub struct UpOptions {
    /// Where the cloud keeps its state.
    pub data_dir: PathBuf,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Topology to build a new cloud from; `None` uses the embedded default.
    pub topology: Option<PathBuf>,
    /// How many kernel seconds pass per wall-clock second.
    pub time_scale: f64,
    /// Which driver runs instances.
    pub driver: String,
    /// Journal entries between snapshots.
    pub snapshot_every: u64,
    /// Longest time between snapshots while anything is journaled.
    pub snapshot_interval: std::time::Duration,
    /// How reads reach the state: through the actor (the default) or from published copies.
    pub read_mode: ReadMode,
    /// Start even though the journal lost acknowledged entries, from the last good one.
    pub accept_journal_loss: bool,
    /// Give the admin a new password (journaled like any password change) and store it.
    pub reset_admin_password: bool,
}

/// A data directory opened for serving: locked, checked, and its state recovered.
pub struct Opened {
    /// The directory (its lock is held while this lives).
    pub dir: DataDir,
    /// The journal.
    pub journal: SqliteJournal,
    /// The snapshots.
    pub snapshots: DirSnapshots,
    /// The recovered state.
    pub kernel: orrery_kernel::Kernel,
    /// The last journal entry applied.
    pub seq: u64,
}

/// Opens a data directory the way `orrery up` does: locks it, refuses damage by name,
/// migrates older formats, and recovers the state (from the newest good snapshot plus the
/// journal). A directory that held a cloud is never answered with a new, empty one.
pub fn open(data_dir: &std::path::Path, accept_journal_loss: bool) -> Result<Opened, UpError> {
    let dir = DataDir::open(data_dir)?;
    let mut journal = SqliteJournal::open(&dir.journal_path())?;
    let snapshots = DirSnapshots::open(&dir.snapshots_path())?;
    let acknowledged = journal.acknowledged()?;
    // Without its -wal and without the high-water mark (only journal.sqlite was copied), what
    // was lost cannot be measured, only refused. With the mark, `recover` measures it.
    if journal.lost_wal() && acknowledged == 0 {
        if !accept_journal_loss {
            return Err(orrery_store::StoreError::WalLost.into());
        }
        tracing::warn!("started anyway (--accept-journal-loss) without journal.sqlite-wal: what it held is gone");
    }
    let r = recover(&journal, &snapshots, acknowledged, accept_journal_loss)?;
    for e in &r.skipped {
        tracing::warn!("a damaged snapshot was passed over: {e}");
    }
    if !r.skipped.is_empty() {
        match r.snapshot {
            Some(s) => tracing::warn!(snapshot = s, "recovered from an older snapshot and the journal after it"),
            None => tracing::warn!("recovered by replaying the whole journal"),
        }
    }
    if acknowledged == 0 && r.seq > 0 {
        // A journal from before high-water marks: start its mark now.
        journal.set_acknowledged(r.seq)?;
    }
    if r.seq < r.acknowledged {
        tracing::warn!(
            last_good = r.seq,
            acknowledged = r.acknowledged,
            "started anyway (--accept-journal-loss): the entries after the last good one are gone"
        );
        snapshots.discard_after(r.seq)?;
        journal.set_acknowledged(r.seq)?;
    }
    if journal.migrated() && r.kernel.is_initialized() {
        // Nothing of the older format (raw tokens, for format 2) stays behind in a snapshot.
        snapshots.save(r.seq, &r.kernel)?;
        snapshots.discard_older_formats()?;
        tracing::info!(seq = r.seq, "the data directory was migrated to the current format");
    }
    if dir.has_marker() && !r.kernel.is_initialized() {
        return Err(dir.damaged("journal.sqlite holds no entries and no snapshot covers the cloud (its -wal was probably lost)").into());
    }
    if r.kernel.is_initialized() && !dir.has_marker() {
        dir.write_marker()?;
    }
    Ok(Opened { dir, journal, snapshots, kernel: r.kernel, seq: r.seq })
}

/// Why `orrery up` could not run.
#[derive(Debug, thiserror::Error)]
pub enum UpError {
    /// The data directory or a file in it is unusable.
    #[error(transparent)]
    DataDir(#[from] datadir::DataDirError),
    /// The journal or a snapshot could not be read or written.
    #[error("{0}")]
    Store(#[from] orrery_store::StoreError),
    /// The topology file is wrong.
    #[error("{0}")]
    Config(#[from] orrery_config::ConfigError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}; pick another address with --listen")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The kernel refused to create the cloud.
    #[error("the cloud could not be created: {0}")]
    Init(String),
    /// Anything else in the options.
    #[error("{0}")]
    Usage(String),
}

/// Runs the live cloud until SIGINT or SIGTERM.
pub async fn up(opts: UpOptions) -> Result<(), UpError> {
    serve(opts, shutdown_signal()).await
}

/// Runs the live cloud until `shutdown` completes, then stops as on SIGTERM. For tests and
/// embedders; `orrery up` is [`up`].
pub async fn serve(opts: UpOptions, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), UpError> {
    let started = std::time::Instant::now();
    if opts.driver != "sim" {
        return Err(UpError::Usage(format!("driver '{}' is not implemented yet; the only driver is 'sim' (modelled hosts, no processes)", opts.driver)));
    }
    if !(opts.time_scale.is_finite() && opts.time_scale > 0.0) {
        return Err(UpError::Usage(format!("--time-scale must be a positive number, not {}", opts.time_scale)));
    }
    let Opened { dir, journal, snapshots, kernel, seq } = open(&opts.data_dir, opts.accept_journal_loss)?;
    let fresh = !kernel.is_initialized();
    if !fresh && !opts.reset_admin_password {
        dir.admin_password()?;
    }
    let topology = if fresh { Some(load_topology(&opts)?) } else { None };
    if !fresh && opts.topology.is_some() {
        info!("--topology is ignored: {} already holds a cloud; use a new --data-dir for a new topology", dir.path().display());
    }
    let clock = Clock::new(kernel.now().max(wall_now()), opts.time_scale);
    let snapshot_every = opts.snapshot_every.max(1);
    let driver = Box::new(Modelled::resuming(&kernel));
    let metrics = Arc::new(Metrics::new());
    let published = (opts.read_mode == ReadMode::Snapshot).then(|| Arc::new(Published::new(Arc::new(kernel.clone()))));
    let actor = Actor {
        snapshot_every,
        snapshot_interval: opts.snapshot_interval,
        metrics: metrics.clone(),
        published: published.clone(),
        ..Actor::new(kernel, Box::new(journal), Box::new(snapshots), clock, seq, driver)
    };
    let (tx, rx) = mpsc::channel(65_536);
    let handle = actor::spawn(actor, rx);
    let cloud = match published {
        Some(p) => Cloud::reading_from(tx, p),
        None => Cloud::new(tx),
    };
    let listener = tokio::net::TcpListener::bind(opts.listen).await.map_err(|source| UpError::Bind { addr: opts.listen, source })?;
    let addr = listener.local_addr().map_err(|source| UpError::Bind { addr: opts.listen, source })?;
    let password = match topology {
        Some(spec) => create_cloud(&cloud, &dir, spec).await?,
        None if opts.reset_admin_password => reset_admin_password(&cloud, &dir).await?,
        None => dir.admin_password()?,
    };
    let site = Site { base_url: base_url(addr), region: region_name(&cloud).await };
    dir.write_clouds_yaml(&site.base_url, &site.region, &password)?;
    dir.write_endpoint(&site.base_url)?;
    let hosts = cloud.read(Service::Compute, |k, _| k.topology().hosts.len()).await.unwrap_or(0);
    let app = orrery_api::router(AppState { cloud, site: site.clone(), metrics });
    println!("orrery is serving {} at {} ({hosts} hosts, ready in {} ms)", site.region, site.base_url, started.elapsed().as_millis());
    if opts.read_mode != ReadMode::Actor {
        info!(read_mode = opts.read_mode.as_str(), "reads are served from the state the kernel actor publishes after each commit");
    }
    println!("  clouds.yaml: {}", dir.clouds_yaml_path().display());
    println!("  try: OS_CLIENT_CONFIG_FILE={} openstack --os-cloud orrery server list", dir.clouds_yaml_path().display());
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    info!("stopping: finishing queued requests and writing a snapshot");
    handle.shutdown();
    dir.remove_endpoint();
    served.map_err(|e| UpError::Usage(format!("the HTTP server failed: {e}")))
}

fn load_topology(opts: &UpOptions) -> Result<TopologySpec, UpError> {
    Ok(match &opts.topology {
        Some(path) => orrery_config::load_topology(path)?,
        None => orrery_config::default_topology(),
    })
}

/// Applies the Init command for a brand-new cloud, stores its admin credentials and marks
/// the directory as holding a cloud. Returns the admin password.
async fn create_cloud(cloud: &Cloud, dir: &DataDir, topology: TopologySpec) -> Result<String, UpError> {
    let password = dir.new_admin_password()?;
    let spec = datadir::init_spec(topology, &password);
    dir.write_topology_copy(&spec.topology)?;
    cloud
        .apply(Service::Identity, Request { auth: Auth::System, command: Command::Init(Box::new(spec)) })
        .await
        .map_err(|e| UpError::Init(e.error.to_string()))?;
    dir.write_marker()?;
    Ok(password)
}

/// Sets a new password for the bootstrap admin (`admin` in the Default domain) through the
/// kernel, so it is journaled like any change, then stores it. Returns it.
async fn reset_admin_password(cloud: &Cloud, dir: &DataDir) -> Result<String, UpError> {
    use orrery_kernel::identity::{Cmd, UserPatch, DEFAULT_DOMAIN};
    let admin = cloud
        .read(Service::Identity, |k, _| k.identity().user_by_name(DEFAULT_DOMAIN, "admin").map(|u| u.id))
        .await
        .ok()
        .flatten()
        .ok_or_else(|| UpError::Usage("--reset-admin-password: this cloud has no user 'admin' in the Default domain".into()))?;
    let password = datadir::random_password();
    let patch = UserPatch { password_hash: Some(datadir::hash_password(&password)), ..UserPatch::default() };
    cloud
        .apply(Service::Identity, Request { auth: Auth::System, command: Command::Identity(Cmd::UpdateUser { id: admin, patch }) })
        .await
        .map_err(|e| UpError::Usage(format!("--reset-admin-password failed: {}", e.error)))?;
    dir.store_admin_password(&password)?;
    tracing::warn!(file = %dir.admin_password_path().display(), "the admin has a new password; clouds.yaml has it");
    Ok(password)
}

async fn region_name(cloud: &Cloud) -> String {
    cloud.read(Service::Identity, |k, _| k.topology().regions.first().map(|r| r.name.clone())).await.ok().flatten().unwrap_or_else(|| "RegionOne".into())
}

fn base_url(addr: SocketAddr) -> String {
    let host = if addr.ip().is_unspecified() { "127.0.0.1".to_string() } else { addr.ip().to_string() };
    match addr {
        SocketAddr::V6(_) if !addr.ip().is_unspecified() => format!("http://[{host}]:{}", addr.port()),
        _ => format!("http://{host}:{}", addr.port()),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// What [`backup`] wrote.
#[derive(Debug)]
pub struct BackupReport {
    /// The last journal entry the backup holds.
    pub seq: u64,
    /// The state hash the backup recovers to.
    pub state_hash: u64,
}

/// Copies the cloud in `src` to the new directory `out`, consistently, even while the cloud
/// serves writes: the journal through SQLite's `VACUUM INTO` (one read transaction, so one
/// point in its history), the snapshots it covers, and the credentials and topology files.
/// The copy is then opened as `orrery up` would open it, which checks it end to end; its last
/// entry and state hash are returned. Restoring is starting `orrery up --data-dir OUT`.
pub fn backup(src: &std::path::Path, out: &std::path::Path) -> Result<BackupReport, UpError> {
    let io = |path: &std::path::Path| {
        let path = path.display().to_string();
        move |source| UpError::DataDir(datadir::DataDirError::Io { path, source })
    };
    if !src.join("journal.sqlite").is_file() {
        return Err(UpError::Usage(format!("{} holds no journal.sqlite; is it an orrery data directory?", src.display())));
    }
    if out.exists() && std::fs::read_dir(out).map_err(io(out))?.next().is_some() {
        return Err(UpError::Usage(format!("{} exists and is not empty; a backup goes into a new directory", out.display())));
    }
    datadir::create_private_dir(out)?;
    let seq = SqliteJournal::copy_to(&src.join("journal.sqlite"), &out.join("journal.sqlite"))?;
    for name in ["admin-password", "topology.json", "orrery-cloud"] {
        let from = src.join(name);
        if from.exists() {
            std::fs::copy(&from, out.join(name)).map_err(io(&from))?;
        }
    }
    let snaps = DirSnapshots::open(&out.join("snapshots"))?;
    DirSnapshots::open(&src.join("snapshots"))?.copy_covered(seq, &snaps)?;
    drop(snaps);
    let opened = open(out, false)?;
    let report = BackupReport { seq: opened.seq, state_hash: opened.kernel.state_hash() };
    if report.seq != seq {
        return Err(UpError::Usage(format!("the backup holds entries up to {seq}, but recovers only to {}", report.seq)));
    }
    Ok(report)
}
