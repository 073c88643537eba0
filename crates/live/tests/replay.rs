//! Durability and determinism of the live shell: whatever the actor acknowledged is in the
//! journal, and replaying the journal, from scratch or from a snapshot, rebuilds the same
//! state hash. Commands are a seeded random mix of boots, actions and deletes.

use std::path::{Path, PathBuf};

use orrery_api::Msg;
use orrery_kernel::compute::quotas::{Cmd as QuotaCmd, Resource};
use orrery_kernel::compute::servers::{create::CreateSpec, Action, Cmd as ServerCmd};
use orrery_kernel::compute::Cmd as ComputeCmd;
use orrery_kernel::identity::{AuthMethod, Bootstrap, Cmd as IdentityCmd, Scope};
use orrery_kernel::rng::Rng;
use orrery_kernel::{Auth, Command, InitSpec, Kernel, Reply, Request, Time, Uuid};
use orrery_live::actor::Actor;
use orrery_live::clock::Clock;
use orrery_store::{recover, DirSnapshots, SqliteJournal};
use tokio::sync::oneshot;

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("orrery-replay-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn actor(dir: &Path, snapshot_every: u64) -> Actor {
    let journal = SqliteJournal::open(&dir.join("journal.sqlite")).unwrap();
    let snapshots = DirSnapshots::open(&dir.join("snapshots")).unwrap();
    let r = recover(&journal, &snapshots, journal.acknowledged().unwrap(), false).unwrap();
    let (kernel, seq) = (r.kernel, r.seq);
    // Model time runs 1,000 times faster than the wall clock, so boots (8 s) and other timers
    // fire between batches while the admin token (1 h) stays valid for the whole test.
    let clock = Clock::new(Time::from_secs(1_800_000_000).max(kernel.now()), 1_000.0);
    let driver = Box::new(orrery_kernel::driver::Modelled::resuming(&kernel));
    Actor { snapshot_every, ..Actor::new(kernel, Box::new(journal), Box::new(snapshots), clock, seq, driver) }
}

/// Sends one request through the actor's batch path and returns the reply.
fn send(a: &mut Actor, auth: &Auth, command: Command) -> orrery_kernel::Result<Reply> {
    let (tx, mut rx) = oneshot::channel();
    a.process(vec![Msg::Apply(Box::new(Request { auth: auth.clone(), command }), tx)]);
    rx.try_recv().expect("the actor answers every write in the same batch")
}

fn init(a: &mut Actor, seed: u64) -> Auth {
    let spec = InitSpec { seed, topology: orrery_config::default_topology(), bootstrap: Bootstrap::new("admin", "$argon2id$test") };
    send(a, &Auth::System, Command::Init(Box::new(spec))).unwrap();
    let user = a.kernel.identity().user_by_name("default", "admin").unwrap().id;
    let project = a.kernel.identity().project_by_name("default", "admin").unwrap().id;
    let token = orrery_kernel::identity::TokenDigest::of(&format!("{seed:064x}"));
    let issue = IdentityCmd::IssueToken { token: token.clone(), method: AuthMethod::Password { user }, scope: Some(Scope::Project(project)) };
    send(a, &Auth::System, Command::Identity(issue)).unwrap();
    send(a, &Auth::System, unlimited(project)).unwrap();
    Auth::Token(token)
}

/// Lifts the admin project's instance, core and RAM quotas.
fn unlimited(project: Uuid) -> Command {
    let limits = [Resource::Instances, Resource::Cores, Resource::Ram].into_iter().map(|r| (r, -1)).collect();
    Command::Compute(ComputeCmd::Quota(QuotaCmd::Set { project, limits, force: true }))
}

fn boot(rng: &mut Rng, i: u32) -> Command {
    let flavor = ["1", "2", "3", "42"][rng.below(4) as usize].to_string();
    let spec = CreateSpec::one(rng.uuid(), rng.uuid(), format!("vm-{i}"), flavor, Uuid(0));
    Command::Compute(ComputeCmd::Server(ServerCmd::Create(Box::new(spec))))
}

/// Applies `n` random commands through the actor; returns how many were accepted.
fn workload(a: &mut Actor, auth: &Auth, seed: u64, n: u32) -> u32 {
    let image = a.kernel.images().find("cirros-0.6").unwrap().id;
    let auth = auth.clone();
    drive(seed, n, image, &mut |cmd| send(a, &auth, cmd))
}

/// Feeds `n` seeded random commands to `apply`; returns how many were accepted.
fn drive(seed: u64, n: u32, image: Uuid, apply: &mut dyn FnMut(Command) -> orrery_kernel::Result<Reply>) -> u32 {
    let mut rng = Rng::new(seed);
    let mut servers: Vec<Uuid> = Vec::new();
    let mut accepted = 0;
    for i in 0..n {
        let cmd = match rng.below(10) {
            0..=4 => {
                let mut c = boot(&mut rng, i);
                if let Command::Compute(ComputeCmd::Server(ServerCmd::Create(spec))) = &mut c {
                    spec.image = image;
                    servers.push(spec.ids[0]);
                }
                c
            }
            5..=7 if !servers.is_empty() => {
                let id = servers[rng.below(servers.len() as u64) as usize];
                let action = [Action::Stop, Action::Start, Action::Pause, Action::Unpause][rng.below(4) as usize].clone();
                Command::Compute(ComputeCmd::Server(ServerCmd::Action { id, request_id: rng.uuid(), action }))
            }
            _ if !servers.is_empty() => {
                let id = servers.swap_remove(rng.below(servers.len() as u64) as usize);
                Command::Compute(ComputeCmd::Server(ServerCmd::Delete { id, request_id: rng.uuid() }))
            }
            _ => continue,
        };
        accepted += u32::from(apply(cmd).is_ok());
    }
    accepted
}

/// Hash of a kernel once every timer up to `to` has fired.
fn hash_at(mut k: Kernel, to: Time) -> u64 {
    k.advance(to);
    k.state_hash()
}

#[test]
fn journal_replay_rebuilds_the_same_state() {
    for seed in [1, 2, 3] {
        let dir = temp_dir(&format!("full-{seed}"));
        let mut a = actor(&dir, u64::MAX);
        let auth = init(&mut a, seed);
        let accepted = workload(&mut a, &auth, seed, 400);
        assert!(accepted > 100, "only {accepted} commands accepted; the workload is not exercising the kernel");
        let end = a.kernel.now();
        let live = hash_at(a.kernel.clone(), end);
        drop(a);
        assert!(std::fs::read_dir(dir.join("snapshots")).unwrap().next().is_none(), "no snapshot: a replay from scratch");
        let b = actor(&dir, u64::MAX);
        assert_eq!(hash_at(b.kernel, end), live, "seed {seed}: replaying the journal changed the state");
    }
}

#[test]
fn snapshot_plus_journal_tail_rebuilds_the_same_state() {
    let dir = temp_dir("snap");
    let mut a = actor(&dir, 97);
    let auth = init(&mut a, 9);
    workload(&mut a, &auth, 9, 300);
    let end = a.kernel.now();
    let live = hash_at(a.kernel.clone(), end);
    a.settle_snapshots();
    let last_snapshot = a.last_snapshot;
    drop(a);
    assert!(last_snapshot > 0, "a snapshot should have been taken every 97 entries");
    let (snap_seq, _) = orrery_store::Snapshots::load_latest(&DirSnapshots::open(&dir.join("snapshots")).unwrap()).unwrap().newest.unwrap();
    assert_eq!(snap_seq, last_snapshot, "recovery starts from the newest snapshot");
    let b = actor(&dir, u64::MAX);
    assert!(b.seq > snap_seq, "the journal tail after the snapshot is replayed too");
    assert_eq!(hash_at(b.kernel, end), live);
}

/// Runs the seeded workload straight on a kernel with a fixed clock: one second per command.
fn kernel_run(seed: u64) -> Kernel {
    let mut k = Kernel::new();
    let mut t = Time::from_secs(1_800_000_000);
    let spec = InitSpec { seed, topology: orrery_config::default_topology(), bootstrap: Bootstrap::new("admin", "$argon2id$test") };
    k.apply(t, Request { auth: Auth::System, command: Command::Init(Box::new(spec)) }).unwrap();
    let user = k.identity().user_by_name("default", "admin").unwrap().id;
    let project = k.identity().project_by_name("default", "admin").unwrap().id;
    let issue = IdentityCmd::IssueToken {
        token: orrery_kernel::identity::TokenDigest::of(&"t".repeat(64)),
        method: AuthMethod::Password { user },
        scope: Some(Scope::Project(project)),
    };
    k.apply(t, Request { auth: Auth::System, command: Command::Identity(issue) }).unwrap();
    k.apply(t, Request { auth: Auth::System, command: unlimited(project) }).unwrap();
    let image = k.images().find("cirros-0.6").unwrap().id;
    let auth = Auth::Token(orrery_kernel::identity::TokenDigest::of(&"t".repeat(64)));
    drive(seed, 300, image, &mut |cmd| {
        t = t.plus(orrery_kernel::Dur::secs(1));
        k.apply(t, Request { auth: auth.clone(), command: cmd })
    });
    k
}

#[test]
fn same_seed_and_commands_give_the_same_hash() {
    let (a, b) = (kernel_run(42), kernel_run(42));
    assert!(!a.compute().servers.is_empty());
    assert_eq!(a.state_hash(), b.state_hash(), "two clouds fed the same seed and commands must hash the same");
    assert_ne!(a.state_hash(), kernel_run(43).state_hash(), "a different seed should give a different cloud");
}

#[test]
fn kernel_state_round_trips_through_json() {
    let k = kernel_run(5);
    let text = serde_json::to_string(&k).expect("kernel state must serialize to JSON");
    let back: Kernel = serde_json::from_str(&text).expect("kernel state must deserialize from JSON");
    assert_eq!(back.state_hash(), k.state_hash());
}

/// Aggregate writes, migration records and host reboots (state kept only once used) survive a
/// JSON round trip with the same hash.
#[test]
fn aggregates_migrations_and_boots_round_trip_through_json() {
    use orrery_kernel::compute::aggregates::Cmd as AggCmd;
    use orrery_kernel::health::{Cmd as HealthCmd, Kind, State};
    let mut k = kernel_run(5);
    let mut t = k.now().plus(orrery_kernel::Dur::secs(60));
    k.advance(t);
    let untouched = k.clone();
    let compute = serde_json::to_value(&untouched).unwrap()["compute"].clone();
    assert!(["aggregates", "boots", "migrations"].iter().all(|f| compute.get(f).is_none()), "unused state is left out of snapshots");
    let host = k.topology().hosts[0].name.clone();
    let sys = |k: &mut Kernel, t: Time, command: Command| k.apply(t, Request { auth: Auth::System, command }).unwrap();
    sys(&mut k, t, Command::Compute(ComputeCmd::Aggregate(AggCmd::Create { uuid: Uuid(77), name: "x".into(), zone: None })));
    let id = k.compute().aggregates.live(k.topology(), t).by_id.keys().copied().max().unwrap();
    sys(&mut k, t, Command::Compute(ComputeCmd::Aggregate(AggCmd::AddHost { id, host: host.clone() })));
    let image = k.images().find("cirros-0.6").unwrap().id;
    let (server, token) = (Uuid(0x5e_7e_7e), Auth::Token(orrery_kernel::identity::TokenDigest::of(&"t".repeat(64))));
    let boot = ServerCmd::Create(Box::new(CreateSpec::one(server, Uuid(79), "resized".into(), "1".into(), image)));
    k.apply(t, Request { auth: token.clone(), command: Command::Compute(ComputeCmd::Server(boot)) }).unwrap();
    t = t.plus(orrery_kernel::Dur::secs(60));
    orrery_kernel::driver::run_modelled(&mut k, t);
    let resize = ServerCmd::Action { id: server, request_id: Uuid(78), action: Action::Resize { flavor: "2".into() } };
    k.apply(t, Request { auth: token, command: Command::Compute(ComputeCmd::Server(resize)) }).unwrap();
    sys(&mut k, t, Command::Health(HealthCmd::Set { kind: Kind::Host, name: host.clone(), state: State::Down }));
    t = t.plus(orrery_kernel::Dur::secs(60));
    sys(&mut k, t, Command::Health(HealthCmd::Set { kind: Kind::Host, name: host, state: State::Up }));
    orrery_kernel::driver::run_modelled(&mut k, t.plus(orrery_kernel::Dur::secs(60)));
    assert!(!k.compute().aggregates.is_seed() && !k.compute().migrations.is_empty() && !k.compute().boots.is_empty());
    let back: Kernel = serde_json::from_str(&serde_json::to_string(&k).unwrap()).unwrap();
    assert_eq!(back.state_hash(), k.state_hash());
    assert_ne!(k.state_hash(), untouched.state_hash());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 12, ..Default::default() })]
    /// For any workload seed and length, the journal replays to the live state hash, and
    /// placement's invariants hold in the rebuilt cloud.
    #[test]
    fn any_journal_replays_to_the_same_hash(seed in 0u64..1_000_000, n in 1u32..160) {
        let dir = temp_dir(&format!("prop-{seed}-{n}"));
        let mut a = actor(&dir, u64::MAX);
        let auth = init(&mut a, seed);
        workload(&mut a, &auth, seed, n);
        let end = a.kernel.now();
        let live = hash_at(a.kernel.clone(), end);
        drop(a);
        let b = actor(&dir, u64::MAX);
        proptest::prop_assert!(b.kernel.placement().check_invariants().is_ok());
        proptest::prop_assert_eq!(hash_at(b.kernel, end), live);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// `orrery backup` of a cloud that is serving writes: the copy opens, and holds the
/// original's state as of the copy's last entry (the original replayed only that far).
#[test]
fn a_backup_taken_during_writes_restores_to_the_same_state() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let dir = temp_dir("backup-src");
    let out = temp_dir("backup-out").join("copy");
    let mut a = actor(&dir, 97);
    let auth = init(&mut a, 11);
    workload(&mut a, &auth, 11, 200);
    let done = Arc::new(AtomicBool::new(false));
    let backup = std::thread::spawn({
        let (dir, out, done) = (dir.clone(), out.clone(), done.clone());
        move || {
            let r = orrery_live::backup(&dir, &out);
            done.store(true, Ordering::SeqCst);
            r
        }
    });
    let mut round = 0;
    while !done.load(Ordering::SeqCst) || round < 2 {
        round += 1;
        workload(&mut a, &auth, 11 + round, 50);
    }
    let report = backup.join().unwrap().expect("the backup succeeds while the cloud writes");
    let end = a.kernel.now();
    assert!(report.seq > 0 && report.seq < a.seq, "the backup ({}) was taken while writes went on (to {})", report.seq, a.seq);
    drop(a);

    // The original, replayed only as far as the backup reaches.
    let cut = temp_dir("backup-ref").join("journal.sqlite");
    SqliteJournal::copy_to(&dir.join("journal.sqlite"), &cut).unwrap();
    rusqlite::Connection::open(&cut).unwrap().execute("DELETE FROM journal WHERE seq > ?1", [report.seq as i64]).unwrap();
    let mut journal = SqliteJournal::open(&cut).unwrap();
    journal.set_acknowledged(report.seq).unwrap();
    let empty = DirSnapshots::open(&cut.with_file_name("snapshots")).unwrap();
    let reference = recover(&journal, &empty, report.seq, false).unwrap();
    assert_eq!(reference.seq, report.seq);
    assert_eq!(reference.kernel.state_hash(), report.state_hash, "the backup recovers to the original's state at its last entry");

    let restored = orrery_live::open(&out, false).expect("the backup opens as a data directory");
    assert!(orrery_store::Snapshots::load_latest(&restored.snapshots).unwrap().newest.is_some(), "the snapshots the backup covers are copied");
    assert_eq!(hash_at(restored.kernel, end), hash_at(reference.kernel, end));
    for d in [&dir, &out] {
        let _ = std::fs::remove_dir_all(d);
    }
}
