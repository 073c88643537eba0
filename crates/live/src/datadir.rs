//! The data directory: journal, snapshots, admin credentials, `clouds.yaml`, the endpoint
//! file other commands use to find the running cloud, and a copy of the topology in force.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use argon2::password_hash::{PasswordHasher, SaltString};
use orrery_kernel::identity::Bootstrap;
use orrery_kernel::{InitSpec, TopologySpec};

/// A problem with the data directory.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
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

/// An opened data directory.
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Opens `root`, creating it if needed, private to its owner: the directory and every
    /// directory in it 0700, every file 0600 (the journal and snapshots hold the cloud's
    /// credentials). A directory or file with looser modes is tightened, with a warning.
    pub fn open(root: &Path) -> Result<DataDir, DataDirError> {
        create_private_dir(root)?;
        for path in tighten(root)? {
            tracing::warn!(path = %path.display(), "the data directory held a file others could read; it is now private to its owner");
        }
        let dir = DataDir { root: root.to_path_buf() };
        // SQLite gives the journal's `-wal` and `-shm` files the journal's own mode.
        let journal = dir.journal_path();
        if !journal.exists() {
            private_file(&journal).map_err(io(&journal))?;
        }
        Ok(dir)
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

    /// The admin password, generated and stored (mode 0600) on first use.
    pub fn admin_password(&self) -> Result<String, DataDirError> {
        let path = self.root.join("admin-password");
        if let Ok(p) = fs::read_to_string(&path) {
            return Ok(p.trim().to_string());
        }
        let password = random_password();
        write_private(&path, &format!("{password}\n"))?;
        Ok(password)
    }

    /// Writes `clouds.yaml` with a cloud named `orrery` for the admin user.
    pub fn write_clouds_yaml(&self, base_url: &str, region: &str) -> Result<(), DataDirError> {
        let password = self.admin_password()?;
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

/// Creates `dir` (and its missing parents) with mode 0700.
fn create_private_dir(dir: &Path) -> Result<(), DataDirError> {
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

fn random_password() -> String {
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
