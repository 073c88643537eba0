//! Snapshots written off the kernel actor's thread. The actor hands over a copy of the state
//! (a clone, which costs a fraction of writing it out) and goes on serving while a thread of
//! this writer serialises, checksums and syncs the copy. One write runs at a time; the store
//! travels with it to the writing thread and comes back when it is done, so nothing else can
//! touch it meanwhile.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use orrery_kernel::Kernel;
use orrery_store::{Snapshots, StoreError};

/// A snapshot store behind a writer thread.
pub struct Snapshotter {
    /// The store, while no write holds it.
    idle: Option<Box<dyn Snapshots + Send>>,
    /// The write under way.
    writing: Option<JoinHandle<Written>>,
    /// When the last snapshot was written (or the writer was made).
    last_at: Instant,
    /// After a failed write, no new one starts before this.
    retry_after: Option<Instant>,
}

/// How long after a failed snapshot the next one may start.
pub const SNAPSHOT_RETRY: Duration = Duration::from_secs(10);

/// What a finished write reports.
#[derive(Debug)]
pub struct Finished {
    /// The journal entry the snapshot covers.
    pub seq: u64,
    /// How long writing it took, on the writer's thread.
    pub took: Duration,
    /// Whether it was written.
    pub result: Result<(), StoreError>,
}

struct Written {
    store: Box<dyn Snapshots + Send>,
    finished: Finished,
}

impl Snapshotter {
    /// A writer over `store`, idle.
    pub fn new(store: Box<dyn Snapshots + Send>) -> Snapshotter {
        Snapshotter { idle: Some(store), writing: None, last_at: Instant::now(), retry_after: None }
    }

    /// Whether a new write may start: none is under way, and none failed in the last
    /// [`SNAPSHOT_RETRY`].
    pub fn ready(&self) -> bool {
        self.idle.is_some() && self.retry_after.is_none_or(|t| Instant::now() >= t)
    }

    /// Time since the last snapshot was written (or since the writer was made).
    pub fn since_last(&self) -> Duration {
        self.last_at.elapsed()
    }

    /// Starts writing `copy` as the snapshot after entry `seq` on a thread of its own.
    /// Returns false (and drops the copy) unless [`ready`](Self::ready).
    pub fn start(&mut self, seq: u64, copy: Kernel) -> bool {
        if !self.ready() {
            return false;
        }
        let Some(store) = self.idle.take() else { return false };
        let spawned = std::thread::Builder::new().name("orrery-snapshot".into()).spawn(move || {
            let started = Instant::now();
            let result = store.save(seq, &copy);
            // Freeing a large state takes time too: do it here, not on the actor's thread.
            drop(copy);
            Written { store, finished: Finished { seq, took: started.elapsed(), result } }
        });
        match spawned {
            Ok(handle) => {
                self.writing = Some(handle);
                true
            }
            Err(e) => {
                // The store moved into the closure that failed to start; nothing can be saved.
                tracing::error!("could not start the snapshot thread: {e}");
                false
            }
        }
    }

    /// The write that has finished since the last call, without waiting.
    pub fn poll(&mut self) -> Option<Finished> {
        if self.writing.as_ref().is_some_and(JoinHandle::is_finished) {
            return self.wait();
        }
        None
    }

    /// Waits for the write under way, if any, and reports it.
    pub fn wait(&mut self) -> Option<Finished> {
        let handle = self.writing.take()?;
        match handle.join() {
            Ok(Written { store, finished }) => {
                self.idle = Some(store);
                self.account(&finished);
                Some(finished)
            }
            Err(_) => {
                tracing::error!("the snapshot thread panicked; no more snapshots are written (the journal still has everything)");
                None
            }
        }
    }

    /// Writes a snapshot of `kernel` after entry `seq` on the calling thread, once any write
    /// under way has finished (at a clean stop).
    pub fn save_now(&mut self, seq: u64, kernel: &Kernel) -> Option<Finished> {
        let earlier = self.wait();
        if earlier.as_ref().is_some_and(|f| f.seq >= seq && f.result.is_ok()) {
            return earlier;
        }
        let store = self.idle.as_ref()?;
        let started = Instant::now();
        let result = store.save(seq, kernel);
        let finished = Finished { seq, took: started.elapsed(), result };
        self.account(&finished);
        Some(finished)
    }

    fn account(&mut self, f: &Finished) {
        if f.result.is_ok() {
            self.last_at = Instant::now();
            self.retry_after = None;
        } else {
            self.retry_after = Some(Instant::now() + SNAPSHOT_RETRY);
        }
    }
}

impl Drop for Snapshotter {
    /// A write under way is finished, never cut off: its file is complete or absent.
    fn drop(&mut self) {
        let _ = self.wait();
    }
}
