//! Compute servers (Nova instances): their records, their state machine and their indexes.
//!
//! A server carries Nova's three states: `vm_state` (the stable state a user expects),
//! `task_state` (the operation in flight) and `power_state` (what the hypervisor reports);
//! [`Status`] is the API's one-word summary of them. Every operation that needs the data plane
//! bumps the server's operation number and waits for the driver to report it; a report or a
//! deadline whose number no longer matches (the server was deleted or moved on) does nothing.
//!
//! The sub-modules are layered, each using only the ones listed before it:
//! [`model`] (the records and their table), [`lifecycle`] (guards and how an operation starts),
//! [`failover`] (servers lost with their host, restarted or evacuated), [`observe`] (how an
//! operation ends: observations, deadlines, completions), [`edit`] (name, metadata, tags),
//! [`create`] (validation, quota, scheduling and placement of new servers), [`actions`]
//! (start/stop/reboot/resize/…) and [`list`] (filtered, paged listing over the indexes).
//! This file only routes commands to them.

pub mod actions;
pub mod create;
pub mod edit;
pub mod failover;
pub mod lifecycle;
pub mod list;
pub mod model;
pub mod observe;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::compute::Cx;
use crate::ids::Uuid;
use crate::{Caller, Result};

pub use actions::Action;
pub use create::CreateSpec;
pub use list::{ListQuery, SortKey};
pub use model::*;

/// Server commands. Every one needs a project-scoped caller with the member role (or an
/// admin); a server of another project is invisible (404) to non-admins.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmd {
    /// Boots one or more servers (`POST /servers`).
    Create(Box<CreateSpec>),
    /// Runs a server action (`POST /servers/{id}/action`).
    Action {
        /// The server.
        id: Uuid,
        /// The request id, for the action log.
        request_id: Uuid,
        /// What to do.
        action: Action,
    },
    /// Deletes a server (`DELETE /servers/{id}`, or the `forceDelete` action).
    Delete {
        /// The server.
        id: Uuid,
        /// The request id, for the action log.
        request_id: Uuid,
    },
    /// Changes name, description or access addresses (`PUT /servers/{id}`).
    Update(Box<edit::Update>),
    /// Sets metadata items; with `replace`, drops every other key (`PUT /metadata`).
    SetMetadata {
        /// The server.
        id: Uuid,
        /// Items to set.
        items: BTreeMap<String, String>,
        /// Whether the items replace all metadata.
        replace: bool,
    },
    /// Deletes one metadata key, which must exist.
    DeleteMetadata {
        /// The server.
        id: Uuid,
        /// The key.
        key: String,
    },
    /// Replaces all tags (`PUT /tags`).
    SetTags {
        /// The server.
        id: Uuid,
        /// The new tags.
        tags: Vec<String>,
    },
    /// Adds one tag (`PUT /tags/{tag}`).
    AddTag {
        /// The server.
        id: Uuid,
        /// The tag.
        tag: String,
    },
    /// Removes one tag, which must exist (`DELETE /tags/{tag}`).
    DeleteTag {
        /// The server.
        id: Uuid,
        /// The tag.
        tag: String,
    },
    /// Removes every tag (`DELETE /tags`).
    ClearTags {
        /// The server.
        id: Uuid,
    },
}

/// Server replies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// Servers were accepted (some may be in ERROR already).
    Created {
        /// Their ids, in launch order.
        ids: Vec<Uuid>,
        /// Their reservation id.
        reservation_id: String,
    },
    /// The command was accepted.
    Accepted,
    /// The server's metadata after the change.
    Metadata(BTreeMap<String, String>),
    /// The server's tags after the change.
    Tags(Vec<String>),
}

/// Applies a server command: validates everything first, then mutates.
pub fn apply(k: &mut Cx, caller: &Caller, cmd: Cmd) -> Result<Reply> {
    match cmd {
        Cmd::Create(spec) => create::create(k, caller, *spec),
        Cmd::Action { id, request_id, action } => actions::run(k, caller, id, request_id, action).map(|()| Reply::Accepted),
        Cmd::Delete { id, request_id } => actions::delete(k, caller, id, request_id).map(|()| Reply::Accepted),
        Cmd::Update(u) => edit::update(k, caller, *u).map(|()| Reply::Accepted),
        Cmd::SetMetadata { id, items, replace } => edit::set_metadata(k, caller, id, items, replace).map(Reply::Metadata),
        Cmd::DeleteMetadata { id, key } => edit::delete_metadata(k, caller, id, &key).map(|()| Reply::Accepted),
        Cmd::SetTags { id, tags } => edit::set_tags(k, caller, id, tags).map(Reply::Tags),
        Cmd::AddTag { id, tag } => edit::add_tag(k, caller, id, tag).map(Reply::Tags),
        Cmd::DeleteTag { id, tag } => edit::delete_tag(k, caller, id, &tag).map(Reply::Tags),
        Cmd::ClearTags { id } => edit::set_tags(k, caller, id, Vec::new()).map(Reply::Tags),
    }
}

/// A server timer: the deadline of operation `op` of `server`. If the driver has not reported
/// the operation by then, it fails (see [`observe`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Timer {
    /// The server.
    pub server: Uuid,
    /// The operation number it was scheduled for; stale if the server has moved on.
    pub op: u32,
}

/// Fires a server timer; a stale one does nothing.
pub fn fire(k: &mut Cx, t: Timer) {
    observe::deadline(k, t.server, t.op);
}
