//! The handle through which handlers reach the single-writer kernel actor.
//!
//! Writes are [`Msg::Apply`]: the actor applies the request, makes it durable in the journal
//! (group-committed with its neighbours), and only then answers. Reads are [`Msg::Read`]: a
//! closure run against the kernel between writes; its answer waits for any write it could see
//! to become durable, so nobody observes state that a crash could take back.

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

/// A cheap, cloneable handle to the kernel actor.
#[derive(Clone)]
pub struct Cloud {
    tx: mpsc::Sender<Msg>,
}

impl Cloud {
    /// A handle sending on `tx`.
    pub fn new(tx: mpsc::Sender<Msg>) -> Cloud {
        Cloud { tx }
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

    /// Runs `f` against the kernel and returns its result.
    pub async fn read<R, F>(&self, service: Service, f: F) -> Result<R, ApiError>
    where
        R: Send + 'static,
        F: FnOnce(&Kernel, Time) -> R + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: ReadFn = Box::new(move |k, now| {
            let _ = tx.send(f(k, now));
        });
        self.tx.send(Msg::Read(job)).await.map_err(|_| ApiError::unavailable(service))?;
        rx.await.map_err(|_| {
            ApiError::new(
                service,
                orrery_kernel::Error::internal(
                    "orrery.internal",
                    "orrery failed while answering this request; the cloud is still serving. Please report it with the server log.".into(),
                ),
            )
        })
    }
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
