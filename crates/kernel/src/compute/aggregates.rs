//! Compute host aggregates (`os-aggregates`): named sets of compute hosts with metadata, which
//! the scheduler's `AggregateInstanceExtraSpecsFilter` matches against flavor extra specs.
//!
//! The topology's aggregates are the seed. Until an admin first changes one, the live set *is*
//! the topology's, and compute keeps nothing: [`Aggregates`] is then left out of snapshots and
//! hashes as nothing, so journals and snapshots written before aggregates were writable load
//! and hash as they did. The first accepted write copies the seed into compute state (ids 1..n
//! in topology order, the topology's UUIDs) and every later read and the scheduler use that.
//!
//! Availability zones are physical in orrery (the topology's zones), not aggregate metadata as
//! in Nova: an aggregate may name an `availability_zone`, but only hosts of that zone may join
//! it, and it may not be renamed to a zone its hosts are not in. A request that would move a
//! host to another zone is refused rather than pretended.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::compute::Cx;
use crate::ids::Uuid;
use crate::topology::{HostIdx, Topology};
use crate::{Caller, Error, Result, Time};

/// The metadata key Nova keeps an aggregate's availability zone under.
pub const ZONE_KEY: &str = "availability_zone";

/// The longest name, zone, metadata key or value Nova accepts.
const MAX_LEN: usize = 255;

/// One host aggregate.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Aggregate {
    /// Nova's integer id.
    pub id: u32,
    /// Its UUID (shown from microversion 2.41).
    pub uuid: Uuid,
    /// Its name, unique among aggregates.
    pub name: String,
    /// Its metadata, `availability_zone` among them if it names one.
    pub metadata: BTreeMap<String, String>,
    /// Member compute hosts.
    pub hosts: BTreeSet<HostIdx>,
    /// When it was created (the cloud's creation for the topology's).
    pub created_at: Time,
    /// When it last changed.
    pub updated_at: Option<Time>,
}

impl Aggregate {
    /// The availability zone it names, if any.
    pub fn zone(&self) -> Option<&str> {
        self.metadata.get(ZONE_KEY).map(String::as_str)
    }
}

/// The live aggregates, by id, with an index from host to the aggregates it is in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Set {
    /// Aggregates by id.
    pub by_id: BTreeMap<u32, Aggregate>,
    /// The id the next aggregate gets (ids are never reused, as in Nova's database).
    pub next_id: u32,
    /// The aggregates each host is in.
    pub by_host: BTreeMap<HostIdx, BTreeSet<u32>>,
}

impl Set {
    /// The topology's aggregates as a live set, created at `created`.
    pub fn seed(topo: &Topology, created: Time) -> Set {
        let mut s = Set { next_id: 1, ..Set::default() };
        for a in &topo.aggregates {
            let id = s.next_id;
            s.next_id += 1;
            let agg =
                Aggregate { id, uuid: a.id, name: a.name.clone(), metadata: a.metadata.clone(), hosts: BTreeSet::new(), created_at: created, updated_at: None };
            s.by_id.insert(id, agg);
            for &h in &a.hosts {
                s.join(id, h);
            }
        }
        s
    }

    /// The aggregate with id `id`.
    pub fn get(&self, id: u32) -> Option<&Aggregate> {
        self.by_id.get(&id)
    }

    /// The aggregate named `name`.
    pub fn named(&self, name: &str) -> Option<&Aggregate> {
        self.by_id.values().find(|a| a.name == name)
    }

    /// The aggregates host `h` is in.
    pub fn of_host(&self, h: HostIdx) -> impl Iterator<Item = &Aggregate> + '_ {
        self.by_host.get(&h).into_iter().flatten().filter_map(|id| self.by_id.get(id))
    }

    fn join(&mut self, id: u32, h: HostIdx) {
        if let Some(a) = self.by_id.get_mut(&id) {
            a.hosts.insert(h);
            self.by_host.entry(h).or_default().insert(id);
        }
    }

    fn leave(&mut self, id: u32, h: HostIdx) {
        if let Some(a) = self.by_id.get_mut(&id) {
            a.hosts.remove(&h);
        }
        if let Some(ids) = self.by_host.get_mut(&h) {
            ids.remove(&id);
            if ids.is_empty() {
                self.by_host.remove(&h);
            }
        }
    }
}

/// Compute's aggregates: nothing while the topology's seed is untouched, the live set after the
/// first write. Hashed as nothing while untouched.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Aggregates(pub Option<Box<Set>>);

impl std::hash::Hash for Aggregates {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        if let Some(s) = &self.0 {
            s.hash(h);
        }
    }
}

impl Aggregates {
    /// Whether no aggregate was ever changed (then the field is left out of snapshots).
    pub fn is_seed(&self) -> bool {
        self.0.is_none()
    }

    /// The live set; while untouched, the topology's seed created at `created`.
    pub fn live<'a>(&'a self, topo: &Topology, created: Time) -> Cow<'a, Set> {
        match &self.0 {
            Some(s) => Cow::Borrowed(s),
            None => Cow::Owned(Set::seed(topo, created)),
        }
    }

    /// Whether some aggregate host `h` is in has metadata `key` for which `ok` holds. This is
    /// the scheduler's question, answered from the per-host index without building anything.
    pub fn host_has(&self, topo: &Topology, h: HostIdx, key: &str, ok: impl Fn(&str) -> bool) -> bool {
        match &self.0 {
            Some(s) => s.of_host(h).any(|a| a.metadata.get(key).is_some_and(|v| ok(v))),
            None => topo.host_aggregates[h as usize].iter().any(|&a| topo.aggregates[a as usize].metadata.get(key).is_some_and(|v| ok(v))),
        }
    }

    /// The UUIDs of the aggregates host `h` is in (placement shows them on its provider).
    pub fn uuids_of_host(&self, topo: &Topology, h: HostIdx) -> Vec<Uuid> {
        match &self.0 {
            Some(s) => s.of_host(h).map(|a| a.uuid).collect(),
            None => topo.host_aggregates[h as usize].iter().map(|&a| topo.aggregates[a as usize].id).collect(),
        }
    }
}

/// Aggregate commands; admin only (`os_compute_api:os-aggregates:*`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmd {
    /// Creates an empty aggregate.
    Create {
        /// Its UUID, made by the shell.
        uuid: Uuid,
        /// Its name (1 to 255 characters, unique).
        name: String,
        /// The availability zone it names, if any.
        zone: Option<String>,
    },
    /// Renames an aggregate or changes the zone it names.
    Update {
        /// The aggregate.
        id: u32,
        /// A new name.
        name: Option<String>,
        /// A new zone: `Some(None)` clears it.
        zone: Option<Option<String>>,
    },
    /// Deletes an aggregate that holds no host.
    Delete {
        /// The aggregate.
        id: u32,
    },
    /// Adds a compute host.
    AddHost {
        /// The aggregate.
        id: u32,
        /// The host's name.
        host: String,
    },
    /// Removes a member host.
    RemoveHost {
        /// The aggregate.
        id: u32,
        /// The host's name.
        host: String,
    },
    /// Sets metadata keys; a `None` value deletes its key.
    SetMetadata {
        /// The aggregate.
        id: u32,
        /// The keys to set or delete.
        metadata: BTreeMap<String, Option<String>>,
    },
}

/// Aggregate replies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// The id of the aggregate changed or created.
    Aggregate(u32),
    /// The aggregate is gone.
    Deleted,
}

/// What a validated command does to the live set.
enum Plan {
    Insert(Aggregate),
    Replace(Aggregate),
    Remove(u32),
    Join(u32, HostIdx),
    Leave(u32, HostIdx),
}

/// Applies an aggregate command: validates against the live set, then changes it.
pub fn apply(k: &mut Cx, caller: &Caller, cmd: Cmd) -> Result<Reply> {
    let action = match &cmd {
        Cmd::Create { .. } => "create",
        Cmd::Update { .. } => "update",
        Cmd::Delete { .. } => "delete",
        Cmd::AddHost { .. } => "add_host",
        Cmd::RemoveHost { .. } => "remove_host",
        Cmd::SetMetadata { .. } => "set_metadata",
    };
    if !(caller.admin || caller.system) {
        return Err(super::forbidden(&format!("os-aggregates:{action}")));
    }
    let (topo, now, created) = (k.topology, k.now(), super::cloud_created(k.images));
    let plan = {
        let live = k.compute.aggregates.live(topo, created);
        plan(k, &live, cmd, now)?
    };
    let set = k.compute.aggregates.0.get_or_insert_with(|| Box::new(Set::seed(topo, created)));
    Ok(match plan {
        Plan::Insert(a) => {
            let id = a.id;
            set.next_id = id + 1;
            set.by_id.insert(id, a);
            Reply::Aggregate(id)
        }
        Plan::Replace(a) => {
            let id = a.id;
            set.by_id.insert(id, a);
            Reply::Aggregate(id)
        }
        Plan::Remove(id) => {
            set.by_id.remove(&id);
            Reply::Deleted
        }
        Plan::Join(id, h) => {
            set.join(id, h);
            touch(set, id, now);
            Reply::Aggregate(id)
        }
        Plan::Leave(id, h) => {
            set.leave(id, h);
            touch(set, id, now);
            Reply::Aggregate(id)
        }
    })
}

fn touch(set: &mut Set, id: u32, now: Time) {
    if let Some(a) = set.by_id.get_mut(&id) {
        a.updated_at = Some(now);
    }
}

/// Checks a command against the live set and says what it will change.
fn plan(k: &Cx, live: &Set, cmd: Cmd, now: Time) -> Result<Plan> {
    match cmd {
        Cmd::Create { uuid, name, zone } => {
            check_name(live, &name, None)?;
            let mut metadata = BTreeMap::new();
            if let Some(z) = zone {
                check_zone_name(&z)?;
                metadata.insert(ZONE_KEY.to_string(), z);
            }
            let id = live.next_id.max(1);
            Ok(Plan::Insert(Aggregate { id, uuid, name, metadata, hosts: BTreeSet::new(), created_at: now, updated_at: None }))
        }
        Cmd::Update { id, name, zone } => {
            let mut a = find(live, id)?.clone();
            if let Some(n) = name {
                check_name(live, &n, Some(id))?;
                a.name = n;
            }
            if let Some(z) = zone {
                set_zone(k, &mut a, z)?;
            }
            a.updated_at = Some(now);
            Ok(Plan::Replace(a))
        }
        Cmd::Delete { id } => {
            let a = find(live, id)?;
            if !a.hosts.is_empty() {
                return Err(Error::bad_request("compute.bad_request", format!("Cannot delete aggregate {id}. Reason: Host aggregate is not empty.")));
            }
            Ok(Plan::Remove(id))
        }
        Cmd::AddHost { id, host } => add_host(k, live, id, &host),
        Cmd::RemoveHost { id, host } => {
            let gone = || Error::not_found("compute.not_found", format!("Cannot remove host {host} in aggregate {id}"));
            let a = live.get(id).ok_or_else(gone)?;
            let h = k.topology.host_by_name.get(&host).copied().filter(|h| a.hosts.contains(h)).ok_or_else(gone)?;
            Ok(Plan::Leave(id, h))
        }
        Cmd::SetMetadata { id, metadata } => set_metadata(k, live, id, metadata, now),
    }
}

fn find(live: &Set, id: u32) -> Result<&Aggregate> {
    live.get(id).ok_or_else(|| Error::not_found("compute.not_found", format!("Aggregate {id} could not be found.")))
}

fn bad(msg: String) -> Error {
    Error::bad_request("compute.bad_request", msg)
}

/// A name must be 1 to 255 characters without surrounding spaces, and unused by other aggregates.
fn check_name(live: &Set, name: &str, except: Option<u32>) -> Result<()> {
    let n = name.chars().count();
    if n == 0 || n > MAX_LEN {
        return Err(bad(format!("Invalid input for field/attribute name. Value: {name}. It must be 1 to {MAX_LEN} characters long.")));
    }
    if name.trim() != name {
        return Err(bad(format!("Invalid input for field/attribute name. Value: {name}. It has leading or trailing whitespace.")));
    }
    if live.named(name).is_some_and(|a| Some(a.id) != except) {
        return Err(Error::conflict("compute.conflict", format!("Aggregate {name} already exists.")));
    }
    Ok(())
}

fn check_zone_name(z: &str) -> Result<()> {
    let n = z.chars().count();
    if n == 0 || n > MAX_LEN || z.trim() != z || z.contains(':') {
        return Err(bad(format!(
            "Invalid input for field/attribute availability_zone. Value: {z}. It must be 1 to {MAX_LEN} characters without ':' or surrounding spaces."
        )));
    }
    Ok(())
}

/// Sets or clears the zone `a` names, refusing a zone its hosts are not physically in.
fn set_zone(k: &Cx, a: &mut Aggregate, zone: Option<String>) -> Result<()> {
    match zone {
        None => {
            a.metadata.remove(ZONE_KEY);
        }
        Some(z) => {
            check_zone_name(&z)?;
            if let Some(&h) = a.hosts.iter().find(|&&h| k.topology.zone_of(h) != z) {
                let host = &k.topology.host(h).name;
                return Err(bad(format!(
                    "Cannot update aggregate {}. Reason: host {host} is physically in availability zone {}, and orrery's zones come from the topology.",
                    a.id,
                    k.topology.zone_of(h)
                )));
            }
            a.metadata.insert(ZONE_KEY.to_string(), z);
        }
    }
    Ok(())
}

fn add_host(k: &Cx, live: &Set, id: u32, host: &str) -> Result<Plan> {
    let a = find(live, id)?;
    let h = k
        .topology
        .host_by_name
        .get(host)
        .copied()
        .filter(|h| k.placement.by_host.contains_key(h))
        .ok_or_else(|| Error::not_found("compute.not_found", format!("Compute host {host} could not be found.")))?;
    if a.hosts.contains(&h) {
        return Err(Error::conflict("compute.conflict", format!("Aggregate {id} already has host {host}.")));
    }
    if let Some(z) = a.zone().filter(|&z| z != k.topology.zone_of(h)) {
        return Err(Error::conflict(
            "compute.conflict",
            format!(
                "Cannot add host to aggregate {id}. Reason: host {host} is physically in availability zone {}, not {z}, and orrery's zones come from the topology.",
                k.topology.zone_of(h)
            ),
        ));
    }
    Ok(Plan::Join(id, h))
}

fn set_metadata(k: &Cx, live: &Set, id: u32, metadata: BTreeMap<String, Option<String>>, now: Time) -> Result<Plan> {
    let mut a = find(live, id)?.clone();
    for (key, value) in metadata {
        if key.is_empty() || key.chars().count() > MAX_LEN || value.as_ref().is_some_and(|v| v.chars().count() > MAX_LEN) {
            return Err(bad(format!("Invalid input for field/attribute metadata. Key '{key}' or its value is empty or longer than {MAX_LEN} characters.")));
        }
        if key == ZONE_KEY {
            set_zone(k, &mut a, value)?;
        } else if let Some(v) = value {
            a.metadata.insert(key, v);
        } else {
            a.metadata.remove(&key);
        }
    }
    a.updated_at = Some(now);
    Ok(Plan::Replace(a))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Bootstrap;
    use crate::topology::{AggregateSpec, HostSpec, TopologySpec};
    use crate::{Auth, Command, InitSpec, Kernel, Request};

    /// Zone `az1` with one rack of two hosts, `az2` with one; aggregate `fast` holds `az1-r01-h01`.
    fn kernel() -> Kernel {
        let mut topology = TopologySpec::uniform("RegionOne", HostSpec::compute(4, 8192, 100), &[("az1", 1, 2), ("az2", 1, 1)]);
        topology.aggregate.push(AggregateSpec {
            name: "fast".into(),
            metadata: BTreeMap::from([("ssd".to_string(), "true".to_string())]),
            racks: vec![],
            hosts: vec!["az1-r01-h01".into()],
        });
        let mut k = Kernel::new();
        let init = InitSpec { seed: 5, topology, bootstrap: Bootstrap::new("admin", "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA") };
        k.apply(Time::from_secs(1_700_000_000), Request { auth: Auth::System, command: Command::Init(Box::new(init)) }).expect("init");
        k
    }

    fn admin() -> Caller {
        Caller::scoped(Uuid(0x7000), Uuid(0xabc9), &["admin", "member", "reader"])
    }

    fn run(k: &mut Kernel, c: &Caller, cmd: Cmd) -> Result<Reply> {
        crate::compute::apply(&mut k.cx(), c, crate::compute::Cmd::Aggregate(cmd)).map(|r| match r {
            crate::compute::Reply::Aggregate(r) => r,
            other => panic!("unexpected reply {other:?}"),
        })
    }

    fn live(k: &Kernel) -> Set {
        k.compute.aggregates.live(&k.topology, crate::compute::cloud_created(&k.images)).into_owned()
    }

    #[test]
    fn the_seed_is_hashed_as_nothing_until_the_first_write() {
        let mut k = kernel();
        assert!(k.compute.aggregates.is_seed());
        let before = k.state_hash();
        let refused = run(&mut k, &admin(), Cmd::AddHost { id: 1, host: "nope".into() });
        assert_eq!(refused.unwrap_err().code, "compute.not_found");
        assert!(k.compute.aggregates.is_seed(), "a refused command copies nothing");
        assert_eq!(k.state_hash(), before);
        let seed = live(&k);
        assert_eq!(seed.get(1).map(|a| a.name.as_str()), Some("fast"));
        assert_eq!(run(&mut k, &admin(), Cmd::Create { uuid: Uuid(0x99), name: "b".into(), zone: None }), Ok(Reply::Aggregate(2)));
        assert!(!k.compute.aggregates.is_seed());
        assert_ne!(k.state_hash(), before);
        assert_eq!(live(&k).get(1).map(|a| (a.uuid, a.hosts.len())), Some((seed.get(1).unwrap().uuid, 1)));
    }

    #[test]
    fn hosts_join_and_leave_and_the_scheduler_index_follows() {
        let mut k = kernel();
        let h2 = k.topology.host_by_name["az1-r01-h02"];
        assert!(!k.compute.aggregates.host_has(&k.topology, h2, "ssd", |v| v == "true"));
        run(&mut k, &admin(), Cmd::AddHost { id: 1, host: "az1-r01-h02".into() }).unwrap();
        assert!(k.compute.aggregates.host_has(&k.topology, h2, "ssd", |v| v == "true"));
        assert_eq!(run(&mut k, &admin(), Cmd::AddHost { id: 1, host: "az1-r01-h02".into() }).unwrap_err().code, "compute.conflict");
        assert_eq!(run(&mut k, &admin(), Cmd::Delete { id: 1 }).unwrap_err().code, "compute.bad_request");
        let meta = BTreeMap::from([("ssd".to_string(), None), ("gpu".to_string(), Some("1".to_string()))]);
        run(&mut k, &admin(), Cmd::SetMetadata { id: 1, metadata: meta }).unwrap();
        assert!(!k.compute.aggregates.host_has(&k.topology, h2, "ssd", |_| true));
        assert!(k.compute.aggregates.host_has(&k.topology, h2, "gpu", |v| v == "1"));
        for h in ["az1-r01-h01", "az1-r01-h02"] {
            run(&mut k, &admin(), Cmd::RemoveHost { id: 1, host: h.into() }).unwrap();
        }
        assert_eq!(run(&mut k, &admin(), Cmd::RemoveHost { id: 1, host: "az1-r01-h02".into() }).unwrap_err().code, "compute.not_found");
        assert!(live(&k).by_host.is_empty());
        assert_eq!(run(&mut k, &admin(), Cmd::Delete { id: 1 }), Ok(Reply::Deleted));
        assert_eq!(run(&mut k, &admin(), Cmd::Delete { id: 1 }).unwrap_err().code, "compute.not_found");
    }

    #[test]
    fn names_zones_and_policy() {
        let mut k = kernel();
        let member = Caller::scoped(Uuid(0x5001), Uuid(0xabc1), &["member", "reader"]);
        assert_eq!(run(&mut k, &member, Cmd::Create { uuid: Uuid(1), name: "x".into(), zone: None }).unwrap_err().code, "compute.forbidden");
        assert_eq!(run(&mut k, &admin(), Cmd::Create { uuid: Uuid(1), name: "fast".into(), zone: None }).unwrap_err().code, "compute.conflict");
        assert_eq!(run(&mut k, &admin(), Cmd::Create { uuid: Uuid(1), name: String::new(), zone: None }).unwrap_err().code, "compute.bad_request");
        assert_eq!(run(&mut k, &admin(), Cmd::Create { uuid: Uuid(1), name: "a".repeat(256), zone: None }).unwrap_err().code, "compute.bad_request");
        run(&mut k, &admin(), Cmd::Create { uuid: Uuid(1), name: "z2".into(), zone: Some("az2".into()) }).unwrap();
        let wrong_zone = run(&mut k, &admin(), Cmd::AddHost { id: 2, host: "az1-r01-h01".into() });
        assert_eq!(wrong_zone.unwrap_err().code, "compute.conflict");
        run(&mut k, &admin(), Cmd::AddHost { id: 2, host: "az2-r01-h01".into() }).unwrap();
        let moved = run(&mut k, &admin(), Cmd::Update { id: 2, name: None, zone: Some(Some("az1".into())) });
        assert_eq!(moved.unwrap_err().code, "compute.bad_request");
        run(&mut k, &admin(), Cmd::Update { id: 2, name: Some("renamed".into()), zone: Some(None) }).unwrap();
        let a = live(&k).get(2).cloned().unwrap();
        assert_eq!((a.name.as_str(), a.zone(), a.updated_at.is_some()), ("renamed", None, true));
    }
}
