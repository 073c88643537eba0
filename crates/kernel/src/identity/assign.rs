//! Role assignments: grants of a role to a user or group on a project, a domain or the
//! system (the whole cloud, Keystone's `system: all`), group membership, implied roles, and
//! the effective roles a user holds on a target.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{require_admin, Caller, Identity};
use crate::ids::Uuid;
use crate::{Error, Result, Time};

/// Who holds a role.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Actor {
    /// A user.
    User(Uuid),
    /// A group: every member holds the role.
    Group(Uuid),
}

impl Actor {
    /// The actor's id in Keystone's 32-hex form.
    pub fn id(&self) -> String {
        match self {
            Actor::User(u) | Actor::Group(u) => u.simple(),
        }
    }
}

/// Where a role is held.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Target {
    /// A project.
    Project(Uuid),
    /// A domain, by id.
    Domain(String),
    /// The system: the whole cloud (`{"system": {"all": true}}`). After the older variants,
    /// so the derived order and hash of older assignments stay as they were.
    System,
    /// Every project of a domain, not the domain itself (OS-INHERIT `inherited_to_projects`
    /// on a domain).
    DomainTree(String),
    /// Every project below a project, not the project itself (OS-INHERIT on a project).
    ProjectTree(Uuid),
}

impl Target {
    /// The target's id as Keystone shows it (`all` for the system).
    pub fn id(&self) -> String {
        match self {
            Target::Project(p) => p.simple(),
            Target::Domain(d) => d.clone(),
            Target::System => "all".into(),
            Target::DomainTree(d) => d.clone(),
            Target::ProjectTree(p) => p.simple(),
        }
    }

    /// Whether this is an inherited grant (OS-INHERIT), which applies to projects below it.
    pub fn is_inherited(&self) -> bool {
        matches!(self, Target::DomainTree(_) | Target::ProjectTree(_))
    }
}

/// One role assignment. Field order makes one actor's assignments, and one actor's
/// assignments on one target, contiguous ranges of [`Identity::assignments`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Assignment {
    /// Who.
    pub actor: Actor,
    /// Where.
    pub target: Target,
    /// Which role.
    pub role: Uuid,
}

/// Filters of a role assignment listing; `None` matches anything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AssignmentFilter {
    /// Only this user's assignments (through groups too, when effective).
    pub user: Option<Uuid>,
    /// Only this group's assignments.
    pub group: Option<Uuid>,
    /// Only on this project.
    pub project: Option<Uuid>,
    /// Only on this domain.
    pub domain: Option<String>,
    /// Only on the system (`scope.system=all`).
    pub system: bool,
    /// Only inherited grants (`scope.OS-INHERIT:inherited_to=projects`).
    pub inherited: bool,
    /// Only this role.
    pub role: Option<Uuid>,
    /// Expand group assignments to their members and roles to the roles they imply.
    pub effective: bool,
}

/// One row of a role assignment listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssignmentRow {
    /// Who holds the role (always a user in effective listings).
    pub actor: Actor,
    /// Where.
    pub target: Target,
    /// Which role.
    pub role: Uuid,
    /// In effective listings: the group the user holds it through.
    pub via_group: Option<Uuid>,
    /// In effective listings: the assigned role that implies this one.
    pub prior_role: Option<Uuid>,
}

impl Identity {
    /// Every assignment of `actor`, in target order.
    pub fn assignments_of(&self, actor: &Actor) -> impl Iterator<Item = &Assignment> + '_ {
        let start = Assignment { actor: actor.clone(), target: Target::Project(Uuid(0)), role: Uuid(0) };
        let actor = actor.clone();
        self.assignments.range(start..).take_while(move |a| a.actor == actor)
    }

    /// Roles assigned directly to `actor` on `target`.
    pub fn assigned_roles(&self, actor: &Actor, target: &Target) -> impl Iterator<Item = Uuid> + '_ {
        let lo = Assignment { actor: actor.clone(), target: target.clone(), role: Uuid(0) };
        let hi = Assignment { actor: actor.clone(), target: target.clone(), role: Uuid(u128::MAX) };
        self.assignments.range(lo..=hi).map(|a| a.role)
    }

    /// `roles` plus every role they imply, transitively.
    pub fn with_implied(&self, roles: BTreeSet<Uuid>) -> BTreeSet<Uuid> {
        let mut out = roles.clone();
        let mut todo: Vec<Uuid> = roles.into_iter().collect();
        while let Some(r) = todo.pop() {
            for &(_, implied) in self.implies.range((r, Uuid(0))..=(r, Uuid(u128::MAX))) {
                if out.insert(implied) {
                    todo.push(implied);
                }
            }
        }
        out
    }

    /// The targets whose grants apply on `target`: itself and, for a project, the inherited
    /// grants on its domain and on each project above it.
    fn granting(&self, target: &Target) -> Vec<Target> {
        let mut out = vec![target.clone()];
        if let Target::Project(p) = target {
            if let Some(proj) = self.projects.get(p) {
                out.push(Target::DomainTree(proj.domain.clone()));
            }
            out.extend(self.ancestors(*p).into_iter().map(Target::ProjectTree));
        }
        out
    }

    /// The projects above `p`, nearest first.
    fn ancestors(&self, p: Uuid) -> Vec<Uuid> {
        let mut out = Vec::new();
        let mut at = self.projects.get(&p).and_then(|x| x.parent);
        while let Some(a) = at {
            debug_assert!(!out.contains(&a), "the project tree has no cycles");
            out.push(a);
            at = self.projects.get(&a).and_then(|x| x.parent);
        }
        out
    }

    /// The projects an inherited grant on `target` applies to (for a non-inherited target,
    /// none): only `only` when given, if it is one of them.
    fn inheriting_projects(&self, target: &Target, only: Option<Uuid>) -> Vec<Uuid> {
        let covers = |p: &Uuid| match target {
            Target::DomainTree(d) => self.projects.get(p).is_some_and(|x| &x.domain == d),
            Target::ProjectTree(q) => self.ancestors(*p).contains(q),
            _ => false,
        };
        match only {
            Some(p) => covers(&p).then_some(p).into_iter().collect(),
            None => self.projects.keys().filter(|p| covers(p)).copied().collect(),
        }
    }

    /// The roles `user` holds on `target`, as a token holds them: direct, through groups,
    /// inherited, and implied, leaving out domain-specific roles (they only imply others).
    pub fn effective_roles(&self, user: Uuid, target: &Target) -> BTreeSet<Uuid> {
        let mut roles = self.held_roles(user, target);
        roles.retain(|r| self.is_global_role(*r));
        roles
    }

    /// The roles `user` holds on `target`, domain-specific ones included (what a trustor may
    /// delegate, as Keystone checks it).
    pub fn held_roles(&self, user: Uuid, target: &Target) -> BTreeSet<Uuid> {
        let mut direct = BTreeSet::new();
        for t in self.granting(target) {
            direct.extend(self.assigned_roles(&Actor::User(user), &t));
            for g in self.groups_of(user) {
                direct.extend(self.assigned_roles(&Actor::Group(g), &t));
            }
        }
        self.with_implied(direct)
    }

    /// Whether holding `role` gives a token any role: it is global, or implies a global role.
    fn grants_global(&self, role: Uuid) -> bool {
        self.is_global_role(role) || self.with_implied(BTreeSet::from([role])).iter().any(|r| self.is_global_role(*r))
    }

    /// Projects on which `user` holds any role a token would show, directly or through a group.
    pub fn projects_with_roles(&self, user: Uuid) -> BTreeSet<Uuid> {
        let mut actors = vec![Actor::User(user)];
        actors.extend(self.groups_of(user).map(Actor::Group));
        let mut out = BTreeSet::new();
        for actor in &actors {
            for a in self.assignments_of(actor).filter(|a| self.grants_global(a.role)) {
                match &a.target {
                    Target::Project(p) => {
                        out.insert(*p);
                    }
                    t if t.is_inherited() => out.extend(self.inheriting_projects(t, None)),
                    _ => {}
                }
            }
        }
        out
    }

    /// Domains on which `user` holds any role a token would show, directly or through a group.
    pub fn domains_with_roles(&self, user: Uuid) -> BTreeSet<String> {
        let mut actors = vec![Actor::User(user)];
        actors.extend(self.groups_of(user).map(Actor::Group));
        let mut out = BTreeSet::new();
        for actor in &actors {
            for a in self.assignments_of(actor).filter(|a| self.grants_global(a.role)) {
                if let Target::Domain(d) = &a.target {
                    out.insert(d.clone());
                }
            }
        }
        out
    }

    /// Lists role assignments matching `f`, in assignment order.
    pub fn list_assignments(&self, f: &AssignmentFilter) -> Vec<AssignmentRow> {
        let direct: Vec<&Assignment> = match (f.user, f.group) {
            (Some(u), _) if f.effective => {
                let mut v: Vec<&Assignment> = self.assignments_of(&Actor::User(u)).collect();
                for g in self.groups_of(u) {
                    v.extend(self.assignments_of(&Actor::Group(g)));
                }
                v
            }
            (Some(u), None) => self.assignments_of(&Actor::User(u)).collect(),
            (None, Some(g)) => self.assignments_of(&Actor::Group(g)).collect(),
            (Some(_), Some(_)) => Vec::new(),
            (None, None) => self.assignments.iter().collect(),
        };
        let on_target = |t: &Target| match t {
            Target::Project(p) => !f.system && !f.inherited && f.domain.is_none() && f.project.is_none_or(|q| q == *p),
            Target::Domain(d) => !f.system && !f.inherited && f.project.is_none() && f.domain.as_ref().is_none_or(|q| q == d),
            Target::System => !f.inherited && f.project.is_none() && f.domain.is_none(),
            Target::DomainTree(d) => !f.system && f.project.is_none() && f.domain.as_ref().is_none_or(|q| q == d),
            Target::ProjectTree(p) => !f.system && f.domain.is_none() && f.project.is_none_or(|q| q == *p),
        };
        let mut rows = Vec::new();
        for a in direct {
            if f.effective && a.target.is_inherited() && !f.inherited {
                // An inherited grant is effective on each project below its target.
                for p in self.inheriting_projects(&a.target, f.project) {
                    let concrete = Assignment { actor: a.actor.clone(), target: Target::Project(p), role: a.role };
                    if f.domain.is_none() && !f.system {
                        self.expand(&concrete, f, &mut rows);
                    }
                }
                continue;
            }
            if !on_target(&a.target) {
                continue;
            }
            if f.effective {
                self.expand(a, f, &mut rows);
            } else if f.role.is_none_or(|r| r == a.role) {
                let row = AssignmentRow { actor: a.actor.clone(), target: a.target.clone(), role: a.role, via_group: None, prior_role: None };
                rows.push(row);
            }
        }
        rows
    }

    /// Effective rows for one assignment: per user (expanding a group), per implied role,
    /// leaving out domain-specific roles as tokens do.
    fn expand(&self, a: &Assignment, f: &AssignmentFilter, rows: &mut Vec<AssignmentRow>) {
        let users: Vec<(Uuid, Option<Uuid>)> = match a.actor {
            Actor::User(u) => vec![(u, None)],
            Actor::Group(g) => self.group_members(g).map(|u| (u, Some(g))).collect(),
        };
        let mut roles = self.with_implied(BTreeSet::from([a.role]));
        roles.retain(|r| self.is_global_role(*r));
        for (user, via_group) in users.into_iter().filter(|(u, _)| f.user.is_none_or(|x| x == *u)) {
            for &role in roles.iter().filter(|r| f.role.is_none_or(|x| x == **r)) {
                let prior_role = (role != a.role).then_some(a.role);
                rows.push(AssignmentRow { actor: Actor::User(user), target: a.target.clone(), role, via_group, prior_role });
            }
        }
    }

    /// Checks that an actor and a target exist, with Keystone's "could not find" messages.
    pub fn check_actor_target(&self, actor: &Actor, target: &Target) -> Result<()> {
        match actor {
            Actor::User(u) if !self.users.contains_key(u) => {
                return Err(Error::not_found("identity.not_found", format!("Could not find user: {}.", u.simple())))
            }
            Actor::Group(g) if !self.groups.contains_key(g) => {
                return Err(Error::not_found("identity.not_found", format!("Could not find group: {}.", g.simple())))
            }
            _ => {}
        }
        match target {
            Target::Project(p) if !self.projects.contains_key(p) => {
                Err(Error::not_found("identity.not_found", format!("Could not find project: {}.", p.simple())))
            }
            Target::Domain(d) | Target::DomainTree(d) if !self.domains.contains_key(d) => {
                Err(Error::not_found("identity.not_found", format!("Could not find domain: {d}.")))
            }
            Target::ProjectTree(p) if !self.projects.contains_key(p) => {
                Err(Error::not_found("identity.not_found", format!("Could not find project: {}.", p.simple())))
            }
            _ => Ok(()),
        }
    }

    /// Checks that the actor, target and role of `a` exist.
    pub(crate) fn check_assignment_parts(&self, a: &Assignment) -> Result<()> {
        self.check_actor_target(&a.actor, &a.target)?;
        if !self.roles.contains_key(&a.role) {
            return Err(Error::not_found("identity.not_found", format!("Could not find role: {}.", a.role.simple())));
        }
        Ok(())
    }

    /// Users an actor stands for: the user, or a group's members.
    pub(crate) fn users_of(&self, actor: &Actor) -> BTreeSet<Uuid> {
        match actor {
            Actor::User(u) => BTreeSet::from([*u]),
            Actor::Group(g) => self.group_members(*g).collect(),
        }
    }
}

/// Grants a role; granting one that is already held succeeds and changes nothing.
pub fn grant(id: &mut Identity, caller: &Caller, a: Assignment) -> Result<()> {
    let action = match (&a.actor, &a.target) {
        (_, Target::Project(_)) => "create_grant (project)",
        (_, Target::Domain(_)) => "create_grant (domain)",
        (_, Target::System) => "create_system_grant",
        (_, Target::DomainTree(_) | Target::ProjectTree(_)) => "create_grant (OS-INHERIT)",
    };
    require_admin(caller, action)?;
    id.check_assignment_parts(&a)?;
    check_domain_role(id, &a)?;
    id.assignments.insert(a);
    Ok(())
}

/// Keystone's rules for granting a domain-specific role: on a project only of the role's
/// domain (403), and never on the system (400).
fn check_domain_role(id: &Identity, a: &Assignment) -> Result<()> {
    let Some(domain) = id.roles.get(&a.role).and_then(|r| r.domain.as_ref()) else { return Ok(()) };
    match &a.target {
        Target::Project(p) | Target::ProjectTree(p) if id.projects.get(p).is_some_and(|x| &x.domain != domain) => Err(Error::forbidden(
            "identity.forbidden",
            format!("Project {} must be in the same domain as the role {} being assigned.", p.simple(), a.role.simple()),
        )),
        Target::System => Err(Error::bad_request(
            "identity.bad_request",
            format!("Role {} is a domain-specific role. Unable to use a domain-specific role in a system assignment.", a.role.simple()),
        )),
        _ => Ok(()),
    }
}

/// Revokes a role assignment, then the tokens that lose all access through it.
pub fn revoke(id: &mut Identity, caller: &Caller, now: Time, a: Assignment) -> Result<()> {
    require_admin(caller, "revoke_grant")?;
    if !id.assignments.contains(&a) {
        return Err(Error::not_found(
            "identity.not_found",
            format!(
                "Could not find role assignment with role: {}, user or group: {}, project, domain, or system: {}.",
                a.role.simple(),
                a.actor.id(),
                a.target.id()
            ),
        ));
    }
    let users = id.users_of(&a.actor);
    id.assignments.remove(&a);
    id.prune_inaccessible(now, Some(&users));
    Ok(())
}

/// Keystone's `prohibited_implied_role`: roles that no role may imply.
const PROHIBITED_IMPLIED: [&str; 1] = ["admin"];

/// Makes `prior` imply `implied`. Refused when either role is missing, when `implied` is
/// prohibited (`admin`), when a global role would imply a domain-specific one (a
/// domain-specific role may imply any role), and when it would close a cycle (`implied`
/// already implies `prior`).
pub fn imply(id: &mut Identity, caller: &Caller, prior: Uuid, implied: Uuid) -> Result<()> {
    require_admin(caller, "create_implied_role")?;
    for r in [prior, implied] {
        if !id.roles.contains_key(&r) {
            return Err(Error::not_found("identity.not_found", format!("Could not find role: {}.", r.simple())));
        }
    }
    if id.roles.get(&implied).is_some_and(|r| PROHIBITED_IMPLIED.contains(&r.name.as_str())) {
        return Err(Error::forbidden("identity.forbidden", format!("{} cannot be an implied role.", implied.simple())));
    }
    if id.is_global_role(prior) && !id.is_global_role(implied) {
        return Err(Error::forbidden(
            "identity.forbidden",
            format!("{} cannot be an implied role: a global role cannot imply a domain-specific role.", implied.simple()),
        ));
    }
    if prior == implied || id.with_implied(BTreeSet::from([implied])).contains(&prior) {
        return Err(Error::bad_request(
            "identity.bad_request",
            format!("Role {} implying {} would make a cycle of implied roles.", prior.simple(), implied.simple()),
        ));
    }
    id.implies.insert((prior, implied));
    Ok(())
}

/// Removes the implication of `implied` by `prior`. Tokens keep working: their holders still
/// hold `prior`, so none loses all access.
pub fn unimply(id: &mut Identity, caller: &Caller, prior: Uuid, implied: Uuid) -> Result<()> {
    require_admin(caller, "delete_implied_role")?;
    if !id.implies.remove(&(prior, implied)) {
        return Err(Error::not_found("identity.not_found", format!("Could not find implied role: {} implies {}.", prior.simple(), implied.simple())));
    }
    Ok(())
}

/// Adds a user to a group; adding a member again succeeds and changes nothing.
pub fn add_to_group(id: &mut Identity, caller: &Caller, group: Uuid, user: Uuid) -> Result<()> {
    require_admin(caller, "add_user_to_group")?;
    if !id.groups.contains_key(&group) {
        return Err(Error::not_found("identity.not_found", format!("Could not find group: {}.", group.simple())));
    }
    if !id.users.contains_key(&user) {
        return Err(Error::not_found("identity.not_found", format!("Could not find user: {}.", user.simple())));
    }
    id.members.insert((group, user));
    id.user_groups.insert((user, group));
    Ok(())
}

/// Removes a user from a group, then the user's tokens that lose all access.
pub fn remove_from_group(id: &mut Identity, caller: &Caller, now: Time, group: Uuid, user: Uuid) -> Result<()> {
    require_admin(caller, "remove_user_from_group")?;
    if !id.members.contains(&(group, user)) {
        return Err(Error::not_found("identity.not_found", format!("User {} is not a member of group {}.", user.simple(), group.simple())));
    }
    id.members.remove(&(group, user));
    id.user_groups.remove(&(user, group));
    id.prune_inaccessible(now, Some(&BTreeSet::from([user])));
    Ok(())
}
