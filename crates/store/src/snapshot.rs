//! Snapshots as files in a directory, written to a temporary name, synced and renamed so a
//! crash never leaves a half snapshot under a real name.
//!
//! A snapshot file (format 3) is one header line and then the kernel state as JSON:
//!
//! ```text
//! orrery-snapshot format=3 seq=00000000000000000028 state=1f0c9d2e33a8b571 sum=<64 hex>
//! {"now":...}
//! ```
//!
//! `sum` is the [`checksum`](crate::checksum) of the JSON body and `state` the kernel's
//! [`state_hash`](Kernel::state_hash); both are checked on load. Format 2 files are one JSON
//! object `{"format":2,"seq":..,"kernel":..}` and load through [`crate::migrate`].

use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use orrery_kernel::Kernel;
use serde::Deserialize;

use crate::{migrate, Loaded, Result, Snapshots, StoreError, FORMAT_VERSION};

/// How many snapshots to keep: the newest, and one to fall back to if it is damaged.
const KEEP: usize = 2;

/// The header line's fixed width, so it can be written last over a placeholder.
const HEADER_LEN: usize = "orrery-snapshot format=3 seq= state= sum=\n".len() + 20 + 16 + 64;

/// Snapshots stored as `snap-<seq>.json` files in one directory.
pub struct DirSnapshots {
    dir: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.display().to_string(), source }
}

fn corrupt(path: &Path, detail: impl Into<String>) -> StoreError {
    StoreError::Corrupt { what: path.display().to_string(), detail: detail.into() }
}

/// Hashes everything written through it.
struct Hashing<W> {
    inner: W,
    hash: blake2::Blake2s256,
    len: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        blake2::Digest::update(&mut self.hash, &buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Hashes everything read through it.
struct HashingRead<R> {
    inner: R,
    hash: blake2::Blake2s256,
    len: u64,
}

impl<R: Read> Read for HashingRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        blake2::Digest::update(&mut self.hash, &buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

/// The body checksum: BLAKE2s-256 over the body, then its length, as hex.
fn finish(hash: blake2::Blake2s256, len: u64) -> String {
    let mut h = hash;
    blake2::Digest::update(&mut h, len.to_le_bytes());
    blake2::Digest::finalize(h).iter().map(|b| format!("{b:02x}")).collect()
}

/// A parsed header line.
struct Header {
    format: u32,
    seq: u64,
    state: u64,
    sum: String,
}

fn header_line(h: &Header) -> String {
    let line = format!("orrery-snapshot format={} seq={:020} state={:016x} sum={:>64}\n", h.format, h.seq, h.state, h.sum);
    debug_assert_eq!(line.len(), HEADER_LEN);
    line
}

fn parse_header(path: &Path, line: &str) -> Result<Header> {
    let bad = || corrupt(path, format!("its header line is damaged: {:?}", line.chars().take(160).collect::<String>()));
    let mut words = line.trim_end().split(' ');
    if words.next() != Some("orrery-snapshot") {
        return Err(bad());
    }
    let mut field = |name: &str| words.next().and_then(|w| w.strip_prefix(name)).and_then(|w| w.strip_prefix('=')).map(str::to_string).ok_or_else(bad);
    let format = field("format")?.parse().map_err(|_| bad())?;
    let seq = field("seq")?.parse().map_err(|_| bad())?;
    let state = u64::from_str_radix(&field("state")?, 16).map_err(|_| bad())?;
    let sum = field("sum")?;
    Ok(Header { format, seq, state, sum })
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

    /// Copies into `to` the snapshots that cover no more than `seq` entries.
    pub fn copy_covered(&self, seq: u64, to: &DirSnapshots) -> Result<()> {
        for (s, path) in self.list()? {
            if s > seq {
                continue;
            }
            let dest = to.dir.join(path.file_name().unwrap_or_default());
            match fs::copy(&path, &dest) {
                Ok(_) => {}
                // Pruned by the running cloud while we looked: a newer one covers it.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&path)(e)),
            }
        }
        Ok(())
    }

    /// Loads one snapshot file of any format from [`migrate::OLDEST`] on, checking it.
    fn load(path: &Path, named_seq: u64) -> Result<(u64, Kernel)> {
        let mut r = BufReader::new(File::open(path).map_err(io(path))?);
        let first = r.fill_buf().map_err(io(path))?.first().copied();
        let (seq, kernel) = match first {
            Some(b'{') => Self::load_legacy(path, r)?,
            None => return Err(corrupt(path, "the file is empty")),
            Some(_) => Self::load_current(path, r)?,
        };
        if seq != named_seq {
            return Err(corrupt(path, format!("it says it covers entry {seq}, but its name says {named_seq}")));
        }
        Ok((seq, kernel))
    }

    fn load_current(path: &Path, mut r: BufReader<File>) -> Result<(u64, Kernel)> {
        let mut line = String::new();
        r.by_ref().take(HEADER_LEN as u64).read_line(&mut line).map_err(|e| corrupt(path, format!("its header line is unreadable: {e}")))?;
        let h = parse_header(path, &line)?;
        if h.format > FORMAT_VERSION {
            return Err(StoreError::TooNew { what: path.display().to_string(), found: h.format });
        }
        if h.format != FORMAT_VERSION {
            // Format 3 was the first with a header line; a later one gets its loader here.
            return Err(corrupt(path, format!("its header names format {}, which never had a header line", h.format)));
        }
        // The body is read whole and parsed from memory: serde_json parses a slice several
        // times faster than a reader, and the checksum is checked before any parsing.
        let mut body = HashingRead { inner: r, hash: blake2::Digest::new(), len: 0 };
        let mut text = Vec::new();
        body.read_to_end(&mut text).map_err(io(path))?;
        if finish(body.hash, body.len) != h.sum {
            return Err(corrupt(path, "its checksum does not match its contents (the file was changed or cut)"));
        }
        let kernel: Kernel = serde_json::from_slice(&text).map_err(|e| corrupt(path, e.to_string()))?;
        drop(text);
        let state = kernel.state_hash();
        if state != h.state {
            return Err(corrupt(path, format!("it loads to state {state:016x}, not the {:016x} it was written with", h.state)));
        }
        Ok((h.seq, kernel))
    }

    fn load_legacy(path: &Path, r: BufReader<File>) -> Result<(u64, Kernel)> {
        #[derive(Deserialize)]
        struct Legacy {
            format: u32,
            seq: u64,
            kernel: serde_json::Value,
        }
        let mut old: Legacy = serde_json::from_reader(r).map_err(|e| corrupt(path, e.to_string()))?;
        migrate::kernel(&path.display().to_string(), old.format, &mut old.kernel)?;
        let kernel = serde_json::from_value(old.kernel).map_err(|e| corrupt(path, format!("after migrating from format {}: {e}", old.format)))?;
        Ok((old.seq, kernel))
    }
}

impl Snapshots for DirSnapshots {
    fn save(&self, seq: u64, kernel: &Kernel) -> Result<()> {
        let path = self.dir.join(format!("snap-{seq:016}.json"));
        let tmp = self.dir.join(format!("snap-{seq:016}.json.tmp"));
        // Private to the owner: a snapshot holds the cloud's password hashes.
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let file = opts.open(&tmp).map_err(io(&tmp))?;
        let mut w = BufWriter::new(file);
        let placeholder = Header { format: FORMAT_VERSION, seq, state: 0, sum: "0".repeat(64) };
        w.write_all(header_line(&placeholder).as_bytes()).map_err(io(&tmp))?;
        let mut body = Hashing { inner: w, hash: blake2::Digest::new(), len: 0 };
        serde_json::to_writer(&mut body, kernel).map_err(|e| StoreError::Corrupt { what: "snapshot".into(), detail: e.to_string() })?;
        let sum = finish(body.hash, body.len);
        let mut file = body.inner.into_inner().map_err(|e| io(&tmp)(e.into_error()))?;
        file.seek(SeekFrom::Start(0)).map_err(io(&tmp))?;
        file.write_all(header_line(&Header { format: FORMAT_VERSION, seq, state: kernel.state_hash(), sum }).as_bytes()).map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
        fs::rename(&tmp, &path).map_err(io(&path))?;
        File::open(&self.dir).and_then(|d| d.sync_all()).map_err(io(&self.dir))?;
        let all = self.list()?;
        for (_, old) in all.iter().take(all.len().saturating_sub(KEEP)) {
            let _ = fs::remove_file(old);
        }
        Ok(())
    }

    fn load_latest(&self) -> Result<Loaded> {
        let mut loaded = Loaded::default();
        let all = self.list()?;
        loaded.claimed = all.last().map_or(0, |(s, _)| *s);
        for (seq, path) in all.into_iter().rev() {
            match Self::load(&path, seq) {
                Ok(found) => {
                    loaded.newest = Some(found);
                    break;
                }
                Err(e @ StoreError::TooNew { .. }) => return Err(e),
                Err(e) => loaded.skipped.push(e),
            }
        }
        Ok(loaded)
    }

    fn discard_older_formats(&self) -> Result<()> {
        for (_, path) in self.list()? {
            let mut first = [0u8; 1];
            let legacy = File::open(&path).and_then(|mut f| f.read_exact(&mut first)).is_ok() && first[0] == b'{';
            if legacy {
                fs::remove_file(&path).map_err(io(&path))?;
            }
        }
        Ok(())
    }

    fn discard_after(&self, seq: u64) -> Result<()> {
        for (s, path) in self.list()? {
            if s > seq {
                fs::remove_file(&path).map_err(io(&path))?;
            }
        }
        Ok(())
    }
}
