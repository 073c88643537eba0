//! Compute keypairs: public keys users register by name, with their fingerprints.
//!
//! The kernel never parses or generates keys: the API computes the fingerprint and passes it in.
//! The key-pair quota is counted per user.

use serde::{Deserialize, Serialize};

use crate::compute::quotas::Resource;
use crate::compute::Cx;
use crate::ids::Uuid;
use crate::Read;
use crate::{Caller, Error, Result, Time};

/// The kind of a keypair (`type` in the API from microversion 2.2).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyType {
    /// An OpenSSH public key.
    Ssh,
    /// An X.509 certificate.
    X509,
}

impl KeyType {
    /// The API name: `ssh` or `x509`.
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Ssh => "ssh",
            KeyType::X509 => "x509",
        }
    }
}

/// A keypair.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Keypair {
    /// Its name, unique per user.
    pub name: String,
    /// The owning user.
    pub user: Uuid,
    /// A numeric id, as Nova's `id` field shows.
    pub id: u64,
    /// The public key text.
    pub public_key: String,
    /// Its fingerprint, like `aa:bb:…` (MD5 of the key blob).
    pub fingerprint: String,
    /// ssh or x509.
    pub kind: KeyType,
    /// When it was created.
    pub created_at: Time,
}

/// Keypair commands. Users manage their own keypairs; admins may name another user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmd {
    /// Imports a public key under a new name.
    Create {
        /// The owner; None for the caller.
        user: Option<Uuid>,
        /// The name.
        name: String,
        /// The public key.
        public_key: String,
        /// Its fingerprint, computed by the shell.
        fingerprint: String,
        /// ssh or x509.
        kind: KeyType,
    },
    /// Deletes a keypair.
    Delete {
        /// The owner; None for the caller.
        user: Option<Uuid>,
        /// The name.
        name: String,
    },
}

/// Keypair replies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// The new keypair.
    Keypair(Box<Keypair>),
    /// The keypair is gone.
    Deleted,
}

/// The user whose keypairs a request is about: `user` if given and allowed, else the caller.
pub fn owner(caller: &Caller, user: Option<Uuid>) -> Result<Uuid> {
    match user {
        Some(u) if u != caller.user && !caller.admin => {
            Err(Error::forbidden("compute.forbidden", "Policy doesn't allow os_compute_api:os-keypairs to be performed for another user.".into()))
        }
        Some(u) => Ok(u),
        None => Ok(caller.user),
    }
}

/// The keypairs of `user`, in name order.
pub fn of_user<'a>(k: impl Read<'a>, user: &Uuid) -> impl Iterator<Item = &'a Keypair> + 'a {
    let k = k.read();
    k.compute.keypairs.get(user).into_iter().flat_map(|m| m.values())
}

/// Finds a keypair of `user` by name.
pub fn find<'a>(k: impl Read<'a>, user: &Uuid, name: &str) -> Result<&'a Keypair> {
    let k = k.read();
    k.compute
        .keypairs
        .get(user)
        .and_then(|m| m.get(name))
        .ok_or_else(|| Error::not_found("compute.not_found", format!("Keypair {name} not found for user {}", user.simple())))
}

/// Applies a keypair command.
pub fn apply(k: &mut Cx, caller: &Caller, cmd: Cmd) -> Result<Reply> {
    match cmd {
        Cmd::Create { user, name, public_key, fingerprint, kind } => {
            let user = owner(caller, user)?;
            check_name(&name)?;
            if public_key.trim().is_empty() {
                return Err(Error::bad_request("compute.bad_request", "Keypair data is invalid: failed to generate fingerprint".into()));
            }
            if find(&*k, &user, &name).is_ok() {
                return Err(Error::conflict("compute.duplicate", format!("Key pair '{name}' already exists.")));
            }
            let limit = caller.project.map_or(Resource::KeyPairs.default_limit(), |p| k.compute.quotas.limit(&p, Resource::KeyPairs));
            if limit >= 0 && k.compute.keypairs.get(&user).map_or(0, |m| m.len()) as i64 >= limit {
                return Err(Error::over_quota("compute.over_quota", "Quota exceeded, too many key pairs.".into()));
            }
            let id = k.compute.keypairs.values().flat_map(|m| m.values()).map(|kp| kp.id).max().unwrap_or(0) + 1;
            let kp = Keypair { name: name.clone(), user, id, public_key, fingerprint, kind, created_at: k.now() };
            k.compute.keypairs.entry(user).or_default().insert(name, kp.clone());
            Ok(Reply::Keypair(Box::new(kp)))
        }
        Cmd::Delete { user, name } => {
            let user = owner(caller, user)?;
            find(&*k, &user, &name)?;
            if let Some(m) = k.compute.keypairs.get_mut(&user) {
                m.remove(&name);
                if m.is_empty() {
                    k.compute.keypairs.remove(&user);
                }
            }
            Ok(Reply::Deleted)
        }
    }
}

/// Nova's rule: 1 to 255 characters of letters, digits, spaces, '-', '_', '.' and '@' (the
/// API refuses '@' before 2.92).
fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.chars().count() > 255 || name.trim().is_empty() {
        return Err(Error::bad_request(
            "compute.bad_request",
            "Keypair data is invalid: Keypair name must be string and between 1 and 255 characters long".into(),
        ));
    }
    if !name.chars().all(|c| c.is_alphanumeric() || " -_.@".contains(c)) {
        return Err(Error::bad_request("compute.bad_request", "Keypair data is invalid: Keypair name contains unsafe characters".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::quotas::{
        self,
        tests::{caller, kernel},
    };
    use std::collections::BTreeMap;

    fn create(name: &str) -> Cmd {
        Cmd::Create { user: None, name: name.into(), public_key: "ssh-ed25519 AAAA k".into(), fingerprint: "aa:bb".into(), kind: KeyType::Ssh }
    }

    #[test]
    fn create_list_delete() {
        let mut k = kernel();
        let a = caller(&k, 1, false);
        apply(&mut k.cx(), &a, create("k1")).unwrap();
        apply(&mut k.cx(), &a, create("k2")).unwrap();
        let names: Vec<_> = of_user(&k, &a.user).map(|kp| kp.name.clone()).collect();
        assert_eq!(names, ["k1", "k2"]);
        assert_eq!(find(&k, &a.user, "k2").unwrap().id, 2);
        apply(&mut k.cx(), &a, Cmd::Delete { user: None, name: "k1".into() }).unwrap();
        assert_eq!(of_user(&k, &a.user).count(), 1);
        apply(&mut k.cx(), &a, Cmd::Delete { user: None, name: "k2".into() }).unwrap();
        assert!(k.compute.keypairs.is_empty());
    }

    #[test]
    fn refusals_change_nothing() {
        let mut k = kernel();
        let (a, b) = (caller(&k, 1, false), caller(&k, 2, false));
        apply(&mut k.cx(), &a, create("k1")).unwrap();
        let before = k.compute.clone();
        assert_eq!(apply(&mut k.cx(), &a, create("k1")).unwrap_err().kind, crate::ErrorKind::Conflict);
        assert_eq!(apply(&mut k.cx(), &a, create("bad/name")).unwrap_err().kind, crate::ErrorKind::BadRequest);
        assert_eq!(apply(&mut k.cx(), &a, create("")).unwrap_err().kind, crate::ErrorKind::BadRequest);
        assert_eq!(apply(&mut k.cx(), &b, Cmd::Delete { user: Some(a.user), name: "k1".into() }).unwrap_err().kind, crate::ErrorKind::Forbidden);
        assert_eq!(apply(&mut k.cx(), &b, Cmd::Delete { user: None, name: "k1".into() }).unwrap_err().kind, crate::ErrorKind::NotFound);
        assert_eq!(k.compute, before);
    }

    #[test]
    fn key_pair_quota_is_per_user() {
        let mut k = kernel();
        let admin = caller(&k, 9, true);
        let a = caller(&k, 1, false);
        let limits = BTreeMap::from([(Resource::KeyPairs, 1)]);
        quotas::apply(&mut k.cx(), &admin, quotas::Cmd::Set { project: Uuid(1), limits, force: false }).unwrap();
        apply(&mut k.cx(), &a, create("k1")).unwrap();
        let err = apply(&mut k.cx(), &a, create("k2")).unwrap_err();
        assert_eq!((err.kind, err.code, err.message()), (crate::ErrorKind::OverQuota, "compute.over_quota", "Quota exceeded, too many key pairs."));
        // An admin may create for another user.
        apply(
            &mut k.cx(),
            &admin,
            Cmd::Create { user: Some(Uuid(77)), name: "k1".into(), public_key: "x".into(), fingerprint: "f".into(), kind: KeyType::X509 },
        )
        .unwrap();
        assert_eq!(find(&k, &Uuid(77), "k1").unwrap().kind, KeyType::X509);
    }
}
