//! Compute quotas. Skeleton: a helper fills this in.

use serde::{Deserialize, Serialize};

use crate::{Caller, Kernel, Result};

/// quotas commands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmd {}

/// quotas replies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {}

/// Applies a quotas command.
pub fn apply(_k: &mut Kernel, _caller: &Caller, cmd: Cmd) -> Result<Reply> {
    match cmd {}
}

/// Quota limits and usage.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Quotas {}
