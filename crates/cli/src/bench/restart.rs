//! `orrery bench restart`: what a large cloud's snapshots cost the kernel actor, and how long a
//! restart after `kill -9` takes. It builds the cloud in-process through the same actor, journal
//! and snapshot store `orrery up` uses (no HTTP: the figures are the store's and the kernel's),
//! then measures:
//! - the actor's stall for one snapshot: writing it on the actor's thread, as before
//!   snapshots moved off it, against copying the state for the writer thread, as now;
//! - the restart: opening the data directory as `orrery up` does, from the newest snapshot plus
//!   a journal tail, and by replaying the whole journal.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use orrery_api::Msg;
use orrery_kernel::compute::quotas::{Cmd as QuotaCmd, Resource};
use orrery_kernel::compute::servers::{create::CreateSpec, Action, Cmd as ServerCmd};
use orrery_kernel::compute::Cmd as ComputeCmd;
use orrery_kernel::identity::{AuthMethod, Bootstrap, Cmd as IdentityCmd, Scope, TokenDigest};
use orrery_kernel::rng::Rng;
use orrery_kernel::{Auth, Command, InitSpec, Request, Time, Uuid};
use orrery_live::actor::Actor;
use orrery_live::clock::Clock;
use orrery_store::Snapshots;
use tokio::sync::oneshot;

use super::{fresh_dir, write_topology};

/// Examples in `orrery bench restart --help`.
pub const EXAMPLES: &str = "Examples:
  orrery bench restart                                         # 1,000 hosts, 10,000 servers
  orrery bench restart --hosts 10000 --servers 100000 --tail 50000";

/// Options of `bench restart`.
#[derive(clap::Args)]
pub struct RestartArgs {
    /// Compute hosts in the generated topology (20 per rack, 2 zones).
    #[arg(long, default_value_t = 1000)]
    hosts: u32,
    /// Servers in the cloud when the snapshot is taken.
    #[arg(long, default_value_t = 10_000)]
    servers: u32,
    /// Journal entries after the newest snapshot when the cloud is killed (server actions).
    #[arg(long, default_value_t = 10_000)]
    tail: u32,
    /// Times each stall is measured; the median is shown.
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    /// Keep the data directory here instead of a temporary one.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// Commands per actor batch while building the cloud (one journal commit each).
const BATCH: usize = 1000;

/// Runs the benchmark.
pub fn run(a: RestartArgs) -> Result<(), String> {
    let root = a.data_dir.clone().unwrap_or_else(|| std::env::temp_dir().join(format!("orrery-bench-restart-{}", std::process::id())));
    fresh_dir(&root)?;
    let topology = orrery_config::load_topology(&write_topology(&root, a.hosts)?).map_err(|e| e.to_string())?;
    let data = root.join("data");
    let t0 = Instant::now();
    let (mut actor, servers, nudge) = build(&data, topology, a.servers)?;
    println!("built {} servers on {} hosts in {:.1} s ({} journal entries)", servers.len(), a.hosts, t0.elapsed().as_secs_f64(), actor.seq);

    let (sync, copy) = stalls(&mut actor, &nudge, a.rounds.max(1));
    let size = newest_snapshot_size(&data.join("snapshots"));
    println!("snapshot of {} servers: {:.1} MiB", servers.len(), size as f64 / (1 << 20) as f64);
    println!("actor stall per snapshot, written on the actor's thread (before): median {:.0} ms", ms(sync));
    println!("actor stall per snapshot, state copied for the writer thread (now): median {:.0} ms", ms(copy));

    let auth = admin_token(&mut actor, "tail")?;
    let mut rng = Rng::new(7);
    let commands: Vec<Command> = (0..a.tail).map(|_| action(&mut rng, &servers)).collect();
    for chunk in commands.chunks(BATCH) {
        apply_as(&mut actor, &auth, chunk.to_vec())?;
    }
    let (seq, snapshot) = (actor.seq, actor.last_snapshot);
    // What `kill -9` leaves: no snapshot at the stop, the tail only in the journal.
    drop(actor);
    let restart = timed_open(&data)?;
    println!("restart after kill -9 (snapshot at {snapshot}, {} entries of tail to {seq}): {:.2} s", seq - snapshot, restart.as_secs_f64());
    let snapshots = orrery_store::DirSnapshots::open(&data.join("snapshots")).map_err(|e| e.to_string())?;
    snapshots.discard_after(0).map_err(|e| e.to_string())?;
    let full = timed_open(&data)?;
    println!("restart by replaying the whole journal ({seq} entries, no snapshot): {:.2} s", full.as_secs_f64());
    if a.data_dir.is_none() {
        let _ = std::fs::remove_dir_all(&root);
    }
    Ok(())
}

/// A new cloud in `data` with `n` servers booted (ACTIVE), their ids, and a
/// write it always accepts (lifting the admin's quotas again).
fn build(data: &Path, topology: orrery_kernel::TopologySpec, n: u32) -> Result<(Actor, Vec<Uuid>, Command), String> {
    let opened = orrery_live::open(data, false).map_err(|e| e.to_string())?;
    let driver = Box::new(orrery_kernel::driver::Modelled::resuming(&opened.kernel));
    // Model time runs 100 times faster, so boots (8 s) finish quickly.
    let clock = Clock::new(Time::from_secs(1_800_000_000), 100.0);
    let mut actor = Actor::new(opened.kernel, Box::new(opened.journal), Box::new(opened.snapshots), clock, opened.seq, driver);
    let spec = InitSpec { seed: 1, topology, bootstrap: Bootstrap::new("admin", "$argon2id$bench") };
    apply_as(&mut actor, &Auth::System, vec![Command::Init(Box::new(spec))])?;
    let project = actor.kernel.identity().project_by_name("default", "admin").ok_or("no admin project")?.id;
    let limits = [Resource::Instances, Resource::Cores, Resource::Ram].into_iter().map(|r| (r, -1)).collect();
    let quota = Command::Compute(ComputeCmd::Quota(QuotaCmd::Set { project, limits, force: true }));
    apply_as(&mut actor, &Auth::System, vec![quota.clone()])?;
    let auth = admin_token(&mut actor, "build")?;
    let image = actor.kernel.images().find("cirros-0.6").ok_or("no cirros-0.6 image")?.id;
    let mut rng = Rng::new(3);
    let mut ids = Vec::with_capacity(n as usize);
    let creates: Vec<Command> = (0..n)
        .map(|i| {
            let mut spec = CreateSpec::one(rng.uuid(), rng.uuid(), format!("vm-{i}"), "1".into(), image);
            spec.image = image;
            ids.push(spec.ids[0]);
            Command::Compute(ComputeCmd::Server(ServerCmd::Create(Box::new(spec))))
        })
        .collect();
    for chunk in creates.chunks(BATCH) {
        apply_as(&mut actor, &auth, chunk.to_vec())?;
    }
    let done = actor.clock.now().plus(orrery_kernel::Dur::secs(60));
    while actor.kernel.now() < done {
        actor.process(vec![Msg::Read(Box::new(|_, _| {}))]);
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok((actor, ids, quota))
}

/// A fresh project-scoped token of the admin (a token lives an hour of model time).
fn admin_token(actor: &mut Actor, name: &str) -> Result<Auth, String> {
    let user = actor.kernel.identity().user_by_name("default", "admin").ok_or("no admin user")?.id;
    let project = actor.kernel.identity().project_by_name("default", "admin").ok_or("no admin project")?.id;
    let token = TokenDigest::of(&format!("bench-restart-{name}"));
    let issue = IdentityCmd::IssueToken { token: token.clone(), method: AuthMethod::Password { user }, scope: Some(Scope::Project(project)) };
    apply_as(actor, &Auth::System, vec![Command::Identity(issue)])?;
    Ok(Auth::Token(token))
}

/// The actor's stall for one snapshot, median of `rounds`: (written on its thread, copied).
fn stalls(actor: &mut Actor, nudge: &Command, rounds: u32) -> (Duration, Duration) {
    let (mut sync, mut copy) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        // Before: the actor itself writes the snapshot, between two batches.
        let _ = apply_as(actor, &Auth::System, vec![nudge.clone()]);
        let t = Instant::now();
        actor.snapshot();
        sync.push(t.elapsed());
        // Now: the actor copies the state and hands it to the writer thread.
        let _ = apply_as(actor, &Auth::System, vec![nudge.clone()]);
        let t = Instant::now();
        let state = actor.kernel.clone();
        copy.push(t.elapsed());
        let seq = actor.seq;
        if actor.snapshots.start(seq, state) {
            actor.settle_snapshots();
        }
    }
    (median(sync), median(copy))
}

/// A random stop, start, pause or unpause of one of `servers`.
fn action(rng: &mut Rng, servers: &[Uuid]) -> Command {
    let id = servers[rng.below(servers.len() as u64) as usize];
    let action = [Action::Stop, Action::Start, Action::Pause, Action::Unpause][rng.below(4) as usize].clone();
    Command::Compute(ComputeCmd::Server(ServerCmd::Action { id, request_id: rng.uuid(), action }))
}

/// Sends `commands` as one batch; refusals are fine (a stopped server asked to stop), a lost
/// answer is not.
fn apply_as(actor: &mut Actor, auth: &Auth, commands: Vec<Command>) -> Result<(), String> {
    let mut answers = Vec::with_capacity(commands.len());
    let batch = commands
        .into_iter()
        .map(|command| {
            let (tx, rx) = oneshot::channel();
            answers.push(rx);
            Msg::Apply(Box::new(Request { auth: auth.clone(), command }), tx)
        })
        .collect();
    actor.process(batch);
    for mut rx in answers {
        rx.try_recv().map_err(|_| "the actor did not answer a write in its batch".to_string())?.ok();
    }
    Ok(())
}

/// Opens `data` as `orrery up` does (recovery included) and returns how long it took.
fn timed_open(data: &Path) -> Result<Duration, String> {
    let t = Instant::now();
    let opened = orrery_live::open(data, false).map_err(|e| e.to_string())?;
    let took = t.elapsed();
    drop(opened);
    Ok(took)
}

fn newest_snapshot_size(dir: &Path) -> u64 {
    let files =
        std::fs::read_dir(dir).map(|d| d.filter_map(|e| e.ok()).filter_map(|e| e.metadata().ok().map(|m| (e.file_name(), m.len()))).collect::<Vec<_>>());
    files.unwrap_or_default().into_iter().max().map_or(0, |(_, len)| len)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
