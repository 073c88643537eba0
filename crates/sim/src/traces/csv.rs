//! The two CSV trace formats: Azure `vmtable.csv` and Huawei-East-1's `vmid,cpu,memory,time,type`.
//!
//! Both are read whole, checked row by row and sorted by creation time (stable), since the
//! Azure file is not in time order and Huawei's deletions come as separate rows. Memory is
//! about 48 bytes per VM. A first row naming the columns (starting with `vmid`) is skipped.
//! Fields are split on commas; neither format quotes its fields.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use orrery_kernel::time::Dur;

use super::{shown, Options, TraceError, TraceVm};

/// The columns of Azure's `vmtable.csv`, in file order.
pub const VMTABLE_COLUMNS: [&str; 11] =
    ["vmid", "subscriptionid", "deploymentid", "vmcreated", "vmdeleted", "maxcpu", "avgcpu", "p95maxcpu", "vmcategory", "vmcorecountbucket", "vmmemorybucket"];

/// The columns of the Huawei VM placement CSV, in file order.
pub const HUAWEI_COLUMNS: [&str; 5] = ["vmid", "cpu", "memory", "time", "type"];

/// The Azure trace's time resolution: lifetimes are raised to at least this (5 minutes).
pub const AZURE_MIN_LIFETIME: Dur = Dur::secs(300);

/// Reads an Azure `vmtable.csv`.
///
/// Times are seconds from the trace start. `vmcorecountbucket` and `vmmemorybucket` (GB,
/// taken as GiB) hold a bucket's upper bound such as `8`, or `>N` for the open top bucket,
/// which becomes `2N` (`>24` cores → 48 vCPUs, `>64` GB → 128 GiB). `avgcpu` (percent)
/// becomes the VM's CPU utilisation. An empty `vmdeleted` means the VM outlived the trace.
/// The trace has no disk sizes: disk is 0.
pub fn read_vmtable(path: &Path, opts: &Options) -> Result<Vec<TraceVm>, TraceError> {
    let mut vms = Vec::new();
    for row in rows(path, &VMTABLE_COLUMNS)? {
        let row = row?;
        vms.push(vmtable_vm(&row, opts)?);
    }
    if vms.is_empty() {
        return Err(TraceError::Empty {
            path: shown(path),
            expected: "rows of vmid,subscriptionid,deploymentid,vmcreated,vmdeleted,maxcpu,avgcpu,p95maxcpu,vmcategory,vmcorecountbucket,vmmemorybucket",
        });
    }
    Ok(opts.finish(vms))
}

fn vmtable_vm(row: &Row, opts: &Options) -> Result<TraceVm, TraceError> {
    let created = row.number(3, |x| x >= 0.0, "a time in seconds, 0 or more")?;
    let deleted = match row.field(4) {
        "" => None,
        _ => Some(row.number(4, |x| x >= created, "a time in seconds, not before vmcreated")?),
    };
    for col in [5, 7] {
        row.number(col, |x| (0.0..=100.0).contains(&x), "a CPU percentage from 0 to 100")?;
    }
    let avg = row.number(6, |x| (0.0..=100.0).contains(&x), "a CPU percentage from 0 to 100")?;
    let vcpus = row.bucket(9)?;
    let ram_gib = row.bucket(10)?;
    Ok(TraceVm {
        at: opts.time(created),
        vcpus: u32::try_from(vcpus).map_err(|_| row.bad(9, "is too large".into()))?,
        ram_mb: ram_gib.saturating_mul(1024),
        disk_gb: 0,
        lifetime: deleted.map(|d| opts.span(d - created, AZURE_MIN_LIFETIME)),
        avg_cpu: Some(avg / 100.0),
    })
}

/// Reads a Huawei VM placement CSV: `vmid,cpu,memory,time,type`.
///
/// `memory` is in GiB, `time` in seconds, `type` is 0 for a creation and 1 for a deletion.
/// A deletion ends the open VM with the same `vmid`; a deletion of a VM never created in the
/// file (it predates the trace) is skipped; a VM never deleted outlives the trace.
pub fn read_huawei(path: &Path, opts: &Options) -> Result<Vec<TraceVm>, TraceError> {
    let mut vms: Vec<TraceVm> = Vec::new();
    let mut created_at: Vec<f64> = Vec::new();
    let mut open: BTreeMap<String, usize> = BTreeMap::new();
    for row in rows(path, &HUAWEI_COLUMNS)? {
        let row = row?;
        let vmid = row.field(0);
        if vmid.is_empty() {
            return Err(row.bad(0, "is empty; every row needs a VM id".into()));
        }
        let time = row.number(3, |x| x >= 0.0, "a time in seconds, 0 or more")?;
        match row.field(4) {
            "0" => {
                if open.contains_key(vmid) {
                    return Err(row.bad(0, format!("VM {vmid} is created again before it was deleted")));
                }
                let vcpus = row.number(1, |x| x >= 1.0 && x.fract() == 0.0 && x <= f64::from(u32::MAX), "a whole number of CPUs, 1 or more")?;
                let gib = row.number(2, |x| x > 0.0, "a positive amount of memory in GiB")?;
                open.insert(vmid.to_string(), vms.len());
                created_at.push(time);
                let ram_mb = (gib * 1024.0).round() as u64;
                vms.push(TraceVm { at: opts.time(time), vcpus: vcpus as u32, ram_mb, disk_gb: 0, lifetime: None, avg_cpu: None });
            }
            "1" => {
                if let Some(i) = open.remove(vmid) {
                    vms[i].lifetime = Some(opts.span(time - created_at[i], Dur::secs(1)));
                }
            }
            other => return Err(row.bad(4, format!("'{other}' is not 0 (create) or 1 (delete)"))),
        }
    }
    if vms.is_empty() {
        return Err(TraceError::Empty { path: shown(path), expected: "rows of vmid,cpu,memory,time,type with at least one creation (type 0)" });
    }
    Ok(opts.finish(vms))
}

/// One data row: its fields, its line, and the format's column names for messages.
struct Row<'p> {
    path: &'p Path,
    line: u64,
    fields: Vec<String>,
    columns: &'static [&'static str],
}

impl Row<'_> {
    fn field(&self, i: usize) -> &str {
        self.fields[i].trim()
    }

    fn bad(&self, col: usize, reason: String) -> TraceError {
        TraceError::Value { path: shown(self.path), line: self.line, column: self.columns[col], reason }
    }

    /// Column `col` as a finite number satisfying `ok`.
    fn number(&self, col: usize, ok: impl Fn(f64) -> bool, what: &str) -> Result<f64, TraceError> {
        let s = self.field(col);
        match s.parse::<f64>() {
            Ok(x) if x.is_finite() && ok(x) => Ok(x),
            Ok(_) => Err(self.bad(col, format!("'{s}' is out of range; expected {what}"))),
            Err(_) => Err(self.bad(col, format!("'{s}' is not a number; expected {what}"))),
        }
    }

    /// An Azure size bucket: `N`, or `>N` meaning `2N`.
    fn bucket(&self, col: usize) -> Result<u64, TraceError> {
        let s = self.field(col);
        let (open_top, digits) = match s.strip_prefix('>') {
            Some(rest) => (true, rest.trim()),
            None => (false, s),
        };
        match digits.parse::<u64>() {
            Ok(n) if n > 0 => Ok(if open_top { n.saturating_mul(2) } else { n }),
            _ => Err(self.bad(col, format!("'{s}' is not a size bucket; expected a positive number like 8 or an open bucket like >24"))),
        }
    }
}

/// The data rows of the CSV at `path` with exactly `columns.len()` fields each, skipping
/// blank lines and a header row whose first field is the first column's name.
fn rows<'p>(path: &'p Path, columns: &'static [&'static str]) -> Result<impl Iterator<Item = Result<Row<'p>, TraceError>> + 'p, TraceError> {
    let file = File::open(path).map_err(|e| TraceError::Read { path: shown(path), reason: e.to_string() })?;
    let mut lines = BufReader::new(file).lines().enumerate();
    let mut first = true;
    Ok(std::iter::from_fn(move || loop {
        let (i, line) = lines.next()?;
        let line = match line {
            Ok(l) => l,
            Err(e) => return Some(Err(TraceError::Read { path: shown(path), reason: format!("line {}: {e}", i + 1) })),
        };
        let text = line.trim();
        let is_header = first && text.split(',').next().is_some_and(|f| f.trim().eq_ignore_ascii_case(columns[0]));
        if text.is_empty() || is_header {
            first &= text.is_empty();
            continue;
        }
        first = false;
        let fields: Vec<String> = text.split(',').map(str::to_string).collect();
        if fields.len() != columns.len() {
            let (expected, found) = (columns.len(), fields.len());
            let columns = if expected == VMTABLE_COLUMNS.len() { "vmid,...,vmmemorybucket" } else { "vmid,cpu,memory,time,type" };
            return Some(Err(TraceError::Columns { path: shown(path), line: i as u64 + 1, expected, columns, found }));
        }
        return Some(Ok(Row { path, line: i as u64 + 1, fields, columns }));
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traces::Scratch;
    use orrery_kernel::time::Time;

    fn write(name: &str, text: &str) -> Scratch {
        let path = Scratch::file("csv", name);
        std::fs::write(&*path, text).unwrap();
        path
    }

    const VMTABLE: &str = "\
a1,s1,d1,600,4200,90.5,10.0,80.1,Interactive,2,4
a2,s1,d1,0,2591700,40,25,38,Delay-insensitive,>24,>64
a3,s2,d2,300,300,1,0.5,1,Unknown,8,32
a4,s2,d2,300,,1,0.5,1,Unknown,4,8
";

    #[test]
    fn vmtable_rows_become_sorted_vms_with_buckets_mapped() {
        let vms = read_vmtable(&write("vmtable.csv", VMTABLE), &Options::default()).unwrap();
        assert_eq!(vms.iter().map(|v| v.at.as_secs()).collect::<Vec<_>>(), [0, 300, 300, 600]);
        assert_eq!((vms[0].vcpus, vms[0].ram_mb), (48, 128 * 1024), ">24 and >64 double");
        assert_eq!((vms[1].vcpus, vms[1].ram_mb), (8, 32 * 1024));
        assert_eq!(vms[1].lifetime, Some(AZURE_MIN_LIFETIME), "zero lifetimes rise to the 5-minute resolution");
        assert_eq!(vms[2].lifetime, None, "an empty vmdeleted outlives the trace");
        assert_eq!(vms[3].lifetime, Some(Dur::secs(3600)));
        assert_eq!(vms[3].avg_cpu, Some(0.1));
    }

    #[test]
    fn vmtable_header_limit_scale_and_until_apply() {
        let text = format!("{}\n{VMTABLE}", VMTABLE_COLUMNS.join(","));
        let opts = Options { time_scale: 0.5, limit: Some(2), until: Time::from_secs(10_000) };
        let vms = read_vmtable(&write("h.csv", &text), &opts).unwrap();
        assert_eq!(vms.len(), 2);
        assert_eq!(vms[1].at, Time::from_secs(150));
        let opts = Options { until: Time::from_secs(300), ..Options::default() };
        assert_eq!(read_vmtable(&write("u.csv", VMTABLE), &opts).unwrap().len(), 1);
    }

    #[test]
    fn empty_vmtable_is_an_error() {
        let e = read_vmtable(&write("empty.csv", ""), &Options::default()).unwrap_err();
        assert!(matches!(e, TraceError::Empty { .. }), "{e}");
        assert!(e.to_string().contains("the trace holds no VM"), "{e}");
        let header_only = read_vmtable(&write("ho.csv", &VMTABLE_COLUMNS.join(",")), &Options::default()).unwrap_err();
        assert!(matches!(header_only, TraceError::Empty { .. }), "{header_only}");
    }

    #[test]
    fn malformed_vmtable_rows_name_line_and_column() {
        let bad = VMTABLE.replace("a3,s2,d2,300,300,1,0.5,1,Unknown,8,32", "a3,s2,d2,300,300,1,0.5,1,Unknown,eight,32");
        let e = read_vmtable(&write("bad.csv", &bad), &Options::default()).unwrap_err();
        let text = e.to_string();
        assert!(
            text.ends_with("bad.csv:3: column `vmcorecountbucket`: 'eight' is not a size bucket; expected a positive number like 8 or an open bucket like >24"),
            "{text}"
        );
        let short = VMTABLE.replace("a2,s1,d1,0,", "a2,s1,");
        let e = read_vmtable(&write("short.csv", &short), &Options::default()).unwrap_err();
        assert!(matches!(e, TraceError::Columns { line: 2, found: 9, .. }), "{e}");
        let backwards = VMTABLE.replace("600,4200", "4200,600");
        let e = read_vmtable(&write("back.csv", &backwards), &Options::default()).unwrap_err();
        assert!(e.to_string().contains(":1: column `vmdeleted`"), "{e}");
        let e = read_vmtable(Path::new("/nonexistent/orrery/vmtable.csv"), &Options::default()).unwrap_err();
        assert!(e.to_string().starts_with("cannot read /nonexistent/orrery/vmtable.csv"), "{e}");
    }

    const HUAWEI: &str = "vmid,cpu,memory,time,type
1,2,4,0,0
2,4,8,10,0
1,2,4,70,1
3,1,2,70,0
9,8,16,80,1
";

    #[test]
    fn huawei_pairs_creates_with_deletes() {
        let vms = read_huawei(&write("hw.csv", HUAWEI), &Options::default()).unwrap();
        assert_eq!(vms.len(), 3, "the orphan deletion of VM 9 is skipped");
        assert_eq!((vms[0].vcpus, vms[0].ram_mb, vms[0].lifetime), (2, 4096, Some(Dur::secs(70))));
        assert_eq!((vms[1].at, vms[1].lifetime), (Time::from_secs(10), None));
        assert_eq!(vms[2].at, Time::from_secs(70));
        assert_eq!(vms[2].avg_cpu, None);
    }

    #[test]
    fn huawei_errors_name_line_and_column() {
        let e = read_huawei(&write("hw-empty.csv", "vmid,cpu,memory,time,type\n"), &Options::default()).unwrap_err();
        assert!(matches!(e, TraceError::Empty { .. }), "{e}");
        let e = read_huawei(&write("hw-type.csv", &HUAWEI.replace("3,1,2,70,0", "3,1,2,70,2")), &Options::default()).unwrap_err();
        assert!(e.to_string().ends_with("hw-type.csv:5: column `type`: '2' is not 0 (create) or 1 (delete)"), "{e}");
        let e = read_huawei(&write("hw-mem.csv", &HUAWEI.replace("2,4,8,10,0", "2,4,lots,10,0")), &Options::default()).unwrap_err();
        assert!(e.to_string().contains(":3: column `memory`: 'lots' is not a number"), "{e}");
        let e = read_huawei(&write("hw-twice.csv", "1,2,4,0,0\n1,2,4,5,0\n"), &Options::default()).unwrap_err();
        assert!(e.to_string().contains(":2: column `vmid`: VM 1 is created again"), "{e}");
        let e = read_huawei(&write("hw-cols.csv", "1,2,4,0\n"), &Options::default()).unwrap_err();
        assert!(matches!(e, TraceError::Columns { line: 1, expected: 5, found: 4, .. }), "{e}");
    }
}
