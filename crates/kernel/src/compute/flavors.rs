//! Compute flavors: the hardware shapes servers are booted with, their extra specs and, for
//! private flavors, which projects may use them.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::compute::Cx;
use crate::ids::Uuid;
use crate::placement::{self, Resources, NUM_CLASSES};
use crate::topology::Ratio;
use crate::Read;
use crate::{Caller, Error, Result};

/// A flavor.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Flavor {
    /// Its id (Nova flavor ids are free-form strings).
    pub id: String,
    /// Its unique name.
    pub name: String,
    /// Virtual CPUs.
    pub vcpus: u32,
    /// Memory in MiB.
    pub ram: u64,
    /// Root disk in GiB (0: the image's size, or a volume).
    pub disk: u64,
    /// Ephemeral disk in GiB.
    pub ephemeral: u64,
    /// Swap in MiB.
    pub swap: u64,
    /// Network bandwidth factor.
    pub rxtx_factor: Ratio,
    /// Whether every project may use it; otherwise only projects in `access`.
    pub is_public: bool,
    /// Free-form description (shown from microversion 2.55).
    pub description: Option<String>,
    /// Extra specs, such as `hw:cpu_policy` or `resources:VGPU`.
    pub extra_specs: BTreeMap<String, String>,
    /// Projects that may use a private flavor.
    pub access: BTreeSet<Uuid>,
}

impl Flavor {
    /// A public flavor with no extras.
    pub fn new(id: &str, name: &str, vcpus: u32, ram: u64, disk: u64) -> Flavor {
        Flavor {
            id: id.into(),
            name: name.into(),
            vcpus,
            ram,
            disk,
            ephemeral: 0,
            swap: 0,
            rxtx_factor: Ratio(1.0),
            is_public: true,
            description: None,
            extra_specs: BTreeMap::new(),
            access: BTreeSet::new(),
        }
    }

    /// Whether `caller` may see and use this flavor: public ones, admins, and projects on its
    /// access list.
    pub fn visible_to(&self, caller: &Caller) -> bool {
        self.is_public || caller.admin || caller.project.is_some_and(|p| self.access.contains(&p))
    }
}

/// Nova's classic default flavors (m1.tiny … m1.xlarge with ids "1".."5", plus m1.nano "42").
pub fn defaults() -> BTreeMap<String, Flavor> {
    [
        Flavor::new("1", "m1.tiny", 1, 512, 1),
        Flavor::new("2", "m1.small", 1, 2048, 20),
        Flavor::new("3", "m1.medium", 2, 4096, 40),
        Flavor::new("4", "m1.large", 4, 8192, 80),
        Flavor::new("5", "m1.xlarge", 8, 16384, 160),
        Flavor::new("42", "m1.nano", 1, 128, 1),
    ]
    .into_iter()
    .map(|f| (f.id.clone(), f))
    .collect()
}

/// What a server of this flavor claims in placement: VCPU, MEMORY_MB, DISK_GB (root +
/// ephemeral + swap rounded up to GiB) and VGPU from the extra spec `resources:VGPU`.
pub fn resources(f: &Flavor) -> Resources {
    let mut r = [0; NUM_CLASSES];
    r[placement::VCPU] = u64::from(f.vcpus);
    r[placement::MEMORY_MB] = f.ram;
    r[placement::DISK_GB] = f.disk.saturating_add(f.ephemeral).saturating_add(f.swap.div_ceil(1024));
    r[placement::VGPU] = f.extra_specs.get("resources:VGPU").and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    r
}

/// Finds a flavor `caller` may see, by id; 404 with Nova's message otherwise.
pub fn find<'a>(k: impl Read<'a>, caller: &Caller, id: &str) -> Result<&'a Flavor> {
    let k = k.read();
    k.compute.flavors.get(id).filter(|f| f.visible_to(caller)).ok_or_else(|| not_found(id))
}

/// Flavors `caller` may see, in id order.
pub fn visible<'a>(k: impl Read<'a>, caller: &'a Caller) -> impl Iterator<Item = &'a Flavor> + 'a {
    let k = k.read();
    k.compute.flavors.values().filter(move |f| f.visible_to(caller))
}

fn not_found(id: &str) -> Error {
    Error::not_found("compute.not_found", format!("Flavor {id} could not be found."))
}

/// What a flavor list keeps (Nova's `is_public`, `minRam`, `minDisk`, `marker`, `limit`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery {
    /// `Some(true)`: public flavors and private ones the caller's project may use;
    /// `Some(false)`: private ones only; `None`: all. Non-admins always get `Some(true)`.
    pub is_public: Option<bool>,
    /// At least this much RAM (MiB).
    pub min_ram: u64,
    /// At least this much disk (GiB).
    pub min_disk: u64,
    /// Only flavors after this id, which must exist.
    pub marker: Option<String>,
    /// At most this many.
    pub limit: Option<usize>,
}

/// The flavors a list returns, in id order.
pub fn list<'k>(k: impl Read<'k>, caller: &Caller, q: &ListQuery) -> Result<Vec<Flavor>> {
    let k = k.read();
    use std::ops::Bound;
    let is_public = if caller.admin { q.is_public } else { Some(true) };
    let own = |f: &Flavor| caller.project.is_some_and(|p| f.access.contains(&p));
    let start = match &q.marker {
        Some(m) if !k.compute.flavors.contains_key(m) => return Err(Error::bad_request("compute.bad_request", format!("marker [{m}] not found"))),
        Some(m) => Bound::Excluded(m.clone()),
        None => Bound::Unbounded,
    };
    let keep = |f: &&Flavor| {
        let public_ok = match is_public {
            Some(true) => f.is_public || own(f),
            Some(false) => !f.is_public,
            None => true,
        };
        public_ok && f.ram >= q.min_ram && f.disk >= q.min_disk
    };
    Ok(k.compute.flavors.range((start, Bound::Unbounded)).map(|(_, f)| f).filter(keep).take(q.limit.unwrap_or(usize::MAX)).cloned().collect())
}

/// Flavor commands. All need the admin role (Nova's default policy).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmd {
    /// Creates a flavor. The id and name must be new; sizes must be sane. `access` and
    /// `extra_specs` of the given flavor must be empty.
    Create(Box<Flavor>),
    /// Deletes a flavor. Servers keep their embedded copy.
    Delete {
        /// The flavor id.
        id: String,
    },
    /// Sets or clears the description (2.55).
    SetDescription {
        /// The flavor id.
        id: String,
        /// The new description.
        description: Option<String>,
    },
    /// Adds or replaces extra specs.
    SetExtraSpecs {
        /// The flavor id.
        id: String,
        /// Keys and values to set.
        specs: BTreeMap<String, String>,
    },
    /// Removes one extra spec, which must exist.
    UnsetExtraSpec {
        /// The flavor id.
        id: String,
        /// The key to remove.
        key: String,
    },
    /// Lets a project use a private flavor.
    AddAccess {
        /// The flavor id.
        id: String,
        /// The project.
        project: Uuid,
    },
    /// Takes a project off a private flavor's access list.
    RemoveAccess {
        /// The flavor id.
        id: String,
        /// The project.
        project: Uuid,
    },
}

/// Flavor replies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// The flavor after the change.
    Flavor(Box<Flavor>),
    /// The flavor is gone.
    Deleted,
}

/// Applies a flavor command: validates everything first, then mutates.
pub fn apply(k: &mut Cx, caller: &Caller, cmd: Cmd) -> Result<Reply> {
    if !caller.admin {
        return Err(Error::forbidden("compute.forbidden", "Policy doesn't allow os_compute_api:os-flavor-manage to be performed.".into()));
    }
    let flavors = &mut k.compute.flavors;
    match cmd {
        Cmd::Create(f) => create(flavors, *f),
        Cmd::Delete { id } => {
            flavors.remove(&id).ok_or_else(|| not_found(&id))?;
            Ok(Reply::Deleted)
        }
        other => modify(flavors, other),
    }
}

impl Cmd {
    /// The id of the flavor the command is about.
    pub fn flavor_id(&self) -> &str {
        match self {
            Cmd::Create(f) => &f.id,
            Cmd::Delete { id }
            | Cmd::SetDescription { id, .. }
            | Cmd::SetExtraSpecs { id, .. }
            | Cmd::UnsetExtraSpec { id, .. }
            | Cmd::AddAccess { id, .. }
            | Cmd::RemoveAccess { id, .. } => id,
        }
    }
}

/// Applies the commands that change one existing flavor.
fn modify(flavors: &mut BTreeMap<String, Flavor>, cmd: Cmd) -> Result<Reply> {
    let id = cmd.flavor_id().to_string();
    let f = flavors.get_mut(&id).ok_or_else(|| not_found(&id))?;
    match cmd {
        Cmd::Create(_) | Cmd::Delete { .. } => {}
        Cmd::SetDescription { description, .. } => {
            check_description(description.as_deref())?;
            f.description = description;
        }
        Cmd::SetExtraSpecs { specs, .. } => {
            for (key, value) in &specs {
                check_spec(key, value)?;
            }
            f.extra_specs.extend(specs);
        }
        Cmd::UnsetExtraSpec { key, .. } => {
            if f.extra_specs.remove(&key).is_none() {
                return Err(Error::not_found("compute.not_found", format!("Flavor {id} has no extra specs with key {key}.")));
            }
        }
        Cmd::AddAccess { project, .. } => {
            if f.is_public {
                return Err(Error::conflict("compute.invalid_state", "Can not add access to a public flavor.".into()));
            }
            if !f.access.insert(project) {
                return Err(Error::conflict(
                    "compute.duplicate",
                    format!("Flavor access already exists for flavor {id} and project {} combination.", project.simple()),
                ));
            }
        }
        Cmd::RemoveAccess { project, .. } => {
            if !f.access.remove(&project) {
                return Err(Error::not_found("compute.not_found", format!("Flavor access not found for {id} / {} combination.", project.simple())));
            }
        }
    }
    Ok(Reply::Flavor(Box::new(f.clone())))
}

fn create(flavors: &mut BTreeMap<String, Flavor>, f: Flavor) -> Result<Reply> {
    validate(&f)?;
    if flavors.contains_key(&f.id) {
        return Err(Error::conflict("compute.duplicate", format!("Flavor with ID {} already exists.", f.id)));
    }
    if flavors.values().any(|o| o.name == f.name) {
        return Err(Error::conflict("compute.duplicate", format!("Flavor with name {} already exists.", f.name)));
    }
    flavors.insert(f.id.clone(), f.clone());
    Ok(Reply::Flavor(Box::new(f)))
}

/// Checks a new flavor's fields the way Nova's schema does.
fn validate(f: &Flavor) -> Result<()> {
    let name_ok = !f.name.trim().is_empty() && f.name.len() <= 255 && f.name.trim() == f.name;
    if !name_ok {
        return Err(Error::bad_request(
            "compute.bad_request",
            format!(
                "Invalid input for field/attribute name. Value: '{}'. The name must be 1 to 255 characters with no leading or trailing whitespace.",
                f.name
            ),
        ));
    }
    let id_ok = !f.id.is_empty() && f.id.len() <= 255 && f.id.chars().all(|c| c.is_ascii_alphanumeric() || "-_. ".contains(c)) && f.id.trim() == f.id;
    if !id_ok {
        return Err(Error::bad_request(
            "compute.bad_request",
            format!("Invalid input for field/attribute id. Value: '{}'. Flavor ids may hold letters, digits, '-', '_', '.' and spaces.", f.id),
        ));
    }
    if f.vcpus == 0 || f.ram == 0 {
        return Err(Error::bad_request("compute.bad_request", "Invalid input for field/attribute: vcpus and ram must be at least 1.".into()));
    }
    if !(f.rxtx_factor.0 > 0.0 && f.rxtx_factor.0 <= 3.4e38) {
        return Err(Error::bad_request("compute.bad_request", "Invalid input for field/attribute rxtx_factor: it must be above 0.".into()));
    }
    if !f.access.is_empty() || !f.extra_specs.is_empty() {
        return Err(Error::bad_request("compute.bad_request", "A new flavor starts with no extra specs and no access list.".into()));
    }
    check_description(f.description.as_deref())
}

fn check_description(d: Option<&str>) -> Result<()> {
    match d {
        Some(d) if d.chars().count() > 65535 => {
            Err(Error::bad_request("compute.bad_request", "Invalid input for field/attribute description: it is longer than 65535 characters.".into()))
        }
        _ => Ok(()),
    }
}

fn check_spec(key: &str, value: &str) -> Result<()> {
    let key_ok = !key.is_empty() && key.len() <= 255 && key.chars().all(|c| c.is_ascii_alphanumeric() || "-_:. /".contains(c));
    if !key_ok {
        return Err(Error::bad_request(
            "compute.bad_request",
            format!(
            "Invalid input for field/attribute extra_specs. Key '{key}' must be 1 to 255 characters of letters, digits, '-', '_', ':', '.', '/' and spaces."
        ),
        ));
    }
    if value.len() > 255 {
        return Err(Error::bad_request(
            "compute.bad_request",
            format!("Invalid input for field/attribute extra_specs. The value of '{key}' is longer than 255 characters."),
        ));
    }
    if key == "resources:VGPU" && value.trim().parse::<u64>().is_err() {
        return Err(Error::bad_request("compute.bad_request", format!("Invalid extra spec resources:VGPU={value}: the amount must be a whole number.")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::quotas::tests::{caller, kernel};

    fn private(id: &str) -> Flavor {
        let mut f = Flavor::new(id, &format!("p.{id}"), 2, 1024, 10);
        f.is_public = false;
        f
    }

    #[test]
    fn defaults_are_novas() {
        let d = defaults();
        let tiny = &d["1"];
        assert_eq!((tiny.name.as_str(), tiny.vcpus, tiny.ram, tiny.disk), ("m1.tiny", 1, 512, 1));
        assert_eq!(d["5"].ram, 16384);
        assert_eq!(d.len(), 6);
    }

    #[test]
    fn private_flavors_are_visible_to_admins_and_access_list() {
        let mut k = kernel();
        let admin = caller(&k, 9, true);
        let (a, b) = (caller(&k, 1, false), caller(&k, 2, false));
        apply(&mut k.cx(), &admin, Cmd::Create(Box::new(private("p1")))).unwrap();
        assert!(find(&k, &admin, "p1").is_ok());
        assert_eq!(find(&k, &a, "p1").unwrap_err().kind, crate::ErrorKind::NotFound);
        apply(&mut k.cx(), &admin, Cmd::AddAccess { id: "p1".into(), project: Uuid(1) }).unwrap();
        assert!(find(&k, &a, "p1").is_ok());
        assert!(find(&k, &b, "p1").is_err());
        assert_eq!(visible(&k, &a).count(), 7);
        assert_eq!(visible(&k, &b).count(), 6);
        apply(&mut k.cx(), &admin, Cmd::RemoveAccess { id: "p1".into(), project: Uuid(1) }).unwrap();
        assert!(find(&k, &a, "p1").is_err());
    }

    #[test]
    fn failed_commands_change_nothing() {
        let mut k = kernel();
        let admin = caller(&k, 9, true);
        let member = caller(&k, 1, false);
        let before = k.compute.clone();
        let cases = [
            (&member, Cmd::Create(Box::new(private("x"))), crate::ErrorKind::Forbidden),
            (&admin, Cmd::Create(Box::new(Flavor::new("1", "other", 1, 1, 1))), crate::ErrorKind::Conflict),
            (&admin, Cmd::Create(Box::new(Flavor::new("new", "m1.tiny", 1, 1, 1))), crate::ErrorKind::Conflict),
            (&admin, Cmd::Create(Box::new(Flavor::new("new", " ", 1, 1, 1))), crate::ErrorKind::BadRequest),
            (&admin, Cmd::Create(Box::new(Flavor::new("new", "zero", 0, 1, 1))), crate::ErrorKind::BadRequest),
            (&admin, Cmd::Delete { id: "nope".into() }, crate::ErrorKind::NotFound),
            (&admin, Cmd::UnsetExtraSpec { id: "1".into(), key: "k".into() }, crate::ErrorKind::NotFound),
            (&admin, Cmd::AddAccess { id: "1".into(), project: Uuid(1) }, crate::ErrorKind::Conflict),
            (&admin, Cmd::RemoveAccess { id: "1".into(), project: Uuid(1) }, crate::ErrorKind::NotFound),
            (
                &admin,
                Cmd::SetExtraSpecs { id: "1".into(), specs: BTreeMap::from([("a".into(), "1".into()), ("bad key!".into(), "v".into())]) },
                crate::ErrorKind::BadRequest,
            ),
        ];
        for (who, cmd, status) in cases {
            let desc = format!("{cmd:?}");
            assert_eq!(apply(&mut k.cx(), who, cmd).unwrap_err().kind, status, "{desc}");
            assert_eq!(k.compute, before, "{desc} changed state");
        }
    }

    #[test]
    fn extra_specs_and_description() {
        let mut k = kernel();
        let admin = caller(&k, 9, true);
        let specs = BTreeMap::from([("resources:VGPU".to_string(), "1".to_string()), ("hw:cpu_policy".to_string(), "dedicated".to_string())]);
        apply(&mut k.cx(), &admin, Cmd::SetExtraSpecs { id: "2".into(), specs }).unwrap();
        apply(&mut k.cx(), &admin, Cmd::UnsetExtraSpec { id: "2".into(), key: "hw:cpu_policy".into() }).unwrap();
        apply(&mut k.cx(), &admin, Cmd::SetDescription { id: "2".into(), description: Some("small".into()) }).unwrap();
        let f = &k.compute.flavors["2"];
        assert_eq!(f.extra_specs.len(), 1);
        assert_eq!(f.description.as_deref(), Some("small"));
        let mut g = f.clone();
        g.swap = 1500;
        g.ephemeral = 5;
        assert_eq!(resources(&g), [1, 2048, 27, 1]);
        apply(&mut k.cx(), &admin, Cmd::Delete { id: "2".into() }).unwrap();
        assert!(!k.compute.flavors.contains_key("2"));
    }
}
