//! Compute flavors. Skeleton: a helper fills this in.

use serde::{Deserialize, Serialize};

use crate::{Caller, Kernel, Result};

/// flavors commands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmd {}

/// flavors replies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {}

/// Applies a flavors command.
pub fn apply(_k: &mut Kernel, _caller: &Caller, cmd: Cmd) -> Result<Reply> {
    match cmd {}
}

/// A flavor.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Flavor {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// Nova's classic default flavors (m1.tiny … m1.xlarge).
pub fn defaults() -> std::collections::BTreeMap<String, Flavor> {
    std::collections::BTreeMap::new()
}
