//! Compute (Nova): flavors, keypairs, servers and their state machine, groups, quotas.
//!
//! Skeleton: the compute helper fills this in.

use serde::{Deserialize, Serialize};

use crate::{Caller, Kernel, Result};

/// Compute state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Compute {}

impl Compute {
    /// An empty compute service.
    pub fn new() -> Compute {
        Compute::default()
    }
}

/// Compute commands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmd {}

/// Compute replies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {}

/// Compute timers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Timer {}

/// Applies a compute command.
pub fn apply(_k: &mut Kernel, _caller: &Caller, cmd: Cmd) -> Result<Reply> {
    match cmd {}
}

/// Fires a compute timer.
pub fn fire(_k: &mut Kernel, t: Timer) {
    match t {}
}
