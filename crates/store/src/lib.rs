//! Durable storage for the kernel: an append-only journal of applied requests and periodic
//! snapshots of the whole state. Both sit behind traits ([`Journal`], [`Snapshots`]) so the
//! SQLite journal can later give way to PostgreSQL without the shells noticing.
//!
//! Recovery is [`recover`]: load the newest snapshot, then replay every journal entry after it.
//! Replaying the same entries always rebuilds the same state (same [`Kernel::state_hash`]).

pub mod migrate;
pub mod snapshot;
pub mod sqlite;

use orrery_kernel::{Kernel, Request, Time};
use serde::{Deserialize, Serialize};

pub use snapshot::DirSnapshots;
pub use sqlite::SqliteJournal;

/// The on-disk format version of journal entries and snapshots. Version 2 moved host
/// up/down state into the kernel's health service (and host commands into health commands).
/// Version 3 holds token digests instead of raw tokens, a checksum on every journal entry, and
/// a checksummed snapshot header with the state hash. Older versions load through
/// [`migrate`].
pub const FORMAT_VERSION: u32 = 3;

/// A content checksum: BLAKE2s-256 over `parts`, each prefixed with its length, as hex.
pub fn checksum(parts: &[&[u8]]) -> String {
    use blake2::Digest as _;
    let mut h = blake2::Blake2s256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

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
    /// The journal ends before entries that were acknowledged: its tail was cut or deleted.
    #[error("the journal ends at entry {last_good}, but entry {acknowledged} was acknowledged: its tail was lost (a deleted or cut journal.sqlite-wal, or rows removed). Restore the data directory from a backup, or start anyway from entry {last_good} with --accept-journal-loss")]
    TailLost {
        /// The last entry the journal still holds.
        last_good: u64,
        /// The highest entry known to have been acknowledged.
        acknowledged: u64,
    },
    /// The journal's write-ahead log is gone after a crash.
    #[error("journal.sqlite was not stopped cleanly, and its journal.sqlite-wal is missing: the entries written since its last checkpoint are lost (was only journal.sqlite copied?). Copy journal.sqlite-wal back beside it, restore the data directory from a backup, or start anyway with --accept-journal-loss")]
    WalLost,
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
    /// Makes the journal's main file self-contained (on a clean stop).
    fn checkpoint(&self) -> Result<()>;
}

/// Where full-state snapshots are kept.
pub trait Snapshots {
    /// Writes a snapshot of `kernel` taken after journal entry `seq`, atomically.
    fn save(&self, seq: u64, kernel: &Kernel) -> Result<()>;
    /// The newest snapshot that loads, as (seq, kernel), if any, and why each newer one did not.
    fn load_latest(&self) -> Result<Loaded>;
    /// Removes every snapshot that covers more than `seq` entries (after an accepted loss).
    fn discard_after(&self, seq: u64) -> Result<()>;
    /// Removes every snapshot written in an older format (once one in the current format exists).
    fn discard_older_formats(&self) -> Result<()>;
}

/// What [`Snapshots::load_latest`] found.
#[derive(Default)]
pub struct Loaded {
    /// The newest good snapshot: the journal sequence number it covers, and its state.
    pub newest: Option<(u64, Kernel)>,
    /// Newer snapshots that were damaged, with what was wrong, newest first.
    pub skipped: Vec<StoreError>,
    /// The highest journal sequence number any snapshot file claims to cover, damaged or not.
    pub claimed: u64,
}

/// A recovered kernel and how it was rebuilt.
pub struct Recovered {
    /// The state.
    pub kernel: Kernel,
    /// The last journal entry applied.
    pub seq: u64,
    /// The snapshot it started from, if any.
    pub snapshot: Option<u64>,
    /// Damaged snapshots that were passed over.
    pub skipped: Vec<StoreError>,
    /// The highest entry known to have been acknowledged; above `seq` only after an accepted loss.
    pub acknowledged: u64,
}

/// Rebuilds the kernel from the newest good snapshot plus the journal after it. A damaged
/// snapshot is passed over for an older one, or for a replay from the start. A journal that
/// ends before what was acknowledged (`acknowledged`, from the journal's own high-water mark
/// or a snapshot) is refused with [`StoreError::TailLost`] unless `accept_loss`. An entry that
/// the kernel now refuses is a sign of corruption or of a non-deterministic kernel, and is
/// reported as corrupt.
pub fn recover(journal: &dyn Journal, snapshots: &dyn Snapshots, acknowledged: u64, accept_loss: bool) -> Result<Recovered> {
    let loaded = snapshots.load_latest()?;
    let last = journal.last_seq()?;
    let acknowledged = acknowledged.max(loaded.claimed);
    if last < acknowledged && !accept_loss {
        return Err(StoreError::TailLost { last_good: last, acknowledged });
    }
    // A snapshot beyond the journal's end (accepted loss) cannot be continued from.
    let (snapshot, mut kernel) = match loaded.newest {
        Some((seq, k)) if seq <= last => (Some(seq), k),
        _ => (None, Kernel::new()),
    };
    let mut seq = snapshot.unwrap_or(0);
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
    Ok(Recovered { kernel, seq, snapshot, skipped: loaded.skipped, acknowledged })
}
