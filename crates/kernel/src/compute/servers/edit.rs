//! Editing servers in place: name, description and access addresses (`PUT /servers/{id}`),
//! metadata and tags, with Nova's validation rules and state checks.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::lifecycle::{check_lock, check_state};
use super::model::VmState;
use crate::compute::quotas::Resource;
use crate::compute::Cx;
use crate::ids::Uuid;
use crate::Read;
use crate::{Caller, Error, Result};

/// Most tags one server may carry.
pub const MAX_TAGS: usize = 50;

/// What `PUT /servers/{id}` changes. `None` leaves a field alone; `Some(None)` clears it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Update {
    /// The server.
    pub id: Uuid,
    /// A new name.
    pub name: Option<String>,
    /// A new description (2.19).
    pub description: Option<Option<String>>,
    /// A new `accessIPv4`.
    pub access_ipv4: Option<Option<String>>,
    /// A new `accessIPv6`.
    pub access_ipv6: Option<Option<String>>,
    /// A new hostname (2.90).
    #[serde(default)]
    pub hostname: Option<String>,
}

/// Nova's rule for names: 1 to 255 characters, no leading or trailing whitespace.
pub fn check_name(name: &str) -> Result<()> {
    let len = name.chars().count();
    if len == 0 || len > 255 || name.trim() != name || name.chars().any(char::is_control) {
        return Err(Error::bad_request(
            "compute.bad_request",
            format!(
            "Invalid input for field/attribute name. Value: '{name}'. The name must be 1 to 255 printable characters with no leading or trailing whitespace."
        ),
        ));
    }
    Ok(())
}

/// Nova's rule for descriptions: at most 255 printable characters.
pub fn check_description(d: Option<&str>) -> Result<()> {
    match d {
        Some(d) if d.chars().count() > 255 || d.chars().any(|c| c.is_control() && c != '\n' && c != '\t') => Err(Error::bad_request(
            "compute.bad_request",
            format!("Invalid input for field/attribute description. Value: '{d}'. A description is at most 255 printable characters."),
        )),
        _ => Ok(()),
    }
}

/// Nova's metadata rules: keys of 1 to 255 letters, digits and `-_:. `, values of at most
/// 255 characters, and no more items than the project's `metadata_items` quota.
pub fn check_metadata<'k>(k: impl Read<'k>, project: &Uuid, items: &BTreeMap<String, String>) -> Result<()> {
    let k = k.read();
    for (key, value) in items {
        let key_ok = !key.is_empty() && key.chars().count() <= 255 && key.chars().all(|c| c.is_ascii_alphanumeric() || "-_:. ".contains(c));
        if !key_ok {
            return Err(Error::bad_request(
                "compute.bad_request",
                format!("Invalid input for field/attribute metadata. Key '{key}' must be 1 to 255 letters, digits, '-', '_', ':', '.' or spaces."),
            ));
        }
        if value.chars().count() > 255 {
            return Err(Error::bad_request(
                "compute.bad_request",
                format!("Invalid input for field/attribute metadata. The value of '{key}' is longer than 255 characters."),
            ));
        }
    }
    let limit = k.compute.quotas.limit(project, Resource::MetadataItems);
    if limit >= 0 && items.len() as i64 > limit {
        return Err(Error::over_quota("compute.over_quota", format!("Maximum number of metadata items exceeds {limit}")));
    }
    Ok(())
}

/// Nova's tag rules: 1 to 60 characters without `,` or `/`, at most [`MAX_TAGS`] of them.
pub fn check_tags(tags: &[String]) -> Result<()> {
    for t in tags {
        check_tag(t)?;
    }
    if tags.iter().collect::<BTreeSet<_>>().len() > MAX_TAGS {
        return Err(Error::bad_request("compute.bad_request", format!("The number of tags exceeded the per-server limit {MAX_TAGS}")));
    }
    Ok(())
}

fn check_tag(t: &str) -> Result<()> {
    let n = t.chars().count();
    if n == 0 || n > 60 || t.contains(',') || t.contains('/') {
        return Err(Error::bad_request(
            "compute.bad_request",
            format!("Invalid input for field/attribute tag. Value: '{t}'. A tag is 1 to 60 characters without ',' or '/'."),
        ));
    }
    Ok(())
}

/// Applies `PUT /servers/{id}`.
pub fn update(k: &mut Cx, caller: &Caller, u: Update) -> Result<()> {
    super::find_for_write(&*k, caller, &u.id, "servers:update")?;
    if let Some(n) = &u.name {
        check_name(n)?;
    }
    if let Some(Some(d)) = &u.description {
        check_description(Some(d))?;
    }
    let now = k.now();
    let s = k.compute.servers.by_id.get_mut(&u.id).expect("found above");
    if let Some(n) = u.name {
        s.rename(n);
    }
    if let Some(h) = u.hostname {
        s.set_hostname(h);
    }
    if let Some(d) = u.description {
        s.extras_mut().description = d;
    }
    if let Some(v) = u.access_ipv4 {
        s.extras_mut().access_ipv4 = v;
    }
    if let Some(v) = u.access_ipv6 {
        s.extras_mut().access_ipv6 = v;
    }
    s.tidy();
    s.updated = now;
    Ok(())
}

/// The vm_states in which metadata may change.
const METADATA_STATES: &[VmState] = &[VmState::Active, VmState::Paused, VmState::Suspended, VmState::Stopped];

/// Sets metadata items (merging, or replacing all with `replace`); returns the result.
pub fn set_metadata(k: &mut Cx, caller: &Caller, id: Uuid, items: BTreeMap<String, String>, replace: bool) -> Result<BTreeMap<String, String>> {
    let s = super::find_for_write(&*k, caller, &id, "server-metadata:update")?;
    check_lock(s, caller)?;
    check_state(s, "update metadata", METADATA_STATES, &[None], false)?;
    let mut merged = if replace { BTreeMap::new() } else { s.metadata.clone() };
    merged.extend(items);
    check_metadata(&*k, &s.project, &merged)?;
    let now = k.now();
    let s = k.compute.servers.by_id.get_mut(&id).expect("found above");
    s.metadata = merged.clone();
    s.updated = now;
    Ok(merged)
}

/// Deletes one metadata key.
pub fn delete_metadata(k: &mut Cx, caller: &Caller, id: Uuid, key: &str) -> Result<()> {
    let s = super::find_for_write(&*k, caller, &id, "server-metadata:delete")?;
    check_lock(s, caller)?;
    check_state(s, "delete metadata", METADATA_STATES, &[None], false)?;
    if !s.metadata.contains_key(key) {
        return Err(Error::not_found("compute.not_found", "Metadata item was not found".into()));
    }
    let now = k.now();
    let s = k.compute.servers.by_id.get_mut(&id).expect("found above");
    s.metadata.remove(key);
    s.updated = now;
    Ok(())
}

/// Checks a tag change is allowed now (Nova's tag controller: stable, non-building states).
fn tag_guard<'a>(k: impl Read<'a>, caller: &Caller, id: &Uuid, action: &str) -> Result<&'a super::Server> {
    let k = k.read();
    let s = super::find_for_write(k, caller, id, "os-server-tags:update")?;
    check_state(s, action, METADATA_STATES, &[s.task_state], false)?;
    Ok(s)
}

fn store_tags(k: &mut Cx, id: &Uuid, tags: BTreeSet<String>) -> Vec<String> {
    let now = k.now();
    let s = k.compute.servers.by_id.get_mut(id).expect("found by the caller");
    let out = tags.iter().cloned().collect();
    s.extras_mut().tags = tags;
    s.tidy();
    s.updated = now;
    out
}

/// Replaces every tag; returns the result.
pub fn set_tags(k: &mut Cx, caller: &Caller, id: Uuid, tags: Vec<String>) -> Result<Vec<String>> {
    tag_guard(&*k, caller, &id, "update tags")?;
    check_tags(&tags)?;
    Ok(store_tags(k, &id, tags.into_iter().collect()))
}

/// Adds one tag; returns the result.
pub fn add_tag(k: &mut Cx, caller: &Caller, id: Uuid, tag: String) -> Result<Vec<String>> {
    let s = tag_guard(&*k, caller, &id, "update tag")?;
    check_tag(&tag)?;
    let mut tags = s.extras().tags.clone();
    tags.insert(tag);
    if tags.len() > MAX_TAGS {
        return Err(Error::bad_request("compute.bad_request", format!("The number of tags exceeded the per-server limit {MAX_TAGS}")));
    }
    Ok(store_tags(k, &id, tags))
}

/// Removes one tag, which must exist; returns the result.
pub fn delete_tag(k: &mut Cx, caller: &Caller, id: Uuid, tag: &str) -> Result<Vec<String>> {
    let s = tag_guard(&*k, caller, &id, "delete tag")?;
    if !s.extras().tags.contains(tag) {
        return Err(Error::not_found("compute.not_found", format!("Tag {tag} could not be found.")));
    }
    let mut tags = s.extras().tags.clone();
    tags.remove(tag);
    Ok(store_tags(k, &id, tags))
}
