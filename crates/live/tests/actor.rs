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
