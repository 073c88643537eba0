//! Admin-only identity records that are stored and shown but drive nothing else yet:
//! policy blobs (`/v3/policies`, deprecated in Keystone and never enforced by it either) and
//! OAuth1 consumers (`/v3/OS-OAUTH1/consumers`; the OAuth1 token flow itself is not built, and
//! answers 501). A consumer's secret is kept only as a digest.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{require_admin, Caller, Identity, TokenDigest};
use crate::ids::Uuid;
use crate::{Error, Result};

/// A policy blob.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Policy {
    /// Its id.
    pub id: Uuid,
    /// Its MIME type, like `application/json`.
    pub kind: String,
    /// The blob.
    pub blob: String,
}

/// An OAuth1 consumer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Consumer {
    /// Its id.
    pub id: Uuid,
    /// Free text.
    pub description: Option<String>,
    /// The digest of its secret (the secret is shown once, at creation).
    pub secret: TokenDigest,
}

/// Every policy and consumer. Empty, it hashes as nothing, so clouds from before it keep their
/// state hash.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Records {
    /// Policies by id.
    pub policies: BTreeMap<Uuid, Policy>,
    /// Consumers by id.
    pub consumers: BTreeMap<Uuid, Consumer>,
}

impl Records {
    /// Whether there are none (then the field is left out of snapshots).
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty() && self.consumers.is_empty()
    }
}

impl std::hash::Hash for Records {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        if !self.is_empty() {
            self.policies.hash(h);
            self.consumers.hash(h);
        }
    }
}

fn not_found(what: &str, id: Uuid) -> Error {
    Error::not_found("identity.not_found", format!("Could not find {what}: {}.", id.simple()))
}

fn check_policy(p: &Policy) -> Result<()> {
    if p.kind.is_empty() || p.kind.len() > 255 || p.blob.is_empty() {
        return Err(Error::bad_request(
            "identity.bad_request",
            "Invalid input for field 'policy': a type of 1 to 255 characters and a blob are required.".into(),
        ));
    }
    Ok(())
}

/// Stores a policy.
pub fn create_policy(id: &mut Identity, caller: &Caller, p: Policy) -> Result<Policy> {
    require_admin(caller, "create_policy")?;
    check_policy(&p)?;
    if id.records.policies.contains_key(&p.id) {
        return Err(Error::conflict("identity.conflict", format!("Conflict occurred attempting to store policy - Duplicate ID, {}.", p.id.simple())));
    }
    id.records.policies.insert(p.id, p.clone());
    Ok(p)
}

/// Changes a policy's type or blob.
pub fn update_policy(id: &mut Identity, caller: &Caller, pid: Uuid, kind: Option<String>, blob: Option<String>) -> Result<Policy> {
    require_admin(caller, "update_policy")?;
    let mut p = id.records.policies.get(&pid).cloned().ok_or_else(|| not_found("policy", pid))?;
    p.kind = kind.unwrap_or(p.kind);
    p.blob = blob.unwrap_or(p.blob);
    check_policy(&p)?;
    id.records.policies.insert(pid, p.clone());
    Ok(p)
}

/// Deletes a policy.
pub fn delete_policy(id: &mut Identity, caller: &Caller, pid: Uuid) -> Result<()> {
    require_admin(caller, "delete_policy")?;
    id.records.policies.remove(&pid).map(drop).ok_or_else(|| not_found("policy", pid))
}

/// Stores a consumer.
pub fn create_consumer(id: &mut Identity, caller: &Caller, c: Consumer) -> Result<Consumer> {
    require_admin(caller, "create_consumer")?;
    if !c.secret.is_well_formed() {
        return Err(Error::bad_request("identity.bad_request", "A consumer secret digest must be 64 lower-case hex digits.".into()));
    }
    if id.records.consumers.contains_key(&c.id) {
        return Err(Error::conflict("identity.conflict", format!("Conflict occurred attempting to store consumer - Duplicate ID, {}.", c.id.simple())));
    }
    id.records.consumers.insert(c.id, c.clone());
    Ok(c)
}

/// Changes a consumer's description.
pub fn update_consumer(id: &mut Identity, caller: &Caller, cid: Uuid, description: Option<Option<String>>) -> Result<Consumer> {
    require_admin(caller, "update_consumer")?;
    let c = id.records.consumers.get_mut(&cid).ok_or_else(|| not_found("consumer", cid))?;
    c.description = description.unwrap_or(c.description.take());
    Ok(c.clone())
}

/// Deletes a consumer.
pub fn delete_consumer(id: &mut Identity, caller: &Caller, cid: Uuid) -> Result<()> {
    require_admin(caller, "delete_consumer")?;
    id.records.consumers.remove(&cid).map(drop).ok_or_else(|| not_found("consumer", cid))
}

/// Every policy (admin only).
pub fn policies(id: &Identity, caller: &Caller, kind: Option<&str>) -> Result<Vec<Policy>> {
    require_admin(caller, "list_policies")?;
    Ok(id.records.policies.values().filter(|p| kind.is_none_or(|k| p.kind == k)).cloned().collect())
}

/// One policy (admin only).
pub fn policy(id: &Identity, caller: &Caller, pid: Uuid) -> Result<Policy> {
    require_admin(caller, "get_policy")?;
    id.records.policies.get(&pid).cloned().ok_or_else(|| not_found("policy", pid))
}

/// Every consumer (admin only).
pub fn consumers(id: &Identity, caller: &Caller) -> Result<Vec<Consumer>> {
    require_admin(caller, "list_consumers")?;
    Ok(id.records.consumers.values().cloned().collect())
}

/// One consumer (admin only).
pub fn consumer(id: &Identity, caller: &Caller, cid: Uuid) -> Result<Consumer> {
    require_admin(caller, "get_consumer")?;
    id.records.consumers.get(&cid).cloned().ok_or_else(|| not_found("consumer", cid))
}
