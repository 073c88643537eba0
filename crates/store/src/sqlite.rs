//! The SQLite journal: one row per applied request, JSON-encoded with a checksum, in WAL mode
//! with full sync, plus a high-water mark beside it.
//!
//! The high-water mark (`journal.mark` beside `journal.sqlite`) is the highest sequence number ever acknowledged. It
//! is rewritten in place after every commit, without a sync of its own: it survives a killed
//! process, and a journal that ends before it has lost its tail (a deleted or cut `-wal`,
//! deleted rows), which [`crate::recover`] refuses to pass over in silence.
//!
//! The journal also records in its main file whether it is open (`meta.running`): set and
//! checkpointed at open, cleared at a clean stop. A journal that says it is running but has no
//! `-wal` beside it lost the log of everything since its last checkpoint, as when only
//! `journal.sqlite` is copied after a crash; [`SqliteJournal::lost_wal`] says so.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use crate::{checksum, migrate, Entry, Journal, Result, StoreError, FORMAT_VERSION};

/// A journal in one SQLite file.
pub struct SqliteJournal {
    conn: Connection,
    mark: File,
    mark_path: PathBuf,
    migrated: bool,
    lost_wal: bool,
}

/// The high-water mark's bytes: the sequence number and its complement, so a torn or foreign
/// file reads as absent rather than as a wrong number.
fn mark_bytes(seq: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&seq.to_le_bytes());
    b[8..].copy_from_slice(&(!seq).to_le_bytes());
    b
}

fn entry_sum(seq: u64, at: u64, body: &str) -> String {
    checksum(&[&seq.to_le_bytes(), &at.to_le_bytes(), body.as_bytes()])
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.display().to_string(), source }
}

impl SqliteJournal {
    /// Opens (creating if needed) the journal at `path`, migrating an older format in place,
    /// in one transaction.
    pub fn open(path: &Path) -> Result<SqliteJournal> {
        let wal_existed = PathBuf::from(format!("{}-wal", path.display())).exists();
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // Appends touch only the rightmost pages and replay reads once in order: a 256 KiB page
        // cache does as well as SQLite's default 2 MiB, which a 100,000-server cloud kept full.
        conn.pragma_update(None, "cache_size", -256)?;
        conn.execute_batch("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);")?;
        let found: Option<String> = conn.query_row("SELECT value FROM meta WHERE key = 'format_version'", [], |r| r.get(0)).optional()?;
        let mut migrated = false;
        match found {
            None => {
                conn.execute_batch("CREATE TABLE journal (seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, request TEXT NOT NULL, sum TEXT NOT NULL);")?;
                conn.execute("INSERT INTO meta (key, value) VALUES ('format_version', ?1)", params![FORMAT_VERSION.to_string()])?;
            }
            Some(v) => {
                let found: u32 = v.parse().map_err(|_| StoreError::Corrupt { what: "journal meta".into(), detail: format!("format_version '{v}'") })?;
                if found != FORMAT_VERSION {
                    migrate_journal(&mut conn, &path.display().to_string(), found)?;
                    migrated = true;
                }
            }
        }
        let running: Option<String> = conn.query_row("SELECT value FROM meta WHERE key = 'running'", [], |r| r.get(0)).optional()?;
        let lost_wal = running.as_deref() == Some("1") && !wal_existed;
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('running', '1')", [])?;
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        let mark_path = path.with_extension("mark");
        let mut opts = OpenOptions::new();
        opts.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mark = opts.open(&mark_path).map_err(io(&mark_path))?;
        Ok(SqliteJournal { conn, mark, mark_path, migrated, lost_wal })
    }

    /// Whether the journal was open when its process died and its `-wal` file is gone: the
    /// entries since its last checkpoint are lost.
    pub fn lost_wal(&self) -> bool {
        self.lost_wal
    }

    /// Whether opening migrated the journal from an older format.
    pub fn migrated(&self) -> bool {
        self.migrated
    }

    /// The highest sequence number ever acknowledged, as the high-water mark says; 0 when
    /// there is none (a new journal, or one written before marks existed).
    pub fn acknowledged(&self) -> Result<u64> {
        let mut b = Vec::new();
        (&self.mark).read_to_end(&mut b).map_err(io(&self.mark_path))?;
        Ok(match b.get(..16) {
            Some(b) if b[8..] == mark_bytes(u64::from_le_bytes(b[..8].try_into().unwrap_or_default()))[8..] => {
                u64::from_le_bytes(b[..8].try_into().unwrap_or_default())
            }
            _ => 0,
        })
    }

    /// Sets the high-water mark to `seq`, as after an accepted loss.
    pub fn set_acknowledged(&mut self, seq: u64) -> Result<()> {
        self.write_mark(seq)?;
        self.mark.sync_all().map_err(io(&self.mark_path))
    }

    fn write_mark(&self, seq: u64) -> Result<()> {
        #[cfg(unix)]
        std::os::unix::fs::FileExt::write_all_at(&self.mark, &mark_bytes(seq), 0).map_err(io(&self.mark_path))?;
        Ok(())
    }

    /// Writes a consistent copy of the journal at `src` to the new file `dest` while a cloud
    /// may be writing to it (one read transaction: one point in its history), marked as
    /// stopped cleanly, with its high-water mark. Returns the copy's last sequence number.
    pub fn copy_to(src: &Path, dest: &Path) -> Result<u64> {
        let private_new = |path: &Path| {
            let mut opts = OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            opts.open(path).map_err(io(path))
        };
        // VACUUM INTO fills an empty file in place, so the copy keeps this file's 0600 mode.
        drop(private_new(dest)?);
        let conn = Connection::open_with_flags(src, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute("VACUUM INTO ?1", params![dest.display().to_string()])?;
        drop(conn);
        let copy = Connection::open(dest)?;
        copy.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('running', '0')", [])?;
        let last: Option<i64> = copy.query_row("SELECT MAX(seq) FROM journal", [], |r| r.get(0))?;
        drop(copy);
        let last = last.unwrap_or(0) as u64;
        let mark = dest.with_extension("mark");
        std::io::Write::write_all(&mut private_new(&mark)?, &mark_bytes(last)).map_err(io(&mark))?;
        Ok(last)
    }
}

impl Drop for SqliteJournal {
    /// Closing the journal is a clean stop: SQLite folds the WAL in and removes it, so the
    /// journal no longer says it is running.
    fn drop(&mut self) {
        if let Err(e) = Journal::checkpoint(self) {
            tracing::warn!("closing the journal: {e}");
        }
    }
}

/// Rewrites every row of a journal of format `from` into the current format, in one
/// transaction: a crash during it leaves the old journal as it was.
fn migrate_journal(conn: &mut Connection, what: &str, from: u32) -> Result<()> {
    // Refuse versions outside the chain before touching anything.
    migrate::request(what, from, &mut Value::Null)?;
    // What the old rows held (raw tokens, for format 2) must not linger in freed pages.
    conn.pragma_update(None, "secure_delete", "ON")?;
    let tx = conn.transaction()?;
    if from < 3 {
        tx.execute_batch("ALTER TABLE journal ADD COLUMN sum TEXT NOT NULL DEFAULT ''")?;
    }
    let mut rows = Vec::new();
    {
        let mut stmt = tx.prepare("SELECT seq, at, request FROM journal ORDER BY seq")?;
        let mut q = stmt.query([])?;
        while let Some(row) = q.next()? {
            rows.push((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?, row.get::<_, String>(2)?));
        }
    }
    {
        let mut update = tx.prepare("UPDATE journal SET request = ?2, sum = ?3 WHERE seq = ?1")?;
        for (seq, at, body) in &rows {
            let mut v: Value = serde_json::from_str(body).map_err(|e| StoreError::Corrupt { what: format!("journal entry {seq}"), detail: e.to_string() })?;
            migrate::request(&format!("journal entry {seq}"), from, &mut v)?;
            let body = v.to_string();
            update.execute(params![seq, body, entry_sum(*seq as u64, *at as u64, &body)])?;
        }
    }
    tx.execute("UPDATE meta SET value = ?1 WHERE key = 'format_version'", params![FORMAT_VERSION.to_string()])?;
    tx.commit()?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    conn.execute_batch("VACUUM")?;
    tracing::info!(journal = what, from, to = FORMAT_VERSION, entries = rows.len(), "migrated the journal to the current format");
    Ok(())
}

impl Journal for SqliteJournal {
    fn append(&mut self, entries: &[Entry]) -> Result<()> {
        let Some(last) = entries.last() else { return Ok(()) };
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached("INSERT INTO journal (seq, at, request, sum) VALUES (?1, ?2, ?3, ?4)")?;
            for e in entries {
                let body =
                    serde_json::to_string(&e.request).map_err(|err| StoreError::Corrupt { what: format!("request {}", e.seq), detail: err.to_string() })?;
                stmt.execute(params![e.seq as i64, e.at.0 as i64, body, entry_sum(e.seq, e.at.0, &body)])?;
            }
        }
        tx.commit()?;
        self.write_mark(last.seq)
    }

    fn replay(&self, after: u64, f: &mut dyn FnMut(Entry) -> Result<()>) -> Result<()> {
        let mut stmt = self.conn.prepare("SELECT seq, at, request, sum FROM journal WHERE seq > ?1 ORDER BY seq")?;
        let mut rows = stmt.query(params![after as i64])?;
        while let Some(row) = rows.next()? {
            let seq = row.get::<_, i64>(0)? as u64;
            let at = row.get::<_, i64>(1)? as u64;
            let body: String = row.get(2)?;
            let sum: String = row.get(3)?;
            if sum != entry_sum(seq, at, &body) {
                return Err(StoreError::Corrupt { what: format!("journal entry {seq}"), detail: "its checksum does not match its contents".into() });
            }
            let request = serde_json::from_str(&body).map_err(|err| StoreError::Corrupt { what: format!("journal entry {seq}"), detail: err.to_string() })?;
            f(Entry { seq, at: orrery_kernel::Time(at), request })?;
        }
        Ok(())
    }

    /// Folds the write-ahead log into the journal file and empties it, so that
    /// `journal.sqlite` alone holds everything.
    fn checkpoint(&self) -> Result<()> {
        self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('running', '0')", [])?;
        self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        self.mark.sync_all().map_err(io(&self.mark_path))
    }

    fn last_seq(&self) -> Result<u64> {
        let v: Option<i64> = self.conn.query_row("SELECT MAX(seq) FROM journal", [], |r| r.get(0))?;
        Ok(v.unwrap_or(0) as u64)
    }
}
