//! Read views of identity: domains, projects, users, groups and roles, with Keystone's read
//! policy (lists are admin-only; a caller may read its own user, project and domain). The API
//! parses query parameters into the filters here and renders the records it gets back.

use super::{
    forbidden, require_admin, Actor, Assignment, AssignmentFilter, AssignmentRow, Caller, Domain, Group, Identity, Project, Role, Target, User, DEFAULT_DOMAIN,
};
use crate::ids::Uuid;
use crate::{Error, Result};

/// Keystone's 404 for a record that does not exist.
pub fn not_found(kind: &str, id: &str) -> Error {
    Error::not_found("identity.not_found", format!("Could not find {kind}: {id}."))
}

/// What a list keeps; `None` keeps everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Exact name.
    pub name: Option<String>,
    /// Domain id.
    pub domain: Option<String>,
    /// Enabled or disabled only.
    pub enabled: Option<bool>,
    /// Projects only: the parent's id (a project id, or the domain id for top-level ones).
    pub parent: Option<String>,
    /// Projects only: `is_domain=true` lists the domains as projects acting as domains
    /// ([`domain_projects`]); otherwise only projects that are not domains are listed.
    pub is_domain: Option<bool>,
}

impl Filter {
    fn keeps(&self, name: &str, domain: &str, enabled: bool) -> bool {
        self.name.as_deref().is_none_or(|n| n == name) && self.domain.as_deref().is_none_or(|d| d == domain) && self.enabled.is_none_or(|e| e == enabled)
    }
}

/// The domain new records go to when a request names none: the caller's project's domain,
/// else its domain scope, else `default`.
pub fn caller_domain(id: &Identity, c: &Caller) -> String {
    let from_project = c.project.and_then(|p| id.projects.get(&p)).map(|p| p.domain.clone());
    from_project.or(c.domain.clone()).unwrap_or_else(|| DEFAULT_DOMAIN.to_string())
}

/// Every domain the filter keeps (admin only).
pub fn domains(id: &Identity, c: &Caller, f: &Filter) -> Result<Vec<Domain>> {
    require_admin(c, "list_domains")?;
    Ok(id.domains.values().filter(|d| f.keeps(&d.name, &d.id, d.enabled)).cloned().collect())
}

/// One domain: admins, and callers whose user, project or scope is in it.
pub fn domain(id: &Identity, c: &Caller, domain: &str) -> Result<Domain> {
    let d = id.domains.get(domain).ok_or_else(|| not_found("domain", domain))?;
    let own_user = id.users.get(&c.user).is_some_and(|u| u.domain == d.id);
    let own_project = c.project.and_then(|p| id.projects.get(&p)).is_some_and(|p| p.domain == d.id);
    if !c.admin && !own_user && !own_project && c.domain.as_deref() != Some(d.id.as_str()) {
        return Err(forbidden("get_domain"));
    }
    Ok(d.clone())
}

/// Every project the filter keeps (admin only).
pub fn projects(id: &Identity, c: &Caller, f: &Filter) -> Result<Vec<Project>> {
    require_admin(c, "list_projects")?;
    if f.is_domain == Some(true) {
        return Ok(Vec::new());
    }
    let parent = |p: &Project| p.parent.map_or(p.domain.clone(), |x| x.simple());
    let wanted = f.parent.as_ref().map(|x| x.parse::<Uuid>().map(|u| u.simple()).unwrap_or(x.clone()));
    let keep = |p: &&Project| f.keeps(&p.name, &p.domain, p.enabled) && wanted.as_ref().is_none_or(|w| *w == parent(p));
    Ok(id.projects.values().filter(keep).cloned().collect())
}

/// One project: admins, and callers scoped to it.
pub fn project(id: &Identity, c: &Caller, project: &str) -> Result<Project> {
    let p = id.project_by_id(project).ok_or_else(|| not_found("project", project))?;
    if !c.admin && c.project != Some(p.id) {
        return Err(forbidden("get_project"));
    }
    Ok(p.clone())
}

/// Every domain the filter keeps, as `GET /v3/projects?is_domain=true` lists them: Keystone
/// keeps each domain as a project acting as a domain (admin only). Such a project has no
/// domain and no parent, so a filter on either keeps none.
pub fn domain_projects(id: &Identity, c: &Caller, f: &Filter) -> Result<Vec<Domain>> {
    require_admin(c, "list_projects")?;
    if f.domain.is_some() || f.parent.is_some() {
        return Ok(Vec::new());
    }
    let keep = |d: &&Domain| f.name.as_deref().is_none_or(|n| n == d.name) && f.enabled.is_none_or(|e| e == d.enabled);
    Ok(id.domains.values().filter(keep).cloned().collect())
}

/// What `/v3/projects/{id}` names: a project, or a domain (a project acting as a domain).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProjectLike {
    /// A project.
    Project(Project),
    /// A domain, shown as a project acting as a domain.
    Domain(Domain),
}

/// The id of the domain `text` names (its id, or a UUID in either form) when no project has
/// that id: `/v3/projects/{id}` reaches such a domain as a project acting as a domain.
pub fn project_domain(id: &Identity, text: &str) -> Option<String> {
    if id.project_by_id(text).is_some() {
        return None;
    }
    let simple = text.parse::<Uuid>().map(|u| u.simple()).ok();
    [Some(text.to_string()), simple].into_iter().flatten().find(|d| id.domains.contains_key(d))
}

/// The project `text` names, or else the domain it names (read as [`domain`] is); 404 if neither.
pub fn project_like(id: &Identity, c: &Caller, text: &str) -> Result<ProjectLike> {
    match project_domain(id, text) {
        Some(d) => domain(id, c, &d).map(ProjectLike::Domain),
        None => project(id, c, text).map(ProjectLike::Project),
    }
}

/// Every user the filter keeps (admin only).
pub fn users(id: &Identity, c: &Caller, f: &Filter) -> Result<Vec<User>> {
    require_admin(c, "list_users")?;
    Ok(id.users.values().filter(|u| f.keeps(&u.name, &u.domain, u.enabled)).cloned().collect())
}

/// User `user` if `c` may read it as `action`: admins, and the user itself.
fn own_user<'a>(id: &'a Identity, c: &Caller, user: &str, action: &str) -> Result<&'a User> {
    let u = id.user_by_id(user).ok_or_else(|| not_found("user", user))?;
    if !c.admin && c.user != u.id {
        return Err(forbidden(action));
    }
    Ok(u)
}

/// One user: admins, and the user itself.
pub fn user(id: &Identity, c: &Caller, user: &str) -> Result<User> {
    own_user(id, c, user, "get_user").cloned()
}

/// The projects where `user` holds a role (`GET /users/{id}/projects`).
pub fn user_projects(id: &Identity, c: &Caller, user: &str) -> Result<Vec<Project>> {
    let u = own_user(id, c, user, "list_user_projects")?;
    Ok(id.projects_with_roles(u.id).iter().filter_map(|p| id.projects.get(p)).cloned().collect())
}

/// The groups `user` belongs to (`GET /users/{id}/groups`).
pub fn user_groups(id: &Identity, c: &Caller, user: &str) -> Result<Vec<Group>> {
    let u = own_user(id, c, user, "list_groups_for_user")?;
    Ok(id.groups_of(u.id).filter_map(|g| id.groups.get(&g)).cloned().collect())
}

/// The password hash (if any) that a password change for `user` must prove it knows. As in
/// Keystone, the change needs no token: knowing the original password is the proof. A
/// disabled user (or one in a disabled domain) cannot change it.
pub fn password_hash_for_change(id: &Identity, user: &str) -> Result<Option<String>> {
    let u = id.user_by_id(user).ok_or_else(|| not_found("user", user))?;
    if !u.enabled || !id.domain_enabled(&u.domain) {
        return Err(Error::unauthorized("identity.unauthorized", "The request you have made requires authentication.".into()));
    }
    Ok(u.password_hash.clone())
}

/// Every group the filter keeps (admin only).
pub fn groups(id: &Identity, c: &Caller, f: &Filter) -> Result<Vec<Group>> {
    require_admin(c, "list_groups")?;
    Ok(id.groups.values().filter(|g| f.keeps(&g.name, &g.domain, true)).cloned().collect())
}

/// One group (admin only).
pub fn group(id: &Identity, c: &Caller, group: &str) -> Result<Group> {
    require_admin(c, "get_group")?;
    id.group_by_id(group).cloned().ok_or_else(|| not_found("group", group))
}

/// Every role the filter keeps; any authenticated caller may list them. Without a domain
/// filter only global roles are listed; with one, only that domain's roles, as in Keystone.
pub fn roles(id: &Identity, f: &Filter) -> Vec<Role> {
    id.roles.values().filter(|r| r.domain == f.domain && f.name.as_deref().is_none_or(|n| n == r.name)).cloned().collect()
}

/// One role.
pub fn role(id: &Identity, role: &str) -> Result<Role> {
    id.role_by_id(role).cloned().ok_or_else(|| not_found("role", role))
}

/// Grants and role listings: admins, and a user asking about itself.
fn may_read(c: &Caller, actor: &Actor, action: &str) -> Result<()> {
    if c.admin || *actor == Actor::User(c.user) {
        Ok(())
    } else {
        Err(forbidden(action))
    }
}

/// The roles `actor` holds directly on `target` (`GET /projects/{p}/users/{u}/roles`).
pub fn grants(id: &Identity, c: &Caller, actor: &Actor, target: &Target) -> Result<Vec<Role>> {
    may_read(c, actor, "list_grants")?;
    id.check_actor_target(actor, target)?;
    Ok(id.assigned_roles(actor, target).filter_map(|r| id.roles.get(&r)).cloned().collect())
}

/// Whether assignment `a` exists (`HEAD/GET …/roles/{r}`): Keystone's 404 if not.
pub fn check_grant(id: &Identity, c: &Caller, a: &Assignment) -> Result<()> {
    may_read(c, &a.actor, "check_grant")?;
    if id.assignments.contains(a) {
        return Ok(());
    }
    Err(Error::not_found(
        "identity.not_found",
        format!(
            "Could not find role assignment with role: {}, user or group: {}, project, domain, or system: {}.",
            a.role.simple(),
            a.actor.id(),
            a.target.id()
        ),
    ))
}

/// The members of group `group` (admin only).
pub fn group_users(id: &Identity, c: &Caller, group: Uuid) -> Result<Vec<User>> {
    require_admin(c, "list_users_in_group")?;
    if !id.groups.contains_key(&group) {
        return Err(not_found("group", &group.simple()));
    }
    Ok(id.group_members(group).filter_map(|u| id.users.get(&u)).cloned().collect())
}

/// Whether `user` is in `group`: admins, and the user itself.
pub fn check_member(id: &Identity, c: &Caller, group: Uuid, user: Uuid) -> Result<()> {
    if !c.admin && c.user != user {
        return Err(forbidden("check_user_in_group"));
    }
    if !id.groups.contains_key(&group) {
        return Err(not_found("group", &group.simple()));
    }
    if !id.members.contains(&(group, user)) {
        return Err(Error::not_found("identity.not_found", format!("User {} is not a member of group {}.", user.simple(), group.simple())));
    }
    Ok(())
}

/// A name and its domain's id and name, as `include_names` shows them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Named {
    /// The record's name, if it still exists.
    pub name: Option<String>,
    /// Its domain's id, for projects, users and groups.
    pub domain: Option<String>,
    /// Its domain's name.
    pub domain_name: Option<String>,
}

/// One role assignment, with names resolved when asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssignmentView {
    /// The assignment (direct, via a group, or implied).
    pub row: AssignmentRow,
    /// The role's name (with names).
    pub role_name: Option<String>,
    /// The target's name and domain (with names).
    pub target: Named,
    /// The actor's name and domain (with names).
    pub actor: Named,
}

fn named(id: &Identity, name: Option<String>, domain: Option<String>) -> Named {
    let domain_name = domain.as_ref().and_then(|d| id.domains.get(d)).map(|d| d.name.clone());
    Named { name, domain, domain_name }
}

/// Role assignments matching `f` (`GET /role_assignments`): admins see all, others only their
/// own (`user.id` must be theirs).
pub fn role_assignments(id: &Identity, c: &Caller, f: &AssignmentFilter, names: bool) -> Result<Vec<AssignmentView>> {
    if !c.admin && f.user != Some(c.user) {
        return Err(forbidden("list_role_assignments"));
    }
    let view = |row: AssignmentRow| {
        if !names {
            return AssignmentView { row, role_name: None, target: Named::default(), actor: Named::default() };
        }
        let role_name = id.roles.get(&row.role).map(|r| r.name.clone());
        let target = match &row.target {
            Target::Project(p) | Target::ProjectTree(p) => {
                let proj = id.projects.get(p);
                named(id, proj.map(|p| p.name.clone()), Some(proj.map_or(String::new(), |p| p.domain.clone())))
            }
            Target::Domain(d) | Target::DomainTree(d) => Named { name: id.domains.get(d).map(|d| d.name.clone()), ..Named::default() },
            Target::System => Named::default(),
        };
        let (name, dom) = match &row.actor {
            Actor::User(u) => id.users.get(u).map(|u| (u.name.clone(), u.domain.clone())).unzip(),
            Actor::Group(g) => id.groups.get(g).map(|g| (g.name.clone(), g.domain.clone())).unzip(),
        };
        let actor = named(id, name, Some(dom.unwrap_or_default()));
        AssignmentView { row, role_name, target, actor }
    };
    Ok(id.list_assignments(f).into_iter().map(view).collect())
}

/// One prior role and the roles it implies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inference {
    /// The prior role: id and name.
    pub prior: (Uuid, Option<String>),
    /// The roles it implies: ids and names.
    pub implies: Vec<(Uuid, Option<String>)>,
}

fn inference(id: &Identity, prior: Uuid) -> Inference {
    let name = |r: Uuid| id.roles.get(&r).map(|r| r.name.clone());
    let implies = id.implies.range((prior, Uuid(0))..=(prior, Uuid(u128::MAX))).map(|&(_, i)| (i, name(i))).collect();
    Inference { prior: (prior, name(prior)), implies }
}

/// Every prior role with the roles it implies (`GET /role_inferences`).
pub fn role_inferences(id: &Identity) -> Vec<Inference> {
    let priors: std::collections::BTreeSet<Uuid> = id.implies.iter().map(|&(p, _)| p).collect();
    priors.into_iter().map(|p| inference(id, p)).collect()
}

/// The roles one role implies (`GET /roles/{id}/implies`).
pub fn implies_of(id: &Identity, role: &str) -> Result<Inference> {
    let r = id.role_by_id(role).ok_or_else(|| not_found("role", role))?;
    Ok(inference(id, r.id))
}

/// A role's id and name.
pub type RoleName = (Uuid, Option<String>);

/// One implication, `prior` implies `implied` (`GET /roles/{prior}/implies/{implied}`).
pub fn implied_role(id: &Identity, prior: &str, implied: &str) -> Result<(RoleName, RoleName)> {
    let p = id.role_by_id(prior).ok_or_else(|| not_found("role", prior))?;
    let i = id.role_by_id(implied).ok_or_else(|| not_found("role", implied))?;
    if !id.implies.contains(&(p.id, i.id)) {
        return Err(Error::not_found("identity.not_found", format!("Could not find implied role: {prior} implies {implied}.")));
    }
    Ok(((p.id, Some(p.name.clone())), (i.id, Some(i.name.clone()))))
}

/// A domain, project or user named the way Keystone's auth requests name them: by id, or by
/// name within a domain (itself named by id or name).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NameOrId {
    /// Its id.
    pub id: Option<String>,
    /// Its name.
    pub name: Option<String>,
    /// The domain its name is unique in.
    pub domain: Option<Box<NameOrId>>,
}

/// The id of the domain `d` names, if there is one.
pub fn find_domain(id: &Identity, d: &NameOrId) -> Option<String> {
    match (&d.id, &d.name) {
        (Some(x), _) => id.domains.get(x).map(|d| d.id.clone()),
        (None, Some(name)) => id.domain_by_name(name).map(|d| d.id.clone()),
        _ => None,
    }
}

/// The user a password login names, with its password hash, before any caller exists; the
/// shell verifies the password off the actor, then issues the token by command.
pub fn login_user(id: &Identity, u: &NameOrId) -> Option<(Uuid, Option<String>)> {
    let user = match (&u.id, &u.name, &u.domain) {
        (Some(x), _, _) => id.user_by_id(x),
        (None, Some(name), Some(d)) => find_domain(id, d).and_then(|d| id.user_by_name(&d, name)),
        _ => None,
    };
    user.map(|u| (u.id, u.password_hash.clone()))
}

/// The project a scope request names, if there is one.
pub fn find_project(id: &Identity, p: &NameOrId) -> Option<Uuid> {
    match (&p.id, &p.name, &p.domain) {
        (Some(x), _, _) => id.project_by_id(x).map(|p| p.id),
        (None, Some(name), Some(d)) => find_domain(id, d).and_then(|d| id.project_by_name(&d, name)).map(|p| p.id),
        _ => None,
    }
}

/// The token with digest `secret` as validation shows it: its owner and admins may validate it.
pub fn token(id: &Identity, c: &Caller, secret: &super::TokenDigest, now: crate::Time) -> Result<super::tokens::TokenInfo> {
    let info = id.token_info(secret, now)?;
    if !c.admin && info.user.id != c.user.simple() {
        return Err(forbidden("validate_token"));
    }
    Ok(info)
}

/// The projects the caller's user may scope a token to (`GET /auth/projects`).
pub fn scopable_projects(id: &Identity, c: &Caller) -> Vec<Project> {
    id.scopable_projects(c.user).into_iter().cloned().collect()
}

/// The enabled domains the caller's user holds a role on (`GET /auth/domains`).
pub fn scopable_domains(id: &Identity, c: &Caller) -> Vec<Domain> {
    id.domains_with_roles(c.user).iter().filter_map(|d| id.domains.get(d)).filter(|d| d.enabled).cloned().collect()
}
