//! Compute groups. Skeleton: a helper fills this in.

use serde::{Deserialize, Serialize};

use crate::{Caller, Kernel, Result};

/// groups commands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmd {}

/// groups replies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {}

/// Applies a groups command.
pub fn apply(_k: &mut Kernel, _caller: &Caller, cmd: Cmd) -> Result<Reply> {
    match cmd {}
}

/// A server group.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ServerGroup {
    /// Its name.
    pub name: String,
}
