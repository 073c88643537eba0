//! The actor keeps serving after a read panics.

use orrery_api::Msg;
use orrery_kernel::{Kernel, Time};
use orrery_live::actor::Actor;
use orrery_live::clock::Clock;
use orrery_store::{DirSnapshots, SqliteJournal};
use tokio::sync::oneshot;

#[test]
fn a_panicking_read_does_not_stop_the_actor() {
    let dir = std::env::temp_dir().join(format!("orrery-actor-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let journal = Box::new(SqliteJournal::open(&dir.join("j.sqlite")).unwrap());
    let snapshots = Box::new(DirSnapshots::open(&dir.join("s")).unwrap());
    let mut a = Actor::new(Kernel::new(), journal, snapshots, Clock::new(Time::from_secs(1), 1.0), 0, Box::new(orrery_kernel::driver::Modelled::new()));
    let (tx, mut rx) = oneshot::channel::<u8>();
    let (tx2, mut rx2) = oneshot::channel::<bool>();
    a.process(vec![
        Msg::Read(Box::new(move |_, _| {
            let _keep = tx;
            panic!("a bug in a read");
        })),
        Msg::Read(Box::new(move |k, _| {
            let _ = tx2.send(k.is_initialized());
        })),
    ]);
    assert!(rx.try_recv().is_err(), "the panicking read's caller hears nothing but a closed channel");
    assert_eq!(rx2.try_recv(), Ok(false), "the next read in the same batch still runs");
}

/// A journal whose disk is on fire: any write panics.
struct Burning;

impl orrery_store::Journal for Burning {
    fn append(&mut self, _: &[orrery_store::Entry]) -> orrery_store::Result<()> {
        panic!("the journal's disk is on fire");
    }
    fn replay(&self, _: u64, _: &mut dyn FnMut(orrery_store::Entry) -> orrery_store::Result<()>) -> orrery_store::Result<()> {
        Ok(())
    }
    fn last_seq(&self) -> orrery_store::Result<u64> {
        Ok(0)
    }
    fn checkpoint(&self) -> orrery_store::Result<()> {
        Ok(())
    }
}

const CHILD: &str = "ORRERY_FAIL_STOP_CHILD";

/// Run in a child process by the test below: a write panics inside the running actor.
#[test]
fn fail_stop_child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("orrery-failstop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let snapshots = Box::new(DirSnapshots::open(&dir.join("s")).unwrap());
    let a = Actor::new(Kernel::new(), Box::new(Burning), snapshots, Clock::new(Time::from_secs(1), 1.0), 0, Box::new(orrery_kernel::driver::Modelled::new()));
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let _handle = orrery_live::actor::spawn(a, rx);
    let spec = orrery_kernel::InitSpec {
        seed: 1,
        topology: orrery_config::default_topology(),
        bootstrap: orrery_kernel::identity::Bootstrap::new("admin", "$argon2id$test"),
    };
    let req = orrery_kernel::Request { auth: orrery_kernel::Auth::System, command: orrery_kernel::Command::Init(Box::new(spec)) };
    let (reply, answer) = oneshot::channel();
    tx.blocking_send(Msg::Apply(Box::new(req), reply)).unwrap();
    let _ = answer.blocking_recv();
    std::thread::sleep(std::time::Duration::from_secs(30));
    unreachable!("the process should have stopped");
}

/// A write that panics stops the whole process with status 70, unacknowledged, so a
/// supervisor restarts it from its journal rather than it serving on without a kernel.
#[test]
fn a_panicking_write_stops_the_process() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "fail_stop_child", "--nocapture", "--test-threads", "1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(70), "stderr: {stderr}");
    assert!(stderr.contains("the journal's disk is on fire"), "the cause is logged: {stderr}");
}

/// A snapshot store whose writes wait for the test's go-ahead, and say when they start.
struct Gated {
    inner: DirSnapshots,
    started: std::sync::mpsc::Sender<u64>,
    go: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
}

impl orrery_store::Snapshots for Gated {
    fn save(&self, seq: u64, kernel: &Kernel) -> orrery_store::Result<()> {
        let _ = self.started.send(seq);
        let _ = self.go.lock().unwrap().recv();
        self.inner.save(seq, kernel)
    }
    fn load_latest(&self) -> orrery_store::Result<orrery_store::Loaded> {
        self.inner.load_latest()
    }
    fn discard_after(&self, seq: u64) -> orrery_store::Result<()> {
        self.inner.discard_after(seq)
    }
    fn discard_older_formats(&self) -> orrery_store::Result<()> {
        self.inner.discard_older_formats()
    }
}

fn init_request(seed: u64) -> orrery_kernel::Request {
    let spec = orrery_kernel::InitSpec {
        seed,
        topology: orrery_config::default_topology(),
        bootstrap: orrery_kernel::identity::Bootstrap::new("admin", "$argon2id$test"),
    };
    orrery_kernel::Request { auth: orrery_kernel::Auth::System, command: orrery_kernel::Command::Init(Box::new(spec)) }
}

/// A write as the system: a new project, named `name`.
fn project(name: &str) -> orrery_kernel::Request {
    let p = orrery_kernel::identity::Project {
        id: orrery_kernel::Uuid(0xabc0 + name.len() as u128),
        name: name.into(),
        domain: "default".into(),
        description: None,
        enabled: true,
        parent: None,
        tags: Default::default(),
    };
    orrery_kernel::Request { auth: orrery_kernel::Auth::System, command: orrery_kernel::Command::Identity(orrery_kernel::identity::Cmd::CreateProject(p)) }
}

fn apply(a: &mut Actor, req: orrery_kernel::Request) {
    let (tx, mut rx) = oneshot::channel();
    a.process(vec![Msg::Apply(Box::new(req), tx)]);
    rx.try_recv().expect("answered in the same batch").expect("accepted");
}

#[test]
fn snapshots_are_written_beside_the_actor_which_goes_on_serving() {
    let dir = std::env::temp_dir().join(format!("orrery-snapwriter-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (started, starts) = std::sync::mpsc::channel();
    let (go, gate) = std::sync::mpsc::channel();
    let store = Gated { inner: DirSnapshots::open(&dir.join("s")).unwrap(), started, go: std::sync::Mutex::new(gate) };
    let journal = Box::new(SqliteJournal::open(&dir.join("j.sqlite")).unwrap());
    let driver = Box::new(orrery_kernel::driver::Modelled::new());
    let mut a = Actor { snapshot_every: 1, ..Actor::new(Kernel::new(), journal, Box::new(store), Clock::new(Time::from_secs(1_800_000_000), 1.0), 0, driver) };
    apply(&mut a, init_request(3));
    assert_eq!(starts.recv().unwrap(), 1, "a snapshot of entry 1 started");
    // While it is held up, the actor answers more writes; no second write starts meanwhile.
    for name in ["p", "pp", "ppp"] {
        apply(&mut a, project(name));
    }
    assert_eq!(a.seq, 4);
    assert_eq!(a.last_snapshot, 0, "the held-up snapshot is not counted before it is written");
    assert!(starts.try_recv().is_err(), "one snapshot write at a time");
    go.send(()).unwrap();
    a.settle_snapshots();
    assert_eq!(a.last_snapshot, 1);
    // The next batch starts the snapshot of everything since.
    apply(&mut a, project("pppp"));
    assert_eq!(starts.recv().unwrap(), 5);
    go.send(()).unwrap();
    a.settle_snapshots();
    assert_eq!(a.last_snapshot, 5);
    let loaded = orrery_store::Snapshots::load_latest(&DirSnapshots::open(&dir.join("s")).unwrap()).unwrap();
    let (seq, kernel) = loaded.newest.unwrap();
    assert_eq!((seq, kernel.state_hash()), (5, a.kernel.state_hash()), "the snapshot holds the state as of its entry");
}

#[test]
fn a_snapshot_is_also_taken_by_time() {
    let dir = std::env::temp_dir().join(format!("orrery-snaptime-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let journal = Box::new(SqliteJournal::open(&dir.join("j.sqlite")).unwrap());
    let snapshots = Box::new(DirSnapshots::open(&dir.join("s")).unwrap());
    let driver = Box::new(orrery_kernel::driver::Modelled::new());
    let clock = Clock::new(Time::from_secs(1_800_000_000), 1.0);
    let mut a = Actor { snapshot_interval: std::time::Duration::from_millis(1), ..Actor::new(Kernel::new(), journal, snapshots, clock, 0, driver) };
    assert_eq!(a.snapshot_every, u64::MAX, "no snapshot by entry count");
    apply(&mut a, init_request(4));
    std::thread::sleep(std::time::Duration::from_millis(5));
    apply(&mut a, project("q"));
    a.settle_snapshots();
    assert!(a.last_snapshot >= 1, "a snapshot was taken because the interval passed");
}
