//! Read views of placement, with its policy (the whole Placement API is admin-only): resource
//! providers with the traits and aggregates derived from their hosts, consumers'
//! allocations, and usages.

use std::collections::BTreeSet;

use super::{Consumer, Provider, Resources, NUM_CLASSES};
use crate::ids::Uuid;
use crate::topology::Role;
use crate::{Caller, Error, Kernel, Result};

/// Placement's 403 for a caller without the admin role.
pub fn check_reader(c: &Caller) -> Result<()> {
    if c.admin {
        Ok(())
    } else {
        Err(Error::forbidden("placement.forbidden", "Placement requires the admin role.".into()))
    }
}

/// Every resource provider, in index order (compute hosts first).
pub fn providers<'a>(k: &'a Kernel, c: &Caller) -> Result<impl Iterator<Item = &'a Provider> + 'a> {
    check_reader(c)?;
    Ok(k.placement.providers.iter().flatten())
}

/// The provider with UUID `uuid`; Placement's 404 if there is none.
pub fn provider<'a>(k: &'a Kernel, c: &Caller, uuid: &str) -> Result<&'a Provider> {
    check_reader(c)?;
    let found = uuid.parse::<Uuid>().ok().and_then(|u| k.placement.provider_by_uuid(&u)).map(|(_, p)| p);
    found.ok_or_else(|| Error::not_found("placement.not_found", format!("No resource provider with uuid {uuid} found")))
}

/// The provider at index `idx`, if it exists.
pub fn provider_at(k: &Kernel, idx: u32) -> Option<&Provider> {
    k.placement.provider(idx)
}

/// The traits a provider has, derived from its host: `COMPUTE_NODE`, `COMPUTE_STATUS_DISABLED`
/// while disabled, and `HW_ARCH_*`; sorted. A provider without a host has none.
pub fn traits_of(k: &Kernel, p: &Provider) -> Vec<String> {
    let Some(idx) = p.host else { return Vec::new() };
    let h = k.topology.host(idx);
    let mut t = Vec::new();
    if h.spec.role == Role::Compute {
        t.push("COMPUTE_NODE".to_string());
    }
    if !k.compute.host_enabled(idx) {
        t.push("COMPUTE_STATUS_DISABLED".to_string());
    }
    t.push(format!("HW_ARCH_{}", h.spec.arch.to_ascii_uppercase()));
    t.sort();
    t
}

/// The aggregates a provider belongs to: its host's live compute aggregates.
pub fn aggregates_of(k: &Kernel, p: &Provider) -> Vec<Uuid> {
    p.host.map_or_else(Vec::new, |h| k.compute.aggregates.uuids_of_host(&k.topology, h))
}

/// Every trait some host's provider has (`GET /traits?associated=true`).
pub fn host_traits(k: &Kernel, c: &Caller) -> Result<BTreeSet<String>> {
    check_reader(c)?;
    Ok(k.placement.providers.iter().take(k.placement.by_host.len()).flatten().flat_map(|p| traits_of(k, p)).collect())
}

/// Consumer `id`'s allocations, if it has any.
pub fn consumer<'a>(k: &'a Kernel, c: &Caller, id: &Uuid) -> Result<Option<&'a Consumer>> {
    check_reader(c)?;
    Ok(k.placement.consumers.get(id))
}

/// What each consumer holds on provider `p` (`GET /resource_providers/{uuid}/allocations`).
/// This walks every consumer; a per-provider index is not kept yet.
pub fn allocations_on(k: &Kernel, c: &Caller, p: &Provider) -> Result<Vec<(Uuid, Resources)>> {
    check_reader(c)?;
    let Some(&idx) = k.placement.by_uuid.get(&p.uuid) else { return Ok(Vec::new()) };
    Ok(k.placement.consumers.iter().filter_map(|(id, c)| c.allocations.get(&idx).map(|r| (*id, *r))).collect())
}

/// Everything `project` (and, if given, `user`) holds, summed per class (`GET /usages`).
pub fn usages(k: &Kernel, c: &Caller, project: Uuid, user: Option<Uuid>) -> Result<Resources> {
    check_reader(c)?;
    let mut total = [0u64; NUM_CLASSES];
    for c in k.placement.consumers.values().filter(|c| c.project == project && user.is_none_or(|u| c.user == u)) {
        for r in c.allocations.values() {
            (0..NUM_CLASSES).for_each(|i| total[i] += r[i]);
        }
    }
    Ok(total)
}
