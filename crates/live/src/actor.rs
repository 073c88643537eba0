//! The kernel actor: the single writer. It drains a batch of messages, applies the writes,
//! commits them to the journal in one transaction (group commit: one sync for the whole
//! batch), answers the writers, then runs the batch's reads. Nobody hears of a write, or sees
//! its effects, before it is durable.
//!
//! In [`ReadMode::Snapshot`](orrery_api::ReadMode) the actor also publishes a copy of the state
//! after each commit that changed something, before it answers anyone, so a read served from the
//! copy never sees a write before it is durable, and a client answered for a write sees it next.
//!
//! The actor is also the shell of the driver seam: it hands the kernel's effects to its
//! [`Driver`] only after the commit, and applies what the driver observed as journaled
//! commands (`Command::Observe`), each at its own time, before later requests.
//!
//! It reports to operators too: each group commit's latency and size go to the shared
//! [`Metrics`], and each health event of the outbox is logged (target `orrery::health`).

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use orrery_api::cloud::ReadFn;
use orrery_api::{Metrics, Msg, Published};
use orrery_kernel::driver::{Driver, Observation};
use orrery_kernel::health::State;
use orrery_kernel::{Auth, Command, Event, Kernel, Reply, Request, Result as KResult, Time};
use orrery_store::{Entry, Journal, Snapshots};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

use crate::clock::Clock;
use crate::snapshotter::{Finished, Snapshotter, SNAPSHOT_RETRY};

/// Largest batch applied and committed together.
const MAX_BATCH: usize = 4096;
/// How often kernel time advances (and due timers fire) without any request.
const TICK: Duration = Duration::from_millis(20);

/// Everything the actor owns.
pub struct Actor {
    /// The state machine.
    pub kernel: Kernel,
    /// Durable journal.
    pub journal: Box<dyn Journal + Send>,
    /// Snapshot store, written on a thread of its own.
    pub snapshots: Snapshotter,
    /// Kernel time source.
    pub clock: Clock,
    /// Last journal sequence number written.
    pub seq: u64,
    /// Take a snapshot after this many journal entries.
    pub snapshot_every: u64,
    /// Take a snapshot this long after the last one if anything was journaled since, so the
    /// tail a restart replays stays short however slowly writes come.
    pub snapshot_interval: Duration,
    /// Sequence number of the last snapshot.
    pub last_snapshot: u64,
    /// The data plane. Start it with `Modelled::resuming(&kernel)` so the operations in flight
    /// when the cloud last stopped are finished.
    pub driver: Box<dyn Driver>,
    /// Where commit latencies and batch sizes go; share it with the HTTP layer's `AppState`.
    pub metrics: Arc<Metrics>,
    /// Where to publish the durable state for reads that skip the actor
    /// ([`ReadMode::Snapshot`](orrery_api::ReadMode)); `None` serves every read here.
    pub published: Option<Arc<Published>>,
}

/// A running actor: its thread and the way to stop it.
pub struct ActorHandle {
    thread: JoinHandle<()>,
    stop: oneshot::Sender<()>,
}

impl ActorHandle {
    /// Asks the actor to finish what is queued, write a snapshot and exit; waits for it.
    pub fn shutdown(self) {
        let _ = self.stop.send(());
        if self.thread.join().is_err() {
            error!("the kernel actor thread panicked during shutdown");
        }
    }
}

/// Starts the actor on its own thread, consuming `rx`.
pub fn spawn(actor: Actor, rx: mpsc::Receiver<Msg>) -> ActorHandle {
    let (stop, stop_rx) = oneshot::channel();
    let thread =
        std::thread::Builder::new().name("orrery-kernel".into()).spawn(move || run(actor, rx, stop_rx)).expect("could not start the kernel actor thread");
    ActorHandle { thread, stop }
}

fn run(mut actor: Actor, mut rx: mpsc::Receiver<Msg>, mut stop: oneshot::Receiver<()>) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("actor runtime");
    rt.block_on(async {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                biased;
                _ = &mut stop => break,
                m = rx.recv() => match m {
                    Some(m) => fail_stop(|| actor.process(first_batch(m, &mut rx))),
                    None => break,
                },
                _ = tick.tick() => fail_stop(|| actor.tick()),
            }
        }
        rx.close();
        let mut rest = Vec::new();
        while let Ok(m) = rx.try_recv() {
            rest.push(m);
        }
        fail_stop(|| actor.process(rest));
        actor.snapshot();
        if let Err(e) = actor.journal.checkpoint() {
            error!("folding the journal's write-ahead log into journal.sqlite failed (the -wal file still holds it): {e}");
        }
    });
}

/// Runs one step of the actor; if the kernel panics inside it, the process exits (status 70)
/// at once. The batch's writes were neither journaled nor acknowledged, and a kernel that
/// panicked mid-write may hold half of one, so serving on would answer from a state no journal
/// can rebuild; a supervisor restarts the cloud from its journal instead. (Reads that panic
/// are caught on their own: they cannot change the state.)
fn fail_stop(step: impl FnOnce()) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(step)).is_err() {
        error!("the kernel panicked while applying writes; stopping without acknowledging them (restart replays the journal)");
        std::process::exit(70);
    }
}

fn first_batch(first: Msg, rx: &mut mpsc::Receiver<Msg>) -> Vec<Msg> {
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(m) => batch.push(m),
            Err(_) => break,
        }
    }
    batch
}

impl Actor {
    /// An actor over `kernel`, recovered at journal sequence `seq`: no snapshot by entry count,
    /// metrics of its own, reads served by the actor. Its fields are public: set
    /// `snapshot_every`, `metrics` or `published` with struct update syntax.
    pub fn new(
        kernel: Kernel,
        journal: Box<dyn Journal + Send>,
        snapshots: Box<dyn Snapshots + Send>,
        clock: Clock,
        seq: u64,
        driver: Box<dyn Driver>,
    ) -> Actor {
        Actor {
            kernel,
            journal,
            snapshots: Snapshotter::new(snapshots),
            clock,
            seq,
            snapshot_every: u64::MAX,
            snapshot_interval: Duration::MAX,
            last_snapshot: seq,
            driver,
            metrics: Default::default(),
            published: None,
        }
    }

    fn tick(&mut self) {
        let now = self.clock.now().max(self.kernel.now());
        let timers_due = self.timers_due(now);
        let mut entries = Vec::new();
        self.observe_due(now, &mut entries);
        self.kernel.advance(now);
        self.settle(&entries, timers_due);
        self.maybe_snapshot();
    }

    /// Whether advancing to `now` fires a timer, that is changes the state.
    fn timers_due(&self, now: Time) -> bool {
        self.kernel.next_timer().is_some_and(|at| at <= now)
    }

    /// Applies a batch: writes first, one journal commit, publication of the state (in
    /// snapshot mode), replies, then the reads sent to the actor.
    pub fn process(&mut self, batch: Vec<Msg>) {
        if batch.is_empty() {
            return;
        }
        let now = self.clock.now().max(self.kernel.now());
        let timers_due = self.timers_due(now);
        let mut entries = Vec::new();
        self.observe_due(now, &mut entries);
        self.kernel.advance(now);
        let mut replies: Vec<(oneshot::Sender<KResult<Reply>>, KResult<Reply>)> = Vec::new();
        let mut reads: Vec<ReadFn> = Vec::new();
        for msg in batch {
            match msg {
                Msg::Apply(req, tx) => {
                    let res = self.apply_one(self.kernel.now(), *req, &mut entries);
                    replies.push((tx, res));
                }
                Msg::Read(f) => reads.push(f),
            }
        }
        self.settle(&entries, timers_due);
        for (tx, res) in replies {
            let _ = tx.send(res);
        }
        let now = self.kernel.now();
        for f in reads {
            // A bug in one read must not take the cloud down: its caller sees the error, the
            // kernel is untouched (reads only borrow it), and the actor goes on.
            let kernel = &self.kernel;
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(kernel, now))).is_err() {
                error!("a read panicked; its request failed and the cloud goes on serving");
            }
        }
        self.maybe_snapshot();
    }

    /// Applies the driver's observations due by `now`, each at its own time (so an operation
    /// observed in time never loses to its own deadline), journaling them with the batch.
    fn observe_due(&mut self, now: Time, entries: &mut Vec<Entry>) {
        for (at, obs) in self.driver.poll(now) {
            let req = Request { auth: Auth::System, command: Command::Observe(obs) };
            if let Err(e) = self.apply_one(at.max(self.kernel.now()), req, entries) {
                error!("the kernel refused an observation of its own driver: {e}");
            }
        }
    }

    /// Applies an observation at `at` at once, outside any batch: for tests and tools that
    /// play the data plane themselves.
    pub fn observe(&mut self, at: Time, obs: Observation) -> KResult<Reply> {
        let mut entries = Vec::new();
        let at = at.max(self.kernel.now());
        let timers_due = self.timers_due(at);
        let res = self.apply_one(at, Request { auth: Auth::System, command: Command::Observe(obs) }, &mut entries);
        self.settle(&entries, timers_due);
        res
    }

    /// After applying: makes `entries` durable, hands the effects to the driver, and (in
    /// snapshot mode) publishes the state if it changed. Always before any reply.
    fn settle(&mut self, entries: &[Entry], timers_due: bool) {
        self.commit(entries);
        self.hand_effects();
        self.publish(timers_due || !entries.is_empty());
    }

    /// In snapshot mode, makes the durable state visible to reads: a new copy if `changed`,
    /// otherwise only the new time. Call it after the commit and before any reply.
    fn publish(&mut self, changed: bool) {
        let Some(published) = &self.published else { return };
        if !changed {
            published.advance(self.kernel.now());
            return;
        }
        let started = Instant::now();
        let copy = Arc::new(self.kernel.clone());
        let cloned = started.elapsed();
        // The previous copy is freed here unless a read still holds it.
        drop(published.publish(copy));
        debug!(clone_us = cloned.as_micros() as u64, total_us = started.elapsed().as_micros() as u64, "state published");
    }

    /// Makes `entries` durable. Fail-stop: if the journal refuses them, the state holds writes
    /// the journal does not, so the process exits without acknowledging anything.
    fn commit(&mut self, entries: &[Entry]) {
        if entries.is_empty() {
            return;
        }
        let started = Instant::now();
        if let Err(e) = self.journal.append(entries) {
            error!("journal write failed, stopping without acknowledging {} writes: {e}", entries.len());
            std::process::exit(70);
        }
        self.metrics.observe_commit(started.elapsed(), entries.len());
    }

    /// Hands the driver what durable commands and fired timers asked of the data plane, and
    /// logs the health events among the facts.
    fn hand_effects(&mut self) {
        let out = self.kernel.drain_outbox();
        log_health(&out.events);
        if !out.effects.is_empty() {
            self.driver.submit(self.kernel.now(), out.effects);
        }
    }

    fn apply_one(&mut self, at: Time, req: Request, entries: &mut Vec<Entry>) -> KResult<Reply> {
        let copy = req.clone();
        let res = self.kernel.apply(at, req);
        if res.is_ok() {
            self.seq += 1;
            entries.push(Entry { seq: self.seq, at: self.kernel.now(), request: copy });
        }
        res
    }

    /// Starts a snapshot on the writer thread when one is due (by entry count or by time) and
    /// none is under way. The actor pays only for the copy of the state; writing it out
    /// happens beside it. A finished write is accounted for first.
    fn maybe_snapshot(&mut self) {
        if let Some(f) = self.snapshots.poll() {
            self.snapshot_finished(f);
        }
        let behind = self.seq - self.last_snapshot;
        let due = behind >= self.snapshot_every || (behind > 0 && self.snapshots.since_last() >= self.snapshot_interval);
        if !due || !self.snapshots.ready() {
            return;
        }
        let started = Instant::now();
        let copy = self.kernel.clone();
        let stall = started.elapsed();
        if self.snapshots.start(self.seq, copy) {
            debug!(seq = self.seq, stall_us = stall.as_micros() as u64, "snapshot started on its own thread");
        }
    }

    fn snapshot_finished(&mut self, f: Finished) {
        match f.result {
            Ok(()) => {
                info!(seq = f.seq, ms = f.took.as_millis() as u64, "snapshot written");
                self.last_snapshot = self.last_snapshot.max(f.seq);
            }
            Err(e) => error!("snapshot at {} failed (the journal still has everything; the next try waits {} s): {e}", f.seq, SNAPSHOT_RETRY.as_secs()),
        }
    }

    /// Waits for the snapshot under way, if any, and accounts for it.
    pub fn settle_snapshots(&mut self) {
        if let Some(f) = self.snapshots.wait() {
            self.snapshot_finished(f);
        }
    }

    /// Writes a snapshot now, on this thread, if anything was journaled since the last one
    /// (at a clean stop, after any write under way).
    pub fn snapshot(&mut self) {
        self.settle_snapshots();
        if self.seq == self.last_snapshot {
            return;
        }
        if let Some(f) = self.snapshots.save_now(self.seq, &self.kernel) {
            self.snapshot_finished(f);
        }
    }
}

/// One line per health event: a component going down is a warning, anything else news.
fn log_health(events: &[Event]) {
    for e in events {
        let Event::HealthChanged { kind, name, from, state } = e else { continue };
        let (kind, from, to) = (kind.as_str(), from.as_str(), state.as_str());
        if *state == State::Down {
            warn!(target: "orrery::health", kind = %kind, name = %name, from = %from, to = %to);
        } else {
            info!(target: "orrery::health", kind = %kind, name = %name, from = %from, to = %to);
        }
    }
}
