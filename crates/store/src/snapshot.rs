//! Snapshots as versioned JSON files in a directory, written to a temporary name, synced and
//! renamed so a crash never leaves a half snapshot under a real name.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use orrery_kernel::Kernel;
use serde::{Deserialize, Serialize};

use crate::{Result, Snapshots, StoreError, FORMAT_VERSION};

/// How many snapshots to keep.
const KEEP: usize = 2;

/// Snapshots stored as `snap-<seq>.json` files in one directory.
pub struct DirSnapshots {
    dir: PathBuf,
}

#[derive(Serialize)]
struct Header<'a> {
    format: u32,
    seq: u64,
    kernel: &'a Kernel,
}

#[derive(Deserialize)]
struct Owned {
    format: u32,
    seq: u64,
    kernel: Kernel,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.display().to_string(), source }
}

impl DirSnapshots {
    /// Snapshots in `dir`, created if missing.
    pub fn open(dir: &Path) -> Result<DirSnapshots> {
        let mut b = fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(dir).map_err(io(dir))?;
        Ok(DirSnapshots { dir: dir.to_path_buf() })
    }

    /// Snapshot files, oldest first, with their sequence numbers.
    fn list(&self) -> Result<Vec<(u64, PathBuf)>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let path = entry.map_err(io(&self.dir))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if let Some(seq) = name.strip_prefix("snap-").and_then(|r| r.strip_suffix(".json")).and_then(|s| s.parse().ok()) {
                out.push((seq, path));
            }
        }
        out.sort();
        Ok(out)
    }
}

impl Snapshots for DirSnapshots {
    fn save(&self, seq: u64, kernel: &Kernel) -> Result<()> {
        let path = self.dir.join(format!("snap-{seq:016}.json"));
        let tmp = self.dir.join(format!("snap-{seq:016}.json.tmp"));
        // Private to the owner: a snapshot holds the cloud's credentials.
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let file = opts.open(&tmp).map_err(io(&tmp))?;
        let mut w = BufWriter::new(file);
        serde_json::to_writer(&mut w, &Header { format: FORMAT_VERSION, seq, kernel })
            .map_err(|e| StoreError::Corrupt { what: "snapshot".into(), detail: e.to_string() })?;
        w.flush().map_err(io(&tmp))?;
        w.get_ref().sync_all().map_err(io(&tmp))?;
        fs::rename(&tmp, &path).map_err(io(&path))?;
        File::open(&self.dir).and_then(|d| d.sync_all()).map_err(io(&self.dir))?;
        let all = self.list()?;
        for (_, old) in all.iter().take(all.len().saturating_sub(KEEP)) {
            let _ = fs::remove_file(old);
        }
        Ok(())
    }

    fn load_latest(&self) -> Result<Option<(u64, Kernel)>> {
        let Some((_, path)) = self.list()?.pop() else { return Ok(None) };
        let file = File::open(&path).map_err(io(&path))?;
        let snap: Owned = serde_json::from_reader(BufReader::new(file)).map_err(|e| older_or_corrupt(&path, e))?;
        if snap.format > FORMAT_VERSION {
            return Err(StoreError::TooNew { what: path.display().to_string(), found: snap.format });
        }
        Ok(Some((snap.seq, snap.kernel)))
    }
}

/// Why a snapshot did not decode: an older format version if its header says so, else corrupt.
fn older_or_corrupt(path: &Path, e: serde_json::Error) -> StoreError {
    #[derive(Deserialize)]
    struct Version {
        format: u32,
    }
    let what = path.display().to_string();
    let header = File::open(path).ok().and_then(|f| serde_json::from_reader::<_, Version>(BufReader::new(f)).ok());
    match header {
        Some(v) if v.format < FORMAT_VERSION => StoreError::TooOld { what, found: v.format },
        _ => StoreError::Corrupt { what, detail: e.to_string() },
    }
}
