//! Compute keypairs. Skeleton: a helper fills this in.

use serde::{Deserialize, Serialize};

use crate::{Caller, Kernel, Result};

/// keypairs commands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmd {}

/// keypairs replies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {}

/// Applies a keypairs command.
pub fn apply(_k: &mut Kernel, _caller: &Caller, cmd: Cmd) -> Result<Reply> {
    match cmd {}
}

/// A keypair.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Keypair {
    /// Its name.
    pub name: String,
}
