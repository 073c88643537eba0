//! Migration records (`os-migrations`): one per resize and per evacuation, as Nova's
//! conductor writes them, kept while their server exists.
//!
//! The servers module makes and moves them: a resize is `migrating` until it lands
//! (`finished`), then `confirmed`, or `reverting` and `reverted`; an evacuation is
//! `pre-migrating` while its rebuild runs, then `done`; a scheduling failure or a failed
//! operation leaves `error`. Deleting a server forgets its records, as Nova soft-deletes them
//! with their instance. Nothing here is a command: records are the trace of server commands.
//!
//! The set is hashed as nothing and left out of snapshots while no record was ever made, so
//! states from before records were kept load and hash as they did.
//!
//! [`of_server`] reads one server's records for the server-migrations API
//! (`GET /servers/{id}/migrations`), which shows only live migrations; orrery makes none.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::compute::Cx;
use crate::ids::Uuid;
use crate::topology::HostIdx;
use crate::{Caller, Kernel, Result, Time};

/// Nova's `migration_type`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Kind {
    /// A resize to another flavor (`resize`).
    Resize,
    /// Rebuilding a server of a failed host elsewhere (`evacuation`).
    Evacuation,
}

impl Kind {
    /// Nova's name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Resize => "resize",
            Kind::Evacuation => "evacuation",
        }
    }
}

/// Nova's migration `status`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Status {
    /// An evacuation's rebuild is running on the destination.
    PreMigrating,
    /// A resize is moving the server.
    Migrating,
    /// A resize landed and awaits confirmation.
    Finished,
    /// A resize was confirmed.
    Confirmed,
    /// A revert is moving the server back.
    Reverting,
    /// A resize was reverted.
    Reverted,
    /// An evacuation finished.
    Done,
    /// It failed.
    Error,
}

impl Status {
    /// Nova's name.
    pub fn name(self) -> &'static str {
        match self {
            Status::PreMigrating => "pre-migrating",
            Status::Migrating => "migrating",
            Status::Finished => "finished",
            Status::Confirmed => "confirmed",
            Status::Reverting => "reverting",
            Status::Reverted => "reverted",
            Status::Done => "done",
            Status::Error => "error",
        }
    }

    /// Whether nothing more happens to a migration in this status.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Confirmed | Status::Reverted | Status::Done | Status::Error)
    }
}

/// One migration.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Migration {
    /// Nova's integer id.
    pub id: u32,
    /// Its UUID (2.59): for a resize, the placement consumer of the source's allocations.
    pub uuid: Uuid,
    /// The server.
    pub instance: Uuid,
    /// Resize or evacuation.
    pub kind: Kind,
    /// Where it started.
    pub source: HostIdx,
    /// Where it goes (none when the scheduler found no host).
    pub dest: Option<HostIdx>,
    /// The flavor before (index into the servers' flavor copies).
    pub old_flavor: u32,
    /// The flavor after.
    pub new_flavor: u32,
    /// Where it is.
    pub status: Status,
    /// The server's project.
    pub project: Uuid,
    /// The server's user.
    pub user: Uuid,
    /// When it was made.
    pub created_at: Time,
    /// When its status last changed.
    pub updated_at: Option<Time>,
}

/// Every kept migration, by id, with each server's records in order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Migrations {
    /// Records by id.
    pub by_id: BTreeMap<u32, Migration>,
    /// The last id given (0: none yet).
    pub last_id: u32,
    /// Each server's record ids, oldest first.
    pub by_instance: BTreeMap<Uuid, Vec<u32>>,
}

impl std::hash::Hash for Migrations {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        if !self.is_empty() {
            self.by_id.hash(h);
            self.last_id.hash(h);
            self.by_instance.hash(h);
        }
    }
}

impl Migrations {
    /// Whether no record was ever made (then the field is left out of snapshots).
    pub fn is_empty(&self) -> bool {
        self.last_id == 0
    }

    /// Server `instance`'s latest migration, if it is still under way.
    pub fn active(&self, instance: &Uuid) -> Option<&Migration> {
        let id = self.by_instance.get(instance)?.last()?;
        self.by_id.get(id).filter(|m| !m.status.is_final())
    }
}

/// Server `server`'s records, oldest first, for the server-migrations API: Nova's 404 for a
/// server the caller cannot see, then admins only (`what` names the policy, as Nova checks it
/// after finding the server).
pub fn of_server<'a>(k: &'a Kernel, c: &Caller, server: &Uuid, what: &str) -> Result<Vec<&'a Migration>> {
    crate::compute::servers::find(k, c, server)?;
    if !c.admin {
        return Err(super::forbidden(what));
    }
    let ms = &k.compute.migrations;
    Ok(ms.by_instance.get(server).into_iter().flatten().filter_map(|id| ms.by_id.get(id)).collect())
}

/// What a new record says; the id, times and owner are filled in.
pub(crate) struct New {
    /// Its UUID.
    pub uuid: Uuid,
    /// The server.
    pub instance: Uuid,
    /// Resize or evacuation.
    pub kind: Kind,
    /// Where it starts.
    pub source: HostIdx,
    /// Where it goes.
    pub dest: Option<HostIdx>,
    /// Flavors before and after.
    pub flavors: (u32, u32),
    /// Its first status.
    pub status: Status,
}

/// Records a new migration of a server that exists.
pub(crate) fn start(k: &mut Cx, n: New) {
    let now = k.now();
    let Some(s) = k.compute.servers.get(&n.instance) else { return };
    let (project, user) = (s.project, s.user);
    let ms = &mut k.compute.migrations;
    ms.last_id += 1;
    let id = ms.last_id;
    let m = Migration {
        id,
        uuid: n.uuid,
        instance: n.instance,
        kind: n.kind,
        source: n.source,
        dest: n.dest,
        old_flavor: n.flavors.0,
        new_flavor: n.flavors.1,
        status: n.status,
        project,
        user,
        created_at: now,
        updated_at: None,
    };
    ms.by_id.insert(id, m);
    ms.by_instance.entry(n.instance).or_default().push(id);
}

/// Moves server `instance`'s migration under way to `status`, if it has one.
pub(crate) fn advance(k: &mut Cx, instance: &Uuid, status: Status) {
    let now = k.now();
    let ms = &mut k.compute.migrations;
    let Some(id) = ms.active(instance).map(|m| m.id) else { return };
    if let Some(m) = ms.by_id.get_mut(&id) {
        m.status = status;
        m.updated_at = Some(now);
    }
}

/// Forgets a deleted server's migrations.
pub(crate) fn forget(k: &mut Cx, instance: &Uuid) {
    let ms = &mut k.compute.migrations;
    for id in ms.by_instance.remove(instance).unwrap_or_default() {
        ms.by_id.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::of_server;
    use crate::{Caller, ErrorKind, Uuid};

    #[test]
    fn a_server_nobody_sees_has_no_records_to_show() {
        let k = crate::compute::quotas::tests::kernel();
        let admin = Caller::scoped(Uuid(7), Uuid(9), &["admin", "member", "reader"]);
        let e = of_server(&k, &admin, &Uuid(1), "servers:migrations:index").unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotFound);
    }
}
