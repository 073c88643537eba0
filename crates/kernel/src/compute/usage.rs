//! Usage of projects over a period (`os-simple-tenant-usage`): how long each server ran inside
//! it, with its flavor's size.
//!
//! Only servers that still exist are counted: the kernel forgets a server when it is deleted,
//! so a deleted server's history is not kept, and a project's usage over a period covers the
//! servers it has now. A server counts from `launched_at` (a server never launched ran no
//! time) to the end of the period or now, whichever is earlier.

use super::servers::Server;
use crate::ids::Uuid;
use crate::{Caller, Error, Kernel, Result, Time};

/// One server's usage over a period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerUsage {
    /// The server.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Its project.
    pub project: Uuid,
    /// Its flavor's name.
    pub flavor: String,
    /// vCPUs.
    pub vcpus: u32,
    /// Memory, in MiB.
    pub memory_mb: u64,
    /// Root and ephemeral disk, in GiB.
    pub local_gb: u64,
    /// Its `vm_state`.
    pub state: &'static str,
    /// When it was launched.
    pub started: Time,
    /// How long it ran inside the period, in microseconds.
    pub ran: u64,
    /// How long since it was launched, in seconds.
    pub uptime: u64,
}

/// The period and whose servers a usage report covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageQuery {
    /// One project's servers, or every project's (admins only).
    pub project: Option<Uuid>,
    /// The period's start.
    pub start: Time,
    /// The period's end.
    pub stop: Time,
    /// Only servers after this one in (project, creation) order (a page marker).
    pub marker: Option<Uuid>,
    /// At most this many servers.
    pub limit: Option<usize>,
}

/// The usage of the servers `q` names, in (project, creation) order: a project's own for its
/// members and readers, any or all for an admin. A start after the stop is Nova's 400.
pub fn usage(k: &Kernel, c: &Caller, q: &UsageQuery) -> Result<Vec<ServerUsage>> {
    let policy = if q.project.is_some() { "show" } else { "list" };
    if !c.admin && (q.project.is_none() || q.project != c.project) {
        return Err(super::forbidden(&format!("os-simple-tenant-usage:{policy}")));
    }
    if q.start > q.stop {
        return Err(Error::bad_request("compute.bad_request", "Invalid start time. The start time cannot occur after the end time.".into()));
    }
    let servers = &k.compute.servers;
    let ids = match q.project {
        Some(p) => Box::new(servers.by_project.range((p, 0)..=(p, u64::MAX)).map(|&(_, seq)| seq)) as Box<dyn Iterator<Item = u64>>,
        None => Box::new(servers.by_project.iter().map(|&(_, seq)| seq)),
    };
    let all = ids.filter_map(|seq| servers.by_seq.get(&seq)).filter_map(|id| servers.get(id));
    let mut found: Vec<&Server> = all.collect();
    if let Some(m) = q.marker {
        let at = found.iter().position(|s| s.id == m).ok_or_else(|| Error::bad_request("compute.bad_request", format!("marker [{m}] not found")))?;
        found.drain(..=at);
    }
    let used = found.into_iter().filter_map(|s| server_usage(k, s, q.start, q.stop));
    Ok(used.take(q.limit.unwrap_or(usize::MAX)).collect())
}

/// Server `s`'s usage over [start, stop], if it ran inside it.
fn server_usage(k: &Kernel, s: &Server, start: Time, stop: Time) -> Option<ServerUsage> {
    let launched = s.launched_at?;
    let end = stop.min(k.now());
    if launched > end {
        return None;
    }
    let f = super::views::flavor_of(k, s);
    Some(ServerUsage {
        id: s.id,
        name: s.name.clone(),
        project: s.project,
        flavor: f.name.clone(),
        vcpus: f.vcpus,
        memory_mb: f.ram,
        local_gb: f.disk + f.ephemeral,
        state: s.vm_state.name(),
        started: launched,
        ran: end.since(launched.max(start)).0,
        uptime: k.now().since(launched).0 / 1_000_000,
    })
}
