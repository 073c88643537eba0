//! The service catalog's records: regions, services and endpoints that admins register
//! (`/v3/regions`, `/v3/services`, `/v3/endpoints`), beside the built-in ones, which are
//! the cloud's region and the services orrery itself serves. Built-in records are read-only;
//! their ids are stable (derived from the service type), and their URLs come from the shell,
//! which knows where it listens. Deleting a service deletes its endpoints; a region with
//! child regions or endpoints cannot be deleted (Keystone's 403); an endpoint naming a region
//! that does not exist creates it, as Keystone does.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{require_admin, Caller, Identity};
use crate::hash::stable_hash;
use crate::ids::Uuid;
use crate::rng::Rng;
use crate::{Error, Result};

/// (type, name, description) of every service orrery serves itself.
pub const BUILTIN_SERVICES: [(&str, &str, &str); 5] = [
    ("identity", "keystone", "Identity (Keystone v3)"),
    ("compute", "nova", "Compute (Nova v2.1)"),
    ("placement", "placement", "Placement"),
    ("image", "glance", "Image (Glance v2)"),
    ("network", "neutron", "Networking (Neutron v2.0)"),
];

/// The interfaces an endpoint may have.
pub const INTERFACES: [&str; 3] = ["public", "internal", "admin"];

/// The stable id of built-in service `kind`.
pub fn builtin_service_id(kind: &str) -> Uuid {
    Rng::new(stable_hash(&format!("service {kind}"))).uuid()
}

/// A region an admin registered.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Region {
    /// Its id (its name, in Keystone).
    pub id: String,
    /// Free text.
    pub description: String,
    /// The region it belongs to.
    pub parent: Option<String>,
}

/// A service an admin registered.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Service {
    /// Its id.
    pub id: Uuid,
    /// Its type, like `object-store`.
    pub kind: String,
    /// Its name.
    pub name: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Whether tokens list it.
    pub enabled: bool,
}

/// An endpoint an admin registered.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Endpoint {
    /// Its id.
    pub id: Uuid,
    /// The service it serves (built-in or registered).
    pub service: Uuid,
    /// `public`, `internal` or `admin`.
    pub interface: String,
    /// The region it is in.
    pub region: Option<String>,
    /// Where it listens.
    pub url: String,
    /// Whether tokens list it.
    pub enabled: bool,
}

/// An endpoint group (OS-EP-FILTER): a named filter over endpoints.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EndpointGroup {
    /// Its id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Endpoint attribute → the value it must have: `interface`, `service_id`, `region_id`.
    pub filters: BTreeMap<String, String>,
}

/// The attributes an endpoint group may filter on.
pub const GROUP_FILTERS: [&str; 3] = ["interface", "service_id", "region_id"];

/// Every registered record. Empty, it hashes as nothing, so clouds from before it keep their
/// state hash.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    /// Regions by id.
    pub regions: BTreeMap<String, Region>,
    /// Services by id.
    pub services: BTreeMap<Uuid, Service>,
    /// Endpoints by id.
    pub endpoints: BTreeMap<Uuid, Endpoint>,
    /// Endpoint groups by id.
    #[serde(default)]
    pub groups: BTreeMap<Uuid, EndpointGroup>,
}

impl Catalog {
    /// Whether nothing was registered (then the field is left out of snapshots).
    pub fn is_empty(&self) -> bool {
        self.regions.is_empty() && self.services.is_empty() && self.endpoints.is_empty() && self.groups.is_empty()
    }
}

impl std::hash::Hash for Catalog {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        if !self.is_empty() {
            self.regions.hash(h);
            self.services.hash(h);
            self.endpoints.hash(h);
            self.groups.hash(h);
        }
    }
}

/// Changes to an endpoint group; `None` leaves a field alone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointGroupPatch {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<Option<String>>,
    /// New filters, replacing the old.
    pub filters: Option<BTreeMap<String, String>>,
}

fn check_group(g: &EndpointGroup) -> Result<()> {
    if g.name.is_empty() || g.name.len() > 255 {
        return Err(bad("Invalid input for field 'name': an endpoint group name is 1 to 255 characters.".into()));
    }
    if g.filters.is_empty() {
        return Err(bad("Invalid input for field 'filters': an endpoint group needs at least one filter.".into()));
    }
    if let Some(k) = g.filters.keys().find(|k| !GROUP_FILTERS.contains(&k.as_str())) {
        return Err(bad(format!("Invalid input for field 'filters': '{k}' is not one of interface, service_id, region_id.")));
    }
    Ok(())
}

fn no_group(gid: Uuid) -> Error {
    Error::not_found("identity.not_found", format!("Could not find endpoint group: {}.", gid.simple()))
}

/// Registers an endpoint group.
pub fn create_group(id: &mut Identity, caller: &Caller, g: EndpointGroup) -> Result<EndpointGroup> {
    require_admin(caller, "create_endpoint_group")?;
    check_group(&g)?;
    if id.catalog.groups.contains_key(&g.id) {
        return Err(Error::conflict("identity.conflict", format!("Conflict occurred attempting to store endpoint group - Duplicate ID, {}.", g.id.simple())));
    }
    id.catalog.groups.insert(g.id, g.clone());
    Ok(g)
}

/// Changes an endpoint group.
pub fn update_group(id: &mut Identity, caller: &Caller, gid: Uuid, patch: EndpointGroupPatch) -> Result<EndpointGroup> {
    require_admin(caller, "update_endpoint_group")?;
    let mut g = id.catalog.groups.get(&gid).cloned().ok_or_else(|| no_group(gid))?;
    g.name = patch.name.unwrap_or(g.name);
    g.description = patch.description.unwrap_or(g.description);
    g.filters = patch.filters.unwrap_or(g.filters);
    check_group(&g)?;
    id.catalog.groups.insert(gid, g.clone());
    Ok(g)
}

/// Deletes an endpoint group.
pub fn delete_group(id: &mut Identity, caller: &Caller, gid: Uuid) -> Result<()> {
    require_admin(caller, "delete_endpoint_group")?;
    id.catalog.groups.remove(&gid).map(drop).ok_or_else(|| no_group(gid))
}

/// Changes to a region; `None` leaves a field alone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionPatch {
    /// New description.
    pub description: Option<String>,
    /// New parent (`Some(None)` makes it a top-level region).
    pub parent: Option<Option<String>>,
}

/// Changes to a service; `None` leaves a field alone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicePatch {
    /// New type.
    pub kind: Option<String>,
    /// New name.
    pub name: Option<Option<String>>,
    /// New description.
    pub description: Option<Option<String>>,
    /// Enable or disable.
    pub enabled: Option<bool>,
}

/// Changes to an endpoint; `None` leaves a field alone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointPatch {
    /// New service.
    pub service: Option<Uuid>,
    /// New interface.
    pub interface: Option<String>,
    /// New region (`Some(None)` clears it).
    pub region: Option<Option<String>>,
    /// New URL.
    pub url: Option<String>,
    /// Enable or disable.
    pub enabled: Option<bool>,
}

fn builtin(what: &str, id: &str) -> Error {
    Error::forbidden("identity.forbidden", format!("The built-in {what} {id} is orrery's own and cannot be changed or deleted."))
}

fn bad(msg: String) -> Error {
    Error::bad_request("identity.bad_request", msg)
}

impl Identity {
    /// Whether region `id` exists: the cloud's own, or a registered one.
    pub fn region_exists(&self, id: &str) -> bool {
        id == self.region || self.catalog.regions.contains_key(id)
    }

    /// Whether service `id` exists: built in, or registered.
    pub fn service_exists(&self, id: Uuid) -> bool {
        self.catalog.services.contains_key(&id) || BUILTIN_SERVICES.iter().any(|(kind, ..)| builtin_service_id(kind) == id)
    }
}

fn check_region_parent(id: &Identity, region: &str, parent: Option<&String>) -> Result<()> {
    let Some(p) = parent else { return Ok(()) };
    if !id.region_exists(p) {
        return Err(Error::not_found("identity.not_found", format!("Could not find region: {p}.")));
    }
    let mut at = Some(p.clone());
    while let Some(r) = at {
        if r == region {
            return Err(bad(format!("Region {region} cannot have {p} as its parent: that would make a cycle of regions.")));
        }
        at = id.catalog.regions.get(&r).and_then(|x| x.parent.clone());
    }
    Ok(())
}

/// Registers a region.
pub fn create_region(id: &mut Identity, caller: &Caller, r: Region) -> Result<Region> {
    require_admin(caller, "create_region")?;
    if r.id.is_empty() || r.id.len() > 255 {
        return Err(bad("Invalid input for field 'id': a region id is 1 to 255 characters.".into()));
    }
    if id.region_exists(&r.id) {
        return Err(Error::conflict("identity.conflict", format!("Conflict occurred attempting to store region - Duplicate ID, {}.", r.id)));
    }
    check_region_parent(id, &r.id, r.parent.as_ref())?;
    id.catalog.regions.insert(r.id.clone(), r.clone());
    Ok(r)
}

/// Changes a registered region.
pub fn update_region(id: &mut Identity, caller: &Caller, rid: &str, patch: RegionPatch) -> Result<Region> {
    require_admin(caller, "update_region")?;
    if rid == id.region {
        return Err(builtin("region", rid));
    }
    let mut r = id.catalog.regions.get(rid).cloned().ok_or_else(|| Error::not_found("identity.not_found", format!("Could not find region: {rid}.")))?;
    if let Some(p) = &patch.parent {
        check_region_parent(id, rid, p.as_ref())?;
    }
    r.description = patch.description.unwrap_or(r.description);
    r.parent = patch.parent.unwrap_or(r.parent);
    id.catalog.regions.insert(r.id.clone(), r.clone());
    Ok(r)
}

/// Deletes a registered region with no child regions and no endpoints.
pub fn delete_region(id: &mut Identity, caller: &Caller, rid: &str) -> Result<()> {
    require_admin(caller, "delete_region")?;
    if rid == id.region {
        return Err(builtin("region", rid));
    }
    if !id.catalog.regions.contains_key(rid) {
        return Err(Error::not_found("identity.not_found", format!("Could not find region: {rid}.")));
    }
    let children = id.catalog.regions.values().any(|r| r.parent.as_deref() == Some(rid));
    let endpoints = id.catalog.endpoints.values().any(|e| e.region.as_deref() == Some(rid));
    if children || endpoints {
        return Err(Error::forbidden(
            "identity.forbidden",
            format!("Unable to delete region {rid} because it or its child regions have associated endpoints or regions."),
        ));
    }
    id.catalog.regions.remove(rid);
    Ok(())
}

fn check_kind(kind: &str) -> Result<()> {
    if kind.is_empty() || kind.len() > 255 {
        return Err(bad("Invalid input for field 'type': a service type is 1 to 255 characters.".into()));
    }
    Ok(())
}

/// Registers a service.
pub fn create_service(id: &mut Identity, caller: &Caller, s: Service) -> Result<Service> {
    require_admin(caller, "create_service")?;
    check_kind(&s.kind)?;
    if id.service_exists(s.id) {
        return Err(Error::conflict("identity.conflict", format!("Conflict occurred attempting to store service - Duplicate ID, {}.", s.id.simple())));
    }
    id.catalog.services.insert(s.id, s.clone());
    Ok(s)
}

fn no_service(sid: Uuid) -> Error {
    Error::not_found("identity.not_found", format!("Could not find service: {}.", sid.simple()))
}

fn registered_service(id: &Identity, sid: Uuid) -> Result<Service> {
    if !id.catalog.services.contains_key(&sid) && id.service_exists(sid) {
        return Err(builtin("service", &sid.simple()));
    }
    id.catalog.services.get(&sid).cloned().ok_or_else(|| no_service(sid))
}

/// Changes a registered service.
pub fn update_service(id: &mut Identity, caller: &Caller, sid: Uuid, patch: ServicePatch) -> Result<Service> {
    require_admin(caller, "update_service")?;
    let mut s = registered_service(id, sid)?;
    if let Some(k) = &patch.kind {
        check_kind(k)?;
    }
    s.kind = patch.kind.unwrap_or(s.kind);
    s.name = patch.name.unwrap_or(s.name);
    s.description = patch.description.unwrap_or(s.description);
    s.enabled = patch.enabled.unwrap_or(s.enabled);
    id.catalog.services.insert(sid, s.clone());
    Ok(s)
}

/// Deletes a registered service and its endpoints.
pub fn delete_service(id: &mut Identity, caller: &Caller, sid: Uuid) -> Result<()> {
    require_admin(caller, "delete_service")?;
    registered_service(id, sid)?;
    id.catalog.services.remove(&sid);
    id.catalog.endpoints.retain(|_, e| e.service != sid);
    Ok(())
}

fn check_endpoint(id: &Identity, e: &Endpoint) -> Result<()> {
    if !INTERFACES.contains(&e.interface.as_str()) {
        return Err(bad(format!("Invalid input for field 'interface': '{}' is not one of public, internal, admin.", e.interface)));
    }
    if e.url.is_empty() || e.url.len() > 225 {
        return Err(bad("Invalid input for field 'url': an endpoint URL is 1 to 225 characters.".into()));
    }
    if !id.service_exists(e.service) {
        return Err(bad(format!("Invalid input for field 'service_id': could not find service {}.", e.service.simple())));
    }
    if e.region.as_ref().is_some_and(|r| r.is_empty() || r.len() > 255) {
        return Err(bad("Invalid input for field 'region_id': a region id is 1 to 255 characters.".into()));
    }
    Ok(())
}

/// As Keystone does, an endpoint naming a region that does not exist creates it.
fn ensure_region(id: &mut Identity, region: Option<&String>) {
    if let Some(r) = region.filter(|r| !id.region_exists(r)) {
        id.catalog.regions.insert(r.clone(), Region { id: r.clone(), description: String::new(), parent: None });
    }
}

/// Registers an endpoint.
pub fn create_endpoint(id: &mut Identity, caller: &Caller, e: Endpoint) -> Result<Endpoint> {
    require_admin(caller, "create_endpoint")?;
    check_endpoint(id, &e)?;
    if id.catalog.endpoints.contains_key(&e.id) {
        return Err(Error::conflict("identity.conflict", format!("Conflict occurred attempting to store endpoint - Duplicate ID, {}.", e.id.simple())));
    }
    ensure_region(id, e.region.as_ref());
    id.catalog.endpoints.insert(e.id, e.clone());
    Ok(e)
}

fn registered_endpoint(id: &Identity, eid: Uuid) -> Result<Endpoint> {
    id.catalog.endpoints.get(&eid).cloned().ok_or_else(|| Error::not_found("identity.not_found", format!("Could not find endpoint: {}.", eid.simple())))
}

/// Changes a registered endpoint.
pub fn update_endpoint(id: &mut Identity, caller: &Caller, eid: Uuid, patch: EndpointPatch) -> Result<Endpoint> {
    require_admin(caller, "update_endpoint")?;
    let mut e = registered_endpoint(id, eid)?;
    e.service = patch.service.unwrap_or(e.service);
    e.interface = patch.interface.unwrap_or(e.interface);
    e.region = patch.region.unwrap_or(e.region);
    e.url = patch.url.unwrap_or(e.url);
    e.enabled = patch.enabled.unwrap_or(e.enabled);
    check_endpoint(id, &e)?;
    ensure_region(id, e.region.as_ref());
    id.catalog.endpoints.insert(eid, e.clone());
    Ok(e)
}

/// Deletes a registered endpoint.
pub fn delete_endpoint(id: &mut Identity, caller: &Caller, eid: Uuid) -> Result<()> {
    require_admin(caller, "delete_endpoint")?;
    registered_endpoint(id, eid)?;
    id.catalog.endpoints.remove(&eid);
    Ok(())
}
