//! Readers for public VM traces, each yielding a time-ordered stream of [`TraceVm`]s:
//!
//! - the Azure Public Dataset `vmtable.csv` (V1 2017 and V2 2019; [`csv::read_vmtable`]),
//! - the Azure Trace for Packing 2020 SQLite database ([`packing::open_packing`]),
//! - the Huawei-East-1 VM placement CSV `vmid,cpu,memory,time,type` ([`csv::read_huawei`]).
//!
//! Malformed or empty input gives a [`TraceError`] naming the file, the line (or row) and the
//! column, never a panic. docs/sim.md documents how each format's fields become sizes and
//! times (for example the Azure core and memory buckets).

pub mod csv;
pub mod packing;

use std::path::Path;
use std::sync::mpsc::Receiver;

use orrery_kernel::time::{Dur, Time};

use crate::dist::{dur_from_micros, MICROS_PER_SEC};
use crate::experiment::{Trace, TraceFormat};

/// One VM from a trace, in simulator units.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceVm {
    /// When it was created, from the start of the trace, scaled by `time_scale`.
    pub at: Time,
    /// vCPUs.
    pub vcpus: u32,
    /// RAM in MiB.
    pub ram_mb: u64,
    /// Local disk in GiB (0 when the trace has no disk data).
    pub disk_gb: u64,
    /// How long it lived, scaled; `None` if it outlived the trace.
    pub lifetime: Option<Dur>,
    /// Its average CPU utilisation (0 to 1), when the trace has one.
    pub avg_cpu: Option<f64>,
}

/// Why a trace cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {reason}; check that the file exists and is readable")]
    Read {
        /// The file.
        path: String,
        /// The operating system's or SQLite's reason.
        reason: String,
    },
    /// The file holds no VM at all.
    #[error("{path}: the trace holds no VM; expected {expected}")]
    Empty {
        /// The file.
        path: String,
        /// What a valid file holds.
        expected: &'static str,
    },
    /// A CSV row has the wrong number of columns.
    #[error("{path}:{line}: expected {expected} comma-separated columns ({columns}), found {found}")]
    Columns {
        /// The file.
        path: String,
        /// 1-based line.
        line: u64,
        /// How many columns the format has.
        expected: usize,
        /// Their names.
        columns: &'static str,
        /// How many the row has.
        found: usize,
    },
    /// A value in a row is malformed.
    #[error("{path}:{line}: column `{column}`: {reason}")]
    Value {
        /// The file.
        path: String,
        /// 1-based line (for SQLite, the row's `rowid` in its table).
        line: u64,
        /// The column's name in the format.
        column: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The file is not in the expected format (for example, a table is missing).
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong and what was expected.
        reason: String,
    },
}

/// A trace as a stream of VMs in creation order.
pub struct TraceStream(Inner);

enum Inner {
    /// Read, checked and sorted up front (the CSV formats).
    Loaded(std::vec::IntoIter<TraceVm>),
    /// Streamed from a reader thread (the SQLite format).
    Channel(Receiver<Result<TraceVm, TraceError>>),
}

impl TraceStream {
    /// A stream over VMs already in memory, which must be in time order.
    pub fn loaded(vms: Vec<TraceVm>) -> TraceStream {
        TraceStream(Inner::Loaded(vms.into_iter()))
    }
}

impl Iterator for TraceStream {
    type Item = Result<TraceVm, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            Inner::Loaded(it) => it.next().map(Ok),
            Inner::Channel(rx) => rx.recv().ok(),
        }
    }
}

/// Opens the trace workload `t`: at most `limit` VMs, all created before `until`.
pub fn open(t: &Trace, limit: Option<u64>, until: Time) -> Result<TraceStream, TraceError> {
    let opts = Options { time_scale: t.time_scale, limit, until };
    match t.format {
        TraceFormat::AzureVmtable => csv::read_vmtable(&t.path, &opts).map(TraceStream::loaded),
        TraceFormat::Huawei => csv::read_huawei(&t.path, &opts).map(TraceStream::loaded),
        TraceFormat::AzurePacking => packing::open_packing(&t.path, t.machine, &opts),
    }
}

/// How much of a trace to read, and how fast to replay it.
#[derive(Copy, Clone, Debug)]
pub struct Options {
    /// Multiplies every time and lifetime.
    pub time_scale: f64,
    /// Keep at most this many VMs (the earliest).
    pub limit: Option<u64>,
    /// Keep only VMs created before this.
    pub until: Time,
}

impl Default for Options {
    fn default() -> Self {
        Options { time_scale: 1.0, limit: None, until: Time(u64::MAX) }
    }
}

impl Options {
    /// Trace seconds (may be negative or fractional) as a scaled instant, clamped at 0.
    pub fn time(&self, secs: f64) -> Time {
        Time(dur_from_micros(secs * MICROS_PER_SEC * self.time_scale).0)
    }

    /// Trace seconds as a scaled span, raised to at least `min`.
    pub fn span(&self, secs: f64, min: Dur) -> Dur {
        dur_from_micros(secs * MICROS_PER_SEC * self.time_scale).max(min)
    }

    /// Sorts `vms` by creation time (stable: equal times keep file order), then applies
    /// `until` and `limit`.
    pub fn finish(&self, mut vms: Vec<TraceVm>) -> Vec<TraceVm> {
        vms.sort_by_key(|v| v.at);
        let keep = vms.iter().take_while(|v| v.at < self.until).count();
        vms.truncate(keep.min(self.limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX))));
        vms
    }
}

/// The display form of a path, for messages.
fn shown(path: &Path) -> String {
    path.display().to_string()
}

/// A fresh, unique scratch directory for a test, removed when dropped. It derefs to the
/// directory, or to one file in it (see [`Scratch::file`]).
#[cfg(test)]
pub(crate) struct Scratch {
    dir: std::path::PathBuf,
    path: std::path::PathBuf,
}

#[cfg(test)]
impl Scratch {
    /// A scratch directory that derefs to `dir/file`.
    pub(crate) fn file(name: &str, file: &str) -> Scratch {
        let dir = fresh_dir(name);
        Scratch { path: dir.join(file), dir }
    }
}

#[cfg(test)]
impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh scratch directory named after `name`, this process and a counter.
#[cfg(test)]
pub(crate) fn scratch(name: &str) -> Scratch {
    let dir = fresh_dir(name);
    Scratch { path: dir.clone(), dir }
}

#[cfg(test)]
fn fresh_dir(name: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("orrery-sim-{name}-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir is writable");
    dir
}
