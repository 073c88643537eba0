//! Trusts (OS-TRUST): a trustor delegates some of their roles on a project to a trustee, with
//! or without impersonation, optionally until a time. The records, their roles and their
//! policy are kept here; a token scoped to a trust (`OS-TRUST:trust`) is not built yet and
//! answers 501. As in Keystone:
//! - only the trustor (the caller's own user) makes a trust, naming roles they hold there;
//! - the trustor, the trustee and admins read it; the trustor or an admin deletes it;
//! - deleting either user deletes their trusts.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{Caller, Identity, Target};
use crate::ids::Uuid;
use crate::{Error, Result, Time};

/// One trust.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Trust {
    /// Its id.
    pub id: Uuid,
    /// Who delegates.
    pub trustor: Uuid,
    /// Who receives.
    pub trustee: Uuid,
    /// The project the roles are on.
    pub project: Option<Uuid>,
    /// Whether the trustee acts as the trustor.
    pub impersonation: bool,
    /// The delegated roles.
    pub roles: BTreeSet<Uuid>,
    /// When it stops working, if ever.
    pub expires_at: Option<Time>,
    /// How many tokens it may still make, if limited.
    pub remaining_uses: Option<u32>,
    /// Whether the trustee may delegate further.
    pub allow_redelegation: bool,
}

/// Every trust, by id (hashed as nothing while empty; see [`crate::sparse::Sparse`]).
pub type Trusts = crate::sparse::Sparse<Uuid, Trust>;

fn not_found(id: Uuid) -> Error {
    Error::not_found("identity.not_found", format!("Could not find trust: {}.", id.simple()))
}

fn forbidden(action: &str) -> Error {
    Error::forbidden("identity.forbidden", format!("You are not authorized to perform the requested action: identity:{action}."))
}

/// Makes a trust from the caller (the trustor).
pub fn create(id: &mut Identity, caller: &Caller, now: Time, t: Trust) -> Result<Trust> {
    if caller.user != t.trustor {
        return Err(forbidden("create_trust (the trustor is the caller)"));
    }
    if !id.users.contains_key(&t.trustee) {
        return Err(Error::not_found("identity.not_found", format!("Could not find user: {}.", t.trustee.simple())));
    }
    if t.expires_at.is_some_and(|e| e <= now) {
        return Err(Error::bad_request("identity.bad_request", "Invalid input for field 'expires_at': it is in the past.".into()));
    }
    match t.project {
        Some(p) => {
            if !id.projects.contains_key(&p) {
                return Err(Error::not_found("identity.not_found", format!("Could not find project: {}.", p.simple())));
            }
            let held = id.held_roles(t.trustor, &Target::Project(p));
            if let Some(r) = t.roles.iter().find(|r| !held.contains(r)) {
                return Err(Error::forbidden("identity.forbidden", format!("The trustor does not hold role {} on project {}.", r.simple(), p.simple())));
            }
        }
        None if !t.roles.is_empty() => {
            return Err(Error::bad_request("identity.bad_request", "A trust that delegates roles needs a project_id.".into()));
        }
        None => {}
    }
    if id.trusts.0.contains_key(&t.id) {
        return Err(Error::conflict("identity.conflict", "Conflict occurred attempting to store trust - Duplicate ID.".into()));
    }
    id.trusts.0.insert(t.id, t.clone());
    Ok(t)
}

/// Deletes a trust (its trustor, or an admin).
pub fn delete(id: &mut Identity, caller: &Caller, tid: Uuid) -> Result<()> {
    let t = id.trusts.0.get(&tid).ok_or_else(|| not_found(tid))?;
    if !(caller.admin || caller.system || caller.user == t.trustor) {
        return Err(forbidden("delete_trust"));
    }
    id.trusts.0.remove(&tid);
    Ok(())
}

fn may_read(caller: &Caller, t: &Trust) -> bool {
    caller.admin || caller.system || caller.user == t.trustor || caller.user == t.trustee
}

/// One trust, for its trustor, its trustee or an admin; others get 404, as if absent.
pub fn show(id: &Identity, caller: &Caller, tid: Uuid) -> Result<Trust> {
    id.trusts.0.get(&tid).filter(|t| may_read(caller, t)).cloned().ok_or_else(|| not_found(tid))
}

/// Trusts by trustor and trustee; a non-admin must name themselves as one of them.
pub fn list(id: &Identity, caller: &Caller, trustor: Option<Uuid>, trustee: Option<Uuid>) -> Result<Vec<Trust>> {
    let own = [trustor, trustee].iter().flatten().any(|u| *u == caller.user);
    if !(caller.admin || caller.system || own) {
        return Err(forbidden("list_trusts"));
    }
    Ok(id
        .trusts
        .0
        .values()
        .filter(|t| trustor.is_none_or(|u| t.trustor == u) && trustee.is_none_or(|u| t.trustee == u))
        .filter(|t| may_read(caller, t))
        .cloned()
        .collect())
}

impl Identity {
    /// Drops the trusts a deleted user was trustor or trustee of.
    pub(crate) fn drop_trusts_of(&mut self, user: Uuid) {
        self.trusts.0.retain(|_, t| t.trustor != user && t.trustee != user);
    }
}
