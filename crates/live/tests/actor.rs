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
