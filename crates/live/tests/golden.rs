//! Golden data directories: data directories written by earlier orrery releases (kept under
//! `tests/golden/<format>/`, made by `scripts/make-golden-datadirs`) load in this one, with
//! everything their clouds answered before they stopped, and nothing of the old format (raw
//! tokens) left behind. `clean` was stopped with SIGTERM; `kill9` was killed with SIGKILL
//! after writes that only its journal's tail (and WAL) holds.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use orrery_kernel::Kernel;
use serde_json::Value;

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name)
}

/// A private copy of golden directory `name`, called `label` (loading migrates it in place).
fn copy(label: &str, name: &str) -> PathBuf {
    let to = std::env::temp_dir().join(format!("orrery-golden-{}-{}", label.replace('/', "-"), std::process::id()));
    let _ = fs::remove_dir_all(&to);
    copy_dir(&golden(name), &to);
    to
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// What the cloud holds, in the shape of `expected.json`.
fn observed(k: &Kernel) -> Value {
    let c = k.compute();
    let mut servers: Vec<(String, String)> = c.servers.by_id.values().map(|s| (s.name.clone(), s.status().name().to_string())).collect();
    servers.sort();
    let flavors: BTreeSet<&str> = c.flavors.values().map(|f| f.name.as_str()).collect();
    let keypairs: BTreeSet<&str> = c.keypairs.values().flat_map(|m| m.keys().map(String::as_str)).collect();
    let users: BTreeSet<&str> = k.identity().users.values().map(|u| u.name.as_str()).collect();
    let projects: BTreeSet<&str> = k.identity().projects.values().map(|p| p.name.as_str()).collect();
    serde_json::json!({"servers": servers, "flavors": flavors, "keypairs": keypairs, "users": users, "projects": projects})
}

/// Every raw bearer token the golden journal was written with. Read from a throwaway copy:
/// SQLite folds a WAL into its journal when a connection closes, which would change the
/// golden directory itself.
fn raw_tokens(name: &str) -> BTreeSet<String> {
    let scratch = copy(&format!("{name}-tokens"), name);
    let conn = rusqlite::Connection::open(scratch.join("journal.sqlite")).unwrap();
    let mut stmt = conn.prepare("SELECT request FROM journal").unwrap();
    let rows = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap();
    let mut out = BTreeSet::new();
    for row in rows {
        let v: Value = serde_json::from_str(&row.unwrap()).unwrap();
        for p in ["/auth/Token", "/command/Identity/IssueToken/token"] {
            if let Some(t) = v.pointer(p).and_then(Value::as_str) {
                out.insert(t.to_string());
            }
        }
    }
    drop(stmt);
    drop(conn);
    fs::remove_dir_all(&scratch).unwrap();
    out
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn loads(name: &str) {
    assert!(golden(name).join("journal.sqlite").exists(), "{name} is missing");
    let dir = copy(name, name);
    let expected: Value = serde_json::from_str(&fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let opened = orrery_live::open(&dir, false).unwrap_or_else(|e| panic!("{name} does not load: {e}"));
    assert_eq!(observed(&opened.kernel), expected, "{name} came back different");
    opened.kernel.check_invariants().unwrap();
    let hash = opened.kernel.state_hash();
    drop(opened);

    let tokens = raw_tokens(name);
    assert!(!tokens.is_empty(), "the golden journal has tokens to look for");
    for f in files(&dir) {
        let bytes = fs::read(&f).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for t in &tokens {
            assert!(!text.contains(t.as_str()), "{} still holds a raw token after migration", f.display());
        }
    }
    // Loaded again, now from the migrated files: the same state.
    let again = orrery_live::open(&dir, false).unwrap();
    assert_eq!(again.kernel.state_hash(), hash, "{name}: the migrated directory loads to another state");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn format_2_after_a_clean_stop_loads() {
    loads("v2/clean");
}

#[test]
fn format_2_after_kill_9_loads_with_its_journal_tail() {
    assert!(golden("v2/kill9").join("journal.sqlite-wal").exists(), "the kill -9 directory keeps its write-ahead log");
    loads("v2/kill9");
}
