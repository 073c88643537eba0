//! Application credentials: a user delegates some of their roles on one project to an
//! application, which authenticates with the credential's id and secret instead of the user's
//! password. As in Keystone:
//! - a credential is made from a project-scoped token and is bound to that project;
//! - its roles are those it names, or else every role the user holds there at creation, and a
//!   token from it holds only those of them the user still holds;
//! - it may expire, and a token from it never outlives it;
//! - deleting it (or its user) ends its tokens;
//! - its secret is kept as an argon2 hash, which the shell checks as it checks passwords.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{Caller, Identity, Target};
use crate::ids::Uuid;
use crate::{Error, Result, Time};

/// One application credential.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AppCredential {
    /// Its id.
    pub id: Uuid,
    /// Whose it is.
    pub user: Uuid,
    /// The project it is bound to.
    pub project: Uuid,
    /// Unique among the user's credentials.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Argon2 PHC hash of the secret.
    pub secret_hash: String,
    /// When it stops working, if ever.
    pub expires_at: Option<Time>,
    /// The roles it delegates (implied roles included).
    pub roles: BTreeSet<Uuid>,
    /// Whether it may make more credentials and trusts (Keystone's `unrestricted`).
    pub unrestricted: bool,
}

/// What a request to create a credential carries; the project comes from the caller's token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppCredentialSpec {
    /// The new id.
    pub id: Uuid,
    /// Whose it is (the path's user).
    pub user: Uuid,
    /// Its name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Argon2 PHC hash of the secret.
    pub secret_hash: String,
    /// When it stops working, if ever.
    pub expires_at: Option<Time>,
    /// The roles to delegate; empty for every role the user holds on the project.
    pub roles: Vec<Uuid>,
    /// Keystone's `unrestricted`.
    pub unrestricted: bool,
}

/// Every application credential, by id (hashed as nothing while empty; see [`crate::sparse::Sparse`]).
pub type AppCredentials = crate::sparse::Sparse<Uuid, AppCredential>;

fn not_found(id: Uuid) -> Error {
    Error::not_found("identity.not_found", format!("Could not find application credential: {}.", id.simple()))
}

fn forbidden(action: &str) -> Error {
    Error::forbidden("identity.forbidden", format!("You are not authorized to perform the requested action: identity:{action}."))
}

/// Creates a credential for the caller's own user, bound to the project of the caller's token.
pub fn create(id: &mut Identity, caller: &Caller, now: Time, spec: AppCredentialSpec) -> Result<AppCredential> {
    if caller.user != spec.user {
        return Err(forbidden("create_application_credential"));
    }
    let Some(project) = caller.project else {
        return Err(Error::forbidden("identity.forbidden", "An application credential is made from a project-scoped token.".into()));
    };
    if spec.name.trim().is_empty() || spec.name.chars().count() > 255 {
        return Err(Error::bad_request("identity.bad_request", "Invalid input for field 'name': 1 to 255 characters.".into()));
    }
    if spec.expires_at.is_some_and(|t| t <= now) {
        return Err(Error::bad_request("identity.bad_request", "Invalid input for field 'expires_at': it is in the past.".into()));
    }
    if id.app_creds.0.values().any(|c| c.user == spec.user && c.name == spec.name) {
        return Err(Error::conflict(
            "identity.conflict",
            format!("Conflict occurred attempting to store application_credential - Duplicate entry found with name {}.", spec.name),
        ));
    }
    let held = id.effective_roles(spec.user, &Target::Project(project));
    for r in &spec.roles {
        if !held.contains(r) {
            return Err(Error::forbidden("identity.forbidden", format!("The user does not hold role {} on project {}.", r.simple(), project.simple())));
        }
    }
    let roles = if spec.roles.is_empty() { held } else { id.with_implied(spec.roles.iter().copied().collect()) };
    let cred = AppCredential {
        id: spec.id,
        user: spec.user,
        project,
        name: spec.name,
        description: spec.description,
        secret_hash: spec.secret_hash,
        expires_at: spec.expires_at,
        roles,
        unrestricted: spec.unrestricted,
    };
    if id.app_creds.0.contains_key(&cred.id) {
        return Err(Error::conflict("identity.conflict", "Conflict occurred attempting to store application_credential - Duplicate ID.".into()));
    }
    id.app_creds.0.insert(cred.id, cred.clone());
    Ok(cred)
}

/// Deletes a credential (its owner, or an admin) and ends its tokens.
pub fn delete(id: &mut Identity, caller: &Caller, now: Time, user: Uuid, cid: Uuid) -> Result<()> {
    let c = id.app_creds.0.get(&cid).filter(|c| c.user == user).ok_or_else(|| not_found(cid))?;
    if !(caller.admin || caller.system || caller.user == c.user) {
        return Err(forbidden("delete_application_credential"));
    }
    id.app_creds.0.remove(&cid);
    id.prune_inaccessible(now, Some(&BTreeSet::from([user])));
    Ok(())
}

/// One of `user`'s credentials, for its owner or an admin.
pub fn show(id: &Identity, caller: &Caller, user: Uuid, cid: Uuid) -> Result<AppCredential> {
    if !(caller.admin || caller.system || caller.user == user) {
        return Err(forbidden("get_application_credential"));
    }
    id.app_creds.0.get(&cid).filter(|c| c.user == user).cloned().ok_or_else(|| not_found(cid))
}

/// `user`'s credentials, optionally by name, for the owner or an admin.
pub fn list(id: &Identity, caller: &Caller, user: Uuid, name: Option<&str>) -> Result<Vec<AppCredential>> {
    if !(caller.admin || caller.system || caller.user == user) {
        return Err(forbidden("list_application_credentials"));
    }
    Ok(id.app_creds.0.values().filter(|c| c.user == user && name.is_none_or(|n| c.name == n)).cloned().collect())
}

/// The credential a login names: by id, or by name among one user's. `None` if there is none
/// such; the shell then answers 401 as for a wrong secret.
pub fn for_login(id: &Identity, cid: Option<Uuid>, user: Option<Uuid>, name: Option<&str>) -> Option<AppCredential> {
    match (cid, user, name) {
        (Some(c), ..) => id.app_creds.0.get(&c).cloned(),
        (None, Some(u), Some(n)) => id.app_creds.0.values().find(|c| c.user == u && c.name == n).cloned(),
        _ => None,
    }
}

impl Identity {
    /// The roles a token from credential `cid` holds now: those it delegates that its user
    /// still holds on its project. Fails if it is gone or expired.
    pub(crate) fn app_cred_roles(&self, cid: Uuid, now: Time, user_roles: BTreeSet<Uuid>) -> Result<BTreeSet<Uuid>> {
        let c = self.app_creds.0.get(&cid).ok_or_else(|| Error::unauthorized("identity.unauthorized", "The application credential is gone.".into()))?;
        if c.expires_at.is_some_and(|t| t <= now) {
            return Err(Error::unauthorized("identity.unauthorized", "The application credential has expired.".into()));
        }
        let roles: BTreeSet<Uuid> = user_roles.intersection(&c.roles).copied().collect();
        if roles.is_empty() {
            return Err(Error::unauthorized("identity.unauthorized", "The application credential's user no longer holds any of its roles.".into()));
        }
        Ok(roles)
    }

    /// Drops a deleted user's application credentials.
    pub(crate) fn drop_app_creds_of(&mut self, user: Uuid) {
        self.app_creds.0.retain(|_, c| c.user != user);
    }
}
