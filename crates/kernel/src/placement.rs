//! Placement: resource providers (one per compute host), inventories, allocations per consumer,
//! usages, and a capacity index the scheduler walks best-first instead of scanning every host.

pub mod views;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::ids::Uuid;
use crate::topology::{AllocationSpec, HostIdx, Ratio, Role, SchedulerSpec, Strategy, Topology};
use crate::{Caller, Error, Result};

/// Number of standard resource classes modelled.
pub const NUM_CLASSES: usize = 4;
/// The standard resource classes, in the order of every `[u64; NUM_CLASSES]` array.
pub const CLASSES: [&str; NUM_CLASSES] = ["VCPU", "MEMORY_MB", "DISK_GB", "VGPU"];
/// Index of VCPU in resource arrays.
pub const VCPU: usize = 0;
/// Index of MEMORY_MB in resource arrays.
pub const MEMORY_MB: usize = 1;
/// Index of DISK_GB in resource arrays.
pub const DISK_GB: usize = 2;
/// Index of VGPU in resource arrays.
pub const VGPU: usize = 3;

/// An amount of every resource class.
pub type Resources = [u64; NUM_CLASSES];

/// The index of a resource class name, if it is one this model knows.
pub fn class_index(name: &str) -> Option<usize> {
    CLASSES.iter().position(|c| *c == name)
}

/// One inventory record of a provider.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Inventory {
    /// Physical amount.
    pub total: u64,
    /// Amount held back.
    pub reserved: u64,
    /// Smallest single allocation.
    pub min_unit: u64,
    /// Largest single allocation.
    pub max_unit: u64,
    /// Allocations must be a multiple of this.
    pub step_size: u64,
    /// Overcommit factor.
    pub allocation_ratio: Ratio,
}

impl Inventory {
    /// A plain inventory: `total` units, `reserved` held back, at `ratio`.
    pub fn new(total: u64, reserved: u64, ratio: Ratio) -> Inventory {
        Inventory { total, reserved, min_unit: 1, max_unit: total, step_size: 1, allocation_ratio: ratio }
    }
    /// How much may be allocated in all: (total − reserved) × ratio, rounded down.
    pub fn capacity(&self) -> u64 {
        (self.total.saturating_sub(self.reserved) as f64 * self.allocation_ratio.0) as u64
    }
    /// Why `amount` is not a valid single allocation against this inventory, if it is not.
    fn check_unit(&self, class: usize, amount: u64) -> Result<()> {
        if amount < self.min_unit || amount > self.max_unit || !amount.is_multiple_of(self.step_size.max(1)) {
            return Err(Error::bad_request(
                "placement.bad_request",
                format!(
                    "Unable to allocate inventory: {} amount {amount} violates min_unit {}, max_unit {} or step_size {}.",
                    CLASSES[class], self.min_unit, self.max_unit, self.step_size
                ),
            ));
        }
        Ok(())
    }
}

/// A resource provider.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Provider {
    /// Its UUID (the host's id for compute hosts).
    pub uuid: Uuid,
    /// Its name (the hostname for compute hosts).
    pub name: String,
    /// Bumped on every inventory change, for optimistic concurrency.
    pub generation: u64,
    /// The host it stands for, if any.
    pub host: Option<HostIdx>,
    /// Inventory per class, where the provider has that class.
    pub inventories: [Option<Inventory>; NUM_CLASSES],
    /// Amount allocated per class.
    pub usage: Resources,
}

impl Provider {
    /// Free capacity per class (zero where there is no inventory).
    pub fn free(&self) -> Resources {
        let mut out = [0; NUM_CLASSES];
        for (c, inv) in self.inventories.iter().enumerate() {
            if let Some(inv) = inv {
                out[c] = inv.capacity().saturating_sub(self.usage[c]);
            }
        }
        out
    }
    /// Whether `req` fits in what is free, honouring unit constraints.
    pub fn fits(&self, req: &Resources) -> bool {
        let free = self.free();
        (0..NUM_CLASSES)
            .all(|c| req[c] == 0 || self.inventories[c].as_ref().is_some_and(|inv| req[c] <= free[c] && req[c] >= inv.min_unit && req[c] <= inv.max_unit))
    }
}

/// A consumer's amounts per provider index: a sorted vector, since a consumer nearly always
/// uses one provider and a `BTreeMap` node would cost ten times the memory (100k servers).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Allocs(Vec<(u32, Resources)>);

impl Allocs {
    /// The amounts on provider `idx`, if any.
    pub fn get(&self, idx: &u32) -> Option<&Resources> {
        self.0.binary_search_by_key(idx, |e| e.0).ok().map(|i| &self.0[i].1)
    }
    /// (provider, amounts) pairs in provider order.
    pub fn iter(&self) -> impl Iterator<Item = (&u32, &Resources)> {
        self.0.iter().map(|(i, r)| (i, r))
    }
    /// The amounts, in provider order.
    pub fn values(&self) -> impl Iterator<Item = &Resources> {
        self.0.iter().map(|(_, r)| r)
    }
    /// Provider indexes, in order.
    pub fn keys(&self) -> impl Iterator<Item = &u32> {
        self.0.iter().map(|(i, _)| i)
    }
    /// Whether there are no allocations.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// How many providers are used.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl<'a> IntoIterator for &'a Allocs {
    type Item = (&'a u32, &'a Resources);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (u32, Resources)>, fn(&'a (u32, Resources)) -> (&'a u32, &'a Resources)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(i, r)| (i, r))
    }
}

impl From<BTreeMap<u32, Resources>> for Allocs {
    fn from(m: BTreeMap<u32, Resources>) -> Allocs {
        let mut v: Vec<_> = m.into_iter().collect();
        v.shrink_to_fit();
        Allocs(v)
    }
}

impl From<Allocs> for BTreeMap<u32, Resources> {
    fn from(a: Allocs) -> Self {
        a.0.into_iter().collect()
    }
}

impl From<&Allocs> for BTreeMap<u32, Resources> {
    fn from(a: &Allocs) -> Self {
        a.0.iter().copied().collect()
    }
}

impl Serialize for Allocs {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(i, r)| (i, r)))
    }
}

impl<'de> Deserialize<'de> for Allocs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Allocs, D::Error> {
        BTreeMap::<u32, Resources>::deserialize(d).map(Allocs::from)
    }
}

/// A consumer's allocations (a server, or a migration holding the source side of a resize).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Consumer {
    /// The owning project.
    pub project: Uuid,
    /// The owning user.
    pub user: Uuid,
    /// Bumped on every change.
    pub generation: u64,
    /// Amounts per provider index.
    pub allocations: Allocs,
}

/// The best-first order of schedulable providers, kept in step with every usage change.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CapacityIndex {
    strategy: Strategy,
    weights: [Ratio; 3],
    /// Current key of each indexed provider, by provider index.
    keys: BTreeMap<u32, u64>,
    /// Zone of each provider, by provider index.
    zone_of: Vec<u32>,
    /// (key, provider) per zone.
    by_zone: Vec<BTreeSet<(u64, u32)>>,
    /// (key, provider) over all zones.
    all: BTreeSet<(u64, u32)>,
}

impl CapacityIndex {
    fn key(&self, p: &Provider) -> u64 {
        let free = p.free();
        match self.strategy {
            // Pack walks up from the smallest free RAM that still fits.
            Strategy::Pack => free[MEMORY_MB],
            // Spread walks down from the emptiest host by weighted free fraction.
            Strategy::Spread => {
                let mut score = 0.0;
                for (c, w) in [VCPU, MEMORY_MB, DISK_GB].into_iter().zip(self.weights) {
                    if let Some(inv) = &p.inventories[c] {
                        let cap = inv.capacity().max(1) as f64;
                        score += w.0 * free[c] as f64 / cap;
                    }
                }
                (score.max(0.0) * 1e9) as u64
            }
        }
    }

    fn insert(&mut self, idx: u32, p: &Provider) {
        let key = self.key(p);
        self.keys.insert(idx, key);
        self.all.insert((key, idx));
        self.by_zone[self.zone_of[idx as usize] as usize].insert((key, idx));
    }

    fn remove(&mut self, idx: u32) {
        if let Some(key) = self.keys.remove(&idx) {
            self.all.remove(&(key, idx));
            self.by_zone[self.zone_of[idx as usize] as usize].remove(&(key, idx));
        }
    }

    fn refresh(&mut self, idx: u32, p: &Provider) {
        if self.keys.contains_key(&idx) {
            self.remove(idx);
            self.insert(idx, p);
        }
    }

    /// Indexed providers best-first for a request needing `ram` MiB, within `zone` if given.
    fn walk(&self, zone: Option<u32>, ram: u64) -> Box<dyn Iterator<Item = u32> + '_> {
        let set = match zone {
            Some(z) => match self.by_zone.get(z as usize) {
                Some(s) => s,
                None => return Box::new(std::iter::empty()),
            },
            None => &self.all,
        };
        match self.strategy {
            Strategy::Pack => Box::new(set.range((ram, 0)..).map(|&(_, i)| i)),
            Strategy::Spread => Box::new(set.iter().rev().map(|&(_, i)| i)),
        }
    }
}

/// Placement state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Placement {
    /// Providers; a provider index indexes this. Deleted providers leave a `None`.
    pub providers: Vec<Option<Provider>>,
    /// Provider index by UUID.
    pub by_uuid: BTreeMap<Uuid, u32>,
    /// Provider index by host.
    pub by_host: BTreeMap<HostIdx, u32>,
    /// Consumers by UUID.
    pub consumers: BTreeMap<Uuid, Consumer>,
    /// The scheduler's best-first order.
    pub index: CapacityIndex,
}

impl Placement {
    /// One provider per compute host, with VCPU, MEMORY_MB, DISK_GB (and VGPU) inventories.
    pub fn from_topology(t: &Topology, alloc: &AllocationSpec, sched: &SchedulerSpec) -> Placement {
        let mut p = Placement {
            index: CapacityIndex {
                strategy: sched.strategy,
                weights: [sched.cpu_weight, sched.ram_weight, sched.disk_weight],
                by_zone: vec![BTreeSet::new(); t.zones.len()],
                ..Default::default()
            },
            ..Default::default()
        };
        for (hi, h) in t.hosts.iter().enumerate() {
            if h.spec.role != Role::Compute {
                continue;
            }
            let mut inventories: [Option<Inventory>; NUM_CLASSES] = Default::default();
            inventories[VCPU] = Some(Inventory::new(h.spec.vcpus.into(), alloc.reserved_vcpus.into(), alloc.cpu_ratio));
            inventories[MEMORY_MB] = Some(Inventory::new(h.spec.ram, alloc.reserved_ram, alloc.ram_ratio));
            inventories[DISK_GB] = Some(Inventory::new(h.spec.disk, alloc.reserved_disk, alloc.disk_ratio));
            if h.spec.gpus > 0 {
                inventories[VGPU] = Some(Inventory::new(h.spec.gpus.into(), 0, Ratio(1.0)));
            }
            let prov = Provider { uuid: h.id, name: h.name.clone(), generation: 1, host: Some(hi as HostIdx), inventories, usage: [0; NUM_CLASSES] };
            let idx = p.push_provider(prov, h.zone);
            p.by_host.insert(hi as HostIdx, idx);
            p.index.insert(idx, p.providers[idx as usize].as_ref().expect("just pushed"));
        }
        // Built by pushing: give back the doubling slack (2 MiB at 10,000 hosts).
        p.providers.shrink_to_fit();
        p
    }

    fn push_provider(&mut self, prov: Provider, zone: u32) -> u32 {
        let idx = self.providers.len() as u32;
        self.by_uuid.insert(prov.uuid, idx);
        self.providers.push(Some(prov));
        self.index.zone_of.push(zone);
        idx
    }

    /// The provider at `idx`, if it exists.
    pub fn provider(&self, idx: u32) -> Option<&Provider> {
        self.providers.get(idx as usize).and_then(|p| p.as_ref())
    }

    /// The provider with `uuid`, if it exists.
    pub fn provider_by_uuid(&self, uuid: &Uuid) -> Option<(u32, &Provider)> {
        let idx = *self.by_uuid.get(uuid)?;
        self.provider(idx).map(|p| (idx, p))
    }

    fn provider_mut(&mut self, idx: u32) -> &mut Provider {
        self.providers[idx as usize].as_mut().expect("provider index refers to a live provider")
    }

    /// Providers of hosts the scheduler may use, best-first for the strategy in force,
    /// restricted to `zone` if given and to those where `req` fits.
    pub fn candidates<'a>(&'a self, zone: Option<u32>, req: &'a Resources) -> impl Iterator<Item = u32> + 'a {
        self.index.walk(zone, req[MEMORY_MB]).filter(move |&i| self.provider(i).is_some_and(|p| p.fits(req)))
    }

    /// Whether a host's provider is in the scheduler's index (its host is up and enabled).
    pub fn is_schedulable(&self, host: HostIdx) -> bool {
        self.by_host.get(&host).is_some_and(|idx| self.index.keys.contains_key(idx))
    }

    /// Adds or removes a host's provider from the scheduler's index (host up/enabled changes).
    pub fn set_schedulable(&mut self, host: HostIdx, on: bool) {
        let Some(&idx) = self.by_host.get(&host) else { return };
        if on {
            if !self.index.keys.contains_key(&idx) {
                let p = self.providers[idx as usize].as_ref().expect("host provider exists");
                self.index.insert(idx, p);
            }
        } else {
            self.index.remove(idx);
        }
    }

    /// Replaces all of a consumer's allocations, all or nothing. An empty map deletes them.
    pub fn set_allocations(&mut self, consumer: Uuid, project: Uuid, user: Uuid, allocs: impl Into<Allocs>) -> Result<()> {
        let allocs: Allocs = allocs.into();
        let old = self.consumers.get(&consumer).map(|c| c.allocations.clone()).unwrap_or_default();
        self.check_fit(&old, &allocs)?;
        self.apply_delta(&old, false);
        self.apply_delta(&allocs, true);
        if allocs.is_empty() {
            self.consumers.remove(&consumer);
        } else {
            let generation = self.consumers.get(&consumer).map_or(1, |c| c.generation + 1);
            self.consumers.insert(consumer, Consumer { project, user, generation, allocations: allocs });
        }
        Ok(())
    }

    /// Compute's claim port: claims `res` on each of `hosts` for `consumer` at once, replacing
    /// whatever it held (one host to boot or migrate; source and destination while evacuating).
    /// All or nothing: a host without a provider or without room is a conflict.
    pub fn claim_on_hosts(&mut self, consumer: Uuid, project: Uuid, user: Uuid, hosts: &[HostIdx], res: &Resources) -> Result<()> {
        let mut allocs = BTreeMap::new();
        for h in hosts {
            let prov = *self.by_host.get(h).ok_or_else(|| Error::conflict("placement.conflict", format!("Host {h} has no resource provider.")))?;
            allocs.insert(prov, *res);
        }
        self.set_allocations(consumer, project, user, allocs)
    }

    /// Compute's move port: hands everything consumer `from` holds to consumer `to`, which must
    /// hold nothing (Nova's migration consumer taking over the source host's allocations, and
    /// giving them back on revert). Usage does not change.
    pub fn move_allocations(&mut self, from: &Uuid, to: Uuid) {
        debug_assert!(!self.consumers.contains_key(&to) || from == &to, "consumer {to} already holds allocations");
        let Some(c) = self.consumers.remove(from) else { return };
        let generation = self.consumers.get(&to).map_or(1, |t| t.generation + 1);
        self.consumers.insert(to, Consumer { generation, ..c });
    }

    /// Compute's trim port: drops `consumer`'s allocations on every provider but `host`'s (a
    /// server back on its host, or rebuilt elsewhere, lets go of the other claim).
    pub fn keep_only(&mut self, consumer: &Uuid, host: HostIdx) {
        let Some(&prov) = self.by_host.get(&host) else { return };
        let Some(c) = self.consumers.get(consumer) else { return };
        if c.allocations.len() <= 1 {
            return;
        }
        // Keeping part of what is held is always legal, so this changes the records directly
        // instead of re-checking the kept amounts against today's inventory units.
        let (keep, drop): (BTreeMap<u32, Resources>, BTreeMap<u32, Resources>) = c.allocations.iter().map(|(&p, r)| (p, *r)).partition(|(p, _)| *p == prov);
        self.apply_delta(&drop, false);
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.allocations = keep.into();
            c.generation += 1;
            if c.allocations.is_empty() {
                self.consumers.remove(consumer);
            }
        }
    }

    /// Compute's release port: frees every allocation of a consumer.
    pub fn free(&mut self, consumer: &Uuid) {
        if let Some(c) = self.consumers.remove(consumer) {
            self.apply_delta(&c.allocations, false);
        }
    }

    /// Checks the new allocations fit once the consumer's old ones are released.
    fn check_fit(&self, old: &Allocs, new: &Allocs) -> Result<()> {
        for (&idx, req) in new {
            let p = self.provider(idx).ok_or_else(|| Error::bad_request("placement.bad_request", format!("Resource provider index {idx} does not exist.")))?;
            let released = old.get(&idx).copied().unwrap_or([0; NUM_CLASSES]);
            for c in 0..NUM_CLASSES {
                if req[c] == 0 {
                    continue;
                }
                let inv = p.inventories[c].as_ref().ok_or_else(|| {
                    Error::bad_request(
                        "placement.bad_request",
                        format!("Unable to allocate inventory: resource provider {} has no inventory of class {}.", p.uuid, CLASSES[c]),
                    )
                })?;
                inv.check_unit(c, req[c])?;
                let used = p.usage[c] - released[c];
                if used + req[c] > inv.capacity() {
                    return Err(Error::conflict("placement.over_capacity", format!(
                        "Unable to allocate inventory: unable to create allocation for '{}' on resource provider '{}'. The requested amount would exceed the capacity.",
                        CLASSES[c], p.uuid
                    )));
                }
            }
        }
        Ok(())
    }

    fn apply_delta<'a>(&mut self, allocs: impl IntoIterator<Item = (&'a u32, &'a Resources)>, add: bool) {
        for (&idx, amount) in allocs {
            let p = self.provider_mut(idx);
            for (used, &delta) in p.usage.iter_mut().zip(amount) {
                if add {
                    *used += delta;
                } else {
                    assert!(*used >= delta, "placement usage would go negative");
                    *used -= delta;
                }
            }
            let p = self.providers[idx as usize].as_ref().expect("live provider");
            self.index.refresh(idx, p);
        }
    }

    /// Total usage per class over consumers of `project`.
    pub fn project_usage(&self, project: &Uuid) -> Resources {
        let mut out = [0; NUM_CLASSES];
        for c in self.consumers.values().filter(|c| &c.project == project) {
            for r in c.allocations.values() {
                for i in 0..NUM_CLASSES {
                    out[i] += r[i];
                }
            }
        }
        out
    }

    /// Checks the placement invariants: usage equals the sum of allocations, and no provider
    /// is allocated beyond capacity. Used by tests and debug assertions.
    pub fn check_invariants(&self) -> std::result::Result<(), String> {
        let mut sums: BTreeMap<u32, Resources> = BTreeMap::new();
        for c in self.consumers.values() {
            for (&idx, r) in &c.allocations {
                let s = sums.entry(idx).or_insert([0; NUM_CLASSES]);
                for i in 0..NUM_CLASSES {
                    s[i] += r[i];
                }
            }
        }
        for (idx, p) in self.providers.iter().enumerate() {
            let Some(p) = p else { continue };
            let s = sums.get(&(idx as u32)).copied().unwrap_or([0; NUM_CLASSES]);
            if s != p.usage {
                return Err(format!("provider {} usage {:?} != sum of allocations {:?}", p.name, p.usage, s));
            }
            for ((class, inv), &used) in CLASSES.iter().zip(&p.inventories).zip(&p.usage) {
                let cap = inv.as_ref().map_or(0, Inventory::capacity);
                if used > cap {
                    return Err(format!("provider {} {class} usage {used} exceeds capacity {cap}", p.name));
                }
            }
        }
        Ok(())
    }
}

/// An inventory as written in a request.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InventoryInput {
    /// Resource class name.
    pub class: String,
    /// The inventory.
    pub inventory: Inventory,
}

/// Placement commands. All need the admin role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmd {
    /// Creates a provider that stands for no host (for example a shared storage pool).
    CreateProvider {
        /// Its UUID.
        uuid: Uuid,
        /// Its unique name.
        name: String,
    },
    /// Deletes a provider that has no allocations and stands for no host.
    DeleteProvider {
        /// Its UUID.
        uuid: Uuid,
    },
    /// Replaces a provider's inventories; `generation` must match.
    SetInventories {
        /// The provider.
        uuid: Uuid,
        /// The generation the caller last saw.
        generation: u64,
        /// The new inventories.
        inventories: Vec<InventoryInput>,
    },
    /// Replaces a consumer's allocations; an empty list deletes them.
    SetAllocations {
        /// The consumer.
        consumer: Uuid,
        /// Its project.
        project: Uuid,
        /// Its user.
        user: Uuid,
        /// (provider UUID, class name, amount) triples.
        allocations: Vec<(Uuid, String, u64)>,
    },
    /// Renames a provider; the name must be unused. Bumps its generation.
    RenameProvider {
        /// The provider.
        uuid: Uuid,
        /// Its new name.
        name: String,
    },
    /// Replaces the allocations of several consumers at once, all or nothing, checking each
    /// consumer's generation where one is given (the Placement API's `POST /allocations` and
    /// `PUT /allocations/{consumer}` from microversion 1.28).
    SetConsumers {
        /// The consumers and their new allocations.
        consumers: Vec<ConsumerAllocations>,
    },
    /// Deletes every allocation of a consumer (`DELETE /allocations/{consumer}`); Placement's
    /// 404 if it holds none.
    DeleteAllocations {
        /// The consumer.
        consumer: Uuid,
    },
}

/// One consumer's new allocations inside [`Cmd::SetConsumers`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerAllocations {
    /// The consumer.
    pub consumer: Uuid,
    /// Its project.
    pub project: Uuid,
    /// Its user.
    pub user: Uuid,
    /// The generation the caller last saw: `None` skips the check, `Some(None)` claims the
    /// consumer is new.
    pub generation: Option<Option<u64>>,
    /// (provider UUID, class name, amount) triples; empty deletes the consumer's allocations.
    pub allocations: Vec<(Uuid, String, u64)>,
}

/// Placement replies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// A provider's new generation.
    Generation(u64),
}

/// Placement's write port for other services: what compute may do to placement's state
/// (claim, move, trim, release, and take hosts in and out of the scheduler's index). Reads go
/// through [`std::ops::Deref`] to the whole, read-only [`Placement`]; there is no `DerefMut`, so
/// nothing else can be changed through the port.
pub struct Port<'a>(&'a mut Placement);

impl<'a> Port<'a> {
    /// The port over placement's state.
    pub(crate) fn new(p: &'a mut Placement) -> Port<'a> {
        Port(p)
    }

    /// Claims `res` on each of `hosts` for `consumer` at once (see [`Placement::claim_on_hosts`]).
    pub fn claim_on_hosts(&mut self, consumer: Uuid, project: Uuid, user: Uuid, hosts: &[HostIdx], res: &Resources) -> Result<()> {
        self.0.claim_on_hosts(consumer, project, user, hosts, res)
    }

    /// Hands everything `from` holds to `to` (see [`Placement::move_allocations`]).
    pub fn move_allocations(&mut self, from: &Uuid, to: Uuid) {
        self.0.move_allocations(from, to)
    }

    /// Drops `consumer`'s allocations on every provider but `host`'s (see [`Placement::keep_only`]).
    pub fn keep_only(&mut self, consumer: &Uuid, host: HostIdx) {
        self.0.keep_only(consumer, host)
    }

    /// Frees every allocation of `consumer`.
    pub fn free(&mut self, consumer: &Uuid) {
        self.0.free(consumer)
    }

    /// Adds or removes a host's provider from the scheduler's index.
    pub fn set_schedulable(&mut self, host: HostIdx, on: bool) {
        self.0.set_schedulable(host, on)
    }
}

impl std::ops::Deref for Port<'_> {
    type Target = Placement;
    fn deref(&self) -> &Placement {
        self.0
    }
}

/// Applies a placement command: placement's handlers borrow only placement's state.
pub fn apply(p: &mut Placement, caller: &Caller, cmd: Cmd) -> Result<Reply> {
    views::check_reader(caller)?;
    match cmd {
        Cmd::CreateProvider { uuid, name } => {
            if p.by_uuid.contains_key(&uuid) || p.providers.iter().flatten().any(|x| x.name == name) {
                return Err(Error::conflict("placement.duplicate_name", format!("Conflicting resource provider name: {name} already exists.")));
            }
            let prov = Provider { uuid, name, generation: 0, host: None, inventories: Default::default(), usage: [0; NUM_CLASSES] };
            p.push_provider(prov, 0);
            Ok(Reply::Generation(0))
        }
        Cmd::DeleteProvider { uuid } => delete_provider(p, uuid),
        Cmd::SetInventories { uuid, generation, inventories } => set_inventories(p, uuid, generation, inventories),
        Cmd::SetAllocations { consumer, project, user, allocations } => {
            let mut map: BTreeMap<u32, Resources> = BTreeMap::new();
            for (rp, class, amount) in allocations {
                let (idx, _) = p
                    .provider_by_uuid(&rp)
                    .ok_or_else(|| Error::bad_request("placement.bad_request", format!("Allocation for resource provider '{rp}' that does not exist.")))?;
                let c = class_index(&class)
                    .ok_or_else(|| Error::bad_request("placement.bad_request", format!("Unknown resource class in allocation: {class}.")))?;
                map.entry(idx).or_insert([0; NUM_CLASSES])[c] += amount;
            }
            p.set_allocations(consumer, project, user, map)?;
            Ok(Reply::Generation(p.consumers.get(&consumer).map_or(0, |c| c.generation)))
        }
        Cmd::RenameProvider { uuid, name } => rename_provider(p, uuid, name),
        Cmd::SetConsumers { consumers } => set_consumers(p, consumers),
        Cmd::DeleteAllocations { consumer } => {
            if !p.consumers.contains_key(&consumer) {
                return Err(Error::not_found("placement.not_found", format!("No allocations for consumer '{consumer}'")));
            }
            p.free(&consumer);
            Ok(Reply::Generation(0))
        }
    }
}

fn rename_provider(p: &mut Placement, uuid: Uuid, name: String) -> Result<Reply> {
    let (idx, _) = p.provider_by_uuid(&uuid).ok_or_else(|| Error::not_found("placement.not_found", format!("No resource provider with uuid {uuid} found")))?;
    if name.is_empty() || name.chars().count() > 200 {
        return Err(Error::bad_request("placement.bad_request", "Resource provider names are 1 to 200 characters long.".into()));
    }
    if p.providers.iter().flatten().any(|x| x.name == name && x.uuid != uuid) {
        return Err(Error::conflict("placement.duplicate_name", format!("Conflicting resource provider name: {name} already exists.")));
    }
    let prov = p.provider_mut(idx);
    prov.name = name;
    prov.generation += 1;
    Ok(Reply::Generation(prov.generation))
}

/// Validates every consumer's allocations against the combined effect of the whole batch,
/// then releases all old allocations and adds all new ones.
fn set_consumers(p: &mut Placement, batch: Vec<ConsumerAllocations>) -> Result<Reply> {
    let mut maps: Vec<BTreeMap<u32, Resources>> = Vec::with_capacity(batch.len());
    let mut seen = BTreeSet::new();
    for ca in &batch {
        if !seen.insert(ca.consumer) {
            return Err(Error::bad_request("placement.bad_request", format!("Consumer {} appears twice in one request.", ca.consumer)));
        }
        let current = p.consumers.get(&ca.consumer).map(|c| c.generation);
        if let Some(expected) = ca.generation {
            if expected != current {
                let show = |g: Option<u64>| g.map_or("null".to_string(), |g| g.to_string());
                return Err(Error::conflict(
                    "placement.concurrent_update",
                    format!("consumer generation conflict - expected {} but got {}", show(expected), show(current)),
                ));
            }
        }
        let mut map: BTreeMap<u32, Resources> = BTreeMap::new();
        for (rp, class, amount) in &ca.allocations {
            let (idx, prov) = p
                .provider_by_uuid(rp)
                .ok_or_else(|| Error::bad_request("placement.bad_request", format!("Allocation for resource provider '{rp}' that does not exist.")))?;
            let c = class_index(class).ok_or_else(|| Error::bad_request("placement.bad_request", format!("Unknown resource class in allocation: {class}.")))?;
            let inv = prov.inventories[c].as_ref().ok_or_else(|| {
                Error::bad_request("placement.bad_request", format!("Unable to allocate inventory: resource provider {rp} has no inventory of class {class}."))
            })?;
            inv.check_unit(c, *amount)?;
            map.entry(idx).or_insert([0; NUM_CLASSES])[c] += amount;
        }
        maps.push(map);
    }
    let mut delta: BTreeMap<u32, ([u64; NUM_CLASSES], [u64; NUM_CLASSES])> = BTreeMap::new();
    for (ca, new) in batch.iter().zip(&maps) {
        for (&idx, r) in p.consumers.get(&ca.consumer).map(|c| &c.allocations).into_iter().flatten() {
            let d = delta.entry(idx).or_default();
            (0..NUM_CLASSES).for_each(|c| d.0[c] += r[c]);
        }
        for (&idx, r) in new {
            let d = delta.entry(idx).or_default();
            (0..NUM_CLASSES).for_each(|c| d.1[c] += r[c]);
        }
    }
    for (&idx, (released, added)) in &delta {
        let prov = p.provider(idx).expect("batch names live providers");
        for c in 0..NUM_CLASSES {
            let cap = prov.inventories[c].as_ref().map_or(0, |i| i.capacity());
            if added[c] > released[c] && prov.usage[c] - released[c] + added[c] > cap {
                return Err(Error::conflict("placement.over_capacity", format!(
                    "Unable to allocate inventory: unable to create allocation for '{}' on resource provider '{}'. The requested amount would exceed the capacity.",
                    CLASSES[c], prov.uuid
                )));
            }
        }
    }
    for ca in &batch {
        if let Some(old) = p.consumers.get(&ca.consumer).map(|c| c.allocations.clone()) {
            p.apply_delta(&old, false);
        }
    }
    for (ca, new) in batch.into_iter().zip(maps) {
        p.apply_delta(&new, true);
        let generation = p.consumers.get(&ca.consumer).map_or(1, |c| c.generation + 1);
        if new.is_empty() {
            p.consumers.remove(&ca.consumer);
        } else {
            p.consumers.insert(ca.consumer, Consumer { project: ca.project, user: ca.user, generation, allocations: new.into() });
        }
    }
    Ok(Reply::Generation(0))
}

fn delete_provider(p: &mut Placement, uuid: Uuid) -> Result<Reply> {
    let (idx, prov) =
        p.provider_by_uuid(&uuid).ok_or_else(|| Error::not_found("placement.not_found", format!("No resource provider with uuid {uuid} found for delete")))?;
    if prov.host.is_some() {
        return Err(Error::conflict("placement.resource_provider.inuse", format!("Unable to delete resource provider {uuid}: it stands for a compute host.")));
    }
    if prov.usage.iter().any(|&u| u > 0) {
        return Err(Error::conflict(
            "placement.resource_provider.inuse",
            format!("Unable to delete resource provider {uuid}: Resource provider has allocations."),
        ));
    }
    p.by_uuid.remove(&uuid);
    p.providers[idx as usize] = None;
    Ok(Reply::Generation(0))
}

fn set_inventories(p: &mut Placement, uuid: Uuid, generation: u64, inventories: Vec<InventoryInput>) -> Result<Reply> {
    let (idx, prov) =
        p.provider_by_uuid(&uuid).ok_or_else(|| Error::not_found("placement.not_found", format!("No resource provider with uuid {uuid} found")))?;
    if prov.generation != generation {
        return Err(Error::conflict(
            "placement.concurrent_update",
            format!("resource provider generation conflict: {uuid} is at generation {}, not {generation}", prov.generation),
        ));
    }
    let mut new: [Option<Inventory>; NUM_CLASSES] = Default::default();
    for input in inventories {
        let c = class_index(&input.class).ok_or_else(|| {
            Error::bad_request("placement.bad_request", format!("Unknown resource class in inventory for resource provider {uuid}: {}.", input.class))
        })?;
        new[c] = Some(input.inventory);
    }
    for c in 0..NUM_CLASSES {
        let cap = new[c].as_ref().map_or(0, |i| i.capacity());
        if prov.usage[c] > cap {
            return Err(Error::conflict(
                "placement.inventory.inuse",
                format!("Inventory for '{}' on resource provider '{uuid}' in use: usage {} exceeds the new capacity {cap}.", CLASSES[c], prov.usage[c]),
            ));
        }
    }
    check_units_still_hold(p, idx, uuid, &new)?;
    let prov = p.provider_mut(idx);
    prov.inventories = new;
    prov.generation += 1;
    let g = prov.generation;
    let prov = p.providers[idx as usize].as_ref().expect("live provider");
    p.index.refresh(idx, prov);
    Ok(Reply::Generation(g))
}

/// Refuses new inventories whose `min_unit`, `max_unit` or `step_size` an existing allocation on
/// provider `idx` would violate (Placement's 409 `placement.inventory.inuse`): every later
/// change of that allocation (a resize, its revert) must still be legal. Scans the consumers:
/// inventory changes are rare admin writes.
fn check_units_still_hold(p: &Placement, idx: u32, uuid: Uuid, new: &[Option<Inventory>; NUM_CLASSES]) -> Result<()> {
    for (consumer, cons) in &p.consumers {
        let Some(held) = cons.allocations.get(&idx) else { continue };
        for (c, &amount) in held.iter().enumerate() {
            let Some(inv) = new[c].as_ref().filter(|_| amount > 0) else { continue };
            if inv.check_unit(c, amount).is_err() {
                return Err(Error::conflict(
                    "placement.inventory.inuse",
                    format!(
                        "Inventory for '{}' on resource provider '{uuid}' in use: consumer {consumer} holds {amount}, which min_unit {}, max_unit {} and step_size {} would not allow.",
                        CLASSES[c], inv.min_unit, inv.max_unit, inv.step_size
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use proptest::prelude::{any, prop, prop_assert, proptest};

    use super::*;
    use crate::rng::Rng;
    use crate::topology::{HostSpec, TopologySpec};

    pub(crate) fn spec(zones: u32, racks: u32, hosts: u32, strategy: Strategy) -> TopologySpec {
        let names: Vec<String> = (1..=zones).map(|z| format!("az{z}")).collect();
        let zones: Vec<(&str, u32, u32)> = names.iter().map(|n| (n.as_str(), racks, hosts)).collect();
        let mut spec = TopologySpec::uniform("r", HostSpec::compute(16, 65536, 500), &zones);
        spec.scheduler.strategy = strategy;
        spec
    }

    fn placement(strategy: Strategy) -> (Topology, Placement) {
        let s = spec(2, 2, 4, strategy);
        let t = Topology::build(&s, &mut Rng::new(1)).unwrap();
        let p = Placement::from_topology(&t, &s.allocation, &s.scheduler);
        (t, p)
    }

    fn res(vcpu: u64, ram: u64, disk: u64) -> Resources {
        [vcpu, ram, disk, 0]
    }

    /// An inventory change that an existing allocation would violate is refused (the bug: a
    /// step size of 4 under a 2-VCPU server made its resize revert panic the kernel), and a
    /// trim after a legal unit change cannot fail.
    #[test]
    fn inventory_units_that_allocations_violate_are_refused() {
        let (_, mut p) = placement(Strategy::Spread);
        let (server, owner) = (Uuid(7), (Uuid(1), Uuid(2)));
        p.claim_on_hosts(server, owner.0, owner.1, &[0, 1], &res(2, 1024, 10)).unwrap();
        let prov = p.providers[p.by_host[&0] as usize].clone().unwrap();
        let with = |step: u64| {
            let mut inv = prov.inventories.clone();
            inv[VCPU].as_mut().unwrap().step_size = step;
            CLASSES.iter().zip(inv).filter_map(|(c, i)| i.map(|inventory| InventoryInput { class: c.to_string(), inventory })).collect::<Vec<_>>()
        };
        let before = p.clone();
        let err = set_inventories(&mut p, prov.uuid, prov.generation, with(4)).unwrap_err();
        assert_eq!(err.code, "placement.inventory.inuse");
        assert!(err.message.contains("step_size 4"), "{}", err.message);
        assert_eq!(p, before, "a refused change changes nothing");
        set_inventories(&mut p, prov.uuid, prov.generation, with(2)).unwrap();
        p.keep_only(&server, 0);
        assert_eq!(p.consumers[&server].allocations.len(), 1);
        p.check_invariants().unwrap();
    }

    /// The index holds exactly the providers it should, each under its current key.
    fn index_consistent(p: &Placement) {
        for (&idx, &key) in &p.index.keys {
            let prov = p.provider(idx).unwrap();
            assert_eq!(key, p.index.key(prov), "stale index key for {}", prov.name);
            assert!(p.index.all.contains(&(key, idx)));
        }
        assert_eq!(p.index.all.len(), p.index.keys.len());
        assert_eq!(p.index.by_zone.iter().map(BTreeSet::len).sum::<usize>(), p.index.keys.len());
    }

    #[test]
    fn compute_ports_claim_move_and_trim_by_host() {
        let (t, mut p) = placement(Strategy::Spread);
        let (a, b) = (0, t.hosts.len() as HostIdx - 1);
        let (server, migration, owner) = (Uuid(1), Uuid(2), (Uuid(7), Uuid(8)));
        p.claim_on_hosts(server, owner.0, owner.1, &[a, b], &res(2, 1024, 10)).unwrap();
        let used = |p: &Placement, h: HostIdx| p.provider(p.by_host[&h]).unwrap().usage;
        assert_eq!((used(&p, a)[VCPU], used(&p, b)[VCPU]), (2, 2));
        p.move_allocations(&server, migration);
        assert!(!p.consumers.contains_key(&server));
        assert_eq!(p.consumers[&migration].allocations.len(), 2);
        assert_eq!(used(&p, a)[VCPU], 2, "a move changes no usage");
        p.move_allocations(&migration, server);
        p.keep_only(&server, b);
        assert_eq!((used(&p, a)[VCPU], used(&p, b)[VCPU]), (0, 2));
        assert!(p.claim_on_hosts(server, owner.0, owner.1, &[a], &res(1000, 1, 1)).is_err(), "1000 vCPUs fit nowhere");
        assert_eq!(used(&p, b)[VCPU], 2, "a refused claim keeps the old one");
        assert_eq!(p.claim_on_hosts(server, owner.0, owner.1, &[9999], &res(1, 1, 1)).unwrap_err().code, "placement.conflict");
        p.check_invariants().unwrap();
        index_consistent(&p);
    }

    #[test]
    fn capacity_applies_reserved_and_ratio() {
        let inv = Inventory::new(16, 2, Ratio(4.0));
        assert_eq!(inv.capacity(), 56);
    }

    #[test]
    fn allocation_beyond_capacity_is_refused_and_changes_nothing() {
        let (_, mut p) = placement(Strategy::Spread);
        let before = p.clone();
        let too_much = BTreeMap::from([(0, res(1, 65536, 1))]);
        let err = p.set_allocations(Uuid(1), Uuid(2), Uuid(3), too_much).unwrap_err();
        assert!(matches!(err, Error { kind: crate::ErrorKind::Conflict, .. }), "{err:?}");
        assert_eq!(p, before);
    }

    #[test]
    fn spread_prefers_the_emptiest_and_pack_the_fullest() {
        for strategy in [Strategy::Spread, Strategy::Pack] {
            let (_, mut p) = placement(strategy);
            p.set_allocations(Uuid(1), Uuid(9), Uuid(9), BTreeMap::from([(3, res(4, 16384, 50))])).unwrap();
            let first = p.candidates(None, &res(1, 512, 1)).next().unwrap();
            match strategy {
                Strategy::Spread => assert_ne!(first, 3),
                Strategy::Pack => assert_eq!(first, 3),
            }
        }
    }

    #[test]
    fn unschedulable_hosts_leave_the_index() {
        let (_, mut p) = placement(Strategy::Spread);
        p.set_schedulable(0, false);
        assert!(p.candidates(None, &res(1, 1, 1)).all(|i| i != 0));
        p.set_schedulable(0, true);
        assert!(p.candidates(None, &res(1, 1, 1)).any(|i| i == 0));
        index_consistent(&p);
    }

    #[test]
    fn zone_walk_stays_in_zone() {
        let (t, p) = placement(Strategy::Spread);
        for idx in p.candidates(Some(1), &res(1, 1, 1)) {
            let host = p.provider(idx).unwrap().host.unwrap();
            assert_eq!(t.host(host).zone, 1);
        }
    }

    proptest! {
        /// Random allocations and frees: usage always equals the sum of allocations, nothing is
        /// over capacity, the index stays in step, and candidates all fit.
        #[test]
        fn invariants_hold_under_random_allocations(
            ops in prop::collection::vec((0u128..40, 0u32..16, 0u64..20, 0u64..70_000, 0u64..300, any::<bool>()), 1..120),
            pack in any::<bool>(),
        ) {
            let (_, mut p) = placement(if pack { Strategy::Pack } else { Strategy::Spread });
            for (consumer, prov, vcpu, ram, disk, free) in ops {
                if free {
                    p.free(&Uuid(consumer));
                } else {
                    let _ = p.set_allocations(Uuid(consumer), Uuid(1), Uuid(1), BTreeMap::from([(prov, res(vcpu.max(1), ram.max(1), disk.max(1)))]));
                }
                prop_assert!(p.check_invariants().is_ok(), "{:?}", p.check_invariants());
                index_consistent(&p);
                let want = res(2, 4096, 20);
                for idx in p.candidates(None, &want) {
                    prop_assert!(p.provider(idx).unwrap().fits(&want));
                }
            }
        }
    }
}

#[cfg(test)]
mod batch_tests {
    use super::*;
    use crate::rng::Rng;

    fn placement() -> Placement {
        let s = tests::spec(1, 1, 2, Strategy::Spread);
        let t = Topology::build(&s, &mut Rng::new(1)).unwrap();
        Placement::from_topology(&t, &s.allocation, &s.scheduler)
    }

    fn set(consumer: u128, generation: Option<Option<u64>>, rp: Uuid, ram: u64) -> ConsumerAllocations {
        let allocations = if ram == 0 { vec![] } else { vec![(rp, "MEMORY_MB".to_string(), ram)] };
        ConsumerAllocations { consumer: Uuid(consumer), project: Uuid(7), user: Uuid(8), generation, allocations }
    }

    #[test]
    fn a_batch_moves_allocations_between_consumers_atomically() {
        let mut p = placement();
        let rp = p.provider(0).unwrap().uuid;
        let cap = p.provider(0).unwrap().inventories[MEMORY_MB].as_ref().unwrap().capacity();
        set_consumers(&mut p, vec![set(1, Some(None), rp, cap)]).unwrap();
        // Handing everything from consumer 1 to consumer 2 only fits as one batch.
        set_consumers(&mut p, vec![set(2, Some(None), rp, cap), set(1, Some(Some(1)), rp, 0)]).unwrap();
        assert!(!p.consumers.contains_key(&Uuid(1)));
        assert_eq!(p.consumers[&Uuid(2)].generation, 1);
        p.check_invariants().unwrap();
        let before = p.clone();
        let stale = set_consumers(&mut p, vec![set(2, Some(Some(5)), rp, 1)]).unwrap_err();
        assert_eq!(stale.message(), "consumer generation conflict - expected 5 but got 1");
        let too_much = set_consumers(&mut p, vec![set(3, None, rp, 1), set(4, None, rp, 1)]).unwrap_err();
        assert_eq!(too_much.kind, crate::ErrorKind::Conflict);
        let twice = set_consumers(&mut p, vec![set(3, None, rp, 1), set(3, None, rp, 1)]).unwrap_err();
        assert_eq!(twice.kind, crate::ErrorKind::BadRequest);
        assert_eq!(p, before);
    }

    #[test]
    fn rename_checks_uniqueness_and_bumps_generation() {
        let mut p = placement();
        let (a, b) = (p.provider(0).unwrap().clone(), p.provider(1).unwrap().clone());
        assert_eq!(rename_provider(&mut p, a.uuid, b.name.clone()).unwrap_err().kind, crate::ErrorKind::Conflict);
        assert_eq!(rename_provider(&mut p, a.uuid, "renamed".into()).unwrap(), Reply::Generation(a.generation + 1));
        assert_eq!(p.provider(0).unwrap().name, "renamed");
    }
}
