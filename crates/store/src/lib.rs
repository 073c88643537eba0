//! Durable storage for the kernel: an append-only journal of applied requests and periodic
//! snapshots of the whole state. Both sit behind traits ([`Journal`], [`Snapshots`]) so the
//! SQLite journal can later give way to PostgreSQL without the shells noticing.
//!
//! Recovery is [`recover`]: load the newest snapshot, then replay every journal entry after it.
//! Replaying the same entries always rebuilds the same state (same [`Kernel::state_hash`]).

pub mod snapshot;
pub mod sqlite;

use orrery_kernel::{Kernel, Request, Time};
use serde::{Deserialize, Serialize};

pub use snapshot::DirSnapshots;
pub use sqlite::SqliteJournal;

/// The on-disk format version of journal entries and snapshots. Version 2 moved host
/// up/down state into the kernel's health service (and host commands into health commands).
pub const FORMAT_VERSION: u32 = 2;

/// One applied request, as journaled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the journal, from 1, without gaps.
    pub seq: u64,
    /// The kernel time the request was applied at.
    pub at: Time,
    /// The request.
    pub request: Request,
}

/// Why the store failed. Storage failures are fatal to the live shell: it stops rather than
/// acknowledge anything it cannot keep.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused an operation.
    #[error("journal database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A journal entry or snapshot did not decode.
    #[error("{what} is corrupt or from an unknown version: {detail}")]
    Corrupt {
        /// Which record.
        what: String,
        /// The decoder's complaint.
        detail: String,
    },
    /// The data was written by an older orrery whose format this one cannot migrate.
    #[error("{what} has format version {found}, but this orrery reads version {FORMAT_VERSION} and cannot migrate it; keep using the orrery that wrote it, or start a new cloud in another --data-dir")]
    TooOld {
        /// Which record.
        what: String,
        /// Its version.
        found: u32,
    },
    /// The data was written by a newer orrery.
    #[error("{what} has format version {found}, but this orrery reads up to {FORMAT_VERSION}; upgrade orrery")]
    TooNew {
        /// Which record.
        what: String,
        /// Its version.
        found: u32,
    },
}

/// Shorthand for store results.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// An append-only journal of applied requests.
pub trait Journal {
    /// Appends entries durably, all or none, in one transaction with one sync (group commit).
    fn append(&mut self, entries: &[Entry]) -> Result<()>;
    /// Every entry with `seq > after`, in order, handed to `f` one at a time.
    fn replay(&self, after: u64, f: &mut dyn FnMut(Entry) -> Result<()>) -> Result<()>;
    /// The highest sequence number stored, or 0.
    fn last_seq(&self) -> Result<u64>;
}

/// Where full-state snapshots are kept.
pub trait Snapshots {
    /// Writes a snapshot of `kernel` taken after journal entry `seq`, atomically.
    fn save(&self, seq: u64, kernel: &Kernel) -> Result<()>;
    /// The newest snapshot, as (seq, kernel), if any.
    fn load_latest(&self) -> Result<Option<(u64, Kernel)>>;
}

/// Rebuilds the kernel from the newest snapshot plus the journal after it. Returns the kernel
/// and the last journal sequence number applied. An entry that the kernel now refuses is a
/// sign of corruption or of a non-deterministic kernel, and is reported as corrupt.
pub fn recover(journal: &dyn Journal, snapshots: &dyn Snapshots) -> Result<(Kernel, u64)> {
    let (mut seq, mut kernel) = match snapshots.load_latest()? {
        Some((seq, k)) => (seq, k),
        None => (0, Kernel::new()),
    };
    journal.replay(seq, &mut |e| {
        if e.seq != seq + 1 {
            return Err(StoreError::Corrupt { what: "journal".into(), detail: format!("entry {} follows {seq}", e.seq) });
        }
        kernel
            .apply(e.at, e.request)
            .map_err(|err| StoreError::Corrupt { what: format!("journal entry {}", e.seq), detail: format!("replaying it failed: {err}") })?;
        kernel.drain_outbox();
        seq = e.seq;
        Ok(())
    })?;
    Ok((kernel, seq))
}
