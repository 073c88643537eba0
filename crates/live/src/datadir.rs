//! The data directory: journal, snapshots, admin credentials, `clouds.yaml`, the endpoint
//! file other commands use to find the running cloud, and a copy of the topology in force.
//!
//! Two files guard it:
//! - `lock`, held (an exclusive `flock`) by the one cloud serving from the directory, with that
//!   process's id in it: a second `orrery up` on the same directory is refused, naming it;
//! - `orrery-cloud`, the marker written once the cloud exists: a directory that has it but
//!   lost its journal is refused with what is missing, never silently replaced by a new cloud.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use argon2::password_hash::{PasswordHasher, SaltString};
use orrery_kernel::identity::Bootstrap;
use orrery_kernel::{InitSpec, TopologySpec};

/// A problem with the data directory.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// Another process serves from this directory.
    #[error("{path} is in use by another orrery (pid {pid}{endpoint}); stop it first, or give this one another --data-dir")]
    InUse {
        /// The directory.
        path: String,
        /// The running process, as its lock file says.
        pid: String,
        /// Where it serves, if its endpoint file says.
        endpoint: String,
    },
    /// The directory held a cloud, and part of it is gone or damaged.
    #[error("{path} held a cloud (it has its orrery-cloud marker), but {damage}. Nothing was changed. Restore the whole directory from a backup (docs/operations.md), or move it aside to start a new cloud")]
    Damaged {
        /// The directory.
        path: String,
        /// What is missing or wrong.
        damage: String,
    },
    /// `admin-password` is gone from a directory whose cloud exists.
    #[error("{path} is missing, so clouds.yaml cannot be written with the admin's password (the cloud keeps its own hash of it). Start with --reset-admin-password to set a new one, or restore the file from a backup")]
    AdminPasswordMissing {
        /// The file.
        path: String,
    },
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DataDirError + '_ {
    move |source| DataDirError::Io { path: path.display().to_string(), source }
}

/// An opened data directory, locked for this process while it lives.
pub struct DataDir {
    root: PathBuf,
    _lock: fs::File,
}

/// The marker's name.
const MARKER: &str = "orrery-cloud";

impl DataDir {
    /// Opens `root`, creating it if needed, private to its owner: the directory and every
    /// directory in it 0700, every file 0600 (the journal and snapshots hold the cloud's
    /// credentials). A directory or file with looser modes is tightened, with a warning.
    ///
    /// It is locked for this process: another process holding it is refused with
    /// [`DataDirError::InUse`]. A directory with the cloud marker but no journal is refused
    /// with [`DataDirError::Damaged`].
    pub fn open(root: &Path) -> Result<DataDir, DataDirError> {
        create_private_dir(root)?;
        let lock = take_lock(root)?;
        for path in tighten(root)? {
            tracing::warn!(path = %path.display(), "the data directory held a file others could read; it is now private to its owner");
        }
        let dir = DataDir { root: root.to_path_buf(), _lock: lock };
        let journal = dir.journal_path();
        let journal_len = fs::metadata(&journal).map(|m| m.len()).ok();
        if dir.has_marker() {
            match journal_len {
                None => return Err(dir.damaged("journal.sqlite is missing")),
                Some(0) => return Err(dir.damaged("journal.sqlite is empty (0 bytes)")),
                Some(_) => {}
            }
        }
        // SQLite gives the journal's `-wal` and `-shm` files the journal's own mode.
        if journal_len.is_none() {
            private_file(&journal).map_err(io(&journal))?;
        }
        Ok(dir)
    }

    /// Whether the cloud marker is here: a cloud was created in this directory.
    pub fn has_marker(&self) -> bool {
        self.root.join(MARKER).exists()
    }

    /// Writes the cloud marker, once the cloud exists (or was found without one).
    pub fn write_marker(&self) -> Result<(), DataDirError> {
        let text = "This directory holds an orrery cloud: journal.sqlite (with journal.sqlite-wal while it runs),\njournal.mark and snapshots/ together are its state. Back it up with `orrery backup`.\n";
        write_private(&self.root.join(MARKER), text)
    }

    /// The refusal for a directory that held a cloud and lost `damage`.
    pub fn damaged(&self, damage: &str) -> DataDirError {
        DataDirError::Damaged { path: self.root.display().to_string(), damage: damage.to_string() }
    }
    /// The directory.
    pub fn path(&self) -> &Path {
        &self.root
    }
    /// `journal.sqlite`.
    pub fn journal_path(&self) -> PathBuf {
        self.root.join("journal.sqlite")
    }
    /// `snapshots/`.
    pub fn snapshots_path(&self) -> PathBuf {
        self.root.join("snapshots")
    }
    /// `clouds.yaml`.
    pub fn clouds_yaml_path(&self) -> PathBuf {
        self.root.join("clouds.yaml")
    }
    /// `endpoint`: the base URL of the running cloud, present only while it runs.
    pub fn endpoint_path(&self) -> PathBuf {
        self.root.join("endpoint")
    }

    /// `admin-password`.
    pub fn admin_password_path(&self) -> PathBuf {
        self.root.join("admin-password")
    }

    /// The admin password of an existing cloud, as stored when it was created.
    pub fn admin_password(&self) -> Result<String, DataDirError> {
        let path = self.admin_password_path();
        match fs::read_to_string(&path) {
            Ok(p) => Ok(p.trim().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(DataDirError::AdminPasswordMissing { path: path.display().to_string() }),
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// Generates a new admin password and stores it (mode 0600): for a new cloud, or when
    /// the admin's password is being reset.
    pub fn new_admin_password(&self) -> Result<String, DataDirError> {
        let password = random_password();
        self.store_admin_password(&password)?;
        Ok(password)
    }

    /// Stores `password` as the admin's (mode 0600).
    pub fn store_admin_password(&self, password: &str) -> Result<(), DataDirError> {
        write_private(&self.admin_password_path(), &format!("{password}\n"))
    }

    /// Writes `clouds.yaml` with a cloud named `orrery` for the admin user.
    pub fn write_clouds_yaml(&self, base_url: &str, region: &str, password: &str) -> Result<(), DataDirError> {
        let text = format!(
            "# Written by `orrery up`. Use with:\n#   OS_CLIENT_CONFIG_FILE={} openstack --os-cloud orrery server list\n\
clouds:\n  orrery:\n    auth:\n      auth_url: {base_url}/identity\n      username: admin\n      password: \"{password}\"\n      project_name: admin\n      user_domain_name: Default\n      project_domain_name: Default\n    region_name: {region}\n    interface: public\n    identity_api_version: 3\n",
            self.clouds_yaml_path().display()
        );
        write_private(&self.clouds_yaml_path(), &text)
    }

    /// Writes the endpoint file other commands read to reach this cloud.
    pub fn write_endpoint(&self, base_url: &str) -> Result<(), DataDirError> {
        // Written aside and renamed, so a command polling for the file never reads it half-written.
        let tmp = self.path().join("endpoint.tmp");
        write_private(&tmp, &format!("{base_url}\n"))?;
        fs::rename(&tmp, self.endpoint_path()).map_err(io(&self.endpoint_path()))
    }

    /// Removes the endpoint file on a clean stop.
    pub fn remove_endpoint(&self) {
        let _ = fs::remove_file(self.endpoint_path());
    }

    /// Keeps a copy of the topology a new cloud was built from, for reference.
    pub fn write_topology_copy(&self, spec: &TopologySpec) -> Result<(), DataDirError> {
        let path = self.root.join("topology.json");
        let text = serde_json::to_string_pretty(spec).unwrap_or_default();
        write_private(&path, &text)
    }
}

/// Takes the directory's lock, or says who holds it.
fn take_lock(root: &Path) -> Result<fs::File, DataDirError> {
    let path = root.join("lock");
    let mut opts = fs::OpenOptions::new();
    opts.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut file = opts.open(&path).map_err(io(&path))?;
    if let Err(e) = file.try_lock() {
        if let fs::TryLockError::Error(e) = e {
            return Err(io(&path)(e));
        }
        let pid = fs::read_to_string(&path).map(|p| p.trim().to_string()).unwrap_or_default();
        let endpoint = fs::read_to_string(root.join("endpoint")).map(|e| format!(", serving at {}", e.trim())).unwrap_or_default();
        return Err(DataDirError::InUse { path: root.display().to_string(), pid: if pid.is_empty() { "unknown".into() } else { pid }, endpoint });
    }
    file.set_len(0).map_err(io(&path))?;
    file.write_all(format!("{}\n", std::process::id()).as_bytes()).map_err(io(&path))?;
    Ok(file)
}

/// Creates `dir` (and its missing parents) with mode 0700.
pub fn create_private_dir(dir: &Path) -> Result<(), DataDirError> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir).map_err(io(dir))
}

/// Creates (or truncates) `path` with mode 0600.
fn private_file(path: &Path) -> std::io::Result<fs::File> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)
}

fn write_private(path: &Path, text: &str) -> Result<(), DataDirError> {
    let mut f = private_file(path).map_err(io(path))?;
    f.write_all(text.as_bytes()).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

/// Makes `dir` 0700, and everything below it 0700 (directories) or 0600 (files); returns what
/// was looser.
fn tighten(dir: &Path) -> Result<Vec<PathBuf>, DataDirError> {
    let mut changed = Vec::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut todo = vec![dir.to_path_buf()];
        while let Some(path) = todo.pop() {
            let meta = fs::symlink_metadata(&path).map_err(io(&path))?;
            let want = if meta.is_dir() { 0o700 } else { 0o600 };
            if meta.is_dir() {
                for entry in fs::read_dir(&path).map_err(io(&path))? {
                    todo.push(entry.map_err(io(&path))?.path());
                }
            }
            if meta.file_type().is_symlink() || meta.permissions().mode() & 0o077 == 0 {
                continue;
            }
            fs::set_permissions(&path, fs::Permissions::from_mode(meta.permissions().mode() & !0o777 | want)).map_err(io(&path))?;
            changed.push(path);
        }
    }
    Ok(changed)
}

/// A fresh random password of 20 letters and digits.
pub fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    bytes.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}

/// Hashes a password with Argon2id and a random salt, as a PHC string.
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the operating system's random source failed");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes is a valid salt length");
    argon2::Argon2::default().hash_password(password.as_bytes(), &salt).expect("argon2 hashing with default parameters").to_string()
}

/// The Init command's spec for a new cloud: a random seed, the topology, the admin user.
pub fn init_spec(topology: TopologySpec, admin_password: &str) -> InitSpec {
    let mut seed = [0u8; 8];
    getrandom::fill(&mut seed).expect("the operating system's random source failed");
    let mut bootstrap = Bootstrap::new("admin", &hash_password(admin_password));
    bootstrap.region = topology.region.first().map_or(bootstrap.region, |r| r.name.clone());
    InitSpec { seed: u64::from_le_bytes(seed), topology, bootstrap }
}
