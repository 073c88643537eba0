//! Identity (Keystone v3): domains, projects, users, roles, assignments and tokens.
//!
//! Skeleton: the identity helper fills this in.

use serde::{Deserialize, Serialize};

use crate::ids::Uuid;
use crate::{Auth, Error, Kernel, Result, Time};

/// Who is calling, resolved from a token.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Caller {
    /// The user.
    pub user: Uuid,
    /// The project the token is scoped to, if any.
    pub project: Option<Uuid>,
    /// Whether the caller holds the admin role (cloud-wide admin, as Nova's default policy).
    pub admin: bool,
    /// Whether the caller may write in its project (member or admin).
    pub member: bool,
    /// Whether this is the kernel's own shell.
    pub system: bool,
}

/// The first admin user and project.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Bootstrap {
    /// Admin user's name.
    pub admin_user: String,
    /// Argon2 PHC hash of the admin password.
    pub admin_password_hash: String,
}

/// Identity state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Identity {}

/// Identity commands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmd {}

/// Identity replies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {}

impl Identity {
    /// Creates the bootstrap domain, project, user and roles.
    pub fn bootstrap(_b: &Bootstrap, _now: Time) -> Identity {
        Identity {}
    }
    /// Resolves credentials into a caller.
    pub fn resolve(&self, auth: &Auth, _now: Time) -> Result<Caller> {
        match auth {
            Auth::System => Ok(Caller { user: Uuid(0), project: None, admin: true, member: true, system: true }),
            Auth::Token(_) => Err(Error::Unauthorized("The request you have made requires authentication.".into())),
        }
    }
}

/// Applies an identity command.
pub fn apply(_k: &mut Kernel, _auth: &Auth, cmd: Cmd) -> Result<Reply> {
    match cmd {}
}
