//! Credentials (`/v3/credentials`, and EC2 keypairs on top of them): blobs Keystone keeps for a
//! user, optionally for one project, such as an EC2 access and secret or a certificate. The
//! shell decides the id (a fresh UUID, or for EC2 the SHA-256 of the access key, as Keystone)
//! and checks the blob's shape; the kernel keeps the records and their policy: a user manages
//! their own credentials, an admin anyone's. Deleting a user deletes theirs.

use serde::{Deserialize, Serialize};

use super::{Caller, Identity};
use crate::ids::Uuid;
use crate::{Error, Result};

/// One credential.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Credential {
    /// Its id: 32 or 64 hex digits.
    pub id: String,
    /// Whose it is.
    pub user: Uuid,
    /// The project it is for, if any (EC2 credentials always name one).
    pub project: Option<Uuid>,
    /// Its type: `ec2`, `cert`, `totp`, or another the caller names.
    pub kind: String,
    /// The blob, as the caller gave it (for EC2, JSON with `access` and `secret`).
    pub blob: String,
}

/// Every credential, by id (hashed as nothing while empty; see [`crate::sparse::Sparse`]).
pub type Credentials = crate::sparse::Sparse<String, Credential>;

/// Changes to a credential; `None` leaves a field alone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialPatch {
    /// A new blob.
    pub blob: Option<String>,
    /// A new type.
    pub kind: Option<String>,
    /// A new project (`Some(None)` clears it).
    pub project: Option<Option<Uuid>>,
}

fn not_found(id: &str) -> Error {
    Error::not_found("identity.not_found", format!("Could not find credential: {id}."))
}

fn forbidden(action: &str) -> Error {
    Error::forbidden("identity.forbidden", format!("You are not authorized to perform the requested action: identity:{action}."))
}

/// Admins manage every credential; a user only their own.
fn check_owner(caller: &Caller, user: Uuid, action: &str) -> Result<()> {
    if caller.admin || caller.system || caller.user == user {
        return Ok(());
    }
    Err(forbidden(action))
}

fn check_shape(id: &Identity, c: &Credential) -> Result<()> {
    let hex = c.id.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex || !(c.id.len() == 32 || c.id.len() == 64) {
        return Err(Error::bad_request("identity.bad_request", "A credential id is 32 or 64 hex digits.".into()));
    }
    if c.kind.is_empty() || c.kind.len() > 255 || c.blob.is_empty() {
        return Err(Error::bad_request(
            "identity.bad_request",
            "Invalid input for field 'credential': a type of 1 to 255 characters and a blob are required.".into(),
        ));
    }
    if !id.users.contains_key(&c.user) {
        return Err(Error::not_found("identity.not_found", format!("Could not find user: {}.", c.user.simple())));
    }
    if let Some(p) = c.project {
        if !id.projects.contains_key(&p) {
            return Err(Error::not_found("identity.not_found", format!("Could not find project: {}.", p.simple())));
        }
    }
    if c.kind == "ec2" && c.project.is_none() {
        return Err(Error::bad_request("identity.bad_request", "Invalid input for field 'project_id': an ec2 credential needs one.".into()));
    }
    Ok(())
}

/// Stores a new credential; an id in use is 409.
pub fn create(id: &mut Identity, caller: &Caller, c: Credential) -> Result<Credential> {
    check_owner(caller, c.user, "create_credential")?;
    check_shape(id, &c)?;
    if id.credentials.0.contains_key(&c.id) {
        return Err(Error::conflict("identity.conflict", format!("Conflict occurred attempting to store credential - Duplicate ID, {}.", c.id)));
    }
    id.credentials.0.insert(c.id.clone(), c.clone());
    Ok(c)
}

/// Changes a credential's blob, type or project.
pub fn update(id: &mut Identity, caller: &Caller, cid: &str, patch: CredentialPatch) -> Result<Credential> {
    let mut c = id.credentials.0.get(cid).cloned().ok_or_else(|| not_found(cid))?;
    check_owner(caller, c.user, "update_credential")?;
    c.blob = patch.blob.unwrap_or(c.blob);
    c.kind = patch.kind.unwrap_or(c.kind);
    c.project = patch.project.unwrap_or(c.project);
    check_shape(id, &c)?;
    id.credentials.0.insert(c.id.clone(), c.clone());
    Ok(c)
}

/// Deletes a credential.
pub fn delete(id: &mut Identity, caller: &Caller, cid: &str) -> Result<()> {
    let c = id.credentials.0.get(cid).ok_or_else(|| not_found(cid))?;
    check_owner(caller, c.user, "delete_credential")?;
    id.credentials.0.remove(cid);
    Ok(())
}

/// One credential the caller may read; another's is 404 to a non-admin, as if absent.
pub fn show(id: &Identity, caller: &Caller, cid: &str) -> Result<Credential> {
    let c = id.credentials.0.get(cid).ok_or_else(|| not_found(cid))?;
    if check_owner(caller, c.user, "get_credential").is_err() {
        return Err(not_found(cid));
    }
    Ok(c.clone())
}

/// The credentials the caller may read, filtered by user and type.
pub fn list(id: &Identity, caller: &Caller, user: Option<Uuid>, kind: Option<&str>) -> Vec<Credential> {
    id.credentials
        .0
        .values()
        .filter(|c| check_owner(caller, c.user, "list_credentials").is_ok())
        .filter(|c| user.is_none_or(|u| c.user == u) && kind.is_none_or(|k| c.kind == k))
        .cloned()
        .collect()
}

impl Identity {
    /// Drops a deleted user's credentials.
    pub(crate) fn drop_credentials_of(&mut self, user: Uuid) {
        self.credentials.0.retain(|_, c| c.user != user);
    }
}
