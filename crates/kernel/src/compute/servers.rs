//! Compute servers. Skeleton: a helper fills this in.

use serde::{Deserialize, Serialize};

use crate::{Caller, Kernel, Result};

/// servers commands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmd {}

/// servers replies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {}

/// Applies a servers command.
pub fn apply(_k: &mut Kernel, _caller: &Caller, cmd: Cmd) -> Result<Reply> {
    match cmd {}
}

/// Servers and their indexes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Servers {}

/// Server timers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Timer {}

/// Fires a server timer.
pub fn fire(_k: &mut Kernel, t: Timer) {
    match t {}
}
