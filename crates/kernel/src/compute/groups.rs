//! Compute server groups: affinity, anti-affinity and their soft forms, their members, and
//! the [`GroupPlacement`] the scheduler needs to honour them.
//!
//! Servers join and leave through [`add_member`] and [`remove_member`], which the servers
//! module calls; the server-group and member quotas apply.

use serde::{Deserialize, Serialize};

use crate::compute::quotas::{Resource, Usage};
use crate::compute::Cx;
use crate::ids::Uuid;
use crate::scheduler::{GroupPlacement, GroupPolicy};
use crate::topology::HostIdx;
use crate::Read;
use crate::{Caller, Error, Result};

/// A server group.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ServerGroup {
    /// Its id.
    pub id: Uuid,
    /// Its name (not unique).
    pub name: String,
    /// Its policy.
    pub policy: GroupPolicy,
    /// For anti-affinity: how many members one host may hold (rule `max_server_per_host`, 2.64).
    pub max_server_per_host: Option<u32>,
    /// The owning project.
    pub project: Uuid,
    /// The creating user.
    pub user: Uuid,
    /// Member servers, in the order they joined.
    pub members: Vec<Uuid>,
}

impl GroupPolicy {
    /// Nova's name of the policy.
    pub fn name(self) -> &'static str {
        match self {
            GroupPolicy::Affinity => "affinity",
            GroupPolicy::AntiAffinity => "anti-affinity",
            GroupPolicy::SoftAffinity => "soft-affinity",
            GroupPolicy::SoftAntiAffinity => "soft-anti-affinity",
        }
    }

    /// The policy named `name` in Nova's API.
    pub fn from_name(name: &str) -> Option<GroupPolicy> {
        [GroupPolicy::Affinity, GroupPolicy::AntiAffinity, GroupPolicy::SoftAffinity, GroupPolicy::SoftAntiAffinity].into_iter().find(|p| p.name() == name)
    }
}

/// Server group commands. Creating needs a project-scoped member (or admin) token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmd {
    /// Creates a group in the caller's project.
    Create {
        /// Its id, made by the shell.
        id: Uuid,
        /// Its name.
        name: String,
        /// Its policy.
        policy: GroupPolicy,
        /// The `max_server_per_host` rule; only with anti-affinity.
        max_server_per_host: Option<u32>,
    },
    /// Deletes a group. Its members stay, no longer constrained.
    Delete {
        /// The group.
        id: Uuid,
    },
}

/// Server group replies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// The group after the change.
    Group(Box<ServerGroup>),
    /// The group is gone.
    Deleted,
}

/// Finds a group `caller` may see: its own project's, or any for an admin.
pub fn find<'a>(k: impl Read<'a>, caller: &Caller, id: &Uuid) -> Result<&'a ServerGroup> {
    let k = k.read();
    k.compute.groups.get(id).filter(|g| caller.admin || caller.project == Some(g.project)).ok_or_else(|| not_found(id))
}

/// The groups a list shows, in id order: the caller's project's, or every project's for an
/// admin asking for `all_projects`.
pub fn list<'a>(k: impl Read<'a>, caller: &'a Caller, all_projects: bool) -> impl Iterator<Item = &'a ServerGroup> + 'a {
    let k = k.read();
    k.compute.groups.values().filter(move |g| (all_projects && caller.admin) || caller.project == Some(g.project))
}

fn not_found(id: &Uuid) -> Error {
    Error::not_found("compute.not_found", format!("Instance group {id} could not be found."))
}

/// Applies a server group command.
pub fn apply(k: &mut Cx, caller: &Caller, cmd: Cmd) -> Result<Reply> {
    match cmd {
        Cmd::Create { id, name, policy, max_server_per_host } => create(k, caller, id, name, policy, max_server_per_host),
        Cmd::Delete { id } => {
            let g = find(&*k, caller, &id)?;
            if !caller.member && !caller.admin {
                return Err(forbidden("delete"));
            }
            let project = g.project;
            k.compute.groups.remove(&id);
            k.compute.quotas.sub(&project, &Usage { server_groups: 1, ..Usage::default() });
            Ok(Reply::Deleted)
        }
    }
}

fn forbidden(action: &str) -> Error {
    Error::forbidden("compute.forbidden", format!("Policy doesn't allow os_compute_api:os-server-groups:{action} to be performed."))
}

fn create(k: &mut Cx, caller: &Caller, id: Uuid, name: String, policy: GroupPolicy, max: Option<u32>) -> Result<Reply> {
    let project = caller.project.ok_or_else(|| Error::forbidden("compute.forbidden", "Creating a server group needs a project-scoped token.".into()))?;
    if !caller.member {
        return Err(forbidden("create"));
    }
    if name.trim().is_empty() || name.chars().count() > 255 {
        return Err(Error::bad_request(
            "compute.bad_request",
            format!("Invalid input for field/attribute name. Value: '{name}'. It must be 1 to 255 characters."),
        ));
    }
    if max.is_some() && policy != GroupPolicy::AntiAffinity {
        return Err(Error::bad_request("compute.bad_request", "Only anti-affinity policy supports \"max_server_per_host\" rule.".into()));
    }
    if max == Some(0) {
        return Err(Error::bad_request(
            "compute.bad_request",
            "Invalid input for field/attribute max_server_per_host. Value: 0. 0 is less than the minimum of 1".into(),
        ));
    }
    if k.compute.groups.contains_key(&id) {
        return Err(Error::conflict("compute.duplicate", format!("Server group {id} already exists.")));
    }
    let delta = Usage { server_groups: 1, ..Usage::default() };
    k.compute.quotas.check(&project, &delta)?;
    let g = ServerGroup { id, name, policy, max_server_per_host: max, project, user: caller.user, members: Vec::new() };
    k.compute.groups.insert(id, g.clone());
    k.compute.quotas.add(&project, &delta);
    Ok(Reply::Group(Box::new(g)))
}

/// Checks that `server` may join `group` (the group exists and is under its member quota).
/// The servers module calls this while validating, before it mutates anything.
pub fn check_join<'k>(k: impl Read<'k>, group: &Uuid, server: &Uuid) -> Result<()> {
    let k = k.read();
    let g = k.compute.groups.get(group).ok_or_else(|| not_found(group))?;
    if g.members.contains(server) {
        return Ok(());
    }
    let limit = k.compute.quotas.limit(&g.project, Resource::ServerGroupMembers);
    if limit >= 0 && g.members.len() as i64 >= limit {
        return Err(Error::over_quota("compute.over_quota", "Quota exceeded, too many servers in group".into()));
    }
    Ok(())
}

/// Adds `server` to `group` after [`check_join`]; adding a member twice is a no-op.
pub fn add_member(k: &mut Cx, group: &Uuid, server: &Uuid) -> Result<()> {
    check_join(&*k, group, server)?;
    join(k, group, server);
    Ok(())
}

/// Adds `server` to `group`, whose room for it the caller has checked (with [`check_join`],
/// or for a whole batch of new servers as create's validation does); adding a member twice is
/// a no-op. Nothing here can fail, so a command that validated never stops half done.
pub fn join(k: &mut Cx, group: &Uuid, server: &Uuid) {
    let Some(g) = k.compute.groups.get_mut(group) else {
        debug_assert!(false, "server {server} joined group {group}, which does not exist");
        return;
    };
    if !g.members.contains(server) {
        g.members.push(*server);
    }
}

/// Takes `server` out of `group`, if both exist.
pub fn remove_member(k: &mut Cx, group: &Uuid, server: &Uuid) {
    if let Some(g) = k.compute.groups.get_mut(group) {
        g.members.retain(|m| m != server);
    }
}

/// The scheduler's view of `group`: its policy and how many members run on each host and rack.
/// `host_of` says where a member runs (None while unplaced). An unknown group gives no
/// constraint.
pub fn placement_for<'k>(k: impl Read<'k>, group: &Uuid, host_of: impl Fn(&Uuid) -> Option<HostIdx>) -> GroupPlacement {
    let k = k.read();
    let Some(g) = k.compute.groups.get(group) else { return GroupPlacement::default() };
    let mut out = GroupPlacement { policy: Some(g.policy), max_per_host: g.max_server_per_host.unwrap_or(1), ..GroupPlacement::default() };
    for m in &g.members {
        if let Some(h) = host_of(m) {
            *out.hosts.entry(h).or_insert(0) += 1;
            *out.racks.entry(k.topology.host(h).rack).or_insert(0) += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::quotas::{
        self,
        tests::{caller, kernel},
    };
    use std::collections::BTreeMap;

    fn create(id: u128, policy: GroupPolicy, max: Option<u32>) -> Cmd {
        Cmd::Create { id: Uuid(id), name: format!("g{id}"), policy, max_server_per_host: max }
    }

    #[test]
    fn create_validates_and_counts_quota() {
        let mut k = kernel();
        let a = caller(&k, 1, false);
        let before = k.compute.clone();
        assert_eq!(apply(&mut k.cx(), &a, create(1, GroupPolicy::Affinity, Some(2))).unwrap_err().kind, crate::ErrorKind::BadRequest);
        assert_eq!(apply(&mut k.cx(), &a, create(1, GroupPolicy::AntiAffinity, Some(0))).unwrap_err().kind, crate::ErrorKind::BadRequest);
        assert_eq!(k.compute, before);
        for i in 0..10 {
            apply(&mut k.cx(), &a, create(100 + i, GroupPolicy::SoftAffinity, None)).unwrap();
        }
        let before = k.compute.clone();
        let err = apply(&mut k.cx(), &a, create(1, GroupPolicy::AntiAffinity, Some(2))).unwrap_err();
        assert_eq!((err.kind, err.code, err.message()), (crate::ErrorKind::OverQuota, "compute.over_quota", "Quota exceeded, too many server groups."));
        assert_eq!(k.compute, before);
        apply(&mut k.cx(), &a, Cmd::Delete { id: Uuid(100) }).unwrap();
        assert_eq!(k.compute.quotas.usage(&Uuid(1)).server_groups, 9);
        apply(&mut k.cx(), &a, create(1, GroupPolicy::AntiAffinity, Some(2))).unwrap();
    }

    #[test]
    fn groups_are_private_to_their_project() {
        let mut k = kernel();
        let (a, b, admin) = (caller(&k, 1, false), caller(&k, 2, false), caller(&k, 9, true));
        apply(&mut k.cx(), &a, create(1, GroupPolicy::Affinity, None)).unwrap();
        assert!(find(&k, &a, &Uuid(1)).is_ok());
        assert!(find(&k, &admin, &Uuid(1)).is_ok());
        assert_eq!(apply(&mut k.cx(), &b, Cmd::Delete { id: Uuid(1) }).unwrap_err().kind, crate::ErrorKind::NotFound);
        assert!(k.compute.groups.contains_key(&Uuid(1)));
    }

    #[test]
    fn members_and_placement() {
        let mut k = kernel();
        let (a, admin) = (caller(&k, 1, false), caller(&k, 9, true));
        apply(&mut k.cx(), &a, create(1, GroupPolicy::AntiAffinity, Some(2))).unwrap();
        let limits = BTreeMap::from([(Resource::ServerGroupMembers, 3)]);
        quotas::apply(&mut k.cx(), &admin, quotas::Cmd::Set { project: Uuid(1), limits, force: false }).unwrap();
        for s in 1..=3 {
            add_member(&mut k.cx(), &Uuid(1), &Uuid(s)).unwrap();
        }
        add_member(&mut k.cx(), &Uuid(1), &Uuid(2)).unwrap();
        let err = add_member(&mut k.cx(), &Uuid(1), &Uuid(4)).unwrap_err();
        assert_eq!(err.message(), "Quota exceeded, too many servers in group");
        assert_eq!(k.compute.groups[&Uuid(1)].members, [Uuid(1), Uuid(2), Uuid(3)]);
        // Servers 1 and 2 on host 0 (rack 0), 3 on host 2 (rack 1), none unplaced.
        let gp = placement_for(&k, &Uuid(1), |s| match s.0 {
            1 | 2 => Some(0),
            3 => Some(2),
            _ => None,
        });
        assert_eq!(gp.policy, Some(GroupPolicy::AntiAffinity));
        assert_eq!(gp.max_per_host, 2);
        assert_eq!(gp.hosts, BTreeMap::from([(0, 2), (2, 1)]));
        assert_eq!(gp.racks, BTreeMap::from([(0, 2), (1, 1)]));
        remove_member(&mut k.cx(), &Uuid(1), &Uuid(2));
        add_member(&mut k.cx(), &Uuid(1), &Uuid(4)).unwrap();
        assert!(placement_for(&k, &Uuid(5), |_| None).policy.is_none());
    }

    #[test]
    fn policy_names_round_trip() {
        for p in [GroupPolicy::Affinity, GroupPolicy::AntiAffinity, GroupPolicy::SoftAffinity, GroupPolicy::SoftAntiAffinity] {
            assert_eq!(GroupPolicy::from_name(p.name()), Some(p));
        }
        assert_eq!(GroupPolicy::from_name("nope"), None);
    }
}
