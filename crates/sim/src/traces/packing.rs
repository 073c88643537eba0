//! The Azure Trace for Packing 2020: an SQLite database with tables
//! `vm(vmId, tenantId, vmTypeId, priority, starttime, endtime)` and
//! `vmType(id, vmTypeId, machineId, core, memory, hdd, ssd, nic)`.
//!
//! Times are fractional days from the start of collection; VMs already running have a
//! negative `starttime` (they arrive at 0 here) and VMs still running have a NULL `endtime`.
//! `core`, `memory` and `ssd` are fractions of one machine; a VM type can appear on several
//! machines, and the row with the lowest `machineId` is used, scaled by the experiment's
//! reference [`Machine`] (sizes round up, to at least 1 vCPU and 1 MiB). `priority` is not used.
//!
//! The schema and the VM types are checked when the trace is opened; the `vm` table is then
//! streamed in `starttime` order from a reader thread, so memory stays small however long
//! the trace is. A malformed `vm` row ends the stream with an error naming its `rowid`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender};

use orrery_kernel::time::Dur;
use rusqlite::{Connection, OpenFlags};

use super::{shown, Inner, Options, TraceError, TraceStream, TraceVm};
use crate::experiment::Machine;

/// Seconds in a day: the packing trace counts time in days.
const DAY_SECS: f64 = 86_400.0;

/// What a valid packing trace holds, for messages.
const EXPECTED: &str =
    "the Azure packing trace schema: tables vm(vmId, vmTypeId, starttime, endtime, ...) and vmType(vmTypeId, machineId, core, memory, ssd, ...)";

/// A VM type's size as fractions of a machine.
#[derive(Copy, Clone, Debug, PartialEq)]
struct Shape {
    core: f64,
    memory: f64,
    ssd: f64,
}

/// Opens a packing trace: checks the schema, reads `vmType`, and streams `vm`.
pub fn open_packing(path: &Path, machine: Machine, opts: &Options) -> Result<TraceStream, TraceError> {
    let conn = connect(path)?;
    let types = read_types(&conn, path)?;
    let any: bool = conn.query_row("SELECT EXISTS (SELECT 1 FROM vm)", [], |r| r.get(0)).map_err(|e| format_error(path, &e))?;
    if !any {
        return Err(TraceError::Empty { path: shown(path), expected: EXPECTED });
    }
    conn.prepare(VM_QUERY).map_err(|e| format_error(path, &e))?;
    drop(conn);
    let (tx, rx) = sync_channel(4096);
    let job = Job { path: path.to_path_buf(), types, machine, opts: *opts };
    std::thread::Builder::new()
        .name("orrery-packing-trace".into())
        .spawn(move || job.run(&tx))
        .map_err(|e| TraceError::Read { path: shown(path), reason: format!("cannot start the reader thread: {e}") })?;
    Ok(TraceStream(Inner::Channel(rx)))
}

const VM_QUERY: &str = "SELECT rowid, vmTypeId, starttime, endtime FROM vm ORDER BY starttime, vmId";

/// Opens the database read-only and checks that both tables exist.
fn connect(path: &Path) -> Result<Connection, TraceError> {
    let meta = std::fs::metadata(path).map_err(|e| TraceError::Read { path: shown(path), reason: e.to_string() })?;
    if meta.len() == 0 {
        return Err(TraceError::Empty { path: shown(path), expected: EXPECTED });
    }
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| TraceError::Read { path: shown(path), reason: e.to_string() })?;
    for table in ["vm", "vmType"] {
        let found: bool = conn
            .query_row("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)", [table], |r| r.get(0))
            .map_err(|e| format_error(path, &e))?;
        if !found {
            return Err(TraceError::Format { path: shown(path), reason: format!("table `{table}` is missing; expected {EXPECTED}") });
        }
    }
    Ok(conn)
}

fn format_error(path: &Path, e: &rusqlite::Error) -> TraceError {
    TraceError::Format { path: shown(path), reason: format!("{e}; expected {EXPECTED}") }
}

/// Every VM type's shape on its lowest-numbered machine.
fn read_types(conn: &Connection, path: &Path) -> Result<BTreeMap<i64, Shape>, TraceError> {
    let mut stmt = conn.prepare("SELECT rowid, vmTypeId, core, memory, ssd FROM vmType ORDER BY vmTypeId, machineId").map_err(|e| format_error(path, &e))?;
    let mut rows = stmt.query([]).map_err(|e| format_error(path, &e))?;
    let mut types = BTreeMap::new();
    while let Some(row) = rows.next().map_err(|e| format_error(path, &e))? {
        let line: i64 = row.get(0).map_err(|e| format_error(path, &e))?;
        let cell = Cell { path, table: "vmType", line };
        let id = cell.int(row, 1, "vmTypeId")?;
        let shape =
            Shape { core: cell.fraction(row, 2, "core", true)?, memory: cell.fraction(row, 3, "memory", true)?, ssd: cell.fraction(row, 4, "ssd", false)? };
        types.entry(id).or_insert(shape);
    }
    if types.is_empty() {
        return Err(TraceError::Format { path: shown(path), reason: format!("table `vmType` is empty; expected {EXPECTED}") });
    }
    Ok(types)
}

/// Reads one cell of a row, with the row's place for messages.
struct Cell<'p> {
    path: &'p Path,
    table: &'static str,
    line: i64,
}

impl Cell<'_> {
    fn bad(&self, column: &'static str, reason: String) -> TraceError {
        let reason = format!("table {}: {reason}", self.table);
        TraceError::Value { path: shown(self.path), line: self.line.max(0) as u64, column, reason }
    }

    fn int(&self, row: &rusqlite::Row, i: usize, column: &'static str) -> Result<i64, TraceError> {
        row.get::<_, Option<i64>>(i).map_err(|e| self.bad(column, format!("not an integer ({e})")))?.ok_or_else(|| self.bad(column, "is NULL".into()))
    }

    fn real(&self, row: &rusqlite::Row, i: usize, column: &'static str) -> Result<Option<f64>, TraceError> {
        match row.get::<_, Option<f64>>(i) {
            Ok(Some(x)) if !x.is_finite() => Err(self.bad(column, format!("{x} is not a finite number"))),
            Ok(v) => Ok(v),
            Err(e) => Err(self.bad(column, format!("not a number ({e})"))),
        }
    }

    /// A fraction of a machine in (0, 1] (or [0, 1] when zero is allowed; NULL reads as 0).
    fn fraction(&self, row: &rusqlite::Row, i: usize, column: &'static str, positive: bool) -> Result<f64, TraceError> {
        let x = self.real(row, i, column)?.unwrap_or(0.0);
        let ok = if positive { x > 0.0 && x <= 1.0 } else { (0.0..=1.0).contains(&x) };
        if ok {
            Ok(x)
        } else {
            Err(self.bad(column, format!("{x} is not a fraction of a machine (0 to 1)")))
        }
    }
}

/// The reader thread's work: stream `vm` rows in time order into the channel.
struct Job {
    path: PathBuf,
    types: BTreeMap<i64, Shape>,
    machine: Machine,
    opts: Options,
}

impl Job {
    fn run(&self, tx: &SyncSender<Result<TraceVm, TraceError>>) {
        if let Err(e) = self.stream(tx) {
            let _ = tx.send(Err(e));
        }
    }

    /// Sends VMs until the table, the limit or `until` ends; a closed channel ends it quietly.
    fn stream(&self, tx: &SyncSender<Result<TraceVm, TraceError>>) -> Result<(), TraceError> {
        let path = self.path.as_path();
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(|e| TraceError::Read { path: shown(path), reason: e.to_string() })?;
        let mut stmt = conn.prepare(VM_QUERY).map_err(|e| format_error(path, &e))?;
        let mut rows = stmt.query([]).map_err(|e| format_error(path, &e))?;
        let mut left = self.opts.limit.unwrap_or(u64::MAX);
        while left > 0 {
            let Some(row) = rows.next().map_err(|e| format_error(path, &e))? else { return Ok(()) };
            let vm = self.vm(row)?;
            if vm.at >= self.opts.until || tx.send(Ok(vm)).is_err() {
                return Ok(());
            }
            left -= 1;
        }
        Ok(())
    }

    fn vm(&self, row: &rusqlite::Row) -> Result<TraceVm, TraceError> {
        let line: i64 = row.get(0).map_err(|e| format_error(&self.path, &e))?;
        let cell = Cell { path: &self.path, table: "vm", line };
        let type_id = cell.int(row, 1, "vmTypeId")?;
        let shape = self.types.get(&type_id).ok_or_else(|| cell.bad("vmTypeId", format!("VM type {type_id} is not in table vmType")))?;
        let start = cell.real(row, 2, "starttime")?.ok_or_else(|| cell.bad("starttime", "is NULL".into()))?;
        let end = cell.real(row, 3, "endtime")?;
        if end.is_some_and(|e| e < start) {
            return Err(cell.bad("endtime", "is before starttime".into()));
        }
        let arrive = start.max(0.0);
        let m = self.machine;
        Ok(TraceVm {
            at: self.opts.time(arrive * DAY_SECS),
            vcpus: scale_up(shape.core, f64::from(m.vcpus)).max(1) as u32,
            ram_mb: scale_up(shape.memory, m.ram_mb as f64).max(1),
            disk_gb: scale_up(shape.ssd, m.disk_gb as f64),
            lifetime: end.map(|e| self.opts.span((e - arrive) * DAY_SECS, Dur::secs(1))),
            avg_cpu: None,
        })
    }
}

/// `fraction × whole`, rounded up, forgiving float noise (0.0416667 × 48 is 2, not 3).
fn scale_up(fraction: f64, whole: f64) -> u64 {
    (fraction * whole - 1e-4).ceil().max(0.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traces::{scratch, Scratch};
    use orrery_kernel::time::Time;

    /// A small packing trace: three VM types (type 2 on two machines), five VMs.
    fn trace(extra: &str) -> Scratch {
        let path = Scratch::file("packing", "trace.sqlite");
        let conn = Connection::open(&*path).unwrap();
        conn.execute_batch(&format!(
            "CREATE TABLE vm (vmId INTEGER, tenantId INTEGER, vmTypeId INTEGER, priority INTEGER, starttime REAL, endtime REAL);
             CREATE TABLE vmType (id INTEGER, vmTypeId INTEGER, machineId INTEGER, core REAL, memory REAL, hdd REAL, ssd REAL, nic REAL);
             INSERT INTO vmType VALUES (1, 1, 0, 0.125, 0.0625, 0, 0.01, 0.01);
             INSERT INTO vmType VALUES (2, 2, 7, 0.5, 0.5, 0, 0.25, 0.1);
             INSERT INTO vmType VALUES (3, 2, 3, 0.25, 0.25, 0, 0.125, 0.1);
             INSERT INTO vmType VALUES (4, 3, 1, 0.0416667, 0.02, 0, NULL, 0.01);
             INSERT INTO vm VALUES (10, 1, 1, 0, 0.5, 1.0);
             INSERT INTO vm VALUES (11, 1, 2, 0, -3.0, 0.25);
             INSERT INTO vm VALUES (12, 2, 3, 1, 0.25, NULL);
             INSERT INTO vm VALUES (13, 2, 1, 0, 2.0, 2.5);
             INSERT INTO vm VALUES (14, 2, 1, 0, 0.25, 0.75);
             {extra}"
        ))
        .unwrap();
        path
    }

    fn read(path: &Path, opts: &Options) -> Result<Vec<TraceVm>, TraceError> {
        open_packing(path, Machine { vcpus: 48, ram_mb: 256 * 1024, disk_gb: 1000 }, opts)?.collect()
    }

    #[test]
    fn vms_stream_in_time_order_with_sizes_from_the_lowest_machine() {
        let vms = read(&trace(""), &Options::default()).unwrap();
        assert_eq!(vms.len(), 5);
        let hours: Vec<u64> = vms.iter().map(|v| v.at.as_secs() / 3600).collect();
        assert_eq!(hours, [0, 6, 6, 12, 48], "negative start times arrive at 0");
        assert_eq!((vms[0].vcpus, vms[0].ram_mb, vms[0].disk_gb), (12, 64 * 1024, 125), "type 2 uses machine 3");
        assert_eq!(vms[0].lifetime, Some(Dur::secs(6 * 3600)), "lifetime counts from time 0");
        assert_eq!(vms[1].vcpus, 2, "0.0416667 of 48 is 2 despite float noise");
        assert_eq!(vms[1].disk_gb, 0, "a NULL ssd means no disk");
        assert_eq!(vms[1].lifetime, None, "a NULL endtime outlives the trace");
        assert_eq!((vms[2].vcpus, vms[2].ram_mb), (6, 16384));
    }

    #[test]
    fn limit_scale_and_until_apply() {
        let path = trace("");
        let vms = read(&path, &Options { time_scale: 0.5, limit: Some(3), until: Time(u64::MAX) }).unwrap();
        assert_eq!(vms.len(), 3);
        assert_eq!(vms[2].at, Time::from_secs(3 * 3600));
        assert_eq!(vms[2].lifetime, Some(Dur::secs(6 * 3600)));
        let vms = read(&path, &Options { until: Time::from_secs(12 * 3600), ..Options::default() }).unwrap();
        assert_eq!(vms.len(), 3);
    }

    #[test]
    fn empty_and_foreign_files_are_errors() {
        let dir = scratch("packing-bad");
        let empty = dir.join("empty.sqlite");
        std::fs::write(&empty, "").unwrap();
        assert!(matches!(read(&empty, &Options::default()), Err(TraceError::Empty { .. })));
        let text = dir.join("text.sqlite");
        std::fs::write(&text, "vmid,cpu\n1,2\n".repeat(100)).unwrap();
        let e = read(&text, &Options::default()).unwrap_err();
        assert!(e.to_string().contains("not a database"), "{e}");
        let other = dir.join("other.sqlite");
        Connection::open(&other).unwrap().execute_batch("CREATE TABLE vm (x INTEGER);").unwrap();
        let e = read(&other, &Options::default()).unwrap_err();
        assert!(e.to_string().contains("table `vmType` is missing"), "{e}");
        let e = read(&trace("DELETE FROM vm;"), &Options::default()).unwrap_err();
        assert!(matches!(e, TraceError::Empty { .. }), "{e}");
    }

    #[test]
    fn malformed_rows_name_their_row_and_column() {
        let e = read(&trace("INSERT INTO vm VALUES (15, 2, 9, 0, 1.0, 2.0);"), &Options::default()).unwrap_err();
        assert!(e.to_string().ends_with(":6: column `vmTypeId`: table vm: VM type 9 is not in table vmType"), "{e}");
        let e = read(&trace("INSERT INTO vm VALUES (15, 2, 1, 0, NULL, 2.0);"), &Options::default()).unwrap_err();
        assert!(e.to_string().contains("column `starttime`: table vm: is NULL"), "{e}");
        let e = read(&trace("INSERT INTO vmType VALUES (5, 4, 0, 1.5, 0.1, 0, 0, 0);"), &Options::default()).unwrap_err();
        assert!(e.to_string().contains(":5: column `core`: table vmType: 1.5 is not a fraction"), "{e}");
        let e = read(&trace("INSERT INTO vm VALUES (15, 2, 1, 0, 'soon', 2.0);"), &Options::default()).unwrap_err();
        assert!(e.to_string().contains("column `starttime`"), "{e}");
    }
}
