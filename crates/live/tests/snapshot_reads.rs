//! Reads served from published snapshots (`ReadMode::Snapshot`) keep the actor's guarantees: a
//! client answered for a write sees it in its next read, and no read ever sees a write the
//! journal does not hold yet.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use orrery_api::{Cloud, Published, ReadMode, Service};
use orrery_kernel::health::{self, State};
use orrery_kernel::identity::Bootstrap;
use orrery_kernel::{Auth, Command, InitSpec, Kernel, Request, Time};
use orrery_live::actor::{self, Actor};
use orrery_live::clock::Clock;
use orrery_store::{DirSnapshots, Entry, Journal, SqliteJournal};
use tokio::sync::mpsc;

/// A journal that counts the health writes it has made durable, after each append, and checks
/// that the published state never runs ahead of it.
struct Counting {
    inner: SqliteJournal,
    durable_downs: Arc<AtomicUsize>,
    published: Arc<Published>,
}

impl Journal for Counting {
    fn append(&mut self, entries: &[Entry]) -> orrery_store::Result<()> {
        let (state, _) = self.published.latest();
        assert_eq!(hosts_down(&state), self.durable_downs.load(Ordering::SeqCst), "the state was published before its commit");
        self.inner.append(entries)?;
        let downs = entries.iter().filter(|e| matches!(e.request.command, Command::Health(_))).count();
        self.durable_downs.fetch_add(downs, Ordering::SeqCst);
        Ok(())
    }
    fn replay(&self, after: u64, f: &mut dyn FnMut(Entry) -> orrery_store::Result<()>) -> orrery_store::Result<()> {
        self.inner.replay(after, f)
    }
    fn last_seq(&self) -> orrery_store::Result<u64> {
        self.inner.last_seq()
    }
    fn checkpoint(&self) -> orrery_store::Result<()> {
        self.inner.checkpoint()
    }
}

/// Hosts down in health.
fn hosts_down(k: &Kernel) -> usize {
    let t = k.topology();
    (0..t.hosts.len()).filter(|&h| k.health().host(t, h as u32) == State::Down).count()
}

fn host_down(name: String) -> Request {
    Request { auth: Auth::System, command: Command::Health(health::Cmd::Set { kind: health::Kind::Host, name, state: State::Down }) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_reads_see_every_acknowledged_write_and_nothing_undurable() {
    let dir = std::env::temp_dir().join(format!("orrery-snapshot-reads-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let durable_downs = Arc::new(AtomicUsize::new(0));
    let published = Arc::new(Published::new(Arc::new(Kernel::new())));
    let journal =
        Box::new(Counting { inner: SqliteJournal::open(&dir.join("j.sqlite")).unwrap(), durable_downs: durable_downs.clone(), published: published.clone() });
    let snapshots = Box::new(DirSnapshots::open(&dir.join("s")).unwrap());
    let clock = Clock::new(Time::from_secs(1), 1.0);
    let a = Actor {
        published: Some(published.clone()),
        ..Actor::new(Kernel::new(), journal, snapshots, clock, 0, Box::new(orrery_kernel::driver::Modelled::new()))
    };
    let (tx, rx) = mpsc::channel(1024);
    let handle = actor::spawn(a, rx);
    let cloud = Cloud::reading_from(tx, published);
    assert_eq!(cloud.read_mode(), ReadMode::Snapshot);

    let spec = InitSpec { seed: 7, topology: orrery_config::default_topology(), bootstrap: Bootstrap::new("admin", "not-a-real-hash") };
    cloud.apply(Service::Identity, Request { auth: Auth::System, command: Command::Init(Box::new(spec)) }).await.unwrap();
    assert!(cloud.read(Service::Compute, |k, _| k.is_initialized()).await.unwrap(), "the Init just acknowledged is visible");
    let names: Vec<String> = cloud.read(Service::Compute, |k, _| k.topology().hosts.iter().map(|h| h.name.clone()).collect()).await.unwrap();
    assert!(names.len() >= 8, "the default topology has hosts to fail");

    // Readers race the writer: whatever they see is already in the journal.
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (cloud, durable) = (cloud.clone(), durable_downs.clone());
            tokio::spawn(async move {
                for _ in 0..2000 {
                    let seen = cloud.read(Service::Compute, |k, _| hosts_down(k)).await.unwrap();
                    assert!(seen <= durable.load(Ordering::SeqCst), "a read saw {seen} hosts down, more than the journal holds");
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for (i, name) in names.iter().take(8).enumerate() {
        cloud.apply(Service::Compute, host_down(name.clone())).await.unwrap();
        let seen = cloud.read(Service::Compute, |k, _| hosts_down(k)).await.unwrap();
        assert_eq!(seen, i + 1, "the write acknowledged just before is visible to the next read");
    }
    for r in readers {
        r.await.unwrap();
    }
    drop(cloud);
    tokio::task::spawn_blocking(move || handle.shutdown()).await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
