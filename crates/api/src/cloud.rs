//! The handle through which handlers reach the single-writer kernel actor.
//!
//! Writes are [`Msg::Apply`]: the actor applies the request, makes it durable in the journal
//! (group-committed with its neighbours), and only then answers. Reads are served in one of two
//! [`ReadMode`]s, with the same guarantees: nobody observes state that a crash could take back,
//! and a client that was answered for a write sees it in its next read.
//!
//! - [`ReadMode::Actor`]: a read is [`Msg::Read`], a closure the actor runs against the kernel
//!   after the batch's commit and replies.
//! - [`ReadMode::Snapshot`]: the actor publishes an `Arc<Kernel>` of the durable state into
//!   [`Published`] after each commit and before any reply, and a read runs on the latest one in
//!   the calling task, without messaging the actor.

use std::sync::{Arc, PoisonError, RwLock};

use orrery_kernel::ask::Ask;
use orrery_kernel::driver::{self, Driver, Modelled};
use orrery_kernel::{Auth, Kernel, Reply, Request, Result, Time};
use tokio::sync::{mpsc, oneshot};

use crate::error::{ApiError, Service};

/// A read closure, given the kernel and its current time.
pub type ReadFn = Box<dyn FnOnce(&Kernel, Time) + Send>;

/// A message to the kernel actor.
pub enum Msg {
    /// Apply a request; answer on the channel once durable.
    Apply(Box<Request>, oneshot::Sender<Result<Reply>>),
    /// Run a read.
    Read(ReadFn),
}

/// How reads reach the kernel state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReadMode {
    /// Every read is a message to the kernel actor, run between its batches.
    #[default]
    Actor,
    /// Reads run in the caller's task on the state the actor last published.
    Snapshot,
}

impl ReadMode {
    /// The mode's name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            ReadMode::Actor => "actor",
            ReadMode::Snapshot => "snapshot",
        }
    }
}

impl std::str::FromStr for ReadMode {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<ReadMode, String> {
        match s {
            "actor" => Ok(ReadMode::Actor),
            "snapshot" => Ok(ReadMode::Snapshot),
            other => Err(format!("unknown read mode '{other}'; use 'actor' or 'snapshot'")),
        }
    }
}

/// The durable state the kernel actor last published, and the kernel time it is valid at, for
/// [`ReadMode::Snapshot`]. The actor publishes a new state only when a batch changed something
/// (journaled writes, fired timers); otherwise it only moves the time on, which is exact because
/// nothing in the state changes between timers.
pub struct Published {
    slot: RwLock<(Arc<Kernel>, Time)>,
}

impl Published {
    /// A slot holding `kernel` at its own time.
    pub fn new(kernel: Arc<Kernel>) -> Published {
        let now = kernel.now();
        Published { slot: RwLock::new((kernel, now)) }
    }

    /// Replaces the state (it must be durable) and returns the previous one, for the caller to drop.
    pub fn publish(&self, kernel: Arc<Kernel>) -> Arc<Kernel> {
        let now = kernel.now();
        let mut slot = self.slot.write().unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *slot, (kernel, now)).0
    }

    /// Moves the time reads see to `now`: the caller promises no timer fired since the last publish.
    pub fn advance(&self, now: Time) {
        let mut slot = self.slot.write().unwrap_or_else(PoisonError::into_inner);
        slot.1 = slot.1.max(now);
    }

    /// The latest state and its time.
    pub fn latest(&self) -> (Arc<Kernel>, Time) {
        let slot = self.slot.read().unwrap_or_else(PoisonError::into_inner);
        (slot.0.clone(), slot.1)
    }
}

/// A cheap, cloneable handle to the kernel actor.
#[derive(Clone)]
pub struct Cloud {
    tx: mpsc::Sender<Msg>,
    /// Where reads go in [`ReadMode::Snapshot`]; `None` sends them to the actor.
    published: Option<Arc<Published>>,
}

impl Cloud {
    /// A handle sending writes and reads on `tx` ([`ReadMode::Actor`]).
    pub fn new(tx: mpsc::Sender<Msg>) -> Cloud {
        Cloud { tx, published: None }
    }

    /// A handle sending writes on `tx` and reading from `published` ([`ReadMode::Snapshot`]).
    pub fn reading_from(tx: mpsc::Sender<Msg>, published: Arc<Published>) -> Cloud {
        Cloud { tx, published: Some(published) }
    }

    /// How this handle serves reads.
    pub fn read_mode(&self) -> ReadMode {
        if self.published.is_some() {
            ReadMode::Snapshot
        } else {
            ReadMode::Actor
        }
    }

    /// Messages sent to the actor that it has not taken yet (a cheap sample for metrics).
    pub fn queue_depth(&self) -> usize {
        self.tx.max_capacity().saturating_sub(self.tx.capacity())
    }

    /// Applies a request and waits until it is durable. `service` shapes the error if the
    /// actor has stopped.
    pub async fn apply(&self, service: Service, req: Request) -> Result<Reply, ApiError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Msg::Apply(Box::new(req), tx)).await.map_err(|_| ApiError::unavailable(service))?;
        let res = rx.await.map_err(|_| ApiError::unavailable(service))?;
        res.map_err(|e| ApiError::new(service, e))
    }

    /// Applies a typed command as `auth` and waits until it is durable; answers its typed
    /// reply (see `orrery_kernel::ask`).
    pub async fn ask<R>(&self, service: Service, auth: Auth, ask: Ask<R>) -> Result<R, ApiError> {
        let (command, typed) = ask.into_parts();
        let reply = self.apply(service, Request { auth, command }).await?;
        typed.take(reply).map_err(|e| ApiError::new(service, e))
    }

    /// Runs `f` against the kernel and the kernel time, and returns its result. Use the time
    /// given rather than `Kernel::now`: in [`ReadMode::Snapshot`] the state may be older than
    /// the time (nothing changed since).
    pub async fn read<R, F>(&self, service: Service, f: F) -> Result<R, ApiError>
    where
        R: Send + 'static,
        F: FnOnce(&Kernel, Time) -> R + Send + 'static,
    {
        if let Some(published) = &self.published {
            return read_published(published, service, f);
        }
        let (tx, rx) = oneshot::channel();
        let job: ReadFn = Box::new(move |k, now| {
            let _ = tx.send(f(k, now));
        });
        self.tx.send(Msg::Read(job)).await.map_err(|_| ApiError::unavailable(service))?;
        rx.await.map_err(|_| read_failed(service))
    }

    /// Asks the kernel actor itself (never the published state) whether it holds a cloud:
    /// true once the cloud is created, false before. An error means the actor is gone.
    pub async fn ping(&self) -> Result<bool, ApiError> {
        let (tx, rx) = oneshot::channel();
        let job: ReadFn = Box::new(move |k, _| {
            let _ = tx.send(k.is_initialized());
        });
        self.tx.send(Msg::Read(job)).await.map_err(|_| ApiError::unavailable(Service::Admin))?;
        rx.await.map_err(|_| ApiError::unavailable(Service::Admin))
    }
}

/// Runs `f` on the latest published state in the calling task. A bug in a read fails only its
/// request, as it does in the actor.
fn read_published<R, F>(published: &Published, service: Service, f: F) -> Result<R, ApiError>
where
    F: FnOnce(&Kernel, Time) -> R,
{
    let (kernel, now) = published.latest();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&kernel, now))).map_err(|_| {
        tracing::error!("a read panicked; its request failed and the cloud goes on serving");
        read_failed(service)
    })
}

/// The error of a read that failed inside orrery.
fn read_failed(service: Service) -> ApiError {
    ApiError::new(
        service,
        orrery_kernel::Error::internal(
            "orrery.internal",
            "orrery failed while answering this request; the cloud is still serving. Please report it with the server log.".into(),
        ),
    )
}

/// Spawns an in-memory kernel actor on the current tokio runtime, with no journal, the
/// wall clock as kernel time and the modelled driver. For tests of the HTTP adapters; the live
/// shell has the durable one.
pub fn spawn_in_memory(mut kernel: Kernel) -> Cloud {
    let (tx, mut rx) = mpsc::channel::<Msg>(1024);
    tokio::spawn(async move {
        let mut driver = Modelled::resuming(&kernel);
        while let Some(msg) = rx.recv().await {
            let now = wall_now().max(kernel.now());
            for (at, obs) in driver.poll(now) {
                let _ = driver::observe(&mut kernel, at, obs);
            }
            match msg {
                Msg::Apply(req, reply) => {
                    let _ = reply.send(kernel.apply(now, *req));
                }
                Msg::Read(f) => {
                    kernel.advance(now);
                    f(&kernel, now);
                }
            }
            let out = kernel.drain_outbox();
            driver.submit(kernel.now(), out.effects);
        }
    });
    Cloud::new(tx)
}

/// The wall clock as kernel time.
pub fn wall_now() -> Time {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Time(d.as_micros() as u64)
}
