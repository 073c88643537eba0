//! The data directory is private to its owner: created 0700 with a 0600 journal, and an
//! existing one with looser modes is tightened.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use orrery_live::datadir::DataDir;

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_new_data_directory_is_private() {
    let root = std::env::temp_dir().join(format!("orrery-datadir-new-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    let dir = DataDir::open(&root.join("cloud")).unwrap();
    assert_eq!(mode(dir.path()), 0o700);
    assert_eq!(mode(&dir.journal_path()), 0o600, "the journal exists before SQLite opens it, so its -wal and -shm inherit 0600");
    dir.write_endpoint("http://127.0.0.1:1").unwrap();
    assert_eq!(mode(&dir.endpoint_path()), 0o600);
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_loose_data_directory_is_tightened() {
    let root = std::env::temp_dir().join(format!("orrery-datadir-loose-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(root.join("snapshots")).unwrap();
    fs::write(root.join("snapshots/snap-0000000000000001.json"), "{}").unwrap();
    fs::write(root.join("admin-password"), "x\n").unwrap();
    for (p, m) in [("", 0o755), ("snapshots", 0o775), ("snapshots/snap-0000000000000001.json", 0o644), ("admin-password", 0o640)] {
        fs::set_permissions(root.join(p), fs::Permissions::from_mode(m)).unwrap();
    }
    DataDir::open(&root).unwrap();
    assert_eq!(mode(&root), 0o700);
    assert_eq!(mode(&root.join("snapshots")), 0o700);
    assert_eq!(mode(&root.join("snapshots/snap-0000000000000001.json")), 0o600);
    assert_eq!(mode(&root.join("admin-password")), 0o600);
    fs::remove_dir_all(&root).unwrap();
}
