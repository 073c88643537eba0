//! The SQLite journal: one row per applied request, JSON-encoded, in WAL mode with full sync.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

use crate::{Entry, Journal, Result, StoreError, FORMAT_VERSION};

/// A journal in one SQLite file.
pub struct SqliteJournal {
    conn: Connection,
}

impl SqliteJournal {
    /// Opens (creating if needed) the journal at `path`.
    pub fn open(path: &Path) -> Result<SqliteJournal> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // Appends touch only the rightmost pages and replay reads once in order: a 256 KiB page
        // cache does as well as SQLite's default 2 MiB, which a 100,000-server cloud kept full.
        conn.pragma_update(None, "cache_size", -256)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS journal (seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, request TEXT NOT NULL);",
        )?;
        let found: Option<String> = conn.query_row("SELECT value FROM meta WHERE key = 'format_version'", [], |r| r.get(0)).optional()?;
        match found {
            None => {
                conn.execute("INSERT INTO meta (key, value) VALUES ('format_version', ?1)", params![FORMAT_VERSION.to_string()])?;
            }
            Some(v) => {
                let found: u32 = v.parse().map_err(|_| StoreError::Corrupt { what: "journal meta".into(), detail: format!("format_version '{v}'") })?;
                if found > FORMAT_VERSION {
                    return Err(StoreError::TooNew { what: path.display().to_string(), found });
                }
                if found < FORMAT_VERSION {
                    return Err(StoreError::TooOld { what: path.display().to_string(), found });
                }
            }
        }
        Ok(SqliteJournal { conn })
    }
}

impl Journal for SqliteJournal {
    fn append(&mut self, entries: &[Entry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached("INSERT INTO journal (seq, at, request) VALUES (?1, ?2, ?3)")?;
            for e in entries {
                let body =
                    serde_json::to_string(&e.request).map_err(|err| StoreError::Corrupt { what: format!("request {}", e.seq), detail: err.to_string() })?;
                stmt.execute(params![e.seq as i64, e.at.0 as i64, body])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn replay(&self, after: u64, f: &mut dyn FnMut(Entry) -> Result<()>) -> Result<()> {
        let mut stmt = self.conn.prepare("SELECT seq, at, request FROM journal WHERE seq > ?1 ORDER BY seq")?;
        let mut rows = stmt.query(params![after as i64])?;
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(0)?;
            let at: i64 = row.get(1)?;
            let body: String = row.get(2)?;
            let request = serde_json::from_str(&body).map_err(|err| StoreError::Corrupt { what: format!("journal entry {seq}"), detail: err.to_string() })?;
            f(Entry { seq: seq as u64, at: orrery_kernel::Time(at as u64), request })?;
        }
        Ok(())
    }

    fn last_seq(&self) -> Result<u64> {
        let v: Option<i64> = self.conn.query_row("SELECT MAX(seq) FROM journal", [], |r| r.get(0))?;
        Ok(v.unwrap_or(0) as u64)
    }
}
