//! Domains, projects, users, groups and roles: create, update and delete, with Keystone's
//! uniqueness rules and the cascades that keep assignments and tokens consistent.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{require_admin, Actor, Caller, Domain, Extra, Group, Identity, Project, Role, Target, User, BUILTIN_ROLES, DEFAULT_DOMAIN};
use crate::ids::Uuid;
use crate::{Error, Result, Time};

/// Changes to a domain; `None` leaves a field alone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainPatch {
    /// New name.
    pub name: Option<String>,
    /// New description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
    /// Enable or disable.
    pub enabled: Option<bool>,
}

/// Changes to a project; `None` leaves a field alone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectPatch {
    /// New name.
    pub name: Option<String>,
    /// New description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
    /// Enable or disable.
    pub enabled: Option<bool>,
    /// Replace the tags.
    pub tags: Option<BTreeSet<String>>,
    /// The domain the caller says it is in: refused unless it is the project's own (a project
    /// never moves between domains).
    #[serde(default)]
    pub domain: Option<String>,
    /// The parent the caller says it has (a project id, or the domain id for a top-level
    /// project): refused unless it is the current one.
    #[serde(default)]
    pub parent: Option<String>,
    /// `is_domain`: refused if true (orrery has no projects acting as domains).
    #[serde(default)]
    pub is_domain: Option<bool>,
}

/// Changes to a user; `None` leaves a field alone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserPatch {
    /// New name.
    pub name: Option<String>,
    /// Enable or disable (disabling revokes the user's tokens).
    pub enabled: Option<bool>,
    /// New default project (`Some(None)` clears it).
    pub default_project: Option<Option<Uuid>>,
    /// New argon2 password hash (revokes the user's tokens).
    pub password_hash: Option<String>,
    /// New description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
    /// New email (`Some(None)` clears it).
    pub email: Option<Option<String>>,
    /// The domain the caller says it is in: refused unless it is the user's own.
    #[serde(default)]
    pub domain: Option<String>,
    /// Extra attributes to set (others are kept).
    #[serde(default, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// Changes to a group; `None` leaves a field alone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupPatch {
    /// New name.
    pub name: Option<String>,
    /// New description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
    /// The domain the caller says it is in: refused unless it is the group's own.
    #[serde(default)]
    pub domain: Option<String>,
    /// Extra attributes to set (others are kept).
    #[serde(default, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// Keystone's 400 for an update naming another domain than the record's own.
fn check_same_domain(asked: Option<&String>, current: &str) -> Result<()> {
    if asked.is_some_and(|d| d != current) {
        return Err(Error::bad_request("identity.bad_request", "Update of `domain_id` is not allowed.".into()));
    }
    Ok(())
}

/// Changes to a role; `None` leaves a field alone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolePatch {
    /// New name.
    pub name: Option<String>,
    /// New description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
    /// The domain the caller says it is in (`Some(None)`: global): refused unless it is the
    /// role's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<Option<String>>,
}

/// Checks a name is 1 to `max` characters and not blank.
fn check_name(kind: &str, name: &str, max: usize) -> Result<()> {
    if name.trim().is_empty() || name.chars().count() > max {
        return Err(Error::bad_request(
            "identity.bad_request",
            format!("Invalid input for field 'name': a {kind} name must be 1 to {max} characters and not blank."),
        ));
    }
    Ok(())
}

fn duplicate(kind: &str, name: &str, domain: Option<&str>) -> Error {
    let at = domain.map(|d| format!(" at domain ID {d}")).unwrap_or_default();
    Error::conflict("identity.conflict", format!("Conflict occurred attempting to store {kind} - Duplicate entry found with name {name}{at}."))
}

fn duplicate_id(kind: &str, id: &str) -> Error {
    Error::conflict("identity.conflict", format!("Conflict occurred attempting to store {kind} - Duplicate ID, {id}."))
}

fn no_domain(id: &str) -> Error {
    Error::not_found("identity.not_found", format!("Could not find domain: {id}."))
}

fn no_project(id: Uuid) -> Error {
    Error::not_found("identity.not_found", format!("Could not find project: {}.", id.simple()))
}

fn no_user(id: Uuid) -> Error {
    Error::not_found("identity.not_found", format!("Could not find user: {}.", id.simple()))
}

fn no_group(id: Uuid) -> Error {
    Error::not_found("identity.not_found", format!("Could not find group: {}.", id.simple()))
}

fn no_role(id: Uuid) -> Error {
    Error::not_found("identity.not_found", format!("Could not find role: {}.", id.simple()))
}

fn check_tags(tags: &BTreeSet<String>) -> Result<()> {
    for t in tags {
        if t.is_empty() || t.chars().count() > 255 || t.contains('/') || t.contains(',') {
            return Err(Error::bad_request(
                "identity.bad_request",
                format!("Invalid input for field 'tags': tag '{t}' must be 1 to 255 characters without '/' or ','."),
            ));
        }
    }
    if tags.len() > 80 {
        return Err(Error::bad_request("identity.bad_request", "Invalid input for field 'tags': a project has at most 80 tags.".into()));
    }
    Ok(())
}

/// Creates a domain.
pub fn create_domain(id: &mut Identity, caller: &Caller, d: Domain) -> Result<Domain> {
    require_admin(caller, "create_domain")?;
    check_name("domain", &d.name, 64)?;
    if id.domains.contains_key(&d.id) {
        return Err(duplicate_id("domain", &d.id));
    }
    if id.domain_by_name(&d.name).is_some() {
        return Err(duplicate("domain", &d.name, None));
    }
    id.domains.insert(d.id.clone(), d.clone());
    Ok(d)
}

/// Changes a domain; disabling one revokes the tokens that depended on it.
pub fn update_domain(id: &mut Identity, caller: &Caller, now: Time, did: &str, patch: DomainPatch) -> Result<Domain> {
    require_admin(caller, "update_domain")?;
    let current = id.domains.get(did).ok_or_else(|| no_domain(did))?;
    if let Some(name) = &patch.name {
        check_name("domain", name, 64)?;
        if id.domain_by_name(name).is_some_and(|o| o.id != did) {
            return Err(duplicate("domain", name, None));
        }
    }
    if patch.enabled == Some(false) && did == DEFAULT_DOMAIN {
        return Err(Error::forbidden("identity.forbidden", "The Default domain holds the bootstrap admin and cannot be disabled.".into()));
    }
    let mut d = current.clone();
    d.name = patch.name.unwrap_or(d.name);
    d.description = patch.description.unwrap_or(d.description);
    d.enabled = patch.enabled.unwrap_or(d.enabled);
    id.domains.insert(did.to_string(), d.clone());
    if !d.enabled {
        id.prune_inaccessible(now, None);
    }
    Ok(d)
}

/// Deletes a disabled domain with its projects, users, groups, domain-specific roles, their
/// assignments, and its configuration.
pub fn delete_domain(id: &mut Identity, caller: &Caller, now: Time, did: &str) -> Result<()> {
    require_admin(caller, "delete_domain")?;
    let d = id.domains.get(did).ok_or_else(|| no_domain(did))?;
    if did == DEFAULT_DOMAIN {
        return Err(Error::forbidden("identity.forbidden", "The Default domain holds the bootstrap admin and cannot be deleted.".into()));
    }
    if d.enabled {
        return Err(Error::forbidden("identity.forbidden", "Cannot delete a domain that is enabled, please disable it first.".into()));
    }
    let projects: Vec<Uuid> = id.projects.values().filter(|p| p.domain == did).map(|p| p.id).collect();
    let users: Vec<Uuid> = id.users.values().filter(|u| u.domain == did).map(|u| u.id).collect();
    let groups: Vec<Uuid> = id.groups.values().filter(|g| g.domain == did).map(|g| g.id).collect();
    for p in projects {
        id.remove_project(p);
    }
    for u in users {
        id.remove_user(u);
    }
    for g in groups {
        id.remove_group(g);
    }
    let (target, tree) = (Target::Domain(did.to_string()), Target::DomainTree(did.to_string()));
    id.assignments.retain(|a| a.target != target && a.target != tree);
    let roles: Vec<Uuid> = id.roles.values().filter(|r| r.domain.as_deref() == Some(did)).map(|r| r.id).collect();
    for r in roles {
        id.remove_role(r);
    }
    id.domain_configs.0.remove(did);
    id.domains.remove(did);
    id.prune_inaccessible(now, None);
    Ok(())
}

/// Creates a project.
pub fn create_project(id: &mut Identity, caller: &Caller, p: Project) -> Result<Project> {
    require_admin(caller, "create_project")?;
    check_name("project", &p.name, 64)?;
    check_tags(&p.tags)?;
    if !id.domains.contains_key(&p.domain) {
        return Err(no_domain(&p.domain));
    }
    if let Some(parent) = p.parent {
        let par = id.projects.get(&parent).ok_or_else(|| no_project(parent))?;
        if par.domain != p.domain {
            return Err(Error::bad_request(
                "identity.bad_request",
                format!("Cannot create project, the parent ({}) is in a different domain ({}).", parent.simple(), par.domain),
            ));
        }
    }
    if id.projects.contains_key(&p.id) {
        return Err(duplicate_id("project", &p.id.simple()));
    }
    if id.project_by_name(&p.domain, &p.name).is_some() {
        return Err(duplicate("project", &p.name, Some(&p.domain)));
    }
    id.project_names.insert((p.domain.clone(), p.name.clone()), p.id);
    id.projects.insert(p.id, p.clone());
    Ok(p)
}

/// Changes a project; disabling one revokes the tokens scoped to it.
pub fn update_project(id: &mut Identity, caller: &Caller, now: Time, pid: Uuid, patch: ProjectPatch) -> Result<Project> {
    require_admin(caller, "update_project")?;
    let current = id.projects.get(&pid).ok_or_else(|| no_project(pid))?.clone();
    check_same_domain(patch.domain.as_ref(), &current.domain)?;
    let parent = current.parent.map_or(current.domain.clone(), |x| x.simple());
    if patch.parent.as_ref().is_some_and(|x| *x != parent) {
        return Err(Error::forbidden("identity.forbidden", "Update of `parent_id` is not allowed.".into()));
    }
    if patch.is_domain == Some(true) {
        return Err(Error::bad_request("identity.bad_request", "Update of `is_domain` is not allowed.".into()));
    }
    if let Some(name) = &patch.name {
        check_name("project", name, 64)?;
        if id.project_by_name(&current.domain, name).is_some_and(|o| o.id != pid) {
            return Err(duplicate("project", name, Some(&current.domain)));
        }
    }
    if let Some(tags) = &patch.tags {
        check_tags(tags)?;
    }
    let mut p = current.clone();
    p.name = patch.name.unwrap_or(p.name);
    p.description = patch.description.unwrap_or(p.description);
    p.enabled = patch.enabled.unwrap_or(p.enabled);
    p.tags = patch.tags.unwrap_or(p.tags);
    id.project_names.remove(&(current.domain.clone(), current.name.clone()));
    id.project_names.insert((p.domain.clone(), p.name.clone()), pid);
    id.projects.insert(pid, p.clone());
    if !p.enabled {
        id.prune_inaccessible(now, None);
    }
    Ok(p)
}

/// Adds `tag` to a project (adding one it has changes nothing), or removes it (404 if it has
/// none such), within Keystone's limits on tags.
pub fn tag_project(id: &mut Identity, caller: &Caller, pid: Uuid, tag: String, add: bool) -> Result<()> {
    require_admin(caller, if add { "create_project_tag" } else { "delete_project_tag" })?;
    let p = id.projects.get(&pid).ok_or_else(|| no_project(pid))?;
    if add {
        let mut tags = p.tags.clone();
        tags.insert(tag);
        check_tags(&tags)?;
        id.projects.get_mut(&pid).ok_or_else(|| no_project(pid))?.tags = tags;
        return Ok(());
    }
    if !p.tags.contains(&tag) {
        return Err(Error::not_found("identity.not_found", format!("Tag {tag} not found on project {}.", pid.simple())));
    }
    id.projects.get_mut(&pid).ok_or_else(|| no_project(pid))?.tags.remove(&tag);
    Ok(())
}

/// Deletes a project that has no children, its assignments and the tokens scoped to it.
pub fn delete_project(id: &mut Identity, caller: &Caller, pid: Uuid) -> Result<()> {
    require_admin(caller, "delete_project")?;
    if !id.projects.contains_key(&pid) {
        return Err(no_project(pid));
    }
    if id.projects.values().any(|p| p.parent == Some(pid)) {
        return Err(Error::forbidden(
            "identity.forbidden",
            format!(
                "Cannot delete the project {} since it is not a leaf in the hierarchy. Use the cascade option if you want to delete a whole subtree.",
                pid.simple()
            ),
        ));
    }
    id.remove_project(pid);
    Ok(())
}

/// Creates a user.
pub fn create_user(id: &mut Identity, caller: &Caller, u: User) -> Result<User> {
    require_admin(caller, "create_user")?;
    check_name("user", &u.name, 255)?;
    if !id.domains.contains_key(&u.domain) {
        return Err(no_domain(&u.domain));
    }
    if let Some(p) = u.default_project {
        if !id.projects.contains_key(&p) {
            return Err(no_project(p));
        }
    }
    if u.password_hash.as_ref().is_some_and(|h| h.is_empty()) {
        return Err(Error::bad_request("identity.bad_request", "A password hash must not be empty.".into()));
    }
    if id.users.contains_key(&u.id) {
        return Err(duplicate_id("user", &u.id.simple()));
    }
    if id.user_by_name(&u.domain, &u.name).is_some() {
        return Err(duplicate("user", &u.name, Some(&u.domain)));
    }
    id.user_names.insert((u.domain.clone(), u.name.clone()), u.id);
    id.users.insert(u.id, u.clone());
    Ok(u)
}

/// Changes a user; disabling one or changing its password revokes its tokens.
pub fn update_user(id: &mut Identity, caller: &Caller, uid: Uuid, patch: UserPatch) -> Result<User> {
    require_admin(caller, "update_user")?;
    let current = id.users.get(&uid).ok_or_else(|| no_user(uid))?.clone();
    check_same_domain(patch.domain.as_ref(), &current.domain)?;
    if let Some(name) = &patch.name {
        check_name("user", name, 255)?;
        if id.user_by_name(&current.domain, name).is_some_and(|o| o.id != uid) {
            return Err(duplicate("user", name, Some(&current.domain)));
        }
    }
    if let Some(Some(p)) = patch.default_project {
        if !id.projects.contains_key(&p) {
            return Err(no_project(p));
        }
    }
    if patch.password_hash.as_ref().is_some_and(|h| h.is_empty()) {
        return Err(Error::bad_request("identity.bad_request", "A password hash must not be empty.".into()));
    }
    let revoke = patch.password_hash.is_some() || patch.enabled == Some(false);
    let mut u = current.clone();
    u.name = patch.name.unwrap_or(u.name);
    u.enabled = patch.enabled.unwrap_or(u.enabled);
    u.default_project = patch.default_project.unwrap_or(u.default_project);
    u.password_hash = patch.password_hash.or(u.password_hash);
    u.description = patch.description.unwrap_or(u.description);
    u.email = patch.email.unwrap_or(u.email);
    u.extra.merge(patch.extra);
    id.user_names.remove(&(current.domain.clone(), current.name.clone()));
    id.user_names.insert((u.domain.clone(), u.name.clone()), uid);
    id.users.insert(uid, u.clone());
    if revoke {
        id.revoke_user_tokens(uid);
    }
    Ok(u)
}

/// Deletes a user with its assignments, memberships and tokens.
pub fn delete_user(id: &mut Identity, caller: &Caller, uid: Uuid) -> Result<()> {
    require_admin(caller, "delete_user")?;
    if !id.users.contains_key(&uid) {
        return Err(no_user(uid));
    }
    id.remove_user(uid);
    Ok(())
}

/// A user changing their own password; revokes all of the user's tokens.
pub fn change_password(id: &mut Identity, caller: &Caller, uid: Uuid, hash: String) -> Result<()> {
    if !caller.system && caller.user != uid {
        return Err(super::forbidden("change_password"));
    }
    if hash.is_empty() {
        return Err(Error::bad_request("identity.bad_request", "A password hash must not be empty.".into()));
    }
    let u = id.users.get_mut(&uid).ok_or_else(|| no_user(uid))?;
    u.password_hash = Some(hash);
    id.revoke_user_tokens(uid);
    Ok(())
}

/// Creates a group.
pub fn create_group(id: &mut Identity, caller: &Caller, g: Group) -> Result<Group> {
    require_admin(caller, "create_group")?;
    check_name("group", &g.name, 64)?;
    if !id.domains.contains_key(&g.domain) {
        return Err(no_domain(&g.domain));
    }
    if id.groups.contains_key(&g.id) {
        return Err(duplicate_id("group", &g.id.simple()));
    }
    if id.group_by_name(&g.domain, &g.name).is_some() {
        return Err(duplicate("group", &g.name, Some(&g.domain)));
    }
    id.group_names.insert((g.domain.clone(), g.name.clone()), g.id);
    id.groups.insert(g.id, g.clone());
    Ok(g)
}

/// Changes a group.
pub fn update_group(id: &mut Identity, caller: &Caller, gid: Uuid, patch: GroupPatch) -> Result<Group> {
    require_admin(caller, "update_group")?;
    let current = id.groups.get(&gid).ok_or_else(|| no_group(gid))?.clone();
    check_same_domain(patch.domain.as_ref(), &current.domain)?;
    if let Some(name) = &patch.name {
        check_name("group", name, 64)?;
        if id.group_by_name(&current.domain, name).is_some_and(|o| o.id != gid) {
            return Err(duplicate("group", name, Some(&current.domain)));
        }
    }
    let mut g = current.clone();
    g.name = patch.name.unwrap_or(g.name);
    g.description = patch.description.unwrap_or(g.description);
    g.extra.merge(patch.extra);
    id.group_names.remove(&(current.domain.clone(), current.name.clone()));
    id.group_names.insert((g.domain.clone(), g.name.clone()), gid);
    id.groups.insert(gid, g.clone());
    Ok(g)
}

/// Deletes a group with its memberships and assignments.
pub fn delete_group(id: &mut Identity, caller: &Caller, now: Time, gid: Uuid) -> Result<()> {
    require_admin(caller, "delete_group")?;
    if !id.groups.contains_key(&gid) {
        return Err(no_group(gid));
    }
    let members: BTreeSet<Uuid> = id.group_members(gid).collect();
    id.remove_group(gid);
    id.prune_inaccessible(now, Some(&members));
    Ok(())
}

/// Creates a role: global, or specific to an existing domain (its name unique there).
pub fn create_role(id: &mut Identity, caller: &Caller, r: Role) -> Result<Role> {
    require_admin(caller, if r.domain.is_some() { "create_domain_role" } else { "create_role" })?;
    check_name("role", &r.name, 255)?;
    if let Some(d) = &r.domain {
        if !id.domains.contains_key(d) {
            return Err(no_domain(d));
        }
    }
    if id.roles.contains_key(&r.id) {
        return Err(duplicate_id("role", &r.id.simple()));
    }
    if id.role_named(r.domain.as_deref(), &r.name).is_some() {
        return Err(duplicate("role", &r.name, r.domain.as_deref()));
    }
    id.roles.insert(r.id, r.clone());
    Ok(r)
}

/// Refuses to rename or delete a built-in role (a global role with a built-in name).
fn builtin(r: &Role, verb: &str) -> Result<()> {
    if r.domain.is_none() && BUILTIN_ROLES.contains(&r.name.as_str()) {
        return Err(Error::forbidden(
            "identity.forbidden",
            format!("The role {} is built in and orrery's policy depends on it, so it cannot be {verb}.", r.name),
        ));
    }
    Ok(())
}

/// Changes a role; built-in roles keep their names, and no role changes its domain.
pub fn update_role(id: &mut Identity, caller: &Caller, rid: Uuid, patch: RolePatch) -> Result<Role> {
    require_admin(caller, "update_role")?;
    let current = id.roles.get(&rid).ok_or_else(|| no_role(rid))?;
    if patch.domain.as_ref().is_some_and(|d| *d != current.domain) {
        return Err(Error::bad_request("identity.bad_request", "Update of `domain_id` is not allowed.".into()));
    }
    if let Some(name) = &patch.name {
        if *name != current.name {
            builtin(current, "renamed")?;
        }
        check_name("role", name, 255)?;
        if id.role_named(current.domain.as_deref(), name).is_some_and(|o| o.id != rid) {
            return Err(duplicate("role", name, current.domain.as_deref()));
        }
    }
    let mut r = current.clone();
    r.name = patch.name.unwrap_or(r.name);
    r.description = patch.description.unwrap_or(r.description);
    id.roles.insert(rid, r.clone());
    Ok(r)
}

/// Deletes a role that is not built in, with its assignments and implications.
pub fn delete_role(id: &mut Identity, caller: &Caller, now: Time, rid: Uuid) -> Result<()> {
    require_admin(caller, "delete_role")?;
    let r = id.roles.get(&rid).ok_or_else(|| no_role(rid))?;
    builtin(r, "deleted")?;
    id.remove_role(rid);
    id.prune_inaccessible(now, None);
    Ok(())
}

impl Identity {
    /// Removes a role with its assignments and implications (token pruning is the caller's job).
    fn remove_role(&mut self, rid: Uuid) {
        self.roles.remove(&rid);
        self.assignments.retain(|a| a.role != rid);
        self.implies.retain(|&(a, b)| a != rid && b != rid);
    }

    /// Removes a project, its assignments and the tokens scoped to it. Leaves users whose
    /// default project it was alone, as Keystone does.
    fn remove_project(&mut self, pid: Uuid) {
        if let Some(p) = self.projects.remove(&pid) {
            self.project_names.remove(&(p.domain, p.name));
        }
        let (target, tree) = (Target::Project(pid), Target::ProjectTree(pid));
        self.assignments.retain(|a| a.target != target && a.target != tree);
        let scoped: Vec<super::TokenDigest> = self.tokens.iter().filter(|(_, t)| t.scope == super::Scope::Project(pid)).map(|(s, _)| s.clone()).collect();
        for s in scoped {
            self.drop_token(&s);
        }
    }

    /// Removes a user, its assignments, memberships and tokens.
    fn remove_user(&mut self, uid: Uuid) {
        if let Some(u) = self.users.remove(&uid) {
            self.user_names.remove(&(u.domain, u.name));
        }
        let actor = Actor::User(uid);
        let mine: Vec<_> = self.assignments_of(&actor).cloned().collect();
        for a in mine {
            self.assignments.remove(&a);
        }
        let groups: Vec<Uuid> = self.groups_of(uid).collect();
        for g in groups {
            self.members.remove(&(g, uid));
            self.user_groups.remove(&(uid, g));
        }
        self.revoke_user_tokens(uid);
        self.drop_credentials_of(uid);
        self.drop_app_creds_of(uid);
        self.drop_trusts_of(uid);
    }

    /// Removes a group, its memberships and assignments (token pruning is the caller's job).
    fn remove_group(&mut self, gid: Uuid) {
        if let Some(g) = self.groups.remove(&gid) {
            self.group_names.remove(&(g.domain, g.name));
        }
        let actor = Actor::Group(gid);
        let theirs: Vec<_> = self.assignments_of(&actor).cloned().collect();
        for a in theirs {
            self.assignments.remove(&a);
        }
        let members: Vec<Uuid> = self.group_members(gid).collect();
        for u in members {
            self.members.remove(&(gid, u));
            self.user_groups.remove(&(u, gid));
        }
    }
}
